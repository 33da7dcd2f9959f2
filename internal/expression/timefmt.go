package expression

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Layouts of format_time and parse_time are strftime's, the syntax SOC tooling (Splunk, Python, date) uses:
// each directive is translated into Go's reference layout, so both directions share one table. Times are
// always formatted in UTC.
var strftime = map[byte]string{
	'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'e': "_2", 'H': "15", 'I': "03", 'p': "PM",
	'M': "04", 'S': "05", 'L': ".000", 'f': ".000000", 'N': ".000000000", 'j': "002",
	'a': "Mon", 'A': "Monday", 'b': "Jan", 'B': "January", 'z': "-0700", 'Z': "MST",
	'F': "2006-01-02", 'T': "15:04:05", 'D': "01/02/06", 'R': "15:04",
}

// MaxLayoutBytes bounds a time layout.
const MaxLayoutBytes = 256

// directives splits a strftime layout into literal text and Go layout elements (one per directive).
func directives(layout string) ([]layoutPart, error) {
	if len(layout) > MaxLayoutBytes {
		return nil, fmt.Errorf("the layout is %d bytes; the limit is %d", len(layout), MaxLayoutBytes)
	}
	var parts []layoutPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, layoutPart{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(layout); i++ {
		c := layout[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if i+1 >= len(layout) {
			return nil, fmt.Errorf("the layout %q ends with a lone %%", layout)
		}
		i++
		d := layout[i]
		switch d {
		case '%':
			lit.WriteByte('%')
		case 's':
			return nil, fmt.Errorf("%%s (Unix seconds) must be the whole layout")
		default:
			g, ok := strftime[d]
			if !ok {
				return nil, fmt.Errorf("unknown directive %%%c in the layout %q (known: %%Y %%y %%m %%d %%e %%H %%I %%p %%M %%S %%L %%f %%N %%j %%a %%A %%b %%B %%z %%Z %%F %%T %%D %%R %%s %%%%)", d, layout)
			}
			flush()
			parts = append(parts, layoutPart{elem: g})
		}
	}
	flush()
	return parts, nil
}

type layoutPart struct {
	text string // literal text, when elem is ""
	elem string // a Go layout element
}

// CheckLayout reports what is wrong with a strftime layout ("" when nothing); lint checks literal layouts.
func CheckLayout(layout string) string {
	if layout == "%s" {
		return ""
	}
	if _, err := directives(layout); err != nil {
		return err.Error()
	}
	return ""
}

// formatStrftime writes t directive by directive, so literal text is copied as it is (Go would read digits
// or "Jan" in a layout as elements).
func formatStrftime(t time.Time, layout string) (string, error) {
	parts, err := directives(layout)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range parts {
		if p.elem == "" {
			b.WriteString(p.text)
		} else {
			b.WriteString(t.Format(p.elem))
		}
	}
	return b.String(), nil
}

// parseLayout gives the Go layout to parse with; literal text that Go would take for an element is refused.
func parseLayout(layout string) (string, error) {
	parts, err := directives(layout)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range parts {
		if p.elem != "" {
			b.WriteString(p.elem)
			continue
		}
		for _, bad := range []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "Jan", "Mon", "MST", "PM", "pm"} {
			if strings.Contains(p.text, bad) {
				return "", fmt.Errorf("parse_time cannot read the literal text %q in a layout: match it with a directive or strip it first", p.text)
			}
		}
		b.WriteString(p.text)
	}
	return b.String(), nil
}

func timeArg(fn string, v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		t, err := parseTimeText(x)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s(): %s", fn, err)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s() needs a time, got %s", fn, typeName(v))
}

// timeLayouts are what parse_time reads without a layout, and what format_time accepts as a time in text.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"}

func parseTimeText(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as 2026-01-02T03:04:05Z", clipText(s))
}

func fnFormatTime(args ...any) (any, error) {
	t, err := timeArg("format_time", args[0])
	if err != nil {
		return nil, err
	}
	layout, err := argString("format_time", args[1])
	if err != nil {
		return nil, err
	}
	if layout == "%s" {
		return strconv.FormatInt(t.Unix(), 10), nil
	}
	out, err := formatStrftime(t.UTC(), layout)
	if err != nil {
		return nil, fmt.Errorf("format_time(): %s", err)
	}
	return out, nil
}

func fnParseTime(args ...any) (any, error) {
	s, err := argString("parse_time", args[0])
	if err != nil {
		return nil, err
	}
	if len(args) == 1 {
		t, err := parseTimeText(s)
		if err != nil {
			return nil, fmt.Errorf("parse_time(): %s", err)
		}
		return t, nil
	}
	layout, err := argString("parse_time", args[1])
	if err != nil {
		return nil, err
	}
	if layout == "%s" {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse_time(): %q is not a number of seconds", clipText(s))
		}
		return time.Unix(n, 0).UTC(), nil
	}
	g, err := parseLayout(layout)
	if err != nil {
		return nil, fmt.Errorf("parse_time(): %s", err)
	}
	t, err := time.Parse(g, strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("parse_time(): %q does not match the layout %q", clipText(s), layout)
	}
	return t.UTC(), nil
}

func clipText(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
