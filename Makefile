# Pyre — Phoenix Channels for Go.
#   make run    starts the TapRacer example on 127.0.0.1:4000 (installs its npm packages first)
#   make cluster  TapRacer as three cluster nodes on 127.0.0.1:4000, :4001, :4002 (cluster ports 4100-4102);
#               one race and the chat span them; Ctrl-C stops all three
#   make test   installs what the tests need (npm packages, Chromium) and runs every test with -race
#               (~6 min on 2 cores). Without root, npm or a browser it runs everything else and lists what
#               it skipped; with CI=true a missing dependency fails instead. CHROMIUM=/path picks the browser.
#   make bench  Pyre vs raw gws (memory per connection/channel, fan-out, request/reply): one table on stdout,
#               and $(BENCH_OUT)/results.md, results.json, chart.svg (~5 min; BENCH_FLAGS=-quick: ~1 min)

GO        ?= go
NPM       ?= npm
# Iterations, not seconds: a time budget makes go test fail with "context deadline exceeded" when a
# loaded machine is slow to stop its fuzz workers.
FUZZTIME  ?= 100000x
# Fuzz targets that make a network round trip per input (a live server), and their smaller count (~5 s).
FUZZ_NET     := FuzzWebSocketBytes
FUZZTIME_NET ?= 10000x
NPM_DIRS  := examples/conformance/js examples/conformance/browser examples/tapracer/assets examples/tapracer/browser
BENCH_OUT   ?= bench-results
BENCH_FLAGS ?=

# Tests that cannot run a real dependency (node, npm packages, Chromium) name it here when they skip.
SKIPPED   := $(CURDIR)/.test-skipped

.PHONY: run cluster test deps npm npm-install chromium vet fuzz unit skipped conformance measure bench clean proto

run: examples/tapracer/assets/node_modules/.package-lock.json
	$(GO) run ./examples/tapracer

# Three TapRacer nodes; the first owns the race. Ctrl-C stops them all (the trap kills what is left).
CLUSTER_PEERS := 127.0.0.1:4100,127.0.0.1:4101,127.0.0.1:4102
cluster: examples/tapracer/assets/node_modules/.package-lock.json
	$(GO) build -o bin/tapracer ./examples/tapracer
	@pids=""; trap 'kill $$pids 2>/dev/null; wait $$pids 2>/dev/null' EXIT INT TERM; \
	for i in 0 1 2; do \
	  PORT=400$$i PYRE_NODE=n$$((i+1)) PYRE_CLUSTER_ADDR=127.0.0.1:410$$i PYRE_CLUSTER_PEERS=$(CLUSTER_PEERS) \
	    TAPRACER_DIR=examples/tapracer bin/tapracer & pids="$$pids $$!"; \
	done; \
	echo "TapRacer cluster: http://127.0.0.1:4000 (n1, owns the race), :4001 (n2), :4002 (n3); Ctrl-C stops all three"; \
	wait

test: deps vet unit fuzz skipped

deps: npm chromium

# npm ci from the committed lockfiles, once per lockfile change. Without npm the JS and browser tests skip
# (CI=true: fail).
npm:
	@if command -v $(NPM) >/dev/null 2>&1; then $(MAKE) --no-print-directory npm-install; \
	elif [ "$$CI" = true ]; then echo "make test: npm is missing (install Node.js >= 20 with npm)"; exit 1; \
	else echo "make test: npm is missing: the phoenix.js and browser tests will be skipped (install Node.js >= 20 with npm)"; fi

npm-install: $(addsuffix /node_modules/.package-lock.json,$(NPM_DIRS))

%/node_modules/.package-lock.json: %/package-lock.json %/package.json
	cd $* && $(NPM) ci --no-audit --no-fund
	@touch $@

# A browser for the browser tests (playwright-core drives it; it cannot download browsers here): $CHROMIUM,
# else chromium on PATH, else Debian's package when we are root, else the browser tests skip (CI=true: fail).
chromium:
	@if [ -n "$$CHROMIUM" ]; then [ -x "$$CHROMIUM" ] || { echo "make test: CHROMIUM=$$CHROMIUM is not an executable"; exit 1; }; \
	elif command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	elif [ "$$CI" = true ]; then echo "make test: no browser: install Debian's chromium (sudo apt-get install chromium) or set CHROMIUM=/path/to/chrome"; exit 1; \
	else echo "make test: no browser found: the browser tests will be skipped (sudo apt-get install chromium, or CHROMIUM=/path/to/chrome make test)"; fi

vet:
	$(GO) vet ./...

unit:
	@rm -f $(SKIPPED)
	PYRE_SKIPPED=$(SKIPPED) $(GO) test -race -count=1 -timeout 20m ./...
	# Without -race: nshafer/phx races internally; allocation counts differ under the race detector.
	$(GO) test -count=1 -run 'Nshafer' ./examples/conformance
	$(GO) test -count=1 -run 'Allocs' ./transport/serializer

# What the tests could not run here, and how to get it.
skipped:
	@if [ -s $(SKIPPED) ]; then echo; echo "make test passed, but skipped (not run on this machine):"; sort -u $(SKIPPED) | sed "s/^/  - /"; echo "Install Node.js >= 20 with npm and a Chromium (Debian: apt-get install chromium, or set CHROMIUM=/path), then run make test again."; fi

# A short run of every fuzz target (one target per invocation, as go test requires).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for target in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    n=$(FUZZTIME); case " $(FUZZ_NET) " in *" $$target "*) n=$(FUZZTIME_NET);; esac; \
	    echo "fuzz $$pkg $$target ($$n)"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $$n $$pkg; \
	  done; \
	done

# The benchmarks of examples/measure (see its README): each scenario against Pyre and the raw-gws baseline
# (the full run ~5 min here; BENCH_FLAGS=-quick ~1 min). Pyre under attack, with a control client's echo
# latency: BENCH_FLAGS='-scenarios attack' (~2.5 min, not in the default run; add -quick for ~40 s).
# Not part of test: go test runs the same tool on a tiny load only.
bench:
	$(GO) build -o bin/measure ./examples/measure
	bin/measure bench -out $(BENCH_OUT) $(BENCH_FLAGS)

clean:
	rm -rf $(addsuffix /node_modules,$(NPM_DIRS))

# Generated Go for the messages between nodes (actors/cluster/clusterpb, actors/presence/presencepb),
# committed. protoc from Debian's protobuf-compiler (installed when missing and root), protoc-gen-go pinned to the protobuf runtime in go.mod.
PROTOC_GEN_GO_VERSION := v1.36.12
proto:
	@command -v protoc >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends protobuf-compiler >/dev/null; \
	  else echo "make proto: protoc is missing (sudo apt-get install protobuf-compiler)"; exit 1; fi; }
	GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	# Registered under their paths from the module root: a bare "cluster.proto" collides with protoactor's.
	protoc --plugin=protoc-gen-go=$(CURDIR)/bin/protoc-gen-go -I . \
	  --go_out=. --go_opt=paths=source_relative actors/cluster/clusterpb/cluster.proto actors/presence/presencepb/presence.proto
