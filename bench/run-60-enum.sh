#!/bin/bash
# Does the time of an answer tell whether a user exists?  pam_ward gives
# users it must not tell apart the same prompt and, after a wrong code, the
# same answer ("not enrolled", PAM_AUTH_ERR); tests/fault ("the same work
# whether a user exists or not") proves it makes the same file, store and
# audit calls for them.  This measures the time, through real libpam with
# the module kept loaded: pam_authenticate answered "000000", timed to the
# prompt and from the code to the answer, for
#   local:     a name found nowhere, a name only in /etc/passwd, a policy
#              user (rule with mfa_grace) not enrolled, and, as a labelled
#              contrast, an enrolled user with a wrong code;
#   directory: (ldaps:// to a throwaway slapd with contrib/ldap/hospital.ldif,
#              cache_seconds = 0) no entry, in the nurses group, in a group
#              nested in it, in a group without a role.
# Cases run interleaved round by round; it prints medians, p90s, ratios
# and per-round differences against the first case of each group, and a
# WARNING when an answer differs.  Measured, not judged: no thresholds (a
# shared machine's noise is part of what a reader must weigh).  See the top
# of bench/bench_enum.c.  On a starved machine slapd can miss even the
# bench's 10 s timeout_ms: that login answers "roles cannot be checked"
# (no prompt), and the WARNING lines say so.
#
# Environment: BENCH_ENUM_ROUNDS (default 400), BENCH_ENUM_MAXSEC (default
# 40: the rounds stop after that long).
set -euo pipefail
src=${WARD_SRC:-$PWD}
# shellcheck source=bench/common/wardd.sh
. "$src/bench/common/wardd.sh"
b="$WARD_BUILD/bench/bench_enum"
rounds=${BENCH_ENUM_ROUNDS:-400}
maxsec=${BENCH_ENUM_MAXSEC:-40}

bench_need_root

dir=$(mktemp -d /tmp/ward-bench-enum.XXXXXX)
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	bench_jobs_stop
	wardd_stop_all
	"$src/tests/dir/slapd.sh" clean "$dir/ldap" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# Everything pam_ward reads: root-owned, not group/world-writable.
chmod 0755 "$dir"

env=()
if [ -x "${SLAPD:-/usr/sbin/slapd}" ] && command -v slapadd >/dev/null &&
	command -v ldapadd >/dev/null; then
	t0=$(date +%s%N)
	"$src/tests/dir/slapd.sh" start "$dir/ldap" "$src/contrib/ldap/hospital.ldif" >/dev/null
	echo "slapd with contrib/ldap/hospital.ldif ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
	env=("$dir/ldap/env")
else
	echo "directory half skipped: slapd not installed (contrib/install-deps.sh installs it)"
fi

"$b" prepare "$dir" "$module" "${env[@]}"
"$wardctl" --config "$dir/ward-local.conf" init >/dev/null
"$wardctl" --config "$dir/ward-local.conf" enroll lena \
	--secret JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP --qr none >/dev/null
"$wardctl" --config "$dir/ward-local.conf" policy compile >/dev/null
wardd_start "$dir/ward-local.conf" "$dir/run/local.sock" "$dir/wardd-local.log"
if [ -e "$dir/ward-dir.conf" ]; then
	wardd_start "$dir/ward-dir.conf" "$dir/run/dir.sock" "$dir/wardd-dir.log"
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
bench_fg "$b" run "$dir" "$rounds" "$maxsec" "$module"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
