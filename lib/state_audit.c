/*
 * state_audit.c - the audit chain head in the store ("a:head"):
 * state_audit_head_get/put and state_audit_append, the store's half of one
 * audit append (the call path is at the top of audit_log.c).  Rules in
 * state.h and audit.h.
 *
 * Rules it keeps:
 *  - the head is read, handed to the caller and stored in ONE write
 *    transaction under the store's lock, which serialises appends;
 *  - when the new head cannot be stored, the caller's undo runs still
 *    under the lock;
 *  - a head that is not an exact v1/v2 value with a lowercase hex mac is
 *    WARD_ERR_CORRUPT.
 */
#include <stdlib.h>
#include <string.h>

#include "state_int.h"

/* ---- audit head ---- */

#define HEAD_V1 (8 + 64)               /* seq mac */
#define HEAD_V2 (8 + 64 + 24)          /* seq mac dev ino size */

static int
head_decode(const void *data, size_t len, struct state_audit_head *h)
{
	struct rbuf rb = { data, len, 0, 0 };

	memset(h, 0, sizeof(*h));
	if (len != HEAD_V1 && len != HEAD_V2)
		return WARD_ERR_CORRUPT;
	h->seq = get_u(&rb, 8);
	get_bytes(&rb, h->mac, 64);
	h->mac[64] = '\0';
	if (len == HEAD_V2) {
		h->dev = get_u(&rb, 8);
		h->ino = get_u(&rb, 8);
		h->size = get_u(&rb, 8);
	}
	for (size_t i = 0; i < 64; i++)
		if (!((h->mac[i] >= '0' && h->mac[i] <= '9') ||
		    (h->mac[i] >= 'a' && h->mac[i] <= 'f')))
			return WARD_ERR_CORRUPT;
	return rb.bad ? WARD_ERR_CORRUPT : 0;
}

static int
head_encode(const struct state_audit_head *h, unsigned char b[HEAD_V2])
{
	struct wbuf w = { b, 0, HEAD_V2 };

	if (strlen(h->mac) != 64)
		return WARD_ERR_INVAL;
	put_u(&w, h->seq, 8);
	put_bytes(&w, h->mac, 64);
	put_u(&w, h->dev, 8);
	put_u(&w, h->ino, 8);
	put_u(&w, h->size, 8);
	return 0;
}

int
state_audit_head_get(struct state *st, struct state_audit_head *h)
{
	size_t vlen;
	void *v;
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = state_kv_get(st, "a:head", 6, &v, &vlen)) != 0)
		return r;
	r = head_decode(v, vlen, h);
	free(v);
	return r;
}

int
state_audit_head_put(struct state *st, const struct state_audit_head *h)
{
	unsigned char b[HEAD_V2];
	int r;

	if ((r = head_encode(h, b)) != 0)
		return r;
	return state_kv_put(st, "a:head", 6, b, sizeof(b));
}

int
state_audit_raise_step(struct state_audit_head *h, const char *user, int64_t ts_s)
{
	struct state_raise *n;

	if (h->nraise >= 65536 ||
	    (n = realloc(h->raise, (h->nraise + 1) * sizeof(*n))) == NULL)
		return WARD_ERR_NOMEM;
	h->raise = n;
	if ((n[h->nraise].user = strdup(user)) == NULL)
		return WARD_ERR_NOMEM;
	n[h->nraise++].ts_s = ts_s;
	return 0;
}

static void
raise_free(struct state_audit_head *h)
{
	for (size_t i = 0; i < h->nraise; i++)
		free(h->raise[i].user);
	free(h->raise);
	h->raise = NULL;
	h->nraise = 0;
}

