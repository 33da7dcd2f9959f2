// Package eml parses RFC 5322 / MIME messages (a quarantined mail, a reported phish) into what an analyst and a
// playbook need: the addressing and tracing headers, the text and HTML bodies, the URLs they contain and the
// attachments with their hashes, including those inside forwarded messages.
//
// Parsing is bounded (total size, MIME part count, nesting depth, header fields per header block): exceeding a
// bound is a *LimitError naming it. Defects a real mail client would shrug off (a missing closing boundary, bad
// base64, an unknown charset, an unparsable date) do not fail the parse; they are listed in Message.Warnings.
package eml

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"
)

// Limits bound the parser's work. Zero fields take the defaults.
type Limits struct {
	MaxBytes   int64 // the whole message; default 50 MiB
	MaxParts   int   // MIME entities, counting nested messages' parts; default 500
	MaxDepth   int   // nesting of multiparts and attached messages; default 16
	MaxHeaders int   // fields in one header block; default 500
	MaxURLs    int   // URLs kept per message; more are dropped with a warning; default 2,000
}

// Defaults for zero Limits fields.
const (
	DefaultMaxBytes   = 50 << 20
	DefaultMaxParts   = 500
	DefaultMaxDepth   = 16
	DefaultMaxHeaders = 500
	DefaultMaxURLs    = 2000
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxParts <= 0 {
		l.MaxParts = DefaultMaxParts
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	if l.MaxURLs <= 0 {
		l.MaxURLs = DefaultMaxURLs
	}
	return l
}

// LimitError says which bound a message exceeded.
type LimitError struct {
	Limit string // "bytes", "parts", "depth" or "headers"
	Max   int64
	Part  string // the MIME part where it happened ("" for the message as a whole)
}

func (e *LimitError) Error() string {
	where := "message"
	if e.Part != "" {
		where = "part " + e.Part
	}
	switch e.Limit {
	case "bytes":
		return fmt.Sprintf("message is larger than the limit of %d bytes", e.Max)
	case "parts":
		return fmt.Sprintf("message has more than %d MIME parts", e.Max)
	case "depth":
		return fmt.Sprintf("%s is nested deeper than %d levels", where, e.Max)
	case "headers":
		return fmt.Sprintf("%s has more than %d header fields", where, e.Max)
	}
	return fmt.Sprintf("%s exceeds the %s limit of %d", where, e.Limit, e.Max)
}

// Message is a parsed mail.
type Message struct {
	From                  []Address `json:"from"`
	To                    []Address `json:"to"`
	Cc                    []Address `json:"cc"`
	ReplyTo               []Address `json:"reply_to"`
	Subject               string    `json:"subject"`
	MessageID             string    `json:"message_id"`
	Date                  time.Time `json:"date,omitzero"`
	Received              []string  `json:"received"`               // top (most recent hop) first, as in the message
	AuthenticationResults []string  `json:"authentication_results"` // in message order
	// Headers holds every top-level field in order, unfolded, values not decoded.
	Headers     []Header     `json:"headers"`
	TextBody    string       `json:"text_body"`
	HTMLBody    string       `json:"html_body"`
	URLs        []string     `json:"urls"` // from the text and HTML bodies, deduplicated, in order of appearance
	Attachments []Attachment `json:"attachments"`
	Warnings    []string     `json:"warnings"`
}

// Address is a mailbox from an address header.
type Address struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address"`
}

// Header is one header field.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Attachment is a non-body MIME leaf or an attached message.
type Attachment struct {
	FileName    string   `json:"file_name"` // decoded (RFC 2231 or encoded words); as sent, never sanitised
	ContentType string   `json:"content_type"`
	Disposition string   `json:"disposition,omitempty"`
	ContentID   string   `json:"content_id,omitempty"`
	Part        string   `json:"part"` // MIME section number, IMAP style ("2.1")
	Size        int64    `json:"size"` // decoded size
	SHA1        string   `json:"sha1"`
	SHA256      string   `json:"sha256"`
	Content     []byte   `json:"-"`
	Message     *Message `json:"message,omitempty"` // the parsed message of a message/rfc822 attachment
}

// nonNil makes empty lists empty rather than null in JSON, so expressions over them need no null checks.
func (m *Message) nonNil() {
	for _, l := range []*[]Address{&m.From, &m.To, &m.Cc, &m.ReplyTo} {
		if *l == nil {
			*l = []Address{}
		}
	}
	for _, l := range []*[]string{&m.Received, &m.AuthenticationResults, &m.URLs, &m.Warnings} {
		if *l == nil {
			*l = []string{}
		}
	}
	if m.Headers == nil {
		m.Headers = []Header{}
	}
	if m.Attachments == nil {
		m.Attachments = []Attachment{}
	}
}

// AllAttachments returns m's attachments and, after each attached message, that message's own, depth first.
func (m *Message) AllAttachments() []Attachment {
	var out []Attachment
	for _, a := range m.Attachments {
		out = append(out, a)
		if a.Message != nil {
			out = append(out, a.Message.AllAttachments()...)
		}
	}
	return out
}

