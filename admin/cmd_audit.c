/*
 * cmd_audit.c - wardctl audit verify|query|report|export, and the admin
 * records every changing wardctl command writes.
 *
 * Rules it keeps:
 *  - A change is refused when its audit record could not be written
 *    (checked before the change); if writing fails after the change
 *    anyway, the command says so and exits 2.
 *  - No secret, code or key ever goes into a record: the detail names the
 *    action and who ran it.
 *  - Text output never passes a record's control bytes to the terminal.
 *  - Reading commands (query, report) never change the log; export of a
 *    person's records is itself recorded (access to personal data).
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "wardctl.h"

/* ---- admin records ---- */

int
wardctl_audit_begin(const struct ward_conf *conf, struct state *st, const char *action,
    struct audit_log **log)
{
	char err[1024];

	*log = NULL;
	err[0] = '\0';
	if (audit_log_open(log, conf, st, err, sizeof(err)) == 0 &&
	    audit_check(*log, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "wardctl: refusing to %s: its audit record could not be written: %s\n"
	    "wardctl: nothing was changed (run wardctl init, or fix the audit log)\n", action,
	    err);
	audit_log_close(*log);
	*log = NULL;
	return WARD_ERR_AUDIT;
}

int
wardctl_audit_admin(struct audit_log *log, const char *action, const char *user,
    const char *extra, const char *policy_version)
{
	struct audit_event ev;
	struct passwd pw, *pp = NULL;
	char pwbuf[4096], detail[1024], err[1024], name[64];
	const char *sudo = getenv("SUDO_USER"), *tty = ttyname(0);
	int r;

	if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &pp) == 0 && pp != NULL)
		snprintf(name, sizeof(name), "%s", pp->pw_name);
	else
		snprintf(name, sizeof(name), "uid %u", (unsigned)getuid());
	snprintf(detail, sizeof(detail), "%s%s%s by %s%s%s%s", action, extra ? " " : "",
	    extra ? extra : "", name, sudo ? " (sudo from " : "", sudo ? sudo : "",
	    sudo ? ")" : "");
	memset(&ev, 0, sizeof(ev));
	ev.event = "admin";
	ev.result = "success";
	ev.service = "wardctl";
	ev.user = user;
	ev.offline = -1;
	ev.tty = tty;
	ev.detail = detail;
	ev.policy_version = policy_version;
	err[0] = '\0';
	r = audit_write(log, &ev, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "wardctl: %s%s%s was done, but its audit record could not be "
		    "written: %s\n", action, user ? " " : "", user ? user : "", err);
	audit_log_close(log);
	return r;
}

/* ---- shared ---- */

/* The files to read: the words after the subcommand, or the configured
 * log and its rotated predecessors. */
struct files {
	struct audit_fileset s;
	int configured;     /* the default set (the head and the numbering apply) */
};

static void
free_files(struct files *f)
{
	audit_fileset_free(&f->s);
	memset(f, 0, sizeof(*f));
}

