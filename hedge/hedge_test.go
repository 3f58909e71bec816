package hedge

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/holdfast-dev/holdfast"
)

var (
	errFlaky = errors.New("flaky")
	errBad   = errors.New("bad request")
)

// step scripts one attempt: it answers val, err after took, unless its
// context is cancelled first.
type step struct {
	took time.Duration
	val  string
	err  error
}

// script is a hedged function whose attempts follow steps in start order. It
// records why each cancelled attempt was cancelled.
type script struct {
	steps   []step
	started atomic.Int32

	mu     sync.Mutex
	causes map[int]error // attempt index -> context.Cause when cancelled
}

func (s *script) fn(ctx context.Context) (string, error) {
	i := int(s.started.Add(1)) - 1
	st := s.steps[i]
	select {
	case <-time.After(st.took):
		return st.val, st.err
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.causes == nil {
			s.causes = map[int]error{}
		}
		s.causes[i] = context.Cause(ctx)
		return "", ctx.Err()
	}
}

// recorder collects events; the hedging loop emits from the caller's
// goroutine, but tests read after the call returns.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) OnEvent(e holdfast.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e.String())
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events
}

const ms = time.Millisecond

func TestHedging(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config
		steps       []step
		want        string
		wantErr     error
		wantElapsed time.Duration
		wantEvents  []string
		wantCauses  map[int]error // attempts cancelled, and why (checked after all attempts ended)
	}{
		{
			name:        "fast first attempt, no hedge",
			cfg:         Config{Delay: 50 * ms},
			steps:       []step{{took: 10 * ms, val: "a"}},
			want:        "a",
			wantElapsed: 10 * ms,
		},
		{
			name:        "answer exactly at the delay still hedges",
			cfg:         Config{Delay: 50 * ms},
			steps:       []step{{took: 50 * ms, val: "a"}, {took: 10 * ms, val: "b"}},
			want:        "a",
			wantElapsed: 50 * ms,
			wantEvents:  []string{"hedge: hedge attempt=2 delay=50ms"},
			wantCauses:  map[int]error{1: ErrLost},
		},
		{
			name:        "hedge wins, the slow attempt is cancelled",
			cfg:         Config{Delay: 50 * ms},
			steps:       []step{{took: time.Second, val: "a"}, {took: 20 * ms, val: "b"}},
			want:        "b",
			wantElapsed: 70 * ms,
			wantEvents:  []string{"hedge: hedge attempt=2 delay=50ms"},
			wantCauses:  map[int]error{0: ErrLost},
		},
		{
			name:        "first attempt still wins after hedging",
			cfg:         Config{Delay: 50 * ms},
			steps:       []step{{took: 60 * ms, val: "a"}, {took: 20 * ms, val: "b"}},
			want:        "a",
			wantElapsed: 60 * ms,
			wantEvents:  []string{"hedge: hedge attempt=2 delay=50ms"},
			wantCauses:  map[int]error{1: ErrLost},
		},
		{
			name:        "max_extra 2 hedges twice, one delay apart",
			cfg:         Config{Delay: 50 * ms, MaxExtra: 2},
			steps:       []step{{took: time.Second, val: "a"}, {took: time.Second, val: "b"}, {took: 10 * ms, val: "c"}},
			want:        "c",
			wantElapsed: 110 * ms,
			wantEvents:  []string{"hedge: hedge attempt=2 delay=50ms", "hedge: hedge attempt=3 delay=100ms"},
			wantCauses:  map[int]error{0: ErrLost, 1: ErrLost},
		},
		{
			name:        "no more than max_extra",
			cfg:         Config{Delay: 50 * ms, MaxExtra: 1},
			steps:       []step{{took: 300 * ms, val: "a"}, {took: 300 * ms, val: "b"}},
			want:        "a",
			wantElapsed: 300 * ms,
			wantEvents:  []string{"hedge: hedge attempt=2 delay=50ms"},
			wantCauses:  map[int]error{1: ErrLost},
		},
		{
			name:        "a failure hedges at once",
			cfg:         Config{Delay: 50 * ms, MaxExtra: 2},
			steps:       []step{{took: 10 * ms, err: errFlaky}, {took: 100 * ms, val: "b"}, {took: 20 * ms, val: "c"}},
			want:        "c",
			wantElapsed: 80 * ms, // b from 10ms, c from 60ms
			wantEvents:  []string{"hedge: hedge attempt=2 delay=10ms err=flaky", "hedge: hedge attempt=3 delay=60ms"},
			wantCauses:  map[int]error{1: ErrLost},
		},
		{
			name:        "a permanent failure ends the call",
			cfg:         Config{Delay: 50 * ms, MaxExtra: 2},
			steps:       []step{{took: time.Second, val: "a"}, {took: 10 * ms, err: holdfast.Permanent(errBad)}},
			wantErr:     errBad,
			wantElapsed: 60 * ms,
			wantEvents:  []string{"hedge: hedge attempt=2 delay=50ms"},
			wantCauses:  map[int]error{0: ErrLost},
		},
		{
			name:        "a permanent first failure starts no hedge",
			cfg:         Config{Delay: 50 * ms},
			steps:       []step{{took: 10 * ms, err: holdfast.Permanent(errBad)}},
			wantErr:     errBad,
			wantElapsed: 10 * ms,
		},
		{
			name:        "every attempt fails: the last error",
			cfg:         Config{Delay: 50 * ms},
			steps:       []step{{took: 80 * ms, err: errFlaky}, {took: 20 * ms, err: errBad}},
			wantErr:     errFlaky,
			wantElapsed: 80 * ms,
			wantEvents:  []string{"hedge: hedge attempt=2 delay=50ms"},
		},
		{
			name:        "failures use up max_extra",
			cfg:         Config{Delay: 50 * ms, MaxExtra: 1},
			steps:       []step{{took: 10 * ms, err: errFlaky}, {took: 10 * ms, err: errBad}},
			wantErr:     errBad,
			wantElapsed: 20 * ms,
			wantEvents:  []string{"hedge: hedge attempt=2 delay=10ms err=flaky"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				tt.cfg.Listener = rec
				tt.cfg.BudgetPercent = 100 * float64(max(tt.cfg.MaxExtra, 1))
				h := MustNew(tt.cfg)
				s := &script{steps: tt.steps}
				start := time.Now()
				got, err := Get(context.Background(), h, s.fn)
				if elapsed := time.Since(start); elapsed != tt.wantElapsed {
					t.Errorf("returned after %v; want %v", elapsed, tt.wantElapsed)
				}
				if got != tt.want || !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Errorf("Get = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
				}
				if diff := cmp.Diff(tt.wantEvents, rec.get()); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
				synctest.Wait() // let the losers see their cancellation
				s.mu.Lock()
				defer s.mu.Unlock()
				if diff := cmp.Diff(tt.wantCauses, s.causes, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
					t.Errorf("cancelled attempts (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestDoesNotWaitForLosers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := MustNew(Config{Delay: 50 * ms})
		release := make(chan struct{})
		var n atomic.Int32
		start := time.Now()
		err := h.Execute(context.Background(), func(ctx context.Context) error {
			if n.Add(1) == 1 {
				<-release // ignores its context: a loser that will not stop
				return nil
			}
			time.Sleep(5 * ms)
			return nil
		})
		if err != nil || time.Since(start) != 55*ms {
			t.Errorf("Execute = %v after %v; want nil after 55ms", err, time.Since(start))
		}
		close(release) // the bubble fails on exit if this goroutine leaked
	})
}

func TestContextDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := MustNew(Config{Delay: 50 * ms})
		ctx, cancel := context.WithTimeout(context.Background(), 80*ms)
		defer cancel()
		release := make(chan struct{})
		start := time.Now()
		err := h.Execute(ctx, func(ctx context.Context) error {
			<-release // neither attempt answers in time, nor honours ctx
			return nil
		})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 80*ms {
			t.Errorf("Execute = %v after %v; want deadline exceeded after 80ms", err, time.Since(start))
		}
		close(release)
	})
}

