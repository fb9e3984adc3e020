/*
 * test_fault.c - fault injection across whole PAM transactions.
 *
 * Loads build/tests/fault/pam_ward_fault.so (the module's objects linked
 * with -Wl,--wrap for the calls in the Makefile's FAULT_WRAP; fault.h)
 * through real libpam with a private ward.conf, and for N = 1, 2, ...
 * until a run makes no Nth wrapped call, forks a child that arms "the Nth
 * call fails" and runs auth (a fresh valid code) + account + open_session
 * + close_session, stopping at the first phase that fails, as a login
 * program does.  Before each run the parent resets the user's watermark,
 * failure count, lockout and grace through the store API, so every run
 * gets a fresh code without waiting for the next time step.
 *
 * Scenarios (one CUnit test each):
 *  - local roles, mfa_grace (grace read and written), audit.fsync on;
 *  - roles from a throwaway slapd over StartTLS, offline_max_age 0 (a
 *    directory that cannot answer must deny), groups found by
 *    group_filter searches only, through a nested group;
 *  - over LDAPS, groups from memberOf values only, a user whose two groups
 *    make a separation-of-duty deny: losing either group through a fault
 *    could turn it into an allow, so here every run must end in a denial
 *    at account.
 * Every decision recorded must carry the roles of the clean run: a fault
 * that makes part of the directory's answer vanish is caught even when
 * the outcome happens to stay a denial.
 * Then every N whose call was a write(2) again with a short write (half
 * the bytes on disk, the rest refused with ENOSPC).
 *
 * After each run:
 *  - the child exited by itself (no signal, no sanitizer report; under
 *    ASan, LeakSanitizer found no leak in it; a hang is killed after 30 s);
 *  - `wardctl audit verify` passes: the chain holds and reaches the
 *    store's head (no torn, lost or uncommitted record);
 *  - the store opens, the user's record and directory cache decode;
 *  - a clean run (no fault injected) gives the expected outcome;
 *  - a run with a fault: every phase that returned PAM_SUCCESS has its
 *    audit record from this process; an auth success committed the code's
 *    step as the watermark (no replayable success); no phase that failed
 *    was recorded as a success; a failed fsync/fdatasync never ends in
 *    success of its phase (but for a policy snapshot's: a cache, not put
 *    in place when its flush fails); in the deny scenario account never
 *    succeeds.
 * Violations are listed with N, the failed call, its caller (function and
 * line from addr2line) and the phase results.
 *
 * WARD_FAULT_VERBOSE=1 prints every run; WARD_FAULT_ONLY=K runs scenario K.
 */
#include <CUnit/Basic.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <liboath/oath.h>
#include <security/pam_appl.h>

#include "fault.h"
#include "pamtest.h"
#include "slapdtest.h"
#include "state.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
/* libldap 2.5 leaves GnuTLS objects behind per TLS handle (see
 * tests/dir/test_dir.c); those allocations are GnuTLS's own. */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:libgnutls.so\nleak:libtasn1.so\n";
}
#else
#define HAVE_LSAN 0
#endif

#define MAX_N 20000
#define CHILD_TIMEOUT 30
#define EXIT_LEAK 3
#define EXIT_SETUP 4

static char root[512], pamd[600], statedir[600], auditlog[600], auditkey[600];
static char module[600], wardctl[600], ldapdir[600];
static char conf_local[600], conf_tls[600], conf_ldaps[600], childerr[600];
static int verbose;
static ward_fault_arm_fn arm;

static const char policy_text[] =
    "roles = { clinician = { }; nurse = { inherits = [\"clinician\"]; };\n"
    "  physician = { inherits = [\"clinician\"]; };\n"
    "  pharmacist = { inherits = [\"clinician\"]; }; };\n"
    "users = ( { user = \"lena\"; roles = [\"nurse\"]; },\n"
    "  { user = \"mara\"; roles = [\"nurse\"]; } );\n"
    "role_sources = (\n"
    "  { group = \"cn=nurses,ou=groups,dc=example,dc=org\"; role = \"nurse\"; },\n"
    "  { group = \"cn=physicians,ou=groups,dc=example,dc=org\"; role = \"physician\"; },\n"
    "  { group = \"cn=pharmacists,ou=groups,dc=example,dc=org\"; role = \"pharmacist\"; } );\n"
    "apps = { ehr = [\"fault-ehr\", \"fault-dir-ehr\"]; pharmacy = [\"fault-dir-rx\"]; };\n"
    "rules = (\n"
    "  { id = \"nurses-ehr\"; effect = \"allow\"; roles = [\"nurse\"]; apps = [\"ehr\"];\n"
    "    mfa = \"required\"; mfa_grace = 300; idle_logoff = 600; session_max = 43200; },\n"
    "  { id = \"pharmacists-rx\"; effect = \"allow\"; roles = [\"pharmacist\"];\n"
    "    apps = [\"pharmacy\"]; mfa = \"required\"; } );\n"
    "separation_of_duty = ( { roles = [\"pharmacist\", \"physician\"];\n"
    "  reason = \"Prescribing and dispensing must be done by different people\"; } );\n";

enum { DIR_NONE, DIR_STARTTLS, DIR_LDAPS };

