package drill

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
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/admin"
	"github.com/holdfast-dev/holdfast/chaos/toxic"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/testkit"
	"github.com/holdfast-dev/holdfast/proxy"
)

// The end-to-end tests run whole experiments on loopback against real
// servers: the chaos API in-process (toxic.NewServer behind httptest),
// testkit backends, a real holdfast proxy in-process, and a backend in a
// child process (this test binary, re-executed) for the process actions.
// They use real time with generous bounds; each run lasts a few seconds.

// helperAddrEnv makes this test binary a plain HTTP backend on the address
// it names, for the process actions.
const helperAddrEnv = "DRILL_TEST_BACKEND_ADDR"

func TestMain(m *testing.M) {
	if addr := os.Getenv(helperAddrEnv); addr != "" {
		err := http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok\n")
		}))
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// chaosAPI starts the chaos API in-process and returns its URL and server.
func chaosAPI(t *testing.T) (string, *toxic.Server) {
	t.Helper()
	s := toxic.MustNewServer(toxic.Config{})
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return ts.URL, s
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// holdfastProxy starts a holdfast proxy from cfg on a free port, with its
// metrics served on a second server; it returns both URLs.
func holdfastProxy(t *testing.T, cfg string) (string, string) {
	t.Helper()
	c, err := config.Parse([]byte(cfg))
	if err != nil {
		t.Fatalf("config.Parse: %v\n%s", err, cfg)
	}
	m := admin.NewMetrics()
	p, err := proxy.New(c, proxy.Options{Listener: m, OnRequest: m.OnRequest})
	if err != nil {
		t.Fatal(err)
	}
	m.Watch(p)
	srv, err := proxy.NewServer(p, c, nil)
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	metrics := httptest.NewServer(m.Handler())
	t.Cleanup(func() {
		metrics.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
		p.Close()
	})
	return "http://" + srv.Addrs()[0].String(), metrics.URL + "/metrics"
}

// run parses the experiment text (fmt.Sprintf'd with args) and runs it.
func run(t *testing.T, ctx context.Context, format string, args ...any) *Journal {
	t.Helper()
	src := fmt.Sprintf(format, args...)
	e, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, src)
	}
	var out strings.Builder
	j, err := Run(ctx, e, Options{Out: &out, Self: os.Args[0]})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("progress:\n%s", out.String())
	return j
}

// toxicsOf lists a proxy's toxics through the chaos API, as a client would.
func toxicsOf(t *testing.T, api, proxyName string) []string {
	t.Helper()
	resp, err := http.Get(api + "/proxies/" + proxyName + "/toxics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ts []struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ts); err != nil {
		t.Fatalf("GET %s/toxics: %s: %v", proxyName, resp.Status, err)
	}
	names := []string{}
	for _, x := range ts {
		names = append(names, x.Name)
	}
	return names
}

