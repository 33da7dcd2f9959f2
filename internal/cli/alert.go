package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/api"
)

func (a *app) newAlertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alert",
		Short: "Send alerts to parry",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newAlertSendCmd())
	return cmd
}

func (a *app) newAlertSendCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "send FILE",
		Short: "Post alerts from a file (one JSON object, a JSON array, or NDJSON; - reads stdin)",
		Long: "Post alerts from a file: one JSON object, a JSON array of objects, or NDJSON. Each alert has source, kind, " +
			"severity (info|low|medium|high|critical), title, observed_at (RFC 3339), and optionally id (the source's own " +
			"id: repeats are dropped), connection (the CECP tenant it concerns) and data (any JSON object). " +
			"Nothing is stored unless every alert is valid.",
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body []byte
			var err error
			if args[0] == "-" {
				body, err = io.ReadAll(a.stdin)
			} else {
				body, err = os.ReadFile(args[0])
			}
			if err != nil {
				return fmt.Errorf("reading alerts: %w", err)
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			var resp api.IntakeResponse
			if err := c.DoRaw(cmd.Context(), "POST", "/v1/alerts", bytes.NewReader(body), "application/json", &resp); err != nil {
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
			}
			fmt.Fprintf(a.stderr, "%d accepted, %d duplicates\n", resp.Accepted, resp.Duplicates)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's answer as JSON")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}
