/*
 * test_pam_account.c - the account and session phases of pam_ward.so
 * through real libpam (pam_start_confdir): allow and deny with the reason
 * shown, break-glass refused and granted (with its session limit and its
 * audit record), the session environment, one load per transaction, an
 * audit log that cannot be written denying, a session opened on another
 * handle (sshd) with the token carried in the PAM environment, and
 * show_messages under PAM_SILENT (sudo).
 */
#include <CUnit/Basic.h>
#include <security/pam_appl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "logcap.h"
#include "pamtest.h"
#include "testutil.h"

static char root[512], conf[600], badconf[600], pamd[600], module[600], wardctl[600];
static char sock[600], badsock[600];
static pid_t dpid = -1, badpid = -1;
static char auditlog[600];
static int have_log;

static const struct {
	const char *user, *b32;
} users[] = {
	{ "alice", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" },
	{ "bob1",  "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" },
	{ "bob2",  "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U" },
	{ "bob3",  "ON2HE2LOM4QHI2DFEBZWKY3SMV2CA3TP" },
	{ "bob4",  "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA" },
	{ "bob5",  "NJ2W24DTEBXXMZLSEB2GQZJANRQXU6JA" },
	{ "carol", "MRXWOIDBNZSCAYLHMFUW4IDUNBSSA5DF" },
	{ "dina",  "OBUGC4TNMFRXS4DSN5TGKZ3TN5ZHIYLM" },
	{ "fay",   "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJR" },
	{ "ed",    "MFZWIZTHNJVWY3LONZXXA4LSON2HK5TX" },
	{ "gus",   "EBGIMC7GBDN5Z2JQAY7C4KG2OIQLUNNI" },
	{ "hal",   "DR5UAWZ27536YK4V6PHBY4Y52WXNHKPI" },
};

static const char policy_text[] =
    "roles = { clinician = { };\n"
    "          nurse = { inherits = [\"clinician\"]; permissions = [\"ehr:read\"]; };\n"
    "          physician = { inherits = [\"clinician\"]; permissions = [\"ehr:*\"]; };\n"
    "          clerk = { }; };\n"
    "users = ( { user = \"alice\"; roles = [\"nurse\"]; },\n"
    "  { user = \"bob1\"; roles = [\"physician\"]; }, { user = \"bob2\"; roles = [\"physician\"]; },\n"
    "  { user = \"bob3\"; roles = [\"physician\"]; }, { user = \"bob4\"; roles = [\"physician\"]; },\n"
    "  { user = \"bob5\"; roles = [\"physician\"]; }, { user = \"carol\"; roles = [\"clerk\"]; },\n"
    "  { user = \"dina\"; roles = [\"nurse\"]; }, { user = \"fay\"; roles = [\"nurse\"]; },\n"
    "  { user = \"ed\"; roles = [\"physician\"]; }, { user = \"gus\"; roles = [\"physician\"]; },\n"
    "  { user = \"hal\"; roles = [\"nurse\"]; } );\n"
    "apps = { ehr = [\"acct-ehr\", \"acct-try\"];\n"
    "  pharmacy = [\"acct-rx\", \"acct-loud\"]; };\n"
    "rules = (\n"
    "  { id = \"nurses-ehr\"; effect = \"allow\"; roles = [\"nurse\"]; apps = [\"ehr\"];\n"
    "    mfa = \"required\"; idle_logoff = 600; session_max = 43200; },\n"
    "  { id = \"no-rx-for-nurses\"; effect = \"deny\"; roles = [\"nurse\"]; apps = [\"pharmacy\"];\n"
    "    reason = \"Nurses dispense through the pharmacy desk\"; break_glass = false; } );\n"
    "break_glass = { roles = [\"clinician\"]; apps = [\"ehr\", \"pharmacy\"]; hosts = [\"*\"];\n"
    "                max_minutes = 60; min_reason_chars = 10; mfa = \"required\"; };\n";

/* ---- PAM ---- */

/* Run PHASES as USER on SERVICE with the answers given (NULL-terminated),
 * one per prompt in order, then "".  Returns the first failing rc or
 * PAM_SUCCESS; ENV gets WARD_* lines. */
static int
run_pam(const char *service, const char *user, const char *phases, char *env,
    size_t envlen, ...)
{
	const char *answers[4], *a;
	size_t nanswers = 0;
	va_list ap;

	va_start(ap, envlen);
	while ((a = va_arg(ap, const char *)) != NULL && nanswers < 4)
		answers[nanswers++] = a;
	va_end(ap);
	pt_answers(answers, nanswers);
	return pt_run(pamd, service, user, phases, env, envlen);
}

static const char *
b32_of(const char *user)
{
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (strcmp(users[i].user, user) == 0)
			return users[i].b32;
	return NULL;
}

/* USER's code now, from oathtool (an independent generator). */
static void
code_now(const char *user, char out[16])
{
	tu_totp_wait(26);	/* keep clear of a step's end */
	CU_ASSERT_EQUAL_FATAL(tu_totp(b32_of(user), 0, out), 0);
}

/* The audit log's text (NUL-terminated; caller frees). */
static char *
audit_text(void)
{
	char *t = tu_read(auditlog, NULL);
	return t != NULL ? t : strdup("");
}

/* Number of lines of the audit log holding every NEEDLE (NULL-terminated). */
#define audit_count(...) tu_count_lines(auditlog, __VA_ARGS__)

static int
setup(void)
{
	char path[1200], text[4096];

	snprintf(root, sizeof(root), "%s/tests/pam-account", tu_build());
	snprintf(conf, sizeof(conf), "%s/ward.conf", root);
	snprintf(badconf, sizeof(badconf), "%s/ward-noaudit.conf", root);
	snprintf(sock, sizeof(sock), "%s/run/wardd.sock", root);
	snprintf(badsock, sizeof(badsock), "%s/run/noaudit.sock", root);
	snprintf(pamd, sizeof(pamd), "%s/pam.d", root);
	snprintf(auditlog, sizeof(auditlog), "%s/log/audit.log", root);
	snprintf(module, sizeof(module), "%s/pam_ward.so", tu_build());
	snprintf(wardctl, sizeof(wardctl), "%s/wardctl", tu_build());
	if (tu_sh("rm -rf '%s' && mkdir -p '%s/etc' '%s' && chmod 0755 '%s' '%s/etc' '%s'",
	    root, root, pamd, root, root, pamd) != 0)
		return 1;
	snprintf(text, sizeof(text),
	    "policy_file = \"%s/etc/policy.conf\";\nstate_dir = \"%s/state\";\n"
	    "secrets = { key_file = \"%s/etc/master.key\"; };\n"
	    "audit = { path = \"%s\"; key_file = \"%s/etc/audit.key\"; fsync = false; };\n",
	    root, root, root, auditlog, root);
	if (tu_write(conf, text, (size_t)-1, 0644) != 0)
		return 1;
	/* the same, with an audit log in a folder that does not exist */
	snprintf(text, sizeof(text),
	    "policy_file = \"%s/etc/policy.conf\";\nstate_dir = \"%s/state\";\n"
	    "secrets = { key_file = \"%s/etc/master.key\"; };\n"
	    "audit = { path = \"%s/no-such-folder/audit.log\"; key_file = \"%s/etc/audit.key\"; };\n",
	    root, root, root, root, root);
	if (tu_write(badconf, text, (size_t)-1, 0644) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/etc/policy.conf", root);
	if (tu_write(path, policy_text, (size_t)-1, 0644) != 0)
		return 1;
	if (pt_write_service(pamd, "acct-ehr", module, sock, NULL) ||
	    pt_write_service(pamd, "acct-rx", module, sock, NULL) ||
	    pt_write_service(pamd, "acct-noaudit", module, badsock, NULL))
		return 1;
	snprintf(path, sizeof(path), "%s/acct-try", pamd);
	/* pam_unix first: it asks for the password and leaves it in PAM_AUTHTOK
	 * (and fails: these users are not in /etc/passwd) */
	snprintf(text, sizeof(text), "auth optional /lib/x86_64-linux-gnu/security/pam_unix.so\n"
	    "auth required %s socket=%s try_first_pass\n"
	    "account required %s socket=%s\n", module, sock, module, sock);
	if (tu_write(path, text, (size_t)-1, 0644) != 0)
		return 1;
	/* show_messages: Ward's lines under PAM_SILENT too (sudo) */
	snprintf(path, sizeof(path), "%s/acct-loud", pamd);
	snprintf(text, sizeof(text), "auth required %s socket=%s show_messages\n"
	    "account required %s socket=%s show_messages\n", module, sock, module, sock);
	if (tu_write(path, text, (size_t)-1, 0644) != 0)
		return 1;
	if (tu_sh("'%s' --config '%s' init", wardctl, conf) != 0)
		return 1;
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (tu_sh("'%s' --config '%s' enroll %s --secret %s --qr none", wardctl, conf,
		    users[i].user, users[i].b32) != 0)
			return 1;
	/* the log capture first: the daemons' syslog lines come to it */
	have_log = logcap_begin();
	dpid = tu_wardd_start(NULL, conf, sock, NULL);
	badpid = tu_wardd_start(NULL, badconf, badsock, NULL);
	return dpid > 0 && badpid > 0 ? 0 : 1;
}

static int
teardown(void)
{
	(void)tu_wardd_stop(dpid);
	(void)tu_wardd_stop(badpid);
	dpid = badpid = -1;
	logcap_stop();
	return 0;
}

/* ---- tests ---- */

static void
test_allow_with_session_env(void)
{
	char code[16], env[1024];

	code_now("alice", code);
	CU_ASSERT_EQUAL(run_pam("acct-ehr", "alice", "auth,acct,open,close", env, sizeof(env),
	    code, NULL), PAM_SUCCESS);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(env, "WARD_ROLES=clinician,nurse\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(env, "WARD_IDLE_LOGOFF=600\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(env, "WARD_SESSION_MAX=43200\n"));
	CU_ASSERT_PTR_NULL(strstr(env, "WARD_BREAK_GLASS"));
	CU_ASSERT_EQUAL(audit_count("\"user\":\"alice\"", "\"event\":\"auth\"",
	    "\"result\":\"success\"", "\"factor\":\"totp\"", NULL), 1);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"alice\"", "\"event\":\"account\"",
	    "\"result\":\"allow\"", "\"rule\":\"nurses-ehr\"", NULL), 1);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"alice\"", "\"event\":\"session_open\"", NULL), 1);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"alice\"", "\"event\":\"session_close\"", NULL), 1);
}

