package proxy

import (
	"net/http"
	"testing"
)

// TestRetryAfterAboveMaxChargesNoBudget: an upstream answering 503 with a
// Retry-After above max_retry_after is not retried, and the budget counts no
// retry for it. Before the proxy used retry.DecideAt it took a budget token
// first: 5 such requests made 0 retries and the budget recorded 5.
func TestRetryAfterAboveMaxChargesNoBudget(t *testing.T) {
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	e := startProxy(t, yamlf(`
upstreams:
	u:
		endpoints: [{address: %s}]
		outlier_detection: {consecutive_failures: 1000}
routes:
	- name: all
		upstream: u
		retry: {attempts: 3, max_retry_after: 30s}
`, b.URL))
	for range 5 {
		r := e.get("/")
		if r.status != http.StatusServiceUnavailable || r.attempts() != "1" {
			t.Fatalf("status %d after %s attempts; want the upstream's 503 after 1", r.status, r.attempts())
		}
	}
	for _, us := range e.p.Status().Upstreams {
		if us.RetryBudget.Retries != 0 {
			t.Errorf("budget counted %d retries; want 0", us.RetryBudget.Retries)
		}
	}
}
