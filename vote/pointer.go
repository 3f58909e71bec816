package vote

import (
	"errors"
	"strings"
)

// wildcard is the pointer token that matches any one member name or array
// index. RFC 6901 has no wildcards; see [JSONOptions] for what this means
// for a member literally named "*".
const wildcard = "*"

// ParsePointer splits an RFC 6901 JSON Pointer into its unescaped reference
// tokens, as [JSONOptions] reads its pointers: "" is the whole document,
// "/a~1b/0" is ["a/b", "0"]. A token "*" is returned as it is; whether it is
// a wildcard is the caller's to say. The proxy's response checks parse their
// pointers with it.
func ParsePointer(s string) ([]string, error) { return parsePointer(s) }

// parsePointer splits an RFC 6901 JSON Pointer into its unescaped reference
// tokens: "" is the whole document, "/a~1b/0" is ["a/b", "0"]. A "~" must be
// followed by "0" (for "~") or "1" (for "/").
func parsePointer(s string) ([]string, error) {
	if s == "" {
		return []string{}, nil
	}
	if s[0] != '/' {
		return nil, errors.New(`must be empty or start with "/"`)
	}
	raw := strings.Split(s[1:], "/")
	tokens := make([]string, len(raw))
	for i, r := range raw {
		t, err := unescapeToken(r)
		if err != nil {
			return nil, err
		}
		tokens[i] = t
	}
	return tokens, nil
}

// unescapeToken decodes one reference token. Scanning left to right decodes
// "~01" as "~1", which is the order RFC 6901 section 4 requires (~1 first,
// then ~0, never producing a new escape).
func unescapeToken(r string) (string, error) {
	if !strings.Contains(r, "~") {
		return r, nil
	}
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		if r[i] != '~' {
			b.WriteByte(r[i])
			continue
		}
		if i+1 == len(r) {
			return "", errors.New(`"~" must be followed by "0" or "1"`)
		}
		switch r[i+1] {
		case '0':
			b.WriteByte('~')
		case '1':
			b.WriteByte('/')
		default:
			return "", errors.New(`"~" must be followed by "0" or "1"`)
		}
		i++
	}
	return b.String(), nil
}
