#!/bin/bash
# systemd.sh WORK BASE OLDDEBS NEWDEBS OLDVER NEWVER - the packages under a
# running systemd: a Debian 12 container booted by systemd-nspawn, with
# systemd as its PID 1, so the maintainer scripts' enable, start,
# try-restart and stop and the socket activation run for real (a chroot has
# no systemd: login.sh cannot see them).  It asserts, in order:
#   - install: wardd.socket enabled, active and listening on
#     /run/ward/wardd.sock (0666); wardd.service installed but not running
#     (the socket starts it); keys 0600 root, store 0700;
#   - pam-auth-update --enable ward, alice enrolled with wardctl: the first
#     pam_ward connection starts wardd.service through the socket; a wrong
#     code is refused, oathtool's code logs alice in through pamtester
#     (auth, account, session); the audit records are in the chain;
#   - systemd-analyze verify finds nothing to say about the units;
#     systemctl reload wardd reloads the running wardd in place; wardd has
#     logged nothing at LOG_WARNING or above under its sandbox (but that
#     it cannot stamp a fresh snapshot again in the read-only /etc/ward);
#   - systemd-analyze security wardd.service: the exposure is at most
#     EXPOSURE_MAX (the unit's hardening, contrib/system/wardd.service);
#   - upgrade OLDVER -> NEWVER: keys, store and chain kept, the note "package
#     wardd upgraded" in it, wardctl audit verify holds; the running wardd
#     was restarted (a new invocation), the socket kept listening; alice
#     logs in again within her grace (the store survived the restart);
#   - remove libpam-ward and wardd in one apt run: the profile goes first
#     (no stack names pam_ward, wardd's prerm has nothing to warn about),
#     wardd.service and wardd.socket are inactive, keys kept, and a login
#     through pam_unix alone still works (and a wrong password does not);
#   - purge: wardd says what it removes, then keys, store, log and the
#     socket's enablement are gone.
# WORK is run.sh's scratch folder (the container's tree goes under it);
# the image (BASE plus systemd, dbus, pamtester, oathtool) is kept as
# /var/tmp/ward-pkg-systemd.tgz for the next run (delete it to refresh).
set -euo pipefail

WORK=$1 BASE=$2 OLD=$3 NEW=$4 OLDVER=$5 NEWVER=$6
IMAGE=/var/tmp/ward-pkg-systemd.tgz
R=$WORK/sd
HOST=icu-ws-03          # an ICU workstation of the example policy
MACHINE=ward-pkgtest-$$
# systemd-analyze security's overall exposure, 0.0 (none) to 10.0: the
# unit rates 1.9 ("OK") with systemd 252; a setting given up fails this
EXPOSURE_MAX=2.0
NSPID="" LEADER=""

fail() { echo "systemd test: FAILED: $*" >&2; exit 1; }
ok() { echo "ok   $*"; }

# --- the image: the base with systemd as init, once
if [ ! -s "$IMAGE" ]; then
	echo "systemd test: building $IMAGE from $BASE (once)"
	mkdir "$WORK/img"
	tar -C "$WORK/img" -xzf "$BASE"
	cp /etc/resolv.conf "$WORK/img/etc/resolv.conf"
	# a private mount namespace with /proc and a few device nodes (not
	# the host's /dev: a test suite beside may be binding /dev/log);
	# policy-rc.d keeps the packages' services from starting in the chroot
	# shellcheck disable=SC2016
	unshare -m --propagation private sh -ec '
		r=$1
		mount -t proc proc "$r/proc"
		mount -t tmpfs -o mode=0755 devtmp "$r/dev"
		for n in null zero full random urandom tty; do
			touch "$r/dev/$n"; mount --bind "/dev/$n" "$r/dev/$n"
		done
		printf "#!/bin/sh\nexit 101\n" > "$r/usr/sbin/policy-rc.d"
		chmod 0755 "$r/usr/sbin/policy-rc.d"
		chroot "$r" apt-get update -qq
		DEBIAN_FRONTEND=noninteractive chroot "$r" apt-get install -y -qq \
		    --no-install-recommends systemd systemd-sysv dbus pamtester oathtool
		chroot "$r" apt-get clean
		rm -f "$r/usr/sbin/policy-rc.d" "$r/etc/resolv.conf"
	' sh "$WORK/img" >"$WORK/image.log" 2>&1 || { tail -20 "$WORK/image.log"; fail "image"; }
	tar -C "$WORK/img" -czf "$IMAGE.tmp" . && mv "$IMAGE.tmp" "$IMAGE"
	rm -rf "$WORK/img"
