package drill

import (
	"encoding/json"
	"io"
	"time"
)

// Status is how an experiment ended, as in Chaos Toolkit's journal.
type Status string

// The statuses of a [Journal].
const (
	// StatusCompleted: the steady state held before and after the method.
	StatusCompleted Status = "completed"
	// StatusFailed: the steady state did not hold before the method (the
	// system was not healthy to begin with; Deviated is false), or it
	// deviated during or after the method (Deviated is true).
	StatusFailed Status = "failed"
	// StatusAborted: an abort condition tripped, an action failed, or the
	// setup failed; the rollbacks ran. AbortReason says why.
	StatusAborted Status = "aborted"
	// StatusInterrupted: the run was cancelled (SIGINT or SIGTERM); the
	// rollbacks ran.
	StatusInterrupted Status = "interrupted"
)

// The exit codes of holdfast drill, by status (see [Journal.ExitCode]).
const (
	ExitHeld     = 0 // completed: the hypothesis held
	ExitDeviated = 1 // failed: the hypothesis did not hold
	ExitAborted  = 2 // aborted or interrupted: no verdict
)

// Journal is the record of one run, in the shape of Chaos Toolkit's
// journal (status, deviated, steady_states, run, rollbacks), plus what
// holdfast adds: the setup and teardown steps, the faults' spans, the load's
// timeline, and the phases, from which the HTML report is drawn. Times are
// absolute; durations are seconds. It is written as JSON.
type Journal struct {
	// Generator names the program and version that ran the experiment.
	Generator string `json:"generator"`
	// Experiment is the experiment as run, defaults filled.
	Experiment any `json:"experiment"`
	// Start and End bound the run; Duration is End-Start in seconds.
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Duration float64   `json:"duration"`
	// Status is how the experiment ended.
	Status Status `json:"status"`
	// Deviated is true when the steady state failed during or after the
	// method.
	Deviated bool `json:"deviated"`
	// AbortReason says why an aborted or interrupted run stopped.
	AbortReason string `json:"abort_reason,omitempty"`
	// AbortChecks counts the checks of the abort conditions that ran;
	// AbortProbe is the probe run that stopped the method, if one did.
	AbortChecks int          `json:"abort_checks,omitempty"`
	AbortProbe  *ActivityRun `json:"abort_probe,omitempty"`
	// SteadyStates are the hypothesis checks.
	SteadyStates SteadyStates `json:"steady_states"`
	// Run lists the method's actions that ran, in order.
	Run []*ActivityRun `json:"run"`
	// Rollbacks lists the rollbacks that ran, in order.
	Rollbacks []*ActivityRun `json:"rollbacks"`
	// Setup and Teardown are the drill's own steps: starting processes and
	// creating chaos proxies, then deleting and stopping them.
	Setup    []*ActivityRun `json:"setup,omitempty"`
	Teardown []*ActivityRun `json:"teardown,omitempty"`
	// Phases mark the parts of the run (warmup, before, method, after,
	// rollbacks, cooldown).
	Phases []Phase `json:"phases,omitempty"`
	// Faults are the spans during which each injected fault was in place.
	Faults []Fault `json:"faults,omitempty"`
	// Load is what the load generator measured, when there was load.
	Load *LoadReport `json:"load,omitempty"`
}

// SteadyStates are the hypothesis checks of a run.
type SteadyStates struct {
	Before *HypothesisRun   `json:"before"`
	During []*HypothesisRun `json:"during"`
	After  *HypothesisRun   `json:"after"`
}

// HypothesisRun is one check of the steady-state hypothesis.
type HypothesisRun struct {
	// SteadyStateMet is true when every probe met its tolerance.
	SteadyStateMet bool `json:"steady_state_met"`
	// Probes are the probes' runs, in order.
	Probes []*ActivityRun `json:"probes"`
}