// TestExperimentHolds: holdfast in front of two backends, one of them
// behind a chaos proxy the drill creates; the drill makes that one answer
// 503 to everything, and holdfast's retries keep every client request
// successful. The hypothesis holds before, during and after: exit 0.
func TestExperimentHolds(t *testing.T) {
	api, chaos := chaosAPI(t)
	a := testkit.Start(t, testkit.Config{Name: "a"})
	b := testkit.Start(t, testkit.Config{Name: "b"})
	bFront := freeAddr(t)
	hf, metrics := holdfastProxy(t, fmt.Sprintf(`
listen: 127.0.0.1:0
upstreams:
  shop:
    endpoints:
      - address: %s
      - address: http://%s
    balancer: round_robin
    outlier_detection: {consecutive_failures: 3, base_ejection_time: 30s, max_ejection_percent: 50}
    retry_budget: {ratio: 1, min_per_second: 1000}
routes:
  - name: shop
    match: {path_prefix: /}
    upstream: shop
    timeout: 2s
    retry: {attempts: 2, retry_on: [5xx, connect_failure, reset], backoff: {base: 1ms, max: 5ms}}
`, a.URL(), bFront))

	j := run(t, context.Background(), `
title: a failing backend does not fail clients
chaos:
  api: %[1]s
  proxies:
    - {name: b, listen: "%[2]s", upstream: "%[3]s", protocol: http}
load: {url: "%[4]s/items", rate: 50, warmup: 1s, cooldown: 500ms, interval: 250ms}
steady_state_hypothesis:
  during_every: 500ms
  probes:
    - name: the shop answers
      http: {url: "%[4]s/items", status: 200, max_latency: 1s}
    - name: clients succeed
      load: {window: 1s, min_requests: 10, success_rate: {min: 0.99}}
    - name: holdfast answered with 2xx
      metric: {url: "%[5]s", name: holdfast_route_requests_total, labels: {route: shop, code_class: 2xx}, min: 10}
method:
  - name: b fails everything
    add_toxic: {proxy: b, name: boom, type: http_status, attributes: {status: 503}}
    duration: 2s
  - name: b recovers
    remove_toxic: {proxy: b, name: boom}
    duration: 500ms
rollbacks:
  - name: make sure b is clean
    remove_toxic: {proxy: b, name: boom}
abort_when:
  every: 250ms
  probes:
    - name: half the requests fail
      load: {window: 1s, error_rate: {max: 0.5}}
`, api, bFront, b.Addr(), hf, metrics)

	if j.ExitCode() != ExitHeld || j.Status != StatusCompleted || j.Deviated {
		t.Fatalf("exit %d, status %s, deviated %v, reason %q; want 0, completed, not deviated", j.ExitCode(), j.Status, j.Deviated, j.AbortReason)
	}
	ss := j.SteadyStates
	if ss.Before == nil || !ss.Before.SteadyStateMet || ss.After == nil || !ss.After.SteadyStateMet || len(ss.After.Probes) != 3 {
		t.Errorf("steady states before %+v after %+v; want both met with 3 probes", ss.Before, ss.After)
	}
	if len(ss.During) < 2 {
		t.Errorf("%d checks during the method; want at least 2 over 2.5s at 500ms", len(ss.During))
	}
	for i, h := range ss.During {
		if !h.SteadyStateMet {
			t.Errorf("during check %d did not hold: %s", i, h.Probes[1].Detail)
		}
	}
	if len(j.Run) != 2 || j.Run[0].Status != "succeeded" || j.Run[1].Status != "succeeded" {
		t.Errorf("run = %+v; want both actions succeeded", j.Run)
	}
	// The method removed the toxic, so the rollback found nothing to do.
	if len(j.Rollbacks) != 1 || j.Rollbacks[0].Status != "succeeded" || !strings.Contains(fmt.Sprint(j.Rollbacks[0].Output), "nothing to remove") {
		t.Errorf("rollbacks = %+v; want one that succeeded with nothing to remove", j.Rollbacks)
	}
	if len(j.Faults) != 1 || j.Faults[0].EndedBy != "b recovers" || !j.Faults[0].End.After(j.Faults[0].Start.Time) {
		t.Errorf("faults = %+v; want one, ended by \"b recovers\"", j.Faults)
	}
	if j.AbortChecks < 4 {
		t.Errorf("%d abort checks; want at least 4 over 2.5s at 250ms", j.AbortChecks)
	}
	if l := j.Load; l == nil || l.Sent < 100 || l.Succeeded != l.Sent || len(l.Timeline) < 10 {
		t.Errorf("load = %+v; want at least 100 requests, all successful, over 10+ points", l)
	}
	if a.Requests() == 0 || b.Requests() == 0 {
		t.Errorf("backends got %d and %d requests; want both some", a.Requests(), b.Requests())
	}
	// holdfast did see b's 503s, and retried them on a.
	resp, err := http.Get(metrics)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	samples, err := ParseMetrics(page)
	if err != nil {
		t.Fatal(err)
	}
	if v := judgeMetric(&MetricProbe{Name: "holdfast_upstream_retries_total", Aggregate: "sum", Min: f64(1)}, samples); !v.met {
		t.Errorf("holdfast retried nothing (%s); want the 503s retried", v.detail)
	}
	// The teardown deleted the proxy the drill created.
	if _, err := chaos.Proxy("b"); err == nil {
		t.Error("chaos proxy b still exists after the run")
	}
}

