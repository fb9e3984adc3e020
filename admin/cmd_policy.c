/*
 * cmd_policy.c - wardctl policy check|test|show|who|diff|compile, and
 * wardctl can.  policy diff prints what diff.c finds.  Over 800 lines
 * because it is one command group sharing its loading of the policy and
 * the roles (resolve_roles); the diff's analysis lives in diff.c.
 *
 * The policy comes from --policy FILE (no ward.conf needed) or from
 * ward.conf's policy_file.  Roles come from --roles a,b or the policy's
 * local users (resolve_roles is the one place that decides).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "diff.h"
#include "file_id.h"
#include "ward_policy.h"
#include "wardctl.h"

#define MAX_LIST 4096

struct ctx {
	struct policy *pol;
	char *roles_buf;
	const char *roles[256];
	size_t nroles;
	int have_roles;
	int from_snap;              /* the compiled snapshot decided */
	time_t at;
};

static int
open_policy(struct wopts *o, const char *file_arg, struct ctx *c)
{
	char err[8192];
	struct ward_conf conf;
	const char *path = file_arg ? file_arg : o->policy;

	memset(c, 0, sizeof(*c));
	memset(&conf, 0, sizeof(conf));
	if (path == NULL && wardctl_load_conf(o, &conf) != 0)
		return -1;
	c->pol = wardctl_load_policy(&conf, path, &c->from_snap, err, sizeof(err));
	if (c->pol == NULL)
		fprintf(stderr, "%s\n", err);
	conf_free(&conf);
	if (c->pol == NULL)
		return -1;
	c->at = time(NULL);
	if (o->at != NULL && wardctl_parse_time(o->at, &c->at) != 0) {
		fprintf(stderr, "wardctl: --at: cannot read \"%s\" (use 2026-11-23T14:05)\n", o->at);
		policy_free(c->pol);
		return -1;
	}
	if (o->roles != NULL) {
		c->roles_buf = strdup(o->roles);
		if (c->roles_buf == NULL) {
			policy_free(c->pol);
			return -1;
		}
		for (char *save = NULL, *r = strtok_r(c->roles_buf, ",", &save);
		    r != NULL && c->nroles < 256; r = strtok_r(NULL, ",", &save))
			c->roles[c->nroles++] = r;
		c->have_roles = 1;
	}
	return 0;
}

static void
close_policy(struct ctx *c)
{
	policy_free(c->pol);
	free(c->roles_buf);
}

/* The request for USER: --roles when given, else the policy's users. */
static void
resolve_roles(struct ctx *c, const char *user, struct policy_request *rq)
{
	memset(rq, 0, sizeof(*rq));
	rq->user = user;
	if (c->have_roles) {
		rq->roles = c->roles;
		rq->nroles = c->nroles;
	}
	policy_request_set_time(rq, c->at);
}

static const char *
limit_str(long v, char *buf, size_t n)
{
	if (v == POLICY_NO_LIMIT)
		return "no limit";
	snprintf(buf, n, "%ld s", v);
	return buf;
}

static void
json_limit(long v)
{
	if (v == POLICY_NO_LIMIT)
		fputs("null", stdout);
	else
		printf("%ld", v);
}

/* ---- check ---- */

struct findings {
	int json;
	size_t n;
};

static void
print_finding(void *ctx, const char *f)
{
	struct findings *fs = ctx;

	if (fs->json) {
		if (fs->n++)
			putchar(',');
		json_str(stdout, f);
	} else {
		fs->n++;
		printf("%s\n", f);
	}
}

