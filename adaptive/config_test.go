package adaptive

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast"
)

var configTests = []struct {
	name string
	cfg  Config
	want []string // the errors' texts, in order; nil for a valid config
}{
	{name: "zero value", cfg: Config{}},
	{name: "design example", cfg: Config{Min: 5, Max: 1000}},
	{name: "vegas", cfg: Config{Algorithm: Vegas}},
	{name: "aimd", cfg: Config{Algorithm: AIMD, Backoff: 0.5}},
	{name: "initial defaults into small max", cfg: Config{Min: 1, Max: 10}},
	{name: "initial defaults into large min", cfg: Config{Min: 50}},
	{name: "fixed limit", cfg: Config{Min: 7, Max: 7, Initial: 7}},
	{name: "everything set", cfg: Config{Algorithm: Gradient, Min: 2, Max: 200, Initial: 30, Window: time.Second,
		MinSamples: 20, Tolerance: 0.5, Backoff: 0.8, ProbeInterval: time.Hour, ProbeSamples: 10000}},
	{name: "unknown algorithm", cfg: Config{Algorithm: "bbr"},
		want: []string{`concurrency.adaptive.algorithm: must be gradient, vegas or aimd, got "bbr"`}},
	{name: "algorithm is case sensitive", cfg: Config{Algorithm: "Vegas"},
		want: []string{`concurrency.adaptive.algorithm: must be gradient, vegas or aimd, got "Vegas"`}},
	{name: "negative min", cfg: Config{Min: -1},
		want: []string{"concurrency.adaptive.min: must be at least 1, got -1"}},
	{name: "negative max", cfg: Config{Max: -3},
		want: []string{"concurrency.adaptive.max: must be at least 1, got -3"}},
	{name: "min over max", cfg: Config{Min: 50, Max: 10},
		want: []string{"concurrency.adaptive.max: must be at least min (50), got 10"}},
	{name: "min over default max", cfg: Config{Min: 5000},
		want: []string{"concurrency.adaptive.max: must be at least min (5000), got 1000"}},
	{name: "initial under min", cfg: Config{Min: 10, Initial: 3},
		want: []string{"concurrency.adaptive.initial: must be in [min, max] = [10, 1000], got 3"}},
	{name: "initial over max", cfg: Config{Max: 100, Initial: 101},
		want: []string{"concurrency.adaptive.initial: must be in [min, max] = [5, 100], got 101"}},
	{name: "negative initial", cfg: Config{Initial: -1},
		want: []string{"concurrency.adaptive.initial: must be in [min, max] = [5, 1000], got -1"}},
	{name: "negative window", cfg: Config{Window: -time.Millisecond},
		want: []string{"concurrency.adaptive.window: must not be negative, got -1ms"}},
	{name: "negative min samples", cfg: Config{MinSamples: -1},
		want: []string{"concurrency.adaptive.min_samples: must be at least 1, got -1"}},
	{name: "negative tolerance", cfg: Config{Tolerance: -0.1},
		want: []string{"concurrency.adaptive.tolerance: must be a positive fraction, got -0.1"}},
	{name: "NaN tolerance", cfg: Config{Tolerance: math.NaN()},
		want: []string{"concurrency.adaptive.tolerance: must be a positive fraction, got NaN"}},
	{name: "infinite tolerance", cfg: Config{Tolerance: math.Inf(1)},
		want: []string{"concurrency.adaptive.tolerance: must be a positive fraction, got +Inf"}},
	{name: "backoff of one", cfg: Config{Backoff: 1},
		want: []string{"concurrency.adaptive.backoff: must be in (0, 1), got 1"}},
	{name: "negative backoff", cfg: Config{Backoff: -0.5},
		want: []string{"concurrency.adaptive.backoff: must be in (0, 1), got -0.5"}},
	{name: "NaN backoff", cfg: Config{Backoff: math.NaN()},
		want: []string{"concurrency.adaptive.backoff: must be in (0, 1), got NaN"}},
	{name: "negative probe interval", cfg: Config{ProbeInterval: -time.Second},
		want: []string{"concurrency.adaptive.probe_interval: must not be negative, got -1s"}},
	{name: "too many probe samples", cfg: Config{ProbeSamples: 10001},
		want: []string{"concurrency.adaptive.probe_samples: must be in [1, 10000], got 10001"}},
	{name: "negative probe samples", cfg: Config{ProbeSamples: -1},
		want: []string{"concurrency.adaptive.probe_samples: must be in [1, 10000], got -1"}},
	{name: "several wrong", cfg: Config{Algorithm: "x", Min: -1, Backoff: 2, ProbeSamples: -2},
		want: []string{
			`concurrency.adaptive.algorithm: must be gradient, vegas or aimd, got "x"`,
			"concurrency.adaptive.min: must be at least 1, got -1",
			"concurrency.adaptive.backoff: must be in (0, 1), got 2",
			"concurrency.adaptive.probe_samples: must be in [1, 10000], got -2",
		}},
}

