/* pamtest.c - a PAM conversation and transaction runner for the tests
 * (see pamtest.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pamtest.h"
#include "testutil.h"

char pt_transcript[8192];
int pt_nprompts;

static const char *answers[8];
static size_t nanswers, next_answer;
static int repeat;

static void
begin(int rep)
{
	pt_transcript[0] = '\0';
	pt_nprompts = 0;
	nanswers = next_answer = 0;
	repeat = rep;
}

void
pt_answer_all(const char *answer)
{
	begin(1);
	answers[nanswers++] = answer != NULL ? answer : "";
}

void
pt_answers(const char *const *a, size_t n)
{
	begin(0);
	for (size_t i = 0; i < n && nanswers < sizeof(answers) / sizeof(answers[0]); i++)
		answers[nanswers++] = a[i];
}

static void tlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
tlog(const char *fmt, ...)
{
	size_t l = strlen(pt_transcript);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pt_transcript + l, sizeof(pt_transcript) - l, fmt, ap);
	va_end(ap);
}

int
pt_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	(void)data;
	if (r == NULL)
		return PAM_CONV_ERR;
	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
		    msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
			const char *a = next_answer < nanswers ? answers[next_answer++] :
			    repeat && nanswers > 0 ? answers[nanswers - 1] : "";
			pt_nprompts++;
			tlog("prompt%s: %s\n", msg[i]->msg_style == PAM_PROMPT_ECHO_ON ?
			    "(echo)" : "", msg[i]->msg);
			r[i].resp = strdup(a);
		} else {
			tlog("%s: %s\n", msg[i]->msg_style == PAM_ERROR_MSG ? "error" : "info",
			    msg[i]->msg);
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

int
pt_run(const char *pamd, const char *service, const char *user, const char *phases,
    char *env, size_t len)
{
	struct pam_conv c = { pt_conv, NULL };
	pam_handle_t *h = NULL;
	int rc;

	if (env != NULL)
		env[0] = '\0';
	if ((rc = pam_start_confdir(service, user, &c, pamd, &h)) != PAM_SUCCESS)
		return rc;
	if (strstr(phases, "auth") && (rc = pam_authenticate(h, 0)) != PAM_SUCCESS)
		goto out;
	if (strstr(phases, "acct") && (rc = pam_acct_mgmt(h, 0)) != PAM_SUCCESS)
		goto out;
	if (strstr(phases, "open") && (rc = pam_open_session(h, 0)) != PAM_SUCCESS)
		goto out;
	if (env != NULL) {
		static const char *const names[] = { "WARD_ROLES", "WARD_IDLE_LOGOFF",
			"WARD_SESSION_MAX", "WARD_BREAK_GLASS" };
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			const char *v = pam_getenv(h, names[i]);
			if (v != NULL)
				snprintf(env + strlen(env), len - strlen(env), "%s=%s\n",
				    names[i], v);
		}
	}
	if (strstr(phases, "close"))
		rc = pam_close_session(h, 0);
out:
	pam_end(h, rc);
	return rc;
}

int
pt_write_service(const char *pamd, const char *name, const char *module, const char *sock,
    const char *opts)
{
	char path[2048], text[16384];

	snprintf(path, sizeof(path), "%s/%s", pamd, name);
	snprintf(text, sizeof(text),
	    "auth     required %s socket=%s%s%s\n"
	    "account  required %s socket=%s\n"
	    "session  required %s socket=%s\n",
	    module, sock, opts != NULL ? " " : "", opts != NULL ? opts : "",
	    module, sock, module, sock);
	return tu_write(path, text, (size_t)-1, 0644);
}
