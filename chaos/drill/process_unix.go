//go:build unix

package drill

import (
	"fmt"
	"os/exec"
	"syscall"
)

// setProcessGroup puts the process in a group of its own, so that a signal
// reaches what it started too (a shell's children).
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

var signalNumbers = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM,
	"INT":  syscall.SIGINT,
	"HUP":  syscall.SIGHUP,
	"QUIT": syscall.SIGQUIT,
	"KILL": syscall.SIGKILL,
}

// signalGroup sends the named signal to the process's group.
func signalGroup(cmd *exec.Cmd, name string) error {
	sig, ok := signalNumbers[name]
	if !ok {
		return fmt.Errorf("unknown signal %q", name)
	}
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil && err != syscall.ESRCH {
		return err
	}
	return nil
}
