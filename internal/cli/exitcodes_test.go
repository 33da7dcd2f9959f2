package cli

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/parry-soar/parry/internal/config"
)

// unreachableTemporal answers every start with Unavailable: runs are recorded and stay pending.
type unreachableTemporal struct{ client.Client }

func (unreachableTemporal) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, serviceerror.NewUnavailable("connection refused")
}

// fullEnv serves every API route (runs with Temporal unreachable, registry, incidents, tokens, sources,
// schedules, artifacts) and returns the CLI's environment with an admin token.
func fullEnv(t *testing.T) map[string]string {
	t.Helper()
	env, _ := everyRouteEnv(t, false)
	return env
}

const usageHint = "Run 'parry help' or 'parry <command> --help' for usage.\n"

// TestBadValuesAreUsageErrors: a bad flag or argument value exits 2 with one line saying what is wrong, the
// same whether the CLI's flag parser or the API refused it, and prints nothing on stdout.
func TestBadValuesAreUsageErrors(t *testing.T) {
	env := fullEnv(t)
	pb := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(pb, []byte("name: p\nsteps:\n  - id: s1\n    action: cecp.sweep\n    with: { sender: a@evil.test }\n"), 0o600)
	if _, errOut, code := runCLI(t, env, "", "run", "start", pb, "--run-id", "r1"); code != 0 {
		t.Fatalf("start: %d %s", code, errOut)
	}
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"run", "list", "--status", "broken"}, `parry: status must be pending, running, waiting, succeeded, failed or cancelled, not "broken"`},
		{[]string{"run", "list", "--since", "1week"}, `parry: since "1week" is neither a duration (24h, 30m) nor an RFC 3339 time (2026-01-02T03:04:05Z)`},
		{[]string{"run", "list", "--limit", "0"}, `parry: --limit 0: give a number from 1 to 1000`},
		{[]string{"run", "list", "--limit", "-2"}, `parry: limit "-2" must be a whole number from 1 to 1000`},
		{[]string{"run", "list", "--limit", "many"}, `parry: --limit "many": want a whole number`},
		{[]string{"run", "list", "--incident", "-3"}, `parry: incident "-3" is not a positive whole number`},
		{[]string{"run", "list", "--playbook", "Not A Name"}, `parry: playbook: "Not A Name" is not a playbook name ([a-z][a-z0-9-]*, at most 100 characters)`},
		{[]string{"run", "show", "a\x00b"}, `parry: the id in the path holds a NUL character (\u0000)`},
		{[]string{"run", "show", ""}, `parry: the run id is empty`},
		{[]string{"run", "retry", "r1", "--version", "2", "--latest"}, `parry: give at most one of source, version and latest`},
		{[]string{"run", "retry", "r1", "--wait=maybe"}, `parry: --wait "maybe": want true or false`},
		{[]string{"incident", "list", "--status", "shut"}, `parry: status must be open or closed, not "shut"`},
		{[]string{"incident", "list", "--limit", "5000"}, `parry: limit "5000" must be a whole number from 1 to 1000`},
		{[]string{"incident", "show", "x"}, `parry: incident id "x" is not a number`},
		{[]string{"playbook", "show", "p", "--version", "99999999999"}, `parry: version must be a positive whole number at most 2147483647`},
		{[]string{"playbook", "show", "p", "--version", "-1"}, `parry: version must be a positive whole number at most 2147483647`},
		{[]string{"playbook", "enable", "p", "--version", "-1"}, `parry: version must be a positive whole number at most 2147483647`},
		{[]string{"playbook", "versions", "Bad"}, `parry: "Bad" is not a playbook name ([a-z][a-z0-9-]*, at most 100 characters)`},
		{[]string{"token", "create", "--name", "x", "--role", "root"}, `parry: unknown role "root" (roles: ingest, viewer, responder, author, admin)`},
		{[]string{"token", "revoke", "has space"}, `parry: token name must not hold spaces or slashes`},
		{[]string{"token", "list", "--all=sometimes"}, `parry: --all "sometimes": want true or false`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, env, "", tc.args...)
			if code != 2 || out != "" || errOut != tc.stderr+"\n"+usageHint {
				t.Fatalf("exit %d, stdout %q\nstderr %q\nwant   %q", code, out, errOut, tc.stderr+"\n"+usageHint)
			}
		})
	}
}

