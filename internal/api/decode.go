package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/suggest"
)

// DecodeJSON reads a JSON body strictly: syntax errors, unknown fields, wrong types and trailing data are 400s
// that say where, in words of JSON (never Go's type names or error text); an oversized body is a 413.
func DecodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return BadJSON(err)
	}
	if p := decodeStrict(body, v); p != nil {
		return Errorf(http.StatusBadRequest, apitypes.CodeBadJSON, "%s", p.Message)
	}
	return nil
}

// BadJSON turns an error reading a body into an API error (the 413 of an oversized body stays itself).
func BadJSON(err error) error {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return err
	}
	return Errorf(http.StatusBadRequest, apitypes.CodeBadJSON, "the request body could not be read completely")
}

// decodeProblem is what is wrong with a JSON document: Field is the JSON path of the offending member ("" for
// the document or its syntax).
type decodeProblem struct {
	Field   string
	Message string
	// Unknown is set when Field is a member the type has no field for.
	Unknown bool
}

// decodeStrict decodes data into v (a pointer) and refuses, in that order: an empty body, malformed JSON, data
// after the value, a value of the wrong type, a member v's type has no field for (names match exactly).
func decodeStrict(data []byte, v any) *decodeProblem {
	if len(bytes.TrimSpace(data)) == 0 {
		return &decodeProblem{Message: "request body is empty; expected JSON"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return jsonProblem(data, err, "")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &decodeProblem{Message: "request body has data after the JSON value"}
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err == nil {
		if path, known := unknownMember(doc, reflect.TypeOf(v), ""); path != "" {
			name := path[strings.LastIndexAny(path, ".]")+1:]
			return &decodeProblem{Field: path, Unknown: true, Message: fmt.Sprintf("unknown field %q%s (fields: %s)", path, suggest.Hint(name, known), strings.Join(known, ", "))}
		}
	}
	return nil
}

// jsonProblem describes a decoding error of data in JSON's words; prefix starts the message.
func jsonProblem(data []byte, err error, prefix string) *decodeProblem {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off := int(syn.Offset)
		if truncated(data, off) {
			return &decodeProblem{Message: prefix + "malformed JSON: the body ends in the middle of a value"}
		}
		line, col := lineCol(data, off)
		return &decodeProblem{Message: fmt.Sprintf("%smalformed JSON at line %d, column %d: unexpected %s", prefix, line, col, describeByte(data, off-1))}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &decodeProblem{Message: prefix + "malformed JSON: the body ends in the middle of a value"}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return &decodeProblem{Message: fmt.Sprintf("%sthe body must be %s, not %s", prefix, jsonKind(typ.Type), typ.Value)}
		}
		return &decodeProblem{Field: field, Message: fmt.Sprintf("%sfield %q must be %s, not %s", prefix, field, jsonKind(typ.Type), typ.Value)}
	}
	return &decodeProblem{Message: prefix + "the body is not the JSON this endpoint takes"}
}

// truncated tells a syntax error at the end of data (the input stops early) from one at its last byte: with a
// space appended, only the first moves.
func truncated(data []byte, off int) bool {
	if off < len(data) {
		return false
	}
	var v any
	var syn *json.SyntaxError
	if err := json.Unmarshal(append(slices.Clip(data), ' '), &v); errors.As(err, &syn) {
		return int(syn.Offset) > len(data)
	}
	return false
}

func describeByte(data []byte, i int) string {
	if i < 0 || i >= len(data) {
		return "end of input"
	}
	r, _ := utf8.DecodeRune(data[i:])
	if r == utf8.RuneError || r < 0x20 || r == 0x7f {
		return fmt.Sprintf("byte 0x%02x", data[i])
	}
	return "character " + strconv.QuoteRune(r)
}

// jsonKind names a Go type the way JSON users know it.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "another kind of value"
}

var rawMessageType = reflect.TypeOf(json.RawMessage(nil))

// unknownMember walks a decoded document along the type it was decoded into and returns the path of the first
// object member (in sorted order) that type has no field for, with the field names it has.
func unknownMember(doc any, t reflect.Type, path string) (string, []string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		return "", nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := doc.(map[string]any)
		if !ok {
			return "", nil
		}
		fields := jsonFields(t)
		names := make([]string, 0, len(fields))
		for n := range fields {
			names = append(names, n)
		}
		slices.Sort(names)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				return joinPath(path, k), names
			}
			if p, known := unknownMember(obj[k], ft, joinPath(path, k)); p != "" {
				return p, known
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := doc.([]any)
		if !ok {
			return "", nil
		}
		for i, el := range arr {
			if p, known := unknownMember(el, t.Elem(), path+"["+strconv.Itoa(i)+"]"); p != "" {
				return p, known
			}
		}
	case reflect.Map:
		obj, ok := doc.(map[string]any)
		if !ok {
			return "", nil
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if p, known := unknownMember(obj[k], t.Elem(), joinPath(path, k)); p != "" {
				return p, known
			}
		}
	}
	return "", nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonFields maps the JSON names of a struct's fields (embedded structs flattened) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for n, t := range jsonFields(ft) {
					out[n] = t
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func lineCol(b []byte, off int) (int, int) {
	off = max(0, min(off, len(b)))
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	start := bytes.LastIndexByte(b[:off], '\n') + 1
	return line, utf8.RuneCount(b[start:off])
}
