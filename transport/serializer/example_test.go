package serializer_test

import (
	"fmt"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/transport/serializer"
)

// A heartbeat and its reply, as a connection handles them.
func Example() {
	s, err := serializer.ForVsn("2.0.0")
	if err != nil {
		panic(err)
	}
	in, err := s.Decode([]byte(`[null,"5","phoenix","heartbeat",{}]`), false)
	if err != nil {
		panic(err) // a malformed frame: close the connection with 1011
	}
	out, binary, err := s.Encode(message.NewReply(in, message.StatusOK, message.Payload{}))
	fmt.Println(string(out), binary, err)
	// Output: [null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}] false <nil>
}

// A broadcast is encoded once per serializer, however many subscribers write it.
func ExampleSerializer_EncodeBroadcast() {
	b := message.NewBroadcast("room:1", "new_msg", message.JSON([]byte(`{"body":"hi"}`)))
	for _, s := range []serializer.Serializer{serializer.V2, serializer.V1, serializer.V2} {
		frame, err := b.Encoded(s.Slot(), func(b *message.Broadcast) ([]byte, error) {
			f, _, err := s.EncodeBroadcast(b)
			return f, err
		})
		fmt.Println(string(frame), err)
	}
	// Output:
	// [null,null,"room:1","new_msg",{"body":"hi"}] <nil>
	// {"event":"new_msg","payload":{"body":"hi"},"ref":null,"topic":"room:1"} <nil>
	// [null,null,"room:1","new_msg",{"body":"hi"}] <nil>
}

func ExampleForVsn() {
	for _, vsn := range []string{"", "1.0.0", "2.0.0", "2.0.1-rc.1", "2.1.0", "abc"} {
		s, err := serializer.ForVsn(vsn)
		if err != nil {
			fmt.Printf("%q: %v\n", vsn, err)
			continue
		}
		fmt.Printf("%q: %s\n", vsn, s.Vsn())
	}
	// Output:
	// "": 1.0.0
	// "1.0.0": 1.0.0
	// "2.0.0": 2.0.0
	// "2.0.1-rc.1": 2.0.0
	// "2.1.0": serializer: unsupported vsn: "2.1.0" (want 1.0.x or 2.0.x)
	// "abc": serializer: unsupported vsn: "abc" (want 1.0.x or 2.0.x)
}
