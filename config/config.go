// Package config reads holdfast's YAML configuration: the schema, its
// defaults, and validation whose every error names the key path and line,
// such as "routes[2].retry.budget.ratio (line 41): must be in (0, 1], got 1.5".
//
// The schema embeds the policy packages' own Config structs, so the library
// and the file describe each policy once. See docs/config.md for every key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/adaptive"
	"github.com/holdfast-dev/holdfast/breaker"
	"github.com/holdfast-dev/holdfast/bulkhead"
	"github.com/holdfast-dev/holdfast/hedge"
	"github.com/holdfast-dev/holdfast/retry"
	"github.com/holdfast-dev/holdfast/upstream"
)

// Config is a whole holdfast.yaml.
type Config struct {
	// Listen is the data plane's address or list of addresses.
	// Default 127.0.0.1:8080.
	Listen Listen `yaml:"listen" json:"listen"`
	// Admin is the admin server.
	Admin Admin `yaml:"admin" json:"admin"`
	// Limits bounds what a client may send.
	Limits Limits `yaml:"limits" json:"limits"`
	// Drain controls shutdown on SIGTERM.
	Drain Drain `yaml:"drain" json:"drain"`
	// AccessLog turns on one JSON log line per request.
	AccessLog AccessLog `yaml:"access_log" json:"access_log"`
	// Tracing sends OpenTelemetry traces of requests. Default off.
	Tracing Tracing `yaml:"tracing" json:"tracing"`
	// Redis keeps the rate limits whose scope is global, shared by every
	// holdfast that uses the same Redis. Default none.
	Redis *Redis `yaml:"redis" json:"redis,omitempty"`
	// Store is where durable routes and idempotency records keep their
	// state (store.go). Opened only when a route needs it.
	Store Store `yaml:"store" json:"store"`
	// PathNormalization says how request paths are normalized before
	// routing.
	PathNormalization PathNormalization `yaml:"path_normalization" json:"path_normalization"`
	// Upstreams are the clusters routes send to, by name.
	Upstreams map[string]*Upstream `yaml:"upstreams" json:"upstreams"`
	// Routes are tried in order; the first that matches takes the request.
	Routes []*Route `yaml:"routes" json:"routes"`
	// SLOs are service-level objectives on routes (slo.go). Default none.
	SLOs []*SLO `yaml:"slos" json:"slos,omitempty"`
	// Alerting is the burn-rate tiers and their receivers (slo.go).
	Alerting Alerting `yaml:"alerting" json:"alerting"`
	// Quiesce is what every route's quiesce block inherits (quiesce.go).
	Quiesce QuiesceDefaults `yaml:"quiesce" json:"quiesce"`
}

// Listen is one address or a list of them.
type Listen []string

// UnmarshalYAML accepts a single address or a list.
func (l *Listen) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = Listen{n.Value}
		return nil
	case yaml.SequenceNode:
		var s []string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = s
		return nil
	}
	return &Error{Line: n.Line, Msg: "must be an address or a list of addresses"}
}

var (
	stringType      = reflect.TypeFor[string]()
	stringSliceType = reflect.TypeFor[[]string]()
)

// yamlShape lets the walker check listen with the rest of the file: one
// address is a string, a list is a list of strings.
func (Listen) yamlShape(n *yaml.Node) (reflect.Type, string) {
	switch n.Kind {
	case yaml.ScalarNode:
		return stringType, ""
	case yaml.SequenceNode:
		return stringSliceType, ""
	}
	return nil, "must be an address or a list of addresses"
}

// Limits bounds client requests.
type Limits struct {
	// MaxHeaderBytes caps the request line and headers. Default 64 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes" json:"max_header_bytes"`
	// MaxHeaders caps the number of request header fields; more get 431
	// (as Envoy's max_headers_count). Default 100.
	MaxHeaders int `yaml:"max_headers" json:"max_headers"`
	// MaxBodyBytes caps a request body; a larger one gets 413. Default 10 MiB;
	// -1 means no limit.
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes"`
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout" json:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included. Default 60s.
	ReadTimeout time.Duration `yaml:"read_timeout" json:"read_timeout"`
	// IdleTimeout closes a keep-alive client connection idle this long.
	// Default 60s.
	IdleTimeout time.Duration `yaml:"idle_timeout" json:"idle_timeout"`
	// StreamIdleTimeout ends a request or response stream on which no byte
	// moved either way for this long, whatever the route timeout (as
	// Envoy's stream_idle_timeout). Default 5m.
	StreamIdleTimeout time.Duration `yaml:"stream_idle_timeout" json:"stream_idle_timeout"`
	// MaxConnections caps the client connections open at once on the
	// data plane's listeners; one more is closed as soon as it is
	// accepted (as Envoy's max_downstream_connections). Default 0: no cap.
	MaxConnections int `yaml:"max_connections" json:"max_connections"`
}

