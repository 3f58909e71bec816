package slo

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast"
)

func TestGoodIsGood(t *testing.T) {
	tests := []struct {
		good   Good
		status int
		d      time.Duration
		want   bool
	}{
		{Good{StatusBelow: 500}, 200, time.Hour, true},
		{Good{StatusBelow: 500}, 499, 0, true},
		{Good{StatusBelow: 500}, 500, 0, false},
		{Good{StatusBelow: 500}, 503, 0, false},
		{Good{StatusBelow: 500}, 0, 0, false},  // no status: counted as "other", never good
		{Good{StatusBelow: 500}, 99, 0, false}, // not an HTTP status
		{Good{StatusBelow: 400}, 404, 0, false},
		{Good{LatencyBelow: 300 * time.Millisecond}, 503, 300 * time.Millisecond, true}, // at most, as le
		{Good{LatencyBelow: 300 * time.Millisecond}, 200, 300*time.Millisecond + 1, false},
		{Good{StatusBelow: 500, LatencyBelow: 300 * time.Millisecond}, 200, 10 * time.Millisecond, true},
		{Good{StatusBelow: 500, LatencyBelow: 300 * time.Millisecond}, 200, time.Second, false},
		{Good{StatusBelow: 500, LatencyBelow: 300 * time.Millisecond}, 502, time.Millisecond, false},
	}
	for _, tt := range tests {
		if got := tt.good.IsGood(tt.status, tt.d); got != tt.want {
			t.Errorf("%+v.IsGood(%d, %v) = %v; want %v", tt.good, tt.status, tt.d, got, tt.want)
		}
	}
}

func okConfig() Config {
	return Config{Name: "checkout", Route: "checkout", Objective: 99.9, Window: 30 * 24 * time.Hour, Good: Good{StatusBelow: 500}}
}

func TestConfigValidate(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // "key: message prefix"
	}{
		{"defaults", func(*Config) {}, nil},
		{"latency only", func(c *Config) { c.Good = Good{LatencyBelow: 300 * time.Millisecond} }, nil},
		{"no name or route", func(c *Config) { c.Name, c.Route = "", "" }, []string{"name: is required", "route: is required"}},
		{"objective 100", func(c *Config) { c.Objective = 100 }, []string{"objective: must be a percentage in (0, 100)"}},
		{"objective 0", func(c *Config) { c.Objective = 0 }, []string{"objective: must be a percentage"}},
		{"objective as a ratio", func(c *Config) { c.Objective = 0.999 },
			[]string{"objective: allows a burn rate of at most 1.01 (every event bad), so tier P0 (burn_rate 14.4), P1 (burn_rate 6) could never fire; got 0.999 (a percentage: 99.9, not 0.999)"}},
		{"objective too low for P0", func(c *Config) { c.Objective = 90 },
			[]string{"objective: allows a burn rate of at most 10 (every event bad), so tier P0 (burn_rate 14.4) could never fire; got 90"}},
		{"window too short", func(c *Config) { c.Window = 30 * time.Second }, []string{"window: must be in [1m, 90d], got 30s"}},
		{"window too long", func(c *Config) { c.Window = 91 * day }, []string{"window: must be in [1m, 90d]"}},
		{"window shorter than P2's long", func(c *Config) { c.Window = day },
			[]string{"window: must be at least tier P2's long window (72h0m0s), got 24h0m0s"}},
		{"no good", func(c *Config) { c.Good = Good{} }, []string{"good: needs status_below or latency_below"}},
		{"status 503", func(c *Config) { c.Good.StatusBelow = 503 }, []string{"good.status_below: must be 200, 300, 400 or 500"}},
		{"status 600", func(c *Config) { c.Good.StatusBelow = 600 }, []string{"good.status_below: must be 200, 300, 400 or 500"}},
		{"negative latency", func(c *Config) { c.Good.LatencyBelow = -1 }, []string{"good.latency_below: must not be negative"}},
		{"bad tier", func(c *Config) { c.Tiers = []Tier{{Name: "P0", BurnRate: -1, Long: time.Hour, Short: 2 * time.Hour}} },
			[]string{"tiers[0].burn_rate: must be a number greater than 0, got -1", "tiers[0].short: must be shorter than long (1h0m0s), got 2h0m0s"}},
		{"burn rate at the most possible", func(c *Config) {
			c.Objective, c.Tiers = 50, []Tier{{Name: "P0", BurnRate: 2, Long: time.Hour, Short: 5 * time.Minute}}
		}, []string{"objective: allows a burn rate of at most 2 (every event bad), so tier P0 (burn_rate 2) could never fire; got 50"}},
		{"no tiers", func(c *Config) { c.Tiers = []Tier{}; c.Window = time.Hour }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := okConfig()
			tt.change(&c)
			err := c.Validate()
			var got []string
			for _, e := range unjoin(err) {
				var ce *holdfast.ConfigError
				if e == nil {
					continue
				}
				if !errors.As(e, &ce) || ce.Policy != "slo" {
					t.Fatalf("error %v (%T); want a *holdfast.ConfigError of policy slo", e, e)
				}
				got = append(got, ce.Key+": "+ce.Message)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors %q; want %d %q", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("error %d = %q; want prefix %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestTierValidate(t *testing.T) {
	for _, tier := range DefaultTiers {
		if err := tier.Validate(); err != nil {
			t.Errorf("default tier %s: %v", tier.Name, err)
		}
	}
	bad := []Tier{
		{BurnRate: 0, Long: time.Hour, Short: time.Minute},
		{BurnRate: 1, Long: 30 * time.Second, Short: time.Minute},
		{BurnRate: 1, Long: time.Hour, Short: time.Second},
		{BurnRate: 1, Long: time.Hour, Short: time.Hour},
		{BurnRate: 1, Long: 91 * 24 * time.Hour, Short: time.Hour},
	}
	for _, tier := range bad {
		if err := tier.Validate(); err == nil {
			t.Errorf("%+v.Validate() = nil; want an error", tier)
		}
	}
}
