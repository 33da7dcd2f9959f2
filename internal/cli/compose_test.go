package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/config"
)

// TestDockerCompose checks docker-compose.yaml against the code, since it cannot run here: the services exist,
// every parry command it runs exists, every PARRY_* variable it sets is one parry reads, and the files it
// mounts or builds from are in the repository.
func TestDockerCompose(t *testing.T) {
	root := filepath.Join("..", "..")
	data, err := os.ReadFile(filepath.Join(root, "docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string                                `yaml:"image"`
			Build       *struct{ Context, Dockerfile string } `yaml:"build"`
			Command     []string                              `yaml:"command"`
			Environment map[string]string                     `yaml:"environment"`
			Volumes     []string                              `yaml:"volumes"`
			Profiles    []string                              `yaml:"profiles"`
			Ports       []string                              `yaml:"ports"`
			Container   string                                `yaml:"container_name"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	for _, name := range []string{"postgres", "temporal", "temporal-ui", "server", "worker", "sim"} {
		if _, ok := doc.Services[name]; !ok {
			t.Errorf("service %q missing", name)
		}
	}
	if !slices.Contains(doc.Services["sim"].Profiles, "demo") {
		t.Error("the simulator must be in the demo profile")
	}
	if w := doc.Services["worker"]; w.Container != "" || len(w.Ports) > 0 {
		t.Error("worker must be scalable (--scale worker=N): no container_name, no host ports")
	}
	known := map[string]bool{"PARRY_CONFIG": true, "PARRY_TOKEN": true, "PARRY_CECP_TOKEN": true}
	for _, s := range config.Settings() {
		known[s.Env] = true
	}
	cmds := (&app{}).newRootCmd()
	for name, svc := range doc.Services {
		for k := range svc.Environment {
			if strings.HasPrefix(k, "PARRY_") && !known[k] && !strings.HasPrefix(k, "PARRY_SECRET_") {
				t.Errorf("service %s sets %s, which parry does not read", name, k)
			}
		}
		if svc.Image == "parry:local" && len(svc.Command) > 0 {
			c, _, err := cmds.Find(svc.Command)
			if err != nil || c == cmds {
				t.Errorf("service %s runs `parry %s`, which does not exist", name, strings.Join(svc.Command, " "))
			}
		}
		if svc.Build != nil {
			if _, err := os.Stat(filepath.Join(root, svc.Build.Context, svc.Build.Dockerfile)); err != nil {
				t.Errorf("service %s builds from a missing Dockerfile: %v", name, err)
			}
		}
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("service %s mounts missing %s", name, src)
				}
			}
		}
	}
	// The config file the stack mounts must load cleanly.
	if _, _, err := config.Load(config.Sources{File: filepath.Join(root, "deploy", "parry.yaml"), Getenv: func(string) string { return "" }}); err != nil {
		t.Errorf("deploy/parry.yaml: %v", err)
	}
	// The Dockerfile builds the parry command and runs as non-root.
	df, err := os.ReadFile(filepath.Join(root, "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*regexp.Regexp{regexp.MustCompile(`go build .*\./cmd/parry`), regexp.MustCompile(`(?m)^USER nonroot`), regexp.MustCompile(`CGO_ENABLED=0`)} {
		if !want.Match(df) {
			t.Errorf("deploy/Dockerfile lacks %s", want)
		}
	}
}
