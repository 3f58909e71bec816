package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/globalrate"
	"github.com/holdfast-dev/holdfast/internal/store"
)

// RequestInfo describes one finished request, for access logs and metrics.
type RequestInfo struct {
	Route    string
	Upstream string
	Endpoint string
	Method   string
	Status   int
	Attempts int
	Retries  int // retry rounds after the first
	Hedges   int // hedged attempts beyond the first of each round
	Duration time.Duration
	Reason   string // the local reply's reason, or "" for a proxied answer
	Fallback bool   // the fallback answered
	// Withheld are the attempts whose responses broke the route's checks
	// and were not relayed (checks.go), in the order they were judged;
	// nil when none was.
	Withheld []Withheld
	// Vote is a vote route's verdict; nil on another route, and when the
	// vote reached none (the route timed out, the client left).
	Vote *VoteVerdict
}

// Options are the parts of a Proxy that do not come from the config file.
type Options struct {
	// Logger receives operational logs. Nil is silent.
	Logger *slog.Logger
	// Listener receives every policy's events, named by route or upstream.
	Listener holdfast.Listener
	// OnRequest is called after each request. It must be safe for
	// concurrent use.
	OnRequest func(RequestInfo)
	// OnAttempt is called after each upstream attempt the proxy sends
	// (hedged ones included), when its response head arrived or it failed.
	// It must be safe for concurrent use.
	OnAttempt func(AttemptInfo)
	// Tracer, when set, traces every request: a server span per request
	// continuing the client's W3C trace context, a client span per attempt
	// passed on in the attempt's traceparent. Nil (the default) traces
	// nothing and costs nothing.
	Tracer trace.Tracer
	// Burning, when set, reports whether an urgent (P0) alert fires: while
	// it does, sheddable routes are shed (brownout.go). Called once per
	// attempt; it must be cheap and safe for concurrent use.
	Burning func() bool
	// Store, when set, is the store durable routes and idempotency
	// records use in place of the one the config's store block names; the
	// caller owns it and closes it after the proxy. Nil: the proxy opens
	// the config's store when a route needs one, and closes it.
	Store *store.Store
}

// AttemptInfo describes one attempt sent to an upstream endpoint, passed to
// [Options].OnAttempt. Attempts refused before sending (breaker open,
// concurrency limit, no healthy endpoint) are not attempts; they show in
// the request's local reply reason.
type AttemptInfo struct {
	Route    string
	Upstream string
	Endpoint string
	Attempt  int           // 1 for the first attempt of a request
	Outcome  string        // one of the Attempt* outcomes
	Status   int           // the response status, for AttemptResponse and AttemptWithheld
	Duration time.Duration // from sending to the response head or the failure
}

// Attempt outcomes, the values of [AttemptInfo].Outcome.
const (
	AttemptResponse       = "response"        // the upstream answered (any status)
	AttemptConnectFailure = "connect_failure" // no connection could be made
	AttemptReset          = "reset"           // the connection broke before a full response head
	AttemptTryTimeout     = "try_timeout"     // the per-try timeout passed
	AttemptCanceled       = "canceled"        // the request ended first (client left, route timeout, a hedge won)
	AttemptClientFault    = "client_fault"    // the client's request body failed
	AttemptWithheld       = "withheld"        // the upstream answered (Status), but the answer broke the route's checks and was not relayed
)

// AttemptOutcomes lists every [AttemptInfo].Outcome value, for creating
// metric series up front.
var AttemptOutcomes = []string{AttemptResponse, AttemptConnectFailure, AttemptReset, AttemptTryTimeout, AttemptCanceled, AttemptClientFault, AttemptWithheld}

// Proxy is an http.Handler that forwards requests by a config. Reload swaps
// in a new config without dropping requests. It is safe for concurrent use.
type Proxy struct {
	opts  Options
	state atomic.Pointer[state]
	bg    *background // shadow comparisons, webhooks (background.go)

	// mu serialises reloads.
	mu     sync.Mutex
	closed bool

	// The store (store.go), opened by New when a route needs it: set
	// once, before the proxy serves.
	store      *store.Store
	ownStore   bool
	statusKV   jetstream.KeyValue
	deadStream jetstream.Stream
	// statsMu guards durable, the durable routes' counters by route name.
	statsMu sync.Mutex
	durable map[string]*durableStats
}

// state is one config's live routes and clusters. Requests load it once and
// keep it to the end, so a reload never changes a request midway.
type state struct {
	cfg      *config.Config
	routes   []*route
	clusters map[string]*cluster
	redis    *globalrate.Client // the redis block's; nil without one
}

// New builds a proxy from a validated config.
func New(cfg *config.Config, opts Options) (*Proxy, error) {
	p := &Proxy{opts: opts, bg: newBackground()}
	if err := p.openStore(cfg); err != nil { // store.go
		p.bg.close()
		return nil, err
	}
	st, err := p.build(cfg, nil)
	if err != nil {
		p.closeStore()
		return nil, err
	}
	p.state.Store(st)
	st.startQueues(nil) // durable.go
	return p, nil
}

// Config returns the config the proxy is running.
func (p *Proxy) Config() *config.Config { return p.state.Load().cfg }

