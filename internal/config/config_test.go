package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, file string, env map[string]string, flags map[string]string) (Config, error) {
	t.Helper()
	name := "parry.yaml"
	if file == "" {
		name = ""
	}
	cfg, _, err := Load(Sources{
		File:   name,
		Getenv: func(k string) string { return env[k] },
		Flag: func(name string) (string, bool) {
			v, ok := flags[name]
			return v, ok
		},
		Home: "/home/u",
		ReadFile: func(string) ([]byte, error) {
			if file == "" {
				return nil, fs.ErrNotExist
			}
			return []byte(file), nil
		},
	})
	return cfg, err
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := "temporal:\n  address: file:7233\n  namespace: filens\nlog:\n  format: json\n"
	env := map[string]string{"PARRY_TEMPORAL_ADDRESS": "env:7233", "PARRY_LOG_LEVEL": "debug"}
	flags := map[string]string{"temporal-address": "flag:7233"}
	cfg, err := load(t, file, env, flags)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Temporal.Address != "flag:7233" || cfg.Temporal.Namespace != "filens" || cfg.Log.Format != "json" || cfg.Log.Level != "debug" {
		t.Fatalf("got %+v", cfg)
	}
	if cfg.DataDir != "/home/u/.local/share/parry" || cfg.API.Listen != "127.0.0.1:8080" {
		t.Fatalf("defaults lost: %+v", cfg)
	}
}

func TestUnknownKeysHavePositions(t *testing.T) {
	t.Parallel()
	file := "temporal:\n  adress: x\nlogs: {}\ncecp:\n  connections:\n    - name: a\n      base_url: http://x\n      rate_limt: 5/1m\n"
	_, err := load(t, file, nil, nil)
	want := strings.Join([]string{
		`parry.yaml:2:3: unknown key "adress" in temporal (did you mean "address"?)`,
		`parry.yaml:3:1: unknown key "logs" at the top level (did you mean "log"?)`,
		`parry.yaml:8:7: unknown key "rate_limt" in cecp.connections[0] (did you mean "rate_limit"?)`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestBadValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file string
		env, flags map[string]string
		want       string
	}{
		{"yaml syntax", "log: [\n", nil, nil, "parry.yaml:1: did not find expected node content"},
		{"type", "api:\n  max_body_bytes: lots\n", nil, nil, "parry.yaml:2: cannot unmarshal !!str `lots` into int64"},
		{"env int", "", map[string]string{"PARRY_API_MAX_BODY_BYTES": "x"}, nil, `environment variable PARRY_API_MAX_BODY_BYTES: "x" is not a whole number`},
		{"flag bool", "", nil, map[string]string{"sim": "maybe"}, `flag --sim: "maybe" is not true or false`},
		{"log format", "", map[string]string{"PARRY_LOG_FORMAT": "xml"}, nil, `invalid configuration: log.format must be text or json, not "xml"`},
		{"connection", "cecp:\n  default_connection: b\n  connections:\n    - name: a\n      rate_limit: 20\n", nil, nil,
			"invalid configuration: cecp.connections[0] (a) needs exactly one of region and base_url\ncecp.connections[0] (a).rate_limit: rate \"20\" is not N/DURATION (like 20/1m)\ncecp.default_connection \"b\" is not one of cecp.connections"},
		{"console url relative", "console:\n  url: parry.example.com\n", nil, nil,
			`invalid configuration: console.url: "parry.example.com" is not an absolute http(s) URL such as https://parry.example.com`},
		{"console url credentials", "", map[string]string{"PARRY_CONSOLE_URL": "https://u:p@parry.example.com"}, nil,
			`invalid configuration: console.url: the URL carries credentials (user:password@): links go to chats, give the console's address only`},
		{"console url sign-in code", "", nil, map[string]string{"console-url": "https://parry.example.com/?code=abc"},
			`invalid configuration: console.url: "https://parry.example.com/?code=abc" has a query: links go to chats, give the console's address only (never a sign-in code)`},
		{"console url fragment", "console:\n  url: https://parry.example.com/#/signin\n", nil, nil,
			`invalid configuration: console.url: "https://parry.example.com/#/signin" has a fragment: give the console's address only (links add #/runs/ID)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.file, tc.env, tc.flags)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestConsoleURL: a console URL from any source is kept as given when it is only an address.
func TestConsoleURL(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, "", map[string]string{"PARRY_CONSOLE_URL": "https://soc.example.com/parry/"}, nil)
	if err != nil || cfg.Console.URL != "https://soc.example.com/parry/" {
		t.Fatalf("got %q, %v", cfg.Console.URL, err)
	}
}

func TestMissingExplicitFile(t *testing.T) {
	t.Parallel()
	_, _, err := Load(Sources{File: "/nonexistent/parry.yaml"})
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
	cfg, path, err := Load(Sources{ReadFile: func(string) ([]byte, error) { return nil, fs.ErrNotExist }})
	if err != nil || path != "" || cfg.Temporal.Namespace != "default" {
		t.Fatalf("implicit missing file: %v %q", err, path)
	}
}

// TestUnreadableFile: a config file that cannot be read, or is too large, is named in the error.
func TestUnreadableFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/nonexistent/parry.yaml": "loading the configuration: reading /nonexistent/parry.yaml: no such file or directory",
		big:                       "loading the configuration: " + big + " is larger than the limit of 1048576 bytes",
		dir:                       "loading the configuration: reading " + dir + ": is a directory",
	} {
		if _, _, err := Load(Sources{File: path}); err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		n      int
		window time.Duration
		err    string
	}{
		{"20/1m", 20, time.Minute, ""},
		{"5/m", 5, time.Minute, ""},
		{"100/30s", 100, 30 * time.Second, ""},
		{"0/1m", 0, 0, `rate "0/1m": "0" is not a positive whole number`},
		{"x/1m", 0, 0, `rate "x/1m": "x" is not a positive whole number`},
		{"5/1q", 0, 0, `rate "5/1q": "1q" is not a positive duration`},
	} {
		n, w, err := ParseRate(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseRate(%q) error = %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || n != tc.n || w != tc.window {
			t.Errorf("ParseRate(%q) = %d, %v, %v", tc.in, n, w, err)
		}
	}
}

func TestListFromEnv(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, "", map[string]string{"PARRY_HTTP_ALLOWED_HOSTS": "a.example.com, *.b.com,a.example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.HTTP.AllowedHosts, "|") != "a.example.com|*.b.com" {
		t.Fatalf("got %q", cfg.HTTP.AllowedHosts)
	}
}

func TestEverySettingResolves(t *testing.T) {
	t.Parallel()
	var cfg Config
	for _, s := range Settings() {
		if err := set(&cfg, s.Key, "1"); err != nil && !strings.Contains(err.Error(), "is not") {
			t.Errorf("setting %s: %v", s.Key, err)
		}
	}
}
