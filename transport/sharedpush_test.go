package transport

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/transport/serializer"
)

// A large V2 push is queued as its frame's head and the payload itself, shared, not copied per
// connection; on the wire it is the same frame as the whole encoding. Small pushes, replies and V1 frames
// are encoded whole.
func TestSharedPushFrame(t *testing.T) {
	big := message.JSON([]byte(`{"k":"` + strings.Repeat("x", sharedMin) + `"}`))
	for _, m := range []message.Message{
		{JoinRef: `"1"`, Topic: "room:1", Event: "presence_state", Payload: big},
		{JoinRef: `12`, Topic: `room:"é"`, Event: "e\n", Payload: big},
		{Topic: "room:1", Event: "presence_state", Payload: big},
	} {
		f, ok := sharedPush(serializer.V2, &m)
		if !ok {
			t.Fatalf("%+v: not queued by reference", m)
		}
		if unsafe.SliceData(f.body) != unsafe.SliceData(big.Bytes()) {
			t.Fatalf("%+v: the payload was copied", m)
		}
		whole, _, err := serializer.V2.Encode(&m)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := appendOutFrame(nil, &f), appendFrame(nil, opText, whole); !bytes.Equal(got, want) || f.size() != len(whole) {
			t.Fatalf("%+v: frame %.60q…, want %.60q…", m, got, want)
		}
	}
	small := message.JSON([]byte(`{"k":1}`))
	for _, c := range []struct {
		ser serializer.Serializer
		m   message.Message
	}{
		{serializer.V2, message.Message{JoinRef: `"1"`, Topic: "t", Event: "e", Payload: small}},
		{serializer.V2, message.Message{JoinRef: `"1"`, Ref: `"2"`, Topic: "t", Status: "ok", Payload: big}},
		{serializer.V2, message.Message{JoinRef: `"1"`, Topic: "t", Event: "e", Payload: message.Binary(big.Bytes())}},
		{serializer.V1, message.Message{JoinRef: `"1"`, Topic: "t", Event: "e", Payload: big}},
	} {
		if _, ok := sharedPush(c.ser, &c.m); ok {
			t.Errorf("%s %+v queued by reference", c.ser.Vsn(), c.m)
		}
	}
}

// The same large push queued to many connections costs its payload once, not once per connection: the
// queues hold a head each and share the payload (issue 11: a presence_state to thousands of joiners).
func TestLargePushQueuedOnce(t *testing.T) {
	const conns, size = 64, 1 << 20
	ep := NewEndpoint(Config{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ep.Shutdown(ctx)
	})
	payload := message.JSON([]byte(`{"k":"` + strings.Repeat("x", size) + `"}`))
	cs := make([]*wsConn, conns)
	for i := range cs {
		cs[i] = &wsConn{ep: ep, ser: newCodec(serializer.V2), writing: true} // a writer "runs": the frames stay queued
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i, c := range cs {
		m := &message.Message{JoinRef: message.Ref(fmt.Sprintf(`"%d"`, i)), Topic: "room:1", Event: "presence_state", Payload: payload}
		if err := c.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > size {
		t.Fatalf("%d connections queued a %d-byte push: the heap grew by %d bytes, want at most one payload", conns, size, grown)
	}
	runtime.KeepAlive(cs)
}
