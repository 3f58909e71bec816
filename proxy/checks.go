package proxy

import (
	"net/http"
	"strconv"
	"time"
)

// screenRequest checks r before it is routed, so that every hop reads it
// the same way: it answers, and returns false for, a request
//
//   - with more header fields than limits.max_headers (fields, counted
//     before the proxy added any): 431;
//   - whose path has no normal form under path_normalization: 400;
//   - that asks to upgrade to a protocol its route's upgrades do not list:
//     403, and the connection is closed.
//
// Otherwise it rewrites r.URL's path to its normal form, which routes match
// and the upstream receives, drops an h2c upgrade (the request goes on as
// plain HTTP/1.1), and returns true. local writes a local reply.
func (p *Proxy) screenRequest(w http.ResponseWriter, r *http.Request, fields int, st *state, local func(status int, reason, msg string, retryAfter time.Duration)) bool {
	refuse := func(status int, reason, msg string) bool {
		if r.ProtoMajor == 1 {
			w.Header().Set("Connection", "close")
		}
		local(status, reason, msg, 0)
		return false
	}
	if r.Method == "PRI" {
		// net/http passes "PRI * HTTP/2.0" to the handler when the rest
		// of the HTTP/2 preface does not follow it; it is not a request.
		return refuse(http.StatusBadRequest, ReasonInvalidRequest, "PRI is the HTTP/2 connection preface, not a request")
	}

	if limit := st.cfg.Limits.MaxHeaders; limit > 0 && fields > limit {
		local(http.StatusRequestHeaderFieldsTooLarge, ReasonTooManyHeaders,
			"the request has "+strconv.Itoa(fields)+" header fields; the limit is "+strconv.Itoa(limit), 0)
		return false
	}
	if r.Method == http.MethodConnect {
		return true // not routed: the handler refuses it next
	}

	if err := normalizeRequestPath(r, &st.cfg.PathNormalization); err != nil {
		local(http.StatusBadRequest, ReasonInvalidRequest, err.Error(), 0)
		return false
	}

	if upgradeType(r.Header) != "" {
		dropH2CUpgrade(r.Header)
		if upgradeType(r.Header) != "" {
			// The route decides, and routes are matched on what the
			// handler will see: the normal path, h2c dropped.
			if rt := st.routeFor(r); rt != nil {
				if _, no := admitUpgrade(r.Header, rt.cfg.Upgrades); no {
					return refuse(http.StatusForbidden, ReasonUpgradeNotAllowed,
						"route "+rt.name+" does not allow the upgrade to "+sanitizePath(r.Header.Get("Upgrade")))
				}
			}
		}
	}
	return true
}

// routeFor returns the first route that takes r, or nil.
func (s *state) routeFor(r *http.Request) *route {
	for _, rt := range s.routes {
		if rt.match.match(r) {
			return rt
		}
	}
	return nil
}

// headerFields counts the header fields of r as its server left them.
func headerFields(r *http.Request) int {
	n := 0
	for _, vs := range r.Header {
		n += len(vs)
	}
	if r.ProtoMajor == 1 && r.Host != "" {
		n++ // the servers move Host out of r.Header
	}
	return n
}
