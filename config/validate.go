package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

var configType = reflect.TypeFor[Config]()

// Defaults for keys the file leaves out.
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxBodyBytes      = 10 << 20
	DefaultMaxHeaders        = 100
	DefaultStreamIdleTimeout = 5 * time.Minute
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultDrainDelay        = 5 * time.Second
	DefaultDrainTimeout      = 30 * time.Second
	DefaultRouteTimeout      = 15 * time.Second
	DefaultReplayBodyBytes   = 64 << 10
)

// Bounds on keys whose values size buffers or enter arithmetic: past them a
// value would not be refused but would break requests (net/http adds its
// slack to max_header_bytes and overflows, a replay buffer's size overflows
// when 1 is added, split weights overflow when summed).
const (
	// MaxHeaderBytes bounds limits.max_header_bytes: 1 MiB, 16 times the
	// default and twice Envoy's largest max_request_headers_kb default.
	MaxHeaderBytes = 1 << 20
	// MaxHeaders bounds limits.max_headers.
	MaxHeaders = 10_000
	// MaxConnections bounds limits.max_connections: 16 Mi, past any
	// file-descriptor limit.
	MaxConnections = 1 << 24
	// MaxReplayBodyBytes bounds retry.max_body_bytes, the request body a
	// route keeps in memory to send again: 1 GiB.
	MaxReplayBodyBytes = 1 << 30
	// MaxSplitWeight bounds a split's weight, as upstream endpoint weights
	// are bounded.
	MaxSplitWeight = 1 << 20
)

