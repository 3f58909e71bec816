package drill

import (
	"time"
)

// Experiment is one chaos experiment as written in its YAML file: what to
// set up, the load to drive, the steady-state hypothesis, the method (the
// faults, in order), the rollbacks, and the conditions that stop it early.
// Zero values mean the defaults documented on each field. [Parse] and
// [LoadFile] fill the defaults and validate; an Experiment built in Go
// should go through [Experiment.Validate] before [Run].
type Experiment struct {
	// Title names the experiment in the journal and the report. Required.
	Title string `yaml:"title" json:"title"`
	// Description says what the experiment is for. Optional.
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Tags are free-form labels copied to the journal.
	Tags []string `yaml:"tags,omitempty" json:"tags,omitempty"`

	// Chaos is the Toxiproxy-compatible API the toxic and proxy actions
	// call, and the proxies the drill creates on it for its own run.
	Chaos Chaos `yaml:"chaos,omitempty" json:"chaos,omitempty"`
	// Processes are command lines the drill starts before the experiment
	// (unless manual), can kill and start again, and stops at the end.
	Processes []*Process `yaml:"processes,omitempty" json:"processes,omitempty"`
	// Load is the constant-rate HTTP load driven for the whole experiment.
	// Optional; load probes need it.
	Load *Load `yaml:"load,omitempty" json:"load,omitempty"`

	// Hypothesis is checked before the method and after it (and, with
	// during_every, while it runs). Optional: without probes the
	// experiment only ends failed when it cannot run.
	Hypothesis Hypothesis `yaml:"steady_state_hypothesis,omitempty" json:"steady_state_hypothesis,omitempty"`
	// Method is the list of actions run in order. At least one.
	Method []*Action `yaml:"method" json:"method"`
	// Rollbacks undo the method. They always run once setup has started:
	// after the method, after an abort, after an interrupt (SIGINT or
	// SIGTERM) and after a failed hypothesis. Each should tolerate finding
	// nothing to undo; remove_toxic of a missing toxic, enable_proxy of an
	// enabled proxy and start_process of a running process succeed.
	Rollbacks []*Action `yaml:"rollbacks,omitempty" json:"rollbacks,omitempty"`
	// AbortWhen is the blast-radius stop: probes checked while the method
	// runs; the first that fails stops the method and the rollbacks run.
	AbortWhen *Guards `yaml:"abort_when,omitempty" json:"abort_when,omitempty"`

	// dir is the directory of the experiment file: the default working
	// directory of processes.
	dir string
	// fromCTK is set for an experiment read from Chaos Toolkit's format,
	// whose method may be empty; skipped lists what of it was dropped.
	fromCTK bool
	skipped []string
}

// FromChaosToolkit reports whether e was read from a Chaos Toolkit
// experiment file.
func (e *Experiment) FromChaosToolkit() bool { return e.fromCTK }

// Skipped lists the parts of a Chaos Toolkit experiment that were dropped
// because holdfast drill cannot run them ([LoadOptions.SkipUnsupported]),
// each naming its key and activity; nil when nothing was.
func (e *Experiment) Skipped() []string { return e.skipped }

// Chaos is the chaos API the experiment drives.
type Chaos struct {
	// API is the base URL of the Toxiproxy-compatible API (holdfast chaos
	// or Toxiproxy). Default http://127.0.0.1:8474.
	API string `yaml:"api,omitempty" json:"api,omitempty"`
	// TokenFile holds the bearer token sent with every call, for a chaos
	// API started with -token-file. Relative to the experiment file.
	// Default none.
	TokenFile string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
	// Timeout bounds each API call. Default 10s.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Proxies are created (POST /populate, which replaces a proxy of the
	// same name unless it is unchanged, as Toxiproxy's does) after the
	// processes start, and deleted at the end of the run, which also
	// removes any toxic left on them.
	Proxies []*ChaosProxy `yaml:"proxies,omitempty" json:"proxies,omitempty"`
}

// ChaosProxy is a proxy the drill creates on the chaos API for its run.
type ChaosProxy struct {
	// Name identifies the proxy; actions refer to it. Required, unique.
	Name string `yaml:"name" json:"name"`
	// Listen is the proxy's address. Default 127.0.0.1:0 (a free port,
	// which is only useful when nothing needs to know it).
	Listen string `yaml:"listen,omitempty" json:"listen,omitempty"`
	// Upstream is where it forwards: host:port, or http://host:port for
	// an HTTP proxy. Required.
	Upstream string `yaml:"upstream" json:"upstream"`
	// Protocol is tcp (default) or http; HTTP toxics need http.
	Protocol string `yaml:"protocol,omitempty" json:"protocol,omitempty"`
}

