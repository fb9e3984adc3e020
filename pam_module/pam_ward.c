/*
 * pam_ward.c - the PAM entry points: a thin client of wardd (wardd(8)).
 * Each phase is one exchange on wardd's socket (client.c): the request
 * (user, service, remote host, tty, options, an earlier module's token,
 * the transaction of an earlier phase), the questions wardd asks through
 * this process's PAM conversation, and the result with its messages and
 * session variables.  The module opens no file, holds no key and links
 * only libpam and libc: wardd decides, verifies and records.
 *
 * Rules it keeps (behaviour: pam_ward(8)):
 *  - Every entry point starts from a denying return value; only wardd's
 *    WIRE_R_SUCCESS turns it into PAM_SUCCESS, and a result it does not
 *    know is a denial.  PAM_IGNORE is never returned.
 *  - wardd unreachable, late (CLIENT_BOUND_MS, not counting typing) or
 *    answering anything but a result: denied, the user told once, and a
 *    syslog line naming the socket.
 *  - Unknown module options are errors (a typo must not weaken a stack);
 *    config= is refused: ward.conf is wardd's (wardd --config).
 *  - The transaction token of one phase goes with the next phase of the
 *    same PAM handle (pam_set_data); nothing else is kept.  After a
 *    successful auth or account it is also put in the PAM environment
 *    (WARD_TXN), for a program that opens the session on a handle which
 *    did not run them (sshd: auth and account run in a child of its
 *    monitor, which imports that child's PAM environment).  setcred and
 *    the session phases take it from there when the handle has none, and
 *    always remove it, before the program copies the PAM environment into
 *    the session's.  The token serves only the uid that began the
 *    transaction (wardd(8) "TRANSACTIONS").
 *  - PAM_SILENT silences Ward's messages, unless the stack says
 *    show_messages (sudo before 1.9.16 always passes PAM_SILENT).
 *  - Conversation replies are wiped before they are freed (client.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#define PAM_SM_SESSION
#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "client.h"

#define EXPORT __attribute__((visibility("default")))
#define TXN_KEY "ward_txn"
#define TXN_ENV "WARD_TXN"
#define UNAVAILABLE "Two-step verification is unavailable on this workstation. Contact IT."

struct opts {
	const char *socket;
	const char *prompt;
	int debug;
	int show_messages;           /* Ward's messages even under PAM_SILENT */
	uint32_t flags;              /* WIRE_F_* */
};

static int
parse_opts(pam_handle_t *pamh, int flags, int argc, const char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->socket = CLIENT_DEFAULT_SOCKET;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "show_messages") == 0)
			o->show_messages = 1;
		else if (strncmp(argv[i], "socket=", 7) == 0 && argv[i][7] == '/')
			o->socket = argv[i] + 7;
		else if (strncmp(argv[i], "prompt=", 7) == 0 && argv[i][7] != '\0')
			o->prompt = argv[i] + 7;
		else if (strcmp(argv[i], "debug") == 0)
			o->debug = 1;
		else if (strcmp(argv[i], "use_first_pass") == 0)
			o->flags |= WIRE_F_USE_FIRST_PASS;
		else if (strcmp(argv[i], "try_first_pass") == 0)
			o->flags |= WIRE_F_TRY_FIRST_PASS;
		else if (strncmp(argv[i], "config=", 7) == 0) {
			pam_syslog(pamh, LOG_ERR, "option '%s': ward.conf is read by wardd "
			    "(wardd --config FILE); name its socket with socket=PATH instead: "
			    "denying", argv[i]);
			return -1;
		} else {
			pam_syslog(pamh, LOG_ERR, "unknown option '%s' in the PAM stack: denying",
			    argv[i]);
			return -1;
		}
	}
	if ((flags & PAM_SILENT) && !o->show_messages)
		o->flags |= WIRE_F_SILENT;
	return 0;
}

static const char *
get_item_str(pam_handle_t *pamh, int item)
{
	const void *s = NULL;

	if (pam_get_item(pamh, item, &s) != PAM_SUCCESS || s == NULL)
		return NULL;
	return s;
}

