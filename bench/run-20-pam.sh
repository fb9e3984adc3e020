#!/bin/bash
# End-to-end PAM transactions per second (auth with a valid code + account),
# in one process through real libpam (pam_start_confdir): pam_ward against
# pam_oath (1 and N users in its usersfile) and pam_google_authenticator,
# plus account-only against pam_access, interleaved round by round so the
# ratios are fair on a shared machine.  How each module gets a fresh code
# every transaction is explained at the top of bench/bench_pam.c.
#
# Three runs:
#  1. files on disk, modules loaded at pam_start and unloaded at pam_end as
#     libpam does (what a login process pays: its PAM handle is its first);
#  2. files on disk, every module kept loaded by the benchmark (the
#     modules' own work, including their fsyncs);
#  3. as 2 with the files on tmpfs, where fsync costs nothing (the modules'
#     CPU work).  Skipped when /dev/shm is missing.
#
# Environment: BENCH_PAM_USERS (default 10000), BENCH_PAM_ROUNDS (default
# 300 per run), BENCH_PAM_MAXSEC (default 45: a run stops its rounds after
# that long).
set -euo pipefail
b="$WARD_BUILD/bench/bench_pam"
wardctl="$WARD_BUILD/wardctl"
module="$WARD_BUILD/pam_ward.so"
n=${BENCH_PAM_USERS:-10000}
rounds=${BENCH_PAM_ROUNDS:-300}
maxsec=${BENCH_PAM_MAXSEC:-45}
moddir=/lib/x86_64-linux-gnu/security

missing=()
for m in pam_oath pam_google_authenticator pam_access pam_permit pam_deny; do
	[ -e "$moddir/$m.so" ] || missing+=("$m")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "skipped: ${missing[*]} not installed (contrib/install-deps.sh installs them)"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "skipped: needs root (pam_ward reads a root-owned store; wardctl init)"
	exit 0
fi

disk=$(mktemp -d /tmp/ward-bench-pam.XXXXXX)
shm=
trap 'rm -rf "$disk" ${shm:+"$shm"}' EXIT
if [ -d /dev/shm ]; then
	shm=$(mktemp -d /dev/shm/ward-bench-pam.XXXXXX 2>/dev/null) || shm=
fi

# fixture DIR: everything the modules read, root-owned and not group/world-
# writable (pam_ward's trusted opener insists).
fixture() {
	local dir=$1 r t0
	t0=$(date +%s)
	chmod 0755 "$dir"
	"$b" prepare "$dir" "$n" "$module"
	for r in w1 wbig; do
		"$wardctl" --config "$dir/$r/ward.conf" init >/dev/null
		# user 0 through wardctl itself, the rest straight into the store
		"$wardctl" --config "$dir/$r/ward.conf" enroll u00000 --secret "$("$b" secret 0)" \
			--qr none >/dev/null
		"$wardctl" --config "$dir/$r/ward.conf" policy compile >/dev/null
	done
	# One LMDB commit (with its fsync) per user: on tmpfs when there is
	# one, then the file copied into place.
	if [ -n "$shm" ]; then
		mkdir -m 0700 "$shm/enroll"
		cp "$dir/wbig/state/data.mdb" "$shm/enroll/"
		"$b" enroll "$dir/wbig/ward.conf" 1 "$n" "$shm/enroll"
		cp "$shm/enroll/data.mdb" "$dir/wbig/state/data.mdb"
		rm -rf "$shm/enroll"
	else
		"$b" enroll "$dir/wbig/ward.conf" 1 "$n"
	fi
	echo "fixture in $dir: N = $n users; pam_ward policy text" \
		"$(du -k "$dir/wbig/etc/policy.conf" | cut -f1) KiB, snapshot" \
		"$(du -k "$dir/wbig/etc/policy.conf.snap" | cut -f1) KiB, store" \
		"$(du -k "$dir/wbig/state/data.mdb" | cut -f1) KiB; pam_oath usersfile" \
		"$(du -k "$dir/oathbig" | cut -f1) KiB; pam_access file" \
		"$(du -k "$dir/accessbig" | cut -f1) KiB ($(( $(date +%s) - t0 )) s)"
}

pin=("$moddir"/pam_{permit,deny,oath,google_authenticator,access}.so "$module")
rc=0
fixture "$disk"
echo
echo "-- run 1: files on disk ($(df --output=fstype "$disk" | tail -1)), modules loaded per transaction"
"$b" run "$disk" "$n" "$rounds" "$maxsec" || rc=1
echo
echo "-- run 2: files on disk, modules kept loaded"
"$b" run "$disk" "$n" "$rounds" "$maxsec" "${pin[@]}" || rc=1
rm -rf "$disk"
if [ -n "$shm" ]; then
	mkdir "$shm/f"
	fixture "$shm/f"
	echo
	echo "-- run 3: files on tmpfs (fsync is free), modules kept loaded"
	"$b" run "$shm/f" "$n" "$rounds" "$maxsec" "${pin[@]}" || rc=1
fi
exit $rc
