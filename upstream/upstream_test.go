package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/holdfast-dev/holdfast"
)

// failoverConfig has a primary group a, b and a standby c.
func failoverConfig(log *changeLog, events *eventLog) Config {
	return Config{
		Name: "catalog",
		Endpoints: []EndpointConfig{
			{Address: "http://a:1"}, {Address: "http://b:1"}, {Address: "http://c:1", Priority: 1},
		},
		Balancer:         BalancerRoundRobin,
		OutlierDetection: OutlierConfig{ConsecutiveFailures: 1, MaxEjectionPercent: 100, BaseEjectionTime: 10 * time.Second},
		OnChange:         log.add,
		Listener:         holdfast.ListenerFunc(events.add),
	}
}

type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(e holdfast.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e.String())
}

func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.events
	l.events = nil
	return ev
}

// picked returns the set of endpoints n picks land on, as "a,b".
func picked(t *testing.T, u *Upstream, n int, exclude Mask) string {
	t.Helper()
	seen := map[string]bool{}
	for range n {
		e, err := u.Pick(exclude)
		if err != nil {
			t.Fatalf("Pick: %v", err)
		}
		seen[e.Address().Host[:1]] = true
	}
	s := ""
	for _, h := range []string{"a", "b", "c"} {
		if seen[h] {
			if s != "" {
				s += ","
			}
			s += h
		}
	}
	return s
}

func TestPriorityFailoverAndPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log changeLog
		var events eventLog
		u := newTest(t, failoverConfig(&log, &events), seeded(1))
		a, b, c := u.eps[0], u.eps[1], u.eps[2]
		step := func(name, wantPicks string, wantPanic bool, wantActive int) {
			t.Helper()
			if got := picked(t, u, 30, Mask{}); got != wantPicks {
				t.Errorf("%s: picks land on %s; want %s", name, got, wantPicks)
			}
			s := u.Status()
			if u.Panic() != wantPanic || s.Panic != wantPanic || s.ActivePriority != wantActive {
				t.Errorf("%s: Panic() = %v, status panic = %v, active_priority = %d; want %v, %v, %d",
					name, u.Panic(), s.Panic, s.ActivePriority, wantPanic, wantPanic, wantActive)
			}
		}
		step("all usable", "a,b", false, 0)
		fail(a, 1)
		step("a ejected", "b", false, 0)
		fail(b, 1)
		step("primary group out", "c", false, 1)
		fail(c, 1)
		step("nothing usable", "a,b,c", true, -1)
		advance(10 * time.Second) // all three back on probation
		step("back", "a,b", false, 0)

		wantChanges := []string{
			"endpoint_ejected http://a:1 consecutive_failures",
			"endpoint_ejected http://b:1 consecutive_failures",
			"endpoint_ejected http://c:1 consecutive_failures",
			"panic_entered no_usable_endpoint",
		}
		got := log.take()
		if diff := cmp.Diff(wantChanges, got[:4]); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
		// The three timers fire at the same instant and report without a
		// lock held, so their changes may interleave in any order.
		rest := slices.Sorted(slices.Values(got[4:]))
		wantRest := []string{
			"endpoint_probation http://a:1 ejection_ended",
			"endpoint_probation http://b:1 ejection_ended",
			"endpoint_probation http://c:1 ejection_ended",
			"panic_exited endpoint_usable",
		}
		if diff := cmp.Diff(wantRest, rest); diff != "" {
			t.Errorf("changes after the ejections, sorted (-want +got):\n%s", diff)
		}
		wantEvents := []string{
			"catalog: state_change delay=10s active->ejected reason=consecutive_failures",
			"catalog: state_change delay=10s active->ejected reason=consecutive_failures",
			"catalog: state_change delay=10s active->ejected reason=consecutive_failures",
			"catalog: state_change normal->panic reason=no_usable_endpoint",
		}
		if diff := cmp.Diff(wantEvents, events.take()[:4]); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

