// Package drill runs chaos experiments: it breaks things on purpose, under
// load, and checks that a steady-state hypothesis still holds. It is what
// `holdfast drill -f experiment.yaml` runs.
//
// # Model
//
// An [Experiment] follows Chaos Toolkit's model. The steady-state
// hypothesis is a list of probes, each with a tolerance: an HTTP request
// that must answer an expected status within a latency bound, a Prometheus
// metric read from a /metrics page that must lie in a range, or the success
// rate and latency of the drill's own load over a recent window. The method
// is a list of actions run in order, each holding for its duration: add,
// change or remove toxics and enable or disable proxies through a
// Toxiproxy-compatible chaos API (holdfast chaos, or Toxiproxy itself),
// kill or start a process the drill manages, send an HTTP request, wait.
// The rollbacks undo the method and always run: after the method, after an
// abort, and after an interrupt.
//
// A run goes: setup (start the processes, create the chaos proxies), start
// the constant-rate load ([loadgen], open loop, with its own latency
// histogram), warm up, check the hypothesis (if it does not hold the method
// does not run), run the method while the abort conditions are checked
// every second or so (the blast-radius stop: the first failing probe stops
// the method), check the hypothesis again, run the rollbacks, cool down,
// stop the load, tear down. Every step lands in a [Journal], shaped like
// Chaos Toolkit's (status completed, failed, aborted or interrupted;
// deviated; steady_states before, during and after; run; rollbacks), which
// [Journal.WriteJSON] writes and [Journal.WriteHTML] turns into a
// self-contained HTML report with inline SVG charts of the load's success
// rate and p50/p99 latency over time, every fault's span marked on them.
//
// [Journal.ExitCode] maps the status to holdfast drill's exit code: 0 when
// the hypothesis held, 1 when it did not, 2 when the run was aborted or
// interrupted (no verdict).
//
// # Example
//
//	e, err := drill.LoadFile("examples/drills/latency.yaml")
//	if err != nil {
//		log.Fatal(err) // config.Errors: every problem with its key and line
//	}
//	j, err := drill.Run(ctx, e, drill.Options{Out: os.Stdout})
//	if err != nil {
//		log.Fatal(err)
//	}
//	j.WriteJSON(journalFile)
//	j.WriteHTML(reportFile)
//	os.Exit(j.ExitCode())
//
// The experiment format is documented in docs/drill.md.
package drill
