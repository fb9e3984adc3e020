/*
 * pam_ward.c - the PAM entry points: thin glue over core.c, lib/ and policy/.
 *
 * Rules it keeps (DESIGN.md "PAM behaviour"):
 *  - Every entry point starts from a denying return value; only a decided,
 *    recorded positive answer turns it into PAM_SUCCESS.  PAM_IGNORE is
 *    never returned.
 *  - Unknown, unenrolled and enrolled users see the same prompt; the code
 *    is read before anything about the user is revealed.
 *  - The code never reaches a log; the conversation reply is wiped.
 *  - Unknown module options are errors (a typo must not weaken a stack).
 *  - Without root (a screen locker) the secret store is out of reach: the
 *    setuid helper named by ward.conf's helper verifies for the caller's
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
#include "helper_proto.h"

#define DEFAULT_PROMPT "Verification code: "
#define EXPORT __attribute__((visibility("default")))

struct opts {
	const char *config;
	const char *prompt;
	int debug;
	int use_first_pass;
	int try_first_pass;
	int silent;
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
	char buf[512];
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

/* The user name, checked.  Returns NULL when PAM has none. */
static const char *
get_user(pam_handle_t *pamh)
{
	const char *user = NULL;

	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL || *user == '\0')
		return NULL;
	return user;
}

static const char *
get_service(pam_handle_t *pamh)
{
	const void *s = NULL;

	if (pam_get_item(pamh, PAM_SERVICE, &s) != PAM_SUCCESS || s == NULL)
		return NULL;
	return s;
}

/* Load configuration and policy; logs why on failure. */
static int
load(pam_handle_t *pamh, const struct opts *o, struct core *c)
{
	char err[1024];
	int r;

	if ((r = core_init(c, o->config, err, sizeof(err))) != 0) {
		pam_syslog(pamh, LOG_ERR, "%s: %s; denying", r == WARD_ERR_POLICY ?
		    "policy" : "configuration", err);
		return r;
	}
	if (o->debug)
		pam_syslog(pamh, LOG_DEBUG, "policy %.12s loaded from %s", policy_version(c->pol),
		    c->from_snapshot ? c->conf.snapshot_file : c->conf.policy_file);
	return 0;
}

/* Read the code: PAM_AUTHTOK (use_/try_first_pass) or the prompt.  The
 * result is a copy the caller wipes with ward_free_str_secret. */
static char *
get_code(pam_handle_t *pamh, const struct opts *o)
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
	if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s", o->prompt) != PAM_SUCCESS ||
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

static int
verify(pam_handle_t *pamh, struct core *c, const char *user, const char *service,
    const char *code, time_t now, struct core_verify_result *res)
{
	char *input = NULL, out[128];
	int h;

	if (geteuid() == 0)
		return core_verify(c, user, code, now, res);
	memset(res, 0, sizeof(*res));
	if (strlen(code) > 64)
		return WARD_ERR_BADCODE;
	if (asprintf(&input, "verify\n%s\n", code) < 0)
		return WARD_ERR_NOMEM;
	h = run_helper(pamh, c, user, service, input, out, sizeof(out));
	ward_free_str_secret(input);
	if (sscanf(out, "recovery_left %d", &res->recovery_left) == 1)
		res->used_recovery = h == HELPER_OK;
	else if (sscanf(out, "locked_until %" SCNd64, &res->locked_until) == 1)
		res->locked_now = h != HELPER_LOCKED;
	if (h == HELPER_ERROR || h == HELPER_REFUSED || h > HELPER_REFUSED)
		pam_syslog(pamh, LOG_ERR, "helper %s could not verify (status %d); denying",
		    c->conf.helper_path, h);
	return helper_to_err(h);
}

static int
grace_active(pam_handle_t *pamh, struct core *c, const char *user, const char *service,
    const char *app, time_t now)
{
	char out[128];
	int active = 0, r;

	if (geteuid() == 0) {
		r = core_grace_active(c, user, app, now, &active);
		if (r != 0 && r != WARD_ERR_NOTFOUND)
			pam_syslog(pamh, LOG_WARNING, "grace for %s not checked (%s); asking for a "
			    "code", user, ward_strerror(r));
		return active;
	}
	return run_helper(pamh, c, user, service, "grace\n", out, sizeof(out)) == HELPER_OK;
}

static void
fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL || strftime(buf, len, "%H:%M", &tm) == 0)
		snprintf(buf, len, "later");
}

