package proxy

import (
	"context"
	"sync"
)

// background owns the goroutines a proxy starts beside requests (shadow
// comparisons, quiesce webhooks), which outlive the request that started
// them: [Proxy.Close] cancels their context and waits for them. The zero
// value is not usable; see newBackground.
type background struct {
	ctx  context.Context
	stop context.CancelFunc

	// mu guards closed, and every Add of wg that could race with Wait.
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func newBackground() *background {
	b := &background{}
	b.ctx, b.stop = context.WithCancel(context.Background())
	return b
}

// goOwned runs f on a goroutine of its own under the background's context,
// and reports true; after close it runs nothing and reports false.
func (b *background) goOwned(f func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.wg.Go(func() { f(b.ctx) })
	return true
}

// close cancels the goroutines' context and waits for them to return. It
// is idempotent.
func (b *background) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.stop()
	b.wg.Wait()
}
