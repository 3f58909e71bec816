package admin

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/proxy"
	"github.com/holdfast-dev/holdfast/upstream"
)

// DefaultTimelineSize is how many events a [Timeline] keeps when
// [NewTimeline] is given 0, and maxTimelineSize the most it keeps.
const (
	DefaultTimelineSize = 500
	maxTimelineSize     = 100_000
)

// maxEventText bounds an event's error text, so that a reload rejected with
// a thousand config errors does not make the timeline hold them all.
const maxEventText = 1024

// The kinds of [TimelineEvent].
const (
	TimelineBreaker  = "breaker"  // a circuit breaker changed state
	TimelineEndpoint = "endpoint" // outlier detection ejected or readmitted an endpoint
	TimelineHealth   = "health"   // active health checks marked an endpoint healthy or unhealthy
	TimelinePanic    = "panic"    // an upstream entered or left panic mode
	TimelineFailover = "failover" // an upstream's traffic moved to another priority level
	TimelineFallback = "fallback" // a fallback answered instead of the upstream
	TimelineGuard    = "guard"    // a guard silenced or readmitted its component
	TimelineVote     = "vote"     // a vote route quarantined or re-admitted a voter
	TimelineCanary   = "canary"   // a canary route's rollout passed a step, ended, or was steered by hand
	TimelineReload   = "reload"   // the config was reloaded, or a reload was refused
)

// The scopes of [TimelineEvent]: what Subject names.
const (
	ScopeUpstream = "upstream"
	ScopeRoute    = "route"
	ScopePolicy   = "policy"  // a library policy's name (guard, fallback outside the proxy)
	ScopeProcess  = "process" // the whole process: reloads
)

// TimelineEvent is one entry of a [Timeline].
type TimelineEvent struct {
	// ID increases by one with each entry, from 1.
	ID   int64     `json:"id"`
	Time time.Time `json:"time"`
	// Count is how many events the entry stands for: fallbacks of one route
	// within [SeriesBucket] of the first share an entry, Last being the
	// latest. Other entries have Count 1 and no Last.
	Count int64     `json:"count"`
	Last  time.Time `json:"last,omitzero"`
	// Kind is one of the Timeline kinds; Scope says whether Subject names an
	// upstream, a route or a policy ("" for a reload).
	Kind    string `json:"kind"`
	Scope   string `json:"scope"`
	Subject string `json:"subject,omitempty"`
	// Endpoint is the endpoint an endpoint or health change concerned, when
	// the timeline could tell (see [Timeline.Watch]).
	Endpoint string `json:"endpoint,omitempty"`
	// Voter is the voter (upstream) a vote entry concerns; Subject is its
	// route.
	Voter string `json:"voter,omitempty"`
	// From and To are the states left and entered: a breaker's "closed",
	// "open", "half_open"; an endpoint's "active", "ejected", "probation";
	// "healthy", "unhealthy"; "normal", "panic"; a failover's priority
	// levels; a voter's "active", "quarantined"; a reload's "ok" or
	// "failed" (To only).
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
	// Severity is "bad" (something failed), "warn" (degraded or testing),
	// "good" (recovered) or "info", for the status page's colours.
	Severity string `json:"severity"`
}

// TimelineSnapshot is what GET /status/timeline answers.
type TimelineSnapshot struct {
	// Capacity is how many entries the timeline keeps; Recorded counts every
	// entry since it started, so Recorded - len(Events) were dropped.
	Capacity int   `json:"capacity"`
	Recorded int64 `json:"recorded"`
	// Events are the entries kept, oldest first.
	Events []TimelineEvent `json:"events"`
}

// Timeline keeps the last events that change what a proxy does, for the
// status page: breaker transitions, endpoint ejections and readmissions,
// health changes, panic mode, failovers between priority levels, vote
// routes' quarantines and re-admissions of voters, fallbacks and reloads. It is a [holdfast.Listener] for the proxy's policy events;
// fallbacks reach it through [Timeline.OnRequest] (the proxy reports them
// per request) and reloads through [Timeline.RecordReload].
//
// Events that happen on most requests (attempts, retries, rejections) are
// not kept; the metrics count those. The timeline holds a fixed number of
// entries, dropping the oldest.
//
// Create it with [NewTimeline]; the zero value is not usable. It is safe for
// concurrent use.
type Timeline struct {
	proxy atomic.Pointer[proxy.Proxy]

	// mu guards ring, recorded, seen and fallbacks.
	mu       sync.Mutex
	ring     []TimelineEvent // entry ID n is at ring[(n-1) % len(ring)]
	recorded int64
	// seen is each watched upstream's state at the last event, to tell
	// which endpoint an event concerned and when the active priority moved.
	seen map[string]*upstreamSeen
	// fallbacks is the ID of the latest fallback entry of each subject.
	fallbacks map[string]int64
}

