package config

import (
	"testing"

	"github.com/holdfast-dev/holdfast/adaptive"
)

// priorityConfigs seed FuzzParsePriority: want is the route's priority, or
// err the error, key and line.
var priorityConfigs = []struct {
	name string
	src  string
	want adaptive.Priority
	err  string
}{
	{"absent", sloBase, "", ""},
	{"critical", sloBase + "    priority: critical\n", adaptive.PriorityCritical, ""},
	{"sheddable", sloBase + "    priority: sheddable\n", adaptive.PrioritySheddable, ""},
	{"default", sloBase + "    priority: default\n", adaptive.PriorityDefault, ""},
	{"unknown", sloBase + "    priority: low\n", "", `routes[0].priority (line 7): must be critical, default or sheddable, got "low"`},
	{"upper case", sloBase + "    priority: Critical\n", "", `routes[0].priority (line 7): must be critical, default or sheddable, got "Critical"`},
	{"a list", sloBase + "    priority: [critical]\n", "", "routes[0].priority (line 7): "},
}

func TestRoutePriority(t *testing.T) {
	for _, tt := range priorityConfigs {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.src))
			if tt.err != "" {
				checkErrors(t, err, []string{tt.err}, true)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Routes[0].Priority; got != tt.want {
				t.Errorf("priority: got %q; want %q", got, tt.want)
			}
		})
	}
}

func FuzzParsePriority(f *testing.F) {
	for _, tt := range priorityConfigs {
		f.Add(tt.src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Parse([]byte(src))
		if err == nil {
			for _, r := range c.Routes {
				if !r.Priority.Valid() {
					t.Errorf("accepted route %q with priority %q", r.Name, r.Priority)
				}
			}
		}
	})
}
