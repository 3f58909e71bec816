package vote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/holdfast-dev/holdfast"
)

const ms = time.Millisecond

var errBroken = errors.New("broken")

// impl scripts an implementation that answers val (or err) after took,
// unless its context ends first.
func impl(name string, took time.Duration, val int, err error) Impl[int] {
	return Impl[int]{Name: name, Fn: func(ctx context.Context) (int, error) {
		select {
		case <-time.After(took):
			return val, err
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		}
	}}
}

type recorder struct {
	mu     sync.Mutex
	events []holdfast.Event
}

func (r *recorder) OnEvent(e holdfast.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func TestDecide(t *testing.T) {
	tests := []struct {
		first, second, pending, quorum int
		want                           outcome
	}{
		{first: 2, second: 1, pending: 0, quorum: 2, want: agreed},
		{first: 2, second: 0, pending: 1, quorum: 2, want: agreed}, // 2 of 3: the third cannot tie
		{first: 1, second: 1, pending: 1, quorum: 2, want: undecided},
		{first: 1, second: 1, pending: 0, quorum: 2, want: noQuorum},
		{first: 1, second: 1, pending: 1, quorum: 3, want: noQuorum}, // 3 of 3 needed, answers differ
		{first: 0, second: 0, pending: 3, quorum: 2, want: undecided},
		{first: 0, second: 0, pending: 0, quorum: 2, want: noQuorum},
		{first: 2, second: 2, pending: 0, quorum: 2, want: noQuorum},  // a tie at a low quorum
		{first: 2, second: 1, pending: 1, quorum: 2, want: undecided}, // the last could make it a tie
		{first: 3, second: 1, pending: 1, quorum: 2, want: agreed},
		{first: 2, second: 0, pending: 2, quorum: 1, want: undecided}, // two pending could outnumber
		{first: 3, second: 0, pending: 0, quorum: 3, want: agreed},
	}
	for _, tt := range tests {
		if got := decide(tt.first, tt.second, tt.pending, tt.quorum); got != tt.want {
			t.Errorf("decide(first=%d, second=%d, pending=%d, quorum=%d) = %d; want %d",
				tt.first, tt.second, tt.pending, tt.quorum, got, tt.want)
		}
	}
}

func TestGrouping(t *testing.T) {
	values := []int{5, 7, 5, 9, 7, 5}
	g := grouping[int]{cmp: Equal[int], values: values}
	for _, i := range []int{4, 3, 1, 0, 5, 2} { // arrival order does not matter
		g.add(i)
	}
	want := [][]int{{0, 2, 5}, {1, 4}, {3}}
	if diff := cmp.Diff(want, g.sorted()); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if first, second := g.largest(); first != 3 || second != 2 {
		t.Errorf("largest() = %d, %d; want 3, 2", first, second)
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config[int]
		impls       []Impl[int]
		want        int
		wantErr     error
		wantElapsed time.Duration
		wantStatus  []Status
		wantReport  Report
		wantReason  string
	}{
		{
			name:        "unanimous",
			impls:       []Impl[int]{impl("a", 10*ms, 1, nil), impl("b", 20*ms, 1, nil), impl("c", 30*ms, 1, nil)},
			want:        1,
			wantElapsed: 20 * ms, // decided once two agree; c is cancelled
			wantStatus:  []Status{StatusAgreed, StatusAgreed, StatusCancelled},
			wantReport:  Report{Quorum: 2, Voters: 3, Agreed: []string{"a", "b"}, Cancelled: []string{"c"}, Groups: [][]string{{"a", "b"}}},
			wantReason:  "dissent",
		},
		{
			name:        "unanimous, waiting for all",
			cfg:         Config[int]{WaitAll: true},
			impls:       []Impl[int]{impl("a", 10*ms, 1, nil), impl("b", 20*ms, 1, nil), impl("c", 30*ms, 1, nil)},
			want:        1,
			wantElapsed: 30 * ms,
			wantStatus:  []Status{StatusAgreed, StatusAgreed, StatusAgreed},
			wantReport:  Report{Quorum: 2, Voters: 3, Agreed: []string{"a", "b", "c"}, Groups: [][]string{{"a", "b", "c"}}},
			wantReason:  "agreed",
		},
		{
			name:        "a dissenter",
			cfg:         Config[int]{WaitAll: true},
			impls:       []Impl[int]{impl("a", 10*ms, 1, nil), impl("b", 20*ms, 2, nil), impl("c", 30*ms, 1, nil)},
			want:        1,
			wantElapsed: 30 * ms,
			wantStatus:  []Status{StatusAgreed, StatusDissented, StatusAgreed},
			wantReport:  Report{Quorum: 2, Voters: 3, Agreed: []string{"a", "c"}, Dissenters: []string{"b"}, Groups: [][]string{{"a", "c"}, {"b"}}},
			wantReason:  "dissent",
		},
		{
			name:        "a quorum of 3 waits for the slowest it needs",
			impls:       []Impl[int]{impl("a", 10*ms, 1, nil), impl("b", 20*ms, 2, nil), impl("c", 30*ms, 1, nil), impl("d", 900*ms, 1, nil)},
			want:        1,
			wantElapsed: 900 * ms,
			wantStatus:  []Status{StatusAgreed, StatusDissented, StatusAgreed, StatusAgreed},
			wantReport:  Report{Quorum: 3, Voters: 4, Agreed: []string{"a", "c", "d"}, Dissenters: []string{"b"}, Groups: [][]string{{"a", "c", "d"}, {"b"}}},
			wantReason:  "dissent",
		},
		{
			name:        "failures and a missing voter",
			cfg:         Config[int]{Timeout: 100 * ms, Quorum: 2},
			impls:       []Impl[int]{impl("a", 10*ms, 0, errBroken), impl("b", 20*ms, 7, nil), impl("c", 200*ms, 7, nil), impl("d", 50*ms, 7, nil)},
			want:        7,
			wantElapsed: 50 * ms,
			wantStatus:  []Status{StatusFailed, StatusAgreed, StatusCancelled, StatusAgreed},
			wantReport: Report{Quorum: 2, Voters: 4, Agreed: []string{"b", "d"}, Failed: []Failure{{"a", errBroken}},
				Cancelled: []string{"c"}, Groups: [][]string{{"b", "d"}}},
			wantReason: "dissent",
		},
		{
			name:        "missing voters lose the quorum",
			cfg:         Config[int]{Timeout: 100 * ms},
			impls:       []Impl[int]{impl("a", 10*ms, 1, nil), impl("b", 200*ms, 1, nil), impl("c", 300*ms, 1, nil)},
			wantErr:     ErrNoQuorum,
			wantElapsed: 100 * ms,
			wantStatus:  []Status{StatusDissented, StatusMissing, StatusMissing},
			wantReport:  Report{Quorum: 2, Voters: 3, Dissenters: []string{"a"}, Missing: []string{"b", "c"}, Groups: [][]string{{"a"}}},
			wantReason:  "no_quorum",
		},
		{
			name:        "an answer at the deadline is missing",
			cfg:         Config[int]{Timeout: 100 * ms, WaitAll: true},
			impls:       []Impl[int]{impl("a", 10*ms, 1, nil), impl("b", 100*ms, 1, nil), impl("c", 10*ms, 1, nil)},
			want:        1,
			wantElapsed: 100 * ms,
			wantStatus:  []Status{StatusAgreed, StatusMissing, StatusAgreed},
			wantReport:  Report{Quorum: 2, Voters: 3, Agreed: []string{"a", "c"}, Missing: []string{"b"}, Groups: [][]string{{"a", "c"}}},
			wantReason:  "dissent",
		},
		{
			name:        "three-way split",
			impls:       []Impl[int]{impl("a", 10*ms, 1, nil), impl("b", 20*ms, 2, nil), impl("c", 30*ms, 3, nil)},
			wantErr:     ErrNoQuorum,
			wantElapsed: 30 * ms,
			wantStatus:  []Status{StatusDissented, StatusDissented, StatusDissented},
			wantReport:  Report{Quorum: 2, Voters: 3, Dissenters: []string{"a", "b", "c"}, Groups: [][]string{{"a"}, {"b"}, {"c"}}},
			wantReason:  "no_quorum",
		},
		{
			name:        "no quorum is known early",
			impls:       []Impl[int]{impl("a", 10*ms, 0, errBroken), impl("b", 20*ms, 0, errBroken), impl("c", 30*ms, 3, nil)},
			wantErr:     ErrNoQuorum,
			wantElapsed: 20 * ms,
			wantStatus:  []Status{StatusFailed, StatusFailed, StatusCancelled},
			wantReport:  Report{Quorum: 2, Voters: 3, Failed: []Failure{{"a", errBroken}, {"b", errBroken}}, Cancelled: []string{"c"}},
			wantReason:  "no_quorum",
		},
		{
			name:        "a tie at a low quorum",
			cfg:         Config[int]{Quorum: 2, WaitAll: true},
			impls:       []Impl[int]{impl("a", 10*ms, 1, nil), impl("b", 20*ms, 2, nil), impl("c", 30*ms, 2, nil), impl("d", 40*ms, 1, nil)},
			wantErr:     ErrNoQuorum,
			wantElapsed: 40 * ms,
			wantStatus:  []Status{StatusDissented, StatusDissented, StatusDissented, StatusDissented},
			wantReport: Report{Quorum: 2, Voters: 4, Dissenters: []string{"a", "b", "c", "d"},
				Groups: [][]string{{"a", "d"}, {"b", "c"}}},
			wantReason: "no_quorum",
		},
		{
			name:        "unnamed implementations",
			impls:       []Impl[int]{impl("", 10*ms, 4, nil), impl("", 10*ms, 4, nil)},
			want:        4,
			wantElapsed: 10 * ms,
			wantStatus:  []Status{StatusAgreed, StatusAgreed},
			wantReport:  Report{Quorum: 2, Voters: 2, Agreed: []string{"#0", "#1"}, Groups: [][]string{{"#0", "#1"}}},
			wantReason:  "agreed",
		},
		{
			name:       "fewer implementations than the quorum",
			cfg:        Config[int]{Quorum: 3},
			impls:      []Impl[int]{impl("a", 10*ms, 1, nil), impl("b", 10*ms, 1, nil)},
			wantErr:    ErrNoQuorum,
			wantStatus: []Status{0, 0},
			wantReport: Report{Quorum: 3, Voters: 2},
			wantReason: "no_quorum",
		},
		{
			name:       "no implementations",
			wantErr:    ErrNoQuorum,
			wantReport: Report{Quorum: 1, Voters: 0},
			wantReason: "no_quorum",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{}
				tt.cfg.Listener = rec
				v := MustNew(tt.cfg)
				start := time.Now()
				res, err := v.Run(context.Background(), tt.impls...)
				if elapsed := time.Since(start); elapsed != tt.wantElapsed {
					t.Errorf("returned after %v; want %v", elapsed, tt.wantElapsed)
				}
				if res.Value != tt.want || !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Errorf("Run = %d, %v; want %d, %v", res.Value, err, tt.want, tt.wantErr)
				}
				var status []Status
				for _, vote := range res.Votes {
					status = append(status, vote.Status)
				}
				if diff := cmp.Diff(tt.wantStatus, status); diff != "" {
					t.Errorf("statuses (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantReport, res.Report, cmpopts.EquateErrors()); diff != "" {
					t.Errorf("report (-want +got):\n%s", diff)
				}
				if nq, ok := errors.AsType[*NoQuorumError](err); ok {
					if diff := cmp.Diff(res.Report, nq.Report, cmpopts.EquateErrors()); diff != "" {
						t.Errorf("error's report differs from the result's (-result +error):\n%s", diff)
					}
				}
				if len(rec.events) != 1 || rec.events[0].Kind != holdfast.EventVote || rec.events[0].Reason != tt.wantReason ||
					rec.events[0].Value != float64(len(tt.wantReport.Agreed)) {
					t.Errorf("events = %v; want one vote reason=%s value=%d", rec.events, tt.wantReason, len(tt.wantReport.Agreed))
				}
			})
		})
	}
}

