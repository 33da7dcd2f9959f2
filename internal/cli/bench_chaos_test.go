package cli

import (
	"strings"
	"testing"
)

// TestBenchChaosRefusesBadValues: every bad value of parry bench chaos is a usage error (exit 2) before any
// process, database or server is started. (The soak itself is run by `make bench-chaos`; its judgement is
// tested in internal/chaosbench.)
func TestBenchChaosRefusesBadValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--alerts", "0"}, "parry: --alerts 0: use 1 to 100000"},
		{[]string{"--incidents", "60", "--alerts", "50"}, "parry: --incidents 60: use 1 to 1000, and no more than --alerts"},
		{[]string{"--kills", "-1"}, "parry: --kills -1: use 0 to 20"},
		{[]string{"--servers", "0"}, "parry: --servers 0 --workers 1: use 1 to 4 of each"},
		{[]string{"--workers", "9"}, "parry: --servers 1 --workers 9: use 1 to 4 of each"},
		{[]string{"--spread", "10ms"}, "parry: --spread 10ms --timeout 15m0s: use at least 1s and 1m"},
		{[]string{"--faults", "hang=2"}, "parry: --faults: fault hang=2: the rate must be a number between 0 and 1"},
		{[]string{"--faults", "explode=1"}, `parry: --faults: unknown fault "explode"`},
	} {
		out, errOut, code := runCLI(t, nil, "", append([]string{"bench", "chaos"}, tc.args...)...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, tc.msg) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.msg)
		}
	}
}