// upstreamSeen is an upstream's state as a Timeline last saw it.
type upstreamSeen struct {
	priority  int // the active priority level, -1 when none was seen outside panic mode
	endpoints map[string]endpointSeen
}

type endpointSeen struct {
	healthy bool
	outlier string // "active", "ejected" or "probation", as in upstream events
}

var _ holdfast.Listener = (*Timeline)(nil)

// NewTimeline returns a timeline that keeps the last size entries: 0 (or
// less) means [DefaultTimelineSize]; more than 100000 means 100000.
func NewTimeline(size int) *Timeline {
	if size <= 0 {
		size = DefaultTimelineSize
	}
	size = min(size, maxTimelineSize)
	return &Timeline{ring: make([]TimelineEvent, size), seen: map[string]*upstreamSeen{}, fallbacks: map[string]int64{}}
}

// Watch makes the timeline read p's upstreams when one of them reports an
// endpoint change: an upstream's events do not say which endpoint changed,
// so the timeline compares the endpoints with what it saw before and names
// the one that entered the event's state; and a move of the upstream's
// active priority level (failover to standby endpoints, or back) becomes an
// entry of its own. Before Watch, or with nil, entries name no endpoint and
// failovers are not seen.
func (t *Timeline) Watch(p *proxy.Proxy) {
	t.proxy.Store(p)
	t.rebase()
}

// OnEvent records e if it is one the timeline keeps; give the timeline to
// [proxy.Options].Listener (with [holdfast.Listeners] beside the metrics).
func (t *Timeline) OnEvent(e holdfast.Event) {
	var us *proxy.UpstreamStatus
	switch {
	case e.Kind == holdfast.EventStateChange && e.Source == holdfast.KindUpstream:
		// Read outside t.mu: the proxy takes its upstreams' locks.
		us = t.upstream(e.Policy)
	case e.Kind == holdfast.EventSilenced || e.Kind == holdfast.EventRecovered:
		if route, voter, ok := t.voter(e.Policy); ok {
			t.voterAt(e, route, voter, time.Now())
			return
		}
	}
	t.onEventAt(e, us, time.Now())
}

// voter reports whether policy names the guard of a vote route's voter
// in the watched proxy, ROUTE/UPSTREAM (proxy/vote.go names them so), and
// which.
func (t *Timeline) voter(policy string) (route, voter string, ok bool) {
	p := t.proxy.Load()
	if p == nil {
		return "", "", false
	}
	for _, r := range p.Status().Routes {
		name, cut := strings.CutPrefix(policy, r.Name+"/")
		if r.Vote == nil || !cut {
			continue
		}
		for _, v := range r.Vote.Voters {
			if name == v.Upstream {
				return r.Name, v.Upstream, true
			}
		}
	}
	return "", "", false
}

// voterAt records a vote route's quarantine (a silenced guard) or
// re-admission (a recovered one) of voter.
func (t *Timeline) voterAt(e holdfast.Event, route, voter string, now time.Time) {
	ev := TimelineEvent{Time: now, Kind: TimelineVote, Scope: ScopeRoute, Subject: route, Voter: voter,
		From: "active", To: "quarantined", Reason: "disagreements", Error: errText(e.Err), Severity: "bad"}
	if e.Kind == holdfast.EventRecovered {
		ev.From, ev.To, ev.Reason, ev.Severity = "quarantined", "active", "agreements", "good"
	}
	t.add(ev)
}

// OnRequest records a fallback answer; call it from [proxy.Options].OnRequest.
// Other requests are not recorded.
func (t *Timeline) OnRequest(info proxy.RequestInfo) {
	if info.Fallback {
		t.fallbackAt(ScopeRoute, info.Route, info.Reason, "", time.Now())
	}
}

// RecordReload records a reload of the config: err is nil when the new
// config runs, or why it was refused (the running config then keeps
// serving). Call it on every reload, however it was asked for (a signal or
// POST /reload); the admin server does not record reloads itself.
func (t *Timeline) RecordReload(err error) {
	t.reloadAt(err, time.Now())
	if err == nil {
		// Upstreams a reload replaced start again from their new state.
		t.rebase()
	}
}

