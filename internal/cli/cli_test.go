package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/payloadcrypt"
	"github.com/parry-soar/parry/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// runCLI runs parry with args and returns stdout, stderr and the exit code.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
	code := a.run(context.Background(), args)
	return out.String(), errb.String(), code
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		code      int
		stdout    string
		stderrHas string
	}{
		{[]string{"version"}, 0, "parry ", ""},
		{[]string{"help"}, 0, "parry runs security playbooks", ""},
		{[]string{}, 0, "Usage:", ""},
		{[]string{"nosuch"}, 2, "", `parry: unknown command "nosuch" for "parry"`},
		{[]string{"version", "--nosuch"}, 2, "", "parry: unknown flag: --nosuch"},
		{[]string{"version", "extra"}, 2, "", `parry: parry version takes no arguments, got "extra"`},
		{[]string{"help", "nosuch"}, 2, "", `unknown help topic "nosuch"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, errOut)
			}
			if !strings.Contains(out, tc.stdout) {
				t.Errorf("stdout %q does not contain %q", out, tc.stdout)
			}
			if !strings.Contains(errOut, tc.stderrHas) {
				t.Errorf("stderr %q does not contain %q", errOut, tc.stderrHas)
			}
		})
	}
}

func TestVersionJSON(t *testing.T) {
	out, _, code := runCLI(t, nil, "", "version", "--json")
	if code != 0 || !strings.Contains(out, `"version": "`) || !strings.Contains(out, `"go_version"`) {
		t.Fatalf("got %d %s", code, out)
	}
}

func TestPayloadKeyNew(t *testing.T) {
	out, errOut, code := runCLI(t, nil, "", "payload-key", "new", "--id", "2026-12")
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "2026-12:") {
		t.Fatalf("%d %q %q", code, out, errOut)
	}
	if _, err := payloadcrypt.ParseKeyring(out); err != nil {
		t.Fatalf("the printed key does not parse: %v", err)
	}
	if _, errOut, code := runCLI(t, nil, "", "payload-key", "new", "--id", "no spaces"); code != 2 || !strings.Contains(errOut, "--id") {
		t.Fatalf("bad id: %d %q", code, errOut)
	}
}
