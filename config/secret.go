package config

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// MaxSecretFileBytes is the most a secret file, such as admin.token_file,
// may hold: 4 KiB, room for any bearer token.
const MaxSecretFileBytes = 4 << 10

// ReadSecretFile returns the secret in the file at path, such as the admin
// bearer token, without surrounding white space. The file must be a
// regular file (symbolic links are followed, as for a mounted Kubernetes
// secret) of at most [MaxSecretFileBytes] holding more than white space.
// Anything else is refused before a byte is read: reading a named pipe
// waits for a writer that may never come, and a device such as /dev/zero
// never ends. Every error names the file.
func ReadSecretFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if err := checkSecretFile(path, fi); err != nil {
		return "", err
	}
	// O_NONBLOCK keeps the open itself from waiting, should a named pipe
	// take the file's place after the Stat; the Stat of the open file then
	// refuses it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return "", err
	}
	if err := checkSecretFile(path, fi); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretFileBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > MaxSecretFileBytes {
		return "", fmt.Errorf("%s is larger than %d bytes, the most a secret file may hold", path, MaxSecretFileBytes)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return secret, nil
}

func checkSecretFile(path string, fi fs.FileInfo) error {
	m := fi.Mode()
	if !m.IsRegular() {
		return fmt.Errorf("%s is not a regular file (it is %s)", path, fileKind(m))
	}
	if fi.Size() > MaxSecretFileBytes {
		return fmt.Errorf("%s is %d bytes; a secret file may hold at most %d", path, fi.Size(), MaxSecretFileBytes)
	}
	return nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a file of mode " + m.String()
}
