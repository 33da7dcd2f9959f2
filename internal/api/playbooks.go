package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/registry"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// PlaybookSummary is one playbook in GET /v1/playbooks.
type PlaybookSummary = apitypes.PlaybookSummary

// PushRequest is the body of POST /v1/playbooks.
type PushRequest = apitypes.PushRequest

// PushResponse answers POST /v1/playbooks.
type PushResponse = apitypes.PushResponse

// EnableRequest is the optional body of POST /v1/playbooks/{name}/enable; version 0 is the latest.
type EnableRequest = apitypes.EnableRequest

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
		{Pattern: "GET /v1/playbooks", Role: store.RoleViewer, Handler: p.list},
		{Pattern: "POST /v1/playbooks", Role: store.RoleAuthor, Handler: p.push, Audit: "playbook.push"},
		{Pattern: "GET /v1/playbooks/{name}", Role: store.RoleViewer, Handler: p.show, Query: []string{apitypes.ParamVersion}},
		{Pattern: "GET /v1/playbooks/{name}/versions", Role: store.RoleViewer, Handler: p.versions},
		{Pattern: "POST /v1/playbooks/{name}/enable", Role: store.RoleAuthor, Handler: p.enable, Audit: "playbook.enable"},
		{Pattern: "POST /v1/playbooks/{name}/disable", Role: store.RoleAuthor, Handler: p.disable, Audit: "playbook.disable"},
		// The console's editor lints as the author types: the push's linter, nothing stored.
		{Pattern: "POST /v1/lint", Role: store.RoleViewer, Handler: p.lint, ReadOnly: true},
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
	return WriteJSON(w, http.StatusOK, apitypes.PlaybookList{Playbooks: out})
}

func (p *playbookAPI) push(w http.ResponseWriter, r *http.Request) error {
	var req PushRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if len(req.Playbooks) == 0 {
		return paramErrorf(`no playbooks: send {"playbooks": [{"file": "name.yaml", "source": "..."}]}`)
	}
	if len(req.Playbooks) > registry.MaxPushFiles {
		return paramErrorf("%d playbooks in one push; at most %d", len(req.Playbooks), registry.MaxPushFiles)
	}
	maxBytes := p.linter.Limits().MaxBytes
	files := make([]registry.File, 0, len(req.Playbooks))
	for i, f := range req.Playbooks {
		if f.Name == "" {
			f.Name = "playbook-" + strconv.Itoa(i+1) + ".yaml"
		}
		if len(f.Source) > maxBytes {
			return Errorf(http.StatusRequestEntityTooLarge, apitypes.CodePlaybookTooLarge, "%s is %d bytes, larger than the limit of %d bytes (bound: %s)",
				clip(f.Name, 200), len(f.Source), maxBytes, yamlnode.BoundBytes)
		}
		if len(f.Name) > 1000 || !cleanText(f.Name) {
			return paramErrorf("playbooks[%d].file must be a file name (at most 1000 bytes of text)", i)
		}
		if err := textField(fmt.Sprintf("playbooks[%d].source", i), f.Source); err != nil {
			return err
		}
		files = append(files, registry.File{Name: f.Name, Source: f.Source})
	}
	pushed, err := registry.Push(r.Context(), p.store, p.linter, files, "token:"+TokenFrom(r.Context()).Name, req.Enable)
	var lint *registry.LintError
	if errors.As(err, &lint) {
		e := Errorf(http.StatusBadRequest, apitypes.CodeLintFailed, "%s", lint.Error())
		if d, over := yamlnode.Exceeded(lint.Diagnostics); over {
			// Bounds on the work a push makes the server do (nodes, aliases, expression length), not mistakes.
			e = Errorf(http.StatusBadRequest, apitypes.CodeLimitExceeded, "%s exceeds a limit (bound: %s), nothing was stored: %s", d.File, d.Bound, d.String())
		}
		e.Details = lint.Diagnostics // the wire's []apitypes.Diagnostic: the same JSON
		return e
	}
	if err != nil {
		return err
	}
	audited := make([]map[string]any, 0, len(pushed))
	for _, pb := range pushed {
		audited = append(audited, map[string]any{"name": pb.Name, "version": pb.Version, "created": pb.Created, "enabled": pb.Enabled})
	}
	auditTarget(r, fmt.Sprintf("%d playbooks", len(pushed)), map[string]any{"playbooks": audited})
	resp := PushResponse{Playbooks: toPushed(pushed)}
	if ws := registry.Warnings(p.linter, files); len(ws) > 0 {
		resp.Warnings = toDiagnostics(ws)
	}
	return WriteJSON(w, http.StatusOK, resp)
}

