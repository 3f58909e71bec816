module github.com/holdfast-dev/holdfast/bench/proxy/profile

go 1.26.0

replace github.com/holdfast-dev/holdfast => ../../..

require github.com/holdfast-dev/holdfast v0.0.0-00010101000000-000000000000

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.opentelemetry.io/otel v1.47.0 // indirect
	go.opentelemetry.io/otel/trace v1.47.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
)
