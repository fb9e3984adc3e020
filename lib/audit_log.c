/*
 * audit_log.c - writing the audit trail: opening the log safely
 * (audit_log_open, log_open) and the crash-safe append (audit_write), with
 * the chain head kept in the state store; rotation needs nothing special
 * (step 2).  Also audit_check (could a record be written now) and the
 * one-shot audit_append.  Rules in audit.h.
 *
 * The call path of one append goes from here into the state store and back
 * here through two callbacks, because the store's write lock is what
 * serialises appends and the head must be committed in the transaction
 * that holds it:
 *
 *   audit_write (here): checks EV has event and result, then calls
 *     state_audit_append (state_audit.c): takes the store's write lock,
 *     begins a write transaction and reads the head "a:head" (seq 0 and 64
 *     '0's when there is none), then calls back
 *       append_locked (here): steps 1 to 3 below, then updates the head in
 *       place; 0, or WARD_ERR_AUDIT with the reason (the transaction is
 *       aborted and nothing changes);
 *     on 0, state_audit.c puts the new head and commits it (step 4).  When
 *     the head cannot be stored (encoded, put or committed) it calls back,
 *     still under the lock,
 *       append_undo (here): cuts the log back to its size before the record
 *       (same dev and ino only; fdatasync'd when configured), so the log
 *       keeps no record whose head was not stored (if that cut fails too,
 *       the next append adopts the record, step 2);
 *     then state_audit.c releases the lock and returns;
 *   audit_write again: any error becomes WARD_ERR_AUDIT (the caller must
 *   deny); on success the syslog copy goes out, after the commit.
 *
 * The callbacks never touch the store (its lock is held and not
 * recursive), and audit_write is never called from inside a state callback.
 *
 * Protocol, for each record (all under the state store's write lock):
 *   1. open the folder (O_DIRECTORY|O_NOFOLLOW; root's, not group/world
 *      writable) and the log in it (O_RDWR|O_APPEND|O_CREAT|O_NOFOLLOW);
 *      fstat: regular, root's, one link; mode set as configured.  Both
 *      stay open for the next record, which uses them only after the
 *      same checks on them again (fstat of each) and an lstat of the path
 *      that finds the same file there; anything else (rotated, removed,
 *      replaced, a mode or owner changed) closes them and opens afresh
 *      (log_ready);
 *   2. compare the file with the head: same file and size -> normal; the
 *      same file longer -> records written but never committed (a crash):
 *      adopt those that verify and chain, leave anything else for verify to
 *      name; shorter -> records were cut: alert, go on (verify names it);
 *      another file (rotation) -> the chain goes on from the head's mac;
 *   3. format the record (seq = head + 1, prev = head mac, mac over the
 *      bytes before ,"mac":), write it in one write(2); on a short write
 *      cut the file back to its old size; fdatasync when configured;
 *   4. the new head (seq, mac, dev, ino, size) is committed with the lock.
 * Syslog gets its copy after the commit, never a secret.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include "audit_int.h"
#include "secret.h"
#include "tfile.h"

#define ADOPT_MAX ((size_t)1 << 20)    /* uncommitted tail looked at, at most */

struct audit_log {
	char *path, *dir, *base;
	int fsync, syslog, group_adm;
	gid_t adm_gid;
	struct state *st;
	int own_st;
	struct hmac mac;
	char host[256];
	char *buf;           /* AUDIT_LINE_MAX + 2: one record, maybe a leading newline */
	int dfd, fd;         /* the folder and the log, kept between records; -1: none */
};

static void
log_drop(struct audit_log *l)
{
	if (l->fd >= 0)
		close(l->fd);
	if (l->dfd >= 0)
		close(l->dfd);
	l->fd = l->dfd = -1;
}

void
audit_log_close(struct audit_log *l)
{
	if (l == NULL)
		return;
	log_drop(l);
	audit_hmac_free(&l->mac);
	if (l->own_st)
		state_close(l->st);
	free(l->path);
	free(l->dir);
	free(l->base);
	free(l->buf);
	free(l);
}

