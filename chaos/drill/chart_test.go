package drill

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 100, 5, []float64{0, 20, 40, 60, 80, 100}},
		{0, 35.3, 10, []float64{0, 5, 10, 15, 20, 25, 30, 35}},
		{98, 100, 5, []float64{98, 98.5, 99, 99.5, 100}},
		{0, 1500, 5, []float64{0, 500, 1000, 1500}},
		{5, 5, 5, []float64{5}},
	}
	for _, tt := range tests {
		if got := ticks(tt.lo, tt.hi, tt.n); !cmp.Equal(got, tt.want) {
			t.Errorf("ticks(%g, %g, %d) = %v; want %v", tt.lo, tt.hi, tt.n, got, tt.want)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	tests := []struct{ in, want float64 }{{0, 1}, {0.5, 0.5}, {1.7, 2}, {24.5, 25}, {673, 800}, {1100, 1500}}
	for _, tt := range tests {
		if got := niceCeil(tt.in); got != tt.want {
			t.Errorf("niceCeil(%g) = %g; want %g", tt.in, got, tt.want)
		}
	}
}

func TestChartSVG(t *testing.T) {
	c := &chart{
		title: `p99 <of> "load"`, unit: "%", height: 200, xmax: 10, ymin: 0, ymax: 100,
		lines:  []series{{name: "success", class: "s-success", xs: []float64{0, 5, 10}, ys: []float64{100, 50, 100}}},
		hlines: []hline{{y: 99, label: "hypothesis: success ≥ 99%", class: "t-hypothesis"}},
		spans:  []span{{from: 2, to: 6, label: `<script>alert(1)</script>`}},
		marks:  []mark{{x: 4, label: "escalate"}},
	}
	svg := string(c.svg())
	for _, want := range []string{
		`<svg class="chart"`,
		`<title>p99 &lt;of&gt; &#34;load&#34;</title>`,
		`&lt;script&gt;alert(1)&lt;/script&gt;`,
		// x maps 0..10 onto 64..984, y maps 100..0 onto 46..160.
		`<polyline class="line s-success" points="64.0,46.0 524.0,103.0 984.0,46.0">`,
		`<rect class="fault" x="248.0" y="46.0" width="368.0" height="114.0">`,
		`hypothesis: success ≥ 99%`,
		`>escalate</text>`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q:\n%s", want, svg)
		}
	}
	if strings.Contains(svg, "<script") {
		t.Errorf("SVG carries an unescaped script:\n%s", svg)
	}
}
