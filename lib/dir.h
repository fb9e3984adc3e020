/*
 * dir.h - directory (LDAP) client: a user's group DNs, with cache policy.
 *
 * The only module that includes <ldap.h>.  It returns group DNs; mapping
 * groups to roles (policy role_sources) is the caller's job, using
 * dir_dn_equal / dir_dn_normalize (core_map_groups does it).  Every
 * function returns 0 or a negative WARD_ERR_*; every directory problem is
 * logged with ward_log (URI and LDAP error text, never the bind password).
 *
 * Security rules (lib/dir.c, dir_conn.c and dir_deadline.c say how):
 * certificates always verified against ca_file, TLS 1.2+, plaintext only
 * to ldapi:// or with allow_plaintext; the whole lookup at one URI
 * (connect, TLS handshake, bind, every search) bounded by timeout_ms; user
 * names checked before any I/O and escaped in filters, and an entry is the
 * user's only when its name_attribute holds the name byte for byte;
 * answers bounded; errors return no groups at all.
 */
#ifndef WARD_DIR_H
#define WARD_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "ward.h"

struct state;
struct dir;	/* opaque: one lazily connected handle, one per PAM transaction */

/* Longest user name accepted; longer names fail WARD_ERR_INVAL at once. */
#define DIR_USER_MAX 256

/* Why a user the directory has an entry for got none of its groups: the
 * entry's name_attribute (uid) matched %u only by the server's matching
 * rule (case, or another form), not byte for byte. */
#define DIR_NOTE_NAME_DIFFERS "directory entry uid differs from the name (case or form)"

/*
 * Make a handle for C (which must outlive it).  No network I/O here: the
 * connection is made on the first query.  Returns 0 or WARD_ERR_NOMEM /
 * WARD_ERR_INVAL (directory disabled, no URI, missing ca_file for a
 * non-ldapi URI).  The caller frees *D with dir_close.
 */
int dir_open(struct dir **d, const struct conf_directory *c) WARD_WUR;

/* Unbind and free D.  NULL is fine. */
void dir_close(struct dir *d);
/* Point D at C, a new copy of the very settings D was opened with (a
 * daemon that loaded its configuration again keeps its connection). */
void dir_rebind(struct dir *d, const struct conf_directory *c) WARD_NONNULL(1, 2);

/*
 * Look up USER's group DNs (direct + nested up to nested_depth, group_filter
 * and memberOf), tried over each URI in order.  Direct groups are the
 * user's member_of_attr values and the entries group_filter (%d = the
 * user's DN) finds; each further level (at most nested_depth of them) adds
 * the groups that contain a group of the level before, found the same two
 * ways (without group_filter, by reading each group's memberOf).  The
 * user's entry is the one user_filter finds whose name_attribute (default
 * uid) has a value equal to USER byte for byte; entries that match only by
 * the server's rule (ROSA for rosa) are WARD_ERR_NOTFOUND, logged with
 * DIR_NOTE_NAME_DIFFERS.  The connection of an earlier call is used first,
 * then the URIs in order; a URI that is down, hung, refuses TLS or the
 * bind is skipped.  Each URI tried gets timeout_ms for the whole lookup
 * (connect, TLS, bind and every search together), so a call takes at most
 * about timeout_ms per URI.  Two entries that are both USER's are
 * WARD_ERR_INVAL (refused, logged).  When every URI fails the most telling
 * error is returned: TLS, then AUTH, then TIMEOUT, then UNAVAIL.  On 0: *DNS is a malloc'd
 * array of *N malloc'd strings (free with dir_free_list), *USER_DN (if
 * USER_DN is non-NULL) a malloc'd string.  Errors: WARD_ERR_INVAL (name
 * fails ward_user_valid or is over DIR_USER_MAX - no network used),
 * WARD_ERR_NOTFOUND (no such user), WARD_ERR_UNAVAIL (no URI reachable),
 * WARD_ERR_TLS, WARD_ERR_AUTH, WARD_ERR_TIMEOUT (a step or the whole
 * lookup ran out of timeout_ms: the log says which), WARD_ERR_TOOBIG
 * (answer over max_entries/max_values, or cut by the server's own size
 * limit: the log says which), WARD_ERR_NOMEM.  On error nothing is
 * returned through the pointers.
 */
