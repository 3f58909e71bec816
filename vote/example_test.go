package vote_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast-dev/holdfast/vote"
)

func Example() {
	v := vote.MustNew(vote.Config[int]{Timeout: time.Second, WaitAll: true})
	answer := func(n int) func(context.Context) (int, error) {
		return func(context.Context) (int, error) { return n, nil }
	}
	res, err := v.Run(context.Background(),
		vote.Impl[int]{Name: "primary", Fn: answer(42)},
		vote.Impl[int]{Name: "rewrite", Fn: answer(42)},
		vote.Impl[int]{Name: "legacy", Fn: answer(41)},
	)
	fmt.Println(res.Value, err)
	fmt.Println(res.Report)

	_, err = v.Run(context.Background(),
		vote.Impl[int]{Name: "primary", Fn: answer(1)},
		vote.Impl[int]{Name: "rewrite", Fn: answer(2)},
		vote.Impl[int]{Name: "legacy", Fn: func(context.Context) (int, error) { return 0, errors.New("timeout talking to mainframe") }},
	)
	fmt.Println(errors.Is(err, vote.ErrNoQuorum))
	fmt.Println(err)
	// Output:
	// 42 <nil>
	// 2/3 agreed (quorum 2); dissented: legacy
	// true
	// vote: vote: no quorum: 0/3 agreed (quorum 2); answers split [primary] [rewrite]; failed: legacy (timeout talking to mainframe)
}

func ExampleJSON() {
	same := vote.MustJSON[[]byte](vote.JSONOptions{
		Ignore:    []string{"/served_by", "/items/*/cached_at"},
		Unordered: []string{"/items"},
	})
	a := []byte(`{"served_by":"eu-1","items":[{"id":1,"cached_at":5},{"id":2}]}`)
	b := []byte(`{"items":[{"id":2,"cached_at":9},{"id":1.0}],"served_by":"us-2"}`)
	c := []byte(`{"items":[{"id":2},{"id":3}]}`)
	fmt.Println(same(a, b), same(a, c))
	// Output: true false
}
