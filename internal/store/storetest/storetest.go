// Package storetest gives each test a fresh, migrated PostgreSQL database.
//
// It uses PARRY_TEST_DATABASE_URL when set (a server where the user may create databases); otherwise it starts
// one throwaway cluster per test binary from the local PostgreSQL binaries. Either way it migrates a template
// database once and clones it for every test, which costs a few milliseconds. `go test -short` skips database
// tests. A package that uses it should call Main from TestMain so the cluster is stopped and removed at the end
// (if it does not, the cluster still dies with the test binary, but its temp directory stays behind).
package storetest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parry-soar/parry/internal/pglocal"
	"github.com/parry-soar/parry/internal/store"
)

// EnvURL names the variable that points tests at an existing server.
const EnvURL = "PARRY_TEST_DATABASE_URL"

// server is the per-test-binary database server. It is package state on purpose: a test binary has exactly one,
// shared by all its tests, started on first use and stopped by Main.
var server struct {
	once     sync.Once
	err      error
	adminURL string
	template string
	cluster  *pglocal.Cluster
	dir      string

	mu    sync.Mutex // serialises CREATE DATABASE … TEMPLATE, which PostgreSQL does not allow concurrently
	admin *pgx.Conn
	seq   atomic.Int64
}

// Main runs the tests and then stops the throwaway cluster. Use it as os.Exit(storetest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	ctx := context.Background()
	if server.admin != nil {
		if server.cluster == nil && server.template != "" {
			_, _ = server.admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, server.template))
		}
		server.admin.Close(ctx)
	}
	if server.cluster != nil {
		_ = server.cluster.Stop(ctx)
		_ = pglocal.RemoveAll(server.dir)
	}
	return code
}

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	server.adminURL = os.Getenv(EnvURL)
	if server.adminURL == "" {
		bin, err := pglocal.FindBinDir(nil)
		if err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "parry-test-pg-")
		if err != nil {
			return err
		}
		// When tests run as root the cluster runs as the postgres user, which must be able to enter the dir.
		if err := os.Chmod(dir, 0o711); err != nil {
			return err
		}
		server.dir = dir
		server.cluster = &pglocal.Cluster{Dir: filepath.Join(dir, "data"), BinDir: bin, Fast: true}
		if err := server.cluster.Init(ctx); err != nil {
			return err
		}
		if err := server.cluster.Start(ctx); err != nil {
			return err
		}
		server.adminURL = server.cluster.URL("postgres")
	}
	admin, err := pgx.Connect(ctx, server.adminURL)
	if err != nil {
		return fmt.Errorf("connecting to the test server %s: %w", store.Redact(server.adminURL), err)
	}
	server.admin = admin
	server.template = fmt.Sprintf("parry_tpl_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %q`, server.template)); err != nil {
		return fmt.Errorf("creating the template database: %w", err)
	}
	pool, err := pgxpool.New(ctx, withDatabase(server.adminURL, server.template))
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := store.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrating the template database: %w", err)
	}
	return nil
}

func withDatabase(rawURL, db string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	u.Path = "/" + db
	return u.String()
}

// URL creates a fresh migrated database for the test and returns its URL; it is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: this test needs PostgreSQL (run without -short)")
	}
	server.once.Do(func() { server.err = setup() })
	if server.err != nil {
		t.Fatalf("no PostgreSQL for this test: %v\nSet %s=postgres://user:pass@host:5432/postgres (a user that may create databases), or install the PostgreSQL server binaries (apt-get install postgresql); `go test -short` skips database tests.", server.err, EnvURL)
	}
	name := fmt.Sprintf("%s_t%d", server.template, server.seq.Add(1))
	server.mu.Lock()
	_, err := server.admin.Exec(context.Background(), fmt.Sprintf(`CREATE DATABASE %q TEMPLATE %q`, name, server.template))
	server.mu.Unlock()
	if err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		server.mu.Lock()
		defer server.mu.Unlock()
		if _, err := server.admin.Exec(context.Background(), fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name)); err != nil {
			t.Logf("dropping test database %s: %v", name, err)
		}
	})
	return withDatabase(server.adminURL, name)
}

// New returns a pool on a fresh migrated database, closed when the test ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	u := URL(t)
	pool, err := pgxpool.New(context.Background(), u)
	if err != nil {
		t.Fatalf("opening test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewStore returns a Store on a fresh migrated database.
func NewStore(t testing.TB) *store.Store {
	t.Helper()
	return store.New(New(t))
}

// AgeQuota moves key's quota window and block d into the past, as if d had passed: tests of the windows then
// need no sleep and hold on a loaded machine (the windows can be minutes long).
func AgeQuota(t testing.TB, pool *pgxpool.Pool, key string, d time.Duration) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `UPDATE quota_windows SET window_start = window_start - $2::bigint * interval '1 microsecond',
		blocked_until = blocked_until - $2::bigint * interval '1 microsecond' WHERE key = $1`, key, d.Microseconds())
	if err != nil {
		t.Fatalf("ageing quota %s: %v", key, err)
	}
}
