package transport

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// stalledClient completes a WebSocket handshake, joins a topic, and then never reads again.
func stalledClient(t *testing.T, addr, topic string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", v2, addr)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	// A masked client text frame with the join.
	payload := []byte(`["1","1","` + topic + `","phx_join",{}]`)
	frame := []byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}
	_, err = conn.Write(append(frame, payload...))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestSlowConsumerIsDisconnectedOthersUnaffected(t *testing.T) {
	f := newFixture(t, Config{MaxQueueBytes: 256 << 10})
	good := dial(t, f.srv, v2, nil)
	good.send(`["1","1","room:fan","phx_join",{}]`)
	good.expect(`["1","1","room:fan","phx_reply",{"response":{"joined":"room:fan"},"status":"ok"}]`)
	stalledClient(t, strings.TrimPrefix(f.srv.URL, "http://"), "room:fan")
	eventually(t, "stalled client joined", func() bool { return f.ep.Stats().Channels == 2 })

	body := strings.Repeat("x", 16<<10)
	const perRound, maxRounds = 8, 3000
	sent := 0
	for round := 0; f.ep.Stats().Sockets == 2; round++ {
		if round == maxRounds {
			t.Fatalf("stalled client still connected after %d broadcasts", sent)
		}
		for i := 0; i < perRound; i++ {
			if err := f.ep.Broadcast("room:fan", "big", map[string]any{"n": sent, "body": body}); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		// The reading client keeps up with each round: it loses nothing.
		for i := sent - perRound; i < sent; i++ {
			fr := good.next()
			if !strings.Contains(string(fr.data), fmt.Sprintf(`"n":%d,`, i)) && !strings.Contains(string(fr.data), fmt.Sprintf(`"n":%d}`, i)) {
				t.Fatalf("good client got %.60s…, want broadcast %d", fr.data, i)
			}
		}
	}
	good.sync("still-connected")
}
