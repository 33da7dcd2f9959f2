package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) newAlertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alert",
		Short: "Send alerts to parry and see what became of them",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newAlertSendCmd(), a.newAlertListCmd(), a.newAlertShowCmd())
	return cmd
}

func (a *app) newAlertSendCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "send FILE",
		Short: "Post alerts from a file (one JSON object, a JSON array, or NDJSON; - reads stdin)",
		Long: "Post alerts from a file: one JSON object, a JSON array of objects, or NDJSON. Each alert has source, kind, " +
			"severity (info|low|medium|high|critical), title, and optionally observed_at (RFC 3339; default: when the " +
			"server received it), id (the source's own id: repeats are dropped), connection (the CECP tenant it concerns) and data (any JSON object). " +
			"Nothing is stored unless every alert is valid.",
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := readInput(a.stdin, args[0])
			if err != nil {
				return fileError("reading alerts from", args[0], err)
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			resp, err := c.SendAlerts(cmd.Context(), body)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, resp)
			}
			for _, al := range resp.Alerts {
				if al.Duplicate {
					fmt.Fprintf(a.stdout, "%d\tduplicate\n", al.ID)
				} else {
					fmt.Fprintf(a.stdout, "%d\taccepted\n", al.ID)
				}
				if len(al.Replaced) > 0 {
					fmt.Fprintf(a.stderr, "alert %d: text PostgreSQL cannot store was replaced by U+FFFD in %s\n", al.ID, strings.Join(al.Replaced, ", "))
				}
			}
			fmt.Fprintf(a.stderr, "%d accepted, %d duplicates\n", resp.Accepted, resp.Duplicates)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's answer as JSON")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}