/*
 * gcc 12's -fanalyzer reports the strings stored into V in the loop below
 * as leaked (it loses track of heap stores made through a moving index);
 * every one is freed by free_files or on the error path.  Suppressed for
 * this function only.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
/* Says why on stderr when it fails. */
static int
get_files(const struct wopts *o, const struct ward_conf *conf, struct files *f)
{
	char err[1024];

	memset(f, 0, sizeof(*f));
	if (o->nargs > 1) {
		char **v = calloc((size_t)o->nargs, sizeof(*v));
		size_t n = 0;

		if (v == NULL)
			goto oom;
		for (int i = 1; i < o->nargs; i++) {
			char *s = strdup(o->args[i]);

			if (s == NULL) {
				while (n > 0)
					free(v[--n]);
				free(v);
				goto oom;
			}
			v[n++] = s;
		}
		f->s.v = v;
		f->s.n = n;
		return 0;
	}
	f->configured = 1;
	if (audit_files(conf->audit.path, &f->s, err, sizeof(err)) != 0) {
		fprintf(stderr, "wardctl: audit log files: %s\n", err);
		free_files(f);
		return -1;
	}
	if (f->s.skipped > 0)
		fprintf(stderr, "wardctl: note: %zu rotated file(s) of %s not read (compressed, "
		    "or older than a compressed one; decompress them and name the files to "
		    "include them)\n", f->s.skipped, conf->audit.path);
	for (size_t g = 0; g < f->s.ngaps; g++) {
		const struct audit_gap *gp = &f->s.gap[g];

		if (gp->lo == gp->hi)
			fprintf(stderr, "wardctl: note: %s.%u is missing", conf->audit.path, gp->lo);
		else
			fprintf(stderr, "wardctl: note: %s.%u to .%u are missing",
			    conf->audit.path, gp->lo, gp->hi);
		fprintf(stderr, " from the rotated files (wardctl audit verify names the gap)\n");
	}
	return 0;
oom:
	fprintf(stderr, "wardctl: out of memory\n");
	return -1;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif


/* Terminal-safe text: control bytes become '?'. */
static void
tprint(FILE *out, const char *s, int width)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "-");
	size_t len = strlen((const char *)p), k;
	int n = 0;

	/* one column a character; a control character (C0, C1, DEL) or a byte
	 * that is not UTF-8 is shown as '?', never sent to the terminal */
	for (size_t i = 0; i < len; i += k, n++) {
		if ((k = ward_utf8_printable(p + i, len - i)) == 0) {
			k = ward_utf8_len(p + i, len - i);
			k = k ? k : 1;
			fputc('?', out);
		} else {
			fwrite(p + i, 1, k, out);
		}
	}
	for (; n < width; n++)
		fputc(' ', out);
}

static void
local_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "?");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static int
time_opt(const char *name, const char *s, int64_t *ms, int64_t dflt)
{
	time_t t;

	*ms = dflt;
	if (s == NULL)
		return 0;
	if (wardctl_parse_time(s, &t) != 0) {
		fprintf(stderr, "wardctl: --%s: '%s' is not a time (2026-11-23T14:05, "
		    "2026-11-23, now, -7d, -12h, -30m)\n", name, s);
		return -1;
	}
	/* a time names its whole second: --until now includes this second */
	*ms = (int64_t)t * 1000 + (dflt == INT64_MAX ? 999 : 0);
	return 0;
}

static int
streq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* ---- verify ---- */

static int
same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	    sa.st_ino == sb.st_ino;
}

static int
audit_verify_cmd(struct wopts *o, const struct ward_conf *conf)
{
	struct audit_verify_result res;
	struct files f;
	const char *state_dir = NULL;
	int r, rc = WEXIT_ERR;

	if (get_files(o, conf, &f) != 0)
		goto out;
	/* the store's head speaks for the configured log only */
	if (f.configured || (f.s.n > 0 && same_file(f.s.v[f.s.n - 1], conf->audit.path)))
		state_dir = conf->state_dir;
	if (f.configured)
		r = audit_verify_set(conf->audit.key_file, &f.s, state_dir, &res);
	else
		r = audit_verify(conf->audit.key_file, (const char *const *)f.s.v, f.s.n,
		    state_dir, &res);
	if (r != 0 && r != WARD_ERR_CORRUPT) {
		fprintf(stderr, "wardctl: audit verify: %s\n", res.message);
		goto out;
	}
	rc = r == 0 ? WEXIT_OK : WEXIT_NO;
	if (o->json) {
		printf("{\"ok\":%s,\"records\":%llu,\"first_seq\":%llu,\"last_seq\":%llu,\"files\":[",
		    r == 0 ? "true" : "false", (unsigned long long)res.records,
		    (unsigned long long)res.first_seq, (unsigned long long)res.last_seq);
		for (size_t i = 0; i < f.s.n; i++) {
			printf(i ? "," : "");
			json_str(stdout, f.s.v[i]);
		}
		printf("],\"head_checked\":%s,\"head_seq\":%llu,\"problem\":",
		    res.head_checked ? "true" : "false", (unsigned long long)res.head_seq);
		if (r == 0) {
			printf("null");
		} else {
			json_str(stdout, audit_problem_name(res.problem));
			printf(",\"file\":");
			json_str(stdout, res.file);
			printf(",\"line\":%llu,\"seq\":%llu,\"message\":",
			    (unsigned long long)res.line, (unsigned long long)res.seq);
			json_str(stdout, res.message);
		}
		printf(",\"note\":");
		json_str(stdout, res.note[0] ? res.note : NULL);
		printf("}\n");
		goto out;
	}
	if (r == 0) {
		if (res.records == 0)
			printf("no audit records%s\n", f.s.n == 0 ? " (no log file yet)" : "");
		else
			printf("OK: %llu records, seq %llu..%llu, in %zu file%s; every MAC and "
			    "link of the chain holds\n", (unsigned long long)res.records,
			    (unsigned long long)res.first_seq, (unsigned long long)res.last_seq,
			    f.s.n, f.s.n == 1 ? "" : "s");
		if (res.head_checked)
			printf("the state store's head (seq %llu) is in the log: no record was "
			    "cut off the end\n", (unsigned long long)res.head_seq);
		else
			printf("note: the state store's head was not checked (not the configured "
			    "log); a cut tail would not show\n");
		if (res.note[0])
			printf("note: %s\n", res.note);
	} else {
		printf("TAMPERED (%s): %s\n", audit_problem_name(res.problem), res.message);
		printf("%llu record%s before it verified\n", (unsigned long long)res.records,
		    res.records == 1 ? "" : "s");
	}
out:
	free_files(&f);
	return rc;
}

