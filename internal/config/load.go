package config

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/fileread"
	"github.com/parry-soar/parry/internal/suggest"
)

// MaxFileBytes bounds parry.yaml.
const MaxFileBytes = 1 << 20

// Setting is one scalar setting that can also come from a flag and an environment variable.
type Setting struct {
	Key  string // the parry.yaml key path, like temporal.address
	Env  string // PARRY_TEMPORAL_ADDRESS
	Flag string // temporal-address (commands choose which flags they offer)
	Help string
}

// Settings lists every setting that has an environment variable and a flag. Nested lists (CECP connections,
// webhooks) live only in the file.
func Settings() []Setting {
	s := []Setting{
		{Key: "data_dir", Help: "directory for parry dev's state (Temporal SQLite file, PostgreSQL cluster, artifacts, admin token)"},
		{Key: "database_url", Help: "PostgreSQL URL (postgres://user:pass@host:5432/db); parry dev starts its own cluster when empty"},
		{Key: "log.format", Help: "log format on stderr: text or json"},
		{Key: "log.level", Help: "log level: debug, info, warn or error"},
		{Key: "temporal.address", Help: "Temporal frontend host:port"},
		{Key: "temporal.namespace", Help: "Temporal namespace"},
		{Key: "temporal.task_queue", Help: "Temporal task queue of parry's workers"},
		{Key: "temporal.tls", Help: "use TLS to reach Temporal (Temporal Cloud: true)"},
		{Key: "temporal.tls_ca_file", Help: "PEM file of the CA that signed Temporal's certificate (system roots when empty)"},
		{Key: "temporal.tls_cert_file", Help: "PEM client certificate for mTLS"},
		{Key: "temporal.tls_key_file", Help: "PEM client key for mTLS"},
		{Key: "temporal.tls_server_name", Help: "server name to verify in Temporal's certificate"},
		{Key: "temporal.api_key_secret", Help: "name of the secret holding a Temporal Cloud API key"},
		{Key: "temporal.encrypt_payloads", Help: "encrypt every payload parry writes to Temporal's history (AES-256-GCM)"},
		{Key: "temporal.payload_key_secret", Help: "name of the secret holding the payload key ring (ID:BASE64 lines, the first encrypts)"},
		{Key: "api.listen", Flag: "listen", Help: "address the HTTP API listens on"},
		{Key: "api.max_body_bytes", Help: "largest request body the API accepts, in bytes"},
		{Key: "api.codec_origins", Help: "comma-separated Temporal Web UI origins allowed to call /codec from a browser (decrypted payloads)"},
		{Key: "console.url", Help: "the console's base URL as browsers reach it (https://parry.example.com), for the run links of chat notifications; parry dev uses its own when empty"},
		{Key: "client.url", Env: "PARRY_URL", Flag: "url", Help: "the parry API the CLI talks to (default: the one parry dev wrote in the data dir, else http://127.0.0.1:8080)"},
		{Key: "client.token_file", Help: "file holding the API token the CLI sends (PARRY_TOKEN, when set, wins)"},
		{Key: "secrets.dir", Help: "directory of secret files (one file per secret name), besides PARRY_SECRET_<NAME> variables"},
		{Key: "cecp.default_connection", Help: "CECP connection used when a step or command names none"},
		{Key: "http.allowed_hosts", Help: "comma-separated hosts http.request may call (exact, or *.example.com)"},
		{Key: "dev.temporal_listen", Help: "parry dev: address of the embedded Temporal frontend"},
		{Key: "dev.ui_listen", Help: "parry dev: address of the Temporal Web UI"},
		{Key: "dev.sim", Flag: "sim", Help: "parry dev: run the CECP simulator and a connection named sim pointing at it"},
		{Key: "dev.sim_listen", Help: "parry dev: address of the CECP simulator"},
		{Key: "dev.playbooks", Flag: "playbooks", Help: "parry dev: directory of playbooks loaded into the registry and reloaded on change"},
		{Key: "otel.endpoint", Help: "OTLP/gRPC collector (host:port) that receives parry's traces; none are made when empty"},
		{Key: "otel.insecure", Help: "send traces without TLS (a collector on localhost or in the pod)"},
		{Key: "otel.service_name", Help: "service name in traces (default parry-server, parry-worker or parry-dev)"},
		{Key: "otel.sample_ratio", Help: "fraction of runs traced, 0 to 1 (0: every run)"},
		{Key: "worker.listen", Help: "parry worker: address of its /healthz, /readyz and /metrics (none when empty)"},
		{Key: "worker.max_concurrent_activities", Help: "activities one worker runs at once"},
		{Key: "worker.max_concurrent_workflows", Help: "workflow tasks one worker runs at once"},
	}
	for i := range s {
		if s[i].Env == "" {
			s[i].Env = "PARRY_" + strings.ToUpper(strings.ReplaceAll(s[i].Key, ".", "_"))
		}
		if s[i].Flag == "" {
			s[i].Flag = strings.NewReplacer(".", "-", "_", "-").Replace(s[i].Key)
		}
	}
	return s
}

