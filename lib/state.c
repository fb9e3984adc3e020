/*
 * state.c - the state store on LMDB.  Rules in state.h.
 *
 * One unnamed database; keys carry a one-letter prefix:
 *   "u:" USER                       user record (encoded below)
 *   "g:" USER NUL HOST NUL APP      grace until (int64, little endian)
 *   "d:" USER                       directory cache: fetched_at(8) blob
 *   "a:head"                        audit chain head: seq(8) mac(64) dev(8) ino(8) size(8)
 * All integers are little endian.  Every decoder checks lengths exactly.
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

#include <lmdb.h>

#include "state.h"

#define MAP_SIZE ((size_t)1 << 30)     /* 1 GiB of address space, file grows as used */
#define KEY_MAX 511                    /* LMDB's default maximum key size */
#define REC_MAGIC0 'W'
#define REC_MAGIC1 'U'
#define REC_VERSION 1
#define REC_FIXED (3 + 1 + 1 + 2 + 8 + 4 + 8 + 8 + 8 + 2 + 1 + 16)

/* How long a write waits for the store's lock before it gives up (and
 * the caller denies): a process stopped while holding it - the setuid
 * helper can be stopped by its caller - must not hang every login. */
#define LOCK_WAIT_MS 3000

struct state {
	MDB_env *env;
	char *dir;                   /* for the messages */
	MDB_dbi dbi;
	int lockfd;                  /* ward.lock: flock'd around every write */
	int wlocked;
	int timed_out;               /* once timed out, later writes do not wait */
	int defer_attempt_meta;      /* state_defer_attempt_meta_sync */
};

static int wlock(struct state *st);
static void wunlock(struct state *st);
static int w_begin(struct state *st, MDB_txn **txn);
static int r_begin(struct state *st, MDB_txn **txn);
static int t_commit(struct state *st, MDB_txn *txn);
static void t_abort(struct state *st, MDB_txn *txn);

/* ---- little-endian writer / reader ---- */

struct wbuf {
	unsigned char *p;
	size_t len, cap;
};

static void
put_bytes(struct wbuf *w, const void *v, size_t n)
{
	if (w->len + n <= w->cap)
		memcpy(w->p + w->len, v, n);
	w->len += n;
}

static void
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

static void
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

static uint64_t
get_u(struct rbuf *r, size_t n)
{
	unsigned char b[8];
	uint64_t v = 0;

	get_bytes(r, b, n);
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

/* ---- keys ---- */

static int
make_key(char prefix, const char *a, const char *b, const char *c, char *out,
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

static int
user_key(const char *user, char *out, size_t *len)
{
	if (ward_user_valid(user) != 0)
		return WARD_ERR_INVAL;
	return make_key('u', user, NULL, NULL, out, len);
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
static int
full(struct state *st)
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
static int
commit_rc(struct state *st, int rc)
{
	return rc == 0 ? 0 : rc == MDB_MAP_FULL ? full(st) : WARD_ERR_STORE;
}

static int
map_mdb(struct state *st, int rc)
{
	switch (rc) {
	case 0: return 0;
	case MDB_MAP_FULL: return full(st);
	case MDB_NOTFOUND: return WARD_ERR_NOTFOUND;
	case ENOMEM: return WARD_ERR_NOMEM;
	case MDB_CORRUPTED: case MDB_INVALID: case MDB_VERSION_MISMATCH:
		return WARD_ERR_CORRUPT;
	case ETIMEDOUT: return WARD_ERR_TIMEOUT;
	default: return WARD_ERR_STORE;
	}
}

/* ---- user record codec ---- */

int
state_user_encode(const struct state_user *u, unsigned char **out, size_t *outlen)
{
	struct wbuf w = { NULL, 0, 0 };

	if (u->secret_ct_len > 0xffff || u->nrecovery > STATE_MAX_RECOVERY ||
	    u->digits < 0 || u->digits > 255 || u->period < 0 || u->period > 0xffff ||
	    u->algorithm < 0 || u->algorithm > 255 || u->failures < 0)
		return WARD_ERR_INVAL;
	w.cap = REC_FIXED + u->secret_ct_len + u->nrecovery * (STATE_RECOVERY_HASH_LEN + 1);
	if ((w.p = malloc(w.cap)) == NULL)
		return WARD_ERR_NOMEM;
	put_u(&w, REC_MAGIC0, 1);
	put_u(&w, REC_MAGIC1, 1);
	put_u(&w, REC_VERSION, 1);
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
	size_t ctlen;

	memset(u, 0, sizeof(*u));
	if (get_u(&r, 1) != REC_MAGIC0 || get_u(&r, 1) != REC_MAGIC1 ||
	    get_u(&r, 1) != REC_VERSION)
		return WARD_ERR_CORRUPT;
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
	    len - r.off != ctlen + u->nrecovery * (STATE_RECOVERY_HASH_LEN + 1))
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
	wunlock(st);
	*stp = st;
	return 0;
fail:
	ward_log(LOG_ERR, "state store %s: %s", dir, mdb_strerror(rc));
	r = rc == EACCES ? WARD_ERR_UNSAFE : map_mdb(st, rc);
	if (r == 0 || r == WARD_ERR_NOTFOUND)
		r = WARD_ERR_STORE;
fail_logged:
	if (st->env != NULL)
		mdb_env_close(st->env);
	wunlock(st);
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

static void
wunlock(struct state *st)
{
	if (st->wlocked) {
		(void)flock(st->lockfd, LOCK_UN);
		st->wlocked = 0;
	}
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
static int
w_begin(struct state *st, MDB_txn **txn)
{
	int rc;

	if ((rc = wlock(st)) != 0)
		return rc;
	if ((rc = txn_begin(st, 0, txn)) != 0)
		wunlock(st);
	return rc;
}

/* A read transaction, under the same lock (LMDB's reader-table mutex has
 * no timeout either). */
static int
r_begin(struct state *st, MDB_txn **txn)
{
	int rc;

	if ((rc = wlock(st)) != 0)
		return rc;
	if ((rc = txn_begin(st, MDB_RDONLY, txn)) != 0)
		wunlock(st);
	return rc;
}

/* End a transaction; its lock goes with it. */
static int
t_commit(struct state *st, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);

	wunlock(st);
	return rc;
}

static void
t_abort(struct state *st, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	wunlock(st);
}

/* ---- generic get/put ---- */

static int
kv_get(struct state *st, const char *k, size_t klen, void **val, size_t *vlen)
{
	MDB_txn *txn;
	MDB_val key = { klen, (void *)(uintptr_t)k }, v;
	int rc;

	*val = NULL;
	*vlen = 0;
	if ((rc = r_begin(st, &txn)) != 0)
		return map_mdb(st, rc);
	rc = mdb_get(txn, st->dbi, &key, &v);
	if (rc == 0) {
		if ((*val = malloc(v.mv_size ? v.mv_size : 1)) == NULL)
			rc = ENOMEM;
		else {
			memcpy(*val, v.mv_data, v.mv_size);
			*vlen = v.mv_size;
		}
	}
	t_abort(st, txn);
	return map_mdb(st, rc);
}

static int
kv_put(struct state *st, const char *k, size_t klen, const void *val, size_t vlen)
{
	MDB_txn *txn;
	MDB_val key = { klen, (void *)(uintptr_t)k }, v = { vlen, (void *)(uintptr_t)val };
	int rc;

	if ((rc = w_begin(st, &txn)) != 0)
		return map_mdb(st, rc);
	if ((rc = mdb_put(txn, st->dbi, &key, &v, 0)) != 0) {
		t_abort(st, txn);
		return map_mdb(st, rc);
	}
	return commit_rc(st, t_commit(st, txn));
}

static int
kv_del(struct state *st, const char *k, size_t klen)
{
	MDB_txn *txn;
	MDB_val key = { klen, (void *)(uintptr_t)k };
	int rc;

	if ((rc = w_begin(st, &txn)) != 0)
		return map_mdb(st, rc);
	rc = mdb_del(txn, st->dbi, &key, NULL);
	if (rc != 0) {
		t_abort(st, txn);
		return map_mdb(st, rc);
	}
	return commit_rc(st, t_commit(st, txn));
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
	if ((r = kv_get(st, k, klen, &v, &vlen)) != 0)
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
	r = kv_put(st, k, klen, v, vlen);
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
	return kv_del(st, k, klen);
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
	if ((rc = r_begin(st, &txn)) != 0)
		return map_mdb(st, rc);
	if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
		t_abort(st, txn);
		return map_mdb(st, rc);
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
		r = map_mdb(st, rc);
	mdb_cursor_close(cur);
	t_abort(st, txn);
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

int
state_user_attempt(struct state *st, const char *user, int64_t now, int max_failures,
    long lockout_seconds, state_check_fn check, void *ctx, int *locked_now)
{
	char k[KEY_MAX + 1];
	struct state_user u;
	unsigned char *enc = NULL;
	size_t klen, enclen = 0;
	MDB_txn *txn = NULL;
	MDB_val key, v;
	int rc, r, result;

	*locked_now = 0;
	memset(&u, 0, sizeof(u));
	if ((r = user_key(user, k, &klen)) != 0)
		return r;
	key.mv_size = klen;
	key.mv_data = k;
	/* The write lock is held from here to commit: racing attempts on
	 * one code are serialised, and the second sees the first's step. */
	if ((rc = w_begin(st, &txn)) != 0)
		return map_mdb(st, rc);
	if ((rc = mdb_get(txn, st->dbi, &key, &v)) != 0) {
		r = map_mdb(st, rc);
		goto abort;
	}
	if ((r = state_user_decode(v.mv_data, v.mv_size, &u)) != 0) {
		if (r == WARD_ERR_CORRUPT)
			ward_log(LOG_ERR, "state store: the record of user '%s' is corrupt "
			    "(%zu bytes); refusing it", user, v.mv_size);
		goto abort;
	}
	if (u.locked_until > now) {
		r = WARD_ERR_LOCKED;
		goto abort;
	}
	if (u.locked_until != 0) {          /* an expired lockout starts afresh */
		u.locked_until = 0;
		u.failures = 0;
	}
	result = check(ctx, &u, now);
	if (result == 0) {
		u.failures = 0;
		u.last_used_at = now;
	} else if (result == WARD_ERR_BADCODE || result == WARD_ERR_REPLAY) {
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
		r = commit_rc(st, rc);
		goto abort;
	}
	/* Deferred (state.h): the data pages are still synced before the
	 * meta page is written, so a crash never leaves a mix; only this last
	 * commit may be undone, until the next synced commit of the store. */
	if (st->defer_attempt_meta)
		(void)mdb_env_set_flags(st->env, MDB_NOMETASYNC, 1);
	rc = t_commit(st, txn);
	if (st->defer_attempt_meta)
		(void)mdb_env_set_flags(st->env, MDB_NOMETASYNC, 0);
	txn = NULL;
	if (rc != 0) {
		*locked_now = 0;
		r = commit_rc(st, rc);       /* not recorded: the caller must deny */
		goto out;
	}
	r = result;
	goto out;
abort:
	if (txn != NULL)
		t_abort(st, txn);
out:
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
	size_t klen, enclen = 0;
	MDB_txn *txn;
	MDB_val key, v;
	int rc, r;

	if ((r = user_key(user, k, &klen)) != 0)
		return r;
	key.mv_size = klen;
	key.mv_data = k;
	if ((rc = w_begin(st, &txn)) != 0)
		return map_mdb(st, rc);
	if ((rc = mdb_get(txn, st->dbi, &key, &v)) != 0) {
		t_abort(st, txn);
		return map_mdb(st, rc);
	}
	if ((r = state_user_decode(v.mv_data, v.mv_size, &u)) != 0) {
		t_abort(st, txn);
		return r;
	}
	if ((r = fn(ctx, &u)) == 0)
		r = state_user_encode(&u, &enc, &enclen);
	state_user_clear(&u);
	if (r != 0) {
		t_abort(st, txn);
		return r;
	}
	v.mv_size = enclen;
	v.mv_data = enc;
	if ((rc = mdb_put(txn, st->dbi, &key, &v, 0)) != 0) {
		t_abort(st, txn);
		r = commit_rc(st, rc);
	} else {
		r = commit_rc(st, t_commit(st, txn));
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
	if (ward_user_valid(user) != 0 || make_key('g', user, host, app, k, &klen) != 0)
		return WARD_ERR_INVAL;
	r = kv_get(st, k, klen, &v, &vlen);
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

	if (ward_user_valid(user) != 0 || make_key('g', user, host, app, k, &klen) != 0)
		return WARD_ERR_INVAL;
	put_u(&w, (uint64_t)until, 8);
	return kv_put(st, k, klen, b, sizeof(b));
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

	if (ward_user_valid(user) != 0 || make_key('g', user, "", NULL, prefix, &plen) != 0)
		return WARD_ERR_INVAL;
	/* prefix is "g:" USER NUL: every entry of this user and no other. */
	if ((rc = w_begin(st, &txn)) != 0)
		return map_mdb(st, rc);
	if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
		t_abort(st, txn);
		return map_mdb(st, rc);
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
		t_abort(st, txn);
		return map_mdb(st, rc);
	}
	return commit_rc(st, t_commit(st, txn));
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
	if (ward_user_valid(user) != 0 || make_key('d', user, NULL, NULL, k, &klen) != 0)
		return WARD_ERR_INVAL;
	if ((r = kv_get(st, k, klen, &v, &vlen)) != 0)
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

	if (ward_user_valid(user) != 0 || make_key('d', user, NULL, NULL, k, &klen) != 0)
		return WARD_ERR_INVAL;
	w.cap = 8 + bl;
	w.len = 0;
	if ((w.p = malloc(w.cap)) == NULL)
		return WARD_ERR_NOMEM;
	put_u(&w, (uint64_t)fetched_at, 8);
	put_bytes(&w, blob, bl);
	r = kv_put(st, k, klen, w.p, w.len);
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
 * the entry first); the others adopt the size (txn_begin below). */
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
		if (ward_user_valid(user) != 0 || make_key('d', user, NULL, NULL, from, &flen) != 0)
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

		if ((rc = w_begin(st, &txn)) != 0)
			return map_mdb(st, rc);
		if ((rc = mdb_cursor_open(txn, st->dbi, &cur)) != 0) {
			t_abort(st, txn);
			return map_mdb(st, rc);
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
			rc = t_commit(st, txn);
		else
			t_abort(st, txn);
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
			r = rc == MDB_MAP_FULL ? full(st) : map_mdb(st, rc);
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
	if ((r = kv_get(st, "a:head", 6, &v, &vlen)) != 0)
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
	return kv_put(st, "a:head", 6, b, sizeof(b));
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
	int rc, r, written = 0;

	if ((rc = w_begin(st, &txn)) != 0)
		return map_mdb(st, rc);
	memset(&h, 0, sizeof(h));
	rc = mdb_get(txn, st->dbi, &key, &v);
	if (rc == MDB_NOTFOUND) {
		memset(h.mac, '0', 64);
		r = 0;
	} else if (rc != 0) {
		r = map_mdb(st, rc);
	} else {
		r = head_decode(v.mv_data, v.mv_size, &h);
	}
	if (r == 0 && (r = fn(ctx, &h)) == 0) {
		written = 1;
		r = head_encode(&h, b) == 0 ? 0 : WARD_ERR_INTERNAL;
	}
	if (r == 0) {
		v.mv_size = sizeof(b);
		v.mv_data = b;
		if ((rc = mdb_put(txn, st->dbi, &key, &v, 0)) != 0)
			r = commit_rc(st, rc);
	}
	if (r != 0) {
		mdb_txn_abort(txn);
		if (written && undo != NULL)
			undo(ctx);	/* still under the lock */
		wunlock(st);
		return r;
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
	wunlock(st);
	return commit_rc(st, rc);
}
