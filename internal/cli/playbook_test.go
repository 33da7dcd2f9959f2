package cli

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

// registryEnv serves the API with the registry and incident routes and returns the CLI's environment.
func registryEnv(t *testing.T) (map[string]string, *store.Store) {
	t.Helper()
	st := storetest.NewStore(t)
	srv := httptest.NewServer((&api.Server{Store: st, Extra: append(api.PlaybookRoutes(st, nil), api.IncidentRoutes(st)...)}).Handler())
	t.Cleanup(srv.Close)
	tok, _, err := st.CreateToken(context.Background(), "author", store.RoleAuthor, "test")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"PARRY_URL": srv.URL, "PARRY_TOKEN": tok, "PARRY_DATA_DIR": t.TempDir()}, st
}

const cliPB = "name: alpha\ndescription: one\nsteps:\n  - id: pause\n    wait: 1m\n"

func TestPlaybookCommands(t *testing.T) {
	env, _ := registryEnv(t)
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("alpha.yaml", cliPB)
	write("beta.yml", strings.Replace(cliPB, "alpha", "beta", 1))
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: bad\nsteps:\n  - id: x\n    acton: cecp.sweep\n"), 0o644)
	sha := regexp.MustCompile(`\b[0-9a-f]{12}\b`)
	when := regexp.MustCompile(`20\d\d-\d\d-\d\d \d\d:\d\d:\d\dZ`)

	edited := filepath.Join(dir, "alpha.yaml")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"push dir", []string{"playbook", "push", dir}, 0, "alpha\tversion 1\tcreated\nbeta\tversion 1\tcreated\n", ""},
		{"push again", []string{"playbook", "push", "--enable", a}, 0, "alpha\tversion 1\tunchanged, enabled\n", ""},
		{"push lint error", []string{"playbook", "push", a, bad}, 1, "",
			bad + ":3:5: error: step \"x\" does nothing: give it one of action, parallel, call, approval, wait, set, finish, fail, steps\n" +
				bad + ":4:5: error: unknown key \"acton\" in step \"x\" (did you mean \"action\"?)\nnothing was pushed\n"},
		{"push nothing", []string{"playbook", "push"}, 2, "", "parry: parry playbook push needs FILE or DIR\nRun 'parry help' or 'parry <command> --help' for usage.\n"},
		{"push missing file", []string{"playbook", "push", filepath.Join(dir, "nope.yaml")}, 1, "", "parry: reading " + filepath.Join(dir, "nope.yaml") + ": no such file or directory\n"},
		{"edit", []string{"playbook", "push", edited}, 0, "alpha\tversion 2\tcreated\n", ""},
		{"list", []string{"playbook", "list"}, 0, "NAME   ENABLED  LATEST  VERSIONS  SHA256\nalpha  1        2       2         SHA\nbeta   -        1       1         SHA\n", ""},
		{"versions", []string{"playbook", "versions", "alpha"}, 0,
			"VERSION  ENABLED  SHA256        CREATED               BY\n2                 SHA  TIME  token:author\n1        yes      SHA  TIME  token:author\n", ""},
		{"show", []string{"playbook", "show", "alpha"}, 0, cliPB, "alpha version 1 (enabled), sha256 SHA"},
		{"show version", []string{"playbook", "show", "alpha", "--version", "2"}, 0, strings.Replace(cliPB, "one", "two", 1), "alpha version 2 (disabled)"},
		{"show missing", []string{"playbook", "show", "alpha", "--version", "9"}, 1, "", "parry: playbook \"alpha\" has no version 9 (HTTP 404 not_found)\n"},
		{"diff", []string{"playbook", "diff", "alpha", "1", "2"}, 0,
			"--- alpha v1\n+++ alpha v2\n@@ -1,5 +1,5 @@\n name: alpha\n-description: one\n+description: two\n steps:\n   - id: pause\n     wait: 1m\n", ""},
		{"diff same", []string{"playbook", "diff", "alpha", "v1", "v1"}, 0, "", "versions 1 and 1 have the same source\n"},
		{"diff bad version", []string{"playbook", "diff", "alpha", "one", "2"}, 2, "", "parry: version \"one\" is not a positive number\n"},
		{"enable latest", []string{"playbook", "enable", "alpha"}, 0, "alpha\tversion 2\tenabled\n", ""},
		{"disable", []string{"playbook", "disable", "alpha"}, 0, "alpha\tdisabled\n", ""},
		{"disable again", []string{"playbook", "disable", "alpha"}, 0, "alpha\twas not enabled\n", ""},
		{"enable unknown", []string{"playbook", "enable", "ghost"}, 1, "", "parry: no playbook \"ghost\" (HTTP 404 not_found)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "edit" {
				write("alpha.yaml", strings.Replace(cliPB, "one", "two", 1))
			}
			out, errOut, code := runCLI(t, env, "", tc.args...)
			out = when.ReplaceAllString(sha.ReplaceAllString(out, "SHA"), "TIME")
			errOut = regexp.MustCompile(`sha256 [0-9a-f]{64}`).ReplaceAllString(errOut, "sha256 SHA")
			if code != tc.code || out != tc.stdout || !strings.HasPrefix(errOut, tc.stderr) || tc.stderr == "" && errOut != "" {
				t.Fatalf("exit %d, want %d\nstdout %q\nwant   %q\nstderr %q\nwant   %q", code, tc.code, out, tc.stdout, errOut, tc.stderr)
			}
		})
	}
	out, _, code := runCLI(t, env, "", "playbook", "show", "beta", "--plan")
	if code != 0 || !strings.HasPrefix(out, "{\n") || !strings.Contains(out, `"name": "beta"`) {
		t.Fatalf("show --plan: %d %s", code, out)
	}
}

