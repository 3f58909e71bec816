package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdfast-dev/holdfast/canary"
)

// canaryBase has a route splitting between v1 and v2; withCanary puts its
// canary block on line 10.
const canaryBase = `upstreams:
  checkout-v1: {endpoints: [{address: http://127.0.0.1:1}]}
  checkout-v2: {endpoints: [{address: http://127.0.0.1:2}]}
  other: {endpoints: [{address: http://127.0.0.1:3}]}
routes:
  - name: checkout
    split:
      - {upstream: checkout-v1, weight: 100}
      - {upstream: checkout-v2, weight: 0}
`

func withCanary(c string) string { return canaryBase + "    canary: " + c + "\n" }

func TestCanaryParses(t *testing.T) {
	c, err := Parse([]byte(canaryBase + `    canary:
      baseline: checkout-v1
      candidate: checkout-v2
      steps: [1, 5, 25, 50, 100]
      interval: 1m
      min_requests: 200
      max_error_rate_increase: 0.5
      max_latency_ratio: 1.2
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Canary{Baseline: "checkout-v1", Candidate: "checkout-v2", Config: canary.Config{
		Steps: []int{1, 5, 25, 50, 100}, Interval: time.Minute, MinRequests: 200,
		MaxErrorRateIncrease: 0.5, MaxLatencyRatio: 1.2, Confidence: canary.DefaultConfidence,
	}}
	if diff := cmp.Diff(want, *c.Routes[0].Canary); diff != "" {
		t.Errorf("canary (-want +got):\n%s", diff)
	}
	d, err := Parse([]byte(withCanary("{baseline: checkout-v1, candidate: checkout-v2}")))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Routes[0].Canary.Config, (canary.Config{}).WithDefaults(); !cmp.Equal(got, want) {
		t.Errorf("defaults: %+v; want %+v", got, want)
	}
}

var badCanaryConfigs = []struct {
	name string
	src  string
	want []string
}{
	{"baseline not in the split", withCanary("{baseline: other, candidate: checkout-v2}"),
		[]string{`routes[0].canary.baseline (line 10): "other" is not one of the route's split upstreams`}},
	{"no candidate", withCanary("{baseline: checkout-v1}"),
		[]string{`routes[0].canary.candidate (line 10): is required`}},
	{"candidate is the baseline", withCanary("{baseline: checkout-v1, candidate: checkout-v1}"),
		[]string{`routes[0].canary.candidate (line 10): is the baseline too`}},
	{"steps not ending at 100", withCanary("{baseline: checkout-v1, candidate: checkout-v2, steps: [1, 5, 50]}"),
		[]string{`routes[0].canary.steps (line 10): must end at 100`}},
	{"steps not increasing", withCanary("{baseline: checkout-v1, candidate: checkout-v2, steps: [5, 5, 100]}"),
		[]string{`routes[0].canary.steps[1] (line 10): must be above the step before it (5), got 5`}},
	{"latency ratio below 1", withCanary("{baseline: checkout-v1, candidate: checkout-v2, max_latency_ratio: 0.9}"),
		[]string{`routes[0].canary.max_latency_ratio (line 10): must be at least 1, got 0.9`}},
	{"unknown key", withCanary("{baseline: checkout-v1, candidate: checkout-v2, stepz: [100]}"),
		[]string{`routes[0].canary.stepz (line 10): unknown key`}},
	{"no split", "upstreams:\n  a: {endpoints: [{address: http://127.0.0.1:1}]}\nroutes:\n  - name: r\n    upstream: a\n    canary: {baseline: a, candidate: a}\n",
		[]string{`routes[0].canary (line 6): needs a split of exactly two upstreams`}},
}

func TestCanaryErrorsNameKeyAndLine(t *testing.T) {
	for _, tt := range badCanaryConfigs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			checkErrors(t, err, tt.want, false)
		})
	}
}

// TestSplitNeedsAWeight: outside a canary, a split whose weights are all 0
// would send nothing anywhere.
func TestSplitNeedsAWeight(t *testing.T) {
	_, err := Parse([]byte(canaryBase[:len(canaryBase)-len("      - {upstream: checkout-v1, weight: 100}\n      - {upstream: checkout-v2, weight: 0}\n")] +
		"      - {upstream: checkout-v1, weight: 0}\n      - {upstream: checkout-v2, weight: 0}\n"))
	checkErrors(t, err, []string{"routes[0].split (line 7): needs a weight above 0"}, true)
}

func FuzzParseCanary(f *testing.F) {
	for _, tt := range badCanaryConfigs {
		f.Add([]byte(tt.src))
	}
	f.Add([]byte(withCanary("{baseline: checkout-v1, candidate: checkout-v2}")))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		for _, rt := range c.Routes {
			if rt.Canary == nil {
				continue
			}
			if err := rt.Canary.Config.Validate(); err != nil {
				t.Errorf("parsed a canary its library refuses: %v", err)
			}
			if _, err := canary.New(rt.Canary.Config, time.Unix(0, 0)); err != nil {
				t.Errorf("canary.New: %v", err)
			}
		}
	})
}
