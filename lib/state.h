/*
 * state.h - the state store: LMDB in conf->state_dir (ward.conf(5)).
 *
 * Rules it keeps:
 *  - Every check-and-update is one LMDB write transaction, so two processes
 *    racing one TOTP code cannot both win (the write lock serialises them).
 *  - Records are versioned binary with a length check; a record that fails
 *    to decode is WARD_ERR_CORRUPT and the caller denies.
 *  - The TOTP secret inside a user record is the secret store's ciphertext
 *    (lib/secret.h); the state store never sees it in clear.
 *  - The folder must be a real directory (not a symlink) owned by root and
 *    not open to group/other; stale reader slots of killed processes are
 *    cleared at open.
 */
#ifndef WARD_STATE_H
#define WARD_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ward.h"

struct state;   /* opaque: an open environment */

#define STATE_MAX_RECOVERY 16
#define STATE_RECOVERY_HASH_LEN 32

/* One user's MFA record. */
struct state_user {
	unsigned char *secret_ct;    /* secret store ciphertext (owned) */
	size_t secret_ct_len;
	int algorithm;               /* enum conf_algo */
	int digits;
	int period;
	int64_t last_step;           /* last accepted TOTP step, -1 = none */
	int failures;                /* consecutive failures */
	int64_t locked_until;        /* unix time, 0 = not locked */
	int64_t enrolled_at;
	int64_t last_used_at;        /* last successful verification, 0 = never */
	size_t nrecovery;
	/* salted SHA-256 (or better) hashes of unused recovery codes */
	unsigned char recovery_salt[16];
	unsigned char recovery[STATE_MAX_RECOVERY][STATE_RECOVERY_HASH_LEN];
	unsigned char recovery_used[STATE_MAX_RECOVERY];
	/*
	 * Fleet mode's mirror of the record the directory holds (wardd's
	 * core_fleet.c; ward.conf(5), FLEET).  FLEET_FETCHED_AT: when it was
	 * read (unix time; 0: not a mirror, and the fields below are 0).  In a
	 * mirror, LOCKED_UNTIL is the directory's lockout as last read,
	 * FAILURES the wrong codes counted here while the directory could not
	 * be reached (not yet sent to it), FLEET_OFFLINE_LOCKED_UNTIL the
	 * lockout those made here (offline_max_failures), and
	 * FLEET_PENDING_STEP the highest step accepted here offline and not
	 * yet sent (0: none).  Encoded as record version 2, only when
	 * FLEET_FETCHED_AT > 0.
	 */
	int64_t fleet_fetched_at;
	int64_t fleet_pending_step;
	int64_t fleet_offline_locked_until;
};

/* Open (creating if CREATE: mode 0700) the store in DIR.  Refuses a folder
 * not owned by root or open to group/other, or a symlink (WARD_ERR_UNSAFE,
 * logged with the path).  Returns 0 or WARD_ERR_*. */
int state_open(struct state **st, const char *dir, int create) WARD_WUR;
/* state_open with a map of MAP_SIZE bytes instead of the product's 1 GiB:
 * for tests that fill a store (an existing store's data is never cut: a
 * map smaller than it grows to fit). */
int state_open_map(struct state **st, const char *dir, int create, size_t map_size)
    WARD_WUR;
void state_close(struct state *st);
/*
 * A full store: every write that needs a page the map does not have fails
 * with WARD_ERR_FULL (nothing changes), and the store logs "the state store
 * is full (N of M MiB used) in DIR: ..." with the way out.  state_usage:
 * the bytes holding data (*USED) and the map's size (*SIZE).
 */
int state_usage(struct state *st, uint64_t *used, uint64_t *size) WARD_WUR;

/* Read a user record.  WARD_ERR_NOTFOUND when not enrolled. Caller frees
 * with state_user_clear(). */
int state_user_get(struct state *st, const char *user, struct state_user *out) WARD_WUR;
/* Create or replace a user record (enroll, reset of counters). */
int state_user_put(struct state *st, const char *user, const struct state_user *u) WARD_WUR;
int state_user_delete(struct state *st, const char *user) WARD_WUR;
void state_user_clear(struct state_user *u);
/*
 * The user record codec, exposed for tests and the fuzzer (the store is
 * its only other caller).  decode: DATA is a stored value; returns 0 with
 * *OUT filled (free with state_user_clear), WARD_ERR_CORRUPT for anything
 * but an exact, in-range record (*OUT is then cleared), or WARD_ERR_NOMEM.
 * encode: *OUT is the caller's to ward_freezero; WARD_ERR_INVAL when a
 * field is out of range.  decode then encode gives back the same bytes.
 */
int state_user_decode(const void *data, size_t len, struct state_user *out) WARD_WUR;
int state_user_encode(const struct state_user *u, unsigned char **out, size_t *outlen)
    WARD_WUR;

/* Names of all enrolled users (for status/report); caller frees each + array. */
int state_user_list(struct state *st, char ***names, size_t *n) WARD_WUR;