static int
policy_check(struct wopts *o)
{
	char err[16384];
	struct ward_conf conf;
	const char *path = o->nargs > 1 ? o->args[1] : o->policy;
	struct policy *p;
	struct findings fs = { o->json, 0 };
	int rc;

	memset(&conf, 0, sizeof(conf));
	if (path == NULL) {
		if (wardctl_load_conf(o, &conf) != 0)
			return WEXIT_ERR;
		path = conf.policy_file;
	}
	p = policy_load(path, err, sizeof(err));
	if (p == NULL) {
		if (o->json) {
			printf("{\"file\":");
			json_str(stdout, path);
			printf(",\"ok\":false,\"errors\":[");
			for (char *save = NULL, *l = strtok_r(err, "\n", &save); l != NULL;
			    l = strtok_r(NULL, "\n", &save)) {
				json_str(stdout, l);
				if (save && *save)
					putchar(',');
			}
			printf("],\"findings\":[]}\n");
		} else {
			fprintf(stderr, "%s\n", err);
			fprintf(stderr, "%s: cannot be loaded\n", path);
		}
		conf_free(&conf);
		return WEXIT_ERR;
	}
	if (o->json) {
		printf("{\"file\":");
		json_str(stdout, path);
		printf(",\"ok\":true,\"errors\":[],\"findings\":[");
	}
	policy_lint(p, print_finding, &fs);
	if (o->json) {
		printf("],\"version\":\"%s\",\"roles\":%zu,\"apps\":%zu}\n", policy_version(p),
		    policy_nroles(p), policy_napps(p));
	} else if (fs.n == 0) {
		printf("%s: OK (%zu roles, %zu apps, version %.12s)\n", path, policy_nroles(p),
		    policy_napps(p), policy_version(p));
	} else {
		printf("%s: loads, with %zu finding%s\n", path, fs.n, fs.n == 1 ? "" : "s");
	}
	rc = fs.n ? WEXIT_NO : WEXIT_OK;
	policy_free(p);
	conf_free(&conf);
	return rc;
}

/* ---- test ---- */

/* The answer of policy test: the request of O, the explanation EX, the
 * effective roles EFF, the time WHEN. */
static void
test_json(const struct wopts *o, const struct ctx *c, const struct policy_explanation *ex,
    const char *const *eff, size_t neff, const char *when)
{
	const struct policy_decision *d = &ex->decision;

	printf("{\"user\":");
	json_str(stdout, o->user);
	printf(",\"service\":");
	json_str(stdout, o->service);
	printf(",\"host\":");
	json_str(stdout, o->host);
	printf(",\"at\":\"%s\",\"app\":", when);
	json_str(stdout, d->app);
	printf(",\"decision\":\"%s\",\"rule\":", d->allow ? "allow" : "deny");
	json_str(stdout, d->rule);
	printf(",\"reason\":");
	json_str(stdout, d->reason);
	printf(",\"roles\":");
	json_strs(stdout, eff, neff);
	printf(",\"mfa\":\"%s\",\"mfa_grace\":%ld,\"idle_logoff\":",
	    d->mfa_required ? "required" : "not_required", d->mfa_grace);
	json_limit(d->idle_logoff);
	printf(",\"session_max\":");
	json_limit(d->session_max);
	printf(",\"break_glass\":%s,\"policy_version\":\"%s\",\"policy_source\":\"%s\","
	    "\"trace\":[", d->break_glass ? "true" : "false", policy_version(c->pol),
	    c->from_snap ? "snapshot" : "text");
	for (size_t i = 0; i < ex->ntrace; i++) {
		const struct policy_trace_entry *t = &ex->trace[i];
		printf("%s{\"rule\":", i ? "," : "");
		json_str(stdout, t->rule);
		printf(",\"effect\":\"%s\",\"matched\":%s,\"failed\":", t->effect,
		    t->matched ? "true" : "false");
		if (t->failed == POLICY_ELEM_NONE)
			fputs("null", stdout);
		else
			json_str(stdout, policy_elem_name(t->failed));
		printf(",\"detail\":");
		json_str(stdout, t->detail);
		putchar('}');
	}
	printf("],\"trace_unheld\":%zu}\n", ex->nunheld);
}

