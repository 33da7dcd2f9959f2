package cecp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Limits and retention of the log endpoints.
const (
	MaxSecurityEventsLimit   = 500
	MaxQuarantineEventsLimit = 500
	SecurityEventsReach      = 72 * time.Hour
	QuarantineEventsReach    = 7 * 24 * time.Hour
)

// SecurityEventServices are the values of the security events' service parameter.
func SecurityEventServices() []string {
	return []string{"exchange", "sharepoint", "onedrive", "dropbox", "box", "googledrive", "gmail", "teams",
		"exchangeserver", "salesforce_sandbox", "salesforce_production", "teams_chat"}
}

// SecurityEventTypes are the values of the security events' event parameter.
func SecurityEventTypes() []string {
	return []string{"securityrisk", "virtualanalyzer", "ransomware", "dlp"}
}

// SecurityEventsQuery selects security events of one service and event type. Without Start and End the vendor
// returns the last 5 minutes; with only Start, the 5 minutes after it; with only End, the 5 minutes before it.
// Only the last 72 hours are reachable.
type SecurityEventsQuery struct {
	Service string
	Event   string
	Start   time.Time
	End     time.Time
	// Limit is the page size (at most 500); by default the largest page MaxResults can use.
	Limit int
	// MaxResults bounds the items read across pages; DefaultMaxResults when 0.
	MaxResults int
	// Cursor continues an earlier read (its pager's Cursor): the window and position are the cursor's, and the
	// service and event, when given, must be its own.
	Cursor string
}

func (q SecurityEventsQuery) validate(now time.Time) error {
	p := problems{op: "security events query"}
	p.oneOf("service", q.Service, SecurityEventServices())
	p.oneOf("event", q.Event, SecurityEventTypes())
	p.window(q.Start, q.End, now, SecurityEventsReach, "72 hours of events")
	p.limit(q.Limit, MaxSecurityEventsLimit)
	return p.err()
}

// SecurityEventPages returns a pager over GET /v1/siem/security_events.
func (c *Client) SecurityEventPages(q SecurityEventsQuery) *Pager[SecurityEvent] {
	max := maxResults(q.MaxResults)
	v := url.Values{}
	v.Set("service", q.Service)
	v.Set("event", q.Event)
	setTime(v, "start", q.Start)
	setTime(v, "end", q.End)
	setInt(v, "limit", pageLimit(q.Limit, max, MaxSecurityEventsLimit))
	const path = "/v1/siem/security_events"
	if q.Cursor != "" {
		return resume[SecurityEvent](c, keySecurityEvents, path, q.Cursor, v, []string{"service", "event"}, max, q.validate(c.now()))
	}
	r := &request{method: http.MethodGet, path: path, query: v, max: c.opts.MaxPageBytes}
	return newPager[SecurityEvent](c, keySecurityEvents, r, max, q.validate(c.now()))
}

// SecurityEvents yields the events of q across pages.
func (c *Client) SecurityEvents(ctx context.Context, q SecurityEventsQuery) iter.Seq2[SecurityEvent, error] {
	return c.SecurityEventPages(q).All(ctx)
}

// QuarantineEventsQuery selects quarantine events (Exchange Online only). Without Start and End the vendor
// returns the last day; at most 7 days back are reachable.
type QuarantineEventsQuery struct {
	// Service is "exchange", the only value, when empty.
	Service string
	Start   time.Time
	End     time.Time
	// Limit is the page size (at most 500); by default the largest page MaxResults can use.
	Limit int
	// MaxResults bounds the items read across pages; DefaultMaxResults when 0.
	MaxResults int
	// Cursor continues an earlier read (its pager's Cursor).
	Cursor string
}

func (q QuarantineEventsQuery) validate(now time.Time) error {
	p := problems{op: "quarantine events query"}
	p.oneOf("service", q.Service, []string{ServiceExchange})
	p.window(q.Start, q.End, now, QuarantineEventsReach, "7 days of quarantine events")
	p.limit(q.Limit, MaxQuarantineEventsLimit)
	return p.err()
}

// QuarantineEventPages returns a pager over GET /v1/siem/quarantine_events.
func (c *Client) QuarantineEventPages(q QuarantineEventsQuery) *Pager[QuarantineEvent] {
	if q.Service == "" {
		q.Service = ServiceExchange
	}
	max := maxResults(q.MaxResults)
	v := url.Values{}
	v.Set("service", q.Service)
	setTime(v, "start", q.Start)
	setTime(v, "end", q.End)
	setInt(v, "limit", pageLimit(q.Limit, max, MaxQuarantineEventsLimit))
	const path = "/v1/siem/quarantine_events"
	if q.Cursor != "" {
		return resume[QuarantineEvent](c, keyQuarantineEvents, path, q.Cursor, v, []string{"service"}, max, q.validate(c.now()))
	}
	r := &request{method: http.MethodGet, path: path, query: v, max: c.opts.MaxPageBytes}
	return newPager[QuarantineEvent](c, keyQuarantineEvents, r, max, q.validate(c.now()))
}

