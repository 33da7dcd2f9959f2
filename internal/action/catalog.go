package action

import "time"

// Type constructors keep the catalog readable.
func str() Type                   { return Type{Kind: String} }
func strf(format string) Type     { return Type{Kind: String, Format: format} }
func integer() Type               { return Type{Kind: Int} }
func boolean() Type               { return Type{Kind: Bool} }
func anyT() Type                  { return Type{Kind: Any} }
func list(elem Type) Type         { return Type{Kind: List, Elem: &elem} }
func object(fields ...Field) Type { return Type{Kind: Object, Fields: fields} }
func f(name string, t Type, desc string) Field {
	return Field{Name: name, Type: t, Description: desc}
}
func intp(v int) *int { return &v }

// Vendor reads keep retrying for up to an hour: a quota window or a vendor outage should delay a response,
// not fail it. Mutations retry a bounded number of times, and the activity checks for an earlier batch before
// posting again.
var (
	readRetry  = RetryPolicy{InitialInterval: 5 * time.Second, Backoff: 2, MaxInterval: 5 * time.Minute, NonRetryable: nonRetryable}
	writeRetry = RetryPolicy{InitialInterval: 5 * time.Second, Backoff: 2, MaxInterval: 2 * time.Minute, MaxAttempts: 10, NonRetryable: nonRetryable}
	coreRetry  = RetryPolicy{InitialInterval: 2 * time.Second, Backoff: 2, MaxInterval: time.Minute, MaxAttempts: 5, NonRetryable: nonRetryable}
)

const connectionDesc = "Configured CECP connection (tenant) to use. Default: the alert's connection, else `cecp.default_connection`."

func connection() Input {
	return Input{Name: "connection", Type: str(), Description: connectionDesc, FromAlert: "connection"}
}

// Vendor objects, with the vendor's own field names so playbooks read like the API documentation.

func sweepItem() Type {
	return object(
		f("mailbox", strf("email"), "Mailbox the mail was delivered to."),
		f("mail_message_sender", str(), "Sender address."),
		f("mail_message_recipient", list(str()), "Recipient addresses."),
		f("mail_message_subject", str(), "Subject."),
		f("mail_message_id", str(), "Internet Message-ID."),
		f("mail_unique_id", str(), "The vendor's unique id of the mail in this mailbox."),
		f("mail_message_delivery_time", str(), "Delivery time (ISO-8601)."),
		f("mail_urls", list(str()), "URLs found in the mail."),
		f("mail_attachments", list(object(
			f("file_name", str(), "File name."),
			f("file_sha1", str(), "SHA-1 of the file."),
			f("file_sha256", str(), "SHA-256 of the file."),
		)), "Attachments."),
		f("mail_internet_headers", list(object(
			f("HeaderName", str(), "Header name."),
			f("Value", str(), "Header value."),
		)), "Internet headers."),
		f("source_ip", str(), "Sending IP address."),
		f("source_domain", str(), "Sending domain."),
	)
}

func securityEventMessage() Type {
	s := func(name, desc string) Field { return f(name, str(), desc) }
	return object(
		s("scan_type", "Scan type."),
		s("affected_user", "Affected user."),
		s("location", "Where the object was found."),
		s("detection_time", "Detection time."),
		s("triggered_policy_name", "Policy that matched."),
		s("triggered_security_filter", "Security filter that matched."),
		s("action", "Action the vendor took."),
		s("action_result", "Result of that action."),
		s("detected_by", "Detection technology."),
		s("security_risk_name", "Name of the risk."),
		s("risk_level", "Risk level."),
		s("file_name", "File name."),
		s("file_upload_time", "File upload time."),
		s("file_sha1", "SHA-1 of the file."),
		s("file_sha256", "SHA-256 of the file."),
		s("virus_name", "Malware name."),
		s("detection_type", "Detection type."),
		s("va_report_link", "Virtual Analyzer report link."),
		s("ransomware_name", "Ransomware name."),
		s("triggered_dlp_template", "DLP template that matched."),
		s("mail_message_id", "Internet Message-ID of the mail."),
		s("mail_message_sender", "Sender of the mail."),
		f("mail_message_recipient", list(str()), "Recipients of the mail."),
		s("mail_message_submit_time", "Submit time of the mail."),
		s("mail_message_delivery_time", "Delivery time of the mail."),
		s("mail_message_subject", "Subject of the mail."),
		s("mail_message_file_name", "Name of the attached file."),
	)
}

