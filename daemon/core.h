/*
 * core.h - what wardd (its flow engine and its answers) and wardctl share:
 * load the configuration and policy through the trusted opener, resolve
 * roles, decide, check and record grace, verify a code against the state
 * store, write an audit record.  No PAM headers here (neither program is
 * a PAM module).
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
#include <sys/types.h>
#include <time.h>

#include "audit_names.h"
#include "conf.h"
#include "fleet.h"
#include "secret.h"
#include "ward_policy.h"

#define CORE_MAX_ROLES 64

struct state;
struct dir;
struct audit_log;
struct fleet;

struct core {
	struct ward_conf conf;
	struct policy *pol;
	int from_snapshot;
	char host[256];              /* this workstation's short name */
	/* Opened on first use, closed by core_free, and only ever used by the
	 * process that opened them (LMDB and libldap handles must not cross
	 * a fork). */
	struct state *st;
	struct dir *dir;
	struct audit_log *log;       /* audit.key loaded once */
	int st_err;                  /* the store could not be opened: not retried */
	pid_t owner;
	uint64_t gen;                /* which load this is (wardd counts them; 0 in
	                              * a process that loads once) */
	/* 1 while a wardd phase that answers before the store's commit holds
	 * the engine (state_defer_recorded_commit, and
	 * state_keep_recorded_pending: wardd commits what is pending once no
	 * phase has added to it for a moment) */
	int commit_after_answer;
	/* The master key (secrets.key_file) and, in fleet mode, the fleet key
	 * (fleet.key_file), read once per load through the trusted opener
	 * (core_init); a key that did not load is tried again at its next use
	 * (its error kept meanwhile).  Wiped by core_free. */
	struct secret_key mkey;
	struct fleet_keyring fring;  /* fleet.key_file (+ old_key_file) */
	int mkey_err, fkey_err;      /* 0: loaded */
	/* fleet mode: the directory handle of the MFA records (lib/fleet.h),
	 * opened on first use, one per load, closed by core_free */
	struct fleet *fleet;
	/* fleet mode: the directory did not answer; until this time
	 * (CLOCK_MONOTONIC seconds) logins verify against this workstation's
	 * copy without waiting for it (core_fleet.c) */
	int64_t fleet_down_until;
	/* fleet mode: decisions made offline may wait to be sent (set at
	 * each load and by every offline decision) */
	int fleet_sync_due;
};

/* A user's assigned roles (names point into the policy) and where they
 * came from. */
struct core_who {
	const char *roles[CORE_MAX_ROLES];
	size_t nroles;
	int offline;                 /* directory down: roles from the cache */
	int in_directory;            /* the directory knows the user */
	const char *dir_note;        /* why the directory conferred nothing, or NULL
	                              * (DIR_NOTE_NAME_DIFFERS); kept in the audit
	                              * record's detail */
};

/* Load ward.conf (CONF_PATH, NULL = default) and the policy
 * (core_load_policy).  On error ERR says which file and why. */
int core_init(struct core *c, const char *conf_path, char *err, size_t errlen) WARD_WUR;
void core_free(struct core *c);
/* Close an audit writer, a directory handle and a state store (the writer
 * first: it uses the store), each NULL after; any may be NULL already. */
void core_close_handles(struct audit_log **log, struct dir **dir, struct state **st);

/*
 * The deployed policy of CONF (policy_load_deployed): its snapshot when
 * that was compiled from exactly the text there now, else the text; both
 * through the trusted opener's owner and mode rules.  With COMPILE (root)
 * a snapshot that is missing or not the text's is written anew.  What
 * happened to the snapshot is logged.  NULL with ERR on failure.
 */
struct policy *core_load_policy(const struct ward_conf *conf, int compile, int *from_snap,
    char *err, size_t errlen);

/* The state store of C, opened on first use (read-write).  Returns 0 or
 * WARD_ERR_* (logged with the folder). */
int core_state(struct core *c, struct state **st) WARD_WUR;
/* What the audit log holds beyond the store's head (a crash after a record,
 * before its commit) adopted, with no record of its own (audit_adopt): the
 * head and the watermarks of the codes it accepted.  0 or WARD_ERR_* (logged). */
int core_adopt(struct core *c);

/*
 * Roles of USER at NOW: the policy's local `users` assignments, plus, when
 * ward.conf has a directory, the roles its groups confer (role_sources),
 * through the directory cache (dir_groups_cached).  A user the directory
 * does not know keeps only local roles; so does one whose entry's name
 * differs from USER (case or form), with W->dir_note saying so.  Errors: WARD_ERR_INVAL (bad name),
 * WARD_ERR_UNAVAIL (directory down and no cache young enough), a store
 * error, WARD_ERR_TOOBIG (more than CORE_MAX_ROLES roles).
 */
int core_resolve(struct core *c, const char *user, time_t now, struct core_who *w) WARD_WUR;

/* The policy decision for a resolved user (pure, cannot fail). */
void core_decide_who(const struct core *c, const struct core_who *w, const char *user,
    const char *service, time_t now, struct policy_decision *d);

/* Effective roles of W (assigned + inherited) comma-joined into BUF;
 * returns BUF ("" when none or when they do not fit). */
