package playbooktest

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/yamlnode"
)

// maxCases bounds the cases of one file; maxSequence the replies of one mock.
const (
	maxCases    = 1000
	maxSequence = 1000
)

// alertFields are the keys of a case's alert: the fields of an alert as the dispatcher gives it to a run.
var alertFields = []string{"id", "source", "source_id", "kind", "severity", "title", "connection", "observed_at", "received_at", "data"}

// fileSpec declares the format of a test file (docs/testing.md), checked in one walk by yamlnode: kinds,
// keys with a did-you-mean, required and exclusive keys, closed sets of words. What depends on the
// playbook under test (step ids, action names, inputs, outputs, the shapes of mocked outputs, asserts) the
// loader checks after, on the nodes the spec let through.
var fileSpec = sync.OnceValue(func() *yamlnode.Spec {
	str := func(what string) *yamlnode.Spec { return &yamlnode.Spec{Kind: yamlnode.StringKind, What: what} }
	anyValue := &yamlnode.Spec{Kind: yamlnode.AnyKind}
	field := func(name string, s *yamlnode.Spec) yamlnode.FieldSpec { return yamlnode.FieldSpec{Name: name, Spec: s} }
	required := func(name string, s *yamlnode.Spec) yamlnode.FieldSpec {
		return yamlnode.FieldSpec{Name: name, Spec: s, Required: true}
	}

	errorType := &yamlnode.Spec{Kind: yamlnode.StringKind, What: "an error's type",
		OneOf: action.ErrorTypes, OneOfNoun: "error type", OneOfIntro: "actions fail with"}
	mockError := &yamlnode.Spec{Either: []*yamlnode.Spec{
		errorType,
		{Kind: yamlnode.MapKind, What: `"error"`, Where: "in a mocked error", Fields: []yamlnode.FieldSpec{
			required("type", errorType), field("message", str("an error's message")),
		}},
	}}
	reply := &yamlnode.Spec{Kind: yamlnode.MapKind, What: "a reply in a sequence", Where: "in a reply",
		Fields:     []yamlnode.FieldSpec{field("output", anyValue), field("error", mockError)},
		ExactlyOne: []string{"output", "error"}}
	mock := &yamlnode.Spec{Kind: yamlnode.MapKind, What: "a mock", Fields: []yamlnode.FieldSpec{
		field("output", anyValue),
		field("error", mockError),
		field("sequence", &yamlnode.Spec{Kind: yamlnode.ListKind, What: `"sequence"`, Items: reply,
			Empty: "give one reply per call", MaxItems: maxSequence}),
	}, ExactlyOne: []string{"output", "error", "sequence"}}
	mocks := &yamlnode.Spec{Kind: yamlnode.DictKind, What: `"mocks"`, Values: mock}

	decision := &yamlnode.Spec{Kind: yamlnode.StringKind, What: "an approval's decision",
		OneOf: decisions, OneOfNoun: "decision", OneOfIntro: "an approval is answered with"}
	approvals := &yamlnode.Spec{Kind: yamlnode.DictKind, What: `"approvals"`, Values: &yamlnode.Spec{Either: []*yamlnode.Spec{
		decision,
		{Kind: yamlnode.MapKind, What: "an approval answer", Fields: []yamlnode.FieldSpec{
			required("decision", decision),
			field("by", str(`"by"`)),
			field("roles", &yamlnode.Spec{Kind: yamlnode.ListKind, What: `"roles"`, Items: str("a role")}),
			field("comment", str(`"comment"`)),
		}},
	}}}

	assertion := &yamlnode.Spec{Kind: yamlnode.ExprKind, What: "an assert"}
	call := &yamlnode.Spec{Kind: yamlnode.MapKind, What: "a calls entry", Fields: []yamlnode.FieldSpec{
		field("step", str(`"step"`)),
		field("action", str(`"action"`)),
		field("with", &yamlnode.Spec{Kind: yamlnode.DictKind, What: `"with"`, Values: anyValue}),
		field("times", &yamlnode.Spec{Kind: yamlnode.IntKind, What: `"times"`, Min: 0, Max: 1_000_000}),
		field("never", &yamlnode.Spec{Kind: yamlnode.BoolKind, What: `"never"`, Check: func(n *yaml.Node) string {
			if n.Value == "false" || n.Value == "False" || n.Value == "FALSE" {
				return "never: false says nothing: leave it out to expect at least one call"
			}
			return ""
		}}),
	}, ExactlyOne: []string{"step", "action"}, Exclusive: []string{"times", "never"}}
	expect := &yamlnode.Spec{Kind: yamlnode.MapKind, What: `"expect"`, Where: "in expect", Fields: []yamlnode.FieldSpec{
		field("status", str(`"status"`)),
		field("error", &yamlnode.Spec{Kind: yamlnode.MapKind, What: "expect.error", Fields: []yamlnode.FieldSpec{
			field("step", str("expect.error.step")),
			field("path", str("expect.error.path")),
			field("type", str("expect.error.type")),
			field("message", str("expect.error.message")),
		}, AtLeastOne: []string{"step", "path", "type", "message"}}),
		field("steps", &yamlnode.Spec{Kind: yamlnode.DictKind, What: `"steps"`,
			Values:    &yamlnode.Spec{Kind: yamlnode.StringKind, OneOf: stepStatuses, OneOfNoun: "step status", OneOfIntro: "a step ends"},
			ValueWhat: func(id string) string { return "the status of step " + id }}),
		field("output", &yamlnode.Spec{Kind: yamlnode.DictKind, What: `"output"`, Values: anyValue}),
		field("assert", &yamlnode.Spec{Either: []*yamlnode.Spec{
			assertion,
			{Kind: yamlnode.ListKind, What: `"assert"`, Items: assertion},
		}}),
		field("calls", &yamlnode.Spec{Kind: yamlnode.ListKind, What: `"calls"`, Items: call}),
	}}

	alert := &yamlnode.Spec{Kind: yamlnode.MapKind, What: `"alert"`, Where: "in the alert"}
	for _, f := range alertFields {
		alert.Fields = append(alert.Fields, field(f, anyValue))
	}
	testCase := &yamlnode.Spec{Kind: yamlnode.MapKind, What: "a case", WhereFunc: caseWhere, Fields: []yamlnode.FieldSpec{
		required("name", &yamlnode.Spec{Kind: yamlnode.StringKind, What: "a case's name", Check: checkCaseName}),
		field("description", str(`"description"`)),
		field("now", &yamlnode.Spec{Kind: yamlnode.TimeKind, What: `"now"`, Check: func(n *yaml.Node) string {
			if _, err := time.Parse(time.RFC3339, n.Value); err != nil {
				return fmt.Sprintf(`"now" must be an RFC 3339 time such as 2026-01-02T03:04:05Z, got %q`, n.Value)
			}
			return ""
		}}),
		field("inputs", &yamlnode.Spec{Kind: yamlnode.DictKind, What: `"inputs"`, Values: anyValue}),
		field("alert", alert),
		field("schedule", &yamlnode.Spec{Kind: yamlnode.IntKind, What: `"schedule"`, Min: 0, Max: 1000}),
		field("mocks", mocks),
		field("approvals", approvals),
		field("expect", expect),
	}, Exclusive: []string{"alert", "schedule"}}
	return &yamlnode.Spec{Kind: yamlnode.MapKind, What: "a test file", Where: "in the test file", Fields: []yamlnode.FieldSpec{
		field("playbook", str(`"playbook"`)),
		field("playbooks", &yamlnode.Spec{Kind: yamlnode.ListKind, What: `"playbooks"`, Items: str("a playbook name")}),
		field("mocks", mocks),
		required("cases", &yamlnode.Spec{Kind: yamlnode.ListKind, What: `"cases"`, Items: testCase,
			Empty: "write at least one case", MaxItems: maxCases}),
	}}
})

// caseWhere names a case in messages about its keys by its name, when it has one.
func caseWhere(m yamlnode.Map) string {
	if n := m.Get("name"); n != nil && n.Kind == yaml.ScalarNode && n.Tag == "!!str" && strings.TrimSpace(n.Value) != "" {
		return fmt.Sprintf("in case %q", n.Value)
	}
	return "in a case"
}

// checkCaseName keeps a case's name printable as PLAYBOOK/NAME on one line.
func checkCaseName(n *yaml.Node) string {
	switch {
	case strings.TrimSpace(n.Value) == "":
		return "a case's name is empty"
	case strings.ContainsAny(n.Value, "\n\r\t"):
		return "a case's name is one line of text"
	}
	return ""
}
