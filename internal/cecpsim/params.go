package cecpsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/suggest"
)

// params reads a request's query strictly: unknown or repeated parameters are refused, because a misspelt
// filter that the service ignored would widen a search that a playbook then mitigates.
type params struct {
	v url.Values
}

func readParams(r *http.Request, known ...string) (params, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return params{}, fmt.Errorf("query string: %v", err)
	}
	names := make([]string, 0, len(v))
	for k := range v {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		found := false
		for _, kn := range known {
			if k == kn {
				found = true
			}
		}
		if !found {
			return params{}, fmt.Errorf("unknown parameter %q%s", k, suggest.Hint(k, known))
		}
		if len(v[k]) > 1 {
			return params{}, fmt.Errorf("parameter %q is given %d times", k, len(v[k]))
		}
	}
	return params{v: v}, nil
}

func (p params) get(k string) string { return strings.TrimSpace(p.v.Get(k)) }
func (p params) has(k string) bool   { return p.get(k) != "" }

// timeParam parses an ISO-8601 timestamp with a zone ("2026-01-02T03:04:05Z", fractions allowed).
func (p params) timeParam(k string) (time.Time, bool, error) {
	v := p.get(k)
	if v == "" {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("parameter %s=%q is not an ISO-8601 time like 2026-01-02T03:04:05Z", k, v)
	}
	return t, true, nil
}

func (p params) limit(def, maxLimit int) (int, error) {
	v := p.get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, fmt.Errorf("parameter limit=%q must be a whole number from 1 to %d", v, maxLimit)
	}
	return n, nil
}

// window reads start and end. Given neither, the window is [now-def, now]; given one, it extends def from it.
func (p params) window(now time.Time, def time.Duration) (start, end time.Time, err error) {
	start, hasStart, err := p.timeParam("start")
	if err != nil {
		return start, end, err
	}
	end, hasEnd, err := p.timeParam("end")
	if err != nil {
		return start, end, err
	}
	switch {
	case !hasStart && !hasEnd:
		end = now
		start = now.Add(-def)
	case !hasEnd:
		end = start.Add(def)
	case !hasStart:
		start = end.Add(-def)
	}
	if start.After(end) {
		return start, end, fmt.Errorf("start %s is after end %s", fmtTime(start), fmtTime(end))
	}
	return start, end, nil
}

func (p params) oneOf(k string, allowed []string, required bool) (string, error) {
	v := p.get(k)
	if v == "" {
		if required {
			return "", fmt.Errorf("parameter %s is required (one of %s)", k, strings.Join(allowed, ", "))
		}
		return "", nil
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", fmt.Errorf("parameter %s=%q is not one of %s%s", k, v, strings.Join(allowed, ", "), suggest.Hint(v, allowed))
}

// skipToken is a page position: base64 of [<epoch ms>, "<id of the last item>"], as the vendor's sweep uses.
func encodeSkip(ms int64, id string) string {
	b, _ := json.Marshal([]any{ms, id})
	return base64.StdEncoding.EncodeToString(b)
}

func decodeSkip(tok string) (int64, string, error) {
	bad := fmt.Errorf("parameter skiptoken=%q is not a token from a next_link", clip(tok))
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(tok); err == nil {
			break
		}
	}
	if err != nil {
		return 0, "", bad
	}
	var parts []json.RawMessage
	if json.Unmarshal(raw, &parts) != nil || len(parts) != 2 {
		return 0, "", bad
	}
	var ms int64
	var id string
	if json.Unmarshal(parts[0], &ms) != nil || json.Unmarshal(parts[1], &id) != nil {
		return 0, "", bad
	}
	return ms, id, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// baseURL is the scheme and host the client reached us at, so next_link works through any listener.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func currentLink(r *http.Request) string { return baseURL(r) + r.URL.RequestURI() }

// nextLink is the request's own URL with skiptoken replaced.
func nextLink(r *http.Request, token string) string {
	q := r.URL.Query()
	q.Del("skiptoken")
	enc := q.Encode()
	if enc != "" {
		enc += "&"
	}
	return baseURL(r) + r.URL.Path + "?" + enc + "skiptoken=" + url.QueryEscape(token)
}

// after says whether (ms, id) sorts after the position (pms, pid).
func after(ms int64, id string, pms int64, pid string) bool {
	return ms > pms || ms == pms && id > pid
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
