package host

import "github.com/pyrehq/pyre/actors/channel"

// The user API the runtime's tests write channels with (the tests moved here from package channel).
type (
	Socket      = channel.Socket
	Payload     = channel.Payload
	Reply       = channel.Reply
	Router      = channel.Router
	Assigns     = channel.Assigns
	ConnectInfo = channel.ConnectInfo
	ConnectFunc = channel.ConnectFunc
	Channel     = channel.Channel
)

var (
	ErrConnClosed = channel.ErrConnClosed
	ErrShutdown   = channel.ErrShutdown
	NoReply       = channel.NoReply
	ReplyOK       = channel.ReplyOK
	ReplyError    = channel.ReplyError
	NewRouter     = channel.NewRouter
	WithRestart   = channel.WithRestart
)

const MaxKept = channel.MaxKept
