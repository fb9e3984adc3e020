/*
 * test_security.c - the security test table (THREATS.md names
 * each threat and points here).  Everything goes through real libpam
 * (pam_start_confdir) loading the built pam_ward.so, or through the built
 * setuid helper run as nobody, with a private ward.conf, keys and store
 * made by wardctl; codes come from oathtool.
 *
 * Each case sets up the hostile condition, asserts the closed door (a
 * denial, never PAM_SUCCESS or PAM_IGNORE; no prompt where the module
 * cannot even start), and where it matters also asserts the control: the
 * same request succeeds once the condition is removed, so a test cannot
 * pass merely because everything is broken.
 *
 * The fixture lives in tu_helper_root() because the test
 * build of the setuid helper has that ward.conf compiled in (shared with
 * tests/pam/test_pam_auth.c; suites run one after another).
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <lmdb.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "logcap.h"
#include "pamtest.h"
#include "secret.h"
#include "state.h"
#include "testutil.h"
#include "ward.h"

static char root[512], conf[600], pamd[600], statedir[600], keyfile[700], etc[600];
static char module[600], wardctl[600], helper[600];
static int have_log;
static struct passwd nobody;
static char nobody_buf[1024];

static const char alice_b32[] = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
static const char nobody_b32[] = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJR";
/* a second secret for nobody in the decoy store of the environment test */
static const char decoy_b32[] = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";

static const char policy_text[] =
    "roles = { nurse = { permissions = [\"ehr:read\"]; }; };\n"
    "users = ( { user = \"alice\"; roles = [\"nurse\"]; },\n"
    "          { user = \"dave\"; roles = [\"nurse\"]; },\n"
    "          { user = \"nobody\"; roles = [\"nurse\"]; } );\n"
    "apps = { ehr = [\"sec\", \"sec-debug\"]; };\n"
    "rules = ( { id = \"nurses-ehr\"; effect = \"allow\"; roles = [\"nurse\"];\n"
    "            apps = [\"ehr\"]; mfa = \"required\"; } );\n";

/* ---- PAM driver ---- */

/* Run PHASES ("auth", "acct", "open", comma-joined) as USER on SERVICE,
 * answering every prompt with CODE.  Returns the first failing rc or
 * PAM_SUCCESS. */
static int
run_pam(const char *service, const char *user, const char *phases, const char *code)
{
	pt_answer_all(code);
	return pt_run(pamd, service, user, phases, NULL, 0);
}

/* A closed door: neither success nor "ignore me" (which a stack with
 * only optional modules would turn into a login). */
#define CU_ASSERT_DENIED(rc) do { int rc_ = (rc); \
	CU_ASSERT(rc_ != PAM_SUCCESS && rc_ != PAM_IGNORE); } while (0)

/* The code of B32 at now + OFFSET seconds, from oathtool. */
static void
code_of(const char *b32, long offset, char out[16])
{
	CU_ASSERT_EQUAL_FATAL(tu_totp(b32, offset, out), 0);
}

/* Keep a test's codes inside one time step. */
static void
fresh_step(void)
{
	tu_totp_wait(22);
}

/* A code alice can use now: re-enrol her (same secret) so the replay
 * watermark, failures and lockout of earlier cases are gone. */
static void
fresh_code(const char *user, const char *b32, char out[16])
{
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' enroll %s --force --secret %s --qr none",
	    wardctl, conf, user, b32), 0);
	fresh_step();
	code_of(b32, 0, out);
}

static void
alice_code(char out[16])
{
	fresh_code("alice", alice_b32, out);
}

/* "failures" of USER from wardctl status --json (-1 when unknown). */
static int
failures_of(const char *user)
{
	char cmd[1400], *out, *p;
	int st, n = -1;

	snprintf(cmd, sizeof(cmd), "'%s' --config '%s' status %s --json", wardctl, conf, user);
	out = tu_run(cmd, 0, &st);
	if (out != NULL && (p = strstr(out, "\"failures\":")) != NULL)
		n = atoi(p + 11);
	free(out);
	return n;
}

/*
 * Write a ward.conf variant NAME.conf in etc/ (the defaults of the fixture,
 * with KEY (key_file), STATE (state_dir), POLICY (policy_file) replaced
 * when not NULL, and EXTRA appended), and a PAM service NAME loading the
 * module with config= that file.  CONFPATH, when not NULL, names the
 * config= path instead (for a missing or odd file).
 */
static void
variant(const char *name, const char *key, const char *state, const char *policy,
    const char *extra, const char *confpath)
{
	char path[2048], pp[2048], text[16384];

	snprintf(pp, sizeof(pp), "%s/policy.conf", etc);
	snprintf(path, sizeof(path), "%s/%s.conf", etc, name);
	snprintf(text, sizeof(text),
	    "policy_file = \"%s\";\nstate_dir = \"%s\";\nhelper = \"%s\";\n"
	    "mfa = { max_failures = 5; lockout_seconds = 600; window = 1; };\n"
	    "secrets = { key_file = \"%s\"; };\n"
	    "audit = { path = \"%s/log/audit.log\"; key_file = \"%s/audit.key\"; };\n%s",
	    policy ? policy : pp, state ? state : statedir, helper, key ? key : keyfile,
	    root, etc, extra ? extra : "");
	CU_ASSERT_EQUAL_FATAL(tu_write(path, text, (size_t)-1, 0644), 0);
	if (confpath == NULL)
		confpath = path;
	CU_ASSERT_EQUAL_FATAL(pt_write_service(pamd, name, module, confpath, NULL), 0);
}

