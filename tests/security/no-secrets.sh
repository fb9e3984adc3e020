#!/bin/bash
# no-secrets.sh BUILD OUTPUT [SYSLOG] - the last step of every `make check` pass
# (tests/run-suites.sh runs it): no secret the tests use may appear in
# anything the tests printed or logged.
#
# `debug` must never print a code or a secret (THREATS.md), checked by a
# grep across all test output.  tests/security/test_security.c checks the
# syslog lines of a debug-enabled module and of wardd --debug, and wardd's
# standard error (codes, recovery codes, secret); this checks the rest,
# over every suite of the pass:
#  - OUTPUT, everything the suites wrote to stdout and stderr;
#  - SYSLOG, every line the suites that capture syslog received from the
#    module, wardd and wardctl (tests/common/logcap.c keeps them);
#  - every audit log the suites left behind, and every wardd --debug
#    standard error a suite kept (wardd*.log), under BUILD/tests and the
#    folder staged for user nobody (WARD_STAGE_ROOT).
# The secrets: every 32-character base32 TOTP secret written in the tests,
# benchmarks and demo sources (in upper and lower case, and as hex, the
# form pam_oath files and a careless log would use), and the demo
# directory's bind password.  Codes themselves (six digits) are too short
# to grep for meaningfully; the syslog check in test_security.c searches
# for the very codes it typed.
#
# So that this check can fail, it first plants one of the secrets in a
# scratch file and makes sure the search finds it.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$1 output=$2 syslog=${3:-}

command -v xxd >/dev/null || { echo "no-secrets: xxd is missing (contrib/install-deps.sh" \
	"installs it): the hex forms could not be searched"; exit 1; }
mapfile -t b32 < <(grep -rhoE '[A-Z2-7]{32}' tests/*/*.c tests/*/*.sh bench/*.c \
	contrib/demo.sh 2>/dev/null | sort -u)
if [ "${#b32[@]}" -lt 5 ]; then
	echo "no-secrets: found only ${#b32[@]} test secrets in the sources; the search is broken"
	exit 1
fi
pat=$(mktemp)
scratch=$(mktemp)
trap 'rm -f "$pat" "$scratch"' EXIT
echo "ward-demo-password" >"$pat"
for s in "${b32[@]}"; do
	hex=$(printf '%s' "$s" | base32 -d 2>/dev/null | xxd -p | tr -d '\n') || hex=
	printf '%s\n%s\n' "$s" "${s,,}" >>"$pat"
	[ -n "$hex" ] && printf '%s\n' "$hex" >>"$pat"
done

# the canary: a planted secret must be found
printf 'user alice secret=%s\n' "${b32[0]}" >"$scratch"
if ! grep -qFf "$pat" "$scratch"; then
	echo "no-secrets: the search did not find a planted secret; it is broken"
	exit 1
fi

files=("$output" ${syslog:+"$syslog"})
while IFS= read -r -d '' f; do
	files+=("$f")
done < <(find "$build/tests" ${WARD_STAGE_ROOT:+"$WARD_STAGE_ROOT"} -type f \
	\( -name 'audit.log*' -o -name 'wardd*.log' \) -print0 2>/dev/null)
found=0
for f in "${files[@]}"; do
	[ -r "$f" ] || continue
	# print which secret (its first 6 characters) and where, never the line
	while IFS= read -r hit; do
		line=${hit%%:*}
		for s in $(grep -oFf "$pat" <(sed -n "${line}p" "$f") | sort -u); do
			echo "no-secrets: $f:$line holds a test secret (${s:0:6}...)"
			found=1
		done
	done < <(grep -nFf "$pat" "$f" | cut -d: -f1 | sed 's/$/:/')
done
if [ "$found" -ne 0 ]; then
	exit 1
fi
lines=0
for f in "${files[@]}"; do
	[ -r "$f" ] && lines=$((lines + $(wc -l <"$f")))
done
echo "no-secrets: $(wc -l <"$pat") secret forms (${#b32[@]} TOTP secrets, hex, bind" \
	"password) searched in ${#files[@]} files, $lines lines (syslog: $( [ -n "$syslog" ] &&
	[ -r "$syslog" ] && wc -l <"$syslog" || echo 0) lines): none found"
