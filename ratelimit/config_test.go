package ratelimit

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/holdfast-dev/holdfast"
)

var configTests = []struct {
	name string
	c    Config
	want []string // the errors' texts; nil when valid
}{
	{"minimal", Config{RequestsPerSecond: 100}, nil},
	{"route example", Config{RequestsPerSecond: 100, Burst: 200}, nil},
	{"fractional rate", Config{RequestsPerSecond: 0.5, Burst: 1}, nil},
	{"highest rate", Config{RequestsPerSecond: 1e9}, nil},
	{"with max wait", Config{RequestsPerSecond: 10, MaxWait: time.Second}, nil},
	{"slow rate, big burst fits", Config{RequestsPerSecond: 1e-6, Burst: 1000}, nil},
	{"zero rate", Config{}, []string{"rate_limit.requests_per_second: must be greater than 0, got 0"}},
	{"negative rate", Config{RequestsPerSecond: -1}, []string{"rate_limit.requests_per_second: must be greater than 0, got -1"}},
	{"NaN rate", Config{RequestsPerSecond: math.NaN()}, []string{"rate_limit.requests_per_second: must be a finite number, got NaN"}},
	{"infinite rate", Config{RequestsPerSecond: math.Inf(1)}, []string{"rate_limit.requests_per_second: must be a finite number, got +Inf"}},
	{"rate above clock resolution", Config{RequestsPerSecond: 2e9}, []string{"rate_limit.requests_per_second: must be at most 1e9, got 2e+09"}},
	{"negative burst", Config{RequestsPerSecond: 1, Burst: -3}, []string{"rate_limit.burst: must not be negative, got -3"}},
	{"refill too long", Config{RequestsPerSecond: 1e-9, Burst: 2}, []string{"rate_limit.burst: 2 at 1e-09 requests per second takes more than 36 years to refill"}},
	{"negative max wait", Config{RequestsPerSecond: 1, MaxWait: -time.Second}, []string{"rate_limit.max_wait: must not be negative, got -1s"}},
	{"everything wrong", Config{RequestsPerSecond: -2, Burst: -1, MaxWait: -1}, []string{
		"rate_limit.requests_per_second: must be greater than 0, got -2",
		"rate_limit.burst: must not be negative, got -1",
		"rate_limit.max_wait: must not be negative, got -1ns",
	}},
}

