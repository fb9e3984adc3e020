/* slapdtest.h - a throwaway slapd (tests/dir/slapd.sh: loopback ports,
 * TLS from a CA it makes) holding the demo hospital directory
 * (contrib/ldap/hospital.ldif), for suites that run pam_ward.so against
 * a directory.  One per process. */
#ifndef WARD_SLAPDTEST_H
#define WARD_SLAPDTEST_H

#include <stddef.h>

/* Start it in DIR.  From then on it is stopped and DIR cleaned by
 * tu_slapd_stop, at exit and on SIGINT or SIGTERM (even when starting
 * failed half-way).  0, or the script's exit status. */
int tu_slapd_start(const char *dir);
/* The same for tests/fleet/pair.sh: two providers replicating each other
 * and two chaining consumers (one per process, instead of tu_slapd_start);
 * tu_slapd_env reads its DIR/env, tu_slapd_stop stops all four. */
int tu_slapd_pair_start(const char *dir);
/* slapd.sh WHAT DIR ("stop", "restart"), its output discarded; its exit
 * status. */
int tu_slapd_cmd(const char *what);
/* The value of NAME (LDAP_URI, LDAPS_URI, DEAD_URI, CA_FILE, ...) in DIR/env
 * into OUT.  0, or -1 (OUT "") when it cannot be read. */
int tu_slapd_env(const char *name, char *out, size_t len);
/* Stop it and clean DIR, when started (again: nothing). */
void tu_slapd_stop(void);

#endif
