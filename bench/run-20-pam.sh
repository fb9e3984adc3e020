#!/bin/bash
# A login, end to end: PAM transactions (auth with a valid code + account)
# through real libpam, pam_ward against pam_oath (1 and N users in its
# usersfile), pam_google_authenticator and pam_access, interleaved round by
# round so the ratios are fair on a shared machine.  pam_ward.so is a thin
# client: every ward.conf of the fixture gets its own wardd (the build's,
# started here on DIR/run/ROOT.sock, waited for until it answers, stopped by
# PID at the end or on interruption), and the service files say socket=.
# How each module gets a fresh code every transaction is explained at the
# top of bench/bench_pam.c.
#
# State on disk, audit.fsync = true, and libpam loading and unloading every
# module in every transaction (a fresh pam_start/pam_end per login), as a
# login process pays it:
#  1. in one process: pam_ward 1 user / pam_oath 1 user (goal <= x0.5),
#     pam_oath N users / pam_ward N users (goal >= x10), and, when slapd is
#     installed, a directory user over loopback ldaps:// with wardd's
#     connection warm (goal p50 <= 1 ms; tests/dir/slapd.sh with
#     contrib/ldap/hospital.ldif, no role cache);
#  2. fsync/fdatasync calls per login (auth + account) in wardd (and how many
#     of them come before the answers, which a login waits for) and in the
#     login process, counted with strace -c, against pam_oath's;
#  3. whole processes: pamtester, one login per process, 1 and N users,
#     pam_ward / pam_oath (goal <= x1.0); pamtester reads only /etc/pam.d,
#     so its four services are copied there as ward-bench-PID-* and removed
#     at the end;
#  4. CLIENTS processes logging in at once (distinct users), pam_ward and
#     pam_oath with N users: p50/p99 per login, all answered;
#  5. as 1 with the files on tmpfs, where fsync costs nothing (CPU and
#     round trips only).  Skipped when /dev/shm is missing;
#  6. system calls per phase (strace -f -c on wardd, attached by PID, and
#     on the login process over the same logins), N users and the
#     directory user, files on disk.
#
# Environment: BENCH_PAM_USERS (default 10000), BENCH_PAM_ROUNDS (default
# 300 per run), BENCH_PAM_MAXSEC (default 45: a run stops its rounds after
# that long), BENCH_PAM_CLIENTS (default 64), BENCH_PAM_CROWD_ROUNDS
# (default 10), BENCH_PAM_FSYNC_LOGINS (default 20), BENCH_PAM_PARTS (the
# parts to run, default "1 2 3 4 5 6"; e.g. "1 6" for a quick A/B).
set -euo pipefail
src=${WARD_SRC:-$PWD}
# shellcheck source=bench/common/wardd.sh
. "$src/bench/common/wardd.sh"
b="$WARD_BUILD/bench/bench_pam"
n=${BENCH_PAM_USERS:-10000}
rounds=${BENCH_PAM_ROUNDS:-300}
maxsec=${BENCH_PAM_MAXSEC:-45}
clients=${BENCH_PAM_CLIENTS:-64}
crowd_rounds=${BENCH_PAM_CROWD_ROUNDS:-10}
fsync_logins=${BENCH_PAM_FSYNC_LOGINS:-20}
parts=" ${BENCH_PAM_PARTS:-1 2 3 4 5 6} "
part() { [[ $parts == *" $1 "* ]]; }
moddir=/lib/x86_64-linux-gnu/security

missing=()
for m in pam_oath pam_google_authenticator pam_access pam_permit pam_deny; do
	[ -e "$moddir/$m.so" ] || missing+=("$m")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "skipped: ${missing[*]} not installed (contrib/install-deps.sh installs them)"
	exit 0
fi
bench_need_root

