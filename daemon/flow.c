/*
 * flow.c - the login-flow engine: the transaction, the code, and the
 * auth, account and session flows (flow.h; break-glass in flow_bg.c).
 *
 * Rules it keeps (behaviour: pam_ward(8); the list in flow.h):
 *  - Every flow starts from a denying result; only a decided, recorded
 *    positive answer turns it into WIRE_R_SUCCESS.
 *  - Unknown, unenrolled and enrolled users see the same prompt, after the
 *    same work: the code is read before anything about the user shows.
 *  - One transaction loads ward.conf and the policy once, resolves roles
 *    once and shares one directory connection and one state-store handle
 *    between auth, account and session.
 *  - It runs in wardd, which holds the store, the keys, the directory
 *    connection and the audit log; who may ask for which user and phase
 *    is wardd's check (daemon/answer.c), made before a flow starts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "flow_int.h"
#include "secret.h"

void
flow_say(const struct flow_req *rq, const struct flow_conv *cv, int style,
    const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	if (rq->silent)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cv->say(cv->ctx, style, buf);
}

/* ---- the transaction ---- */

void
flow_txn_free(struct flow_txn *t)
{
	if (t == NULL)
		return;
	ward_wipe(t, sizeof(*t));
	free(t);
}

struct flow_txn *
flow_txn_new(void)
{
	struct flow_txn *t = calloc(1, sizeof(*t));

	if (t == NULL)
		ward_log(LOG_CRIT, "out of memory; denying");
	return t;
}

void
flow_txn_bind(struct flow_txn *t, struct core *c)
{
	t->c = c;
}

enum audit_fac
flow_factor(const struct flow_txn *t, const char *user)
{
	return t->factor != AUDIT_FAC_ABSENT && strcmp(t->factor_user, user) == 0 ? t->factor :
	    AUDIT_FAC_ABSENT;
}

void
flow_set_factor(struct flow_txn *t, const char *user, enum audit_fac factor)
{
	t->factor = factor;
	snprintf(t->factor_user, sizeof(t->factor_user), "%s", user);
}

/* Roles of USER, resolved once per transaction.  0 or WARD_ERR_*. */
static int
txn_resolve(struct flow_txn *t, const char *user, time_t now)
{
	int r;

	if (t->resolved && t->resolved_gen == t->c->gen && strcmp(t->user, user) == 0)
		return 0;
	/* another user: nothing verified or granted carries over (a new
	 * generation of the same user's policy keeps both) */
	if (!t->resolved || strcmp(t->user, user) != 0) {
		t->factor = AUDIT_FAC_ABSENT;
		t->break_glass = 0;
	}
	t->resolved = 0;
	if ((r = core_resolve(t->c, user, now, &t->w)) != 0)
		return r;
	snprintf(t->user, sizeof(t->user), "%s", user);
	t->resolved = 1;
	t->resolved_gen = t->c->gen;
	return 0;
}

/* Decide for the request's user and service now.  0 or WARD_ERR_*
 * (logged). */
static int
txn_decide(struct flow_txn *t, const struct flow_req *rq, time_t now,
    struct policy_decision *d)
{
	int r;

	core_decision_deny(d);
	if ((r = txn_resolve(t, rq->user, now)) != 0) {
		if (r == WARD_ERR_UNAVAIL)
			ward_log(LOG_ERR, "roles of %s: the directory cannot be reached "
			    "and no cached answer is young enough (offline_max_age %lds); denying",
			    rq->user, t->c->conf.directory.offline_max_age);
		else
			ward_log(LOG_ERR, "roles of %s: %s; denying", rq->user, ward_strerror(r));
		return r;
	}
	core_decide_who(t->c, &t->w, rq->user, rq->service, now, d);
	if (t->w.offline)
		ward_log(LOG_WARNING, "user %s: directory unreachable; deciding on "
		    "cached roles", rq->user);
	return 0;
}