func TestVoteDetails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := MustNew(Config[int]{WaitAll: true, Timeout: 100 * ms})
		res, _ := v.Run(context.Background(),
			impl("a", 10*ms, 1, nil), impl("b", 20*ms, 2, nil), impl("c", 30*ms, 0, errBroken), impl("d", time.Second, 1, nil))
		want := []Vote[int]{
			{Name: "a", Status: StatusDissented, Value: 1, Latency: 10 * ms},
			{Name: "b", Status: StatusDissented, Value: 2, Latency: 20 * ms},
			{Name: "c", Status: StatusFailed, Err: errBroken, Latency: 30 * ms},
			{Name: "d", Status: StatusMissing},
		}
		if diff := cmp.Diff(want, res.Votes, cmpopts.EquateErrors()); diff != "" {
			t.Errorf("votes (-want +got):\n%s", diff)
		}
	})
}

func TestCancelledVotersSeeErrDecided(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		causes := make(chan error, 1)
		v := MustNew(Config[int]{})
		v.Run(context.Background(), impl("a", ms, 1, nil), impl("b", ms, 1, nil), Impl[int]{Name: "c", Fn: func(ctx context.Context) (int, error) {
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return 0, ctx.Err()
		}})
		if got := <-causes; got != ErrDecided {
			t.Errorf("cause = %v; want ErrDecided", got)
		}
	})
}

func TestRunContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := MustNew(Config[int]{Timeout: time.Second})
		release := make(chan struct{})
		hang := Impl[int]{Name: "hang", Fn: func(context.Context) (int, error) { <-release; return 1, nil }}

		// The caller's deadline acts as the vote's deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 50*ms)
		start := time.Now()
		res, err := v.Run(ctx, impl("a", 10*ms, 1, nil), impl("b", 20*ms, 1, nil), hang)
		cancel()
		if err != nil || res.Value != 1 || time.Since(start) != 20*ms {
			t.Errorf("Run with deadline = %d, %v after %v; want 1, nil after 20ms", res.Value, err, time.Since(start))
		}
		ctx, cancel = context.WithTimeout(context.Background(), 50*ms)
		start = time.Now()
		_, err = v.Run(ctx, impl("a", 10*ms, 1, nil), hang, hang)
		cancel()
		if !errors.Is(err, ErrNoQuorum) || time.Since(start) != 50*ms {
			t.Errorf("Run past the caller's deadline = %v after %v; want ErrNoQuorum after 50ms", err, time.Since(start))
		}

		// A caller that cancels gets its cancellation, not a verdict.
		ctx, cancel = context.WithCancel(context.Background())
		time.AfterFunc(30*ms, cancel)
		start = time.Now()
		_, err = v.Run(ctx, impl("a", 10*ms, 1, nil), hang, hang)
		if !errors.Is(err, context.Canceled) || time.Since(start) != 30*ms {
			t.Errorf("Run cancelled = %v after %v; want context.Canceled after 30ms", err, time.Since(start))
		}
		close(release) // the bubble fails if any implementation goroutine leaked
	})
}

