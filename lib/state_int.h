/*
 * state_int.h - what the state store's files share (state.c, state_user.c,
 * state_cache.c, state_audit.c); not for callers of the store (state.h).
 *
 * One unnamed database; keys carry a one-letter prefix:
 *   "u:" USER                       user record (encoded in state_user.c)
 *   "g:" USER NUL HOST NUL APP      grace until (int64, little endian)
 *   "d:" USER                       directory cache: fetched_at(8) blob
 *   "a:head"                        audit chain head: seq(8) mac(64) dev(8) ino(8) size(8)
 * All integers are little endian.  Every decoder checks lengths exactly.
 */
#ifndef WARD_STATE_INT_H
#define WARD_STATE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <lmdb.h>

#include "state.h"

#define KEY_MAX 511                    /* LMDB's default maximum key size */

struct state {
	MDB_env *env;
	char *dir;                   /* for the messages */
	MDB_dbi dbi;
	int lockfd;                  /* ward.lock: flock'd around every write */
	int wlocked;
	int timed_out;               /* once timed out, later writes do not wait */
	int defer_attempt_meta;      /* state_defer_attempt_meta_sync */
	int hold_next;               /* state_hold_next_attempt */
	MDB_txn *held;               /* an attempt's write transaction, not yet
	                              * committed (the lock held with it) */
	int held_step_only;          /* ... that attempt only accepted a TOTP step */
	int held_recorded;           /* ... its record is in the log: commit it,
	                              * never drop it (state_defer_recorded_commit) */
	int defer_recorded;          /* state_defer_recorded_commit */
	int recover_window;          /* state_set_recover_window */
	/* the held attempt's acceptance, when held_step_only */
	char *held_user;
	int64_t held_step, held_used_at;
	/* state_keep_recorded_pending: what is pending, not yet in the store */
	int keep_pending;
	int pend;                    /* something is pending (ward.lock kept) */
	int pend_failing;            /* its last flush failed (said once) */
	int pend_in_txn;             /* ... and put in the write transaction
	                              * open now (committed with it) */
	struct state_audit_head pend_head;   /* its raise list unused */
	struct state_pend_accept *pend_acc;  /* STATE_PEND_MAX of them */
	size_t npend_acc;
	struct timespec pend_first, pend_last;   /* CLOCK_MONOTONIC */
};

/* An acceptance pending (state_keep_recorded_pending): USER's last_step
 * raised to STEP, failures cleared, last used at USED_AT. */
struct state_pend_accept {
	char *user;
	int64_t step, used_at;
};

/* Put what is pending into TXN (a write transaction under the lock, just
 * begun): 0 or WARD_ERR_*.  state_user.c. */
int state_t_pend_accept(struct state *st, MDB_txn *txn, const struct state_pend_accept *a)
    WARD_WUR;
/* state_audit.c: the pending head into TXN unless the store's is as new. */
int state_t_pend_head(struct state *st, MDB_txn *txn) WARD_WUR;
/* state.c: keep what the recorded transaction TXN changed (its new head H;
 * the held acceptance, if any) pending and abort TXN; 0, or
 * WARD_ERR_FULL when there is no room (TXN untouched: commit it). */
int state_pend_keep(struct state *st, MDB_txn *txn, const struct state_audit_head *h,
    int with_accept) WARD_WUR;
/* state.c: TXN ended (committed when OK; aborted otherwise): what was
 * pending and put in it is committed (OK) or stays pending; ward.lock is
 * let go when nothing is pending any more. */
void state_txn_end(struct state *st, int ok);

/* A watermark to raise, collected while records are adopted. */
struct state_raise {
	char *user;
	int64_t ts_s;
};

/* In TXN (a write transaction under the lock): USER's last_step raised to
 * TS_S / period + ST's recover window when it is lower; a user without a
 * record is left alone.  0 or WARD_ERR_*. */
int state_t_raise_step(struct state *st, MDB_txn *txn, const char *user, int64_t ts_s)
    WARD_WUR;

/* ---- state.c: keys, transactions, errors ---- */

/* PREFIX ":" A [NUL B [NUL C]] into OUT (KEY_MAX + 1 bytes): 0, or
 * WARD_ERR_INVAL when it would be longer than KEY_MAX. */
int state_make_key(char prefix, const char *a, const char *b, const char *c, char *out,
    size_t *len);

/* A write / read transaction under the store's lock (an MDB or errno
 * code; the lock waits at most LOCK_WAIT_MS, state.c). */
int state_w_begin(struct state *st, MDB_txn **txn);
int state_r_begin(struct state *st, MDB_txn **txn);
/* End a transaction; its lock goes with it. */
int state_t_commit(struct state *st, MDB_txn *txn);
/* The same for an attempt's transaction: its meta page's sync deferred
 * when state_defer_attempt_meta_sync says so. */
int state_t_commit_attempt(struct state *st, MDB_txn *txn);
void state_t_abort(struct state *st, MDB_txn *txn);
/* Release the lock (after the caller's own mdb_txn_commit/abort). */
void state_wunlock(struct state *st);

/* An MDB or errno code as WARD_ERR_* (a full map logged by state_full). */
int state_map_mdb(struct state *st, int rc);
/* A commit's outcome: the full store named, anything else a failure. */
int state_commit_rc(struct state *st, int rc);
/* Log the full store with its sizes and the way out; WARD_ERR_FULL. */
int state_full(struct state *st);

/* One transaction each: get (*VAL malloc'd, the caller's), put, delete. */
int state_kv_get(struct state *st, const char *k, size_t klen, void **val, size_t *vlen);
int state_kv_put(struct state *st, const char *k, size_t klen, const void *val,
    size_t vlen);
int state_kv_del(struct state *st, const char *k, size_t klen);

/* ---- little-endian writer / reader ---- */

struct wbuf {
	unsigned char *p;
	size_t len, cap;
};

static inline void
put_bytes(struct wbuf *w, const void *v, size_t n)
{
	/* nothing to copy (V may then be NULL: memcpy must not see it) */
	if (n > 0 && w->len + n <= w->cap)
		memcpy(w->p + w->len, v, n);
	w->len += n;
}

static inline void
put_u(struct wbuf *w, uint64_t v, size_t n)
{
	unsigned char b[8];

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	put_bytes(w, b, n);
}

struct rbuf {
	const unsigned char *p;
	size_t len, off;
	int bad;
};

static inline void
get_bytes(struct rbuf *r, void *v, size_t n)
{
	if (r->bad || r->len - r->off < n) {
		r->bad = 1;
		memset(v, 0, n);
		return;
	}
	memcpy(v, r->p + r->off, n);
	r->off += n;
}

static inline uint64_t
get_u(struct rbuf *r, size_t n)
{
	unsigned char b[8];
	uint64_t v = 0;

	get_bytes(r, b, n);
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

#endif
