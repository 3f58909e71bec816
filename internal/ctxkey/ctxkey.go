// Package ctxkey learns the key with which the context package finds a
// context's nearest canceler, for the contexts that defer their timer
// (package timeout's, with Config.Wait, and package upstream's
// WithDeadline). It uses the standard library only.
package ctxkey

import "context"

// CancelCtx is the key with which the context package looks up the nearest
// canceler of a context through Value (context.Cause and the contexts
// derived from one do). It is learnt once by asking context.Cause about a
// done context that records the key it is asked for. Should a Go release
// stop looking it up that way, it is nil, and a lazy context must build
// its real one at once.
var CancelCtx = func() any {
	done, cancel := context.WithCancel(context.Background())
	cancel() // Cause asks for the key only of a context that is done
	p := &probe{Context: done}
	_ = context.Cause(p)
	return p.key
}()

type probe struct {
	context.Context
	key any
}

func (p *probe) Value(key any) any {
	if p.key == nil {
		p.key = key
	}
	return nil
}
