package drill

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

// Probe is one check of the steady state or of an abort condition: an HTTP
// request, a program run, a Prometheus metric, or the drill's own load
// measurements, or a holdfast objective. Exactly one of HTTP, Process,
// Metric, Load and SLO is set.
type Probe struct {
	// Name names the probe in the journal and the report. Required.
	Name string `yaml:"name" json:"name"`
	// HTTP sends a request and expects a status within a latency bound
	// (or, with Tolerance, an answer the tolerance meets).
	HTTP *HTTPProbe `yaml:"http,omitempty" json:"http,omitempty"`
	// Process runs a program; its exit status and output must meet
	// Tolerance (default 0: the exit status is 0).
	Process *ProcessRun `yaml:"process,omitempty" json:"process,omitempty"`
	// Tolerance, for an http or a process probe, is what its output must
	// be, in Chaos Toolkit's terms (see [Tolerance]). An http probe takes
	// a tolerance or statuses, not both.
	Tolerance *Tolerance `yaml:"tolerance,omitempty" json:"tolerance,omitempty"`
	// Metric reads a metric from a Prometheus /metrics page and expects it
	// in a range.
	Metric *MetricProbe `yaml:"metric,omitempty" json:"metric,omitempty"`
	// Load judges the load generator's answers over a recent window.
	Load *LoadProbe `yaml:"load,omitempty" json:"load,omitempty"`
	// SLO judges a holdfast objective: it fails while a tier fires or
	// when too little of the error budget is left (slo.go).
	SLO *SLOProbe `yaml:"slo,omitempty" json:"slo,omitempty"`
}

