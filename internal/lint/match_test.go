package lint

import (
	"slices"
	"testing"

	"github.com/holdfast-dev/holdfast/config"
)

func TestLintMatchOverlapAndCover(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name         string
		outer, inner config.Match
		overlap      bool // some request may match both
		covers       bool // inner takes every request outer takes
	}{
		{"both take everything", config.Match{}, config.Match{}, true, true},
		{"inner narrower", config.Match{}, config.Match{PathPrefix: "/a"}, true, false},
		{"inner wider prefix", config.Match{PathPrefix: "/a/b"}, config.Match{PathPrefix: "/a"}, true, true},
		{"plain string prefixes", config.Match{PathPrefix: "/apix"}, config.Match{PathPrefix: "/api"}, true, true},
		{"disjoint prefixes", config.Match{PathPrefix: "/a"}, config.Match{PathPrefix: "/b"}, false, false},
		{"exact under prefix", config.Match{Path: "/a/x"}, config.Match{PathPrefix: "/a"}, true, true},
		{"exact outside prefix", config.Match{Path: "/b"}, config.Match{PathPrefix: "/a"}, false, false},
		{"prefix over exact", config.Match{PathPrefix: "/a"}, config.Match{Path: "/a/x"}, true, false},
		{"exact and exact", config.Match{Path: "/a"}, config.Match{Path: "/a"}, true, true},
		{"two exact paths", config.Match{Path: "/a"}, config.Match{Path: "/b"}, false, false},
		{"exact and regex", config.Match{Path: "/v1/x"}, config.Match{PathRegex: "/v[0-9]+/.*"}, true, true},
		{"exact outside regex", config.Match{Path: "/x/v1"}, config.Match{PathRegex: "/v[0-9]+/.*"}, false, false},
		{"regex is anchored", config.Match{Path: "/a/v1/x"}, config.Match{PathRegex: "/v1/.*"}, false, false},
		{"prefix and regex may overlap", config.Match{PathPrefix: "/x"}, config.Match{PathRegex: "/v1/.*"}, true, false},
		{"methods meet", config.Match{Methods: []string{"GET", "PUT"}}, config.Match{Methods: []string{"put"}}, true, false},
		{"methods within", config.Match{Methods: []string{"get"}}, config.Match{Methods: []string{"GET", "HEAD"}}, true, true},
		{"methods apart", config.Match{Methods: []string{"GET"}}, config.Match{Methods: []string{"POST"}}, false, false},
		{"any method against some", config.Match{}, config.Match{Methods: []string{"GET"}}, true, false},
		{"header absent and present", config.Match{Headers: []config.HeaderMatch{{Name: "x-a", Present: &no}}},
			config.Match{Headers: []config.HeaderMatch{{Name: "X-A", Exact: "1"}}}, false, false},
		{"header values may both be there", config.Match{Headers: []config.HeaderMatch{{Name: "X-A", Exact: "1"}}},
			config.Match{Headers: []config.HeaderMatch{{Name: "X-A", Exact: "2"}}}, true, false},
		{"header present twice", config.Match{Headers: []config.HeaderMatch{{Name: "X-A", Present: &yes}}},
			config.Match{Headers: []config.HeaderMatch{{Name: "X-A", Present: &yes}}}, true, false},
	}
	var m matcher
	for _, tt := range tests {
		if got := m.mayOverlap(tt.outer, tt.inner); got != tt.overlap {
			t.Errorf("%s: mayOverlap = %v; want %v", tt.name, got, tt.overlap)
		}
		if got := m.mayOverlap(tt.inner, tt.outer); got != tt.overlap {
			t.Errorf("%s: mayOverlap reversed = %v; want %v", tt.name, got, tt.overlap)
		}
		if got := m.covers(tt.inner, tt.outer); got != tt.covers {
			t.Errorf("%s: covers = %v; want %v", tt.name, got, tt.covers)
		}
	}
}

func TestLintCompatibleStopsAtACoveringRoute(t *testing.T) {
	routes := []*config.Route{
		{Match: config.Match{Methods: []string{"POST"}}},
		nil,
		{Match: config.Match{PathPrefix: "/a/b"}},
		{Match: config.Match{PathPrefix: "/a"}},
		{Match: config.Match{}},
	}
	var m matcher
	got := m.compatible(config.Match{PathPrefix: "/a", Methods: []string{"GET"}}, routes)
	if want := []int{2, 3}; !slices.Equal(got, want) {
		t.Errorf("compatible = %v; want %v", got, want)
	}
}
