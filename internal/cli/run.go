package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/parry-soar/parry/internal/api/apitypes"
	"github.com/parry-soar/parry/internal/apiclient"
	"github.com/parry-soar/parry/internal/plan"
	"github.com/parry-soar/parry/internal/playbook"
	"github.com/parry-soar/parry/internal/runs"
)

func (a *app) newRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Start, follow, approve, retry and inspect playbook runs",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newRunStartCmd(), a.newRunListCmd(), a.newRunShowCmd(), a.newRunApproveCmd(), a.newRunCancelCmd(),
		a.newRunRetryCmd(), a.newRunExportCmd(), a.newRunReplayCmd(), a.newRunWatchCmd(), a.newRunArtifactsCmd(), a.newRunArtifactCmd())
	return cmd
}

// runJSON is the stable --json shape of a finished or started run.
type runJSON struct {
	RunID  string         `json:"run_id"`
	Status string         `json:"status"`
	Output map[string]any `json:"output"`
	Error  string         `json:"error,omitempty"`
	Steps  []stepJSON     `json:"steps"`
}

type stepJSON struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error,omitempty"`
}

func (a *app) newRunStartCmd() *cobra.Command {
	var with []string
	var alertFile, runID string
	var version int
	var wait, asJSON bool
	cmd := &cobra.Command{
		Use:   "start PLAYBOOK",
		Short: "Start a run of a playbook file or a registered playbook",
		Long: "Start a run. PLAYBOOK is a YAML file (run as it is) or the name of a registered playbook (its enabled " +
			"version, or --version). Inputs come from --with key=value (repeatable; lists and objects as JSON); --alert " +
			"gives the run an alert (a JSON object in the alert intake format). With --wait, each step is shown on stderr " +
			"as it starts and ends, and the exit code is 0 when the run succeeded, 1 when it failed.",
		Args: exactArgs(1, "PLAYBOOK (a file or a registered name)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := apitypes.StartRunRequest{Version: version, RunID: runID, Inputs: map[string]any{}}
			if data, err := os.ReadFile(args[0]); err == nil {
				req.Source = string(data)
			} else if errors.Is(err, fs.ErrNotExist) && !strings.ContainsAny(args[0], "/\\.") {
				req.Playbook = args[0]
			} else {
				return fileError("reading playbook", args[0], err)
			}
			if version > 0 && req.Source != "" {
				return usageErrorf("--version applies to registered playbooks, not files")
			}
			for _, kv := range with {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageErrorf("--with %q: want key=value", kv)
				}
				req.Inputs[k] = v
			}
			if alertFile != "" {
				data, err := readInput(a.stdin, alertFile)
				if err != nil {
					return fileError("reading alert", alertFile, err)
				}
				req.Alert = data
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			run, err := c.StartRun(cmd.Context(), req)
			if err != nil {
				return a.alertProblems(err, func(int) string { return "alert" }, "the run was not started")
			}
			if run.Status == apitypes.RunPending {
				fmt.Fprintf(a.stderr, "run %s recorded; Temporal is unreachable, it starts when Temporal is back\n", run.ID)
			} else {
				fmt.Fprintf(a.stderr, "run %s started (%s)\n", run.ID, playbookLabel(run))
			}
			if !wait {
				if asJSON {
					return writeJSON(a.stdout, runJSON{RunID: run.ID, Status: run.Status, Steps: []stepJSON{}})
				}
				_, err := fmt.Fprintln(a.stdout, run.ID)
				return err
			}
			return a.follow(cmd.Context(), c, run.ID, asJSON)
		},
	}
	cmd.Flags().StringArrayVar(&with, "with", nil, "input as key=value (repeatable)")
	cmd.Flags().StringVar(&alertFile, "alert", "", "file holding an alert (JSON object; - for stdin)")
	cmd.Flags().IntVar(&version, "version", 0, "registry version to run (default: the enabled one)")
	cmd.Flags().StringVar(&runID, "run-id", "", "run id (idempotency key; default: generated)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the run until it ends, showing each step on stderr")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"run_id","status","output","steps"} on stdout`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func readInput(stdin io.Reader, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(path)
}

func playbookLabel(r apitypes.Run) string {
	if r.PlaybookVersion > 0 {
		return fmt.Sprintf("%s v%d", r.PlaybookName, r.PlaybookVersion)
	}
	return fmt.Sprintf("%s @%s", r.PlaybookName, short(r.PlaybookSHA256))
}

func short(sha string) string { return sha[:min(12, len(sha))] }

// follow polls a run, printing step transitions on stderr, until it ends; the exit code says how it ended.
func (a *app) follow(ctx context.Context, c *apiclient.Client, id string, asJSON bool) error {
	seen := map[string]string{}
	waits := map[string]bool{}
	delay := 250 * time.Millisecond
	for {
		v, err := c.GetRun(ctx, id, false)
		if err != nil {
			return err
		}
		a.printTransitions(v.Steps, seen)
		for _, w := range v.Waiting {
			key := w.Step + "|" + w.Kind + "|" + w.Detail
			if !waits[key] {
				waits[key] = true
				a.printWait(w)
			}
		}
		if apitypes.Terminal(v.Run.Status) {
			return a.finish(v, asJSON)
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(a.stderr, "stopped following; run %s goes on (parry run show %s)\n", id, id)
			return silentFailure()
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

func (a *app) printTransitions(steps []apitypes.Step, seen map[string]string) {
	for _, s := range steps {
		if s.Status != seen[s.ID] {
			switch s.Status {
			case apitypes.StepPending:
			case apitypes.StepRunning:
				fmt.Fprintf(a.stderr, "  ▶ %-24s %s\n", s.ID, kindLabel(s))
			default:
				line := fmt.Sprintf("  %s %-24s %-9s", statusMark(s.Status), s.ID, s.Status)
				if s.DurationMS > 0 {
					line += " " + (time.Duration(s.DurationMS) * time.Millisecond).String()
				}
				if s.Error != nil {
					line += "  " + s.Error.Type + ": " + s.Error.Message
				}
				if s.Reused {
					line += "  (reused from the failed run)"
				}
				fmt.Fprintln(a.stderr, line)
			}
			seen[s.ID] = s.Status
		}
		a.printTransitions(s.Items, seen)
	}
}

func (a *app) printWait(w apitypes.Wait) {
	switch w.Kind {
	case "approval":
		fmt.Fprintf(a.stderr, "  ⏸ %-24s waiting for approval until %s: %s\n     approve: parry run approve RUN %s   reject: parry run approve RUN %s --reject\n",
			w.Step, w.Until.Local().Format(time.DateTime), w.Prompt, w.Step, w.Step)
		if w.Detail != "" { // how its chat notification went (approval.notify)
			fmt.Fprintf(a.stderr, "     %s\n", w.Detail)
		}
	case "timer":
		fmt.Fprintf(a.stderr, "  ⏸ %-24s waiting until %s\n", w.Step, w.Until.Local().Format(time.DateTime))
	default:
		fmt.Fprintf(a.stderr, "  ⏸ %-24s %s: %s\n", w.Step, w.Kind, w.Detail)
	}
}

func kindLabel(s apitypes.Step) string {
	if s.Action != "" {
		return s.Action
	}
	return s.Kind
}

func statusMark(status string) string {
	switch status {
	case apitypes.StepSucceeded:
		return "✓"
	case apitypes.StepFailed:
		return "✗"
	case apitypes.StepSkipped:
		return "–"
	case apitypes.StepCancelled:
		return "⊘"
	}
	return "·"
}

func (a *app) finish(v apitypes.RunView, asJSON bool) error {
	r := v.Run
	if asJSON {
		out := runJSON{RunID: r.ID, Status: r.Status, Error: r.Error, Steps: []stepJSON{}}
		if len(r.Output) > 0 {
			_ = json.Unmarshal(r.Output, &out.Output)
		}
		var flat func([]apitypes.Step)
		flat = func(steps []apitypes.Step) {
			for _, s := range steps {
				sj := stepJSON{ID: s.ID, Status: s.Status, Attempts: s.Attempts}
				if s.Error != nil {
					sj.Error = s.Error.Type + ": " + s.Error.Message
				}
				out.Steps = append(out.Steps, sj)
				flat(s.Items)
			}
		}
		flat(v.Steps)
		if err := writeJSON(a.stdout, out); err != nil {
			return err
		}
	} else {
		switch r.Status {
		case apitypes.RunSucceeded:
			label := r.Status
			if r.ResultStatus != "" && r.ResultStatus != apitypes.RunSucceeded {
				label += " (" + r.ResultStatus + ")"
			}
			fmt.Fprintf(a.stderr, "run %s %s\n", r.ID, label)
			if len(r.Output) > 0 && string(r.Output) != "null" {
				fmt.Fprintln(a.stdout, indentJSON(r.Output))
			}
		default:
			fmt.Fprintf(a.stderr, "run %s %s: %s\n", r.ID, r.Status, r.Error)
			if r.Status == apitypes.RunFailed {
				fmt.Fprintf(a.stderr, "inspect: parry run show %s   retry: parry run retry %s\n", r.ID, r.ID)
			}
		}
	}
	if r.Status != apitypes.RunSucceeded {
		return silentFailure()
	}
	return nil
}

func indentJSON(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func (a *app) newRunListCmd() *cobra.Command {
	var status, playbook, since string
	var incident int64
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit == 0 { // the filter's zero means "the default": say so rather than send it
				return usageErrorf("--limit 0: give a number from 1 to %d", apitypes.MaxListLimit)
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			// The server checks every value (one definition of the rules); a refusal is a usage error.
			list, err := c.ListRuns(cmd.Context(), apitypes.RunFilter{Status: status, Playbook: playbook, Incident: incident, Since: since, Limit: limit})
			if err != nil {
				return err
			}
			if asJSON {
				return writeList(a.stdout, list)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tPLAYBOOK\tSTATUS\tCREATED\tDURATION\tINCIDENT\tDETAIL")
			for _, r := range list {
				detail := r.WaitingFor
				if r.Status == apitypes.RunFailed || r.Status == apitypes.RunCancelled {
					detail = r.Error
					if r.FailedStep != "" {
						detail = r.FailedStep + ": " + detail
					}
				}
				if r.RetryOf != "" {
					detail = strings.TrimSpace("retry of " + r.RetryOf + "  " + detail)
				}
				inc := "-"
				if r.IncidentID != nil {
					inc = fmt.Sprint(*r.IncidentID)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, playbookLabel(r), r.Status, r.CreatedAt.Local().Format(time.DateTime),
					duration(r), inc, oneLine(detail, 80))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "pending, running, waiting, succeeded, failed or cancelled")
	cmd.Flags().StringVar(&playbook, "playbook", "", "only runs of this playbook")
	cmd.Flags().Int64Var(&incident, "incident", 0, "only runs of this incident")
	cmd.Flags().StringVar(&since, "since", "", "only runs created within this duration (24h)")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many runs")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"items": [runs]} as JSON`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func duration(r apitypes.Run) string {
	if r.StartedAt == nil {
		return "-"
	}
	end := time.Now()
	if r.FinishedAt != nil {
		end = *r.FinishedAt
	}
	return end.Sub(*r.StartedAt).Round(time.Millisecond).String()
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func (a *app) newRunShowCmd() *cobra.Command {
	var asJSON, full bool
	cmd := &cobra.Command{
		Use:   "show RUN",
		Short: "Show a run's timeline: every step with status, attempts, duration, error, inputs and outputs",
		Args:  exactArgs(1, "RUN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			v, err := c.GetRun(cmd.Context(), args[0], full)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, v)
			}
			a.printView(cmd.Context(), c, v, full)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&full, "full", false, "do not shorten long inputs and outputs")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

// printView prints a run's view: what the run is (with its triggering alert, read from the API, and its
// inputs), its timeline and the detail of its steps, what it waits for.
func (a *app) printView(ctx context.Context, c *apiclient.Client, v apitypes.RunView, full bool) {
	r := v.Run
	w := a.stdout
	fmt.Fprintf(w, "run       %s\n", r.ID)
	fmt.Fprintf(w, "playbook  %s (sha256 %s)\n", playbookLabel(r), short(r.PlaybookSHA256))
	status := r.Status
	if r.ResultStatus != "" && r.ResultStatus != r.Status {
		status += " (" + r.ResultStatus + ")"
	}
	fmt.Fprintf(w, "status    %s\n", status)
	if r.WaitingFor != "" && !apitypes.Terminal(r.Status) {
		fmt.Fprintf(w, "waiting   %s\n", r.WaitingFor)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "error     %s\n", r.Error)
	}
	if r.IncidentID != nil {
		fmt.Fprintf(w, "incident  %d\n", *r.IncidentID)
	}
	if r.AlertID != nil {
		fmt.Fprintf(w, "alert     %s\n", a.alertLine(ctx, c, *r.AlertID))
	}
	if r.RetryOf != "" {
		fmt.Fprintf(w, "retry of  %s (from step %s)\n", r.RetryOf, r.RetryFromStep)
	}
	fmt.Fprintf(w, "created   %s by %s\n", r.CreatedAt.Local().Format(time.DateTime), r.StartedBy)
	if r.StartedAt != nil {
		fmt.Fprintf(w, "duration  %s\n", duration(r))
	}
	if v.Note != "" {
		fmt.Fprintf(w, "note      %s\n", v.Note)
	}
	fmt.Fprintln(w)
	if printRunInputs(w, r.Inputs, full) {
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tKIND\tSTATUS\tATTEMPTS\tDURATION\tERROR")
	var rows func([]apitypes.Step)
	rows = func(steps []apitypes.Step) {
		for _, s := range steps {
			errText := ""
			if s.Error != nil {
				errText = oneLine(s.Error.Type+": "+s.Error.Message, 100)
			}
			st := s.Status
			if s.Reused {
				st += " (reused)"
			}
			dur := "-"
			if s.DurationMS > 0 || s.FinishedAt != nil {
				dur = (time.Duration(s.DurationMS) * time.Millisecond).String()
			}
			att := "-"
			if s.Attempts > 0 {
				att = fmt.Sprint(s.Attempts)
			}
			fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\n", strings.Repeat("  ", s.Depth), s.ID, kindLabel(s), st, att, dur, errText)
			rows(s.Items)
		}
	}
	rows(v.Steps)
	tw.Flush()
	var details func([]apitypes.Step)
	details = func(steps []apitypes.Step) {
		for _, s := range steps {
			if s.Input != nil || s.Output != nil {
				fmt.Fprintf(w, "\n%s\n", s.ID)
				if s.Input != nil {
					fmt.Fprintf(w, "  input:  %s\n", oneLineJSON(s.Input))
				}
				if s.Output != nil {
					fmt.Fprintf(w, "  output: %s\n", oneLineJSON(s.Output))
				}
			}
			details(s.Items)
		}
	}
	details(v.Steps)
	if len(v.Waiting) > 0 {
		fmt.Fprintln(w, "\nwaiting for")
		for _, wt := range v.Waiting {
			switch wt.Kind {
			case "approval":
				fmt.Fprintf(w, "  approval of %s until %s: %s\n    parry run approve %s %s [--reject] [--comment TEXT]\n", wt.Step, wt.Until.Local().Format(time.DateTime), wt.Prompt, r.ID, wt.Step)
				if wt.Detail != "" { // how its chat notification went (approval.notify)
					fmt.Fprintf(w, "    %s\n", wt.Detail)
				}
			case "timer":
				fmt.Fprintf(w, "  timer in %s until %s\n", wt.Step, wt.Until.Local().Format(time.DateTime))
			default:
				fmt.Fprintf(w, "  %s for %s: %s\n", wt.Kind, wt.Step, wt.Detail)
			}
		}
	}
}

func oneLineJSON(v any) string {
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSpace(buf.String())
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// approvalJSON is the --json shape of run approve: the run and step answered, and the decision as the run
// recorded it (the API's answer).
type approvalJSON struct {
	RunID string `json:"run_id"`
	Step  string `json:"step"`
	apitypes.ApprovalResponse
}

// cancelJSON is the --json shape of run cancel: the run and the API's answer (status cancelling).
type cancelJSON struct {
	RunID string `json:"run_id"`
	apitypes.CancelResponse
}

func (a *app) newRunApproveCmd() *cobra.Command {
	var reject, asJSON bool
	var comment string
	cmd := &cobra.Command{
		Use:   "approve RUN STEP",
		Short: "Approve (or with --reject, reject) a run's approval step",
		Args:  exactArgs(2, "RUN STEP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			out, err := c.Approve(cmd.Context(), args[0], args[1], apitypes.ApprovalRequest{Approved: !reject, Comment: comment})
			if err != nil {
				return err
			}
			verb := "approved"
			if !out.Approved {
				verb = "rejected"
			}
			fmt.Fprintf(a.stderr, "%s %s of run %s as %s\n", verb, args[1], args[0], out.By)
			if asJSON {
				return writeJSON(a.stdout, approvalJSON{RunID: args[0], Step: args[1], ApprovalResponse: out})
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&reject, "reject", false, "reject instead of approving")
	cmd.Flags().StringVar(&comment, "comment", "", "a comment recorded with the decision")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"run_id","step","approved","by","comment","at"} on stdout`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newRunCancelCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "cancel RUN",
		Short: "Cancel a running run (its running steps are cancelled; it ends as cancelled)",
		Args:  exactArgs(1, "RUN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			out, err := c.Cancel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "cancelling run %s\n", args[0])
			if asJSON {
				return writeJSON(a.stdout, cancelJSON{RunID: args[0], CancelResponse: out})
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"run_id","status"} on stdout`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newRunRetryCmd() *cobra.Command {
	var from, file string
	var version int
	var latest, wait, asJSON bool
	cmd := &cobra.Command{
		Use:   "retry RUN",
		Short: "Start a new run that reuses a failed run's completed steps and runs the rest (with a fixed playbook)",
		Long: "Start a new run linked to RUN (retry_of). Steps before --from are not executed again: they take the " +
			"recorded outputs of RUN; --from and everything after it run with the chosen plan: RUN's own plan, a fixed " +
			"file (--playbook FILE), a registry version (--version N) or the newest one (--latest). Without --from the " +
			"new run starts again from RUN's first failed step. A retry is refused when the new plan no longer has a " +
			"reused step or changed it (action, inputs, condition, loop) so that its recorded output would not apply.",
		Args: exactArgs(1, "RUN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			// "At most one of --playbook, --version and --latest" is the server's rule; its refusal exits 2.
			req := apitypes.RetryRequest{From: from, Version: version, Latest: latest}
			if file != "" {
				data, err := os.ReadFile(file)
				if err != nil {
					return fileError("reading playbook", file, err)
				}
				req.Source = string(data)
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			run, err := c.Retry(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "run %s retries %s from step %s (%s)\n", run.ID, args[0], run.RetryFromStep, playbookLabel(run))
			if !wait {
				if asJSON { // the shape of run start --json without --wait
					return writeJSON(a.stdout, runJSON{RunID: run.ID, Status: run.Status, Steps: []stepJSON{}})
				}
				_, err := fmt.Fprintln(a.stdout, run.ID)
				return err
			}
			return a.follow(cmd.Context(), c, run.ID, asJSON)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "first step to execute again (default: the first failed step)")
	cmd.Flags().StringVar(&file, "playbook", "", "a fixed playbook file to run instead")
	cmd.Flags().IntVar(&version, "version", 0, "a registry version to run instead")
	cmd.Flags().BoolVar(&latest, "latest", false, "run the newest registered version")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the new run until it ends")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"run_id","status","output","steps"} on stdout (with --wait, when it ends)`)
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newRunExportCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export RUN -o FILE",
		Short: "Write a run (history, plan, alerts, record) to one JSON file; secrets are absent",
		Args:  exactArgs(1, "RUN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageErrorf("-o FILE is required (- for stdout)")
			}
			c, _, err := a.apiClient(cmd)
			if err != nil {
				return err
			}
			ex, err := c.Export(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var raw bytes.Buffer
			if err := writeJSON(&raw, ex); err != nil {
				return fmt.Errorf("encoding the export: %w", err)
			}
			if ex.Decrypted {
				fmt.Fprintln(a.stderr, "the run's history is encrypted in Temporal; this export holds it decrypted: keep it as you would its alerts")
			}
			if out == "-" {
				_, err := a.stdout.Write(raw.Bytes())
				return err
			}
			if err := os.WriteFile(out, raw.Bytes(), 0o600); err != nil {
				return fileError("writing the export to", out, err)
			}
			fmt.Fprintf(a.stderr, "wrote %s (%d bytes)\n", out, raw.Len())
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (- for stdout)")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func (a *app) newRunReplayCmd() *cobra.Command {
	var file, playbookFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replay RUN | --file FILE",
		Short: "Replay a run's history against this parry's code; report success or the first step that differs",
		Args: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (file != "") || len(args) > 1 {
				return usageErrorf("give a RUN or --file FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var data []byte
			var err error
			if file != "" {
				data, err = readInput(a.stdin, file)
				if err != nil {
					return fileError("reading export", file, err)
				}
			} else {
				c, _, err := a.apiClient(cmd)
				if err != nil {
					return err
				}
				ex, err := c.Export(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if data, err = json.Marshal(ex); err != nil {
					return fmt.Errorf("encoding the export: %w", err)
				}
			}
			// The export document is one format (apitypes.Export); the local replayer reads it as runs.Export.
			var ex runs.Export
			if err := json.Unmarshal(data, &ex); err != nil || len(ex.History) == 0 {
				return fmt.Errorf("%s is not a run export written by `parry run export`", exportName(file))
			}
			var newPlan json.RawMessage
			if playbookFile != "" {
				src, err := os.ReadFile(playbookFile)
				if err != nil {
					return fileError("reading playbook", playbookFile, err)
				}
				p, diags := playbook.Load(playbookFile, src)
				if p == nil {
					for _, d := range diags {
						fmt.Fprintln(a.stderr, d.String())
					}
					return fmt.Errorf("%s does not compile", playbookFile)
				}
				if newPlan, err = plan.Encode(p); err != nil {
					return err
				}
			}
			res, err := runs.Replay(ex, newPlan)
			if err != nil {
				return fmt.Errorf("%s cannot be replayed: its history is not a Temporal history of a playbook run", exportName(file))
			}
			if asJSON {
				if err := writeJSON(a.stdout, res); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "run %s: %s\n", ex.Run.ID, res.Message)
			}
			if !res.OK {
				return silentFailure()
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "an export written by parry run export (- for stdin)")
	cmd.Flags().StringVar(&playbookFile, "playbook", "", "replay as if the run had used this (edited) playbook")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	a.bindSettings(cmd.Flags(), clientSettings...)
	return cmd
}

func exportName(file string) string {
	if file == "" || file == "-" {
		return "the export"
	}
	return file
}
