package canary

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast"
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func TestProportionTest(t *testing.T) {
	for _, tc := range []struct {
		fa, na, fb, nb int
		z, p           float64
	}{
		{10, 100, 20, 100, 1.9803, 0.02384},  // pooled 0.15
		{20, 100, 10, 100, -1.9803, 0.97616}, // B better: no evidence B is worse
		{0, 1000, 0, 200, 0, 1},              // no variance
		{5, 5, 5, 5, 0, 1},                   // every call failed on both sides
		{1, 0, 1, 10, 0, 1},                  // an empty side
	} {
		z, p := ProportionTest(tc.fa, tc.na, tc.fb, tc.nb)
		if !near(z, tc.z, 1e-3) || !near(p, tc.p, 1e-4) {
			t.Errorf("ProportionTest(%d/%d, %d/%d) = z %.4f, p %.5f; want z %.4f, p %.5f", tc.fa, tc.na, tc.fb, tc.nb, z, p, tc.z, tc.p)
		}
	}
}

func TestMannWhitney(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a, b    []float64
		u, z, p float64
	}{
		// Every b above every a: U = 25 of 25 pairs; mean 12.5, sd
		// sqrt(25*11/12); z = (12.5-0.5)/sd.
		{"b above", []float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}, 25, 2.5067, 0.006093},
		{"b below", []float64{6, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5}, 0, -2.5067, 0.993907},
		// Ties: ranks averaged, variance corrected. a = 1,2,2 ; b = 2,3,3.
		// Ranks: 1 | 2,2,2 -> 3 | 3,3 -> 5.5. R_b = 3+5.5+5.5 = 14, U = 14-6 = 8.
		// Var = 9/12*(7 - (27-3+8-2)/30) = 0.75*6 = 4.5.
		{"ties", []float64{1, 2, 2}, []float64{2, 3, 3}, 8, (8 - 4.5 - 0.5) / math.Sqrt(4.5), 0.0786},
		{"all equal", []float64{1, 1, 1}, []float64{1, 1}, 3, 0, 1},
		{"empty", nil, []float64{1}, 0, 0, 1},
	} {
		u, z, p := MannWhitney(tc.a, tc.b)
		if !near(u, tc.u, 1e-9) || !near(z, tc.z, 1e-3) || !near(p, tc.p, 1e-3) {
			t.Errorf("%s: MannWhitney = U %g, z %.4f, p %.5f; want U %g, z %.4f, p %.5f", tc.name, u, z, p, tc.u, tc.z, tc.p)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		c     Config
		field string
	}{
		{Config{Steps: []int{1, 5, 50}}, "steps"},
		{Config{Steps: []int{100}}, "steps"},
		{Config{Steps: []int{5, 5, 100}}, "steps[1]"},
		{Config{Steps: []int{0, 100}}, "steps[0]"},
		{Config{Steps: []int{50, 101}}, "steps[1]"},
		{Config{Interval: -time.Second}, "interval"},
		{Config{MinRequests: -1}, "min_requests"},
		{Config{MaxErrorRateIncrease: -1}, "max_error_rate_increase"},
		{Config{MaxLatencyRatio: 0.5}, "max_latency_ratio"},
		{Config{Confidence: 1}, "confidence"},
	} {
		err := tc.c.Validate()
		var ce *holdfast.ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.field {
			t.Errorf("Validate(%+v) = %v; want an error at %s", tc.c, err, tc.field)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("Validate(defaults) = %v; want nil", err)
	}
}

// version is how one side behaves: its error rate and its latencies.
type version struct {
	errRate float64
	latency func(rng *rand.Rand) time.Duration
}

func lognormal(median time.Duration) func(rng *rand.Rand) time.Duration {
	return func(rng *rand.Rand) time.Duration {
		return time.Duration(float64(median) * math.Exp(0.3*rng.NormFloat64()))
	}
}

// run drives a rollout step by step, a tenth of the interval at a time,
// sending per tick calls split by the rollout's weight, until it ends or
// maxTicks pass. It returns the rollout.
func run(t *testing.T, base, cand version, perTick int, maxTicks int) *Rollout {
	t.Helper()
	c := Config{Interval: time.Minute, MinRequests: 200}
	now := time.Unix(1_000_000, 0)
	r, err := New(c, now)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for tick := 0; tick < maxTicks; tick++ {
		st := r.Status().State
		if st != Running {
			break
		}
		w := r.Weight()
		for range perTick {
			side, v := Baseline, base
			if rng.IntN(100) < w {
				side, v = Candidate, cand
			}
			r.Observe(side, rng.Float64() < v.errRate, v.latency(rng))
		}
		now = now.Add(6 * time.Second)
		r.Tick(now)
	}
	return r
}

func TestGoodCandidateIsPromotedThroughEveryStep(t *testing.T) {
	v := version{errRate: 0.01, latency: lognormal(20 * time.Millisecond)}
	r := run(t, v, v, 3000, 1000)
	s := r.Status()
	if s.State != Promoted || s.Weight != 100 {
		t.Fatalf("state %s, weight %d; want promoted, 100 (history %+v)", s.State, s.Weight, s.History)
	}
	var steps []int
	for _, j := range s.History {
		if j.Verdict != VerdictPass {
			t.Errorf("step %d: verdict %s (%s); want pass", j.Step, j.Verdict, j.Reason)
		}
		steps = append(steps, j.Weight)
	}
	if got, want := steps, []int{1, 5, 25, 50}; !equal(got, want) {
		t.Errorf("judged steps %v; want %v", got, want)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBadCandidateIsRolledBackAtTheFirstStep(t *testing.T) {
	base := version{errRate: 0.01, latency: lognormal(20 * time.Millisecond)}
	for _, tc := range []struct {
		name   string
		cand   version
		reason string
	}{
		{"3 points more 5xx", version{errRate: 0.04, latency: lognormal(20 * time.Millisecond)}, ReasonErrorRate},
		{"1.5x latency", version{errRate: 0.01, latency: lognormal(30 * time.Millisecond)}, ReasonLatency},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, base, tc.cand, 3000, 1000)
			s := r.Status()
			if s.State != RolledBack || s.Weight != 0 {
				t.Fatalf("state %s, weight %d; want rolled_back, 0", s.State, s.Weight)
			}
			last := s.History[len(s.History)-1]
			if last.Step != 0 || last.Verdict != VerdictFail || !strings.HasPrefix(last.Reason, tc.reason) {
				t.Errorf("last judgment: step %d, %s, %q; want step 0, fail, reason %s", last.Step, last.Verdict, last.Reason, tc.reason)
			}
			if last.CandidateRequests < 200 {
				t.Errorf("judged on %d candidate calls; want at least min_requests 200", last.CandidateRequests)
			}
		})
	}
}