func TestCancelledCallStartsNoHedge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		h := MustNew(Config{Delay: 50 * ms, Listener: rec})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*ms, cancel)
		err := h.Execute(ctx, func(ctx context.Context) error {
			<-ctx.Done() // fails, not permanently, because the caller gave up
			return ctx.Err()
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Execute = %v; want context.Canceled", err)
		}
		if len(rec.get()) != 0 {
			t.Errorf("events = %v; want none", rec.get())
		}
	})
}

func TestBudgetLimitsHedging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		// 50% and a burst of 1: the budget starts with one extra attempt and
		// earns one every two calls.
		h := MustNew(Config{Delay: 10 * ms, BudgetPercent: 50, BudgetBurst: 1, Listener: rec})
		slow := func(ctx context.Context) error {
			select {
			case <-time.After(20 * ms):
			case <-ctx.Done():
			}
			return nil
		}
		for range 4 {
			h.Execute(context.Background(), slow)
		}
		hedged := "hedge: hedge attempt=2 delay=10ms"
		denied := "hedge: rejected attempt=2 reason=budget_exhausted"
		if diff := cmp.Diff([]string{hedged, denied, hedged, denied}, rec.get()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

func TestBudget(t *testing.T) {
	tests := []struct {
		name    string
		percent float64
		burst   int
		ops     string // d: deposit, s: spend
		want    string // result of each spend, t or f
		balance float64
	}{
		{name: "starts full", percent: 10, burst: 2, ops: "sss", want: "ttf", balance: 0},
		{name: "ten deposits at 10% buy one", percent: 10, burst: 1, ops: "s" + "ddddddddd" + "s" + "d" + "s", want: "tft", balance: 0},
		{name: "capped at burst", percent: 100, burst: 1, ops: "dddd", balance: 1},
		{name: "fractions add up", percent: 12.5, burst: 3, ops: "ssdddd", want: "tt", balance: 1.5},
		{name: "several per call", percent: 300, burst: 5, ops: "sssssd" + "ssss", want: "ttttttttf", balance: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBudget(tt.percent, tt.burst)
			got := ""
			for _, op := range tt.ops {
				if op == 'd' {
					b.deposit()
				} else if b.spend() {
					got += "t"
				} else {
					got += "f"
				}
			}
			if got != tt.want {
				t.Errorf("spends = %q; want %q", got, tt.want)
			}
			if b.balance() != tt.balance {
				t.Errorf("balance = %v; want %v", b.balance(), tt.balance)
			}
		})
	}
}