func TestPickExclusion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log changeLog
		var events eventLog
		u := newTest(t, failoverConfig(&log, &events), seeded(1))
		var ex Mask
		ex.Add(0)
		if got := picked(t, u, 20, ex); got != "b" {
			t.Errorf("excluding a: picks land on %s; want b", got)
		}
		ex.Add(1)
		if got := picked(t, u, 20, ex); got != "c" {
			t.Errorf("excluding a, b: picks land on %s; want the standby c", got)
		}
		// Every usable endpoint tried: an unusable one beats failing.
		fail(u.eps[2], 1)
		ex.Remove(1)
		ex.Add(2)
		fail(u.eps[1], 1)
		if got := picked(t, u, 20, ex); got != "b" {
			t.Errorf("a, c tried, b ejected: picks land on %s; want b", got)
		}
		ex.Add(1)
		e, err := u.Pick(ex)
		if e != nil || !errors.Is(err, ErrNoHealthyUpstream) {
			t.Fatalf("Pick(all excluded) = %v, %v; want nil, ErrNoHealthyUpstream", e, err)
		}
		var nh *NoHealthyUpstreamError
		if !errors.As(err, &nh) || *nh != (NoHealthyUpstreamError{Upstream: "catalog", Endpoints: 3, Excluded: 3}) {
			t.Errorf("error detail = %+v; want catalog, 3, 3", nh)
		}
		if want := "upstream: no healthy upstream: catalog: all 3 endpoints excluded"; err.Error() != want {
			t.Errorf("Error() = %q; want %q", err, want)
		}
	})
}

func TestExecuteAndDo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newTest(t, Config{Endpoints: addrs(2), Balancer: BalancerRoundRobin,
			OutlierDetection: OutlierConfig{ConsecutiveFailures: 2}}, seeded(1))
		var got []*Endpoint
		boom := errors.New("boom")
		for range 4 {
			err := u.Execute(t.Context(), func(ctx context.Context) error {
				e := EndpointFromContext(ctx)
				got = append(got, e)
				if e.InFlight() != 1 {
					t.Errorf("InFlight() inside the call = %d; want 1", e.InFlight())
				}
				time.Sleep(40 * time.Millisecond)
				if e.index == 0 {
					return boom
				}
				return nil
			})
			if (err != nil) != (got[len(got)-1].index == 0) || (err != nil && !errors.Is(err, boom)) {
				t.Errorf("Execute() = %v", err)
			}
		}
		if want := []*Endpoint{u.eps[0], u.eps[1], u.eps[0], u.eps[1]}; !slices.Equal(got, want) {
			t.Errorf("endpoints = %v; want %v", got, want)
		}
		if !u.eps[0].Ejected() || u.eps[1].Ejected() {
			t.Errorf("Ejected() = %v, %v; want true, false (two failures of 0)", u.eps[0].Ejected(), u.eps[1].Ejected())
		}
		if got := u.eps[1].EWMA(); got != 40*time.Millisecond {
			t.Errorf("EWMA() = %v; want 40ms, the calls' duration", got)
		}
		if EndpointFromContext(t.Context()) != nil {
			t.Error("EndpointFromContext(plain context) != nil")
		}

		var ex Mask
		ex.Add(1)
		v, err := Do(t.Context(), u, ex, func(ctx context.Context, e *Endpoint) (string, error) {
			return e.String(), nil
		})
		if v != u.eps[0].String() || err != nil {
			t.Errorf("Do() = %q, %v; want %q, nil (the ejected endpoint, since 1 is excluded)", v, err, u.eps[0])
		}
		ex.Add(0)
		if _, err := Do(t.Context(), u, ex, func(context.Context, *Endpoint) (int, error) { return 1, nil }); !errors.Is(err, ErrNoHealthyUpstream) {
			t.Errorf("Do(all excluded) error = %v; want ErrNoHealthyUpstream", err)
		}
	})
}

func TestOutcomes(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want Outcome
	}{
		{"nil", context.Background(), nil, Success},
		{"error", context.Background(), errors.New("reset"), Failure},
		{"caller canceled", canceled, context.Canceled, Canceled},
		{"caller canceled, other error", canceled, errors.New("read: use of closed connection"), Canceled},
		{"deadline", expired, context.DeadlineExceeded, Failure},
		{"permanent", context.Background(), holdfast.Permanent(errors.New("400")), Success},
		{"nil with canceled context", canceled, nil, Success},
		{"canceled inside the call", context.Background(), fmt.Errorf("read: %w", context.Canceled), Canceled},
	}
	for _, tt := range tests {
		if got := ErrorOutcome(tt.ctx, tt.err); got != tt.want {
			t.Errorf("ErrorOutcome(%s) = %v; want %v", tt.name, got, tt.want)
		}
	}
	for code, want := range map[int]Outcome{200: Success, 304: Success, 404: Success, 499: Success, 500: Failure, 503: Failure, 599: Failure} {
		if got := StatusOutcome(code); got != want {
			t.Errorf("StatusOutcome(%d) = %v; want %v", code, got, want)
		}
	}
	for o, want := range map[Outcome]string{Success: "success", Failure: "failure", Canceled: "canceled", Invalid: "invalid", Valid: "valid", 9: "outcome(9)"} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q; want %q", o, got, want)
		}
	}
}