// Reload swaps in cfg. Upstreams and routes whose config is unchanged keep
// their state (breaker, outlier ejections, limiter buckets, connections);
// in-flight requests finish on the config they started with. On error the
// running config is untouched.
func (p *Proxy) Reload(cfg *config.Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("proxy: closed")
	}
	old := p.state.Load()
	if (cfg.NeedsStore() && p.store == nil) || (p.store != nil && cfg.NeedsStore() && !sameJSON(old.cfg.Store, cfg.Store)) {
		return errStoreNeedsRestart
	}
	st, err := p.build(cfg, old)
	if err != nil {
		return err
	}
	p.state.Store(st)
	st.startQueues(old) // durable.go
	// Routes the new config replaced stop their quiesce probes.
	kept := make(map[*route]bool, len(st.routes))
	for _, r := range st.routes {
		kept[r] = true
	}
	for _, r := range old.routes {
		if !kept[r] {
			r.closeQuiesce()
		}
	}
	// Clusters the new config dropped or replaced stop their health checks;
	// requests still using them finish, since closing only stops pooling.
	for name, c := range old.clusters {
		if st.clusters[name] != c {
			c.Close()
		}
	}
	// A replaced Redis client is closed too: a request still deciding on
	// it gets its route's on_error answer, never an error.
	if old.redis != nil && old.redis != st.redis {
		old.redis.Close()
	}
	return nil
}

// Close stops health checks and closes idle upstream connections.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	st := p.state.Load()
	st.stopQueues()
	for _, r := range st.routes {
		r.closeQuiesce()
	}
	for _, c := range st.clusters {
		c.Close()
	}
	if st.redis != nil {
		st.redis.Close()
	}
	p.bg.close()
	p.closeStore()
}

func (p *Proxy) build(cfg *config.Config, old *state) (*state, error) {
	st := &state{cfg: cfg, clusters: map[string]*cluster{}}
	var built []*cluster
	var newRedis *globalrate.Client
	var touched []string // durable routes whose store side was changed
	fail := func(err error) (*state, error) {
		for _, c := range built {
			c.Close()
		}
		p.restoreQueues(old, touched) // durable.go
		if newRedis != nil {
			newRedis.Close()
		}
		return nil, err
	}
	// One Redis client for the whole config, kept across a reload that
	// leaves the redis block as it was (with its short circuit's state).
	if rc := cfg.Redis; rc != nil {
		if old != nil && old.redis != nil && sameJSON(old.cfg.Redis, rc) {
			st.redis = old.redis
		} else {
			c, err := newRedisClient(rc, p.opts.Logger)
			if err != nil {
				return fail(fmt.Errorf("redis: %w", err))
			}
			newRedis, st.redis = c, c
		}
	}
	for name, uc := range cfg.Upstreams {
		if old != nil {
			// A cluster with a shared breaker is kept only with the Redis
			// client its fleet syncs through.
			if prev, ok := old.clusters[name]; ok && sameJSON(prev.cfg, uc) && (prev.fleet == nil || old.redis == st.redis) {
				st.clusters[name] = prev
				continue
			}
		}
		c, err := newCluster(name, uc, p.opts.Listener)
		if err == nil && uc.SharedBreaker != nil {
			err = c.shareBreaker(st.redis, uc.SharedBreaker, p.opts.Logger)
		}
		if err != nil {
			if c != nil {
				c.Close()
			}
			return fail(fmt.Errorf("upstreams.%s: %w", name, err))
		}
		built = append(built, c)
		st.clusters[name] = c
	}
	for i, rc := range cfg.Routes {
		if old != nil {
			if prev := old.route(rc.Name); prev != nil && sameJSON(prev.cfg, rc) && sameTargets(prev, st) && prev.sameRedis(st) {
				st.routes = append(st.routes, prev)
				continue
			}
		}
		r, err := newRoute(rc, st.clusters, p.opts.Listener)
		if err == nil && r.canary != nil && old != nil {
			if prev := old.route(rc.Name); prev != nil {
				r.canary.keep(prev.canary) // a reload goes on with the rollout
			}
		}
		if err == nil && rc.Quiesce != nil {
			var probe func(context.Context) error
			if probe, err = p.quiesceProbe(r); err == nil {
				r.quiesce, err = newQuiesceRoute(rc, p.opts.Listener, p.opts.Logger, p.bg, probe)
			}
		}
		if err == nil && cfg.Redis != nil {
			err = r.limitGlobally(st.redis, cfg.Redis.OnError)
		}
		if err == nil {
			if rc.Durable != nil {
				touched = append(touched, rc.Name)
			}
			err = p.storeRoute(r) // durable.go, idempotency.go
		}
		if err != nil {
			return fail(fmt.Errorf("routes[%d]: %w", i, err))
		}
		st.routes = append(st.routes, r)
	}
	st.setTopPriorities()
	return st, nil
}

func (s *state) route(name string) *route {
	for _, r := range s.routes {
		if r.name == name {
			return r
		}
	}
	return nil
}

// newRedisClient connects (lazily) to the redis block's Redis, with the
// password read from password_file.
func newRedisClient(rc *config.Redis, logger *slog.Logger) (*globalrate.Client, error) {
	var password string
	if rc.PasswordFile != "" {
		s, err := config.ReadSecretFile(rc.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("password_file: %w", err)
		}
		password = s
	}
	return globalrate.NewClient(globalrate.ClientConfig{
		Address:  rc.Address,
		Password: password,
		Timeout:  rc.Timeout,
		Logger:   logger,
	})
}

// sameTargets reports whether every cluster r sends to is the one st has
// under that name, so a reused route does not hold a replaced cluster.
func sameTargets(r *route, st *state) bool {
	for _, t := range r.targets {
		if st.clusters[t.cluster.name] != t.cluster {
			return false
		}
	}
	if s := r.shadow; s != nil {
		return st.clusters[s.candidate.cluster.name] == s.candidate.cluster && st.clusters[s.secondary.cluster.name] == s.secondary.cluster
	}
	return true
}
