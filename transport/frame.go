package transport

import (
	"encoding/binary"
	"sync"
)

// WebSocket opcodes the writer sends (RFC 6455 §5.2).
const (
	opText   byte = 0x1
	opBinary byte = 0x2
)

// appendFrame appends one unmasked, unfragmented server frame (FIN set) carrying payload. The writer builds
// all pending frames of a connection into one buffer so they leave in a single write: a syscall costs far
// more than the copy.
func appendFrame(dst []byte, opcode byte, payload []byte) []byte {
	return append(appendFrameHeader(dst, opcode, len(payload)), payload...)
}

// appendFrameHeader appends the header of a frame whose payload is n bytes long.
func appendFrameHeader(dst []byte, opcode byte, n int) []byte {
	switch {
	case n < 126:
		dst = append(dst, 0x80|opcode, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|opcode, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|opcode, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return dst
}

// maxCoalesce is how many bytes one write carries at most; bigger batches are written in several.
const maxCoalesce = 64 << 10

// writeBufs recycles coalescing buffers between writes (a connection holds one only while writing).
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}