static void
test_deny_shows_reason_no_break_glass(void)
{
	char code[16];

	/* a deny rule with break_glass = false: the reason, and no offer */
	CU_ASSERT_EQUAL(run_pam("acct-rx", "alice", "acct", NULL, 0, "should not be asked",
	    NULL), PAM_PERM_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript,
	    "error: Access denied: Nurses dispense through the pharmacy desk"));
	CU_ASSERT_EQUAL(pt_nprompts, 0);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"alice\"", "\"event\":\"account\"",
	    "\"result\":\"deny\"", "\"rule\":\"no-rx-for-nurses\"", NULL), 1);
	/* a clerk is no clinician: default deny, no offer */
	code_now("carol", code);
	CU_ASSERT_EQUAL(run_pam("acct-ehr", "carol", "auth,acct", NULL, 0, code,
	    "Cardiac arrest, need the chart", NULL), PAM_PERM_DENIED);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "error: Access denied: "));
	CU_ASSERT_PTR_NULL(strstr(pt_transcript, "EMERGENCY"));
	CU_ASSERT_EQUAL(audit_count("\"event\":\"breakglass\"", "\"user\":\"carol\"", NULL), 0);
}

static void
test_break_glass_refused(void)
{
	char code[16];

	/* too short a reason */
	code_now("bob1", code);
	CU_ASSERT_EQUAL(run_pam("acct-ehr", "bob1", "auth,acct", NULL, 0, code, "help me",
	    NULL), PAM_PERM_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "prompt(echo): EMERGENCY ACCESS"));
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "recorded and reviewed"));
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "Emergency access refused"));
	CU_ASSERT_EQUAL(audit_count("\"user\":\"bob1\"", "\"event\":\"breakglass\"",
	    "\"result\":\"refused\"", NULL), 1);
	/* an empty answer declines: denied, nothing granted */
	CU_ASSERT_EQUAL(run_pam("acct-ehr", "bob1", "acct", NULL, 0, "   ", NULL),
	    PAM_PERM_DENIED);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
	/* a good reason but a wrong code (no code in this transaction yet) */
	CU_ASSERT_EQUAL(run_pam("acct-ehr", "bob2", "acct", NULL, 0,
	    "Cardiac arrest in bay 4, need the chart", "000000", NULL), PAM_PERM_DENIED);
	CU_ASSERT_EQUAL(pt_nprompts, 2);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"bob2\"", "\"event\":\"breakglass\"",
	    "\"result\":\"refused\"", NULL), 1);
	CU_ASSERT_EQUAL(audit_count("\"event\":\"breakglass\"", "\"result\":\"granted\"",
	    NULL), 0);
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock bob2", wardctl, conf), 0);
}

