package drill

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is how an experiment ended, as in Chaos Toolkit's journal.
type Status string

// The statuses of a [Journal], with Chaos Toolkit's meanings: whether the
// hypothesis held is not the status but [Journal.Deviated] and the steady
// state before the method.
const (
	// StatusCompleted: everything the experiment had to run ran. The
	// hypothesis may still not have held: Deviated is true when it failed
	// during or after the method, and a steady state before the method
	// that was not met kept the method from running (Deviated is false).
	StatusCompleted Status = "completed"
	// StatusFailed: something the experiment needed could not run: a
	// probe of the hypothesis (an error, not a reading out of tolerance),
	// an action of the method (without ignore_failure), or the setup. The
	// rollbacks ran. AbortReason says what.
	StatusFailed Status = "failed"
	// StatusAborted: an abort condition (abort_when) stopped the method;
	// the rollbacks ran. AbortReason says which.
	StatusAborted Status = "aborted"
	// StatusInterrupted: the run was cancelled (SIGINT or SIGTERM); the
	// rollbacks ran.
	StatusInterrupted Status = "interrupted"
)

// The exit codes of holdfast drill, by status (see [Journal.ExitCode]).
const (
	ExitHeld     = 0 // completed and the hypothesis held
	ExitDeviated = 1 // the hypothesis did not hold, before or after the method
	ExitAborted  = 2 // failed, aborted or interrupted: no verdict
)

// Journal is the record of one run in Chaos Toolkit's journal format, as
// chaostoolkit-lib's run module writes it (chaoslib-version, platform,
// node, experiment, start, end, duration, status, deviated, steady_states,
// run, rollbacks), so that Chaos Toolkit's own tools, such as chaos report,
// read it. Holdfast's additions are keys Chaos Toolkit ignores: the
// generator, why a run stopped, the abort checks, the setup and teardown
// steps, the phases, the faults' spans and the load's timeline, from which
// the HTML report is drawn. Times are absolute ([Time]); durations are
// seconds. It is written as JSON.
type Journal struct {
	// ChaoslibVersion is [ChaoslibVersion]: the chaostoolkit-lib release
	// whose journal format this is. Chaos Toolkit's tools choose how to
	// read a journal by it.
	ChaoslibVersion string `json:"chaoslib-version"`
	// Platform is the operating system and machine the drill ran on;
	// Node the host's name.
	Platform string `json:"platform"`
	Node     string `json:"node"`
	// Generator names the program and version that ran the experiment.
	Generator string `json:"generator"`
	// Experiment is the experiment as run, defaults filled, in Chaos
	// Toolkit's experiment format (see docs/drill.md); holdfast's own form
	// of each activity is under its "holdfast" key, and what the format has
	// no place for is in the extension named holdfast.
	Experiment any `json:"experiment"`
	// Start and End bound the run; Duration is End-Start in seconds.
	Start    Time    `json:"start"`
	End      Time    `json:"end"`
	Duration float64 `json:"duration"`
	// Status is how the experiment ended.
	Status Status `json:"status"`
	// Deviated is true when the steady state failed during or after the
	// method.
	Deviated bool `json:"deviated"`
	// AbortReason says why a failed, aborted or interrupted run stopped.
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

// SteadyStates are the hypothesis checks of a run. Before and After are
// null when they did not run.
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
	// Activity is the probe or action in Chaos Toolkit's activity format
	// (type, name, provider, tolerance, pauses), with holdfast's own form
	// under "holdfast". The setup's and teardown's steps have only a type
	// (setup or teardown) and a name.
	Activity map[string]any `json:"activity"`
	// Status is "succeeded" when the activity ran, "failed" when it could
	// not (an error; Exception says which).
	Status string `json:"status"`
	// Output is what the activity returned: a probe's reading, an API's
	// answer; null when nothing.
	Output any `json:"output"`
	// Exception is the error of a failed activity.
	Exception Exception `json:"exception,omitempty"`
	// ToleranceMet tells whether a probe's reading met its tolerance; nil
	// for actions.
	ToleranceMet *bool `json:"tolerance_met,omitempty"`
	// Detail says in words what was seen, such as "p99 412ms, want ≤
	// 300ms".
	Detail string `json:"detail,omitempty"`
	// Start, End and Duration (seconds) time the activity itself; an
	// action's duration (the hold before the next) is not included.
	Start    Time    `json:"start"`
	End      Time    `json:"end"`
	Duration float64 `json:"duration"`
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
	Name  string `json:"name"`
	Start Time   `json:"start"`
	End   Time   `json:"end"`
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
	Start   Time   `json:"start"`
	End     Time   `json:"end,omitzero"`
	EndedBy string `json:"ended_by,omitempty"`
}

