#!/usr/bin/env bash
# What a global rate limit (scope: global, kept in Redis) adds to a request
# against a local one, side by side in one run (issue 14): one `holdfast
# serve` with two routes that differ only in the limit's scope, both far
# above the load so every request is admitted and the figure is the cost of
# the decision; a real redis-server on loopback; bench/globalrate/load
# offering RATE req/s open loop to each route in turn, ROUNDS rounds, the
# order rotating between rounds.
#
#   local    rate_limit {requests_per_second: 1e6, burst: 1e6, key: header:X-User-Id}
#   global   the same with scope: global (one EVALSHA round trip per request)
#
# Target: global p99 <= local p99 + 1 ms at 2,000 req/s.
#
# Usage: bash bench/globalrate/run.sh   (RATE=2000 DURATION=10s WARMUP=2s ROUNDS=3)
# Writes bench/results/globalrate.md and prints it. Needs redis-server
# (`make tools` installs it). Everything is on 127.0.0.1 and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE=${RATE:-2000} DURATION=${DURATION:-10s} WARMUP=${WARMUP:-2s} ROUNDS=${ROUNDS:-3}
command -v redis-server >/dev/null || { echo "redis-server missing: run make tools" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/holdfast" ./cmd/holdfast
(cd bench && go build -o "$tmp/backend" ./backend && go build -o "$tmp/load" ./globalrate/load)

redis-server --port 19379 --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
pids+=($!)
"$tmp/backend" -addr 127.0.0.1:19380 >"$tmp/backend.log" 2>&1 &
pids+=($!)
cat >"$tmp/hf.yaml" <<YAML
listen: 127.0.0.1:19381
admin: {listen: 127.0.0.1:19382}
redis: {address: 127.0.0.1:19379, timeout: 5ms}
upstreams:
  app: {endpoints: [{address: http://127.0.0.1:19380}]}
routes:
  - name: local
    match: {path_prefix: /local}
    upstream: app
    rate_limit: {requests_per_second: 1000000, burst: 1000000, key: header:X-User-Id}
  - name: global
    match: {path_prefix: /global}
    upstream: app
    rate_limit: {requests_per_second: 1000000, burst: 1000000, key: header:X-User-Id, scope: global}
YAML
GOMAXPROCS=1 "$tmp/holdfast" serve -c "$tmp/hf.yaml" >"$tmp/hf.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -fs http://127.0.0.1:19382/readyz >/dev/null 2>&1 && break; sleep 0.1; done

out=bench/results/globalrate.md
mkdir -p bench/results
{
  echo "# Global vs local rate limit, $(date -u +%F) on $(nproc) cores"
  echo
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); RATE=$RATE DURATION=$DURATION ROUNDS=$ROUNDS; holdfast GOMAXPROCS=1"
  echo
} >"$out"
targets=(local global)
for r in $(seq "$ROUNDS"); do
  for i in "${!targets[@]}"; do
    t=${targets[$(( (i + r) % ${#targets[@]} ))]}
    line=$("$tmp/load" -url "http://127.0.0.1:19381/$t/items" -rate "$RATE" -d "$DURATION" -warmup "$WARMUP")
    echo "round $r $t: $line" | tee -a "$tmp/raw"
  done
done
{
  echo '| scope | round | requests | non-200 | p50 | p90 | p99 | p99.9 |'
  echo '|---|---:|---:|---:|---:|---:|---:|---:|'
  awk '{ for (i = 1; i <= NF; i++) v[$i] = $(i+1);
         codes = $0; sub(/.*codes map\[/, "", codes); sub(/\].*/, "", codes);
         non200 = 0; n = split(codes, kv, " "); for (k = 1; k <= n; k++) { split(kv[k], p, ":"); if (p[1] != "200") non200 += p[2] }
         non200 += v["errors"];
         sub(":", "", $3);
         printf "| %s | %s | %s | %d | %s | %s | %s | %s |\n", $3, $2, v["requests"], non200, v["p50"], v["p90"], v["p99"], v["p99.9"] }' "$tmp/raw" | sort -t'|' -k2,2 -k3,3n
  echo
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "route global's redis state at the end (errors: decisions past redis.timeout or failed, each then decided locally): $(curl -fs http://127.0.0.1:19382/status | python3 -c 'import json,sys; print([r.get("rate_limit_redis") for r in json.load(sys.stdin)["routes"] if r["name"] == "global"][0])')"
  echo
  echo "redis: $(redis-cli -p 19379 info commandstats 2>/dev/null | grep -E 'cmdstat_(evalsha|eval):' | tr -d '\r' | tr '\n' ' ')"
} >>"$out"
cat "$out"
