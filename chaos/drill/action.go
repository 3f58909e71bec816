package drill

import (
	"fmt"
	"math"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Action is one step of the method or of the rollbacks. Exactly one of the
// kinds (AddToxic, UpdateToxic, RemoveToxic, DisableProxy, EnableProxy,
// KillProcess, StartProcess, HTTP, Process, Wait) is set.
type Action struct {
	// Name names the action in the journal and the report. Default: its
	// kind and target, such as "add_toxic shop-3/slow".
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Duration is how long the method holds after the action before the
	// next one: the length of the fault. Default 0. Ignored in rollbacks.
	Duration time.Duration `yaml:"duration,omitempty" json:"duration,omitempty"`
	// Timeout bounds the action itself (an API call, a request, waiting
	// for a started process to be ready). Default 10s; a started process
	// waits as long as its ready.timeout.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// IgnoreFailure lets the method go on when the action fails. Default
	// false: a failed action aborts the experiment (it cannot say anything
	// about a fault it could not inject).
	IgnoreFailure bool `yaml:"ignore_failure,omitempty" json:"ignore_failure,omitempty"`
	// Probe marks an http or process action that only reads, such as a
	// probe in a Chaos Toolkit method: the journal calls it a probe.
	// Default false.
	Probe bool `yaml:"probe,omitempty" json:"probe,omitempty"`

	// AddToxic adds a toxic to a chaos proxy.
	AddToxic *AddToxic `yaml:"add_toxic,omitempty" json:"add_toxic,omitempty"`
	// UpdateToxic changes a toxic's toxicity or attributes.
	UpdateToxic *UpdateToxic `yaml:"update_toxic,omitempty" json:"update_toxic,omitempty"`
	// RemoveToxic removes a toxic; a toxic that is not there is not an
	// error.
	RemoveToxic *ToxicRef `yaml:"remove_toxic,omitempty" json:"remove_toxic,omitempty"`
	// DisableProxy stops a chaos proxy: it closes its listener and every
	// connection, so clients see connection refused.
	DisableProxy *ProxyRef `yaml:"disable_proxy,omitempty" json:"disable_proxy,omitempty"`
	// EnableProxy starts a disabled chaos proxy again.
	EnableProxy *ProxyRef `yaml:"enable_proxy,omitempty" json:"enable_proxy,omitempty"`
	// KillProcess sends a signal (default KILL) to a process and waits for
	// it to exit.
	KillProcess *KillProcess `yaml:"kill_process,omitempty" json:"kill_process,omitempty"`
	// StartProcess starts a process that is not running and waits until it
	// is ready; a running process is left alone.
	StartProcess *ProcessRef `yaml:"start_process,omitempty" json:"start_process,omitempty"`
	// HTTP sends a request, such as POST /reload to holdfast's admin API.
	HTTP *HTTPAction `yaml:"http,omitempty" json:"http,omitempty"`
	// Process runs a program to its end.
	Process *ProcessRun `yaml:"process,omitempty" json:"process,omitempty"`
	// Wait does nothing for this long (the method's pause between faults).
	Wait time.Duration `yaml:"wait,omitempty" json:"wait,omitempty"`
}

// kind names the action's kind, or "" when none is set.
func (a *Action) kind() string {
	for _, k := range a.kinds() {
		return k
	}
	return ""
}

// kinds lists every kind set on a (more than one is invalid).
func (a *Action) kinds() []string {
	var ks []string
	add := func(set bool, k string) {
		if set {
			ks = append(ks, k)
		}
	}
	add(a.AddToxic != nil, "add_toxic")
	add(a.UpdateToxic != nil, "update_toxic")
	add(a.RemoveToxic != nil, "remove_toxic")
	add(a.DisableProxy != nil, "disable_proxy")
	add(a.EnableProxy != nil, "enable_proxy")
	add(a.KillProcess != nil, "kill_process")
	add(a.StartProcess != nil, "start_process")
	add(a.HTTP != nil, "http")
	add(a.Process != nil, "process")
	add(a.Wait != 0, "wait")
	return ks
}

// target names what the action acts on, for default names and fault marks.
func (a *Action) target() string {
	switch {
	case a.AddToxic != nil:
		return a.AddToxic.Proxy + "/" + a.AddToxic.toxicName()
	case a.UpdateToxic != nil:
		return a.UpdateToxic.Proxy + "/" + a.UpdateToxic.Name
	case a.RemoveToxic != nil:
		return a.RemoveToxic.Proxy + "/" + a.RemoveToxic.Name
	case a.DisableProxy != nil:
		return a.DisableProxy.Proxy
	case a.EnableProxy != nil:
		return a.EnableProxy.Proxy
	case a.KillProcess != nil:
		return a.KillProcess.Process
	case a.StartProcess != nil:
		return a.StartProcess.Process
	case a.HTTP != nil:
		return a.HTTP.URL
	case a.Process != nil:
		return strings.Join(append([]string{a.Process.Path}, a.Process.Arguments...), " ")
	case a.Wait != 0:
		return a.Wait.String()
	}
	return ""
}

// AddToxic is a toxic to add, in the chaos API's shape.
type AddToxic struct {
	// Proxy is the chaos proxy's name. Required.
	Proxy string `yaml:"proxy" json:"proxy"`
	// Name identifies the toxic for later updates and removal. Default
	// <type>_<stream>, as the chaos API names it.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Type is the toxic's type, such as latency, reset_peer, http_status
	// or http_delay (see docs/chaos.md). Required.
	Type string `yaml:"type" json:"type"`
	// Stream is downstream (default) or upstream.
	Stream string `yaml:"stream,omitempty" json:"stream,omitempty"`
	// Toxicity is the probability, in [0, 1], that the toxic applies.
	// Default 1.
	Toxicity *float64 `yaml:"toxicity,omitempty" json:"toxicity,omitempty"`
	// Attributes are the type's parameters, such as {latency: 200}; the
	// chaos API checks them.
	Attributes Attributes `yaml:"attributes,omitempty" json:"attributes,omitempty"`
}

// toxicName is the name the chaos API gives the toxic.
func (t *AddToxic) toxicName() string {
	if t.Name != "" {
		return t.Name
	}
	stream := t.Stream
	if stream == "" {
		stream = "downstream"
	}
	return t.Type + "_" + stream
}

// UpdateToxic changes a toxic in place (PATCH); attributes left out keep
// their values.
type UpdateToxic struct {
	// Proxy is the chaos proxy's name. Required.
	Proxy string `yaml:"proxy" json:"proxy"`
	// Name is the toxic's name. Required.
	Name string `yaml:"name" json:"name"`
	// Toxicity, when set, replaces the toxic's toxicity.
	Toxicity *float64 `yaml:"toxicity,omitempty" json:"toxicity,omitempty"`
	// Attributes are merged into the toxic's.
	Attributes Attributes `yaml:"attributes,omitempty" json:"attributes,omitempty"`
}

// ToxicRef names a toxic of a chaos proxy.
type ToxicRef struct {
	// Proxy is the chaos proxy's name. Required.
	Proxy string `yaml:"proxy" json:"proxy"`
	// Name is the toxic's name. Required.
	Name string `yaml:"name" json:"name"`
}

// ProxyRef names a chaos proxy.
type ProxyRef struct {
	// Proxy is the chaos proxy's name. Required.
	Proxy string `yaml:"proxy" json:"proxy"`
}

// ProcessRef names a process of the experiment.
type ProcessRef struct {
	// Process is the name of one of the experiment's processes. Required.
	Process string `yaml:"process" json:"process"`
}

// KillProcess signals a process of the experiment.
type KillProcess struct {
	// Process is the name of one of the experiment's processes. Required.
	Process string `yaml:"process" json:"process"`
	// Signal is KILL (default), TERM, INT, HUP or QUIT. Whatever the
	// signal, the action waits (up to its timeout) for the process to exit.
	Signal string `yaml:"signal,omitempty" json:"signal,omitempty"`
}

// HTTPAction is a request sent as an action.
type HTTPAction struct {
	// URL is requested. Required.
	URL string `yaml:"url" json:"url"`
	// Method is the HTTP method. Default POST.
	Method string `yaml:"method,omitempty" json:"method,omitempty"`
	// Headers are added to the request.
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// Body is sent with the request.
	Body string `yaml:"body,omitempty" json:"body,omitempty"`
	// Status lists the statuses that count as success. Default 2xx.
	Status Statuses `yaml:"status,omitempty" json:"status,omitempty"`
}

// Attributes are a toxic's parameters: a free-form mapping sent to the
// chaos API as a JSON object. [Experiment.Validate] checks that JSON can
// carry them; the chaos API checks their names and values.
type Attributes map[string]any

// maxNodes bounds the nodes nodeValue expands: aliases can make a small
// document stand for an exponentially large value (a "billion laughs").
const maxNodes = 100000

// nodeValue turns a YAML node into plain values encoding/json can write:
// mappings become map[string]any (keys as written), sequences []any,
// scalars their YAML type. NaN and infinities, which JSON cannot hold, are
// errors, and so is a value of more than maxNodes nodes once its aliases
// are expanded.
func nodeValue(n *yaml.Node) (any, error) {
	left := maxNodes
	return nodeValueBudget(n, &left)
}

func nodeValueBudget(n *yaml.Node, left *int) (any, error) {
	if *left--; *left < 0 {
		return nil, fmt.Errorf("line %d: the value is too large once its aliases are expanded (over %d nodes)", n.Line, maxNodes)
	}
	nodeValue := func(n *yaml.Node) (any, error) { return nodeValueBudget(n, left) }
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return nodeValue(n.Content[0])
	case yaml.AliasNode:
		return nodeValue(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key must be a single value", n.Content[i].Line)
			}
			v, err := nodeValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("line %d: %v", n.Line, err)
	}
	if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return nil, fmt.Errorf("line %d: %s cannot be sent as JSON", n.Line, n.Value)
	}
	return v, nil
}
