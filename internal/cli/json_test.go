package cli

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/artifact"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/schedules"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
	"github.com/parry-soar/parry/workflows"
)

// approvedAt is when the fake Temporal records every approval.
var approvedAt = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// approvingTemporal is unreachable for starts (runs stay pending), records every approval as decided and
// cancels every run.
type approvingTemporal struct{ unreachableTemporal }

func (approvingTemporal) CancelWorkflow(context.Context, string, string) error { return nil }

func (approvingTemporal) UpdateWorkflow(_ context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	d := o.Args[0].(workflows.ApprovalDecision)
	return approvalHandle{workflows.ApprovalOutput{Approved: d.Approved, By: d.By, Comment: d.Comment, At: approvedAt}}, nil
}

type approvalHandle struct{ out workflows.ApprovalOutput }

func (approvalHandle) WorkflowID() string { return "" }
func (approvalHandle) RunID() string      { return "" }
func (approvalHandle) UpdateID() string   { return "" }
func (h approvalHandle) Get(_ context.Context, v any) error {
	*v.(*workflows.ApprovalOutput) = h.out
	return nil
}

// oneSchedule is a schedule service with one schedule, p#0.
type oneSchedule struct{}

func (oneSchedule) List(context.Context) ([]schedules.View, error) {
	return []schedules.View{{ID: "parry-playbook-p-0", Playbook: "p", Version: 1, Cron: "0 * * * *", Timezone: "UTC", State: "active"}}, nil
}

func (oneSchedule) Trigger(context.Context, string, int) (string, error) {
	return "parry-playbook-p-0", nil
}

const jsonPB = "name: p\nsteps:\n  - id: s1\n    action: cecp.sweep\n    with: { sender: a@evil.test }\n"

