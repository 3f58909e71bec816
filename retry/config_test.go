package retry

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/holdfast-dev/holdfast"
)

const ms = time.Millisecond

var validateTests = []struct {
	name string
	cfg  Config
	want []string // error messages, one per invalid field; none when valid
}{
	{name: "zero", cfg: Config{}},
	{name: "every field", cfg: Config{
		Name: "r", Attempts: 5, PerTryTimeout: time.Second, MaxRetryAfter: time.Minute,
		Backoff:      BackoffConfig{Base: 10 * ms, Max: 5 * time.Second, Multiplier: 1.5, Jitter: JitterDecorrelated},
		BudgetConfig: &BudgetConfig{Ratio: 1, MinPerSecond: 0.5, Window: time.Second},
	}},
	{name: "attempts 1", cfg: Config{Attempts: 1}},
	{name: "jitter none", cfg: Config{Backoff: BackoffConfig{Jitter: JitterNone}}},
	{name: "base above default max", cfg: Config{Backoff: BackoffConfig{Base: 2 * time.Second}}},
	{name: "max equals base", cfg: Config{Backoff: BackoffConfig{Base: 50 * ms, Max: 50 * ms}}},
	{name: "multiplier 1", cfg: Config{Backoff: BackoffConfig{Multiplier: 1}}},
	{name: "zero budget config", cfg: Config{BudgetConfig: &BudgetConfig{}}},
	{name: "shared budget", cfg: Config{Budget: &Budget{}}},
	{name: "budget window 1ms", cfg: Config{BudgetConfig: &BudgetConfig{Window: ms}}},
	{
		name: "negative attempts", cfg: Config{Attempts: -1},
		want: []string{"retry.attempts: must not be negative, got -1"},
	},
	{
		name: "negative per_try_timeout", cfg: Config{PerTryTimeout: -time.Second},
		want: []string{"retry.per_try_timeout: must not be negative, got -1s"},
	},
	{
		name: "negative max_retry_after", cfg: Config{MaxRetryAfter: -1},
		want: []string{"retry.max_retry_after: must not be negative, got -1ns"},
	},
	{
		name: "negative base", cfg: Config{Backoff: BackoffConfig{Base: -ms}},
		want: []string{"retry.backoff.base: must not be negative, got -1ms"},
	},
	{
		name: "negative max", cfg: Config{Backoff: BackoffConfig{Max: -ms}},
		want: []string{"retry.backoff.max: must not be negative, got -1ms"},
	},
	{
		name: "max below base", cfg: Config{Backoff: BackoffConfig{Base: 50 * ms, Max: 10 * ms}},
		want: []string{"retry.backoff.max: must not be less than backoff.base (50ms), got 10ms"},
	},
	{
		name: "max below default base", cfg: Config{Backoff: BackoffConfig{Max: 10 * ms}},
		want: []string{"retry.backoff.max: must not be less than backoff.base (25ms), got 10ms"},
	},
	{
		name: "multiplier below 1", cfg: Config{Backoff: BackoffConfig{Multiplier: 0.5}},
		want: []string{"retry.backoff.multiplier: must be a finite number of at least 1, got 0.5"},
	},
	{
		name: "multiplier NaN", cfg: Config{Backoff: BackoffConfig{Multiplier: math.NaN()}},
		want: []string{"retry.backoff.multiplier: must be a finite number of at least 1, got NaN"},
	},
	{
		name: "multiplier Inf", cfg: Config{Backoff: BackoffConfig{Multiplier: math.Inf(1)}},
		want: []string{"retry.backoff.multiplier: must be a finite number of at least 1, got +Inf"},
	},
	{
		name: "unknown jitter", cfg: Config{Backoff: BackoffConfig{Jitter: "equal"}},
		want: []string{`retry.backoff.jitter: must be one of full, decorrelated or none, got "equal"`},
	},
	{
		name: "ratio above 1", cfg: Config{BudgetConfig: &BudgetConfig{Ratio: 1.5}},
		want: []string{"retry.budget.ratio: must be in (0, 1], got 1.5"},
	},
	{
		name: "negative ratio", cfg: Config{BudgetConfig: &BudgetConfig{Ratio: -0.1}},
		want: []string{"retry.budget.ratio: must be in (0, 1], got -0.1"},
	},
	{
		name: "ratio NaN", cfg: Config{BudgetConfig: &BudgetConfig{Ratio: math.NaN()}},
		want: []string{"retry.budget.ratio: must be in (0, 1], got NaN"},
	},
	{
		name: "negative min_per_second", cfg: Config{BudgetConfig: &BudgetConfig{MinPerSecond: -1}},
		want: []string{"retry.budget.min_per_second: must be a finite number of at least 0, got -1"},
	},
	{
		name: "min_per_second Inf", cfg: Config{BudgetConfig: &BudgetConfig{MinPerSecond: math.Inf(1)}},
		want: []string{"retry.budget.min_per_second: must be a finite number of at least 0, got +Inf"},
	},
	{
		name: "min_per_second NaN", cfg: Config{BudgetConfig: &BudgetConfig{MinPerSecond: math.NaN()}},
		want: []string{"retry.budget.min_per_second: must be a finite number of at least 0, got NaN"},
	},
	{
		name: "negative window", cfg: Config{BudgetConfig: &BudgetConfig{Window: -time.Second}},
		want: []string{"retry.budget.window: must not be negative, got -1s"},
	},
	{
		name: "tiny window", cfg: Config{BudgetConfig: &BudgetConfig{Window: 10 * time.Microsecond}},
		want: []string{"retry.budget.window: must be at least 1ms, got 10µs"},
	},
	{
		name: "both budgets", cfg: Config{Budget: &Budget{}, BudgetConfig: &BudgetConfig{}},
		want: []string{"retry.budget: set either a shared Budget or a budget config, not both"},
	},
	{
		name: "several", cfg: Config{Attempts: -2, Backoff: BackoffConfig{Jitter: "x"}, BudgetConfig: &BudgetConfig{Ratio: 2, Window: -1}},
		want: []string{
			"retry.attempts: must not be negative, got -2",
			`retry.backoff.jitter: must be one of full, decorrelated or none, got "x"`,
			"retry.budget.ratio: must be in (0, 1], got 2",
			"retry.budget.window: must not be negative, got -1ns",
		},
	},
}

