package playbook

import "time"

// Limits of the language. They keep a playbook's lint time, plan size and run history bounded.
const (
	MaxFileBytes     = 1 << 20
	MaxSteps         = 500
	MaxNesting       = 4 // parallel steps inside parallel steps
	MaxForEachItems  = 1000
	MaxConcurrency   = 100
	MaxUntilAttempts = 1000
	MaxRetryAttempts = 100
	maxIDLen         = 64
)

// Defaults the language documents.
const (
	DefaultRunTimeout      = 24 * time.Hour
	DefaultDedupWindow     = time.Hour
	DefaultApprovalTimeout = 24 * time.Hour
	DefaultEvery           = time.Minute
	DefaultUntilAttempts   = 10
	DefaultAs              = "item"
)
