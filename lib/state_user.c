/*
 * state_user.c - the users' records: their encoding (state_user_encode,
 * state_user_decode), get/put/delete/list, the login attempt's
 * check-and-update (state_user_attempt), the admin read-modify-write
 * (state_user_update) and unlock.  Rules in state.h.
 *
 * Rules it keeps:
 *  - every check-and-update is one LMDB write transaction, the store's
 *    lock held from the read to the commit: two processes racing one TOTP
 *    code cannot both win;
 *  - a record is versioned binary with exact length checks; one that fails
 *    to decode is WARD_ERR_CORRUPT, logged, and the caller denies;
 *  - the TOTP secret inside is the secret store's ciphertext; a record is
 *    wiped when cleared.
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "state_int.h"

#define REC_MAGIC0 'W'
#define REC_MAGIC1 'U'
#define REC_VERSION 1
#define REC_VERSION_FLEET 2         /* version 1 + the fleet mirror's fields */
#define REC_FIXED (3 + 1 + 1 + 2 + 8 + 4 + 8 + 8 + 8 + 2 + 1 + 16)
#define REC_FLEET (8 + 8 + 8)

static int
user_key(const char *user, char *out, size_t *len)
{
	if (ward_user_valid(user) != 0)
		return WARD_ERR_INVAL;
	return state_make_key('u', user, NULL, NULL, out, len);
}

/* ---- user record codec ---- */

int
state_user_encode(const struct state_user *u, unsigned char **out, size_t *outlen)
{
	struct wbuf w = { NULL, 0, 0 };

	int fleet = u->fleet_fetched_at > 0;

	if (u->secret_ct_len > 0xffff || u->nrecovery > STATE_MAX_RECOVERY ||
	    u->digits < 0 || u->digits > 255 || u->period < 0 || u->period > 0xffff ||
	    u->algorithm < 0 || u->algorithm > 255 || u->failures < 0 ||
	    u->fleet_fetched_at < 0 || u->fleet_pending_step < 0 ||
	    u->fleet_offline_locked_until < 0 ||
	    (!fleet && (u->fleet_pending_step != 0 || u->fleet_offline_locked_until != 0)))
		return WARD_ERR_INVAL;
	w.cap = REC_FIXED + u->secret_ct_len + u->nrecovery * (STATE_RECOVERY_HASH_LEN + 1) +
	    (fleet ? REC_FLEET : 0);
	if ((w.p = malloc(w.cap)) == NULL)
		return WARD_ERR_NOMEM;
	put_u(&w, REC_MAGIC0, 1);
	put_u(&w, REC_MAGIC1, 1);
	put_u(&w, fleet ? REC_VERSION_FLEET : REC_VERSION, 1);
	put_u(&w, (uint64_t)u->algorithm, 1);
	put_u(&w, (uint64_t)u->digits, 1);
	put_u(&w, (uint64_t)u->period, 2);
	put_u(&w, (uint64_t)u->last_step, 8);
	put_u(&w, (uint64_t)u->failures, 4);
	put_u(&w, (uint64_t)u->locked_until, 8);
	put_u(&w, (uint64_t)u->enrolled_at, 8);
	put_u(&w, (uint64_t)u->last_used_at, 8);
	put_u(&w, u->secret_ct_len, 2);
	put_u(&w, u->nrecovery, 1);
	put_bytes(&w, u->recovery_salt, 16);
	put_bytes(&w, u->secret_ct, u->secret_ct_len);
	for (size_t i = 0; i < u->nrecovery; i++) {
		put_bytes(&w, u->recovery[i], STATE_RECOVERY_HASH_LEN);
		put_u(&w, u->recovery_used[i] ? 1 : 0, 1);
	}
	if (fleet) {
		put_u(&w, (uint64_t)u->fleet_fetched_at, 8);
		put_u(&w, (uint64_t)u->fleet_pending_step, 8);
		put_u(&w, (uint64_t)u->fleet_offline_locked_until, 8);
	}
	if (w.len != w.cap) {
		free(w.p);
		return WARD_ERR_INTERNAL;
	}
	*out = w.p;
	*outlen = w.len;
	return 0;
}

