package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/apiclient"
)

func (a *app) newHealthCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Ask a parry API whether it is ready (exit 0) or not (exit 1); for container health checks",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				c = apiclient.New(a.clientURL(cmd), "")
			}
			ready, err := c.Ready(cmd.Context())
			if err != nil {
				return fmt.Errorf("not ready: %w", err)
			}
			return writeJSON(a.stdout, ready)
		},
	}
	jsonAlready(cmd)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}
