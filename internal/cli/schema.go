package cli

import (
	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/playbook"
)

func (a *app) newSchemaCmd() *cobra.Command {
	return jsonAlready(&cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the playbook language",
		Long: "Schema prints a JSON Schema (draft-07) of playbooks, generated from the action catalog, for editor\n" +
			"completion and early errors. With the YAML extension of VS Code, for example:\n\n" +
			"  parry schema > .vscode/parry-playbook.schema.json\n\n" +
			"and in .vscode/settings.json:\n\n" +
			"  \"yaml.schemas\": {\"./.vscode/parry-playbook.schema.json\": \"playbooks/*.yaml\"}\n\n" +
			"or a first line in each playbook:\n\n" +
			"  # yaml-language-server: $schema=../.vscode/parry-playbook.schema.json",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := playbook.Schema(nil)
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(b)
			return err
		},
	})
}
