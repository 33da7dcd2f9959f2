package api

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/registry"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// PlaybookSummary is one playbook in GET /v1/playbooks.
type PlaybookSummary struct {
	Name          string    `json:"name"`
	Versions      int       `json:"versions"`
	Latest        int       `json:"latest"`
	Enabled       int       `json:"enabled"` // 0: no version is enabled
	SHA256        string    `json:"sha256"`  // of the enabled version, else the latest
	LastChangedAt time.Time `json:"last_changed_at"`
}

// PushRequest is the body of POST /v1/playbooks.
type PushRequest struct {
	Playbooks []registry.File `json:"playbooks"`
	// Enable makes every pushed version the enabled one.
	Enable bool `json:"enable,omitempty"`
}

// PushResponse answers POST /v1/playbooks.
type PushResponse struct {
	Playbooks []registry.Pushed     `json:"playbooks"`
	Warnings  []yamlnode.Diagnostic `json:"warnings,omitempty"`
}

// EnableRequest is the optional body of POST /v1/playbooks/{name}/enable; version 0 is the latest.
type EnableRequest struct {
	Version int `json:"version,omitempty"`
}

var playbookNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,99}$`)

type playbookAPI struct {
	store  *store.Store
	linter *playbook.Linter
}

// PushLinter is the linter a server checks pushed playbooks with: the default catalog and limits, and a step
// naming a CECP connection that is not among the server's (Server.Connections) refuses the push. With nil
// connections, connection names are not checked.
func PushLinter(connections []string) *playbook.Linter {
	l := playbook.NewLinter(nil)
	if connections != nil {
		l = l.WithConnections(playbook.Connections{CECP: connections, Refuse: true})
	}
	return l
}

// PlaybookRoutes are the registry's endpoints (add them to Server.Extra): reading needs viewer, changing author.
// linter may be nil (the default action catalog); give PushLinter(Server.Connections) to refuse playbooks that
// name connections the server does not have.
func PlaybookRoutes(st *store.Store, linter *playbook.Linter) []Route {
	if linter == nil {
		linter = playbook.NewLinter(nil)
	}
	p := &playbookAPI{store: st, linter: linter}
	return []Route{
		{"GET /v1/playbooks", store.RoleViewer, p.list},
		{"POST /v1/playbooks", store.RoleAuthor, p.push},
		{"GET /v1/playbooks/{name}", store.RoleViewer, p.show},
		{"GET /v1/playbooks/{name}/versions", store.RoleViewer, p.versions},
		{"POST /v1/playbooks/{name}/enable", store.RoleAuthor, p.enable},
		{"POST /v1/playbooks/{name}/disable", store.RoleAuthor, p.disable},
	}
}

func (p *playbookAPI) list(w http.ResponseWriter, r *http.Request) error {
	vs, err := p.store.ListPlaybookVersions(r.Context(), "", false)
	if err != nil {
		return err
	}
	out := []PlaybookSummary{}
	for _, v := range vs { // by name, newest version first
		if len(out) == 0 || out[len(out)-1].Name != v.Name {
			out = append(out, PlaybookSummary{Name: v.Name, Latest: v.Version, SHA256: v.SHA256, LastChangedAt: v.CreatedAt})
		}
		s := &out[len(out)-1]
		s.Versions++
		if v.Enabled {
			s.Enabled, s.SHA256 = v.Version, v.SHA256
		}
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"playbooks": out})
}

func (p *playbookAPI) push(w http.ResponseWriter, r *http.Request) error {
	var req PushRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if len(req.Playbooks) == 0 {
		return Errorf(http.StatusBadRequest, "invalid", `no playbooks: send {"playbooks": [{"file": "name.yaml", "source": "..."}]}`)
	}
	maxBytes := p.linter.Limits().MaxBytes
	for i, f := range req.Playbooks {
		if f.Name == "" {
			req.Playbooks[i].Name = "playbook-" + strconv.Itoa(i+1) + ".yaml"
		}
		if len(f.Source) > maxBytes {
			return Errorf(http.StatusRequestEntityTooLarge, "playbook_too_large", "%s is %d bytes, larger than the limit of %d bytes (bound: %s)",
				req.Playbooks[i].Name, len(f.Source), maxBytes, yamlnode.BoundBytes)
		}
	}
	pushed, err := registry.Push(r.Context(), p.store, p.linter, req.Playbooks, "token:"+TokenFrom(r.Context()).Name, req.Enable)
	var lint *registry.LintError
	if errors.As(err, &lint) {
		e := Errorf(http.StatusBadRequest, "lint_failed", "%s", lint.Error())
		if d, over := yamlnode.Exceeded(lint.Diagnostics); over {
			// Bounds on the work a push makes the server do (nodes, aliases, expression length), not mistakes.
			e = Errorf(http.StatusBadRequest, "limit_exceeded", "%s exceeds a limit (bound: %s), nothing was stored: %s", d.File, d.Bound, d.String())
		}
		e.Details = lint.Diagnostics
		return e
	}
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, PushResponse{Playbooks: pushed, Warnings: registry.Warnings(p.linter, req.Playbooks)})
}

func playbookName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if !playbookNameRE.MatchString(name) {
		return "", Errorf(http.StatusBadRequest, "invalid", "%q is not a playbook name ([a-z][a-z0-9-]*)", name)
	}
	return name, nil
}

func versionParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("version")
	if s == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		return 0, Errorf(http.StatusBadRequest, "invalid", "version %q is not a positive number", s)
	}
	return v, nil
}

func notFoundAs(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(http.StatusNotFound, "not_found", format, args...)
	}
	return err
}

func (p *playbookAPI) show(w http.ResponseWriter, r *http.Request) error {
	name, err := playbookName(r)
	if err != nil {
		return err
	}
	version, err := versionParam(r)
	if err != nil {
		return err
	}
	v, err := p.store.GetPlaybookVersion(r.Context(), name, version)
	if err != nil {
		if version == 0 {
			return notFoundAs(err, "no playbook %q", name)
		}
		return notFoundAs(err, "playbook %q has no version %d", name, version)
	}
	return WriteJSON(w, http.StatusOK, v)
}

func (p *playbookAPI) versions(w http.ResponseWriter, r *http.Request) error {
	name, err := playbookName(r)
	if err != nil {
		return err
	}
	vs, err := p.store.ListPlaybookVersions(r.Context(), name, false)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return Errorf(http.StatusNotFound, "not_found", "no playbook %q", name)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"versions": vs})
}

func (p *playbookAPI) enable(w http.ResponseWriter, r *http.Request) error {
	name, err := playbookName(r)
	if err != nil {
		return err
	}
	var req EnableRequest
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &req); err != nil {
			return err
		}
	}
	if req.Version < 0 {
		return Errorf(http.StatusBadRequest, "invalid", "version must be positive")
	}
	v, err := p.store.EnablePlaybook(r.Context(), name, req.Version)
	if err != nil {
		if req.Version == 0 {
			return notFoundAs(err, "no playbook %q", name)
		}
		return notFoundAs(err, "playbook %q has no version %d", name, req.Version)
	}
	v.Source, v.Plan = "", nil
	return WriteJSON(w, http.StatusOK, v)
}

func (p *playbookAPI) disable(w http.ResponseWriter, r *http.Request) error {
	name, err := playbookName(r)
	if err != nil {
		return err
	}
	vs, err := p.store.ListPlaybookVersions(r.Context(), name, false)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return Errorf(http.StatusNotFound, "not_found", "no playbook %q", name)
	}
	was, err := p.store.DisablePlaybook(r.Context(), name)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"name": name, "was_enabled": was})
}
