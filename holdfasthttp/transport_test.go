package holdfasthttp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/fallback"
	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/retry"
)

// noWait is a retry whose backoff is zero: the waits of these tests come
// only from Retry-After.
func noWait(attempts int) *retry.Retry {
	return retry.MustNew(retry.Config{Attempts: attempts, Rand: func() float64 { return 0 }})
}

// scripted answers request n (from 1) with statuses[n-1] (the last status
// once they run out) and a body naming n; it records each request's body.
type scripted struct {
	statuses []int
	header   http.Header // added to every answer
	n        atomic.Int32

	mu     sync.Mutex
	bodies []string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(s.n.Add(1))
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.bodies = append(s.bodies, string(b))
	s.mu.Unlock()
	for k, v := range s.header {
		w.Header()[k] = v
	}
	w.WriteHeader(s.statuses[min(n, len(s.statuses))-1])
	fmt.Fprintf(w, "answer %d", n)
}

func (s *scripted) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

func TestTransportRetries(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		key        string // Idempotency-Key
		statuses   []int
		wantStatus int
		wantN      int // requests the server saw, and the answer returned
	}{
		{"success", "GET", "", []int{200}, 200, 1},
		{"503s then 200", "GET", "", []int{503, 503, 200}, 200, 3},
		{"429 then 200", "GET", "", []int{429, 200}, 200, 2},
		{"502 then 204", "HEAD", "", []int{502, 204}, 204, 2},
		{"every attempt 500: the last is returned", "GET", "", []int{500}, 500, 3},
		{"404 is not a failure", "GET", "", []int{404, 200}, 404, 1},
		{"PUT is retried", "PUT", "", []int{503, 200}, 200, 2},
		{"DELETE is retried", "DELETE", "", []int{503, 200}, 200, 2},
		{"POST is sent once", "POST", "", []int{503, 200}, 503, 1},
		{"PATCH is sent once", "PATCH", "", []int{503, 200}, 503, 1},
		{"POST with an Idempotency-Key is retried", "POST", "order-7", []int{503, 200}, 200, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backend := &scripted{statuses: tt.statuses}
			srv := startServer(t, backend)
			rec := &recorder{next: srv.Client().Transport}
			tr := holdfasthttp.MustNewRoundTripper(rec, noWait(3))
			req, _ := http.NewRequest(tt.method, srv.URL, nil)
			if tt.key != "" {
				req.Header.Set("Idempotency-Key", tt.key)
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			if want := fmt.Sprintf("answer %d", tt.wantN); tt.method != "HEAD" && string(body) != want {
				t.Errorf("body = %q; want %q (the last attempt's)", body, want)
			}
			if got := int(backend.n.Load()); got != tt.wantN {
				t.Errorf("server saw %d requests; want %d", got, tt.wantN)
			}
			// The failed responses were drained and closed before the next
			// attempt, so one connection carried every attempt.
			if got := srv.conns.Load(); got != 1 {
				t.Errorf("server accepted %d connections; want 1", got)
			}
			for i, b := range rec.responses() {
				if !b.closed.Load() {
					t.Errorf("response %d (%d) was not closed", i+1, b.status)
				}
			}
		})
	}
}

// TestTransportReturnsLastResponseUnread checks that when the policies give
// up on a failure status, the caller gets that response with its body
// untouched, and that it is the only one not closed by the Transport.
func TestTransportReturnsLastResponseUnread(t *testing.T) {
	backend := &scripted{statuses: []int{503}}
	srv := startServer(t, backend)
	rec := &recorder{next: srv.Client().Transport}
	tr := holdfasthttp.MustNewRoundTripper(rec, noWait(3))
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	defer resp.Body.Close()
	got := rec.responses()
	if len(got) != 3 {
		t.Fatalf("%d responses; want 3", len(got))
	}
	for i, b := range got[:2] {
		if !b.closed.Load() {
			t.Errorf("response %d not closed", i+1)
		}
	}
	if got[2].closed.Load() || got[2].read.Load() != 0 {
		t.Errorf("last response: closed %v, %d bytes read; want open and unread", got[2].closed.Load(), got[2].read.Load())
	}
	if body, _ := io.ReadAll(resp.Body); string(body) != "answer 3" {
		t.Errorf("body = %q; want %q", body, "answer 3")
	}
}

