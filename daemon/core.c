/*
 * core.c - shared by wardd and wardctl.  Rules in core.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "audit.h"
#include "core.h"
#include "dir.h"
#include "fleet.h"
#include "otp.h"
#include "secret.h"
#include "state.h"
#include "tfile.h"

/* The owner and mode rules of every file Ward reads (tfile.h). */
static int
check_policy_fd(int fd, const char *name, char *err, size_t errlen)
{
	return tfile_check_fd(fd, name, 0, err, errlen);
}

struct policy *
core_load_policy(const struct ward_conf *conf, int compile, int *from_snap, char *err,
    size_t errlen)
{
	struct policy_files f = { conf->policy_file, conf->snapshot_file, check_policy_fd,
		compile };
	struct policy *p;
	char note[2048];
	int warn = 0;

	p = policy_load_deployed(&f, from_snap, note, sizeof(note), &warn, err, errlen);
	if (note[0] != '\0')
		ward_log(p != NULL && !warn ? LOG_NOTICE : LOG_WARNING, "%s", note);
	return p;
}

int
core_init(struct core *c, const char *conf_path, char *err, size_t errlen)
{
	/* Schedules are in the workstation's local time: wardd's own TZ and
	 * clock (the caller's environment never reaches wardd). */
	memset(c, 0, sizeof(*c));
	if (conf_load(&c->conf, conf_path, err, errlen) != 0)
		return WARD_ERR_PARSE;
	/* root compiles a snapshot that is missing or not the text's, for the
	 * next login */
	c->pol = core_load_policy(&c->conf, geteuid() == 0, &c->from_snapshot, err, errlen);
	if (c->pol == NULL) {
		conf_free(&c->conf);
		return WARD_ERR_POLICY;
	}
	if (gethostname(c->host, sizeof(c->host) - 1) != 0)
		c->host[0] = '\0';     /* unknown host: only host-less rules match */
	c->host[sizeof(c->host) - 1] = '\0';
	c->owner = getpid();
	{
		char *dot = strchr(c->host, '.');
		if (dot != NULL)
			*dot = '\0';
	}
	/* the keys, once per load; one that does not load is no reason to
	 * refuse the configuration (every verification then fails closed,
	 * and tries the file again) */
	c->mkey_err = c->fkey_err = WARD_ERR_NOTFOUND;
	c->fleet_sync_due = 1;
	(void)core_key(c);
	if (c->conf.fleet.enabled)
		(void)core_fleet_keys(c);
	return 0;
}

const struct secret_key *
core_key(struct core *c)
{
	char err[512];

	if (c->mkey_err == 0)
		return &c->mkey;
	if (c->conf.key_file == NULL) {
		ward_log(LOG_ERR, "master key: no file named");
		return NULL;
	}
	if ((c->mkey_err = secret_key_load(&c->mkey, c->conf.key_file, err, sizeof(err))) != 0) {
		secret_key_wipe(&c->mkey);
		ward_log(LOG_ERR, "master key: %s", err);
		return NULL;
	}
	return &c->mkey;
}

const struct fleet_keyring *
core_fleet_keys(struct core *c)
{
	char err[512];

	if (c->fkey_err == 0)
		return &c->fring;
	if ((c->fkey_err = fleet_keyring_load(&c->fring, &c->conf, err, sizeof(err))) != 0) {
		fleet_keyring_wipe(&c->fring);
		ward_log(LOG_ERR, "fleet key: %s", err);
		return NULL;
	}
	return &c->fring;
}

void
core_free(struct core *c)
{
	if (c == NULL)
		return;
	/* Handles inherited across a fork belong to the parent: leave them. */
	if (c->owner == getpid()) {
		core_close_handles(&c->log, &c->dir, &c->st);
		fleet_close(c->fleet);
	}
	c->fleet = NULL;
	secret_key_wipe(&c->mkey);
	fleet_keyring_wipe(&c->fring);
	c->mkey_err = c->fkey_err = WARD_ERR_NOTFOUND;
	c->log = NULL;
	c->dir = NULL;
	c->st = NULL;
	policy_free(c->pol);
	c->pol = NULL;
	conf_free(&c->conf);
}

void
core_close_handles(struct audit_log **log, struct dir **dir, struct state **st)
{
	audit_log_close(*log);
	dir_close(*dir);
	state_close(*st);
	*log = NULL;
	*dir = NULL;
	*st = NULL;
}