static void
test_text(const struct wopts *o, const struct ctx *c, const struct policy_explanation *ex,
    const char *const *eff, size_t neff, const char *when)
{
	const struct policy_decision *d = &ex->decision;
	char b1[32], b2[32], b3[32];

	printf("%s for %s using %s (app %s) on %s at %s\n",
	    d->allow ? "ALLOW" : "DENY", o->user, o->service, d->app,
	    o->host ? o->host : "(any host)", when);
	printf("  rule:         %s\n", d->rule);
	printf("  reason:       %s\n", d->reason);
	printf("  roles:        ");
	text_strs(stdout, eff, neff, "(none)");
	if (d->allow) {
		printf("  second code:  %s\n", d->mfa_required ? "required" : "not required");
		printf("  code grace:   %s\n", limit_str(d->mfa_grace, b1, sizeof(b1)));
		printf("  idle logoff:  %s\n", limit_str(d->idle_logoff, b2, sizeof(b2)));
		printf("  session max:  %s\n", limit_str(d->session_max, b3, sizeof(b3)));
	} else {
		printf("  break-glass:  %s\n", d->break_glass ? "offered" : "not offered");
	}
	printf("  policy:       %.12s\n", policy_version(c->pol));
	printf("  trace:\n");
	for (size_t i = 0; i < ex->ntrace; i++)
		printf("    %-5s %-24s %s\n", ex->trace[i].effect, ex->trace[i].rule,
		    ex->trace[i].detail);
	if (ex->nunheld > 0)
		printf("    (%zu rule(s) for roles not held are not listed; --all lists them)\n",
		    ex->nunheld);
}

static int
policy_test(struct wopts *o)
{
	struct ctx c;
	struct policy_request rq;
	struct policy_explanation ex;
	const char *eff[MAX_LIST];
	size_t neff;
	char when[32];
	int rc;

	if (o->user == NULL || o->service == NULL) {
		fprintf(stderr, "wardctl: policy test needs --user U and --service S\n");
		return WEXIT_ERR;
	}
	if (open_policy(o, NULL, &c) != 0)
		return WEXIT_ERR;
	resolve_roles(&c, o->user, &rq);
	rq.service = o->service;
	rq.host = o->host;
	if ((o->all ? policy_explain(c.pol, &rq, &ex) :
	    policy_explain_brief(c.pol, &rq, &ex)) != 0) {
		fprintf(stderr, "wardctl: out of memory\n");
		close_policy(&c);
		return WEXIT_ERR;
	}
	{
		/* the fast path decides; the explanation must agree with it */
		struct policy_decision d;
		policy_decide(c.pol, &rq, &d);
		if (d.allow != ex.decision.allow || strcmp(d.rule, ex.decision.rule) != 0) {
			fprintf(stderr, "wardctl: internal error: evaluators disagree (%s vs %s)\n",
			    d.rule, ex.decision.rule);
			policy_explanation_free(&ex);
			close_policy(&c);
			return WEXIT_ERR;
		}
		ex.decision = d;
	}
	neff = policy_effective_roles(c.pol, &rq, eff, MAX_LIST);
	if (neff > MAX_LIST)
		neff = MAX_LIST;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M", localtime(&c.at));
	if (o->json)
		test_json(o, &c, &ex, eff, neff, when);
	else
		test_text(o, &c, &ex, eff, neff, when);
	rc = ex.decision.allow ? WEXIT_OK : WEXIT_NO;
	policy_explanation_free(&ex);
	close_policy(&c);
	return rc;
}

/* ---- show ---- */

static int
policy_show(struct wopts *o)
{
	struct ctx c;
	struct policy_request rq;
	const char *eff[MAX_LIST], *assigned[256], *perms[MAX_LIST];
	size_t neff, nassigned, nperms = 0;

	if (o->nargs < 2) {
		fprintf(stderr, "wardctl: policy show USER\n");
		return WEXIT_ERR;
	}
	if (open_policy(o, NULL, &c) != 0)
		return WEXIT_ERR;
	resolve_roles(&c, o->args[1], &rq);
	if (c.have_roles) {
		nassigned = c.nroles;
		memcpy(assigned, c.roles, c.nroles * sizeof(*assigned));
	} else {
		nassigned = policy_user_roles(c.pol, o->args[1], assigned, 256);
		if (nassigned > 256)
			nassigned = 256;
	}
	neff = policy_effective_roles(c.pol, &rq, eff, MAX_LIST);
	if (neff > MAX_LIST)
		neff = MAX_LIST;
	for (size_t r = 0; r < policy_nroles(c.pol); r++) {
		const char *name = policy_role_name(c.pol, r), *pp[256];
		size_t k, np;
		int held = 0;

		for (k = 0; k < neff; k++)
			held |= strcmp(eff[k], name) == 0;
		if (!held)
			continue;
		np = policy_role_permissions(c.pol, r, pp, 256);
		for (size_t i = 0; i < np && i < 256; i++) {
			size_t j = 0;
			while (j < nperms && strcmp(perms[j], pp[i]) != 0)
				j++;
			if (j == nperms && nperms < MAX_LIST)
				perms[nperms++] = pp[i];
		}
	}
	if (o->json) {
		printf("{\"user\":");
		json_str(stdout, o->args[1]);
		printf(",\"assigned\":");
		json_strs(stdout, assigned, nassigned);
		printf(",\"roles\":");
		json_strs(stdout, eff, neff);
		printf(",\"permissions\":");
		json_strs(stdout, perms, nperms);
		printf("}\n");
	} else {
		printf("user:        %s\n", o->args[1]);
		printf("assigned:    ");
		text_strs(stdout, assigned, nassigned, "(none: not in the policy's users; use --roles)");
		printf("effective:   ");
		text_strs(stdout, eff, neff, "(none)");
		printf("permissions: ");
		text_strs(stdout, perms, nperms, "(none)");
	}
	close_policy(&c);
	return WEXIT_OK;
}

