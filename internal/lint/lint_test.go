package lint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/holdfast-dev/holdfast/config"
)

// hopFile is one config file of a test: its name and YAML.
type hopFile struct{ name, src string }

// parseFiles writes each file into a fresh directory, reads it back as
// holdfast lint does and parses it; findings name files by base name.
func parseFiles(t testing.TB, files []hopFile) []*File {
	t.Helper()
	dir := t.TempDir()
	var out []*File
	for _, hf := range files {
		p := filepath.Join(dir, hf.name)
		if err := os.WriteFile(p, []byte(hf.src), 0o600); err != nil {
			t.Fatal(err)
		}
		data, err := config.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ParseFile(hf.name, data)
		if err != nil {
			t.Fatalf("%s: %v", hf.name, err)
		}
		out = append(out, f)
	}
	return out
}

// one is a file with one upstream and one route, for rules about a single
// route or upstream: the route's keys go after "upstream: app" (line 6),
// the upstream's after its endpoints (line 3).
func one(upstreamKeys, routeKeys string) string {
	return "upstreams:\n  app:\n    endpoints: [{address: http://127.0.0.1:9001}]\n" + upstreamKeys +
		"routes:\n  - name: r\n    upstream: app\n" + routeKeys
}

// proxyFile is a file listening on listen with one upstream "next" at address
// and one route "r" to it (line 6); the route's keys go from line 8.
func proxyFile(listen, address, routeKeys string) string {
	return "listen: " + listen + "\nupstreams:\n  next:\n    endpoints: [{address: " + address + "}]\n" +
		"routes:\n  - name: r\n    upstream: next\n" + routeKeys
}

const floors = "(their min_per_second floors still let a quiet hop retry every request). Retry at one hop and set attempts: 1 at the others"

