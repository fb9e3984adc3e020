/*
 * dir_int.h - what the directory client's files share; not for callers of
 * the client (dir.h).  dir_conn.c connects and binds, dir_deadline.c
 * bounds the time, dir.c searches, dir_cache.c keeps the cache rule,
 * dir_diag.c runs `wardctl directory test` and dir_fleet.c changes fleet
 * mode's MFA records (fleet.h).
 */
#ifndef WARD_DIR_INT_H
#define WARD_DIR_INT_H

#include <ldap.h>
#include <stddef.h>
#include <time.h>

#include "dir.h"
#include "dnset.h"
#include "fleet.h"

struct dir {
	const struct conf_directory *c;
	LDAP *ld;                   /* connected and bound, or NULL */
	size_t cur;                 /* URI index of ld */
	struct timespec deadline;   /* of the current network step */
	struct timespec budget;     /* of the whole lookup at one URI */
	int budget_on;              /* budget applies */
	int step_budget;            /* the step's deadline is the budget */
	int guard_on;               /* deadline applies */
	int timed_out;              /* the guard saw the deadline pass */
	int name_differs;           /* last lookup: entries, none of them the user's */
	int files_ok;               /* ca_file, client cert and key checked */
	ldap_conncb cb;             /* installs the guard on each connection */
	char msg[256];              /* last error text, for dir_diagnose */
};

/* ---- dir_deadline.c: the time rules ------------------------------------ */

/* Milliseconds since T0 (CLOCK_MONOTONIC). */
long dir_ms_since(const struct timespec *t0);

/* The whole lookup at one URI gets timeout_ms from dir_budget_start until
 * dir_budget_end. */
void dir_budget_start(struct dir *d);
void dir_budget_end(struct dir *d);

/* A network step starts (the guard is on); the milliseconds left in it;
 * the same as a timeval (at least 1 ms) for libldap. */
void dir_step_start(struct dir *d);
int dir_step_left(const struct dir *d);
void dir_step_tv(const struct dir *d, struct timeval *tv);

/* Why STEP timed out, into BUF. */
void dir_timeout_text(const struct dir *d, const char *step, char *buf, size_t len);

/* The connect callback that puts D's deadline guard under TLS on each
 * connection of a handle (LDAP_OPT_CONNECT_CB). */
struct ldap_conncb *dir_guard_cb(struct dir *d);

/* ---- dir_conn.c: connection and bind ----------------------------------- */

/* The LDAP handle's error code and diagnostic text as one line. */
void dir_ldap_errtext(LDAP *ld, int rc, char *buf, size_t len);

/* An LDAP result code as a WARD_ERR_* (0 for success). */
int dir_map_ldap_err(int rc);

/* 1 for the errors after which the next URI is worth trying (and the
 * cache may answer): UNAVAIL, TIMEOUT, TLS, AUTH. */
int dir_is_outage(int r);

/* Connect and bind to URI I; on success d->ld is set.  DG (may be NULL)
 * gets the per-step figures.  Failures are logged and kept in d->msg. */
int dir_connect_uri(struct dir *d, size_t i, struct dir_diag *dg);

/* Unbind d->ld (if any) within one step; the guard goes off. */
void dir_drop_conn(struct dir *d);

/* ---- dir.c: the searches ------------------------------------------------- */

/* The whole lookup of USER on the bound d->ld into G (see dir.c). */
int dir_lookup(struct dir *d, const char *user, struct dnset *g, char **user_dn);

/* TEMPLATE with every TOKEN ("%u", "%d") replaced by VALUE escaped as an
 * LDAP filter value (ldap_bv2escaped_filter_value).  *OUT is malloc'd. */
int dir_filter_subst(const char *tmpl, const char *token, const char *value, char **out);

/* One search on the bound d->ld within one step; *RES holds the entries and
 * the result (ldap_msgfree).  OURS says what reaching SIZELIMIT means.
 * WARD_ERR_NOTFOUND when BASE does not exist; other errors are logged. */
int dir_search(struct dir *d, const char *base, int scope, const char *filter,
    char **attrs, int sizelimit, const char *ours, LDAPMessage **res);

/* 1 when entry E has an ATTR value equal to USER byte for byte, 0 when
 * not, WARD_ERR_PARSE when ATTR cannot be read. */
int dir_name_is(struct dir *d, LDAPMessage *e, const char *attr, const char *user);

/* ---- dir_fleet.c: fleet mode's operations (fleet.h) ----------------------- */

struct fleet;
struct ward_conf;
/* The read (WRITE 0) or write path of F, and the settings it was opened
 * with. */
struct dir *dir_fleet_path(struct fleet *f, int write);
const struct ward_conf *dir_fleet_conf(const struct fleet *f);
/* D connected and bound (its URIs in order, each within timeout_ms). */
int dir_fleet_conn(struct dir *d);
/* One modify of DN on the write path, with the assertion FILTER (critical;
 * NULL: none) and dir_fleet.c's rules (no answer never a success; 52 sent
 * once more).  0 with *CODE the server's answer, or an outage. */
int dir_fleet_modify(struct fleet *f, const char *dn, LDAPMod **mods, char *filter, int *code);
/* A result code other than success as a WARD_ERR_*, logged with WHAT. */
int dir_fleet_write_err(struct fleet *f, const char *dn, const char *what, int code);
/* *M as one change: OP (LDAP_MOD_*) of attribute TYPE to the strings VALS,
 * or (_b) to the binary values VALS; both stay the caller's. */
void dir_fleet_mod_set(LDAPMod *m, int op, const char *type, char **vals);
void dir_fleet_mod_setb(LDAPMod *m, int op, const char *type, struct berval **vals);
/* VEC as N binary values, BV[i] pointing at the hash H[i] (FLEET_HASH_LEN
 * bytes), VEC[N] NULL: the values of wardRecoveryHash. */
void dir_fleet_hash_vals(struct berval *bv, struct berval **vec,
    const unsigned char (*h)[FLEET_HASH_LEN], size_t n);

#endif