fi

mkdir "$R"
tar -C "$R" -xzf "$IMAGE"
echo "$HOST" > "$R/etc/hostname"
cp /etc/resolv.conf "$R/etc/resolv.conf"
mkdir -p "$R/srv/ward-debs/old" "$R/srv/ward-debs/new"
cp "$OLD"/*.deb "$R/srv/ward-debs/old/"
cp "$NEW"/*.deb "$R/srv/ward-debs/new/"
printf '@include common-auth\n@include common-account\n@include common-session\n' \
    > "$R/etc/pam.d/ehr-login"

# --- boot.  Where the host runs systemd, nspawn puts the container in a
# scope of its own; elsewhere (a sandbox, a CI container) it keeps the
# cgroup it was started in (--keep-unit).  No machined registration: the
# container is driven with nsenter, not machinectl.
opts="--register=no"
[ -d /run/systemd/system ] || opts="$opts --keep-unit"
stop_container() {
	[ -n "$NSPID" ] || return 0
	# SIGTERM: nspawn asks the container's systemd to shut down
	kill -TERM "$NSPID" 2>/dev/null || true
	for _ in $(seq 60); do
		kill -0 "$NSPID" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$NSPID" 2>/dev/null; then
		echo "systemd test: the container did not shut down in 30 s; killing it" >&2
		kill -KILL "$NSPID" 2>/dev/null || true
	fi
	wait "$NSPID" 2>/dev/null || true
	# the folder nspawn makes for the container, left when it was killed
	rmdir "/run/systemd/nspawn/propagate/$MACHINE" 2>/dev/null || true
	NSPID=""
}
trap stop_container EXIT
trap 'echo "systemd test: interrupted; stopping the container" >&2; exit 130' INT TERM HUP
# nspawn in a session of its own: a ^C reaches this script and the command
# it runs in the container (in_sd), not nspawn; the trap then stops the
# container with nothing of ours in it.  (The container's shutdown
# SIGSTOPs every process in it; an nsenter whose child stops stops itself,
# and nothing there would wake it or reap the child.)
# (setsid execs nspawn: a background job of a script leads no group)
# shellcheck disable=SC2086
setsid systemd-nspawn -q -D "$R" -M "$MACHINE" --boot --console=read-only $opts \
    </dev/null >"$WORK/boot.log" 2>&1 &
NSPID=$!

blocked() {
	echo "---- systemd-nspawn's output:" >&2
	cat "$WORK/boot.log" >&2
	echo "----" >&2
	echo "systemd test: FAILED: $* - systemd-nspawn could not boot a container here." >&2
	echo "It needs root with CAP_SYS_ADMIN, a writable cgroup hierarchy (v2, or v1" >&2
	echo "with the name=systemd controller) and mount and PID namespaces; a machine" >&2
	echo "running systemd has them (docs/PACKAGING.md)." >&2
	exit 1
}
for _ in $(seq 100); do
	# nspawn's children (no ps: procps is not among the packaging tools)
	# shellcheck disable=SC2013
	for p in $(cat /proc/"$NSPID"/task/*/children 2>/dev/null); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ] && LEADER=$p
	done
	[ -n "$LEADER" ] && break
	kill -0 "$NSPID" 2>/dev/null || blocked "systemd-nspawn exited"
	sleep 0.2
done
[ -n "$LEADER" ] || blocked "no systemd in the container after 20 s"

