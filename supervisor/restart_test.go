package supervisor

import (
	"errors"
	"testing"
	"time"
)

func TestShouldRestart(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		r      Restart
		reason error
		want   bool
	}{
		{Permanent, nil, true},
		{Permanent, ErrNormal, true},
		{Permanent, ErrShutdown, true},
		{Permanent, boom, true},
		{Transient, nil, false},
		{Transient, ErrNormal, false},
		{Transient, ErrShutdown, false},
		{Transient, Shutdown(boom), false},
		{Transient, boom, true},
		{Transient, ErrKilled, true},
		{Temporary, boom, false},
		{Temporary, ErrKilled, false},
		{Temporary, nil, false},
	}
	for _, c := range cases {
		if got := ShouldRestart(c.r, c.reason); got != c.want {
			t.Errorf("ShouldRestart(%v, %v) = %v, want %v", c.r, c.reason, got, c.want)
		}
	}
}

func TestWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	s := time.Second
	cases := []struct {
		name string
		in   Intensity
		adds []time.Duration
		want []bool // exceeded after each add
	}{
		{"default: second restart within period gives up", DefaultIntensity, []time.Duration{0, s}, []bool{false, true}},
		{"default: restarts further apart than period are fine", DefaultIntensity, []time.Duration{0, 6 * s, 12 * s}, []bool{false, false, false}},
		{"period boundary is inclusive as OTP", DefaultIntensity, []time.Duration{0, 5 * s}, []bool{false, true}},
		{"zero intensity allows none", Intensity{Max: 0, Period: 5 * s}, []time.Duration{0}, []bool{true}},
		{"negative intensity is zero", Intensity{Max: -3, Period: 5 * s}, []time.Duration{0}, []bool{true}},
		{"three in ten seconds", Intensity{Max: 3, Period: 10 * s}, []time.Duration{0, s, 2 * s, 3 * s}, []bool{false, false, false, true}},
		{"old restarts expire", Intensity{Max: 3, Period: 10 * s}, []time.Duration{0, s, 2 * s, 11 * s, 12 * s}, []bool{false, false, false, false, false}},
		{"after giving up the window stays bounded", Intensity{Max: 2, Period: 10 * s}, []time.Duration{0, 0, 0, 0, 0}, []bool{false, false, true, true, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var w Window
			for i, d := range c.adds {
				if got := w.Add(c.in, at(d)); got != c.want[i] {
					t.Fatalf("add %d at +%v: exceeded = %v, want %v", i, d, got, c.want[i])
				}
				if w.Len() > max(c.in.Max, 0)+1 {
					t.Fatalf("window holds %d entries for intensity %d", w.Len(), c.in.Max)
				}
			}
		})
	}
}