int
state_user_decode(const void *data, size_t len, struct state_user *u)
{
	struct rbuf r = { data, len, 0, 0 };
	size_t ctlen, tail;
	uint64_t version;

	memset(u, 0, sizeof(*u));
	if (get_u(&r, 1) != REC_MAGIC0 || get_u(&r, 1) != REC_MAGIC1)
		return WARD_ERR_CORRUPT;
	version = get_u(&r, 1);
	if (version != REC_VERSION && version != REC_VERSION_FLEET)
		return WARD_ERR_CORRUPT;
	tail = version == REC_VERSION_FLEET ? REC_FLEET : 0;
	u->algorithm = (int)get_u(&r, 1);
	u->digits = (int)get_u(&r, 1);
	u->period = (int)get_u(&r, 2);
	u->last_step = (int64_t)get_u(&r, 8);
	u->failures = (int)(uint32_t)get_u(&r, 4);
	u->locked_until = (int64_t)get_u(&r, 8);
	u->enrolled_at = (int64_t)get_u(&r, 8);
	u->last_used_at = (int64_t)get_u(&r, 8);
	ctlen = (size_t)get_u(&r, 2);
	u->nrecovery = (size_t)get_u(&r, 1);
	get_bytes(&r, u->recovery_salt, 16);
	if (r.bad || u->algorithm > 2 || u->digits < 6 || u->digits > 8 ||
	    u->period <= 0 || u->failures < 0 || u->last_step < -1 ||
	    u->nrecovery > STATE_MAX_RECOVERY || ctlen == 0 ||
	    len - r.off != ctlen + u->nrecovery * (STATE_RECOVERY_HASH_LEN + 1) + tail)
		goto bad;
	if ((u->secret_ct = malloc(ctlen)) == NULL)
		return WARD_ERR_NOMEM;
	u->secret_ct_len = ctlen;
	get_bytes(&r, u->secret_ct, ctlen);
	for (size_t i = 0; i < u->nrecovery; i++) {
		uint64_t used;

		get_bytes(&r, u->recovery[i], STATE_RECOVERY_HASH_LEN);
		used = get_u(&r, 1);
		if (used > 1)
			goto bad;
		u->recovery_used[i] = (unsigned char)used;
	}
	if (tail) {
		u->fleet_fetched_at = (int64_t)get_u(&r, 8);
		u->fleet_pending_step = (int64_t)get_u(&r, 8);
		u->fleet_offline_locked_until = (int64_t)get_u(&r, 8);
		/* version 2 is a mirror's: fetched; nothing negative */
		if (u->fleet_fetched_at <= 0 || u->fleet_pending_step < 0 ||
		    u->fleet_offline_locked_until < 0)
			goto bad;
	}
	if (r.bad || r.off != len)
		goto bad;
	return 0;
bad:
	state_user_clear(u);
	return WARD_ERR_CORRUPT;
}

void
state_user_clear(struct state_user *u)
{
	if (u == NULL)
		return;
	free(u->secret_ct);
	ward_wipe(u, sizeof(*u));
	u->last_step = -1;
}

/* ---- users ---- */

int
state_user_get(struct state *st, const char *user, struct state_user *out)
{
	char k[KEY_MAX + 1];
	size_t klen, vlen;
	void *v;
	int r;

	memset(out, 0, sizeof(*out));
	out->last_step = -1;
	if ((r = user_key(user, k, &klen)) != 0)
		return r;
	if ((r = state_kv_get(st, k, klen, &v, &vlen)) != 0)
		return r;
	r = state_user_decode(v, vlen, out);
	if (r == WARD_ERR_CORRUPT)
		ward_log(LOG_ERR, "state store: the record of user '%s' is corrupt "
		    "(%zu bytes); refusing it", user, vlen);
	free(v);
	return r;
}

