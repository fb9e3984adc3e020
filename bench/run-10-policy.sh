#!/bin/bash
# Policy engine at two scales: decision latency, load time, memory, and the
# time a new process needs to be ready (load + one decision).
set -euo pipefail
b="$WARD_BUILD/bench/bench_policy"
dir=$(mktemp -d /tmp/ward-bench-policy.XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$b" gen small "$dir/small.conf"
"$b" gen large "$dir/large.conf"
echo "policy text: small $(du -h "$dir/small.conf" | cut -f1), large $(du -h "$dir/large.conf" | cut -f1)"
"$b" run "$dir/small.conf" small | tee "$dir/small.out"
"$b" run "$dir/large.conf" large | tee "$dir/large.out"
s50=$(sed -n 's/.*p50_ns=\([0-9]*\).*/\1/p' "$dir/small.out"); s99=$(sed -n 's/.*p99_ns=\([0-9]*\).*/\1/p' "$dir/small.out")
l50=$(sed -n 's/.*p50_ns=\([0-9]*\).*/\1/p' "$dir/large.out"); l99=$(sed -n 's/.*p99_ns=\([0-9]*\).*/\1/p' "$dir/large.out")
awk -v a="$s50" -v b="$l50" -v c="$s99" -v d="$l99" 'BEGIN {
	printf "large/small: p50 x%.2f, p99 x%.2f   (goals: p50 <= 1 us, p99 <= 5 us, within 2x of small)\n", b/a, d/c }'
for f in small large; do
	t=()
	for i in 1 2 3; do
		s=$(date +%s%N); "$b" ready "$dir/$f.conf"; e=$(date +%s%N)
		t+=($(( (e - s) / 1000000 )))
	done
	printf 'new process ready from text (%s): %s ms (3 runs)\n' "$f" "${t[*]}"
	"$b" compile "$dir/$f.conf" "$dir/$f.snap"
	t=()
	for i in 1 2 3 4 5; do
		s=$(date +%s%N); "$b" ready-snap "$dir/$f.snap"; e=$(date +%s%N)
		t+=($(( (e - s) / 100000 )))
	done
	t=($(printf '%s\n' "${t[@]}" | awk '{ printf "%.1f\n", $1 / 10 }'))
	printf 'new process ready from snapshot (%s, %s): %s ms (5 runs; goal <= 5 ms)\n' "$f" \
		"$(du -h "$dir/$f.snap" | cut -f1)" "${t[*]}"
	"$b" ready-snap "$dir/$f.snap" -v
done
# wardctl policy test as a new process, FILE.snap beside FILE (compiled by
# wardctl, so stamped with the text's identity): one question, the two
# sizes interleaved round by round, 15 rounds, medians of the wall time.
w="$WARD_BUILD/wardctl"
q=(--user u1 --roles r19,r35 --service s3-login --host h3-01 --at 2026-11-23T14:05)
for f in small large; do "$w" policy compile --policy "$dir/$f.conf" >/dev/null; done
declare -A pt
for i in $(seq 15); do
	for f in small large; do
		s=$EPOCHREALTIME
		"$w" policy test --policy "$dir/$f.conf" "${q[@]}" >/dev/null || true
		e=$EPOCHREALTIME
		pt[$f]+="$(( ${e/./} - ${s/./} )) "
	done
done
med() { printf '%s\n' $1 | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'; }
awk -v a="$(med "${pt[small]}")" -v b="$(med "${pt[large]}")" -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
	printf "wardctl policy test from the snapshot: small %.1f ms, large %.1f ms (x%.2f; load %s)   (goals: <= 20 ms, within 2x)\n", a, b, b / a, l }'
# Shapes that once made loading and policy diff quadratic: deep chains (one
# role inheriting the one before, 10,000 and 40,000 deep), and the diff of
# two 10,000-role policies differing in one permission.  What remains of
# their time is libconfig's parse of the roles group.
g="$WARD_SRC/bench/gen-policy-shapes.sh"
for n in 10000 40000; do
	"$g" chain "$n" "$dir/chain$n.conf"
	"$b" load "$dir/chain$n.conf" "chain $n"
done
"$g" diff 10000 "$dir/diff-old.conf" "$dir/diff-new.conf"
s=$(date +%s%N)
"$WARD_BUILD/wardctl" policy diff "$dir/diff-old.conf" "$dir/diff-new.conf" > "$dir/diff.out" || true
e=$(date +%s%N)
printf 'policy diff, two 10,000-role policies differing in one permission: %s ms, %s changes\n' \
	"$(( (e - s) / 1000000 ))" "$(grep -c '^  role' "$dir/diff.out")"
