package lint

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/holdfast-dev/holdfast/config"
)

// File is one hop's config: the name it was given by (a path, as on the
// command line), the config, and the lines of its keys.
type File struct {
	// Name names the file in findings and in [Link]s.
	Name string
	// Config is the file's config as [config.Parse] returns it, defaults
	// applied. It must not be nil.
	Config *config.Config
	// Lines gives the line of each key; the zero value gives line 0.
	Lines Lines
}

// ParseFile parses data as [config.Parse] does and indexes its lines. A
// config that does not parse returns config's own [config.Errors].
func ParseFile(name string, data []byte) (*File, error) {
	c, err := config.Parse(data)
	if err != nil {
		return nil, err
	}
	return &File{Name: name, Config: c, Lines: IndexLines(data)}, nil
}

// Severity is how bad a finding is. The zero value is [Warning].
type Severity int

// The severities, least severe first.
const (
	// Warning is a combination that works but wastes or risks something
	// the docs warn about; holdfast lint exits 0 on warnings alone.
	Warning Severity = iota
	// Error is a retry storm or a timeout that cannot do what it says;
	// holdfast lint exits 1.
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// MarshalText encodes s as "error" or "warning".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes "error" or "warning".
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "error":
		*s = Error
	case "warning":
		*s = Warning
	default:
		return fmt.Errorf("lint: severity must be error or warning, got %q", b)
	}
	return nil
}

// Finding is one problem: where it is (file, key path and line, 0 when
// unknown), which rule found it, and what is wrong.
type Finding struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Key      string   `json:"key"`
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// String formats f as "file:line: key: message [rule]", the line left out
// when it is 0.
func (f Finding) String() string {
	loc := f.File
	if f.Line > 0 {
		loc = fmt.Sprintf("%s:%d", f.File, f.Line)
	}
	if f.Key != "" {
		loc += ": " + f.Key
	}
	return fmt.Sprintf("%s: %s [%s]", loc, f.Message, f.Rule)
}

// Rule IDs, as findings and docs/lint.md name them.
const (
	RuleConfig              = "config"
	RuleAmplification       = "retry-amplification"
	RuleTimeoutInversion    = "timeout-inversion"
	RuleLongLivedMismatch   = "long-lived-mismatch"
	RuleRetryExceedsTimeout = "retry-exceeds-timeout"
	RuleRetryBudget         = "retry-budget-unbounded"
	RuleHedgeBudget         = "hedge-budget-unbounded"
	RuleHedgeDelay          = "hedge-delay-past-timeout"
	RuleNonIdempotent       = "non-idempotent-retry"
	RuleEjectionNever       = "ejection-never"
	RuleEjectionAll         = "ejection-all"
	RuleHealthHairTrigger   = "health-check-hair-trigger"
	RuleLinkCycle           = "link-cycle"
	RuleLinkNoRoute         = "link-no-route"
	RuleTooManyPaths        = "too-many-paths"
)

// DefaultMaxAmplification is the bound of [Options].MaxAmplification.
const DefaultMaxAmplification = 3

// Options tune [Lint]. The zero value uses every default.
type Options struct {
	// MaxAmplification is the most requests one request may become on
	// its way to the deepest service, retries and hedges included, before
	// [RuleAmplification] reports it. Zero means 3.
	MaxAmplification float64
	// Links say which file an upstream calls, in place of what its
	// endpoints' addresses say.
	Links []Link
}

// Link says that the upstream named Upstream of the file named From calls
// the file named To: its requests arrive at To's routes. An empty To says
// that the upstream calls none of the files, whatever its addresses look
// like. Files are named by their [File].Name or its base name.
type Link struct {
	From, Upstream, To string
}

// ErrLink is the error [Lint] returns, wrapped with the details, for a
// [Link] that names a file or upstream it does not have.
var ErrLink = errors.New("lint: bad link")

// Lint runs every rule over files, one file per hop, and returns the
// findings in the order of files, then by line. It returns an error wrapping
// [ErrLink] for a link naming a file or upstream it lacks, and no findings.
func Lint(files []*File, opts Options) ([]Finding, error) {
	if opts.MaxAmplification <= 0 {
		opts.MaxAmplification = DefaultMaxAmplification
	}
	g, err := newGraph(files, opts.Links)
	if err != nil {
		return nil, err
	}
	var out findings
	for fi, f := range files {
		for i, r := range cfg(f).Routes {
			lintRoute(&out, fi, f, i, r)
		}
		for _, name := range sortedKeys(cfg(f).Upstreams) {
			lintUpstream(&out, fi, f, name, cfg(f).Upstreams[name])
		}
	}
	lintEdges(&out, g)
	lintPaths(&out, g, opts.MaxAmplification)
	return out.sorted(), nil
}

// findings collects findings, each with the index of its file for sorting.
type findings struct {
	list []indexed
}

type indexed struct {
	file int
	Finding
}

func (fs *findings) add(fi int, f *File, sev Severity, rule, key, format string, args ...any) {
	fs.list = append(fs.list, indexed{fi, Finding{
		File: f.Name, Line: f.Lines.Line(key), Key: key, Rule: rule, Severity: sev,
		Message: fmt.Sprintf(format, args...),
	}})
}

// sorted returns the findings by file, line, key, rule and message, each
// once; none is nil.
func (fs *findings) sorted() []Finding {
	if len(fs.list) == 0 {
		return nil
	}
	slices.SortStableFunc(fs.list, func(a, b indexed) int {
		return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Key, b.Key), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Message, b.Message))
	})
	out := make([]Finding, 0, len(fs.list))
	for i, f := range fs.list {
		if i > 0 && f.Finding == fs.list[i-1].Finding {
			continue
		}
		out = append(out, f.Finding)
	}
	return out
}

// Report is the JSON form of a lint run: every finding and how many of
// each severity there are.
type Report struct {
	Findings []Finding `json:"findings"`
	Errors   int       `json:"errors"`
	Warnings int       `json:"warnings"`
}

// NewReport counts fs into a Report.
func NewReport(fs []Finding) Report {
	r := Report{Findings: fs}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	for _, f := range fs {
		if f.Severity == Error {
			r.Errors++
		} else {
			r.Warnings++
		}
	}
	return r
}

// JSON encodes r, indented.
func (r Report) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// ConfigFindings turns the errors of a config that did not parse, as
// [ParseFile] returns them, into findings of [RuleConfig], so that they
// print like the rest.
func ConfigFindings(name string, err error) []Finding {
	var es config.Errors
	if !errors.As(err, &es) {
		return []Finding{{File: name, Rule: RuleConfig, Severity: Error, Message: err.Error()}}
	}
	out := make([]Finding, len(es))
	for i, e := range es {
		// Error() redacts URL passwords; the message is what follows the
		// "path (line N): " it starts with.
		prefix := (&config.Error{Path: e.Path, Line: e.Line}).Error()
		msg := strings.TrimPrefix(e.Error(), prefix)
		out[i] = Finding{File: name, Line: e.Line, Key: e.Path, Rule: RuleConfig, Severity: Error, Message: msg}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
