package devserver

import (
	"context"
	"net"
	"net/netip"
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
	srv, err := runStart(ctx, opts, logger)
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
