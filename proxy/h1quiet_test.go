package proxy

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestQuietWatch follows the decision through busy and quiet spells with
// explicit times.
func TestQuietWatch(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	var q quietWatch
	steps := []struct {
		started uint64
		at      time.Duration
		want    bool
		why     string
	}{
		{0, 0, false, "the first sample: counting starts"},
		{0, time.Minute, false, "nothing served yet: nothing to release"},
		{100, 70 * time.Second, false, "requests"},
		{100, 70*time.Second + quietAfter, false, "quiet, but too few requests to be worth it"},
		{900, 71 * time.Second, false, "busy"},
		{900, 71*time.Second + quietAfter - time.Nanosecond, false, "quiet just short of quietAfter"},
		{900, 71*time.Second + quietAfter, true, "quiet for quietAfter after real work: release"},
		{900, 72*time.Second + quietAfter, false, "released for this spell"},
		{1500, 75 * time.Second, false, "busy again"},
		{1500, 75*time.Second + quietAfter, false, "quiet, but within releaseEvery of the last release"},
		{1500, 71*time.Second + quietAfter + releaseEvery - time.Nanosecond, false, "still within releaseEvery"},
		{1500, 71*time.Second + quietAfter + releaseEvery, true, "releaseEvery since the last: release"},
		{1500, 72*time.Second + quietAfter + releaseEvery, false, "released for this spell"},
		{1600, 200 * time.Second, false, "busy"},
		{1600, 200*time.Second + quietAfter, false, "quiet, but too few requests since the last release"},
		{2000, 300 * time.Second, false, "busy"},
		{2000, 300*time.Second + quietAfter, true, "quiet after enough work: release"},
	}
	for i, s := range steps {
		if got := q.tick(s.started, at(s.at)); got != s.want {
			t.Fatalf("step %d (%s): tick(%d, +%v) = %v; want %v", i, s.why, s.started, s.at, got, s.want)
		}
	}
}

// TestServerReleasesMemoryWhenQuiet: a serving server releases nothing
// before it has served, nothing while requests go on, memory once after they
// stop, and stops watching when it closes.
func TestServerReleasesMemoryWhenQuiet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newH1Server(nil, h1Limits{}, nil, nil)
		var released atomic.Int32
		s.release = func() { released.Add(1) }
		ln := newConnListener() // accepts nothing; serve just runs
		go s.serve(ln)
		synctest.Wait()
		time.Sleep(time.Minute)
		if released.Load() != 0 {
			t.Fatalf("released %d times before serving anything; want 0", released.Load())
		}
		// Busy for well over a minute: a request started every half second.
		for range 200 {
			s.started.Add(10)
			time.Sleep(quietTick / 2)
		}
		if released.Load() != 0 {
			t.Fatalf("released %d times while busy; want 0", released.Load())
		}
		time.Sleep(quietAfter + quietTick)
		if released.Load() != 1 {
			t.Fatalf("released %d times after going quiet; want 1", released.Load())
		}
		s.close()
		ln.Close()
		synctest.Wait() // watchQuiet has returned, or the bubble reports it
	})
}

// TestH1CountsRequestsStarted: what watchQuiet samples counts each request
// read, pipelined ones too.
func TestH1CountsRequestsStarted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newH1Server(http.HandlerFunc(h1Echo), h1Limits{}, nil, nil)
	s.release = func() {}
	done := make(chan error, 1)
	go func() { done <- s.serve(ln) }()
	defer func() { s.close(); ln.Close(); <-done }()
	c := h1Dial(t, ln.Addr().String())
	c.send("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n")
	c.read("GET")
	c.read("GET")
	c.send("GET /c HTTP/1.1\r\nHost: h\r\n\r\n")
	c.read("GET")
	if n := s.started.Load(); n != 3 {
		t.Fatalf("requests started = %d after three; want 3", n)
	}
}

func TestH2CCountsRequestsStarted(t *testing.T) {
	var only http.Protocols
	only.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(h1Echo)
	s := newH1Server(h, h1Limits{}, &http.Server{Handler: h, Protocols: &only}, nil)
	s.release = func() {}
	done := make(chan error, 1)
	go func() { done <- s.serve(ln) }()
	defer func() { s.close(); ln.Close(); <-done }()
	tr := &http.Transport{Protocols: &only}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: h1Wait}
	for _, path := range []string{"/a", "/b"} {
		resp, err := cl.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s answered over %s; want HTTP/2", path, resp.Proto)
		}
	}
	if n := s.started.Load(); n != 2 {
		t.Fatalf("requests started = %d after two over HTTP/2; want 2", n)
	}
}
