package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-dev/holdfast"
)

// BalancerName names the [Balancer] of [Config].Balancer. The zero value
// means [BalancerP2CEWMA].
type BalancerName string

// The balancers of [Config].Balancer.
const (
	BalancerP2CEWMA      BalancerName = "p2c_ewma"
	BalancerRoundRobin   BalancerName = "round_robin"
	BalancerLeastRequest BalancerName = "least_request"
	BalancerRandom       BalancerName = "random"
)

// UnmarshalText accepts the name of a balancer, so that a config file's
// balancer is checked, with its line, as it is read.
func (b *BalancerName) UnmarshalText(text []byte) error {
	v := BalancerName(text)
	if err := v.check(); err != nil {
		return err
	}
	*b = v
	return nil
}

func (b BalancerName) check() error {
	switch b {
	case "", BalancerP2CEWMA, BalancerRoundRobin, BalancerLeastRequest, BalancerRandom:
		return nil
	}
	return fmt.Errorf("must be one of p2c_ewma, round_robin, least_request, random, got %q", string(b))
}

// Protocol is how requests reach an upstream's endpoints, [Config].Protocol.
// The zero value means [ProtocolHTTP1].
type Protocol string

// The protocols of [Config].Protocol.
const (
	ProtocolHTTP1 Protocol = "http1"
	ProtocolH2C   Protocol = "h2c"
)

// UnmarshalText accepts the name of a protocol, so that a config file's
// protocol is checked, with its line, as it is read.
func (p *Protocol) UnmarshalText(text []byte) error {
	v := Protocol(text)
	if err := v.check(); err != nil {
		return err
	}
	*p = v
	return nil
}

func (p Protocol) check() error {
	switch p {
	case "", ProtocolHTTP1, ProtocolH2C:
		return nil
	}
	return fmt.Errorf("must be http1 or h2c, got %q", string(p))
}

// Defaults applied by [New] to zero fields of [Config].
const (
	DefaultName                           = "upstream"
	DefaultConnectTimeout                 = time.Second
	DefaultMaxIdlePerEndpoint             = 64
	DefaultIdleTimeout                    = 90 * time.Second
	DefaultMaxResponseHeaderBytes         = 64 << 10
	maxResponseHeaderBytes                = 16 << 20
	DefaultHealthPath                     = "/healthz"
	DefaultHealthInterval                 = 5 * time.Second
	DefaultHealthTimeout                  = time.Second
	DefaultHealthyThreshold               = 2
	DefaultUnhealthyThreshold             = 3
	DefaultConsecutiveFailures            = 5
	DefaultConsecutiveDeadlineMisses      = 3
	DefaultConsecutiveInvariantViolations = 3
	DefaultBaseEjectionTime               = 30 * time.Second
	DefaultMaxEjectionTime                = 300 * time.Second
	DefaultMaxEjectionPercent             = 50
)

// maxWeight bounds endpoint weights so that sums over [MaxEndpoints] weights
// and products of a weight with an in-flight count cannot overflow.
const maxWeight = 1 << 20

