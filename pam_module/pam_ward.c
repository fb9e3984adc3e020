/*
 * pam_ward.c - the PAM entry points: thin glue over core.c, lib/ and policy/.
 *
 * Rules it keeps (DESIGN.md "PAM behaviour"):
 *  - Every entry point starts from a denying return value; only a decided,
 *    recorded positive answer turns it into PAM_SUCCESS.  PAM_IGNORE is
 *    never returned.
 *  - A positive answer is only given once its audit record is written: an
 *    audit log that cannot be written denies.
 *  - Unknown, unenrolled and enrolled users see the same prompt; the code
 *    is read before anything about the user is revealed.
 *  - The code never reaches a log; the conversation reply is wiped.
 *  - Unknown module options are errors (a typo must not weaken a stack).
 *  - One transaction (pam_start .. pam_end) loads ward.conf and the policy
 *    once, resolves roles once and shares one directory connection and one
 *    state-store handle between auth, account and session (pam_set_data).
 *  - Without root (a screen locker) the secret store, the directory's bind
 *    password and the audit log are out of reach: the setuid helper named
 *    by ward.conf's helper decides, verifies and records for the caller's
 *    own uid only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#define PAM_SM_SESSION
#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "core.h"
#include "dir.h"
#include "helper_proto.h"

#define DEFAULT_PROMPT "Verification code: "
#define EXPORT __attribute__((visibility("default")))
#define TXN_KEY "ward_txn"
#define REASON_MAX 512

struct opts {
	const char *config;
	const char *prompt;
	int debug;
	int use_first_pass;
	int try_first_pass;
	int silent;
};

/* What one PAM transaction remembers between auth, account and session. */
struct txn {
	struct core c;
	char *config;                /* the config= it was loaded with (NULL: default) */
	char user[DIR_USER_MAX + 1]; /* whose roles W holds */
	struct core_who w;
	int resolved;
	const char *factor;          /* second factor verified in this transaction */
	int break_glass;             /* emergency access granted by account */
	long bg_session_max;         /* seconds */
};

static void
pam_sink(void *ctx, int prio, const char *msg)
{
	pam_syslog((pam_handle_t *)ctx, prio, "%s", msg);
}

static int
parse_opts(pam_handle_t *pamh, int flags, int argc, const char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->prompt = DEFAULT_PROMPT;
	o->silent = (flags & PAM_SILENT) != 0;
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "config=", 7) == 0 && argv[i][7] != '\0')
			o->config = argv[i] + 7;
		else if (strncmp(argv[i], "prompt=", 7) == 0 && argv[i][7] != '\0')
			o->prompt = argv[i] + 7;
		else if (strcmp(argv[i], "debug") == 0)
			o->debug = 1;
		else if (strcmp(argv[i], "use_first_pass") == 0)
			o->use_first_pass = 1;
		else if (strcmp(argv[i], "try_first_pass") == 0)
			o->try_first_pass = 1;
		else {
			pam_syslog(pamh, LOG_ERR, "unknown option '%s' in the PAM stack: denying",
			    argv[i]);
			return -1;
		}
	}
	ward_log_set_sink(pam_sink, pamh);
	ward_log_set_debug(o->debug);
	return 0;
}

static void
say(pam_handle_t *pamh, const struct opts *o, int style, const char *fmt, ...)
    WARD_PRINTF(4, 5);

static void
say(pam_handle_t *pamh, const struct opts *o, int style, const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	if (o->silent)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (style == PAM_ERROR_MSG)
		pam_error(pamh, "%s", buf);
	else
		pam_info(pamh, "%s", buf);
}

/* The user name.  Returns NULL when PAM has none. */
static const char *
get_user(pam_handle_t *pamh)
{
	const char *user = NULL;

	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL || *user == '\0')
		return NULL;
	return user;
}

static const char *
get_item_str(pam_handle_t *pamh, int item)
{
	const void *s = NULL;

	if (pam_get_item(pamh, item, &s) != PAM_SUCCESS || s == NULL)
		return NULL;
	return s;
}

/* ---- the transaction ---- */

static void
txn_free(struct txn *t)
{
	if (t == NULL)
		return;
	core_free(&t->c);
	free(t->config);
	free(t);
}

static void
txn_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	txn_free(data);
}