func TestExecute(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config[int]
		outcomes []error // what each replica returns, in start order
		wantErr  error
		wantRep  string // the report's counts
	}{
		{name: "all succeed", outcomes: []error{nil, nil, nil}},
		{name: "a majority succeed", outcomes: []error{nil, errBroken, nil}},
		{name: "a majority fail", outcomes: []error{errBroken, errBroken, nil}, wantErr: ErrNoQuorum,
			wantRep: "agreed=0 failed=2 cancelled=1 missing=0"},
		{name: "five replicas, quorum 4", cfg: Config[int]{Replicas: 5, Quorum: 4}, outcomes: []error{nil, nil, errBroken, nil, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				v := MustNew(tt.cfg)
				// Replica i answers after i+1 ms, so the results arrive in order.
				var mu sync.Mutex
				n := 0
				err := v.Execute(context.Background(), func(ctx context.Context) error {
					mu.Lock()
					i := n
					n++
					mu.Unlock()
					select {
					case <-time.After(time.Duration(i+1) * ms):
						return tt.outcomes[i]
					case <-ctx.Done():
						return ctx.Err()
					}
				})
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Fatalf("Execute = %v; want %v", err, tt.wantErr)
				}
				if err == nil {
					return
				}
				// Which replica started first is up to the scheduler, so
				// compare the report by counts.
				nq, _ := errors.AsType[*NoQuorumError](err)
				r := nq.Report
				got := fmt.Sprintf("agreed=%d failed=%d cancelled=%d missing=%d", len(r.Agreed), len(r.Failed), len(r.Cancelled), len(r.Missing))
				if got != tt.wantRep {
					t.Errorf("report %v: %s; want %s", r, got, tt.wantRep)
				}
			})
		})
	}
}

