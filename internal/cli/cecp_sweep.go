package cli

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/cecp"
)

func (a *app) newCECPSweepCmd(f *cecpFlags) *cobra.Command {
	var q cecp.SweepQuery
	var lf listFlags
	cmd := &cobra.Command{
		Use:   "sweep [--sender S] [--subject S] [--file-sha256 H] ...",
		Short: "Search mail metadata of the last 90 days (GET /v1/sweeping/mails)",
		Long: "Search the mail metadata of the last 90 days; every filter given narrows the search. Without a time " +
			"filter the vendor searches the last 7 days. Addresses and names take non-prefix wildcards " +
			"(u*ser@example.com); quote --subject for an exact phrase; --source-ip takes a CIDR block.\n\n" +
			"`--json` output feeds `mitigate-mails --from -`:\n" +
			"  parry cecp sweep --sender x@evil.example --all --json | parry cecp mitigate-mails --action quarantine --from -",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			max, err := lf.bound(cecp.DefaultSweepLimit)
			if err != nil {
				return err
			}
			q.Limit, q.MaxResults = lf.limit, max
			s, err := a.cecpClient(cmd, f)
			if err != nil {
				return err
			}
			t := newTable(a.stdout, lf.asJSON, []string{"DELIVERED", "MAILBOX", "SENDER", "SUBJECT", "ATTACHMENTS", "URLS", "MESSAGE ID"},
				func(m cecp.SweepMail) []string {
					return []string{fmtVendorTime(m.MailMessageDeliveryTime), m.Mailbox, m.MailMessageSender, m.MailMessageSubject,
						strconv.Itoa(len(m.MailAttachments)), strconv.Itoa(len(m.MailURLs)), m.MailMessageID}
				})
			return listPages(cmd.Context(), a, s.client.SweepPages(q), &lf, t)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&q.Mailbox, "mailbox", "", "mailbox address")
	fs.IntVar(&q.LastNDays, "lastndays", 0, "the last N days (1-90; not with --start/--end)")
	timeVar(fs, &q.Start, "start", "start of the window")
	timeVar(fs, &q.End, "end", "end of the window")
	fs.StringVar(&q.Subject, "subject", "", "subject (quote it for an exact phrase)")
	fs.StringVar(&q.FileSHA1, "file-sha1", "", "SHA-1 of an attachment")
	fs.StringVar(&q.FileSHA256, "file-sha256", "", "SHA-256 of an attachment")
	fs.StringVar(&q.FileName, "file-name", "", "attachment file name")
	fs.StringVar(&q.FileExtension, "file-extension", "", "attachment file extension")
	fs.StringVar(&q.URL, "url", "", "URL in the mail")
	fs.StringVar(&q.Sender, "sender", "", "sender address")
	fs.StringVar(&q.Recipient, "recipient", "", "recipient address")
	fs.StringVar(&q.MessageID, "message-id", "", "Internet message id")
	fs.StringVar(&q.SourceIP, "source-ip", "", "source IP address or CIDR block")
	fs.StringVar(&q.SourceDomain, "source-domain", "", "source domain")
	lf.add(fs, cecp.MaxSweepLimit)
	return cmd
}
