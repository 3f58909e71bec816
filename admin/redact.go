package admin

import (
	"net/url"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Redacted replaces every secret value in the config that GET /config shows.
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

// redactConfig encodes v (a config) as a YAML node tree with its secrets
// replaced by [Redacted], and zero, null, "" and [] values left out:
//   - values of headers maps (fallback headers and any other) whose header
//     name is sensitive (Authorization, Cookie, X-Api-Key, ...);
//   - the exact and regex values of header match conditions on such headers;
//   - scalar keys whose own name is sensitive;
//   - passwords in URLs (user information).
func redactConfig(v any) (*yaml.Node, error) {
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

// redactURL hides the password of a URL-looking scalar.
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
