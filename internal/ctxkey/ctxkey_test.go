package ctxkey

import (
	"context"
	"errors"
	"testing"
)

// TestCancelCtxFound guards the lazy contexts: on this Go release the key
// is learnt, and it is the one through which the context package finds a
// canceler: a context that answers it with a real canceled context is
// taken for canceled by context.Cause.
func TestCancelCtxFound(t *testing.T) {
	if CancelCtx == nil {
		t.Fatal("CancelCtx = nil; want the context package's key (context.Cause no longer asks Value for it?)")
	}
	cause := errors.New("the cause")
	real, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	c := &answers{Context: context.Background(), real: real}
	if got := context.Cause(c); !errors.Is(got, cause) {
		t.Errorf("context.Cause of a context that answers CancelCtx with a canceled one: %v; want its cause", got)
	}
}

type answers struct {
	context.Context
	real context.Context
}

func (a *answers) Value(key any) any {
	if key == CancelCtx {
		return a.real.Value(key)
	}
	return a.Context.Value(key)
}

func (a *answers) Err() error { return a.real.Err() }
