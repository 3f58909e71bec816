// Package holdfastprom turns the events of holdfast policies into Prometheus
// metrics, with the names and labels that holdfast's proxy exports, so that
// one dashboard or alert reads a Go service's pipelines and the proxy alike.
// It is the one implementation: the proxy's admin server builds its
// event-derived metrics with it.
//
// The model: a [Metrics] is a [holdfast.Listener]. Give it to every policy
// (each policy Config's Listener field); it counts what the events tell,
// labelled by the policy's name in the label the proxy uses for that kind
// of policy (retry policies, breakers, bulkheads and upstreams name an
// upstream; hedgers name a route):
//
//	event                                        metric
//	retry: EventRetry                            holdfast_upstream_retries_total{upstream}
//	retry: EventRejected budget_exhausted        holdfast_upstream_retry_budget_exhausted_total{upstream}
//	hedge: EventRejected budget_exhausted        holdfast_route_hedge_budget_exhausted_total{route}
//	breaker: EventStateChange                    holdfast_upstream_breaker_transitions_total{upstream,from,to}
//	breaker: EventRejected breaker_open          holdfast_upstream_rejections_total{upstream,reason}
//	bulkhead, adaptive: EventRejected overloaded holdfast_upstream_rejections_total{upstream,reason}
//	bulkhead: EventRejected queue_timeout        holdfast_upstream_rejections_total{upstream,reason}
//	bulkhead: EventQueued                        holdfast_upstream_queue_wait_seconds{upstream}
//	upstream: EventStateChange                   holdfast_upstream_endpoint_changes_total{upstream,to}
//	upstream: EventStateChange to ejected        holdfast_upstream_ejections_total{upstream,reason}
//
// Other events are not counted, and states or reasons outside the fixed
// sets above are ignored, so the number of series is bounded by the
// policies' names. Events tell their kind of policy in [holdfast.Event].Source.
//
// A counter that is born with its first increment never shows that
// increment to rate() or increase(): Prometheus sees the series start at 1.
// [Metrics.Add] therefore creates every series a policy can have at 0, and
// [Metrics.Remove] deletes them when the policy goes away.
//
//	reg := prometheus.NewRegistry()
//	m := holdfastprom.MustNew(holdfastprom.Config{Registerer: reg})
//	cb := breaker.MustNew(breaker.Config{Name: "db", Listener: m})
//	m.Add(cb) // holdfast_upstream_breaker_transitions_total{upstream="db",...} 0
//
// The package also holds the histogram settings holdfast uses for every
// latency: [DurationBuckets], [QueueBuckets] and [HistogramOpts], which adds
// native histogram buckets (factor [NativeBucketFactor]) beside the classic
// ones.
package holdfastprom