static void
test_break_glass_granted(void)
{
	char code[16], env[1024];

	code_now("bob3", code);
	CU_ASSERT_EQUAL(run_pam("acct-ehr", "bob3", "auth,acct,open", env, sizeof(env), code,
	    "  Cardiac arrest in bay 4, need the chart  ", NULL), PAM_SUCCESS);
	CU_ASSERT_EQUAL(pt_nprompts, 2);	/* the code once, then the reason */
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "Emergency access granted for 60 minutes"));
	CU_ASSERT_PTR_NOT_NULL(strstr(env, "WARD_SESSION_MAX=3600\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(env, "WARD_BREAK_GLASS=1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(env, "WARD_ROLES=clinician,physician\n"));
	CU_ASSERT_EQUAL(audit_count("\"user\":\"bob3\"", "\"event\":\"breakglass\"",
	    "\"result\":\"granted\"", "\"reason\":\"Cardiac arrest in bay 4, need the chart\"",
	    "session_max=3600",
	    NULL), 1);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"bob3\"", "\"event\":\"session_open\"",
	    "session_max=3600", NULL), 1);
	if (have_log)
		CU_ASSERT_PTR_NOT_NULL(strstr(logcap_text(NULL), "BREAK-GLASS: user bob3"));
	/* account alone asks for the code after the reason */
	code_now("bob4", code);
	CU_ASSERT_EQUAL(run_pam("acct-ehr", "bob4", "acct", NULL, 0,
	    "Stroke alert, thrombolysis decision", code, NULL), PAM_SUCCESS);
	CU_ASSERT_EQUAL(pt_nprompts, 2);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"bob4\"", "\"event\":\"breakglass\"",
	    "\"result\":\"granted\"", NULL), 1);
}

