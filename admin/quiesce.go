package admin

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Quiesce series, read from the watched proxy's Status at scrape time (as
// the vote routes' are): every route with a quiesce block has each of
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

// quiesceCollector exports the quiesce series of [Metrics].
type quiesceCollector struct{ m *Metrics }

func (c *quiesceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRouteQuiesced
	ch <- descRouteQuiesces
	ch <- descQuiesceWebhooks
}

func (c *quiesceCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.m.proxy.Load()
	if p == nil {
		return
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, r := range p.Status().Routes {
		q := r.Quiesce
		if q == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descRouteQuiesced, prometheus.GaugeValue, bool01(q.Quiesced), r.Name)
		counter(descRouteQuiesces, q.Quiesces, r.Name)
		counter(descQuiesceWebhooks, q.WebhooksSent, r.Name, "sent")
		counter(descQuiesceWebhooks, q.WebhooksFailed, r.Name, "failed")
		counter(descQuiesceWebhooks, q.WebhooksDropped, r.Name, "dropped")
	}
}
