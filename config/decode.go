package config

import (
	"bytes"
	"fmt"
	"io"
	"reflect"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

// Lines maps the key paths of a decoded file, such as "steady_state[1].url",
// to their lines, so that validation done after decoding can name lines too.
type Lines struct {
	lines yamlpath.Lines
}

// Line returns the line of path, or of its nearest parent present in the
// file (a key left to its default has no line of its own), or 0.
func (l *Lines) Line(path string) int { return l.lines.Line(path) }

// Errorf returns an *Error at path, with its line.
func (l *Lines) Errorf(path, format string, args ...any) *Error {
	return newError(path, l.Line(path), fmt.Sprintf(format, args...))
}

// Decode checks a YAML document against the type of v the way [Parse]
// checks holdfast.yaml (unknown keys with a suggestion, values of the wrong
// kind, durations without a unit, negative durations, duplicate keys, a
// second document, aliases that expand past [MaxAliasValues], each named by
// key path and line) and then decodes it into v, which must be a pointer.
// On any problem it returns [Errors]; v may then be partly decoded. Other
// YAML files of holdfast (drill experiments) use it so that every file
// reads alike.
func Decode(data []byte, v any) (*Lines, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, fmt.Errorf("config: Decode needs a non-nil pointer, got %T", v)
	}
	root, e := parseDocument(data)
	if e != nil {
		return nil, Errors{e}
	}
	errs := &errorList{}
	if root.Kind != 0 {
		(&walker{errs: errs}).walk("", root, rv.Elem().Type())
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	if root.Kind != 0 {
		assign(errs, "", root, rv.Elem())
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return &Lines{lines: errs.lines}, nil
}

// parseDocument parses data, which must hold at most one YAML document
// and [MaxFileBytes], into a node tree whose aliases add at most
// [MaxAliasValues] values. An empty file gives a node of kind 0.
func parseDocument(data []byte) (*yaml.Node, *Error) {
	if len(data) > MaxFileBytes {
		return nil, newError("", 0, fmt.Sprintf("the file is %d bytes; a config file may hold at most %d (16 MiB)", len(data), MaxFileBytes))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	root := &yaml.Node{}
	if err := dec.Decode(root); err != nil {
		if err == io.EOF {
			return &yaml.Node{}, nil
		}
		return nil, yamlSyntaxError(err)
	}
	// yaml reads the first document and ignores the rest; a second one is
	// most likely a mistake (two files pasted together, a stray "---"),
	// and whatever it says would silently not apply.
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		return nil, yamlSyntaxError(err)
	default:
		return nil, newError("", next.Line, "a second YAML document starts here; a config file holds one (remove the \"---\" line and what follows, or merge the two)")
	}
	if e := checkAliases(root); e != nil {
		return nil, e
	}
	return root, nil
}
