/*
 * test_security.c - the security test table (THREATS.md names each threat
 * and points here).  Everything goes through real libpam
 * (pam_start_confdir) loading the built pam_ward.so, a client of the wardd
 * this suite starts on its own ward.conf (stopped by pid at the end), with
 * keys and store made by wardctl; codes come from oathtool.  Where user
 * nobody (a screen locker) is the attacker, a forked child takes its uid
 * and uses the same module and stacks.
 *
 * Each case sets up the hostile condition, asserts the closed door (a
 * denial, never PAM_SUCCESS or PAM_IGNORE; no prompt where the login
 * cannot even start), and where it matters also asserts the control: the
 * same request succeeds once the condition is removed, so a test cannot
 * pass merely because everything is broken.
 *
 * wardd reads ward.conf and the policy, not the module: a file made
 * broken or unsafe while wardd runs is refused at the reload (the one in
 * force keeps deciding, and the log says why), and a wardd started on it
 * does not start, so every login fails closed.  Cases of that kind check
 * both sides.  Keys, the store and the audit log are checked when wardd
 * uses or opens them.
 *
 * The fixture lives in tu_stage_root()/security, where nobody can reach
 * the stacks, the module and the socket; wardctl works through a copy of
 * the good ward.conf (ctl.conf), so it still runs while ward.conf is
 * broken on purpose.
 */
#include <CUnit/Basic.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <lmdb.h>
#include <poll.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
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

#define UNAVAILABLE "error: Two-step verification is unavailable on this workstation. " \
	"Contact IT.\n"

static char root[512], conf[600], ctlconf[700], pamd[600], statedir[600], keyfile[700];
static char etc[600], pol[700], sock[600], badsock[600], wlog[600];
static char module[600], wardctl[600];
static char good_conf[4096], policy_text[4096];
static int have_log;
static pid_t dpid = -1;
static struct passwd nobody;
static char nobody_buf[1024];

static const char alice_b32[] = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
static const char nobody_b32[] = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJR";
/* a second secret for nobody in the decoy store of the environment test */
static const char decoy_b32[] = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";

/* The policy: alice, dave (never enrolled) and nobody are nurses; the
 * two %s take more apps and more rules (the schedule case). */
#define POLICY_FMT \
    "roles = { nurse = { permissions = [\"ehr:read\"]; }; };\n" \
    "users = ( { user = \"alice\"; roles = [\"nurse\"]; },\n" \
    "          { user = \"dave\"; roles = [\"nurse\"]; },\n" \
    "          { user = \"nobody\"; roles = [\"nurse\"]; } );\n" \
    "apps = { ehr = [\"sec\", \"sec-debug\", \"sec-bad\", \"sec-private\"];%s };\n" \
    "rules = ( { id = \"nurses-ehr\"; effect = \"allow\"; roles = [\"nurse\"];\n" \
    "            apps = [\"ehr\"]; mfa = \"required\"; }%s );\n"

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

/* A code USER can use now: re-enrol (same secret) so the replay
 * watermark, failures and lockout of earlier cases are gone. */
static void
fresh_code(const char *user, const char *b32, char out[16])
{
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' enroll %s --force --secret %s --qr none",
	    wardctl, ctlconf, user, b32), 0);
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

	snprintf(cmd, sizeof(cmd), "'%s' --config '%s' status %s --json", wardctl, ctlconf,
	    user);
	out = tu_run(cmd, 0, &st);
	if (out != NULL && (p = strstr(out, "\"failures\":")) != NULL)
		n = atoi(p + 11);
	free(out);
	return n;
}

/* Become nobody (this process, for good).  0, or -1. */
static int
become_nobody(void)
{
	if (setgroups(0, NULL) != 0 || setresgid(nobody.pw_gid, nobody.pw_gid,
	    nobody.pw_gid) != 0 || setresuid(nobody.pw_uid, nobody.pw_uid,
	    nobody.pw_uid) != 0 || geteuid() == 0)
		return -1;
	return 0;
}

/* Run FN(ARG) in a child that is nobody: its exit status (90: could not
 * become nobody), or -1. */
