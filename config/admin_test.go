package config

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast"
)

var loopbackTests = []struct {
	addr string
	want bool
}{
	{"127.0.0.1:9901", true},
	{"127.10.0.1:9901", true},
	{"[::1]:9901", true},
	{"localhost:9901", true},
	{"LOCALHOST:9901", true}, // host names are case-insensitive
	{"LocalHost:0", true},
	{"localhost", true},
	{"127.0.0.1", true},
	{"::1", true},
	{"[::1]", true},
	{"0.0.0.0:9901", false},
	{":9901", false},
	{"[::]:9901", false},
	{"10.0.0.5:9901", false},
	{"admin.example:9901", false},
	{"localhost.example:9901", false},
	{"admin.localhost:9901", false}, // a name, resolved who knows how
	{"", false},
	{"not an address", false},
}

func TestIsLoopback(t *testing.T) {
	for _, tt := range loopbackTests {
		if got := IsLoopback(tt.addr); got != tt.want {
			t.Errorf("IsLoopback(%q) = %v; want %v", tt.addr, got, tt.want)
		}
	}
}

// FuzzIsLoopback checks that IsLoopback never calls an address loopback
// whose host is not "localhost" or a loopback IP.
func FuzzIsLoopback(f *testing.F) {
	for _, tt := range loopbackTests {
		f.Add(tt.addr)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		if !IsLoopback(addr) {
			return
		}
		host := addr
		if h, _, err := net.SplitHostPort(addr); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
			t.Fatalf("IsLoopback(%q) = true; its host %q is neither localhost nor a loopback IP", addr, host)
		}
	})
}

func TestAdminValidate(t *testing.T) {
	tests := []struct {
		a    Admin
		want string // "" for valid
	}{
		{Admin{}, ""},
		{Admin{Listen: "LOCALHOST:9901"}, ""},
		{Admin{Listen: "0.0.0.0:9901", TokenFile: "/etc/holdfast/token"}, ""},
		{Admin{Listen: "0.0.0.0:9901"}, `admin.listen: "0.0.0.0:9901" is not a loopback address; set admin.token_file to expose the admin API`},
		{Admin{Listen: "127.0.0.1"}, `admin.listen: must be host:port, got "127.0.0.1"`},
	}
	for _, tt := range tests {
		err := tt.a.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%+v.Validate() = %v; want nil", tt.a, err)
			}
			continue
		}
		var ce *holdfast.ConfigError
		if !errors.As(err, &ce) || err.Error() != tt.want {
			t.Errorf("%+v.Validate() = %v; want %s", tt.a, err, tt.want)
		}
	}
}

// TestParseAdminListenIsCaseInsensitive: the config loader refused
// admin.listen LOCALHOST:9901 without a token file, which the admin server
// itself accepted; both now ask IsLoopback.
func TestParseAdminListenIsCaseInsensitive(t *testing.T) {
	if _, err := Parse([]byte("admin: {listen: 'LOCALHOST:9901'}\n" + base)); err != nil {
		t.Errorf("Parse: %v; want LOCALHOST:9901 accepted as loopback", err)
	}
}