static const struct scenario {
	const char *name, *service, *user, *b32;
	int dir;
	int allow;      /* the clean run: 1 every phase succeeds; 0 auth succeeds, account denies */
} scen[] = {
	{ "local roles, grace, audit fsync", "fault-ehr", "lena",
	  "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", DIR_NONE, 1 },
	{ "directory roles over StartTLS (nested group)", "fault-dir-ehr", "alice",
	  "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", DIR_STARTTLS, 1 },
	{ "directory over LDAPS: separation-of-duty deny", "fault-dir-rx", "oscar",
	  "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U", DIR_LDAPS, 0 },
};
#define NSCEN (sizeof(scen) / sizeof(scen[0]))

static const char *const phase_name[] = { "start", "auth", "account", "open_session",
	"close_session" };
/* The audit record each phase writes when it succeeds. */
static const char *const phase_event[] = { NULL, "auth", "account", "session_open",
	"session_close" };
static const char *const phase_ok[] = { NULL, "success", "allow", "success", "success" };

/* What a child reports, in memory shared with the parent. */
struct run {
	struct fault_shared f;
	int ran;                     /* phases called (1..4) */
	int rc[5];                   /* rc[1..4] of the phases called */
	int code_prompts;
};

/* ---- helpers ---- */

/* TOTP code of B32 at NOW (liboath: independent of lib/otp.c); its step. */
static int
totp(const char *b32, time_t now, char code[16], int64_t *step)
{
	char *key = NULL;
	size_t klen = 0;
	int r;

	if (oath_base32_decode(b32, strlen(b32), &key, &klen) != OATH_OK)
		return -1;
	r = oath_totp_generate(key, klen, now, 30, 0, 6, code);
	free(key);
	*step = (int64_t)now / 30;
	return r == OATH_OK ? 0 : -1;
}

/* A fresh start for USER: no watermark, failures, lockout or grace, so a
 * new code of the current step is accepted.  0 or WARD_ERR_*. */
static int
reset_user(const char *user)
{
	struct state *st = NULL;
	struct state_user u;
	int r;

	memset(&u, 0, sizeof(u));
	if ((r = state_open(&st, statedir, 0)) != 0)
		return r;
	if ((r = state_user_get(st, user, &u)) == 0) {
		u.last_step = -1;
		u.failures = 0;
		u.locked_until = 0;
		r = state_user_put(st, user, &u);
	}
	state_user_clear(&u);
	if (r == 0)
		r = state_grace_clear_user(st, user);
	state_close(st);
	return r;
}

/* ---- the child: one PAM transaction ---- */

