package vote

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast"
)

var validateTests = []struct {
	name    string
	cfg     Config[[]byte]
	wantErr string
}{
	{name: "zero is valid", cfg: Config[[]byte]{}},
	{name: "explicit", cfg: Config[[]byte]{Timeout: time.Second, Quorum: 2, Replicas: 3, WaitAll: true}},
	{name: "json", cfg: Config[[]byte]{JSON: &JSONOptions{Ignore: []string{"/ts"}, Unordered: []string{"/items"}}}},
	{name: "quorum without replicas", cfg: Config[[]byte]{Quorum: 5}},
	{name: "negative timeout", cfg: Config[[]byte]{Timeout: -time.Second}, wantErr: "vote.timeout: must not be negative, got -1s"},
	{name: "negative quorum", cfg: Config[[]byte]{Quorum: -1}, wantErr: "vote.quorum: must be in [0, 1000], got -1"},
	{name: "huge quorum", cfg: Config[[]byte]{Quorum: 1001}, wantErr: "vote.quorum: must be in [0, 1000], got 1001"},
	{name: "negative replicas", cfg: Config[[]byte]{Replicas: -3}, wantErr: "vote.replicas: must be in [1, 1000], got -3"},
	{name: "quorum above replicas", cfg: Config[[]byte]{Replicas: 3, Quorum: 4}, wantErr: "vote.quorum: must not exceed replicas=3, got 4"},
	{name: "json and compare", cfg: Config[[]byte]{JSON: &JSONOptions{}, Compare: func(a, b []byte) bool { return true }},
		wantErr: "vote.json: set json or compare, not both"},
	{name: "bad pointer", cfg: Config[[]byte]{JSON: &JSONOptions{Ignore: []string{"ts"}}},
		wantErr: `vote.json.ignore[0]: invalid JSON pointer "ts": must be empty or start with "/"`},
}

func TestValidate(t *testing.T) {
	for _, tt := range validateTests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := tt.cfg.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("Validate() = %q; want %q", got, tt.wantErr)
			}
			if _, err := New(tt.cfg); (err == nil) != (tt.wantErr == "") {
				t.Errorf("New error = %v; want error: %v", err, tt.wantErr != "")
			}
		})
	}
}

func TestNewPicksComparator(t *testing.T) {
	a, b := []byte(`{"x":1,"ts":1}`), []byte(`{"ts":2, "x":1}`)
	tests := []struct {
		name string
		cfg  Config[[]byte]
		want bool
	}{
		{"default deep equality", Config[[]byte]{}, false},
		{"json", Config[[]byte]{JSON: &JSONOptions{Ignore: []string{"/ts"}}}, true},
		{"compare", Config[[]byte]{Compare: func(a, b []byte) bool { return true }}, true},
	}
	for _, tt := range tests {
		if got := MustNew(tt.cfg).cmp(a, b); got != tt.want {
			t.Errorf("%s: cmp = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, tt := range validateTests {
		ignore := ""
		if tt.cfg.JSON != nil {
			ignore = strings.Join(tt.cfg.JSON.Ignore, ",")
		}
		f.Add(int64(tt.cfg.Timeout), tt.cfg.Quorum, tt.cfg.Replicas, tt.cfg.JSON != nil, ignore)
	}
	f.Fuzz(func(t *testing.T, timeout int64, quorum, replicas int, useJSON bool, ignore string) {
		c := Config[[]byte]{Timeout: time.Duration(timeout), Quorum: quorum, Replicas: replicas}
		if useJSON {
			c.JSON = &JSONOptions{Ignore: strings.Split(ignore, ",")}
		}
		err := c.Validate()
		v, nerr := New(c)
		if (err == nil) != (nerr == nil) {
			t.Fatalf("Validate = %v but New = %v", err, nerr)
		}
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "vote.") {
					t.Errorf("error line %q does not start with vote.", line)
				}
			}
			if _, ok := errors.AsType[*holdfast.ConfigError](err); !ok {
				t.Errorf("Validate error %v holds no *holdfast.ConfigError", err)
			}
			return
		}
		if v.s.timeout <= 0 || v.s.quorum < 0 || v.s.quorum > maxVoters || v.s.replicas < 1 || v.s.replicas > maxVoters || v.cmp == nil {
			t.Fatalf("accepted out-of-range config %+v", v.s)
		}
	})
}
