package cecp

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The decoders of the vendor's items (see loose.go): each member goes to its field as an identifier (id), free
// text (text), a time, a list or a count; members the reference does not list are kept in Extra.

// UnmarshalJSON implements json.Unmarshaler, tolerantly.
func (e *SecurityEvent) UnmarshalJSON(b []byte) error {
	*e = SecurityEvent{}
	extra, err := decodeObject(b, "security event", func(d *loose, k, v []byte) {
		switch string(k) {
		case "log_item_id":
			d.id(&e.LogItemID, k, v)
		case "service":
			d.text(&e.Service, k, v)
		case "event":
			d.text(&e.Event, k, v)
		case "message":
			d.object(&e.Message, k, v)
		default:
			d.keep(k, v)
		}
	})
	e.Extra = extra
	return err
}

// MarshalJSON encodes the event with its extra members as received.
func (e SecurityEvent) MarshalJSON() ([]byte, error) {
	type plain SecurityEvent
	return marshalWithExtra(plain(e), e.Extra)
}

// UnmarshalJSON implements json.Unmarshaler, tolerantly.
func (m *SecurityEventMessage) UnmarshalJSON(b []byte) error {
	*m = SecurityEventMessage{}
	extra, err := decodeObject(b, "message", func(d *loose, k, v []byte) {
		switch string(k) {
		case "log_item_id":
			d.id(&m.LogItemID, k, v)
		case "scan_type":
			d.text(&m.ScanType, k, v)
		case "affected_user":
			d.text(&m.AffectedUser, k, v)
		case "location":
			d.text(&m.Location, k, v)
		case "detection_time":
			d.time(&m.DetectionTime, k, v)
		case "triggered_policy_name":
			d.text(&m.TriggeredPolicyName, k, v)
		case "triggered_security_filter":
			d.text(&m.TriggeredSecurityFilter, k, v)
		case "action":
			d.text(&m.Action, k, v)
		case "action_result":
			d.text(&m.ActionResult, k, v)
		case "detected_by":
			d.text(&m.DetectedBy, k, v)
		case "security_risk_name":
			d.text(&m.SecurityRiskName, k, v)
		case "risk_level":
			d.text(&m.RiskLevel, k, v)
		case "file_name":
			d.text(&m.FileName, k, v)
		case "file_upload_time":
			d.time(&m.FileUploadTime, k, v)
		case "file_sha1":
			d.text(&m.FileSHA1, k, v)
		case "file_sha256":
			d.text(&m.FileSHA256, k, v)
		case "virus_name":
			d.text(&m.VirusName, k, v)
		case "detection_type":
			d.text(&m.DetectionType, k, v)
		case "va_report_link":
			d.text(&m.VAReportLink, k, v)
		case "ransomware_name":
			d.text(&m.RansomwareName, k, v)
		case "triggered_dlp_template":
			d.text(&m.TriggeredDLPTemplate, k, v)
		case "mail_message_id":
			d.id(&m.MailMessageID, k, v)
		case "mail_message_sender":
			d.text(&m.MailMessageSender, k, v)
		case "mail_message_recipient":
			d.strings(&m.MailMessageRecipient, k, v)
		case "mail_message_submit_time":
			d.time(&m.MailMessageSubmitTime, k, v)
		case "mail_message_delivery_time":
			d.time(&m.MailMessageDeliveryTime, k, v)
		case "mail_message_subject":
			d.text(&m.MailMessageSubject, k, v)
		case "mail_message_file_name":
			d.text(&m.MailMessageFileName, k, v)
		default:
			d.keep(k, v)
		}
	})
	m.Extra = extra
	return err
}

// MarshalJSON encodes the message with its extra members as received.
func (m SecurityEventMessage) MarshalJSON() ([]byte, error) {
	type plain SecurityEventMessage
	return marshalWithExtra(plain(m), m.Extra)
}

// UnmarshalJSON implements json.Unmarshaler, tolerantly.
func (e *QuarantineEvent) UnmarshalJSON(b []byte) error {
	*e = QuarantineEvent{}
	extra, err := decodeObject(b, "quarantine event", func(d *loose, k, v []byte) {
		switch string(k) {
		case "service":
			d.text(&e.Service, k, v)
		case "message":
			d.object(&e.Message, k, v)
		default:
			d.keep(k, v)
		}
	})
	e.Extra = extra
	return err
}