int dir_user_groups(struct dir *d, const char *user, char ***dns, size_t *n,
    char **user_dn) WARD_WUR;

/*
 * Cache policy.  A cached answer younger than cache_seconds is returned
 * without opening *D.  ST may be NULL (no cache: the directory decides).
 * "Unreachable" means every URI failed with UNAVAIL, TIMEOUT, TLS or AUTH;
 * other errors (bad name, ambiguous user, answer too big, unsafe password
 * file) are returned as they are and never answered from the cache.  An
 * answer fetched "in the future" (clock stepped back) is neither fresh nor
 * usable offline.  Otherwise the directory is asked (*D opened lazily
 * when NULL; the caller closes it) and the answer is stored with
 * state_dircache_put ("not found" is cached as a marker; failures never
 * are).  Directory unreachable: a cached answer younger than
 * offline_max_age is returned with *OFFLINE = 1, else WARD_ERR_UNAVAIL.
 * A cached "not found" is returned as WARD_ERR_NOTFOUND.  NOTE (may be
 * NULL) is set to DIR_NOTE_NAME_DIFFERS when the "not found" (fresh or
 * cached) is an entry whose name differs from USER, else to NULL.
 */
int dir_groups_cached(struct dir **d, const struct conf_directory *c,
    struct state *st, const char *user, int64_t now, char ***dns, size_t *n,
    int *offline, const char **note) WARD_WUR;

/* Free an array from dir_user_groups / dir_groups_cached.  NULL is fine. */
void dir_free_list(char **dns, size_t n);

/*
 * Normalise DN by LDAP rules (ldap_dn_normalize, LDAP_DN_FORMAT_LDAPV3,
 * then attribute types and values folded to lower case:
 * the names used here - cn, ou, dc, uid - have case-insensitive matching).
 * *OUT is malloc'd.  Returns 0, WARD_ERR_PARSE (not a DN), WARD_ERR_NOMEM.
 */
int dir_dn_normalize(const char *dn, char **out) WARD_WUR;

/* 1 when A and B name the same entry by the rules above, 0 otherwise
 * (including when either fails to parse). */
int dir_dn_equal(const char *a, const char *b) WARD_WUR;

/* One step of `wardctl directory test`, per URI. */
struct dir_diag {
	const char *uri;         /* points into the configuration */
	int reachable;           /* TCP/ldapi connect + TLS ok */
	int connect_rc;          /* 0 or WARD_ERR_* (UNAVAIL, TIMEOUT, TLS...) */
	char tls_version[32];    /* e.g. "TLS1.3"; "" when plaintext/unknown */
	int bind_rc;             /* 0 or WARD_ERR_* */
	int lookup_rc;           /* 0, WARD_ERR_NOTFOUND, ...; 1 = not tried */
	size_t ngroups;          /* groups found at this URI */
	char msg[256];           /* error text for the failing step */
	long connect_ms, bind_ms, search_ms;
};

/*
 * Run a diagnostic against every URI of C (not stopping at the first
 * success).  DIAG has room for NDIAG entries (use CONF_MAX_URIS); USER may
 * be NULL (connect and bind only).  Groups/user DN returned as for
 * dir_user_groups, from the first URI that answered.  Returns that URI's
 * answer (0, or WARD_ERR_NOTFOUND when it has no such user; 0 when USER is
 * NULL and a URI bound), else the first error.
 */
int dir_diagnose(const struct conf_directory *c, const char *user,
    struct dir_diag *diag, size_t ndiag, char ***dns, size_t *n,
    char **user_dn) WARD_WUR;

#endif
