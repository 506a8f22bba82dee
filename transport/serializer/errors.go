package serializer

import "errors"

// Errors returned by this package. Each is wrapped with context (which field, which offset); compare with
// errors.Is.
var (
	// ErrMalformed reports an inbound frame that is not a valid frame of the serializer's version: bad JSON,
	// invalid UTF-8, the wrong shape, a missing or mistyped field, or a bad binary header. Phoenix closes the
	// connection on such a frame.
	ErrMalformed = errors.New("serializer: malformed frame")
	// ErrUnsupportedVsn reports a vsn that no serializer speaks.
	ErrUnsupportedVsn = errors.New("serializer: unsupported vsn")
	// ErrBadRequirement reports a Versioned.Requirement Negotiate does not understand.
	ErrBadRequirement = errors.New("serializer: bad version requirement")
	// ErrBinaryV1 reports a binary payload given to the V1 serializer, which has no binary frames.
	ErrBinaryV1 = errors.New("serializer: V1 cannot carry binary payloads")
	// ErrTooLong reports a string over 255 bytes in the header of a binary frame, whose lengths are one byte.
	ErrTooLong = errors.New("serializer: binary frame header string over 255 bytes")
)
