#!/usr/bin/env bash
# Compares `holdfast chaos` with no toxics against Toxiproxy, side by side in
# one run: wrk drives a small Go HTTP backend on loopback directly (the
# baseline), through holdfast chaos, and through toxiproxy-server, each as a
# plain TCP proxy. Two phases per target in each round:
#   saturated    wrk -t$THREADS -c$CONNS: requests/s, its p99 (at saturation
#                mostly queueing), and the CPU time per request of the
#                target's own process (user+system from /proc/PID/stat over
#                the run, as bench/proxy/run.sh measures it; for direct, the
#                backend's): the figure the machine's other load disturbs
#                least;
#   unsaturated  wrk -t1 -c$LAT_CONNS: p50 and p99 of a closed loop that no
#                proxy saturates, and what each proxy adds over direct.
#
# Both proxies get the same parallelism: GOMAXPROCS=$PROXY_CPUS (default 1:
# on a 2-core machine that also runs wrk and the backend, one core each is
# the even split; PROXY_CPUS=2 shows the other choice). The backend keeps
# Go's default, and is the same process for every target.
#
# Targets within a round run next to each other (direct, then holdfast and
# Toxiproxy, which go first in turn: holdfast in odd rounds, Toxiproxy in
# even ones), so each round's holdfast/Toxiproxy ratio compares runs under
# much the same load from elsewhere; the report gives that ratio for every
# round, and medians over the rounds.
#
# Targets (issue 15): holdfast's req/s >= 1.2x Toxiproxy's in every round;
# holdfast's CPU per request <= 0.7x Toxiproxy's.
#
# Usage: bash bench/chaos/run.sh   (DURATION=10s WARMUP=2s THREADS=2 CONNS=32
#                                   LAT_CONNS=1 ROUNDS=3 PROXY_CPUS=1
#                                   TOXIPROXY_VERSION=latest RESULTS=bench/results
#                                   PROFILE=0 PROFILE_SECONDS=20)
# PROFILE=1 also takes a CPU profile of holdfast's chaos proxy under the same
# saturated load once the rounds are done (bench/chaos/profile: the same
# server with a pprof endpoint), written beside the report with its top
# functions.
# Writes $RESULTS/chaos.md (and the raw wrk output, chaos-wrk.txt, beside it)
# and prints it; takes about ROUNDS x 6 x DURATION. Everything runs on
# 127.0.0.1; every process it starts is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
LAT_CONNS=${LAT_CONNS:-1}
ROUNDS=${ROUNDS:-3}
PROXY_CPUS=${PROXY_CPUS:-1}
TOXIPROXY_VERSION=${TOXIPROXY_VERSION:-latest}
PROFILE=${PROFILE:-0}
PROFILE_SECONDS=${PROFILE_SECONDS:-20}

