package breaker

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/holdfast-dev/holdfast"
)

// configTests is the validation table; it also seeds FuzzConfigValidate.
// want lists the full messages of the ConfigErrors, in order.
var configTests = []struct {
	name string
	cfg  Config
	want []string
}{
	{"zero value", Config{}, nil},
	{"design example", Config{FailureRate: 0.5, Window: 10 * time.Second, MinimumRequests: 20, OpenDuration: 30 * time.Second, HalfOpenRequests: 3}, nil},
	{"count window", Config{WindowType: WindowCount, WindowSize: 50, MinimumRequests: 50}, nil},
	{"explicit time window", Config{WindowType: WindowTime, WindowBuckets: 1000, Window: time.Second}, nil},
	{"slow calls", Config{SlowCallDuration: time.Second, SlowCallRate: 1}, nil},
	{"growth", Config{OpenDuration: time.Second, MaxOpenDuration: time.Minute, OpenBackoff: 1.5}, nil},
	{"failure rate 1", Config{FailureRate: 1}, nil},
	{"failure rate above 1", Config{FailureRate: 1.5},
		[]string{"circuit_breaker.failure_rate: must be in (0, 1], got 1.5"}},
	{"failure rate negative", Config{FailureRate: -0.1},
		[]string{"circuit_breaker.failure_rate: must be in (0, 1], got -0.1"}},
	{"failure rate NaN", Config{FailureRate: math.NaN()},
		[]string{"circuit_breaker.failure_rate: must be in (0, 1], got NaN"}},
	{"negative minimum", Config{MinimumRequests: -1},
		[]string{"circuit_breaker.minimum_requests: must not be negative, got -1"}},
	{"minimum above window size", Config{WindowSize: 10, MinimumRequests: 11},
		[]string{"circuit_breaker.minimum_requests: must not exceed window_size (10), got 11"}},
	{"small window size lowers default minimum", Config{WindowSize: 5}, nil},
	{"negative consecutive", Config{ConsecutiveFailures: -3},
		[]string{"circuit_breaker.consecutive_failures: must not be negative, got -3"}},
	{"unknown window type", Config{WindowType: "sliding"},
		[]string{`circuit_breaker.window_type: must be "count" or "time", got "sliding"`}},
	{"window with count type", Config{WindowType: WindowCount, Window: time.Second, WindowBuckets: 2},
		[]string{
			"circuit_breaker.window: applies only to window_type time, but window_type is count",
			"circuit_breaker.window_buckets: applies only to window_type time, but window_type is count",
		}},
	{"window size with time type", Config{Window: time.Second, WindowSize: 10},
		[]string{"circuit_breaker.window_size: applies only to window_type count, but window_type is time"}},
	{"window size too big", Config{WindowSize: 100_001},
		[]string{"circuit_breaker.window_size: must be in [1, 100000], got 100001"}},
	{"negative window size", Config{WindowSize: -1},
		[]string{"circuit_breaker.window_size: must be in [1, 100000], got -1"}},
	{"negative window", Config{WindowType: WindowTime, Window: -time.Second},
		[]string{"circuit_breaker.window: must not be negative, got -1s"}},
	{"buckets too narrow", Config{Window: 5 * time.Millisecond},
		[]string{"circuit_breaker.window: must be at least 10ms (window_buckets × 1ms), got 5ms"}},
	{"too many buckets", Config{Window: time.Hour, WindowBuckets: 1001},
		[]string{"circuit_breaker.window_buckets: must be in [1, 1000], got 1001"}},
	{"negative buckets", Config{WindowType: WindowTime, WindowBuckets: -1},
		[]string{"circuit_breaker.window_buckets: must be in [1, 1000], got -1"}},
	{"negative slow duration", Config{SlowCallDuration: -time.Second},
		[]string{"circuit_breaker.slow_call_duration: must not be negative, got -1s"}},
	{"slow rate without duration", Config{SlowCallRate: 0.5},
		[]string{"circuit_breaker.slow_call_rate: needs slow_call_duration"}},
	{"slow rate out of range", Config{SlowCallDuration: time.Second, SlowCallRate: 2},
		[]string{"circuit_breaker.slow_call_rate: must be in (0, 1], got 2"}},
	{"negative open duration", Config{OpenDuration: -time.Second},
		[]string{
			"circuit_breaker.open_duration: must not be negative, got -1s",
			"circuit_breaker.max_open_duration: must not be negative, got -1s",
		}},
	{"max open below open", Config{OpenDuration: time.Minute, MaxOpenDuration: time.Second},
		[]string{"circuit_breaker.max_open_duration: must be at least open_duration (1m0s), got 1s"}},
	{"backoff below 1", Config{MaxOpenDuration: time.Hour, OpenBackoff: 0.5},
		[]string{"circuit_breaker.open_backoff: must be a finite number of at least 1, got 0.5"}},
	{"backoff infinite", Config{MaxOpenDuration: time.Hour, OpenBackoff: math.Inf(1)},
		[]string{"circuit_breaker.open_backoff: must be a finite number of at least 1, got +Inf"}},
	{"backoff without cap", Config{OpenBackoff: 2},
		[]string{"circuit_breaker.open_backoff: needs max_open_duration to let the open time grow"}},
	{"negative half-open", Config{HalfOpenRequests: -2},
		[]string{"circuit_breaker.half_open_requests: must not be negative, got -2"}},
	{"several at once", Config{FailureRate: 2, HalfOpenRequests: -1},
		[]string{
			"circuit_breaker.failure_rate: must be in (0, 1], got 2",
			"circuit_breaker.half_open_requests: must not be negative, got -1",
		}},
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range configTests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if got := configMessages(t, err); !cmp.Equal(got, tt.want, cmpopts.EquateEmpty()) {
				t.Errorf("Validate() = %q; want %q", got, tt.want)
			}
			b, nerr := New(tt.cfg)
			if (nerr == nil) != (err == nil) || (b == nil) != (err != nil) {
				t.Errorf("New() = %v, %v; want a breaker exactly when Validate() is nil (%v)", b, nerr, err)
			}
		})
	}
}

