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
 *  - The fleet keys come from the configuration load (core_fleet_keys); the
 *    secret is opened only in a local buffer that is wiped before return.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "fleet.h"
#include "otp.h"
#include "secret.h"
#include "state.h"

/* The mirror's fetch time is written again when older than this (or half
 * of offline_mfa_max_age, the smaller), not at every login. */
#define MIRROR_REFRESH_S 60

#define D_WRITE_NONE "fleet: the change got no answer; the step is spent on this workstation"
#define D_FAIL_NONE "fleet: counting the failure got no answer (it may not be counted)"
#define D_REC_NONE "fleet: spending the recovery code got no answer (it may be spent)"
#define D_REC_UNCHECKED "fleet: a recovery code is not checked for a login the policy " \
	"denies (checking spends it)"
#define D_OFF_ZERO "fleet: offline: the directory cannot be reached and " \
	"offline_mfa_max_age is 0"
#define D_OFF_RECOVERY "fleet: offline: recovery codes are not accepted while the " \
	"directory cannot be reached"
#define D_OFF_NEVER "fleet: offline: this user's record was never read on this workstation"
#define D_OFF_OLD "fleet: offline: this workstation's copy is older than offline_mfa_max_age"
#define D_OFF_CHECKED "fleet: offline: checked against this workstation's copy; sent to " \
	"the directory when it answers"

#define SAY_OFF_RECOVERY "Two-step verification is unavailable: recovery codes cannot " \
	"be used while the directory cannot be reached. Use the code from your phone, " \
	"or contact IT."
#define SAY_OFF_NONE "Two-step verification is unavailable: the directory cannot be " \
	"reached, and this workstation has no recent copy of your record. Contact IT."

/* After a directory operation got no answer, logins go offline at once
 * for this long, instead of each waiting timeout_ms. */
#define FLEET_BACKOFF_S 5
/* A send refused as a replay: read back this many times, 20 ms apart, for
 * the watermark that refused it to reach the read path. */
#define READBACK_TRIES 50

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

/* ---- the directory's state as this workstation sees it ---- */

static int64_t
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* Has the directory failed to answer within the last FLEET_BACKOFF_S? */
static int
down(const struct core *c)
{
	return c->fleet_down_until > mono_s();
}

/* The directory gave no answer (R: a read that could not be made, or a
 * change that timed out): skip it for FLEET_BACKOFF_S.  A change answered
 * "unavailable" (a chaining consumer's failed forward) is a denial but
 * not an outage: the next login tries again at once. */
static void
mark_down(struct core *c, const char *what, int r)
{
	if (!down(c))
		ward_log(LOG_WARNING, "fleet: %s: %s; logins verify against this workstation's "
		    "copies for %d s before the directory is tried again", what,
		    ward_strerror(r), FLEET_BACKOFF_S);
	c->fleet_down_until = mono_s() + FLEET_BACKOFF_S;
}

/* ---- the mirror ---- */

/* What the mirror of a user becomes (state_user_update's FN). */
struct mirror {
	const struct fleet_user *u;  /* the record just read, or NULL */
	int64_t now;
	int64_t raise;               /* raise the local watermark to this, -1 none */
	long refresh;
	int64_t local_step;          /* out: the local watermark before */
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
		if (rec->fleet_fetched_at > m->now || m->now - rec->fleet_fetched_at >= m->refresh)
			change = 1;
		if (change)
			rec->fleet_fetched_at = m->now > 0 ? m->now : 1;
	}
	if (m->raise > rec->last_step) {
		rec->last_step = m->raise;
		change = 1;
	}
	return change ? 0 : 1;      /* 1: nothing to write */
}

/*
 * Bring USER's mirror up to the record U and raise its watermark to RAISE
 * (-1: no raise; U NULL: a raise of a mirror there already).  *LOCAL_STEP
 * (may be NULL) gets the local watermark it had (-1 when none).  0 or a
 * store error (logged).
 */
