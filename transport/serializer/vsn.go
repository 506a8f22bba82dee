package serializer

import (
	"fmt"
	"strings"
)

// ForVsn returns the serializer for the vsn a client asked for (the `vsn` connect parameter), following
// Phoenix's default negotiation: the version must parse as Elixir's Version.parse/1 does and match "~> 1.0.0"
// (V1) or "~> 2.0.0" (V2) as Version.match?/2 does. So "1.0.0", "1.0.7", "2.0.0", "2.0.3", "2.0.0+build" and
// "2.0.1-rc.1" are accepted, while "2.1.0", "2.0", "2", "2.0.01", "2.0.0-rc.1" (a pre-release of 2.0.0
// sorts before it) and "abc" return an error wrapping ErrUnsupportedVsn.
//
// The empty string selects V1, as an absent vsn means "1.0.0". (Phoenix itself rejects a vsn parameter that
// is present but empty; a caller that wants that distinction checks for presence first.)
func ForVsn(vsn string) (Serializer, error) {
	if vsn == "" {
		return V1, nil
	}
	major, ok := matchTilde(vsn)
	switch {
	case ok && major == "1":
		return V1, nil
	case ok && major == "2":
		return V2, nil
	}
	if len(vsn) > 64 {
		vsn = vsn[:64] + "..."
	}
	return nil, fmt.Errorf("%w: %q (want 1.0.x or 2.0.x)", ErrUnsupportedVsn, vsn)
}

// matchTilde parses vsn as Elixir's Version.Parser.parse_version/1 and reports its major version when it
// matches "~> MAJOR.0.0": minor 0, and no pre-release unless the patch is above 0 (a pre-release of MAJOR.0.0
// is below the lower bound; Version.match? allows pre-releases by default).
func matchTilde(vsn string) (major string, ok bool) {
	rest, build, hasBuild := strings.Cut(vsn, "+")
	core, pre, hasPre := strings.Cut(rest, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return "", false
	}
	for _, p := range parts {
		if !isNumericIdent(p) {
			return "", false
		}
	}
	if hasPre && !validIdents(pre, true) {
		return "", false
	}
	if hasBuild && !validIdents(build, false) {
		return "", false
	}
	if parts[1] != "0" || (hasPre && parts[2] == "0") {
		return "", false
	}
	return parts[0], true
}

// isNumericIdent reports whether s is a non-empty run of digits without a leading zero.
func isNumericIdent(s string) bool {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validIdents reports whether s is a dot-separated list of non-empty [0-9A-Za-z-] identifiers. In a
// pre-release, a numeric identifier must not have a leading zero.
func validIdents(s string, pre bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		digits := true
		for i := 0; i < len(id); i++ {
			c := id[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				digits = false
			default:
				return false
			}
		}
		if pre && digits && !isNumericIdent(id) {
			return false
		}
	}
	return true
}