int
core_state(struct core *c, struct state **st)
{
	int r;

	*st = NULL;
	if (c->owner != getpid()) {
		/* forked since: start afresh, never touch the parent's handles */
		c->st = NULL;
		c->dir = NULL;
		c->log = NULL;
		c->fleet = NULL;
		c->st_err = 0;
		c->owner = getpid();
	}
	/* one failure per transaction: a lock held elsewhere is waited for once */
	if (c->st_err != 0)
		return c->st_err;
	if (c->st == NULL && (r = state_open(&c->st, c->conf.state_dir, 0)) != 0) {
		c->st = NULL;
		c->st_err = r;
		return r;
	}
	/* what wardd's phase asks (core.h); every caller's store is told */
	state_defer_recorded_commit(c->st, c->commit_after_answer);
	state_keep_recorded_pending(c->st, c->commit_after_answer);
	state_set_recover_window(c->st, c->conf.mfa.window);
	*st = c->st;
	return 0;
}

static int
add_role(const char **roles, size_t *count, size_t max, const char *role)
{
	for (size_t i = 0; i < *count; i++)
		if (strcmp(roles[i], role) == 0)
			return 0;
	if (*count >= max)
		return WARD_ERR_TOOBIG;
	roles[(*count)++] = role;
	return 0;
}

/* C's store and audit log, opened when they are not: 0, or an error with
 * ERR saying why. */
static int
core_log(struct core *c, char *err, size_t errlen)
{
	struct state *st;
	int r;

	if ((r = core_state(c, &st)) != 0) {
		snprintf(err, errlen, "state store %s: %s", c->conf.state_dir, ward_strerror(r));
		return r;
	}
	if (c->log == NULL && (r = audit_log_open(&c->log, &c->conf, st, err, errlen)) != 0)
		c->log = NULL;
	return r;
}

int
core_adopt(struct core *c)
{
	char err[512];
	int r;

	if ((r = core_log(c, err, sizeof(err))) == 0)
		r = audit_adopt(c->log, err, sizeof(err));
	if (r != 0)
		ward_log(LOG_ERR, "%s", err);
	return r;
}

int
core_map_groups(const struct policy *pol, char *const *dns, size_t n,
    const char **roles, size_t *count, size_t max)
{
	size_t nsrc = policy_nrole_sources(pol);
	char **norm;
	int r = 0;

	if (n == 0 || nsrc == 0)
		return 0;
	if ((norm = calloc(n, sizeof(*norm))) == NULL)
		return WARD_ERR_NOMEM;
	/*
	 * Normalise each answer once.  Any failure fails the whole mapping: a
	 * group silently dropped could drop a role that a deny rule or a
	 * separation-of-duty constraint needs, and turn a deny into an allow.
	 */
	for (size_t i = 0; i < n; i++)
		if ((r = dir_dn_normalize(dns[i], &norm[i])) != 0) {
			if (r != WARD_ERR_NOMEM)
				ward_log(LOG_ERR, "directory answer: group \"%.200s\" is not a "
				    "DN; refusing the answer", dns[i]);
			goto out;
		}
	for (size_t s = 0; s < nsrc && r == 0; s++) {
		const char *group = NULL, *role = NULL;
		char *ns = NULL;

		policy_role_source(pol, s, &group, &role);
		if (group == NULL || role == NULL)
			continue;
		if ((r = dir_dn_normalize(group, &ns)) != 0) {
			if (r == WARD_ERR_NOMEM)
				break;
			/* a policy entry no DN can match: it confers nothing */
			ward_log(LOG_WARNING, "policy role_sources: \"%.200s\" is not a DN; "
			    "it confers no role", group);
			r = 0;
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			if (norm[i] != NULL && strcmp(norm[i], ns) == 0) {
				r = add_role(roles, count, max, role);
				break;
			}
		}
		free(ns);
	}
out:
	dir_free_list(norm, n);
	return r;
}