// configErrors returns the texts of the *holdfast.ConfigError values joined
// in err, failing t if err holds anything else.
func configErrors(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var texts []string
	for _, e := range errs {
		var ce *holdfast.ConfigError
		if !errors.As(e, &ce) || ce.Policy != "rate_limit" {
			t.Errorf("error %q is not a *holdfast.ConfigError of policy rate_limit", e)
		}
		texts = append(texts, e.Error())
	}
	return texts
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range configTests {
		t.Run(tt.name, func(t *testing.T) {
			got := configErrors(t, tt.c.withDefaults().Validate())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate() errors (-want +got):\n%s", diff)
			}
			_, err := New(tt.c)
			if gotErr, wantErr := err != nil, tt.want != nil; gotErr != wantErr {
				t.Errorf("New() error = %v; want error %v", err, wantErr)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		c                 Config
		wantBurst         int
		wantName          string
		wantIntervalNanos int64
	}{
		{Config{RequestsPerSecond: 100}, 100, "ratelimit", 1e7},
		{Config{RequestsPerSecond: 0.5}, 1, "ratelimit", 2e9},
		{Config{RequestsPerSecond: 2.5, Name: "api"}, 3, "api", 4e8},
		{Config{RequestsPerSecond: 3, Burst: 7}, 7, "ratelimit", 333333334},
		{Config{RequestsPerSecond: 1e9}, 1e9, "ratelimit", 1},
	}
	for _, tt := range tests {
		l := MustNew(tt.c)
		if got := l.Burst(); got != tt.wantBurst {
			t.Errorf("%+v: Burst() = %d; want %d", tt.c, got, tt.wantBurst)
		}
		if got := l.Name(); got != tt.wantName {
			t.Errorf("%+v: Name() = %q; want %q", tt.c, got, tt.wantName)
		}
		if got := l.g.interval; got != tt.wantIntervalNanos {
			t.Errorf("%+v: interval = %dns; want %dns", tt.c, got, tt.wantIntervalNanos)
		}
		if got := l.Rate(); got != tt.c.RequestsPerSecond {
			t.Errorf("%+v: Rate() = %g; want %g", tt.c, got, tt.c.RequestsPerSecond)
		}
		if got := l.Kind(); got != holdfast.KindRateLimit {
			t.Errorf("Kind() = %v; want %v", got, holdfast.KindRateLimit)
		}
	}
}

func TestMustNewPanicsOnInvalidConfig(t *testing.T) {
	for _, f := range []func(){
		func() { MustNew(Config{}) },
		func() { MustNewKeyed(KeyedConfig{}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("MustNew with an invalid config did not panic")
				}
			}()
			f()
		}()
	}
}

var keyedConfigTests = []struct {
	name string
	c    KeyedConfig
	want []string
}{
	{"minimal", KeyedConfig{Config: Config{RequestsPerSecond: 10}}, nil},
	{"all set", KeyedConfig{Config: Config{RequestsPerSecond: 10, Burst: 20}, MaxKeys: 1000, SweepInterval: time.Second}, nil},
	{"negative max keys", KeyedConfig{Config: Config{RequestsPerSecond: 10}, MaxKeys: -1}, []string{"rate_limit.max_keys: must not be negative, got -1"}},
	{"negative sweep", KeyedConfig{Config: Config{RequestsPerSecond: 10}, SweepInterval: -time.Minute}, []string{"rate_limit.sweep_interval: must not be negative, got -1m0s"}},
	{"bucket and keys wrong", KeyedConfig{Config: Config{Burst: -1}, MaxKeys: -5}, []string{
		"rate_limit.requests_per_second: must be greater than 0, got 0",
		"rate_limit.burst: must not be negative, got -1",
		"rate_limit.max_keys: must not be negative, got -5",
	}},
}

func TestKeyedConfigValidate(t *testing.T) {
	for _, tt := range keyedConfigTests {
		t.Run(tt.name, func(t *testing.T) {
			got := configErrors(t, tt.c.withDefaults().Validate())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate() errors (-want +got):\n%s", diff)
			}
			_, err := NewKeyed(tt.c)
			if gotErr, wantErr := err != nil, tt.want != nil; gotErr != wantErr {
				t.Errorf("NewKeyed() error = %v; want error %v", err, wantErr)
			}
		})
	}
}

func TestKeyedConfigDefaults(t *testing.T) {
	k := MustNewKeyed(KeyedConfig{Config: Config{RequestsPerSecond: 10}})
	if got := k.MaxKeys(); got != DefaultMaxKeys {
		t.Errorf("MaxKeys() = %d; want %d", got, DefaultMaxKeys)
	}
	if got := k.sweepEvery; got != int64(DefaultSweepInterval) {
		t.Errorf("sweep interval = %v; want %v", time.Duration(got), DefaultSweepInterval)
	}
	if got := k.Burst(); got != 10 {
		t.Errorf("Burst() = %d; want 10", got)
	}
	if got := len(k.shards); got != maxShards {
		t.Errorf("shards = %d; want %d", got, maxShards)
	}
}

// TestKeyedConfigJSON checks that the embedded Config's keys sit beside the
// keyed ones, as they do in a route's rate_limit block.
func TestKeyedConfigJSON(t *testing.T) {
	var c KeyedConfig
	in := `{"requests_per_second": 100, "burst": 200, "max_wait": 5000000, "max_keys": 50000, "sweep_interval": 30000000000}`
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	want := KeyedConfig{Config: Config{RequestsPerSecond: 100, Burst: 200, MaxWait: 5 * time.Millisecond}, MaxKeys: 50000, SweepInterval: 30 * time.Second}
	if diff := cmp.Diff(want, c, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".KeyFunc" }, cmp.Ignore())); diff != "" {
		t.Errorf("decoded config (-want +got):\n%s", diff)
	}
}

