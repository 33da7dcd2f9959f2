package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/cli"
	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/devserver"
)

// devProcess is one `parry dev` running in this process.
type devProcess struct {
	cancel context.CancelFunc
	done   chan int
	mu     sync.Mutex
	stderr bytes.Buffer
}

func (d *devProcess) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.Write(p)
}

func (d *devProcess) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startDev(t *testing.T, dataDir string, args ...string) *devProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &devProcess{cancel: cancel, done: make(chan int, 1)}
	go func() {
		d.done <- cli.Main(ctx, append([]string{"dev", "--data-dir", dataDir, "--playbooks", filepath.Join(dataDir, "no-playbooks")}, args...),
			strings.NewReader(""), io.Discard, d, devserver.Embedded{})
	}()
	t.Cleanup(func() { d.stop(t) })
	return d
}

func (d *devProcess) stop(t *testing.T) int {
	d.cancel()
	select {
	case code := <-d.done:
		d.done <- code
		return code
	case <-time.After(90 * time.Second):
		t.Fatalf("parry dev did not stop:\n%s", d.output())
		return -1
	}
}

// waitReady waits for the API URL file and a ready /readyz.
func waitReady(t *testing.T, d *devProcess, dataDir string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case code := <-d.done:
			t.Fatalf("parry dev exited with %d:\n%s", code, d.output())
		default:
		}
		if b, err := os.ReadFile(config.APIURLFile(dataDir)); err == nil && strings.Contains(d.output(), "parry dev is running") {
			url := strings.TrimSpace(string(b))
			if resp, err := http.Get(url + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return url
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("parry dev not ready:\n%s", d.output())
	return ""
}

func TestDevStartsEverythingAndKeepsStateAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: starts parry dev")
	}
	dataDir := t.TempDir()
	os.Chmod(dataDir, 0o711) // PostgreSQL runs as the postgres user when the test runs as root
	temporalAddr, uiAddr, simAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	args := []string{"--listen", "127.0.0.1:0", "--dev-temporal-listen", temporalAddr, "--dev-ui-listen", uiAddr, "--dev-sim-listen", simAddr}
	d := startDev(t, dataDir, args...)
	api := waitReady(t, d, dataDir)
	banner := d.output()
	for _, want := range []string{"API          " + api, "Temporal     " + temporalAddr, "Temporal UI  http://" + uiAddr, "CECP sim     http://" + simAddr,
		"admin token: " + config.AdminTokenFile(dataDir) + " (created now, mode 0600)"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	// The console comes first, with a one-click sign-in link whose single-use code buys a session token.
	m := regexp.MustCompile(`parry dev is running \(Ctrl-C to stop\)\n  console      (\S+)/#/signin\?code=(prc_\S+)\n`).FindStringSubmatch(banner)
	if m == nil || m[1] != api {
		t.Fatalf("banner does not start with the console's sign-in link:\n%s", banner)
	}
	if resp, err := http.Post(api+"/v1/console/session", "application/json", strings.NewReader(`{"code":"`+m[2]+`"}`)); err != nil || resp.StatusCode != 201 {
		t.Fatalf("exchanging the banner's sign-in code: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if resp, err := http.Get(api + "/"); err != nil || resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET / of parry dev: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	st, err := os.Stat(config.AdminTokenFile(dataDir))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v %v", st, err)
	}
	for _, u := range []string{api + "/healthz", api + "/readyz", "http://" + uiAddr + "/"} {
		resp, err := http.Get(u)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", u, resp, err)
		}
		resp.Body.Close()
	}
	tokenBytes, _ := os.ReadFile(config.AdminTokenFile(dataDir))
	token := strings.TrimSpace(string(tokenBytes))

	// A run that waits on a durable timer, started before the restart.
	src := "name: outlives-restarts\nsteps:\n  - id: pause\n    wait: 8s\n  - id: after\n    set: { done: true }\noutput:\n  done: ${{ vars.done }}\n"
	body, _ := json.Marshal(map[string]any{"source": src, "run_id": "restart-test"})
	req, _ := http.NewRequest("POST", api+"/v1/runs", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("start run: %v %v", resp, err)
	}
	resp.Body.Close()
	time.Sleep(time.Second)

	if code := d.stop(t); code != 0 {
		t.Fatalf("parry dev exited %d on shutdown:\n%s", code, d.output())
	}
	shutdown := d.output()
	order := []string{"stopping API", "stopping worker", "stopping Temporal\n", "stopping PostgreSQL"}
	last := -1
	for _, s := range order {
		i := strings.Index(shutdown, s)
		if i < last {
			t.Fatalf("shutdown out of order (%q):\n%s", s, shutdown)
		}
		last = i
	}

	// Restart on the same data dir: the token still works and the run finishes.
	d2 := startDev(t, dataDir, args...)
	api = waitReady(t, d2, dataDir)
	if strings.Contains(d2.output(), "created now") {
		t.Fatal("a second start created another admin token")
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest("GET", api+"/v1/runs/restart-test", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Run struct {
				Status string          `json:"status"`
				Output json.RawMessage `json:"output"`
			} `json:"run"`
		}
		json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("token or run lost after restart: HTTP %d", resp.StatusCode)
		}
		if v.Run.Status == "succeeded" {
			if compactJSON(v.Run.Output) != `{"done":true}` {
				t.Fatalf("output %s", v.Run.Output)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run started before the restart did not finish after it: %s\n%s", v.Run.Status, d2.output())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func TestDevRefusesBusyPortsAndBadDataDirs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var errb bytes.Buffer
	code := cli.Main(context.Background(), []string{"dev", "--data-dir", t.TempDir(), "--listen", l.Addr().String()}, strings.NewReader(""), io.Discard, &errb, devserver.Embedded{})
	if code != 1 || errb.String() != fmt.Sprintf("parry: %s is in use: stop the other process or pass --listen\n", l.Addr()) {
		t.Fatalf("busy port: %d %q", code, errb.String())
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	errb.Reset()
	code = cli.Main(context.Background(), []string{"dev", "--data-dir", filepath.Join(file, "sub")}, strings.NewReader(""), io.Discard, &errb, devserver.Embedded{})
	if code != 1 || !strings.HasPrefix(errb.String(), "parry: data directory "+filepath.Join(file, "sub")+" cannot be created: not a directory (choose another with --data-dir)") {
		t.Fatalf("bad data dir: %d %q", code, errb.String())
	}
}

func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}

// simState reads the dev simulator's admin state.
func simState(t *testing.T, simAddr string) struct {
	Mails []struct {
		ID    string `json:"mail_unique_id"`
		State string `json:"state"`
	} `json:"mails"`
	Requests map[string]int `json:"requests"`
} {
	t.Helper()
	var st struct {
		Mails []struct {
			ID    string `json:"mail_unique_id"`
			State string `json:"state"`
		} `json:"mails"`
		Requests map[string]int `json:"requests"`
	}
	resp, err := http.Get("http://" + simAddr + "/_sim/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDevSimKeepsARunInFlightAcrossRestarts: a mitigation posted before parry dev stops finds its batch when
// parry dev starts again, because the simulator's tenant is kept in the data dir (before, the restarted
// simulator regenerated its tenant and the run failed: "the vendor lists no action for 3 of the mails").
func TestDevSimKeepsARunInFlightAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: starts parry dev")
	}
	dataDir := t.TempDir()
	os.Chmod(dataDir, 0o711)
	temporalAddr, uiAddr, simAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	args := []string{"--listen", "127.0.0.1:0", "--dev-temporal-listen", temporalAddr, "--dev-ui-listen", uiAddr, "--dev-sim-listen", simAddr,
		"--sim-rate-limit", "off"}
	d := startDev(t, dataDir, args...)
	api := waitReady(t, d, dataDir)
	if !strings.Contains(d.output(), "rate limit off; state "+filepath.Join(dataDir, "cecp-sim.json")) {
		t.Errorf("the banner does not say the simulator's rate limit and state:\n%s", d.output())
	}
	tokenBytes, _ := os.ReadFile(config.AdminTokenFile(dataDir))
	token := strings.TrimSpace(string(tokenBytes))

	src := "name: delete-across-restarts\nsteps:\n" +
		"  - id: find\n    action: cecp.sweep\n    with: { mailbox: alice@corp.example, lastndays: 30, max_results: 3 }\n" +
		"  - id: delete\n    action: cecp.mitigate_mails\n    with: { action: delete, mails: \"${{ steps.find.output.mails }}\", wait: true }\n" +
		"output:\n  succeeded: ${{ steps.delete.output.succeeded }}\n"
	// Until the restart, the simulator refuses to list the outcomes (503, which the broker waits out), so the
	// run is certainly in flight when parry dev stops, however slow the machine; the restarted simulator has
	// no faults (they are not part of its saved state).
	fr, err := http.Post("http://"+simAddr+"/_sim/faults", "application/json", strings.NewReader(`{"error_503": 1, "paths": ["GET /v1/mitigation/mails"]}`))
	if err != nil || fr.StatusCode != 200 {
		t.Fatalf("setting the simulator's faults: %v %v", fr, err)
	}
	fr.Body.Close()
	body, _ := json.Marshal(map[string]any{"source": src, "run_id": "sim-restart-test"})
	req, _ := http.NewRequest("POST", api+"/v1/runs", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("start run: %v %v", resp, err)
	}
	resp.Body.Close()
	// Stop once the batch is posted.
	deadline := time.Now().Add(60 * time.Second)
	for simState(t, simAddr).Requests["POST /v1/mitigation/mails"] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the run never posted its batch:\n%s", d.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := d.stop(t); code != 0 {
		t.Fatalf("parry dev exited %d on shutdown:\n%s", code, d.output())
	}

	d2 := startDev(t, dataDir, args...)
	api = waitReady(t, d2, dataDir)
	polledBefore := simState(t, simAddr).Requests["GET /v1/mitigation/mails"]
	deadline = time.Now().Add(90 * time.Second)
	for {
		req, _ := http.NewRequest("GET", api+"/v1/runs/sim-restart-test", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Run struct {
				Status string          `json:"status"`
				Output json.RawMessage `json:"output"`
				Error  json.RawMessage `json:"error"`
			} `json:"run"`
		}
		json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if v.Run.Status == "succeeded" {
			if compactJSON(v.Run.Output) != `{"succeeded":3}` {
				t.Fatalf("output %s", v.Run.Output)
			}
			break
		}
		if v.Run.Status == "failed" || time.Now().After(deadline) {
			t.Fatalf("the run in flight across the restart: %s %s\n%s", v.Run.Status, v.Run.Error, d2.output())
		}
		time.Sleep(300 * time.Millisecond)
	}
	st := simState(t, simAddr)
	if n := st.Requests["POST /v1/mitigation/mails"]; n != 1 {
		t.Errorf("%d mitigation POSTs; the batch posted before the restart must be the only one", n)
	}
	if st.Requests["GET /v1/mitigation/mails"] <= polledBefore {
		t.Error("the run did not read its batch's results after the restart (it finished before the stop)")
	}
	deleted := 0
	for _, m := range st.Mails {
		if m.State == "deleted" {
			deleted++
		}
	}
	if deleted != 3 {
		t.Errorf("%d mails deleted, want 3", deleted)
	}
}
