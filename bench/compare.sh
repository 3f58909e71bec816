#!/usr/bin/env bash
# compare.sh BEFORE [ROUNDS] runs the library benchmarks of bench/ (the
# like-for-like pairs against gobreaker, x/time/rate and failsafe-go) for the
# holdfast of commit BEFORE and for the working tree, in ROUNDS interleaved
# rounds (default 8; the order alternates each round), one CPU, so that both
# see the same machine at the same time. It prints the load average before,
# after and between rounds, benchstat's before/after table, and each pair's
# ratio per round (median [min–max]). Results go to $OUT (default a temp dir).
#
# BEFORE must contain this bench/ (d4f2d7c or later), so that both sides run
# the same benchmarks. Needs ~/go/bin/benchstat (go install
# golang.org/x/perf/cmd/benchstat@latest).
set -euo pipefail
before=${1:?usage: compare.sh BEFORE [ROUNDS]}
rounds=${2:-8}
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
tree=$(mktemp -d)
trap 'git -C "$here" worktree remove --force "$tree" >/dev/null 2>&1 || true' EXIT
git -C "$here" worktree add --detach -q "$tree" "$before"
(cd "$tree/bench" && go test -c -o "$out/before.test" .)
(cd "$here" && go test -c -o "$out/after.test" .)
bench='Breaker$|BreakerContext$|RateLimit$|Pipeline$'
: >"$out/before.txt"
: >"$out/after.txt"
echo "before: $(uptime)" | tee "$out/load.txt"
for i in $(seq "$rounds"); do
	order="before after"
	if ((i % 2 == 0)); then order="after before"; fi
	for side in $order; do
		"$out/$side.test" -test.run '^$' -test.bench "$bench" -test.benchmem -test.count 1 -test.cpu 1 >>"$out/$side.txt"
	done
	echo "round $i: $(uptime)" | tee -a "$out/load.txt"
done
echo "after: $(uptime)" | tee -a "$out/load.txt"
~/go/bin/benchstat "$out/before.txt" "$out/after.txt"

# ratio NUM DEN SCALE LABEL: NUM's ns/op over DEN's, round by round.
ratios() {
	awk -v num="$2" -v den="$3" -v scale="$4" -v label="$5" '
		$1 ~ /^Benchmark/ {
			name = $1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
			if (name == num) n[++nn] = $3
			if (name == den) d[++dd] = $3
		}
		END {
			for (i = 1; i <= nn && i <= dd; i++) r[i] = n[i] / d[i] * scale
			k = (nn < dd ? nn : dd)
			for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
			med = (k % 2 ? r[(k + 1) / 2] : (r[k / 2] + r[k / 2 + 1]) / 2)
			printf "  %-58s median %.2f [%.2f-%.2f]\n", label, med, r[1], r[k]
		}' "$1"
}
for side in before after; do
	echo "$side, per round:"
	f="$out/$side.txt"
	ratios "$f" Breaker/time-10s/gobreaker Breaker/time-10s/holdfast 1 "breaker time-10s, gobreaker / holdfast (x)"
	ratios "$f" Breaker/count-100/failsafe-go Breaker/count-100/holdfast 1 "breaker count-100, failsafe-go / holdfast (x)"
	ratios "$f" RateLimit/x-time-rate RateLimit/holdfast 1 "limiter Allow, x/time/rate / holdfast (x)"
	ratios "$f" Pipeline/4-policies-no-timeout/holdfast Pipeline/4-policies-no-timeout/failsafe-go 100 "4 policies, holdfast / failsafe-go (%)"
	ratios "$f" Pipeline/5-policies/holdfast Pipeline/5-policies/failsafe-go 100 "5 policies, waiting timeout, holdfast / failsafe-go (%)"
	ratios "$f" Pipeline/context-5-policies-abandoning-timeout/holdfast Pipeline/context-5-policies-abandoning-timeout/failsafe-go 100 "5 policies, abandoning timeout, holdfast / failsafe-go (%)"
done
echo "results in $out"