func TestReportString(t *testing.T) {
	tests := []struct {
		r    Report
		want string
	}{
		{Report{Quorum: 2, Voters: 3, Agreed: []string{"a", "b", "c"}}, "3/3 agreed (quorum 2)"},
		{Report{Quorum: 2, Voters: 3, Agreed: []string{"a", "c"}, Dissenters: []string{"b"}}, "2/3 agreed (quorum 2); dissented: b"},
		{Report{Quorum: 3, Voters: 4, Dissenters: []string{"a", "b", "c"}, Groups: [][]string{{"a", "b"}, {"c"}}, Missing: []string{"d"}},
			"0/4 agreed (quorum 3); answers split [a b] [c]; missing: d"},
		{Report{Quorum: 2, Voters: 2, Failed: []Failure{{"x", errBroken}}, Cancelled: []string{"y"}},
			"0/2 agreed (quorum 2); failed: x (broken); cancelled: y"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("String() = %q; want %q", got, tt.want)
		}
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{StatusAgreed: "agreed", StatusDissented: "dissented", StatusFailed: "failed",
		StatusMissing: "missing", StatusCancelled: "cancelled", 0: "status(0)", 42: "status(42)"} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q; want %q", s, got, want)
		}
	}
}

func TestNameKind(t *testing.T) {
	v := MustNew(Config[string]{Name: "prices"})
	if v.Name() != "prices" || v.Kind() != holdfast.KindVote {
		t.Errorf("Name, Kind = %q, %v; want prices, other", v.Name(), v.Kind())
	}
	if got := MustNew(Config[string]{}).Name(); got != "vote" {
		t.Errorf("default Name() = %q; want vote", got)
	}
}

// TestPipelineLocksAVotersCalls: in a holdfast pipeline, a voter's replicas
// write the call's result at once, so the pipeline must treat the voter as
// concurrent. It did not (Kind was KindOther, and Voter had no Concurrent),
// which the race detector reports here.
func TestPipelineLocksAVotersCalls(t *testing.T) {
	v := MustNew(Config[int]{Replicas: 3})
	if !v.Concurrent() {
		t.Fatalf("Concurrent() = false; want true")
	}
	p := holdfast.MustNew[int](v)
	for range 20 {
		got, err := p.Get(context.Background(), func(context.Context) (int, error) { return 42, nil })
		if err != nil || got != 42 {
			t.Fatalf("Get = %d, %v; want 42", got, err)
		}
	}
}
