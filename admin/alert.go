package admin

import (
	"cmp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/holdfast-dev/holdfast/canary"
	"github.com/holdfast-dev/holdfast/internal/alert"
	"github.com/holdfast-dev/holdfast/proxy"
	"github.com/holdfast-dev/holdfast/upstream"
)

// Bounds of an alert's context.
const (
	// contextReasons is how many local-reply reasons an alert names.
	contextReasons = 5
	// contextReloads is how many of the latest reloads it names.
	contextReloads = 3
	// contextEndpoints bounds the endpoints out of service it lists.
	contextEndpoints = 20
)

// AlertContext gathers what explains an alert on route from what the
// server reports: the route's upstreams and their breakers, their endpoints
// out of service, quarantined voters, the route's top local-reply reasons
// and the latest reloads. It is the one place an alert's context comes
// from; give it to [alert.Config].Context.
func (s *Server) AlertContext(route string) alert.Context {
	return rootCause(route, s.cfg.Proxy.Status(), s.metrics.localReplyCounts(route), s.timeline.Snapshot())
}

// rootCause is [Server.AlertContext] on its inputs.
func rootCause(route string, st proxy.Status, replies map[string]int64, tl TimelineSnapshot) alert.Context {
	c := alert.Context{Route: route}
	i := slices.IndexFunc(st.Routes, func(r proxy.RouteStatus) bool { return r.Name == route })
	if i >= 0 {
		r := st.Routes[i]
		targets := r.Targets
		if r.Vote != nil {
			for _, v := range r.Vote.Voters {
				if v.Quarantined {
					c.Quarantined = append(c.Quarantined, v.Upstream)
				}
			}
		}
		for _, t := range targets {
			j := slices.IndexFunc(st.Upstreams, func(u proxy.UpstreamStatus) bool { return u.Name == t.Upstream })
			if j < 0 {
				continue
			}
			us := st.Upstreams[j]
			u := alert.Upstream{Name: t.Upstream, Weight: t.Weight, Usable: us.Usable, Endpoints: len(us.Endpoints), Panic: us.Panic}
			if us.Breaker != nil {
				u.Breaker = us.Breaker.State.String()
			}
			c.Upstreams = append(c.Upstreams, u)
			for _, ep := range us.Endpoints {
				if state := endpointTrouble(ep); state != "" && len(c.Endpoints) < contextEndpoints {
					c.Endpoints = append(c.Endpoints, alert.Endpoint{Upstream: t.Upstream, Address: ep.Address, State: state, Until: ep.EjectedUntil})
				}
			}
		}
	}
	for reason, n := range replies {
		if n > 0 {
			c.LocalReplies = append(c.LocalReplies, alert.ReasonCount{Reason: reason, Count: n})
		}
	}
	slices.SortFunc(c.LocalReplies, func(a, b alert.ReasonCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Reason, b.Reason))
	})
	if len(c.LocalReplies) > contextReasons {
		c.LocalReplies = c.LocalReplies[:contextReasons]
	}
	for k := len(tl.Events) - 1; k >= 0 && len(c.Reloads) < contextReloads; k-- {
		if ev := tl.Events[k]; ev.Kind == TimelineReload {
			c.Reloads = append(c.Reloads, alert.Reload{Time: ev.Time, OK: ev.To == "ok", Error: ev.Error})
		}
	}
	return c
}

// AlertCanaries returns the canary routes' rollouts as the alerts judge
// them; give it to [alert.Config].Canaries.
func (s *Server) AlertCanaries() []alert.Canary {
	return canaryAlerts(s.cfg.Proxy.Status())
}

// canaryAlerts is [Server.AlertCanaries] on a proxy status.
func canaryAlerts(st proxy.Status) []alert.Canary {
	var out []alert.Canary
	for _, r := range st.Routes {
		cs := r.Canary
		if cs == nil {
			continue
		}
		c := alert.Canary{Route: r.Name, Baseline: cs.Baseline, Candidate: cs.Candidate, State: string(cs.State),
			Step: cs.Step, Weight: cs.Weight, Reason: cs.Reason, RolledBack: cs.State == canary.RolledBack}
		if n := len(cs.History); n > 0 {
			c.StepWeight = cs.History[n-1].Weight
		} else if cs.Step < len(cs.Steps) {
			c.StepWeight = cs.Steps[cs.Step]
		}
		out = append(out, c)
	}
	return out
}

// endpointTrouble says how an endpoint is out of service: ejected, on
// probation or unhealthy; "" when it is in service.
func endpointTrouble(ep upstream.EndpointStatus) string {
	switch {
	case ep.Ejected:
		return "ejected"
	case ep.Probation:
		return "probation"
	case !ep.Healthy:
		return "unhealthy"
	}
	return ""
}

// localReplyCounts returns the route's local replies by reason since the
// process started (the counters of holdfast_route_local_replies_total).
func (m *Metrics) localReplyCounts(route string) map[string]int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	rs := m.routes[route]
	if rs == nil {
		return nil
	}
	out := make(map[string]int64, len(rs.local))
	for reason, c := range rs.local {
		var d dto.Metric
		if c.Write(&d) == nil && d.Counter != nil {
			out[reason] = int64(d.Counter.GetValue())
		}
	}
	return out
}

// The delivery counters of the alert receivers, read from an
// [alert.Manager] at scrape time.
var (
	descAlertNotifications = prometheus.NewDesc("holdfast_alert_notifications_total",
		"Alert notifications by receiver and result: sent (the receiver took it), failed (dropped after every retry failed), overflow (dropped: the receiver's queue was full).",
		[]string{"receiver", "result"}, nil)
	descAlertRetries = prometheus.NewDesc("holdfast_alert_retries_total",
		"Sends of an alert notification after its first, by receiver.", []string{"receiver"}, nil)
	descAlertQueue = prometheus.NewDesc("holdfast_alert_queue_length",
		"Alert notifications waiting to be sent, by receiver.", []string{"receiver"}, nil)
)

type alertCollector struct{ m *alert.Manager }

// WatchAlerts exports the delivery counts of a's receivers on the metrics'
// registry (at most once per Metrics; a second call returns the registry's
// error).
func (m *Metrics) WatchAlerts(a *alert.Manager) error {
	return m.reg.Register(&alertCollector{m: a})
}

func (c *alertCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAlertNotifications, descAlertRetries, descAlertQueue} {
		ch <- d
	}
}

func (c *alertCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.m.Stats() {
		for _, r := range []struct {
			result string
			n      uint64
		}{{"sent", s.Sent}, {"failed", s.Failed}, {"overflow", s.Overflow}} {
			ch <- prometheus.MustNewConstMetric(descAlertNotifications, prometheus.CounterValue, float64(r.n), s.Receiver, r.result)
		}
		ch <- prometheus.MustNewConstMetric(descAlertRetries, prometheus.CounterValue, float64(s.Retries), s.Receiver)
		ch <- prometheus.MustNewConstMetric(descAlertQueue, prometheus.GaugeValue, float64(s.Queued), s.Receiver)
	}
}
