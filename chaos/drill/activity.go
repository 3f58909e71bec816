package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/holdfast-dev/holdfast/config"
)

// now is the current time as the journal holds it.
func now() Time { return at(time.Now()) }

// finish sets the run's end, duration and outcome.
func finish(run *ActivityRun, out any, err error) {
	run.End = now()
	run.Duration = run.End.Sub(run.Start.Time).Seconds()
	run.Output = out
	if err != nil {
		run.Status = "failed"
		run.Exception = Exception{err.Error()}
		return
	}
	run.Status = "succeeded"
}

// probe runs one probe and judges its reading.
func (r *runner) probe(ctx context.Context, p *Probe) *ActivityRun {
	run := &ActivityRun{Activity: r.probeForm(p), Start: now()}
	var v verdict
	var err error
	switch {
	case p.HTTP != nil:
		v, err = r.httpProbe(ctx, p.HTTP, p.Tolerance)
	case p.Process != nil:
		var out map[string]any
		out, err = r.runProcess(ctx, p.Process)
		if err != nil {
			v = verdict{detail: err.Error(), output: out}
		} else {
			v = judgeProcess(p.Tolerance, out)
		}
	case p.Metric != nil:
		var samples []Sample
		if samples, err = r.scrape(ctx, p.Metric); err != nil {
			v = verdict{detail: err.Error()}
		} else {
			v = judgeMetric(p.Metric, samples)
		}
	case p.SLO != nil:
		var samples []Sample
		if samples, err = r.scrape(ctx, p.SLO.metricProbe()); err != nil {
			v = verdict{detail: err.Error()}
		} else {
			v = judgeSLO(p.SLO, samples)
		}
	case p.Load != nil:
		v = judgeLoad(p.Load, r.win.stats(time.Now(), p.Load.Window))
	}
	finish(run, v.output, err)
	met := v.met && err == nil
	run.ToleranceMet = &met
	run.Detail = v.detail
	return run
}

// maxProbeBody bounds the body an http probe with a tolerance keeps to
// judge; the rest is read and dropped.
const maxProbeBody = 1 << 20

func (r *runner) httpProbe(ctx context.Context, h *HTTPProbe, tol *Tolerance) (verdict, error) {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	req, err := newRequest(ctx, h.Method, h.URL, h.Body, h.Headers)
	if err != nil {
		return verdict{detail: err.Error()}, err
	}
	start := time.Now()
	resp, err := r.client.Do(req)
	var out map[string]any
	if err == nil {
		if tol != nil {
			var body []byte
			body, err = io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
			out = httpOutput(resp, body)
		}
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
		}
		resp.Body.Close()
	}
	took := time.Since(start)
	if err != nil {
		return judgeHTTP(h, tol, 0, took, out, err), err
	}
	return judgeHTTP(h, tol, resp.StatusCode, took, out, nil), nil
}

// httpOutput is an answer as Chaos Toolkit's http provider returns it:
// its status, its headers (the first value of each), and its body,
// decoded when the answer says it is JSON.
func httpOutput(resp *http.Response, body []byte) map[string]any {
	headers := map[string]any{}
	for k, v := range resp.Header {
		headers[k] = strings.Join(v, ", ")
	}
	var decoded any = string(body)
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && mt == "application/json" {
		var v any
		if json.Unmarshal(body, &v) == nil {
			decoded = v
		}
	}
	return map[string]any{"status": resp.StatusCode, "headers": headers, "body": decoded}
}

// scrape reads the samples of m's page.
func (r *runner) scrape(ctx context.Context, m *MetricProbe) ([]Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	req, err := newRequest(ctx, http.MethodGet, m.URL, "", m.Headers)
	if err != nil {
		return nil, err
	}
	// Ask for the text format: a Prometheus client would otherwise
	// answer protobuf or OpenMetrics to a client that says it takes them.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", m.URL, resp.Status)
	}
	if err != nil {
		return nil, err
	}
	return ParseMetrics(page)
}

func newRequest(ctx context.Context, method, url, body string, headers map[string]string) (*http.Request, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "holdfast-drill")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return req, nil
}

