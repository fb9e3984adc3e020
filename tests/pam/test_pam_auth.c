/*
 * test_pam_auth.c - pam_ward.so through real libpam (pam_start_confdir),
 * with a private ward.conf, keys and state store made by wardctl, and codes
 * from an independent generator (oathtool), through the wardd the suite
 * starts on that ward.conf (stopped by pid at the end).
 *
 * The fixture lives in tu_stage_root() because user nobody (a screen
 * locker's caller) must reach the PAM stack, the module and the socket.
 */
#include <CUnit/Basic.h>
#include <ctype.h>
#include <grp.h>
#include <lmdb.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "logcap.h"
#include "pamtest.h"
#include "testutil.h"

static char root[512], conf[600], pamd[600], statedir[600], keyfile[600], sock[600];
static char module[600], wardctl[600];
static int have_log;
static pid_t dpid = -1;

/* Each user gets its own secret: base32 of 20 bytes. */
static const struct {
	const char *user, *b32;
} users[] = {
	{ "alice",    "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" },
	{ "win1",     "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" },
	{ "lock1",    "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U" },
	{ "rec1",     "ON2HE2LOM4QHI2DFEBZWKY3SMV2CA3TP" },
	{ "race1",    "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA" },
	{ "grace1",   "NJ2W24DTEBXXMZLSEB2GQZJANRQXU6JA" },
	{ "corrupt1", "MRXWOIDBNZSCAYLHMFUW4IDUNBSSA5DF" },
	{ "erin",     "OBUGC4TNMFRXS4DSN5TGKZ3TN5ZHIYLM" },
	{ "nobody",   "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJR" },
	{ "unsafe1",  "MFZWIZTHNJVWY3LONZXXA4LSON2HK5TX" },
};

static const char policy_text[] =
    "roles = { nurse = { permissions = [\"ehr:read\"]; };\n"
    "          clerk = { permissions = [\"registration:*\"]; };\n"
    "          pharmacist = { permissions = [\"pharmacy:*\"]; }; };\n"
    "users = ( { user = \"alice\"; roles = [\"nurse\"]; }, { user = \"win1\"; roles = [\"nurse\"]; },\n"
    "  { user = \"lock1\"; roles = [\"nurse\"]; }, { user = \"rec1\"; roles = [\"nurse\"]; },\n"
    "  { user = \"race1\"; roles = [\"nurse\"]; }, { user = \"grace1\"; roles = [\"nurse\"]; },\n"
    "  { user = \"corrupt1\"; roles = [\"nurse\"]; }, { user = \"dave\"; roles = [\"nurse\"]; },\n"
    "  { user = \"carol\"; roles = [\"clerk\"]; }, { user = \"erin\"; roles = [\"pharmacist\"]; },\n"
    "  { user = \"nobody\"; roles = [\"nurse\"]; }, { user = \"unsafe1\"; roles = [\"nurse\"]; } );\n"
    "apps = { ehr = [\"ward-test\", \"ward-first\", \"ward-tryfirst\", \"ward-badopt\"];\n"
    "         pacs = [\"ward-grace\"]; pacs2 = [\"ward-grace2\"]; theatre = [\"ward-bg\"]; };\n"
    "rules = (\n"
    "  { id = \"nurses-ehr\"; effect = \"allow\"; roles = [\"nurse\"]; apps = [\"ehr\"];\n"
    "    mfa = \"required\"; idle_logoff = 600; session_max = 43200; },\n"
    "  { id = \"nurses-pacs\"; effect = \"allow\"; roles = [\"nurse\"]; apps = [\"pacs\", \"pacs2\"];\n"
    "    mfa = \"required\"; mfa_grace = 300; },\n"
    "  { id = \"clerks-ehr\"; effect = \"allow\"; roles = [\"clerk\"]; apps = [\"ehr\"];\n"
    "    mfa = \"not_required\"; } );\n"
    /* no rule for the theatre system: break-glass only */
    "break_glass = { roles = [\"nurse\"]; apps = [\"theatre\"]; hosts = [\"*\"];\n"
    "                max_minutes = 30; min_reason_chars = 10; mfa = \"required\"; };\n";

/* ---- PAM ---- */

/* Run PHASES ("auth", "auth,acct", "auth,acct,open") as USER on SERVICE,
 * answering every prompt with CODE.  Returns the first failing rc or
 * PAM_SUCCESS.  ENV (optional) receives WARD_* variables. */
