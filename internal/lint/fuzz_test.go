package lint

import (
	"testing"
)

// FuzzLint lints arbitrary YAML as one hop, as two hops either way round,
// and as a file that calls itself under another name, with explicit links
// too: nothing may panic, and every finding names its file and rule.
func FuzzLint(f *testing.F) {
	for _, tt := range ruleTests {
		a, b := tt.files[0].src, ""
		if len(tt.files) > 1 {
			b = tt.files[1].src
		}
		f.Add(a, b)
	}
	f.Add("", "")
	f.Add("routes: [", "upstreams: {}")
	f.Fuzz(func(t *testing.T, a, b string) {
		fa, errA := ParseFile("a.yaml", []byte(a))
		fb, errB := ParseFile("b.yaml", []byte(b))
		if errA != nil {
			checkFindings(t, ConfigFindings("a.yaml", errA))
			return
		}
		lintAndCheck(t, []*File{fa}, Options{})
		twin := &File{Name: "twin/a.yaml", Config: fa.Config, Lines: fa.Lines}
		lintAndCheck(t, []*File{fa, twin}, Options{MaxAmplification: 1})
		if errB != nil {
			checkFindings(t, ConfigFindings("b.yaml", errB))
			return
		}
		lintAndCheck(t, []*File{fa, fb}, Options{})
		lintAndCheck(t, []*File{fb, fa}, Options{MaxAmplification: 100})
		var links []Link
		for name := range fa.Config.Upstreams {
			links = append(links, Link{From: "a.yaml", Upstream: name, To: "b.yaml"})
		}
		for name := range fb.Config.Upstreams {
			links = append(links, Link{From: "b.yaml", Upstream: name, To: "a.yaml"})
		}
		lintAndCheck(t, []*File{fa, fb}, Options{Links: links})
	})
}

func lintAndCheck(t *testing.T, files []*File, opts Options) {
	t.Helper()
	got, err := Lint(files, opts)
	if err != nil {
		t.Fatalf("Lint: %v", err)
	}
	checkFindings(t, got)
}

func checkFindings(t *testing.T, fs []Finding) {
	t.Helper()
	for _, f := range fs {
		if f.File == "" || f.Rule == "" || f.Message == "" || f.Line < 0 || (f.Severity != Error && f.Severity != Warning) {
			t.Errorf("malformed finding %+v", f)
		}
		_ = f.String()
	}
}