static const char *conv_code;
static struct run *conv_run;

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	(void)data;
	if (r == NULL)
		return PAM_CONV_ERR;
	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF) {
			struct fault_shared *f = &conv_run->f;
			size_t room = sizeof(f->trace_buf) - f->trace_len;

			/* the prompt in the trace: work moved across it shows */
			if (f->trace && !f->trace_full) {
				int m = snprintf(f->trace_buf + f->trace_len, room, "PROMPT@%d\n",
				    f->phase);
				if (m < 0 || (size_t)m >= room)
					f->trace_full = 1;
				else
					f->trace_len += (size_t)m;
			}
			conv_run->code_prompts++;
			r[i].resp = strdup(conv_code);
		} else if (msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
			r[i].resp = strdup("");	/* break-glass: declined */
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static void __attribute__((noreturn))
child(const struct scenario *s, const char *code, struct run *run)
{
	struct pam_conv c = { conv, NULL };
	pam_handle_t *h = NULL;
	int rc;

	alarm(CHILD_TIMEOUT);
	conv_code = code;
	conv_run = run;
	arm(&run->f);
	if (pam_start_confdir(s->service, s->user, &c, pamd, &h) != PAM_SUCCESS)
		_exit(EXIT_SETUP);
	for (int p = 1; p <= 4; p++) {
		run->f.phase = p;
		switch (p) {
		case 1: rc = pam_authenticate(h, 0); break;
		case 2: rc = pam_acct_mgmt(h, 0); break;
		case 3: rc = pam_open_session(h, 0); break;
		default: rc = pam_close_session(h, 0); break;
		}
		run->rc[p] = rc;
		run->ran = p;
		if (rc != PAM_SUCCESS)
			break;
	}
	run->f.phase = 5;
	pam_end(h, run->rc[run->ran]);
	run->f.phase = 0;
	arm(NULL);
#if HAVE_LSAN
	if (__lsan_do_recoverable_leak_check() != 0)
		_exit(EXIT_LEAK);
#endif
	_exit(0);
}

/* Run child() in a new process with its stderr in CHILDERR; its wait
 * status in *ST.  Its pid, or -1 when it cannot fork. */
static pid_t
spawn(const struct scenario *s, const char *code, struct run *run, int *st)
{
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int fd = open(childerr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(EXIT_SETUP);
		child(s, code, run);
	}
	while (waitpid(pid, st, 0) < 0 && errno == EINTR)
		;
	return pid;
}

/* ---- checks in the parent ---- */

/* What the records a run appended say. */
struct recs {
	int ok[5];                   /* phase P's success records */
	int decided;                 /* records carrying a decision (policy_version) */
	int wrong_roles;             /* ... whose roles differ from the clean run's */
	char roles[512];             /* the roles of the first decided record */
	char bad_roles[512];         /* the first that differed */
};

/* The "roles":[...] of LINE into BUF ("" when absent). */
static void
roles_of(const char *line, char *buf, size_t len)
{
	const char *a = strstr(line, ",\"roles\":["), *b;

	buf[0] = '\0';
	if (a == NULL || (b = strchr(a + 10, ']')) == NULL)
		return;
	snprintf(buf, len, "%.*s", (int)(b - a - 9), a + 9);
}

/* Records appended from OFF on by PID.  EXPECT_ROLES: the roles every
 * decided record must carry (NULL: not checked).  The format is fixed
 * (lib/audit.h: field order, no spaces); whether each line is well formed
 * and chained is wardctl's to say.  (Written before lib/audit.h renamed
 * audit_open/audit_close to audit_log_open/audit_log_close, which had made
 * libpam's own libaudit calls land in Ward's code in a program linking
 * both; reading the lines here keeps the test independent of the parser.) */
static void
read_records(off_t off, long long pid, const char *expect_roles, struct recs *rc)
{
	size_t len = 0;
	char *text = tu_read(auditlog, &len), *line, *save = NULL, want[64];

	memset(rc, 0, sizeof(*rc));
	if (text == NULL || (size_t)off > len) {
		free(text);
		return;
	}
	snprintf(want, sizeof(want), ",\"pid\":%lld,", pid);
	for (line = strtok_r(text + off, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char roles[512];

		if (strstr(line, want) == NULL)
			continue;
		for (int p = 1; p <= 4; p++) {
			char ev[64], res[64];

			snprintf(ev, sizeof(ev), ",\"event\":\"%s\",", phase_event[p]);
			snprintf(res, sizeof(res), ",\"result\":\"%s\",", phase_ok[p]);
			if (strstr(line, ev) != NULL && strstr(line, res) != NULL)
				rc->ok[p]++;
		}
		if (strstr(line, ",\"policy_version\":null,") != NULL)
			continue;
		roles_of(line, roles, sizeof(roles));
		if (rc->decided++ == 0)
			snprintf(rc->roles, sizeof(rc->roles), "%s", roles);
		if (expect_roles != NULL && strcmp(roles, expect_roles) != 0 &&
		    rc->wrong_roles++ == 0)
			snprintf(rc->bad_roles, sizeof(rc->bad_roles), "%s", roles);
	}
	free(text);
}

static off_t
file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? sb.st_size : 0;
}

/* `wardctl audit verify`: the chain holds and reaches the store's head.
 * 0 when it passes; its output in MSG otherwise. */
static int
chain_ok(char *msg, size_t len)
{
	char cmd[1400], *out;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' --config '%s' audit verify", wardctl, conf_local);
	out = tu_run(cmd, 1, &st);
	if (st != 0)
		snprintf(msg, len, "%s", out != NULL ? out : "(no output)");
	free(out);
	return st;
}

/* The store opens; USER's record, directory cache and the audit head
 * decode; *LAST_STEP gets the watermark.  0 or WARD_ERR_*. */
static int
store_ok(const char *user, int64_t *last_step, char *msg, size_t len)
{
	struct state *st = NULL;
	struct state_user u;
	struct state_audit_head hd;
	char *blob = NULL;
	int64_t at = 0;
	int r;

	memset(&u, 0, sizeof(u));
	if ((r = state_open(&st, statedir, 0)) != 0) {
		snprintf(msg, len, "state store does not open: %s", ward_strerror(r));
		return r;
	}
	if ((r = state_user_get(st, user, &u)) != 0)
		snprintf(msg, len, "record of %s: %s", user, ward_strerror(r));
	else if ((r = state_dircache_get(st, user, &blob, &at)) != 0 && r != WARD_ERR_NOTFOUND)
		snprintf(msg, len, "directory cache of %s: %s", user, ward_strerror(r));
	else if ((r = state_audit_head_get(st, &hd)) != 0)
		snprintf(msg, len, "audit head: %s", ward_strerror(r));
	*last_step = u.last_step;
	free(blob);
	state_user_clear(&u);
	state_close(st);
	return r;
}

/* ---- known gaps ---- */

/*
 * Violations this test found that are reported and not fixed yet.  Each
 * still has to happen (it is checked, like an XFAIL elsewhere): it prints
 * XFAIL instead of failing; WARD_STRICT_XFAIL=1 makes it fail.  A gap is
 * (the check that caught it, the failed call, a function in its caller's
 * inline chain or NULL for any).  Remove a row once its gap is fixed: the
 * sweep then says the gap no longer shows.
 */
static const struct gap {
	const char *check, *call, *site, *what;
} gaps[] = {
	/* None known.  Fixed since this harness found them: core_map_groups
	 * skipping a role source whose DN could not be normalised; dir.c
	 * skipping an entry whose DN or memberOf could not be read; a record
	 * whose head commit failed staying in the log.  The empty row below
	 * only keeps the table valid C. */
	{ NULL, NULL, NULL, NULL },
};
#define NGAPS (sizeof(gaps) / sizeof(gaps[0]))

static unsigned gap_total[NGAPS];	/* over every scenario */

/* ---- the sweep ---- */

struct fnstat {
	char name[FAULT_NAME_MAX];
	unsigned hits, denied, tolerated;
};

struct sweep {
	const struct scenario *s;
	char expect_roles[512];      /* from the clean run */
	unsigned long runs, violations, xfails;
	unsigned gap_seen[NGAPS];
	struct fnstat fn[64];
	size_t nfn;
	unsigned long tol_site[256]; /* callers whose failure was tolerated */
	char tol_name[256][FAULT_NAME_MAX];
	size_t ntol;
};

static struct fnstat *
fnstat(struct sweep *w, const char *name)
{
	for (size_t i = 0; i < w->nfn; i++)
		if (strcmp(w->fn[i].name, name) == 0)
			return &w->fn[i];
	if (w->nfn == sizeof(w->fn) / sizeof(w->fn[0]))
		return &w->fn[w->nfn - 1];
	snprintf(w->fn[w->nfn].name, FAULT_NAME_MAX, "%s", name);
	return &w->fn[w->nfn++];
}

/* "fn at file:line < caller at file:line" of offset SITE in the test
 * module: the inline chain addr2line gives for the call's address. */
static void
site_name(unsigned long site, char *buf, size_t len)
{
	char cmd[1024], *out, *line, *save = NULL;
	size_t off = 0;
	int st, i = 0;

	buf[0] = '\0';
	/* the return address is the instruction after the call */
	snprintf(cmd, sizeof(cmd), "addr2line -f -i -s -e '%s' 0x%lx 2>/dev/null", module,
	    site ? site - 1 : 0);
	out = tu_run(cmd, 0, &st);
	if (out == NULL || st != 0) {
		snprintf(buf, len, "+0x%lx", site);
		free(out);
		return;
	}
	for (line = strtok_r(out, "\n", &save); line != NULL && off < len;
	    line = strtok_r(NULL, "\n", &save), i++) {
		int k = snprintf(buf + off, len - off, "%s%s", i == 0 ? "" : i % 2 ? " at " :
		    " < ", line);
		if (k < 0)
			break;
		off += (size_t)k;
	}
	free(out);
}

static void
rc_list(const struct run *run, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int p = 1; p <= run->ran && off < len; p++) {
		int k = snprintf(buf + off, len - off, "%s%s=%d", p > 1 ? " " : "",
		    phase_name[p], run->rc[p]);
		if (k < 0)
			break;
		off += (size_t)k;
	}
}

