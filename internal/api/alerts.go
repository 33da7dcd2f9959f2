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
	"strings"
	"time"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/suggest"
)

// MaxAlertsPerRequest bounds one intake request (besides the body size cap).
const MaxAlertsPerRequest = 10000

// AlertIn is one alert as sources send it.
type AlertIn = apitypes.AlertIn

// AlertProblem is one invalid field of one alert of a request.
type AlertProblem = apitypes.AlertProblem

// IntakeResponse answers POST /v1/alerts (202): the stored ids in request order.
type IntakeResponse = apitypes.IntakeResponse

func (s *Server) alertRoutes() []Route {
	return []Route{
		{Pattern: "POST /v1/alerts", Role: store.RoleIngest, Handler: s.postAlerts, Audit: "alerts.ingest"},
		// Signed instead of a bearer token: the handler checks the signature.
		{Pattern: "POST /v1/webhooks/alerts/{name}", Handler: s.postWebhookAlerts, Audit: "alerts.ingest"},
		{Pattern: "GET /v1/alerts", Role: store.RoleViewer, Handler: s.listAlerts,
			Query: []string{apitypes.ParamStatus, apitypes.ParamSource, apitypes.ParamLimit, apitypes.ParamBefore, apitypes.ParamSince}},
		{Pattern: "GET /v1/alerts/{id}", Role: store.RoleViewer, Handler: s.getAlert},
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
	name := r.PathValue("name")
	if tokenNameValue(name) != nil {
		return Errorf(http.StatusUnauthorized, apitypes.CodeUnauthorized, "the path does not name a token")
	}
	sig := r.Header.Get("X-Parry-Signature-256")
	if sig == "" {
		sig = r.Header.Get("X-Hub-Signature-256")
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return Errorf(http.StatusUnauthorized, apitypes.CodeUnauthorized, "missing X-Parry-Signature-256: sha256=<hex HMAC-SHA256 of the body> header")
	}
	given, err := hex.DecodeString(hexSig)
	if err != nil {
		return Errorf(http.StatusUnauthorized, apitypes.CodeUnauthorized, "the signature is not hex")
	}
	tok, secret, err := s.Store.WebhookToken(r.Context(), name)
	if errors.Is(err, store.ErrBadToken) {
		return Errorf(http.StatusUnauthorized, apitypes.CodeUnauthorized, "no live token with a webhook secret is named %q", name)
	}
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), given) {
		return Errorf(http.StatusUnauthorized, apitypes.CodeUnauthorized, "signature mismatch: sign the exact body with the token's webhook secret")
	}
	if !tok.Role.Allows(store.RoleIngest) {
		return Errorf(http.StatusForbidden, apitypes.CodeForbidden, "token %q cannot ingest alerts", tok.Name)
	}
	auditActor(r, "webhook:"+tok.Name)
	return s.ingest(w, r, body, "webhook:"+tok.Name)
}

func (s *Server) ingest(w http.ResponseWriter, r *http.Request, body []byte, by string) error {
	raws, err := splitAlerts(body)
	if err != nil {
		return err
	}
	if len(raws) > MaxAlertsPerRequest {
		return Errorf(http.StatusRequestEntityTooLarge, apitypes.CodeTooManyAlerts, "%d alerts in one request; at most %d", len(raws), MaxAlertsPerRequest)
	}
	receivedAt := time.Now().UTC()
	alerts := make([]store.NewAlert, 0, len(raws))
	replaced := make([][]string, 0, len(raws))
	var problems []AlertProblem
	for i, raw := range raws {
		a, rep, ps := s.parseAlert(i, raw, receivedAt)
		problems = append(problems, ps...)
		alerts = append(alerts, a)
		replaced = append(replaced, rep)
	}
	if len(problems) > 0 {
		return invalidAlerts(problems, "nothing was stored")
	}
	return s.storeAlerts(w, r, alerts, replaced, by)
}

