package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast-dev/holdfast/upstream"
)

func Example() {
	u, err := upstream.New(upstream.Config{
		Name: "catalog",
		Endpoints: []upstream.EndpointConfig{
			{Address: "http://127.0.0.1:9001"},
			{Address: "http://127.0.0.1:9002", Weight: 2},
			{Address: "http://127.0.0.1:9003", Priority: 1}, // standby
		},
		Balancer: upstream.BalancerRoundRobin,
		OutlierDetection: upstream.OutlierConfig{
			ConsecutiveFailures: 2,
			Deadline:            250 * time.Millisecond,
			MaxEjectionPercent:  100,
		},
		OnChange: func(c upstream.Change) { fmt.Println("  change:", c.Kind, c.Endpoint, c.Reason) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer u.Close()

	// Weighted round robin over the primary group.
	for range 3 {
		ep, _ := u.Pick(upstream.Mask{})
		fmt.Println("pick", ep)
	}

	// Two failures in a row eject an endpoint; then 9001 failing as well
	// moves traffic to the standby.
	for _, addr := range []string{"127.0.0.1:9002", "127.0.0.1:9001"} {
		for _, ep := range u.Endpoints() {
			if ep.Address().Host == addr {
				for range 2 {
					ep.Start()
					ep.Done(3*time.Millisecond, upstream.StatusOutcome(503))
				}
			}
		}
	}
	ep, _ := u.Pick(upstream.Mask{})
	fmt.Println("pick", ep, "panic:", u.Panic())

	// A retry loop excludes what it tried. With no usable endpoint left
	// untried, Pick offers ejected ones rather than fail; when every
	// endpoint was tried, it fails.
	var tried upstream.Mask
	for attempt := 1; ; attempt++ {
		ep, err := u.Pick(tried)
		if errors.Is(err, upstream.ErrNoHealthyUpstream) {
			fmt.Println("attempt", attempt, "->", err)
			break
		}
		tried.Add(ep.Index())
		fmt.Println("attempt", attempt, "->", ep)
	}
	// Output:
	// pick http://127.0.0.1:9002
	// pick http://127.0.0.1:9001
	// pick http://127.0.0.1:9002
	//   change: endpoint_ejected http://127.0.0.1:9002 consecutive_failures
	//   change: endpoint_ejected http://127.0.0.1:9001 consecutive_failures
	// pick http://127.0.0.1:9003 panic: false
	// attempt 1 -> http://127.0.0.1:9003
	// attempt 2 -> http://127.0.0.1:9002
	// attempt 3 -> http://127.0.0.1:9001
	// attempt 4 -> upstream: no healthy upstream: catalog: all 3 endpoints excluded
}

func ExampleDo() {
	u := upstream.MustNew(upstream.Config{Endpoints: []upstream.EndpointConfig{{Address: "http://127.0.0.1:9001"}}})
	defer u.Close()
	host, err := upstream.Do(context.Background(), u, upstream.Mask{}, func(ctx context.Context, ep *upstream.Endpoint) (string, error) {
		// Send the request to ep.Address() here.
		return ep.Address().Host, nil
	})
	fmt.Println(host, err)
	// Output: 127.0.0.1:9001 <nil>
}
