package cecpsim

import "time"

// The vendor's wire format. These types are the simulator's own, written from the API reference and not shared
// with the client, so that a misreading in one shows up as a failing test against the other.

// timeLayout is how the vendor writes timestamps in responses.
const timeLayout = "2006-01-02T15:04:05.000Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// errorBody is the body of every non-2xx answer.
type errorBody struct {
	Code    int    `json:"code"`
	TraceID string `json:"traceId"`
	Msg     string `json:"msg"`
}

// SweepMail is an item of GET /v1/sweeping/mails, and what POST /_sim/mails takes and returns.
type SweepMail struct {
	Mailbox                 string            `json:"mailbox"`
	MailMessageSender       string            `json:"mail_message_sender"`
	MailMessageRecipient    []string          `json:"mail_message_recipient"`
	MailMessageSubject      string            `json:"mail_message_subject"`
	MailMessageID           string            `json:"mail_message_id"`
	MailUniqueID            string            `json:"mail_unique_id"`
	MailMessageDeliveryTime string            `json:"mail_message_delivery_time"`
	MailURLs                []string          `json:"mail_urls"`
	MailAttachments         []SweepAttachment `json:"mail_attachments"`
	MailInternetHeaders     []InternetHeader  `json:"mail_internet_headers"`
	SourceIP                string            `json:"source_ip"`
	SourceDomain            string            `json:"source_domain"`
}

// SweepAttachment is an attachment of a swept mail.
type SweepAttachment struct {
	FileName   string `json:"file_name"`
	FileSHA1   string `json:"file_sha1"`
	FileSHA256 string `json:"file_sha256"`
}

// InternetHeader is a header of a swept mail (the vendor capitalises these two names).
type InternetHeader struct {
	HeaderName string `json:"HeaderName"`
	Value      string `json:"Value"`
}

type sweepResponse struct {
	CurrentLink string      `json:"current_link"`
	NextLink    string      `json:"next_link"`
	TraceID     string      `json:"traceId"`
	Value       []SweepMail `json:"value"`
}

// securityEventMessage carries every field any security event may have; absent ones are "" as the vendor's are.
type securityEventMessage struct {
	LogItemID               string   `json:"log_item_id"`
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

type securityEventItem struct {
	LogItemID string               `json:"log_item_id"`
	Service   string               `json:"service"`
	Event     string               `json:"event"`
	Message   securityEventMessage `json:"message"`
}

type securityEventsResponse struct {
	CurrentLink               string              `json:"current_link"`
	NextLink                  string              `json:"next_link"`
	LastLogItemGenerationTime string              `json:"last_log_item_generation_time"`
	TraceID                   string              `json:"traceId"`
	SecurityEvents            []securityEventItem `json:"security_events"`
}

type quarantineMessage struct {
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

type quarantineEventItem struct {
	Service string            `json:"service"`
	Message quarantineMessage `json:"message"`
}

type quarantineEventsResponse struct {
	CurrentLink               string                `json:"current_link"`
	NextLink                  string                `json:"next_link"`
	LastLogItemGenerationTime string                `json:"last_log_item_generation_time"`
	TraceID                   string                `json:"traceId"`
	QuarantineEvents          []quarantineEventItem `json:"quarantine_events"`
}

// downloadRequest is the body of POST /v1/siem/quarantine_mails.
type downloadRequest struct {
	QuarantineEvents []struct {
		Service string `json:"service"`
		Message struct {
			AffectedUser         string `json:"affected_user"`
			Mailbox              string `json:"mailbox"`
			MailUniqueID         string `json:"mail_unique_id"`
			MailLogID            string `json:"mail_log_id"`
			MailMessageID        string `json:"mail_message_id"`
			MailBlobPath         string `json:"mail_blob_path"`
			MailBackupBlobPath   string `json:"mail_backup_blob_path"`
			MailMessageDirection string `json:"mail_message_direction"`
		} `json:"message"`
	} `json:"quarantine_events"`
	DownloadOptions struct {
		CompressionPassword string `json:"compression_password"`
	} `json:"download_options"`
}

// mailActionRequest is one item of POST /v1/mitigation/mails.
type mailActionRequest struct {
	ActionType              string `json:"action_type"`
	Service                 string `json:"service"`
	AccountProvider         string `json:"account_provider"`
	Mailbox                 string `json:"mailbox"`
	MailMessageID           string `json:"mail_message_id"`
	MailUniqueID            string `json:"mail_unique_id"`
	MailMessageDeliveryTime string `json:"mail_message_delivery_time"`
	DetectionTime           string `json:"detection_time"`
	MailLogID               string `json:"mail_log_id"`
}

// accountActionRequest is one item of POST /v1/mitigation/accounts.
type accountActionRequest struct {
	ActionType       string `json:"action_type"`
	Service          string `json:"service"`
	AccountProvider  string `json:"account_provider"`
	AccountUserEmail string `json:"account_user_email"`
}

type batchCreated struct {
	Code    int    `json:"code"`
	Msg     string `json:"msg"`
	BatchID string `json:"batch_id"`
	TraceID string `json:"traceId"`
}

// actionItem is an item of GET /v1/mitigation/mails and /accounts. Until an action ends, its executed-at,
// error code and error message are null.
type actionItem struct {
	ActionID          string  `json:"action_id"`
	BatchID           string  `json:"batch_id"`
	ActionType        string  `json:"action_type"`
	Service           string  `json:"service"`
	AccountProvider   string  `json:"account_provider"`
	AccountUserEmail  string  `json:"account_user_email"`
	Mailbox           string  `json:"mailbox"`
	MailMessageID     string  `json:"mail_message_id"`
	MailUniqueID      string  `json:"mail_unique_id"`
	Status            string  `json:"status"`
	ActionRequestedAt string  `json:"action_requested_at"`
	ActionExecutedAt  *string `json:"action_executed_at"`
	ErrorCode         *int    `json:"error_code"`
	ErrorMessage      *string `json:"error_message"`
}

type actionsResponse struct {
	Code        int          `json:"code"`
	Msg         string       `json:"msg"`
	Count       int          `json:"count"`
	CurrentLink string       `json:"current_link"`
	NextLink    *string      `json:"next_link"`
	TraceID     string       `json:"traceId"`
	Actions     []actionItem `json:"actions"`
}

// Rules is the blocked-lists object of the remediation endpoints.
type Rules struct {
	Senders       []string `json:"senders"`
	URLs          []string `json:"urls"`
	FileHashes    []string `json:"filehashes"`
	File256Hashes []string `json:"file256hashes"`
}

type rulesResponse struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Rules   Rules  `json:"rules"`
}

type rulesUpdate struct {
	ActionType string `json:"action_type"`
	Rules      *struct {
		Senders       []string `json:"senders"`
		URLs          []string `json:"urls"`
		FileHashes    []string `json:"filehashes"`
		File256Hashes []string `json:"file256hashes"`
	} `json:"rules"`
}

type messageResponse struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}
