package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/holdfast-dev/holdfast/chaos/drill"
	"github.com/holdfast-dev/holdfast/chaos/toxic"
	"github.com/holdfast-dev/holdfast/internal/alert"
	"github.com/holdfast-dev/holdfast/internal/testkit"
)

// amWebhook is what Alertmanager's webhook receiver POSTs: one group's
// notification.
type amWebhook struct {
	Status string `json:"status"`
	Alerts []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

// hookInbox is a webhook server on loopback that keeps what it is sent,
// with the time each arrived.
type hookInbox struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []received
}

type received struct {
	at   time.Time
	body []byte
}

func startHookInbox(t *testing.T) *hookInbox {
	t.Helper()
	h := &hookInbox{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got = append(h.got, received{at: time.Now(), body: b})
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookInbox) all() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.got...)
}

// startAlertmanager starts Debian's prometheus-alertmanager on a free
// loopback port, without clustering, sending every group to hook at once
// (group_wait 3s, group_interval 1s, resolved notices on), with P1
// inhibited while the same objective's P0 fires on the same instance. It
// returns Alertmanager's base URL. P0 and P1 are groups of their own (by
// alertname), and inhibition is judged when a group is first sent: the
// group wait leaves room for the P0 to arrive on a loaded machine, where
// with 1s the P1 was sent alone once.
func startAlertmanager(t *testing.T, hook string) string {
	t.Helper()
	bin := lookAlertmanager(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `route:
  receiver: hook
  group_by: [alertname, slo, instance]
  group_wait: 3s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{url: "%s", send_resolved: true}]
inhibit_rules:
  - source_matchers: [tier="P0"]
    target_matchers: [tier="P1"]
    equal: [slo, instance]
`, hook), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	var out bytes.Buffer
	am := exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=")
	am.Stdout, am.Stderr = &out, &out
	if err := am.Start(); err != nil {
		t.Fatalf("starting alertmanager: %v", err)
	}
	t.Cleanup(func() {
		am.Process.Kill()
		am.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready at %s: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lookAlertmanager returns the path of Alertmanager, which the Makefile's
// tools target installs (Debian package prometheus-alertmanager names it
// prometheus-alertmanager; upstream's tarball alertmanager).
func lookAlertmanager(t *testing.T) string {
	t.Helper()
	for _, bin := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(bin); err == nil {
			return p
		}
	}
	t.Fatal("alertmanager is not installed: run make tools (Debian package prometheus-alertmanager)")
	return ""
}

// alertingConfig is a proxy with one route, api, an objective of 90% on it
// and tiers whose windows are minutes, so that an outage of seconds fires
// P0 (burn rate 2: a fifth of the requests bad over 2m and over 1m; P1 the
// same, so that both fire together) and a recovery of seconds resolves it. %[1]s is the backend, %[2]s the
// receivers.
const alertingConfig = `listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
upstreams:
  api:
    endpoints: [{address: %[1]s}]
    outlier_detection: {disabled: true}
routes:
  - name: api
    upstream: api
    retry: {attempts: 1}
slos:
  - {name: api-availability, route: api, objective: 90, window: 2m, good: {status_below: 500}}
alerting:
  interval: 1s
  instance: proxy-under-test
  tiers:
    P0: {burn_rate: 2, long: 2m, short: 1m}
    P1: {burn_rate: 2, long: 2m, short: 1m}
    P2: {burn_rate: 1.2, long: 2m, short: 1m}
  receivers:
%[2]s`

// load sends requests to url from workers goroutines until stop is closed
// and returns the slowest answer it saw.
func load(t *testing.T, url string, workers int, stop <-chan struct{}) func() time.Duration {
	var slowest atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				resp, err := client.Get(url)
				if err != nil {
					t.Errorf("GET %s: %v", url, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := int64(time.Since(start))
				for {
					old := slowest.Load()
					if d <= old || slowest.CompareAndSwap(old, d) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	return func() time.Duration { wg.Wait(); return time.Duration(slowest.Load()) }
}

// TestAlertmanagerGetsP0 runs a real Alertmanager and a real proxy: an
// outage of the upstream must page P0 through Alertmanager within seconds,
// exactly once for the episode, with the labels and context, P1 inhibited
// by them, and the recovery must bring a resolved notice.
func TestAlertmanagerGetsP0(t *testing.T) {
	hook := startHookInbox(t)
	am := startAlertmanager(t, hook.srv.URL)
	// holdfast's own webhook receiver, beside Alertmanager.
	direct := startHookInbox(t)
	backend := testkit.Start(t, testkit.Config{Name: "api"})
	e := startServeConfig(t, fmt.Sprintf(alertingConfig, backend.URL(),
		"    - {name: oncall, alertmanager: '"+am+"', tiers: [P0, P1]}\n"+
			"    - {name: tickets, webhook: '"+direct.srv.URL+"/hook', tiers: [P0]}\n"))

	stop := make(chan struct{})
	wait := load(t, e.data+"/x", 4, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
			wait()
		}
	}()
	time.Sleep(2 * time.Second) // good traffic: nothing fires
	if got := hook.all(); len(got) != 0 {
		t.Fatalf("before the outage Alertmanager sent %d notifications: %s", len(got), got[0].body)
	}
	outage := time.Now()
	backend.Fail(503)
	firing := waitHook(t, hook, 20*time.Second, "firing")
	backend.Healthy()
	if d := firing.at.Sub(outage); d > 10*time.Second {
		t.Errorf("P0 arrived %s after the outage began; want within 10s (1s evaluation, 3s group_wait)", d)
	}
	var n amWebhook
	if err := json.Unmarshal(firing.body, &n); err != nil || len(n.Alerts) != 1 {
		t.Fatalf("firing notification %s: %v", firing.body, err)
	}
	labels := n.Alerts[0].Labels
	for k, v := range map[string]string{"alertname": "HoldfastSLOBurnP0", "slo": "api-availability", "route": "api",
		"tier": "P0", "severity": "critical", "instance": "proxy-under-test"} {
		if labels[k] != v {
			t.Errorf("label %s: got %q; want %q", k, labels[k], v)
		}
	}
	desc := n.Alerts[0].Annotations["description"]
	if !strings.Contains(desc, "upstream api (weight 1)") {
		t.Errorf("description lacks the route's upstream: %q", desc)
	}
	if !strings.Contains(n.Alerts[0].Annotations["context"], `"route":"api"`) {
		t.Errorf("context annotation: got %q", n.Alerts[0].Annotations["context"])
	}

	resolved := waitHook(t, hook, 40*time.Second, "resolved")
	close(stop)
	wait()
	firings := 0
	for _, r := range hook.all() {
		var n amWebhook
		json.Unmarshal(r.body, &n)
		if n.Status == "firing" {
			firings++
		}
		for _, a := range n.Alerts {
			if a.Labels["tier"] != "P0" {
				t.Errorf("Alertmanager notified %s %s; want P1 inhibited by P0 (labels %v)", a.Labels["tier"], a.Status, a.Labels)
			}
		}
	}
	if firings != 1 {
		t.Errorf("Alertmanager sent %d firing notifications for the episode; want 1", firings)
	}
	// The webhook got the episode straight from holdfast: one firing, one
	// resolved (the resolution is queued when Alertmanager's is).
	var kinds []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		kinds = kinds[:0]
		for _, r := range direct.all() {
			var p struct {
				Kind   string            `json:"kind"`
				Labels map[string]string `json:"labels"`
			}
			json.Unmarshal(r.body, &p)
			kinds = append(kinds, p.Kind)
		}
		if len(kinds) >= 2 {
			break
		}
	}
	if got := strings.Join(kinds, ","); got != "firing,resolved" {
		t.Errorf("the webhook got %q; want firing,resolved", got)
	}
	t.Logf("P0 fired %s after the outage began and resolved %s after the recovery",
		firing.at.Sub(outage).Round(time.Millisecond), resolved.at.Sub(firing.at).Round(time.Millisecond))
}

// waitHook waits for a notification of Alertmanager's with the given
// status and returns it.
func waitHook(t *testing.T, h *hookInbox, within time.Duration, status string) received {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, r := range h.all() {
			var n amWebhook
			if json.Unmarshal(r.body, &n) == nil && n.Status == status {
				return r
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s notification within %s (got %d others)", status, within, len(h.all()))
	return received{}
}

// TestReceiverDownDoesNotSlowRequests points a webhook at a server that
// takes connections and never answers, fires P0 and checks that the
// requests around it are answered as fast as ever.
func TestReceiverDownDoesNotSlowRequests(t *testing.T) {
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

	backend := testkit.Start(t, testkit.Config{Name: "api"})
	e := startServeConfig(t, fmt.Sprintf(alertingConfig, backend.URL(),
		"    - {name: tickets, webhook: 'http://"+ln.Addr().String()+"/hook', tiers: [P0, P1, P2]}\n"))
	stop := make(chan struct{})
	wait := load(t, e.data+"/x", 4, stop)
	backend.Fail(503)
	deadline := time.Now().Add(20 * time.Second)
	for conns.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if conns.Load() == 0 {
		close(stop)
		wait()
		t.Fatal("the webhook was never called: the alert did not fire")
	}
	time.Sleep(2 * time.Second) // requests while the sends hang
	close(stop)
	if slowest := wait(); slowest > time.Second {
		t.Errorf("slowest request while the webhook hung: %s; want under 1s", slowest)
	}
	if st := e.inst.alerts.Stats()[0]; st.Sent != 0 {
		t.Errorf("receiver stats %+v; want nothing sent", st)
	}
}

// TestP0ShedsSheddableRoutes checks the wiring of brownout to the alerts:
// while the api route's P0 fires, a sheddable route to another, healthy
// upstream is shed (503 shed), and once it resolves it is relayed again.
func TestP0ShedsSheddableRoutes(t *testing.T) {
	backend := testkit.Start(t, testkit.Config{Name: "api"})
	other := testkit.Start(t, testkit.Config{Name: "other"})
	cfg := fmt.Sprintf(alertingConfig, backend.URL(), "    - {name: hook, webhook: 'http://127.0.0.1:1/', tiers: [P0]}\n")
	cfg = strings.Replace(cfg, "routes:\n", fmt.Sprintf(`  other:
    endpoints: [{address: %s}]
routes:
  - name: extras
    match: {path_prefix: /extras}
    upstream: other
    priority: sheddable
`, other.URL()), 1)
	e := startServeConfig(t, cfg)
	status := func() (int, string) {
		resp, err := http.Get(e.data + "/extras")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Holdfast-Reason")
	}
	if code, reason := status(); code != 200 {
		t.Fatalf("before the outage: got %d %q; want 200", code, reason)
	}
	stop := make(chan struct{})
	wait := load(t, e.data+"/x", 2, stop)
	backend.Fail(503)
	shedAt := time.Time{}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if code, reason := status(); code == 503 && reason == "shed" {
			shedAt = time.Now()
			break
		}
	}
	var st struct {
		Alerts *alert.Snapshot `json:"alerts"`
	}
	if code, body := e.do("GET", e.admin+"/status", ""); code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Alerts == nil {
		t.Errorf("GET /status: %d %.200s; want alerts", code, body)
	} else if f := st.Alerts.Firing; !slices.ContainsFunc(f, func(a alert.Firing) bool { return a.SLO == "api-availability" && a.Tier == "P0" }) {
		t.Errorf("/status alerts.firing %+v; want api-availability's P0", f)
	}
	backend.Healthy()
	if shedAt.IsZero() {
		close(stop)
		wait()
		t.Fatal("the sheddable route was not shed while P0 fired")
	}
	relayed := false
	for deadline := time.Now().Add(40 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if code, _ := status(); code == 200 {
			relayed = true
			break
		}
	}
	close(stop)
	wait()
	if !relayed {
		t.Error("the sheddable route was still shed 40s after the recovery")
	}
}

// TestDrillAbortsWhenP0WouldFire runs a drill against a real proxy whose
// objective's tiers are minutes long: the method makes the upstream answer
// 503 for 30s, and the abort condition names the objective's P0, so the
// drill stops within seconds, when P0 fires, and rolls the fault back.
func TestDrillAbortsWhenP0WouldFire(t *testing.T) {
	s := toxic.MustNewServer(toxic.Config{})
	defer s.Close()
	api := httptest.NewServer(s)
	defer api.Close()
	backend := testkit.Start(t, testkit.Config{Name: "api"})
	front, err := s.CreateProxy(toxic.ProxySpec{Name: "front", Listen: "127.0.0.1:0", Upstream: backend.URL(), Protocol: "http", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	e := startServeConfig(t, fmt.Sprintf(alertingConfig, "http://"+front.Listen, "    - {name: hook, webhook: 'http://127.0.0.1:1/', tiers: [P2]}\n"))
	file := writeExperiment(t, `
title: the api survives a failing upstream
chaos: {api: "%s"}
load: {url: "%s/x", rate: 50, warmup: 1s}
method:
  - add_toxic: {proxy: front, name: boom, type: http_status}
    duration: 30s
rollbacks:
  - remove_toxic: {proxy: front, name: boom}
abort_when:
  every: 200ms
  probes:
    - name: stop before P0 pages
      slo: {url: "%s/metrics", name: api-availability, tier: P0}
`, api.URL, e.data, e.admin)
	dir := t.TempDir()
	journal := filepath.Join(dir, "j.json")
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run([]string{"drill", "-q", "-f", file, "-journal", journal, "-report", filepath.Join(dir, "r.html")}, &stdout, &stderr)
	took := time.Since(start)
	if code != 2 {
		t.Fatalf("exit %d; want 2 (aborted)\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if took > 20*time.Second {
		t.Errorf("the drill took %s; want it to stop long before its 30s fault", took)
	}
	f, err := os.Open(journal)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	j, err := drill.ReadJournal(f)
	if err != nil {
		t.Fatal(err)
	}
	if j.AbortProbe == nil || !strings.Contains(j.AbortProbe.Detail, "P0 of api-availability fires") {
		t.Errorf("abort probe %+v; want the P0 of api-availability firing", j.AbortProbe)
	}
	if p, err := s.Proxy("front"); err != nil || len(p.Toxics) != 0 {
		t.Errorf("front after the drill: %+v, %v; want it without toxics", p, err)
	}
}
