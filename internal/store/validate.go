package store

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// InvalidError is a value PostgreSQL cannot store, refused before it reaches SQL: text with a NUL character or
// invalid UTF-8; JSON with \u0000, a lone UTF-16 surrogate or a number beyond the numeric type's range. It is
// the caller's input, not a fault of the database (an API answers 400).
type InvalidError struct {
	Field  string // what the value is, as the caller knows it ("title", "inputs", "playbooks[0].source")
	Reason string
}

func (e *InvalidError) Error() string { return e.Field + " " + e.Reason }

// CheckText refuses text a PostgreSQL text column cannot hold.
func CheckText(field, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return &InvalidError{Field: field, Reason: `contains a NUL character (\u0000)`}
	}
	if !utf8.ValidString(s) {
		return &InvalidError{Field: field, Reason: "is not valid UTF-8"}
	}
	return nil
}

// PostgreSQL's numeric type (which jsonb numbers are) holds at most 131072 digits before the decimal point and
// 16383 after it.
const (
	maxNumericWeight = 131071
	maxNumericScale  = 16383
)

// CheckJSON refuses JSON a jsonb column cannot hold. b must be valid JSON (json.Valid); it may be any value,
// including a single string or number token.
func CheckJSON(field string, b []byte) error {
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			end, reason := scanString(b, i)
			if reason != "" {
				return &InvalidError{Field: field, Reason: reason}
			}
			i = end
		case c == '-' || c >= '0' && c <= '9':
			end, ok := scanNumber(b, i)
			if !ok {
				return &InvalidError{Field: field, Reason: fmt.Sprintf("holds the number %s, beyond what PostgreSQL's numeric type holds", clipText(string(b[i:end]), 40))}
			}
			i = end
		default:
			i++
		}
	}
	return nil
}

// scanString checks the JSON string starting at b[i] (the quote) and returns the index after it, or why
// PostgreSQL would refuse it.
func scanString(b []byte, i int) (int, string) {
	j := i + 1
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			return j + 1, ""
		case c == 0:
			return j, `contains a NUL character (\u0000)`
		case c == '\\':
			if j+1 < len(b) && b[j+1] == 'u' {
				r, ok := hex4(b, j+2)
				if !ok {
					return j, "has a malformed \\u escape"
				}
				switch {
				case r == 0:
					return j, `contains a NUL character (\u0000)`
				case r >= 0xD800 && r < 0xDC00:
					if lo, ok := lowSurrogateAt(b, j+6); ok && lo {
						j += 12
						continue
					}
					return j, fmt.Sprintf(`contains a lone UTF-16 surrogate (\u%04x)`, r)
				case r >= 0xDC00 && r < 0xE000:
					return j, fmt.Sprintf(`contains a lone UTF-16 surrogate (\u%04x)`, r)
				}
				j += 6
				continue
			}
			j += 2
		case c < utf8.RuneSelf:
			j++
		default:
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size == 1 {
				return j, "is not valid UTF-8"
			}
			j += size
		}
	}
	return j, "has an unterminated string"
}

func lowSurrogateAt(b []byte, j int) (bool, bool) {
	if j+1 >= len(b) || b[j] != '\\' || b[j+1] != 'u' {
		return false, false
	}
	r, ok := hex4(b, j+2)
	return r >= 0xDC00 && r < 0xE000, ok
}

func hex4(b []byte, j int) (rune, bool) {
	if j+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[j : j+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}

// scanNumber reads the JSON number starting at b[i] and reports whether PostgreSQL's numeric type holds it.
// It is conservative: what it accepts, PostgreSQL accepts.
func scanNumber(b []byte, i int) (int, bool) {
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	intDigits, fracDigits := 0, 0
	for j < len(b) && isDigit(b[j]) {
		intDigits++
		j++
	}
	if j < len(b) && b[j] == '.' {
		j++
		for j < len(b) && isDigit(b[j]) {
			fracDigits++
			j++
		}
	}
	exp, expOK := 0, true
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		neg := false
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			neg = b[j] == '-'
			j++
		}
		for j < len(b) && isDigit(b[j]) {
			if exp > 1_000_000_000 {
				expOK = false
			} else {
				exp = exp*10 + int(b[j]-'0')
			}
			j++
		}
		if neg {
			exp = -exp
		}
	}
	if !expOK {
		return j, false
	}
	// PostgreSQL counts every digit before the point (JSON allows no leading zeros but a single 0) for the
	// weight, and the digits after it less the exponent for the scale.
	weight := intDigits - 1 + exp
	scale := max(0, fracDigits-exp)
	return j, weight <= maxNumericWeight && scale <= maxNumericScale
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
