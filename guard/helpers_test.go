package guard

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/holdfast-dev/holdfast"
)

var (
	errNegative = errors.New("negative")
	errNetwork  = errors.New("connection reset")
)

// recorder collects events from any goroutine.
type recorder struct {
	mu     sync.Mutex
	events []holdfast.Event
}

func (r *recorder) OnEvent(e holdfast.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// kinds returns the kinds of the events so far, as strings, and forgets them.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Kind.String())
	}
	r.events = nil
	return out
}

func nonNegative(n int) error {
	if n < 0 {
		return fmt.Errorf("%d: %w", n, errNegative)
	}
	return nil
}

// value returns a call that returns n.
func value(n int) func(context.Context) (int, error) {
	return func(context.Context) (int, error) { return n, nil }
}
