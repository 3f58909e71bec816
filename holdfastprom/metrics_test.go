package holdfastprom_test

import (
	"context"
	"errors"
	"math"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/bulkhead"
	"github.com/holdfast-dev/holdfast/holdfastprom"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/upstream"
)

func newMetrics(t *testing.T) (*holdfastprom.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := holdfastprom.New(holdfastprom.Config{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// series returns every series of reg as "name{k=v,...}" mapped to its value
// (a histogram's sample count).
func series(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName()+"="+lp.GetValue())
			}
			key := f.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestOnEvent(t *testing.T) {
	tests := []struct {
		name  string
		event holdfast.Event
		want  string // the one series, with value 2 after two events
	}{
		{"retry", holdfast.Event{Source: holdfast.KindRetry, Policy: "db", Kind: holdfast.EventRetry, Attempt: 1, Delay: time.Millisecond},
			"holdfast_upstream_retries_total{upstream=db}"},
		{"breaker opens", holdfast.Event{Source: holdfast.KindBreaker, Policy: "db", Kind: holdfast.EventStateChange, From: "closed", To: "open"},
			"holdfast_upstream_breaker_transitions_total{from=closed,to=open,upstream=db}"},
		{"breaker half-opens", holdfast.Event{Source: holdfast.KindBreaker, Policy: "db", Kind: holdfast.EventStateChange, From: "open", To: "half_open"},
			"holdfast_upstream_breaker_transitions_total{from=open,to=half_open,upstream=db}"},
		{"endpoint unhealthy", holdfast.Event{Source: holdfast.KindUpstream, Policy: "db", Kind: holdfast.EventStateChange, From: "healthy", To: "unhealthy"},
			"holdfast_upstream_endpoint_changes_total{to=unhealthy,upstream=db}"},
		{"panic", holdfast.Event{Source: holdfast.KindUpstream, Policy: "db", Kind: holdfast.EventStateChange, From: "normal", To: "panic"},
			"holdfast_upstream_endpoint_changes_total{to=panic,upstream=db}"},
		{"retry budget spent", holdfast.Event{Source: holdfast.KindRetry, Policy: "db", Kind: holdfast.EventRejected, Attempt: 1, Reason: holdfast.ReasonBudgetExhausted},
			"holdfast_upstream_retry_budget_exhausted_total{upstream=db}"},
		{"hedge budget spent", holdfast.Event{Source: holdfast.KindHedge, Policy: "read", Kind: holdfast.EventRejected, Attempt: 2, Reason: holdfast.ReasonBudgetExhausted},
			"holdfast_route_hedge_budget_exhausted_total{route=read}"},
		{"breaker rejects", holdfast.Event{Source: holdfast.KindBreaker, Policy: "db", Kind: holdfast.EventRejected, Reason: holdfast.ReasonBreakerOpen},
			"holdfast_upstream_rejections_total{reason=breaker_open,upstream=db}"},
		{"bulkhead full", holdfast.Event{Source: holdfast.KindBulkhead, Policy: "db", Kind: holdfast.EventRejected, Reason: holdfast.ReasonOverloaded},
			"holdfast_upstream_rejections_total{reason=overloaded,upstream=db}"},
		{"queue timeout", holdfast.Event{Source: holdfast.KindBulkhead, Policy: "db", Kind: holdfast.EventRejected, Reason: holdfast.ReasonQueueTimeout},
			"holdfast_upstream_rejections_total{reason=queue_timeout,upstream=db}"},
		{"queued", holdfast.Event{Source: holdfast.KindBulkhead, Policy: "db", Kind: holdfast.EventQueued, Delay: 3 * time.Millisecond},
			"holdfast_upstream_queue_wait_seconds{upstream=db}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newMetrics(t)
			m.OnEvent(tt.event)
			m.OnEvent(tt.event)
			if diff := cmp.Diff(map[string]float64{tt.want: 2}, series(t, reg)); diff != "" {
				t.Errorf("series after two events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOnEventIgnores checks that events no metric counts leave no series,
// so that neither a library's other events nor made-up states and reasons
// can grow the label set.
func TestOnEventIgnores(t *testing.T) {
	m, reg := newMetrics(t)
	for _, e := range []holdfast.Event{
		{Source: holdfast.KindRetry, Policy: "db", Kind: holdfast.EventAttempt, Attempt: 1},
		{Source: holdfast.KindBulkhead, Policy: "db", Kind: holdfast.EventStateChange, From: "limiting", To: "probing"},
		{Source: holdfast.KindBulkhead, Policy: "db", Kind: holdfast.EventLimitChanged, Value: 12},
		// A state named like a breaker's, from another kind of policy.
		{Source: holdfast.KindGuard, Policy: "db", Kind: holdfast.EventStateChange, From: "closed", To: "open"},
		// Events without their source, which every policy sets.
		{Policy: "db", Kind: holdfast.EventStateChange, From: "closed", To: "open"},
		{Policy: "db", Kind: holdfast.EventRejected, Reason: holdfast.ReasonBreakerOpen},
		{Policy: "db", Kind: holdfast.EventQueued, Delay: time.Millisecond},
		{Policy: "db", Kind: holdfast.EventRetry, Attempt: 1},
		// States and reasons outside the fixed sets.
		{Source: holdfast.KindBreaker, Policy: "db", Kind: holdfast.EventStateChange, From: "closed", To: "/api/users/12345"},
		{Source: holdfast.KindBreaker, Policy: "db", Kind: holdfast.EventStateChange, From: "open", To: "open"},
		{Source: holdfast.KindUpstream, Policy: "db", Kind: holdfast.EventStateChange, From: "x", To: "anything"},
		{Source: holdfast.KindBulkhead, Policy: "db", Kind: holdfast.EventRejected, Reason: "made_up"},
		{Source: holdfast.KindBreaker, Policy: "db", Kind: holdfast.EventRejected, Reason: holdfast.ReasonOverloaded},
		// A budget refusal from a policy that is neither retry nor hedge.
		{Source: holdfast.KindOther, Policy: "db", Kind: holdfast.EventRejected, Reason: holdfast.ReasonBudgetExhausted},
		{Source: holdfast.KindRateLimit, Policy: "r", Kind: holdfast.EventRejected, Reason: holdfast.ReasonRateLimited},
		{Source: holdfast.KindRateLimit, Policy: "r", Kind: holdfast.EventQueued, Delay: time.Millisecond},
		{Source: holdfast.KindHedge, Policy: "r", Kind: holdfast.EventHedge, Attempt: 2},
		{Source: holdfast.KindTimeout, Policy: "t", Kind: holdfast.EventTimeout},
	} {
		m.OnEvent(e)
	}
	if got := series(t, reg); len(got) != 0 {
		t.Errorf("got series %v; want none", got)
	}
}

// TestEjectionsByReason: an ejection counts under its reason, beside the
// change to ejected; a reason outside the set is not a series.
func TestEjectionsByReason(t *testing.T) {
	m, reg := newMetrics(t)
	for _, reason := range []string{upstream.ReasonConsecutiveInvariantViolations, upstream.ReasonConsecutiveInvariantViolations, "made_up"} {
		m.OnEvent((upstream.Change{Upstream: "db", Kind: upstream.EndpointEjected, Reason: reason}).Event())
	}
	got := series(t, reg)
	want := map[string]float64{
		"holdfast_upstream_endpoint_changes_total{to=ejected,upstream=db}":                       3,
		"holdfast_upstream_ejections_total{reason=consecutive_invariant_violations,upstream=db}": 2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
}

func TestAddRemove(t *testing.T) {
	m, reg := newMetrics(t)
	tests := []struct {
		kind holdfast.Kind
		want []string
	}{
		{holdfast.KindRetry, []string{
			"holdfast_upstream_retries_total{upstream=p}",
			"holdfast_upstream_retry_budget_exhausted_total{upstream=p}",
		}},
		{holdfast.KindHedge, []string{"holdfast_route_hedge_budget_exhausted_total{route=p}"}},
		{holdfast.KindBreaker, []string{
			"holdfast_upstream_breaker_transitions_total{from=closed,to=half_open,upstream=p}",
			"holdfast_upstream_breaker_transitions_total{from=closed,to=open,upstream=p}",
			"holdfast_upstream_breaker_transitions_total{from=half_open,to=closed,upstream=p}",
			"holdfast_upstream_breaker_transitions_total{from=half_open,to=open,upstream=p}",
			"holdfast_upstream_breaker_transitions_total{from=open,to=closed,upstream=p}",
			"holdfast_upstream_breaker_transitions_total{from=open,to=half_open,upstream=p}",
			"holdfast_upstream_rejections_total{reason=breaker_open,upstream=p}",
		}},
		{holdfast.KindBulkhead, []string{
			"holdfast_upstream_queue_wait_seconds{upstream=p}",
			"holdfast_upstream_rejections_total{reason=overloaded,upstream=p}",
			"holdfast_upstream_rejections_total{reason=queue_timeout,upstream=p}",
		}},
		{holdfast.KindUpstream, []string{
			"holdfast_upstream_endpoint_changes_total{to=active,upstream=p}",
			"holdfast_upstream_endpoint_changes_total{to=ejected,upstream=p}",
			"holdfast_upstream_endpoint_changes_total{to=healthy,upstream=p}",
			"holdfast_upstream_endpoint_changes_total{to=normal,upstream=p}",
			"holdfast_upstream_endpoint_changes_total{to=panic,upstream=p}",
			"holdfast_upstream_endpoint_changes_total{to=probation,upstream=p}",
			"holdfast_upstream_endpoint_changes_total{to=unhealthy,upstream=p}",
			"holdfast_upstream_ejections_total{reason=consecutive_failures,upstream=p}",
			"holdfast_upstream_ejections_total{reason=consecutive_invariant_violations,upstream=p}",
			"holdfast_upstream_ejections_total{reason=deadline_misses,upstream=p}",
			"holdfast_upstream_ejections_total{reason=probation_failure,upstream=p}",
		}},
		{holdfast.KindTimeout, nil},
		{holdfast.KindFallback, nil},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			// Another policy of the same name and kind stays when p goes.
			m.AddName(tt.kind, "other")
			m.AddName(tt.kind, "p")
			got := map[string]float64{}
			for k, v := range series(t, reg) {
				if strings.Contains(k, "=p}") || strings.Contains(k, "=p,") {
					got[k] = v
				}
			}
			want := map[string]float64{}
			for _, s := range tt.want {
				want[s] = 0
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("after AddName (-want +got):\n%s", diff)
			}
			before := len(series(t, reg))
			m.Remove(tt.kind, "p")
			after := series(t, reg)
			for k := range after {
				if strings.Contains(k, "=p}") || strings.Contains(k, "=p,") {
					t.Errorf("after Remove: %s is still there", k)
				}
			}
			if len(after) != before-len(tt.want) {
				t.Errorf("Remove(%v, p) deleted %d series; want %d", tt.kind, before-len(after), len(tt.want))
			}
			m.Remove(tt.kind, "other")
		})
	}
}

// TestEndpointStates checks that every upstream change the upstream package
// has enters a state AddName creates: a new ChangeKind that the range in
// endpointStates missed would be counted nowhere.
func TestEndpointStates(t *testing.T) {
	m, reg := newMetrics(t)
	m.AddName(holdfast.KindUpstream, "u")
	have := series(t, reg)
	n := 0
	for k := upstream.ChangeKind(1); !strings.HasPrefix(k.String(), "change("); k++ {
		n++
		to := upstream.Change{Kind: k}.Event().To
		if _, ok := have["holdfast_upstream_endpoint_changes_total{to="+to+",upstream=u}"]; !ok {
			t.Errorf("%v enters %q, which has no series", k, to)
		}
	}
	if n < 7 {
		t.Errorf("walked %d change kinds; want at least the 7 there are", n)
	}
}

// TestPolicies runs real policies with the metrics as their listener: a
// retry, a breaker that opens and refuses, a bulkhead that queues and
// times out, in a synctest bubble so that the backoff and the queue
// timeout pass in virtual time.
func TestPolicies(t *testing.T) {
	synctest.Test(t, testPolicies)
}

func testPolicies(t *testing.T) {
	m, reg := newMetrics(t)
	r := retry.MustNew(retry.Config{Name: "db", Attempts: 3, Backoff: retry.BackoffConfig{Base: time.Nanosecond, Jitter: "none"}, Listener: m})
	cb := breaker.MustNew(breaker.Config{Name: "db", ConsecutiveFailures: 2, OpenDuration: time.Hour, Listener: m})
	bh, err := bulkhead.New(bulkhead.Config{Name: "db", Limit: 1, Queue: 1, QueueTimeout: time.Nanosecond, Listener: m})
	if err != nil {
		t.Fatal(err)
	}
	m.Add(r, cb, bh)
	p := holdfast.MustNew[struct{}](r, cb)
	down := errors.New("down")
	err = p.Run(context.Background(), func(context.Context) error { return down })
	if !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("Run: got %v; want the breaker open on the third attempt", err)
	}
	// The bulkhead's one slot is taken; the next call queues and times out.
	release := make(chan struct{})
	started := make(chan struct{})
	go bh.Execute(context.Background(), func(context.Context) error { close(started); <-release; return nil })
	<-started
	if err := bh.Execute(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, bulkhead.ErrFull) {
		t.Errorf("queued call: got %v; want bulkhead.ErrFull", err)
	}
	close(release)

	got := series(t, reg)
	for _, tt := range []struct {
		series string
		want   float64
	}{
		{"holdfast_upstream_retries_total{upstream=db}", 2},
		{"holdfast_upstream_breaker_transitions_total{from=closed,to=open,upstream=db}", 1},
		{"holdfast_upstream_rejections_total{reason=breaker_open,upstream=db}", 1},
		{"holdfast_upstream_rejections_total{reason=queue_timeout,upstream=db}", 1},
		{"holdfast_upstream_rejections_total{reason=overloaded,upstream=db}", 0},
		{"holdfast_upstream_breaker_transitions_total{from=open,to=half_open,upstream=db}", 0},
	} {
		if v, ok := got[tt.series]; !ok || v != tt.want {
			t.Errorf("%s: got %g (present %v); want %g", tt.series, v, ok, tt.want)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name    string
		buckets []float64
		want    string
	}{
		{"descending", []float64{1, 0.5}, "holdfastprom.queue_buckets: must be in increasing order, got [1 0.5]"},
		{"repeated", []float64{0.1, 0.1}, "holdfastprom.queue_buckets: must be in increasing order, got [0.1 0.1]"},
		{"NaN", []float64{0.1, math.NaN()}, "holdfastprom.queue_buckets: must be numbers, got [0.1 NaN]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := holdfastprom.New(holdfastprom.Config{Registerer: prometheus.NewRegistry(), QueueBuckets: tt.buckets})
			var ce *holdfast.ConfigError
			if !errors.As(err, &ce) || err.Error() != tt.want {
				t.Errorf("got %v; want %q", err, tt.want)
			}
		})
	}
	for _, ok := range [][]float64{{}, {0.1}, {0.1, 1, math.Inf(1)}} {
		if _, err := holdfastprom.New(holdfastprom.Config{Registerer: prometheus.NewRegistry(), QueueBuckets: ok}); err != nil {
			t.Errorf("buckets %v: %v", ok, err)
		}
	}

	// A registry that has one of the names already: an error, and nothing
	// of the set left registered.
	reg := &recordingRegisterer{Registerer: prometheus.NewRegistry(), live: map[prometheus.Collector]bool{}}
	reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "holdfast_upstream_rejections_total", Help: "x"}, []string{"upstream"}))
	if _, err := holdfastprom.New(holdfastprom.Config{Registerer: reg}); err == nil || !strings.HasPrefix(err.Error(), "holdfastprom: ") {
		t.Errorf("New on a registry with a clashing metric: got %v; want a holdfastprom error", err)
	}
	if len(reg.live) != 1 {
		t.Errorf("after the failed New, %d collectors are registered; want only the clashing one", len(reg.live))
	}
}

// recordingRegisterer keeps the set of collectors registered through it.
type recordingRegisterer struct {
	prometheus.Registerer
	live map[prometheus.Collector]bool
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	if err := r.Registerer.Register(c); err != nil {
		return err
	}
	r.live[c] = true
	return nil
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *recordingRegisterer) Unregister(c prometheus.Collector) bool {
	delete(r.live, c)
	return r.Registerer.Unregister(c)
}

func TestLint(t *testing.T) {
	m, reg := newMetrics(t)
	for _, k := range []holdfast.Kind{holdfast.KindRetry, holdfast.KindHedge, holdfast.KindBreaker, holdfast.KindBulkhead, holdfast.KindUpstream} {
		m.AddName(k, "p")
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 8 {
		t.Errorf("got %d families; want 8", len(fams))
	}
	problems, err := promlint.NewWithMetricFamilies(fams).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestHistogramOpts checks that a histogram made from HistogramOpts has the
// classic buckets and native ones of the documented factor.
func TestHistogramOpts(t *testing.T) {
	h := prometheus.NewHistogram(holdfastprom.HistogramOpts("x_seconds", "x", holdfastprom.DurationBuckets))
	h.Observe(0.2)
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	hist := m.GetHistogram()
	if got := len(hist.GetBucket()); got != len(holdfastprom.DurationBuckets) {
		t.Errorf("got %d classic buckets; want %d", got, len(holdfastprom.DurationBuckets))
	}
	// Schema 3: each native bucket is 2^(1/8) ≈ 1.09 times the one below.
	if got := hist.GetSchema(); got != 3 {
		t.Errorf("native schema: got %d; want 3", got)
	}
	if got := math.Pow(2, math.Pow(2, -float64(hist.GetSchema()))); got > holdfastprom.NativeBucketFactor {
		t.Errorf("native growth factor %g is above NativeBucketFactor %g", got, holdfastprom.NativeBucketFactor)
	}
	if !sort.Float64sAreSorted(holdfastprom.DurationBuckets) || !sort.Float64sAreSorted(holdfastprom.QueueBuckets) {
		t.Errorf("buckets out of order")
	}
}