// Snapshot returns the entries kept, oldest first.
func (t *Timeline) Snapshot() TimelineSnapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := min(t.recorded, int64(len(t.ring)))
	s := TimelineSnapshot{Capacity: len(t.ring), Recorded: t.recorded, Events: make([]TimelineEvent, 0, n)}
	for id := t.recorded - n + 1; id <= t.recorded; id++ {
		s.Events = append(s.Events, t.ring[t.indexLocked(id)])
	}
	return s
}

func (t *Timeline) onEventAt(e holdfast.Event, us *proxy.UpstreamStatus, now time.Time) {
	switch e.Kind {
	case holdfast.EventStateChange:
		switch e.Source {
		case holdfast.KindBreaker:
			t.add(TimelineEvent{Time: now, Kind: TimelineBreaker, Scope: ScopeUpstream, Subject: e.Policy,
				From: e.From, To: e.To, Reason: e.Reason, Error: errText(e.Err), Severity: breakerSeverity(e.To)})
		case holdfast.KindUpstream:
			t.upstreamChangeAt(e, us, now)
		case holdfast.KindCanary:
			sev := "info"
			switch e.To {
			case "promoted":
				sev = "good"
			case "rolled_back", "aborted":
				sev = "bad"
			}
			t.add(TimelineEvent{Time: now, Kind: TimelineCanary, Scope: ScopeRoute, Subject: e.Policy,
				From: e.From, To: e.To, Reason: e.Reason, Severity: sev})
		}
	case holdfast.EventFallback:
		t.fallbackAt(ScopePolicy, e.Policy, "", errText(e.Err), now)
	case holdfast.EventSilenced:
		t.add(TimelineEvent{Time: now, Kind: TimelineGuard, Scope: ScopePolicy, Subject: e.Policy,
			To: "silenced", Error: errText(e.Err), Severity: "bad"})
	case holdfast.EventRecovered:
		t.add(TimelineEvent{Time: now, Kind: TimelineGuard, Scope: ScopePolicy, Subject: e.Policy,
			From: "silenced", To: "active", Severity: "good"})
	}
}

