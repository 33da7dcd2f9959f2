package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/apiclient"
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
				return a.alertProblems(err, func(i int) string { return fmt.Sprintf("alert %d", i) }, "nothing was stored")
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

// alertProblems prints every problem of alerts the API refused, one a line, as source push prints every
// diagnostic (the API's message names only the first), then what came of the request, and exits 1: the input
// was wrong, not a flag. name names an alert by its index in the request. Other errors are returned as they are.
func (a *app) alertProblems(err error, name func(index int) string, outcome string) error {
	var apiErr *apiclient.Error
	if !errors.As(err, &apiErr) || apiErr.Code != apitypes.CodeInvalidAlerts {
		return err
	}
	var problems []apitypes.AlertProblem
	if json.Unmarshal(apiErr.Details, &problems) != nil || len(problems) == 0 {
		return err
	}
	for _, p := range problems {
		fmt.Fprintf(a.stderr, "parry: %s: %s\n", name(p.Index), p.Message)
	}
	what := "1 problem"
	if len(problems) > 1 {
		what = fmt.Sprintf("%d problems", len(problems))
	}
	fmt.Fprintf(a.stderr, "parry: %s; %s\n", what, outcome)
	return silentFailure()
}
