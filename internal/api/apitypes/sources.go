package apitypes

import (
	"encoding/json"
	"time"
)

// Where a source is defined.
const (
	SourceOriginConfig   = "config"   // the server's parry.yaml
	SourceOriginRegistry = "registry" // pushed with parry source push
)

// SourceSummary is one alert source (GET /v1/sources). Secret is the secret's reference (its name), never its
// value.
type SourceSummary struct {
	Name        string     `json:"name"`
	Origin      string     `json:"origin"`
	Version     int        `json:"version,omitempty"`
	SHA256      string     `json:"sha256,omitempty"`
	Description string     `json:"description,omitempty"`
	Auth        string     `json:"auth"`
	Secret      string     `json:"secret"`
	CreatedAt   *time.Time `json:"created_at,omitempty"`
	CreatedBy   string     `json:"created_by,omitempty"`
}

// SourceList answers GET /v1/sources.
type SourceList struct {
	Sources []SourceSummary `json:"sources"`
}

// SourceDetail answers GET /v1/sources/{name}: the mapping, the pushed file and the latest rejected bodies.
type SourceDetail struct {
	SourceSummary
	Split           string            `json:"split,omitempty"`
	SeverityDefault string            `json:"severity_default,omitempty"`
	Map             map[string]string `json:"map"`
	Definition      string            `json:"definition,omitempty"`
	RejectedCount   int               `json:"rejected_count"`
	Rejected        []RejectedAlert   `json:"rejected"`
}

// RejectedAlert is a body a source could not map (its problems; the body itself stays in the database).
type RejectedAlert struct {
	ID         int64           `json:"id"`
	Version    int             `json:"source_version"`
	ReceivedAt time.Time       `json:"received_at"`
	Problems   json.RawMessage `json:"problems"`
	BodyBytes  int             `json:"body_bytes"`
}

// SourcePushRequest is POST /v1/sources: one file of source definitions (sources: [...]).
type SourcePushRequest struct {
	File   string `json:"file"`
	Source string `json:"source"`
}

// PushedSource says what a push did to one source.
type PushedSource struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Created bool   `json:"created"`
}

// SourcePushResponse answers POST /v1/sources.
type SourcePushResponse struct {
	Sources []PushedSource `json:"sources"`
}
