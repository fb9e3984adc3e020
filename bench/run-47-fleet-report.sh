#!/bin/bash
# `wardctl audit report --fleet` over a collector's folder of HOSTS hosts
# with RECORDS records each (tests/tools/auditgen fleet: chained and MAC'd
# under each host's derived key), default 500 x 10,000 = 5 million
# records, 2.3 GB: wall clock, records/s and max RSS, and `audit verify
# --fleet` alone (the first of the report's two passes) for the split.
# Goal: 500 x 10,000 in <= 10 s on the 2-core machine, memory bounded (it
# grows with hosts and users, not records).  WARDCTL=path times another
# build (before/after); the folder is made once per run under /var/tmp.
set -euo pipefail
g="$WARD_BUILD/tests/tools/auditgen"
w="${WARDCTL:-$WARD_BUILD/wardctl}"
hosts="${BENCH_FLEET_HOSTS:-500}" records="${BENCH_FLEET_RECORDS:-10000}"
dir=$(mktemp -d /var/tmp/ward-bench-fleet.XXXXXX)
trap 'rm -rf "$dir"' EXIT
chmod 0700 "$dir"
head -c 32 /dev/urandom >"$dir/fleet.key"
chmod 0600 "$dir/fleet.key"
echo "wardctl: $w; $hosts hosts x $records records (auditgen fleet)"
"$g" fleet "$dir/f" "$dir/fleet.key" "$hosts" "$records"
echo "folder: $(du -sh "$dir/f" | cut -f1); cores: $(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg)"
# each measured once warm (the files in the page cache, as at a collector
# that just received them), then BENCH_FLEET_RUNS times
"$w" audit verify --fleet "$dir/f" --fleet-key "$dir/fleet.key" >/dev/null 2>&1 || true
for i in $(seq "${BENCH_FLEET_RUNS:-3}"); do
	for sub in verify report; do
		/usr/bin/time -f '%e %M %U %S' -o "$dir/t" "$w" audit "$sub" --fleet "$dir/f" \
			--fleet-key "$dir/fleet.key" >"$dir/out" 2>&1 || true
		read -r s kb us ss <"$dir/t"
		n=$((hosts * records))
		printf 'audit %-6s --fleet, %d records: %6.2f s wall (%5.2f s CPU), %s records/s, %6d KB max RSS\n' \
			"$sub" "$n" "$s" "$(awk -v a="$us" -v b="$ss" 'BEGIN { print a + b }')" \
			"$(awk -v n="$n" -v s="$s" 'BEGIN { printf "%9.0f", (s > 0 ? n / s : 0) }')" "$kb"
		if [ "$sub" = report ] &&
			! grep -q "$hosts hosts analysed (0 left out), $n records" "$dir/out"; then
			echo "report: not every record analysed:"
			cat "$dir/out"
			exit 1
		fi
	done
done
