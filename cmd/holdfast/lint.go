package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/lint"
)

// The exit statuses of holdfast lint.
const (
	lintOK       = 0 // no findings, or warnings only
	lintFindings = 1 // at least one error
	lintUsage    = 2 // bad flags, a file that cannot be read or does not parse, a bad link
)

// listFlag is a flag that may be given many times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func runLint(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files, links listFlag
	fs.Var(&files, "c", "config file of one hop; give one -c per hop, outermost first")
	fs.Var(&links, "link", "FILE:UPSTREAM=FILE: the upstream of the first file calls the second file (FILE:UPSTREAM= calls none), in place of what its endpoint addresses say; repeatable")
	maxAmp := fs.Float64("max-amplification", lint.DefaultMaxAmplification, "most requests one request may become on its way to the deepest service, retries and hedges included")
	format := fs.String("format", "text", "output: text (file:line: key: message [rule]) or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: holdfast lint -c edge.yaml [-c service-a.yaml ...] [-link FILE:UPSTREAM=FILE] [-max-amplification 3] [-format text|json]")
		fmt.Fprintln(stderr, "\nexit status: 0 no errors (warnings allowed), 1 errors found, 2 usage, unreadable or invalid config")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return lintOK
		}
		return lintUsage
	}
	usage := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "holdfast lint: "+format+"\n", args...)
		return lintUsage
	}
	switch {
	case fs.NArg() > 0:
		return usage("unexpected argument %q (name each config file with -c)", fs.Arg(0))
	case len(files) == 0:
		return usage("no config file: give one -c FILE per hop")
	case *format != "text" && *format != "json":
		return usage("-format must be text or json, got %q", *format)
	case !(*maxAmp >= 1):
		return usage("-max-amplification must be at least 1, got %g", *maxAmp)
	}
	opts := lint.Options{MaxAmplification: *maxAmp}
	for _, s := range links {
		l, err := parseLink(s)
		if err != nil {
			return usage("%v", err)
		}
		opts.Links = append(opts.Links, l)
	}

	var parsed []*lint.File
	var configErrs []lint.Finding
	for _, name := range files {
		data, err := config.ReadFile(name)
		if err != nil {
			return usage("%v", err)
		}
		f, err := lint.ParseFile(name, data)
		if err != nil {
			configErrs = append(configErrs, lint.ConfigFindings(name, err)...)
			continue
		}
		parsed = append(parsed, f)
	}
	if len(configErrs) > 0 {
		// The rules need every hop: report what config says and stop.
		writeFindings(stdout, *format, configErrs)
		return lintUsage
	}
	found, err := lint.Lint(parsed, opts)
	if err != nil {
		return usage("%v", err)
	}
	writeFindings(stdout, *format, found)
	if lint.NewReport(found).Errors > 0 {
		return lintFindings
	}
	return lintOK
}

// parseLink reads FROM:UPSTREAM=TO. FROM is split at its last colon, so
// that a path with a colon in it still names a file.
func parseLink(s string) (lint.Link, error) {
	left, to, ok := strings.Cut(s, "=")
	i := strings.LastIndex(left, ":")
	if !ok || i <= 0 || i == len(left)-1 {
		return lint.Link{}, fmt.Errorf("-link must be FILE:UPSTREAM=FILE (or FILE:UPSTREAM= for none), got %q", s)
	}
	return lint.Link{From: left[:i], Upstream: left[i+1:], To: to}, nil
}

// writeFindings prints fs one a line with a count at the end, or as one
// JSON report.
func writeFindings(w io.Writer, format string, fs []lint.Finding) {
	r := lint.NewReport(fs)
	if format == "json" {
		b, err := r.JSON()
		if err != nil {
			// Not reached: a Report of strings and ints always encodes.
			fmt.Fprintf(w, "{\"error\": %q}\n", err)
			return
		}
		w.Write(append(b, '\n'))
		return
	}
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	for _, f := range fs {
		fmt.Fprintln(bw, f)
	}
	switch {
	case len(fs) == 0:
		fmt.Fprintln(bw, "no findings")
	default:
		fmt.Fprintf(bw, "%s, %s\n", count(r.Errors, "error"), count(r.Warnings, "warning"))
	}
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