int
audit_log_open(struct audit_log **lp, const struct ward_conf *conf, struct state *st,
    char *err, size_t errlen)
{
	struct audit_log *l;
	struct secret_key key;
	const char *slash;
	char kerr[512];
	int r = WARD_ERR_NOMEM;

	*lp = NULL;
	memset(&key, 0, sizeof(key));
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	l->dfd = l->fd = -1;
	slash = strrchr(conf->audit.path, '/');
	if (slash == NULL || slash[1] == '\0') {
		snprintf(err, errlen, "audit.path %s: must be an absolute file path",
		    conf->audit.path);
		r = WARD_ERR_INVAL;
		goto out;
	}
	if ((l->path = strdup(conf->audit.path)) == NULL ||
	    (l->dir = strndup(conf->audit.path, slash == conf->audit.path ? 1 :
	    (size_t)(slash - conf->audit.path))) == NULL ||
	    (l->base = strdup(slash + 1)) == NULL ||
	    (l->buf = malloc(AUDIT_LINE_MAX + 2)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	l->fsync = conf->audit.fsync;
	l->syslog = conf->audit.syslog;
	l->group_adm = conf->audit.group_adm;
	if (l->group_adm) {
		struct group g, *gp = NULL;
		char gbuf[4096];
		if (getgrnam_r("adm", &g, gbuf, sizeof(gbuf), &gp) != 0 || gp == NULL) {
			snprintf(err, errlen, "audit.group_adm: there is no group adm");
			r = WARD_ERR_AUDIT;
			goto out;
		}
		l->adm_gid = gp->gr_gid;
	}
	audit_short_host(l->host, sizeof(l->host));
	if (secret_key_load(&key, conf->audit.key_file, kerr, sizeof(kerr)) != 0) {
		snprintf(err, errlen, "audit key: %s", kerr);
		r = WARD_ERR_AUDIT;
		goto out;
	}
	if (audit_hmac_init(&l->mac, key.k, sizeof(key.k)) != 0) {
		snprintf(err, errlen, "audit key: HMAC-SHA-256 unavailable");
		r = WARD_ERR_CRYPTO;
		goto out;
	}
	if (st != NULL) {
		l->st = st;
	} else {
		if ((r = state_open(&l->st, conf->state_dir, 0)) != 0) {
			snprintf(err, errlen, "state store %s: %s (the audit head lives there)",
			    conf->state_dir, ward_strerror(r));
			r = WARD_ERR_AUDIT;
			goto out;
		}
		l->own_st = 1;
	}
	*lp = l;
	l = NULL;
	r = 0;
out:
	secret_key_wipe(&key);
	audit_log_close(l);
	return r;
}

/* The file described by SB may take records: regular, root's, one link,
 * the mode (and group) configured.  0, or WARD_ERR_AUDIT with ERR. */
static int
file_ok(const struct audit_log *l, const struct stat *sb, char *err, size_t errlen)
{
	if (!S_ISREG(sb->st_mode) || sb->st_uid != 0 || sb->st_nlink != 1) {
		snprintf(err, errlen, "%s: not a regular root-owned file with one link "
		    "(uid %u, %lu links; refused)", l->path, (unsigned)sb->st_uid,
		    (unsigned long)sb->st_nlink);
		return WARD_ERR_AUDIT;
	}
	return 0;
}

/* Open the folder and the log in it by the rules in audit.h; both are kept
 * in L (l->dfd, l->fd), which must hold none. */
static int
log_open(struct audit_log *l, struct stat *sb, char *err, size_t errlen)
{
	mode_t want = l->group_adm ? 0640 : 0600;
	char terr[512];
	int dfd, fd = -1, r = WARD_ERR_AUDIT;

	dfd = open(l->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(err, errlen, "%s: cannot open the audit log folder: %s", l->dir,
		    strerror(errno));
		return r;
	}
	if (tfile_check_fd(dfd, l->dir, TFILE_DIR_OK, terr, sizeof(terr)) != 0) {
		snprintf(err, errlen, "audit log folder %s", terr);
		goto out;
	}
	fd = openat(dfd, l->base, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK, want);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open the audit log: %s", l->path,
		    errno == ELOOP ? "is a symbolic link (refused)" : strerror(errno));
		goto out;
	}
	if (fstat(fd, sb) != 0) {
		snprintf(err, errlen, "%s: cannot stat: %s", l->path, strerror(errno));
		goto out;
	}
	if (file_ok(l, sb, err, errlen) != 0)
		goto out;
	if ((sb->st_mode & 07777) != want && fchmod(fd, want) != 0) {
		snprintf(err, errlen, "%s: cannot set mode %04o: %s", l->path, (unsigned)want,
		    strerror(errno));
		goto out;
	}
	if (l->group_adm && sb->st_gid != l->adm_gid && fchown(fd, 0, l->adm_gid) != 0) {
		snprintf(err, errlen, "%s: cannot give it to group adm: %s", l->path,
		    strerror(errno));
		goto out;
	}
	if (l->fsync && sb->st_size == 0)
		(void)fsync(dfd);    /* a new file's name survives a power cut */
	l->dfd = dfd;
	l->fd = fd;
	return 0;
out:
	if (fd >= 0)
		close(fd);
	close(dfd);
	return r;
}

