package host

import "errors"

// ErrHostClosed is returned by Open after Shutdown started.
var ErrHostClosed = errors.New("host: shutting down")