// configMessages checks that err is made of *holdfast.ConfigErrors for
// circuit_breaker and returns their messages.
func configMessages(t *testing.T, err error) []string {
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
			t.Fatalf("Validate() returned %T %v; want *holdfast.ConfigError", e, e)
		}
		if ce.Policy != "circuit_breaker" {
			t.Errorf("ConfigError.Policy = %q; want circuit_breaker", ce.Policy)
		}
		msgs = append(msgs, ce.Error())
	}
	return msgs
}

func TestConfigDefaults(t *testing.T) {
	ignore := cmpopts.IgnoreFields(Config{}, "IsFailure")
	tests := []struct {
		name string
		cfg  Config
		want Config
	}{
		{"zero", Config{}, Config{
			Name: "breaker", FailureRate: 0.5, MinimumRequests: 20, WindowType: WindowCount, WindowSize: 100,
			OpenDuration: 30 * time.Second, MaxOpenDuration: 30 * time.Second, OpenBackoff: 1, HalfOpenRequests: 3,
		}},
		{"window implies time", Config{Window: time.Minute}, Config{
			Name: "breaker", FailureRate: 0.5, MinimumRequests: 20, WindowType: WindowTime, Window: time.Minute,
			WindowBuckets: 10, OpenDuration: 30 * time.Second, MaxOpenDuration: 30 * time.Second, OpenBackoff: 1,
			HalfOpenRequests: 3,
		}},
		{"time type without window", Config{WindowType: WindowTime}, Config{
			Name: "breaker", FailureRate: 0.5, MinimumRequests: 20, WindowType: WindowTime, Window: 10 * time.Second,
			WindowBuckets: 10, OpenDuration: 30 * time.Second, MaxOpenDuration: 30 * time.Second, OpenBackoff: 1,
			HalfOpenRequests: 3,
		}},
		{"small count window", Config{WindowSize: 8, SlowCallDuration: time.Second, MaxOpenDuration: time.Hour}, Config{
			Name: "breaker", FailureRate: 0.5, MinimumRequests: 8, WindowType: WindowCount, WindowSize: 8,
			SlowCallDuration: time.Second, SlowCallRate: 0.5, OpenDuration: 30 * time.Second,
			MaxOpenDuration: time.Hour, OpenBackoff: 2, HalfOpenRequests: 3,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cfg.withDefaults()
			if diff := cmp.Diff(tt.want, got, ignore); diff != "" {
				t.Errorf("withDefaults() mismatch (-want +got):\n%s", diff)
			}
			if got.IsFailure == nil {
				t.Errorf("withDefaults().IsFailure = nil; want the default classifier")
			}
		})
	}
}

