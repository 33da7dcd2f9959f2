// Package config loads parry's settings from flags, PARRY_* environment variables and an optional parry.yaml,
// in that order of precedence, and reports every unknown key of the file with its position.
package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is every setting parry reads. The yaml tags are the keys of parry.yaml.
type Config struct {
	DataDir     string         `yaml:"data_dir"`
	DatabaseURL string         `yaml:"database_url"`
	Log         LogConfig      `yaml:"log"`
	Temporal    TemporalConfig `yaml:"temporal"`
	API         APIConfig      `yaml:"api"`
	Client      ClientConfig   `yaml:"client"`
	Secrets     SecretsConfig  `yaml:"secrets"`
	CECP        CECPConfig     `yaml:"cecp"`
	HTTP        HTTPConfig     `yaml:"http"`
	Notify      NotifyConfig   `yaml:"notify"`
	Console     ConsoleConfig  `yaml:"console"`
	Dev         DevConfig      `yaml:"dev"`
	Worker      WorkerConfig   `yaml:"worker"`
	OTel        OTelConfig     `yaml:"otel"`
	// Sources are alert sources (mappings of a tool's own JSON to alerts, internal/sources), kept as the YAML
	// node: the server lints them with their positions in File.
	Sources yaml.Node `yaml:"sources,omitempty"`
	// File is the parry.yaml the configuration was read from ("" when none was).
	File string `yaml:"-"`
}

// LogConfig is how parry writes its own logs (always to stderr).
type LogConfig struct {
	Format string `yaml:"format"` // text | json
	Level  string `yaml:"level"`  // debug | info | warn | error
}

// TemporalConfig locates the Temporal frontend used by parry server, worker and the CLI.
type TemporalConfig struct {
	Address   string `yaml:"address"`
	Namespace string `yaml:"namespace"`
	TaskQueue string `yaml:"task_queue"`
	// TLS turns on TLS to the frontend (Temporal Cloud and most self-hosted clusters).
	TLS           bool   `yaml:"tls"`
	TLSCAFile     string `yaml:"tls_ca_file"`
	TLSCertFile   string `yaml:"tls_cert_file"`
	TLSKeyFile    string `yaml:"tls_key_file"`
	TLSServerName string `yaml:"tls_server_name"`
	// APIKeySecret names the secret holding a Temporal Cloud API key; the key itself never sits in a config file.
	APIKeySecret string `yaml:"api_key_secret"`
	// EncryptPayloads encrypts every payload parry writes to Temporal's history (AES-256-GCM) with the key ring
	// in the secret PayloadKeySecret.
	EncryptPayloads  bool   `yaml:"encrypt_payloads"`
	PayloadKeySecret string `yaml:"payload_key_secret"`
}

// APIConfig is the HTTP API server.
type APIConfig struct {
	Listen       string `yaml:"listen"`
	MaxBodyBytes int64  `yaml:"max_body_bytes"`
	// CodecOrigins are the Temporal Web UI origins (https://temporal-ui.example.com) allowed to call /codec
	// from a browser to show decrypted payloads.
	CodecOrigins []string `yaml:"codec_origins"`
}

// ClientConfig tells the CLI where the API is and which token to send.
type ClientConfig struct {
	URL       string `yaml:"url"`
	TokenFile string `yaml:"token_file"`
}

// SecretsConfig is where secrets referenced by name (secret("x"), token_secret) are read from, besides
// PARRY_SECRET_<NAME> environment variables.
type SecretsConfig struct {
	Dir string `yaml:"dir"`
}

// CECPConfig lists the Trend Micro CECP tenants parry talks to.
type CECPConfig struct {
	DefaultConnection string           `yaml:"default_connection"`
	Connections       []CECPConnection `yaml:"connections"`
}

// CECPConnection is one CECP tenant (customer).
type CECPConnection struct {
	Name string `yaml:"name"`
	// Region (us, eu, jp, au, uk, ca, sg, in) or BaseURL (a proxy, the simulator); exactly one.
	Region  string `yaml:"region"`
	BaseURL string `yaml:"base_url"`
	// TokenSecret names the secret that holds the API token.
	TokenSecret string `yaml:"token_secret"`
	// BatchSize is how many mails or accounts go into one mitigation POST.
	BatchSize int `yaml:"batch_size"`
	// BatchLinger is how long a partial batch waits for more items (from any run) before it is posted.
	BatchLinger time.Duration `yaml:"batch_linger"`
	// RateLimit is the vendor quota as N/DURATION, 20/1m by default.
	RateLimit string `yaml:"rate_limit"`
	// RateLimitMargin guards both ends of parry's quota window (latency and clock skew): the window outlasts
	// the vendor's by it and grants no slot in its last margin; 1s by default (a sixtieth of a shorter
	// window), a negative value for none.
	RateLimitMargin time.Duration `yaml:"rate_limit_margin"`
	// BackgroundReserve is how many slots of each window background work (log polling) leaves to response work.
	BackgroundReserve int `yaml:"background_reserve"`
	// Timeout bounds one vendor request.
	Timeout time.Duration `yaml:"timeout"`
	// MaxDownloadBytes caps a quarantined-mail ZIP.
	MaxDownloadBytes int64 `yaml:"max_download_bytes"`
	// Poll configures the log poller for this connection (turning vendor events into alerts).
	Poll CECPPoll `yaml:"poll"`
}

