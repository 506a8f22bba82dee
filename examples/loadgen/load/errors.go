package load

import "errors"

// Sentinel errors. Compare with errors.Is.
var (
	// ErrConfig wraps every Config validation error returned by Run.
	ErrConfig = errors.New("load: invalid config")
	// ErrIncomplete is wrapped by Result.Err when a connection could not be made or a join failed.
	ErrIncomplete = errors.New("load: incomplete run")
)