// everyRouteEnv serves every API route the CLI calls (runs with Temporal unreachable for starts, approvals
// recorded as decided, the registry, incidents, tokens, sources, schedules, artifacts) with an admin token.
// With seed, every list has an item but incidents: playbook p (version 1), a pending run of it, run r-wait
// waiting for the approval of step go and holding an artifact, an alert and the source alertmanager.
func everyRouteEnv(t *testing.T, seed bool) (map[string]string, *store.Store) {
	t.Helper()
	st := storetest.NewStore(t)
	ctx := context.Background()
	tc := approvingTemporal{}
	svc := &runs.Service{Store: st, Temporal: tc, Starter: &runs.Starter{Store: st, Temporal: tc, TaskQueue: "q"}}
	arts := artifact.New(t.TempDir(), st)
	s := &api.Server{Store: st, Runs: svc, Artifacts: arts}
	srcRoutes, err := s.SourceRoutes(api.SourceOptions{Secrets: secret.Static{"alertmanager-webhook": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	s.Extra = append(append(append(api.PlaybookRoutes(st, nil), api.IncidentRoutes(st)...), api.ScheduleRoutes(oneSchedule{})...), srcRoutes...)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	tok, _, err := st.CreateToken(ctx, "root", store.RoleAdmin, "test")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PARRY_URL": srv.URL, "PARRY_TOKEN": tok, "PARRY_DATA_DIR": t.TempDir()}
	if !seed {
		return env, st
	}
	pb := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(pb, []byte(jsonPB), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"playbook", "push", pb}, {"run", "start", pb}, {"source", "push", "../../deploy/sources/alertmanager.yaml"}} {
		if _, errOut, code := runCLI(t, env, "", args...); code != 0 {
			t.Fatalf("%v: %d %s", args, code, errOut)
		}
	}
	if _, err := st.InsertRun(ctx, store.Run{ID: "r-wait", PlaybookName: "p", PlaybookSHA256: "abc", Status: store.RunRunning, Plan: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetRunWaiting(ctx, "r-wait", store.RunWaiting, "approval of go", json.RawMessage(`[{"step":"go","kind":"approval","until":"2030-01-02T03:04:05Z","prompt":"Go?"}]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := arts.Put(ctx, artifact.Meta{RunID: "r-wait", StepID: "dl", Kind: "quarantined-mail", Name: "mail.zip"}, []byte("zip")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.InsertAlerts(ctx, []store.NewAlert{{Source: "siem", Kind: "phish", Severity: "high", Title: "t", ObservedAt: time.Now()}}, "test"); err != nil {
		t.Fatal(err)
	}
	return env, st
}

// cecpListCommands are the list commands of parry cecp (the vendor's items); each prints {"items": [...]} with
// --json, as listCommands do. The last lists nothing: an empty list has the same shape.
var cecpListCommands = [][]string{
	{"cecp", "sweep"},
	{"cecp", "security-events", "--service", "exchange", "--event", "securityrisk"},
	{"cecp", "quarantine-events"},
	{"cecp", "mitigation-results", "--batch-id", "none"},
}

func TestCECPListJSONHasOneShape(t *testing.T) {
	f := newFakeCECP(t)
	for i, args := range cecpListCommands {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, f.env(), "", append(args, "--base-url", f.srv.URL, "--json")...)
			var shape map[string][]map[string]any
			if code != 0 || json.Unmarshal([]byte(out), &shape) != nil || len(shape) != 1 || shape["items"] == nil {
				t.Fatalf("exit %d %s\nstdout %s", code, errOut, out)
			}
			if empty := i == len(cecpListCommands)-1; empty != (len(shape["items"]) == 0) {
				t.Fatalf("items: %s", out)
			}
			// Printed item by item, yet as writeList prints every other list (the vendor's field order kept).
			var raw struct{ Items []json.RawMessage }
			var again strings.Builder
			if json.Unmarshal([]byte(out), &raw) != nil || writeList(&again, raw.Items) != nil || out != again.String() {
				t.Errorf("stdout\n%s\nis not as writeList prints it\n%s", out, again.String())
			}
		})
	}
	// A list command's output feeds the commands that read mails or events.
	mails, err := parseItems([]byte("{\n  \"items\": [\n    {\"mailbox\": \"a@b.example\"},\n    {\"mailbox\": \"c@d.example\"}\n  ]\n}\n{\"items\": []}\n"))
	if err != nil || len(mails) != 2 || mails[1].(map[string]any)["mailbox"] != "c@d.example" {
		t.Errorf("parseItems: %v %v", mails, err)
	}
	ev, err := parseOneQuarantineEvent([]byte(`{"items": [{"mail_message": {"mailbox": "a@b.example"}}]}`))
	if _, err2 := parseOneQuarantineEvent([]byte(`{"items": []}`)); err != nil || err2 == nil {
		t.Errorf("parseOneQuarantineEvent: %+v %v; of none: %v", ev, err, err2)
	}
}

// jsonExempt are the commands that print a result without --json, and why.
var jsonExempt = map[string]string{
	"parry dev":          "runs until Ctrl-C",
	"parry server":       "runs until stopped",
	"parry worker":       "runs until stopped",
	"parry sim":          "runs until Ctrl-C",
	"parry graph":        "a drawing in the format --format names (mermaid or dot)",
	"parry run export":   "writes the export, a JSON document, to -o FILE (- for stdout)",
	"parry run artifact": "writes the artifact's bytes to -o FILE",
}

// TestEveryCommandTakesJSON: every command that prints a result offers --json (issue 14), but the few above.
func TestEveryCommandTakesJSON(t *testing.T) {
	a := &app{stdin: strings.NewReader(""), stdout: &strings.Builder{}, stderr: &strings.Builder{}, getenv: func(string) string { return "" }}
	seen := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() {
			for _, sub := range c.Commands() {
				walk(sub)
			}
			return
		}
		path := c.CommandPath()
		seen[path] = true
		_, exempt := jsonExempt[path]
		f := c.Flags().Lookup("json")
		switch {
		case exempt && f != nil:
			t.Errorf("%s has --json now: take it off jsonExempt", path)
		case !exempt && (f == nil || f.Value.Type() != "bool"):
			t.Errorf("%s prints a result without --json", path)
		}
	}
	walk(a.newRootCmd())
	for path := range jsonExempt {
		if !seen[path] {
			t.Errorf("jsonExempt names %s, which is no command", path)
		}
	}
}

// timeRE matches the RFC 3339 times of the API's JSON.
var timeRE = regexp.MustCompile(`"20\d\d-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d)"`)

// TestActionJSON: a command whose result is an action prints one stable object with --json (README, Exit
// codes): the API's answer, with the run (and step) it concerns where the answer does not name them.
func TestActionJSON(t *testing.T) {
	env, st := everyRouteEnv(t, true)
	ctx := context.Background()
	// A failed run of p to retry, and an incident to close.
	p, _ := playbook.Load("p.yaml", []byte(jsonPB))
	planJSON, err := plan.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.InsertRun(ctx, store.Run{ID: "r-failed", PlaybookName: "p", PlaybookVersion: 1, PlaybookSHA256: "abc", Status: store.RunRunning, Plan: planJSON}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateRun(ctx, store.RunUpdate{ID: "r-failed", Status: store.RunFailed, FailedStep: "s1", Error: "boom", FinishedAt: &approvedAt,
		Steps: json.RawMessage(`{"s1":{"status":"failed","error":{"type":"VendorUnavailable","message":"boom"}}}`)}); err != nil {
		t.Fatal(err)
	}
	alerts, err := st.InsertAlerts(ctx, []store.NewAlert{{Source: "siem", Kind: "phish", Severity: "high", Title: "t", ObservedAt: time.Now()}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	var inc int64
	if err := st.Pool.QueryRow(ctx, `INSERT INTO incidents (playbook_name, playbook_version, dedup_key, run_id, first_alert_id, alert_count, window_ends_at, last_alert_at)
		VALUES ('p', 1, 'a@evil.test', 'r-wait', $1, 1, now(), now()) RETURNING id`, alerts[0].ID).Scan(&inc); err != nil {
		t.Fatal(err)
	}
	pending := regexp.MustCompile(`"run_id": "[^"]+-retry-of-r-failed"`)
	prefix := regexp.MustCompile(`"prefix": "pry_[^"]*"`)
	id := regexp.MustCompile(`"id": \d+`)
	for _, tc := range []struct {
		name   string
		args   []string
		stdout string
	}{
		{"run approve", []string{"run", "approve", "r-wait", "go", "--comment", "ok", "--json"},
			"{\n  \"run_id\": \"r-wait\",\n  \"step\": \"go\",\n  \"approved\": true,\n  \"by\": \"root\",\n  \"comment\": \"ok\",\n  \"at\": TIME\n}\n"},
		{"run approve --reject", []string{"run", "approve", "r-wait", "go", "--reject", "--json"},
			"{\n  \"run_id\": \"r-wait\",\n  \"step\": \"go\",\n  \"approved\": false,\n  \"by\": \"root\",\n  \"comment\": \"\",\n  \"at\": TIME\n}\n"},
		{"run retry", []string{"run", "retry", "r-failed", "--json"},
			"{\n  \"run_id\": \"RETRY\",\n  \"status\": \"pending\",\n  \"output\": null,\n  \"steps\": []\n}\n"},
		{"run cancel", []string{"run", "cancel", "r-wait", "--json"}, "{\n  \"run_id\": \"r-wait\",\n  \"status\": \"cancelling\"\n}\n"},
		{"incident close", []string{"incident", "close", jsonNumber(inc), "--json"},
			"{\n  \"closed_now\": true,\n  \"incident\": {\n    \"id\": ID,\n    \"playbook\": \"p\",\n    \"version\": 1,\n    \"dedup_key\": \"a@evil.test\",\n" +
				"    \"status\": \"closed\",\n    \"run_id\": \"r-wait\",\n    \"first_alert_id\": ID,\n    \"alert_count\": 1,\n    \"opened_at\": TIME,\n" +
				"    \"window_ends_at\": TIME,\n    \"last_alert_at\": TIME,\n    \"closed_at\": TIME,\n    \"closed_by\": \"token:root\"\n  }\n}\n"},
		{"incident close again", []string{"incident", "close", jsonNumber(inc), "--json"}, "{\n  \"closed_now\": false,\n  \"incident\": {\n    \"id\": ID,\n"},
		{"playbook enable", []string{"playbook", "enable", "p", "--json"}, "{\n  \"id\": ID,\n  \"name\": \"p\",\n  \"version\": 1,\n"},
		{"playbook disable", []string{"playbook", "disable", "p", "--json"}, "{\n  \"name\": \"p\",\n  \"was_enabled\": true\n}\n"},
		{"playbook disable again", []string{"playbook", "disable", "p", "--json"}, "{\n  \"name\": \"p\",\n  \"was_enabled\": false\n}\n"},
		{"playbook diff", []string{"playbook", "diff", "p", "1", "1", "--json"}, "{\n  \"name\": \"p\",\n  \"from\": 1,\n  \"to\": 1,\n  \"diff\": \"\"\n}\n"},
		{"token revoke", []string{"token", "revoke", "viewer", "--json"},
			"{\n  \"revoked\": {\n    \"id\": ID,\n    \"name\": \"viewer\",\n    \"role\": \"viewer\",\n    \"prefix\": \"PREFIX\",\n    \"created_at\": TIME,\n" +
				"    \"created_by\": \"root\",\n    \"last_used_at\": null,\n    \"revoked_at\": TIME\n  }\n}\n"},
		{"schedule trigger", []string{"schedule", "trigger", "p", "--json"}, "{\n  \"schedule\": \"parry-playbook-p-0\",\n  \"playbook\": \"p\",\n  \"index\": 0\n}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "token revoke" {
				if _, errOut, code := runCLI(t, env, "", "token", "create", "--name", "viewer", "--role", "viewer"); code != 0 {
					t.Fatalf("token create: %d %s", code, errOut)
				}
			}
			out, errOut, code := runCLI(t, env, "", tc.args...)
			out = timeRE.ReplaceAllString(out, "TIME")
			out = pending.ReplaceAllString(out, `"run_id": "RETRY"`)
			out = id.ReplaceAllString(prefix.ReplaceAllString(out, `"prefix": "PREFIX"`), `"id": ID`)
			out = strings.ReplaceAll(out, `"first_alert_id": `+jsonNumber(alerts[0].ID), `"first_alert_id": ID`)
			if code != 0 || !strings.HasPrefix(out, tc.stdout) || strings.HasSuffix(tc.stdout, "}\n") && out != tc.stdout {
				t.Fatalf("exit %d, stderr %q\nstdout\n%s\nwant\n%s", code, errOut, out, tc.stdout)
			}
		})
	}
	// The diff of two versions is the unified diff the command prints without --json.
	pb := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(pb, []byte(strings.Replace(jsonPB, "a@evil.test", "b@evil.test", 1)), 0o600)
	if _, errOut, code := runCLI(t, env, "", "playbook", "push", pb); code != 0 {
		t.Fatalf("push: %d %s", code, errOut)
	}
	text, _, _ := runCLI(t, env, "", "playbook", "diff", "p", "1", "2")
	out, _, code := runCLI(t, env, "", "playbook", "diff", "p", "1", "2", "--json")
	var d diffJSON
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || d != (diffJSON{Name: "p", From: 1, To: 2, Diff: text}) || !strings.Contains(text, "+    with: { sender: b@evil.test }\n") {
		t.Errorf("diff --json: %d %s\ntext:\n%s", code, out, text)
	}
}

// TestOtherResultsJSON: the commands that print something other than an API object offer --json too.
func TestOtherResultsJSON(t *testing.T) {
	env, _ := everyRouteEnv(t, false)
	out, errOut, code := runCLI(t, env, "", "console", "link", "--role", "viewer", "--ttl", "1m", "--json")
	var link map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &link) != nil || len(link) != 3 || link["role"] != "viewer" ||
		!strings.HasPrefix(link["url"].(string), env["PARRY_URL"]+"/#/signin?code="+store.SigninCodePrefix) || !timeRE.MatchString(`"`+link["expires_at"].(string)+`"`) {
		t.Errorf("console link --json: %d %s\n%s", code, errOut, out)
	}
	out, _, code = runCLI(t, nil, "", "payload-key", "new", "--id", "k2", "--json")
	if code != 0 || !regexp.MustCompile(`^\{\n  "id": "k2",\n  "line": "k2:[A-Za-z0-9+/]{43}="\n\}\n$`).MatchString(out) {
		t.Errorf("payload-key new --json: %d %q", code, out)
	}
	out, errOut, code = runCLI(t, map[string]string{"PARRY_DATABASE_URL": storetest.URL(t)}, "", "migrate", "--json")
	if code != 0 || out != "{\n  \"applied\": []\n}\n" {
		t.Errorf("migrate --json on a migrated database: %d %q %s", code, out, errOut)
	}
	// Commands whose output is JSON already take --json and print the same.
	dir := t.TempDir()
	pb := filepath.Join(dir, "p.yaml")
	os.WriteFile(pb, []byte(jsonPB), 0o600)
	for _, args := range [][]string{{"compile", pb}, {"schema"}} {
		plain, _, code1 := runCLI(t, nil, "", args...)
		withJSON, _, code2 := runCLI(t, nil, "", append(args, "--json")...)
		if code1 != 0 || code2 != 0 || plain != withJSON || !json.Valid([]byte(plain)) {
			t.Errorf("%v --json: exit %d, %d; same output %v", args, code1, code2, plain == withJSON)
		}
	}
	if out, _, code := runCLI(t, env, "", "health", "--json"); code != 0 || !json.Valid([]byte(out)) {
		t.Errorf("health --json: %d %s", code, out)
	}
}

// jsonKeys lists an object's keys, sorted (for messages).
func jsonKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
