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
	_, errOut, code = runCLI(t, env, `{"source":"siem"}`, "alert", "send", "-")
	if code != 1 || !strings.HasPrefix(errOut, "parry: alert 0: kind is required (and 2 more problems; nothing was stored) (HTTP 400 invalid_alerts)") {
		t.Fatalf("invalid: %d %q", code, errOut)
	}
	_, errOut, code = runCLI(t, env, "", "alert", "send", "/nonexistent.json")
	if code != 1 || errOut != "parry: reading alerts from /nonexistent.json: no such file or directory\n" {
		t.Fatalf("missing file: %d %q", code, errOut)
	}
}
