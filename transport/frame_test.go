package transport

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestAppendFrameLengths(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 0xFFFF, 0x10000, 70000} {
		payload := bytes.Repeat([]byte{'x'}, n)
		f := appendFrame([]byte("prefix"), opText, payload)[len("prefix"):]
		if f[0] != 0x81 {
			t.Fatalf("n=%d: first byte %#x, want FIN|text", n, f[0])
		}
		var size, hdr int
		switch l := int(f[1]); {
		case l < 126:
			size, hdr = l, 2
		case l == 126:
			size, hdr = int(binary.BigEndian.Uint16(f[2:])), 4
		default:
			size, hdr = int(binary.BigEndian.Uint64(f[2:])), 10
		}
		if f[1]&0x80 != 0 {
			t.Fatalf("n=%d: server frames must not be masked", n)
		}
		if size != n || len(f) != hdr+n || !bytes.Equal(f[hdr:], payload) {
			t.Fatalf("n=%d: decoded length %d, frame %d bytes with %d header", n, size, len(f), hdr)
		}
		// The minimal length encoding, as RFC 6455 requires.
		if (n < 126 && hdr != 2) || (n >= 126 && n <= 0xFFFF && hdr != 4) || (n > 0xFFFF && hdr != 10) {
			t.Fatalf("n=%d: header of %d bytes is not minimal", n, hdr)
		}
	}
	if appendFrame(nil, opBinary, []byte{1})[0] != 0x82 {
		t.Fatal("binary opcode")
	}
}