// act runs one action of the method or of the rollbacks (where says which)
// and records the fault it injects or removes.
func (r *runner) act(ctx context.Context, a *Action, where string) *ActivityRun {
	run := &ActivityRun{Activity: r.actionForm(a), Start: now()}
	out, err := r.do(ctx, a)
	finish(run, out, err)
	if err != nil {
		r.logf("%s: action %q FAILED: %v", where, a.Name, err)
	} else {
		r.logf("%s: action %q done", where, a.Name)
		r.trackFault(a, run.End.Time)
	}
	return run
}

// do carries out an action. Calls are bounded by the action's timeout but
// not cut by ctx: a fault half-applied when the run is interrupted would
// leave the journal unsure of what is in place. Waits and readiness checks
// do end with ctx.
func (r *runner) do(ctx context.Context, a *Action) (any, error) {
	call, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.Timeout)
	defer cancel()
	if c, ok := a.chaosCall(); ok {
		out, err := r.chaos.send(call, c)
		if a.RemoveToxic != nil && isNotFound(err) {
			return map[string]any{"note": "nothing to remove: " + err.(*ChaosAPIError).Message}, nil
		}
		return out, err
	}
	switch {
	case a.KillProcess != nil:
		return r.procs[a.KillProcess.Process].kill(call, a.KillProcess.Signal)
	case a.StartProcess != nil:
		return r.procs[a.StartProcess.Process].start(ctx)
	case a.HTTP != nil:
		return r.httpAction(call, a.HTTP)
	case a.Process != nil:
		out, err := r.runProcess(context.WithoutCancel(ctx), a.Process)
		if err == nil && !a.Process.AnyExitStatus && out["status"] != 0 {
			err = fmt.Errorf("%s exited with status %v; stderr: %q", a.target(), out["status"], out["stderr"])
		}
		return out, err
	case a.Wait > 0:
		r.logf("waiting %s", a.Wait)
		if !sleep(ctx, a.Wait) {
			return map[string]any{"note": "cut short"}, nil
		}
		return nil, nil
	}
	return nil, errors.New("the action has nothing to do")
}

func (r *runner) httpAction(ctx context.Context, h *HTTPAction) (any, error) {
	req, err := newRequest(ctx, h.Method, h.URL, h.Body, h.Headers)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	out := map[string]any{"status": resp.StatusCode, "body": string(body)}
	if !h.Status.Match(resp.StatusCode) {
		return out, fmt.Errorf("%s %s: status %d, want %s", h.Method, h.URL, resp.StatusCode, strings.Join(h.Status, " or "))
	}
	return out, nil
}

// faultKey names what an action injects (opens) or removes.
func faultKey(a *Action) (key string, opens bool) {
	switch {
	case a.AddToxic != nil:
		return "toxic:" + a.AddToxic.Proxy + "/" + a.AddToxic.toxicName(), true
	case a.RemoveToxic != nil:
		return "toxic:" + a.RemoveToxic.Proxy + "/" + a.RemoveToxic.Name, false
	case a.DisableProxy != nil:
		return "proxy:" + a.DisableProxy.Proxy, true
	case a.EnableProxy != nil:
		return "proxy:" + a.EnableProxy.Proxy, false
	case a.KillProcess != nil:
		return "process:" + a.KillProcess.Process, true
	case a.StartProcess != nil:
		return "process:" + a.StartProcess.Process, false
	}
	return "", false
}

// trackFault opens or closes the fault span of a successful action at t.
func (r *runner) trackFault(a *Action, t time.Time) {
	key, opens := faultKey(a)
	if key == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if opens {
		if _, ok := r.open[key]; ok {
			return // already in place: the first injection's span goes on
		}
		r.j.Faults = append(r.j.Faults, Fault{Name: a.Name, Kind: a.kind(), Target: a.target(), Start: at(t)})
		r.open[key] = len(r.j.Faults) - 1
		return
	}
	r.closeFaultLocked(key, a.Name, t)
}

func (r *runner) closeFaultLocked(key, by string, t time.Time) {
	if i, ok := r.open[key]; ok {
		r.j.Faults[i].End = at(t)
		r.j.Faults[i].EndedBy = by
		delete(r.open, key)
	}
}