// CECPPoll is the log poller of one connection.
type CECPPoll struct {
	Enabled bool `yaml:"enabled"`
	// Services and Events select the (service, event) pairs of security events to poll.
	Services []string `yaml:"services"`
	Events   []string `yaml:"events"`
	// Quarantine polls quarantine events too.
	Quarantine *bool `yaml:"quarantine"`
	// Interval between polls of one pair.
	Interval time.Duration `yaml:"interval"`
	// FirstFetch is how far back the first poll reaches (clamped to the vendor's 72 h / 7 d).
	FirstFetch time.Duration `yaml:"first_fetch"`
}

// HTTPConfig governs the http.request action.
type HTTPConfig struct {
	// AllowedHosts are the only hosts http.request may call (exact names, or *.example.com).
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// NotifyConfig names the chat webhooks notify.webhook may post to.
type NotifyConfig struct {
	Webhooks []NotifyWebhook `yaml:"webhooks"`
}

// NotifyWebhook is one named webhook; its URL is a secret because chat webhook URLs carry their credential.
type NotifyWebhook struct {
	Name      string `yaml:"name"`
	URLSecret string `yaml:"url_secret"`
	// Format is slack (default) or teams.
	Format string `yaml:"format"`
}

// ConsoleConfig is where people reach the web console, for the links parry sends them.
type ConsoleConfig struct {
	// URL is the console's base URL as people's browsers reach it (https://parry.example.com, behind a proxy
	// its public address). Chat notifications link runs as URL/#/runs/ID; without it they name the run and
	// the parry run show command instead. parry dev sets its own when this is empty.
	URL string `yaml:"url"`
}

// DevConfig is used only by `parry dev`.
type DevConfig struct {
	TemporalListen string `yaml:"temporal_listen"`
	UIListen       string `yaml:"ui_listen"`
	Sim            bool   `yaml:"sim"`
	SimListen      string `yaml:"sim_listen"`
	Playbooks      string `yaml:"playbooks"`
}

// WorkerConfig tunes the Temporal worker.
// OTelConfig is where parry sends OpenTelemetry traces: nowhere unless Endpoint is set.
type OTelConfig struct {
	// Endpoint is an OTLP/gRPC collector's host:port (an OpenTelemetry Collector, Jaeger, Tempo…).
	Endpoint string `yaml:"endpoint"`
	// Insecure sends without TLS (a collector on localhost or in the same pod).
	Insecure bool `yaml:"insecure"`
	// ServiceName names the process in traces; parry-server, parry-worker or parry-dev when empty.
	ServiceName string `yaml:"service_name"`
	// SampleRatio is the fraction of runs traced (0 means 1: every run).
	SampleRatio float64 `yaml:"sample_ratio"`
}

type WorkerConfig struct {
	// Listen, when set, is where `parry worker` serves /healthz, /readyz and /metrics (the broker's
	// metrics live in the worker): for Kubernetes probes and Prometheus.
	Listen                  string `yaml:"listen"`
	MaxConcurrentActivities int    `yaml:"max_concurrent_activities"`
	MaxConcurrentWorkflows  int    `yaml:"max_concurrent_workflows"`
}

// Default returns the configuration used when nothing overrides it. home is the user's home directory.
func Default(home string) Config {
	return Config{
		DataDir: filepath.Join(home, ".local", "share", "parry"),
		Log:     LogConfig{Format: "text", Level: "info"},
		Temporal: TemporalConfig{
			Address:   "127.0.0.1:7233",
			Namespace: "default",
			TaskQueue: "parry",
			// Alert data and step outputs are personal data: encrypted unless a deployment turns it off.
			EncryptPayloads:  true,
			PayloadKeySecret: "temporal-payload-key",
		},
		API: APIConfig{Listen: "127.0.0.1:8080", MaxBodyBytes: 10 << 20},
		Dev: DevConfig{
			TemporalListen: "127.0.0.1:7233",
			UIListen:       "127.0.0.1:8233",
			Sim:            true,
			SimListen:      "127.0.0.1:9090",
			Playbooks:      "playbooks",
		},
		Worker: WorkerConfig{MaxConcurrentActivities: 200, MaxConcurrentWorkflows: 200},
	}
}

// Connection returns the named CECP connection; an empty name means the default one.
func (c *Config) Connection(name string) (CECPConnection, error) {
	if name == "" {
		name = c.CECP.DefaultConnection
	}
	if name == "" && len(c.CECP.Connections) == 1 {
		return c.CECP.Connections[0], nil
	}
	if name == "" {
		return CECPConnection{}, fmt.Errorf("no CECP connection named and no cecp.default_connection set")
	}
	for _, conn := range c.CECP.Connections {
		if conn.Name == name {
			return conn, nil
		}
	}
	names := make([]string, 0, len(c.CECP.Connections))
	for _, conn := range c.CECP.Connections {
		names = append(names, conn.Name)
	}
	if len(names) == 0 {
		return CECPConnection{}, fmt.Errorf("unknown CECP connection %q: no connections are configured (cecp.connections in parry.yaml)", name)
	}
	return CECPConnection{}, fmt.Errorf("unknown CECP connection %q (configured: %s)", name, strings.Join(names, ", "))
}

// Validate checks values that have a closed set or a format; it returns every problem, one per line.
func (c *Config) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format must be text or json, not %q", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level must be debug, info, warn or error, not %q", c.Log.Level)
	}
	if c.API.MaxBodyBytes <= 0 {
		add("api.max_body_bytes must be positive")
	}
	if (c.Temporal.TLSCertFile == "") != (c.Temporal.TLSKeyFile == "") {
		add("temporal.tls_cert_file and temporal.tls_key_file go together")
	}
	seen := map[string]bool{}
	for i, conn := range c.CECP.Connections {
		where := fmt.Sprintf("cecp.connections[%d]", i)
		if conn.Name == "" {
			add("%s.name is required", where)
		} else if seen[conn.Name] {
			add("%s.name %q is used twice", where, conn.Name)
		}
		seen[conn.Name] = true
		if (conn.Region == "") == (conn.BaseURL == "") {
			add("%s (%s) needs exactly one of region and base_url", where, conn.Name)
		}
		if conn.BatchSize < 0 || conn.BackgroundReserve < 0 || conn.MaxDownloadBytes < 0 || conn.Timeout < 0 {
			add("%s (%s): batch_size, background_reserve, timeout and max_download_bytes cannot be negative", where, conn.Name)
		}
		if conn.RateLimit != "" {
			if _, _, err := ParseRate(conn.RateLimit); err != nil {
				add("%s (%s).rate_limit: %v", where, conn.Name, err)
			}
		}
	}
	if c.CECP.DefaultConnection != "" && !seen[c.CECP.DefaultConnection] {
		add("cecp.default_connection %q is not one of cecp.connections", c.CECP.DefaultConnection)
	}
	names := map[string]bool{}
	for i, w := range c.Notify.Webhooks {
		if w.Name == "" || w.URLSecret == "" {
			add("notify.webhooks[%d] needs name and url_secret", i)
		}
		if names[w.Name] {
			add("notify.webhooks[%d].name %q is used twice", i, w.Name)
		}
		names[w.Name] = true
		switch w.Format {
		case "", "slack", "teams":
		default:
			add("notify.webhooks[%d].format must be slack or teams, not %q", i, w.Format)
		}
	}
	if c.Console.URL != "" {
		if err := CheckConsoleURL(c.Console.URL); err != nil {
			add("console.url: %v", err)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

// CheckConsoleURL accepts the console's base URL: absolute http(s), and nothing a link must not carry to a
// chat (credentials, a query such as a sign-in code, a fragment: the link's own #/runs/ID follows it).
func CheckConsoleURL(raw string) error {
	u, err := url.Parse(raw)
	if err == nil && u.User != nil || err != nil && strings.Contains(raw, "@") {
		// Not quoted: what it carries may be a credential.
		return fmt.Errorf("the URL carries credentials (user:password@): links go to chats, give the console's address only")
	}
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return fmt.Errorf("%q is not an absolute http(s) URL such as https://parry.example.com", raw)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("%q has a query: links go to chats, give the console's address only (never a sign-in code)", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q has a fragment: give the console's address only (links add #/runs/ID)", raw)
	}
	return nil
}

// ParseRate parses N/DURATION (20/1m, 100/1h, 5/30s) into a count and a window.
func ParseRate(s string) (int, time.Duration, error) {
	n, w, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, 0, fmt.Errorf("rate %q is not N/DURATION (like 20/1m)", s)
	}
	var count int
	if _, err := fmt.Sscanf(n, "%d", &count); err != nil || count <= 0 || fmt.Sprint(count) != n {
		return 0, 0, fmt.Errorf("rate %q: %q is not a positive whole number", s, n)
	}
	if !strings.ContainsAny(w, "0123456789") {
		w = "1" + w
	}
	window, err := time.ParseDuration(w)
	if err != nil || window <= 0 {
		return 0, 0, fmt.Errorf("rate %q: %q is not a positive duration", s, w)
	}
	return count, window, nil
}

// ExpandHome replaces a leading ~ with the home directory.
func ExpandHome(path string) string {
	if path == "~" || strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, strings.TrimPrefix(path, "~"))
		}
	}
	return path
}

// AdminTokenFile is where parry dev (and a first parry server start) writes the bootstrap admin token, mode 0600.
func AdminTokenFile(dataDir string) string { return filepath.Join(dataDir, "admin.token") }

// APIURLFile is where parry dev writes the URL of its API, so the CLI finds it without PARRY_URL.
func APIURLFile(dataDir string) string { return filepath.Join(dataDir, "api.url") }
