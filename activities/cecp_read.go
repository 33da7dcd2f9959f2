package activities

import (
	"context"
	"time"

	"github.com/parry-soar/parry/internal/cecp"
)

// readResult is what a read action learned besides its items.
type readResult struct {
	lastGen string
	// cursor continues the read where the bound stopped it ("" when the vendor has nothing more).
	cursor      string
	undecodable []undecodableOut
}

// undecodableOut is an item the vendor sent that did not decode even tolerantly: kept, with the reason, as
// the JSON text it came as; Index is its position in the vendor's page.
type undecodableOut struct {
	Index int    `json:"index"`
	Error string `json:"error"`
	Raw   string `json:"raw"`
}

// maxUndecodableRaw bounds the raw text kept of one undecodable item in a step's output.
const maxUndecodableRaw = 4096

// readAll reads pages of a pager built with MaxResults max until max items are in hand or the vendor has no
// more. The pager's cursor says whether more remain and where a later read continues.
func readAll[T any](ctx context.Context, p *cecp.Pager[T], max int) (items []T, res readResult, err error) {
	items = []T{}
	for !p.Done() {
		page, err := p.Next(ctx)
		if err != nil {
			return nil, readResult{}, err
		}
		if !page.LastLogItemGenerationTime.IsZero() {
			res.lastGen = cecp.T(page.LastLogItemGenerationTime).String()
		}
		items = append(items, page.Items...)
		for _, u := range page.Undecodable {
			raw := string(u.Raw)
			if len(raw) > maxUndecodableRaw {
				raw = raw[:maxUndecodableRaw]
			}
			res.undecodable = append(res.undecodable, undecodableOut{Index: u.Index, Error: u.Err, Raw: raw})
		}
		if len(items) >= max {
			break
		}
	}
	if res.undecodable == nil {
		res.undecodable = []undecodableOut{}
	}
	res.cursor = p.Cursor()
	return items, res, nil
}