func TestChangeEvent(t *testing.T) {
	cause := errors.New("refused")
	tests := []struct {
		c    Change
		want holdfast.Event
	}{
		{Change{Upstream: "u", Kind: EndpointUnhealthy, Reason: ReasonHealthCheck, Err: cause},
			holdfast.Event{Source: holdfast.KindUpstream, Policy: "u", Kind: holdfast.EventStateChange, From: "healthy", To: "unhealthy", Reason: "health_check", Err: cause}},
		{Change{Upstream: "u", Kind: EndpointHealthy, Reason: ReasonHealthCheck},
			holdfast.Event{Source: holdfast.KindUpstream, Policy: "u", Kind: holdfast.EventStateChange, From: "unhealthy", To: "healthy", Reason: "health_check"}},
		{Change{Upstream: "u", Kind: EndpointEjected, Reason: ReasonDeadlineMisses},
			holdfast.Event{Source: holdfast.KindUpstream, Policy: "u", Kind: holdfast.EventStateChange, From: "active", To: "ejected", Reason: "deadline_misses"}},
		{Change{Upstream: "u", Kind: EndpointEjected, Reason: ReasonProbationFailure},
			holdfast.Event{Source: holdfast.KindUpstream, Policy: "u", Kind: holdfast.EventStateChange, From: "probation", To: "ejected", Reason: "probation_failure"}},
		{Change{Upstream: "u", Kind: EndpointProbation, Reason: ReasonEjectionEnded},
			holdfast.Event{Source: holdfast.KindUpstream, Policy: "u", Kind: holdfast.EventStateChange, From: "ejected", To: "probation", Reason: "ejection_ended"}},
		{Change{Upstream: "u", Kind: EndpointRestored, Reason: ReasonProbationPassed},
			holdfast.Event{Source: holdfast.KindUpstream, Policy: "u", Kind: holdfast.EventStateChange, From: "probation", To: "active", Reason: "probation_passed"}},
		{Change{Upstream: "u", Kind: PanicEntered, Reason: ReasonNoUsableEndpoint},
			holdfast.Event{Source: holdfast.KindUpstream, Policy: "u", Kind: holdfast.EventStateChange, From: "normal", To: "panic", Reason: "no_usable_endpoint"}},
		{Change{Upstream: "u", Kind: PanicExited, Reason: ReasonEndpointUsable},
			holdfast.Event{Source: holdfast.KindUpstream, Policy: "u", Kind: holdfast.EventStateChange, From: "panic", To: "normal", Reason: "endpoint_usable"}},
	}
	for _, tt := range tests {
		if got := tt.c.Event(); !cmp.Equal(got, tt.want, cmp.Comparer(func(a, b error) bool { return a == b })) {
			t.Errorf("%v.Event() = %v; want %v", tt.c.Kind, got, tt.want)
		}
	}
	if got := ChangeKind(99).String(); got != "change(99)" {
		t.Errorf("ChangeKind(99).String() = %q; want change(99)", got)
	}
}

func TestEjectionEventDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []time.Duration
		u := newTest(t, Config{Endpoints: addrs(2), OutlierDetection: OutlierConfig{ConsecutiveFailures: 1, BaseEjectionTime: 7 * time.Second},
			Listener: holdfast.ListenerFunc(func(e holdfast.Event) { got = append(got, e.Delay) })}, seeded(1))
		fail(u.eps[0], 1)
		if len(got) != 1 || got[0] != 7*time.Second {
			t.Errorf("ejection event delays = %v; want [7s]", got)
		}
	})
}

func TestStatusJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := newTest(t, Config{Name: "catalog", Endpoints: weighted(1, 2),
			OutlierDetection: OutlierConfig{ConsecutiveFailures: 1, BaseEjectionTime: 30 * time.Second}}, seeded(1))
		succeed(u.eps[1], 1, 250*time.Millisecond)
		u.eps[1].Start()
		fail(u.eps[0], 1)
		b, err := json.Marshal(u.Status())
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"name": "catalog", "balancer": "p2c_ewma", "panic": false, "active_priority": 0.0,
			"usable": 1.0, "ejected": 1.0, "ejections_refused": 0.0,
			"endpoints": []any{
				map[string]any{"address": "http://10.0.0.1:80", "weight": 1.0, "priority": 0.0, "healthy": true,
					"ejected": true, "ejected_until": "2000-01-01T00:00:30Z", "probation": false, "ejections": 1.0,
					"in_flight": 0.0, "ewma": 0.03},
				map[string]any{"address": "http://10.0.0.2:80", "weight": 2.0, "priority": 0.0, "healthy": true,
					"ejected": false, "probation": false, "ejections": 0.0, "in_flight": 1.0, "ewma": 0.25},
			},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Status JSON (-want +got):\n%s\n%s", diff, b)
		}
	})
}