// upstreamChangeAt records an upstream's endpoint or panic change, us being
// the upstream's state read after it (nil when unwatched).
func (t *Timeline) upstreamChangeAt(e holdfast.Event, us *proxy.UpstreamStatus, now time.Time) {
	ev := TimelineEvent{Time: now, Scope: ScopeUpstream, Subject: e.Policy, From: e.From, To: e.To,
		Reason: e.Reason, Error: errText(e.Err)}
	switch e.To {
	case "healthy", "unhealthy":
		ev.Kind = TimelineHealth
	case "normal", "panic":
		ev.Kind = TimelinePanic
	default:
		ev.Kind = TimelineEndpoint
	}
	switch e.To {
	case "unhealthy", "ejected", "panic":
		ev.Severity = "bad"
	case "probation":
		ev.Severity = "warn"
	default:
		ev.Severity = "good"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var failover *TimelineEvent
	if us != nil {
		ev.Endpoint, failover = t.compareLocked(us, e.To, now)
	}
	t.addLocked(ev)
	if failover != nil {
		t.addLocked(*failover)
	}
}

// compareLocked updates what the timeline saw of upstream us and returns the
// endpoint that entered state to since (the first, if several did; "" if
// none), and the failover entry if the active priority moved.
func (t *Timeline) compareLocked(us *proxy.UpstreamStatus, to string, now time.Time) (endpoint string, failover *TimelineEvent) {
	seen := t.seen[us.Name]
	if seen == nil {
		// New since the last look (a reload nobody recorded): nothing to
		// compare with.
		t.seen[us.Name] = newUpstreamSeen(us)
		return "", nil
	}
	for _, ep := range us.Endpoints {
		was, ok := seen.endpoints[ep.Address]
		if !ok {
			continue
		}
		is := seeEndpoint(ep)
		var entered bool
		switch to {
		case "healthy", "unhealthy":
			entered = is.healthy != was.healthy && is.healthy == (to == "healthy")
			was.healthy = is.healthy
		case "active", "ejected", "probation":
			entered = is.outlier != was.outlier && is.outlier == to
			was.outlier = is.outlier
		}
		if entered {
			// Only this endpoint's change is taken as seen: another that
			// changed meanwhile has its own event coming.
			seen.endpoints[ep.Address] = was
			endpoint = ep.Address
			break
		}
	}
	if p := us.ActivePriority; p >= 0 {
		if seen.priority >= 0 && p != seen.priority {
			sev := "good"
			if p > seen.priority {
				sev = "bad" // to standby endpoints
			}
			failover = &TimelineEvent{Time: now, Kind: TimelineFailover, Scope: ScopeUpstream, Subject: us.Name,
				From: strconv.Itoa(seen.priority), To: strconv.Itoa(p), Severity: sev}
		}
		seen.priority = p
	}
	return endpoint, failover
}

// fallbackAt records a fallback of subject, or counts it on the subject's
// entry when that is less than a SeriesBucket old.
func (t *Timeline) fallbackAt(scope, subject, reason, errText string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := scope + "\x00" + subject
	if id, ok := t.fallbacks[key]; ok && id > t.recorded-int64(len(t.ring)) {
		if ev := &t.ring[t.indexLocked(id)]; now.Sub(ev.Time) < SeriesBucket && !now.Before(ev.Time) {
			ev.Count++
			ev.Last = now
			return
		}
	}
	id := t.addLocked(TimelineEvent{Time: now, Kind: TimelineFallback, Scope: scope, Subject: subject, Reason: reason, Error: errText, Severity: "warn"})
	if len(t.fallbacks) >= len(t.ring) {
		// Keys of entries that left the ring go; the map stays within the
		// ring's size.
		for k, id := range t.fallbacks {
			if id <= t.recorded-int64(len(t.ring)) {
				delete(t.fallbacks, k)
			}
		}
	}
	t.fallbacks[key] = id
}

func (t *Timeline) reloadAt(err error, now time.Time) {
	ev := TimelineEvent{Time: now, Kind: TimelineReload, Scope: ScopeProcess, To: "ok", Severity: "good"}
	if err != nil {
		ev.To, ev.Error, ev.Severity = "failed", errText(err), "bad"
	}
	t.add(ev)
}

func (t *Timeline) add(ev TimelineEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.addLocked(ev)
}

// addLocked stores ev over the oldest entry and returns its ID.
func (t *Timeline) addLocked(ev TimelineEvent) int64 {
	t.recorded++
	ev.ID = t.recorded
	if ev.Count == 0 {
		ev.Count = 1
	}
	ev.Time = ev.Time.UTC()
	t.ring[t.indexLocked(ev.ID)] = ev
	return ev.ID
}

func (t *Timeline) indexLocked(id int64) int { return int((id - 1) % int64(len(t.ring))) }

// upstream returns the watched proxy's upstream name, or nil.
func (t *Timeline) upstream(name string) *proxy.UpstreamStatus {
	p := t.proxy.Load()
	if p == nil {
		return nil
	}
	for _, us := range p.Status().Upstreams {
		if us.Name == name {
			return &us
		}
	}
	return nil
}

// rebase makes what the timeline saw the watched proxy's upstreams as they
// are now.
func (t *Timeline) rebase() {
	p := t.proxy.Load()
	seen := map[string]*upstreamSeen{}
	if p != nil {
		for _, us := range p.Status().Upstreams {
			seen[us.Name] = newUpstreamSeen(&us)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seen = seen
}

func newUpstreamSeen(us *proxy.UpstreamStatus) *upstreamSeen {
	s := &upstreamSeen{priority: us.ActivePriority, endpoints: make(map[string]endpointSeen, len(us.Endpoints))}
	for _, ep := range us.Endpoints {
		s.endpoints[ep.Address] = seeEndpoint(ep)
	}
	return s
}

func seeEndpoint(ep upstream.EndpointStatus) endpointSeen {
	s := endpointSeen{healthy: ep.Healthy, outlier: "active"}
	switch {
	case ep.Ejected:
		s.outlier = "ejected"
	case ep.Probation:
		s.outlier = "probation"
	}
	return s
}

func breakerSeverity(to string) string {
	switch to {
	case "open":
		return "bad"
	case "half_open":
		return "warn"
	case "closed":
		return "good"
	}
	return "info"
}

// errText returns err's message cut to maxEventText bytes (at a rune
// boundary), or "".
func errText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) <= maxEventText {
		return s
	}
	cut := maxEventText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
