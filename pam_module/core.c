/*
 * core.c - shared by pam_ward.so and ward_verify.  Rules in core.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "core.h"
#include "dir.h"
#include "otp.h"
#include "secret.h"
#include "state.h"
#include "tfile.h"

#define POLICY_TEXT_MAX ((size_t)64 << 20)
#define POLICY_SNAP_MAX ((size_t)1 << 30)

/* The snapshot when it is at least as new as the text and intact; the
 * text otherwise.  Both are read through the trusted opener. */
static struct policy *
load_policy(const struct ward_conf *conf, int *from_snap, char *err, size_t errlen)
{
	struct stat ts, ss;
	struct policy *p = NULL;
	char *buf = NULL;
	size_t len = 0;

	*from_snap = 0;
	if (conf->snapshot_file != NULL && stat(conf->policy_file, &ts) == 0 &&
	    lstat(conf->snapshot_file, &ss) == 0 &&
	    (ss.st_mtim.tv_sec > ts.st_mtim.tv_sec ||
	     (ss.st_mtim.tv_sec == ts.st_mtim.tv_sec &&
	      ss.st_mtim.tv_nsec >= ts.st_mtim.tv_nsec))) {
		if (tfile_read(conf->snapshot_file, 0, POLICY_SNAP_MAX, &buf, &len, err,
		    errlen) == 0)
			p = policy_load_snapshot_buffer(conf->snapshot_file, buf, len, err, errlen);
		free(buf);
		buf = NULL;
		if (p != NULL) {
			*from_snap = 1;
			return p;
		}
		/* a damaged or unsafe snapshot is never trusted */
		ward_log(LOG_WARNING, "policy snapshot not used: %s; reading %s", err,
		    conf->policy_file);
	}
	if (tfile_read(conf->policy_file, 0, POLICY_TEXT_MAX, &buf, &len, err, errlen) != 0)
		return NULL;
	p = policy_load_buffer(conf->policy_file, buf, err, errlen);
	free(buf);
	return p;
}

int
core_init(struct core *c, const char *conf_path, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (conf_load(&c->conf, conf_path, err, errlen) != 0)
		return WARD_ERR_PARSE;
	c->pol = load_policy(&c->conf, &c->from_snapshot, err, errlen);
	if (c->pol == NULL) {
		conf_free(&c->conf);
		return WARD_ERR_POLICY;
	}
	if (gethostname(c->host, sizeof(c->host) - 1) != 0)
		c->host[0] = '\0';     /* unknown host: only host-less rules match */
	c->host[sizeof(c->host) - 1] = '\0';
	{
		char *dot = strchr(c->host, '.');
		if (dot != NULL)
			*dot = '\0';
	}
	return 0;
}

void
core_free(struct core *c)
{
	if (c == NULL)
		return;
	policy_free(c->pol);
	c->pol = NULL;
	conf_free(&c->conf);
}

int
core_roles(struct core *c, const char *user, const char **roles, size_t max)
{
	size_t n;

	if (ward_user_valid(user) != 0)
		return WARD_ERR_INVAL;
	n = policy_user_roles(c->pol, user, roles, max);
	if (n > max) {
		ward_log(LOG_ERR, "user %s holds %zu roles, more than %zu: refusing", user, n, max);
		return WARD_ERR_TOOBIG;
	}
	return (int)n;
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
	/* Normalise each answer once; one that does not parse matches nothing. */
	for (size_t i = 0; i < n; i++)
		if (dir_dn_normalize(dns[i], &norm[i]) == WARD_ERR_NOMEM) {
			r = WARD_ERR_NOMEM;
			goto out;
		}
	for (size_t s = 0; s < nsrc && r == 0; s++) {
		const char *group = NULL, *role = NULL;
		char *ns = NULL;

		policy_role_source(pol, s, &group, &role);
		if (group == NULL || role == NULL)
			continue;
		if (dir_dn_normalize(group, &ns) != 0)
			continue;	/* the loader checked it; nothing can match */
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
core_decide(struct core *c, const char *user, const char *service, time_t now,
    struct policy_decision *d)
{
	const char *roles[CORE_MAX_ROLES];
	struct policy_request rq;
	int n;

	memset(d, 0, sizeof(*d));
	d->allow = 0;
	d->mfa_required = 1;
	d->reason = "no decision";
	if ((n = core_roles(c, user, roles, CORE_MAX_ROLES)) < 0)
		return n;
	memset(&rq, 0, sizeof(rq));
	rq.user = user;
	rq.roles = roles;
	rq.nroles = (size_t)n;
	rq.service = service;
	rq.host = c->host;
	policy_request_set_time(&rq, now);
	policy_decide(c->pol, &rq, d);
	return 0;
}

int
core_grace_active(struct core *c, const char *user, const char *app, time_t now,
    int *active)
{
	struct state *st;
	int64_t until = 0;
	int r;

	*active = 0;
	if ((r = state_open(&st, c->conf.state_dir, 0)) != 0)
		return r;
	r = state_grace_get(st, user, c->host, app, &until);
	state_close(st);
	if (r == 0 && until > (int64_t)now)
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
	if ((r = state_open(&st, c->conf.state_dir, 0)) != 0)
		return r;
	r = state_grace_put(st, user, c->host, app, (int64_t)now + seconds);
	state_close(st);
	return r;
}

struct vctx {
	const struct core *c;
	const struct secret_key *key;
	const char *user;
	const char *code;
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
	rec->last_step = step;
	return 0;
}

int
core_verify(struct core *c, const char *user, const char *code, time_t now,
    struct core_verify_result *res)
{
	struct secret_key key;
	struct state *st = NULL;
	struct vctx v;
	char err[512];
	int r;

	memset(res, 0, sizeof(*res));
	if (ward_user_valid(user) != 0)
		return WARD_ERR_NOTFOUND;
	if ((r = secret_key_load(&key, c->conf.key_file, err, sizeof(err))) != 0) {
		ward_log(LOG_ERR, "master key: %s", err);
		return r;
	}
	if ((r = state_open(&st, c->conf.state_dir, 0)) != 0)
		goto out;
	memset(&v, 0, sizeof(v));
	v.c = c;
	v.key = &key;
	v.user = user;
	v.code = code;
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
	if (r == WARD_ERR_STORE)
		ward_log(LOG_ERR, "state store %s: could not record the attempt of user %s; "
		    "denying", c->conf.state_dir, user);
out:
	state_close(st);
	secret_key_wipe(&key);
	return r;
}
