package store

import (
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// The errors PostgreSQL answers, in terms the callers can act on without importing the driver.

// Unavailable recognises PostgreSQL being down, restarting, full of connections or unreachable.
func Unavailable(err error) bool {
	var connect *pgconn.ConnectError
	var pg *pgconn.PgError
	var netErr net.Error
	switch {
	case errors.As(err, &connect):
		return true
	case errors.As(err, &pg):
		// 08: connection exception; 53: insufficient resources (too many connections, disk full);
		// 57P01-57P03: the server is shutting down, crashed or starting.
		return strings.HasPrefix(pg.Code, "08") || strings.HasPrefix(pg.Code, "53") || pg.Code == "57P01" || pg.Code == "57P02" || pg.Code == "57P03"
	case errors.As(err, &netErr):
		return true // the connection broke (reset, timed out) in the middle of a query
	}
	return false
}

// DataException recognises PostgreSQL refusing a value (SQLSTATE class 22) and says what kind of value.
func DataException(err error) (string, bool) {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || !strings.HasPrefix(pg.Code, "22") {
		return "", false
	}
	switch pg.Code {
	case "22021", "22P05":
		return `text with a NUL character (\u0000) or that is not valid UTF-8`, true
	case "22003":
		return "a number out of range", true
	case "22001":
		return "a value that is too long", true
	case "22008", "22007":
		return "a date or time out of range", true
	case "22P02":
		return "a malformed value", true
	}
	return "a value", true
}
