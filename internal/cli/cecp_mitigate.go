package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/cecp"
	"github.com/parry-soar/parry/internal/suggest"
)

func actionName(flag, v string, names map[string]string, order []string) (string, error) {
	if v == "" {
		return "", usageErrorf("--%s is required (%s)", flag, strings.Join(order, ", "))
	}
	if t, ok := names[v]; ok {
		return t, nil
	}
	return "", usageErrorf("--%s %q is not one of %s%s", flag, v, strings.Join(order, ", "), suggest.Hint(v, order))
}

// waitFlags control --wait.
type waitFlags struct {
	wait          bool
	interval, max time.Duration
	batchSize     int
	asJSON        bool
}

func (w *waitFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.IntVar(&w.batchSize, "batch-size", 0, "items per POST (default: the connection's batch_size, else 10)")
	fs.BoolVar(&w.wait, "wait", false, "poll the results until every action has an outcome")
	fs.DurationVar(&w.interval, "poll-interval", 15*time.Second, "with --wait, time between polls (each poll costs one request of the quota per batch)")
	fs.DurationVar(&w.max, "wait-timeout", 15*time.Minute, "with --wait, give up after this long")
	fs.BoolVar(&w.asJSON, "json", false, "print the batches (with --wait: the vendor's actions) as a JSON array")
}

func (w *waitFlags) check() error {
	if w.batchSize < 0 {
		return usageErrorf("--batch-size cannot be negative")
	}
	if w.wait && (w.interval <= 0 || w.max <= 0) {
		return usageErrorf("--poll-interval and --wait-timeout must be positive")
	}
	return nil
}

// postedBatch is one POST the vendor accepted.
type postedBatch struct {
	BatchID string `json:"batch_id"`
	TraceID string `json:"traceId"`
	Count   int    `json:"count"`
}

// mailInput is any JSON object naming a mail: a sweep item, a quarantine event (fields under "message"), a
// mail action or an action result.
type mailInput struct {
	Mailbox                 string                  `json:"mailbox"`
	MailMessageID           string                  `json:"mail_message_id"`
	MailUniqueID            string                  `json:"mail_unique_id"`
	MailMessageDeliveryTime cecp.Time               `json:"mail_message_delivery_time"`
	DetectionTime           cecp.Time               `json:"detection_time"`
	MailLogID               string                  `json:"mail_log_id"`
	Message                 *cecp.QuarantineMessage `json:"message"`
}

// parseMails reads mails as a JSON array, one object, or a stream of them (NDJSON), and builds one action per
// distinct mail.
func parseMails(data []byte, actionType, service string) ([]cecp.MailAction, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var inputs []mailInput
	for n := 1; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("value %d is not JSON: %v", n, err)
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) > 0 && raw[0] == '[' {
			var many []mailInput
			if err := json.Unmarshal(raw, &many); err != nil {
				return nil, fmt.Errorf("value %d is not an array of mails: %v", n, err)
			}
			inputs = append(inputs, many...)
			continue
		}
		var one mailInput
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("value %d is not a mail: %v", n, err)
		}
		inputs = append(inputs, one)
	}
	seen := map[string]bool{}
	var out []cecp.MailAction
	for _, in := range inputs {
		var a cecp.MailAction
		if in.Message != nil {
			a = cecp.MailActionFromQuarantine(actionType, cecp.QuarantineEvent{Message: *in.Message})
		} else {
			a = cecp.MailAction{ActionType: actionType, Service: service, Mailbox: in.Mailbox, MailMessageID: in.MailMessageID,
				MailUniqueID: in.MailUniqueID, MailMessageDeliveryTime: in.MailMessageDeliveryTime, DetectionTime: in.DetectionTime,
				MailLogID: in.MailLogID}
		}
		key := a.Mailbox + "\x00" + a.MailUniqueID + "\x00" + a.MailMessageID
		if !seen[key] {
			seen[key] = true
			out = append(out, a)
		}
	}
	return out, nil
}

