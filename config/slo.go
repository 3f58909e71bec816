package config

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/internal/alert"
	"github.com/holdfast-dev/holdfast/internal/yamlpath"
	"github.com/holdfast-dev/holdfast/slo"
)

// Defaults and bounds of the slos and alerting blocks.
const (
	// DefaultSLOWindow is an objective's window when it leaves it out.
	DefaultSLOWindow = Window(30 * 24 * time.Hour)
	// DefaultAlertInterval is alerting.interval's default.
	DefaultAlertInterval = Window(alert.DefaultInterval)
	// DefaultRepeatInterval is alerting.repeat_interval's default.
	DefaultRepeatInterval = Window(alert.DefaultRepeatInterval)
	// MaxSLOs bounds the slos list: each objective holds up to about 85 KB
	// of counts (see package slo).
	MaxSLOs = 1000
)

// SLO is one entry of `slos:`, a service-level objective on a route's
// requests.
type SLO struct {
	// Name identifies the objective in metrics, status, rules and alerts;
	// required, unique, letters, digits and _ . : - (at most 128).
	Name string `yaml:"name" json:"name"`
	// Route names the route whose requests are the events; required.
	Route string `yaml:"route" json:"route"`
	// Objective is the percent of good events, in (0, 100), such as 99.9.
	// Required.
	Objective float64 `yaml:"objective" json:"objective"`
	// Window is how far back the objective looks, such as 30d or 7d; in
	// [1m, 90d] and at least each tier's long window. Default 30d.
	Window Window `yaml:"window" json:"window"`
	// Good says which requests are good: status_below (200, 300, 400 or
	// 500: a status class), latency_below (a duration; good if at most
	// that long), or both. Required.
	Good slo.Good `yaml:"good" json:"good"`
}

// Alerting is the `alerting:` block: the tiers burn rates are judged by and
// who is told.
type Alerting struct {
	// Receivers are told about the tiers they list.
	Receivers []*Receiver `yaml:"receivers" json:"receivers,omitempty"`
	// Tiers by name. P0, P1 and P2 are always there, with the defaults of
	// [slo.DefaultTiers] for what the file leaves out; other names must
	// set all three keys.
	Tiers map[string]*Tier `yaml:"tiers" json:"tiers"`
	// Interval is how often the tiers are evaluated for alerts, in [1s,
	// 5m]. Default 10s.
	Interval Window `yaml:"interval" json:"interval"`
	// RepeatInterval is the least time between two notifications of one
	// episode to a webhook (a reminder while it lasts), in [1m, 30d].
	// Default 4h. Alertmanager reminds by its own repeat_interval.
	RepeatInterval Window `yaml:"repeat_interval" json:"repeat_interval"`
	// Instance is the instance label of the alerts, which tells the
	// proxies of a fleet apart. Default: the host name.
	Instance string `yaml:"instance" json:"instance,omitempty"`
	// CanaryTier is the tier of a canary's rollback alert, which picks the
	// receivers told: one of the tiers. Default P1.
	CanaryTier string `yaml:"canary_tier" json:"canary_tier"`
}

// Tier is one entry of alerting.tiers.
type Tier struct {
	// BurnRate is the threshold both windows must exceed, greater than 0.
	BurnRate float64 `yaml:"burn_rate" json:"burn_rate"`
	// Long is the longer window, in [1m, 90d].
	Long Window `yaml:"long" json:"long"`
	// Short is the shorter window, at least 1m and shorter than Long.
	Short Window `yaml:"short" json:"short"`
}

// Receiver is one entry of alerting.receivers: an Alertmanager (its v2
// API) or a webhook that gets JSON.
type Receiver struct {
	// Name identifies the receiver; required, unique.
	Name string `yaml:"name" json:"name"`
	// Alertmanager is the base URL of an Alertmanager, such as
	// http://127.0.0.1:9093. Exactly one of Alertmanager and Webhook.
	Alertmanager string `yaml:"alertmanager" json:"alertmanager,omitempty"`
	// Webhook is a URL that notifications are POSTed to as JSON.
	Webhook string `yaml:"webhook" json:"webhook,omitempty"`
	// Tiers are the tiers the receiver is told about; at least one.
	Tiers []string `yaml:"tiers" json:"tiers"`
}

