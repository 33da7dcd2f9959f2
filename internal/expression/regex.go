package expression

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// Bounds of the regular-expression functions: Go's regexp is RE2 (time linear in the input, no
// backtracking), and these keep both sides of that product small.
const (
	MaxRegexBytes      = 1024    // a pattern
	MaxRegexInputBytes = 1 << 20 // the text searched
	maxRegexCached     = 1000
	maxRegexMatches    = 1000 // regex_find_all stops there
)

// regexpCache holds compiled patterns, so that a pattern compiles once per worker however often a plan's
// expressions use it (patterns are almost always literals of a plan).
type regexpCache struct {
	mu sync.RWMutex
	m  map[string]*regexp.Regexp
}

func newRegexpCache() *regexpCache { return &regexpCache{m: map[string]*regexp.Regexp{}} }

func (c *regexpCache) get(fn, pattern string) (*regexp.Regexp, error) {
	c.mu.RLock()
	re, ok := c.m[pattern]
	c.mu.RUnlock()
	if ok {
		return re, nil
	}
	re, err := CompileRegex(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s(): %s", fn, err)
	}
	c.mu.Lock()
	if len(c.m) >= maxRegexCached {
		clear(c.m)
	}
	c.m[pattern] = re
	c.mu.Unlock()
	return re, nil
}

// CompileRegex compiles a pattern of the regex functions: RE2 syntax, at most MaxRegexBytes. Lint uses it on
// literal patterns, so a bad one is an error before anything runs.
func CompileRegex(pattern string) (*regexp.Regexp, error) {
	if len(pattern) > MaxRegexBytes {
		return nil, fmt.Errorf("the regular expression is %d bytes; the limit is %d", len(pattern), MaxRegexBytes)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		msg := err.Error()
		msg = strings.TrimPrefix(msg, "error parsing regexp: ")
		return nil, fmt.Errorf("invalid regular expression (RE2 syntax): %s", msg)
	}
	return re, nil
}

func (c *regexpCache) args(fn string, args []any) (string, *regexp.Regexp, error) {
	s, err := argString(fn, args[0])
	if err != nil {
		return "", nil, err
	}
	if len(s) > MaxRegexInputBytes {
		return "", nil, fmt.Errorf("%s(): the text is %d bytes; the limit is %d", fn, len(s), MaxRegexInputBytes)
	}
	p, err := argString(fn, args[1])
	if err != nil {
		return "", nil, err
	}
	re, err := c.get(fn, p)
	return s, re, err
}

func (c *regexpCache) fnMatches(args ...any) (any, error) {
	s, re, err := c.args("matches", args)
	if err != nil {
		return nil, err
	}
	return re.MatchString(s), nil
}

// found is a match's text, or its first group's when the pattern has groups.
func found(re *regexp.Regexp, s string, loc []int) string {
	if re.NumSubexp() > 0 && len(loc) >= 4 {
		if loc[2] < 0 {
			return ""
		}
		return s[loc[2]:loc[3]]
	}
	return s[loc[0]:loc[1]]
}

func (c *regexpCache) fnFind(args ...any) (any, error) {
	s, re, err := c.args("regex_find", args)
	if err != nil {
		return nil, err
	}
	loc := re.FindStringSubmatchIndex(s)
	if loc == nil {
		return "", nil
	}
	return found(re, s, loc), nil
}

func (c *regexpCache) fnFindAll(args ...any) (any, error) {
	s, re, err := c.args("regex_find_all", args)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, loc := range re.FindAllStringSubmatchIndex(s, maxRegexMatches) {
		out = append(out, found(re, s, loc))
	}
	return out, nil
}

func (c *regexpCache) fnReplace(args ...any) (any, error) {
	s, re, err := c.args("regex_replace", args)
	if err != nil {
		return nil, err
	}
	repl, err := argString("regex_replace", args[2])
	if err != nil {
		return nil, err
	}
	out := re.ReplaceAllString(s, repl)
	if len(out) > MaxRegexInputBytes {
		return nil, fmt.Errorf("regex_replace(): the result is %d bytes; the limit is %d", len(out), MaxRegexInputBytes)
	}
	return out, nil
}

// regexFunctions are the functions whose second argument is a pattern (checked at lint when literal).
var regexFunctions = map[string]bool{"matches": true, "regex_find": true, "regex_find_all": true, "regex_replace": true}

// matchesAlias is the name matches() is registered under: expr reads "matches" as its infix operator
// (s matches re), so a call matches(s, re) is rewritten to this name of the same length before parsing,
// which keeps every offset (and so every error position) where the author wrote it.
const matchesAlias = "ismatch"

// rewriteCalls turns the call form matches(...) into ismatch(...) where an operand is expected (the infix
// form "a matches b" stays), skipping string literals.
func rewriteCalls(src string) string {
	if !strings.Contains(src, "matches") {
		return src
	}
	b := []byte(src)
	operand := true // whether an operand may start here
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(b) && b[j] != c {
				if b[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			i = j + 1
			operand = false
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isWordByte(c):
			j := i
			for j < len(b) && isWordByte(b[j]) {
				j++
			}
			word := string(b[i:j])
			if word == "matches" && operand {
				k := j
				for k < len(b) && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
					k++
				}
				if k < len(b) && b[k] == '(' {
					copy(b[i:j], matchesAlias)
				}
			}
			// Operators spelt as words leave an operand to follow; names and numbers end one.
			switch word {
			case "and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith", "let", "if", "else":
				operand = true
			default:
				operand = false
			}
			i = j
		case c == ')' || c == ']' || c == '}':
			operand = false
			i++
		default:
			if c == '.' && i+1 < len(b) && isWordByte(b[i+1]) && !operand {
				// a.matches: a field named matches, not a call.
				j := i + 1
				for j < len(b) && isWordByte(b[j]) {
					j++
				}
				i = j
				operand = false
				continue
			}
			operand = true
			i++
		}
	}
	return string(b)
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= utf8.RuneSelf
}

var aliasRE = regexp.MustCompile(`\b` + matchesAlias + `\b`)

// restoreNames puts the author's name back into messages that mention the rewritten one.
func restoreNames(msg string) string {
	if !strings.Contains(msg, matchesAlias) {
		return msg
	}
	return aliasRE.ReplaceAllString(msg, "matches")
}
