package transport

import (
	"bytes"
	"strings"
	"testing"
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