int
flow_record(struct flow_txn *t, const struct flow_req *rq, const struct core_rec *rc,
    int decided)
{
	return core_record(t->c, decided && t->resolved && t->resolved_gen == t->c->gen ?
	    &t->w : NULL, rq->user,
	    rq->service, rc, rq->rhost, rq->tty);
}

/* A malformed name: logged by its size only (it may hold anything). */
static void
log_malformed(const char *user)
{
	ward_log(LOG_NOTICE, "refused a malformed user name (%zu bytes)", strlen(user));
}

/* ---- the code ---- */

/* Does TOK have the shape of a code (DIGITS digits) or a recovery code?
 * try_first_pass only tries such a token, so the password an earlier
 * module left in PAM_AUTHTOK is never spent as a wrong code. */
static int
code_shaped(const char *tok, int digits)
{
	char norm[SECRET_RECOVERY_CHARS + 1];
	size_t n = strlen(tok);
	int r;

	if (n == (size_t)digits && strspn(tok, "0123456789") == n)
		return 1;
	r = secret_recovery_normalise(tok, norm) == 0;
	ward_wipe(norm, sizeof(norm));
	return r;
}

/* Read the code: the earlier module's token (use_/try_first_pass, unless
 * PROMPT_ONLY) or the prompt.  The result is a copy the caller wipes. */
static char *
get_code(const struct flow_txn *t, const struct flow_req *rq, const struct flow_conv *cv,
    int prompt_only)
{
	if (!prompt_only && (rq->use_first_pass || rq->try_first_pass)) {
		if (rq->authtok != NULL && (rq->use_first_pass ||
		    code_shaped(rq->authtok, t->c->conf.mfa.digits)))
			return strdup(rq->authtok);
		if (rq->use_first_pass) {
			ward_log(LOG_NOTICE, "use_first_pass: no code from an earlier "
			    "module; denying");
			return NULL;
		}
	}
	return cv->ask(cv->ctx, 0, rq->prompt);
}

char *
flow_ask_code(const struct flow_txn *t, const struct flow_req *rq, const struct flow_conv *cv)
{
	return get_code(t, rq, cv, 1);
}

static void
fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL || strftime(buf, len, "%H:%M", &tm) == 0)
		snprintf(buf, len, "later");
}

static const char *
fail_reason(int r)
{
	switch (r) {
	case WARD_ERR_BADCODE: return "wrong";
	case WARD_ERR_REPLAY: return "replay";
	case WARD_ERR_LOCKED: return "locked";
	case WARD_ERR_NOTFOUND: return "unenrolled";
	case WARD_ERR_INVAL: return "malformed user name";
	case WARD_ERR_UNAVAIL:
	case WARD_ERR_TIMEOUT: return "directory unavailable";
	default: return ward_strerror(r);
	}
}

static void
say_not_enrolled(const struct flow_req *rq, const struct flow_conv *cv)
{
	flow_say(rq, cv, FLOW_ERROR, "You are not enrolled for two-step verification. "
	    "Contact IT to enrol.");
}

static void
say_not_recorded(const struct flow_req *rq, const struct flow_conv *cv)
{
	flow_say(rq, cv, FLOW_ERROR, "Access cannot be recorded on this workstation, so it "
	    "is refused. Contact IT.");
}

/*
 * Verify CODE for the request's user, and record the outcome.  Tells the
 * user the outcome.  On success *FACTOR says which factor passed.  With
 * SPEND 0 a good code is not spent (core_check) and its success is left
 * to the caller to record and say; every failure is recorded and said.
 */
