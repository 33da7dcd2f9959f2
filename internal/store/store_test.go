package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	s := storetest.NewStore(t)
	ctx := context.Background()
	// The template is migrated already: nothing left to apply, even with several migrators at once.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			applied, err := store.Migrate(ctx, s.Pool)
			if err == nil && len(applied) != 0 {
				err = errors.New("applied again: " + strings.Join(applied, ","))
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ms, _ := store.Migrations()
	var n int
	if err := s.Pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != len(ms) {
		t.Fatalf("schema_migrations has %d rows, want %d (%v)", n, len(ms), err)
	}
}

func TestMigrateFreshDatabaseConcurrently(t *testing.T) {
	s := storetest.NewStore(t)
	ctx := context.Background()
	// Start from an empty schema to see every migration applied exactly once by racing migrators.
	if _, err := s.Pool.Exec(ctx, "DROP SCHEMA public CASCADE; CREATE SCHEMA public"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 3 {
		wg.Go(func() {
			applied, err := store.Migrate(ctx, s.Pool)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += len(applied)
			mu.Unlock()
		})
	}
	wg.Wait()
	ms, _ := store.Migrations()
	if total != len(ms) {
		t.Fatalf("applied %d migrations in total, want %d", total, len(ms))
	}
}

func TestMigrateRefusesNewerDatabase(t *testing.T) {
	s := storetest.NewStore(t)
	ctx := context.Background()
	if _, err := s.Pool.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ('9999_future')"); err != nil {
		t.Fatal(err)
	}
	_, err := store.Migrate(ctx, s.Pool)
	want := "the database has migration 9999_future, which this parry does not know: it was migrated by a newer parry; upgrade this binary"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v", err)
	}
}