static void
violation(struct sweep *w, unsigned long n, const struct run *run, const char *check,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Report a violation found by CHECK, unless it is a known gap. */
static void
violation(struct sweep *w, unsigned long n, const struct run *run, const char *check,
    const char *fmt, ...)
{
	char what[2048], where[1024] = "-", rcs[256], mode[64] = "";
	const struct gap *g = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (run->f.injected) {
		site_name(run->f.site, where, sizeof(where));
		for (size_t i = 0; i < NGAPS && g == NULL; i++)
			if (gaps[i].check != NULL && strcmp(gaps[i].check, check) == 0 &&
			    strcmp(gaps[i].call, run->f.name) == 0 &&
			    (gaps[i].site == NULL || strstr(where, gaps[i].site) != NULL)) {
				g = &gaps[i];
				w->gap_seen[i]++;
			}
	}
	if (run->f.only[0] != '\0')
		snprintf(mode, sizeof(mode), " (only %s%s)", run->f.only,
		    run->f.short_writes ? ", short" : "");
	rc_list(run, rcs, sizeof(rcs));
	if (g != NULL && getenv("WARD_STRICT_XFAIL") == NULL) {
		if (verbose)
			printf("  XFAIL [%s] N=%lu%s: %s: %s in %s\n", w->s->name, n, mode, g->what,
			    run->f.name, where);
		w->xfails++;
		return;
	}
	printf("\n  VIOLATION [%s] N=%lu%s: %s\n    failed call: %s (in %s, during %s)\n"
	    "    phases: %s\n", w->s->name, n, mode, what,
	    run->f.injected ? run->f.name : "none", where,
	    phase_name[run->f.injected_phase <= 4 ? run->f.injected_phase : 0], rcs);
	w->violations++;
}

/* One run with the Nth wrapped call failing (ONLY: counting calls of that
 * function alone; SHORT: a failing write is short; N 0: no fault).
 * Returns 1 when a fault was injected, 0 for a clean run, -1 when the
 * harness itself failed. */
static int
one_run(struct sweep *w, struct run *run, unsigned long n, const char *only, int short_writes)
{
	const struct scenario *s = w->s;
	char code[16], msg[1200];
	int64_t step, last = -2;
	struct recs rc;
	int st, r, expect_ok;
	off_t off;
	pid_t pid;

	if ((r = reset_user(s->user)) != 0) {
		printf("  [%s] cannot reset %s before the run: %s\n", s->name, s->user,
		    ward_strerror(r));
		return -1;
	}
	if (totp(s->b32, time(NULL), code, &step) != 0)
		return -1;
	off = file_size(auditlog);
	memset(run, 0, sizeof(*run));
	run->f.target = n;
	run->f.short_writes = short_writes;
	snprintf(run->f.only, sizeof(run->f.only), "%s", only ? only : "");
	for (int attempt = 1;; attempt++) {
		char *err;

		if ((pid = spawn(s, code, run, &st)) < 0)
			return -1;
		w->runs++;
		err = tu_read(childerr, NULL);
		/* LeakSanitizer's stop-the-world (ptrace) now and then fails
		 * here under load; that says nothing about the run: again */
		if (err != NULL && strstr(err, "LeakSanitizer has encountered a fatal error") &&
		    attempt < 4) {
			free(err);
			if ((r = reset_user(s->user)) != 0 ||
			    totp(s->b32, time(NULL), code, &step) != 0)
				return -1;
			off = file_size(auditlog);
			memset(run, 0, sizeof(*run));
			run->f.target = n;
			run->f.short_writes = short_writes;
			snprintf(run->f.only, sizeof(run->f.only), "%s", only ? only : "");
			continue;
		}
		if (err != NULL && err[0] != '\0')
			fputs(err, stdout);
		free(err);
		break;
	}
	if (verbose) {
		char rcs[256];
		rc_list(run, rcs, sizeof(rcs));
		printf("  N=%lu %s%s %s\n", n, run->f.injected ? run->f.name : "(clean)",
		    short_writes ? " short" : "", rcs);
	}
	if (WIFSIGNALED(st))
		violation(w, n, run, "crash", "the child died of signal %d%s", WTERMSIG(st),
		    WTERMSIG(st) == SIGALRM ? " (hung for 30 s)" : "");
	else if (WEXITSTATUS(st) == EXIT_LEAK)
		violation(w, n, run, "leak", "LeakSanitizer found a leak (report above)");
	else if (WEXITSTATUS(st) != 0)
		violation(w, n, run, "exit", "the child exited %d (sanitizer report or setup "
		    "error above)", WEXITSTATUS(st));
	if (chain_ok(msg, sizeof(msg)) != 0)
		violation(w, n, run, "chain", "wardctl audit verify fails: %s", msg);
	if (store_ok(s->user, &last, msg, sizeof(msg)) != 0)
		violation(w, n, run, "store", "torn store: %s", msg);
	read_records(off, (long long)pid, n == 0 ? NULL : w->expect_roles, &rc);
	if (n == 0)
		snprintf(w->expect_roles, sizeof(w->expect_roles), "%s", rc.roles);

	/* the run without a fault gives the expected outcome */
	expect_ok = s->allow ? 4 : 1;
	if (!run->f.injected) {
		int good = s->allow ? run->ran == 4 && run->rc[4] == PAM_SUCCESS :
		    run->ran == 2 && run->rc[1] == PAM_SUCCESS && run->rc[2] == PAM_PERM_DENIED;
		if (!good)
			violation(w, n, run, "clean", "the run without a fault did not give the "
			    "expected outcome (%s)", s->allow ? "every phase succeeds" :
			    "auth succeeds, account denies");
		if (n > 0 && run->f.calls == 0)
			violation(w, n, run, "clean", "no wrapped call was made: is the module "
			    "wrapped?");
		if (rc.decided == 0)
			violation(w, n, run, "clean", "no decision was recorded");
	}
	/* a success is a correct success; a denial is not recorded as one */
	for (int p = 1; p <= run->ran; p++) {
		if (run->rc[p] == PAM_SUCCESS) {
			if (rc.ok[p] != 1)
				violation(w, n, run, "unrecorded", "%s returned PAM_SUCCESS with %d "
				    "%s/%s audit records (want 1)", phase_name[p], rc.ok[p],
				    phase_event[p], phase_ok[p]);
			if (p == 1 && run->code_prompts > 0 && last != step)
				violation(w, n, run, "replayable", "auth succeeded but the watermark "
				    "is %lld, not the code's step %lld: the code can be used again",
				    (long long)last, (long long)step);
		} else if (rc.ok[p] != 0) {
			violation(w, n, run, "recorded", "%s was denied (%d) but the log records "
			    "it as %s", phase_name[p], run->rc[p], phase_ok[p]);
		}
	}
	if (rc.wrong_roles)
		violation(w, n, run, "roles", "%d decision(s) recorded with roles %s, not "
		    "%s: part of the user's roles went missing", rc.wrong_roles, rc.bad_roles,
		    w->expect_roles);
	if (!s->allow && run->ran >= 2 && run->rc[2] == PAM_SUCCESS)
		violation(w, n, run, "allowed", "account ALLOWED a user the policy denies");
	if (run->f.injected) {
		struct fnstat *f = fnstat(w, run->f.name);
		int ip = run->f.injected_phase;
		int phase_good = ip >= 1 && ip <= 4 && run->ran >= ip && run->rc[ip] == PAM_SUCCESS;
		int outcome = s->allow ? run->ran == 4 && run->rc[4] == PAM_SUCCESS :
		    run->ran == 2 && run->rc[1] == PAM_SUCCESS;

		f->hits++;
		/* a snapshot whose flush failed is not put in place: the text
		 * decides, and the phase may succeed */
		if (phase_good && !run->f.cache_fsync && (strcmp(run->f.name, "fsync") == 0 ||
		    strcmp(run->f.name, "fdatasync") == 0))
			violation(w, n, run, "fsync", "a failed %s was ignored: %s succeeded "
			    "without its data on disk", run->f.name, phase_name[ip]);
		(void)expect_ok;
		if (outcome) {
			size_t i;

			f->tolerated++;
			/* remember where a failure made no difference */
			for (i = 0; i < w->ntol; i++)
				if (w->tol_site[i] == run->f.site)
					break;
			if (i == w->ntol && w->ntol < sizeof(w->tol_site) / sizeof(w->tol_site[0])) {
				w->tol_site[w->ntol] = run->f.site;
				snprintf(w->tol_name[w->ntol], FAULT_NAME_MAX, "%s", run->f.name);
				w->ntol++;
			}
		} else {
			f->denied++;
		}
	}
	return run->f.injected ? 1 : 0;
}

static double
secs_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
sweep(const struct scenario *s)
{
	struct sweep *w = calloc(1, sizeof(*w));
	struct run *run;
	struct timespec t0;
	unsigned long n, all_n = 0, write_n = 0;
	char msg[1200];
	int r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	run = mmap(NULL, sizeof(*run), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(run != MAP_FAILED);
	w->s = s;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* a clean run first: the outcome and the roles every decision carries */
	r = one_run(w, run, 0, NULL, 0);
	CU_ASSERT_EQUAL(r, 0);
	/* every wrapped call in turn */
	for (n = 1, r = 1; n <= MAX_N && r == 1; n++)
		r = one_run(w, run, n, NULL, 0);
	if (r == 0)
		all_n = n - 1;
	else
		CU_FAIL("the sweep over every call did not reach a clean run");
	/* every write(2) again, cut short half-way */
	for (n = 1, r = 1; n <= MAX_N && r == 1; n++)
		r = one_run(w, run, n, "write", 1);
	if (r == 0)
		write_n = n - 2;
	else
		CU_FAIL("the sweep over short writes did not reach a clean run");
	printf("\n  [%s] calls 1..%lu each failed once (N=%lu is the clean run), "
	    "%lu short writes; %lu runs in %.1f s; %lu violations, %lu known (XFAIL)\n",
	    s->name, all_n ? all_n - 1 : 0, all_n, write_n, w->runs, secs_since(&t0),
	    w->violations, w->xfails);
	printf("    %-20s %5s %7s %10s\n", "call", "hits", "denied", "tolerated");
	for (size_t i = 0; i < w->nfn; i++)
		printf("    %-20s %5u %7u %10u\n", w->fn[i].name, w->fn[i].hits,
		    w->fn[i].denied, w->fn[i].tolerated);
	if (w->ntol > 0) {
		printf("    failures after which the run still ended as without them:\n");
		for (size_t i = 0; i < w->ntol; i++) {
			site_name(w->tol_site[i], msg, sizeof(msg));
			printf("      %-19s in %s\n", w->tol_name[i], msg);
		}
	}
	for (size_t i = 0; i < NGAPS; i++) {
		gap_total[i] += w->gap_seen[i];
		if (gaps[i].what != NULL && w->gap_seen[i])
			printf("    XFAIL x%u: %s (%s failing)\n", w->gap_seen[i], gaps[i].what,
			    gaps[i].call);
	}
	CU_ASSERT_EQUAL(w->violations, 0);
	munmap(run, sizeof(*run));
	free(w);
}

/* ---- setup ---- */

static int
write_conf(const char *path, int dir, const char *uri, const char *ca)
{
	char text[8192], dirtext[2048] = "";

	if (dir != DIR_NONE)
		snprintf(dirtext, sizeof(dirtext),
		    "directory = {\n  uri = [\"%s\"];\n  starttls = %s;\n"
		    "  base = \"dc=example,dc=org\";\n"
		    "  bind_dn = \"cn=ward,ou=services,dc=example,dc=org\";\n"
		    "  bind_password_file = \"%s/etc/ldap.secret\";\n  ca_file = \"%s\";\n"
		    "  user_filter = \"(&(objectClass=inetOrgPerson)(uid=%%u))\";\n%s"
		    "  timeout_ms = 2000;\n  cache_seconds = 0;\n  offline_max_age = 0;\n};\n",
		    uri, dir == DIR_STARTTLS ? "true" : "false", root, ca,
		    /* one way to find groups each, so a lost answer is not made up
		     * for by the other: group_filter searches (no memberOf), or
		     * memberOf values alone */
		    dir == DIR_STARTTLS ?
		    "  group_filter = \"(&(objectClass=groupOfNames)(member=%d))\";\n"
		    "  member_of_attr = \"wardNoSuchAttribute\";\n" : "");
	snprintf(text, sizeof(text),
	    "policy_file = \"%s/etc/policy.conf\";\nstate_dir = \"%s\";\n%s"
	    "secrets = { key_file = \"%s/etc/master.key\"; };\n"
	    "audit = { path = \"%s\"; key_file = \"%s\"; fsync = true; };\n",
	    root, statedir, dirtext, root, auditlog, auditkey);
	return tu_write(path, text, (size_t)-1, 0644);
}

static int
setup(void)
{
	char path[1200], uri[300], ldaps[300], ca[600];

	verbose = getenv("WARD_FAULT_VERBOSE") != NULL;
	snprintf(root, sizeof(root), "%s/tests/fault-run", tu_build());
	snprintf(pamd, sizeof(pamd), "%s/pam.d", root);
	snprintf(statedir, sizeof(statedir), "%s/state", root);
	snprintf(auditlog, sizeof(auditlog), "%s/log/audit.log", root);
	snprintf(auditkey, sizeof(auditkey), "%s/etc/audit.key", root);
	snprintf(conf_local, sizeof(conf_local), "%s/ward.conf", root);
	snprintf(conf_tls, sizeof(conf_tls), "%s/ward-starttls.conf", root);
	snprintf(conf_ldaps, sizeof(conf_ldaps), "%s/ward-ldaps.conf", root);
	snprintf(ldapdir, sizeof(ldapdir), "%s/ldap", root);
	snprintf(childerr, sizeof(childerr), "%s/child.stderr", root);
	snprintf(module, sizeof(module), "%s/tests/fault/pam_ward_fault.so", tu_build());
	snprintf(wardctl, sizeof(wardctl), "%s/wardctl", tu_build());
	if (oath_init() != OATH_OK)
		return 1;
	/* The module stays loaded: libpam's dlopen gets this handle. */
	{
		void *so = dlopen(module, RTLD_NOW | RTLD_LOCAL);
		if (so == NULL || (arm = (ward_fault_arm_fn)(uintptr_t)dlsym(so,
		    WARD_FAULT_ARM)) == NULL) {
			fprintf(stderr, "cannot load %s: %s\n", module, dlerror());
			return 1;
		}
	}
	if (tu_sh("rm -rf '%s' && mkdir -p '%s/etc' '%s' && chmod 0755 '%s' '%s/etc' '%s'",
	    root, root, pamd, root, root, pamd) != 0)
		return 1;
	if (tu_slapd_start(ldapdir) != 0)
		return 1;
	if (tu_slapd_env("LDAP_URI", uri, sizeof(uri)) != 0 ||
	    tu_slapd_env("LDAPS_URI", ldaps, sizeof(ldaps)) != 0 ||
	    tu_slapd_env("CA_FILE", ca, sizeof(ca)) != 0)
		return 1;
	if (write_conf(conf_local, DIR_NONE, NULL, NULL) != 0 ||
	    write_conf(conf_tls, DIR_STARTTLS, uri, ca) != 0 ||
	    write_conf(conf_ldaps, DIR_LDAPS, ldaps, ca) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/etc/ldap.secret", root);
	if (tu_write(path, "ward-demo-password", (size_t)-1, 0600) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/etc/policy.conf", root);
	if (tu_write(path, policy_text, (size_t)-1, 0644) != 0)
		return 1;
	if (pt_write_service(pamd, "fault-ehr", module, conf_local, NULL) ||
	    pt_write_service(pamd, "fault-dir-ehr", module, conf_tls, NULL) ||
	    pt_write_service(pamd, "fault-dir-rx", module, conf_ldaps, NULL))
		return 1;
	if (tu_sh("'%s' --config '%s' init >/dev/null", wardctl, conf_local) != 0)
		return 1;
	for (size_t i = 0; i < NSCEN; i++)
		if (tu_sh("'%s' --config '%s' enroll %s --secret %s --qr none >/dev/null", wardctl,
		    conf_local, scen[i].user, scen[i].b32) != 0)
			return 1;
	return 0;
}

static int
teardown(void)
{
	tu_slapd_stop();
	return 0;
}

static int only = -1;

static void
run_scenario(size_t i)
{
	if (only >= 0 && (size_t)only != i)
		return;
	sweep(&scen[i]);
}

/* ---- the same work whether a user exists or not ---- */

/*
 * What a passer-by may learn from the time an answer takes.  Users the
 * module must not tell apart (each answers "not enrolled" to the same
 * prompt): a name found nowhere, one only in passwd, one with roles in the
 * policy (a rule with a grace period allows them), and, from the
 * directory, one with no entry, one in a group and one in a nested group.
 * Each is traced through auth with a wrong code: every wrapped call other
 * than an allocation (open, read, write, fsync, rename, LMDB, libldap), in
 * order, with the moment the code prompt is shown marked in it (so work
 * moved from before the prompt to after it, for some users only, shows).
 * Equal traces mean the same files read, the same store
 * transactions and the same audit writes and syncs, whoever it is; a
 * difference in the work before the prompt (a grace looked up only for
 * users with roles) or after it shows up as a line that differs.  Timings
 * are not compared here (a shared CI machine makes them noise); bench/
 * run-60-enum.sh measures them.
 *
 * The directory's own round trips do differ: a user who is in groups
 * costs the group searches (one per level of nesting) that a name with no
 * entry does not.  Those lines are left out of the comparison and their
 * counts are printed; THREATS.md says so.
 */
static int
auth_trace(const char *service, const char *user, struct run *run, char *out, size_t len,
    int *ldap_calls)
{
	struct scenario sc = { "trace", service, user, NULL, DIR_NONE, 0 };
	const char *p;
	size_t o = 0;
	int st;

	memset(run, 0, sizeof(*run));
	run->f.trace = 1;
	/* a wrong code: "not enrolled" for all */
	if (spawn(&sc, "000000", run, &st) < 0)
		return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || run->f.trace_full || run->ran != 1)
		return -1;
	/* only the calls of the auth phase, libldap's counted apart */
	*ldap_calls = 0;
	out[0] = '\0';
	for (p = run->f.trace_buf; *p != '\0';) {
		size_t l = strcspn(p, "\n");

		if (l > 2 && p[l - 2] == '@' && p[l - 1] == '1') {
			if (strncmp(p, "ldap_", 5) == 0) {
				(*ldap_calls)++;
			} else if (o + l + 2 <= len) {
				memcpy(out + o, p, l + 1);
				o += l + 1;
				out[o] = '\0';
			} else {
				return -1;      /* OUT too small: no silent truncation */
			}
		}
		p += l + (p[l] == '\n');
	}
	return 0;
}

static int
lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* How many lines of A and B agree from the start; the first that differs. */
static void
first_difference(const char *a, const char *b, char *buf, size_t len)
{
	int line = 1;

	while (*a != '\0' && *a == *b) {
		if (*a == '\n')
			line++;
		a++;
		b++;
	}
	snprintf(buf, len, "line %d: \"%.*s\" vs \"%.*s\"", line, (int)strcspn(a, "\n"), a,
	    (int)strcspn(b, "\n"), b);
}

static void
test_same_work_for_any_user(void)
{
	static const struct who {
		const char *service, *user, *what;
	} who[] = {
		{ "fault-ehr", "zed-no-such-user", "a name found nowhere" },
		{ "fault-ehr", "daemon", "a name only in passwd" },
		{ "fault-ehr", "mara", "a nurse in the policy (grace rule), not enrolled" },
		{ "fault-dir-ehr", "zed-no-such-user", "no entry in the directory" },
		{ "fault-dir-ehr", "heidi", "in the nurses group, not enrolled" },
		{ "fault-dir-ehr", "frank", "in a nested nurses group, not enrolled" },
		{ "fault-dir-ehr", "carol", "in a group without a role, not enrolled" },
	};
	struct run *run = mmap(NULL, sizeof(*run), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	static char first[2][32768], cur[32768];
	char diff[512];
	int rc0[2] = { 0, 0 };

	CU_ASSERT_FATAL(run != MAP_FAILED);
	printf("\n");
	/* A snapshot compiled within 2 s of its text's last change is checked by
	 * the text's hash, and stamped again by the first load after that
	 * (policy/image.c): work that depends on the clock, not on the user.
	 * Let the text age first, so every traced load does the same. */
	{
		char pol[700];
		struct stat ps;

		snprintf(pol, sizeof(pol), "%s/etc/policy.conf", root);
		if (stat(pol, &ps) == 0 && time(NULL) < ps.st_ctim.tv_sec + 3)
			sleep((unsigned)(ps.st_ctim.tv_sec + 3 - time(NULL)));
	}
	/* once untraced: the first load of a new policy compiles its snapshot */
	for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
		int ldap;

		if (i == 0 || strcmp(who[i - 1].service, who[i].service) != 0)
			CU_ASSERT_EQUAL(auth_trace(who[i].service, who[i].user, run, cur,
			    sizeof(cur), &ldap), 0);
	}
	for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
		int d = strcmp(who[i].service, "fault-dir-ehr") == 0, ldap = 0;
		int first_of_kind = i == 0 || strcmp(who[i - 1].service, who[i].service) != 0;

		if (auth_trace(who[i].service, who[i].user, run, cur, sizeof(cur), &ldap) != 0) {
			printf("  %s (%s): the traced run failed (exit, trace size or phases)\n",
			    who[i].user, who[i].what);
			CU_FAIL("a traced run failed");
			continue;
		}
		printf("  %-14s %-16s %-50s rc %d, %3d calls, %d to libldap\n", who[i].service,
		    who[i].user, who[i].what, run->rc[1], lines(cur), ldap);
		if (verbose)
			printf("%s", cur);
		CU_ASSERT_EQUAL(run->code_prompts, 1);
		CU_ASSERT_EQUAL(run->rc[1], PAM_AUTH_ERR);
		/* a trace that saw nothing would compare equal to anything */
		CU_ASSERT_PTR_NOT_NULL(strstr(cur, "sync@1"));
		CU_ASSERT_PTR_NOT_NULL(strstr(cur, "mdb_txn_commit@1"));
		CU_ASSERT_PTR_NOT_NULL(strstr(cur, "PROMPT@1"));
		if (first_of_kind) {
			snprintf(first[d], sizeof(first[d]), "%s", cur);
			rc0[d] = run->rc[1];
			continue;
		}
		CU_ASSERT_EQUAL(run->rc[1], rc0[d]);
		if (strcmp(cur, first[d]) != 0) {
			first_difference(first[d], cur, diff, sizeof(diff));
			printf("    differs from %s's: %s\n", who[d ? 3 : 0].user, diff);
			CU_FAIL("the work done differs between users who must look alike");
		}
	}
	munmap(run, sizeof(*run));
}

/* The installed module has none of this: no wrappers, no switch. */
static void
test_release_clean(void)
{
	char path[600];
	size_t len = 0;
	char *so;

	snprintf(path, sizeof(path), "%s/pam_ward.so", tu_build());
	so = tu_read(path, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(so);
	CU_ASSERT_FALSE(tu_contains(so, len, WARD_FAULT_ARM, strlen(WARD_FAULT_ARM)));
	CU_ASSERT_FALSE(tu_contains(so, len, "__wrap_", 7));
	free(so);
}

static void test_local(void) { run_scenario(0); }
static void test_dir_starttls(void) { run_scenario(1); }
static void test_dir_sod(void) { run_scenario(2); }

int
main(void)
{
	unsigned fails;
	CU_pSuite s;

	if (getenv("WARD_FAULT_ONLY") != NULL)
		only = atoi(getenv("WARD_FAULT_ONLY"));
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("fault injection across a PAM transaction", setup, teardown);
	CU_add_test(s, "the release module has no fault hooks", test_release_clean);
	CU_add_test(s, "the same work whether a user exists or not", test_same_work_for_any_user);
	CU_add_test(s, "every call failing in turn: local roles, grace, audit fsync", test_local);
	CU_add_test(s, "every call failing in turn: directory over StartTLS", test_dir_starttls);
	CU_add_test(s, "every call failing in turn: a separation-of-duty deny stays a deny",
	    test_dir_sod);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	if (only < 0)
		for (size_t i = 0; i < NGAPS; i++)
			if (gaps[i].check != NULL && gap_total[i] == 0)
				printf("NOTE: known gap not seen in any scenario (fixed? then remove "
				    "its row from gaps[]): %s [%s, %s failing]\n", gaps[i].what,
				    gaps[i].check, gaps[i].call);
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	tu_slapd_stop();
	return fails ? 1 : 0;
}
