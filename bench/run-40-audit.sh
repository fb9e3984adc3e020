#!/bin/bash
# Audit trail: append rate with and without fsync, from 1 and 16 writer
# processes, and verify rate (goals: >= 20,000 records/s without fsync,
# verify >= 500,000 records/s).  The log lives on the disk of /var/tmp.
set -euo pipefail
b="$WARD_BUILD/bench/bench_audit"
dir=$(mktemp -d /var/tmp/ward-bench-audit.XXXXXX)
trap 'rm -rf "$dir"' EXIT
chmod 0755 "$dir"
echo "audit log on $(df -P "$dir" | awk 'NR==2 {print $1}') ($(stat -f -c %T "$dir"))"
"$b" "$dir" "${AUDIT_BENCH_RECORDS:-40000}"
