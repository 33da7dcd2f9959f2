// Package pglocal runs a PostgreSQL cluster from the machine's own server binaries (initdb, postgres), for
// `parry dev` (a persistent cluster in the data dir) and for tests (a throwaway cluster per test binary).
//
// PostgreSQL refuses to run as root, so when parry runs as root the cluster is created and started as the
// `postgres` user; the postgres process is a child of parry and dies with it.
package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// InstallHint says how to get the server binaries; every "not found" error ends with it.
const InstallHint = "install the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) or point parry at a running server with PARRY_DATABASE_URL"

// FindBinDir returns the directory holding initdb and postgres: PATH first, then /usr/lib/postgresql/*/bin
// (newest version first), then /usr/local/pgsql/bin.
func FindBinDir(lookPath func(string) (string, error)) (string, error) {
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	if p, err := lookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if isExec(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(candidates, func(i, j int) bool { return versionOf(candidates[i]) > versionOf(candidates[j]) })
	candidates = append(candidates, "/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin")
	for _, dir := range candidates {
		if isExec(filepath.Join(dir, "initdb")) && isExec(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, postgres) not found on PATH or under /usr/lib/postgresql/*/bin: %s", InstallHint)
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Cluster is one PostgreSQL data directory and, once started, its server process.
type Cluster struct {
	// Dir is the data directory (PGDATA). It is created by Init when missing.
	Dir string
	// BinDir holds initdb and postgres (FindBinDir).
	BinDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one at Start.
	Port int
	// Fast trades durability for speed (fsync off): for throwaway test clusters only.
	Fast bool

	cmd  *exec.Cmd
	done chan error
	cred *syscall.Credential
}

// runAs returns the credential to run PostgreSQL with: nil normally, the postgres user when running as root.
func (c *Cluster) runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if c.cred != nil {
		return c.cred, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("running as root, and PostgreSQL refuses to run as root: there is no postgres user to run it as (create one, run parry as a regular user, or set PARRY_DATABASE_URL)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return c.cred, nil
}

// Initialized reports whether Dir already holds a cluster.
func (c *Cluster) Initialized() bool {
	_, err := os.Stat(filepath.Join(c.Dir, "PG_VERSION"))
	return err == nil
}

// Init creates the cluster with initdb unless Dir already holds one. Authentication is "trust" on loopback only:
// the server never listens beyond 127.0.0.1 and a unix socket inside Dir.
func (c *Cluster) Init(ctx context.Context) error {
	if c.Initialized() {
		return nil
	}
	cred, err := c.runAs()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fmt.Errorf("creating PostgreSQL data directory: %w", err)
	}
	if cred != nil {
		if err := os.Chown(c.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("giving %s to the postgres user: %w", c.Dir, err)
		}
		if err := checkReachable(c.Dir, cred); err != nil {
			return err
		}
	}
	args := []string{"-D", c.Dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"}
	if c.Fast {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "initdb"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initialising PostgreSQL cluster in %s: %w: %s", c.Dir, err, lastLines(out.String(), 5))
	}
	return nil
}

// Reachable reports (nil) whether a cluster in dir can be run: always when not running as root; as root, when
// the postgres user can walk down to dir's parent.
func Reachable(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	c := &Cluster{}
	cred, err := c.runAs()
	if err != nil {
		return err
	}
	return checkReachable(dir, cred)
}

// checkReachable makes sure the postgres user can walk down to dir; as root, home directories are often 0700.
func checkReachable(dir string, cred *syscall.Credential) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		mode := st.Mode().Perm()
		canSearch := mode&0o001 != 0 || (ok && sys.Uid == cred.Uid && mode&0o100 != 0) || (ok && sys.Gid == cred.Gid && mode&0o010 != 0)
		if !canSearch {
			return fmt.Errorf("running as root, PostgreSQL must run as the postgres user, who cannot enter %s (mode %o): choose a data directory it can reach (e.g. --data-dir /var/lib/parry) or set PARRY_DATABASE_URL", p, mode)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// Start runs the server and waits until it accepts connections. The process is a child of the caller and gets
// SIGINT (a fast, clean shutdown) if the caller dies.
func (c *Cluster) Start(ctx context.Context) error {
	if c.cmd != nil {
		return errors.New("PostgreSQL is already started")
	}
	cred, err := c.runAs()
	if err != nil {
		return err
	}
	if c.Port == 0 {
		if c.Port, err = freePort(); err != nil {
			return fmt.Errorf("choosing a port for PostgreSQL: %w", err)
		}
	} else if err := portFree(c.Port); err != nil {
		return err
	}
	args := []string{"-D", c.Dir, "-p", strconv.Itoa(c.Port), "-k", c.Dir, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"}
	if c.Fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	logPath := filepath.Join(c.Dir, "server.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("opening PostgreSQL log: %w", err)
	}
	if cred != nil {
		_ = logFile.Chown(int(cred.Uid), int(cred.Gid))
	}
	cmd := exec.Command(filepath.Join(c.BinDir, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGINT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting PostgreSQL: %w", err)
	}
	c.cmd = cmd
	c.done = make(chan error, 1)
	go func() { c.done <- cmd.Wait(); logFile.Close() }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(pctx, c.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case werr := <-c.done:
			c.cmd = nil
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("PostgreSQL exited during start-up (%v): %s", werr, lastLines(string(log), 5))
		case <-ctx.Done():
			_ = c.Stop(context.Background())
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = c.Stop(context.Background())
			return fmt.Errorf("PostgreSQL did not accept connections within 60s (log: %s)", logPath)
		}
	}
}

// URL is the connection URL of database db on this cluster.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// Stop shuts the server down (fast mode: running transactions roll back, committed data is safe) and waits.
func (c *Cluster) Stop(ctx context.Context) error {
	if c.cmd == nil {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-ctx.Done():
		_ = c.cmd.Process.Kill()
		<-c.done
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("port 127.0.0.1:%d for PostgreSQL is in use: stop the other process or choose another port", port)
	}
	return l.Close()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// RemoveAll deletes a cluster directory (a stopped throwaway cluster).
func RemoveAll(dir string) error {
	err := os.RemoveAll(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
