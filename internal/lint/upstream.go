package lint

import (
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/upstream"
)

// lintUpstream runs the rules about one upstream: what outlier ejection
// and health checks can take out of it.
func lintUpstream(out *findings, fi int, f *File, name string, u *config.Upstream) {
	if u == nil {
		return
	}
	p := "upstreams." + name
	n := len(u.Endpoints)
	if n < 2 {
		// Ejecting a lone endpoint would only send the upstream into
		// panic mode, which sends to it anyway.
		return
	}
	if od := u.OutlierDetection; !od.Disabled {
		pct := od.MaxEjectionPercent
		if pct == 0 {
			pct = upstream.DefaultMaxEjectionPercent
		}
		key := f.Lines.key(p+".outlier_detection.max_ejection_percent", p+".outlier_detection", p)
		switch {
		case pct*n < 100:
			// upstream's rule: an ejection happens only while
			// (ejected+1) × 100 ≤ max_ejection_percent × endpoints.
			out.add(fi, f, Warning, RuleEjectionNever, key,
				"max_ejection_percent %d of %d endpoints is less than one endpoint, so outlier detection never ejects any: set it to at least %d, or disabled: true to say so",
				pct, n, (100+n-1)/n)
		case pct >= 100:
			out.add(fi, f, Warning, RuleEjectionAll, key,
				"max_ejection_percent %d lets outlier detection eject all %d endpoints; with none usable the upstream goes into panic mode and sends to every endpoint, the failing ones too: keep it below 100 (the default is %d)",
				pct, n, upstream.DefaultMaxEjectionPercent)
		}
	}
	if hc := u.HealthCheck; hc != nil {
		th := hc.UnhealthyThreshold
		if th == 0 {
			th = upstream.DefaultUnhealthyThreshold
		}
		if th == 1 {
			timeout := hc.Timeout
			if timeout == 0 {
				timeout = upstream.DefaultHealthTimeout
			}
			out.add(fi, f, Warning, RuleHealthHairTrigger,
				f.Lines.key(p+".health_check.unhealthy_threshold", p+".health_check"),
				"one failed health check marks an endpoint unhealthy, and health checks are not bounded by max_ejection_percent: one bad round (a lost packet, a pause past the %s timeout, a shared dependency of the check path) takes all %d endpoints out at once, into panic mode (the default unhealthy_threshold is %d)",
				timeout, n, upstream.DefaultUnhealthyThreshold)
		}
	}
}
