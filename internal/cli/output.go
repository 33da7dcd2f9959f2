package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/api/apitypes"
)

// writeJSON prints v as indented JSON (no HTML escapes: the output is for people and scripts, not pages).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeList prints a list in the one --json shape every list command has: {"items": [...]}.
func writeList[T any](w io.Writer, items []T) error {
	if items == nil {
		items = []T{}
	}
	return writeJSON(w, apitypes.ListResponse[T]{Items: items})
}

// jsonAlready offers --json on a command that prints JSON whatever its flags, so that every command printing a
// result takes --json (a script can pass it everywhere).
func jsonAlready(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().Bool("json", false, "accepted for scripts: the output is JSON already")
	return cmd
}

// fileError says what failed with a file in the operating system's words ("no such file or directory"),
// without Go's "open PATH:" framing.
func fileError(doing, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s %s: %w", doing, path, pe.Err)
	}
	return fmt.Errorf("%s %s: %w", doing, path, err)
}
