/*
 * state.c - the state store on LMDB: opening it (state_open, check_dir),
 * its lock with the LOCK_WAIT_MS bound, transactions, the generic
 * get/put/delete, and the usage and full-store messages.  The users'
 * records are in state_user.c, grace and directory-cache entries in
 * state_cache.c, the audit chain head in state_audit.c; the key scheme is
 * in state_int.h.  Rules in state.h.
 *
 * Rules it keeps:
 *  - every use of the store (opening, reading, writing) holds ward.lock,
 *    waiting at most LOCK_WAIT_MS, so LMDB's own mutexes (which wait
 *    forever) are only ever taken by its holder;
 *  - the folder is a real directory owned by root and not open to
 *    group/other; stale reader slots are cleared at open;
 *  - a full map is its own error (WARD_ERR_FULL), logged with the sizes
 *    and the way out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <syslog.h>
#include <unistd.h>

#include "state_int.h"

#define MAP_SIZE ((size_t)1 << 30)     /* 1 GiB of address space, file grows as used */

/* How long a write waits for the store's lock before it gives up (and
 * the caller denies): a process stopped while holding it (wardctl, run by
 * root, or wardd itself) must not hang every login. */
#define LOCK_WAIT_MS 3000

static int wlock(struct state *st);
static void pend_clear(struct state *st);

/* ---- keys ---- */

int
state_make_key(char prefix, const char *a, const char *b, const char *c, char *out,
    size_t *len)
{
	size_t la = strlen(a), lb = b ? strlen(b) : 0, lc = c ? strlen(c) : 0;
	size_t n = 2 + la + (b ? 1 + lb : 0) + (c ? 1 + lc : 0);

	if (n > KEY_MAX)
		return WARD_ERR_INVAL;
	out[0] = prefix;
	out[1] = ':';
	memcpy(out + 2, a, la);
	n = 2 + la;
	if (b != NULL) {
		out[n++] = '\0';
		memcpy(out + n, b, lb);
		n += lb;
	}
	if (c != NULL) {
		out[n++] = '\0';
		memcpy(out + n, c, lc);
		n += lc;
	}
	*len = n;
	return 0;
}

/* Bytes of the store holding data (the main database's pages and the two
 * meta pages) and the map's size: what a full store reports. */
int
state_usage(struct state *st, uint64_t *used, uint64_t *size)
{
	MDB_stat ms;
	MDB_envinfo mi;

	*used = *size = 0;
	if (mdb_env_stat(st->env, &ms) != 0 || mdb_env_info(st->env, &mi) != 0)
		return WARD_ERR_STORE;
	*used = ((uint64_t)ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages + 2) *
	    ms.ms_psize;
	*size = mi.me_mapsize;
	return 0;
}

/* The map is full: say so, with the sizes and the way out, and return
 * WARD_ERR_FULL.  Every caller denies or refuses its change. */
int
state_full(struct state *st)
{
	uint64_t used, size;
	const uint64_t mib = 1024 * 1024;
	char sizes[80] = "";

	if (state_usage(st, &used, &size) == 0)
		snprintf(sizes, sizeof(sizes), " (%llu of %llu MiB used)",
		    (unsigned long long)((used + mib / 2) / mib), (unsigned long long)(size / mib));
	ward_log(LOG_ERR, "the state store is full%s in %s: nothing more can be stored until "
	    "space is freed; 'wardctl directory prune-cache --all' empties the directory "
	    "cache (answers are fetched again at the next logins), 'wardctl reset USER' "
	    "removes a user no longer needed (wardctl(8))", sizes, st->dir);
	return WARD_ERR_FULL;
}

/* A commit's outcome: the full store named, anything else a failure. */
int
state_commit_rc(struct state *st, int rc)
{
	return rc == 0 ? 0 : rc == MDB_MAP_FULL ? state_full(st) : WARD_ERR_STORE;
}

int
state_map_mdb(struct state *st, int rc)
{
	switch (rc) {
	case 0: return 0;
	case MDB_MAP_FULL: return state_full(st);
	case MDB_NOTFOUND: return WARD_ERR_NOTFOUND;
	case ENOMEM: return WARD_ERR_NOMEM;
	case MDB_CORRUPTED: case MDB_INVALID: case MDB_VERSION_MISMATCH:
		return WARD_ERR_CORRUPT;
	case ETIMEDOUT: return WARD_ERR_TIMEOUT;
	default: return WARD_ERR_STORE;
	}
}

