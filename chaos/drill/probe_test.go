package drill

import (
	"errors"
	"math"
	"testing"
	"time"
)

func f64(v float64) *float64 { return &v }

func TestRange(t *testing.T) {
	tests := []struct {
		r    Range
		v    float64
		want bool
		str  string
	}{
		{Range{Min: f64(0.99)}, 0.99, true, "≥ 0.99"},
		{Range{Min: f64(0.99)}, 0.989, false, "≥ 0.99"},
		{Range{Max: f64(0.2)}, 0.2, true, "≤ 0.2"},
		{Range{Max: f64(0.2)}, 0.21, false, "≤ 0.2"},
		{Range{Min: f64(2), Max: f64(4)}, 3, true, "[2, 4]"},
		{Range{Min: f64(2), Max: f64(4)}, 5, false, "[2, 4]"},
		{Range{Max: f64(0)}, 0, true, "≤ 0"},
		{Range{Min: f64(0)}, math.NaN(), false, "≥ 0"},
		{Range{}, 7, true, "any"},
	}
	for _, tt := range tests {
		if got := tt.r.Contains(tt.v); got != tt.want {
			t.Errorf("%s.Contains(%g) = %v; want %v", tt.r, tt.v, got, tt.want)
		}
		if got := tt.r.String(); got != tt.str {
			t.Errorf("String() = %q; want %q", got, tt.str)
		}
	}
}

func TestDurationRange(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		r    DurationRange
		v    time.Duration
		want bool
		str  string
	}{
		{DurationRange{Max: 300 * ms}, 300 * ms, true, "≤ 300ms"},
		{DurationRange{Max: 300 * ms}, 301 * ms, false, "≤ 300ms"},
		{DurationRange{Min: 10 * ms}, 9 * ms, false, "≥ 10ms"},
		{DurationRange{Min: 10 * ms, Max: 20 * ms}, 15 * ms, true, "[10ms, 20ms]"},
		{DurationRange{}, time.Hour, true, "any"},
	}
	for _, tt := range tests {
		if got := tt.r.Contains(tt.v); got != tt.want {
			t.Errorf("%s.Contains(%s) = %v; want %v", tt.r, tt.v, got, tt.want)
		}
		if got := tt.r.String(); got != tt.str {
			t.Errorf("String() = %q; want %q", got, tt.str)
		}
	}
}

func TestStatusesMatch(t *testing.T) {
	tests := []struct {
		s    Statuses
		code int
		want bool
	}{
		{Statuses{"200"}, 200, true},
		{Statuses{"200"}, 201, false},
		{Statuses{"2xx"}, 204, true},
		{Statuses{"2xx"}, 304, false},
		{Statuses{"200", "5xx"}, 503, true},
		{Statuses{"5xx"}, 50, false},
		{nil, 200, false},
	}
	for _, tt := range tests {
		if got := tt.s.Match(tt.code); got != tt.want {
			t.Errorf("%q.Match(%d) = %v; want %v", tt.s, tt.code, got, tt.want)
		}
	}
}

func TestJudgeHTTP(t *testing.T) {
	ms := time.Millisecond
	p := &HTTPProbe{Status: Statuses{"200", "204"}, MaxLatency: 500 * ms}
	tests := []struct {
		name    string
		status  int
		latency time.Duration
		err     error
		met     bool
		detail  string
	}{
		{"ok", 200, 12 * ms, nil, true, "status 200 in 12ms"},
		{"other accepted status", 204, 500 * ms, nil, true, "status 204 in 500ms"},
		{"wrong status", 503, 3 * ms, nil, false, "status 503, want 200 or 204"},
		{"too slow", 200, 812 * ms, nil, false, "latency 812ms over max_latency 500ms"},
		{"both", 500, 900 * ms, nil, false, "status 500, want 200 or 204; latency 900ms over max_latency 500ms"},
		{"no answer", 0, 5 * ms, errors.New("connection refused"), false, "connection refused"},
	}
	for _, tt := range tests {
		v := judgeHTTP(p, nil, tt.status, tt.latency, nil, tt.err)
		if v.met != tt.met || v.detail != tt.detail {
			t.Errorf("%s: got met %v %q; want %v %q", tt.name, v.met, v.detail, tt.met, tt.detail)
		}
	}
	if v := judgeHTTP(&HTTPProbe{Status: Statuses{"2xx"}}, nil, 200, time.Hour, nil, nil); !v.met {
		t.Errorf("no max_latency: an hour-long answer not met (%q); want met", v.detail)
	}
}

