#!/bin/bash
# run.sh [BUILD] - the PAM-level suites (tests/pam/test_pam_auth and
# test_pam_account) under valgrind memcheck, for `make check`: the suite
# process (libpam and BUILD/pam_ward.so, the thin client) and, through
# WARD_WARDD_PREFIX (tests/common/testutil.c), every wardd the suite starts,
# each writing its own log.  BUILD must be a build without ASan (valgrind
# and ASan do not mix): `make check` passes build/.
#
#   --error-exitcode: any memcheck error (invalid read/write, use of
#     uninitialised memory, bad free) in the suite fails the step; in a
#     wardd, any line in its log does (valgrind -q writes only errors);
#   --leak-check=full --errors-for-leak-kinds=definite: a definite leak
#     fails it; "still reachable" (libpam, libconfig, OpenSSL and libldap
#     globals kept until exit) does not;
#   --trace-children=no: the programs the suites exec (wardctl, oathtool,
#     sh) run natively (wardctl has its own suites); wardd is run under
#     valgrind explicitly, as said above;
#     --child-silent-after-fork: forked children that exec are not
#     reported twice;
#   --suppressions=tests/valgrind/ward.supp: leaks inside libraries that
#     are not ours, each entry saying why.
# A suite that fails its own assertions fails the step too.  Prints each
# suite's time.
set -u
cd "$(dirname "$0")/../.."
build=${1:-build}
build=$(cd "$build" && pwd)
command -v valgrind >/dev/null || { echo "valgrind: not installed (make deps)"; exit 1; }
if nm -D "$build/wardd" 2>/dev/null | grep -q __asan_init; then
	echo "valgrind: $build is an ASan build; give a plain one"
	exit 1
fi
status=0
out=$(mktemp)
vdir=$(mktemp -d)
trap 'rm -rf "$out" "$vdir"' EXIT
vg=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
	--num-callers=30 --suppressions="$PWD/tests/valgrind/ward.supp")
for t in pam/test_pam_auth pam/test_pam_account; do
	rm -f "$vdir"/wardd.*
	t0=$(date +%s%N)
	WARD_BUILD=$build WARD_SRC=$PWD \
		WARD_WARDD_PREFIX="${vg[*]} --log-file=$vdir/wardd.%p" \
		"${vg[@]}" --error-exitcode=99 --trace-children=no --child-silent-after-fork=yes \
		"$build/tests/$t" >"$out" 2>&1
	rc=$?
	t1=$(date +%s%N)
	t0=$(((t1 - t0) / 100000000))
	printf -- "---- valgrind: %-20s %3d.%ds  " "${t#pam/}" $((t0 / 10)) $((t0 % 10))
	dlogs=$(cat "$vdir"/wardd.* 2>/dev/null | grep -v "Warning: set address range perms")
	nd=$(ls "$vdir"/wardd.* 2>/dev/null | wc -l)
	if [ "$rc" = 0 ] && [ "$nd" -gt 0 ] && [ -z "$dlogs" ]; then
		echo "clean (and $nd wardd)"
	elif [ "$rc" = 0 ] && [ "$nd" -eq 0 ]; then
		echo "NO WARDD RAN UNDER VALGRIND"; status=1
	elif [ "$rc" = 0 ] || [ "$rc" = 99 ]; then
		echo "MEMCHECK ERRORS"; grep -v "Warning: set address range perms" "$out"
		printf '%s\n' "$dlogs"; status=1
	else
		echo "SUITE FAILED (exit $rc)"; grep -v "Warning: set address range perms" "$out"
		printf '%s\n' "$dlogs"; status=1
	fi
done
exit $status
