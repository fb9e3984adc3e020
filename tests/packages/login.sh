#!/bin/bash
# login.sh ROOT OLDDEBS NEWDEBS OLDVER NEWVER - from installed packages to a
# login, in the Debian chroot ROOT (run.sh unpacked it).  Run it in a
# private mount and UTS namespace (unshare -m -u): its mounts and its host
# name go with the namespace.  It asserts, in order:
#   - libpam-ward names no LDAP or TLS library (dpkg-deb -I) and
#     pam_ward.so needs only libpam and libc (readelf -d);
#   - apt installs the four packages from the mirror; wardd's postinst made
#     the keys (0600) and the audit log's first record; no key was printed;
#   - the sample app builds against libward-policy-dev (pkg-config);
#   - pam-auth-update --enable ward puts pam_ward in common-auth,
#     common-account and common-session only;
#   - a user enrolled with wardctl logs in through pamtester (auth,
#     account, session) with oathtool's code, and not with a wrong one;
#   - the upgrade keeps the keys, the enrolment and the chain, and adds its
#     note; the sample app then passes through PAM within the grace;
#   - removing libpam-ward takes pam_ward out of every stack before the
#     module goes; purging wardd says so and removes keys and state.
set -euo pipefail

R=$1 OLD=$2 NEW=$3 OLDVER=$4 NEWVER=$5
HOST=icu-ws-03          # an ICU workstation of the example policy
WPID=""

fail() { echo "login test: FAILED: $*" >&2; exit 1; }
ok() { echo "ok   $*"; }
in_root() { chroot "$R" "$@"; }

stop_wardd() {
	if [ -n "$WPID" ]; then
		kill "$WPID" 2>/dev/null || true
		wait "$WPID" 2>/dev/null || true
		WPID=""
	fi
}
trap stop_wardd EXIT

start_wardd() {
	chroot "$R" /usr/sbin/wardd --config /etc/ward/ward.conf 2>>"$R/tmp/wardd.err" &
	WPID=$!
	for _ in $(seq 100); do
		[ -S "$R/run/ward/wardd.sock" ] && return 0
		kill -0 "$WPID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$R/tmp/wardd.err" >&2
	fail "wardd did not start"
}

