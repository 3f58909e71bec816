package guard

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// reports collects what OnReport receives.
type reports struct {
	mu  sync.Mutex
	got []Report
}

func (r *reports) add(rep Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, rep)
}

func (r *reports) take() []Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

var errA, errB, errC = errors.New("a"), errors.New("b"), errors.New("c")

// TestReportOnSilenceAndRecovery: the silencing's report names the cause
// and the violations before it, oldest first; Report returns it while
// silenced; the recovery's report has the same Since, its own At and the
// probes that passed.
func TestReportOnSilenceAndRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rs reports
		g := MustNew(Config[int]{Name: "ledger", Violations: 3, Window: time.Minute, RecoveryProbes: 2, OnReport: rs.add})
		ctx := context.Background()
		t0 := time.Now()
		g.RecordAt(ctx, t0, errA)
		g.RecordAt(ctx, t0.Add(time.Second), errB)
		if got := rs.take(); len(got) != 0 {
			t.Fatalf("reports before silencing: %+v; want none", got)
		}
		if _, ok := g.Report(); ok {
			t.Error("Report() while active: ok; want false")
		}
		silencedAt := t0.Add(2 * time.Second)
		g.RecordAt(ctx, silencedAt, errC)
		want := Report{Policy: "ledger", State: StateSilenced, Since: silencedAt, At: silencedAt, Cause: errC, Violations: []error{errA, errB, errC}}
		cmpErr := cmp.Comparer(func(a, b error) bool { return a == b })
		if got := rs.take(); !cmp.Equal(got, []Report{want}, cmpErr) {
			t.Errorf("reports at silencing:\n%s", cmp.Diff([]Report{want}, got, cmpErr))
		}
		if got, ok := g.Report(); !ok || !cmp.Equal(got, want, cmpErr) {
			t.Errorf("Report() = %+v, %v; want %+v, true", got, ok, want)
		}

		recoveredAt := silencedAt.Add(time.Minute)
		g.RecordAt(ctx, recoveredAt.Add(-time.Second), nil)
		g.RecordAt(ctx, recoveredAt, nil)
		want.State, want.At, want.Probes = StateActive, recoveredAt, 2
		if got := rs.take(); !cmp.Equal(got, []Report{want}, cmpErr) {
			t.Errorf("reports at recovery:\n%s", cmp.Diff([]Report{want}, got, cmpErr))
		}
		if _, ok := g.Report(); ok {
			t.Error("Report() after recovery: ok; want false")
		}
	})
}

// TestReportKeepsTheLastViolations: a report carries at most 8 violations,
// the last ones.
func TestReportKeepsTheLastViolations(t *testing.T) {
	var rs reports
	g := MustNew(Config[int]{Violations: 20, Window: time.Hour, OnReport: rs.add})
	errs := make([]error, 20)
	for i := range errs {
		errs[i] = errors.New("violation")
		g.Record(context.Background(), errs[i])
	}
	got := rs.take()
	if len(got) != 1 {
		t.Fatalf("got %d reports; want 1", len(got))
	}
	if v := got[0].Violations; len(v) != maxReportViolations || v[0] != errs[12] || v[7] != errs[19] {
		t.Errorf("violations %v; want the last 8", v)
	}
}

// TestAllowTrials: a silenced guard without a Probe refuses calls until
// ProbeInterval has passed, then admits one trial at a time; a trial that
// passes (RecoveryProbes 1) re-admits the component and is reported, and
// a failed one waits another interval. An admission's Done counts a
// violation while active, as Execute does.
func TestAllowTrials(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rs reports
		g := MustNew(Config[int]{Violations: 1, Window: time.Minute, ProbeInterval: time.Second, RecoveryProbes: 1, OnReport: rs.add})
		ctx := context.Background()
		a, err := g.Allow(ctx)
		if err != nil || a.Trial() {
			t.Fatalf("Allow while active = trial %v, %v; want a plain admission", a.Trial(), err)
		}
		a.Done(&InvariantError{Policy: "x", Err: errA})
		if g.State() != StateSilenced {
			t.Fatal("an admission's invariant violation did not silence the guard")
		}
		if _, err := g.Allow(ctx); !errors.Is(err, ErrSilenced) {
			t.Fatalf("Allow while silenced = %v; want ErrSilenced", err)
		}
		time.Sleep(time.Second)
		trial, err := g.Allow(ctx)
		if err != nil || !trial.Trial() {
			t.Fatalf("Allow after ProbeInterval = trial %v, %v; want a trial", trial.Trial(), err)
		}
		if _, err := g.Allow(ctx); !errors.Is(err, ErrSilenced) {
			t.Errorf("a second Allow during a trial = %v; want ErrSilenced", err)
		}
		trial.Done(errB)
		if _, err := g.Allow(ctx); !errors.Is(err, ErrSilenced) {
			t.Errorf("Allow right after a failed trial = %v; want ErrSilenced", err)
		}
		time.Sleep(time.Second)
		trial, err = g.Allow(ctx)
		if err != nil || !trial.Trial() {
			t.Fatalf("Allow an interval after the failed trial = %v, %v; want a trial", trial.Trial(), err)
		}
		trial.Done(nil)
		if g.State() != StateActive {
			t.Error("a passing trial did not re-admit the component")
		}
		got := rs.take()
		if len(got) != 2 || got[0].State != StateSilenced || got[1].State != StateActive || got[1].Probes != 1 {
			t.Errorf("reports %+v; want a silencing and a recovery after 1 probe", got)
		}
		var zero Admission[int]
		zero.Done(errA) // does nothing
	})
}
