package cli

import (
	"context"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

func TestTokenCommands(t *testing.T) {
	dbURL := storetest.URL(t)
	ctx := context.Background()
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := store.New(pool)
	srv := httptest.NewServer((&api.Server{Store: s}).Handler())
	defer srv.Close()

	// Bootstrap an admin token straight into the database, as a new deployment would.
	dataDir := t.TempDir()
	env := map[string]string{"PARRY_DATABASE_URL": dbURL, "PARRY_DATA_DIR": dataDir, "PARRY_URL": srv.URL}
	out, errOut, code := runCLI(t, env, "", "token", "create", "--direct", "--name", "root", "--role", "admin")
	if code != 0 || !strings.HasPrefix(out, "pry_") || !strings.Contains(errOut, `Created token "root" with role admin`) {
		t.Fatalf("create --direct: %d %q %q", code, out, errOut)
	}
	env["PARRY_TOKEN"] = strings.TrimSpace(out)

	out, errOut, code = runCLI(t, env, "", "token", "create", "--name", "siem", "--role", "ingest")
	if code != 0 || !strings.HasPrefix(out, "pry_") {
		t.Fatalf("create via API: %d %q %q", code, out, errOut)
	}
	out, _, code = runCLI(t, env, "", "token", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "siem") || !strings.HasPrefix(lines[2], "root") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	_, errOut, code = runCLI(t, env, "", "token", "create", "--name", "siem", "--role", "ingest")
	if code != 1 || errOut != "parry: a live token named \"siem\" exists; revoke it first or choose another name (HTTP 409 exists)\n" {
		t.Fatalf("duplicate: %d %q", code, errOut)
	}
	if _, errOut, code = runCLI(t, env, "", "token", "revoke", "siem"); code != 0 || errOut != "Revoked token \"siem\".\n" {
		t.Fatalf("revoke: %d %q", code, errOut)
	}
	out, _, _ = runCLI(t, env, "", "token", "list", "--json", "--all")
	if !strings.Contains(out, `"revoked_at": "`) {
		t.Fatalf("list --all --json: %s", out)
	}
	_, errOut, code = runCLI(t, env, "", "token", "create", "--name", "x", "--role", "root")
	if code != 2 || !strings.Contains(errOut, `unknown role "root"`) {
		t.Fatalf("bad role: %d %q", code, errOut)
	}

	// Without PARRY_TOKEN the CLI falls back to the admin token file in the data dir.
	delete(env, "PARRY_TOKEN")
	_, errOut, code = runCLI(t, env, "", "token", "list")
	if code != 1 || errOut != "parry: no API token: set PARRY_TOKEN (create one with `parry token create`), or run `parry dev`, which writes an admin token to "+config.AdminTokenFile(dataDir)+"\n" {
		t.Fatalf("no token: %d %q", code, errOut)
	}
	plain, _, _ := s.CreateToken(ctx, "filetok", store.RoleAdmin, "test")
	if err := os.WriteFile(config.AdminTokenFile(dataDir), []byte(plain+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code = runCLI(t, env, "", "token", "list"); code != 0 {
		t.Fatalf("token file: %d %q", code, errOut)
	}
	// An API that is down is one clear line.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + l.Addr().String()
	l.Close()
	env["PARRY_URL"] = down
	_, errOut, code = runCLI(t, env, "", "token", "list")
	if code != 1 || !strings.HasPrefix(errOut, "parry: cannot reach the parry API at "+down) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("api down: %d %q", code, errOut)
	}
}

func TestMigrateCommand(t *testing.T) {
	dbURL := storetest.URL(t)
	out, errOut, code := runCLI(t, map[string]string{"PARRY_DATABASE_URL": dbURL}, "", "migrate")
	if code != 0 || out != "database is up to date\n" {
		t.Fatalf("migrate: %d %q %q", code, out, errOut)
	}
	_, errOut, code = runCLI(t, nil, "", "migrate", "--database-url", "postgres://u:topsecret@127.0.0.1:1/x")
	if code != 1 || strings.Contains(errOut, "topsecret") || !strings.HasPrefix(errOut, "parry: connecting to PostgreSQL at postgres://u:xxxxx@127.0.0.1:1/x") {
		t.Fatalf("unreachable: %d %q", code, errOut)
	}
}

func TestServerRefusesWithoutTemporal(t *testing.T) {
	dbURL := storetest.URL(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, errOut, code := runCLI(t, map[string]string{"PARRY_DATABASE_URL": dbURL, "PARRY_DATA_DIR": t.TempDir(), "PARRY_SECRET_TEMPORAL_PAYLOAD_KEY": testPayloadKey}, "", "server", "--temporal-address", addr, "--listen", "127.0.0.1:0")
	if code != 1 || !strings.HasPrefix(errOut, "parry: cannot reach Temporal at "+addr) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("server: %d %q", code, errOut)
	}
}

// testPayloadKey is a payload key ring for commands that need one to get as far as Temporal.
const testPayloadKey = "t1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// TestServerRefusesWithoutPayloadKey: with encryption on (the default) and no key ring, the server says what to
// do in one line.
func TestServerRefusesWithoutPayloadKey(t *testing.T) {
	dbURL := storetest.URL(t)
	_, errOut, code := runCLI(t, map[string]string{"PARRY_DATABASE_URL": dbURL, "PARRY_DATA_DIR": t.TempDir()}, "", "server", "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "payload encryption is on (temporal.encrypt_payloads) but its key ring cannot be read") ||
		!strings.Contains(errOut, "openssl rand -base64 32") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("server: %d %q", code, errOut)
	}
	_, errOut, code = runCLI(t, map[string]string{"PARRY_DATABASE_URL": dbURL, "PARRY_DATA_DIR": t.TempDir(), "PARRY_SECRET_TEMPORAL_PAYLOAD_KEY": "k1:short"}, "", "worker")
	if code != 1 || !strings.Contains(errOut, `key "k1" of the key ring is not 32 bytes in base64`) || strings.Contains(errOut, "short") {
		t.Fatalf("worker with a bad key: %d %q", code, errOut)
	}
}