# --- the module's package pulls in no LDAP or TLS library
deps=$(dpkg-deb -f "$OLD"/libpam-ward_*.deb Depends Recommends)
echo "libpam-ward: $deps"
! grep -Eqi 'ldap|ssl|crypto|gnutls' <<<"$deps" || fail "libpam-ward depends on $deps"
x=$(mktemp -d)
dpkg-deb -x "$OLD"/libpam-ward_*.deb "$x"
# (ld-linux is glibc's too: the module's thread-local data, as in
# tests/static/layering.sh)
needed=$(readelf -d "$x"/lib/*/security/pam_ward.so | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
    grep -v '^ld-linux' | sort | xargs)
rm -rf "$x"
[ "$needed" = "libc.so.6 libpam.so.0" ] || fail "pam_ward.so needs: $needed"
ok "libpam-ward depends on no LDAP or TLS library; pam_ward.so needs $needed"

# --- the chroot: /proc, a few devices, name resolution, a host name, no
# services.  Not the host's /dev: a test suite running beside may bind
# /dev/log there, and wardd's lines must not reach it.
mount -t proc proc "$R/proc"
mount -t tmpfs -o mode=0755 devtmp "$R/dev"
for n in null zero full random urandom tty; do
	touch "$R/dev/$n"
	mount --bind "/dev/$n" "$R/dev/$n"
done
ln -s /proc/self/fd "$R/dev/fd"
mkdir -m 1777 "$R/dev/shm"
cp /etc/resolv.conf "$R/etc/resolv.conf"
hostname "$HOST"
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
chmod 0755 "$R/usr/sbin/policy-rc.d"
mkdir -p "$R/tmp/old" "$R/tmp/new"
cp "$OLD"/*.deb "$R/tmp/old/"
cp "$NEW"/*.deb "$R/tmp/new/"

export DEBIAN_FRONTEND=noninteractive
in_root apt-get update -qq >/dev/null
in_root apt-get install -y -qq --no-install-recommends pamtester oathtool gcc libc6-dev \
    libpam0g-dev pkg-config >/dev/null
in_root sh -c 'apt-get install -y --no-install-recommends /tmp/old/*.deb' \
    >"$R/tmp/install.log" 2>&1 || { cat "$R/tmp/install.log"; fail "apt-get install"; }
ok "apt installed the four packages ($OLDVER) with their dependencies from the mirror"

for k in master.key audit.key; do
	[ "$(stat -c '%a %U' "$R/etc/ward/$k")" = "600 root" ] || fail "$k: $(stat -c '%a %U' "$R/etc/ward/$k")"
	# the key's bytes, in hex and base64, appear nowhere in what apt printed
	hex=$(xxd -p -c 64 "$R/etc/ward/$k" 2>/dev/null || od -An -tx1 -v "$R/etc/ward/$k" | tr -d ' \n')
	b64=$(base64 -w0 "$R/etc/ward/$k")
	! grep -qiF -e "$hex" -e "$b64" "$R/tmp/install.log" || fail "$k printed"
done
[ "$(stat -c '%a' "$R/var/lib/ward")" = 700 ] || fail "/var/lib/ward mode"
grep -q '"detail":"init by uid 0' "$R/var/log/ward/audit.log" || fail "no init record"
grep -q 'created  /etc/ward/master.key' "$R/tmp/install.log" || fail "postinst did not run wardctl init"
ok "postinst: keys 0600 root (not printed), store 0700, audit log begun with the init record"
grep -q pam_ward "$R"/etc/pam.d/common-* && fail "the profile was enabled by default"
ok "the profile is off until enabled: no stack names pam_ward"

# --- an app builds against libward-policy-dev
in_root sh -c 'cc -o /usr/local/bin/ehr-sample \
    /usr/share/doc/libward-policy-dev/examples/ehr_sample.c \
    $(pkg-config --cflags --libs ward-policy) -lpam -lpam_misc' || fail "sample app build"
ok "contrib/sample-app built with pkg-config ward-policy"

# --- the sysadmin's steps
in_root pam-auth-update --enable ward
for f in common-auth common-account common-session; do
	grep -q '^[^#]*pam_ward\.so' "$R/etc/pam.d/$f" || fail "$f lacks pam_ward"
done
! grep -q pam_ward "$R/etc/pam.d/common-session-noninteractive" || fail "noninteractive session"
grep -A1 pam_succeed_if "$R/etc/pam.d/common-account" | grep -q 'required.*pam_ward.so' ||
	fail "common-account: the cron/atd/systemd-user skip does not precede pam_ward"
ok "pam-auth-update --enable ward: auth, account, interactive session"
printf '@include common-auth\n@include common-account\n@include common-session\n' \
    > "$R/etc/pam.d/ehr-login"
in_root useradd -m alice
echo 'alice:Correct-Horse-7' | in_root chpasswd
in_root wardctl policy check >/dev/null || fail "policy check"
in_root wardctl policy compile >/dev/null || fail "policy compile"
secret=$(in_root wardctl enroll alice --qr none --json | sed -n 's/.*"secret":"\([A-Z2-7]*\)".*/\1/p')
[ -n "$secret" ] || fail "enroll printed no secret"
ok "alice enrolled (wardctl enroll)"
start_wardd
ok "wardd runs in the chroot (pid $WPID)"

# --- logins
if printf 'Correct-Horse-7\n000000\n' | in_root pamtester ehr-login alice authenticate \
    >"$R/tmp/bad.log" 2>&1; then
	fail "a wrong code logged in"
fi
ok "a wrong code is refused: $(tail -1 "$R/tmp/bad.log")"
code=$(in_root oathtool --totp -b "$secret")
printf 'Correct-Horse-7\n%s\n' "$code" | in_root pamtester ehr-login alice authenticate \
    acct_mgmt open_session close_session >"$R/tmp/good.log" 2>&1 ||
	{ cat "$R/tmp/good.log" "$R/tmp/wardd.err"; fail "login with oathtool's code"; }
cat "$R/tmp/good.log"
in_root wardctl audit query --user alice --event auth --result success | grep -q alice ||
	fail "no auth success record"
in_root wardctl audit verify >/dev/null || fail "audit verify after the login"
ok "alice logged in through pamtester (auth, account, session) with oathtool's code"

# --- upgrade: keys, enrolment, chain kept; the note added
sums=$(sha256sum "$R/etc/ward/master.key" "$R/etc/ward/audit.key")
stop_wardd
in_root sh -c 'apt-get install -y --no-install-recommends /tmp/new/*.deb' \
    >"$R/tmp/upgrade.log" 2>&1 || { cat "$R/tmp/upgrade.log"; fail "upgrade"; }
[ "$(sha256sum "$R/etc/ward/master.key" "$R/etc/ward/audit.key")" = "$sums" ] || fail "keys changed"
in_root wardctl status alice >/dev/null || fail "enrolment lost"
in_root wardctl audit verify || fail "audit chain after the upgrade"
grep -q "\"detail\":\"note: package wardd upgraded from $OLDVER to $NEWVER by root" \
    "$R/var/log/ward/audit.log" || fail "no upgrade note"
grep -q '^[^#]*pam_ward\.so' "$R/etc/pam.d/common-auth" || fail "the upgrade disabled the profile"
ok "upgrade $OLDVER -> $NEWVER: keys, enrolment, chain kept; the note is in the chain"
start_wardd
# the app, through PAM: within mfa_grace on this workstation no code is asked
printf 'Correct-Horse-7\n' | in_root ehr-sample --service ehr-login alice ehr:chart \
    >"$R/tmp/app.log" 2>&1 || { cat "$R/tmp/app.log" "$R/tmp/wardd.err"; fail "sample app"; }
if printf 'Correct-Horse-7\n' | in_root ehr-sample --service ehr-login alice ehr:prescribe \
    >>"$R/tmp/app.log" 2>&1; then
	fail "a nurse may prescribe"
fi
ok "after the upgrade: the sample app logs alice in (grace kept) and refuses ehr:prescribe"
stop_wardd

# --- remove and purge
in_root apt-get remove -y libpam-ward >/dev/null 2>&1 || fail "remove libpam-ward"
! grep -q pam_ward "$R"/etc/pam.d/common-* || fail "a stack still names pam_ward"
! ls "$R"/lib/*/security/pam_ward.so 2>/dev/null || fail "module still there"
ok "removing libpam-ward took pam_ward out of every stack"
in_root apt-get purge -y wardd >"$R/tmp/purge.log" 2>&1 || { cat "$R/tmp/purge.log"; fail "purge"; }
grep -q "purge: removing Ward's keys" "$R/tmp/purge.log" || fail "purge did not say what it removes"
for f in /etc/ward/master.key /etc/ward/audit.key /var/lib/ward /var/log/ward; do
	[ ! -e "$R$f" ] || fail "$f left after purge"
done
ok "purge said so, then removed keys, store and log"
echo "login test: passed"
