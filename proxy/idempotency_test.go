package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func idemConfig(t *testing.T, upstream, idem string) string {
	return yamlf(`store: {data_dir: %s}
upstreams:
	pay: {endpoints: [{address: %s}]}
routes:
	- name: pay
		match: {path_prefix: /pay}
		upstream: pay
		timeout: 5s
		idempotency: %s
`, t.TempDir(), upstream, idem)
}

// checkProblem asserts r is an application/problem+json reply with status.
func checkProblem(t *testing.T, r reply, status int) {
	t.Helper()
	if r.err != nil || r.status != status {
		t.Fatalf("got %d %q (err %v); want %d", r.status, short(r.body), r.err, status)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q; want application/problem+json", ct)
	}
	var p struct {
		Title  string `json:"title"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal([]byte(r.body), &p); err != nil || p.Status != status || p.Title == "" {
		t.Errorf("problem body %q (%v); want title and status %d", r.body, err, status)
	}
}

// TestIdempotencyReplays: a client that retries each POST three times
// with the same key runs it upstream once; the repeats get the stored
// response with Idempotent-Replayed: true.
func TestIdempotencyReplays(t *testing.T) {
	var calls atomic.Int64
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		w.Header().Set("X-Charge", fmt.Sprint(n))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "charged %d", n)
	})
	e := startProxy(t, idemConfig(t, b.URL, "{}"))
	for k := range 5 {
		key := formatIdempotencyKey(fmt.Sprintf("key-%d", k))
		first := e.send(e.h1, "POST", "/pay", "100 EUR", HeaderIdempotencyKey, key)
		if first.status != http.StatusCreated || first.header.Get(HeaderIdempotentReplayed) != "" {
			t.Fatalf("first: %d %q, replayed %q; want 201, not replayed", first.status, first.body, first.header.Get(HeaderIdempotentReplayed))
		}
		for range 3 {
			r := e.send(e.h1, "POST", "/pay", "100 EUR", HeaderIdempotencyKey, key)
			if r.status != http.StatusCreated || r.body != first.body || r.header.Get("X-Charge") != first.header.Get("X-Charge") {
				t.Errorf("repeat: %d %q X-Charge %q; want %d %q %q", r.status, r.body, r.header.Get("X-Charge"), first.status, first.body, first.header.Get("X-Charge"))
			}
			if got := r.header.Get(HeaderIdempotentReplayed); got != "true" {
				t.Errorf("%s = %q; want true", HeaderIdempotentReplayed, got)
			}
		}
	}
	if got := calls.Load(); got != 5 {
		t.Errorf("upstream ran %d times; want 5 (once per key)", got)
	}
}

// TestIdempotencyErrors: every status of the draft, each a problem+json.
func TestIdempotencyErrors(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int64
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path == "/pay/slow" {
			<-release
		}
		w.Write([]byte("ok"))
	})
	e := startProxy(t, idemConfig(t, b.URL, "{required: true}"))
	key := HeaderIdempotencyKey

	checkProblem(t, e.send(e.h1, "POST", "/pay", "x"), http.StatusBadRequest)
	for _, bad := range []string{"abc", `"`, `""`, `"` + strings.Repeat("k", 256) + `"`, `"a";p=1`} {
		checkProblem(t, e.send(e.h1, "POST", "/pay", "x", key, bad), http.StatusBadRequest)
	}
	r := e.send(e.h1, "POST", "/pay", "x", key, `"a"`, key, `"b"`)
	checkProblem(t, r, http.StatusBadRequest)

	mustOK(t, e.send(e.h1, "POST", "/pay", "x", key, `"k1"`))
	checkProblem(t, e.send(e.h1, "POST", "/pay", "y", key, `"k1"`), http.StatusUnprocessableEntity)
	checkProblem(t, e.send(e.h1, "PUT", "/pay", "x", key, `"k1"`), http.StatusUnprocessableEntity)
	checkProblem(t, e.send(e.h1, "POST", "/pay?x=1", "x", key, `"k1"`), http.StatusUnprocessableEntity)

	done := make(chan reply)
	go func() { done <- e.send(e.h1, "POST", "/pay/slow", "x", key, `"k2"`) }()
	waitFor(t, "the slow request upstream", func() bool { return calls.Load() == 2 })
	r = e.send(e.h1, "POST", "/pay/slow", "x", key, `"k2"`)
	checkProblem(t, r, http.StatusConflict)
	retryAfter(t, r)
	close(release)
	mustOK(t, <-done)
	if got := calls.Load(); got != 2 {
		t.Errorf("upstream ran %d times; want 2", got)
	}
}

// TestIdempotencyConcurrentDuplicates: of 20 concurrent requests with one
// key exactly one is forwarded; the others get 409 or the replay.
func TestIdempotencyConcurrentDuplicates(t *testing.T) {
	var calls atomic.Int64
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Write([]byte("done"))
	})
	e := startProxy(t, idemConfig(t, b.URL, "{}"))
	var wg sync.WaitGroup
	var ok, busy atomic.Int64
	for range 20 {
		wg.Go(func() {
			r := e.send(e.h1, "POST", "/pay", "x", HeaderIdempotencyKey, `"same"`)
			switch r.status {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusConflict:
				busy.Add(1)
			default:
				t.Errorf("got %d %q; want 200 or 409", r.status, r.body)
			}
		})
	}
	wg.Wait()
	if got := calls.Load(); got != 1 {
		t.Errorf("upstream ran %d times for 20 concurrent duplicates; want 1", got)
	}
	t.Logf("%d answered (1 forwarded, the rest replayed), %d 409", ok.Load(), busy.Load())
}

