#!/bin/bash
# pair.sh - a replicated OpenLDAP on loopback for Ward's fleet tests: two
# providers A and B replicating each other (N-way multi-provider), and two
# read-only consumers, C1 (a replica of A) and C2 (of B), that both chain
# every write to A (olcUpdateRef + slapo-chain, the writer's identity
# asserted by proxied authorization so that A applies its own ACLs).
#
#   pair.sh start DIR   make DIR (new or empty): a CA and a server
#                       certificate for 127.0.0.1, four cn=config trees
#                       with Ward's schema (contrib/ldap/ward.ldif) and its
#                       example ACLs (contrib/ldap/ward-acl.ldif) loaded as
#                       shipped, the data on A (B gets A's copy), start the
#                       four slapds, wait until a write on A is seen on B, C1
#                       and C2; write DIR/env
#                       (PAIR_NOCHAIN=c2 in the environment: C2 has no
#                       chain overlay, so it refers writes instead of
#                       chaining them: the misconfiguration wardctl fleet
#                       status names)
#   pair.sh stop DIR    stop every slapd of DIR (by the pid it wrote, only
#                       when that process is the slapd of DIR; SIGCONT first,
#                       in case a test stopped it), wait until each is gone
#   pair.sh clean DIR   stop, then remove DIR
#
# Data (dc=example,dc=org): people alice, bob (wardUser) and carol; the
# workstation identities cn=ws-1 and cn=ws-2,ou=workstations (members of
# cn=ward-workstations,ou=groups), the enrolment identity
# cn=ward-enrol,ou=services (member of cn=ward-admins,ou=groups), and
# cn=outsider,ou=services (in neither group).  Every password is random and
# also written to a 0600 file.
#
# DIR/env (shell syntax): BASE, ROOTDN, ROOTPW, CA_FILE; for each node X of
# A B C1 C2: X_URI (ldaps://127.0.0.1:P+1/), X_LDAP (ldap://...:P/,
# plaintext: for the test's own probes), X_LDAPI, X_PID; WS1_DN, WS2_DN,
# WS_PW, WS_PW_FILE (both workstations share it), ENROL_DN, ENROL_PW,
# ENROL_PW_FILE, OUTSIDER_DN, OUTSIDER_PW, USER_PW (alice's, bob's, carol's).
#
# Runs as root without systemd: every slapd stays the invoking user (no -u)
# and keeps everything in DIR; /etc/ldap and any system slapd are untouched.
set -euo pipefail

BASE="dc=example,dc=org"
ROOTDN="cn=admin,$BASE"
REPLDN="cn=replicator,$BASE"
SLAPD=${SLAPD:-/usr/sbin/slapd}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
NODES="a b c1 c2"

die() { echo "pair.sh: $*" >&2; exit 1; }

# free_port, running, ours, stop_slapd
# shellcheck source=../common/slapd-proc.sh
. "$HERE/../common/slapd-proc.sh"

# A port P with P+1 free too, not within 1 of any port in $TAKEN.
choose_port() {
	local p n q ok
	for n in $(seq 1 200); do
		p=$((21000 + (RANDOM * 13 + n * 211) % 38000))
		ok=1
		for q in $TAKEN; do
			[ $((p - q)) -ge -1 ] && [ $((p - q)) -le 1 ] && ok=0
		done
		[ "$ok" = 1 ] && free_port "$p" && free_port $((p + 1)) &&
			{ echo "$p"; return 0; }
	done
	die "no free loopback port"
}

ldapi_of() { printf 'ldapi://%s' "$(printf '%s' "$1/ldapi" | sed 's#/#%2F#g')"; }

