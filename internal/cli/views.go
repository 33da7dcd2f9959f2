package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/api/apitypes"
)

// The read-only views the console also shows: alerts, approvals, audit, a run's artifacts, following a run.

func (a *app) newAlertListCmd() *cobra.Command {
	var status, source, since string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--status pending|dispatched] [--since 24h] [--json]",
		Short: "List recent alerts, newest first, with what became of each",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit == 0 {
				return usageErrorf("--limit 0: give a number from 1 to %d", apitypes.MaxListLimit)
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			list, err := c.ListAlerts(cmd.Context(), apitypes.AlertFilter{Status: status, Source: source, Since: since, Limit: limit})
			if err != nil {
				return err
			}
			if asJSON {
				return writeList(a.stdout, list)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ALERT\tRECEIVED\tSEVERITY\tSOURCE\tTITLE\tSTATUS\tREASON")
			for _, al := range list {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", al.ID, al.ReceivedAt.Local().Format(time.DateTime), al.Severity,
					oneLine(al.Source+"/"+al.Kind, 30), strconv.Quote(oneLine(al.Title, 50)), al.Status, oneLine(al.Reason, 100))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "pending or dispatched")
	cmd.Flags().StringVar(&source, "source", "", "only alerts from this source")
	cmd.Flags().StringVar(&since, "since", "", "only alerts received within this duration (24h) or since an RFC 3339 time")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many alerts")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"items": [alerts]} as JSON`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newAlertShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show an alert: its dispatch status, the playbooks it matched and, when it started nothing, why",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageErrorf("alert id %q is not a positive whole number", args[0])
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			al, err := c.GetAlert(cmd.Context(), id)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, al)
			}
			w := a.stdout
			fmt.Fprintf(w, "alert %d: %s\n", al.ID, strconv.Quote(al.Title))
			fmt.Fprintf(w, "  source     %s / %s", al.Source, al.Kind)
			if al.SourceID != "" {
				fmt.Fprintf(w, " (id %s)", al.SourceID)
			}
			fmt.Fprintf(w, "\n  severity   %s\n  observed   %s\n  received   %s", al.Severity, al.ObservedAt.Local().Format(time.DateTime), al.ReceivedAt.Local().Format(time.DateTime))
			if al.IngestedBy != "" {
				fmt.Fprintf(w, " from %s", al.IngestedBy)
			}
			fmt.Fprintf(w, "\n  status     %s", al.Status)
			if al.DispatchedAt != nil {
				fmt.Fprintf(w, " at %s", al.DispatchedAt.Local().Format(time.DateTime))
			}
			fmt.Fprintf(w, "\n  reason     %s\n", al.Reason)
			if len(al.Incidents) > 0 {
				fmt.Fprintln(w, "  matched")
				for _, inc := range al.Incidents {
					fmt.Fprintf(w, "    %s v%d: incident %d (%s), run %s\n", inc.PlaybookName, inc.PlaybookVersion, inc.ID, inc.Status, inc.RunID)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the alert as the API answers it")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newApprovalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approval",
		Short: "The approvals runs wait for (answer one with parry run approve RUN STEP)",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List every approval a run waits for, newest run first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			items, err := c.ListApprovals(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeList(a.stdout, items)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSTEP\tPLAYBOOK\tDEADLINE\tPROMPT")
			for _, ap := range items {
				deadline := "-"
				if !ap.Deadline.IsZero() {
					deadline = ap.Deadline.Local().Format(time.DateTime)
				}
				pb := ap.Playbook
				if ap.Version > 0 {
					pb += " v" + strconv.Itoa(ap.Version)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ap.RunID, ap.Step, pb, deadline, oneLine(ap.Prompt, 80))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, `print {"items": [approvals]} as JSON`)
	a.bindSettings(list.Flags(), clientSettings...)
	cmd.AddCommand(list)
	return cmd
}

func (a *app) newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "The audit trail: who did what, and every vendor mutation",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	var since, action, actor, run string
	var limit int
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--since 24h] [--action A] [--actor token:NAME] [--run RUN] [--json]",
		Short: "List audit events, newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit == 0 {
				return usageErrorf("--limit 0: give a number from 1 to %d", apitypes.MaxListLimit)
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			evs, err := c.ListAudit(cmd.Context(), apitypes.AuditFilter{Since: since, Action: action, Actor: actor, Run: run, Limit: limit})
			if err != nil {
				return err
			}
			if asJSON {
				return writeList(a.stdout, evs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tAT\tACTOR\tACTION\tRUN\tOUTCOME\tDETAILS")
			for _, e := range evs {
				act := e.Action
				if e.Operation != "" {
					act += " " + e.Operation
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.Local().Format(time.DateTime), e.Actor, act, dash(e.RunID), dash(e.Outcome),
					oneLine(string(e.Details), 100))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&since, "since", "", "only events within this duration (24h) or since an RFC 3339 time")
	list.Flags().StringVar(&action, "action", "", "only this action (run.approve) or family of actions (run)")
	list.Flags().StringVar(&actor, "actor", "", "only this actor (token:NAME)")
	list.Flags().StringVar(&run, "run", "", "only events of this run")
	list.Flags().IntVar(&limit, "limit", 200, "at most this many events")
	list.Flags().BoolVar(&asJSON, "json", false, `print {"items": [events]} as JSON`)
	a.bindSettings(list.Flags(), clientSettings...)
	cmd.AddCommand(list)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) newRunWatchCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "watch RUN [--json]",
		Short: "Follow a run until it ends, showing each step as it starts and ends (as run start --wait)",
		Long:  "Follow a run until it ends, showing each step as it starts and ends on stderr, and what it waits for. Exit status 1 when the run failed or was cancelled.",
		Args:  exactArgs(1, "RUN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			return a.follow(cmd.Context(), c, args[0], asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"run_id","status","output","steps"} on stdout when it ends`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newRunArtifactsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "artifacts RUN [--json]",
		Short: "List the files a run kept (quarantined mails)",
		Args:  exactArgs(1, "RUN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			list, err := c.ListArtifacts(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeList(a.stdout, list)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tSTEP\tSIZE\tSHA256\tID")
			for _, ar := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", dash(ar.Name), ar.Kind, ar.Step, ar.Size, short(ar.SHA256), ar.ID)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"items": [artifacts]} as JSON`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newRunArtifactCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "artifact RUN NAME -o FILE",
		Short: "Download one of a run's artifacts (by name or id); the download is audited",
		Args:  exactArgs(2, "RUN", "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageErrorf("-o FILE is required (- for stdout)")
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			data, err := c.DownloadArtifact(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if out == "-" {
				_, err := a.stdout.Write(data)
				return err
			}
			if err := os.WriteFile(out, data, 0o600); err != nil {
				return fileError("writing the artifact to", out, err)
			}
			fmt.Fprintf(a.stderr, "wrote %s (%d bytes)\n", out, len(data))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (- for stdout)")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

// signinLinkJSON is the --json shape of console link.
type signinLinkJSON struct {
	URL       string    `json:"url"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (a *app) newConsoleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "console",
		Short: "The web console (served by parry server and parry dev at /)",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	var role string
	var ttl time.Duration
	var asJSON bool
	link := &cobra.Command{
		Use:   "link [--role R] [--ttl 5m]",
		Short: "Print a one-click console sign-in link: a single-use code for a session of the role (needs admin)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if ttl <= 0 || ttl > time.Hour || ttl%time.Second != 0 {
				return usageErrorf("--ttl %s: give whole seconds from 1s to 1h", ttl)
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			sc, err := c.CreateSigninCode(cmd.Context(), apitypes.SigninCodeRequest{Role: role, TTLSeconds: int(ttl.Seconds())})
			if err != nil {
				return err
			}
			url := fmt.Sprintf("%s/#/signin?code=%s", strings.TrimRight(c.BaseURL, "/"), sc.Code)
			fmt.Fprintf(a.stderr, "single use, valid until %s; the session it opens lasts 8h\n", sc.ExpiresAt.Local().Format(time.DateTime))
			if asJSON {
				return writeJSON(a.stdout, signinLinkJSON{URL: url, Role: role, ExpiresAt: sc.ExpiresAt})
			}
			_, err = fmt.Fprintln(a.stdout, url)
			return err
		},
	}
	link.Flags().StringVar(&role, "role", "admin", "role of the session: viewer, responder, author or admin")
	link.Flags().BoolVar(&asJSON, "json", false, `print {"url","role","expires_at"} as JSON`)
	link.Flags().DurationVar(&ttl, "ttl", 5*time.Minute, "how long the link works")
	a.bindSettings(link.Flags(), clientSettings...)
	cmd.AddCommand(link)
	return cmd
}
