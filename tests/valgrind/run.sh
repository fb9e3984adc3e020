#!/bin/bash
# run.sh [BUILD] - the PAM-level suites (tests/pam/test_pam_auth and
# test_pam_account, which load BUILD/pam_ward.so through real libpam) under
# valgrind memcheck, for `make check`.  BUILD must be a build
# without ASan (valgrind and ASan do not mix): `make check` passes build/.
#
#   --error-exitcode: any memcheck error (invalid read/write, use of
#     uninitialised memory, bad free) fails the step;
#   --leak-check=full --errors-for-leak-kinds=definite: a definite leak
#     fails it; "still reachable" (libpam, libconfig, OpenSSL and libldap
#     globals kept until exit) does not;
#   --trace-children=no: the programs the suites exec (wardctl, oathtool,
#     setpriv + the setuid helper, sh) run natively - valgrind cannot run a
#     setuid program anyway, and wardctl has its own suites;
#     --child-silent-after-fork: forked children that exec are not
#     reported twice;
#   --suppressions=tests/valgrind/ward.supp: leaks inside libraries that
#     are not ours, each entry saying why.
# A suite that fails its own assertions fails the step too.  Prints each
# suite's time.  Measured on the 2-core machine: ~25 s (auth) + ~6 s (account).
set -u
cd "$(dirname "$0")/../.."
build=${1:-build}
build=$(cd "$build" && pwd)
command -v valgrind >/dev/null || { echo "valgrind: not installed (make deps)"; exit 1; }
if nm -D "$build/pam_ward.so" 2>/dev/null | grep -q __asan_init; then
	echo "valgrind: $build is an ASan build; give a plain one"
	exit 1
fi
status=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in pam/test_pam_auth pam/test_pam_account; do
	t0=$(date +%s%N)
	WARD_BUILD=$build WARD_SRC=$PWD valgrind -q --error-exitcode=99 \
		--leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
		--trace-children=no --child-silent-after-fork=yes --num-callers=30 \
		--suppressions=tests/valgrind/ward.supp \
		"$build/tests/$t" >"$out" 2>&1
	rc=$?
	t1=$(date +%s%N)
	t0=$(((t1 - t0) / 100000000))
	printf -- "---- valgrind: %-20s %3d.%ds  " "${t#pam/}" $((t0 / 10)) $((t0 % 10))
	case $rc in
	0) echo "clean" ;;
	99) echo "MEMCHECK ERRORS"; grep -v "Warning: set address range perms" "$out"; status=1 ;;
	*) echo "SUITE FAILED (exit $rc)"; grep -v "Warning: set address range perms" "$out"; status=1 ;;
	esac
done
exit $status