make_certs() {
	local t=$1/tls
	mkdir -m 0700 -p "$t"
	(
		cd "$t"
		openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout ca.key -out ca.pem -days 3 -subj "/CN=Ward fleet test CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign"
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout server.key -out server.csr -subj "/CN=localhost"
		printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
			"basicConstraints=CA:FALSE" \
			"keyUsage=critical,digitalSignature,keyEncipherment" \
			"extendedKeyUsage=serverAuth,clientAuth" > server.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
			-CAcreateserial -out server.pem -days 3 -extfile server.ext
		chmod 0600 ./*.key
	) >/dev/null 2>"$1/openssl.log" || { cat "$1/openssl.log" >&2; die "openssl failed"; }
}

# The olcAccess values of contrib/ldap/ward-acl.ldif, as shipped (with
# their continuation lines).
acl_lines() {
	awk '/^olcAccess:/ { on = 1; print; next }
	     on && /^ / { print; next }
	     { on = 0 }' "$SRC/contrib/ldap/ward-acl.ldif"
}

# The part of cn=config every node shares.  NODE's folder is $D/NODE.
config_head() { # D NODE MODULES...
	local d=$1 n=$2 m
	shift 2
	cat <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $d/$n/slapd.pid
olcArgsFile: $d/$n/slapd.args
olcTLSCACertificateFile: $d/tls/ca.pem
olcTLSCertificateFile: $d/tls/server.pem
olcTLSCertificateKeyFile: $d/tls/server.key
olcTLSProtocolMin: 3.3
EOF
	case "$n" in
	a | b)
		echo "olcServerID: $([ "$n" = a ] && echo 1 || echo 2)"
		# A checks the authzTo of the identity the consumers assert
		# writes with
		echo "olcAuthzPolicy: to"
		;;
	esac
	cat <<EOF

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
EOF
	for m in "$@"; do echo "olcModuleLoad: $m"; done
	cat <<EOF

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

EOF
}

# The mdb database of NODE: its replication from UPSTREAM (ldaps port).
config_db() { # D NODE UPSTREAM_PORT REPLPW EXTRA...
	local d=$1 n=$2 up=$3 pw=$4 rid
	shift 4
	case "$n" in a) rid=001 ;; b) rid=002 ;; c1) rid=011 ;; *) rid=012 ;; esac
	cat <<EOF
dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $BASE
olcDbDirectory: $d/$n/db
olcRootDN: $ROOTDN
olcRootPW: $ROOTPW
olcDbMaxSize: 268435456
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: entryCSN,entryUUID eq
olcDbIndex: uid,cn,member eq
olcLimits: {0}dn.exact="$REPLDN" size=unlimited time=unlimited
$(acl_lines)
olcSyncrepl: rid=$rid provider=ldaps://127.0.0.1:$up/ bindmethod=simple binddn="$REPLDN" credentials=$pw searchbase="$BASE" type=refreshAndPersist retry="1 +" timeout=3 network-timeout=2 tls_cacert=$d/tls/ca.pem tls_reqcert=demand
EOF
	for x in "$@"; do echo "$x"; done
}

provider_config() { # D NODE OTHER_PORT REPLPW
	config_head "$1" "$2" back_mdb syncprov
	config_db "$1" "$2" "$3" "$4" "olcMultiProvider: TRUE"
	cat <<EOF

dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {0}syncprov
olcSpCheckpoint: 100 10
olcSpSessionLog: 10000
EOF
}

# A read-only replica of UPSTREAM whose writes go to A: the shadow database
# refers them to A (olcUpdateRef), and the chain overlay on the frontend
# follows that referral itself, binding as the replicator and asserting the
# client's own identity (proxied authorization, critical).
consumer_config() { # D NODE UPSTREAM_PORT A_PORT REPLPW
	local d=$1 n=$2 up=$3 ap=$4 pw=$5
	config_head "$d" "$n" back_mdb back_ldap
	if [ "${PAIR_NOCHAIN:-}" = "$n" ]; then
		config_db "$d" "$n" "$up" "$pw" "olcUpdateRef: ldaps://127.0.0.1:$ap/"
		return
	fi
	cat <<EOF
dn: olcOverlay={0}chain,olcDatabase={-1}frontend,cn=config
objectClass: olcOverlayConfig
objectClass: olcChainConfig
olcOverlay: {0}chain
olcChainReturnError: TRUE

dn: olcDatabase={0}ldap,olcOverlay={0}chain,olcDatabase={-1}frontend,cn=config
objectClass: olcLDAPConfig
objectClass: olcChainDatabase
olcDatabase: {0}ldap

dn: olcDatabase={1}ldap,olcOverlay={0}chain,olcDatabase={-1}frontend,cn=config
objectClass: olcLDAPConfig
objectClass: olcChainDatabase
olcDatabase: {1}ldap
olcDbURI: "ldaps://127.0.0.1:$ap/"
olcDbIDAssertBind: mode=self flags=prescriptive,proxy-authz-critical bindmethod=simple binddn="$REPLDN" credentials="$pw" tls_cacert="$d/tls/ca.pem" tls_reqcert=demand
olcDbNetworkTimeout: 3
olcDbTimeout: 5

EOF
	config_db "$d" "$n" "$up" "$pw" "olcUpdateRef: ldaps://127.0.0.1:$ap/"
}

hash() { slappasswd -s "$1"; }

identity() { # DN CN PW
	cat <<EOF
dn: $1
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: $2
userPassword: $(hash "$3")
EOF
}

person() { # UID NUMBER PW WARDUSER(0/1)
	echo "dn: uid=$1,ou=people,$BASE"
	echo "objectClass: inetOrgPerson"
	[ "$4" = 1 ] && echo "objectClass: wardUser"
	cat <<EOF
uid: $1
cn: $1
sn: $1
userPassword: $(hash "$3")

EOF
}

data_ldif() { # WSPW ENROLPW OUTPW USERPW REPLPW
	local ou
	printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example Hospital\n\n' "$BASE"
	for ou in people groups services workstations; do
		printf 'dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n' "$ou" "$BASE" "$ou"
	done
	identity "cn=ws-1,ou=workstations,$BASE" ws-1 "$1"; echo
	identity "cn=ws-2,ou=workstations,$BASE" ws-2 "$1"; echo
	identity "cn=ward-enrol,ou=services,$BASE" ward-enrol "$2"; echo
	identity "cn=outsider,ou=services,$BASE" outsider "$3"; echo
	# the consumers assert their clients' identities with this one
	identity "$REPLDN" replicator "$5"
	printf 'authzTo: dn.subtree:ou=workstations,%s\nauthzTo: dn.subtree:ou=services,%s\nauthzTo: dn.subtree:ou=people,%s\n\n' \
		"$BASE" "$BASE" "$BASE"
	person alice 10001 "$4" 1
	person bob 10002 "$4" 1
	person carol 10003 "$4" 0
	cat <<EOF
dn: cn=ward-workstations,ou=groups,$BASE
objectClass: groupOfNames
cn: ward-workstations
member: cn=ws-1,ou=workstations,$BASE
member: cn=ws-2,ou=workstations,$BASE

dn: cn=ward-admins,ou=groups,$BASE
objectClass: groupOfNames
cn: ward-admins
member: cn=ward-enrol,ou=services,$BASE

EOF
}

start_node() { # D NODE PORT
	local d=$1 n=$2 p=$3 i urls
	urls="ldap://127.0.0.1:$p/ ldaps://127.0.0.1:$((p + 1))/ $(ldapi_of "$d/$n")"
	"$SLAPD" -F "$d/$n/slapd.d" -h "$urls" 2>"$d/$n/slapd.log" ||
		{ cat "$d/$n/slapd.log" >&2; die "slapd $n did not start"; }
	for ((i = 0; i < 500; i++)); do
		LDAPNOINIT=1 ldapsearch -x -LLL -o nettimeout=2 -H "ldap://127.0.0.1:$p/" \
			-b "" -s base namingContexts >/dev/null 2>&1 && return 0
		sleep 0.01
	done
	die "slapd $n did not answer within 5 s"
}

seen() { # URI VALUE: the probe value is on the replicator's entry
	LDAPNOINIT=1 ldapsearch -x -LLL -o nettimeout=2 -H "$1" -D "$ROOTDN" -w "$ROOTPW" \
		-b "$REPLDN" -s base "(description=$2)" 1.1 2>/dev/null | grep -q '^dn:'
}

do_stop() {
	local d=${1:?usage: stop DIR} n
	[ -d "$d" ] || return 0
	d=$(cd "$d" && pwd)
	for n in c1 c2 a b; do stop_slapd "$d/$n"; done
}

on_start_exit() {
	[ "${STARTED_OK:-0}" = 1 ] || do_stop "$START_DIR"
}

secret_file() { # FILE VALUE
	(umask 077 && printf '%s\n' "$2" > "$1")
}

do_start() {
	local d=${1:?usage: start DIR} n port pa pb pc1 pc2 i probe ok
	local replpw wspw enrolpw outpw userpw
	mkdir -p "$d"
	d=$(cd "$d" && pwd)
	[ -z "$(ls -A "$d")" ] || die "$d is not empty"
	chmod 0700 "$d"
	START_DIR=$d
	trap on_start_exit EXIT
	ROOTPW=$(openssl rand -hex 12)
	replpw=$(openssl rand -hex 12) wspw=$(openssl rand -hex 12)
	enrolpw=$(openssl rand -hex 12) outpw=$(openssl rand -hex 12)
	userpw=$(openssl rand -hex 12)
	for n in $NODES; do mkdir -p "$d/$n/slapd.d" "$d/$n/db"; done
	make_certs "$d"
	TAKEN=""
	pa=$(choose_port); TAKEN="$pa"
	pb=$(choose_port); TAKEN="$TAKEN $pb"
	pc1=$(choose_port); TAKEN="$TAKEN $pc1"
	pc2=$(choose_port)
	provider_config "$d" a $((pb + 1)) "$replpw" > "$d/a/config.ldif"
	provider_config "$d" b $((pa + 1)) "$replpw" > "$d/b/config.ldif"
	consumer_config "$d" c1 $((pa + 1)) $((pa + 1)) "$replpw" > "$d/c1/config.ldif"
	consumer_config "$d" c2 $((pb + 1)) $((pa + 1)) "$replpw" > "$d/c2/config.ldif"
	for n in $NODES; do
		slapadd -n0 -F "$d/$n/slapd.d" -l "$d/$n/config.ldif" >"$d/$n/slapadd.log" 2>&1 ||
			{ cat "$d/$n/slapadd.log" >&2; die "slapadd of $n's cn=config failed"; }
	done
	data_ldif "$wspw" "$enrolpw" "$outpw" "$userpw" "$replpw" > "$d/data.ldif"
	# A gets the data (-S 1: its server ID in the CSNs, -w: contextCSN);
	# B gets A's copy (same entryUUIDs and CSNs); the consumers start
	# empty and take a full refresh.
	slapadd -q -w -S 1 -n1 -F "$d/a/slapd.d" -l "$d/data.ldif" >>"$d/a/slapadd.log" 2>&1 ||
		{ cat "$d/a/slapadd.log" >&2; die "slapadd of the data on A failed"; }
	slapcat -n1 -F "$d/a/slapd.d" -l "$d/data-a.ldif" 2>>"$d/a/slapadd.log" ||
		die "slapcat of A failed"
	slapadd -q -n1 -F "$d/b/slapd.d" -l "$d/data-a.ldif" >>"$d/b/slapadd.log" 2>&1 ||
		{ cat "$d/b/slapadd.log" >&2; die "slapadd of the data on B failed"; }
	start_node "$d" a "$pa"
	start_node "$d" b "$pb"
	start_node "$d" c1 "$pc1"
	start_node "$d" c2 "$pc2"
	# replication works both ways before any test runs
	probe="probe-$(openssl rand -hex 4)"
	LDAPNOINIT=1 ldapmodify -x -H "ldap://127.0.0.1:$pa/" -D "$ROOTDN" -w "$ROOTPW" \
		>/dev/null <<EOF || die "the probe write on A failed"
dn: $REPLDN
changetype: modify
replace: description
description: $probe
EOF
	for port in "$pb" "$pc1" "$pc2"; do
		ok=0
		for ((i = 0; i < 1000; i++)); do
			if seen "ldap://127.0.0.1:$port/" "$probe"; then ok=1; break; fi
			sleep 0.01
		done
		[ "$ok" = 1 ] || die "a write on A was not seen on port $port within 10 s"
	done
	secret_file "$d/ws.pw" "$wspw"
	secret_file "$d/enrol.pw" "$enrolpw"
	{
		echo "FLEET_DIR=$d"
		echo "BASE=$BASE"
		echo "ROOTDN=$ROOTDN"
		echo "ROOTPW=$ROOTPW"
		echo "CA_FILE=$d/tls/ca.pem"
		for n in $NODES; do
			case "$n" in a) port=$pa ;; b) port=$pb ;; c1) port=$pc1 ;; *) port=$pc2 ;; esac
			N=$(echo "$n" | tr '[:lower:]' '[:upper:]')
			echo "${N}_URI=ldaps://127.0.0.1:$((port + 1))/"
			echo "${N}_LDAP=ldap://127.0.0.1:$port/"
			echo "${N}_LDAPI=$(ldapi_of "$d/$n")"
			echo "${N}_PID=$(cat "$d/$n/slapd.pid")"
		done
		echo "WS1_DN=cn=ws-1,ou=workstations,$BASE"
		echo "WS2_DN=cn=ws-2,ou=workstations,$BASE"
		echo "WS_PW=$wspw"
		echo "WS_PW_FILE=$d/ws.pw"
		echo "ENROL_DN=cn=ward-enrol,ou=services,$BASE"
		echo "ENROL_PW=$enrolpw"
		echo "ENROL_PW_FILE=$d/enrol.pw"
		echo "OUTSIDER_DN=cn=outsider,ou=services,$BASE"
		echo "OUTSIDER_PW=$outpw"
		echo "USER_PW=$userpw"
	} > "$d/env.tmp"
	mv "$d/env.tmp" "$d/env"
	STARTED_OK=1
}

case "${1:-}" in
start) shift; do_start "$@" ;;
stop) shift; do_stop "$@" ;;
clean)
	shift
	do_stop "${1:?usage: clean DIR}"
	rm -rf -- "$1"
	;;
*) sed -n '2,37p' "$0" >&2; exit 2 ;;
esac
