#!/bin/bash
# run-suites.sh SUITE... - run each test program, print its output, and
# close with one line "N passed, N failed" counting suites' CUnit tests.
# A suite passes when it exits 0.  WARD_BUILD and WARD_SRC are exported by
# the Makefile so suites find the built module and the sources.
set -u
pass=0 fail=0 failed_suites=""
# everything the suites print, for tests/security/no-secrets.sh
# and what the suites captured from syslog (tests/common/logcap.c)
all="$WARD_BUILD/tests/suites.out"
: >"$all"
: >"$WARD_BUILD/tests/syslog.out"
# which code may include and link what, first (counted as one test)
echo "---- static/layering.sh"
if "$(dirname "$0")/static/layering.sh" "$WARD_SRC" "$WARD_BUILD"; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	failed_suites="$failed_suites static/layering.sh"
fi
for t in "$@"; do
	name=${t#"$WARD_BUILD"/tests/}
	echo "---- $name"
	out=$(mktemp)
	# a hung suite is a failure, not a hung CI
	t0=$SECONDS
	timeout -k 10 600 "$t" >"$out" 2>&1
	rc=$?
	took=$((SECONDS - t0))
	[ "$rc" -eq 124 ] && echo "$name: timed out after 600 s" >>"$out"
	cat "$out"
	echo "($name: $took s)"
	cat "$out" >>"$all"
	# CUnit basic interface summary: "tests  N  N  N  N  0"
	read -r ran failed < <(awk '$1=="tests"{print $3, $5}' "$out" | tail -1)
	# a suite whose set-up failed ran none of its tests: a failure, whatever
	# its exit status says ("suites  N  N  n/a  F  0")
	read -r sfailed < <(awk '$1=="suites"{print $5}' "$out" | tail -1)
	rm -f "$out"
	ran=${ran:-0} failed=${failed:-0}
	if [ "${sfailed:-0}" != 0 ] && [ "$rc" -eq 0 ]; then
		rc=1
	fi
	if [ "$rc" -ne 0 ]; then
		failed_suites="$failed_suites $name"
		[ "$failed" -eq 0 ] && failed=1
	fi
	pass=$((pass + ran - failed))
	fail=$((fail + failed))
done
# no test secret in anything printed or logged (counted as one test)
echo "---- security/no-secrets.sh"
if "$(dirname "$0")/security/no-secrets.sh" "$WARD_BUILD" "$all" \
	"$WARD_BUILD/tests/syslog.out"; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	failed_suites="$failed_suites security/no-secrets.sh"
fi
echo "===="
[ -n "$failed_suites" ] && echo "failing suites:$failed_suites"
echo "tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ -z "$failed_suites" ]
