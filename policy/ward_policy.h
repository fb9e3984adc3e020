/*
 * ward_policy.h - Ward's RBAC policy engine, the public C API for apps.
 *
 * A policy is loaded once (text through libconfig) into an immutable
 * struct policy.  Deciding is a pure
 * function of (policy, request): thread-safe, no I/O, no allocation.
 * Strings returned by the API point into the policy and live as long as it.
 *
 *   char err[512];
 *   struct policy *p = policy_load("/etc/ward/policy.conf", err, sizeof err);
 *   if (p == NULL) { fprintf(stderr, "%s\n", err); exit(2); }   // "FILE:LINE: ..."
 *   struct policy_request rq = { .user = "alice", .service = "ehr-login",
 *                                .host = "icu-ws-03" };
 *   policy_request_set_time(&rq, time(NULL));
 *   struct policy_decision d;
 *   policy_decide(p, &rq, &d);          // d.allow, d.rule, d.reason, obligations
 *   if (policy_permitted(p, &rq, "ehr:prescribe")) ...
 *   policy_free(p);
 *
 * Semantics: man ward-policy(5).
 */
#ifndef WARD_POLICY_H
#define WARD_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

struct policy;   /* opaque, immutable once loaded */

/* Obligation value meaning "no limit" (idle_logoff, session_max). */
#define POLICY_NO_LIMIT (-1L)

struct policy_request {
	const char *user;            /* login name (used for `users` lookup) */
	/* Assigned roles (before inheritance).  When ROLES is NULL the
	 * policy's local `users` assignments for USER are used; otherwise
	 * these names are used as they are (unknown names are ignored). */
	const char *const *roles;
	size_t nroles;
	const char *service;         /* PAM service name */
	const char *host;            /* short host name; NULL or "" = unknown */
	int wday;                    /* local day of week, 0 = Sunday .. 6 */
	int minute;                  /* local minute of day, 0 .. 1439 */
};

/* Fill wday/minute from T in local time (localtime_r; outside decide). */
void policy_request_set_time(struct policy_request *rq, time_t t);

struct policy_decision {
	int allow;                   /* 1 allow, 0 deny */
	const char *rule;            /* deciding rule id, "default-deny", or the
	                                SoD constraint ("sod:N") */
	const char *reason;          /* text a clinician can read; never NULL */
	const char *app;             /* the app the service maps to */
	/* obligations (meaningful when allow) */
	int mfa_required;            /* 1 required (default), 0 not_required */
	long mfa_grace;              /* seconds, 0 = ask every time */
	long idle_logoff;            /* seconds or POLICY_NO_LIMIT */
	long session_max;            /* seconds or POLICY_NO_LIMIT */
	/* break-glass (meaningful when deny) */
	int break_glass;             /* 1 when the user may claim emergency access */
};

struct policy_break_glass {
	int defined;                 /* 0: the policy has no break_glass */
	long max_minutes;
	long min_reason_chars;
	int mfa_required;
};

/*
 * Load a policy from the text file PATH (opened O_NOFOLLOW; refused when it
 * is not a regular file or is writable by group or others).  Returns NULL on
 * any problem with every problem found, one per line, as "FILE:LINE:
 * message" in ERRBUF.  A half-loaded policy never exists.
 */
struct policy *policy_load(const char *path, char *errbuf, size_t errlen);
/* Parse policy text from memory (NAME used in messages).  For fuzzing/tests. */
struct policy *policy_load_buffer(const char *name, const char *text,
    char *errbuf, size_t errlen);
void policy_free(struct policy *p);

/*
 * Load a policy from the text open on FD (read from offset 0; NAME is used
 * in messages), with the checks of policy_load.  *ST receives fstat(2) of
 * FD as it was before reading: the identity policy_compile records.
 */
struct policy *policy_load_fd(int fd, const char *name, struct stat *st,
    char *errbuf, size_t errlen);

