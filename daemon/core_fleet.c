/*
 * core_fleet.c - wardd's verification in fleet mode (ward.conf(5), FLEET):
 * a code is checked against the user's record in the directory and spent
 * there with one asserted change (lib/fleet.h), so that one code succeeds
 * once across every workstation.  Rules in core.h; the flow in
 * docs/ARCHITECTURE.md ("Fleet mode").
 *
 * Rules it keeps:
 *  - A success is only a change the write path answered with success
 *    (fleet_accept, fleet_recovery_spend returned 0).  Anything else is a
 *    denial.
 *  - A change that got no answer may land later: its TOTP step is spent
 *    on this workstation (the local watermark is raised past it), so this
 *    workstation never accepts that step again, whatever the directory
 *    says afterwards.
 *  - This workstation keeps a mirror of each user's record it read (the
 *    state store's user record: the sealed secret as the directory has it,
 *    never opened at rest, its parameters, the local watermark, the
 *    lockout the directory showed, and in last_used_at when it was read).
 *    The local watermark is never lower than the directory's.
 *  - The fleet key comes from the configuration load (core_key); the
 *    secret is opened only in a local buffer that is wiped before return.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "core.h"
#include "fleet.h"
#include "otp.h"
#include "secret.h"
#include "state.h"

/* The mirror's fetch time is written again when older than this (or half
 * of offline_mfa_max_age, the smaller), not at every login. */
#define MIRROR_REFRESH_S 60

#define D_READ_DOWN "fleet: the directory could not be read"
#define D_WRITE_NONE "fleet: the change got no answer; the step is spent on this workstation"
#define D_FAIL_NONE "fleet: counting the failure got no answer (it may not be counted)"
#define D_REC_NONE "fleet: spending the recovery code got no answer (it may be spent)"
#define D_REC_UNCHECKED "fleet: a recovery code is not checked for a login the policy " \
	"denies (checking spends it)"

static int
outage(int r)
{
	return r == WARD_ERR_UNAVAIL || r == WARD_ERR_TIMEOUT || r == WARD_ERR_TLS ||
	    r == WARD_ERR_AUTH;
}

/* C's fleet handle, opened on first use. */
static int
handle(struct core *c, struct fleet **f)
{
	int r;

	if (c->fleet == NULL && (r = fleet_open(&c->fleet, &c->conf)) != 0) {
		c->fleet = NULL;
		return r;
	}
	*f = c->fleet;
	return 0;
}

/* What the mirror of a user becomes (state_user_update's FN). */
struct mirror {
	const struct fleet_user *u;  /* the record just read, or NULL */
	int64_t now;
	int64_t raise;               /* raise the local watermark to this, -1 none */
	long refresh;
	int64_t local_step;          /* out: the local watermark before */
	int wrote;
};

static int
mirror_fn(void *ctx, struct state_user *rec)
{
	struct mirror *m = ctx;
	const struct fleet_user *u = m->u;
	int change = 0;

	m->local_step = rec->last_step;
	if (u != NULL) {
		if (rec->secret_ct_len != u->secret_ct_len || rec->secret_ct == NULL ||
		    memcmp(rec->secret_ct, u->secret_ct, u->secret_ct_len) != 0) {
			unsigned char *ct = malloc(u->secret_ct_len);

			if (ct == NULL)
				return WARD_ERR_NOMEM;
			memcpy(ct, u->secret_ct, u->secret_ct_len);
			ward_freezero(rec->secret_ct, rec->secret_ct_len);
			rec->secret_ct = ct;
			rec->secret_ct_len = u->secret_ct_len;
			change = 1;
		}
		if (rec->algorithm != u->algorithm || rec->digits != u->digits ||
		    rec->period != u->period || rec->enrolled_at != u->enrolled_at ||
		    rec->locked_until != u->locked_until || u->last_step > rec->last_step) {
			rec->algorithm = u->algorithm;
			rec->digits = u->digits;
			rec->period = u->period;
			rec->enrolled_at = u->enrolled_at;
			rec->locked_until = u->locked_until;
			if (u->last_step > rec->last_step)
				rec->last_step = u->last_step;
			change = 1;
		}
		if (rec->last_used_at > m->now || m->now - rec->last_used_at >= m->refresh)
			change = 1;
		if (change)
			rec->last_used_at = m->now;     /* when it was read */
	}
	if (m->raise > rec->last_step) {
		rec->last_step = m->raise;
		change = 1;
	}
	if (!change)
		return 1;       /* nothing to write */
	m->wrote = 1;
	return 0;
}

