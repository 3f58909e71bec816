package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/internal/testkit"
)

const importExamples = "../../examples/import/"

// runImportArgs runs `holdfast import ARGS` and returns the exit code,
// stdout and stderr, with the examples' directory taken out of file names.
func runImportArgs(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"import"}, args...), &out, &errb)
	return code, out.String(), strings.ReplaceAll(errb.String(), importExamples, "")
}

// TestImportExample checks that examples/import/holdfast.yaml and
// report.txt are what `holdfast import` makes of the example's
// VirtualService and DestinationRule today.
func TestImportExample(t *testing.T) {
	code, out, report := runImportArgs("-f", importExamples+"virtualservice.yaml", "-f", importExamples+"destinationrule.yaml")
	if code != 0 {
		t.Fatalf("exit %d; want 0\n%s", code, report)
	}
	for _, f := range []struct{ name, got string }{{"holdfast.yaml", out}, {"report.txt", report}} {
		want, err := os.ReadFile(importExamples + f.name)
		if err != nil {
			t.Fatal(err)
		}
		if f.got != string(want) {
			t.Errorf("examples/import/%s is out of date; import writes:\n%s", f.name, f.got)
		}
	}
	if _, err := config.Parse([]byte(out)); err != nil {
		t.Errorf("the translated config does not validate: %v", err)
	}
}

// TestImportServesTheSeed translates the seeds' VirtualService with a
// DestinationRule of subsets v1 and v2, starts the real proxy on the
// result with a loopback backend in place of each subset, and sees the
// 90/10 split and a retry of a 503.
func TestImportServesTheSeed(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "holdfast.yaml")
	code, _, report := runImportArgs("-f", importExamples+"virtualservice.yaml", "-f", importExamples+"destinationrule.yaml", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d; want 0\n%s", code, report)
	}
	src, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	v1 := testkit.Start(t, testkit.Config{Name: "v1"})
	v2 := testkit.Start(t, testkit.Config{Name: "v2"})
	body := rewriteImported(t, src, map[string]string{"reviews-v1": v1.URL(), "reviews-v2": v2.URL()})
	e := startServeConfig(t, body)

	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	// Several clients at once, so that the 0.1% of requests the fault
	// delays by 5s hold up one client each, not the test.
	for range 16 {
		wg.Go(func() {
			for range next {
				resp, err := http.Get(e.data + "/reviews/1")
				if err != nil {
					errs <- err
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- &statusError{resp.StatusCode}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a request failed: %v", err)
	}
	// v2's share of 1000 draws at 10% is within 40 of 100 with
	// probability 1 - 3e-5 (4.2 standard deviations).
	got1, got2 := v1.Requests(), v2.Requests()
	if got1+got2 != n || got2 < 60 || got2 > 140 {
		t.Errorf("v1 got %d requests, v2 %d; want %d in all, about 90%%/10%%", got1, got2, n)
	}

	// Each subset's first answer is a 503: the route's retry_on (5xx)
	// sends the request again, to the same subset, which answers.
	v1.ResetCounters()
	v2.ResetCounters()
	v1.FailN(1, http.StatusServiceUnavailable)
	v2.FailN(1, http.StatusServiceUnavailable)
	resp, err := http.Get(e.data + "/reviews/1")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("x-holdfast-attempts") != "2" {
		t.Errorf("status %d after %s attempts; want 200 after 2", resp.StatusCode, resp.Header.Get("x-holdfast-attempts"))
	}
	if got := v1.Requests() + v2.Requests(); got != 2 || (v1.Requests() != 2 && v2.Requests() != 2) {
		t.Errorf("v1 saw %d requests, v2 %d; want one of them 2 (the 503 and its retry)", v1.Requests(), v2.Requests())
	}
}

type statusError struct{ status int }

func (e *statusError) Error() string { return "status " + http.StatusText(e.status) }

// rewriteImported points each upstream named in endpoints at its address
// (the Kubernetes service names an import writes resolve nowhere here) and
// moves the listeners to free loopback ports.
func rewriteImported(t *testing.T, src []byte, endpoints map[string]string) string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	ups := mappingValue(root, "upstreams")
	for name, addr := range endpoints {
		eps := mappingValue(mappingValue(ups, name), "endpoints")
		if eps == nil || len(eps.Content) != 1 {
			t.Fatalf("upstream %s has no single endpoint in:\n%s", name, src)
		}
		mappingValue(eps.Content[0], "address").Value = addr
	}
	var listen yaml.Node
	if err := yaml.Unmarshal([]byte("listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0}\n"), &listen); err != nil {
		t.Fatal(err)
	}
	root.Content = append(listen.Content[0].Content, root.Content...)
	b, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func TestImportFailures(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.yaml", "kind: VirtualService\nspec: [\n")
	other := write("other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
	reportFile := filepath.Join(dir, "report.txt")
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderrPart string
	}{
		{"no files", nil, 2, "", "usage: holdfast import -f"},
		{"stray argument", []string{"-f", other, "x.yaml"}, 2, "", "usage: holdfast import -f"},
		{"missing file", []string{"-f", filepath.Join(dir, "none.yaml")}, 1, "", "none.yaml: no such file or directory"},
		{"not YAML", []string{"-f", bad}, 1, "", "holdfast import: importer: invalid YAML: " + bad + " (line 2): "},
		{"nothing to translate", []string{"-f", other}, 1, "", other + ": ConfigMap x: line 1: not translated: kind ConfigMap is not a VirtualService, DestinationRule or ServiceProfile; skipped\n1 not translated, 0 note(s)\nholdfast import: importer: nothing to translate into a route\n"},
		{"report to a file", []string{"-f", importExamples + "virtualservice.yaml", "-report", reportFile, "-o", filepath.Join(dir, "out.yaml")}, 0, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runImportArgs(tc.args...)
			if code != tc.code || out != tc.stdout || !strings.Contains(errOut, tc.stderrPart) || (tc.stderrPart == "" && errOut != "") {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, stderr holding %q", code, out, errOut, tc.code, tc.stdout, tc.stderrPart)
			}
		})
	}
	report, err := os.ReadFile(reportFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "virtualservice.yaml: VirtualService reviews: spec.hosts (line 7): not translated") ||
		!strings.HasSuffix(string(report), "1 not translated, 6 note(s)\n") {
		t.Errorf("report file:\n%s\nwant the findings and their count", report)
	}
}

func TestImportIsACommand(t *testing.T) {
	var out bytes.Buffer
	run([]string{"help"}, &out, io.Discard)
	if !strings.Contains(out.String(), "\n  import ") {
		t.Errorf("holdfast help lists no import command:\n%s", out.String())
	}
}