static int
run_pam(const char *service, const char *user, const char *phases, const char *code,
    char *env, size_t envlen)
{
	pt_answer_all(code);
	return pt_run(pamd, service, user, phases, env, envlen);
}

/* ---- codes from oathtool ---- */

static const char *
b32_of(const char *user)
{
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (strcmp(users[i].user, user) == 0)
			return users[i].b32;
	return NULL;
}

/* The code for USER at now + OFFSET seconds, from oathtool. */
static void
code_at(const char *user, long offset, char out[16])
{
	CU_ASSERT_EQUAL_FATAL(tu_totp(b32_of(user), offset, out), 0);
}

/* Keep a test's codes inside one time step: wait when close to its end. */
static void
fresh_step(void)
{
	tu_totp_wait(24);
}

/* ---- fixture ---- */

static int
setup(void)
{
	static const struct {
		const char *name, *opts;
	} services[] = {
		{ "ward-test", "" }, { "ward-grace", "" }, { "ward-grace2", "" },
		{ "ward-first", "use_first_pass" }, { "ward-tryfirst", "try_first_pass" },
		{ "ward-badopt", "no_such_option" }, { "ward-bg", "" },
	};
	char path[1200], text[4096];

	snprintf(root, sizeof(root), "%s/auth", tu_stage_root());
	snprintf(sock, sizeof(sock), "%s/run/wardd.sock", root);
	snprintf(conf, sizeof(conf), "%s/ward.conf", root);
	snprintf(pamd, sizeof(pamd), "%s/pam.d", root);
	snprintf(statedir, sizeof(statedir), "%s/state", root);
	snprintf(keyfile, sizeof(keyfile), "%s/etc/master.key", root);
	snprintf(wardctl, sizeof(wardctl), "%s/wardctl", tu_build());
	if (tu_sh("rm -rf '%s' && mkdir -p '%s/etc' '%s' && chmod 0755 '%s' '%s/etc' '%s'",
	    root, root, pamd, root, root, pamd) != 0)
		return 1;
	/* the module where nobody can load it */
	if (tu_stage_module(module, sizeof(module)) != 0)
		return 1;
	snprintf(text, sizeof(text),
	    "policy_file = \"%s/etc/policy.conf\";\nstate_dir = \"%s\";\n"
	    "mfa = { max_failures = 3; lockout_seconds = 600; window = 1; issuer = \"Test\";\n"
	    "        recovery_codes = 4; };\n"
	    "secrets = { key_file = \"%s\"; };\n"
	    "audit = { path = \"%s/log/audit.log\"; key_file = \"%s/etc/audit.key\"; };\n",
	    root, statedir, keyfile, root, root);
	if (tu_write(conf, text, (size_t)-1, 0644) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/etc/policy.conf", root);
	if (tu_write(path, policy_text, (size_t)-1, 0644) != 0)
		return 1;
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		if (pt_write_service(pamd, services[i].name, module, sock, services[i].opts) != 0)
			return 1;
	if (tu_sh("'%s' --config '%s' init", wardctl, conf) != 0)
		return 1;
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (tu_sh("'%s' --config '%s' enroll %s --secret %s --qr none", wardctl, conf,
		    users[i].user, users[i].b32) != 0)
			return 1;
	/* the log capture first: wardd's syslog lines come to it */
	have_log = logcap_begin();
	dpid = tu_wardd_start(NULL, conf, sock, NULL);
	return dpid > 0 ? 0 : 1;
}

static int
teardown(void)
{
	(void)tu_wardd_stop(dpid);
	dpid = -1;
	logcap_stop();
	return 0;
}

/* ---- tests ---- */

static void
test_valid_code_then_replay(void)
{
	char code[16], env[512];

	fresh_step();
	code_at("alice", 0, code);
	CU_ASSERT_EQUAL(run_pam("ward-test", "alice", "auth,acct,open", code, env,
	    sizeof(env)), PAM_SUCCESS);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "prompt: Verification code: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(env, "WARD_ROLES=nurse\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(env, "WARD_IDLE_LOGOFF=600\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(env, "WARD_SESSION_MAX=43200\n"));
	/* the same code again: replay */
	CU_ASSERT_EQUAL(run_pam("ward-test", "alice", "auth", code, NULL, 0), PAM_AUTH_ERR);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "already used"));
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("user alice service ward-test: code already used (replay)"));
	/* a wrong code */
	CU_ASSERT_EQUAL(run_pam("ward-test", "alice", "auth", "000000", NULL, 0) == PAM_AUTH_ERR ||
	    strcmp(code, "000000") == 0, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "not accepted"));
	/* garbage of all shapes is a wrong code, never an error (unlocking
	 * between, as max_failures is 3) */
	{
		static const char *const junk[] = { "", "12345678901234567890", "abc\x01\xff",
			"12345", "1234567", " 123456", "-12345", "%s%n%s" };
		for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
			CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock alice", wardctl, conf), 0);
			CU_ASSERT_EQUAL(run_pam("ward-test", "alice", "auth", junk[i], NULL, 0),
			    PAM_AUTH_ERR);
			CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "not accepted"));
		}
	}
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock alice", wardctl, conf), 0);
}

