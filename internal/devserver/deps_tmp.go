package devserver

import (
	_ "github.com/expr-lang/expr"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/spf13/cobra"
	_ "github.com/temporalio/ui-server/v2/server"
	_ "go.temporal.io/sdk/client"
	_ "go.temporal.io/sdk/testsuite"
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	_ "go.temporal.io/server/schema/sqlite"
	_ "go.temporal.io/server/temporal"
	_ "go.temporal.io/server/temporaltest"
	_ "gopkg.in/yaml.v3"
)