root=$(cd "$(dirname "$0")/../.." && pwd)
RESULTS=${RESULTS:-$root/bench/results}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
	echo "installing wrk" >&2
	sudo=()
	[ "$(id -u)" = 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get install -y -o DPkg::Lock::Timeout=600 wrk >/dev/null ||
		{ "${sudo[@]}" apt-get update >/dev/null && "${sudo[@]}" apt-get install -y -o DPkg::Lock::Timeout=600 wrk >/dev/null; }
fi
need curl || { echo "curl is required" >&2; exit 1; }

BACKEND=127.0.0.1:18080
HF_API=127.0.0.1:18474 HF_PROXY=127.0.0.1:18081
TP_API=127.0.0.1:18475 TP_PROXY=127.0.0.1:18082
PF_API=127.0.0.1:18476 PF_PROXY=127.0.0.1:18083 PPROF=127.0.0.1:18499
for a in $BACKEND $HF_API $HF_PROXY $TP_API $TP_PROXY $PF_API $PF_PROXY $PPROF; do
	if (exec 3<>"/dev/tcp/${a%:*}/${a#*:}") 2>/dev/null; then
		echo "port ${a#*:} is already in use; is another bench-chaos running?" >&2
		exit 1
	fi
done

echo "building holdfast, the backend and toxiproxy-server ($TOXIPROXY_VERSION) into $work" >&2
(cd "$root" && go build -o "$work/holdfast" ./cmd/holdfast)
(cd "$root/bench" && go build -o "$work/backend" ./backend)
if [ "$PROFILE" = 1 ]; then
	(cd "$root/bench/chaos/profile" && go build -o "$work/hfprofile" .)
fi
# The server's package moved between releases (cmd/server up to 2.5,
# cmd/toxiproxy-server later); take whichever the version has.
mkdir -p "$work/tp"
GOBIN="$work/tp" go install "github.com/Shopify/toxiproxy/v2/cmd/toxiproxy-server@$TOXIPROXY_VERSION" 2>/dev/null ||
	GOBIN="$work/tp" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" >&2
mv "$work/tp/"* "$work/toxiproxy-server"

wait_http() { # url
	for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "no answer from $1" >&2
	return 1
}
# create_proxy API LISTEN: a TCP proxy with no toxics from LISTEN to the backend.
create_proxy() {
	curl -fsS -o /dev/null -X POST "http://$1/proxies" -H 'Content-Type: application/json' \
		-d "{\"name\":\"bench\",\"listen\":\"$2\",\"upstream\":\"$BACKEND\",\"enabled\":true}"
}

declare -A pid addr
addr=([direct]=$BACKEND [holdfast]=$HF_PROXY [toxiproxy]=$TP_PROXY)
"$work/backend" -addr "$BACKEND" & pids+=($!) pid[direct]=$!
GOMAXPROCS=$PROXY_CPUS "$work/holdfast" chaos -host 127.0.0.1 -port "${HF_API##*:}" >"$work/holdfast.log" 2>&1 &
pids+=($!) pid[holdfast]=$!
GOMAXPROCS=$PROXY_CPUS "$work/toxiproxy-server" -host 127.0.0.1 -port "${TP_API##*:}" >"$work/toxiproxy.log" 2>&1 &
pids+=($!) pid[toxiproxy]=$!
wait_http "http://$BACKEND/"
wait_http "http://$HF_API/version"
wait_http "http://$TP_API/version"
create_proxy "$HF_API" "$HF_PROXY"
create_proxy "$TP_API" "$TP_PROXY"
want=$(curl -fsS "http://$BACKEND/")
for t in holdfast toxiproxy; do
	wait_http "http://${addr[$t]}/"
	got=$(curl -fsS "http://${addr[$t]}/")
	if [ "$got" != "$want" ]; then
		echo "$t answered $got; want the backend's body $want" >&2
		exit 1
	fi
done

to_us() { # wrk prints 1.23ms, 456.78us or 1.20s
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n
	}'
}