/* ---- who ---- */

static int
policy_who(struct wopts *o)
{
	struct ctx c;
	size_t nallow = 0;
	int first = 1;

	if (o->service == NULL) {
		fprintf(stderr, "wardctl: policy who needs --service S\n");
		return WEXIT_ERR;
	}
	if (open_policy(o, NULL, &c) != 0)
		return WEXIT_ERR;
	if (o->json)
		printf("{\"service\":\"%s\",\"host\":", o->service), json_str(stdout, o->host),
		    printf(",\"roles\":[");
	else
		printf("Who may use %s on %s (each role on its own, with what it inherits):\n",
		    o->service, o->host ? o->host : "(any host)");
	for (size_t r = 0; r < policy_nroles(c.pol); r++) {
		const char *name = policy_role_name(c.pol, r);
		struct policy_request rq = { .user = "", .roles = &name, .nroles = 1,
			.service = o->service, .host = o->host };
		struct policy_decision d;
		char b1[32], b2[32];

		policy_request_set_time(&rq, c.at);
		policy_decide(c.pol, &rq, &d);
		if (!d.allow && !d.break_glass)
			continue;
		nallow += d.allow;
		if (o->json) {
			printf("%s{\"role\":", first ? "" : ",");
			json_str(stdout, name);
			printf(",\"decision\":\"%s\",\"rule\":", d.allow ? "allow" : "break_glass");
			json_str(stdout, d.rule);
			printf(",\"mfa\":\"%s\",\"mfa_grace\":%ld}",
			    d.mfa_required ? "required" : "not_required", d.mfa_grace);
		} else if (d.allow) {
			printf("  %-20s allow  (rule %s; code %s, grace %s, idle %s)\n", name, d.rule,
			    d.mfa_required ? "required" : "not required",
			    limit_str(d.mfa_grace, b1, sizeof(b1)),
			    limit_str(d.idle_logoff, b2, sizeof(b2)));
		} else {
			printf("  %-20s break-glass only (denied by %s)\n", name, d.rule);
		}
		first = 0;
	}
	if (o->json) {
		printf("],\"users\":[");
		first = 1;
	} else {
		printf("Local users:\n");
	}
	for (size_t u = 0; u < policy_nusers(c.pol); u++) {
		struct policy_request rq = { .user = policy_user_name(c.pol, u),
			.service = o->service, .host = o->host };
		struct policy_decision d;

		policy_request_set_time(&rq, c.at);
		policy_decide(c.pol, &rq, &d);
		if (!d.allow)
			continue;
		if (o->json) {
			printf("%s", first ? "" : ",");
			json_str(stdout, rq.user);
		} else {
			printf("  %s\n", rq.user);
		}
		first = 0;
	}
	if (o->json)
		printf("]}\n");
	close_policy(&c);
	return nallow ? WEXIT_OK : WEXIT_NO;
}


/* ---- diff ---- */

static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