/* Every phase of SERVICE denies for alice (with her valid code) and the
 * module asks nothing when it cannot even start. */
static void
assert_all_phases_deny(const char *service, const char *why)
{
	char code[16];
	int rc;

	fresh_step();
	code_of(alice_b32, 0, code);
	rc = run_pam(service, "alice", "auth", code);
	if (rc == PAM_SUCCESS || rc == PAM_IGNORE)
		fprintf(stderr, "\n  %s: auth returned %d (%s)\n", why, rc, pt_transcript);
	CU_ASSERT_DENIED(rc);
	CU_ASSERT_EQUAL(pt_nprompts, 0);
	CU_ASSERT_DENIED(run_pam(service, "alice", "acct", ""));
	CU_ASSERT_DENIED(run_pam(service, "alice", "open", ""));
}

/* ---- fixture ---- */

static int
setup(void)
{
	char path[2048], text[16384];
	struct passwd *pw = NULL;

	if (getpwnam_r("nobody", &nobody, nobody_buf, sizeof(nobody_buf), &pw) != 0 || !pw)
		return 1;
	snprintf(root, sizeof(root), "%s", tu_helper_root());
	snprintf(etc, sizeof(etc), "%s/etc", root);
	snprintf(conf, sizeof(conf), "%s/ward.conf", root);
	snprintf(pamd, sizeof(pamd), "%s/pam.d", root);
	snprintf(statedir, sizeof(statedir), "%s/state", root);
	snprintf(keyfile, sizeof(keyfile), "%s/master.key", etc);
	snprintf(wardctl, sizeof(wardctl), "%s/wardctl", tu_build());
	if (tu_sh("rm -rf '%s' && mkdir -p '%s' '%s' '%s/log' && chmod 0755 '%s' '%s' '%s'",
	    root, etc, pamd, root, root, etc, pamd) != 0)
		return 1;
	if (tu_stage_helper(module, sizeof(module), helper, sizeof(helper)) != 0)
		return 1;
	snprintf(text, sizeof(text),
	    "policy_file = \"%s/policy.conf\";\nstate_dir = \"%s\";\nhelper = \"%s\";\n"
	    "mfa = { max_failures = 5; lockout_seconds = 600; window = 1; };\n"
	    "secrets = { key_file = \"%s\"; };\n"
	    "audit = { path = \"%s/log/audit.log\"; key_file = \"%s/audit.key\"; };\n",
	    etc, statedir, helper, keyfile, root, etc);
	if (tu_write(conf, text, (size_t)-1, 0644) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/policy.conf", etc);
	if (tu_write(path, policy_text, (size_t)-1, 0644) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/sec", pamd);
	snprintf(text, sizeof(text), "auth required %s config=%s\naccount required %s "
	    "config=%s\nsession required %s config=%s\n", module, conf, module, conf, module,
	    conf);
	if (tu_write(path, text, (size_t)-1, 0644) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/sec-debug", pamd);
	snprintf(text, sizeof(text), "auth required %s config=%s debug\naccount required %s "
	    "config=%s debug\nsession required %s config=%s debug\n", module, conf, module,
	    conf, module, conf);
	if (tu_write(path, text, (size_t)-1, 0644) != 0)
		return 1;
	if (tu_sh("'%s' --config '%s' init", wardctl, conf) != 0 ||
	    tu_sh("'%s' --config '%s' enroll alice --secret %s --qr none", wardctl, conf,
	    alice_b32) != 0 ||
	    tu_sh("'%s' --config '%s' enroll nobody --secret %s --qr none", wardctl, conf,
	    nobody_b32) != 0)
		return 1;
	have_log = logcap_begin();
	return 0;
}

static int
teardown(void)
{
	logcap_stop();
	return 0;
}

/* ---- symlinks ---- */

static void
test_symlinked_paths_refused(void)
{
	char link[2048], target[2048], pol[2048];

	/* control: the plain fixture works */
	{
		char code[16];
		alice_code(code);
		CU_ASSERT_EQUAL(run_pam("sec", "alice", "auth,acct,open", code), PAM_SUCCESS);
	}
	/* ward.conf itself a symlink to the good file */
	snprintf(link, sizeof(link), "%s/conf-link.conf", etc);
	unlink(link);
	CU_ASSERT_EQUAL(symlink(conf, link), 0);
	variant("sym-conf", NULL, NULL, NULL, NULL, link);
	assert_all_phases_deny("sym-conf", "ward.conf symlink");
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("conf-link.conf: is a symbolic link (refused)"));
	/* the master key a symlink to the real key */
	snprintf(link, sizeof(link), "%s/key-link", etc);
	unlink(link);
	CU_ASSERT_EQUAL(symlink(keyfile, link), 0);
	variant("sym-key", link, NULL, NULL, NULL, NULL);
	{
		char code[16];
		int rc;
		alice_code(code);
		rc = run_pam("sym-key", "alice", "auth", code);
		CU_ASSERT_DENIED(rc);
		if (have_log)
			CU_ASSERT_TRUE(logcap_has("key-link: is a symbolic link (refused)"));
	}
	/* the state folder a symlink to the real one */
	snprintf(link, sizeof(link), "%s/state-link", root);
	unlink(link);
	CU_ASSERT_EQUAL(symlink(statedir, link), 0);
	variant("sym-state", NULL, link, NULL, NULL, NULL);
	{
		char code[16];
		alice_code(code);
		CU_ASSERT_DENIED(run_pam("sym-state", "alice", "auth", code));
		if (have_log)
			CU_ASSERT_TRUE(logcap_has("state-link: not a real folder"));
	}
	/* the policy a symlink */
	snprintf(pol, sizeof(pol), "%s/policy.conf", etc);
	snprintf(link, sizeof(link), "%s/policy-link.conf", etc);
	unlink(link);
	CU_ASSERT_EQUAL(symlink(pol, link), 0);
	variant("sym-policy", NULL, NULL, link, NULL, NULL);
	assert_all_phases_deny("sym-policy", "policy symlink");
	/* unit level: the opener and the store refuse the same links */
	{
		struct ward_conf c;
		struct secret_key k;
		struct state *st = NULL;
		char err[512];

		snprintf(link, sizeof(link), "%s/conf-link.conf", etc);
		CU_ASSERT_EQUAL(conf_load(&c, link, err, sizeof(err)), WARD_ERR_UNSAFE);
		snprintf(link, sizeof(link), "%s/key-link", etc);
		CU_ASSERT_EQUAL(secret_key_load(&k, link, err, sizeof(err)), WARD_ERR_UNSAFE);
		snprintf(link, sizeof(link), "%s/state-link", root);
		CU_ASSERT_EQUAL(state_open(&st, link, 0), WARD_ERR_UNSAFE);
		CU_ASSERT_EQUAL(state_open(&st, link, 1), WARD_ERR_UNSAFE);
		CU_ASSERT_PTR_NULL(st);
	}
	/* the audit log a symlink: a record must never be written through it
	 * (someone could point it at /etc/shadow).  First a login that must
	 * grow the real log, so the check below cannot pass by the module
	 * writing nothing at all. */
	{
		char logp[2048], code[16];
		struct stat sb;
		off_t before;
		int wired;

		snprintf(logp, sizeof(logp), "%s/log/audit.log", root);
		snprintf(target, sizeof(target), "%s/log/decoy", root);
		alice_code(code);
		before = stat(logp, &sb) == 0 ? sb.st_size : 0;
		(void)run_pam("sec", "alice", "auth,acct,open", code);
		wired = stat(logp, &sb) == 0 && sb.st_size > before;
		alice_code(code);
		CU_ASSERT_EQUAL(tu_write(target, "decoy\n", (size_t)-1, 0644), 0);
		unlink(logp);
		CU_ASSERT_EQUAL(symlink(target, logp), 0);
		/* the module writes its audit trail, so a symlinked log denies */
		CU_ASSERT_TRUE(wired);
		CU_ASSERT_DENIED(run_pam("sec", "alice", "auth,acct,open", code));
		{
			char *d = tu_read(target, NULL);
			CU_ASSERT_PTR_NOT_NULL(d);
			CU_ASSERT_STRING_EQUAL(d ? d : "", "decoy\n");
			free(d);
		}
		unlink(logp);
	}
}

/* ---- state folder modes ---- */

static void
test_state_folder_open_to_others_refused(void)
{
	static const struct {
		mode_t mode;
		int nobody_owns;
	} bad[] = { { 0777, 0 }, { 0770, 0 }, { 0750, 0 }, { 0705, 0 }, { 0701, 0 },
		    { 0700, 1 } };
	char code[16];

	/* one code for every case: a refusal must neither consume nor count it */
	alice_code(code);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct state *st = NULL;

		CU_ASSERT_EQUAL(chmod(statedir, bad[i].mode), 0);
		if (bad[i].nobody_owns)
			CU_ASSERT_EQUAL(chown(statedir, nobody.pw_uid, 0), 0);
		CU_ASSERT_EQUAL(state_open(&st, statedir, 0), WARD_ERR_UNSAFE);
		CU_ASSERT_EQUAL(state_open(&st, statedir, 1), WARD_ERR_UNSAFE);
		CU_ASSERT_PTR_NULL(st);
		CU_ASSERT_DENIED(run_pam("sec", "alice", "auth", code));
		CU_ASSERT_EQUAL(chown(statedir, 0, 0), 0);
		CU_ASSERT_EQUAL(chmod(statedir, 0700), 0);
	}
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("must be root and 0700 (refused)"));
	/* control: restored, the same code works, and nothing was counted */
	CU_ASSERT_EQUAL(failures_of("alice"), 0);
	CU_ASSERT_EQUAL(run_pam("sec", "alice", "auth", code), PAM_SUCCESS);
}

