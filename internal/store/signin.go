package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SigninCodePrefix starts every console sign-in code (never an API token: it is worth nothing once used).
const SigninCodePrefix = "prc_"

// ErrBadSigninCode is returned for an unknown, used or expired sign-in code; one error for all three.
var ErrBadSigninCode = errors.New("invalid, used or expired sign-in code")

// CreateSigninCode stores a single-use code that a browser exchanges for a session token of the role within
// ttl, and returns the code (only its hash is stored).
func (s *Store) CreateSigninCode(ctx context.Context, role Role, ttl time.Duration, createdBy string) (string, error) {
	if role.Rank() == 0 {
		_, err := ParseRole(string(role))
		return "", err
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generating a sign-in code: %w", err)
	}
	code := SigninCodePrefix + base64.RawURLEncoding.EncodeToString(raw)
	_, err := s.Pool.Exec(ctx, `INSERT INTO signin_codes (code_sha256, role, created_by, expires_at)
		VALUES ($1, $2, $3, now() + make_interval(secs => $4))`, HashToken(code), string(role), createdBy, ttl.Seconds())
	if err != nil {
		return "", fmt.Errorf("storing a sign-in code: %w", err)
	}
	return code, nil
}

// RedeemSigninCode uses a sign-in code up and creates a session token of its role that expires after
// session. The code works once: a second redemption, even concurrent, gets ErrBadSigninCode.
func (s *Store) RedeemSigninCode(ctx context.Context, code string, session time.Duration) (string, Token, error) {
	if len(code) > 200 {
		return "", Token{}, ErrBadSigninCode
	}
	var plain string
	var t Token
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var role, by string
		err := tx.QueryRow(ctx, `UPDATE signin_codes SET used_at = now()
			WHERE code_sha256 = $1 AND used_at IS NULL AND expires_at > now() RETURNING role, created_by`, HashToken(code)).Scan(&role, &by)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrBadSigninCode
		}
		if err != nil {
			return fmt.Errorf("redeeming a sign-in code: %w", err)
		}
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return fmt.Errorf("generating a session token: %w", err)
		}
		plain = TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
		suffix := make([]byte, 4)
		_, _ = rand.Read(suffix)
		t = Token{Name: "console-" + hex.EncodeToString(suffix), Role: Role(role), Prefix: plain[:len(TokenPrefix)+6], CreatedBy: "sign-in code of " + by}
		return tx.QueryRow(ctx, `INSERT INTO api_tokens (name, role, token_sha256, prefix, created_by, expires_at)
			VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) RETURNING id, created_at, expires_at`,
			t.Name, role, HashToken(plain), t.Prefix, t.CreatedBy, session.Seconds()).Scan(&t.ID, &t.CreatedAt, &t.ExpiresAt)
	})
	if err != nil {
		return "", Token{}, err
	}
	return plain, t, nil
}
