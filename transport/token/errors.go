package token

import (
	"errors"
	"fmt"
)

// Verify's outcomes besides success (Phoenix.Token's {:error, :invalid | :expired | :missing}) and the setup
// and signing errors. Compare with errors.Is: most are wrapped with detail.
var (
	// ErrInvalid: the token is malformed, longer than MaxTokenSize, has an unknown header or a bad signature
	// (wrong secret or salt, or tampered with), was signed more than MaxClockSkew in the future, or its data
	// does not decode into the value given to Verify.
	ErrInvalid = errors.New("token: invalid")
	// ErrExpired: the token is authentic but older than its max age.
	ErrExpired = errors.New("token: expired")
	// ErrMissing: the token is empty.
	ErrMissing = errors.New("token: missing")
	// ErrBadConfig: NewSigner was given a secret key base shorter than MinSecretLen or a negative
	// WithMaxAge, or the key could not be derived; the message says which.
	ErrBadConfig = errors.New("token: bad signer config")
	// ErrTooLarge: Sign's data would make a token longer than MaxTokenSize, which Verify would refuse.
	ErrTooLarge = errors.New("token: too large")
)

// Detailed ErrInvalid reasons, built once so that refusing a token allocates nothing.
var (
	errTooLong   = fmt.Errorf("%w: longer than MaxTokenSize", ErrInvalid)
	errFormat    = fmt.Errorf("%w: not three dot-separated parts", ErrInvalid)
	errHeader    = fmt.Errorf("%w: unknown header", ErrInvalid)
	errSignature = fmt.Errorf("%w: bad signature", ErrInvalid)
	errPayload   = fmt.Errorf("%w: malformed payload", ErrInvalid)
	errFuture    = fmt.Errorf("%w: signed in the future", ErrInvalid)
)