/* ---- environment ---- */

static int
check_dir(const char *dir, int create)
{
	struct stat st;
	int fd;

	if (create && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		ward_log(LOG_ERR, "state store %s: cannot create: %s", dir, strerror(errno));
		return WARD_ERR_IO;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		ward_log(LOG_ERR, "state store %s: %s", dir, e == ELOOP || e == ENOTDIR ?
		    "not a real folder (symbolic link or file; refused)" : strerror(e));
		return e == ELOOP || e == ENOTDIR ? WARD_ERR_UNSAFE : WARD_ERR_IO;
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return WARD_ERR_IO;
	}
	close(fd);
	if (st.st_uid != 0 || (st.st_mode & 077) != 0) {
		ward_log(LOG_ERR, "state store %s: owner uid %u mode %04o; must be root "
		    "and 0700 (refused)", dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return WARD_ERR_UNSAFE;
	}
	return 0;
}

int
state_open(struct state **stp, const char *dir, int create)
{
	return state_open_map(stp, dir, create, MAP_SIZE);
}

int
state_open_map(struct state **stp, const char *dir, int create, size_t map_size)
{
	struct state *st;
	MDB_txn *txn = NULL;
	int rc, r, dead = 0;

	*stp = NULL;
	if ((r = check_dir(dir, create)) != 0)
		return r;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return WARD_ERR_NOMEM;
	st->lockfd = -1;
	st->recover_window = 10;
	if ((st->dir = strdup(dir)) == NULL) {
		free(st);
		return WARD_ERR_NOMEM;
	}
	/*
	 * ward.lock first: every use of the store (opening it, reading,
	 * writing) holds it, waiting a bounded time, so LMDB's own mutexes
	 * (which wait forever) are only ever taken by its holder - a process
	 * stopped inside LMDB makes others wait LOCK_WAIT_MS and deny, never
	 * hang.
	 */
	{
		char lp[PATH_MAX];

		if ((size_t)snprintf(lp, sizeof(lp), "%s/ward.lock", dir) >= sizeof(lp)) {
			rc = ENAMETOOLONG;
			goto fail;
		}
		st->lockfd = open(lp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
		if (st->lockfd < 0) {
			rc = errno;
			if (!create && rc == ENOENT) {
				r = WARD_ERR_NOTFOUND;
				goto fail_logged;
			}
			goto fail;
		}
	}
	if ((rc = wlock(st)) != 0)
		goto fail;
	if ((rc = mdb_env_create(&st->env)) != 0)
		goto fail;
	if ((rc = mdb_env_set_mapsize(st->env, map_size)) != 0 ||
	    (rc = mdb_env_set_maxreaders(st->env, 256)) != 0)
		goto fail;
	/* MDB_NOTLS: reader slots belong to transactions, not threads, so a
	 * threaded PAM application cannot trip over them. */
	if ((rc = mdb_env_open(st->env, dir, MDB_NOTLS, 0600)) != 0) {
		if (!create && rc == ENOENT) {
			r = WARD_ERR_NOTFOUND;
			goto fail_logged;
		}
		goto fail;
	}
	/* Reader slots of processes killed mid-read would pin old pages. */
	(void)mdb_reader_check(st->env, &dead);
	/* The main database always exists: a read transaction opens it. */
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0)
		goto fail;
	if ((rc = mdb_dbi_open(txn, NULL, 0, &st->dbi)) != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	state_wunlock(st);
	*stp = st;
	return 0;
fail:
	ward_log(LOG_ERR, "state store %s: %s", dir, mdb_strerror(rc));
	r = rc == EACCES ? WARD_ERR_UNSAFE : state_map_mdb(st, rc);
	if (r == 0 || r == WARD_ERR_NOTFOUND)
		r = WARD_ERR_STORE;
fail_logged:
	if (st->env != NULL)
		mdb_env_close(st->env);
	state_wunlock(st);
	if (st->lockfd >= 0)
		close(st->lockfd);
	free(st->dir);
	free(st);
	return r;
}

void
state_close(struct state *st)
{
	if (st == NULL)
		return;
	state_held_abort(st);       /* a recorded one is committed */
	if (state_flush_pending(st) != 0)
		ward_log(LOG_ERR, "state store %s: closed with the changes of the last "
		    "login(s) not committed; the next audit append (wardd's at start) "
		    "adopts their records from the log", st->dir);
	pend_clear(st);             /* (nothing, unless the flush failed) */
	free(st->pend_acc);
	free(st->held_user);
	mdb_env_close(st->env);
	if (st->lockfd >= 0)
		close(st->lockfd);
	free(st->dir);
	free(st);
}

/* ---- the write lock ---- */

/*
 * Every write transaction first takes an exclusive flock on ward.lock,
 * waiting at most LOCK_WAIT_MS (LMDB's own write mutex has no timeout).
 * Returns 0, ETIMEDOUT (logged) or an errno.
 */
static int
wlock(struct state *st)
{
	struct timespec t0, now, nap = { 0, 5 * 1000 * 1000 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (flock(st->lockfd, LOCK_EX | LOCK_NB) == 0) {
			st->wlocked = 1;
			st->timed_out = 0;
			return 0;
		}
		if (errno != EWOULDBLOCK && errno != EINTR)
			return errno;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (st->timed_out || (now.tv_sec - t0.tv_sec) * 1000 +
		    (now.tv_nsec - t0.tv_nsec) / 1000000 >= LOCK_WAIT_MS) {
			st->timed_out = 1;
			ward_log(LOG_ERR, "state store: its lock has been held for over %d ms by "
			    "another process (stopped or hung?); giving up", LOCK_WAIT_MS);
			return ETIMEDOUT;
		}
		nanosleep(&nap, NULL);
	}
}

void
state_wunlock(struct state *st)
{
	/* what is pending is not in the store yet: nobody else may use it */
	if (st->wlocked && !st->pend) {
		(void)flock(st->lockfd, LOCK_UN);
		st->wlocked = 0;
	}
}

/* ---- an attempt held for its audit record (state.h) ---- */

int
state_t_commit_attempt(struct state *st, MDB_txn *txn)
{
	int rc;

	/* Deferred (state.h): the data pages are still synced before the
	 * meta page is written, so a crash never leaves a mix; only this last
	 * commit may be undone, until the next synced commit of the store. */
	if (st->defer_attempt_meta)
		(void)mdb_env_set_flags(st->env, MDB_NOMETASYNC, 1);
	rc = mdb_txn_commit(txn);
	if (st->defer_attempt_meta)
		(void)mdb_env_set_flags(st->env, MDB_NOMETASYNC, 0);
	state_txn_end(st, rc == 0);
	return rc;
}

/*
 * Commit the held transaction as it would have been committed; an MDB
 * code.  A recorded one (its record is in the synced log, the answer may
 * be out) commits like the head commit it is - data pages synced, meta
 * page deferred - and a failure is logged and returned as 0: the record
 * stands, and the next append adopts it (state_defer_recorded_commit).
 */
static int
held_commit_rc(struct state *st)
{
	MDB_txn *txn = st->held;
	int rc;

	st->held = NULL;
	if (!st->held_recorded)
		return state_t_commit_attempt(st, txn);
	st->held_recorded = 0;
	(void)mdb_env_set_flags(st->env, MDB_NOMETASYNC, 1);
	rc = mdb_txn_commit(txn);
	(void)mdb_env_set_flags(st->env, MDB_NOMETASYNC, 0);
	state_txn_end(st, rc == 0);
	if (rc != 0)
		ward_log(LOG_ERR, "state store: the commit after an answer failed (%s); the "
		    "next audit append adopts its record from the log", mdb_strerror(rc));
	return 0;
}

void
state_hold_next_attempt(struct state *st)
{
	st->hold_next = 1;
}

int
state_held_commit(struct state *st)
{
	if (st->held == NULL || st->held_recorded)
		return 0;
	return state_commit_rc(st, held_commit_rc(st));
}

int
state_recorded_commit(struct state *st)
{
	if (st == NULL || st->held == NULL || !st->held_recorded)
		return 0;
	return held_commit_rc(st);
}

void
state_defer_recorded_commit(struct state *st, int on)
{
	st->defer_recorded = on != 0;
}

void
state_set_recover_window(struct state *st, int window)
{
	st->recover_window = window < 0 ? 0 : window;
}

void
state_held_abort(struct state *st)
{
	if (st != NULL && st->held != NULL && st->held_recorded) {
		(void)held_commit_rc(st);
		return;
	}
	if (st != NULL && st->held != NULL) {
		mdb_txn_abort(st->held);
		st->held = NULL;
		state_txn_end(st, 0);
	}
}

/* ---- the commit after the answer, kept pending (state.h) ---- */

static long
ms_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000L + (b->tv_nsec - a->tv_nsec) / 1000000L;
}

static void
pend_clear(struct state *st)
{
	for (size_t i = 0; i < st->npend_acc; i++)
		free(st->pend_acc[i].user);
	st->npend_acc = 0;
	memset(&st->pend_head, 0, sizeof(st->pend_head));
	st->pend = 0;
	st->pend_failing = 0;
	st->pend_in_txn = 0;
}

/* What is pending into TXN, in the order it happened: the head (never
 * back), then each acceptance.  An MDB code. */
static int
pend_put(struct state *st, MDB_txn *txn)
{
	int r = state_t_pend_head(st, txn);

	for (size_t i = 0; r == 0 && i < st->npend_acc; i++)
		r = state_t_pend_accept(st, txn, &st->pend_acc[i]);
	if (r != 0) {
		ward_log(LOG_ERR, "state store %s: the changes of the last login(s) could not "
		    "be put in a transaction (%s)", st->dir, ward_strerror(r));
		return r == WARD_ERR_FULL ? MDB_MAP_FULL : EIO;
	}
	st->pend_in_txn = 1;
	return 0;
}

void
state_txn_end(struct state *st, int ok)
{
	if (st->pend_in_txn) {
		st->pend_in_txn = 0;
		if (ok)
			pend_clear(st);
	}
	state_wunlock(st);
}

int
state_pend_keep(struct state *st, MDB_txn *txn, const struct state_audit_head *h,
    int with_accept)
{
	struct state_pend_accept *a = NULL;

	if (with_accept && st->held_user == NULL)
		return WARD_ERR_INTERNAL;
	if (with_accept) {
		if (st->pend_acc == NULL &&
		    (st->pend_acc = calloc(STATE_PEND_MAX, sizeof(*st->pend_acc))) == NULL)
			return WARD_ERR_NOMEM;
		for (size_t i = 0; i < st->npend_acc && a == NULL; i++)
			if (st->pend_acc[i].user != NULL &&
			    strcmp(st->pend_acc[i].user, st->held_user) == 0)
				a = &st->pend_acc[i];
		if (a == NULL) {
			if (st->npend_acc == STATE_PEND_MAX)
				return WARD_ERR_FULL;
			a = &st->pend_acc[st->npend_acc++];
			a->user = st->held_user;
			st->held_user = NULL;
			a->step = st->held_step;
			a->used_at = st->held_used_at;
		} else {
			if (a->step < st->held_step)
				a->step = st->held_step;
			if (a->used_at < st->held_used_at)
				a->used_at = st->held_used_at;
		}
	}
	st->pend_head = *h;
	st->pend_head.raise = NULL;
	st->pend_head.nraise = 0;
	clock_gettime(CLOCK_MONOTONIC, &st->pend_last);
	if (!st->pend)
		st->pend_first = st->pend_last;
	st->pend = 1;
	/* its changes are all pending now (earlier ones put in it as well) */
	st->pend_in_txn = 0;
	mdb_txn_abort(txn);
	return 0;
}

void
state_keep_recorded_pending(struct state *st, int on)
{
	st->keep_pending = on != 0;
}

int
state_pending(const struct state *st, long *age_ms, long *idle_ms)
{
	struct timespec now;

	if (st == NULL || !st->pend)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	*age_ms = ms_between(&st->pend_first, &now);
	*idle_ms = ms_between(&st->pend_last, &now);
	return 1;
}

int
state_flush_pending(struct state *st)
{
	MDB_txn *txn = NULL;
	int rc;

	if (st == NULL || !st->pend || st->held != NULL)
		return 0;
	if ((rc = state_w_begin(st, &txn)) == 0) {
		/* as the commit after the answer it is: data pages synced, the
		 * meta page with the next synced commit (state.h) */
		(void)mdb_env_set_flags(st->env, MDB_NOMETASYNC, 1);
		rc = mdb_txn_commit(txn);
		(void)mdb_env_set_flags(st->env, MDB_NOMETASYNC, 0);
		state_txn_end(st, rc == 0);
	}
	if (rc != 0 && st->pend) {
		/* Kept, with the lock: dropped, a code it spent would be accepted
		 * again before the next append adopted its record.  Tried again in
		 * a second (and by every transaction on the handle meanwhile,
		 * which fails closed while it cannot be put). */
		if (!st->pend_failing)
			ward_log(LOG_ERR, "state store %s: the changes of the last login(s) "
			    "could not be committed (%s); kept, and tried again", st->dir,
			    mdb_strerror(rc));
		st->pend_failing = 1;
		clock_gettime(CLOCK_MONOTONIC, &st->pend_last);
		st->pend_last.tv_sec += 1;
		st->pend_first = st->pend_last;
	}
	if (rc == 0 && st->pend_failing) {
		st->pend_failing = 0;
		ward_log(LOG_NOTICE, "state store %s: the changes kept are committed now",
		    st->dir);
	}
	return rc == 0 ? 0 : WARD_ERR_STORE;
}

/* mdb_txn_begin; a map another process grew (wardctl directory
 * prune-cache on a full store) is adopted, as LMDB asks, and the begin
 * tried again. */
static int
txn_begin(struct state *st, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(st->env, NULL, flags, txn);

	if (rc == MDB_MAP_RESIZED && (rc = mdb_env_set_mapsize(st->env, 0)) == 0)
		rc = mdb_txn_begin(st->env, NULL, flags, txn);
	return rc;
}

/* A write transaction under the lock (an MDB or errno code). */
int
state_w_begin(struct state *st, MDB_txn **txn)
{
	int rc;

	if (st->held != NULL && (rc = held_commit_rc(st)) != 0)
		return rc;
	if ((rc = wlock(st)) != 0)
		return rc;
	if ((rc = txn_begin(st, 0, txn)) != 0) {
		state_wunlock(st);
		return rc;
	}
	/* what is pending goes first, in this transaction (state.h) */
	if (st->pend && (rc = pend_put(st, *txn)) != 0) {
		mdb_txn_abort(*txn);
		*txn = NULL;
		state_wunlock(st);
	}
	return rc;
}

/* A read transaction, under the same lock (LMDB's reader-table mutex has
 * no timeout either). */
int
state_r_begin(struct state *st, MDB_txn **txn)
{
	int rc;

	if (st->held != NULL && (rc = held_commit_rc(st)) != 0)
		return rc;
	/* what is pending is read as if committed: put in a write transaction
	 * that the read ends with an abort (state.h) */
	if (st->pend)
		return state_w_begin(st, txn);
	if ((rc = wlock(st)) != 0)
		return rc;
	if ((rc = txn_begin(st, MDB_RDONLY, txn)) != 0)
		state_wunlock(st);
	return rc;
}

/* End a transaction; its lock goes with it. */
int
state_t_commit(struct state *st, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);

	state_txn_end(st, rc == 0);
	return rc;
}

