package cecpsim

import (
	"net/netip"
	"strings"
	"unicode"
)

// glob is a case-insensitive pattern where * matches any run of characters, anywhere (the vendor allows
// non-prefix wildcards such as u*ser@example.com). Without a *, it is an exact, case-insensitive match.
type glob struct {
	parts []string // the pattern split at *, lower-cased
	star  bool
}

func newGlob(pattern string) glob {
	p := strings.ToLower(pattern)
	return glob{parts: strings.Split(p, "*"), star: strings.Contains(p, "*")}
}

func (g glob) match(s string) bool {
	s = strings.ToLower(s)
	if !g.star {
		return s == g.parts[0]
	}
	first, last := g.parts[0], g.parts[len(g.parts)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	middle := g.parts[1 : len(g.parts)-1]
	for _, p := range middle {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

func (g glob) any(ss []string) bool {
	for _, s := range ss {
		if g.match(s) {
			return true
		}
	}
	return false
}

// subjectQuery matches subjects: a quoted value is an exact phrase (found anywhere in the subject, ignoring
// case); an unquoted one matches when every word of it is a word of the subject (words may use *).
type subjectQuery struct {
	phrase string
	words  []glob
}

func newSubjectQuery(v string) subjectQuery {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return subjectQuery{phrase: strings.ToLower(v[1 : len(v)-1])}
	}
	var q subjectQuery
	for _, w := range subjectWords(v) {
		q.words = append(q.words, newGlob(w))
	}
	return q
}

// subjectWords splits text into words: runs of letters, digits and the wildcard.
func subjectWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '*' })
}

func (q subjectQuery) match(subject string) bool {
	if q.words == nil {
		return strings.Contains(strings.ToLower(subject), q.phrase)
	}
	words := subjectWords(subject)
	for _, g := range q.words {
		if !g.any(words) {
			return false
		}
	}
	return true
}

// parseIPFilter reads an address or a CIDR block.
func parseIPFilter(v string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(v); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

func ipIn(p netip.Prefix, ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && p.Contains(a.Unmap())
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
