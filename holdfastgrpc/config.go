package holdfastgrpc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/holdfast-dev/holdfast"
)

// DefaultStreamBuffer is the default ClientConfig.StreamBuffer: 256 KiB, as
// grpc-go's own retry buffer (grpc.MaxRetryRPCBufferSize).
const DefaultStreamBuffer = 256 << 10

// DefaultFailureCodes are the status codes that count against a server by
// default: it is down or overloaded (UNAVAILABLE, RESOURCE_EXHAUSTED), too slow
// (DEADLINE_EXCEEDED), or broken (INTERNAL, UNKNOWN, DATA_LOSS). They are the
// codes that gRPC's HTTP mapping and Envoy's outlier detection treat as 5xx.
// The caller's mistakes (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ...)
// and ABORTED, a conflict between callers, are answers, not failures.
var DefaultFailureCodes = []codes.Code{
	codes.Unavailable, codes.DeadlineExceeded, codes.Internal,
	codes.Unknown, codes.DataLoss, codes.ResourceExhausted,
}

// DefaultRetryCodes are the status codes retried by default: UNAVAILABLE
// only, the one code that says the call did not take effect and another
// attempt may succeed (gRPC's status code guide).
var DefaultRetryCodes = []codes.Code{codes.Unavailable}

// DefaultPushbackCodes are the status codes retried by default only when the
// server said when: RESOURCE_EXHAUSTED with a grpc-retry-pushback-ms trailer.
var DefaultPushbackCodes = []codes.Code{codes.ResourceExhausted}

// ClientConfig configures [UnaryClientInterceptor] and
// [StreamClientInterceptor]. Its zero value runs calls through no policy but
// is valid; the code sets default to [DefaultFailureCodes],
// [DefaultRetryCodes] and [DefaultPushbackCodes].
//
// Every status code is one of three outcomes to the policies:
//
//   - an answer (OK, and every code in no set below): a success to breakers,
//     limits and hedges, never retried, returned to the caller as it is;
//   - a failure (FailureCodes not in RetryCodes or PushbackCodes): an error
//     that breakers and adaptive limits count, marked [holdfast.Permanent] so
//     that retries and hedges stop at it;
//   - a retryable failure (RetryCodes; PushbackCodes when the server sent a
//     pushback): an error that is counted and may be retried.
//
// The same config may build both interceptors; they then share its policies,
// so one breaker sees unary calls and streams alike.
type ClientConfig struct {
	// Policies run around every call, the first outermost, as
	// [holdfast.New] composes them: a retry, then a breaker, a hedge, a rate
	// limit, a bulkhead or adaptive limit, and a timeout, which then bounds
	// each attempt (holdfast.Recommended puts policies in that order). A
	// fallback cannot be one of them: it would turn a failure into an empty
	// reply. Nil means no policies.
	Policies []holdfast.Policy

	// FailureCodes are the status codes that count against the server. Nil
	// means [DefaultFailureCodes]; an empty, non-nil slice means none.
	FailureCodes []codes.Code

	// RetryCodes are the status codes that may be retried, always with the
	// server's pushback when it sent one. Each must also be in FailureCodes:
	// a code worth retrying says the server failed. Nil means
	// [DefaultRetryCodes]; an empty, non-nil slice means none. INTERNAL,
	// UNKNOWN, ABORTED and DATA_LOSS are not retried by default: the call
	// may have taken effect. Add them for idempotent services.
	RetryCodes []codes.Code

	// PushbackCodes are the status codes retried only when the server's
	// answer carries one valid grpc-retry-pushback-ms trailer, after exactly
	// that wait (gRFC A6). Each must also be in FailureCodes and not in
	// RetryCodes. Nil means [DefaultPushbackCodes]; an empty, non-nil slice
	// means none.
	//
	// For every code, a pushback that is negative, not a number, or given
	// more than once means "do not retry", as in gRPC's own retry policy.
	PushbackCodes []codes.Code

	// StreamBuffer is how many bytes of request messages a stream keeps,
	// before its first response header or message, to send again on a new
	// attempt. A stream that sends more can no longer be retried; it goes on
	// on the attempt it has. Messages that are not protocol buffers cannot be
	// measured or copied, so the first one ends retrying too. Zero means
	// [DefaultStreamBuffer].
	StreamBuffer int
}

