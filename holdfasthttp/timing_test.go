package holdfasthttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/holdfast-dev/holdfast/hedge"
	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/timeout"
)

// arrivals records when each request reached a server, on the bubble's
// clock.
type arrivals struct {
	mu    sync.Mutex
	times []time.Time
}

func (a *arrivals) add() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.times = append(a.times, time.Now())
	return len(a.times)
}

func (a *arrivals) gaps() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	var g []time.Duration
	for i := 1; i < len(a.times); i++ {
		g = append(g, a.times[i].Sub(a.times[i-1]))
	}
	return g
}

func TestTransportHonoursRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter func(now time.Time) string
		maxWait    time.Duration // retry's MaxRetryAfter; 0 for its default
		wantGaps   []time.Duration
		wantStatus int
	}{
		{"503 seconds", 503, func(time.Time) string { return "2" }, 0, []time.Duration{2 * time.Second}, 200},
		{"429 seconds", 429, func(time.Time) string { return "7" }, 0, []time.Duration{7 * time.Second}, 200},
		{"503 date", 503, func(now time.Time) string { return now.Add(3 * time.Second).Format(http.TimeFormat) }, 0, []time.Duration{3 * time.Second}, 200},
		{"503 without: backoff", 503, func(time.Time) string { return "" }, 0, []time.Duration{0}, 200},
		{"503 garbage: backoff", 503, func(time.Time) string { return "soon" }, 0, []time.Duration{0}, 200},
		{"500 ignores it", 500, func(time.Time) string { return "5" }, 0, []time.Duration{0}, 200},
		{"too long: the 503 is returned", 503, func(time.Time) string { return "60" }, 10 * time.Second, nil, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var arr arrivals
				next := pipeServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if arr.add() == 1 {
						if v := tt.retryAfter(time.Now()); v != "" {
							w.Header().Set("Retry-After", v)
						}
						w.WriteHeader(tt.status)
						io.WriteString(w, "wait")
						return
					}
					io.WriteString(w, "ok")
				}))
				r := retry.MustNew(retry.Config{Attempts: 2, MaxRetryAfter: tt.maxWait, Rand: func() float64 { return 0 }})
				tr := holdfasthttp.MustNewRoundTripper(next, r)
				req, _ := http.NewRequest("GET", "http://backend/", nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatalf("RoundTrip: %v", err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.wantStatus {
					t.Errorf("status = %d (%q); want %d", resp.StatusCode, body, tt.wantStatus)
				}
				got := arr.gaps()
				if len(got) != len(tt.wantGaps) {
					t.Fatalf("waits between attempts %v; want %v", got, tt.wantGaps)
				}
				for i := range got {
					if got[i] != tt.wantGaps[i] {
						t.Errorf("wait before attempt %d = %v; want %v", i+2, got[i], tt.wantGaps[i])
					}
				}
			})
		})
	}
}

// TestTransportBodyOutlivesTimeout checks that a timeout bounds an attempt
// up to its response headers only: a body that comes after the deadline is
// still read whole. It fails if attempts run under the policies' context.
func TestTransportBodyOutlivesTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := pipeServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "head,")
			w.(http.Flusher).Flush()
			time.Sleep(3 * time.Second)
			io.WriteString(w, "tail")
		}))
		tr := holdfasthttp.MustNewRoundTripper(next, timeout.MustNew(timeout.Config{Timeout: time.Second}), noWait(2))
		start := time.Now()
		req, _ := http.NewRequest("GET", "http://backend/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("RoundTrip: %v", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != "head,tail" {
			t.Errorf("body = %q, %v; want %q", body, err, "head,tail")
		}
		if took := time.Since(start); took != 3*time.Second {
			t.Errorf("took %v; want 3s", took)
		}
	})
}