static int
as_nobody(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(become_nobody() != 0 ? 90 : fn(arg));
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* ---- the log of this suite's wardd ---- */

/* Captured lines of this suite's wardd (its pid in the syslog tag) that
 * hold A and, when not NULL, B. */
static int
wardd_lines(const char *a, const char *b)
{
	char tag[40];
	const char *t = logcap_text(NULL);
	int n = 0;

	snprintf(tag, sizeof(tag), "wardd[%ld]: ", (long)dpid);
	for (const char *l = t; *l != '\0';) {
		const char *e = strchr(l, '\n');
		size_t len = e != NULL ? (size_t)(e - l) : strlen(l);

		if (tu_contains(l, len, tag, strlen(tag)) && tu_contains(l, len, a, strlen(a)) &&
		    (b == NULL || tu_contains(l, len, b, strlen(b))))
			n++;
		l += len + (e != NULL);
	}
	return n;
}

/* Wait (2 s at most) for more than BEFORE such lines.  1 when they came. */
static int
await_wardd_line(int before, const char *a, const char *b)
{
	for (int i = 0; i < 100; i++) {
		if (wardd_lines(a, b) > before)
			return 1;
		usleep(20000);
	}
	return 0;
}

/* SIGHUP wardd (it loads its files again and reopens the store) and wait
 * until it has. */
static void
hup(void)
{
	int before = have_log ? wardd_lines("reload (SIGHUP)", NULL) : 0;

	CU_ASSERT_EQUAL(kill(dpid, SIGHUP), 0);
	if (have_log) {
		CU_ASSERT_TRUE(await_wardd_line(before, "reload (SIGHUP)", NULL));
	} else {
		usleep(300000);
	}
}

/* ---- ward.conf variants ---- */

/* ward.conf's text: the fixture's, with KEY (key_file), STATE (state_dir),
 * POLICY (policy_file) and MFA (the mfa group's settings) replaced when
 * not NULL, and EXTRA appended. */
static void
conf_text(char *out, size_t len, const char *key, const char *state, const char *policy,
    const char *mfa, const char *extra)
{
	snprintf(out, len,
	    "policy_file = \"%s\";\nstate_dir = \"%s\";\nmfa = { %s };\n"
	    "secrets = { key_file = \"%s\"; };\n"
	    "audit = { path = \"%s/log/audit.log\"; key_file = \"%s/audit.key\"; };\n%s",
	    policy ? policy : pol, state ? state : statedir,
	    mfa ? mfa : "max_failures = 5; lockout_seconds = 600; window = 1;",
	    key ? key : keyfile, root, etc, extra ? extra : "");
}

/* Put a ward.conf variant in place of the one wardd reads: it is loaded
 * at wardd's next look (every request of root). */
static void
put_conf(const char *key, const char *state, const char *policy, const char *mfa,
    const char *extra)
{
	char text[8192];

	conf_text(text, sizeof(text), key, state, policy, mfa, extra);
	CU_ASSERT_EQUAL_FATAL(tu_write(conf, text, (size_t)-1, 0644), 0);
}

/* The fixture's ward.conf again, whatever is at its path now. */
static void
restore_conf(void)
{
	CU_ASSERT_EQUAL(tu_sh("rm -rf '%s'", conf), 0);
	CU_ASSERT_EQUAL(tu_write(conf, good_conf, (size_t)-1, 0644), 0);
}

/* Every phase of SERVICE fails closed for USER because no wardd answers
 * there: auth and account PAM_AUTHINFO_UNAVAIL with nothing asked and the
 * user told, the session PAM_SESSION_ERR.  A bit per phase that did not
 * (0: all did); usable in a child. */
static int
unavailable_fails(const char *service, const char *user, const char *code)
{
	int bad = 0;

	if (run_pam(service, user, "auth", code) != PAM_AUTHINFO_UNAVAIL || pt_nprompts != 0 ||
	    strstr(pt_transcript, UNAVAILABLE) == NULL)
		bad |= 1;
	if (run_pam(service, user, "acct", "") != PAM_AUTHINFO_UNAVAIL ||
	    strstr(pt_transcript, UNAVAILABLE) == NULL)
		bad |= 2;
	if (run_pam(service, user, "open", "") != PAM_SESSION_ERR)
		bad |= 4;
	return bad;
}

/*
 * ward.conf as it is now (WHY) does not load, with an error holding
 * LOGGED.  Both sides: the running wardd refuses it at the reload, says so
 * and keeps the ward.conf in force (alice logs in with her code, all
 * phases); a wardd started on it exits at once, and every login through
 * its socket fails closed.
 */
static void
assert_refused_both_ways(const char *why, const char *logged)
{
	struct timespec t0;
	char code[16];
	int before = have_log ? wardd_lines("stays in force", logged) : 0;
	int rc, bad;
	pid_t pid;

	alice_code(code);
	rc = run_pam("sec", "alice", "auth,acct,open", code);
	if (rc != PAM_SUCCESS)
		fprintf(stderr, "\n  %s: the old ward.conf did not decide: %d (%s)\n", why, rc,
		    pt_transcript);
	CU_ASSERT_EQUAL(rc, PAM_SUCCESS);
	if (have_log && !await_wardd_line(before, "stays in force", logged)) {
		fprintf(stderr, "\n  %s: no \"reload ... failed; ... stays in force\" line "
		    "naming \"%s\"\n", why, logged);
		CU_FAIL("the failed reload was not logged");
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = tu_wardd_start(NULL, conf, badsock, NULL);
	CU_ASSERT_EQUAL(pid, -1);
	if (pid > 0)
		(void)tu_wardd_stop(pid);
	/* it exits, not hangs (tu_wardd_start gives up after 10 s) */
	CU_ASSERT(tu_ms_since(&t0) < 5000);
	bad = unavailable_fails("sec-bad", "alice", code);
	if (bad != 0)
		fprintf(stderr, "\n  %s: a wardd started on it: phases %d did not fail closed "
		    "(%s)\n", why, bad, pt_transcript);
	CU_ASSERT_EQUAL(bad, 0);
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("run/bad.sock: cannot connect: "));
}

/* ---- fixture ---- */

static int
setup(void)
{
	char path[2048], text[16384];
	struct passwd *pw = NULL;

	if (getpwnam_r("nobody", &nobody, nobody_buf, sizeof(nobody_buf), &pw) != 0 || !pw)
		return 1;
	snprintf(root, sizeof(root), "%s/security", tu_stage_root());
	snprintf(etc, sizeof(etc), "%s/etc", root);
	snprintf(conf, sizeof(conf), "%s/ward.conf", root);
	snprintf(ctlconf, sizeof(ctlconf), "%s/ctl.conf", etc);
	snprintf(pol, sizeof(pol), "%s/policy.conf", etc);
	snprintf(pamd, sizeof(pamd), "%s/pam.d", root);
	snprintf(statedir, sizeof(statedir), "%s/state", root);
	snprintf(keyfile, sizeof(keyfile), "%s/master.key", etc);
	snprintf(sock, sizeof(sock), "%s/run/wardd.sock", root);
	snprintf(badsock, sizeof(badsock), "%s/run/bad.sock", root);
	snprintf(wlog, sizeof(wlog), "%s/log/wardd.log", root);
	snprintf(wardctl, sizeof(wardctl), "%s/wardctl", tu_build());
	if (tu_sh("rm -rf '%s' && mkdir -p '%s' '%s' '%s/log' '%s/private' && "
	    "chmod 0755 '%s' '%s' '%s' && chmod 0700 '%s/private'",
	    root, etc, pamd, root, root, root, etc, pamd, root) != 0)
		return 1;
	/* the module where nobody can load it */
	if (tu_stage_module(module, sizeof(module)) != 0)
		return 1;
	conf_text(good_conf, sizeof(good_conf), NULL, NULL, NULL, NULL, NULL);
	if (tu_write(conf, good_conf, (size_t)-1, 0644) != 0 ||
	    tu_write(ctlconf, good_conf, (size_t)-1, 0644) != 0)
		return 1;
	snprintf(policy_text, sizeof(policy_text), POLICY_FMT, "", "");
	if (tu_write(pol, policy_text, (size_t)-1, 0644) != 0)
		return 1;
	/* sec: the stack; sec-debug: with debug on every line; sec-bad: the
	 * socket of a wardd started on a bad ward.conf; sec-private: wardd's
	 * socket through a folder only root may enter */
	if (pt_write_service(pamd, "sec", module, sock, NULL) != 0 ||
	    pt_write_service(pamd, "sec-bad", module, badsock, NULL) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/sec-debug", pamd);
	snprintf(text, sizeof(text), "auth required %s socket=%s debug\naccount required %s "
	    "socket=%s debug\nsession required %s socket=%s debug\n", module, sock, module,
	    sock, module, sock);
	if (tu_write(path, text, (size_t)-1, 0644) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/private/wardd.sock", root);
	if (symlink(sock, path) != 0 ||
	    pt_write_service(pamd, "sec-private", module, path, NULL) != 0)
		return 1;
	if (tu_sh("'%s' --config '%s' init", wardctl, ctlconf) != 0 ||
	    tu_sh("'%s' --config '%s' enroll alice --secret %s --qr none", wardctl, ctlconf,
	    alice_b32) != 0 ||
	    tu_sh("'%s' --config '%s' enroll nobody --secret %s --qr none", wardctl, ctlconf,
	    nobody_b32) != 0)
		return 1;
	/* the log capture first: wardd's syslog lines come to it; its
	 * --debug standard error goes to log/wardd.log */
	have_log = logcap_begin();
	dpid = tu_wardd_start(NULL, conf, sock, wlog);
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

/* ---- symlinks ---- */

static void
test_symlinked_paths_refused(void)
{
	char link[2048], target[2048], good[2048];

	/* control: the plain fixture works */
	{
		char code[16];
		alice_code(code);
		CU_ASSERT_EQUAL(run_pam("sec", "alice", "auth,acct,open", code), PAM_SUCCESS);
	}
	/* ward.conf itself a symlink to a good file */
	snprintf(good, sizeof(good), "%s/good.conf", etc);
	CU_ASSERT_EQUAL(tu_write(good, good_conf, (size_t)-1, 0644), 0);
	CU_ASSERT_EQUAL(unlink(conf), 0);
	CU_ASSERT_EQUAL(symlink(good, conf), 0);
	assert_refused_both_ways("ward.conf symlink", "ward.conf: is a symbolic link (refused)");
	restore_conf();
	/* the master key a symlink to the real key: refused when wardd reads
	 * it, at the login */
	snprintf(link, sizeof(link), "%s/key-link", etc);
	unlink(link);
	CU_ASSERT_EQUAL(symlink(keyfile, link), 0);
	{
		char code[16];

		alice_code(code);
		put_conf(link, NULL, NULL, NULL, NULL);
		CU_ASSERT_DENIED(run_pam("sec", "alice", "auth", code));
		if (have_log)
			CU_ASSERT_TRUE(logcap_has("key-link: is a symbolic link (refused)"));
		restore_conf();
		CU_ASSERT_EQUAL(failures_of("alice"), 0);
		CU_ASSERT_EQUAL(run_pam("sec", "alice", "auth", code), PAM_SUCCESS);
	}
	/* the state folder a symlink to the real one: refused when wardd
	 * opens the store (a changed ward.conf opens it again) */
	snprintf(link, sizeof(link), "%s/state-link", root);
	unlink(link);
	CU_ASSERT_EQUAL(symlink(statedir, link), 0);
	{
		char code[16];

		alice_code(code);
		put_conf(NULL, link, NULL, NULL, NULL);
		CU_ASSERT_DENIED(run_pam("sec", "alice", "auth", code));
		if (have_log)
			CU_ASSERT_TRUE(logcap_has("state-link: not a real folder"));
		restore_conf();
		CU_ASSERT_EQUAL(run_pam("sec", "alice", "auth", code), PAM_SUCCESS);
	}
	/* the policy a symlink */
	snprintf(link, sizeof(link), "%s/policy-link.conf", etc);
	unlink(link);
	CU_ASSERT_EQUAL(symlink(pol, link), 0);
	put_conf(NULL, NULL, link, NULL, NULL);
	assert_refused_both_ways("policy symlink", "policy-link.conf: is a symbolic link (refused)");
	restore_conf();
	/* unit level: the opener and the store refuse the same links */
	{
		struct ward_conf c;
		struct secret_key k;
		struct state *st = NULL;
		char err[512];

		snprintf(link, sizeof(link), "%s/conf-link.conf", etc);
		unlink(link);
		CU_ASSERT_EQUAL(symlink(good, link), 0);
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
	 * grow the real log, so the check below cannot pass by wardd writing
	 * nothing at all. */
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
		/* wardd writes its audit trail, so a symlinked log denies */
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

/* The store is checked when wardd opens it: at the first phase after a
 * start, a SIGHUP (as after logrotate) or a changed ward.conf. */
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
		hup();
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

/* Keys are read at each load (start, SIGHUP, a changed ward.conf): a key
 * made unsafe fails the first login after the next load; a key that did
 * not load is read again at each use until it does. */
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
		hup();
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
		put_conf(shortkey, NULL, NULL, NULL, NULL);
		CU_ASSERT_DENIED(run_pam("sec", "alice", "auth", code));
		restore_conf();
	}
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("master.key: open to group or others"));
	/* control: restored, the same code works (the refusals counted nothing) */
	CU_ASSERT_EQUAL(failures_of("alice"), 0);
	CU_ASSERT_EQUAL(run_pam("sec", "alice", "auth", code), PAM_SUCCESS);
}

/* ---- configuration that cannot be read ---- */

/* nobody's part of test_unreadable_config_denies: with ward.conf only
 * root can read, its own login is decided by wardd as always; through a
 * stack whose socket it cannot reach, every phase fails closed. */
static int
nobody_private(void *arg)
{
	const char *ncode = arg;
	int bad = 0;

	if (run_pam("sec", "nobody", "auth,acct", ncode) != PAM_SUCCESS)
		bad |= 1;
	if (unavailable_fails("sec-private", "nobody", ncode) != 0)
		bad |= 2;
	return bad;
}

static void
test_unreadable_config_denies(void)
{
	char path[2048], text[4096];

	/* missing */
	CU_ASSERT_EQUAL(unlink(conf), 0);
	assert_refused_both_ways("missing ward.conf", "ward.conf: No such file or directory");
	restore_conf();
	/* a directory */
	CU_ASSERT_EQUAL(unlink(conf), 0);
	CU_ASSERT_EQUAL(mkdir(conf, 0755), 0);
	assert_refused_both_ways("ward.conf a directory", "ward.conf: not a regular file (refused)");
	restore_conf();
	/* a FIFO nobody writes to: refused at once, not a hang (of the
	 * reload, which would stop every login, or of the start) */
	CU_ASSERT_EQUAL(unlink(conf), 0);
	CU_ASSERT_EQUAL(mkfifo(conf, 0644), 0);
	assert_refused_both_ways("ward.conf a FIFO", "ward.conf: not a regular file (refused)");
	restore_conf();
	/* a syntax error, an unknown key, an out-of-range value */
	put_conf(NULL, NULL, NULL, NULL, "unclosed = { digits = 6 \n");
	assert_refused_both_ways("syntax error", ": syntax error");
	put_conf(NULL, NULL, NULL, NULL, "mfa_window = 3;\n");
	assert_refused_both_ways("unknown key", "mfa_window: unknown key");
	put_conf(NULL, NULL, NULL, "max_failures = 5; lockout_seconds = 600; window = 11;",
	    NULL);
	assert_refused_both_ways("out of range", "mfa.window: must be between 0 and 10, not 11");
	/* an @include reaching past the trusted opener (world-writable file) */
	snprintf(path, sizeof(path), "%s/evil-include.conf", root);
	CU_ASSERT_EQUAL(tu_write(path, "state_dir = \"/tmp\";\n", (size_t)-1, 0666), 0);
	snprintf(text, sizeof(text), "@include \"%s\"\n", path);
	put_conf(NULL, NULL, NULL, NULL, text);
	assert_refused_both_ways("@include", "@include is not allowed");
	/* the same in the policy: libconfig would read the included file past
	 * the trusted opener, and outside the policy's version */
	{
		char ipol[2048], ptext[8192];

		snprintf(path, sizeof(path), "%s/evil-rules.conf", root);
		CU_ASSERT_EQUAL(tu_write(path, "# anyone may write here\n", (size_t)-1, 0666), 0);
		snprintf(ipol, sizeof(ipol), "%s/policy-include.conf", etc);
		snprintf(ptext, sizeof(ptext), "%s@include \"%s\"\n", policy_text, path);
		CU_ASSERT_EQUAL(tu_write(ipol, ptext, (size_t)-1, 0644), 0);
		put_conf(NULL, NULL, ipol, NULL, NULL);
		assert_refused_both_ways("policy @include", "policy-include.conf:8: @include is not allowed");
	}
	/* the policy missing */
	snprintf(path, sizeof(path), "%s/no-such-policy.conf", etc);
	put_conf(NULL, NULL, path, NULL, NULL);
	assert_refused_both_ways("missing policy", "no-such-policy.conf: No such file or directory");
	restore_conf();
	/*
	 * A screen locker (nobody) used to read ward.conf itself, and a file
	 * only root could read had to deny, not skip.  The module reads no
	 * file now: with ward.conf 0600, nobody's login is decided by wardd
	 * as always; and a stack whose socket nobody cannot reach (a folder
	 * only root may enter) fails closed in every phase, where root gets
	 * through the same stack.
	 */
	{
		char ncode[16], code[16];
		int r;

		alice_code(code);
		CU_ASSERT_EQUAL(run_pam("sec-private", "alice", "auth,acct,open", code),
		    PAM_SUCCESS);
		CU_ASSERT_EQUAL(chmod(conf, 0600), 0);
		fresh_code("nobody", nobody_b32, ncode);
		/* a request of root: wardd looks at ward.conf (0600 is safe) */
		CU_ASSERT_DENIED(run_pam("sec", "dave", "auth", ""));
		r = as_nobody(nobody_private, ncode);
		if (r != 0)
			fprintf(stderr, "\n  nobody_private: %d\n", r);
		CU_ASSERT_EQUAL(r, 0);
		if (have_log)
			CU_ASSERT_TRUE(logcap_has("private/wardd.sock: cannot connect: Permission "
			    "denied; denying"));
		CU_ASSERT_EQUAL(chmod(conf, 0644), 0);
	}
	/* control: a ward.conf variant with nothing wrong works */
	put_conf(NULL, NULL, NULL, "max_failures = 5; lockout_seconds = 600; window = 1; "
	    "issuer = \"Sec\";", NULL);
	{
		char code[16];
		alice_code(code);
		CU_ASSERT_EQUAL(run_pam("sec", "alice", "auth", code), PAM_SUCCESS);
	}
	restore_conf();
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock alice", wardctl, ctlconf), 0);
}

/*
 * A stack naming a ward.conf of its own (config=, as the module once
 * took): refused in every phase, nothing asked, the log naming socket=.
 * ward.conf is wardd's alone; a stack names only the socket.
 */
static void
test_config_option_refused(void)
{
	static const char *const stacks[] = { "sec-config", "sec-config2" };
	char path[2048], text[8192];

	snprintf(path, sizeof(path), "%s/sec-config", pamd);
	snprintf(text, sizeof(text), "auth required %s config=%s\naccount required %s "
	    "config=%s\nsession required %s config=%s\n", module, conf, module, conf, module,
	    conf);
	CU_ASSERT_EQUAL_FATAL(tu_write(path, text, (size_t)-1, 0644), 0);
	snprintf(path, sizeof(path), "%s/sec-config2", pamd);
	snprintf(text, sizeof(text), "auth required %s socket=%s config=%s\naccount required "
	    "%s socket=%s config=%s\nsession required %s socket=%s config=%s\n", module, sock,
	    conf, module, sock, conf, module, sock, conf);
	CU_ASSERT_EQUAL_FATAL(tu_write(path, text, (size_t)-1, 0644), 0);
	for (size_t i = 0; i < sizeof(stacks) / sizeof(stacks[0]); i++) {
		char code[16];

		alice_code(code);
		CU_ASSERT_EQUAL(run_pam(stacks[i], "alice", "auth", code), PAM_SERVICE_ERR);
		CU_ASSERT_EQUAL(pt_nprompts, 0);
		CU_ASSERT_EQUAL(run_pam(stacks[i], "alice", "acct", ""), PAM_SERVICE_ERR);
		CU_ASSERT_EQUAL(run_pam(stacks[i], "alice", "open", ""), PAM_SERVICE_ERR);
		/* the code was never seen by wardd: it still works */
		CU_ASSERT_EQUAL(run_pam("sec", "alice", "auth", code), PAM_SUCCESS);
	}
	if (have_log)
		CU_ASSERT_TRUE(logcap_has("name its socket with socket=PATH instead: denying"));
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

			snprintf(cmd, sizeof(cmd), "'%s' --config '%s' audit %s", wardctl, ctlconf,
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
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock alice", wardctl, ctlconf), 0);
}


/* ---- debug logs no code, no secret ---- */

/* Does TEXT hold CODE as a token of its own (no hex digit either side)?
 * A code inside a longer run of hex digits (an audit record's mac, the 64
 * zeros of a chain's first "prev") is not a code that was logged. */
static int
has_code(const char *text, const char *code)
{
	size_t n = strlen(code);

	for (const char *p = strstr(text, code); p != NULL; p = strstr(p + 1, code))
		if ((p == text || !isxdigit((unsigned char)p[-1])) && !isxdigit((unsigned char)p[n]))
			return 1;
	return 0;
}

static int
nobody_debug_login(void *arg)
{
	return run_pam("sec-debug", "nobody", "auth", arg) == PAM_SUCCESS ? 0 : 1;
}

/* The module with debug, and wardd with --debug (its standard error in
 * log/wardd.log): neither the syslog capture nor that file holds a code,
 * a recovery code or a secret. */
static void
test_debug_logs_no_secret(void)
{
	char code[16], wrong[16], ncode[16], cmd[1400], rcode[32], *out, *p, hexsecret[128];
	char *wl;
	const char *lt;
	int st;

	if (!have_log) {
		printf("\n  SKIPPED: /dev/log is taken, cannot capture the log\n");
		return;
	}
	alice_code(code);
	/* a recovery code to type */
	snprintf(cmd, sizeof(cmd), "'%s' --config '%s' recovery-codes alice --json", wardctl,
	    ctlconf);
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
	/* and as nobody (a screen locker), through the same stack */
	fresh_code("nobody", nobody_b32, ncode);
	CU_ASSERT_EQUAL(as_nobody(nobody_debug_login, ncode), 0);
	lt = logcap_text(NULL);
	/* debug was on: the module said something at debug level */
	CU_ASSERT_PTR_NOT_NULL(strstr(lt, "auth of alice: wardd answered"));
	CU_ASSERT_PTR_NOT_NULL(strstr(lt, "auth of nobody: wardd answered"));
	wl = tu_read(wlog, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(wl);
	/* wardd's own lines went to its standard error too */
	CU_ASSERT_PTR_NOT_NULL(strstr(wl, "wardd: "));
	for (int w = 0; w < 2; w++) {
		const char *t = w == 0 ? lt : wl;
		char norm[SECRET_RECOVERY_CHARS + 1];

		CU_ASSERT_FALSE(has_code(t, code));
		CU_ASSERT_FALSE(has_code(t, wrong));
		CU_ASSERT_FALSE(has_code(t, ncode));
		CU_ASSERT_PTR_NULL(strstr(t, rcode));
		if (secret_recovery_normalise(rcode, norm) == 0)
			CU_ASSERT_PTR_NULL(strstr(t, norm));
		CU_ASSERT_PTR_NULL(strstr(t, alice_b32));
		CU_ASSERT_PTR_NULL(strstr(t, nobody_b32));
		CU_ASSERT(strlen(hexsecret) == 40);
		CU_ASSERT_PTR_NULL(strcasestr(t, hexsecret));
	}
	free(wl);
	/* nor in what the user was shown */
	CU_ASSERT_PTR_NULL(strstr(pt_transcript, code));
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock alice", wardctl, ctlconf), 0);
}

/* ---- another user's login, asked by nobody ---- */

/*
 * A local user asks for (and so would brute-force, or burn the replay
 * watermark of) another user's codes.  wardd knows its caller from the
 * socket (SO_PEERCRED) and runs a non-root caller's auth and account only
 * for the name of its own uid, byte for byte: anything else is refused
 * before any question, and logged.
 */
static int
nobody_asks_for_others(void *arg)
{
	static const char *const names[] = { "alice", "nobody ", " nobody", "NOBODY",
		"Nobody", "nobody\n", "nobody\t", "root" };
	const char *code = arg;
	int bad = 0;

	/* a session is root's alone, even for its own name (first: wardd
	 * logs at most 10 lines in a burst about one uid) */
	if (run_pam("sec", "nobody", "open", "") != PAM_SESSION_ERR)
		bad |= 4;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (run_pam("sec", names[i], "auth", code) != PAM_AUTH_ERR || pt_nprompts != 0)
			bad |= 1;
		if (run_pam("sec", names[i], "acct", code) != PAM_PERM_DENIED ||
		    pt_nprompts != 0)
			bad |= 2;
	}
	return bad;
}

static void
test_nobody_refused_for_another_user(void)
{
	char code[16];
	int before = have_log ? wardd_lines("asked for another user's login: refused", NULL) : 0;
	int r;

	alice_code(code);
	sleep(2);     /* nobody's request bucket full again (wardd: 20, then 10 a second) */
	/* nobody asking for alice with alice's right code, and for names
	 * that only look like its own */
	r = as_nobody(nobody_asks_for_others, code);
	if (r != 0)
		fprintf(stderr, "\n  nobody_asks_for_others: %d\n", r);
	CU_ASSERT_EQUAL(r, 0);
	if (have_log) {
		CU_ASSERT_TRUE(await_wardd_line(before, "asked for another user's login: refused",
		    NULL));
		CU_ASSERT_TRUE(wardd_lines("asked for a session phase (root only): refused",
		    NULL) > 0);
	}
	/* nothing of alice's was touched: no failure, and the code still works */
	CU_ASSERT_EQUAL(failures_of("alice"), 0);
	CU_ASSERT_EQUAL(run_pam("sec", "alice", "auth", code), PAM_SUCCESS);
}

/* ---- the caller's environment ---- */

/*
 * The caller controls its whole environment, its limits and its time
 * zone: a ward.conf of its choosing (WARD_CONF), OpenSSL's config, a
 * preloaded library, libldap's rc files, TZ, PATH, IFS, a file-size limit
 * that would cut an audit record short.  None of it reaches the decision:
 * the module sends wardd the user, service, host and tty of the PAM
 * handle and nothing of the environment, and starts no process; wardd
 * decides with its own ward.conf, store, clock and limits.
 *
 * The time: two rules that need no code, for the apps here and there, are
 * open an hour either side of now in wardd's local time (here) and in the
 * caller's hostile time zone, twelve hours away (there).  Had the
 * caller's TZ any say, the two answers would swap.
 */
struct hostile {
	char env[8][2100];           /* NAME=value, set with putenv */
	char tz[64];
	const char *code, *dcode, *marker, *logp;
	char *diag;                  /* shared with the parent (the child's
	                              * stderr may be a file its limit cuts) */
};

static int
nobody_hostile_login(void *arg)
{
	struct hostile *h = arg;
	struct rlimit fs = { 1, 1 };
	struct stat sb0, sb1;
	int bad = 0;

	for (size_t i = 0; i < sizeof(h->env) / sizeof(h->env[0]); i++)
		if (h->env[i][0] != '\0' && putenv(h->env[i]) != 0)
			return 100;
	if (setenv("TZ", h->tz, 1) != 0 || setenv("OPENSSL_MODULES", "/nonexistent", 1) != 0 ||
	    setenv("LDAPCONF", "/nonexistent", 1) != 0 ||
	    setenv("LDAPRC", "/nonexistent", 1) != 0 ||
	    setenv("HOME", "/nonexistent", 1) != 0 || setenv("PATH", "/nonexistent", 1) != 0 ||
	    setenv("IFS", "x", 1) != 0 || setenv("LC_ALL", "C", 1) != 0 ||
	    setenv("MALLOC_CHECK_", "3", 1) != 0)
		return 100;
	tzset();
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &fs) != 0)
		return 100;
	/* its own code: accepted, and recorded whole despite the limit */
	if (stat(h->logp, &sb0) != 0)
		return 101;
	if (run_pam("sec", "nobody", "auth,acct", h->code) != PAM_SUCCESS)
		bad |= 1;
	if (stat(h->logp, &sb1) != 0 || sb1.st_size < sb0.st_size + 100)
		bad |= 2;
	/* the decoy store's code: not this store's */
	if (run_pam("sec", "nobody", "auth", h->dcode) != PAM_AUTH_ERR ||
	    strstr(pt_transcript, "not accepted") == NULL)
		bad |= 4;
	/* wardd's clock decides, not the caller's time zone */
	if (run_pam("sec-here", "nobody", "auth,acct", "") != PAM_SUCCESS || pt_nprompts != 0)
		bad |= 8;
	{
		int rc = run_pam("sec-there", "nobody", "acct", "");

		if (rc != PAM_PERM_DENIED) {
			snprintf(h->diag, 4096, "sec-there: %s\n%.3000s", pam_strerror(NULL, rc),
			    pt_transcript);
			bad |= 16;
		}
	}
	/* nothing the login did ran the preloaded library */
	if (h->marker != NULL && stat(h->marker, &sb0) == 0)
		bad |= 32;
	return bad;
}

/* "Mon-Sun HH:MM-HH:MM": an hour either side of the time T shows in the
 * time zone OFF seconds east of UTC. */
static void
window(char *out, size_t len, time_t t, long off)
{
	time_t a = t + off - 3600, b = t + off + 3600;
	struct tm ta, tb;

	gmtime_r(&a, &ta);
	gmtime_r(&b, &tb);
	snprintf(out, len, "Mon-Sun %02d:%02d-%02d:%02d", ta.tm_hour, ta.tm_min, tb.tm_hour,
	    tb.tm_min);
}

static void
test_caller_environment_ignored(void)
{
	char decoy_root[1024], decoy_conf[2048], marker[2048], so[2048], osslcnf[2048];
	char code[16], dcode[16], text[16384], here[64], there[64], apps[256], rules[1024];
	char logp[2048], ptext[8192];
	struct hostile h;
	struct stat sb;
	struct tm lt;
	time_t now;
	long off, hoff;
	int r;

	/* a decoy configuration, valid and root-owned, whose store knows
	 * nobody with a different secret */
	snprintf(decoy_root, sizeof(decoy_root), "%s/decoy", root);
	snprintf(decoy_conf, sizeof(decoy_conf), "%s/ward.conf", decoy_root);
	CU_ASSERT_EQUAL_FATAL(tu_sh("rm -rf '%s' && mkdir -p '%s' && chmod 0755 '%s'",
	    decoy_root, decoy_root, decoy_root), 0);
	snprintf(text, sizeof(text),
	    "policy_file = \"%s\";\nstate_dir = \"%s/state\";\n"
	    "secrets = { key_file = \"%s/master.key\"; };\n"
	    "audit = { path = \"%s/audit.log\"; key_file = \"%s/audit.key\"; };\n",
	    pol, decoy_root, decoy_root, decoy_root, decoy_root);
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
	/* control: the preload acts on a process started with it */
	CU_ASSERT_EQUAL(tu_sh("env -i LD_PRELOAD='%s' /bin/true", so), 0);
	CU_ASSERT_EQUAL(stat(marker, &sb), 0);
	unlink(marker);
	/* an OpenSSL config that turns the default provider off: AES fails */
	snprintf(osslcnf, sizeof(osslcnf), "%s/openssl.cnf", root);
	CU_ASSERT_EQUAL(tu_write(osslcnf, "openssl_conf = oc\n[oc]\nproviders = pv\n"
	    "[pv]\nnull = nul\n[nul]\nactivate = 1\n", (size_t)-1, 0644), 0);

	/* the schedule rules, about now; the hostile zone twelve hours from
	 * wardd's (which has this process's environment) */
	now = time(NULL);
	localtime_r(&now, &lt);
	off = lt.tm_gmtoff;
	hoff = off + 12 * 3600;
	if (hoff > 14 * 3600)
		hoff -= 24 * 3600;
	memset(&h, 0, sizeof(h));
	/* POSIX TZ: the offset is west of UTC, so the sign turns */
	snprintf(h.tz, sizeof(h.tz), "WRD%c%02ld:%02ld", hoff > 0 ? '-' : '+',
	    labs(hoff) / 3600, labs(hoff) % 3600 / 60);
	window(here, sizeof(here), now, off);
	window(there, sizeof(there), now, hoff);
	snprintf(apps, sizeof(apps), " here = [\"sec-here\"]; there = [\"sec-there\"];");
	snprintf(rules, sizeof(rules),
	    ",\n  { id = \"here\"; effect = \"allow\"; roles = [\"nurse\"]; apps = [\"here\"];\n"
	    "    when = \"%s\"; mfa = \"not_required\"; },\n"
	    "  { id = \"there\"; effect = \"allow\"; roles = [\"nurse\"]; apps = [\"there\"];\n"
	    "    when = \"%s\"; mfa = \"not_required\"; }", here, there);
	snprintf(ptext, sizeof(ptext), POLICY_FMT, apps, rules);
	CU_ASSERT_EQUAL_FATAL(tu_write(pol, ptext, (size_t)-1, 0644), 0);
	CU_ASSERT_EQUAL_FATAL(pt_write_service(pamd, "sec-here", module, sock, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(pt_write_service(pamd, "sec-there", module, sock, NULL), 0);
	/* control, as root (a request that also loads the new policy): here
	 * is open now, with no code, and there is not (account decides) */
	CU_ASSERT_EQUAL(run_pam("sec-here", "alice", "auth,acct", ""), PAM_SUCCESS);
	CU_ASSERT_EQUAL(pt_nprompts, 0);
	CU_ASSERT_EQUAL(run_pam("sec-there", "alice", "acct", ""), PAM_PERM_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "error: Access denied: "));

	snprintf(h.env[0], sizeof(h.env[0]), "WARD_CONF=%s", decoy_conf);
	snprintf(h.env[1], sizeof(h.env[1]), "WARD_CONFIG=%s", decoy_conf);
	snprintf(h.env[2], sizeof(h.env[2]), "OPENSSL_CONF=%s", osslcnf);
	snprintf(h.env[3], sizeof(h.env[3]), "LD_PRELOAD=%s", so);
	snprintf(h.env[4], sizeof(h.env[4]), "LD_LIBRARY_PATH=%s", root);
	snprintf(h.env[5], sizeof(h.env[5]), "LANG=C");
	snprintf(logp, sizeof(logp), "%s/log/audit.log", root);
	fresh_code("nobody", nobody_b32, code);
	code_of(decoy_b32, 0, dcode);
	if (strcmp(code, dcode) == 0)
		code_of(decoy_b32, 30, dcode);   /* both can't be refused apart */
	h.code = code;
	h.dcode = dcode;
	h.marker = marker;
	h.logp = logp;
	h.diag = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(h.diag != MAP_FAILED);
	h.diag[0] = '\0';
	/* nobody's six phases below, after the many of the test before: let
	 * its request bucket fill again (wardd(8) LIMITS: 10 a second, bursts
	 * of 20; over it, a phase is cut off and fails closed) */
	sleep(2);
	r = as_nobody(nobody_hostile_login, &h);
	if (r != 0)
		fprintf(stderr, "\n  nobody_hostile_login: %d (TZ %s; here %s, there %s)\n%s\n", r,
		    h.tz, here, there, h.diag);
	munmap(h.diag, 4096);
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_NOT_EQUAL(stat(marker, &sb), 0);
	unlink(marker);
	/* the decoy store was not touched */
	{
		char dlog[2048];

		snprintf(dlog, sizeof(dlog), "%s/audit.log", decoy_root);
		CU_ASSERT_EQUAL(tu_count_lines(dlog, "\"event\":\"auth\"", NULL), 0);
	}
	CU_ASSERT_EQUAL(tu_write(pol, policy_text, (size_t)-1, 0644), 0);
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock nobody", wardctl, ctlconf), 0);
}

/* ---- holding up the store or wardd ---- */

/*
 * A local user who could stop a process holding the store's lock froze
 * every login on the workstation.  Now only wardd (and root's wardctl)
 * open the store, and a non-root caller holds none of it: nobody's
 * logins left at the prompt (the PHASE sent, the REPLY never), nobody's
 * PAM client stopped mid-phase, and a flood of nobody's connections
 * together do not delay root's login or wardctl.  A root process stopped
 * inside a write transaction of the store is still waited for a bounded
 * time (lib/state.c: 3 s), then the login is denied (part 2).
 */
#define LOCK_BOUND_S 5         /* the deny must come within this */
#define HOLDERS 8              /* WARDD_CONN_PER_UID: all nobody may hold */

struct holdctx {
	int ready_fd, stop;
};

/* The conversation of a login left at the prompt: say so, then stop (or
 * wait) there until killed. */
static int
hold_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct holdctx *h = data;

	for (int i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
		    msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
			if (write(h->ready_fd, "p", 1) != 1)
				_exit(1);
			if (h->stop)
				raise(SIGSTOP);
			for (;;)
				pause();
		}
	*resp = calloc((size_t)n, sizeof(**resp));
	return *resp != NULL ? PAM_SUCCESS : PAM_CONV_ERR;
}

/* A child that is nobody, logging in on sec and holding at the prompt
 * (STOP: stopping itself there); one that never reaches a prompt writes
 * 'x' and exits 0 when it was denied.  Its pid. */
static pid_t
holder_child(int ready_fd, int stop)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct holdctx h = { ready_fd, stop };
		struct pam_conv c = { hold_conv, &h };
		pam_handle_t *ph = NULL;
		int rc;

		if (become_nobody() != 0)
			_exit(90);
		if (pam_start_confdir("sec", "nobody", &c, pamd, &ph) != PAM_SUCCESS)
			_exit(91);
		rc = pam_authenticate(ph, 0);
		pam_end(ph, rc);
		if (write(ready_fd, "x", 1) != 1)
			_exit(92);
		_exit(rc == PAM_AUTHINFO_UNAVAIL ? 0 : 93);
	}
	return pid;
}