// Process is a command line the drill manages.
type Process struct {
	// Name identifies the process; kill_process and start_process refer to
	// it. Required, unique.
	Name string `yaml:"name" json:"name"`
	// Command is the program and its arguments, run without a shell
	// (use [sh, -c, "..."] for one). $VAR and ${VAR} are expanded from the
	// environment; $HOLDFAST is the running holdfast binary unless the
	// environment sets it. Required.
	Command []string `yaml:"command" json:"command"`
	// Dir is the working directory. Default: the experiment file's
	// directory, so relative paths in Command are relative to the file.
	Dir string `yaml:"dir,omitempty" json:"dir,omitempty"`
	// Env adds environment variables to the drill's own.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Manual, when true, leaves the process stopped until a start_process
	// action starts it. Default false: started before the experiment.
	Manual bool `yaml:"manual,omitempty" json:"manual,omitempty"`
	// Ready is how the drill knows a started process is ready. Default:
	// as soon as it has started.
	Ready *Ready `yaml:"ready,omitempty" json:"ready,omitempty"`
	// StopSignal stops the process at the end of the run: TERM (default),
	// INT, HUP, QUIT or KILL. KILL follows after StopTimeout.
	StopSignal string `yaml:"stop_signal,omitempty" json:"stop_signal,omitempty"`
	// StopTimeout is how long a stopping process may take before it is
	// killed. Default 5s.
	StopTimeout time.Duration `yaml:"stop_timeout,omitempty" json:"stop_timeout,omitempty"`
}

// Ready is a readiness check: an HTTP GET that must answer 2xx, or a TCP
// address that must accept a connection. Exactly one of URL and TCP.
type Ready struct {
	// URL is polled with GET until it answers 2xx.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// TCP is a host:port polled until it accepts a connection.
	TCP string `yaml:"tcp,omitempty" json:"tcp,omitempty"`
	// Timeout bounds the wait. Default 30s.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Load is the open-loop, constant-rate HTTP load the drill drives from
// before the steady-state check until after the rollbacks, with
// [loadgen].
type Load struct {
	// URL is requested at Rate. Required.
	URL string `yaml:"url" json:"url"`
	// Method is the HTTP method. Default GET.
	Method string `yaml:"method,omitempty" json:"method,omitempty"`
	// Headers are added to every request.
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// Body is sent with every request. Default none.
	Body string `yaml:"body,omitempty" json:"body,omitempty"`
	// Rate is requests per second, in (0, 100000]. Required.
	Rate float64 `yaml:"rate" json:"rate"`
	// Timeout bounds each request; a request that takes longer fails.
	// Default 5s.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// MaxInFlight caps outstanding requests; one due beyond it is not sent
	// and counts as failed. Default 10000.
	MaxInFlight int `yaml:"max_in_flight,omitempty" json:"max_in_flight,omitempty"`
	// Interval is the width of a point of the report's timeline.
	// Default 1s.
	Interval time.Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	// Warmup is how long the load runs before the steady state is first
	// checked. Default: the longest window of the hypothesis's load
	// probes, so that their first check sees a full window.
	Warmup time.Duration `yaml:"warmup,omitempty" json:"warmup,omitempty"`
	// Cooldown keeps the load running after the rollbacks, so the report
	// shows the recovery. Default 0.
	Cooldown time.Duration `yaml:"cooldown,omitempty" json:"cooldown,omitempty"`
}

// Hypothesis is the steady state the experiment expects to hold.
type Hypothesis struct {
	// Title says what the steady state is. Optional.
	Title string `yaml:"title,omitempty" json:"title,omitempty"`
	// Probes must all meet their tolerance for the steady state to hold.
	Probes []*Probe `yaml:"probes,omitempty" json:"probes,omitempty"`
	// DuringEvery, when set, also checks the probes this often while the
	// method runs; a failed check marks the experiment deviated (the
	// method goes on; abort_when is what stops it). Default 0: only before
	// and after.
	DuringEvery time.Duration `yaml:"during_every,omitempty" json:"during_every,omitempty"`
}

// Guards are the abort conditions: probes checked every Every while the
// method runs.
type Guards struct {
	// Every is how often the probes are checked. Default 1s.
	Every time.Duration `yaml:"every,omitempty" json:"every,omitempty"`
	// Probes are checked in order; the first that fails aborts. At least
	// one.
	Probes []*Probe `yaml:"probes" json:"probes"`
}