int
core_resolve(struct core *c, const char *user, time_t now, struct core_who *w)
{
	struct state *st;
	char **dns = NULL;
	size_t n = 0, nlocal;
	int r;

	memset(w, 0, sizeof(*w));
	if (ward_user_valid(user) != 0)
		return WARD_ERR_INVAL;
	nlocal = policy_user_roles(c->pol, user, w->roles, CORE_MAX_ROLES);
	if (nlocal > CORE_MAX_ROLES) {
		ward_log(LOG_ERR, "user %s holds %zu local roles, more than %d: refusing", user,
		    nlocal, CORE_MAX_ROLES);
		return WARD_ERR_TOOBIG;
	}
	w->nroles = nlocal;
	if (!c->conf.directory.enabled)
		return 0;
	if ((r = core_state(c, &st)) != 0)
		return r;
	r = dir_groups_cached(&c->dir, &c->conf.directory, st, user, (int64_t)now, &dns, &n,
	    &w->offline, &w->dir_note);
	if (r == WARD_ERR_NOTFOUND)
		return 0;	/* not in the directory (or not by this exact name): local roles only */
	if (r != 0)
		return r;
	w->in_directory = 1;
	r = core_map_groups(c->pol, dns, n, w->roles, &w->nroles, CORE_MAX_ROLES);
	if (r == WARD_ERR_TOOBIG)
		ward_log(LOG_ERR, "user %s holds more than %d roles: refusing", user,
		    CORE_MAX_ROLES);
	dir_free_list(dns, n);
	return r;
}

static void
fill_request(const struct core *c, const struct core_who *w, const char *user,
    const char *service, time_t now, struct policy_request *rq)
{
	memset(rq, 0, sizeof(*rq));
	rq->user = user;
	rq->roles = w->roles;
	rq->nroles = w->nroles;
	rq->service = service;
	rq->host = c->host;
	policy_request_set_time(rq, now);
}

void
core_decide_who(const struct core *c, const struct core_who *w, const char *user,
    const char *service, time_t now, struct policy_decision *d)
{
	struct policy_request rq;

	fill_request(c, w, user, service, now, &rq);
	policy_decide(c->pol, &rq, d);
}

const char *
core_roles_joined(const struct core *c, const struct core_who *w, char *buf, size_t len)
{
	struct policy_request rq;
	const char *eff[256];
	size_t n, off = 0;

	buf[0] = '\0';
	fill_request(c, w, "", "", 0, &rq);
	n = policy_effective_roles(c->pol, &rq, eff, 256);
	for (size_t i = 0; i < n && i < 256; i++) {
		int k = snprintf(buf + off, len - off, "%s%s", i ? "," : "", eff[i]);
		if (k < 0 || (size_t)k >= len - off) {
			buf[0] = '\0';
			break;
		}
		off += (size_t)k;
	}
	return buf;
}

int
core_record(struct core *c, const struct core_who *w, const char *user,
    const char *service, const struct core_rec *rec, const char *rhost, const char *tty)
{
	struct audit_event ev;
	const char *eff[CORE_MAX_ROLES * 4];
	char err[512];
	int r;

	memset(&ev, 0, sizeof(ev));
	ev.event = audit_event_name(rec->event);
	ev.result = audit_result_name(rec->result);
	ev.service = service;
	ev.user = user;
	ev.rule = rec->rule;
	ev.reason = rec->reason;
	ev.factor = audit_factor_name(rec->factor);
	ev.detail = rec->detail;
	ev.offline = -1;
	ev.rhost = rhost;
	ev.tty = tty;
	if (w != NULL) {
		struct policy_request rq;
		size_t n;

		fill_request(c, w, user, "", 0, &rq);
		n = policy_effective_roles(c->pol, &rq, eff, sizeof(eff) / sizeof(eff[0]));
		ev.roles = eff;
		ev.nroles = n < sizeof(eff) / sizeof(eff[0]) ? n : sizeof(eff) / sizeof(eff[0]);
		ev.policy_version = policy_version(c->pol);
		ev.offline = w->offline;
		if (ev.detail == NULL)
			ev.detail = w->dir_note;
	}
	if (rec->offline)
		ev.offline = 1;
	if ((r = core_log(c, err, sizeof(err))) == 0)
		r = audit_write(c->log, &ev, err, sizeof(err));
	/* an attempt held for this record (core_verify) that the append did not
	 * take: committed when the record is written, dropped when it is not
	 * (the attempt then counts for nothing, and the caller denies) */
	if (c->st != NULL) {
		if (r == 0 && (r = state_held_commit(c->st)) != 0)
			snprintf(err, sizeof(err), "state store %s: %s", c->conf.state_dir,
			    ward_strerror(r));
		if (r != 0)
			state_held_abort(c->st);
	}
	if (r != 0) {
		if (ev.event == NULL || ev.result == NULL)
			ev.event = ev.result = "(not in the table)";
		/* a malformed name (controls, a forged log line) is not logged;
		 * a record about no user (wardd's head records) decides nothing */
		if (user == NULL)
			ward_log(LOG_CRIT, "audit record (%s %s) not written: %s", ev.event,
			    ev.result, err);
		else if (ward_user_valid(user) == 0)
			ward_log(LOG_CRIT, "audit record (%s %s for %s) not written: %s; "
			    "denying", ev.event, ev.result, user, err);
		else
			ward_log(LOG_CRIT, "audit record (%s %s for a malformed user name of "
			    "%zu bytes) not written: %s; denying", ev.event, ev.result,
			    strlen(user), err);
	}
	return r;
}

