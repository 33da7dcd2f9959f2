// Package cli is parry's command tree: `parry <noun> <verb>`, results on stdout, everything else on stderr,
// exit 0 on success, 1 on failure and 2 on usage errors.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/parry-soar/parry/internal/apiclient"
	"github.com/parry-soar/parry/internal/config"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Main runs the parry command line with the given arguments and stdio and returns the process exit code.
// SIGINT and SIGTERM cancel the context, which long-running commands treat as "shut down in order". embedded
// provides the Temporal server and UI of `parry dev`; it is a parameter so that this package (and its tests)
// does not import the Temporal server.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, embedded Embedded) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, embedded: embedded}
	return a.run(ctx, args)
}

// app holds what every command shares: stdio, the environment and the global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	embedded       Embedded

	configPath string
}

// exitError carries an exit code; msg is printed unless empty (the command already printed what it had to).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports a usage mistake (exit 2).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// silentFailure makes the command exit 1 without printing anything more.
func silentFailure() error { return &exitError{code: ExitFailure} }

func (a *app) run(ctx context.Context, args []string) int {
	root := a.newRootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitFailure
	var ee *exitError
	var apiErr *apiclient.Error
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case errors.As(err, &apiErr) && apiErr.Usage():
		// The API refused a value the user gave (a flag or an argument): the same mistake as a bad flag.
		code = ExitUsage
	case isCobraUsageError(err):
		code = ExitUsage
	}
	msg := err.Error()
	if apiErr != nil && code == ExitUsage {
		msg = apiErr.Message // the value was the user's, not an API fault: no HTTP status
	}
	if msg != "" {
		fmt.Fprintf(a.stderr, "parry: %s\n", msg)
		if code == ExitUsage {
			fmt.Fprintln(a.stderr, "Run 'parry help' or 'parry <command> --help' for usage.")
		}
	}
	return code
}

// flagError words a flag that did not parse without Go's parser text ("strconv.ParseInt: parsing ...").
func flagError(err error) error {
	var inv *pflag.InvalidValueError
	if errors.As(err, &inv) {
		// parry's own flag types word their refusals already; the standard ones carry strconv's text.
		if f := inv.GetFlag(); wantOf(f.Value.Type()) != "" {
			return usageErrorf("--%s %q: %s", f.Name, inv.GetValue(), wantOf(f.Value.Type()))
		}
	}
	return &exitError{code: ExitUsage, err: err}
}

func wantOf(flagType string) string {
	switch flagType {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "want a whole number"
	case "float32", "float64":
		return "want a number"
	case "bool":
		return "want true or false"
	case "duration":
		return "want a duration such as 30s or 24h"
	}
	return ""
}

// isCobraUsageError recognises the errors cobra builds itself for unknown commands and bad arguments.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "invalid argument", "required flag", "accepts ", "requires at least", "flag needs an argument", "bad flag syntax", "if any flags in the group"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "parry",
		Short:         "parry: security orchestration, automation and response on Temporal",
		Long:          "parry runs security playbooks written in YAML as durable Temporal workflows.\n\nStart everything locally with `parry dev`; lint playbooks with `parry lint`.",
		SilenceUsage:  true,
		SilenceErrors: true,
		// With no subcommand, show help (exit 0 for `parry`, since asking for help is not an error).
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q", args[0])
			}
			return cmd.Help()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return flagError(err) })
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "config file (default: $PARRY_CONFIG, else ./parry.yaml when present)")
	a.bindSettings(root.PersistentFlags(), "log.format", "log.level")
	root.AddCommand(a.commands()...)
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(cmd *cobra.Command, args []string) error {
			target, _, err := root.Find(args)
			if err != nil || target == nil {
				return usageErrorf("unknown help topic %q", strings.Join(args, " "))
			}
			return target.Help()
		},
	})
	return root
}

// bindSettings offers the given config settings as flags; loadConfig reads them back when set.
func (a *app) bindSettings(fs *pflag.FlagSet, keys ...string) {
	for _, key := range keys {
		s, ok := config.LookupSetting(key)
		if !ok {
			panic("cli: unknown setting " + key) // a programming error, caught by every test that builds the tree
		}
		fs.String(s.Flag, "", s.Help+" ("+s.Env+")")
		if f := fs.Lookup(s.Flag); f != nil && key == "dev.sim" {
			f.NoOptDefVal = "true"
		}
	}
}

// loadConfig resolves the configuration for cmd: its flags, then PARRY_* variables, then the config file.
func (a *app) loadConfig(cmd *cobra.Command) (config.Config, error) {
	home, _ := os.UserHomeDir()
	cfg, _, err := config.Load(config.Sources{
		File:   a.configPath,
		Getenv: a.getenv,
		Home:   home,
		Flag: func(name string) (string, bool) {
			f := cmd.Flags().Lookup(name)
			if f == nil || !f.Changed {
				return "", false
			}
			return f.Value.String(), true
		},
	})
	if err != nil {
		return cfg, &exitError{code: ExitUsage, err: err}
	}
	return cfg, nil
}

// newLogger builds the slog logger writing to stderr in the configured format.
func (a *app) newLogger(cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(a.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(a.stderr, opts))
}

// Argument validators that report usage errors (exit 2).
func exactArgs(n int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			if len(names) > 0 {
				return usageErrorf("%s needs %s", cmd.CommandPath(), strings.Join(names, " "))
			}
			return usageErrorf("%s takes %d argument(s), got %d", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s needs %s", cmd.CommandPath(), what)
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}