static void
test_audit_unwritable_denies(void)
{
	char code[16];

	code_now("bob5", code);
	CU_ASSERT_NOT_EQUAL(run_pam("acct-noaudit", "bob5", "auth", NULL, 0, code, NULL),
	    PAM_SUCCESS);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "cannot be recorded"));
	CU_ASSERT_NOT_EQUAL(run_pam("acct-noaudit", "alice", "acct", NULL, 0, NULL),
	    PAM_SUCCESS);
	if (have_log)
		CU_ASSERT_PTR_NOT_NULL(strstr(logcap_text(NULL), "not written"));
}

/* An allow that needs a code gets one even when the stack's auth phase did
 * not run pam_ward (sshd with a public key): account asks for it. */
static void
test_account_asks_code_without_auth(void)
{
	char code[16];

	CU_ASSERT_EQUAL(run_pam("acct-ehr", "dina", "acct", NULL, 0, "000000", NULL),
	    PAM_PERM_DENIED);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "prompt: Verification code: "));
	CU_ASSERT_EQUAL(audit_count("\"user\":\"dina\"", "\"event\":\"account\"",
	    "\"result\":\"allow\"", NULL), 0);
	code_now("dina", code);
	CU_ASSERT_EQUAL(run_pam("acct-ehr", "dina", "acct", NULL, 0, code, NULL), PAM_SUCCESS);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"dina\"", "\"event\":\"auth\"",
	    "\"result\":\"success\"", "\"factor\":\"totp\"", NULL), 1);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"dina\"", "\"event\":\"account\"",
	    "\"result\":\"allow\"", "\"factor\":\"totp\"", NULL), 1);
}

/* try_first_pass: the password an earlier module left in PAM_AUTHTOK is
 * not spent as a wrong code (no failure counted); the code is asked. */
static void
test_try_first_pass_keeps_password(void)
{
	struct pam_conv c = { pt_conv, NULL };
	pam_handle_t *h = NULL;
	char code[16];
	/* pam_unix's password, then the code */
	const char *answers[2] = { "correct horse battery", code };
	int rc;

	code_now("fay", code);
	pt_answers(answers, 2);
	CU_ASSERT_EQUAL_FATAL(pam_start_confdir("acct-try", "fay", &c, pamd, &h), PAM_SUCCESS);
	rc = pam_authenticate(h, 0);
	pam_end(h, rc);
	CU_ASSERT_EQUAL(rc, PAM_SUCCESS);
	CU_ASSERT_EQUAL(pt_nprompts, 2);	/* the password, then the code */
	CU_ASSERT_EQUAL(audit_count("\"user\":\"fay\"", "\"result\":\"failure\"", NULL), 0);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"fay\"", "\"event\":\"auth\"", "\"result\":\"success\"",
	    NULL), 1);
}

/* Break-glass reasons: hidden, reordering, control or malformed characters
 * are refused; punctuation and spaces do not count; a refused reason is not
 * kept (it may be a code typed at the wrong prompt). */
