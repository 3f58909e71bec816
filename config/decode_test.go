package config

import (
	"strings"
	"testing"
	"time"
)

type experiment struct {
	Title string        `yaml:"title"`
	Wait  time.Duration `yaml:"wait"`
	Steps []struct {
		URL string `yaml:"url"`
	} `yaml:"steps"`
}

func TestDecode(t *testing.T) {
	var e experiment
	lines, err := Decode([]byte("title: t\nwait: 2s\nsteps:\n  - url: http://x\n"), &e)
	if err != nil {
		t.Fatal(err)
	}
	if e.Title != "t" || e.Wait != 2*time.Second || len(e.Steps) != 1 || e.Steps[0].URL != "http://x" {
		t.Errorf("decoded %+v", e)
	}
	if got := lines.Line("steps[0].url"); got != 4 {
		t.Errorf("Line(steps[0].url) = %d; want 4", got)
	}
	if got := lines.Errorf("steps[0].url", "bad %s", "url").Error(); got != "steps[0].url (line 4): bad url" {
		t.Errorf("Errorf = %q", got)
	}

	_, err = Decode([]byte("title: t\nsteps:\n  - ulr: x\n"), &e)
	if err == nil || !strings.Contains(err.Error(), `steps[0].ulr (line 3): unknown key (did you mean "url"?)`) {
		t.Errorf("Decode error = %v; want the unknown key with its line", err)
	}
	if _, err := Decode([]byte("title: t"), e); err == nil {
		t.Error("Decode into a non-pointer succeeded")
	}
}