func (a *app) newCECPMitigateMailsCmd(f *cecpFlags) *cobra.Command {
	var action, from, service string
	var wf waitFlags
	order := []string{"delete", "quarantine", "restore"}
	cmd := &cobra.Command{
		Use:   "mitigate-mails --action delete|quarantine|restore --from FILE|-",
		Short: "Delete, quarantine or restore mails in batches (POST /v1/mitigation/mails)",
		Long: "Delete, quarantine or restore mails. --from reads the mails as JSON (- reads stdin): sweep items as printed by " +
			"`sweep --json`, quarantine events as printed by `quarantine-events --json` (restore needs these: it takes their " +
			"detection_time and mail_log_id), or objects with mailbox, mail_message_id and mail_unique_id. The mails go " +
			"out in batches of --batch-size; each batch id is printed as the vendor accepts it. The vendor works " +
			"asynchronously: --wait polls until every action has an outcome and exits 1 if any failed.\n\n" +
			"  parry cecp sweep --sender x@evil.example --all --json | parry cecp mitigate-mails --action quarantine --from -",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			names := map[string]string{"delete": cecp.MailDelete, "quarantine": cecp.MailQuarantine, "restore": cecp.MailRestore}
			actionType, err := actionName("action", action, names, order)
			if err != nil {
				return err
			}
			if from == "" {
				return usageErrorf("--from FILE is required (- reads stdin)")
			}
			if err := wf.check(); err != nil {
				return err
			}
			data, err := a.readInput(from)
			if err != nil {
				return err
			}
			mails, err := parseMails(data, actionType, service)
			if err != nil {
				return usageErrorf("%s: %v", displayPath(from), err)
			}
			if len(mails) == 0 {
				return usageErrorf("%s holds no mails", displayPath(from))
			}
			if err := cecp.ValidateMailActions(mails); err != nil {
				return cecpErr(err)
			}
			s, err := a.cecpClient(cmd, f)
			if err != nil {
				return err
			}
			size := batchSize(wf.batchSize, s.client)
			batches, err := postBatches(cmd.Context(), a, len(mails), size, "mails", &wf, func(ctx context.Context, lo, hi int) (cecp.BatchResult, error) {
				return s.client.MitigateMails(ctx, mails[lo:hi])
			})
			if err != nil || !wf.wait {
				return err
			}
			return a.waitAndReport(cmd.Context(), batches, &wf, s.client.MailActionResultPages)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&action, "action", "", "delete, quarantine or restore")
	fs.StringVar(&from, "from", "", "JSON file of mails (- for stdin)")
	fs.StringVar(&service, "service", cecp.ServiceExchange, "service of the mails (exchange or gmail; gmail allows only delete); quarantine events are always exchange")
	wf.add(cmd)
	return cmd
}

func (a *app) newCECPMitigateAccountsCmd(f *cecpFlags) *cobra.Command {
	var action string
	var wf waitFlags
	order := []string{"disable", "enable-mfa", "reset-password", "revoke-sessions"}
	cmd := &cobra.Command{
		Use:   "mitigate-accounts --action disable|enable-mfa|reset-password|revoke-sessions EMAIL...",
		Short: "Act on Office 365 accounts in batches (POST /v1/mitigation/accounts)",
		Long: "Disable accounts, enforce MFA, reset passwords or revoke sign-in sessions (Office 365 only). Each batch id " +
			"is printed as the vendor accepts it; --wait polls until every action has an outcome and exits 1 if any failed.",
		Args: minArgs(1, "at least one EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			names := map[string]string{"disable": cecp.AccountDisable, "enable-mfa": cecp.AccountEnableMFA,
				"reset-password": cecp.AccountResetPassword, "revoke-sessions": cecp.AccountRevokeSigninSessions}
			actionType, err := actionName("action", action, names, order)
			if err != nil {
				return err
			}
			if err := wf.check(); err != nil {
				return err
			}
			var accts []cecp.AccountAction
			seen := map[string]bool{}
			for _, email := range args {
				if k := strings.ToLower(strings.TrimSpace(email)); !seen[k] {
					seen[k] = true
					accts = append(accts, cecp.AccountAction{ActionType: actionType, AccountUserEmail: strings.TrimSpace(email)})
				}
			}
			if err := cecp.ValidateAccountActions(accts); err != nil {
				return cecpErr(err)
			}
			s, err := a.cecpClient(cmd, f)
			if err != nil {
				return err
			}
			size := batchSize(wf.batchSize, s.client)
			batches, err := postBatches(cmd.Context(), a, len(accts), size, "accounts", &wf, func(ctx context.Context, lo, hi int) (cecp.BatchResult, error) {
				return s.client.MitigateAccounts(ctx, accts[lo:hi])
			})
			if err != nil || !wf.wait {
				return err
			}
			return a.waitAndReport(cmd.Context(), batches, &wf, s.client.AccountActionResultPages)
		},
	}
	cmd.Flags().StringVar(&action, "action", "", strings.Join(order, ", "))
	wf.add(cmd)
	return cmd
}

