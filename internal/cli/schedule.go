package cli

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) newScheduleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "List playbooks' schedules (on.schedule) and fire one now",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newScheduleListCmd(), a.newScheduleTriggerCmd())
	return cmd
}

func (a *app) newScheduleListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the schedules of the enabled playbooks with their next fire times",
		Long: "List shows every schedule of every enabled playbook version (NAME#N is on.schedule[N]): its cron\n" +
			"expression and time zone or its interval, its state (active; pending until the server creates it in\n" +
			"Temporal, within seconds of an enable), its next fire times, its last fire and how many fires it\n" +
			"skipped because the previous run was still going.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			list, err := c.ListSchedules(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeList(a.stdout, list)
			}
			if len(list) == 0 {
				fmt.Fprintln(a.stderr, "no enabled playbook has a schedule (on.schedule)")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCHEDULE\tVERSION\tWHEN\tSTATE\tNEXT\tLAST\tSKIPPED")
			for _, s := range list {
				when := "every " + s.Every
				if s.Cron != "" {
					when = s.Cron + " (" + s.Timezone + ")"
				}
				next := make([]string, 0, 2)
				for _, t := range s.Next[:min(2, len(s.Next))] {
					next = append(next, t.UTC().Format(timeFmt))
				}
				last := "-"
				if n := len(s.Recent); n > 0 {
					last = s.Recent[n-1].StartedAt.UTC().Format(timeFmt)
				}
				fmt.Fprintf(tw, "%s#%d\tv%d\t%s\t%s\t%s\t%s\t%d\n", s.Playbook, s.Index, s.Version, when, s.State, orDash(strings.Join(next, ", ")), last, s.Skipped)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"items": [schedules]} as JSON`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) newScheduleTriggerCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "trigger NAME[#N]",
		Short: "Fire a playbook's schedule now (on.schedule[N], 0 by default), even while a run of it is going",
		Args:  exactArgs(1, "NAME[#N]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, index := args[0], 0
			if n, i, ok := strings.Cut(args[0], "#"); ok {
				v, err := strconv.Atoi(i)
				if err != nil || v < 0 {
					return usageErrorf("%q: N of NAME#N is a whole number from 0", args[0])
				}
				name, index = n, v
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			resp, err := c.TriggerSchedule(cmd.Context(), name, index)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, resp)
			}
			fmt.Fprintf(a.stdout, "fired %s#%d at %s: the run appears in parry run list --playbook %s\n", name, index, time.Now().UTC().Format(timeFmt), name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}
