/*
 * audit_verify.c - reading the audit trail back: audit_each (every record
 * of the files in order, parsed, no MAC) and audit_verify, audit_verify_set
 * (the chain checked, the first problem named, the store's head compared).
 * The files come from the caller or from audit_files (audit_files.c).
 *
 * Rules it keeps:
 *  - the files are only read (mapped read-only); the key is wiped as soon
 *    as the HMAC is set up, and MACs are compared in constant time;
 *  - the store's head is read before the files, so records appended while
 *    they are read are only extra, and a cut tail is still seen;
 *  - the first record anchors the chain (seq 1 must have prev 0...0; a
 *    later seq is said in the note); after it every record must parse, MAC
 *    and chain, and the first that does not is named FILE:LINE with what is
 *    wrong (edited, deleted, reordered, duplicated, restarted, files in the
 *    wrong order or missing from the numbering).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_int.h"
#include "secret.h"

#define ZERO_MAC "0000000000000000000000000000000000000000000000000000000000000000"

/* ---- reading ---- */

struct map {
	const char *name;
	const char *p;
	size_t len;
};

static int
map_file(const char *path, struct map *m, char *err, size_t errlen)
{
	struct stat sb;
	int fd, r = WARD_ERR_IO;

	m->name = path;
	m->p = NULL;
	m->len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (sb.st_size > 0) {
		void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
		    fd, 0);
		if (p == MAP_FAILED) {
			snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
			goto out;
		}
		(void)madvise(p, (size_t)sb.st_size, MADV_SEQUENTIAL);
		m->p = p;
		m->len = (size_t)sb.st_size;
	}
	r = 0;
out:
	close(fd);
	return r;
}

static void
unmap_file(struct map *m)
{
	if (m->p != NULL)
		munmap((void *)(uintptr_t)m->p, m->len);
	m->p = NULL;
}

int
audit_each(const char *const *files, size_t nfiles, audit_each_fn fn, void *ctx,
    char *err, size_t errlen)
{
	int r = 0;

	for (size_t f = 0; f < nfiles && r == 0; f++) {
		struct map m;
		size_t pos = 0;
		uint64_t lineno = 0;

		if ((r = map_file(files[f], &m, err, errlen)) != 0)
			break;
		while (pos < m.len && r == 0) {
			const char *nl = memchr(m.p + pos, '\n', m.len - pos);
			size_t len = nl ? (size_t)(nl - m.p) - pos : m.len - pos;
			struct audit_record rec;
			char perr[256];

			lineno++;
			if (nl == NULL) {
				snprintf(err, errlen, "%s:%llu: truncated line (no newline at the "
				    "end)", files[f], (unsigned long long)lineno);
				r = WARD_ERR_PARSE;
				break;
			}
			if ((r = audit_parse(m.p + pos, len, &rec, 1, perr, sizeof(perr))) != 0) {
				snprintf(err, errlen, "%s:%llu: %s", files[f],
				    (unsigned long long)lineno, perr);
				break;
			}
			r = fn(ctx, &rec, m.p + pos, len);
			audit_record_free(&rec);
			pos += len + 1;
		}
		unmap_file(&m);
	}
	return r;
}

/* ---- verify ---- */

const char *
audit_problem_name(enum audit_problem p)
{
	static const char *const names[] = { "ok", "malformed", "truncated", "mac", "chain",
		"gap", "reorder", "duplicate", "restart", "file-order", "cut-tail", "head",
		"missing-file", "host", "foreign" };

	return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "?";
}

struct vstate {
	struct map *maps;
	size_t nmaps;
	struct audit_verify_result *res;
	const struct audit_fileset *set;     /* the numbering, or NULL */
	struct hmac *h;
	const struct audit_vhost *vh;        /* the host the files are of, or NULL */
};

static int
vproblem(struct vstate *v, enum audit_problem p, size_t f, uint64_t line, uint64_t seq,
    const char *fmt, ...) WARD_PRINTF(6, 7);