// TestIdempotencyScopes: two clients (Authorization) using the same key
// each get their own response, never the other's.
func TestIdempotencyScopes(t *testing.T) {
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("for " + r.Header.Get("Authorization")))
	})
	e := startProxy(t, idemConfig(t, b.URL, "{scope: header:Authorization}"))
	for range 2 {
		for _, who := range []string{"Bearer alice", "Bearer bob"} {
			r := e.send(e.h1, "POST", "/pay", "x", HeaderIdempotencyKey, `"k"`, "Authorization", who)
			if r.status != http.StatusOK || r.body != "for "+who {
				t.Errorf("%s: %d %q; want 200 %q", who, r.status, r.body, "for "+who)
			}
		}
	}
	if got := b.requests.Load(); got != 2 {
		t.Errorf("upstream ran %d times; want 2 (once per client)", got)
	}
}

// TestIdempotencyFreesKeyOnLocalReply: a request holdfast answered itself
// (no upstream) keeps nothing, so the client's retry goes through.
func TestIdempotencyFreesKeyOnLocalReply(t *testing.T) {
	rc := startReceiver(t, nil)
	rc.down()
	e := startProxy(t, idemConfig(t, rc.url(), "{}"))
	r := e.send(e.h1, "POST", "/pay", "x", HeaderIdempotencyKey, `"k"`)
	if r.status < 500 || r.header.Get(HeaderReason) == "" {
		t.Fatalf("upstream down: %d %q; want a 5xx local reply", r.status, r.body)
	}
	rc.up()
	mustOK(t, e.send(e.h1, "POST", "/pay", "x", HeaderIdempotencyKey, `"k"`))
	if d, _ := rc.counts(); d != 1 {
		t.Errorf("receiver saw %d; want 1", d)
	}
}

// TestIdempotencyDurable: on a durable route the same key gets the same
// 202 and id, and nothing new is queued; the delivery carries the
// client's key.
func TestIdempotencyDurable(t *testing.T) {
	rc := startReceiver(t, nil)
	cfg := durableConfig(t, rc.url(), "{backoff: [10ms]}") + "    idempotency: {scope: route}\n"
	e := startProxy(t, cfg)
	first := mustAccept(t, e.send(e.h1, "POST", "/orders", "o", HeaderIdempotencyKey, `"order-1"`))
	for range 3 {
		r := e.send(e.h1, "POST", "/orders", "o", HeaderIdempotencyKey, `"order-1"`)
		if a := mustAccept(t, r); a != first {
			t.Errorf("repeat accepted as %+v; want the first's %+v", a, first)
		}
		if r.header.Get(HeaderIdempotentReplayed) != "true" {
			t.Error("repeat not marked Idempotent-Replayed")
		}
	}
	waitForLong(t, 10*time.Second, "delivery", func() bool { d, _ := rc.counts(); return d == 1 })
	rc.mu.Lock()
	keys := append([]string(nil), rc.keys...)
	rc.mu.Unlock()
	if len(keys) != 1 || keys[0] != `"order-1"` {
		t.Errorf("delivered keys %q; want the client's [\"order-1\"]", keys)
	}
	if n := e.p.durableStatsFor("orders").accepted.Load(); n != 1 {
		t.Errorf("accepted %d messages; want 1", n)
	}
}

// TestIdempotencyStaleMarker: an in-flight marker left by a proxy that
// died (older than twice the route timeout plus 30 s) is taken over by the
// repeat, which is served; a fresh one still gets 409.
func TestIdempotencyStaleMarker(t *testing.T) {
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	e := startProxy(t, idemConfig(t, b.URL, "{scope: route}"))
	is := e.p.state.Load().route("pay").idem
	fp := fingerprint(httptest.NewRequest("POST", "/pay", nil), []byte("x"))
	for _, tt := range []struct {
		key    string
		age    time.Duration
		status int
	}{{"fresh", time.Second, http.StatusConflict}, {"stale", is.stale + time.Second, http.StatusOK}} {
		marker, _ := json.Marshal(&idemRecord{Fingerprint: fp, Started: time.Now().Add(-tt.age)})
		if _, err := is.kv.Create(t.Context(), is.recordKey("", tt.key), marker); err != nil {
			t.Fatal(err)
		}
		r := e.send(e.h1, "POST", "/pay", "x", HeaderIdempotencyKey, formatIdempotencyKey(tt.key))
		if r.status != tt.status {
			t.Errorf("%s marker: %d %q; want %d", tt.key, r.status, r.body, tt.status)
		}
	}
	if got := b.requests.Load(); got != 1 {
		t.Errorf("upstream ran %d times; want 1 (the stale marker's repeat)", got)
	}
}
