package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/api/apitypes"
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

// parseItems reads JSON values — an array, one object, a list command's {"items": [...]}, or a stream of them
// (NDJSON) — into one list.
func parseItems(data []byte) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []any
	for n := 1; ; n++ {
		var v any
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("value %d is not JSON: %v", n, jsonProblem(err))
		}
		switch x := v.(type) {
		case []any:
			out = append(out, x...)
		case map[string]any:
			if items, ok := listItems(x); ok {
				out = append(out, items...)
			} else {
				out = append(out, x)
			}
		default:
			return nil, fmt.Errorf("value %d is neither a mail object nor a list of them", n)
		}
	}
	return out, nil
}

// listItems is the array of a list command's --json, {"items": [...]}: an object with that one field (no mail
// or event of the vendor's is).
func listItems(v map[string]any) ([]any, bool) {
	if len(v) != 1 {
		return nil, false
	}
	items, ok := v["items"].([]any)
	return items, ok
}

// jsonProblem says what is wrong with JSON in words, without Go's type names.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", strings.TrimPrefix(se.Error(), "invalid character "), se.Offset)
	}
	return "it ends too early or holds something other than JSON"
}

// mitigation is a parry cecp mitigate-* request: one step of a run, so the CLI's mitigation goes through the
// same broker as every playbook's (batching with every run on the connection, the ledger that keeps an
// ambiguous POST from being sent twice, the cluster-wide quota) and leaves the same audit trail.
type mitigation struct {
	action, input, actionName string
	connection                string
	with                      map[string]any
	items                     []any
	wait, asJSON              bool
}

// source is the one-step playbook the run executes.
func (m mitigation) source() string {
	with := map[string]any{}
	for k, v := range m.with {
		with[k] = v
	}
	if m.connection != "" {
		with["connection"] = m.connection
	}
	with[m.input] = "${{ inputs." + m.input + " }}"
	with["wait"] = m.wait
	w, _ := json.Marshal(with)
	desc, _ := json.Marshal("parry cecp " + strings.ReplaceAll(strings.TrimPrefix(m.actionName, "cecp."), "_", "-") + " --action " + m.action)
	return fmt.Sprintf(`name: cli-%s
description: %s
inputs:
  %s: { type: list, required: true }
steps:
  - id: mitigate
    action: %s
    with: %s
output:
  result: ${{ steps.mitigate.output }}
`, strings.ReplaceAll(strings.TrimPrefix(m.actionName, "cecp."), "_", "-"), desc, m.input, m.actionName, w)
}

// run starts the mitigation as a run through the API and follows it to its end; with --wait it fails (exit 1)
// when the vendor reports an action failed.
func (a *app) runMitigation(cmd *cobra.Command, f *cecpFlags, m mitigation) error {
	if f.baseURL != "" || f.region != "" || f.tokenFile != "" {
		return usageErrorf("mitigations go through parry's server (batched with every run on the connection, never " +
			"posted twice, under the cluster-wide quota, audited): name one of its connections with --connection " +
			"instead of --base-url, --region or --token-file")
	}
	c, _, err := a.apiClient(cmd)
	if err != nil {
		return err
	}
	run, err := c.StartRun(cmd.Context(), apitypes.StartRunRequest{Source: m.source(), Inputs: map[string]any{m.input: m.items}})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "run %s started: %s of %d %s on connection %s (parry run show %s)\n", run.ID, m.action,
		len(m.items), m.input, firstNonEmpty(m.connection, "(the server's default)"), run.ID)
	if err := a.follow(cmd.Context(), c, run.ID, m.asJSON); err != nil {
		return err
	}
	v, err := c.GetRun(cmd.Context(), run.ID, false)
	if err != nil {
		return err
	}
	var out struct {
		Result struct {
			BatchIDs  []string `json:"batch_ids"`
			Succeeded int      `json:"succeeded"`
			Skipped   int      `json:"skipped"`
			Failed    int      `json:"failed"`
			Pending   int      `json:"pending"`
		} `json:"result"`
	}
	_ = json.Unmarshal(v.Run.Output, &out)
	r := out.Result
	fmt.Fprintf(a.stderr, "batches %s: %d succeeded, %d skipped, %d failed, %d pending\n",
		firstNonEmpty(strings.Join(r.BatchIDs, ", "), "none"), r.Succeeded, r.Skipped, r.Failed, r.Pending)
	if m.wait && r.Failed > 0 {
		return fmt.Errorf("%d of the %d actions failed", r.Failed, len(m.items))
	}
	return nil
}

