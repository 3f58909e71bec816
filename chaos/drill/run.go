package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/holdfast-dev/holdfast/chaos/loadgen"
)

// Options adjust a [Run]. The zero value is ready to use.
type Options struct {
	// Out receives a line per step as the run goes, for people watching.
	// Nil is silent.
	Out io.Writer
	// Generator names the program in the journal. Default "holdfast drill".
	Generator string
	// Self is the binary that $HOLDFAST names in process command lines.
	// Default: the running executable.
	Self string
	// Client sends the probes', the actions' and the chaos API's requests
	// (the load has its own). Default: a client of the run's own.
	Client *http.Client
}

// errAborted is the cause given to the method's context when an abort
// condition trips or an action fails.
var errAborted = errors.New("drill: aborted")

// Run runs e: it starts the processes and creates the chaos proxies, starts
// the load, checks the steady state, runs the method while watching the
// abort conditions, checks the steady state again, runs the rollbacks, and
// stops what it started. It returns the journal of the run; the error is
// only for an invalid experiment, when nothing ran.
//
// When ctx ends (the command cancels it on SIGINT and SIGTERM) the run is
// interrupted: the method stops, and the rollbacks and the teardown still
// run, under their own timeouts, before Run returns. Run is safe to call
// from several goroutines with different experiments.
func Run(ctx context.Context, e *Experiment, opts Options) (*Journal, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if opts.Generator == "" {
		opts.Generator = "holdfast drill"
	}
	if opts.Self == "" {
		opts.Self, _ = os.Executable()
	}
	client := opts.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
	}
	r := &runner{
		e:      e,
		opts:   opts,
		client: client,
		chaos:  &chaosClient{base: e.Chaos.API, client: client},
		procs:  map[string]*proc{},
		win:    &window{keep: longestWindow(e)},
		open:   map[string]int{},
	}
	for _, p := range e.Processes {
		r.procs[p.Name] = newProc(p, opts.Self)
	}
	return r.run(ctx), nil
}

// longestWindow is the longest window of any load probe: how much of the
// load's history the run must keep.
func longestWindow(e *Experiment) time.Duration {
	var w time.Duration
	probes := e.Hypothesis.Probes
	if e.AbortWhen != nil {
		probes = append(probes[:len(probes):len(probes)], e.AbortWhen.Probes...)
	}
	for _, p := range probes {
		if p.Load != nil {
			w = max(w, p.Load.Window)
		}
	}
	return w
}

// runner is one run of an experiment.
type runner struct {
	e      *Experiment
	opts   Options
	client *http.Client
	chaos  *chaosClient
	procs  map[string]*proc
	win    *window
	start  time.Time
	// populated is set once the setup has asked for the chaos proxies:
	// from then on the teardown deletes them.
	populated bool

	// outMu serialises progress lines from the method and its watchers.
	outMu sync.Mutex

	// mu guards j (once the watchers run), open, aborted, failed and
	// deviated.
	mu       sync.Mutex
	j        *Journal
	open     map[string]int // open faults by key, as indexes into j.Faults
	aborted  string         // why an abort condition stopped the run; "" when none did
	failed   string         // what could not run; "" when everything could
	deviated bool
}

