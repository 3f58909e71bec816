package admin

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// aptMu serialises installs by the tests of this package.
var aptMu sync.Mutex

// requireTool returns the path of the program bin, installing the Debian
// package pkg with apt-get when it is missing. It fails the test, never
// skips it, when the program cannot be had: what the test checks must be
// checked. The Makefile's tools target installs the same packages ahead of
// time.
func requireTool(t *testing.T, bin, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	aptMu.Lock()
	defer aptMu.Unlock()
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil {
		t.Fatalf("%s is not installed and there is no apt-get to install package %s", bin, pkg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", pkg}} {
		cmd := exec.CommandContext(ctx, apt, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s is not installed, and apt-get %v failed: %v\n%s", bin, args, err, out)
		}
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("apt-get installed %s but %s is still not on PATH", pkg, bin)
	}
	return p
}