static int
check_code(struct flow_txn *t, const struct flow_req *rq, const struct flow_conv *cv,
    const char *code, time_t now, enum audit_fac *factor, int spend)
{
	const char *user = rq->user, *service = rq->service;
	struct core_verify_result res;
	int r, ret = WIRE_R_AUTH_ERR;
	char when[32];

	*factor = AUDIT_FAC_ABSENT;
	r = spend ? core_verify(t->c, user, code, now, &res) :
	    core_check(t->c, user, code, now, &res);
	if (r == 0)
		*factor = res.used_recovery ? AUDIT_FAC_RECOVERY : AUDIT_FAC_TOTP;
	if (r == 0 && !spend)
		return WIRE_R_SUCCESS;
	{
		struct core_rec rc = { .event = AUDIT_EV_AUTH,
			.result = r == 0 ? AUDIT_RES_SUCCESS : AUDIT_RES_FAILURE,
			.reason = r == 0 ? NULL : fail_reason(r),
			.factor = r == 0 ? *factor : AUDIT_FAC_TOTP,
			.detail = res.detail, .offline = res.offline };
		int normal = r == 0 || r == WARD_ERR_BADCODE || r == WARD_ERR_REPLAY ||
		    r == WARD_ERR_LOCKED || r == WARD_ERR_NOTFOUND;

		/* An outcome that cannot be recorded is no success.  When the
		 * verification itself failed (store, key), that is what is said. */
		if (flow_record(t, rq, &rc, 1) != 0 && normal) {
			say_not_recorded(rq, cv);
			*factor = AUDIT_FAC_ABSENT;
			return WIRE_R_AUTHINFO_UNAVAIL;
		}
		if (res.locked_now) {
			struct core_rec lk = { .event = AUDIT_EV_LOCKOUT,
				.result = AUDIT_RES_LOCKED, .reason = "too many wrong codes",
				.factor = AUDIT_FAC_TOTP };
			(void)flow_record(t, rq, &lk, 0);	/* the failure is recorded */
		}
	}
	switch (r) {
	case 0:
		ward_log(LOG_INFO, "user %s service %s: %s accepted", user, service,
		    res.used_recovery ? "recovery code" : "verification code");
		if (res.used_recovery)
			flow_say(rq, cv, FLOW_INFO, "Recovery code accepted; %d left. Ask IT for "
			    "new codes or to re-enrol your phone.", res.recovery_left);
		ret = WIRE_R_SUCCESS;
		break;
	case WARD_ERR_BADCODE:
	case WARD_ERR_REPLAY:
		ward_log(LOG_NOTICE, "user %s service %s: %s%s", user, service,
		    r == WARD_ERR_REPLAY ? "code already used (replay)" : "wrong code",
		    res.locked_now ? "; account now locked" : "");
		if (res.locked_now) {
			fmt_time(res.locked_until, when, sizeof(when));
			flow_say(rq, cv, FLOW_ERROR, "Too many wrong codes: two-step verification "
			    "is locked until %s. IT can unlock it sooner.", when);
		} else if (r == WARD_ERR_REPLAY) {
			flow_say(rq, cv, FLOW_ERROR, "That code was already used. Wait for the "
			    "next one.");
		} else {
			flow_say(rq, cv, FLOW_ERROR, "That code was not accepted.");
		}
		ret = WIRE_R_AUTH_ERR;
		break;
	case WARD_ERR_LOCKED:
		fmt_time(res.locked_until, when, sizeof(when));
		ward_log(LOG_NOTICE, "user %s service %s: locked out; attempt refused",
		    user, service);
		flow_say(rq, cv, FLOW_ERROR, "Two-step verification is locked until %s after "
		    "too many wrong codes. IT can unlock it sooner.", when);
		ret = WIRE_R_MAXTRIES;
		break;
	case WARD_ERR_NOTFOUND:
		ward_log(LOG_NOTICE, "user %s service %s: not enrolled", user, service);
		say_not_enrolled(rq, cv);
		ret = WIRE_R_AUTH_ERR;
		break;
	default:
		ward_log(LOG_ERR, "user %s service %s: verification failed: %s; denying",
		    user, service, ward_strerror(r));
		if (res.say != NULL)
			flow_say(rq, cv, FLOW_ERROR, "%s", res.say);
		else
			flow_say(rq, cv, FLOW_ERROR, "Two-step verification is unavailable. "
			    "Contact IT.");
		ret = WIRE_R_AUTHINFO_UNAVAIL;
		break;
	}
	return ret;
}

int
flow_check_code(struct flow_txn *t, const struct flow_req *rq, const struct flow_conv *cv,
    const char *code, time_t now, enum audit_fac *factor)
{
	return check_code(t, rq, cv, code, now, factor, 1);
}