static void
test_window_edges(void)
{
	char prev[16], next[16], next2[16], prev2[16], now[16];

	fresh_step();
	code_at("win1", -60, prev2);
	code_at("win1", -30, prev);
	code_at("win1", 0, now);
	code_at("win1", 30, next);
	code_at("win1", 60, next2);
	/* two steps away: outside window = 1 */
	CU_ASSERT_EQUAL(run_pam("ward-test", "win1", "auth", prev2, NULL, 0), PAM_AUTH_ERR);
	CU_ASSERT_EQUAL(run_pam("ward-test", "win1", "auth", next2, NULL, 0), PAM_AUTH_ERR);
	/* one step behind: accepted */
	CU_ASSERT_EQUAL(run_pam("ward-test", "win1", "auth", prev, NULL, 0), PAM_SUCCESS);
	/* one step ahead: accepted, and moves the watermark past now */
	CU_ASSERT_EQUAL(run_pam("ward-test", "win1", "auth", next, NULL, 0), PAM_SUCCESS);
	/* now's code is older than the watermark: replay */
	CU_ASSERT_EQUAL(run_pam("ward-test", "win1", "auth", now, NULL, 0), PAM_AUTH_ERR);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "already used"));
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock win1", wardctl, conf), 0);
}

static void
test_lockout_and_unlock(void)
{
	char code[16], *out;
	int st;

	fresh_step();
	code_at("lock1", 0, code);
	/* max_failures = 3 */
	for (int i = 0; i < 3; i++) {
		const char *wrong = strcmp(code, "111111") == 0 ? "222222" : "111111";
		CU_ASSERT_EQUAL(run_pam("ward-test", "lock1", "auth", wrong, NULL, 0), PAM_AUTH_ERR);
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "locked until"));
	/* the right code is refused while locked */
	CU_ASSERT_EQUAL(run_pam("ward-test", "lock1", "auth", code, NULL, 0), PAM_MAXTRIES);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "locked until"));
	out = tu_run("true", 0, &st);
	free(out);
	{
		char cmd[2400];
		snprintf(cmd, sizeof(cmd), "'%s' --config '%s' status lock1 --json", wardctl, conf);
		out = tu_run(cmd, 0, &st);
		CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "\"locked\":true"));
		CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "\"failures\":3"));
		free(out);
	}
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock lock1", wardctl, conf), 0);
	CU_ASSERT_EQUAL(run_pam("ward-test", "lock1", "auth", code, NULL, 0), PAM_SUCCESS);
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("user lock1 service ward-test: wrong code; account now locked"));
}

