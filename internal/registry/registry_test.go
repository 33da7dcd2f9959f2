package registry_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/registry"
	"github.com/parry-soar/parry/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

const pbA = `name: alpha
steps:
  - id: pause
    wait: 1m
`

const pbB = `name: beta
on:
  alert:
    when: alert.kind == "x"
steps:
  - id: pause
    wait: 1m
`

func TestPushLintsAllBeforeStoringAny(t *testing.T) {
	st := storetest.NewStore(t)
	ctx := context.Background()
	_, err := registry.Push(ctx, st, nil, []registry.File{
		{Name: "a.yaml", Source: pbA},
		{Name: "bad.yaml", Source: "name: bad\nsteps:\n  - id: x\n    actoin: cecp.sweep\n"},
	}, "tester", false)
	var lint *registry.LintError
	if !errors.As(err, &lint) {
		t.Fatalf("want a lint error, got %v", err)
	}
	if err.Error() != `the playbooks have 2 problems, nothing was stored; the first: bad.yaml:3:5: error: step "x" does nothing: give it one of action, parallel, call, approval, wait, set, finish, fail, steps` ||
		len(lint.Diagnostics) != 2 || lint.Diagnostics[1].String() != `bad.yaml:4:5: error: unknown key "actoin" in step "x" (did you mean "action"?)` {
		t.Fatalf("error %q, diagnostics %v", err, lint.Diagnostics)
	}
	if vs, _ := st.ListPlaybookVersions(ctx, "", false); len(vs) != 0 {
		t.Fatalf("stored %d versions despite the lint error", len(vs))
	}
	// Two files with one name.
	_, err = registry.Push(ctx, st, nil, []registry.File{{Name: "a.yaml", Source: pbA}, {Name: "a2.yaml", Source: pbA + "description: again\n"}}, "tester", false)
	if !errors.As(err, &lint) || !strings.Contains(err.Error(), `a2.yaml:1:1: error: playbook "alpha" is also defined in a.yaml`) {
		t.Fatalf("duplicate names: %v", err)
	}
}

func TestPushVersionsAndEnable(t *testing.T) {
	st := storetest.NewStore(t)
	ctx := context.Background()
	got, err := registry.Push(ctx, st, nil, []registry.File{{Name: "a.yaml", Source: pbA}, {Name: "b.yaml", Source: pbB}}, "tester", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "alpha" || got[0].Version != 1 || !got[0].Created || got[0].Enabled || got[1].Name != "beta" {
		t.Fatalf("first push: %+v", got)
	}
	again, err := registry.Push(ctx, st, nil, []registry.File{{Name: "a.yaml", Source: pbA}}, "tester", true)
	if err != nil || again[0].Created || again[0].Version != 1 || !again[0].Enabled || again[0].SHA256 != got[0].SHA256 {
		t.Fatalf("same content: %+v %v", again, err)
	}
	v2, err := registry.Push(ctx, st, nil, []registry.File{{Name: "a.yaml", Source: pbA + "description: two\n"}}, "tester", false)
	if err != nil || !v2[0].Created || v2[0].Version != 2 || v2[0].Enabled {
		t.Fatalf("new content: %+v %v", v2, err)
	}
	// Version 1 stays the enabled one until version 2 is enabled.
	if v, err := st.GetEnabledPlaybook(ctx, "alpha"); err != nil || v.Version != 1 || v.CreatedBy != "tester" {
		t.Fatalf("enabled: %+v %v", v, err)
	}
}

func TestSyncDirAndWatcher(t *testing.T) {
	st := storetest.NewStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", pbA)
	write("b.yml", pbB)
	write("a.test.yaml", "not a playbook: tests are skipped\n")
	res, err := registry.SyncDir(ctx, st, nil, dir)
	if err != nil || res.Summary() != "2 playbooks; new: alpha v1, beta v1" {
		t.Fatalf("sync: %q %v", res.Summary(), err)
	}
	// A removed file disables its playbook; a playbook pushed by hand is left alone.
	if _, err := registry.Push(ctx, st, nil, []registry.File{{Name: "c.yaml", Source: strings.Replace(pbA, "alpha", "gamma", 1)}}, "someone", true); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "b.yml"))
	res, err = registry.SyncDir(ctx, st, nil, dir)
	if err != nil || res.Summary() != "1 playbooks; disabled: beta" {
		t.Fatalf("sync after removal: %q %v", res.Summary(), err)
	}
	if _, err := st.GetEnabledPlaybook(ctx, "gamma"); err != nil {
		t.Fatalf("gamma was disabled: %v", err)
	}

	var mu sync.Mutex
	var syncs []string
	w := &registry.Watcher{Store: st, Dir: dir, Interval: 20 * time.Millisecond, OnSync: func(r registry.SyncResult, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			syncs = append(syncs, "error: "+err.Error())
		} else {
			syncs = append(syncs, r.Summary())
		}
	}}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	waitFor := func(n int) []string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			got := append([]string(nil), syncs...)
			mu.Unlock()
			if len(got) >= n {
				return got
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("only %d syncs: %v", len(syncs), syncs)
		return nil
	}
	waitFor(1)
	write("a.yaml", pbA+"description: edited\n")
	waitFor(2)
	write("a.yaml", "name: alpha\nsteps: []\n")
	got := waitFor(3)
	cancel()
	<-done
	want := []string{"1 playbooks", "1 playbooks; new: alpha v2"}
	if got[0] != want[0] || got[1] != want[1] || !strings.HasPrefix(got[2], "error: 1 file skipped (the registry keeps their previous versions): ") {
		t.Fatalf("syncs: %q", got)
	}
	if v, err := st.GetEnabledPlaybook(ctx, "alpha"); err != nil || v.Version != 2 {
		t.Fatalf("after a broken edit the registry keeps v2: %+v %v", v, err)
	}
}