/* ---- the conversation (struct client_conv over PAM) ---- */

static void
conv_say(void *ctx, int error, const char *text)
{
	if (error)
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

/* LINE is NAME=VALUE (set) or NAME (unset when set); only WARD_ names. */
static int
conv_setenv(void *ctx, const char *line)
{
	pam_handle_t *pamh = ctx;

	if (strncmp(line, "WARD_", 5) != 0)
		return -1;
	if (strchr(line, '=') == NULL) {
		if (pam_getenv(pamh, line) != NULL)
			(void)pam_putenv(pamh, line);
		return 0;
	}
	return pam_putenv(pamh, line) == PAM_SUCCESS ? 0 : -1;
}

static void
token_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	ward_free_str_secret(data);
}

/* Keep TOKEN (a copy) as this handle's transaction; 0 or -1. */
static int
keep_token(pam_handle_t *pamh, const char *token)
{
	char *keep = strdup(token);

	if (keep == NULL)
		return -1;
	if (pam_set_data(pamh, TXN_KEY, keep, token_cleanup) != PAM_SUCCESS) {
		ward_free_str_secret(keep);
		return -1;
	}
	return 0;
}

/* Is S a token as wardd makes them (lowercase hex, WIRE_TOKEN_HEX long)? */
static int
token_shaped(const char *s)
{
	return strlen(s) == WIRE_TOKEN_HEX && strspn(s, "0123456789abcdef") == WIRE_TOKEN_HEX;
}

/*
 * The token carried in the PAM environment (WARD_TXN, put there by an
 * auth or account phase that may have run on another handle: sshd)
 * becomes this handle's when it keeps none, and leaves the environment,
 * so that the program never copies it into the session.  0, or -1 when it
 * could not be removed.
 */
static int
take_env_token(pam_handle_t *pamh)
{
	const char *v = pam_getenv(pamh, TXN_ENV);
	const void *data = NULL;

	if (v == NULL)
		return 0;
	if ((pam_get_data(pamh, TXN_KEY, &data) != PAM_SUCCESS || data == NULL) &&
	    token_shaped(v))
		(void)keep_token(pamh, v);   /* not kept: the phase starts afresh */
	if (pam_putenv(pamh, TXN_ENV) != PAM_SUCCESS || pam_getenv(pamh, TXN_ENV) != NULL) {
		pam_syslog(pamh, LOG_ERR, "cannot remove %s from the PAM environment", TXN_ENV);
		return -1;
	}
	return 0;
}

/* wardd's result as a PAM code; anything unknown is DENY. */
static int
to_pam(int r, int deny)
{
	switch (r) {
	case WIRE_R_SUCCESS: return PAM_SUCCESS;
	case WIRE_R_AUTH_ERR: return PAM_AUTH_ERR;
	case WIRE_R_PERM_DENIED: return PAM_PERM_DENIED;
	case WIRE_R_MAXTRIES: return PAM_MAXTRIES;
	case WIRE_R_AUTHINFO_UNAVAIL: return PAM_AUTHINFO_UNAVAIL;
	case WIRE_R_SESSION_ERR: return PAM_SESSION_ERR;
	default: return deny;
	}
}

/*
 * One phase with wardd.  DENY is the phase's denying value, UNAVAIL what
 * it returns when wardd cannot answer (MSG, when not NULL, is then shown
 * unless silent).
 */