static void
test_break_glass_reason_checks(void)
{
	static const char *const refused[] = {
		"Quokka arrest\xE2\x80\xAE in bay four",      /* right-to-left override */
		"Quokka\xE2\x80\x8B arrest in bay four",       /* zero-width space */
		"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5", /* not UTF-8 */
		"Quokka arrest \xC2\x9B in bay four",           /* C1 control (CSI) */
		"Quokka arrest\tin bay four",                     /* tab: a control */
		"!!!!!!!!!!!! ............ ----",                   /* no letters */
		"\xC2\xA0\xC2\xA0  ab  \xE3\x80\x80",                /* blank but for two */
		"428913",                                           /* a code, mistyped */
	};
	char *log;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		CU_ASSERT_EQUAL(run_pam("acct-ehr", "ed", "acct", NULL, 0, refused[i], NULL),
		    PAM_PERM_DENIED);
		CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "Emergency access refused"));
		CU_ASSERT_EQUAL(pt_nprompts, 1);	/* no code asked after a refused reason */
	}
	CU_ASSERT_EQUAL(audit_count("\"user\":\"ed\"", "\"event\":\"breakglass\"",
	    "\"result\":\"refused\"", NULL), (int)(sizeof(refused) / sizeof(refused[0])));
	CU_ASSERT_EQUAL(audit_count("\"user\":\"ed\"", "\"result\":\"granted\"", NULL), 0);
	log = audit_text();
	CU_ASSERT_PTR_NULL(strstr(log, "428913"));
	CU_ASSERT_PTR_NULL(strstr(log, "Quokka"));
	free(log);
	/* a reason in another script counts its letters */
	{
		char code[16];
		code_now("ed", code);
		CU_ASSERT_EQUAL(run_pam("acct-ehr", "ed", "acct", NULL, 0,
		    "\xD0\x98\xD0\xBD\xD1\x84\xD0\xB0\xD1\x80\xD0\xBA\xD1\x82 \xD0\xB2 "
		    "\xD0\xBF\xD0\xB0\xD0\xBB\xD0\xB0\xD1\x82\xD0\xB5", code, NULL), PAM_SUCCESS);
	}
}

/* wardd compiles the text into the snapshot when it loads it; an edited
 * text wins at the next login, and so does the text put back. */
static void
test_snapshot_compiled_and_edit_wins(void)
{
	char pol[1200], snap[1300], *text, *edited, *at;
	struct stat ss;

	snprintf(pol, sizeof(pol), "%s/etc/policy.conf", root);
	snprintf(snap, sizeof(snap), "%s.snap", pol);
	unlink(snap);
	CU_ASSERT_EQUAL(run_pam("acct-rx", "alice", "acct", NULL, 0, NULL), PAM_PERM_DENIED);
	CU_ASSERT_EQUAL_FATAL(stat(snap, &ss), 0);
	CU_ASSERT_EQUAL(ss.st_uid, 0);
	CU_ASSERT_EQUAL(ss.st_mode & 07777, 0644);
	/* edit the reason: the next login reads the text, not the old snapshot */
	text = tu_read(pol, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	edited = malloc(strlen(text) + 64);
	CU_ASSERT_PTR_NOT_NULL_FATAL(edited);
	at = strstr(text, "Nurses dispense through the pharmacy desk");
	CU_ASSERT_PTR_NOT_NULL_FATAL(at);
	snprintf(edited, strlen(text) + 64, "%.*sPharmacy desk only, please%s", (int)(at - text),
	    text, at + strlen("Nurses dispense through the pharmacy desk"));
	CU_ASSERT_EQUAL_FATAL(tu_write(pol, edited, (size_t)-1, 0644), 0);
	CU_ASSERT_EQUAL(run_pam("acct-rx", "alice", "acct", NULL, 0, NULL), PAM_PERM_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "Access denied: Pharmacy desk only, please"));
	/* and again, now from the new snapshot */
	CU_ASSERT_EQUAL(run_pam("acct-rx", "alice", "acct", NULL, 0, NULL), PAM_PERM_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "Access denied: Pharmacy desk only, please"));
	/* put the text back */
	CU_ASSERT_EQUAL(tu_write(pol, text, (size_t)-1, 0644), 0);
	CU_ASSERT_EQUAL(run_pam("acct-rx", "alice", "acct", NULL, 0, NULL), PAM_PERM_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "Nurses dispense through the pharmacy desk"));
	free(edited);
	free(text);
}

/*
 * A policy put in place with times older than the snapshot's (a restore
 * with cp -p, mv of a file prepared earlier, touch -d, an edit after the
 * clock was stepped back) decides at the next login, and its records carry
 * its version.  The new text, of the same size, gives another reason for
 * alice's denial at the pharmacy.
 */