// MarshalJSON encodes the event with its extra members as received.
func (e QuarantineEvent) MarshalJSON() ([]byte, error) {
	type plain QuarantineEvent
	return marshalWithExtra(plain(e), e.Extra)
}

// UnmarshalJSON implements json.Unmarshaler, tolerantly. The ids and blob paths are identifiers: restoring and
// downloading the mail need them as sent.
func (m *QuarantineMessage) UnmarshalJSON(b []byte) error {
	*m = QuarantineMessage{}
	extra, err := decodeObject(b, "message", func(d *loose, k, v []byte) {
		switch string(k) {
		case "affected_user":
			d.text(&m.AffectedUser, k, v)
		case "mailbox":
			d.id(&m.Mailbox, k, v)
		case "detection_time":
			d.time(&m.DetectionTime, k, v)
		case "mail_unique_id":
			d.id(&m.MailUniqueID, k, v)
		case "mail_log_id":
			d.id(&m.MailLogID, k, v)
		case "mail_message_id":
			d.id(&m.MailMessageID, k, v)
		case "mail_message_delivery_time":
			d.time(&m.MailMessageDeliveryTime, k, v)
		case "mail_message_sender":
			d.text(&m.MailMessageSender, k, v)
		case "mail_message_recipient":
			d.strings(&m.MailMessageRecipient, k, v)
		case "mail_message_subject":
			d.text(&m.MailMessageSubject, k, v)
		case "mail_status":
			d.text(&m.MailStatus, k, v)
		case "location":
			d.text(&m.Location, k, v)
		case "mail_quarantine_type":
			d.text(&m.MailQuarantineType, k, v)
		case "triggered_security_filter":
			d.text(&m.TriggeredSecurityFilter, k, v)
		case "security_risk_name":
			d.text(&m.SecurityRiskName, k, v)
		case "mail_blob_path":
			d.id(&m.MailBlobPath, k, v)
		case "mail_backup_blob_path":
			d.id(&m.MailBackupBlobPath, k, v)
		case "mail_message_direction":
			d.text(&m.MailMessageDirection, k, v)
		default:
			d.keep(k, v)
		}
	})
	m.Extra = extra
	return err
}

// MarshalJSON encodes the message with its extra members as received.
func (m QuarantineMessage) MarshalJSON() ([]byte, error) {
	type plain QuarantineMessage
	return marshalWithExtra(plain(m), m.Extra)
}

// UnmarshalJSON implements json.Unmarshaler, tolerantly. Mailbox and the two ids are identifiers (mitigation
// sends them back).
func (m *SweepMail) UnmarshalJSON(b []byte) error {
	*m = SweepMail{}
	extra, err := decodeObject(b, "mail", func(d *loose, k, v []byte) {
		switch string(k) {
		case "mailbox":
			d.id(&m.Mailbox, k, v)
		case "mail_message_sender":
			d.text(&m.MailMessageSender, k, v)
		case "mail_message_recipient":
			d.strings(&m.MailMessageRecipient, k, v)
		case "mail_message_subject":
			d.text(&m.MailMessageSubject, k, v)
		case "mail_message_id":
			d.id(&m.MailMessageID, k, v)
		case "mail_unique_id":
			d.id(&m.MailUniqueID, k, v)
		case "mail_message_delivery_time":
			d.time(&m.MailMessageDeliveryTime, k, v)
		case "mail_urls":
			d.strings(&m.MailURLs, k, v)
		case "mail_attachments":
			list(d, &m.MailAttachments, k, v, (*Attachment).decode)
		case "mail_internet_headers":
			list(d, &m.MailInternetHeaders, k, v, (*Header).decode)
		case "source_ip":
			d.text(&m.SourceIP, k, v)
		case "source_domain":
			d.text(&m.SourceDomain, k, v)
		default:
			d.keep(k, v)
		}
	})
	m.Extra = extra
	return err
}

// MarshalJSON encodes the mail with its extra members as received.
func (m SweepMail) MarshalJSON() ([]byte, error) {
	type plain SweepMail
	return marshalWithExtra(plain(m), m.Extra)
}