// Config configures an [Upstream]: a named cluster of endpoints behind one
// balancer, with active health checks, passive outlier detection and priority
// failover. The same struct is what the proxy's config file decodes for each
// entry of `upstreams:`. Zero values mean the documented default.
type Config struct {
	// Name names the upstream in events, errors and [Status]. The config
	// loader sets it from the key under `upstreams:`. Default "upstream".
	Name string `yaml:"-" json:"-"`

	// Endpoints lists the servers of the upstream; at least one and at most
	// [MaxEndpoints], each address once.
	Endpoints []EndpointConfig `yaml:"endpoints" json:"endpoints"`

	// Balancer chooses among the usable endpoints of one priority: p2c_ewma
	// (power of two choices, drawn by weight, on peak-EWMA latency times
	// in-flight requests), round_robin (smooth weighted), least_request
	// (power of two choices on in-flight requests per weight) or random
	// (weighted). Default p2c_ewma.
	Balancer BalancerName `yaml:"balancer" json:"balancer"`

	// Protocol is how requests reach the endpoints: http1 (HTTP/1.1, also
	// over TLS for https:// endpoints) or h2c (HTTP/2 with prior knowledge
	// for http:// endpoints, HTTP/2 over TLS for https:// ones). Default http1.
	Protocol Protocol `yaml:"protocol" json:"protocol"`

	// ConnectTimeout bounds establishing a TCP connection to an endpoint.
	// Default 1s.
	ConnectTimeout time.Duration `yaml:"connect_timeout" json:"connect_timeout"`

	// MaxIdlePerEndpoint is the number of idle keep-alive connections kept
	// open to each endpoint. Default 64.
	MaxIdlePerEndpoint int `yaml:"max_idle_per_endpoint" json:"max_idle_per_endpoint"`

	// IdleTimeout closes keep-alive connections idle this long. Default 90s.
	IdleTimeout time.Duration `yaml:"idle_timeout" json:"idle_timeout"`

	// MaxResponseHeaderBytes caps an endpoint's response head (status line
	// and header fields, interim 1xx answers included); a longer one fails
	// the attempt as a reset. Default 64 KiB, at most 16 MiB.
	MaxResponseHeaderBytes int `yaml:"max_response_header_bytes" json:"max_response_header_bytes"`

	// TLS configures connections to https:// endpoints. Nil means the
	// defaults: the system's roots, and the endpoint's host as server name.
	TLS *TLSConfig `yaml:"tls" json:"tls,omitempty"`

	// HealthCheck configures active health checks. Nil (the key left out)
	// means none: endpoints count as healthy unless ejected. An empty block,
	// `health_check: {}`, turns them on with every default.
	HealthCheck *HealthCheckConfig `yaml:"health_check" json:"health_check"`

	// OutlierDetection configures passive ejection of endpoints that fail or
	// answer late. It is on by default.
	OutlierDetection OutlierConfig `yaml:"outlier_detection" json:"outlier_detection"`

	// Listener receives an [holdfast.EventStateChange] for every endpoint
	// health change, ejection, return and panic-mode change. Nil means none.
	Listener holdfast.Listener `yaml:"-" json:"-"`

	// OnChange receives the same changes as Listener with the endpoint they
	// concern, for per-endpoint metrics. Nil means none. Like Listener it is
	// called without locks held, possibly from several goroutines at once,
	// so changes made at nearly the same instant by different goroutines
	// (two ejection timers, say) may arrive in either order.
	OnChange func(Change) `yaml:"-" json:"-"`

	// Logger logs the same changes at Info level. Nil means silent.
	Logger *slog.Logger `yaml:"-" json:"-"`

	// Dial, when set, opens the connections of the HTTP/1.1 transport
	// (protocol http1) in place of a TCP dial: addr is the endpoint's
	// host:port (with the scheme's default port when the address names
	// none) and network is "tcp". ConnectTimeout still bounds it, through
	// ctx, and for an https:// endpoint the TLS handshake runs over the
	// connection it returns. It must be safe for concurrent use. Tests use
	// it to reach endpoints in memory (over net.Pipe, say, inside a
	// testing/synctest bubble); a config file cannot set it. The h2c
	// protocol does not use it. Nil means dial TCP.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error) `yaml:"-" json:"-"`

	// Transport, when set, replaces the *http.Transport that [New] builds
	// from the fields above, both for [Upstream.Transport] and for health
	// checks. Tests use it to answer health checks in memory. Nil means build
	// one.
	Transport http.RoundTripper `yaml:"-" json:"-"`
}

// TLSConfig configures TLS to an upstream's https:// endpoints. The zero
// value verifies the endpoint's certificate against the system's roots for
// the host named in its address.
type TLSConfig struct {
	// CAFile is a PEM file of the certificate authorities to trust instead
	// of the system's roots. Default none: the system's roots.
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty"`
	// ServerName is the name sent in SNI and checked against the
	// certificate. Default: the host of each endpoint's address.
	ServerName string `yaml:"server_name" json:"server_name,omitempty"`
	// InsecureSkipVerify accepts any certificate. Default false; meant for
	// tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" json:"insecure_skip_verify,omitempty"`
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// endpoints that require mutual TLS. Default none; both or neither.
	CertFile string `yaml:"cert_file" json:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file" json:"key_file,omitempty"`
}

// EndpointConfig is one server of an upstream.
type EndpointConfig struct {
	// Address is the endpoint's base URL: http:// or https://, a host, an
	// optional port, and no path, query or user information. Required.
	Address string `yaml:"address" json:"address"`

	// Weight is the endpoint's share of traffic relative to the other
	// endpoints of its priority, from 1 to 1048576. Default 1.
	Weight int `yaml:"weight" json:"weight"`

	// Priority is the endpoint's failover group. Traffic goes to the lowest
	// priority that has a usable endpoint; higher ones are standbys.
	// Default 0, the primary group.
	Priority int `yaml:"priority" json:"priority"`
}

