package config

import "strings"

// redactedPassword replaces a URL's password, as in [url.URL.Redacted].
const redactedPassword = "xxxxx"

// redact replaces the password of every URL in s with "xxxxx", keeping the
// user name, as [url.URL.Redacted] does: an endpoint address such as
// http://user:secret@host is refused, and the refusal quotes it.
//
// It works on text, not on parsed URLs, because the URLs worth hiding are
// often the ones that do not parse ("http://u:pa/ss@host" has an invalid
// port), and a message may hold several of them, each quoted or not. A URL
// starts at "scheme://"; it ends at the closing quote when it follows one
// (" or `, so that a password with spaces or quotes is hidden whole), and
// at white space otherwise. Its password runs from the first ':' to the
// last '@' (Go's net/url splits user information the same way), unless
// what comes between ':' and the first '/' is a port, which makes the '@'
// part of a path.
func redact(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "://")
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		start := i + len("://")
		scheme := i
		for scheme > 0 && isSchemeByte(rest[scheme-1]) {
			scheme--
		}
		var quote byte
		if scheme > 0 && (rest[scheme-1] == '"' || rest[scheme-1] == '`') {
			quote = rest[scheme-1]
		}
		end := urlEnd(rest, start, quote)
		b.WriteString(rest[:start])
		b.WriteString(redactAuthority(rest[start:end]))
		rest = rest[end:]
	}
}

// urlEnd returns the index in s where the URL whose authority starts at
// start ends: at the closing quote (one not escaped by a backslash, as
// strconv.Quote escapes) when the URL is quoted, else at white space or a
// quote.
func urlEnd(s string, start int, quote byte) int {
	for j := start; j < len(s); j++ {
		c := s[j]
		switch {
		case quote != 0:
			if c == quote && s[j-1] != '\\' {
				return j
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '`':
			return j
		}
	}
	return len(s)
}

// redactAuthority hides the password in u, the text after "scheme://".
func redactAuthority(u string) string {
	colon := strings.IndexByte(u, ':')
	at := strings.LastIndexByte(u, '@')
	if colon < 0 || at < colon {
		return u
	}
	slash := strings.IndexByte(u, '/')
	if slash >= 0 && slash < colon {
		return u // the ':' is in the path: no password
	}
	if slash >= 0 && slash < at && isPort(u[colon+1:slash]) {
		return u // host:port/path@...: the '@' is in the path
	}
	return u[:colon+1] + redactedPassword + u[at:]
}

func isPort(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isSchemeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}
