package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/ratelimit"
)

// A limiter of 2 requests a second with a burst of 3 grants three at once,
// then one every half second.
func ExampleLimiter() {
	lim := ratelimit.MustNew(ratelimit.Config{RequestsPerSecond: 2, Burst: 3})
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, after := range []time.Duration{0, 0, 0, 0, 400 * time.Millisecond, 500 * time.Millisecond} {
		fmt.Printf("%v: %v\n", after, lim.AllowAt(start.Add(after)))
	}
	// Output:
	// 0s: true
	// 0s: true
	// 0s: true
	// 0s: false
	// 400ms: false
	// 500ms: true
}

// Execute refuses a call with an error that says when to come back.
func ExampleLimiter_Execute() {
	lim := ratelimit.MustNew(ratelimit.Config{RequestsPerSecond: 1, Burst: 1})
	call := func(context.Context) error { fmt.Println("called"); return nil }
	ctx := context.Background()

	_ = lim.Execute(ctx, call)
	err := lim.Execute(ctx, call)
	d, _ := holdfast.RetryAfter(err)
	fmt.Println(errors.Is(err, ratelimit.ErrLimited), d.Round(time.Second))
	// Output:
	// called
	// true 1s
}

// A reservation takes tokens ahead of time and tells when to use them; one
// that will not be used can be given back.
func ExampleLimiter_ReserveN() {
	lim := ratelimit.MustNew(ratelimit.Config{RequestsPerSecond: 10, Burst: 5})
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	batch := lim.ReserveN(now, 5)
	next := lim.ReserveN(now, 2)
	fmt.Println(batch.DelayFrom(now), next.DelayFrom(now))
	next.CancelAt(now)
	fmt.Println(lim.TokensAt(now))
	// Output:
	// 0s 200ms
	// 0
}

// A keyed limiter gives each user their own bucket, and forgets the buckets
// that are full again.
func ExampleKeyed() {
	perUser := ratelimit.MustNewKeyed(ratelimit.KeyedConfig{
		Config:  ratelimit.Config{RequestsPerSecond: 1, Burst: 1},
		MaxKeys: 10000,
	})
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	fmt.Println(perUser.AllowAt("alice", now), perUser.AllowAt("alice", now), perUser.AllowAt("bob", now))
	fmt.Println(perUser.Len(), "keys held")
	fmt.Println(perUser.SweepAt(now.Add(time.Second)), "forgotten")
	// Output:
	// true false true
	// 2 keys held
	// 2 forgotten
}
