package cli

import (
	"encoding/json"
	"fmt"

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
			commit := ""
			if info.Commit != "" {
				commit = " (" + info.Commit[:min(12, len(info.Commit))] + ")"
			}
			_, err := fmt.Fprintf(a.stdout, "parry %s%s %s %s\n", info.Version, commit, info.GoVersion, info.Platform)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