int
state_audit_append(struct state *st, int durable, state_audit_fn fn,
    state_audit_undo_fn undo, void *ctx)
{
	struct state_audit_head h;
	unsigned char b[HEAD_V2];
	MDB_txn *txn = NULL;
	MDB_val key = { 6, (void *)(uintptr_t)"a:head" }, v;
	unsigned flag;
	int rc, r, written = 0, may_defer = 1, from_held = 0, adopted;

	/* an attempt held for this record (state.h): the same transaction,
	 * its lock already held.  One that did more than accept a TOTP step
	 * is committed before the answer. */
	(void)state_recorded_commit(st);
	if (st->held != NULL) {
		txn = st->held;
		may_defer = st->held_step_only;
		from_held = 1;
		st->held = NULL;
	} else if ((rc = state_w_begin(st, &txn)) != 0) {
		return state_map_mdb(st, rc);
	}
	memset(&h, 0, sizeof(h));
	rc = mdb_get(txn, st->dbi, &key, &v);
	if (rc == MDB_NOTFOUND) {
		memset(h.mac, '0', 64);
		r = 0;
	} else if (rc != 0) {
		r = state_map_mdb(st, rc);
	} else {
		r = head_decode(v.mv_data, v.mv_size, &h);
	}
	if (r == 0 && (r = fn(ctx, &h)) == 0) {
		written = 1;
		r = head_encode(&h, b) == 0 ? 0 : WARD_ERR_INTERNAL;
	}
	adopted = h.nraise > 0;
	/* the watermarks of adopted acceptances (state_audit_raise_step) */
	for (size_t i = 0; r == 0 && i < h.nraise; i++)
		r = state_t_raise_step(st, txn, h.raise[i].user, h.raise[i].ts_s);
	raise_free(&h);
	if (r == 0) {
		v.mv_size = sizeof(b);
		v.mv_data = b;
		if ((rc = mdb_put(txn, st->dbi, &key, &v, 0)) != 0)
			r = state_commit_rc(st, rc);
	}
	if (r != 0) {
		mdb_txn_abort(txn);
		if (written && undo != NULL)
			undo(ctx);	/* still under the lock */
		state_txn_end(st, 0);
		return r;
	}
	/* committed after the answer (state_defer_recorded_commit): the
	 * record is in the synced log */
	if (durable && st->defer_recorded && may_defer) {
		/* or kept pending (state_keep_recorded_pending): not when this
		 * append adopted records (rare: committed as it is) */
		if (st->keep_pending && !adopted &&
		    state_pend_keep(st, txn, &h, from_held) == 0)
			return 0;
		st->held = txn;
		st->held_recorded = 1;
		return 0;
	}
	/* LMDB 0.9 has no per-transaction sync flags; the flag is this
	 * process's own and only read by a write commit, which the lock makes
	 * ours.  Durable: NOMETASYNC saves one fsync - a crash may undo this
	 * last head, and the next append adopts the record from the (synced)
	 * log.  Not durable: no fsync at all. */
	flag = durable ? MDB_NOMETASYNC : MDB_NOSYNC;
	(void)mdb_env_set_flags(st->env, flag, 1);
	rc = mdb_txn_commit(txn);
	(void)mdb_env_set_flags(st->env, flag, 0);
	if (rc != 0 && undo != NULL)
		undo(ctx);
	state_txn_end(st, rc == 0);
	return state_commit_rc(st, rc);
}

int
state_t_pend_head(struct state *st, MDB_txn *txn)
{
	struct state_audit_head cur;
	unsigned char b[HEAD_V2];
	MDB_val key = { 6, (void *)(uintptr_t)"a:head" }, v;
	int rc;

	if (st->pend_head.seq == 0)
		return 0;
	rc = mdb_get(txn, st->dbi, &key, &v);
	if (rc == 0 && head_decode(v.mv_data, v.mv_size, &cur) == 0 &&
	    cur.seq >= st->pend_head.seq)
		return 0;                   /* never back */
	if (rc != 0 && rc != MDB_NOTFOUND)
		return state_map_mdb(st, rc);
	if (head_encode(&st->pend_head, b) != 0)
		return WARD_ERR_INTERNAL;
	v.mv_size = sizeof(b);
	v.mv_data = b;
	rc = mdb_put(txn, st->dbi, &key, &v, 0);
	return rc == 0 ? 0 : state_map_mdb(st, rc);
}
