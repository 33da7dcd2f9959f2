package devserver

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/server/common/log/tag"
)

func TestParseListen(t *testing.T) {
	for _, tc := range []struct {
		in, bind, dial, err string
	}{
		{in: "127.0.0.1:7233", bind: "127.0.0.1:7233", dial: "127.0.0.1"},
		{in: "localhost:7233", bind: "127.0.0.1:7233", dial: "127.0.0.1"},
		{in: ":7233", bind: "127.0.0.1:7233", dial: "127.0.0.1"},
		{in: "0.0.0.0:7233", bind: "0.0.0.0:7233", dial: "127.0.0.1"},
		{in: "[::]:7233", bind: "[::]:7233", dial: "::1"},
		{in: "[::1]:0", bind: "[::1]:0", dial: "::1"},
		{in: "[::ffff:10.0.0.1]:7233", bind: "10.0.0.1:7233", dial: "10.0.0.1"},
		{in: "192.168.1.5:7233", bind: "192.168.1.5:7233", dial: "192.168.1.5"},
		{in: "7233", err: `invalid listen address "7233": want ip:port, e.g. 127.0.0.1:7233`},
		{in: "127.0.0.1:", err: `invalid listen address "127.0.0.1:": port must be a number from 0 to 65535`},
		{in: "127.0.0.1:65536", err: `invalid listen address "127.0.0.1:65536": port must be a number from 0 to 65535`},
		{in: "127.0.0.1:-1", err: `invalid listen address "127.0.0.1:-1": port must be a number from 0 to 65535`},
		{in: "example.com:7233", err: `invalid listen address "example.com:7233": host must be an IP address or localhost`},
		{in: "[fe80::1%eth0]:7233", err: `invalid listen address "[fe80::1%eth0]:7233": host must be an IP address or localhost`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			l, err := parseListen(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := l.bind.String(); got != tc.bind {
				t.Errorf("bind = %s, want %s", got, tc.bind)
			}
			if got := l.dialIP().String(); got != tc.dial {
				t.Errorf("dial = %s, want %s", got, tc.dial)
			}
		})
	}
}

func TestListenErrors(t *testing.T) {
	taken := occupy(t)
	l, err := parseListen(taken)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = l.reserve("--flag")
	var pe *PortInUseError
	if !errors.As(err, &pe) || err.Error() != taken+" is in use: stop the other process or pass --flag" {
		t.Errorf("reserve on a taken port = %v", err)
	}

	// 192.0.2.0/24 is reserved for documentation, never a local address.
	l, err = parseListen("192.0.2.1:7233")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = l.reserve("--flag")
	want := "cannot listen on 192.0.2.1:7233: the address is not on this machine: pass another with --flag"
	if err == nil || err.Error() != want {
		t.Errorf("reserve on a foreign address = %v, want %q", err, want)
	}

	l, err = parseListen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, got, err := l.reserve("--flag")
	if err != nil || got.Port() == 0 {
		t.Fatalf("reserve port 0 = %v, %v; want a concrete free port", got, err)
	}
	defer ln.Close()
	if held := ln.Addr().(*net.TCPAddr).Port; held != int(got.Port()) {
		t.Errorf("reserve returned port %d but holds %d", got.Port(), held)
	}
}

func TestFreePortsDistinct(t *testing.T) {
	l, _ := parseListen("127.0.0.1:0")
	ports, err := freePorts(l.bind.Addr(), 20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] || p == 0 {
			t.Fatalf("ports not distinct and non-zero: %v", ports)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d was not released: %v", p, err)
		}
		_ = ln.Close()
	}
}