// TestTransportDrainIsBounded checks that a discarded response is read up
// to 4 KiB and closed: a short one to its end, a long one no further.
func TestTransportDrainIsBounded(t *testing.T) {
	tests := []struct {
		size     int
		wantRead int64
	}{
		{0, 0},
		{100, 100},
		{4 << 10, 4 << 10},
		{1 << 20, 4 << 10},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.size), func(t *testing.T) {
			var n atomic.Int32
			srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					w.WriteHeader(503)
					w.Write(bytes.Repeat([]byte("x"), tt.size))
					return
				}
				io.WriteString(w, "ok")
			}))
			rec := &recorder{next: srv.Client().Transport}
			tr := holdfasthttp.MustNewRoundTripper(rec, noWait(2))
			req, _ := http.NewRequest("GET", srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			first := rec.responses()[0]
			if got := first.read.Load(); got != tt.wantRead {
				t.Errorf("read %d bytes of the discarded body; want %d", got, tt.wantRead)
			}
			if !first.closed.Load() {
				t.Error("discarded body not closed")
			}
		})
	}
}

// onlyReader hides everything of a reader but Read, so that
// http.NewRequest sets no GetBody for it.
type onlyReader struct{ io.Reader }

// closeRecorder records that a request body was closed.
type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

func TestTransportReplaysBodies(t *testing.T) {
	small := "name=widget&qty=3"
	large := strings.Repeat("y", 100)
	tests := []struct {
		name       string
		method     string
		body       func() io.Reader
		length     int64 // ContentLength to set; 0 leaves NewRequest's
		maxReplay  int64
		wantStatus int
		wantBodies []string
	}{
		{"GetBody", "PUT", func() io.Reader { return strings.NewReader(small) }, 0, 0, 200, []string{small, small}},
		{"buffered", "PUT", func() io.Reader { return onlyReader{strings.NewReader(small)} }, 0, 0, 200, []string{small, small}},
		{"buffered, length known", "PUT", func() io.Reader { return onlyReader{strings.NewReader(small)} }, int64(len(small)), 0, 200, []string{small, small}},
		{"exactly the cap", "PUT", func() io.Reader { return onlyReader{strings.NewReader(large)} }, 0, 100, 200, []string{large, large}},
		{"over the cap: sent once", "PUT", func() io.Reader { return onlyReader{strings.NewReader(large)} }, 0, 99, 503, []string{large}},
		{"declared over the cap: sent once", "PUT", func() io.Reader { return onlyReader{strings.NewReader(large)} }, 100, 99, 503, []string{large}},
		{"no buffering", "PUT", func() io.Reader { return onlyReader{strings.NewReader(small)} }, 0, -1, 503, []string{small}},
		{"no buffering, GetBody", "PUT", func() io.Reader { return strings.NewReader(small) }, 0, -1, 200, []string{small, small}},
		{"empty", "PUT", func() io.Reader { return onlyReader{strings.NewReader("")} }, 0, 0, 200, []string{"", ""}},
		{"POST is never buffered", "POST", func() io.Reader { return onlyReader{strings.NewReader(small)} }, 0, 0, 503, []string{small}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backend := &scripted{statuses: []int{503, 200}}
			srv := startServer(t, backend)
			tr, err := holdfasthttp.NewTransport(srv.Client().Transport, holdfasthttp.TransportConfig{
				Policies:      []holdfast.Policy{noWait(2)},
				MaxReplayBody: tt.maxReplay,
			})
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(tt.method, srv.URL, tt.body())
			if tt.length != 0 {
				req.ContentLength = tt.length
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			got := backend.received()
			if len(got) != len(tt.wantBodies) {
				t.Fatalf("server got %d requests; want %d", len(got), len(tt.wantBodies))
			}
			for i := range got {
				if got[i] != tt.wantBodies[i] {
					t.Errorf("request %d body = %q; want %q", i+1, got[i], tt.wantBodies[i])
				}
			}
		})
	}
}

