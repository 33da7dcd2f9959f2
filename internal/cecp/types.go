package cecp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// TimeLayout is how the vendor writes timestamps, and how the client sends them.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Time is a vendor timestamp. It decodes ISO-8601 strings (with or without milliseconds or a zone), epoch
// milliseconds as a number or a numeric string, and "" or null as the zero time; it encodes as TimeLayout in UTC.
// Tag fields with omitzero so that a zero time is left out.
type Time struct {
	time.Time
}

// T returns t as a Time.
func T(t time.Time) Time { return Time{t} }

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	if len(b) > 0 && b[0] != '"' {
		ms, err := parseMillis(string(b))
		if err != nil {
			return fmt.Errorf("timestamp %.40s is neither ISO-8601 nor epoch milliseconds", b)
		}
		return t.setMillis(ms, string(b))
	}
	s, ok := plainString(b)
	if !ok {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	parsed, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = parsed
	return nil
}

// ParseTime parses a vendor timestamp as Time.UnmarshalJSON does, from a string ("" is the zero time).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, "-:T ") {
		if ms, err := parseMillis(s); err == nil {
			var t Time
			err := t.setMillis(ms, s)
			return t.Time, err
		}
	}
	for _, layout := range [...]string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999",
	} {
		if v, err := time.Parse(layout, s); err == nil {
			return v.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is neither ISO-8601 nor epoch milliseconds", truncate(s, 40))
}

// Epoch milliseconds of 0001-01-01 and 9999-12-31: outside them a time cannot be written back as ISO-8601.
const (
	minMillis = -62135596800000
	maxMillis = 253402300799999
)

func (t *Time) setMillis(ms int64, raw string) error {
	if ms < minMillis || ms > maxMillis {
		return fmt.Errorf("timestamp %.40s is outside the years 1 to 9999", raw)
	}
	t.Time = time.UnixMilli(ms).UTC()
	return nil
}

func parseMillis(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > 1e15 || f < -1e15 {
		return 0, fmt.Errorf("not a number of milliseconds")
	}
	return int64(f), nil
}

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte(`""`), nil
	}
	return []byte(`"` + t.UTC().Format(TimeLayout) + `"`), nil
}

// String formats t as the vendor does ("" when zero).
func (t Time) String() string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeLayout)
}

// Strings is a list of strings that also decodes from a single string ("" is an empty list) and from null, and
// always encodes as an array.
type Strings []string

// UnmarshalJSON implements json.Unmarshaler.
func (s *Strings) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*s = nil
		return nil
	case len(b) > 0 && b[0] == '"':
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		if one == "" {
			*s = nil
		} else {
			*s = Strings{one}
		}
		return nil
	}
	if out, ok := plainStrings(b); ok {
		*s = out
		return nil
	}
	var many []*string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	out := make(Strings, 0, len(many))
	for _, v := range many {
		if v != nil {
			out = append(out, *v)
		}
	}
	*s = out
	return nil
}

// MarshalJSON implements json.Marshaler.
func (s Strings) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]string(s))
}

// plainString returns the content of a JSON string literal without escapes and with valid UTF-8, the common
// case, without a second pass of the JSON decoder.
func plainString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	in := b[1 : len(b)-1]
	if bytes.IndexByte(in, '\\') >= 0 || bytes.IndexByte(in, '"') >= 0 || !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// plainStrings decodes an array of plain string literals; anything else (escapes, null, numbers) is left to
// encoding/json. The decoder has already checked that b is valid JSON.
func plainStrings(b []byte) (Strings, bool) {
	if len(b) < 2 || b[0] != '[' {
		return nil, false
	}
	out := Strings{}
	i := 1
	skip := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
	}
	skip()
	if i < len(b) && b[i] == ']' {
		return out, true
	}
	for {
		skip()
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		end := bytes.IndexByte(b[i+1:], '"')
		if end < 0 {
			return nil, false
		}
		v, ok := plainString(b[i : i+end+2])
		if !ok {
			return nil, false
		}
		out = append(out, v)
		i += end + 2
		skip()
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i++
		case ']':
			return out, true
		default:
			return nil, false
		}
	}
}