void
core_decision_deny(struct policy_decision *d)
{
	memset(d, 0, sizeof(*d));
	d->allow = 0;
	d->mfa_required = 1;
	d->reason = "no decision";
	d->rule = "none";
}

int
core_decide(struct core *c, const char *user, const char *service, time_t now,
    struct policy_decision *d, struct core_who *w)
{
	struct core_who local;
	int r;

	core_decision_deny(d);
	if (w == NULL)
		w = &local;
	if ((r = core_resolve(c, user, now, w)) != 0)
		return r;
	core_decide_who(c, w, user, service, now, d);
	return 0;
}

int
core_grace_active(struct core *c, const char *user, const char *app, time_t now,
    long seconds, int *active)
{
	struct state *st;
	struct state_user u;
	int64_t verified = 0;
	int r, ur;

	*active = 0;
	/* looked up even when SECONDS <= 0 (never active then): auth does the
	 * same work for every name (flow.c, flow_authenticate) */
	if ((r = core_state(c, &st)) != 0)
		return r;
	r = state_grace_get(st, user, c->host, app, &verified);
	/* a lockout ends every grace: wrong codes elsewhere may be someone
	 * guessing, and a locked user is refused everywhere */
	memset(&u, 0, sizeof(u));
	ur = state_user_get(st, user, &u);
	if (ur == 0 && (u.locked_until > (int64_t)now ||
	    u.fleet_offline_locked_until > (int64_t)now)) {
		state_user_clear(&u);
		return WARD_ERR_LOCKED;
	}
	state_user_clear(&u);
	if (ur != 0 && ur != WARD_ERR_NOTFOUND)
		return ur;
	/* a time in the future (clock stepped back) grants nothing */
	if (r == 0 && verified > 0 && verified <= (int64_t)now &&
	    (int64_t)now - verified < (int64_t)seconds)
		*active = 1;
	return r;
}

int
core_grace_record(struct core *c, const char *user, const char *app, long seconds,
    time_t now)
{
	struct state *st;
	int r;

	if (seconds <= 0)
		return 0;
	if ((r = core_state(c, &st)) != 0)
		return r;
	return state_grace_put(st, user, c->host, app, (int64_t)now);
}

struct vctx {
	const struct core *c;
	const struct secret_key *key;
	const char *user;
	const char *code;
	int spend;                   /* 0: check only (core_check) */
	int used_recovery;
	int recovery_left;
};

static int
count_left(const struct state_user *rec)
{
	int n = 0;

	for (size_t i = 0; i < rec->nrecovery; i++)
		n += rec->recovery_used[i] == 0;
	return n;
}