static int
same_config(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * The transaction's loaded configuration and policy: the one an earlier
 * phase of this transaction loaded with the same config=, or a new one.
 * NULL when ward.conf or the policy cannot be loaded (logged).
 */
static struct txn *
get_txn(pam_handle_t *pamh, const struct opts *o)
{
	const void *data = NULL;
	struct txn *t;
	char err[1024];
	int r;

	if (pam_get_data(pamh, TXN_KEY, &data) == PAM_SUCCESS && data != NULL) {
		t = (struct txn *)(uintptr_t)data;
		if (same_config(t->config, o->config))
			return t;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		pam_syslog(pamh, LOG_CRIT, "out of memory; denying");
		return NULL;
	}
	if (o->config != NULL && (t->config = strdup(o->config)) == NULL) {
		free(t);
		return NULL;
	}
	if ((r = core_init(&t->c, o->config, err, sizeof(err))) != 0) {
		pam_syslog(pamh, LOG_ERR, "%s: %s; denying", r == WARD_ERR_POLICY ?
		    "policy" : "configuration", err);
		free(t->config);
		free(t);
		return NULL;
	}
	if (o->debug)
		pam_syslog(pamh, LOG_DEBUG, "policy %.12s loaded from %s",
		    policy_version(t->c.pol), t->c.from_snapshot ? t->c.conf.snapshot_file :
		    t->c.conf.policy_file);
	/* Replacing earlier data (another config=) frees it through txn_cleanup. */
	if (pam_set_data(pamh, TXN_KEY, t, txn_cleanup) != PAM_SUCCESS) {
		pam_syslog(pamh, LOG_CRIT, "cannot keep transaction data; denying");
		txn_free(t);
		return NULL;
	}
	return t;
}

/* Roles of USER, resolved once per transaction.  0 or WARD_ERR_*. */
static int
txn_resolve(struct txn *t, const char *user, time_t now)
{
	int r;

	if (t->resolved && strcmp(t->user, user) == 0)
		return 0;
	t->resolved = 0;
	t->factor = NULL;
	t->break_glass = 0;
	if ((r = core_resolve(&t->c, user, now, &t->w)) != 0)
		return r;
	snprintf(t->user, sizeof(t->user), "%s", user);
	t->resolved = 1;
	return 0;
}

/* Decide for USER on SERVICE now.  0 or WARD_ERR_* (logged). */
static int
txn_decide(pam_handle_t *pamh, struct txn *t, const char *user, const char *service,
    time_t now, struct policy_decision *d)
{
	int r;

	memset(d, 0, sizeof(*d));
	d->allow = 0;
	d->mfa_required = 1;
	d->rule = "none";
	d->reason = "no decision";
	if ((r = txn_resolve(t, user, now)) != 0) {
		if (r == WARD_ERR_UNAVAIL)
			pam_syslog(pamh, LOG_ERR, "roles of %s: the directory cannot be reached "
			    "and no cached answer is young enough (offline_max_age %lds); denying",
			    user, t->c.conf.directory.offline_max_age);
		else
			pam_syslog(pamh, LOG_ERR, "roles of %s: %s; denying", user,
			    ward_strerror(r));
		return r;
	}
	core_decide_who(&t->c, &t->w, user, service, now, d);
	if (t->w.offline)
		pam_syslog(pamh, LOG_WARNING, "user %s: directory unreachable; deciding on "
		    "cached roles", user);
	return 0;
}

/* ---- the audit trail ---- */

/* One audit record for this transaction (core_record); DECIDED adds the
 * roles.  0 when written; otherwise logged, and the caller must deny. */
static int
record(pam_handle_t *pamh, struct txn *t, const char *user, const char *service,
    const struct core_rec *rc, int decided)
{
	return core_record(&t->c, decided && t->resolved ? &t->w : NULL, user, service, rc,
	    get_item_str(pamh, PAM_RHOST), get_item_str(pamh, PAM_TTY));
}

/* ---- the code ---- */

/* Read the code: PAM_AUTHTOK (use_/try_first_pass) or the prompt.  The
 * result is a copy the caller wipes with ward_free_str_secret. */
static char *
get_code(pam_handle_t *pamh, const struct opts *o, const char *prompt)
{
	const void *tok = NULL;
	char *resp = NULL, *code;

	if (o->use_first_pass || o->try_first_pass) {
		if (pam_get_item(pamh, PAM_AUTHTOK, &tok) == PAM_SUCCESS && tok != NULL)
			return strdup(tok);
		if (o->use_first_pass) {
			pam_syslog(pamh, LOG_NOTICE, "use_first_pass: no code from an earlier "
			    "module; denying");
			return NULL;
		}
	}
	if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s", prompt) != PAM_SUCCESS ||
	    resp == NULL) {
		if (resp != NULL)
			ward_free_str_secret(resp);
		return NULL;
	}
	/* Copy so the caller owns exactly one buffer to wipe. */
	code = strdup(resp);
	ward_free_str_secret(resp);
	return code;
}

