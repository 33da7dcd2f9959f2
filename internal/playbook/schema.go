package playbook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/plan"
)

// Schema returns a JSON Schema (draft-07, the version YAML editors support best) of the playbook language,
// generated from the catalog: editors use it for completion and early errors. It describes shapes only;
// parry lint remains the authority (expressions, references, jumps).
func Schema(cat *action.Catalog) ([]byte, error) {
	if cat == nil {
		cat = action.Default()
	}
	defs := obj{
		"duration":   obj{"type": "string", "pattern": `^([0-9]+d)?([0-9]+(\.[0-9]+)?(ms|s|m|h))*$`, "description": "A duration such as 30s, 5m, 4h, 1h30m or 2d."},
		"expression": obj{"type": []string{"string", "boolean"}, "description": "An expr-lang expression (https://expr-lang.org), without ${{ }}."},
		"template":   obj{"type": "string", "pattern": `\$\{\{`, "description": "A value computed by ${{ expression }}."},
		"duration_or_template": obj{"anyOf": []any{ref("duration"), ref("template")},
			"description": "A duration such as 30s, 5m, 4h or 2d, or ${{ }} computing one (a duration text, or a number of seconds)."},
		"schedule": obj{"type": "object", "additionalProperties": false,
			"oneOf": []any{obj{"required": []string{"cron"}}, obj{"required": []string{"every"}}},
			"properties": obj{
				"cron":     obj{"type": "string", "description": "Five fields: minute hour day-of-month month day-of-week (0 6 * * 1-5), or @daily, @hourly..."},
				"timezone": obj{"type": "string", "description": "IANA time zone of the cron expression (default UTC)."},
				"every":    withDesc(ref("duration"), "An interval, from 1m."),
				"with":     obj{"type": "object", "description": "The inputs of the scheduled runs (plain values)."},
			}},
		"steps": obj{"type": "array", "items": ref("step")},
		"step":  stepSchema(cat),
		"input": inputDeclSchema(),
	}
	for _, s := range cat.Specs() {
		defs["with:"+s.Name] = withSchema(s)
	}
	root := obj{
		"$schema":              "http://json-schema.org/draft-07/schema#",
		"title":                "parry playbook",
		"description":          "A parry playbook (language version 1). See docs/playbooks.md.",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"name", "steps"},
		"properties": obj{
			"name":        obj{"type": "string", "pattern": nameRE.String(), "maxLength": maxIDLen, "description": "Playbook name: lower-case letters, digits and dashes."},
			"description": obj{"type": "string"},
			"on": obj{
				"type": "object", "additionalProperties": false, "description": "Triggers. Manual runs are always possible.",
				"properties": obj{"schedule": obj{"type": "array", "minItems": 1, "maxItems": MaxSchedules, "items": ref("schedule"),
					"description": "Start runs on a calendar (cron) or at an interval (every), as Temporal Schedules."}, "alert": obj{
					"type": "object", "additionalProperties": false, "required": []string{"when"},
					"properties": obj{
						"when": withDesc(ref("expression"), "Condition over alert that starts this playbook."),
						"dedup": obj{
							"type": "object", "additionalProperties": false, "required": []string{"key"},
							"properties": obj{
								"key":    withDesc(ref("expression"), "Alerts whose key is equal join the same open incident."),
								"window": withDesc(ref("duration"), "How long an incident accepts repeats (default 1h)."),
							},
						},
					},
				}},
			},
			"inputs":     obj{"type": "object", "propertyNames": obj{"pattern": identRE.String()}, "additionalProperties": ref("input")},
			"vars":       obj{"type": "object", "propertyNames": obj{"pattern": identRE.String()}, "description": "Values set when the run starts, in order."},
			"steps":      withMin(ref("steps")),
			"output":     obj{"type": "object", "description": "The run's output when it succeeds."},
			"on_failure": withDesc(ref("steps"), "Steps run when the run fails; error is in scope."),
			"timeout":    withDesc(ref("duration"), "Bound on the whole run (default 24h)."),
		},
		"definitions": defs,
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encoding schema: %w", err)
	}
	return b.Bytes(), nil
}

type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/definitions/" + name} }

func withDesc(o obj, d string) obj {
	return obj{"allOf": []any{o}, "description": d}
}

func withMin(o obj) obj { return obj{"allOf": []any{o}, "minItems": 1} }

func inputDeclSchema() obj {
	return obj{
		"type": "object", "additionalProperties": false, "required": []string{"type"},
		"properties": obj{
			"type":        obj{"enum": inputTypes},
			"required":    obj{"type": "boolean"},
			"default":     obj{},
			"from":        withDesc(ref("expression"), "Expression over alert giving the input on alert-triggered runs."),
			"description": obj{"type": "string"},
			"enum":        obj{"type": "array", "minItems": 1, "uniqueItems": true, "description": "The values the input may take."},
		},
	}
}

