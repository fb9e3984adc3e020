/*
 * fleet_report.c - wardctl audit report --fleet DIR --fleet-key FILE: the
 * records of every host of a collector's folder, in time order, looked at
 * for the shapes an analyst acts on (wardctl(8), AUDIT ACROSS A FLEET).
 *
 * Rules it keeps:
 *  - verify first: audit_verify_fleet checks every host's chain (MACs under
 *    its derived key); a host that does not verify is left out, named, and
 *    the exit is 1; a host that does is read only up to the last seq that
 *    verified (records appended meanwhile are not looked at);
 *  - then stream: every host's files are read line by line (a buffer per
 *    host, records parsed without allocating), the hosts merged by time
 *    through a heap (one parsed record per host in memory); the rules keep
 *    per user, role and host+service small fixed windows and counts (an
 *    hour-of-week table per user and role), so memory grows with the
 *    number of hosts, users, roles and services, never with the number of
 *    records (the failures-per-hour chart: with the hours covered);
 *  - each finding names its rule, its numbers and the records (host, seq,
 *    time) behind it, and is printed when found (text, or --json);
 *    breakglass-peers is judged at the end (a person against the peers'
 *    median needs everyone's count); --html also writes them, with the
 *    same numbers, as one self-contained page (fleet_html.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "fleet_report.h"
#include "wardctl.h"

/* Defaults (wardctl(8), AUDIT ACROSS A FLEET). */
#define SPREAD_HOSTS 3               /* one user failing on >= this many hosts */
#define SPREAD_MS (10 * 60 * 1000)   /* ... within 10 minutes */
#define SPRAY_USERS 5                /* one host+service failing for >= this many users */
#define SPRAY_MS (10 * 60 * 1000)
#define REPLAY_MS (90 * 1000)        /* a replay this soon after an accepted code */
#define PRESENCE_MIN 5               /* successes in two wards this close: default */
#define RING 8                       /* per-user failures kept */
#define SPRING 16                    /* per host+service failures kept */
#define WEEK_H 168                   /* hours of a week: the baseline's cells */
#define OFF_HISTORY 20               /* a user's own baseline: this many logins */
#define OFF_ROLE_HISTORY 100         /* a role's baseline: this many logins */
#define OFF_MAX 0                    /* logins near that hour of week: at most this */
#define OFF_NEAR 2                   /* near: within this many hours of it */
#define BG_MIN 3                     /* break-glass: more than max(this, */
#define BG_FACTOR 3                  /* ... this x the peers' median) */
#define BG_PEERS 5                   /* a role this big is its members' peers */
#define BG_KEEP 16                   /* per-user break-glass records named */
#define TOP_N 10                     /* bars of the per-host and per-person charts */
#define NRULES 7
#define HOURS_MAX (5 * 366 * 24)     /* the failures-per-hour chart spans at most this */

struct hit {
	int64_t ts;
	uint32_t host;                   /* index in fr->hosts */
	uint64_t seq;
	uint64_t user;                   /* spray ring: the user name's hash */
};

struct user {
	char *name;                      /* first: the table's key */
	struct hit fail[RING];           /* the last failures, oldest first */
	size_t nfail;
	struct hit code;                 /* last accepted TOTP code (ts 0: none) */
	struct hit code_prev;            /* the one before it (ts 0: none) */
	char *code_service;
	struct hit login;                /* last successful login or session (ts 0: none) */
	struct hit last_auth;            /* last successful authentication (ts 0: none) */
	uint32_t how[WEEK_H];            /* successful authentications per hour of week */
	uint32_t logins;                 /* ... in all */
	struct role *role;               /* the first role its last records named */
	uint32_t bg;                     /* break-glass granted */
	struct hit bgv[BG_KEEP];         /* the first BG_KEEP of them */
};

struct role {
	char *name;                      /* first: the table's key */
	uint32_t how[WEEK_H];
	uint32_t logins;
	size_t members;                  /* breakglass-peers: users whose role it is */
};

struct hostsvc {
	char *key;                       /* first: the table's key, "host service" */
	struct hit fail[SPRING];
	size_t nfail;
};

struct cursor {
	char host[AUDIT_HOST_MAX + 1];
	struct audit_fileset set;
	size_t file;
	int fd;                          /* -1: none open */
	char *buf;                       /* what was read of the file ... */
	size_t cap, at, len;             /* ... its size, the next line, its end */
	int eof;
	char *dec;                       /* the current record's strings */
	size_t dcap;
	char **roles;                    /* ... and its roles (AUDIT_ROLES_MAX + 1) */
	uint64_t upto;                   /* the last seq that verified */
	struct audit_record rec;         /* the current record (parsed, a view) */
	uint64_t fails;                  /* its authentication failures */
	int done;
};

/* A finding kept for the HTML report. */
struct kept {
	struct fr_finding f;
};

/*
 * A string-keyed table (open addressing, CAP a power of 2): each slot's
 * entry is VSIZE bytes, allocated with it, starting with its key.
 */
struct table {
	char **v;                        /* the entries; *(char **)v[i] is the key */
	size_t n, cap, vsize;
};

struct freport {
	const struct wopts *o;
	struct cursor *hosts;
	size_t nhosts, cap;
	size_t *heap, nheap;
	struct table users;              /* of struct user */
	struct table roles;              /* of struct role */
	struct table hs;                 /* of struct hostsvc */
	uint64_t records, failures, breakglass;
	size_t findings, by_rule[NRULES], bad_hosts;
	long presence_ms, off_history, off_role_history, off_max, bg_min, bg_factor;
	/* for --html (html != NULL) */
	FILE *html;
	struct fr_finding *kept;
	size_t nkept, kcap;
	int oom;
	char **left;
	size_t nleft;
	int64_t hour0;                   /* failures per hour since this hour (ms) */
	uint32_t *fail_hour;
	size_t nhours;
	char err[1024];
};

static const char *const rule_names[NRULES] = { "user-many-hosts", "spray",
	"replay-elsewhere", "impossible-presence", "off-hours", "breakglass-peers",
	"offline-replay" };

