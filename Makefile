# ferry: everything runs natively (no Docker here).
GO        ?= go
BIN       := bin
FUZZTIME  ?= 30s
PKGS      := ./...
# gnet's poll_opt poller keeps the connection pointer in the epoll event
# instead of looking the fd up (+3-5% rps in a manual A/B of two builds,
# not part of make bench). Its pointer trick
# trips the race detector's checkptr, so the race run uses gnet's default
# poller and a second, shorter run covers the production poller.
TAGS      := -tags=poll_opt
# h2spec (RFC 7540/7541 conformance of the HTTP/2 listener), built from the
# Go module proxy into bin/ by deps; internal/conformance runs it.
H2SPEC    := $(CURDIR)/$(BIN)/h2spec
H2SPECMOD := github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible
# The linters, pinned and built from the Go module proxy into bin/ by deps
# (deps rebuilds one whose version differs from the pin); make lint runs
# them, with the production build tags, over every package and its tests.
STATICCHECK       := $(CURDIR)/$(BIN)/staticcheck
STATICCHECKVER    := 0.8.2
STATICCHECKMOD    := honnef.co/go/tools/cmd/staticcheck@v$(STATICCHECKVER)
GOLANGCILINT      := $(CURDIR)/$(BIN)/golangci-lint
GOLANGCILINTVER   := 2.15.0
GOLANGCILINTMOD   := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$(GOLANGCILINTVER)
# The zero-allocation tests are built only without the race detector
# (//go:build !race: its instrumentation allocates), so the second, non-race
# run of make test includes every package with such a test file.
ALLOCPKGS := $(addprefix ./,$(sort $(dir $(shell git grep -l '^//go:build !race' -- '*_test.go'))))

.PHONY: all build run test test-short vet lint fmt fmt-check fuzz soak bench bench-quick bench-deps benchgo check clean deps

all: build

# A static binary (no cgo): the Dockerfile runs this same target, and make
# test builds it, so CI compiles what the image ships.
build:
	CGO_ENABLED=0 $(GO) build $(TAGS) -o $(BIN)/ferry ./cmd/ferry
	$(GO) build -o $(BIN)/demo-upstream ./cmd/demo-upstream

# ferry on its embedded default config (127.0.0.1:8080) in front of the demo
# upstream (127.0.0.1:8081), which this target starts and stops.
run: build
	@$(BIN)/demo-upstream -addr 127.0.0.1:8081 & up=$$!; \
	trap 'kill $$up 2>/dev/null' EXIT INT TERM; \
	echo "ferry: try  curl -i http://127.0.0.1:8080/  (Ctrl-C stops both)"; \
	$(BIN)/ferry start

# The whole suite, with the race detector, shuffled, goroutine-leak checked;
# then the production poller and the zero-allocation tests without it.
test: deps build
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(MAKE) --no-print-directory lint
	FERRY_H2SPEC=$(H2SPEC) $(GO) test -race -shuffle=on -count=1 -timeout 20m $(PKGS)
	FERRY_H2SPEC=$(H2SPEC) $(GO) test $(TAGS) -short -count=1 -timeout 10m ./proxy/ ./eventloop/ ./internal/app/ ./internal/conformance/ $(ALLOCPKGS)
	$(MAKE) --no-print-directory fuzz FUZZTIME=5000x

test-short:
	$(GO) test -short -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

# staticcheck, then golangci-lint with .golangci.yml (errcheck, depguard for
# the import direction, gochecknoglobals, revive, gocritic, nolintlint: every
# //nolint names its linter and says why).
lint: deps
	$(STATICCHECK) $(TAGS) $(PKGS)
	$(GOLANGCILINT) run $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))"

# Each fuzz target for FUZZTIME (make test runs them briefly; make fuzz
# FUZZTIME=10m for a real session). Seed corpora live in testdata/fuzz/.
# make test counts executions (5000x: 34 s for all eight targets, config the
# slowest at 4 s, by make fuzz FUZZTIME=5000x on this 2-core machine)
# rather than time: with a duration, go1.26's fuzz coordinator can fail a
# target with a bare "context deadline exceeded" at the deadline on a
# loaded machine, no input found (golang/go#75804, fixed in Go 1.27).
FUZZPKGS := ./internal/codec/http1/ ./internal/codec/http2/ ./router/ ./config/ ./proxy/ ./conn/
fuzz:
	@for p in $(FUZZPKGS); do \
		for t in $$($(GO) test -list 'Fuzz.*' $$p | grep ^Fuzz); do \
			echo "fuzz $$p $$t ($(FUZZTIME))"; \
			$(GO) test -run=NONE -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$p || exit 1; \
		done; done

# The long soak: mixed traffic with injected faults for SOAKTIME (make test
# runs it for 30 s).
SOAKTIME ?= 3m
soak:
	FERRY_SOAK=$(SOAKTIME) $(GO) test -race -count=1 -run '^TestSoak$$' -v -timeout 30m ./internal/reliability/

# The side-by-side harness: direct upstream, a minimal gnet forwarder (the
# ceiling), ferry (auto and pool), nginx and HAProxy on this machine,
# interleaved rounds, noisy runs repeated; see bench/README.md. At least 5
# rounds: fewer give no spread worth quoting. bench-quick is 1 round, a
# smoke test, and its report says so.
bench: bench-deps
	$(GO) run ./bench/cmd/benchrun -rounds 5

bench-quick: bench-deps
	$(GO) run ./bench/cmd/benchrun -quick

# The benchmark's load generators and peers, from Debian when missing (only
# for bench and bench-quick; make test needs none of them).
BENCHTOOLS := wrk:wrk nginx:nginx-light haproxy:haproxy h2load:nghttp2-client slowhttptest:slowhttptest openssl:openssl
bench-deps:
	@missing=""; for t in $(BENCHTOOLS); do command -v $${t%%:*} >/dev/null || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; fi

# Go micro-benchmarks of the hot path.
benchgo:
	$(GO) test -run=NONE -bench=. -benchmem -count=5 ./internal/codec/http1/ ./internal/codec/http2/ ./router/ ./filterchain/ ./internal/worker/ ./upstream/ ./internal/spill/ ./internal/metrics/ ./internal/accesslog/ ./proxy/

check: fmt-check vet test

clean:
	rm -rf $(BIN) bench/.work

# Go modules come through the module proxy; curl and openssl, which the TLS
# tests run as real clients (internal/app/tls_test.go), come from apt when
# missing.
deps:
	$(GO) mod download
	@command -v curl >/dev/null && command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl openssl; }
	@test -x $(H2SPEC) || GOBIN=$(CURDIR)/$(BIN) $(GO) install $(H2SPECMOD)
	@$(STATICCHECK) -version 2>/dev/null | grep -qF '($(STATICCHECKVER))' || GOBIN=$(CURDIR)/$(BIN) $(GO) install $(STATICCHECKMOD)
	@$(GOLANGCILINT) version --short 2>/dev/null | grep -qxF '$(GOLANGCILINTVER)' || GOBIN=$(CURDIR)/$(BIN) $(GO) install $(GOLANGCILINTMOD)
