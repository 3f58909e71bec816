// Command load offers HTTP GETs at a fixed rate, open loop (a request is
// sent on schedule whether or not earlier ones have answered, as real
// clients do, so a slow proxy shows in latency instead of hiding in a lower
// rate), and prints the latency distribution of the answers: the load
// generator of bench/globalrate/run.sh.
//
// Each request's latency is measured from its scheduled send time, so a
// generator that falls behind counts its own delay against the target
// rather than omitting it (no coordinated omission).
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "URL to GET")
	rate := flag.Int("rate", 2000, "requests per second")
	dur := flag.Duration("d", 10*time.Second, "how long to offer load")
	warm := flag.Duration("warmup", 2*time.Second, "load before measuring, not counted")
	conns := flag.Int("conns", 64, "keep-alive connections at most")
	header := flag.String("H", "X-User-Id: u1", "one request header, Name: value")
	flag.Parse()
	if *url == "" || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "usage: load -url URL [-rate 2000] [-d 10s]")
		os.Exit(2)
	}
	name, value, _ := strings.Cut(*header, ":")
	value = strings.TrimSpace(value)
	tr := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	var (
		mu        sync.Mutex
		lat       []time.Duration
		codes     = map[int]int{}
		errs      int
		wg        sync.WaitGroup
		interval  = time.Second / time.Duration(*rate)
		start     = time.Now()
		measureAt = start.Add(*warm)
		end       = measureAt.Add(*dur)
	)
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if !at.Before(end) {
			break
		}
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(at time.Time) {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, *url, nil)
			if name != "" {
				req.Header.Set(name, value)
			}
			resp, err := client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			took := time.Since(at)
			if at.Before(measureAt) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs++
				return
			}
			codes[resp.StatusCode]++
			lat = append(lat, took)
		}(at)
	}
	wg.Wait()
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("requests %d errors %d codes %v rate %.0f/s p50 %v p90 %v p99 %v p99.9 %v max %v\n",
		len(lat), errs, codes, float64(len(lat))/dur.Seconds(),
		q(0.50).Round(time.Microsecond), q(0.90).Round(time.Microsecond), q(0.99).Round(time.Microsecond),
		q(0.999).Round(time.Microsecond), q(1).Round(time.Microsecond))
}
