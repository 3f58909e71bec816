package holdfast

import "context"

// Policy is one stage of a [Pipeline]. Execute runs next under the policy and
// returns next's error or the policy's own (such as a breaker's ErrOpen).
// Execute may call next zero times (a rejection), once, or several times
// (retry, hedge); with hedging, calls to next may overlap.
//
// Every policy package's main type implements Policy.
type Policy interface {
	Execute(ctx context.Context, next func(context.Context) error) error
}

// Named is implemented by policies that report a name; the pipeline uses it in
// error messages.
type Named interface {
	Name() string
}

// Kinded is implemented by policies that take part in the default order of
// [New]. A policy without a kind is placed just outside the call.
type Kinded interface {
	Kind() Kind
}

// Kind is a policy's role, used to order a pipeline's stages.
type Kind int

// The default stage order, outermost first.
const (
	KindFallback Kind = iota + 1
	KindRetry
	KindBreaker
	KindHedge
	KindRateLimit
	KindBulkhead // bulkhead and adaptive concurrency limit
	KindTimeout
	KindGuard
	KindOther
	KindUpstream // an upstream's endpoints: health, ejection, panic mode
	KindVote
	KindCanary // a canary rollout: not a pipeline stage, it reports state changes
)

var kindNames = [...]string{
	KindFallback:  "fallback",
	KindRetry:     "retry",
	KindBreaker:   "breaker",
	KindHedge:     "hedge",
	KindRateLimit: "ratelimit",
	KindBulkhead:  "bulkhead",
	KindTimeout:   "timeout",
	KindGuard:     "guard",
	KindOther:     "other",
	KindUpstream:  "upstream",
	KindVote:      "vote",
	KindCanary:    "canary",
}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Recoverer is implemented by policies that can replace a failure with a
// result of type T, such as fallback.Fallback[T]. In a Pipeline[T], after next
// fails, Recover is asked for a replacement; ok reports whether it gave one.
type Recoverer[T any] interface {
	Recover(ctx context.Context, err error) (result T, rerr error, ok bool)
}

// Checker is implemented by policies that vet a result of type T before it is
// returned, such as guard.Guard[T]. In a Pipeline[T], Check runs on every
// successful result of the call; a non-nil error replaces the result, which is
// then never returned.
type Checker[T any] interface {
	Check(result T) error
}

// ContextChecker is implemented by Checkers that can also be given the call's
// context, so that the events they emit reach the listeners the context
// carries ([WithListener]). A Pipeline calls CheckContext in place of Check
// when a policy has it.
type ContextChecker[T any] interface {
	CheckContext(ctx context.Context, result T) error
}
