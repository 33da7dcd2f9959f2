package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/version"
)

func (a *app) newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print parry's version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info := version.Get()
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			_, err := fmt.Fprintln(a.stdout, versionLine(info))
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// versionLine is `parry version`'s output: parry v0.0.0-20260102030405-abcdef123456 (commit abcdef123456,
// 2026-01-02T03:04:05Z, modified) go1.26.8 linux/amd64.
func versionLine(info version.Info) string {
	var build []string
	if info.Commit != "" {
		build = append(build, "commit "+info.Commit[:min(12, len(info.Commit))])
	}
	if info.Date != "" {
		build = append(build, info.Date)
	}
	if info.Modified {
		build = append(build, "modified")
	}
	line := "parry " + info.Version
	if len(build) > 0 {
		line += " (" + strings.Join(build, ", ") + ")"
	}
	return line + " " + info.GoVersion + " " + info.Platform
}