/* Recovery codes from a fresh set made by wardctl recovery-codes --json. */
static void
test_recovery_code_single_use(void)
{
	char cmd[2400], rcode[32], code[16], *out, *p;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' --config '%s' recovery-codes rec1 --json", wardctl, conf);
	out = tu_run(cmd, 0, &st);
	CU_ASSERT_EQUAL_FATAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p = strstr(out, "\"recovery_codes\":[\""));
	p += strlen("\"recovery_codes\":[\"");
	snprintf(rcode, sizeof(rcode), "%.*s", (int)strcspn(p, "\""), p);
	free(out);
	CU_ASSERT_EQUAL(strlen(rcode), 14);
	CU_ASSERT_EQUAL(run_pam("ward-test", "rec1", "auth", rcode, NULL, 0), PAM_SUCCESS);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "Recovery code accepted; 3 left"));
	CU_ASSERT_EQUAL(run_pam("ward-test", "rec1", "auth", rcode, NULL, 0), PAM_AUTH_ERR);
	/* a new set voids the old codes */
	out = tu_run(cmd, 0, &st);
	free(out);
	CU_ASSERT_EQUAL(st, 0);
	/* upper case with spaces is the same code (typed from paper) */
	snprintf(cmd, sizeof(cmd), "'%s' --config '%s' recovery-codes rec1 --json", wardctl, conf);
	out = tu_run(cmd, 0, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p = strstr(out, "\"recovery_codes\":[\""));
	p += strlen("\"recovery_codes\":[\"");
	snprintf(rcode, sizeof(rcode), "%.*s", (int)strcspn(p, "\""), p);
	free(out);
	for (char *q = rcode; *q; q++)
		*q = *q == '-' ? ' ' : (*q >= 'a' && *q <= 'z') ? (char)(*q - 32) : *q;
	CU_ASSERT_EQUAL(run_pam("ward-test", "rec1", "auth", rcode, NULL, 0), PAM_SUCCESS);
	/* TOTP still works alongside */
	fresh_step();
	code_at("rec1", 0, code);
	CU_ASSERT_EQUAL(run_pam("ward-test", "rec1", "auth", code, NULL, 0), PAM_SUCCESS);
}

static void
test_unenrolled_and_unknown_look_alike(void)
{
	char t_dave[8192], t_zed[8192], t_bad[8192];
	int r1, r2, r3;

	r1 = run_pam("ward-test", "dave", "auth", "123456", NULL, 0);
	snprintf(t_dave, sizeof(t_dave), "%s", pt_transcript);
	r2 = run_pam("ward-test", "zed", "auth", "123456", NULL, 0);
	snprintf(t_zed, sizeof(t_zed), "%s", pt_transcript);
	r3 = run_pam("ward-test", "bad\nname", "auth", "123456", NULL, 0);
	snprintf(t_bad, sizeof(t_bad), "%s", pt_transcript);
	CU_ASSERT_EQUAL(r1, PAM_AUTH_ERR);
	CU_ASSERT_EQUAL(r2, PAM_AUTH_ERR);
	CU_ASSERT_EQUAL(r3, PAM_AUTH_ERR);
	CU_ASSERT_STRING_EQUAL(t_dave, t_zed);
	CU_ASSERT_STRING_EQUAL(t_dave, t_bad);
	CU_ASSERT_PTR_NOT_NULL(strstr(t_dave, "prompt: Verification code: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(t_dave, "not enrolled"));
	CU_ASSERT_PTR_NOT_NULL(strstr(t_dave, "Contact IT"));
	/* an enrolled user sees the same prompt first */
	run_pam("ward-test", "alice", "auth", "123456", NULL, 0);
	CU_ASSERT_EQUAL(strncmp(pt_transcript, "prompt: Verification code: \n", 28), 0);
	CU_ASSERT_EQUAL(strncmp(t_dave, "prompt: Verification code: \n", 28), 0);
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock alice", wardctl, conf), 0);
}

static void
test_account_and_no_mfa(void)
{
	char code[16];

	/* carol's rule needs no second factor: no prompt */
	CU_ASSERT_EQUAL(run_pam("ward-test", "carol", "auth,acct", "x", NULL, 0), PAM_SUCCESS);
	CU_ASSERT_EQUAL(pt_nprompts, 0);
	/* erin may authenticate (enrolled) but the account phase denies with the reason */
	fresh_step();
	code_at("erin", 0, code);
	CU_ASSERT_EQUAL(run_pam("ward-test", "erin", "auth,acct", code, NULL, 0), PAM_PERM_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "error: Access denied: "));
	/* no session for a denied user */
	CU_ASSERT_EQUAL(run_pam("ward-test", "erin", "open", "", NULL, 0), PAM_SESSION_ERR);
}

static void
test_grace(void)
{
	char code[16];

	fresh_step();
	code_at("grace1", 0, code);
	CU_ASSERT_EQUAL(run_pam("ward-grace", "grace1", "auth", code, NULL, 0), PAM_SUCCESS);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
	/* within mfa_grace on this workstation and app: no prompt */
	CU_ASSERT_EQUAL(run_pam("ward-grace", "grace1", "auth", "", NULL, 0), PAM_SUCCESS);
	CU_ASSERT_EQUAL(pt_nprompts, 0);
	/* another app: asks again */
	CU_ASSERT_EQUAL(run_pam("ward-grace2", "grace1", "auth", "", NULL, 0), PAM_AUTH_ERR);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
	/* the ehr rule has no grace: asks */
	CU_ASSERT_EQUAL(run_pam("ward-test", "grace1", "auth", "", NULL, 0), PAM_AUTH_ERR);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
	/* two refused answers so far; a third would lock grace1 out, which ends
	 * the grace (test_grace_ends_at_lockout) */
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock grace1", wardctl, conf), 0);
	/* the policy's grace now, not the one in force at the verification: an
	 * edit down to 1 s ends the grace at once */
	{
		char pol[1200], *shorter = strdup(policy_text), *at;

		snprintf(pol, sizeof(pol), "%s/etc/policy.conf", root);
		CU_ASSERT_PTR_NOT_NULL_FATAL(shorter);
		at = strstr(shorter, "mfa_grace = 300");
		CU_ASSERT_PTR_NOT_NULL_FATAL(at);
		memcpy(at, "mfa_grace = 1  ", 15);
		usleep(1200000);
		CU_ASSERT_EQUAL(tu_write(pol, shorter, (size_t)-1, 0644), 0);
		CU_ASSERT_EQUAL(run_pam("ward-grace", "grace1", "auth", "", NULL, 0), PAM_AUTH_ERR);
		CU_ASSERT_EQUAL(pt_nprompts, 1);
		usleep(20000);
		CU_ASSERT_EQUAL(tu_write(pol, policy_text, (size_t)-1, 0644), 0);
		/* back to 300 s: the same verification counts again */
		CU_ASSERT_EQUAL(run_pam("ward-grace", "grace1", "auth", "", NULL, 0), PAM_SUCCESS);
		CU_ASSERT_EQUAL(pt_nprompts, 0);
		free(shorter);
	}
	/* reset drops the grace with the enrolment */
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' reset grace1", wardctl, conf), 0);
	CU_ASSERT_EQUAL(run_pam("ward-grace", "grace1", "auth", "", NULL, 0), PAM_AUTH_ERR);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' enroll grace1 --secret %s --qr none", wardctl,
	    conf, b32_of("grace1")), 0);
}

