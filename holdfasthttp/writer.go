package holdfasthttp

import (
	"bufio"
	"maps"
	"net"
	"net/http"
	"sync"
)

// writer is the http.ResponseWriter a [Handler] gives the handler it wraps.
// It records the status for the handler's outcome, and lets the Handler
// take the response back: once sealed, the handler's writes fail with
// http.ErrHandlerTimeout and never reach w, so that a handler abandoned at
// its deadline cannot write over the Handler's answer or after ServeHTTP
// returned.
type writer struct {
	w        http.ResponseWriter
	h        http.Header // the handler's headers: w.Header(), unless isolated
	isolated bool        // h is a map of its own, copied to w's on writes

	// mu guards the fields below, and every use of w while the handler
	// may run on another goroutine than ServeHTTP's.
	mu     sync.Mutex
	status int  // the final status written, 0 before
	wrote  bool // the response has begun (a final status or body bytes)
	sealed bool // the Handler has taken the response back
}

var (
	_ http.ResponseWriter = (*writer)(nil)
	_ http.Flusher        = (*writer)(nil)
	_ http.Hijacker       = (*writer)(nil)
)

func (w *writer) init(rw http.ResponseWriter, isolated bool) {
	w.w, w.isolated = rw, isolated
	if isolated {
		w.h = rw.Header().Clone()
		if w.h == nil {
			w.h = http.Header{}
		}
	} else {
		w.h = rw.Header()
	}
}

// Header returns the handler's header map.
func (w *writer) Header() http.Header { return w.h }

// syncHeaderLocked copies the handler's headers to the response's.
func (w *writer) syncHeaderLocked() {
	if w.isolated {
		dst := w.w.Header()
		clear(dst)
		maps.Copy(dst, w.h)
	}
}

// finishLocked is called when the handler returns in time: trailers it set
// after writing reach the response.
func (w *writer) finishLocked() {
	if w.wrote {
		w.syncHeaderLocked()
	}
}

// WriteHeader sends the status line and headers, or a 1xx interim response.
func (w *writer) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sealed {
		return
	}
	if !w.wrote {
		w.syncHeaderLocked()
	}
	w.w.WriteHeader(code)
	if !w.wrote && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.wrote, w.status = true, code
	}
}

// Write sends body bytes, and the headers with status 200 first if they are
// not sent yet.
func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sealed {
		return 0, http.ErrHandlerTimeout
	}
	w.beginLocked()
	return w.w.Write(p)
}

// beginLocked marks the response begun with an implicit 200, as the
// underlying writer's Write and Flush do.
func (w *writer) beginLocked() {
	if !w.wrote {
		w.syncHeaderLocked()
		w.wrote, w.status = true, http.StatusOK
	}
}

// Flush sends what is buffered to the client.
func (w *writer) Flush() { w.FlushError() }

// FlushError is Flush reporting an error, as http.ResponseController uses.
func (w *writer) FlushError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sealed {
		return http.ErrHandlerTimeout
	}
	w.beginLocked()
	return http.NewResponseController(w.w).Flush()
}

// Hijack hands the connection to the handler, which then owns it; the
// Handler writes nothing on it afterwards.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sealed {
		return nil, nil, http.ErrHandlerTimeout
	}
	c, rw, err := http.NewResponseController(w.w).Hijack()
	if err == nil {
		w.wrote = true // the response is the handler's, on its own terms
	}
	return c, rw, err
}

// Unwrap returns the underlying writer, for http.ResponseController's other
// methods (read and write deadlines, full duplex).
func (w *writer) Unwrap() http.ResponseWriter { return w.w }
