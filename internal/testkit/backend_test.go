package testkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// client returns an HTTP client of its own, so that no test reuses another's
// connections.
func client(t *testing.T, keepAlive bool) *http.Client {
	tr := &http.Transport{DisableKeepAlives: !keepAlive}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

type result struct {
	status int
	body   string
	header http.Header
	err    error
}

func do(ctx context.Context, c *http.Client, method, url string, header map[string]string) result {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader("payload"))
	if err != nil {
		return result{err: err}
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, body: string(body), header: resp.Header, err: err}
}

func get(t *testing.T, c *http.Client, url string) result {
	t.Helper()
	return do(t.Context(), c, http.MethodGet, url, nil)
}

// waitCtx bounds a Wait so that a broken backend fails the test instead of
// hanging it; no correct run comes near the bound.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAnswers(t *testing.T) {
	tests := []struct {
		name       string
		set        func(*Backend)
		wantStatus []int
		wantBody   string // of the last answer
	}{
		{"healthy", (*Backend).Healthy, []int{200, 200}, "a"},
		{"respond", func(b *Backend) { b.Respond(200, "wrong") }, []int{200, 200}, "wrong"},
		{"respond 0 percent", func(b *Backend) { b.RespondPercent(0, 200, "wrong") }, []int{200, 200}, "a"},
		{"respond 100 percent", func(b *Backend) { b.RespondPercent(100, 201, "wrong") }, []int{201, 201}, "wrong"},
		{"fail", func(b *Backend) { b.Fail(503) }, []int{503, 503, 503}, "a: injected failure\n"},
		{"fail n", func(b *Backend) { b.FailN(2, 502) }, []int{502, 502, 200, 200}, "a"},
		{"fail 0 percent", func(b *Backend) { b.FailPercent(0, 500) }, []int{200, 200, 200}, "a"},
		{"fail 100 percent", func(b *Backend) { b.FailPercent(100, 500) }, []int{500, 500, 500}, "a: injected failure\n"},
		{"slow tail 0 percent", func(b *Backend) { b.SlowTail(0, time.Hour) }, []int{200, 200}, "a"},
		{"capacity, one at a time", func(b *Backend) { b.Capacity(1, 0, 0) }, []int{200, 200}, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Start(t, Config{Name: "a"})
			c := client(t, true)
			tt.set(b)
			var got []int
			var last result
			for range tt.wantStatus {
				last = get(t, c, b.URL()+"/x")
				if last.err != nil {
					t.Fatal(last.err)
				}
				got = append(got, last.status)
				if h := last.header.Get("X-Backend"); h != "a" {
					t.Errorf("X-Backend = %q; want a", h)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantStatus) || last.body != tt.wantBody {
				t.Errorf("statuses %v, last body %q; want %v, %q", got, last.body, tt.wantStatus, tt.wantBody)
			}
			if b.Requests() != int64(len(tt.wantStatus)) {
				t.Errorf("Requests() = %d; want %d", b.Requests(), len(tt.wantStatus))
			}
		})
	}
}

// expectedDraws replays the backend's seeded draws.
func expectedDraws(seed uint64, n int, percent float64) []bool {
	r := rand.New(rand.NewPCG(seed, seed))
	out := make([]bool, n)
	for i := range out {
		out[i] = r.Float64()*100 < percent
	}
	return out
}

// TestHealthyBody: Config.Body replaces the name as the healthy body.
func TestHealthyBody(t *testing.T) {
	b := Start(t, Config{Name: "a", Body: `{"balance":5}`})
	r := get(t, client(t, true), b.URL()+"/x")
	if r.err != nil || r.status != 200 || r.body != `{"balance":5}` || r.header.Get("X-Backend") != "a" {
		t.Errorf("got %d %q X-Backend %q (err %v); want 200 with the configured body, X-Backend a", r.status, r.body, r.header.Get("X-Backend"), r.err)
	}
}

func TestFailPercentIsSeeded(t *testing.T) {
	const n = 200
	b := Start(t, Config{Name: "a", Seed: 7})
	c := client(t, true)
	b.FailPercent(30, 503)
	want := expectedDraws(7, n, 30)
	fails := 0
	for i := range n {
		r := get(t, c, b.URL())
		if r.err != nil {
			t.Fatal(r.err)
		}
		if got := r.status == 503; got != want[i] {
			t.Fatalf("request %d: failed = %v; want %v (seeded sequence)", i, got, want[i])
		}
		if want[i] {
			fails++
		}
	}
	// 30% of 200 is 60, with a standard deviation of 6.5.
	if fails < 30 || fails > 90 {
		t.Errorf("%d of %d failed; want about 60", fails, n)
	}
}

