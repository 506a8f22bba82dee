package load

import (
	"bytes"
	"strconv"
	"time"
)

var tsKey = []byte(`"ts"`)

// payloadTS reads the first numeric "ts" field of a JSON payload as a time. The unit follows from the
// magnitude, so publishers may use Unix seconds, milliseconds (JavaScript's Date.now()), microseconds or
// nanoseconds (Go's UnixNano, Elixir's System.system_time()). It does not parse the whole payload: a
// "ts" key inside a nested object that comes first is taken too.
func payloadTS(p []byte) (time.Time, bool) {
	for off := 0; off < len(p); {
		k := bytes.Index(p[off:], tsKey)
		if k < 0 {
			return time.Time{}, false
		}
		off += k + len(tsKey)
		rest := bytes.TrimLeft(p[off:], " \t\r\n")
		if len(rest) == 0 || rest[0] != ':' {
			continue // "ts" as a value, not a key
		}
		rest = bytes.TrimLeft(rest[1:], " \t\r\n")
		end := 0
		for end < len(rest) && bytes.IndexByte([]byte("0123456789+-.eE"), rest[end]) >= 0 {
			end++
		}
		v, err := strconv.ParseFloat(string(rest[:end]), 64)
		if err != nil || v <= 0 {
			return time.Time{}, false
		}
		if n, err := strconv.ParseInt(string(rest[:end]), 10, 64); err == nil { // exact
			switch unitNanos(v) {
			case 1e9:
				return time.Unix(n, 0), true
			case 1e6:
				return time.UnixMilli(n), true
			case 1e3:
				return time.UnixMicro(n), true
			}
			return time.Unix(0, n), true
		}
		return time.Unix(0, int64(v*unitNanos(v))), true
	}
	return time.Time{}, false
}

// unitNanos is the length in nanoseconds of the unit of Unix timestamp v: seconds below 1e11 (until the
// year 5138), then milliseconds, microseconds, nanoseconds.
func unitNanos(v float64) float64 {
	switch {
	case v < 1e11:
		return 1e9
	case v < 1e14:
		return 1e6
	case v < 1e17:
		return 1e3
	}
	return 1
}