/* ---- keys ---- */

static void
test_over_permissive_key_refused(void)
{
	static const struct {
		mode_t mode;
		int nobody_owns;
	} bad[] = { { 0640, 0 }, { 0604, 0 }, { 0644, 0 }, { 0660, 0 }, { 0620, 0 },
		    { 0602, 0 }, { 0666, 0 }, { 0600, 1 } };
	char err[512], code[16];

	alice_code(code);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct secret_key k;

		CU_ASSERT_EQUAL(chmod(keyfile, bad[i].mode), 0);
		if (bad[i].nobody_owns)
			CU_ASSERT_EQUAL(chown(keyfile, nobody.pw_uid, 0), 0);
		CU_ASSERT_EQUAL(secret_key_load(&k, keyfile, err, sizeof(err)), WARD_ERR_UNSAFE);
		CU_ASSERT_DENIED(run_pam("sec", "alice", "auth", code));
		CU_ASSERT_EQUAL(chown(keyfile, 0, 0), 0);
		CU_ASSERT_EQUAL(chmod(keyfile, 0600), 0);
	}
	/* a key of the wrong length (truncated, padded) is refused too */
	{
		char shortkey[2048];
		struct secret_key k;

		snprintf(shortkey, sizeof(shortkey), "%s/short.key", etc);
		CU_ASSERT_EQUAL(tu_write(shortkey, "0123456789abcdef", 16, 0600), 0);
		CU_ASSERT_EQUAL(secret_key_load(&k, shortkey, err, sizeof(err)), WARD_ERR_PARSE);
		variant("short-key", shortkey, NULL, NULL, NULL, NULL);
		CU_ASSERT_DENIED(run_pam("short-key", "alice", "auth", code));
	}
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("master.key: open to group or others"));
	/* control: restored, the same code works (the refusals counted nothing) */
	CU_ASSERT_EQUAL(failures_of("alice"), 0);
	CU_ASSERT_EQUAL(run_pam("sec", "alice", "auth", code), PAM_SUCCESS);
}

