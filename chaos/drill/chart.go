package drill

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// The report's charts are inline SVG drawn here: no script, no external
// asset, readable when the file is opened from disk or attached to a
// ticket. Both charts share the time axis (seconds from the start of the
// run), the fault spans (shaded, labelled) and the phase strip.

const (
	chartW      = 1000.0
	chartLeft   = 64.0
	chartRight  = 16.0
	chartTop    = 46.0
	chartBottom = 40.0
)

// series is one line of a chart.
type series struct {
	name  string
	class string // CSS class: its colour
	xs    []float64
	ys    []float64
}

// hline is a dashed threshold line, such as a hypothesis bound.
type hline struct {
	y     float64
	label string
	class string
}

// span is a shaded interval of the time axis: a fault.
type span struct {
	from, to float64
	label    string
}

// mark is a labelled instant: an action of the method.
type mark struct {
	x     float64
	label string
}

// chart is one time chart.
type chart struct {
	title    string
	unit     string // y axis unit, for tick labels ("%", "ms")
	height   float64
	xmax     float64
	ymin     float64
	ymax     float64
	lines    []series
	hlines   []hline
	spans    []span
	marks    []mark
	phases   []Phase // drawn as a strip under the plot
	phaseOff func(Phase) (float64, float64)
}

func (c *chart) x(v float64) float64 {
	return chartLeft + v/c.xmax*(chartW-chartLeft-chartRight)
}

func (c *chart) y(v float64) float64 {
	plot := c.height - chartTop - chartBottom
	if c.ymax == c.ymin {
		return chartTop + plot
	}
	v = math.Max(c.ymin, math.Min(c.ymax, v))
	return chartTop + plot - (v-c.ymin)/(c.ymax-c.ymin)*plot
}

// svg renders the chart. Every text it writes is escaped.
func (c *chart) svg() template.HTML {
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		chartW, c.height, esc(c.title))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.title))
	top, bottom := chartTop, c.height-chartBottom
	right := chartW - chartRight

	// Fault spans under everything else.
	for i, s := range c.spans {
		x0, x1 := c.x(s.from), c.x(s.to)
		fmt.Fprintf(&b, `<rect class="fault" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect>`,
			x0, top, math.Max(x1-x0, 1.5), bottom-top, esc(s.label))
		// Labels sit in the margin above the plot, staggered so that
		// neighbouring faults' labels do not overlap.
		fmt.Fprintf(&b, `<text class="fault-label" x="%.1f" y="%.1f">%s</text>`, x0+2, top-5-float64(i%2)*12, esc(clipLabel(s.label, x1-x0)))
	}

	// Grid and axes.
	for _, t := range ticks(c.ymin, c.ymax, 5) {
		y := c.y(t)
		fmt.Fprintf(&b, `<line class="grid" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/>`, chartLeft, y, right, y)
		fmt.Fprintf(&b, `<text class="tick" x="%g" y="%.1f" text-anchor="end">%s</text>`, chartLeft-6, y+4, esc(fmtTick(t)+c.unit))
	}
	for _, t := range ticks(0, c.xmax, 10) {
		x := c.x(t)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%g" x2="%.1f" y2="%g"/>`, x, top, x, bottom)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%g" text-anchor="middle">%ss</text>`, x, bottom+14, esc(fmtTick(t)))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`, chartLeft, bottom, right, bottom)
	fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`, chartLeft, top, chartLeft, bottom)

	// Phase strip under the axis labels.
	if c.phaseOff != nil {
		for _, p := range c.phases {
			from, to := c.phaseOff(p)
			if to <= from {
				continue
			}
			x0, x1 := c.x(from), c.x(to)
			fmt.Fprintf(&b, `<rect class="phase phase-%s" x="%.1f" y="%g" width="%.1f" height="8"><title>%s %.1fs–%.1fs</title></rect>`,
				esc(p.Name), x0, bottom+20, math.Max(x1-x0, 1), esc(p.Name), from, to)
			if x1-x0 > float64(len(p.Name))*6 {
				fmt.Fprintf(&b, `<text class="phase-label" x="%.1f" y="%g" text-anchor="middle">%s</text>`, (x0+x1)/2, bottom+38, esc(p.Name))
			}
		}
	}

	// Action marks, labelled at the foot of the plot.
	for i, m := range c.marks {
		x := c.x(m.x)
		fmt.Fprintf(&b, `<line class="mark" x1="%.1f" y1="%g" x2="%.1f" y2="%g"><title>%s</title></line>`, x, top, x, bottom, esc(m.label))
		fmt.Fprintf(&b, `<text class="mark-label" x="%.1f" y="%.1f">%s</text>`, x+3, bottom-6-float64(i%2)*12, esc(clipLabel(m.label, 0)))
	}

	// Threshold lines.
	for _, h := range c.hlines {
		y := c.y(h.y)
		fmt.Fprintf(&b, `<line class="threshold %s" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/>`, esc(h.class), chartLeft, y, right, y)
		fmt.Fprintf(&b, `<text class="threshold-label %s" x="%g" y="%.1f" text-anchor="end">%s</text>`, esc(h.class), right-4, y-4, esc(h.label))
	}

	// The data.
	for _, s := range c.lines {
		if len(s.xs) == 0 {
			continue
		}
		var pts strings.Builder
		for i := range s.xs {
			fmt.Fprintf(&pts, "%.1f,%.1f ", c.x(s.xs[i]), c.y(s.ys[i]))
		}
		fmt.Fprintf(&b, `<polyline class="line %s" points="%s"><title>%s</title></polyline>`, esc(s.class), strings.TrimSpace(pts.String()), esc(s.name))
		if len(s.xs) == 1 {
			fmt.Fprintf(&b, `<circle class="dot %s" cx="%.1f" cy="%.1f" r="3"/>`, esc(s.class), c.x(s.xs[0]), c.y(s.ys[0]))
		}
	}

	// Legend, top right.
	lx := right - 8
	for i := len(c.lines) - 1; i >= 0; i-- {
		s := c.lines[i]
		w := float64(len(s.name))*6.5 + 26
		lx -= w
		fmt.Fprintf(&b, `<line class="line %s" x1="%.1f" y1="12" x2="%.1f" y2="12"/><text class="legend" x="%.1f" y="16">%s</text>`,
			esc(s.class), lx, lx+16, lx+20, esc(s.name))
	}
	fmt.Fprintf(&b, `<text class="chart-title" x="%g" y="16">%s</text>`, 8.0, esc(c.title))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// clipLabel shortens a fault label to fit roughly in width pixels, but
// never below a readable stub.
func clipLabel(s string, width float64) string {
	n := max(int(width/6.5), 18)
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// ticks returns about n round values covering [lo, hi].
func ticks(lo, hi float64, n int) []float64 {
	if !(hi > lo) {
		return []float64{lo}
	}
	step := niceStep((hi - lo) / float64(n))
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// niceCeil rounds v up to a value that ticks() lands on.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	step := niceStep(v / 5)
	return math.Ceil(v/step) * step
}

func fmtTick(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