// Drain controls graceful shutdown.
type Drain struct {
	// Delay keeps listeners open after SIGTERM, while /readyz already fails,
	// so load balancers notice. Default 5s.
	Delay time.Duration `yaml:"delay" json:"delay"`
	// Timeout bounds how long in-flight requests may take to finish.
	// Default 30s.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
}

// AccessLog configures the per-request log.
type AccessLog struct {
	// Enabled turns the log on. Default off.
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Sample is the fraction of requests logged, in (0, 1]. Default 1.
	Sample float64 `yaml:"sample" json:"sample"`
	// Path is the file to write; default standard output.
	Path string `yaml:"path" json:"path"`
}

// Tracing configures OpenTelemetry tracing: a server span per request and
// a client span per attempt, exported over OTLP/HTTP.
type Tracing struct {
	// OTLPEndpoint is the OTLP/HTTP receiver's base URL, such as
	// http://127.0.0.1:4318; spans go to its /v1/traces unless it names a
	// path of its own. Empty (the default) turns tracing off.
	OTLPEndpoint string `yaml:"otlp_endpoint" json:"otlp_endpoint"`
	// SamplingRatio is the fraction of new traces recorded, in [0, 1];
	// a request whose traceparent says sampled or not is followed.
	// Default 1.
	SamplingRatio *float64 `yaml:"sampling_ratio" json:"sampling_ratio,omitempty"`
	// ServiceName is the service.name of the spans. Default "holdfast".
	ServiceName string `yaml:"service_name" json:"service_name"`
}

// Enabled reports whether tracing is on.
func (t Tracing) Enabled() bool { return t.OTLPEndpoint != "" }

// Ratio returns the sampling ratio, its default applied.
func (t Tracing) Ratio() float64 {
	if t.SamplingRatio == nil {
		return 1
	}
	return *t.SamplingRatio
}

// Upstream is a cluster of endpoints with its balancing, health checking,
// outlier detection, circuit breaker and concurrency limit.
type Upstream struct {
	upstream.Config `yaml:",inline" json:",inline"`
	// CircuitBreaker guards the whole upstream. Default off.
	CircuitBreaker *breaker.Config `yaml:"circuit_breaker" json:"circuit_breaker,omitempty"`
	// Concurrency caps in-flight requests to the upstream. Default off.
	Concurrency *Concurrency `yaml:"concurrency" json:"concurrency,omitempty"`
	// RetryBudget is shared by every route's retries to this upstream that
	// do not set their own. Default the zero retry.BudgetConfig's
	// (retry.DefaultBudgetRatio, DefaultBudgetMinPerSecond,
	// DefaultBudgetWindow).
	RetryBudget *retry.BudgetConfig `yaml:"retry_budget" json:"retry_budget,omitempty"`
	// SharedBreaker shares the circuit breaker with the same upstream's in
	// every holdfast using the redis block's Redis. Default off.
	SharedBreaker *SharedBreaker `yaml:"shared_breaker" json:"shared_breaker,omitempty"`
}

// Concurrency is a fixed limit with a queue, or an adaptive limit.
type Concurrency struct {
	bulkhead.Config `yaml:",inline" json:",inline"`
	// Adaptive, when set, replaces the fixed limit with an adaptive one.
	Adaptive *adaptive.Config `yaml:"adaptive" json:"adaptive,omitempty"`
}