mkdir -p "$RESULTS"
raw="$RESULTS/chaos-wrk.txt"
: >"$raw"
# cpu_ticks PID: user+system clock ticks of PID and its children so far.
cpu_ticks() {
	local p t=0 v
	for p in "$1" $(pgrep -P "$1" || true); do
		# Fields after the ")" that ends the command name start at field 3.
		v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
hz=$(getconf CLK_TCK)

# run NAME THREADS CONNS FILE: one wrk run against NAME; appends "req/s
# p50µs p99µs errors load1 cpuµs/req" to $data/FILE.
data="$work/data"
mkdir -p "$data"
run() {
	local out rps p50 p99 non2xx sockerr load c0 c1 reqs cpu
	load=$(cut -d' ' -f1 /proc/loadavg)
	c0=$(cpu_ticks "${pid[$1]}")
	out=$(wrk -t"$2" -c"$3" -d"$DURATION" --latency "http://${addr[$1]}/")
	c1=$(cpu_ticks "${pid[$1]}")
	printf '== %s -t%s -c%s (load %s)\n%s\n' "$1" "$2" "$3" "$load" "$out" >>"$raw"
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
	sockerr=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
	cpu=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
	echo "$rps $(to_us "$p50") $(to_us "$p99") $((${non2xx:-0} + ${sockerr:-0})) $load $cpu" >>"$data/$4"
	printf '  %-9s -c%-3s %8.0f req/s  p99 %8.0f µs  cpu %6s µs/req  errors %s  load %s\n' \
		"$1" "$3" "$rps" "$(to_us "$p99")" "$cpu" "$((${non2xx:-0} + ${sockerr:-0}))" "$load" >&2
}
# median FILE COLUMN: the median of a column of numbers
median() { sort -g -k"$2" "$1" | awk -v c="$2" '{v[NR] = $c} END {print v[int((NR + 1) / 2)]}'; }
column_sum() { awk -v c="$2" '{s += $c} END {print s + 0}' "$1"; }
# column_list FILE COLUMN FORMAT: a column's values in round order, "1 / 2 / 3".
column_list() { awk -v c="$2" -v f="$3" '{printf "%s" f, (NR > 1 ? " / " : ""), $c}' "$1"; }

echo "warming up each target for $WARMUP" >&2
for t in direct holdfast toxiproxy; do wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "http://${addr[$t]}/" >/dev/null; done

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then order=(direct holdfast toxiproxy); else order=(direct toxiproxy holdfast); fi
	echo "round $r/$ROUNDS (${order[*]}): -t$THREADS -c$CONNS, then -t1 -c$LAT_CONNS, $DURATION each" >&2
	for t in "${order[@]}"; do run "$t" "$THREADS" "$CONNS" "$t"; done
	for t in "${order[@]}"; do run "$t" 1 "$LAT_CONNS" "lat-$t"; done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

targets=(direct holdfast toxiproxy)
declare -A rps p50 p99 cpu lrps lp50 lp99 errs
for t in "${targets[@]}"; do
	rps[$t]=$(median "$data/$t" 1)
	p50[$t]=$(median "$data/$t" 2)
	p99[$t]=$(median "$data/$t" 3)
	cpu[$t]=$(median "$data/$t" 6)
	lrps[$t]=$(median "$data/lat-$t" 1)
	lp50[$t]=$(median "$data/lat-$t" 2)
	lp99[$t]=$(median "$data/lat-$t" 3)
	errs[$t]=$(($(column_sum "$data/$t" 4) + $(column_sum "$data/lat-$t" 4)))
done
loads=$(cat "$data"/* | awk '{s += $5; n++; if ($5 > m) m = $5} END {printf "mean %.1f, max %.1f", s / n, m}')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
# round_ratios A B COLUMN: A's figure over B's in each round, one a line,
# unrounded (the targets are checked on these).
round_ratios() { paste -d' ' "$data/$1" "$data/$2" | awk -v c="$3" '{printf "%.6f\n", $c / $(c + NF / 2)}'; }
# per_round A B COLUMN: the same on one line, rounded, "0.98 / 1.01 / 1.20".
per_round() { round_ratios "$@" | awk '{printf "%s%.2f", (NR > 1 ? " / " : ""), $1}'; }
# rounds_met A B COLUMN OP LIMIT: how many rounds' ratios meet OP LIMIT.
rounds_met() { round_ratios "$1" "$2" "$3" | awk -v op="$4" -v l="$5" '{n += (op == ">=") ? ($1 >= l) : ($1 <= l)} END {print n + 0}'; }
verdict() { # value op limit
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {ok = (op == ">=") ? (v >= l) : (v <= l); print ok ? "met" : "not met"}'
}

thr_met=$(rounds_met holdfast toxiproxy 1 '>=' 1.2)
cpu_met=$(rounds_met holdfast toxiproxy 6 '<=' 0.7)
thr_med=$(round_ratios holdfast toxiproxy 1 | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
cpu_med=$(round_ratios holdfast toxiproxy 6 | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
cpu_verdict="$(verdict "$cpu_med" '<=' 0.7) in the median"
thr_med=$(printf '%.2f' "$thr_med") cpu_med=$(printf '%.2f' "$cpu_med")
if [ "$thr_met" = "$ROUNDS" ]; then thr_verdict=met; else thr_verdict="not met ($thr_met of $ROUNDS rounds)"; fi
cpu_verdict="$cpu_verdict; $cpu_met of $ROUNDS rounds ≤ 0.7"

# A toxiproxy-server built by go install answers "git" to /version; the
# module version is in the binary.
tp_version=$(go version -m "$work/toxiproxy-server" | awk '$1 == "mod" {print $3; exit}')
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
wrk_version=$( (wrk -v 2>&1 || true) | awk 'NR == 1 {print $2}')
hf_rev=$(cd "$root" && git describe --always --dirty 2>/dev/null || echo "?")

{
	echo "# Chaos proxy benchmark: holdfast chaos against Toxiproxy, no toxics"
	echo
	echo "- date: $started; command: \`bash bench/chaos/run.sh\` (DURATION=$DURATION WARMUP=$WARMUP THREADS=$THREADS CONNS=$CONNS LAT_CONNS=$LAT_CONNS ROUNDS=$ROUNDS PROXY_CPUS=$PROXY_CPUS TOXIPROXY_VERSION=$TOXIPROXY_VERSION)"
	echo "- load: \`wrk -t$THREADS -c$CONNS -d$DURATION --latency\` per target (saturated), then \`wrk -t1 -c$LAT_CONNS\` (unsaturated), after a $WARMUP warm-up each; round order direct, holdfast, toxiproxy in odd rounds and direct, toxiproxy, holdfast in even ones; medians of $ROUNDS rounds"
	echo "- machine: $(nproc) CPUs, $cpu_model, Linux $(uname -r); load average $load_start at start, $load_end at end; 1-minute load at each run: $loads (per run below)"
	echo "- proxies: holdfast $hf_rev ($(go version | awk '{print $3}')), Toxiproxy $tp_version (go install @$TOXIPROXY_VERSION); both GOMAXPROCS=$PROXY_CPUS; the backend Go's default GOMAXPROCS; wrk $wrk_version"
	echo
	echo "Saturated, \`-t$THREADS -c$CONNS\`:"
	echo
	echo "| target | req/s | p50 (µs) | p99 (µs) | CPU µs/req | req/s per round | CPU µs/req per round | 1-min load per round |"
	echo "|---|---:|---:|---:|---:|---|---|---|"
	for t in "${targets[@]}"; do
		printf '| %s | %.0f | %.0f | %.0f | %s | %s | %s | %s |\n' "$t" "${rps[$t]}" "${p50[$t]}" "${p99[$t]}" "${cpu[$t]}" \
			"$(column_list "$data/$t" 1 %.0f)" "$(column_list "$data/$t" 6 %.1f)" "$(column_list "$data/$t" 5 %s)"
	done
	echo
	echo "Unsaturated, \`-t1 -c$LAT_CONNS\`:"
	echo
	echo "| target | req/s | p50 (µs) | p50 added (µs) | p99 (µs) | p99 added (µs) | p99 (µs) per round | 1-min load per round |"
	echo "|---|---:|---:|---:|---:|---:|---|---|"
	for t in "${targets[@]}"; do
		printf '| %s | %.0f | %.0f | %s | %.0f | %s | %s | %s |\n' "$t" "${lrps[$t]}" "${lp50[$t]}" \
			"$(awk -v a="${lp50[$t]}" -v b="${lp50[direct]}" 'BEGIN {printf "%.0f", a - b}')" "${lp99[$t]}" \
			"$(awk -v a="${lp99[$t]}" -v b="${lp99[direct]}" 'BEGIN {printf "%.0f", a - b}')" \
			"$(column_list "$data/lat-$t" 3 %.0f)" "$(column_list "$data/lat-$t" 5 %s)"
	done
	echo
	echo "| holdfast / Toxiproxy | per round | median | target | |"
	echo "|---|---|---:|---:|---|"
	echo "| req/s (-c$CONNS) | $(per_round holdfast toxiproxy 1) | $thr_med | ≥ 1.2 in every round | $thr_verdict |"
	echo "| CPU per request (-c$CONNS) | $(per_round holdfast toxiproxy 6) | $cpu_med | ≤ 0.7 | $cpu_verdict |"
	echo "| p99 (-c$CONNS) | $(per_round holdfast toxiproxy 3) | $(ratio "${p99[holdfast]}" "${p99[toxiproxy]}") | – | context |"
	echo "| p50 (-c$LAT_CONNS) | $(per_round lat-holdfast lat-toxiproxy 2) | $(ratio "${lp50[holdfast]}" "${lp50[toxiproxy]}") | – | context |"
	echo
	echo "Ratios per round compare the two proxies' runs of the same round; the median column is the median of those ratios"
	echo "(the tables' medians are per target). CPU µs/req: user+system CPU of the target's own process (/proc/PID/stat)"
	echo "during its -c$CONNS run, over the requests wrk completed; for direct, the backend's. Errors (non-2xx responses +"
	echo "socket errors), all runs:"
	for t in "${targets[@]}"; do printf ' %s %s;' "$t" "${errs[$t]}"; done
	echo
	echo "Raw wrk output: chaos-wrk.txt beside this file."
} >"$RESULTS/chaos.md"

# PROFILE=1: a CPU profile of holdfast's chaos proxy under the same load,
# taken after the measured rounds so it disturbs none of them.
if [ "$PROFILE" = 1 ]; then
	GOMAXPROCS=$PROXY_CPUS "$work/hfprofile" -api "$PF_API" -pprof "$PPROF" 2>"$work/hfprofile.log" & pids+=($!)
	wait_http "http://$PF_API/version"
	create_proxy "$PF_API" "$PF_PROXY"
	wait_http "http://$PF_PROXY/"
	echo "profiling holdfast chaos for ${PROFILE_SECONDS}s under wrk -t$THREADS -c$CONNS (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	wrk -t"$THREADS" -c"$CONNS" -d"$((PROFILE_SECONDS + 4))s" "http://$PF_PROXY/" >"$RESULTS/chaos-profile-wrk.txt" &
	wrk_pid=$!
	pids+=("$wrk_pid")
	sleep 2
	curl -fsS -o "$RESULTS/chaos.cpu.prof" "http://$PPROF/debug/pprof/profile?seconds=$PROFILE_SECONDS"
	wait "$wrk_pid"
	kept=()
	for p in "${pids[@]}"; do [ "$p" = "$wrk_pid" ] || kept+=("$p"); done
	pids=("${kept[@]}")
	go tool pprof -top -nodecount=40 "$work/hfprofile" "$RESULTS/chaos.cpu.prof" >"$RESULTS/chaos-profile.txt" 2>/dev/null
	echo "profile: $RESULTS/chaos.cpu.prof, top functions in $RESULTS/chaos-profile.txt" >&2
fi

echo >&2
cat "$RESULTS/chaos.md"