// TestConfigJSONKeys pins the snake_case keys the proxy's config file uses;
// YAML uses the same names.
func TestConfigJSONKeys(t *testing.T) {
	const in = `{"name":"catalog","failure_rate":0.25,"window":10000000000,"minimum_requests":20,
		"open_duration":30000000000,"half_open_requests":3,"consecutive_failures":5,"window_type":"time",
		"window_buckets":20,"slow_call_duration":1000000000,"slow_call_rate":0.8,
		"max_open_duration":300000000000,"open_backoff":1.5}`
	dec := json.NewDecoder(strings.NewReader(in))
	dec.DisallowUnknownFields()
	var got Config
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Name: "catalog", FailureRate: 0.25, Window: 10 * time.Second, MinimumRequests: 20,
		OpenDuration: 30 * time.Second, HalfOpenRequests: 3, ConsecutiveFailures: 5, WindowType: WindowTime,
		WindowBuckets: 20, SlowCallDuration: time.Second, SlowCallRate: 0.8,
		MaxOpenDuration: 5 * time.Minute, OpenBackoff: 1.5,
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Config{}, "IsFailure")); diff != "" {
		t.Errorf("decoded config mismatch (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate() = %v; want nil", err)
	}
}

// FuzzConfigValidate checks that no config makes Validate or New panic, that
// every error is a circuit_breaker ConfigError, and that a config Validate
// accepts makes a breaker that admits, records and trips without panicking.
func FuzzConfigValidate(f *testing.F) {
	for _, tt := range configTests {
		c := tt.cfg
		f.Add(c.FailureRate, c.MinimumRequests, c.ConsecutiveFailures, string(c.WindowType), int64(c.Window),
			c.WindowBuckets, c.WindowSize, int64(c.SlowCallDuration), c.SlowCallRate, int64(c.OpenDuration),
			int64(c.MaxOpenDuration), c.OpenBackoff, c.HalfOpenRequests)
	}
	f.Fuzz(func(t *testing.T, rate float64, minimum, consecutive int, windowType string, window int64,
		buckets, size int, slow int64, slowRate float64, open, maxOpen int64, backoff float64, halfOpen int) {
		cfg := Config{
			FailureRate: rate, MinimumRequests: minimum, ConsecutiveFailures: consecutive,
			WindowType: WindowType(windowType), Window: time.Duration(window), WindowBuckets: buckets,
			WindowSize: size, SlowCallDuration: time.Duration(slow), SlowCallRate: slowRate,
			OpenDuration: time.Duration(open), MaxOpenDuration: time.Duration(maxOpen), OpenBackoff: backoff,
			HalfOpenRequests: halfOpen,
		}
		err := cfg.Validate()
		configMessages(t, err)
		b, nerr := New(cfg)
		if (err == nil) != (nerr == nil) {
			t.Fatalf("Validate() = %v but New() = %v", err, nerr)
		}
		if err != nil {
			return
		}
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range 50 {
			p, err := b.AllowAt(now)
			if err != nil && !errors.Is(err, ErrOpen) {
				t.Fatalf("AllowAt: got %v; want nil or ErrOpen", err)
			}
			p.Record(i%3 != 0, time.Duration(i)*time.Millisecond)
			now = now.Add(time.Duration(i) * 100 * time.Millisecond)
		}
		if c := b.CountsAt(now); c.Calls < 0 || c.Failures > c.Calls || c.Remaining < 0 {
			t.Fatalf("CountsAt = %+v; want consistent totals", c)
		}
	})
}