func TestJudgeMetric(t *testing.T) {
	page := []Sample{
		{Name: "usable", Labels: map[string]string{"upstream": "shop"}, Value: 3},
		{Name: "usable", Labels: map[string]string{"upstream": "cart"}, Value: 1},
		{Name: "req_total", Labels: map[string]string{"route": "a", "code_class": "2xx"}, Value: 90},
		{Name: "req_total", Labels: map[string]string{"route": "a", "code_class": "5xx"}, Value: 10},
		{Name: "odd", Labels: map[string]string{}, Value: math.NaN()},
	}
	tests := []struct {
		name   string
		p      MetricProbe
		met    bool
		detail string
	}{
		{"one series", MetricProbe{Name: "usable", Labels: map[string]string{"upstream": "shop"}, Aggregate: "sum", Min: f64(2)},
			true, `sum usable{upstream="shop"} = 3`},
		{"below min", MetricProbe{Name: "usable", Labels: map[string]string{"upstream": "cart"}, Aggregate: "sum", Min: f64(2)},
			false, `sum usable{upstream="cart"} = 1, want ≥ 2`},
		{"sum of series", MetricProbe{Name: "req_total", Aggregate: "sum", Min: f64(100), Max: f64(100)},
			true, "sum req_total = 100"},
		{"min", MetricProbe{Name: "usable", Aggregate: "min", Max: f64(0)}, false, "min usable = 1, want ≤ 0"},
		{"max", MetricProbe{Name: "usable", Aggregate: "max", Min: f64(3)}, true, "max usable = 3"},
		{"avg", MetricProbe{Name: "usable", Aggregate: "avg", Min: f64(2), Max: f64(2)}, true, "avg usable = 2"},
		{"count", MetricProbe{Name: "req_total", Aggregate: "count", Min: f64(2)}, true, "count req_total = 2"},
		{"count of nothing", MetricProbe{Name: "missing", Aggregate: "count", Max: f64(0)}, true, "count missing = 0"},
		{"no series", MetricProbe{Name: "missing", Aggregate: "sum", Min: f64(0)}, false, "no series matches missing"},
		{"no series with labels", MetricProbe{Name: "usable", Labels: map[string]string{"upstream": "x"}, Aggregate: "sum", Min: f64(0)},
			false, `no series matches usable{upstream="x"}`},
		{"NaN never met", MetricProbe{Name: "odd", Aggregate: "sum", Min: f64(0)}, false, "sum odd = NaN, want ≥ 0"},
	}
	for _, tt := range tests {
		v := judgeMetric(&tt.p, page)
		if v.met != tt.met || v.detail != tt.detail {
			t.Errorf("%s: got met %v %q; want %v %q", tt.name, v.met, v.detail, tt.met, tt.detail)
		}
	}
}

func TestJudgeLoad(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		p      LoadProbe
		s      windowStats
		met    bool
		detail string
	}{
		{"healthy", LoadProbe{Window: 10 * time.Second, MinRequests: 1, SuccessRate: &Range{Min: f64(0.99)}, P99: &DurationRange{Max: 300 * ms}},
			windowStats{requests: 500, succeeded: 500, answered: 500, p50: 2 * ms, p99: 40 * ms},
			true, "success 100.00%, p99 40ms (500 requests in 10s)"},
		{"too many errors", LoadProbe{Window: 5 * time.Second, MinRequests: 1, ErrorRate: &Range{Max: f64(0.2)}},
			windowStats{requests: 100, succeeded: 70, answered: 100},
			false, "error rate 0.3, want ≤ 0.2 (100 requests in 5s)"},
		{"errors at the bound", LoadProbe{Window: 5 * time.Second, MinRequests: 1, ErrorRate: &Range{Max: f64(0.25)}},
			windowStats{requests: 100, succeeded: 75, answered: 100},
			true, "errors 25.00% (100 requests in 5s)"},
		{"slow", LoadProbe{Window: 10 * time.Second, MinRequests: 1, P50: &DurationRange{Max: 10 * ms}, P99: &DurationRange{Max: 300 * ms}},
			windowStats{requests: 10, succeeded: 10, answered: 10, p50: 20 * ms, p99: 412 * ms},
			false, "p50 20ms, want ≤ 10ms; p99 412ms, want ≤ 300ms (10 requests in 10s)"},
		{"too few requests", LoadProbe{Window: 10 * time.Second, MinRequests: 100, SuccessRate: &Range{Min: f64(0.9)}},
			windowStats{requests: 99, succeeded: 99, answered: 99},
			false, "99 requests finished in the last 10s; need 100"},
		{"nothing answered", LoadProbe{Window: time.Second, MinRequests: 1, P99: &DurationRange{Max: time.Second}},
			windowStats{requests: 5, succeeded: 0, answered: 0},
			false, "p99: no request was answered (5 requests in 1s)"},
		{"min_requests 0 and nothing", LoadProbe{Window: time.Second, SuccessRate: &Range{Min: f64(0.9)}},
			windowStats{}, true, "no request finished (0 requests in 1s)"},
	}
	for _, tt := range tests {
		v := judgeLoad(&tt.p, tt.s)
		if v.met != tt.met || v.detail != tt.detail {
			t.Errorf("%s: got met %v %q; want %v %q", tt.name, v.met, v.detail, tt.met, tt.detail)
		}
	}
}