// flexInt decodes a number, a numeric string, "" or null (0).
type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	s := string(b)
	if s == "null" {
		*n = 0
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*n = 0
			return nil
		}
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil && v >= math.MinInt32 && v <= math.MaxInt32 {
		*n = flexInt(v)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return fmt.Errorf("%.40q is not an integer", s)
	}
	*n = flexInt(f)
	return nil
}

// envelope is what every vendor JSON body may carry besides its items.
type envelope struct {
	Code    flexInt `json:"code"`
	Msg     string  `json:"msg"`
	Message string  `json:"message"`
	TraceID string  `json:"traceId"`
}

func (e *envelope) env() *envelope { return e }

func (e *envelope) text() string {
	if e.Msg != "" {
		return e.Msg
	}
	return e.Message
}

// SecurityEvent is one item of GET /v1/siem/security_events.
type SecurityEvent struct {
	LogItemID string `json:"log_item_id"`
	// Service is display-cased (OneDrive), unlike the query parameter (onedrive).
	Service string               `json:"service"`
	Event   string               `json:"event"`
	Message SecurityEventMessage `json:"message"`
	// Extra holds the members the reference does not list, and listed ones that arrived as another JSON type
	// than documented, as received (the field then holds their string form). They are encoded back as received.
	Extra map[string]json.RawMessage `json:"-"`
}

// SecurityEventMessage holds the fields of a security event; which are set depends on service and event, and
// absent values often come back as "".
type SecurityEventMessage struct {
	LogItemID               string  `json:"log_item_id,omitempty"`
	ScanType                string  `json:"scan_type"`
	AffectedUser            string  `json:"affected_user"`
	Location                string  `json:"location"`
	DetectionTime           Time    `json:"detection_time,omitzero"`
	TriggeredPolicyName     string  `json:"triggered_policy_name"`
	TriggeredSecurityFilter string  `json:"triggered_security_filter"`
	Action                  string  `json:"action"`
	ActionResult            string  `json:"action_result"`
	DetectedBy              string  `json:"detected_by"`
	SecurityRiskName        string  `json:"security_risk_name"`
	RiskLevel               string  `json:"risk_level"`
	FileName                string  `json:"file_name"`
	FileUploadTime          Time    `json:"file_upload_time,omitzero"`
	FileSHA1                string  `json:"file_sha1"`
	FileSHA256              string  `json:"file_sha256"`
	VirusName               string  `json:"virus_name"`
	DetectionType           string  `json:"detection_type"`
	VAReportLink            string  `json:"va_report_link"`
	RansomwareName          string  `json:"ransomware_name"`
	TriggeredDLPTemplate    string  `json:"triggered_dlp_template"`
	MailMessageID           string  `json:"mail_message_id"`
	MailMessageSender       string  `json:"mail_message_sender"`
	MailMessageRecipient    Strings `json:"mail_message_recipient"`
	MailMessageSubmitTime   Time    `json:"mail_message_submit_time,omitzero"`
	MailMessageDeliveryTime Time    `json:"mail_message_delivery_time,omitzero"`
	MailMessageSubject      string  `json:"mail_message_subject"`
	MailMessageFileName     string  `json:"mail_message_file_name"`
	// Extra holds the members the reference does not list, and listed ones that arrived as another JSON type
	// than documented, as received (the field then holds their string form). They are encoded back as received.
	Extra map[string]json.RawMessage `json:"-"`
}

// QuarantineEvent is one item of GET /v1/siem/quarantine_events, and what POST /v1/siem/quarantine_mails
// needs to find the mail.
type QuarantineEvent struct {
	Service string            `json:"service"`
	Message QuarantineMessage `json:"message"`
	// Extra holds the members the reference does not list, and listed ones that arrived as another JSON type
	// than documented, as received (the field then holds their string form). They are encoded back as received.
	Extra map[string]json.RawMessage `json:"-"`
}

