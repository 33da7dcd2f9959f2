package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/apiclient"
	"github.com/parry-soar/parry/internal/sources"
)

func (a *app) newSourceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "source",
		Short: "Push, list and show alert sources (mappings of a SIEM's or tool's own JSON to alerts)",
		Long: "A source maps the JSON a SIEM, EDR, mail gateway or ticket system sends to " +
			"POST /v1/sources/NAME/alerts into parry alerts, with expressions over body, headers and item. " +
			"Sources come from the server's parry.yaml (sources:) or from the registry (parry source push). " +
			"See docs/alerts.md, Sources.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newSourcePushCmd(), a.newSourceListCmd(), a.newSourceShowCmd())
	return cmd
}

func (a *app) newSourcePushCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "push FILE",
		Short: "Lint a file of sources and store a new version of each changed one",
		Long: "The file holds sources: with a list of source definitions. It is linted first (locally and by the " +
			"server); if it has any error, nothing is stored and every problem is printed as " +
			"file:line:col: error: message. A source whose definition is stored already is reported unchanged.",
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("reading %s: %w", args[0], err)
			}
			if _, diags := sources.Parse(args[0], data, false); len(diags) > 0 {
				for _, d := range diags {
					fmt.Fprintln(a.stderr, d.String())
				}
				fmt.Fprintln(a.stderr, "nothing was pushed")
				return silentFailure()
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			resp, err := c.PushSources(cmd.Context(), apitypes.SourcePushRequest{File: args[0], Source: string(data)})
			var apiErr *apiclient.Error
			if errors.As(err, &apiErr) && apiErr.Code == apitypes.CodeLintFailed {
				// The server lints differently from this parry (another version): print its verdict.
				var diags []apitypes.Diagnostic
				if json.Unmarshal(apiErr.Details, &diags) != nil || len(diags) == 0 {
					return err
				}
				for _, d := range diags {
					fmt.Fprintln(a.stderr, d.String())
				}
				fmt.Fprintln(a.stderr, "nothing was pushed")
				return silentFailure()
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, resp)
			}
			for _, p := range resp.Sources {
				state := "unchanged"
				if p.Created {
					state = "created"
				}
				fmt.Fprintf(a.stdout, "%s\tversion %d\t%s\n", p.Name, p.Version, state)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newSourceListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the sources the server maps alerts with",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			list, err := c.ListSources(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeList(a.stdout, list)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tORIGIN\tVERSION\tAUTH\tSECRET")
			for _, s := range list {
				version := "-"
				if s.Version > 0 {
					version = fmt.Sprint(s.Version)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.Origin, version, s.Auth, s.Secret)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"items": [sources]} as JSON`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newSourceShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a source's mapping and its latest rejected bodies",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			d, err := c.GetSource(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, d)
			}
			w := a.stdout
			fmt.Fprintf(w, "name:     %s\n", d.Name)
			if d.Version > 0 {
				fmt.Fprintf(w, "origin:   %s, version %d (%s by %s)\n", d.Origin, d.Version, d.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"), d.CreatedBy)
			} else {
				fmt.Fprintf(w, "origin:   %s\n", d.Origin)
			}
			if d.Description != "" {
				fmt.Fprintf(w, "about:    %s\n", d.Description)
			}
			fmt.Fprintf(w, "auth:     %s (secret %s)\n", d.Auth, d.Secret)
			fmt.Fprintf(w, "endpoint: POST /v1/sources/%s/alerts\n", d.Name)
			if d.Split != "" {
				fmt.Fprintf(w, "split:    %s\n", d.Split)
			}
			if d.SeverityDefault != "" {
				fmt.Fprintf(w, "severity: %s unless mapped\n", d.SeverityDefault)
			}
			fmt.Fprintln(w, "map:")
			keys := make([]string, 0, len(d.Map))
			for k := range d.Map {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "  %s: %s\n", k, d.Map[k])
			}
			fmt.Fprintf(w, "rejected: %d\n", d.RejectedCount)
			for _, r := range d.Rejected {
				var problems []apitypes.AlertProblem
				_ = json.Unmarshal(r.Problems, &problems)
				fmt.Fprintf(w, "  #%d %s (%d bytes, version %d)\n", r.ID, r.ReceivedAt.UTC().Format("2006-01-02 15:04:05Z"), r.BodyBytes, r.Version)
				for _, p := range problems {
					fmt.Fprintf(w, "    alert %d: %s\n", p.Index, p.Message)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the source as JSON")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}
