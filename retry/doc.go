// Package retry runs a call again when it fails, with exponential backoff and
// jitter between attempts, a cap on attempts, respect for the caller's
// deadline and for Retry-After hints, and a retry [Budget] that keeps retries
// from turning a partial outage into an overload.
//
// The model: a call gets up to [Config].Attempts attempts. After a failed
// attempt, retrying stops when the error is not retryable
// (context.Canceled, errors marked by holdfast.Permanent, or what
// [Config].RetryIf rejects), when the caller's context is done, when the
// attempts are used up, when the wait would reach the context's deadline, or
// when the budget refuses. Otherwise [Retry] waits (the error's Retry-After
// hint if it has one, else a jittered exponential backoff) and tries again.
//
// Results are classified through errors: a function that wants a result
// retried returns an error with it, and [Get] hands back the last result
// alongside the final error.
//
// A [Budget] allows retries while retries ≤ ratio × requests + min_per_second
// × window over a sliding window (Envoy's and Linkerd's retry budget); one
// Budget can be shared by many policies and by the proxy.
//
// Example:
//
//	r := retry.MustNew(retry.Config{
//		Attempts:     4,
//		Backoff:      retry.BackoffConfig{Base: 50 * time.Millisecond, Max: 2 * time.Second},
//		BudgetConfig: &retry.BudgetConfig{Ratio: 0.2, MinPerSecond: 10},
//		RetryIf:      func(err error) bool { return !errors.Is(err, errNotFound) },
//	})
//	item, err := retry.Get(ctx, r, fetchItem)
//	if errors.Is(err, retry.ErrAttemptsExhausted) { ... }
package retry
