/*
 * pam_ward.c - the PAM entry points: options, PAM items, the conversation
 * and the environment, over the login-flow engine (flow.h), which asks,
 * decides, verifies and records.
 *
 * Rules it keeps (behaviour: pam_ward(8)):
 *  - Every entry point starts from a denying return value; only the
 *    engine's FLOW_SUCCESS turns it into PAM_SUCCESS, and a result it does
 *    not know is a denial.  PAM_IGNORE is never returned.
 *  - Unknown module options are errors (a typo must not weaken a stack).
 *  - One transaction (pam_start .. pam_end) keeps one engine transaction
 *    (pam_set_data): ward.conf and the policy loaded once, roles resolved
 *    once, between auth, account and session.
 *  - Conversation replies are wiped before they are freed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#define PAM_SM_SESSION
#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "flow.h"

#define DEFAULT_PROMPT "Verification code: "
#define EXPORT __attribute__((visibility("default")))
#define TXN_KEY "ward_txn"

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

/* ---- the conversation (struct flow_conv over PAM) ---- */

static void
conv_say(void *ctx, int style, const char *text)
{
	if (style == FLOW_ERROR)
		pam_error((pam_handle_t *)ctx, "%s", text);
	else
		pam_info((pam_handle_t *)ctx, "%s", text);
}

static char *
conv_ask(void *ctx, int echo, const char *prompt)
{
	char *resp = NULL;

	if (pam_prompt((pam_handle_t *)ctx, echo ? PAM_PROMPT_ECHO_ON : PAM_PROMPT_ECHO_OFF,
	    &resp, "%s", prompt) != PAM_SUCCESS || resp == NULL) {
		ward_free_str_secret(resp);
		return NULL;
	}
	return resp;
}

/* NAME=VALUE through pam_putenv; VALUE NULL removes NAME when it is set. */
static int
conv_setenv(void *ctx, const char *name, const char *value)
{
	pam_handle_t *pamh = ctx;
	char buf[4096];
	int n;

	if (value == NULL) {
		if (pam_getenv(pamh, name) != NULL)
			(void)pam_putenv(pamh, name);
		return 0;
	}
	n = snprintf(buf, sizeof(buf), "%s=%s", name, value);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return pam_putenv(pamh, buf) == PAM_SUCCESS ? 0 : -1;
}

/* ---- the transaction ---- */

static void
txn_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	flow_txn_free(data);
}

/*
 * The transaction's engine: the one an earlier phase of this transaction
 * loaded with the same config=, or a new one.  NULL when ward.conf or the
 * policy cannot be loaded (logged).
 */
static struct flow_txn *
get_txn(pam_handle_t *pamh, const struct opts *o)
{
	const void *data = NULL;
	struct flow_txn *t;

	if (pam_get_data(pamh, TXN_KEY, &data) == PAM_SUCCESS && data != NULL) {
		t = (struct flow_txn *)(uintptr_t)data;
		if (flow_txn_reuse(t, o->config) == 0)
			return t;
	}
	if ((t = flow_txn_new(o->config)) == NULL)
		return NULL;
	/* Replacing earlier data (another config=) frees it through txn_cleanup. */
	if (pam_set_data(pamh, TXN_KEY, t, txn_cleanup) != PAM_SUCCESS) {
		pam_syslog(pamh, LOG_CRIT, "cannot keep transaction data; denying");
		flow_txn_free(t);
		return NULL;
	}
	return t;
}

/*
 * What every entry point does first: the options, the request (user,
 * service, remote host, tty, an earlier module's token) and the
 * transaction.  -1 when the phase cannot go on: *RET is then what it
 * returns (left at its denying value when no user or service is known),
 * and MSG (when not NULL) was shown.
 */
