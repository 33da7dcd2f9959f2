package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/parry-soar/parry/internal/action"
	"github.com/parry-soar/parry/internal/config"
)

// severityColors colour a message by severity (Slack attachment colour, Teams themeColor).
var severityColors = map[string]string{
	"info": "439FE0", "low": "2EB886", "medium": "DAA038", "high": "E8710A", "critical": "A30200",
}

type webhookInput struct {
	Connection string         `json:"connection"`
	Text       string         `json:"text"`
	Title      string         `json:"title"`
	Severity   string         `json:"severity"`
	Fields     map[string]any `json:"fields"`
	RunLink    bool           `json:"run_link"`
}

// fieldPairs renders with.fields as sorted name/value pairs: strings as they are, other values as JSON.
func (in webhookInput) fieldPairs() [][2]string {
	var out [][2]string
	for _, k := range sortedKeys(in.Fields) {
		v := in.Fields[k]
		s, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		out = append(out, [2]string{k, s})
	}
	return out
}

// slackPayload is an incoming-webhook message: text for every client, an attachment for colour and fields.
func slackPayload(in webhookInput) map[string]any {
	text := in.Text
	if in.Title != "" {
		text = "*" + in.Title + "*\n" + in.Text
	}
	msg := map[string]any{"text": text}
	pairs := in.fieldPairs()
	if len(pairs) > 0 || in.Severity != "" {
		att := map[string]any{"fallback": in.Text}
		if in.Severity != "" {
			att["color"] = "#" + severityColors[in.Severity]
		}
		if len(pairs) > 0 {
			fields := make([]map[string]any, len(pairs))
			for i, p := range pairs {
				fields[i] = map[string]any{"title": p[0], "value": p[1], "short": len(p[1]) <= 40}
			}
			att["fields"] = fields
		}
		msg["attachments"] = []any{att}
	}
	return msg
}

// teamsPayload is an Office 365 connector MessageCard.
func teamsPayload(in webhookInput) map[string]any {
	summary := in.Title
	if summary == "" {
		summary = clip(strings.SplitN(in.Text, "\n", 2)[0])
	}
	card := map[string]any{
		"@type":    "MessageCard",
		"@context": "https://schema.org/extensions",
		"summary":  summary,
		"text":     in.Text,
	}
	if in.Title != "" {
		card["title"] = in.Title
	}
	if in.Severity != "" {
		card["themeColor"] = severityColors[in.Severity]
	}
	if pairs := in.fieldPairs(); len(pairs) > 0 {
		facts := make([]map[string]string, len(pairs))
		for i, p := range pairs {
			facts[i] = map[string]string{"name": p[0], "value": p[1]}
		}
		card["sections"] = []any{map[string]any{"facts": facts}}
	}
	return card
}

// RunLink is the line of a chat message (with.run_link) that says where to see a run: its console page, or,
// when no console URL is configured, its id and the command that shows it. Only the configured base and the
// run id go in, and config.CheckConsoleURL refuses a base with credentials, a query or a fragment, so the
// link never carries a token or a sign-in code: a sign-in is the reader's own.
func RunLink(consoleURL, runID string) string {
	if consoleURL == "" {
		return fmt.Sprintf("Run %s: `parry run show %s`", runID, runID)
	}
	return "Run: " + ConsoleRunURL(consoleURL, runID)
}

// ConsoleRunURL is the console's page of a run (the console's #/runs/ID route; the id escaped as the console's
// own links escape it, so a child run's PARENT/STEP id stays one path element).
func ConsoleRunURL(consoleURL, runID string) string {
	return strings.TrimRight(consoleURL, "/") + "/#/runs/" + strings.ReplaceAll(url.PathEscape(runID), "/", "%2F")
}

func (a *Activities) notifyWebhook(ctx context.Context, c *call) (any, error) {
	var in webhookInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	var hook *config.NotifyWebhook
	names := []string{}
	for i := range a.deps.Config.Notify.Webhooks {
		w := &a.deps.Config.Notify.Webhooks[i]
		names = append(names, w.Name)
		if w.Name == in.Connection {
			hook = w
		}
	}
	if hook == nil {
		if len(names) == 0 {
			return nil, failf(action.InvalidInput, "unknown webhook %q: no webhooks are configured (notify.webhooks)", in.Connection)
		}
		return nil, failf(action.InvalidInput, "unknown webhook %q (configured: %s)", in.Connection, strings.Join(names, ", "))
	}
	if in.RunLink {
		in.Text += "\n\n" + RunLink(a.deps.Config.Console.URL, c.runID)
	}
	name := fmt.Sprintf("webhook %q", hook.Name)
	// The URL is the webhook's credential: it never appears in a message, only the webhook's name does.
	raw, err := a.deps.Secrets.Secret(ctx, hook.URLSecret)
	if err != nil {
		return nil, failf(action.InvalidInput, "reading the URL of %s from secret %q: %v", name, hook.URLSecret, err)
	}
	raw = strings.TrimSpace(raw)
	c.hide(raw)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, failf(action.InvalidInput, "the URL of %s (secret %q) is not an absolute http(s) URL", name, hook.URLSecret)
	}
	// Chat webhook URLs carry their credential in the path (Slack) or the query (Teams): keep both out too.
	if len(u.Path) > 1 {
		c.hide(u.Path, strings.TrimPrefix(u.Path, "/"))
	}
	c.hide(u.RawQuery)
	payload := slackPayload(in)
	if hook.Format == "teams" {
		payload = teamsPayload(in)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encoding the message: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, a.deps.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, failf(action.InvalidInput, "building the request to %s failed", name)
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: a.deps.HTTPTransport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, failf(action.VendorUnavailable, "posting to %s: no answer: %s", name, transportError(err, a.deps.HTTPTimeout))
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusFailure("posting to "+name, resp, data)
	}
	return struct {
		Status int `json:"status"`
	}{resp.StatusCode}, nil
}
