//go:build unix

package bench

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"math/bits"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/holdfast-dev/holdfast/bench/nethttp"
	"github.com/holdfast-dev/holdfast/upstream"
)

// BenchmarkUpstreamTransport compares holdfast's own HTTP/1.1 upstream
// client ([upstream.NewTransport]) with the tuned net/http Transport of
// [nethttp.Transport] (the one the hf-nethttp target of bench/proxy/run.sh
// swaps in), both with holdfast's default pool settings, on GET round trips
// to the same loopback backend with 32 requests in flight, as wrk -c32 puts
// on the proxy in bench/proxy/run.sh:
//
//	cd bench && go test -run '^$' -bench UpstreamTransport -count 5 .
//
// Besides time and allocations per round trip it reports p99-us, the 99th
// percentile of one round trip's latency (head sent to body read and
// closed; with 32 in flight on few cores it is mostly queueing), and
// cpu-us/op, the process's user+system CPU time per round trip. The backend
// runs in a child process (this test binary again, see [TestMain]), so
// allocations and CPU time are the client's alone.
func BenchmarkUpstreamTransport(b *testing.B) {
	url := "http://" + startBackend(b) + "/"
	own, err := upstream.NewTransport(upstream.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(own.Close)
	tuned := nethttp.Transport(upstream.Config{})
	b.Cleanup(tuned.CloseIdleConnections)
	// The transports outlive each b.Run's repeated calls, so that after the
	// first one their pools are warm.
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{{"holdfast", own}, {"nethttp", tuned}} {
		b.Run(bc.name, func(b *testing.B) { benchRoundTrips(b, bc.rt, url) })
	}
}

// inFlight is the number of round trips BenchmarkUpstreamTransport keeps
// going at once.
const inFlight = 32

// benchRoundTrips runs b.N GET round trips to url through rt, inFlight at a
// time, and reports their p99 latency and the CPU time per round trip.
func benchRoundTrips(b *testing.B, rt http.RoundTripper, url string) {
	procs := runtime.GOMAXPROCS(0)
	par := (inFlight + procs - 1) / procs
	// RunParallel starts par*GOMAXPROCS goroutines; each takes a histogram
	// allocated here, outside the measured allocations.
	hists := make([]latencies, par*procs)
	var next atomic.Int64
	b.SetParallelism(par)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1) - 1)
		if i >= len(hists) {
			b.Errorf("goroutine %d of RunParallel; want at most %d", i+1, len(hists))
			return
		}
		h := &hists[i]
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			b.Error(err)
			return
		}
		// Both clients send the same head: net/http would add its own
		// User-Agent to a request without one.
		req.Header.Set("User-Agent", "bench")
		for pb.Next() {
			start := time.Now()
			resp, err := rt.RoundTrip(req)
			if err != nil {
				b.Error(err)
				return
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || n != int64(len(backendBody)) {
				b.Errorf("got status %d, %d body bytes, error %v; want 200, %d bytes, no error",
					resp.StatusCode, n, err, len(backendBody))
				return
			}
			h.add(time.Since(start))
		}
	})
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	var all latencies
	for i := range hists {
		all.merge(&hists[i])
	}
	b.ReportMetric(float64(all.quantile(0.99))/1e3, "p99-us")
	b.ReportMetric(float64(cpu)/1e3/float64(b.N), "cpu-us/op")
}

// cpuTime returns the user+system CPU time this process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// latencies is a histogram of durations in buckets 1/64 of a power of two
// wide: durations below 64ns have a bucket each; above, bucket
// shift*64+mantissa holds the durations whose top 7 bits are mantissa
// (64..127) followed by shift bits. A quantile read from it is within 1% of
// the true one. The zero value is empty; it is not safe for concurrent use.
type latencies struct {
	n      uint64
	counts [57*64 + 128]uint64 // up to bucket 57*64+127, for 1<<63-1
}

func (l *latencies) add(d time.Duration) {
	l.n++
	l.counts[latencyBucket(d)]++
}

func (l *latencies) merge(o *latencies) {
	l.n += o.n
	for i, c := range o.counts {
		l.counts[i] += c
	}
}

