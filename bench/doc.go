// Package bench holds side-by-side benchmarks of holdfast against peer
// libraries. It is its own module so that peers never enter holdfast's go.mod.
package bench
