/*
 * pam_ward.c - the PAM entry points: thin glue over core.c, lib/ and policy/.
 *
 * Rules it keeps (behaviour: pam_ward(8)):
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
#include "secret.h"

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
	char factor_user[DIR_USER_MAX + 1];  /* ... and for whom */
	int break_glass;             /* emergency access granted by account */
	char bg_user[DIR_USER_MAX + 1];  /* ... to whom */
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
		if (same_config(t->config, o->config)) {
			t->c.st_err = 0;	/* each phase may try the store again, once */
			return t;
		}
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

static int
enter(pam_handle_t *pamh, int flags, int argc, const char **argv, struct opts *o,
    const char **user, const char **service, struct txn **t, int *ret, int unavail,
    const char *msg)
{
	*user = *service = NULL;
	*t = NULL;
	if (parse_opts(pamh, flags, argc, argv, o) != 0) {
		*ret = PAM_SERVICE_ERR;
		return -1;
	}
	if ((*user = get_user(pamh)) == NULL ||
	    (*service = get_item_str(pamh, PAM_SERVICE)) == NULL) {
		pam_syslog(pamh, LOG_ERR, "no user or service name; denying");
		*user = NULL;
		return -1;
	}
	if ((*t = get_txn(pamh, o)) == NULL) {
		if (msg != NULL)
			say(pamh, o, PAM_ERROR_MSG, "%s", msg);
		*ret = unavail;
		return -1;
	}
	return 0;
}

/* The second factor verified in this transaction for USER (NULL: none). */
static const char *
txn_factor(const struct txn *t, const char *user)
{
	return t->factor != NULL && strcmp(t->factor_user, user) == 0 ? t->factor : NULL;
}

