/*
 * audit_fleet.c - the audit trail across a fleet: each workstation's chain
 * key derived from the fleet audit key and its host name
 * (audit_host_key), and a collector's folder verified host by host
 * (audit_verify_fleet).  wardctl(8), AUDIT ACROSS A FLEET.
 *
 * Rules it keeps:
 *  - host key = HMAC-SHA-256(fleet key, "ward-audit-host-v1" || 0x00 ||
 *    host), the host exactly as the records carry it (the short host
 *    name); so a workstation holds only its own key, and one rooted
 *    workstation can make records verify only as its own;
 *  - the fleet key is read through the trusted opener (TFILE_SECRET, 32
 *    bytes) and wiped, with every derived key, as soon as the HMACs are
 *    set up;
 *  - DIR/HOST/audit.log and its rotated files are HOST's chain: every
 *    record must MAC under HOST's key, chain, and name HOST; a record that
 *    MACs under another host's key is named as that host's (moved, or
 *    forged with that host's key);
 *  - folders are read in name order and each host's files are mapped and
 *    streamed once (audit_verify_keyed); nothing is written;
 *  - hosts are verified by up to VERIFY_THREADS threads at once (one per
 *    online CPU), each host by one thread with its own HMAC and key, and
 *    handed to the caller in name order as each is done: the answer is the
 *    same as one thread's, only sooner.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "audit_int.h"
#include "secret.h"

int
audit_host_valid(const char *host)
{
	size_t n = host != NULL ? strlen(host) : 0;

	if (n == 0 || n > AUDIT_HOST_MAX || host[0] == '-')
		return WARD_ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		char c = host[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			return WARD_ERR_INVAL;
	}
	return 0;
}

int
audit_host_key(const unsigned char fleet[AUDIT_KEY_LEN], const char *host,
    unsigned char out[AUDIT_KEY_LEN])
{
	static const char label[] = AUDIT_HOST_KEY_LABEL;   /* its NUL is the 0x00 */
	unsigned char msg[sizeof(label) + AUDIT_HOST_MAX];
	size_t hl, len = 0;
	int r = WARD_ERR_CRYPTO;

	if (audit_host_valid(host) != 0)
		return WARD_ERR_INVAL;
	hl = strlen(host);
	memcpy(msg, label, sizeof(label));
	memcpy(msg + sizeof(label), host, hl);
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, fleet, AUDIT_KEY_LEN, msg,
	    sizeof(label) + hl, out, AUDIT_KEY_LEN, &len) != NULL && len == AUDIT_KEY_LEN)
		r = 0;
	else
		ward_wipe(out, AUDIT_KEY_LEN);
	return r;
}

int
audit_host_key_file(const char *fleet_key_file, char host[AUDIT_HOST_MAX + 1],
    unsigned char out[AUDIT_KEY_LEN], char *err, size_t errlen)
{
	struct secret_key fleet;
	char name[256];
	int r;

	memset(&fleet, 0, sizeof(fleet));
	audit_short_host(name, sizeof(name));
	if (audit_host_valid(name) != 0) {
		snprintf(err, errlen, "this host's name \"%.64s\" is not one a fleet key can be "
		    "derived for (letters, digits, '-' and '_', at most %d)", name, AUDIT_HOST_MAX);
		return WARD_ERR_INVAL;
	}
	memcpy(host, name, strlen(name) + 1);     /* valid: at most AUDIT_HOST_MAX */
	if ((r = secret_key_load(&fleet, fleet_key_file, err, errlen)) != 0)
		return r;
	if ((r = audit_host_key(fleet.k, host, out)) != 0)
		snprintf(err, errlen, "HMAC-SHA-256 unavailable");
	secret_key_wipe(&fleet);
	return r;
}

/* ---- verify --fleet ---- */

