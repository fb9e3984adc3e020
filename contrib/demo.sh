#!/bin/bash
# demo.sh BUILD_DIR - `make demo`: Ward's main job, told as a story.
#
# Act 1 (today): a sysadmin and the hospital policy - check it, see mistakes
# named with file:line, ask who may use what, where, when and why.
# Later acts (codes at the workstation, the directory, break-glass, the
# audit trail) join as those parts land.
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

act_policy
say "End of the demo. Next: make check (the tests), man ward-policy (the policy format)."
