package vote

import (
	"context"
	"testing"
)

func BenchmarkRunThreeAgree(b *testing.B) {
	v := MustNew(Config[int]{})
	fn := func(context.Context) (int, error) { return 42, nil }
	impls := []Impl[int]{{Name: "a", Fn: fn}, {Name: "b", Fn: fn}, {Name: "c", Fn: fn}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Run(ctx, impls...); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONCompare(b *testing.B) {
	eq := MustJSON[[]byte](JSONOptions{Ignore: []string{"/items/*/ts"}, Unordered: []string{"/items"}})
	x := []byte(`{"total":3,"items":[{"id":1,"ts":1,"name":"a"},{"id":2,"ts":2,"name":"b"},{"id":3,"ts":3,"name":"c"}]}`)
	y := []byte(`{"items":[{"id":3,"ts":9,"name":"c"},{"id":1,"ts":8,"name":"a"},{"id":2,"ts":7,"name":"b"}],"total":3}`)
	b.ReportAllocs()
	for b.Loop() {
		if !eq(x, y) {
			b.Fatal("want equal")
		}
	}
}