// Route sends matching requests to an upstream through its policies.
type Route struct {
	// Name identifies the route in metrics and logs; required, unique.
	Name string `yaml:"name" json:"name"`
	// Match selects requests. Default: all.
	Match Match `yaml:"match" json:"match"`
	// Upstream names the upstream; exactly one of Upstream and Split is set.
	Upstream string `yaml:"upstream" json:"upstream,omitempty"`
	// Split spreads requests over upstreams by weight (canary releases).
	Split []Split `yaml:"split" json:"split,omitempty"`
	// Priority is critical, default or sheddable: under overload
	// (an adaptive concurrency limit filling up) or while a P0 alert
	// burns, sheddable routes are shed first, then default ones, critical
	// ones last (priority.go). Default default.
	Priority adaptive.Priority `yaml:"priority" json:"priority,omitempty"`
	// Timeout bounds the whole exchange, retries and the relay of the
	// response body included. Default 15s.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// LongLived marks a route of long-lived streams (server-sent events,
	// gRPC streaming, WebSocket): Timeout then bounds only the wait for the
	// response head, and the stream lasts until a side ends it or it sits
	// idle for limits.stream_idle_timeout. Default false.
	LongLived bool `yaml:"long_lived" json:"long_lived,omitempty"`
	// Upgrades lists the protocols a request may switch to (Upgrade,
	// RFC 9110 §7.8); another upgrade gets 403. Default [websocket]; an
	// empty list allows none; h2c is refused.
	Upgrades []string `yaml:"upgrades" json:"upgrades"`
	// Retry retries failed attempts. Default: the retry package's
	// defaults (retry.DefaultAttempts, 3, also when the block leaves
	// attempts out) on connect failures, resets and 502/503/504, for
	// idempotent requests only.
	Retry *Retry `yaml:"retry" json:"retry,omitempty"`
	// Hedge sends extra attempts for slow idempotent requests. Default off.
	Hedge *hedge.Config `yaml:"hedge" json:"hedge,omitempty"`
	// RateLimit limits requests, in this process or (scope global) across
	// every holdfast sharing the redis block's Redis. Default off.
	RateLimit *RateLimit `yaml:"rate_limit" json:"rate_limit,omitempty"`
	// Fallback answers instead of an error. Default off.
	Fallback *Fallback `yaml:"fallback" json:"fallback,omitempty"`
	// Fault injects delays and aborts for testing. Default off.
	Fault *Fault `yaml:"fault" json:"fault,omitempty"`
	// Vote sends each request to several upstreams and answers what a quorum agrees on (vote.go).
	Vote *Vote `yaml:"vote" json:"vote,omitempty"`
	// Shadow compares a share of the answers with a candidate's (shadow.go).
	Shadow *Shadow `yaml:"shadow" json:"shadow,omitempty"`
	// Quiesce stops a route that gives no correct answer (quiesce.go).
	Quiesce *Quiesce `yaml:"quiesce" json:"quiesce,omitempty"`
	// Durable accepts requests into the store and delivers them later
	// (durable.go). Default off.
	Durable *Durable `yaml:"durable" json:"durable,omitempty"`
	// Idempotency forwards a request with an Idempotency-Key once and
	// replays its response to repeats (durable.go). Default off.
	Idempotency *Idempotency `yaml:"idempotency" json:"idempotency,omitempty"`
	// ResponseChecks are checks, checks_max_body_bytes and
	// checks_on_oversize: invariants a relayed response must keep (checks.go).
	ResponseChecks `yaml:",inline" json:",inline"`
	// Canary moves a split's traffic from baseline to candidate step by
	// step, judging each step, and promotes or rolls back (canary.go).
	Canary *Canary `yaml:"canary" json:"canary,omitempty"`
}

// Split is one weighted share of a route's traffic.
type Split struct {
	Upstream string `yaml:"upstream" json:"upstream"`
	Weight   int    `yaml:"weight" json:"weight"`
}

// Retry is a route's retry policy: the library's retry.Config plus the HTTP
// conditions.
type Retry struct {
	retry.Config `yaml:",inline" json:",inline"`
	// RetryOn is the set of conditions that trigger a retry, listed as
	// connect_failure, reset, gateway_error (502, 503, 504), 5xx and
	// retriable_status. Default [DefaultRetryOn].
	RetryOn RetryOn `yaml:"retry_on" json:"retry_on"`
	// RetriableStatuses are retried when retry_on has retriable_status (or
	// always, when set without it).
	RetriableStatuses []int `yaml:"retriable_statuses" json:"retriable_statuses,omitempty"`
	// MaxBodyBytes is the largest request body kept for replay. A larger
	// body is sent once and never retried or hedged. Default 64 KiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes"`
}

