package hedge

import (
	"testing"
	"time"
)

func TestRank(t *testing.T) {
	tests := []struct {
		p    float64
		n    int
		want int
	}{
		{0.5, 1, 0},
		{0.5, 2, 0},
		{0.5, 3, 1},
		{0.95, 20, 18},
		{0.95, 100, 94},
		{0.99, 10, 9},
		{1, 7, 6},
		{0.001, 7, 0},
	}
	for _, tt := range tests {
		if got := rank(tt.p, tt.n); got != tt.want {
			t.Errorf("rank(%v, %d) = %d; want %d", tt.p, tt.n, got, tt.want)
		}
	}
}

func TestLatencies(t *testing.T) {
	tests := []struct {
		name       string
		p          float64
		minSamples int
		size       int
		record     []time.Duration
		want       time.Duration
		wantOK     bool
	}{
		{name: "empty", p: 0.5, minSamples: 1, size: 4, wantOK: false},
		{name: "below min samples", p: 0.5, minSamples: 3, size: 4, record: []time.Duration{1, 2}, wantOK: false},
		{name: "median", p: 0.5, minSamples: 3, size: 4, record: []time.Duration{3, 1, 2}, want: 2, wantOK: true},
		{name: "duplicates", p: 0.5, minSamples: 1, size: 8, record: []time.Duration{5, 5, 5, 1, 9}, want: 5, wantOK: true},
		{name: "evicts the oldest", p: 1, minSamples: 1, size: 3, record: []time.Duration{100, 1, 2, 3}, want: 3, wantOK: true},
		{name: "evicts a duplicate once", p: 1, minSamples: 1, size: 2, record: []time.Duration{7, 7, 1}, want: 7, wantOK: true},
		{name: "wraps many times", p: 0.5, minSamples: 1, size: 3, record: []time.Duration{9, 8, 7, 6, 5, 4, 30, 20, 10}, want: 20, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLatencies(tt.p, tt.minSamples, tt.size)
			for _, d := range tt.record {
				l.record(d)
			}
			got, ok := l.percentile()
			if ok != tt.wantOK || ok && got != tt.want {
				t.Errorf("percentile() = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
			if n := len(l.sorted); n != min(len(tt.record), tt.size) {
				t.Errorf("sample holds %d; want %d", n, min(len(tt.record), tt.size))
			}
		})
	}
}

func TestLatenciesRecordDoesNotAllocate(t *testing.T) {
	l := newLatencies(0.95, 20, 200)
	i := 0
	got := testing.AllocsPerRun(1000, func() {
		i++
		l.record(time.Duration(i*7919%1000) * time.Microsecond)
	})
	if got != 0 {
		t.Errorf("record allocs = %v; want 0", got)
	}
}

func BenchmarkLatenciesRecord(b *testing.B) {
	l := newLatencies(0.95, 20, DefaultSampleSize)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		l.record(time.Duration(i*7919%1000) * time.Microsecond)
	}
}
