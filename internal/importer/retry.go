package importer

import (
	"strconv"
	"strings"

	"github.com/holdfast-dev/holdfast/config"
)

// This file translates a VirtualService route's retries (HTTPRetry) and
// fault (HTTPFaultInjection).

// istioDefaultRetryOn is what Istio retries on when a retries block
// leaves retryOn out (HTTPRetry.retry_on).
const istioDefaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled"

// readHTTPRetry translates Istio's HTTPRetry. Istio's attempts counts
// retries; holdfast's counts tries, the first one included. Left out or 0,
// it turns retrying off.
func readHTTPRetry(o *object) *config.Retry {
	if o == nil {
		return nil
	}
	rt := &config.Retry{}
	attempts, av, ok := o.int("attempts", 0)
	if !ok || attempts == 0 {
		at := av
		if !ok {
			at = o.value
		}
		at.note("no retries: Istio retries nothing when attempts is 0 or left out; attempts: 1")
		rt.Attempts = 1
	} else {
		rt.Attempts = attempts + 1
	}
	rt.PerTryTimeout, _, _ = o.duration("perTryTimeout")
	spec, sv, ok := o.str("retryOn")
	if (!ok || strings.TrimSpace(spec) == "") && rt.Attempts > 1 {
		spec, sv = istioDefaultRetryOn, o.value
		sv.note("no retryOn: Istio's default, %s, is translated", istioDefaultRetryOn)
	}
	if rt.Attempts > 1 {
		on, statuses := retryConditions(sv, spec)
		if on == (config.RetryOn{}) && len(statuses) == 0 {
			sv.note("no condition holdfast can check; retries are off: attempts: 1")
			rt.Attempts = 1
		}
		rt.RetryOn, rt.RetriableStatuses = on, statuses
	}
	if rt.Attempts == 1 {
		rt.RetryOn, rt.RetriableStatuses = config.RetryOn{}, nil
	}
	if d, _, ok := o.duration("backoff"); ok && d > 0 {
		// Envoy's backoff: fully jittered, doubling from base_interval,
		// capped at ten times it; holdfast's full jitter is the same.
		rt.Backoff.Base, rt.Backoff.Max = d, 10*d
	}
	o.skip("retryRemoteLocalities", "holdfast has no localities")
	if b, bv, ok := o.bool("retryIgnorePreviousHosts"); ok && !b {
		bv.notTranslated("holdfast always sends a retry to an endpoint the request has not tried, while there is one")
	}
	o.done()
	if rt.Attempts > 1 {
		o.value.note("holdfast retries only idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, TRACE, or any with an Idempotency-Key header); Envoy retries any method")
	}
	return rt
}

// retryConditions maps an Istio retryOn list (Envoy's x-envoy-retry-on
// and x-envoy-retry-grpc-on conditions, and status codes) to holdfast's
// retry_on and retriable_statuses.
func retryConditions(v value, spec string) (config.RetryOn, []int) {
	var on config.RetryOn
	var statuses []int
	codesFromHeader := false
	seen := map[int]bool{}
	addStatus := func(s int) {
		if !seen[s] {
			seen[s] = true
			statuses = append(statuses, s)
		}
	}
	for _, c := range strings.Split(spec, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if n, err := strconv.Atoi(c); err == nil {
			if n < 100 || n > 599 {
				v.notTranslated("%q is not an HTTP status", c)
				continue
			}
			addStatus(n)
			continue
		}
		switch c {
		case "5xx":
			on.ServerError = true
		case "gateway-error":
			on.GatewayError = true
		case "reset":
			on.Reset = true
		case "connect-failure":
			on.ConnectFailure = true
		case "reset-before-request":
			on.Reset = true
			v.note("reset-before-request: holdfast's reset also retries a reset after the request was sent (its requests are idempotent)")
		case "refused-stream":
			on.Reset = true
			v.note("refused-stream: holdfast does not tell a refused HTTP/2 stream from another reset; reset retries both")
		case "retriable-4xx":
			addStatus(409) // Envoy's retriable-4xx is 409 alone
		case "retriable-status-codes":
			codesFromHeader = true
		case "envoy-ratelimited":
			v.notTranslated("envoy-ratelimited: holdfast does not read Envoy's x-envoy-ratelimited header")
		case "retriable-headers":
			v.notTranslated("retriable-headers: holdfast does not retry on response headers")
		case "http3-post-connect-failure":
			v.notTranslated("http3-post-connect-failure: holdfast does not speak HTTP/3")
		case "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable":
			v.notTranslated("%s: a gRPC status; holdfast's retry_on does not read grpc-status", c)
		default:
			v.notTranslated("%q is not a retry condition Envoy knows", c)
		}
	}
	if codesFromHeader && len(statuses) == 0 {
		v.notTranslated("retriable-status-codes with no status code listed: the codes come from the x-envoy-retriable-status-codes request header, which holdfast does not read")
	}
	if len(statuses) > 0 {
		on.RetriableStatus = true
	}
	return on, statuses
}

