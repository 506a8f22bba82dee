package dashboard

import "errors"

var (
	// ErrStarted is returned by Start when the dashboard was started already.
	ErrStarted = errors.New("dashboard: already started")
	// ErrClosed is returned by Start after Close.
	ErrClosed = errors.New("dashboard: closed")
)
