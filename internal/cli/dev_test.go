package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/cecpsim"
	"github.com/parry-soar/parry/internal/config"
)

// TestCECPReachesDevSim: parry dev's simulator is connection "sim" of that process only; the CLI of another
// terminal finds it through the data dir, with its token, by name or as the only connection.
func TestCECPReachesDevSim(t *testing.T) {
	sim, err := cecpsim.New(cecpsim.Options{Seed: 1, Tokens: []string{devSimToken}, RateLimit: cecpsim.NoRateLimit})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	rate, _ := parseSimRate("20/1m")
	if err := writeDevSimFile(dir, srv.URL, rate); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.State(""); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PARRY_DATA_DIR": dir}
	for _, args := range [][]string{
		{"cecp", "blocklist", "add", "--connection", "sim", "--sender", "x@evil.example"},
		{"cecp", "blocklist", "get"},
	} {
		out, errOut, code := runCLI(t, env, "", args...)
		if code != 0 || !strings.Contains(out, "x@evil.example") {
			t.Fatalf("%s: %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	// Without a parry dev, naming sim says where it would come from.
	_, errOut, code := runCLI(t, map[string]string{"PARRY_DATA_DIR": t.TempDir()}, "", "cecp", "blocklist", "get", "--connection", "sim")
	if code != 2 || !strings.Contains(errOut, "parry dev's simulator is connection sim once parry dev has started with this data dir") {
		t.Fatalf("no dev: %d %s", code, errOut)
	}
}

func TestSimRate(t *testing.T) {
	for _, tc := range []struct{ in, conn, banner, err string }{
		{"20/1m", "20/1m", "rate limit 20/1m, a fixed window opened by the first request, as the vendor's", ""},
		{"60/30s", "60/30s", "rate limit 60/30s, a fixed window opened by the first request, as the vendor's", ""},
		{"off", devUnlimitedRate, "rate limit off", ""},
		{"20", "", "", `rate "20" is not N/DURATION (like 20/1m) (or off)`},
	} {
		r, err := parseSimRate(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || r.connRate() != tc.conn || r.banner() != tc.banner {
			t.Errorf("%s: %q %q %v", tc.in, r.connRate(), r.banner(), err)
		}
		// parry's quota for the sim connection is the simulator's window.
		if c := devSimConnection("http://127.0.0.1:1", r); c.RateLimit != tc.conn {
			t.Errorf("%s: connection rate %q", tc.in, c.RateLimit)
		}
	}
}

// TestResetDevDir: --reset removes the data dir and the cluster kept outside it, saying both; it refuses while
// parry dev answers on the data dir, and refuses a directory parry dev did not make.
func TestResetDevDir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(t.TempDir(), "data")
	cluster := filepath.Join(root, "0123456789ab", "postgres")
	for _, d := range []string{cluster, filepath.Join(dir, "temporal")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(cluster, "PG_VERSION"), []byte("16\n"), 0o600)
	os.WriteFile(config.AdminTokenFile(dir), []byte("tok\n"), 0o600)
	if err := os.Symlink(cluster, filepath.Join(dir, "postgres")); err != nil {
		t.Fatal(err)
	}
	running := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	os.WriteFile(config.APIURLFile(dir), []byte(running.URL+"\n"), 0o644)
	var out strings.Builder
	if err := resetDevDir(dir, root, &out); err == nil || !strings.Contains(err.Error(), "parry dev is running on "+dir) {
		t.Fatalf("while running: %v", err)
	}
	running.Close()
	if err := resetDevDir(dir, root, &out); err != nil {
		t.Fatal(err)
	}
	want := "removed " + filepath.Dir(cluster) + " (PostgreSQL cluster)\nremoved " + dir + " (data dir)\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	for _, p := range []string{dir, filepath.Dir(cluster)} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there", p)
		}
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), nil, 0o600)
	if err := resetDevDir(other, root, &out); err == nil || !strings.Contains(err.Error(), "does not look like a parry dev data dir") {
		t.Errorf("foreign dir: %v", err)
	}
	out.Reset()
	if err := resetDevDir(filepath.Join(root, "absent"), root, &out); err != nil || !strings.HasPrefix(out.String(), "nothing to remove") {
		t.Errorf("absent dir: %v %q", err, out.String())
	}
}

// parry dev prints a chat message with its fields: an approval's notification says when to answer by, what an
// unanswered approval becomes and who may answer, in Slack's body as in a Teams card.
func TestDevChatText(t *testing.T) {
	slack := `{"text":"*Approval needed: ask / ok*\nDisable bob?\n\nRun: http://127.0.0.1:8080/#/runs/r1","attachments":[{"fallback":"x","fields":[{"title":"answer by","value":"2026-01-02T03:04:05Z","short":true},{"title":"if unanswered","value":"rejected","short":true}]}]}`
	want := "*Approval needed: ask / ok*\nDisable bob?\n\nRun: http://127.0.0.1:8080/#/runs/r1\nanswer by: 2026-01-02T03:04:05Z\nif unanswered: rejected"
	if got := devChatText([]byte(slack)); got != want {
		t.Errorf("slack:\n%s\nwant\n%s", got, want)
	}
	teams := `{"@type":"MessageCard","title":"Approval needed","text":"Disable bob?","sections":[{"facts":[{"name":"approvers","value":"role:responder"}]}]}`
	if got, want := devChatText([]byte(teams)), "Approval needed\nDisable bob?\napprovers: role:responder"; got != want {
		t.Errorf("teams:\n%s\nwant\n%s", got, want)
	}
	if got := devChatText([]byte(`not json`)); got != "not json" {
		t.Errorf("not json: %q", got)
	}
}
