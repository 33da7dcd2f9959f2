package expression

import (
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
)

// Function documents one function parry adds to expr-lang's builtins (docs/playbooks.md lists them).
type Function struct {
	Name      string
	Signature string
	Summary   string
	Example   string // an expression and its result, "domain(\"a@b.com\") == \"b.com\""
}

// Functions lists parry's own functions, in documentation order. secret() is not among them: it is not a
// function at run time, only a marker the compiler turns into a reference the activity worker resolves.
var Functions = []Function{
	{"now", "now() time", "Current time (UTC). In a run this is the workflow's clock, so replays see the same value.", `now() - duration("1h")`},
	{"duration", "duration(string) duration", "A duration from text such as 30m, 4h or 7d (days allowed); times minus durations are times.", `now() - duration("7d")`},
	{"keys", "keys(map) list", "The map's keys, sorted.", `keys({"b": 1, "a": 2}) == ["a", "b"]`},
	{"values", "values(map) list", "The map's values, in the order of the sorted keys.", `values({"b": 1, "a": 2}) == [2, 1]`},
	{"unique", "unique(list) list", "The list without repeats, first occurrences kept in order.", `unique(["a", "b", "a"]) == ["a", "b"]`},
	{"chunk", "chunk(list, n) list", "The list cut into lists of at most n items.", `chunk([1, 2, 3], 2) == [[1, 2], [3]]`},
	{"domain", "domain(email) string", "The domain of an email address, lower-cased (\"\" when there is no @).", `domain("Alice@Example.COM") == "example.com"`},
	{"host", "host(url) string", "The host of a URL, lower-cased, without port (refangs first).", `host("hxxps://evil[.]example.com:8443/x") == "evil.example.com"`},
	{"refang", "refang(string) string", "Undo defanging: hxxp→http, [.]→., [@]→@, [:]→:.", `refang("hxxp://evil[.]com") == "http://evil.com"`},
	{"defang", "defang(string) string", "Make a URL, domain or address safe to paste: http→hxxp, .→[.], @→[@].", `defang("http://evil.com") == "hxxp://evil[.]com"`},
	{"cidr_contains", "cidr_contains(cidr, ip) bool", "Whether the IP address is inside the CIDR range (an address alone counts as /32 or /128).", `cidr_contains("10.0.0.0/8", "10.1.2.3")`},
	{"is_ip", "is_ip(string) bool", "Whether the string is an IPv4 or IPv6 address.", `is_ip("192.0.2.1")`},
	{"url_host", "url_host(url) string", "The same as host(): the host of a URL, lower-cased, without port (refangs first).", `url_host("https://Evil.example:8443/x") == "evil.example"`},
	{"email_domain", "email_domain(email) string", "The same as domain(): the domain of an email address, lower-cased.", `email_domain("Bob <bob@Corp.Example>") == "corp.example"`},
	{"matches", "matches(string, regex) bool", "Whether the regular expression (RE2 syntax) matches somewhere in the string (the same as s matches regex).", `matches("INV-2291", "^INV-[0-9]+$")`},
	{"regex_find", "regex_find(string, regex) string", "The first match, or the first group's text when the expression has a group (\"\" when nothing matches).", `regex_find("ticket INC-42 opened", "INC-([0-9]+)") == "42"`},
	{"regex_find_all", "regex_find_all(string, regex) list", "Every match (or every first group's text), in order.", `regex_find_all("a1 b22 c333", "[0-9]+") == ["1", "22", "333"]`},
	{"regex_replace", "regex_replace(string, regex, replacement) string", "Every match replaced; $1 or ${name} in the replacement stand for groups.", `regex_replace("user=bob", "user=(\\w+)", "user=<$1>") == "user=<bob>"`},
	{"format_time", "format_time(time, layout) string", "A time (or an RFC 3339 string) written with a strftime layout, in UTC: %Y %m %d %H %M %S %L %j %a %A %b %B %p %I %y %z %Z %s %F %T %%.", `format_time(parse_time("2026-03-04T05:06:07Z"), "%d/%m/%Y %H:%M") == "04/03/2026 05:06"`},
	{"parse_time", "parse_time(string[, layout]) time", "A time from RFC 3339 text (and the vendor's variants), or from text in a strftime layout; a time without a zone is UTC.", `parse_time("04/03/2026 05:06", "%d/%m/%Y %H:%M") == parse_time("2026-03-04T05:06:00Z")`},
}