/* Runs inside the store's write transaction (state_user_attempt). */
static int
vcheck(void *ctx, struct state_user *rec, int64_t now)
{
	struct vctx *v = ctx;
	struct otp_params p;
	char norm[SECRET_RECOVERY_CHARS + 1];
	unsigned char h[32], *secret = NULL;
	size_t slen = 0;
	int64_t step = -1;
	int r;

	v->recovery_left = count_left(rec);
	if (secret_recovery_normalise(v->code, norm) == 0) {
		int found = -1;

		r = secret_recovery_hash(v->key, rec->recovery_salt, v->user, norm, h);
		ward_wipe(norm, sizeof(norm));
		if (r != 0)
			return r;
		/* look at every slot, so the time taken says nothing */
		for (size_t i = 0; i < rec->nrecovery; i++) {
			int eq = ward_ct_equal(h, rec->recovery[i], sizeof(h));
			if (eq && !rec->recovery_used[i] && found < 0)
				found = (int)i;
		}
		ward_wipe(h, sizeof(h));
		if (found < 0)
			return WARD_ERR_BADCODE;
		if (!v->spend)
			return STATE_CHECK_UNSPENT;
		rec->recovery_used[found] = 1;
		v->used_recovery = 1;
		v->recovery_left = count_left(rec);
		return 0;
	}
	r = secret_open(v->key, v->user, rec->secret_ct, rec->secret_ct_len, &secret, &slen);
	if (r != 0) {
		ward_log(LOG_ERR, "cannot decrypt the TOTP secret of user %s (%s): wrong master "
		    "key, or the record was altered or copied from another user", v->user,
		    ward_strerror(r));
		return r == WARD_ERR_CORRUPT ? r : WARD_ERR_CRYPTO;
	}
	p.algorithm = rec->algorithm;
	p.digits = rec->digits;
	p.period = rec->period;
	p.window = v->c->conf.mfa.window;
	r = otp_verify(secret, slen, &p, (time_t)now, v->code, &step);
	ward_freezero(secret, slen);
	if (r != 0)
		return r;
	if (step <= rec->last_step)
		return WARD_ERR_REPLAY;
	if (!v->spend)
		return STATE_CHECK_UNSPENT;
	rec->last_step = step;
	return 0;
}

static int
verify(struct core *c, const char *user, const char *code, time_t now, int spend,
    struct core_verify_result *res)
{
	const struct secret_key *key;
	struct state *st = NULL;
	struct vctx v;
	int r;

	memset(res, 0, sizeof(*res));
	if (ward_user_valid(user) != 0)
		return WARD_ERR_NOTFOUND;
	if (c->conf.fleet.enabled)
		return core_fleet_verify(c, user, code, now, spend, res);
	if ((key = core_key(c)) == NULL)
		return c->mkey_err;
	if ((r = core_state(c, &st)) != 0)
		return r;
	memset(&v, 0, sizeof(v));
	v.c = c;
	v.key = key;
	v.user = user;
	v.code = code;
	v.spend = spend;
	/* Every caller records the outcome before it answers (core.h); with
	 * audit.fsync that record's synced head commit makes this attempt
	 * durable too, so the attempt's own commit need not sync its meta. */
	state_defer_attempt_meta_sync(st, c->conf.audit.fsync);
	/* with audit.fsync, the attempt commits with its record, in one synced
	 * commit after the record is in the (synced) log (state.h): core_record
	 * takes it, or drops it when the record cannot be written */
	if (c->conf.audit.fsync)
		state_hold_next_attempt(st);
	r = state_user_attempt(st, user, (int64_t)now, c->conf.mfa.max_failures,
	    c->conf.mfa.lockout_seconds, vcheck, &v, &res->locked_now);
	res->used_recovery = r == 0 && v.used_recovery;
	res->recovery_left = v.recovery_left;
	if (r == WARD_ERR_LOCKED || res->locked_now) {
		struct state_user u;
		if (state_user_get(st, user, &u) == 0)
			res->locked_until = u.locked_until;
		state_user_clear(&u);
	}
	/* a lockout ends the user's graces here: after IT unlocks, a code is
	 * asked again (core_grace_active also refuses while locked) */
	if (res->locked_now && state_grace_clear_user(st, user) != 0)
		ward_log(LOG_WARNING, "the graces of user %s were not cleared at its lockout "
		    "(refused while locked all the same)", user);
	if (r == WARD_ERR_STORE || r == WARD_ERR_FULL)
		ward_log(LOG_ERR, "state store %s: could not record the attempt of user %s; "
		    "denying", c->conf.state_dir, user);
	return r;
}

int
core_verify(struct core *c, const char *user, const char *code, time_t now,
    struct core_verify_result *res)
{
	return verify(c, user, code, now, 1, res);
}

int
core_check(struct core *c, const char *user, const char *code, time_t now,
    struct core_verify_result *res)
{
	return verify(c, user, code, now, 0, res);
}