/* ---- verification first ---- */

static int
keep_host(void *ctx, const struct audit_fleet_host *h)
{
	struct freport *fr = ctx;
	struct cursor *c;

	if (h->rc != 0) {
		fr->bad_hosts++;
		if (fr->html != NULL) {
			char **t = reallocarray(fr->left, fr->nleft + 1, sizeof(*t));

			if (t == NULL)
				return WARD_ERR_NOMEM;
			fr->left = t;
			if (asprintf(&fr->left[fr->nleft], "%.64s: %s: %s", h->host,
			    h->rc == WARD_ERR_CORRUPT ? "does not verify" : "cannot be read",
			    h->res.message) < 0)
				return WARD_ERR_NOMEM;
			fr->nleft++;
		}
		if (fr->o->json) {
			struct jobj j;

			jobj_begin(&j, stdout, fr->bad_hosts > 1);
			jobj_str(&j, "host", h->host);
			jobj_str(&j, "problem", h->rc == WARD_ERR_CORRUPT ?
			    audit_problem_name(h->res.problem) : "error");
			jobj_str(&j, "message", h->res.message);
			jobj_end(&j);
			return 0;
		}
		printf("LEFT OUT  %.64s: %s: ", h->host, h->rc == WARD_ERR_CORRUPT ?
		    "does not verify" : "cannot be read");
		tprint(stdout, h->res.message, 0);
		putchar('\n');
		return 0;
	}
	if (h->res.records == 0)
		return 0;
	if (fr->nhosts == fr->cap) {
		struct cursor *t = reallocarray(fr->hosts, fr->cap ? 2 * fr->cap : 64, sizeof(*t));

		if (t == NULL)
			return WARD_ERR_NOMEM;
		fr->hosts = t;
		fr->cap = fr->cap ? 2 * fr->cap : 64;
	}
	c = &fr->hosts[fr->nhosts++];
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	snprintf(c->host, sizeof(c->host), "%.*s", AUDIT_HOST_MAX, h->host);
	c->upto = h->res.last_seq;
	return 0;
}

/* ---- the per-host cursors, merged by time ---- */

/*
 * gcc 12's -fanalyzer reports the buffers kept in a cursor (an element of
 * fr->hosts, on the heap) as leaked where they are allocated or grown, and
 * at the calls that reach there: they are freed by free_all.  Suppressed
 * for the cursor's functions and the command that drives them only.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif

/* The next line of C's open file: *LINE and *N (without its newline);
 * 0 with *LINE NULL at the file's end. */
static int
next_line(struct freport *fr, struct cursor *c, const char **line, size_t *n)
{
	for (;;) {
		const char *nl = c->len > c->at ? memchr(c->buf + c->at, '\n', c->len - c->at) :
		    NULL;
		ssize_t got;

		if (nl != NULL) {
			*line = c->buf + c->at;
			*n = (size_t)(nl - *line);
			c->at += *n + 1;
			return 0;
		}
		if (c->eof) {
			*line = NULL;
			if (c->len > c->at) {
				snprintf(fr->err, sizeof(fr->err), "%s: the last line has no newline "
				    "(changed since it verified?)", c->set.v[c->file]);
				return WARD_ERR_PARSE;
			}
			return 0;
		}
		/* keep the partial line, at the start; room for a whole one */
		if (c->at > 0) {
			memmove(c->buf, c->buf + c->at, c->len - c->at);
			c->len -= c->at;
			c->at = 0;
		}
		if (c->len == c->cap) {
			size_t ncap = c->cap ? 2 * c->cap : 16384;
			char *t;

			if (c->cap > AUDIT_LINE_MAX + 1) {
				snprintf(fr->err, sizeof(fr->err), "%s: a line longer than %d bytes "
				    "(changed since it verified?)", c->set.v[c->file], AUDIT_LINE_MAX);
				return WARD_ERR_PARSE;
			}
			if ((t = realloc(c->buf, ncap)) == NULL) {
				snprintf(fr->err, sizeof(fr->err), "out of memory");
				return WARD_ERR_NOMEM;
			}
			c->buf = t;
			c->cap = ncap;
		}
		got = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(fr->err, sizeof(fr->err), "%s: %s", c->set.v[c->file],
			    strerror(errno));
			return WARD_ERR_IO;
		}
		if (got == 0)
			c->eof = 1;
		c->len += (size_t)got;
	}
}

static void
cursor_close(struct cursor *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->at = c->len = 0;
	c->eof = 0;
}

