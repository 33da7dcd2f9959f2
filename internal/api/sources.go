package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/sources"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// SourceOptions configures the alert sources endpoints.
type SourceOptions struct {
	// Secrets resolves each source's secret reference (nil: every source request is refused).
	Secrets secret.Provider
	// Config are the sources of parry.yaml (linted by the caller); they are served as version 0 and cannot be
	// pushed over.
	Config []*sources.Source
	// Engine compiles the mappings (nil: a new one).
	Engine *expression.Engine
}

// sourceAPI serves /v1/sources. Compiled mappings are cached by (name, version): a version never changes, so
// a request compiles nothing once its source's version was seen.
type sourceAPI struct {
	s       *Server
	secrets secret.Provider
	engine  *expression.Engine
	config  map[string]*sources.Mapping

	mu    sync.RWMutex
	cache map[sourceKey]*sources.Mapping
}

type sourceKey struct {
	name    string
	version int
}

// maxCachedMappings bounds the cache (versions of sources pushed while the server runs).
const maxCachedMappings = 1000

// SourceRoutes returns the sources endpoints; add them to s.Extra. It fails when a configured source cannot be
// compiled (Parse found no error in it, so that is a bug).
func (s *Server) SourceRoutes(opt SourceOptions) ([]Route, error) {
	if opt.Engine == nil {
		opt.Engine = expression.NewEngine()
	}
	a := &sourceAPI{s: s, secrets: opt.Secrets, engine: opt.Engine, config: map[string]*sources.Mapping{}, cache: map[sourceKey]*sources.Mapping{}}
	for _, src := range opt.Config {
		m, err := sources.Compile(src, opt.Engine)
		if err != nil {
			return nil, err
		}
		a.config[src.Name] = m
	}
	return []Route{
		{Pattern: "GET /v1/sources", Role: store.RoleViewer, Handler: a.list},
		{Pattern: "POST /v1/sources", Role: store.RoleAuthor, Handler: a.push, Audit: "source.push"},
		{Pattern: "GET /v1/sources/{name}", Role: store.RoleViewer, Handler: a.show},
		// Authenticated by the source's own secret (a signature or a bearer secret), checked by the handler.
		{Pattern: "POST /v1/sources/{name}/alerts", Handler: a.intake, Audit: "alerts.ingest"},
	}, nil
}