// TestTransportClosesUnsentBody checks the RoundTripper contract when no
// attempt is made: the request body is closed anyway.
func TestTransportClosesUnsentBody(t *testing.T) {
	backend := &scripted{statuses: []int{200}}
	srv := startServer(t, backend)
	cb := breaker.MustNew(breaker.Config{})
	cb.ForceOpen()
	for _, method := range []string{"PUT", "POST"} {
		tr := holdfasthttp.MustNewRoundTripper(srv.Client().Transport, cb)
		body := &closeRecorder{Reader: strings.NewReader("data")}
		req, _ := http.NewRequest(method, srv.URL, body)
		resp, err := tr.RoundTrip(req)
		if !errors.Is(err, breaker.ErrOpen) || resp != nil {
			t.Errorf("%s: RoundTrip = %v, %v; want nil and breaker.ErrOpen", method, resp, err)
		}
		if !body.closed.Load() {
			t.Errorf("%s: request body not closed", method)
		}
	}
	if n := backend.n.Load(); n != 0 {
		t.Errorf("server saw %d requests; want 0", n)
	}
}

func TestTransportBreakerSeesStatus(t *testing.T) {
	backend := &scripted{statuses: []int{500, 429, 200}}
	srv := startServer(t, backend)
	cb := breaker.MustNew(breaker.Config{ConsecutiveFailures: 2, OpenDuration: time.Hour})
	tr := holdfasthttp.MustNewRoundTripper(srv.Client().Transport, cb)
	for i, want := range []int{500, 429} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("request %d: %v, %v; want %d", i+1, resp, err, want)
		}
		resp.Body.Close()
	}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if !errors.Is(err, breaker.ErrOpen) || resp != nil {
		t.Fatalf("third request: %v, %v; want breaker.ErrOpen", resp, err)
	}
	if wait, ok := holdfast.RetryAfter(err); !ok || wait <= 0 {
		t.Errorf("holdfast.RetryAfter = %v, %v; want the open time left", wait, ok)
	}
	if n := backend.n.Load(); n != 2 {
		t.Errorf("server saw %d requests; want 2", n)
	}
}

// TestTransportCancelIsNoFailure checks that a request the caller cancels
// is neither retried nor counted by a breaker.
func TestTransportCancelIsNoFailure(t *testing.T) {
	arrived := make(chan struct{})
	var n atomic.Int32
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			close(arrived)
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "ok")
	}))
	cb := breaker.MustNew(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Hour})
	tr := holdfasthttp.MustNewRoundTripper(srv.Client().Transport, noWait(3), cb)
	for _, cause := range []error{nil, errors.New("the user went away")} {
		n.Store(0)
		arrived = make(chan struct{})
		ctx, cancel := context.WithCancelCause(context.Background())
		go func() {
			<-arrived
			cancel(cause)
		}()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if !errors.Is(err, context.Canceled) || resp != nil {
			t.Fatalf("cause %v: RoundTrip = %v, %v; want an error matching context.Canceled", cause, resp, err)
		}
		if got := n.Load(); got != 1 {
			t.Errorf("cause %v: server saw %d requests; want 1 (no retry)", cause, got)
		}
		if got := cb.State(); got != breaker.Closed {
			t.Errorf("cause %v: breaker %v; want closed", cause, got)
		}
	}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("after the cancellations: %v", err)
	}
	resp.Body.Close()
}