// HTTPProbe is one HTTP request with an expected status and latency bound.
type HTTPProbe struct {
	// URL is requested. Required.
	URL string `yaml:"url" json:"url"`
	// Method is the HTTP method. Default GET.
	Method string `yaml:"method,omitempty" json:"method,omitempty"`
	// Headers are added to the request.
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// Body is sent with the request. Default none.
	Body string `yaml:"body,omitempty" json:"body,omitempty"`
	// Status lists the statuses that meet the tolerance: codes such as 200
	// or classes such as 2xx, one or a list. Default 200.
	Status Statuses `yaml:"status,omitempty" json:"status,omitempty"`
	// MaxLatency is the slowest acceptable answer, body included. Default:
	// no bound.
	MaxLatency time.Duration `yaml:"max_latency,omitempty" json:"max_latency,omitempty"`
	// Timeout gives up on the request. Default 5s, or MaxLatency plus 1s
	// when that is longer; at least MaxLatency.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// MetricProbe reads one metric, summed (or otherwise aggregated) over the
// series that match its labels, from a page in the Prometheus text
// exposition format.
type MetricProbe struct {
	// URL is the /metrics page. Required.
	URL string `yaml:"url" json:"url"`
	// Name is the sample name, such as holdfast_upstream_usable_endpoints
	// or holdfast_route_request_duration_seconds_count. Required.
	Name string `yaml:"name" json:"name"`
	// Labels select series: every label must have the value given (an
	// empty value matches a series without the label, as in PromQL).
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// Aggregate combines the matching series: sum (default), min, max,
	// avg or count. Except for count, no matching series fails the probe.
	Aggregate string `yaml:"aggregate,omitempty" json:"aggregate,omitempty"`
	// Min and Max are the tolerance, inclusive; at least one is required.
	Min *float64 `yaml:"min,omitempty" json:"min,omitempty"`
	Max *float64 `yaml:"max,omitempty" json:"max,omitempty"`
	// Headers are sent with the request (such as an Authorization).
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// Timeout bounds the request. Default 5s.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// LoadProbe judges the requests of the drill's load that finished in the
// last Window: their success rate and latency. It needs the experiment's
// load.
type LoadProbe struct {
	// Window is how far back the probe looks, by the time each request
	// finished. Default 10s.
	Window time.Duration `yaml:"window,omitempty" json:"window,omitempty"`
	// MinRequests is the fewest finished requests the window must hold for
	// a verdict; fewer fails the probe. Default 1.
	MinRequests int `yaml:"min_requests,omitempty" json:"min_requests,omitempty"`
	// SuccessRate is the tolerated share of successful requests (no error
	// and a status below 400), in [0, 1].
	SuccessRate *Range `yaml:"success_rate,omitempty" json:"success_rate,omitempty"`
	// ErrorRate is the tolerated share of failed requests (errors,
	// timeouts, statuses of 400 and above, and requests not sent because
	// max_in_flight was reached), in [0, 1].
	ErrorRate *Range `yaml:"error_rate,omitempty" json:"error_rate,omitempty"`
	// P50 and P99 bound the median and 99th percentile latency of the
	// requests answered (successful or not) in the window.
	P50 *DurationRange `yaml:"p50,omitempty" json:"p50,omitempty"`
	P99 *DurationRange `yaml:"p99,omitempty" json:"p99,omitempty"`
}

// Range is an inclusive tolerance on a number; a nil bound is open.
type Range struct {
	Min *float64 `yaml:"min,omitempty" json:"min,omitempty"`
	Max *float64 `yaml:"max,omitempty" json:"max,omitempty"`
}

// Contains reports whether v is within r. NaN is never within a range.
func (r Range) Contains(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	return (r.Min == nil || v >= *r.Min) && (r.Max == nil || v <= *r.Max)
}

// String formats r as "[0.99, 1]", "≥ 0.99" or "≤ 0.2".
func (r Range) String() string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch {
	case r.Min != nil && r.Max != nil:
		return "[" + f(*r.Min) + ", " + f(*r.Max) + "]"
	case r.Min != nil:
		return "≥ " + f(*r.Min)
	case r.Max != nil:
		return "≤ " + f(*r.Max)
	}
	return "any"
}

// DurationRange is an inclusive tolerance on a latency; a zero bound is
// open.
type DurationRange struct {
	Min time.Duration `yaml:"min,omitempty" json:"min,omitempty"`
	Max time.Duration `yaml:"max,omitempty" json:"max,omitempty"`
}

// Contains reports whether d is within r.
func (r DurationRange) Contains(d time.Duration) bool {
	return (r.Min == 0 || d >= r.Min) && (r.Max == 0 || d <= r.Max)
}

// String formats r as "[10ms, 300ms]", "≥ 10ms" or "≤ 300ms".
func (r DurationRange) String() string {
	switch {
	case r.Min != 0 && r.Max != 0:
		return "[" + r.Min.String() + ", " + r.Max.String() + "]"
	case r.Min != 0:
		return "≥ " + r.Min.String()
	case r.Max != 0:
		return "≤ " + r.Max.String()
	}
	return "any"
}

// Statuses is a set of HTTP statuses: codes such as "200" and classes such
// as "2xx". In YAML it is one value or a list, and codes may be numbers.
type Statuses []string

// Match reports whether code is in s.
func (s Statuses) Match(code int) bool {
	c := strconv.Itoa(code)
	for _, want := range s {
		if want == c || (len(want) == 3 && strings.HasSuffix(want, "xx") && len(c) == 3 && c[0] == want[0]) {
			return true
		}
	}
	return false
}

// UnmarshalYAML accepts a single status or a list; [Experiment.Validate]
// checks the values, so that their errors name the key.
func (s *Statuses) UnmarshalYAML(n *yaml.Node) error {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	out := Statuses{}
	for _, it := range items {
		if it.Kind != yaml.ScalarNode {
			return nodeError(it, "a status must be a code such as 200 or a class such as 5xx, or a list of them; got %s", yamlpath.Describe(it))
		}
		out = append(out, strings.ToLower(it.Value))
	}
	*s = out
	return nil
}

func validStatus(v string) bool {
	v = strings.ToLower(v)
	if len(v) == 3 && v[0] >= '1' && v[0] <= '5' && v[1:] == "xx" {
		return true
	}
	n, err := strconv.Atoi(v)
	return err == nil && n >= 100 && n <= 599 && len(v) == 3
}

// verdict is what judging a probe's reading concluded.
type verdict struct {
	met    bool   // the tolerance is met
	detail string // why not, or a short summary when met
	output any    // what was read, for the journal
}

// judgeHTTP decides an HTTP probe from its answer (err set when there was
// none). With a tolerance, out holds the answer as Chaos Toolkit's http
// provider gives it (status, headers, body), and the tolerance judges it.
func judgeHTTP(p *HTTPProbe, tol *Tolerance, status int, latency time.Duration, out map[string]any, err error) verdict {
	if out == nil {
		out = map[string]any{}
	}
	out["latency"] = seconds(latency)
	if err != nil {
		return verdict{detail: err.Error(), output: out}
	}
	out["status"] = status
	var why []string
	switch {
	case tol != nil:
		if !tol.met(plain(out)) {
			why = append(why, fmt.Sprintf("status %d: the answer does not meet the tolerance %s", status, tol))
		}
	case !p.Status.Match(status):
		why = append(why, fmt.Sprintf("status %d, want %s", status, strings.Join(p.Status, " or ")))
	}
	if p.MaxLatency > 0 && latency > p.MaxLatency {
		why = append(why, fmt.Sprintf("latency %s over max_latency %s", roundDur(latency), p.MaxLatency))
	}
	if len(why) > 0 {
		return verdict{detail: strings.Join(why, "; "), output: out}
	}
	return verdict{met: true, detail: fmt.Sprintf("status %d in %s", status, roundDur(latency)), output: out}
}

// judgeProcess decides a process probe from its run's output.
func judgeProcess(tol *Tolerance, out map[string]any) verdict {
	if !tol.met(plain(out)) {
		return verdict{detail: fmt.Sprintf("exit status %v does not meet the tolerance %s", out["status"], tol), output: out}
	}
	return verdict{met: true, detail: fmt.Sprintf("exit status %v", out["status"]), output: out}
}

// judgeMetric decides a metric probe from the samples of a scraped page.
func judgeMetric(p *MetricProbe, samples []Sample) verdict {
	var vals []float64
	for _, s := range samples {
		if s.Name == p.Name && s.matches(p.Labels) {
			vals = append(vals, s.Value)
		}
	}
	sel := p.Name + formatLabels(p.Labels)
	if len(vals) == 0 && p.Aggregate != "count" {
		return verdict{detail: "no series matches " + sel, output: map[string]any{"series": 0}}
	}
	v := aggregate(p.Aggregate, vals)
	out := map[string]any{"series": len(vals), "value": jsonFloat(v)}
	r := Range{Min: p.Min, Max: p.Max}
	if !r.Contains(v) {
		return verdict{detail: fmt.Sprintf("%s %s = %s, want %s", p.Aggregate, sel, fmtFloat(v), r), output: out}
	}
	return verdict{met: true, detail: fmt.Sprintf("%s %s = %s", p.Aggregate, sel, fmtFloat(v)), output: out}
}

func aggregate(how string, vals []float64) float64 {
	if how == "count" {
		return float64(len(vals))
	}
	v := vals[0]
	sum := 0.0
	for _, x := range vals {
		sum += x
		switch how {
		case "min":
			v = math.Min(v, x)
		case "max":
			v = math.Max(v, x)
		}
	}
	switch how {
	case "min", "max":
		return v
	case "avg":
		return sum / float64(len(vals))
	}
	return sum
}

// judgeLoad decides a load probe from the window's statistics.
func judgeLoad(p *LoadProbe, s windowStats) verdict {
	out := map[string]any{
		"window":   seconds(p.Window),
		"requests": s.requests,
		"failed":   s.requests - s.succeeded,
	}
	if s.requests < p.MinRequests {
		return verdict{detail: fmt.Sprintf("%d requests finished in the last %s; need %d", s.requests, p.Window, p.MinRequests), output: out}
	}
	var why, summary []string
	if s.requests > 0 {
		sr := float64(s.succeeded) / float64(s.requests)
		out["success_rate"] = sr
		out["error_rate"] = 1 - sr
		if p.SuccessRate != nil {
			summary = append(summary, "success "+pctString(sr))
			if !p.SuccessRate.Contains(sr) {
				why = append(why, fmt.Sprintf("success rate %s, want %s", fmtRate(sr), p.SuccessRate))
			}
		}
		if p.ErrorRate != nil {
			summary = append(summary, "errors "+pctString(1-sr))
			if !p.ErrorRate.Contains(1 - sr) {
				why = append(why, fmt.Sprintf("error rate %s, want %s", fmtRate(1-sr), p.ErrorRate))
			}
		}
	}
	if s.answered > 0 {
		out["p50"] = seconds(s.p50)
		out["p99"] = seconds(s.p99)
	}
	for _, q := range []struct {
		name string
		r    *DurationRange
		v    time.Duration
	}{{"p50", p.P50, s.p50}, {"p99", p.P99, s.p99}} {
		if q.r == nil {
			continue
		}
		if s.answered == 0 {
			why = append(why, q.name+": no request was answered")
			continue
		}
		summary = append(summary, q.name+" "+roundDur(q.v).String())
		if !q.r.Contains(q.v) {
			why = append(why, fmt.Sprintf("%s %s, want %s", q.name, roundDur(q.v), q.r))
		}
	}
	if len(why) > 0 {
		return verdict{detail: strings.Join(why, "; ") + fmt.Sprintf(" (%d requests in %s)", s.requests, p.Window), output: out}
	}
	if len(summary) == 0 {
		summary = []string{"no request finished"}
	}
	return verdict{met: true, detail: strings.Join(summary, ", ") + fmt.Sprintf(" (%d requests in %s)", s.requests, p.Window), output: out}
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// jsonFloat keeps values encoding/json cannot write (NaN, ±Inf) as strings.
func jsonFloat(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmtFloat(v)
	}
	return v
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func fmtRate(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func pctString(v float64) string { return strconv.FormatFloat(v*100, 'f', 2, 64) + "%" }

// roundDur rounds d for people: microseconds below 1ms, else 0.1ms.
func roundDur(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(100 * time.Microsecond)
}
