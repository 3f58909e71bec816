package globalrate

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/internal/redistest"
	"github.com/holdfast-dev/holdfast/ratelimit"
)

// t0 is the explicit time decisions are made at; any time works, since
// only differences matter.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newClient(t *testing.T, srv *redistest.Server, c ClientConfig) *Client {
	t.Helper()
	c.Address = srv.Addr()
	if c.Timeout == 0 {
		// Generous on a shared 2-core machine: these tests are about the
		// decisions, and the failure tests set their own.
		c.Timeout = time.Second
	}
	cl, err := NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func newLocal(t *testing.T, rate float64, burst int) *ratelimit.Keyed {
	t.Helper()
	k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{RequestsPerSecond: rate, Burst: burst}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newLimiter(t *testing.T, cl *Client, route string, rate float64, burst int, onError OnError) *Limiter {
	t.Helper()
	l, err := New(Config{Route: route, Local: newLocal(t, rate, burst), Client: cl, OnError: onError})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type step struct {
	at       time.Duration // after t0
	key      string
	wantOK   bool
	wantWait time.Duration
}

// decisionTables are sequences with their exact answers. Each runs through
// ratelimit.Keyed and through the Redis script, which must both give them.
var decisionTables = []struct {
	name  string
	rate  float64
	burst int
	steps []step
}{
	{"10/s burst 1", 10, 1, []step{
		{0, "a", true, 0},
		{0, "a", false, 100 * time.Millisecond},
		{40 * time.Millisecond, "a", false, 60 * time.Millisecond},
		{40 * time.Millisecond, "b", true, 0},
		{100 * time.Millisecond, "a", true, 0},
		{100 * time.Millisecond, "a", false, 100 * time.Millisecond},
		{time.Hour, "a", true, 0},
	}},
	{"100/s burst 3", 100, 3, []step{
		{0, "u", true, 0},
		{0, "u", true, 0},
		{0, "u", true, 0},
		{0, "u", false, 10 * time.Millisecond},
		{5 * time.Millisecond, "u", false, 5 * time.Millisecond},
		{10 * time.Millisecond, "u", true, 0},
		{10 * time.Millisecond, "u", false, 10 * time.Millisecond},
		{35 * time.Millisecond, "u", true, 0},
		{35 * time.Millisecond, "u", true, 0},
		{35 * time.Millisecond, "u", false, 5 * time.Millisecond},
	}},
	// 3/s: the interval is 333,333,334 ns, rounded up, and the waits carry
	// its odd nanoseconds.
	{"3/s burst 2, odd interval", 3, 2, []step{
		{0, "", true, 0},
		{0, "", true, 0},
		{0, "", false, 333333334},
		{333333333, "", false, 1},
		{333333334, "", true, 0},
		{333333334, "", false, 333333334},
		{999999999, "", true, 0},
		{999999999, "", false, 3}, // 3 intervals are 1,000,000,002 ns
	}},
	{"0.5/s burst 1, across seconds", 0.5, 1, []step{
		{999 * time.Millisecond, "k", true, 0},
		{2*time.Second + 998*time.Millisecond, "k", false, time.Millisecond},
		{2*time.Second + 999*time.Millisecond, "k", true, 0},
		{3 * time.Second, "k", false, 1999 * time.Millisecond},
	}},
	{"1e6/s burst 2", 1e6, 2, []step{
		{0, "x", true, 0},
		{0, "x", true, 0},
		{0, "x", false, time.Microsecond},
		{999, "x", false, 1},
		{1000, "x", true, 0},
	}},
	{"key with separators", 1, 1, []step{
		{0, "a:b", true, 0},
		{0, "a", true, 0},
		{0, "a:b", false, time.Second},
		{0, "", true, 0},
	}},
}

// TestScriptMatchesKeyed runs every table through ratelimit.Keyed and the
// Redis script at the same explicit times: both must give its answers.
func TestScriptMatchesKeyed(t *testing.T) {
	srv := redistest.Start(t)
	cl := newClient(t, srv, ClientConfig{})
	for i, tt := range decisionTables {
		t.Run(tt.name, func(t *testing.T) {
			local := newLocal(t, tt.rate, tt.burst)
			global := newLimiter(t, cl, "table"+strconv.Itoa(i), tt.rate, tt.burst, OnErrorDeny)
			global.callerClock = true
			for j, s := range tt.steps {
				now := t0.Add(s.at)
				lok, lwait := local.TryAt(s.key, now)
				gok, gwait := global.TryAt(s.key, now)
				if lok != s.wantOK || lwait != s.wantWait {
					t.Errorf("step %d: Keyed.TryAt(%q, t0+%v) = %v, %v; want %v, %v", j, s.key, s.at, lok, lwait, s.wantOK, s.wantWait)
				}
				if gok != s.wantOK || gwait != s.wantWait {
					t.Errorf("step %d: Limiter.TryAt(%q, t0+%v) = %v, %v; want %v, %v", j, s.key, s.at, gok, gwait, s.wantOK, s.wantWait)
				}
			}
			if st := global.Stats(); st.Errors != 0 || st.Fallbacks != 0 {
				t.Errorf("stats = %+v; want no errors and no fallbacks", st)
			}
		})
	}
}

// TestScriptMatchesKeyedRandom compares the two on random sequences: rates
// and bursts of every size, times moving on by random steps, a few keys.
func TestScriptMatchesKeyedRandom(t *testing.T) {
	srv := redistest.Start(t)
	cl := newClient(t, srv, ClientConfig{})
	rng := rand.New(rand.NewPCG(1, 2))
	rates := []float64{0.3, 1, 3, 7, 100, 999, 12345.6, 1e6}
	for round := range 16 {
		rate := rates[rng.IntN(len(rates))]
		burst := 1 + rng.IntN(20)
		local := newLocal(t, rate, burst)
		global := newLimiter(t, cl, "random"+strconv.Itoa(round), rate, burst, OnErrorDeny)
		global.callerClock = true
		interval := local.Interval()
		now := t0.Add(time.Duration(rng.Int64N(int64(time.Hour))))
		for i := range 200 {
			now = now.Add(time.Duration(rng.Int64N(int64(2 * interval))))
			key := strconv.Itoa(rng.IntN(3))
			lok, lwait := local.TryAt(key, now)
			gok, gwait := global.TryAt(key, now)
			if gok != lok || gwait != lwait {
				t.Fatalf("rate %g burst %d, decision %d at %v for %q: global = %v, %v; local = %v, %v",
					rate, burst, i, now.Format(time.RFC3339Nano), key, gok, gwait, lok, lwait)
			}
		}
	}
}

// TestRoutesAreIndependent: two routes with the same key, and routes whose
// name and key would run together, never share a bucket.
func TestRoutesAreIndependent(t *testing.T) {
	srv := redistest.Start(t)
	cl := newClient(t, srv, ClientConfig{})
	for _, pair := range [][2]struct{ route, key string }{
		{{"api", "user-1"}, {"web", "user-1"}},
		{{"a:b", "c"}, {"a", "b:c"}},
		{{"a", "1:b:c"}, {"1:a", "b:c"}},
	} {
		first := newLimiter(t, cl, pair[0].route, 1, 2, OnErrorDeny)
		second := newLimiter(t, cl, pair[1].route, 1, 2, OnErrorDeny)
		first.callerClock, second.callerClock = true, true
		for i, want := range []bool{true, true, false} {
			if ok, _ := first.TryAt(pair[0].key, t0); ok != want {
				t.Errorf("route %q key %q, call %d: ok = %v; want %v", pair[0].route, pair[0].key, i, ok, want)
			}
		}
		// The first route's bucket is empty; the second's is untouched.
		for i, want := range []bool{true, true, false} {
			if ok, _ := second.TryAt(pair[1].key, t0); ok != want {
				t.Errorf("route %q key %q after route %q drained %q, call %d: ok = %v; want %v",
					pair[1].route, pair[1].key, pair[0].route, pair[0].key, i, ok, want)
			}
		}
	}
	// The keys are those the doc comment names.
	if got := srv.MustDo("EXISTS", "holdfast:rl:3:a:b:c", "holdfast:rl:1:a:b:c"); got != ":2" {
		t.Errorf("EXISTS of the two routes' keys = %q; want :2", got)
	}
}

// TestLimitersShareABucket: two limiters of one route, as two proxies have,
// take from one bucket: together they admit what one would.
func TestLimitersShareABucket(t *testing.T) {
	srv := redistest.Start(t)
	a := newLimiter(t, newClient(t, srv, ClientConfig{}), "shared", 10, 4, OnErrorDeny)
	b := newLimiter(t, newClient(t, srv, ClientConfig{}), "shared", 10, 4, OnErrorDeny)
	a.callerClock, b.callerClock = true, true
	admitted := 0
	for i := range 10 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if ok, _ := l.TryAt("k", t0); ok {
			admitted++
		}
	}
	if admitted != 4 {
		t.Errorf("two limiters admitted %d of 10 at once; want 4, the burst of their one bucket", admitted)
	}
}

// TestKeysExpireWhenFull: a bucket's key expires at its theoretical
// arrival time, when the bucket is full again; a refusal leaves it as it is.
func TestKeysExpireWhenFull(t *testing.T) {
	srv := redistest.Start(t)
	l := newLimiter(t, newClient(t, srv, ClientConfig{}), "ttl", 1, 5, OnErrorDeny)
	l.callerClock = true
	const key = "holdfast:rl:3:ttl:k"
	for i := range 3 {
		l.TryAt("k", t0)
		// After i+1 tokens the bucket is full again in (i+1) seconds.
		want := int64(i+1) * 1000
		pttl := pttl(t, srv, key)
		if pttl <= 0 || pttl > want {
			t.Errorf("after %d tokens: PTTL = %d ms; want in (0, %d]", i+1, pttl, want)
		}
	}
	if got := srv.MustDo("GET", key); !strings.HasPrefix(got, "$") {
		t.Errorf("GET %s = %q; want a bulk string", key, got)
	}
	// A bucket that 3/s refills is full again in 334 ms (the interval
	// rounded up), sooner than the floor: its key lives a second.
	l2 := newLimiter(t, l.client, "ttl2", 3, 1, OnErrorDeny)
	l2.callerClock = true
	l2.TryAt("k", t0)
	if p := pttl(t, srv, "holdfast:rl:4:ttl2:k"); p <= 900 || p > 1000 {
		t.Errorf("3/s: PTTL = %d ms; want about 1000, the floor over the 334 ms interval", p)
	}
}

func pttl(t *testing.T, srv *redistest.Server, key string) int64 {
	t.Helper()
	r := srv.MustDo("PTTL", key)
	n, err := strconv.ParseInt(strings.TrimPrefix(r, ":"), 10, 64)
	if err != nil {
		t.Fatalf("PTTL %s = %q", key, r)
	}
	return n
}

// TestRedisClock: without an explicit time the script uses Redis's TIME.
// A burst of 5 at 1/s admits exactly 5 of 10 calls made well within a
// second, and the sixth waits at most the interval.
func TestRedisClock(t *testing.T) {
	srv := redistest.Start(t)
	l := newLimiter(t, newClient(t, srv, ClientConfig{}), "clock", 1, 5, OnErrorDeny)
	admitted := 0
	var firstWait time.Duration
	for range 10 {
		// The now passed here is ignored by the shared bucket: a time an
		// hour off changes nothing.
		ok, wait := l.TryAt("k", time.Now().Add(time.Hour))
		if ok {
			admitted++
		} else if firstWait == 0 {
			firstWait = wait
		}
	}
	if admitted != 5 {
		t.Errorf("admitted %d of 10; want 5", admitted)
	}
	if firstWait <= 0 || firstWait > time.Second {
		t.Errorf("first refusal's wait = %v; want in (0, 1s]", firstWait)
	}
}

// TestScriptReloadedAfterFlush: after SCRIPT FLUSH (or a restart) EVALSHA
// gets NOSCRIPT and the decision is made with EVAL, not failed.
func TestScriptReloadedAfterFlush(t *testing.T) {
	srv := redistest.Start(t)
	l := newLimiter(t, newClient(t, srv, ClientConfig{}), "flush", 1, 2, OnErrorDeny)
	l.callerClock = true
	if ok, _ := l.TryAt("k", t0); !ok {
		t.Fatal("first call refused")
	}
	if got := srv.MustDo("SCRIPT", "FLUSH"); got != "+OK" {
		t.Fatalf("SCRIPT FLUSH = %q", got)
	}
	if ok, _ := l.TryAt("k", t0); !ok {
		t.Error("second call after SCRIPT FLUSH refused; want allowed")
	}
	if ok, wait := l.TryAt("k", t0); ok || wait != time.Second {
		t.Errorf("third call = %v, %v; want false, 1s", ok, wait)
	}
	if st := l.Stats(); st.Errors != 0 {
		t.Errorf("errors = %d; want 0", st.Errors)
	}
}

// TestOnError: with Redis down every decision is on_error's, the short
// circuit skips Redis until its backoff is over, then one probe goes, and
// global limiting resumes once Redis is back.
func TestOnError(t *testing.T) {
	for _, tt := range []struct {
		onError OnError
		// want are the answers to 3 calls for one key at t0 with Redis
		// down, at 1/s and burst 2.
		want []bool
	}{
		{OnErrorLocal, []bool{true, true, false}},
		{OnErrorAllow, []bool{true, true, true}},
		{OnErrorDeny, []bool{false, false, false}},
	} {
		t.Run(tt.onError.String(), func(t *testing.T) {
			srv := redistest.Start(t)
			cl := newClient(t, srv, ClientConfig{Timeout: 50 * time.Millisecond, Backoff: time.Second, MaxBackoff: 4 * time.Second})
			l := newLimiter(t, cl, "down", 1, 2, tt.onError)
			l.callerClock = true
			srv.Kill()
			for i, want := range tt.want {
				ok, wait := l.TryAt("k", t0)
				if ok != want {
					t.Errorf("call %d with redis down: ok = %v; want %v", i, ok, want)
				}
				if !ok && wait <= 0 {
					t.Errorf("call %d refused with wait %v; want a positive wait", i, wait)
				}
			}
			st := l.Stats()
			if st.Errors != 1 || st.Fallbacks != 3 || !st.Degraded {
				t.Errorf("stats = %+v; want 1 error (the short circuit skips Redis after it), 3 fallbacks, degraded", st)
			}
			if tt.onError == OnErrorDeny {
				// The wait is until the next probe: within the first backoff.
				if _, wait := l.TryAt("k", t0); wait > time.Second {
					t.Errorf("deny's wait = %v; want at most the backoff, 1s", wait)
				}
			}

			srv.Restart()
			// Still within the backoff: Redis is not asked.
			l.TryAt("k", t0.Add(time.Millisecond))
			if st := l.Stats(); !st.Degraded || st.Errors != 1 {
				t.Errorf("within the backoff: stats = %+v; want degraded and still 1 error", st)
			}
			// After it, the probe finds Redis: global decisions again, on
			// a fresh bucket (Redis lost its data).
			later := t0.Add(time.Minute)
			for i, want := range []bool{true, true, false} {
				if ok, _ := l.TryAt("k", later); ok != want {
					t.Errorf("call %d after redis restarted: ok = %v; want %v", i, ok, want)
				}
			}
			if st := l.Stats(); st.Degraded {
				t.Errorf("after redis restarted: stats = %+v; want not degraded", st)
			}
			if got := srv.MustDo("EXISTS", "holdfast:rl:4:down:k"); got != ":1" {
				t.Errorf("EXISTS of the bucket after recovery = %q; want :1", got)
			}
		})
	}
}

// TestShortCircuit: after a failure only one probe goes at a time once the
// backoff is over, and each failure in a row doubles the backoff.
func TestShortCircuit(t *testing.T) {
	srv := redistest.Start(t)
	cl := newClient(t, srv, ClientConfig{Timeout: 50 * time.Millisecond, Backoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond})
	srv.Kill()
	now := t0
	cl.failed(now, fmt.Errorf("test"))
	if cl.admit(now.Add(49 * time.Millisecond)) {
		t.Error("admit within half the first backoff = true; want false")
	}
	probe := now.Add(100 * time.Millisecond)
	if !cl.admit(probe) {
		t.Fatal("admit after the backoff = false; want true, the probe")
	}
	if cl.admit(probe) {
		t.Error("a second admit while the probe is in flight = true; want false")
	}
	for i, backoff := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond} {
		cl.failed(probe, fmt.Errorf("test"))
		if got := cl.retryIn(probe); got < backoff/2 || got > backoff {
			t.Errorf("failure %d in a row: retry in %v; want in [%v, %v]", i+2, got, backoff/2, backoff)
		}
		probe = probe.Add(backoff)
		if !cl.admit(probe) {
			t.Fatalf("failure %d: admit after the backoff = false; want true", i+2)
		}
	}
	cl.succeeded()
	if cl.Degraded() || !cl.admit(probe) || !cl.admit(probe) {
		t.Error("after a success: degraded or admit refused; want every call admitted")
	}
}