// invalidAlerts is the 400 answer listing every problem of every alert of a request.
func invalidAlerts(problems []AlertProblem, outcome string) error {
	msg := fmt.Sprintf("alert %d: %s", problems[0].Index, problems[0].Message)
	if len(problems) > 1 {
		msg += fmt.Sprintf(" (and %d more problems; %s)", len(problems)-1, outcome)
	} else {
		msg += " (" + outcome + ")"
	}
	return &Error{Status: http.StatusBadRequest, Code: apitypes.CodeInvalidAlerts, Message: msg, Details: problems}
}

// storeAlerts commits validated alerts and answers 202 with their ids (a repeat of a stored source id answers
// the stored alert's id with duplicate set).
func (s *Server) storeAlerts(w http.ResponseWriter, r *http.Request, alerts []store.NewAlert, replaced [][]string, by string) error {
	ids, err := s.Store.InsertAlerts(r.Context(), alerts, by)
	if err != nil {
		return err
	}
	resp := IntakeResponse{Alerts: make([]apitypes.InsertedAlert, 0, len(ids))}
	nReplaced := 0
	for i, id := range ids {
		resp.Alerts = append(resp.Alerts, apitypes.InsertedAlert{ID: id.ID, Duplicate: id.Duplicate, Replaced: replaced[i]})
		if id.Duplicate {
			resp.Duplicates++
		} else {
			resp.Accepted++
		}
		if len(replaced[i]) > 0 {
			nReplaced++
		}
	}
	if s.Metrics != nil {
		s.Metrics.alerts.WithLabelValues("accepted").Add(float64(resp.Accepted))
		s.Metrics.alerts.WithLabelValues("duplicate").Add(float64(resp.Duplicates))
	}
	details := map[string]any{"accepted": resp.Accepted, "duplicates": resp.Duplicates}
	if len(ids) > 0 {
		details["first_id"], details["last_id"] = ids[0].ID, ids[len(ids)-1].ID
	}
	if nReplaced > 0 {
		details["alerts_with_replaced_data"] = nReplaced
	}
	auditTarget(r, fmt.Sprintf("%d alerts", len(ids)), details)
	return WriteJSON(w, http.StatusAccepted, resp)
}

// splitAlerts accepts one JSON object, a JSON array of objects, or NDJSON (objects one after another).
func splitAlerts(body []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, Errorf(http.StatusBadRequest, apitypes.CodeBadJSON, "request body is empty; expected an alert object, an array of alerts or NDJSON")
	}
	if trimmed[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(trimmed, &arr); err != nil {
			return nil, Errorf(http.StatusBadRequest, apitypes.CodeBadJSON, "%s", jsonProblem(trimmed, err, "").Message)
		}
		if len(arr) == 0 {
			return nil, Errorf(http.StatusBadRequest, apitypes.CodeBadJSON, "the array holds no alerts")
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
			return nil, Errorf(http.StatusBadRequest, apitypes.CodeBadJSON, "%s", jsonProblem(body, err, fmt.Sprintf("alert %d: ", len(out))).Message)
		}
		out = append(out, raw)
	}
	return out, nil
}

var alertFields = []string{"id", "source", "kind", "severity", "title", "connection", "observed_at", "data"}

// parseAlert decodes and validates one alert of a request (see validateAlert).
func (s *Server) parseAlert(i int, raw json.RawMessage, receivedAt time.Time) (store.NewAlert, []string, []AlertProblem) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return store.NewAlert{}, nil, []AlertProblem{{Index: i, Message: "an alert must be a JSON object"}}
	}
	var in AlertIn
	if p := decodeStrict(raw, &in); p != nil {
		msg := p.Message
		if p.Unknown {
			msg = fmt.Sprintf("unknown field %q%s (alert fields: %s)", p.Field, suggest.Hint(p.Field, alertFields), strings.Join(alertFields, ", "))
		}
		return store.NewAlert{}, nil, []AlertProblem{{Index: i, Field: p.Field, Message: msg}}
	}
	return s.validateAlert(i, in, receivedAt)
}