// Fallback is a canned reply given instead of an error.
type Fallback struct {
	// Status of the reply. Default 200.
	Status int `yaml:"status" json:"status"`
	// Body of the reply.
	Body string `yaml:"body" json:"body"`
	// Headers of the reply.
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	// On is the set of failures the fallback answers, listed as
	// breaker_open, overloaded, timeout, no_healthy_upstream,
	// upstream_reset, 5xx, no_quorum, invariant_violation and quiesced.
	// Default all of them, [DefaultFallbackOn].
	On FallbackOn `yaml:"on" json:"on"`
}

// Fault injects failures on a route.
type Fault struct {
	Delay *FaultDelay `yaml:"delay" json:"delay,omitempty"`
	Abort *FaultAbort `yaml:"abort" json:"abort,omitempty"`
}

// FaultDelay delays a percentage of requests.
type FaultDelay struct {
	Percent  float64       `yaml:"percent" json:"percent"`
	Duration time.Duration `yaml:"duration" json:"duration"`
}

// FaultAbort answers a percentage of requests with a status.
type FaultAbort struct {
	Percent float64 `yaml:"percent" json:"percent"`
	Status  int     `yaml:"status" json:"status"`
}

// MaxFileBytes is the largest config file [Load] and [Parse] accept,
// 16 MiB: far more than any real config, and small enough that checking
// one takes bounded memory (parsing needs some 20 times the file's size).
const MaxFileBytes = 16 << 20

// ErrFileTooLarge is the error, inside an *fs.PathError naming the file,
// that [Load] returns for a file larger than [MaxFileBytes].
var ErrFileTooLarge = errors.New("config file larger than 16 MiB")

// Load reads and validates the file at path. It reads at most
// [MaxFileBytes] (and one byte more, to tell that a file is larger),
// whatever the file is.
func Load(path string) (*Config, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// ReadFile reads the config file at path as [Load] does: at most
// [MaxFileBytes], failing with [ErrFileTooLarge] on a larger file, whatever
// the file is. Parse what it returns to load exactly those bytes.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		if fi.Size() > MaxFileBytes {
			return nil, &fs.PathError{Op: "read", Path: path, Err: ErrFileTooLarge}
		}
		buf.Grow(int(fi.Size()) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxFileBytes+1)); err != nil {
		return nil, err
	}
	if buf.Len() > MaxFileBytes {
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrFileTooLarge}
	}
	return buf.Bytes(), nil
}

// Parse decodes and validates a config. On any problem it returns [Errors]
// listing every one, in file order, and no config.
func Parse(data []byte) (*Config, error) {
	root, e := parseDocument(data)
	if e != nil {
		return nil, Errors{e}
	}
	errs := &errorList{}
	c := &Config{}
	if root.Kind != 0 {
		(&walker{errs: errs}).walk("", root, configType)
		// The walker blanked every value it found fault with, so the rest
		// of the file still decodes; then validation reports its errors
		// too, and a user fixes a file in one round, not two. A type
		// that decodes itself has nothing to add about a value the walker
		// blanked.
		walkErrs := len(errs.errs)
		assign(errs, "", root, reflect.ValueOf(c).Elem())
		errs.dropShadowed(walkErrs)
	}
	decodeErrs := len(errs.errs)
	c.applyDefaults()
	c.applyHTTPDefaults()
	c.validate(errs)
	c.validateHTTP(errs)
	errs.dropShadowed(decodeErrs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

func yamlSyntaxError(err error) *Error {
	var line int
	msg := err.Error()
	if _, scanErr := fmt.Sscanf(msg, "yaml: line %d:", &line); scanErr == nil {
		if i := len(fmt.Sprintf("yaml: line %d: ", line)); i <= len(msg) {
			msg = msg[i:]
		}
	}
	return newError("", line, "invalid YAML: "+strings.TrimPrefix(msg, "yaml: "))
}
