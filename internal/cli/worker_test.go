package cli

import (
	"net"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/store/storetest"
)

func TestWorkerRefusesWithoutTemporal(t *testing.T) {
	dbURL := storetest.URL(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, errOut, code := runCLI(t, map[string]string{"PARRY_DATABASE_URL": dbURL, "PARRY_DATA_DIR": t.TempDir(), "PARRY_SECRET_TEMPORAL_PAYLOAD_KEY": testPayloadKey}, "", "worker", "--temporal-address", addr)
	if code != 1 || !strings.HasPrefix(errOut, "parry: cannot reach Temporal at "+addr) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("worker: %d %q", code, errOut)
	}
}

func TestWorkerNeedsDatabase(t *testing.T) {
	_, errOut, code := runCLI(t, map[string]string{"PARRY_DATA_DIR": t.TempDir()}, "", "worker")
	if code != 1 || !strings.HasPrefix(errOut, "parry: no database URL") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("worker: %d %q", code, errOut)
	}
	_, errOut, code = runCLI(t, nil, "", "worker", "extra")
	if code != 2 || !strings.Contains(errOut, `parry worker takes no arguments, got "extra"`) {
		t.Fatalf("worker extra: %d %q", code, errOut)
	}
	out, _, code := runCLI(t, nil, "", "worker", "--help")
	if code != 0 || !strings.Contains(out, "--worker-max-concurrent-activities") {
		t.Fatalf("worker --help: %d %q", code, out)
	}
}
