/*
 * ehr_sample.c - a small PAM-aware clinical app, to show how an app uses Ward.
 *
 *   ehr-sample [--service ehr-login] [--policy /etc/ward/policy.conf]
 *              [--confdir DIR] [--host HOST] USER ACTION...
 *
 * 1. It authenticates USER through PAM (service ehr-login: the password
 *    module, then pam_ward's code, the RBAC decision and break-glass).
 * 2. It opens a session; pam_ward exports WARD_ROLES (effective roles),
 *    WARD_IDLE_LOGOFF and WARD_SESSION_MAX, which the app enforces.
 * 3. For each fine-grained ACTION (e.g. ehr:prescribe) it asks the policy
 *    engine's C API, with the roles PAM resolved, whether it is permitted.
 *
 * Exit: 0 when every ACTION is permitted, 1 when one is not or PAM denied,
 * 2 on error.
 */
#include <security/pam_appl.h>
#include <security/pam_misc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ward_policy.h"

#define MAX_ROLES 64

static int
split_roles(char *list, const char **out, size_t max)
{
	size_t n = 0;

	for (char *save = NULL, *r = strtok_r(list, ",", &save); r != NULL && n < max;
	    r = strtok_r(NULL, ",", &save))
		out[n++] = r;
	return (int)n;
}

int
main(int argc, char **argv)
{
	const char *service = "ehr-login", *policy_path = "/etc/ward/policy.conf";
	const char *confdir = NULL, *host = NULL;
	struct pam_conv conv = { misc_conv, NULL };
	pam_handle_t *pamh = NULL;
	char hostbuf[256], err[1024], *roles_copy = NULL;
	const char *roles[MAX_ROLES], *env;
	struct policy *pol = NULL;
	int i, rc, status = 2, nroles;

	for (i = 1; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--service") == 0)
			service = argv[i + 1];
		else if (strcmp(argv[i], "--policy") == 0)
			policy_path = argv[i + 1];
		else if (strcmp(argv[i], "--confdir") == 0)
			confdir = argv[i + 1];
		else if (strcmp(argv[i], "--host") == 0)
			host = argv[i + 1];
		else
			break;
	}
	if (i + 1 >= argc) {
		fprintf(stderr, "usage: ehr-sample [--service S] [--policy FILE] "
		    "[--confdir DIR] [--host H] USER ACTION...\n");
		return 2;
	}
	if (host == NULL) {
		if (gethostname(hostbuf, sizeof(hostbuf)) != 0)
			return 2;
		hostbuf[sizeof(hostbuf) - 1] = '\0';
		hostbuf[strcspn(hostbuf, ".")] = '\0';
		host = hostbuf;
	}

	rc = confdir ? pam_start_confdir(service, argv[i], &conv, confdir, &pamh)
		     : pam_start(service, argv[i], &conv, &pamh);
	if (rc != PAM_SUCCESS) {
		fprintf(stderr, "ehr-sample: pam_start: %s\n", pam_strerror(pamh, rc));
		return 2;
	}
	rc = pam_authenticate(pamh, 0);
	if (rc == PAM_SUCCESS)
		rc = pam_acct_mgmt(pamh, 0);
	if (rc == PAM_SUCCESS)
		rc = pam_open_session(pamh, 0);
	if (rc != PAM_SUCCESS) {
		printf("access refused: %s\n", pam_strerror(pamh, rc));
		status = 1;
		goto out;
	}
	env = pam_getenv(pamh, "WARD_ROLES");
	printf("signed in as %s on %s; roles: %s\n", argv[i], host, env ? env : "(none)");
	if ((env = pam_getenv(pamh, "WARD_IDLE_LOGOFF")) != NULL)
		printf("this session locks after %s s idle\n", env);
	if ((env = pam_getenv(pamh, "WARD_SESSION_MAX")) != NULL)
		printf("this session ends after %s s\n", env);

	/* The fine-grained check: the policy, with the roles PAM resolved. */
	pol = policy_load(policy_path, err, sizeof(err));
	if (pol == NULL) {
		fprintf(stderr, "ehr-sample: %s\n", err);
		goto out_session;
	}
	env = pam_getenv(pamh, "WARD_ROLES");
	roles_copy = strdup(env ? env : "");
	if (roles_copy == NULL)
		goto out_session;
	nroles = split_roles(roles_copy, roles, MAX_ROLES);
	status = 0;
	for (int k = i + 1; k < argc; k++) {
		struct policy_request rq = { .user = argv[i], .roles = roles,
			.nroles = (size_t)nroles, .service = service, .host = host };
		int ok;

		policy_request_set_time(&rq, time(NULL));
		ok = policy_permitted(pol, &rq, argv[k]);
		printf("%-20s %s\n", argv[k], ok ? "permitted" : "not permitted");
		if (!ok)
			status = 1;
	}
out_session:
	pam_close_session(pamh, 0);
out:
	pam_end(pamh, rc);
	policy_free(pol);
	free(roles_copy);
	return status;
}