static void
test_replaced_policy_decides(void)
{
	static const struct {
		const char *how, *cmd;
	} ways[] = {
		/* a backup made before the live text was last written */
		{ "cp -p", "cp -p \"$D/etc/revoked\" \"$D/etc/policy.conf\"" },
		/* a file prepared earlier, moved over the live one */
		{ "mv", "cp -p \"$D/etc/revoked\" \"$D/etc/prepared\" && "
		    "mv \"$D/etc/prepared\" \"$D/etc/policy.conf\"" },
		/* written in place, then its time set into the past */
		{ "touch -d", "cat \"$D/etc/revoked\" > \"$D/etc/policy.conf\" && "
		    "touch -d '2001-01-01 00:00' \"$D/etc/policy.conf\"" },
		/* the same size, written in place in the same second as the
		 * snapshot, its modification time put back as it was: what an
		 * edit after the clock was stepped back leaves */
		{ "clock back", "t=$(stat -c %y \"$D/etc/policy.conf\") && "
		    "cat \"$D/etc/revoked\" > \"$D/etc/policy.conf\" && "
		    "touch -d \"$t\" \"$D/etc/policy.conf\"" },
	};
	char pol[1200], revoked[1300], cmd[4096], ver[128], *text, *rtext, *at, *out;
	int st;

	snprintf(pol, sizeof(pol), "%s/etc/policy.conf", root);
	snprintf(revoked, sizeof(revoked), "%s/etc/revoked", root);
	text = tu_read(pol, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	/* the new text: the same size, another reason */
	rtext = strdup(text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rtext);
	at = strstr(rtext, "through the pharmacy desk");
	CU_ASSERT_PTR_NOT_NULL_FATAL(at);
	memcpy(at, "THROUGH THE PHARMACY DESK", 25);
	for (size_t i = 0; i < sizeof(ways) / sizeof(ways[0]); i++) {
		/* the revocation is written first, so its times are older */
		CU_ASSERT_EQUAL_FATAL(tu_write(revoked, rtext, (size_t)-1, 0644), 0);
		CU_ASSERT_EQUAL_FATAL(tu_sh("touch -d '2001-01-01 00:00' '%s'", revoked), 0);
		CU_ASSERT_EQUAL_FATAL(tu_write(pol, text, (size_t)-1, 0644), 0);
		/* the last way with a text whose times are clearly older than the
		 * compile: the file's identity, not its hash, must tell */
		if (i + 1 == sizeof(ways) / sizeof(ways[0]))
			sleep(3);
		/* the old reason, and the snapshot of this text is written */
		CU_ASSERT_EQUAL(run_pam("acct-rx", "alice", "acct", NULL, 0, NULL),
		    PAM_PERM_DENIED);
		CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "through the pharmacy desk"));
		CU_ASSERT_EQUAL_FATAL(tu_sh("D='%s'; %s", root, ways[i].cmd), 0);
		/* the next login decides with the new text */
		CU_ASSERT_EQUAL(run_pam("acct-rx", "alice", "acct", NULL, 0, NULL),
		    PAM_PERM_DENIED);
		if (strstr(pt_transcript, "THROUGH THE PHARMACY DESK") == NULL)
			fprintf(stderr, "\n%s: the old policy decided:\n%s\n", ways[i].how,
			    pt_transcript);
		CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "THROUGH THE PHARMACY DESK"));
		snprintf(cmd, sizeof(cmd), "sha256sum '%s' | cut -c1-64", pol);
		out = tu_run(cmd, 0, &st);
		CU_ASSERT_PTR_NOT_NULL_FATAL(out);
		snprintf(ver, sizeof(ver), "\"policy_version\":\"%.64s\"", out);
		free(out);
		/* one more denial under the new text's version for each way */
		CU_ASSERT_EQUAL(audit_count("\"user\":\"alice\"", "\"event\":\"account\"",
		    "\"result\":\"deny\"", ver, NULL), (int)i + 1);
		/* wardctl with the deployed policy says the same */
		CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' policy test --user alice "
		    "--service acct-rx | grep -q 'THROUGH THE PHARMACY DESK'", wardctl, conf), 0);
	}
	CU_ASSERT_EQUAL(tu_write(pol, text, (size_t)-1, 0644), 0);
	unlink(revoked);
	free(rtext);
	free(text);
}

/* HANDLE's PAM environment, one "NAME=VALUE\n" line each, into OUT. */
static void
env_of(pam_handle_t *h, char *out, size_t len)
{
	char **list = pam_getenvlist(h);

	out[0] = '\0';
	for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
		snprintf(out + strlen(out), len - strlen(out), "%s\n", list[i]);
		free(list[i]);
	}
	free(list);
}