int
state_user_put(struct state *st, const char *user, const struct state_user *u)
{
	char k[KEY_MAX + 1];
	unsigned char *v;
	size_t klen, vlen;
	int r;

	if ((r = user_key(user, k, &klen)) != 0)
		return r;
	if ((r = state_user_encode(u, &v, &vlen)) != 0)
		return r;
	r = state_kv_put(st, k, klen, v, vlen);
	ward_freezero(v, vlen);
	return r;
}

int
state_user_delete(struct state *st, const char *user)
{
	char k[KEY_MAX + 1];
	size_t klen;
	int r;

	if ((r = user_key(user, k, &klen)) != 0)
		return r;
	return state_kv_del(st, k, klen);
}

int
state_user_list(struct state *st, char ***namesp, size_t *np)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k = { 2, (void *)(uintptr_t)"u:" }, v;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc, r = 0;

	*namesp = NULL;
	*np = 0;
	if ((rc = state_r_begin(st, &txn)) != 0)
		return state_map_mdb(st, rc);
	if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
		state_t_abort(st, txn);
		return state_map_mdb(st, rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *kp = k.mv_data;
		char *name;

		if (k.mv_size < 2 || kp[0] != 'u' || kp[1] != ':')
			break;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*nn));
			if (nn == NULL) {
				r = WARD_ERR_NOMEM;
				break;
			}
			names = nn;
		}
		if ((name = strndup(kp + 2, k.mv_size - 2)) == NULL) {
			r = WARD_ERR_NOMEM;
			break;
		}
		names[n++] = name;
	}
	if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
		r = state_map_mdb(st, rc);
	mdb_cursor_close(cur);
	state_t_abort(st, txn);
	if (r != 0) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return r;
	}
	*namesp = names;
	*np = n;
	return 0;
}

/*
 * USER's record, read in a write transaction under the store's lock (for
 * a read-modify-write): 0 with *TXN open, the record in *U and its key in
 * K (*KEY); otherwise an error, nothing open.  A corrupt record is logged.
 */
static int
user_begin(struct state *st, const char *user, char k[KEY_MAX + 1], MDB_val *key,
    MDB_txn **txn, struct state_user *u)
{
	size_t klen;
	MDB_val v;
	int rc, r;

	*txn = NULL;
	if ((r = user_key(user, k, &klen)) != 0)
		return r;
	key->mv_size = klen;
	key->mv_data = k;
	if ((rc = state_w_begin(st, txn)) != 0) {
		*txn = NULL;
		return state_map_mdb(st, rc);
	}
	if ((rc = mdb_get(*txn, st->dbi, key, &v)) != 0) {
		if ((r = state_map_mdb(st, rc)) == 0)
			r = WARD_ERR_STORE;      /* never 0 without a record */
	} else if ((r = state_user_decode(v.mv_data, v.mv_size, u)) == WARD_ERR_CORRUPT) {
		ward_log(LOG_ERR, "state store: the record of user '%s' is corrupt "
		    "(%zu bytes); refusing it", user, v.mv_size);
	}
	if (r != 0) {
		state_t_abort(st, *txn);
		*txn = NULL;
	}
	return r;
}

