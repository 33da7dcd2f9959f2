package cli

import "github.com/spf13/cobra"

// commands lists the top-level commands. Each lives in its own file.
func (a *app) commands() []*cobra.Command {
	return []*cobra.Command{
		a.newVersionCmd(),
		a.newMigrateCmd(),
		a.newTokenCmd(),
		a.newServerCmd(),
		a.newWorkerCmd(),
		a.newDevCmd(),
		a.newHealthCmd(),
		a.newAlertCmd(),
		a.newCECPCmd(),
		a.newLintCmd(),
		a.newCompileCmd(),
		a.newSchemaCmd(),
		a.newGraphCmd(),
		a.newRunCmd(),
		a.newSimCmd(),
		a.newTestCmd(),
		a.newPlaybookCmd(),
		a.newSourceCmd(),
		a.newIncidentCmd(),
		a.newPayloadKeyCmd(),
		a.newBenchCmd(),
		a.newScheduleCmd(),
		a.newApprovalCmd(),
		a.newAuditCmd(),
		a.newConsoleCmd(),
	}
}
