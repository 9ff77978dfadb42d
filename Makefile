# The project's verbs. Every tool is pinned in a go.mod `tool` line and run
# with `go tool`; nothing needs installing beyond Go, Postgres and Redis.
SHELL := /usr/bin/env bash
MODULES := proto platform gateway services/identity services/wallet services/workflow services/notify deploy e2e bench
SERVICES := identity wallet workflow notify
GO_TEST_FLAGS ?= -race -count=1 -timeout 20m

# apt-get needs root; elsewhere use sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps run test generate check-generated lint vet build admin bench fuzz drills n8n-e2e

## run: build, create and migrate the databases, start every process locally (Ctrl-C stops all)
run: build
	@deploy/local/run.sh

## build: compile every process into bin/
build:
	@mkdir -p bin
	go build -o bin/ ./gateway/cmd/gateway ./services/identity/cmd/identity ./services/wallet/cmd/wallet ./services/workflow/cmd/workflow ./services/notify/cmd/notify

## admin: create or promote an admin on the local stack (password on stdin): make admin EMAIL=ops@example.com
admin:
	@test -n "$(EMAIL)" || { echo "usage: make admin EMAIL=ops@example.com  (password on standard input)"; exit 2; }
	@APP_ENV=development go run ./services/identity/cmd/identity create-admin --promote-existing --email "$(EMAIL)"

## test: lint (buf lint, gofmt, vet), the generated-code check, a brief run of every fuzz target and the race-enabled tests of every module (e2e and bench included)
test: deps lint check-generated
	@echo "== every fuzz target, briefly (make fuzz runs them longer)"; FUZZTIME=5s .ci/fuzz.sh
	@set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && go test $(GO_TEST_FLAGS) ./...); done

## deps: install what the tests need beyond Go: Debian's chromium for the admin console's and the user portal's browser tests
deps:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium (browser test)"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

## fuzz: run every fuzz target for FUZZTIME each (default 30s): make fuzz FUZZTIME=2m
FUZZTIME ?= 30s
fuzz:
	@FUZZTIME=$(FUZZTIME) .ci/fuzz.sh

## bench: the load harness (make test vets and tests its code but never runs the load): its own stack on ports +10000 and meterflow_bench_* databases; writes bench/results/<date>.md and .json. make bench BENCH_FLAGS='-duration 10s -rounds 3'; with an A/B side built from another commit: make bench BENCH_FLAGS='-b-commit main'
bench: build
	go run ./bench/cmd/bench $(BENCH_FLAGS)

## n8n-e2e: the docs/n8n workflows in a real n8n (installed from npm into a temp folder) against a local stack, both completion modes (not in make test; minutes)
n8n-e2e:
	@docs/n8n/e2e.sh

## drills: the reliability drills in e2e/drills (bank test, crashes, faults, outages; about 5 minutes)
drills:
	cd e2e && go test -race -tags drills -count=1 -timeout 30m ./drills

## generate: protobuf and sqlc code, byte for byte reproducible
generate:
	cd proto && go tool buf generate
	@set -e; for s in $(SERVICES); do if [ -f services/$$s/internal/postgres/sqlc.yaml ]; then echo "sqlc $$s"; (cd services/$$s/internal/postgres && go tool sqlc generate); fi; done

## check-generated: fail when committed generated code differs from `make generate`
check-generated: generate
	@if [ -n "$$(git status --porcelain -- proto/gen 'services/*/internal/postgres/db')" ]; then \
		echo "generated code is stale: run 'make generate' and commit the result"; \
		git status --porcelain -- proto/gen 'services/*/internal/postgres/db'; exit 1; fi

## lint: buf lint, gofmt and go vet
lint: vet
	cd proto && go tool buf lint
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	@set -e; for m in $(MODULES); do (cd $$m && go vet ./...); done
