package cecp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Tolerant decoding. The vendor's reference types most fields as strings, but real tenants send other JSON
// types for some of them (Microsoft Sentinel's connector types triggered_dlp_template as dynamic, a list), and
// new fields appear without notice. One such value must not make a whole page undecodable: a poller that
// cannot decode a page retries the same window until the events age out, spending the quota that mitigation
// needs. So every item type decodes with the scanner below:
//
//   - a text field takes any JSON value; a value that is not a string is kept as received (Extra) and the field
//     holds its string form ("PCI-DSS, GDPR" for ["PCI-DSS","GDPR"]);
//   - an identifier the engine relies on (ids, mailboxes, statuses) takes a string or a number, and anything
//     else makes the item undecodable: the page keeps it aside with a note (Page.Undecodable) and goes on;
//   - times, lists and counts that do not parse are kept as received, the field left zero;
//   - fields the reference does not list are kept as received (Extra), so nothing the vendor sent is lost.
//
// The scanner works on JSON that encoding/json has already validated (an Unmarshaler is only given valid
// JSON), so it only finds boundaries; it still checks every index, so garbage cannot make it panic.

// Undecodable is an item of a page that could not be decoded even tolerantly (not a JSON object, or an
// identifier of another type): kept as received with the reason.
type Undecodable struct {
	// Index is the item's position in the page's list.
	Index int             `json:"index"`
	Raw   json.RawMessage `json:"raw"`
	Err   string          `json:"error"`
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string starting at b[i] ('"'), or -1.
func stringEnd(b []byte, i int) int {
	// Most strings have no escape: find the closing quote at memchr speed.
	if j := bytes.IndexByte(b[i+1:], '"'); j >= 0 && bytes.IndexByte(b[i+1:i+1+j], '\\') < 0 {
		return i + 2 + j
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// valueEnd returns the index just past the JSON value starting at b[i], or -1.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end := stringEnd(b, i)
				if end < 0 {
					return -1
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	start := i
	for i < len(b) && !isSpace(b[i]) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
		i++
	}
	if i == start {
		return -1
	}
	return i
}

// members calls f with the key and raw value of every member of the JSON object b, in order. It reports
// false when b is not an object (or is malformed).
func members(b []byte, f func(key, value []byte)) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for i < len(b) {
		if b[i] != '"' {
			return false
		}
		kEnd := stringEnd(b, i)
		if kEnd < 0 {
			return false
		}
		key := b[i+1 : kEnd-1]
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
			var s string
			if json.Unmarshal(b[i:kEnd], &s) != nil {
				return false
			}
			key = []byte(s)
		}
		i = skipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		vEnd := valueEnd(b, i)
		if vEnd < 0 {
			return false
		}
		f(key, b[i:vEnd])
		i = skipSpace(b, vEnd)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		return i < len(b) && b[i] == '}'
	}
	return false
}

// elements calls f with every element of the JSON array b. It reports false when b is not an array.
func elements(b []byte, f func(i int, value []byte)) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return true
	}
	for n := 0; i < len(b); n++ {
		end := valueEnd(b, i)
		if end < 0 {
			return false
		}
		f(n, b[i:end])
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		return i < len(b) && b[i] == ']'
	}
	return false
}

