package cecpsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Faults say how the simulator misbehaves. Rates are probabilities per request in [0, 1], rolled independently
// in a fixed order from the seeded generator, so a run is reproducible. Faults apply to vendor requests (not to
// /_sim) whose "METHOD /path" starts with one of Paths, or to all when Paths is empty.
type Faults struct {
	Error500 float64 `json:"error_500,omitempty"` // 500 with the vendor's JSON error body
	Error503 float64 `json:"error_503,omitempty"` // 503 with an HTML body, as a load balancer sends
	// Error429 answers 429 (code -4290001) regardless of the quota.
	Error429 float64 `json:"error_429,omitempty"`
	// RateLimit200 answers 200 with the rate-limit body (code -4290001), which the vendor has been seen to do.
	RateLimit200 float64 `json:"rate_limit_200,omitempty"`
	// Storm429 answers every request with 429 for this long after the faults are set (scaled by TimeScale).
	Storm429 Duration `json:"storm_429,omitempty"`
	// Latency delays every answer.
	Latency Duration `json:"latency,omitempty"`
	// Hang holds the request without answering until the client gives up or the simulator is closed.
	Hang float64 `json:"hang,omitempty"`
	// MalformedJSON cuts a JSON answer in half, keeping its status and headers.
	MalformedJSON float64 `json:"malformed_json,omitempty"`
	// DropAfterPost applies a successful POST, then closes the connection without answering.
	DropAfterPost float64  `json:"drop_after_post,omitempty"`
	Paths         []string `json:"paths,omitempty"`
}

// Duration is a time.Duration written as "50ms" in JSON.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler; it takes "50ms" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration %s is neither a string like \"50ms\" nor nanoseconds", b)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

func (f Faults) validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"500", f.Error500}, {"503", f.Error503}, {"429", f.Error429}, {"rate-limit-200", f.RateLimit200},
		{"hang", f.Hang}, {"malformed-json", f.MalformedJSON}, {"drop-after-post", f.DropAfterPost}} {
		if !(r.v >= 0 && r.v <= 1) {
			return fmt.Errorf("fault %s=%g: a rate must be between 0 and 1", r.name, r.v)
		}
	}
	if f.Latency < 0 || f.Storm429 < 0 {
		return fmt.Errorf("fault durations must not be negative")
	}
	return nil
}

func (f Faults) applies(key string) bool {
	if len(f.Paths) == 0 {
		return true
	}
	for _, p := range f.Paths {
		if strings.HasPrefix(key, p) || strings.HasPrefix(key[strings.IndexByte(key, ' ')+1:], p) {
			return true
		}
	}
	return false
}

// faultRoll is what the dice decided for one request.
type faultRoll struct {
	hang, e500, e503, e429, rate200, malformed, dropAfterPost bool
	stormLeft                                                 time.Duration
}

// rollFaults draws every rate in a fixed order (so one fault's setting does not shift another's draws).
// The caller holds s.mu.
func (s *Server) rollFaults(f Faults, now time.Time) faultRoll {
	draw := func(p float64) bool {
		v := s.rng.Float64()
		return v < p
	}
	var stormLeft time.Duration
	if now.Before(s.stormUntil) {
		stormLeft = s.stormUntil.Sub(now)
	}
	return faultRoll{
		stormLeft:     stormLeft,
		hang:          draw(f.Hang),
		e500:          draw(f.Error500),
		e503:          draw(f.Error503),
		e429:          draw(f.Error429) || stormLeft > 0,
		rate200:       draw(f.RateLimit200),
		malformed:     draw(f.MalformedJSON),
		dropAfterPost: draw(f.DropAfterPost),
	}
}

const html503 = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"

