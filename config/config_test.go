package config

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/retry"
)

func TestParseTheExampleConfig(t *testing.T) {
	data, err := os.ReadFile("../examples/holdfast.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	u := c.Upstreams["catalog"]
	if got := len(u.Endpoints); got != 3 {
		t.Errorf("endpoints = %d; want 3", got)
	}
	if got := u.Endpoints[1].Weight; got != 2 {
		t.Errorf("weight = %d; want 2", got)
	}
	if got := u.OutlierDetection.Deadline; got != 250*time.Millisecond {
		t.Errorf("deadline = %v; want 250ms", got)
	}
	if got := u.CircuitBreaker.HalfOpenRequests; got != 3 {
		t.Errorf("half_open_requests = %d; want 3", got)
	}
	if got := u.Concurrency.QueueTimeout; got != 100*time.Millisecond {
		t.Errorf("queue_timeout = %v; want 100ms", got)
	}
	r := c.Routes[0]
	if r.Retry.Attempts != 3 || r.Retry.PerTryTimeout != 500*time.Millisecond {
		t.Errorf("retry = %+v; want attempts 3, per_try_timeout 500ms", r.Retry.Config)
	}
	if r.Retry.BudgetConfig == nil || r.Retry.BudgetConfig.Ratio != 0.2 {
		t.Errorf("retry budget = %+v; want ratio 0.2", r.Retry.BudgetConfig)
	}
	if r.RateLimit.RequestsPerSecond != 100 || r.RateLimit.Burst != 200 || r.RateLimit.Key != (RateLimitKey{Kind: KeyHeader, Header: "X-User-Id"}) {
		t.Errorf("rate_limit = %+v", r.RateLimit)
	}
	if h := c.Routes[1].Hedge; h == nil || h.Delay != 50*time.Millisecond || h.MaxExtra != 1 {
		t.Errorf("routes[1].hedge = %+v; want delay 50ms, max_extra 1", h)
	}
	if r.Fallback.Headers["content-type"] != "application/json" {
		t.Errorf("fallback headers = %v", r.Fallback.Headers)
	}
	if r.Fault.Abort.Status != 503 {
		t.Errorf("fault abort status = %d; want 503", r.Fault.Abort.Status)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte("upstreams:\n  a:\n    endpoints: [{address: http://127.0.0.1:1}]\nroutes:\n  - name: r\n    upstream: a\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Listen; len(got) != 1 || got[0] != DefaultListen {
		t.Errorf("listen = %v; want [%s]", got, DefaultListen)
	}
	if c.Admin.Listen != DefaultAdminListen {
		t.Errorf("admin.listen = %q", c.Admin.Listen)
	}
	r := c.Routes[0]
	if r.Timeout != DefaultRouteTimeout {
		t.Errorf("timeout = %v; want %v", r.Timeout, DefaultRouteTimeout)
	}
	if r.Retry == nil || r.Retry.RetryOn != DefaultRetryOn {
		t.Errorf("retry = %+v; want the default retry", r.Retry)
	}
	c2, err := Parse([]byte(base + "    retry: {retry_on: [5xx]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	// attempts left out is the library's default, whether or not the
	// route has a retry block: the file said 2 and Go 3.
	for _, c := range []*Config{c, c2} {
		rt, err := retry.New(c.Routes[0].Retry.Config)
		if err != nil {
			t.Fatal(err)
		}
		if got := rt.Config().Attempts; got != retry.DefaultAttempts {
			t.Errorf("attempts of a route that sets none = %d; want retry.DefaultAttempts, %d", got, retry.DefaultAttempts)
		}
	}
	if r.Retry.MaxBodyBytes != DefaultReplayBodyBytes {
		t.Errorf("max_body_bytes = %d", r.Retry.MaxBodyBytes)
	}
	if c.Limits.MaxBodyBytes != DefaultMaxBodyBytes || c.Drain.Delay != DefaultDrainDelay {
		t.Errorf("limits/drain defaults not applied: %+v %+v", c.Limits, c.Drain)
	}
}

const base = `upstreams:
  a:
    endpoints:
      - address: http://127.0.0.1:9001
routes:
  - name: r0
    upstream: a
`

var badConfigs = []struct {
	name string
	src  string
	want []string
}{
	{"unknown top-level key", "listn: x\n" + base, []string{`listn (line 1): unknown key (did you mean "listen"?)`}},
	{"unknown route key", base + "    timout: 1s\n", []string{`routes[0].timout (line 8): unknown key (did you mean "timeout"?)`}},
	{"bad duration", base + "    timeout: fast\n", []string{`routes[0].timeout (line 8): must be a duration such as 250ms or 2s, got "fast"`}},
	{"unknown upstream", "upstreams:\n  a:\n    endpoints: [{address: http://127.0.0.1:1}]\nroutes:\n  - name: r\n    upstream: b\n", []string{`routes[0].upstream (line 6): unknown upstream "b" (have a)`}},
	{"duplicate route", base + "  - name: r0\n    upstream: a\n", []string{`routes[1].name (line 8): duplicate route name "r0" (also routes[0])`}},
	{"empty endpoints", "upstreams:\n  a:\n    endpoints: []\nroutes:\n  - name: r\n    upstream: a\n", []string{`upstreams.a.endpoints (line 3): `}},
	{"tracing ratio", "tracing: {otlp_endpoint: http://127.0.0.1:4318, sampling_ratio: 1.5}\n" + base, []string{`tracing.sampling_ratio (line 1): must be in [0, 1], got 1.5`}},
	{"tracing endpoint scheme", "tracing: {otlp_endpoint: \"grpc://u:hunter2@collector:4317\"}\n" + base, []string{`tracing.otlp_endpoint (line 1): must be an http:// or https:// URL, got "grpc://u:xxxxx@collector:4317"`}},
	{"budget ratio", base + "    retry:\n      budget: {ratio: 1.5}\n", []string{`routes[0].retry.budget.ratio (line 9): must be in (0, 1], got 1.5`}},
	{"retry_on", base + "    retry:\n      retry_on: [5xx, sometimes]\n", []string{`routes[0].retry.retry_on[1] (line 9): unknown condition "sometimes"`}},
	{"breaker rate", "upstreams:\n  a:\n    endpoints: [{address: http://127.0.0.1:1}]\n    circuit_breaker: {failure_rate: 2}\nroutes:\n  - name: r\n    upstream: a\n", []string{`upstreams.a.circuit_breaker.failure_rate (line 4): `}},
	{"admin exposed", "admin: {listen: 0.0.0.0:9901}\n" + base, []string{`admin.listen (line 1): "0.0.0.0:9901" is not a loopback address; set admin.token_file`}},
	{"bad regex", base + "    match: {path_regex: '('}\n", []string{`routes[0].match.path_regex (line 8): invalid regular expression`}},
	{"rate limit key", base + "    rate_limit: {requests_per_second: 5, key: cookie}\n", []string{`routes[0].rate_limit.key (line 8): must be route, ip or header:NAME, got "cookie"`}},
	{"two errors in order", "upstreams:\n  a:\n    endpoints: [{address: http://127.0.0.1:1}]\nroutes:\n  - name: r\n    upstream: zz\n    timeout: -1s\n", []string{`routes[0].upstream (line 6): unknown upstream "zz"`, `routes[0].timeout (line 7): must not be negative, got -1s`}},
	{"yaml syntax", "routes: [\n", []string{`line 1: invalid YAML`}},
	{"no routes", "upstreams:\n  a:\n    endpoints: [{address: http://127.0.0.1:1}]\n", []string{`routes: at least one route is required`}},
	{"integer duration", base + "    timeout: 5\n", []string{`routes[0].timeout (line 8): must be a duration with a unit`}},
	{"fallback on", base + "    fallback: {on: [teapot]}\n", []string{`routes[0].fallback.on[0] (line 8): unknown condition "teapot"`}},
	{"header match without a condition", base + "    match: {headers: [{name: x-a}]}\n", []string{`routes[0].match.headers[0] (line 8): set one of exact, regex or present`}},
	{"retry budget key", "upstreams:\n  a:\n    endpoints: [{address: http://127.0.0.1:1}]\n    retry_budget: {ratio: 2}\nroutes:\n  - name: r\n    upstream: a\n", []string{`upstreams.a.retry_budget.ratio (line 4): must be in (0, 1], got 2`}},
	{"split and upstream", base + "    split: [{upstream: a, weight: 1}]\n", []string{`routes[0] (line 6): set upstream or split, not both`}},
	// Values of the wrong shape are reported with the errors in the rest of
	// the file, and without errors about what replaced them (a missing
	// upstream for a list in its place).
	{"shape and value errors together", base + "    timeout: 5\n    retry: {attempts: -1}\n  - name: r0\n    upstream: [a]\n", []string{
		`routes[0].timeout (line 8): must be a duration with a unit`,
		`routes[0].retry.attempts (line 9): `,
		`routes[1].name (line 10): duplicate route name "r0"`,
		`routes[1].upstream (line 11): must be a single value`,
	}},
}

func TestParseNamesKeyAndLine(t *testing.T) {
	for _, tt := range badConfigs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			checkErrors(t, err, tt.want, false)
		})
	}
}

// checkErrors checks that err, from Parse, is Errors whose first errors
// start with want, in order, and with exact that there are no others (and
// no error at all when want is empty). It returns the errors.
func checkErrors(t *testing.T, err error, want []string, exact bool) Errors {
	t.Helper()
	if len(want) == 0 && exact {
		if err != nil {
			t.Fatalf("Parse: %v; want no error", err)
		}
		return nil
	}
	if err == nil {
		t.Fatal("Parse succeeded; want errors")
	}
	es, ok := err.(Errors)
	if !ok {
		t.Fatalf("error type %T; want Errors", err)
	}
	if len(es) < len(want) || exact && len(es) != len(want) {
		t.Fatalf("got %d errors:\n%v\nwant %d:\n%s", len(es), err, len(want), strings.Join(want, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(es[i].Error(), w) {
			t.Errorf("error %d = %q; want prefix %q\nall:\n%v", i, es[i].Error(), w, err)
		}
	}
	return es
}

// FuzzParse feeds arbitrary files to the loader: it must never panic,
// every error it reports must name a path or a line, and the memory it
// allocates (and so the work it does) must stay in proportion to the
// input: at most 1 KiB a byte beyond a fixed 128 MiB, which covers what
// the aliases of a small file may expand to (MaxAliasValues). Dense input
// takes about 300 bytes a byte; a billion-laughs file took gigabytes.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("../examples/holdfast.yaml"); err == nil {
		f.Add(data)
	}
	for _, tt := range badConfigs {
		f.Add([]byte(tt.src))
	}
	for _, tt := range hostileConfigs {
		f.Add([]byte(tt.src))
	}
	f.Add([]byte(aliasedRetries(20)))
	f.Add(manyHeaders(20))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c *Config
		var err error
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c, err = Parse(data)
		runtime.ReadMemStats(&after)
		if got, most := after.TotalAlloc-before.TotalAlloc, uint64(128<<20+1024*len(data)); got > most {
			t.Fatalf("Parse of %d bytes allocated %d bytes; want at most %d", len(data), got, most)
		}
		if err == nil {
			if c == nil || len(c.Routes) == 0 {
				t.Fatalf("Parse returned no error and config %v", c)
			}
			return
		}
		es, ok := err.(Errors)
		if !ok {
			t.Fatalf("error type %T; want Errors", err)
		}
		for _, e := range es {
			if e.Path == "" && e.Line == 0 && !strings.HasPrefix(e.Msg, "invalid YAML") {
				t.Errorf("error without path or line: %q", e.Msg)
			}
		}
	})
}
