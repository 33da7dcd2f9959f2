package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/parry-soar/parry", Version: "v0.0.0-20260102030405-abcdef123456+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abcdef1234567890"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"}}}
	got := fromBuildInfo(bi, "dev")
	if got.Version != "v0.0.0-20260102030405-abcdef123456+dirty" || got.Commit != "abcdef1234567890" || got.Date != "2026-01-02T03:04:05Z" ||
		!got.Modified || got.GoVersion != "go1.26.8" {
		t.Errorf("%+v", got)
	}
	if got := fromBuildInfo(bi, "v1.2.3"); got.Version != "v1.2.3" {
		t.Errorf("a linked-in version wins: %+v", got)
	}
	if got := fromBuildInfo(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"); got.Version != "dev" || got.Commit != "" {
		t.Errorf("go run: %+v", got)
	}
	if got := fromBuildInfo(nil, "dev"); got.Version != "dev" || got.GoVersion == "" {
		t.Errorf("no build info: %+v", got)
	}
}