// disabledBuiltins are expr builtins a playbook must not use: now (replaced by the run's clock), timezone
// (reads the host's time zone database: not deterministic across workers), and keys/values (replaced by
// sorted versions). From DialectTyped on, string() is parry's (times as RFC 3339).
func disabledBuiltins(d Dialect) []string {
	if d >= DialectTyped {
		return []string{"now", "timezone", "keys", "values", "duration", "string"}
	}
	return []string{"now", "timezone", "keys", "values", "duration"}
}

// functionOptions registers parry's functions with their signatures, for both type-checking and running.
// Regular expressions compile once into re.
func functionOptions(d Dialect, re *regexpCache) []expr.Option {
	opts := []expr.Option{
		expr.Function("duration", fnDuration, new(func(string) time.Duration)),
		expr.Function("keys", fnKeys, new(func(map[string]any) []any)),
		expr.Function("values", fnValues, new(func(map[string]any) []any)),
		expr.Function("unique", fnUnique, new(func([]any) []any), new(func([]string) []any)),
		expr.Function("chunk", fnChunk, new(func([]any, int) []any), new(func([]string, int) []any)),
		expr.Function("domain", fnDomain, new(func(string) string)),
		expr.Function("email_domain", fnDomain, new(func(string) string)),
		expr.Function("host", fnHost, new(func(string) string)),
		expr.Function("url_host", fnHost, new(func(string) string)),
		expr.Function("refang", fnRefang, new(func(string) string)),
		expr.Function("defang", fnDefang, new(func(string) string)),
		expr.Function("cidr_contains", fnCIDRContains, new(func(string, string) bool)),
		expr.Function("is_ip", fnIsIP, new(func(string) bool)),
		expr.Function(matchesAlias, re.fnMatches, new(func(string, string) bool)),
		expr.Function("regex_find", re.fnFind, new(func(string, string) string)),
		expr.Function("regex_find_all", re.fnFindAll, new(func(string, string) []string)),
		expr.Function("regex_replace", re.fnReplace, new(func(string, string, string) string)),
		expr.Function("format_time", fnFormatTime, new(func(time.Time, string) string), new(func(string, string) string)),
		expr.Function("parse_time", fnParseTime, new(func(string) time.Time), new(func(string, string) time.Time)),
	}
	if d >= DialectTyped {
		opts = append(opts, expr.Function("string", fnString, new(func(any) string)))
	}
	return opts
}

// fnString is expr's string() except that a time is written in RFC 3339 UTC, as everywhere else in parry.
func fnString(args ...any) (any, error) {
	switch x := args[0].(type) {
	case time.Time:
		return FormatTime(x), nil
	case string:
		return x, nil
	}
	return fmt.Sprintf("%v", args[0]), nil
}

func argString(fn string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s() needs a string, got %s", fn, typeName(v))
	}
	return s, nil
}

func argMap(fn string, v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s() needs a map, got %s", fn, typeName(v))
	}
	return m, nil
}

// toList accepts what JSON decoding and expr builtins produce: []any, or any other slice.
func toList(fn string, v any) ([]any, error) {
	switch l := v.(type) {
	case []any:
		return l, nil
	case nil:
		return nil, fmt.Errorf("%s() needs a list, got null", fn)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, fmt.Errorf("%s() needs a list, got %s", fn, typeName(v))
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, nil
}

// toInt accepts the integer-valued numbers JSON decoding produces (float64) as well as Go integers.
func toInt(fn string, v any) (int, error) {
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
		return int(n), nil
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int(n), nil
		}
	}
	rv := reflect.ValueOf(v)
	if rv.CanInt() {
		return int(rv.Int()), nil
	}
	return 0, fmt.Errorf("%s() needs a whole number, got %s", fn, typeName(v))
}

// fnDuration is expr's duration() plus days (7d, 1d12h), the way playbooks write durations elsewhere.
func fnDuration(args ...any) (any, error) {
	s, err := argString("duration", args[0])
	if err != nil {
		return nil, err
	}
	return parseDuration(s)
}

func parseDuration(s string) (time.Duration, error) {
	orig, neg := s, false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	var total time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("duration(): invalid duration %q", orig)
		}
		total = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
	}
	if s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("duration(): invalid duration %q", orig)
		}
		total += d
	}
	if neg {
		total = -total
	}
	return total, nil
}

func fnKeys(args ...any) (any, error) {
	m, err := argMap("keys", args[0])
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, k)
	}
	return out, nil
}

