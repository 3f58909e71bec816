#!/usr/bin/env bash
# Compares `holdfast chaos` with no toxics against Toxiproxy, side by side in
# one run: wrk drives a small Go HTTP backend on loopback directly (the
# baseline), through holdfast chaos, and through toxiproxy-server, each as a
# plain TCP proxy. Two phases per target:
#   throughput  wrk -c$CONNS: requests/s at saturation (and its p99, which on
#               a small machine mostly measures queueing);
#   latency     wrk -c$LAT_CONNS: p99 of an unsaturated closed loop, and the
#               p99 each proxy adds over the direct baseline.
#
# Targets: holdfast throughput >= Toxiproxy's; added p99 <= 100 µs.
#
# Usage: bench/chaos/run.sh            (DURATION=10s CONNS=32 THREADS=2)
# Everything runs on 127.0.0.1; every process it starts is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
LAT_CONNS=${LAT_CONNS:-1}
ROUNDS=${ROUNDS:-3} # targets alternate within a round; the median round counts
TOXIPROXY_VERSION=${TOXIPROXY_VERSION:-latest}

root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
	echo "installing wrk" >&2
	if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
	else sudo apt-get install -y wrk >/dev/null; fi
fi
need curl || { echo "curl is required" >&2; exit 1; }

echo "building holdfast, the backend and toxiproxy-server ($TOXIPROXY_VERSION) into $work" >&2
(cd "$root" && go build -o "$work/holdfast" ./cmd/holdfast)
(cd "$root/bench" && go build -o "$work/backend" ./backend)
# The server's package moved between releases (cmd/server up to 2.5,
# cmd/toxiproxy-server later); take whichever the version has.
mkdir -p "$work/tp"
GOBIN="$work/tp" go install "github.com/Shopify/toxiproxy/v2/cmd/toxiproxy-server@$TOXIPROXY_VERSION" 2>/dev/null ||
	GOBIN="$work/tp" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" >&2
mv "$work/tp/"* "$work/toxiproxy-server"

BACKEND=127.0.0.1:18080
HF_API=127.0.0.1:18474 HF_PROXY=127.0.0.1:18081
TP_API=127.0.0.1:18475 TP_PROXY=127.0.0.1:18082

wait_http() { # url
	for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "no answer from $1" >&2; return 1
}

"$work/backend" -addr "$BACKEND" & pids+=($!)
"$work/holdfast" chaos -host 127.0.0.1 -port "${HF_API##*:}" >"$work/holdfast.log" 2>&1 & pids+=($!)
"$work/toxiproxy-server" -host 127.0.0.1 -port "${TP_API##*:}" >"$work/toxiproxy.log" 2>&1 & pids+=($!)
wait_http "http://$BACKEND/"
wait_http "http://$HF_API/version"
wait_http "http://$TP_API/version"

for api in "$HF_API $HF_PROXY" "$TP_API $TP_PROXY"; do
	set -- $api
	curl -fsS -o /dev/null -X POST "http://$1/proxies" -H 'Content-Type: application/json' \
		-d "{\"name\":\"bench\",\"listen\":\"$2\",\"upstream\":\"$BACKEND\",\"enabled\":true}"
done
wait_http "http://$HF_PROXY/"
wait_http "http://$TP_PROXY/"

# run NAME TARGET THREADS CONNS: prints "NAME req/s p99_us"
run() {
	local out rps p99
	out=$(wrk -t"$3" -c"$4" -d"$DURATION" --latency "http://$2/")
	echo "$out" >>"$work/wrk-$1-c$4.txt"
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	echo "$1 $rps $(to_us "$p99")"
}
to_us() { # wrk prints 1.23ms, 456.78us or 1.20s
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n
	}'
}

echo "warming up" >&2
wrk -t1 -c4 -d2s "http://$HF_PROXY/" >/dev/null
wrk -t1 -c4 -d2s "http://$TP_PROXY/" >/dev/null

# median FILE COLUMN: the median of a column of numbers
median() { sort -g -k"$2" "$1" | awk -v c="$2" '{v[NR] = $c} END {print v[int((NR + 1) / 2)]}'; }

for r in $(seq 1 "$ROUNDS"); do
	echo "round $r/$ROUNDS: throughput (-t$THREADS -c$CONNS), then latency (-t1 -c$LAT_CONNS), $DURATION each" >&2
	run direct "$BACKEND" "$THREADS" "$CONNS" >>"$work/sat-direct"
	run holdfast "$HF_PROXY" "$THREADS" "$CONNS" >>"$work/sat-holdfast"
	run toxiproxy "$TP_PROXY" "$THREADS" "$CONNS" >>"$work/sat-toxiproxy"
	run direct "$BACKEND" 1 "$LAT_CONNS" >>"$work/lat-direct"
	run holdfast "$HF_PROXY" 1 "$LAT_CONNS" >>"$work/lat-holdfast"
	run toxiproxy "$TP_PROXY" 1 "$LAT_CONNS" >>"$work/lat-toxiproxy"
done
for t in direct holdfast toxiproxy; do
	echo "$t rounds (name req/s p99µs): saturated $(tr '\n' ' ' <"$work/sat-$t")| unsaturated $(tr '\n' ' ' <"$work/lat-$t")" >&2
done
b_rps=$(median "$work/sat-direct" 2) b_sp99=$(median "$work/sat-direct" 3)
h_rps=$(median "$work/sat-holdfast" 2) h_sp99=$(median "$work/sat-holdfast" 3)
t_rps=$(median "$work/sat-toxiproxy" 2) t_sp99=$(median "$work/sat-toxiproxy" 3)
b_lrps=$(median "$work/lat-direct" 2) b_p99=$(median "$work/lat-direct" 3)
h_lrps=$(median "$work/lat-holdfast" 2) h_p99=$(median "$work/lat-holdfast" 3)
t_lrps=$(median "$work/lat-toxiproxy" 2) t_p99=$(median "$work/lat-toxiproxy" 3)

tp_version=$(curl -fsS "http://$TP_API/version" || true)
added() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.0f", a-b}'; }
printf '\nchaos proxy, no toxics, %s cores (load %s), toxiproxy %s (%s), median of %s rounds\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$TOXIPROXY_VERSION" "$tp_version" "$ROUNDS"
printf '%-10s | %-28s | %-42s\n' "" "throughput: -t$THREADS -c$CONNS -d$DURATION" "latency: -t1 -c$LAT_CONNS -d$DURATION"
printf '%-10s | %12s %15s | %12s %12s %16s\n' target "req/s" "p99 (µs)" "req/s" "p99 (µs)" "added p99 (µs)"
printf '%-10s | %12.0f %15.0f | %12.0f %12.0f %16s\n' direct "$b_rps" "$b_sp99" "$b_lrps" "$b_p99" "-"
printf '%-10s | %12.0f %15.0f | %12.0f %12.0f %16s\n' holdfast "$h_rps" "$h_sp99" "$h_lrps" "$h_p99" "$(added "$h_p99" "$b_p99")"
printf '%-10s | %12.0f %15.0f | %12.0f %12.0f %16s\n' toxiproxy "$t_rps" "$t_sp99" "$t_lrps" "$t_p99" "$(added "$t_p99" "$b_p99")"
awk -v h="$h_rps" -v t="$t_rps" -v hp="$h_p99" -v bp="$b_p99" 'BEGIN {
	printf "holdfast/toxiproxy throughput: %.2fx (target >= 1.00)\n", h / t
	printf "holdfast added p99, unsaturated: %.0f µs (target <= 100)\n", hp - bp
}'