EXPORT int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct core c;
	struct policy_decision d;
	struct core_verify_result res;
	const char *user, *service;
	char *code = NULL;
	time_t now = time(NULL);
	int ret = PAM_AUTH_ERR, r, loaded = 0, valid;

	memset(&d, 0, sizeof(d));
	d.mfa_required = 1;

	if (parse_opts(pamh, flags, argc, argv, &o) != 0)
		return PAM_SERVICE_ERR;
	if ((user = get_user(pamh)) == NULL || (service = get_service(pamh)) == NULL) {
		pam_syslog(pamh, LOG_ERR, "no user or service name; denying");
		return PAM_AUTH_ERR;
	}
	if (load(pamh, &o, &c) != 0) {
		say(pamh, &o, PAM_ERROR_MSG, "Two-step verification is unavailable on this "
		    "workstation. Contact IT.");
		return PAM_AUTHINFO_UNAVAIL;
	}
	loaded = 1;
	valid = ward_user_valid(user) == 0;
	if (valid) {
		if ((r = core_decide(&c, user, service, now, &d)) != 0) {
			pam_syslog(pamh, LOG_ERR, "no decision for %s: %s; denying", user,
			    ward_strerror(r));
			ret = PAM_AUTHINFO_UNAVAIL;
			goto out;
		}
		if (d.allow && !d.mfa_required) {
			pam_syslog(pamh, LOG_INFO, "user %s service %s: no second factor required "
			    "(rule %s)", user, service, d.rule);
			ret = PAM_SUCCESS;
			goto out;
		}
		if (d.allow && d.mfa_grace > 0 &&
		    grace_active(pamh, &c, user, service, d.app, now)) {
			pam_syslog(pamh, LOG_INFO, "user %s service %s: within the %lds grace of a "
			    "recent verification on this workstation", user, service, d.mfa_grace);
			ret = PAM_SUCCESS;
			goto out;
		}
	}
	/* From here on, everyone sees the same prompt. */
	if ((code = get_code(pamh, &o)) == NULL) {
		ret = PAM_AUTH_ERR;
		goto out;
	}
	if (!valid) {
		pam_syslog(pamh, LOG_NOTICE, "refused a malformed user name (%zu bytes)",
		    strlen(user));
		say(pamh, &o, PAM_ERROR_MSG, "You are not enrolled for two-step verification. "
		    "Contact IT to enrol.");
		ret = PAM_AUTH_ERR;
		goto out;
	}
	r = verify(pamh, &c, user, service, code, now, &res);
	switch (r) {
	case 0:
		pam_syslog(pamh, LOG_INFO, "user %s service %s: %s accepted", user, service,
		    res.used_recovery ? "recovery code" : "verification code");
		if (res.used_recovery)
			say(pamh, &o, PAM_TEXT_INFO, "Recovery code accepted; %d left. Ask IT for "
			    "new codes or to re-enrol your phone.", res.recovery_left);
		ret = PAM_SUCCESS;
		if (d.allow && d.mfa_grace > 0 && geteuid() == 0 &&
		    (r = core_grace_record(&c, user, d.app, d.mfa_grace, now)) != 0)
			pam_syslog(pamh, LOG_WARNING, "grace for %s not recorded: %s", user,
			    ward_strerror(r));
		break;
	case WARD_ERR_BADCODE:
	case WARD_ERR_REPLAY:
		pam_syslog(pamh, LOG_NOTICE, "user %s service %s: %s%s", user, service,
		    r == WARD_ERR_REPLAY ? "code already used (replay)" : "wrong code",
		    res.locked_now ? "; account now locked" : "");
		if (res.locked_now) {
			char when[32];
			fmt_time(res.locked_until, when, sizeof(when));
			say(pamh, &o, PAM_ERROR_MSG, "Too many wrong codes: two-step verification "
			    "is locked until %s. IT can unlock it sooner.", when);
		} else if (r == WARD_ERR_REPLAY) {
			say(pamh, &o, PAM_ERROR_MSG, "That code was already used. Wait for the "
			    "next one.");
		} else {
			say(pamh, &o, PAM_ERROR_MSG, "That code was not accepted.");
		}
		ret = PAM_AUTH_ERR;
		break;
	case WARD_ERR_LOCKED: {
		char when[32];
		fmt_time(res.locked_until, when, sizeof(when));
		pam_syslog(pamh, LOG_NOTICE, "user %s service %s: locked out; attempt refused",
		    user, service);
		say(pamh, &o, PAM_ERROR_MSG, "Two-step verification is locked until %s after "
		    "too many wrong codes. IT can unlock it sooner.", when);
		ret = PAM_MAXTRIES;
		break;
	}
	case WARD_ERR_NOTFOUND:
		pam_syslog(pamh, LOG_NOTICE, "user %s service %s: not enrolled", user, service);
		say(pamh, &o, PAM_ERROR_MSG, "You are not enrolled for two-step verification. "
		    "Contact IT to enrol.");
		ret = PAM_AUTH_ERR;
		break;
	default:
		pam_syslog(pamh, LOG_ERR, "user %s service %s: verification failed: %s; denying",
		    user, service, ward_strerror(r));
		say(pamh, &o, PAM_ERROR_MSG, "Two-step verification is unavailable. Contact IT.");
		ret = PAM_AUTHINFO_UNAVAIL;
		break;
	}
