#!/bin/bash
# check.sh BUILD STAGE_ROOT - make check's stages, in this order:
#   1. the build in BUILD and every suite over it (tests/run-suites.sh);
#   2. the same suites over the ASan+UBSan build in build/asan;
#   3. valgrind over the PAM-level tests (BUILD);
#   4. the PAM benchmarks, briefly (tests/bench-smoke.sh);
#   5. static analysis (tests/static/run.sh).
# Suites never run side by side (they capture syslog by binding /dev/log),
# but the CPU work that runs no suite does: while stage 1's suites run,
# mostly waiting on their daemons, slapds and timeouts, the ASan build and
# the static analysis run beside them at the lowest CPU priority (nice 19),
# their output kept and printed in its place.  On the 2-core machine this
# takes about two minutes off make check.  Exits 1 if any stage failed;
# interrupted, it stops the background jobs it started (each its own
# process group) before it exits.
set -u
cd "$(dirname "$0")/.." || exit 1
build=$1 stage=$2
asan=$PWD/build/asan
make=${MAKE:-make}
tmp=$(mktemp -d)
bg_asan='' bg_static=''
status=0 failed=''

# shellcheck disable=SC2317 # called by the EXIT trap
stop_bg() {
	local p
	for p in $bg_asan $bg_static; do
		kill -TERM -- "-$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap stop_bg EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

fail() {
	status=1
	failed="$failed $1"
}

# A background job in its own session (so its whole group can be stopped),
# at nice 19, its output in $tmp/NAME.log; sets BG to its PID.
bg() {
	local name=$1
	shift
	setsid nice -n 19 "$@" >"$tmp/$name.log" 2>&1 &
	BG=$!
}

# Wait for background job PID; print its output; 0 when it succeeded.
bg_wait() {
	local pid=$1 name=$2 rc
	wait "$pid"
	rc=$?
	cat "$tmp/$name.log"
	return $rc
}

"$make" --no-print-directory B="$build" tests || exit 1
bg asan-build "$make" --no-print-directory B="$asan" SAN=1 tests
bg_asan=$BG
bg static tests/static/run.sh "$build"
bg_static=$BG

"$make" --no-print-directory B="$build" check-one || fail "suites"

echo "==== again under ASan+UBSan (build/asan) ===="
if bg_wait "$bg_asan" asan-build >"$tmp/asan-build.out"; then
	bg_asan=''
	"$make" --no-print-directory B="$asan" SAN=1 check-one || fail "suites-under-ASan"
else
	bg_asan=''
	cat "$tmp/asan-build.out"
	fail "ASan-build"
fi

echo "==== valgrind over the PAM-level tests ($build, not ASan) ===="
WARD_STAGE_ROOT=$stage tests/valgrind/run.sh "$build" || fail "valgrind"

echo "==== the PAM benchmarks run (briefly; figures not judged) ===="
if "$make" --no-print-directory B="$build" benches; then
	tests/bench-smoke.sh "$build" || fail "bench-smoke"
else
	fail "bench-build"
fi

echo "==== static analysis: cppcheck, clang-tidy, scan-build, gcc -fanalyzer ===="
echo "(run beside the suites of the first pass, at nice 19)"
bg_wait "$bg_static" static || fail "static-analysis"
bg_static=''

if [ "$status" -ne 0 ]; then
	echo "==== make check FAILED:$failed"
fi
exit "$status"