/* The next record of C into C->rec (C->done at the end). */
static int
cursor_next(struct freport *fr, struct cursor *c)
{
	char perr[256];

	memset(&c->rec, 0, sizeof(c->rec));
	if (c->roles == NULL &&
	    (c->roles = calloc(AUDIT_ROLES_MAX + 1, sizeof(*c->roles))) == NULL) {
		snprintf(fr->err, sizeof(fr->err), "out of memory");
		return WARD_ERR_NOMEM;
	}
	for (;;) {
		const char *line;
		size_t n;
		int r;

		if (c->fd < 0) {
			if (c->file >= c->set.n) {
				c->done = 1;
				return 0;
			}
			if ((c->fd = open(c->set.v[c->file], O_RDONLY | O_CLOEXEC)) < 0) {
				snprintf(fr->err, sizeof(fr->err), "%s: %s", c->set.v[c->file],
				    strerror(errno));
				return WARD_ERR_IO;
			}
			(void)posix_fadvise(c->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		}
		if ((r = next_line(fr, c, &line, &n)) != 0)
			return r;
		if (line == NULL) {
			cursor_close(c);
			c->file++;
			continue;
		}
		if (n + 1 > c->dcap) {
			char *t = realloc(c->dec, n + 1);

			if (t == NULL) {
				snprintf(fr->err, sizeof(fr->err), "out of memory");
				return WARD_ERR_NOMEM;
			}
			c->dec = t;
			c->dcap = n + 1;
		}
		if (audit_parse_view(line, n, &c->rec, c->dec, c->roles, perr,
		    sizeof(perr)) != 0) {
			snprintf(fr->err, sizeof(fr->err), "%s: %s (changed since it verified?)",
			    c->set.v[c->file], perr);
			return WARD_ERR_PARSE;
		}
		if (c->rec.seq > c->upto) {      /* appended after the verification */
			memset(&c->rec, 0, sizeof(c->rec));
			cursor_close(c);
			c->file = c->set.n;
			c->done = 1;
		}
		return 0;
	}
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

static int
older(const struct freport *fr, size_t a, size_t b)
{
	const struct audit_record *x = &fr->hosts[a].rec, *y = &fr->hosts[b].rec;

	return x->ts_ms < y->ts_ms || (x->ts_ms == y->ts_ms && a < b);
}

static void
sift_down(struct freport *fr, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i, t;

		if (l < fr->nheap && older(fr, fr->heap[l], fr->heap[m]))
			m = l;
		if (l + 1 < fr->nheap && older(fr, fr->heap[l + 1], fr->heap[m]))
			m = l + 1;
		if (m == i)
			return;
		t = fr->heap[i];
		fr->heap[i] = fr->heap[m];
		fr->heap[m] = t;
		i = m;
	}
}

/* ---- per-user and per-host+service state ---- */

static uint64_t
fnv(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int
table_grow(struct table *t)
{
	size_t ncap = t->cap ? 2 * t->cap : 1024;
	char **n = calloc(ncap, sizeof(*n));

	if (n == NULL)
		return WARD_ERR_NOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		size_t j;

		if (t->v[i] == NULL)
			continue;
		for (j = fnv(*(char **)t->v[i]) & (ncap - 1); n[j] != NULL; j = (j + 1) & (ncap - 1))
			;
		n[j] = t->v[i];
	}
	free(t->v);
	t->v = n;
	t->cap = ncap;
	return 0;
}

/* Every entry and its key (what an entry holds besides is the caller's). */
static void
table_free(struct table *t)
{
	for (size_t i = 0; i < t->cap; i++) {
		if (t->v[i] != NULL) {
			free(*(char **)t->v[i]);
			free(t->v[i]);
		}
	}
	free(t->v);
}

/* KEY's entry, made (zeroed, the key copied) when new; NULL out of memory. */
static void *
table_get(struct table *t, const char *key)
{
	size_t j;
	char *e;

	if ((t->n + 1) * 2 > t->cap && table_grow(t) != 0)
		return NULL;
	for (j = fnv(key) & (t->cap - 1); t->v[j] != NULL; j = (j + 1) & (t->cap - 1))
		if (strcmp(*(char **)t->v[j], key) == 0)
			return t->v[j];
	if ((e = calloc(1, t->vsize)) == NULL || (*(char **)e = strdup(key)) == NULL) {
		free(e);
		return NULL;
	}
	t->v[j] = e;
	t->n++;
	return e;
}

static struct user *
user_of(struct freport *fr, const char *name)
{
	return table_get(&fr->users, name);
}

static struct role *
role_of(struct freport *fr, const char *name)
{
	return table_get(&fr->roles, name);
}

static struct hostsvc *
hs_of(struct freport *fr, const char *host, const char *service)
{
	char key[AUDIT_HOST_MAX + 2 + 256];

	snprintf(key, sizeof(key), "%s %.255s", host, service != NULL ? service : "-");
	return table_get(&fr->hs, key);
}

/* The ward of a host: its name before the first '-' (the whole name
 * when it has none). */
static size_t
ward_len(const char *host)
{
	const char *d = strchr(host, '-');

	return d != NULL ? (size_t)(d - host) : strlen(host);
}

static int
same_ward(const char *a, const char *b)
{
	size_t n = ward_len(a);

	return n == ward_len(b) && strncmp(a, b, n) == 0;
}

/* ---- findings ---- */

void
fleet_ts(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	buf[0] = '\0';
	if (gmtime_r(&t, &tm) != NULL)
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A copy of a finding for the HTML report (out of memory: noted, and the
 * report fails at its end). */
static void
keep(struct freport *fr, int rule, const char *user, const char *host, const char *what,
    const struct hit *h, size_t n)
{
	struct fr_finding *f;

	if (fr->nkept == fr->kcap) {
		size_t ncap = fr->kcap ? 2 * fr->kcap : 16;
		struct fr_finding *t = reallocarray(fr->kept, ncap, sizeof(*t));

		if (t == NULL) {
			fr->oom = 1;
			return;
		}
		fr->kept = t;
		fr->kcap = ncap;
	}
	f = &fr->kept[fr->nkept++];
	memset(f, 0, sizeof(*f));
	f->rule = rule_names[rule];
	f->user = user != NULL ? strdup(user) : NULL;
	f->host = host != NULL ? strdup(host) : NULL;
	f->what = strdup(what);
	f->recs = calloc(n ? n : 1, sizeof(*f->recs));
	if ((user != NULL && f->user == NULL) || (host != NULL && f->host == NULL) ||
	    f->what == NULL || f->recs == NULL) {
		fr->oom = 1;
		return;
	}
	for (size_t i = 0; i < n; i++)
		f->recs[i] = (struct fr_ref){ fr->hosts[h[i].host].host, h[i].seq, h[i].ts };
	f->nrecs = n;
}

/* One finding: RULE, WHO (user or host+service), WHAT (the numbers, one
 * sentence), the records behind it. */
static void
finding(struct freport *fr, int rule, const char *user, const char *host, const char *what,
    const struct hit *h, size_t n)
{
	char ts[32];

	fr->findings++;
	fr->by_rule[rule]++;
	if (fr->html != NULL)
		keep(fr, rule, user, host, what, h, n);
	if (fr->o->json) {
		struct jobj j;

		jobj_begin(&j, stdout, fr->findings > 1);
		jobj_str(&j, "rule", rule_names[rule]);
		jobj_str(&j, "user", user);
		jobj_str(&j, "host", host);
		jobj_str(&j, "what", what);
		jobj_key(&j, "records");
		putchar('[');
		for (size_t i = 0; i < n; i++) {
			struct jobj r;

			fleet_ts(h[i].ts, ts, sizeof(ts));
			jobj_begin(&r, stdout, i > 0);
			jobj_str(&r, "host", fr->hosts[h[i].host].host);
			jobj_num(&r, "seq", (long long)h[i].seq);
			jobj_str(&r, "ts", ts);
			jobj_end(&r);
		}
		putchar(']');
		jobj_end(&j);
		return;
	}
	printf("FINDING   %s: ", rule_names[rule]);
	tprint(stdout, what, 0);
	printf("\n          records:");
	for (size_t i = 0; i < n; i++) {
		fleet_ts(h[i].ts, ts, sizeof(ts));
		printf("%s %s seq %llu (%s)", i ? "," : "", fr->hosts[h[i].host].host,
		    (unsigned long long)h[i].seq, ts);
	}
	putchar('\n');
}

/* PICK was filled newest first: oldest first for the reader. */
static void
oldest_first(struct hit *pick, size_t n)
{
	for (size_t i = 0; i < n / 2; i++) {
		struct hit t = pick[i];

		pick[i] = pick[n - 1 - i];
		pick[n - 1 - i] = t;
	}
}

static void
push_hit(struct hit *ring, size_t *n, size_t cap, const struct hit *h)
{
	if (*n == cap) {
		memmove(ring, ring + 1, (cap - 1) * sizeof(*ring));
		(*n)--;
	}
	ring[(*n)++] = *h;
}

/* user-many-hosts: U's failures within SPREAD_MS of the newest, on
 * distinct hosts. */
static void
rule_spread(struct freport *fr, struct user *u)
{
	struct hit pick[RING];
	size_t np = 0;
	const struct hit *last = &u->fail[u->nfail - 1];
	char what[512];

	for (size_t i = u->nfail; i-- > 0;) {
		int seen = 0;

		if (last->ts - u->fail[i].ts > SPREAD_MS)
			break;
		for (size_t k = 0; k < np; k++)
			seen |= pick[k].host == u->fail[i].host;
		if (!seen)
			pick[np++] = u->fail[i];
	}
	if (np < SPREAD_HOSTS)
		return;
	snprintf(what, sizeof(what), "user %s failed on %zu workstations within %lld s "
	    "(rule: %d or more hosts within %d s): the same account tried around the "
	    "hospital", u->name, np, (long long)((last->ts - pick[np - 1].ts) / 1000),
	    SPREAD_HOSTS, SPREAD_MS / 1000);
	oldest_first(pick, np);
	finding(fr, 0, u->name, NULL, what, pick, np);
	u->nfail = 0;               /* a new finding needs new failures */
}

/* spray: S's failures within SPRAY_MS of the newest, for distinct users. */
static void
rule_spray(struct freport *fr, struct hostsvc *s, const char *host, const char *service)
{
	struct hit pick[SPRING];
	size_t np = 0;
	const struct hit *last = &s->fail[s->nfail - 1];
	char what[512];

	for (size_t i = s->nfail; i-- > 0;) {
		int seen = 0;

		if (last->ts - s->fail[i].ts > SPRAY_MS)
			break;
		for (size_t k = 0; k < np; k++)
			seen |= pick[k].user == s->fail[i].user;
		if (!seen)
			pick[np++] = s->fail[i];
	}
	if (np < SPRAY_USERS)
		return;
	snprintf(what, sizeof(what), "host %s service %s failed for %zu distinct users "
	    "within %lld s (rule: %d or more users within %d s): the shape of password "
	    "or code spraying from one place", host, service != NULL ? service : "-", np,
	    (long long)((last->ts - pick[np - 1].ts) / 1000), SPRAY_USERS, SPRAY_MS / 1000);
	oldest_first(pick, np);
	finding(fr, 1, NULL, host, what, pick, np);
	s->nfail = 0;
}

static const char *const wdays[7] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };

/* The hour of the week of MS (UTC), Monday 00:00 = 0: the epoch fell on a
 * Thursday. */
static unsigned
hour_of_week(int64_t ms)
{
	int64_t h = ms / 3600000 + 3 * 24;

	h %= WEEK_H;
	return (unsigned)(h < 0 ? h + WEEK_H : h);
}

/* Logins in HOW within OFF_NEAR hours of cell C (a shift that starts a
 * little early, a long break in one, is not off-hours). */
static uint32_t
near(const uint32_t *how, unsigned c)
{
	uint32_t k = 0;

	for (unsigned d = WEEK_H - OFF_NEAR; d <= WEEK_H + OFF_NEAR; d++)
		k += how[(c + d) % WEEK_H];
	return k;
}

/* off-hours: a successful authentication H of U (roles ROLES) at an hour
 * of the week where U (enough history) or, with too little, every role of
 * it that has enough had at most off_max logins within OFF_NEAR hours.  Then H
 * counts in the baselines. */
static int
rule_offhours(struct freport *fr, struct user *u, const struct hit *h, char *const *roles,
    size_t nroles)
{
	unsigned c = hour_of_week(h->ts);
	char what[768], cell[32];
	struct role *rv[8];
	size_t nr = nroles < 8 ? nroles : 8;

	for (size_t i = 0; i < nr; i++)
		if ((rv[i] = role_of(fr, roles[i])) == NULL)
			return WARD_ERR_NOMEM;
	snprintf(cell, sizeof(cell), "%s %02u:00-%02u:59 UTC", wdays[c / 24], c % 24, c % 24);
	if (u->logins >= (uint32_t)fr->off_history) {
		uint32_t k = near(u->how, c);

		if (k <= (uint32_t)fr->off_max) {
			struct hit pair[2] = { u->last_auth, *h };

			snprintf(what, sizeof(what), "user %s logged in on %s on %s; of their %u "
			    "earlier successful logins, %u fell within %d hours of that time of "
			    "week (rule: at most %ld there, with %ld or more logins of history): "
			    "outside this person's usual hours (their last login before is named "
			    "first)", u->name, fr->hosts[h->host].host, cell, u->logins, k,
			    OFF_NEAR, fr->off_max, fr->off_history);
			finding(fr, 4, u->name, fr->hosts[h->host].host, what, pair, 2);
		}
	} else {
		struct role *judge = NULL;
		size_t enough = 0, quiet = 0;

		for (size_t i = 0; i < nr; i++) {
			if (rv[i]->logins < (uint32_t)fr->off_role_history)
				continue;
			enough++;
			if (near(rv[i]->how, c) <= (uint32_t)fr->off_max) {
				quiet++;
				judge = rv[i];
			}
		}
		if (enough > 0 && quiet == enough) {
			struct hit one[1] = { *h };

			snprintf(what, sizeof(what), "user %s (%u earlier successful logins: too "
			    "few for their own baseline) logged in on %s on %s; of the %u earlier "
			    "logins of role %s, %u fell within %d hours of that time of week "
			    "(rule: at most %ld there, with %ld or more logins of the role): "
			    "outside the role's usual hours", u->name, u->logins,
			    fr->hosts[h->host].host, cell, judge->logins, judge->name,
			    near(judge->how, c), OFF_NEAR, fr->off_max, fr->off_role_history);
			finding(fr, 4, u->name, fr->hosts[h->host].host, what, one, 1);
		}
	}
	u->how[c]++;
	u->logins++;
	u->last_auth = *h;
	for (size_t i = 0; i < nr; i++) {
		rv[i]->how[c]++;
		rv[i]->logins++;
	}
	return 0;
}

/* A failure at H for the charts: per host and per hour. */
static int
count_failure(struct freport *fr, const struct hit *h)
{
	int64_t hour = h->ts / 3600000;
	size_t at;

	fr->failures++;
	fr->hosts[h->host].fails++;
	if (fr->html == NULL)
		return 0;
	if (fr->nhours == 0)
		fr->hour0 = hour;
	/* time order across the fleet: a host whose clock went back counts
	 * in the first hour, one whose clock ran years ahead in the last the
	 * chart holds (HOURS_MAX: the memory stays bounded) */
	at = hour > fr->hour0 ? (size_t)(hour - fr->hour0) : 0;
	if (at >= HOURS_MAX)
		at = HOURS_MAX - 1;
	if (at >= fr->nhours) {
		uint32_t *t = reallocarray(fr->fail_hour, at + 1, sizeof(*t));

		if (t == NULL)
			return WARD_ERR_NOMEM;
		memset(t + fr->nhours, 0, (at + 1 - fr->nhours) * sizeof(*t));
		fr->fail_hour = t;
		fr->nhours = at + 1;
	}
	fr->fail_hour[at]++;
	return 0;
}

/* One record, in time order across the fleet. */
static int
look(struct freport *fr, size_t hi)
{
	const struct audit_record *r = &fr->hosts[hi].rec;
	const char *host = fr->hosts[hi].host;
	struct hit h = { r->ts_ms, (uint32_t)hi, r->seq, 0 };
	struct user *u;
	char what[768];
	int auth = r->event != NULL && strcmp(r->event, "auth") == 0;
	int ok = r->result != NULL && strcmp(r->result, "success") == 0;
	int fail = r->result != NULL && strcmp(r->result, "failure") == 0;
	int login = ok && r->event != NULL && (auth || strcmp(r->event, "session_open") == 0);
	int bg = r->event != NULL && strcmp(r->event, "breakglass") == 0 &&
	    r->result != NULL && strcmp(r->result, "granted") == 0;
	/* fleet mode: a workstation sent back a code it accepted offline and
	 * found it the directory's watermark already (daemon/core_fleet.c) */
	int offrep = r->event != NULL && strcmp(r->event, "fleet_sync") == 0 &&
	    r->result != NULL && strcmp(r->result, "replay_suspected") == 0;

	fr->records++;
	if (auth && fail && count_failure(fr, &h) != 0)
		return WARD_ERR_NOMEM;
	if (r->user == NULL || (!(auth && (ok || fail)) && !login && !bg && !offrep))
		return 0;
	if ((u = user_of(fr, r->user)) == NULL)
		return WARD_ERR_NOMEM;
	h.user = fnv(r->user);
	if (r->nroles > 0 && (auth || bg) &&
	    (u->role == NULL || strcmp(u->role->name, r->roles[0]) != 0) &&
	    (u->role = role_of(fr, r->roles[0])) == NULL)
		return WARD_ERR_NOMEM;
	if (offrep) {
		struct hit v[3];
		size_t n = 0;

		/* the user's last two accepted codes, where they were, then the
		 * record that found the step spent elsewhere */
		if (u->code_prev.ts != 0)
			v[n++] = u->code_prev;
		if (u->code.ts != 0)
			v[n++] = u->code;
		v[n++] = h;
		snprintf(what, sizeof(what), "user %s: %s accepted a code offline and, when the "
		    "directory answered again, found its step already the directory's watermark, "
		    "set by another workstation (rule: fleet_sync replay_suspected): the same "
		    "code was probably used twice while the directory was unreachable", u->name,
		    host);
		finding(fr, 6, u->name, host, what, v, n);
		return 0;
	}
	if (bg) {
		fr->breakglass++;
		if (u->bg < BG_KEEP)
			u->bgv[u->bg] = h;
		u->bg++;
		return 0;
	}
	if (auth && fail) {
		struct hostsvc *s;

		push_hit(u->fail, &u->nfail, RING, &h);
		rule_spread(fr, u);
		if ((s = hs_of(fr, host, r->service)) == NULL)
			return WARD_ERR_NOMEM;
		push_hit(s->fail, &s->nfail, SPRING, &h);
		rule_spray(fr, s, host, r->service);
		/* replay-elsewhere: a code refused as used (reason "replay",
		 * daemon/flow.c) where the code was not accepted */
		if (r->reason != NULL && strcmp(r->reason, "replay") == 0 && u->code.ts != 0 &&
		    h.ts - u->code.ts <= REPLAY_MS && (u->code.host != h.host ||
		    strcmp(u->code_service != NULL ? u->code_service : "",
		    r->service != NULL ? r->service : "") != 0)) {
			struct hit pair[2] = { u->code, h };

			snprintf(what, sizeof(what), "user %s's code, accepted on %s service %s, "
			    "was tried again %lld s later on %s service %s and refused as already "
			    "used (rule: within %d s, another host or service): someone else may "
			    "have seen the code", u->name, fr->hosts[u->code.host].host,
			    u->code_service != NULL ? u->code_service : "-",
			    (long long)((h.ts - u->code.ts) / 1000), host,
			    r->service != NULL ? r->service : "-", REPLAY_MS / 1000);
			finding(fr, 2, u->name, host, what, pair, 2);
		}
		return 0;
	}
	if (auth && ok && rule_offhours(fr, u, &h, r->roles, r->nroles) != 0)
		return WARD_ERR_NOMEM;
	if (auth && ok && r->factor != NULL && strcmp(r->factor, "totp") == 0) {
		char *sv = r->service != NULL ? strdup(r->service) : NULL;

		if (r->service != NULL && sv == NULL)
			return WARD_ERR_NOMEM;
		free(u->code_service);
		u->code_service = sv;
		u->code_prev = u->code;
		u->code = h;
	}
	/* impossible-presence: logins in two wards closer than the rule */
	if (u->login.ts != 0 && h.ts - u->login.ts <= fr->presence_ms &&
	    !same_ward(fr->hosts[u->login.host].host, host)) {
		struct hit pair[2] = { u->login, h };

		snprintf(what, sizeof(what), "user %s logged in on %s and %lld s later on %s, "
		    "a workstation of another ward (rule: wards differ by the host name "
		    "before its first '-', within %ld s): one of them is not that person",
		    u->name, fr->hosts[u->login.host].host,
		    (long long)((h.ts - u->login.ts) / 1000), host, fr->presence_ms / 1000);
		finding(fr, 3, u->name, NULL, what, pair, 2);
	}
	u->login = h;
	return 0;
}

/* ---- at the end: break-glass against peers, the charts' tops ---- */

struct bgrow {
	const struct role *role;
	uint32_t n;
	struct user *u;
};

static int
by_role_count(const void *a, const void *b)
{
	const struct bgrow *x = a, *y = b;
	uintptr_t rx = (uintptr_t)x->role, ry = (uintptr_t)y->role;

	if (rx != ry)
		return rx < ry ? -1 : 1;
	return x->n < y->n ? -1 : x->n > y->n;
}

static int
by_count_name(const void *a, const void *b)
{
	const struct bgrow *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->u->name, y->u->name);
}