// Window is a duration that may also be written in days, as Prometheus
// writes them: 30d, 1d12h, 6h, 5m. It is an SLO's or a tier's window.
type Window time.Duration

// Duration returns w as a time.Duration.
func (w Window) Duration() time.Duration { return time.Duration(w) }

// ParseWindow parses a Go duration (6h, 90m, 1h30m) optionally preceded by
// a whole number of days (30d, 1d12h). The result is not negative.
func ParseWindow(s string) (Window, error) {
	days, rest, hasDays := strings.Cut(s, "d")
	if !hasDays {
		if s != "" && s != "0" && strings.Trim(s, "0123456789.") == "" {
			return 0, &Error{Msg: fmt.Sprintf("must be a duration with a unit, such as %sd or %sm, got %s", s, s, s)}
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, &Error{Msg: fmt.Sprintf("must be a duration such as 30d, 6h or 5m, got %q", s)}
		}
		if d < 0 {
			return 0, &Error{Msg: "must not be negative, got " + s}
		}
		return Window(d), nil
	}
	const maxDays = 100_000 // a time.Duration holds 106,751 days
	n, err := strconv.Atoi(days)
	if days == "" || strings.Trim(days, "0123456789") != "" || err != nil || n > maxDays {
		return 0, &Error{Msg: fmt.Sprintf("must be a duration such as 30d or 1d12h (whole days first), got %q", s)}
	}
	total := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || rest[0] < '0' || rest[0] > '9' || r > maxDays*24*time.Hour-total {
			return 0, &Error{Msg: fmt.Sprintf("must be a duration such as 30d or 1d12h (whole days first), got %q", s)}
		}
		total += r
	}
	return Window(total), nil
}

// String returns w the way Prometheus writes durations, which ParseWindow
// reads back: 30d, 1d12h, 6h, 5m, 1m30s. A w with a fraction of a
// millisecond, or negative, is written as time.Duration writes it.
func (w Window) String() string {
	d := time.Duration(w)
	if d == 0 {
		return "0s"
	}
	if d < 0 || d%time.Millisecond != 0 {
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if n := d / u.unit; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			d -= n * u.unit
		}
	}
	return b.String()
}

// UnmarshalYAML decodes a window with [ParseWindow].
func (w *Window) UnmarshalYAML(n *yaml.Node) error {
	if isNull(n) {
		*w = 0
		return nil
	}
	v, err := ParseWindow(n.Value)
	if err != nil {
		return err
	}
	*w = v
	return nil
}

// UnmarshalText decodes a window with [ParseWindow].
func (w *Window) UnmarshalText(b []byte) error {
	v, err := ParseWindow(string(b))
	if err != nil {
		return err
	}
	*w = v
	return nil
}

// MarshalText encodes w as [Window.String] writes it.
func (w Window) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// yamlShape lets the walker check that a window is a single value.
func (Window) yamlShape(n *yaml.Node) (reflect.Type, string) {
	if n.Kind == yaml.ScalarNode {
		return stringType, ""
	}
	return nil, "must be a duration such as 30d, 6h or 5m"
}

// sloName is what an objective's or a tier's name may be: it is a label
// value, part of rule names and of URLs.
var sloName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

func (c *Config) applySLODefaults() {
	for _, s := range c.SLOs {
		if s != nil && s.Window == 0 {
			s.Window = DefaultSLOWindow
		}
	}
	if c.Alerting.Tiers == nil {
		c.Alerting.Tiers = map[string]*Tier{}
	}
	if c.Alerting.Interval == 0 {
		c.Alerting.Interval = DefaultAlertInterval
	}
	if c.Alerting.RepeatInterval == 0 {
		c.Alerting.RepeatInterval = DefaultRepeatInterval
	}
	if c.Alerting.CanaryTier == "" {
		c.Alerting.CanaryTier = alert.DefaultCanaryTier
	}
	for _, d := range slo.DefaultTiers {
		t := c.Alerting.Tiers[d.Name]
		if t == nil {
			t = &Tier{}
			c.Alerting.Tiers[d.Name] = t
		}
		if t.BurnRate == 0 {
			t.BurnRate = d.BurnRate
		}
		if t.Long == 0 {
			t.Long = Window(d.Long)
		}
		if t.Short == 0 {
			t.Short = Window(d.Short)
		}
	}
}

