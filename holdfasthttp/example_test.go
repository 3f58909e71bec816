package holdfasthttp_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/holdfasthttp"
	"github.com/holdfast-dev/holdfast/ratelimit"
	"github.com/holdfast-dev/holdfast/retry"
)

// A client whose requests are retried on 503s: an idempotent GET is
// retried until it succeeds; a POST is sent once, and its 503 is the
// answer.
func ExampleNewRoundTripper() {
	var calls atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := calls.Add(1); n%3 != 0 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "fresh")
	}))
	defer backend.Close()

	client := &http.Client{Transport: holdfasthttp.MustNewRoundTripper(nil,
		retry.MustNew(retry.Config{
			Attempts: 3,
			Backoff:  retry.BackoffConfig{Base: time.Millisecond},
			Listener: holdfast.ListenerFunc(func(e holdfast.Event) {
				if e.Kind == holdfast.EventRetry {
					fmt.Printf("retry after attempt %d: %v\n", e.Attempt, e.Err)
				}
			}),
		}),
		breaker.MustNew(breaker.Config{FailureRate: 0.5, MinimumRequests: 20}),
	)}

	resp, err := client.Get(backend.URL)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	calls.Store(0)
	resp, err = client.Post(backend.URL, "text/plain", strings.NewReader("order"))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, "after", calls.Load(), "request")
	// Output:
	// retry after attempt 1: holdfasthttp: 503 Service Unavailable
	// retry after attempt 2: holdfasthttp: 503 Service Unavailable
	// 200 fresh
	// 503 after 1 request
}

// A handler rate limited per user: past its burst, a user is answered by
// holdfast, in the proxy's shape.
func ExampleMiddleware() {
	limiter := ratelimit.MustNewKeyed(ratelimit.KeyedConfig{
		Config: ratelimit.Config{RequestsPerSecond: 0.1, Burst: 1},
	})
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") })
	h, err := holdfasthttp.NewHandler(api, holdfasthttp.HandlerConfig{
		Policies: []holdfast.Policy{limiter},
		Key:      holdfasthttp.HeaderKey("X-User-Id"),
	})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, user := range []string{"ada", "ada", "grace"} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("X-User-Id", user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s: %d %q retry-after=%v %s", user, resp.StatusCode,
			resp.Header.Get("X-Holdfast-Reason"), resp.Header.Get("Retry-After") != "", body)
	}
	// Output:
	// ada: 200 "" retry-after=false hello
	// ada: 429 "rate_limited" retry-after=true {"error":"rate limit exceeded","reason":"rate_limited"}
	// grace: 200 "" retry-after=false hello
}
