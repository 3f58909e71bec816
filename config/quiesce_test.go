package config

import (
	"testing"
	"time"
)

func TestQuiesceParse(t *testing.T) {
	tests := []struct {
		name, src string
		want      Quiesce
	}{
		{"defaults", "    quiesce: {}\n", Quiesce{After: DefaultQuiesceAfter, MinRequests: DefaultQuiesceMinRequests,
			ProbeInterval: DefaultQuiesceProbeInterval, RecoveryProbes: DefaultQuiesceRecoveryProbes, WebhookTimeout: DefaultQuiesceWebhookTimeout}},
		{"every key", "    quiesce: {after: 30s, min_requests: 10, probe_interval: 5s, recovery_probes: 2, webhook: 'https://ops.example/hook', webhook_timeout: 1s, fail_readyz: true, probe_path: '/accounts/probe?id=7'}\n",
			Quiesce{After: 30 * time.Second, MinRequests: 10, ProbeInterval: 5 * time.Second, RecoveryProbes: 2, Webhook: "https://ops.example/hook", WebhookTimeout: time.Second, FailReadyz: true, ProbePath: "/accounts/probe?id=7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(withChecks("    checks: [{status: [200]}]\n" + tt.src)))
			if err != nil {
				t.Fatal(err)
			}
			if got := *c.Routes[0].Quiesce; got != tt.want {
				t.Errorf("quiesce = %+v; want %+v", got, tt.want)
			}
		})
	}
}

var badQuiesceConfigs = []struct {
	name, src string
	want      []string
}{
	{"without checks or vote", withChecks("    quiesce: {after: 1s}\n"),
		[]string{"routes[0].quiesce (line 6): needs checks or vote"}},
	{"bounds", withChecks("    checks: [{status: [200]}]\n    quiesce:\n      after: -1s\n      min_requests: 20000\n      probe_interval: -2s\n      recovery_probes: -1\n      webhook_timeout: -1s\n"),
		[]string{"routes[0].quiesce.after (line 8): must not be negative, got -1s",
			"routes[0].quiesce.min_requests (line 9): must be in [1, 10000], got 20000",
			"routes[0].quiesce.probe_interval (line 10): must not be negative, got -2s",
			"routes[0].quiesce.recovery_probes (line 11): must be in [1, 10000], got -1",
			"routes[0].quiesce.webhook_timeout (line 12): must not be negative, got -1s"}},
	{"webhook scheme", withChecks("    checks: [{status: [200]}]\n    quiesce: {webhook: 'ftp://u:secret@ops/hook'}\n"),
		[]string{`routes[0].quiesce.webhook (line 7): must be an http:// or https:// URL, got "ftp://u:xxxxx@ops/hook"`}},
	{"webhook without a host", withChecks("    checks: [{status: [200]}]\n    quiesce: {webhook: 'http:///hook'}\n"),
		[]string{`routes[0].quiesce.webhook (line 7): must be an http:// or https:// URL`}},
	{"probe path", withChecks("    checks: [{status: [200]}]\n    quiesce:\n      probe_path: accounts/probe\n"),
		[]string{`routes[0].quiesce.probe_path (line 8): must start with /, got "accounts/probe"`}},
	{"probe path on a vote route", `upstreams:
  a: {endpoints: [{address: http://127.0.0.1:1}]}
  b: {endpoints: [{address: http://127.0.0.1:2}]}
routes:
  - name: q
    vote: {upstreams: [a, b]}
    quiesce: {probe_path: /q/probe}
`, []string{"routes[0].quiesce.probe_path (line 7): a vote route is probed by trial requests"}},
	{"unknown key", withChecks("    checks: [{status: [200]}]\n    quiesce: {afterr: 1s}\n"),
		[]string{`routes[0].quiesce.afterr (line 7): unknown key`}},
}

func TestQuiesceErrorsNameKeyAndLine(t *testing.T) {
	for _, tt := range badQuiesceConfigs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			checkErrors(t, err, tt.want, true)
		})
	}
}

// FuzzParseQuiesce: whatever parses is a quiesce block the proxy can run,
// on a route with checks or a vote.
func FuzzParseQuiesce(f *testing.F) {
	for _, tt := range badQuiesceConfigs {
		f.Add([]byte(tt.src))
	}
	f.Add([]byte(withChecks("    checks: [{status: [200]}]\n    quiesce: {after: 30s, min_requests: 10, webhook: 'http://127.0.0.1:9/hook'}\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		for _, rt := range c.Routes {
			q := rt.Quiesce
			if q == nil {
				continue
			}
			if len(rt.Checks) == 0 && rt.Vote == nil || q.After <= 0 || q.ProbeInterval <= 0 || q.WebhookTimeout <= 0 ||
				q.MinRequests < 1 || q.MinRequests > maxQuiesceCount || q.RecoveryProbes < 1 || q.RecoveryProbes > maxQuiesceCount {
				t.Errorf("parsed quiesce %+v on route %+v", q, rt)
			}
		}
	})
}

// TestQuiesceInheritsTheGlobalWebhook: a route's quiesce block without a
// webhook takes the top-level quiesce block's, and its timeout; one with
// its own keeps it.
func TestQuiesceInheritsTheGlobalWebhook(t *testing.T) {
	src := "quiesce: {webhook: 'https://ops.example/all', webhook_timeout: 5s}\n" + checksBase +
		"    checks: [{status: [200]}]\n    quiesce: {}\n" +
		"  - name: own\n    upstream: accounts\n    checks: [{status: [200]}]\n    quiesce: {webhook: 'https://ops.example/own', webhook_timeout: 1s}\n"
	c, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		url     string
		timeout time.Duration
	}{{"https://ops.example/all", 5 * time.Second}, {"https://ops.example/own", time.Second}} {
		if q := c.Routes[i].Quiesce; q.Webhook != want.url || q.WebhookTimeout != want.timeout {
			t.Errorf("routes[%d].quiesce webhook %q, timeout %s; want %q, %s", i, q.Webhook, q.WebhookTimeout, want.url, want.timeout)
		}
	}
	_, err = Parse([]byte("quiesce: {webhook: 'mailto:ops@example', webhook_timeout: -1s}\n" + checksBase))
	checkErrors(t, err, []string{
		"quiesce.webhook_timeout (line 1): must not be negative, got -1s",
		`quiesce.webhook (line 1): must be an http:// or https:// URL, got "mailto:ops@example"`,
	}, true)
}