/* A lockout ends the grace: wrong codes at one service lock the user out,
 * and a workstation where a grace was running asks again and refuses,
 * recording why; after IT unlocks, the grace does not come back. */
static void
test_grace_ends_at_lockout(void)
{
	char code[16], log[700], wrong[8];

	snprintf(log, sizeof(log), "%s/log/audit.log", root);
	fresh_step();
	code_at("grace1", 0, code);
	snprintf(wrong, sizeof(wrong), "%s", strcmp(code, "111111") == 0 ? "222222" : "111111");
	CU_ASSERT_EQUAL(run_pam("ward-grace", "grace1", "auth", code, NULL, 0), PAM_SUCCESS);
	CU_ASSERT_EQUAL(run_pam("ward-grace", "grace1", "auth", "", NULL, 0), PAM_SUCCESS);
	CU_ASSERT_EQUAL(pt_nprompts, 0);
	/* max_failures = 3, at another app */
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(run_pam("ward-grace2", "grace1", "auth", wrong, NULL, 0),
		    PAM_AUTH_ERR);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "locked until"));
	/* the grace no longer lets the user in: the prompt, then the lock */
	CU_ASSERT_EQUAL(run_pam("ward-grace", "grace1", "auth", wrong, NULL, 0), PAM_MAXTRIES);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "locked until"));
	CU_ASSERT_EQUAL(tu_count_lines(log, "\"user\":\"grace1\"", "\"service\":\"ward-grace\"",
	    "\"event\":\"auth\"", "\"result\":\"failure\"", "\"reason\":\"locked\"", NULL), 1);
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("user grace1 service ward-grace: locked out; no grace "
		    "while locked"));
	/* unlocked by IT: a code again, not the old grace */
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock grace1", wardctl, conf), 0);
	CU_ASSERT_EQUAL(run_pam("ward-grace", "grace1", "auth", "", NULL, 0), PAM_AUTH_ERR);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
}

