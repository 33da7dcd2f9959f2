package cli

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/parry-soar/parry/internal/api"
	"github.com/parry-soar/parry/internal/secret"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

func TestSourceCommands(t *testing.T) {
	st := storetest.NewStore(t)
	s := &api.Server{Store: st}
	routes, err := s.SourceRoutes(api.SourceOptions{Secrets: secret.Static{"alertmanager-webhook": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	s.Extra = routes
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	tok, _, err := st.CreateToken(context.Background(), "author", store.RoleAuthor, "test")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PARRY_URL": srv.URL, "PARRY_TOKEN": tok, "PARRY_DATA_DIR": t.TempDir()}
	shipped := "../../deploy/sources/alertmanager.yaml"
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("sources:\n  - name: b\n    auth: hmac\n    secret: b\n    severity_default: low\n    mapp: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	when := regexp.MustCompile(`20\d\d-\d\d-\d\d \d\d:\d\d:\d\dZ`)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"push", []string{"source", "push", shipped}, 0, "alertmanager\tversion 1\tcreated\n", ""},
		{"push again", []string{"source", "push", shipped}, 0, "alertmanager\tversion 1\tunchanged\n", ""},
		{"push json", []string{"source", "push", "--json", shipped}, 0, "{\n  \"sources\": [\n    {\n      \"name\": \"alertmanager\",\n      \"version\": 1,\n      \"created\": false\n    }\n  ]\n}\n", ""},
		{"push lint errors", []string{"source", "push", bad}, 1, "",
			bad + ":2:5: error: missing required key \"map\" in source \"b\"\n" +
				bad + ":6:5: error: unknown key \"mapp\" in source \"b\" (did you mean \"map\"?)\nnothing was pushed\n"},
		{"push no file", []string{"source", "push"}, 2, "", "parry: parry source push needs FILE"},
		{"list", []string{"source", "list"}, 0, "NAME          ORIGIN    VERSION  AUTH    SECRET\nalertmanager  registry  1        bearer  alertmanager-webhook\n", ""},
		{"show", []string{"source", "show", "alertmanager"}, 0, "name:     alertmanager\norigin:   registry, version 1 (TIME by token:author)\n" +
			"about:    Prometheus Alertmanager webhook (version 4), one alert per alert of the group\nauth:     bearer (secret alertmanager-webhook)\n" +
			"endpoint: POST /v1/sources/alertmanager/alerts\nsplit:    body.alerts\nseverity: medium unless mapped\nmap:\n", ""},
		{"show unknown", []string{"source", "show", "ghost"}, 1, "", "parry: no source \"ghost\" (HTTP 404 not_found)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, env, "", tc.args...)
			out = when.ReplaceAllString(out, "TIME")
			okOut := out == tc.stdout || tc.name == "show" && strings.HasPrefix(out, tc.stdout)
			if code != tc.code || !okOut || !strings.HasPrefix(errOut, tc.stderr) || tc.stderr == "" && errOut != "" {
				t.Fatalf("exit %d, want %d\nstdout %q\nwant   %q\nstderr %q\nwant   %q", code, tc.code, out, tc.stdout, errOut, tc.stderr)
			}
		})
	}
	out, _, _ := runCLI(t, env, "", "source", "show", "alertmanager")
	if !strings.Contains(out, "  kind: \"alertmanager:\" + (item.labels.alertname ?? body.groupLabels.alertname ?? \"alert\")\n") || !strings.HasSuffix(out, "rejected: 0\n") {
		t.Fatalf("show's map: %s", out)
	}
}
