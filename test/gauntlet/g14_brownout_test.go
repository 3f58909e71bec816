//go:build !race

package gauntlet

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/chaos/loadgen"
)

const brownout = `
listen: {{.Listen}}
admin: {listen: {{.Admin}}}
upstreams:
  svc:
    endpoints:
      - address: {{index .B 0}}
    outlier_detection: {disabled: true}
    concurrency:
      adaptive: {min: 6, max: 200, initial: 8, window: 100ms, probe_interval: 5s}
routes:
  - name: checkout
    match: {path_prefix: /critical}
    priority: critical
    upstream: svc
    timeout: 5s
    retry: {attempts: 1}
  - name: catalog
    match: {path_prefix: /default}
    upstream: svc
    timeout: 5s
    retry: {attempts: 1}
  - name: recommendations
    match: {path_prefix: /sheddable}
    priority: sheddable
    upstream: svc
    timeout: 5s
    retry: {attempts: 1}
`

// brownoutLoad is one priority's share of the load and what it got.
type brownoutLoad struct {
	path  string
	share float64
	// after counts the requests due once the limit had 2s to adapt, and
	// ok those of them answered 200.
	mu        sync.Mutex
	after, ok int
	shed      int    // 503s with reason shed
	retry     string // a shed reply's Retry-After
	res       *loadgen.Result
}

func (l *brownoutLoad) rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.after == 0 {
		return 0
	}
	return float64(l.ok) / float64(l.after)
}

// G14: three times the upstream's capacity over three routes of different
// priority: the critical route keeps its goodput, the sheddable one gives
// way first.
func TestG14Brownout(t *testing.T) {
	const workers, service = 4, 20 * time.Millisecond
	capacity := float64(workers) / service.Seconds() // 200 rps
	a := backend(t, "a")
	a.Capacity(workers, service, 0)
	p := startProxy(t, brownout, a)

	loads := []*brownoutLoad{
		{path: "/critical", share: 0.2},  // 0.6× capacity
		{path: "/default", share: 0.3},   // 0.9×
		{path: "/sheddable", share: 0.5}, // 1.5×
	}
	const seconds = 10
	start := time.Now()
	var wg sync.WaitGroup
	for _, l := range loads {
		wg.Go(func() {
			res, err := loadgen.Run(context.Background(), loadgen.Config{
				Rate: 3 * capacity * l.share, Duration: seconds * time.Second, Timeout: 5 * time.Second,
				NewRequest: get(p.URL + l.path),
				IsSuccess: func(resp *http.Response, err error) bool {
					if err == nil && resp.StatusCode == 503 && resp.Header.Get("X-Holdfast-Reason") == "shed" {
						l.mu.Lock()
						l.shed++
						l.retry = resp.Header.Get("Retry-After")
						l.mu.Unlock()
					}
					return err == nil && resp.StatusCode == 200
				},
				OnDone: func(o loadgen.Outcome) {
					if o.Due.Sub(start) >= 2*time.Second {
						l.mu.Lock()
						l.after++
						if o.Success {
							l.ok++
						}
						l.mu.Unlock()
					}
				},
			})
			if err != nil {
				t.Error(err)
				return
			}
			l.res = res
		})
	}
	// The adaptive limit, every 500ms, to show on a failure.
	stopPoll := make(chan struct{})
	var limits []string
	var poll sync.WaitGroup
	poll.Go(func() {
		for {
			select {
			case <-stopPoll:
				return
			case <-time.After(500 * time.Millisecond):
			}
			resp, err := http.Get(p.Admin + "/status")
			if err == nil {
				var st struct {
					Upstreams []struct {
						Concurrency struct {
							Limit, InFlight int
						} `json:"concurrency"`
					} `json:"upstreams"`
				}
				json.NewDecoder(resp.Body).Decode(&st)
				resp.Body.Close()
				if len(st.Upstreams) == 1 {
					limits = append(limits, fmt.Sprint(st.Upstreams[0].Concurrency.Limit))
				}
			}
		}
	})
	wg.Wait()
	close(stopPoll)
	poll.Wait()
	crit, def, shed := loads[0], loads[1], loads[2]
	ok := crit.rate() >= 0.95 && shed.rate() < def.rate() && def.rate() <= crit.rate() &&
		shed.shed > 0 && shed.retry == "1"
	seen := fmt.Sprintf("3× capacity: critical %.1f%% OK (≥ 95%%), default %.1f%%, sheddable %.1f%% (%d shed)",
		crit.rate()*100, def.rate()*100, shed.rate()*100, shed.shed)
	report("G14", "3× capacity over critical, default, sheddable", seen, ok)
	if !ok {
		t.Logf("adaptive limit every 500ms: %v (held at min while probing)", limits)
		for _, l := range loads {
			t.Logf("%s: statuses %v, %d shed, Retry-After %q", l.path, l.res.Statuses, l.shed, l.retry)
		}
		t.Errorf("%s", seen)
	}
}
