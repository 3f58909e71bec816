package config

import (
	"net/url"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file hides secrets twice over: in error messages, which quote what
// the file said (redact), and in a config encoded for display
// (EncodeRedacted).

// redactedPassword replaces a URL's password in an error message, as in
// [url.URL.Redacted].
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

// Redacted replaces every secret value in a config that [EncodeRedacted]
// encodes, such as the admin API's GET /config. (An error message hides a
// URL password as [url.URL.Redacted] does, with "xxxxx", so that it reads
// as Go's own errors do.)
const Redacted = "[redacted]"

// sensitiveWords mark a header or key name whose value is a credential.
var sensitiveWords = []string{
	"auth", "cookie", "token", "secret", "password", "passwd", "api-key", "apikey", "api_key",
	"session", "credential", "signature", "private",
}

// isSensitive reports whether a header or config key named name holds a
// secret. The admin token's file path is shown on purpose: the path tells an
// operator where the token is, and the token itself is never in the config.
func isSensitive(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	if strings.HasSuffix(n, "_file") || strings.HasSuffix(n, "-file") {
		return false
	}
	for _, w := range sensitiveWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// EncodeRedacted encodes v, a [Config] or any part of one, as a YAML node
// tree with its secrets replaced by [Redacted], and zero, null, "" and []
// values left out (zero means "the default"; an empty mapping such as
// `circuit_breaker: {}` stays, since it turns a policy on):
//   - values of headers maps (fallback headers and any other) whose header
//     name is sensitive (Authorization, Cookie, X-Api-Key, ...);
//   - the exact and regex values of header match conditions on such headers;
//   - scalar keys whose own name is sensitive;
//   - passwords in URLs (user information).
func EncodeRedacted(v any) (*yaml.Node, error) {
	n, err := toNode(reflect.ValueOf(v), true)
	if err != nil {
		return nil, err
	}
	redactNode(n)
	return n, nil
}

func redactNode(n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			redactNode(c)
		}
	case yaml.MappingNode:
		redactMapping(n)
	case yaml.ScalarNode:
		redactURL(n)
	}
}

func redactMapping(n *yaml.Node) {
	// A header match condition: {name: Authorization, exact: "Bearer ..."}.
	headerCond := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && isSensitive(v.Value) {
			headerCond = true
		}
	}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isEmpty(v) {
			continue
		}
		switch {
		case k.Value == "headers" && v.Kind == yaml.MappingNode:
			for j := 0; j+1 < len(v.Content); j += 2 {
				if isSensitive(v.Content[j].Value) {
					setRedacted(v.Content[j+1])
				}
			}
			redactNode(v)
		case headerCond && (k.Value == "exact" || k.Value == "regex" || k.Value == "value"):
			setRedacted(v)
		case v.Kind == yaml.ScalarNode && (k.Value == "webhook" || strings.HasSuffix(k.Value, "_webhook")):
			redactWebhook(v)
		case v.Kind == yaml.ScalarNode && isSensitive(k.Value):
			setRedacted(v)
		default:
			redactNode(v)
		}
		kept = append(kept, k, v)
	}
	n.Content = kept
}

// isEmpty reports a value that says nothing: null, "" or []. An empty
// mapping says something: `circuit_breaker: {}` turns the breaker on with
// its defaults.
func isEmpty(v *yaml.Node) bool {
	switch v.Kind {
	case yaml.ScalarNode:
		return v.Tag == "!!null" || (v.Tag == "!!str" && v.Value == "")
	case yaml.SequenceNode:
		return len(v.Content) == 0
	}
	return false
}

func setRedacted(v *yaml.Node) {
	if v.Kind != yaml.ScalarNode {
		*v = yaml.Node{Kind: yaml.ScalarNode}
	}
	v.Tag, v.Value, v.Style = "!!str", Redacted, 0
}

// redactURL hides the password of a URL-looking scalar: the password of a
// URL that parses, all of a value that does not (where a password might
// be, the text-based [redact] of messages would have to guess).
func redactURL(n *yaml.Node) {
	if !strings.Contains(n.Value, "://") || !strings.Contains(n.Value, "@") {
		return
	}
	u, err := url.Parse(n.Value)
	if err != nil {
		// Unparsable but URL-like with user information: hide it all.
		n.Value = Redacted
		return
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Redacted)
			n.Value = u.String()
			// url.String escapes the brackets of [redacted]; keep them readable.
			n.Value = strings.Replace(n.Value, url.QueryEscape(Redacted), Redacted, 1)
		}
	}
}

// redactWebhook hides all of a webhook URL but its scheme and host, where
// such URLs keep their secret (Slack's and others' carry it in the path),
// and leaves a URL that still parses as one, so that the redacted config
// loads: "https://hooks.example.com/[redacted]".
func redactWebhook(v *yaml.Node) {
	u, err := url.Parse(v.Value)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		setRedacted(v)
		return
	}
	v.Tag, v.Value, v.Style = "!!str", u.Scheme+"://"+u.Host+"/"+Redacted, 0
}
