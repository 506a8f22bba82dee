package presence

import (
	"encoding/json"
	"fmt"

	"github.com/pyrehq/pyre/actors/presence/crdt"
	"github.com/pyrehq/pyre/actors/presence/presencepb"
)

// deltaToPB encodes d (entries in dot order, ranges by replica) with each range's entries inside it. The
// owner stays home: it means something on its own replica only.
func deltaToPB(d crdt.Delta) *presencepb.Delta {
	if d.Empty() {
		return nil
	}
	out := &presencepb.Delta{Ranges: make([]*presencepb.Range, len(d.Ranges))}
	es := d.Entries
	for i, r := range d.Ranges {
		pr := &presencepb.Range{Replica: string(r.Replica), From: r.From, To: r.To, Removed: r.Removed}
		n := 0
		for n < len(es) && es[n].Dot.Replica == r.Replica {
			n++
		}
		pr.Entries = make([]*presencepb.Entry, n)
		for j, e := range es[:n] {
			pr.Entries[j] = &presencepb.Entry{Clock: e.Dot.Clock, Topic: e.Topic, Key: e.Key, Meta: e.Meta}
		}
		es = es[n:]
		out.Ranges[i] = pr
	}
	return out
}

// deltaFromPB decodes a delta from another node. The structure (order, ranges) is checked by crdt.Merge,
// which refuses a bad delta whole; here each meta must be a JSON object, since it is sent to clients as is.
func deltaFromPB(pd *presencepb.Delta) (crdt.Delta, error) {
	var d crdt.Delta
	if pd == nil {
		return d, nil
	}
	n := 0
	for _, r := range pd.Ranges {
		n += len(r.GetEntries())
	}
	d.Ranges = make([]crdt.Range, 0, len(pd.Ranges))
	d.Entries = make([]crdt.Entry, 0, n)
	for _, r := range pd.Ranges {
		if r == nil {
			return crdt.Delta{}, fmt.Errorf("%w: nil range", errBadMessage)
		}
		rep := crdt.Replica(r.Replica)
		d.Ranges = append(d.Ranges, crdt.Range{Replica: rep, From: r.From, To: r.To, Removed: r.Removed})
		for _, e := range r.Entries {
			if e == nil || !isObject(e.Meta) {
				return crdt.Delta{}, fmt.Errorf("%w: meta of %s:%d not a JSON object", errBadMessage, rep, e.GetClock())
			}
			d.Entries = append(d.Entries, crdt.Entry{Topic: e.Topic, Key: e.Key, Meta: e.Meta, Dot: crdt.Dot{Replica: rep, Clock: e.Clock}})
		}
	}
	return d, nil
}

func isObject(raw []byte) bool {
	return len(raw) >= 2 && raw[0] == '{' && json.Valid(raw)
}

func contextToPB(c crdt.Context) []*presencepb.Clock {
	out := make([]*presencepb.Clock, len(c.Clocks))
	for i, rc := range c.Clocks {
		out[i] = &presencepb.Clock{Replica: string(rc.Replica), Clock: rc.Clock}
	}
	return out
}

func contextFromPB(cs []*presencepb.Clock) crdt.Context {
	c := crdt.Context{Clocks: make([]crdt.ReplicaClock, 0, len(cs))}
	for _, pc := range cs {
		if pc != nil {
			c.Clocks = append(c.Clocks, crdt.ReplicaClock{Replica: crdt.Replica(pc.Replica), Clock: pc.Clock})
		}
	}
	return c
}

// chunks splits d into deltas of about limit bytes each (an entry larger than limit goes alone), to be
// merged in order: each replica's range is cut at entry clocks, so part k covers (c[k-1], c[k]] and
// carries exactly the entries there. Merged in order, the parts do what d does; a part that is lost makes
// the next one non-contiguous, and the receiver asks again.
func chunks(d crdt.Delta, limit int) []crdt.Delta {
	var out []crdt.Delta
	var cur crdt.Delta
	size := 0
	cut := func() {
		if !cur.Empty() {
			out = append(out, cur)
		}
		cur, size = crdt.Delta{}, 0
	}
	es := d.Entries
	for _, r := range d.Ranges {
		n := 0
		for n < len(es) && es[n].Dot.Replica == r.Replica {
			n++
		}
		mine := es[:n]
		es = es[n:]
		part := crdt.Range{Replica: r.Replica, From: r.From, To: r.To, Removed: r.Removed}
		size += len(r.Replica) + 8*len(r.Removed) + 16
		first := 0
		for i, e := range mine {
			esize := len(e.Topic) + len(e.Key) + len(e.Meta) + 16
			if size+esize > limit && i > first {
				// Close this replica's part at the previous entry; the rest starts above it.
				part.To = mine[i-1].Dot.Clock
				cur.Ranges = append(cur.Ranges, part)
				cur.Entries = append(cur.Entries, mine[first:i]...)
				cut()
				part = crdt.Range{Replica: r.Replica, From: mine[i-1].Dot.Clock, To: r.To}
				size = len(r.Replica) + 16
				first = i
			} else if size+esize > limit && len(cur.Ranges) > 0 {
				cut() // other replicas' parts fill this one: start afresh
				size = len(r.Replica) + 8*len(part.Removed) + 16
			}
			size += esize
		}
		cur.Ranges = append(cur.Ranges, part)
		cur.Entries = append(cur.Entries, mine[first:]...)
	}
	cut()
	return out
}
