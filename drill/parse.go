package drill

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/holdfast-dev/holdfast/config"
	"go.yaml.in/yaml/v3"
)

var experimentType = reflect.TypeFor[Experiment]()

// LoadFile reads, checks and fills the defaults of the experiment at path.
// Relative paths in it (processes' working directories, the chaos token
// file) are relative to the file's directory.
func LoadFile(path string) (*Experiment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	e, err := Parse(data)
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
// directory.
func Parse(data []byte) (*Experiment, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, config.Errors{yamlSyntaxError(err)}
	}
	p := &problems{lines: map[string]int{}}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, config.Errors{{Msg: "the experiment is empty"}}
	}
	(&walker{p: p}).walk("", &root, experimentType)
	if err := p.err(); err != nil {
		return nil, err
	}
	e := &Experiment{}
	if err := root.Decode(e); err != nil {
		// The walk passed, so this is a YAML construct it does not model.
		return nil, config.Errors{yamlSyntaxError(err)}
	}
	e.applyDefaults()
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
	if t := e.Chaos.TokenFile; t != "" && !filepath.IsAbs(t) {
		e.Chaos.TokenFile = filepath.Join(dir, t)
	}
}

func yamlSyntaxError(err error) *config.Error {
	var line int
	msg := err.Error()
	if _, scanErr := fmt.Sscanf(msg, "yaml: line %d:", &line); scanErr == nil {
		if i := len(fmt.Sprintf("yaml: line %d: ", line)); i <= len(msg) {
			msg = msg[i:]
		}
	}
	return &config.Error{Line: line, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
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