// jsonKind names the type of a raw JSON value for messages.
func jsonKind(v []byte) string {
	if len(v) == 0 {
		return "empty"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// stringValue decodes a JSON string literal.
func stringValue(v []byte) (string, bool) {
	if s, ok := plainString(v); ok {
		return s, true
	}
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// stringForm is the text a playbook sees for a value that is not a string: numbers and booleans as written,
// a list as its elements' forms joined by ", ", an object as compact JSON, null as "".
func stringForm(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	switch v[0] {
	case '"':
		s, _ := stringValue(v)
		return s
	case 'n':
		return ""
	case '[':
		var parts []string
		ok := elements(v, func(_ int, e []byte) {
			if s := stringForm(e); s != "" {
				parts = append(parts, s)
			}
		})
		if ok {
			return strings.Join(parts, ", ")
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return string(v)
	}
	return buf.String()
}

// loose decodes one item's members; the item's UnmarshalJSON dispatches each key to one of its methods.
type loose struct {
	extra map[string]json.RawMessage
	err   error
}

// keep stores a member as received.
func (d *loose) keep(key, v []byte) {
	if d.extra == nil {
		d.extra = map[string]json.RawMessage{}
	}
	d.extra[string(key)] = append(json.RawMessage(nil), v...)
}

func (d *loose) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

// text decodes a text field: any value, kept as received when it is not a string.
func (d *loose) text(dst *string, key, v []byte) {
	if s, ok := stringValue(v); ok {
		*dst = s
		return
	}
	*dst = stringForm(v)
	if len(v) > 0 && v[0] != 'n' {
		d.keep(key, v)
	}
}

// id decodes an identifier: a string or a number (kept as received); anything else fails the item.
func (d *loose) id(dst *string, key, v []byte) {
	if s, ok := stringValue(v); ok {
		*dst = s
		return
	}
	switch {
	case len(v) > 0 && v[0] == 'n':
		*dst = ""
	case len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9'):
		*dst = string(v)
		d.keep(key, v)
	default:
		d.keep(key, v)
		d.fail("%s is %s, not a string", key, jsonKind(v))
	}
}

func (d *loose) time(dst *Time, key, v []byte) {
	if err := dst.UnmarshalJSON(v); err != nil {
		*dst = Time{}
		d.keep(key, v)
	}
}

func (d *loose) strings(dst *Strings, key, v []byte) {
	if err := dst.UnmarshalJSON(v); err == nil {
		return
	}
	var out Strings
	if !elements(v, func(_ int, e []byte) { out = append(out, stringForm(e)) }) {
		if s := stringForm(v); s != "" {
			out = Strings{s}
		}
	}
	*dst = out
	d.keep(key, v)
}

func (d *loose) int(dst *int, key, v []byte) {
	var n flexInt
	if err := n.UnmarshalJSON(v); err != nil {
		*dst = 0
		d.keep(key, v)
		return
	}
	*dst = int(n)
}

// object decodes a nested item; one that is not an object is kept as received, the item left zero.
func (d *loose) object(dst json.Unmarshaler, key, v []byte) {
	if len(v) > 0 && v[0] == 'n' {
		return
	}
	if len(v) == 0 || v[0] != '{' {
		d.keep(key, v)
		return
	}
	if err := dst.UnmarshalJSON(v); err != nil {
		d.keep(key, v)
		d.fail("%s: %v", key, err)
	}
}

// list decodes a list of nested items with decode; a value that is not a list, or an element that does not
// decode, keeps the whole value as received beside the elements that did.
func list[T any](d *loose, dst *[]T, key, v []byte, decode func(*T, []byte) error) {
	*dst = nil
	if len(v) > 0 && v[0] == 'n' {
		return
	}
	odd := false
	*dst = []T{}
	ok := elements(v, func(_ int, e []byte) {
		var it T
		if len(e) == 0 || e[0] != '{' || decode(&it, e) != nil {
			odd = true
			return
		}
		*dst = append(*dst, it)
	})
	if !ok {
		*dst = nil
	}
	if !ok || odd {
		d.keep(key, v)
	}
}

// decodeObject runs f over the members of b and returns the extra members, or an error when b is not an object
// or an identifier was of the wrong type.
func decodeObject(b []byte, what string, f func(d *loose, key, value []byte)) (map[string]json.RawMessage, error) {
	var d loose
	if !members(b, func(k, v []byte) { f(&d, k, v) }) {
		return nil, fmt.Errorf("%s is %s, not an object", what, jsonKind(bytes.TrimSpace(b)))
	}
	return d.extra, d.err
}

// marshalWithExtra encodes v (a struct without custom marshalling) and then the extra members over it, so a
// value that arrived as another type than documented goes out again as it came.
func marshalWithExtra(v any, extra map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, raw := range extra {
		m[k] = raw
	}
	return json.Marshal(m)
}
