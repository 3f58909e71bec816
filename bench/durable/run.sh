#!/usr/bin/env bash
# A durable route's accept against a raw JetStream publish (issue 11), side
# by side: ROUNDS runs of proxy.BenchmarkDurableAccept, each of which runs,
# in turn, a raw publish and a durable route's accept at c=1, then both at
# c=16 (each sub-benchmark on a fresh embedded store with sync on every
# write, N operations). Pairing each accept run with the raw run just before
# it keeps the ratio honest on a shared machine, where the disk's fsync
# latency moves from minute to minute.
#
#   raw-publish    c goroutines, each a jetstream Publish of a 512-byte
#                  payload to a work-queue stream, waiting for its ack
#   durable-route  c HTTP clients, each a POST of a 512-byte body to a
#                  durable route (upstream down) through the proxy's
#                  listener, waiting for its 202
#
# Target: accepts/s >= 0.5 x raw publishes/s at the same c.
#
# Usage: bash bench/durable/run.sh   (ROUNDS=5 N=2000)
# Prints one line per sub-benchmark with the load average before its round,
# then the per-round ratios and their medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5} N=${N:-2000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/proxy.test" ./proxy
for r in $(seq "$ROUNDS"); do
	load=$(cut -d' ' -f1 /proc/loadavg)
	(cd proxy && "$tmp/proxy.test" -test.run '^$' -test.bench '^BenchmarkDurableAccept$' -test.benchtime="${N}x") |
		awk -v r="$r" -v load="$load" '/^BenchmarkDurableAccept/ {
			split($1, n, "/"); sub(/-[0-9]+$/, "", n[3])
			for (i = 3; i < NF; i++) { if ($(i+1) == "ops/s") ops = $i; if ($(i+1) == "p50-µs") p50 = $i; if ($(i+1) == "p99-µs") p99 = $i }
			printf "%d %s %s %s %.0f %s %s\n", r, load, n[2], n[3], ops, p50, p99 }'
done | tee "$tmp/rows"
echo
echo "round load c raw/s accepts/s ratio raw-p50 accept-p50 raw-p99 accept-p99 (µs)"
awk '{ k = $1 " " $4; if ($3 == "raw-publish") { raw[k] = $5; rp50[k] = $6; rp99[k] = $7; load[k] = $2 } else { acc[k] = $5; ap50[k] = $6; ap99[k] = $7 } }
	END { for (k in raw) if (k in acc) printf "%s %s %s %s %.2f %s %s %s %s\n", k, load[k], raw[k], acc[k], acc[k] / raw[k], rp50[k], ap50[k], rp99[k], ap99[k] }' "$tmp/rows" |
	awk '{ print $1, $3, $2, $4, $5, $6, $7, $8, $9, $10 }' | sort -k3,3 -k1,1n | tee "$tmp/pairs"
echo
for c in $(awk '{ print $3 }' "$tmp/pairs" | sort -u); do
	awk -v c="$c" '$3 == c { print $6 }' "$tmp/pairs" | sort -n | awk -v c="$c" '{ v[NR] = $1 } END { printf "%s: median ratio %.2f over %d rounds (min %.2f, max %.2f)\n", c, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), NR, v[1], v[NR] }'
done
