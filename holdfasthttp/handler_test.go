package holdfasthttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/adaptive"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/bulkhead"
	"github.com/holdfast-dev/holdfast/fallback"
	"github.com/holdfast-dev/holdfast/hedge"
	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/ratelimit"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/timeout"
)

// reply is what a client got.
type reply struct {
	status     int
	reason     string
	retryAfter string
	body       string
	err        error // reading the body
}

func get(t *testing.T, c *http.Client, url string, header ...string) reply {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{
		status:     resp.StatusCode,
		reason:     resp.Header.Get(holdfasthttp.HeaderReason),
		retryAfter: resp.Header.Get("Retry-After"),
		body:       string(b),
		err:        err,
	}
}

// localBody is the body LocalReply writes.
func localBody(msg, reason string) string {
	return `{"error":"` + msg + `","reason":"` + reason + `"}` + "\n"
}

func mustMiddleware(t *testing.T, next http.Handler, c holdfasthttp.HandlerConfig) http.Handler {
	t.Helper()
	h, err := holdfasthttp.NewHandler(next, c)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

func TestHandlerRateLimit(t *testing.T) {
	limited := localBody("rate limit exceeded", "rate_limited")
	steps := []struct {
		after  time.Duration // sleep before the request
		user   string
		status int
		ra     string
	}{
		{0, "a", 200, ""},
		{0, "a", 429, "2"},                       // one token every 2s
		{0, "b", 200, ""},                        // a key of its own
		{1500 * time.Millisecond, "a", 429, "1"}, // 0.5s left, rounded up
		{500 * time.Millisecond, "a", 200, ""},
		{0, "", 200, ""}, // no header: the key ""
		{0, "", 429, "2"},
	}
	synctest.Test(t, func(t *testing.T) {
		lim := ratelimit.MustNewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{RequestsPerSecond: 0.5, Burst: 1}})
		h := mustMiddleware(t, okHandler, holdfasthttp.HandlerConfig{
			Policies: []holdfast.Policy{lim},
			Key:      holdfasthttp.HeaderKey("x-user-id"),
		})
		c := &http.Client{Transport: pipeServer(t, h)}
		for i, s := range steps {
			time.Sleep(s.after)
			got := get(t, c, "http://svc/", "X-User-Id", s.user)
			if got.status != s.status || got.retryAfter != s.ra {
				t.Errorf("step %d (user %q): %d, Retry-After %q; want %d, %q", i, s.user, got.status, got.retryAfter, s.status, s.ra)
			}
			if s.status == 429 && (got.reason != "rate_limited" || got.body != limited) {
				t.Errorf("step %d: reason %q, body %q; want rate_limited, %q", i, got.reason, got.body, limited)
			}
		}
	})
}

func TestHandlerUnkeyedRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := ratelimit.MustNew(ratelimit.Config{RequestsPerSecond: 1, Burst: 1})
		h, err := holdfasthttp.Middleware(okHandler, lim)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: pipeServer(t, h)}
		if got := get(t, c, "http://svc/"); got.status != 200 {
			t.Fatalf("first: %d; want 200", got.status)
		}
		if got := get(t, c, "http://svc/"); got.status != 429 || got.retryAfter != "1" {
			t.Errorf("second: %d, Retry-After %q; want 429, 1", got.status, got.retryAfter)
		}
	})
}

