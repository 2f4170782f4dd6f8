# YouWorker. `make dev` runs the whole platform locally; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
TEMPORAL_CLI_VERSION := v1.5.1
# The Temporal server (with Postgres persistence) and UI server `make cluster` runs: the newest
# releases whose go line Go 1.26.8 accepts. See docs/operations.md, "Production topology".
TEMPORAL_SERVER_VERSION := v1.31.0
TEMPORAL_UI_VERSION := v2.55.0
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# `go test` flags; CI may add -v. Race detection runs on every package: see docs/operations.md.
TESTFLAGS ?= -race -timeout 15m
# Fuzzing budgets are execution counts (about 5 s each on 2 cores), not durations: with a duration
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline exceeded" at the
# deadline (go.dev/issue/75804, fixed in Go 1.27). FUZZ_X multiplies them all: FUZZ_X=10 fuzzes 10x.
FUZZ_X ?= 1
fuzzexecs = $(shell echo $$(( $(1) * $(FUZZ_X) )))x

.PHONY: all build tools system-deps dev cluster test test-cluster test-deploy lint fmt bench docs clean

all: build

# Debian packages the product uses: document extraction (pdftotext, tesseract) and the headers
# sqlite-vec's cgo bindings compile against; and what the tests use: chromium, the headless
# browser the console's tests drive (e2e TestBrowserConsole), and curl, which runs the `make dev`
# banner's commands as printed (e2e TestDevFirstFiveMinutes).
SYSTEM_PACKAGES := poppler-utils tesseract-ocr tesseract-ocr-eng util-linux libsqlite3-dev chromium curl

## tools: everything the build and tests need besides Go and Postgres (Debian packages, the Temporal
## CLI, and the Temporal server, its SQL schema tool and schema files, and UI server for `make cluster`)
tools: system-deps $(BIN)/temporal $(BIN)/temporal-server $(BIN)/temporal-ui-server

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo ">> installing Debian packages:" $$missing; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/temporal:
	@mkdir -p $(BIN)
	@echo ">> building the Temporal CLI $(TEMPORAL_CLI_VERSION) into bin/ (takes a few minutes once)"
	GOBIN=$(BIN) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

# The server and its schema tool come from one module version; the schema files the tool applies
# are copied out of that module so `make cluster` and the tests need no module cache at run time.
$(BIN)/temporal-server:
	@mkdir -p $(BIN) $(BIN)/.gobin-server
	@echo ">> building the Temporal server $(TEMPORAL_SERVER_VERSION) and its SQL schema tool into bin/ (about 8 minutes once)"
	GOBIN=$(BIN)/.gobin-server GOFLAGS=-mod=mod $(GO) install go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION) go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION)
	rm -rf $(BIN)/temporal-schema && mkdir -p $(BIN)/temporal-schema
	cp -r "$$($(GO) env GOMODCACHE)/go.temporal.io/server@$(TEMPORAL_SERVER_VERSION)/schema/postgresql" $(BIN)/temporal-schema/
	chmod -R u+w $(BIN)/temporal-schema
	mv $(BIN)/.gobin-server/sql $(BIN)/temporal-sql-tool
	mv $(BIN)/.gobin-server/server $(BIN)/temporal-server
	rmdir $(BIN)/.gobin-server

$(BIN)/temporal-ui-server:
	@mkdir -p $(BIN) $(BIN)/.gobin-ui
	@echo ">> building the Temporal UI server $(TEMPORAL_UI_VERSION) into bin/"
	GOBIN=$(BIN)/.gobin-ui GOFLAGS=-mod=mod $(GO) install github.com/temporalio/ui-server/v2/cmd/server@$(TEMPORAL_UI_VERSION)
	mv $(BIN)/.gobin-ui/server $(BIN)/temporal-ui-server
	rmdir $(BIN)/.gobin-ui

## build: the youworker binary and its extraction sandbox (youworker-extract, installed next to it)
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/youworker ./cmd/youworker
	$(GO) build -o $(BIN)/youworker-extract ./cmd/youworker-extract

## dev: Postgres, Temporal + UI, migrations, worker, API, Ollama or its stand-in; Ctrl-C stops all
dev: tools build
	$(BIN)/youworker dev

## cluster: the production topology on this machine: Temporal server on Postgres + UI, 2 APIs,
## 2 workers, the MCP servers, the Qdrant path; state under .data/cluster/; Ctrl-C stops all
cluster: tools build
	$(BIN)/youworker cluster

## test: unit and integration tests against real Postgres and Temporal, the kill matrix on the
## Temporal server, the Helm chart's tests, then brief fuzzing
test: tools
	$(GO) test $(TESTFLAGS) ./...
	$(MAKE) test-cluster test-deploy
	$(GO) test -run '^$$' -fuzz '^FuzzVerifyAccess$$' -fuzztime $(call fuzzexecs,40000) ./auth
	$(GO) test -run '^$$' -fuzz '^FuzzBindJSON$$' -fuzztime $(call fuzzexecs,10000) ./api
	$(GO) test -run '^$$' -fuzz '^FuzzDecrypt$$' -fuzztime $(call fuzzexecs,150000) ./encryption
	$(GO) test -run '^$$' -fuzz '^FuzzCheckURL$$' -fuzztime $(call fuzzexecs,40000) ./ssrf

## test-cluster: the kill matrix: the production topology (Temporal server on Postgres, 2 APIs,
## 2 workers, the Qdrant path) with processes SIGKILLed and restarted mid-work (e2e, tag cluster)
test-cluster: tools
	$(GO) test $(TESTFLAGS) -tags cluster -run '^TestCluster' ./e2e

## test-deploy: the Helm chart, linted, rendered and decoded with the Helm v4 SDK (a module of its
## own, deploy/helmtest, so Kubernetes' modules stay out of the product's go.mod); no -race: it
## runs none of its own code concurrently, and the race build of Helm takes minutes; -count=1: the
## chart files are read through Helm's loader, which the test cache does not always see change
test-deploy:
	cd deploy/helmtest && $(GO) test -count=1 ./...

## lint: formatting, vet, staticcheck and Temporal's workflowcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) tool workflowcheck ./workflows/...
	$(GO) vet -tags cluster ./e2e && $(GO) tool staticcheck -tags cluster ./e2e
	cd deploy/helmtest && $(GO) vet ./... && $(GO) tool staticcheck ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)/youworker

## docs: regenerate the README's configuration table (config.Config) and benchmark section (bench/results)
docs:
	$(GO) test ./config -run TestREADMEConfigTable -update
	$(GO) test ./bench -run TestREADMEBenchSection -update

## bench: platform overhead against a bare Temporal workflow, and ingestion (writes bench/results/, renders the README's section)
bench: tools build
	$(GO) run ./bench
	$(GO) test ./bench -run TestREADMEBenchSection -update