func (a *app) newCECPMitigateMailsCmd(f *cecpFlags) *cobra.Command {
	var action, from, service string
	var wait, asJSON bool
	order := []string{"delete", "quarantine", "restore"}
	cmd := &cobra.Command{
		Use:   "mitigate-mails --action delete|quarantine|restore --from FILE|- [--connection NAME] [--wait]",
		Short: "Delete, quarantine or restore mails, through parry's server (one audited run)",
		Long: "Delete, quarantine or restore mails. --from reads the mails as JSON (- reads stdin): sweep items as printed by " +
			"`sweep --json`, quarantine events as printed by `quarantine-events --json` (restore needs these: it takes their " +
			"detection_time and mail_log_id), or objects with mailbox, mail_message_id and mail_unique_id.\n\n" +
			"The mails are mitigated by a one-step run of cecp.mitigate_mails on the server, so they share the " +
			"connection's batches with every other run, are never posted twice, count against the cluster-wide quota " +
			"and are audited as the run's. Each step is shown as the run goes; --wait waits for every action's outcome " +
			"and exits 1 if any failed.\n\n" +
			"  parry cecp sweep --sender x@evil.example --all --json | parry cecp mitigate-mails --action quarantine --from -",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			names := map[string]string{"delete": cecp.MailDelete, "quarantine": cecp.MailQuarantine, "restore": cecp.MailRestore}
			if _, err := actionName("action", action, names, order); err != nil {
				return err
			}
			if from == "" {
				return usageErrorf("--from FILE is required (- reads stdin)")
			}
			if service != cecp.ServiceExchange && service != "gmail" {
				return usageErrorf("--service %q is not one of exchange, gmail", service)
			}
			data, err := a.readInput(from)
			if err != nil {
				return err
			}
			mails, err := parseItems(data)
			if err != nil {
				return usageErrorf("%s: %v", displayPath(from), err)
			}
			if len(mails) == 0 {
				return usageErrorf("%s holds no mails", displayPath(from))
			}
			return a.runMitigation(cmd, f, mitigation{action: action, input: "mails", actionName: "cecp.mitigate_mails",
				connection: f.connection, with: map[string]any{"action": action, "service": service}, items: mails, wait: wait, asJSON: asJSON})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&action, "action", "", "delete, quarantine or restore")
	fs.StringVar(&from, "from", "", "JSON file of mails (- for stdin)")
	fs.StringVar(&service, "service", cecp.ServiceExchange, "service of the mails (exchange or gmail; gmail allows only delete); quarantine events are always exchange")
	fs.BoolVar(&wait, "wait", false, "wait until every action has an outcome; exit 1 if any failed")
	fs.BoolVar(&asJSON, "json", false, `print the run as {"run_id","status","output","steps"} on stdout`)
	a.bindSettings(fs, clientSettings...)
	return cmd
}

func (a *app) newCECPMitigateAccountsCmd(f *cecpFlags) *cobra.Command {
	var action string
	var wait, asJSON bool
	order := []string{"disable", "enable-mfa", "reset-password", "revoke-sessions"}
	cmd := &cobra.Command{
		Use:   "mitigate-accounts --action disable|enable-mfa|reset-password|revoke-sessions EMAIL... [--connection NAME] [--wait]",
		Short: "Act on Office 365 accounts, through parry's server (one audited run)",
		Long: "Disable accounts, enforce MFA, reset passwords or revoke sign-in sessions (Office 365 only), by a one-step " +
			"run of cecp.mitigate_accounts on the server (batched with every other run, never posted twice, under the " +
			"cluster-wide quota, audited). --wait waits for every action's outcome and exits 1 if any failed.",
		Args: minArgs(1, "at least one EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			names := map[string]string{"disable": cecp.AccountDisable, "enable-mfa": cecp.AccountEnableMFA,
				"reset-password": cecp.AccountResetPassword, "revoke-sessions": cecp.AccountRevokeSigninSessions}
			if _, err := actionName("action", action, names, order); err != nil {
				return err
			}
			accounts := make([]any, len(args))
			for i, email := range args {
				accounts[i] = strings.TrimSpace(email)
			}
			return a.runMitigation(cmd, f, mitigation{action: action, input: "accounts", actionName: "cecp.mitigate_accounts",
				connection: f.connection, with: map[string]any{"action": strings.ReplaceAll(action, "-", "_")}, items: accounts, wait: wait, asJSON: asJSON})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&action, "action", "", strings.Join(order, ", "))
	fs.BoolVar(&wait, "wait", false, "wait until every action has an outcome; exit 1 if any failed")
	fs.BoolVar(&asJSON, "json", false, `print the run as {"run_id","status","output","steps"} on stdout`)
	a.bindSettings(fs, clientSettings...)
	return cmd
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