/*
 * Bring USER's mirror up to the record U (may be NULL) and raise its
 * watermark to RAISE (-1: no raise).  *LOCAL_STEP (may be NULL) gets the
 * local watermark it had (-1 when none).  0 or a store error.
 */
static int
mirror_put(struct core *c, const char *user, const struct fleet_user *u, int64_t now,
    int64_t raise, int64_t *local_step)
{
	struct mirror m = { .u = u, .now = now, .raise = raise, .local_step = -1 };
	struct state *st;
	int r;

	m.refresh = c->conf.fleet.offline_mfa_max_age / 2;
	if (m.refresh > MIRROR_REFRESH_S || m.refresh < 1)
		m.refresh = m.refresh < 1 ? 1 : MIRROR_REFRESH_S;
	if (local_step != NULL)
		*local_step = -1;
	if ((r = core_state(c, &st)) != 0)
		return r;
	r = state_user_update(st, user, mirror_fn, &m);
	if (r == WARD_ERR_NOTFOUND) {
		struct state_user rec;

		memset(&rec, 0, sizeof(rec));
		rec.last_step = -1;
		if (u == NULL && raise < 0)
			return 0;
		r = mirror_fn(&m, &rec);
		if (r == 0) {
			if (rec.secret_ct == NULL) {
				/* a raise for a user never read here: a record
				 * that holds only the watermark (period 30 as a
				 * placeholder; it opens nothing) */
				rec.algorithm = CONF_ALGO_SHA1;
				rec.digits = 6;
				rec.period = 30;
			}
			r = state_user_put(st, user, &rec);
		}
		state_user_clear(&rec);
		m.local_step = -1;
	}
	if (r == 1)
		r = 0;
	if (local_step != NULL)
		*local_step = m.local_step;
	if (r != 0)
		ward_log(LOG_ERR, "state store %s: the fleet record of user %s not mirrored: %s",
		    c->conf.state_dir, user, ward_strerror(r));
	return r;
}

/* A wrong code: counted in the directory (RES says whether it locked). */
static int
count_failure(struct core *c, struct fleet *f, const struct fleet_user *u, const char *user,
    time_t now, struct core_verify_result *res)
{
	long count = 0;
	int r;

	r = fleet_fail(f, u->dn, (int64_t)now, c->conf.mfa.max_failures,
	    c->conf.mfa.lockout_seconds, &count, &res->locked_now);
	if (r == WARD_ERR_LOCKED) {
		res->locked_until = u->locked_until > (int64_t)now ? u->locked_until :
		    (int64_t)now + c->conf.mfa.lockout_seconds;
		return WARD_ERR_LOCKED;
	}
	if (r != 0) {
		ward_log(LOG_ERR, "fleet: the failure of user %s may not be counted: %s", user,
		    ward_strerror(r));
		res->detail = D_FAIL_NONE;
	}
	if (res->locked_now) {
		struct state *st;

		res->locked_until = (int64_t)now + c->conf.mfa.lockout_seconds;
		/* a lockout ends the user's graces here (as core.c's) */
		if (core_state(c, &st) == 0 && state_grace_clear_user(st, user) != 0)
			ward_log(LOG_WARNING, "the graces of user %s were not cleared at its "
			    "lockout (refused while locked all the same)", user);
	}
	return WARD_ERR_BADCODE;
}

/* A recovery code (NORM, normalised) for U. */
static int
recovery(struct core *c, struct fleet *f, const struct secret_key *fk,
    const struct fleet_user *u, const char *user, const char *code, time_t now, int spend,
    struct core_verify_result *res)
{
	unsigned char h[FLEET_HASH_LEN];
	size_t left = 0;
	int r;

	if (!spend) {
		/* the directory gives the hashes to no one; only the change can
		 * tell a good code, and it spends it */
		res->detail = D_REC_UNCHECKED;
		return WARD_ERR_BADCODE;
	}
	if (!u->has_salt || u->nrecovery == 0)
		return count_failure(c, f, u, user, now, res);
	if ((r = fleet_recovery_hash(fk, u->recovery_salt, user, code, h)) != 0) {
		ward_wipe(h, sizeof(h));
		return r == WARD_ERR_PARSE ? count_failure(c, f, u, user, now, res) : r;
	}
	r = fleet_recovery_spend(f, u->dn, h, (int64_t)now, &left);
	ward_wipe(h, sizeof(h));
	switch (r) {
	case 0:
		res->used_recovery = 1;
		res->recovery_left = (int)left;
		return 0;
	case WARD_ERR_BADCODE:
		return count_failure(c, f, u, user, now, res);
	case WARD_ERR_LOCKED:
		res->locked_until = u->locked_until > (int64_t)now ? u->locked_until :
		    (int64_t)now + c->conf.mfa.lockout_seconds;
		return r;
	default:
		if (outage(r))
			res->detail = D_REC_NONE;
		return r;
	}
}