func playbookName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	return name, playbookNameValue("", name)
}

func notFoundAs(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(http.StatusNotFound, apitypes.CodeNotFound, format, args...)
	}
	return err
}

func (p *playbookAPI) show(w http.ResponseWriter, r *http.Request) error {
	name, err := playbookName(r)
	if err != nil {
		return err
	}
	version, err := versionParam(r.URL.Query())
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
	return WriteJSON(w, http.StatusOK, toPlaybookVersion(v))
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
		return Errorf(http.StatusNotFound, apitypes.CodeNotFound, "no playbook %q", name)
	}
	out := apitypes.VersionList{Versions: make([]apitypes.PlaybookVersion, 0, len(vs))}
	for _, v := range vs {
		out.Versions = append(out.Versions, toPlaybookVersion(v))
	}
	return WriteJSON(w, http.StatusOK, out)
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
	if err := versionValue("version", int64(req.Version), true); err != nil {
		return err
	}
	v, err := p.store.EnablePlaybook(r.Context(), name, req.Version)
	if err != nil {
		if req.Version == 0 {
			return notFoundAs(err, "no playbook %q", name)
		}
		return notFoundAs(err, "playbook %q has no version %d", name, req.Version)
	}
	auditTarget(r, "playbook "+name, map[string]any{"name": name, "version": v.Version})
	v.Source, v.Plan = "", nil
	return WriteJSON(w, http.StatusOK, toPlaybookVersion(v))
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
		return Errorf(http.StatusNotFound, apitypes.CodeNotFound, "no playbook %q", name)
	}
	was, err := p.store.DisablePlaybook(r.Context(), name)
	if err != nil {
		return err
	}
	auditTarget(r, "playbook "+name, map[string]any{"name": name, "was_enabled": was})
	return WriteJSON(w, http.StatusOK, apitypes.DisableResponse{Name: name, WasEnabled: was})
}

// lint checks one playbook as a push would (the linter of parry lint, with the server's connections) and,
// when it compiles, lays out its flow for drawing. It stores nothing.
func (p *playbookAPI) lint(w http.ResponseWriter, r *http.Request) error {
	var req apitypes.LintRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.File == "" {
		req.File = "playbook.yaml"
	}
	if len(req.File) > 1000 || !cleanText(req.File) {
		return paramErrorf("file must be a file name (at most 1000 bytes of text)")
	}
	if maxBytes := p.linter.Limits().MaxBytes; len(req.Source) > maxBytes {
		return Errorf(http.StatusRequestEntityTooLarge, apitypes.CodePlaybookTooLarge, "the playbook is %d bytes, larger than the limit of %d bytes (bound: %s)",
			len(req.Source), maxBytes, yamlnode.BoundBytes)
	}
	if err := textField("source", req.Source); err != nil {
		return err
	}
	pl, diags := p.linter.Load(req.File, []byte(req.Source))
	out := apitypes.LintResponse{Diagnostics: toDiagnostics(diags)}
	if pl != nil {
		out.Graph = toDrawing(plan.Layout(pl))
	}
	return WriteJSON(w, http.StatusOK, out)
}