prefix="ward-bench-$$"
disk=$(mktemp -d /tmp/ward-bench-pam.XXXXXX)
ldap=
shm=
etcpam=()
declare -A wpid=()      # wardd PID by root: w1, wbig, wdir
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	bench_jobs_stop
	wardd_stop_all
	if [ ${#etcpam[@]} -gt 0 ]; then rm -f "${etcpam[@]}"; fi
	if [ -n "$ldap" ]; then "$src/tests/dir/slapd.sh" clean "$ldap/srv" >/dev/null 2>&1 || true; fi
	rm -rf "$disk" ${shm:+"$shm"} ${ldap:+"$ldap"}
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
if [ -d /dev/shm ]; then
	shm=$(mktemp -d /dev/shm/ward-bench-pam.XXXXXX 2>/dev/null) || shm=
fi

ldapenv=()
if [ -x "${SLAPD:-/usr/sbin/slapd}" ] && command -v slapadd >/dev/null &&
	command -v ldapadd >/dev/null; then
	ldap=$(mktemp -d /tmp/ward-bench-pam-ldap.XXXXXX)
	t0=$(date +%s%N)
	"$src/tests/dir/slapd.sh" start "$ldap/srv" "$src/contrib/ldap/hospital.ldif" >/dev/null
	echo "slapd with contrib/ldap/hospital.ldif ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
	ldapenv=("$ldap/srv/env")
else
	echo "directory case skipped: slapd not installed (contrib/install-deps.sh installs it)"
fi

# fixture DIR: everything wardd and the anchors read, root-owned and not
# group/world-writable (wardd's trusted opener insists); then a wardd on
# each ward.conf.
fixture() {
	local dir=$1 r t0
	t0=$(date +%s)
	chmod 0755 "$dir"
	bench_fg "$b" prepare "$dir" "$n" "$module" "$prefix" "${ldapenv[@]}"
	for r in w1 wbig; do
		"$wardctl" --config "$dir/$r/ward.conf" init >/dev/null
		# user 0 through wardctl itself, the rest straight into the store
		"$wardctl" --config "$dir/$r/ward.conf" enroll u00000 --secret "$("$b" secret 0)" \
			--qr none >/dev/null
		"$wardctl" --config "$dir/$r/ward.conf" policy compile >/dev/null
	done
	if [ -d "$dir/wdir" ]; then
		"$wardctl" --config "$dir/wdir/ward.conf" init >/dev/null
		"$wardctl" --config "$dir/wdir/ward.conf" enroll heidi --secret "$("$b" secret 0)" \
			--qr none >/dev/null
		"$wardctl" --config "$dir/wdir/ward.conf" policy compile >/dev/null
	fi
	# One LMDB commit (with its fsync) per user: on tmpfs when there is
	# one, then the file copied into place (before wardd opens the store).
	if [ -n "$shm" ]; then
		mkdir -m 0700 "$shm/enroll"
		cp "$dir/wbig/state/data.mdb" "$shm/enroll/"
		bench_fg "$b" enroll "$dir/wbig/ward.conf" 1 "$n" "$shm/enroll"
		cp "$shm/enroll/data.mdb" "$dir/wbig/state/data.mdb"
		rm -rf "$shm/enroll"
	else
		bench_fg "$b" enroll "$dir/wbig/ward.conf" 1 "$n"
	fi
	for r in w1 wbig wdir; do
		[ -d "$dir/$r" ] || continue
		wardd_start "$dir/$r/ward.conf" "$dir/run/$r.sock" "$dir/wardd-$r.log"
		wpid[$r]=$WARDD_PID
	done
	# The policy files were written and compiled a moment ago: a wardd
	# cannot trust their times for FILE_ID_RACY_SECONDS (2 s) and loads them
	# again at every request until then; its first load after that window
	# stamps the snapshot again (ward-policy(5), "COMPILED SNAPSHOT"),
	# which opens one more window.  Untimed logins through each wardd with
	# the windows waited out, so the timed logins meet a wardd as it runs
	# between policy changes.
	for i in 1 2 3; do
		bench_fg "$b" loop "$dir" "$n" ward1 1 >/dev/null
		bench_fg "$b" loop "$dir" "$n" wardbig 1 >/dev/null
		if [ -d "$dir/wdir" ]; then bench_fg "$b" loop "$dir" "$n" warddir 1 >/dev/null; fi
		sleep 3
	done
	echo "fixture in $dir: N = $n users; pam_ward policy text" \
		"$(du -k "$dir/wbig/etc/policy.conf" | cut -f1) KiB, snapshot" \
		"$(du -k "$dir/wbig/etc/policy.conf.snap" | cut -f1) KiB, store" \
		"$(du -k "$dir/wbig/state/data.mdb" | cut -f1) KiB; pam_oath usersfile" \
		"$(du -k "$dir/oathbig" | cut -f1) KiB; pam_access file" \
		"$(du -k "$dir/accessbig" | cut -f1) KiB; wardd pids ${wpid[w1]} (1 user)," \
		"${wpid[wbig]} (N users)${wpid[wdir]:+, ${wpid[wdir]} (directory)} ($(( $(date +%s) - t0 )) s)"
}

# fsyncs FILE: "fsync N, fdatasync M" from strace -c's summary in FILE
fsyncs() {
	awk '$NF == "fsync" { f = $4 } $NF == "fdatasync" { d = $4 }
		END { printf "%d %d\n", f, d }' "$1"
}

# count_fsyncs DIR: fsync-class calls per login (auth + account), N-user
# cases, counted by strace -c: in wardd (attached by PID around the
# logins) and in the login process, against pam_oath's login process.
count_fsyncs() {
	local dir=$1 out=$1/strace spid i f d pre cf cd of od
	if ! command -v strace >/dev/null; then
		echo "skipped: strace not installed (contrib/install-deps.sh installs it)"
		return 0
	fi
	mkdir -p "$out"
	# every flush of wardd, with the file it was for
	strace -f -qq -y -e trace=fsync,fdatasync -o "$out/wardd" -p "${wpid[wbig]}" \
		2>"$out/err" &
	spid=$!
	bench_track "$spid"
	# attached when the kernel names a tracer for wardd
	for i in $(seq 1 100); do
		[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/${wpid[wbig]}/status")" != 0 ] && break
		running "$spid" || break
		sleep 0.05
	done
	if ! running "$spid"; then
		wait "$spid" || true
		echo "skipped: strace cannot attach to wardd here: $(head -1 "$out/err")"
		return 0
	fi
	bench_fg strace -f -qq -c -e trace=fsync,fdatasync -o "$out/client" \
		"$b" loop "$dir" "$n" wardbig "$fsync_logins" >/dev/null
	kill -INT "$spid"
	wait "$spid" || true
	bench_fg strace -f -qq -c -e trace=fsync,fdatasync -o "$out/oath" \
		"$b" loop "$dir" "$n" oathbig "$fsync_logins" >/dev/null
	# Which file each flush was for (strace -y): a phase answers only
	# after its record is flushed in the audit log; the store's commit
	# (data.mdb) comes after the answers (lib/state.h,
	# state_keep_recorded_pending: wardd's loop makes it once the engine
	# is idle, so the phases of a login, and logins close together, share
	# it).
	read -r f d pre < <(awk '
		$2 ~ /^fsync\(/ { f++ }
		$2 ~ /^fdatasync\(/ { d++ }
		$2 ~ /^f(data)?sync\(/ && index($0, "data.mdb") == 0 { pre++ }
		END { printf "%d %d %d\n", f, d, pre }' "$out/wardd")
	read -r cf cd < <(fsyncs "$out/client")
	read -r of od < <(fsyncs "$out/oath")
	awk -v n="$fsync_logins" -v f="$f" -v d="$d" -v cf="$cf" -v cd="$cd" -v of="$of" \
		-v od="$od" -v pre="$pre" 'BEGIN {
		w = (f + d + cf + cd) / n; o = (of + od) / n
		printf "%d logins (auth + account, N users, audit.fsync = true), strace:\n", n
		printf "  pam_ward: in wardd %d fsync + %d fdatasync, in the login process %d + %d" \
			" = %.1f per login\n", f, d, cf, cd, w
		printf "  pam_ward: of those, before the answers (a phase waits for them): %.1f" \
			" per login; after them: %.1f\n", (pre + cf + cd) / n, (f + d - pre) / n
		printf "  pam_oath: in the login process %d fsync + %d fdatasync = %.1f per login\n",
			of, od, o
		if (o > 0)
			printf "  pam_ward / pam_oath: x%.1f\n", w / o
	}'
}

# calls FILE: "total top" from strace -c's summary in FILE: all calls, and
# the ten commonest as name:count
calls() {
	awk '$1 ~ /^-+$/ { sep++; next }
		sep == 1 && NF >= 5 { c = $4; name = $NF; n[name] = c }
		$NF == "total" { t = $4 }
		END {
			for (k in n) print n[k], k
			print t, "TOTAL"
		}' "$1" | sort -rn | awk '
		$2 == "TOTAL" { total = $1; next }
		{ top = top (i++ < 12 ? sprintf(" %s:%d", $2, $1) : "") }
		END { printf "%d%s\n", total, top }'
}

# count_calls DIR SERVICE ROOT LOGINS: system calls per phase (a login is
# two: auth and account) in wardd and in the login process
count_calls() {
	local dir=$1 svc=$2 root=$3 logins=$4 out=$1/strace-calls w c
	if ! command -v strace >/dev/null; then
		echo "skipped: strace not installed (contrib/install-deps.sh installs it)"
		return 0
	fi
	mkdir -p "$out"
	# one untraced login first: the same caches as a timed one
	"$b" loop "$dir" "$n" "$svc" 2 >/dev/null
	strace_attach "${wpid[$root]}" "$out/wardd-$svc" -c || return 0
	bench_fg strace -f -qq -c -o "$out/client-$svc" \
		"$b" loop "$dir" "$n" "$svc" "$logins" >/dev/null
	kill -INT "$SPID"
	wait "$SPID" || true
	read -r w wtop < <(calls "$out/wardd-$svc")
	read -r c ctop < <(calls "$out/client-$svc")
	awk -v n="$logins" -v w="$w" -v c="$c" -v s="$svc" 'BEGIN {
		printf "%s, %d logins: wardd %.1f calls a phase, the login process %.1f a login" \
			" (libpam and every module loaded included)\n", s, n, w / (2 * n), c / n }'
	echo "  wardd, most frequent over $((2 * logins)) phases:$wtop"
	echo "  login process, over $logins logins:$ctop"
}

rc=0
fixture "$disk"
if part 1; then
	echo
	echo "-- 1. files on disk ($(df --output=fstype "$disk" | tail -1)), modules loaded per transaction"
	bench_fg "$b" run "$disk" "$n" "$rounds" "$maxsec" || rc=1
fi
if part 2; then
	echo
	echo "-- 2. fsync-class calls per login"
	count_fsyncs "$disk"
fi
if part 3; then
	echo
	echo "-- 3. whole process: pamtester, one login per process, files on disk"
	if command -v pamtester >/dev/null; then
		for s in oath1 oathbig ward1 wardbig; do
			etcpam+=("/etc/pam.d/$prefix-$s")
			cp "$disk/pam.d/$prefix-$s" "/etc/pam.d/$prefix-$s"
		done
		bench_fg "$b" process "$disk" "$n" "$rounds" "$maxsec" "$(command -v pamtester)" "$prefix" || rc=1
		rm -f "${etcpam[@]}"
		etcpam=()
	else
		echo "skipped: pamtester not installed (contrib/install-deps.sh installs it)"
	fi
fi
if part 4; then
	echo
	echo "-- 4. $clients clients at once, files on disk, modules loaded per transaction"
	c=$clients
	if [ $((n / 2)) -lt "$c" ]; then
		c=$((n / 2))
		echo "(clients cut to $c: N = $n)"
	fi
	bench_fg "$b" crowd "$disk" "$n" "$c" "$crowd_rounds" "$maxsec" || rc=1
fi
if part 6; then
	echo
	echo "-- 6. system calls per phase, files on disk"
	count_calls "$disk" wardbig wbig "$fsync_logins"
	if [ -n "${wpid[wdir]:-}" ]; then
		count_calls "$disk" warddir wdir "$fsync_logins"
	fi
fi
wardd_stop_all
rm -rf "$disk"
if [ -n "$shm" ] && part 5; then
	mkdir "$shm/f"
	fixture "$shm/f"
	echo
	echo "-- 5. files on tmpfs (fsync is free), modules loaded per transaction"
	bench_fg "$b" run "$shm/f" "$n" "$rounds" "$maxsec" || rc=1
fi
exit $rc
