package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/parry-soar/parry/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func newStore(t *testing.T) *Store {
	t.Helper()
	return New(filepath.Join(t.TempDir(), "artifacts"), storetest.NewStore(t))
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestPutGetRead(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := []byte("PK\x03\x04 pretend zip")
	meta := Meta{RunID: "run-1", StepID: "sample", Kind: "quarantined-mail", Name: "u1.zip", ContentType: "application/zip"}
	a, err := s.Put(ctx, meta, data)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != ID("run-1", "sample", hexSHA(data)) || !ValidID(a.ID) {
		t.Errorf("id %q is not the derived id", a.ID)
	}
	if a.SHA256 != hexSHA(data) || a.Size != int64(len(data)) || a.RunID != "run-1" || a.StepID != "sample" ||
		a.Kind != "quarantined-mail" || a.Name != "u1.zip" || a.ContentType != "application/zip" || a.CreatedAt.IsZero() {
		t.Errorf("metadata %+v", a)
	}
	fi, err := os.Stat(s.Path(a.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	if filepath.Base(filepath.Dir(s.Path(a.SHA256))) != a.SHA256[:2] {
		t.Errorf("path %s is not sharded by the first two hex digits", s.Path(a.SHA256))
	}
	got, body, err := s.Read(ctx, a.ID)
	if err != nil || got != a || !bytes.Equal(body, data) {
		t.Fatalf("Read = %+v, %q, %v", got, body, err)
	}

	// Storing again for the same step is idempotent; another run gets its own row but shares the file.
	again, err := s.Put(ctx, meta, data)
	if err != nil || again != a {
		t.Fatalf("second Put = %+v, %v; want %+v", again, err, a)
	}
	other, err := s.Put(ctx, Meta{RunID: "run-2", StepID: "sample", Kind: "quarantined-mail"}, data)
	if err != nil || other.ID == a.ID || other.SHA256 != a.SHA256 {
		t.Fatalf("other run: %+v, %v", other, err)
	}
	list, err := s.List(ctx, "run-1")
	if err != nil || len(list) != 1 || list[0] != a {
		t.Fatalf("List(run-1) = %+v, %v", list, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(s.Path(a.SHA256)))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want the one file (no temporary files left)", len(entries))
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) || err.Error() != `artifact "nope": artifact not found (ids look like art_ and 32 hex digits)` {
		t.Errorf("Get(nope) = %v", err)
	}
	missing := ID("r", "s", hexSHA(nil))
	if _, err := s.Get(ctx, missing); !errors.Is(err, ErrNotFound) || err.Error() != "artifact "+missing+": artifact not found" {
		t.Errorf("Get(missing) = %v", err)
	}
	if _, err := s.Put(ctx, Meta{RunID: "r"}, []byte("x")); err == nil || err.Error() != "storing artifact: no kind given" {
		t.Errorf("Put without kind = %v", err)
	}

	a, err := s.Put(ctx, Meta{RunID: "r", StepID: "s", Kind: "k"}, []byte("original"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(a.SHA256), []byte("tampered"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Read(ctx, a.ID); err == nil || !strings.Contains(err.Error(), "no longer matches its SHA-256") {
		t.Errorf("Read of a tampered file = %v", err)
	}
	if err := os.Remove(s.Path(a.SHA256)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Read(ctx, a.ID); err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Errorf("Read of a missing file = %v", err)
	}
	// A damaged file is replaced when the same content is stored again.
	if err := os.WriteFile(s.Path(a.SHA256), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, Meta{RunID: "r", StepID: "s", Kind: "k"}, []byte("original")); err != nil {
		t.Fatal(err)
	}
	if _, body, err := s.Read(ctx, a.ID); err != nil || string(body) != "original" {
		t.Errorf("Read after re-put = %q, %v", body, err)
	}
}

func TestConcurrentPut(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := bytes.Repeat([]byte("mail"), 1<<14)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := s.Put(ctx, Meta{RunID: "r", StepID: "s", Kind: "k"}, data)
			ids[i], errs[i] = a.ID, err
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("put %d: %s, %v", i, ids[i], errs[i])
		}
	}
	_, body, err := s.Read(ctx, ids[0])
	if err != nil || !bytes.Equal(body, data) {
		t.Fatalf("Read: %v", err)
	}
}
