package upstream

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func healthConfig(ft *fakeTransport, log *changeLog, hc HealthCheckConfig) Config {
	return Config{Endpoints: addrs(2), Transport: ft, OnChange: log.add, HealthCheck: &hc}
}

func TestHealthCheckThresholds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{}
		var log changeLog
		ft.set("10.0.0.2:80", 503, nil, false)
		u := newTest(t, healthConfig(ft, &log, HealthCheckConfig{Interval: 5 * time.Second}), constRand(0))
		b := u.eps[1]
		synctest.Wait()
		if got := len(ft.takeCalls()); got != 2 {
			t.Fatalf("%d checks at start; want 2, one per endpoint", got)
		}
		advance(10*time.Second - 1) // third check not yet
		if !b.Healthy() {
			t.Fatal("unhealthy after 2 failed checks; want 3 needed")
		}
		advance(1)
		if b.Healthy() || b.Usable() || !u.eps[0].Healthy() {
			t.Fatalf("after 3 failed checks: Healthy() = %v, other Healthy() = %v; want false, true", b.Healthy(), u.eps[0].Healthy())
		}
		for range 20 {
			if e, _ := u.Pick(Mask{}); e == b {
				t.Fatal("Pick returned an unhealthy endpoint while another is usable")
			}
		}
		st := u.Status().Endpoints[1]
		if st.Healthy || st.LastCheckError != "upstream: health check of http://10.0.0.2:80: status 503" || !st.LastCheck.Equal(time.Now()) {
			t.Errorf("status = %+v; want unhealthy with the 503 error, checked now", st)
		}
		ft.set("10.0.0.2:80", 200, nil, false)
		advance(5 * time.Second)
		if b.Healthy() {
			t.Fatal("healthy after 1 passed check; want 2 needed")
		}
		advance(5 * time.Second)
		if !b.Healthy() {
			t.Fatal("still unhealthy after 2 passed checks")
		}
		if st := u.Status().Endpoints[1]; st.LastCheckError != "" {
			t.Errorf("last_check_error = %q after a pass; want empty", st.LastCheckError)
		}
		log.mu.Lock()
		first := log.changes[0]
		log.mu.Unlock()
		var he *HealthCheckError
		if !errors.As(first.Err, &he) || he.Status != 503 || !errors.Is(first.Err, ErrHealthCheckStatus) {
			t.Errorf("unhealthy change Err = %v; want a HealthCheckError with status 503", first.Err)
		}
		want := []string{
			"endpoint_unhealthy http://10.0.0.2:80 health_check",
			"endpoint_healthy http://10.0.0.2:80 health_check",
		}
		if diff := cmp.Diff(want, log.take()); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
	})
}

func TestHealthCheckSchedule(t *testing.T) {
	tests := []struct {
		name   string
		rnd    uint64
		hc     HealthCheckConfig
		want   []time.Duration // start of each round
		wantUA string
	}{
		{"no jitter drawn", 0, HealthCheckConfig{Interval: 5 * time.Second}, []time.Duration{0, 5 * time.Second, 10 * time.Second}, "holdfast-health-check"},
		// The largest draw adds the whole default jitter, a tenth of interval.
		{"full default jitter", math.MaxUint64, HealthCheckConfig{Interval: 5 * time.Second},
			[]time.Duration{0, 5500 * time.Millisecond, 11 * time.Second}, "holdfast-health-check"},
		{"explicit jitter", math.MaxUint64, HealthCheckConfig{Interval: time.Second, Jitter: 2 * time.Second},
			[]time.Duration{0, 3 * time.Second, 6 * time.Second}, "holdfast-health-check"},
		{"half jitter", math.MaxUint64 / 2, HealthCheckConfig{Interval: time.Second, Jitter: 2 * time.Second},
			[]time.Duration{0, 2 * time.Second, 4 * time.Second}, "holdfast-health-check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ft := &fakeTransport{}
				var log changeLog
				c := healthConfig(ft, &log, tt.hc)
				c.Endpoints = addrs(1)
				u := newTest(t, c, constRand(tt.rnd))
				advance(tt.want[len(tt.want)-1])
				u.Close()
				var got []time.Duration
				for _, c := range ft.takeCalls() {
					got = append(got, c.at)
					if c.url != "http://10.0.0.1:80/healthz" || c.ua != tt.wantUA {
						t.Errorf("check %s with User-Agent %q; want http://10.0.0.1:80/healthz, %q", c.url, c.ua, tt.wantUA)
					}
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("check times (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestHealthCheckTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{}
		var log changeLog
		ft.set("10.0.0.1:80", 0, nil, true) // hangs
		u := newTest(t, healthConfig(ft, &log, HealthCheckConfig{Interval: 5 * time.Second, Timeout: time.Second, UnhealthyThreshold: 2}), constRand(0))
		// Rounds: 0-1s (timeout), 6-7s: the second failure lands at 7s.
		advance(7*time.Second - 1)
		if !u.eps[0].Healthy() {
			t.Fatal("unhealthy before the second check timed out")
		}
		advance(1)
		if u.eps[0].Healthy() {
			t.Fatal("healthy after two timed-out checks")
		}
		// The other endpoint's checks were not held up by the hanging one.
		var times []time.Duration
		for _, c := range ft.takeCalls() {
			if c.url == "http://10.0.0.2:80/healthz" {
				times = append(times, c.at)
			}
		}
		if want := []time.Duration{0, 6 * time.Second}; !cmp.Equal(times, want) {
			t.Errorf("checks of the healthy endpoint at %v; want %v", times, want)
		}
		log.mu.Lock()
		err := log.changes[0].Err
		log.mu.Unlock()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("unhealthy change Err = %v; want a deadline error", err)
		}
	})
}

func TestHealthCheckOptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{}
		var log changeLog
		ft.set("10.0.0.1:80", 200, nil, false)
		ft.set("10.0.0.2:80", 204, nil, false)
		u := newTest(t, healthConfig(ft, &log, HealthCheckConfig{
			Path: "/ready?deep=1", Host: "svc.internal", ExpectedStatuses: []int{204}, UnhealthyThreshold: 1,
		}), constRand(0))
		synctest.Wait()
		if u.eps[0].Healthy() || !u.eps[1].Healthy() {
			t.Errorf("Healthy() = %v, %v; want false (200 not expected), true (204)", u.eps[0].Healthy(), u.eps[1].Healthy())
		}
		for _, c := range ft.takeCalls() {
			if c.host != "svc.internal" || len(c.url) < 14 || c.url[len(c.url)-13:] != "/ready?deep=1" {
				t.Errorf("check of %s with Host %q; want path /ready?deep=1, Host svc.internal", c.url, c.host)
			}
		}
	})
}