# Run a command in the container: its namespaces and root, a clean
# environment.  The commands are the sysadmin's (apt, pam-auth-update,
# wardctl, pamtester); the services they start are the container's
# systemd's.
in_sd() {
	nsenter -t "$LEADER" -a -r -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
# states UNIT PROP... - the unit's properties' values, in that order
states() {
	local u=$1 p out=""
	shift
	for p in "$@"; do out="$out${out:+ }$(in_sd systemctl show -P "$p" "$u")"; done
	echo "$out"
}
# systemctl talks to PID 1 through /run/systemd/private, there once the
# manager has started; then wait for the boot to finish
for _ in $(seq 100); do
	in_sd test -S /run/systemd/private && break
	kill -0 "$NSPID" 2>/dev/null || blocked "systemd-nspawn exited"
	sleep 0.2
done
state=$(in_sd timeout 120 systemctl is-system-running --wait 2>&1) || true
case "$state" in
running) ;;
degraded) echo "the container's failed units:"; in_sd systemctl --failed --no-pager --no-legend ;;
*) blocked "the container's systemd did not come up: '$state'" ;;
esac
[ "$(in_sd hostname)" = "$HOST" ] || fail "host name $(in_sd hostname)"
ok "container booted: systemd $(in_sd systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') is its PID 1 ($state), host $HOST"

# --- install: the socket listens, the service waits for it
in_sd apt-get update -qq >/dev/null
in_sd sh -c 'apt-get install -y --no-install-recommends /srv/ward-debs/old/*.deb' \
    >"$WORK/sd-install.log" 2>&1 || { cat "$WORK/sd-install.log"; fail "apt-get install"; }
ok "apt installed the four packages ($OLDVER)"
[ "$(in_sd systemctl is-enabled wardd.socket)" = enabled ] || fail "wardd.socket not enabled"
[ "$(states wardd.socket ActiveState SubState)" = "active listening" ] ||
	fail "wardd.socket: $(states wardd.socket ActiveState SubState)"
[ "$(in_sd stat -c '%F %a %U' /run/ward/wardd.sock)" = "socket 666 root" ] ||
	fail "/run/ward/wardd.sock: $(in_sd stat -c '%F %a %U' /run/ward/wardd.sock 2>&1)"
ok "wardd.socket enabled, active, listening on /run/ward/wardd.sock (socket 0666 root)"
st=$(states wardd.service ActiveState LoadState UnitFileState)
[ "$st" = "inactive loaded disabled" ] || fail "wardd.service after install: $st"
ok "wardd.service loaded and not running (started by its socket, not enabled itself)"
for k in master.key audit.key; do
	[ "$(stat -c '%a %U' "$R/etc/ward/$k")" = "600 root" ] || fail "$k: $(stat -c '%a %U' "$R/etc/ward/$k")"
	b64=$(base64 -w0 "$R/etc/ward/$k")
	! grep -qF "$b64" "$WORK/sd-install.log" || fail "$k printed"
done
[ "$(stat -c '%a' "$R/var/lib/ward")" = 700 ] || fail "/var/lib/ward mode"
grep -q '"detail":"init by uid 0' "$R/var/log/ward/audit.log" || fail "no init record"
ok "keys 0600 root (not printed), store 0700, the audit log begun"

# --- the sysadmin's steps, then logins through the socket
in_sd pam-auth-update --enable ward
grep -q '^[^#]*pam_ward\.so' "$R/etc/pam.d/common-auth" || fail "common-auth lacks pam_ward"
in_sd useradd -m alice
echo 'alice:Correct-Horse-7' | in_sd chpasswd
in_sd wardctl policy compile >/dev/null || fail "policy compile"
secret=$(in_sd wardctl enroll alice --qr none --json | sed -n 's/.*"secret":"\([A-Z2-7]*\)".*/\1/p')
[ -n "$secret" ] || fail "enroll printed no secret"
[ "$(in_sd systemctl is-active wardd.service)" = inactive ] || fail "wardd started before any login"
ok "profile enabled, alice enrolled; wardd.service still inactive"

if printf 'Correct-Horse-7\n000000\n' | in_sd pamtester ehr-login alice authenticate \
    >"$WORK/sd-bad.log" 2>&1; then
	fail "a wrong code logged in"
fi
[ "$(states wardd.service ActiveState SubState)" = "active running" ] ||
	fail "the login did not start wardd.service: $(in_sd systemctl status wardd.service --no-pager 2>&1)"