/*
 * The log, ready for a record: the one kept from the last record when it
 * still passes every check log_open made (the folder root's and not
 * group/world-writable, the file regular, root's, one link, with the mode
 * and group configured) and the path still names it (lstat: same device
 * and inode, so not rotated, removed or replaced); otherwise opened afresh.
 * Its fd in *FDP (owned by L), its fstat in SB.  0 or WARD_ERR_AUDIT.
 */
static int
log_ready(struct audit_log *l, int *fdp, struct stat *sb, char *err, size_t errlen)
{
	mode_t want = l->group_adm ? 0640 : 0600;
	struct stat ps;
	char terr[512];

	*fdp = -1;
	if (l->fd >= 0) {
		if (lstat(l->path, &ps) == 0 &&
		    tfile_check_fd(l->dfd, l->dir, TFILE_DIR_OK, terr, sizeof(terr)) == 0 &&
		    fstat(l->fd, sb) == 0 && sb->st_dev == ps.st_dev && sb->st_ino == ps.st_ino &&
		    file_ok(l, sb, terr, sizeof(terr)) == 0 && (sb->st_mode & 07777) == want &&
		    (!l->group_adm || sb->st_gid == l->adm_gid)) {
			*fdp = l->fd;
			return 0;
		}
		log_drop(l);
	}
	if (log_open(l, sb, err, errlen) != 0)
		return WARD_ERR_AUDIT;
	*fdp = l->fd;
	return 0;
}

/* Verify one complete line against the chain: 0 when it is the record
 * after (seq, prev) under the key; its mac in MAC. */
static int
chains(struct audit_log *l, const char *line, size_t len, uint64_t seq, const char *prev,
    char mac[AUDIT_MAC_HEX + 1])
{
	struct audit_record r;
	char err[128], want[AUDIT_MAC_HEX + 1];

	if (audit_parse(line, len, &r, 0, err, sizeof(err)) != 0)
		return -1;
	if (r.seq != seq + 1 || strcmp(r.prev, prev) != 0 ||
	    audit_hmac_hex(&l->mac, line, r.mac_offset, want) != 0 ||
	    !ward_ct_equal(want, r.mac, AUDIT_MAC_HEX))
		return -1;
	memcpy(mac, r.mac, AUDIT_MAC_HEX + 1);
	return 0;
}

/*
 * An adopted record that accepted a TOTP code: its user's watermark is
 * raised with the head (state_audit_raise_step), since the store's commit
 * of that acceptance may be what was lost.  0 or WARD_ERR_NOMEM.
 */