// AlertReceivers returns alerting.receivers as package alert takes them.
func (c *Config) AlertReceivers() []alert.Receiver {
	out := make([]alert.Receiver, 0, len(c.Alerting.Receivers))
	for _, r := range c.Alerting.Receivers {
		if r != nil {
			out = append(out, alert.Receiver{Name: r.Name, Alertmanager: r.Alertmanager, Webhook: r.Webhook, Tiers: slices.Clone(r.Tiers)})
		}
	}
	return out
}

// TierList returns alerting.tiers as the slo package takes them, by name.
func (c *Config) TierList() []slo.Tier {
	names := make([]string, 0, len(c.Alerting.Tiers))
	for n, t := range c.Alerting.Tiers {
		if t != nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := make([]slo.Tier, len(names))
	for i, n := range names {
		t := c.Alerting.Tiers[n]
		out[i] = slo.Tier{Name: n, BurnRate: t.BurnRate, Long: t.Long.Duration(), Short: t.Short.Duration()}
	}
	return out
}

// Objectives returns the slos as the slo package takes them, each with
// every tier of [Config.TierList].
func (c *Config) Objectives() []slo.Config {
	tiers := c.TierList()
	out := make([]slo.Config, 0, len(c.SLOs))
	for _, s := range c.SLOs {
		if s == nil {
			continue
		}
		out = append(out, slo.Config{Name: s.Name, Route: s.Route, Objective: s.Objective,
			Window: s.Window.Duration(), Good: s.Good, Tiers: tiers})
	}
	return out
}

func (c *Config) validateSLOs(errs *errorList) {
	tiersOK := c.validateTiers(errs)
	routes := make(map[string]bool, len(c.Routes))
	for _, r := range c.Routes {
		if r != nil {
			routes[r.Name] = true
		}
	}
	if len(c.SLOs) > MaxSLOs {
		errs.add("slos", "may list at most %d objectives, got %d", MaxSLOs, len(c.SLOs))
	}
	names := map[string]int{}
	for i, s := range c.SLOs {
		p := yamlpath.Index("slos", i)
		if s == nil {
			errs.add(p, "must not be empty")
			continue
		}
		if j, dup := names[s.Name]; dup && s.Name != "" {
			errs.add(p+".name", "duplicate slo name %q (also slos[%d])", s.Name, j)
		} else {
			names[s.Name] = i
		}
		if s.Name != "" && !sloName.MatchString(s.Name) {
			errs.add(p+".name", "must be letters, digits and _ . : - (at most 128, starting with a letter or digit), got %q", s.Name)
		}
		if s.Route != "" && !routes[s.Route] {
			errs.add(p+".route", "unknown route %q%s", s.Route, routeNames(c.Routes))
		}
		oc := slo.Config{Name: s.Name, Route: s.Route, Objective: s.Objective, Window: s.Window.Duration(), Good: s.Good, Tiers: tiersOK}
		err := oc.Validate()
		if errs.hasUnder(p + ".good") {
			// A good key the walker refused was left out; that good
			// then names neither is no news.
			err = dropKey(err, "good")
		}
		errs.addPolicy(p, err)
	}
}

// validateTiers checks alerting.tiers and alerting.receivers and returns the
// tiers that are valid, for checking the objectives against.
func (c *Config) validateTiers(errs *errorList) []slo.Tier {
	var ok []slo.Tier
	for _, t := range c.TierList() {
		p := "alerting.tiers." + t.Name
		if !sloName.MatchString(t.Name) {
			errs.add(p, "a tier's name must be letters, digits and _ . : - (at most 128, starting with a letter or digit), got %q", t.Name)
			continue
		}
		if err := t.Validate(); err != nil {
			errs.addPolicy(p, err)
			continue
		}
		ok = append(ok, t)
	}
	for name, t := range c.Alerting.Tiers {
		if t == nil {
			errs.add("alerting.tiers."+name, "must not be empty")
		}
	}
	if iv := c.Alerting.Interval.Duration(); iv < time.Second || iv > 5*time.Minute {
		errs.add("alerting.interval", "must be in [1s, 5m], got %s", c.Alerting.Interval)
	}
	if rp := c.Alerting.RepeatInterval.Duration(); rp < time.Minute || rp > 30*24*time.Hour {
		errs.add("alerting.repeat_interval", "must be in [1m, 30d], got %s", c.Alerting.RepeatInterval)
	}
	if _, known := c.Alerting.Tiers[c.Alerting.CanaryTier]; !known {
		errs.add("alerting.canary_tier", "unknown tier %q (have %s)", c.Alerting.CanaryTier, strings.Join(tierNames(c.Alerting.Tiers), ", "))
	}
	if c.Alerting.Instance != "" && !sloName.MatchString(c.Alerting.Instance) {
		errs.add("alerting.instance", "must be letters, digits and _ . : - (at most 128, starting with a letter or digit), got %q", c.Alerting.Instance)
	}
	names := map[string]int{}
	for i, r := range c.Alerting.Receivers {
		p := yamlpath.Index("alerting.receivers", i)
		if r == nil {
			errs.add(p, "must not be empty")
			continue
		}
		switch j, dup := names[r.Name]; {
		case r.Name == "":
			errs.add(p+".name", "is required")
		case dup:
			errs.add(p+".name", "duplicate receiver name %q (also alerting.receivers[%d])", r.Name, j)
		default:
			names[r.Name] = i
		}
		switch {
		case r.Alertmanager == "" && r.Webhook == "":
			errs.add(p, "needs alertmanager (a URL) or webhook (a URL)")
		case r.Alertmanager != "" && r.Webhook != "":
			errs.add(p, "set alertmanager or webhook, not both")
		case r.Alertmanager != "":
			checkReceiverURL(errs, p+".alertmanager", r.Alertmanager)
		default:
			checkReceiverURL(errs, p+".webhook", r.Webhook)
		}
		if len(r.Tiers) == 0 {
			errs.add(p+".tiers", "needs at least one tier, such as [P0, P1]")
		}
		seen := map[string]bool{}
		for j, t := range r.Tiers {
			tp := yamlpath.Index(p+".tiers", j)
			if _, known := c.Alerting.Tiers[t]; !known {
				errs.add(tp, "unknown tier %q (have %s)", t, strings.Join(tierNames(c.Alerting.Tiers), ", "))
			} else if seen[t] {
				errs.add(tp, "tier %q listed twice", t)
			}
			seen[t] = true
		}
	}
	return ok
}

func checkReceiverURL(errs *errorList, p, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs.add(p, "must be an http:// or https:// URL, got %q", s)
	}
}

func tierNames(m map[string]*Tier) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// routeNames names the routes, for errors about unknown ones.
func routeNames(routes []*Route) string {
	var names []string
	for _, r := range routes {
		if r != nil && r.Name != "" {
			names = append(names, r.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	if len(names) > maxKnownNames {
		return fmt.Sprintf(" (have %s and %d more)", strings.Join(names[:maxKnownNames], ", "), len(names)-maxKnownNames)
	}
	return " (have " + strings.Join(names, ", ") + ")"
}

// hasUnder reports whether an error was recorded about path or a key under
// it.
func (l *errorList) hasUnder(path string) bool {
	for _, e := range l.errs {
		if e.Path == path || strings.HasPrefix(e.Path, path+".") {
			return true
		}
	}
	return false
}

// dropKey returns err, a join of [*holdfast.ConfigError] values, without
// those of key.
func dropKey(err error, key string) error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	var keep []error
	for _, e := range j.Unwrap() {
		var ce *holdfast.ConfigError
		if errors.As(e, &ce) && ce.Key == key {
			continue
		}
		keep = append(keep, e)
	}
	return errors.Join(keep...)
}