// beforeFaults returns the answer of a fault that replaces the vendor's, or nil. A hang returns nil after the
// client went away (there is no one left to answer).
func (s *Server) beforeFaults(w http.ResponseWriter, r *http.Request, roll faultRoll) *response {
	switch {
	case roll.hang:
		// Read the body first: until it is read, net/http cannot notice the client hanging up, and a held POST
		// would outlive its client.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		dropConnection(w)
		return nil
	case roll.e500:
		return s.vendorError(http.StatusInternalServerError, "Internal server error")
	case roll.e503:
		return &response{status: http.StatusServiceUnavailable, contentType: "text/html", body: []byte(html503)}
	case roll.e429:
		resp := s.vendorError(http.StatusTooManyRequests, "Maximum allowed requests exceeded")
		if s.opts.RetryAfter && roll.stormLeft > 0 {
			resp.header = http.Header{"Retry-After": {retryAfterSeconds(roll.stormLeft)}}
		}
		return resp
	case roll.rate200:
		return s.json(http.StatusOK, errorBody{Code: rateLimitCode, TraceID: s.traceID(), Msg: "Maximum allowed requests exceeded"})
	}
	return nil
}

const rateLimitCode = -4290001

// ParseFaults reads the command-line form "500=0.05,503=0.02,latency=50ms,drop-after-post=0.1". Keys: 500,
// 503, 429, rate-limit-200, storm (a duration), latency (a duration), hang, malformed-json, drop-after-post,
// and paths (prefixes separated by "|", e.g. paths=POST /v1/mitigation|GET /v1/sweeping).
func ParseFaults(spec string) (Faults, error) {
	var f Faults
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "none" {
		return f, nil
	}
	rates := map[string]*float64{"500": &f.Error500, "503": &f.Error503, "429": &f.Error429,
		"rate-limit-200": &f.RateLimit200, "hang": &f.Hang, "malformed-json": &f.MalformedJSON,
		"drop-after-post": &f.DropAfterPost}
	durations := map[string]*Duration{"latency": &f.Latency, "storm": &f.Storm429}
	seen := map[string]bool{}
	for _, item := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return Faults{}, fmt.Errorf("fault %q is not KEY=VALUE", item)
		}
		if seen[k] {
			return Faults{}, fmt.Errorf("fault %q is given twice", k)
		}
		seen[k] = true
		switch {
		case rates[k] != nil:
			p, err := strconv.ParseFloat(v, 64)
			if err != nil || !(p >= 0 && p <= 1) {
				return Faults{}, fmt.Errorf("fault %s=%s: the rate must be a number between 0 and 1", k, v)
			}
			*rates[k] = p
		case durations[k] != nil:
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return Faults{}, fmt.Errorf("fault %s=%s: the value must be a duration like 50ms", k, v)
			}
			*durations[k] = Duration(d)
		case k == "paths":
			for _, p := range strings.Split(v, "|") {
				if p = strings.TrimSpace(p); p != "" {
					f.Paths = append(f.Paths, p)
				}
			}
		default:
			keys := []string{"paths"}
			for k := range rates {
				keys = append(keys, k)
			}
			for k := range durations {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return Faults{}, fmt.Errorf("unknown fault %q (known: %s)", k, strings.Join(keys, ", "))
		}
	}
	return f, nil
}

// String gives the command-line form of f ("none" when no fault is set).
func (f Faults) String() string {
	var parts []string
	add := func(k string, p float64) {
		if p > 0 {
			parts = append(parts, k+"="+strconv.FormatFloat(p, 'g', -1, 64))
		}
	}
	add("500", f.Error500)
	add("503", f.Error503)
	add("429", f.Error429)
	add("rate-limit-200", f.RateLimit200)
	if f.Storm429 > 0 {
		parts = append(parts, "storm="+time.Duration(f.Storm429).String())
	}
	if f.Latency > 0 {
		parts = append(parts, "latency="+time.Duration(f.Latency).String())
	}
	add("hang", f.Hang)
	add("malformed-json", f.MalformedJSON)
	add("drop-after-post", f.DropAfterPost)
	if len(f.Paths) > 0 {
		parts = append(parts, "paths="+strings.Join(f.Paths, "|"))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}
