// Command otlpsink is a real OTLP receiver for holdfast's tracing tests: the
// OpenTelemetry Collector's own OTLP receiver (otlpreceiver, HTTP only),
// whose every accepted batch of traces it writes to standard output as one
// line of OTLP JSON, as the Collector's file exporter writes them. Tests
// read those lines to find a request's trace. It lives in its own module so
// that the Collector's dependencies (gRPC among them) stay out of holdfast's
// go.mod; `make tools` builds it.
//
//	otlpsink -http 127.0.0.1:4318 > traces.jsonl
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
)

func main() {
	addr := flag.String("http", "127.0.0.1:4318", "OTLP/HTTP listen address")
	flag.Parse()

	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig()
	// The receiver's own config keys, as a Collector config file sets them.
	conf := confmap.NewFromStringMap(map[string]any{
		"protocols": map[string]any{"http": map[string]any{"endpoint": *addr}},
	})
	if err := conf.Unmarshal(cfg); err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	enc := &ptrace.JSONMarshaler{}
	sink, err := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		b, err := enc.MarshalTraces(td)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		_, err = os.Stdout.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	set := receiver.Settings{ID: component.MustNewID("otlp"), TelemetrySettings: componenttest.NewNopTelemetrySettings()}
	r, err := f.CreateTraces(context.Background(), set, cfg, sink)
	if err != nil {
		log.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		log.Fatal(err)
	}
	log.Printf("otlpsink: receiving OTLP/HTTP on %s", *addr)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	<-sigs
	r.Shutdown(context.Background())
}
