package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/yamlnode"
)

func (a *app) newLintCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "lint [--json] [--config FILE] PATH...",
		Short: "Check playbooks for errors",
		Long: "Lint parses, validates and type-checks playbooks: files, or directories searched recursively for\n" +
			".yaml and .yml files (NAME.test.yaml test files are skipped). Problems are printed on stdout as\n" +
			"file:line:col: error: message (or warning:), sorted; --json prints them as an array of\n" +
			"{\"file\",\"line\",\"column\",\"severity\",\"message\"}. A summary goes to stderr.\n\n" +
			"With a configuration (--config FILE or PARRY_CONFIG), a step's connection that names no configured\n" +
			"CECP connection or webhook is a warning.\n\n" +
			"Exit status: 0 when there is no error (warnings allowed), 1 when there is one, 2 on usage errors.",
		Args: minArgs(1, "at least one playbook file or directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := playbook.PlaybookFiles(args)
			if err != nil {
				return usageErrorf("%v", err)
			}
			if len(files) == 0 {
				return usageErrorf("no playbook files (.yaml, .yml) under %s", strings.Join(args, ", "))
			}
			linter, err := a.lintLinter(cmd)
			if err != nil {
				return err
			}
			diags, err := linter.Lint(files)
			if err != nil {
				return err
			}
			if asJSON {
				if diags == nil {
					diags = []playbook.Diagnostic{}
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(diags); err != nil {
					return err
				}
			} else {
				for _, d := range diags {
					fmt.Fprintln(a.stdout, d.String())
				}
			}
			errs, warns := count(diags)
			fmt.Fprintf(a.stderr, "%s, %s in %s\n", plural(errs, "error"), plural(warns, "warning"), plural(len(files), "file"))
			if errs > 0 {
				return silentFailure()
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print diagnostics as a JSON array")
	return cmd
}

// lintLinter is the linter of parry lint: when the user names a configuration (--config, PARRY_CONFIG),
// it also checks the connections steps name against the configured ones.
func (a *app) lintLinter(cmd *cobra.Command) (*playbook.Linter, error) {
	linter := playbook.NewLinter(nil)
	if a.configPath == "" && a.getenv("PARRY_CONFIG") == "" {
		return linter, nil
	}
	cfg, err := a.loadConfig(cmd)
	if err != nil {
		return nil, err
	}
	conns := playbook.Connections{CECP: []string{}, Webhooks: []string{}}
	for _, c := range cfg.CECP.Connections {
		conns.CECP = append(conns.CECP, c.Name)
	}
	for _, w := range cfg.Notify.Webhooks {
		conns.Webhooks = append(conns.Webhooks, w.Name)
	}
	return linter.WithConnections(conns), nil
}

func count(diags []playbook.Diagnostic) (errs, warns int) {
	for _, d := range diags {
		if d.Severity == yamlnode.Error {
			errs++
		} else {
			warns++
		}
	}
	return errs, warns
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// loadPlaybook compiles one file for compile and graph: diagnostics go to stderr, and errors make the
// command fail with exit 1.
func (a *app) loadPlaybook(path string) (*playbookPlan, error) {
	files, err := playbook.PlaybookFiles([]string{path})
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	if len(files) != 1 || files[0] != path {
		return nil, usageErrorf("%s is not a playbook file", path)
	}
	p, diags, err := playbook.NewLinter(nil).LoadFile(path)
	if err != nil {
		return nil, err
	}
	for _, d := range diags {
		fmt.Fprintln(a.stderr, d.String())
	}
	if p == nil {
		return nil, silentFailure()
	}
	return &playbookPlan{p}, nil
}
