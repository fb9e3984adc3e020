#!/bin/bash
# gen-policy-shapes.sh - policy texts of the shapes that stress the loader
# and `wardctl policy diff` (not hospital-like; see bench_policy.c for that).
#
#   gen-policy-shapes.sh chain N FILE        N roles, rK inherits rK-1; one app,
#                                            one rule for r0, one user with the
#                                            last role
#   gen-policy-shapes.sh diff N OLD NEW      two policies of N roles (chains of
#                                            20 with cross-links, one permission
#                                            each) and N rules over one app,
#                                            differing in one permission
set -euo pipefail
usage() { echo "usage: $0 chain N FILE | diff N OLD NEW" >&2; exit 2; }
[ $# -ge 3 ] || usage
case "$1" in
chain)
	awk -v n="$2" 'BEGIN {
		print "roles = {"
		print " r0 = { permissions = [\"ehr:read\"]; };"
		for (i = 1; i < n; i++)
			printf " r%d = { inherits = [\"r%d\"]; };\n", i, i - 1
		print "};"
		print "apps = { ehr = [\"ehr-login\"]; };"
		print "rules = ( { id = \"base\"; effect = \"allow\"; roles = [\"r0\"]; apps = [\"ehr\"]; } );"
		printf "users = ( { user = \"alice\"; roles = [\"r%d\"]; } );\n", n - 1
	}' > "$3"
	;;
diff)
	[ $# -eq 4 ] || usage
	for f in "$3" "$4"; do
		awk -v n="$2" -v changed=$([ "$f" = "$4" ] && echo 1 || echo 0) 'BEGIN {
			seed = 12345
			print "roles = {"
			for (i = 0; i < n; i++) {
				printf " r%d = { ", i
				if (i % 20 != 0) {
					printf "inherits = [\"r%d\"", i - 1
					if (i > 40 && i % 10 == 3)
						printf ", \"r%d\"", (i * 7919) % (int(i / 20) * 20)
					printf "]; "
				}
				perm = "ehr:act" (i % 5)
				if (changed && i == int(n / 2))
					perm = "ehr:export"
				printf "permissions = [\"%s\"]; };\n", perm
			}
			print "};"
			print "apps = { ehr = [\"ehr-login\"]; };"
			print "rules = ("
			for (i = 0; i < n; i++)
				printf " { id = \"q%d\"; effect = \"allow\"; roles = [\"r%d\"]; apps = [\"ehr\"]; }%s\n", i,
				    (i * 31) % n, i + 1 < n ? "," : ""
			print ");"
			print "users = ("
			for (i = 0; i < 100; i++)
				printf " { user = \"u%d\"; roles = [\"r%d\"]; }%s\n", i, (i * 97) % n,
				    i < 99 ? "," : ""
			print ");"
		}' > "$f"
	done
	;;
*) usage ;;
esac