struct fleet {
	const char *dir;
	unsigned char key[AUDIT_KEY_LEN];    /* the fleet key (wiped at the end) */
	char (*hosts)[NAME_MAX + 1];         /* the folders that are host names, sorted
	                                      * (fixed-size names: one allocation) */
	size_t nhosts;
	struct audit_fleet_host *res;        /* one per host, filled by the workers */
	unsigned char *done;                 /* res[i] is complete */
	size_t next;                         /* the next host a worker takes */
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

/* The host being verified, for foreign(). */
struct fhost {
	struct fleet *fl;
	const char *cur;
};

#define VERIFY_THREADS 8

/* Does HOST's key make LINE's MAC hold? */
static int
macs_under(struct fleet *fl, const char *host, const char *line,
    const struct audit_record *r)
{
	unsigned char k[AUDIT_KEY_LEN];
	struct hmac h = { NULL, NULL };
	char want[AUDIT_MAC_HEX + 1];
	int ok = 0;

	if (audit_host_key(fl->key, host, k) != 0)
		return 0;
	if (audit_hmac_init(&h, k, sizeof(k)) == 0 &&
	    audit_hmac_hex(&h, line, r->mac_offset, want) == 0)
		ok = ward_ct_equal(want, r->mac, AUDIT_MAC_HEX);
	ward_wipe(k, sizeof(k));
	audit_hmac_free(&h);
	return ok;
}

/* audit_vhost.foreign: whose key made this record? */
static int
foreign(void *ctx, const char *line, size_t len, const struct audit_record *r, char *what,
    size_t whatlen)
{
	struct fhost *fh = ctx;
	struct fleet *fl = fh->fl;
	char claimed[AUDIT_HOST_MAX + 1];

	(void)len;
	claimed[0] = '\0';
	if (r->host_len <= AUDIT_HOST_MAX) {
		memcpy(claimed, line + r->host_at, r->host_len);
		claimed[r->host_len] = '\0';
	}
	/* the host it names first: a record moved from that host's log */
	if (strcmp(claimed, fh->cur) != 0 && audit_host_valid(claimed) == 0 &&
	    macs_under(fl, claimed, line, r)) {
		snprintf(what, whatlen, "a record of host %s (its seq %llu, under its key) "
		    "placed in the log of %s", claimed, (unsigned long long)r->seq, fh->cur);
		return 1;
	}
	for (size_t i = 0; i < fl->nhosts; i++) {
		const char *o = fl->hosts[i];

		if (strcmp(o, fh->cur) == 0 || strcmp(o, claimed) == 0 ||
		    !macs_under(fl, o, line, r))
			continue;
		if (strcmp(claimed, fh->cur) == 0)
			snprintf(what, whatlen, "forged with the key of host %s: the record says "
			    "host %s, but only %s's key makes its MAC hold", o, fh->cur, o);
		else
			snprintf(what, whatlen, "made with the key of host %s (the record says "
			    "host \"%.64s\") and placed in the log of %s", o, claimed, fh->cur);
		return 1;
	}
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* The sub-folders of DIR (names not starting with '.'), sorted. */
static int
list_hosts(struct fleet *fl, char *err, size_t errlen)
{
	DIR *d = opendir(fl->dir);
	struct dirent *de;
	size_t cap = 0;
	int r = WARD_ERR_NOMEM;

	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", fl->dir, strerror(errno));
		return WARD_ERR_IO;
	}
	for (;;) {
		struct stat sb;

		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (de->d_name[0] == '.' ||
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISDIR(sb.st_mode))
			continue;
		if (fl->nhosts == cap) {
			char (*t)[NAME_MAX + 1] = reallocarray(fl->hosts, cap ? 2 * cap : 64,
			    sizeof(*t));
			if (t == NULL)
				goto out;
			fl->hosts = t;
			cap = cap ? 2 * cap : 64;
		}
		snprintf(fl->hosts[fl->nhosts++], sizeof(*fl->hosts), "%s", de->d_name);
	}
	if (errno != 0) {
		snprintf(err, errlen, "%s: %s", fl->dir, strerror(errno));
		r = WARD_ERR_IO;
		goto out;
	}
	if (fl->nhosts > 1)
		qsort(fl->hosts, fl->nhosts, sizeof(*fl->hosts), name_cmp);
	r = 0;
out:
	if (r == WARD_ERR_NOMEM)
		snprintf(err, errlen, "out of memory");
	closedir(d);
	return r;
}

/* One host: H filled (H->rc the verification's answer). */
static void
verify_host(struct fleet *fl, struct audit_fleet_host *h)
{
	struct fhost fh = { fl, h->host };
	struct audit_vhost vh = { h->host, foreign, &fh };
	struct audit_fileset set;
	struct hmac mac = { NULL, NULL };
	unsigned char k[AUDIT_KEY_LEN];
	char path[4096];

	memset(&set, 0, sizeof(set));
	if (audit_host_valid(h->host) != 0) {
		h->rc = WARD_ERR_INVAL;
		snprintf(h->res.message, sizeof(h->res.message), "%s/%s: not a host name "
		    "(letters, digits, '-' and '_', at most %d): not a collector's folder",
		    fl->dir, h->host, AUDIT_HOST_MAX);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s/audit.log", fl->dir, h->host);
	if ((h->rc = audit_files(path, &set, h->res.message, sizeof(h->res.message))) != 0)
		goto out;
	h->nfiles = set.n;
	h->skipped = set.skipped;
	if ((h->rc = audit_host_key(fl->key, h->host, k)) != 0 ||
	    (h->rc = audit_hmac_init(&mac, k, sizeof(k))) != 0) {
		snprintf(h->res.message, sizeof(h->res.message), "HMAC-SHA-256 unavailable");
		goto out;
	}
	ward_wipe(k, sizeof(k));
	h->rc = audit_verify_keyed(&mac, &set, &vh, &h->res);
out:
	ward_wipe(k, sizeof(k));
	audit_hmac_free(&mac);
	audit_fileset_free(&set);
}

/* A worker: verify the next host nobody took, until none is left. */
static void *
worker(void *arg)
{
	struct fleet *fl = arg;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&fl->mu);
		i = fl->next < fl->nhosts ? fl->next++ : SIZE_MAX;
		pthread_mutex_unlock(&fl->mu);
		if (i == SIZE_MAX)
			return NULL;
		verify_host(fl, &fl->res[i]);
		pthread_mutex_lock(&fl->mu);
		fl->done[i] = 1;
		pthread_cond_broadcast(&fl->cv);
		pthread_mutex_unlock(&fl->mu);
	}
}

