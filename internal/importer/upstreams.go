package importer

import (
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/upstream"
)

// buildUpstreams builds every upstream the routes send to from the
// DestinationRule of its host: the rule's traffic policy, overridden part
// by part (load balancer, connection pool, outlier detection, TLS) by its
// port's, then its subset's, then the subset's port's, as Istio merges
// them.
func (imp *importer) buildUpstreams() {
	for _, t := range imp.targetOrder {
		dr := imp.ruleFor(t.key.host)
		layers := []*policy{}
		var sub *subset
		sources := []string{t.at.r.name}
		if dr != nil {
			dr.used = true
			sources = append(sources, dr.at.r.name)
			layers = append(layers, dr.policy, dr.policy.port(t.key.port))
			if t.key.subset != "" {
				for _, s := range dr.subsets {
					if s.name == t.key.subset {
						sub = s
						break
					}
				}
				if sub != nil {
					sub.used = true
					sources[len(sources)-1] += " subset " + sub.name
					layers = append(layers, sub.policy, sub.policy.port(t.key.port))
				}
			}
		}
		if t.key.subset != "" && sub == nil {
			t.at.note("subset %s is defined by no DestinationRule given for %s (Istio would fail these requests); the upstream stands for the whole service", t.key.subset, t.key.host)
		}
		t.from = "from " + strings.Join(dedupe(sources), "; ")
		t.up = imp.upstreamOf(t, layers, sub)
	}
}

func dedupe(s []string) []string {
	out := s[:0]
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// port returns p's settings for port n, marking them used, or nil.
func (p *policy) port(n int) *policy {
	if p == nil || n == 0 {
		return nil
	}
	pp := p.ports[n]
	if pp != nil {
		pp.used = true
	}
	return pp
}

// reportUnusedPorts notes p's port-level settings no upstream took.
func (p *policy) reportUnusedPorts() {
	if p == nil {
		return
	}
	ports := slices.Sorted(maps.Keys(p.ports))
	for _, n := range ports {
		if pp := p.ports[n]; !pp.used {
			pp.at.note("no translated route sends to port %d; these settings are not used", n)
		}
	}
}

// ruleFor returns the DestinationRule for host: the first whose host is
// host, or else the one whose wildcard ("*.example.com", "*") matches it
// most narrowly.
func (imp *importer) ruleFor(host string) *destinationRule {
	var best *destinationRule
	for _, dr := range imp.rules {
		if dr.host == host {
			return dr
		}
		if suffix, ok := strings.CutPrefix(dr.host, "*"); ok && strings.HasSuffix(host, suffix) {
			if best == nil || len(dr.host) > len(best.host) {
				best = dr
			}
		}
	}
	return best
}

// upstreamOf builds the upstream of t from its policy layers, the
// innermost set part winning.
func (imp *importer) upstreamOf(t *target, layers []*policy, sub *subset) *config.Upstream {
	up := &config.Upstream{}
	var tls *tlsPart
	for _, p := range layers {
		if p == nil {
			continue
		}
		if p.lb != nil {
			up.Balancer = *p.lb
		}
		if p.pool != nil {
			up.ConnectTimeout, up.IdleTimeout = p.pool.connectTimeout, p.pool.idleTimeout
			up.Protocol = ""
			if p.pool.h2 {
				up.Protocol = upstream.ProtocolH2C
			}
			up.Concurrency = p.pool.concurrency
		}
		if p.outlier != nil {
			up.OutlierDetection = *p.outlier
		}
		if p.tls != nil {
			tls = p.tls
		}
		if p.budget != nil {
			b := *p.budget
			up.RetryBudget = &b
		}
	}
	scheme, port := "http", t.key.port
	if tls != nil && tls.https {
		scheme = "https"
		up.TLS = tls.cfg
	}
	assumed := port == 0
	if assumed {
		port = 80
		if scheme == "https" {
			port = 443
		}
	}
	addr := scheme + "://" + net.JoinHostPort(t.written, strconv.Itoa(port))
	up.Endpoints = []upstream.EndpointConfig{{Address: addr}}
	pods := "the service's pods"
	if sub != nil && sub.labels != "" {
		pods = "the pods labelled " + sub.labels
	}
	portNote := ""
	if assumed {
		portNote = "; the destination names no port, so " + strconv.Itoa(port) + " is assumed"
	}
	t.at.note("endpoint %s stands for the Kubernetes service %s, which holdfast cannot resolve to %s: list their addresses (or a Service of their own) as upstreams.%s.endpoints%s", addr, t.key.host, pods, t.name, portNote)
	for _, sp := range imp.profiles {
		if sp.budget == nil || !slices.Contains(sp.sendsTo, t) {
			continue
		}
		if up.RetryBudget != nil {
			sp.budgetAt.note("the DestinationRule's retryBudget for %s is replaced by this one", t.key.host)
		}
		b := *sp.budget
		up.RetryBudget = &b
	}
	return up
}
