package vote

import (
	"math"
	"testing"
)

func TestDefaultCompare(t *testing.T) {
	type point struct{ X, Y int }
	type node struct {
		V    int
		Next *node
	}
	nan := math.NaN()
	tests := []struct {
		name string
		eq   func() bool
		want bool
	}{
		{"ints equal", func() bool { return defaultCompare[int]()(3, 3) }, true},
		{"ints differ", func() bool { return defaultCompare[int]()(3, 4) }, false},
		{"strings", func() bool { return defaultCompare[string]()("a", "a") }, true},
		{"structs", func() bool { return defaultCompare[point]()(point{1, 2}, point{1, 2}) }, true},
		{"arrays", func() bool { return defaultCompare[[2]string]()([2]string{"a"}, [2]string{"b"}) }, false},
		{"NaN is not equal to itself", func() bool { return defaultCompare[float64]()(nan, nan) }, false},
		{"pointers by what they point to", func() bool { return defaultCompare[*point]()(&point{1, 2}, &point{1, 2}) }, true},
		{"structs holding pointers, deeply", func() bool {
			return defaultCompare[node]()(node{1, &node{V: 2}}, node{1, &node{V: 2}})
		}, true},
		{"slices", func() bool { return defaultCompare[[]int]()([]int{1, 2}, []int{1, 2}) }, true},
		{"maps", func() bool { return defaultCompare[map[string]int]()(map[string]int{"a": 1}, map[string]int{"a": 2}) }, false},
		{"interfaces holding slices do not panic", func() bool { return defaultCompare[any]()([]int{1}, []int{1}) }, true},
		{"interfaces of different types", func() bool { return defaultCompare[any]()(1, "1") }, false},
		{"Equal", func() bool { return Equal(point{1, 2}, point{1, 2}) }, true},
	}
	for _, tt := range tests {
		if got := tt.eq(); got != tt.want {
			t.Errorf("%s: got %v; want %v", tt.name, got, tt.want)
		}
	}
}