/* ---- auth ---- */

/*
 * A login the policy denies here for good (no break-glass), once the code
 * is typed: the code is checked but not spent, so that it still works
 * within its step where the user may log in (a wrong one counts toward
 * the lockout as ever); the denial is recorded and its reason said now.
 * Where break-glass is offered the code is spent in auth as before: it is
 * the emergency access's second factor.  pam_ward(8), "auth"; the order in
 * docs/ARCHITECTURE.md.
 */
static int
deny_unspent(struct flow_txn *t, const struct flow_req *rq, const struct flow_conv *cv,
    const struct policy_decision *d, const char *code, time_t now)
{
	enum audit_fac factor = AUDIT_FAC_ABSENT;
	int ret = check_code(t, rq, cv, code, now, &factor, 0);
	struct core_rec rc = { .event = AUDIT_EV_ACCOUNT, .result = AUDIT_RES_DENY,
		.rule = d->rule, .reason = d->reason, .factor = factor,
		.detail = "refused in auth; the code was not spent" };

	if (ret != WIRE_R_SUCCESS)
		return ret;
	if (flow_record(t, rq, &rc, 1) != 0) {
		say_not_recorded(rq, cv);
		return WIRE_R_PERM_DENIED;
	}
	ward_log(LOG_NOTICE, "user %s service %s host %s: denied by %s: %s (in auth; "
	    "the code was not spent)", rq->user, rq->service, t->c->host, d->rule, d->reason);
	flow_say(rq, cv, FLOW_ERROR, "Access denied: %s", d->reason);
	return WIRE_R_PERM_DENIED;
}

/*
 * No code came (the person gave none, or the program cannot ask: sshd
 * after a public key, without keyboard-interactive): a refusal like any
 * other, recorded, logged and said (sshd sends what its account phase
 * said as a banner even when it could not ask).  RET is the phase's
 * denial.
 */
static int
no_code(struct flow_txn *t, const struct flow_req *rq, const struct flow_conv *cv,
    enum audit_ev event, enum audit_res result, const char *rule, int ret)
{
	struct core_rec rc = { .event = event, .result = result, .rule = rule,
		.reason = "second factor required; no code given" };

	if (ward_user_valid(rq->user) == 0)
		ward_log(LOG_NOTICE, "user %s service %s: no code given (or the program "
		    "could not ask); denying", rq->user, rq->service);
	(void)flow_record(t, rq, &rc, rule != NULL);
	flow_say(rq, cv, FLOW_ERROR, "Access denied: a verification code is required, and "
	    "none was given.");
	return ret;
}

/* Roles that cannot be resolved: recorded, said, and unavailable. */
static int
roles_unavailable(struct flow_txn *t, const struct flow_req *rq, const struct flow_conv *cv,
    enum audit_ev event, enum audit_res result, int r)
{
	struct core_rec rc = { .event = event, .result = result,
		.reason = r == WARD_ERR_UNAVAIL ? "directory unavailable" : ward_strerror(r) };

	(void)flow_record(t, rq, &rc, 0);
	flow_say(rq, cv, FLOW_ERROR, "Your roles cannot be checked right now. Contact IT.");
	return WIRE_R_AUTHINFO_UNAVAIL;
}

