package proxy

import (
	"errors"
	"strings"
	"testing"
)

var idemKeyTests = []struct {
	field, want string
	err         error
}{
	{`"8e03978e-40d5-43e8-bc93-6894a57f9324"`, "8e03978e-40d5-43e8-bc93-6894a57f9324", nil},
	{`  "a b"  `, "a b", nil},
	{`"a\"b\\c"`, `a"b\c`, nil},
	{`"` + strings.Repeat("k", 255) + `"`, strings.Repeat("k", 255), nil},
	{`"` + strings.Repeat("k", 256) + `"`, "", errKeyTooLong},
	{`""`, "", errKeyEmpty},
	{`abc`, "", errKeyNotString},
	{`"abc`, "", errKeyNotString},
	{`"ab"c"`, "", errKeyNotString},
	{`"abc";p=1`, "", errKeyNotString},
	{`"a\nb"`, "", errKeyNotString},
	{`"a\x"`, "", errKeyNotString},
	{"\"a\x01b\"", "", errKeyNotString},
	{"\"caf\xc3\xa9\"", "", errKeyNotString},
	{`"`, "", errKeyNotString},
	{``, "", errKeyNotString},
	{`:aGVsbG8=:`, "", errKeyNotString},
}

func TestParseIdempotencyKey(t *testing.T) {
	for _, tt := range idemKeyTests {
		got, err := parseIdempotencyKey(tt.field)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("parseIdempotencyKey(%q) = %q, %v; want %q, %v", tt.field, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseIdempotencyKey(f *testing.F) {
	for _, tt := range idemKeyTests {
		f.Add(tt.field)
	}
	f.Fuzz(func(t *testing.T, field string) {
		key, err := parseIdempotencyKey(field)
		if err != nil {
			return
		}
		if key == "" || len(key) > maxIdempotencyKey {
			t.Fatalf("parseIdempotencyKey(%q) = %q; want 1 to 255 characters", field, key)
		}
		// What parses formats back to a field that parses to the same key.
		if again, err := parseIdempotencyKey(formatIdempotencyKey(key)); err != nil || again != key {
			t.Fatalf("round trip of %q: %q, %v", key, again, err)
		}
	})
}
