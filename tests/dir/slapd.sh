#!/bin/bash
# slapd.sh - a throwaway OpenLDAP server on loopback for Ward's directory
# tests, the wardctl CLI test and the directory benchmark.
#
#   slapd.sh start DIR [LDIF...]  make DIR (must not exist or be empty): a CA,
#                                 certificates, a cn=config (mdb, memberof,
#                                 Ward's schema), load the LDIF files, start
#                                 slapd, wait until it answers, write DIR/env
#   slapd.sh restart DIR          start the slapd of DIR again after stop
#   slapd.sh stop DIR             stop it (SIGCONT first, in case a test
#                                 stopped it with SIGSTOP), wait for the exit
#   slapd.sh clean DIR            stop, then remove DIR
#
# LDIF entries of objectClass groupOfNames (and changetype: records) are
# added online (ldapadd), so the memberof overlay fills memberOf; every other
# entry is loaded offline with slapadd.  Put a nested group after the groups
# it contains.
#
# Environment (optional):
#   WARD_SLAPD_USERS=N   also generate N people gen00001.. (offline)
#   WARD_SLAPD_GROUPS=M  also generate M groups gengrp0001.. (offline, no
#                        memberOf: found by group_filter), each with ten
#                        generated people; every tenth group contains the
#                        group before it (nesting)
#
# DIR/env (shell syntax) holds: SLAPD_PID, PORT, LDAP_URI (StartTLS or
# plaintext), LDAPS_URI, LDAPS_BADNAME_URI (127.0.0.2: a name the server
# certificate does not carry), LDAPI_URI, BASE, ADMIN_DN, ADMIN_PW,
# CA_FILE, OTHER_CA_FILE (a CA that signed nothing here), CLIENT_CERT,
# CLIENT_KEY (signed by CA_FILE's CA, for SASL EXTERNAL), DEAD_URI (a port
# where nothing listens).
#
# Runs as root without systemd: slapd stays the invoking user (no -u) and
# keeps everything in DIR.  It never touches /etc/ldap or a system slapd.
set -euo pipefail

BASE="dc=example,dc=org"
ADMIN_DN="cn=admin,$BASE"
ADMIN_PW="test-admin-pw"
SLAPD=${SLAPD:-/usr/sbin/slapd}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)

die() { echo "slapd.sh: $*" >&2; exit 1; }

# free_port, running, ours, stop_slapd
# shellcheck source=../common/slapd-proc.sh
. "$HERE/../common/slapd-proc.sh"

choose_port() {
	local p n
	for n in $(seq 1 100); do
		p=$((21000 + (RANDOM * 7 + n * 131) % 38000))
		if free_port 127.0.0.1 "$p" && free_port 127.0.0.1 $((p + 1)) &&
		   free_port 127.0.0.2 $((p + 2)) && free_port 127.0.0.1 $((p + 3)); then
			echo "$p"
			return 0
		fi
	done
	die "no free loopback port"
}