/* ---- the helper, for callers without root ---- */

static int
run_helper(pam_handle_t *pamh, const struct core *c, const char *user, const char *service,
    const char *input, char *out, size_t outlen)
{
	struct sigaction sa, old;
	int in[2] = { -1, -1 }, op[2] = { -1, -1 };
	int status = 0, r = HELPER_ERROR;
	size_t len = strlen(input), got = 0;
	pid_t pid;

	out[0] = '\0';
	if (c->conf.helper_path == NULL || pipe2(in, O_CLOEXEC) != 0)
		return HELPER_ERROR;
	if (pipe2(op, O_CLOEXEC) != 0) {
		close(in[0]);
		close(in[1]);
		return HELPER_ERROR;
	}
	/* Reap our own child even if the application ignores SIGCHLD. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, &old);
	pid = fork();
	if (pid == 0) {
		char *const args[] = { (char *)"ward_verify", (char *)user, (char *)service, NULL };
		char *const env[] = { NULL };

		if (dup2(in[0], 0) < 0 || dup2(op[1], 1) < 0)
			_exit(HELPER_ERROR);
		closefrom(3);
		execve(c->conf.helper_path, args, env);
		_exit(HELPER_ERROR);
	}
	close(in[0]);
	close(op[1]);
	if (pid < 0) {
		pam_syslog(pamh, LOG_ERR, "cannot start %s: %s", c->conf.helper_path,
		    strerror(errno));
		close(in[1]);
		close(op[0]);
		sigaction(SIGCHLD, &old, NULL);
		return HELPER_ERROR;
	}
	{
		struct sigaction ign, oldpipe;
		memset(&ign, 0, sizeof(ign));
		ign.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &ign, &oldpipe);
		while (got < len) {
			ssize_t n = write(in[1], input + got, len - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		sigaction(SIGPIPE, &oldpipe, NULL);
	}
	close(in[1]);
	got = 0;
	for (;;) {
		ssize_t n = read(op[0], out + got, outlen - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == outlen - 1)
			break;
	}
	out[got] = '\0';
	close(op[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGCHLD, &old, NULL);
	if (WIFEXITED(status))
		r = WEXITSTATUS(status);
	else
		pam_syslog(pamh, LOG_ERR, "%s ended abnormally; denying", c->conf.helper_path);
	return r;
}

static int
helper_to_err(int h)
{
	switch (h) {
	case HELPER_OK: return 0;
	case HELPER_BADCODE: return WARD_ERR_BADCODE;
	case HELPER_REPLAY: return WARD_ERR_REPLAY;
	case HELPER_LOCKED: return WARD_ERR_LOCKED;
	case HELPER_NOTENROLLED: return WARD_ERR_NOTFOUND;
	default: return WARD_ERR_INTERNAL;
	}
}

/* Verify through the helper (no root).  The helper records the outcome. */
static int
helper_verify(pam_handle_t *pamh, struct core *c, const char *user, const char *service,
    const char *code, struct core_verify_result *res)
{
	char *input = NULL, out[128];
	int h;

	memset(res, 0, sizeof(*res));
	if (strlen(code) > 64)
		return WARD_ERR_BADCODE;
	if (asprintf(&input, "verify\n%s\n", code) < 0)
		return WARD_ERR_NOMEM;
	h = run_helper(pamh, c, user, service, input, out, sizeof(out));
	ward_free_str_secret(input);
	if (strncmp(out, "recovery_left ", 14) == 0) {
		long v = strtol(out + 14, NULL, 10);
		res->recovery_left = v >= 0 && v <= 1000 ? (int)v : 0;
		res->used_recovery = h == HELPER_OK;
	} else if (strncmp(out, "locked_until ", 13) == 0) {
		res->locked_until = (int64_t)strtoll(out + 13, NULL, 10);
		res->locked_now = h != HELPER_LOCKED;
	}
	if (h == HELPER_ERROR || h == HELPER_REFUSED || h > HELPER_DENIED)
		pam_syslog(pamh, LOG_ERR, "helper %s could not verify (status %d); denying",
		    c->conf.helper_path, h);
	return helper_to_err(h);
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
	default: return ward_strerror(r);
	}
}

