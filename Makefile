# evpush — `make help` lists the targets.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)

BIN := bin/evpush

# Development defaults, used by `make run` only. Never use them in production.
DEV_JWT_SECRET := dev-only-jwt-secret-do-not-use-in-production
DEV_OPS_USER   := ops
DEV_OPS_PASS   := dev-only-ops-password
DEV_DB_URL     := postgres://postgres@127.0.0.1:5432/evpush?sslmode=disable

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z/_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/evpush
	go build -o $(BIN) ./cmd/evpush

.PHONY: run
run: build ## run the service on DATABASE_URL, else on a local PostgreSQL it sets up
	@if [ -z "$$DATABASE_URL" ]; then bash .ci/ensure-postgres evpush; fi
	@export DATABASE_URL="$${DATABASE_URL:-$(DEV_DB_URL)}" \
	        JWT_SECRET="$${JWT_SECRET:-$(DEV_JWT_SECRET)}" \
	        OPS_USERNAME="$${OPS_USERNAME:-$(DEV_OPS_USER)}" \
	        OPS_PASSWORD="$${OPS_PASSWORD:-$(DEV_OPS_PASS)}" \
	        DEV_MODE="$${DEV_MODE:-true}" \
	        REFERENCE_CHARGING="$${REFERENCE_CHARGING:-true}"; \
	 addr="$${HTTP_ADDR:-:8080}"; case "$$addr" in :*) addr="localhost$$addr";; esac; \
	 echo "evpush: demo     http://$$addr/ (DEV_MODE: sign in as any user)"; \
	 echo "evpush: API      http://$$addr/api/v1/notifications/vapid-public-key"; \
	 echo "evpush: River UI http://$$addr/riverui/ (user $$OPS_USERNAME, password $$OPS_PASSWORD)"; \
	 echo "evpush: metrics  http://$$addr/metrics (same credentials)"; \
	 echo "evpush: dev token: $$(./$(BIN) token -user demo-user -type client)"; \
	 exec ./$(BIN) serve

.PHONY: test
test: ## run every test (needs PostgreSQL, started if down; chromium and node, see .ci/run)
	@bash .ci/ensure-postgres
	@bash .ci/ensure-test-tools
	node --test adapters/http/web/
	go test -race -count=1 ./...

N ?= 5
.PHONY: test-stress
test-stress: ## run the whole suite N times in a row (default 5), a pass/fail line per run; logs in $$TMPDIR
	@bash .ci/ensure-postgres
	@bash .ci/ensure-test-tools
	@logs=$$(mktemp -d "$${TMPDIR:-/tmp}/evpush-stress.XXXXXX"); passed=0; \
	 for i in $$(seq 1 $(N)); do \
	   start=$$(date +%s); \
	   if { node --test adapters/http/web/ && go test -race -count=1 ./...; } >"$$logs/run$$i.log" 2>&1; then \
	     passed=$$((passed+1)); echo "run $$i/$(N): pass ($$(( $$(date +%s)-start )) s)"; \
	   else \
	     echo "run $$i/$(N): FAIL ($$(( $$(date +%s)-start )) s), log $$logs/run$$i.log"; \
	     grep -E '^(--- FAIL|FAIL|panic:)|Error Trace|Error:' "$$logs/run$$i.log" | head -20 | sed 's/^/    /'; \
	   fi; \
	 done; \
	 echo "test-stress: $$passed of $(N) runs passed (logs in $$logs)"; \
	 [ "$$passed" -eq $(N) ]

.PHONY: test/short
test/short: ## unit tests only, no database
	go test -short -count=1 ./...

.PHONY: migrate
migrate: build ## apply migrations to DATABASE_URL
	./$(BIN) migrate

.PHONY: vapid
vapid: build ## print a fresh VAPID key pair
	./$(BIN) vapid

# staticcheck is pinned: a newer release may add checks, and a check that
# starts failing should come with a change of this line, not out of nowhere.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := bin/tools/staticcheck-$(STATICCHECK_VERSION)

$(STATICCHECK):
	GOBIN=$(CURDIR)/bin/tools go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv bin/tools/staticcheck $@

.PHONY: lint
lint: $(STATICCHECK) ## go vet and staticcheck (pinned, installed into bin/tools on first use)
	go vet ./...
	$(STATICCHECK) ./...

.PHONY: fmt
fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

.PHONY: tidy
tidy: ## go mod tidy
	go mod tidy

.PHONY: check
check: ## formatting, go vet and staticcheck; fails on any finding (CI runs it before make test)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "not gofmt-ed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(MAKE) lint

.PHONY: bench
bench: ## benchmark harness: baselines, commit alone and drain, e2e, steady load, API, RSS (about 2 minutes)
	@bash .ci/ensure-postgres
	go run ./test/bench

.PHONY: soak
soak: ## 30 s soak: 50 clients mixing every call; zero 5xx, nothing lost, stable heap
	@bash .ci/ensure-postgres
	EVPUSH_SOAK=30s EVPUSH_SOAK_CLIENTS=50 go test -count=1 -run '^TestSoak$$' -v -timeout 5m ./test/e2e/

FUZZTIME ?= 30s
.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 30s); seeds also run in make test
	@set -e; for t in \
	  ./adapters/http:FuzzSubscribe ./adapters/http:FuzzAuthorizationHeader \
	  ./domain:FuzzNewSubscription ./domain:FuzzDecodeBase64 ./domain:FuzzEndpointPolicy \
	  ./adapters/webpush:FuzzParseRetryAfter ./adapters/webpush:FuzzParseRetryAfterSeconds ./adapters/webpush:FuzzClassify \
	  ./adapters/auth:FuzzVerify; do \
	  pkg=$${t%%:*}; name=$${t##*:}; echo "== $$name ($$pkg)"; \
	  go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; done
