#!/bin/bash
# run.sh [BUILD] - static analysis for `make check`.  Runs, over
# lib/ policy/ pam_module/ admin/ daemon/ (the code that ships; tests are not
# analysed):
#   1. cppcheck --enable=warning,portability --error-exitcode=1
#      (inline suppressions only, each with a comment saying why);
#   2. clang-tidy with the checked-in .clang-tidy, two files at a time;
#      its clang-analyzer-* checks are left to step 3, which runs the same
#      analyzer over the real build (running it twice cost ~40 s);
#   3. scan-build --status-bugs over a full build in BUILD/static-scan;
#   4. gcc -fanalyzer on each file (compile only, two at a time).
#      policy/parse.c is left out: gcc 12's analyzer takes ~20 s on it
#      and takes the arena's blocks (kept on the src, freed by
#      pol_src_free) for leaks; steps 1-3 and the fuzz_policy target
#      cover it.
# Prints each step's time and findings; exits 1 if any step found
# anything.  Measured on the 2-core machine: cppcheck ~3 s, clang-tidy ~2-5 s,
# scan-build ~40 s, gcc -fanalyzer ~10 s.
# STATIC_STEPS="cppcheck tidy" runs only those steps.
set -u
cd "$(dirname "$0")/../.."
build=${1:-build}
steps=${STATIC_STEPS:-cppcheck tidy scan fanalyzer}
srcs=$(ls lib/*.c policy/*.c pam_module/*.c admin/*.c daemon/*.c)
flags="-std=c11 -D_GNU_SOURCE -Ilib -Ipolicy -Ipam_module -Itests/common $(pkg-config --cflags libconfig liboath lmdb libqrencode openssl ldap 2>/dev/null)"
export flags
status=0 failed=""
out=$(mktemp)
trap 'rm -f "$out"' EXIT

step() {	# step NAME: time the command that follows, report its findings
	local name=$1 t0 t1 rc
	shift
	t0=$(date +%s%N)
	"$@" >"$out" 2>&1
	rc=$?
	t1=$(date +%s%N)
	t0=$(((t1 - t0) / 100000000))
	printf -- "---- static: %-14s %3d.%ds  " "$name" $((t0 / 10)) $((t0 % 10))
	if [ "$rc" -eq 0 ]; then
		echo "clean"
	else
		echo "FINDINGS"
		cat "$out"
		status=1
		failed="$failed $name"
	fi
}

run_cppcheck() {
	# -D__GNUC__: check the configuration we build (attributes on); without
	# it cppcheck tries every #ifdef combination for no gain.
	cppcheck --enable=warning,portability --error-exitcode=1 --inline-suppr \
		--std=c11 -D_GNU_SOURCE -D__GNUC__ -Ilib -Ipolicy -Ipam_module -Idaemon -Iadmin \
		-j2 --quiet $srcs
}

run_tidy() {
	# .clang-tidy sets WarningsAsErrors: '*': any finding exits non-zero,
	# and xargs then exits 123.
	# shellcheck disable=SC2016
	echo "$srcs" | xargs -P2 -n3 sh -c \
		'clang-tidy --quiet --checks=-clang-analyzer-* "$@" -- $flags' _ 2>&1 |
		grep -v "warnings\? generated\.$"
	return "${PIPESTATUS[1]}"
}

run_scan() {
	rm -rf "$build/static-scan" "$build/static-scan-report"
	scan-build --status-bugs -o "$build/static-scan-report" \
		make -j2 --no-print-directory B="$build/static-scan" OPT="-O0 -g" all >"$out.log" 2>&1
	local rc=$?
	grep -E "warning: .*\[[a-zA-Z]+\.[a-zA-Z.]+\]$" "$out.log" | sort -u
	[ "$rc" -ne 0 ] && tail -3 "$out.log"
	rm -f "$out.log"
	return $rc
}

run_fanalyzer() {
	# Only the analyzer's own warnings count: the ordinary -W set is the
	# build's business.
	# shellcheck disable=SC2016
	echo "$srcs" | tr ' ' '\n' | grep -v '^policy/parse.c$' | xargs -P2 -n1 sh -c \
		'gcc -fanalyzer -O0 $flags -c "$1" -o /dev/null 2>&1 |
		 grep -E "warning: .*-Wanalyzer|error: .*-Wanalyzer" && exit 1; exit 0' _
}

for s in $steps; do
	case $s in
	cppcheck) command -v cppcheck >/dev/null || { echo "static: cppcheck missing (make deps)"; exit 1; }
		step cppcheck run_cppcheck ;;
	tidy) command -v clang-tidy >/dev/null || { echo "static: clang-tidy missing (make deps)"; exit 1; }
		step clang-tidy run_tidy ;;
	scan) command -v scan-build >/dev/null || { echo "static: scan-build missing (make deps)"; exit 1; }
		step scan-build run_scan ;;
	fanalyzer) step gcc-fanalyzer run_fanalyzer ;;
	esac
done
[ "$status" -ne 0 ] && echo "static analysis: findings in:$failed"
exit $status
