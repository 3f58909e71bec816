package admin

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdfast-dev/holdfast/proxy"
)

// Durable routes' series, read from the watched proxy's Status at scrape
// time: every durable route of the running config has each of them.
var (
	descDurableDepth = prometheus.NewDesc("holdfast_route_durable_queue_depth",
		"Messages in a durable route's queue, those being delivered included.", []string{"route"}, nil)
	descDurableOldest = prometheus.NewDesc("holdfast_route_durable_oldest_age_seconds",
		"How long the oldest message in a durable route's queue has waited; 0 when it is empty.", []string{"route"}, nil)
	descDurableDeadLetters = prometheus.NewDesc("holdfast_route_durable_dead_letters",
		"A durable route's dead letters now in the store.", []string{"route"}, nil)
	descDurableMessages = prometheus.NewDesc("holdfast_route_durable_messages_total",
		"A durable route's messages by event: accepted, delivered, retried (a failed delivery scheduled again) or dead (dead-lettered), by this proxy.",
		[]string{"route", "event"}, nil)
	descDurableSaturation = prometheus.NewDesc("holdfast_route_durable_saturation",
		"Deliveries in flight over the most there can be (workers, or partitions with order_by): 1 with a growing oldest age is a stalled consumer held by a slow upstream.",
		[]string{"route"}, nil)
	descDurableStoreUp = prometheus.NewDesc("holdfast_route_durable_store_up",
		"1 when the store answered for the durable route's queue at this scrape, 0 when it did not.", []string{"route"}, nil)
)

// durableSeries exports the durable routes' series (statusCollector).
var durableSeries = statusSeries{descs: []*prometheus.Desc{
	descDurableDepth, descDurableOldest, descDurableDeadLetters, descDurableMessages, descDurableSaturation, descDurableStoreUp,
}, emit: func(s series, st *proxy.Status) {
	for _, r := range st.Routes {
		ds := r.Durable
		if ds == nil {
			continue
		}
		s.gauge(descDurableDepth, float64(ds.Depth), r.Name)
		s.gauge(descDurableOldest, ds.OldestAgeSeconds, r.Name)
		s.gauge(descDurableDeadLetters, float64(ds.DeadLetters), r.Name)
		s.gauge(descDurableSaturation, ds.Saturation, r.Name)
		s.gauge(descDurableStoreUp, bool01(ds.StoreError == ""), r.Name)
		s.counter(descDurableMessages, float64(ds.Accepted), r.Name, "accepted")
		s.counter(descDurableMessages, float64(ds.Delivered), r.Name, "delivered")
		s.counter(descDurableMessages, float64(ds.Retried), r.Name, "retried")
		s.counter(descDurableMessages, float64(ds.Dead), r.Name, "dead")
	}
}}

// durableError answers an error of the dead-letter API.
func durableError(w http.ResponseWriter, err error) {
	status := http.StatusServiceUnavailable
	if errors.Is(err, proxy.ErrNoDurableRoute) || errors.Is(err, proxy.ErrNoDeadLetter) {
		status = http.StatusNotFound
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// serveDeadLetters answers GET /durable/{route}/dead[?limit=N].
func (s *Server) serveDeadLetters(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 100
	}
	letters, err := s.cfg.Proxy.DeadLetters(r.PathValue("route"), limit)
	if err != nil {
		durableError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"dead_letters": letters})
}

// serveDeadLetter answers GET /durable/{route}/dead/{id}.
func (s *Server) serveDeadLetter(w http.ResponseWriter, r *http.Request) {
	dl, err := s.cfg.Proxy.DeadLetterByID(r.PathValue("route"), r.PathValue("id"))
	if err != nil {
		durableError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, dl)
}

// serveRedrive answers POST /durable/{route}/redrive[?id=ID]: one dead
// letter, or all of the route's, queued again.
func (s *Server) serveRedrive(w http.ResponseWriter, r *http.Request) {
	n, err := s.cfg.Proxy.Redrive(r.PathValue("route"), r.URL.Query().Get("id"))
	if err != nil {
		durableError(w, err)
		return
	}
	s.log(slog.LevelInfo, "dead letters redriven", "route", r.PathValue("route"), "count", n)
	writeJSON(w, http.StatusOK, map[string]int{"redriven": n})
}

// servePurge answers POST /durable/{route}/purge: the route's dead
// letters deleted.
func (s *Server) servePurge(w http.ResponseWriter, r *http.Request) {
	n, err := s.cfg.Proxy.PurgeDeadLetters(r.PathValue("route"))
	if err != nil {
		durableError(w, err)
		return
	}
	s.log(slog.LevelInfo, "dead letters purged", "route", r.PathValue("route"), "count", n)
	writeJSON(w, http.StatusOK, map[string]uint64{"purged": n})
}
