package slo

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// configKey is the policy name [Config.Validate]'s errors carry.
const configKey = "slo"

// Bounds of an objective's windows.
const (
	// MinWindow is the shortest window, of an objective or a tier: a
	// window is read from at least six 10-second buckets.
	MinWindow = time.Minute
	// MaxWindow is the longest window, of an objective or a tier; it
	// bounds the memory a [Tracker] takes.
	MaxWindow = 90 * 24 * time.Hour
)

// Good says which events are good. At least one field is set; with both,
// an event must meet both.
type Good struct {
	// StatusBelow makes an event good only if its status is at least 100
	// and below this, such as 500 (any answer but a server error). A
	// multiple of 100 in [200, 500], so that Prometheus, whose metrics
	// count by status class, reads the same events as good. Zero: any
	// status.
	StatusBelow int `yaml:"status_below" json:"status_below,omitempty"`
	// LatencyBelow makes an event good only if it took at most this long
	// (at most, as a histogram bucket's le counts). Zero: any duration.
	LatencyBelow time.Duration `yaml:"latency_below" json:"latency_below,omitempty"`
}

// IsGood reports whether an event of the given status and duration is good.
func (g Good) IsGood(status int, d time.Duration) bool {
	if g.StatusBelow > 0 && (status < 100 || status >= g.StatusBelow) {
		return false
	}
	if g.LatencyBelow > 0 && d > g.LatencyBelow {
		return false
	}
	return true
}

// Tier is an alerting tier: it fires while the burn rate exceeds BurnRate
// over both Long and Short.
type Tier struct {
	// Name is the tier's name, such as P0.
	Name string `yaml:"-" json:"name"`
	// BurnRate is the threshold, greater than 0.
	BurnRate float64 `yaml:"burn_rate" json:"burn_rate"`
	// Long is the window that shows the budget really burns; in
	// [MinWindow, MaxWindow].
	Long time.Duration `yaml:"long" json:"long"`
	// Short is the window that shows it still burns, so the alert resolves
	// soon after the burning stops; at least MinWindow, shorter than Long.
	Short time.Duration `yaml:"short" json:"short"`
}

// DefaultTiers are the multiwindow, multi-burn-rate alerts of Google's SRE
// workbook (chapter 5, table 5-8) for a 30-day objective: P0 pages on 2% of
// the budget spent in an hour, P1 on 5% in six hours, P2 opens a ticket on
// 10% in three days.
var DefaultTiers = []Tier{
	{Name: "P0", BurnRate: 14.4, Long: time.Hour, Short: 5 * time.Minute},
	{Name: "P1", BurnRate: 6, Long: 6 * time.Hour, Short: 30 * time.Minute},
	{Name: "P2", BurnRate: 1, Long: 3 * 24 * time.Hour, Short: 6 * time.Hour},
}

// Validate reports what is wrong with t, as [*holdfast.ConfigError] values
// keyed burn_rate, long and short, joined.
func (t Tier) Validate() error {
	var errs []error
	if math.IsNaN(t.BurnRate) || math.IsInf(t.BurnRate, 0) || t.BurnRate <= 0 {
		errs = append(errs, holdfast.ConfigErrorf(configKey, "burn_rate", "must be a number greater than 0, got %g", t.BurnRate))
	}
	longOK := t.Long >= MinWindow && t.Long <= MaxWindow
	if !longOK {
		errs = append(errs, holdfast.ConfigErrorf(configKey, "long", "must be in [1m, 90d], got %s", t.Long))
	}
	switch {
	case t.Short < MinWindow:
		errs = append(errs, holdfast.ConfigErrorf(configKey, "short", "must be at least 1m, got %s", t.Short))
	case longOK && t.Short >= t.Long:
		errs = append(errs, holdfast.ConfigErrorf(configKey, "short", "must be shorter than long (%s), got %s", t.Long, t.Short))
	}
	return errors.Join(errs...)
}

// Config is one objective.
type Config struct {
	// Name identifies the objective in metrics, status and alerts;
	// required.
	Name string `yaml:"name" json:"name"`
	// Route is the name of the route whose requests are the events;
	// required.
	Route string `yaml:"route" json:"route"`
	// Objective is the target, in percent of good events, in (0, 100),
	// such as 99.9.
	Objective float64 `yaml:"objective" json:"objective"`
	// Window is how far back the objective looks; in [MinWindow,
	// MaxWindow], and at least each tier's Long.
	Window time.Duration `yaml:"window" json:"window"`
	// Good says which events are good.
	Good Good `yaml:"good" json:"good"`
	// Tiers are the alerting tiers whose burn rates are computed. Nil
	// means [DefaultTiers]; an empty, non-nil list means none.
	Tiers []Tier `yaml:"-" json:"tiers"`
}

// Budget returns the error budget, the share of events that may be bad:
// 1 - Objective/100.
func (c Config) Budget() float64 { return 1 - c.Objective/100 }

func (c Config) tiers() []Tier {
	if c.Tiers == nil {
		return DefaultTiers
	}
	return c.Tiers
}

// Validate reports what is wrong with c, as [*holdfast.ConfigError] values
// keyed by the YAML name of the value (name, objective, window,
// good.status_below, good.latency_below, tiers[N].long), joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, holdfast.ConfigErrorf(configKey, key, format, args...))
	}
	if c.Name == "" {
		bad("name", "is required")
	}
	if c.Route == "" {
		bad("route", "is required")
	}
	objOK := c.Objective > 0 && c.Objective < 100 // false for NaN
	if !objOK {
		bad("objective", "must be a percentage in (0, 100), such as 99.9, got %g", c.Objective)
	}
	if c.Window < MinWindow || c.Window > MaxWindow {
		bad("window", "must be in [1m, 90d], got %s", c.Window)
	}
	g := c.Good
	if g.StatusBelow == 0 && g.LatencyBelow == 0 {
		bad("good", "needs status_below or latency_below (or both)")
	}
	if g.StatusBelow != 0 && (g.StatusBelow < 200 || g.StatusBelow > 500 || g.StatusBelow%100 != 0) {
		bad("good.status_below", "must be 200, 300, 400 or 500 (holdfast's metrics count by status class), got %d", g.StatusBelow)
	}
	if g.LatencyBelow < 0 {
		bad("good.latency_below", "must not be negative, got %s", g.LatencyBelow)
	}
	var never []string // tiers the objective leaves no room to fire
	for i, t := range c.tiers() {
		key := "tiers[" + strconv.Itoa(i) + "]"
		if err := t.Validate(); err != nil {
			var ce *holdfast.ConfigError
			for _, e := range unjoin(err) {
				if errors.As(e, &ce) {
					bad(key+"."+ce.Key, "%s", ce.Message)
				}
			}
			continue
		}
		if t.Long > c.Window && c.Window >= MinWindow {
			bad("window", "must be at least tier %s's long window (%s), got %s", t.Name, t.Long, c.Window)
		}
		// All events bad is a burn rate of 1/budget; the burn rate must
		// exceed the threshold, so one at 1/budget or above never fires.
		if objOK && t.BurnRate >= 1/c.Budget() {
			never = append(never, fmt.Sprintf("%s (burn_rate %g)", t.Name, t.BurnRate))
		}
	}
	if len(never) > 0 {
		hint := ""
		if c.Objective < 1 {
			hint = " (a percentage: 99.9, not 0.999)"
		}
		bad("objective", "allows a burn rate of at most %.4g (every event bad), so tier %s could never fire; got %g%s",
			1/c.Budget(), strings.Join(never, ", "), c.Objective, hint)
	}
	return errors.Join(errs...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