func stepSchema(cat *action.Catalog) obj {
	var kinds []any
	for _, k := range plan.Kinds {
		kinds = append(kinds, obj{"required": []string{string(k)}})
	}
	var perAction []any
	for _, s := range cat.Specs() {
		perAction = append(perAction, obj{
			"if":   obj{"properties": obj{"action": obj{"const": s.Name}}, "required": []string{"action"}},
			"then": obj{"properties": obj{"with": ref("with:" + s.Name)}},
		})
	}
	nextRule := obj{"type": "object", "additionalProperties": false, "required": []string{"goto"},
		"properties": obj{"if": ref("expression"), "goto": obj{"type": "string"}}}
	return obj{
		"type": "object", "additionalProperties": false, "required": []string{"id"},
		"oneOf": kinds,
		"allOf": perAction,
		"properties": obj{
			"id":     obj{"type": "string", "pattern": idRE.String(), "maxLength": maxIDLen},
			"name":   obj{"type": "string"},
			"if":     withDesc(ref("expression"), "Run the step only when true."),
			"action": obj{"enum": cat.Names()},
			"with":   obj{"type": "object"},
			"parallel": obj{"type": "object", "minProperties": 1, "description": "Branches that run at once.",
				"propertyNames": obj{"pattern": labelRE.String()}, "additionalProperties": ref("steps")},
			"call": obj{"type": "string", "pattern": nameRE.String(), "description": "A playbook run as a child workflow."},
			"approval": obj{"type": "object", "additionalProperties": false, "required": []string{"prompt"},
				"properties": obj{
					"prompt":     obj{"type": "string"},
					"approvers":  obj{"type": "array", "items": obj{"type": "string"}},
					"timeout":    ref("duration_or_template"),
					"on_timeout": obj{"enum": onTimeouts},
					"notify": obj{"type": "string", "minLength": 1,
						"description": "A chat webhook of notify.webhooks: the prompt, with a link to the run, is posted to it when the approval starts waiting."},
				}},
			"wait": obj{"anyOf": []any{ref("duration_or_template"), obj{"type": "object", "additionalProperties": false,
				"required": []string{"until"}, "properties": obj{"until": obj{"type": "string", "description": "An RFC 3339 time, or ${{ }} giving one."}}}}},
			"steps":  withDesc(ref("steps"), "A loop body: the steps each for_each item runs."),
			"set":    obj{"type": "object", "minProperties": 1, "propertyNames": obj{"pattern": identRE.String()}},
			"finish": obj{"type": "object", "additionalProperties": false, "properties": obj{"status": obj{"type": "string", "pattern": labelRE.String()}, "output": obj{"type": "object"}}},
			"fail":   obj{"type": "string", "minLength": 1},
			"next":   obj{"oneOf": []any{obj{"type": "string"}, obj{"type": "array", "items": nextRule}}},
			"for_each": obj{"oneOf": []any{ref("template"), obj{"type": "array", "maxItems": MaxForEachItems}},
				"description": "Run the step once per item."},
			"as":           obj{"type": "string", "pattern": identRE.String()},
			"concurrency":  obj{"type": "integer", "minimum": 1, "maximum": MaxConcurrency},
			"until":        withDesc(ref("expression"), "Repeat the step until true; output is in scope."),
			"every":        ref("duration_or_template"),
			"max_attempts": obj{"type": "integer", "minimum": 1, "maximum": MaxUntilAttempts},
			"retry": obj{"type": "object", "additionalProperties": false, "properties": obj{
				"max_attempts":     obj{"type": "integer", "minimum": 1, "maximum": MaxRetryAttempts},
				"initial_interval": ref("duration"),
				"backoff":          obj{"type": "number", "minimum": 1, "maximum": 10},
				"max_interval":     ref("duration"),
				"delay":            withDesc(ref("duration_or_template"), "A fixed wait between attempts (instead of initial_interval, backoff and max_interval)."),
				"non_retryable":    obj{"type": "array", "items": obj{"enum": action.ErrorTypes}},
			}},
			"timeout": ref("duration_or_template"),
			"on_error": obj{"oneOf": []any{
				obj{"enum": []string{plan.OnErrorFail, plan.OnErrorContinue}},
				obj{"type": "object", "additionalProperties": false, "required": []string{"goto"}, "properties": obj{"goto": obj{"type": "string"}}},
			}},
		},
	}
}

func withSchema(s *action.Spec) obj {
	props := obj{}
	var required []string
	for _, in := range s.Inputs {
		props[in.Name] = inputValueSchema(in)
		if in.Required {
			required = append(required, in.Name)
		}
	}
	o := obj{"type": "object", "additionalProperties": false, "properties": props, "description": s.Summary}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func inputValueSchema(in action.Input) obj {
	desc := in.Description
	if in.Secret {
		return obj{"type": "string", "pattern": `^\s*secret\(`, "description": desc + " Write secret(\"name\")."}
	}
	v := valueSchema(in.Type)
	if len(in.Enum) > 0 {
		v = obj{"enum": in.Enum}
	}
	if in.Min != nil {
		v["minimum"] = *in.Min
	}
	if in.Max != nil {
		v["maximum"] = *in.Max
	}
	if v["type"] == nil && v["enum"] == nil {
		return obj{"description": desc}
	}
	return obj{"anyOf": []any{v, ref("template")}, "description": desc}
}

func valueSchema(t action.Type) obj {
	switch t.Kind {
	case action.String:
		o := obj{"type": "string"}
		if f, ok := action.Formats[t.Format]; ok {
			o["description"] = strings.TrimPrefix(strings.TrimPrefix(f, "an "), "a ")
		}
		return o
	case action.Int:
		return obj{"type": "integer"}
	case action.Number:
		return obj{"type": "number"}
	case action.Bool:
		return obj{"type": "boolean"}
	case action.List:
		o := obj{"type": "array"}
		if t.Elem != nil && t.Elem.Kind != action.Any {
			o["items"] = obj{"anyOf": []any{valueSchema(*t.Elem), ref("template")}}
		}
		return o
	case action.Object:
		return obj{"type": "object"}
	}
	return obj{}
}