func (a *Activities) securityEvents(ctx context.Context, c *call) (any, error) {
	var in struct {
		Service    string `json:"service"`
		Event      string `json:"event"`
		Start      string `json:"start"`
		End        string `json:"end"`
		Limit      int    `json:"limit"`
		MaxResults int    `json:"max_results"`
		Cursor     string `json:"cursor"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	start, end, v, err := a.windowedVendor(c, in.Start, in.End)
	if err != nil {
		return nil, err
	}
	pager := v.client.SecurityEventPages(cecp.SecurityEventsQuery{Service: in.Service, Event: in.Event, Start: start, End: end,
		Limit: in.Limit, MaxResults: in.MaxResults, Cursor: in.Cursor})
	events, res, err := readAll(ctx, pager, in.MaxResults)
	if err != nil {
		return nil, v.fail("reading security events", err)
	}
	out := make([]securityEventOut, len(events))
	for i, e := range events {
		out[i] = securityEvent(e)
	}
	return struct {
		SecurityEvents            []securityEventOut `json:"security_events"`
		Count                     int                `json:"count"`
		Truncated                 bool               `json:"truncated"`
		NextCursor                string             `json:"next_cursor"`
		Undecodable               []undecodableOut   `json:"undecodable"`
		LastLogItemGenerationTime string             `json:"last_log_item_generation_time"`
	}{out, len(out), res.cursor != "", res.cursor, res.undecodable, res.lastGen}, nil
}

func (a *Activities) quarantineEvents(ctx context.Context, c *call) (any, error) {
	var in struct {
		Service    string `json:"service"`
		Start      string `json:"start"`
		End        string `json:"end"`
		Limit      int    `json:"limit"`
		MaxResults int    `json:"max_results"`
		Cursor     string `json:"cursor"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	start, end, v, err := a.windowedVendor(c, in.Start, in.End)
	if err != nil {
		return nil, err
	}
	pager := v.client.QuarantineEventPages(cecp.QuarantineEventsQuery{Service: in.Service, Start: start, End: end,
		Limit: in.Limit, MaxResults: in.MaxResults, Cursor: in.Cursor})
	events, res, err := readAll(ctx, pager, in.MaxResults)
	if err != nil {
		return nil, v.fail("reading quarantine events", err)
	}
	out := make([]quarantineEventOut, len(events))
	for i, e := range events {
		out[i] = quarantineEvent(e)
	}
	return struct {
		QuarantineEvents []quarantineEventOut `json:"quarantine_events"`
		Count            int                  `json:"count"`
		Truncated        bool                 `json:"truncated"`
		NextCursor       string               `json:"next_cursor"`
		Undecodable      []undecodableOut     `json:"undecodable"`
	}{out, len(out), res.cursor != "", res.cursor, res.undecodable}, nil
}

func (a *Activities) sweep(ctx context.Context, c *call) (any, error) {
	var in struct {
		Mailbox       string `json:"mailbox"`
		LastNDays     int    `json:"lastndays"`
		Start         string `json:"start"`
		End           string `json:"end"`
		Subject       string `json:"subject"`
		FileSHA1      string `json:"file_sha1"`
		FileSHA256    string `json:"file_sha256"`
		FileName      string `json:"file_name"`
		FileExtension string `json:"file_extension"`
		URL           string `json:"url"`
		Sender        string `json:"sender"`
		Recipient     string `json:"recipient"`
		MessageID     string `json:"message_id"`
		SourceIP      string `json:"source_ip"`
		SourceDomain  string `json:"source_domain"`
		Limit         int    `json:"limit"`
		MaxResults    int    `json:"max_results"`
		Cursor        string `json:"cursor"`
		// Headers are a few KB a mail and rarely needed by later steps: kept only on request.
		IncludeHeaders bool `json:"include_headers"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	start, end, v, err := a.windowedVendor(c, in.Start, in.End)
	if err != nil {
		return nil, err
	}
	pager := v.client.SweepPages(cecp.SweepQuery{Mailbox: in.Mailbox, LastNDays: in.LastNDays, Start: start, End: end,
		Subject: in.Subject, FileSHA1: in.FileSHA1, FileSHA256: in.FileSHA256, FileName: in.FileName,
		FileExtension: in.FileExtension, URL: in.URL, Sender: in.Sender, Recipient: in.Recipient, MessageID: in.MessageID,
		SourceIP: in.SourceIP, SourceDomain: in.SourceDomain, Limit: in.Limit, MaxResults: in.MaxResults, Cursor: in.Cursor})
	mails, res, err := readAll(ctx, pager, in.MaxResults)
	if err != nil {
		return nil, v.fail("sweeping mails", err)
	}
	out := make([]sweepMailOut, len(mails))
	for i, m := range mails {
		if !in.IncludeHeaders {
			m.MailInternetHeaders = nil
		}
		out[i] = sweepMail(m)
	}
	return struct {
		Mails       []sweepMailOut   `json:"mails"`
		Count       int              `json:"count"`
		Truncated   bool             `json:"truncated"`
		NextCursor  string           `json:"next_cursor"`
		Undecodable []undecodableOut `json:"undecodable"`
	}{out, len(out), res.cursor != "", res.cursor, res.undecodable}, nil
}

func (a *Activities) mitigationResults(ctx context.Context, c *call) (any, error) {
	var in struct {
		Kind       string `json:"kind"`
		BatchID    string `json:"batch_id"`
		Start      string `json:"start"`
		End        string `json:"end"`
		Limit      int    `json:"limit"`
		MaxResults int    `json:"max_results"`
		Cursor     string `json:"cursor"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	start, end, v, err := a.windowedVendor(c, in.Start, in.End)
	if err != nil {
		return nil, err
	}
	q := cecp.ActionResultsQuery{BatchID: in.BatchID, Start: start, End: end, Limit: in.Limit, MaxResults: in.MaxResults, Cursor: in.Cursor}
	pager := v.client.MailActionResultPages(q)
	if in.Kind == "accounts" {
		pager = v.client.AccountActionResultPages(q)
	}
	actions, res, err := readAll(ctx, pager, in.MaxResults)
	if err != nil {
		return nil, v.fail("reading "+in.Kind+" action results", err)
	}
	out := make([]actionOut, len(actions))
	for i, x := range actions {
		out[i] = actionResult(x)
	}
	return struct {
		Actions     []actionOut      `json:"actions"`
		Count       int              `json:"count"`
		Truncated   bool             `json:"truncated"`
		NextCursor  string           `json:"next_cursor"`
		Undecodable []undecodableOut `json:"undecodable"`
	}{out, len(out), res.cursor != "", res.cursor, res.undecodable}, nil
}

func (a *Activities) blocklist(ctx context.Context, c *call) (any, error) {
	v, err := a.vendorFor(c)
	if err != nil {
		return nil, err
	}
	r, err := v.client.BlockedLists(ctx)
	if err != nil {
		return nil, v.fail("reading the blocked lists", err)
	}
	return rules(r), nil
}

// windowedVendor parses a read's start/end inputs and finds its connection: the preamble of every read action.
// A start without an end reads up to now, as a playbook author means it (and as XSOAR does): the vendor would
// read only a few minutes (5 for events and action results) or days (7 for the sweep) after the start.
func (a *Activities) windowedVendor(c *call, startIn, endIn string) (time.Time, time.Time, *vendor, error) {
	start, err := timeInput("start", startIn)
	if err != nil {
		return start, start, nil, err
	}
	end, err := timeInput("end", endIn)
	if err != nil {
		return start, end, nil, err
	}
	if !start.IsZero() && end.IsZero() {
		end = a.now().UTC()
	}
	v, err := a.vendorFor(c)
	return start, end, v, err
}