// TestTransportTimeoutCancelsAttempt checks that a timeout that passes
// before the headers ends the attempt at the server and fails the call with
// timeout.ErrTimeout at the deadline, and that a per-try timeout lets a
// retry try again.
func TestTransportTimeoutCancelsAttempt(t *testing.T) {
	tests := []struct {
		name     string
		wantErr  error // nil: a retry with a per-try timeout, whose second attempt answers
		wantTook time.Duration
	}{
		{"timeout", timeout.ErrTimeout, time.Second},
		{"per-try timeout", nil, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var n atomic.Int32
				cancelled := make(chan error, 2)
				next := pipeServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if n.Add(1) == 1 {
						<-r.Context().Done()
						cancelled <- r.Context().Err()
						return
					}
					io.WriteString(w, "ok")
				}))
				var tr *holdfasthttp.Transport
				if tt.wantErr != nil {
					tr = holdfasthttp.MustNewRoundTripper(next, timeout.MustNew(timeout.Config{Timeout: time.Second}))
				} else {
					tr = holdfasthttp.MustNewRoundTripper(next, retry.MustNew(retry.Config{
						Attempts: 2, PerTryTimeout: time.Second, Rand: func() float64 { return 0 }}))
				}
				start := time.Now()
				req, _ := http.NewRequest("GET", "http://backend/", nil)
				resp, err := tr.RoundTrip(req)
				took := time.Since(start)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) || resp != nil {
						t.Fatalf("RoundTrip = %v, %v; want %v", resp, err, tt.wantErr)
					}
				} else {
					if err != nil {
						t.Fatalf("RoundTrip: %v", err)
					}
					resp.Body.Close()
				}
				if took != tt.wantTook {
					t.Errorf("took %v; want %v", took, tt.wantTook)
				}
				if err := <-cancelled; !errors.Is(err, context.Canceled) {
					t.Errorf("the server's first request ended with %v; want cancelled", err)
				}
			})
		})
	}
}

// TestTransportHedges checks that a slow GET is hedged, that the winner's
// body stays readable after the hedge cancels the rest (it fails if the
// winner runs under the hedge's context), and that the loser is cancelled.
func TestTransportHedges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		loser := make(chan error, 1)
		release := make(chan struct{})
		next := pipeServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				<-r.Context().Done()
				loser <- r.Context().Err()
				return
			}
			io.WriteString(w, "hedged,")
			w.(http.Flusher).Flush()
			<-release
			io.WriteString(w, "whole")
		}))
		rec := &recorder{next: next}
		h := hedge.MustNew(hedge.Config{Delay: 100 * time.Millisecond})
		tr := holdfasthttp.MustNewRoundTripper(rec, h)
		start := time.Now()
		req, _ := http.NewRequest("GET", "http://backend/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("RoundTrip: %v", err)
		}
		if took := time.Since(start); took != 100*time.Millisecond {
			t.Errorf("answered after %v; want the hedge delay, 100ms", took)
		}
		synctest.Wait() // the hedge has cancelled the loser
		close(release)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "hedged,whole" {
			t.Errorf("body = %q, %v; want %q", body, err, "hedged,whole")
		}
		if err := <-loser; !errors.Is(err, context.Canceled) {
			t.Errorf("loser ended with %v; want cancelled", err)
		}
	})
}

// TestTransportHedgeDiscardsEveryLoser races two attempts that both
// answer, and checks that exactly the returned response is left open.
func TestTransportHedgeDiscardsEveryLoser(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		second := make(chan struct{})
		next := pipeServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 2 {
				close(second)
			} else {
				<-second // the first answers with the second
			}
			io.WriteString(w, "ok")
		}))
		rec := &recorder{next: next}
		tr := holdfasthttp.MustNewRoundTripper(rec, hedge.MustNew(hedge.Config{Delay: 100 * time.Millisecond}))
		req, _ := http.NewRequest("GET", "http://backend/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("RoundTrip: %v", err)
		}
		synctest.Wait()
		open := 0
		for _, b := range rec.responses() {
			if !b.closed.Load() {
				open++
			}
		}
		if open != 1 {
			t.Errorf("%d responses left open; want 1, the one returned", open)
		}
		resp.Body.Close()
	})
}

// TestTransportDoesNotHedgePOST checks that a request that may not be sent
// twice is not hedged however slow it is.
func TestTransportDoesNotHedgePOST(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n atomic.Int32
		next := pipeServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			time.Sleep(time.Second)
			io.WriteString(w, "ok")
		}))
		tr := holdfasthttp.MustNewRoundTripper(next, hedge.MustNew(hedge.Config{Delay: 100 * time.Millisecond}))
		req, _ := http.NewRequest("POST", "http://backend/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("RoundTrip: %v", err)
		}
		resp.Body.Close()
		if got := n.Load(); got != 1 {
			t.Errorf("server saw %d requests; want 1", got)
		}
	})
}