/* A new handle for SERVICE and USER with the PAM environment ENV ("NAME=VALUE\n"
 * lines), as sshd's monitor imports its auth child's. */
static pam_handle_t *
handle_with_env(const char *service, const char *user, const char *env)
{
	static struct pam_conv c = { pt_conv, NULL };
	pam_handle_t *h = NULL;
	char line[512];

	if (pam_start_confdir(service, user, &c, pamd, &h) != PAM_SUCCESS)
		return NULL;
	for (const char *p = env; *p != '\0';) {
		size_t n = strcspn(p, "\n");

		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		CU_ASSERT_EQUAL(pam_putenv(h, line), PAM_SUCCESS);
		p += n + (p[n] == '\n');
	}
	return h;
}

/*
 * Open (and close) gus's session of SERVICE on a new handle with the PAM
 * environment CARRIED, after setcred when SETCRED, as sshd's monitor does;
 * WARD_TXN must have left the environment (after setcred too), which OUT
 * gets once the session is open.  The session opening's rc.
 */
static int
session_on_new_handle(const char *service, const char *carried, int setcred, char *out,
    size_t len)
{
	pam_handle_t *b = handle_with_env(service, "gus", carried);
	int rc;

	out[0] = '\0';
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	if (setcred) {
		CU_ASSERT_EQUAL(pam_setcred(b, PAM_ESTABLISH_CRED), PAM_SUCCESS);
		CU_ASSERT_PTR_NULL(pam_getenv(b, "WARD_TXN"));
	}
	rc = pam_open_session(b, 0);
	CU_ASSERT_PTR_NULL(pam_getenv(b, "WARD_TXN"));
	if (rc == PAM_SUCCESS) {
		env_of(b, out, len);
		CU_ASSERT_EQUAL(pam_close_session(b, 0), PAM_SUCCESS);
	}
	pam_end(b, rc);
	return rc;
}

/*
 * sshd runs auth and account (keyboard-interactive) in a child process and
 * opens the session on its monitor's handle, which imports the child's PAM
 * environment but not its pam_set_data: the token travels as WARD_TXN, a
 * break-glass grant reaches the session, and WARD_TXN leaves the
 * environment (setcred, session) before the program copies it into the
 * user's session.
 */
static void
test_session_on_another_handle(void)
{
	static struct pam_conv c = { pt_conv, NULL };
	pam_handle_t *a = NULL;
	char code[16], env[2048], carried[2048];
	const char *answers[2];
	const char *t;

	/* the "child": auth and account, break-glass granted */
	code_now("gus", code);
	answers[0] = code;
	answers[1] = "Cardiac arrest in bay 4, need the chart";
	pt_answers(answers, 2);
	CU_ASSERT_EQUAL_FATAL(pam_start_confdir("acct-rx", "gus", &c, pamd, &a), PAM_SUCCESS);
	CU_ASSERT_EQUAL(pam_authenticate(a, 0), PAM_SUCCESS);
	CU_ASSERT_EQUAL(pam_acct_mgmt(a, 0), PAM_SUCCESS);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "Emergency access granted"));
	env_of(a, carried, sizeof(carried));
	pam_end(a, PAM_SUCCESS);
	t = strstr(carried, "WARD_TXN=");
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	t += strlen("WARD_TXN=");
	CU_ASSERT_EQUAL(strspn(t, "0123456789abcdef"), 32);
	CU_ASSERT_EQUAL(t[32], '\n');

	/* without the carried token the session is refused: the grant is the
	 * transaction's */
	pt_answer_all(NULL);
	CU_ASSERT_EQUAL(session_on_new_handle("acct-rx", "", 0, env, sizeof(env)),
	    PAM_SESSION_ERR);
	/* another service, with the token: the grant is not that service's */
	CU_ASSERT_EQUAL(session_on_new_handle("acct-ehr", carried, 0, env, sizeof(env)),
	    PAM_SESSION_ERR);
	/* the "monitor": setcred takes the token out, the session opens */
	CU_ASSERT_EQUAL(session_on_new_handle("acct-rx", carried, 1, env, sizeof(env)),
	    PAM_SUCCESS);
	CU_ASSERT_PTR_NOT_NULL(strstr(env, "WARD_BREAK_GLASS=1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(env, "WARD_SESSION_MAX=3600\n"));
	/* no setcred: the session phase takes it out itself; but the grant was
	 * for one session, and the transaction ended with it */
	CU_ASSERT_EQUAL(session_on_new_handle("acct-rx", carried, 0, env, sizeof(env)),
	    PAM_SESSION_ERR);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"gus\"", "\"event\":\"breakglass\"",
	    "\"result\":\"granted\"", NULL), 1);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"gus\"", "\"event\":\"session_open\"",
	    "\"result\":\"success\"", "\"rule\":\"break-glass\"", NULL), 1);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"gus\"", "\"event\":\"session_open\"",
	    "\"result\":\"failure\"", "no allowing decision", NULL), 3);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"gus\"", "\"event\":\"session_close\"",
	    NULL), 1);
}

