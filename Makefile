# Pyre — Phoenix Channels for Go.
#   make run    starts the TapRacer example on 127.0.0.1:4000 (installs its npm packages first)
#   make test   installs what the tests need (npm packages, Chromium) and runs every test with -race
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

.PHONY: run test deps npm chromium vet fuzz unit conformance measure bench clean

run: examples/tapracer/assets/node_modules/.package-lock.json
	$(GO) run ./examples/tapracer

test: deps vet unit fuzz

deps: npm chromium

# npm ci from the committed lockfiles, once per lockfile change.
npm: $(addsuffix /node_modules/.package-lock.json,$(NPM_DIRS))

%/node_modules/.package-lock.json: %/package-lock.json %/package.json
	cd $* && $(NPM) ci --no-audit --no-fund
	@touch $@

# Debian's Chromium for the browser tests (playwright-core drives it; it cannot download browsers here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium'"; exit 1; fi; }

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...
	# nshafer/phx races internally: its interoperability test runs without -race.
	$(GO) test -count=1 -run 'Nshafer' ./examples/conformance

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
# (the full run ~5 min here; BENCH_FLAGS=-quick ~1 min).
# Not part of test: go test runs the same tool on a tiny load only.
bench:
	$(GO) build -o bin/measure ./examples/measure
	bin/measure bench -out $(BENCH_OUT) $(BENCH_FLAGS)

clean:
	rm -rf $(addsuffix /node_modules,$(NPM_DIRS))