func TestTransportErrorsAreFailures(t *testing.T) {
	srv := startServer(t, http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	attempts := 0
	r := retry.MustNew(retry.Config{Attempts: 3, Rand: func() float64 { return 0 },
		Listener: holdfast.ListenerFunc(func(e holdfast.Event) {
			if e.Kind == holdfast.EventAttempt {
				attempts++
			}
		})})
	tr := holdfasthttp.MustNewRoundTripper(nil, r)
	req, _ := http.NewRequest("GET", url, nil)
	resp, err := tr.RoundTrip(req)
	if !errors.Is(err, retry.ErrAttemptsExhausted) || resp != nil {
		t.Fatalf("RoundTrip = %v, %v; want retry.ErrAttemptsExhausted", resp, err)
	}
	if attempts != 3 {
		t.Errorf("%d attempts; want 3", attempts)
	}
}

func TestTransportFallback(t *testing.T) {
	backend := &scripted{statuses: []int{503}}
	srv := startServer(t, backend)
	rec := &recorder{next: srv.Client().Transport}
	fb := fallback.MustNew(fallback.Config[*http.Response]{
		Func: func(ctx context.Context, err error) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("cached"))}, nil
		},
	})
	tr := holdfasthttp.MustNewRoundTripper(rec, fb, noWait(2))
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "cached" {
		t.Errorf("got %d %q; want 200 %q", resp.StatusCode, body, "cached")
	}
	for i, b := range rec.responses() {
		if !b.closed.Load() {
			t.Errorf("upstream response %d not closed", i+1)
		}
	}
}

// TestTransportLeavesRequestAlone checks that the caller's request is not
// changed, whichever attempt sends what.
func TestTransportLeavesRequestAlone(t *testing.T) {
	backend := &scripted{statuses: []int{503, 200}}
	srv := startServer(t, backend)
	rec := &recorder{next: srv.Client().Transport}
	tr := holdfasthttp.MustNewRoundTripper(rec, noWait(2))
	req, _ := http.NewRequest("PUT", srv.URL, onlyReader{strings.NewReader("abc")})
	req.Header.Set("X-Trace", "1")
	body, length := req.Body, req.ContentLength
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if req.Body != body || req.ContentLength != length || req.GetBody != nil || len(req.Header) != 1 {
		t.Errorf("request changed: body %v, length %d, GetBody set %v, header %v", req.Body != body, req.ContentLength, req.GetBody != nil, req.Header)
	}
	sent := rec.requests()
	if len(sent) != 2 || sent[0] == req || sent[1] == req || sent[0] == sent[1] {
		t.Errorf("attempts sent %d requests, the caller's among them or one twice; want two clones", len(sent))
	}
	for i, s := range sent {
		if s.Header.Get("X-Trace") != "1" || s.ContentLength != 3 {
			t.Errorf("attempt %d: header %v, length %d; want the caller's header and length 3", i+1, s.Header, s.ContentLength)
		}
	}
}

func TestNewTransportErrors(t *testing.T) {
	if _, err := holdfasthttp.NewRoundTripper(nil, noWait(2), nil); !errors.Is(err, holdfast.ErrNilPolicy) {
		t.Errorf("NewRoundTripper with a nil policy: %v; want holdfast.ErrNilPolicy", err)
	}
	if _, err := holdfasthttp.NewTransport(nil, holdfasthttp.TransportConfig{Policies: []holdfast.Policy{nil}}); !errors.Is(err, holdfast.ErrNilPolicy) {
		t.Errorf("NewTransport with a nil policy: %v; want holdfast.ErrNilPolicy", err)
	}
}

// TestTransportDiscardsOnPolicyError checks that when the policies end with
// an error of their own after a failed response (a breaker that opened on
// it refuses the retry), the caller gets the error and the response is
// closed.
func TestTransportDiscardsOnPolicyError(t *testing.T) {
	backend := &scripted{statuses: []int{503}}
	srv := startServer(t, backend)
	rec := &recorder{next: srv.Client().Transport}
	cb := breaker.MustNew(breaker.Config{ConsecutiveFailures: 1, OpenDuration: time.Hour})
	tr := holdfasthttp.MustNewRoundTripper(rec, noWait(2), cb)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if !errors.Is(err, breaker.ErrOpen) || !errors.Is(err, retry.ErrAttemptsExhausted) || resp != nil {
		t.Fatalf("RoundTrip = %v, %v; want retry.ErrAttemptsExhausted after breaker.ErrOpen", resp, err)
	}
	got := rec.responses()
	if len(got) != 1 || !got[0].closed.Load() {
		t.Errorf("%d responses, the first closed: %v; want 1, closed", len(got), len(got) > 0 && got[0].closed.Load())
	}
}