static void
diff_change_json(const struct diff_change *c, int comma)
{
	struct jobj j;
	char first[32];

	jobj_begin(&j, stdout, comma);
	switch (c->kind) {
	case DIFF_ACCESS:
		snprintf(first, sizeof(first), "%s %02d:%02d", wd[c->first_wday],
		    c->first_minute / 60, c->first_minute % 60);
		jobj_str(&j, "role", c->role);
		jobj_str(&j, "app", c->app);
		jobj_str(&j, "host", c->host);
		jobj_num(&j, "gains", c->gains);
		jobj_num(&j, "losses", c->losses);
		jobj_num(&j, "obligations", c->obligations);
		jobj_num(&j, "break_glass", c->break_glass);
		jobj_str(&j, "first", first);
		break;
	case DIFF_USER_ROLES:
		jobj_str(&j, "user", c->user);
		jobj_key(&j, "old_roles");
		json_strs(stdout, c->old_roles, c->nold);
		jobj_key(&j, "new_roles");
		json_strs(stdout, c->new_roles, c->nnew);
		break;
	case DIFF_PERMISSION:
		jobj_str(&j, "role", c->role);
		jobj_str(&j, "permission", c->permission);
		jobj_str(&j, "change", c->gained ? "gains" : "loses");
		break;
	}
	jobj_end(&j);
}

static void
diff_change_text(const struct diff_change *c)
{
	switch (c->kind) {
	case DIFF_ACCESS:
		printf("  role %-16s app %-14s on %-14s", c->role, c->app, c->host);
		if (c->gains)
			printf(" GAINS access (%d of 336 half-hours)", c->gains);
		if (c->losses)
			printf(" LOSES access (%d of 336 half-hours)", c->losses);
		if (c->obligations)
			printf(" obligations change (%d half-hours)", c->obligations);
		if (c->break_glass)
			printf(" break-glass changes (%d half-hours)", c->break_glass);
		printf(", first at %s %02d:%02d\n", wd[c->first_wday], c->first_minute / 60,
		    c->first_minute % 60);
		break;
	case DIFF_USER_ROLES:
		printf("  user %-16s roles:", c->user);
		for (size_t i = 0; i < c->nold; i++)
			printf(" %s", c->old_roles[i]);
		printf(" ->");
		for (size_t i = 0; i < c->nnew; i++)
			printf(" %s", c->new_roles[i]);
		printf("\n");
		break;
	case DIFF_PERMISSION:
		printf("  role %-16s %s permission %s\n", c->role, c->gained ? "GAINS" : "LOSES",
		    c->permission);
		break;
	}
}

static int
policy_diff(struct wopts *o)
{
	char err[8192];
	struct policy *a, *b;
	struct diff_list *d;
	int rc = WEXIT_ERR;

	if (o->nargs < 3) {
		fprintf(stderr, "wardctl: policy diff OLD NEW\n");
		return WEXIT_ERR;
	}
	a = policy_load(o->args[1], err, sizeof(err));
	if (a == NULL) {
		fprintf(stderr, "%s\n", err);
		return WEXIT_ERR;
	}
	b = policy_load(o->args[2], err, sizeof(err));
	if (b == NULL || (d = calloc(1, sizeof(*d))) == NULL) {
		fprintf(stderr, "%s\n", b == NULL ? err : "wardctl: policy diff: out of memory");
		policy_free(a);
		policy_free(b);
		return WEXIT_ERR;
	}
	if (diff_policies(a, b, o->host, d, err, sizeof(err)) != 0) {
		fprintf(stderr, "wardctl: policy diff: %s\n", err);
		goto out;
	}
	if (o->json) {
		printf("{\"old\":");
		json_str(stdout, o->args[1]);
		printf(",\"new\":");
		json_str(stdout, o->args[2]);
		printf(",\"changes\":[");
	} else {
		printf("Changes from %s to %s:\n", o->args[1], o->args[2]);
	}
	for (size_t i = 0; i < d->n; i++) {
		if (o->json)
			diff_change_json(&d->v[i], i > 0);
		else
			diff_change_text(&d->v[i]);
	}
	if (o->json)
		printf("],\"count\":%zu}\n", d->n);
	else if (d->n == 0)
		printf("  no difference in access, obligations, break-glass, users or permissions\n");
	rc = d->n ? WEXIT_NO : WEXIT_OK;
out:
	diff_list_free(d);
	free(d);
	policy_free(a);
	policy_free(b);
	return rc;
}

/* ---- compile ---- */