/*
 * Verify CODE for USER (root: in process, recorded here; otherwise through
 * the helper, which records).  Tells the user the outcome and returns the
 * PAM code.  On success *FACTOR says which factor passed.
 */
static int
check_code(pam_handle_t *pamh, const struct opts *o, struct txn *t, const char *user,
    const char *service, const char *code, time_t now, const char *event,
    const char **factor)
{
	struct core_verify_result res;
	int r, ret = PAM_AUTH_ERR, root = geteuid() == 0;
	char when[32];

	*factor = NULL;
	if (root)
		r = core_verify(&t->c, user, code, now, &res);
	else
		r = helper_verify(pamh, &t->c, user, service, code, &res);
	if (r == 0)
		*factor = res.used_recovery ? "recovery" : "totp";
	if (root) {
		struct core_rec rc = { event, r == 0 ? "success" : "failure", NULL,
			r == 0 ? NULL : fail_reason(r), r == 0 ? *factor : "totp", NULL };
		int normal = r == 0 || r == WARD_ERR_BADCODE || r == WARD_ERR_REPLAY ||
		    r == WARD_ERR_LOCKED || r == WARD_ERR_NOTFOUND;

		/* An outcome that cannot be recorded is no success.  When the
		 * verification itself failed (store, key), that is what is said. */
		if (record(pamh, t, user, service, &rc, 1) != 0 && normal) {
			say(pamh, o, PAM_ERROR_MSG, "Access cannot be recorded on this "
			    "workstation, so it is refused. Contact IT.");
			*factor = NULL;
			return PAM_AUTHINFO_UNAVAIL;
		}
		if (res.locked_now) {
			struct core_rec lk = { "lockout", "locked", NULL, "too many wrong codes",
				"totp", NULL };
			(void)record(pamh, t, user, service, &lk, 0);	/* the failure is recorded */
		}
	}
	switch (r) {
	case 0:
		pam_syslog(pamh, LOG_INFO, "user %s service %s: %s accepted", user, service,
		    res.used_recovery ? "recovery code" : "verification code");
		if (res.used_recovery)
			say(pamh, o, PAM_TEXT_INFO, "Recovery code accepted; %d left. Ask IT for "
			    "new codes or to re-enrol your phone.", res.recovery_left);
		ret = PAM_SUCCESS;
		break;
	case WARD_ERR_BADCODE:
	case WARD_ERR_REPLAY:
		pam_syslog(pamh, LOG_NOTICE, "user %s service %s: %s%s", user, service,
		    r == WARD_ERR_REPLAY ? "code already used (replay)" : "wrong code",
		    res.locked_now ? "; account now locked" : "");
		if (res.locked_now) {
			fmt_time(res.locked_until, when, sizeof(when));
			say(pamh, o, PAM_ERROR_MSG, "Too many wrong codes: two-step verification "
			    "is locked until %s. IT can unlock it sooner.", when);
		} else if (r == WARD_ERR_REPLAY) {
			say(pamh, o, PAM_ERROR_MSG, "That code was already used. Wait for the "
			    "next one.");
		} else {
			say(pamh, o, PAM_ERROR_MSG, "That code was not accepted.");
		}
		ret = PAM_AUTH_ERR;
		break;
	case WARD_ERR_LOCKED:
		fmt_time(res.locked_until, when, sizeof(when));
		pam_syslog(pamh, LOG_NOTICE, "user %s service %s: locked out; attempt refused",
		    user, service);
		say(pamh, o, PAM_ERROR_MSG, "Two-step verification is locked until %s after "
		    "too many wrong codes. IT can unlock it sooner.", when);
		ret = PAM_MAXTRIES;
		break;
	case WARD_ERR_NOTFOUND:
		pam_syslog(pamh, LOG_NOTICE, "user %s service %s: not enrolled", user, service);
		say(pamh, o, PAM_ERROR_MSG, "You are not enrolled for two-step verification. "
		    "Contact IT to enrol.");
		ret = PAM_AUTH_ERR;
		break;
	default:
		pam_syslog(pamh, LOG_ERR, "user %s service %s: verification failed: %s; denying",
		    user, service, ward_strerror(r));
		say(pamh, o, PAM_ERROR_MSG, "Two-step verification is unavailable. Contact IT.");
		ret = PAM_AUTHINFO_UNAVAIL;
		break;
	}
	return ret;
}

/* ---- auth ---- */

/* No root: the helper decides whether a code is needed (grace, a rule
 * without MFA), verifies and records. */
