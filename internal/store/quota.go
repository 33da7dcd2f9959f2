package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The vendor quota of each CECP connection lives in quota_windows (migration 0010_quota), shared by every parry
// process: a slot is taken by one INSERT … ON CONFLICT DO UPDATE … WHERE, whose row lock makes concurrent
// takers, in any process, queue on the row and each see the count the previous one left, so no window ever
// grants more than its limit. The database's clock decides windows, so processes with skewed clocks agree.

// takeSlotSQL grants a slot when the key is not blocked and its window has room for the class ($3 = capacity)
// and is in its granting part ($4 long from its start), opening a new window when the old one has run out
// ($2 long) or predates the end of a block. It returns no row when the slot is refused.
const takeSlotSQL = `
INSERT INTO quota_windows AS q (key, window_start, used)
VALUES ($1, statement_timestamp(), 1)
ON CONFLICT (key) DO UPDATE SET
    window_start = CASE WHEN q.window_start + $2::bigint * interval '1 microsecond' <= statement_timestamp()
                          OR q.window_start < q.blocked_until
                        THEN statement_timestamp() ELSE q.window_start END,
    used         = CASE WHEN q.window_start + $2::bigint * interval '1 microsecond' <= statement_timestamp()
                          OR q.window_start < q.blocked_until
                        THEN 1 ELSE q.used + 1 END
WHERE q.blocked_until <= statement_timestamp()
  AND (q.window_start + $2::bigint * interval '1 microsecond' <= statement_timestamp()
       OR q.window_start < q.blocked_until
       OR (q.used < $3 AND q.window_start + $4::bigint * interval '1 microsecond' > statement_timestamp()))
RETURNING true`

// quotaWaitSQL says how long a refused key waits, in microseconds: until the block ends, else until the window
// does. Infinite timestamps (never blocked, no window yet) take no part in the arithmetic.
const quotaWaitSQL = `
SELECT CASE
    WHEN blocked_until > statement_timestamp()
        THEN (EXTRACT(EPOCH FROM blocked_until - statement_timestamp()) * 1e6)::bigint
    WHEN isfinite(window_start)
        THEN (EXTRACT(EPOCH FROM window_start + $2::bigint * interval '1 microsecond' - statement_timestamp()) * 1e6)::bigint
    ELSE 0 END
FROM quota_windows WHERE key = $1`

// TakeQuotaSlot takes one slot of key's window (window long, granting slots in its first grants, capacity
// slots for the caller's class). It returns 0 when the slot is taken, or how long until the caller may try
// again.
func (s *Store) TakeQuotaSlot(ctx context.Context, key string, window, grants time.Duration, capacity int) (time.Duration, error) {
	// The state read after a refusal can find the window already over (it ended between the two statements):
	// then taking again is the right answer, a few times at most.
	for range 3 {
		var granted bool
		err := s.Pool.QueryRow(ctx, takeSlotSQL, key, window.Microseconds(), capacity, grants.Microseconds()).Scan(&granted)
		if err == nil {
			return 0, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("taking a quota slot of %q: %w", key, err)
		}
		var micros int64
		if err := s.Pool.QueryRow(ctx, quotaWaitSQL, key, window.Microseconds()).Scan(&micros); err != nil {
			return 0, fmt.Errorf("reading the quota window of %q: %w", key, err)
		}
		if micros > 0 {
			return time.Duration(micros) * time.Microsecond, nil
		}
	}
	return 0, fmt.Errorf("taking a quota slot of %q: the window kept changing", key)
}

// blockQuotaSQL closes the key until $2, or, when $2 is NULL, until its current window ends (a whole window
// from now when none is open). A block never shortens an earlier, longer one.
const blockQuotaSQL = `
INSERT INTO quota_windows AS q (key, window_start, used, blocked_until)
VALUES ($1, '-infinity', 0, COALESCE($2, statement_timestamp() + $3::bigint * interval '1 microsecond'))
ON CONFLICT (key) DO UPDATE SET blocked_until = GREATEST(q.blocked_until, COALESCE($2,
    CASE WHEN q.window_start + $3::bigint * interval '1 microsecond' > statement_timestamp()
              AND q.window_start >= q.blocked_until
         THEN q.window_start + $3::bigint * interval '1 microsecond'
         ELSE statement_timestamp() + $3::bigint * interval '1 microsecond' END))`

// BlockQuota closes key's window for every process until until, or (zero until) until its current window ends.
func (s *Store) BlockQuota(ctx context.Context, key string, until time.Time, window time.Duration) error {
	var u *time.Time
	if !until.IsZero() {
		u = &until
	}
	if _, err := s.Pool.Exec(ctx, blockQuotaSQL, key, u, window.Microseconds()); err != nil {
		return fmt.Errorf("blocking the quota of %q: %w", key, err)
	}
	return nil
}