/* The median of the N counts of V (sorted by count). */
static double
median(const struct bgrow *v, size_t n)
{
	if (n == 0)
		return 0;
	size_t mid = n / 2;

	return n % 2 ? (double)v[mid].n : ((double)v[mid - 1].n + (double)v[mid].n) / 2.0;
}

/* breakglass-peers: a person's break-glass count against the median of
 * their peers' (the users of their role when it has BG_PEERS or more, else
 * every user seen), zeros included.  Also fills TOP with the TOP_N who
 * claimed most (for the chart). */
static int
rule_breakglass(struct freport *fr, struct fr_named *top, size_t *ntop)
{
	size_t n = 0;
	struct bgrow *all, *byrole, *fire;
	size_t nfire = 0;
	double all_med;
	char what[768];

	*ntop = 0;
	if (fr->users.n == 0)
		return 0;
	all = calloc(fr->users.n, sizeof(*all));
	byrole = calloc(fr->users.n, sizeof(*byrole));
	fire = calloc(fr->users.n, sizeof(*fire));
	if (all == NULL || byrole == NULL || fire == NULL) {
		free(all);
		free(byrole);
		free(fire);
		return WARD_ERR_NOMEM;
	}
	for (size_t i = 0; i < fr->users.cap; i++) {
		struct user *u = (struct user *)fr->users.v[i];

		if (u == NULL)
			continue;
		all[n] = (struct bgrow){ NULL, u->bg, u };
		byrole[n] = (struct bgrow){ u->role, u->bg, u };
		if (u->role != NULL)
			u->role->members++;
		n++;
	}
	qsort(all, n, sizeof(*all), by_role_count);
	qsort(byrole, n, sizeof(*byrole), by_role_count);
	all_med = median(all, n);
	for (size_t i = 0; i < n;) {
		size_t e = i;
		double med;

		while (e < n && byrole[e].role == byrole[i].role)
			e++;
		med = median(byrole + i, e - i);
		for (size_t k = i; k < e; k++) {
			struct user *u = byrole[k].u;
			int by_role = u->role != NULL && u->role->members >= BG_PEERS;
			double m = by_role ? med : all_med;
			double lim = (double)fr->bg_factor * m;

			if (lim < (double)fr->bg_min)
				lim = (double)fr->bg_min;
			if ((double)u->bg > lim) {
				fire[nfire] = byrole[k];
				fire[nfire].role = by_role ? u->role : NULL;
				nfire++;
			}
		}
		i = e;
	}
	qsort(fire, nfire, sizeof(*fire), by_count_name);
	for (size_t i = 0; i < nfire; i++) {
		struct user *u = fire[i].u;
		const struct role *ro = fire[i].role;
		double m = ro != NULL ? 0 : all_med;
		size_t peers = ro != NULL ? ro->members : n;

		if (ro != NULL) {
			/* the role's median again, for the sentence */
			size_t a = 0;

			while (a < n && byrole[a].role != ro)
				a++;
			m = median(byrole + a, ro->members);
		}
		snprintf(what, sizeof(what), "user %s claimed break-glass %u times; the median "
		    "of their %zu peers (%s%s) is %g (rule: more than max(%ld, %ld x median) "
		    "= %g): more often than the people they work with; review each claim%s",
		    u->name, u->bg, peers, ro != NULL ? "role " : "every user seen",
		    ro != NULL ? ro->name : "", m, fr->bg_min, fr->bg_factor,
		    fr->bg_factor * m > fr->bg_min ? fr->bg_factor * m : (double)fr->bg_min,
		    u->bg > BG_KEEP ? " (the first 16 are named)" : "");
		finding(fr, 5, u->name, NULL, what, u->bgv, u->bg < BG_KEEP ? u->bg : BG_KEEP);
	}
	/* the chart: most claims first */
	for (size_t i = 0; i < n; i++)
		all[i].role = NULL;
	qsort(all, n, sizeof(*all), by_count_name);
	for (size_t i = 0; i < n && i < TOP_N && all[i].n > 0; i++)
		top[(*ntop)++] = (struct fr_named){ all[i].u->name, all[i].n };
	free(all);
	free(byrole);
	free(fire);
	return 0;
}

