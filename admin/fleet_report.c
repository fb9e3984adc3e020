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
 *  - then stream: every host's files are read line by line, the hosts
 *    merged by time through a heap (one parsed record per host in memory);
 *    the rules keep per user and per host+service small fixed windows, so
 *    memory grows with the number of hosts, users and services, never with
 *    the number of records;
 *  - each finding names its rule, its numbers and the records (host, seq,
 *    time) behind it, and is printed when found (text, or --json).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "audit.h"
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
	char *code_service;
	struct hit login;                /* last successful login or session (ts 0: none) */
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
	FILE *f;
	char *line;
	size_t cap;
	uint64_t upto;                   /* the last seq that verified */
	struct audit_record rec;         /* the current record (parsed) */
	int done;
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
	struct table hs;                 /* of struct hostsvc */
	uint64_t records;
	size_t findings, by_rule[4], bad_hosts;
	long presence_ms;
	char err[1024];
};

static const char *const rule_names[] = { "user-many-hosts", "spray", "replay-elsewhere",
	"impossible-presence" };

/* ---- verification first ---- */

static int
keep_host(void *ctx, const struct audit_fleet_host *h)
{
	struct freport *fr = ctx;
	struct cursor *c;

	if (h->rc != 0) {
		fr->bad_hosts++;
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
	snprintf(c->host, sizeof(c->host), "%.*s", AUDIT_HOST_MAX, h->host);
	c->upto = h->res.last_seq;
	return 0;
}

/* ---- the per-host cursors, merged by time ---- */

/*
 * The next record of C into C->rec (C->done at the end).  gcc 12's
 * -fanalyzer reports the file opened into C->f (a cursor in the heap) as
 * leaked: it is closed here at its end, or by free_all.  Suppressed for
 * this function only.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-file-leak"
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
static int
cursor_next(struct freport *fr, struct cursor *c)
{
	char perr[256];

	audit_record_free(&c->rec);
	for (;;) {
		ssize_t n;

		if (c->f == NULL) {
			if (c->file >= c->set.n) {
				c->done = 1;
				return 0;
			}
			if ((c->f = fopen(c->set.v[c->file], "re")) == NULL) {
				snprintf(fr->err, sizeof(fr->err), "%s: %s", c->set.v[c->file],
				    strerror(errno));
				return WARD_ERR_IO;
			}
		}
		n = getline(&c->line, &c->cap, c->f);
		if (n < 0) {
			fclose(c->f);
			c->f = NULL;
			c->file++;
			continue;
		}
		if (n > 0 && c->line[n - 1] == '\n')
			n--;
		if (audit_parse_line(c->line, (size_t)n, &c->rec, perr, sizeof(perr)) != 0) {
			snprintf(fr->err, sizeof(fr->err), "%s: %s (changed since it verified?)",
			    c->set.v[c->file], perr);
			return WARD_ERR_PARSE;
		}
		if (c->rec.seq > c->upto) {      /* appended after the verification */
			audit_record_free(&c->rec);
			fclose(c->f);
			c->f = NULL;
			c->file = c->set.n;
			c->done = 1;
			return 0;
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

static void
ts_of(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	buf[0] = '\0';
	if (gmtime_r(&t, &tm) != NULL)
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
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

			ts_of(h[i].ts, ts, sizeof(ts));
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
		ts_of(h[i].ts, ts, sizeof(ts));
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

	fr->records++;
	if (r->user == NULL || (!(auth && (ok || fail)) && !login))
		return 0;
	if ((u = user_of(fr, r->user)) == NULL)
		return WARD_ERR_NOMEM;
	h.user = fnv(r->user);
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
	if (auth && ok && r->factor != NULL && strcmp(r->factor, "totp") == 0) {
		char *sv = r->service != NULL ? strdup(r->service) : NULL;

		if (r->service != NULL && sv == NULL)
			return WARD_ERR_NOMEM;
		free(u->code_service);
		u->code_service = sv;
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

static void
free_all(struct freport *fr)
{
	for (size_t i = 0; i < fr->nhosts; i++) {
		struct cursor *c = &fr->hosts[i];

		if (c->f != NULL)
			fclose(c->f);
		free(c->line);
		audit_record_free(&c->rec);
		audit_fileset_free(&c->set);
	}
	free(fr->hosts);
	free(fr->heap);
	for (size_t i = 0; i < fr->users.cap; i++) {
		struct user *u = (struct user *)fr->users.v[i];

		if (u != NULL) {
			free(u->name);
			free(u->code_service);
			free(u);
		}
	}
	free(fr->users.v);
	for (size_t i = 0; i < fr->hs.cap; i++) {
		struct hostsvc *h = (struct hostsvc *)fr->hs.v[i];

		if (h != NULL) {
			free(h->key);
			free(h);
		}
	}
	free(fr->hs.v);
}

static int
presence_opt(const char *s, long *ms)
{
	char *end;
	long v;

	if (s == NULL) {
		*ms = PRESENCE_MIN * 60000L;
		return 0;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 24 * 60) {
		fprintf(stderr, "wardctl: --presence-minutes: 1 to 1440, not \"%s\"\n", s);
		return -1;
	}
	*ms = v * 60000L;
	return 0;
}

int
audit_report_fleet_cmd(const struct wopts *o)
{
	struct freport fr;
	struct timespec t0, t1;
	struct rlimit rl;
	double secs;
	int r, rc = WEXIT_ERR;

	memset(&fr, 0, sizeof(fr));
	fr.o = o;
	fr.users.vsize = sizeof(struct user);
	fr.hs.vsize = sizeof(struct hostsvc);
	if (o->fleet_key == NULL || o->nargs > 1) {
		fprintf(stderr, "wardctl: audit report --fleet DIR --fleet-key FILE\n");
		return WEXIT_ERR;
	}
	if (presence_opt(o->presence_minutes, &fr.presence_ms) != 0)
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
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (o->json) {
		printf("],\"hosts\":%zu,\"records\":%llu,\"users\":%zu", fr.nhosts,
		    (unsigned long long)fr.records, fr.users.n);
		for (size_t i = 0; i < 4; i++)
			printf(",\"%s\":%zu", rule_names[i], fr.by_rule[i]);
		printf(",\"seconds\":%.3f}\n", secs);
	} else {
		printf("fleet %s: %zu host%s analysed (%zu left out), %llu records, %zu users, "
		    "%zu finding%s", o->fleet, fr.nhosts, fr.nhosts == 1 ? "" : "s",
		    fr.bad_hosts, (unsigned long long)fr.records, fr.users.n, fr.findings,
		    fr.findings == 1 ? "" : "s");
		for (size_t i = 0; i < 4; i++)
			printf("%s %s %zu", i ? "," : ":", rule_names[i], fr.by_rule[i]);
		printf("\nverified and analysed in %.2f s (%.0f records/s, both passes)\n", secs,
		    secs > 0 ? (double)fr.records / secs : 0.0);
	}
	rc = fr.findings > 0 || fr.bad_hosts > 0 ? WEXIT_NO : WEXIT_OK;
	goto out;
fail:
	if (o->json)
		printf("]}\n");
	fflush(stdout);
	fprintf(stderr, "wardctl: audit report --fleet: %s\n", fr.err);
out:
	free_all(&fr);
	return rc;
}
