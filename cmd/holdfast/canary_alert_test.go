package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/internal/alert"
	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// canaryAlertConfig is a canary route whose steps last a second, alerts
// evaluated every second and a webhook told about P1, the canary tier by
// default. %[1]s and %[2]s are the baseline's and the candidate's
// addresses, %[3]s the webhook, %[4]d the candidate's first step.
const canaryAlertConfig = `listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
upstreams:
  v1: {endpoints: [{address: %[1]s}], outlier_detection: {disabled: true}}
  v2: {endpoints: [{address: %[2]s}], outlier_detection: {disabled: true}}
routes:
  - name: checkout
    retry: {attempts: 1}
    split:
      - {upstream: v1, weight: 100}
      - {upstream: v2, weight: 0}
    canary:
      baseline: v1
      candidate: v2
      steps: [%[4]d, 50, 100]
      interval: 1s
      min_requests: 50
alerting:
  interval: 1s
  instance: proxy-under-test
  receivers:
    - {name: tickets, webhook: %[3]s, tiers: [P1]}
`

// TestCanaryRollbackAlerts: a candidate that fails a fifth of its requests
// is rolled back at its first step, and the webhook of the canary tier is
// told once, with the reason and the route's context; a reload that starts
// a new rollout resolves the alert.
func TestCanaryRollbackAlerts(t *testing.T) {
	v1 := testkit.Start(t, testkit.Config{Name: "v1"})
	v2 := testkit.Start(t, testkit.Config{Name: "v2"})
	v2.FailPercent(20, 503)
	hook := startHookInbox(t)
	e := startServeConfig(t, fmt.Sprintf(canaryAlertConfig, v1.URL(), v2.URL(), hook.srv.URL, 20))

	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if resp, err := http.Get(e.data + "/checkout"); err == nil {
				resp.Body.Close()
			}
		}
	}()

	firing := waitWebhook(t, hook, alert.KindFiring, 30*time.Second)
	if code, body := e.do("GET", e.admin+"/canary/checkout", ""); code != 200 || !strings.Contains(body, `"state": "rolled_back"`) {
		t.Fatalf("GET /canary/checkout: %d %s; want rolled back", code, body)
	}
	want := map[string]string{"alertname": alert.CanaryAlertName, "route": "checkout", "candidate": "v2", "tier": "P1", "severity": "warning", "instance": "proxy-under-test"}
	for k, v := range want {
		if firing.Labels[k] != v {
			t.Errorf("label %s = %q; want %q", k, firing.Labels[k], v)
		}
	}
	if firing.Canary == nil || !strings.HasPrefix(firing.Canary.Reason, "error_rate") || firing.Canary.StepWeight != 20 {
		t.Errorf("canary %+v; want the error-rate judgment of the 20%% step", firing.Canary)
	}
	if !strings.Contains(firing.Summary, "rolled back candidate v2 at step 0 (20%)") || !strings.Contains(firing.Description, "upstream v2") {
		t.Errorf("summary %q, description %q; want the rollback and the route's upstreams", firing.Summary, firing.Description)
	}

	// A new plan starts a new rollout: the alert resolves.
	v2.Healthy()
	if err := os.WriteFile(e.file, []byte(fmt.Sprintf(canaryAlertConfig, v1.URL(), v2.URL(), hook.srv.URL, 10)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := e.do("POST", e.admin+"/reload", ""); code != 200 {
		t.Fatalf("POST /reload: %d %s", code, body)
	}
	resolved := waitWebhook(t, hook, alert.KindResolved, 15*time.Second)
	if !strings.Contains(resolved.Summary, "no longer rolled back") {
		t.Errorf("resolved summary %q", resolved.Summary)
	}
	n := 0
	for _, r := range hook.all() {
		if strings.Contains(string(r.body), `"kind":"firing"`) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the webhook got %d firing notifications; want one for the episode", n)
	}
}

// waitWebhook waits, with [waitHook], for the first notification of
// holdfast's webhook whose status is that of kind (firing or resolved) and
// returns it decoded.
func waitWebhook(t *testing.T, h *hookInbox, kind alert.Kind, within time.Duration) alert.WebhookPayload {
	t.Helper()
	r := waitHook(t, h, within, string(kind))
	var p alert.WebhookPayload
	if err := json.Unmarshal(r.body, &p); err != nil || p.Kind != kind {
		t.Fatalf("webhook notification %s: kind %q, %v; want %s", r.body, p.Kind, err, kind)
	}
	return p
}