// validateAlert validates one alert, sent as parry's envelope or mapped by a source. Its text fields are
// refused when PostgreSQL cannot store them (a NUL, which JSON allows as \u0000); its data is kept, with what
// PostgreSQL cannot store replaced (see sanitizeData); the paths replaced are returned. An alert without
// observed_at was observed when parry received it.
func (s *Server) validateAlert(i int, in AlertIn, receivedAt time.Time) (store.NewAlert, []string, []AlertProblem) {
	var problems []AlertProblem
	add := func(field, format string, args ...any) {
		problems = append(problems, AlertProblem{Index: i, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	a := store.NewAlert{Source: in.Source, Kind: in.Kind, Severity: in.Severity, Title: in.Title, Connection: in.Connection}
	text := func(field, v string, maxLen int, required bool) {
		switch {
		case required && strings.TrimSpace(v) == "":
			add(field, "%s is required", field)
		case len(v) > maxLen:
			add(field, "%s is longer than %d bytes", field, maxLen)
		case strings.IndexByte(v, 0) >= 0:
			add(field, `%s holds a NUL character (\u0000), which cannot be stored; remove it`, field)
		}
	}
	text("source", in.Source, 100, true)
	text("kind", in.Kind, 100, true)
	text("title", in.Title, 1000, true)
	text("connection", in.Connection, 100, false)
	if !slices.Contains(store.Severities, in.Severity) {
		if in.Severity == "" {
			add("severity", "severity is required (one of %s)", strings.Join(store.Severities, ", "))
		} else {
			add("severity", "severity must be one of %s, not %q%s", strings.Join(store.Severities, ", "), clip(in.Severity, 40), suggest.Hint(strings.ToLower(in.Severity), store.Severities))
		}
	}
	if in.ObservedAt == "" {
		a.ObservedAt = receivedAt
	} else if t, err := time.Parse(time.RFC3339Nano, in.ObservedAt); err != nil {
		add("observed_at", "observed_at %q is not an RFC 3339 time (like 2026-01-02T03:04:05Z)", clip(in.ObservedAt, 40))
	} else {
		a.ObservedAt = t
	}
	if in.Connection != "" && s.Connections != nil && !slices.Contains(s.Connections, in.Connection) && cleanText(in.Connection) {
		add("connection", "unknown connection %q%s (configured: %s)", clip(in.Connection, 40), suggest.Hint(in.Connection, s.Connections), strings.Join(s.Connections, ", "))
	}
	var replaced []string
	switch d := bytes.TrimSpace(in.Data); {
	case len(d) == 0 || string(d) == "null":
	case d[0] != '{':
		add("data", "data must be a JSON object")
	default:
		clean, rep, err := sanitizeData(d)
		if err != nil {
			add("data", "%s", err)
		} else {
			a.Data, replaced = clean, rep
		}
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
		text("id", a.SourceID, 200, false)
	}
	return a, replaced, problems
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	aq := store.AlertQuery{Status: q.Get(apitypes.ParamStatus), Source: q.Get(apitypes.ParamSource)}
	if err := enumParam("status", aq.Status, []string{apitypes.AlertPending, apitypes.AlertDispatched}); err != nil {
		return err
	}
	if len(aq.Source) > maxSourceBytes {
		return paramErrorf("source is longer than %d bytes", maxSourceBytes)
	}
	var err error
	if aq.Limit, err = limitParam(q, 100); err != nil {
		return err
	}
	if aq.Before, err = beforeParam(q); err != nil {
		return err
	}
	if aq.Since, err = sinceParam(q, time.Now()); err != nil {
		return err
	}
	alerts, err := s.Store.ListAlerts(r.Context(), aq)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, apitypes.AlertList{Alerts: toAlerts(alerts)})
}

func (s *Server) getAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := positiveID("alert id", r.PathValue("id"))
	if err != nil {
		return err
	}
	a, err := s.Store.GetAlert(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(http.StatusNotFound, apitypes.CodeNotFound, "no alert %d", id)
	}
	if err != nil {
		return err
	}
	incs, err := s.Store.AlertIncidents(r.Context(), id)
	if err != nil {
		return err
	}
	out := toAlert(a)
	for _, inc := range incs {
		out.Incidents = append(out.Incidents, toIncident(inc))
	}
	return WriteJSON(w, http.StatusOK, out)
}
