package upstream

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestPickRetry: a retry goes to a sound usable endpoint, tried or not,
// before a doubtful one (on probation, or far slower than its peers), and
// never to an ejected one while any endpoint is usable; Pick, for a first
// attempt, would have sent the same retry to the ejected endpoint.
func TestPickRetry(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		setup func(u *Upstream)
		tried []int
		last  int
		want  []int // the endpoints PickRetry may return
	}{
		{
			name:  "an untried sound endpoint first",
			tried: []int{0}, last: 0,
			want: []int{1, 2, 3},
		},
		{
			name: "both usable tried, the others ejected: the usable one not tried last, never an ejected one",
			setup: func(u *Upstream) {
				fail(u.eps[2], 3)
				fail(u.eps[3], 3)
			},
			tried: []int{0, 1}, last: 1,
			want: []int{0},
		},
		{
			name: "a far slower untried endpoint loses to a tried sound one",
			setup: func(u *Upstream) {
				succeed(u.eps[0], 1, 2*ms)
				succeed(u.eps[1], 1, 3*ms)
				succeed(u.eps[2], 1, 2*time.Second)
				fail(u.eps[3], 3) // ejected
			},
			tried: []int{0, 1}, last: 1,
			want: []int{0},
		},
		{
			name: "slower, but not far: still a candidate",
			setup: func(u *Upstream) {
				succeed(u.eps[0], 1, 20*ms)
				succeed(u.eps[1], 1, 20*ms)
				succeed(u.eps[2], 1, 40*ms)
				fail(u.eps[3], 3)
			},
			tried: []int{0, 1}, last: 1,
			want: []int{2},
		},
		{
			name: "an endpoint on probation loses to a tried sound one",
			setup: func(u *Upstream) {
				fail(u.eps[2], 3)
				fail(u.eps[3], 3)
				time.Sleep(10 * time.Second) // the ejections end: probation
				synctest.Wait()
				fail(u.eps[3], 1) // probation failed: ejected again
			},
			tried: []int{0, 1}, last: 1,
			want: []int{0},
		},
		{
			name: "only doubtful ones left untried and the sound one was last: a doubtful one",
			setup: func(u *Upstream) {
				succeed(u.eps[0], 1, 2*ms)
				succeed(u.eps[1], 1, 2*time.Second)
				succeed(u.eps[2], 1, 2*time.Second)
				fail(u.eps[3], 3)
			},
			tried: []int{0}, last: 0,
			want: []int{1, 2},
		},
		{
			name: "panic mode: an untried endpoint",
			setup: func(u *Upstream) {
				u.mu.Lock()
				for _, e := range u.eps {
					e.healthy.Store(false)
				}
				u.publishLocked(nil)
				u.mu.Unlock()
			},
			tried: []int{0, 1}, last: 1,
			want: []int{2, 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				u := newTest(t, Config{
					Endpoints: addrs(4),
					OutlierDetection: OutlierConfig{ConsecutiveFailures: 3, BaseEjectionTime: 10 * time.Second,
						MaxEjectionPercent: 50},
				}, seeded(7))
				if tt.setup != nil {
					tt.setup(u)
				}
				var tried Mask
				for _, i := range tt.tried {
					tried.Add(i)
				}
				for i := range retryPicks(t, u, tried, tt.last) {
					if !contains(tt.want, i) {
						t.Errorf("PickRetry chose endpoint %d; want one of %v", i, tt.want)
					}
				}
			})
		})
	}
}

// retryPicks returns the endpoints 200 calls of PickRetry(tried, last)
// chose.
func retryPicks(t *testing.T, u *Upstream, tried Mask, last int) map[int]bool {
	t.Helper()
	seen := map[int]bool{}
	for range 200 {
		e, err := u.PickRetry(tried, last)
		if err != nil {
			t.Fatal(err)
		}
		seen[e.Index()] = true
	}
	return seen
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestPickRetryAvoidsAFailingEndpointTheCapKept: an endpoint failing every
// call that max_ejection_percent kept from being ejected is usable, but a
// retry goes to a sound one (the drill's dead backend got the last retry of
// whole bursts of requests, each then a 502).
func TestPickRetryAvoidsAFailingEndpointTheCapKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newTest(t, Config{
			Endpoints: addrs(4),
			OutlierDetection: OutlierConfig{ConsecutiveFailures: 3, BaseEjectionTime: 10 * time.Second,
				MaxEjectionPercent: 25},
		}, seeded(7))
		fail(u.eps[3], 3) // ejected: the cap's one
		fail(u.eps[1], 5) // past the threshold, refused by the cap
		if st := u.Status(); st.Usable != 3 {
			t.Fatalf("usable = %d; want 3 (endpoint 1 kept by the cap)", st.Usable)
		}
		var tried Mask
		tried.Add(0)
		for i := range retryPicks(t, u, tried, 0) {
			if i != 2 {
				t.Fatalf("PickRetry chose endpoint %d; want 2, the sound one (1 fails every call)", i)
			}
		}
		// Once its answer is good again, it is a candidate again.
		succeed(u.eps[1], 1, time.Millisecond)
		if !retryPicks(t, u, tried, 0)[1] {
			t.Error("endpoint 1 after a good answer: never chosen; want it a candidate again")
		}
	})
}

// TestPickRetryPrefersOnceFailedToCondemned: the usable endpoints are a
// flaky one that just failed this request and a dead one the cap keeps in
// service: the retry goes back to the flaky one, which fails some calls,
// not to the dead one, which fails them all.
func TestPickRetryPrefersOnceFailedToCondemned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newTest(t, Config{
			Endpoints: addrs(4),
			OutlierDetection: OutlierConfig{ConsecutiveFailures: 3, BaseEjectionTime: 10 * time.Second,
				MaxEjectionPercent: 50},
		}, seeded(7))
		fail(u.eps[2], 3)
		fail(u.eps[3], 3) // two ejected: the cap
		fail(u.eps[1], 4) // dead, refused by the cap
		fail(u.eps[0], 1) // flaky: failed this request
		var tried Mask
		tried.Add(0)
		tried.Add(1)
		for i := range retryPicks(t, u, tried, 0) {
			if i != 0 {
				t.Fatalf("PickRetry chose endpoint %d; want 0 (failed once) over 1 (failing every call)", i)
			}
		}
	})
}
