package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/plan"
)

func (a *app) newGraphCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "graph FILE [--format mermaid|dot]",
		Short: "Draw a playbook's flow",
		Long: "Graph prints the flow of a playbook: steps, parallel branches, conditions and jumps, loops and error\n" +
			"paths, as a Mermaid flowchart (paste it into Markdown) or Graphviz dot (dot -Tsvg).",
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != plan.GraphMermaid && format != plan.GraphDot {
				return usageErrorf("--format must be mermaid or dot, got %q", format)
			}
			p, err := a.loadPlaybook(args[0])
			if err != nil {
				return err
			}
			out, err := plan.Graph(p.Plan, format)
			if err != nil {
				return err
			}
			_, err = io.WriteString(a.stdout, out)
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", plan.GraphMermaid, "mermaid or dot")
	return cmd
}
