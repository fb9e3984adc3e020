#!/bin/bash
# demo.sh BUILD_DIR - `make demo`: Ward's main job, told as a story.
#
# Act 1: a sysadmin and the hospital policy - check it, see mistakes named
# with file:line, ask who may use what, where, when and why.
# Act 2: a shift.  A throwaway slapd with TLS on loopback holds the demo
# hospital directory (contrib/ldap/hospital.ldif); clinicians enrol (one QR
# code shown), then log in through real libpam with pam_ward.so at
# workstations, each a wardd of its own in a UTS namespace (unshare --uts:
# its own host name) on its own socket: code and grace, a screen locker
# running as the nurse herself (no root), replay, a denial with its reason,
# break-glass, a lockout and IT's unlock, recovery codes, the directory
# going down, and a workstation whose wardd is stopped.
# Act 3: the security team - audit report, verify, query, export, and an
# edited record caught.
# Act 4: the fleet.  A replicated directory (tests/fleet/pair.sh: two
# providers, two read-only consumers chaining writes to one of them) holds
# the MFA records; two workstations, each on its own consumer with its own
# wardd and store: enrol once, a code used at one is refused at the other,
# wrong codes at both lock the user at both, one unlock clears both.
# Everything lives in a private folder; nothing in /etc changes except a
# system user "rosa" made for the screen locker's scene when there is none
# (removed again).  slapd and every wardd are stopped (by pid) and the
# folder removed even when the demo is interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:-build}" && pwd)
wardctl="$build/wardctl"
work=$(mktemp -d /tmp/ward-demo.XXXXXX)
made_user=""
cleanup() {
	local p
	for p in "$work"/ws/*/pid "$work"/fleet/*/pid; do
		[ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
	done
	for p in "$work"/ws/*/pid "$work"/fleet/*/pid; do
		[ -f "$p" ] || continue
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$(cat "$p")" 2>/dev/null || break
			sleep 0.2
		done
		kill -9 "$(cat "$p")" 2>/dev/null || true
	done
	[ -d "$work/ldap" ] && tests/dir/slapd.sh clean "$work/ldap" >/dev/null 2>&1
	[ -d "$work/pair" ] && tests/fleet/pair.sh clean "$work/pair" >/dev/null 2>&1
	[ -n "$made_user" ] && userdel "$made_user" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
	printf '$ %s\n' "$*"
	"$@" || printf '(exit %d)\n' "$?"
}

act_policy() {
	cp contrib/policy.conf "$work/policy.conf"
	chmod 0644 "$work/policy.conf"
	local P="--policy $work/policy.conf"

	say "Act 1. Ruth, the hospital's sysadmin, checks the example policy before deploying it."
	run "$wardctl" policy check "$work/policy.conf"

	say "She tries an edit with two mistakes: a role that inherits itself through another, and a misspelt schedule."
	sed -e 's/clinician    = { permissions/clinician    = { inherits = ["icu_nurse"]; permissions/' \
	    -e 's/when = "office"/when = "ofice"/' \
	    "$work/policy.conf" > "$work/broken.conf"
	chmod 0644 "$work/broken.conf"
	run "$wardctl" policy check "$work/broken.conf"
	echo "   Every problem is named with its file and line; a policy with errors never decides."

	say "Alice, an ICU nurse, at ICU workstation icu-ws-03 on a Monday afternoon:"
	run "$wardctl" $P policy test --user alice --service gdm-password --host icu-ws-03 --at 2026-11-23T14:05

	say "The same nurse at the pharmacy console: denied, with the reason she will read."
	run "$wardctl" $P policy test --user alice --service rx-console --host rx-ws-01 --at 2026-11-23T14:05

	say "Bob, an ED physician, at a workstation he has no rule for: denied, but break-glass is offered."
	run "$wardctl" $P --json policy test --user bob --service ehr-login --host rx-ws-02 --at 2026-11-24T03:10

	say "The front desk closes at 19:00: Carol the clerk at 18:59 and at 19:00."
	run "$wardctl" $P policy test --user carol --service reg-desk --host reg-ws-1 --at 2026-11-23T18:59
	run "$wardctl" $P policy test --user carol --service reg-desk --host reg-ws-1 --at 2026-11-23T19:00

	say "Access review: who may use the pharmacy console?"
	run "$wardctl" $P policy who --service rx-console --host rx-ws-01

	say "Before deploying an edit that gives pharmacists the ward workstations, she asks what changes:"
	sed 's/hosts = \["pharmacy"\]; mfa_grace = 900/hosts = ["pharmacy", "wards"]; mfa_grace = 900/' \
	    "$work/policy.conf" > "$work/edited.conf"
	chmod 0644 "$work/edited.conf"
	run "$wardctl" policy diff "$work/policy.conf" "$work/edited.conf"

	say "Satisfied, she compiles the policy: the snapshot is what a login process loads, and it is used only while it is newer than the text and intact."
	run "$wardctl" policy compile "$work/policy.conf"

	say "What may Alice do, and may a physician prescribe?"
	run "$wardctl" $P policy show alice
	run "$wardctl" $P can bob ehr:prescribe
	run "$wardctl" $P can alice ehr:prescribe
}

act_shift() {
	local W="$work/w" conf pamdrive="$build/tests/tools/pamdrive"
	if [ "$(id -u)" -ne 0 ]; then
		say "Acts 2 and 3 need root (keys, the store and the audit log must be root's); skipped."
		return 0
	fi
	mkdir -p "$W/etc" "$W/pam.d"
	chmod 0755 "$work" "$W" "$W/etc" "$W/pam.d"
	conf="$W/etc/ward.conf"

	say "Act 2. A shift. The hospital directory (56 people, groups for nurses, physicians, pharmacists, clerks, IT; ICU nurses nested in nurses) runs on a throwaway slapd with TLS:"
	tests/dir/slapd.sh start "$work/ldap" contrib/ldap/hospital.ldif >/dev/null
	# shellcheck disable=SC1091
	. "$work/ldap/env"
	echo "   $LDAPS_URI (certificate checked against the demo CA), base $BASE"

	cp contrib/policy.conf "$W/etc/policy.conf"
	printf '%s' "ward-demo-password" > "$W/etc/ldap.secret"
	chmod 0600 "$W/etc/ldap.secret"
	cat > "$conf" <<CONF
policy_file = "$W/etc/policy.conf";
state_dir   = "$W/state";
directory = {
  uri = ["$DEAD_URI", "$LDAPS_URI"];          # the first is down: failover
  base = "$BASE";
  bind_dn = "cn=ward,ou=services,$BASE";
  bind_password_file = "$W/etc/ldap.secret";
  ca_file = "$CA_FILE";
  user_filter = "(&(objectClass=inetOrgPerson)(uid=%u))";
  group_filter = "(&(objectClass=groupOfNames)(member=%d))";
  timeout_ms = 1000;
  cache_seconds = 0;           # the demo asks the directory at every login
  offline_max_age = 43200;
};
mfa = { digits = 6; period = 30; algorithm = "sha1"; window = 1;
        max_failures = 5; lockout_seconds = 900; issuer = "Example Hospital"; };
secrets = { key_file = "$W/etc/master.key"; };
audit = { path = "$W/log/audit.log"; key_file = "$W/etc/audit.key"; fsync = false; };
CONF
	chmod 0644 "$conf" "$W/etc/policy.conf"
	# the module and the test driver where a user without root can run them
	mkdir -p "$work/bin" "$work/ws"
	install -m 0644 "$build/pam_ward.so" "$work/bin/pam_ward.so"
	install -m 0755 "$pamdrive" "$work/bin/pamdrive"
	pamdrive="$work/bin/pamdrive"
	chmod 0755 "$work/ws"
	# A workstation: a wardd of its own, in a UTS namespace with its name,
	# on its own socket; its PAM stacks name that socket.
	workstation() {
		local ws=$1 d="$work/ws/$1" svc
		# running, or stopped on purpose (the last scene)
		[ -f "$d/pid" ] || [ -f "$d/stopped" ] && return 0
		mkdir -p "$d/pam.d" "$d/run"
		chmod 0755 "$d" "$d/pam.d" "$d/run"
		for svc in gdm-password xscreensaver rx-console ehr-login reg-desk sudo; do
			cat > "$d/pam.d/$svc" <<PAMD
auth     required $work/bin/pam_ward.so socket=$d/run/wardd.sock
account  required $work/bin/pam_ward.so socket=$d/run/wardd.sock
session  required $work/bin/pam_ward.so socket=$d/run/wardd.sock
PAMD
		done
		unshare --uts sh -c 'hostname "$1"; shift; exec "$@"' sh "$ws" \
		    "$build/wardd" --config "$conf" --socket "$d/run/wardd.sock" --debug \
		    >"$d/wardd.log" 2>&1 &
		echo $! > "$d/pid"
		for _ in $(seq 100); do
			grep -q "ready on" "$d/wardd.log" && return 0
			sleep 0.05
		done
		echo "   wardd for $ws did not start:"; sed 's/^/   /' "$d/wardd.log"
		return 1
	}
	# at WORKSTATION, run a PAM transaction through its wardd
	at() {
		local ws=$1; shift
		workstation "$ws"
		printf '[%s] $ pamdrive %s\n' "$ws" "$*"
		"$pamdrive" "$work/ws/$ws/pam.d" "$@" | sed 's/^/   /' || true
	}
	# as USER (no root), at WORKSTATION
	as_user_at() {
		local user=$1 ws=$2; shift 2
		workstation "$ws"
		printf '[%s, as %s] $ pamdrive %s\n' "$ws" "$user" "$*"
		setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
		    "$pamdrive" "$work/ws/$ws/pam.d" "$@" | sed 's/^/   /' || true
	}
	secret_of() { # enrol USER quietly and print the secret (oathtool plays the phone)
		"$wardctl" --config "$conf" enroll "$1" --json --qr none |
		    sed -n 's/.*"secret":"\([A-Z2-7]*\)".*/\1/p'
	}

	say "Ruth, the sysadmin, initialises Ward (private folders here, /etc/ward on a real workstation) and asks the directory about Rosa:"
	run "$wardctl" --config "$conf" init
	run "$wardctl" --config "$conf" directory test rosa

	say "Rosa, an ICU nurse, enrols: she scans this QR code with her phone's authenticator app. The recovery codes go in her locker."
	run "$wardctl" --config "$conf" enroll rosa --qr utf8
	local rosa ivan nina dave
	rosa=$("$wardctl" --config "$conf" enroll rosa --force --json --qr none |
	    sed -n 's/.*"secret":"\([A-Z2-7]*\)".*/\1/p')
	echo "   (the demo re-enrols Rosa with --json so that oathtool can play her phone)"
	ivan=$(secret_of ivan); nina=$(secret_of nina); dave=$(secret_of dave)
	echo "   Ivan (physician), Nina (clerk) and Dave (IT) are enrolled the same way."

	local code
	code=$(oathtool --totp -b "$rosa")
	say "07:02. Rosa logs in at ICU workstation icu-ws-03 with the code on her phone. Her roles come from the directory (icu-nurses, nested in nurses); the session gets them and the idle logoff to enforce."
	at icu-ws-03 gdm-password rosa auth,acct,open "$code"

	say "07:15. She locks the screen and unlocks it: within her rule's 15 minutes of grace on this workstation, no code is asked. The screen locker runs as Rosa herself, without root: it asks icu-ws-03's wardd, which answers only about her."
	if ! id rosa >/dev/null 2>&1; then
		useradd --system --no-create-home --shell /usr/sbin/nologin rosa
		made_user=rosa
		echo "   (the demo made a system user rosa for this scene; it is removed at the end)"
	fi
	as_user_at rosa icu-ws-03 xscreensaver rosa auth,acct
	say "The same locker, as Rosa, asking about Ivan: wardd refuses before any question."
	as_user_at rosa icu-ws-03 xscreensaver ivan auth

	say "Someone who watched her type tries her code at another ICU workstation: a code works once."
	at icu-ws-07 gdm-password rosa auth "$code"

	say "08:30. Rosa tries the pharmacy console to fetch a drug herself: denied, with the reason."
	code=$(oathtool --totp -b "$rosa" -N "@$(( $(date +%s) + 30 ))")
	at rx-ws-01 rx-console rosa auth,acct "$code"

	say "09:10. Trauma call. Dr Ivan, a ward physician, is at an ED workstation, where the EHR is for ED physicians. He breaks the glass: he types a reason, then his code; access is granted for an hour, logged at LOG_ALERT and listed for review."
	code=$(oathtool --totp -b "$ivan")
	at ed-ws-02 ehr-login ivan auth,acct,open "$code" "Trauma bay 2: unconscious patient, need allergies and meds"

	say "10:00. Nina, a clerk at the front desk, mistypes her code five times: two-step verification locks."
	local g
	for g in 111111 222222 333333 444444 555555; do
		"$pamdrive" "$work/ws/reg-ws-1/pam.d" reg-desk nina auth "$g" |
		    grep -E '^error' | sed 's/^/   /' || true
	done
	run "$wardctl" --config "$conf" status nina
	say "She calls IT. Dave checks it is her and unlocks; her code works again."
	run "$wardctl" --config "$conf" unlock nina
	code=$(oathtool --totp -b "$nina")
	at reg-ws-1 reg-desk nina auth "$code"

	say "Dave uses sudo at his IT workstation with his code; then, his phone left at home, a recovery code (each works once)."
	code=$(oathtool --totp -b "$dave")
	at it-ws-1 sudo dave auth,acct "$code"
	local rc
	rc=$("$wardctl" --config "$conf" recovery-codes dave --json |
	    sed -n 's/.*"recovery_codes":\["\([^"]*\)".*/\1/p')
	at it-ws-1 sudo dave auth "$rc"
	at it-ws-1 sudo dave auth "$rc"

	say "Walter is in the directory but in no group, and 'zed' does not exist: the same prompt, the same answer, and no access."
	at icu-ws-03 gdm-password walter auth,acct 123456
	at icu-ws-03 gdm-password zed auth 123456

	say "11:40. The directory server goes down."
	tests/dir/slapd.sh stop "$work/ldap" >/dev/null
	say "Rosa unlocks icu-ws-03 again: her roles cached at 07:02 still decide (offline_max_age 12 h), and the audit record says offline."
	at icu-ws-03 xscreensaver rosa auth,acct
	say "Tara, an ICU nurse who has not logged in here before, has no cached roles: wardd fails closed."
	at icu-ws-03 gdm-password tara auth,acct 123456

	say "12:05. IT stops wardd on icu-ws-07 for maintenance. Every login there fails closed at once, with a message, and syslog names the socket."
	kill "$(cat "$work/ws/icu-ws-07/pid")"
	while kill -0 "$(cat "$work/ws/icu-ws-07/pid")" 2>/dev/null; do sleep 0.1; done
	mv "$work/ws/icu-ws-07/pid" "$work/ws/icu-ws-07/stopped"
	at icu-ws-07 xscreensaver rosa auth,acct

	say "On disk the TOTP secrets are sealed (AES-256-GCM, the user name bound in); grep finds none:"
	if grep -c "$rosa" "$W/state/data.mdb" >/dev/null; then
		echo "   FOUND a secret in clear (this is a bug)"; return 1
	fi
	echo "   grep $rosa $W/state/data.mdb: not found"
	ls -l "$W/etc" "$W/state" "$W/log" | sed 's/^/   /'
}

act_audit() {
	local W="$work/w" conf="$work/w/etc/ward.conf"
	[ "$(id -u)" -eq 0 ] || return 0
	say "Act 3. Sam, from the security team, reviews the shift. The report: failures, lockouts, denials by rule, break-glass by person, anomalies."
	run "$wardctl" --config "$conf" audit report
	say "Is the log intact? Every record's HMAC chains to the one before, and the head is kept in the state store."
	run "$wardctl" --config "$conf" audit verify
	say "Every break-glass, with its reason:"
	run "$wardctl" --config "$conf" audit query --event breakglass
	say "Rosa asks what the hospital holds about her access (GDPR subject access):"
	"$wardctl" --config "$conf" audit export --user rosa --json > "$work/rosa.jsonl"
	echo "   $(wc -l < "$work/rosa.jsonl") records about Rosa; the first three:"
	head -3 "$work/rosa.jsonl" | cut -c1-150 | sed 's/^/   /; s/$/ .../'
	say "Someone edits a record in a copy of the log, to hide a denial. Verify names the record and what is wrong:"
	sed '0,/"result":"deny"/s//"result":"allow"/' "$W/log/audit.log" > "$work/edited.log"
	run "$wardctl" --config "$conf" audit verify "$work/edited.log"
}

act_fleet() {
	[ "$(id -u)" -eq 0 ] || return 0
	local F="$work/fleet" pamdrive="$work/bin/pamdrive" admin ws code i
	say "Act 4. The hospital is a fleet of workstations. A clinician enrols once; one code, one lockout and one set of recovery codes hold everywhere, through the hospital's replicated directory: two providers, and read-only consumers that chain every MFA write to the one write provider."
	tests/fleet/pair.sh start "$work/pair" >/dev/null
	# shellcheck disable=SC1091
	. "$work/pair/env"
	echo "   providers $A_URI and $B_URI (multi-provider), consumers $C1_URI and $C2_URI"
	mkdir -p "$F"
	chmod 0755 "$F"
	# one ward.conf per host: HOST URI BIND_DN PASSWORD_FILE
	fleet_conf() {
		local d="$F/$1"
		mkdir -p "$d/etc" "$d/pam.d" "$d/run"
		chmod 0755 "$d" "$d/etc" "$d/pam.d" "$d/run"
		cat > "$d/etc/policy.conf" <<'POL'
roles = { nurse = { }; };
users = ( { user = "alice"; roles = ["nurse"]; } );
apps = { ehr = ["gdm-password", "xscreensaver"]; };
rules = ( { id = "nurses-ehr"; effect = "allow"; roles = ["nurse"]; apps = ["ehr"];
            mfa = "required"; } );
POL
		cat > "$d/etc/ward.conf" <<CONF
policy_file = "$d/etc/policy.conf";
state_dir   = "$d/state";
directory = { uri = ["$2"]; base = "$BASE"; bind_dn = "$3";
              bind_password_file = "$4"; ca_file = "$CA_FILE"; timeout_ms = 2000; };
mfa = { window = 1; max_failures = 5; lockout_seconds = 900; issuer = "Example Hospital"; };
secrets = { key_file = "$d/etc/master.key"; };
audit = { path = "$d/log/audit.log"; key_file = "$d/etc/audit.key"; fsync = false; };
fleet = { write_uri = "$2"; key_file = "$d/etc/fleet.key"; };
CONF
		chmod 0644 "$d/etc/ward.conf" "$d/etc/policy.conf"
		cat > "$d/pam.d/gdm-password" <<PAMD
auth     required $work/bin/pam_ward.so socket=$d/run/wardd.sock
account  required $work/bin/pam_ward.so socket=$d/run/wardd.sock
PAMD
	}
	fleet_conf it-admin "$A_URI" "$ENROL_DN" "$ENROL_PW_FILE"
	fleet_conf ward3-ws "$C1_URI" "$WS1_DN" "$WS_PW_FILE"
	fleet_conf ward5-ws "$C2_URI" "$WS2_DN" "$WS_PW_FILE"
	admin="$F/it-admin/etc/ward.conf"
	say "Ruth makes the fleet key on IT's admin host (configuration management copies it to every workstation, mode 0600), and each workstation is initialised. The admin host binds as the enrolment identity, each workstation as itself."
	run "$wardctl" --config "$admin" init --fleet
	for ws in ward3-ws ward5-ws; do
		install -m 0600 "$F/it-admin/etc/fleet.key" "$F/$ws/etc/fleet.key"
		# on the workstation, under its name: its first records name it
		unshare --uts sh -c 'hostname "$1"; shift; exec "$@"' sh "$ws" \
		    "$wardctl" --config "$F/$ws/etc/ward.conf" init >/dev/null
		unshare --uts sh -c 'hostname "$1"; shift; exec "$@"' sh "$ws" \
		    "$build/wardd" --config "$F/$ws/etc/ward.conf" --socket "$F/$ws/run/wardd.sock" \
		    --debug >"$F/$ws/wardd.log" 2>&1 &
		echo $! > "$F/$ws/pid"
		for i in $(seq 100); do
			grep -q "ready on" "$F/$ws/wardd.log" && break
			sleep 0.05
		done
		grep -q "ready on" "$F/$ws/wardd.log" ||
		    { echo "   wardd for $ws did not start:"; sed 's/^/   /' "$F/$ws/wardd.log"; return 1; }
	done
	echo "   wardd runs on ward3-ws (reads and writes through $C1_URI) and ward5-ws (through $C2_URI)"
	say "Alice enrols once, on the admin host: her record (the secret sealed under the fleet key) goes on her own directory entry."
	local alice
	alice=$("$wardctl" --config "$admin" enroll alice --json --qr none |
	    sed -n 's/.*"secret":"\([A-Z2-7]*\)".*/\1/p')
	[ -n "$alice" ] || { echo "   enrolment failed"; return 1; }
	echo "   (oathtool plays her phone)"
	code=$(oathtool --totp -b "$alice")
	say "Alice logs in at ward3-ws, a workstation she has never used: the code is checked against her record and spent in the directory with one compare-and-swap."
	printf '[ward3-ws] $ pamdrive gdm-password alice auth,acct %s\n' "$code"
	"$pamdrive" "$F/ward3-ws/pam.d" gdm-password alice auth,acct "$code" | sed 's/^/   /' || true
	say "Someone who watched her type tries the same code at ward5-ws, on the other consumer, a second later: refused everywhere."
	printf '[ward5-ws] $ pamdrive gdm-password alice auth %s\n' "$code"
	"$pamdrive" "$F/ward5-ws/pam.d" gdm-password alice auth "$code" | sed 's/^/   /' || true
	say "Wrong codes at both workstations (3 at ward3-ws, 2 at ward5-ws) count together: at 5 she is locked at both."
	for g in 111111 222222 333333 444444 555555; do
		ws=ward3-ws; [ "$g" = 444444 ] || [ "$g" = 555555 ] && ws=ward5-ws
		"$pamdrive" "$F/$ws/pam.d" gdm-password alice auth "$g" | grep -E '^error' |
		    sed "s/^/   [$ws] /" || true
	done
	code=$(oathtool --totp -b "$alice" -N "@$(( $(date +%s) + 30 ))")
	for ws in ward3-ws ward5-ws; do
		printf '[%s] $ pamdrive gdm-password alice auth (the right code)\n' "$ws"
		"$pamdrive" "$F/$ws/pam.d" gdm-password alice auth "$code" | sed 's/^/   /' || true
	done
	run "$wardctl" --config "$admin" fleet status alice
	say "IT unlocks her once, from the admin host; her next code works at either workstation."
	run "$wardctl" --config "$admin" unlock alice
	printf '[ward5-ws] $ pamdrive gdm-password alice auth,acct %s\n' "$code"
	"$pamdrive" "$F/ward5-ws/pam.d" gdm-password alice auth,acct "$code" | sed 's/^/   /' || true
	say "Each workstation keeps its own audit chain, under its own host name:"
	for ws in ward3-ws ward5-ws; do
		run "$wardctl" --config "$F/$ws/etc/ward.conf" audit verify
		echo "   hosts named in $ws's log: $(grep -o '"host":"[^"]*"' "$F/$ws/log/audit.log" |
		    sort -u | tr '\n' ' ')"
	done
}

act_policy
act_shift
act_audit
act_fleet
say "End of the demo. Next: make check (the tests), man pam_ward, man ward-policy, man wardctl."
