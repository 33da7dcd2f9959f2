package devserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.temporal.io/server/common/config"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// databaseFile is the Temporal server's SQLite file inside the data dir.
const databaseFile = "temporal.db"

// creatingSuffix marks a database whose schema is still being written. The schema
// goes into such a file and is renamed into place only when complete, so a crash
// during the first start never leaves a half-made temporal.db behind.
const creatingSuffix = ".creating-"

// requiredTables are tables every Temporal SQLite database has (execution and
// visibility schemas). The SQLite schema has no version table, so their presence is
// how an existing file is recognised as Temporal's.
var requiredTables = []string{
	"namespaces", "executions", "history_node", "timer_tasks", "cluster_metadata_info", "executions_visibility",
}

// sqlConfig is the persistence configuration for the file at path. Every consumer in
// the process (schema setup, namespace registration, the server) must use the same
// configuration: the plugin keeps one shared connection per distinct DSN for the
// life of the process and never closes it.
//
// The journal is a write-ahead log synced at checkpoints (synchronous=NORMAL): every committed transaction
// survives the process being killed, which is what parry dev promises; only a power cut can lose the last
// ones. The default (a rollback journal synced on every commit) spends an fsync on every workflow task, which
// made a storm of runs wait on the disk rather than on anything they do.
func sqlConfig(path string) *config.SQL {
	return &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      path,
		ConnectAttributes: map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "NORMAL", "busy_timeout": "10000"},
	}
}

// checkDatabasePath refuses paths SQLite would misread: the plugin passes the file
// name inside a "file:" URI without escaping it.
func checkDatabasePath(path string) error {
	if i := strings.IndexAny(path, "?#%"); i >= 0 {
		return fmt.Errorf("data dir %s contains %q, which cannot appear in a SQLite file name: choose another data dir", filepath.Dir(path), path[i])
	}
	return nil
}

// prepareDatabase makes path a usable Temporal database: it creates the schema when
// the file is missing (or empty), and otherwise checks that the file opens, is not
// corrupt, is writable and has Temporal's tables. It reports whether it created it.
func prepareDatabase(ctx context.Context, path string) (created bool, err error) {
	if err := checkDatabasePath(path); err != nil {
		return false, err
	}
	if err := removeStaleCreations(path); err != nil {
		return false, err
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, createDatabase(path)
	case err != nil:
		return false, fmt.Errorf("inspecting temporal database %s: %w", path, err)
	case info.IsDir():
		return false, fmt.Errorf("temporal database %s is a directory: move it away", path)
	case info.Size() == 0:
		// An empty file is an empty SQLite database; nothing can be lost by filling it.
		return true, createDatabase(path)
	}
	return false, checkDatabase(ctx, path)
}

// removeStaleCreations deletes schema files left by a start that died half-way. The
// caller holds the data dir lock, so no other process is writing them.
func removeStaleCreations(path string) error {
	stale, err := filepath.Glob(path + creatingSuffix + "*")
	if err != nil {
		return fmt.Errorf("listing stale database files: %w", err)
	}
	for _, f := range stale {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing stale database file: %w", err)
		}
	}
	return nil
}

func createDatabase(path string) error {
	// A fresh name per attempt: the plugin caches a connection per file name for the
	// life of the process, and a reused name would reach a cached, renamed file.
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+creatingSuffix+"*")
	if err != nil {
		return fmt.Errorf("creating temporal database in %s: %w", filepath.Dir(path), err)
	}
	tmpPath := tmp.Name()
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("creating temporal database: %w", err)
	}
	if err := checkDatabasePath(tmpPath); err != nil {
		return err
	}
	// The schema is written with a rollback journal: the file is complete on its own when it is renamed into
	// place (a write-ahead log would stay behind under the temporary name).
	setup := sqlConfig(tmpPath)
	setup.ConnectAttributes = map[string]string{"mode": "rwc"}
	if err := sqliteschema.SetupSchema(setup); err != nil {
		_ = os.Remove(tmpPath)
		return fmt.Errorf("creating temporal database %s: %w", path, describeSQLiteError(path, err))
	}
	if err := os.Rename(tmpPath, path); err != nil {
		_ = os.Remove(tmpPath)
		return fmt.Errorf("creating temporal database %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir makes the rename durable; without it a power cut could lose the new name.
// It is best effort: some file systems (and Windows) refuse to sync a directory, and
// the database itself is already synced by SQLite.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// checkDatabase opens the file through its own short-lived connection (not the
// plugin's cached one, which would stay open for the life of the process) and reads
// enough of it to tell a good database from a corrupt, foreign or locked one.
func checkDatabase(ctx context.Context, path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("temporal database %s is not writable: fix its permissions", path)
		}
		return fmt.Errorf("opening temporal database %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("opening temporal database %s: %w", path, err)
	}

	// Read-only, and a short busy timeout: a lock held for longer than that belongs to
	// another program using the file, which the server must not share.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(2000)")
	if err != nil {
		return fmt.Errorf("opening temporal database %s: %w", path, err)
	}
	defer db.Close()

	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table'")
	if err != nil {
		return describeSQLiteError(path, err)
	}
	tables := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			_ = rows.Close()
			return describeSQLiteError(path, err)
		}
		tables[name] = true
	}
	if err := rows.Err(); err != nil {
		return describeSQLiteError(path, err)
	}
	if err := rows.Close(); err != nil {
		return describeSQLiteError(path, err)
	}
	for _, t := range requiredTables {
		if !tables[t] {
			return fmt.Errorf("%s is not a Temporal database (it has no %s table): move it away to start with an empty one", path, t)
		}
	}

	// quick_check reads every page once; it catches a truncated or overwritten file
	// before the server trips over it half-way through a workflow.
	var verdict string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&verdict); err != nil {
		return describeSQLiteError(path, err)
	}
	if verdict != "ok" {
		return fmt.Errorf("temporal database %s is corrupt (%s): move it away to start with an empty one", path, verdict)
	}
	return nil
}

// describeSQLiteError names the three failures a user can act on; anything else is
// passed on as it is.
func describeSQLiteError(path string, err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("reading temporal database %s: %w", path, err)
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("temporal database %s is corrupt (%s): move it away to start with an empty one", path, sqliteMessage(se))
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("temporal database %s is locked by another program: stop it and start again", path)
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY:
		return fmt.Errorf("cannot open temporal database %s (%s): check the permissions of the file and its directory", path, sqliteMessage(se))
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("temporal database %s: the disk is full", path)
	}
	return fmt.Errorf("reading temporal database %s: %w", path, err)
}

// sqliteMessage is SQLite's own text without the numeric code the driver appends.
func sqliteMessage(se *sqlite.Error) string {
	msg := se.Error()
	if i := strings.LastIndex(msg, " ("); i > 0 && strings.HasSuffix(msg, ")") {
		msg = msg[:i]
	}
	return msg
}