const char *core_roles_joined(const struct core *c, const struct core_who *w,
    char *buf, size_t len);

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

/* D as a denial, before any decision: not allowed, a code required,
 * rule "none", reason "no decision". */
void core_decision_deny(struct policy_decision *d);

/* core_resolve then core_decide_who (D starts as core_decision_deny);
 * W may be NULL. */
int core_decide(struct core *c, const char *user, const char *service, time_t now,
    struct policy_decision *d, struct core_who *w) WARD_WUR;

/* Grace: *ACTIVE = 1 when USER verified a code for APP on this host less
 * than SECONDS ago - the grace of the decision made now, so a shorter
 * grace (another schedule's rule, an edited policy) applies at once.  The
 * store keeps the time of the verification, not an end time; SECONDS <= 0
 * is never active (but still looked up).  A user locked out at NOW has no
 * grace: WARD_ERR_LOCKED.  Store errors are returned (the caller then asks
 * for a code, and the verification refuses a locked user). */
int core_grace_active(struct core *c, const char *user, const char *app, time_t now,
    long seconds, int *active) WARD_WUR;
/* Record that USER verified a code for APP on this host at NOW (when the
 * decision grants a grace: SECONDS > 0). */
int core_grace_record(struct core *c, const char *user, const char *app,
    long seconds, time_t now) WARD_WUR;

/* One audit record of a decision or attempt (lib/audit.h fills seq, ts,
 * host, pid, prev and mac). */
/* One record's own fields (built with designated initialisers); the
 * names written are audit_names.h's. */
struct core_rec {
	enum audit_ev event;
	enum audit_res result;
	enum audit_fac factor;       /* AUDIT_FAC_ABSENT: written as null */
	const char *rule, *reason, *detail;
	/* 1: the second factor was checked without the directory (fleet
	 * mode, against this workstation's copy): the record says offline
	 * true, whatever the roles came from */
	int offline;
};

/*
 * Append REC for USER on SERVICE to the audit log.  With W (a resolved
 * user) the record carries the effective roles, the policy version and
 * whether the roles came from the cache, and (when REC has no detail) W's
 * dir_note.  0 when written; otherwise a
 * WARD_ERR_* with the reason logged: the caller must deny.
 */
int core_record(struct core *c, const struct core_who *w, const char *user,
    const char *service, const struct core_rec *rec, const char *rhost,
    const char *tty) WARD_WUR;

struct core_verify_result {
	int used_recovery;           /* 1 when a recovery code was accepted */
	int recovery_left;           /* unused recovery codes after this */
	int locked_now;              /* this attempt caused a lockout */
	int64_t locked_until;        /* when locked: until (unix time) */
	/* fleet mode (core_fleet.c): what the audit record's detail says
	 * beyond the result (a write that got no answer, the directory down),
	 * a static string or NULL */
	const char *detail;
	int offline;                 /* checked against this workstation's copy */
	const char *say;             /* fleet mode: what the person is told of a
	                              * refusal not in the list above, or NULL */
};

/*
 * Verify CODE (a TOTP code or a recovery code) for USER at NOW, atomically
 * with the replay watermark, failure count and lockout.  Returns 0 when
 * accepted, WARD_ERR_BADCODE, WARD_ERR_REPLAY, WARD_ERR_LOCKED,
 * WARD_ERR_NOTFOUND (not enrolled), or a store/key/crypto error.
 * The caller must record the outcome (core_record) before it answers:
 * with audit.fsync that record's synced commit is what makes the new
 * watermark durable (state_defer_attempt_meta_sync).
 */
int core_verify(struct core *c, const char *user, const char *code, time_t now,
    struct core_verify_result *res) WARD_WUR;
/*
 * As core_verify, but a good code is not spent: the replay watermark, the
 * recovery codes and the failure count stay as they were (0 is returned).
 * A wrong code counts toward the lockout as in core_verify, and a replay
 * or a lockout is refused the same.  For a login the policy denies: the
 * code stays usable where the user may log in (pam_ward(8)).
 */
int core_check(struct core *c, const char *user, const char *code, time_t now,
    struct core_verify_result *res) WARD_WUR;

/*
 * The master key of C: the one loaded with the configuration, or loaded now
 * when that load failed (the file may have been made since).  NULL when it
 * cannot be had (logged).
 */
const struct secret_key *core_key(struct core *c);
/*
 * The fleet keys of C (fleet.key_file, and fleet.old_key_file during a
 * rotation: fleet.h, KEYS), loaded as core_key.  NULL when they cannot be
 * had (logged, the error in C->fkey_err).
 */
const struct fleet_keyring *core_fleet_keys(struct core *c);

/*
 * Fleet mode (ward.conf(5), FLEET; core_fleet.c): core_verify and
 * core_check against USER's record in the directory, with the same
 * results, plus WARD_ERR_UNAVAIL or WARD_ERR_TIMEOUT when the directory
 * did not answer (a denial; RES->detail says what it was).
 */
int core_fleet_verify(struct core *c, const char *user, const char *code, time_t now,
    int spend, struct core_verify_result *res) WARD_WUR;

#endif