out:
	if (code != NULL)
		ward_free_str_secret(code);
	if (loaded)
		core_free(&c);
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

EXPORT int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct core c;
	struct policy_decision d;
	const char *user, *service;
	int ret = PAM_PERM_DENIED, r;

	if (parse_opts(pamh, flags, argc, argv, &o) != 0)
		return PAM_SERVICE_ERR;
	if ((user = get_user(pamh)) == NULL || (service = get_service(pamh)) == NULL) {
		pam_syslog(pamh, LOG_ERR, "no user or service name; denying");
		return PAM_PERM_DENIED;
	}
	if (load(pamh, &o, &c) != 0) {
		say(pamh, &o, PAM_ERROR_MSG, "Access control is unavailable on this "
		    "workstation. Contact IT.");
		return PAM_AUTHINFO_UNAVAIL;
	}
	if ((r = core_decide(&c, user, service, time(NULL), &d)) != 0) {
		pam_syslog(pamh, LOG_ERR, "no decision for user (%s); denying", ward_strerror(r));
		ret = r == WARD_ERR_INVAL ? PAM_USER_UNKNOWN : PAM_AUTHINFO_UNAVAIL;
	} else if (d.allow) {
		pam_syslog(pamh, LOG_INFO, "user %s service %s host %s: allowed by rule %s",
		    user, service, c.host, d.rule);
		ret = PAM_SUCCESS;
	} else {
		pam_syslog(pamh, LOG_NOTICE, "user %s service %s host %s: denied by %s: %s",
		    user, service, c.host, d.rule, d.reason);
		say(pamh, &o, PAM_ERROR_MSG, "Access denied: %s", d.reason);
		ret = PAM_PERM_DENIED;
	}
	core_free(&c);
	ward_log_set_sink(NULL, NULL);
	return ret;
}

/* Export the session obligations for the desktop or app to enforce. */
EXPORT int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct core c;
	struct policy_decision d;
	struct policy_request rq;
	const char *roles[CORE_MAX_ROLES], *eff[256];
	const char *user, *service;
	char buf[4096];
	size_t neff, off = 0;
	int ret = PAM_SESSION_ERR, n;

	if (parse_opts(pamh, flags, argc, argv, &o) != 0)
		return PAM_SERVICE_ERR;
	if ((user = get_user(pamh)) == NULL || (service = get_service(pamh)) == NULL)
		return PAM_SESSION_ERR;
	if (load(pamh, &o, &c) != 0)
		return PAM_SESSION_ERR;
	if (core_decide(&c, user, service, time(NULL), &d) != 0 || !d.allow ||
	    (n = core_roles(&c, user, roles, CORE_MAX_ROLES)) < 0) {
		pam_syslog(pamh, LOG_ERR, "session for %s: no allowing decision; refusing", user);
		goto out;
	}
	memset(&rq, 0, sizeof(rq));
	rq.user = user;
	rq.roles = roles;
	rq.nroles = (size_t)n;
	rq.service = service;
	rq.host = c.host;
	policy_request_set_time(&rq, time(NULL));
	neff = policy_effective_roles(c.pol, &rq, eff, 256);
	off = (size_t)snprintf(buf, sizeof(buf), "WARD_ROLES=");
	for (size_t i = 0; i < neff && i < 256; i++) {
		int w = snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? "," : "", eff[i]);
		if (w < 0 || (size_t)w >= sizeof(buf) - off)
			break;
		off += (size_t)w;
	}
	if (pam_putenv(pamh, buf) != PAM_SUCCESS)
		goto out;
	if (d.idle_logoff != POLICY_NO_LIMIT) {
		snprintf(buf, sizeof(buf), "WARD_IDLE_LOGOFF=%ld", d.idle_logoff);
		if (pam_putenv(pamh, buf) != PAM_SUCCESS)
			goto out;
	}
	if (d.session_max != POLICY_NO_LIMIT) {
		snprintf(buf, sizeof(buf), "WARD_SESSION_MAX=%ld", d.session_max);
		if (pam_putenv(pamh, buf) != PAM_SUCCESS)
			goto out;
	}
	pam_syslog(pamh, LOG_INFO, "session opened for %s (%s)", user, service);
	ret = PAM_SUCCESS;
out:
	core_free(&c);
	ward_log_set_sink(NULL, NULL);
	return ret;
}

EXPORT int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	const char *user;

	if (parse_opts(pamh, flags, argc, argv, &o) != 0)
		return PAM_SERVICE_ERR;
	user = get_user(pamh);
	pam_syslog(pamh, LOG_INFO, "session closed for %s", user ? user : "(unknown)");
	ward_log_set_sink(NULL, NULL);
	return PAM_SUCCESS;
}
