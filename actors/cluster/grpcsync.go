package cluster

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// protoactor's remote.Start writes grpc's global logger (grpclog.SetLoggerV2) without synchronization,
// and every gRPC goroutine reads it when it logs. With one node per process that is harmless; with several
// nodes in one process (tests, embedding) the race detector rightly reports it. startMu orders the writes
// after every gRPC goroutine of the nodes started before: Start holds it around remote.Start and then waits
// until its own server has accepted a probe connection (its Serve goroutine has logged its listener by
// then), and every accepted connection takes it before its transport logs anything.
var startMu sync.Mutex

// probeByte opens the probe connection; a gRPC client opens with "PRI * HTTP/2.0".
const probeByte = 0

// syncCreds are insecure transport credentials whose server side takes startMu, and recognises the probe.
type syncCreds struct {
	credentials.TransportCredentials
	probed func()
}

func newSyncCreds(probed func()) syncCreds {
	return syncCreds{TransportCredentials: insecure.NewCredentials(), probed: probed}
}

func (c syncCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	startMu.Lock()
	startMu.Unlock() //nolint:staticcheck // an empty critical section: only the ordering matters
	var first [1]byte
	if _, err := io.ReadFull(conn, first[:]); err != nil {
		return nil, nil, io.EOF // closed before a byte (a TCP health check): gRPC drops it without logging
	}
	if first[0] == probeByte {
		c.probed()
		conn.Close()
		return nil, nil, io.EOF
	}
	conn, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		return nil, nil, err
	}
	return &replayConn{Conn: conn, first: first[:]}, info, nil
}

func (c syncCreds) Clone() credentials.TransportCredentials {
	return syncCreds{TransportCredentials: c.TransportCredentials.Clone(), probed: c.probed}
}

// replayConn gives back the byte the handshake read.
type replayConn struct {
	net.Conn
	first []byte
}

func (r *replayConn) Read(b []byte) (int, error) {
	if len(r.first) > 0 && len(b) > 0 {
		n := copy(b, r.first)
		r.first = r.first[n:]
		return n, nil
	}
	return r.Conn.Read(b)
}

// startRemoteOrdered starts rem under startMu, then waits (at most a few seconds: a node whose own
// address does not answer still starts) until its server accepted the probe.
func startRemoteOrdered(rem *remote.Remote, addr string, probed <-chan struct{}) {
	startMu.Lock()
	func() {
		defer startMu.Unlock()
		rem.Start()
	}()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return
	}
	_, _ = c.Write([]byte{probeByte})
	c.Close()
	select {
	case <-probed:
	case <-time.After(3 * time.Second):
	}
}