// readFault translates an HTTPFaultInjection.
func readFault(o *object) *config.Fault {
	if o == nil {
		return nil
	}
	f := &config.Fault{}
	if d := o.obj("delay"); d != nil {
		pct, ok := faultPercent(d, "delay", true)
		fixed, fv, hasFixed := d.duration("fixedDelay")
		d.skip("exponentialDelay", "holdfast delays by a fixed time only")
		d.done()
		switch {
		case !hasFixed:
			if !d.has("exponentialDelay") {
				d.value.notTranslated("no fixedDelay; no delay is injected")
			}
		case fixed <= 0:
			fv.notTranslated("a delay must be positive; no delay is injected")
		case ok:
			f.Delay = &config.FaultDelay{Percent: pct, Duration: fixed}
		}
	}
	if a := o.obj("abort"); a != nil {
		pct, ok := faultPercent(a, "abort", false)
		status, sv, hasStatus := a.int("httpStatus", 0)
		a.skip("grpcStatus", "holdfast aborts with an HTTP status only")
		a.skip("http2Error", "holdfast aborts with an HTTP status only")
		a.done()
		switch {
		case !hasStatus:
			if !a.has("grpcStatus") && !a.has("http2Error") {
				a.value.notTranslated("no httpStatus; nothing is aborted")
			}
		case status < 100 || status > 599:
			sv.notTranslated("holdfast aborts with a status from 100 to 599, got %d; nothing is aborted", status)
		case ok:
			f.Abort = &config.FaultAbort{Percent: pct, Status: status}
		}
	}
	o.done()
	if f.Delay == nil && f.Abort == nil {
		return nil
	}
	return f
}

// faultPercent reads a fault's percentage ({value: 0.1}) or its
// deprecated integer percent (a delay's only: an abort's is gone). Left
// out, the fault applies to no request.
func faultPercent(o *object, what string, legacy bool) (float64, bool) {
	if p := o.obj("percentage"); p != nil {
		pct, pv, ok := p.float("value")
		p.done()
		if legacy {
			o.skip("percent", "ignored: percentage is set")
		}
		switch {
		case !ok:
			p.value.notTranslated("no value; the %s applies to no request", what)
			return 0, false
		case pct < 0 || pct > 100:
			pv.notTranslated("a percentage must be in [0, 100], got %g; the %s is left out", pct, what)
			return 0, false
		}
		return pct, true
	}
	if !legacy {
		o.value.notTranslated("no percentage: Istio applies the %s to no request", what)
		return 0, false
	}
	if n, _, ok := o.int("percent", 0); ok {
		if n > 100 {
			o.value.notTranslated("a percentage must be in [0, 100], got %d; the %s is left out", n, what)
			return 0, false
		}
		return float64(n), true
	}
	o.value.notTranslated("no percentage: Istio applies the %s to no request", what)
	return 0, false
}
