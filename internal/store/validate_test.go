package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

// TestCheckJSONAgreesWithPostgreSQL asks PostgreSQL itself: whatever CheckJSON accepts, jsonb accepts, and the
// values it refuses are ones PostgreSQL refuses (or, for numbers, at the edge of numeric's range).
func TestCheckJSONAgreesWithPostgreSQL(t *testing.T) {
	s := storetest.NewStore(t)
	ctx := context.Background()
	for _, tc := range []struct {
		doc    string
		ok     bool
		pgOK   bool // what PostgreSQL says (differs only where CheckJSON is conservative)
		reason string
	}{
		{`{"a":"x"}`, true, true, ""},
		{`{"a":"\u00e9\ud83d\ude00"}`, true, true, ""},
		{`{"a":"\\u0000"}`, true, true, ""}, // an escaped backslash, then the letters u0000
		{`{"a":"\u0000"}`, false, false, `contains a NUL character (\u0000)`},
		{`{"a\u0000":1}`, false, false, `contains a NUL character (\u0000)`},
		{`{"a":"\ud800"}`, false, false, `contains a lone UTF-16 surrogate (\ud800)`},
		{`{"a":"\udc00"}`, false, false, `contains a lone UTF-16 surrogate (\udc00)`},
		{`{"a":"\ud800x"}`, false, false, `contains a lone UTF-16 surrogate (\ud800)`},
		{"{\"a\":\"\xff\"}", false, false, "is not valid UTF-8"},
		{"{\"a\":\"\xed\xa0\x80\"}", false, false, "is not valid UTF-8"}, // a surrogate encoded in UTF-8
		{`[1e131071]`, true, true, ""},
		{`[9.99e131071]`, true, true, ""},
		{`[10e131071]`, false, false, "holds the number 10e131071, beyond what PostgreSQL's numeric type holds"},
		{`[1e131072]`, false, false, "holds the number 1e131072, beyond what PostgreSQL's numeric type holds"},
		{`[1e-16383]`, true, true, ""},
		{`[1.5e-16382]`, true, true, ""},
		{`[1e-16384]`, false, false, "holds the number 1e-16384, beyond what PostgreSQL's numeric type holds"},
		{`[-12345e-16388]`, false, false, "holds the number -12345e-16388, beyond what PostgreSQL's numeric type holds"},
		{`[1e99999999999999999999]`, false, false, "holds the number 1e99999999999999999999, beyond what PostgreSQL's numeric type holds"},
		{`[0e1000000]`, false, true, "holds the number 0e1000000, beyond what PostgreSQL's numeric type holds"}, // conservative
		{`[1.7976931348623157e308, 5e-324, -0, 0.0]`, true, true, ""},
	} {
		err := store.CheckJSON("data", []byte(tc.doc))
		var inv *store.InvalidError
		if tc.ok != (err == nil) || !tc.ok && (!errors.As(err, &inv) || inv.Reason != tc.reason || inv.Field != "data") {
			t.Errorf("CheckJSON(%q) = %v, want ok=%v reason %q", tc.doc, err, tc.ok, tc.reason)
		}
		var out string
		pgErr := s.Pool.QueryRow(ctx, "SELECT $1::text::jsonb::text", tc.doc).Scan(&out)
		if (pgErr == nil) != tc.pgOK {
			t.Errorf("PostgreSQL on %q: %v, want ok=%v", tc.doc, pgErr, tc.pgOK)
		}
	}
}

func TestStoreRefusesWhatPostgreSQLCannotHold(t *testing.T) {
	s := storetest.NewStore(t)
	ctx := context.Background()
	_, err := s.InsertAlerts(ctx, []store.NewAlert{
		{Source: "s", Kind: "k", Severity: "low", Title: "ok", ObservedAt: time.Now()},
		{Source: "s", Kind: "k", Severity: "low", Title: "a\x00b", ObservedAt: time.Now()},
	}, "test")
	var inv *store.InvalidError
	if !errors.As(err, &inv) || inv.Error() != `alerts[1].title contains a NUL character (\u0000)` {
		t.Fatalf("alert: %v", err)
	}
	_, err = s.InsertAlerts(ctx, []store.NewAlert{{Source: "s", Kind: "k", Severity: "low", Title: "t", ObservedAt: time.Now(), Data: []byte(`{"x":"\u0000"}`)}}, "test")
	if !errors.As(err, &inv) || inv.Field != "alerts[0].data" {
		t.Fatalf("data: %v", err)
	}
	if _, _, err := s.CreateToken(ctx, "a\x00", store.RoleViewer, "test"); !errors.As(err, &inv) {
		t.Fatalf("token: %v", err)
	}
	if _, _, err := s.PutPlaybookVersion(ctx, "p", "sha", "src", []byte(`{"x":"\u0000"}`), "test"); !errors.As(err, &inv) || !strings.Contains(inv.Error(), "compiled plan") {
		t.Fatalf("playbook: %v", err)
	}
	if _, err := store.InsertRun(ctx, s.Pool, store.Run{ID: "r", PlaybookName: "p", PlaybookSHA256: "x", Inputs: []byte(`{"who":"\u0000"}`)}); !errors.As(err, &inv) || inv.Field != "inputs" {
		t.Fatalf("run: %v", err)
	}
	var n int
	if err := s.Pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM alerts) + (SELECT count(*) FROM runs)").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows stored, %v", n, err)
	}
}
