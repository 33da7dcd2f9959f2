package eml

import (
	"bytes"
	"fmt"
	"mime"
	"net/textproto"
	"sort"
	"strings"
)

// splitHeader reads a header block up to the first empty line and returns its fields in order (unfolded) and the
// body after it. It is written here rather than taken from net/textproto so field order survives (the Received
// chain, Authentication-Results) and the field count is bounded while reading, not after.
func splitHeader(data []byte, maxFields int, section string) (hdrs []Header, body []byte, warns []string, err error) {
	rest := data
	first := true
	var value strings.Builder // the current field's value; a builder so long folded fields stay linear
	flush := func() {
		if len(hdrs) > 0 {
			hdrs[len(hdrs)-1].Value = strings.TrimSpace(value.String())
		}
		value.Reset()
	}
	for len(rest) > 0 {
		line, next := cutLine(rest)
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			body = next
			break
		}
		rest = next
		text := strings.TrimRight(string(line), "\r\n")
		if text[0] == ' ' || text[0] == '\t' {
			if len(hdrs) == 0 {
				warns = append(warns, fmt.Sprintf("header continuation line %q before any field; ignored", clip(text)))
				continue
			}
			// Unfolding removes the line break and keeps the white space (RFC 5322 section 2.2.3).
			value.WriteString(text)
			continue
		}
		if first && strings.HasPrefix(text, "From ") {
			first = false // an mbox separator line
			continue
		}
		first = false
		name, v, ok := strings.Cut(text, ":")
		name = strings.TrimRight(name, " \t")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			warns = append(warns, fmt.Sprintf("header line %q is not a field; ignored", clip(text)))
			continue
		}
		if len(hdrs) == maxFields {
			return nil, nil, nil, &LimitError{Limit: "headers", Max: int64(maxFields), Part: section}
		}
		flush()
		hdrs = append(hdrs, Header{Name: name})
		value.WriteString(v)
	}
	flush()
	return hdrs, body, warns, nil
}

// cutLine returns the first line of b including its terminator, and the rest.
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i+1], b[i+1:]
	}
	return b, nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// headerBlock is a header looked up by name, whichever parser produced it.
type headerBlock []Header

func (h headerBlock) get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return strings.TrimSpace(f.Value)
		}
	}
	return ""
}

// fromMIME converts a part header from mime/multipart, sorted by name since the map has no order.
func fromMIME(mh textproto.MIMEHeader) headerBlock {
	keys := make([]string, 0, len(mh))
	for k := range mh {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out headerBlock
	for _, k := range keys {
		for _, v := range mh[k] {
			out = append(out, Header{Name: k, Value: v})
		}
	}
	return out
}

// mediaType parses a Content-Type or Content-Disposition value. Real mail is sloppy: on an error the type is
// still returned when it could be read, with the parameters that parsed (mime.ParseMediaType returns none when
// any is malformed, so they are retried one by one).
func mediaType(value string) (string, map[string]string, error) {
	if value == "" {
		return "", map[string]string{}, nil
	}
	mt, params, err := mime.ParseMediaType(value)
	if err == nil {
		return mt, params, nil
	}
	pieces := strings.Split(value, ";")
	mt = strings.ToLower(strings.TrimSpace(pieces[0]))
	params = map[string]string{}
	for _, piece := range pieces[1:] {
		if _, p, err2 := mime.ParseMediaType("x/x;" + piece); err2 == nil {
			for k, v := range p {
				params[k] = v
			}
		} else if k, v, ok := strings.Cut(piece, "="); ok {
			params[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return mt, params, err
}
