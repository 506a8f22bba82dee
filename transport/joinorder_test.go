package transport

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// maskedFrames encodes texts as masked client text frames, back to back, for one TCP write.
func maskedFrames(texts ...string) []byte {
	key := [4]byte{0x5a, 0x17, 0xc3, 0x88}
	var b []byte
	for _, s := range texts {
		b = append(b, 0x81) // FIN, text
		switch n := len(s); {
		case n < 126:
			b = append(b, 0x80|byte(n))
		default:
			b = append(b, 0x80|126)
			b = binary.BigEndian.AppendUint16(b, uint16(n))
		}
		b = append(b, key[:]...)
		for i := range len(s) {
			b = append(b, s[i]^key[i%4])
		}
	}
	return b
}

// Issue 12.1: a client that pipelines join, pushes and leave in one TCP write gets what its Join sent
// itself (the welcome push) before the replies to the pushes, as from Phoenix, whose socket waits for
// join/3 before it reads the next frame.
func TestJoinMessagesPrecedePipelinedFrames(t *testing.T) {
	f := newFixture(t, Config{})
	c := dial(t, f.srv, v2, nil)
	for i := range 50 {
		topic := fmt.Sprintf("room:order%d", i)
		frames := maskedFrames(
			`["1","1","`+topic+`","phx_join",{"welcome":true}]`,
			`["1","2","`+topic+`","echo",{"n":2}]`,
			`["1","3","`+topic+`","echo",{"n":3}]`,
			`["1","4","`+topic+`","echo",{"n":4}]`,
			`["1","5","`+topic+`","phx_leave",{}]`)
		if _, err := c.conn.NetConn().Write(frames); err != nil {
			t.Fatal(err)
		}
		c.expect(`["1","1","` + topic + `","phx_reply",{"response":{"joined":"` + topic + `"},"status":"ok"}]`)
		c.expect(`["1",null,"` + topic + `","welcome",{"topic":"` + topic + `"}]`)
		for n := 2; n <= 4; n++ {
			c.expect(fmt.Sprintf(`["1","%d",%q,"phx_reply",{"response":{"n":%d},"status":"ok"}]`, n, topic, n))
		}
		c.expect(`["1","5","` + topic + `","phx_reply",{"response":{},"status":"ok"}]`)
		c.expect(`["1","1","` + topic + `","phx_close",{}]`)
	}
	quiet(t, f.ep, "h", c)
}
