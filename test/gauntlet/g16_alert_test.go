//go:build !race

package gauntlet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/chaos/loadgen"
)

// inbox is a webhook receiver on loopback that keeps every body it is
// POSTed, with the time it arrived.
type inbox struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []delivery
}

type delivery struct {
	at   time.Time
	body []byte
}

func startInbox(t *testing.T) *inbox {
	t.Helper()
	in := &inbox{}
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		in.mu.Lock()
		in.got = append(in.got, delivery{at: time.Now(), body: b})
		in.mu.Unlock()
	}))
	t.Cleanup(in.srv.Close)
	return in
}

func (in *inbox) all() []delivery {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.got)
}

// await returns the first delivery whose status field (Alertmanager's
// webhook and holdfast's both have one) is status, waiting up to within.
func (in *inbox) await(status string, within time.Duration) (delivery, bool) {
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		for _, d := range in.all() {
			var s struct {
				Status string `json:"status"`
			}
			if json.Unmarshal(d.body, &s) == nil && s.Status == status {
				return d, true
			}
		}
		if time.Now().After(deadline) {
			return delivery{}, false
		}
	}
}

// startAlertmanager starts Debian's prometheus-alertmanager (make tools
// installs it) on a free loopback port, without clustering, sending every
// group to hook with resolved notices, after a group wait and interval of
// 1s. It returns Alertmanager's base URL.
func startAlertmanager(t *testing.T, hook string) string {
	t.Helper()
	var bin string
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("alertmanager is not installed: run make tools (Debian package prometheus-alertmanager)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `route:
  receiver: hook
  group_by: [alertname, slo, instance]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{url: "%s", send_resolved: true}]
`, hook), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	out := &syncBuffer{}
	am := exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=")
	am.Stdout, am.Stderr = out, out
	if err := am.Start(); err != nil {
		t.Fatalf("starting alertmanager: %v", err)
	}
	t.Cleanup(func() {
		am.Process.Kill()
		am.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", tail(out.String(), 40))
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready at %s: %v\n%s", base, err, out.String())
		}
	}
}

// amAlert is one alert of Alertmanager's GET /api/v2/alerts, which lists
// the alerts that have not ended.
type amAlert struct {
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// amNotification is what Alertmanager's webhook receiver POSTs: one
// group's notification.
type amNotification struct {
	Status string    `json:"status"`
	Alerts []amAlert `json:"alerts"`
}

// hookNotice is what holdfast POSTs to a webhook receiver (docs/slo.md),
// as far as G16 reads it.
type hookNotice struct {
	Status  string            `json:"status"`
	Kind    string            `json:"kind"`
	Labels  map[string]string `json:"labels"`
	Context struct {
		Route     string `json:"route"`
		Upstreams []struct {
			Name    string `json:"name"`
			Breaker string `json:"breaker"`
		} `json:"upstreams"`
		Endpoints []struct {
			Upstream string `json:"upstream"`
			Address  string `json:"address"`
			State    string `json:"state"`
		} `json:"endpoints"`
		LocalReplies []struct {
			Reason string `json:"reason"`
			Count  int64  `json:"count"`
		} `json:"local_replies"`
	} `json:"context"`
}

// hungServer accepts connections and never answers them: a receiver that
// is down without refusing. It returns its address and how many
// connections it took.
func hungServer(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	var held sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	held.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			held.Go(func() { <-ctx.Done(); c.Close() })
		}
	})
	t.Cleanup(func() { cancel(); ln.Close(); held.Wait() })
	return ln.Addr().String(), &conns
}

// alertConfig has the route api, whose SLO is watched, on two endpoints
// with outlier detection and a breaker (what the context reports), and the
// route probe on a healthy upstream of its own, whose latency shows
// whether the receivers slow the data plane. The objective (95%, a budget
// of 5%) and P0's burn rate (14.4, the SRE workbook's) put P0's threshold
// at 72% bad requests; its windows are the shortest the config takes (2m
// and 1m), longer than the scenario, so both read everything the process
// saw and P0 fires when 72% of the route's requests so far were bad.
const alertConfig = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  api:
    endpoints:
      - address: {{index .B 0}}
      - address: {{index .B 1}}
    outlier_detection: {consecutive_failures: 3, base_ejection_time: 20s, max_ejection_percent: 50}
    circuit_breaker: {failure_rate: 0.5, window: 5s, minimum_requests: 20, open_duration: 2s, half_open_requests: 3}
  fast:
    endpoints: [{address: {{index .B 2}}}]
    outlier_detection: {disabled: true}
routes:
  - name: api
    match: {path_prefix: /api}
    upstream: api
    timeout: 2s
    retry: {attempts: 1}
  - name: probe
    match: {path_prefix: /probe}
    upstream: fast
    timeout: 2s
    retry: {attempts: 1}
slos:
  - {name: api-availability, route: api, objective: 95, window: 2m, good: {status_below: 500}}
alerting:
  interval: 1s
  instance: gauntlet
  tiers:
    P0: {burn_rate: 14.4, long: 2m, short: 1m}
    P1: {burn_rate: 6, long: 2m, short: 1m}
    P2: {burn_rate: 1, long: 2m, short: 1m}
  receivers:
    - {name: oncall, alertmanager: 'ALERTMANAGER', tiers: [P0]}
    - {name: tickets, webhook: 'WEBHOOK', tiers: [P0]}
    - {name: hung, webhook: 'http://HUNG/hook', tiers: [P0]}
    - {name: closed, webhook: 'http://CLOSED/hook', tiers: [P0]}
`

// p0Threshold is the share of bad requests at which alertConfig's P0 fires.
const p0Threshold = 14.4 * 0.05

// G16: the upstream of a route with an SLO answers 503 until P0 fires,
// then recovers. The P0 reaches a real Alertmanager when the share of bad
// requests crosses the threshold (and not before), Alertmanager holds one
// alert with holdfast's labels and sends one firing notification and one
// resolved, holdfast's own webhook gets firing then resolved with the
// route's context, and two webhooks that are down (one never answers, one
// refuses) do not slow the requests through the proxy.
func TestG16AlertThroughAlertmanager(t *testing.T) {
	amHook := startInbox(t)
	am := startAlertmanager(t, amHook.srv.URL)
	direct := startInbox(t)
	hung, hungConns := hungServer(t)
	a, b, fast := backend(t, "a"), backend(t, "b"), backend(t, "fast")
	cfg := strings.NewReplacer("ALERTMANAGER", am, "WEBHOOK", direct.srv.URL+"/hook", "HUNG", hung, "CLOSED", freeAddr(t)).Replace(alertConfig)
	p := startProxy(t, cfg, a, b, fast)

	// Load on both routes, open loop, until stop; each answer is kept by
	// when it was due: the api route's good ones before the outage (what
	// the threshold is crossed against) and the probe route's latency
	// before and after P0 fired (while the hung receiver holds a send).
	const apiRate = 100
	var (
		mu                  sync.Mutex
		outage, fired       time.Time
		goodBefore          int
		probeBase, probeHot loadgen.Histogram
		probeFailed         int
	)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var load sync.WaitGroup
	run := func(rate float64, path string, onDone func(loadgen.Outcome)) {
		load.Go(func() {
			_, err := loadgen.Run(ctx, loadgen.Config{Rate: rate, Duration: 2 * time.Minute, Timeout: 5 * time.Second,
				NewRequest: get(p.URL + path), OnDone: onDone})
			if err != nil {
				t.Error(err)
			}
		})
	}
	run(apiRate, "/api/x", func(o loadgen.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		if o.Status == 200 && (outage.IsZero() || o.Due.Before(outage)) {
			goodBefore++
		}
	})
	run(50, "/probe/x", func(o loadgen.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case o.Status != 200:
			probeFailed++
		case fired.IsZero():
			probeBase.Record(o.Latency)
		case o.Due.After(fired):
			probeHot.Record(o.Latency)
		}
	})

	// Alertmanager's view, every 100ms from the start of the outage: the
	// alerts it holds, to time the P0's arrival and check it stays one
	// alert with one fingerprint.
	var (
		amMu         sync.Mutex
		amSeen       time.Time
		amMost       int
		fingerprints = map[string]bool{}
		amFirst      amAlert
	)
	amPoll := func() []amAlert {
		resp, err := http.Get(am + "/api/v2/alerts")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var as []amAlert
		json.NewDecoder(resp.Body).Decode(&as)
		return as
	}
	pollCtx, stopPoll := context.WithCancel(context.Background())
	var poll sync.WaitGroup
	defer func() { stopPoll(); poll.Wait() }()

	time.Sleep(2 * time.Second) // good traffic first: nothing fires
	if got := direct.all(); len(got) != 0 {
		t.Fatalf("before the outage the webhook got %d notifications: %s", len(got), got[0].body)
	}
	mu.Lock()
	outage = time.Now()
	mu.Unlock()
	a.Fail(503)
	b.Fail(503)
	poll.Go(func() {
		for pollCtx.Err() == nil {
			as := amPoll()
			amMu.Lock()
			for _, x := range as {
				fingerprints[x.Fingerprint] = true
			}
			amMost = max(amMost, len(as))
			if len(as) > 0 && amSeen.IsZero() {
				amSeen, amFirst = time.Now(), as[0]
			}
			amMu.Unlock()
			select {
			case <-pollCtx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})

	firing, ok := direct.await("firing", 40*time.Second)
	if !ok {
		stop()
		load.Wait()
		t.Fatalf("P0 did not fire within 40s of the outage (webhook got %d, Alertmanager webhook %d)", len(direct.all()), len(amHook.all()))
	}
	mu.Lock()
	fired = firing.at
	// The good answers due before the outage began, against which the
	// bad ones had to reach p0Threshold of all: at apiRate a second, the
	// outage needs goodBefore × t/(1−t) bad requests.
	expected := time.Duration(float64(goodBefore) * p0Threshold / (1 - p0Threshold) / apiRate * float64(time.Second))
	mu.Unlock()
	// The outage lasts until the page: Alertmanager drops, unsent, a group
	// whose alerts all resolved within its group wait.
	amFiring, amFiringOK := amHook.await("firing", 20*time.Second)
	a.Healthy()
	b.Healthy()
	healed := time.Now()

	_, resolvedOK := direct.await("resolved", 40*time.Second)
	amResolved, amResolvedOK := amHook.await("resolved", 40*time.Second)
	// Alertmanager no longer lists the alert once holdfast ended it.
	var activeAfter []amAlert
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if activeAfter = amPoll(); len(activeAfter) == 0 || time.Now().After(deadline) {
			break
		}
	}
	// The hung receiver holds a send for 5s (the send timeout); keep the
	// probe load going at least that long after P0 fired.
	if d := time.Until(fired.Add(6 * time.Second)); d > 0 {
		time.Sleep(d)
	}
	stop()
	load.Wait()
	stopPoll()
	poll.Wait()
	// The refusing receiver was being retried meanwhile.
	closedRetries := metricValue(t, p, `holdfast_alert_retries_total{receiver="closed"}`)

	// What the proxy's own webhook got: firing, then resolved, with the
	// route's context.
	var kinds []string
	var hookFiring hookNotice
	for _, d := range direct.all() {
		var w hookNotice
		if err := json.Unmarshal(d.body, &w); err != nil {
			t.Errorf("webhook body %s: %v", d.body, err)
			continue
		}
		if w.Kind == "firing" {
			hookFiring = w
		}
		kinds = append(kinds, w.Kind)
	}
	// Alertmanager's notifications for the episode.
	var amFirings, amResolveds int
	for _, d := range amHook.all() {
		var n amNotification
		json.Unmarshal(d.body, &n)
		switch n.Status {
		case "firing":
			amFirings++
		case "resolved":
			amResolveds++
		}
		for _, x := range n.Alerts {
			if x.Labels["tier"] != "P0" {
				t.Errorf("Alertmanager notified %v; want only P0", x.Labels)
			}
		}
	}
	wantLabels := map[string]string{"alertname": "HoldfastSLOBurnP0", "slo": "api-availability", "route": "api",
		"tier": "P0", "severity": "critical", "instance": "gauntlet"}
	amMu.Lock()
	toAM := amSeen.Sub(outage)
	amLabels := amFirst.Labels
	nFingerprints := len(fingerprints)
	mostAlerts := amMost
	amMu.Unlock()
	if amSeen.IsZero() {
		toAM = -1
	}

	// The context of the firing notification: the route, its upstream
	// with the breaker not closed, the endpoint outlier detection ejected
	// and the top local-reply reason.
	c := hookFiring.Context
	var breaker, ejected, topReason string
	if len(c.Upstreams) == 1 && c.Upstreams[0].Name == "api" {
		breaker = c.Upstreams[0].Breaker
	}
	for _, e := range c.Endpoints {
		if e.Upstream == "api" && e.State == "ejected" {
			ejected = e.Address
		}
	}
	if len(c.LocalReplies) > 0 {
		topReason = c.LocalReplies[0].Reason
	}
	contextOK := c.Route == "api" && (breaker == "open" || breaker == "half_open") && ejected != "" && topReason != "" &&
		strings.Contains(amFirst.Annotations["context"], `"route":"api"`) &&
		strings.Contains(amFirst.Annotations["description"], "upstream api (weight 1)")

	// Requests through the proxy while the hung receiver held its sends,
	// against before anything was sent: within noise on a shared machine,
	// whose scheduling alone has put 90ms on a p99 of 3ms (twice the p99
	// plus 100ms), and none near the 5s send timeout a blocked request
	// would wait.
	mu.Lock()
	baseP99, hotP99, hotMax, hotN := probeBase.Quantile(0.99), probeHot.Quantile(0.99), probeHot.Max(), probeHot.Count()
	failed := probeFailed
	mu.Unlock()
	latencyOK := hotN > 0 && hotP99 <= 2*baseP99+100*time.Millisecond && hotMax < time.Second && failed == 0 && hungConns.Load() > 0 && closedRetries > 0

	toFire := firing.at.Sub(outage)
	toResolve := time.Duration(-1)
	if amResolvedOK {
		toResolve = amResolved.at.Sub(healed)
	}
	// In the window: not before the bad share can cross the threshold
	// (less a margin for requests in flight), and within 10s after it (1s
	// evaluations, Alertmanager's 1s group wait, a loaded machine).
	windowOK := amFiringOK && toAM > 0 && toAM >= expected*8/10 && toAM <= expected+10*time.Second && toFire >= expected*8/10
	dedupOK := slices.Equal(kinds, []string{"firing", "resolved"}) && amFirings == 1 && amResolveds == 1 &&
		nFingerprints == 1 && mostAlerts == 1 && maps.Equal(amLabels, wantLabels) && maps.Equal(hookFiring.Labels, wantLabels)
	resolveOK := resolvedOK && amResolvedOK && len(activeAfter) == 0 && toResolve <= 20*time.Second
	ok = windowOK && dedupOK && resolveOK && contextOK && latencyOK

	seen := fmt.Sprintf("P0 paged in %.1fs (threshold %.1fs); %d firing, %d resolved %.1fs after recovery; p99 %s with hooks down (%s before)",
		toAM.Seconds(), expected.Seconds(), amFirings, amResolveds, toResolve.Seconds(), ms(hotP99), ms(baseP99))
	report("G16", "SLO route's upstream 503s, real Alertmanager", seen, ok)
	t.Logf("%s; webhook fired %s after the outage, Alertmanager notified %s after; context: breaker %s, ejected %s, top local reply %q",
		seen, toFire.Round(time.Millisecond), amFiring.at.Sub(outage).Round(time.Millisecond), breaker, ejected, topReason)
	if !windowOK {
		t.Errorf("P0 reached Alertmanager %v after the outage began (webhook %v, Alertmanager notified: %v); want within [%v, %v] (the threshold crossed at %v, %d good requests before)",
			toAM, toFire, amFiringOK, expected*8/10, expected+10*time.Second, expected, goodBefore)
	}
	if !dedupOK {
		t.Errorf("webhook kinds %q (want firing,resolved); Alertmanager sent %d firing and %d resolved (want 1 and 1), held at most %d alerts with %d fingerprints (want 1, 1); labels in Alertmanager %v, on the webhook %v; want %v",
			kinds, amFirings, amResolveds, mostAlerts, nFingerprints, amLabels, hookFiring.Labels, wantLabels)
	}
	if !resolveOK {
		t.Errorf("resolved: webhook %v, Alertmanager %v after %v (want within 20s of the recovery); Alertmanager still lists %d alerts (want 0)",
			resolvedOK, amResolvedOK, toResolve, len(activeAfter))
	}
	if !contextOK {
		t.Errorf("context of the firing notification %+v (breaker %q, ejected %q, top reason %q); Alertmanager annotations %v; want route api, its breaker open or half open, an ejected endpoint, a local-reply reason",
			c, breaker, ejected, topReason, amFirst.Annotations)
	}
	if !latencyOK {
		t.Errorf("probe route: p99 %v (max %v, %d requests) while the hung receiver held sends (%d connections) and the refusing one was retried (%g retries), %v before; %d failed; want p99 ≤ 2×before+100ms, max < 1s, none failed",
			hotP99, hotMax, hotN, hungConns.Load(), closedRetries, baseP99, failed)
	}
}

// metricValue reads one series of the proxy's /metrics, by its name and
// labels as the exposition writes them; 0 when it is missing.
func metricValue(t *testing.T, p *proc, series string) float64 {
	t.Helper()
	resp, err := http.Get(p.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}