// HealthCheckConfig configures active health checks: every Interval (plus up
// to Jitter) each endpoint gets an HTTP GET of Path, which passes when it
// answers with an expected status within Timeout. HealthyThreshold passes in a
// row mark an unhealthy endpoint healthy; UnhealthyThreshold failures in a row
// mark a healthy one unhealthy. Endpoints start healthy, and the first round
// of checks runs as soon as the [Upstream] is created.
type HealthCheckConfig struct {
	// Path is the path requested, starting with "/". Default "/healthz".
	Path string `yaml:"path" json:"path"`

	// Host overrides the Host header of checks. Default the endpoint's host.
	Host string `yaml:"host" json:"host"`

	// Interval is the time between rounds of checks. Default 5s.
	Interval time.Duration `yaml:"interval" json:"interval"`

	// Jitter is the most random time added to each interval, so that many
	// proxies do not probe in step. Default a tenth of Interval.
	Jitter time.Duration `yaml:"jitter" json:"jitter"`

	// Timeout bounds one check. Default 1s.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`

	// HealthyThreshold is the passes in a row that mark an endpoint healthy.
	// Default 2.
	HealthyThreshold int `yaml:"healthy_threshold" json:"healthy_threshold"`

	// UnhealthyThreshold is the failures in a row that mark an endpoint
	// unhealthy. Default 3.
	UnhealthyThreshold int `yaml:"unhealthy_threshold" json:"unhealthy_threshold"`

	// ExpectedStatuses lists the status codes that pass. Default any status
	// from 200 to 399; redirects are not followed.
	ExpectedStatuses []int `yaml:"expected_statuses" json:"expected_statuses"`
}