// TestHandlerSheds checks that a full bulkhead or adaptive limit refuses at
// once with 503 overloaded, and ShedRetryAfter's Retry-After.
func TestHandlerSheds(t *testing.T) {
	tests := []struct {
		name   string
		policy func() holdfast.Policy
		wait   time.Duration
		wantRA string
	}{
		{"bulkhead", func() holdfast.Policy { return bulkhead.MustNew(bulkhead.Config{Limit: 1}) }, 0, ""},
		{"bulkhead with Retry-After", func() holdfast.Policy { return bulkhead.MustNew(bulkhead.Config{Limit: 1}) }, 1500 * time.Millisecond, "2"},
		// Learning its no-load latency, an adaptive limit holds at Min.
		{"adaptive", func() holdfast.Policy { return adaptive.MustNew(adaptive.Config{Min: 1}) }, 0, ""},
		{"adaptive with Retry-After", func() holdfast.Policy { return adaptive.MustNew(adaptive.Config{Min: 1}) }, time.Second, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entered, release := make(chan struct{}), make(chan struct{})
			var calls atomic.Int32
			h := mustMiddleware(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					close(entered)
					<-release
				}
				io.WriteString(w, "ok")
			}), holdfasthttp.HandlerConfig{Policies: []holdfast.Policy{tt.policy()}, ShedRetryAfter: tt.wait})
			srv := startServer(t, h)
			first := make(chan reply, 1)
			go func() { first <- get(t, srv.Client(), srv.URL) }()
			<-entered
			got := get(t, srv.Client(), srv.URL)
			want := reply{status: 503, reason: "overloaded", retryAfter: tt.wantRA, body: localBody("server is at its concurrency limit", "overloaded")}
			if got != want {
				t.Errorf("while full: %+v; want %+v", got, want)
			}
			close(release)
			if got := <-first; got.status != 200 || got.body != "ok" {
				t.Errorf("first: %+v; want 200 ok", got)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("handler ran %d times; want 1", n)
			}
		})
	}
}

func TestHandlerQueueTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := bulkhead.MustNew(bulkhead.Config{Limit: 1, Queue: 1, QueueTimeout: 100 * time.Millisecond})
		release := make(chan struct{})
		h := mustMiddleware(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-release
		}), holdfasthttp.HandlerConfig{Policies: []holdfast.Policy{b}})
		c := &http.Client{Transport: pipeServer(t, h)}
		go get(t, c, "http://svc/")
		synctest.Wait() // the first holds the slot
		start := time.Now()
		got := get(t, c, "http://svc/")
		if got.status != 503 || got.reason != "queue_timeout" {
			t.Errorf("queued: %d %q; want 503 queue_timeout", got.status, got.reason)
		}
		if took := time.Since(start); took != 100*time.Millisecond {
			t.Errorf("refused after %v; want 100ms", took)
		}
		close(release)
	})
}

func TestHandlerTimeout(t *testing.T) {
	timedOut := localBody("request did not finish in time", "timeout")
	tests := []struct {
		name     string
		wait     bool // timeout.Config.Wait
		handler  func(w http.ResponseWriter, r *http.Request) error
		want     reply
		wantTook time.Duration
		wantErr  error // of the handler's last write; nil: not checked
		header   string
	}{
		{
			name: "in time",
			handler: func(w http.ResponseWriter, r *http.Request) error {
				time.Sleep(500 * time.Millisecond)
				_, err := io.WriteString(w, "ok")
				return err
			},
			want:     reply{status: 200, body: "ok"},
			wantTook: 500 * time.Millisecond,
		},
		{
			name: "nothing written: 504 at the deadline",
			handler: func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("X-Partial", "1") // never sent: the 504 is holdfast's
				<-r.Context().Done()
				// Writing at the deadline races the Handler's answer; a
				// moment after, it has answered.
				time.Sleep(time.Millisecond)
				_, err := io.WriteString(w, "late")
				return err
			},
			want:     reply{status: 504, reason: "timeout", body: timedOut},
			wantTook: time.Second,
			wantErr:  http.ErrHandlerTimeout,
		},
		{
			name: "ignores its context: 504 at the deadline all the same",
			handler: func(w http.ResponseWriter, r *http.Request) error {
				time.Sleep(5 * time.Second)
				w.WriteHeader(200)
				_, err := io.WriteString(w, "late")
				return err
			},
			want:     reply{status: 504, reason: "timeout", body: timedOut},
			wantTook: time.Second,
			wantErr:  http.ErrHandlerTimeout,
		},
		{
			name: "begun: the response is cut off",
			handler: func(w http.ResponseWriter, r *http.Request) error {
				io.WriteString(w, "partial")
				w.(http.Flusher).Flush()
				time.Sleep(5 * time.Second)
				_, err := io.WriteString(w, " rest")
				return err
			},
			want:     reply{status: 200, body: "partial", err: io.ErrUnexpectedEOF},
			wantTook: time.Second,
			wantErr:  http.ErrHandlerTimeout,
		},
		{
			name: "wait: nothing written: 504 when it returns",
			wait: true,
			handler: func(w http.ResponseWriter, r *http.Request) error {
				<-r.Context().Done()
				time.Sleep(200 * time.Millisecond)
				return nil
			},
			want:     reply{status: 504, reason: "timeout", body: timedOut},
			wantTook: 1200 * time.Millisecond,
		},
		{
			name: "wait: written late, it stands",
			wait: true,
			handler: func(w http.ResponseWriter, r *http.Request) error {
				time.Sleep(2 * time.Second)
				_, err := io.WriteString(w, "late but whole")
				return err
			},
			want:     reply{status: 200, body: "late but whole"},
			wantTook: 2 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lastErr := make(chan error, 1)
				to := timeout.MustNew(timeout.Config{Timeout: time.Second, Wait: tt.wait})
				h := mustMiddleware(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					lastErr <- tt.handler(w, r)
				}), holdfasthttp.HandlerConfig{Policies: []holdfast.Policy{to}})
				c := &http.Client{Transport: pipeServer(t, h)}
				start := time.Now()
				req, _ := http.NewRequest("GET", "http://svc/", nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("Do: %v", err)
				}
				b, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				took := time.Since(start)
				got := reply{status: resp.StatusCode, reason: resp.Header.Get(holdfasthttp.HeaderReason),
					retryAfter: resp.Header.Get("Retry-After"), body: string(b), err: rerr}
				if got.status != tt.want.status || got.reason != tt.want.reason || got.body != tt.want.body || !errors.Is(got.err, tt.want.err) {
					t.Errorf("got %+v; want %+v", got, tt.want)
				}
				if took != tt.wantTook {
					t.Errorf("took %v; want %v", took, tt.wantTook)
				}
				if resp.Header.Get("X-Partial") != "" {
					t.Errorf("the 504 carries the handler's header X-Partial")
				}
				if err := <-lastErr; tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("handler's last write: %v; want %v", err, tt.wantErr)
				}
			})
		})
	}
}

