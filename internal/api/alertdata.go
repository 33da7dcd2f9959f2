package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/parry-soar/parry/internal/store"
)

// An alert's data is the source's own: parry keeps it rather than refusing the alert over text PostgreSQL
// cannot store. A string (member name or value) holding a NUL character, invalid UTF-8 or a lone UTF-16
// surrogate is stored with each offending character replaced by U+FFFD; a number beyond PostgreSQL's numeric
// range is stored as a string of its digits. The places replaced are recorded in the data itself, under
// ReplacedKey, and in the intake answer. Everything else is stored byte for byte.
const (
	// ReplacedKey is the member of an alert's data that lists what parry replaced: {"replaced": [paths],
	// "replaced_count": n}. A source's own member of that name is overwritten when parry replaces anything.
	ReplacedKey = "_parry"
	// maxReplacedPaths bounds the paths recorded (replaced_count has them all).
	maxReplacedPaths = 100
	// maxDataDepth bounds the nesting of an alert's data.
	maxDataDepth = 64
)

// errDataTooDeep refuses data nested deeper than maxDataDepth.
var errDataTooDeep = fmt.Errorf("data is nested deeper than %d levels", maxDataDepth)

// sanitizeData returns data that PostgreSQL's jsonb can store and the JSON paths of what it replaced (nil and
// data itself when nothing needed to change). data must be a valid JSON object.
func sanitizeData(data []byte) ([]byte, []string, error) {
	if depth(data) > maxDataDepth {
		return nil, nil, errDataTooDeep
	}
	if store.CheckJSON("data", data) == nil {
		return data, nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out bytes.Buffer
	var paths []string
	count := 0
	copied := 0 // data[:copied] is in out
	var stack []frame
	for {
		before := int(dec.InputOffset())
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		after := int(dec.InputOffset())
		start := before // the token's own bytes begin after separators and spaces
		for start < after && strings.IndexByte(" \t\r\n,:", data[start]) >= 0 {
			start++
		}
		raw := data[start:after]
		var replacement []byte
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].wantKey = true
			}
			continue
		}
		isKey := false
		if n := len(stack); n > 0 {
			top := &stack[n-1]
			if top.object && top.wantKey {
				isKey = true
				key, _ := tok.(string)
				top.key, top.wantKey = strings.ReplaceAll(key, "\x00", "\uFFFD"), false
				if store.CheckJSON("", raw) != nil {
					replacement = marshalText(top.key)
				}
			} else if !top.object {
				top.index++
			}
		}
		if !isKey {
			switch t := tok.(type) {
			case json.Delim: // an opening one: the value is done when it closes
				stack = append(stack, frame{object: t == '{', wantKey: t == '{', index: -1})
				continue
			case string:
				if store.CheckJSON("", raw) != nil {
					replacement = marshalText(strings.ReplaceAll(t, "\x00", "\uFFFD"))
				}
			case json.Number:
				if store.CheckJSON("", raw) != nil {
					replacement = marshalText(string(t))
				}
			}
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].wantKey = true
			}
		}
		if replacement != nil {
			out.Write(data[copied:start])
			out.Write(replacement)
			copied = after
			count++
			if len(paths) < maxReplacedPaths {
				paths = append(paths, dataPath(stack))
			}
		}
	}
	out.Write(data[copied:])
	marked, err := markReplaced(out.Bytes(), paths, count)
	if err != nil {
		return nil, nil, err
	}
	return marked, paths, nil
}

// frame is one open object (with the member it is at) or array (with the index it is at) while walking the
// tokens of a document.
type frame struct {
	object  bool
	wantKey bool
	key     string
	index   int
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// dataPath is the path of where the walk is: data.a.b[2], data["odd key"].
func dataPath(stack []frame) string {
	var b strings.Builder
	b.WriteString("data")
	for _, f := range stack {
		switch {
		case !f.object:
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		case identRE.MatchString(f.key):
			b.WriteString("." + f.key)
		default:
			b.WriteString("[" + string(marshalText(f.key)) + "]")
		}
	}
	return b.String()
}

// marshalText encodes a string as JSON without HTML escapes (data is not HTML: keep < > & as sent).
func marshalText(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(b.Bytes(), "\n")
}

// markReplaced adds {"_parry": {"replaced": paths, "replaced_count": n}} to the top-level object.
func markReplaced(obj []byte, paths []string, count int) ([]byte, error) {
	mark, err := json.Marshal(map[string]any{"replaced": paths, "replaced_count": count})
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimRight(obj, " \t\r\n")
	if len(trimmed) == 0 || trimmed[len(trimmed)-1] != '}' {
		return nil, errors.New("data is not an object")
	}
	body := bytes.TrimSpace(trimmed[:len(trimmed)-1])
	var out bytes.Buffer
	out.Write(body)
	if !bytes.Equal(body, []byte("{")) {
		out.WriteByte(',')
	}
	out.WriteString(strconv.Quote(ReplacedKey) + ":")
	out.Write(mark)
	out.WriteByte('}')
	return out.Bytes(), nil
}

// depth is the deepest nesting of objects and arrays in a JSON document.
func depth(data []byte) int {
	d, deepest := 0, 0
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}