// OutlierConfig configures passive outlier detection. Each answer recorded
// with [Endpoint.Done] feeds it: ConsecutiveFailures failures in a row,
// ConsecutiveInvariantViolations [Invalid] answers in a row, or
// ConsecutiveDeadlineMisses answers in a row slower than Deadline, eject the
// endpoint for BaseEjectionTime times the number of its recent ejections,
// capped by MaxEjectionTime. An ejected endpoint returns on probation, where a
// single failure, invalid answer or deadline miss ejects it again and a
// timely success clears it. Ejection never removes more than MaxEjectionPercent of the upstream's
// endpoints.
type OutlierConfig struct {
	// Disabled turns passive outlier detection off.
	Disabled bool `yaml:"disabled" json:"disabled"`

	// ConsecutiveFailures is the failures in a row that eject an endpoint.
	// Default 5.
	ConsecutiveFailures int `yaml:"consecutive_failures" json:"consecutive_failures"`

	// ConsecutiveInvariantViolations is the [Invalid] answers in a row (a
	// proxy route's response checks broken) that eject an endpoint; only a
	// [Valid] answer ends the streak. Default 3: a wrong answer says more
	// about an endpoint than a failed one.
	ConsecutiveInvariantViolations int `yaml:"consecutive_invariant_violations" json:"consecutive_invariant_violations"`

	// Deadline is the answer time past which an answer, even a successful
	// one, counts as a deadline miss. Zero means answers are never late.
	Deadline time.Duration `yaml:"deadline" json:"deadline"`

	// ConsecutiveDeadlineMisses is the deadline misses in a row that eject an
	// endpoint. Default 3.
	ConsecutiveDeadlineMisses int `yaml:"consecutive_deadline_misses" json:"consecutive_deadline_misses"`

	// BaseEjectionTime is the first ejection's length; the n-th recent
	// ejection lasts n times as long. An endpoint forgets one ejection for
	// every MaxEjectionTime it stays in service. Default 30s, or
	// MaxEjectionTime when that is shorter.
	BaseEjectionTime time.Duration `yaml:"base_ejection_time" json:"base_ejection_time"`

	// MaxEjectionTime caps an ejection's length; it must not be below
	// BaseEjectionTime. Default 300s, or BaseEjectionTime when that is longer.
	MaxEjectionTime time.Duration `yaml:"max_ejection_time" json:"max_ejection_time"`

	// MaxEjectionPercent is the largest share of the upstream's endpoints,
	// from 1 to 100, that may be ejected at once; an ejection that would pass
	// it does not happen. Default 50 (Envoy's 10 would never eject anything
	// from an upstream of fewer than ten endpoints).
	MaxEjectionPercent int `yaml:"max_ejection_percent" json:"max_ejection_percent"`
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Balancer == "" {
		c.Balancer = BalancerP2CEWMA
	}
	if c.Protocol == "" {
		c.Protocol = ProtocolHTTP1
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.MaxIdlePerEndpoint == 0 {
		c.MaxIdlePerEndpoint = DefaultMaxIdlePerEndpoint
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxResponseHeaderBytes == 0 {
		c.MaxResponseHeaderBytes = DefaultMaxResponseHeaderBytes
	}
	eps := make([]EndpointConfig, len(c.Endpoints))
	copy(eps, c.Endpoints)
	for i := range eps {
		if eps[i].Weight == 0 {
			eps[i].Weight = 1
		}
	}
	c.Endpoints = eps
	if c.HealthCheck != nil {
		hc := c.HealthCheck.withDefaults()
		c.HealthCheck = &hc
	}
	c.OutlierDetection = c.OutlierDetection.withDefaults()
	return c
}

func (h HealthCheckConfig) withDefaults() HealthCheckConfig {
	if h.Path == "" {
		h.Path = DefaultHealthPath
	}
	if h.Interval == 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Jitter == 0 {
		h.Jitter = h.Interval / 10
	}
	if h.Timeout == 0 {
		h.Timeout = DefaultHealthTimeout
	}
	if h.HealthyThreshold == 0 {
		h.HealthyThreshold = DefaultHealthyThreshold
	}
	if h.UnhealthyThreshold == 0 {
		h.UnhealthyThreshold = DefaultUnhealthyThreshold
	}
	h.ExpectedStatuses = append([]int(nil), h.ExpectedStatuses...)
	return h
}

func (o OutlierConfig) withDefaults() OutlierConfig {
	if o.ConsecutiveFailures == 0 {
		o.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if o.ConsecutiveDeadlineMisses == 0 {
		o.ConsecutiveDeadlineMisses = DefaultConsecutiveDeadlineMisses
	}
	if o.ConsecutiveInvariantViolations == 0 {
		o.ConsecutiveInvariantViolations = DefaultConsecutiveInvariantViolations
	}
	if o.BaseEjectionTime == 0 {
		o.BaseEjectionTime = DefaultBaseEjectionTime
		if o.MaxEjectionTime > 0 {
			o.BaseEjectionTime = min(o.BaseEjectionTime, o.MaxEjectionTime)
		}
	}
	if o.MaxEjectionTime == 0 {
		o.MaxEjectionTime = max(DefaultMaxEjectionTime, o.BaseEjectionTime)
	}
	if o.MaxEjectionPercent == 0 {
		o.MaxEjectionPercent = DefaultMaxEjectionPercent
	}
	return o
}

// Validate reports every invalid value of c as a [*holdfast.ConfigError]
// whose Key is the value's YAML path inside the upstream, such as
// "outlier_detection.max_ejection_percent", joined with [errors.Join]. Zero
// values are valid: they stand for the defaults. It returns nil when c is
// valid.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, holdfast.ConfigErrorf("upstream", key, format, args...))
	}

	switch n := len(c.Endpoints); {
	case n == 0:
		bad("endpoints", "must list at least one endpoint")
	case n > MaxEndpoints:
		bad("endpoints", "must list at most %d endpoints, got %d", MaxEndpoints, n)
	}
	seen := make(map[string]int, len(c.Endpoints))
	for i, ep := range c.Endpoints {
		key := "endpoints[" + strconv.Itoa(i) + "]"
		u, err := parseAddress(ep.Address)
		if err != nil {
			bad(key+".address", "%v", err)
		} else if j, dup := seen[u.String()]; dup {
			bad(key+".address", "duplicate of endpoints[%d]: %q", j, ep.Address)
		} else {
			seen[u.String()] = i
		}
		if ep.Weight < 0 || ep.Weight > maxWeight {
			bad(key+".weight", "must be in [1, %d], got %d", maxWeight, ep.Weight)
		}
		if ep.Priority < 0 {
			bad(key+".priority", "must not be negative, got %d", ep.Priority)
		}
	}

	if err := c.Balancer.check(); err != nil {
		bad("balancer", "%v", err)
	}
	if err := c.Protocol.check(); err != nil {
		bad("protocol", "%v", err)
	}
	nonNegative := func(key string, d time.Duration) {
		if d < 0 {
			bad(key, "must not be negative, got %v", d)
		}
	}
	nonNegative("connect_timeout", c.ConnectTimeout)
	nonNegative("idle_timeout", c.IdleTimeout)
	if c.MaxIdlePerEndpoint < 0 {
		bad("max_idle_per_endpoint", "must not be negative, got %d", c.MaxIdlePerEndpoint)
	}
	if n := c.MaxResponseHeaderBytes; n < 0 || n > maxResponseHeaderBytes {
		bad("max_response_header_bytes", "must be in [1, %d], got %d", maxResponseHeaderBytes, n)
	}
	if t := c.TLS; t != nil {
		if _, err := t.clientConfig(); err != nil {
			bad("tls", "%v", err)
		}
	}

	if h := c.HealthCheck; h != nil {
		if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
			bad("health_check.path", "must start with /, got %q", h.Path)
		} else if h.Path != "" {
			if _, err := url.ParseRequestURI(h.Path); err != nil {
				bad("health_check.path", "is not a valid request path: %q", h.Path)
			}
		}
		nonNegative("health_check.interval", h.Interval)
		nonNegative("health_check.jitter", h.Jitter)
		nonNegative("health_check.timeout", h.Timeout)
		if h.HealthyThreshold < 0 {
			bad("health_check.healthy_threshold", "must not be negative, got %d", h.HealthyThreshold)
		}
		if h.UnhealthyThreshold < 0 {
			bad("health_check.unhealthy_threshold", "must not be negative, got %d", h.UnhealthyThreshold)
		}
		for i, s := range h.ExpectedStatuses {
			if s < 100 || s > 599 {
				bad("health_check.expected_statuses["+strconv.Itoa(i)+"]", "must be an HTTP status from 100 to 599, got %d", s)
			}
		}
	}

	o := c.OutlierDetection
	if o.ConsecutiveFailures < 0 {
		bad("outlier_detection.consecutive_failures", "must not be negative, got %d", o.ConsecutiveFailures)
	}
	if o.ConsecutiveInvariantViolations < 0 {
		bad("outlier_detection.consecutive_invariant_violations", "must not be negative, got %d", o.ConsecutiveInvariantViolations)
	}
	nonNegative("outlier_detection.deadline", o.Deadline)
	if o.ConsecutiveDeadlineMisses < 0 {
		bad("outlier_detection.consecutive_deadline_misses", "must not be negative, got %d", o.ConsecutiveDeadlineMisses)
	}
	nonNegative("outlier_detection.base_ejection_time", o.BaseEjectionTime)
	nonNegative("outlier_detection.max_ejection_time", o.MaxEjectionTime)
	if o.MaxEjectionTime > 0 && o.BaseEjectionTime > 0 && o.MaxEjectionTime < o.BaseEjectionTime {
		bad("outlier_detection.max_ejection_time", "must not be below base_ejection_time %v, got %v", o.BaseEjectionTime, o.MaxEjectionTime)
	}
	if o.MaxEjectionPercent < 0 || o.MaxEjectionPercent > 100 {
		bad("outlier_detection.max_ejection_percent", "must be in [1, 100], got %d", o.MaxEjectionPercent)
	}
	return errors.Join(errs...)
}