/* ---- configuration that cannot be read ---- */

static void
test_unreadable_config_denies(void)
{
	char path[2048], fifo[2048], dir[2048], text[4096];

	/* missing */
	snprintf(path, sizeof(path), "%s/no-such.conf", etc);
	variant("cfg-missing", NULL, NULL, NULL, NULL, path);
	assert_all_phases_deny("cfg-missing", "missing ward.conf");
	/* a directory */
	snprintf(dir, sizeof(dir), "%s/conf.d", etc);
	CU_ASSERT_EQUAL(mkdir(dir, 0755) == 0 || errno == EEXIST, 1);
	variant("cfg-dir", NULL, NULL, NULL, NULL, dir);
	assert_all_phases_deny("cfg-dir", "ward.conf a directory");
	/* a FIFO nobody writes to: refused at once, not a hang */
	snprintf(fifo, sizeof(fifo), "%s/fifo.conf", etc);
	unlink(fifo);
	CU_ASSERT_EQUAL(mkfifo(fifo, 0644), 0);
	variant("cfg-fifo", NULL, NULL, NULL, NULL, fifo);
	{
		pid_t pid = fork();
		int status = 0;

		if (pid == 0) {
			alarm(10);
			assert_all_phases_deny("cfg-fifo", "ward.conf a FIFO");
			_exit(CU_get_number_of_failures() ? 1 : 0);
		}
		CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
		CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* a syntax error, an unknown key, an out-of-range value */
	variant("cfg-syntax", NULL, NULL, NULL, "mfa = { digits = 6 \n", NULL);
	assert_all_phases_deny("cfg-syntax", "syntax error");
	variant("cfg-typo", NULL, NULL, NULL, "mfa_window = 3;\n", NULL);
	assert_all_phases_deny("cfg-typo", "unknown key");
	/* an @include reaching past the trusted opener (world-writable file) */
	snprintf(path, sizeof(path), "%s/evil-include.conf", root);
	CU_ASSERT_EQUAL(tu_write(path, "state_dir = \"/tmp\";\n", (size_t)-1, 0666), 0);
	snprintf(text, sizeof(text), "@include \"%s\"\n", path);
	variant("cfg-include", NULL, NULL, NULL, text, NULL);
	assert_all_phases_deny("cfg-include", "@include");
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("@include is not allowed"));
	/* the same in the policy: libconfig would read the included file past
	 * the trusted opener, and outside the policy's version */
	{
		char pol[2048], ptext[8192];

		snprintf(path, sizeof(path), "%s/evil-rules.conf", root);
		CU_ASSERT_EQUAL(tu_write(path, "# anyone may write here\n", (size_t)-1, 0666), 0);
		snprintf(pol, sizeof(pol), "%s/policy-include.conf", etc);
		snprintf(ptext, sizeof(ptext), "%s@include \"%s\"\n", policy_text, path);
		CU_ASSERT_EQUAL(tu_write(pol, ptext, (size_t)-1, 0644), 0);
		variant("pol-include", NULL, NULL, pol, NULL, NULL);
		assert_all_phases_deny("pol-include", "policy @include");
		if (have_log)
			CU_ASSERT_TRUE(logcap_has("policy-include.conf:"));
	}
	/* the policy missing */
	snprintf(path, sizeof(path), "%s/no-such-policy.conf", etc);
	variant("cfg-nopolicy", NULL, NULL, path, NULL, NULL);
	assert_all_phases_deny("cfg-nopolicy", "missing policy");
	/* a ward.conf only root can read, loaded by an unprivileged caller
	 * (a screen locker): EACCES denies, it does not skip */
	{
		char c600[2048];
		pid_t pid;
		int status = 0;

		variant("cfg-private", NULL, NULL, NULL, NULL, NULL);
		snprintf(c600, sizeof(c600), "%s/cfg-private.conf", etc);
		CU_ASSERT_EQUAL(chmod(c600, 0600), 0);
		pid = fork();
		if (pid == 0) {
			int bad = 0, rc;
			char code[16];

			if (setgroups(0, NULL) != 0 || setgid(nobody.pw_gid) != 0 ||
			    setuid(nobody.pw_uid) != 0)
				_exit(90);
			code_of(nobody_b32, 0, code);
			rc = run_pam("cfg-private", "nobody", "auth", code);
			bad |= (rc == PAM_SUCCESS || rc == PAM_IGNORE || pt_nprompts != 0) ? 1 : 0;
			rc = run_pam("cfg-private", "nobody", "acct", "");
			bad |= (rc == PAM_SUCCESS || rc == PAM_IGNORE) ? 2 : 0;
			rc = run_pam("cfg-private", "nobody", "open", "");
			bad |= (rc == PAM_SUCCESS || rc == PAM_IGNORE) ? 4 : 0;
			_exit(bad);
		}
		CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
		CU_ASSERT_TRUE(WIFEXITED(status));
		CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
	}
	/* control: the same variant machinery with nothing wrong works */
	variant("cfg-good", NULL, NULL, NULL, NULL, NULL);
	{
		char code[16];
		alice_code(code);
		CU_ASSERT_EQUAL(run_pam("cfg-good", "alice", "auth", code), PAM_SUCCESS);
	}
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock alice", wardctl, conf), 0);
}