/*
 * The atomic check-and-update for a login attempt.  Inside ONE write txn:
 * read the record, call CHECK(ctx, record, now) which returns
 *   0 (accepted; it may set record->last_step / mark a recovery code used),
 *   STATE_CHECK_UNSPENT (the code is good but is not to be spent: nothing
 *   in the record changes, and state_user_attempt returns 0),
 *   WARD_ERR_BADCODE, WARD_ERR_REPLAY, or another error;
 * then apply the outcome: on 0 reset failures; on BADCODE count a failure
 * and set locked_until = now + lockout_seconds once failures reach
 * max_failures; commit.  REPLAY (a code already used: no guess) changes
 * nothing and does not count toward the lockout.  A user already locked (locked_until > now) is
 * WARD_ERR_LOCKED without calling CHECK.  *LOCKED_NOW is set to 1 when this
 * attempt caused the lockout.  Returns CHECK's result or a store error.
 */
#define STATE_CHECK_UNSPENT 1
typedef int (*state_check_fn)(void *ctx, struct state_user *rec, int64_t now);
int state_user_attempt(struct state *st, const char *user, int64_t now,
    int max_failures, long lockout_seconds, state_check_fn check, void *ctx,
    int *locked_now) WARD_WUR;

/*
 * DEFER 1: state_user_attempt's commits on ST skip the sync of LMDB's meta
 * page (MDB_NOMETASYNC; the data pages are still synced first, so a crash
 * never leaves the store inconsistent).  A power cut may then undo the
 * last attempt (its watermark, failure count) until the next synced commit
 * of the store, which flushes that meta page as well.  Only for a caller
 * that makes such a commit before it answers: wardd records every attempt
 * in the audit log, whose head commit (audit.fsync = true) is synced,
 * before it says yes or no.  Default 0: fully synced.
 */
void state_defer_attempt_meta_sync(struct state *st, int defer);

/*
 * One commit for an attempt and the audit record that proves it.  After
 * state_hold_next_attempt, the next state_user_attempt on ST that changes
 * the record and does not lock the user out leaves its write transaction
 * open (the store's write lock held with it) instead of committing; the
 * next state_audit_append on ST puts the audit head in that transaction
 * and commits both at once, after the record is in the log.  So a login
 * costs one commit (one sync) fewer, and no crash can keep the attempt
 * without its record or the record without the attempt: the log is
 * synced first, and the store holds both or neither.
 *  - Any other transaction begun on ST meanwhile commits the held one
 *    first (state_held_commit), so nothing waits on itself.
 *  - state_held_commit commits a held attempt that no record took (not a
 *    transaction state_defer_recorded_commit left open).
 *  - state_held_abort drops a held attempt: its record could not be
 *    written, the attempt is not counted, and the caller denies.
 *  - state_close aborts one still held.
 */
void state_hold_next_attempt(struct state *st);
int state_held_commit(struct state *st) WARD_WUR;
void state_held_abort(struct state *st);

/*
 * The store's commit after the answer.  While ON, a durable
 * state_audit_append on ST whose record is in the (synced) log leaves its
 * transaction - the new head, with the attempt held for it when that
 * attempt only accepted a TOTP step - open instead of committing it, so
 * that the caller can answer first and commit afterwards
 * (state_held_commit).  An attempt that counted a failure, locked the user
 * out or spent a recovery code is committed before the answer, as always.
 * The record proves the answer: should the commit never happen (a crash, a
 * failed commit), the next append on the store adopts the record from the
 * log and raises the user's TOTP watermark past every step the code could
 * have had (state_audit_raise_step), so the code cannot be used again.
 *  - Any other transaction begun on ST meanwhile, state_held_abort and
 *    state_close commit such a recorded transaction first (never drop it).
 */
void state_defer_recorded_commit(struct state *st, int on);
/*
 * ON (wardd): such a recorded transaction is not even kept open: what it
 * changed - the audit head, and for an attempt that only accepted a TOTP
 * step that user's watermark, failures cleared and time of use - is kept
 * pending here, the transaction aborted (no write, no sync), and
 * ward.lock stays held, so no other process uses the store meanwhile.
 * The next write transaction on ST puts what is pending first, in the
 * order it happened (a head never goes back), and commits it with its
 * own; state_flush_pending commits it alone (wardd does, once no login
 * has added to it for a few milliseconds).  So the logins of one burst
 * (a login's auth and account phases, many clients at once) share one
 * store commit, made after their answers.  A crash loses only what the
 * synced log holds: the next append adopts those records and raises the
 * watermarks, as above.  At most STATE_PEND_MAX users' acceptances are
 * pending; one more is committed as before.  state_close flushes.
 */
void state_keep_recorded_pending(struct state *st, int on);
#define STATE_PEND_MAX 64
/* 1 when something is pending, with how long since the first and the
 * last change kept (ms); 0 when nothing is. */
int state_pending(const struct state *st, long *age_ms, long *idle_ms);
/* Commit what is pending (the data pages synced, as the commit after the
 * answer); 0, nothing pending, or WARD_ERR_STORE (logged: dropped, and
 * the next append adopts its records from the log).  Lets ward.lock go. */
int state_flush_pending(struct state *st);
/* Commit the transaction state_defer_recorded_commit left open, if any
 * (state_held_commit leaves it).  0: committed, or nothing to commit; a
 * failed commit is logged and is 0 too (its record stands and is adopted). */