static int
phase(pam_handle_t *pamh, int flags, int argc, const char **argv, uint32_t ph, int deny,
    int unavail, const char *msg)
{
	static const char *const names[] = { "", "auth", "account", "session open",
		"session close" };
	struct client_conv cv = { pamh, conv_say, conv_ask, conv_setenv };
	struct client_req rq;
	struct opts o;
	const void *data = NULL;
	char token[WIRE_TOKEN_HEX + 1], err[512];
	const char *who;
	int result = 0, r;

	if (parse_opts(pamh, flags, argc, argv, &o) != 0)
		return PAM_SERVICE_ERR;
	memset(&rq, 0, sizeof(rq));
	rq.phase = ph;
	if (pam_get_user(pamh, &rq.user, NULL) != PAM_SUCCESS || rq.user == NULL ||
	    *rq.user == '\0' || (rq.service = get_item_str(pamh, PAM_SERVICE)) == NULL) {
		pam_syslog(pamh, LOG_ERR, "no user or service name; denying");
		return deny;
	}
	rq.rhost = get_item_str(pamh, PAM_RHOST);
	rq.tty = get_item_str(pamh, PAM_TTY);
	/* an earlier module's token goes to wardd only when the stack says so */
	if (o.flags & (WIRE_F_USE_FIRST_PASS | WIRE_F_TRY_FIRST_PASS))
		rq.authtok = get_item_str(pamh, PAM_AUTHTOK);
	rq.prompt = o.prompt;
	rq.flags = o.flags;
	/* a session never opens with the token still in the environment */
	if ((ph == WIRE_PH_OPEN_SESSION || ph == WIRE_PH_CLOSE_SESSION) &&
	    take_env_token(pamh) != 0)
		return deny;
	if (pam_get_data(pamh, TXN_KEY, &data) == PAM_SUCCESS && data != NULL)
		rq.token = data;

	/* a name that is not a name (a newline would forge a log line) is
	 * logged as such; wardd judges and records it */
	who = ward_user_valid(rq.user) == 0 ? rq.user : "(a malformed user name)";
	r = client_phase(o.socket, &rq, &cv, &result, token, err, sizeof(err));
	if (r != 0) {
		pam_syslog(pamh, r == WARD_ERR_PERM ? LOG_NOTICE : LOG_ERR,
		    "%s of %s: wardd at %s: %s; denying", names[ph], who, o.socket, err);
		if (r == WARD_ERR_PERM)
			return deny;
		if (msg != NULL && !(o.flags & WIRE_F_SILENT))
			pam_error(pamh, "%s", msg);
		return unavail;
	}
	if (o.debug)
		pam_syslog(pamh, LOG_DEBUG, "%s of %s: wardd answered %d", names[ph], who,
		    result);
	/* the transaction goes on with the next phase of this handle (a
	 * failure to keep it only means that phase starts afresh), and, after
	 * a successful auth or account, with a session opened on another
	 * handle that imports this one's environment (sshd) */
	if (token[0] != '\0') {
		(void)keep_token(pamh, token);
		if ((ph == WIRE_PH_AUTH || ph == WIRE_PH_ACCOUNT) && result == WIRE_R_SUCCESS) {
			char line[sizeof(TXN_ENV) + WIRE_TOKEN_HEX + 1];

			snprintf(line, sizeof(line), "%s=%s", TXN_ENV, token);
			(void)pam_putenv(pamh, line);
			ward_wipe(line, sizeof(line));
		}
	}
	ward_wipe(token, sizeof(token));
	return to_pam(result, deny);
}

/* ---- the entry points ---- */

EXPORT int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return phase(pamh, flags, argc, argv, WIRE_PH_AUTH, PAM_AUTH_ERR,
	    PAM_AUTHINFO_UNAVAIL, UNAVAILABLE);
}

/* Nothing to establish.  Programs call it before they open the session
 * and copy the PAM environment into it (sudo does so with no session line
 * of pam_ward in its stack): the token leaves the environment here. */
EXPORT int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)flags;
	(void)argc;
	(void)argv;
	(void)take_env_token(pamh);
	return PAM_SUCCESS;
}

EXPORT int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return phase(pamh, flags, argc, argv, WIRE_PH_ACCOUNT, PAM_PERM_DENIED,
	    PAM_AUTHINFO_UNAVAIL, UNAVAILABLE);
}

/* The session's obligations (WARD_ROLES, WARD_IDLE_LOGOFF, ...) come back
 * from wardd as variables for the desktop or app to enforce. */
EXPORT int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return phase(pamh, flags, argc, argv, WIRE_PH_OPEN_SESSION, PAM_SESSION_ERR,
	    PAM_SESSION_ERR, NULL);
}

EXPORT int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return phase(pamh, flags, argc, argv, WIRE_PH_CLOSE_SESSION, PAM_SESSION_ERR,
	    PAM_SESSION_ERR, NULL);
}
