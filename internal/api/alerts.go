package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/suggest"
)

// MaxAlertsPerRequest bounds one intake request (besides the body size cap).
const MaxAlertsPerRequest = 10000

// AlertIn is one alert as sources send it.
type AlertIn struct {
	ID         json.RawMessage `json:"id,omitempty"` // the source's own id: a string or a number
	Source     string          `json:"source"`
	Kind       string          `json:"kind"`
	Severity   string          `json:"severity"`
	Title      string          `json:"title"`
	Connection string          `json:"connection,omitempty"`
	ObservedAt string          `json:"observed_at"`
	Data       json.RawMessage `json:"data,omitempty"`
}

// AlertProblem is one invalid field of one alert of a request.
type AlertProblem struct {
	Index   int    `json:"index"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// IntakeResponse answers POST /v1/alerts (202): the stored ids in request order.
type IntakeResponse struct {
	Accepted   int                   `json:"accepted"`
	Duplicates int                   `json:"duplicates"`
	Alerts     []store.InsertedAlert `json:"alerts"`
}

func (s *Server) alertRoutes() []Route {
	return []Route{
		{"POST /v1/alerts", store.RoleIngest, s.postAlerts},
		{"GET /v1/alerts", store.RoleViewer, s.listAlerts},
		{"GET /v1/alerts/{id}", store.RoleViewer, s.getAlert},
	}
}

func (s *Server) postAlerts(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return BadJSON(err)
	}
	return s.ingest(w, r, body, "token:"+TokenFrom(r.Context()).Name)
}

// postWebhookAlerts accepts alerts from sources that cannot send a bearer token: the body is signed with the
// token's webhook secret, HMAC-SHA256 in hex, in X-Parry-Signature-256 (or GitHub's X-Hub-Signature-256) as
// "sha256=<hex>".
func (s *Server) postWebhookAlerts(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return BadJSON(err)
	}
	sig := r.Header.Get("X-Parry-Signature-256")
	if sig == "" {
		sig = r.Header.Get("X-Hub-Signature-256")
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return Errorf(http.StatusUnauthorized, "unauthorized", "missing X-Parry-Signature-256: sha256=<hex HMAC-SHA256 of the body> header")
	}
	given, err := hex.DecodeString(hexSig)
	if err != nil {
		return Errorf(http.StatusUnauthorized, "unauthorized", "the signature is not hex")
	}
	tok, secret, err := s.Store.WebhookToken(r.Context(), r.PathValue("name"))
	if errors.Is(err, store.ErrBadToken) {
		return Errorf(http.StatusUnauthorized, "unauthorized", "no live token with a webhook secret is named %q", r.PathValue("name"))
	}
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), given) {
		return Errorf(http.StatusUnauthorized, "unauthorized", "signature mismatch: sign the exact body with the token's webhook secret")
	}
	if !tok.Role.Allows(store.RoleIngest) {
		return Errorf(http.StatusForbidden, "forbidden", "token %q cannot ingest alerts", tok.Name)
	}
	return s.ingest(w, r, body, "webhook:"+tok.Name)
}

func (s *Server) ingest(w http.ResponseWriter, r *http.Request, body []byte, by string) error {
	raws, err := splitAlerts(body)
	if err != nil {
		return err
	}
	if len(raws) > MaxAlertsPerRequest {
		return Errorf(http.StatusRequestEntityTooLarge, "too_many_alerts", "%d alerts in one request; at most %d", len(raws), MaxAlertsPerRequest)
	}
	alerts := make([]store.NewAlert, 0, len(raws))
	var problems []AlertProblem
	for i, raw := range raws {
		a, ps := s.parseAlert(i, raw)
		problems = append(problems, ps...)
		alerts = append(alerts, a)
	}
	if len(problems) > 0 {
		msg := fmt.Sprintf("alert %d: %s", problems[0].Index, problems[0].Message)
		if len(problems) > 1 {
			msg += fmt.Sprintf(" (and %d more problems; nothing was stored)", len(problems)-1)
		} else {
			msg += " (nothing was stored)"
		}
		return &Error{Status: http.StatusBadRequest, Code: "invalid_alerts", Message: msg, Details: problems}
	}
	ids, err := s.Store.InsertAlerts(r.Context(), alerts, by)
	if err != nil {
		return err
	}
	resp := IntakeResponse{Alerts: ids}
	for _, id := range ids {
		if id.Duplicate {
			resp.Duplicates++
		} else {
			resp.Accepted++
		}
	}
	if s.Metrics != nil {
		s.Metrics.alerts.WithLabelValues("accepted").Add(float64(resp.Accepted))
		s.Metrics.alerts.WithLabelValues("duplicate").Add(float64(resp.Duplicates))
	}
	return WriteJSON(w, http.StatusAccepted, resp)
}

// splitAlerts accepts one JSON object, a JSON array of objects, or NDJSON (objects one after another).
func splitAlerts(body []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, Errorf(http.StatusBadRequest, "bad_json", "request body is empty; expected an alert object, an array of alerts or NDJSON")
	}
	if trimmed[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(trimmed, &arr); err != nil {
			return nil, jsonAt(body, err, "")
		}
		if len(arr) == 0 {
			return nil, Errorf(http.StatusBadRequest, "bad_json", "the array holds no alerts")
		}
		return arr, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var out []json.RawMessage
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, jsonAt(body, err, fmt.Sprintf("alert %d: ", len(out)))
		}
		out = append(out, raw)
	}
	return out, nil
}

// jsonAt reports a syntax error with its line and column.
func jsonAt(body []byte, err error, prefix string) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := lineCol(body, int(syn.Offset))
		return Errorf(http.StatusBadRequest, "bad_json", "%smalformed JSON at line %d, column %d: %s", prefix, line, col, syn.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return Errorf(http.StatusBadRequest, "bad_json", "%smalformed JSON: the body ends in the middle of a value", prefix)
	}
	return Errorf(http.StatusBadRequest, "bad_json", "%smalformed JSON: %s", prefix, err)
}

func lineCol(b []byte, off int) (int, int) {
	off = min(off, len(b))
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	start := bytes.LastIndexByte(b[:off], '\n') + 1
	return line, utf8.RuneCount(b[start:off])
}

var alertFields = []string{"id", "source", "kind", "severity", "title", "connection", "observed_at", "data"}

func (s *Server) parseAlert(i int, raw json.RawMessage) (store.NewAlert, []AlertProblem) {
	var problems []AlertProblem
	add := func(field, format string, args ...any) {
		problems = append(problems, AlertProblem{Index: i, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		add("", "an alert must be a JSON object")
		return store.NewAlert{}, problems
	}
	var in AlertIn
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typ):
			add(typ.Field, "%s must be %s, not %s", typ.Field, typ.Type, typ.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
			add(f, "unknown field %q%s (alert fields: %s)", f, suggest.Hint(f, alertFields), strings.Join(alertFields, ", "))
		default:
			add("", "%s", err)
		}
		return store.NewAlert{}, problems
	}
	a := store.NewAlert{Source: in.Source, Kind: in.Kind, Severity: in.Severity, Title: in.Title, Connection: in.Connection, Data: in.Data}
	required := func(field, v string, maxLen int) {
		switch {
		case strings.TrimSpace(v) == "":
			add(field, "%s is required", field)
		case len(v) > maxLen:
			add(field, "%s is longer than %d bytes", field, maxLen)
		}
	}
	required("source", in.Source, 100)
	required("kind", in.Kind, 100)
	required("title", in.Title, 1000)
	if !slices.Contains(store.Severities, in.Severity) {
		if in.Severity == "" {
			add("severity", "severity is required (one of %s)", strings.Join(store.Severities, ", "))
		} else {
			add("severity", "severity must be one of %s, not %q%s", strings.Join(store.Severities, ", "), in.Severity, suggest.Hint(strings.ToLower(in.Severity), store.Severities))
		}
	}
	if in.ObservedAt == "" {
		add("observed_at", "observed_at is required (RFC 3339, like 2026-01-02T03:04:05Z)")
	} else if t, err := time.Parse(time.RFC3339Nano, in.ObservedAt); err != nil {
		add("observed_at", "observed_at %q is not an RFC 3339 time (like 2026-01-02T03:04:05Z)", in.ObservedAt)
	} else {
		a.ObservedAt = t
	}
	if in.Connection != "" && s.Connections != nil && !slices.Contains(s.Connections, in.Connection) {
		add("connection", "unknown connection %q%s (configured: %s)", in.Connection, suggest.Hint(in.Connection, s.Connections), strings.Join(s.Connections, ", "))
	}
	if d := bytes.TrimSpace(in.Data); len(d) > 0 && d[0] != '{' && string(d) != "null" {
		add("data", "data must be a JSON object")
	} else if string(d) == "null" {
		a.Data = nil
	}
	if len(in.ID) > 0 && string(in.ID) != "null" {
		var str string
		var num json.Number
		switch {
		case json.Unmarshal(in.ID, &str) == nil:
			a.SourceID = str
		case json.Unmarshal(in.ID, &num) == nil:
			a.SourceID = num.String()
		default:
			add("id", "id must be a string or a number")
		}
		if len(a.SourceID) > 200 {
			add("id", "id is longer than 200 bytes")
		}
	}
	return a, problems
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	alerts, err := s.Store.ListAlerts(r.Context(), store.AlertQuery{Status: q.Get("status"), Source: q.Get("source"), Limit: limit, Before: before})
	if err != nil {
		return err
	}
	if alerts == nil {
		alerts = []store.Alert{}
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"alerts": alerts})
}

func (s *Server) getAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return Errorf(http.StatusBadRequest, "invalid", "alert id %q is not a number", r.PathValue("id"))
	}
	a, err := s.Store.GetAlert(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(http.StatusNotFound, "not_found", "no alert %d", id)
	}
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, a)
}
