package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

type walkTarget struct {
	Name    string                `yaml:"name"`
	Timeout time.Duration         `yaml:"timeout"`
	Ratio   float64               `yaml:"ratio"`
	Count   int                   `yaml:"count"`
	On      bool                  `yaml:"on"`
	Tags    []string              `yaml:"tags"`
	Nested  *walkNested           `yaml:"nested"`
	Items   []walkNested          `yaml:"items"`
	Byname  map[string]walkNested `yaml:"byname"`
	Inline  `yaml:",inline"`
	Skipped func() `yaml:"-"`
}

type Inline struct {
	Extra string `yaml:"extra"`
}

type walkNested struct {
	Limit int `yaml:"limit"`
}

func walkErrors(t *testing.T, src string) []string {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	l := &errorList{}
	(&walker{errs: l}).walk("", &n, reflect.TypeFor[walkTarget]())
	var out []string
	for _, e := range l.errs {
		out = append(out, e.Error())
	}
	return out
}

func TestWalkerNamesKeyAndLine(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"valid", "name: a\ntimeout: 2s\nratio: 0.5\ncount: 3\non: true\ntags: [a, b]\nnested: {limit: 1}\nitems:\n  - limit: 2\nbyname:\n  x: {limit: 3}\nextra: yes-string\n", nil},
		{"unknown key", "name: a\ntimeuot: 2s\n", []string{`timeuot (line 2): unknown key (did you mean "timeout"?)`}},
		{"nested unknown", "items:\n  - limit: 2\n  - limt: 3\n", []string{`items[1].limt (line 3): unknown key (did you mean "limit"?)`}},
		{"map value unknown", "byname:\n  x:\n    nope: 1\n", []string{`byname.x.nope (line 3): unknown key`}},
		{"bad duration", "timeout: soon\n", []string{`timeout (line 1): must be a duration such as 250ms or 2s, got "soon"`}},
		{"integer duration", "timeout: 5\n", []string{`timeout (line 1): must be a duration with a unit, such as 5s or 5ms, got 5`}},
		{"negative duration", "timeout: -1s\n", []string{`timeout (line 1): must not be negative, got -1s`}},
		{"bad int", "count: many\n", []string{`count (line 1): must be a whole number, got "many"`}},
		{"bad float", "ratio: .nan\n", []string{`ratio (line 1): must be a number, got ".nan"`}},
		{"bad bool", "on: sometimes\n", []string{`on (line 1): must be true or false, got "sometimes"`}},
		{"list expected", "tags: a\n", []string{`tags (line 1): must be a list, got "a"`}},
		{"mapping expected", "nested: 3\n", []string{`nested (line 1): must be a mapping, got "3"`}},
		{"duplicate", "name: a\nname: b\n", []string{`name (line 2): duplicate key`}},
		{"skipped field is unknown", "skipped: 1\n", []string{`skipped (line 1): unknown key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := walkErrors(t, tt.src)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