/* PAM_SILENT (sudo always passes it before 1.9.16) hides Ward's lines,
 * unless the stack says show_messages; the prompts show either way.
 * acct-rx and acct-loud (show_messages) are the pharmacy, where nurses are
 * denied for good: a wrong code, then the denial said in auth. */
static void
test_silent_and_show_messages(void)
{
	static struct pam_conv c = { pt_conv, NULL };
	static const char *const services[] = { "acct-rx", "acct-loud" };
	char code[16];

	code_now("hal", code);
	for (size_t i = 0; i < 2; i++) {
		pam_handle_t *h = NULL;

		pt_answer_all(strcmp(code, "000000") ? "000000" : "111111");
		CU_ASSERT_EQUAL_FATAL(pam_start_confdir(services[i], "hal", &c, pamd, &h),
		    PAM_SUCCESS);
		CU_ASSERT_EQUAL(pam_authenticate(h, PAM_SILENT), PAM_AUTH_ERR);
		CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "prompt: Verification code: "));
		CU_ASSERT_EQUAL(strstr(pt_transcript, "error: That code was not accepted.") != NULL,
		    i == 1);
		pam_end(h, PAM_AUTH_ERR);

		pt_answer_all(code);
		CU_ASSERT_EQUAL_FATAL(pam_start_confdir(services[i], "hal", &c, pamd, &h),
		    PAM_SUCCESS);
		CU_ASSERT_EQUAL(pam_authenticate(h, PAM_SILENT), PAM_PERM_DENIED);
		CU_ASSERT_EQUAL(strstr(pt_transcript, "error: Access denied: Nurses dispense "
		    "through the pharmacy desk") != NULL, i == 1);
		CU_ASSERT_EQUAL(strstr(pt_transcript, "error:") != NULL, i == 1);
		pam_end(h, PAM_PERM_DENIED);
	}
	CU_ASSERT_EQUAL(audit_count("\"user\":\"hal\"", "\"event\":\"auth\"",
	    "\"result\":\"failure\"", NULL), 2);
	CU_ASSERT_EQUAL(audit_count("\"user\":\"hal\"", "\"event\":\"account\"",
	    "\"result\":\"deny\"", "refused in auth", NULL), 2);
}

static void
test_chain_verifies(void)
{
	char cmd[1400], *out;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' --config '%s' audit verify", wardctl, conf);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_EQUAL(st, 0);
	if (st != 0)
		fprintf(stderr, "%s\n", out ? out : "");
	free(out);
}

int
main(void)
{
	unsigned fails;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("pam account, break-glass, session", setup, teardown);
	CU_add_test(s, "allow, session environment, audit records", test_allow_with_session_env);
	CU_add_test(s, "deny with the reason; no break-glass where not offered",
	    test_deny_shows_reason_no_break_glass);
	CU_add_test(s, "break-glass refused: short reason, declined, wrong code",
	    test_break_glass_refused);
	CU_add_test(s, "break-glass granted: session limit, audit record, LOG_ALERT",
	    test_break_glass_granted);
	CU_add_test(s, "audit log unwritable: denied", test_audit_unwritable_denies);
	CU_add_test(s, "account asks for the code when auth did not run",
	    test_account_asks_code_without_auth);
	CU_add_test(s, "try_first_pass does not spend the password as a code",
	    test_try_first_pass_keeps_password);
	CU_add_test(s, "break-glass reasons: hidden, control, malformed, empty, a code",
	    test_break_glass_reason_checks);
	CU_add_test(s, "policy compiled on first load; an edited text wins",
	    test_snapshot_compiled_and_edit_wins);
	CU_add_test(s, "a policy replaced with older times decides at the next login",
	    test_replaced_policy_decides);
	CU_add_test(s, "a session on another handle: the token in the PAM environment (sshd)",
	    test_session_on_another_handle);
	CU_add_test(s, "PAM_SILENT hides Ward's lines unless show_messages (sudo)",
	    test_silent_and_show_messages);
	CU_add_test(s, "the chain verifies", test_chain_verifies);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
