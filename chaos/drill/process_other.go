//go:build !unix

package drill

import "os/exec"

func setProcessGroup(*exec.Cmd) {}

// signalGroup ends the process: without Unix signals, every signal kills.
func signalGroup(cmd *exec.Cmd, _ string) error { return cmd.Process.Kill() }