/* libconfig honours "@include FILE" at the start of a line and reads FILE
 * with plain fopen: no owner, mode or symlink check.  The loader refuses
 * such a line; the same text elsewhere (in a string) is data. */
static void
test_conf_include_refused(void)
{
	static const struct {
		const char *text;
		int ok;
		const char *where;
	} cases[] = {
		{ "@include \"/etc/passwd\"\n", 0, "t.conf:1:" },
		{ "state_dir = \"/x\";\n\n  \t@include \"/tmp/x\"\n", 0, "t.conf:3:" },
		{ "@include\t\"/tmp/x\"\n", 0, "t.conf:1:" },
		{ "mfa = { issuer = \"@include\"; };\n", 1, NULL },
		{ "# @include \"/tmp/x\"\n", 1, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ward_conf c;
		char err[512];
		int r = conf_load_buffer(&c, "t.conf", cases[i].text, err, sizeof(err));

		if (cases[i].ok) {
			CU_ASSERT_EQUAL(r, 0);
		} else {
			CU_ASSERT_EQUAL(r, WARD_ERR_PARSE);
			CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].where));
			CU_ASSERT_PTR_NOT_NULL(strstr(err, "@include is not allowed"));
			CU_ASSERT_PTR_NULL(c.state_dir);
		}
		conf_free(&c);
	}
}

/* ---- user names ---- */

static void
test_user_name_variants(void)
{
	static const char *const variants[] = {
		" alice", "alice ", "alice\t", "\talice", "alice\n", "alice\r", "al\x1bice",
		"alice\x7f", "ALICE", "Alice", "alicE", "alice\xc2\xa0", "alice\xc2\x9b" "31m",
		"\x1b]0;pwned\x07", "alice/", "alice:",
		"../alice", "alice\xc0\x80", "alice\xed\xa0\x80", "ali\xe2\x80\x8b" "ce",
	};
	static const char why[] = "\"reason\":\"malformed user name\"";
	char code[16], t_unknown[8192], logp[700];
	int r_unknown, malformed = 0, auth0, acct0;

	snprintf(logp, sizeof(logp), "%s/log/audit.log", root);
	auth0 = tu_count_lines(logp, "\"event\":\"auth\"", why, NULL);
	acct0 = tu_count_lines(logp, "\"event\":\"account\"", why, NULL);
	alice_code(code);
	r_unknown = run_pam("sec", "zed", "auth", code);
	snprintf(t_unknown, sizeof(t_unknown), "%s", pt_transcript);
	CU_ASSERT_DENIED(r_unknown);
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		int rc = run_pam("sec", variants[i], "auth", code);

		if (rc == PAM_SUCCESS)
			fprintf(stderr, "\n  name variant %zu accepted alice's code\n", i);
		CU_ASSERT_DENIED(rc);
		/* indistinguishable from an unknown user */
		CU_ASSERT_EQUAL(rc, r_unknown);
		CU_ASSERT_STRING_EQUAL(pt_transcript, t_unknown);
		CU_ASSERT_DENIED(run_pam("sec", variants[i], "acct", ""));
		CU_ASSERT_DENIED(run_pam("sec", variants[i], "open", ""));
		malformed += ward_user_valid(variants[i]) != 0;
	}
	/* a refused malformed name is recorded, in auth and in account */
	CU_ASSERT_TRUE(malformed > 10);
	/* and what wardctl shows of those records carries no terminal codes
	 * (C0, DEL, C1) and is valid UTF-8, in every output form */
	{
		static const char *const forms[] = { "query", "query --json", "query --csv",
			"report", "report --json" };

		for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
			char cmd[1400];
			int st;
			char *out;

			snprintf(cmd, sizeof(cmd), "'%s' --config '%s' audit %s", wardctl, conf,
			    forms[f]);
			out = tu_run(cmd, 0, &st);
			CU_ASSERT_EQUAL(st, 0);
			CU_ASSERT_PTR_NOT_NULL_FATAL(out);
			CU_ASSERT_TRUE(f > 2 || strstr(out, "alice") != NULL);
			for (size_t i = 0, k, n = strlen(out); i < n; i += k ? k : 1) {
				k = ward_utf8_printable((const unsigned char *)out + i, n - i);
				if (k == 0 && out[i] != '\n') {
					printf("\n  audit %s: byte 0x%02x at %zu is not printable\n",
					    forms[f], (unsigned char)out[i], i);
					CU_FAIL("wardctl printed a control or non-UTF-8 byte");
					break;
				}
				k = k ? k : 1;
			}
			free(out);
		}
	}
	CU_ASSERT_EQUAL(tu_count_lines(logp, "\"event\":\"auth\"", why, NULL) - auth0,
	    malformed);
	CU_ASSERT_EQUAL(tu_count_lines(logp, "\"event\":\"account\"", why, NULL) - acct0,
	    malformed);
	/* none of them touched alice: no failure counted, code not consumed */
	CU_ASSERT_EQUAL(failures_of("alice"), 0);
	CU_ASSERT_EQUAL(run_pam("sec", "alice", "auth,acct,open", code), PAM_SUCCESS);
}

/* ---- no enumeration ---- */

