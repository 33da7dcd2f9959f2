// Package sources maps the JSON that SIEMs, EDRs, mail gateways and ticket systems send in their own shapes to
// parry alerts. A source is a name, how its requests are authenticated (an HMAC signature or a bearer secret,
// named by a secret reference), an optional split (one alert per element of a list in the body) and a map of
// expr-lang expressions over body, headers and item. Parse lints a file of sources the way playbooks are
// linted (every problem at its file:line:col, did-you-mean on unknown keys and names, expression types);
// Compile turns a linted source into a Mapping once, which maps bodies concurrently.
package sources

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/suggest"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// Auth schemes a source may use.
const (
	AuthHMAC   = "hmac"   // X-Parry-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>
	AuthBearer = "bearer" // Authorization: Bearer <secret>
)

// Fields of a source's map, in the order they are documented.
var (
	mapFields    = []string{"kind", "title", "severity", "observed_at", "source_id", "data", "connection"}
	sourceFields = []string{"name", "description", "auth", "secret", "split", "severity_default", "map"}
)

// Limits on what one request to a source may make parry do (the body size is the API's cap).
const (
	MaxItems       = 10000 // elements of the split list
	MaxSources     = 200   // sources in one file
	MaxDescription = 1000
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Source is one linted source definition. Expressions are kept as their sources with their positions; Compile
// turns them into programs.
type Source struct {
	Name            string `json:"name"`
	Description     string `json:"description,omitempty"`
	Auth            string `json:"auth"`
	Secret          string `json:"secret"` // a secret reference (PARRY_SECRET_<NAME>, the secrets dir), never the value
	Split           string `json:"split,omitempty"`
	SeverityDefault string `json:"severity_default,omitempty"`
	// Map holds each mapped field's expression source.
	Map map[string]string `json:"map"`
	// Pos is where the source's definition starts in File.
	File string       `json:"-"`
	Pos  yamlnode.Pos `json:"-"`
}

// Limits for a file of sources: sources are small configuration.
var fileLimits = yamlnode.Limits{MaxBytes: 256 << 10, MaxDepth: 16, MaxNodes: 20_000, MaxAliases: 20}

// Parse lints a file of sources, a mapping whose `sources:` key holds a list of source definitions (the shape
// of parry.yaml's sources: section; other top-level keys are reported unless config is set, when they are
// parry.yaml's other settings). It returns every source and every diagnostic; a source is usable only when no
// diagnostic is an error.
func Parse(file string, data []byte, config bool) ([]*Source, []yamlnode.Diagnostic) {
	r := &yamlnode.Reporter{File: file}
	src := yamlnode.Parse(file, data, fileLimits, r)
	if src.Root == nil {
		if !r.HasErrors() && !config {
			r.Errorf(yamlnode.Pos{Line: 1, Column: 1}, "the file is empty; expected sources: with a list of source definitions")
		}
		return nil, r.Diags
	}
	d := &yamlnode.Decoder{Src: src, R: r}
	top, ok := d.Map(src.Root, "the file")
	if !ok {
		return nil, r.Diags
	}
	if !config {
		d.CheckKeys(top, "at the top level", []string{"sources"})
	}
	list := top.Get("sources")
	if list == nil {
		if !config {
			r.Errorf(yamlnode.At(src.Root), "missing required key \"sources\" at the top level")
		}
		return nil, sorted(r)
	}
	items, ok := d.Seq(list, `"sources"`)
	if !ok {
		return nil, sorted(r)
	}
	if len(items) > MaxSources {
		r.Exceeded(yamlnode.At(list), yamlnode.BoundNodes, "%d sources in one file; at most %d", len(items), MaxSources)
		return nil, sorted(r)
	}
	var out []*Source
	seen := map[string]yamlnode.Pos{}
	for _, n := range items {
		s := parseSource(d, n)
		if s == nil {
			continue
		}
		if p, dup := seen[s.Name]; dup && s.Name != "" {
			r.Errorf(s.Pos, "source %q is defined twice (first at line %d)", s.Name, p.Line)
		} else {
			seen[s.Name] = s.Pos
		}
		out = append(out, s)
	}
	return out, sorted(r)
}

func sorted(r *yamlnode.Reporter) []yamlnode.Diagnostic {
	yamlnode.Sort(r.Diags)
	return r.Diags
}

func parseSource(d *yamlnode.Decoder, n *yaml.Node) *Source {
	m, ok := d.Map(n, "a source")
	if !ok {
		return nil
	}
	s := &Source{File: d.Src.File, Pos: yamlnode.At(n), Map: map[string]string{}}
	where := "in a source"
	if v := m.Get("name"); v != nil {
		if name, ok := d.Str(v, `"name"`); ok {
			s.Name = name
			where = fmt.Sprintf("in source %q", name)
			if !nameRE.MatchString(name) {
				d.R.Errorf(yamlnode.At(v), "source name %q must be 1-63 lower-case letters, digits, - or _, starting with a letter or digit", clip(name, 70))
			}
		}
	}
	d.CheckKeys(m, where, sourceFields)
	d.Require(m, where, "name", "auth", "secret", "map")
	if v := m.Get("description"); v != nil {
		if t, ok := d.Str(v, `"description"`); ok {
			if len(t) > MaxDescription {
				d.R.Errorf(yamlnode.At(v), "description is longer than %d bytes", MaxDescription)
			}
			s.Description = t
		}
	}
	if v := m.Get("auth"); v != nil {
		if a, ok := d.Str(v, `"auth"`); ok {
			s.Auth = a
			if a != AuthHMAC && a != AuthBearer {
				d.R.Errorf(yamlnode.At(v), "auth must be %s or %s, not %q%s", AuthHMAC, AuthBearer, clip(a, 40), hint(a, []string{AuthHMAC, AuthBearer}))
			}
		}
	}
	if v := m.Get("secret"); v != nil {
		if sec, ok := d.Str(v, `"secret"`); ok {
			s.Secret = sec
			if !secret.ValidName(sec) {
				d.R.Errorf(yamlnode.At(v), "secret must name a secret (letters, digits, - and _, like splunk-webhook), which parry reads from PARRY_SECRET_<NAME> or the secrets directory; never the secret itself")
			}
		}
	}
	if v := m.Get("severity_default"); v != nil {
		if sev, ok := d.Str(v, `"severity_default"`); ok {
			s.SeverityDefault = sev
			if !slices.Contains(store.Severities, sev) {
				d.R.Errorf(yamlnode.At(v), "severity_default must be one of %s, not %q%s", strings.Join(store.Severities, ", "), clip(sev, 40), hint(strings.ToLower(sev), store.Severities))
			}
		}
	}
	env := expression.NewEnv(map[string]expression.Type{"body": expression.Any, "headers": expression.OpenObject(nil)})
	if v := m.Get("split"); v != nil {
		if src, ok := exprSource(d, v, `"split"`); ok {
			s.Split = src
			checkExpr(d, v, src, env, "split", nil)
		}
		env = env.With(map[string]expression.Type{"item": expression.Any, "index": expression.Int})
	}
	if v := m.Get("map"); v != nil {
		if mm, ok := d.Map(v, `"map"`); ok {
			d.CheckKeys(mm, "in map", mapFields)
			d.Require(mm, "in map", "kind", "title")
			if !mm.Has("severity") && s.SeverityDefault == "" {
				d.R.Errorf(yamlnode.At(v), "map has no severity and the source no severity_default: give one or both")
			}
			for _, f := range mm.Fields {
				if !slices.Contains(mapFields, f.Key.Value) {
					continue
				}
				src, ok := exprSource(d, f.Value, fmt.Sprintf("map.%s", f.Key.Value))
				if !ok {
					continue
				}
				s.Map[f.Key.Value] = src
				checkExpr(d, f.Value, src, env, f.Key.Value, s)
			}
		}
	}
	return s
}

// exprSource reads an expression: a string scalar (a number or boolean is refused, so that 1 and "1" are not
// confused; quote a literal string inside the expression: '"medium"').
func exprSource(d *yamlnode.Decoder, n *yaml.Node, what string) (string, bool) {
	src, ok := d.Str(n, what)
	if !ok {
		return "", false
	}
	if strings.TrimSpace(src) == "" {
		d.R.Errorf(yamlnode.At(n), "%s is empty; it must be an expression", what)
		return "", false
	}
	if expression.IsTemplate(src) {
		d.R.Errorf(yamlnode.At(n), "%s is an expression already: write it without ${{ }}", what)
		return "", false
	}
	return src, true
}

// checkExpr parses and type-checks an expression, reporting at the character of the file each problem is at.
func checkExpr(d *yamlnode.Decoder, n *yaml.Node, src string, env *expression.Env, field string, s *Source) {
	p, perr := expression.Parse(src)
	if perr != nil {
		d.R.Errorf(d.Src.ValuePos(n, perr.Offset), "%s: %s", field, perr.Message)
		return
	}
	if unknown := env.UnknownNames(p); len(unknown) > 0 {
		for _, u := range unknown {
			msg := u.Message
			if strings.Contains(msg, `"item"`) || strings.Contains(msg, `"index"`) {
				msg += " (item and index exist only in a source with split:)"
			}
			d.R.Errorf(d.Src.ValuePos(n, u.Offset), "%s: %s", field, msg)
		}
		return
	}
	t, cerr := env.Check(p)
	if cerr != nil {
		d.R.Errorf(d.Src.ValuePos(n, cerr.Offset), "%s: %s", field, cerr.Message)
		return
	}
	if t.Unknown() || t.IsNil() {
		return
	}
	bad := ""
	switch field {
	case "kind", "title", "connection":
		if !t.IsString() {
			bad = "text"
		}
	case "severity":
		if !t.IsString() {
			bad = "text (one of " + strings.Join(store.Severities, ", ") + ")"
		}
	case "source_id":
		if !t.IsString() && !t.IsNumber() {
			bad = "text or a number"
		}
	case "observed_at":
		if !t.IsString() && !t.IsNumber() && !t.IsTime() {
			bad = "a time: RFC 3339 text, epoch seconds or a time"
		}
	case "data":
		if !t.IsMap() {
			bad = "an object"
		}
	case "split":
		if !t.IsList() {
			bad = "a list"
		}
	}
	if bad != "" {
		d.R.Errorf(yamlnode.At(n), "%s must give %s; this expression gives %s", field, bad, t.Describe())
	}
}

func hint(word string, candidates []string) string {
	for _, c := range candidates {
		if strings.EqualFold(c, word) {
			return fmt.Sprintf(" (did you mean %q?)", c)
		}
	}
	return suggest.Hint(word, candidates)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
