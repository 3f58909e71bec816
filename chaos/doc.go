// Package chaos is holdfast's chaos toolkit, which breaks things on purpose
// to prove the rest works. It holds three packages:
//
//   - [github.com/holdfast-dev/holdfast/chaos/toxic]: a TCP and HTTP
//     fault-injection proxy with a Toxiproxy-compatible API, served by
//     `holdfast chaos`;
//   - [github.com/holdfast-dev/holdfast/chaos/drill]: experiments that run a
//     fault against a steady-state hypothesis and report, `holdfast drill`;
//   - [github.com/holdfast-dev/holdfast/chaos/loadgen]: the open-loop load
//     generator drills and the gauntlet drive traffic with.
//
// The proxy (package proxy) never imports them; they are separate so that a
// newcomer finds the data plane in one directory and the chaos toolkit in
// another.
package chaos