int state_recorded_commit(struct state *st);
/*
 * The TOTP window (steps either side, ward.conf mfa.window) that a
 * recovered acceptance is assumed to have used; default 10, the largest
 * ward.conf allows.
 */
void state_set_recover_window(struct state *st, int window);

/* Read-modify-write of one record in one write transaction: FN changes
 * the record (returns 0) or refuses (its error is returned, nothing is
 * written).  For admin changes that must not lose a concurrent attempt's
 * watermark (new recovery codes). */
typedef int (*state_update_fn)(void *ctx, struct state_user *rec);
int state_user_update(struct state *st, const char *user, state_update_fn fn,
    void *ctx) WARD_WUR;

/* Clear failures and lockout (wardctl unlock). */
int state_user_unlock(struct state *st, const char *user) WARD_WUR;

/* Grace: (user, host, app) -> a unix time (wardd keeps the time of
 * the last verification; the grace length is the policy's, decided each
 * time).  get returns 0 and sets *until (0 when none). */
int state_grace_get(struct state *st, const char *user, const char *host,
    const char *app, int64_t *until) WARD_WUR;
int state_grace_put(struct state *st, const char *user, const char *host,
    const char *app, int64_t until) WARD_WUR;
/* Drop every grace entry of USER (reset, lockout). */
int state_grace_clear_user(struct state *st, const char *user) WARD_WUR;

/* Directory cache: the directory's answer for USER (an opaque string the
 * directory client encodes, e.g. the user's group DNs one per line) and
 * when it was fetched.  get: WARD_ERR_NOTFOUND when nothing is cached;
 * *blob is the caller's to free. */
int state_dircache_get(struct state *st, const char *user, char **blob,
    int64_t *fetched_at) WARD_WUR;
int state_dircache_put(struct state *st, const char *user, const char *blob,
    int64_t fetched_at) WARD_WUR;
/*
 * Remove directory-cache entries (wardctl directory prune-cache): USER's
 * only (NULL: every user's), and of those only the ones fetched before
 * BEFORE (INT64_MAX: whatever their age).  Enrolments, graces and the
 * audit head are never touched.  *N and *BYTES: how many entries went and
 * the bytes of keys and values they held.  Works on a full store (one entry
 * a transaction when a batch does not fit).  0, WARD_ERR_INVAL (bad user
 * name) or a store error; entries removed before an error stay removed
 * (and are counted).
 */
int state_dircache_prune(struct state *st, const char *user, int64_t before, size_t *n,
    uint64_t *bytes) WARD_WUR;

/*
 * Audit chain head: last seq and mac (hex, 64 chars + NUL), and where that
 * record ended: the log file's device, inode and size just after it (0 when
 * unknown).  audit_log.c uses the file position to tell a rotated file, a
 * tail written but not committed (crash between the two), and a shrunk file.
 */
struct state_raise;
struct state_audit_head {
	uint64_t seq;
	char mac[65];
	uint64_t dev, ino, size;
	struct state_raise *raise;   /* state_audit_raise_step: applied, then freed,
	                              * by state_audit_append */
	size_t nraise;
};
/* get: WARD_ERR_NOTFOUND when no record was ever appended. */
int state_audit_head_get(struct state *st, struct state_audit_head *h) WARD_WUR;
int state_audit_head_put(struct state *st, const struct state_audit_head *h) WARD_WUR;
/*
 * Run FN(CTX, HEAD) holding the store's write lock (one write transaction):
 * HEAD is the current head (seq 0, 64 '0's and a zero position when none).
 * When FN returns 0 it has updated HEAD (the record is in the log) and the
 * new head is committed; otherwise nothing changes and FN's error is
 * returned.  This is what serialises audit appends across processes.
 * DURABLE 0 commits without LMDB's fsync (audit.fsync = false: a power cut
 * may lose the newest heads; a process crash loses nothing).  FN must not
 * use ST (the write lock is held; LMDB's lock is not recursive).
 * When FN succeeded but the head cannot be stored, UNDO(CTX) is called,
 * still under the lock, to take the record back out of the log: a record
 * stays only when its head is committed (the caller denies otherwise, and
 * the log must not say it succeeded).
 */
typedef int (*state_audit_fn)(void *ctx, struct state_audit_head *head);
/*
 * For FN, adopting records written to the log but never committed (a
 * crash, or a commit after the answer that did not happen): USER accepted
 * a TOTP code at TS_S (seconds since the epoch).  state_audit_append then
 * raises USER's watermark, in the head's transaction, to the last step that
 * code could have been (TS_S / period + the recover window), so that no
 * code of that moment is accepted again.  0, or WARD_ERR_NOMEM (FN fails).
 */
int state_audit_raise_step(struct state_audit_head *head, const char *user, int64_t ts_s)
    WARD_WUR;
typedef void (*state_audit_undo_fn)(void *ctx);
int state_audit_append(struct state *st, int durable, state_audit_fn fn,
    state_audit_undo_fn undo, void *ctx) WARD_WUR;

#endif
