package devserver

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServerFatalBecomesError makes the server hit one of its Fatal paths (an
// internal port taken between our check and its bind) and checks the caller gets an
// error naming it while the process, and this test, live on.
func TestServerFatalBecomesError(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Temporal server; skipped with -short")
	}
	dir := t.TempDir()
	dbPath := filepath.Join(dir, databaseFile)
	if _, err := prepareDatabase(t.Context(), dbPath); err != nil {
		t.Fatal(err)
	}
	loop := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	ports, err := freePorts(loop, 4)
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", netip.AddrPortFrom(loop, uint16(ports[1])).String())
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	layout := serviceLayout{
		frontendBind: netip.AddrPortFrom(loop, uint16(ports[0])),
		frontendDial: netip.AddrPortFrom(loop, uint16(ports[0])),
		internalIP:   loop,
		history:      ports[1],
		matching:     ports[2],
		worker:       ports[3],
	}
	logger := newServerLogger(testLogger(t), 0, newFatalSignal())
	opts, err := serverOptions(layout, dbPath, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	srv, err := runStart(ctx, opts, logger, func() {})
	if err == nil {
		_ = stopServer(srv)
		t.Fatal("runStart succeeded with the history port taken")
	}
	want := "starting temporal server: Failed to start gRPC listener: listen tcp " + taken.Addr().String() + ": bind: address already in use"
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	if !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Errorf("error does not name the taken address %s", taken.Addr())
	}
}

// TestStartCanceled abandons a start through its context: the caller gets the
// context's error at once, and the data dir stays locked until the abandoned server
// is down, so a new start cannot run beside it.
func TestStartCanceled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Temporal server; skipped with -short")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		// Cancel once the slow part (the server) is under way.
		for {
			if _, serr := os.Stat(filepath.Join(dir, databaseFile)); serr == nil {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	tmp, err := StartTemporal(ctx, TemporalOptions{DataDir: dir, Listen: "127.0.0.1:0", Logger: testLogger(t)})
	if err == nil {
		_ = tmp.Stop(context.Background())
		t.Skip("the start finished before the cancel landed")
	}
	if want := "starting temporal server: context canceled"; err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	// The abandoned server is still coming up (that takes tens of milliseconds), so
	// its data dir must still be locked.
	if lock, lerr := lockFileIn(dir); lerr == nil {
		_ = unlockFile(lock)
		t.Errorf("data dir unlocked while the abandoned server may still run")
	}
	// Eventually the abandoned server stops and the dir is free again.
	deadline := time.Now().Add(time.Minute)
	for {
		lock, lerr := lockFileIn(dir)
		if lerr == nil {
			_ = unlockFile(lock)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("data dir still locked a minute after the canceled start: %v", lerr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	again := startTestTemporal(t, dir, "127.0.0.1:0")
	stopTemporal(t, again)
}
