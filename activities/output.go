package activities

import (
	"github.com/parry-soar/parry/internal/cecp"
)

// The outputs below spell every field of the specs' output types, always present (an empty string or list
// rather than a missing key), so expressions over them need no null checks and a test can compare them with
// the specs field by field.

type sweepAttachmentOut struct {
	FileName   string `json:"file_name"`
	FileSHA1   string `json:"file_sha1"`
	FileSHA256 string `json:"file_sha256"`
}

type headerOut struct {
	HeaderName string `json:"HeaderName"`
	Value      string `json:"Value"`
}

type sweepMailOut struct {
	Mailbox                 string               `json:"mailbox"`
	MailMessageSender       string               `json:"mail_message_sender"`
	MailMessageRecipient    []string             `json:"mail_message_recipient"`
	MailMessageSubject      string               `json:"mail_message_subject"`
	MailMessageID           string               `json:"mail_message_id"`
	MailUniqueID            string               `json:"mail_unique_id"`
	MailMessageDeliveryTime string               `json:"mail_message_delivery_time"`
	MailURLs                []string             `json:"mail_urls"`
	MailAttachments         []sweepAttachmentOut `json:"mail_attachments"`
	MailInternetHeaders     []headerOut          `json:"mail_internet_headers"`
	SourceIP                string               `json:"source_ip"`
	SourceDomain            string               `json:"source_domain"`
}

func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func sweepMail(m cecp.SweepMail) sweepMailOut {
	out := sweepMailOut{
		Mailbox:                 m.Mailbox,
		MailMessageSender:       m.MailMessageSender,
		MailMessageRecipient:    strs(m.MailMessageRecipient),
		MailMessageSubject:      m.MailMessageSubject,
		MailMessageID:           m.MailMessageID,
		MailUniqueID:            m.MailUniqueID,
		MailMessageDeliveryTime: m.MailMessageDeliveryTime.String(),
		MailURLs:                strs(m.MailURLs),
		MailAttachments:         make([]sweepAttachmentOut, len(m.MailAttachments)),
		MailInternetHeaders:     make([]headerOut, len(m.MailInternetHeaders)),
		SourceIP:                m.SourceIP,
		SourceDomain:            m.SourceDomain,
	}
	for i, a := range m.MailAttachments {
		out.MailAttachments[i] = sweepAttachmentOut{FileName: a.FileName, FileSHA1: a.FileSHA1, FileSHA256: a.FileSHA256}
	}
	for i, h := range m.MailInternetHeaders {
		out.MailInternetHeaders[i] = headerOut{HeaderName: h.HeaderName, Value: h.Value}
	}
	return out
}

type securityMessageOut struct {
	ScanType                string   `json:"scan_type"`
	AffectedUser            string   `json:"affected_user"`
	Location                string   `json:"location"`
	DetectionTime           string   `json:"detection_time"`
	TriggeredPolicyName     string   `json:"triggered_policy_name"`
	TriggeredSecurityFilter string   `json:"triggered_security_filter"`
	Action                  string   `json:"action"`
	ActionResult            string   `json:"action_result"`
	DetectedBy              string   `json:"detected_by"`
	SecurityRiskName        string   `json:"security_risk_name"`
	RiskLevel               string   `json:"risk_level"`
	FileName                string   `json:"file_name"`
	FileUploadTime          string   `json:"file_upload_time"`
	FileSHA1                string   `json:"file_sha1"`
	FileSHA256              string   `json:"file_sha256"`
	VirusName               string   `json:"virus_name"`
	DetectionType           string   `json:"detection_type"`
	VAReportLink            string   `json:"va_report_link"`
	RansomwareName          string   `json:"ransomware_name"`
	TriggeredDLPTemplate    string   `json:"triggered_dlp_template"`
	MailMessageID           string   `json:"mail_message_id"`
	MailMessageSender       string   `json:"mail_message_sender"`
	MailMessageRecipient    []string `json:"mail_message_recipient"`
	MailMessageSubmitTime   string   `json:"mail_message_submit_time"`
	MailMessageDeliveryTime string   `json:"mail_message_delivery_time"`
	MailMessageSubject      string   `json:"mail_message_subject"`
	MailMessageFileName     string   `json:"mail_message_file_name"`
}

type securityEventOut struct {
	LogItemID string             `json:"log_item_id"`
	Service   string             `json:"service"`
	Event     string             `json:"event"`
	Message   securityMessageOut `json:"message"`
}