int
core_fleet_verify(struct core *c, const char *user, const char *code, time_t now, int spend,
    struct core_verify_result *res)
{
	const struct secret_key *fk;
	struct fleet_user u;
	struct fleet *f = NULL;
	struct otp_params p;
	char norm[SECRET_RECOVERY_CHARS + 1];
	unsigned char *secret = NULL;
	size_t slen = 0;
	int64_t step = -1, local = -1;
	int r;

	memset(res, 0, sizeof(*res));
	memset(&u, 0, sizeof(u));
	if (ward_user_valid(user) != 0)
		return WARD_ERR_NOTFOUND;
	if ((fk = core_key(c, 1)) == NULL)
		return c->fkey_err;
	if ((r = handle(c, &f)) != 0)
		return r;
	if ((r = fleet_read(f, user, &u)) != 0) {
		if (outage(r)) {
			res->detail = D_READ_DOWN;
			ward_log(LOG_ERR, "fleet: the record of user %s cannot be read: %s; "
			    "denying", user, ward_strerror(r));
		}
		return r;
	}
	if (u.secret_ct == NULL) {
		r = WARD_ERR_NOTFOUND;
		goto out;
	}
	/* the mirror first: its watermark (steps this workstation spent
	 * without an answer) counts as much as the directory's */
	if ((r = mirror_put(c, user, &u, (int64_t)now, -1, &local)) != 0)
		goto out;
	if (u.locked_until > (int64_t)now) {
		res->locked_until = u.locked_until;
		r = WARD_ERR_LOCKED;
		goto out;
	}
	if (secret_recovery_normalise(code, norm) == 0) {
		r = recovery(c, f, fk, &u, user, norm, now, spend, res);
		ward_wipe(norm, sizeof(norm));
		goto out;
	}
	ward_wipe(norm, sizeof(norm));
	r = secret_open(fk, user, u.secret_ct, u.secret_ct_len, &secret, &slen);
	if (r != 0) {
		ward_log(LOG_ERR, "cannot decrypt the TOTP secret of user %s in the directory "
		    "(%s): wrong fleet key, or the record was altered or copied from another "
		    "user", user, ward_strerror(r));
		r = r == WARD_ERR_CORRUPT ? r : WARD_ERR_CRYPTO;
		goto out;
	}
	p.algorithm = u.algorithm;
	p.digits = u.digits;
	p.period = u.period;
	p.window = c->conf.mfa.window;
	r = otp_verify(secret, slen, &p, now, code, &step);
	ward_freezero(secret, slen);
	if (r == WARD_ERR_BADCODE) {
		r = count_failure(c, f, &u, user, now, res);
		goto out;
	}
	if (r != 0)
		goto out;
	if (step <= u.last_step || step <= local) {
		r = WARD_ERR_REPLAY;
		goto out;
	}
	if (!spend)
		goto out;       /* good, and not spent (core_check) */
	r = fleet_accept(f, u.dn, step, (int64_t)now);
	if (r == 0 || outage(r)) {
		/* spent: won here, or sent without an answer (it may land) */
		int sr = mirror_put(c, user, NULL, (int64_t)now, step, NULL);

		if (outage(r)) {
			res->detail = D_WRITE_NONE;
			ward_log(LOG_ERR, "fleet: accepting the code of user %s got no answer "
			    "(%s); the step is spent on this workstation; denying", user,
			    ward_strerror(r));
		} else if (sr != 0) {
			/* won, but this workstation could not note it: the
			 * directory holds it; refuse rather than answer yes
			 * with a store that failed */
			r = sr;
		}
	} else if (r == WARD_ERR_LOCKED) {
		res->locked_until = u.locked_until > (int64_t)now ? u.locked_until :
		    (int64_t)now + c->conf.mfa.lockout_seconds;
	}
out:
	fleet_user_clear(&u);
	return r;
}
