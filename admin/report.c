/*
 * report.c - the analysis behind wardctl audit report: one pass over the
 * log tallies failures, lockouts, denials and break-glass claims in the
 * window, and the access history of each person; the detectors then look
 * for accesses at an hour unusual for the person, many users failing from
 * one source within minutes (spraying), and break-glass claimed often; a
 * fleet_sync record "replay_suspected" (a code accepted offline here that
 * another workstation had used: wardd(8), FLEET) is a finding of its own.
 * Reading only: nothing here writes the log.  cmd_audit.c prints the
 * findings.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "report.h"
#include "wardctl.h"

struct tsv {                 /* a growing array of times (+ a number each) */
	int64_t *t;
	size_t *x;
	size_t n, cap;
};

static int
tsv_add(struct tsv *v, int64_t t, size_t x)
{
	if (v->n == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 8;
		int64_t *nt = realloc(v->t, nc * sizeof(*nt));
		size_t *nx;
		if (nt == NULL)
			return -1;
		v->t = nt;
		if ((nx = realloc(v->x, nc * sizeof(*nx))) == NULL)
			return -1;
		v->x = nx;
		v->cap = nc;
	}
	v->t[v->n] = t;
	v->x[v->n++] = x;
	return 0;
}

struct person {
	unsigned hours[24];      /* accesses by local hour, all history */
	unsigned total;
	unsigned failures, lockouts, denials, breakglass;
	int64_t last_bg;
	char *last_bg_reason;
	struct tsv bg;           /* break-glass times in the window */
};

struct counter {
	unsigned long n;
	struct smap users;       /* distinct users */
};

#define SPRAY_USERS 5
#define SPRAY_WINDOW_MS (10 * 60 * 1000LL)
#define BG_OFTEN 3
#define BG_WINDOW_MS (7 * 86400 * 1000LL)
#define HOUR_MIN_HISTORY 20
#define HOUR_RARE_PCT 5

struct rctx {
	int64_t since;
	unsigned long records, in_window;
	int64_t first, last;
	struct smap users;
	struct person *people;
	size_t npeople_cap;
	struct smap rules;
	struct counter *rule_n;
	size_t nrules_cap;
	struct smap sources;     /* failures by source (rhost, else host) */
	struct tsv *src_fail;
	size_t nsrc_cap;
	struct tsv access;       /* accesses in the window: time, person */
	struct tsv lockouts;     /* lockouts in the window: time, person */
	char **lock_host;        /* where (by lockout index) */
	size_t lock_cap;
	struct report_anomaly *replays;   /* fleet_sync replay_suspected records */
	size_t nreplays, replays_cap;
	int oom;
};

static int
grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 64;
	while (nc < need)
		nc *= 2;
	void *np = realloc(*p, nc * elem);
	if (np == NULL)
		return -1;
	memset((char *)np + *cap * elem, 0, (nc - *cap) * elem);
	*p = np;
	*cap = nc;
	return 0;
}

static size_t
person_of(struct rctx *c, const char *user)
{
	int added;
	size_t i = smap_get(&c->users, user, &added);

	if (i == (size_t)-1 || grow((void **)&c->people, &c->npeople_cap, i + 1,
	    sizeof(*c->people)) != 0) {
		c->oom = 1;
		return (size_t)-1;
	}
	return i;
}

static int
local_hour(int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	return localtime_r(&t, &tm) ? tm.tm_hour : 0;
}

static int
is_access(int ev, int res)
{
	return (ev == AUDIT_EV_ACCOUNT && res == AUDIT_RES_ALLOW) ||
	    (ev == AUDIT_EV_BREAKGLASS && res == AUDIT_RES_GRANTED) ||
	    (ev == AUDIT_EV_AUTH && res == AUDIT_RES_SUCCESS);
}

