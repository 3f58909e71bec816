package hedge

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast"
)

var validateTests = []struct {
	name    string
	cfg     Config
	wantErr string
}{
	{name: "zero is valid", cfg: Config{}},
	{name: "issue example", cfg: Config{Delay: 50 * ms, MaxExtra: 1}},
	{name: "percentile", cfg: Config{Percentile: 0.95, MinSamples: 50, SampleSize: 500, MinDelay: ms, MaxDelay: time.Second}},
	{name: "unlimited budget", cfg: Config{MaxExtra: 3, BudgetPercent: 300, BudgetBurst: 1}},
	{name: "small sample lowers min_samples", cfg: Config{SampleSize: 5}},
	{name: "negative delay", cfg: Config{Delay: -ms}, wantErr: "hedge.delay: must not be negative, got -1ms"},
	{name: "max_extra negative", cfg: Config{MaxExtra: -1}, wantErr: "hedge.max_extra: must be in [1, 10], got -1"},
	{name: "max_extra too big", cfg: Config{MaxExtra: 11}, wantErr: "hedge.max_extra: must be in [1, 10], got 11"},
	{name: "percentile above 1", cfg: Config{Percentile: 1.5}, wantErr: "hedge.percentile: must be in (0, 1], got 1.5"},
	{name: "percentile negative", cfg: Config{Percentile: -0.5}, wantErr: "hedge.percentile: must be in (0, 1], got -0.5"},
	{name: "percentile NaN", cfg: Config{Percentile: math.NaN()}, wantErr: "hedge.percentile: must be in (0, 1], got NaN"},
	{name: "sample_size too big", cfg: Config{SampleSize: 10001}, wantErr: "hedge.sample_size: must be in [1, 10000], got 10001"},
	{name: "min_samples above sample_size", cfg: Config{MinSamples: 30, SampleSize: 20}, wantErr: "hedge.min_samples: must be in [1, sample_size=20], got 30"},
	{name: "min_samples negative", cfg: Config{MinSamples: -1}, wantErr: "hedge.min_samples: must be in [1, sample_size=200], got -1"},
	{name: "min_delay negative", cfg: Config{MinDelay: -ms}, wantErr: "hedge.min_delay: must not be negative, got -1ms"},
	{name: "max_delay negative", cfg: Config{MaxDelay: -ms}, wantErr: "hedge.max_delay: must not be negative, got -1ms"},
	{name: "min above max", cfg: Config{MinDelay: 2 * ms, MaxDelay: ms}, wantErr: "hedge.min_delay: must not exceed max_delay=1ms, got 2ms"},
	{name: "budget above 100 x max_extra", cfg: Config{BudgetPercent: 101}, wantErr: "hedge.budget_percent: must be in (0, 100] (100 × max_extra), got 101"},
	{name: "budget negative", cfg: Config{BudgetPercent: -1}, wantErr: "hedge.budget_percent: must be in (0, 100] (100 × max_extra), got -1"},
	{name: "budget NaN", cfg: Config{BudgetPercent: math.NaN()}, wantErr: "hedge.budget_percent: must be in (0, 100] (100 × max_extra), got NaN"},
	{name: "budget with bad max_extra", cfg: Config{MaxExtra: -2, BudgetPercent: -1},
		wantErr: "hedge.max_extra: must be in [1, 10], got -2\nhedge.budget_percent: must be positive, got -1"},
	{name: "burst negative", cfg: Config{BudgetBurst: -1}, wantErr: "hedge.budget_burst: must be in [1, 1000000], got -1"},
}

func TestValidate(t *testing.T) {
	for _, tt := range validateTests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := tt.cfg.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("Validate() = %q; want %q", got, tt.wantErr)
			}
			if _, err := New(tt.cfg); (err == nil) != (tt.wantErr == "") {
				t.Errorf("New error = %v; want error: %v", err, tt.wantErr != "")
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	got := MustNew(Config{}).cfg
	want := Config{Name: "hedge", Delay: 50 * ms, MaxExtra: 1, MinSamples: 20, SampleSize: 200, BudgetPercent: 10, BudgetBurst: 10}
	if got != want {
		t.Errorf("defaults = %+v; want %+v", got, want)
	}
	if got := MustNew(Config{SampleSize: 5}).cfg.MinSamples; got != 5 {
		t.Errorf("MinSamples with SampleSize 5 = %d; want 5", got)
	}
}

func FuzzValidate(f *testing.F) {
	for _, tt := range validateTests {
		c := tt.cfg
		f.Add(int64(c.Delay), c.MaxExtra, c.Percentile, c.MinSamples, c.SampleSize, int64(c.MinDelay), int64(c.MaxDelay), c.BudgetPercent, c.BudgetBurst)
	}
	f.Fuzz(func(t *testing.T, delay int64, maxExtra int, p float64, minSamples, sampleSize int, minDelay, maxDelay int64, percent float64, burst int) {
		c := Config{Delay: time.Duration(delay), MaxExtra: maxExtra, Percentile: p, MinSamples: minSamples, SampleSize: sampleSize,
			MinDelay: time.Duration(minDelay), MaxDelay: time.Duration(maxDelay), BudgetPercent: percent, BudgetBurst: burst}
		err := c.Validate()
		h, nerr := New(c)
		if (err == nil) != (nerr == nil) {
			t.Fatalf("Validate = %v but New = %v", err, nerr)
		}
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "hedge.") {
					t.Errorf("error line %q does not start with hedge.", line)
				}
			}
			if _, ok := errors.AsType[*holdfast.ConfigError](err); !ok {
				t.Errorf("Validate error %v holds no *holdfast.ConfigError", err)
			}
			return
		}
		// A valid config yields a working, bounded hedger.
		d := h.cfg
		if d.Delay < 0 || d.MaxExtra < 1 || d.MaxExtra > maxMaxExtra || d.SampleSize < 1 || d.MinSamples > d.SampleSize ||
			!(d.BudgetPercent > 0) || d.BudgetBurst < 1 || d.Percentile < 0 || d.Percentile > 1 {
			t.Fatalf("accepted out-of-range config %+v", d)
		}
		if got := h.Delay(); got < 0 {
			t.Fatalf("Delay() = %v; want >= 0", got)
		}
	})
}
