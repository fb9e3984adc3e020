/*
 * state_cache.c - the store's short-lived entries: grace times
 * (state_grace_get/put/clear_user) and the directory cache
 * (state_dircache_get/put) with its prune (state_dircache_prune).  Rules
 * in state.h.
 *
 * Rules it keeps:
 *  - an entry is checked exactly when read (grace: 8 bytes; cache: 8 bytes
 *    then a blob without NUL), else WARD_ERR_CORRUPT;
 *  - the prune removes "d:" keys only (never records, graces or the audit
 *    head) and works on a full store (PRUNE_BATCH below).
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "state_int.h"

/* ---- grace ---- */

int
state_grace_get(struct state *st, const char *user, const char *host, const char *app,
    int64_t *until)
{
	char k[KEY_MAX + 1];
	size_t klen, vlen;
	void *v;
	int r;

	*until = 0;
	if (ward_user_valid(user) != 0 || state_make_key('g', user, host, app, k, &klen) != 0)
		return WARD_ERR_INVAL;
	r = state_kv_get(st, k, klen, &v, &vlen);
	if (r == WARD_ERR_NOTFOUND)
		return 0;
	if (r != 0)
		return r;
	if (vlen != 8) {
		free(v);
		return WARD_ERR_CORRUPT;
	}
	{
		struct rbuf rb = { v, vlen, 0, 0 };
		*until = (int64_t)get_u(&rb, 8);
	}
	free(v);
	return 0;
}

int
state_grace_put(struct state *st, const char *user, const char *host, const char *app,
    int64_t until)
{
	char k[KEY_MAX + 1];
	unsigned char b[8];
	struct wbuf w = { b, 0, sizeof(b) };
	size_t klen;

	if (ward_user_valid(user) != 0 || state_make_key('g', user, host, app, k, &klen) != 0)
		return WARD_ERR_INVAL;
	put_u(&w, (uint64_t)until, 8);
	return state_kv_put(st, k, klen, b, sizeof(b));
}

int
state_grace_clear_user(struct state *st, const char *user)
{
	char prefix[KEY_MAX + 1];
	size_t plen;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (ward_user_valid(user) != 0 ||
	    state_make_key('g', user, "", NULL, prefix, &plen) != 0)
		return WARD_ERR_INVAL;
	/* prefix is "g:" USER NUL: every entry of this user and no other. */
	if ((rc = state_w_begin(st, &txn)) != 0)
		return state_map_mdb(st, rc);
	if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
		state_t_abort(st, txn);
		return state_map_mdb(st, rc);
	}
	k.mv_size = plen;
	k.mv_data = prefix;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		state_t_abort(st, txn);
		return state_map_mdb(st, rc);
	}
	return state_commit_rc(st, state_t_commit(st, txn));
}

/* ---- directory cache ---- */

int
state_dircache_get(struct state *st, const char *user, char **blob, int64_t *fetched_at)
{
	char k[KEY_MAX + 1];
	size_t klen, vlen;
	void *v;
	int r;

	*blob = NULL;
	*fetched_at = 0;
	if (ward_user_valid(user) != 0 || state_make_key('d', user, NULL, NULL, k, &klen) != 0)
		return WARD_ERR_INVAL;
	if ((r = state_kv_get(st, k, klen, &v, &vlen)) != 0)
		return r;
	if (vlen < 8 || memchr((char *)v + 8, '\0', vlen - 8) != NULL) {
		free(v);
		return WARD_ERR_CORRUPT;
	}
	{
		struct rbuf rb = { v, vlen, 0, 0 };
		*fetched_at = (int64_t)get_u(&rb, 8);
	}
	*blob = strndup((char *)v + 8, vlen - 8);
	free(v);
	return *blob != NULL ? 0 : WARD_ERR_NOMEM;
}

int
state_dircache_put(struct state *st, const char *user, const char *blob, int64_t fetched_at)
{
	char k[KEY_MAX + 1];
	struct wbuf w;
	size_t klen, bl = strlen(blob);
	int r;

	if (ward_user_valid(user) != 0 || state_make_key('d', user, NULL, NULL, k, &klen) != 0)
		return WARD_ERR_INVAL;
	w.cap = 8 + bl;
	w.len = 0;
	if ((w.p = malloc(w.cap)) == NULL)
		return WARD_ERR_NOMEM;
	put_u(&w, (uint64_t)fetched_at, 8);
	put_bytes(&w, blob, bl);
	r = state_kv_put(st, k, klen, w.p, w.len);
	free(w.p);
	return r;
}