/* ---- query and export ---- */

struct qctx {
	const struct wopts *o;
	const char *user;
	int64_t since, until;
	unsigned long n;
	int csv, json;
};

static void
csv_header(void)
{
	puts("seq,ts,host,service,user,event,result,rule,reason,roles,factor,"
	    "policy_version,offline,rhost,tty,pid,detail");
}

static void
csv_record(const struct audit_record *r)
{
	char pid[32];
	char *roles = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&roles, &len);

	for (size_t i = 0; m != NULL && i < r->nroles; i++)
		fprintf(m, "%s%s", i ? ";" : "", r->roles[i]);
	if (m != NULL)
		fclose(m);
	snprintf(pid, sizeof(pid), "%lld", r->pid);
	{
		/* the columns of csv_header after seq, in its order */
		const char *cells[] = { r->ts, r->host, r->service, r->user, r->event,
			r->result, r->rule, r->reason, roles, r->factor, r->policy_version,
			r->offline < 0 ? "" : r->offline ? "true" : "false", r->rhost, r->tty,
			pid, r->detail };

		printf("%llu", (unsigned long long)r->seq);
		for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
			putchar(',');
			csv_field(stdout, cells[i]);
		}
	}
	putchar('\n');
	free(roles);
}

static void
text_header(void)
{
	printf("%-19s %7s %-13s %-8s %-12s %-14s %-12s %s\n", "TIME (local)", "SEQ", "EVENT",
	    "RESULT", "USER", "SERVICE", "HOST", "RULE / REASON / DETAIL");
}

static void
text_record(const struct audit_record *r)
{
	char t[32];

	local_time(r->ts_ms, t, sizeof(t));
	printf("%-19s %7llu ", t, (unsigned long long)r->seq);
	tprint(stdout, r->event, 13);
	putchar(' ');
	tprint(stdout, r->result, 8);
	putchar(' ');
	tprint(stdout, r->user, 12);
	putchar(' ');
	tprint(stdout, r->service, 14);
	putchar(' ');
	tprint(stdout, r->host, 12);
	putchar(' ');
	if (r->rule)
		tprint(stdout, r->rule, 0);
	if (r->reason) {
		fputs(r->rule ? ": " : "", stdout);
		tprint(stdout, r->reason, 0);
	}
	if (r->detail) {
		fputs(r->rule || r->reason ? " - " : "", stdout);
		tprint(stdout, r->detail, 0);
	}
	if (r->offline == 1)
		fputs(" [offline]", stdout);
	if (r->rhost) {
		fputs(" from ", stdout);
		tprint(stdout, r->rhost, 0);
	}
	putchar('\n');
}