in_sd journalctl -b -u wardd.service --no-pager | grep -q 'ready on the socket systemd passed' ||
	fail "wardd did not say it took the socket from systemd"
ok "the first login started wardd.service through the socket; a wrong code refused: $(tail -1 "$WORK/sd-bad.log")"
code=$(in_sd oathtool --totp -b "$secret")
printf 'Correct-Horse-7\n%s\n' "$code" | in_sd pamtester ehr-login alice authenticate \
    acct_mgmt open_session close_session >"$WORK/sd-good.log" 2>&1 ||
	{ cat "$WORK/sd-good.log"; in_sd journalctl -b -u wardd.service --no-pager; fail "login with oathtool's code"; }
in_sd wardctl audit query --user alice --event auth --result success | grep -q alice ||
	fail "no auth success record"
in_sd wardctl audit query --user alice --event auth --result failure | grep -q alice ||
	fail "no auth failure record"
in_sd wardctl audit verify >/dev/null || fail "audit verify after the logins"
ok "alice logged in through pamtester (auth, account, session) with oathtool's code; both records in the chain"

# --- the units as systemd reads them, and a reload (wardd(8), SIGNALS)
in_sd systemd-analyze verify --man=no wardd.socket wardd.service >"$WORK/sd-verify.log" 2>&1 ||
	{ cat "$WORK/sd-verify.log"; fail "systemd-analyze verify"; }
[ ! -s "$WORK/sd-verify.log" ] || { cat "$WORK/sd-verify.log"; fail "systemd-analyze verify complains"; }
pid=$(in_sd systemctl show -P MainPID wardd.service)
in_sd systemctl reload wardd.service || fail "systemctl reload wardd"
for _ in $(seq 50); do
	in_sd journalctl -b -u wardd.service --no-pager -o cat | grep -q '^reload (' && break
	sleep 0.1
done
in_sd journalctl -b -u wardd.service --no-pager -o cat | grep '^reload (' ||
	fail "wardd did not log the reload"
[ "$(in_sd systemctl show -P MainPID wardd.service)" = "$pid" ] || fail "the reload restarted wardd"
# A snapshot compiled within two seconds of its text's change (here the
# text apt had just unpacked) is right but not stamped; wardd, which would
# stamp it again, cannot write /etc/ward under ProtectSystem=strict and
# says so at LOG_NOTICE (wardctl(8), policy compile): no warning at all.
in_sd journalctl -b -u wardd.service --no-pager -p warning -o cat >"$WORK/sd-warn.log"
! grep -v -e '^-- No entries --$' \
    "$WORK/sd-warn.log" || fail "wardd logged warnings under its unit"
ok "systemd-analyze verify: the units are clean; systemctl reload wardd reloads in place (pid $pid); wardd logged no warning"

# --- the unit's hardening, as systemd rates it
in_sd systemd-analyze security --no-pager wardd.service >"$WORK/sd-security.log" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for wardd.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' \
    "$WORK/sd-security.log")
[ -n "$score" ] || { cat "$WORK/sd-security.log"; fail "systemd-analyze security gave no exposure"; }
echo "systemd-analyze security wardd.service: what still counts"
grep '✗' "$WORK/sd-security.log" | sed 's/  */ /g' || true
awk -v s="${score% *}" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(s + 0 <= m + 0) }' ||
	fail "wardd.service's exposure $score is above $EXPOSURE_MAX"
ok "systemd-analyze security wardd.service: exposure $score (at most $EXPOSURE_MAX)"

# --- upgrade: the running daemon is restarted, nothing else changes
sums=$(sha256sum "$R/etc/ward/master.key" "$R/etc/ward/audit.key")
inv=$(in_sd systemctl show -P InvocationID wardd.service)
pid=$(in_sd systemctl show -P MainPID wardd.service)
in_sd sh -c 'apt-get install -y --no-install-recommends /srv/ward-debs/new/*.deb' \
    >"$WORK/sd-upgrade.log" 2>&1 || { cat "$WORK/sd-upgrade.log"; fail "upgrade"; }
