package serializer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// maxDepth is the deepest nesting of arrays and objects accepted in a text frame, counting the frame's own
// array or object: encoding/json's limit, so that every payload Decode accepts can later be decoded by
// message.Payload.Decode.
const maxDepth = 10000

// scanner is a validating JSON scanner over one frame. It never recurses, allocates nothing unless the
// nesting is deeper than 64, and looks at each byte a bounded number of times, so decoding is linear in the
// frame size whatever the input. Strings must be valid UTF-8 (as Jason, Phoenix's JSON library, and
// RFC 6455 text frames require); otherwise it accepts exactly what encoding/json accepts.
type scanner struct {
	data []byte
	pos  int    // index of the next byte to read
	msg  string // the first error, found at offset at
	at   int
}

// fail records an error at the current offset and returns false.
func (s *scanner) fail(msg string) bool {
	if s.msg == "" {
		s.msg, s.at = msg, s.pos
	}
	return false
}

// err returns the recorded error wrapped in ErrMalformed, with what was being read.
func (s *scanner) err(what string) error {
	msg := s.msg
	if msg == "" {
		msg = "invalid JSON"
	}
	return fmt.Errorf("%w: %s: %s at offset %d", ErrMalformed, what, msg, s.at)
}

// ws skips JSON whitespace.
func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// eof reports whether only whitespace remains.
func (s *scanner) eof() bool {
	s.ws()
	return s.pos == len(s.data)
}

// strByte classifies the ASCII bytes inside a JSON string: 0 plain, 1 ends or escapes, 2 forbidden.
var strByte = func() (t [utf8.RuneSelf]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = 2
	}
	t['"'], t['\\'] = 1, 1
	return t
}()

// str reads the string at s.pos (which holds '"').
func (s *scanner) str() bool {
	d := s.data
	i := s.pos + 1
	for i < len(d) {
		c := d[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && n == 1 {
				s.pos = i
				return s.fail("invalid UTF-8 in string")
			}
			i += n
			continue
		}
		switch strByte[c] {
		case 0:
			i++
			continue
		case 2:
			s.pos = i
			return s.fail("control character in string")
		}
		if c == '"' {
			s.pos = i + 1
			return true
		}
		// A backslash.
		if i+1 >= len(d) {
			break
		}
		switch d[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(d) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
				s.pos = i
				return s.fail(`bad \u escape in string`)
			}
			i += 6
		default:
			s.pos = i
			return s.fail("bad escape in string")
		}
	}
	s.pos = len(d)
	return s.fail("unterminated string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// num reads the number at s.pos (which holds '-' or a digit).
func (s *scanner) num() bool {
	d := s.data
	i := s.pos
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	default:
		s.pos = i
		return s.fail("bad number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || !isDigit(d[i]) {
			s.pos = i
			return s.fail("bad number")
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			s.pos = i
			return s.fail("bad number")
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	s.pos = i
	return true
}

// lit reads the literal word at s.pos.
func (s *scanner) lit(word string) bool {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(word)) {
		return s.fail("invalid literal")
	}
	s.pos += len(word)
	return true
}

// key reads an object key and the colon after it, skipping whitespace around them. The key's token is
// s.data[start:end].
func (s *scanner) key() (start, end int, ok bool) {
	s.ws()
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		return 0, 0, s.fail("expected object key")
	}
	start = s.pos
	if !s.str() {
		return 0, 0, false
	}
	end = s.pos
	s.ws()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return 0, 0, s.fail("expected ':' after object key")
	}
	s.pos++
	return start, end, true
}

// levels is the stack of open containers while skipping a value: true for an object.
type levels struct {
	n    int
	bits uint64 // the first 64 levels
	more []bool // deeper levels, allocated only for deep input
}

func (l *levels) push(obj bool) {
	switch {
	case l.n < 64:
		if obj {
			l.bits |= 1 << l.n
		} else {
			l.bits &^= 1 << l.n
		}
	case l.n-64 < len(l.more):
		l.more[l.n-64] = obj
	default:
		l.more = append(l.more, obj)
	}
	l.n++
}

func (l *levels) top() bool {
	if i := l.n - 1; i < 64 {
		return l.bits&(1<<i) != 0
	}
	return l.more[l.n-1-64]
}

// value reads one JSON value (after optional whitespace), depth being the number of containers already open
// around it. On success s.pos is just past the value.
func (s *scanner) value(depth int) bool {
	var open levels
	d := s.data
	for {
		// Read a value.
		s.ws()
		if s.pos >= len(d) {
			return s.fail("unexpected end of JSON")
		}
		switch c := d[s.pos]; c {
		case '{', '[':
			if depth+open.n >= maxDepth {
				return s.fail("nesting too deep")
			}
			open.push(c == '{')
			s.pos++
			s.ws()
			if s.pos < len(d) && d[s.pos] == c+2 { // '}' or ']'
				s.pos++
				open.n--
				break
			}
			if c == '{' {
				if _, _, ok := s.key(); !ok {
					return false
				}
			}
			continue
		case '"':
			if !s.str() {
				return false
			}
		case 't':
			if !s.lit("true") {
				return false
			}
		case 'f':
			if !s.lit("false") {
				return false
			}
		case 'n':
			if !s.lit("null") {
				return false
			}
		default:
			if c != '-' && !isDigit(c) {
				return s.fail("unexpected byte")
			}
			if !s.num() {
				return false
			}
		}
		// After a value: close containers until one continues with a comma.
		for {
			if open.n == 0 {
				return true
			}
			s.ws()
			if s.pos >= len(d) {
				return s.fail("unexpected end of JSON")
			}
			c, obj := d[s.pos], open.top()
			if c == ',' {
				s.pos++
				if obj {
					if _, _, ok := s.key(); !ok {
						return false
					}
				}
				break
			}
			if (obj && c == '}') || (!obj && c == ']') {
				s.pos++
				open.n--
				continue
			}
			if obj {
				return s.fail("expected ',' or '}'")
			}
			return s.fail("expected ',' or ']'")
		}
	}
}

// valid reports whether data is one JSON value with valid UTF-8 strings.
func valid(data []byte) bool {
	s := scanner{data: data}
	return s.value(0) && s.eof()
}

// span is the extent of a value in the frame.
type span struct{ start, end int }

// unquote returns the text of a JSON string token already validated by the scanner.
func unquote(tok []byte) string {
	if bytes.IndexByte(tok, '\\') < 0 {
		return string(tok[1 : len(tok)-1])
	}
	var s string
	_ = json.Unmarshal(tok, &s) // validated: cannot fail
	return s
}
