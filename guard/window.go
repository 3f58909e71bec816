package guard

import "time"

// window remembers the times of the most recent violations, up to the number
// that silences the guard. It is not safe for concurrent use; Guard.mu
// guards it.
type window struct {
	times []time.Time // ring buffer; times[next] is the oldest once full
	next  int         // where the next time goes
	n     int         // how many times are stored, up to len(times)
}

func newWindow(size int) window { return window{times: make([]time.Time, size)} }

// add records a violation at t and reports whether the window now holds
// len(times) violations newer than t-span: the guard's silencing rule.
func (w *window) add(t time.Time, span time.Duration) bool {
	w.times[w.next] = t
	w.next = (w.next + 1) % len(w.times)
	if w.n < len(w.times) {
		w.n++
	}
	// Once full, times[next] is the oldest of the last len(times) violations;
	// all of them are inside the window exactly when it is.
	return w.n == len(w.times) && t.Sub(w.times[w.next]) < span
}

// reset forgets every violation.
func (w *window) reset() { w.next, w.n = 0, 0 }