/* The TOP_N hosts with most authentication failures into TOP. */
static void
top_hosts(const struct freport *fr, struct fr_named *top, size_t *ntop)
{
	*ntop = 0;
	for (size_t i = 0; i < fr->nhosts; i++) {
		const struct cursor *c = &fr->hosts[i];
		size_t k;

		if (c->fails == 0)
			continue;
		/* into the sorted top (count down; hosts come in name order) */
		for (k = *ntop; k > 0 && top[k - 1].n < c->fails; k--)
			;
		if (k >= TOP_N)
			continue;
		if (*ntop < TOP_N)
			(*ntop)++;
		memmove(top + k + 1, top + k, (*ntop - 1 - k) * sizeof(*top));
		top[k] = (struct fr_named){ c->host, c->fails };
	}
}

static void
free_all(struct freport *fr)
{
	for (size_t i = 0; i < fr->nhosts; i++) {
		struct cursor *c = &fr->hosts[i];

		cursor_close(c);
		free(c->buf);
		free(c->dec);
		free(c->roles);
		audit_fileset_free(&c->set);
	}
	free(fr->hosts);
	free(fr->heap);
	for (size_t i = 0; i < fr->users.cap; i++) {
		struct user *u = (struct user *)fr->users.v[i];

		if (u != NULL)
			free(u->code_service);
	}
	table_free(&fr->users);
	table_free(&fr->roles);
	table_free(&fr->hs);
	for (size_t i = 0; i < fr->nkept; i++) {
		free(fr->kept[i].user);
		free(fr->kept[i].host);
		free(fr->kept[i].what);
		free(fr->kept[i].recs);
	}
	free(fr->kept);
	for (size_t i = 0; i < fr->nleft; i++)
		free(fr->left[i]);
	free(fr->left);
	free(fr->fail_hour);
}

