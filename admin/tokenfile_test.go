//go:build unix

package admin

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/holdfast-dev/holdfast"
)

// TestNewRefusesBadTokenFiles checks that New reads the token file as the
// config loader does (config.ReadSecretFile): only a regular file of at
// most 4 KiB, refused before reading otherwise, so that /dev/zero cannot
// fill memory and a named pipe cannot hang startup.
func TestNewRefusesBadTokenFiles(t *testing.T) {
	e := startEnv(t, envOptions{})
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// With a writer that has written, reading the pipe would not block
	// but would take a token no file holds.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString(testToken + "\n"); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path, want string }{
		{"named pipe", fifo, fifo + " is not a regular file (it is a named pipe)"},
		{"character device", "/dev/zero", "/dev/zero is not a regular file (it is a character device)"},
		{"directory", dir, dir + " is not a regular file (it is a directory)"},
		{"over 4 KiB", writeFile(t, "big", strings.Repeat("t", 4097)), "is 4097 bytes; a secret file may hold at most 4096"},
		{"white space only", writeFile(t, "blank", " \n"), "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := New(Config{Listen: "127.0.0.1:0", TokenFile: tt.path, Proxy: e.proxy})
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
	srv, err := New(Config{Listen: "127.0.0.1:0", TokenFile: link, Proxy: e.proxy})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer srv.Close()
	if !srv.token.set || srv.token != newToken(testToken) {
		t.Errorf("token not read from the file behind the link")
	}
}