int
state_user_attempt(struct state *st, const char *user, int64_t now, int max_failures,
    long lockout_seconds, state_check_fn check, void *ctx, int *locked_now)
{
	char k[KEY_MAX + 1];
	struct state_user u;
	unsigned char *enc = NULL;
	size_t enclen = 0;
	MDB_txn *txn = NULL;
	MDB_val key, v;
	int rc, r, result, hold = st->hold_next, lock_reset = 0;
	int64_t step_before;

	st->hold_next = 0;
	*locked_now = 0;
	memset(&u, 0, sizeof(u));
	/* The write lock is held from here to commit: racing attempts on
	 * one code are serialised, and the second sees the first's step. */
	if ((r = user_begin(st, user, k, &key, &txn, &u)) != 0)
		goto out;
	if (u.locked_until > now) {
		r = WARD_ERR_LOCKED;
		goto abort;
	}
	if (u.locked_until != 0) {          /* an expired lockout starts afresh */
		u.locked_until = 0;
		u.failures = 0;
		lock_reset = 1;
	}
	step_before = u.last_step;
	result = check(ctx, &u, now);
	if (result == WARD_ERR_REPLAY) {
		/* A code already used is no guess: refused (and recorded by the
		 * caller), but it does not count toward the lockout - the same
		 * code typed at two services within its step must not lock a
		 * clinician out.  Nothing in the record changes. */
		r = result;
		goto abort;
	}
	if (result == STATE_CHECK_UNSPENT) {
		/* a good code checked for a login the policy denies: it stays
		 * usable where the user may log in (pam_ward(8)) */
		r = 0;
		goto abort;
	}
	if (result == 0) {
		u.failures = 0;
		u.last_used_at = now;
	} else if (result == WARD_ERR_BADCODE) {
		if (u.failures < 1000000)
			u.failures++;
		if (max_failures > 0 && u.failures >= max_failures) {
			u.locked_until = now + lockout_seconds;
			*locked_now = 1;
		}
	} else {
		r = result;                 /* an error inside the check: change nothing */
		goto abort;
	}
	if ((r = state_user_encode(&u, &enc, &enclen)) != 0)
		goto abort;
	v.mv_size = enclen;
	v.mv_data = enc;
	if ((rc = mdb_put(txn, st->dbi, &key, &v, 0)) != 0) {
		r = state_commit_rc(st, rc);
		goto abort;
	}
	/* Held for the audit record (state.h): committed with it.  A lockout
	 * is committed now: the caller has more to do with the store first. */
	if (hold && !*locked_now) {
		st->held = txn;
		st->held_recorded = 0;
		/* a TOTP step accepted, and nothing else: what an adopted
		 * record can restore (state_audit_raise_step) */
		st->held_step_only = result == 0 && u.last_step > step_before &&
		    u.failures == 0 && !lock_reset;
		/* what state_keep_recorded_pending keeps of it */
		free(st->held_user);
		st->held_user = st->held_step_only ? strdup(user) : NULL;
		if (st->held_user == NULL)
			st->held_step_only = 0;
		st->held_step = u.last_step;
		st->held_used_at = u.last_used_at;
		txn = NULL;
		r = result;
		goto out;
	}
	rc = state_t_commit_attempt(st, txn);
	txn = NULL;
	if (rc != 0) {
		*locked_now = 0;
		r = state_commit_rc(st, rc);       /* not recorded: the caller must deny */
		goto out;
	}
	r = result;
	goto out;
abort:
	if (txn != NULL)
		state_t_abort(st, txn);
out:
	ward_freezero(enc, enclen);
	state_user_clear(&u);
	return r;
}

int
state_t_raise_step(struct state *st, MDB_txn *txn, const char *user, int64_t ts_s)
{
	char k[KEY_MAX + 1];
	struct state_user u;
	unsigned char *enc = NULL;
	size_t klen, enclen = 0;
	MDB_val key, v;
	int64_t step;
	int rc, r;

	if (user_key(user, k, &klen) != 0)
		return 0;                   /* no such record can exist */
	key.mv_size = klen;
	key.mv_data = k;
	if ((rc = mdb_get(txn, st->dbi, &key, &v)) == MDB_NOTFOUND)
		return 0;                   /* reset or removed since */
	if (rc != 0)
		return state_map_mdb(st, rc);
	memset(&u, 0, sizeof(u));
	if ((r = state_user_decode(v.mv_data, v.mv_size, &u)) != 0)
		goto out;
	if (u.period <= 0) {
		r = WARD_ERR_CORRUPT;
		goto out;
	}
	step = ts_s / u.period + st->recover_window;
	if (u.last_step >= step)
		goto out;
	u.last_step = step;
	if ((r = state_user_encode(&u, &enc, &enclen)) != 0)
		goto out;
	v.mv_size = enclen;
	v.mv_data = enc;
	if ((rc = mdb_put(txn, st->dbi, &key, &v, 0)) != 0)
		r = state_map_mdb(st, rc);
	else
		ward_log(LOG_WARNING, "state store: user '%s': TOTP codes up to step %lld "
		    "treated as used (a login at %lld was recorded but its store commit was "
		    "lost)", user, (long long)step, (long long)ts_s);
out:
	ward_freezero(enc, enclen);
	state_user_clear(&u);
	return r;
}