func (a *Attachment) decode(b []byte) error {
	*a = Attachment{}
	extra, err := decodeObject(b, "attachment", func(d *loose, k, v []byte) {
		switch string(k) {
		case "file_name":
			d.text(&a.FileName, k, v)
		case "file_sha1":
			d.text(&a.FileSHA1, k, v)
		case "file_sha256":
			d.text(&a.FileSHA256, k, v)
		default:
			d.keep(k, v)
		}
	})
	a.Extra = extra
	return err
}

// UnmarshalJSON implements json.Unmarshaler, tolerantly.
func (a *Attachment) UnmarshalJSON(b []byte) error { return a.decode(b) }

// MarshalJSON encodes the attachment with its extra members as received.
func (a Attachment) MarshalJSON() ([]byte, error) {
	type plain Attachment
	return marshalWithExtra(plain(a), a.Extra)
}

func (h *Header) decode(b []byte) error {
	*h = Header{}
	extra, err := decodeObject(b, "header", func(d *loose, k, v []byte) {
		switch string(k) {
		case "HeaderName":
			d.text(&h.HeaderName, k, v)
		case "Value":
			d.text(&h.Value, k, v)
		default:
			d.keep(k, v)
		}
	})
	h.Extra = extra
	return err
}

// UnmarshalJSON implements json.Unmarshaler, tolerantly.
func (h *Header) UnmarshalJSON(b []byte) error { return h.decode(b) }

// MarshalJSON encodes the header with its extra members as received.
func (h Header) MarshalJSON() ([]byte, error) {
	type plain Header
	return marshalWithExtra(plain(h), h.Extra)
}

// UnmarshalJSON implements json.Unmarshaler, tolerantly: error_code may be a number, a numeric string, "" or
// null. The ids, the action type and the status are identifiers (the engine matches and waits on them).
func (a *Action) UnmarshalJSON(b []byte) error {
	*a = Action{}
	extra, err := decodeObject(b, "action", func(d *loose, k, v []byte) {
		switch string(k) {
		case "action_id":
			d.id(&a.ActionID, k, v)
		case "batch_id":
			d.id(&a.BatchID, k, v)
		case "action_type":
			d.id(&a.ActionType, k, v)
		case "service":
			d.text(&a.Service, k, v)
		case "account_provider":
			d.text(&a.AccountProvider, k, v)
		case "account_user_email":
			d.id(&a.AccountUserEmail, k, v)
		case "mailbox":
			d.id(&a.Mailbox, k, v)
		case "mail_message_id":
			d.id(&a.MailMessageID, k, v)
		case "mail_unique_id":
			d.id(&a.MailUniqueID, k, v)
		case "status":
			var s string
			d.id(&s, k, v)
			a.Status = ActionStatus(s)
		case "action_requested_at":
			d.time(&a.ActionRequestedAt, k, v)
		case "action_executed_at":
			d.time(&a.ActionExecutedAt, k, v)
		case "error_code":
			d.int(&a.ErrorCode, k, v)
		case "error_message":
			d.text(&a.ErrorMessage, k, v)
		default:
			d.keep(k, v)
		}
	})
	a.Extra = extra
	return err
}

// MarshalJSON encodes the action with its extra members as received.
func (a Action) MarshalJSON() ([]byte, error) {
	type plain Action
	return marshalWithExtra(plain(a), a.Extra)
}

// UnmarshalJSON decodes the blocked lists, taking a list entry that is not a string in its string form.
func (r *Rules) UnmarshalJSON(b []byte) error {
	*r = Rules{}
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	var d loose
	set := func(dst *[]string, k, v []byte) {
		var s Strings
		d.strings(&s, k, v)
		*dst = []string(s)
	}
	if !members(b, func(k, v []byte) {
		switch string(k) {
		case "senders":
			set(&r.Senders, k, v)
		case "urls":
			set(&r.URLs, k, v)
		case "filehashes":
			set(&r.FileHashes, k, v)
		case "file256hashes":
			set(&r.File256Hashes, k, v)
		}
	}) {
		return fmt.Errorf("rules is %s, not an object", jsonKind(bytes.TrimSpace(b)))
	}
	return nil
}

var (
	_ json.Unmarshaler = (*SecurityEvent)(nil)
	_ json.Unmarshaler = (*QuarantineEvent)(nil)
	_ json.Unmarshaler = (*SweepMail)(nil)
	_ json.Unmarshaler = (*Action)(nil)
)