func TestNamespaceList(t *testing.T) {
	got, err := namespaceList([]string{"parry", "default", "parry", "team_b.dev"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "default,parry,team_b.dev"; strings.Join(got, ",") != want {
		t.Errorf("namespaceList = %v, want %s", got, want)
	}
	for _, tc := range []struct{ in, want string }{
		{"", `invalid namespace "": a namespace needs a name`},
		{"-x", `invalid namespace "-x": use letters, digits, '-', '_' and '.', starting with a letter, digit or '_'`},
		{"naïve", `invalid namespace "naïve": use letters, digits, '-', '_' and '.', starting with a letter, digit or '_'`},
		{"a/b", `invalid namespace "a/b": use letters, digits, '-', '_' and '.', starting with a letter, digit or '_'`},
		{strings.Repeat("n", 256), `invalid namespace "nnnnnnnnnnnnnnnnnnnn…": longer than 255 characters`},
		{"temporal-system", `invalid namespace "temporal-system": reserved for the server itself`},
	} {
		_, err := namespaceList([]string{tc.in})
		if err == nil || err.Error() != tc.want {
			t.Errorf("namespaceList(%.30q) error = %v, want %q", tc.in, err, tc.want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestServerLogger(min slog.Level) (*serverLogger, *syncBuffer) {
	var buf syncBuffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	return newServerLogger(slog.New(h), min, newFatalSignal()), &buf
}

func TestServerLoggerLevelsAndTags(t *testing.T) {
	l, buf := newTestServerLogger(slog.LevelWarn)
	l.Info("chatty", tag.NewStringTag("k", "v"))
	l.Debug("chattier")
	w := l.With(tag.NewStringTag("service", "history"))
	w.Warn("shard moved", tag.NewInt32("shard-id", 1), tag.Error(errors.New("boom")))
	l.DPanic("odd state")
	l.Warn("HTTP API port has not been set. Nexus HTTP endpoints will not be available.")
	want := `level=WARN msg="shard moved" service=history shard-id=1 error=boom
level=ERROR msg="odd state"
`
	if got := buf.String(); got != want {
		t.Errorf("log output:\n%s\nwant:\n%s", got, want)
	}

	sl := w.(*serverLogger).SLog()
	sl.Info("dropped by the same minimum level")
	sl.Warn("via slog")
	if got := buf.String(); !strings.HasSuffix(got, "level=WARN msg=\"via slog\" service=history\n") {
		t.Errorf("SLog output:\n%s", got)
	}
}

func TestServerLoggerQuietAndMute(t *testing.T) {
	l, buf := newTestServerLogger(slog.LevelInfo)
	derived := l.With(tag.NewStringTag("service", "matching"))
	l.quiet()
	derived.Warn("peer went away")
	derived.Error("real trouble")
	l.mute()
	derived.Error("after stop")
	l.SLog().Error("after stop via slog")
	want := "level=ERROR msg=\"real trouble\" service=matching\n"
	if got := buf.String(); got != want {
		t.Errorf("log output:\n%s\nwant:\n%s", got, want)
	}
}

func TestServerLoggerFatalEndsOnlyItsGoroutine(t *testing.T) {
	l, buf := newTestServerLogger(slog.LevelWarn)
	done := make(chan bool)
	go func() {
		reached := false
		defer func() { done <- reached }()
		l.Fatal("Failed to start gRPC listener", tag.Error(errors.New("bind: address already in use")), tag.NewStringTag("address", "127.0.0.1:1"))
		reached = true
	}()
	if reached := <-done; reached {
		t.Fatal("Fatal returned to its caller")
	}
	select {
	case msg := <-l.fatal.ch:
		if want := "Failed to start gRPC listener: bind: address already in use"; msg != want {
			t.Errorf("fatal message = %q, want %q", msg, want)
		}
	default:
		t.Fatal("Fatal raised nothing")
	}
	if !strings.Contains(buf.String(), `level=ERROR msg="Failed to start gRPC listener" error="bind: address already in use" address=127.0.0.1:1`) {
		t.Errorf("Fatal was not logged as an error: %s", buf.String())
	}
}

func TestServerLoggerPanicPanics(t *testing.T) {
	l, _ := newTestServerLogger(slog.LevelWarn)
	defer func() {
		if r := recover(); r != "invariant broken" {
			t.Errorf("recovered %v, want the message", r)
		}
	}()
	l.Panic("invariant broken")
	t.Error("Panic returned")
}

func TestFailedReportsFatalAfterStart(t *testing.T) {
	tmp := &Temporal{fatal: newFatalSignal(), failed: make(chan error, 1), stopped: make(chan struct{})}
	go tmp.watchFatal()
	tmp.fatal.raise("Failed to serve on frontend listener: use of closed network connection")
	tmp.fatal.raise("a second fatal is not reported")
	err := <-tmp.Failed()
	if want := "temporal server failed: Failed to serve on frontend listener: use of closed network connection"; err == nil || err.Error() != want {
		t.Errorf("Failed() = %v, want %q", err, want)
	}
}