func TestHealthCheckDefaultStatuses(t *testing.T) {
	tests := []struct {
		status int
		want   bool
	}{{199, false}, {200, true}, {302, true}, {399, true}, {400, false}, {503, false}}
	for _, tt := range tests {
		c := &checker{}
		if got := c.expected(tt.status); got != tt.want {
			t.Errorf("expected(%d) = %v; want %v", tt.status, got, tt.want)
		}
	}
}

func TestAllUnhealthyIsPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{}
		var log changeLog
		ft.set("10.0.0.1:80", 0, errors.New("connection refused"), false)
		ft.set("10.0.0.2:80", 0, errors.New("connection refused"), false)
		u := newTest(t, healthConfig(ft, &log, HealthCheckConfig{UnhealthyThreshold: 1}), constRand(0))
		synctest.Wait()
		if !u.Panic() {
			t.Fatal("Panic() = false with every endpoint unhealthy")
		}
		if e, err := u.Pick(Mask{}); e == nil || err != nil {
			t.Errorf("Pick() in panic mode = %v, %v; want an endpoint", e, err)
		}
		got := log.take()
		if len(got) != 3 || got[2] != "panic_entered no_usable_endpoint" {
			t.Errorf("changes = %q; want two endpoint_unhealthy then panic_entered", got)
		}
	})
}

func TestCloseStopsHealthChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{}
		var log changeLog
		ft.set("10.0.0.1:80", 0, nil, true) // the first round hangs until Close
		u := newTest(t, healthConfig(ft, &log, HealthCheckConfig{Timeout: time.Hour, Interval: time.Second}), constRand(0))
		synctest.Wait()
		start := time.Now()
		u.Close() // cancels the hanging check and waits for the checker
		if d := time.Since(start); d != 0 {
			t.Errorf("Close took %v of bubble time; want 0", d)
		}
		ft.takeCalls()
		advance(time.Hour)
		if calls := ft.takeCalls(); len(calls) != 0 {
			t.Errorf("%d checks after Close; want 0", len(calls))
		}
		if got := log.take(); len(got) != 0 {
			t.Errorf("changes = %q; want none (a check canceled by Close says nothing)", got)
		}
		u.Close()
	})
}

// TestHealthCheckRealHTTP runs checks against a real server on loopback and
// waits for the changes they report.
func TestHealthCheckRealHTTP(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	changes := make(chan Change, 16)
	u, err := New(Config{
		Endpoints:   []EndpointConfig{{Address: srv.URL}},
		HealthCheck: &HealthCheckConfig{Interval: 5 * time.Millisecond, HealthyThreshold: 1, UnhealthyThreshold: 1},
		OnChange:    func(c Change) { changes <- c },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	status.Store(500)
	if c := <-changes; c.Kind != EndpointUnhealthy {
		t.Fatalf("first change = %v; want endpoint_unhealthy", c.Kind)
	}
	if c := <-changes; c.Kind != PanicEntered {
		t.Fatalf("second change = %v; want panic_entered", c.Kind)
	}
	status.Store(200)
	if c := <-changes; c.Kind != EndpointHealthy {
		t.Fatalf("third change = %v; want endpoint_healthy", c.Kind)
	}
}