func TestUpstreamAccessors(t *testing.T) {
	u := newTest(t, Config{Endpoints: []EndpointConfig{{Address: "HTTP://Example.COM:8080/", Weight: 3, Priority: 2}}}, seeded(1))
	e := u.Endpoints()[0]
	got := fmt.Sprint(u.Name(), " ", u.Kind(), " ", e, " ", e.Weight(), " ", e.Priority(), " ", e.Index(), " ", e.Healthy(), " ", e.Usable())
	if want := "upstream other http://example.com:8080 3 2 0 true true"; got != want {
		t.Errorf("accessors = %q; want %q", got, want)
	}
	if _, ok := u.Transport().(*fakeTransport); !ok {
		t.Errorf("Transport() = %T; want the configured one", u.Transport())
	}
}

func TestMustNewPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustNew(invalid) did not panic")
		}
	}()
	MustNew(Config{})
}

// TestConcurrentUse hammers one upstream from several goroutines, with
// ejections, returns, health checks and status reads racing, and checks the
// books balance afterwards. Run with -race.
func TestConcurrentUse(t *testing.T) {
	for _, b := range []BalancerName{BalancerP2CEWMA, BalancerRoundRobin, BalancerLeastRequest, BalancerRandom} {
		t.Run(string(b), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ft := &fakeTransport{}
				ft.set("10.0.0.3:80", 503, nil, false)
				u := newTest(t, Config{
					Endpoints:        addrs(6),
					Balancer:         b,
					Transport:        ft,
					HealthCheck:      &HealthCheckConfig{Interval: 100 * time.Millisecond, UnhealthyThreshold: 1, HealthyThreshold: 1},
					OutlierDetection: OutlierConfig{ConsecutiveFailures: 2, Deadline: 50 * time.Millisecond, BaseEjectionTime: 200 * time.Millisecond},
				}, seeded(1))
				var wg sync.WaitGroup
				for g := range 8 {
					wg.Go(func() {
						var tried Mask
						for i := range 500 {
							e, err := u.Pick(tried)
							if err != nil {
								tried = Mask{}
								continue
							}
							tried.Add(e.Index())
							e.Start()
							time.Sleep(time.Duration(i%7) * 10 * time.Millisecond)
							o := Outcome((i + g) % 3)
							if e.Index() == 4 {
								o = Failure
							}
							e.Done(time.Duration(i%7)*10*time.Millisecond, o)
						}
					})
				}
				wg.Go(func() {
					for range 50 {
						_ = u.Status()
						time.Sleep(37 * time.Millisecond)
					}
				})
				wg.Wait()
				u.Close()
				s := u.Status()
				ejected := 0
				for i, e := range s.Endpoints {
					if e.InFlight != 0 {
						t.Errorf("endpoint %d: in_flight = %d after all requests ended; want 0", i, e.InFlight)
					}
					if e.Ejected {
						ejected++
					}
				}
				if ejected != s.Ejected || ejected != u.nEjected || ejected*100 > 50*6 {
					t.Errorf("ejected endpoints %d, status %d, counter %d; want equal and at most 3", ejected, s.Ejected, u.nEjected)
				}
				if s.Endpoints[4].Ejections == 0 {
					t.Error("the always-failing endpoint was never ejected")
				}
				if s.Endpoints[2].Healthy {
					t.Error("the endpoint failing health checks is healthy")
				}
			})
		})
	}
}

func TestLogger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			},
		}))
		u := newTest(t, Config{Name: "catalog", Endpoints: addrs(2), Logger: logger,
			OutlierDetection: OutlierConfig{ConsecutiveFailures: 1, BaseEjectionTime: time.Second}}, seeded(1))
		fail(u.eps[0], 1)
		want := `level=INFO msg="upstream endpoint_ejected" upstream=catalog reason=consecutive_failures endpoint=http://10.0.0.1:80 until=2000-01-01T00:00:01.000Z` + "\n"
		if got := buf.String(); got != want {
			t.Errorf("log = %q; want %q", got, want)
		}
	})
}