// TestHandlerTrailers checks that trailers a handler sets after writing
// reach the client when the handler has headers of its own (under a
// timeout).
func TestHandlerTrailers(t *testing.T) {
	h := mustMiddleware(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "data")
		w.Header().Set("X-Checksum", "abc")
	}), holdfasthttp.HandlerConfig{Policies: []holdfast.Policy{timeout.MustNew(timeout.Config{Timeout: time.Hour})}})
	srv := startServer(t, h)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := resp.Trailer.Get("X-Checksum"); got != "abc" {
		t.Errorf("trailer X-Checksum = %q; want %q", got, "abc")
	}
}

func TestHandlerBreaker(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int
		wantOpen  bool
		wantCalls int32
	}{
		{"5xx open it", []int{500, 503}, true, 2},
		{"4xx do not", []int{404, 429}, false, 3},
		{"a success resets the count", []int{500, 200, 500}, false, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int32
				h := mustMiddleware(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					n := int(calls.Add(1))
					if n <= len(tt.statuses) {
						w.WriteHeader(tt.statuses[n-1])
					}
				}), holdfasthttp.HandlerConfig{Policies: []holdfast.Policy{
					breaker.MustNew(breaker.Config{ConsecutiveFailures: 2, OpenDuration: 30 * time.Second}),
				}})
				c := &http.Client{Transport: pipeServer(t, h)}
				for range tt.statuses {
					get(t, c, "http://svc/")
				}
				time.Sleep(10 * time.Second)
				got := get(t, c, "http://svc/")
				if tt.wantOpen {
					want := reply{status: 503, reason: "breaker_open", retryAfter: "20", body: localBody("circuit breaker is open", "breaker_open")}
					if got != want {
						t.Errorf("after %v: %+v; want %+v", tt.statuses, got, want)
					}
				} else if got.status != 200 {
					t.Errorf("after %v: %d; want 200", tt.statuses, got.status)
				}
				if n := calls.Load(); n != tt.wantCalls {
					t.Errorf("handler ran %d times; want %d", n, tt.wantCalls)
				}
			})
		})
	}
}

