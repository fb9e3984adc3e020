/*
 * pamdrive - one PAM transaction through real libpam, without a terminal.
 *
 *   pamdrive CONFDIR SERVICE USER PHASES [ANSWER...]
 *
 * PHASES is a comma list of auth, acct, open, close.  Each prompt takes
 * the next ANSWER ("" when they run out).  Messages print as "info: ..."
 * and "error: ...", prompts as "prompt: ...", each phase as
 * "auth: PAM_SUCCESS (Success)"; the WARD_* variables the session set are
 * printed at the end.  Exit 0 when every phase succeeded, 1 otherwise,
 * 2 on bad usage.  Used by the demo, the benchmarks and the tests.
 */
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char **answers;
static int nanswers, used;

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_response *r;

	(void)data;
	if (n <= 0 || (r = calloc((size_t)n, sizeof(*r))) == NULL)
		return PAM_CONV_ERR;
	for (int i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			printf("prompt: %s\n", msg[i]->msg);
			r[i].resp = strdup(used < nanswers ? answers[used++] : "");
			break;
		case PAM_ERROR_MSG:
			printf("error: %s\n", msg[i]->msg);
			break;
		default:
			printf("info: %s\n", msg[i]->msg);
			break;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static const char *
rc_name(int rc)
{
	switch (rc) {
	case PAM_SUCCESS: return "PAM_SUCCESS";
	case PAM_AUTH_ERR: return "PAM_AUTH_ERR";
	case PAM_PERM_DENIED: return "PAM_PERM_DENIED";
	case PAM_AUTHINFO_UNAVAIL: return "PAM_AUTHINFO_UNAVAIL";
	case PAM_MAXTRIES: return "PAM_MAXTRIES";
	case PAM_USER_UNKNOWN: return "PAM_USER_UNKNOWN";
	case PAM_SERVICE_ERR: return "PAM_SERVICE_ERR";
	case PAM_SYSTEM_ERR: return "PAM_SYSTEM_ERR";
	case PAM_SESSION_ERR: return "PAM_SESSION_ERR";
	case PAM_IGNORE: return "PAM_IGNORE";
	default: return "PAM_OTHER";
	}
}

int
main(int argc, char **argv)
{
	static const char *vars[] = { "WARD_ROLES", "WARD_IDLE_LOGOFF", "WARD_SESSION_MAX",
		"WARD_BREAK_GLASS" };
	struct pam_conv c = { conv, NULL };
	pam_handle_t *h = NULL;
	char *phases, *p, *save = NULL;
	int rc, failed = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: pamdrive CONFDIR SERVICE USER PHASES [ANSWER...]\n");
		return 2;
	}
	answers = argv + 5;
	nanswers = argc - 5;
	rc = pam_start_confdir(argv[2], argv[3], &c, argv[1], &h);
	if (rc != PAM_SUCCESS) {
		printf("start: %s\n", pam_strerror(h, rc));
		return 1;
	}
	if ((phases = strdup(argv[4])) == NULL)
		return 2;
	for (p = strtok_r(phases, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
		if (strcmp(p, "auth") == 0)
			rc = pam_authenticate(h, 0);
		else if (strcmp(p, "acct") == 0)
			rc = pam_acct_mgmt(h, 0);
		else if (strcmp(p, "open") == 0)
			rc = pam_open_session(h, 0);
		else if (strcmp(p, "close") == 0)
			rc = pam_close_session(h, 0);
		else {
			fprintf(stderr, "pamdrive: unknown phase '%s'\n", p);
			free(phases);
			pam_end(h, PAM_SUCCESS);
			return 2;
		}
		printf("%s: %s (%s)\n", p, rc_name(rc), pam_strerror(h, rc));
		if (rc != PAM_SUCCESS) {
			failed = 1;
			break;
		}
	}
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = pam_getenv(h, vars[i]);
		if (v != NULL)
			printf("env: %s=%s\n", vars[i], v);
	}
	pam_end(h, rc);
	free(phases);
	return failed;
}
