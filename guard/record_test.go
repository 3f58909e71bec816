package guard

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var errDissent = errors.New("dissented")

func TestRecordAt(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		at   time.Duration
		fail bool
	}
	tests := []struct {
		name   string
		cfg    Config[int]
		steps  []step
		want   []State // the state after each step
		events []string
	}{
		{
			name:  "passes while active change nothing",
			cfg:   Config[int]{Violations: 2, RecoveryProbes: 2},
			steps: []step{{0, false}, {0, false}},
			want:  []State{StateActive, StateActive},
		},
		{
			name:   "violations within the window silence",
			cfg:    Config[int]{Violations: 2, Window: time.Minute, RecoveryProbes: 2},
			steps:  []step{{0, true}, {59 * time.Second, true}},
			want:   []State{StateActive, StateSilenced},
			events: []string{"violation", "violation", "silenced"},
		},
		{
			name:   "violations a window apart do not",
			cfg:    Config[int]{Violations: 2, Window: time.Minute, RecoveryProbes: 2},
			steps:  []step{{0, true}, {time.Minute, true}},
			want:   []State{StateActive, StateActive},
			events: []string{"violation", "violation"},
		},
		{
			name:   "passes in a row re-admit",
			cfg:    Config[int]{Violations: 1, RecoveryProbes: 3},
			steps:  []step{{0, true}, {1, false}, {2, false}, {3, false}},
			want:   []State{StateSilenced, StateSilenced, StateSilenced, StateActive},
			events: []string{"violation", "silenced", "recovered"},
		},
		{
			name:   "a violation while silenced restarts the count",
			cfg:    Config[int]{Violations: 1, RecoveryProbes: 2},
			steps:  []step{{0, true}, {1, false}, {2, true}, {3, false}, {4, false}},
			want:   []State{StateSilenced, StateSilenced, StateSilenced, StateSilenced, StateActive},
			events: []string{"violation", "silenced", "violation", "recovered"},
		},
		{
			name:   "re-admitted, it can be silenced again",
			cfg:    Config[int]{Violations: 1, RecoveryProbes: 1},
			steps:  []step{{0, true}, {1, false}, {2, true}},
			want:   []State{StateSilenced, StateActive, StateSilenced},
			events: []string{"violation", "silenced", "recovered", "violation", "silenced"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			tt.cfg.Listener = rec
			g := MustNew(tt.cfg)
			defer g.Close()
			for i, s := range tt.steps {
				var err error
				if s.fail {
					err = errDissent
				}
				if got := g.RecordAt(context.Background(), t0.Add(s.at), err); got != tt.want[i] {
					t.Errorf("step %d: RecordAt = %v; want %v", i, got, tt.want[i])
				}
				if got := g.State(); got != tt.want[i] {
					t.Errorf("step %d: State() = %v; want %v", i, got, tt.want[i])
				}
			}
			if diff := cmp.Diff(tt.events, rec.take()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}