func TestSlow(t *testing.T) {
	b := Start(t, Config{Name: "a"})
	c := client(t, true)
	b.Slow(20 * time.Millisecond)
	start := time.Now()
	if r := get(t, c, b.URL()); r.err != nil || r.status != 200 {
		t.Fatalf("slow answer: %d, %v", r.status, r.err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("slow answer came after %v; want at least 20ms", d)
	}

	// A client that gives up during the wait leaves no request behind.
	b.Slow(time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan result)
	go func() { done <- do(ctx, c, http.MethodGet, b.URL(), nil) }()
	if err := b.WaitInFlight(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if r := <-done; !errors.Is(r.err, context.Canceled) {
		t.Errorf("canceled request: %v; want context.Canceled", r.err)
	}
	if err := b.Wait(waitCtx(t), func() bool { return b.InFlight() == 0 }); err != nil {
		t.Errorf("in flight after the client left: %d (%v)", b.InFlight(), err)
	}
}

func TestSlowTail(t *testing.T) {
	const n = 40
	b := Start(t, Config{Name: "a", Seed: 3})
	c := client(t, false)
	b.SlowTail(25, time.Hour)
	slow := expectedDraws(3, n, 25)
	nslow := 0
	for i := range n {
		if !slow[i] {
			// A fast answer must come; a slow one would hang the test.
			if r := get(t, c, b.URL()); r.err != nil || r.status != 200 {
				t.Fatalf("request %d: %d, %v; want a fast 200", i, r.status, r.err)
			}
			continue
		}
		nslow++
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan result)
		go func() { done <- do(ctx, c, http.MethodGet, b.URL(), nil) }()
		if err := b.WaitInFlight(waitCtx(t), 1); err != nil {
			t.Fatal(err)
		}
		cancel()
		if r := <-done; r.err == nil {
			t.Fatalf("request %d: answered %d; want it held back by the slow tail", i, r.status)
		}
		if err := b.Wait(waitCtx(t), func() bool { return b.InFlight() == 0 }); err != nil {
			t.Fatal(err)
		}
	}
	if nslow == 0 || nslow == n {
		t.Fatalf("%d of %d draws slow; the test needs a mix", nslow, n)
	}
}

func TestHangUntilClientLeaves(t *testing.T) {
	b := Start(t, Config{Name: "a"})
	c := client(t, true)
	b.Hang()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan result)
	for range 3 {
		go func() { done <- do(ctx, c, http.MethodGet, b.URL(), nil) }()
	}
	if err := b.WaitInFlight(waitCtx(t), 3); err != nil {
		t.Fatal(err)
	}
	cancel()
	for range 3 {
		if r := <-done; !errors.Is(r.err, context.Canceled) {
			t.Errorf("hung request: %v; want context.Canceled", r.err)
		}
	}
	if err := b.Wait(waitCtx(t), func() bool { return b.InFlight() == 0 }); err != nil {
		t.Errorf("in flight = %d after clients left; want 0", b.InFlight())
	}
}

func TestResetConnections(t *testing.T) {
	b := Start(t, Config{Name: "a"})
	b.ResetConnections()
	r := get(t, client(t, false), b.URL())
	if !errors.Is(r.err, syscall.ECONNRESET) {
		t.Errorf("request to a resetting backend: %v; want ECONNRESET", r.err)
	}
	b.Healthy()
	if r := get(t, client(t, false), b.URL()); r.err != nil || r.status != 200 {
		t.Errorf("after Healthy: %d, %v; want 200", r.status, r.err)
	}
}

func TestCloseMidBody(t *testing.T) {
	b := Start(t, Config{Name: "a"})
	b.CloseMidBody()
	resp, err := client(t, false).Get(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("status %d, body error %v; want 200, unexpected EOF", resp.StatusCode, err)
	}
	if full := len(strings.Repeat("a\n", 64)); resp.ContentLength != int64(full) || len(body) != full/2 {
		t.Errorf("got %d of Content-Length %d bytes; want %d of %d", len(body), resp.ContentLength, full/2, full)
	}
}