int
flow_authenticate(struct flow_txn *t, const struct flow_req *rq, const struct flow_conv *cv,
    time_t now)
{
	struct policy_decision d;
	const char *user = rq->user, *service = rq->service;
	enum audit_fac factor = AUDIT_FAC_ABSENT;
	char *code = NULL;
	int ret = WIRE_R_AUTH_ERR, r, valid, active = 0, grace_r;

	core_decision_deny(&d);
	valid = ward_user_valid(user) == 0;
	if (valid) {
		if ((r = txn_decide(t, rq, now, &d)) != 0)
			return roles_unavailable(t, rq, cv, AUDIT_EV_AUTH, AUDIT_RES_FAILURE, r);
		/* The grace is looked up for every well-formed name, whatever the
		 * decision, so that the work before the prompt does not tell a
		 * user with roles from one without (tests/fault: "the same work
		 * whether a user exists or not").  Only an allowed decision that
		 * needs a code and has a grace period uses the answer. */
		grace_r = core_grace_active(t->c, user, d.app, now, d.mfa_grace, &active);
		if (!d.allow || !d.mfa_required || d.mfa_grace <= 0)
			active = 0;
		else if (grace_r == WARD_ERR_LOCKED)
			ward_log(LOG_NOTICE, "user %s service %s: locked out; no grace "
			    "while locked", user, service);
		else if (grace_r != 0 && grace_r != WARD_ERR_NOTFOUND)
			ward_log(LOG_WARNING, "grace for %s not checked (%s); asking "
			    "for a code", user, ward_strerror(grace_r));
		if (d.allow && (!d.mfa_required || active)) {
			enum audit_fac why = d.mfa_required ? AUDIT_FAC_GRACE : AUDIT_FAC_NONE;
			struct core_rec rc = { .event = AUDIT_EV_AUTH,
				.result = AUDIT_RES_SUCCESS, .rule = d.rule, .factor = why };

			if (flow_record(t, rq, &rc, 1) != 0)
				return WIRE_R_AUTH_ERR;
			ward_log(LOG_INFO, "user %s service %s: %s (rule %s)", user,
			    service, active ? "within the grace of a recent verification on "
			    "this workstation" : "no second factor required", d.rule);
			flow_set_factor(t, user, why);
			return WIRE_R_SUCCESS;
		}
	}
	/* From here on, everyone sees the same prompt. */
	if ((code = get_code(t, rq, cv, 0)) == NULL)
		return no_code(t, rq, cv, AUDIT_EV_AUTH, AUDIT_RES_FAILURE, NULL, WIRE_R_AUTH_ERR);
	if (!valid) {
		/* recorded like any refusal: a probe with odd names is worth seeing
		 * (the audit writer escapes and bounds the name) */
		struct core_rec rc = { .event = AUDIT_EV_AUTH, .result = AUDIT_RES_FAILURE,
			.reason = "malformed user name" };

		log_malformed(user);
		(void)flow_record(t, rq, &rc, 0);
		say_not_enrolled(rq, cv);
		ret = WIRE_R_AUTH_ERR;
		goto done;
	}
	if (!d.allow && !d.break_glass) {
		ret = deny_unspent(t, rq, cv, &d, code, now);
		goto done;
	}
	ret = flow_check_code(t, rq, cv, code, now, &factor);
	if (ret == WIRE_R_SUCCESS) {
		flow_set_factor(t, user, factor);
		if (d.allow && d.mfa_grace > 0 &&
		    (r = core_grace_record(t->c, user, d.app, d.mfa_grace, now)) != 0)
			ward_log(LOG_WARNING, "grace for %s not recorded: %s", user,
			    ward_strerror(r));
	}
done:
	ward_free_str_secret(code);
	return ret;
}

/* ---- account ---- */

/* A factor that satisfies a rule's mfa = "required". */
static int
factor_ok(enum audit_fac f)
{
	return f == AUDIT_FAC_TOTP || f == AUDIT_FAC_RECOVERY || f == AUDIT_FAC_GRACE;
}