static int
auth_unprivileged(pam_handle_t *pamh, const struct opts *o, struct txn *t,
    const char *user, const char *service, time_t now)
{
	const char *factor = NULL;
	char out[128], *code;
	int ret;

	if (ward_user_valid(user) == 0 &&
	    run_helper(pamh, &t->c, user, service, "grace\n", out, sizeof(out)) == HELPER_OK) {
		pam_syslog(pamh, LOG_INFO, "user %s service %s: no code needed now (helper)",
		    user, service);
		t->factor = "grace";
		return PAM_SUCCESS;
	}
	if ((code = get_code(pamh, o, o->prompt)) == NULL)
		return PAM_AUTH_ERR;
	if (ward_user_valid(user) != 0) {
		say(pamh, o, PAM_ERROR_MSG, "You are not enrolled for two-step verification. "
		    "Contact IT to enrol.");
		ward_free_str_secret(code);
		return PAM_AUTH_ERR;
	}
	ret = check_code(pamh, o, t, user, service, code, now, "auth", &factor);
	ward_free_str_secret(code);
	if (ret == PAM_SUCCESS)
		t->factor = factor;
	return ret;
}

EXPORT int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct txn *t;
	struct policy_decision d;
	const char *user, *service, *factor = NULL;
	char *code = NULL;
	time_t now = time(NULL);
	int ret = PAM_AUTH_ERR, r, valid;

	memset(&d, 0, sizeof(d));
	d.mfa_required = 1;

	if (parse_opts(pamh, flags, argc, argv, &o) != 0)
		return PAM_SERVICE_ERR;
	if ((user = get_user(pamh)) == NULL ||
	    (service = get_item_str(pamh, PAM_SERVICE)) == NULL) {
		pam_syslog(pamh, LOG_ERR, "no user or service name; denying");
		ret = PAM_AUTH_ERR;
		goto done;
	}
	if ((t = get_txn(pamh, &o)) == NULL) {
		say(pamh, &o, PAM_ERROR_MSG, "Two-step verification is unavailable on this "
		    "workstation. Contact IT.");
		ret = PAM_AUTHINFO_UNAVAIL;
		goto done;
	}
	if (geteuid() != 0) {
		ret = auth_unprivileged(pamh, &o, t, user, service, now);
		goto done;
	}
	valid = ward_user_valid(user) == 0;
	if (valid) {
		if ((r = txn_decide(pamh, t, user, service, now, &d)) != 0) {
			struct core_rec rc = { "auth", "failure", NULL, r == WARD_ERR_UNAVAIL ?
				"directory unavailable" : ward_strerror(r), NULL, NULL };
			(void)record(pamh, t, user, service, &rc, 0);
			say(pamh, &o, PAM_ERROR_MSG, "Your roles cannot be checked right now. "
			    "Contact IT.");
			ret = PAM_AUTHINFO_UNAVAIL;
			goto done;
		}
		if (d.allow && (!d.mfa_required || d.mfa_grace > 0)) {
			int active = 0;
			const char *why = "none";

			if (d.mfa_required) {
				why = "grace";
				if ((r = core_grace_active(&t->c, user, d.app, now, &active)) != 0 &&
				    r != WARD_ERR_NOTFOUND)
					pam_syslog(pamh, LOG_WARNING, "grace for %s not checked (%s); "
					    "asking for a code", user, ward_strerror(r));
			}
			if (!d.mfa_required || active) {
				struct core_rec rc = { "auth", "success", d.rule, NULL, why, NULL };

				if (record(pamh, t, user, service, &rc, 1) != 0) {
					ret = PAM_AUTH_ERR;
					goto done;
				}
				pam_syslog(pamh, LOG_INFO, "user %s service %s: %s (rule %s)", user,
				    service, active ? "within the grace of a recent verification on "
				    "this workstation" : "no second factor required", d.rule);
				t->factor = why;
				ret = PAM_SUCCESS;
				goto done;
			}
		}
	}
	/* From here on, everyone sees the same prompt. */
	if ((code = get_code(pamh, &o, o.prompt)) == NULL) {
		ret = PAM_AUTH_ERR;
		goto done;
	}
	if (!valid) {
		pam_syslog(pamh, LOG_NOTICE, "refused a malformed user name (%zu bytes)",
		    strlen(user));
		say(pamh, &o, PAM_ERROR_MSG, "You are not enrolled for two-step verification. "
		    "Contact IT to enrol.");
		ret = PAM_AUTH_ERR;
		goto done;
	}
	ret = check_code(pamh, &o, t, user, service, code, now, "auth", &factor);
	if (ret == PAM_SUCCESS) {
		t->factor = factor;
		if (d.allow && d.mfa_grace > 0 &&
		    (r = core_grace_record(&t->c, user, d.app, d.mfa_grace, now)) != 0)
			pam_syslog(pamh, LOG_WARNING, "grace for %s not recorded: %s", user,
			    ward_strerror(r));
	}