func TestTokens(t *testing.T) {
	s := storetest.NewStore(t)
	ctx := context.Background()
	plain, tok, err := s.CreateToken(ctx, "ci", store.RoleResponder, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plain, "pry_") || len(plain) != 47 || !strings.HasPrefix(plain, tok.Prefix) {
		t.Fatalf("token %q prefix %q", plain, tok.Prefix)
	}
	var stored []byte
	if err := s.Pool.QueryRow(ctx, "SELECT token_sha256 FROM api_tokens WHERE id=$1", tok.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if string(stored) == plain || len(stored) != 32 {
		t.Fatal("token stored in clear or not as SHA-256")
	}
	got, err := s.Authenticate(ctx, plain)
	if err != nil || got.Name != "ci" || got.Role != store.RoleResponder || got.LastUsedAt == nil {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	if _, _, err := s.CreateToken(ctx, "ci", store.RoleViewer, "test"); !errors.Is(err, store.ErrTokenExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	for _, bad := range []string{"", "pry_nope", plain + "x", "Bearer " + plain} {
		if _, err := s.Authenticate(ctx, bad); !errors.Is(err, store.ErrBadToken) {
			t.Fatalf("authenticate(%q): %v", bad, err)
		}
	}
	if _, err := s.RevokeToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, plain); !errors.Is(err, store.ErrBadToken) {
		t.Fatalf("revoked token still works: %v", err)
	}
	if _, err := s.RevokeToken(ctx, "ci"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
	// The name is free again after revocation.
	if _, _, err := s.CreateToken(ctx, "ci", store.RoleViewer, "test"); err != nil {
		t.Fatal(err)
	}
	live, _ := s.ListTokens(ctx, false)
	all, _ := s.ListTokens(ctx, true)
	if len(live) != 1 || len(all) != 2 || all[1].RevokedAt == nil {
		t.Fatalf("list: live %d all %d", len(live), len(all))
	}
}

func TestRoles(t *testing.T) {
	if !store.RoleAdmin.Allows(store.RoleViewer) || store.RoleIngest.Allows(store.RoleViewer) || !store.RoleIngest.Allows(store.RoleIngest) || store.Role("x").Allows(store.RoleIngest) {
		t.Fatal("role order wrong")
	}
	if _, err := store.ParseRole("root"); err == nil || err.Error() != `unknown role "root" (roles: ingest, viewer, responder, author, admin)` {
		t.Fatalf("got %v", err)
	}
}

func TestAuditIsAppendOnly(t *testing.T) {
	s := storetest.NewStore(t)
	ctx := context.Background()
	id, err := s.AppendAudit(ctx, store.AuditEvent{Actor: "run:r1", Action: "cecp.mitigate_mails", RunID: "r1", StepID: "quarantine",
		Attempt: 1, Connection: "prod", Operation: "POST /v1/mitigation/mails", Targets: 10, VendorIDs: []string{"b-1"}, Outcome: "accepted"})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"UPDATE audit_events SET outcome='x' WHERE id=$1", "DELETE FROM audit_events WHERE id=$1"} {
		if _, err := s.Pool.Exec(ctx, q, id); err == nil || !strings.Contains(err.Error(), "audit_events is append-only") {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := s.Pool.Exec(ctx, "TRUNCATE audit_events"); err == nil {
		t.Fatal("truncate allowed")
	}
	evs, err := s.ListAudit(ctx, store.AuditQuery{RunID: "r1"})
	if err != nil || len(evs) != 1 || evs[0].Targets != 10 || evs[0].VendorIDs[0] != "b-1" {
		t.Fatalf("list: %+v %v", evs, err)
	}
}

func TestOpenErrorsNameServerNotPassword(t *testing.T) {
	_, err := store.Open(context.Background(), "postgres://parry:s3cretpw@127.0.0.1:1/parry")
	if err == nil || strings.Contains(err.Error(), "s3cretpw") || !strings.Contains(err.Error(), "connecting to PostgreSQL at postgres://parry:xxxxx@127.0.0.1:1/parry") {
		t.Fatalf("got %v", err)
	}
	if _, err := store.Open(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "PARRY_DATABASE_URL") {
		t.Fatalf("got %v", err)
	}
}

func TestRunWaits(t *testing.T) {
	st := storetest.NewStore(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if _, err := st.InsertRun(ctx, store.Run{ID: id, PlaybookName: "p", PlaybookSHA256: "s"}); err != nil {
			t.Fatal(err)
		}
		if err := st.MarkRunStarted(ctx, id, id+"-1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetRunWaiting(ctx, "a", store.RunWaiting, "approval of ok", json.RawMessage(`[{"step":"ok","kind":"approval","prompt":"Block?"}]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateRun(ctx, store.RunUpdate{ID: "b", Status: store.RunRunning, WaitingFor: "timer in w", Waits: json.RawMessage(`[{"step":"w","kind":"timer"}]`)}); err != nil {
		t.Fatal(err)
	}
	got, err := st.RunsWaitingFor(ctx, "approval", 10)
	if err != nil || len(got) != 1 || got[0].ID != "a" || !strings.Contains(string(got[0].Waits), "Block?") {
		t.Fatalf("waiting for approval: %+v %v", got, err)
	}
	// A run that ends waits for nothing.
	if _, err := st.UpdateRun(ctx, store.RunUpdate{ID: "a", Status: store.RunSucceeded, FinishedAt: ptr(time.Now())}); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.RunsWaitingFor(ctx, "approval", 10); len(got) != 0 {
		t.Fatalf("an ended run still waits: %+v", got)
	}
	if r, _ := st.GetRun(ctx, "a"); string(r.Waits) != "[]" {
		t.Fatalf("waits of an ended run: %s", r.Waits)
	}
}
func ptr[T any](v T) *T { return &v }

// TestRecordRunHeld: the start entry of a manual start is leased to its caller, so that no outbox pass takes
// it meanwhile, and is claimable again once the lease has run out (the caller died); without a hold, the next
// pass takes it.
func TestRecordRunHeld(t *testing.T) {
	st := storetest.NewStore(t)
	ctx := context.Background()
	run := store.Run{ID: "held", PlaybookName: "p", PlaybookSHA256: "s", Status: store.RunPending}
	inserted, entry, err := st.RecordRun(ctx, run, time.Minute)
	if err != nil || !inserted || entry.ID == 0 || entry.Kind != store.OutboxStart || entry.RunID != "held" || entry.Attempts != 1 {
		t.Fatalf("record: %v %+v %v", inserted, entry, err)
	}
	if got, err := st.ClaimOutbox(ctx, 10, time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("an outbox pass took the held entry: %+v %v", got, err)
	}
	if got, err := st.ClaimOutboxOf(ctx, "held", time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("the held entry was claimed again: %+v %v", got, err)
	}
	if inserted, again, err := st.RecordRun(ctx, run, time.Minute); err != nil || inserted || again.ID != 0 {
		t.Fatalf("a repeated id: %v %+v %v", inserted, again, err)
	}
	// The caller died and its lease ran out: the next pass takes the entry, as its second attempt.
	if _, err := st.Pool.Exec(ctx, `UPDATE outbox SET claimed_until = now() - interval '1 second' WHERE id = $1`, entry.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := st.ClaimOutbox(ctx, 10, time.Minute); err != nil || len(got) != 1 || got[0].ID != entry.ID || got[0].Attempts != 2 {
		t.Fatalf("the orphaned entry: %+v %v", got, err)
	}
	// Without a hold (a run recorded for the dispatchers to start), the next pass takes it as its first attempt.
	run.ID = "unheld"
	if _, unheld, err := st.RecordRun(ctx, run, 0); err != nil || unheld.Attempts != 0 {
		t.Fatalf("unheld: %+v %v", unheld, err)
	} else if got, err := st.ClaimOutbox(ctx, 10, time.Minute); err != nil || len(got) != 1 || got[0].ID != unheld.ID || got[0].Attempts != 1 {
		t.Fatalf("the unheld entry: %+v %v", got, err)
	}
}
