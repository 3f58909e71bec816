package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/holdfast-dev/holdfast/config"
)

// receiver is an upstream that can go down (its listener closed: connect
// failures) and come back on the same address, and that deduplicates what
// it is sent by Idempotency-Key, as the docs tell a receiver to.
type receiver struct {
	t    *testing.T
	addr string
	h    http.HandlerFunc

	mu   sync.Mutex
	srv  *http.Server
	seen map[string]int    // Idempotency-Key -> deliveries
	keys []string          // keys in the order first seen
	body map[string]string // Idempotency-Key -> body
}

func startReceiver(t *testing.T, h http.HandlerFunc) *receiver {
	t.Helper()
	rc := &receiver{t: t, h: h, seen: map[string]int{}, body: map[string]string{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.addr = l.Addr().String()
	rc.serve(l)
	t.Cleanup(rc.down)
	return rc
}

func (rc *receiver) url() string { return "http://" + rc.addr }

func (rc *receiver) serve(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1<<20)
		n, _ := r.Body.Read(buf)
		if rc.h != nil {
			rec := &statusWriter{ResponseWriter: w}
			rc.h(rec, r)
			if rec.code >= 300 {
				return
			}
		}
		key := r.Header.Get(HeaderIdempotencyKey)
		rc.mu.Lock()
		if rc.seen[key] == 0 {
			rc.keys = append(rc.keys, key)
		}
		rc.seen[key]++
		rc.body[key] = string(buf[:n])
		rc.mu.Unlock()
	})}
	rc.mu.Lock()
	rc.srv = srv
	rc.mu.Unlock()
	go srv.Serve(l)
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }

