package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/parry-soar/parry/internal/apiclient"
	"github.com/parry-soar/parry/internal/runs"
)

// alertLine describes a run's triggering alert for run show: id, kind, title, severity and source, read from
// the API. When the alert cannot be read the line is its id alone, and stderr says why (run show still shows
// the run).
func (a *app) alertLine(ctx context.Context, c *apiclient.Client, id int64) string {
	al, err := c.GetAlert(ctx, id)
	if err != nil {
		fmt.Fprintf(a.stderr, "parry: reading alert %d of the run: %v\n", id, err)
		return strconv.FormatInt(id, 10)
	}
	// The title is quoted as in alert show; kind and source too when they are more than a printable word:
	// alert text comes from outside, and quoting keeps control characters off the terminal.
	return fmt.Sprintf("%d %s %s (severity %s, source %s)", al.ID, word(al.Kind), strconv.Quote(al.Title), word(al.Severity), word(al.Source))
}

// word is s as it is when it is one printable word, else quoted.
func word(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '"' }) {
		return strconv.Quote(s)
	}
	return s
}

// printRunInputs prints a run's inputs under "inputs", one per line by name, each value as one line of JSON
// shortened as step inputs are (runs.Truncate unless full, then oneLineJSON), and reports whether it printed
// any. Inputs hold no secret values: a secret is a reference its step's worker resolves (docs/playbooks.md).
func printRunInputs(w io.Writer, raw json.RawMessage, full bool) bool {
	var inputs map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // large whole numbers print as stored
	if len(raw) == 0 || dec.Decode(&inputs) != nil || len(inputs) == 0 {
		return false
	}
	names := make([]string, 0, len(inputs))
	for k := range inputs {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "inputs")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range names {
		v := inputs[k]
		if !full {
			v = runs.Truncate(v)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", k, oneLineJSON(v))
	}
	tw.Flush()
	return true
}