static void
test_prompts_same_for_any_user(void)
{
	/* unknown everywhere; in passwd but not in the policy; in the policy
	 * but not enrolled; malformed.  Same return code, same pt_transcript. */
	static const char *const users[] = { "zed-no-such-user", "daemon", "dave",
		"bad\x01name" };
	char first[8192];
	int rc0 = 0;

	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		int rc = run_pam("sec", users[i], "auth", "123456");

		CU_ASSERT_DENIED(rc);
		CU_ASSERT_EQUAL(pt_nprompts, 1);
		if (i == 0) {
			rc0 = rc;
			snprintf(first, sizeof(first), "%s", pt_transcript);
			CU_ASSERT_EQUAL(strncmp(first, "prompt: Verification code: \n", 28), 0);
		} else {
			CU_ASSERT_EQUAL(rc, rc0);
			CU_ASSERT_STRING_EQUAL(pt_transcript, first);
		}
	}
	/* an enrolled user is asked the same first question */
	run_pam("sec", "alice", "auth", "");
	CU_ASSERT_EQUAL(strncmp(pt_transcript, "prompt: Verification code: \n", 28), 0);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
	/* the account phase: unknown vs in passwd without roles */
	{
		char t1[8192];
		int r1 = run_pam("sec", "zed-no-such-user", "acct", "");
		snprintf(t1, sizeof(t1), "%s", pt_transcript);
		CU_ASSERT_DENIED(r1);
		CU_ASSERT_EQUAL(run_pam("sec", "daemon", "acct", ""), r1);
		CU_ASSERT_STRING_EQUAL(pt_transcript, t1);
	}
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock alice", wardctl, conf), 0);
}

/* ---- debug logs no code, no secret ---- */

static void
test_debug_logs_no_secret(void)
{
	char code[16], wrong[16], cmd[1400], rcode[32], *out, *p, hexsecret[128];
	const char *lt;
	int st;

	if (!have_log) {
		printf("\n  SKIPPED: /dev/log is taken, cannot capture the log\n");
		return;
	}
	alice_code(code);
	/* a recovery code to type */
	snprintf(cmd, sizeof(cmd), "'%s' --config '%s' recovery-codes alice --json", wardctl, conf);
	out = tu_run(cmd, 0, &st);
	CU_ASSERT_EQUAL_FATAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p = strstr(out, "\"recovery_codes\":[\""));
	p += strlen("\"recovery_codes\":[\"");
	snprintf(rcode, sizeof(rcode), "%.*s", (int)strcspn(p, "\""), p);
	free(out);
	out = tu_run("echo JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP | base32 -d | xxd -p | tr -d '\\n'",
	    0, &st);
	snprintf(hexsecret, sizeof(hexsecret), "%s", out ? out : "");
	free(out);

	snprintf(wrong, sizeof(wrong), "%06d", (atoi(code) + 1) % 1000000);
	CU_ASSERT_EQUAL(run_pam("sec-debug", "alice", "auth", wrong), PAM_AUTH_ERR);
	CU_ASSERT_EQUAL(run_pam("sec-debug", "alice", "auth,acct,open", code), PAM_SUCCESS);
	CU_ASSERT_EQUAL(run_pam("sec-debug", "alice", "auth", code), PAM_AUTH_ERR); /* replay */
	CU_ASSERT_EQUAL(run_pam("sec-debug", "alice", "auth", rcode), PAM_SUCCESS);
	CU_ASSERT_DENIED(run_pam("sec-debug", "dave", "auth", code));
	/* and through the helper as nobody, with debug */
	{
		char ncode[16];
		pid_t pid;
		int status;

		fresh_code("nobody", nobody_b32, ncode);
		pid = fork();
		if (pid == 0) {
			if (setgroups(0, NULL) != 0 || setgid(nobody.pw_gid) != 0 ||
			    setuid(nobody.pw_uid) != 0)
				_exit(90);
			_exit(run_pam("sec-debug", "nobody", "auth", ncode) == PAM_SUCCESS ? 0 : 1);
		}
		CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
		CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		CU_ASSERT_PTR_NULL(strstr(logcap_text(NULL), ncode));
	}
	usleep(200000);            /* let the capture thread drain the socket */
	lt = logcap_text(NULL);
	/* debug was on: the module said something at debug level */
	CU_ASSERT_PTR_NOT_NULL(strstr(lt, "loaded from"));
	CU_ASSERT_PTR_NULL(strstr(lt, code));
	CU_ASSERT_PTR_NULL(strstr(lt, wrong));
	CU_ASSERT_PTR_NULL(strstr(lt, rcode));
	{
		char norm[SECRET_RECOVERY_CHARS + 1];
		if (secret_recovery_normalise(rcode, norm) == 0)
			CU_ASSERT_PTR_NULL(strstr(lt, norm));
	}
	CU_ASSERT_PTR_NULL(strstr(lt, alice_b32));
	CU_ASSERT_PTR_NULL(strstr(lt, nobody_b32));
	CU_ASSERT(strlen(hexsecret) == 40);
	CU_ASSERT_PTR_NULL(strcasestr(lt, hexsecret));
	/* nor in what the user was shown */
	CU_ASSERT_PTR_NULL(strstr(pt_transcript, code));
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock alice", wardctl, conf), 0);
}

/* ---- the setuid helper ---- */

/* Run the helper as nobody (or root when AS_ROOT) with ENV (a shell
 * "VAR=value ..." prefix for env -i), feeding INPUT; returns its exit. */
static int
run_helper(int as_root, const char *env, const char *user, const char *input)
{
	static char cmd[40960];
	char *out;
	int st;

	snprintf(cmd, sizeof(cmd), "printf '%s' | %s env -i %s '%s' %s sec",
	    input, as_root ? "" : "setpriv --reuid=nobody --regid=nogroup --clear-groups",
	    env, helper, user);
	out = tu_run(cmd, 1, &st);
	free(out);
	return st;
}