make_certs() {
	local t=$1/tls
	mkdir -m 0700 -p "$t"
	(
		cd "$t"
		# EC P-256: instant key generation; GnuTLS (Debian's libldap and
		# slapd) reads OpenSSL 3's PEM files as they are.
		for ca in ca other-ca; do
			openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
				-nodes -keyout "$ca.key" -out "$ca.pem" -days 3 \
				-subj "/CN=Ward test $ca" \
				-addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign"
		done
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout server.key -out server.csr -subj "/CN=localhost"
		printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
			"basicConstraints=CA:FALSE" \
			"keyUsage=critical,digitalSignature,keyEncipherment" \
			"extendedKeyUsage=serverAuth" > server.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
			-CAcreateserial -out server.pem -days 3 -extfile server.ext
		# Client certificate for SASL EXTERNAL: its subject is the
		# identity slapd binds (cn=ward-client,ou=services,BASE).
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout client.key -out client.csr \
			-subj "/DC=org/DC=example/OU=services/CN=ward-client"
		printf '%s\n' "basicConstraints=CA:FALSE" \
			"keyUsage=critical,digitalSignature" \
			"extendedKeyUsage=clientAuth" > client.ext
		openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key \
			-CAcreateserial -out client.pem -days 3 -extfile client.ext
		chmod 0600 ./*.key
	) >/dev/null 2>"$1/openssl.log" || { cat "$1/openssl.log" >&2; die "openssl failed"; }
}

config_ldif() {
	local d=$1
	cat <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $d/slapd.pid
olcArgsFile: $d/slapd.args
olcTLSCACertificateFile: $d/tls/ca.pem
olcTLSCertificateFile: $d/tls/server.pem
olcTLSCertificateKeyFile: $d/tls/server.key
olcTLSVerifyClient: allow
olcTLSProtocolMin: 3.3
olcAuthzRegexp: {0}"^cn=ward-client,ou=services,$BASE\$" "cn=ward-client,ou=services,$BASE"

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file://$SRC/contrib/ldap/ward.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: 5000

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $BASE
olcDbDirectory: $d/db
olcRootDN: $ADMIN_DN
olcRootPW: $ADMIN_PW
olcDbMaxSize: 1073741824
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: uid,cn,member,memberOf eq
olcAccess: {0}to attrs=userPassword by anonymous auth by * none
olcAccess: {1}to * by users read by * none
olcLimits: {0}dn.exact="cn=ward-small,ou=services,$BASE" size=1

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf
EOF
}

# Split LDIF records (blank-line separated, comments dropped) into the
# offline part (stdout of "offline") and the groups (stdout of "online").
split_ldif() { # offline|online FILE...
	awk -v want="$1" 'BEGIN { RS = ""; ORS = "\n\n" }
	{
		rec = ""; n = split($0, l, "\n")
		for (i = 1; i <= n; i++) if (l[i] !~ /^#/) rec = rec l[i] "\n"
		if (rec ~ /^[ \n]*$/) next
		g = (tolower(rec) ~ /\n(objectclass: *groupofnames|changetype:)/)
		if ((want == "online") == g) printf "%s\n", rec
	}' "${@:2}"
}

generated_ldif() {
	local nu=${WARD_SLAPD_USERS:-0} ng=${WARD_SLAPD_GROUPS:-0}
	[ "$nu" -gt 0 ] || [ "$ng" -gt 0 ] || return 0
	awk -v nu="$nu" -v ng="$ng" -v b="$BASE" 'BEGIN {
		for (i = 1; i <= nu; i++) {
			u = sprintf("gen%05d", i)
			printf "dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\n", u, b
			printf "uid: %s\ncn: Generated %d\nsn: %s\n\n", u, i, u
		}
		for (g = 1; g <= ng; g++) {
			printf "dn: cn=gengrp%04d,ou=groups,%s\nobjectClass: groupOfNames\n", g, b
			printf "cn: gengrp%04d\n", g
			for (k = 0; k < 10 && nu > 0; k++)
				printf "member: uid=gen%05d,ou=people,%s\n", ((g - 1) * 10 + k) % nu + 1, b
			if (g % 10 == 0)
				printf "member: cn=gengrp%04d,ou=groups,%s\n", g - 1, b
			printf "\n"
		}
	}'
}

run_slapd() {
	local d=$1 i
	# shellcheck disable=SC1091
	. "$d/env.in"
	"$SLAPD" -F "$d/slapd.d" -h "$URLS" 2>"$d/slapd.log" ||
		{ cat "$d/slapd.log" >&2; return 1; }
	for ((i = 0; i < 1000; i++)); do
		if LDAPNOINIT=1 ldapsearch -x -LLL -o nettimeout=2 -H "$LDAPI_URI" \
			-b "" -s base namingContexts >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.01
	done
	cat "$d/slapd.log" >&2
	return 1
}

write_env() {
	local d=$1
	# shellcheck disable=SC1091
	. "$d/env.in"
	{
		echo "SLAPD_DIR=$d"
		echo "SLAPD_PID=$(cat "$d/slapd.pid")"
		echo "PORT=$PORT"
		echo "LDAP_URI=ldap://127.0.0.1:$PORT/"
		echo "LDAPS_URI=ldaps://127.0.0.1:$((PORT + 1))/"
		echo "LDAPS_BADNAME_URI=ldaps://127.0.0.2:$((PORT + 2))/"
		echo "DEAD_URI=ldaps://127.0.0.1:$((PORT + 3))/"
		echo "LDAPI_URI=$LDAPI_URI"
		echo "BASE=$BASE"
		echo "ADMIN_DN=$ADMIN_DN"
		echo "ADMIN_PW=$ADMIN_PW"
		echo "CA_FILE=$d/tls/ca.pem"
		echo "OTHER_CA_FILE=$d/tls/other-ca.pem"
		echo "CLIENT_CERT=$d/tls/client.pem"
		echo "CLIENT_KEY=$d/tls/client.key"
	} > "$d/env.tmp"
	mv "$d/env.tmp" "$d/env"
}

do_start() {
	local d=${1:?usage: start DIR [LDIF...]} port ldapi try
	shift
	mkdir -p "$d"
	d=$(cd "$d" && pwd)
	[ -z "$(ls -A "$d")" ] || die "$d is not empty"
	chmod 0700 "$d"
	mkdir -p "$d/slapd.d" "$d/db"
	make_certs "$d"
	config_ldif "$d" > "$d/config.ldif"
	slapadd -n0 -F "$d/slapd.d" -l "$d/config.ldif" >"$d/slapadd.log" 2>&1 ||
		{ cat "$d/slapadd.log" >&2; die "slapadd of cn=config failed"; }
	{
		[ $# -gt 0 ] && split_ldif offline "$@"
		generated_ldif
	} > "$d/offline.ldif"
	if [ -s "$d/offline.ldif" ]; then
		slapadd -q -n1 -F "$d/slapd.d" -l "$d/offline.ldif" >>"$d/slapadd.log" 2>&1 ||
			{ cat "$d/slapadd.log" >&2; die "slapadd of the data failed"; }
	fi
	ldapi="ldapi://$(printf '%s' "$d/ldapi" | sed 's#/#%2F#g')"
	for try in 1 2 3; do
		port=$(choose_port)
		cat > "$d/env.in" <<EOF
PORT=$port
LDAPI_URI=$ldapi
URLS="ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$((port + 1))/ ldaps://127.0.0.2:$((port + 2))/ $ldapi"
EOF
		run_slapd "$d" && break
		[ "$try" = 3 ] && die "slapd did not start"
	done
	if [ $# -gt 0 ]; then
		split_ldif online "$@" > "$d/online.ldif"
		if [ -s "$d/online.ldif" ]; then
			LDAPNOINIT=1 ldapadd -x -H "$ldapi" -D "$ADMIN_DN" -w "$ADMIN_PW" \
				-f "$d/online.ldif" >"$d/ldapadd.log" 2>&1 ||
				{ cat "$d/ldapadd.log" >&2; do_stop "$d"; die "ldapadd failed"; }
		fi
	fi
	write_env "$d"
}

do_restart() {
	local d=${1:?usage: restart DIR}
	d=$(cd "$d" && pwd)
	[ -f "$d/env.in" ] || die "$d was not made by start"
	if [ -f "$d/slapd.pid" ] && ours "$(cat "$d/slapd.pid")" "$d"; then
		return 0
	fi
	rm -f "$d/slapd.pid"
	run_slapd "$d" || die "slapd did not start again"
	write_env "$d"
}

do_stop() {
	local d=${1:?usage: stop DIR}
	[ -d "$d" ] || return 0
	d=$(cd "$d" && pwd)
	stop_slapd "$d"
}

case "${1:-}" in
start) shift; do_start "$@" ;;
restart) shift; do_restart "$@" ;;
stop) shift; do_stop "$@" ;;
clean)
	shift
	do_stop "${1:?usage: clean DIR}"
	rm -rf -- "$1"
	;;
*) sed -n '2,32p' "$0" >&2; exit 2 ;;
esac