func (c *Config) applyDefaults() {
	if len(c.Listen) == 0 {
		c.Listen = Listen{DefaultListen}
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = DefaultAdminListen
	}
	l := &c.Limits
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxHeaders == 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	if l.StreamIdleTimeout == 0 {
		l.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
	if l.ReadHeaderTimeout == 0 {
		l.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if l.ReadTimeout == 0 {
		l.ReadTimeout = DefaultReadTimeout
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if c.Drain.Delay == 0 {
		c.Drain.Delay = DefaultDrainDelay
	}
	if c.Drain.Timeout == 0 {
		c.Drain.Timeout = DefaultDrainTimeout
	}
	if c.AccessLog.Sample == 0 {
		c.AccessLog.Sample = 1
	}
	if c.Tracing.ServiceName == "" {
		c.Tracing.ServiceName = "holdfast"
	}
	for name, u := range c.Upstreams {
		if u == nil {
			continue
		}
		u.Name = name
		applySharedBreakerDefaults(u)
	}
	c.applyRedisDefaults()
	for _, r := range c.Routes {
		if r == nil {
			continue
		}
		if r.Timeout == 0 {
			r.Timeout = DefaultRouteTimeout
		}
		if r.Retry == nil {
			r.Retry = &Retry{}
		}
		if r.Retry.RetryOn == (RetryOn{}) {
			r.Retry.RetryOn = DefaultRetryOn
			r.Retry.RetryOn.RetriableStatus = len(r.Retry.RetriableStatuses) > 0
		}
		if r.Retry.MaxBodyBytes == 0 {
			r.Retry.MaxBodyBytes = DefaultReplayBodyBytes
		}
		if f := r.Fallback; f != nil {
			if f.Status == 0 {
				f.Status = 200
			}
			if f.On == (FallbackOn{}) {
				f.On = DefaultFallbackOn
			}
		}
	}
	c.applyVoteDefaults()
	c.applyStoreDefaults()
	c.applyChecksDefaults()
	c.applyCanaryDefaults()
	c.applyShadowDefaults()
	c.applyQuiesceDefaults()
	c.applySLODefaults()
}

// validate checks the config, defaults applied, block by block; each
// check adds what it finds to errs.
func (c *Config) validate(errs *errorList) {
	c.validateListen(errs)
	c.validateAdmin(errs)
	c.validateLimits(errs)
	c.validateAccessLog(errs)
	c.validateTracing(errs)
	c.validateRedis(errs)
	c.validateUpstreams(errs)
	c.validateRoutes(errs)
	c.validateStore(errs)
	c.validateSLOs(errs)
	c.validateQuiesceDefaults(errs) // quiesce.go
}

func (c *Config) validateListen(errs *errorList) {
	for i, addr := range c.Listen {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs.add(yamlpath.Index("listen", i), "must be host:port, got %q", addr)
		}
	}
}

func (c *Config) validateAdmin(errs *errorList) {
	errs.addPolicy("admin", c.Admin.Validate())
	if c.Admin.TokenFile != "" {
		if _, err := ReadSecretFile(c.Admin.TokenFile); err != nil {
			errs.add("admin.token_file", "cannot read: %v", err)
		}
	}
}

func (c *Config) validateLimits(errs *errorList) {
	l := c.Limits
	if l.MaxHeaderBytes < 0 || l.MaxHeaderBytes > MaxHeaderBytes {
		errs.add("limits.max_header_bytes", "must be in [1, %d] (1 MiB), got %d", MaxHeaderBytes, l.MaxHeaderBytes)
	}
	if l.MaxHeaders < 0 || l.MaxHeaders > MaxHeaders {
		errs.add("limits.max_headers", "must be in [1, %d], got %d", MaxHeaders, l.MaxHeaders)
	}
	if l.StreamIdleTimeout < 0 {
		errs.add("limits.stream_idle_timeout", "must not be negative, got %s", l.StreamIdleTimeout)
	}
	if l.MaxConnections < 0 || l.MaxConnections > MaxConnections {
		errs.add("limits.max_connections", "must be in [0, %d] (0: no cap), got %d", MaxConnections, l.MaxConnections)
	}
	if l.MaxBodyBytes < -1 {
		errs.add("limits.max_body_bytes", "must be positive, or -1 for no limit, got %d", l.MaxBodyBytes)
	}
}

func (c *Config) validateAccessLog(errs *errorList) {
	if s := c.AccessLog.Sample; s <= 0 || s > 1 {
		errs.add("access_log.sample", "must be in (0, 1], got %g", s)
	}
}

func (c *Config) validateTracing(errs *errorList) {
	t := c.Tracing
	if t.OTLPEndpoint != "" {
		u, err := url.Parse(t.OTLPEndpoint)
		switch {
		case err != nil:
			errs.add("tracing.otlp_endpoint", "must be a URL, got %q", redact(t.OTLPEndpoint))
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
			errs.add("tracing.otlp_endpoint", "must be an http:// or https:// URL, got %q", u.Redacted())
		}
	}
	if r := t.SamplingRatio; r != nil && !(*r >= 0 && *r <= 1) {
		errs.add("tracing.sampling_ratio", "must be in [0, 1], got %g", *r)
	}
}

func (c *Config) validateUpstreams(errs *errorList) {
	if len(c.Upstreams) == 0 {
		errs.add("upstreams", "at least one upstream is required")
	}
	for name, u := range c.Upstreams {
		validateUpstream(errs, yamlpath.Join("upstreams", name), u)
		if u != nil {
			c.validateSharedBreaker(errs, yamlpath.Join("upstreams", name), u)
		}
	}
}

func validateUpstream(errs *errorList, p string, u *Upstream) {
	if u == nil {
		errs.add(p, "must not be empty")
		return
	}
	errs.addPolicy(p, u.Config.Validate())
	if u.CircuitBreaker != nil {
		errs.addPolicy(p+".circuit_breaker", u.CircuitBreaker.Validate())
	}
	if cc := u.Concurrency; cc != nil {
		validateConcurrency(errs, p+".concurrency", cc)
	}
	if u.RetryBudget != nil {
		// BudgetConfig keys its errors as "budget.<key>", as they read
		// inside a retry block; here the block is retry_budget.
		errs.addPolicy(p+".retry_budget", stripKeyPrefix(u.RetryBudget.Validate(), "budget."))
	}
}

func validateConcurrency(errs *errorList, p string, cc *Concurrency) {
	if cc.Adaptive != nil {
		if cc.Limit != 0 || cc.Queue != 0 || cc.QueueTimeout != 0 {
			errs.add(p, "set either limit (with queue, queue_timeout) or adaptive, not both")
		}
		errs.addPolicy(p+".adaptive", cc.Adaptive.Validate())
		return
	}
	if cc.Limit == 0 {
		errs.add(p+".limit", "is required unless adaptive is set")
	}
	errs.addPolicy(p, cc.Config.Validate())
}

func (c *Config) validateRoutes(errs *errorList) {
	if len(c.Routes) == 0 {
		errs.add("routes", "at least one route is required")
	}
	v := routeCheck{errs: errs, upstreams: c.Upstreams, names: make(map[string]int, len(c.Routes))}
	for i, r := range c.Routes {
		v.route(yamlpath.Index("routes", i), i, r)
		if r != nil && r.RateLimit != nil {
			c.validateScope(errs, yamlpath.Index("routes", i)+".rate_limit.scope", r.RateLimit)
		}
		if r != nil {
			validatePriority(errs, yamlpath.Index("routes", i)+".priority", r.Priority)
		}
	}
}

// routeCheck validates routes, remembering across them the names seen and
// the list of upstream names that errors about unknown ones give.
type routeCheck struct {
	errs      *errorList
	upstreams map[string]*Upstream
	names     map[string]int // route name -> index of its route
	have      *string        // the upstream names, once an error needs them
}

func (v *routeCheck) route(p string, i int, r *Route) {
	errs := v.errs
	if r == nil {
		errs.add(p, "must not be empty")
		return
	}
	if r.Name == "" {
		errs.add(p+".name", "is required")
	} else if j, dup := v.names[r.Name]; dup {
		errs.add(p+".name", "duplicate route name %q (also routes[%d])", r.Name, j)
	} else {
		v.names[r.Name] = i
	}
	validateMatch(errs, p+".match", r.Match)
	v.targets(p, r)
	if r.Timeout <= 0 {
		errs.add(p+".timeout", "must be positive")
	}
	validateRetry(errs, p+".retry", r)
	if r.Hedge != nil {
		errs.addPolicy(p+".hedge", r.Hedge.Validate())
	}
	if rl := r.RateLimit; rl != nil {
		validateRateLimit(errs, p+".rate_limit", rl)
	}
	if f := r.Fallback; f != nil {
		validateFallback(errs, p+".fallback", f)
	}
	if f := r.Fault; f != nil {
		validateFault(errs, p+".fault", f)
	}
	validateChecks(errs, p, r) // checks.go
	if r.Canary != nil {
		v.canary(p, r) // canary.go
	}
	if r.Shadow != nil {
		v.shadow(p, r) // shadow.go
	}
	if r.Quiesce != nil {
		validateQuiesce(errs, p, r) // quiesce.go
	}
	v.durable(p, r) // durable.go
}

// targets checks the upstream or the split a route sends to.
func (v *routeCheck) targets(p string, r *Route) {
	if r.Vote != nil {
		v.vote(p, r) // vote.go: the voters are the targets
		return
	}
	errs := v.errs
	switch {
	case r.Upstream != "" && len(r.Split) > 0:
		errs.add(p, "set upstream or split, not both")
	case r.Upstream == "" && len(r.Split) == 0:
		errs.add(p+".upstream", "is required (or split)")
	case r.Upstream != "":
		if _, ok := v.upstreams[r.Upstream]; !ok {
			errs.add(p+".upstream", "unknown upstream %q%s", r.Upstream, v.haveNames())
		}
	}
	for j, s := range r.Split {
		sp := yamlpath.Index(p+".split", j)
		if _, ok := v.upstreams[s.Upstream]; !ok {
			errs.add(sp+".upstream", "unknown upstream %q%s", s.Upstream, v.haveNames())
		}
		if s.Weight < 0 || s.Weight > MaxSplitWeight {
			errs.add(sp+".weight", "must be in [0, %d], got %d", MaxSplitWeight, s.Weight)
		}
	}
	if len(r.Split) > 0 && r.Canary == nil && !slices.ContainsFunc(r.Split, func(s Split) bool { return s.Weight > 0 }) {
		errs.add(p+".split", "needs a weight above 0: no upstream would get a request")
	}
}

// haveNames names the upstreams, for errors about unknown ones; it is
// worked out once, not once an error.
func (v *routeCheck) haveNames() string {
	if v.have == nil {
		s := knownNames(v.upstreams)
		v.have = &s
	}
	return *v.have
}

func validateRateLimit(errs *errorList, p string, rl *RateLimit) {
	errs.addPolicy(p, rl.KeyedConfig.Validate())
}

func validateFallback(errs *errorList, p string, f *Fallback) {
	if f.Status < 100 || f.Status > 599 {
		errs.add(p+".status", "must be an HTTP status (100-599), got %d", f.Status)
	}
}

func validateFault(errs *errorList, p string, f *Fault) {
	if d := f.Delay; d != nil {
		checkPercent(errs, p+".delay.percent", d.Percent)
		if d.Duration <= 0 {
			errs.add(p+".delay.duration", "must be positive")
		}
	}
	if a := f.Abort; a != nil {
		checkPercent(errs, p+".abort.percent", a.Percent)
		if a.Status < 100 || a.Status > 599 {
			errs.add(p+".abort.status", "must be an HTTP status (100-599), got %d", a.Status)
		}
	}
}

func validateRetry(errs *errorList, p string, r *Route) {
	rt := r.Retry
	errs.addPolicy(p, rt.Config.Validate())
	for j, s := range rt.RetriableStatuses {
		if s < 100 || s > 599 {
			errs.add(yamlpath.Index(p+".retriable_statuses", j), "must be an HTTP status (100-599), got %d", s)
		}
	}
	if rt.MaxBodyBytes < 0 || rt.MaxBodyBytes > MaxReplayBodyBytes {
		errs.add(p+".max_body_bytes", "must be in [0, %d] (1 GiB), got %d", MaxReplayBodyBytes, rt.MaxBodyBytes)
	}
	if rt.PerTryTimeout > r.Timeout {
		errs.add(p+".per_try_timeout", "%s is longer than the route timeout %s", rt.PerTryTimeout, r.Timeout)
	}
}

var methodToken = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func validateMatch(errs *errorList, p string, m Match) {
	if m.Path != "" && !strings.HasPrefix(m.Path, "/") {
		errs.add(p+".path", "must start with /, got %q", m.Path)
	}
	if m.PathPrefix != "" && !strings.HasPrefix(m.PathPrefix, "/") {
		errs.add(p+".path_prefix", "must start with /, got %q", m.PathPrefix)
	}
	if m.PathRegex != "" {
		if _, err := regexp.Compile(m.PathRegex); err != nil {
			errs.add(p+".path_regex", "invalid regular expression: %v", err)
		}
	}
	for j, meth := range m.Methods {
		if !methodToken.MatchString(meth) {
			errs.add(yamlpath.Index(p+".methods", j), "not an HTTP method: %q", meth)
		}
	}
	for j, h := range m.Headers {
		hp := yamlpath.Index(p+".headers", j)
		if h.Name == "" || !methodToken.MatchString(h.Name) {
			errs.add(hp+".name", "must be a header name, got %q", h.Name)
		}
		set := 0
		if h.Exact != "" {
			set++
		}
		if h.Regex != "" {
			set++
			if _, err := regexp.Compile(h.Regex); err != nil {
				errs.add(hp+".regex", "invalid regular expression: %v", err)
			}
		}
		if h.Present != nil {
			set++
		}
		if set > 1 {
			errs.add(hp, "set only one of exact, regex and present")
		}
		if set == 0 {
			errs.add(hp, "set one of exact, regex or present (present: true matches any value)")
		}
	}
}

// stripKeyPrefix removes prefix from the keys of the ConfigErrors in err.
func stripKeyPrefix(err error, prefix string) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range flatten(err) {
		var ce *holdfast.ConfigError
		if errors.As(e, &ce) {
			c := *ce
			c.Key = strings.TrimPrefix(c.Key, prefix)
			e = &c
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

func checkPercent(errs *errorList, p string, v float64) {
	if !(v >= 0 && v <= 100) {
		errs.add(p, "must be in [0, 100], got %g", v)
	}
}

// maxKnownNames is how many upstream names an unknown-upstream error lists.
const maxKnownNames = 10

// knownNames lists the first names of m in order, for an error about a
// name m lacks: all of them, or the first 10 and how many more.
func knownNames(m map[string]*Upstream) string {
	if len(m) == 0 {
		return ""
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) > maxKnownNames {
		return fmt.Sprintf(" (have %s and %d more)", strings.Join(names[:maxKnownNames], ", "), len(names)-maxKnownNames)
	}
	return " (have " + strings.Join(names, ", ") + ")"
}