static void
test_options(void)
{
	/* use_first_pass with no earlier token: denied without a prompt */
	CU_ASSERT_EQUAL(run_pam("ward-first", "alice", "auth", "123456", NULL, 0), PAM_AUTH_ERR);
	CU_ASSERT_EQUAL(pt_nprompts, 0);
	/* try_first_pass with no token falls back to the prompt */
	run_pam("ward-tryfirst", "alice", "auth", "123456", NULL, 0);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
	/* an unknown option is an error, never ignored */
	CU_ASSERT_EQUAL(run_pam("ward-badopt", "alice", "auth", "123456", NULL, 0),
	    PAM_SERVICE_ERR);
	CU_ASSERT_EQUAL(pt_nprompts, 0);
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("unknown option 'no_such_option'"));
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock alice", wardctl, conf), 0);
}

/*
 * Unsafe files.  wardd checks ward.conf, the policy and the store when it
 * loads them: one made unsafe later is refused at the next load (the one
 * in force, checked when it was safe, keeps deciding, and the log says
 * why), and a wardd that starts on it does not start, so every login fails
 * closed.  Keys are read when used: an unsafe key fails the login at once.
 */
static void
test_unsafe_files_fail_closed(void)
{
	char code[16], pol[1200];

	snprintf(pol, sizeof(pol), "%s/etc/policy.conf", root);
	fresh_step();
	code_at("unsafe1", 0, code);
	CU_ASSERT_EQUAL(chmod(conf, 0666), 0);
	/* the ward.conf in force keeps deciding (carol needs no code) */
	CU_ASSERT_EQUAL(run_pam("ward-test", "carol", "auth,acct", "", NULL, 0), PAM_SUCCESS);
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("ward.conf: writable by group or others (mode 0666, refused)"));
	/* restarted on it: no wardd, every login refused, the user told */
	CU_ASSERT_EQUAL(kill(dpid, SIGHUP), 0);
	(void)tu_wardd_stop(dpid);
	dpid = tu_wardd_start(NULL, conf, sock, NULL);
	CU_ASSERT_EQUAL(dpid, -1);
	CU_ASSERT_EQUAL(run_pam("ward-test", "unsafe1", "auth", code, NULL, 0), PAM_AUTHINFO_UNAVAIL);
	CU_ASSERT_EQUAL(pt_nprompts, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "error: Two-step verification is "
	    "unavailable on this workstation. Contact IT."));
	CU_ASSERT_EQUAL(run_pam("ward-test", "unsafe1", "acct", code, NULL, 0), PAM_AUTHINFO_UNAVAIL);
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("/run/wardd.sock: cannot connect"));
	CU_ASSERT_EQUAL(chmod(conf, 0644), 0);
	CU_ASSERT_EQUAL(chmod(pol, 0664), 0);
	CU_ASSERT_EQUAL(tu_wardd_start(NULL, conf, sock, NULL), -1);
	CU_ASSERT_EQUAL(run_pam("ward-test", "unsafe1", "auth", code, NULL, 0), PAM_AUTHINFO_UNAVAIL);
	CU_ASSERT_EQUAL(chmod(pol, 0644), 0);
	dpid = tu_wardd_start(NULL, conf, sock, NULL);
	CU_ASSERT_FATAL(dpid > 0);
	/* a key made unsafe: refused once wardd loads it again (SIGHUP) */
	CU_ASSERT_EQUAL(chmod(keyfile, 0640), 0);
	CU_ASSERT_EQUAL(kill(dpid, SIGHUP), 0);
	usleep(200000);
	CU_ASSERT_EQUAL(run_pam("ward-test", "unsafe1", "auth", code, NULL, 0), PAM_AUTHINFO_UNAVAIL);
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("master.key: open to group or others (mode 0640"));
	CU_ASSERT_EQUAL(chmod(keyfile, 0600), 0);
	/* an unsafe store: refused when wardd opens it again (SIGHUP) */
	CU_ASSERT_EQUAL(chmod(statedir, 0755), 0);
	CU_ASSERT_EQUAL(kill(dpid, SIGHUP), 0);
	usleep(200000);
	CU_ASSERT_EQUAL(run_pam("ward-test", "unsafe1", "auth", code, NULL, 0), PAM_AUTHINFO_UNAVAIL);
	CU_ASSERT_EQUAL(chmod(statedir, 0700), 0);
	/* all fixed: the same code works (no failure was counted) */
	CU_ASSERT_EQUAL(run_pam("ward-test", "unsafe1", "auth", code, NULL, 0), PAM_SUCCESS);
}

