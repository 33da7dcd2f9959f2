# parry's developer commands. `make test` is what CI runs.
GO ?= go
export GOTOOLCHAIN ?= local

.PHONY: test test-short lint dev build bench bench-go bench-quota bench-chaos fuzz fuzz-api fuzz-sources histories docs lint-playbooks screenshots

## test: vet everything and run every test (starts its own throwaway PostgreSQL; needs its server binaries)
test:
	$(GO) vet ./...
	$(GO) tool workflowcheck -config workflows/workflowcheck.yaml ./workflows/...
	$(GO) test -count=1 -timeout 30m ./...

## lint: staticcheck over everything and Temporal's workflowcheck over the workflow code (CI runs it after the tests)
lint:
	$(GO) tool staticcheck ./...
	$(GO) tool workflowcheck -config workflows/workflowcheck.yaml ./workflows/...

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

## bench: every Go benchmark, then `parry bench quota` (see README "Performance"); figures printed
bench: bench-go bench-quota

## bench-go: every Go benchmark (BENCH=regexp narrows it), figures printed and kept in bench.out
BENCH ?= .
bench-go:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count 1 -timeout 60m ./... | tee bench.out

## bench-quota: the quota benchmark against fresh simulators with the vendor's 20/min (QUOTA_SCALE speeds time up)
QUOTA_SCALE ?= 10
bench-quota:
	$(GO) run ./cmd/parry bench quota --scale $(QUOTA_SCALE)

## bench-chaos: the soak (5,000 alerts, 50 incidents, faults on, 3 kill -9s) with one server and one worker, then
## with two of each (the quota and the dispatcher across processes); nothing may be lost or done twice
bench-chaos:
	$(GO) build -o bin/parry ./cmd/parry
	bin/parry bench chaos
	bin/parry bench chaos --servers 2 --workers 2

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

## histories: re-record workflows/testdata/histories (CASE=name: only that one), which TestReplayRecordedHistories
## replays in every test run (on purpose only: after an intended change to how plans are interpreted, guarded by
## a new interpreter version; keep the histories of runs the earlier versions started)
CASE ?=
histories:
	PARRY_RECORD_HISTORIES=1 $(GO) test -count=1 -run 'TestRecordHistories/$(CASE)' -v ./internal/e2e/

## docs: regenerate docs/actions.md from the action catalog
docs:
	$(GO) test -count=1 -run '^TestDocsUpToDate$$' ./internal/action/ -update

## lint-playbooks: lint the shipped playbooks
lint-playbooks:
	$(GO) run ./cmd/parry lint playbooks

## screenshots: regenerate the console's screenshots in docs/console/ (docs/console.md shows them) from its
## browser tests, which take them along the way (needs Chromium: apt-get install chromium)
screenshots:
	PARRY_SCREENSHOTS=$(CURDIR)/docs/console $(GO) test -count=1 -run '^TestConsole' ./internal/e2e/console/