func quarantineEventMessage() Type {
	s := func(name, desc string) Field { return f(name, str(), desc) }
	return object(
		s("affected_user", "Affected user."),
		s("mailbox", "Mailbox."),
		s("detection_time", "Detection time (needed to restore the mail)."),
		s("mail_unique_id", "The vendor's unique id of the mail."),
		s("mail_log_id", "Log id (needed to restore the mail)."),
		s("mail_message_id", "Internet Message-ID."),
		s("mail_message_delivery_time", "Delivery time."),
		s("mail_message_sender", "Sender."),
		f("mail_message_recipient", list(str()), "Recipients."),
		s("mail_message_subject", "Subject."),
		s("mail_status", "Status of the mail."),
		s("location", "Quarantine location."),
		s("mail_quarantine_type", "Why it was quarantined."),
		s("triggered_security_filter", "Security filter that matched."),
		s("security_risk_name", "Name of the risk."),
		s("mail_blob_path", "Storage path (needed to download the mail)."),
		s("mail_backup_blob_path", "Backup storage path (needed to download the mail)."),
		s("mail_message_direction", "Inbound or outbound."),
	)
}

func actionResult() Type {
	s := func(name, desc string) Field { return f(name, str(), desc) }
	return object(
		s("action_id", "Id of this action."),
		s("batch_id", "Batch the action belongs to."),
		s("action_type", "MAIL_DELETE, MAIL_QUARANTINE, MAIL_RESTORE, ACCOUNT_DISABLE, ACCOUNT_ENABLE_MFA, ACCOUNT_RESET_PASSWORD or ACCOUNT_REVOKE_SIGNIN_SESSIONS."),
		s("service", "exchange or gmail."),
		s("account_provider", "office365 or google."),
		s("account_user_email", "Account (account actions)."),
		s("mailbox", "Mailbox (mail actions)."),
		s("mail_message_id", "Internet Message-ID (mail actions)."),
		s("mail_unique_id", "Unique id of the mail (mail actions)."),
		s("status", "Created, Executing, Success, Skipped (already gone) or Failed."),
		s("action_requested_at", "When it was requested."),
		s("action_executed_at", "When it ran."),
		f("error_code", integer(), "0 on success, 200 when skipped, -999 on failure."),
		s("error_message", "The vendor's message."),
	)
}

func mitigationOutput() Type {
	return object(
		f("batch_ids", list(str()), "Vendor batch ids, one per posted batch."),
		f("succeeded", integer(), "Items whose status is Success (with wait: true)."),
		f("skipped", integer(), "Items whose status is Skipped: the mail or account was already gone."),
		f("failed", integer(), "Items whose status is Failed."),
		f("pending", integer(), "Items not yet terminal (always 0 with wait: true)."),
		f("actions", list(actionResult()), "The vendor's action results, one per item (with wait: true)."),
	)
}

func rules() Type {
	return object(
		f("senders", list(str()), "Blocked sender addresses."),
		f("urls", list(str()), "Blocked URLs (the vendor strips the scheme)."),
		f("filehashes", list(str()), "Blocked SHA-1 hashes."),
		f("file256hashes", list(str()), "Blocked SHA-256 hashes."),
	)
}

func ruleInputs() []Input {
	return []Input{
		connection(),
		{Name: "senders", Type: list(strf("email")), Description: "Sender addresses."},
		{Name: "urls", Type: list(str()), Description: "URLs."},
		{Name: "filehashes", Type: list(strf("sha1")), Description: "SHA-1 hashes of files."},
		{Name: "file256hashes", Type: list(strf("sha256")), Description: "SHA-256 hashes of files."},
	}
}

var ruleLists = []string{"senders", "urls", "filehashes", "file256hashes"}

var timeWindowInputs = []Input{
	{Name: "start", Type: strf("datetime"), Description: "Start of the time window (ISO-8601 UTC). Without `end` the window ends now (the vendor alone would read only a few minutes after `start`)."},
	{Name: "end", Type: strf("datetime"), Description: "End of the time window (ISO-8601 UTC)."},
}

// cursorInput and pagingOutputs let a playbook read a large result in a loop: each read stops at max_results
// and returns where the next one continues. A cursor is a link on the connection's own vendor host (never
// followed elsewhere) and carries no token.
func cursorInput() Input {
	return Input{Name: "cursor", Type: str(), Description: "`next_cursor` of an earlier read of the same query: continue where it stopped. The filters given must be the earlier read's; its time window and page size apply."}
}

