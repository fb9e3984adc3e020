#!/bin/bash
# demo.sh BUILD_DIR - `make demo`: Ward's main job, told as a story.
#
# Act 1: a sysadmin and the hospital policy - check it, see mistakes named
# with file:line, ask who may use what, where, when and why.
# Act 2: the second factor at the workstation - enrol with a QR code, log in
# through real PAM with a code (oathtool plays the phone), replay, grace,
# lockout and unlock, recovery codes, users who are not enrolled.
# Later acts (the directory, break-glass, the audit trail) join as those
# parts land.  Everything lives in a private folder; nothing in /etc changes.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
wardctl="$build/wardctl"
work=$(mktemp -d /tmp/ward-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

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

act_login() {
	local W="$work/w" host conf pamdrive="$build/tests/tools/pamdrive"
	host=$(hostname -s)
	if [ "$(id -u)" -ne 0 ]; then
		say "Act 2 needs root (keys and the state store must be root's); skipped."
		return 0
	fi
	mkdir -p "$W/etc" "$W/pam.d"
	chmod 0755 "$work" "$W" "$W/etc" "$W/pam.d"
	conf="$W/etc/ward.conf"
	# this machine stands in for an ICU workstation
	sed -e "s/icu      = \[\"icu-ws-\*\"\]/icu      = [\"icu-ws-*\", \"$host\"]/" \
	    -e "s/it       = \[\"it-ws-\*\"\]/it       = [\"it-ws-*\", \"$host\"]/" \
	    contrib/policy.conf > "$W/etc/policy.conf"
	cat > "$conf" <<CONF
policy_file = "$W/etc/policy.conf";
state_dir   = "$W/state";
helper      = "$build/ward_verify";
mfa = { digits = 6; period = 30; algorithm = "sha1"; window = 1;
        max_failures = 5; lockout_seconds = 900; issuer = "Example Hospital"; };
secrets = { key_file = "$W/etc/master.key"; };
audit = { path = "$W/log/audit.log"; key_file = "$W/etc/audit.key"; };
CONF
	chmod 0644 "$conf" "$W/etc/policy.conf"
	for svc in gdm-password xscreensaver sudo; do
		cat > "$W/pam.d/$svc" <<PAMD
auth     required $build/pam_ward.so config=$conf
account  required $build/pam_ward.so config=$conf
session  required $build/pam_ward.so config=$conf
PAMD
	done
	# in the example policy the screen locker belongs to the EHR app
	sed -i 's/ehr          = \["ehr-login", "gdm-password", "login"\]/ehr          = ["ehr-login", "gdm-password", "login", "xscreensaver"]/' \
	    "$W/etc/policy.conf"

	say "Act 2. Ruth sets Ward up on workstation $host (standing in for an ICU and an IT workstation); keys and the store get safe modes."
	run "$wardctl" --config "$conf" init

	say "She enrols Alice. Alice scans the QR code with her phone's authenticator app; the recovery codes go in her locker."
	run "$wardctl" --config "$conf" enroll alice --qr utf8
	local secret
	secret=$("$wardctl" --config "$conf" enroll alice --force --json --qr none |
	    sed -n 's/.*"secret":"\([A-Z2-7]*\)".*/\1/p')
	echo "   (the demo re-enrolls Alice with --json so oathtool can play her phone)"

	local code
	code=$(oathtool --totp -b "$secret")
	say "Alice logs in at the workstation with the code her phone shows. The session gets her roles and the idle logoff to enforce."
	run "$pamdrive" "$W/pam.d" gdm-password alice auth,acct,open "$code"

	say "Ten minutes later she unlocks the screen: her rule grants 15 minutes of grace on this workstation, so no code is asked."
	run "$pamdrive" "$W/pam.d" xscreensaver alice auth,acct

	say "Dave from IT (rule it-admin: a code every time, no grace) uses sudo with his code."
	local dsecret dcode
	dsecret=$("$wardctl" --config "$conf" enroll dave --json --qr none |
	    sed -n 's/.*"secret":"\([A-Z2-7]*\)".*/\1/p')
	dcode=$(oathtool --totp -b "$dsecret")
	run "$pamdrive" "$W/pam.d" sudo dave auth,acct "$dcode"
	say "Someone who watched him type tries the same code at once: a code works once."
	run "$pamdrive" "$W/pam.d" sudo dave auth "$dcode"

	say "Bob is enrolled too. Someone guesses at his codes; after five wrong codes the second factor locks."
	"$wardctl" --config "$conf" enroll bob --qr none >/dev/null
	for guess in 111111 222222 333333 444444 555555; do
		"$pamdrive" "$W/pam.d" gdm-password bob auth "$guess" | grep -v '^prompt' || true
	done
	run "$wardctl" --config "$conf" status bob
	say "Bob calls IT; Ruth checks it is him and unlocks."
	run "$wardctl" --config "$conf" unlock bob

	say "Dave's phone is at home. Ruth gives him a fresh set of recovery codes; each works once."
	local rc
	rc=$("$wardctl" --config "$conf" recovery-codes dave --json |
	    sed -n 's/.*"recovery_codes":\["\([^"]*\)".*/\1/p')
	run "$pamdrive" "$W/pam.d" sudo dave auth "$rc"
	run "$pamdrive" "$W/pam.d" sudo dave auth "$rc"
	run "$wardctl" --config "$conf" status dave

	say "Erin has not enrolled yet, and 'zed' does not exist: both see the same prompt and the same answer."
	run "$pamdrive" "$W/pam.d" gdm-password erin auth 123456
	run "$pamdrive" "$W/pam.d" gdm-password zed auth 123456

	say "On disk the TOTP secrets are sealed (AES-256-GCM, the user name bound in); grep finds no secret:"
	if grep -c "$secret" "$W/state/data.mdb" >/dev/null; then
		echo "   FOUND the secret in clear (this is a bug)"; return 1
	else
		echo "   grep $secret $W/state/data.mdb: not found"
	fi
	ls -l "$W/etc" "$W/state" | sed 's/^/   /'
}

act_policy
act_login
say "End of the demo. Next: make check (the tests), man ward-policy (the policy format)."