// configErrors returns the messages of the ConfigErrors joined in err, and
// fails the test if err holds anything else.
func configErrors(t testing.TB, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var msgs []string
	for _, e := range errs {
		var ce *holdfast.ConfigError
		if !errors.As(e, &ce) {
			t.Fatalf("error %q (%T) is not a *holdfast.ConfigError", e, e)
		}
		if ce.Policy != "retry" || ce.Key == "" {
			t.Errorf("ConfigError{Policy: %q, Key: %q}; want policy retry and a key", ce.Policy, ce.Key)
		}
		msgs = append(msgs, ce.Error())
	}
	return msgs
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range validateTests {
		t.Run(tt.name, func(t *testing.T) {
			got := configErrors(t, tt.cfg.Validate())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate() errors (-want +got):\n%s", diff)
			}
			r, err := New(tt.cfg)
			if diff := cmp.Diff(tt.want, configErrors(t, err)); diff != "" {
				t.Errorf("New() errors (-want +got):\n%s", diff)
			}
			if (r == nil) == (len(tt.want) == 0) {
				t.Errorf("New() = %v, %v; want a Retry exactly when the config is valid", r, err)
			}
		})
	}
}

func TestBudgetConfigValidate(t *testing.T) {
	for _, tt := range validateTests {
		if tt.cfg.BudgetConfig == nil || tt.cfg.Budget != nil {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			for _, m := range tt.want {
				if strings.HasPrefix(m, "retry.budget.") {
					want = append(want, m)
				}
			}
			err := tt.cfg.BudgetConfig.Validate()
			if diff := cmp.Diff(want, configErrors(t, err)); diff != "" {
				t.Errorf("Validate() errors (-want +got):\n%s", diff)
			}
			if _, err := NewBudget(*tt.cfg.BudgetConfig); (err == nil) != (len(want) == 0) {
				t.Errorf("NewBudget() error = %v; want an error exactly when the config is invalid", err)
			}
		})
	}
}

func TestMustNewPanicsOnInvalidConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    func()
	}{
		{"MustNew", func() { MustNew(Config{Attempts: -1}) }},
		{"MustNewBudget", func() { MustNewBudget(BudgetConfig{Ratio: 3}) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				err, _ := recover().(error)
				var ce *holdfast.ConfigError
				if !errors.As(err, &ce) {
					t.Errorf("%s panicked with %v; want a *holdfast.ConfigError", tt.name, err)
				}
			}()
			tt.f()
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	r := MustNew(Config{BudgetConfig: &BudgetConfig{}})
	got := r.Config()
	if got.Name != "retry" || got.Attempts != 3 || got.MaxRetryAfter != 30*time.Second || got.PerTryTimeout != 0 {
		t.Errorf("Config() = name %q attempts %d max_retry_after %s per_try_timeout %s; want retry 3 30s 0s",
			got.Name, got.Attempts, got.MaxRetryAfter, got.PerTryTimeout)
	}
	if want := (BackoffConfig{Base: 25 * ms, Max: time.Second, Multiplier: 2, Jitter: JitterFull}); got.Backoff != want {
		t.Errorf("Config().Backoff = %+v; want %+v", got.Backoff, want)
	}
	if got.Budget == nil || got.Budget != r.Budget() || got.BudgetConfig != nil {
		t.Errorf("Config() Budget = %p, BudgetConfig = %v; want Budget() (%p) and nil", got.Budget, got.BudgetConfig, r.Budget())
	}
	if want := (BudgetConfig{Ratio: 0.2, MinPerSecond: 10, Window: 10 * time.Second}); r.Budget().Config() != want {
		t.Errorf("Budget().Config() = %+v; want %+v", r.Budget().Config(), want)
	}
	if r.Name() != "retry" || r.Kind() != holdfast.KindRetry {
		t.Errorf("Name(), Kind() = %q, %v; want retry, retry", r.Name(), r.Kind())
	}
	if b := MustNew(Config{}).Budget(); b != nil {
		t.Errorf("Budget() without a budget config = %p; want nil", b)
	}
	if got := MustNew(Config{Backoff: BackoffConfig{Base: 3 * time.Second}}).Config().Backoff.Max; got != 3*time.Second {
		t.Errorf("default Backoff.Max with Base 3s = %s; want 3s", got)
	}
}

// FuzzConfigValidate checks that Validate never panics, that it reports only
// ConfigErrors, and that every config it accepts builds a Retry whose
// backoff stays within its bounds.
func FuzzConfigValidate(f *testing.F) {
	for _, tt := range validateTests {
		c, b := tt.cfg, tt.cfg.BudgetConfig
		if b == nil {
			b = &BudgetConfig{}
		}
		f.Add(c.Attempts, int64(c.PerTryTimeout), int64(c.MaxRetryAfter), int64(c.Backoff.Base), int64(c.Backoff.Max),
			c.Backoff.Multiplier, string(c.Backoff.Jitter), c.BudgetConfig != nil, b.Ratio, b.MinPerSecond, int64(b.Window))
	}
	f.Fuzz(func(t *testing.T, attempts int, perTry, maxRA, base, maxB int64, mult float64, jitter string,
		hasBudget bool, ratio, minPS float64, window int64) {
		c := Config{
			Attempts: attempts, PerTryTimeout: time.Duration(perTry), MaxRetryAfter: time.Duration(maxRA),
			Backoff: BackoffConfig{Base: time.Duration(base), Max: time.Duration(maxB), Multiplier: mult, Jitter: Jitter(jitter)},
		}
		if hasBudget {
			c.BudgetConfig = &BudgetConfig{Ratio: ratio, MinPerSecond: minPS, Window: time.Duration(window)}
		}
		err := c.Validate()
		msgs := configErrors(t, err)
		r, nerr := New(c)
		if got := configErrors(t, nerr); !cmp.Equal(msgs, got) {
			t.Fatalf("New() errors %q; Validate() errors %q", got, msgs)
		}
		if err != nil {
			return
		}
		d := r.Config()
		if d.Attempts < 1 || d.Backoff.Base <= 0 || d.Backoff.Max < d.Backoff.Base || d.MaxRetryAfter <= 0 {
			t.Fatalf("valid config %+v defaults to %+v", c, d)
		}
		if hasBudget {
			bc := r.Budget().Config()
			if !(bc.Ratio > 0 && bc.Ratio <= 1) || bc.MinPerSecond <= 0 || bc.Window < ms {
				t.Fatalf("valid budget config %+v defaults to %+v", *c.BudgetConfig, bc)
			}
		}
		for _, rnd := range []float64{0, 0.5, 0.999999} {
			for _, n := range []int{1, 2, 64, math.MaxInt} {
				w := d.Backoff.Delay(n, d.Backoff.Max, rnd)
				if w < 0 || w > d.Backoff.Max {
					t.Fatalf("Delay(%d, %s, %g) = %s; want within [0, %s]", n, d.Backoff.Max, rnd, w, d.Backoff.Max)
				}
			}
		}
	})
}
