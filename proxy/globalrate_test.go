package proxy

import (
	"context"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/internal/globalrate"
	"github.com/holdfast-dev/holdfast/internal/redistest"
	"github.com/holdfast-dev/holdfast/ratelimit"
)

// The fleet tests run three proxies in this process, each with its own
// config, Redis client and local state, as three holdfast processes would
// have, in front of one backend and one real redis-server.

// fleetConfig is a proxy in front of backend with route api limited to
// 100 req/s per X-User-Id, globally, burst 10.
func fleetConfig(backend, redisAddr, redisExtra string) string {
	return yamlf(`
redis: {address: %[2]s%[3]s}
upstreams:
	app:
		endpoints: [{address: %[1]s}]
routes:
	- name: api
		upstream: app
		rate_limit: {requests_per_second: 100, burst: 10, key: header:X-User-Id, scope: global}
`, backend, redisAddr, redisExtra)
}

// fleetDuration is how long TestFleetSharesOneLimit offers load: 10 s in
// `make test`; HOLDFAST_FLEET_DURATION=30s runs the full 30 s.
func fleetDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("HOLDFAST_FLEET_DURATION")
	if v == "" {
		return 10 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("HOLDFAST_FLEET_DURATION=%q: want a positive Go duration", v)
	}
	return d
}

// tally counts the answers to offered load by status.
type tally struct {
	ok, limited, other atomic.Int64
	// mu guards firstOther, the first answer that was neither 200 nor 429.
	mu         sync.Mutex
	firstOther string
}

func (c *tally) add(r reply) {
	switch {
	case r.err == nil && r.status == http.StatusOK:
		c.ok.Add(1)
	case r.err == nil && r.status == http.StatusTooManyRequests:
		c.limited.Add(1)
	default:
		c.other.Add(1)
		c.mu.Lock()
		if c.firstOther == "" {
			c.firstOther = short(r.body)
			if r.err != nil {
				c.firstOther = r.err.Error()
			}
		}
		c.mu.Unlock()
	}
}

// offer sends perProxy requests a second to each proxy for d, paced by a
// ticker, each request in its own goroutine, and returns once every answer
// is in. Every request carries X-User-Id: u1, so all share one bucket.
func offer(t *testing.T, fleet []*env, perProxy int, d time.Duration) *tally {
	t.Helper()
	var c tally
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	for _, e := range fleet {
		wg.Go(func() {
			tick := time.NewTicker(time.Second / time.Duration(perProxy))
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					wg.Go(func() { c.add(e.get("/", "X-User-Id", "u1")) })
				}
			}
		})
	}
	wg.Wait()
	return &c
}

func startFleet(t *testing.T, redisAddr, redisExtra string) []*env {
	t.Helper()
	backend := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {})
	fleet := make([]*env, 3)
	for i := range fleet {
		fleet[i] = startProxy(t, fleetConfig(backend.URL, redisAddr, redisExtra))
	}
	return fleet
}

func redisStatus(t *testing.T, e *env) RedisLimitStatus {
	t.Helper()
	s := e.p.Status().Routes[0]
	if s.RateLimitScope != "global" || s.RateLimitRedis == nil {
		t.Fatalf("route status = %+v; want scope global with its redis state", s)
	}
	return *s.RateLimitRedis
}

