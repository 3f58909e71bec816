#!/usr/bin/env bash
# Compares holdfast's HTTP proxy with Go's httputil.ReverseProxy, HAProxy and
# nginx, side by side in one run. wrk drives a small Go backend on loopback
# directly (the baseline) and through each proxy:
#
#   direct     wrk -> backend
#   holdfast   holdfast serve, one route with timeout, retry (per-try timeout,
#              budget), circuit breaker, rate limit (a limit far above the
#              load) and outlier detection all on
#   httputil   httputil.NewSingleHostReverseProxy with the default transport,
#              as a Go user writes it (no BufferPool; DefaultTransport keeps
#              only 2 idle upstream connections)
#   httputil64 the same with its own transport keeping 64 idle connections
#              (context only; no target refers to it; TUNED=0 leaves it out)
#   haproxy    plain proxy: option http-keep-alive, http-reuse always
#   nginx      plain proxy: upstream keepalive 64, proxy_http_version 1.1,
#              proxy_set_header Connection ""
#
# Two options add targets with holdfast's config, each on its own port:
#
#   AB=1             hf-own and hf-nethttp: holdfast's data plane
#                    (bench/proxy/abtransport: no admin server, no metrics)
#                    with holdfast's own HTTP/1.1 upstream client, and with
#                    a tuned net/http Transport in its place (bench/nethttp:
#                    the same pool sizes and timeouts); the two differ only
#                    in the upstream client (issue 8)
#   BASELINE=<rev>   holdfast-base: `holdfast serve` built at git revision
#                    <rev> (in a worktree under the temp dir, removed on
#                    exit), to show a change against the code before it;
#                    target: holdfast's req/s >= 0.95x and p99 <= 1.05x
#                    holdfast-base's
#
# Every proxy gets the same parallelism, PROXY_CPUS (default 1): GOMAXPROCS
# for the Go proxies, nbthread for HAProxy, worker_processes for nginx. On a
# 2-core machine that also runs wrk and the backend, one each is the even
# split; PROXY_CPUS=2 shows the other choice.
#
# Each round runs every target in turn twice: saturating (wrk -c$CONNS, the
# issue's measurement: req/s and its p99, which at saturation is mostly
# queueing, so it tracks 1/throughput), then unsaturated (wrk -t1
# -c$LAT_CONNS: the latency a proxy adds when it is not the bottleneck).
# Every figure is the median of ROUNDS rounds, so a burst of load from
# elsewhere on a shared machine hits one round, not one target. The CPU time
# each target's processes use per request is reported too: it is the figure
# such load disturbs least.
#
# Targets: holdfast throughput >= 1.5x httputil's (issue 3); >= 0.8x
# HAProxy's, CPU per request <= 35 us and p99 at -c$CONNS <= 1.2x HAProxy's
# (issue 15, which raised issue 3's 0.6x and 1.5x), at 1 and at 2 workers
# (PROXY_CPUS=2); p99 at -c$LAT_CONNS <= 1.5x HAProxy's (issue 3).
#
# Idle memory (issue 15) is measured before the rounds (before any load and
# before the warm-up), once per proxy target, targets in turn: the RSS idle
# of the target's processes (VmRSS from /proc, nginx's master and workers
# summed) after start and the few checking requests below, then the RSS
# with IDLE_CONNS client connections held open and idle by
# bench/proxy/idleconns, each after one keep-alive `GET /` read to its end.
# Each RSS is read once it has settled (at least 2 s, then every second until
# two reads differ by <= 1%). The report gives (RSS with - RSS idle) /
# IDLE_CONNS in KiB, and how many of the connections still answered a second
# request after the hold: a proxy that closed idle connections would
# otherwise look cheap. Targets: holdfast RSS idle <= 20 MiB, <= 4 KiB per
# idle connection. The script raises its open-files limit to
# 2 x IDLE_CONNS + 1000 for this (the proxies inherit it).
#
# Usage: bash bench/proxy/run.sh   (DURATION=10s WARMUP=2s THREADS=1 CONNS=32
#                                   LAT_CONNS=1 ROUNDS=3 PROXY_CPUS=1 TUNED=1
#                                   AB=0 BASELINE= PROFILE=0 PROFILE_SECONDS=20
#                                   IDLE_CONNS=5000: idle connections held; 0 skips the idle measurement
#                                   ONLY="holdfast holdfast-base": only those targets, and direct)
# e.g. AB=1 BASELINE=d36c175 bash bench/proxy/run.sh
# PROFILE=1 also takes a CPU profile of holdfast under the same load once the
# rounds are done (bench/proxy/profile: the data plane with a pprof endpoint).
# Writes bench/results/proxy.md (and the raw wrk output beside it) and prints
# it; takes about ROUNDS x 2 x DURATION per target (6 targets; AB=1 adds 2,
# BASELINE 1), and some 10 s more per proxy target for the idle memory
# (IDLE_CONNS=0 skips it). Everything runs on 127.0.0.1; every process it
# starts is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
THREADS=${THREADS:-1}
CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-3}
PROXY_CPUS=${PROXY_CPUS:-1}
TUNED=${TUNED:-1}
LAT_CONNS=${LAT_CONNS:-1}
PROFILE=${PROFILE:-0}
PROFILE_SECONDS=${PROFILE_SECONDS:-20}
AB=${AB:-0}
BASELINE=${BASELINE:-}
ONLY=${ONLY:-}
IDLE_CONNS=${IDLE_CONNS:-5000}