// LoadReport is what the load generator measured over the whole run.
type LoadReport struct {
	Method string  `json:"method"`
	URL    string  `json:"url"`
	Rate   float64 `json:"rate"`
	// Start is when the first request was due; timeline offsets count
	// from it.
	Start     Time           `json:"start"`
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

// ExitCode is holdfast drill's exit status for j: [ExitAborted] when the
// run was aborted or interrupted; [ExitDeviated] when the hypothesis did
// not hold, after the method (Deviated) or before it; [ExitHeld] when the
// run completed; [ExitAborted] otherwise (it failed: something could not
// run, so there is no verdict).
func (j *Journal) ExitCode() int {
	switch {
	case j.Status == StatusAborted || j.Status == StatusInterrupted:
		return ExitAborted
	case j.Deviated, j.SteadyStates.Before != nil && !j.SteadyStates.Before.SteadyStateMet:
		return ExitDeviated
	case j.Status == StatusCompleted:
		return ExitHeld
	}
	return ExitAborted
}

// Time is a timestamp of the journal. It is written as Chaos Toolkit
// writes one, Python's isoformat of a UTC datetime
// ("2026-01-02T15:04:05.123456+00:00", microseconds, without the fraction
// when it is zero), and read in that form or any RFC 3339 one (journals of
// earlier holdfast versions). The zero Time is written as null.
type Time struct{ time.Time }

// at is t as a journal keeps it: in UTC, to the microsecond the journal
// is written with, and without a monotonic reading. Every Time a run
// records is made by at, so that a journal read back renders the report
// the run rendered: a phase shorter than a microsecond has no length in
// either.
func at(t time.Time) Time { return Time{t.UTC().Truncate(time.Microsecond)} }

// isoLayout is Python's datetime.isoformat() of an aware UTC datetime
// without its fraction, which isoFormat adds as Python does.
const isoLayout = "2006-01-02T15:04:05"

// isoFormat formats t as Python's datetime.isoformat() does in UTC.
func isoFormat(t time.Time) string {
	t = t.UTC()
	s := t.Format(isoLayout)
	if us := t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s + "+00:00"
}

// MarshalJSON writes t in Chaos Toolkit's form, or null when t is zero.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(isoFormat(t.Time))
}

// UnmarshalJSON reads Chaos Toolkit's form or RFC 3339; null is the zero
// Time.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("drill: a journal time must be a string such as \"2026-01-02T15:04:05.123456+00:00\", got %s", b)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("drill: journal time %q: %v", s, err)
	}
	t.Time = v
	return nil
}

// String is t in Chaos Toolkit's form.
func (t Time) String() string { return isoFormat(t.Time) }

// Exception is the error of a failed activity as Chaos Toolkit writes it:
// a list of strings (Python's formatted traceback; holdfast writes the
// error's message as one line). It reads a single string too, as journals
// of earlier holdfast versions have it.
type Exception []string

// String joins the lines.
func (e Exception) String() string { return strings.TrimSpace(strings.Join(e, "")) }

// UnmarshalJSON reads a list of strings or one string.
func (e *Exception) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*e = Exception{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("drill: an exception must be a list of strings, got %s", b)
	}
	*e = l
	return nil
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