// QuarantineMessage holds the fields of a quarantine event.
type QuarantineMessage struct {
	AffectedUser            string  `json:"affected_user"`
	Mailbox                 string  `json:"mailbox"`
	DetectionTime           Time    `json:"detection_time,omitzero"`
	MailUniqueID            string  `json:"mail_unique_id"`
	MailLogID               string  `json:"mail_log_id"`
	MailMessageID           string  `json:"mail_message_id"`
	MailMessageDeliveryTime Time    `json:"mail_message_delivery_time,omitzero"`
	MailMessageSender       string  `json:"mail_message_sender"`
	MailMessageRecipient    Strings `json:"mail_message_recipient"`
	MailMessageSubject      string  `json:"mail_message_subject"`
	MailStatus              string  `json:"mail_status"`
	Location                string  `json:"location"`
	MailQuarantineType      string  `json:"mail_quarantine_type"`
	TriggeredSecurityFilter string  `json:"triggered_security_filter"`
	SecurityRiskName        string  `json:"security_risk_name"`
	MailBlobPath            string  `json:"mail_blob_path"`
	MailBackupBlobPath      string  `json:"mail_backup_blob_path"`
	MailMessageDirection    string  `json:"mail_message_direction"`
	// Extra holds the members the reference does not list, and listed ones that arrived as another JSON type
	// than documented, as received (the field then holds their string form). They are encoded back as received.
	Extra map[string]json.RawMessage `json:"-"`
}

// SweepMail is one item of GET /v1/sweeping/mails.
type SweepMail struct {
	Mailbox                 string       `json:"mailbox"`
	MailMessageSender       string       `json:"mail_message_sender"`
	MailMessageRecipient    Strings      `json:"mail_message_recipient"`
	MailMessageSubject      string       `json:"mail_message_subject"`
	MailMessageID           string       `json:"mail_message_id"`
	MailUniqueID            string       `json:"mail_unique_id"`
	MailMessageDeliveryTime Time         `json:"mail_message_delivery_time,omitzero"`
	MailURLs                Strings      `json:"mail_urls"`
	MailAttachments         []Attachment `json:"mail_attachments"`
	MailInternetHeaders     []Header     `json:"mail_internet_headers"`
	SourceIP                string       `json:"source_ip"`
	SourceDomain            string       `json:"source_domain"`
	// Extra holds the members the reference does not list, and listed ones that arrived as another JSON type
	// than documented, as received (the field then holds their string form). They are encoded back as received.
	Extra map[string]json.RawMessage `json:"-"`
}

// Attachment is a file attached to a swept mail.
type Attachment struct {
	FileName   string `json:"file_name"`
	FileSHA1   string `json:"file_sha1"`
	FileSHA256 string `json:"file_sha256"`
	// Extra holds the members the reference does not list, and listed ones that arrived as another JSON type
	// than documented, as received (the field then holds their string form). They are encoded back as received.
	Extra map[string]json.RawMessage `json:"-"`
}

// Header is one internet header of a swept mail; the vendor capitalises these two field names.
type Header struct {
	HeaderName string `json:"HeaderName"`
	Value      string `json:"Value"`
	// Extra holds the members the reference does not list, and listed ones that arrived as another JSON type
	// than documented, as received (the field then holds their string form). They are encoded back as received.
	Extra map[string]json.RawMessage `json:"-"`
}

// Mail action types (POST /v1/mitigation/mails).
const (
	MailDelete     = "MAIL_DELETE"
	MailQuarantine = "MAIL_QUARANTINE"
	MailRestore    = "MAIL_RESTORE"
)

// Account action types (POST /v1/mitigation/accounts).
const (
	AccountDisable              = "ACCOUNT_DISABLE"
	AccountEnableMFA            = "ACCOUNT_ENABLE_MFA"
	AccountResetPassword        = "ACCOUNT_RESET_PASSWORD"
	AccountRevokeSigninSessions = "ACCOUNT_REVOKE_SIGNIN_SESSIONS"
)

// Services and account providers of mitigation requests.
const (
	ServiceExchange   = "exchange"
	ServiceGmail      = "gmail"
	ProviderOffice365 = "office365"
	ProviderGoogle    = "google"
)

