package toxic_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/holdfast-dev/holdfast/chaos/toxic"
)

func Example() {
	// An upstream that echoes.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()

	s := toxic.MustNewServer(toxic.Config{})
	defer s.Close()
	p, _ := s.CreateProxy(toxic.ProxySpec{Name: "echo", Upstream: ln.Addr().String(), Enabled: true})

	// Drive it as a Toxiproxy client would.
	api := httptest.NewServer(s)
	defer api.Close()
	resp, _ := http.Post(api.URL+"/proxies/echo/toxics", "application/json",
		strings.NewReader(`{"type":"latency","attributes":{"latency":20}}`))
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.StatusCode, " ", string(body))

	resp, _ = http.Post(api.URL+"/proxies/echo/toxics", "application/json",
		strings.NewReader(`{"type":"latency","name":"bad","attributes":{"latency":-1}}`))
	body, _ = io.ReadAll(resp.Body)
	fmt.Print(resp.StatusCode, " ", string(body))

	// The toxic applies to connections through the proxy.
	c, _ := net.Dial("tcp", p.Listen)
	defer c.Close()
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	io.ReadFull(c, buf)
	fmt.Println(string(buf))

	_, err := s.AddToxic("nope", toxic.ToxicSpec{Type: "latency", Toxicity: 1})
	fmt.Println(errors.Is(err, toxic.ErrProxyNotFound), err)
	// Output:
	// 200 {"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":20,"jitter":0}}
	// 400 {"error":"attributes.latency: must be in [0, 86400000], got -1","status":400}
	// hello
	// true toxic: proxy not found
}