/*
 * The compiled snapshot (wardctl policy compile).  policy_compile writes P
 * to PATH atomically (temp file, fsync, rename; mode 0644); 0 or -1 with a
 * message.  TEXT is the identity of the text P was read from (fstat before
 * reading, as policy_load_fd gives it): device, inode, size, modification
 * and change times, with the time of compiling, go into the snapshot's
 * header.  A snapshot written with TEXT NULL is never current for any text.
 *
 * policy_load_snapshot reads one; a truncated, damaged or foreign file is
 * refused (NULL and a message).  The snapshot is the loaded policy's image
 * as it is: policy_load_snapshot and policy_load_snapshot_fd map the file
 * read-only and decide over it (checksum and every offset checked once, at
 * load), so a snapshot must be replaced by rename, as policy_compile does,
 * never rewritten in place.  policy_load_snapshot_buffer copies BUF (the
 * caller keeps it).
 */
int policy_compile(const struct policy *p, const char *path, const struct stat *text,
    char *errbuf, size_t errlen);
struct policy *policy_load_snapshot(const char *path, char *errbuf, size_t errlen);
struct policy *policy_load_snapshot_buffer(const char *name, const void *buf,
    size_t size, char *errbuf, size_t errlen);
/* Map the snapshot open on FD (read-only), for a caller that opened and
 * checked it (owner, mode: the trusted opener).  NAME is used in messages.
 * The descriptor stays the caller's; it may be closed once this returns. */
struct policy *policy_load_snapshot_fd(int fd, const char *name, char *errbuf,
    size_t errlen);

/*
 * Whether SNAP was compiled from exactly the text open on TEXT_FD, whose
 * fstat is *ST: 1 yes, 0 no (WHY says what differs), -1 the text could not
 * be read (WHY says why).  The identity recorded by policy_compile must be
 * equal, not older or newer: a text put back with its old times (cp -p,
 * mv, rsync -a, tar x, touch -d, a clock stepped back) always has another
 * change time or inode.  When the text changed within two seconds of the
 * compile, file times may be too coarse to tell, and the text's SHA-256 is
 * compared with the snapshot's version instead.
 */
int policy_snapshot_current(const struct policy *snap, int text_fd, const struct stat *st,
    char *why, size_t whylen);

/*
 * The deployed policy: the text and its compiled snapshot, the one way
 * wardd, wardctl and apps load it.  Both files are opened O_NOFOLLOW and
 * refused when not regular or writable by group or others, then passed to
 * CHECK_FD when set (the caller's own rules: owner, mode).  The snapshot
 * must be owned by root or by the text's owner, and is used when
 * policy_snapshot_current says so; otherwise the text is
 * parsed and, with COMPILE, compiled into SNAPSHOT for the next reader.
 * A text that does not load is an error even when a snapshot exists: a
 * stale snapshot never decides.
 *
 * *FROM_SNAP is 1 when the snapshot was used.  NOTE (may be NULL) receives
 * what the caller should log, or "" (a snapshot not current and why, a
 * damaged snapshot, a snapshot written or not written); *WARN (may be
 * NULL) is 1 when that note is a warning (a snapshot refused, damaged or
 * not written), 0 when it only says what happened.
 */
struct policy_files {
	const char *text;
	const char *snapshot;        /* NULL: none */
	int (*check_fd)(int fd, const char *name, char *errbuf, size_t errlen);
	int compile;                 /* write a current snapshot when there is none */
};
struct policy *policy_load_deployed(const struct policy_files *f, int *from_snap,
    char *note, size_t notelen, int *warn, char *errbuf, size_t errlen);

/* SHA-256 of the policy text, hex. */
const char *policy_version(const struct policy *p);

/* The decision.  Pure; never fails (a NULL policy or request denies). */
void policy_decide(const struct policy *p, const struct policy_request *rq,
    struct policy_decision *d);

/* 1 when the request's effective roles grant PERMISSION ("app:action",
 * '*' on either side in the role's permission), else 0.  Pure. */
int policy_permitted(const struct policy *p, const struct policy_request *rq,
    const char *permission);

/* Break-glass settings (all zero when undefined). */
void policy_break_glass(const struct policy *p, struct policy_break_glass *bg);

/*
 * Effective roles of a request (assigned + inherited), names written to
 * OUT up to MAX entries, sorted by name.  Returns the total count (may be
 * more than MAX).  Allocation-free.
 */
size_t policy_effective_roles(const struct policy *p,
    const struct policy_request *rq, const char **out, size_t max);

