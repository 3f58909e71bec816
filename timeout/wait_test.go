package timeout

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestWaitMode checks Config.Wait: the call runs on the caller's goroutine,
// Execute returns when it does, and a return after the deadline is a timeout
// with the overrun reported.
func TestWaitMode(t *testing.T) {
	tests := []struct {
		name       string
		fn         func(context.Context) error
		wantErr    error // matched with errors.Is; nil for success
		wantTook   time.Duration
		wantEvents []string
	}{
		{"fast success", work(100*ms, nil), nil, 100 * ms, nil},
		{"fast failure", work(100*ms, errBoom), errBoom, 100 * ms, nil},
		{"cooperative call stops at the deadline", cooperative, ErrTimeout, time.Second,
			[]string{"timeout: timeout err=timeout: call did not finish within 1s"}},
		{"call ignoring cancellation holds the caller", work(3*time.Second, nil), ErrTimeout, 3 * time.Second,
			[]string{
				"timeout: overrun delay=2s",
				"OnOverrun(2s, <nil>)",
				"timeout: timeout err=timeout: call did not finish within 1s",
			}},
		{"late failure keeps its cause", work(1500*ms, errBoom), errBoom, 1500 * ms,
			[]string{
				"timeout: overrun delay=500ms err=boom",
				"OnOverrun(500ms, boom)",
				"timeout: timeout err=timeout: call did not finish within 1s",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				to := MustNew(Config{Timeout: time.Second, Wait: true, Listener: rec, OnOverrun: rec.onOverrun})
				start := time.Now()
				err := to.Execute(context.Background(), tt.fn)
				if took := time.Since(start); took != tt.wantTook {
					t.Errorf("Execute took %v; want %v", took, tt.wantTook)
				}
				if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Execute = %v; want %v", err, tt.wantErr)
				}
				if errors.Is(err, ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Execute = %v; want it to match context.DeadlineExceeded too", err)
				}
				if diff := cmp.Diff(tt.wantEvents, rec.get()); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		})
	}
}
