package chaos

import "errors"

// Errors returned by New and Run. New wraps them with the offending value; compare with errors.Is.
var (
	ErrNilPopulation = errors.New("chaos: nil population")
	ErrMethod        = errors.New("chaos: unknown method")
	ErrRate          = errors.New("chaos: rate must be a finite number >= 0")
	ErrMax           = errors.New("chaos: max must be >= 0")
	ErrDuration      = errors.New("chaos: duration must be >= 0")
	ErrTopicPattern  = errors.New("chaos: topic wildcard must be the last character")
	ErrUnbounded     = errors.New("chaos: unbounded run: set Config.Max, Config.Duration or a context deadline")
)