func TestCapacity(t *testing.T) {
	b := Start(t, Config{Name: "a"})
	c := client(t, true)
	b.Capacity(2, time.Hour, 1)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan result, 3)
	for range 3 {
		go func() { done <- do(ctx, c, http.MethodGet, b.URL(), nil) }()
	}
	err := b.Wait(waitCtx(t), func() bool { return b.InFlight() == 3 && b.Queued() == 1 })
	if err != nil {
		t.Fatalf("in flight %d, queued %d; want 3, 1 (%v)", b.InFlight(), b.Queued(), err)
	}
	// The queue holds one: the next request is turned away at once.
	if r := get(t, c, b.URL()); r.err != nil || r.status != 503 || r.body != "a: queue full\n" {
		t.Errorf("request past the queue: %d %q, %v; want 503 queue full", r.status, r.body, r.err)
	}
	cancel()
	for range 3 {
		<-done
	}
	if err := b.Wait(waitCtx(t), func() bool { return b.InFlight() == 0 && b.Queued() == 0 }); err != nil {
		t.Errorf("in flight %d, queued %d after clients left; want 0, 0", b.InFlight(), b.Queued())
	}

	// Two workers of 20ms serve four requests in two waves: at least 40ms.
	b.Capacity(2, 20*time.Millisecond, 0)
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if r := do(t.Context(), c, http.MethodGet, b.URL(), nil); r.err != nil || r.status != 200 {
				t.Errorf("capacity request: %d, %v; want 200", r.status, r.err)
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("4 requests on 2 workers of 20ms took %v; want at least 40ms", d)
	}
}