static int
mirror_put(struct core *c, const char *user, const struct fleet_user *u, int64_t now,
    int64_t raise, int64_t *local_step)
{
	struct mirror m = { .u = u, .now = now, .raise = raise, .local_step = -1 };
	struct state *st;
	int r;

	m.refresh = c->conf.fleet.offline_mfa_max_age / 2;
	if (m.refresh > MIRROR_REFRESH_S)
		m.refresh = MIRROR_REFRESH_S;
	if (m.refresh < 1)
		m.refresh = 1;
	if (local_step != NULL)
		*local_step = -1;
	if ((r = core_state(c, &st)) != 0)
		return r;
	r = state_user_update(st, user, mirror_fn, &m);
	if (r == WARD_ERR_NOTFOUND && u != NULL) {
		struct state_user rec;

		memset(&rec, 0, sizeof(rec));
		rec.last_step = -1;
		if ((r = mirror_fn(&m, &rec)) == 0)
			r = state_user_put(st, user, &rec);
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

/* ---- offline: against the mirror ---- */

struct offctx {
	struct core *c;
	const struct fleet_keyring *fk;
	const char *user, *code;
	int spend;
	int64_t now;
	int result;                  /* the verification's answer */
	int locked_now;
	int64_t locked_until;
};

#define OFF_NEVER 2
#define OFF_OLD 3

/* Runs inside one write transaction of the store (state_user_update). */
static int
offline_fn(void *ctx, struct state_user *rec)
{
	struct offctx *o = ctx;
	const struct conf_mfa *mfa = &o->c->conf.mfa;
	struct fleet_user view;
	struct otp_params p;
	unsigned char *secret = NULL;
	size_t slen = 0;
	int64_t step = -1;
	int r;

	if (rec->fleet_fetched_at <= 0)
		return OFF_NEVER;
	if (rec->fleet_fetched_at > o->now ||
	    o->now - rec->fleet_fetched_at > o->c->conf.fleet.offline_mfa_max_age)
		return OFF_OLD;
	if (rec->locked_until > o->now || rec->fleet_offline_locked_until > o->now) {
		o->locked_until = rec->locked_until > rec->fleet_offline_locked_until ?
		    rec->locked_until : rec->fleet_offline_locked_until;
		return WARD_ERR_LOCKED;
	}
	/* the copy keeps no key identifiers: each key of the ring is tried
	 * (AES-GCM's tag tells the one that sealed it) */
	memset(&view, 0, sizeof(view));
	view.secret_ct = rec->secret_ct;
	view.secret_ct_len = rec->secret_ct_len;
	r = fleet_open_secret(o->fk, o->user, &view, &secret, &slen);
	if (r != 0) {
		ward_log(LOG_ERR, "cannot decrypt this workstation's copy of the TOTP secret of "
		    "user %s (%s)", o->user, ward_strerror(r));
		return r == WARD_ERR_CORRUPT ? r : WARD_ERR_CRYPTO;
	}
	p.algorithm = rec->algorithm;
	p.digits = rec->digits;
	p.period = rec->period;
	p.window = mfa->window;
	r = otp_verify(secret, slen, &p, (time_t)o->now, o->code, &step);
	ward_freezero(secret, slen);
	if (r == WARD_ERR_BADCODE) {
		/* counted here, sent when the directory answers */
		o->result = r;
		rec->failures++;
		if (rec->failures >= o->c->conf.fleet.offline_max_failures) {
			rec->fleet_offline_locked_until = o->now + mfa->lockout_seconds;
			o->locked_until = rec->fleet_offline_locked_until;
			o->locked_now = rec->failures == o->c->conf.fleet.offline_max_failures;
		}
		return 0;
	}
	if (r != 0)
		return r;
	if (step <= rec->last_step)
		return WARD_ERR_REPLAY;
	if (!o->spend) {
		o->result = 0;
		return 1;       /* good, nothing written */
	}
	rec->last_step = step;
	if (step > rec->fleet_pending_step)
		rec->fleet_pending_step = step;
	/* the accept sent later resets the directory's count anyway */
	rec->failures = 0;
	o->result = 0;
	return 0;
}

/*
 * Verify CODE for USER against this workstation's copy: the directory did
 * not answer.  Refused when offline_mfa_max_age is 0, when no copy was
 * ever read here or it is older than offline_mfa_max_age, and for a
 * recovery code (ward.conf(5), FLEET).
 */
static int
offline(struct core *c, const struct fleet_keyring *fk, const char *user, const char *code,
    time_t now, int spend, struct core_verify_result *res)
{
	struct offctx o = { .c = c, .fk = fk, .user = user, .code = code, .spend = spend,
		.now = (int64_t)now, .result = WARD_ERR_INTERNAL };
	char norm[SECRET_RECOVERY_CHARS + 1];
	struct state *st;
	int r, rec;

	res->offline = 1;
	rec = secret_recovery_normalise(code, norm) == 0;
	ward_wipe(norm, sizeof(norm));
	if (c->conf.fleet.offline_mfa_max_age <= 0) {
		res->detail = D_OFF_ZERO;
		res->say = SAY_OFF_NONE;
		return WARD_ERR_UNAVAIL;
	}
	if (rec) {
		res->detail = D_OFF_RECOVERY;
		res->say = SAY_OFF_RECOVERY;
		return WARD_ERR_UNAVAIL;
	}
	if ((r = core_state(c, &st)) != 0)
		return r;
	r = state_user_update(st, user, offline_fn, &o);
	switch (r) {
	case 0:
	case 1:
		r = o.result;
		break;
	case WARD_ERR_NOTFOUND:
	case OFF_NEVER:
		res->detail = D_OFF_NEVER;
		res->say = SAY_OFF_NONE;
		return WARD_ERR_UNAVAIL;
	case OFF_OLD:
		res->detail = D_OFF_OLD;
		res->say = SAY_OFF_NONE;
		return WARD_ERR_UNAVAIL;
	default:
		break;
	}
	res->locked_now = o.locked_now;
	res->locked_until = o.locked_until;
	if (r == 0 && spend)
		c->fleet_sync_due = 1;
	if (r == WARD_ERR_BADCODE)
		c->fleet_sync_due = 1;
	if (res->locked_now && state_grace_clear_user(st, user) != 0)
		ward_log(LOG_WARNING, "the graces of user %s were not cleared at its "
		    "lockout (refused while locked all the same)", user);
	if (r == 0 || r == WARD_ERR_BADCODE || r == WARD_ERR_REPLAY || r == WARD_ERR_LOCKED)
		res->detail = D_OFF_CHECKED;
	return r;
}

/* ---- sending what was decided offline ---- */

/* One fleet_sync record about USER. */
static void
sync_record(struct core *c, const char *user, enum audit_res result, const char *detail)
{
	struct core_rec rc = { .event = AUDIT_EV_FLEET_SYNC, .result = result,
		.detail = detail };

	/* core_record says why at LOG_CRIT when it cannot write it */
	if (core_record(c, NULL, user, NULL, &rc, NULL, NULL) != 0)
		ward_log(LOG_ERR, "fleet: a send of user %s's offline decisions is done but "
		    "not recorded", user);
}

/* Clear what was sent (state_user_update's FN): CTX holds the pending
 * step sent (0: none) and whether the failures were. */
struct sent {
	int64_t step;
	int failures;
};

static int
sent_fn(void *ctx, struct state_user *rec)
{
	const struct sent *s = ctx;

	if (s->step > 0 && rec->fleet_pending_step <= s->step)
		rec->fleet_pending_step = 0;
	if (s->failures) {
		rec->failures = 0;
		rec->fleet_offline_locked_until = 0;
	}
	return 0;
}

/*
 * Send USER's offline decisions (REC, its mirror) to the directory: the
 * highest step accepted offline with fleet_accept, the wrong codes with
 * fleet_fail.  Each send is recorded.  0, or the outage that stopped it
 * (what was not sent stays to send).
 */
static int
sync_user(struct core *c, struct fleet *f, const char *user, const struct state_user *rec,
    int64_t now)
{
	struct fleet_user u;
	struct sent s = { 0, 0 };
	struct state *st;
	char detail[200];
	int r;

	if ((r = fleet_read(f, user, &u)) != 0) {
		if (!outage(r)) {
			/* gone from the directory, or not readable: nothing to
			 * send to; dropped, and said */
			snprintf(detail, sizeof(detail), "fleet: the offline decisions could not "
			    "be sent: %s", ward_strerror(r));
			sync_record(c, user, AUDIT_RES_FAILED, detail);
			s.step = rec->fleet_pending_step;
			s.failures = 1;
			goto done;
		}
		return r;
	}
	if (rec->fleet_pending_step > 0) {
		int64_t step = rec->fleet_pending_step;

		r = fleet_accept(f, u.dn, step, now);
		if (outage(r)) {
			fleet_user_clear(&u);
			sync_record(c, user, AUDIT_RES_FAILED, "fleet: sending a step accepted "
			    "offline got no answer; it is sent again later");
			return r;
		}
		if (r == 0) {
			snprintf(detail, sizeof(detail), "fleet: step %lld accepted here offline "
			    "is now the directory's", (long long)step);
			sync_record(c, user, AUDIT_RES_OK, detail);
		} else if (r == WARD_ERR_REPLAY) {
			/* the directory holds it or a later step: which, read back
			 * (a consumer may lag the write a moment) */
			int64_t seen = u.last_step;

			for (int i = 0; i < READBACK_TRIES && seen < step; i++) {
				struct fleet_user v;

				usleep(20000);
				if (fleet_read(f, user, &v) == 0)
					seen = v.last_step;
				fleet_user_clear(&v);
			}
			if (seen <= step) {
				/* equal: someone else accepted exactly this step.
				 * Below: refused, yet not visible here - counted as
				 * suspect too (a finding too many beats one missed) */
				snprintf(detail, sizeof(detail), "fleet: step %lld accepted here "
				    "offline is the directory's watermark already%s, set elsewhere: "
				    "the same code may have been used twice", (long long)step,
				    seen < step ? " (refused; not yet read back)" : "");
				ward_log(LOG_WARNING, "fleet: user %s: %s", user, detail + 7);
				sync_record(c, user, AUDIT_RES_REPLAY_SUSPECTED, detail);
			} else {
				snprintf(detail, sizeof(detail), "fleet: step %lld accepted here "
				    "offline; the directory holds a later one (%lld)",
				    (long long)step, (long long)seen);
				sync_record(c, user, AUDIT_RES_SUPERSEDED, detail);
			}
		} else {
			snprintf(detail, sizeof(detail), "fleet: step %lld accepted here offline "
			    "not sent: %s", (long long)step, ward_strerror(r));
			sync_record(c, user, r == WARD_ERR_LOCKED ? AUDIT_RES_SUPERSEDED :
			    AUDIT_RES_FAILED, detail);
		}
		s.step = step;
	}
	if (rec->failures > 0) {
		int n = 0, locked = 0;

		r = 0;
		for (int i = 0; i < rec->failures && r == 0; i++) {
			long count = 0;
			int now_locked = 0;

			r = fleet_fail(f, u.dn, now, c->conf.mfa.max_failures,
			    c->conf.mfa.lockout_seconds, &count, &now_locked);
			n += r == 0;
			locked |= now_locked || r == WARD_ERR_LOCKED;
		}
		if (outage(r)) {
			fleet_user_clear(&u);
			sync_record(c, user, AUDIT_RES_FAILED, "fleet: sending the wrong codes "
			    "counted offline got no answer; they are sent again later");
			return r;
		}
		snprintf(detail, sizeof(detail), "fleet: %d wrong code(s) counted here offline "
		    "sent%s", n, locked ? "; the user is locked in the directory" : "");
		sync_record(c, user, AUDIT_RES_OK, detail);
		s.failures = 1;
	}
	fleet_user_clear(&u);
done:
	if ((r = core_state(c, &st)) == 0)
		r = state_user_update(st, user, sent_fn, &s);
	return r == WARD_ERR_NOTFOUND ? 0 : r;
}

/* Send every user's offline decisions, when some may wait.  0, or the
 * outage that stopped it (tried again after the backoff). */
static int
sync_all(struct core *c, struct fleet *f, int64_t now)
{
	struct state *st;
	char **names = NULL;
	size_t n = 0;
	int r, worst = 0;

	if (!c->fleet_sync_due)
		return 0;
	if ((r = core_state(c, &st)) != 0 || (r = state_user_list(st, &names, &n)) != 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct state_user rec;

		if (worst == 0 && state_user_get(st, names[i], &rec) == 0) {
			if (rec.fleet_fetched_at > 0 &&
			    (rec.fleet_pending_step > 0 || rec.failures > 0) &&
			    (r = sync_user(c, f, names[i], &rec, now)) != 0 && outage(r))
				worst = r;
			state_user_clear(&rec);
		}
		free(names[i]);
	}
	free(names);
	if (worst == 0)
		c->fleet_sync_due = 0;
	return worst;
}

/* ---- online ---- */

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
		if (r == WARD_ERR_TIMEOUT)
			mark_down(c, "counting a failure", r);
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

/* A recovery code (CODE) for U. */
static int
recovery(struct core *c, struct fleet *f, const struct fleet_keyring *fk,
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
	if ((r = fleet_recovery_value(fk, user, u, code, h)) != 0) {
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
		if (r == WARD_ERR_TIMEOUT)
			mark_down(c, "spending a recovery code", r);
		return r;
	}
}

int
core_fleet_verify(struct core *c, const char *user, const char *code, time_t now, int spend,
    struct core_verify_result *res)
{
	const struct fleet_keyring *fk;
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
	if ((fk = core_fleet_keys(c)) == NULL)
		return c->fkey_err;
	if ((r = handle(c, &f)) != 0)
		return r;
	if (down(c))
		return offline(c, fk, user, code, now, spend, res);
	if ((r = fleet_read(f, user, &u)) != 0) {
		if (outage(r)) {
			mark_down(c, "reading a record", r);
			return offline(c, fk, user, code, now, spend, res);
		}
		return r;
	}
	if (u.secret_ct == NULL) {
		r = WARD_ERR_NOTFOUND;
		goto out;
	}
	/* the mirror first: its watermark (steps this workstation spent
	 * without an answer, or offline) counts as much as the directory's */
	if ((r = mirror_put(c, user, &u, (int64_t)now, -1, &local)) != 0)
		goto out;
	/* what was decided offline goes first (a step accepted now would
	 * make an older one look superseded) */
	if ((r = sync_all(c, f, (int64_t)now)) == WARD_ERR_TIMEOUT) {
		mark_down(c, "sending offline decisions", r);
		fleet_user_clear(&u);
		return offline(c, fk, user, code, now, spend, res);
	}
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
	r = fleet_open_secret(fk, user, &u, &secret, &slen);
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
			if (r == WARD_ERR_TIMEOUT)
				mark_down(c, "accepting a code", r);
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