// TestSlowRedis: a Redis that accepts connections and never answers (a
// paused process) costs each decision no more than the timeout, and later
// ones none at all while the short circuit is open.
func TestSlowRedis(t *testing.T) {
	srv := redistest.Start(t)
	const timeout = 20 * time.Millisecond
	cl := newClient(t, srv, ClientConfig{Timeout: timeout, Backoff: time.Hour})
	l := newLimiter(t, cl, "slow", 1, 1, OnErrorLocal)
	l.callerClock = true
	if ok, _ := l.TryAt("warm", t0); !ok {
		t.Fatal("warm-up call refused")
	}
	srv.Pause()
	defer srv.Resume()
	start := time.Now()
	ok, _ := l.TryAt("k", t0)
	took := time.Since(start)
	if !ok {
		t.Error("decision with redis paused refused; want the local limiter's, allowed")
	}
	// The bound is the timeout plus scheduling on a loaded machine; a
	// decision that waited on Redis would take until the test ends.
	if took > timeout+200*time.Millisecond {
		t.Errorf("decision with redis paused took %v; want about the timeout, %v", took, timeout)
	}
	start = time.Now()
	for range 100 {
		l.TryAt("k", t0)
	}
	if took := time.Since(start); took > timeout {
		t.Errorf("100 decisions with the circuit open took %v; want far less than one timeout (%v)", took, timeout)
	}
	if st := l.Stats(); st.Errors != 1 || st.Fallbacks != 101 {
		t.Errorf("stats = %+v; want 1 error and 101 fallbacks", st)
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	cl, err := NewClient(ClientConfig{Address: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	local := newLocal(t, 1, 1)
	for _, tt := range []struct {
		name string
		c    Config
	}{
		{"no route", Config{Local: local, Client: cl}},
		{"no local", Config{Route: "r", Client: cl}},
		{"no client", Config{Route: "r", Local: local}},
		{"bad on_error", Config{Route: "r", Local: local, Client: cl, OnError: 7}},
	} {
		if _, err := New(tt.c); err == nil {
			t.Errorf("%s: New succeeded; want an error", tt.name)
		}
	}
	for _, c := range []ClientConfig{{}, {Address: "x:1", Timeout: -1}, {Address: "x:1", Timeout: 2 * time.Second}, {Address: "x:1", Backoff: -1}} {
		if _, err := NewClient(c); err == nil {
			t.Errorf("NewClient(%+v) succeeded; want an error", c)
		}
	}
	if err := cl.Close(); err != nil {
		t.Errorf("second Close = %v; want nil (idempotent)", err)
	}
}
