package cluster

import "errors"

var (
	// ErrNoSystem: Config.System is nil.
	ErrNoSystem = errors.New("cluster: no actor system")
	// ErrNoPubSub: Start was given no local pubsub to fan broadcasts from other nodes out through.
	ErrNoPubSub = errors.New("cluster: no local pubsub")
	// ErrAddress: Config.Address is not host:port with a numeric port.
	ErrAddress = errors.New("cluster: bad address")
	// ErrListen: the cluster listener could not be opened on Config.Address.
	ErrListen = errors.New("cluster: listen")
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("cluster: already started")
	// ErrTooLarge: a broadcast's payload exceeds Config.MaxPayload; it reached no other node.
	ErrTooLarge = errors.New("cluster: payload too large for other nodes")
	// ErrQueueFull: a peer's outbound queue was full; the broadcast did not reach that peer.
	ErrQueueFull = errors.New("cluster: peer queue full, broadcast dropped")
)