// TestExperimentDeviates: the drill starts a backend process, kills it for
// a second and starts it again; a third of the requests in the 3s window
// fail, so the hypothesis after the method does not hold: exit 1.
func TestExperimentDeviates(t *testing.T) {
	addr := freeAddr(t)
	j := run(t, context.Background(), `
title: a backend restart is invisible
processes:
  - name: backend
    command: [$HOLDFAST, "-test.run=^$"]
    env: {%[1]s: "%[2]s"}
    ready: {url: "http://%[2]s/healthz", timeout: 10s}
load: {url: "http://%[2]s/", rate: 40, timeout: 1s, warmup: 1s}
steady_state_hypothesis:
  probes:
    - name: the backend answers
      http: {url: "http://%[2]s/healthz", status: 2xx}
    - name: clients succeed over 3s
      load: {window: 3s, min_requests: 20, success_rate: {min: 0.99}}
method:
  - name: kill the backend
    kill_process: {process: backend}
    duration: 1s
  - name: start it again
    start_process: {process: backend}
  - wait: 1s
rollbacks:
  - name: make sure it runs
    start_process: {process: backend}
`, helperAddrEnv, addr)

	// As Chaos Toolkit has it: the run completed, and deviated.
	if j.ExitCode() != ExitDeviated || j.Status != StatusCompleted || !j.Deviated {
		t.Fatalf("exit %d, status %s, deviated %v, reason %q; want 1, completed, deviated", j.ExitCode(), j.Status, j.Deviated, j.AbortReason)
	}
	before, after := j.SteadyStates.Before, j.SteadyStates.After
	if before == nil || !before.SteadyStateMet {
		t.Fatalf("before = %+v; want met", before)
	}
	if after == nil || after.SteadyStateMet || !after.Probes[0].met() || after.Probes[1].met() {
		t.Fatalf("after = %+v; want the HTTP probe met and the load probe not", after)
	}
	if d := after.Probes[1].Detail; !strings.Contains(d, "success rate") {
		t.Errorf("load probe detail %q; want it to name the success rate", d)
	}
	if len(j.Run) != 3 {
		t.Fatalf("run has %d actions; want 3", len(j.Run))
	}
	for _, r := range j.Run {
		if r.Status != "succeeded" {
			t.Errorf("action %q: %s %s", r.name(), r.Status, r.Exception)
		}
	}
	if out, _ := j.Run[0].Output.(map[string]any); out["signal"] != "KILL" {
		t.Errorf("kill output %v; want signal KILL", j.Run[0].Output)
	}
	if len(j.Faults) != 1 || j.Faults[0].Kind != "kill_process" || j.Faults[0].EndedBy != "start it again" {
		t.Errorf("faults = %+v; want the kill, ended by the start", j.Faults)
	}
	if len(j.Setup) != 1 || len(j.Teardown) != 1 || j.Teardown[0].Status != "succeeded" {
		t.Errorf("setup %+v, teardown %+v; want the process started and stopped", j.Setup, j.Teardown)
	}
	// The teardown stopped the process: nothing answers any more.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the run", addr)
	}
}

