package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/internal/yamlpath"
)

// Error is one problem in a config file: the key path, such as
// "routes[2].retry.budget.ratio", the line the key is on (0 when unknown), and
// what is wrong.
//
// A type that decodes itself (an UnmarshalYAML of a value in a file that
// [Parse] or [Decode] reads) returns an *Error, or [Errors], whose Path is
// relative to the value, since the type does not know where it sits: ""
// for the value itself, "[1]" for its second item. A Line of 0 there is
// the value's line. The decoder makes both whole.
type Error struct {
	Path string
	Line int
	Msg  string
}

// newError returns an *Error with msg's URL passwords redacted.
func newError(path string, line int, msg string) *Error {
	return &Error{Path: path, Line: line, Msg: redact(msg)}
}

// Error formats e as "path (line N): msg". The password of any URL in it
// is redacted (as [url.URL.Redacted] does), also in an Error built by hand.
func (e *Error) Error() string {
	var s string
	switch {
	case e.Path == "" && e.Line == 0:
		s = e.Msg
	case e.Path == "":
		s = fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	case e.Line == 0:
		s = e.Path + ": " + e.Msg
	default:
		s = fmt.Sprintf("%s (line %d): %s", e.Path, e.Line, e.Msg)
	}
	return redact(s)
}

// Errors is every problem found in a config file, in file order. It is the
// error type returned by [Parse] and [Load].
type Errors []*Error

// maxErrorLines bounds the errors that Errors.Error joins into one
// string: a reload's answer and log line stay readable and small even for
// a file with an error on each of its million lines. The list itself keeps
// them all.
const maxErrorLines = 100

// Error joins the errors, one a line: the first 100, then how many more
// there are.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i == maxErrorLines {
			fmt.Fprintf(&b, "\n(and %d more errors)", len(es)-i)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// errorList collects errors while a file is checked, resolving key paths to
// lines through the file's index.
type errorList struct {
	lines yamlpath.Lines
	errs  Errors
}

func (l *errorList) add(path, format string, args ...any) {
	l.errs = append(l.errs, newError(path, l.line(path), fmt.Sprintf(format, args...)))
}

// line finds the line of path, or of its nearest parent present in the file
// (a defaulted key has no line of its own).
func (l *errorList) line(path string) int { return l.lines.Line(path) }

// addPolicy records the errors a policy's Validate returned, re-keyed by
// where the policy sits in the file (prefix, such as "routes[0].retry").
func (l *errorList) addPolicy(prefix string, err error) {
	if err == nil {
		return
	}
	for _, e := range flatten(err) {
		var ce *holdfast.ConfigError
		if errors.As(e, &ce) {
			path := prefix
			if ce.Key != "" {
				path += "." + ce.Key
			}
			l.add(path, "%s", ce.Message)
			continue
		}
		l.add(prefix, "%s", e.Error())
	}
}

// dropShadowed removes the errors found after the first n (the decoder's
// after the walker's, or validation's after decoding's) that concern a
// value among or under those the first n are about: the walker blanked
// those values, and a value that failed to decode was left zero, so what
// later checks saw there were defaults or nothing, and what they say of
// them would only repeat or mislead.
// It looks up each error's path and its parents in a set of the first n
// paths, so that it takes time linear in the number of errors.
func (l *errorList) dropShadowed(n int) {
	if n == 0 {
		return
	}
	blanked := make(map[string]bool, n)
	for _, w := range l.errs[:n] {
		if w.Path == "" {
			l.errs = l.errs[:n]
			return
		}
		blanked[w.Path] = true
	}
	kept := l.errs[:n]
	for _, e := range l.errs[n:] {
		shadowed := false
		for p := e.Path; p != ""; p = yamlpath.Parent(p) {
			if blanked[p] {
				shadowed = true
				break
			}
		}
		if !shadowed {
			kept = append(kept, e)
		}
	}
	l.errs = kept
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func (l *errorList) err() error {
	return l.errs.InFileOrder()
}

// InFileOrder sorts es by line, errors without a line last, keeping the
// order of errors on the same line, and returns it; an empty list is a nil
// error.
func (es Errors) InFileOrder() error {
	if len(es) == 0 {
		return nil
	}
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Line, es[j].Line
		if a == 0 || b == 0 {
			return a != 0 && b == 0
		}
		return a < b
	})
	return es
}
