package secret

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestChain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "zip-pass"), []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PARRY_SECRET_CECP_PROD_TOKEN": "tok-value"}
	c := Chain{Env{Getenv: func(k string) string { return env[k] }}, Dir{Path: dir}}
	ctx := context.Background()
	if v, err := c.Secret(ctx, "cecp-prod.token"); err != nil || v != "tok-value" {
		t.Fatalf("env: %q %v", v, err)
	}
	if v, err := c.Secret(ctx, "zip-pass"); err != nil || v != "hunter2" {
		t.Fatalf("dir: %q %v", v, err)
	}
	_, err := c.Secret(ctx, "missing")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	want := `secret "missing" not found (PARRY_SECRET_MISSING is not set; no file ` + filepath.Join(dir, "missing") + `)`
	if err.Error() != want {
		t.Fatalf("got %q\nwant %q", err, want)
	}
	if _, err := c.Secret(ctx, "../etc/passwd"); err == nil || !strings.Contains(err.Error(), "invalid secret name") {
		t.Fatalf("traversal: %v", err)
	}
}

func TestNestedChainsListEachPlaceOnce(t *testing.T) {
	t.Parallel()
	c := Chain{Static{"dev": "x"}, Chain{Env{Getenv: func(string) string { return "" }}, Dir{}}}
	_, err := c.Secret(context.Background(), "zip")
	if !errors.Is(err, ErrNotFound) || err.Error() != `secret "zip" not found (PARRY_SECRET_ZIP is not set; no secrets directory is configured (secrets.dir))` {
		t.Fatalf("got %v", err)
	}
}