/* The second factor, asked in the account phase (grace first). */
static int
account_factor(struct flow_txn *t, const struct flow_req *rq, const struct flow_conv *cv,
    const struct policy_decision *d, time_t now)
{
	const char *user = rq->user;
	enum audit_fac factor = AUDIT_FAC_ABSENT;
	char *code;
	int active = 0, ret, r;

	if (d->mfa_grace > 0 && core_grace_active(t->c, user, d->app, now, d->mfa_grace,
	    &active) == 0 && active) {
		struct core_rec rc = { .event = AUDIT_EV_AUTH, .result = AUDIT_RES_SUCCESS,
			.rule = d->rule, .factor = AUDIT_FAC_GRACE };

		if (flow_record(t, rq, &rc, 1) != 0)
			return WIRE_R_AUTHINFO_UNAVAIL;
		flow_set_factor(t, user, AUDIT_FAC_GRACE);
		return WIRE_R_SUCCESS;
	}
	if ((code = flow_ask_code(t, rq, cv)) == NULL)
		return no_code(t, rq, cv, AUDIT_EV_ACCOUNT, AUDIT_RES_DENY, d->rule,
		    WIRE_R_PERM_DENIED);
	ret = flow_check_code(t, rq, cv, code, now, &factor);
	ward_free_str_secret(code);
	if (ret != WIRE_R_SUCCESS)
		return ret == WIRE_R_AUTHINFO_UNAVAIL ? ret : WIRE_R_PERM_DENIED;
	flow_set_factor(t, user, factor);
	if (d->mfa_grace > 0 && (r = core_grace_record(t->c, user, d->app, d->mfa_grace,
	    now)) != 0)
		ward_log(LOG_WARNING, "grace for %s not recorded: %s", user, ward_strerror(r));
	return WIRE_R_SUCCESS;
}

int
flow_account(struct flow_txn *t, const struct flow_req *rq, const struct flow_conv *cv,
    time_t now)
{
	struct policy_decision d;
	const char *user = rq->user, *service = rq->service;
	int ret = WIRE_R_PERM_DENIED, r;

	if (ward_user_valid(user) != 0) {
		struct core_rec rc = { .event = AUDIT_EV_ACCOUNT, .result = AUDIT_RES_DENY,
			.reason = "malformed user name" };

		/* a denial, not "unknown user", which stacks may ignore */
		log_malformed(user);
		(void)flow_record(t, rq, &rc, 0);
		return WIRE_R_PERM_DENIED;
	}
	if ((r = txn_decide(t, rq, now, &d)) != 0)
		return roles_unavailable(t, rq, cv, AUDIT_EV_ACCOUNT, AUDIT_RES_DENY, r);
	/*
	 * An allow that needs a second factor needs it in this transaction (or
	 * a grace): a stack whose auth phase did not run pam_ward (sshd with a
	 * public key) must not get past it.  The code is asked here.
	 */
	if (d.allow && d.mfa_required && !factor_ok(flow_factor(t, user))) {
		if ((ret = account_factor(t, rq, cv, &d, now)) != WIRE_R_SUCCESS)
			return ret;
	}
	{
		struct core_rec rc = { .event = AUDIT_EV_ACCOUNT,
			.result = d.allow ? AUDIT_RES_ALLOW : AUDIT_RES_DENY, .rule = d.rule,
			.reason = d.reason, .factor = flow_factor(t, user) };
		if (flow_record(t, rq, &rc, 1) != 0) {
			say_not_recorded(rq, cv);
			return WIRE_R_PERM_DENIED;
		}
	}
	if (d.allow) {
		ward_log(LOG_INFO, "user %s service %s host %s: allowed by rule %s%s",
		    user, service, t->c->host, d.rule, t->w.offline ? " (cached roles)" : "");
		return WIRE_R_SUCCESS;
	}
	ward_log(LOG_NOTICE, "user %s service %s host %s: denied by %s: %s",
	    user, service, t->c->host, d.rule, d.reason);
	if (d.break_glass)
		return flow_break_glass(t, rq, cv, &d, now);
	flow_say(rq, cv, FLOW_ERROR, "Access denied: %s", d.reason);
	return WIRE_R_PERM_DENIED;
}

/* ---- session ---- */

static const char *const env_names[] = { "WARD_ROLES", "WARD_IDLE_LOGOFF",
	"WARD_SESSION_MAX", "WARD_BREAK_GLASS" };

/* Remove the variables pam_ward sets for a session. */
static void
unset_env(const struct flow_conv *cv)
{
	for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
		(void)cv->setenv(cv->ctx, env_names[i], NULL);
}

/* Set NAME to the number V.  0 or -1. */
static int
setenv_long(const struct flow_conv *cv, const char *name, long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", v);
	return cv->setenv(cv->ctx, name, buf);
}

