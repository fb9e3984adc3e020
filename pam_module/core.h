/*
 * core.h - what pam_ward.so and its setuid helper share: load the
 * configuration and policy through the trusted opener, resolve roles,
 * decide, check and record grace, verify a code against the state store.
 * No PAM headers here (the helper is not a PAM module).
 *
 * Rules it keeps:
 *  - Every function starts from a denying result and returns 0 only on a
 *    positive answer that was recorded (a verification is only a success
 *    once the store has committed the new watermark).
 *  - Codes and secrets stay in locals that are wiped before return.
 */
#ifndef WARD_CORE_H
#define WARD_CORE_H

#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "ward_policy.h"

#define CORE_MAX_ROLES 64

struct core {
	struct ward_conf conf;
	struct policy *pol;
	int from_snapshot;
	char host[256];              /* this workstation's short name */
};

/* Load ward.conf (CONF_PATH, NULL = default) and the policy (snapshot
 * when current and intact, else text; both through the trusted opener).
 * On error ERR says which file and why. */
int core_init(struct core *c, const char *conf_path, char *err, size_t errlen) WARD_WUR;
void core_free(struct core *c);

/* Roles of USER (the policy's local `users` for now; the directory plugs
 * in here).  Names point into the policy.  Returns the count or an error. */
int core_roles(struct core *c, const char *user, const char **roles, size_t max) WARD_WUR;

/*
 * Roles conferred by the group DNs DNS[0..N) through the policy's
 * role_sources, comparing DNs by LDAP rules (dir_dn_equal's normal form),
 * not bytes.  Appends to ROLES (which already holds *COUNT names, pointing
 * into the policy) without duplicates, up to MAX.  Returns 0,
 * WARD_ERR_TOOBIG when more than MAX roles result, or WARD_ERR_NOMEM.
 * A group DN that does not parse confers nothing.
 */
int core_map_groups(const struct policy *pol, char *const *dns, size_t n,
    const char **roles, size_t *count, size_t max) WARD_WUR;

/* The decision for USER on SERVICE at NOW on this host. */
int core_decide(struct core *c, const char *user, const char *service, time_t now,
    struct policy_decision *d) WARD_WUR;

/* Grace: *ACTIVE = 1 when USER verified for APP on this host recently
 * enough.  Store errors are returned (the caller then asks for a code). */
int core_grace_active(struct core *c, const char *user, const char *app, time_t now,
    int *active) WARD_WUR;
int core_grace_record(struct core *c, const char *user, const char *app,
    long seconds, time_t now) WARD_WUR;

struct core_verify_result {
	int used_recovery;           /* 1 when a recovery code was accepted */
	int recovery_left;           /* unused recovery codes after this */
	int locked_now;              /* this attempt caused a lockout */
	int64_t locked_until;        /* when locked: until (unix time) */
};

/*
 * Verify CODE (a TOTP code or a recovery code) for USER at NOW, atomically
 * with the replay watermark, failure count and lockout.  Returns 0 when
 * accepted, WARD_ERR_BADCODE, WARD_ERR_REPLAY, WARD_ERR_LOCKED,
 * WARD_ERR_NOTFOUND (not enrolled), or a store/key/crypto error.
 */
int core_verify(struct core *c, const char *user, const char *code, time_t now,
    struct core_verify_result *res) WARD_WUR;

#endif