static int
vproblem(struct vstate *v, enum audit_problem p, size_t f, uint64_t line, uint64_t seq,
    const char *fmt, ...)
{
	struct audit_verify_result *res = v->res;
	char what[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	res->problem = p;
	res->line = line;
	res->seq = seq;
	snprintf(res->file, sizeof(res->file), "%s", f < v->nmaps ? v->maps[f].name :
	    v->set != NULL ? v->set->path : "");
	if (line > 0 && seq > 0)
		snprintf(res->message, sizeof(res->message), "%.700s:%llu: seq %llu: %.250s",
		    res->file, (unsigned long long)line, (unsigned long long)seq, what);
	else if (line > 0)
		snprintf(res->message, sizeof(res->message), "%.700s:%llu: %.250s", res->file,
		    (unsigned long long)line, what);
	else
		snprintf(res->message, sizeof(res->message), "%.700s: %.300s", res->file, what);
	return WARD_ERR_CORRUPT;
}

/* Find a line starting {"seq":SEQ, in maps [f0, f1) bytes [from, to) of
 * map f0 onwards (to = SIZE_MAX: to the end); file index and line number
 * in *FF, *FL, the line's mac in MAC. */
static int
find_seq(struct vstate *v, uint64_t seq, size_t f0, size_t from, size_t f1, size_t to,
    size_t *ff, uint64_t *fl, char mac[AUDIT_MAC_HEX + 1])
{
	char pat[40];
	size_t plen;

	plen = (size_t)snprintf(pat, sizeof(pat), "{\"seq\":%llu,", (unsigned long long)seq);
	for (size_t f = f0; f < f1 && f < v->nmaps; f++) {
		const char *p = v->maps[f].p;
		size_t start = f == f0 ? from : 0, end = f + 1 == f1 && to < v->maps[f].len ? to :
		    v->maps[f].len, pos = start;

		while (p != NULL && pos < end) {
			const char *nl = memchr(p + pos, '\n', end - pos);
			size_t len = nl ? (size_t)(nl - p) - pos : end - pos;

			if (len >= plen && memcmp(p + pos, pat, plen) == 0) {
				const char *m = memmem(p + pos, len, ",\"mac\":\"", 8);
				uint64_t ln = 1;
				for (const char *q = p; q < p + pos; q++)
					ln += *q == '\n';
				*ff = f;
				*fl = ln;
				mac[0] = '\0';
				if (m != NULL && (size_t)(p + pos + len - m) >= 8 + AUDIT_MAC_HEX) {
					memcpy(mac, m + 8, AUDIT_MAC_HEX);
					mac[AUDIT_MAC_HEX] = '\0';
				}
				return 1;
			}
			pos += len + 1;
		}
	}
	return 0;
}

/* Check one record against the one before it.  F, LINE, POS: where it is. */
static int
vchain(struct vstate *v, const struct audit_record *r, size_t f, uint64_t line,
    size_t pos, int first_in_file, uint64_t last_seq, const char *last_mac)
{
	uint64_t want = last_seq + 1, fl;
	size_t ff;
	char mac[AUDIT_MAC_HEX + 1];

	if (r->seq == want && strcmp(r->prev, last_mac) == 0)
		return 0;
	if (first_in_file && r->seq <= last_seq)
		return vproblem(v, AUDIT_BAD_FILE_ORDER, f, line, r->seq, "wrong file "
		    "order: this file starts at seq %llu but the file before it (%s) ends "
		    "at seq %llu; give rotated files oldest first",
		    (unsigned long long)r->seq, v->maps[f - 1].name,
		    (unsigned long long)last_seq);
	if (r->seq == 1 && strcmp(r->prev, ZERO_MAC) == 0)
		return vproblem(v, AUDIT_BAD_RESTART, f, line, r->seq, "a new chain starts here "
		    "after seq %llu (the state store was reset, or the records before were "
		    "replaced)", (unsigned long long)last_seq);
	if (first_in_file) {
		if (r->seq > want) {
			if (find_seq(v, want, f + 1, 0, v->nmaps, SIZE_MAX, &ff, &fl, mac))
				return vproblem(v, AUDIT_BAD_FILE_ORDER, f, line, r->seq, "wrong "
				    "file order: seq %llu, which comes next, is in %s; give rotated "
				    "files oldest first", (unsigned long long)want, v->maps[ff].name);
			return vproblem(v, AUDIT_BAD_GAP, f, line, r->seq, "sequence gap between "
			    "files: %s ends at seq %llu, this file starts at seq %llu (%llu "
			    "records missing)", v->maps[f - 1].name, (unsigned long long)last_seq,
			    (unsigned long long)r->seq, (unsigned long long)(r->seq - want));
		}
		return vproblem(v, AUDIT_BAD_CHAIN, f, line, r->seq, "does not chain from the "
		    "last record of %s (prev differs: a record was replaced)",
		    v->maps[f - 1].name);
	}
	if (r->seq <= last_seq) {
		if (find_seq(v, r->seq, 0, 0, f + 1, pos, &ff, &fl, mac) &&
		    strcmp(mac, r->mac) == 0)
			return vproblem(v, AUDIT_BAD_DUPLICATE, f, line, r->seq, "duplicate of "
			    "the record at %s:%llu", v->maps[ff].name, (unsigned long long)fl);
		return vproblem(v, AUDIT_BAD_REORDER, f, line, r->seq, "out of order: seq %llu "
		    "comes after seq %llu", (unsigned long long)r->seq,
		    (unsigned long long)last_seq);
	}
	if (r->seq > want) {
		if (find_seq(v, want, f, pos, v->nmaps, SIZE_MAX, &ff, &fl, mac))
			return vproblem(v, AUDIT_BAD_REORDER, f, line, r->seq, "out of order: "
			    "expected seq %llu here, it comes later at %s:%llu",
			    (unsigned long long)want, v->maps[ff].name, (unsigned long long)fl);
		return vproblem(v, AUDIT_BAD_GAP, f, line, r->seq, "sequence gap: expected "
		    "seq %llu, found %llu (%llu record%s deleted)", (unsigned long long)want,
		    (unsigned long long)r->seq, (unsigned long long)(r->seq - want),
		    r->seq - want == 1 ? "" : "s");
	}
	return vproblem(v, AUDIT_BAD_CHAIN, f, line, r->seq, "prev does not match the mac "
	    "of seq %llu (a record was replaced or inserted)", (unsigned long long)last_seq);
}

/* The seq of map F's first record, when it parses and its MAC holds. */
static int
first_seq(struct vstate *v, size_t f, uint64_t *seq)
{
	const struct map *m = &v->maps[f];
	const char *nl = m->p != NULL ? memchr(m->p, '\n', m->len) : NULL;
	struct audit_record rec;
	char want[AUDIT_MAC_HEX + 1], perr[256];

	if (nl == NULL || audit_parse(m->p, (size_t)(nl - m->p), &rec, 0, perr, sizeof(perr)) != 0 ||
	    audit_hmac_hex(v->h, m->p, rec.mac_offset, want) != 0 ||
	    !ward_ct_equal(want, rec.mac, AUDIT_MAC_HEX))
		return 0;
	*seq = rec.seq;
	return 1;
}

/*
 * Rotated files LO..HI are absent from the numbering.  Between two files
 * read (F - 1 and F, F < nmaps): named at F's first record, with the seq
 * range their absence leaves when the records on both sides verify.  After
 * the last file read (F == nmaps) or among the files not read (F ==
 * SIZE_MAX): named at the file next to them, or at the log.
 */
static int
vmissing(struct vstate *v, size_t f, unsigned lo, unsigned hi, int have_last,
    uint64_t last_seq)
{
	const char *sl = strrchr(v->set->path, '/'), *base = sl ? sl + 1 : v->set->path;
	char name[512], side[300];
	uint64_t s = 0;

	if (lo == hi)
		snprintf(name, sizeof(name), "%.200s.%u is", base, lo);
	else
		snprintf(name, sizeof(name), "%.200s.%u to %.200s.%u are", base, lo, base, hi);
	if (f == SIZE_MAX)
		return vproblem(v, AUDIT_BAD_MISSING_FILE, v->nmaps ? 0 : SIZE_MAX, 0, 0, "%s "
		    "missing among the older rotated files, which are not read (compressed, "
		    "or older than a compressed one; the numbering goes up to %s.%u)", name,
		    base, v->set->top);
	if (f == v->nmaps)
		return vproblem(v, AUDIT_BAD_MISSING_FILE, f - 1, 0, 0, "%s missing after this "
		    "file, and %s itself is absent (the newest records are gone)", name, base);
	sl = strrchr(v->maps[f - 1].name, '/');
	snprintf(side, sizeof(side), "%s", sl ? sl + 1 : v->maps[f - 1].name);
	if (!have_last || !first_seq(v, f, &s))
		return vproblem(v, AUDIT_BAD_MISSING_FILE, f, 0, 0, "%s missing between %.200s "
		    "and this file", name, side);
	if (s > last_seq + 1)
		return vproblem(v, AUDIT_BAD_MISSING_FILE, f, 1, s, "%s missing between %.200s "
		    "and this file: seq %llu..%llu absent", name, side,
		    (unsigned long long)last_seq + 1, (unsigned long long)s - 1);
	return vproblem(v, AUDIT_BAD_MISSING_FILE, f, 1, s, "%s missing between %.200s and "
	    "this file (seq %llu, then %llu: %s)", name, side, (unsigned long long)last_seq,
	    (unsigned long long)s, s == last_seq + 1 ? "no record absent, it held none" :
	    "out of order too");
}

/* A good record: when it is a head record (event "head"), RES's beat_*
 * say so; ends_shutdown tells whether this one, the last so far, is the
 * head of a clean shutdown (detail "shutdown; interval N"). */
static void
note_beat(struct audit_verify_result *res, const char *line, const struct audit_record *r)
{
	static const char sd[] = "shutdown; ";
	const char *d = line + r->detail_at;
	size_t dl = r->detail_len, i = 0;
	long n = 0;

	res->ends_shutdown = 0;
	if (r->event_len != 4 || memcmp(line + r->event_at, "head", 4) != 0)
		return;
	res->beat_seq = r->seq;
	res->beat_ts_ms = r->ts_ms;
	res->beat_interval = 0;
	if (dl >= sizeof(sd) - 1 && memcmp(d, sd, sizeof(sd) - 1) == 0) {
		res->ends_shutdown = 1;
		i = sizeof(sd) - 1;
	}
	if (dl - i < 10 || memcmp(d + i, "interval ", 9) != 0)
		return;
	for (i += 9; i < dl && d[i] >= '0' && d[i] <= '9' && n <= 86400; i++)
		n = n * 10 + (d[i] - '0');
	if (i == dl && n <= 86400)
		res->beat_interval = n;
}

/* audit_verify, audit_verify_set (SET not NULL) and audit_verify_keyed
 * (VH not NULL), with the key set up in H. */
static int
verify_files(struct hmac *h, const char *const *files, size_t nfiles,
    const struct audit_fileset *set, const char *state_dir, const struct audit_vhost *vh,
    struct audit_verify_result *res)
{
	struct state_audit_head head;
	struct vstate v = { NULL, 0, res, set, h, vh };
	struct audit_record rec;
	char last_mac[AUDIT_MAC_HEX + 1], want[AUDIT_MAC_HEX + 1];
	uint64_t last_seq = 0, head_line = 0;
	size_t head_file = 0, hostlen = vh != NULL ? strlen(vh->host) : 0;
	int have_last = 0, head_seen = 0, r = 0;

	memset(res, 0, sizeof(*res));
	memset(&head, 0, sizeof(head));
	memset(&rec, 0, sizeof(rec));
	/* The head first: records appended while we read are then only extra. */
	if (state_dir != NULL) {
		struct state *st;
		if ((r = state_open(&st, state_dir, 0)) != 0) {
			snprintf(res->message, sizeof(res->message), "state store %s: %s",
			    state_dir, ward_strerror(r));
			goto out;
		}
		r = state_audit_head_get(st, &head);
		state_close(st);
		if (r != 0 && r != WARD_ERR_NOTFOUND) {
			snprintf(res->message, sizeof(res->message), "audit head in %s: %s",
			    state_dir, ward_strerror(r));
			goto out;
		}
		res->head_checked = 1;
		res->head_seq = head.seq;
	}
	r = WARD_ERR_NOMEM;
	if ((v.maps = calloc(nfiles ? nfiles : 1, sizeof(*v.maps))) == NULL) {
		snprintf(res->message, sizeof(res->message), "out of memory");
		goto out;
	}
	for (; v.nmaps < nfiles; v.nmaps++) {
		if ((r = map_file(files[v.nmaps], &v.maps[v.nmaps], res->message,
		    sizeof(res->message))) != 0)
			goto out;
	}
	r = 0;
	/* a rotated file absent among those not read: older than any record */
	for (size_t g = 0; set != NULL && g < set->ngaps && r == 0; g++)
		if (set->gap[g].hi + 1 > (set->n > 0 ? set->num[0] : 0))
			r = vmissing(&v, SIZE_MAX, set->gap[g].lo, set->gap[g].hi, 0, 0);
	for (size_t f = 0; f < v.nmaps && r == 0; f++) {
		const char *p = v.maps[f].p;
		size_t pos = 0, len = v.maps[f].len;
		uint64_t line = 0;

		if (set != NULL && f > 0 && set->num[f - 1] > set->num[f] + 1) {
			r = vmissing(&v, f, set->num[f] + 1, set->num[f - 1] - 1, have_last,
			    last_seq);
			break;
		}
		while (pos < len) {
			const char *nl = memchr(p + pos, '\n', len - pos);
			size_t ll = nl ? (size_t)(nl - p) - pos : len - pos;
			char perr[256];

			line++;
			if (nl == NULL) {
				r = vproblem(&v, AUDIT_BAD_TRUNCATED, f, line, 0, "truncated line: "
				    "the last record is cut off mid-line (%zu bytes, no newline)", ll);
				break;
			}
			if (audit_parse(p + pos, ll, &rec, 0, perr, sizeof(perr)) != 0) {
				r = vproblem(&v, AUDIT_BAD_PARSE, f, line, 0, "malformed record: %s",
				    perr);
				break;
			}
			if (audit_hmac_hex(h, p + pos, rec.mac_offset, want) != 0) {
				r = WARD_ERR_CRYPTO;
				snprintf(res->message, sizeof(res->message), "HMAC failed");
				break;
			}
			if (!ward_ct_equal(want, rec.mac, AUDIT_MAC_HEX)) {
				char what[600];

				if (vh != NULL && vh->foreign != NULL &&
				    vh->foreign(vh->ctx, p + pos, ll, &rec, what, sizeof(what)) == 1)
					r = vproblem(&v, AUDIT_BAD_FOREIGN, f, line, rec.seq, "%s", what);
				else
					r = vproblem(&v, AUDIT_BAD_MAC, f, line, rec.seq, "MAC mismatch: "
					    "the record was changed%s", have_last ? "" : " (or the key is "
					    "not the one that wrote this log)");
				break;
			}
			if (vh != NULL && (rec.host_len != hostlen ||
			    memcmp(p + pos + rec.host_at, vh->host, hostlen) != 0)) {
				r = vproblem(&v, AUDIT_BAD_HOST, f, line, rec.seq, "the record names "
				    "host \"%.*s\", but this is the log of %s, and its MAC holds under "
				    "%s's key (%s wrote a record in another host's name)",
				    (int)(rec.host_len > 64 ? 64 : rec.host_len), p + pos + rec.host_at,
				    vh->host, vh->host, vh->host);
				break;
			}
			if (!have_last) {
				if (rec.seq == 1 && strcmp(rec.prev, ZERO_MAC) != 0) {
					r = vproblem(&v, AUDIT_BAD_CHAIN, f, line, rec.seq, "seq 1 must "
					    "start the chain (prev 0...0)");
					break;
				}
				if (rec.seq != 1)
					snprintf(res->note, sizeof(res->note), "the chain starts at seq "
					    "%llu in %s (older records are not in the files given)",
					    (unsigned long long)rec.seq, v.maps[f].name);
				res->first_seq = rec.seq;
			} else if ((r = vchain(&v, &rec, f, line, pos, line == 1, last_seq,
			    last_mac)) != 0) {
				break;
			}
			if (res->head_checked && rec.seq == head.seq) {
				/* the chain is checked first; this is judged at the end */
				head_seen = strcmp(rec.mac, head.mac) == 0 ? 1 : -1;
				head_file = f;
				head_line = line;
			}
			have_last = 1;
			last_seq = rec.seq;
			memcpy(last_mac, rec.mac, sizeof(last_mac));
			res->records++;
			res->last_seq = rec.seq;
			res->last_ts_ms = rec.ts_ms;
			note_beat(res, p + pos, &rec);
			pos += ll + 1;
		}
	}
	if (r == 0 && set != NULL && set->n > 0 && set->num[set->n - 1] > 1)
		r = vmissing(&v, v.nmaps, 1, set->num[set->n - 1] - 1, have_last, last_seq);
	if (r == 0 && head_seen < 0)
		r = vproblem(&v, AUDIT_BAD_HEAD, head_file, head_line, head.seq, "differs from "
		    "the record the state store saw last (the end of the log was replaced)");
	if (r == 0 && res->head_checked && head.seq > 0 && head_seen == 0) {
		size_t lf = v.nmaps ? v.nmaps - 1 : 0;
		if (head.seq > last_seq || !have_last)
			r = vproblem(&v, AUDIT_BAD_CUT_TAIL, lf, 0, 0, "cut tail: the state "
			    "store's head is seq %llu but the log ends at seq %llu (%llu record%s "
			    "missing from the end)", (unsigned long long)head.seq,
			    (unsigned long long)last_seq,
			    (unsigned long long)(head.seq - last_seq),
			    head.seq - last_seq == 1 ? "" : "s");
		else
			r = vproblem(&v, AUDIT_BAD_HEAD, lf, 0, 0, "the state store's head (seq "
			    "%llu) is not among the records checked (the log starts later)",
			    (unsigned long long)head.seq);
	}
	if (r == 0 && res->head_checked && head.seq == 0 && have_last)
		r = vproblem(&v, AUDIT_BAD_HEAD, v.nmaps - 1, 0, 0, "the state store has no "
		    "audit head but the log has records (the store was reset or replaced)");
out:
	for (size_t f = 0; f < v.nmaps; f++)
		unmap_file(&v.maps[f]);
	free(v.maps);
	return r;
}

/* The key of KEY_FILE into H (the bytes wiped at once); the reason in RES. */
static int
key_hmac(const char *key_file, struct hmac *h, struct audit_verify_result *res)
{
	struct secret_key key;
	char kerr[512];
	int r;

	memset(res, 0, sizeof(*res));
	memset(&key, 0, sizeof(key));
	if ((r = secret_key_load(&key, key_file, kerr, sizeof(kerr))) != 0) {
		snprintf(res->message, sizeof(res->message), "audit key: %s", kerr);
		return r;
	}
	r = audit_hmac_init(h, key.k, sizeof(key.k));
	secret_key_wipe(&key);
	if (r != 0)
		snprintf(res->message, sizeof(res->message), "HMAC-SHA-256 unavailable");
	return r;
}

int
audit_verify(const char *key_file, const char *const *files, size_t nfiles,
    const char *state_dir, struct audit_verify_result *res)
{
	struct hmac h = { NULL, NULL };
	int r;

	if ((r = key_hmac(key_file, &h, res)) == 0)
		r = verify_files(&h, files, nfiles, NULL, state_dir, NULL, res);
	audit_hmac_free(&h);
	return r;
}

int
audit_verify_set(const char *key_file, const struct audit_fileset *set,
    const char *state_dir, struct audit_verify_result *res)
{
	struct hmac h = { NULL, NULL };
	int r;

	if ((r = key_hmac(key_file, &h, res)) == 0)
		r = verify_files(&h, (const char *const *)set->v, set->n, set, state_dir, NULL,
		    res);
	audit_hmac_free(&h);
	return r;
}

int
audit_verify_keyed(struct hmac *h, const struct audit_fileset *set,
    const struct audit_vhost *vh, struct audit_verify_result *res)
{
	return verify_files(h, (const char *const *)set->v, set->n, set, NULL, vh, res);
}