// TestExperimentAborts: load through a chaos proxy the test created; the
// drill makes it fail every request for what would be 20 s. The abort
// condition trips within a second or so, the method stops, and the rollback
// removes the toxic, which the chaos API confirms: exit 2.
func TestExperimentAborts(t *testing.T) {
	api, chaos := chaosAPI(t)
	backend := testkit.Start(t, testkit.Config{Name: "backend"})
	front, err := chaos.CreateProxy(toxic.ProxySpec{Name: "front", Listen: "127.0.0.1:0", Upstream: backend.URL(), Protocol: "http", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	j := run(t, context.Background(), `
title: errors stay within the blast radius
chaos: {api: "%[1]s"}
load: {url: "http://%[2]s/items", rate: 50, warmup: 1s}
steady_state_hypothesis:
  probes:
    - name: clients succeed
      load: {window: 1s, success_rate: {min: 0.9}}
method:
  - name: every request fails
    add_toxic: {proxy: front, name: boom, type: http_status, attributes: {status: 503}}
    duration: 20s
  - name: never reached
    wait: 1s
rollbacks:
  - name: remove the failures
    remove_toxic: {proxy: front, name: boom}
abort_when:
  every: 200ms
  probes:
    - name: errors over 1s
      load: {window: 1s, min_requests: 5, error_rate: {max: 0.3}}
`, api, front.Listen)
	took := time.Since(began)

	if j.ExitCode() != ExitAborted || j.Status != StatusAborted || j.Deviated {
		t.Fatalf("exit %d, status %s, deviated %v; want 2, aborted, not deviated", j.ExitCode(), j.Status, j.Deviated)
	}
	if !strings.HasPrefix(j.AbortReason, `abort condition "errors over 1s": error rate `) {
		t.Errorf("abort reason %q; want the abort condition's", j.AbortReason)
	}
	if j.AbortProbe == nil || j.AbortProbe.met() || j.AbortProbe.name() != "errors over 1s" {
		t.Errorf("abort probe = %+v; want the failed guard", j.AbortProbe)
	}
	if took > 15*time.Second {
		t.Errorf("the run took %s; want the abort to cut the 20s hold short", took)
	}
	if len(j.Run) != 1 || j.Run[0].Status != "succeeded" {
		t.Errorf("run = %+v; want only the first action, succeeded", j.Run)
	}
	if j.SteadyStates.After != nil {
		t.Errorf("after = %+v; want no check after an abort", j.SteadyStates.After)
	}
	if len(j.Rollbacks) != 1 || j.Rollbacks[0].Status != "succeeded" || j.Rollbacks[0].Output != nil {
		t.Fatalf("rollbacks = %+v; want one that removed the toxic", j.Rollbacks)
	}
	if got := toxicsOf(t, api, "front"); len(got) != 0 {
		t.Errorf("toxics of front after the run = %v; want none", got)
	}
	if len(j.Faults) != 1 || j.Faults[0].EndedBy != "remove the failures" {
		t.Errorf("faults = %+v; want the toxic, ended by the rollback", j.Faults)
	}
	// The proxy was not the drill's: it is still there.
	if _, err := chaos.Proxy("front"); err != nil {
		t.Errorf("front after the run: %v; want it kept", err)
	}
}

// TestExperimentInterrupted cancels the run (as SIGINT does) while a fault
// is held: the rollbacks still run and the status is interrupted: exit 2.
func TestExperimentInterrupted(t *testing.T) {
	api, chaos := chaosAPI(t)
	backend := testkit.Start(t, testkit.Config{Name: "backend"})
	front, err := chaos.CreateProxy(toxic.ProxySpec{Name: "front", Listen: "127.0.0.1:0", Upstream: backend.Addr(), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel as soon as the toxic is in place.
	go func() {
		for ctx.Err() == nil {
			if p, err := chaos.Proxy("front"); err == nil && len(p.Toxics) > 0 {
				cancel()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	began := time.Now()
	j := run(t, ctx, `
title: interrupted
chaos: {api: "%[1]s"}
load: {url: "http://%[2]s/", rate: 20}
method:
  - name: slow
    add_toxic: {proxy: front, name: slow, type: latency, attributes: {latency: 100}}
    duration: 30s
rollbacks:
  - name: remove the latency
    remove_toxic: {proxy: front, name: slow}
`, api, front.Listen)
	if j.ExitCode() != ExitAborted || j.Status != StatusInterrupted || !strings.HasPrefix(j.AbortReason, "interrupted") {
		t.Fatalf("exit %d, status %s, reason %q; want 2, interrupted", j.ExitCode(), j.Status, j.AbortReason)
	}
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("the run took %s after the interrupt; want the hold cut short", took)
	}
	if len(j.Rollbacks) != 1 || j.Rollbacks[0].Status != "succeeded" {
		t.Errorf("rollbacks = %+v; want the removal, succeeded", j.Rollbacks)
	}
	if got := toxicsOf(t, api, "front"); len(got) != 0 {
		t.Errorf("toxics of front after the interrupt = %v; want none", got)
	}
}

// TestSetupFailureAborts: a process that cannot start aborts the run
// before anything else happens; the rollbacks still run.
func TestSetupFailureFails(t *testing.T) {
	api, _ := chaosAPI(t)
	j := run(t, context.Background(), `
title: cannot start
chaos: {api: "%s"}
processes:
  - {name: nope, command: [/nonexistent/program]}
method:
  - wait: 1h
rollbacks:
  - enable_proxy: {proxy: missing}
`, api)
	if j.Status != StatusFailed || j.ExitCode() != ExitAborted || !strings.HasPrefix(j.AbortReason, `setup: starting process "nope": starting /nonexistent/program`) {
		t.Fatalf("status %s (exit %d), reason %q; want failed (exit 2) by the setup", j.Status, j.ExitCode(), j.AbortReason)
	}
	if len(j.Run) != 0 || len(j.Rollbacks) != 1 || j.Rollbacks[0].Status != "failed" ||
		!strings.Contains(j.Rollbacks[0].Exception.String(), "404") {
		t.Errorf("run %+v, rollbacks %+v; want no action and the rollback tried (failing with 404)", j.Run, j.Rollbacks)
	}
}

// TestRunJournalReadsBack: what a run records is what its journal keeps:
// read back from its JSON, every time stamp is the same instant and the
// report renders byte for byte the same (a run once kept nanoseconds, which
// the journal's microseconds dropped, so a phase under a microsecond drew
// in the run's report and not in the one rendered from the journal).
func TestRunJournalReadsBack(t *testing.T) {
	j := run(t, context.Background(), "title: reads back\nmethod:\n  - wait: 1ms\n")
	var js, page1, page2 bytes.Buffer
	if err := j.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJournal(bytes.NewReader(js.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	same := func(what string, a, b Time) {
		if !a.Equal(b.Time) {
			t.Errorf("%s: run has %v, journal read back %v", what, a.Time, b.Time)
		}
	}
	same("start", j.Start, back.Start)
	same("end", j.End, back.End)
	if len(j.Phases) == 0 || len(back.Phases) != len(j.Phases) {
		t.Fatalf("phases: run %d, read back %d; want the same, at least one", len(j.Phases), len(back.Phases))
	}
	for i, p := range j.Phases {
		same(p.Name+" start", p.Start, back.Phases[i].Start)
		same(p.Name+" end", p.End, back.Phases[i].End)
	}
	if err := j.WriteHTML(&page1); err != nil {
		t.Fatal(err)
	}
	if err := back.WriteHTML(&page2); err != nil {
		t.Fatal(err)
	}
	if page1.String() != page2.String() {
		t.Error("the report of the journal read back differs from the run's")
	}
}