/* --NAME's value (S; NULL: DEF) into *V, LO to HI. */
static int
num_opt(const char *name, const char *s, long def, long lo, long hi, long *v)
{
	char *end;
	long x;

	if (s == NULL) {
		*v = def;
		return 0;
	}
	errno = 0;
	x = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || x < lo || x > hi) {
		fprintf(stderr, "wardctl: --%s: %ld to %ld, not \"%s\"\n", name, lo, hi, s);
		return -1;
	}
	*v = x;
	return 0;
}

/* The HTML report's file: made for the caller only (it names people). */
static FILE *
html_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f;

	if (fd < 0) {
		fprintf(stderr, "wardctl: --html %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "wardctl: --html %s: %s\n", path, strerror(errno));
		close(fd);
	}
	return f;
}

/* V as a JSON list of {KEY: name, "n": count}. */
static void
json_named(const char *key, const struct fr_named *v, size_t n)
{
	putchar('[');
	for (size_t i = 0; i < n; i++) {
		struct jobj j;

		jobj_begin(&j, stdout, i > 0);
		jobj_str(&j, key, v[i].name);
		jobj_num(&j, "n", (long long)v[i].n);
		jobj_end(&j);
	}
	putchar(']');
}

/* The numbers the charts draw, in the text or JSON report. */
static void
print_tops(const struct freport *fr, const struct fr_named *th, size_t nth,
    const struct fr_named *tb, size_t ntb)
{
	if (fr->o->json) {
		printf(",\"auth_failures\":%llu,\"breakglass\":%llu,\"failures_by_host\":",
		    (unsigned long long)fr->failures, (unsigned long long)fr->breakglass);
		json_named("host", th, nth);
		printf(",\"breakglass_by_person\":");
		json_named("user", tb, ntb);
		return;
	}
	printf("authentication failures %llu, break-glass %llu\n",
	    (unsigned long long)fr->failures, (unsigned long long)fr->breakglass);
	printf("failures by host (top %d):", TOP_N);
	for (size_t i = 0; i < nth; i++)
		printf(" %s %llu%s", th[i].name, (unsigned long long)th[i].n,
		    i + 1 < nth ? "," : "");
	printf("%s\nbreak-glass by person (top %d):", nth ? "" : " none", TOP_N);
	for (size_t i = 0; i < ntb; i++) {
		putchar(' ');
		tprint(stdout, tb[i].name, 0);
		printf(" %llu%s", (unsigned long long)tb[i].n, i + 1 < ntb ? "," : "");
	}
	printf("%s\n", ntb ? "" : " none");
}

