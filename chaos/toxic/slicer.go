package toxic

import (
	"math/rand/v2"
	"time"
)

// slicer cuts every chunk into pieces of average_size ± size_variation bytes
// and waits delay microseconds between them, as a slow or fragmenting
// network would. Attributes: average_size (>= 1), size_variation
// (<= average_size, as Toxiproxy allows; a piece is never under 1 byte),
// delay (µs).
type slicer struct {
	AverageSize   int64 `json:"average_size"`
	SizeVariation int64 `json:"size_variation"`
	Delay         int64 `json:"delay"`
}

func parseSlicer(a *attrs) any {
	t := &slicer{
		AverageSize:   a.integer("average_size", 0, 0, maxBytes),
		SizeVariation: a.integer("size_variation", 0, 0, maxBytes),
		Delay:         a.integer("delay", 0, 0, maxMicros),
	}
	if t.AverageSize < 1 {
		a.fail("average_size", "must be >= 1, got %d", t.AverageSize)
	} else if t.SizeVariation > t.AverageSize {
		a.fail("size_variation", "must be at most average_size (%d), got %d", t.AverageSize, t.SizeVariation)
	}
	return t
}

func (t *slicer) size() int {
	n := t.AverageSize
	if t.SizeVariation > 0 {
		n += rand.Int64N(2*t.SizeVariation+1) - t.SizeVariation
	}
	return int(max(n, 1))
}

func (t *slicer) Pipe(s *Stub) {
	gap := time.Duration(t.Delay) * time.Microsecond
	for {
		c, ok := s.Recv()
		if !ok {
			return
		}
		data := c.Data
		for len(data) > 0 {
			n := min(t.size(), len(data))
			if !s.Send(Chunk{Data: data[:n], Time: c.Time}) {
				if n < len(data) {
					s.Send(Chunk{Data: data[n:], Time: c.Time})
				}
				return
			}
			data = data[n:]
			if len(data) > 0 && !s.Sleep(gap) {
				s.Send(Chunk{Data: data, Time: c.Time})
				return
			}
		}
	}
}