static void
txn_set_factor(struct txn *t, const char *user, const char *factor)
{
	t->factor = factor;
	snprintf(t->factor_user, sizeof(t->factor_user), "%s", user);
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

/* Read the code: PAM_AUTHTOK (use_/try_first_pass, unless PROMPT_ONLY) or
 * the prompt.  The result is a copy the caller wipes. */
static char *
get_code_from(pam_handle_t *pamh, const struct opts *o, const char *prompt, int digits,
    int prompt_only)
{
	const void *tok = NULL;
	char *resp = NULL, *code;

	if (!prompt_only && (o->use_first_pass || o->try_first_pass)) {
		if (pam_get_item(pamh, PAM_AUTHTOK, &tok) == PAM_SUCCESS && tok != NULL &&
		    (o->use_first_pass || code_shaped(tok, digits)))
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

static char *
get_code(pam_handle_t *pamh, const struct opts *o, const struct txn *t)
{
	return get_code_from(pamh, o, o->prompt, t->c.conf.mfa.digits, 0);
}

/* ---- the helper, for callers without root ---- */

static int
run_helper(pam_handle_t *pamh, const struct core *c, const char *user, const char *service,
    const char *input, char *out, size_t outlen)
{
	struct sigaction sa, old;
	int in[2] = { -1, -1 }, op[2] = { -1, -1 };
	int status = 0, r = HELPER_ERROR, reaped = 0;
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
	for (;;) {
		pid_t w = waitpid(pid, &status, 0);

		if (w == pid) {
			reaped = 1;
			break;
		}
		if (w < 0 && errno == EINTR)
			continue;
		break;	/* lost (reaped elsewhere): its answer is unknown */
	}
	sigaction(SIGCHLD, &old, NULL);
	/* Only an exit status we collected ourselves counts. */
	if (reaped && WIFEXITED(status))
		r = WEXITSTATUS(status);
	else
		pam_syslog(pamh, LOG_ERR, "%s ended abnormally or its status was lost; denying",
		    c->conf.helper_path);
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
		txn_set_factor(t, user, "grace");
		return PAM_SUCCESS;
	}
	if ((code = get_code(pamh, o, t)) == NULL)
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
		txn_set_factor(t, user, factor);
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
	int ret = PAM_AUTH_ERR, r, valid, active = 0, grace_r;

	memset(&d, 0, sizeof(d));
	d.mfa_required = 1;

	if (enter(pamh, flags, argc, argv, &o, &user, &service, &t, &ret, PAM_AUTHINFO_UNAVAIL,
	    "Two-step verification is unavailable on this workstation. Contact IT.") != 0)
		goto done;
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
		/* The grace is looked up for every well-formed name, whatever the
		 * decision, so that the work before the prompt does not tell a
		 * user with roles from one without (tests/fault: "the same work
		 * whether a user exists or not").  Only an allowed decision that
		 * needs a code and has a grace period uses the answer. */
		grace_r = core_grace_active(&t->c, user, d.app, now, d.mfa_grace, &active);
		if (!d.allow || !d.mfa_required || d.mfa_grace <= 0)
			active = 0;
		else if (grace_r == WARD_ERR_LOCKED)
			pam_syslog(pamh, LOG_NOTICE, "user %s service %s: locked out; no grace "
			    "while locked", user, service);
		else if (grace_r != 0 && grace_r != WARD_ERR_NOTFOUND)
			pam_syslog(pamh, LOG_WARNING, "grace for %s not checked (%s); asking "
			    "for a code", user, ward_strerror(grace_r));
		if (d.allow && (!d.mfa_required || active)) {
			const char *why = d.mfa_required ? "grace" : "none";
			struct core_rec rc = { "auth", "success", d.rule, NULL, why, NULL };

			if (record(pamh, t, user, service, &rc, 1) != 0) {
				ret = PAM_AUTH_ERR;
				goto done;
			}
			pam_syslog(pamh, LOG_INFO, "user %s service %s: %s (rule %s)", user,
			    service, active ? "within the grace of a recent verification on "
			    "this workstation" : "no second factor required", d.rule);
			txn_set_factor(t, user, why);
			ret = PAM_SUCCESS;
			goto done;
		}
	}
	/* From here on, everyone sees the same prompt. */
	if ((code = get_code(pamh, &o, t)) == NULL) {
		ret = PAM_AUTH_ERR;
		goto done;
	}
	if (!valid) {
		/* recorded like any refusal: a probe with odd names is worth seeing
		 * (the audit writer escapes and bounds the name) */
		struct core_rec rc = { "auth", "failure", NULL, "malformed user name", NULL,
			NULL };

		pam_syslog(pamh, LOG_NOTICE, "refused a malformed user name (%zu bytes)",
		    strlen(user));
		(void)record(pamh, t, user, service, &rc, 0);
		say(pamh, &o, PAM_ERROR_MSG, "You are not enrolled for two-step verification. "
		    "Contact IT to enrol.");
		ret = PAM_AUTH_ERR;
		goto done;
	}
	ret = check_code(pamh, &o, t, user, service, code, now, "auth", &factor);
	if (ret == PAM_SUCCESS) {
		txn_set_factor(t, user, factor);
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

/* One UTF-8 code point at *P (advanced), or -1 when malformed (overlong,
 * surrogate, out of range, truncated). */
static long
utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	long c;
	int n;

	if (s[0] < 0x80) {
		*p = s + 1;
		return s[0];
	}
	if ((s[0] & 0xE0) == 0xC0)
		n = 1, c = s[0] & 0x1F;
	else if ((s[0] & 0xF0) == 0xE0)
		n = 2, c = s[0] & 0x0F;
	else if ((s[0] & 0xF8) == 0xF0)
		n = 3, c = s[0] & 0x07;
	else
		return -1;
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if ((n == 1 && c < 0x80) || (n == 2 && c < 0x800) || (n == 3 && c < 0x10000) ||
	    c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return -1;
	*p = s + n + 1;
	return c;
}

static int
uspace(long c)
{
	return c == ' ' || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
	    c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Controls, and invisible or reordering format characters (zero-width,
 * bidi overrides and isolates, BOM, interlinear annotation). */
static int
uhidden(long c)
{
	return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0xAD ||
	    (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
	    (c >= 0x2060 && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB);
}

/*
 * Check a break-glass reason IN: valid UTF-8, no control or hidden format
 * character; trimmed of (Unicode) spaces into OUT.  *COUNT is the number of
 * characters that carry meaning (ASCII letters and digits, and any other
 * visible character beyond ASCII): punctuation and spaces do not make a
 * reason.  Returns 0, or -1 when IN is refused.
 */
static int
reason_check(const char *in, char *out, size_t outlen, size_t *count)
{
	const unsigned char *p = (const unsigned char *)in, *start = NULL, *end = NULL;

	*count = 0;
	out[0] = '\0';
	while (*p) {
		const unsigned char *at = p;
		long c = utf8_next(&p);

		if (c < 0 || uhidden(c))
			return -1;
		if (uspace(c))
			continue;
		if (start == NULL)
			start = at;
		end = p;
		if ((c < 0x80 && ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' &&
		    (c | 0x20) <= 'z'))) || c >= 0x80)
			(*count)++;
	}
	if (start == NULL)
		return 0;
	if ((size_t)(end - start) >= outlen)
		return -1;
	memcpy(out, start, (size_t)(end - start));
	out[end - start] = '\0';
	return 0;
}

/*
 * The reason typed at the break-glass prompt, checked and trimmed, into
 * BUF; *COUNT its meaningful characters.  Returns 1 when one was given, 0
 * when the user declined (empty or blank answer, or no answer), -1 when it
 * is refused (malformed, control or hidden characters, too long).
 */
static int
read_reason(pam_handle_t *pamh, long min_chars, char *buf, size_t len, size_t *count)
{
	char *resp = NULL;
	int r;

	buf[0] = '\0';
	*count = 0;
	if (pam_prompt(pamh, PAM_PROMPT_ECHO_ON, &resp,
	    "EMERGENCY ACCESS: it will be recorded and reviewed by the security team. "
	    "Type the clinical reason (at least %ld letters or digits), or press Enter to "
	    "cancel: ", min_chars) != PAM_SUCCESS || resp == NULL) {
		free(resp);
		return 0;
	}
	r = reason_check(resp, buf, len, count) != 0 ? -1 : buf[0] != '\0';
	/* whatever was typed may have been a code typed at the wrong prompt */
	ward_free_str_secret(resp);
	if (r < 0)
		buf[0] = '\0';
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
	char reason[REASON_MAX], detail[REASON_MAX];
	const char *factor = txn_factor(t, user);
	size_t count = 0;
	int r;

	policy_break_glass(t->c.pol, &bg);
	/* only for someone the hospital knows in a role, and only with root */
	if (!bg.defined || geteuid() != 0 || !t->resolved || t->w.nroles == 0) {
		say(pamh, o, PAM_ERROR_MSG, "Access denied: %s", d->reason);
		return PAM_PERM_DENIED;
	}
	say(pamh, o, PAM_ERROR_MSG, "Access denied: %s", d->reason);
	r = read_reason(pamh, bg.min_reason_chars, reason, sizeof(reason), &count);
	if (r == 0) {
		pam_syslog(pamh, LOG_NOTICE, "user %s service %s: break-glass offered and "
		    "declined", user, service);
		return PAM_PERM_DENIED;
	}
	if (r < 0 || (long)count < bg.min_reason_chars) {
		/* the refused text is not kept: it may be a code typed at the wrong
		 * prompt; its size says enough for review */
		struct core_rec rc = { "breakglass", "refused", d->rule, r < 0 ?
			"reason refused: control, hidden or malformed characters" :
			"reason too short", factor, detail };

		snprintf(detail, sizeof(detail), "reason of %zu letters or digits", count);
		(void)record(pamh, t, user, service, &rc, 1);
		say(pamh, o, PAM_ERROR_MSG, "Emergency access refused: the reason must have at "
		    "least %ld letters or digits, in plain text.", bg.min_reason_chars);
		return PAM_PERM_DENIED;
	}
	/* The second factor: verified in this transaction, or asked now. */
	if (bg.mfa_required && (factor == NULL || (strcmp(factor, "totp") != 0 &&
	    strcmp(factor, "recovery") != 0))) {
		/* always asked: never an earlier module's PAM_AUTHTOK */
		char *code = get_code_from(pamh, o, o->prompt, t->c.conf.mfa.digits, 1);
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
		txn_set_factor(t, user, factor);
	}
	{
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
	snprintf(t->bg_user, sizeof(t->bg_user), "%s", user);
	t->bg_session_max = bg.max_minutes * 60;
	return PAM_SUCCESS;
}

/* A factor that satisfies a rule's mfa = "required". */
static int
factor_ok(const char *f)
{
	return f != NULL && (strcmp(f, "totp") == 0 || strcmp(f, "recovery") == 0 ||
	    strcmp(f, "grace") == 0);
}

/* The second factor, asked in the account phase (grace first). */
static int
account_factor(pam_handle_t *pamh, const struct opts *o, struct txn *t, const char *user,
    const char *service, const struct policy_decision *d, time_t now)
{
	const char *factor = NULL;
	char *code;
	int active = 0, ret, r;

	if (d->mfa_grace > 0 && core_grace_active(&t->c, user, d->app, now, d->mfa_grace,
	    &active) == 0 && active) {
		struct core_rec rc = { "auth", "success", d->rule, NULL, "grace", NULL };

		if (record(pamh, t, user, service, &rc, 1) != 0)
			return PAM_AUTHINFO_UNAVAIL;
		txn_set_factor(t, user, "grace");
		return PAM_SUCCESS;
	}
	if ((code = get_code_from(pamh, o, o->prompt, t->c.conf.mfa.digits, 1)) == NULL)
		return PAM_PERM_DENIED;
	ret = check_code(pamh, o, t, user, service, code, now, "auth", &factor);
	ward_free_str_secret(code);
	if (ret != PAM_SUCCESS)
		return ret == PAM_AUTHINFO_UNAVAIL ? ret : PAM_PERM_DENIED;
	txn_set_factor(t, user, factor);
	if (d->mfa_grace > 0 && (r = core_grace_record(&t->c, user, d->app, d->mfa_grace,
	    now)) != 0)
		pam_syslog(pamh, LOG_WARNING, "grace for %s not recorded: %s", user,
		    ward_strerror(r));
	return PAM_SUCCESS;
}

/* No root: the helper decides (roles may need the directory's password). */
static int
acct_unprivileged(pam_handle_t *pamh, const struct opts *o, struct txn *t,
    const char *user, const char *service)
{
	char out[600];
	int h;

	/* PAM_PERM_DENIED, not PAM_USER_UNKNOWN, which stacks may ignore */
	if (ward_user_valid(user) != 0) {
		pam_syslog(pamh, LOG_NOTICE, "refused a malformed user name (%zu bytes)",
		    strlen(user));
		return PAM_PERM_DENIED;
	}
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

	if (enter(pamh, flags, argc, argv, &o, &user, &service, &t, &ret, PAM_AUTHINFO_UNAVAIL,
	    "Access control is unavailable on this workstation. Contact IT.") != 0)
		goto done;
	if (geteuid() != 0) {
		ret = acct_unprivileged(pamh, &o, t, user, service);
		goto done;
	}
	if (ward_user_valid(user) != 0) {
		struct core_rec rc = { "account", "deny", NULL, "malformed user name", NULL,
			NULL };

		/* PAM_PERM_DENIED, not PAM_USER_UNKNOWN, which stacks may ignore */
		pam_syslog(pamh, LOG_NOTICE, "refused a malformed user name (%zu bytes)",
		    strlen(user));
		(void)record(pamh, t, user, service, &rc, 0);
		ret = PAM_PERM_DENIED;
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
	/*
	 * An allow that needs a second factor needs it in this transaction (or
	 * a grace): a stack whose auth phase did not run pam_ward (sshd with a
	 * public key) must not get past it.  The code is asked here.
	 */
	if (d.allow && d.mfa_required && !factor_ok(txn_factor(t, user))) {
		if ((ret = account_factor(pamh, &o, t, user, service, &d, now)) != PAM_SUCCESS)
			goto done;
	}
	{
		struct core_rec rc = { "account", d.allow ? "allow" : "deny", d.rule, d.reason,
			txn_factor(t, user), NULL };
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

/* Remove the variables this module sets (pam_putenv of a bare name). */
static void
unset_env(pam_handle_t *pamh)
{
	static const char *const names[] = { "WARD_ROLES", "WARD_IDLE_LOGOFF",
		"WARD_SESSION_MAX", "WARD_BREAK_GLASS" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (pam_getenv(pamh, names[i]) != NULL)
			(void)pam_putenv(pamh, names[i]);
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
	int ret = PAM_SESSION_ERR, bg;

	if (enter(pamh, flags, argc, argv, &o, &user, &service, &t, &ret, PAM_SESSION_ERR,
	    NULL) != 0)
		goto done;
	if (geteuid() != 0) {
		pam_syslog(pamh, LOG_ERR, "session for %s: the session phase needs root (audit "
		    "and roles); refusing", user);
		goto done;
	}
	if (txn_decide(pamh, t, user, service, now, &d) != 0)
		goto done;
	/* break-glass counts only for the user it was granted to */
	bg = t->break_glass && strcmp(t->bg_user, user) == 0;
	if (!d.allow && !bg) {
		pam_syslog(pamh, LOG_ERR, "session for %s: no allowing decision (%s); refusing",
		    user, d.rule);
		goto done;
	}
	session_max = d.allow ? d.session_max : POLICY_NO_LIMIT;
	if (bg)
		session_max = min_limit(session_max, t->bg_session_max);
	core_roles_joined(&t->c, &t->w, roles, sizeof(roles));
	/* no stale value from an earlier session of this handle survives */
	unset_env(pamh);
	if (putenvf(pamh, "WARD_ROLES=%s", roles) != PAM_SUCCESS ||
	    (d.allow && d.idle_logoff != POLICY_NO_LIMIT &&
	     putenvf(pamh, "WARD_IDLE_LOGOFF=%ld", d.idle_logoff) != PAM_SUCCESS) ||
	    (session_max != POLICY_NO_LIMIT &&
	     putenvf(pamh, "WARD_SESSION_MAX=%ld", session_max) != PAM_SUCCESS) ||
	    (bg && putenvf(pamh, "WARD_BREAK_GLASS=1") != PAM_SUCCESS)) {
		unset_env(pamh);
		goto done;
	}
	{
		char detail[64];
		struct core_rec rc = { "session_open", "success", bg ? "break-glass" :
			d.rule, NULL, txn_factor(t, user), detail };

		if (session_max != POLICY_NO_LIMIT)
			snprintf(detail, sizeof(detail), "session_max=%ld", session_max);
		else
			snprintf(detail, sizeof(detail), "session_max=none");
		if (record(pamh, t, user, service, &rc, 1) != 0) {
			unset_env(pamh);
			goto done;
		}
	}
	pam_syslog(pamh, LOG_INFO, "session opened for %s (%s)%s", user, service,
	    bg ? " under break-glass" : "");
	/* one grant, one session: another needs another reason */
	t->break_glass = 0;
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

	if (enter(pamh, flags, argc, argv, &o, &user, &service, &t, &ret, PAM_SESSION_ERR,
	    NULL) != 0 || geteuid() != 0) {
		if (user != NULL)
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
