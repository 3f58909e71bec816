package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdfast-dev/holdfast/config"
)

var sampleInfo = RequestInfo{
	Route: "catalog-read", Upstream: "catalog", Endpoint: "127.0.0.1:9001", Method: "GET",
	Status: 503, Attempts: 3, Retries: 1, Hedges: 1, Duration: 14200 * time.Microsecond,
	Reason: "breaker_open", Fallback: true,
}

func TestAccessLogLine(t *testing.T) {
	out := &syncBuffer{}
	a, err := NewAccessLog(config.AccessLog{Enabled: true}, out)
	if err != nil {
		t.Fatal(err)
	}
	a.Log(sampleInfo)
	lines := out.lines()
	if len(lines) != 1 {
		t.Fatalf("got %d lines; want 1: %q", len(lines), out.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatalf("line %q is not JSON: %v", lines[0], err)
	}
	if _, ok := got["time"]; !ok {
		t.Errorf("got %v; want a time", got)
	}
	delete(got, "time")
	want := map[string]any{
		"level": "INFO", "msg": "request",
		"route": "catalog-read", "upstream": "catalog", "endpoint": "127.0.0.1:9001", "method": "GET",
		"status": 503.0, "attempts": 3.0, "retries": 1.0, "hedges": 1.0, "duration_ms": 14.2,
		"reason": "breaker_open", "fallback": true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("line (-want +got):\n%s", diff)
	}
}

func TestAccessLogOffByDefault(t *testing.T) {
	out := &syncBuffer{}
	a, err := NewAccessLog(config.AccessLog{}, out)
	if err != nil {
		t.Fatal(err)
	}
	a.Log(sampleInfo)
	if got := out.String(); got != "" {
		t.Errorf("got %q; want nothing while disabled", got)
	}
}

func TestAccessLogSample(t *testing.T) {
	tests := []struct {
		sample float64
		draws  []float64
		want   int
	}{
		{1, []float64{0, 0.5, 0.999}, 3},
		{0.5, []float64{0.1, 0.7, 0.49, 0.5}, 2},
		{0.01, []float64{0.5, 0.02, 0.009}, 1},
	}
	for _, tt := range tests {
		out := &syncBuffer{}
		a, err := NewAccessLog(config.AccessLog{Enabled: true, Sample: tt.sample}, out)
		if err != nil {
			t.Fatal(err)
		}
		draws := tt.draws
		a.rand = func() float64 { d := draws[0]; draws = draws[1:]; return d }
		for range tt.draws {
			a.Log(sampleInfo)
		}
		if got := len(out.lines()); got != tt.want {
			t.Errorf("sample %g, draws %v: got %d lines; want %d", tt.sample, tt.draws, got, tt.want)
		}
	}
}

func TestAccessLogReconfigure(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	stdout := &syncBuffer{}
	a, err := NewAccessLog(config.AccessLog{Enabled: true, Path: first}, stdout)
	if err != nil {
		t.Fatal(err)
	}
	a.Log(sampleInfo)
	if err := a.Configure(config.AccessLog{Enabled: true, Path: second}); err != nil {
		t.Fatal(err)
	}
	a.Log(sampleInfo)
	a.Log(sampleInfo)
	if err := a.Configure(config.AccessLog{Enabled: true, Path: filepath.Join(dir, "missing", "c.log")}); err == nil {
		t.Errorf("Configure with a path in a missing directory: got no error")
	}
	a.Log(sampleInfo) // still to the second file
	if err := a.Configure(config.AccessLog{Enabled: true, Sample: 1, Path: second}); err != nil {
		t.Fatal(err)
	}
	a.Log(sampleInfo) // same path: reopened, the same file
	if err := a.Configure(config.AccessLog{}); err != nil {
		t.Fatal(err)
	}
	a.Log(sampleInfo) // off
	if err := a.Configure(config.AccessLog{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	a.Log(sampleInfo) // to stdout
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	a.Log(sampleInfo) // closed: nowhere

	for _, tt := range []struct {
		path string
		want int
	}{{first, 1}, {second, 4}} {
		b, err := os.ReadFile(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(b), "\n"); got != tt.want {
			t.Errorf("%s: got %d lines; want %d", filepath.Base(tt.path), got, tt.want)
		}
	}
	if got := len(stdout.lines()); got != 1 {
		t.Errorf("stdout: got %d lines; want 1", got)
	}
}

func TestAccessLogConcurrent(t *testing.T) {
	out := &syncBuffer{}
	a, err := NewAccessLog(config.AccessLog{Enabled: true}, out)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 8, 50
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				a.Log(sampleInfo)
			}
		})
	}
	wg.Go(func() { a.Configure(config.AccessLog{Enabled: true, Sample: 1}) })
	wg.Wait()
	lines := out.lines()
	if len(lines) != goroutines*each {
		t.Fatalf("got %d lines; want %d", len(lines), goroutines*each)
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("line %q is not JSON: lines interleaved", l)
		}
	}
}

// countLines reads path and checks that every line is whole JSON.
func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for l := range strings.Lines(string(b)) {
		if !strings.HasSuffix(l, "\n") || !json.Valid([]byte(l)) {
			t.Fatalf("%s: line %q is not one whole JSON line", filepath.Base(path), l)
		}
		n++
	}
	return n
}