static int
enter(pam_handle_t *pamh, int flags, int argc, const char **argv, struct opts *o,
    struct flow_req *rq, struct flow_conv *cv, struct flow_txn **t, int *ret, int unavail,
    const char *msg)
{
	memset(rq, 0, sizeof(*rq));
	*cv = (struct flow_conv){ pamh, conv_say, conv_ask, conv_setenv };
	*t = NULL;
	if (parse_opts(pamh, flags, argc, argv, o) != 0) {
		*ret = PAM_SERVICE_ERR;
		return -1;
	}
	if ((rq->user = get_user(pamh)) == NULL ||
	    (rq->service = get_item_str(pamh, PAM_SERVICE)) == NULL) {
		pam_syslog(pamh, LOG_ERR, "no user or service name; denying");
		rq->user = NULL;
		return -1;
	}
	rq->rhost = get_item_str(pamh, PAM_RHOST);
	rq->tty = get_item_str(pamh, PAM_TTY);
	rq->authtok = get_item_str(pamh, PAM_AUTHTOK);
	rq->use_first_pass = o->use_first_pass;
	rq->try_first_pass = o->try_first_pass;
	rq->silent = o->silent;
	rq->prompt = o->prompt;
	if ((*t = get_txn(pamh, o)) == NULL) {
		if (msg != NULL && !o->silent)
			pam_error(pamh, "%s", msg);
		*ret = unavail;
		return -1;
	}
	return 0;
}

/* The engine's result as a PAM code; anything unknown is DENY. */
static int
to_pam(int r, int deny)
{
	switch (r) {
	case FLOW_SUCCESS: return PAM_SUCCESS;
	case FLOW_AUTH_ERR: return PAM_AUTH_ERR;
	case FLOW_PERM_DENIED: return PAM_PERM_DENIED;
	case FLOW_MAXTRIES: return PAM_MAXTRIES;
	case FLOW_AUTHINFO_UNAVAIL: return PAM_AUTHINFO_UNAVAIL;
	case FLOW_SESSION_ERR: return PAM_SESSION_ERR;
	default: return deny;
	}
}

/* ---- the entry points ---- */

EXPORT int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct flow_req rq;
	struct flow_conv cv;
	struct flow_txn *t;
	time_t now = time(NULL);
	int ret = PAM_AUTH_ERR;

	if (enter(pamh, flags, argc, argv, &o, &rq, &cv, &t, &ret, PAM_AUTHINFO_UNAVAIL,
	    "Two-step verification is unavailable on this workstation. Contact IT.") == 0)
		ret = to_pam(flow_authenticate(t, &rq, &cv, now), PAM_AUTH_ERR);
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
	struct flow_req rq;
	struct flow_conv cv;
	struct flow_txn *t;
	time_t now = time(NULL);
	int ret = PAM_PERM_DENIED;

	if (enter(pamh, flags, argc, argv, &o, &rq, &cv, &t, &ret, PAM_AUTHINFO_UNAVAIL,
	    "Access control is unavailable on this workstation. Contact IT.") == 0)
		ret = to_pam(flow_account(t, &rq, &cv, now), PAM_PERM_DENIED);
	ward_log_set_sink(NULL, NULL);
	return ret;
}

/* Export the session obligations for the desktop or app to enforce. */
EXPORT int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct flow_req rq;
	struct flow_conv cv;
	struct flow_txn *t;
	time_t now = time(NULL);
	int ret = PAM_SESSION_ERR;

	if (enter(pamh, flags, argc, argv, &o, &rq, &cv, &t, &ret, PAM_SESSION_ERR,
	    NULL) == 0)
		ret = to_pam(flow_open_session(t, &rq, &cv, now), PAM_SESSION_ERR);
	ward_log_set_sink(NULL, NULL);
	return ret;
}

EXPORT int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct flow_req rq;
	struct flow_conv cv;
	struct flow_txn *t;
	time_t now = time(NULL);
	int ret = PAM_SESSION_ERR;

	if (enter(pamh, flags, argc, argv, &o, &rq, &cv, &t, &ret, PAM_SESSION_ERR,
	    NULL) == 0)
		ret = to_pam(flow_close_session(t, &rq, &cv, now), PAM_SESSION_ERR);
	else if (rq.user != NULL)
		pam_syslog(pamh, LOG_ERR, "session close for %s not recorded", rq.user);
	ward_log_set_sink(NULL, NULL);
	return ret;
}
