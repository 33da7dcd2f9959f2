package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// TakeLease takes or renews the named lease for holder until ttl from now (the database's clock), unless
// another holder's lease is still live. It reports whether holder has it now.
func (s *Store) TakeLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	var got string
	err := s.Pool.QueryRow(ctx, `INSERT INTO leases (name, holder, expires_at)
		VALUES ($1, $2, now() + $3 * interval '1 millisecond')
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leases.holder = excluded.holder OR leases.expires_at < now()
		RETURNING holder`, name, holder, ttl.Milliseconds()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("taking lease %s: %w", name, err)
	}
	return true, nil
}

// ReleaseLease gives the lease up if holder has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.Pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("releasing lease %s: %w", name, err)
	}
	return nil
}

// LeaseHolder returns who holds the named lease and until when ("" when nobody holds a live one).
func (s *Store) LeaseHolder(ctx context.Context, name string) (string, time.Time, error) {
	var holder string
	var until time.Time
	err := s.Pool.QueryRow(ctx, `SELECT holder, expires_at FROM leases WHERE name = $1 AND expires_at > now()`, name).Scan(&holder, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("reading lease %s: %w", name, err)
	}
	return holder, until, nil
}

// TrackerCursor returns the named cursor of the run tracker (zero before its first save).
func (s *Store) TrackerCursor(ctx context.Context, name string) (time.Time, error) {
	var at time.Time
	err := s.Pool.QueryRow(ctx, `SELECT at FROM tracker_cursors WHERE name = $1`, name).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading tracker cursor %s: %w", name, err)
	}
	return at, nil
}

// SetTrackerCursor saves the named cursor (it never moves back).
func (s *Store) SetTrackerCursor(ctx context.Context, name string, at time.Time) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO tracker_cursors (name, at) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET at = greatest(tracker_cursors.at, excluded.at)`, name, at)
	if err != nil {
		return fmt.Errorf("saving tracker cursor %s: %w", name, err)
	}
	return nil
}
