#!/bin/bash
# `wardctl audit report` over password spraying: N authentication failures
# of N different users from one workstation within ten minutes (MAC'd
# records from bench/bench_report), N = 1,000 .. 100,000.  Goal: 100,000
# records in <= 2 s.  WARDCTL=path times another wardctl (an older build,
# for a before/after figure); a run over BENCH_REPORT_MAXSEC (default 120)
# is stopped and shown as such.
set -euo pipefail
b="$WARD_BUILD/bench/bench_report"
w="${WARDCTL:-$WARD_BUILD/wardctl}"
max="${BENCH_REPORT_MAXSEC:-120}"
dir=$(mktemp -d /var/tmp/ward-bench-report.XXXXXX)
trap 'rm -rf "$dir"' EXIT
chmod 0755 "$dir"
echo "wardctl: $w"
for n in ${BENCH_REPORT_SIZES:-1000 4000 8000 100000}; do
	"$b" "$dir/$n" "$n"
	s=$(date +%s%N)
	if /usr/bin/time -f '%M' -o "$dir/$n.mem" timeout "$max" \
		"$w" --config "$dir/$n/etc/ward.conf" audit report >"$dir/$n.out"; then
		e=$(date +%s%N)
		grep -q "spraying .*reg-ws-9: $n different users" "$dir/$n.out" ||
			{ echo "report over $n records: spraying not flagged"; exit 1; }
		printf 'audit report, %6d spraying records: %8.2f s, %6d KB max RSS\n' "$n" \
			"$(awk -v d=$((e - s)) 'BEGIN { print d / 1e9 }')" "$(tail -1 "$dir/$n.mem")"
	else
		printf 'audit report, %6d spraying records: stopped after %d s\n' "$n" "$max"
	fi
	rm -rf "${dir:?}/$n"
done