func TestRefuseAndRestart(t *testing.T) {
	b := Start(t, Config{Name: "a"})
	c := client(t, true)
	url := b.URL()
	if r := get(t, c, url); r.err != nil {
		t.Fatal(r.err)
	}
	// A request under way is dropped with the connections.
	b.Hang()
	done := make(chan result)
	go func() { done <- do(t.Context(), c, http.MethodGet, url, nil) }()
	if err := b.WaitInFlight(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	b.Refuse()
	if r := <-done; r.err == nil {
		t.Errorf("request under way when refusing: %d; want an error", r.status)
	}
	if b.Listening() {
		t.Error("Listening() = true after Refuse")
	}
	b.Healthy()
	if r := get(t, c, url); !errors.Is(r.err, syscall.ECONNREFUSED) {
		t.Errorf("request while refusing: %v; want ECONNREFUSED", r.err)
	}
	b.Refuse() // again: no-op
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := b.Restart(); err != nil { // again: no-op
		t.Fatal(err)
	}
	if r := get(t, c, url); r.err != nil || r.status != 200 || b.URL() != url {
		t.Errorf("after Restart: %d, %v at %s; want 200 at %s", r.status, r.err, b.URL(), url)
	}
}

func TestDieAfter(t *testing.T) {
	b := Start(t, Config{Name: "a"})
	c := client(t, true)
	b.DieAfter(time.Hour)
	if err := b.Restart(); err != nil { // cancels the pending death
		t.Fatal(err)
	}
	b.DieAfter(5 * time.Millisecond)
	if err := b.Wait(waitCtx(t), func() bool { return !b.Listening() }); err != nil {
		t.Fatalf("still listening after DieAfter: %v", err)
	}
	if r := get(t, c, b.URL()); !errors.Is(r.err, syscall.ECONNREFUSED) {
		t.Errorf("request to a dead backend: %v; want ECONNREFUSED", r.err)
	}
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	if r := get(t, c, b.URL()); r.err != nil {
		t.Errorf("after Restart: %v", r.err)
	}
}

func TestHealthz(t *testing.T) {
	b := Start(t, Config{Name: "a"})
	c := client(t, true)
	b.Fail(500) // does not touch /healthz
	if r := get(t, c, b.URL()+"/healthz"); r.status != 200 || r.body != "ok\n" {
		t.Errorf("/healthz = %d %q; want 200 ok", r.status, r.body)
	}
	b.SetHealthz(false)
	b.Healthy()
	if r := get(t, c, b.URL()+"/healthz"); r.status != 503 {
		t.Errorf("/healthz after SetHealthz(false) = %d; want 503", r.status)
	}
	if r := get(t, c, b.URL()+"/other"); r.status != 200 {
		t.Errorf("/other = %d; want 200", r.status)
	}
	if b.HealthChecks() != 2 || b.Requests() != 1 {
		t.Errorf("HealthChecks(), Requests() = %d, %d; want 2, 1", b.HealthChecks(), b.Requests())
	}
}

func TestCounters(t *testing.T) {
	b := Start(t, Config{Name: "a"})
	c := client(t, true)
	ctx := t.Context()
	for _, h := range []map[string]string{
		{"Idempotency-Key": "k1"}, {"Idempotency-Key": "k1"}, {"X-Request-Id": "r1"},
		{"Idempotency-Key": "k2", "X-Request-Id": "r1"}, nil,
	} {
		if r := do(ctx, c, http.MethodPost, b.URL(), h); r.err != nil {
			t.Fatal(r.err)
		}
	}
	get(t, c, b.URL())
	do(ctx, c, http.MethodPut, b.URL(), nil)
	got := fmt.Sprint(b.Requests(), b.RequestsByMethod("POST"), b.RequestsByMethod("GET"), b.RequestsByMethod("PUT"),
		b.RequestsByMethod("DELETE"), b.Deliveries("k1"), b.Deliveries("k2"), b.Deliveries("r1"), b.Deliveries("none"))
	if want := "7 5 1 1 0 2 1 1 0"; got != want {
		t.Errorf("counters = %s; want %s", got, want)
	}
	b.ResetCounters()
	if got := fmt.Sprint(b.Requests(), b.RequestsByMethod("POST"), b.Deliveries("k1")); got != "0 0 0" {
		t.Errorf("after ResetCounters: %s; want 0 0 0", got)
	}
}

func TestCloseReleasesHangingRequests(t *testing.T) {
	b, err := NewBackend(Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, false)
	b.Hang()
	done := make(chan result)
	go func() { done <- do(t.Context(), c, http.MethodGet, b.URL(), nil) }()
	if err := b.WaitInFlight(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	b.Close() // returns only once the hanging handler has ended
	if b.InFlight() != 0 {
		t.Errorf("InFlight() = %d after Close; want 0", b.InFlight())
	}
	if r := <-done; r.err == nil {
		t.Errorf("hanging request got %d after Close; want an error", r.status)
	}
	b.Close()
	if err := b.Restart(); err == nil {
		t.Error("Restart after Close succeeded; want an error")
	}
}

func TestH2C(t *testing.T) {
	b := Start(t, Config{Name: "a", H2C: true})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	resp, err := c.Get(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s; want HTTP/2", resp.Proto)
	}
	b.ResetConnections()
	if r := get(t, c, b.URL()); r.err == nil {
		t.Errorf("reset over HTTP/2 answered %d; want a stream error", r.status)
	}
	b.CloseMidBody()
	if r := get(t, c, b.URL()); r.err == nil {
		t.Errorf("close mid-body over HTTP/2 read a whole body; want an error")
	}
}

func TestBehaviorString(t *testing.T) {
	b := Start(t, Config{})
	tests := []struct {
		set  func()
		want string
	}{
		{b.Healthy, "healthy"},
		{func() { b.Respond(200, "x") }, `respond(200, "x")`},
		{func() { b.Fail(503) }, "fail(503)"},
		{func() { b.FailN(2, 502) }, "fail_n(2 left, 502)"},
		{func() { b.FailPercent(12.5, 500) }, "fail_percent(12.5%, 500)"},
		{func() { b.Slow(time.Second) }, "slow(1s)"},
		{func() { b.SlowTail(1, time.Second) }, "slow_tail(1%, 1s)"},
		{b.Hang, "hang"},
		{b.ResetConnections, "reset"},
		{b.CloseMidBody, "close_mid_body"},
		{func() { b.Capacity(4, time.Millisecond, 8) }, "capacity(4 workers, 1ms, queue 8)"},
	}
	for _, tt := range tests {
		tt.set()
		if got := b.Behavior(); got != tt.want {
			t.Errorf("Behavior() = %q; want %q", got, tt.want)
		}
	}
	if b.Name() != "backend" || !strings.HasPrefix(b.Addr(), "127.0.0.1:") {
		t.Errorf("Name(), Addr() = %q, %q; want backend, 127.0.0.1:port", b.Name(), b.Addr())
	}
}

// TestSwitchWhileServing changes behaviour while requests flow; run with
// -race.
func TestSwitchWhileServing(t *testing.T) {
	b := Start(t, Config{Name: "a"})
	c := client(t, true)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := get(t, c, b.URL())
				if r.err == nil && r.status != 200 && r.status != 503 && r.status != 418 {
					t.Errorf("status %d", r.status)
				}
			}
		})
	}
	for i := range 200 {
		switch i % 5 {
		case 0:
			b.Fail(503)
		case 1:
			b.FailN(3, 503)
		case 2:
			b.FailPercent(50, 503)
		case 3:
			b.Respond(418, "teapot")
		case 4:
			b.Capacity(2, 0, 0)
		}
		if err := b.Wait(waitCtx(t), func() bool { return b.Requests() > int64(i) }); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