static int
report_each(void *vctx, const struct audit_record *r, const char *line, size_t len)
{
	struct rctx *c = vctx;
	size_t p = (size_t)-1;
	int in = r->ts_ms >= c->since;
	int ev = audit_event_from(r->event), res = audit_result_from(r->result);

	(void)line;
	(void)len;
	c->records++;
	if (r->user != NULL && (p = person_of(c, r->user)) == (size_t)-1)
		return 0;
	if (p != (size_t)-1 && is_access(ev, res)) {
		c->people[p].hours[local_hour(r->ts_ms)]++;
		c->people[p].total++;
		if (in && tsv_add(&c->access, r->ts_ms, p) != 0)
			c->oom = 1;
	}
	if (!in)
		return 0;
	if (c->in_window++ == 0)
		c->first = r->ts_ms;
	c->last = r->ts_ms;
	if (ev == AUDIT_EV_AUTH && res == AUDIT_RES_FAILURE && p != (size_t)-1) {
		const char *src = r->rhost && r->rhost[0] ? r->rhost : r->host;
		int added;
		size_t s = smap_get(&c->sources, src, &added);

		c->people[p].failures++;
		if (s == (size_t)-1 || grow((void **)&c->src_fail, &c->nsrc_cap, s + 1,
		    sizeof(*c->src_fail)) != 0 || tsv_add(&c->src_fail[s], r->ts_ms, p) != 0)
			c->oom = 1;
	}
	if (ev == AUDIT_EV_LOCKOUT && p != (size_t)-1) {
		c->people[p].lockouts++;
		if (tsv_add(&c->lockouts, r->ts_ms, p) != 0 ||
		    grow((void **)&c->lock_host, &c->lock_cap, c->lockouts.n,
		    sizeof(char *)) != 0 ||
		    (c->lock_host[c->lockouts.n - 1] = strdup(r->host)) == NULL)
			c->oom = 1;
	}
	if (ev == AUDIT_EV_ACCOUNT && res == AUDIT_RES_DENY) {
		int added;
		size_t k = smap_get(&c->rules, r->rule ? r->rule : "(no rule)", &added);

		if (p != (size_t)-1)
			c->people[p].denials++;
		if (k == (size_t)-1 || grow((void **)&c->rule_n, &c->nrules_cap, k + 1,
		    sizeof(*c->rule_n)) != 0) {
			c->oom = 1;
		} else {
			c->rule_n[k].n++;
			if (r->user != NULL && smap_get(&c->rule_n[k].users, r->user, &added) ==
			    (size_t)-1)
				c->oom = 1;
		}
	}
	if (ev == AUDIT_EV_FLEET_SYNC && res == AUDIT_RES_REPLAY_SUSPECTED) {
		struct report_anomaly *an;

		if (grow((void **)&c->replays, &c->replays_cap, c->nreplays + 1,
		    sizeof(*c->replays)) != 0) {
			c->oom = 1;
		} else {
			an = &c->replays[c->nreplays++];
			an->kind = "fleet_replay_suspected";
			snprintf(an->who, sizeof(an->who), "%s", r->user ? r->user : "(no user)");
			an->ts = r->ts_ms;
			snprintf(an->text, sizeof(an->text), "record seq %llu on %s: %s",
			    (unsigned long long)r->seq, r->host ? r->host : "?",
			    r->detail ? r->detail : "a code accepted offline may have been "
			    "used on another workstation too");
		}
	}
	if (ev == AUDIT_EV_BREAKGLASS && res == AUDIT_RES_GRANTED && p != (size_t)-1) {
		struct person *pp = &c->people[p];
		pp->breakglass++;
		pp->last_bg = r->ts_ms;
		free(pp->last_bg_reason);
		pp->last_bg_reason = strdup(r->reason ? r->reason : r->detail ? r->detail : "");
		if (tsv_add(&pp->bg, r->ts_ms, 0) != 0)
			c->oom = 1;
	}
	return 0;
}

/* Sort helpers: indexes by a count, descending, then by name. */
static const unsigned *sort_counts;
static char **sort_names;

static int
by_count(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	if (sort_counts[x] != sort_counts[y])
		return sort_counts[x] < sort_counts[y] ? 1 : -1;
	return strcmp(sort_names[x], sort_names[y]);
}

