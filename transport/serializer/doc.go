// Package serializer turns message values into Phoenix frames and back: V1 (JSON objects), V2 (JSON
// arrays) and V2 binary frames (transport/PROTOCOL.md §2).
//
// A connection picks its serializer once, from the client's vsn (ForVsn, or Negotiate over a socket's own
// table), then calls Decode for every inbound frame and Encode for every push and reply. Broadcasts are
// encoded once per serializer and shared by every subscriber through message.Broadcast's cache, keyed by
// Slot:
//
//	frame, err := b.Encoded(s.Slot(), func(b *message.Broadcast) ([]byte, error) {
//		f, _, err := s.EncodeBroadcast(b)
//		return f, err
//	})
//	binary := b.Payload.IsBinary()
//
// EncodeBroadcast itself does not use the cache (calling it from inside Encoded must not recurse into the
// same sync.Once).
//
// # Mapping from Phoenix
//
//	Phoenix.Socket.V1.JSONSerializer   V1 (slot 0, vsn ~> 1.0.0)
//	Phoenix.Socket.V2.JSONSerializer   V2 (slot 1, vsn ~> 2.0.0)
//	  decode!(raw, opcode: :text)      V2.Decode(frame, false)
//	  decode!(raw, opcode: :binary)    V2.Decode(frame, true)
//	  encode!(%Message{})              Encode(m) with m.Status == ""
//	  encode!(%Reply{})                Encode(m) with m.Status != "" (message.NewReply)
//	  fastlane!(%Broadcast{})          EncodeBroadcast(b)
//	  {:binary, data} payloads         message.Binary payloads, sent in binary frames
//	  raise in the serializer          an error: ErrMalformed (decode), message.ErrNotObject (a V2 push or
//	                                   broadcast whose JSON payload is not an object), ErrTooLong, ErrBinaryV1
//	Socket negotiate_serializer/2      ForVsn; Negotiate for a socket's own table
//	socket serializer: [{S, "~> 2.0.0"}] []Versioned (transport.WithSerializers)
//
// Differences from Phoenix, all on input Phoenix would crash on or mangle later: text frames must be valid
// UTF-8 (Jason rejects invalid UTF-8 too), topics and events must be strings, refs strings, numbers or null,
// nesting is limited to 10,000 levels (encoding/json's limit), and in a client's binary push an empty
// join_ref or ref means null.
//
// # Payloads and refs
//
// Decode keeps payloads as the raw JSON text the client sent (copied: the frame's buffer may be reused after
// Decode returns) and refs as their JSON tokens, so that Encode echoes them exactly: "5" stays a string, 5
// a number. Encode copies JSON payloads into the frame verbatim without validating them (they come from
// Decode or encoding/json); an empty payload is written as {}. Each Encode allocates one slice, the frame.
//
// Frames never go through encoding/json: V2's own scanner decodes a push in a few hundred nanoseconds
// with a handful of allocations, and payloads stay raw bytes until a channel decodes them. Channels encode
// with encoding/json (message.PayloadOf); one that wants a faster library hands Pyre bytes it encoded itself
// as a json.RawMessage. Building with GOEXPERIMENT=jsonv2 puts encoding/json on its v2 engine.
//
// # Concurrency
//
// V1 and V2 are stateless values, safe for concurrent use by any number of goroutines. Decode returns a new
// Message that shares nothing with the frame. Encode and EncodeBroadcast return a new slice on every call;
// once a frame is shared (through message.Broadcast's cache), nobody may modify it.
package serializer
