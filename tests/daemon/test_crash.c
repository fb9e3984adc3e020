/*
 * test_crash.c - wardd killed with SIGKILL in the middle of 16 login
 * loops (real libpam, the real module, audit.fsync on):
 *  - every login a client saw succeed is in the audit log, and
 *    `wardctl audit verify` holds over it;
 *  - the store is whole: every user's record reads back (wardctl status);
 *  - while wardd is down, a login fails closed at once, with the message,
 *    within the module's bound;
 *  - started again, wardd serves logins, codes included, and a code used
 *    before the kill is still refused (its watermark survived).
 * The suite starts its own wardd and stops it by pid.
 */
#include <CUnit/Basic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pamtest.h"
#include "testutil.h"

#define NCLIENTS 16
#define SECRET "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

static char *root;
static char conf[600], sock[600], pamd[600], wardctl[600], module[600], auditlog[600];
static pid_t dpid = -1;

static int
setup(void)
{
	char text[4096], path[800];
	size_t n = 0;

	if ((root = tu_mkdtemp("ward-crash")) == NULL)
		return 1;
	snprintf(conf, sizeof(conf), "%s/ward.conf", root);
	snprintf(sock, sizeof(sock), "%s/run/wardd.sock", root);
	snprintf(pamd, sizeof(pamd), "%s/pam.d", root);
	snprintf(auditlog, sizeof(auditlog), "%s/log/audit.log", root);
	snprintf(wardctl, sizeof(wardctl), "%s/wardctl", tu_build());
	snprintf(module, sizeof(module), "%s/pam_ward.so", tu_build());
	if (tu_sh("mkdir -p '%s/etc' '%s' && chmod 0755 '%s/etc' '%s'", root, pamd, root,
	    pamd) != 0)
		return 1;
	snprintf(text, sizeof(text),
	    "policy_file = \"%s/etc/policy.conf\";\nstate_dir = \"%s/state\";\n"
	    "secrets = { key_file = \"%s/etc/master.key\"; };\n"
	    "audit = { path = \"%s\"; key_file = \"%s/etc/audit.key\"; fsync = true; };\n",
	    root, root, root, auditlog, root);
	if (tu_write(conf, text, (size_t)-1, 0644) != 0)
		return 1;
	/* c00..c15 need no code at the desk (the loops); c00 needs one at
	 * the ehr (the watermark check) */
	n += (size_t)snprintf(text + n, sizeof(text) - n,
	    "roles = { clerk = { }; };\nusers = (");
	for (int i = 0; i < NCLIENTS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "%s { user = \"c%02d\"; roles = [\"clerk\"]; }", i ? "," : "", i);
	snprintf(text + n, sizeof(text) - n, " );\n"
	    "apps = { desk = [\"desk\"]; ehr = [\"ehr\"]; };\n"
	    "rules = ( { id = \"desk\"; effect = \"allow\"; roles = [\"clerk\"]; "
	    "apps = [\"desk\"]; mfa = \"not_required\"; },\n"
	    "  { id = \"ehr\"; effect = \"allow\"; roles = [\"clerk\"]; apps = [\"ehr\"]; "
	    "mfa = \"required\"; } );\n");
	snprintf(path, sizeof(path), "%s/etc/policy.conf", root);
	if (tu_write(path, text, (size_t)-1, 0644) != 0)
		return 1;
	if (pt_write_service(pamd, "desk", module, sock, NULL) != 0 ||
	    pt_write_service(pamd, "ehr", module, sock, NULL) != 0)
		return 1;
	if (tu_sh("'%s' --config '%s' init", wardctl, conf) != 0 ||
	    tu_sh("'%s' --config '%s' enroll c00 --secret %s --qr none", wardctl, conf,
	    SECRET) != 0)
		return 1;
	dpid = tu_wardd_start(NULL, conf, sock, NULL);
	return dpid > 0 ? 0 : 1;
}

static int
teardown(void)
{
	(void)tu_wardd_stop(dpid);
	if (root != NULL) {
		tu_rmtree(root);
		free(root);
	}
	return 0;
}

/* Client I: auth+account at the desk until one fails; the successes it
 * saw go to FD as one number. */
