package logattr_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/holdfast-dev/holdfast/internal/logattr"
)

var durations = []time.Duration{
	0,
	1,
	1500 * time.Microsecond,
	5 * time.Second,
	90 * time.Minute,
	time.Hour + 2*time.Minute + 3*time.Second + 4,
	-250 * time.Millisecond,
	math.MaxInt64,
	math.MinInt64,
}

// logLine logs one line through a JSON handler with Replace and decodes it.
func logLine(t *testing.T, log func(*slog.Logger)) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	log(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: logattr.Replace})))
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("line %q is not JSON: %v", buf.String(), err)
	}
	return got
}

// parse reads a logged duration back: it must be a string that
// time.ParseDuration accepts.
func parse(t *testing.T, v any) time.Duration {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("got %v (%T); want a duration string", v, v)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("time.ParseDuration(%q): %v", s, err)
	}
	return d
}

func TestReplaceDuration(t *testing.T) {
	for _, d := range durations {
		// Every way a duration reaches a handler: a typed attr, a
		// key-value pair (slog.Any), slog.Group, WithGroup and With.
		got := logLine(t, func(l *slog.Logger) {
			l.With("with", d).WithGroup("g").Info("m",
				slog.Duration("attr", d),
				"pair", d,
				slog.Group("inner", slog.Duration("nested", d)),
			)
		})
		g, ok := got["g"].(map[string]any)
		if !ok {
			t.Fatalf("%v: got %v; want a group g", d, got)
		}
		inner, ok := g["inner"].(map[string]any)
		if !ok {
			t.Fatalf("%v: got %v; want a group g.inner", d, got)
		}
		for key, v := range map[string]any{
			"with": got["with"], "g.attr": g["attr"], "g.pair": g["pair"], "g.inner.nested": inner["nested"],
		} {
			if back := parse(t, v); back != d {
				t.Errorf("%s: logged %v, read back %v; want %v", key, v, back, d)
			}
		}
	}
}

// TestReplaceOthersUnchanged: Replace touches durations only; the line is
// otherwise what the JSON handler writes without it.
func TestReplaceOthersUnchanged(t *testing.T) {
	when := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	log := func(l *slog.Logger) {
		l.Info("m", "s", "5s", "i", 5000000000, "f", 1.5, "b", true, "t", when,
			slog.Group("g", "u", uint64(7)), "err", os.ErrNotExist)
	}
	var buf bytes.Buffer
	log(slog.New(slog.NewJSONHandler(&buf, nil)))
	var want map[string]any
	if err := json.Unmarshal(buf.Bytes(), &want); err != nil {
		t.Fatal(err)
	}
	got := logLine(t, log)
	delete(got, "time")
	delete(want, "time")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("line (-without Replace +with):\n%s", diff)
	}
}

func FuzzReplace(f *testing.F) {
	for _, d := range durations {
		f.Add(int64(d))
	}
	f.Fuzz(func(t *testing.T, n int64) {
		d := time.Duration(n)
		got := logLine(t, func(l *slog.Logger) { l.Info("m", slog.Group("g", slog.Duration("d", d))) })
		g, ok := got["g"].(map[string]any)
		if !ok {
			t.Fatalf("got %v; want a group g", got)
		}
		if back := parse(t, g["d"]); back != d {
			t.Errorf("logged %v, read back %v; want %v", g["d"], back, d)
		}
	})
}

func ExampleReplace() {
	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{} // for a stable example
			}
			return logattr.Replace(groups, a)
		},
	})
	slog.New(h).Info("draining", "delay", 5*time.Second, slog.Group("retry", slog.Duration("wait", 1500*time.Microsecond)))
	// Output:
	// {"level":"INFO","msg":"draining","delay":"5s","retry":{"wait":"1.5ms"}}
}
