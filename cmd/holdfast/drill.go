package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/holdfast-dev/holdfast/chaos/drill"
)

// drillOptions are the parsed flags of holdfast drill.
type drillOptions struct {
	file     string
	journal  string
	report   string
	render   string
	validate bool
	quiet    bool
	// skipUnsupported drops what of a Chaos Toolkit experiment holdfast
	// drill cannot run instead of refusing it.
	skipUnsupported bool
}

func runDrill(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o drillOptions
	fs.StringVar(&o.file, "f", "", "experiment file: holdfast's (YAML) or Chaos Toolkit's (JSON or YAML), told apart by its keys")
	fs.StringVar(&o.journal, "journal", "", "where to write the JSON journal (default <experiment>.journal.json in the current directory)")
	fs.StringVar(&o.report, "report", "", "where to write the HTML report (default <experiment>.report.html in the current directory)")
	fs.StringVar(&o.render, "render", "", "render the report of an existing journal instead of running (with -report)")
	fs.BoolVar(&o.validate, "validate", false, "check the experiment and print its plan without running it")
	fs.BoolVar(&o.quiet, "q", false, "print only the outcome, not every step")
	fs.BoolVar(&o.skipUnsupported, "skip-unsupported", false, "run a Chaos Toolkit experiment without the parts holdfast drill cannot run (python providers, controls, ...), which are listed, instead of refusing it")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: holdfast drill -f experiment.yaml [-journal FILE] [-report FILE] [-validate] [-q] [-skip-unsupported]")
		fmt.Fprintln(stderr, "       holdfast drill -render journal.json -report report.html")
		fmt.Fprintln(stderr, "\nexit status: 0 the hypothesis held, 1 it did not, 2 aborted, interrupted or not run")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return drill.ExitAborted
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "holdfast drill: unexpected argument %q\n", fs.Arg(0))
		return drill.ExitAborted
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return drillMain(ctx, o, stdout, stderr)
}

// drillMain runs holdfast drill with parsed options until the experiment
// ends; cancelling ctx interrupts it (the rollbacks still run).
func drillMain(ctx context.Context, o drillOptions, stdout, stderr io.Writer) int {
	if o.render != "" {
		return drillRender(o, stdout, stderr)
	}
	if o.file == "" {
		fmt.Fprintln(stderr, "holdfast drill: -f experiment.yaml is required")
		return drill.ExitAborted
	}
	e, err := drill.LoadFileWith(o.file, drill.LoadOptions{SkipUnsupported: o.skipUnsupported})
	var unsupported *drill.UnsupportedError
	if errors.As(err, &unsupported) {
		fmt.Fprintf(stderr, "%s: a Chaos Toolkit experiment with parts holdfast drill cannot run:\n", o.file)
		for _, p := range unsupported.Parts {
			fmt.Fprintf(stderr, "%s: %s\n", o.file, p)
		}
		fmt.Fprintln(stderr, "holdfast drill: refusing to run it; -skip-unsupported runs the rest")
		return drill.ExitAborted
	}
	if err != nil {
		printConfigErrors(stderr, o.file, err)
		return drill.ExitAborted
	}
	for _, p := range e.Skipped() {
		fmt.Fprintf(stderr, "%s: skipped, holdfast drill cannot run it: %s\n", o.file, p)
	}
	if o.validate {
		printPlan(stdout, o.file, e)
		return 0
	}
	base := strings.TrimSuffix(filepath.Base(o.file), filepath.Ext(o.file))
	if o.journal == "" {
		o.journal = base + ".journal.json"
	}
	if o.report == "" {
		o.report = base + ".report.html"
	}

	var progress io.Writer = stdout
	if o.quiet {
		progress = nil
	}
	finished := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		// A run interrupted at once can finish before this goroutine looks,
		// so a finished run with a done context is reported too.
		select {
		case <-ctx.Done():
		case <-finished:
			if ctx.Err() == nil {
				return
			}
		}
		fmt.Fprintln(stderr, "holdfast drill: interrupted; running the rollbacks (they finish under their own timeouts)")
	}()
	j, err := drill.Run(ctx, e, drill.Options{Out: progress, Generator: "holdfast drill " + buildVersion()})
	close(finished)
	<-watched
	if err != nil {
		printConfigErrors(stderr, o.file, err)
		return drill.ExitAborted
	}
	failed := false
	if err := writeFileWith(o.journal, j.WriteJSON); err != nil {
		fmt.Fprintf(stderr, "holdfast drill: writing the journal: %v\n", err)
		failed = true
	}
	if err := writeFileWith(o.report, j.WriteHTML); err != nil {
		fmt.Fprintf(stderr, "holdfast drill: writing the report: %v\n", err)
		failed = true
	}
	for _, rb := range j.Rollbacks {
		if rb.Status != "succeeded" {
			fmt.Fprintf(stderr, "holdfast drill: WARNING: a rollback failed (%s); the system may still carry a fault\n", rb.Exception.String())
		}
	}
	fmt.Fprintf(stdout, "%s: %s", e.Title, j.Status)
	if j.Deviated {
		fmt.Fprint(stdout, ", deviated")
	}
	if b := j.SteadyStates.Before; b != nil && !b.SteadyStateMet {
		fmt.Fprint(stdout, ", the steady state did not hold before the method")
	}
	if j.AbortReason != "" {
		fmt.Fprintf(stdout, " (%s)", j.AbortReason)
	}
	fmt.Fprintf(stdout, "\njournal: %s\nreport:  %s\n", o.journal, o.report)
	if failed && j.ExitCode() == drill.ExitHeld {
		// A run whose record was lost has not shown anything.
		return drill.ExitAborted
	}
	return j.ExitCode()
}

