package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/apiclient"
	"github.com/parry-soar/parry/internal/registry"
)

func (a *app) newPlaybookCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "playbook",
		Short: "Push, list, show, enable, disable and compare playbook versions in the registry",
		Long: "The registry keeps every version of every playbook, immutable and identified by its content's SHA-256. " +
			"A version is linted before it is stored. Alerts trigger the enabled version of each playbook; a run keeps " +
			"the version that started it.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newPlaybookPushCmd(), a.newPlaybookListCmd(), a.newPlaybookShowCmd(), a.newPlaybookVersionsCmd(),
		a.newPlaybookEnableCmd(), a.newPlaybookDisableCmd(), a.newPlaybookDiffCmd())
	return cmd
}

func (a *app) newPlaybookPushCmd() *cobra.Command {
	var asJSON, enable bool
	cmd := &cobra.Command{
		Use:   "push FILE|DIR...",
		Short: "Store new versions of playbooks (directories are searched for .yaml/.yml files)",
		Long: "Push playbook files to the registry. Every file is linted first; if any has an error, nothing is stored and " +
			"the problems are printed as file:line:col: error: message. A file whose content is stored already is " +
			"reported unchanged. With --enable each pushed version becomes the enabled one.",
		Args: minArgs(1, "FILE or DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := registry.ReadFiles(args)
			if err != nil {
				return err
			}
			if len(files) == 0 {
				return fmt.Errorf("no playbook files (.yaml or .yml) in %s", strings.Join(args, ", "))
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			req := apitypes.PushRequest{Enable: enable}
			for _, f := range files {
				req.Playbooks = append(req.Playbooks, apitypes.PlaybookFile{Name: f.Name, Source: f.Source})
			}
			resp, err := c.PushPlaybooks(cmd.Context(), req)
			var apiErr *apiclient.Error
			if errors.As(err, &apiErr) && apiErr.Code == apitypes.CodeLintFailed {
				// The API's message names the first problem; lint locally to print them all with positions.
				diags := registry.Lint(nil, files)
				if len(diags) == 0 {
					return err // this parry lints differently from the server's: show the server's verdict
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
			for _, d := range resp.Warnings {
				fmt.Fprintln(a.stderr, d.String())
			}
			if asJSON {
				return writeJSON(a.stdout, resp)
			}
			for _, p := range resp.Playbooks {
				state := "unchanged"
				if p.Created {
					state = "created"
				}
				if p.Enabled {
					state += ", enabled"
				}
				fmt.Fprintf(a.stdout, "%s\tversion %d\t%s\n", p.Name, p.Version, state)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().BoolVar(&enable, "enable", false, "enable every pushed version")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newPlaybookListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the playbooks in the registry",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			list, err := c.ListPlaybooks(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeList(a.stdout, list)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tENABLED\tLATEST\tVERSIONS\tSHA256")
			for _, p := range list {
				enabled := "-"
				if p.Enabled > 0 {
					enabled = strconv.Itoa(p.Enabled)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", p.Name, enabled, p.Latest, p.Versions, shortSHA(p.SHA256))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"items": [playbooks]} as JSON`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func (a *app) newPlaybookShowCmd() *cobra.Command {
	var version int
	var asJSON, showPlan bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Print a playbook's source (the enabled version, else the latest)",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			v, err := c.GetPlaybook(cmd.Context(), args[0], version)
			if err != nil {
				return err
			}
			switch {
			case asJSON:
				return writeJSON(a.stdout, v)
			case showPlan:
				_, err := a.stdout.Write(append([]byte(strings.TrimRight(string(v.Plan), "\n")), '\n'))
				return err
			}
			state := "disabled"
			if v.Enabled {
				state = "enabled"
			}
			fmt.Fprintf(a.stderr, "%s version %d (%s), sha256 %s, by %s at %s\n", v.Name, v.Version, state, v.SHA256, v.CreatedBy, v.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"))
			_, err = fmt.Fprint(a.stdout, v.Source)
			return err
		},
	}
	cmd.Flags().IntVar(&version, "version", 0, "the version to show (default: the enabled one, else the latest)")
	cmd.Flags().BoolVar(&showPlan, "plan", false, "print the compiled plan (JSON) instead of the source")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the version with its source and plan as JSON")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newPlaybookVersionsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "versions NAME",
		Short: "List the versions of a playbook, newest first",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			versions, err := c.ListVersions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeList(a.stdout, versions)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tENABLED\tSHA256\tCREATED\tBY")
			for _, v := range versions {
				enabled := ""
				if v.Enabled {
					enabled = "yes"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", v.Version, enabled, shortSHA(v.SHA256), v.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"), v.CreatedBy)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"items": [versions]} as JSON`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newPlaybookEnableCmd() *cobra.Command {
	var version int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "enable NAME",
		Short: "Make a version (default: the latest) the one alerts trigger",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			v, err := c.EnablePlaybook(cmd.Context(), args[0], version)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, v)
			}
			fmt.Fprintf(a.stdout, "%s\tversion %d\tenabled\n", v.Name, v.Version)
			return nil
		},
	}
	cmd.Flags().IntVar(&version, "version", 0, "the version to enable (default: the latest)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the enabled version as JSON")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newPlaybookDisableCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "disable NAME",
		Short: "Stop alerts from triggering a playbook (runs in flight go on)",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			resp, err := c.DisablePlaybook(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, resp)
			}
			if resp.WasEnabled {
				fmt.Fprintf(a.stdout, "%s\tdisabled\n", args[0])
			} else {
				fmt.Fprintf(a.stdout, "%s\twas not enabled\n", args[0])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"name","was_enabled"} as JSON`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

// diffJSON is the --json shape of playbook diff; Diff is empty when both versions have the same source.
type diffJSON struct {
	Name string `json:"name"`
	From int    `json:"from"`
	To   int    `json:"to"`
	Diff string `json:"diff"`
}

func (a *app) newPlaybookDiffCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "diff NAME V1 V2",
		Short: "Show what changed between two versions of a playbook (unified diff)",
		Args:  exactArgs(3, "NAME V1 V2"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var vs [2]int
			for i, s := range args[1:] {
				v, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
				if err != nil || v < 1 {
					return usageErrorf("version %q is not a positive number", s)
				}
				vs[i] = v
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			var src [2]apitypes.PlaybookVersion
			for i, v := range vs {
				if src[i], err = c.GetPlaybook(cmd.Context(), args[0], v); err != nil {
					return err
				}
			}
			d := registry.Diff(fmt.Sprintf("%s v%d", args[0], vs[0]), fmt.Sprintf("%s v%d", args[0], vs[1]), src[0].Source, src[1].Source)
			if asJSON {
				return writeJSON(a.stdout, diffJSON{Name: args[0], From: vs[0], To: vs[1], Diff: d})
			}
			if d == "" {
				fmt.Fprintf(a.stderr, "versions %d and %d have the same source\n", vs[0], vs[1])
				return nil
			}
			_, err = fmt.Fprint(a.stdout, d)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"name","from","to","diff"} as JSON (diff empty: the same source)`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}
