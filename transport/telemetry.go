package transport

import (
	"time"

	"github.com/pyrehq/pyre/actors/host"
	"github.com/pyrehq/pyre/actors/telemetry"
)

// Telemetry (Config.Events): the connection events. Each emission point is one statement guarded by a nil
// check of its func; what an observed event needs is built here.

// teleConn names a connection in events: session is nil before its socket actor runs.
func teleConn(session *host.Session, transport string) telemetry.Conn {
	c := telemetry.Conn{Transport: transport}
	if session != nil {
		c.Socket, c.ID = session.PID().Id, session.ID()
	}
	return c
}

// connected reports a connection attempt that reached the socket handler.
func (e *Endpoint) connected(session *host.Session, transport string, ser *codec, took time.Duration, result string) {
	if f := e.ev.SocketConnected; f != nil {
		ev := telemetry.SocketConnected{Conn: teleConn(session, transport), Duration: took, Result: result}
		if ser != nil {
			ev.Serializer = ser.Vsn()
		}
		f(ev)
	}
}

// disconnected reports the end of a connection reported connected.
func (e *Endpoint) disconnected(session *host.Session, transport string, code host.CloseCode, opened int64) {
	if f := e.ev.SocketDisconnected; f != nil {
		f(telemetry.SocketDisconnected{Conn: teleConn(session, transport), Code: uint16(code), Duration: time.Duration(time.Now().UnixNano() - opened)})
	}
}

// sent reports frames written to a WebSocket client.
func (c *wsConn) sent(frames, bytes int) {
	if f := c.ep.ev.MessagesSent; f != nil {
		f(telemetry.MessagesSent{Conn: c.tele, Frames: frames, Bytes: bytes})
	}
}

// received reports a message decoded from a client.
func (e *Endpoint) received(conn telemetry.Conn, topic, event string, size int) {
	if f := e.ev.MessageReceived; f != nil {
		f(telemetry.MessageReceived{Conn: conn, Topic: topic, Event: event, Bytes: size})
	}
}

// slow reports a connection cut as a slow consumer for its outbound queue.
func (e *Endpoint) slow(session *host.Session, transport string) {
	if f := e.ev.SlowConsumer; f != nil {
		f(telemetry.SlowConsumer{Conn: teleConn(session, transport), Cause: telemetry.SlowQueue})
	}
}

// Close codes a WebSocket connection may end with besides the server's.
const (
	closeNoStatus = 1005 // the client's close frame had no code
	closeAbnormal = 1006 // no close frame
)