// setupStep runs one step of the setup or teardown and records it.
func (r *runner) setupStep(list *[]*ActivityRun, kind, name string, f func() (any, error)) error {
	run := &ActivityRun{Activity: map[string]any{"type": kind, "name": name}, Start: now()}
	out, err := f()
	finish(run, out, err)
	r.mu.Lock()
	*list = append(*list, run)
	r.mu.Unlock()
	if err != nil {
		r.logf("%s: %s FAILED: %v", kind, name, err)
	} else {
		r.logf("%s: %s", kind, name)
	}
	return err
}

// setup reads the chaos token, starts the processes and creates the chaos
// proxies. It reports whether everything is in place.
func (r *runner) setup(ctx context.Context) bool {
	ok := true
	r.phase("setup", func() {
		if f := r.e.Chaos.TokenFile; f != "" {
			err := r.setupStep(&r.j.Setup, "setup", "read chaos token "+f, func() (any, error) {
				token, err := config.ReadSecretFile(f)
				r.chaos.token = token
				return nil, err
			})
			if err != nil {
				r.fail("setup: " + err.Error())
				ok = false
				return
			}
		}
		for _, p := range r.e.Processes {
			if p.Manual {
				continue
			}
			err := r.setupStep(&r.j.Setup, "setup", "start process "+p.Name, func() (any, error) {
				return r.procs[p.Name].start(ctx)
			})
			if ctx.Err() != nil {
				ok = false
				return
			}
			if err != nil {
				r.fail(fmt.Sprintf("setup: starting process %q: %v", p.Name, err))
				ok = false
				return
			}
		}
		if ps := r.e.Chaos.Proxies; len(ps) > 0 {
			r.populated = true
			err := r.setupStep(&r.j.Setup, "setup", "create chaos proxies", func() (any, error) {
				call, cancel := context.WithTimeout(ctx, r.e.Chaos.Timeout)
				defer cancel()
				return r.chaos.populate(call, ps)
			})
			if ctx.Err() != nil {
				ok = false
				return
			}
			if err != nil {
				r.fail("setup: creating chaos proxies: " + err.Error())
				ok = false
			}
		}
	})
	return ok
}

// rollbacks runs every rollback, whatever happened before; a failed one
// does not stop the others.
func (r *runner) rollbacks(ctx context.Context) {
	if len(r.e.Rollbacks) == 0 {
		return
	}
	r.phase("rollbacks", func() {
		for _, a := range r.e.Rollbacks {
			run := r.act(ctx, a, "rollback")
			r.mu.Lock()
			r.j.Rollbacks = append(r.j.Rollbacks, run)
			r.mu.Unlock()
		}
	})
}

// teardown deletes the chaos proxies the run created and stops its
// processes, last started first.
func (r *runner) teardown(ctx context.Context) {
	r.phase("teardown", func() {
		ps := r.e.Chaos.Proxies
		if r.populated {
			for i := len(ps) - 1; i >= 0; i-- {
				name := ps[i].Name
				err := r.setupStep(&r.j.Teardown, "teardown", "delete chaos proxy "+name, func() (any, error) {
					call, cancel := context.WithTimeout(ctx, r.e.Chaos.Timeout)
					defer cancel()
					err := r.chaos.deleteProxy(call, name)
					if isNotFound(err) {
						return map[string]any{"note": "already gone"}, nil
					}
					return nil, err
				})
				if err == nil {
					// Deleting the proxy removed its toxics and its
					// listener: every fault on it ends here.
					r.mu.Lock()
					for key := range r.open {
						if key == "proxy:"+name || strings.HasPrefix(key, "toxic:"+name+"/") {
							r.closeFaultLocked(key, "teardown", time.Now())
						}
					}
					r.mu.Unlock()
				}
			}
		}
		for i := len(r.e.Processes) - 1; i >= 0; i-- {
			p := r.procs[r.e.Processes[i].Name]
			if !p.started() {
				continue
			}
			r.setupStep(&r.j.Teardown, "teardown", "stop process "+p.spec.Name, p.stop)
		}
	})
}
