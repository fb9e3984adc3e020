#!/bin/bash
# Directory: role lookup for one login against a loopback slapd (TLS) with
# 10,000 people and 1,000 groups - cold (new connection, TLS, bind), on a
# bound connection, and answered from the state store's cache.
set -euo pipefail
b="$WARD_BUILD/bench/bench_dir"
src=${WARD_SRC:-$PWD}
dir=$(mktemp -d /tmp/ward-bench-dir.XXXXXX)
trap '"$src/tests/dir/slapd.sh" clean "$dir/ldap" >/dev/null 2>&1; rm -rf "$dir"' EXIT
t0=$(date +%s%N)
WARD_SLAPD_USERS=10000 WARD_SLAPD_GROUPS=1000 \
	"$src/tests/dir/slapd.sh" start "$dir/ldap" "$src/contrib/ldap/hospital.ldif" >/dev/null
t1=$(date +%s%N)
echo "slapd with 10,000 people and 1,000 groups ready in $(( (t1 - t0) / 1000000 )) ms"
printf '%s' "ward-demo-password" > "$dir/ldap.secret"
chmod 0600 "$dir/ldap.secret"
"$b" "$dir/ldap/env" "$dir/ldap.secret" "$dir/state"
