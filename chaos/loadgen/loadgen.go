// Package loadgen is an open-loop, constant-rate HTTP load generator with its
// own latency histogram and a per-interval timeline. Requests start on
// schedule whether or not earlier ones have answered, so a slow server shows
// up as latency rather than as a lower offered rate (no coordinated
// omission). holdfast demo and holdfast drill drive their load with it.
package loadgen

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// Config describes one run.
type Config struct {
	// Rate is the offered load in requests per second. Required.
	Rate float64
	// Duration is how long requests keep starting. Required.
	Duration time.Duration
	// Timeout bounds each request. Default 5s.
	Timeout time.Duration
	// MaxInFlight caps outstanding requests; a request due while the cap is
	// reached is not sent and counts as dropped (and failed). Default 10000.
	MaxInFlight int
	// Interval is the width of a timeline point. Default 1s.
	Interval time.Duration
	// NewRequest builds each request; it is called from many goroutines at
	// once. Required.
	NewRequest func(ctx context.Context) (*http.Request, error)
	// Client sends the requests. Default: a client with keep-alive and
	// enough idle connections for the rate.
	Client *http.Client
	// IsSuccess decides whether an answer counts as a success. Default: no
	// error and a status below 400.
	IsSuccess func(resp *http.Response, err error) bool
	// OnDone, when set, is told about every request as it finishes, dropped
	// ones included, so a caller can watch the run live (holdfast drill's
	// abort conditions do). It is called from many goroutines at once, never
	// while the generator holds a lock, and should return quickly.
	OnDone func(Outcome)
}

// Outcome is one finished request, as reported to [Config].OnDone.
type Outcome struct {
	Due     time.Time     // when the schedule started the request
	Done    time.Time     // when its answer was read in full, it failed, or it was dropped
	Latency time.Duration // from sending to the end of the body; 0 when dropped or never built
	Status  int           // HTTP status; 0 for a transport error, a timeout or a dropped request
	Success bool          // as decided by IsSuccess; false when dropped
	Dropped bool          // never sent: MaxInFlight requests were outstanding
}

// Point is one interval of a run's timeline.
type Point struct {
	Offset    time.Duration // start of the interval, from the start of the run
	Sent      int
	Succeeded int
	Failed    int
	P50, P99  time.Duration // latency of the requests that started in the interval
}

// Result is what a run measured.
type Result struct {
	Sent, Succeeded, Failed, Dropped int
	Statuses                         map[int]int // by HTTP status; 0 is a transport error or timeout
	Latency                          Histogram   // every answered or timed-out request
	SuccessLatency                   Histogram   // the successful requests only
	Timeline                         []Point
	Start                            time.Time // when the first request was due; Point offsets count from it
	Elapsed                          time.Duration
}

// SuccessRate returns Succeeded/Sent, or 1 when nothing was sent.
func (r *Result) SuccessRate() float64 {
	if r.Sent == 0 {
		return 1
	}
	return float64(r.Succeeded) / float64(r.Sent)
}

// Run sends load until cfg.Duration has passed or ctx ends, waits for the
// requests in flight, and reports.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Rate <= 0 || cfg.Duration <= 0 || cfg.NewRequest == nil {
		return nil, errors.New("loadgen: Rate, Duration and NewRequest are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 10000
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.IsSuccess == nil {
		cfg.IsSuccess = func(resp *http.Response, err error) bool { return err == nil && resp.StatusCode < 400 }
	}
	client := cfg.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 1024
		tr.MaxIdleConns = 1024
		client = &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
	}

	// The timeline grows with the run instead of being sized from Duration,
	// so a long Duration cut short by ctx (an open-ended run, as holdfast
	// drill makes) costs only the intervals it used.
	agg := &aggregate{res: &Result{Statuses: map[int]int{}}}
	sem := make(chan struct{}, cfg.MaxInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	agg.res.Start = start
	period := time.Duration(float64(time.Second) / cfg.Rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
loop:
	for i := 0; ; i++ {
		due := time.Duration(i) * period
		if due >= cfg.Duration {
			break
		}
		if wait := time.Until(start.Add(due)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break loop
			}
		} else if ctx.Err() != nil {
			break
		}
		slot := int(due / cfg.Interval)
		select {
		case sem <- struct{}{}:
		default:
			agg.dropped(slot)
			if cfg.OnDone != nil {
				now := time.Now()
				cfg.OnDone(Outcome{Due: start.Add(due), Done: now, Dropped: true})
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Timeout)
			defer cancel()
			req, err := cfg.NewRequest(rctx)
			if err != nil {
				agg.record(slot, 0, 0, false)
				if cfg.OnDone != nil {
					cfg.OnDone(Outcome{Due: start.Add(due), Done: time.Now()})
				}
				return
			}
			began := time.Now()
			resp, err := client.Do(req)
			status := 0
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			ended := time.Now()
			ok := cfg.IsSuccess(resp, err)
			agg.record(slot, status, ended.Sub(began), ok)
			if cfg.OnDone != nil {
				cfg.OnDone(Outcome{Due: start.Add(due), Done: ended, Latency: ended.Sub(began), Status: status, Success: ok})
			}
		}()
	}
	wg.Wait()
	res := agg.res
	res.Elapsed = time.Since(start)
	for i := range agg.pts {
		p := &agg.pts[i]
		p.Offset = time.Duration(i) * cfg.Interval
		p.P50 = agg.hists[i].Quantile(0.5)
		p.P99 = agg.hists[i].Quantile(0.99)
		if p.Sent > 0 {
			res.Timeline = append(res.Timeline, *p)
		}
	}
	return res, nil
}

type aggregate struct {
	// mu guards res, hists and pts.
	mu    sync.Mutex
	res   *Result
	hists []Histogram
	pts   []Point
}

// growLocked makes room for slot in the timeline.
func (a *aggregate) growLocked(slot int) {
	for len(a.pts) <= slot {
		a.pts = append(a.pts, Point{})
		a.hists = append(a.hists, Histogram{})
	}
}

func (a *aggregate) record(slot, status int, took time.Duration, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.growLocked(slot)
	a.res.Sent++
	a.pts[slot].Sent++
	a.res.Statuses[status]++
	a.res.Latency.Record(took)
	a.hists[slot].Record(took)
	if ok {
		a.res.SuccessLatency.Record(took)
		a.res.Succeeded++
		a.pts[slot].Succeeded++
	} else {
		a.res.Failed++
		a.pts[slot].Failed++
	}
}

func (a *aggregate) dropped(slot int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.growLocked(slot)
	a.res.Sent++
	a.res.Dropped++
	a.res.Failed++
	a.pts[slot].Sent++
	a.pts[slot].Failed++
}