[ "$(in_sd dpkg-query -W -f="\${Version}" wardd)" = "$NEWVER" ] || fail "wardd not upgraded"
[ "$(sha256sum "$R/etc/ward/master.key" "$R/etc/ward/audit.key")" = "$sums" ] || fail "keys changed"
in_sd wardctl status alice >/dev/null || fail "enrolment lost"
in_sd wardctl audit verify || fail "audit chain after the upgrade"
grep -q "\"detail\":\"note: package wardd upgraded from $OLDVER to $NEWVER by root" \
    "$R/var/log/ward/audit.log" || fail "no upgrade note"
ninv=$(in_sd systemctl show -P InvocationID wardd.service)
npid=$(in_sd systemctl show -P MainPID wardd.service)
[ "$(in_sd systemctl is-active wardd.service)" = active ] || fail "wardd not running after the upgrade"
{ [ "$ninv" != "$inv" ] && [ "$npid" != "$pid" ]; } || fail "wardd was not restarted (pid $pid -> $npid)"
# (a socket whose service runs is "running": the service holds it)
st=$(states wardd.socket ActiveState SubState)
[ "$st" = "active running" ] || fail "wardd.socket after the upgrade: $st"
ok "upgrade $OLDVER -> $NEWVER: keys, enrolment, chain kept, the note in it; wardd restarted (pid $pid -> $npid) on the same socket"
printf 'Correct-Horse-7\n' | in_sd pamtester ehr-login alice authenticate acct_mgmt \
    open_session close_session >"$WORK/sd-grace.log" 2>&1 ||
	{ cat "$WORK/sd-grace.log"; fail "login within the grace after the upgrade"; }
! grep -q 'Verification code' "$WORK/sd-grace.log" || fail "a code was asked within the grace"
ok "after the upgrade alice logs in within her grace: the restarted wardd kept the store"

# --- remove: the profile first, then the daemon stops
in_sd apt-get remove -y libpam-ward wardd >"$WORK/sd-remove.log" 2>&1 ||
	{ cat "$WORK/sd-remove.log"; fail "remove"; }
first=$(grep -oE '^Removing (libpam-ward|wardd)' "$WORK/sd-remove.log" | head -1)
[ "$first" = "Removing libpam-ward" ] || fail "wardd was removed before libpam-ward (the profile)"
! grep -q 'pam_ward is still in /etc/pam.d' "$WORK/sd-remove.log" || fail "wardd went while a stack named pam_ward"
! grep -q pam_ward "$R"/etc/pam.d/common-* || fail "a stack still names pam_ward"
for u in wardd.service wardd.socket; do
	a=$(in_sd systemctl is-active "$u" || true)
	[ "$a" = inactive ] || fail "$u is $a after remove"
done
{ [ -s "$R/etc/ward/master.key" ] && [ -d "$R/var/lib/ward" ]; } || fail "remove took the keys or the store"
ok "remove: the profile went first; wardd.service and wardd.socket inactive; keys and store kept"
if printf 'wrong-horse\n' | in_sd pamtester ehr-login alice authenticate >/dev/null 2>&1; then
	fail "a wrong password logged in after the remove"
fi
printf 'Correct-Horse-7\n' | in_sd pamtester ehr-login alice authenticate acct_mgmt \
    open_session close_session >"$WORK/sd-unix.log" 2>&1 ||
	{ cat "$WORK/sd-unix.log"; fail "a login through pam_unix alone after the remove"; }
ok "PAM without ward: alice logs in with her password alone, not with a wrong one"

# --- purge
in_sd apt-get purge -y wardd >"$WORK/sd-purge.log" 2>&1 || { cat "$WORK/sd-purge.log"; fail "purge"; }
grep -q "purge: removing Ward's keys" "$WORK/sd-purge.log" || fail "purge did not say what it removes"
for f in /etc/ward/master.key /etc/ward/audit.key /var/lib/ward /var/log/ward \
    /etc/systemd/system/sockets.target.wants/wardd.socket; do
	if [ -e "$R$f" ] || [ -L "$R$f" ]; then fail "$f left after purge"; fi
done
ok "purge said so, then removed keys, store, log and the socket's enablement"

stop_container
trap - EXIT
ok "the container shut down"
echo "systemd test: passed"
