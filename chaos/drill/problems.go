package drill

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/config"
)

// problems collects validation errors, each with its key path and, when the
// experiment came from a file, its line. The file is checked and decoded by
// [config.Decode] (unknown keys, wrong kinds, durations without a unit, each
// with its key and line), so experiments and holdfast.yaml read alike; what
// is checked after decoding goes through here.
type problems struct {
	lines *config.Lines // nil for an experiment built in Go
	errs  config.Errors
}

func (p *problems) add(path, format string, args ...any) {
	if p.lines != nil {
		p.errs = append(p.errs, p.lines.Errorf(path, format, args...))
		return
	}
	p.errs = append(p.errs, &config.Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// err returns the problems in file order, or nil.
func (p *problems) err() error { return p.errs.InFileOrder() }

// nodeError is the error of a type that decodes itself: the node's line,
// and what is wrong. The key path is not known there; config.Decode adds
// it (see [config.Error]).
func nodeError(n *yaml.Node, format string, args ...any) error {
	return &config.Error{Line: n.Line, Msg: strings.TrimSpace(fmt.Sprintf(format, args...))}
}