// Validate reports every invalid field of c as a *holdfast.ConfigError,
// such as "holdfastgrpc.retry_codes: ABORTED is retried, so it must also
// be in failure_codes", joined with errors.Join.
func (c ClientConfig) Validate() error {
	var errs []error
	for i, p := range c.Policies {
		switch {
		case p == nil:
			errs = append(errs, holdfast.ConfigErrorf(configName, fmt.Sprintf("policies[%d]", i), "must not be nil"))
		case kindOf(p) == holdfast.KindFallback:
			errs = append(errs, holdfast.ConfigErrorf(configName, fmt.Sprintf("policies[%d]", i),
				"a fallback cannot run in an interceptor, which has no reply to put in place of a failure; put it around the stub call"))
		}
	}
	failure, ferrs := codeSet("failure_codes", c.FailureCodes, DefaultFailureCodes)
	retry, rerrs := codeSet("retry_codes", c.RetryCodes, DefaultRetryCodes)
	pushback, perrs := codeSet("pushback_codes", c.PushbackCodes, DefaultPushbackCodes)
	errs = append(errs, ferrs...)
	errs = append(errs, rerrs...)
	errs = append(errs, perrs...)
	for code := range codes.Code(numCodes) {
		if retry.has(code) && !failure.has(code) {
			errs = append(errs, holdfast.ConfigErrorf(configName, "retry_codes", "%s is retried, so it must also be in failure_codes", codeName(code)))
		}
		if pushback.has(code) && !failure.has(code) {
			errs = append(errs, holdfast.ConfigErrorf(configName, "pushback_codes", "%s is retried, so it must also be in failure_codes", codeName(code)))
		}
		if pushback.has(code) && retry.has(code) {
			errs = append(errs, holdfast.ConfigErrorf(configName, "pushback_codes", "%s is in retry_codes too; a code is retried always or only with a pushback", codeName(code)))
		}
	}
	if c.StreamBuffer < 0 {
		errs = append(errs, holdfast.ConfigErrorf(configName, "stream_buffer", "must not be negative, got %d", c.StreamBuffer))
	}
	return errors.Join(errs...)
}

// ServerConfig configures [UnaryServerInterceptor] and
// [StreamServerInterceptor]. Its zero value runs handlers under no policy but
// is valid.
//
// Refusals become gRPC statuses with the reason in an x-holdfast-reason
// trailer, as the holdfast proxy's own replies carry it, and the wait, where
// one is known, in a grpc-retry-pushback-ms trailer:
//
//   - rate limited (ratelimit): RESOURCE_EXHAUSTED, with the limiter's wait;
//   - overloaded or queue timeout (bulkhead, adaptive): UNAVAILABLE;
//   - breaker open: UNAVAILABLE, with the breaker's remaining open time;
//   - timeout: DEADLINE_EXCEEDED.
type ServerConfig struct {
	// Policies run around every handler, the first outermost, as
	// [holdfast.New] composes them. The order that suits a server is rate
	// limit, then bulkhead or adaptive limit, then breaker, then timeout: a
	// breaker outside a limit would count every call the limit refuses as
	// a failure. A handler runs once, so a retry, a hedge or a fallback
	// cannot be one of them, and a policy that calls its next stage again
	// gets an INTERNAL error from it. Nil means none.
	Policies []holdfast.Policy

	// Key is the key a ratelimit.Keyed among Policies limits by, stored in
	// the handler's context with ratelimit.WithKey (a Keyed with a KeyFunc
	// of its own uses that instead). Nil means [ClientIP]; [MetadataKey]
	// keys by a metadata value such as a user id.
	Key func(ctx context.Context) string

	// ShedPushback is the pushback given with a call that a full bulkhead
	// or adaptive limit refused, whose wait nobody knows. Zero means none.
	ShedPushback time.Duration

	// FailureCodes are the status codes a handler returns that count as its
	// failures, for a breaker or an adaptive limit among Policies; the
	// others are answers, which count as successes. A DEADLINE_EXCEEDED is
	// also an overload signal to an adaptive limit. Nil means
	// [DefaultFailureCodes]; an empty, non-nil slice means none.
	FailureCodes []codes.Code
}

