package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"

	"github.com/holdfast-dev/holdfast/config"
)

// token is the admin bearer token, kept only as its SHA-256 so that
// comparing it takes the same time whatever the length of a guess.
type token struct {
	set  bool
	hash [sha256.Size]byte
}

func newToken(secret string) token {
	if secret == "" {
		return token{}
	}
	return token{set: true, hash: sha256.Sum256([]byte(secret))}
}

// allows reports whether r carries the token as "Authorization: Bearer
// <token>". Without a token every request is allowed: the server is then
// bound to loopback.
func (t token) allows(r *http.Request) bool {
	if !t.set {
		return true
	}
	got, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return false
	}
	h := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(h[:], t.hash[:]) == 1
}

// bearer extracts the credentials of a Bearer authorization (RFC 6750 §2.1;
// the scheme is case-insensitive, RFC 9110 §11.1).
func bearer(v string) (string, bool) {
	const scheme = "bearer "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	t := strings.TrimSpace(v[len(scheme):])
	return t, t != ""
}

// requireToken wraps a mutating handler: without the token it answers 401
// and never runs h.
func (s *Server) requireToken(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.token.allows(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="holdfast-admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid bearer token is required"})
			return
		}
		h(w, r)
	}
}

// loopbackHost reports whether the Host a client asked for names loopback:
// what [config.IsLoopback] accepts, with or without a final dot, or a name
// under .localhost, which browsers resolve to loopback themselves (RFC 6761
// §6.3). A server bound to loopback refuses other hosts, so a web page
// cannot reach it through DNS rebinding (a name of the attacker's that
// resolves to 127.0.0.1).
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	return config.IsLoopback(host) || strings.HasSuffix(strings.ToLower(host), ".localhost")
}