// drillRender writes the report of an existing journal.
func drillRender(o drillOptions, stdout, stderr io.Writer) int {
	f, err := os.Open(o.render)
	if err != nil {
		fmt.Fprintf(stderr, "holdfast drill: %v\n", err)
		return drill.ExitAborted
	}
	defer f.Close()
	j, err := drill.ReadJournal(f)
	if err != nil {
		fmt.Fprintf(stderr, "holdfast drill: %s: %v\n", o.render, err)
		return drill.ExitAborted
	}
	if o.report == "" {
		o.report = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(o.render), ".json"), ".journal") + ".report.html"
	}
	if err := writeFileWith(o.report, j.WriteHTML); err != nil {
		fmt.Fprintf(stderr, "holdfast drill: writing the report: %v\n", err)
		return drill.ExitAborted
	}
	fmt.Fprintf(stdout, "report: %s\n", o.report)
	return 0
}

// writeFileWith writes what write produces to path, replacing the file only
// once all of it was produced.
func writeFileWith(path string, write func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// printPlan prints what the experiment would do.
func printPlan(w io.Writer, file string, e *drill.Experiment) {
	fmt.Fprintf(w, "%s: ok: %q\n", file, e.Title)
	if e.FromChaosToolkit() {
		fmt.Fprintf(w, "  a Chaos Toolkit experiment; %d parts skipped\n", len(e.Skipped()))
	}
	for _, p := range e.Processes {
		fmt.Fprintf(w, "  process %s: %s\n", p.Name, strings.Join(p.Command, " "))
	}
	for _, p := range e.Chaos.Proxies {
		fmt.Fprintf(w, "  chaos proxy %s: %s -> %s\n", p.Name, p.Listen, p.Upstream)
	}
	if l := e.Load; l != nil {
		fmt.Fprintf(w, "  load: %s %s at %g req/s, warmup %s\n", l.Method, l.URL, l.Rate, l.Warmup)
	}
	fmt.Fprintf(w, "  steady state: %d probes\n", len(e.Hypothesis.Probes))
	for i, a := range e.Method {
		hold := ""
		if a.Duration > 0 {
			hold = ", hold " + a.Duration.String()
		}
		fmt.Fprintf(w, "  method %d: %s%s\n", i+1, a.Name, hold)
	}
	if e.AbortWhen != nil {
		fmt.Fprintf(w, "  abort when: %d probes, every %s\n", len(e.AbortWhen.Probes), e.AbortWhen.Every)
	}
	for i, a := range e.Rollbacks {
		fmt.Fprintf(w, "  rollback %d: %s\n", i+1, a.Name)
	}
}