/*
 * Deletions go PRUNE_BATCH to a transaction.  Even a delete needs free
 * pages (LMDB copies the pages it changes), so on a full map a batch can
 * fail where one entry at a time still gets through: each commit frees
 * the pages the next one needs.
 */
#define PRUNE_BATCH 256
/* When not even one entry fits, the map grows by this much for the prune
 * (LMDB cannot free pages without writing the free list and the path to
 * the entry first); the others adopt the size (txn_begin in state.c). */
#define PRUNE_HEADROOM ((size_t)16 << 20)

int
state_dircache_prune(struct state *st, const char *user, int64_t before, size_t *np,
    uint64_t *bytesp)
{
	char from[KEY_MAX + 1];      /* where the next transaction starts */
	char last[KEY_MAX + 1];      /* the last key this one deleted */
	size_t flen, llen = 0, batch = PRUNE_BATCH;
	int done = 0, r = 0, grown = 0;

	*np = 0;
	*bytesp = 0;
	if (user != NULL) {
		if (ward_user_valid(user) != 0 ||
		    state_make_key('d', user, NULL, NULL, from, &flen) != 0)
			return WARD_ERR_INVAL;
	} else {
		memcpy(from, "d:", 2);
		flen = 2;
	}
	while (!done && r == 0) {
		MDB_txn *txn;
		MDB_cursor *cur;
		MDB_val k = { flen, from }, v;
		size_t n = 0;
		uint64_t bytes = 0;
		int rc;

		if ((rc = state_w_begin(st, &txn)) != 0)
			return state_map_mdb(st, rc);
		if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
			state_t_abort(st, txn);
			return state_map_mdb(st, rc);
		}
		done = 1;
		for (rc = mdb_cursor_get(cur, &k, &v, user ? MDB_SET_KEY : MDB_SET_RANGE);
		    rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			struct rbuf rb = { v.mv_data, v.mv_size, 0, 0 };
			size_t size = k.mv_size + v.mv_size;

			if (k.mv_size < 2 || memcmp(k.mv_data, "d:", 2) != 0)
				break;
			/* an entry too short to say its age is not worth keeping */
			if (v.mv_size >= 8 && (int64_t)get_u(&rb, 8) >= before) {
				if (user != NULL)
					break;
				continue;
			}
			if (k.mv_size > KEY_MAX) {	/* LMDB's own bound */
				rc = MDB_BAD_VALSIZE;
				break;
			}
			memcpy(last, k.mv_data, k.mv_size);
			llen = k.mv_size;
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			n++;
			bytes += size;
			if (user != NULL)
				break;
			if (n == batch) {
				done = 0;
				break;
			}
		}
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND)
			rc = 0;
		if (rc == 0)
			rc = state_t_commit(st, txn);
		else
			state_t_abort(st, txn);
		if (rc == MDB_MAP_FULL && batch > 1) {
			batch = 1;       /* again from FROM, one entry a transaction */
			done = 0;
			continue;
		}
		if (rc == MDB_MAP_FULL && !grown) {
			MDB_envinfo mi;

			grown = 1;       /* no transaction of ours is open here */
			if (mdb_env_info(st->env, &mi) == 0 &&
			    mdb_env_set_mapsize(st->env, mi.me_mapsize + PRUNE_HEADROOM) == 0) {
				ward_log(LOG_WARNING, "state store %s: full; its map grows by %zu "
				    "MiB to let entries be removed", st->dir, PRUNE_HEADROOM >> 20);
				done = 0;
				continue;
			}
		}
		if (rc != 0) {
			r = rc == MDB_MAP_FULL ? state_full(st) : state_map_mdb(st, rc);
			break;
		}
		*np += n;
		*bytesp += bytes;
		if (n > 0) {
			memcpy(from, last, llen);
			flen = llen;
		}
	}
	return r;
}
