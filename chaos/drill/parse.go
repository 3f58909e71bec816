package drill

import (
	"bytes"
	"os"
	"path/filepath"

	"github.com/holdfast-dev/holdfast/config"
	"go.yaml.in/yaml/v3"
)

// LoadOptions adjust how an experiment file is read. The zero value
// refuses a Chaos Toolkit experiment with parts holdfast drill cannot run.
type LoadOptions struct {
	// SkipUnsupported drops the parts of a Chaos Toolkit experiment that
	// holdfast drill cannot run (python providers, controls, background
	// activities, ...) instead of refusing the file; [Experiment.Skipped]
	// lists them.
	SkipUnsupported bool
}

// LoadFile reads, checks and fills the defaults of the experiment at path,
// in holdfast's format or Chaos Toolkit's (see [ParseWith]). Relative paths
// in it (processes' working directories, the chaos token file) are
// relative to the file's directory.
func LoadFile(path string) (*Experiment, error) { return LoadFileWith(path, LoadOptions{}) }

// LoadFileWith is [LoadFile] with options.
func LoadFileWith(path string, o LoadOptions) (*Experiment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	e, err := ParseWith(data, o)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	e.setDir(dir)
	return e, nil
}

// Parse decodes an experiment, fills its defaults and validates it. On any
// problem it returns [config.Errors] listing every one in file order, each
// with its key path and line, such as
// "method[1].add_toxic.type (line 23): required", and no experiment.
// Unknown keys are errors. Relative paths are relative to the current
// directory. A Chaos Toolkit experiment is read too (see [ParseWith]).
func Parse(data []byte) (*Experiment, error) { return ParseWith(data, LoadOptions{}) }

// maxExperimentBytes bounds an experiment file, as config bounds
// holdfast.yaml.
const maxExperimentBytes = 16 << 20

// ParseWith is [Parse] with options. The format is told from the keys: an
// experiment with Chaos Toolkit's (steady-state-hypothesis,
// configuration, secrets, activities with a type and a provider, ...) is
// read as Chaos Toolkit's, in JSON or YAML, for the parts holdfast drill
// runs (http and process providers, tolerances, pauses, refs,
// configuration and secrets inline or from the environment; see
// docs/drill.md). A part it cannot run makes an [*UnsupportedError] naming
// each, unless o.SkipUnsupported drops them. Chaos Toolkit ignores unknown
// keys in its format, and so does holdfast in it.
func ParseWith(data []byte, o LoadOptions) (*Experiment, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, config.Errors{{Msg: "the experiment is empty"}}
	}
	if len(data) <= maxExperimentBytes {
		var root yaml.Node
		if yaml.Unmarshal(data, &root) == nil && isChaosToolkit(&root) {
			// Bound what aliases expand to before walking the tree.
			if _, err := nodeValue(&root); err != nil {
				return nil, config.Errors{{Msg: err.Error()}}
			}
			e, err := parseChaosToolkit(&root, o.SkipUnsupported)
			if err != nil {
				return nil, err
			}
			e.setDir(".")
			return e, nil
		}
	}
	e := &Experiment{}
	lines, err := config.Decode(data, e)
	if err != nil {
		return nil, err
	}
	e.applyDefaults()
	p := &problems{lines: lines}
	e.validate(p)
	if err := p.err(); err != nil {
		return nil, err
	}
	e.setDir(".")
	return e, nil
}

// setDir records the directory relative paths are resolved against.
func (e *Experiment) setDir(dir string) {
	e.dir = dir
	for _, pr := range e.Processes {
		switch {
		case pr.Dir == "":
			pr.Dir = dir
		case !filepath.IsAbs(pr.Dir):
			pr.Dir = filepath.Join(dir, pr.Dir)
		}
	}
	for _, pr := range e.processRuns() {
		switch {
		case pr.Dir == "":
			pr.Dir = dir
		case !filepath.IsAbs(pr.Dir):
			pr.Dir = filepath.Join(dir, pr.Dir)
		}
	}
	if t := e.Chaos.TokenFile; t != "" && !filepath.IsAbs(t) {
		e.Chaos.TokenFile = filepath.Join(dir, t)
	}
}

// processRuns are the programs the experiment's probes and actions run.
func (e *Experiment) processRuns() []*ProcessRun {
	var out []*ProcessRun
	probes := e.Hypothesis.Probes
	if e.AbortWhen != nil {
		probes = append(probes[:len(probes):len(probes)], e.AbortWhen.Probes...)
	}
	for _, p := range probes {
		if p != nil && p.Process != nil {
			out = append(out, p.Process)
		}
	}
	for _, a := range append(e.Method[:len(e.Method):len(e.Method)], e.Rollbacks...) {
		if a != nil && a.Process != nil {
			out = append(out, a.Process)
		}
	}
	return out
}

// asValue renders v (an experiment, action or probe) as plain values for
// the journal: YAML keys, durations as strings such as "10s", zero fields
// left out. It goes through YAML because that is how the experiment was
// written.
func asValue(v any) any {
	b, err := yaml.Marshal(v)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return map[string]any{"error": err.Error()}
	}
	out, err := nodeValue(&n)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	return out
}
