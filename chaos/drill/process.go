package drill

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// proc is one of the experiment's processes: started, killed and started
// again by actions, stopped at the end. Its methods are safe for concurrent
// use.
type proc struct {
	spec *Process
	self string // the holdfast binary, for $HOLDFAST
	out  *tail  // the last output of every run, stdout and stderr mixed

	// mu guards cmd, done and exitErr.
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	exitErr error         // cmd's exit status, once done is closed
}

func newProc(spec *Process, self string) *proc {
	return &proc{spec: spec, self: self, out: &tail{max: 4096}}
}

// expand replaces $VAR and ${VAR} from the process's env, then the drill's
// environment; $HOLDFAST is the holdfast binary unless set.
func (p *proc) expand(s string) string { return expandVars(s, p.spec.Env, p.self) }

// started reports whether the process was ever started.
func (p *proc) started() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

func (p *proc) runningLocked() (int, bool) {
	if p.cmd == nil {
		return 0, false
	}
	select {
	case <-p.done:
		return 0, false
	default:
		return p.cmd.Process.Pid, true
	}
}

// start starts the process unless it runs, then waits until it is ready
// (or ctx ends, or it exits first). A process that never gets ready is
// killed.
func (p *proc) start(ctx context.Context) (any, error) {
	p.mu.Lock()
	if pid, ok := p.runningLocked(); ok {
		p.mu.Unlock()
		return map[string]any{"pid": pid, "note": "already running"}, nil
	}
	args := make([]string, len(p.spec.Command))
	for i, a := range p.spec.Command {
		args[i] = p.expand(a)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = p.spec.Dir
	cmd.Env = os.Environ()
	if os.Getenv("HOLDFAST") == "" && p.self != "" {
		cmd.Env = append(cmd.Env, "HOLDFAST="+p.self)
	}
	for k, v := range p.spec.Env {
		cmd.Env = append(cmd.Env, k+"="+p.expand(v))
	}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// Output pipes held open by a grandchild must not hold Wait forever.
	cmd.WaitDelay = 2 * time.Second
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("starting %s: %w", strings.Join(args, " "), err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.exitErr = cmd, done, nil
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(done)
	}()
	p.mu.Unlock()

	began := time.Now()
	out := map[string]any{"pid": cmd.Process.Pid, "command": args}
	if err := p.waitReady(ctx, done); err != nil {
		_ = signalGroup(cmd, "KILL")
		<-done
		return out, fmt.Errorf("%w; last output: %q", err, p.out.String())
	}
	if p.spec.Ready != nil {
		out["ready_after"] = time.Since(began).Seconds()
	}
	return out, nil
}

// waitReady polls the readiness check every 100ms.
func (p *proc) waitReady(ctx context.Context, done <-chan struct{}) error {
	r := p.spec.Ready
	if r == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if p.ready(ctx, client) {
			return nil
		}
		select {
		case <-done:
			p.mu.Lock()
			err := p.exitErr
			p.mu.Unlock()
			return fmt.Errorf("exited before it was ready (%v)", err)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s", r.Timeout)
		case <-tick.C:
		}
	}
}

func (p *proc) ready(ctx context.Context, client *http.Client) bool {
	r := p.spec.Ready
	if r.TCP != "" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", p.expand(r.TCP))
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.expand(r.URL), nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// kill sends sig to the process's group and waits until it has exited.
func (p *proc) kill(ctx context.Context, sig string) (any, error) {
	p.mu.Lock()
	pid, ok := p.runningLocked()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if !ok {
		return nil, errors.New("not running")
	}
	if err := signalGroup(cmd, sig); err != nil {
		return nil, err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return map[string]any{"pid": pid}, fmt.Errorf("still running after SIG%s", sig)
	}
	p.mu.Lock()
	err := p.exitErr
	p.mu.Unlock()
	out := map[string]any{"pid": pid, "signal": sig}
	if err != nil {
		out["exit"] = err.Error()
	}
	return out, nil
}

// stop ends the process at the end of the run: its stop signal, then KILL
// after its stop timeout. It reports how the process ended, and whether it
// had already exited on its own.
func (p *proc) stop() (any, error) {
	p.mu.Lock()
	pid, ok := p.runningLocked()
	cmd, done, exitErr := p.cmd, p.done, p.exitErr
	p.mu.Unlock()
	if cmd == nil {
		return map[string]any{"note": "never started"}, nil
	}
	if !ok {
		out := map[string]any{"note": "had already exited", "output": p.out.String()}
		if exitErr != nil {
			out["exit"] = exitErr.Error()
		}
		return out, nil
	}
	_ = signalGroup(cmd, p.spec.StopSignal)
	t := time.NewTimer(p.spec.StopTimeout)
	defer t.Stop()
	select {
	case <-done:
		return map[string]any{"pid": pid, "signal": p.spec.StopSignal}, nil
	case <-t.C:
	}
	_ = signalGroup(cmd, "KILL")
	<-done
	return map[string]any{"pid": pid, "signal": "KILL"},
		fmt.Errorf("still running %s after SIG%s; killed", p.spec.StopTimeout, p.spec.StopSignal)
}

// tail keeps the last max bytes written to it. It is safe for concurrent
// use.
type tail struct {
	max int

	// mu guards buf.
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