static int
adopt_effects(const char *line, size_t len, struct state_audit_head *h)
{
	struct audit_record r;
	char err[128];
	int res, ret = 0;

	if (audit_parse_line(line, len, &r, err, sizeof(err)) != 0)
		return 0;           /* chains() parsed it: only memory can fail */
	res = audit_result_from(r.result);
	if (audit_factor_from(r.factor) == AUDIT_FAC_TOTP && r.user != NULL &&
	    (res == AUDIT_RES_SUCCESS || res == AUDIT_RES_ALLOW || res == AUDIT_RES_GRANTED))
		ret = state_audit_raise_step(h, r.user, r.ts_ms / 1000);
	audit_record_free(&r);
	return ret;
}

/*
 * Step 2 of the protocol: bring HEAD up to the file's end when records were
 * written but not committed, with what they did to the store
 * (adopt_effects); say what is odd.  *NEED_NL: the file does not end with
 * a newline (a torn or foreign tail), so the record starts a line.  0, or
 * WARD_ERR_NOMEM (no record may be written: an effect would be lost).
 */
static int
reconcile(struct audit_log *l, int fd, const struct stat *sb,
    struct state_audit_head *h, int *need_nl, uint64_t *end)
{
	int same = h->ino != 0 && h->dev == (uint64_t)sb->st_dev &&
	    h->ino == (uint64_t)sb->st_ino;
	uint64_t size = (uint64_t)sb->st_size, off;
	size_t n, pos = 0, adopted = 0;
	char *buf = NULL, last;
	int r = 0;

	*need_nl = 0;
	*end = 0;
	if ((same && size == h->size) || size == 0)
		return 0;
	if (pread(fd, &last, 1, (off_t)(size - 1)) == 1 && last != '\n')
		*need_nl = 1;
	if (same && size < h->size) {
		ward_log(LOG_ALERT, "audit: %s is shorter than when Ward last wrote it "
		    "(%llu < %llu bytes): records were cut; wardctl audit verify names them",
		    l->path, (unsigned long long)size, (unsigned long long)h->size);
		return 0;
	}
	off = same ? h->size : 0;
	if (h->seq == 0)
		return 0;           /* a new chain: nothing to adopt */
	n = size - off > ADOPT_MAX ? ADOPT_MAX : (size_t)(size - off);
	if ((buf = malloc(n)) == NULL || pread(fd, buf, n, (off_t)off) != (ssize_t)n)
		goto out;
	while (pos < n) {
		char *nl = memchr(buf + pos, '\n', n - pos), mac[AUDIT_MAC_HEX + 1];

		if (nl == NULL ||
		    chains(l, buf + pos, (size_t)(nl - buf) - pos, h->seq, h->mac, mac) != 0)
			break;
		if ((r = adopt_effects(buf + pos, (size_t)(nl - buf) - pos, h)) != 0)
			goto out;
		h->seq++;
		memcpy(h->mac, mac, sizeof(mac));
		pos = (size_t)(nl - buf) + 1;
		adopted++;
	}
	if (adopted > 0)
		*end = off + pos;
	if (adopted > 0)
		ward_log(LOG_WARNING, "audit: %s: %zu record(s) up to seq %llu were written "
		    "but not committed (a crash?); the chain goes on from them", l->path,
		    adopted, (unsigned long long)h->seq);
	if (same && pos < size - off)
		ward_log(LOG_ALERT, "audit: %s: %llu bytes after seq %llu were not written by "
		    "Ward; left in place, wardctl audit verify names them", l->path,
		    (unsigned long long)(size - off - pos), (unsigned long long)h->seq);
out:
	free(buf);
	return r;
}

struct append_ctx {
	struct audit_log *l;
	const struct audit_event *ev;
	char *err;
	size_t errlen;
	size_t len;          /* the record's length (without a leading newline) */
	const char *line;
	off_t pre_size;      /* the log's size before this record */
	uint64_t dev, ino;   /* the log it went into */
	int undone;          /* the record was taken back out */
};

