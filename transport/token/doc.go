// Package token makes signed, expiring tokens, as Phoenix.Token: for socket authentication (a user id
// signed at login, verified in the socket's Connect from the "token" connect param or
// ConnectInfo.AuthToken) and for long-poll connection tokens (transport/PROTOCOL.md §7, §10).
//
//	signer, err := token.NewSigner(secretKeyBase, "user socket")
//	t, err := signer.Sign(userID)                // at login
//	err = signer.Verify(t, &userID)              // in Connect: nil, ErrInvalid, ErrExpired or ErrMissing
//
// Tokens are signed, not encrypted: anyone holding one can read its data. Put ids in them, not secrets.
//
// # Format
//
// A token is three base64url parts without padding, joined by dots:
//
//	header.payload.signature
//
//	header     "v1.HS256" (always "djEuSFMyNTY"): format version 1, HMAC-SHA256
//	payload    {"d":<data>,"s":<signed at, Unix ms>,"m":<max age, ms>}, the data as encoding/json
//	           writes it; "m" is -1 for Infinity and 0 for an already expired token
//	signature  HMAC-SHA256 of the ASCII text "header.payload", keyed with the Signer's derived key
//
// The key is PBKDF2-HMAC-SHA256(secretKeyBase, salt, 1000 iterations, 32 bytes), as
// Plug.Crypto.KeyGenerator. Verify refuses, in this order: an empty token (ErrMissing); one longer than
// MaxTokenSize (ErrInvalid), before looking at it; a wrong shape, header or signature (ErrInvalid), the
// signature compared in constant time before the payload is decoded; a payload that is not the JSON
// above (ErrInvalid); a signing time more than MaxClockSkew ahead of the clock (ErrInvalid); an expired
// token (ErrExpired); data that does not decode into the value given (ErrInvalid). Tokens minted by
// Elixir's Phoenix.Token (Erlang term format, header "HS256") are ErrInvalid.
//
// # Max ages
//
// A token is valid from its signing time until its max age has passed; at exactly its max age it is still
// valid. Every max age, in options and in the one-shot functions, reads the same way:
//
//	> 0        that long (kept to the millisecond, rounded up)
//	Infinity   never expires (Phoenix's :infinity)
//	0          not given: Sign uses the Signer's (WithMaxAge, else DefaultMaxAge, one day); Verify uses
//	           the one embedded in the token
//	< 0        already expired, as Phoenix's max_age <= 0 (WithMaxAge refuses it)
//
// # Concurrency
//
// A Signer is immutable once NewSigner returns and safe for concurrent use; Sign and Verify do no key
// derivation and share pooled HMAC states. The one-shot Sign and Verify derive the key on every call.
// The clock given to WithClock is called from every Sign and Verify, from any goroutine.
//
// # Mapping from Phoenix
//
//	Phoenix.Token.sign(ctx, salt, data, max_age: s)    Sign(secretKeyBase, salt, data, s), or
//	                                                   Signer.Sign(data, MaxAge(s))
//	  signed_at: t                                     SignedAt(t)
//	Phoenix.Token.verify(ctx, salt, token, max_age: s) Verify(secretKeyBase, salt, token, s, &v), or
//	                                                   Signer.Verify(token, &v, VerifyMaxAge(s))
//	{:ok, data}                                        nil, data decoded into v
//	{:error, :invalid | :expired | :missing}           ErrInvalid, ErrExpired, ErrMissing
//	max_age: :infinity                                 Infinity
//	Plug.Crypto.KeyGenerator (and its key cache)       NewSigner (keep the Signer)
//
// Differences from Phoenix: the format (JSON data instead of Erlang terms), millisecond max ages, a nil
// token is just an empty string, and a token signed more than MaxClockSkew in the future is ErrInvalid
// (Plug.Crypto does not check).
package token
