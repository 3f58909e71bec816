// Command idleconns holds idle keep-alive client connections open on a
// proxy, so that the proxy benchmark (bench/proxy/run.sh, issue 15) can read
// what each one costs the proxy in resident memory:
//
//	idleconns -addr 127.0.0.1:19081 -n 5000
//
// It dials -n connections to -addr, -dial at a time, sends one
// `GET <path> HTTP/1.1` on each and reads its whole response, then prints
// "ready N" and leaves them all open and idle. When a line "check" arrives
// on standard input, or standard input closes, it sends a second request on
// every connection, prints "alive M", M being the connections that answered
// 200, and exits. The check is there because a proxy that closed idle
// connections during the hold would look cheap.
//
// A connection that fails to set up fails the run (exit status 1, the first
// error on standard error): a figure over fewer connections than asked for
// would be reported as the wrong one.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:19081", "proxy address, host:port")
	n := flag.Int("n", 5000, "connections to hold")
	path := flag.String("path", "/", "path requested on each connection")
	dial := flag.Int("dial", 64, "connections set up (and checked) at a time")
	timeout := flag.Duration("timeout", 10*time.Second, "deadline of each dial and each request")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("idleconns: ")
	if *n < 1 || *dial < 1 {
		log.Fatalf("-n and -dial must be at least 1, got %d and %d", *n, *dial)
	}
	req := []byte("GET " + *path + " HTTP/1.1\r\nHost: x\r\n\r\n")

	conns := make([]*conn, *n)
	failed, first := each(*n, *dial, func(i int) error {
		nc, err := net.DialTimeout("tcp", *addr, *timeout)
		if err != nil {
			return err
		}
		conns[i] = &conn{nc: nc, br: bufio.NewReader(nc)}
		resp, err := conns[i].get(req, *timeout)
		switch {
		case err != nil:
			return err
		case resp.StatusCode != http.StatusOK:
			return fmt.Errorf("first request answered %s", resp.Status)
		case resp.Close:
			return fmt.Errorf("first request answered with Connection: close")
		}
		return nil
	})
	if failed > 0 {
		log.Fatalf("%d of %d connections to %s failed to set up; first: %v", failed, *n, *addr, first)
	}
	fmt.Printf("ready %d\n", *n)

	waitCheck(os.Stdin)
	failed, first = each(*n, *dial, func(i int) error {
		resp, err := conns[i].get(req, *timeout)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("second request answered %s", resp.Status)
		}
		return nil
	})
	if failed > 0 {
		log.Printf("%d of %d connections were not alive after the hold; first: %v", failed, *n, first)
	}
	fmt.Printf("alive %d\n", *n-failed)
}

// conn is one client connection with the reader its responses are parsed
// from; the reader outlives each response, as keep-alive needs.
type conn struct {
	nc net.Conn
	br *bufio.Reader
}

// get sends req and reads the whole response, so that the connection is
// ready for the next request. The returned response's body is already
// drained and closed.
func (c *conn) get(req []byte, timeout time.Duration) (*http.Response, error) {
	if err := c.nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	if _, err := c.nc.Write(req); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, nil) // nil: the response to a GET
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return nil, err
	}
	return resp, nil
}

// each calls f(0) to f(n-1), at most par at a time, and returns how many
// calls failed and the first error seen.
func each(n, par int, f func(i int) error) (failed int, first error) {
	var (
		wg  sync.WaitGroup
		sem = make(chan struct{}, par)
		// mu guards failed, first
		mu sync.Mutex
	)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				failed++
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed, first
}

// waitCheck returns when r gives a line "check" or ends.
func waitCheck(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if sc.Text() == "check" {
			return
		}
		log.Printf("ignoring %q on standard input; want check", sc.Text())
	}
}
