// Package kubernetes holds parry's Kubernetes manifests; its test checks them against the code, since no
// cluster runs here: kinds and API versions, probes on the paths and ports parry serves, the security context,
// every mounted ConfigMap, Secret and claim defined, selectors that match, and a parry.yaml parry itself loads.
package kubernetes

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/parry-soar/parry/internal/config"
)

type object struct {
	file string
	doc  map[string]any
}

func (o object) kind() string { s, _ := o.doc["kind"].(string); return s }
func (o object) name() string { return str(get(o.doc, "metadata", "name")) }

// get walks maps and lists: get(doc, "spec", "template", 0) …
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

func list(v any) []any { l, _ := v.([]any); return l }

func load(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var out []object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if doc != nil {
				out = append(out, object{file: f, doc: doc})
			}
		}
	}
	return out
}

var apiVersions = map[string]string{
	"Deployment": "apps/v1", "Service": "v1", "PodDisruptionBudget": "policy/v1", "ConfigMap": "v1", "Secret": "v1",
	"PersistentVolumeClaim": "v1", "Kustomization": "kustomize.config.k8s.io/v1beta1",
}

func TestManifests(t *testing.T) {
	t.Parallel()
	objs := load(t)
	byKind := map[string]map[string]object{}
	for _, o := range objs {
		want, ok := apiVersions[o.kind()]
		if !ok {
			t.Errorf("%s: unexpected kind %q", o.file, o.kind())
			continue
		}
		if got := str(o.doc["apiVersion"]); got != want {
			t.Errorf("%s: %s has apiVersion %q, want %q", o.file, o.kind(), got, want)
		}
		if byKind[o.kind()] == nil {
			byKind[o.kind()] = map[string]object{}
		}
		byKind[o.kind()][o.name()] = o
	}

	// The kustomization applies every manifest but the secret's example.
	var kust object
	for _, o := range objs {
		if o.kind() == "Kustomization" {
			kust = o
		}
	}
	var resources []string
	for _, r := range list(kust.doc["resources"]) {
		resources = append(resources, str(r))
	}
	sort.Strings(resources)
	files, _ := filepath.Glob("*.yaml")
	var want []string
	for _, f := range files {
		if f != "kustomization.yaml" && f != "secret.example.yaml" {
			want = append(want, f)
		}
	}
	if !slices.Equal(resources, want) {
		t.Errorf("kustomization resources %v, want %v", resources, want)
	}

	// parry.yaml is a configuration parry loads (unknown keys are errors), and says where each process listens.
	cm, ok := byKind["ConfigMap"]["parry-config"]
	if !ok {
		t.Fatal("no ConfigMap parry-config")
	}
	path := filepath.Join(t.TempDir(), "parry.yaml")
	if err := os.WriteFile(path, []byte(str(get(cm.doc, "data", "parry.yaml"))), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(config.Sources{File: path, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatalf("the ConfigMap's parry.yaml: %v", err)
	}
	listenPort := map[string]string{"server": port(t, cfg.API.Listen), "worker": port(t, cfg.Worker.Listen)}

	secret, ok := byKind["Secret"]["parry-secrets"]
	if !ok {
		t.Fatal("no Secret parry-secrets (secret.example.yaml)")
	}
	secretKeys := map[string]bool{}
	for k := range get(secret.doc, "stringData").(map[string]any) {
		secretKeys[k] = true
	}
	// Every secret parry.yaml names is a file of the mounted Secret.
	names := []string{cfg.Temporal.PayloadKeySecret}
	for _, c := range cfg.CECP.Connections {
		names = append(names, c.TokenSecret)
	}
	for _, n := range names {
		if n != "" && !secretKeys[n] {
			t.Errorf("parry.yaml names the secret %q, which parry-secrets does not hold", n)
		}
	}
	known := map[string]bool{"PARRY_CONFIG": true}
	for _, s := range config.Settings() {
		known[s.Env] = true
	}

	for _, role := range []string{"server", "worker"} {
		d, ok := byKind["Deployment"]["parry-"+role]
		if !ok {
			t.Errorf("no Deployment parry-%s", role)
			continue
		}
		spec := get(d.doc, "spec", "template", "spec")
		labels, _ := get(d.doc, "spec", "template", "metadata", "labels").(map[string]any)
		if !matches(get(d.doc, "spec", "selector", "matchLabels"), labels) {
			t.Errorf("%s: the selector does not match the pod labels", d.name())
		}
		if get(spec, "securityContext", "runAsNonRoot") != true {
			t.Errorf("%s: runAsNonRoot is not set", d.name())
		}
		c := get(spec, "containers", 0)
		if args := list(get(c, "args")); len(args) == 0 || str(args[0]) != role {
			t.Errorf("%s: runs %v, want parry %s", d.name(), args, role)
		}
		if get(c, "securityContext", "readOnlyRootFilesystem") != true || get(c, "securityContext", "allowPrivilegeEscalation") != false {
			t.Errorf("%s: the container may write its root filesystem or escalate", d.name())
		}
		if get(c, "resources", "requests", "cpu") == nil || get(c, "resources", "requests", "memory") == nil {
			t.Errorf("%s: no resource requests", d.name())
		}
		ports := map[string]string{}
		for _, p := range list(get(c, "ports")) {
			ports[str(get(p, "name"))] = yamlInt(get(p, "containerPort"))
		}
		for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
			if got := str(get(c, probe, "httpGet", "path")); got != path {
				t.Errorf("%s: %s on %q, want %s", d.name(), probe, got, path)
			}
			p := str(get(c, probe, "httpGet", "port"))
			if ports[p] != listenPort[role] {
				t.Errorf("%s: %s on port %q (%s), but parry %s listens on %s", d.name(), probe, p, ports[p], role, listenPort[role])
			}
		}
		for _, e := range list(get(c, "env")) {
			name := str(get(e, "name"))
			if strings.HasPrefix(name, "PARRY_") && !known[name] {
				t.Errorf("%s: sets %s, which parry does not read", d.name(), name)
			}
			if ref := get(e, "valueFrom", "secretKeyRef"); ref != nil && (str(get(ref, "name")) != "parry-secrets" || !secretKeys[str(get(ref, "key"))]) {
				t.Errorf("%s: %s reads %v, not a key of parry-secrets", d.name(), name, ref)
			}
		}
		volumes := map[string]bool{}
		for _, v := range list(get(spec, "volumes")) {
			volumes[str(get(v, "name"))] = true
			switch {
			case get(v, "configMap") != nil:
				if _, ok := byKind["ConfigMap"][str(get(v, "configMap", "name"))]; !ok {
					t.Errorf("%s: mounts an undefined ConfigMap %v", d.name(), get(v, "configMap", "name"))
				}
			case get(v, "secret") != nil:
				if _, ok := byKind["Secret"][str(get(v, "secret", "secretName"))]; !ok {
					t.Errorf("%s: mounts an undefined Secret %v", d.name(), get(v, "secret", "secretName"))
				}
			case get(v, "persistentVolumeClaim") != nil:
				if _, ok := byKind["PersistentVolumeClaim"][str(get(v, "persistentVolumeClaim", "claimName"))]; !ok {
					t.Errorf("%s: mounts an undefined claim %v", d.name(), get(v, "persistentVolumeClaim", "claimName"))
				}
			}
		}
		mounts := map[string]string{}
		for _, m := range list(get(c, "volumeMounts")) {
			if !volumes[str(get(m, "name"))] {
				t.Errorf("%s: mounts the undeclared volume %q", d.name(), str(get(m, "name")))
			}
			mounts[str(get(m, "mountPath"))] = str(get(m, "name"))
		}
		for _, dir := range []string{cfg.Secrets.Dir, cfg.DataDir, "/etc/parry"} {
			if mounts[dir] == "" {
				t.Errorf("%s: nothing mounted at %s", d.name(), dir)
			}
		}
		pdb, ok := byKind["PodDisruptionBudget"]["parry-"+role]
		if !ok || !matches(get(pdb.doc, "spec", "selector", "matchLabels"), labels) {
			t.Errorf("no PodDisruptionBudget selecting the %s pods", role)
		}
	}
	svc, ok := byKind["Service"]["parry"]
	if !ok || !matches(get(svc.doc, "spec", "selector"), get(byKind["Deployment"]["parry-server"].doc, "spec", "template", "metadata", "labels").(map[string]any)) {
		t.Error("no Service parry selecting the server pods")
	}
}

// matches reports whether every label of sel is in labels (and sel selects something).
func matches(sel any, labels map[string]any) bool {
	m, ok := sel.(map[string]any)
	if !ok || len(m) == 0 {
		return false
	}
	for k, v := range m {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	return p
}

func yamlInt(v any) string {
	if n, ok := v.(int); ok {
		return strconv.Itoa(n)
	}
	return ""
}
