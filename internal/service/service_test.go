package service

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func TestBootstrapAdminTokenOnce(t *testing.T) {
	st := storetest.NewStore(t)
	dir := filepath.Join(t.TempDir(), "data")
	ctx := context.Background()
	path, created, err := BootstrapAdminToken(ctx, st, dir)
	if err != nil || !created || path != config.AdminTokenFile(dir) {
		t.Fatalf("first: %s %v %v", path, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	tok, _ := os.ReadFile(path)
	got, err := st.Authenticate(ctx, strings.TrimSpace(string(tok)))
	if err != nil || got.Role != store.RoleAdmin {
		t.Fatalf("the written token does not work: %+v %v", got, err)
	}
	if _, created, err := BootstrapAdminToken(ctx, st, dir); err != nil || created {
		t.Fatalf("second: %v %v", created, err)
	}
}

func TestEnsureDirAndListenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	err := EnsureDir(filepath.Join(file, "sub"))
	if err == nil || err.Error() != "data directory "+filepath.Join(file, "sub")+" cannot be created: not a directory (choose another with --data-dir)" {
		t.Fatalf("got %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Listen(l.Addr().String(), "--listen"); err == nil || err.Error() != l.Addr().String()+" is in use: stop the other process or pass --listen" {
		t.Fatalf("got %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := WriteFileAtomic(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	entries, _ := os.ReadDir(filepath.Dir(p))
	if string(b) != "two" || fi.Mode().Perm() != 0o644 || len(entries) != 1 {
		t.Fatalf("content %q mode %v files %d", b, fi.Mode().Perm(), len(entries))
	}
}

// TestLoadSources reads parry.yaml's sources: with their positions and refuses the file on any error.
func TestLoadSources(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "parry.yaml")
	good := "log:\n  level: info\nsources:\n  - name: siem\n    auth: hmac\n    secret: siem-key\n    severity_default: low\n    map: {kind: '\"siem\"', title: body.title}\n"
	for _, tc := range []struct{ file, want string }{
		{good, "siem"},
		{strings.Replace(good, "body.title", "bod.title", 1), path + `:8:34: error: title: unknown name "bod" (did you mean "body"?)`},
		{"log:\n  level: info\n", ""},
		{"log:\n  level: info\nsources:\n", ""},      // an empty key: no sources
		{"log:\n  level: info\nsources: null\n", ""}, // as a marshalled Config writes it
	} {
		if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := config.Load(config.Sources{File: path, Getenv: func(string) string { return "" }, Home: dir})
		if err != nil {
			t.Fatal(err)
		}
		srcs, err := LoadSources(cfg)
		var got []string
		for _, s := range srcs {
			got = append(got, s.Name)
		}
		if err != nil {
			got = append(got, err.Error())
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%q: got %q, want %q", tc.file, strings.Join(got, ","), tc.want)
		}
	}
}
