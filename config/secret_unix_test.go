//go:build unix

package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestParseChecksTheTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("token", "  s3cret\n")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Open the pipe for writing too and fill it: reading it would not
	// block then, but would take a token the file never held.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString("from-a-pipe\n"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string // want "" means accepted
	}{
		{"regular file", good, ""},
		{"symbolic link to one", link, ""},
		{"exactly 4 KiB", write("4k", strings.Repeat("t", 4096)), ""},
		{"named pipe", fifo, `admin.token_file (line 1): cannot read: ` + fifo + ` is not a regular file (it is a named pipe)`},
		{"character device", "/dev/zero", `admin.token_file (line 1): cannot read: /dev/zero is not a regular file (it is a character device)`},
		{"directory", dir, `admin.token_file (line 1): cannot read: ` + dir + ` is not a regular file (it is a directory)`},
		{"over 4 KiB", write("5k", strings.Repeat("t", 4097)), `admin.token_file (line 1): cannot read: ` + filepath.Join(dir, "5k") + ` is 4097 bytes; a secret file may hold at most 4096`},
		{"white space only", write("blank", " \n\t"), `admin.token_file (line 1): cannot read: ` + filepath.Join(dir, "blank") + ` is empty`},
		{"missing", filepath.Join(dir, "none"), `admin.token_file (line 1): cannot read: stat ` + filepath.Join(dir, "none") + `: no such file or directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("admin: {token_file: '" + tt.path + "'}\n" + base))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Parse: %v; want no error", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("Parse: got %v; want %s", err, tt.want)
			}
		})
	}
}

func TestReadSecretFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("\t s3cret \r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSecretFile(p)
	if err != nil || got != "s3cret" {
		t.Errorf("ReadSecretFile = %q, %v; want \"s3cret\", nil", got, err)
	}
}