// configErrors splits what Validate returned into its ConfigErrors, failing
// the test for anything else.
func configErrors(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var got []string
	for _, e := range errs {
		var ce *holdfast.ConfigError
		if !errors.As(e, &ce) {
			t.Fatalf("Validate error %v (%T) is not a *holdfast.ConfigError", e, e)
		}
		if ce.Policy != "concurrency.adaptive" {
			t.Errorf("ConfigError.Policy = %q; want %q", ce.Policy, "concurrency.adaptive")
		}
		got = append(got, ce.Error())
	}
	return got
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range configTests {
		t.Run(tt.name, func(t *testing.T) {
			got := configErrors(t, tt.cfg.Validate())
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Validate() = %q; want %q", got, tt.want)
			}
			l, err := New(tt.cfg)
			if (err == nil) != (tt.want == nil) {
				t.Fatalf("New() error = %v; want error %v", err, tt.want != nil)
			}
			if err == nil && l == nil {
				t.Fatal("New() = nil, nil")
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	want := Config{
		Name: "adaptive", Algorithm: Gradient, Min: 5, Max: 1000, Initial: 20,
		Window: 100 * time.Millisecond, MinSamples: 10, Tolerance: 0.25, Backoff: 0.9,
		ProbeInterval: time.Minute, ProbeSamples: 50,
	}
	if c.IsDrop == nil {
		t.Error("default IsDrop is nil")
	}
	c.IsDrop = nil
	if !reflect.DeepEqual(c, want) { // DeepEqual: Config holds a func, so == cannot compare it
		t.Errorf("defaults = %+v; want %+v", c, want)
	}
	for _, tt := range []struct {
		min, max, want int
	}{
		{5, 1000, 20},
		{1, 10, 10},
		{50, 1000, 50},
		{20, 20, 20},
	} {
		if got := (Config{Min: tt.min, Max: tt.max}).withDefaults().Initial; got != tt.want {
			t.Errorf("default initial for [%d, %d] = %d; want %d", tt.min, tt.max, got, tt.want)
		}
	}
}

func TestMustNewPanicsOnInvalidConfig(t *testing.T) {
	defer func() {
		r := recover()
		err, _ := r.(error)
		if !errors.As(err, new(*holdfast.ConfigError)) {
			t.Errorf("MustNew panicked with %v; want a *holdfast.ConfigError", r)
		}
	}()
	MustNew(Config{Min: -1})
}

// FuzzConfigValidate checks that any config either validates and builds a
// limiter that admits and learns, or is refused with ConfigErrors under
// concurrency.adaptive, and never panics.
func FuzzConfigValidate(f *testing.F) {
	for _, tt := range configTests {
		c := tt.cfg
		f.Add(string(c.Algorithm), c.Min, c.Max, c.Initial, int64(c.Window), c.MinSamples,
			c.Tolerance, c.Backoff, int64(c.ProbeInterval), c.ProbeSamples)
	}
	f.Fuzz(func(t *testing.T, alg string, minL, maxL, initial int, window int64, minSamples int,
		tolerance, backoff float64, probeInterval int64, probeSamples int) {
		c := Config{Algorithm: Algorithm(alg), Min: minL, Max: maxL, Initial: initial, Window: time.Duration(window),
			MinSamples: minSamples, Tolerance: tolerance, Backoff: backoff,
			ProbeInterval: time.Duration(probeInterval), ProbeSamples: probeSamples}
		err := c.Validate()
		for _, msg := range configErrors(t, err) {
			if !strings.HasPrefix(msg, "concurrency.adaptive.") {
				t.Errorf("error %q does not name its key under concurrency.adaptive", msg)
			}
		}
		l, nerr := New(c)
		if (err == nil) != (nerr == nil) {
			t.Fatalf("Validate() = %v but New() = %v", err, nerr)
		}
		if err != nil {
			return
		}
		d := c.withDefaults()
		if got := l.Limit(); got != d.Min {
			t.Fatalf("Limit() while first probing = %d; want min %d", got, d.Min)
		}
		// Enough calls to end the first probe and close a window.
		for range min(d.ProbeSamples+d.MinSamples, 20000) {
			tok, err := l.Acquire()
			if err != nil {
				t.Fatalf("Acquire on an idle limiter = %v", err)
			}
			tok.Done()
		}
		if got := l.Limit(); got < d.Min || got > d.Max {
			t.Fatalf("Limit() = %d; want within [%d, %d]", got, d.Min, d.Max)
		}
		if got := l.InFlight(); got != 0 {
			t.Fatalf("InFlight() = %d; want 0", got)
		}
	})
}
