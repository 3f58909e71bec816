# holdfast — make test is the one command CI runs (see .ci/run and README.md).

GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
FUZZTIME    ?= 10s
BENCHTIME   ?= 1s
BENCHCOUNT  ?= 5

.PHONY: test fmt-check vet staticcheck unit modules gauntlet adversarial tools otlpsink bench bench-proxy bench-chaos bench-globalrate fuzz

# Modules kept out of the main go.mod: grpc-go, the Toxiproxy client and h2spec
# (the HTTP/2 conformance suite, run against the data plane) stay out of it.
MODULES := holdfastgrpc test/grpc test/toxiproxycompat test/h2spec bench/chaos/profile

# The real OTLP receiver the tracing tests send to (test/otlpsink: the
# OpenTelemetry Collector's OTLP receiver, its own module too), built and
# vetted by `make tools`.
OTLPSINK := $(GOBIN)/holdfast-otlpsink
export HOLDFAST_OTLPSINK := $(OTLPSINK)

test: fmt-check vet staticcheck tools unit modules adversarial gauntlet

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	@echo "gofmt: ok"

vet:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...
	@for m in $(MODULES); do (cd $$m && $(STATICCHECK) ./...) || exit 1; done

# What the end-to-end tests drive: Debian's headless Chromium for the status
# page, Prometheus (prometheus, promtool) for metrics, Alertmanager
# (prometheus-alertmanager) for the alerts' delivery and redis-server for
# global rate limits (the tests start their own, on a free loopback port),
# installed only when missing, and the OTLP receiver, built from
# test/otlpsink (quick once built: the build cache has it).
tools: otlpsink
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v prometheus-alertmanager >/dev/null 2>&1 || missing="$$missing prometheus-alertmanager"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

otlpsink:
	cd test/otlpsink && $(GO) build -o $(OTLPSINK) . && $(GO) vet .

# Allocation tests carry the !race build tag (the race detector makes
# sync.Pool drop items on purpose), so they get their own pass.
unit:
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run 'Alloc' ./...

# Hostile clients, upstreams and config files against the real binary
# (raw sockets both ways), without -race like the gauntlet.
adversarial:
	$(GO) test -count=1 ./test/adversarial

# End-to-end fault scenarios against the real binary; prints a summary table.
gauntlet:
	@out=$$(mktemp); status=0; \
	$(GO) test -count=1 -v -run 'TestG' ./test/gauntlet > $$out 2>&1 || status=$$?; \
	grep -v '^=== RUN' $$out; rm -f $$out; exit $$status

modules:
	@for m in $(MODULES); do echo "== $$m"; (cd $$m && $(GO) test -race -count=1 ./...) || exit 1; done

# Benchmarks side by side with peer libraries (bench/ is its own module).
bench:
	cd bench && $(GO) test -run '^$$' -bench . -benchmem -benchtime=$(BENCHTIME) -count=$(BENCHCOUNT) ./... | tee ../bench.out

# The proxy side by side with httputil.ReverseProxy, HAProxy and nginx under wrk.
bench-proxy:
	bash bench/proxy/run.sh

# holdfast chaos side by side with Toxiproxy under wrk.
bench-chaos:
	bash bench/chaos/run.sh

# A global rate limit (Redis) against the local one at 2,000 req/s (issue 14).
bench-globalrate:
	bash bench/globalrate/run.sh

# Short runs of every fuzz target in the main module.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done