func batchSize(flag int, c *cecp.Client) int {
	if flag > 0 {
		return flag
	}
	return c.MaxBatch()
}

// postBatches posts n items in batches, printing each batch id as it is accepted (or, with --json, the batches
// as a JSON array at the end; with --json --wait the ids go to stderr, since stdout gets the actions). On an
// error it says which items went out, so nothing is lost or sent twice.
func postBatches(ctx context.Context, a *app, n, size int, what string, wf *waitFlags,
	post func(ctx context.Context, lo, hi int) (cecp.BatchResult, error)) ([]postedBatch, error) {
	asJSON := wf.asJSON && !wf.wait
	lines := a.stdout
	if wf.asJSON && wf.wait {
		lines = a.stderr
	}
	var batches []postedBatch
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		res, err := post(ctx, lo, hi)
		if err != nil {
			if asJSON && len(batches) > 0 {
				_ = writeJSON(a.stdout, batches)
			}
			var e *cecp.Error
			switch {
			case errors.As(err, &e) && e.MaybeApplied():
				fmt.Fprintf(a.stderr, "parry: %s %d-%d of %d may have been applied: check `parry cecp mitigation-results --start now-1h` before sending them again\n", what, lo+1, hi, n)
			case lo > 0:
				fmt.Fprintf(a.stderr, "parry: %s 1-%d of %d were accepted; %s %d-%d were not sent\n", what, lo, n, what, lo+1, n)
			}
			return batches, cecpErr(err)
		}
		b := postedBatch{BatchID: res.BatchID, TraceID: res.TraceID, Count: hi - lo}
		batches = append(batches, b)
		if !asJSON {
			fmt.Fprintf(lines, "%s\t%d %s\n", b.BatchID, b.Count, what)
		}
	}
	if asJSON {
		return batches, writeJSON(a.stdout, batches)
	}
	return batches, nil
}