/* nobody's flood: 100 connections kept open (wardd keeps at most 8 of a
 * uid, and these are over), until the parent closes GO. */
struct flood {
	int ready_fd, go_fd;
};

static int
flood(void *arg)
{
	struct flood *f = arg;
	struct sockaddr_un sa;
	int fds[100], n = 0;
	char c;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof(sa.sun_path))
		return 1;
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	for (int i = 0; i < 100; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] >= 0 && connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) == 0)
			n++;
	}
	c = n > 0 ? 'f' : 'e';
	if (write(f->ready_fd, &c, 1) != 1)
		return 1;
	if (read(f->go_fd, &c, 1) < 0)
		return 1;
	for (int i = 0; i < 100; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return 0;
}

/* Read one byte from FD within MS: the byte, or 0. */
static char
read_byte(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char c = 0;

	if (poll(&p, 1, ms) == 1 && read(fd, &c, 1) == 1)
		return c;
	return 0;
}

/* nobody's own login on sec with CODE: 0 when it succeeds. */
static int
nobody_login(void *code)
{
	return run_pam("sec", "nobody", "auth,acct", code) == PAM_SUCCESS ? 0 : 1;
}

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
test_nobody_cannot_hold_up_logins(void)
{
	pid_t holders[HOLDERS], extra, flooder;
	int ready[2], fready[2], go[2], status, held = 0;
	struct flood f;
	struct timespec t0;
	char code[16], ncode[16], c;
	long ms;

	/* alice's code first (wardctl re-enrols her), in a fresh time step */
	alice_code(code);
	sleep(2);     /* nobody's request bucket full again (wardd: 20, then 10 a second) */
	CU_ASSERT_EQUAL_FATAL(pipe(ready), 0);
	/* nobody's logins at the prompt: the last two stop themselves there */
	for (int i = 0; i < HOLDERS; i++) {
		holders[i] = holder_child(ready[1], i >= HOLDERS - 2);
		CU_ASSERT_FATAL(holders[i] > 0);
	}
	for (int i = 0; i < HOLDERS; i++)
		held += (c = read_byte(ready[0], 5000)) == 'p';
	if (held != HOLDERS)
		fprintf(stderr, "\n  %d of nobody's %d logins reached the prompt\n", held, HOLDERS);
	CU_ASSERT_EQUAL(held, HOLDERS);
	for (int i = HOLDERS - 2; i < HOLDERS; i++)
		CU_ASSERT_EQUAL(tu_wait_stopped(holders[i], 2000), 0);
	/* one login more of nobody's: refused (its connections are all
	 * taken), failing closed, not waiting */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	extra = holder_child(ready[1], 0);
	CU_ASSERT_FATAL(extra > 0);
	c = read_byte(ready[0], 7000);
	CU_ASSERT_EQUAL(c, 'x');
	if (c != 'x')
		kill(extra, SIGKILL);
	CU_ASSERT_EQUAL(waitpid(extra, &status, 0), extra);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT(tu_ms_since(&t0) < 3000);
	/* and a flood of its connections on top */
	CU_ASSERT_EQUAL_FATAL(pipe(fready), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(go), 0);
	f.ready_fd = fready[1];
	f.go_fd = go[0];
	flooder = fork();
	CU_ASSERT_FATAL(flooder >= 0);
	if (flooder == 0) {
		close(go[1]);
		_exit(become_nobody() != 0 ? 90 : flood(&f));
	}
	close(go[0]);
	close(fready[1]);
	CU_ASSERT_EQUAL(read_byte(fready[0], 5000), 'f');

	/* root's login and wardctl go on, promptly */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(run_pam("sec", "alice", "auth,acct,open", code), PAM_SUCCESS);
	CU_ASSERT_EQUAL(pt_nprompts, 1);
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' status alice", wardctl, ctlconf), 0);
	ms = tu_ms_since(&t0);
	if (ms >= 3000)
		fprintf(stderr, "\n  root's login and wardctl took %ld ms\n", ms);
	CU_ASSERT(ms < 3000);

	/* the stopped and waiting clients go; their phases end */
	close(go[1]);
	CU_ASSERT_EQUAL(waitpid(flooder, &status, 0), flooder);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fready[0]);
	for (int i = 0; i < HOLDERS; i++) {
		kill(holders[i], SIGKILL);
		CU_ASSERT_EQUAL(waitpid(holders[i], &status, 0), holders[i]);
	}
	close(ready[0]);
	close(ready[1]);
	/* nobody itself logs in again (its connections are free) */
	fresh_code("nobody", nobody_b32, ncode);
	{
		struct timespec t1;
		int r = -1;

		/* wardd notices the closed connections as it serves them */
		clock_gettime(CLOCK_MONOTONIC, &t1);
		do {
			r = as_nobody(nobody_login, ncode);
			if (r == 0)
				break;
			usleep(200000);
		} while (tu_ms_since(&t1) < 3000);
		CU_ASSERT_EQUAL(r, 0);
	}
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock nobody", wardctl, ctlconf), 0);
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
	CU_add_test(s, "unreadable or invalid config: old one stays, no start, fail closed",
	    test_unreadable_config_denies);
	CU_add_test(s, "config= in a PAM stack refused", test_config_option_refused);
	CU_add_test(s, "ward.conf @include refused", test_conf_include_refused);
	CU_add_test(s, "user names padded, with controls, or in other case", test_user_name_variants);
	CU_add_test(s, "same prompts and answers whether a user exists or not",
	    test_prompts_same_for_any_user);
	CU_add_test(s, "debug never logs a code or a secret", test_debug_logs_no_secret);
	CU_add_test(s, "another user's login asked by nobody: refused, nothing asked",
	    test_nobody_refused_for_another_user);
	CU_add_test(s, "the caller's environment does not reach the decision",
	    test_caller_environment_ignored);
	CU_add_test(s, "nobody cannot hold up logins (prompts, stopped clients, a flood)",
	    test_nobody_cannot_hold_up_logins);
	CU_add_test(s, "lock held on the store: bounded wait, then deny",
	    test_lock_held_bounded_wait);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
