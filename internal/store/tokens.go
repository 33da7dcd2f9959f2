package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Role is what a token may do. Roles are ordered: each includes the ones below it.
type Role string

// The roles, lowest first.
const (
	RoleIngest    Role = "ingest"    // post alerts
	RoleViewer    Role = "viewer"    // read runs, incidents, playbooks
	RoleResponder Role = "responder" // start, approve, retry and cancel runs; close incidents
	RoleAuthor    Role = "author"    // push, enable and disable playbooks
	RoleAdmin     Role = "admin"     // manage tokens
)

// Roles lists every role, lowest first.
func Roles() []Role { return []Role{RoleIngest, RoleViewer, RoleResponder, RoleAuthor, RoleAdmin} }

// Rank orders roles; 0 means unknown.
func (r Role) Rank() int {
	for i, x := range Roles() {
		if x == r {
			return i + 1
		}
	}
	return 0
}

// Allows reports whether a token with role r may do what needs role need.
func (r Role) Allows(need Role) bool { return r.Rank() > 0 && r.Rank() >= need.Rank() }

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if r.Rank() == 0 {
		names := make([]string, 0, 5)
		for _, x := range Roles() {
			names = append(names, string(x))
		}
		return "", fmt.Errorf("unknown role %q (roles: %s)", s, strings.Join(names, ", "))
	}
	return r, nil
}

// TokenPrefix starts every API token, so leaked tokens are easy to recognise (secret scanners) and never
// confused with vendor tokens.
const TokenPrefix = "pry_"

// Token is a stored API token (never the token itself).
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Role       Role       `json:"role"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	// ExpiresAt is when a session token (the console's) stops working; nil: never.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// ErrTokenExists is returned when a live token already has the name.
var ErrTokenExists = errors.New("a token with this name exists")

// ErrBadToken is returned for an unknown, malformed or revoked token; deliberately one error for all three.
var ErrBadToken = errors.New("invalid or revoked token")

// HashToken is what the database stores for a token.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// CreateToken makes a new random token and stores its hash. The returned string is the only copy of the token.
func (s *Store) CreateToken(ctx context.Context, name string, role Role, createdBy string) (string, Token, error) {
	if name == "" || len(name) > 100 {
		return "", Token{}, errors.New("a token needs a name of 1 to 100 characters")
	}
	if err := CheckText("name", name); err != nil {
		return "", Token{}, err
	}
	if role.Rank() == 0 {
		_, err := ParseRole(string(role))
		return "", Token{}, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Token{}, fmt.Errorf("generating a token: %w", err)
	}
	plain := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	t := Token{Name: name, Role: role, Prefix: plain[:len(TokenPrefix)+6], CreatedBy: createdBy}
	err := s.Pool.QueryRow(ctx, `INSERT INTO api_tokens (name, role, token_sha256, prefix, created_by)
		VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at`, name, string(role), HashToken(plain), t.Prefix, createdBy).
		Scan(&t.ID, &t.CreatedAt)
	if isUniqueViolation(err) {
		return "", Token{}, fmt.Errorf("creating token %q: %w", name, ErrTokenExists)
	}
	if err != nil {
		return "", Token{}, fmt.Errorf("creating token %q: %w", name, err)
	}
	return plain, t, nil
}

// Authenticate returns the live token matching a presented token and records its use (at most once a minute,
// so a busy ingest token does not write on every request).
func (s *Store) Authenticate(ctx context.Context, presented string) (Token, error) {
	if !strings.HasPrefix(presented, TokenPrefix) || len(presented) > 200 {
		return Token{}, ErrBadToken
	}
	var t Token
	var role string
	err := s.Pool.QueryRow(ctx, `UPDATE api_tokens SET last_used_at = CASE
			WHEN last_used_at IS NULL OR last_used_at < now() - interval '1 minute' THEN now() ELSE last_used_at END
		WHERE token_sha256 = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
		RETURNING id, name, role, prefix, created_at, created_by, last_used_at, expires_at`, HashToken(presented)).
		Scan(&t.ID, &t.Name, &role, &t.Prefix, &t.CreatedAt, &t.CreatedBy, &t.LastUsedAt, &t.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, ErrBadToken
	}
	if err != nil {
		return Token{}, fmt.Errorf("checking token: %w", err)
	}
	t.Role = Role(role)
	return t, nil
}

// ListTokens returns every token, live ones first, newest first.
func (s *Store) ListTokens(ctx context.Context, includeRevoked bool) ([]Token, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, name, role, prefix, created_at, created_by, last_used_at, revoked_at
		FROM api_tokens WHERE $1 OR revoked_at IS NULL ORDER BY revoked_at IS NOT NULL, id DESC`, includeRevoked)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Token, error) {
		var t Token
		var role string
		err := row.Scan(&t.ID, &t.Name, &role, &t.Prefix, &t.CreatedAt, &t.CreatedBy, &t.LastUsedAt, &t.RevokedAt)
		t.Role = Role(role)
		return t, err
	})
}

// RevokeToken revokes the live token with the given name.
func (s *Store) RevokeToken(ctx context.Context, name string) (Token, error) {
	var t Token
	var role string
	err := s.Pool.QueryRow(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL
		RETURNING id, name, role, prefix, created_at, created_by, last_used_at, revoked_at`, name).
		Scan(&t.ID, &t.Name, &role, &t.Prefix, &t.CreatedAt, &t.CreatedBy, &t.LastUsedAt, &t.RevokedAt)
	t.Role = Role(role)
	if err != nil {
		return Token{}, notFound(err, fmt.Sprintf("revoking token %q", name))
	}
	return t, nil
}

// CountLiveTokens is used by `parry dev` and `parry server` to know whether an admin token must be bootstrapped.
func (s *Store) CountLiveTokens(ctx context.Context) (int, error) {
	var n int
	err := s.Pool.QueryRow(ctx, "SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL").Scan(&n)
	return n, err
}

// NewWebhookSecret generates and stores a webhook signing secret for the live token with the given name,
// replacing any previous one, and returns it (hex); it is shown once.
func (s *Store) NewWebhookSecret(ctx context.Context, name string) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generating a webhook secret: %w", err)
	}
	secret := hex.EncodeToString(raw)
	tag, err := s.Pool.Exec(ctx, "UPDATE api_tokens SET webhook_secret = $2 WHERE name = $1 AND revoked_at IS NULL", name, []byte(secret))
	if err != nil {
		return "", fmt.Errorf("storing the webhook secret of %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return "", fmt.Errorf("storing the webhook secret of %q: %w", name, ErrNotFound)
	}
	return secret, nil
}

// WebhookToken returns the live token with the given name and its webhook secret, for signature checks.
// ErrBadToken when there is no such token or it has no webhook secret.
func (s *Store) WebhookToken(ctx context.Context, name string) (Token, []byte, error) {
	var t Token
	var role string
	var secret []byte
	err := s.Pool.QueryRow(ctx, `SELECT id, name, role, prefix, created_at, created_by, last_used_at, webhook_secret
		FROM api_tokens WHERE name = $1 AND revoked_at IS NULL AND webhook_secret IS NOT NULL`, name).
		Scan(&t.ID, &t.Name, &role, &t.Prefix, &t.CreatedAt, &t.CreatedBy, &t.LastUsedAt, &secret)
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, nil, ErrBadToken
	}
	if err != nil {
		return Token{}, nil, fmt.Errorf("reading webhook token: %w", err)
	}
	t.Role = Role(role)
	return t, secret, nil
}