/* (the analyzer's report above, at the calls reaching the cursor's
 * buffers: suppressed here too) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
int
audit_report_fleet_cmd(const struct wopts *o)
{
	struct freport fr;
	struct timespec t0, t1;
	struct rlimit rl;
	struct fr_named th[TOP_N], tb[TOP_N];
	size_t nth = 0, ntb = 0;
	char thresholds[512];
	double secs;
	int r, rc = WEXIT_ERR;

	memset(&fr, 0, sizeof(fr));
	fr.o = o;
	fr.users.vsize = sizeof(struct user);
	fr.roles.vsize = sizeof(struct role);
	fr.hs.vsize = sizeof(struct hostsvc);
	if (o->fleet_key == NULL || o->nargs > 1) {
		fprintf(stderr, "wardctl: audit report --fleet DIR --fleet-key FILE\n");
		return WEXIT_ERR;
	}
	if (num_opt("presence-minutes", o->presence_minutes, PRESENCE_MIN, 1, 24 * 60,
	    &fr.presence_ms) != 0 ||
	    num_opt("offhours-history", o->offhours_history, OFF_HISTORY, 1, 1000000,
	    &fr.off_history) != 0 ||
	    num_opt("offhours-role-history", o->offhours_role_history, OFF_ROLE_HISTORY, 1,
	    100000000, &fr.off_role_history) != 0 ||
	    num_opt("offhours-max", o->offhours_max, OFF_MAX, 0, 1000000, &fr.off_max) != 0 ||
	    num_opt("breakglass-min", o->breakglass_min, BG_MIN, 0, 1000000, &fr.bg_min) != 0 ||
	    num_opt("breakglass-factor", o->breakglass_factor, BG_FACTOR, 1, 1000,
	    &fr.bg_factor) != 0)
		return WEXIT_ERR;
	fr.presence_ms *= 60000L;
	snprintf(thresholds, sizeof(thresholds), "user-many-hosts: %d or more hosts within "
	    "%d s; spray: %d or more users within %d s; replay-elsewhere: within %d s; "
	    "impossible-presence: within %ld min; off-hours: at most %ld logins within %d "
	    "hours of that time of week, after %ld logins of the user's (%ld of the role's); "
	    "breakglass-peers: more than max(%ld, %ld x the peers' median)", SPREAD_HOSTS,
	    SPREAD_MS / 1000, SPRAY_USERS, SPRAY_MS / 1000, REPLAY_MS / 1000,
	    fr.presence_ms / 60000, fr.off_max, OFF_NEAR, fr.off_history, fr.off_role_history,
	    fr.bg_min, fr.bg_factor);
	if (o->html != NULL && (fr.html = html_open(o->html)) == NULL)
		return WEXIT_ERR;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (o->json)
		printf("{\"left_out\":[");
	r = audit_verify_fleet(o->fleet, o->fleet_key, keep_host, &fr, fr.err, sizeof(fr.err));
	if (o->json)
		printf("],\"findings\":[");
	if (r != 0 && r != WARD_ERR_CORRUPT && r != WARD_ERR_IO) {
		fflush(stdout);
		fprintf(stderr, "wardctl: audit report --fleet: %s\n", r == WARD_ERR_NOMEM ?
		    "out of memory" : fr.err);
		goto out;
	}
	/* every host's current file is open at once */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < fr.nhosts + 64) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((fr.heap = calloc(fr.nhosts ? fr.nhosts : 1, sizeof(*fr.heap))) == NULL) {
		snprintf(fr.err, sizeof(fr.err), "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < fr.nhosts; i++) {
		struct cursor *c = &fr.hosts[i];
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s/audit.log", o->fleet, c->host);
		if (audit_files(path, &c->set, fr.err, sizeof(fr.err)) != 0 ||
		    cursor_next(&fr, c) != 0)
			goto fail;
		if (!c->done)
			fr.heap[fr.nheap++] = i;
	}
	for (size_t i = fr.nheap / 2; i-- > 0;)
		sift_down(&fr, i);
	while (fr.nheap > 0) {
		size_t top = fr.heap[0];

		if (look(&fr, top) != 0) {
			snprintf(fr.err, sizeof(fr.err), "out of memory");
			goto fail;
		}
		if (cursor_next(&fr, &fr.hosts[top]) != 0)
			goto fail;
		if (fr.hosts[top].done)
			fr.heap[0] = fr.heap[--fr.nheap];
		sift_down(&fr, 0);
	}
	if (rule_breakglass(&fr, tb, &ntb) != 0 || fr.oom) {
		snprintf(fr.err, sizeof(fr.err), "out of memory");
		goto fail;
	}
	top_hosts(&fr, th, &nth);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (o->json) {
		printf("],\"hosts\":%zu,\"records\":%llu,\"users\":%zu", fr.nhosts,
		    (unsigned long long)fr.records, fr.users.n);
		for (size_t i = 0; i < NRULES; i++)
			printf(",\"%s\":%zu", rule_names[i], fr.by_rule[i]);
		print_tops(&fr, th, nth, tb, ntb);
		printf(",\"seconds\":%.3f}\n", secs);
	} else {
		printf("fleet %s: %zu host%s analysed (%zu left out), %llu records, %zu users, "
		    "%zu finding%s", o->fleet, fr.nhosts, fr.nhosts == 1 ? "" : "s",
		    fr.bad_hosts, (unsigned long long)fr.records, fr.users.n, fr.findings,
		    fr.findings == 1 ? "" : "s");
		for (size_t i = 0; i < NRULES; i++)
			printf("%s %s %zu", i ? "," : ":", rule_names[i], fr.by_rule[i]);
		putchar('\n');
		print_tops(&fr, th, nth, tb, ntb);
		printf("verified and analysed in %.2f s (%.0f records/s, both passes)\n", secs,
		    secs > 0 ? (double)fr.records / secs : 0.0);
	}
	if (fr.html != NULL) {
		struct fr_view v = { o->fleet, fr.nhosts, fr.bad_hosts, fr.users.n, fr.records,
			fr.failures, fr.breakglass, rule_names, fr.by_rule, NRULES, fr.kept,
			fr.nkept, (const char *const *)fr.left, fr.nleft, fr.hour0 * 3600000,
			fr.fail_hour, fr.nhours, th, nth, tb, ntb, thresholds };
		FILE *hf = fr.html;

		fr.html = NULL;
		if (fleet_html(hf, &v) != 0 || fclose(hf) != 0) {
			fprintf(stderr, "wardctl: --html %s: cannot write: %s\n", o->html,
			    strerror(errno));
			goto out;
		}
	}
	rc = fr.findings > 0 || fr.bad_hosts > 0 ? WEXIT_NO : WEXIT_OK;
	goto out;
fail:
	if (o->json)
		printf("]}\n");
	fflush(stdout);
	fprintf(stderr, "wardctl: audit report --fleet: %s\n", fr.err);
out:
	if (fr.html != NULL)
		fclose(fr.html);
	if (rc == WEXIT_ERR && o->html != NULL)
		(void)unlink(o->html);    /* no half-written report */
	free_all(&fr);
	return rc;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
