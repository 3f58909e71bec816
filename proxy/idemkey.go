package proxy

import (
	"errors"
	"strings"
)

// HeaderIdempotencyKey is the request header of
// draft-ietf-httpapi-idempotency-key-header-09.
const HeaderIdempotencyKey = "Idempotency-Key"

// HeaderIdempotentReplayed marks a response replayed from the store.
const HeaderIdempotentReplayed = "Idempotent-Replayed"

// maxIdempotencyKey bounds a key's length, in characters of its value.
const maxIdempotencyKey = 255

var (
	errKeyNotString = errors.New("Idempotency-Key must be a quoted sf-string (RFC 8941 §3.3.3)")
	errKeyEmpty     = errors.New("Idempotency-Key must not be empty")
	errKeyTooLong   = errors.New("Idempotency-Key must be at most 255 characters")
)

// parseIdempotencyKey decodes an Idempotency-Key field value, which the
// draft (-09 §2.1) makes an Item Structured Header whose value is a
// String: DQUOTE, printable ASCII with \" and \\ escaped, DQUOTE. The
// key's value is at most 255 characters and not empty. Parameters are not
// accepted: the draft defines none, and a key that carried some would
// compare unequal to itself sent without them.
func parseIdempotencyKey(field string) (string, error) {
	s := strings.Trim(field, " \t")
	if len(s) < 2 || s[0] != '"' {
		return "", errKeyNotString
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
			if i >= len(s) || (s[i] != '"' && s[i] != '\\') {
				return "", errKeyNotString
			}
			b.WriteByte(s[i])
		case c == '"':
			if i != len(s)-1 {
				return "", errKeyNotString
			}
			if b.Len() == 0 {
				return "", errKeyEmpty
			}
			return b.String(), nil
		case c < 0x20 || c > 0x7e:
			return "", errKeyNotString
		default:
			b.WriteByte(c)
		}
		if b.Len() > maxIdempotencyKey {
			return "", errKeyTooLong
		}
	}
	return "", errKeyNotString // no closing quote
}

// formatIdempotencyKey encodes key as the sf-string parseIdempotencyKey
// reads.
func formatIdempotencyKey(key string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(key); i++ {
		if key[i] == '"' || key[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(key[i])
	}
	b.WriteByte('"')
	return b.String()
}