static void
test_corrupt_record_fails_closed(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 10, (void *)"u:corrupt1" }, v = { 9, (void *)"WU\x01garbag" };
	char code[16];

	CU_ASSERT_EQUAL_FATAL(mdb_env_create(&env), 0);
	mdb_env_set_mapsize(env, (size_t)1 << 30);
	CU_ASSERT_EQUAL_FATAL(mdb_env_open(env, statedir, MDB_NOTLS, 0600), 0);
	CU_ASSERT_EQUAL_FATAL(mdb_txn_begin(env, NULL, 0, &txn), 0);
	CU_ASSERT_EQUAL_FATAL(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	CU_ASSERT_EQUAL(mdb_put(txn, dbi, &k, &v, 0), 0);
	CU_ASSERT_EQUAL(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	fresh_step();
	code_at("corrupt1", 0, code);
	CU_ASSERT_EQUAL(run_pam("ward-test", "corrupt1", "auth", code, NULL, 0),
	    PAM_AUTHINFO_UNAVAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "unavailable"));
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("the record of user 'corrupt1' is corrupt"));
	/* the admin tool says so too, and re-enrolment repairs it */
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' status corrupt1", wardctl, conf), 2);
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' enroll corrupt1 --force --secret %s --qr none",
	    wardctl, conf, b32_of("corrupt1")), 0);
	CU_ASSERT_EQUAL(run_pam("ward-test", "corrupt1", "auth", code, NULL, 0), PAM_SUCCESS);
}

static void
test_sixteen_processes_race_one_code(void)
{
	pid_t pids[16];
	char code[16];
	int wins = 0, losses = 0, other = 0;

	fresh_step();
	code_at("race1", 0, code);
	for (int i = 0; i < 16; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			int rc = run_pam("ward-test", "race1", "auth", code, NULL, 0);
			/* the losers see a replay, which counts toward no lockout
			 * (15 of them with max_failures = 3) */
			_exit(rc == PAM_SUCCESS ? 0 : rc == PAM_AUTH_ERR ? 1 : 2);
		}
	}
	for (int i = 0; i < 16; i++) {
		int status;
		if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status)) {
			wins += WEXITSTATUS(status) == 0;
			losses += WEXITSTATUS(status) == 1;
			other += WEXITSTATUS(status) > 1;
		}
	}
	CU_ASSERT_EQUAL(wins, 1);
	CU_ASSERT_EQUAL(losses, 15);
	CU_ASSERT_EQUAL(other, 0);
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock race1", wardctl, conf), 0);
}

/* As nobody (a screen locker), through wardd: its own code works once;
 * another user's login is refused before any question; no session. */
static void
test_unprivileged_caller(void)
{
	struct passwd *pw = getpwnam("nobody");
	char code[16], bgcode[16];
	pid_t pid;
	int status;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pw);
	fresh_step();
	code_at("nobody", 0, code);
	code_at("nobody", 30, bgcode);     /* the next step's: window = 1 */
	pid = fork();
	if (pid == 0) {
		char acode[16];
		int fails = 0;

		if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
			_exit(90);
		if (geteuid() == 0)
			_exit(91);
		/* auth and account: wardd decides, verifies and records */
		if (run_pam("ward-test", "nobody", "auth,acct", code, NULL, 0) != PAM_SUCCESS)
			fails |= 1;
		/* a session needs root: refused, never skipped */
		if (run_pam("ward-test", "nobody", "open", code, NULL, 0) != PAM_SESSION_ERR)
			fails |= 8;
		if (run_pam("ward-test", "nobody", "auth", code, NULL, 0) != PAM_AUTH_ERR ||
		    strstr(pt_transcript, "already used") == NULL)
			fails |= 2;
		/* alice's login, asked by nobody: refused, nothing asked */
		snprintf(acode, sizeof(acode), "%s", "000000");
		if (run_pam("ward-test", "alice", "auth", acode, NULL, 0) != PAM_AUTH_ERR ||
		    pt_nprompts != 0)
			fails |= 4;
		/* break-glass for a screen locker: wardd offers, asks the reason
		 * and the code, grants and records */
		{
			const char *ans[2] = { "Code blue in theatre two, need the list", bgcode };

			pt_answers(ans, 2);
			if (pt_run(pamd, "ward-bg", "nobody", "acct", NULL, 0) != PAM_SUCCESS ||
			    strstr(pt_transcript, "Emergency access granted") == NULL)
				fails |= 16;
		}
		_exit(fails);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
	{
		char log[1200];

		snprintf(log, sizeof(log), "%s/log/audit.log", root);
		CU_ASSERT_EQUAL(tu_count_lines(log, "\"user\":\"nobody\"", "\"event\":\"breakglass\"",
		    "\"result\":\"granted\"", NULL), 1);
	}
	if (have_log) {
		CU_ASSERT_TRUE(logcap_has("asked for another user's login: refused"));
		CU_ASSERT_TRUE(logcap_has("asked for a session phase (root only): refused"));
	}
}

