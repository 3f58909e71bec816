package proxy

import (
	"context"
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
// duration_ms, reason and fallback; withheld, the attempts the route's
// checks withheld, when there were some; and vote, a vote route's verdict. It is configured by the file's
// `access_log:` block, can be reconfigured while in use, and reopens its file
// for log rotation ([AccessLog.Reopen]).
//
// Create it with [NewAccessLog]; the zero value is not usable. It is safe for
// concurrent use.
type AccessLog struct {
	rand   func() float64 // [0, 1); replaced in tests
	stdout io.Writer
	out    *accessWriter // where logger's lines go; swapped by Configure and Reopen
	logger *slog.Logger  // writes to out, for the log's whole life

	// cur is what Log reads: nil while the log is off.
	cur atomic.Pointer[accessSink]

	// mu guards cfg. Configure, Reopen and Close hold it throughout, so they
	// apply one at a time.
	mu  sync.Mutex
	cfg config.AccessLog
}

// accessSink is one configuration of the log, swapped whole.
type accessSink struct {
	sample float64
}

// NewAccessLog returns an access log configured by c. Lines go to c.Path,
// opened for appending, or to stdout when the path is empty.
func NewAccessLog(c config.AccessLog, stdout io.Writer) (*AccessLog, error) {
	out := &accessWriter{}
	a := &AccessLog{
		rand:   rand.Float64,
		stdout: stdout,
		out:    out,
		// slog's handler writes each line with one Write under its own
		// lock, so lines never interleave. No ReplaceAttr: the line has
		// no time.Duration (the latency is duration_ms, a number), and
		// with any ReplaceAttr slog encodes the level through
		// encoding/json, an allocation per request.
		logger: slog.New(slog.NewJSONHandler(out, nil)),
	}
	if err := a.Configure(c); err != nil {
		return nil, err
	}
	return a, nil
}

// Configure applies c. A file is opened again even when the path is
// unchanged, so that a reload after log rotation writes to the new file, as
// [AccessLog.Reopen] does. If the file cannot be opened the log keeps its
// previous configuration and returns the error; an error closing the
// previous file is returned with the new configuration in place.
func (a *AccessLog) Configure(c config.AccessLog) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.Sample <= 0 || c.Sample > 1 {
		c.Sample = 1
	}
	if !c.Enabled {
		a.cur.Store(nil)
		a.cfg = c
		return a.openLocked(nil, "")
	}
	if err := a.openLocked(a.stdout, c.Path); err != nil {
		return err
	}
	a.cur.Store(&accessSink{sample: c.Sample})
	a.cfg = c
	return nil
}

// Reopen opens the log's file again at its path, for log rotation: once
// logrotate (in its default create mode) has renamed the file, lines keep
// going to the renamed file until Reopen, and to a file at the path,
// created if need be, from then on. Each line is written whole to one file
// or the other; none is lost. If the path cannot be opened, Reopen returns
// the error and the log keeps writing to the file it had. Reopen does
// nothing while the log writes to stdout, is off or is closed.
func (a *AccessLog) Reopen() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.cfg.Enabled || a.cfg.Path == "" {
		return nil
	}
	return a.openLocked(a.stdout, a.cfg.Path)
}

// openLocked points the log at path, opened for appending, or at stdout when
// path is empty (nil stdout, and a nil stdout with an empty path, discard),
// and closes the file it wrote to before.
func (a *AccessLog) openLocked(stdout io.Writer, path string) error {
	w, f := stdout, (*os.File)(nil)
	if path != "" {
		var err error
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return err
		}
		w = f
	}
	if old := a.out.swap(w, f); old != nil {
		return old.Close()
	}
	return nil
}

// Log writes info's line, if the log is on and the sample draws it; give it
// to [Options].OnRequest. A line whose request finishes as the log is turned
// off may be dropped.
func (a *AccessLog) Log(info RequestInfo) {
	s := a.cur.Load()
	if s == nil || (s.sample < 1 && a.rand() >= s.sample) {
		return
	}
	a.logger.LogAttrs(context.Background(), slog.LevelInfo, "request",
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
		withheldAttr(info.Withheld),
		voteAttr(info.Vote),
	)
}

// withheldAttr is the line's "withheld" field, the attempts the route's
// checks withheld (each with its endpoint, status and the check broken);
// an empty attr, which slog leaves out, when none was.
func withheldAttr(w []Withheld) slog.Attr {
	if len(w) == 0 {
		return slog.Attr{}
	}
	return slog.Any("withheld", w)
}

// voteAttr is the line's "vote" field, a vote route's verdict; an empty
// attr when there is none.
func voteAttr(v *VoteVerdict) slog.Attr {
	if v == nil {
		return slog.Attr{}
	}
	return slog.Any("vote", v)
}

// Close turns the log off and closes its file. It is idempotent.
func (a *AccessLog) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cur.Store(nil)
	a.cfg.Enabled = false
	return a.openLocked(nil, "")
}

// accessWriter is the access log's destination, which Configure and Reopen
// swap while lines are being written. The zero value discards.
type accessWriter struct {
	// mu guards w and f. Write holds it for the whole write, so a swap
	// waits for the line in progress, no line is split between two files,
	// and the file swapped out is never written again: it can be closed.
	mu sync.Mutex
	w  io.Writer // nil discards
	f  *os.File  // the file behind w; nil when w is stdout or nil
}

func (w *accessWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.w == nil {
		return len(p), nil
	}
	return w.w.Write(p)
}

// swap makes dst, backed by file f (nil for stdout), the destination, and
// returns the previous file for the caller to close.
func (w *accessWriter) swap(dst io.Writer, f *os.File) *os.File {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.f
	w.w, w.f = dst, f
	return old
}