func fnValues(args ...any) (any, error) {
	m, err := argMap("values", args[0])
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out, nil
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	//workflowcheck:ignore map order: the keys are sorted after
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func fnUnique(args ...any) (any, error) {
	l, err := toList("unique", args[0])
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(l))
	seen := make(map[any]bool, len(l))
	for _, v := range l {
		if !reflect.ValueOf(v).Comparable() && v != nil {
			// Lists and maps are compared by value, the slow way.
			if !slices.ContainsFunc(out, func(o any) bool { return reflect.DeepEqual(o, v) }) {
				out = append(out, v)
			}
			continue
		}
		k := v
		if f, ok := v.(float64); ok && f == math.Trunc(f) {
			k = int64(f) // 1 and 1.0 are the same item
		} else if i, ok := v.(int); ok {
			k = int64(i)
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out, nil
}

func fnChunk(args ...any) (any, error) {
	l, err := toList("chunk", args[0])
	if err != nil {
		return nil, err
	}
	n, err := toInt("chunk", args[1])
	if err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("chunk() needs a size of at least 1, got %d", n)
	}
	out := make([]any, 0, (len(l)+n-1)/n)
	for len(l) > 0 {
		m := min(n, len(l))
		out = append(out, slices.Clone(l[:m]))
		l = l[m:]
	}
	return out, nil
}

func fnDomain(args ...any) (any, error) {
	s, err := argString("domain", args[0])
	if err != nil {
		return nil, err
	}
	s = strings.TrimSpace(refang(s))
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return "", nil
	}
	return strings.ToLower(strings.TrimSuffix(s[i+1:], ">")), nil
}

func fnHost(args ...any) (any, error) {
	s, err := argString("host", args[0])
	if err != nil {
		return nil, err
	}
	s = strings.TrimSpace(refang(s))
	if !strings.Contains(s, "://") {
		s = "//" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", nil
	}
	return strings.ToLower(u.Hostname()), nil
}

var refanger = strings.NewReplacer(
	"hxxps://", "https://", "hxxp://", "http://", "HXXPS://", "https://", "HXXP://", "http://",
	"hXXps://", "https://", "hXXp://", "http://", "fxp://", "ftp://",
	"[.]", ".", "(.)", ".", "{.}", ".", "[dot]", ".", "(dot)", ".", "[DOT]", ".",
	"[@]", "@", "(@)", "@", "[at]", "@", "(at)", "@", "[AT]", "@",
	"[:]", ":", "[://]", "://", "[/]", "/",
)

func refang(s string) string { return refanger.Replace(s) }

func fnRefang(args ...any) (any, error) {
	s, err := argString("refang", args[0])
	if err != nil {
		return nil, err
	}
	return refang(s), nil
}

var defanger = strings.NewReplacer("https://", "hxxps://", "http://", "hxxp://", ".", "[.]", "@", "[@]")

func fnDefang(args ...any) (any, error) {
	s, err := argString("defang", args[0])
	if err != nil {
		return nil, err
	}
	return defanger.Replace(refang(s)), nil
}

func fnCIDRContains(args ...any) (any, error) {
	c, err := argString("cidr_contains", args[0])
	if err != nil {
		return nil, err
	}
	a, err := argString("cidr_contains", args[1])
	if err != nil {
		return nil, err
	}
	var prefix netip.Prefix
	if strings.Contains(c, "/") {
		prefix, err = netip.ParsePrefix(strings.TrimSpace(c))
	} else {
		var addr netip.Addr
		addr, err = netip.ParseAddr(strings.TrimSpace(c))
		if err == nil {
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cidr_contains(): %q is not a CIDR range", c)
	}
	addr, err := netip.ParseAddr(strings.TrimSpace(a))
	if err != nil {
		return false, nil // not an address: not inside
	}
	return prefix.Masked().Contains(addr.Unmap()), nil
}

func fnIsIP(args ...any) (any, error) {
	s, err := argString("is_ip", args[0])
	if err != nil {
		return nil, err
	}
	_, perr := netip.ParseAddr(s)
	return perr == nil, nil
}

// typeName names a run-time value's type the way playbook authors think of it.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return "a number"
	case map[string]any:
		return "a map"
	case time.Time:
		return "a time"
	case time.Duration:
		return "a duration"
	}
	if k := reflect.TypeOf(v).Kind(); k == reflect.Slice || k == reflect.Array {
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}
