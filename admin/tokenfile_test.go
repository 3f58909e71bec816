//go:build unix

package admin

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdfast-dev/holdfast"
	"github.com/holdfast-dev/holdfast/config"
)

// TestNewRefusesBadTokenFiles checks that New reads the token file as the
// config loader does, with config.ReadSecretFile, whose refusals (named
// pipes, devices, directories, larger files) config's tests go through:
// here, two that a plain read would let through as a token.
func TestNewRefusesBadTokenFiles(t *testing.T) {
	e := startEnv(t, envOptions{})
	tests := []struct{ name, path, want string }{
		{"over 4 KiB", writeFile(t, "big", strings.Repeat("t", 4097)), "is 4097 bytes; a secret file may hold at most 4096"},
		{"white space only", writeFile(t, "blank", " \n"), "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := New(Config{Admin: config.Admin{Listen: "127.0.0.1:0", TokenFile: tt.path}, Proxy: e.proxy})
			if err == nil {
				srv.Close()
				t.Fatal("New succeeded; want the token file refused")
			}
			var ce *holdfast.ConfigError
			if !errors.As(err, &ce) || ce.Policy != "admin" || ce.Key != "token_file" || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: got %v; want an admin.token_file error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewReadsATokenFileThroughALink(t *testing.T) {
	e := startEnv(t, envOptions{})
	link := filepath.Join(t.TempDir(), "token")
	if err := os.Symlink(writeFile(t, "real", " "+testToken+"\n"), link); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Admin: config.Admin{Listen: "127.0.0.1:0", TokenFile: link}, Proxy: e.proxy})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer srv.Close()
	if !srv.token.set || srv.token != newToken(testToken) {
		t.Errorf("token not read from the file behind the link")
	}
}
