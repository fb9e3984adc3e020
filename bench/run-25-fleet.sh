#!/bin/bash
# A fleet login against a local one (ward.conf(5), FLEET): three wardds
# with the same policy and mfa.window, one process timing whole PAM logins
# (pam_start_confdir + authenticate with a fresh code + acct_mgmt +
# pam_end, pam_ward.so loaded per login) round by round, interleaved:
#  (1) a local user on a wardd with no directory;
#  (2) a fleet user on a wardd reading and writing through consumer C1
#      (its writes chained to provider A);
#  (3) a fleet user on a wardd reading and writing straight to A.
# The replicated directory is tests/fleet/pair.sh's (providers A and B,
# consumers C1 and C2 on loopback ldaps://); the fleet users (fc00.., fa00..)
# are added to it here and enrolled once through an admin host's ward.conf
# bound as the enrolment identity, as contrib/demo.sh's act 4 does.  Every
# wardd has answered a login of each of its users before the timed rounds
# (its connection to the directory warm).  How codes stay fresh: the top of
# cmd_fleet in bench/bench_pam.c.  Then, with strace -f -T -yy on each
# wardd over a few rounds, where a login's time goes in wardd (the time
# inside system calls, by what they were on: the directory, each file).
#
# Environment: BENCH_FLEET_USERS (default 32 a case, at most 64),
# BENCH_FLEET_ROUNDS (default 500; a user has about 2 x mfa.window fresh
# codes, so the rounds plus 12 should stay under 20 x users),
# BENCH_FLEET_MAXSEC (default 40), BENCH_FLEET_STRACE (rounds under strace,
# default 10; 0: none).
set -euo pipefail
src=${WARD_SRC:-$PWD}
# shellcheck source=bench/common/wardd.sh
. "$src/bench/common/wardd.sh"
b="$WARD_BUILD/bench/bench_pam"
users=${BENCH_FLEET_USERS:-32}
rounds=${BENCH_FLEET_ROUNDS:-500}
maxsec=${BENCH_FLEET_MAXSEC:-40}
traced=${BENCH_FLEET_STRACE:-10}
window=10       # FLEET_WINDOW in bench/bench_pam.c

bench_need_root
if [ ! -x "${SLAPD:-/usr/sbin/slapd}" ] || ! command -v ldapadd >/dev/null ||
	! command -v ldapsearch >/dev/null; then
	echo "skipped: slapd or ldap-utils not installed (contrib/install-deps.sh installs them)"
	exit 0
fi

d=$(mktemp -d /tmp/ward-bench-fleet.XXXXXX)
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	bench_jobs_stop
	wardd_stop_all
	"$src/tests/fleet/pair.sh" clean "$d/pair" >/dev/null 2>&1 || true
	rm -rf "$d"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
chmod 0755 "$d"

t0=$(date +%s%N)
bench_fg "$src/tests/fleet/pair.sh" start "$d/pair" >/dev/null
# shellcheck disable=SC1091
. "$d/pair/env"

# the fleet users, on A (replicated to B, C1, C2)
{
	for p in fc fa; do
		for i in $(seq 0 $((users - 1))); do
			u=$(printf '%s%02d' "$p" "$i")
			printf 'dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nobjectClass: wardUser\nuid: %s\ncn: %s\nsn: %s\n\n' \
				"$u" "$BASE" "$u" "$u" "$u"
		done
	done
} | ldapadd -x -H "$A_LDAP" -D "$ROOTDN" -w "$ROOTPW" >/dev/null
last=$(printf 'fa%02d' $((users - 1)))
for i in $(seq 1 200); do
	ldapsearch -x -LLL -H "$C1_LDAP" -D "$ROOTDN" -w "$ROOTPW" -b "$BASE" "(uid=$last)" dn |
		grep -q "^dn:" && break
	sleep 0.05
done

