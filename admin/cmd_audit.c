/*
 * cmd_audit.c - wardctl audit verify|query|report|export, and the admin
 * records every changing wardctl command writes.  audit report prints what
 * report.c finds.  Over 800 lines because it is one command group sharing
 * its record filters and output (text, JSON), for one log and for a
 * fleet's (--fleet) - the analyses live in report.c and fleet_report.c,
 * the verifiers in lib/audit_verify.c and lib/audit_fleet.c.
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
 *  - audit note adds an admin record with the text an administrator (or a
 *    package's maintainer script: "package wardd upgraded from X to Y")
 *    gives: one line of printable text, bounded, never a way to forge
 *    another kind of record (event admin, service wardctl, "note: " first).
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
#include "report.h"
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
	ev.event = audit_event_name(AUDIT_EV_ADMIN);
	ev.result = audit_result_name(AUDIT_RES_SUCCESS);
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


size_t
text_char(const unsigned char *p, size_t len, int *ok)
{
	size_t k = ward_utf8_printable(p, len);

	*ok = k != 0;
	if (k == 0)
		k = ward_utf8_len(p, len);
	return k ? k : 1;
}

void
tprint(FILE *out, const char *s, int width)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "-");
	size_t len = strlen((const char *)p), k;
	int n = 0;

	/* one column a character; a control character (C0, C1, DEL) or a byte
	 * that is not UTF-8 is shown as '?', never sent to the terminal */
	for (size_t i = 0; i < len; i += k, n++) {
		int ok;

		k = text_char(p + i, len - i, &ok);
		if (ok)
			fwrite(p + i, 1, k, out);
		else
			fputc('?', out);
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

/* ---- verify --fleet ---- */

/* What the silence check keeps of a verified host (after the table). */
struct fbeat {
	char host[AUDIT_HOST_MAX + 1];
	int64_t last_ts_ms, beat_ts_ms;
	long interval;
};

struct fctx {
	int json;
	size_t hosts, ok, bad, errors;
	uint64_t records;
	struct fbeat *beats;             /* verified hosts whose last head names an
	                                  * interval and that did not stop cleanly */
	size_t nbeats, cap;
	int64_t newest_ms;               /* the newest record verified in DIR */
	int nomem;
};

static void
fmt_ts(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	buf[0] = '\0';
	if (ms > 0 && gmtime_r(&t, &tm) != NULL)
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Keep what the silence check needs of H (a host that verified). */
static void
fleet_keep_beat(struct fctx *x, const struct audit_fleet_host *h)
{
	const struct audit_verify_result *res = &h->res;

	if (res->records > 0 && res->last_ts_ms > x->newest_ms)
		x->newest_ms = res->last_ts_ms;
	if (h->rc != 0 || res->beat_interval <= 0 || res->ends_shutdown)
		return;
	if (x->nbeats == x->cap) {
		struct fbeat *t = reallocarray(x->beats, x->cap ? 2 * x->cap : 64, sizeof(*t));

		if (t == NULL) {
			x->nomem = 1;
			return;
		}
		x->beats = t;
		x->cap = x->cap ? 2 * x->cap : 64;
	}
	/* a verified host's name is a host name: at most AUDIT_HOST_MAX */
	snprintf(x->beats[x->nbeats].host, sizeof(x->beats[0].host), "%.*s", AUDIT_HOST_MAX,
	    h->host);
	x->beats[x->nbeats].last_ts_ms = res->last_ts_ms;
	x->beats[x->nbeats].beat_ts_ms = res->beat_ts_ms;
	x->beats[x->nbeats].interval = res->beat_interval;
	x->nbeats++;
}

/*
 * The hosts fallen silent: whose last record is older than twice the
 * interval their last head record names, before the newest record of the
 * whole folder (wardctl(8), AUDIT ACROSS A FLEET).  Printed after the
 * table; returns how many.
 */
static size_t
fleet_silent(struct fctx *x)
{
	size_t n = 0;
	char last[32], beat[32], newest[32];

	fmt_ts(x->newest_ms, newest, sizeof(newest));
	for (size_t i = 0; i < x->nbeats; i++) {
		const struct fbeat *b = &x->beats[i];

		if (x->newest_ms - b->last_ts_ms <= 2 * 1000LL * b->interval)
			continue;
		fmt_ts(b->last_ts_ms, last, sizeof(last));
		fmt_ts(b->beat_ts_ms, beat, sizeof(beat));
		if (x->json) {
			struct jobj j;

			jobj_begin(&j, stdout, n > 0);
			jobj_str(&j, "host", b->host);
			jobj_str(&j, "since", last);
			jobj_str(&j, "last_head", beat);
			jobj_num(&j, "head_interval", b->interval);
			jobj_num(&j, "behind_s", (long long)((x->newest_ms - b->last_ts_ms) / 1000));
			jobj_end(&j);
		} else {
			printf("SILENT    %s: silent since %s: records stopped arriving or its tail "
			    "was cut (last head %s, every %ld s; the newest record in the folder is "
			    "%s, %lld s later)\n", b->host, last, beat, b->interval, newest, (long long)((x->newest_ms - b->last_ts_ms) / 1000));
		}
		n++;
	}
	return n;
}

static int
fleet_host(void *vctx, const struct audit_fleet_host *h)
{
	struct fctx *x = vctx;
	const struct audit_verify_result *res = &h->res;
	char ts[64], beat[32];

	x->hosts++;
	x->records += res->records;
	fleet_keep_beat(x, h);
	if (h->rc == 0)
		x->ok++;
	else if (h->rc == WARD_ERR_CORRUPT)
		x->bad++;
	else
		x->errors++;
	ts[0] = '\0';
	if (res->records > 0) {
		time_t t = (time_t)(res->last_ts_ms / 1000);
		struct tm tm;

		if (gmtime_r(&t, &tm) != NULL)
			strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	if (x->json) {
		struct jobj j;

		jobj_begin(&j, stdout, x->hosts > 1);
		jobj_str(&j, "host", h->host);
		jobj_key(&j, "ok");
		fputs(h->rc == 0 ? "true" : "false", stdout);
		jobj_num(&j, "records", (long long)res->records);
		jobj_num(&j, "first_seq", (long long)res->first_seq);
		jobj_num(&j, "last_seq", (long long)res->last_seq);
		jobj_str(&j, "last_ts", ts[0] ? ts : NULL);
		fmt_ts(res->beat_ts_ms, beat, sizeof(beat));
		jobj_str(&j, "last_head", beat[0] ? beat : NULL);
		jobj_num(&j, "head_interval", res->beat_interval);
		jobj_key(&j, "stopped");
		fputs(res->ends_shutdown ? "true" : "false", stdout);
		jobj_num(&j, "files", (long long)h->nfiles);
		jobj_str(&j, "problem", h->rc == WARD_ERR_CORRUPT ?
		    audit_problem_name(res->problem) : h->rc != 0 ? "error" : NULL);
		jobj_str(&j, "file", h->rc != 0 && res->file[0] ? res->file : NULL);
		jobj_num(&j, "line", (long long)res->line);
		jobj_num(&j, "seq", (long long)res->seq);
		jobj_str(&j, "message", h->rc != 0 ? res->message : NULL);
		jobj_str(&j, "note", res->note[0] ? res->note : NULL);
		jobj_end(&j);
		return 0;
	}
	tprint(stdout, h->host, 16);
	if (h->rc == 0 && res->records == 0) {
		printf(" OK        no records (no log file yet)\n");
	} else if (h->rc == 0) {
		printf(" OK        %llu records, seq %llu..%llu, last %s, %zu file%s\n",
		    (unsigned long long)res->records, (unsigned long long)res->first_seq,
		    (unsigned long long)res->last_seq, ts, h->nfiles, h->nfiles == 1 ? "" : "s");
	} else if (h->rc == WARD_ERR_CORRUPT) {
		printf(" TAMPERED  %s: ", audit_problem_name(res->problem));
		tprint(stdout, res->message, 0);
		printf(" (%llu record%s before it verified)\n", (unsigned long long)res->records,
		    res->records == 1 ? "" : "s");
	} else {
		printf(" ERROR     ");
		tprint(stdout, res->message, 0);
		putchar('\n');
	}
	if (h->rc == 0 && res->records > 0) {
		fmt_ts(res->beat_ts_ms, beat, sizeof(beat));
		if (res->ends_shutdown)
			printf("%-16s  wardd stopped cleanly at %s (its last record is the "
			    "shutdown head)\n", "", beat);
		else if (beat[0])
			printf("%-16s  last head %s (seq %llu, every %ld s)\n", "", beat,
			    (unsigned long long)res->beat_seq, res->beat_interval);
		else
			printf("%-16s  note: no head record: its silence cannot be judged\n", "");
	}
	if (res->note[0]) {
		printf("%-16s  note: ", "");
		tprint(stdout, res->note, 0);
		putchar('\n');
	}
	if (h->skipped > 0)
		printf("%-16s  note: %zu rotated file(s) not read (compressed)\n", "", h->skipped);
	return 0;
}

static int
audit_verify_fleet_cmd(const struct wopts *o)
{
	struct fctx x;
	char err[1024];
	size_t silent;
	int r;

	memset(&x, 0, sizeof(x));
	x.json = o->json;
	if (o->fleet_key == NULL || o->nargs > 1) {
		fprintf(stderr, "wardctl: audit verify --fleet DIR --fleet-key FILE (no files: "
		    "the collector's folder names them)\n");
		return WEXIT_ERR;
	}
	if (x.json)
		printf("{\"hosts\":[");
	err[0] = '\0';
	r = audit_verify_fleet(o->fleet, o->fleet_key, fleet_host, &x, err, sizeof(err));
	if (r != 0 && r != WARD_ERR_CORRUPT && x.hosts == 0) {
		if (x.json)
			printf("]}\n");
		fflush(stdout);
		fprintf(stderr, "wardctl: audit verify --fleet: %s\n", err);
		free(x.beats);
		return WEXIT_ERR;
	}
	if (x.nomem) {
		fflush(stdout);
		fprintf(stderr, "wardctl: audit verify --fleet: out of memory\n");
		free(x.beats);
		return WEXIT_ERR;
	}
	if (x.json) {
		printf("],\"silent\":[");
		silent = fleet_silent(&x);
		printf("],\"ok\":%s,\"verified\":%zu,\"tampered\":%zu,\"errors\":%zu,"
		    "\"records\":%llu}\n", r == 0 && silent == 0 ? "true" : "false", x.ok, x.bad,
		    x.errors, (unsigned long long)x.records);
	} else {
		silent = fleet_silent(&x);
		printf("fleet %s: %zu host%s, %zu verified, %zu tampered, %zu unreadable, "
		    "%zu silent; %llu records verified\n", o->fleet, x.hosts,
		    x.hosts == 1 ? "" : "s", x.ok, x.bad, x.errors, silent,
		    (unsigned long long)x.records);
		printf("note: a collector holds no host's store head, so a log cut at its end "
		    "still verifies, ending earlier: head records show it (SILENT) when the "
		    "host writes them; else compare with wardctl audit verify on that host\n");
	}
	free(x.beats);
	/* a silent host is a finding (exit 1) but not proof of tampering */
	return r == WARD_ERR_CORRUPT || (r == 0 && silent > 0) ? WEXIT_NO :
	    r == 0 ? WEXIT_OK : WEXIT_ERR;
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

/* ---- query --fleet ---- */

struct fqctx {
	struct qctx q;
	uint64_t upto;               /* the host's last verified seq */
	char (*hosts)[AUDIT_HOST_MAX + 1];
	uint64_t *uptos;
	size_t n, cap, left_out;
};

/* audit_verify_fleet's callback: keep each host that verified; name the
 * others (left out: their records cannot be trusted) */
static int
fq_host(void *vctx, const struct audit_fleet_host *h)
{
	struct fqctx *x = vctx;

	if (h->rc != 0) {
		x->left_out++;
		fprintf(stderr, "wardctl: LEFT OUT %.64s: %s: ", h->host,
		    h->rc == WARD_ERR_CORRUPT ? "does not verify" : "cannot be read");
		tprint(stderr, h->res.message, 0);
		fputc('\n', stderr);
		return 0;
	}
	if (x->n == x->cap) {
		size_t ncap = x->cap ? 2 * x->cap : 64;
		char (*t)[AUDIT_HOST_MAX + 1] = reallocarray(x->hosts, ncap, sizeof(*t));
		uint64_t *u;

		if (t == NULL)
			return WARD_ERR_NOMEM;
		x->hosts = t;
		if ((u = reallocarray(x->uptos, ncap, sizeof(*u))) == NULL)
			return WARD_ERR_NOMEM;
		x->uptos = u;
		x->cap = ncap;
	}
	snprintf(x->hosts[x->n], sizeof(x->hosts[x->n]), "%.*s", AUDIT_HOST_MAX, h->host);
	x->uptos[x->n++] = h->res.last_seq;
	return 0;
}

/* a record appended after the verification is not shown */
static int
fq_each(void *vctx, const struct audit_record *r, const char *line, size_t len)
{
	struct fqctx *x = vctx;

	if (r->seq > x->upto)
		return 1;
	return query_each(&x->q, r, line, len);
}

/*
 * wardctl audit query --fleet DIR --fleet-key FILE [filters]: every host's
 * chain verified first (audit_verify_fleet); the records of the hosts that
 * verified, up to the last verified seq, filtered as audit query does, host
 * by host in name order.  Exit 1 when a host was left out.
 */
static int
audit_query_fleet_cmd(const struct wopts *o)
{
	struct fqctx x;
	char err[1024], path[4096];
	int rc = WEXIT_ERR, r;

	memset(&x, 0, sizeof(x));
	x.q.o = o;
	x.q.user = o->user;
	x.q.csv = o->csv;
	x.q.json = o->json;
	if (o->fleet_key == NULL || o->nargs > 1) {
		fprintf(stderr, "wardctl: audit query --fleet DIR --fleet-key FILE [--user U] "
		    "[--since T] [--until T] [--event E] [--result R] [--json|--csv] (no files: "
		    "each host's are DIR/HOST/audit.log*)\n");
		return WEXIT_ERR;
	}
	if (time_opt("since", o->since, &x.q.since, INT64_MIN) != 0 ||
	    time_opt("until", o->until, &x.q.until, INT64_MAX) != 0)
		return WEXIT_ERR;
	r = audit_verify_fleet(o->fleet, o->fleet_key, fq_host, &x, err, sizeof(err));
	if (r != 0 && r != WARD_ERR_CORRUPT) {
		fprintf(stderr, "wardctl: audit query --fleet: %s\n", r == WARD_ERR_NOMEM ?
		    "out of memory" : err);
		goto out;
	}
	if (x.q.csv)
		csv_header();
	else if (!x.q.json)
		text_header();
	for (size_t i = 0; i < x.n; i++) {
		struct audit_fileset set;

		memset(&set, 0, sizeof(set));
		if ((size_t)snprintf(path, sizeof(path), "%s/%s/audit.log", o->fleet,
		    x.hosts[i]) >= sizeof(path) ||
		    audit_files(path, &set, err, sizeof(err)) != 0) {
			fprintf(stderr, "wardctl: audit query --fleet: %s: %s\n", x.hosts[i],
			    err);
			audit_fileset_free(&set);
			goto out;
		}
		x.upto = x.uptos[i];
		r = audit_each((const char *const *)set.v, set.n, fq_each, &x, err, sizeof(err));
		audit_fileset_free(&set);
		if (r != 0 && r != 1) {
			fflush(stdout);
			fprintf(stderr, "wardctl: %s\n", err);
			goto out;
		}
	}
	if (!x.q.json && !x.q.csv)
		printf("%lu record%s from %zu host%s (every chain verified first; %zu left out)\n",
		    x.q.n, x.q.n == 1 ? "" : "s", x.n, x.n == 1 ? "" : "s", x.left_out);
	rc = x.left_out > 0 ? WEXIT_NO : WEXIT_OK;
out:
	free(x.hosts);
	free(x.uptos);
	return rc;
}

/* ---- note ---- */

#define NOTE_MAX 240

static int
audit_note_cmd(struct wopts *o, const struct ward_conf *conf)
{
	struct audit_log *log = NULL;
	char text[NOTE_MAX + 1];
	size_t len = 0;

	if (o->nargs < 2) {
		fprintf(stderr, "wardctl: usage: wardctl audit note TEXT...\n");
		return WEXIT_ERR;
	}
	text[0] = '\0';
	for (int i = 1; i < o->nargs; i++) {
		const char *w = o->args[i];
		size_t wl = strlen(w);

		if (len + (i > 1) + wl > NOTE_MAX) {
			fprintf(stderr, "wardctl: audit note: at most %d bytes of text\n", NOTE_MAX);
			return WEXIT_ERR;
		}
		for (size_t k = 0; k < wl;) {
			size_t n = ward_utf8_printable((const unsigned char *)w + k, wl - k);

			if (n == 0) {
				fprintf(stderr, "wardctl: audit note: the text must be printable "
				    "UTF-8 on one line\n");
				return WEXIT_ERR;
			}
			k += n;
		}
		if (i > 1)
			text[len++] = ' ';
		memcpy(text + len, w, wl + 1);
		len += wl;
	}
	if (len == 0) {
		fprintf(stderr, "wardctl: usage: wardctl audit note TEXT...\n");
		return WEXIT_ERR;
	}
	if (wardctl_audit_begin(conf, NULL, "add a note", &log) != 0 ||
	    wardctl_audit_admin(log, "note:", NULL, text, NULL) != 0)
		return WEXIT_ERR;	/* both close LOG themselves */
	printf("noted    %s\n", conf->audit.path);
	return WEXIT_OK;
}

/* ---- report ---- */

/* The members of row I of a list of the report. */
typedef void json_row_fn(struct jobj *j, const struct report *rep, size_t i);

static void
failure_row(struct jobj *j, const struct report *rep, size_t i)
{
	jobj_str(j, "user", rep->failures[i].name);
	jobj_num(j, "count", rep->failures[i].count);
}

static void
lockout_row(struct jobj *j, const struct report *rep, size_t i)
{
	char t[32];

	local_time(rep->lockouts[i].ts, t, sizeof(t));
	jobj_str(j, "user", rep->lockouts[i].user);
	jobj_str(j, "time", t);
	jobj_str(j, "host", rep->lockouts[i].host);
}

static void
denial_row(struct jobj *j, const struct report *rep, size_t i)
{
	jobj_str(j, "rule", rep->denials[i].name);
	jobj_num(j, "count", rep->denials[i].count);
	jobj_num(j, "users", (long long)rep->denials[i].people);
}

static void
breakglass_row(struct jobj *j, const struct report *rep, size_t i)
{
	char t[32];

	local_time(rep->breakglass[i].last, t, sizeof(t));
	jobj_str(j, "user", rep->breakglass[i].name);
	jobj_num(j, "count", rep->breakglass[i].count);
	jobj_str(j, "last", t);
	jobj_str(j, "last_reason", rep->breakglass[i].last_reason);
}

static void
anomaly_row(struct jobj *j, const struct report *rep, size_t i)
{
	const struct report_anomaly *an = &rep->anomalies[i];
	char t[32];

	local_time(an->ts, t, sizeof(t));
	jobj_str(j, "kind", an->kind);
	jobj_str(j, strcmp(an->kind, "spraying") == 0 ? "source" : "user", an->who);
	jobj_str(j, "time", t);
	jobj_str(j, "detail", an->text);
}

/* Member KEY of TOP: the array of the N rows ROW writes. */
static void
json_rows(struct jobj *top, const char *key, const struct report *rep, size_t n,
    json_row_fn *row)
{
	struct jobj j;

	jobj_key(top, key);
	putchar('[');
	for (size_t i = 0; i < n; i++) {
		jobj_begin(&j, stdout, i > 0);
		row(&j, rep, i);
		jobj_end(&j);
	}
	putchar(']');
}

static void
report_json(const struct report *rep, int64_t since, int have_since)
{
	struct jobj top;
	char t[32];

	jobj_begin(&top, stdout, 0);
	if (have_since)
		local_time(since, t, sizeof(t));
	jobj_str(&top, "since", have_since ? t : NULL);
	jobj_num(&top, "records", (long long)rep->records);
	jobj_num(&top, "in_window", (long long)rep->in_window);
	json_rows(&top, "failures", rep, rep->nfailures, failure_row);
	json_rows(&top, "lockouts", rep, rep->nlockouts, lockout_row);
	json_rows(&top, "denials_by_rule", rep, rep->ndenials, denial_row);
	json_rows(&top, "breakglass_by_person", rep, rep->nbreakglass, breakglass_row);
	json_rows(&top, "anomalies", rep, rep->nanomalies, anomaly_row);
	jobj_end(&top);
	putchar('\n');
}

/* A ranked list as text: count and name, and what AFTER adds. */
static void
report_rows(const char *title, const struct report_count *v, size_t n, int width,
    void (*after)(const struct report_count *))
{
	printf("\n%s:\n", title);
	for (size_t i = 0; i < n; i++) {
		printf("  %6u  ", v[i].count);
		tprint(stdout, v[i].name, width);
		if (after != NULL)
			after(&v[i]);
		putchar('\n');
	}
	if (n == 0)
		printf("  none\n");
}

static void
denial_people(const struct report_count *row)
{
	printf(" (%zu %s)", row->people, row->people == 1 ? "person" : "people");
}

static void
breakglass_last(const struct report_count *row)
{
	char t[32];

	local_time(row->last, t, sizeof(t));
	printf(" last %s: \"", t);
	tprint(stdout, row->last_reason, 0);
	putchar('"');
}

static void
report_text(const struct report *rep)
{
	char t1[32], t2[32];

	if (rep->in_window > 0) {
		local_time(rep->first, t1, sizeof(t1));
		local_time(rep->last, t2, sizeof(t2));
	}
	printf("Audit report: %lu records%s%s%s%s\n", rep->in_window,
	    rep->in_window ? ", " : "", rep->in_window ? t1 : "", rep->in_window ? " to " : "",
	    rep->in_window ? t2 : "");
	report_rows("Authentication failures by person", rep->failures, rep->nfailures, 0, NULL);
	printf("\nLockouts:\n");
	for (size_t i = 0; i < rep->nlockouts; i++) {
		local_time(rep->lockouts[i].ts, t1, sizeof(t1));
		printf("  %s  ", t1);
		tprint(stdout, rep->lockouts[i].user, 12);
		printf(" at ");
		tprint(stdout, rep->lockouts[i].host, 0);
		putchar('\n');
	}
	if (rep->nlockouts == 0)
		printf("  none\n");
	report_rows("Denials by rule", rep->denials, rep->ndenials, 24, denial_people);
	report_rows("Break-glass by person (each one to be reviewed)", rep->breakglass,
	    rep->nbreakglass, 12, breakglass_last);
	printf("\nAnomalies:\n");
	for (size_t i = 0; i < rep->nanomalies; i++) {
		local_time(rep->anomalies[i].ts, t1, sizeof(t1));
		printf("  %-16s %s  ", rep->anomalies[i].kind, t1);
		tprint(stdout, rep->anomalies[i].who, 0);
		printf(": %s\n", rep->anomalies[i].text);
	}
	if (rep->nanomalies == 0)
		printf("  none\n");
}

static int
audit_report_cmd(struct wopts *o, const struct ward_conf *conf)
{
	struct report rep;
	struct files f;
	char err[1024];
	int64_t since;
	int rc = WEXIT_ERR;

	memset(&rep, 0, sizeof(rep));
	memset(&f, 0, sizeof(f));
	if (time_opt("since", o->since, &since, INT64_MIN) != 0)
		goto out;
	if (get_files(o, conf, &f) != 0)
		goto out;
	if (report_build((const char *const *)f.s.v, f.s.n, since, &rep, err, sizeof(err)) != 0) {
		fprintf(stderr, "wardctl: %s\n", err);
		goto out;
	}
	if (o->json)
		report_json(&rep, since, o->since != NULL);
	else
		report_text(&rep);
	rc = WEXIT_OK;
out:
	report_free(&rep);
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
	    strcmp(sub, "report") != 0 && strcmp(sub, "export") != 0 &&
	    strcmp(sub, "note") != 0) {
		fprintf(stderr, "wardctl: audit: unknown subcommand '%s' (verify, query, report, "
		    "export, note)\n", sub);
		return WEXIT_ERR;
	}
	if (o->fleet != NULL && o->fleet[0] == '\0') {
		fprintf(stderr, "wardctl: --fleet needs a value (the collector's folder)\n");
		return WEXIT_ERR;
	}
	/* a collector needs no ward.conf: the fleet key and the folder do */
	if (strcmp(sub, "verify") == 0 && o->fleet != NULL)
		return audit_verify_fleet_cmd(o);
	if (strcmp(sub, "report") == 0 && o->fleet != NULL)
		return audit_report_fleet_cmd(o);
	if (strcmp(sub, "query") == 0 && o->fleet != NULL)
		return audit_query_fleet_cmd(o);
	if (o->fleet != NULL || o->fleet_key != NULL) {
		fprintf(stderr, "wardctl: --fleet and --fleet-key are for audit verify, "
		    "report and query\n");
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
	else if (strcmp(sub, "note") == 0)
		rc = audit_note_cmd(o, &conf);
	else
		rc = audit_report_cmd(o, &conf);
	conf_free(&conf);
	return rc;
}