// AllURLs returns m's URLs followed by those of attached messages, deduplicated.
func (m *Message) AllURLs() []string {
	seen := map[string]bool{}
	var out []string
	var walk func(*Message)
	walk = func(m *Message) {
		for _, u := range m.URLs {
			if !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
		for _, a := range m.Attachments {
			if a.Message != nil {
				walk(a.Message)
			}
		}
	}
	walk(m)
	return out
}

// Get returns the first top-level header field with this name (case-insensitive), or "".
func (m *Message) Get(name string) string {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// ParseReader reads at most lim.MaxBytes from r and parses the message.
func ParseReader(r io.Reader, lim Limits) (*Message, error) {
	lim = lim.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading message: %w", err)
	}
	return Parse(data, lim)
}

// Parse parses a complete message.
func Parse(data []byte, lim Limits) (*Message, error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxBytes {
		return nil, &LimitError{Limit: "bytes", Max: lim.MaxBytes}
	}
	p := &parser{lim: lim, dec: newWordDecoder()}
	return p.message(data, 0, "")
}

type parser struct {
	lim   Limits
	dec   *mime.WordDecoder
	parts int
}

// message parses data as a message whose MIME sections are numbered under prefix.
func (p *parser) message(data []byte, depth int, prefix string) (*Message, error) {
	hdrs, body, warns, err := splitHeader(data, p.lim.MaxHeaders, prefix)
	if err != nil {
		return nil, err
	}
	m := &Message{Headers: hdrs, Warnings: warns}
	p.fillEnvelope(m, hdrs)
	c := &collector{msg: m, p: p, seenURL: map[string]bool{}}
	section := "1"
	if prefix != "" {
		section = prefix + ".1"
	}
	if err := c.entity(headerBlock(hdrs), body, depth, section, prefix, true, false); err != nil {
		return nil, err
	}
	m.nonNil()
	return m, nil
}

func (p *parser) fillEnvelope(m *Message, hdrs []Header) {
	for _, h := range hdrs {
		switch strings.ToLower(h.Name) {
		case "from":
			m.From = append(m.From, p.addresses(m, h)...)
		case "to":
			m.To = append(m.To, p.addresses(m, h)...)
		case "cc":
			m.Cc = append(m.Cc, p.addresses(m, h)...)
		case "reply-to":
			m.ReplyTo = append(m.ReplyTo, p.addresses(m, h)...)
		case "subject":
			if m.Subject == "" {
				m.Subject = p.decodeHeader(m, h)
			}
		case "message-id":
			if m.MessageID == "" {
				m.MessageID = strings.TrimSpace(h.Value)
			}
		case "date":
			if m.Date.IsZero() {
				d, err := mail.ParseDate(h.Value)
				if err != nil {
					m.Warnings = append(m.Warnings, fmt.Sprintf("Date %q is not a valid date", h.Value))
					continue
				}
				m.Date = d
			}
		case "received":
			m.Received = append(m.Received, h.Value)
		case "authentication-results":
			m.AuthenticationResults = append(m.AuthenticationResults, h.Value)
		}
	}
}

func (p *parser) decodeHeader(m *Message, h Header) string {
	s, err := p.dec.DecodeHeader(h.Value)
	if err != nil {
		m.Warnings = append(m.Warnings, fmt.Sprintf("%s: %v", h.Name, err))
		return h.Value
	}
	return s
}

// addresses parses an address list, falling back to a lenient scan: phishing mail is often malformed on purpose
// and the addresses in it are exactly what an analyst needs.
func (p *parser) addresses(m *Message, h Header) []Address {
	if strings.TrimSpace(h.Value) == "" {
		return nil
	}
	ap := mail.AddressParser{WordDecoder: p.dec}
	list, err := ap.ParseList(h.Value)
	if err == nil {
		out := make([]Address, len(list))
		for i, a := range list {
			out[i] = Address{Name: a.Name, Address: a.Address}
		}
		return out
	}
	m.Warnings = append(m.Warnings, fmt.Sprintf("%s %q: %v; addresses taken leniently", h.Name, h.Value, err))
	var out []Address
	for _, piece := range strings.Split(h.Value, ",") {
		piece = strings.TrimSpace(piece)
		if piece == "" {
			continue
		}
		a := Address{Address: piece}
		if lt := strings.LastIndexByte(piece, '<'); lt >= 0 {
			if gt := strings.IndexByte(piece[lt:], '>'); gt > 0 {
				a.Address = strings.TrimSpace(piece[lt+1 : lt+gt])
				name, err := p.dec.DecodeHeader(strings.Trim(piece[:lt], "\" <\t"))
				if err == nil {
					a.Name = name
				}
			}
		}
		out = append(out, a)
	}
	return out
}

// collector accumulates one message's bodies, URLs and attachments while walking its MIME tree.
type collector struct {
	msg     *Message
	p       *parser
	seenURL map[string]bool
	dropped bool
}

func (c *collector) warnf(section, format string, args ...any) {
	c.msg.Warnings = append(c.msg.Warnings, "part "+section+": "+fmt.Sprintf(format, args...))
}

func (c *collector) addURLs(urls []string) {
	for _, u := range urls {
		if c.seenURL[u] {
			continue
		}
		if len(c.msg.URLs) >= c.p.lim.MaxURLs {
			if !c.dropped {
				c.dropped = true
				c.msg.Warnings = append(c.msg.Warnings, fmt.Sprintf("more than %d URLs; the rest were dropped", c.p.lim.MaxURLs))
			}
			return
		}
		c.seenURL[u] = true
		c.msg.URLs = append(c.msg.URLs, u)
	}
}

func newAttachment(content []byte) Attachment {
	s1 := sha1.Sum(content)
	s256 := sha256.Sum256(content)
	return Attachment{Size: int64(len(content)), SHA1: hex.EncodeToString(s1[:]), SHA256: hex.EncodeToString(s256[:]), Content: content}
}

// normalizeNewlines turns CRLF (and lone CR) into LF so bodies compare and display alike whatever the transport.
func normalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}