/* Is SNAP the snapshot wardd maps (CONF's)?  Then compiling it is a
 * change that leaves an audit record. */
static int
is_deployed_snapshot(const struct ward_conf *conf, const char *snap)
{
	struct stat a, b;

	if (conf->snapshot_file == NULL)
		return 0;
	if (strcmp(snap, conf->snapshot_file) == 0)
		return 1;
	return stat(snap, &a) == 0 && stat(conf->snapshot_file, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * A snapshot stamped within FILE_ID_RACY_SECONDS of its text's last change
 * makes every later load hash the text (file times cannot tell two writes
 * in one tick apart), until something stamps it again; wardd does when it
 * may write, but not under its unit, where /etc/ward is read-only.  For a
 * large text, where that hash costs every reader milliseconds, wait out
 * the window, make sure the text is still the one compiled (its identity,
 * then its hash against the snapshot's), and stamp again, as wardd would.
 * Anything amiss leaves the first snapshot, which is right, only slower.
 */
#define RESTAMP_MIN_BYTES (1 << 20)

static void
stamp_past_window(const struct policy *p, const char *path, const char *snap,
    const struct stat *text, time_t before)
{
	struct file_id was, is;
	struct policy *q;
	struct stat st;
	char why[1024];
	int fd, tries = 4 * (FILE_ID_RACY_SECONDS + 2);

	if (text->st_size < RESTAMP_MIN_BYTES ||
	    !file_id_racy((int64_t)text->st_ctim.tv_sec, (int64_t)before))
		return;
	while (file_id_racy((int64_t)text->st_ctim.tv_sec, (int64_t)time(NULL))) {
		if (tries-- == 0)
			return;      /* a change time ahead of the clock */
		nanosleep(&(struct timespec){ 0, 250 * 1000 * 1000 }, NULL);
	}
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)) < 0)
		return;
	file_id_of(text, &was);
	if (fstat(fd, &st) == 0 && (file_id_of(&st, &is), file_id_same(&was, &is)) &&
	    (q = policy_load_snapshot(snap, why, sizeof(why))) != NULL) {
		if (strcmp(policy_version(q), policy_version(p)) == 0 &&
		    policy_snapshot_current(q, fd, &st, why, sizeof(why)) == 1 &&
		    policy_compile(p, snap, &st, why, sizeof(why)) != 0)
			fprintf(stderr, "wardctl: %s: not stamped again (still right, but "
			    "each load hashes the text): %s\n", snap, why);
		policy_free(q);
	}
	close(fd);
}

