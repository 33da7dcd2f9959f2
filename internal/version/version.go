// Package version reports which build of parry is running, from what the Go toolchain recorded in the binary:
// the module version (a release tag, or a pseudo-version Go derives from the commit), the commit, its date and
// whether the tree had uncommitted changes.
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is replaced at link time by release builds (-ldflags "-X github.com/parry-soar/parry/internal/version.Version=v1.2.3").
// It is a var only because the linker can set nothing else; nothing assigns it at run time.
var Version = "dev"

// Info describes the running binary.
type Info struct {
	// Version is the linked-in release version, else the module version Go recorded (a tag, or a
	// pseudo-version like v0.0.0-20260102030405-abcdef123456), else "dev" (go run, go test).
	Version string `json:"version"`
	// Commit, Date and Modified come from the VCS stamp of `go build` in a checkout.
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// Get returns the version of the running binary.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi, Version)
}

func fromBuildInfo(bi *debug.BuildInfo, linked string) Info {
	info := Info{Version: linked, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.Date = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	return info
}
