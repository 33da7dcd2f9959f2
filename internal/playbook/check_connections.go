package playbook

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/expression"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// Connections are the connection names a configuration defines, for a linter that knows the configuration
// (parry lint --config, a server linting a push). A step's connection that names none of them is a warning,
// or an error with Refuse (a server refusing a push whose runs could only fail).
type Connections struct {
	CECP     []string // cecp.connections, for the cecp.* actions; nil: not checked
	Webhooks []string // notify.webhooks, for notify.webhook and approval.notify; nil: not checked
	Refuse   bool
}

// checkConnection checks the connection a step names in with, when it is written out (a template is only
// known when the run evaluates it).
func (v *validator) checkConnection(s *Step, spec *action.Spec) {
	if v.conns == nil || s.With == nil {
		return
	}
	names, key := v.conns.CECP, "cecp.connections"
	if action.Namespace(spec.Name) != "cecp" {
		names, key = v.conns.Webhooks, "notify.webhooks"
		if spec.Name != "notify.webhook" {
			return
		}
	}
	m, _ := v.d.Map(s.With, `"with"`)
	n := m.Get("connection")
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!str" || expression.IsTemplate(n.Value) {
		return
	}
	v.checkConfigured(n, "connection", names, key)
}

// checkApprovalNotify checks the chat webhook an approval notifies (approval.notify) the way a notify.webhook
// step's connection is checked: it posts through that action.
func (v *validator) checkApprovalNotify(s *Step) {
	if v.conns == nil || s.Approval == nil || s.Approval.NotifyNode == nil {
		return
	}
	v.checkConfigured(s.Approval.NotifyNode, "webhook", v.conns.Webhooks, "notify.webhooks")
}

// checkConfigured reports a name n that is not among the configured names of key (cecp.connections,
// notify.webhooks): a warning, or an error when the linter refuses them. nil names are not checked.
func (v *validator) checkConfigured(n *yaml.Node, what string, names []string, key string) {
	if names == nil || slices.Contains(names, n.Value) {
		return
	}
	configured := "none is configured"
	if len(names) > 0 {
		configured = "configured: " + strings.Join(names, ", ")
	}
	report := v.r.Warnf
	if v.conns.Refuse {
		report = v.r.Errorf
	}
	report(yamlnode.At(n), "%s %q is not in %s%s; %s", what, n.Value, key, hint(n.Value, names), configured)
}
