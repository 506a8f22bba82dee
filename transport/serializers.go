package transport

import (
	"fmt"

	"github.com/pyrehq/pyre/actors/message"
	"github.com/pyrehq/pyre/transport/serializer"
)

// SocketOption configures one socket mounted with Endpoint.Socket.
type SocketOption func(*socketOptions)

type socketOptions struct {
	serializers []serializer.Versioned
}

// WithSerializers sets the serializers a socket serves, chosen by the client's vsn, first match wins:
// Phoenix's socket option `serializer: [{Serializer, "~> 2.0.0"}]`. The table replaces the default,
// serializer.Defaults() (V1 for "~> 1.0.0", V2 for "~> 2.0.0"); a vsn no entry matches is refused with 403.
// Serializers of other packages take broadcast cache slot 2 or 3 (see serializer.Serializer.Slot) and must
// be comparable values. An empty table, a requirement serializer.CheckRequirement refuses, a nil
// serializer or a slot taken by another serializer of the endpoint is a programmer error: Socket panics.
func WithSerializers(table ...serializer.Versioned) SocketOption {
	table = append([]serializer.Versioned{}, table...) // not nil: an empty table is refused
	return func(o *socketOptions) { o.serializers = table }
}

// codec is a socket's serializer with its broadcast encoder made once, in the shape message.Broadcast's
// cache calls: a delivery through the fastlane allocates no closure.
type codec struct {
	serializer.Serializer
	encodeBroadcast func(*message.Broadcast) ([]byte, error)
}

func newCodec(s serializer.Serializer) *codec {
	return &codec{Serializer: s, encodeBroadcast: func(b *message.Broadcast) ([]byte, error) {
		data, _, err := s.EncodeBroadcast(b)
		return data, err
	}}
}

// broadcastSlots is the number of serializers message.Broadcast caches an encoding for.
const broadcastSlots = 4

// codecs builds a socket's serializer table, checking it against the slots the endpoint's other sockets
// took (e.slots, under e.mu).
func (e *Endpoint) codecs(table []serializer.Versioned) (vs []serializer.Versioned, cs []*codec) {
	if table == nil {
		table = serializer.Defaults()
	}
	if len(table) == 0 {
		panic("transport: WithSerializers needs at least one serializer")
	}
	slots := e.slots // taken only if the whole table is accepted
	for _, v := range table {
		if err := serializer.CheckRequirement(v.Requirement); err != nil {
			panic("transport: " + err.Error())
		}
		if v.Serializer == nil {
			panic("transport: nil serializer for " + v.Requirement)
		}
		if slot := v.Serializer.Slot(); slot >= 0 && slot < broadcastSlots {
			switch prev := slots[slot]; {
			case prev == nil:
				slots[slot] = v.Serializer
			case prev != v.Serializer:
				panic(fmt.Sprintf("transport: serializers %T and %T both use broadcast cache slot %d", prev, v.Serializer, slot))
			}
		}
		vs = append(vs, v)
		cs = append(cs, newCodec(v.Serializer))
	}
	e.slots = slots
	return vs, cs
}

// negotiate returns the codec for a client's vsn, nil when none serves it.
func (d *socketDef) negotiate(vsn string) *codec {
	s, err := serializer.Negotiate(d.serializers, vsn)
	if err != nil {
		return nil
	}
	for i, v := range d.serializers {
		if v.Serializer == s {
			return d.codecs[i]
		}
	}
	return nil
}