// FuzzConfigValidate checks that Validate never panics, that every error is
// a rate_limit ConfigError, and that a config it accepts makes a limiter
// whose parameters cannot overflow and which grants a full burst at once.
func FuzzConfigValidate(f *testing.F) {
	for _, tt := range configTests {
		f.Add(tt.c.RequestsPerSecond, tt.c.Burst, int64(tt.c.MaxWait))
	}
	f.Fuzz(func(t *testing.T, rate float64, burst int, maxWait int64) {
		c := Config{RequestsPerSecond: rate, Burst: burst, MaxWait: time.Duration(maxWait)}
		err := c.withDefaults().Validate()
		for _, text := range configErrors(t, err) {
			if !strings.HasPrefix(text, "rate_limit.") {
				t.Errorf("error %q does not name its key", text)
			}
		}
		l, nerr := New(c)
		if (err == nil) != (nerr == nil) {
			t.Fatalf("Validate() = %v but New() = %v", err, nerr)
		}
		if err != nil {
			return
		}
		if l.g.interval < 1 || l.g.burst < 1 || l.g.window > maxWindow || l.g.window != l.g.burst*l.g.interval {
			t.Fatalf("rate %g burst %d: interval %d, burst %d, window %d", rate, burst, l.g.interval, l.g.burst, l.g.window)
		}
		if eff := 1e9 / float64(l.g.interval); eff > rate*(1+1e-12) {
			t.Fatalf("rate %g: effective rate %g is above it", rate, eff)
		}
		now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		if !l.AllowN(now, l.Burst()) || l.AllowAt(now) {
			t.Fatalf("rate %g burst %d: a fresh limiter did not grant exactly its burst", rate, l.Burst())
		}
	})
}

// FuzzKeyedConfigValidate is FuzzConfigValidate for KeyedConfig.
func FuzzKeyedConfigValidate(f *testing.F) {
	for _, tt := range keyedConfigTests {
		f.Add(tt.c.RequestsPerSecond, tt.c.Burst, tt.c.MaxKeys, int64(tt.c.SweepInterval))
	}
	f.Fuzz(func(t *testing.T, rate float64, burst, maxKeys int, sweep int64) {
		if maxKeys > 1<<24 {
			maxKeys %= 1 << 24 // keep the shard table small; the rule is the same
		}
		c := KeyedConfig{Config: Config{RequestsPerSecond: rate, Burst: burst}, MaxKeys: maxKeys, SweepInterval: time.Duration(sweep)}
		err := c.withDefaults().Validate()
		configErrors(t, err)
		k, nerr := NewKeyed(c)
		if (err == nil) != (nerr == nil) {
			t.Fatalf("Validate() = %v but NewKeyed() = %v", err, nerr)
		}
		if err != nil {
			return
		}
		total := 0
		for i := range k.shards {
			total += k.shards[i].limit
		}
		if total != k.MaxKeys() {
			t.Fatalf("shard limits add up to %d; want MaxKeys %d", total, k.MaxKeys())
		}
		if !k.AllowAt("a", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("a new key was refused")
		}
	})
}

func TestEffectiveBurst(t *testing.T) {
	for _, tt := range []struct {
		c    Config
		want int
	}{
		{Config{RequestsPerSecond: 100, Burst: 7}, 7},
		{Config{RequestsPerSecond: 2.5}, 3},
		{Config{RequestsPerSecond: 0.1}, 1},
	} {
		if got := tt.c.EffectiveBurst(); got != tt.want {
			t.Errorf("%+v.EffectiveBurst() = %d; want %d", tt.c, got, tt.want)
		}
	}
}
