package toxic

import (
	"sync"
)

// Channel capacities of a chain. The head is deep so that the pump keeps
// reading (and time-stamping) while a toxic holds data, which is what keeps
// latency per chunk rather than cumulative; the links between toxics are
// shallow so that back-pressure (bandwidth) still reaches the socket.
const (
	headDepth = 64
	linkDepth = 4
)

// pipeline is one chain of toxics for one direction of one connection:
// pump -> in -> toxic 1 -> ... -> toxic n -> out -> writer -> dst. It is
// replaced as a whole when the proxy's toxics change.
type pipeline struct {
	l     *link
	in    chan Chunk
	out   chan Chunk
	stubs []*Stub
	stop  chan struct{} // closed to interrupt every stage and the writer
	once  sync.Once
	wg    sync.WaitGroup // stages

	writerDone chan struct{}
}

// stageSpec is one toxic to run, with its per-connection state.
type stageSpec struct {
	toxic Toxic
	state *any
}

// startPipeline runs specs as a chain; pending chunks (left by the previous
// chain, oldest first) enter it before anything the pump reads next.
func (l *link) startPipeline(specs []stageSpec, pending []Chunk) *pipeline {
	pl := &pipeline{
		l:          l,
		in:         make(chan Chunk, headDepth),
		stop:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	prev := pl.in
	for i, sp := range specs {
		out := make(chan Chunk, linkDepth)
		s := &Stub{input: prev, output: out, stop: pl.stop, state: sp.state}
		if i == 0 {
			s.prefix = pending
		}
		pl.stubs = append(pl.stubs, s)
		pl.wg.Add(1)
		go pl.runStage(sp.toxic, s)
		prev = out
	}
	pl.out = prev
	go pl.write()
	return pl
}

// runStage runs one toxic until it returns. A toxic that ends its stream
// (end of input, Close) closes its output so the end travels down the chain,
// then discards its input so that earlier toxics never block.
func (pl *pipeline) runStage(t Toxic, s *Stub) {
	defer pl.wg.Done()
	t.Pipe(s)
	if s.interrupted {
		return
	}
	if s.end == endReset {
		pl.l.c.teardown(true)
		return
	}
	pl.l.setEnd(s.end)
	close(s.output)
	for {
		select {
		case _, ok := <-s.input:
			if !ok {
				return
			}
		case <-s.stop:
			return
		}
	}
}

// write copies the chain's output to the destination, and acts on the end
// of the stream.
func (pl *pipeline) write() {
	defer close(pl.writerDone)
	l := pl.l
	for {
		select {
		case c, ok := <-pl.out:
			if !ok {
				switch end(l.end.Load()) {
				case endReset:
					l.c.teardown(true)
				case endClose:
					l.c.teardown(false)
				default:
					halfClose(l.dst)
				}
				return
			}
			if err := l.write(c.Data); err != nil {
				l.c.teardown(false)
				return
			}
		case <-pl.stop:
			return
		}
	}
}

// kill interrupts every stage and the writer without keeping their data.
func (pl *pipeline) kill() { pl.once.Do(func() { close(pl.stop) }) }

// shutdown stops the chain and waits for its goroutines, dropping its data:
// the connection is ending.
func (pl *pipeline) shutdown() {
	pl.kill()
	pl.wg.Wait()
	<-pl.writerDone
}

// halt stops the chain and returns the data still inside it, oldest first:
// what waits for the writer, then for each toxic from the last back to the
// first what it held, what was left of its prefix, and what waits at its
// input. The caller is the pump, so nothing is being sent into in.
func (pl *pipeline) halt() []Chunk {
	pl.kill()
	pl.wg.Wait()
	<-pl.writerDone
	got := drain(nil, pl.out)
	for i := len(pl.stubs) - 1; i >= 0; i-- {
		s := pl.stubs[i]
		got = append(got, s.held...)
		got = append(got, s.prefix...)
		got = drain(got, s.input)
	}
	return got
}

// drain appends what ch holds now, without waiting.
func drain(dst []Chunk, ch <-chan Chunk) []Chunk {
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				return dst
			}
			dst = append(dst, c)
		default:
			return dst
		}
	}
}
