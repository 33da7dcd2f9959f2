package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/cecp"
)

func (a *app) newCECPBlocklistCmd(f *cecpFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "blocklist",
		Short: "Read and change the blocked senders, URLs and file hashes (/v1/remediation/mails)",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newCECPBlocklistGetCmd(f), a.newCECPBlocklistChangeCmd(f, true), a.newCECPBlocklistChangeCmd(f, false))
	return cmd
}

func (a *app) newCECPBlocklistGetCmd(f *cecpFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Print the blocked lists (only entries added through the API)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.cecpClient(cmd, f)
			if err != nil {
				return err
			}
			rules, err := s.client.BlockedLists(cmd.Context())
			if err != nil {
				return cecpErr(err)
			}
			if asJSON {
				return writeJSON(a.stdout, rules)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TYPE\tENTRY")
			writeRules(tw, "", rules)
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the vendor's rules object")
	return cmd
}

// writeRules prints one line per entry: [prefix TAB] type TAB entry.
func writeRules(w io.Writer, prefix string, r cecp.Rules) {
	for _, l := range []struct {
		name    string
		entries []string
	}{{"sender", r.Senders}, {"url", r.URLs}, {"sha1", r.FileHashes}, {"sha256", r.File256Hashes}} {
		for _, e := range l.entries {
			if prefix != "" {
				fmt.Fprintf(w, "%s\t", prefix)
			}
			fmt.Fprintf(w, "%s\t%s\n", l.name, cell(e))
		}
	}
}

func (a *app) newCECPBlocklistChangeCmd(f *cecpFlags, add bool) *cobra.Command {
	var rules cecp.Rules
	var asJSON bool
	use, short, long := "remove", "Remove entries from the blocked lists",
		"Remove entries from the blocked lists. The lists are read first and only entries on them are deleted, as "+
			"the vendor stores them (a URL given with its scheme matches the stored one without)."
	if add {
		use, short, long = "add", "Add entries to the blocked lists",
			"Add entries to the blocked lists. The lists are read first and only missing entries are sent, so "+
				"running the command twice changes nothing. Each list holds at most 2,048 entries."
	}
	cmd := &cobra.Command{
		Use:   use + " [--sender S] [--url U] [--sha1 H] [--sha256 H]",
		Short: short,
		Long:  long,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if rules.Len() == 0 {
				return usageErrorf("give at least one --sender, --url, --sha1 or --sha256")
			}
			s, err := a.cecpClient(cmd, f)
			if err != nil {
				return err
			}
			var ch cecp.BlocklistChange
			if add {
				ch, err = s.client.AddToBlockedLists(cmd.Context(), rules)
			} else {
				ch, err = s.client.RemoveFromBlockedLists(cmd.Context(), rules)
			}
			if err != nil {
				return cecpErr(err)
			}
			if asJSON {
				return writeJSON(a.stdout, ch)
			}
			done, same := "removed", "absent"
			if add {
				done, same = "added", "present"
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			writeRules(tw, done, ch.Sent)
			writeRules(tw, same, ch.Unchanged)
			return tw.Flush()
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&rules.Senders, "sender", nil, "sender address (repeatable)")
	fs.StringArrayVar(&rules.URLs, "url", nil, "URL (repeatable)")
	fs.StringArrayVar(&rules.FileHashes, "sha1", nil, "SHA-1 of a file (repeatable)")
	fs.StringArrayVar(&rules.File256Hashes, "sha256", nil, "SHA-256 of a file (repeatable)")
	fs.BoolVar(&asJSON, "json", false, `print {"sent": rules, "unchanged": rules} as JSON`)
	return cmd
}
