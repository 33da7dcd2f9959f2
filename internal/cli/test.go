package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/playbooktest"
)

func (a *app) newTestCmd() *cobra.Command {
	var asJSON bool
	var run string
	cmd := &cobra.Command{
		Use:   "test [--json] [--run REGEX] PATH...",
		Short: "Run playbooks' offline tests (NAME.test.yaml) with mocked actions",
		Long: "Test runs the cases of playbook test files on Temporal's test environment with time skipping: no\n" +
			"server, no vendor, milliseconds per case. PATH is a test file (NAME.test.yaml), a playbook (its\n" +
			"NAME.test.yaml beside it), or a directory searched recursively for test files.\n\n" +
			"Each case prints \"ok   PLAYBOOK/CASE (12ms)\" or \"FAIL PLAYBOOK/CASE (8ms)\" followed by what differed,\n" +
			"then a summary line. Problems in a test file are printed like lint diagnostics and fail the file.\n" +
			"--run REGEX runs only the cases whose PLAYBOOK/CASE name matches; --json prints an array of\n" +
			"{\"file\",\"playbook\",\"case\",\"status\",\"duration_ms\",\"failures\",\"warnings\"}.\n" +
			"The format of test files is in docs/testing.md.\n\n" +
			"Exit status: 0 when every case passes, 1 when one fails or a test file has errors, 2 on usage errors.",
		Args: minArgs(1, "at least one test file, playbook or directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r := playbooktest.NewRunner(nil)
			if run != "" {
				re, err := regexp.Compile(run)
				if err != nil {
					return usageErrorf("--run: %v", err)
				}
				r.Filter = re
			}
			files, untested, err := playbooktest.Discover(args)
			if err != nil {
				return usageErrorf("%v", err)
			}
			if len(files) == 0 {
				return usageErrorf("no test files (NAME.test.yaml) under %s", strings.Join(args, ", "))
			}
			ctx := cmd.Context()
			results := []playbooktest.CaseResult{}
			passed, failed, broken := 0, 0, 0
			for _, path := range files {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				f, diags := r.Load(path)
				if !asJSON {
					playbooktest.WriteDiags(a.stdout, path, diags)
				}
				if f == nil {
					broken++
					results = append(results, playbooktest.ErrorResult(path, diags))
					continue
				}
				for _, c := range r.Selected(f) {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					res := r.RunCase(ctx, f, c)
					if res.Status == playbooktest.StatusPass {
						passed++
					} else {
						failed++
					}
					results = append(results, res)
					if !asJSON {
						playbooktest.WriteCase(a.stdout, res)
					}
				}
			}
			summary := playbooktest.Summary(passed, failed, broken)
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(results); err != nil {
					return err
				}
				fmt.Fprintln(a.stderr, summary)
			} else {
				for _, u := range untested {
					fmt.Fprintf(a.stdout, "?    %s [no test file]\n", u)
				}
				fmt.Fprintln(a.stdout, summary)
			}
			if passed+failed == 0 && broken == 0 && run != "" {
				fmt.Fprintf(a.stderr, "no case matches --run %s\n", run)
			}
			if failed > 0 || broken > 0 {
				return silentFailure()
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as a JSON array")
	cmd.Flags().StringVar(&run, "run", "", "run only the cases whose PLAYBOOK/CASE name matches this regular expression")
	return cmd
}