func securityEvent(e cecp.SecurityEvent) securityEventOut {
	m := e.Message
	return securityEventOut{LogItemID: e.LogItemID, Service: e.Service, Event: e.Event, Message: securityMessageOut{
		ScanType: m.ScanType, AffectedUser: m.AffectedUser, Location: m.Location, DetectionTime: m.DetectionTime.String(),
		TriggeredPolicyName: m.TriggeredPolicyName, TriggeredSecurityFilter: m.TriggeredSecurityFilter, Action: m.Action,
		ActionResult: m.ActionResult, DetectedBy: m.DetectedBy, SecurityRiskName: m.SecurityRiskName, RiskLevel: m.RiskLevel,
		FileName: m.FileName, FileUploadTime: m.FileUploadTime.String(), FileSHA1: m.FileSHA1, FileSHA256: m.FileSHA256,
		VirusName: m.VirusName, DetectionType: m.DetectionType, VAReportLink: m.VAReportLink, RansomwareName: m.RansomwareName,
		TriggeredDLPTemplate: m.TriggeredDLPTemplate, MailMessageID: m.MailMessageID, MailMessageSender: m.MailMessageSender,
		MailMessageRecipient: strs(m.MailMessageRecipient), MailMessageSubmitTime: m.MailMessageSubmitTime.String(),
		MailMessageDeliveryTime: m.MailMessageDeliveryTime.String(), MailMessageSubject: m.MailMessageSubject,
		MailMessageFileName: m.MailMessageFileName,
	}}
}

type quarantineMessageOut struct {
	AffectedUser            string   `json:"affected_user"`
	Mailbox                 string   `json:"mailbox"`
	DetectionTime           string   `json:"detection_time"`
	MailUniqueID            string   `json:"mail_unique_id"`
	MailLogID               string   `json:"mail_log_id"`
	MailMessageID           string   `json:"mail_message_id"`
	MailMessageDeliveryTime string   `json:"mail_message_delivery_time"`
	MailMessageSender       string   `json:"mail_message_sender"`
	MailMessageRecipient    []string `json:"mail_message_recipient"`
	MailMessageSubject      string   `json:"mail_message_subject"`
	MailStatus              string   `json:"mail_status"`
	Location                string   `json:"location"`
	MailQuarantineType      string   `json:"mail_quarantine_type"`
	TriggeredSecurityFilter string   `json:"triggered_security_filter"`
	SecurityRiskName        string   `json:"security_risk_name"`
	MailBlobPath            string   `json:"mail_blob_path"`
	MailBackupBlobPath      string   `json:"mail_backup_blob_path"`
	MailMessageDirection    string   `json:"mail_message_direction"`
}

type quarantineEventOut struct {
	Service string               `json:"service"`
	Message quarantineMessageOut `json:"message"`
}

func quarantineEvent(e cecp.QuarantineEvent) quarantineEventOut {
	m := e.Message
	return quarantineEventOut{Service: e.Service, Message: quarantineMessageOut{
		AffectedUser: m.AffectedUser, Mailbox: m.Mailbox, DetectionTime: m.DetectionTime.String(), MailUniqueID: m.MailUniqueID,
		MailLogID: m.MailLogID, MailMessageID: m.MailMessageID, MailMessageDeliveryTime: m.MailMessageDeliveryTime.String(),
		MailMessageSender: m.MailMessageSender, MailMessageRecipient: strs(m.MailMessageRecipient),
		MailMessageSubject: m.MailMessageSubject, MailStatus: m.MailStatus, Location: m.Location,
		MailQuarantineType: m.MailQuarantineType, TriggeredSecurityFilter: m.TriggeredSecurityFilter,
		SecurityRiskName: m.SecurityRiskName, MailBlobPath: m.MailBlobPath, MailBackupBlobPath: m.MailBackupBlobPath,
		MailMessageDirection: m.MailMessageDirection,
	}}
}

type actionOut struct {
	ActionID          string `json:"action_id"`
	BatchID           string `json:"batch_id"`
	ActionType        string `json:"action_type"`
	Service           string `json:"service"`
	AccountProvider   string `json:"account_provider"`
	AccountUserEmail  string `json:"account_user_email"`
	Mailbox           string `json:"mailbox"`
	MailMessageID     string `json:"mail_message_id"`
	MailUniqueID      string `json:"mail_unique_id"`
	Status            string `json:"status"`
	ActionRequestedAt string `json:"action_requested_at"`
	ActionExecutedAt  string `json:"action_executed_at"`
	ErrorCode         int    `json:"error_code"`
	ErrorMessage      string `json:"error_message"`
}

func actionResult(a cecp.Action) actionOut {
	return actionOut{ActionID: a.ActionID, BatchID: a.BatchID, ActionType: a.ActionType, Service: a.Service,
		AccountProvider: a.AccountProvider, AccountUserEmail: a.AccountUserEmail, Mailbox: a.Mailbox,
		MailMessageID: a.MailMessageID, MailUniqueID: a.MailUniqueID, Status: string(a.Status),
		ActionRequestedAt: a.ActionRequestedAt.String(), ActionExecutedAt: a.ActionExecutedAt.String(),
		ErrorCode: a.ErrorCode, ErrorMessage: a.ErrorMessage}
}

type rulesOut struct {
	Senders       []string `json:"senders"`
	URLs          []string `json:"urls"`
	FileHashes    []string `json:"filehashes"`
	File256Hashes []string `json:"file256hashes"`
}

func rules(r cecp.Rules) rulesOut {
	return rulesOut{Senders: strs(r.Senders), URLs: strs(r.URLs), FileHashes: strs(r.FileHashes), File256Hashes: strs(r.File256Hashes)}
}
