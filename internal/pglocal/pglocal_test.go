package pglocal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestFindBinDirMissing(t *testing.T) {
	if _, err := os.Stat("/usr/lib/postgresql"); err == nil {
		t.Skip("PostgreSQL is installed here; the missing case cannot be observed")
	}
	_, err := FindBinDir(func(string) (string, error) { return "", errors.New("not found") })
	if err == nil || !strings.Contains(err.Error(), "apt-get install postgresql") {
		t.Fatalf("got %v", err)
	}
}

func TestClusterLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping PostgreSQL cluster test in -short mode")
	}
	bin, err := FindBinDir(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "pglocal-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { RemoveAll(dir) })
	// The cluster runs as the postgres user when the test runs as root: let it into the temp dir.
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := &Cluster{Dir: filepath.Join(dir, "pg"), BinDir: bin, Fast: true}
	if err := c.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// A second start on the same directory keeps the data (and Init is a no-op).
	c2 := &Cluster{Dir: c.Dir, BinDir: bin, Fast: true}
	if err := c2.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c2.Stop(ctx)
	conn, err = pgx.Connect(ctx, c2.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
		t.Fatalf("after restart: %v %d", err, v)
	}
	// The port is taken now: a third cluster on it fails with a clear message.
	c3 := &Cluster{Dir: filepath.Join(dir, "other"), BinDir: bin, Port: c2.Port}
	if err := c3.Start(ctx); err == nil || !strings.Contains(err.Error(), "is in use") {
		t.Fatalf("port in use: %v", err)
	}
}
