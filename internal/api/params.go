package api

import (
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/suggest"
)

// Bounds of path values and query parameters; every one is checked before it reaches SQL.
const (
	maxRunIDBytes    = 256 // retries append "-retry-of-<id>" to a generated id, up to 250
	maxStepIDBytes   = 200
	maxTokenName     = 100
	maxSourceBytes   = 100
	maxParamBytes    = 1000
	maxSinceDuration = 100 * 365 * 24 * time.Hour
)

var playbookNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,99}$`)

// cleanText reports whether s is valid UTF-8 without control characters (NUL included): what an identifier,
// a name or a query parameter may hold.
func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, unicode.IsControl)
}

// describeText says what is wrong with a value cleanText refuses.
func describeText(s string) string {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return `holds a NUL character (\u0000)`
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	}
	return "holds a control character"
}

// checkQuery refuses query parameters the route does not take, given twice, or that are not clean text.
func checkQuery(route string, allowed []string, q url.Values) error {
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !slices.Contains(allowed, k) {
			takes := "takes no query parameters"
			if len(allowed) > 0 {
				takes = "takes " + strings.Join(allowed, ", ")
			}
			shown := k
			if !cleanText(k) || len(k) > 100 {
				shown = "(unprintable)"
			}
			return Errorf(http.StatusBadRequest, apitypes.CodeUnknownParameter, "unknown query parameter %q%s; %s %s", shown,
				suggest.Hint(k, allowed), route, takes)
		}
		if len(q[k]) > 1 {
			return paramErrorf("query parameter %s is given %d times; give it once", k, len(q[k]))
		}
		if v := q.Get(k); !cleanText(v) || len(v) > maxParamBytes {
			if len(v) > maxParamBytes {
				return paramErrorf("query parameter %s is longer than %d bytes", k, maxParamBytes)
			}
			return paramErrorf("query parameter %s %s", k, describeText(v))
		}
	}
	return nil
}

// checkPathValue refuses a path value that is not clean text or is overlong (each route checks its shape
// further).
func checkPathValue(name, v string) error {
	if !cleanText(v) {
		return paramErrorf("the %s in the path %s", name, describeText(v))
	}
	if len(v) > maxParamBytes {
		return paramErrorf("the %s in the path is longer than %d bytes", name, maxParamBytes)
	}
	return nil
}

// runIDValue checks a run id (path value or request field).
func runIDValue(what, id string) error {
	switch {
	case id == "":
		return paramErrorf("%s is empty", what)
	case len(id) > maxRunIDBytes:
		return paramErrorf("%s is longer than %d bytes", what, maxRunIDBytes)
	case !cleanText(id):
		return paramErrorf("%s %s", what, describeText(id))
	case strings.ContainsAny(id, " /"):
		return paramErrorf("%s must not hold spaces or slashes", what)
	}
	return nil
}

func runIDParam(r *http.Request) (string, error) {
	id := r.PathValue("id")
	return id, runIDValue("run id", id)
}

func stepParam(r *http.Request) (string, error) {
	step := r.PathValue("step")
	switch {
	case len(step) > maxStepIDBytes:
		return "", paramErrorf("step id is longer than %d bytes", maxStepIDBytes)
	case !cleanText(step):
		return "", paramErrorf("step id %s", describeText(step))
	}
	return step, nil
}

// tokenNameValue checks a token name: what the webhook path and DELETE /v1/tokens/{name} carry.
func tokenNameValue(name string) error {
	switch {
	case name == "":
		return paramErrorf("name is required")
	case len(name) > maxTokenName:
		return paramErrorf("token name is longer than %d bytes", maxTokenName)
	case !cleanText(name):
		return paramErrorf("token name %s", describeText(name))
	case strings.ContainsAny(name, " /"):
		return paramErrorf("token name must not hold spaces or slashes")
	}
	return nil
}

func playbookNameValue(what, name string) error {
	if playbookNameRE.MatchString(name) {
		return nil
	}
	prefix := ""
	if what != "" {
		prefix = what + ": "
	}
	if !cleanText(name) {
		return paramErrorf("%sthe playbook name %s; playbook names are [a-z][a-z0-9-]*", prefix, describeText(name))
	}
	return paramErrorf("%s%q is not a playbook name ([a-z][a-z0-9-]*, at most 100 characters)", prefix, clip(name, 120))
}

// positiveID parses a positive 64-bit id (alerts, incidents).
func positiveID(what, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, paramErrorf("%s %q is not a positive whole number", what, clip(s, 40))
	}
	return id, nil
}

// versionValue checks a playbook version number (PostgreSQL integer; 0 where the endpoint takes "none").
func versionValue(what string, v int64, zeroOK bool) error {
	if v < 0 || v > math.MaxInt32 || (v == 0 && !zeroOK) {
		return paramErrorf("%s must be a positive whole number at most %d", what, math.MaxInt32)
	}
	return nil
}

func versionParam(q url.Values) (int, error) {
	s := q.Get(apitypes.ParamVersion)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, paramErrorf("version %q is not a positive whole number", clip(s, 40))
	}
	if err := versionValue("version", v, false); err != nil {
		return 0, err
	}
	return int(v), nil
}

// limitParam parses ?limit= (1 to MaxListLimit; absent: def).
func limitParam(q url.Values, def int) (int, error) {
	s := q.Get(apitypes.ParamLimit)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > apitypes.MaxListLimit {
		return 0, paramErrorf("limit %q must be a whole number from 1 to %d", clip(s, 40), apitypes.MaxListLimit)
	}
	return n, nil
}

// beforeParam parses an id cursor (?before=).
func beforeParam(q url.Values) (int64, error) {
	s := q.Get(apitypes.ParamBefore)
	if s == "" {
		return 0, nil
	}
	return positiveID("before", s)
}

// sinceParam parses ?since=: a duration back from now (at most 100 years) or an RFC 3339 time.
func sinceParam(q url.Values, now time.Time) (time.Time, error) {
	s := q.Get(apitypes.ParamSince)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 || d > maxSinceDuration {
			return time.Time{}, paramErrorf("since %q must be a duration from 0 to 100 years (24h, 30m)", clip(s, 40))
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, paramErrorf("since %q is neither a duration (24h, 30m) nor an RFC 3339 time (2026-01-02T03:04:05Z)", clip(s, 40))
}

// enumParam checks a value against the ones an endpoint takes ("" passes).
func enumParam(name, v string, allowed []string) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return paramErrorf("%s must be %s, not %q%s", name, orList(allowed), clip(v, 40), suggest.Hint(v, allowed))
}

func orList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// queryBool parses a true/false query parameter (absent: false).
func queryBool(q url.Values, name string) (bool, error) {
	switch q.Get(name) {
	case "":
		return false, nil
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, paramErrorf("%s must be true or false", name)
}
