package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/cecp"
)

// cecpZipPasswordEnv holds the password for quarantined-mail ZIPs.
const cecpZipPasswordEnv = "PARRY_CECP_ZIP_PASSWORD"

func (a *app) newCECPSecurityEventsCmd(f *cecpFlags) *cobra.Command {
	var q cecp.SecurityEventsQuery
	var lf listFlags
	cmd := &cobra.Command{
		Use:   "security-events --service S --event E",
		Short: "List security events of one service and event type (GET /v1/siem/security_events)",
		Long: "List security events of one service and event type. Without --start and --end the vendor returns the " +
			"last 5 minutes; with only --start, the 5 minutes after it; with only --end, the 5 minutes before it. " +
			"Only the last 72 hours are reachable.\n\nServices: " + strings.Join(cecp.SecurityEventServices(), ", ") +
			".\nEvents: " + strings.Join(cecp.SecurityEventTypes(), ", ") + ".",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			max, err := lf.bound(cecp.MaxSecurityEventsLimit)
			if err != nil {
				return err
			}
			q.Limit, q.MaxResults = lf.limit, max
			s, err := a.cecpClient(cmd, f)
			if err != nil {
				return err
			}
			t := newTable(a.stdout, lf.asJSON, []string{"DETECTED", "SERVICE", "EVENT", "USER", "THREAT", "ACTION", "LOG ITEM ID"},
				func(e cecp.SecurityEvent) []string {
					m := e.Message
					user := m.AffectedUser
					if user == "" && len(m.MailMessageRecipient) > 0 {
						user = m.MailMessageRecipient[0]
					}
					action := m.Action
					if m.ActionResult != "" {
						action += "/" + m.ActionResult
					}
					return []string{fmtVendorTime(m.DetectionTime), e.Service, e.Event, user,
						firstNonEmpty(m.SecurityRiskName, m.VirusName, m.RansomwareName, m.TriggeredDLPTemplate, m.FileName, m.MailMessageSubject),
						action, e.LogItemID}
				})
			return listPages(cmd.Context(), a, s.client.SecurityEventPages(q), &lf, t)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&q.Service, "service", "", "service: "+strings.Join(cecp.SecurityEventServices(), ", "))
	fs.StringVar(&q.Event, "event", "", "event type: "+strings.Join(cecp.SecurityEventTypes(), ", "))
	timeVar(fs, &q.Start, "start", "start of the window")
	timeVar(fs, &q.End, "end", "end of the window")
	lf.add(fs, cecp.MaxSecurityEventsLimit)
	return cmd
}

func (a *app) newCECPQuarantineEventsCmd(f *cecpFlags) *cobra.Command {
	var q cecp.QuarantineEventsQuery
	var lf listFlags
	cmd := &cobra.Command{
		Use:   "quarantine-events",
		Short: "List quarantined Exchange Online mails (GET /v1/siem/quarantine_events)",
		Long: "List quarantine events of Exchange Online. Without --start and --end the vendor returns the last day; at " +
			"most 7 days back are reachable. `--json` output feeds `quarantine-download --from` and " +
			"`mitigate-mails --action restore --from`.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			max, err := lf.bound(cecp.MaxQuarantineEventsLimit)
			if err != nil {
				return err
			}
			q.Limit, q.MaxResults = lf.limit, max
			s, err := a.cecpClient(cmd, f)
			if err != nil {
				return err
			}
			t := newTable(a.stdout, lf.asJSON, []string{"DETECTED", "MAILBOX", "SENDER", "SUBJECT", "TYPE", "STATUS", "MESSAGE ID"},
				func(e cecp.QuarantineEvent) []string {
					m := e.Message
					return []string{fmtVendorTime(m.DetectionTime), m.Mailbox, m.MailMessageSender, m.MailMessageSubject,
						m.MailQuarantineType, m.MailStatus, m.MailMessageID}
				})
			return listPages(cmd.Context(), a, s.client.QuarantineEventPages(q), &lf, t)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&q.Service, "service", "exchange", "service (only exchange)")
	timeVar(fs, &q.Start, "start", "start of the window")
	timeVar(fs, &q.End, "end", "end of the window")
	lf.add(fs, cecp.MaxQuarantineEventsLimit)
	return cmd
}

