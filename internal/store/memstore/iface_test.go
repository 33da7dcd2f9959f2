package memstore_test

import (
	"github.com/parry-soar/parry/internal/mitigation"
	"github.com/parry-soar/parry/internal/runs"
	"github.com/parry-soar/parry/internal/store"
	"github.com/parry-soar/parry/internal/store/memstore"
)

// The in-memory store stands in for PostgreSQL wherever a consumer declares an interface the store meets.
var (
	_ mitigation.Store  = (*memstore.Store)(nil)
	_ mitigation.Store  = (*store.Store)(nil)
	_ runs.RunStore     = (*memstore.Store)(nil)
	_ runs.OutboxStore  = (*memstore.Store)(nil)
	_ runs.TrackerStore = (*memstore.Store)(nil)
	_ runs.TrackerStore = (*store.Store)(nil)
	_ runs.Recorder     = (*memstore.Store)(nil)
)