static void
test_helper_refuses_other_user(void)
{
	char code[16], in[64];

	alice_code(code);
	snprintf(in, sizeof(in), "verify\\n%s\\n", code);
	/* nobody asking for alice with alice's right code: refused (7) */
	CU_ASSERT_EQUAL(run_helper(0, "", "alice", in), 7);
	CU_ASSERT_EQUAL(run_helper(0, "", "alice", "grace\\n"), 7);
	/* names that only look like nobody's */
	CU_ASSERT_NOT_EQUAL(run_helper(0, "", "'nobody '", in), 0);
	CU_ASSERT_NOT_EQUAL(run_helper(0, "", "NOBODY", in), 0);
	CU_ASSERT_NOT_EQUAL(run_helper(0, "", "'nobody\n'", in), 0);
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("(nobody) asked to verify a code for alice; refusing"));
	/* nothing of alice's was touched: no failure, and the code still works */
	CU_ASSERT_EQUAL(failures_of("alice"), 0);
	CU_ASSERT_EQUAL(run_pam("sec", "alice", "auth", code), PAM_SUCCESS);
}

/*
 * The caller controls the helper's whole environment.  For each variable
 * that could steer it - a ward.conf of its choosing, OpenSSL's config, a
 * preloaded library, libldap's rc files, the time zone - run the helper
 * twice with the hostile environment: as root (not a secure execution:
 * shows the variable really has an effect where honoured) and as nobody
 * (must behave exactly as with an empty environment).
 */
static void
test_helper_ignores_environment(void)
{
	char decoy_root[1024], decoy_conf[2048], marker[2048], so[2048], osslcnf[2048];
	char env[16384], code[16], dcode[16], in[64], text[16384];
	struct stat sb;
	int san;

	/* a decoy configuration, valid and root-owned, whose store knows
	 * nobody with a different secret */
	snprintf(decoy_root, sizeof(decoy_root), "%s/decoy", root);
	snprintf(decoy_conf, sizeof(decoy_conf), "%s/ward.conf", decoy_root);
	CU_ASSERT_EQUAL_FATAL(tu_sh("mkdir -p '%s' && chmod 0755 '%s'", decoy_root, decoy_root), 0);
	snprintf(text, sizeof(text),
	    "policy_file = \"%s/policy.conf\";\nstate_dir = \"%s/state\";\n"
	    "secrets = { key_file = \"%s/master.key\"; };\n"
	    "audit = { path = \"%s/audit.log\"; key_file = \"%s/audit.key\"; };\n",
	    etc, decoy_root, decoy_root, decoy_root, decoy_root);
	CU_ASSERT_EQUAL_FATAL(tu_write(decoy_conf, text, (size_t)-1, 0644), 0);
	CU_ASSERT_EQUAL_FATAL(tu_sh("'%s' --config '%s' init && '%s' --config '%s' enroll nobody "
	    "--secret %s --qr none", wardctl, decoy_conf, wardctl, decoy_conf, decoy_b32), 0);
	/* a library that leaves a mark when loaded */
	snprintf(marker, sizeof(marker), "/tmp/ward-sec-preload-%d", (int)getpid());
	snprintf(so, sizeof(so), "%s/preload.so", root);
	unlink(marker);
	CU_ASSERT_EQUAL_FATAL(tu_sh("printf '#include <fcntl.h>\\n__attribute__((constructor)) "
	    "static void m(void){ open(\"%s\", O_CREAT|O_WRONLY, 0666); }\\n' | "
	    "cc -shared -fPIC -x c - -o '%s' && chmod 0755 '%s'", marker, so, so), 0);
	/* an OpenSSL config that turns the default provider off: AES fails */
	snprintf(osslcnf, sizeof(osslcnf), "%s/openssl.cnf", root);
	CU_ASSERT_EQUAL(tu_write(osslcnf, "openssl_conf = oc\n[oc]\nproviders = pv\n"
	    "[pv]\nnull = nul\n[nul]\nactivate = 1\n", (size_t)-1, 0644), 0);
	/* Under ASan a preloaded library ahead of the ASan runtime aborts any
	 * non-secure run, so the preload part is checked in the plain build. */
	san = getenv("WARD_SAN") != NULL && getenv("WARD_SAN")[0] != '\0';
	snprintf(env, sizeof(env), "WARD_CONF='%s' WARD_CONFIG='%s' %s%s%s "
	    "OPENSSL_CONF='%s' OPENSSL_MODULES=/nonexistent LDAPCONF=/nonexistent "
	    "LDAPRC=/nonexistent HOME=/nonexistent TZ=Pacific/Kiritimati LANG=C LC_ALL=C "
	    "MALLOC_CHECK_=3 PATH=/nonexistent IFS=x", decoy_conf, decoy_conf,
	    san ? "" : "LD_PRELOAD='", san ? "" : so, san ? "" : "'", osslcnf);

	/* control, as root: the preload and the OpenSSL config do act */
	fresh_code("nobody", nobody_b32, code);
	code_of(decoy_b32, 0, dcode);
	snprintf(in, sizeof(in), "verify\\n%s\\n", code);
	if (!san) {
		char cmd[16384], *out;
		int st;
		snprintf(cmd, sizeof(cmd), "env -i LD_PRELOAD='%s' OPENSSL_CONF='%s' '%s' "
		    "--config '%s' status nobody", so, osslcnf, wardctl, conf);
		out = tu_run(cmd, 1, &st);
		free(out);
		CU_ASSERT_EQUAL(stat(marker, &sb), 0);   /* the preload works here */
		unlink(marker);
	}
	/* the helper clears its environment first thing, even for root: the
	 * OpenSSL config (which would make AES fail) is not read */
	CU_ASSERT_EQUAL(run_helper(1, env, "nobody", in), 0);
	unlink(marker);	/* root's own preload is root's business */
	/* as nobody: the hostile environment changes nothing */
	code_of(nobody_b32, 30, code);
	snprintf(in, sizeof(in), "verify\n%s\n", code);
	CU_ASSERT_EQUAL(run_helper(0, env, "nobody", in), 0);   /* own store, own code */
	CU_ASSERT_NOT_EQUAL(stat(marker, &sb), 0);               /* preload ignored */
	snprintf(in, sizeof(in), "verify\\n%s\\n", dcode);
	CU_ASSERT_EQUAL(run_helper(0, env, "nobody", in), 1);   /* decoy store not used */
	unlink(marker);
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock nobody", wardctl, conf), 0);
}