/* Steps 1 and 2 of the protocol for A's log: open (or check) it and adopt
 * what it holds beyond H; *END as reconcile sets it.  0, or the error with
 * A's message (the log then opens afresh next time). */
static int
ready_reconciled(struct append_ctx *a, int *fd, struct stat *sb,
    struct state_audit_head *h, int *need_nl, uint64_t *end)
{
	int r;

	if ((r = log_ready(a->l, fd, sb, a->err, a->errlen)) != 0)
		return r;
	if (reconcile(a->l, *fd, sb, h, need_nl, end) != 0) {
		snprintf(a->err, a->errlen, "%s: out of memory adopting uncommitted records",
		    a->l->path);
		log_drop(a->l);
		return WARD_ERR_NOMEM;
	}
	return 0;
}

static int
append_locked(void *vctx, struct state_audit_head *h)
{
	struct append_ctx *a = vctx;
	struct audit_log *l = a->l;
	const struct audit_event *ev = a->ev;
	struct stat sb;
	char mac[AUDIT_MAC_HEX + 1];
	size_t len, off = 0, total;
	uint64_t end;
	int fd, need_nl, r = WARD_ERR_AUDIT;

	if ((r = ready_reconciled(a, &fd, &sb, h, &need_nl, &end)) != 0)
		return r;
	r = WARD_ERR_AUDIT;
	len = audit_format_line(ev, h->seq + 1, h->mac, ev->host ? ev->host : l->host,
	    ev->ts_ms ? ev->ts_ms : audit_now_ms(), (long long)getpid(), &l->mac, l->buf + 1,
	    AUDIT_LINE_MAX);
	if (len == 0) {
		snprintf(a->err, a->errlen, "audit record could not be formed (event and "
		    "result are required)");
		goto out;
	}
	l->buf[0] = '\n';
	total = len + (size_t)need_nl;
	while (off < total) {
		ssize_t w = write(fd, l->buf + 1 - need_nl + off, total - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			int cut = ftruncate(fd, sb.st_size);
			snprintf(a->err, a->errlen, "%s: cannot write the audit record: %s (%s)",
			    l->path, strerror(e), cut == 0 ? "nothing of it stays in the file" :
			    "and could not cut the partial record back off");
			goto out;
		}
		off += (size_t)w;
	}
	if (l->fsync && fdatasync(fd) != 0) {
		int e = errno, cut = ftruncate(fd, sb.st_size);
		snprintf(a->err, a->errlen, "%s: cannot sync the audit record: %s%s", l->path,
		    strerror(e), cut == 0 ? "" : " (and could not cut it back off)");
		goto out;
	}
	/* mac of the new record: the 64 hex digits before "}\n" */
	memcpy(mac, l->buf + 1 + len - 2 - AUDIT_MAC_HEX - 1, AUDIT_MAC_HEX);
	mac[AUDIT_MAC_HEX] = '\0';
	h->seq++;
	memcpy(h->mac, mac, sizeof(mac));
	h->dev = (uint64_t)sb.st_dev;
	h->ino = (uint64_t)sb.st_ino;
	h->size = (uint64_t)sb.st_size + total;
	a->line = l->buf + 1;
	a->len = len;
	a->pre_size = sb.st_size;
	a->dev = (uint64_t)sb.st_dev;
	a->ino = (uint64_t)sb.st_ino;
	r = 0;
out:
	/* after a failure the next record opens the log afresh */
	if (r != 0)
		log_drop(l);
	return r;
}

/* The head could not be stored: take the record back out (still under the
 * store's lock, so nothing was appended after it). */
static void
append_undo(void *vctx)
{
	struct append_ctx *a = vctx;
	struct stat sb;
	int fd = open(a->l->path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd >= 0 && fstat(fd, &sb) == 0 && (uint64_t)sb.st_dev == a->dev &&
	    (uint64_t)sb.st_ino == a->ino && ftruncate(fd, a->pre_size) == 0 &&
	    (!a->l->fsync || fdatasync(fd) == 0))
		a->undone = 1;
	if (fd >= 0)
		close(fd);
}

