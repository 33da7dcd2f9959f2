// Package quotabench measures how many of the vendor's requests a containment takes, and how long, against the
// vendor's quota: fresh simulators with the real 20-a-minute window (time-scaled), the scenarios of a real SOC
// (one big campaign, a storm of single-mail incidents, both at once), parry against an emulation of the
// pattern the public integrations use (one POST per mail, one result poll per mail), and the lower bound no
// client can beat. `parry bench quota` drives it.
package quotabench

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Request is one request a simulator answered.
type Request struct {
	At     time.Time
	Kind   string // "POST /v1/mitigation/mails", "GET /v1/mitigation/mails by window", …
	Status int
}

// Recorder wraps a simulator and logs every vendor request with its answer's status.
type Recorder struct {
	Next http.Handler
	mu   sync.Mutex
	log  []Request
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP implements http.Handler.
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if strings.HasPrefix(req.URL.Path, "/_sim/") {
		r.Next.ServeHTTP(w, req)
		return
	}
	kind := req.Method + " " + req.URL.Path
	if req.Method == http.MethodGet && strings.HasPrefix(req.URL.Path, "/v1/mitigation/") {
		if req.URL.Query().Has("batch_id") {
			kind += " by batch"
		} else {
			kind += " by window"
		}
	}
	at := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	r.Next.ServeHTTP(sw, req)
	r.mu.Lock()
	r.log = append(r.log, Request{At: at, Kind: kind, Status: sw.status})
	r.mu.Unlock()
}

// Log returns the requests so far, in arrival order.
func (r *Recorder) Log() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Request(nil), r.log...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// Counts are what a contender spent.
type Counts struct {
	ByKind map[string]int
	Total  int
	// TooMany counts the vendor's 429 answers.
	TooMany int
	// Windows is how many of the vendor's fixed windows (each opened by the first request after the last one
	// ended, window long) saw requests.
	Windows int
}

// Count sums a request log; window is the vendor's (time-scaled) window.
func Count(log []Request, window time.Duration) Counts {
	c := Counts{ByKind: map[string]int{}}
	var start time.Time
	for _, r := range log {
		c.ByKind[r.Kind]++
		c.Total++
		if r.Status == http.StatusTooManyRequests {
			c.TooMany++
		}
		if start.IsZero() || !r.At.Before(start.Add(window)) {
			start = r.At
			c.Windows++
		}
	}
	return c
}