// quantile returns the middle of the bucket that holds the q-quantile, or
// 0 for an empty histogram.
func (l *latencies) quantile(q float64) time.Duration {
	if l.n == 0 {
		return 0
	}
	rank := uint64(q * float64(l.n))
	if rank >= l.n {
		rank = l.n - 1
	}
	var seen uint64
	for i, c := range l.counts {
		seen += c
		if c > 0 && seen > rank {
			lo, hi := latencyBucketRange(i)
			return lo + (hi-lo)/2
		}
	}
	return 0
}

func latencyBucket(d time.Duration) int {
	ns := uint64(max(d, 0))
	if ns < 64 {
		return int(ns)
	}
	shift := bits.Len64(ns) - 7
	return shift*64 + int(ns>>shift)
}

// latencyBucketRange returns the durations bucket i holds, [lo, hi).
func latencyBucketRange(i int) (lo, hi time.Duration) {
	if i < 64 {
		return time.Duration(i), time.Duration(i + 1)
	}
	shift, mantissa := i/64-1, uint64(i%64+64)
	return time.Duration(mantissa << shift), time.Duration((mantissa + 1) << shift)
}

// backendEnv, set in the environment of this test binary, makes it the
// backend of BenchmarkUpstreamTransport instead of running tests.
const backendEnv = "HOLDFAST_BENCH_BACKEND"

// backendBody is what the backend answers, as bench/backend does.
var backendBody = []byte(`{"ok":true,"pad":"0123456789012345678901234567890123456789ab"}` + "\n")

// TestMain runs the tests, or, with backendEnv set, serves as the backend.
func TestMain(m *testing.M) {
	if os.Getenv(backendEnv) == "1" {
		serveBackend()
	}
	os.Exit(m.Run())
}

// serveBackend answers every request as bench/backend does, on a loopback
// port it prints on stdout, until its stdin closes (the benchmark ended or
// died). It never returns.
func serveBackend() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	length := strconv.Itoa(len(backendBody))
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h["Content-Type"] = []string{"application/json"}
			h["Content-Length"] = []string{length}
			w.Write(backendBody)
		}),
	}
	log.Fatal(srv.Serve(ln))
}

// startBackend starts the backend in a child process and returns its
// address; the child ends when the benchmark's cleanup closes its stdin.
func startBackend(b *testing.B) string {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), backendEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("backend: reading its address: %v", err)
	}
	addr := line[:len(line)-1]
	if _, _, err := net.SplitHostPort(addr); err != nil {
		b.Fatalf("backend printed %q; want host:port", line)
	}
	return addr
}

func TestLatencyBuckets(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 63, 64, 65, 127, 128, 129, 255, 256, 1000, 12345, time.Millisecond, 3*time.Second + 7, 1<<63 - 1} {
		i := latencyBucket(d)
		lo, hi := latencyBucketRange(i)
		if d < lo || (d >= hi && hi > 0) {
			t.Errorf("latencyBucket(%d) = %d, which holds [%d, %d); want a bucket holding %d", d, i, lo, hi, d)
		}
		if width := hi - lo; hi > 0 && width > max(1, lo/64) {
			t.Errorf("bucket %d of %d is [%d, %d), %d wide; want at most %d", i, d, lo, hi, width, max(1, lo/64))
		}
	}
}

func TestLatencyQuantile(t *testing.T) {
	for _, tc := range []struct {
		name string
		ds   []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.99, 0},
		{"one", []time.Duration{10}, 0.99, 10},
		{"p50 of 1..100", seq(1, 100), 0.5, 51},
		{"p99 of 1..100", seq(1, 100), 0.99, 100},
		{"p99 of 1..1000", seq(1, 1000), 0.99, 988}, // 991, in bucket [984, 992)
	} {
		var l latencies
		for _, d := range tc.ds {
			l.add(d)
		}
		if got := l.quantile(tc.q); got != tc.want {
			t.Errorf("%s: quantile(%v) = %d; want %d", tc.name, tc.q, got, tc.want)
		}
	}
}

func seq(from, to time.Duration) []time.Duration {
	var ds []time.Duration
	for d := from; d <= to; d++ {
		ds = append(ds, d)
	}
	return ds
}
