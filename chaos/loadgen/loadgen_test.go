package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestRunKeepsTheRateUnderASlowServer checks the open-loop schedule in
// virtual time: a server that takes 300ms still receives exactly rate ×
// duration requests, and the latency is the server's.
func TestRunKeepsTheRateUnderASlowServer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got atomic.Int64
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			got.Add(1)
			select {
			case <-time.After(300 * time.Millisecond):
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
			rec := httptest.NewRecorder()
			if r.URL.Path == "/fail" {
				rec.WriteHeader(503)
			}
			return rec.Result(), nil
		})}
		var n atomic.Int64
		res, err := Run(context.Background(), Config{
			Rate: 100, Duration: 2 * time.Second, Client: client,
			NewRequest: func(ctx context.Context) (*http.Request, error) {
				path := "/ok"
				if n.Add(1)%4 == 0 {
					path = "/fail"
				}
				return http.NewRequestWithContext(ctx, "GET", "http://x"+path, nil)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 200 || got.Load() != 200 {
			t.Errorf("sent %d, server got %d; want 200 and 200", res.Sent, got.Load())
		}
		if res.Succeeded != 150 || res.Failed != 50 || res.Statuses[503] != 50 {
			t.Errorf("succeeded %d failed %d 503s %d; want 150, 50, 50", res.Succeeded, res.Failed, res.Statuses[503])
		}
		if p := res.Latency.Quantile(0.99); p < 290*time.Millisecond || p > 310*time.Millisecond {
			t.Errorf("p99 = %v; want 300ms within a bucket", p)
		}
		if len(res.Timeline) != 2 || res.Timeline[0].Sent != 100 || res.Timeline[1].Sent != 100 {
			t.Errorf("timeline = %+v; want 2 points of 100", res.Timeline)
		}
		if res.Elapsed != 2*time.Second-10*time.Millisecond+300*time.Millisecond {
			t.Errorf("elapsed = %v; want 2.29s", res.Elapsed)
		}
	})
}

func TestRunDropsBeyondMaxInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done() // a hung server
			return nil, r.Context().Err()
		})}
		res, err := Run(context.Background(), Config{
			Rate: 10, Duration: time.Second, Timeout: 5 * time.Second, MaxInFlight: 3, Client: client,
			NewRequest: func(ctx context.Context) (*http.Request, error) {
				return http.NewRequestWithContext(ctx, "GET", "http://x/", nil)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 10 || res.Dropped != 7 || res.Succeeded != 0 || res.Statuses[0] != 3 {
			t.Errorf("sent %d dropped %d ok %d errors %d; want 10, 7, 0, 3", res.Sent, res.Dropped, res.Succeeded, res.Statuses[0])
		}
	})
}

func TestRunRejectsAnEmptyConfig(t *testing.T) {
	if _, err := Run(context.Background(), Config{}); err == nil {
		t.Error("Run(Config{}) succeeded; want an error")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestOnDoneReportsEveryRequest checks the live callback in virtual time:
// one Outcome per request, dropped ones included, with exact due and done
// times, and never more than the Result counts.
func TestOnDoneReportsEveryRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == "/hang" {
				<-r.Context().Done()
				return nil, r.Context().Err()
			}
			time.Sleep(20 * time.Millisecond)
			rec := httptest.NewRecorder()
			if r.URL.Path == "/fail" {
				rec.WriteHeader(503)
			}
			return rec.Result(), nil
		})}
		var (
			mu  sync.Mutex
			got []Outcome
			n   atomic.Int64
		)
		begin := time.Now()
		res, err := Run(context.Background(), Config{
			Rate: 10, Duration: time.Second, Timeout: 250 * time.Millisecond, MaxInFlight: 1, Client: client,
			NewRequest: func(ctx context.Context) (*http.Request, error) {
				path := []string{"/ok", "/fail", "/hang"}[n.Add(1)%3]
				return http.NewRequestWithContext(ctx, "GET", "http://x"+path, nil)
			},
			OnDone: func(o Outcome) {
				mu.Lock()
				got = append(got, o)
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Start.Equal(begin) {
			t.Errorf("Start = %v; want %v", res.Start, begin)
		}
		if len(got) != res.Sent {
			t.Fatalf("OnDone called %d times; want %d (Sent)", len(got), res.Sent)
		}
		var ok, failed, dropped int
		for _, o := range got {
			if o.Done.Before(o.Due) {
				t.Errorf("outcome %+v finished before it was due", o)
			}
			switch {
			case o.Dropped:
				dropped++
				if o.Success || o.Status != 0 || o.Latency != 0 {
					t.Errorf("dropped outcome %+v; want no status, latency or success", o)
				}
			case o.Success:
				ok++
				if o.Status != 200 || o.Latency != 20*time.Millisecond {
					t.Errorf("success %+v; want status 200 after 20ms", o)
				}
			default:
				failed++
				if o.Status == 0 && o.Latency != 250*time.Millisecond {
					t.Errorf("timed-out outcome %+v; want latency 250ms", o)
				}
			}
		}
		if ok != res.Succeeded || failed+dropped != res.Failed || dropped != res.Dropped {
			t.Errorf("outcomes ok %d failed %d dropped %d; result says %d, %d, %d",
				ok, failed, dropped, res.Succeeded, res.Failed-res.Dropped, res.Dropped)
		}
		if res.Dropped == 0 {
			t.Error("no request was dropped; want the hanging ones to hold the single slot")
		}
	})
}

// TestOpenEndedRunStopsWithContext runs with a Duration far longer than the
// run: the context ends it, and the timeline has only the intervals used.
func TestOpenEndedRunStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return httptest.NewRecorder().Result(), nil
		})}
		ctx, cancel := context.WithTimeout(context.Background(), 2950*time.Millisecond)
		defer cancel()
		res, err := Run(ctx, Config{
			Rate: 10, Duration: 24 * time.Hour, Client: client,
			NewRequest: func(ctx context.Context) (*http.Request, error) {
				return http.NewRequestWithContext(ctx, "GET", "http://x/", nil)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 30 || len(res.Timeline) != 3 {
			t.Errorf("sent %d in %d points; want 30 in 3", res.Sent, len(res.Timeline))
		}
		for i, p := range res.Timeline {
			if p.Offset != time.Duration(i)*time.Second || p.Sent != 10 {
				t.Errorf("point %d = %+v; want offset %ds and 10 sent", i, p, i)
			}
		}
	})
}