// Validate reports every invalid field of c as a *holdfast.ConfigError,
// joined with errors.Join.
func (c ServerConfig) Validate() error {
	var errs []error
	for i, p := range c.Policies {
		key := fmt.Sprintf("policies[%d]", i)
		if p == nil {
			errs = append(errs, holdfast.ConfigErrorf(configName, key, "must not be nil"))
			continue
		}
		switch k := kindOf(p); k {
		case holdfast.KindRetry, holdfast.KindHedge, holdfast.KindFallback:
			errs = append(errs, holdfast.ConfigErrorf(configName, key, "a %s cannot run in a server interceptor, which runs its handler once", k))
		}
	}
	_, ferrs := codeSet("failure_codes", c.FailureCodes, DefaultFailureCodes)
	errs = append(errs, ferrs...)
	if c.ShedPushback < 0 {
		errs = append(errs, holdfast.ConfigErrorf(configName, "shed_pushback", "must not be negative, got %v", c.ShedPushback))
	}
	return errors.Join(errs...)
}

// configName is the Policy of this package's config errors.
const configName = "holdfastgrpc"

// numCodes is one past the highest status code gRPC defines (UNAUTHENTICATED).
const numCodes = int(codes.Unauthenticated) + 1

// codeBits is a set of status codes.
type codeBits uint32

func (s codeBits) has(c codes.Code) bool { return c < codes.Code(numCodes) && s&(1<<c) != 0 }

// codeSet turns list (def when nil) into a set, reporting codes that are
// not failure codes at all: OK and codes gRPC does not define.
func codeSet(key string, list, def []codes.Code) (codeBits, []error) {
	if list == nil {
		list = def
	}
	var s codeBits
	var errs []error
	for i, c := range list {
		switch {
		case c == codes.OK:
			errs = append(errs, holdfast.ConfigErrorf(configName, fmt.Sprintf("%s[%d]", key, i), "OK is not a failure"))
		case c >= codes.Code(numCodes):
			errs = append(errs, holdfast.ConfigErrorf(configName, fmt.Sprintf("%s[%d]", key, i), "%d is not a gRPC status code", uint32(c)))
		default:
			s |= 1 << c
		}
	}
	return s, errs
}

// codeNames spell the codes as gRPC's status code guide does.
var codeNames = [numCodes]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
}

// codeName is c as gRPC's documents spell it: UNAVAILABLE.
func codeName(c codes.Code) string {
	if int(c) < numCodes {
		return codeNames[c]
	}
	return c.String()
}

func kindOf(p holdfast.Policy) holdfast.Kind {
	if k, ok := p.(holdfast.Kinded); ok {
		return k.Kind()
	}
	return holdfast.KindOther
}

// concurrent reports whether a pipeline of ps may run attempts that overlap
// or outlive the call, so that each attempt needs a reply of its own. It is
// the rule of holdfast's Pipeline (a Concurrent policy, or a hedge or a
// timeout without one), which the pipeline does not export.
func concurrent(ps []holdfast.Policy) bool {
	return slices.ContainsFunc(ps, func(p holdfast.Policy) bool {
		if c, ok := p.(holdfast.Concurrent); ok {
			return c.Concurrent()
		}
		k := kindOf(p)
		return k == holdfast.KindHedge || k == holdfast.KindTimeout
	})
}