// TestSyncFilesSkipsBrokenFiles: one broken file is reported and skipped, the valid ones load; the broken
// file's playbook keeps its version (it is not "gone"), and a file whose name cannot be read disables nothing.
func TestSyncFilesSkipsBrokenFiles(t *testing.T) {
	st := storetest.NewStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", pbA)
	write("b.yaml", pbB)
	if _, err := registry.SyncFiles(ctx, st, nil, dir); err != nil {
		t.Fatal(err)
	}
	write("b.yaml", "name: beta\nsteps:\n  - id: x\n    actoin: cecp.sweep\n")
	write("c.yaml", strings.Replace(pbA, "alpha", "gamma", 1))
	res, err := registry.SyncFiles(ctx, st, nil, dir)
	var skipped *registry.SkippedError
	if !errors.As(err, &skipped) || len(skipped.Skipped) != 1 || skipped.Skipped[0].Name != "beta" ||
		err.Error() != `1 file skipped (the registry keeps their previous versions): `+filepath.Join(dir, "b.yaml")+`:3:5: error: step "x" does nothing: give it one of action, parallel, call, approval, wait, set, finish, fail, steps` {
		t.Fatalf("broken file: %v", err)
	}
	if res.Summary() != "2 playbooks; new: gamma v1" {
		t.Errorf("summary %q", res.Summary())
	}
	for _, name := range []string{"alpha", "beta", "gamma"} {
		if v, err := st.GetEnabledPlaybook(ctx, name); err != nil || v.Version != 1 {
			t.Errorf("%s: %+v %v", name, v, err)
		}
	}
	// Not even YAML: its playbook is unknown, so nothing is disabled this time, though a.yaml is gone.
	os.Remove(filepath.Join(dir, "a.yaml"))
	write("b.yaml", "name: [beta\n")
	res, err = registry.SyncFiles(ctx, st, nil, dir)
	if !errors.As(err, &skipped) || !skipped.KeptAll || len(res.Disabled) != 0 {
		t.Fatalf("unreadable file: %+v %v", res, err)
	}
	if _, err := st.GetEnabledPlaybook(ctx, "alpha"); err != nil {
		t.Errorf("alpha was disabled while a file could not be read: %v", err)
	}
	// Fixed: alpha, whose file is gone, is disabled now.
	write("b.yaml", pbB)
	if res, err = registry.SyncFiles(ctx, st, nil, dir); err != nil || strings.Join(res.Disabled, ",") != "alpha" {
		t.Fatalf("fixed: %+v %v", res, err)
	}
	// Two files naming one playbook: the first keeps it, the second is skipped.
	write("d.yaml", pbB+"description: twice\n")
	if _, err = registry.SyncFiles(ctx, st, nil, dir); !errors.As(err, &skipped) || skipped.Skipped[0].File != filepath.Join(dir, "d.yaml") ||
		!strings.Contains(err.Error(), `playbook "beta" is also defined in `+filepath.Join(dir, "b.yaml")) {
		t.Fatalf("duplicate: %v", err)
	}
}