// TestAccessLogReopen is logrotate's create mode: the file is renamed, lines
// keep going to it until the log reopens, then to a new file at the path.
func TestAccessLogReopen(t *testing.T) {
	tests := []struct {
		name   string
		reopen func(a *AccessLog, c config.AccessLog) error
	}{
		{"Reopen", func(a *AccessLog, _ config.AccessLog) error { return a.Reopen() }},
		// A reload with an unchanged access_log block reopens too.
		{"Configure", func(a *AccessLog, c config.AccessLog) error { return a.Configure(c) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path, rotated := filepath.Join(dir, "access.log"), filepath.Join(dir, "access.log.1")
			c := config.AccessLog{Enabled: true, Path: path}
			a, err := NewAccessLog(c, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			a.Log(sampleInfo)
			a.Log(sampleInfo)
			if err := os.Rename(path, rotated); err != nil {
				t.Fatal(err)
			}
			a.Log(sampleInfo) // renamed, not yet reopened: still the old file
			if err := tt.reopen(a, c); err != nil {
				t.Fatalf("reopen: %v", err)
			}
			for range 4 {
				a.Log(sampleInfo)
			}
			if got := countLines(t, rotated); got != 3 {
				t.Errorf("rotated file: got %d lines; want 3", got)
			}
			if got := countLines(t, path); got != 4 {
				t.Errorf("new file: got %d lines; want 4", got)
			}
		})
	}
}

// TestAccessLogReopenFails: when the path cannot be opened, Reopen says so
// and the log keeps writing to the file it had.
func TestAccessLogReopenFails(t *testing.T) {
	dir := t.TempDir()
	path, rotated := filepath.Join(dir, "access.log"), filepath.Join(dir, "access.log.1")
	a, err := NewAccessLog(config.AccessLog{Enabled: true, Path: path}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil { // a directory cannot be opened for writing
		t.Fatal(err)
	}
	if err := a.Reopen(); err == nil {
		t.Errorf("Reopen onto a directory: got no error")
	}
	a.Log(sampleInfo)
	if got := countLines(t, rotated); got != 1 {
		t.Errorf("old file: got %d lines; want 1", got)
	}
}

// TestAccessLogReopenNoop: Reopen leaves stdout, a log that is off and a
// closed log as they are.
func TestAccessLogReopenNoop(t *testing.T) {
	stdout := &syncBuffer{}
	a, err := NewAccessLog(config.AccessLog{Enabled: true}, stdout)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Reopen(); err != nil {
		t.Errorf("Reopen on stdout: %v", err)
	}
	a.Log(sampleInfo)
	if got := len(stdout.lines()); got != 1 {
		t.Errorf("stdout: got %d lines; want 1", got)
	}

	path := filepath.Join(t.TempDir(), "access.log")
	for _, c := range []config.AccessLog{{Path: path}, {Enabled: true, Path: path}} {
		a, err := NewAccessLog(c, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		os.Remove(path)
		if err := a.Reopen(); err != nil {
			t.Errorf("%+v, closed: Reopen: %v", c, err)
		}
		a.Log(sampleInfo)
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%+v, closed: after Reopen and Log, stat: %v; want the file absent", c, err)
		}
	}
}

// TestAccessLogReopenConcurrent rotates the file again and again, and moves
// it to other paths, while requests log: every line lands whole in one of the
// files, and none is lost to a file closed under it.
func TestAccessLogReopenConcurrent(t *testing.T) {
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")}
	a, err := NewAccessLog(config.AccessLog{Enabled: true, Path: paths[0]}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each, rotations = 4, 300, 40
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				a.Log(sampleInfo)
			}
		})
	}
	wg.Go(func() {
		for i := range rotations {
			path := paths[i/2%2] // two rotations on each path, then switch
			if i%2 == 1 {
				if err := os.Rename(path, fmt.Sprintf("%s.%d", path, i)); err != nil {
					t.Error(err)
					return
				}
				if err := a.Reopen(); err != nil {
					t.Error(err)
					return
				}
				continue
			}
			if err := a.Configure(config.AccessLog{Enabled: true, Path: path}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range files {
		total += countLines(t, f)
	}
	if total != goroutines*each {
		t.Errorf("got %d lines in %d files; want %d", total, len(files), goroutines*each)
	}
}

func BenchmarkAccessLogOff(b *testing.B) {
	a, _ := NewAccessLog(config.AccessLog{}, io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		a.Log(sampleInfo)
	}
}

func BenchmarkAccessLogOn(b *testing.B) {
	a, _ := NewAccessLog(config.AccessLog{Enabled: true}, io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		a.Log(sampleInfo)
	}
}

// TestAccessLogOffAllocs: a disabled access log costs an atomic load and
// nothing on the heap.
func TestAccessLogOffAllocs(t *testing.T) {
	a, _ := NewAccessLog(config.AccessLog{}, io.Discard)
	if got := testing.AllocsPerRun(100, func() { a.Log(sampleInfo) }); got != 0 {
		t.Errorf("got %g allocations per disabled Log; want 0", got)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) lines() []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