int
state_t_pend_accept(struct state *st, MDB_txn *txn, const struct state_pend_accept *a)
{
	char k[KEY_MAX + 1];
	struct state_user u;
	unsigned char *enc = NULL;
	size_t klen, enclen = 0;
	MDB_val key, v;
	int rc, r;

	if (user_key(a->user, k, &klen) != 0)
		return 0;
	key.mv_size = klen;
	key.mv_data = k;
	if ((rc = mdb_get(txn, st->dbi, &key, &v)) == MDB_NOTFOUND)
		return 0;                   /* cannot happen: the lock was kept */
	if (rc != 0)
		return state_map_mdb(st, rc);
	memset(&u, 0, sizeof(u));
	if ((r = state_user_decode(v.mv_data, v.mv_size, &u)) != 0) {
		state_user_clear(&u);
		if (r != WARD_ERR_CORRUPT)
			return r;               /* stays pending; this transaction fails */
		ward_log(LOG_ERR, "state store: user '%s': record unreadable; its last "
		    "acceptance (step %lld) not put", a->user, (long long)a->step);
		return 0;                   /* every attempt on it fails closed */
	}
	if (u.last_step < a->step)
		u.last_step = a->step;
	u.failures = 0;
	if (u.last_used_at < a->used_at)
		u.last_used_at = a->used_at;
	if ((r = state_user_encode(&u, &enc, &enclen)) == 0) {
		v.mv_size = enclen;
		v.mv_data = enc;
		if ((rc = mdb_put(txn, st->dbi, &key, &v, 0)) != 0)
			r = state_map_mdb(st, rc);
	}
	ward_freezero(enc, enclen);
	state_user_clear(&u);
	return r;
}

void
state_defer_attempt_meta_sync(struct state *st, int defer)
{
	st->defer_attempt_meta = defer != 0;
}

int
state_user_update(struct state *st, const char *user, state_update_fn fn, void *ctx)
{
	char k[KEY_MAX + 1];
	struct state_user u;
	unsigned char *enc = NULL;
	size_t enclen = 0;
	MDB_txn *txn;
	MDB_val key, v;
	int rc, r;

	memset(&u, 0, sizeof(u));
	if ((r = user_begin(st, user, k, &key, &txn, &u)) != 0)
		return r;
	if ((r = fn(ctx, &u)) == 0)
		r = state_user_encode(&u, &enc, &enclen);
	state_user_clear(&u);
	if (r != 0) {
		state_t_abort(st, txn);
		return r;
	}
	v.mv_size = enclen;
	v.mv_data = enc;
	if ((rc = mdb_put(txn, st->dbi, &key, &v, 0)) != 0) {
		state_t_abort(st, txn);
		r = state_commit_rc(st, rc);
	} else {
		r = state_commit_rc(st, state_t_commit(st, txn));
	}
	ward_freezero(enc, enclen);
	return r;
}

static int
unlock_fn(void *ctx, struct state_user *u)
{
	(void)ctx;
	u->failures = 0;
	u->locked_until = 0;
	return 0;
}

int
state_user_unlock(struct state *st, const char *user)
{
	return state_user_update(st, user, unlock_fn, NULL);
}