/* The same as role indices (for policy_role_name and
 * policy_role_permissions), in file order: no names compared, so a tool
 * may ask it for every role of a deep hierarchy.  Allocation-free. */
size_t policy_effective_role_ids(const struct policy *p,
    const struct policy_request *rq, size_t *out, size_t max);

/* Which of P's schedules (named and inline) hold the minute MINUTE
 * (0..1439) of day WDAY (0 = Sunday): 1 or 0 each, into OUT up to MAX.
 * Returns the number of schedules.  The time reaches a decision only
 * through them: two times with the same answers here decide every request
 * alike (wardctl policy diff asks once per such class). */
size_t policy_schedules_at(const struct policy *p, int wday, int minute,
    unsigned char *out, size_t max);

/* Local `users` assignments: roles assigned to USER (not inherited). */
size_t policy_user_roles(const struct policy *p, const char *user,
    const char **out, size_t max);

/* The app a service maps to (the service itself when no app lists it). */
const char *policy_app_for_service(const struct policy *p, const char *service);

/* Iteration, for tools: role names, role_sources, local users, apps,
 * services, rules.  Index from 0 to the count. */
size_t policy_nroles(const struct policy *p);
const char *policy_role_name(const struct policy *p, size_t i);
size_t policy_nrole_sources(const struct policy *p);
/* group DN (as written) and role name of role_sources entry I */
void policy_role_source(const struct policy *p, size_t i, const char **group,
    const char **role);
size_t policy_nusers(const struct policy *p);
const char *policy_user_name(const struct policy *p, size_t i);
size_t policy_napps(const struct policy *p);
const char *policy_app_name(const struct policy *p, size_t i);
/* services of app I */
size_t policy_app_services(const struct policy *p, size_t i, const char **out,
    size_t max);
/* host groups: name of group I and its patterns */
size_t policy_nhostgroups(const struct policy *p);
const char *policy_hostgroup_name(const struct policy *p, size_t i);
size_t policy_hostgroup_patterns(const struct policy *p, size_t i,
    const char **out, size_t max);
/* permissions of role I (own, not inherited) */
size_t policy_role_permissions(const struct policy *p, size_t i,
    const char **out, size_t max);

/*
 * Explanation, from the reference evaluator (slow, allocates).  Each entry
 * is one rule considered with what matched or failed.  The decision it
 * computes must equal policy_decide's; tests check it.
 */
enum policy_elem { POLICY_ELEM_ROLE, POLICY_ELEM_APP, POLICY_ELEM_HOST,
	POLICY_ELEM_TIME, POLICY_ELEM_SOD, POLICY_ELEM_NONE };
struct policy_trace_entry {
	const char *rule;            /* rule id */
	const char *effect;          /* "allow" or "deny" */
	int matched;                 /* 1 matched, 0 failed */
	enum policy_elem failed;     /* first element that failed, or NONE */
	char detail[160];            /* e.g. "role: holds nurse", "host: icu-ws-03 not in pharmacy" */
};
struct policy_explanation {
	struct policy_decision decision;
	struct policy_trace_entry *trace;   /* owned */
	size_t ntrace;
	size_t nunheld;              /* rules left out: none of their roles held */
};
/* 0 or -1 (out of memory).  Free with policy_explanation_free.
 * policy_explain lists every rule; policy_explain_brief leaves out the
 * rules for roles the user does not hold (counted in NUNHELD), which at
 * the scale of a hospital group are nearly all of them. */
int policy_explain(const struct policy *p, const struct policy_request *rq,
    struct policy_explanation *ex);
int policy_explain_brief(const struct policy *p, const struct policy_request *rq,
    struct policy_explanation *ex);
void policy_explanation_free(struct policy_explanation *ex);
/* The reference evaluator's decision alone (used by the differential test). */
int policy_decide_reference(const struct policy *p,
    const struct policy_request *rq, struct policy_decision *d);
const char *policy_elem_name(enum policy_elem e);

/*
 * Lint (wardctl policy check): problems that still let the policy load.
 * Each finding is "FILE:LINE: message".  Returns the number of findings
 * written through CB.
 */
typedef void (*policy_finding_fn)(void *ctx, const char *finding);
size_t policy_lint(const struct policy *p, policy_finding_fn cb, void *ctx);

#ifdef __cplusplus
}
#endif

#endif
