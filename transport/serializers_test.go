package transport

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/pyrehq/pyre/actors/channel"
	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/transport/serializer"
)

// tagged is V2 whose broadcasts are marked, so that a test sees which serializer encoded a frame; slot is
// its broadcast cache slot.
type tagged struct {
	serializer.Serializer
	slot int
}

func (s tagged) Slot() int { return s.slot }
func (s tagged) EncodeBroadcast(b *message.Broadcast) ([]byte, bool, error) {
	f, bin, err := s.Serializer.EncodeBroadcast(b)
	return append([]byte("T"), f...), bin, err
}

// A socket serves the serializers of its table by vsn (issue 13.5); another socket of the endpoint keeps
// Phoenix's; one broadcast reaches each client encoded by its own serializer (the shared cache keeps one
// encoding per slot).
func TestWithSerializersPerSocket(t *testing.T) {
	ep := NewEndpoint(Config{})
	newRouter := func() *channel.Router {
		r := channel.NewRouter(testSocket{})
		r.Channel("room:*", func() channel.Channel { return &room{terminated: &reasons{}} })
		return r
	}
	ep.Socket("/socket", newRouter())
	ep.Socket("/tagged", newRouter(), WithSerializers(serializer.Versioned{Requirement: "~> 2.0.0", Serializer: tagged{serializer.V2, 2}}))
	srv := serve(t, ep)

	for path, want := range map[string]int{
		"/tagged/websocket?vsn=1.0.0": http.StatusForbidden,  // not in its table
		"/tagged/websocket":           http.StatusForbidden,  // absent vsn is 1.0.0
		"/socket/websocket?vsn=1.0.0": http.StatusBadRequest, // accepted; a plain GET is no upgrade
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}

	plain, tag := dial(t, srv, "/socket/websocket?vsn=2.0.0", nil), dial(t, srv, "/tagged/websocket?vsn=2.0.1", nil)
	for _, c := range []*rawClient{plain, tag} {
		c.send(`["1","1","room:s","phx_join",{}]`)
		c.expect(`["1","1","room:s","phx_reply",{"response":{"joined":"room:s"},"status":"ok"}]`)
	}
	if err := ep.Broadcast("room:s", "news", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	plain.expect(`[null,null,"room:s","news",{"n":1}]`)
	if f := tag.next(); string(f.data) != `T[null,null,"room:s","news",{"n":1}]` || f.binary {
		t.Fatalf("tagged client got %s (binary %v)", f.data, f.binary)
	}
	tag.send(`["1","2","room:s","echo",{"a":1}]`) // pushes and replies: the tagged serializer's Encode (V2's)
	tag.expect(`["1","2","room:s","phx_reply",{"response":{"a":1},"status":"ok"}]`)
}

// A table the endpoint cannot serve is refused when the socket is mounted.
func TestWithSerializersRefusesBadTables(t *testing.T) {
	v := func(req string, s serializer.Serializer) serializer.Versioned {
		return serializer.Versioned{Requirement: req, Serializer: s}
	}
	for _, tc := range []struct {
		name, panic string
		tables      [][]serializer.Versioned
	}{
		{"empty", "at least one", [][]serializer.Versioned{{}}},
		{"bad requirement", "bad version requirement", [][]serializer.Versioned{{v(">= 2.0.0", serializer.V2)}}},
		{"nil serializer", "nil serializer", [][]serializer.Versioned{{v("~> 2.0.0", nil)}}},
		{"V2's slot", "slot 1", [][]serializer.Versioned{{v("~> 2.0.0", tagged{serializer.V2, 1})}}},
		{"slot taken by another socket", "slot 2", [][]serializer.Versioned{
			{v("~> 2.0.0", tagged{serializer.V2, 2})}, {v("~> 2.0.0", tagged{serializer.V1, 2})}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := NewEndpoint(Config{})
			defer shutdownNow(t, ep)
			defer func() {
				v := recover()
				if s, _ := v.(string); !strings.Contains(s, tc.panic) {
					t.Fatalf("panic %v, want one containing %q", v, tc.panic)
				}
			}()
			for i, table := range tc.tables {
				ep.Socket("/s"+string(rune('a'+i)), channel.NewRouter(testSocket{}), WithSerializers(table...))
			}
		})
	}
	// The same serializer on several sockets shares its slot; -1 takes none.
	ep := NewEndpoint(Config{})
	defer shutdownNow(t, ep)
	mine := tagged{serializer.V2, 3}
	ep.Socket("/a", channel.NewRouter(testSocket{}), WithSerializers(v("~> 2.0.0", mine)))
	ep.Socket("/b", channel.NewRouter(testSocket{}), WithSerializers(v("~> 2.0.0", mine), v("~> 1.0.0", tagged{serializer.V1, -1})))
}

func shutdownNow(t *testing.T, ep *Endpoint) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := ep.Shutdown(ctx); err != nil {
		t.Error(err)
	}
}

// A delivery through the fastlane encodes nothing and allocates nothing once the broadcast is encoded for
// a slot, with a serializer of another package as with Phoenix's.
func TestCodecBroadcastCacheAllocatesNothing(t *testing.T) {
	b := message.NewBroadcast("room:1", "news", message.JSON([]byte(`{"n":1}`)))
	for _, c := range []*codec{newCodec(serializer.V2), newCodec(tagged{serializer.V2, 2})} {
		first, err := b.Encoded(c.Slot(), c.encodeBroadcast)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() {
			if f, _ := b.Encoded(c.Slot(), c.encodeBroadcast); &f[0] != &first[0] {
				t.Fatal("encoded again")
			}
		}); n != 0 {
			t.Fatalf("%T: %v allocations per delivery, want 0", c.Serializer, n)
		}
	}
}
