#!/bin/bash
# layering.sh SRC_DIR [BUILD] - which code may include what (make check runs
# it through tests/run-suites.sh, as one counted test).
#
#  1. lib/ and policy/ include nothing from pam_module/, admin/ or daemon/:
#     a quoted include in lib/ names a lib/ header, one in policy/ a policy/
#     header (policy/ stays free of lib/ too: it does no I/O while deciding).
#  2. <security/pam_*.h> only in pam_module/ (the one PAM-facing part), and in
#     tests/, bench/ and contrib/sample-app/, which drive PAM as an application.
#  3. <ldap.h> and <lber.h> only in the directory client (lib/dir*, lib/dnset.c).
#  4. <libconfig.h> only where files are parsed: lib/conf.c, policy/parse.c.
#  (tests/ is exempt from 3 and 4: the fault injector wraps libldap's calls.)
#  5. With BUILD: the libraries BUILD/pam_ward.so needs (readelf -d NEEDED)
#     are libpam and libc only: the module is a thin client of wardd.
#  6. pam_module/ includes, of the rest of the tree, only the protocol
#     (lib/wire.h) and what it needs (lib/ward.h): no store, directory,
#     crypto, configuration or policy code reaches a login process.
#
# Prints "FILE:LINE: what is wrong" for each violation; exits 1 if any.
# So that the check can fail, it first runs itself on a planted violation.
set -u

self=$(readlink -f "$0")
src=${1:?usage: layering.sh SRC_DIR [BUILD]}
build=${2:+$(readlink -f "$2")}
cd "$src" || exit 2

# every C source and header of the tree, without build output
sources() {
	find . \( -name build -o -name .git \) -prune -o -type f \( -name '*.c' -o -name '*.h' \) \
		-print | sed 's|^\./||' | sort
}

# includes FILE...: "FILE:LINE:HEADER-WITH-BRACKETS" for each #include
includes() {
	grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' "$@" /dev/null |
		sed -E 's/^([^:]*):([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*([<"][^>"]*[>"]).*/\1:\2:\3/'
}

bad=0
violation() {
	echo "$1"
	bad=1
}

check_tree() {
	local file line hdr name dir

	while IFS=: read -r file line hdr; do
		dir=${file%%/*}
		case "$hdr" in
		\"*)
			name=${hdr//\"/}
			# rule 6: the module's own headers, the protocol, ward.h
			if [ "$dir" = pam_module ]; then
				case "$name" in
				wire.h | ward.h) ;;
				*/*) violation "$file:$line: $hdr: pam_module/ includes only its own headers, wire.h and ward.h" ;;
				*) [ -f "pam_module/$name" ] ||
				    violation "$file:$line: $hdr: pam_module/ includes only its own headers, wire.h and ward.h" ;;
				esac
				continue
			fi
			# rule 1: a quoted include resolves next to the file
			[ "$dir" = lib ] || [ "$dir" = policy ] || continue
			if [ -f "$(dirname "$file")/$name" ] &&
			    [ "$(cd "$(dirname "$file")/$(dirname "$name")" && pwd -P)" = "$(pwd -P)/$dir" ]; then
				continue
			fi
			case "$name" in
			*pam_module/* | *admin/* | *daemon/*)
				violation "$file:$line: $hdr from ${name#../} ($dir/ never includes pam_module/, admin/ or daemon/)" ;;
			*)
				local base=${name##*/} where=""
				for d in pam_module admin daemon lib policy; do
					[ "$d" != "$dir" ] && [ -f "$d/$base" ] && where="$where $d/"
				done
				violation "$file:$line: $hdr is not a $dir/ header${where:+ (it is in$where)}" ;;
			esac
			;;
		"<security/pam_"*)
			case "$file" in
			pam_module/* | tests/* | bench/* | contrib/sample-app/*) ;;
			*) violation "$file:$line: $hdr outside pam_module/" ;;
			esac
			;;
		"<ldap.h>" | "<lber.h>")
			case "$file" in
			lib/dir*.c | lib/dir*.h | lib/dnset.c | tests/*) ;;
			*) violation "$file:$line: $hdr outside the directory client (lib/dir*.c)" ;;
			esac
			;;
		"<libconfig.h>")
			case "$file" in
			lib/conf.c | policy/parse.c | tests/*) ;;
			*) violation "$file:$line: $hdr outside the parsers (lib/conf.c, policy/parse.c)" ;;
			esac
			;;
		esac
	done < <(mapfile -t files < <(sources); includes "${files[@]}")
}

# rule 5
check_module_links() {
	local so=$build/pam_ward.so lib extra=""

	[ -f "$so" ] || return 0
	command -v readelf >/dev/null || { violation "$so: readelf is missing (binutils)"; return; }
	while read -r lib; do
		case "$lib" in
		libpam.so.* | libc.so.* | ld-linux*.so.*) ;;
		libasan.so.* | libubsan.so.*) ;;       # the ASan+UBSan build
		*) extra="$extra${extra:+, }$lib" ;;
		esac
	done < <(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	[ -n "$extra" ] || return 0
	violation "$so: links $extra (pam_ward.so may link only libpam and libc)"
}

# the check must be able to fail: plant one violation of each rule in a copy
if [ -z "${LAYERING_SELFTEST:-}" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/lib" "$tmp/policy" "$tmp/pam_module" "$tmp/admin"
	printf '#include "../pam_module/core.h"\n#include <libconfig.h>\n' >"$tmp/lib/a.c"
	printf '#include "ward.h"\n#include <ldap.h>\n' >"$tmp/policy/b.c"
	printf '#include <security/pam_appl.h>\n' >"$tmp/admin/c.c"
	printf '#include "client.h"\n#include "wire.h"\n#include "state.h"\n' >"$tmp/pam_module/d.c"
	: >"$tmp/pam_module/core.h"
	: >"$tmp/pam_module/client.h"
	: >"$tmp/lib/ward.h"
	n=$(LAYERING_SELFTEST=1 "$self" "$tmp" 2>&1 | grep -c ':[0-9]*: ')
	if [ "$n" -ne 6 ]; then
		echo "layering.sh: the self-test found $n of 6 planted violations"
		exit 1
	fi
	# rule 5: a module that links one library more
	if command -v cc >/dev/null; then
		mkdir -p "$tmp/b"
		echo 'int f(void); int f(void) { return 0; }' >"$tmp/b/m.c"
		cc -shared -fPIC -o "$tmp/b/pam_ward.so" "$tmp/b/m.c" -Wl,--no-as-needed -lm -lpam
		if ! LAYERING_SELFTEST=1 "$self" "$tmp" "$tmp/b" 2>&1 | grep -q 'links libm'; then
			echo "layering.sh: the self-test's module linking libm passed"
			exit 1
		fi
	fi
fi

check_tree
[ -n "$build" ] && check_module_links
[ "$bad" -eq 0 ] && [ -z "${LAYERING_SELFTEST:-}" ] && echo "layering: clean"
exit "$bad"
