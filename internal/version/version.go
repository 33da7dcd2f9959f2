// Package version reports which build of parry is running.
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
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// Get returns the version of the running binary, with the VCS revision when the build recorded one.
func Get() Info {
	info := Info{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				info.Commit = s.Value
			}
		}
		if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
	}
	return info
}
