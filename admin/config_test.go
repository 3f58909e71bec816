package admin

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
	"github.com/holdfast-dev/holdfast/proxy"
)

// validateTable is the validation table; FuzzValidate starts from it.
var validateTable = []struct {
	listen, tokenFile string
	wantKey           string // "" for valid
}{
	{"", "", ""}, // the default, loopback
	{"127.0.0.1:9901", "", ""},
	{"127.0.0.1:0", "", ""},
	{"localhost:9901", "", ""},
	{"LOCALHOST:9901", "", ""},
	{"[::1]:9901", "", ""},
	{"127.10.0.1:9901", "", ""},
	{"0.0.0.0:9901", "", "listen"},
	{":9901", "", "listen"},
	{"[::]:9901", "", "listen"},
	{"10.0.0.5:9901", "", "listen"},
	{"admin.example:9901", "", "listen"},
	{"0.0.0.0:9901", "/etc/holdfast/token", ""},
	{"10.0.0.5:9901", "/etc/holdfast/token", ""},
	{"127.0.0.1", "", "listen"},
	{"not an address", "", "listen"},
	{"127.0.0.1:9901:1", "", "listen"},
}

func TestValidate(t *testing.T) {
	p := &proxy.Proxy{}
	for _, tt := range validateTable {
		err := Config{Admin: config.Admin{Listen: tt.listen, TokenFile: tt.tokenFile}, Proxy: p}.Validate()
		if tt.wantKey == "" {
			if err != nil {
				t.Errorf("Validate(listen %q, token_file %q): got %v; want nil", tt.listen, tt.tokenFile, err)
			}
			continue
		}
		var ce *holdfast.ConfigError
		if !errors.As(err, &ce) || ce.Policy != "admin" || ce.Key != tt.wantKey {
			t.Errorf("Validate(listen %q, token_file %q): got %v; want an admin.%s error", tt.listen, tt.tokenFile, err, tt.wantKey)
		}
	}
	var ce *holdfast.ConfigError
	if err := (Config{}).Validate(); !errors.As(err, &ce) || ce.Key != "proxy" {
		t.Errorf("Validate without a proxy: got %v; want an admin.proxy error", err)
	}
}

// FuzzValidate checks that Validate never panics, and never accepts an
// address that could bind beyond loopback without a token file.
func FuzzValidate(f *testing.F) {
	for _, tt := range validateTable {
		f.Add(tt.listen, tt.tokenFile)
	}
	p := &proxy.Proxy{}
	f.Fuzz(func(t *testing.T, listen, tokenFile string) {
		err := Config{Admin: config.Admin{Listen: listen, TokenFile: tokenFile}, Proxy: p}.Validate()
		if err != nil {
			var ce *holdfast.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Validate(%q, %q): got %T %v; want a *holdfast.ConfigError", listen, tokenFile, err, err)
			}
			return
		}
		if tokenFile != "" || listen == "" {
			return
		}
		host, _, splitErr := net.SplitHostPort(listen)
		if splitErr != nil {
			t.Fatalf("Validate accepted %q, which is not host:port", listen)
		}
		if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
			t.Fatalf("Validate accepted non-loopback %q without a token file", listen)
		}
	})
}