done:
	if (code != NULL)
		ward_free_str_secret(code);
	ward_log_set_sink(NULL, NULL);
	return ret;
}

EXPORT int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

/* ---- account ---- */

/* Characters (UTF-8 code points) of S. */
static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/*
 * The reason typed at the break-glass prompt, trimmed, into BUF.  Returns
 * 1 when one was given, 0 when the user declined (empty answer or no
 * answer), -1 when it has control characters or is too long.
 */
static int
read_reason(pam_handle_t *pamh, long min_chars, char *buf, size_t len)
{
	char *resp = NULL, *s, *e;
	int r = 0;

	buf[0] = '\0';
	if (pam_prompt(pamh, PAM_PROMPT_ECHO_ON, &resp,
	    "EMERGENCY ACCESS: it will be recorded and reviewed by the security team. "
	    "Type the clinical reason (at least %ld characters), or press Enter to "
	    "cancel: ", min_chars) != PAM_SUCCESS || resp == NULL) {
		free(resp);
		return 0;
	}
	for (s = resp; *s == ' ' || *s == '\t'; s++)
		;
	for (e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '\t'); e--)
		;
	*e = '\0';
	if (*s == '\0')
		r = 0;
	else if (strlen(s) >= len)
		r = -1;
	else {
		r = 1;
		for (const unsigned char *p = (const unsigned char *)s; *p; p++)
			if (*p < 0x20 || *p == 0x7f)
				r = -1;
		if (r == 1)
			snprintf(buf, len, "%s", s);
	}
	free(resp);
	return r;
}

/*
 * Break-glass, offered when the decision is deny and the policy's
 * break_glass covers this user, app and host.  Returns PAM_SUCCESS when
 * emergency access is granted and recorded; PAM_PERM_DENIED otherwise.
 */
static int
break_glass(pam_handle_t *pamh, const struct opts *o, struct txn *t, const char *user,
    const char *service, const struct policy_decision *d, time_t now)
{
	struct policy_break_glass bg;
	char reason[REASON_MAX];
	const char *factor = t->factor;
	int r;

	policy_break_glass(t->c.pol, &bg);
	if (!bg.defined || geteuid() != 0)
		return PAM_PERM_DENIED;
	say(pamh, o, PAM_ERROR_MSG, "Access denied: %s", d->reason);
	r = read_reason(pamh, bg.min_reason_chars, reason, sizeof(reason));
	if (r == 0) {
		pam_syslog(pamh, LOG_NOTICE, "user %s service %s: break-glass offered and "
		    "declined", user, service);
		return PAM_PERM_DENIED;
	}
	if (r < 0 || (long)utf8_chars(reason) < bg.min_reason_chars) {
		struct core_rec rc = { "breakglass", "refused", d->rule, "reason too short or "
			"malformed", factor, r < 0 ? NULL : reason };

		(void)record(pamh, t, user, service, &rc, 1);
		say(pamh, o, PAM_ERROR_MSG, "Emergency access refused: the reason must be at "
		    "least %ld characters of plain text.", bg.min_reason_chars);
		return PAM_PERM_DENIED;
	}
	/* The second factor: verified in this transaction, or asked now. */
	if (bg.mfa_required && (factor == NULL || (strcmp(factor, "totp") != 0 &&
	    strcmp(factor, "recovery") != 0))) {
		char *code = get_code(pamh, o, o->prompt);
		int ret;

		if (code == NULL)
			return PAM_PERM_DENIED;
		ret = check_code(pamh, o, t, user, service, code, now, "auth", &factor);
		ward_free_str_secret(code);
		if (ret != PAM_SUCCESS) {
			struct core_rec rc = { "breakglass", "refused", d->rule, "second factor failed",
				factor, reason };
			(void)record(pamh, t, user, service, &rc, 1);
			return PAM_PERM_DENIED;
		}
		t->factor = factor;
	}
	{
		char detail[REASON_MAX];
		struct core_rec rc = { "breakglass", "granted", d->rule, reason, factor, detail };

		snprintf(detail, sizeof(detail), "denied: %s; session_max=%ld", d->reason,
		    bg.max_minutes * 60);

		if (record(pamh, t, user, service, &rc, 1) != 0) {
			say(pamh, o, PAM_ERROR_MSG, "Emergency access cannot be recorded on this "
			    "workstation, so it is refused. Contact IT.");
			return PAM_PERM_DENIED;
		}
	}
	pam_syslog(pamh, LOG_ALERT, "BREAK-GLASS: user %s service %s host %s: emergency "
	    "access granted for %ld minutes (denied by %s)", user, service, t->c.host,
	    bg.max_minutes, d->rule);
	say(pamh, o, PAM_TEXT_INFO, "Emergency access granted for %ld minutes. It is "
	    "recorded and will be reviewed.", bg.max_minutes);
	t->break_glass = 1;
	t->bg_session_max = bg.max_minutes * 60;
	return PAM_SUCCESS;
}

