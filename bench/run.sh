#!/bin/bash
# run.sh - `make bench`: runs every bench/run-*.sh in order.  Each prints
# its figures and the anchors measured side by side in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${WARD_BUILD:=$PWD/build}"
export WARD_BUILD WARD_SRC=$PWD
echo "Ward benchmarks on $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
for s in bench/run-*.sh; do
	[ -e "$s" ] || continue
	echo
	echo "==== $s"
	bash "$s"
done