static int
query_each(void *vctx, const struct audit_record *r, const char *line, size_t len)
{
	struct qctx *q = vctx;
	const struct wopts *o = q->o;

	if ((q->user && !streq(r->user, q->user)) || r->ts_ms < q->since ||
	    r->ts_ms > q->until || (o->event && !streq(r->event, o->event)) ||
	    (o->result && !streq(r->result, o->result)))
		return 0;
	if (q->json) {
		fwrite(line, 1, len, stdout);
		putchar('\n');
	} else if (q->csv) {
		csv_record(r);
	} else {
		text_record(r);
	}
	q->n++;
	return 0;
}

static int
audit_query_cmd(struct wopts *o, const struct ward_conf *conf, int export)
{
	struct qctx q;
	struct files f;
	char err[1024];
	int rc = WEXIT_ERR;

	memset(&q, 0, sizeof(q));
	memset(&f, 0, sizeof(f));
	q.o = o;
	q.user = o->user;
	q.csv = o->csv;
	q.json = o->json || (export && !o->csv);
	if (export && (o->user == NULL || ward_user_valid(o->user) != 0)) {
		fprintf(stderr, "wardctl: audit export --user USER (a valid user name)\n");
		goto out;
	}
	if (time_opt("since", o->since, &q.since, INT64_MIN) != 0 ||
	    time_opt("until", o->until, &q.until, INT64_MAX) != 0)
		goto out;
	if (get_files(o, conf, &f) != 0)
		goto out;
	if (export) {
		/* looking at one person's records is itself recorded */
		struct audit_log *log;
		if (wardctl_audit_begin(conf, NULL, "export the audit records of a person",
		    &log) != 0 ||
		    wardctl_audit_admin(log, "audit export", o->user, NULL, NULL) != 0)
			goto out;	/* both close LOG themselves */
		free_files(&f);
		if (get_files(o, conf, &f) != 0)
			goto out;
	}
	if (q.csv)
		csv_header();
	else if (!q.json)
		text_header();
	if (audit_each((const char *const *)f.s.v, f.s.n, query_each, &q, err, sizeof(err)) != 0) {
		fflush(stdout);
		fprintf(stderr, "wardctl: %s\n", err);
		goto out;
	}
	if (!q.json && !q.csv)
		printf("%lu record%s (integrity: wardctl audit verify)\n", q.n, q.n == 1 ? "" : "s");
	rc = WEXIT_OK;
out:
	free_files(&f);
	return rc;
}

/* ---- report ---- */

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
is_access(const struct audit_record *r)
{
	return (streq(r->event, "account") && streq(r->result, "allow")) ||
	    (streq(r->event, "breakglass") && streq(r->result, "granted")) ||
	    (streq(r->event, "auth") && streq(r->result, "success"));
}