func TestDirectCallWhenBudgetIsEmpty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		h := MustNew(Config{Delay: 10 * ms, BudgetPercent: 1, BudgetBurst: 1, Listener: rec})
		h.budget.spend() // empty the budget
		if got := h.Budget(); got != 0 {
			t.Fatalf("Budget() = %v; want 0", got)
		}
		// A direct call runs on the caller's goroutine, so a panic reaches it.
		func() {
			defer func() {
				if recover() != "boom" {
					t.Error("panic did not reach the caller")
				}
			}()
			h.Execute(context.Background(), func(context.Context) error { panic("boom") })
		}()
		if len(rec.get()) != 0 {
			t.Errorf("events = %v; want none", rec.get())
		}
		// A direct call that runs past the delay reports the missed hedge.
		h.Execute(context.Background(), func(context.Context) error { time.Sleep(10 * ms); return nil })
		if diff := cmp.Diff([]string{"hedge: rejected attempt=2 reason=budget_exhausted"}, rec.get()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

func TestPercentileDelay(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		latencies []time.Duration // successful calls, in order
		want      time.Duration
	}{
		{name: "fixed until min_samples", cfg: Config{Delay: 70 * ms, Percentile: 0.5, MinSamples: 3},
			latencies: []time.Duration{10 * ms, 20 * ms}, want: 70 * ms},
		{name: "median once min_samples", cfg: Config{Delay: 70 * ms, Percentile: 0.5, MinSamples: 3},
			latencies: []time.Duration{30 * ms, 10 * ms, 20 * ms}, want: 20 * ms},
		{name: "p90 of ten", cfg: Config{Percentile: 0.9, MinSamples: 10},
			latencies: []time.Duration{1 * ms, 2 * ms, 3 * ms, 4 * ms, 5 * ms, 6 * ms, 7 * ms, 8 * ms, 9 * ms, 40 * ms}, want: 9 * ms},
		{name: "only the latest sample_size count", cfg: Config{Percentile: 1, SampleSize: 2, MinSamples: 1},
			latencies: []time.Duration{40 * ms, 10 * ms, 20 * ms}, want: 20 * ms},
		{name: "min_delay floor", cfg: Config{Percentile: 0.5, MinSamples: 1, MinDelay: 15 * ms},
			latencies: []time.Duration{5 * ms}, want: 15 * ms},
		{name: "max_delay ceiling", cfg: Config{Percentile: 0.5, MinSamples: 1, MaxDelay: 30 * ms},
			latencies: []time.Duration{45 * ms}, want: 30 * ms},
		{name: "no percentile: fixed delay", cfg: Config{Delay: 25 * ms},
			latencies: []time.Duration{1 * ms, 1 * ms}, want: 25 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := MustNew(tt.cfg)
				for _, d := range tt.latencies {
					// Below every delay in the table: no hedge muddies the sample.
					h.Execute(context.Background(), func(context.Context) error { time.Sleep(d); return nil })
				}
				if got := h.Delay(); got != tt.want {
					t.Errorf("Delay() = %v; want %v", got, tt.want)
				}
			})
		})
	}
}

func TestGetConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := MustNew(Config{Delay: 10 * ms, MaxExtra: 2, BudgetPercent: 200, Percentile: 0.9, MinSamples: 5})
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				var n atomic.Int32
				got, err := Get(context.Background(), h, func(ctx context.Context) (int, error) {
					k := n.Add(1)
					select {
					case <-time.After(time.Duration(i%4*10+int(k)) * ms):
						return int(k), nil
					case <-ctx.Done():
						return 0, ctx.Err()
					}
				})
				if err != nil || got < 1 || got > 3 {
					t.Errorf("Get = %d, %v; want an attempt number in [1, 3]", got, err)
				}
			})
		}
		wg.Wait()
	})
}

func TestNameKind(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{{Config{}, "hedge"}, {Config{Name: "reads"}, "reads"}}
	for _, tt := range tests {
		h := MustNew(tt.cfg)
		if h.Name() != tt.want || h.Kind() != holdfast.KindHedge {
			t.Errorf("Name, Kind = %q, %v; want %q, hedge", h.Name(), h.Kind(), tt.want)
		}
	}
}
