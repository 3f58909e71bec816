package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdfast-dev/holdfast/proxy"
)

// Quiesce series, read from the watched proxy's Status at scrape time
// (statusCollector): every route with a quiesce block has each of
// them, at 0 from the start.
var (
	descRouteQuiesced = prometheus.NewDesc("holdfast_route_quiesced",
		"1 while the route is quiesced: it gave no correct answer for quiesce.after, and answers 503 quiesced but for one trial request per probe_interval.",
		[]string{"route"}, nil)
	descRouteQuiesces = prometheus.NewDesc("holdfast_route_quiesces_total",
		"Times the route quiesced.", []string{"route"}, nil)
	descQuiesceWebhooks = prometheus.NewDesc("holdfast_route_quiesce_webhooks_total",
		"Quiesce reports POSTed to the route's quiesce.webhook, by outcome: sent, failed (an error or a status of 300 or more) or dropped (4 already in flight).",
		[]string{"route", "outcome"}, nil)
)

// quiesceSeries exports the quiesce series (statusCollector).
var quiesceSeries = statusSeries{descs: []*prometheus.Desc{descRouteQuiesced, descRouteQuiesces, descQuiesceWebhooks}, emit: func(s series, st *proxy.Status) {
	for _, r := range st.Routes {
		q := r.Quiesce
		if q == nil {
			continue
		}
		s.gauge(descRouteQuiesced, bool01(q.Quiesced), r.Name)
		s.counter(descRouteQuiesces, float64(q.Quiesces), r.Name)
		s.counter(descQuiesceWebhooks, float64(q.WebhooksSent), r.Name, "sent")
		s.counter(descQuiesceWebhooks, float64(q.WebhooksFailed), r.Name, "failed")
		s.counter(descQuiesceWebhooks, float64(q.WebhooksDropped), r.Name, "dropped")
	}
}}