static int
report_each(void *vctx, const struct audit_record *r, const char *line, size_t len)
{
	struct rctx *c = vctx;
	size_t p = (size_t)-1;
	int in = r->ts_ms >= c->since;

	(void)line;
	(void)len;
	c->records++;
	if (r->user != NULL && (p = person_of(c, r->user)) == (size_t)-1)
		return 0;
	if (p != (size_t)-1 && is_access(r)) {
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
	if (streq(r->event, "auth") && streq(r->result, "failure") && p != (size_t)-1) {
		const char *src = r->rhost && r->rhost[0] ? r->rhost : r->host;
		int added;
		size_t s = smap_get(&c->sources, src, &added);

		c->people[p].failures++;
		if (s == (size_t)-1 || grow((void **)&c->src_fail, &c->nsrc_cap, s + 1,
		    sizeof(*c->src_fail)) != 0 || tsv_add(&c->src_fail[s], r->ts_ms, p) != 0)
			c->oom = 1;
	}
	if (streq(r->event, "lockout") && p != (size_t)-1) {
		c->people[p].lockouts++;
		if (tsv_add(&c->lockouts, r->ts_ms, p) != 0 ||
		    grow((void **)&c->lock_host, &c->lock_cap, c->lockouts.n,
		    sizeof(char *)) != 0 ||
		    (c->lock_host[c->lockouts.n - 1] = strdup(r->host)) == NULL)
			c->oom = 1;
	}
	if (streq(r->event, "account") && streq(r->result, "deny")) {
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
	if (streq(r->event, "breakglass") && streq(r->result, "granted") && p != (size_t)-1) {
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

struct anomaly {
	const char *kind;
	char who[300];
	int64_t ts;
	char text[600];
};

struct anomalies {
	struct anomaly *a;
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
	struct anomaly *an;
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

static void
json_kv_section(const char *name, int first)
{
	printf("%s\"%s\":[", first ? "" : ",", name);
}

static int
audit_report_cmd(struct wopts *o, const struct ward_conf *conf)
{
	struct rctx c;
	struct files f;
	struct anomalies al = { NULL, 0, 0 };
	const struct anomaly *an;
	size_t nan, n, *ix = NULL, *in_win = NULL;
	unsigned *counts = NULL;
	char err[1024], t1[32], t2[32];
	int rc = WEXIT_ERR;

	memset(&c, 0, sizeof(c));
	memset(&f, 0, sizeof(f));
	if (time_opt("since", o->since, &c.since, INT64_MIN) != 0)
		goto out;
	if (get_files(o, conf, &f) != 0)
		goto out;
	if (audit_each((const char *const *)f.s.v, f.s.n, report_each, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "wardctl: %s\n", err);
		goto out;
	}
	if (c.oom)
		goto oom;

	/* anomalies: access at an hour unusual for that person */
	for (size_t i = 0; i < c.access.n; i++) {
		struct person *pp = &c.people[c.access.x[i]];
		int h = local_hour(c.access.t[i]);
		unsigned near = pp->hours[h] + pp->hours[(h + 23) % 24] + pp->hours[(h + 1) % 24];

		if (pp->total < HOUR_MIN_HISTORY || near * 100 > pp->total * HOUR_RARE_PCT)
			continue;
		/* once per person and hour */
		if (al.n > 0 && strcmp(al.a[al.n - 1].kind, "unusual_hour") == 0 &&
		    strcmp(al.a[al.n - 1].who, c.users.keys[c.access.x[i]]) == 0 &&
		    al.a[al.n - 1].ts / 3600000 == c.access.t[i] / 3600000)
			continue;
		if (anomaly_add(&al, "unusual_hour", c.users.keys[c.access.x[i]], c.access.t[i],
		    "access at %02d:xx; %u of %u past accesses of this person were between "
		    "%02d:00 and %02d:59", h, near, pp->total, (h + 23) % 24, (h + 1) % 24) != 0)
			goto oom;
	}
	/*
	 * many users failing from one source within SPRAY_WINDOW: a window
	 * slides over the source's failures (in log order) with a count per
	 * person in it, so each failure is counted once as it enters and once
	 * as it leaves - linear in the failures, however many fall in one
	 * window.  The counts are back to zero after each source.
	 */
	if (c.sources.n > 0 && (in_win = calloc(c.users.n, sizeof(*in_win))) == NULL)
		goto oom;
	for (size_t s = 0; s < c.sources.n; s++) {
		struct tsv *v = &c.src_fail[s];
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
		if (anomaly_add(&al, "spraying", c.sources.keys[s], v->t[best_at], "%zu different "
		    "users failed to authenticate from this workstation within %lld minutes "
		    "(%zu failures in all)", best, SPRAY_WINDOW_MS / 60000, v->n) != 0)
			goto oom;
	}
	/* break-glass claimed often: BG_OFTEN or more within BG_WINDOW */
	for (size_t p = 0; p < c.users.n; p++) {
		struct tsv *v = &c.people[p].bg;
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
		if (anomaly_add(&al, "breakglass_often", c.users.keys[p], v->t[at], "break-glass "
		    "claimed %zu times within 7 days", best) != 0)
			goto oom;
	}
	an = al.a;
	nan = al.n;

	if ((counts = calloc(c.users.n + c.rules.n + 1, sizeof(*counts))) == NULL)
		goto oom;
	if (o->json) {
		printf("{\"since\":");
		if (o->since) {
			local_time(c.since, t1, sizeof(t1));
			json_str(stdout, t1);
		} else {
			printf("null");
		}
		printf(",\"records\":%lu,\"in_window\":%lu", c.records, c.in_window);
		json_kv_section("failures", 0);
		for (size_t i = 0; i < c.users.n; i++)
			counts[i] = c.people[i].failures;
		if ((ix = ranked(counts, c.users.keys, c.users.n, &n)) == NULL)
			goto oom;
		for (size_t i = 0; i < n; i++) {
			printf("%s{\"user\":", i ? "," : "");
			json_str(stdout, c.users.keys[ix[i]]);
			printf(",\"count\":%u}", counts[ix[i]]);
		}
		free(ix);
		ix = NULL;
		printf("]");
		json_kv_section("lockouts", 0);
		for (size_t i = 0; i < c.lockouts.n; i++) {
			local_time(c.lockouts.t[i], t1, sizeof(t1));
			printf("%s{\"user\":", i ? "," : "");
			json_str(stdout, c.users.keys[c.lockouts.x[i]]);
			printf(",\"time\":");
			json_str(stdout, t1);
			printf(",\"host\":");
			json_str(stdout, c.lock_host[i]);
			printf("}");
		}
		printf("]");
		json_kv_section("denials_by_rule", 0);
		for (size_t i = 0; i < c.rules.n; i++)
			counts[i] = (unsigned)c.rule_n[i].n;
		if ((ix = ranked(counts, c.rules.keys, c.rules.n, &n)) == NULL)
			goto oom;
		for (size_t i = 0; i < n; i++) {
			printf("%s{\"rule\":", i ? "," : "");
			json_str(stdout, c.rules.keys[ix[i]]);
			printf(",\"count\":%u,\"users\":%zu}", counts[ix[i]], c.rule_n[ix[i]].users.n);
		}
		free(ix);
		ix = NULL;
		printf("]");
		json_kv_section("breakglass_by_person", 0);
		for (size_t i = 0; i < c.users.n; i++)
			counts[i] = c.people[i].breakglass;
		if ((ix = ranked(counts, c.users.keys, c.users.n, &n)) == NULL)
			goto oom;
		for (size_t i = 0; i < n; i++) {
			local_time(c.people[ix[i]].last_bg, t1, sizeof(t1));
			printf("%s{\"user\":", i ? "," : "");
			json_str(stdout, c.users.keys[ix[i]]);
			printf(",\"count\":%u,\"last\":", counts[ix[i]]);
			json_str(stdout, t1);
			printf(",\"last_reason\":");
			json_str(stdout, c.people[ix[i]].last_bg_reason);
			printf("}");
		}
		printf("]");
		json_kv_section("anomalies", 0);
		for (size_t i = 0; i < nan; i++) {
			local_time(an[i].ts, t1, sizeof(t1));
			printf("%s{\"kind\":\"%s\",\"%s\":", i ? "," : "", an[i].kind,
			    strcmp(an[i].kind, "spraying") == 0 ? "source" : "user");
			json_str(stdout, an[i].who);
			printf(",\"time\":");
			json_str(stdout, t1);
			printf(",\"detail\":");
			json_str(stdout, an[i].text);
			printf("}");
		}
		printf("]}\n");
	} else {
		if (c.in_window > 0) {
			local_time(c.first, t1, sizeof(t1));
			local_time(c.last, t2, sizeof(t2));
		}
		printf("Audit report: %lu records%s%s%s%s\n", c.in_window,
		    c.in_window ? ", " : "", c.in_window ? t1 : "", c.in_window ? " to " : "",
		    c.in_window ? t2 : "");
		printf("\nAuthentication failures by person:\n");
		for (size_t i = 0; i < c.users.n; i++)
			counts[i] = c.people[i].failures;
		if ((ix = ranked(counts, c.users.keys, c.users.n, &n)) == NULL)
			goto oom;
		for (size_t i = 0; i < n; i++) {
			printf("  %6u  ", counts[ix[i]]);
			tprint(stdout, c.users.keys[ix[i]], 0);
			putchar('\n');
		}
		if (n == 0)
			printf("  none\n");
		free(ix);
		ix = NULL;
		printf("\nLockouts:\n");
		for (size_t i = 0; i < c.lockouts.n; i++) {
			local_time(c.lockouts.t[i], t1, sizeof(t1));
			printf("  %s  ", t1);
			tprint(stdout, c.users.keys[c.lockouts.x[i]], 12);
			printf(" at ");
			tprint(stdout, c.lock_host[i], 0);
			putchar('\n');
		}
		if (c.lockouts.n == 0)
			printf("  none\n");
		printf("\nDenials by rule:\n");
		for (size_t i = 0; i < c.rules.n; i++)
			counts[i] = (unsigned)c.rule_n[i].n;
		if ((ix = ranked(counts, c.rules.keys, c.rules.n, &n)) == NULL)
			goto oom;
		for (size_t i = 0; i < n; i++) {
			printf("  %6u  ", counts[ix[i]]);
			tprint(stdout, c.rules.keys[ix[i]], 24);
			printf(" (%zu %s)\n", c.rule_n[ix[i]].users.n,
			    c.rule_n[ix[i]].users.n == 1 ? "person" : "people");
		}
		if (n == 0)
			printf("  none\n");
		free(ix);
		ix = NULL;
		printf("\nBreak-glass by person (each one to be reviewed):\n");
		for (size_t i = 0; i < c.users.n; i++)
			counts[i] = c.people[i].breakglass;
		if ((ix = ranked(counts, c.users.keys, c.users.n, &n)) == NULL)
			goto oom;
		for (size_t i = 0; i < n; i++) {
			local_time(c.people[ix[i]].last_bg, t1, sizeof(t1));
			printf("  %6u  ", counts[ix[i]]);
			tprint(stdout, c.users.keys[ix[i]], 12);
			printf(" last %s: \"", t1);
			tprint(stdout, c.people[ix[i]].last_bg_reason, 0);
			printf("\"\n");
		}
		if (n == 0)
			printf("  none\n");
		printf("\nAnomalies:\n");
		for (size_t i = 0; i < nan; i++) {
			local_time(an[i].ts, t1, sizeof(t1));
			printf("  %-16s %s  ", an[i].kind, t1);
			tprint(stdout, an[i].who, 0);
			printf(": %s\n", an[i].text);
		}
		if (nan == 0)
			printf("  none\n");
	}
	rc = WEXIT_OK;
	goto out;
oom:
	fprintf(stderr, "wardctl: out of memory\n");
out:
	free(ix);
	free(in_win);
	free(counts);
	free(al.a);
	for (size_t i = 0; i < c.users.n; i++) {
		free(c.people[i].last_bg_reason);
		free(c.people[i].bg.t);
		free(c.people[i].bg.x);
	}
	free(c.people);
	for (size_t i = 0; i < c.rules.n; i++)
		smap_free(&c.rule_n[i].users);
	free(c.rule_n);
	for (size_t i = 0; i < c.sources.n; i++) {
		free(c.src_fail[i].t);
		free(c.src_fail[i].x);
	}
	free(c.src_fail);
	for (size_t i = 0; i < c.lockouts.n; i++)
		free(c.lock_host[i]);
	free(c.lock_host);
	free(c.lockouts.t);
	free(c.lockouts.x);
	free(c.access.t);
	free(c.access.x);
	smap_free(&c.users);
	smap_free(&c.rules);
	smap_free(&c.sources);
	free_files(&f);
	return rc;
}

int
cmd_audit(struct wopts *o)
{
	struct ward_conf conf;
	const char *sub = o->nargs > 0 ? o->args[0] : "";
	int rc = WEXIT_ERR;

	if (strcmp(sub, "verify") != 0 && strcmp(sub, "query") != 0 &&
	    strcmp(sub, "report") != 0 && strcmp(sub, "export") != 0) {
		fprintf(stderr, "wardctl: audit: unknown subcommand '%s' (verify, query, report, "
		    "export)\n", sub);
		return WEXIT_ERR;
	}
	if (wardctl_load_conf(o, &conf) != 0)
		return WEXIT_ERR;
	if (strcmp(sub, "verify") == 0)
		rc = audit_verify_cmd(o, &conf);
	else if (strcmp(sub, "query") == 0)
		rc = audit_query_cmd(o, &conf, 0);
	else if (strcmp(sub, "export") == 0)
		rc = audit_query_cmd(o, &conf, 1);
	else
		rc = audit_report_cmd(o, &conf);
	conf_free(&conf);
	return rc;
}
