package host

import (
	"github.com/asynkron/protoactor-go/actor"
	cmap "github.com/orcaman/concurrent-map"
)

// registryBuckets is how many concurrent maps (of 32 lock-striped shards each) CompactRegistry gives a
// system: 256 shards, against protoactor's 1,024 maps (32,768 shards).
const registryBuckets = 8

// CompactRegistry gives sys a process registry sized for many small actors. protoactor's own spreads the
// actors over 32,768 Go maps, so nearly every actor is alone in its map and its entry costs a whole map
// group (288 B) instead of ~50 B, and an idle system holds ~3 MB of empty maps. Pyre spawns an actor per
// connection and per channel: this is ~230 B per channel at 10k channels (measured by
// TestCompactRegistryBytesPerActor).
//
// Call it right after actor.NewActorSystem, before the system is used: it moves the system's own
// processes (event stream, dead letters, guardians) and must not race with a spawn. A Host calls it on the
// system it makes itself (Config.System and Config.Parent nil); call it on a system you give Pyre.
func CompactRegistry(sys *actor.ActorSystem) {
	old := sys.ProcessRegistry.LocalPIDs
	next := &actor.SliceMap{LocalPIDs: make([]cmap.ConcurrentMap, registryBuckets)}
	for i := range next.LocalPIDs {
		next.LocalPIDs[i] = cmap.New()
	}
	for _, bucket := range old.LocalPIDs {
		for id, p := range bucket.Items() {
			next.GetBucket(id).Set(id, p)
		}
	}
	sys.ProcessRegistry.LocalPIDs = next
}