// TestFleetSharesOneLimit: three proxies sharing a 100 req/s global limit,
// offered 300 req/s together, admit 100 req/s together: within 5% of the
// window's allowance (rate × duration + burst), and never above it.
func TestFleetSharesOneLimit(t *testing.T) {
	srv := redistest.Start(t)
	// A timeout generous for a shared 2-core test machine: this test is
	// about the shared limit, so a decision must not fall back.
	fleet := startFleet(t, srv.Addr(), ", timeout: 1s")
	d := fleetDuration(t)
	start := time.Now()
	c := offer(t, fleet, 100, d)
	elapsed := time.Since(start)

	admitted := c.ok.Load()
	allowance := 100*elapsed.Seconds() + 10
	t.Logf("%v at 300 req/s offered through 3 proxies: %d admitted, %d limited, %d other; allowance %.0f (%.1f%%); %.1f req/s admitted after the burst",
		elapsed.Round(time.Millisecond), admitted, c.limited.Load(), c.other.Load(), allowance,
		100*float64(admitted)/allowance, float64(admitted-10)/elapsed.Seconds())
	if n := c.other.Load(); n != 0 {
		t.Errorf("%d answers were neither 200 nor 429; first: %s", n, c.firstOther)
	}
	if lo, hi := 0.95*allowance, 1.05*allowance; float64(admitted) < lo || float64(admitted) > hi {
		t.Errorf("admitted %d; want within 5%% of the allowance %.0f: [%.0f, %.0f]", admitted, allowance, lo, hi)
	}
	// Offered 300/s, the limit is what stops two thirds.
	if c.limited.Load() < admitted {
		t.Errorf("limited %d < admitted %d; want about twice as many limited", c.limited.Load(), admitted)
	}
	for i, e := range fleet {
		if s := redisStatus(t, e); s.Errors != 0 || s.Fallbacks != 0 || s.Degraded {
			t.Errorf("proxy %d: redis status %+v; want no errors, no fallbacks", i, s)
		}
	}
}

// TestFleetSurvivesRedisDeath: Redis killed under load: no 5xx, every proxy
// falls back to its local limit (each then admits up to the limit itself)
// and shows it degraded; Redis restarted on the same port: global limiting
// resumes by itself.
func TestFleetSurvivesRedisDeath(t *testing.T) {
	srv := redistest.Start(t)
	fleet := startFleet(t, srv.Addr(), ", timeout: 250ms, on_error: local")

	before := offer(t, fleet, 100, time.Second)
	if before.other.Load() != 0 {
		t.Fatalf("before the kill: %d answers neither 200 nor 429: %s", before.other.Load(), before.firstOther)
	}

	srv.Kill()
	const down = 2 * time.Second
	during := offer(t, fleet, 100, down)
	if n := during.other.Load(); n != 0 {
		t.Errorf("with redis down: %d answers were neither 200 nor 429; first: %s", n, during.firstOther)
	}
	// Each proxy enforces the limit alone: together up to 3 × (100/s × 2 s
	// + burst 10). A fleet that still shared one bucket would admit about a
	// third of that; one that stopped limiting, all 600.
	if got := during.ok.Load(); got < 300 || got > 630 {
		t.Errorf("with redis down: admitted %d of %d; want the local limits' (~600 at most 630)", got, during.ok.Load()+during.limited.Load())
	}
	for i, e := range fleet {
		s := redisStatus(t, e)
		if !s.Degraded || s.Errors == 0 || s.Fallbacks == 0 || s.OnError != "local" {
			t.Errorf("proxy %d with redis down: redis status %+v; want degraded, errors and fallbacks counted, on_error local", i, s)
		}
		if s.Errors > 50 {
			t.Errorf("proxy %d: %d redis errors in %v; want few (the short circuit skips Redis after an error)", i, s.Errors, down)
		}
	}

	srv.Restart()
	for i, e := range fleet {
		// A request now and then lets the probe go once the backoff (at
		// most 2 s) is over.
		waitFor(t, "global limiting to resume", func() bool {
			e.get("/", "X-User-Id", "warmup")
			return !redisStatus(t, e).Degraded
		})
		t.Logf("proxy %d resumed: %+v", i, redisStatus(t, e))
	}
	began := time.Now()
	after := offer(t, fleet, 100, 3*time.Second)
	elapsed := time.Since(began)
	if n := after.other.Load(); n != 0 {
		t.Errorf("after redis restarted: %d answers neither 200 nor 429; first: %s", n, after.firstOther)
	}
	// One shared bucket again (fresh in the restarted Redis): 100/s over
	// the time the load ran (a little past 3 s) + burst 10, never above
	// it, and within 10% under it over so short a window.
	if got, allowance := after.ok.Load(), 100*elapsed.Seconds()+10; float64(got) < 0.9*allowance || float64(got) > allowance+1 {
		t.Errorf("after redis restarted: admitted %d in %v; want about %.0f (100/s + burst), one shared limit", got, elapsed.Round(time.Millisecond), allowance)
	}
	for i, e := range fleet {
		if s := redisStatus(t, e); s.Degraded {
			t.Errorf("proxy %d after the restart: %+v; want not degraded", i, s)
		}
	}
}