static int
policy_compile_cmd(struct wopts *o)
{
	char err[16384], *snap_alloc = NULL, what[8192];
	struct ward_conf conf;
	const char *path = o->nargs > 1 ? o->args[1] : o->policy, *snap = o->output;
	struct audit_log *log = NULL;
	struct policy *p;
	struct stat tst;
	struct timespec t0, t1;
	time_t stamped;
	int rc = WEXIT_ERR, have_conf = 0, logged = 0;

	memset(&conf, 0, sizeof(conf));
	if (path == NULL) {
		if (wardctl_load_conf(o, &conf) != 0)
			return WEXIT_ERR;
		have_conf = 1;
		path = conf.policy_file;
		if (snap == NULL)
			snap = conf.snapshot_file;
	} else if (o->config != NULL || access(CONF_DEFAULT_PATH, F_OK) == 0) {
		/* a policy named on the line may still be the deployed one */
		if (wardctl_load_conf(o, &conf) != 0)
			return WEXIT_ERR;
		have_conf = 1;
	}
	if (snap == NULL) {
		if ((snap_alloc = wardctl_snapshot_of(path)) == NULL)
			goto out;
		snap = snap_alloc;
	}
	if (have_conf && is_deployed_snapshot(&conf, snap) &&
	    wardctl_audit_begin(&conf, NULL, "compile the policy", &log) != 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	{
		/* the identity of the text as read goes into the snapshot */
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

		if (fd < 0) {
			fprintf(stderr, "%s: %s\n%s: not compiled\n", path, errno == ELOOP ?
			    "is a symbolic link (refused)" : strerror(errno), path);
			goto out;
		}
		p = policy_load_fd(fd, path, &tst, err, sizeof(err));
		close(fd);
	}
	if (p == NULL) {
		fprintf(stderr, "%s\n%s: not compiled\n", err, path);
		goto out;
	}
	stamped = time(NULL);
	if (policy_compile(p, snap, &tst, err, sizeof(err)) != 0) {
		fprintf(stderr, "wardctl: %s\n", err);
		policy_free(p);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	stamp_past_window(p, path, snap, &tst, stamped);
	if (log != NULL) {
		snprintf(what, sizeof(what), "%s -> %s", path, snap);
		logged = wardctl_audit_admin(log, "policy compile", NULL, what, policy_version(p));
		log = NULL;
	}
	if (o->json) {
		printf("{\"policy\":");
		json_str(stdout, path);
		printf(",\"snapshot\":");
		json_str(stdout, snap);
		printf(",\"policy_version\":\"%s\",\"roles\":%zu,\"apps\":%zu,\"ms\":%.1f}\n",
		    policy_version(p), policy_nroles(p), policy_napps(p),
		    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	} else {
		printf("compiled %s -> %s (version %.12s, %zu roles, %zu apps) in %.1f ms\n", path,
		    snap, policy_version(p), policy_nroles(p), policy_napps(p),
		    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	}
	policy_free(p);
	rc = logged == 0 ? WEXIT_OK : WEXIT_ERR;
out:
	audit_log_close(log);
	free(snap_alloc);
	conf_free(&conf);
	return rc;
}

int
cmd_policy(struct wopts *o)
{
	const char *sub = o->nargs > 0 ? o->args[0] : "";

	if (strcmp(sub, "check") == 0)
		return policy_check(o);
	if (strcmp(sub, "test") == 0)
		return policy_test(o);
	if (strcmp(sub, "show") == 0)
		return policy_show(o);
	if (strcmp(sub, "who") == 0)
		return policy_who(o);
	if (strcmp(sub, "diff") == 0)
		return policy_diff(o);
	if (strcmp(sub, "compile") == 0)
		return policy_compile_cmd(o);
	fprintf(stderr, "wardctl: policy: unknown subcommand '%s' (check, test, show, who, diff, compile)\n", sub);
	return WEXIT_ERR;
}

/* can USER PERMISSION [--host H] [--service S]: holds the permission, and,
 * with --host, may use the permission's app there now. */
int
cmd_can(struct wopts *o)
{
	struct ctx c;
	struct policy_request rq;
	int ok;
	char app[256];
	const char *colon;

	if (o->nargs < 2) {
		fprintf(stderr, "wardctl: can USER PERMISSION [--host H]\n");
		return WEXIT_ERR;
	}
	colon = strchr(o->args[1], ':');
	if (colon == NULL || colon == o->args[1] || (size_t)(colon - o->args[1]) >= sizeof(app)) {
		fprintf(stderr, "wardctl: permission must be app:action\n");
		return WEXIT_ERR;
	}
	if (open_policy(o, NULL, &c) != 0)
		return WEXIT_ERR;
	resolve_roles(&c, o->args[0], &rq);
	ok = policy_permitted(c.pol, &rq, o->args[1]);
	if (ok && o->host != NULL) {
		struct policy_decision d;
		memcpy(app, o->args[1], (size_t)(colon - o->args[1]));
		app[colon - o->args[1]] = '\0';
		rq.service = o->service ? o->service : app;
		/* the app's own services stand for it (an unlisted name is its own app) */
		for (size_t i = 0; o->service == NULL && i < policy_napps(c.pol); i++) {
			const char *svc[1];
			if (strcmp(policy_app_name(c.pol, i), app) == 0 &&
			    policy_app_services(c.pol, i, svc, 1) > 0)
				rq.service = svc[0];
		}
		rq.host = o->host;
		policy_decide(c.pol, &rq, &d);
		ok = d.allow;
	}
	if (o->json) {
		printf("{\"user\":");
		json_str(stdout, o->args[0]);
		printf(",\"permission\":");
		json_str(stdout, o->args[1]);
		printf(",\"allowed\":%s}\n", ok ? "true" : "false");
	} else {
		printf("%s %s %s\n", o->args[0], ok ? "may" : "may not", o->args[1]);
	}
	close_policy(&c);
	return ok ? WEXIT_OK : WEXIT_NO;
}
