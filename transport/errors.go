package transport

import "errors"

// errRefused fails gws's read of a frame the read guard refused, after the guard sent the close frame.
var errRefused = errors.New("transport: inbound frame refused")