func (r *runner) logf(format string, args ...any) {
	if r.opts.Out == nil {
		return
	}
	r.outMu.Lock()
	defer r.outMu.Unlock()
	fmt.Fprintf(r.opts.Out, "[%6.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

func (r *runner) run(ctx context.Context) *Journal {
	r.start = time.Now()
	r.j = &Journal{
		ChaoslibVersion: ChaoslibVersion,
		Platform:        platform(),
		Node:            node(),
		Generator:       r.opts.Generator,
		Experiment:      ctkExperiment(r.e),
		Start:           at(r.start),
		SteadyStates:    SteadyStates{During: []*HypothesisRun{}},
		Run:             []*ActivityRun{},
		Rollbacks:       []*ActivityRun{},
	}
	// Rollbacks and teardown must run even after ctx has ended.
	bg := context.WithoutCancel(ctx)
	r.logf("experiment %q", r.e.Title)

	// An interrupt counts when it cut the experiment short; one that
	// arrives during the rollbacks or the teardown changes no verdict (and
	// does not stop them either).
	var interrupted error
	if r.setup(ctx) {
		stopLoad := r.startLoad(bg)
		r.experiment(ctx)
		if ctx.Err() != nil {
			interrupted = context.Cause(ctx)
		}
		r.rollbacks(bg)
		if c := r.e.Load; c != nil && c.Cooldown > 0 && ctx.Err() == nil {
			r.phase("cooldown", func() { sleep(ctx, c.Cooldown) })
		}
		stopLoad()
	} else {
		if ctx.Err() != nil {
			interrupted = context.Cause(ctx)
		}
		// Setup failed part-way: undo whatever the rollbacks cover anyway.
		r.rollbacks(bg)
	}
	r.teardown(bg)

	j := r.j
	j.End = now()
	j.Duration = j.End.Sub(j.Start.Time).Seconds()
	j.Deviated = r.deviated
	switch {
	case interrupted != nil:
		j.Status = StatusInterrupted
		j.AbortReason = "interrupted: " + interrupted.Error()
	case r.aborted != "":
		j.Status = StatusAborted
		j.AbortReason = r.aborted
	case r.failed != "":
		// As chaostoolkit-lib: failed is for what could not run, not for a
		// hypothesis that did not hold (that is deviated, or a steady
		// state before the method that was not met).
		j.Status = StatusFailed
		j.AbortReason = r.failed
	default:
		j.Status = StatusCompleted
	}
	r.logf("status %s, deviated %t (exit %d)", j.Status, j.Deviated, j.ExitCode())
	return j
}

// phase records a named part of the run around f.
func (r *runner) phase(name string, f func()) {
	start := time.Now()
	f()
	r.mu.Lock()
	r.j.Phases = append(r.j.Phases, Phase{Name: name, Start: at(start), End: now()})
	r.mu.Unlock()
}

// abort records the first abort condition that stopped the run.
func (r *runner) abort(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.aborted == "" {
		r.aborted = reason
	}
}

// fail records the first thing the run needed that could not run.
func (r *runner) fail(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed == "" {
		r.failed = reason
	}
}

// stopped reports whether an abort condition or a failure stopped the run.
func (r *runner) stopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.aborted != "" || r.failed != ""
}

// failedProbe records, as chaostoolkit-lib does, a probe of the hypothesis
// that could not run (its run failed, rather than its reading missing the
// tolerance).
func (r *runner) failedProbe(when string, h *HypothesisRun) {
	for _, p := range h.Probes {
		if p.Status != "succeeded" {
			r.fail(fmt.Sprintf("the steady state %s the method: probe %q could not run: %s", when, p.name(), p.Exception.String()))
			return
		}
	}
}

// experiment runs the part between setup and rollbacks: warmup, the
// steady state before, the method with its watchers, the steady state after.
func (r *runner) experiment(ctx context.Context) {
	if l := r.e.Load; l != nil && l.Warmup > 0 {
		r.logf("warming up for %s", l.Warmup)
		r.phase("warmup", func() { sleep(ctx, l.Warmup) })
	}
	if ctx.Err() != nil {
		return
	}
	if len(r.e.Hypothesis.Probes) > 0 {
		var before *HypothesisRun
		r.phase("before", func() { before = r.hypothesis(ctx, "before") })
		r.j.SteadyStates.Before = before
		if ctx.Err() != nil || !before.SteadyStateMet {
			if ctx.Err() == nil {
				r.failedProbe("before", before)
				r.logf("the steady state does not hold before the method: not running it")
			}
			return
		}
	}
	r.phase("method", func() { r.method(ctx) })
	if r.stopped() || ctx.Err() != nil || len(r.e.Hypothesis.Probes) == 0 {
		return
	}
	var after *HypothesisRun
	r.phase("after", func() { after = r.hypothesis(ctx, "after") })
	if ctx.Err() != nil {
		return
	}
	if !after.SteadyStateMet {
		r.failedProbe("after", after)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.j.SteadyStates.After = after
	if !after.SteadyStateMet {
		r.deviated = true
	}
}

// method runs the actions in order, with the abort conditions and the
// during checks watching from goroutines of their own.
func (r *runner) method(ctx context.Context) {
	mctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	if g := r.e.AbortWhen; g != nil {
		wg.Go(func() { r.guard(mctx, cancel, g) })
	}
	if every := r.e.Hypothesis.DuringEvery; every > 0 {
		wg.Go(func() { r.during(mctx, every) })
	}
	for _, a := range r.e.Method {
		if mctx.Err() != nil {
			break
		}
		run := r.act(mctx, a, "method")
		r.mu.Lock()
		r.j.Run = append(r.j.Run, run)
		r.mu.Unlock()
		if run.Status != "succeeded" && !a.IgnoreFailure {
			r.fail(fmt.Sprintf("action %q failed: %s", a.Name, run.Exception.String()))
			cancel(errAborted)
			break
		}
		if a.Duration > 0 {
			r.logf("holding for %s", a.Duration)
			sleep(mctx, a.Duration)
		}
	}
	cancel(nil)
	wg.Wait()
}

// guard checks the abort conditions every g.Every until ctx ends; the
// first failed probe aborts the run.
func (r *runner) guard(ctx context.Context, cancel context.CancelCauseFunc, g *Guards) {
	t := time.NewTicker(g.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range g.Probes {
			run := r.probe(ctx, p)
			if ctx.Err() != nil {
				return // the method ended while the probe ran; its verdict is moot
			}
			r.mu.Lock()
			r.j.AbortChecks++
			r.mu.Unlock()
			if run.met() {
				continue
			}
			r.mu.Lock()
			if r.j.AbortProbe == nil {
				r.j.AbortProbe = run
			}
			r.mu.Unlock()
			r.abort(fmt.Sprintf("abort condition %q: %s", p.Name, run.Detail))
			r.logf("ABORT: %q: %s", p.Name, run.Detail)
			cancel(errAborted)
			return
		}
	}
}

// during checks the hypothesis every every until ctx ends.
func (r *runner) during(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := r.hypothesis(ctx, "during")
		if ctx.Err() != nil {
			return
		}
		r.mu.Lock()
		r.j.SteadyStates.During = append(r.j.SteadyStates.During, h)
		if !h.SteadyStateMet {
			r.deviated = true
		}
		r.mu.Unlock()
	}
}

// hypothesis runs every probe of the hypothesis.
func (r *runner) hypothesis(ctx context.Context, when string) *HypothesisRun {
	h := &HypothesisRun{SteadyStateMet: true, Probes: []*ActivityRun{}}
	for _, p := range r.e.Hypothesis.Probes {
		run := r.probe(ctx, p)
		h.Probes = append(h.Probes, run)
		if !run.met() {
			h.SteadyStateMet = false
		}
		if ctx.Err() != nil {
			continue // an interrupted check is dropped by the caller; say nothing
		}
		verdict := "met"
		if !run.met() {
			verdict = "NOT MET"
		}
		r.logf("%s: probe %q %s: %s", when, p.Name, verdict, run.Detail)
	}
	return h
}

// sleep waits d or until ctx ends, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// startLoad starts the load, when there is one, and returns the function
// that stops it and records what it measured.
func (r *runner) startLoad(ctx context.Context) (stop func()) {
	l := r.e.Load
	if l == nil {
		return func() {}
	}
	lctx, cancel := context.WithCancel(ctx)
	cfg := loadgen.Config{
		Rate: l.Rate,
		// Open-ended: the run stops the load by cancelling lctx.
		Duration:    365 * 24 * time.Hour,
		Timeout:     l.Timeout,
		MaxInFlight: l.MaxInFlight,
		Interval:    l.Interval,
		NewRequest: func(ctx context.Context) (*http.Request, error) {
			var body io.Reader
			if l.Body != "" {
				body = strings.NewReader(l.Body)
			}
			req, err := http.NewRequestWithContext(ctx, l.Method, l.URL, body)
			if err != nil {
				return nil, err
			}
			for k, v := range l.Headers {
				req.Header.Set(k, v)
			}
			return req, nil
		},
		OnDone: r.win.add,
	}
	type result struct {
		res *loadgen.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := loadgen.Run(lctx, cfg)
		done <- result{res, err}
	}()
	r.logf("load: %s %s at %g req/s", l.Method, l.URL, l.Rate)
	return func() {
		cancel()
		out := <-done
		if out.err != nil {
			r.logf("load: %v", out.err)
			return
		}
		r.j.Load = loadReport(l, out.res)
		r.logf("load: %d requests, %.2f%% succeeded, p50 %s, p99 %s", out.res.Sent, out.res.SuccessRate()*100,
			roundDur(out.res.Latency.Quantile(0.5)), roundDur(out.res.Latency.Quantile(0.99)))
	}
}

func loadReport(l *Load, res *loadgen.Result) *LoadReport {
	lr := &LoadReport{
		Method: l.Method, URL: l.URL, Rate: l.Rate, Start: at(res.Start),
		Sent: res.Sent, Succeeded: res.Succeeded, Failed: res.Failed, Dropped: res.Dropped,
		Statuses: map[string]int{},
		P50:      res.Latency.Quantile(0.5).Seconds(),
		P99:      res.Latency.Quantile(0.99).Seconds(),
		Max:      res.Latency.Max().Seconds(),
		Interval: l.Interval.Seconds(),
		Timeline: []TimelinePoint{},
	}
	for code, n := range res.Statuses {
		lr.Statuses[strconv.Itoa(code)] = n
	}
	for _, p := range res.Timeline {
		lr.Timeline = append(lr.Timeline, TimelinePoint{
			Offset: p.Offset.Seconds(), Sent: p.Sent, Succeeded: p.Succeeded, Failed: p.Failed,
			P50: p.P50.Seconds(), P99: p.P99.Seconds(),
		})
	}
	return lr
}
