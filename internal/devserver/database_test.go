package devserver

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newDatabase creates a Temporal database in a fresh dir and returns its path.
func newDatabase(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), databaseFile)
	created, err := prepareDatabase(t.Context(), path)
	if err != nil {
		t.Fatalf("creating database: %v", err)
	}
	if !created {
		t.Fatalf("prepareDatabase on a missing file: created = false")
	}
	return path
}

func TestPrepareDatabaseCreatesThenReuses(t *testing.T) {
	path := newDatabase(t)
	if leftovers, _ := filepath.Glob(path + creatingSuffix + "*"); len(leftovers) > 0 {
		t.Errorf("schema temp files left behind: %v", leftovers)
	}
	created, err := prepareDatabase(t.Context(), path)
	if err != nil {
		t.Fatalf("second prepareDatabase: %v", err)
	}
	if created {
		t.Errorf("second prepareDatabase: created = true, want the file reused")
	}
}

func TestPrepareDatabaseFillsEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), databaseFile)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	created, err := prepareDatabase(t.Context(), path)
	if err != nil || !created {
		t.Fatalf("prepareDatabase on an empty file = %v, %v; want created", created, err)
	}
	if err := checkDatabase(t.Context(), path); err != nil {
		t.Errorf("the filled file does not check out: %v", err)
	}
}

func TestPrepareDatabaseRemovesStaleCreations(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, databaseFile)
	stale := path + creatingSuffix + "123"
	if err := os.WriteFile(stale, []byte("half a schema"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := prepareDatabase(t.Context(), path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale %s still there (err %v)", stale, err)
	}
}

func TestPrepareDatabaseErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string // with PATH standing for the database path
	}{
		{
			name: "garbage",
			setup: func(t *testing.T, path string) {
				writeFile(t, path, strings.Repeat("not a database at all ", 500))
			},
			want: "temporal database PATH is corrupt (file is not a database): move it away to start with an empty one",
		},
		{
			name: "foreign database",
			setup: func(t *testing.T, path string) {
				execSQL(t, path, "CREATE TABLE recipes (name TEXT)")
			},
			want: "PATH is not a Temporal database (it has no namespaces table): move it away to start with an empty one",
		},
		{
			name: "truncated",
			setup: func(t *testing.T, path string) {
				good := newDatabase(t)
				data, err := os.ReadFile(good)
				if err != nil {
					t.Fatal(err)
				}
				// Keep the header and schema page, lose the rest.
				writeFile(t, path, string(data[:len(data)/3]))
			},
			want: "temporal database PATH is corrupt (database disk image is malformed): move it away to start with an empty one",
		},
		{
			name: "directory",
			setup: func(t *testing.T, path string) {
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
			},
			want: "temporal database PATH is a directory: move it away",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), databaseFile)
			tc.setup(t, path)
			_, err := prepareDatabase(t.Context(), path)
			want := strings.ReplaceAll(tc.want, "PATH", path)
			if err == nil || err.Error() != want {
				t.Fatalf("error = %v\nwant    %s", err, want)
			}
		})
	}
}

func TestPrepareDatabaseLocked(t *testing.T) {
	path := newDatabase(t)
	// Another program holds a write lock on the file for longer than we wait.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	_, err = prepareDatabase(t.Context(), path)
	want := "temporal database " + path + " is locked by another program: stop it and start again"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
}

func TestPrepareDatabaseReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file permissions")
	}
	path := newDatabase(t)
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	_, err := prepareDatabase(t.Context(), path)
	want := "temporal database " + path + " is not writable: fix its permissions"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
}

func TestCheckDatabasePath(t *testing.T) {
	err := checkDatabasePath("/data/50%/temporal.db")
	want := `data dir /data/50% contains '%', which cannot appear in a SQLite file name: choose another data dir`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
	if err := checkDatabasePath("/home/a b/.local/share/parry/temporal.db"); err != nil {
		t.Errorf("a space is fine: %v", err)
	}
}

func TestDataDirErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file, "x")
	under := filepath.Join(file, "data")
	_, err := StartTemporal(t.Context(), TemporalOptions{DataDir: under, Listen: "127.0.0.1:0"})
	want := "data dir " + under + " cannot be created (not a directory): pass another with --data-dir"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}

	if os.Geteuid() != 0 {
		ro := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		_, err := StartTemporal(t.Context(), TemporalOptions{DataDir: ro, Listen: "127.0.0.1:0"})
		want := "data dir " + ro + " is not writable (permission denied): fix its permissions or pass another with --data-dir"
		if err == nil || err.Error() != want {
			t.Fatalf("error = %v\nwant    %s", err, want)
		}
	}
}

func TestDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	lock, err := lockFileIn(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlockFile(lock)
	_, err = StartTemporal(t.Context(), TemporalOptions{DataDir: dir, Listen: "127.0.0.1:0"})
	want := "data dir " + dir + " is in use by another parry dev: stop it or pass another --data-dir"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func execSQL(t *testing.T, path, stmt string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatal(err)
	}
}