// down closes the listener and every connection: the upstream is gone.
func (rc *receiver) down() {
	rc.mu.Lock()
	srv := rc.srv
	rc.srv = nil
	rc.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// up listens again on the same address.
func (rc *receiver) up() {
	rc.t.Helper()
	var l net.Listener
	var err error
	for range 100 {
		if l, err = net.Listen("tcp", rc.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		rc.t.Fatalf("relisten on %s: %v", rc.addr, err)
	}
	rc.serve(l)
}

// counts returns how many distinct keys arrived and how many deliveries
// were duplicates.
func (rc *receiver) counts() (distinct, dups int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.seen {
		distinct++
		dups += n - 1
	}
	return distinct, dups
}

func durableConfig(t *testing.T, upstream, durable string) string {
	return yamlf(`store: {data_dir: %s}
upstreams:
	orders: {endpoints: [{address: %s}]}
routes:
	- name: orders
		match: {path_prefix: /orders}
		upstream: orders
		timeout: 2s
		durable: %s
`, t.TempDir(), upstream, durable)
}

// accepted is a 202's body.
type accepted struct {
	ID        string `json:"id"`
	StatusURL string `json:"status_url"`
}

func mustAccept(t *testing.T, r reply) accepted {
	t.Helper()
	if r.err != nil || r.status != http.StatusAccepted {
		t.Fatalf("got %d %q (err %v); want 202", r.status, short(r.body), r.err)
	}
	var a accepted
	if err := json.Unmarshal([]byte(r.body), &a); err != nil || !validMessageID(a.ID) {
		t.Fatalf("202 body %q: %v; want {id, status_url}", r.body, err)
	}
	if got, want := r.header.Get("Location"), MessagesPath+a.ID; got != want || a.StatusURL != want {
		t.Errorf("Location = %q, status_url = %q; want %q", got, a.StatusURL, want)
	}
	return a
}

func (e *env) messageStatus(a accepted) MessageStatus {
	e.t.Helper()
	r := e.get(a.StatusURL)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %q", a.StatusURL, r.status, short(r.body))
	}
	var s MessageStatus
	if err := json.Unmarshal([]byte(r.body), &s); err != nil {
		e.t.Fatalf("status %q: %v", r.body, err)
	}
	return s
}

// TestDurableOutage: the upstream is down while 500 POSTs arrive; all get
// 202, and once it is back (after a 5 s outage) all are delivered, each
// carrying an Idempotency-Key by which the receiver sees each once. (The
// issue's scenario is 2,000 POSTs over a 60 s outage; this is it scaled
// to run in seconds.)
func TestDurableOutage(t *testing.T) {
	rc := startReceiver(t, nil)
	rc.down()
	e := startProxy(t, durableConfig(t, rc.url(), "{attempts: 100, backoff: [0s, 100ms, 250ms, 500ms], workers: 16}"))
	const n = 500
	ids := make([]accepted, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 20)
	outageStart := time.Now()
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := e.send(e.h1, "POST", fmt.Sprintf("/orders?n=%d", i), fmt.Sprintf(`{"order":%d}`, i))
			if r.status != http.StatusAccepted {
				t.Errorf("POST %d: %d %q; want 202", i, r.status, short(r.body))
				return
			}
			json.Unmarshal([]byte(r.body), &ids[i])
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if s := e.messageStatus(ids[0]); s.State != StateQueued && s.State != StateDelivering {
		t.Errorf("during the outage, state = %q; want queued or delivering", s.State)
	}
	time.Sleep(time.Until(outageStart.Add(5 * time.Second)))
	rc.up()
	waitForLong(t, 20*time.Second, "every message delivered", func() bool { d, _ := rc.counts(); return d == n })
	distinct, dups := rc.counts()
	t.Logf("%d messages, %d distinct deliveries, %d duplicates dropped by the receiver", n, distinct, dups)
	for i := range 3 {
		waitForLong(t, 5*time.Second, "status delivered", func() bool { return e.messageStatus(ids[i]).State == StateDelivered })
		s := e.messageStatus(ids[i])
		if s.Attempts < 1 || s.LastStatus != 200 {
			t.Errorf("status %+v; want attempts >= 1, last_status 200", s)
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if got, want := rc.body[formatIdempotencyKey(ids[7].ID)], `{"order":7}`; got != want {
		t.Errorf("message 7 delivered with body %q; want %q", got, want)
	}
}

func waitForLong(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	for !cond() {
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestDurableDeadLetters: a 4xx other than 408 and 429 is final, and the
// attempts running out on 5xx too; both end dead with the last status.
func TestDurableDeadLetters(t *testing.T) {
	rc := startReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/bad"):
			w.WriteHeader(http.StatusBadRequest)
		case strings.HasSuffix(r.URL.Path, "/fail"):
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	e := startProxy(t, durableConfig(t, rc.url(), "{attempts: 3, backoff: [10ms]}"))
	bad := mustAccept(t, e.send(e.h1, "POST", "/orders/bad", "x"))
	fail := mustAccept(t, e.send(e.h1, "POST", "/orders/fail", "y"))
	for _, tt := range []struct {
		a              accepted
		status, tries  int
		errorSubstring string
	}{{bad, 400, 1, "upstream answered 400"}, {fail, 503, 3, "attempts exhausted"}} {
		waitForLong(t, 15*time.Second, "dead", func() bool { return e.messageStatus(tt.a).State == StateDead })
		s := e.messageStatus(tt.a)
		if s.LastStatus != tt.status || s.Attempts != tt.tries || !strings.Contains(s.LastError, tt.errorSubstring) {
			t.Errorf("status %+v; want last_status %d, attempts %d, last_error with %q", s, tt.status, tt.tries, tt.errorSubstring)
		}
	}
	if d, _ := rc.counts(); d != 0 {
		t.Errorf("receiver counted %d; want 0", d)
	}
}

// TestDurableBadInput: a body over max_body_bytes gets 413 and nothing is
// queued; a full queue gets 503 with Retry-After; an unknown id 404.
func TestDurableBadInput(t *testing.T) {
	rc := startReceiver(t, nil)
	rc.down()
	e := startProxy(t, durableConfig(t, rc.url(), "{max_body_bytes: 16, max_queued: 2, backoff: [1h]}"))
	r := e.send(e.h1, "POST", "/orders", strings.Repeat("x", 17))
	checkLocal(t, r, http.StatusRequestEntityTooLarge, ReasonBodyTooLarge)
	mustAccept(t, e.send(e.h1, "POST", "/orders", "a"))
	mustAccept(t, e.send(e.h1, "POST", "/orders", "b"))
	r = e.send(e.h1, "POST", "/orders", "c")
	checkLocal(t, r, http.StatusServiceUnavailable, ReasonStoreUnavailable)
	retryAfter(t, r)
	if !strings.Contains(r.body, "full") {
		t.Errorf("body %q; want it to say the queue is full", r.body)
	}
	for _, path := range []string{MessagesPath + "0123456789abcdef0123456789abcdef", MessagesPath + "../../etc", MessagesPath} {
		if r := e.get(path); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d; want 404", path, r.status)
		}
	}
}

// TestDurableReload: messages queued under one config are delivered after
// a reload that changes the route (and its queue's consumers) and one that
// turns on order_by; a reload that changes the store block is refused.
func TestDurableReload(t *testing.T) {
	rc := startReceiver(t, nil)
	rc.down()
	cfg := durableConfig(t, rc.url(), "{backoff: [0s, 50ms]}")
	e := startProxy(t, cfg)
	for range 5 {
		mustAccept(t, e.send(e.h1, "POST", "/orders", "a"))
	}
	reload := func(src string) error {
		c, err := config.Parse([]byte("listen: 127.0.0.1:0\n" + src))
		if err != nil {
			t.Fatal(err)
		}
		return e.p.Reload(c)
	}
	if err := reload(strings.Replace(cfg, "backoff: [0s, 50ms]", "backoff: [0s, 60ms], workers: 2", 1)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	for range 5 {
		mustAccept(t, e.send(e.h1, "POST", "/orders", "b", "X-Key", "k"))
	}
	if err := reload(strings.Replace(cfg, "backoff: [0s, 50ms]", "backoff: [0s, 60ms], order_by: header:X-Key", 1)); err != nil {
		t.Fatalf("reload to order_by: %v", err)
	}
	rc.up()
	waitForLong(t, 15*time.Second, "all 10 delivered", func() bool { d, _ := rc.counts(); return d == 10 })
	moved := strings.Replace(cfg, "store: {data_dir: ", "store: {data_dir: /elsewhere", 1)
	if err := reload(moved); !errors.Is(err, errStoreNeedsRestart) {
		t.Errorf("reload moving data_dir: %v; want errStoreNeedsRestart", err)
	}
}

// TestDurableFailedReloadKeepsDelivering: a reload that changes a durable
// route's consumers (here to order_by) and then fails on a later route
// leaves the running config delivering: the consumers its workers pull
// from are put back. Before, the old consumer stayed deleted and messages
// queued under the running config were never delivered.
func TestDurableFailedReloadKeepsDelivering(t *testing.T) {
	rc := startReceiver(t, nil)
	rc.down()
	cfg := durableConfig(t, rc.url(), "{backoff: [0s, 50ms]}")
	e := startProxy(t, cfg)
	for range 3 {
		mustAccept(t, e.send(e.h1, "POST", "/orders", "a"))
	}
	// A stream that already claims the subjects of the next config's
	// second durable route: creating that route's queue fails, after the
	// first route's consumers were changed.
	js := e.p.store.JetStream()
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "BLOCKER", Subjects: []string{"hf.q." + routeHash("late") + ".>"}}); err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(cfg, "backoff: [0s, 50ms]", "backoff: [0s, 50ms], order_by: header:X-Key", 1) + yamlf(`	- name: late
		match: {path_prefix: /late}
		upstream: orders
		timeout: 2s
		durable: {}
`)
	c, err := config.Parse([]byte("listen: 127.0.0.1:0\n" + next))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.p.Reload(c); err == nil || !strings.Contains(err.Error(), "routes[1]") {
		t.Fatalf("reload: %v; want routes[1]'s queue to fail", err)
	}
	if got := e.p.Config().Routes; len(got) != 1 || got[0].Durable.OrderBy != nil {
		t.Fatalf("running config after the failed reload: %d routes; want the one it had", len(got))
	}
	mustAccept(t, e.send(e.h1, "POST", "/orders", "b"))
	rc.up()
	waitForLong(t, 15*time.Second, "all 4 delivered", func() bool { d, _ := rc.counts(); return d == 4 })
	names := []string{}
	q := e.p.state.Load().route("orders").durable
	for n := range q.queue.ConsumerNames(t.Context()).Name() {
		names = append(names, n)
	}
	if !slices.Equal(names, []string{"all"}) {
		t.Errorf("consumers after the failed reload: %v; want [all], the running config's", names)
	}
}

// TestDurableLostAckNotSentAgain: a message handed out again whose status
// says delivered (its ack was lost: the store node that held the consumer
// was killed after the delivery, as in gauntlet G15) is acked by the
// worker it comes back to, not sent to the upstream again. Before, a
// second proxy sharing the cluster delivered it a second time. Here the
// first attempt gets a 503, and the status is set to delivered while the
// message waits for its second.
func TestDurableLostAckNotSentAgain(t *testing.T) {
	var mu sync.Mutex
	arrivals := 0
	rc := startReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderIdempotencyKey) == "lost-ack" {
			mu.Lock()
			arrivals++
			mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	e := startProxy(t, durableConfig(t, rc.url(), "{backoff: [2s]}"))
	q := e.p.state.Load().route("orders").durable
	ctx := t.Context()
	id := newMessageID()
	now := time.Now().UTC()
	env := envelope{ID: id, Route: "orders", Method: "POST", Path: "/orders/lost-ack", Host: "x",
		Header: http.Header{HeaderIdempotencyKey: {"lost-ack"}}, AcceptedAt: now}
	data, _ := json.Marshal(&env)
	if _, err := q.js.Publish(ctx, q.msgSubject(0, id), data); err != nil {
		t.Fatal(err)
	}
	status := func() MessageStatus {
		var st MessageStatus
		if e, err := q.status.Get(ctx, id); err == nil {
			json.Unmarshal(e.Value(), &st)
		}
		return st
	}
	waitForLong(t, 15*time.Second, "the first attempt failed and queued again", func() bool {
		st := status()
		return st.State == StateQueued && st.Attempts == 1
	})
	// Every try of the first attempt (the route's retries included) came
	// before its queued status.
	mu.Lock()
	first := arrivals
	mu.Unlock()
	st := MessageStatus{ID: id, Route: "orders", State: StateDelivered, Attempts: 1, LastStatus: http.StatusOK, AcceptedAt: now}
	if err := q.putStatus(ctx, &st); err != nil {
		t.Fatal(err)
	}
	waitForLong(t, 15*time.Second, "the message acked", func() bool {
		info, err := q.queue.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	// A message accepted now is delivered: the worker goes on.
	mustAccept(t, e.send(e.h1, "POST", "/orders", "after", HeaderIdempotencyKey, `"after"`))
	waitForLong(t, 15*time.Second, "the next message delivered", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return rc.seen[`"after"`] == 1
	})
	mu.Lock()
	defer mu.Unlock()
	if first == 0 || arrivals != first {
		t.Errorf("the message reached the upstream %d times in its first attempt and %d after; want some, then none: its second attempt found it delivered", first, arrivals-first)
	}
}

// TestDurableQueuedStatus: an accept writes the message and nothing else;
// until a worker first takes it, its status URL answers queued (with its
// route and accept time, no attempts) from the message itself, and the
// status bucket holds no entry for it. Once a worker has written one, that
// entry answers. A message queued under the subject layout from before the
// id was in the subject (the lane alone) is still delivered, in its turn.
func TestDurableQueuedStatus(t *testing.T) {
	release := make(chan struct{})
	started := make(chan string, 16)
	var mu sync.Mutex
	var paths []string
	b := startHandler(t, false, func(w http.ResponseWriter, r *http.Request) {
		started <- r.URL.Path
		<-release
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(paths, r.URL.Path) {
			paths = append(paths, r.URL.Path)
		}
	})
	// One lane: the first message held in delivery keeps the next queued.
	e := startProxy(t, durableConfig(t, b.URL, "{order_by: route, partitions: 1}"))
	first := mustAccept(t, e.send(e.h1, "POST", "/orders/first", "a"))
	if got := <-started; got != "/orders/first" {
		t.Fatalf("upstream got %s first; want /orders/first", got)
	}
	before := time.Now().UTC()
	second := mustAccept(t, e.send(e.h1, "POST", "/orders/second", "b"))
	after := time.Now().UTC()

	if _, err := e.p.statusKV.Get(t.Context(), second.ID); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("status entry of a message no worker took: err %v; want ErrKeyNotFound (the accept writes none)", err)
	}
	s := e.messageStatus(second)
	if s.AcceptedAt.Before(before) || s.AcceptedAt.After(after) {
		t.Errorf("accepted_at %v; want within the POST, [%v, %v]", s.AcceptedAt, before, after)
	}
	want := MessageStatus{ID: second.ID, Route: "orders", State: StateQueued, AcceptedAt: s.AcceptedAt}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("status of a just-accepted message (-want +got):\n%s", diff)
	}
	if s := e.messageStatus(first); s.State != StateDelivering || s.Attempts != 1 {
		t.Errorf("status of the message in delivery %+v; want delivering, attempts 1", s)
	}

	// A message as an accept before this layout stored it: subject = lane.
	q := e.p.state.Load().route("orders").durable
	legacy := envelope{ID: newMessageID(), Route: "orders", Method: "POST", Path: "/orders/legacy", Host: "x",
		Header: http.Header{HeaderIdempotencyKey: {"legacy"}}, AcceptedAt: time.Now().UTC()}
	data, _ := json.Marshal(&legacy)
	if _, err := q.js.Publish(t.Context(), q.subj+"0", data); err != nil {
		t.Fatal(err)
	}

	close(release)
	waitForLong(t, 20*time.Second, "all three delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(paths) == 3
	})
	mu.Lock()
	if diff := cmp.Diff([]string{"/orders/first", "/orders/second", "/orders/legacy"}, paths); diff != "" {
		t.Errorf("delivery order (-want +got):\n%s", diff)
	}
	mu.Unlock()
	waitForLong(t, 5*time.Second, "status delivered", func() bool { return e.messageStatus(second).State == StateDelivered })
	if s := e.messageStatus(second); s.Attempts != 1 || s.LastStatus != http.StatusOK {
		t.Errorf("status %+v; want delivered at attempt 1 with last_status 200", s)
	}
}
