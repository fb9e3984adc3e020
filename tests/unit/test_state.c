/* test_state.c - the LMDB state store: records, the atomic attempt
 * (success, failure count, lockout, expiry, replay), corrupt records,
 * grace, directory cache, audit head, unsafe folders, racing processes. */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "state.h"
#include "testutil.h"

static char *dir;
static char sdir[512];

static int
setup(void)
{
	dir = tu_mkdtemp("ward-state");
	if (dir == NULL)
		return 1;
	snprintf(sdir, sizeof(sdir), "%s/state", dir);
	return 0;
}

static int teardown(void) { tu_rmtree(dir); free(dir); return 0; }

static void
fill_user(struct state_user *u, unsigned char fill)
{
	static unsigned char ct[49];

	memset(u, 0, sizeof(*u));
	memset(ct, fill, sizeof(ct));
	u->secret_ct = ct;
	u->secret_ct_len = sizeof(ct);
	u->algorithm = 0;
	u->digits = 6;
	u->period = 30;
	u->last_step = -1;
	u->enrolled_at = 1700000000;
	u->nrecovery = 3;
	memset(u->recovery_salt, 5, 16);
	memset(u->recovery[1], 6, 32);
}

static void
test_put_get_list_delete(void)
{
	struct state *st;
	struct state_user u, got;
	char **names = NULL;
	size_t n = 0;

	CU_ASSERT_EQUAL_FATAL(state_open(&st, sdir, 1), 0);
	fill_user(&u, 0xab);
	CU_ASSERT_EQUAL(state_user_put(st, "alice", &u), 0);
	CU_ASSERT_EQUAL(state_user_put(st, "bob", &u), 0);
	CU_ASSERT_EQUAL(state_user_get(st, "alice", &got), 0);
	CU_ASSERT_EQUAL(got.secret_ct_len, 49);
	CU_ASSERT_EQUAL(memcmp(got.secret_ct, u.secret_ct, 49), 0);
	CU_ASSERT_EQUAL(got.nrecovery, 3);
	CU_ASSERT_EQUAL(memcmp(got.recovery[1], u.recovery[1], 32), 0);
	CU_ASSERT_EQUAL(got.last_step, -1);
	CU_ASSERT_EQUAL(got.enrolled_at, 1700000000);
	state_user_clear(&got);
	CU_ASSERT_EQUAL(state_user_get(st, "carol", &got), WARD_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(state_user_get(st, "bad/name", &got), WARD_ERR_INVAL);
	CU_ASSERT_EQUAL(state_user_list(st, &names, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	if (n == 2) {
		CU_ASSERT_STRING_EQUAL(names[0], "alice");
		CU_ASSERT_STRING_EQUAL(names[1], "bob");
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	CU_ASSERT_EQUAL(state_user_delete(st, "bob"), 0);
	CU_ASSERT_EQUAL(state_user_get(st, "bob", &got), WARD_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(state_user_delete(st, "bob"), WARD_ERR_NOTFOUND);
	state_close(st);
}

/* The check used in tests: ctx points at an int "verdict"; a verdict of 0
 * also records step 100 as used, like the TOTP check does. */
static int
check_fn(void *ctx, struct state_user *rec, int64_t now)
{
	int v = *(int *)ctx;

	(void)now;
	if (v == 0) {
		if (rec->last_step >= 100)
			return WARD_ERR_REPLAY;
		rec->last_step = 100;
	}
	return v;
}

static void
test_attempt_lockout(void)
{
	struct state *st;
	struct state_user u, got;
	int verdict, locked = 0;
	int64_t now = 1800000000;

	CU_ASSERT_EQUAL_FATAL(state_open(&st, sdir, 1), 0);
	fill_user(&u, 1);
	CU_ASSERT_EQUAL_FATAL(state_user_put(st, "dave", &u), 0);
	verdict = WARD_ERR_BADCODE;
	for (int i = 1; i <= 2; i++) {
		CU_ASSERT_EQUAL(state_user_attempt(st, "dave", now, 3, 900, check_fn,
		    &verdict, &locked), WARD_ERR_BADCODE);
		CU_ASSERT_EQUAL(locked, 0);
	}
	CU_ASSERT_EQUAL(state_user_get(st, "dave", &got), 0);
	CU_ASSERT_EQUAL(got.failures, 2);
	state_user_clear(&got);
	/* a success resets the count */
	verdict = 0;
	CU_ASSERT_EQUAL(state_user_attempt(st, "dave", now, 3, 900, check_fn, &verdict,
	    &locked), 0);
	CU_ASSERT_EQUAL(state_user_get(st, "dave", &got), 0);
	CU_ASSERT_EQUAL(got.failures, 0);
	CU_ASSERT_EQUAL(got.last_step, 100);
	CU_ASSERT_EQUAL(got.last_used_at, now);
	state_user_clear(&got);
	/* the same step again is a replay: refused, but no guess, so it does
	 * not count toward the lockout (however often) */
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(state_user_attempt(st, "dave", now, 3, 900, check_fn,
		    &verdict, &locked), WARD_ERR_REPLAY);
		CU_ASSERT_EQUAL(locked, 0);
	}
	CU_ASSERT_EQUAL(state_user_get(st, "dave", &got), 0);
	CU_ASSERT_EQUAL(got.failures, 0);
	CU_ASSERT_EQUAL(got.locked_until, 0);
	state_user_clear(&got);
	verdict = WARD_ERR_BADCODE;
	for (int i = 1; i <= 2; i++) {
		CU_ASSERT_EQUAL(state_user_attempt(st, "dave", now, 3, 900, check_fn,
		    &verdict, &locked), WARD_ERR_BADCODE);
		CU_ASSERT_EQUAL(locked, 0);
	}
	CU_ASSERT_EQUAL(state_user_attempt(st, "dave", now, 3, 900, check_fn, &verdict,
	    &locked), WARD_ERR_BADCODE);
	CU_ASSERT_EQUAL(locked, 1);
	/* locked: even a right answer is refused, the check is not called */
	verdict = 0;
	CU_ASSERT_EQUAL(state_user_attempt(st, "dave", now + 899, 3, 900, check_fn,
	    &verdict, &locked), WARD_ERR_LOCKED);
	CU_ASSERT_EQUAL(state_user_get(st, "dave", &got), 0);
	CU_ASSERT_EQUAL(got.locked_until, now + 900);
	CU_ASSERT_EQUAL(got.failures, 3);
	state_user_clear(&got);
	/* after the lockout the count starts afresh */
	verdict = WARD_ERR_BADCODE;
	CU_ASSERT_EQUAL(state_user_attempt(st, "dave", now + 900, 3, 900, check_fn,
	    &verdict, &locked), WARD_ERR_BADCODE);
	CU_ASSERT_EQUAL(locked, 0);
	CU_ASSERT_EQUAL(state_user_get(st, "dave", &got), 0);
	CU_ASSERT_EQUAL(got.failures, 1);
	CU_ASSERT_EQUAL(got.locked_until, 0);
	state_user_clear(&got);
	/* unlock clears failures */
	CU_ASSERT_EQUAL(state_user_unlock(st, "dave"), 0);
	CU_ASSERT_EQUAL(state_user_get(st, "dave", &got), 0);
	CU_ASSERT_EQUAL(got.failures, 0);
	state_user_clear(&got);
	/* an error inside the check changes nothing */
	verdict = WARD_ERR_CRYPTO;
	CU_ASSERT_EQUAL(state_user_attempt(st, "dave", now, 3, 900, check_fn, &verdict,
	    &locked), WARD_ERR_CRYPTO);
	CU_ASSERT_EQUAL(state_user_get(st, "dave", &got), 0);
	CU_ASSERT_EQUAL(got.failures, 0);
	state_user_clear(&got);
	CU_ASSERT_EQUAL(state_user_attempt(st, "nobody-here", now, 3, 900, check_fn,
	    &verdict, &locked), WARD_ERR_NOTFOUND);
	state_close(st);
}

static void
put_raw(const char *key, const void *val, size_t len)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { strlen(key), (void *)key }, v = { len, (void *)val };

	CU_ASSERT_EQUAL_FATAL(mdb_env_create(&env), 0);
	mdb_env_set_mapsize(env, (size_t)1 << 30);
	CU_ASSERT_EQUAL_FATAL(mdb_env_open(env, sdir, MDB_NOTLS, 0600), 0);
	CU_ASSERT_EQUAL_FATAL(mdb_txn_begin(env, NULL, 0, &txn), 0);
	CU_ASSERT_EQUAL_FATAL(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	CU_ASSERT_EQUAL(mdb_put(txn, dbi, &k, &v, 0), 0);
	CU_ASSERT_EQUAL(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* A held attempt: committed with the audit head, or dropped with a record
 * that failed, or committed first by any other transaction. */
static int
head_ok(void *ctx, struct state_audit_head *h)
{
	(void)ctx;
	h->seq++;
	return 0;
}

static int
head_fails(void *ctx, struct state_audit_head *h)
{
	(void)ctx;
	(void)h;
	return WARD_ERR_AUDIT;
}

static void
test_held_attempt(void)
{
	struct state *st, *other;
	struct state_user u, got;
	int verdict = WARD_ERR_BADCODE, locked = 0;
	int64_t now = 1800000000;
	char hdir[600];

	/* a store of its own: the other tests expect no audit head */
	snprintf(hdir, sizeof(hdir), "%s/held", dir);
	CU_ASSERT_EQUAL_FATAL(state_open(&st, hdir, 1), 0);
	CU_ASSERT_EQUAL_FATAL(state_open(&other, hdir, 0), 0);
	fill_user(&u, 2);
	CU_ASSERT_EQUAL_FATAL(state_user_put(st, "hal", &u), 0);
	/* held (the store's lock with it: no one else reads meanwhile), then
	 * committed with the head */
	state_hold_next_attempt(st);
	CU_ASSERT_EQUAL(state_user_attempt(st, "hal", now, 5, 900, check_fn, &verdict,
	    &locked), WARD_ERR_BADCODE);
	CU_ASSERT_EQUAL(state_audit_append(st, 1, head_ok, NULL, NULL), 0);
	CU_ASSERT_EQUAL(state_user_get(other, "hal", &got), 0);
	CU_ASSERT_EQUAL(got.failures, 1);
	state_user_clear(&got);
	/* the record fails: the attempt goes with it */
	state_hold_next_attempt(st);
	CU_ASSERT_EQUAL(state_user_attempt(st, "hal", now, 5, 900, check_fn, &verdict,
	    &locked), WARD_ERR_BADCODE);
	CU_ASSERT_EQUAL(state_audit_append(st, 1, head_fails, NULL, NULL), WARD_ERR_AUDIT);
	CU_ASSERT_EQUAL(state_user_get(other, "hal", &got), 0);
	CU_ASSERT_EQUAL(got.failures, 1);
	state_user_clear(&got);
	/* dropped on purpose */
	state_hold_next_attempt(st);
	CU_ASSERT_EQUAL(state_user_attempt(st, "hal", now, 5, 900, check_fn, &verdict,
	    &locked), WARD_ERR_BADCODE);
	state_held_abort(st);
	CU_ASSERT_EQUAL(state_user_get(st, "hal", &got), 0);
	CU_ASSERT_EQUAL(got.failures, 1);
	state_user_clear(&got);
	/* any other transaction on the handle commits it first (no self-wait) */
	state_hold_next_attempt(st);
	CU_ASSERT_EQUAL(state_user_attempt(st, "hal", now, 5, 900, check_fn, &verdict,
	    &locked), WARD_ERR_BADCODE);
	CU_ASSERT_EQUAL(state_user_get(st, "hal", &got), 0);
	CU_ASSERT_EQUAL(got.failures, 2);
	state_user_clear(&got);
	/* a lockout is never held: committed at once */
	verdict = WARD_ERR_BADCODE;
	for (int i = 0; i < 3; i++) {
		if (i == 2)
			state_hold_next_attempt(st);   /* the attempt that locks */
		CU_ASSERT_EQUAL(state_user_attempt(st, "hal", now, 5, 900, check_fn, &verdict,
		    &locked), WARD_ERR_BADCODE);
	}
	CU_ASSERT_EQUAL(locked, 1);
	CU_ASSERT_EQUAL(state_user_get(other, "hal", &got), 0);
	CU_ASSERT(got.locked_until > now);
	state_user_clear(&got);
	/* closing with one held drops it */
	CU_ASSERT_EQUAL(state_user_unlock(st, "hal"), 0);
	state_hold_next_attempt(st);
	CU_ASSERT_EQUAL(state_user_attempt(st, "hal", now, 5, 900, check_fn, &verdict,
	    &locked), WARD_ERR_BADCODE);
	state_close(st);
	CU_ASSERT_EQUAL(state_user_get(other, "hal", &got), 0);
	CU_ASSERT_EQUAL(got.failures, 0);
	state_user_clear(&got);
	state_close(other);
}

/* The commit after the answer (state_defer_recorded_commit): an accepted
 * step's transaction stays open after its record until committed; a
 * failure is committed before; a recorded transaction is never dropped. */
static void
test_commit_after_answer(void)
{
	struct state *st, *other;
	struct state_user u, got;
	int ok = 0, bad = WARD_ERR_BADCODE, locked = 0;
	int64_t now = 1800000000;
	char hdir[600];

	snprintf(hdir, sizeof(hdir), "%s/after", dir);
	CU_ASSERT_EQUAL_FATAL(state_open(&st, hdir, 1), 0);
	CU_ASSERT_EQUAL_FATAL(state_open(&other, hdir, 0), 0);
	fill_user(&u, 3);
	CU_ASSERT_EQUAL_FATAL(state_user_put(st, "ida", &u), 0);
	state_defer_recorded_commit(st, 1);
	/* an accepted step: left open (the lock with it) ... */
	state_hold_next_attempt(st);
	CU_ASSERT_EQUAL(state_user_attempt(st, "ida", now, 5, 900, check_fn, &ok, &locked), 0);
	CU_ASSERT_EQUAL(state_audit_append(st, 1, head_ok, NULL, NULL), 0);
	CU_ASSERT_EQUAL(state_held_commit(st), 0);          /* not an attempt's to commit */
	/* ... until committed; then another handle sees step and head */
	CU_ASSERT_EQUAL(state_recorded_commit(st), 0);
	CU_ASSERT_EQUAL(state_user_get(other, "ida", &got), 0);
	CU_ASSERT_EQUAL(got.last_step, 100);
	state_user_clear(&got);
	/* a failure is committed with its record, before the answer: another
	 * handle reads it at once (it would wait for the lock otherwise) */
	state_hold_next_attempt(st);
	CU_ASSERT_EQUAL(state_user_attempt(st, "ida", now, 5, 900, check_fn, &bad, &locked),
	    WARD_ERR_BADCODE);
	CU_ASSERT_EQUAL(state_audit_append(st, 1, head_ok, NULL, NULL), 0);
	CU_ASSERT_EQUAL(state_user_get(other, "ida", &got), 0);
	CU_ASSERT_EQUAL(got.failures, 1);
	state_user_clear(&got);
	/* a record without an attempt: left open; the next transaction on the
	 * handle commits it first */
	CU_ASSERT_EQUAL(state_audit_append(st, 1, head_ok, NULL, NULL), 0);
	CU_ASSERT_EQUAL(state_user_get(st, "ida", &got), 0);
	state_user_clear(&got);
	/* not durable (audit.fsync = false): committed at once */
	CU_ASSERT_EQUAL(state_audit_append(st, 0, head_ok, NULL, NULL), 0);
	CU_ASSERT_EQUAL(state_user_get(other, "ida", &got), 0);
	state_user_clear(&got);
	/* a recorded transaction is never dropped: abort and close commit it */
	CU_ASSERT_EQUAL(state_user_unlock(st, "ida"), 0);
	CU_ASSERT_EQUAL(state_audit_append(st, 1, head_ok, NULL, NULL), 0);
	state_held_abort(st);
	CU_ASSERT_EQUAL(state_user_get(other, "ida", &got), 0);
	state_user_clear(&got);
	u.last_step = -1;
	CU_ASSERT_EQUAL(state_user_put(st, "ida", &u), 0);
	state_hold_next_attempt(st);
	CU_ASSERT_EQUAL(state_user_attempt(st, "ida", now, 5, 900, check_fn, &ok, &locked), 0);
	CU_ASSERT_EQUAL(state_audit_append(st, 1, head_ok, NULL, NULL), 0);
	state_close(st);
	CU_ASSERT_EQUAL(state_user_get(other, "ida", &got), 0);
	CU_ASSERT_EQUAL(got.last_step, 100);
	state_user_clear(&got);
	state_close(other);
}

/* What a recorded transaction changed, kept pending
 * (state_keep_recorded_pending): ward.lock held meanwhile, read and
 * applied first by the handle's next transaction, committed by a flush or
 * by the commit of a full list, and never in the store after a crash. */
static int
lock_free(const char *hdir)
{
	char lp[700];
	int fd, r;

	snprintf(lp, sizeof(lp), "%s/ward.lock", hdir);
	if ((fd = open(lp, O_RDWR | O_CLOEXEC)) < 0)
		return -1;
	r = flock(fd, LOCK_EX | LOCK_NB);
	if (r == 0)
		(void)flock(fd, LOCK_UN);
	close(fd);
	return r == 0;
}

static void
accept_kept(struct state *st, const char *user, int want)
{
	int ok = 0, locked = 0;

	state_hold_next_attempt(st);
	CU_ASSERT_EQUAL(state_user_attempt(st, user, 1800000000, 5, 900, check_fn, &ok,
	    &locked), want);
	if (want == 0)
		CU_ASSERT_EQUAL(state_audit_append(st, 1, head_ok, NULL, NULL), 0);
}

static void
test_kept_pending(void)
{
	struct state *st, *other;
	struct state_user u, got;
	struct state_audit_head h;
	long age = -1, idle = -1;
	char hdir[600], name[32];
	pid_t pid;
	int status;

	snprintf(hdir, sizeof(hdir), "%s/pending", dir);
	CU_ASSERT_EQUAL_FATAL(state_open(&st, hdir, 1), 0);
	fill_user(&u, 4);
	CU_ASSERT_EQUAL_FATAL(state_user_put(st, "jo", &u), 0);
	u.failures = 2;
	CU_ASSERT_EQUAL_FATAL(state_user_put(st, "kim", &u), 0);
	state_defer_recorded_commit(st, 1);
	state_keep_recorded_pending(st, 1);
	/* an accepted step and its record: pending; no other process may use
	 * the store until it is committed */
	accept_kept(st, "jo", 0);
	CU_ASSERT_EQUAL(state_pending(st, &age, &idle), 1);
	CU_ASSERT(age >= 0 && idle >= 0);
	CU_ASSERT_EQUAL(lock_free(hdir), 0);
	/* this handle reads it, and its next attempt meets the spent step */
	CU_ASSERT_EQUAL(state_user_get(st, "jo", &got), 0);
	CU_ASSERT_EQUAL(got.last_step, 100);
	state_user_clear(&got);
	accept_kept(st, "jo", WARD_ERR_REPLAY);
	accept_kept(st, "kim", 0);
	CU_ASSERT_EQUAL(state_audit_head_get(st, &h), 0);
	CU_ASSERT_EQUAL(h.seq, 2);
	CU_ASSERT_EQUAL(state_pending(st, &age, &idle), 1);
	/* flushed: the lock let go, another handle sees both and the head */
	CU_ASSERT_EQUAL(state_flush_pending(st), 0);
	CU_ASSERT_EQUAL(state_pending(st, &age, &idle), 0);
	CU_ASSERT_EQUAL(lock_free(hdir), 1);
	CU_ASSERT_EQUAL_FATAL(state_open(&other, hdir, 0), 0);
	CU_ASSERT_EQUAL(state_user_get(other, "kim", &got), 0);
	CU_ASSERT_EQUAL(got.last_step, 100);
	CU_ASSERT_EQUAL(got.failures, 0);
	state_user_clear(&got);
	CU_ASSERT_EQUAL(state_audit_head_get(other, &h), 0);
	CU_ASSERT_EQUAL(h.seq, 2);
	state_close(other);
	/* STATE_PEND_MAX users pending; one more commits them all with it */
	u.failures = 0;
	for (int i = 0; i <= STATE_PEND_MAX; i++) {
		snprintf(name, sizeof(name), "p%02d", i);
		CU_ASSERT_EQUAL_FATAL(state_user_put(st, name, &u), 0);
	}
	for (int i = 0; i <= STATE_PEND_MAX; i++) {
		snprintf(name, sizeof(name), "p%02d", i);
		accept_kept(st, name, 0);
		CU_ASSERT_EQUAL(state_recorded_commit(st), 0);   /* as wardd's phase does */
		CU_ASSERT_EQUAL(state_pending(st, &age, &idle), i < STATE_PEND_MAX);
	}
	CU_ASSERT_EQUAL(lock_free(hdir), 1);
	CU_ASSERT_EQUAL_FATAL(state_open(&other, hdir, 0), 0);
	for (int i = 0; i <= STATE_PEND_MAX; i++) {
		snprintf(name, sizeof(name), "p%02d", i);
		CU_ASSERT_EQUAL(state_user_get(other, name, &got), 0);
		CU_ASSERT_EQUAL(got.last_step, 100);
		state_user_clear(&got);
	}
	CU_ASSERT_EQUAL(state_audit_head_get(other, &h), 0);
	CU_ASSERT_EQUAL(h.seq, 3 + STATE_PEND_MAX);
	state_close(other);
	/* a process that dies with something pending: the store is whole and
	 * without it (the synced log has the record; the next append adopts it,
	 * test_audit) */
	u.failures = 0;
	CU_ASSERT_EQUAL_FATAL(state_user_put(st, "lee", &u), 0);
	state_close(st);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		struct state *c;

		if (state_open(&c, hdir, 0) != 0)
			_exit(2);
		state_defer_recorded_commit(c, 1);
		state_keep_recorded_pending(c, 1);
		accept_kept(c, "lee", 0);
		_exit(state_pending(c, &age, &idle) == 1 ? 0 : 3);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(lock_free(hdir), 1);
	CU_ASSERT_EQUAL_FATAL(state_open(&other, hdir, 0), 0);
	CU_ASSERT_EQUAL(state_user_get(other, "lee", &got), 0);
	CU_ASSERT_EQUAL(got.last_step, -1);
	state_user_clear(&got);
	CU_ASSERT_EQUAL(state_audit_head_get(other, &h), 0);
	CU_ASSERT_EQUAL(h.seq, 3 + STATE_PEND_MAX);
	state_close(other);
}

static void
test_corrupt_records(void)
{
	struct state *st;
	struct state_user got;
	int verdict = 0, locked;
	unsigned char good[512];
	size_t goodlen;

	/* take a good record's bytes, then damage them in several ways */
	{
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi dbi;
		MDB_val k = { 7, (void *)"u:alice" }, v;

		CU_ASSERT_EQUAL_FATAL(mdb_env_create(&env), 0);
		mdb_env_set_mapsize(env, (size_t)1 << 30);
		CU_ASSERT_EQUAL_FATAL(mdb_env_open(env, sdir, MDB_NOTLS, 0600), 0);
		CU_ASSERT_EQUAL_FATAL(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
		CU_ASSERT_EQUAL_FATAL(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
		CU_ASSERT_EQUAL_FATAL(mdb_get(txn, dbi, &k, &v), 0);
		CU_ASSERT_FATAL(v.mv_size <= sizeof(good));
		memcpy(good, v.mv_data, v.mv_size);
		goodlen = v.mv_size;
		mdb_txn_abort(txn);
		mdb_env_close(env);
	}
	put_raw("u:eve", good, goodlen - 1);             /* truncated */
	put_raw("u:mallory", "WU\x02", 3);                /* unknown version */
	good[3] = 9;                                      /* algorithm 9 */
	put_raw("u:trent", good, goodlen);
	CU_ASSERT_EQUAL_FATAL(state_open(&st, sdir, 0), 0);
	CU_ASSERT_EQUAL(state_user_get(st, "eve", &got), WARD_ERR_CORRUPT);
	CU_ASSERT_EQUAL(state_user_get(st, "mallory", &got), WARD_ERR_CORRUPT);
	CU_ASSERT_EQUAL(state_user_get(st, "trent", &got), WARD_ERR_CORRUPT);
	CU_ASSERT_EQUAL(state_user_attempt(st, "eve", 1, 3, 900, check_fn, &verdict,
	    &locked), WARD_ERR_CORRUPT);
	put_raw("g:alice\0h\0a", "1234567", 7);
	state_close(st);
}

/* Fleet mode's mirror (version 2): its fields round-trip; a version 1
 * record is unchanged; a mirror's fields without a fetch time are refused
 * both ways. */
static void
test_fleet_mirror_codec(void)
{
	unsigned char ct[40], *enc = NULL, *enc2 = NULL;
	struct state_user u, back;
	size_t len = 0, len2 = 0;

	memset(ct, 0x5a, sizeof(ct));
	memset(&u, 0, sizeof(u));
	u.secret_ct = ct;
	u.secret_ct_len = sizeof(ct);
	u.digits = 6;
	u.period = 30;
	u.last_step = 1234;
	u.failures = 2;
	u.locked_until = 99;
	CU_ASSERT_EQUAL_FATAL(state_user_encode(&u, &enc, &len), 0);
	CU_ASSERT_EQUAL(enc[2], 1);
	u.fleet_fetched_at = 1700000000;
	u.fleet_pending_step = 1233;
	u.fleet_offline_locked_until = 1700000900;
	CU_ASSERT_EQUAL_FATAL(state_user_encode(&u, &enc2, &len2), 0);
	CU_ASSERT_EQUAL(enc2[2], 2);
	CU_ASSERT_EQUAL(len2, len + 24);
	CU_ASSERT_EQUAL_FATAL(state_user_decode(enc2, len2, &back), 0);
	CU_ASSERT_EQUAL(back.fleet_fetched_at, 1700000000);
	CU_ASSERT_EQUAL(back.fleet_pending_step, 1233);
	CU_ASSERT_EQUAL(back.fleet_offline_locked_until, 1700000900);
	CU_ASSERT_EQUAL(back.last_step, 1234);
	CU_ASSERT_EQUAL(back.failures, 2);
	state_user_clear(&back);
	CU_ASSERT_EQUAL_FATAL(state_user_decode(enc, len, &back), 0);
	CU_ASSERT_EQUAL(back.fleet_fetched_at, 0);
	state_user_clear(&back);
	/* version 2 with no fetch time: not a record encode makes */
	memset(enc2 + len2 - 24, 0, 8);
	CU_ASSERT_EQUAL(state_user_decode(enc2, len2, &back), WARD_ERR_CORRUPT);
	/* version 1 bytes claiming version 2 (no tail) */
	enc[2] = 2;
	CU_ASSERT_EQUAL(state_user_decode(enc, len, &back), WARD_ERR_CORRUPT);
	u.fleet_fetched_at = 0;
	CU_ASSERT_EQUAL(state_user_encode(&u, &enc2, &len2), WARD_ERR_INVAL);
	free(enc);
	free(enc2);
}

static void
test_grace_cache_head(void)
{
	struct state *st;
	struct state_audit_head h, h2;
	int64_t until, at;
	char *blob;

	CU_ASSERT_EQUAL_FATAL(state_open(&st, sdir, 0), 0);
	CU_ASSERT_EQUAL(state_grace_get(st, "alice", "ws1", "ehr", &until), 0);
	CU_ASSERT_EQUAL(until, 0);
	CU_ASSERT_EQUAL(state_grace_put(st, "alice", "ws1", "ehr", 1234), 0);
	CU_ASSERT_EQUAL(state_grace_put(st, "alice", "ws2", "ehr", 99), 0);
	CU_ASSERT_EQUAL(state_grace_put(st, "alicex", "ws1", "ehr", 77), 0);
	CU_ASSERT_EQUAL(state_grace_get(st, "alice", "ws1", "ehr", &until), 0);
	CU_ASSERT_EQUAL(until, 1234);
	CU_ASSERT_EQUAL(state_grace_get(st, "alice", "ws1", "pacs", &until), 0);
	CU_ASSERT_EQUAL(until, 0);
	CU_ASSERT_EQUAL(state_grace_clear_user(st, "alice"), 0);
	CU_ASSERT_EQUAL(state_grace_get(st, "alice", "ws1", "ehr", &until), 0);
	CU_ASSERT_EQUAL(until, 0);
	CU_ASSERT_EQUAL(state_grace_get(st, "alice", "ws2", "ehr", &until), 0);
	CU_ASSERT_EQUAL(until, 0);
	CU_ASSERT_EQUAL(state_grace_get(st, "alicex", "ws1", "ehr", &until), 0);
	CU_ASSERT_EQUAL(until, 77);

	CU_ASSERT_EQUAL(state_dircache_get(st, "alice", &blob, &at), WARD_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(state_dircache_put(st, "alice", "cn=icu,ou=groups\ncn=x", 555), 0);
	CU_ASSERT_EQUAL(state_dircache_get(st, "alice", &blob, &at), 0);
	CU_ASSERT_STRING_EQUAL(blob, "cn=icu,ou=groups\ncn=x");
	CU_ASSERT_EQUAL(at, 555);
	free(blob);

	CU_ASSERT_EQUAL(state_audit_head_get(st, &h), WARD_ERR_NOTFOUND);
	h.seq = 42;
	memset(h.mac, 'a', 64);
	h.mac[64] = '\0';
	CU_ASSERT_EQUAL(state_audit_head_put(st, &h), 0);
	CU_ASSERT_EQUAL(state_audit_head_get(st, &h2), 0);
	CU_ASSERT_EQUAL(h2.seq, 42);
	CU_ASSERT_STRING_EQUAL(h2.mac, h.mac);
	state_close(st);
}

static void
test_unsafe_folders(void)
{
	struct state *st;
	char p[600];

	snprintf(p, sizeof(p), "%s/open", dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(p, 0755), 0);
	CU_ASSERT_EQUAL(state_open(&st, p, 0), WARD_ERR_UNSAFE);
	CU_ASSERT_EQUAL(chmod(p, 0700), 0);
	CU_ASSERT_EQUAL(chown(p, 65534, 65534), 0);
	CU_ASSERT_EQUAL(state_open(&st, p, 0), WARD_ERR_UNSAFE);
	snprintf(p, sizeof(p), "%s/link", dir);
	CU_ASSERT_EQUAL(symlink(sdir, p), 0);
	CU_ASSERT_EQUAL(state_open(&st, p, 0), WARD_ERR_UNSAFE);
	snprintf(p, sizeof(p), "%s/missing", dir);
	CU_ASSERT_NOT_EQUAL(state_open(&st, p, 0), 0);
	CU_ASSERT_PTR_NULL(st);
}

/* 16 processes race one right answer: exactly one wins. */
static void
test_race(void)
{
	struct state *st;
	struct state_user u;
	pid_t pids[16];
	int wins = 0, replays = 0;

	CU_ASSERT_EQUAL_FATAL(state_open(&st, sdir, 0), 0);
	fill_user(&u, 3);
	CU_ASSERT_EQUAL_FATAL(state_user_put(st, "racer", &u), 0);
	state_close(st);
	for (int i = 0; i < 16; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct state *s2;
			int verdict = 0, locked, r;

			if (state_open(&s2, sdir, 0) != 0)
				_exit(3);
			r = state_user_attempt(s2, "racer", 1800000000, 100, 900, check_fn,
			    &verdict, &locked);
			state_close(s2);
			_exit(r == 0 ? 0 : r == WARD_ERR_REPLAY ? 1 : 2);
		}
	}
	for (int i = 0; i < 16; i++) {
		int status;
		if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status)) {
			wins += WEXITSTATUS(status) == 0;
			replays += WEXITSTATUS(status) == 1;
		}
	}
	CU_ASSERT_EQUAL(wins, 1);
	CU_ASSERT_EQUAL(replays, 15);
}

/* ---- a full store ---- */

static char logged[8192];

static void
capture(void *ctx, int prio, const char *msg)
{
	(void)ctx;
	(void)prio;
	snprintf(logged, sizeof(logged), "%s", msg);
}

/*
 * A 2 MiB map filled with directory answers (blobs of 1 MiB down to 1
 * byte, until not one more fits: not even a delete fits then): writes fail with WARD_ERR_FULL and the
 * log names "full" and the sizes; prune removes one user's entry, then the
 * old ones, then all (entries counted), never the enrolment; afterwards an
 * enrolment fits again.
 */
static void
test_full_store(void)
{
	struct state *st;
	struct state_user u, got;
	char path[600], user[32], *blob, *b = NULL;
	size_t filled = 0, n = 0, sizes[] = { 1048576, 524288, 65536, 4096, 256, 16, 1 };
	uint64_t bytes = 0, used, size;
	int64_t at;
	int r = 0;

	snprintf(path, sizeof(path), "%s/full", dir);
	CU_ASSERT_EQUAL_FATAL(state_open_map(&st, path, 1, 2 << 20), 0);
	fill_user(&u, 0x11);
	CU_ASSERT_EQUAL(state_user_put(st, "alice", &u), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(blob = malloc(1048577));
	ward_log_set_sink(capture, NULL);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		memset(blob, 'g', sizes[k]);
		blob[sizes[k]] = '\0';
		/* even entries were fetched long ago, odd ones now */
		do {
			snprintf(user, sizeof(user), "c%05zu", filled);
			r = state_dircache_put(st, user, blob, filled % 2 ? 2000000000 : 1000);
		} while (r == 0 && ++filled < 100000);
		CU_ASSERT_EQUAL(r, WARD_ERR_FULL);
	}
	CU_ASSERT(filled > 20);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "the state store is full (2 of 2 MiB used) in "));
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, path));
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "wardctl directory prune-cache"));
	/* an enrolment is refused the same way, nothing changed */
	logged[0] = '\0';
	CU_ASSERT_EQUAL(state_user_put(st, "bob", &u), WARD_ERR_FULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "the state store is full ("));
	CU_ASSERT_EQUAL(state_user_get(st, "bob", &got), WARD_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(state_usage(st, &used, &size), 0);
	CU_ASSERT_EQUAL(size, 2 << 20);
	CU_ASSERT(used > size - size / 8);
	ward_log_set_sink(NULL, NULL);

	/* one user's entry */
	CU_ASSERT_EQUAL(state_dircache_prune(st, "c00001", INT64_MAX, &n, &bytes), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(bytes, 8 + 8 + 524288);
	CU_ASSERT_EQUAL(state_dircache_get(st, "c00001", &b, &at), WARD_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(state_dircache_prune(st, "c00001", INT64_MAX, &n, &bytes), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(state_dircache_prune(st, "bad/name", INT64_MAX, &n, &bytes),
	    WARD_ERR_INVAL);
	/* the old ones (even numbers), then the rest */
	CU_ASSERT_EQUAL(state_dircache_prune(st, NULL, 1500000000, &n, &bytes), 0);
	CU_ASSERT_EQUAL(n, (filled + 1) / 2);
	CU_ASSERT_EQUAL(state_dircache_get(st, "c00000", &b, &at), WARD_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(state_dircache_get(st, "c00003", &b, &at), 0);
	free(b);
	b = NULL;
	CU_ASSERT_EQUAL(state_dircache_prune(st, NULL, INT64_MAX, &n, &bytes), 0);
	CU_ASSERT_EQUAL(n, filled / 2 - 1);
	CU_ASSERT_EQUAL(state_dircache_get(st, "c00003", &b, &at), WARD_ERR_NOTFOUND);
	/* the enrolment stayed; a new one fits again */
	CU_ASSERT_EQUAL(state_user_get(st, "alice", &got), 0);
	state_user_clear(&got);
	CU_ASSERT_EQUAL(state_user_put(st, "bob", &u), 0);
	CU_ASSERT_EQUAL(state_usage(st, &used, &size), 0);
	CU_ASSERT(used < size / 4);
	free(blob);
	state_close(st);
}

int
main(void)
{
	unsigned fails;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("state", setup, teardown);
	CU_add_test(s, "put, get, list, delete", test_put_get_list_delete);
	CU_add_test(s, "attempt: failures, lockout, replay, unlock", test_attempt_lockout);
	CU_add_test(s, "an attempt held for its audit record", test_held_attempt);
	CU_add_test(s, "the commit after the answer", test_commit_after_answer);
	CU_add_test(s, "the commit after the answer, kept pending", test_kept_pending);
	CU_add_test(s, "corrupt records fail closed", test_corrupt_records);
	CU_add_test(s, "fleet mirror record (version 2)", test_fleet_mirror_codec);
	CU_add_test(s, "grace, directory cache, audit head", test_grace_cache_head);
	CU_add_test(s, "unsafe folders refused", test_unsafe_folders);
	CU_add_test(s, "16 processes race one answer", test_race);
	CU_add_test(s, "a full store: named, sized, pruned", test_full_store);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