// parseAddress parses an endpoint address and returns it in canonical form:
// lower-case scheme and host, no trailing slash.
func parseAddress(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("must not be empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("is not a valid URL: " + strconv.Quote(redactUserinfo(s)))
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return nil, errors.New("must be an http:// or https:// URL, got " + strconv.Quote(s))
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("must name a host, got " + strconv.Quote(s))
	}
	if u.User != nil {
		// Redacted: the password must not reach an error, a log or /status.
		return nil, errors.New("must not carry user information, got " + strconv.Quote(u.Redacted()))
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, errors.New("must not have a path, query or fragment, got " + strconv.Quote(s))
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > math.MaxUint16 {
			return nil, errors.New("must have a port from 1 to 65535, got " + strconv.Quote(s))
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, errors.New("must have a port from 1 to 65535, got " + strconv.Quote(s))
	}
	host := strings.ToLower(u.Host)
	if u.Port() == "" {
		// The scheme's default port, so that http://a and http://a:80 are
		// one endpoint and every dial names its port.
		if scheme == "https" {
			host = net.JoinHostPort(u.Hostname(), "443")
		} else {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
		host = strings.ToLower(host)
	}
	return &url.URL{Scheme: scheme, Host: host}, nil
}

// redactUserinfo hides whatever stands between "://" and the next "@" of a
// raw address that did not parse, where a password may sit.
func redactUserinfo(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s
	}
	return s[:i+3] + "REDACTED" + rest[at:]
}