# HOST URI BIND_DN PASSWORD_FILE [fleet]: DIR/HOST with its ward.conf,
# policy (every bench user a nurse), service file (DIR/pam.d/SERVICE)
host() {
	local h="$d/$1" u
	mkdir -p "$h/etc" "$d/pam.d" "$d/run"
	chmod 0755 "$h" "$h/etc" "$d/pam.d" "$d/run"
	{
		echo 'roles = { nurse = { }; };'
		printf 'users = ( '
		for u in $(seq 0 $((users - 1))); do
			for p in lu fc fa; do
				printf '{ user = "%s%02d"; roles = ["nurse"]; }, ' "$p" "$u"
			done
		done | sed 's/, $//'
		echo ' );'
		echo 'apps = { ehr = ["flocal", "fc1", "fa"]; };'
		echo 'rules = ( { id = "nurses-ehr"; effect = "allow"; roles = ["nurse"]; apps = ["ehr"]; mfa = "required"; } );'
	} >"$h/etc/policy.conf"
	{
		echo "policy_file = \"$h/etc/policy.conf\";"
		echo "state_dir = \"$h/state\";"
		if [ -n "$2" ]; then
			echo "directory = { uri = [\"$2\"]; base = \"$BASE\"; bind_dn = \"$3\";"
			echo "  bind_password_file = \"$4\"; ca_file = \"$CA_FILE\"; timeout_ms = 2000; };"
			echo "fleet = { write_uri = \"$2\"; key_file = \"$h/etc/fleet.key\"; };"
		fi
		echo "mfa = { window = $window; max_failures = 5; lockout_seconds = 900; };"
		echo "secrets = { key_file = \"$h/etc/master.key\"; };"
		echo "audit = { path = \"$h/log/audit.log\"; key_file = \"$h/etc/audit.key\"; fsync = true; };"
	} >"$h/etc/ward.conf"
	chmod 0644 "$h/etc/ward.conf" "$h/etc/policy.conf"
}
svc() { # SERVICE HOST
	printf 'auth required %s socket=%s\naccount required %s socket=%s\n' \
		"$module" "$d/run/$2.sock" "$module" "$d/run/$2.sock" >"$d/pam.d/$1"
}
host admin "$A_URI" "$ENROL_DN" "$ENROL_PW_FILE"
host local "" "" ""
host wsc1 "$C1_URI" "$WS1_DN" "$WS_PW_FILE"
host wsa "$A_URI" "$WS1_DN" "$WS_PW_FILE"
svc flocal local
svc fc1 wsc1
svc fa wsa
"$wardctl" --config "$d/admin/etc/ward.conf" init --fleet >/dev/null
for h in local wsc1 wsa; do
	[ "$h" = local ] || install -m 0600 "$d/admin/etc/fleet.key" "$d/$h/etc/fleet.key"
	"$wardctl" --config "$d/$h/etc/ward.conf" init >/dev/null
done
for i in $(seq 0 $((users - 1))); do
	"$wardctl" --config "$d/local/etc/ward.conf" enroll "$(printf lu%02d "$i")" \
		--secret "$("$b" secret $((100 + i)))" --qr none >/dev/null
	"$wardctl" --config "$d/admin/etc/ward.conf" enroll "$(printf fc%02d "$i")" \
		--secret "$("$b" secret $((200 + i)))" --qr none >/dev/null
	"$wardctl" --config "$d/admin/etc/ward.conf" enroll "$(printf fa%02d "$i")" \
		--secret "$("$b" secret $((300 + i)))" --qr none >/dev/null
done
for h in local wsc1 wsa; do
	"$wardctl" --config "$d/$h/etc/ward.conf" policy compile >/dev/null
done
# the enrolments seen on C1 before any login there
for i in $(seq 1 200); do
	ldapsearch -x -LLL -H "$C1_LDAP" -D "$ROOTDN" -w "$ROOTPW" -b "$BASE" "(uid=$last)" \
		wardTotpSecret 2>/dev/null | grep -qi "^wardTotpSecret" && break
	sleep 0.05
done
declare -A wpid=()
for h in local wsc1 wsa; do
	wardd_start "$d/$h/etc/ward.conf" "$d/run/$h.sock" "$d/wardd-$h.log"
	wpid[$h]=$WARDD_PID
