package serializer

import (
	"fmt"
	"strings"
)

// ForVsn returns the serializer for the vsn a client asked for (the `vsn` connect parameter), following
// Phoenix's default negotiation: Negotiate(Defaults(), vsn). The version must parse as Elixir's
// Version.parse/1 does and match "~> 1.0.0" (V1) or "~> 2.0.0" (V2) as Version.match?/2 does. So "1.0.0",
// "1.0.7", "2.0.0", "2.0.3", "2.0.0+build" and "2.0.1-rc.1" are accepted, while "2.1.0", "2.0", "2",
// "2.0.01", "2.0.0-rc.1" (a pre-release of 2.0.0 sorts before it) and "abc" return an error wrapping
// ErrUnsupportedVsn.
//
// The empty string selects V1, as an absent vsn means "1.0.0". (Phoenix itself rejects a vsn parameter that
// is present but empty; a caller that wants that distinction checks for presence first.)
func ForVsn(vsn string) (Serializer, error) {
	if s := negotiate(defaults[:], vsn); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("%w: %q (want 1.0.x or 2.0.x)", ErrUnsupportedVsn, cut(vsn))
}

// Versioned is one entry of a socket's serializer table, as Phoenix's socket option
// `serializer: [{Serializer, "~> 2.0.0"}]`: Serializer serves the clients whose vsn matches Requirement.
type Versioned struct {
	// Requirement is "~> MAJOR.MINOR.PATCH" (that minor version from that patch on) or "~> MAJOR.MINOR"
	// (that major version from that minor on), matched as Elixir's Version.match?/2 does.
	Requirement string
	// Serializer serves the clients whose vsn matches Requirement.
	Serializer Serializer
}

var defaults = [...]Versioned{{"~> 1.0.0", V1}, {"~> 2.0.0", V2}}

// Defaults is Phoenix's serializer table: V1 for "~> 1.0.0", V2 for "~> 2.0.0".
func Defaults() []Versioned { return append([]Versioned(nil), defaults[:]...) }

// Negotiate returns the serializer of the first entry of table whose requirement vsn matches; the empty
// vsn means "1.0.0". An entry whose requirement does not parse (see CheckRequirement) matches nothing.
// No match returns an error wrapping ErrUnsupportedVsn.
func Negotiate(table []Versioned, vsn string) (Serializer, error) {
	if s := negotiate(table, vsn); s != nil {
		return s, nil
	}
	want := make([]string, len(table))
	for i, e := range table {
		want[i] = e.Requirement
	}
	return nil, fmt.Errorf("%w: %q (want %s)", ErrUnsupportedVsn, cut(vsn), strings.Join(want, " or "))
}

func negotiate(table []Versioned, vsn string) Serializer {
	if vsn == "" {
		vsn = "1.0.0"
	}
	v, ok := parseVersion(vsn)
	if !ok {
		return nil
	}
	for _, e := range table {
		if r, err := parseRequirement(e.Requirement); err == nil && r.match(v) {
			return e.Serializer
		}
	}
	return nil
}

// cut shortens a client's vsn for an error message.
func cut(vsn string) string {
	if len(vsn) > 64 {
		return vsn[:64] + "..."
	}
	return vsn
}

// CheckRequirement returns an error wrapping ErrBadRequirement unless r is a requirement Negotiate
// understands: "~> MAJOR.MINOR.PATCH" or "~> MAJOR.MINOR", without pre-release or build.
func CheckRequirement(r string) error {
	_, err := parseRequirement(r)
	return err
}

// version is a parsed vsn: its numeric identifiers (digits without leading zeros, compared by length
// then bytes, so any size parses) and whether it is a pre-release.
type version struct {
	major, minor, patch string
	pre                 bool
}

// requirement is a parsed "~> X.Y.Z" (>= X.Y.Z and < X.Y+1.0) or "~> X.Y" (>= X.Y.0 and < X+1.0.0).
type requirement struct {
	v         version
	threePart bool
}

func parseRequirement(s string) (requirement, error) {
	rest, ok := strings.CutPrefix(s, "~>")
	rest = strings.TrimSpace(rest)
	if ok && strings.Count(rest, ".") == 1 {
		rest += ".0"
		v, vok := parseVersion(rest)
		if vok && !v.pre && !strings.ContainsRune(rest, '+') {
			return requirement{v: v}, nil
		}
	} else if ok {
		v, vok := parseVersion(rest)
		if vok && !v.pre && !strings.ContainsRune(rest, '+') {
			return requirement{v: v, threePart: true}, nil
		}
	}
	return requirement{}, fmt.Errorf("%w: %q (want \"~> MAJOR.MINOR.PATCH\" or \"~> MAJOR.MINOR\")", ErrBadRequirement, s)
}

// match reports whether v is in r's range. A pre-release of the lower bound sorts below it; the upper
// bound excludes its own pre-releases (Elixir bounds it with "-0"), so a matching version shares r's major
// (and, for three parts, minor) version.
func (r requirement) match(v version) bool {
	if v.major != r.v.major {
		return false
	}
	if r.threePart {
		if v.minor != r.v.minor {
			return false
		}
		c := cmpNum(v.patch, r.v.patch)
		return c > 0 || (c == 0 && !v.pre)
	}
	switch c := cmpNum(v.minor, r.v.minor); {
	case c != 0:
		return c > 0
	default:
		return v.patch != "0" || !v.pre
	}
}

// cmpNum compares two numeric identifiers (no leading zeros).
func cmpNum(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// parseVersion parses vsn as Elixir's Version.Parser.parse_version/1.
func parseVersion(vsn string) (version, bool) {
	rest, build, hasBuild := strings.Cut(vsn, "+")
	core, pre, hasPre := strings.Cut(rest, "-")
	// Cut, not Split: every connection negotiates, and a slice per connect is garbage.
	major, rest, ok1 := strings.Cut(core, ".")
	minor, patch, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || !isNumericIdent(major) || !isNumericIdent(minor) || !isNumericIdent(patch) {
		return version{}, false
	}
	if hasPre && !validIdents(pre, true) {
		return version{}, false
	}
	if hasBuild && !validIdents(build, false) {
		return version{}, false
	}
	return version{major: major, minor: minor, patch: patch, pre: hasPre}, true
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