/* No root: the helper decides (roles may need the directory's password). */
static int
acct_unprivileged(pam_handle_t *pamh, const struct opts *o, struct txn *t,
    const char *user, const char *service)
{
	char out[600];
	int h;

	if (ward_user_valid(user) != 0)
		return PAM_USER_UNKNOWN;
	h = run_helper(pamh, &t->c, user, service, "account\n", out, sizeof(out));
	if (h == HELPER_OK)
		return PAM_SUCCESS;
	if (h == HELPER_DENIED) {
		char *nl = strchr(out, '\n');
		if (nl != NULL)
			*nl = '\0';
		say(pamh, o, PAM_ERROR_MSG, "Access denied: %s", strncmp(out, "reason ", 7) == 0 ?
		    out + 7 : "the policy does not allow it");
		return PAM_PERM_DENIED;
	}
	pam_syslog(pamh, LOG_ERR, "helper %s could not decide (status %d); denying",
	    t->c.conf.helper_path, h);
	return PAM_AUTHINFO_UNAVAIL;
}

EXPORT int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct txn *t;
	struct policy_decision d;
	const char *user, *service;
	time_t now = time(NULL);
	int ret = PAM_PERM_DENIED, r;

	if (parse_opts(pamh, flags, argc, argv, &o) != 0)
		return PAM_SERVICE_ERR;
	if ((user = get_user(pamh)) == NULL ||
	    (service = get_item_str(pamh, PAM_SERVICE)) == NULL) {
		pam_syslog(pamh, LOG_ERR, "no user or service name; denying");
		ret = PAM_PERM_DENIED;
		goto done;
	}
	if ((t = get_txn(pamh, &o)) == NULL) {
		say(pamh, &o, PAM_ERROR_MSG, "Access control is unavailable on this "
		    "workstation. Contact IT.");
		ret = PAM_AUTHINFO_UNAVAIL;
		goto done;
	}
	if (geteuid() != 0) {
		ret = acct_unprivileged(pamh, &o, t, user, service);
		goto done;
	}
	if (ward_user_valid(user) != 0) {
		pam_syslog(pamh, LOG_NOTICE, "refused a malformed user name (%zu bytes)",
		    strlen(user));
		ret = PAM_USER_UNKNOWN;
		goto done;
	}
	if ((r = txn_decide(pamh, t, user, service, now, &d)) != 0) {
		struct core_rec rc = { "account", "deny", NULL, r == WARD_ERR_UNAVAIL ?
			"directory unavailable" : ward_strerror(r), NULL, NULL };
		(void)record(pamh, t, user, service, &rc, 0);
		say(pamh, &o, PAM_ERROR_MSG, "Your roles cannot be checked right now. "
		    "Contact IT.");
		ret = PAM_AUTHINFO_UNAVAIL;
		goto done;
	}
	{
		struct core_rec rc = { "account", d.allow ? "allow" : "deny", d.rule, d.reason,
			t->factor, NULL };
		if (record(pamh, t, user, service, &rc, 1) != 0) {
			say(pamh, &o, PAM_ERROR_MSG, "Access cannot be recorded on this "
			    "workstation, so it is refused. Contact IT.");
			ret = PAM_PERM_DENIED;
			goto done;
		}
	}
	if (d.allow) {
		pam_syslog(pamh, LOG_INFO, "user %s service %s host %s: allowed by rule %s%s",
		    user, service, t->c.host, d.rule, t->w.offline ? " (cached roles)" : "");
		ret = PAM_SUCCESS;
	} else {
		pam_syslog(pamh, LOG_NOTICE, "user %s service %s host %s: denied by %s: %s",
		    user, service, t->c.host, d.rule, d.reason);
		if (d.break_glass)
			ret = break_glass(pamh, &o, t, user, service, &d, now);
		else {
			say(pamh, &o, PAM_ERROR_MSG, "Access denied: %s", d.reason);
			ret = PAM_PERM_DENIED;
		}
	}