func (a *sourceAPI) list(w http.ResponseWriter, r *http.Request) error {
	out := apitypes.SourceList{Sources: []apitypes.SourceSummary{}}
	for _, name := range sortedKeys(a.config) {
		src := a.config[name].Source
		out.Sources = append(out.Sources, apitypes.SourceSummary{Name: name, Origin: apitypes.SourceOriginConfig, Auth: src.Auth, Secret: src.Secret, Description: src.Description})
	}
	vs, err := a.s.Store.ListSources(r.Context())
	if err != nil {
		return err
	}
	for _, v := range vs {
		if _, shadowed := a.config[v.Name]; shadowed {
			continue
		}
		out.Sources = append(out.Sources, apitypes.SourceSummary{Name: v.Name, Origin: apitypes.SourceOriginRegistry, Version: v.Version,
			SHA256: v.SHA256, Auth: v.Auth, Secret: v.SecretRef, CreatedAt: &v.CreatedAt, CreatedBy: v.CreatedBy})
	}
	return WriteJSON(w, http.StatusOK, out)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (a *sourceAPI) show(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var out apitypes.SourceDetail
	if m, ok := a.config[name]; ok {
		src := m.Source
		out.SourceSummary = apitypes.SourceSummary{Name: name, Origin: apitypes.SourceOriginConfig, Auth: src.Auth, Secret: src.Secret, Description: src.Description}
		out.Split, out.SeverityDefault, out.Map = src.Split, src.SeverityDefault, src.Map
	} else {
		v, err := a.s.Store.LatestSource(r.Context(), name)
		if errors.Is(err, store.ErrNotFound) {
			return Errorf(http.StatusNotFound, apitypes.CodeNotFound, "no source %q", clip(name, 100))
		}
		if err != nil {
			return err
		}
		m, err := a.mapping(v)
		if err != nil {
			return err
		}
		out.SourceSummary = apitypes.SourceSummary{Name: name, Origin: apitypes.SourceOriginRegistry, Version: v.Version, SHA256: v.SHA256,
			Auth: v.Auth, Secret: v.SecretRef, Description: m.Source.Description, CreatedAt: &v.CreatedAt, CreatedBy: v.CreatedBy}
		out.Split, out.SeverityDefault, out.Map, out.Definition = m.Source.Split, m.Source.SeverityDefault, m.Source.Map, v.Definition
	}
	rejected, total, err := a.s.Store.ListRejectedAlerts(r.Context(), name, 10)
	if err != nil {
		return err
	}
	out.RejectedCount = total
	out.Rejected = []apitypes.RejectedAlert{}
	for _, rj := range rejected {
		out.Rejected = append(out.Rejected, apitypes.RejectedAlert{ID: rj.ID, Version: rj.SourceVersion, ReceivedAt: rj.ReceivedAt,
			Problems: rj.Problems, BodyBytes: len(rj.Body)})
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (a *sourceAPI) push(w http.ResponseWriter, r *http.Request) error {
	var req apitypes.SourcePushRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.File == "" {
		req.File = "sources.yaml"
	}
	if len(req.File) > 1000 || !cleanText(req.File) {
		return paramErrorf("file must be a file name (at most 1000 bytes of text)")
	}
	if err := textField("source", req.Source); err != nil {
		return err
	}
	srcs, diags := sources.Parse(req.File, []byte(req.Source), false)
	if yamlnode.HasErrors(diags) {
		n := 0
		for _, d := range diags {
			if d.Severity == yamlnode.Error {
				n++
			}
		}
		e := Errorf(http.StatusBadRequest, apitypes.CodeLintFailed, "%s (%d problems; nothing was stored)", diags[0].String(), n)
		if d, over := yamlnode.Exceeded(diags); over {
			e = Errorf(http.StatusBadRequest, apitypes.CodeLimitExceeded, "%s exceeds a limit (bound: %s), nothing was stored: %s", d.File, d.Bound, d.String())
		}
		e.Details = diags
		return e
	}
	for _, src := range srcs {
		if _, ok := a.config[src.Name]; ok {
			return Errorf(http.StatusConflict, apitypes.CodeConflict, "source %q is defined in the server's parry.yaml; rename it or remove it there (nothing was stored)", src.Name)
		}
	}
	sum := sha256.Sum256([]byte(req.Source))
	by := "token:" + TokenFrom(r.Context()).Name
	resp := apitypes.SourcePushResponse{Sources: []apitypes.PushedSource{}}
	for _, src := range srcs {
		// The SHA-256 covers the whole file and the name, so that each source of a file has its own versions.
		sha := sha256.Sum256(append(append([]byte(src.Name), 0), sum[:]...))
		v, created, err := a.s.Store.PutSourceVersion(r.Context(), store.SourceVersion{Name: src.Name, SHA256: hex.EncodeToString(sha[:]),
			File: req.File, Definition: req.Source, Auth: src.Auth, SecretRef: src.Secret, CreatedBy: by})
		if err != nil {
			return err
		}
		resp.Sources = append(resp.Sources, apitypes.PushedSource{Name: v.Name, Version: v.Version, Created: created})
	}
	audited := make([]map[string]any, 0, len(resp.Sources))
	for _, p := range resp.Sources {
		audited = append(audited, map[string]any{"name": p.Name, "version": p.Version, "created": p.Created})
	}
	auditTarget(r, fmt.Sprintf("%d sources", len(resp.Sources)), map[string]any{"sources": audited})
	return WriteJSON(w, http.StatusOK, resp)
}

// mapping returns the compiled mapping of a registry version, compiling it on first use.
func (a *sourceAPI) mapping(v store.SourceVersion) (*sources.Mapping, error) {
	k := sourceKey{v.Name, v.Version}
	a.mu.RLock()
	m := a.cache[k]
	a.mu.RUnlock()
	if m != nil {
		return m, nil
	}
	srcs, diags := sources.Parse(v.File, []byte(v.Definition), false)
	if yamlnode.HasErrors(diags) {
		// Stored only after linting clean: a newer parry that lints stricter is the only way here.
		return nil, fmt.Errorf("linting stored source %s version %d: %s", v.Name, v.Version, diags[0].String())
	}
	for _, src := range srcs {
		if src.Name != v.Name {
			continue
		}
		m, err := sources.Compile(src, a.engine)
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		if len(a.cache) >= maxCachedMappings {
			clear(a.cache)
		}
		a.cache[k] = m
		a.mu.Unlock()
		return m, nil
	}
	return nil, fmt.Errorf("reading stored source %s version %d: its file does not define it", v.Name, v.Version)
}

// lookup finds the mapping serving a source name: parry.yaml's, else the registry's newest version.
func (a *sourceAPI) lookup(r *http.Request, name string) (*sources.Mapping, int, error) {
	if m, ok := a.config[name]; ok {
		return m, 0, nil
	}
	version, err := a.s.Store.SourceVersionOf(r.Context(), name)
	if err != nil {
		return nil, 0, err
	}
	a.mu.RLock()
	m := a.cache[sourceKey{name, version}]
	a.mu.RUnlock()
	if m != nil {
		return m, version, nil
	}
	v, err := a.s.Store.GetSourceVersion(r.Context(), name, version)
	if err != nil {
		return nil, 0, err
	}
	m, err = a.mapping(v)
	return m, version, err
}

// errSourceAuth is the one answer to a request that is not authenticated as the source: an unknown source, a
// missing, malformed or wrong signature or secret look the same from outside.
func errSourceAuth() error {
	return Errorf(http.StatusUnauthorized, apitypes.CodeUnauthorized, "not authenticated as this source: sign the body (X-Parry-Signature-256: sha256=<hex HMAC-SHA256>) or send Authorization: Bearer <secret>, as the source's auth says")
}

func (a *sourceAPI) intake(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return BadJSON(err)
	}
	receivedAt := time.Now().UTC()
	name := r.PathValue("name")
	m, version, err := a.lookup(r, name)
	if errors.Is(err, store.ErrNotFound) {
		return errSourceAuth()
	}
	if err != nil {
		return err
	}
	if err := a.authenticate(r, m.Source, body); err != nil {
		return err
	}
	by := "source:" + name
	auditActor(r, by)
	in, problems := m.Map(sources.Input{Body: body, Headers: r.Header})
	if len(in) > MaxAlertsPerRequest {
		problems = append(problems, AlertProblem{Message: fmt.Sprintf("%d alerts in one request; at most %d", len(in), MaxAlertsPerRequest)})
	}
	alerts := make([]store.NewAlert, 0, len(in))
	replaced := make([][]string, 0, len(in))
	failed := map[int]bool{}
	for _, p := range problems {
		failed[p.Index] = true
	}
	for i, ai := range in {
		if failed[i] {
			continue // its mapping failed: what it has is not an alert to judge
		}
		al, rep, ps := a.s.validateAlert(i, ai, receivedAt)
		problems = append(problems, ps...)
		alerts = append(alerts, al)
		replaced = append(replaced, rep)
	}
	if len(problems) > 0 {
		slices.SortStableFunc(problems, func(x, y AlertProblem) int { return x.Index - y.Index })
		return a.reject(r, name, version, body, problems, by)
	}
	return a.s.storeAlerts(w, r, alerts, replaced, by)
}

// reject keeps a body the source cannot map, with its problems, and answers 400 with every problem.
func (a *sourceAPI) reject(r *http.Request, name string, version int, body []byte, problems []AlertProblem, by string) error {
	for i := range problems { // a problem may quote the body: keep what jsonb can store
		problems[i].Message = strings.ToValidUTF8(strings.ReplaceAll(problems[i].Message, "\x00", "\uFFFD"), "\uFFFD")
	}
	pj, err := json.Marshal(problems)
	if err != nil {
		return err
	}
	id, err := a.s.Store.InsertRejectedAlert(r.Context(), store.RejectedAlert{Source: name, SourceVersion: version, Problems: pj, Body: body, IngestedBy: by})
	if err != nil {
		return err
	}
	// A rejection is a committed write (the rejected alert): audit it even though the answer is a 400.
	a.s.writeAudit(r.Context(), "alerts.reject", &auditInfo{Actor: by, Target: fmt.Sprintf("rejected alert %d", id),
		Details: map[string]any{"rejected": id, "problems": len(problems), "source_version": version}}, store.Token{}, http.StatusBadRequest)
	return invalidAlerts(problems, fmt.Sprintf("nothing was stored but the body, as rejected alert %d", id))
}

// authenticate checks a request's signature or bearer secret against the source's secret in constant time.
func (a *sourceAPI) authenticate(r *http.Request, src *sources.Source, body []byte) error {
	if a.secrets == nil {
		return errSourceAuth()
	}
	want, err := a.secrets.Secret(r.Context(), src.Secret)
	if err != nil || want == "" {
		// The reference's name is configuration, not a secret; the error never holds the value.
		a.s.Logger.Error("source secret unavailable", "request_id", RequestID(r.Context()), "source", src.Name, "secret", src.Secret, "error", err)
		return errSourceAuth()
	}
	switch src.Auth {
	case sources.AuthHMAC:
		sig := r.Header.Get("X-Parry-Signature-256")
		for _, h := range []string{"X-Parry-Signature", "X-Hub-Signature-256"} {
			if sig == "" {
				sig = r.Header.Get(h)
			}
		}
		hexSig, ok := strings.CutPrefix(sig, "sha256=")
		given, err := hex.DecodeString(hexSig)
		if !ok || err != nil {
			return errSourceAuth()
		}
		mac := hmac.New(sha256.New, []byte(want))
		mac.Write(body)
		if !hmac.Equal(mac.Sum(nil), given) {
			return errSourceAuth()
		}
		return nil
	case sources.AuthBearer:
		scheme, presented, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return errSourceAuth()
		}
		// Hash both sides so that the comparison takes the same time whatever the lengths.
		g, w := sha256.Sum256([]byte(strings.TrimSpace(presented))), sha256.Sum256([]byte(want))
		if subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
			return errSourceAuth()
		}
		return nil
	}
	return errSourceAuth()
}
