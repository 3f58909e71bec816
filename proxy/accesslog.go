package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"

	"github.com/holdfast-dev/holdfast/config"
)

// AccessLog writes one JSON line per request (slog's JSON handler): time,
// route, upstream, endpoint, method, status, attempts, retries, hedges,
// duration_ms, reason and fallback. It is configured by the file's
// `access_log:` block and can be reconfigured while in use.
//
// Create it with [NewAccessLog]; the zero value is not usable. It is safe for
// concurrent use.
type AccessLog struct {
	stdout io.Writer
	rand   func() float64 // [0, 1); replaced in tests

	// cur is what Log reads: nil while the log is off.
	cur atomic.Pointer[accessSink]

	// mu guards cfg and file, which only Configure and Close change.
	mu   sync.Mutex
	cfg  config.AccessLog
	file *os.File // nil when writing to stdout
}

// accessSink is one configuration of the log, swapped whole.
type accessSink struct {
	logger *slog.Logger
	sample float64
}

// NewAccessLog returns an access log configured by c. Lines go to c.Path,
// opened for appending, or to stdout when the path is empty.
func NewAccessLog(c config.AccessLog, stdout io.Writer) (*AccessLog, error) {
	a := &AccessLog{stdout: stdout, rand: rand.Float64}
	if err := a.Configure(c); err != nil {
		return nil, err
	}
	return a, nil
}

// Configure applies c, opening a new file when the path changed. On error
// the log keeps its previous configuration.
func (a *AccessLog) Configure(c config.AccessLog) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.Sample <= 0 || c.Sample > 1 {
		c.Sample = 1
	}
	if !c.Enabled {
		a.cur.Store(nil)
		a.cfg = c
		return a.closeFileLocked()
	}
	if cur := a.cur.Load(); cur != nil && c.Path == a.cfg.Path {
		a.cur.Store(&accessSink{logger: cur.logger, sample: c.Sample})
		a.cfg = c
		return nil
	}
	var w io.Writer = a.stdout
	var f *os.File
	if c.Path != "" {
		var err error
		f, err = os.OpenFile(c.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return err
		}
		w = f
	}
	if w == nil {
		w = io.Discard
	}
	// slog's handler writes each line with one Write under its own lock,
	// so lines never interleave.
	a.cur.Store(&accessSink{logger: slog.New(slog.NewJSONHandler(w, nil)), sample: c.Sample})
	old := a.file
	a.file, a.cfg = f, c
	if old != nil {
		// A request that loaded the old sink may still write to it; a write
		// to a closed file fails quietly, and only that line is lost.
		return old.Close()
	}
	return nil
}

// Log writes info's line, if the log is on and the sample draws it; give it
// to [Options].OnRequest.
func (a *AccessLog) Log(info RequestInfo) {
	s := a.cur.Load()
	if s == nil || (s.sample < 1 && a.rand() >= s.sample) {
		return
	}
	s.logger.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("route", info.Route),
		slog.String("upstream", info.Upstream),
		slog.String("endpoint", info.Endpoint),
		slog.String("method", info.Method),
		slog.Int("status", info.Status),
		slog.Int("attempts", info.Attempts),
		slog.Int("retries", info.Retries),
		slog.Int("hedges", info.Hedges),
		slog.Float64("duration_ms", float64(info.Duration.Microseconds())/1000),
		slog.String("reason", info.Reason),
		slog.Bool("fallback", info.Fallback),
	)
}

// Close turns the log off and closes its file. It is idempotent.
func (a *AccessLog) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cur.Store(nil)
	a.cfg.Enabled = false
	return a.closeFileLocked()
}

func (a *AccessLog) closeFileLocked() error {
	if a.file == nil {
		return nil
	}
	err := a.file.Close()
	a.file = nil
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}
