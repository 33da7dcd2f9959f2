package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while the command writes to it.
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

func TestSimRunsUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- a.run(ctx, []string{"sim", "--listen", "127.0.0.1:0", "--seed", "5", "--mailboxes", "8",
			"--token", "tok-1", "--token", "tok-2", "--rate-limit", "3/1m", "--retry-after", "--faults", "latency=1ms"})
	}()
	urlRE := regexp.MustCompile(`CECP simulator on (http://127\.0\.0\.1:\d+) \(Ctrl-C to stop\)`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; {
		if m := urlRE.FindStringSubmatch(errb.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no banner: %q", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	banner := errb.String()
	for _, want := range []string{"tenant default: token tok-1, tok-2; 8 mailboxes at corp.example,",
		"rate limit 3 per 1m per tenant; faults latency=1ms", "admin: GET " + base + "/_sim/state"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	get := func(token string) *http.Response {
		req, _ := http.NewRequest("GET", base+"/v1/remediation/mails", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := get("wrong"); r.StatusCode != 401 {
		t.Fatalf("bad token: %s", r.Status)
	}
	for range 3 {
		if r := get("tok-2"); r.StatusCode != 200 {
			t.Fatalf("good token: %s", r.Status)
		}
	}
	if r := get("tok-1"); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth request: %s %v", r.Status, r.Header)
	}
	resp, err := http.Get(base + "/_sim/state")
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Requests map[string]int }
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Requests["GET /v1/remediation/mails"] != 5 {
		t.Fatalf("state requests %v", st.Requests)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 || !strings.HasSuffix(errb.String(), "parry sim: stopped\n") || out.String() != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("sim did not stop")
	}
}

func TestSimPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	out, errOut, code := runCLI(t, nil, "", "sim", "--listen", addr)
	want := fmt.Sprintf("parry: %s is in use: stop the other process or pass --listen\n", addr)
	if code != 1 || out != "" || errOut != want {
		t.Fatalf("exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
}

func TestSimBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--rate-limit", "20"}, `parry: --rate-limit: rate "20" is not N/DURATION (like 20/1m) (or off)`},
		{[]string{"--rate-limit", "x/1m"}, `parry: --rate-limit: rate "x/1m": "x" is not a positive whole number (or off)`},
		{[]string{"--faults", "500=2"}, `parry: --faults: fault 500=2: the rate must be a number between 0 and 1`},
		{[]string{"--faults", "teapot=0.1"}, `parry: --faults: unknown fault "teapot" (known: 429, 500, 503, drop-after-post, hang, latency, malformed-json, paths, rate-limit-200, storm)`},
		{[]string{"--mailboxes", "0"}, `parry: --mailboxes 0: give a number from 1 to 100000`},
		{[]string{"--token", "has space"}, `parry: --token "has space": a token is a non-empty string without spaces`},
		{[]string{"--action-delay", "-1s"}, `parry: --action-delay -1s: give a duration of zero or more`},
		{[]string{"--seed", "abc"}, `parry: --seed "abc": want a whole number`},
		{[]string{"extra"}, `parry: parry sim takes no arguments, got "extra"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, "", append([]string{"sim", "--listen", "127.0.0.1:0"}, tc.args...)...)
			first, _, _ := strings.Cut(errOut, "\n")
			if code != 2 || out != "" || first != tc.msg {
				t.Fatalf("exit %d, stdout %q, stderr %q; want first line %q", code, out, errOut, tc.msg)
			}
		})
	}
}
