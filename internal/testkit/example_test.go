package testkit_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/holdfast-dev/holdfast/internal/testkit"
)

func Example() {
	b, err := testkit.NewBackend(testkit.Config{Name: "catalog-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	b.FailN(2, http.StatusServiceUnavailable)
	for range 3 {
		resp, err := client.Get(b.URL() + "/items")
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %s\n", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Println("requests:", b.Requests(), "behaviour:", b.Behavior())
	// Output:
	// 503 catalog-1: injected failure
	// 503 catalog-1: injected failure
	// 200 catalog-1
	// requests: 3 behaviour: fail_n(0 left, 503)
}
