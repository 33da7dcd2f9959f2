package cli

import (
	"testing"

	"github.com/parry-soar/parry/internal/version"
)

func TestVersionLine(t *testing.T) {
	got := versionLine(version.Info{Version: "v0.0.0-20260102030405-abcdef123456", Commit: "abcdef1234567890", Date: "2026-01-02T03:04:05Z",
		Modified: true, GoVersion: "go1.26.8", Platform: "linux/amd64"})
	if got != "parry v0.0.0-20260102030405-abcdef123456 (commit abcdef123456, 2026-01-02T03:04:05Z, modified) go1.26.8 linux/amd64" {
		t.Errorf("%q", got)
	}
	if got := versionLine(version.Info{Version: "dev", GoVersion: "go1.26.8", Platform: "linux/amd64"}); got != "parry dev go1.26.8 linux/amd64" {
		t.Errorf("%q", got)
	}
}