/* ---- a lock held on the store ---- */

/*
 * A process that holds the store's write lock and stops must not hang every
 * login.  Two defences: the setuid helper takes root's real and saved uid
 * once it knows its caller, so the caller cannot SIGSTOP it (part 1); and
 * every write waits for the lock a bounded time (lib/state.c LOCK_WAIT_MS),
 * then the login is denied (part 2, with a holder stopped inside a write
 * transaction of the real store, through the store's own API).
 */
#define LOCK_BOUND_S 5         /* the deny must come within this */

static int hold_fd = -1;

static int
hold_and_stop(void *ctx, struct state_user *u)
{
	(void)ctx;
	(void)u;
	if (write(hold_fd, "x", 1) != 1)
		_exit(1);
	raise(SIGSTOP);
	return WARD_ERR_INTERNAL;	/* nothing is written */
}

static void
test_lock_held_bounded_wait(void)
{
	int ready[2];
	pid_t holder, login;
	struct timeval t0, t1;
	char code[16];
	int status = 0;
	double secs;

	/* 1. nobody cannot stop its own (setuid root) helper */
	{
		char cmd[2400], *out;
		int st;
		snprintf(cmd, sizeof(cmd), "setpriv --reuid=nobody --regid=nogroup "
		    "--clear-groups sh -c 'sleep 3 | \"%s\" nobody sec & p=$!; sleep 0.3; "
		    "echo running=$(cat /proc/$p/comm 2>/dev/null); "
		    "if kill -STOP $p 2>/dev/null; then echo stopped; else echo refused; fi'",
		    helper);
		out = tu_run(cmd, 1, &st);
		/* the helper really runs (so the refusal is its own) */
		CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "running=ward_verify"));
		CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "refused"));
		CU_ASSERT_PTR_NULL(out && strstr(out, "stopped"));
		free(out);
	}
	/* 2. a stopped process holding the write lock */
	alice_code(code);          /* wardctl needs the lock: before the holder */
	CU_ASSERT_EQUAL_FATAL(pipe(ready), 0);
	holder = fork();
	CU_ASSERT_FATAL(holder >= 0);
	if (holder == 0) {
		struct state *st;

		close(ready[0]);
		hold_fd = ready[1];
		if (state_open(&st, statedir, 0) != 0)
			_exit(1);
		if (state_user_update(st, "alice", hold_and_stop, NULL) != 0)
			_exit(0);
		_exit(0);
	}
	close(ready[1]);
	{
		char b;
		CU_ASSERT_EQUAL_FATAL(read(ready[0], &b, 1), 1);
	}
	close(ready[0]);
	gettimeofday(&t0, NULL);
	login = fork();
	if (login == 0) {
		int rc;
		alarm(LOCK_BOUND_S + 2);
		rc = run_pam("sec", "alice", "auth", code);
		_exit(rc == PAM_SUCCESS || rc == PAM_IGNORE ? 1 : 0);
	}
	CU_ASSERT_EQUAL(waitpid(login, &status, 0), login);
	gettimeofday(&t1, NULL);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_usec - t0.tv_usec) / 1e6;
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	/* the defence: a denial, in bounded time (not the watchdog) */
	CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT(secs <= LOCK_BOUND_S);
	/* with the holder gone the store works, and nothing was counted */
	CU_ASSERT_EQUAL(failures_of("alice"), 0);
	CU_ASSERT_EQUAL(run_pam("sec", "alice", "auth", code), PAM_SUCCESS);
}

int
main(void)
{
	unsigned fails;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("security", setup, teardown);
	CU_add_test(s, "symlinked config, key, state, policy and log refused",
	    test_symlinked_paths_refused);
	CU_add_test(s, "state folder open to others refused", test_state_folder_open_to_others_refused);
	CU_add_test(s, "over-permissive or malformed master key refused",
	    test_over_permissive_key_refused);
	CU_add_test(s, "unreadable or invalid config denies every phase",
	    test_unreadable_config_denies);
	CU_add_test(s, "ward.conf @include refused", test_conf_include_refused);
	CU_add_test(s, "user names padded, with controls, or in other case", test_user_name_variants);
	CU_add_test(s, "same prompts and answers whether a user exists or not",
	    test_prompts_same_for_any_user);
	CU_add_test(s, "debug never logs a code or a secret", test_debug_logs_no_secret);
	CU_add_test(s, "helper refuses another user", test_helper_refuses_other_user);
	CU_add_test(s, "helper ignores the caller's environment", test_helper_ignores_environment);
	CU_add_test(s, "lock held on the store: bounded wait, then deny",
	    test_lock_held_bounded_wait);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