static int
syslog_prio(const struct audit_event *ev)
{
	int e = audit_event_from(ev->event), r = audit_result_from(ev->result);

	if (e == AUDIT_EV_BREAKGLASS)
		return LOG_ALERT;
	if (e == AUDIT_EV_LOCKOUT)
		return LOG_WARNING;
	if (r == AUDIT_RES_FAILURE || r == AUDIT_RES_DENY || r == AUDIT_RES_REFUSED)
		return LOG_NOTICE;
	return LOG_INFO;
}

int
audit_write(struct audit_log *l, const struct audit_event *ev, char *err, size_t errlen)
{
	struct append_ctx a = { l, ev, err, errlen, 0, NULL, 0, 0, 0, 0 };
	int r;

	if (ev->event == NULL || ev->result == NULL) {
		snprintf(err, errlen, "audit record without event or result");
		return WARD_ERR_AUDIT;
	}
	r = state_audit_append(l->st, l->fsync, append_locked, append_undo, &a);
	if (r == WARD_ERR_AUDIT)
		return r;
	if (r != 0) {
		/* the head could not be stored: the record was taken back out (if
		 * that failed too, the next append adopts it, and verify holds) */
		if (a.line == NULL || err[0] == '\0')
			snprintf(err, errlen, "audit head in the state store: %s%s",
			    ward_strerror(r), a.line == NULL || a.undone ? "" :
			    "; the record could not be taken back out of the log");
		return WARD_ERR_AUDIT;
	}
	if (l->syslog)
		syslog(LOG_AUTHPRIV | syslog_prio(ev), "ward-audit: %.*s", (int)(a.len - 1),
		    a.line);
	return 0;
}

/* audit_adopt's step: 1 and 2 of the protocol, no record; the head moves
 * to the end of what was adopted. */
static int
adopt_locked(void *vctx, struct state_audit_head *h)
{
	struct append_ctx *a = vctx;
	struct stat sb;
	uint64_t end;
	int fd, need_nl, r;

	if ((r = ready_reconciled(a, &fd, &sb, h, &need_nl, &end)) != 0)
		return r;
	if (end > 0) {
		h->dev = (uint64_t)sb.st_dev;
		h->ino = (uint64_t)sb.st_ino;
		h->size = end;
	}
	return 0;
}

int
audit_adopt(struct audit_log *l, char *err, size_t errlen)
{
	struct append_ctx a = { l, NULL, err, errlen, 0, NULL, 0, 0, 0, 0 };

	return state_audit_append(l->st, l->fsync, adopt_locked, NULL, &a) == 0 ? 0 :
	    WARD_ERR_AUDIT;
}

int
audit_check(struct audit_log *l, char *err, size_t errlen)
{
	struct state_audit_head h;
	struct statvfs vfs;
	struct stat sb;
	int fd, r;

	if ((r = log_ready(l, &fd, &sb, err, errlen)) != 0)
		return r;
	if (fstatvfs(fd, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < 65536) {
		snprintf(err, errlen, "%s: the file system is full", l->path);
		return WARD_ERR_AUDIT;
	}
	if ((r = state_audit_head_get(l->st, &h)) != 0 && r != WARD_ERR_NOTFOUND) {
		snprintf(err, errlen, "audit head in the state store: %s", ward_strerror(r));
		return WARD_ERR_AUDIT;
	}
	return 0;
}

int
audit_append_st(const struct ward_conf *conf, struct state *st,
    const struct audit_event *ev, char *err, size_t errlen)
{
	struct audit_log *l;
	int r;

	if (audit_log_open(&l, conf, st, err, errlen) != 0)
		return WARD_ERR_AUDIT;
	r = audit_write(l, ev, err, errlen);
	audit_log_close(l);
	return r;
}

int
audit_append(const struct ward_conf *conf, const struct audit_event *ev, char *err,
    size_t errlen)
{
	return audit_append_st(conf, NULL, ev, err, errlen);
}