static void
client(int i, int fd)
{
	char user[16];
	unsigned n = 0;

	snprintf(user, sizeof(user), "c%02d", i);
	for (;;) {
		pt_answer_all("");
		if (pt_run(pamd, "desk", user, "auth,acct", NULL, 0) != PAM_SUCCESS)
			break;
		n++;
	}
	if (write(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		_exit(2);
	_exit(0);
}

static void
test_kill9_loses_nothing(void)
{
	pid_t kids[NCLIENTS];
	int fds[NCLIENTS][2], total = 0;
	unsigned seen[NCLIENTS];
	char code[16], cmd[1400], *out;
	struct timespec t0;
	int st;

	/* a code used before the kill */
	tu_totp_wait(10);
	CU_ASSERT_EQUAL_FATAL(tu_totp(SECRET, 0, code), 0);
	pt_answer_all(code);
	CU_ASSERT_EQUAL(pt_run(pamd, "ehr", "c00", "auth,acct", NULL, 0), PAM_SUCCESS);

	for (int i = 0; i < NCLIENTS; i++) {
		CU_ASSERT_FATAL(pipe(fds[i]) == 0);
		if ((kids[i] = fork()) == 0) {
			close(fds[i][0]);
			client(i, fds[i][1]);
		}
		close(fds[i][1]);
	}
	usleep(800000);
	tu_wardd_kill(dpid);
	dpid = -1;
	for (int i = 0; i < NCLIENTS; i++) {
		seen[i] = 0;
		CU_ASSERT_EQUAL(read(fds[i][0], &seen[i], sizeof(seen[i])),
		    (ssize_t)sizeof(seen[i]));
		close(fds[i][0]);
		CU_ASSERT_EQUAL(waitpid(kids[i], &st, 0), kids[i]);
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		total += (int)seen[i];
	}
	fprintf(stderr, "\n  logins answered before SIGKILL: %d by %d clients\n", total,
	    NCLIENTS);
	CU_ASSERT(total > NCLIENTS);
	/* every success a client saw is recorded (one more may be, whose
	 * answer was lost with the daemon) */
	for (int i = 0; i < NCLIENTS; i++) {
		char u[32];
		int n;

		snprintf(u, sizeof(u), "\"user\":\"c%02d\"", i);
		n = tu_count_lines(auditlog, u, "\"service\":\"desk\"", "\"event\":\"account\"",
		    "\"result\":\"allow\"", NULL);
		if (n < (int)seen[i] || n > (int)seen[i] + 1)
			fprintf(stderr, "  c%02d: saw %u successes, the log has %d\n", i, seen[i], n);
		CU_ASSERT(n >= (int)seen[i] && n <= (int)seen[i] + 1);
	}
	/* the chain holds, and the store reads back */
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' audit verify", wardctl, conf), 0);
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' status c00", wardctl, conf), 0);

	/* down: refused at once, the user told */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pt_answer_all("");
	CU_ASSERT_EQUAL(pt_run(pamd, "desk", "c01", "auth", NULL, 0), PAM_AUTHINFO_UNAVAIL);
	CU_ASSERT(tu_ms_since(&t0) < 5000);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "error: Two-step verification is "
	    "unavailable on this workstation. Contact IT."));

	/* up again: logins resume; the code used before the kill stays used */
	dpid = tu_wardd_start(NULL, conf, sock, NULL);
	CU_ASSERT_FATAL(dpid > 0);
	pt_answer_all("");
	CU_ASSERT_EQUAL(pt_run(pamd, "desk", "c01", "auth,acct", NULL, 0), PAM_SUCCESS);
	pt_answer_all(code);
	CU_ASSERT_EQUAL(pt_run(pamd, "ehr", "c00", "auth", NULL, 0), PAM_AUTH_ERR);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "already used"));
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' audit verify", wardctl, conf), 0);
	snprintf(cmd, sizeof(cmd), "'%s' --config '%s' status c00 --json", wardctl, conf);
	out = tu_run(cmd, 0, &st);
	CU_ASSERT_EQUAL(st, 0);
	free(out);
}

/* wardctl init describes a folder it keeps as it is (a log folder made
 * 0755 beforehand is not reported as 0750). */
static void
test_init_reports_kept_folder(void)
{
	char dir[700], conf2[800], cmd[4096], *out;
	int st;

	snprintf(dir, sizeof(dir), "%s/init2", root);
	snprintf(conf2, sizeof(conf2), "%s/ward.conf", dir);
	CU_ASSERT_EQUAL_FATAL(tu_sh("mkdir -p '%s/log' '%s/etc' && chmod 0755 '%s' '%s/log' "
	    "'%s/etc' && cp '%s/etc/policy.conf' '%s/etc/'", dir, dir, dir, dir, dir, root, dir), 0);
	snprintf(cmd, sizeof(cmd), "policy_file = \"%s/etc/policy.conf\";\nstate_dir = "
	    "\"%s/state\";\nsecrets = { key_file = \"%s/etc/master.key\"; };\n"
	    "audit = { path = \"%s/log/audit.log\"; key_file = \"%s/etc/audit.key\"; };\n",
	    dir, dir, dir, dir, dir);
	CU_ASSERT_EQUAL_FATAL(tu_write(conf2, cmd, (size_t)-1, 0644), 0);
	snprintf(cmd, sizeof(cmd), "'%s' --config '%s' init", wardctl, conf2);
	out = tu_run(cmd, 0, &st);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "/log/ (audit log folder, mode 0755)"));
	CU_ASSERT_PTR_NULL(strstr(out, "/log/ (audit log folder, 0750)"));
	free(out);
}

int
main(void)
{
	CU_pSuite s;
	unsigned fails;

	signal(SIGPIPE, SIG_IGN);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("wardd killed", setup, teardown);
	CU_add_test(s, "SIGKILL during 16 login loops: nothing lost, fails closed, resumes",
	    test_kill9_loses_nothing);
	CU_add_test(s, "wardctl init describes a folder it keeps as it is",
	    test_init_reports_kept_folder);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
