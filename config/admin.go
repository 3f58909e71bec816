package config

import (
	"net"
	"strings"

	"github.com/holdfast-dev/holdfast"
)

// DefaultAdminListen is the admin address when admin.listen is left out.
const DefaultAdminListen = "127.0.0.1:9901"

// Admin is the `admin:` block: where the admin server listens and the
// token its mutating endpoints require. The admin package's Config takes
// these fields, and [Admin.Validate] is the one check of them.
type Admin struct {
	// Listen is the admin address, host:port. Default 127.0.0.1:9901. An
	// address that is not loopback (see [IsLoopback]) is refused unless
	// TokenFile is set.
	Listen string `yaml:"listen" json:"listen"`
	// TokenFile names a file holding the bearer token that mutating
	// endpoints require, read with [ReadSecretFile]. Default none: they
	// are open to anyone who can reach the loopback address.
	TokenFile string `yaml:"token_file" json:"token_file"`
}

// Validate reports what is wrong with a, its defaults applied, as
// a [*holdfast.ConfigError] of policy "admin" keyed "listen", or nil. It does not read the token file:
// [Parse] checks that it can be read, and the admin server reads it.
func (a Admin) Validate() error {
	if a.Listen == "" {
		a.Listen = DefaultAdminListen
	}
	if _, _, err := net.SplitHostPort(a.Listen); err != nil {
		return holdfast.ConfigErrorf("admin", "listen", "must be host:port, got %q", a.Listen)
	}
	if !IsLoopback(a.Listen) && a.TokenFile == "" {
		return holdfast.ConfigErrorf("admin", "listen",
			"%q is not a loopback address; set admin.token_file to expose the admin API", a.Listen)
	}
	return nil
}

// IsLoopback reports whether addr, a host:port or a bare host (an IPv6
// address with or without brackets), names only this machine: the host is
// "localhost" in any case (host names are case-insensitive, RFC 4343) or a
// loopback IP address such as 127.0.0.1 or ::1. An empty host, which binds
// every interface, is not loopback, nor is any other name, since what it
// resolves to is not known here. Every listener that binds without a token
// only on loopback asks it.
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
