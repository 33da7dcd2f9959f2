package cli

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

func TestAlertSend(t *testing.T) {
	st := storetest.NewStore(t)
	srv := httptest.NewServer((&api.Server{Store: st}).Handler())
	defer srv.Close()
	tok, _, err := st.CreateToken(context.Background(), "ingest", store.RoleIngest, "test")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PARRY_URL": srv.URL, "PARRY_TOKEN": tok}
	file := filepath.Join(t.TempDir(), "alerts.ndjson")
	os.WriteFile(file, []byte(`{"id":"a1","source":"siem","kind":"phish","severity":"high","title":"t","observed_at":"2026-11-23T10:00:00Z"}
{"id":"a1","source":"siem","kind":"phish","severity":"high","title":"t","observed_at":"2026-11-23T10:00:00Z"}
`), 0o600)
	out, errOut, code := runCLI(t, env, "", "alert", "send", file)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasSuffix(lines[0], "\taccepted") || !strings.HasSuffix(lines[1], "\tduplicate") || errOut != "1 accepted, 1 duplicates\n" {
		t.Fatalf("send: %d %q %q", code, out, errOut)
	}
	// A rejected batch: every problem of every alert, one a line, and exit 1 (the file was wrong, not a flag).
	out, errOut, code = runCLI(t, env, `[{"source":"siem"}, {"source":"siem","kind":"phish","title":"t","severity":"hgh","colour":"red"},
		{"source":"siem","kind":"phish","title":"t","severity":"low"}, {"source":"siem","kind":"phish","title":"t","severity":"hgh","observed_at":"soon"}]`, "alert", "send", "-")
	want := "parry: alert 0: kind is required\n" +
		"parry: alert 0: title is required\n" +
		"parry: alert 0: severity is required (one of info, low, medium, high, critical)\n" +
		"parry: alert 1: unknown field \"colour\" (alert fields: id, source, kind, severity, title, connection, observed_at, data)\n" +
		"parry: alert 3: severity must be one of info, low, medium, high, critical, not \"hgh\" (did you mean \"high\"?)\n" +
		"parry: alert 3: observed_at \"soon\" is not an RFC 3339 time (like 2026-01-02T03:04:05Z)\n" +
		"parry: 6 problems; nothing was stored\n"
	if code != 1 || out != "" || errOut != want {
		t.Fatalf("invalid: exit %d, stdout %q\nstderr\n%s\nwant\n%s", code, out, errOut, want)
	}
	if stored, err := st.ListAlerts(context.Background(), store.AlertQuery{Limit: 100}); err != nil || len(stored) != 1 {
		t.Fatalf("%d alerts stored (%v), want the first file's 1", len(stored), err)
	}
	_, errOut, code = runCLI(t, env, `{"source":"siem","kind":"phish","title":"t"}`, "alert", "send", "-")
	if code != 1 || errOut != "parry: alert 0: severity is required (one of info, low, medium, high, critical)\nparry: 1 problem; nothing was stored\n" {
		t.Fatalf("one problem: %d %q", code, errOut)
	}
	_, errOut, code = runCLI(t, env, "", "alert", "send", "/nonexistent.json")
	if code != 1 || errOut != "parry: reading alerts from /nonexistent.json: no such file or directory\n" {
		t.Fatalf("missing file: %d %q", code, errOut)
	}
}

// TestRunStartAlertProblems: run start --alert lists every problem of the alert, as alert send does.
func TestRunStartAlertProblems(t *testing.T) {
	env, _ := everyRouteEnv(t, false)
	pb := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(pb, []byte(jsonPB), 0o600)
	out, errOut, code := runCLI(t, env, `{"source":"siem","severity":"high"}`, "run", "start", pb, "--alert", "-")
	want := "parry: alert: kind is required\nparry: alert: title is required\nparry: 2 problems; the run was not started\n"
	if code != 1 || out != "" || errOut != want {
		t.Fatalf("exit %d, stdout %q\nstderr\n%s\nwant\n%s", code, out, errOut, want)
	}
}
