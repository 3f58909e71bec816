package drill_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/holdfast-dev/holdfast/chaos/drill"
)

// Example runs a small experiment against a local server: the steady state
// is "the server answers 200 within a second", the method only waits.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	e, err := drill.Parse([]byte(fmt.Sprintf(`
title: the server answers
steady_state_hypothesis:
  probes:
    - name: it answers
      http: {url: "%s/", status: 200, max_latency: 1s}
method:
  - name: a short pause
    wait: 10ms
`, srv.URL)))
	if err != nil {
		fmt.Println(err)
		return
	}
	j, err := drill.Run(context.Background(), e, drill.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("status:", j.Status)
	fmt.Println("held before and after:", j.SteadyStates.Before.SteadyStateMet, j.SteadyStates.After.SteadyStateMet)
	fmt.Println("actions run:", len(j.Run))
	fmt.Println("exit code:", j.ExitCode())
	// Output:
	// status: completed
	// held before and after: true true
	// actions run: 1
	// exit code: 0
}

// ExampleParse shows the errors of an invalid experiment: every one, with
// its key and line.
func ExampleParse() {
	_, err := drill.Parse([]byte(`
title: typos
method:
  - add_toxic: {proxy: db, type: latency, toxicty: 0.5}
  - wait: 5
`))
	fmt.Println(err)
	// Output:
	// method[0].add_toxic.toxicty (line 4): unknown key (did you mean "toxicity"?)
	// method[1].wait (line 5): must be a duration with a unit, such as 5s or 5ms, got 5
}
