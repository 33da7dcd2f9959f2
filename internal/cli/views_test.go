package cli

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/artifact"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

// viewsEnv serves the API (runs without Temporal: the views read the database only) with one run waiting
// for an approval and holding an artifact, and one pending alert.
func viewsEnv(t *testing.T, role store.Role) (map[string]string, *store.Store) {
	t.Helper()
	st := storetest.NewStore(t)
	ctx := context.Background()
	arts := artifact.New(t.TempDir(), st)
	srv := httptest.NewServer((&api.Server{Store: st, Runs: &runs.Service{Store: st}, Artifacts: arts}).Handler())
	t.Cleanup(srv.Close)
	tok, _, err := st.CreateToken(ctx, "rob", role, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.InsertRun(ctx, store.Run{ID: "r1", PlaybookName: "p", PlaybookSHA256: "abc", Status: store.RunRunning, Plan: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetRunWaiting(ctx, "r1", store.RunWaiting, "approval of go", json.RawMessage(`[{"step":"go","kind":"approval","until":"2030-01-02T03:04:05Z","prompt":"Go?"}]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := arts.Put(ctx, artifact.Meta{RunID: "r1", StepID: "dl", Kind: "quarantined-mail", Name: "mail.zip"}, []byte("zip")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.InsertAlerts(ctx, []store.NewAlert{{Source: "siem", Kind: "phish", Severity: "high", Title: "Odd <b>mail</b>", ObservedAt: time.Now()}}, "test"); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"PARRY_URL": srv.URL, "PARRY_TOKEN": tok}, st
}

func TestAlertListAndShow(t *testing.T) {
	env, st := viewsEnv(t, store.RoleViewer)
	out, errOut, code := runCLI(t, env, "", "alert", "list")
	if code != 0 || !strings.HasPrefix(out, "ALERT  RECEIVED") || !strings.Contains(out, `"Odd <b>mail</b>"  pending  waiting for the dispatcher`) {
		t.Fatalf("list: %d %q %q", code, out, errOut)
	}
	out, _, code = runCLI(t, env, "", "alert", "list", "--json", "--since", "1h", "--status", "pending")
	var list struct {
		Items []struct {
			ID     int64
			Reason string
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 1 || list.Items[0].Reason != "waiting for the dispatcher" {
		t.Fatalf("list --json: %d %s", code, out)
	}
	id := list.Items[0].ID
	for _, args := range [][]string{{"--status", "broken"}, {"--since", "1week"}, {"--limit", "0"}} {
		if _, errOut, code = runCLI(t, env, "", append([]string{"alert", "list"}, args...)...); code != 2 {
			t.Fatalf("alert list %v: %d %q", args, code, errOut)
		}
	}
	out, _, code = runCLI(t, env, "", "alert", "show", jsonNumber(id))
	if code != 0 || !strings.Contains(out, `alert `+jsonNumber(id)+`: "Odd <b>mail</b>"`) || !strings.Contains(out, "  reason     waiting for the dispatcher\n") {
		t.Fatalf("show: %d %q", code, out)
	}
	if _, _, code = runCLI(t, env, "", "alert", "show", "x"); code != 2 {
		t.Fatalf("show x: %d", code)
	}
	if _, errOut, code = runCLI(t, env, "", "alert", "show", "99999"); code != 1 || !strings.Contains(errOut, "no alert 99999") {
		t.Fatalf("show 99999: %d %q", code, errOut)
	}
	_ = st
}

func TestApprovalAndAuditList(t *testing.T) {
	env, _ := viewsEnv(t, store.RoleResponder)
	out, errOut, code := runCLI(t, env, "", "approval", "list")
	if code != 0 || !strings.Contains(out, "r1   go    p") || !strings.Contains(out, "Go?") {
		t.Fatalf("approval list: %d %q %q", code, out, errOut)
	}
	out, _, code = runCLI(t, env, "", "approval", "list", "--json")
	if code != 0 || !strings.Contains(out, `"items": [`) || !strings.Contains(out, `"step": "go"`) {
		t.Fatalf("approval list --json: %d %s", code, out)
	}
	dir := t.TempDir()
	if _, errOut, code = runCLI(t, env, "", "run", "artifact", "r1", "mail.zip", "-o", filepath.Join(dir, "m.zip")); code != 0 {
		t.Fatalf("download: %d %q", code, errOut)
	}
	out, _, code = runCLI(t, env, "", "audit", "list", "--since", "1h", "--action", "artifact", "--json")
	var list struct {
		Items []struct {
			Action, Actor string
			RunID         string `json:"run_id"`
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 1 || list.Items[0].Action != "artifact.download" || list.Items[0].Actor != "token:rob" || list.Items[0].RunID != "r1" {
		t.Fatalf("audit list --json: %d %s", code, out)
	}
	out, _, code = runCLI(t, env, "", "audit", "list")
	if code != 0 || !strings.HasPrefix(out, "ID  AT") || !strings.Contains(out, "token:rob  artifact.download  r1") {
		t.Fatalf("audit list: %d %q", code, out)
	}
	for _, args := range [][]string{{"--since", "soon"}, {"--limit", "0"}, {"--run", "a b"}} {
		if _, errOut, code = runCLI(t, env, "", append([]string{"audit", "list"}, args...)...); code != 2 {
			t.Fatalf("audit list %v: %d %q", args, code, errOut)
		}
	}
}

func TestRunArtifacts(t *testing.T) {
	env, _ := viewsEnv(t, store.RoleResponder)
	out, errOut, code := runCLI(t, env, "", "run", "artifacts", "r1")
	if code != 0 || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "mail.zip  quarantined-mail  dl    3") {
		t.Fatalf("artifacts: %d %q %q", code, out, errOut)
	}
	out, _, code = runCLI(t, env, "", "run", "artifacts", "r1", "--json")
	if code != 0 || !strings.Contains(out, `"items": [`) || !strings.Contains(out, `"name": "mail.zip"`) {
		t.Fatalf("artifacts --json: %d %s", code, out)
	}
	file := filepath.Join(t.TempDir(), "m.zip")
	if _, errOut, code = runCLI(t, env, "", "run", "artifact", "r1", "mail.zip", "-o", file); code != 0 || errOut != "wrote "+file+" (3 bytes)\n" {
		t.Fatalf("artifact: %d %q", code, errOut)
	}
	if b, _ := os.ReadFile(file); string(b) != "zip" {
		t.Fatalf("downloaded %q", b)
	}
	if _, _, code = runCLI(t, env, "", "run", "artifact", "r1", "mail.zip"); code != 2 {
		t.Fatalf("without -o: %d", code)
	}
	if _, errOut, code = runCLI(t, env, "", "run", "artifact", "r1", "other.zip", "-o", file); code != 1 || !strings.Contains(errOut, `run r1 has no artifact "other.zip"`) {
		t.Fatalf("unknown artifact: %d %q", code, errOut)
	}
	if _, errOut, code = runCLI(t, env, "", "run", "artifacts", "nope"); code != 1 || !strings.Contains(errOut, "no run nope") {
		t.Fatalf("unknown run: %d %q", code, errOut)
	}
}

func TestConsoleLink(t *testing.T) {
	env, st := viewsEnv(t, store.RoleAdmin)
	out, errOut, code := runCLI(t, env, "", "console", "link", "--role", "viewer")
	if code != 0 || !strings.HasPrefix(out, env["PARRY_URL"]+"/#/signin?code="+store.SigninCodePrefix) || !strings.Contains(errOut, "single use") {
		t.Fatalf("link: %d %q %q", code, out, errOut)
	}
	code2 := strings.TrimSpace(strings.SplitN(out, "code=", 2)[1])
	if _, tok, err := st.RedeemSigninCode(context.Background(), code2, time.Hour); err != nil || tok.Role != store.RoleViewer {
		t.Fatalf("redeeming the printed code: %v %+v", err, tok)
	}
	if _, _, code = runCLI(t, env, "", "console", "link", "--role", "boss"); code != 2 {
		t.Fatalf("bad role: %d", code)
	}
	if _, _, code = runCLI(t, env, "", "console", "link", "--ttl", "2h"); code != 2 {
		t.Fatalf("long ttl: %d", code)
	}
}

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }
