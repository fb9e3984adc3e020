/*
 * peer.c - who is asking wardd, what they may ask and how often.
 *
 * Rules it keeps (wardd(8) "PEERS"):
 *  - the peer is who the kernel says (SO_PEERCRED at accept), never what
 *    a request claims;
 *  - uid 0 may ask about any user; any other uid only about the user name
 *    its own uid has, compared byte for byte (as unix_chkpwd answers only
 *    for its caller);
 *  - a non-root uid holds at most WARDD_CONN_PER_UID connections and
 *    spends one token per request from a bucket of WARDD_RATE_BURST that
 *    refills at WARDD_RATE_PER_SEC; root is never limited here;
 *  - what a non-root uid makes wardd log (bad frames, refusals) is bounded
 *    the same way (WARDD_LOG_BURST lines, then WARDD_LOG_PER_SEC), and
 *    the next line written says how many were left out;
 *  - uids without a passwd entry share one set of these counts (peer_key).
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "wardd.h"

/* Per-uid counters.  More distinct uids than slots can only happen with
 * slots whose uid holds no connection: the one refilled longest ago is
 * reused (a forgotten bucket starts full again, which costs at most one
 * burst). */
#define UID_SLOTS 512
#define MILLI 1000

struct bucket {
	long long tokens;            /* thousandths of one */
	struct timespec refilled;
};

struct uid_slot {
	int used;
	uid_t uid;
	unsigned nconns;
	struct bucket req;           /* requests */
	struct bucket log;           /* log lines about the uid */
	unsigned left_out;           /* log lines not written since the last one */
};

static struct uid_slot slots[UID_SLOTS];

int
peer_creds(int fd, struct peer *p)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0 || len != sizeof(uc))
		return WARD_ERR_IO;
	p->uid = uc.uid;
	p->gid = uc.gid;
	p->pid = uc.pid;
	return 0;
}

static long long
ms_between(const struct timespec *a, const struct timespec *b)
{
	return ((long long)b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

static struct uid_slot *
slot_of(uid_t uid)
{
	struct uid_slot *free_slot = NULL, *oldest = NULL;

	for (size_t i = 0; i < UID_SLOTS; i++) {
		struct uid_slot *s = &slots[i];

		if (s->used && s->uid == uid)
			return s;
		if (!s->used && free_slot == NULL)
			free_slot = s;
		if (s->used && s->nconns == 0 && (oldest == NULL ||
		    ms_between(&s->req.refilled, &oldest->req.refilled) > 0))
			oldest = s;
	}
	if (free_slot == NULL)
		free_slot = oldest;
	if (free_slot == NULL)
		return NULL;      /* cannot happen: UID_SLOTS > WARDD_CONN_MAX */
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = 1;
	free_slot->uid = uid;
	free_slot->req.tokens = (long long)WARDD_RATE_BURST * MILLI;
	free_slot->log.tokens = (long long)WARDD_LOG_BURST * MILLI;
	clock_gettime(CLOCK_MONOTONIC, &free_slot->req.refilled);
	free_slot->log.refilled = free_slot->req.refilled;
	return free_slot;
}

int
peer_admit(uid_t uid)
{
	struct uid_slot *s;

	if (uid == 0)
		return 1;
	s = slot_of(uid);
	return s != NULL && s->nconns < WARDD_CONN_PER_UID;
}

void
peer_count(uid_t uid, int delta)
{
	struct uid_slot *s;

	if (uid == 0 || (s = slot_of(uid)) == NULL)
		return;
	if (delta > 0)
		s->nconns++;
	else if (s->nconns > 0)
		s->nconns--;
}

/* Take one token from B, which refills at RATE a second up to BURST:
 * 1 taken, 0 empty. */
static int
bucket_take(struct bucket *b, long long rate, long long burst)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = ms_between(&b->refilled, &now);
	if (ms > 0) {
		/* RATE per 1000 ms, in thousandths: RATE per ms */
		b->tokens += ms * rate;
		if (b->tokens > burst * MILLI)
			b->tokens = burst * MILLI;
		b->refilled = now;
	}
	if (b->tokens < MILLI)
		return 0;
	b->tokens -= MILLI;
	return 1;
}

int
peer_take_token(uid_t uid)
{
	struct uid_slot *s;

	if (uid == 0)
		return 1;
	if ((s = slot_of(uid)) == NULL)
		return 0;
	return bucket_take(&s->req, WARDD_RATE_PER_SEC, WARDD_RATE_BURST);
}

int
peer_may_log(uid_t uid)
{
	struct uid_slot *s;

	if (uid == 0)
		return 1;
	if ((s = slot_of(uid)) == NULL)
		return 0;
	if (!bucket_take(&s->log, WARDD_LOG_PER_SEC, WARDD_LOG_BURST)) {
		s->left_out++;
		return 0;
	}
	if (s->left_out > 0 && uid == WARDD_UID_POOL)
		ward_log(LOG_NOTICE, "uids without a passwd entry: %u lines about them left out "
		    "of the log (over %d a second)", s->left_out, WARDD_LOG_PER_SEC);
	else if (s->left_out > 0)
		ward_log(LOG_NOTICE, "uid %lu: %u lines about it left out of the log "
		    "(over %d a second)", (unsigned long)uid, s->left_out, WARDD_LOG_PER_SEC);
	s->left_out = 0;
	return 1;
}

/* The passwd entry of UID into *PW, its strings in *BUF (free it, found
 * or not).  0, or WARD_ERR_NOTFOUND (none, or the lookup failed). */
static int
lookup(uid_t uid, struct passwd *pw, char **buf)
{
	struct passwd *res = NULL;
	long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
	int e = ERANGE;

	*buf = NULL;
	if (sz < 1024 || sz > 1 << 20)
		sz = 16384;
	/* the size sysconf gives is a hint (1,024 with glibc): an entry
	 * longer than that (a long GECOS, a directory user) is ERANGE, and
	 * asked again with twice the room, up to 1 MiB */
	for (;;) {
		char *nb = realloc(*buf, (size_t)sz);

		if (nb == NULL)
			break;
		*buf = nb;
		e = getpwuid_r(uid, pw, *buf, (size_t)sz, &res);
		if (e != ERANGE || sz >= 1 << 20)
			break;
		sz *= 2;
	}
	return *buf != NULL && e == 0 && res != NULL && res->pw_name != NULL ? 0 :
	    WARD_ERR_NOTFOUND;
}

uid_t
peer_key(uid_t uid)
{
	struct passwd pw;
	char *buf;
	int r;

	if (uid == 0)
		return 0;
	r = lookup(uid, &pw, &buf);
	free(buf);
	return r == 0 ? uid : WARDD_UID_POOL;
}

int
peer_may_ask(const struct peer *p, const char *user)
{
	struct passwd pw;
	char *buf;
	int r = WARD_ERR_PERM;

	if (p->uid == 0)
		return 0;
	if (lookup(p->uid, &pw, &buf) == 0 && strcmp(pw.pw_name, user) == 0)
		r = 0;           /* any failure: refused */
	free(buf);
	return r;
}