static size_t *
ranked(unsigned *counts, char **names, size_t n, size_t *out_n)
{
	size_t *ix = malloc((n ? n : 1) * sizeof(*ix)), k = 0;

	if (ix == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (counts[i] > 0)
			ix[k++] = i;
	sort_counts = counts;
	sort_names = names;
	qsort(ix, k, sizeof(*ix), by_count);
	*out_n = k;
	return ix;
}

struct anomalies {
	struct report_anomaly *a;
	size_t n, cap;
};

/* Append an anomaly of KIND about WHO at TS; -1 when out of memory. */
static int
anomaly_add(struct anomalies *l, const char *kind, const char *who, int64_t ts,
    const char *fmt, ...) WARD_PRINTF(5, 6);

static int
anomaly_add(struct anomalies *l, const char *kind, const char *who, int64_t ts,
    const char *fmt, ...)
{
	struct report_anomaly *an;
	va_list ap;

	if (grow((void **)&l->a, &l->cap, l->n + 1, sizeof(*l->a)) != 0)
		return -1;
	an = &l->a[l->n++];
	an->kind = kind;
	snprintf(an->who, sizeof(an->who), "%s", who);
	an->ts = ts;
	va_start(ap, fmt);
	vsnprintf(an->text, sizeof(an->text), fmt, ap);
	va_end(ap);
	return 0;
}

/* Access at an hour unusual for that person: fewer than HOUR_RARE_PCT of
 * the person's past accesses (at least HOUR_MIN_HISTORY) in that hour or
 * the two beside it.  Once per person and hour. */
static int
detect_unusual_hours(const struct rctx *c, struct anomalies *al)
{
	for (size_t i = 0; i < c->access.n; i++) {
		const struct person *pp = &c->people[c->access.x[i]];
		const char *who = c->users.keys[c->access.x[i]];
		int h = local_hour(c->access.t[i]);
		unsigned near = pp->hours[h] + pp->hours[(h + 23) % 24] + pp->hours[(h + 1) % 24];

		if (pp->total < HOUR_MIN_HISTORY || near * 100 > pp->total * HOUR_RARE_PCT)
			continue;
		if (al->n > 0 && strcmp(al->a[al->n - 1].kind, "unusual_hour") == 0 &&
		    strcmp(al->a[al->n - 1].who, who) == 0 &&
		    al->a[al->n - 1].ts / 3600000 == c->access.t[i] / 3600000)
			continue;
		if (anomaly_add(al, "unusual_hour", who, c->access.t[i],
		    "access at %02d:xx; %u of %u past accesses of this person were between "
		    "%02d:00 and %02d:59", h, near, pp->total, (h + 23) % 24, (h + 1) % 24) != 0)
			return -1;
	}
	return 0;
}

/*
 * Many users failing from one source within SPRAY_WINDOW: a window
 * slides over the source's failures (in log order) with a count per
 * person in it, so each failure is counted once as it enters and once
 * as it leaves - linear in the failures, however many fall in one
 * window.  The counts are back to zero after each source.
 */
static int
detect_spraying(const struct rctx *c, struct anomalies *al)
{
	size_t *in_win;

	if (c->sources.n == 0)
		return 0;
	if ((in_win = calloc(c->users.n, sizeof(*in_win))) == NULL)
		return -1;
	for (size_t s = 0; s < c->sources.n; s++) {
		const struct tsv *v = &c->src_fail[s];
		size_t best = 0, best_at = 0, lo = 0, distinct = 0;

		for (size_t hi = 0; hi < v->n; hi++) {
			distinct += in_win[v->x[hi]]++ == 0;
			while (v->t[hi] - v->t[lo] > SPRAY_WINDOW_MS)
				distinct -= --in_win[v->x[lo++]] == 0;
			if (distinct > best) {
				best = distinct;
				best_at = hi;
			}
		}
		while (lo < v->n)
			in_win[v->x[lo++]]--;
		if (best < SPRAY_USERS)
			continue;
		if (anomaly_add(al, "spraying", c->sources.keys[s], v->t[best_at], "%zu different "
		    "users failed to authenticate from this workstation within %lld minutes "
		    "(%zu failures in all)", best, SPRAY_WINDOW_MS / 60000, v->n) != 0) {
			free(in_win);
			return -1;
		}
	}
	free(in_win);
	return 0;
}

/* Break-glass claimed often: BG_OFTEN or more within BG_WINDOW. */
static int
detect_breakglass_often(const struct rctx *c, struct anomalies *al)
{
	for (size_t p = 0; p < c->users.n; p++) {
		const struct tsv *v = &c->people[p].bg;
		size_t lo = 0, best = 0, at = 0;

		for (size_t hi = 0; hi < v->n; hi++) {
			while (v->t[hi] - v->t[lo] > BG_WINDOW_MS)
				lo++;
			if (hi - lo + 1 > best) {
				best = hi - lo + 1;
				at = hi;
			}
		}
		if (best < BG_OFTEN)
			continue;
		if (anomaly_add(al, "breakglass_often", c->users.keys[p], v->t[at], "break-glass "
		    "claimed %zu times within 7 days", best) != 0)
			return -1;
	}
	return 0;
}

/* The rows of NAMES (N of them) with COUNTS above 0, ranked, into *OUT;
 * *IX (malloc'd) the index in NAMES of each row. */
static int
rank_rows(unsigned *counts, char **names, size_t n, struct report_count **out, size_t *nout,
    size_t **ix)
{
	if ((*ix = ranked(counts, names, n, nout)) == NULL ||
	    (*out = calloc(*nout + 1, sizeof(**out))) == NULL)
		return -1;
	for (size_t i = 0; i < *nout; i++) {
		(*out)[i].name = names[(*ix)[i]];
		(*out)[i].count = counts[(*ix)[i]];
	}
	return 0;
}

/* The ranked lists and the lockouts of C into REP. */
static int
report_lists(const struct rctx *c, struct report *rep)
{
	unsigned *counts = calloc(c->users.n + c->rules.n + 1, sizeof(*counts));
	size_t *ix = NULL;
	int r = -1;

	if (counts == NULL)
		return -1;
	for (size_t i = 0; i < c->users.n; i++)
		counts[i] = c->people[i].failures;
	if (rank_rows(counts, c->users.keys, c->users.n, &rep->failures, &rep->nfailures,
	    &ix) != 0)
		goto out;
	free(ix);
	for (size_t i = 0; i < c->rules.n; i++)
		counts[i] = (unsigned)c->rule_n[i].n;
	if (rank_rows(counts, c->rules.keys, c->rules.n, &rep->denials, &rep->ndenials, &ix) != 0)
		goto out;
	for (size_t i = 0; i < rep->ndenials; i++)
		rep->denials[i].people = c->rule_n[ix[i]].users.n;
	free(ix);
	for (size_t i = 0; i < c->users.n; i++)
		counts[i] = c->people[i].breakglass;
	if (rank_rows(counts, c->users.keys, c->users.n, &rep->breakglass, &rep->nbreakglass,
	    &ix) != 0)
		goto out;
	for (size_t i = 0; i < rep->nbreakglass; i++) {
		rep->breakglass[i].last = c->people[ix[i]].last_bg;
		rep->breakglass[i].last_reason = c->people[ix[i]].last_bg_reason;
	}
	if ((rep->lockouts = calloc(c->lockouts.n + 1, sizeof(*rep->lockouts))) == NULL)
		goto out;
	for (size_t i = 0; i < c->lockouts.n; i++) {
		rep->lockouts[i].user = c->users.keys[c->lockouts.x[i]];
		rep->lockouts[i].host = c->lock_host[i];
		rep->lockouts[i].ts = c->lockouts.t[i];
	}
	rep->nlockouts = c->lockouts.n;
	r = 0;
out:
	free(ix);
	free(counts);
	return r;
}

int
report_build(const char *const *files, size_t nfiles, int64_t since, struct report *rep,
    char *err, size_t len)
{
	struct anomalies al = { NULL, 0, 0 };
	struct rctx *c;

	memset(rep, 0, sizeof(*rep));
	if ((c = rep->tally = calloc(1, sizeof(*c))) == NULL)
		goto oom;
	c->since = since;
	if (audit_each(files, nfiles, report_each, c, err, len) != 0)
		return -1;
	if (c->oom)
		goto oom;
	rep->records = c->records;
	rep->in_window = c->in_window;
	rep->first = c->first;
	rep->last = c->last;
	if (detect_unusual_hours(c, &al) != 0 || detect_spraying(c, &al) != 0 ||
	    detect_breakglass_often(c, &al) != 0) {
		free(al.a);
		goto oom;
	}
	for (size_t i = 0; i < c->nreplays; i++) {
		if (grow((void **)&al.a, &al.cap, al.n + 1, sizeof(*al.a)) != 0) {
			free(al.a);
			goto oom;
		}
		al.a[al.n++] = c->replays[i];
	}
	rep->anomalies = al.a;
	rep->nanomalies = al.n;
	if (report_lists(c, rep) != 0)
		goto oom;
	return 0;
oom:
	snprintf(err, len, "out of memory");
	return -1;
}

void
report_free(struct report *rep)
{
	struct rctx *c = rep->tally;

	free(rep->failures);
	free(rep->denials);
	free(rep->breakglass);
	free(rep->lockouts);
	free(rep->anomalies);
	if (c != NULL) {
		for (size_t i = 0; i < c->users.n; i++) {
			free(c->people[i].last_bg_reason);
			free(c->people[i].bg.t);
			free(c->people[i].bg.x);
		}
		free(c->people);
		for (size_t i = 0; i < c->rules.n; i++)
			smap_free(&c->rule_n[i].users);
		free(c->rule_n);
		for (size_t i = 0; i < c->sources.n; i++) {
			free(c->src_fail[i].t);
			free(c->src_fail[i].x);
		}
		free(c->src_fail);
		for (size_t i = 0; i < c->lockouts.n; i++)
			free(c->lock_host[i]);
		free(c->lock_host);
		free(c->replays);
		free(c->lockouts.t);
		free(c->lockouts.x);
		free(c->access.t);
		free(c->access.x);
		smap_free(&c->users);
		smap_free(&c->rules);
		smap_free(&c->sources);
		free(c);
	}
	memset(rep, 0, sizeof(*rep));
}