// LookupSetting returns the setting with the given key.
func LookupSetting(key string) (Setting, bool) {
	for _, s := range Settings() {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// Sources are where Load reads settings from.
type Sources struct {
	// File is the config file named by --config; when empty, PARRY_CONFIG, then ./parry.yaml if it exists.
	File string
	// Getenv reads the environment (os.Getenv in main, a map in tests).
	Getenv func(string) string
	// Flag returns a flag's value when the user set it on the command line.
	Flag func(name string) (string, bool)
	// Home is the user's home directory, for the default data dir.
	Home string
	// ReadFile reads the config file (os.ReadFile when nil).
	ReadFile func(string) ([]byte, error)
}

// Load builds the configuration: defaults, then the file, then PARRY_* variables, then flags. The error names
// the file position or the variable or flag at fault.
func Load(src Sources) (Config, string, error) {
	cfg := Default(src.Home)
	getenv := src.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	path, explicit := src.File, src.File != ""
	if path == "" {
		if p := getenv("PARRY_CONFIG"); p != "" {
			path, explicit = p, true
		} else {
			path = "parry.yaml"
		}
	}
	readFile := src.ReadFile
	if readFile == nil {
		readFile = func(path string) ([]byte, error) { return fileread.ReadCapped(path, MaxFileBytes) }
	}
	data, err := readFile(path)
	switch {
	case err == nil:
		if err := decodeFile(path, data, &cfg); err != nil {
			return cfg, path, err
		}
		cfg.File = path
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		path = ""
	default:
		return cfg, path, fmt.Errorf("loading the configuration: %w", err)
	}
	for _, s := range Settings() {
		if v := getenv(s.Env); v != "" {
			if err := set(&cfg, s.Key, v); err != nil {
				return cfg, path, fmt.Errorf("environment variable %s: %w", s.Env, err)
			}
		}
		if src.Flag != nil {
			if v, ok := src.Flag(s.Flag); ok {
				if err := set(&cfg, s.Key, v); err != nil {
					return cfg, path, fmt.Errorf("flag --%s: %w", s.Flag, err)
				}
			}
		}
	}
	cfg.DataDir = ExpandHome(cfg.DataDir)
	cfg.Secrets.Dir = ExpandHome(cfg.Secrets.Dir)
	cfg.Client.TokenFile = ExpandHome(cfg.Client.TokenFile)
	if err := cfg.Validate(); err != nil {
		return cfg, path, fmt.Errorf("invalid configuration: %w", err)
	}
	return cfg, path, nil
}

// decodeFile parses parry.yaml, reports every unknown key with file:line:col, then decodes it over cfg.
func decodeFile(path string, data []byte, cfg *Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			return fmt.Errorf("%s:%s", path, rest)
		}
		return fmt.Errorf("%s: %s", path, msg)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	var problems []string
	checkKeys(path, root, reflect.TypeFor[Config](), "", &problems)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	if err := root.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for i, e := range te.Errors {
				te.Errors[i] = path + ":" + strings.TrimPrefix(e, "line ")
			}
			return errors.New(strings.Join(te.Errors, "\n"))
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func checkKeys(path string, n *yaml.Node, t reflect.Type, prefix string, problems *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = t.Field(i).Type
				names = append(names, name)
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				where := "at the top level"
				if prefix != "" {
					where = "in " + prefix
				}
				*problems = append(*problems, fmt.Sprintf("%s:%d:%d: unknown key %q %s%s", path, k.Line, k.Column, k.Value, where, suggest.Hint(k.Value, names)))
				continue
			}
			checkKeys(path, v, ft, join(prefix, k.Value), problems)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			checkKeys(path, item, t.Elem(), fmt.Sprintf("%s[%d]", prefix, i), problems)
		}
	}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// set assigns a string value to the field at a dotted key path, converting it to the field's type.
func set(cfg *Config, key, value string) error {
	v := reflect.ValueOf(cfg).Elem()
	for _, part := range strings.Split(key, ".") {
		found := false
		for i := 0; i < v.NumField(); i++ {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
			if name == part {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return fmt.Errorf("no setting %q", key)
		}
	}
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]():
		d, err := time.ParseDuration(value)
		if err != nil {
			return fmt.Errorf("%q is not a duration (like 30s, 5m)", value)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(value)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("%q is not true or false", value)
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", value)
		}
		v.SetInt(n)
	case v.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", value)
		}
		v.SetFloat(f)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var items []string
		for _, s := range strings.Split(value, ",") {
			if s = strings.TrimSpace(s); s != "" && !slices.Contains(items, s) {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("setting %q cannot be set from a string", key)
	}
	return nil
}