// listCommands are every list command of the API's objects; each prints {"items": [...]} with --json (the
// cecp commands' lists of the vendor's items are cecpListCommands).
var listCommands = [][]string{
	{"run", "list"},
	{"incident", "list"},
	{"playbook", "list"},
	{"playbook", "versions", "p"},
	{"token", "list"},
	{"alert", "list"},
	{"approval", "list"},
	{"audit", "list"},
	{"run", "artifacts", "r-wait"},
	{"schedule", "list"},
	{"source", "list"},
}

func TestListJSONHasOneShape(t *testing.T) {
	env, _ := everyRouteEnv(t, true)
	for _, args := range listCommands {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, env, "", append(args, "--json")...)
			var shape map[string]json.RawMessage
			if code != 0 || json.Unmarshal([]byte(out), &shape) != nil || len(shape) != 1 || !strings.HasPrefix(out, "{\n  \"items\": [") {
				t.Fatalf("exit %d %s\nstdout %s", code, errOut, out)
			}
			var items []map[string]any
			if err := json.Unmarshal(shape["items"], &items); err != nil || items == nil {
				t.Fatalf("items (keys %v): %s", jsonKeys(shape), out)
			}
			if args[0] != "incident" && len(items) == 0 {
				t.Fatalf("no items: %s", out)
			}
		})
	}
	// Every list command is in the table: a new one cannot pick another shape unnoticed.
	listed := map[string]bool{}
	for _, args := range append(append([][]string{}, listCommands...), cecpListCommands...) {
		listed["parry "+args[0]+" "+args[1]] = true
	}
	a := &app{stdin: strings.NewReader(""), stdout: &strings.Builder{}, stderr: &strings.Builder{}, getenv: func(string) string { return "" }}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.Name() == "list" && !listed[c.CommandPath()] {
			t.Errorf("%s is not in listCommands", c.CommandPath())
		}
	}
	walk(a.newRootCmd())
}

// TestFailedCommandsPrintNothingOnStdout: without a token (exit 1 with the fix, no usage hint) and with the
// API down, no list command prints a table header or anything else on stdout.
func TestFailedCommandsPrintNothingOnStdout(t *testing.T) {
	dataDir := t.TempDir()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + l.Addr().String()
	l.Close()
	for _, args := range listCommands {
		for _, json := range []bool{false, true} {
			a := args
			if json {
				a = append(append([]string{}, args...), "--json")
			}
			out, errOut, code := runCLI(t, map[string]string{"PARRY_URL": down, "PARRY_DATA_DIR": dataDir}, "", a...)
			if code != 1 || out != "" || !strings.HasPrefix(errOut, "parry: no API token: set PARRY_TOKEN") || strings.Contains(errOut, "Run 'parry help'") {
				t.Errorf("%v without a token: exit %d, stdout %q, stderr %q", a, code, out, errOut)
			}
			out, errOut, code = runCLI(t, map[string]string{"PARRY_URL": down, "PARRY_TOKEN": "pry_x"}, "", a...)
			if code != 1 || out != "" || !strings.HasPrefix(errOut, "parry: cannot reach the parry API at "+down+": nothing listens there") {
				t.Errorf("%v with the API down: exit %d, stdout %q, stderr %q", a, code, out, errOut)
			}
		}
	}
}

// TestEmptyTokenFileIsAFailure: an empty token file is a missing token (exit 1 naming the file and the fix),
// not a request the API refuses for its missing header.
func TestEmptyTokenFileIsAFailure(t *testing.T) {
	dataDir := t.TempDir()
	if err := os.WriteFile(config.AdminTokenFile(dataDir), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, map[string]string{"PARRY_URL": "http://127.0.0.1:1", "PARRY_DATA_DIR": dataDir}, "", "run", "list")
	want := "parry: no API token: " + config.AdminTokenFile(dataDir) + " is empty; write a token into it (create one with `parry token create`) or set PARRY_TOKEN\n"
	if code != 1 || out != "" || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr %q\nwant %q", code, out, errOut, want)
	}
}