// waitAndReport polls each batch until all its actions have an outcome, then prints them; it fails (exit 1)
// when an action failed or the wait timed out.
func (a *app) waitAndReport(ctx context.Context, batches []postedBatch, wf *waitFlags, pages func(cecp.ActionResultsQuery) *cecp.Pager[cecp.Action]) error {
	deadline := time.Now().Add(wf.max)
	results := map[string][]cecp.Action{}
	pending := map[string]int{}
	total := 0
	for _, b := range batches {
		pending[b.BatchID] = b.Count
		total += b.Count
	}
	for len(pending) > 0 {
		if time.Now().Add(wf.interval).After(deadline) {
			return fmt.Errorf("gave up waiting after %s: %s", wf.max, progress(results, total))
		}
		t := time.NewTimer(wf.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		for _, id := range slices.Sorted(maps.Keys(pending)) {
			acts, err := pages(cecp.ActionResultsQuery{BatchID: id}).Collect(ctx)
			if err != nil {
				var e *cecp.Error
				if errors.As(err, &e) && e.Transient() {
					fmt.Fprintf(a.stderr, "parry: polling batch %s: %v (will retry)\n", id, err)
					continue
				}
				return cecpErr(err)
			}
			results[id] = acts
			if len(acts) >= pending[id] && allTerminal(acts) {
				delete(pending, id)
			}
		}
		fmt.Fprintf(a.stderr, "parry: %s\n", progress(results, total))
	}
	var all []cecp.Action
	for _, b := range batches {
		all = append(all, results[b.BatchID]...)
	}
	t := newTable(a.stdout, wf.asJSON, []string{"BATCH ID", "STATUS", "ACTION", "TARGET", "ERROR"}, func(x cecp.Action) []string {
		return []string{x.BatchID, string(x.Status), x.ActionType, firstNonEmpty(x.Mailbox, x.AccountUserEmail), errorText(x)}
	})
	if !wf.asJSON {
		fmt.Fprintln(a.stdout)
	}
	failed := 0
	for _, x := range all {
		if x.Status == cecp.StatusFailed {
			failed++
		}
		if err := t.add(x); err != nil {
			return err
		}
	}
	if err := t.close(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d actions failed", failed, len(all))
	}
	return nil
}

func allTerminal(acts []cecp.Action) bool {
	for _, x := range acts {
		if !x.Status.Terminal() {
			return false
		}
	}
	return true
}

// progress summarises the actions seen so far: "3 of 10 actions done (Executing 7)".
func progress(results map[string][]cecp.Action, total int) string {
	done := 0
	counts := map[string]int{}
	for _, acts := range results {
		for _, x := range acts {
			if x.Status.Terminal() {
				done++
			} else {
				counts[string(x.Status)]++
			}
		}
	}
	var parts []string
	keys := slices.Collect(maps.Keys(counts))
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	s := fmt.Sprintf("%d of %d actions done", done, total)
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

func errorText(x cecp.Action) string {
	if x.ErrorCode == 0 && x.ErrorMessage == "" {
		return ""
	}
	return fmt.Sprintf("%d %s", x.ErrorCode, x.ErrorMessage)
}

func (a *app) newCECPMitigationResultsCmd(f *cecpFlags) *cobra.Command {
	var q cecp.ActionResultsQuery
	var lf listFlags
	var accounts bool
	cmd := &cobra.Command{
		Use:   "mitigation-results [--batch-id B | --start T --end T] [--accounts]",
		Short: "List mitigation actions and their status (GET /v1/mitigation/mails or /accounts)",
		Long: "List mail mitigation actions (account actions with --accounts) by batch id, or in a window of at most 72 " +
			"hours. Created and Executing are pending; Success, Skipped (the mail was already gone) and Failed are outcomes.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			max, err := lf.bound(cecp.MaxActionResultsLimit)
			if err != nil {
				return err
			}
			q.Limit, q.MaxResults = lf.limit, max
			s, err := a.cecpClient(cmd, f)
			if err != nil {
				return err
			}
			p := s.client.MailActionResultPages(q)
			if accounts {
				p = s.client.AccountActionResultPages(q)
			}
			t := newTable(a.stdout, lf.asJSON, []string{"REQUESTED", "STATUS", "ACTION", "TARGET", "ERROR", "BATCH ID"}, func(x cecp.Action) []string {
				return []string{fmtVendorTime(x.ActionRequestedAt), string(x.Status), x.ActionType,
					firstNonEmpty(x.Mailbox, x.AccountUserEmail), errorText(x), x.BatchID}
			})
			return listPages(cmd.Context(), a, p, &lf, t)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&q.BatchID, "batch-id", "", "batch id printed by mitigate-mails or mitigate-accounts")
	timeVar(fs, &q.Start, "start", "start of the window")
	timeVar(fs, &q.End, "end", "end of the window")
	fs.BoolVar(&accounts, "accounts", false, "account actions instead of mail actions")
	lf.add(fs, cecp.MaxActionResultsLimit)
	return cmd
}