var ruleTests = []struct {
	name  string
	files []hopFile
	opts  Options
	want  []Finding
}{
	{
		name:  "quiet",
		files: []hopFile{{"a.yaml", one("", "    match: {methods: [POST]}\n    retry: {attempts: 1}\n")}},
	},
	{
		name:  "one hop at the bound",
		files: []hopFile{{"a.yaml", one("", "")}},
	},
	{
		name: "amplification over two hops",
		files: []hopFile{
			{"edge.yaml", proxyFile("127.0.0.1:8080", "http://127.0.0.1:8081", "")},
			{"a.yaml", proxyFile("127.0.0.1:8081", "http://127.0.0.1:9001", "")},
		},
		want: []Finding{{
			File: "edge.yaml", Line: 6, Key: "routes[0]", Rule: RuleAmplification, Severity: Error,
			Message: `one request here may become 9 requests to upstream "next" of a.yaml, above the bound 3×: ` +
				`edge.yaml routes[0] (r) 3 attempts → a.yaml routes[0] (r) 3 attempts. When that upstream fails, each request here sends it all 9; ` +
				`once every hop's retry and hedge budgets bind, about 1.44× ` + floors,
		}},
	},
	{
		name: "amplification within a raised bound",
		files: []hopFile{
			{"edge.yaml", proxyFile("127.0.0.1:8080", "http://127.0.0.1:8081", "")},
			{"a.yaml", proxyFile("127.0.0.1:8081", "http://127.0.0.1:9001", "")},
		},
		opts: Options{MaxAmplification: 9},
	},
	{
		name:  "hedged attempts multiply",
		files: []hopFile{{"a.yaml", one("", "    hedge: {delay: 100ms}\n")}},
		want: []Finding{{
			File: "a.yaml", Line: 5, Key: "routes[0]", Rule: RuleAmplification, Severity: Error,
			Message: `one request here may become 6 requests to upstream "app" of a.yaml, above the bound 3×: ` +
				`a.yaml routes[0] (r) 3 attempts × 2 (hedge). When that upstream fails, each request here sends it all 6; ` +
				`once every hop's retry and hedge budgets bind, about 1.32× ` + floors,
		}},
	},
	{
		name:  "a POST route repeats keyed requests",
		files: []hopFile{{"a.yaml", one("", "    match: {methods: [POST]}\n    hedge: {max_extra: 1}\n")}},
		want: []Finding{
			{
				File: "a.yaml", Line: 5, Key: "routes[0]", Rule: RuleAmplification, Severity: Error,
				Message: `one request here may become 6 requests to upstream "app" of a.yaml, above the bound 3× ` +
					`(for requests with an Idempotency-Key: the path takes only methods the proxy does not otherwise repeat): ` +
					`a.yaml routes[0] (r) 3 attempts × 2 (hedge). When that upstream fails, each request here sends it all 6; ` +
					`once every hop's retry and hedge budgets bind, about 1.32× ` + floors,
			},
			{
				File: "a.yaml", Line: 7, Key: "routes[0].match.methods[0]", Rule: RuleNonIdempotent, Severity: Warning,
				Message: "POST requests that carry an Idempotency-Key header are retried (up to 3 attempts) and hedged (up to 1 extra), " +
					"and others are sent once: the upstream must treat a repeated key as one request, or a repeat runs the POST twice (set attempts: 1 if it cannot)",
			},
		},
	},
	{
		name:  "non-idempotent methods among others",
		files: []hopFile{{"a.yaml", one("", "    match:\n      methods: [GET, post, PATCH]\n    retry: {attempts: 2}\n")}},
		want: []Finding{{
			File: "a.yaml", Line: 8, Key: "routes[0].match.methods[1]", Rule: RuleNonIdempotent, Severity: Warning,
			Message: "POST, PATCH requests that carry an Idempotency-Key header are retried (up to 2 attempts), " +
				"and others are sent once: the upstream must treat a repeated key as one request, or a repeat runs the POST twice (set attempts: 1 if it cannot)",
		}},
	},
	{
		name: "inner timeout longer than the caller's",
		files: []hopFile{
			{"edge.yaml", proxyFile("127.0.0.1:8080", "http://127.0.0.1:8081", "    timeout: 1s\n    retry: {attempts: 1}\n")},
			{"a.yaml", proxyFile("127.0.0.1:8081", "http://127.0.0.1:9001", "    retry: {attempts: 1}\n")},
		},
		want: []Finding{{
			File: "a.yaml", Line: 6, Key: "routes[0].timeout", Rule: RuleTimeoutInversion, Severity: Error,
			Message: "15s (the default) is longer than the timeout 1s of edge.yaml routes[0] (r), which calls this route: " +
				"the caller gives up first, and this hop goes on working, and retrying, for an answer no one reads (make it shorter than the caller's)",
		}},
	},
	{
		name: "inner timeout longer than the caller's per-try timeout",
		files: []hopFile{
			{"edge.yaml", proxyFile("127.0.0.1:8080", "http://127.0.0.1:8081", "    timeout: 10s\n    retry: {attempts: 2, per_try_timeout: 1s}\n")},
			{"a.yaml", proxyFile("127.0.0.1:8081", "http://127.0.0.1:9001", "    timeout: 5s\n    retry: {attempts: 1}\n")},
		},
		want: []Finding{{
			File: "a.yaml", Line: 8, Key: "routes[0].timeout", Rule: RuleTimeoutInversion, Severity: Error,
			Message: "5s is longer than the per_try_timeout 1s of edge.yaml routes[0] (r), which calls this route: " +
				"the caller's attempt gives up and retries while this hop still works on the last one, so this hop can hold up to 2 requests for one of the caller's (make it shorter than per_try_timeout)",
		}},
	},
	{
		name: "one finding for a route many routes call",
		files: []hopFile{
			{"edge.yaml", "listen: 127.0.0.1:8080\nupstreams:\n  a: {endpoints: [{address: http://127.0.0.1:8081}]}\nroutes:\n" +
				"  - {name: slow, match: {path: /x}, upstream: a, timeout: 4s, retry: {attempts: 1}}\n" +
				"  - {name: quick, match: {path: /y}, upstream: a, timeout: 3s, retry: {attempts: 1, per_try_timeout: 2s}}\n" +
				"  - {name: quickest, match: {path: /z}, upstream: a, timeout: 1s, retry: {attempts: 1}}\n" +
				"  - {name: patient, match: {path: /w}, upstream: a, timeout: 9s, retry: {attempts: 1}}\n"},
			{"a.yaml", proxyFile("127.0.0.1:8081", "http://127.0.0.1:9001", "    timeout: 5s\n    retry: {attempts: 1}\n")},
		},
		want: []Finding{{
			File: "a.yaml", Line: 8, Key: "routes[0].timeout", Rule: RuleTimeoutInversion, Severity: Error,
			Message: "5s is longer than the timeout 1s of edge.yaml routes[2] (quickest), which calls this route (and 2 other routes that call it): " +
				"the caller gives up first, and this hop goes on working, and retrying, for an answer no one reads (make it shorter than the caller's)",
		}},
	},
	{
		name:  "attempts do not fit in the route timeout",
		files: []hopFile{{"a.yaml", one("", "    timeout: 1s\n    retry:\n      attempts: 3\n      per_try_timeout: 500ms\n")}},
		want: []Finding{{
			File: "a.yaml", Line: 10, Key: "routes[0].retry.per_try_timeout", Rule: RuleRetryExceedsTimeout, Severity: Error,
			Message: "3 attempts × 500ms per try + up to 75ms of backoff = 1.575s, longer than the route timeout 1s: " +
				"only 1 whole attempt fits, and the route timeout cuts the rest short or leaves them out (fewer attempts, a shorter per_try_timeout or a longer timeout)",
		}},
	},
	{
		name:  "attempts do not fit in the default timeout, decorrelated backoff",
		files: []hopFile{{"a.yaml", one("", "    retry:\n      attempts: 3\n      per_try_timeout: 5s\n      backoff: {base: 1s, max: 10s, jitter: decorrelated}\n")}},
		want: []Finding{{
			// Waits at their caps: 3 × 1s, then 3 × 3s.
			File: "a.yaml", Line: 9, Key: "routes[0].retry.per_try_timeout", Rule: RuleRetryExceedsTimeout, Severity: Error,
			Message: "3 attempts × 5s per try + up to 12s of backoff = 27s, longer than the route timeout 15s (the default): " +
				"only 2 whole attempts fit, and the route timeout cuts the rest short or leaves them out (fewer attempts, a shorter per_try_timeout or a longer timeout)",
		}},
	},
	{
		name:  "a billion attempts take no time to count",
		files: []hopFile{{"a.yaml", one("", "    retry: {attempts: 1000000000, per_try_timeout: 1ns}\n")}},
		want: []Finding{
			{
				File: "a.yaml", Line: 5, Key: "routes[0]", Rule: RuleAmplification, Severity: Error,
				Message: `one request here may become 1e+09 requests to upstream "app" of a.yaml, above the bound 3×: ` +
					`a.yaml routes[0] (r) 1000000000 attempts. When that upstream fails, each request here sends it all 1e+09; ` +
					`once every hop's retry and hedge budgets bind, about 1.2× ` + floors,
			},
			{
				// Waits of 25ms, 50ms, ... 800ms, then 1s each: 20 attempts
				// take 20ns + 1.575s + 13 × 1s.
				File: "a.yaml", Line: 7, Key: "routes[0].retry.per_try_timeout", Rule: RuleRetryExceedsTimeout, Severity: Error,
				Message: "1000000000 attempts × 1ns per try + up to 277777h46m34.575s of backoff = 277777h46m35.575s, longer than the route timeout 15s (the default): " +
					"only 20 whole attempts fit, and the route timeout cuts the rest short or leaves them out (fewer attempts, a shorter per_try_timeout or a longer timeout)",
			},
		},
	},
	{
		name:  "route budget that never refuses",
		files: []hopFile{{"a.yaml", one("", "    retry:\n      attempts: 2\n      budget: {ratio: 1}\n")}},
		want: []Finding{{
			File: "a.yaml", Line: 9, Key: "routes[0].retry.budget.ratio", Rule: RuleRetryBudget, Severity: Warning,
			Message: `the retry budget (ratio 1) of routes[0]'s retries to upstream "app" grants at least as many retries as a request can make (1): ` +
				"it never refuses one, so a failing upstream gets every attempt of every request (lower the ratio)",
		}},
	},
	{
		name:  "upstream budget that never refuses",
		files: []hopFile{{"a.yaml", one("    retry_budget:\n      ratio: 1\n", "    retry: {attempts: 2}\n")}},
		want: []Finding{{
			File: "a.yaml", Line: 5, Key: "upstreams.app.retry_budget.ratio", Rule: RuleRetryBudget, Severity: Warning,
			Message: `the retry budget (ratio 1) of routes[0]'s retries to upstream "app" grants at least as many retries as a request can make (1): ` +
				"it never refuses one, so a failing upstream gets every attempt of every request (lower the ratio)",
		}},
	},
	{
		name:  "a budget that binds",
		files: []hopFile{{"a.yaml", one("    retry_budget: {ratio: 1}\n", "")}},
	},
	{
		name:  "hedge budget that never runs out",
		files: []hopFile{{"a.yaml", one("", "    retry: {attempts: 1}\n    hedge:\n      max_extra: 2\n      budget_percent: 200\n")}},
		want: []Finding{{
			File: "a.yaml", Line: 10, Key: "routes[0].hedge.budget_percent", Rule: RuleHedgeBudget, Severity: Warning,
			Message: "budget_percent 200 with max_extra 2 lets every request send its 2 extra attempts: the hedge budget never runs out, " +
				"so a slow upstream gets 3 times the requests (keep budget_percent well below 100 × max_extra; the default is 10)",
		}},
	},
	{
		name:  "hedge delay past the per-try timeout",
		files: []hopFile{{"a.yaml", one("", "    retry: {attempts: 1, per_try_timeout: 500ms}\n    hedge: {delay: 500ms}\n")}},
		want: []Finding{{
			File: "a.yaml", Line: 8, Key: "routes[0].hedge.delay", Rule: RuleHedgeDelay, Severity: Warning,
			Message: "hedge delay 500ms is not shorter than per_try_timeout 500ms: an attempt ends before a hedge would start, so the hedge never sends one",
		}},
	},
	{
		name:  "hedge min_delay past the route timeout",
		files: []hopFile{{"a.yaml", one("", "    timeout: 1s\n    retry: {attempts: 1}\n    hedge: {percentile: 0.9, min_delay: 2s}\n")}},
		want: []Finding{{
			File: "a.yaml", Line: 9, Key: "routes[0].hedge.min_delay", Rule: RuleHedgeDelay, Severity: Warning,
			Message: "hedge min_delay 2s is not shorter than the route timeout 1s: an attempt ends before a hedge would start, so the hedge never sends one",
		}},
	},
	{
		name: "ejection that never happens",
		files: []hopFile{{"a.yaml", "upstreams:\n  app:\n    endpoints:\n      - address: http://127.0.0.1:9001\n      - address: http://127.0.0.1:9002\n" +
			"    outlier_detection:\n      max_ejection_percent: 40\nroutes:\n  - {name: r, upstream: app}\n"}},
		want: []Finding{{
			File: "a.yaml", Line: 7, Key: "upstreams.app.outlier_detection.max_ejection_percent", Rule: RuleEjectionNever, Severity: Warning,
			Message: "max_ejection_percent 40 of 2 endpoints is less than one endpoint, so outlier detection never ejects any: set it to at least 50, or disabled: true to say so",
		}},
	},
	{
		name: "ejection of every endpoint",
		files: []hopFile{{"a.yaml", "upstreams:\n  app:\n    endpoints: [{address: http://127.0.0.1:9001}, {address: http://127.0.0.1:9002}]\n" +
			"    outlier_detection: {max_ejection_percent: 100}\nroutes:\n  - {name: r, upstream: app}\n"}},
		want: []Finding{{
			File: "a.yaml", Line: 4, Key: "upstreams.app.outlier_detection.max_ejection_percent", Rule: RuleEjectionAll, Severity: Warning,
			Message: "max_ejection_percent 100 lets outlier detection eject all 2 endpoints; with none usable the upstream goes into panic mode " +
				"and sends to every endpoint, the failing ones too: keep it below 100 (the default is 50)",
		}},
	},
	{
		name: "ejection settings that do not matter",
		files: []hopFile{
			{"a.yaml", one("    outlier_detection: {max_ejection_percent: 10}\n    health_check: {unhealthy_threshold: 1}\n", "")},
			{"b.yaml", "upstreams:\n  app:\n    endpoints: [{address: http://127.0.0.1:9001}, {address: http://127.0.0.1:9002}]\n" +
				"    outlier_detection: {disabled: true, max_ejection_percent: 10}\nroutes:\n  - {name: r, upstream: app}\n"},
		},
	},
	{
		name: "health check on one failure",
		files: []hopFile{{"a.yaml", "upstreams:\n  app:\n    endpoints: [{address: http://127.0.0.1:9001}, {address: http://127.0.0.1:9002}]\n" +
			"    health_check:\n      unhealthy_threshold: 1\nroutes:\n  - {name: r, upstream: app}\n"}},
		want: []Finding{{
			File: "a.yaml", Line: 5, Key: "upstreams.app.health_check.unhealthy_threshold", Rule: RuleHealthHairTrigger, Severity: Warning,
			Message: "one failed health check marks an endpoint unhealthy, and health checks are not bounded by max_ejection_percent: " +
				"one bad round (a lost packet, a pause past the 1s timeout, a shared dependency of the check path) takes all 2 endpoints out at once, " +
				"into panic mode (the default unhealthy_threshold is 3)",
		}},
	},
	{
		name:  "a proxy that calls itself",
		files: []hopFile{{"a.yaml", proxyFile("127.0.0.1:8080", "http://localhost:8080", "    retry: {attempts: 1}\n")}},
		want: []Finding{{
			File: "a.yaml", Line: 7, Key: "routes[0].upstream", Rule: RuleLinkCycle, Severity: Error,
			Message: `upstream "next" calls a.yaml, which is already on this path (a.yaml → a.yaml): a request goes round until its timeout, each hop retrying it`,
		}},
	},
	{
		name: "two proxies that call each other",
		files: []hopFile{
			{"a.yaml", proxyFile("127.0.0.1:8080", "http://127.0.0.1:8081", "    retry: {attempts: 1}\n")},
			{"b.yaml", proxyFile("127.0.0.1:8081", "http://127.0.0.1:8080", "    retry: {attempts: 1}\n")},
		},
		want: []Finding{
			{
				File: "a.yaml", Line: 7, Key: "routes[0].upstream", Rule: RuleLinkCycle, Severity: Error,
				Message: `upstream "next" calls b.yaml, which is already on this path (b.yaml → a.yaml → b.yaml): a request goes round until its timeout, each hop retrying it`,
			},
			{
				File: "b.yaml", Line: 7, Key: "routes[0].upstream", Rule: RuleLinkCycle, Severity: Error,
				Message: `upstream "next" calls a.yaml, which is already on this path (a.yaml → b.yaml → a.yaml): a request goes round until its timeout, each hop retrying it`,
			},
		},
	},
	{
		name: "no route takes the caller's requests",
		files: []hopFile{
			{"edge.yaml", proxyFile("127.0.0.1:8080", "http://127.0.0.1:8081", "    match: {path_prefix: /orders, methods: [GET]}\n    retry: {attempts: 1}\n")},
			{"a.yaml", proxyFile("127.0.0.1:8081", "http://127.0.0.1:9001", "    match: {path_prefix: /catalog}\n    retry: {attempts: 1}\n")},
		},
		want: []Finding{{
			File: "edge.yaml", Line: 7, Key: "routes[0].upstream", Rule: RuleLinkNoRoute, Severity: Warning,
			Message: `upstream "next" calls a.yaml, where no route takes the requests of routes[0] (path_prefix /orders; methods GET): they get 404 no_route there`,
		}},
	},
	{
		name: "a long-lived route calling one that is not",
		files: []hopFile{
			{"edge.yaml", proxyFile("127.0.0.1:8080", "http://127.0.0.1:8081", "    long_lived: true\n    retry: {attempts: 1}\n")},
			{"a.yaml", proxyFile("127.0.0.1:8081", "http://127.0.0.1:9001", "    retry: {attempts: 1}\n")},
		},
		want: []Finding{{
			File: "a.yaml", Line: 6, Key: "routes[0]", Rule: RuleLongLivedMismatch, Severity: Warning,
			Message: "edge.yaml routes[0] (r) is long_lived and calls this route, which is not: this hop cuts every stream at its timeout 15s (set long_lived: true here too)",
		}},
	},
	{
		name: "a long-lived route called by one that is not",
		files: []hopFile{
			{"edge.yaml", proxyFile("127.0.0.1:8080", "http://127.0.0.1:8081", "    retry: {attempts: 1}\n")},
			{"a.yaml", proxyFile("127.0.0.1:8081", "http://127.0.0.1:9001", "    long_lived: true\n    retry: {attempts: 1}\n")},
		},
		want: []Finding{{
			File: "a.yaml", Line: 8, Key: "routes[0].long_lived", Rule: RuleLongLivedMismatch, Severity: Warning,
			Message: "this route is long_lived, but edge.yaml routes[0] (r), which calls it, is not: the caller cuts every stream at its timeout 15s (set long_lived: true there too)",
		}},
	},
	{
		name: "an explicit link",
		files: []hopFile{
			{"edge.yaml", proxyFile("127.0.0.1:8080", "http://10.1.2.3", "    timeout: 1s\n    retry: {attempts: 1}\n")},
			{"a.yaml", proxyFile("127.0.0.1:8081", "http://127.0.0.1:9001", "    retry: {attempts: 1}\n")},
		},
		opts: Options{Links: []Link{{From: "edge.yaml", Upstream: "next", To: "a.yaml"}}},
		want: []Finding{{
			File: "a.yaml", Line: 6, Key: "routes[0].timeout", Rule: RuleTimeoutInversion, Severity: Error,
			Message: "15s (the default) is longer than the timeout 1s of edge.yaml routes[0] (r), which calls this route: " +
				"the caller gives up first, and this hop goes on working, and retrying, for an answer no one reads (make it shorter than the caller's)",
		}},
	},
	{
		name: "an explicit link to none",
		files: []hopFile{
			{"edge.yaml", proxyFile("127.0.0.1:8080", "http://127.0.0.1:8081", "    timeout: 1s\n    retry: {attempts: 1}\n")},
			{"a.yaml", proxyFile("127.0.0.1:8081", "http://127.0.0.1:9001", "    retry: {attempts: 1}\n")},
		},
		opts: Options{Links: []Link{{From: "edge.yaml", Upstream: "next"}}},
	},
	{
		name: "linked by name and by a wildcard listener",
		files: []hopFile{
			{"edge.yaml", proxyFile("127.0.0.1:8080", "http://Service-A", "    timeout: 1s\n    retry: {attempts: 1}\n")},
			{"service-a.yaml", proxyFile(":8081", "http://127.0.0.1:8081", "    timeout: 2s\n    retry: {attempts: 1}\n")},
			{"b.yaml", proxyFile("0.0.0.0:8081", "http://127.0.0.1:9001", "    timeout: 3s\n    retry: {attempts: 1}\n")},
		},
		want: []Finding{
			{
				File: "service-a.yaml", Line: 7, Key: "routes[0].upstream", Rule: RuleLinkCycle, Severity: Error,
				Message: `upstream "next" calls service-a.yaml, which is already on this path (service-a.yaml → service-a.yaml): a request goes round until its timeout, each hop retrying it`,
			},
			{
				File: "service-a.yaml", Line: 8, Key: "routes[0].timeout", Rule: RuleTimeoutInversion, Severity: Error,
				Message: "2s is longer than the timeout 1s of edge.yaml routes[0] (r), which calls this route: " +
					"the caller gives up first, and this hop goes on working, and retrying, for an answer no one reads (make it shorter than the caller's)",
			},
			{
				File: "b.yaml", Line: 8, Key: "routes[0].timeout", Rule: RuleTimeoutInversion, Severity: Error,
				Message: "3s is longer than the timeout 2s of service-a.yaml routes[0] (r), which calls this route: " +
					"the caller gives up first, and this hop goes on working, and retrying, for an answer no one reads (make it shorter than the caller's)",
			},
		},
	},
	{
		name: "a split with one linked share",
		files: []hopFile{
			{"edge.yaml", "listen: 127.0.0.1:8080\nupstreams:\n  v1: {endpoints: [{address: http://127.0.0.1:8081}]}\n  v2: {endpoints: [{address: http://127.0.0.1:9002}]}\n" +
				"routes:\n  - name: r\n    split: [{upstream: v1, weight: 9}, {upstream: v2, weight: 1}]\n    retry: {attempts: 2}\n"},
			{"a.yaml", proxyFile("127.0.0.1:8081", "http://127.0.0.1:9001", "    retry: {attempts: 2}\n")},
		},
		want: []Finding{{
			File: "edge.yaml", Line: 6, Key: "routes[0]", Rule: RuleAmplification, Severity: Error,
			Message: `one request here may become 4 requests to upstream "next" of a.yaml, above the bound 3×: ` +
				`edge.yaml routes[0] (r) 2 attempts → a.yaml routes[0] (r) 2 attempts. When that upstream fails, each request here sends it all 4; ` +
				`once every hop's retry and hedge budgets bind, about 1.44× ` + floors,
		}},
	},
	{
		name: "only the routes a request can reach",
		files: []hopFile{
			{"edge.yaml", proxyFile("127.0.0.1:8080", "http://127.0.0.1:8081", "    match: {path_prefix: /catalog/items, methods: [GET]}\n    retry: {attempts: 2}\n")},
			{"a.yaml", "listen: 127.0.0.1:8081\nupstreams:\n  db: {endpoints: [{address: http://127.0.0.1:9001}]}\nroutes:\n" +
				"  - {name: writes, match: {methods: [PUT]}, upstream: db, retry: {attempts: 3}}\n" +
				"  - {name: other, match: {path: /health}, upstream: db, retry: {attempts: 3}}\n" +
				"  - {name: catalog, match: {path_prefix: /catalog}, upstream: db, retry: {attempts: 2}}\n" +
				"  - {name: rest, upstream: db, retry: {attempts: 3}}\n"},
		},
		want: []Finding{{
			File: "edge.yaml", Line: 6, Key: "routes[0]", Rule: RuleAmplification, Severity: Error,
			Message: `one request here may become 4 requests to upstream "db" of a.yaml, above the bound 3×: ` +
				`edge.yaml routes[0] (r) 2 attempts → a.yaml routes[2] (catalog) 2 attempts. When that upstream fails, each request here sends it all 4; ` +
				`once every hop's retry and hedge budgets bind, about 1.44× ` + floors,
		}},
	},
}

