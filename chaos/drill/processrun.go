package drill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ProcessRun is a program run to its end, as Chaos Toolkit's process
// provider runs one: a probe reads its exit status and output, an action
// waits for it.
type ProcessRun struct {
	// Path is the program, looked up in PATH when it has no slash. $VAR
	// and ${VAR} are expanded from Env and the environment; $HOLDFAST is
	// the running holdfast binary unless the environment sets it.
	// Required.
	Path string `yaml:"path" json:"path"`
	// Arguments follow the program, expanded as Path is. No shell runs
	// them (use path: sh, arguments: [-c, "..."] for one).
	Arguments []string `yaml:"arguments,omitempty" json:"arguments,omitempty"`
	// Dir is the working directory. Default: the experiment file's
	// directory.
	Dir string `yaml:"dir,omitempty" json:"dir,omitempty"`
	// Env adds environment variables to the drill's own.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Timeout bounds the run; a program still running then is killed and
	// the activity fails. Default: 5s in a probe; in an action, the
	// action's timeout.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// AnyExitStatus, in an action, counts every exit status as success,
	// as Chaos Toolkit's process actions do. Default false: an exit
	// status other than 0 fails the action. A probe judges the status by
	// its tolerance instead.
	AnyExitStatus bool `yaml:"any_exit_status,omitempty" json:"any_exit_status,omitempty"`
}

// maxProcessOutput bounds the stdout and the stderr a run keeps, each.
const maxProcessOutput = 64 << 10

// runProcess runs p until it exits or its timeout, and returns Chaos
// Toolkit's output of a process activity: {status, stdout, stderr}. The
// error is for a program that could not start or ran too long.
func (r *runner) runProcess(ctx context.Context, p *ProcessRun) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	expand := func(s string) string { return expandVars(s, p.Env, r.opts.Self) }
	args := make([]string, len(p.Arguments))
	for i, a := range p.Arguments {
		args[i] = expand(a)
	}
	cmd := exec.CommandContext(ctx, expand(p.Path), args...)
	cmd.Dir = p.Dir
	cmd.Env = os.Environ()
	if os.Getenv("HOLDFAST") == "" && r.opts.Self != "" {
		cmd.Env = append(cmd.Env, "HOLDFAST="+r.opts.Self)
	}
	for k, v := range p.Env {
		cmd.Env = append(cmd.Env, k+"="+expand(v))
	}
	stdout, stderr := &tail{max: maxProcessOutput}, &tail{max: maxProcessOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Output pipes held open by a grandchild must not hold Wait forever.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	out := map[string]any{"status": cmd.ProcessState.ExitCode(), "stdout": stdout.raw(), "stderr": stderr.raw()}
	if cmd.ProcessState == nil {
		out["status"] = nil
	}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.Canceled):
		return out, fmt.Errorf("%s did not finish within %s", strings.Join(cmd.Args, " "), p.Timeout)
	case ctx.Err() != nil:
		return out, fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), ctx.Err())
	case errors.As(err, &exit):
		return out, nil // the exit status is the output's to judge
	case err != nil:
		return out, err
	}
	return out, nil
}

// raw is everything kept, as written.
func (t *tail) raw() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.Clone(t.buf))
}

// expandVars replaces $VAR and ${VAR} from env, then the drill's
// environment; $HOLDFAST is the holdfast binary (self) unless set.
func expandVars(s string, env map[string]string, self string) string {
	return os.Expand(s, func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		if v, ok := os.LookupEnv(k); ok {
			return v
		}
		if k == "HOLDFAST" {
			return self
		}
		return ""
	})
}