/* The TOTP secrets appear in clear nowhere: not in the store files, the
 * captured log, or anything wardctl status prints. */
/* Does TEXT hold CODE as a token of its own (no hex digit either side)? */
static int
has_code(const char *text, const char *code)
{
	size_t n = strlen(code);

	for (const char *p = strstr(text, code); p != NULL; p = strstr(p + 1, code))
		if ((p == text || !isxdigit((unsigned char)p[-1])) && !isxdigit((unsigned char)p[n]))
			return 1;
	return 0;
}

static void
test_secret_nowhere_in_clear(void)
{
	char path[1200], cmd[2400];
	char *data, *out;
	size_t len;
	int st;

	snprintf(path, sizeof(path), "%s/data.mdb", statedir);
	data = tu_read(path, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(data);
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		unsigned char *raw;
		size_t rlen;
		char dcmd[256];

		snprintf(dcmd, sizeof(dcmd), "echo %s | base32 -d | xxd -p | tr -d '\\n'",
		    users[i].b32);
		out = tu_run(dcmd, 0, &st);
		CU_ASSERT_EQUAL_FATAL(st, 0);
		rlen = strlen(out) / 2;
		raw = malloc(rlen);
		for (size_t j = 0; j < rlen; j++)
			sscanf(out + 2 * j, "%2hhx", &raw[j]);
		free(out);
		CU_ASSERT_FALSE(tu_contains(data, len, raw, rlen));
		CU_ASSERT_FALSE(tu_contains(data, len, users[i].b32, strlen(users[i].b32)));
		if (have_log) {
			const char *lt = logcap_text(&len);
			size_t ll = strlen(lt);
			CU_ASSERT_FALSE(tu_contains(lt, ll, users[i].b32, strlen(users[i].b32)));
			CU_ASSERT_FALSE(tu_contains(lt, ll, raw, rlen));
		}
		snprintf(cmd, sizeof(cmd), "'%s' --config '%s' status %s --json", wardctl, conf,
		    users[i].user);
		out = tu_run(cmd, 1, &st);
		CU_ASSERT_FALSE(out && strstr(out, users[i].b32));
		free(out);
		free(raw);
		snprintf(path, sizeof(path), "%s/data.mdb", statedir);
		free(data);
		data = tu_read(path, &len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(data);
	}
	free(data);
	/* no code typed in any test reached the log (as a code: not inside a
	 * longer run of hex digits, such as the first record's "prev" of 64
	 * zeros, which any audit chain's start forwards to syslog) */
	if (have_log) {
		const char *lt = logcap_text(NULL);
		CU_ASSERT_FALSE(has_code(lt, "123456"));
		CU_ASSERT_FALSE(has_code(lt, "000000"));
	}
}

int
main(void)
{
	unsigned fails;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("pam auth", setup, teardown);
	CU_add_test(s, "valid code, replay, wrong and malformed codes", test_valid_code_then_replay);
	CU_add_test(s, "window edges (oathtool codes)", test_window_edges);
	CU_add_test(s, "lockout and unlock", test_lockout_and_unlock);
	CU_add_test(s, "recovery code single use", test_recovery_code_single_use);
	CU_add_test(s, "unenrolled and unknown users look alike", test_unenrolled_and_unknown_look_alike);
	CU_add_test(s, "account decision, no-MFA rule", test_account_and_no_mfa);
	CU_add_test(s, "grace per user, workstation and app", test_grace);
	CU_add_test(s, "a lockout ends the grace", test_grace_ends_at_lockout);
	CU_add_test(s, "module options", test_options);
	CU_add_test(s, "unsafe config, policy, key, store fail closed", test_unsafe_files_fail_closed);
	CU_add_test(s, "corrupt store record fails closed", test_corrupt_record_fails_closed);
	CU_add_test(s, "16 processes race one code", test_sixteen_processes_race_one_code);
	CU_add_test(s, "unprivileged caller (a screen locker) through wardd",
	    test_unprivileged_caller);
	CU_add_test(s, "secret in clear nowhere", test_secret_nowhere_in_clear);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
