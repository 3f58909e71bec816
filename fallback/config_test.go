package fallback

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast"
)

var validateTests = []struct {
	name    string
	value   string
	hasFunc bool
	wantErr string
}{
	{name: "zero", wantErr: ""},
	{name: "value only", value: "x", wantErr: ""},
	{name: "func only", hasFunc: true, wantErr: ""},
	{name: "both", value: "x", hasFunc: true, wantErr: "fallback.value: set value or func, not both"},
}

func configFor(value string, hasFunc bool) Config[string] {
	c := Config[string]{Value: value}
	if hasFunc {
		c.Func = func(context.Context, error) (string, error) { return "", nil }
	}
	return c
}

func TestValidate(t *testing.T) {
	for _, tt := range validateTests {
		t.Run(tt.name, func(t *testing.T) {
			err := configFor(tt.value, tt.hasFunc).Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("Validate() = %q; want %q", got, tt.wantErr)
			}
			_, nerr := New(configFor(tt.value, tt.hasFunc))
			if (nerr == nil) != (tt.wantErr == "") {
				t.Errorf("New error = %v; want error %v", nerr, tt.wantErr != "")
			}
		})
	}
}

func FuzzValidate(f *testing.F) {
	for _, tt := range validateTests {
		f.Add(tt.value, tt.hasFunc)
	}
	f.Fuzz(func(t *testing.T, value string, hasFunc bool) {
		err := configFor(value, hasFunc).Validate()
		wantErr := value != "" && hasFunc
		if (err != nil) != wantErr {
			t.Fatalf("Validate(value=%q, func=%v) = %v; want error %v", value, hasFunc, err, wantErr)
		}
		if err == nil {
			if _, err := New(configFor(value, hasFunc)); err != nil {
				t.Fatalf("New after valid Validate: %v", err)
			}
			return
		}
		ce, ok := errors.AsType[*holdfast.ConfigError](err)
		if !ok || ce.Policy != "fallback" || !strings.HasPrefix(err.Error(), "fallback.") {
			t.Fatalf("Validate error %v (%T); want a *holdfast.ConfigError under fallback", err, err)
		}
	})
}
