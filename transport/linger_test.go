package transport

import (
	"strings"
	"testing"
	"time"
)

// lingering reports whether a connection's close is lingering (reading what the client still sends).
func lingering() bool {
	for _, g := range writerGoroutines() {
		if strings.Contains(g, "transport.(*lingerConn).Close") {
			return true
		}
	}
	return false
}

// A client that closes with a close frame gets the close handshake (its code echoed), and the server's
// close does not linger for the client's EOF: the client sends nothing more. The linger is an hour here,
// so a close that lingered would keep the socket until the client closes.
func TestClientCloseFrameDoesNotLinger(t *testing.T) {
	f := newFixture(t, Config{})
	f.ep.lingerTime = time.Hour
	c := rawDial(t, strings.TrimPrefix(f.srv.URL, "http://"), nil)
	c.write(clientFrame(true, 8, []byte{0x0F, 0xA0}, -1)) // 4000
	c.expectClose(4000)                                   // echoed, then the server closes
	eventually(t, "the socket ended while the client still holds its connection", func() bool {
		return f.ep.Stats().Sockets == 0 && !lingering()
	})
}

// A server-initiated close still lingers until the client's EOF, so the client reads the close frame
// (unread input would make the kernel reset the connection); the client's close ends it.
func TestServerCloseStillLingers(t *testing.T) {
	f := newFixture(t, Config{})
	f.ep.lingerTime = time.Hour
	c, err := rawDialErr(strings.TrimPrefix(f.srv.URL, "http://"), v2+"&user_id=9", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	defer c.conn.Close()
	eventually(t, "socket open", func() bool { return f.ep.Stats().Sockets == 1 })
	if err := f.ep.Disconnect("users_socket:9"); err != nil {
		t.Fatal(err)
	}
	c.expectClose(1001)
	eventually(t, "the close lingers", lingering)
	c.write(clientFrame(true, 8, []byte{0x03, 0xE9}, -1)) // the client's answer, read and discarded
	if err := c.conn.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the close ended at the client's EOF", func() bool {
		return f.ep.Stats().Sockets == 0 && !lingering()
	})
}