func TestLintRules(t *testing.T) {
	for _, tt := range ruleTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Lint(parseFiles(t, tt.files), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLintBadLinks(t *testing.T) {
	files := []hopFile{
		{"a.yaml", proxyFile("127.0.0.1:8080", "http://127.0.0.1:8081", "")},
		{"b.yaml", proxyFile("127.0.0.1:8081", "http://127.0.0.1:9001", "")},
	}
	tests := []struct {
		link Link
		want string
	}{
		{Link{"c.yaml", "next", "b.yaml"}, `lint: bad link: no file "c.yaml" among the configs`},
		{Link{"a.yaml", "nope", "b.yaml"}, `lint: bad link: a.yaml has no upstream "nope"`},
		{Link{"a.yaml", "next", "dir/c.yaml"}, `lint: bad link: no file "dir/c.yaml" among the configs`},
	}
	parsed := parseFiles(t, files)
	for _, tt := range tests {
		got, err := Lint(parsed, Options{Links: []Link{tt.link}})
		if !errors.Is(err, ErrLink) || err.Error() != tt.want || got != nil {
			t.Errorf("Lint with link %+v = %v, %v; want nil, %q", tt.link, got, err, tt.want)
		}
	}
	// Two files with one base name: a link by base name is ambiguous, by
	// full name it is not.
	twins := []*File{{Name: "x/a.yaml", Config: parsed[0].Config}, {Name: "y/a.yaml", Config: parsed[1].Config}}
	if _, err := Lint(twins, Options{Links: []Link{{"a.yaml", "next", "y/a.yaml"}}}); !errors.Is(err, ErrLink) ||
		err.Error() != `lint: bad link: "a.yaml" names both x/a.yaml and y/a.yaml` {
		t.Errorf("ambiguous link: got %v", err)
	}
	if _, err := Lint(twins, Options{Links: []Link{{"x/a.yaml", "next", "y/a.yaml"}}}); err != nil {
		t.Errorf("link by full name: got %v; want nil", err)
	}
}

func TestLintTooManyPaths(t *testing.T) {
	// Three hops of 50 routes, each taking any request with its own
	// header: every route of a hop may take every request of the hop
	// before, so there are 50 × 50 × 50 paths.
	var files []hopFile
	for i, name := range []string{"a.yaml", "b.yaml", "c.yaml"} {
		var b strings.Builder
		fmt.Fprintf(&b, "listen: 127.0.0.1:%d\nupstreams:\n  next: {endpoints: [{address: http://127.0.0.1:%d}]}\nroutes:\n", 8080+i, 8081+i)
		for r := range 50 {
			b.WriteString("  - {name: r" + strconv.Itoa(r) + ", match: {headers: [{name: X-" + strconv.Itoa(r) + ", present: true}]}, upstream: next, retry: {attempts: 1}}\n")
		}
		files = append(files, hopFile{name, b.String()})
	}
	got, err := Lint(parseFiles(t, files), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{{
		File: "a.yaml", Rule: RuleTooManyPaths, Severity: Warning,
		Message: "the routes make more than 100000 hops along their paths; the paths past that were not checked for retry amplification or loops",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestLintTooManyRoutePairs(t *testing.T) {
	// Two hops of 1500 routes that each may take any request of the
	// other: 2.25 million pairs, past the bound.
	var files []hopFile
	for i, name := range []string{"a.yaml", "b.yaml"} {
		var b strings.Builder
		fmt.Fprintf(&b, "listen: 127.0.0.1:%d\nupstreams:\n  next: {endpoints: [{address: http://127.0.0.1:%d}]}\nroutes:\n", 8080+i, 8081+i)
		for r := range 1500 {
			fmt.Fprintf(&b, "  - {name: r%d, match: {headers: [{name: X-%d, present: true}]}, upstream: next, retry: {attempts: 1}}\n", r, r)
		}
		files = append(files, hopFile{name, b.String()})
	}
	got, err := Lint(parseFiles(t, files), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{
		{
			File: "a.yaml", Rule: RuleTooManyPaths, Severity: Warning,
			Message: "the files' routes make more than 2097152 pairs of a route and a route it calls; the pairs past that were not checked",
		},
		{
			File: "a.yaml", Rule: RuleTooManyPaths, Severity: Warning,
			Message: "the routes make more than 100000 hops along their paths; the paths past that were not checked for retry amplification or loops",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestLintConfigFindings(t *testing.T) {
	src := "upstreams:\n  app:\n    endpoints: [{address: \"ftp://user:hunter2@127.0.0.1\"}]\nroutes:\n  - name: r\n    upstream: app\n    timeout: 5\n"
	_, err := ParseFile("a.yaml", []byte(src))
	got := ConfigFindings("a.yaml", err)
	want := []Finding{
		{File: "a.yaml", Line: 3, Key: "upstreams.app.endpoints[0].address", Rule: RuleConfig, Severity: Error,
			Message: `must be an http:// or https:// URL, got "ftp://user:xxxxx@127.0.0.1"`},
		{File: "a.yaml", Line: 7, Key: "routes[0].timeout", Rule: RuleConfig, Severity: Error,
			Message: "must be a duration with a unit, such as 5s or 5ms, got 5"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ConfigFindings (-want +got):\n%s", diff)
	}
	got = ConfigFindings("a.yaml", errors.New("read a.yaml: boom"))
	want = []Finding{{File: "a.yaml", Rule: RuleConfig, Severity: Error, Message: "read a.yaml: boom"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ConfigFindings of a plain error (-want +got):\n%s", diff)
	}
}

func TestLintFindingString(t *testing.T) {
	tests := []struct {
		f    Finding
		want string
	}{
		{Finding{File: "a.yaml", Line: 3, Key: "routes[0]", Rule: "r", Message: "m"}, "a.yaml:3: routes[0]: m [r]"},
		{Finding{File: "a.yaml", Key: "routes[0]", Rule: "r", Message: "m"}, "a.yaml: routes[0]: m [r]"},
		{Finding{File: "a.yaml", Rule: "r", Message: "m"}, "a.yaml: m [r]"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("%+v.String() = %q; want %q", tt.f, got, tt.want)
		}
	}
}

func TestLintSeverityText(t *testing.T) {
	for _, s := range []Severity{Warning, Error} {
		b, _ := s.MarshalText()
		var back Severity
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%v round trip: got %v, %v", s, back, err)
		}
	}
	var s Severity
	if err := s.UnmarshalText([]byte("fatal")); err == nil {
		t.Error(`UnmarshalText("fatal") = nil; want an error`)
	}
}