static long
min_limit(long a, long b)
{
	if (a == POLICY_NO_LIMIT)
		return b;
	if (b == POLICY_NO_LIMIT)
		return a;
	return a < b ? a : b;
}

/* A session that is not opened: said in the log, recorded, refused. */
static int
session_refused(struct flow_txn *t, const struct flow_req *rq, const char *why)
{
	struct core_rec rc = { .event = AUDIT_EV_SESSION_OPEN, .result = AUDIT_RES_FAILURE,
		.reason = why };

	ward_log(LOG_ERR, "session for %s: %s; refusing", rq->user, why);
	(void)flow_record(t, rq, &rc, 0);
	return WIRE_R_SESSION_ERR;
}

/* Export the session obligations for the desktop or app to enforce. */
int
flow_open_session(struct flow_txn *t, const struct flow_req *rq, const struct flow_conv *cv,
    time_t now)
{
	struct policy_decision d;
	const char *user = rq->user, *service = rq->service;
	char roles[4096];
	long session_max;
	int bg;

	if (txn_decide(t, rq, now, &d) != 0)
		return session_refused(t, rq, "roles unavailable");
	/* break-glass counts only for the user and the service it was granted
	 * to (a token carried in the PAM environment must not take a grant
	 * to another program) */
	bg = t->break_glass && strcmp(t->bg_user, user) == 0 &&
	    strcmp(t->bg_service, service) == 0;
	if (!d.allow && !bg) {
		ward_log(LOG_NOTICE, "session for %s: the decision is rule %s's", user, d.rule);
		return session_refused(t, rq, "no allowing decision");
	}
	session_max = d.allow ? d.session_max : POLICY_NO_LIMIT;
	if (bg)
		session_max = min_limit(session_max, t->bg_session_max);
	core_roles_joined(t->c, &t->w, roles, sizeof(roles));
	/* no stale value from an earlier session of this handle survives */
	unset_env(cv);
	if (cv->setenv(cv->ctx, "WARD_ROLES", roles) != 0 ||
	    (d.allow && d.idle_logoff != POLICY_NO_LIMIT &&
	     setenv_long(cv, "WARD_IDLE_LOGOFF", d.idle_logoff) != 0) ||
	    (session_max != POLICY_NO_LIMIT &&
	     setenv_long(cv, "WARD_SESSION_MAX", session_max) != 0) ||
	    (bg && cv->setenv(cv->ctx, "WARD_BREAK_GLASS", "1") != 0)) {
		unset_env(cv);
		return session_refused(t, rq, "session variables not set");
	}
	{
		char detail[64];
		struct core_rec rc = { .event = AUDIT_EV_SESSION_OPEN,
			.result = AUDIT_RES_SUCCESS, .rule = bg ? "break-glass" : d.rule,
			.factor = flow_factor(t, user), .detail = detail };

		if (session_max != POLICY_NO_LIMIT)
			snprintf(detail, sizeof(detail), "session_max=%ld", session_max);
		else
			snprintf(detail, sizeof(detail), "session_max=none");
		if (flow_record(t, rq, &rc, 1) != 0) {
			unset_env(cv);
			return WIRE_R_SESSION_ERR;
		}
	}
	ward_log(LOG_INFO, "session opened for %s (%s)%s", user, service,
	    bg ? " under break-glass" : "");
	/* one grant, one session: another needs another reason */
	t->break_glass = 0;
	return WIRE_R_SUCCESS;
}

int
flow_close_session(struct flow_txn *t, const struct flow_req *rq, const struct flow_conv *cv,
    time_t now)
{
	struct core_rec rc = { .event = AUDIT_EV_SESSION_CLOSE, .result = AUDIT_RES_SUCCESS };

	(void)cv;
	(void)now;
	if (flow_record(t, rq, &rc, 0) != 0)
		return WIRE_R_SESSION_ERR;
	ward_log(LOG_INFO, "session closed for %s", rq->user);
	return WIRE_R_SUCCESS;
}