done
# untimed, twice 3 s apart: past the freshly compiled policy's racy window (see
# bench/run-20-pam.sh, which stamps it again), every wardd's directory
# connection warm
sleep 3
bench_fg "$b" fleet "$d" "$users" 1 20 >/dev/null
sleep 3
bench_fg "$b" fleet "$d" "$users" 1 20 >/dev/null
echo "pair.sh, $((3 * users)) users enrolled, wardds ${wpid[local]} (local)," \
	"${wpid[wsc1]} (via C1), ${wpid[wsa]} (via A) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
echo
rc=0
bench_fg "$b" fleet "$d" "$users" "$rounds" "$maxsec" || rc=1

# where the time goes in wardd: strace -f -T -yy, attached by PID to each
# wardd over TRACED rounds, the time inside system
# calls summed per login by what they were on (the directory's TCP
# connections; each file), leaving out the waits of idle threads (futex,
# ppoll, accept4, a worker's poll on its client with the eventfd)
breakdown() { # TRACE LOGINS
	awk -v n="$2" '
		# the fd number: a wardd keeps one connection for reads
		# (directory.uri) and one for writes (fleet.write_uri)
		function fd(line,   s) {
			if (!match(line, /(fd=|\()[0-9]+</))
				return ""
			s = substr(line, RSTART, RLENGTH)
			gsub(/[^0-9]/, "", s)
			return s
		}
		function key(line,   name, on) {
			name = line; sub(/^[0-9]+ +/, "", name); sub(/\(.*/, "", name)
			on = ""
			if (match(line, /\(\[?\{?(fd=)?[0-9]+<[^>]*>/)) {
				on = substr(line, RSTART, RLENGTH)
				sub(/^[^<]*</, "", on); sub(/>$/, "", on)
				if (on ~ /^TCP/) on = "the directory (TCP)"
				else if (on ~ /^(UNIX|socket|anon_inode|pipe)/) on = ""
				else sub(/.*\//, "", on)
			}
			if (name ~ /^(futex|ppoll|accept4|restart_syscall|epoll_wait|clock_nanosleep)$/ ||
			    line ~ /eventfd/)
				return ""
			if (on == "the directory (TCP)") return "on the directory (TCP): fd " fd(line)
			if (name ~ /^f(data)?sync$/) return name " " on
			if (on != "") return "other calls on " on
			return "other calls"
		}
		{ pid = $1 }
		/<unfinished \.\.\.>$/ { pend[pid] = key($0); next }
		match($0, /<[0-9.]+>$/) {
			t = substr($0, RSTART + 1, RLENGTH - 2) * 1000
			k = ($2 == "<...") ? pend[pid] : key($0)
			if (k == "") next
			ms[k] += t; cnt[k]++; tot += t
		}
		END {
			printf "  %.2f ms inside system calls per login (idle waits left out):\n", tot / n
			for (k in ms) printf "%10.3f ms %6.1f calls  %s\n", ms[k] / n, cnt[k] / n, k | "sort -rn"
		}' "$1"
}
if [ "$traced" -gt 0 ]; then
	echo
	echo "-- where wardd's time goes: $traced rounds under strace -f -T -yy (strace slows every call)"
	if ! command -v strace >/dev/null; then
		echo "skipped: strace not installed (contrib/install-deps.sh installs it)"
	else
		ok=1
		spids=()
		for h in local wsc1 wsa; do
			strace_attach "${wpid[$h]}" "$d/strace-$h" -T -yy || { ok=0; break; }
			spids+=("$SPID")
		done
		if [ $ok = 1 ]; then
			bench_fg "$b" fleet "$d" "$users" "$traced" 30 >/dev/null || rc=1
		fi
		for spid in "${spids[@]}"; do
			running "$spid" && kill -INT "$spid"
			wait "$spid" || true
		done
		if [ $ok = 1 ]; then
			echo "(1) the local wardd:"
			breakdown "$d/strace-local" "$traced"
			echo "(2) the wardd on C1:"
			breakdown "$d/strace-wsc1" "$traced"
			echo "(3) the wardd on A:"
			breakdown "$d/strace-wsa" "$traced"
		fi
	fi
fi
exit $rc