func (a *app) newCECPQuarantineDownloadCmd(f *cecpFlags) *cobra.Command {
	var from, output, passwordFile string
	var asJSON bool
	var flagged cecp.QuarantineEvent // the fields given as flags
	cmd := &cobra.Command{
		Use:   "quarantine-download -o FILE (--from FILE | --mail-unique-id ID --mail-blob-path P ...)",
		Short: "Download one quarantined Exchange Online mail as the vendor's ZIP (POST /v1/siem/quarantine_mails)",
		Long: "Download one quarantined Exchange Online mail as the vendor's ZIP, written to -o FILE (- for stdout). " +
			"Name the mail with --from FILE (a quarantine event: the output of `quarantine-events --json` holding one, one " +
			"object, or an array holding one; - reads stdin) and/or the fields as flags, which win over the file. The ZIP is " +
			"protected with the password in --password-file, else $" + cecpZipPasswordEnv + ", else none.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" {
				return usageErrorf("-o FILE is required (- writes the ZIP to stdout)")
			}
			var ev cecp.QuarantineEvent
			if from != "" {
				data, err := a.readInput(from)
				if err != nil {
					return err
				}
				if ev, err = parseOneQuarantineEvent(data); err != nil {
					return usageErrorf("%s: %v", displayPath(from), err)
				}
			}
			mergeEvent(&ev, flagged, cmd)
			password := ""
			if passwordFile != "" {
				p, err := readSecretFile(passwordFile)
				if err != nil {
					return usageErrorf("reading --password-file: %v", err)
				}
				password = p
			} else {
				password = a.getenv(cecpZipPasswordEnv)
			}
			s, err := a.cecpClient(cmd, f)
			if err != nil {
				return err
			}
			zip, err := s.client.DownloadQuarantinedMail(cmd.Context(), ev, password)
			if err != nil {
				return cecpErr(err)
			}
			sum := sha256.Sum256(zip)
			if output == "-" {
				_, err := a.stdout.Write(zip)
				return err
			}
			if err := writeFileAtomic(output, zip); err != nil {
				return fmt.Errorf("writing %s: %w", output, err)
			}
			if asJSON {
				return writeJSON(a.stdout, map[string]any{"file": output, "bytes": len(zip), "sha256": hex.EncodeToString(sum[:])})
			}
			_, err = fmt.Fprintf(a.stdout, "%s\t%d bytes\tsha256 %x\n", output, len(zip), sum)
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&output, "output", "o", "", "file to write the ZIP to (- for stdout)")
	fs.StringVar(&from, "from", "", "file holding the quarantine event (- for stdin)")
	fs.StringVar(&passwordFile, "password-file", "", "file holding the ZIP password (default $"+cecpZipPasswordEnv+"; none when unset)")
	fs.BoolVar(&asJSON, "json", false, "print the file, its size and SHA-256 as JSON")
	ev := &flagged
	fs.StringVar(&ev.Service, "service", "", "service (exchange)")
	fs.StringVar(&ev.Message.AffectedUser, "affected-user", "", "affected_user of the event")
	fs.StringVar(&ev.Message.Mailbox, "mailbox", "", "mailbox of the event")
	fs.StringVar(&ev.Message.MailUniqueID, "mail-unique-id", "", "mail_unique_id of the event")
	fs.StringVar(&ev.Message.MailLogID, "mail-log-id", "", "mail_log_id of the event")
	fs.StringVar(&ev.Message.MailMessageID, "mail-message-id", "", "mail_message_id of the event")
	fs.StringVar(&ev.Message.MailBlobPath, "mail-blob-path", "", "mail_blob_path of the event")
	fs.StringVar(&ev.Message.MailBackupBlobPath, "mail-backup-blob-path", "", "mail_backup_blob_path of the event")
	fs.StringVar(&ev.Message.MailMessageDirection, "mail-message-direction", "", "mail_message_direction of the event")
	return cmd
}

// parseOneQuarantineEvent reads a quarantine event: an object, or an array or quarantine-events --json output
// ({"items": [...]}) of exactly one.
func parseOneQuarantineEvent(data []byte) (cecp.QuarantineEvent, error) {
	data = bytes.TrimSpace(data)
	var list map[string]json.RawMessage
	if len(data) > 0 && data[0] == '{' && json.Unmarshal(data, &list) == nil && len(list) == 1 && list["items"] != nil {
		data = bytes.TrimSpace(list["items"])
	}
	var evs []cecp.QuarantineEvent
	if len(data) > 0 && data[0] == '[' {
		if err := json.Unmarshal(data, &evs); err != nil {
			return cecp.QuarantineEvent{}, fmt.Errorf("not a JSON array of quarantine events: %v", err)
		}
		if len(evs) != 1 {
			return cecp.QuarantineEvent{}, fmt.Errorf("holds %d quarantine events; a download takes exactly one", len(evs))
		}
		return evs[0], nil
	}
	var ev cecp.QuarantineEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return cecp.QuarantineEvent{}, fmt.Errorf("not a JSON quarantine event: %v", err)
	}
	return ev, nil
}

// mergeEvent lets the fields given as flags win over the event read from a file.
func mergeEvent(ev *cecp.QuarantineEvent, flagged cecp.QuarantineEvent, cmd *cobra.Command) {
	set := func(name string, dst *string, v string) {
		if cmd.Flags().Changed(name) {
			*dst = v
		}
	}
	set("service", &ev.Service, flagged.Service)
	set("affected-user", &ev.Message.AffectedUser, flagged.Message.AffectedUser)
	set("mailbox", &ev.Message.Mailbox, flagged.Message.Mailbox)
	set("mail-unique-id", &ev.Message.MailUniqueID, flagged.Message.MailUniqueID)
	set("mail-log-id", &ev.Message.MailLogID, flagged.Message.MailLogID)
	set("mail-message-id", &ev.Message.MailMessageID, flagged.Message.MailMessageID)
	set("mail-blob-path", &ev.Message.MailBlobPath, flagged.Message.MailBlobPath)
	set("mail-backup-blob-path", &ev.Message.MailBackupBlobPath, flagged.Message.MailBackupBlobPath)
	set("mail-message-direction", &ev.Message.MailMessageDirection, flagged.Message.MailMessageDirection)
}

// writeFileAtomic writes data to a temporary file beside path and renames it into place, so a failed or
// interrupted download never leaves a truncated ZIP under the final name. The file is private (0600): a
// quarantined mail is evidence and may hold malware.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
