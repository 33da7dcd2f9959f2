package cli

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/api/apitypes"
)

func (a *app) newIncidentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "incident",
		Short: "List, show and close incidents (alerts grouped by playbook and dedup key)",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newIncidentListCmd(), a.newIncidentShowCmd(), a.newIncidentCloseCmd())
	return cmd
}

const timeFmt = "2006-01-02 15:04:05Z"

func (a *app) newIncidentListCmd() *cobra.Command {
	var status, playbookName string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List incidents, newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit == 0 { // the filter's zero means "the default": say so rather than send it
				return usageErrorf("--limit 0: give a number from 1 to %d", apitypes.MaxListLimit)
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			// The server checks every value; a refusal is a usage error.
			list, err := c.ListIncidents(cmd.Context(), apitypes.IncidentFilter{Status: status, Playbook: playbookName, Limit: limit})
			if err != nil {
				return err
			}
			if asJSON {
				return writeList(a.stdout, list)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tPLAYBOOK\tVERSION\tALERTS\tOPENED\tRUN\tKEY")
			for _, i := range list {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", i.ID, i.Status, i.PlaybookName, i.PlaybookVersion, i.AlertCount,
					i.OpenedAt.UTC().Format(timeFmt), i.RunID, clip(i.DedupKey, 60))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only open or closed incidents")
	cmd.Flags().StringVar(&playbookName, "playbook", "", "only incidents of this playbook")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many incidents")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"items": [incidents]} as JSON`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func parseIncidentID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageErrorf("incident id %q is not a number", s)
	}
	return id, nil
}

func (a *app) newIncidentShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show an incident: its status, alerts and runs",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseIncidentID(args[0])
			if err != nil {
				return err
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			d, err := c.GetIncident(cmd.Context(), id)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, d)
			}
			w := a.stdout
			fmt.Fprintf(w, "Incident %d\t%s\n", d.ID, d.Status)
			fmt.Fprintf(w, "Playbook\t%s version %d\n", d.PlaybookName, d.PlaybookVersion)
			if d.DedupKey != "" {
				fmt.Fprintf(w, "Key\t%s\n", d.DedupKey)
			}
			fmt.Fprintf(w, "Opened\t%s (window until %s)\n", d.OpenedAt.UTC().Format(timeFmt), d.WindowEndsAt.UTC().Format(timeFmt))
			if d.ClosedAt != nil {
				fmt.Fprintf(w, "Closed\t%s by %s\n", d.ClosedAt.UTC().Format(timeFmt), d.ClosedBy)
			}
			fmt.Fprintf(w, "\nRuns\n")
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "  ID\tSTATUS\tVERSION\tSTARTED\tFINISHED")
			for _, r := range d.Runs {
				fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", r.ID, r.Status, r.PlaybookVersion, fmtTimePtr(r.StartedAt), fmtTimePtr(r.FinishedAt))
			}
			tw.Flush()
			fmt.Fprintf(w, "\nAlerts (%d)\n", d.AlertCount)
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "  ID\tRECEIVED\tSOURCE\tKIND\tSEVERITY\tTITLE")
			for _, al := range d.Alerts {
				fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", al.ID, al.ReceivedAt.UTC().Format(timeFmt), al.Source, al.Kind, al.Severity, clip(al.Title, 80))
			}
			tw.Flush()
			if d.AlertsTruncated {
				fmt.Fprintf(w, "  … %d more (the first %d are shown)\n", d.AlertCount-len(d.Alerts), len(d.Alerts))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the incident as JSON")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(timeFmt)
}

func (a *app) newIncidentCloseCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "close ID",
		Short: "Close an incident: later alerts with its key open a new one (its run is not stopped)",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseIncidentID(args[0])
			if err != nil {
				return err
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			resp, err := c.CloseIncident(cmd.Context(), id)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, resp)
			}
			if resp.ClosedNow {
				fmt.Fprintf(a.stdout, "incident %d closed\n", id)
			} else {
				fmt.Fprintf(a.stdout, "incident %d was closed already\n", id)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"closed_now","incident"} as JSON`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}
