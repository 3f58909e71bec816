package upstream_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/internal/testkit"
	"github.com/holdfast-dev/holdfast/upstream"
)

// TestAgainstRealBackends runs health checks, outlier ejection and retries
// with exclusion against real servers on loopback, the way the proxy will:
// one backend fails every request, one fails its health checks, and every
// client request must still succeed on the good one.
func TestAgainstRealBackends(t *testing.T) {
	good := testkit.Start(t, testkit.Config{Name: "good"})
	failing := testkit.Start(t, testkit.Config{Name: "failing"})
	sick := testkit.Start(t, testkit.Config{Name: "sick"})
	failing.Fail(http.StatusBadGateway)
	sick.SetHealthz(false)

	changes := make(chan upstream.Change, 64)
	u, err := upstream.New(upstream.Config{
		Name:             "catalog",
		Endpoints:        []upstream.EndpointConfig{{Address: good.URL()}, {Address: failing.URL()}, {Address: sick.URL()}},
		Balancer:         upstream.BalancerRoundRobin,
		HealthCheck:      &upstream.HealthCheckConfig{Interval: 10 * time.Millisecond, UnhealthyThreshold: 1, HealthyThreshold: 1},
		OutlierDetection: upstream.OutlierConfig{ConsecutiveFailures: 2},
		OnChange:         func(c upstream.Change) { changes <- c },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if c := <-changes; c.Kind != upstream.EndpointUnhealthy || c.Endpoint.String() != sick.URL() {
		t.Fatalf("first change = %v %v; want endpoint_unhealthy %s", c.Kind, c.Endpoint, sick.URL())
	}

	for i := range 20 {
		var tried upstream.Mask
		status, body := 0, ""
		for attempt := 0; attempt < 3 && status != http.StatusOK; attempt++ {
			ep, err := u.Pick(tried)
			if err != nil {
				t.Fatalf("request %d: Pick: %v", i, err)
			}
			tried.Add(ep.Index())
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ep.Address().String()+"/items", nil)
			ep.Start()
			begin := time.Now()
			resp, err := u.Transport().RoundTrip(req)
			if err != nil {
				ep.Done(time.Since(begin), upstream.ErrorOutcome(req.Context(), err))
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			ep.Done(time.Since(begin), upstream.StatusOutcome(resp.StatusCode))
			status, body = resp.StatusCode, string(b)
		}
		if status != http.StatusOK || body != "good" {
			t.Fatalf("request %d: %d %q; want 200 from good", i, status, body)
		}
	}
	if n := failing.Requests(); n != 2 {
		t.Errorf("failing backend got %d requests; want 2 (ejected after 2 failures)", n)
	}
	if n := sick.Requests(); n != 0 {
		t.Errorf("unhealthy backend got %d requests; want 0", n)
	}
	s := u.Status()
	if !s.Endpoints[1].Ejected || s.Endpoints[2].Healthy || s.Usable != 1 {
		t.Errorf("status = %+v; want failing ejected, sick unhealthy, 1 usable", s)
	}
}
