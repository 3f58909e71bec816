package toxic

import (
	"math/rand/v2"
	"time"
)

// latency delays every chunk by latency ± jitter milliseconds, counted from
// when the proxy read it: chunks keep their spacing and are not delayed
// twice when they queue. Attributes: latency, jitter (ms, default 0).
type latency struct {
	Latency int64 `json:"latency"`
	Jitter  int64 `json:"jitter"`
}

func parseLatency(a *attrs) any {
	return &latency{Latency: a.millis("latency"), Jitter: a.millis("jitter")}
}

func (t *latency) delay() time.Duration {
	ms := t.Latency
	if t.Jitter > 0 {
		ms += rand.Int64N(2*t.Jitter+1) - t.Jitter
	}
	return time.Duration(ms) * time.Millisecond
}

func (t *latency) Pipe(s *Stub) {
	for {
		c, ok := s.Recv()
		if !ok {
			return
		}
		if !s.Sleep(t.delay() - time.Since(c.Time)) {
			s.Send(c)
			return
		}
		if !s.Send(c) {
			return
		}
	}
}