done:
	ward_log_set_sink(NULL, NULL);
	return ret;
}

/* ---- session ---- */

static int
putenvf(pam_handle_t *pamh, const char *fmt, ...) WARD_PRINTF(2, 3);

static int
putenvf(pam_handle_t *pamh, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return PAM_BUF_ERR;
	return pam_putenv(pamh, buf);
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

/* Export the session obligations for the desktop or app to enforce. */
EXPORT int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct txn *t;
	struct policy_decision d;
	const char *user, *service;
	char roles[4096];
	time_t now = time(NULL);
	long session_max;
	int ret = PAM_SESSION_ERR;

	if (parse_opts(pamh, flags, argc, argv, &o) != 0)
		return PAM_SERVICE_ERR;
	if ((user = get_user(pamh)) == NULL ||
	    (service = get_item_str(pamh, PAM_SERVICE)) == NULL)
		goto done;
	if ((t = get_txn(pamh, &o)) == NULL)
		goto done;
	if (geteuid() != 0) {
		pam_syslog(pamh, LOG_ERR, "session for %s: the session phase needs root (audit "
		    "and roles); refusing", user);
		goto done;
	}
	if (txn_decide(pamh, t, user, service, now, &d) != 0)
		goto done;
	if (!d.allow && !t->break_glass) {
		pam_syslog(pamh, LOG_ERR, "session for %s: no allowing decision (%s); refusing",
		    user, d.rule);
		goto done;
	}
	session_max = d.allow ? d.session_max : POLICY_NO_LIMIT;
	if (t->break_glass)
		session_max = min_limit(session_max, t->bg_session_max);
	core_roles_joined(&t->c, &t->w, roles, sizeof(roles));
	if (putenvf(pamh, "WARD_ROLES=%s", roles) != PAM_SUCCESS)
		goto done;
	if (d.allow && d.idle_logoff != POLICY_NO_LIMIT &&
	    putenvf(pamh, "WARD_IDLE_LOGOFF=%ld", d.idle_logoff) != PAM_SUCCESS)
		goto done;
	if (session_max != POLICY_NO_LIMIT &&
	    putenvf(pamh, "WARD_SESSION_MAX=%ld", session_max) != PAM_SUCCESS)
		goto done;
	if (t->break_glass && putenvf(pamh, "WARD_BREAK_GLASS=1") != PAM_SUCCESS)
		goto done;
	{
		char detail[64];
		struct core_rec rc = { "session_open", "success", t->break_glass ? "break-glass" :
			d.rule, NULL, t->factor, detail };

		if (session_max != POLICY_NO_LIMIT)
			snprintf(detail, sizeof(detail), "session_max=%ld", session_max);
		else
			snprintf(detail, sizeof(detail), "session_max=none");
		if (record(pamh, t, user, service, &rc, 1) != 0)
			goto done;
	}
	pam_syslog(pamh, LOG_INFO, "session opened for %s (%s)%s", user, service,
	    t->break_glass ? " under break-glass" : "");
	ret = PAM_SUCCESS;
done:
	ward_log_set_sink(NULL, NULL);
	return ret;
}

EXPORT int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct txn *t;
	const char *user, *service;
	int ret = PAM_SESSION_ERR;

	if (parse_opts(pamh, flags, argc, argv, &o) != 0)
		return PAM_SERVICE_ERR;
	if ((user = get_user(pamh)) == NULL ||
	    (service = get_item_str(pamh, PAM_SERVICE)) == NULL)
		goto done;
	if (geteuid() != 0 || (t = get_txn(pamh, &o)) == NULL) {
		pam_syslog(pamh, LOG_ERR, "session close for %s not recorded", user);
		goto done;
	}
	{
		struct core_rec rc = { "session_close", "success", NULL, NULL, NULL, NULL };
		if (record(pamh, t, user, service, &rc, 0) != 0)
			goto done;
	}
	pam_syslog(pamh, LOG_INFO, "session closed for %s", user);
	ret = PAM_SUCCESS;
done:
	ward_log_set_sink(NULL, NULL);
	return ret;
}