// TestHandlerPanicIsFailure checks that a handler's panic reaches net/http
// (the client's response breaks) and counts as a failure.
func TestHandlerPanicIsFailure(t *testing.T) {
	var calls atomic.Int32
	h := mustMiddleware(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		io.WriteString(w, "ok")
	}), holdfasthttp.HandlerConfig{Policies: []holdfast.Policy{
		breaker.MustNew(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Hour}),
	}})
	srv := startServer(t, h)
	if got := get(t, srv.Client(), srv.URL); got.err == nil {
		t.Errorf("panicking handler: %+v; want a broken response", got)
	}
	if got := get(t, srv.Client(), srv.URL); got.status != 503 || got.reason != "breaker_open" {
		t.Errorf("after the panic: %d %q; want 503 breaker_open", got.status, got.reason)
	}
}

// TestHandlerClientGoneIsNoFailure checks that a request whose client left
// says nothing about the server.
func TestHandlerClientGoneIsNoFailure(t *testing.T) {
	arrived := make(chan struct{})
	handled := make(chan struct{})
	var calls atomic.Int32
	h := mustMiddleware(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			defer close(handled)
			close(arrived)
			<-r.Context().Done()
			w.WriteHeader(500) // what it does when its own calls fail for the cancellation
			return
		}
		io.WriteString(w, "ok")
	}), holdfasthttp.HandlerConfig{Policies: []holdfast.Policy{
		breaker.MustNew(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Hour}),
	}})
	srv := startServer(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	if _, err := srv.Client().Do(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do: %v; want cancelled", err)
	}
	<-handled
	if got := get(t, srv.Client(), srv.URL); got.status != 200 {
		t.Errorf("after the client left: %d %q; want 200", got.status, got.reason)
	}
}

func TestNewHandlerRefuses(t *testing.T) {
	tests := []struct {
		name   string
		next   http.Handler
		policy holdfast.Policy
		want   string
	}{
		{"retry", okHandler, retry.MustNew(retry.Config{}), "holdfasthttp: a retry policy (position 0) cannot guard a handler"},
		{"hedge", okHandler, hedge.MustNew(hedge.Config{}), "holdfasthttp: a hedge policy"},
		{"fallback", okHandler, fallback.MustNew(fallback.Config[struct{}]{}), "holdfasthttp: a fallback policy"},
		{"nil policy", okHandler, nil, "holdfast: nil policy at position 0"},
		{"nil handler", nil, breaker.MustNew(breaker.Config{}), "holdfasthttp: nil handler"},
	}
	for _, tt := range tests {
		_, err := holdfasthttp.Middleware(tt.next, tt.policy)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: %v; want an error starting %q", tt.name, err, tt.want)
		}
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.7:51234", "192.0.2.7"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"@", "@"}, // a unix socket's peer
		{"", ""},
	}
	for _, tt := range tests {
		if got := holdfasthttp.ClientIP(&http.Request{RemoteAddr: tt.addr}); got != tt.want {
			t.Errorf("ClientIP(%q) = %q; want %q", tt.addr, got, tt.want)
		}
	}
}

// TestHandlerOrder checks that policies run in the order given, and why
// the order matters: a breaker outside a rate limit counts the requests the
// limit refuses as failures and opens for every client; inside it, it never
// sees them.
func TestHandlerOrder(t *testing.T) {
	tests := []struct {
		name          string
		breakerInside bool
		wantB         int // what user b gets after user a was limited
	}{
		{"rate limit, then breaker", true, 200},
		{"breaker, then rate limit", false, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb := breaker.MustNew(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Hour})
			lim := ratelimit.MustNewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{RequestsPerSecond: 0.001, Burst: 1}})
			policies := []holdfast.Policy{cb, lim}
			if tt.breakerInside {
				policies = []holdfast.Policy{lim, cb}
			}
			h := mustMiddleware(t, okHandler, holdfasthttp.HandlerConfig{Policies: policies, Key: holdfasthttp.HeaderKey("X-User-Id")})
			srv := startServer(t, h)
			for i, want := range []int{200, 429} {
				if got := get(t, srv.Client(), srv.URL, "X-User-Id", "a"); got.status != want {
					t.Errorf("user a, request %d: %d; want %d", i+1, got.status, want)
				}
			}
			if got := get(t, srv.Client(), srv.URL, "X-User-Id", "b"); got.status != tt.wantB {
				t.Errorf("user b: %d %q; want %d", got.status, got.reason, tt.wantB)
			}
		})
	}
}
