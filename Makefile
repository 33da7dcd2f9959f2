# parry's developer commands. `make test` is what CI runs.
GO ?= go
export GOTOOLCHAIN ?= local

.PHONY: test test-short dev build bench fuzz fuzz-api fuzz-sources histories docs lint-playbooks

## test: vet everything and run every test (starts its own throwaway PostgreSQL; needs its server binaries)
test:
	$(GO) vet ./...
	$(GO) tool workflowcheck -config workflows/workflowcheck.yaml ./workflows/...
	$(GO) test -count=1 -timeout 30m ./...

## test-short: unit tests only (no PostgreSQL, no embedded Temporal server)
test-short:
	$(GO) test -short ./...

## dev: run everything embedded (Temporal + UI, PostgreSQL, API, worker, CECP simulator)
dev:
	$(GO) run ./cmd/parry dev

## build: the parry binary in ./bin, built as `go run` and `go test` build (no -trimpath, no CGO_ENABLED change),
## so it reuses their build cache; `parry version` shows the module version, commit and date Go stamps in.
## (deploy/Dockerfile builds the static, trimmed release binary.)
build:
	$(GO) build -o bin/parry ./cmd/parry

## bench: every benchmark, figures printed (see README "Performance"); BENCH=regexp narrows it
BENCH ?= .
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count 1 -timeout 60m ./... | tee bench.out

## fuzz: run the fuzz targets CI runs for a short time (FUZZTIME each)
FUZZTIME ?= 30s
fuzz: fuzz-api fuzz-sources

## fuzz-api: fuzz the whole API request path (alerts, playbook push, runs, tokens; real PostgreSQL) for FUZZTIME;
## every answer must be below 500 and nothing may panic (plain `go test` runs the seed corpus)
fuzz-api:
	$(GO) test -run '^$$' -fuzz '^FuzzAPIRequest$$' -fuzztime $(FUZZTIME) ./internal/api/

## fuzz-sources: fuzz the source linter and the shipped sources' mappings for FUZZTIME each
fuzz-sources:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/sources/
	$(GO) test -run '^$$' -fuzz '^FuzzMap$$' -fuzztime $(FUZZTIME) ./internal/sources/

## histories: re-record workflows/testdata/histories, which TestReplayRecordedHistories replays in every test run
## (on purpose only: after an intended change to how plans are interpreted, guarded by workflow.GetVersion)
histories:
	PARRY_RECORD_HISTORIES=1 $(GO) test -count=1 -run TestRecordHistories -v ./internal/e2e/

## docs: regenerate docs/actions.md from the action catalog
docs:
	$(GO) test -count=1 -run '^TestDocsUpToDate$$' ./internal/action/ -update

## lint-playbooks: lint the shipped playbooks
lint-playbooks:
	$(GO) run ./cmd/parry lint playbooks
