package cli

import (
	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/plan"
)

// playbookPlan wraps a compiled plan for the commands that print one.
type playbookPlan struct{ *plan.Plan }

func (a *app) newCompileCmd() *cobra.Command {
	return jsonAlready(&cobra.Command{
		Use:   "compile FILE",
		Short: "Compile a playbook and print its plan as JSON",
		Long: "Compile validates a playbook and prints the versioned plan the Playbook workflow runs, with every\n" +
			"action default resolved. The same file always gives the same bytes. Diagnostics go to stderr; any\n" +
			"error makes it exit 1 without printing a plan.",
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.loadPlaybook(args[0])
			if err != nil {
				return err
			}
			b, err := plan.Encode(p.Plan)
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(b)
			return err
		},
	})
}