// QuarantineEvents yields the quarantine events of q across pages.
func (c *Client) QuarantineEvents(ctx context.Context, q QuarantineEventsQuery) iter.Seq2[QuarantineEvent, error] {
	return c.QuarantineEventPages(q).All(ctx)
}

// Download paths: the seed document spells the endpoint both ways.
const (
	downloadPath         = "/v1/siem/quarantine_mails"
	downloadPathMisspelt = "/v1/siem/quanrantine_mails"
)

type downloadRef struct {
	AffectedUser         string `json:"affected_user"`
	Mailbox              string `json:"mailbox"`
	MailUniqueID         string `json:"mail_unique_id"`
	MailLogID            string `json:"mail_log_id"`
	MailMessageID        string `json:"mail_message_id"`
	MailBlobPath         string `json:"mail_blob_path"`
	MailBackupBlobPath   string `json:"mail_backup_blob_path"`
	MailMessageDirection string `json:"mail_message_direction"`
}

type downloadBody struct {
	QuarantineEvents []downloadEvent `json:"quarantine_events"`
	DownloadOptions  downloadOptions `json:"download_options"`
}

type downloadEvent struct {
	Service string      `json:"service"`
	Message downloadRef `json:"message"`
}

type downloadOptions struct {
	CompressionPassword string `json:"compression_password"`
}

func validateDownload(ev QuarantineEvent) error {
	p := problems{op: "quarantined mail download"}
	switch strings.ToLower(ev.Service) {
	case "", "exchange", "exchange online":
	default:
		p.add("service %q is not exchange: only Exchange Online mail can be downloaded", ev.Service)
	}
	// The reference: the blob paths and the direction are what the endpoint needs; the ids name the mail.
	var missing []string
	for _, f := range []struct{ name, v string }{{"mail_unique_id", ev.Message.MailUniqueID}, {"mail_log_id", ev.Message.MailLogID},
		{"mail_blob_path", ev.Message.MailBlobPath}, {"mail_backup_blob_path", ev.Message.MailBackupBlobPath},
		{"mail_message_direction", ev.Message.MailMessageDirection}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		p.add("%s is required (from the mail's quarantine event)", missing[0])
	default:
		p.add("%s are required (from the mail's quarantine event)", strings.Join(missing, ", "))
	}
	p.text("mailbox", ev.Message.Mailbox)
	p.text("mail_unique_id", ev.Message.MailUniqueID)
	p.text("mail_blob_path", ev.Message.MailBlobPath)
	p.text("mail_backup_blob_path", ev.Message.MailBackupBlobPath)
	return p.err()
}

// DownloadQuarantinedMail downloads the quarantined Exchange Online mail of ev (a quarantine event) as the
// vendor's ZIP, protected by password when it is not empty. The password is a secret: it is sent in the body
// and kept out of every error. The path is tried as quarantine_mails, then as quanrantine_mails on 404.
func (c *Client) DownloadQuarantinedMail(ctx context.Context, ev QuarantineEvent, password string) ([]byte, error) {
	if err := validateDownload(ev); err != nil {
		return nil, err
	}
	service := ev.Service
	if service == "" {
		service = ServiceExchange
	}
	m := ev.Message
	body, err := json.Marshal(downloadBody{
		QuarantineEvents: []downloadEvent{{Service: service, Message: downloadRef{
			AffectedUser: m.AffectedUser, Mailbox: m.Mailbox, MailUniqueID: m.MailUniqueID, MailLogID: m.MailLogID,
			MailMessageID: m.MailMessageID, MailBlobPath: m.MailBlobPath, MailBackupBlobPath: m.MailBackupBlobPath,
			MailMessageDirection: m.MailMessageDirection,
		}}},
		DownloadOptions: downloadOptions{CompressionPassword: password},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding download request: %w", err)
	}
	paths := []string{downloadPath, downloadPathMisspelt}
	if c.misspeltDownload.Load() {
		paths[0], paths[1] = paths[1], paths[0]
	}
	var zip []byte
	decode := func(r *request, resp *response) error {
		if bytes.HasPrefix(resp.body, []byte("PK\x03\x04")) || bytes.HasPrefix(resp.body, []byte("PK\x05\x06")) {
			zip = resp.body
			return nil
		}
		var env envelope
		if trimmed := bytes.TrimSpace(resp.body); len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &env) == nil && env.Code != 0 {
			return codeError(r, resp, &env)
		}
		return decodeError(r, resp, fmt.Errorf("the answer is not a ZIP archive (%d bytes starting %q)",
			len(resp.body), truncate(excerpt(resp.body, resp.secrets...), 32)))
	}
	for i, path := range paths {
		r := &request{method: http.MethodPost, path: path, body: body, max: c.opts.MaxDownloadBytes, secret: password, readOnly: true}
		err = c.exchange(ctx, r, decode)
		var e *Error
		if i == 0 && errors.As(err, &e) && e.kind == kindStatus && e.Status == http.StatusNotFound {
			continue
		}
		if err == nil {
			c.misspeltDownload.Store(path == downloadPathMisspelt)
		}
		break
	}
	if err != nil {
		return nil, err
	}
	return zip, nil
}
