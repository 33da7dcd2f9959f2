package cecp

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/parry-soar/parry/internal/suggest"
)

// maxParamLen bounds one free-text query parameter.
const maxParamLen = 1024

func (p *problems) oneOf(field, v string, allowed []string) {
	if slices.Contains(allowed, v) {
		return
	}
	if v == "" {
		p.add("%s is required (one of %s)", field, strings.Join(allowed, ", "))
		return
	}
	p.add("%s %q is not one of %s%s", field, v, strings.Join(allowed, ", "), suggest.Hint(v, allowed))
}

func (p *problems) limit(v, max int) {
	if v < 0 || v > max {
		p.add("limit %d is outside 1..%d", v, max)
	}
}

// window checks start and end: start before end, neither older than reach (the vendor's retention).
func (p *problems) window(start, end, now time.Time, reach time.Duration, retention string) {
	if !start.IsZero() && !end.IsZero() && !start.Before(end) {
		p.add("start %s is not before end %s", start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	}
	oldest := now.Add(-reach)
	if !start.IsZero() && start.Before(oldest) {
		p.add("start %s is older than %s (the vendor keeps %s)", start.UTC().Format(time.RFC3339), reachText(reach), retention)
	} else if start.IsZero() && !end.IsZero() && end.Before(oldest) {
		p.add("end %s is older than %s (the vendor keeps %s)", end.UTC().Format(time.RFC3339), reachText(reach), retention)
	}
}

func reachText(d time.Duration) string {
	if d > 72*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
	}
	return strconv.Itoa(int(d/time.Hour)) + " hours ago"
}

// text checks a free-text parameter: bounded, printable, one line.
func (p *problems) text(field, v string) {
	if len(v) > maxParamLen {
		p.add("%s is longer than %d bytes", field, maxParamLen)
		return
	}
	if strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) }) >= 0 {
		p.add("%s contains control characters", field)
	}
}

func (p *problems) hash(field, v string, n int) {
	if v != "" && !isHex(v, n) {
		p.add("%s %q is not %d hexadecimal digits", field, truncate(v, 80), n)
	}
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// setTime adds a time parameter in the vendor's format.
func setTime(q url.Values, key string, t time.Time) {
	if !t.IsZero() {
		q.Set(key, t.UTC().Format(TimeLayout))
	}
}

func setString(q url.Values, key, v string) {
	if v != "" {
		q.Set(key, v)
	}
}

func setInt(q url.Values, key string, v int) {
	if v > 0 {
		q.Set(key, strconv.Itoa(v))
	}
}