func TestIncidentCommands(t *testing.T) {
	env, st := registryEnv(t)
	ctx := context.Background()
	tok, _, err := st.CreateToken(ctx, "responder", store.RoleResponder, "test")
	if err != nil {
		t.Fatal(err)
	}
	env["PARRY_TOKEN"] = tok
	ins, err := st.InsertAlerts(ctx, []store.NewAlert{
		{Source: "siem", Kind: "phish", Severity: "high", Title: "Phish from a@evil.test", ObservedAt: time.Now()},
		{Source: "siem", Kind: "phish", Severity: "low", Title: "Again", ObservedAt: time.Now()},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := st.Pool.QueryRow(ctx, `INSERT INTO incidents (playbook_name, playbook_version, dedup_key, run_id, first_alert_id, alert_count, window_ends_at, last_alert_at)
		VALUES ('phish', 3, 'a@evil.test', 'alert-phish-1', $1, 2, now(), now()) RETURNING id`, ins[0].ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	st.Pool.Exec(ctx, "INSERT INTO incident_alerts (incident_id, alert_id) VALUES ($1, $2), ($1, $3)", id, ins[0].ID, ins[1].ID)
	if _, err := store.InsertRun(ctx, st.Pool, store.Run{ID: "alert-phish-1", PlaybookName: "phish", PlaybookVersion: 3, PlaybookSHA256: "abc", IncidentID: &id}); err != nil {
		t.Fatal(err)
	}
	when := regexp.MustCompile(`20\d\d-\d\d-\d\d \d\d:\d\d:\d\dZ`)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"list", []string{"incident", "list", "--status", "open"}, 0,
			"ID  STATUS  PLAYBOOK  VERSION  ALERTS  OPENED                RUN            KEY\n1   open    phish     3        2       TIME  alert-phish-1  a@evil.test\n", ""},
		{"bad status", []string{"incident", "list", "--status", "shut"}, 2, "", "parry: status must be open or closed, not \"shut\"\n"},
		{"show", []string{"incident", "show", "1"}, 0,
			"Incident 1\topen\nPlaybook\tphish version 3\nKey\ta@evil.test\nOpened\tTIME (window until TIME)\n\nRuns\n" +
				"  ID             STATUS   VERSION  STARTED  FINISHED\n  alert-phish-1  pending  3        -        -\n\nAlerts (2)\n" +
				"  ID  RECEIVED              SOURCE  KIND   SEVERITY  TITLE\n  1   TIME  siem    phish  high      Phish from a@evil.test\n  2   TIME  siem    phish  low       Again\n", ""},
		{"show bad id", []string{"incident", "show", "x"}, 2, "", "parry: incident id \"x\" is not a number\n"},
		{"show unknown", []string{"incident", "show", "42"}, 1, "", "parry: no incident 42 (HTTP 404 not_found)\n"},
		{"close", []string{"incident", "close", "1"}, 0, "incident 1 closed\n", ""},
		{"close again", []string{"incident", "close", "1"}, 0, "incident 1 was closed already\n", ""},
		{"list open", []string{"incident", "list", "--status", "open"}, 0, "ID  STATUS  PLAYBOOK  VERSION  ALERTS  OPENED  RUN  KEY\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, env, "", tc.args...)
			out = when.ReplaceAllString(out, "TIME")
			if code != tc.code || out != tc.stdout || !strings.HasPrefix(errOut, tc.stderr) || tc.stderr == "" && errOut != "" {
				t.Fatalf("exit %d, want %d\nstdout %q\nwant   %q\nstderr %q\nwant   %q", code, tc.code, out, tc.stdout, errOut, tc.stderr)
			}
		})
	}
	out, _, code := runCLI(t, env, "", "incident", "list", "--json")
	if code != 0 || !strings.Contains(out, `"status": "closed"`) || !strings.Contains(out, `"closed_by": "token:responder"`) {
		t.Fatalf("list --json: %d %s", code, out)
	}
}
