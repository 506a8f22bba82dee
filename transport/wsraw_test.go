package transport

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// rawConn is a WebSocket client on a bare TCP connection: it writes whatever bytes a test gives it after
// the handshake and reads exactly what the server sends back.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

// rawDialErr opens a connection to addr and upgrades it on path, writing extra right after the request
// (in the same write, as a pipelining attacker would).
func rawDialErr(addr, path string, extra []byte) (*rawConn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", path, addr)
	_ = conn.SetDeadline(time.Now().Add(waitLimit))
	if _, err := conn.Write(append([]byte(req), extra...)); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("handshake: HTTP %d", resp.StatusCode)
	}
	_ = conn.SetDeadline(time.Time{})
	return &rawConn{conn: conn, br: br}, nil
}

func rawDial(t testing.TB, addr string, extra []byte) *rawConn {
	t.Helper()
	c, err := rawDialErr(addr, v2, extra)
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	t.Cleanup(func() { c.conn.Close() })
	return c
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// rest reads everything the server sends until it closes the connection.
func (c *rawConn) rest() []byte {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(waitLimit))
	b, err := io.ReadAll(c.br)
	if err != nil {
		c.t.Fatalf("read until close: %v (read %x)", err, b)
	}
	return b
}

// expectClose asserts that the server sends exactly one close frame with code (no reason, nothing else)
// and closes the connection.
func (c *rawConn) expectClose(code uint16) {
	c.t.Helper()
	want := []byte{0x88, 2, byte(code >> 8), byte(code)}
	if got := c.rest(); string(got) != string(want) {
		c.t.Fatalf("server sent %x, want exactly %x (close %d)", got, want, code)
	}
}

// readFrame reads one server frame.
func (c *rawConn) readFrame() (opcode byte, payload []byte) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(waitLimit))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		_, _ = io.ReadFull(c.br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, _ = io.ReadFull(c.br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, payload); err != nil {
		c.t.Fatalf("read frame payload: %v", err)
	}
	return h[0] & 0x0F, payload
}

// clientFrame builds a masked client frame (mask key 0, so the payload travels as is). length < 0 means
// len(payload); otherwise the header claims length whatever the payload.
func clientFrame(fin bool, opcode byte, payload []byte, length int64) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	n := uint64(len(payload))
	if length >= 0 {
		n = uint64(length)
	}
	var f []byte
	switch {
	case n < 126:
		f = []byte{b0, 0x80 | byte(n)}
	case n <= 0xFFFF:
		f = []byte{b0, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		f = []byte{b0, 0x80 | 127}
		f = binary.BigEndian.AppendUint64(f, n)
	}
	f = append(f, 0, 0, 0, 0)
	return append(f, payload...)
}

// hugeLength is the 14-byte attack of issue 11: a text frame whose 64-bit length has the top bit set.
func hugeLength(length uint64) []byte {
	f := []byte{0x81, 0xFF}
	f = binary.BigEndian.AppendUint64(f, length)
	return append(f, 1, 2, 3, 4)
}
