package serializer

import (
	"fmt"
	"unicode/utf8"

	"github.com/pyrehq/pyre/actors/message"
)

// Encoding helpers: every frame is built by appending into one []byte sized exactly beforehand.

const hexDigits = "0123456789abcdef"

// escByte is the escaped length of each ASCII byte inside a JSON string: 1 for bytes written as is, 2 for
// short escapes, 6 for \u00XX.
var escByte = func() (t [utf8.RuneSelf]uint8) {
	for c := range t {
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
			t[c] = 2
		case c < 0x20:
			t[c] = 6
		default:
			t[c] = 1
		}
	}
	return t
}()

// quotedLen is len(appendQuoted(nil, s)).
func quotedLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			n += int(escByte[c])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			n += len(`\ufffd`)
		} else {
			n += size
		}
		i += size
	}
	return n
}

// appendQuoted appends s as a JSON string. It escapes what JSON requires (quote, backslash, control
// characters, with the short forms where they exist) and replaces invalid UTF-8 with \ufffd, as
// encoding/json does; unlike encoding/json (and like Jason) it leaves <, >, & and U+2028/U+2029 as they are.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if escByte[c] == 1 {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// payloadJSON returns the JSON text of a payload, `{}` when it is empty.
func payloadJSON(p message.Payload) []byte {
	if b := p.Bytes(); len(b) > 0 {
		return b
	}
	return emptyObject
}

var emptyObject = []byte("{}")

// refJSON returns the JSON token of a ref after checking that it is one (a string, a number or null), so that
// a Ref built by hand cannot produce an invalid frame.
func refJSON(r message.Ref, what string) (string, error) {
	if r.IsNull() {
		return "null", nil
	}
	if !validRef(string(r)) {
		return "", fmt.Errorf("serializer: encode %s: %w", what, message.ErrBadRef)
	}
	return string(r), nil
}

// validRef reports whether tok is exactly one JSON string, number or null.
func validRef(tok string) bool {
	if tok == "" {
		return false
	}
	switch c := tok[0]; {
	case c == '"', c == '-', isDigit(c), c == 'n':
	default:
		return false
	}
	if c := tok[0]; c == '"' && len(tok) >= 2 && tok[len(tok)-1] == '"' && plainASCII(tok[1:len(tok)-1]) {
		return true // the common case: "12", "room:1"
	}
	s := scanner{data: []byte(tok)}
	return s.value(0) && s.pos == len(tok)
}

// plainASCII reports whether s needs no escaping or validation inside a JSON string.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || escByte[c] != 1 {
			return false
		}
	}
	return true
}

// refText returns the text a binary frame carries for a ref: the string's contents, the number's digits,
// or "" for null.
func refText(r message.Ref, what string) (string, error) {
	if r.IsNull() || r == "null" {
		return "", nil
	}
	if !validRef(string(r)) {
		return "", fmt.Errorf("serializer: encode %s: %w", what, message.ErrBadRef)
	}
	s := string(r)
	if s[0] == '"' && plainASCII(s[1:len(s)-1]) {
		return s[1 : len(s)-1], nil
	}
	return r.String(), nil
}