int
audit_verify_fleet(const char *dir, const char *fleet_key_file, audit_fleet_fn fn,
    void *ctx, char *err, size_t errlen)
{
	struct fleet fl;
	struct secret_key key;
	pthread_t tid[VERIFY_THREADS];
	size_t nthreads = 0, want;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int r, any_bad = 0, any_err = 0, sync_made = 0;

	memset(&fl, 0, sizeof(fl));
	memset(&key, 0, sizeof(key));
	fl.dir = dir;
	if ((r = secret_key_load(&key, fleet_key_file, err, errlen)) != 0)
		goto out;
	memcpy(fl.key, key.k, sizeof(fl.key));
	secret_key_wipe(&key);
	if ((r = list_hosts(&fl, err, errlen)) != 0)
		goto out;
	if ((fl.res = calloc(fl.nhosts ? fl.nhosts : 1, sizeof(*fl.res))) == NULL ||
	    (fl.done = calloc(fl.nhosts ? fl.nhosts : 1, 1)) == NULL ||
	    pthread_mutex_init(&fl.mu, NULL) != 0) {
		snprintf(err, errlen, "out of memory");
		r = WARD_ERR_NOMEM;
		goto out;
	}
	if (pthread_cond_init(&fl.cv, NULL) != 0) {
		pthread_mutex_destroy(&fl.mu);
		snprintf(err, errlen, "out of memory");
		r = WARD_ERR_NOMEM;
		goto out;
	}
	sync_made = 1;
	for (size_t i = 0; i < fl.nhosts; i++)
		snprintf(fl.res[i].host, sizeof(fl.res[i].host), "%s", fl.hosts[i]);
	want = cpus > 1 ? (size_t)cpus : 1;
	if (want > VERIFY_THREADS)
		want = VERIFY_THREADS;
	if (want > fl.nhosts)
		want = fl.nhosts;
	/* a thread that cannot start leaves its share to the others (and to
	 * this one, below) */
	while (nthreads < want && pthread_create(&tid[nthreads], NULL, worker, &fl) == 0)
		nthreads++;
	r = 0;
	for (size_t i = 0; i < fl.nhosts; i++) {
		struct audit_fleet_host *h = &fl.res[i];
		int done;

		pthread_mutex_lock(&fl.mu);
		while (!fl.done[i] && nthreads > 0)
			pthread_cond_wait(&fl.cv, &fl.mu);
		done = fl.done[i];
		pthread_mutex_unlock(&fl.mu);
		if (!done)              /* no worker could start: this thread does it */
			verify_host(&fl, h);
		if (h->rc == WARD_ERR_CORRUPT)
			any_bad = 1;
		else if (h->rc != 0)
			any_err = 1;
		if (r == 0 && (r = fn(ctx, h)) != 0) {
			/* the workers stop taking hosts */
			pthread_mutex_lock(&fl.mu);
			fl.next = fl.nhosts;
			pthread_mutex_unlock(&fl.mu);
			break;
		}
	}
	for (size_t t = 0; t < nthreads; t++)
		pthread_join(tid[t], NULL);
	if (r != 0)
		goto out;
	/* a tampered host is a definite answer, even when another is unreadable */
	r = any_bad ? WARD_ERR_CORRUPT : any_err ? WARD_ERR_IO : 0;
	if (any_err)
		snprintf(err, errlen, "some hosts could not be read");
out:
	if (sync_made) {
		pthread_cond_destroy(&fl.cv);
		pthread_mutex_destroy(&fl.mu);
	}
	ward_wipe(fl.key, sizeof(fl.key));
	free(fl.hosts);
	free(fl.res);
	free(fl.done);
	return r;
}
