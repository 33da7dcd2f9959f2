package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/storetest"
)

// TestCountAlertsAndTimeline: the soak's and the quota bench's reads: alerts of one source (a repeated source
// id is one alert), pending ones, and an empty connection's mitigation timeline.
func TestCountAlertsAndTimeline(t *testing.T) {
	st := storetest.NewStore(t)
	ctx := context.Background()
	alert := func(source, id string) store.NewAlert {
		return store.NewAlert{Source: source, SourceID: id, Kind: "k", Severity: "low", Title: "t", ObservedAt: time.Now(), Data: json.RawMessage(`{}`)}
	}
	if _, err := st.InsertAlerts(ctx, []store.NewAlert{alert("soak", "a"), alert("soak", "b"), alert("soak", "a"), alert("other", "a")}, "test"); err != nil {
		t.Fatal(err)
	}
	c, err := st.CountAlerts(ctx, "soak")
	if err != nil || c != (store.AlertCounts{Total: 2, DistinctSourceIDs: 2, Pending: 2}) {
		t.Fatalf("counts %+v %v", c, err)
	}
	tl, err := st.GetMitigationTimeline(ctx, "none", "bench-", time.Now().Add(-time.Hour))
	if err != nil || tl.Items != 0 || tl.Posts != 0 || !tl.QueuedFirst.IsZero() {
		t.Fatalf("empty timeline %+v %v", tl, err)
	}
}
