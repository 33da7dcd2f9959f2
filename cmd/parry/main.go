// Command parry is the SOAR engine's single binary: the CLI, the server, the worker and the all-in-one dev runtime.
package main

import (
	"context"
	"os"

	"github.com/parry-soar/parry/internal/cli"
	"github.com/parry-soar/parry/internal/devserver"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, devserver.Embedded{}))
}