void
state_t_abort(struct state *st, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	state_txn_end(st, 0);
}

/* ---- generic get/put ---- */

int
state_kv_get(struct state *st, const char *k, size_t klen, void **val, size_t *vlen)
{
	MDB_txn *txn;
	MDB_val key = { klen, (void *)(uintptr_t)k }, v;
	int rc;

	*val = NULL;
	*vlen = 0;
	if ((rc = state_r_begin(st, &txn)) != 0)
		return state_map_mdb(st, rc);
	rc = mdb_get(txn, st->dbi, &key, &v);
	if (rc == 0) {
		if ((*val = malloc(v.mv_size ? v.mv_size : 1)) == NULL)
			rc = ENOMEM;
		else {
			memcpy(*val, v.mv_data, v.mv_size);
			*vlen = v.mv_size;
		}
	}
	state_t_abort(st, txn);
	return state_map_mdb(st, rc);
}

int
state_kv_put(struct state *st, const char *k, size_t klen, const void *val, size_t vlen)
{
	MDB_txn *txn;
	MDB_val key = { klen, (void *)(uintptr_t)k }, v = { vlen, (void *)(uintptr_t)val };
	int rc;

	if ((rc = state_w_begin(st, &txn)) != 0)
		return state_map_mdb(st, rc);
	if ((rc = mdb_put(txn, st->dbi, &key, &v, 0)) != 0) {
		state_t_abort(st, txn);
		return state_map_mdb(st, rc);
	}
	return state_commit_rc(st, state_t_commit(st, txn));
}

int
state_kv_del(struct state *st, const char *k, size_t klen)
{
	MDB_txn *txn;
	MDB_val key = { klen, (void *)(uintptr_t)k };
	int rc;

	if ((rc = state_w_begin(st, &txn)) != 0)
		return state_map_mdb(st, rc);
	rc = mdb_del(txn, st->dbi, &key, NULL);
	if (rc != 0) {
		state_t_abort(st, txn);
		return state_map_mdb(st, rc);
	}
	return state_commit_rc(st, state_t_commit(st, txn));
}