func pagingOutputs() []Field {
	return []Field{
		f("truncated", boolean(), "True when max_results stopped the read before the last item."),
		f("next_cursor", str(), "Where the next read continues (pass it as `cursor`); empty when there is nothing more."),
		f("undecodable", list(object(
			f("index", integer(), "Position of the item in the vendor's page."),
			f("error", str(), "Why it did not decode."),
			f("raw", str(), "The item as the vendor sent it (JSON text, at most 4 KiB)."),
		)), "Items the vendor sent that could not be decoded (not an object, or an id of another type); the read goes on without them."),
	}
}

// Default is the catalog of every action parry ships.
func Default() *Catalog {
	return NewCatalog(
		&Spec{
			Name:    "cecp.security_events",
			Summary: "Read security events (malware, phishing, ransomware, DLP) from the CECP log.",
			Description: "Reads `GET /v1/siem/security_events` for one service and event type, following `next_link` " +
				"up to `max_results` items. Only the last 72 hours are reachable; without start and end the vendor " +
				"returns the last 5 minutes.",
			Inputs: append(append([]Input{connection(),
				{Name: "service", Type: str(), Required: true, Enum: []string{"exchange", "sharepoint", "onedrive", "dropbox", "box", "googledrive", "gmail", "teams", "exchangeserver", "salesforce_sandbox", "salesforce_production", "teams_chat"}, Description: "Protected service."},
				{Name: "event", Type: str(), Required: true, Enum: []string{"securityrisk", "virtualanalyzer", "ransomware", "dlp"}, Description: "Event type."},
			}, timeWindowInputs...),
				Input{Name: "limit", Type: integer(), Min: intp(1), Max: intp(500), Default: int64(500), Description: "Items per page."},
				Input{Name: "max_results", Type: integer(), Min: intp(1), Max: intp(5000), Default: int64(1000), Description: "Stop after this many items (`truncated` tells)."},
				cursorInput(),
			),
			Output: object(append([]Field{
				f("security_events", list(object(
					f("log_item_id", str(), "Unique id of the log item."),
					f("service", str(), "Service, display-cased (e.g. OneDrive)."),
					f("event", str(), "Event name (e.g. security_risk_scan)."),
					f("message", securityEventMessage(), "Event details; which fields are set depends on the service and event."),
				)), "The events, oldest first."),
				f("count", integer(), "Number of events returned."),
				f("last_log_item_generation_time", str(), "Generation time of the last event: where a poller resumes."),
			}, pagingOutputs()...)...),
			Timeout: 5 * time.Minute, ScheduleToClose: time.Hour, Retry: readRetry,
		},
		&Spec{
			Name:    "cecp.quarantine_events",
			Summary: "Read quarantine events (mails CECP quarantined) for Exchange Online.",
			Description: "Reads `GET /v1/siem/quarantine_events`, following `next_link` up to `max_results` items. At most " +
				"7 days back; the vendor's default window is the last day. The events carry what restoring " +
				"(`cecp.mitigate_mails` with `action: restore`) and downloading (`cecp.quarantine_download`) need.",
			Inputs: append(append([]Input{connection(),
				{Name: "service", Type: str(), Enum: []string{"exchange"}, Default: "exchange", Description: "Only exchange is supported."},
			}, timeWindowInputs...),
				Input{Name: "limit", Type: integer(), Min: intp(1), Max: intp(500), Default: int64(500), Description: "Items per page."},
				Input{Name: "max_results", Type: integer(), Min: intp(1), Max: intp(5000), Default: int64(1000), Description: "Stop after this many items (`truncated` tells)."},
				cursorInput(),
			),
			Output: object(append([]Field{
				f("quarantine_events", list(object(
					f("service", str(), "Service."),
					f("message", quarantineEventMessage(), "The quarantined mail."),
				)), "The events."),
				f("count", integer(), "Number of events returned."),
			}, pagingOutputs()...)...),
			Timeout: 5 * time.Minute, ScheduleToClose: time.Hour, Retry: readRetry,
		},
		&Spec{
			Name:    "cecp.quarantine_download",
			Summary: "Download one quarantined mail as a ZIP, store it as an artifact and summarise the message.",
			Description: "Posts `POST /v1/siem/quarantine_mails` for one mail. `mail` is a quarantine event's `message` or a " +
				"sweep item; for a sweep item the activity first finds the mail's quarantine event by " +
				"`mail_unique_id`. The ZIP is stored as received (content-addressed by SHA-256) and the .eml inside " +
				"is parsed for the summary. The ZIP password comes from a secret and never enters history.",
			Inputs: []Input{connection(),
				{Name: "mail", Type: Type{Kind: Object}, Required: true, Description: "The mail: a quarantine event's message or a sweep item."},
				{Name: "password", Type: str(), Secret: true, Description: "ZIP password, as `secret(\"name\")`. Without it the vendor sends an unencrypted ZIP."},
			},
			Output: object(
				f("artifact_id", str(), "Id of the stored ZIP in parry's artifact store."),
				f("sha256", str(), "SHA-256 of the ZIP."),
				f("size", integer(), "Size of the ZIP in bytes."),
				f("subject", str(), "Subject of the message."),
				f("from", str(), "From address."),
				f("to", list(str()), "To addresses."),
				f("message_id", str(), "Message-ID header."),
				f("urls", list(str()), "URLs found in the text and HTML bodies."),
				f("attachments", list(object(
					f("file_name", str(), "File name."),
					f("content_type", str(), "MIME type."),
					f("size", integer(), "Size in bytes."),
					f("sha1", str(), "SHA-1."),
					f("sha256", str(), "SHA-256."),
				)), "Attachments with their hashes."),
			),
			Timeout: 5 * time.Minute, ScheduleToClose: time.Hour, Retry: readRetry,
		},
		&Spec{
			Name:    "cecp.sweep",
			Summary: "Search mail metadata (last 90 days) by sender, subject, hash, URL, IP and more.",
			Description: "Reads `GET /v1/sweeping/mails` with every filter the step sets (combined with AND), following " +
				"`next_link` up to `max_results` mails. Addresses and names accept non-prefix wildcards " +
				"(`u*ser@example.com`); quote `subject` for an exact phrase. Without `lastndays`, `start` or `end` the " +
				"vendor searches the last 7 days.",
			Inputs: append(append([]Input{connection(),
				{Name: "mailbox", Type: strf("email"), Description: "Mailbox address."},
				{Name: "lastndays", Type: integer(), Min: intp(1), Max: intp(90), Description: "Search the last N days (not with start/end)."},
			}, timeWindowInputs...),
				Input{Name: "subject", Type: str(), Description: "Subject (quote it for an exact phrase)."},
				Input{Name: "file_sha1", Type: strf("sha1"), Description: "SHA-1 of an attachment."},
				Input{Name: "file_sha256", Type: strf("sha256"), Description: "SHA-256 of an attachment."},
				Input{Name: "file_name", Type: str(), Description: "Attachment file name."},
				Input{Name: "file_extension", Type: str(), Description: "Attachment file extension."},
				Input{Name: "url", Type: str(), Description: "URL in the mail."},
				Input{Name: "sender", Type: strf("email"), Description: "Sender address."},
				Input{Name: "recipient", Type: strf("email"), Description: "Recipient address."},
				Input{Name: "message_id", Type: str(), Description: "Internet Message-ID."},
				Input{Name: "source_ip", Type: strf("ip"), Description: "Sending IP address or CIDR range."},
				Input{Name: "source_domain", Type: str(), Description: "Sending domain."},
				Input{Name: "limit", Type: integer(), Min: intp(1), Max: intp(1000), Default: int64(1000), Description: "Mails per page."},
				Input{Name: "max_results", Type: integer(), Min: intp(1), Max: intp(10000), Default: int64(1000), Description: "Stop after this many mails (`truncated` tells)."},
				Input{Name: "include_headers", Type: boolean(), Default: false, Description: "Keep each mail's `mail_internet_headers` (large: a few KB per mail); without it the list is empty."},
				cursorInput(),
			),
			Output: object(append([]Field{
				f("mails", list(sweepItem()), "The mails found."),
				f("count", integer(), "Number of mails returned."),
			}, pagingOutputs()...)...),
			AtLeastOne: [][]string{{"mailbox", "subject", "file_sha1", "file_sha256", "file_name", "file_extension", "url", "sender", "recipient", "message_id", "source_ip", "source_domain"}},
			Exclusive:  [][]string{{"lastndays", "start"}, {"lastndays", "end"}},
			Timeout:    5 * time.Minute, ScheduleToClose: time.Hour, Retry: readRetry,
		},
		&Spec{
			Name:    "cecp.mitigate_mails",
			Summary: "Delete, quarantine or restore mails, in batches, optionally waiting for the outcome.",
			Description: "Posts `POST /v1/mitigation/mails` in batches of the connection's batch size. Items are sweep " +
				"items or quarantine events' messages (restore needs the latter: it uses `detection_time` and " +
				"`mail_log_id`). Gmail allows only delete. After an ambiguous failure the activity looks up recent " +
				"actions before posting again, so no mail is mitigated twice. With `wait: true` it polls the results " +
				"until every item is Success, Skipped or Failed.",
			Inputs: []Input{connection(),
				{Name: "action", Type: str(), Required: true, Enum: []string{"delete", "quarantine", "restore"}, Description: "What to do with the mails."},
				{Name: "mails", Type: list(Type{Kind: Object}), Required: true, Description: "The mails: sweep items or quarantine events' messages."},
				{Name: "service", Type: str(), Enum: []string{"exchange", "gmail"}, Default: "exchange", Description: "Mail service of the mails."},
				{Name: "wait", Type: boolean(), Default: false, Description: "Wait until every item reached a terminal status."},
			},
			Output:  mitigationOutput(),
			Timeout: 15 * time.Minute, ScheduleToClose: time.Hour, Retry: writeRetry, Mutates: true,
		},
		&Spec{
			Name:    "cecp.mitigate_accounts",
			Summary: "Disable accounts, enable MFA, reset passwords or revoke sign-in sessions (Microsoft 365).",
			Description: "Posts `POST /v1/mitigation/accounts` in batches of the connection's batch size, with the same " +
				"duplicate protection and `wait` behaviour as `cecp.mitigate_mails`. Google accounts are not supported.",
			Inputs: []Input{connection(),
				{Name: "action", Type: str(), Required: true, Enum: []string{"disable", "enable_mfa", "reset_password", "revoke_sessions"}, Description: "What to do with the accounts."},
				{Name: "accounts", Type: list(strf("email")), Required: true, Description: "Account email addresses."},
				{Name: "wait", Type: boolean(), Default: false, Description: "Wait until every item reached a terminal status."},
			},
			Output:  mitigationOutput(),
			Timeout: 15 * time.Minute, ScheduleToClose: time.Hour, Retry: writeRetry, Mutates: true,
		},
		&Spec{
			Name:    "cecp.mitigation_results",
			Summary: "Read the results of mail or account actions by batch id or time window.",
			Description: "Reads `GET /v1/mitigation/mails` or `GET /v1/mitigation/accounts`, following `next_link` up to " +
				"`max_results` actions. The window lies within the last 72 hours; without start and end the vendor " +
				"returns the last 5 minutes (a batch id alone selects the whole batch).",
			Inputs: append(append([]Input{connection(),
				{Name: "kind", Type: str(), Enum: []string{"mails", "accounts"}, Default: "mails", Description: "Which actions to read."},
				{Name: "batch_id", Type: strf("uuid"), Description: "A batch id from a mitigation."},
			}, timeWindowInputs...),
				Input{Name: "limit", Type: integer(), Min: intp(1), Max: intp(500), Default: int64(500), Description: "Items per page."},
				Input{Name: "max_results", Type: integer(), Min: intp(1), Max: intp(5000), Default: int64(1000), Description: "Stop after this many actions (`truncated` tells)."},
				cursorInput(),
			),
			Output: object(append([]Field{
				f("actions", list(actionResult()), "The action results."),
				f("count", integer(), "Number of actions returned."),
			}, pagingOutputs()...)...),
			Exclusive: [][]string{{"batch_id", "start"}, {"batch_id", "end"}},
			Timeout:   5 * time.Minute, ScheduleToClose: time.Hour, Retry: readRetry,
		},
		&Spec{
			Name:        "cecp.blocklist",
			Summary:     "Read the blocked senders, URLs and file hashes added through the API.",
			Description: "Reads `GET /v1/remediation/mails`. URLs come back normalised (scheme stripped).",
			Inputs:      []Input{connection()},
			Output:      rules(),
			Timeout:     2 * time.Minute, ScheduleToClose: time.Hour, Retry: readRetry,
		},
		&Spec{
			Name:    "cecp.block",
			Summary: "Add senders, URLs or file hashes to the blocked lists (only what is missing).",
			Description: "Reads the lists first and posts `POST /v1/remediation/mails` with `action_type: create` for what " +
				"is missing only, so repeating the step changes nothing. 2,048 entries per list is what one request carries, " +
				"not what a list holds: more go in several requests.",
			Inputs: ruleInputs(),
			Output: object(
				f("added", rules(), "What was added."),
				f("already_blocked", integer(), "Entries that were already on the lists."),
			),
			AtLeastOne: [][]string{ruleLists},
			Timeout:    2 * time.Minute, ScheduleToClose: 30 * time.Minute, Retry: writeRetry, Mutates: true,
		},
		&Spec{
			Name:    "cecp.unblock",
			Summary: "Remove senders, URLs or file hashes from the blocked lists (only what is present).",
			Description: "Reads the lists first and posts `POST /v1/remediation/mails` with `action_type: delete` for what " +
				"is present only, at most 2,048 entries per list in one request.",
			Inputs: ruleInputs(),
			Output: object(
				f("removed", rules(), "What was removed."),
				f("not_blocked", integer(), "Entries that were not on the lists."),
			),
			AtLeastOne: [][]string{ruleLists},
			Timeout:    2 * time.Minute, ScheduleToClose: 30 * time.Minute, Retry: writeRetry, Mutates: true,
		},
		&Spec{
			Name:    "http.request",
			Summary: "Call an HTTP API on an allow-listed host.",
			Description: "Sends one request to a host listed in `http.allowed_hosts` (others fail with InvalidInput). " +
				"An object `body` is sent as JSON; a string as is. A JSON response body is parsed; other bodies are " +
				"returned as text. Responses outside `expect_status` fail the step (5xx and 429 are retried). " +
				"Put credentials in headers as `secret(\"name\")`.",
			Inputs: []Input{
				{Name: "method", Type: str(), Enum: []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}, Default: "GET", Description: "HTTP method."},
				{Name: "url", Type: strf("url"), Required: true, Description: "Absolute http or https URL."},
				{Name: "query", Type: Type{Kind: Object}, Description: "Query parameters (values are strings or lists of strings)."},
				{Name: "headers", Type: Type{Kind: Object}, Description: "Request headers; values may be secret(\"name\")."},
				{Name: "body", Type: anyT(), Description: "Request body: an object (sent as JSON) or a string."},
				{Name: "expect_status", Type: list(integer()), Description: "Statuses that count as success (default: any 2xx)."},
			},
			Output: object(
				f("status", integer(), "HTTP status code."),
				f("headers", Type{Kind: Object}, "Response headers (lower-cased names, values joined by \", \")."),
				f("body", anyT(), "Parsed JSON, or the text of the body (at most 1 MiB)."),
			),
			Timeout: 30 * time.Second, ScheduleToClose: 10 * time.Minute, Retry: coreRetry, Mutates: true,
		},
		&Spec{
			Name:    "notify.webhook",
			Summary: "Post a message to a configured chat webhook (Slack or Microsoft Teams).",
			Description: "Posts Slack- or Teams-compatible JSON to the webhook named by `connection` in " +
				"`notify.webhooks` (its URL is a secret). `fields` become a facts table. An approval step's " +
				"`approval.notify` posts its prompt through this action too.",
			Inputs: []Input{
				{Name: "connection", Type: str(), Required: true, Description: "Name of a webhook in `notify.webhooks`."},
				{Name: "text", Type: str(), Required: true, Description: "Message text (Markdown as the chat renders it)."},
				{Name: "title", Type: str(), Description: "Title line."},
				{Name: "severity", Type: str(), Enum: []string{"info", "low", "medium", "high", "critical"}, Description: "Colours the message."},
				{Name: "fields", Type: Type{Kind: Object}, Description: "Name/value pairs shown as a table."},
				// No default: a default would be written into every existing notify.webhook step's plan.
				{Name: "run_link", Type: boolean(), Description: "Append where to see the run: its console page (`console.url`/#/runs/ID), or, when no console URL is configured, its id and the `parry run show` command. Never a sign-in code or token."},
			},
			Output: object(
				f("status", integer(), "HTTP status of the webhook's answer."),
			),
			Timeout: 30 * time.Second, ScheduleToClose: 10 * time.Minute, Retry: coreRetry,
		},
	)
}
