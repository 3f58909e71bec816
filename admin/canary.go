package admin

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdfast-dev/holdfast/canary"
	"github.com/holdfast-dev/holdfast/proxy"
)

// Canary routes' series, read from the watched proxy's Status at scrape
// time: every canary route of the running config has each of them from
// the first scrape.
var (
	descCanaryWeight = prometheus.NewDesc("holdfast_canary_weight_percent",
		"The candidate's share of a canary route's traffic, in percent.", []string{"route", "candidate"}, nil)
	descCanaryState = prometheus.NewDesc("holdfast_canary_state",
		"1 for a canary route's rollout state (running, paused, promoted, rolled_back, aborted), 0 for the others.", []string{"route", "state"}, nil)
	descCanaryStep = prometheus.NewDesc("holdfast_canary_step",
		"The index of a canary route's current step in its steps.", []string{"route"}, nil)
)

var canaryStates = []canary.State{canary.Running, canary.Paused, canary.Promoted, canary.RolledBack, canary.Aborted}

// canarySeries exports the canary routes' series (statusCollector).
var canarySeries = statusSeries{descs: []*prometheus.Desc{descCanaryWeight, descCanaryState, descCanaryStep}, emit: func(s series, st *proxy.Status) {
	for _, r := range st.Routes {
		cs := r.Canary
		if cs == nil {
			continue
		}
		s.gauge(descCanaryWeight, float64(cs.Weight), r.Name, cs.Candidate)
		s.gauge(descCanaryStep, float64(cs.Step), r.Name)
		for _, state := range canaryStates {
			s.gauge(descCanaryState, bool01(cs.State == state), r.Name, string(state))
		}
	}
}}

// serveCanary answers GET /canary/{route}: the route's rollout, with the
// judgment of every step so far.
func (s *Server) serveCanary(w http.ResponseWriter, r *http.Request) {
	cs, err := s.cfg.Proxy.CanaryStatusOf(r.PathValue("route"))
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, cs)
}

// canaryVerdict is the body of GET /canary/{route}/verdict.
type canaryVerdict struct {
	Route   string           `json:"route"`
	Pass    bool             `json:"pass"`
	State   canary.State     `json:"state"`
	Weight  int              `json:"weight"`
	Reason  string           `json:"reason,omitempty"`
	Latest  *canary.Judgment `json:"latest,omitempty"`
	Canary  string           `json:"candidate"`
	Control string           `json:"baseline"`
}

// serveCanaryVerdict answers GET /canary/{route}/verdict: 200 while the
// candidate stands (running without a failed step, paused, promoted), 500
// once it failed (rolled back, aborted), with JSON either way, for Argo
// Rollouts' web metric provider and Flagger's webhooks.
func (s *Server) serveCanaryVerdict(w http.ResponseWriter, r *http.Request) {
	route := r.PathValue("route")
	cs, err := s.cfg.Proxy.CanaryStatusOf(route)
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	code, pass := proxy.CanaryVerdict(cs)
	v := canaryVerdict{Route: route, Pass: pass, State: cs.State, Weight: cs.Weight, Reason: cs.Reason, Canary: cs.Candidate, Control: cs.Baseline}
	if n := len(cs.History); n > 0 {
		v.Latest = &cs.History[n-1]
	}
	writeJSON(w, code, v)
}

// serveCanaryAction answers POST /canary/{route}/{action}: pause, resume,
// promote or abort the route's rollout.
func (s *Server) serveCanaryAction(w http.ResponseWriter, r *http.Request) {
	route, action := r.PathValue("route"), proxy.CanaryAction(r.PathValue("action"))
	switch action {
	case proxy.CanaryPause, proxy.CanaryResume, proxy.CanaryPromote, proxy.CanaryAbort:
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown action; want pause, resume, promote or abort"})
		return
	}
	cs, err := s.cfg.Proxy.Canary(route, action)
	switch {
	case errors.Is(err, proxy.ErrNoCanary):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	case errors.Is(err, canary.ErrNotRunning):
		writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "canary": cs})
		return
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.log(slog.LevelInfo, "canary "+string(action), "route", route, "state", string(cs.State), "weight", cs.Weight)
	writeJSON(w, http.StatusOK, cs)
}