// TestNoJudgmentWithoutEnoughCalls: a step without min_requests on both
// sides is neither passed nor failed, however long it lasts.
func TestNoJudgmentWithoutEnoughCalls(t *testing.T) {
	now := time.Unix(0, 0)
	r, _ := New(Config{MinRequests: 200}, now)
	for range 199 {
		r.Observe(Candidate, true, time.Second)
	}
	for range 10000 {
		r.Observe(Baseline, false, time.Millisecond)
	}
	if _, judged := r.Tick(now.Add(time.Hour)); judged {
		t.Fatal("judged a step with 199 candidate calls; want no judgment before 200")
	}
	r.Observe(Candidate, true, time.Second)
	if j, judged := r.Tick(now.Add(time.Hour)); !judged || j.Verdict != VerdictFail {
		t.Fatalf("with 200 failing candidate calls: judged %v, %+v; want a failed step", judged, j)
	}
}

func TestManualControls(t *testing.T) {
	now := time.Unix(0, 0)
	r, _ := New(Config{MinRequests: 1, Interval: time.Second}, now)
	if err := r.Pause(); err != nil {
		t.Fatal(err)
	}
	r.Observe(Candidate, false, time.Millisecond) // not counted while paused
	r.Observe(Baseline, false, time.Millisecond)
	if _, judged := r.Tick(now.Add(time.Hour)); judged || r.Weight() != 1 {
		t.Fatalf("paused: judged %v, weight %d; want no judgment, weight 1", judged, r.Weight())
	}
	if err := r.Resume(now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := r.Promote(); err != nil || r.Weight() != 100 || r.Status().State != Promoted {
		t.Fatalf("promote: %v, weight %d, %s; want nil, 100, promoted", err, r.Weight(), r.Status().State)
	}
	if err := r.Abort(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("abort after promote = %v; want ErrNotRunning", err)
	}
	r2, _ := New(Config{}, now)
	if err := r2.Abort(); err != nil || r2.Weight() != 0 || r2.Status().State != Aborted {
		t.Errorf("abort: %v, weight %d, %s; want nil, 0, aborted", err, r2.Weight(), r2.Status().State)
	}
}

// TestSamplesAreBounded: a step keeps at most MaxSamples latencies a side,
// however many calls it sees.
func TestSamplesAreBounded(t *testing.T) {
	r, _ := New(Config{}, time.Unix(0, 0))
	for i := range 10 * MaxSamples {
		r.Observe(Baseline, false, time.Duration(i))
	}
	if got := len(r.base.latencies); got != MaxSamples {
		t.Errorf("kept %d latencies; want %d", got, MaxSamples)
	}
	if r.base.requests != 10*MaxSamples {
		t.Errorf("counted %d calls; want %d", r.base.requests, 10*MaxSamples)
	}
}

// TestEvents: every judged step and every change by hand is an event, in
// order, outside the rollout's lock (the listener reads the rollout).
func TestEvents(t *testing.T) {
	var got []string
	var r *Rollout
	l := holdfast.ListenerFunc(func(e holdfast.Event) {
		if e.Source != holdfast.KindCanary || e.Kind != holdfast.EventStateChange || e.Policy != "checkout" {
			t.Errorf("event %v; want a canary state change of checkout", e)
		}
		_ = r.Status() // would deadlock under the lock
		got = append(got, e.From+"->"+e.To)
	})
	now := time.Unix(0, 0)
	r, _ = New(Config{Steps: []int{10, 50, 100}, MinRequests: 1, Interval: time.Second, Name: "checkout", Listener: l}, now)
	for step := range 2 {
		r.Observe(Baseline, false, time.Millisecond)
		r.Observe(Candidate, false, time.Millisecond)
		r.Tick(now.Add(time.Duration(step+1) * time.Second))
	}
	r2, _ := New(Config{Name: "checkout", Listener: l}, now)
	r2.Pause()
	r2.Resume(now)
	r2.Abort()
	want := []string{"step 10%->step 50%", "step 50%->promoted", "running->paused", "paused->running", "running->aborted"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events %q; want %q", got, want)
	}
}