export PATH="$PATH:/usr/sbin:/sbin" # nginx and haproxy live in sbin
root=$(cd "$(dirname "$0")/../.." && pwd)
results="$root/bench/results"
work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -d "$work/base" ]; then git -C "$root" worktree remove --force "$work/base" 2>/dev/null || true; fi
	rm -rf "$work"
	git -C "$root" worktree prune 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Install only what is missing. dpkg may be busy with another install on a
# shared machine, so wait for its lock rather than fail.
missing=()
for tool in wrk haproxy nginx; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing ${missing[*]}" >&2
	sudo=()
	[ "$(id -u)" = 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update >/dev/null
	"${sudo[@]}" apt-get install -y -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi

echo "building holdfast, the backend, the httputil proxy and the idle-connection client into $work" >&2
(cd "$root" && go build -o "$work/holdfast" ./cmd/holdfast)
(cd "$root/bench" && go build -o "$work/backend" ./backend && go build -o "$work/revproxy" ./proxy/revproxy &&
	go build -o "$work/idleconns" ./proxy/idleconns)
if [ "$PROFILE" = 1 ]; then
	(cd "$root/bench/proxy/profile" && go build -o "$work/hfprofile" .)
fi
if [ "$AB" = 1 ]; then
	echo "building the A/B transport proxy (bench/proxy/abtransport)" >&2
	(cd "$root/bench" && go build -o "$work/abtransport" ./proxy/abtransport)
fi
base_rev=
if [ -n "$BASELINE" ]; then
	base_rev=$(git -C "$root" rev-parse --short --verify --quiet "$BASELINE^{commit}") || {
		echo "BASELINE=$BASELINE is not a commit of $root" >&2
		exit 1
	}
	echo "building holdfast at $base_rev (BASELINE=$BASELINE) in a worktree" >&2
	git -C "$root" worktree add --detach --quiet "$work/base" "$base_rev" >&2
	(cd "$work/base" && go build -o "$work/holdfast-base" ./cmd/holdfast)
fi

BACKEND=127.0.0.1:19080
HOLDFAST=127.0.0.1:19081
HTTPUTIL=127.0.0.1:19082
HAPROXY=127.0.0.1:19083
NGINX=127.0.0.1:19084
HTTPUTIL64=127.0.0.1:19085
HOLDFAST_ADMIN=127.0.0.1:19091
PROFILED=127.0.0.1:19086 PROFILED_ADMIN=127.0.0.1:19092 PPROF=127.0.0.1:19099
HF_OWN=127.0.0.1:19087 HF_NETHTTP=127.0.0.1:19088
HOLDFAST_BASE=127.0.0.1:19089 HOLDFAST_BASE_ADMIN=127.0.0.1:19093

for addr in $BACKEND $HOLDFAST $HTTPUTIL $HAPROXY $NGINX $HTTPUTIL64 $HOLDFAST_ADMIN $PROFILED $PROFILED_ADMIN $PPROF \
	$HF_OWN $HF_NETHTTP $HOLDFAST_BASE $HOLDFAST_BASE_ADMIN; do
	if (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null; then
		echo "port ${addr#*:} is already in use; is another bench-proxy running?" >&2
		exit 1
	fi
done

# The idle measurement holds IDLE_CONNS connections: that many descriptors in
# idleconns and in the proxy (and the proxy's upstream connections), with
# room to spare. The proxies started below inherit the raised soft limit
# (the Go ones raise their own to the hard limit anyway); the hard limit is
# raised only if it is too low, which needs root.
if [ "$IDLE_CONNS" -gt 0 ]; then
	need=$((2 * IDLE_CONNS + 1000))
	if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$need" ]; then
		if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
			ulimit -Hn "$need" || {
				echo "IDLE_CONNS=$IDLE_CONNS needs $need open files; the hard limit is $(ulimit -Hn)" >&2
				exit 1
			}
		fi
		ulimit -Sn "$need"
	fi
fi
# HAProxy's maxconn (per process, all frontends; a frontend's defaults to
# it) and nginx's worker_connections (per worker, client and upstream
# connections together) must admit the idle connections. An idle client
# connection holds no upstream connection in either (nginx keeps at most
# 64 idle upstream ones per worker), so IDLE_CONNS plus a margin for the
# upstream connections in use is enough, not 2 x IDLE_CONNS. nginx (since
# 1.19.2, "reusing connections in advance") also closes idle keep-alive
# connections while fewer than 1/16 of worker_connections are free, so its
# limit is that much higher again. Only as far as needed: both size tables
# from these limits at start, which count in their RSS idle.
hap_maxconn=4096 ngx_conns=4096
if [ $((IDLE_CONNS + 256)) -gt "$hap_maxconn" ]; then hap_maxconn=$((IDLE_CONNS + 256)); fi
if [ $(((IDLE_CONNS + 256) * 16 / 15 + 1)) -gt "$ngx_conns" ]; then ngx_conns=$(((IDLE_CONNS + 256) * 16 / 15 + 1)); fi

cat >"$work/holdfast.yaml" <<EOF
listen: $HOLDFAST
admin: {listen: $HOLDFAST_ADMIN}
drain: {delay: 1ms, timeout: 1s}
upstreams:
  backend:
    endpoints:
      - address: http://$BACKEND
    connect_timeout: 1s
    outlier_detection:
      consecutive_failures: 5
      deadline: 250ms
      consecutive_deadline_misses: 3
      base_ejection_time: 30s
      max_ejection_time: 300s
      max_ejection_percent: 50
    circuit_breaker: {failure_rate: 0.5, window: 10s, minimum_requests: 20, open_duration: 30s, half_open_requests: 3}
routes:
  - name: bench
    match: {path_prefix: /}
    upstream: backend
    timeout: 2s
    retry:
      attempts: 3
      per_try_timeout: 1s
      retry_on: [connect_failure, reset, gateway_error]
      backoff: {base: 25ms, max: 1s}
      budget: {ratio: 0.2, min_per_second: 10}
    rate_limit: {requests_per_second: 10000000, burst: 1000000}
EOF

# holdfast_config LISTEN ADMIN FILE: holdfast.yaml with the data plane on
# LISTEN and the admin server on ADMIN, for the other holdfast targets.
holdfast_config() {
	sed -e "s|^listen: .*|listen: $1|" -e "s|^admin: .*|admin: {listen: $2}|" "$work/holdfast.yaml" >"$3"
}
if [ "$AB" = 1 ]; then
	# abtransport starts no admin server; the admin address is left unused.
	holdfast_config "$HF_OWN" "$HOLDFAST_ADMIN" "$work/hf-own.yaml"
	holdfast_config "$HF_NETHTTP" "$HOLDFAST_ADMIN" "$work/hf-nethttp.yaml"
fi
if [ -n "$BASELINE" ]; then
	holdfast_config "$HOLDFAST_BASE" "$HOLDFAST_BASE_ADMIN" "$work/holdfast-base.yaml"
fi

cat >"$work/haproxy.cfg" <<EOF
global
    nbthread $PROXY_CPUS
    maxconn $hap_maxconn
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    http-reuse always
frontend bench
    bind $HAPROXY
    default_backend backend
backend backend
    server s1 $BACKEND
EOF

# keepalive_requests: nginx closes a keep-alive connection after 1000
# requests by default, client and upstream side; nothing else here does.
cat >"$work/nginx.conf" <<EOF
worker_processes $PROXY_CPUS;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections $ngx_conns; }
http {
    access_log off;
    client_body_temp_path $work/nginx-body;
    proxy_temp_path $work/nginx-proxy;
    fastcgi_temp_path $work/nginx-fastcgi;
    uwsgi_temp_path $work/nginx-uwsgi;
    scgi_temp_path $work/nginx-scgi;
    keepalive_requests 1000000;
    upstream backend {
        server $BACKEND;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen $NGINX;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF

echo "checking configs" >&2
"$work/holdfast" validate -c "$work/holdfast.yaml" >&2
if [ -n "$BASELINE" ]; then "$work/holdfast-base" validate -c "$work/holdfast-base.yaml" >&2; fi
haproxy -c -q -f "$work/haproxy.cfg" >&2
nginx -t -q -p "$work" -e "$work/nginx-error.log" -c "$work/nginx.conf" >&2

# pid[target] is the process whose CPU time (with its children's, for
# nginx's workers) is charged to the target; for direct, the backend's.
declare -A addr=([direct]=$BACKEND [holdfast]=$HOLDFAST [httputil]=$HTTPUTIL [haproxy]=$HAPROXY [nginx]=$NGINX [httputil64]=$HTTPUTIL64
	[holdfast-base]=$HOLDFAST_BASE [hf-own]=$HF_OWN [hf-nethttp]=$HF_NETHTTP)
declare -A pid
"$work/backend" -addr "$BACKEND" & pids+=($!) pid[direct]=$!
GOMAXPROCS=$PROXY_CPUS "$work/holdfast" serve -c "$work/holdfast.yaml" -log-level warn 2>"$work/holdfast.log" & pids+=($!) pid[holdfast]=$!
GOMAXPROCS=$PROXY_CPUS "$work/revproxy" -addr "$HTTPUTIL" -backend "http://$BACKEND" 2>"$work/httputil.log" & pids+=($!) pid[httputil]=$!
haproxy -db -f "$work/haproxy.cfg" 2>"$work/haproxy.log" & pids+=($!) pid[haproxy]=$!
nginx -p "$work" -e "$work/nginx-error.log" -c "$work/nginx.conf" -g 'daemon off;' & pids+=($!) pid[nginx]=$!
# Targets compared with each other run next to each other in each round.
targets=(direct holdfast)
holdfasts=(holdfast) # the targets that must answer with x-holdfast-attempts
if [ -n "$BASELINE" ]; then
	GOMAXPROCS=$PROXY_CPUS "$work/holdfast-base" serve -c "$work/holdfast-base.yaml" -log-level warn 2>"$work/holdfast-base.log" &
	pids+=($!) pid[holdfast-base]=$!
	targets+=(holdfast-base) holdfasts+=(holdfast-base)
fi
if [ "$AB" = 1 ]; then
	GOMAXPROCS=$PROXY_CPUS "$work/abtransport" -c "$work/hf-own.yaml" -transport holdfast 2>"$work/hf-own.log" &
	pids+=($!) pid[hf-own]=$!
	GOMAXPROCS=$PROXY_CPUS "$work/abtransport" -c "$work/hf-nethttp.yaml" -transport nethttp 2>"$work/hf-nethttp.log" &
	pids+=($!) pid[hf-nethttp]=$!
	targets+=(hf-own hf-nethttp) holdfasts+=(hf-own hf-nethttp)
fi
targets+=(httputil)
if [ "$TUNED" = 1 ]; then
	GOMAXPROCS=$PROXY_CPUS "$work/revproxy" -addr "$HTTPUTIL64" -backend "http://$BACKEND" -max-idle 64 2>"$work/httputil64.log" & pids+=($!) pid[httputil64]=$!
	targets+=(httputil64)
fi
targets+=(haproxy nginx)
if [ -n "$ONLY" ]; then
	# ONLY="holdfast holdfast-base": just those (and direct, the baseline).
	kept=(direct)
	for t in "${targets[@]}"; do
		for o in $ONLY; do [ "$t" = "$o" ] && [ "$t" != direct ] && kept+=("$t"); done
	done
	targets=("${kept[@]}")
	kept=()
	for t in "${holdfasts[@]}"; do
		for o in $ONLY; do [ "$t" = "$o" ] && kept+=("$t"); done
	done
	holdfasts=("${kept[@]}")
fi

wait_http() { # url
	for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "no answer from $1" >&2
	return 1
}
want=$(curl -fsS "http://$BACKEND/" --retry 50 --retry-delay 0 --retry-connrefused 2>/dev/null || true)
for t in "${targets[@]}"; do
	wait_http "http://${addr[$t]}/" || {
		if [ -s "$work/$t.log" ]; then tail -n 5 "$work/$t.log" >&2; fi
		exit 1
	}
	got=$(curl -fsS "http://${addr[$t]}/")
	if [ "$got" != "$want" ]; then
		echo "$t answered $got; want the backend's body $want" >&2
		exit 1
	fi
done
# holdfast must really be proxying through its policies, not answering itself.
for t in "${holdfasts[@]}"; do
	curl -fsSi "http://${addr[$t]}/" | grep -qi '^x-holdfast-attempts: 1' || {
		echo "$t's answer lacks x-holdfast-attempts: 1" >&2
		exit 1
	}
done

to_us() { # wrk prints 1.23ms, 456.78us or 1.20s
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n
	}'
}

mkdir -p "$results"
raw="$results/proxy-wrk.txt"
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

# run NAME CONNS FILE: one wrk run against NAME with CONNS connections;
# appends "req/s p50µs p99µs errors load1 cpuµs/req" to $data/FILE. CPU per
# request counts only the target's own processes, so it is the figure the
# machine's other load disturbs least.
data="$work/data"
mkdir -p "$data"
run() {
	local out rps p50 p99 non2xx sockerr load c0 c1 reqs cpu threads=$THREADS
	[ "$2" -ge "$threads" ] || threads=$2
	load=$(cut -d' ' -f1 /proc/loadavg)
	c0=$(cpu_ticks "${pid[$1]}")
	out=$(wrk -t"$threads" -c"$2" -d"$DURATION" --latency "http://${addr[$1]}/")
	c1=$(cpu_ticks "${pid[$1]}")
	printf '== %s -c%s (load %s)\n%s\n' "$1" "$2" "$load" "$out" >>"$raw"
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
	sockerr=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
	cpu=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
	echo "$rps $(to_us "$p50") $(to_us "$p99") $((${non2xx:-0} + ${sockerr:-0})) $load $cpu" >>"$data/$3"
	printf '  %-13s -c%-3s %8.0f req/s  p99 %8.0f µs  cpu %6s µs/req  errors %s  load %s\n' \
		"$1" "$2" "$rps" "$(to_us "$p99")" "$cpu" "$((${non2xx:-0} + ${sockerr:-0}))" "$load" >&2
}
# median FILE COLUMN
median() { sort -g -k"$2" "$1" | awk -v c="$2" '{v[NR] = $c} END {print v[int((NR + 1) / 2)]}'; }
column_sum() { awk -v c="$2" '{s += $c} END {print s + 0}' "$1"; }
column_list() { awk -v c="$2" '{printf "%s%.0f", (NR > 1 ? " / " : ""), $c}' "$1"; }

# rss_kib PID: the resident memory (VmRSS) of PID and its children, as for
# cpu_ticks, in KiB.
rss_kib() {
	local p t=0 v
	for p in "$1" $(pgrep -P "$1" || true); do
		v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
# rss_split PID: "anon file" KiB of the resident memory of PID and its
# children: RssAnon (what the processes allocated) and RssFile (pages of
# their executables and libraries, clean and shared with the page cache).
rss_split() {
	local p a=0 f=0 va vf
	for p in "$1" $(pgrep -P "$1" || true); do
		read -r va vf < <(awk '/^RssAnon:/ {a = $2} /^RssFile:/ {f = $2} END {print a + 0, f + 0}' "/proc/$p/status" 2>/dev/null || echo 0 0)
		a=$((a + va)) f=$((f + vf))
	done
	echo "$a $f"
}
# settled_rss PID: rss_kib PID once it has settled: after 5 s (holdfast keeps
# an idle connection's read buffer for 1 s, and returns free memory to the
# OS 2 to 3 s after its last request: docs/config.md, limits), then every
# second until two reads in a row differ by at most 1%, for at most 13 s.
settled_rss() {
	local prev cur d
	sleep 5
	cur=$(rss_kib "$1")
	for _ in $(seq 1 8); do
		prev=$cur
		sleep 1
		cur=$(rss_kib "$1")
		d=$((cur - prev))
		[ $((${d#-} * 100)) -gt "$prev" ] || break
	done
	echo "$cur"
}
# forget_pid PID: PID has been waited for; drop it from pids, so that
# cleanup does not signal a process that may have taken its number since.
forget_pid() {
	local p kept=()
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
	pids=("${kept[@]}")
}
# idle TARGET: the idle memory of TARGET; writes "rss_idle_KiB
# rss_with_KiB alive load1" to $data/idle-TARGET, alive being "failed" if
# the connections could not be set up (idleconns-TARGET.log says why). The
# whole hold (setup, at most 13 s of settling each time) stays well within every
# proxy's idle timeout: holdfast's 60 s, HAProxy's timeout client 30 s,
# nginx's keepalive_timeout 75 s, none for net/http.
idle() {
	local t=$1 before with=0 alive=failed load tool word count to from split
	load=$(cut -d' ' -f1 /proc/loadavg)
	before=$(settled_rss "${pid[$t]}")
	split=$(rss_split "${pid[$t]}")
	rm -f "$work/idle-in" "$work/idle-out"
	mkfifo "$work/idle-in" "$work/idle-out"
	"$work/idleconns" -addr "${addr[$t]}" -n "$IDLE_CONNS" <"$work/idle-in" >"$work/idle-out" 2>"$work/idleconns-$t.log" &
	tool=$!
	pids+=("$tool")
	# Opened in the order idleconns opens them, so neither open blocks the other.
	exec {to}>"$work/idle-in" {from}<"$work/idle-out"
	if read -r -t 300 -u "$from" word count && [ "$word" = ready ]; then
		with=$(settled_rss "${pid[$t]}")
		echo check >&"$to"
		if read -r -t 300 -u "$from" word count && [ "$word" = alive ]; then alive=$count; fi
	fi
	if [ "$alive" = failed ]; then kill "$tool" 2>/dev/null || true; fi # not waited for yet: still ours
	exec {to}>&- {from}<&-
	wait "$tool" || true
	forget_pid "$tool"
	rm -f "$work/idle-in" "$work/idle-out"
	echo "$before $with $alive $load $split" >"$data/idle-$t"
	if [ "$alive" = failed ]; then
		printf '  %-13s idle %6.1f MiB; %s idle conns failed: %s\n' "$t" "$(awk -v k="$before" 'BEGIN {print k / 1024}')" \
			"$IDLE_CONNS" "$(tail -n 1 "$work/idleconns-$t.log")" >&2
	else
		printf '  %-13s idle %6.1f MiB, with %s idle conns %6.1f MiB: %6.2f KiB/conn, %s alive  load %s\n' "$t" \
			"$(awk -v k="$before" 'BEGIN {print k / 1024}')" "$IDLE_CONNS" "$(awk -v k="$with" 'BEGIN {print k / 1024}')" \
			"$(awk -v a="$with" -v b="$before" -v n="$IDLE_CONNS" 'BEGIN {print (a - b) / n}')" "$alive" "$load" >&2
	fi
}
idle_targets=()
for t in "${targets[@]}"; do [ "$t" = direct ] || idle_targets+=("$t"); done
if [ "$IDLE_CONNS" -gt 0 ]; then
	echo "idle memory: $IDLE_CONNS idle keep-alive connections per target, before any load" >&2
	for t in "${idle_targets[@]}"; do idle "$t"; done
fi

echo "warming up each target for $WARMUP" >&2
for t in "${targets[@]}"; do wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "http://${addr[$t]}/" >/dev/null; done

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$ROUNDS"); do
	# The order rotates by one target each round, so no target always runs
	# first (on a machine that warms up or slows down) or after the same one.
	k=$(((r - 1) % ${#targets[@]}))
	order=("${targets[@]:k}" "${targets[@]:0:k}")
	echo "round $r/$ROUNDS: wrk -c$CONNS, then -c$LAT_CONNS, -d$DURATION per target, in the order ${order[*]}" >&2
	for t in "${order[@]}"; do run "$t" "$CONNS" "$t"; done
	if [ "$LAT_CONNS" -gt 0 ]; then
		for t in "${order[@]}"; do run "$t" "$LAT_CONNS" "lat-$t"; done
	fi
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A rps p50 p99 errs cpu lrps lp50 lp99 lerrs
for t in "${targets[@]}"; do
	rps[$t]=$(median "$data/$t" 1)
	p50[$t]=$(median "$data/$t" 2)
	p99[$t]=$(median "$data/$t" 3)
	errs[$t]=$(column_sum "$data/$t" 4)
	cpu[$t]=$(median "$data/$t" 6)
	if [ "$LAT_CONNS" -gt 0 ]; then
		lrps[$t]=$(median "$data/lat-$t" 1)
		lp50[$t]=$(median "$data/lat-$t" 2)
		lp99[$t]=$(median "$data/lat-$t" 3)
		errs[$t]=$((errs[$t] + $(column_sum "$data/lat-$t" 4)))
	fi
done
# The wrk runs' files only: the idle-* files hold other columns.
loads=$(for t in "${targets[@]}"; do cat "$data/$t" "$data/lat-$t" 2>/dev/null || true; done | awk '{s += $5; n++; if ($5 > m) m = $5} END {printf "mean %.1f, max %.1f", s / n, m}')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
# round_ratios A B COLUMN: A's figure over B's in each round, "0.98 / 1.01".
# A and B ran next to each other in every round, so each ratio compares runs
# under much the same load from elsewhere.
round_ratios() {
	paste -d' ' "$data/$1" "$data/$2" | awk -v c="$3" '{
		n = NF / 2
		printf "%s%.2f", (NR > 1 ? " / " : ""), $c / $(c + n)
	}'
}
# pair_rows A B LABEL [regression]: ratio rows (req/s, p99, CPU per request)
# of target A against target B, each with its per-round ratios; with
# "regression", A's req/s must stay >= 0.95x and its p99 <= 1.05x B's.
pair_rows() {
	local a=$1 b=$2 label=$3 goal=${4:-} thr p99r lat cpur
	thr=$(ratio "${rps[$a]}" "${rps[$b]}")
	p99r=$(ratio "${p99[$a]}" "${p99[$b]}")
	cpur=$(ratio "${cpu[$a]}" "${cpu[$b]}")
	if [ "$goal" = regression ]; then
		echo "| $label throughput | $thr | ≥ 0.95 | $(verdict "$thr" '>=' 0.95); per round $(round_ratios "$a" "$b" 1) |"
		echo "| $label p99 (-c$CONNS) | $p99r | ≤ 1.05 | $(verdict "$p99r" '<=' 1.05); per round $(round_ratios "$a" "$b" 3) |"
	else
		echo "| $label throughput | $thr | – | context; per round $(round_ratios "$a" "$b" 1) |"
		echo "| $label p99 (-c$CONNS) | $p99r | – | context; per round $(round_ratios "$a" "$b" 3) |"
	fi
	if [ "$LAT_CONNS" -gt 0 ]; then
		lat=$(ratio "${lp99[$a]}" "${lp99[$b]}")
		echo "| $label p99 (-c$LAT_CONNS) | $lat | – | context; per round $(round_ratios "lat-$a" "lat-$b" 3) |"
	fi
	echo "| $label CPU per request | $cpur | – | context; per round $(round_ratios "$a" "$b" 6) |"
}
verdict() { # value op limit
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {ok = (op == ">=") ? (v >= l) : (v <= l); print ok ? "met" : "not met"}'
}
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
hap_version=$(haproxy -v 2>&1 | awk 'NR == 1 {print $3}')
ngx_version=$(nginx -v 2>&1 | sed 's|.*nginx/||')
wrk_version=$( (wrk -v 2>&1 || true) | awk 'NR == 1 {print $2}')

if [ -z "$ONLY" ]; then
	thr_util=$(ratio "${rps[holdfast]}" "${rps[httputil]}")
	thr_hap=$(ratio "${rps[holdfast]}" "${rps[haproxy]}")
	p99_hap=$(ratio "${p99[holdfast]}" "${p99[haproxy]}")
fi

# Idle memory figures: idle_rss[t] and idle_with[t] in MiB, idle_kpc[t] the
# KiB per idle connection, idle_alive[t] the connections alive after the
# hold ("failed" if they could not be set up), idle_anon[t] and
# idle_file[t] the RSS idle's split in MiB.
declare -A idle_rss idle_with idle_kpc idle_alive idle_anon idle_file
idle_loads=
if [ "$IDLE_CONNS" -gt 0 ]; then
	for t in "${idle_targets[@]}"; do
		read -r before with alive load anon file <"$data/idle-$t"
		idle_anon[$t]=$(awk -v k="$anon" 'BEGIN {printf "%.1f", k / 1024}')
		idle_file[$t]=$(awk -v k="$file" 'BEGIN {printf "%.1f", k / 1024}')
		idle_rss[$t]=$(awk -v k="$before" 'BEGIN {printf "%.1f", k / 1024}')
		idle_with[$t]=$(awk -v k="$with" 'BEGIN {printf "%.1f", k / 1024}')
		idle_kpc[$t]=$(awk -v a="$with" -v b="$before" -v n="$IDLE_CONNS" 'BEGIN {printf "%.2f", (a - b) / n}')
		idle_alive[$t]=$alive
		idle_loads+="${idle_loads:+, }$t $load"
	done
fi
# idle_ratio FIELD A B: A's idle figure over B's; "–" where either was not
# measured or B's is not above zero.
idle_ratio() {
	local -n f=$1
	if [ -z "${f[$2]:-}" ] || [ -z "${f[$3]:-}" ] || [ "${idle_alive[$2]}" = failed ] || [ "${idle_alive[$3]}" = failed ] ||
		! awk -v b="${f[$3]}" 'BEGIN {exit !(b > 0)}'; then
		echo "–"
	else
		ratio "${f[$2]}" "${f[$3]}"
	fi
}
# idle_rows: the idle memory table and its ratios.
idle_rows() {
	local t v
	echo
	echo "Idle memory, before any load: RSS after start and a few requests (RSS idle), then with $IDLE_CONNS idle keep-alive client connections held by bench/proxy/idleconns, each after one \`GET /\` read to its end:"
	echo
	echo "| target | RSS idle (MiB) | of it anonymous | of it file-backed | RSS with $IDLE_CONNS idle conns (MiB) | KiB per idle conn | conns alive after the hold |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for t in "${idle_targets[@]}"; do
		if [ "${idle_alive[$t]}" = failed ]; then
			echo "| $t | ${idle_rss[$t]} | ${idle_anon[$t]} | ${idle_file[$t]} | – | – | failed to set up: $(tail -n 1 "$work/idleconns-$t.log" | sed 's/|/\\|/g') |"
		else
			echo "| $t | ${idle_rss[$t]} | ${idle_anon[$t]} | ${idle_file[$t]} | ${idle_with[$t]} | ${idle_kpc[$t]} | ${idle_alive[$t]} of $IDLE_CONNS |"
		fi
	done
	echo
	echo "| ratio | value | target | |"
	echo "|---|---:|---:|---|"
	if [ -n "${idle_alive[holdfast]:-}" ]; then
		echo "| holdfast RSS idle (MiB) | ${idle_rss[holdfast]} | ≤ 20 | $(verdict "${idle_rss[holdfast]}" '<=' 20) |"
		if [ "${idle_alive[holdfast]}" = failed ]; then
			echo "| holdfast KiB per idle conn | – | ≤ 4 | not measured: the connections failed to set up |"
		else
			# A connection the proxy closed during the hold costs it nothing.
			v=$(verdict "${idle_kpc[holdfast]}" '<=' 4)
			if [ "${idle_alive[holdfast]}" -lt "$IDLE_CONNS" ]; then v="not met: only ${idle_alive[holdfast]} of $IDLE_CONNS conns alive"; fi
			echo "| holdfast KiB per idle conn | ${idle_kpc[holdfast]} | ≤ 4 | $v |"
		fi
	fi
	if [ -n "${idle_alive[haproxy]:-}" ]; then
		echo "| holdfast / HAProxy RSS idle | $(idle_ratio idle_rss holdfast haproxy) | – | context |"
		echo "| holdfast / HAProxy KiB per idle conn | $(idle_ratio idle_kpc holdfast haproxy) | – | context |"
	fi
	if [ -n "${idle_alive[holdfast-base]:-}" ]; then
		echo "| holdfast / holdfast-base ($base_rev) RSS idle | $(idle_ratio idle_rss holdfast holdfast-base) | – | context |"
		echo "| holdfast / holdfast-base ($base_rev) KiB per idle conn | $(idle_ratio idle_kpc holdfast holdfast-base) | – | context |"
	fi
	echo
	echo "RSS: VmRSS summed over the target's processes (nginx: master and workers), each read once it had settled;"
	echo "anonymous (RssAnon) is what the processes allocated; file-backed (RssFile) is pages of their executable and libraries,"
	echo "clean and shared with the page cache, which the kernel takes back under memory pressure."
	echo "KiB per idle conn = (RSS with − RSS idle) / $IDLE_CONNS. Alive: connections that answered a second \`GET /\` with 200 after the RSS was read."
	echo "HAProxy (maxconn $hap_maxconn) and nginx (worker_connections $ngx_conns) size per-connection tables at start; those count in their RSS idle, not per conn."
	echo "1-minute load at each: $idle_loads."
}

{
	echo "# Proxy benchmark"
	echo
	echo "- date: $started; command: \`bash bench/proxy/run.sh\` (DURATION=$DURATION WARMUP=$WARMUP THREADS=$THREADS CONNS=$CONNS LAT_CONNS=$LAT_CONNS ROUNDS=$ROUNDS PROXY_CPUS=$PROXY_CPUS TUNED=$TUNED AB=$AB BASELINE=$BASELINE IDLE_CONNS=$IDLE_CONNS)"
	echo "- load: \`wrk -t$THREADS -c$CONNS -d$DURATION --latency\` per target (saturating), then \`wrk -t1 -c$LAT_CONNS\` (unsaturated; 0 = skipped), after a $WARMUP warm-up; targets alternate within each round, the order rotating by one target between rounds; every figure is the median of $ROUNDS rounds"
	echo "- machine: $(nproc) CPUs, $cpu_model, Linux $(uname -r); load average $load_start at start, $load_end at end; 1-minute load at each run: $loads"
	echo "- proxies: holdfast $(cd "$root" && git describe --always --dirty 2>/dev/null || echo "?"), $(go version | awk '{print $3}'), GOMAXPROCS=$PROXY_CPUS; HAProxy $hap_version, nbthread $PROXY_CPUS; nginx $ngx_version, worker_processes $PROXY_CPUS; wrk $wrk_version"
	if [ -n "$BASELINE" ]; then
		echo "- holdfast-base: \`holdfast serve\` built at $base_rev (BASELINE=$BASELINE), same config and GOMAXPROCS"
	fi
	if [ "$AB" = 1 ]; then
		echo "- hf-own / hf-nethttp: bench/proxy/abtransport (holdfast's data plane without admin server or metrics, same config) with \`-transport holdfast\` (holdfast's own HTTP/1.1 client) / \`-transport nethttp\` (a net/http Transport: 64 idle per host, 90s idle timeout, no compression, no proxy, HTTP/1.1)"
	fi
	echo
	echo "Saturating, \`-c$CONNS\`:"
	echo
	echo "| target | req/s | p50 (µs) | p99 (µs) | req/s vs direct | CPU µs/req | req/s per round | p99 (µs) per round |"
	echo "|---|---:|---:|---:|---:|---:|---|---|"
	for t in "${targets[@]}"; do
		printf '| %s | %.0f | %.0f | %.0f | %s | %s | %s | %s |\n' "$t" "${rps[$t]}" "${p50[$t]}" "${p99[$t]}" \
			"$(ratio "${rps[$t]}" "${rps[direct]}")" "${cpu[$t]}" "$(column_list "$data/$t" 1)" "$(column_list "$data/$t" 3)"
	done
	if [ "$LAT_CONNS" -gt 0 ]; then
		echo
		echo "Unsaturated, \`-c$LAT_CONNS\`:"
		echo
		# The p50 a proxy adds is the steady figure here; a p99 over a few
		# thousand requests on a shared machine is mostly scheduler noise.
		echo "| target | req/s | p50 (µs) | p50 added over direct (µs) | p99 (µs) | p99 (µs) per round |"
		echo "|---|---:|---:|---:|---:|---|"
		for t in "${targets[@]}"; do
			printf '| %s | %.0f | %.0f | %s | %.0f | %s |\n' "$t" "${lrps[$t]}" "${lp50[$t]}" \
				"$(awk -v a="${lp50[$t]}" -v b="${lp50[direct]}" 'BEGIN {printf "%.0f", a - b}')" "${lp99[$t]}" "$(column_list "$data/lat-$t" 3)"
		done
	fi
	echo
	echo "| ratio | value | target | |"
	echo "|---|---:|---:|---|"
	if [ -z "$ONLY" ]; then
		echo "| holdfast / httputil throughput | $thr_util | ≥ 1.5 | $(verdict "$thr_util" '>=' 1.5) |"
		echo "| holdfast / HAProxy throughput | $thr_hap | ≥ 0.8 | $(verdict "$thr_hap" '>=' 0.8) |"
		echo "| holdfast CPU µs per request | ${cpu[holdfast]} | ≤ 35 | $(verdict "${cpu[holdfast]}" '<=' 35) |"
		echo "| holdfast / HAProxy p99 (-c$CONNS) | $p99_hap | ≤ 1.2 | $(verdict "$p99_hap" '<=' 1.2) |"
		if [ "$LAT_CONNS" -gt 0 ]; then
			lp99_hap=$(ratio "${lp99[holdfast]}" "${lp99[haproxy]}")
			echo "| holdfast / HAProxy p99 (-c$LAT_CONNS) | $lp99_hap | ≤ 1.5 | $(verdict "$lp99_hap" '<=' 1.5) |"
		fi
		if [ "$TUNED" = 1 ]; then
			echo "| holdfast / httputil64 throughput | $(ratio "${rps[holdfast]}" "${rps[httputil64]}") | – | context |"
		fi
		echo "| holdfast / nginx throughput | $(ratio "${rps[holdfast]}" "${rps[nginx]}") | – | context |"
		echo "| holdfast / nginx p99 (-c$CONNS) | $(ratio "${p99[holdfast]}" "${p99[nginx]}") | – | context |"
		echo "| holdfast / HAProxy CPU per request | $(ratio "${cpu[holdfast]}" "${cpu[haproxy]}") | – | context |"
		echo "| holdfast / httputil CPU per request | $(ratio "${cpu[holdfast]}" "${cpu[httputil]}") | – | context |"
	fi
	if [ -n "$BASELINE" ]; then pair_rows holdfast holdfast-base "holdfast / holdfast-base ($base_rev)" regression; fi
	if [ "$AB" = 1 ]; then pair_rows hf-own hf-nethttp "hf-own / hf-nethttp"; fi
	echo
	echo "CPU µs/req: user+system CPU of the target's own processes during its -c$CONNS run, per request (for direct, the backend's);"
	echo "the figure the machine's other load disturbs least. Errors (non-2xx responses + socket errors), all runs:"
	for t in "${targets[@]}"; do printf ' %s %s;' "$t" "${errs[$t]}"; done
	echo
	echo "Raw wrk output: bench/results/proxy-wrk.txt."
	if [ "$IDLE_CONNS" -gt 0 ]; then idle_rows; fi
} >"$results/proxy.md"

# PROFILE=1: a CPU profile of holdfast's data plane under the same load and
# the same route, taken after the measured rounds so it disturbs none of them.
if [ "$PROFILE" = 1 ]; then
	holdfast_config "$PROFILED" "$PROFILED_ADMIN" "$work/profiled.yaml"
	GOMAXPROCS=$PROXY_CPUS "$work/hfprofile" -c "$work/profiled.yaml" -pprof "$PPROF" 2>"$work/profiled.log" & pids+=($!)
	wait_http "http://$PROFILED/"
	echo "profiling holdfast for ${PROFILE_SECONDS}s under wrk -c$CONNS" >&2
	wrk -t"$THREADS" -c"$CONNS" -d"$((PROFILE_SECONDS + 4))s" "http://$PROFILED/" >"$work/profile-wrk.txt" &
	wrk_pid=$!
	pids+=("$wrk_pid")
	sleep 2
	curl -fsS -o "$results/holdfast.cpu.prof" "http://$PPROF/debug/pprof/profile?seconds=$PROFILE_SECONDS"
	wait "$wrk_pid"
	go tool pprof -top -nodecount=40 "$work/hfprofile" "$results/holdfast.cpu.prof" >"$results/holdfast-profile.txt" 2>/dev/null
	echo "profile: bench/results/holdfast.cpu.prof, top functions in bench/results/holdfast-profile.txt" >&2
fi

echo >&2
cat "$results/proxy.md"