// MailAction is one item of a mail mitigation batch.
type MailAction struct {
	ActionType              string `json:"action_type"`
	Service                 string `json:"service"`
	AccountProvider         string `json:"account_provider"`
	Mailbox                 string `json:"mailbox"`
	MailMessageID           string `json:"mail_message_id,omitempty"`
	MailUniqueID            string `json:"mail_unique_id,omitempty"`
	MailMessageDeliveryTime Time   `json:"mail_message_delivery_time,omitzero"`
	// DetectionTime and MailLogID come from a quarantine event; MAIL_RESTORE needs them.
	DetectionTime Time   `json:"detection_time,omitzero"`
	MailLogID     string `json:"mail_log_id,omitempty"`
}

// AccountAction is one item of an account mitigation batch.
type AccountAction struct {
	ActionType       string `json:"action_type"`
	Service          string `json:"service"`
	AccountProvider  string `json:"account_provider"`
	AccountUserEmail string `json:"account_user_email"`
}

// BatchResult is the vendor's answer to a mitigation POST: the work is asynchronous, so only a batch id.
type BatchResult struct {
	BatchID string `json:"batch_id"`
	TraceID string `json:"traceId"`
}

// ActionStatus is the state of one mitigation action.
type ActionStatus string

// Action statuses: Created and Executing are pending; the others are outcomes.
const (
	StatusCreated   ActionStatus = "Created"
	StatusExecuting ActionStatus = "Executing"
	StatusSuccess   ActionStatus = "Success"
	StatusSkipped   ActionStatus = "Skipped"
	StatusFailed    ActionStatus = "Failed"
)

// Terminal reports whether the action has an outcome. An unknown status is not terminal.
func (s ActionStatus) Terminal() bool {
	return s == StatusSuccess || s == StatusSkipped || s == StatusFailed
}

// Action is one item of GET /v1/mitigation/mails or /v1/mitigation/accounts. Skipped (error_code 200) means
// the mail was already gone; Failed has error_code -999. ActionExecutedAt can be earlier than ActionRequestedAt
// (vendor clock skew).
type Action struct {
	ActionID          string       `json:"action_id"`
	BatchID           string       `json:"batch_id"`
	ActionType        string       `json:"action_type"`
	Service           string       `json:"service"`
	AccountProvider   string       `json:"account_provider"`
	AccountUserEmail  string       `json:"account_user_email"`
	Mailbox           string       `json:"mailbox"`
	MailMessageID     string       `json:"mail_message_id"`
	MailUniqueID      string       `json:"mail_unique_id"`
	Status            ActionStatus `json:"status"`
	ActionRequestedAt Time         `json:"action_requested_at,omitzero"`
	ActionExecutedAt  Time         `json:"action_executed_at,omitzero"`
	ErrorCode         int          `json:"error_code"`
	ErrorMessage      string       `json:"error_message"`
	// Extra holds the members the reference does not list, and listed ones that arrived as another JSON type
	// than documented, as received (the field then holds their string form). They are encoded back as received.
	Extra map[string]json.RawMessage `json:"-"`
}

// Rules are the blocked lists: entries added through the API only.
type Rules struct {
	Senders []string `json:"senders"`
	URLs    []string `json:"urls"`
	// FileHashes are SHA-1 hashes, File256Hashes SHA-256.
	FileHashes    []string `json:"filehashes"`
	File256Hashes []string `json:"file256hashes"`
}

// Len is the number of entries in all four lists.
func (r Rules) Len() int {
	return len(r.Senders) + len(r.URLs) + len(r.FileHashes) + len(r.File256Hashes)
}

// MarshalJSON encodes every list as an array, never null, as the vendor does.
func (r Rules) MarshalJSON() ([]byte, error) {
	type plain struct {
		Senders       []string `json:"senders"`
		URLs          []string `json:"urls"`
		FileHashes    []string `json:"filehashes"`
		File256Hashes []string `json:"file256hashes"`
	}
	nz := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return json.Marshal(plain{nz(r.Senders), nz(r.URLs), nz(r.FileHashes), nz(r.File256Hashes)})
}

// Blocked-list update actions.
const (
	BlocklistCreate = "create"
	BlocklistDelete = "delete"
)