// ActivityRun is one probe or action that ran, as in Chaos Toolkit.
type ActivityRun struct {
	// Activity is the probe or action as configured, with "type" set to
	// probe or action.
	Activity map[string]any `json:"activity"`
	// Status is "succeeded" when the activity ran, "failed" when it could
	// not (an error; Exception says which).
	Status string `json:"status"`
	// Output is what the activity returned: a probe's reading, an API's
	// answer.
	Output any `json:"output,omitempty"`
	// Exception is the error of a failed activity.
	Exception string `json:"exception,omitempty"`
	// ToleranceMet tells whether a probe's reading met its tolerance; nil
	// for actions.
	ToleranceMet *bool `json:"tolerance_met,omitempty"`
	// Detail says in words what was seen, such as "p99 412ms, want ≤
	// 300ms".
	Detail string `json:"detail,omitempty"`
	// Start, End and Duration (seconds) time the activity itself; an
	// action's duration (the hold before the next) is not included.
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Duration float64   `json:"duration"`
}

// met reports whether a probe ran and met its tolerance.
func (a *ActivityRun) met() bool { return a.ToleranceMet != nil && *a.ToleranceMet }

// name is the activity's configured name.
func (a *ActivityRun) name() string {
	n, _ := a.Activity["name"].(string)
	return n
}

// Phase is a named part of the run.
type Phase struct {
	Name  string    `json:"name"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Fault is the span during which one injected fault was in place: from the
// action that injected it (add_toxic, disable_proxy, kill_process) to the
// one that removed it (remove_toxic, enable_proxy, start_process) in the
// method or the rollbacks, or to the end of the run.
type Fault struct {
	// Name is the injecting action's name; Kind its kind; Target what it
	// acted on (proxy/toxic, proxy or process).
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// Start is when the fault was in place; End when it was removed (zero
	// if it never was); EndedBy the name of the action that removed it.
	Start   time.Time `json:"start"`
	End     time.Time `json:"end,omitzero"`
	EndedBy string    `json:"ended_by,omitempty"`
}

// LoadReport is what the load generator measured over the whole run.
type LoadReport struct {
	Method string  `json:"method"`
	URL    string  `json:"url"`
	Rate   float64 `json:"rate"`
	// Start is when the first request was due; timeline offsets count
	// from it.
	Start     time.Time      `json:"start"`
	Sent      int            `json:"sent"`
	Succeeded int            `json:"succeeded"`
	Failed    int            `json:"failed"`
	Dropped   int            `json:"dropped"`
	Statuses  map[string]int `json:"statuses"` // by status; "0" is an error or timeout
	// P50, P99 and Max are latencies in seconds over every request.
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
	// Interval is the width of a timeline point, in seconds.
	Interval float64         `json:"interval"`
	Timeline []TimelinePoint `json:"timeline"`
}

// TimelinePoint is one interval of the load: the requests that started in
// it.
type TimelinePoint struct {
	Offset    float64 `json:"offset"` // seconds from the load's start
	Sent      int     `json:"sent"`
	Succeeded int     `json:"succeeded"`
	Failed    int     `json:"failed"`
	P50       float64 `json:"p50"` // seconds
	P99       float64 `json:"p99"` // seconds
}

// ExitCode is holdfast drill's exit status for j: [ExitHeld] when the run
// completed, [ExitDeviated] when it failed, [ExitAborted] when it was
// aborted or interrupted.
func (j *Journal) ExitCode() int {
	switch j.Status {
	case StatusCompleted:
		return ExitHeld
	case StatusFailed:
		return ExitDeviated
	}
	return ExitAborted
}

// WriteJSON writes j as indented JSON.
func (j *Journal) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(j)
}

// ReadJournal decodes a journal written by [Journal.WriteJSON], for
// rendering its report again.
func ReadJournal(r io.Reader) (*Journal, error) {
	var j Journal
	if err := json.NewDecoder(r).Decode(&j); err != nil {
		return nil, err
	}
	return &j, nil
}