// TestGlobalLimitOnError: with Redis unreachable from the start, on_error
// allow admits everything and deny answers 429 with a Retry-After; neither
// is ever a 5xx, and neither waits on Redis past the timeout.
func TestGlobalLimitOnError(t *testing.T) {
	srv := redistest.Start(t)
	addr := srv.Addr()
	srv.Kill()
	backend := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {})
	for _, tt := range []struct {
		onError string
		want    int
	}{
		{"allow", http.StatusOK},
		{"deny", http.StatusTooManyRequests},
		{"local", http.StatusOK}, // the first request of the burst
	} {
		t.Run(tt.onError, func(t *testing.T) {
			e := startProxy(t, fleetConfig(backend.URL, addr, ", on_error: "+tt.onError))
			for i := range 20 {
				r := e.get("/", "X-User-Id", "u1")
				if i == 0 || tt.onError != "local" {
					if r.status != tt.want {
						t.Fatalf("request %d: status %d %q; want %d", i, r.status, short(r.body), tt.want)
					}
				}
				if r.err != nil || r.status >= 500 {
					t.Fatalf("request %d: %d %v; want never a 5xx", i, r.status, r.err)
				}
				if r.status == http.StatusTooManyRequests {
					checkLocal(t, r, http.StatusTooManyRequests, ReasonRateLimited)
					retryAfter(t, r)
				}
			}
			s := redisStatus(t, e)
			if !s.Degraded || s.Errors == 0 || s.Fallbacks != 20 || s.OnError != tt.onError {
				t.Errorf("redis status %+v; want degraded, errors, 20 fallbacks, on_error %s", s, tt.onError)
			}
		})
	}
}

// TestGlobalLimitReload: a reload that leaves the redis block and the route
// alone keeps the Redis client and the limiter; one that changes the redis
// block makes a new client (closing the old) and rebuilds the global
// routes; one that changes the scope rebuilds the route as a local limit.
func TestGlobalLimitReload(t *testing.T) {
	srv := redistest.Start(t)
	const backend = "http://127.0.0.1:1"
	p, err := New(mustParse(t, fleetConfig(backend, srv.Addr(), "")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	first := p.state.Load()
	g, ok := first.route("api").limiter.(*globalrate.Limiter)
	if !ok || first.redis == nil || g.Client() != first.redis {
		t.Fatalf("route api's limiter is %T; want a *globalrate.Limiter on the proxy's client", first.route("api").limiter)
	}

	if err := p.Reload(mustParse(t, fleetConfig(backend, srv.Addr(), ""))); err != nil {
		t.Fatal(err)
	}
	same := p.state.Load()
	if same.redis != first.redis || same.route("api") != first.route("api") {
		t.Error("an unchanged reload replaced the redis client or the route")
	}

	if err := p.Reload(mustParse(t, fleetConfig(backend, srv.Addr(), ", timeout: 7ms"))); err != nil {
		t.Fatal(err)
	}
	changed := p.state.Load()
	if changed.redis == first.redis || changed.redis.Timeout() != 7*time.Millisecond {
		t.Error("a changed redis block kept the old client")
	}
	g2, ok := changed.route("api").limiter.(*globalrate.Limiter)
	if !ok || g2 == g || g2.Client() != changed.redis {
		t.Error("a changed redis block kept the route's old limiter")
	}
	// The old client is closed: a decision on it falls back, never fails.
	if ok, _ := g.TryAt("k", time.Now()); !ok {
		t.Error("a decision on the replaced limiter was refused; want its local fallback's allow")
	}
	if s := g.Stats(); s.Errors == 0 {
		t.Errorf("replaced limiter's stats %+v; want the closed client's error counted", s)
	}

	local := replaceOnce(fleetConfig(backend, srv.Addr(), ", timeout: 7ms"), "scope: global", "scope: local")
	if err := p.Reload(mustParse(t, local)); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.state.Load().route("api").limiter.(*ratelimit.Keyed); !ok {
		t.Errorf("after scope: local the limiter is %T; want *ratelimit.Keyed", p.state.Load().route("api").limiter)
	}
	if st := p.state.Load(); st.redis != changed.redis {
		t.Error("a reload that changed only a route's scope replaced the redis client")
	}
}
