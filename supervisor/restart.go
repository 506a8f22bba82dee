package supervisor

import "time"

// ShouldRestart is OTP's restart rule: a Permanent child is restarted whatever the reason, a Transient one
// only after an abnormal exit (see IsNormal), a Temporary one never. It applies to exits the child made on
// its own; a child its supervisor terminates is never restarted.
func ShouldRestart(r Restart, reason error) bool {
	switch r {
	case Permanent:
		return true
	case Transient:
		return !IsNormal(reason)
	}
	return false
}

// Intensity is OTP's restart intensity: more than Max restarts within Period and the supervisor gives up.
type Intensity struct {
	Max    int           // restarts allowed within Period; 0 allows none
	Period time.Duration // must be > 0
}

// DefaultIntensity is OTP's default: 1 restart in 5 seconds.
var DefaultIntensity = Intensity{Max: 1, Period: 5 * time.Second}

// Window counts restarts against an Intensity, as OTP's add_restart/3. The zero value is empty. It is a
// plain value: its owner (one actor) serializes access.
type Window struct {
	at []time.Time // restarts still inside the period, oldest first
}

// Add records a restart at now and reports whether the intensity is exceeded: more than in.Max restarts
// within in.Period, counting this one. Restarts older than in.Period are forgotten.
func (w *Window) Add(in Intensity, now time.Time) (exceeded bool) {
	keep := w.at[:0]
	for _, t := range w.at {
		if now.Sub(t) <= in.Period { // inclusive, as OTP
			keep = append(keep, t)
		}
	}
	w.at = append(keep, now)
	if max := max(in.Max, 0); len(w.at) > max {
		w.at = w.at[len(w.at)-max:] // bounded: older entries expire before any kept one
		return true
	}
	return false
}

// Len is the number of restarts inside the window as of the last Add.
func (w *Window) Len() int { return len(w.at) }

// Reset forgets every restart.
func (w *Window) Reset() { w.at = w.at[:0] }
