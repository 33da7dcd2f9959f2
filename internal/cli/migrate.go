package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/config"
	"github.com/parry-soar/parry/internal/store"
)

func (a *app) newMigrateCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations embedded in this binary",
		Long:  "Apply the database migrations embedded in this binary. parry server and parry dev also do this at start-up; concurrent runs are safe.",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			st, closeFn, err := a.openStore(cmd, cfg)
			if err != nil {
				return err
			}
			defer closeFn()
			applied, err := store.Migrate(cmd.Context(), st.Pool)
			if asJSON {
				if err != nil { // a failed command prints nothing on stdout: what was applied goes to stderr
					for _, v := range applied {
						fmt.Fprintf(a.stderr, "applied %s\n", v)
					}
					return err
				}
				if applied == nil {
					applied = []string{}
				}
				return writeJSON(a.stdout, migrateJSON{Applied: applied})
			}
			for _, v := range applied {
				fmt.Fprintf(a.stdout, "applied %s\n", v)
			}
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(a.stdout, "database is up to date")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"applied": [migrations]} as JSON (empty: the database was up to date)`)
	a.bindSettings(cmd.Flags(), "database_url")
	return cmd
}

// migrateJSON is the --json shape of migrate.
type migrateJSON struct {
	Applied []string `json:"applied"`
}

// openStore connects to the configured database.
func (a *app) openStore(cmd *cobra.Command, cfg config.Config) (*store.Store, func(), error) {
	pool, err := store.Open(cmd.Context(), cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	return store.New(pool), pool.Close, nil
}
