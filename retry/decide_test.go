package retry

import (
	"errors"
	"testing"
	"time"
)

// DecideTable is the decision after a failed attempt, at explicit times: the
// table [Retry.Execute] and the proxy share through [Retry.DecideAt].
var decideTable = []struct {
	name       string
	cfg        Config
	n          int
	prev       time.Duration
	err        error
	deadline   time.Duration // from now; 0 for none
	budget     *BudgetConfig // with one request recorded first
	wantWait   time.Duration
	wantFinal  error // nil: retry after wantWait
	wantCharge int64 // retries the budget counted
}{
	{name: "first retry waits the jittered backoff", cfg: Config{Rand: half}, n: 1, err: errBoom, wantWait: 12500 * time.Microsecond},
	{name: "second retry doubles the cap", cfg: Config{Rand: half}, n: 2, err: errBoom, wantWait: 25 * time.Millisecond},
	{name: "attempts spent", cfg: Config{Attempts: 2}, n: 2, err: errBoom, wantFinal: ErrAttemptsExhausted},
	{name: "not retryable", cfg: Config{RetryIf: func(error) bool { return false }}, n: 1, err: errBoom, wantFinal: errBoom},
	{name: "Retry-After within max_retry_after is the wait", n: 1, err: hintError(2 * time.Second), wantWait: 2 * time.Second},
	{name: "Retry-After above max_retry_after gives up without charging the budget", cfg: Config{MaxRetryAfter: 30 * time.Second},
		n: 1, err: hintError(120 * time.Second), budget: &BudgetConfig{}, wantFinal: hintError(120 * time.Second), wantCharge: 0},
	{name: "wait reaching the deadline exactly gives up", cfg: Config{Backoff: BackoffConfig{Jitter: JitterNone}},
		n: 1, err: errBoom, deadline: 25 * time.Millisecond, wantFinal: errBoom},
	{name: "wait just before the deadline retries", cfg: Config{Backoff: BackoffConfig{Jitter: JitterNone}},
		n: 1, err: errBoom, deadline: 25*time.Millisecond + 1, wantWait: 25 * time.Millisecond},
	{name: "a deadline refusal charges no budget", cfg: Config{Backoff: BackoffConfig{Jitter: JitterNone}},
		n: 1, err: errBoom, deadline: time.Millisecond, budget: &BudgetConfig{}, wantFinal: errBoom, wantCharge: 0},
	{name: "a granted retry charges the budget once", cfg: Config{Rand: half}, n: 1, err: errBoom,
		budget: &BudgetConfig{}, wantWait: 12500 * time.Microsecond, wantCharge: 1},
	{name: "an empty budget refuses", n: 1, err: errBoom,
		budget: &BudgetConfig{Ratio: 0.01, MinPerSecond: 0.01, Window: time.Second}, wantFinal: ErrBudgetExhausted},
}

func TestDecideAt(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range decideTable {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if tt.budget != nil {
				cfg.Budget = MustNewBudget(*tt.budget)
				cfg.Budget.RecordRequestAt(now)
			}
			r := MustNew(cfg)
			var deadline time.Time
			if tt.deadline > 0 {
				deadline = now.Add(tt.deadline)
			}
			wait, final := r.DecideAt(now, deadline, tt.n, tt.prev, tt.err)
			switch {
			case tt.wantFinal == nil && final != nil:
				t.Fatalf("final %v; want a retry after %v", final, tt.wantWait)
			case tt.wantFinal != nil && !errors.Is(final, tt.wantFinal):
				t.Fatalf("final %v; want %v", final, tt.wantFinal)
			case tt.wantFinal == nil && wait != tt.wantWait:
				t.Fatalf("wait %v; want %v", wait, tt.wantWait)
			}
			if tt.budget != nil {
				if got := cfg.Budget.StatsAt(now).Retries; got != tt.wantCharge {
					t.Errorf("budget counted %d retries; want %d", got, tt.wantCharge)
				}
			}
		})
	}
}
