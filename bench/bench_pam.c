/*
 * bench_pam.c - end-to-end PAM transactions through real libpam: pam_ward
 * against pam_oath, pam_google_authenticator and pam_access, interleaved in
 * one process (not a test: it prints, never asserts on time).
 *
 *   bench_pam secret INDEX          base32 secret of user INDEX (for wardctl)
 *   bench_pam prepare DIR N MODULE  write the fixture (ward.conf x3, policies,
 *                                   usersfiles, google-authenticator file,
 *                                   access files, service files in DIR/pam.d)
 *   bench_pam enroll CONF FIRST N [STATEDIR]
 *                                   enroll users FIRST..N-1 straight into the
 *                                   store of CONF, or STATEDIR (what `wardctl
 *                                   enroll --secret` stores, without 10,000
 *                                   processes)
 *   bench_pam loop DIR N SERVICE COUNT [MODULE...]
 *                                   one case COUNT times, untimed, for a
 *                                   profiler (perf record, valgrind
 *                                   --tool=callgrind); MODULEs given are
 *                                   loaded once and kept, as in run
 *   bench_pam run DIR N ROUNDS MAXSEC [MODULE...]
 *                                   time the cases in rounds (each round runs
 *                                   every case once, starting at a rotating
 *                                   case), stop after ROUNDS or MAXSEC seconds;
 *                                   MODULEs given are loaded once and kept
 *
 * A transaction is pam_start_confdir + pam_authenticate (a valid code typed
 * at the prompt) + pam_acct_mgmt + pam_end, timed as a whole; account-only
 * cases run pam_start_confdir + pam_acct_mgmt + pam_end.  Codes come from
 * liboath (oath_totp_generate) for the current time step, untimed.
 *
 * Every module refuses a code whose step was already used, so each case
 * says how it gets a fresh one (untimed, outside the measured interval):
 *  - 10,000-user cases use each user once: the rotation is longer than a
 *    time step, and a user met again within the same step is skipped;
 *  - 1-user cases restore the user's state before each transaction: the
 *    pam_oath usersfile and the google-authenticator file are rewritten as
 *    they were after a login two steps ago, and pam_ward's replay watermark
 *    is set back through the state store API.
 * Everything the modules read is in a fresh folder, so the page cache is
 * warm for all of them alike.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <liboath/oath.h>
#include <math.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "secret.h"
#include "state.h"
#include "benchutil.h"

#define MODDIR "/lib/x86_64-linux-gnu/security"
#define SECRET_LEN 20
#define STEP 30
#define MAXCASES 16

/* ---- users and secrets ---- */

static void
user_name(int i, char out[16])
{
	snprintf(out, 16, "u%05d", i);
}

/* pam_access asks NSS whether the user exists (PAM_USER_UNKNOWN if not),
 * so its cases use accounts of this machine: the first MAXREAL of the
 * password file. */
#define MAXREAL 16
static char realnames[MAXREAL][64];
static int nreal;

static void
load_real_users(void)
{
	struct passwd *pw;

	setpwent();
	while (nreal < MAXREAL && (pw = getpwent()) != NULL)
		if (strlen(pw->pw_name) < sizeof(realnames[0]) && pw->pw_name[0] != '+')
			snprintf(realnames[nreal++], sizeof(realnames[0]), "%s", pw->pw_name);
	endpwent();
	if (nreal == 0) {
		fprintf(stderr, "bench_pam: no accounts in the password database\n");
		exit(2);
	}
}

/* Deterministic, distinct 20-byte secrets (xorshift seeded by the index). */
static void
user_secret(int i, unsigned char out[SECRET_LEN])
{
	uint64_t s = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ULL);

	for (int j = 0; j < SECRET_LEN; j++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		out[j] = (unsigned char)(s >> 24);
	}
}

static void
user_hex(int i, char out[2 * SECRET_LEN + 1])
{
	unsigned char k[SECRET_LEN];

	user_secret(i, k);
	for (int j = 0; j < SECRET_LEN; j++)
		snprintf(out + 2 * j, 3, "%02x", k[j]);
}

static int
user_b32(int i, char **out)
{
	unsigned char k[SECRET_LEN];
	size_t len;

	user_secret(i, k);
	return oath_base32_encode((const char *)k, SECRET_LEN, out, &len) == OATH_OK ? 0 : -1;
}

static void
code_for(int i, time_t t, char out[10])
{
	unsigned char k[SECRET_LEN];

	user_secret(i, k);
	if (oath_totp_generate((const char *)k, SECRET_LEN, t, STEP, 0, 6, out) != OATH_OK) {
		fprintf(stderr, "bench_pam: oath_totp_generate failed\n");
		exit(2);
	}
}

/* ---- files ---- */

/* pam_oath usersfile line as liboath leaves it after a login at time T. */
static void
oath_line(FILE *f, int i, time_t t)
{
	char name[16], hex[2 * SECRET_LEN + 1], code[10], when[32];
	struct tm tm;

	user_name(i, name);
	user_hex(i, hex);
	code_for(i, t, code);
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SL", &tm);
	fprintf(f, "HOTP/T30/6\t%s\t-\t%s\t0\t%s\t%s\n", name, hex, code, when);
}

static void
write_oath(const char *path, int n, time_t t)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL)
		bench_die(path);
	for (int i = 0; i < n; i++)
		oath_line(f, i, t);
	if (fclose(f) != 0 || chmod(path, 0600) != 0)
		bench_die(path);
}

/* google-authenticator's file, as its tool writes it (time-based, disallow
 * reuse, rate limit 3 per 30 s, window 3, five scratch codes), in the
 * state a login at time T leaves. */
static void
write_ga(const char *path, time_t t)
{
	char *b32 = NULL, text[512];

	if (user_b32(0, &b32) != 0)
		bench_die("base32");
	snprintf(text, sizeof(text),
	    "%s\n\" RATE_LIMIT 3 30 %lld\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE %lld\n"
	    "\" TOTP_AUTH\n48213094\n90218347\n11730985\n56009321\n73461208\n",
	    b32, (long long)t, (long long)(t / STEP));
	free(b32);
	bench_write_file(path, text, 0400);
}

static void
ward_policy(const char *path, int n)
{
	FILE *f;
	char name[16];

	if ((f = fopen(path, "w")) == NULL)
		bench_die(path);
	fprintf(f,
	    "# generated by bench_pam: %d local users\n"
	    "roles = {\n"
	    "  clinician = { };\n"
	    "  nurse = { inherits = [\"clinician\"]; permissions = [\"ehr:read\", \"ehr:chart\"]; };\n"
	    "  physician = { inherits = [\"clinician\"]; permissions = [\"ehr:read\", \"ehr:prescribe\"]; };\n"
	    "  pharmacist = { inherits = [\"clinician\"]; permissions = [\"pharmacy:dispense\"]; };\n"
	    "  it_admin = { permissions = [\"*:admin\"]; };\n"
	    "};\n"
	    "apps = { ehr = [\"ward1\", \"wardbig\", \"wardbig-text\"];\n"
	    "         ehr_viewer = [\"acct-ward1\", \"acct-wardbig\"];\n"
	    "         pacs = [\"wardbig-grace\"];\n"
	    "         pharmacy = [\"rx-console\"]; };\n"
	    "hosts = { icu = [\"icu-ws-*\"]; pharmacy = [\"rx-ws-01\", \"rx-ws-02\"]; };\n"
	    "rules = (\n"
	    "  { id = \"clinicians-ehr\"; effect = \"allow\"; roles = [\"nurse\", \"physician\"];\n"
	    "    apps = [\"ehr\"]; mfa = \"required\"; idle_logoff = 600; },\n"
	    /* the account-only cases weigh the RBAC decision against
	     * pam_access: a rule that needs no code (account asks for one
	     * when a rule does and the transaction verified none) */
	    "  { id = \"clinicians-viewer\"; effect = \"allow\"; roles = [\"nurse\", \"physician\"];\n"
	    "    apps = [\"ehr_viewer\"]; mfa = \"not_required\"; idle_logoff = 600; },\n"
	    "  { id = \"clinicians-pacs\"; effect = \"allow\"; roles = [\"clinician\"];\n"
	    "    apps = [\"pacs\"]; mfa = \"required\"; mfa_grace = 3600; },\n"
	    "  { id = \"pharmacists-rx\"; effect = \"allow\"; roles = [\"pharmacist\"];\n"
	    "    apps = [\"pharmacy\"]; hosts = [\"pharmacy\"]; },\n"
	    "  { id = \"no-rx-for-nurses\"; effect = \"deny\"; roles = [\"nurse\"];\n"
	    "    apps = [\"pharmacy\"]; reason = \"Nurses dispense through the pharmacy desk\"; }\n"
	    ");\n"
	    "users = (\n", n);
	for (int i = 0; i < n; i++) {
		user_name(i, name);
		fprintf(f, "  { user = \"%s\"; roles = [\"%s\"]; }%s\n", name,
		    i % 10 == 9 ? "physician" : "nurse", i + 1 < n ? "," : "");
	}
	fprintf(f, ");\n");
	if (fclose(f) != 0 || chmod(path, 0644) != 0)
		bench_die(path);
}

static void
ward_root(const char *root, int n)
{
	char path[1024], text[4096];

	snprintf(path, sizeof(path), "%s/etc", root);
	bench_mkdirs(root);
	bench_mkdirs(path);
	snprintf(path, sizeof(path), "%s/etc/policy.conf", root);
	ward_policy(path, n);
	/* ward.conf reads the compiled snapshot when there is one (default
	 * name: policy.conf.snap); ward-text.conf never does. */
	for (int text_only = 0; text_only < 2; text_only++) {
		snprintf(text, sizeof(text),
		    "policy_file = \"%s/etc/policy.conf\";\n%s"
		    "state_dir = \"%s/state\";\n"
		    "mfa = { window = 1; max_failures = 5; lockout_seconds = 900; };\n"
		    "secrets = { key_file = \"%s/etc/master.key\"; };\n"
		    "audit = { path = \"%s/log/audit.log\"; key_file = \"%s/etc/audit.key\"; };\n",
		    root, text_only ? "snapshot_file = \"/nonexistent/bench.snap\";\n" : "",
		    root, root, root, root);
		snprintf(path, sizeof(path), "%s/%s", root, text_only ? "ward-text.conf" : "ward.conf");
		bench_write_file(path, text, 0644);
	}
}

/* pam_access: users listed by name, 100 to a line (lines are at most
 * 8 KiB), then deny everyone else.  The machine's real accounts (see
 * load_real_users) take the places at the middle of NREAL equal slices, so
 * a rotation over them scans half the file on average.  Run with
 * nodefgroup: names are user names only, not also looked up as groups
 * (that default costs an NSS group look-up per name). */
static void
write_access(const char *path, int n)
{
	FILE *f;
	char name[16];
	int k = 0;

	if ((f = fopen(path, "w")) == NULL)
		bench_die(path);
	for (int i = 0; i < n; i++) {
		user_name(i, name);
		fprintf(f, "%s", i % 100 == 0 ? "+:" : " ");
		if (k < nreal && i == (int)((2LL * k + 1) * n / (2LL * nreal)))
			fprintf(f, "%s", realnames[k++]);
		else
			fprintf(f, "%s", name);
		if (i % 100 == 99 || i + 1 == n)
			fprintf(f, ":ALL\n");
	}
	for (; k < nreal; k++)     /* n < nreal */
		fprintf(f, "+:%s:ALL\n", realnames[k]);
	fprintf(f, "-:ALL:ALL\n");
	if (fclose(f) != 0 || chmod(path, 0644) != 0)
		bench_die(path);
}

static void
service(const char *dir, const char *name, const char *auth, const char *acct)
{
	char path[1024], text[2048];

	snprintf(path, sizeof(path), "%s/pam.d/%s", dir, name);
	if (auth != NULL)
		snprintf(text, sizeof(text), "auth required %s\naccount required %s\n", auth, acct);
	else
		snprintf(text, sizeof(text), "account required %s\n", acct);
	bench_write_file(path, text, 0644);
}

static int
cmd_prepare(const char *dir, int n, const char *module)
{
	char path[1024], a[1024], b[1024];
	time_t earlier = time(NULL) - 2 * STEP;

	snprintf(path, sizeof(path), "%s/pam.d", dir);
	bench_mkdirs(path);
	snprintf(path, sizeof(path), "%s/w1", dir);
	ward_root(path, 1);
	snprintf(path, sizeof(path), "%s/wbig", dir);
	ward_root(path, n);
	snprintf(path, sizeof(path), "%s/oath1", dir);
	write_oath(path, 1, earlier);
	snprintf(path, sizeof(path), "%s/oathbig", dir);
	write_oath(path, n, earlier);
	snprintf(path, sizeof(path), "%s/ga", dir);
	if (mkdir(path, 0700) != 0)
		bench_die(path);
	snprintf(path, sizeof(path), "%s/ga/secret", dir);
	write_ga(path, earlier);
	snprintf(path, sizeof(path), "%s/access1", dir);
	{
		int keep = nreal;
		nreal = 1;             /* one rule: the first account */
		write_access(path, 1);
		nreal = keep;
	}
	snprintf(path, sizeof(path), "%s/accessbig", dir);
	write_access(path, n);

	service(dir, "other", MODDIR "/pam_deny.so", MODDIR "/pam_deny.so");
	service(dir, "permit", MODDIR "/pam_permit.so", MODDIR "/pam_permit.so");
	snprintf(a, sizeof(a), MODDIR "/pam_oath.so usersfile=%s/oath1 window=1", dir);
	service(dir, "oath1", a, MODDIR "/pam_permit.so");
	snprintf(a, sizeof(a), MODDIR "/pam_oath.so usersfile=%s/oathbig window=1", dir);
	service(dir, "oathbig", a, MODDIR "/pam_permit.so");
	snprintf(a, sizeof(a), MODDIR "/pam_google_authenticator.so secret=%s/ga/secret user=root",
	    dir);
	service(dir, "ga", a, MODDIR "/pam_permit.so");
	/* pam_ward: the service names are the policy's apps (ward, ward-grace,
	 * acct-ward), so each case has its own folder with its own policy. */
	{
		static const struct {
			const char *svc, *root, *conf;
			int auth;
		} w[] = {
			{ "ward1", "w1", "ward-text.conf", 1 },
			{ "wardbig-text", "wbig", "ward-text.conf", 1 },
			{ "wardbig", "wbig", "ward.conf", 1 },
			{ "wardbig-grace", "wbig", "ward.conf", 1 },
			{ "acct-ward1", "w1", "ward-text.conf", 0 },
			{ "acct-wardbig", "wbig", "ward.conf", 0 },
		};
		for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
			snprintf(b, sizeof(b), "%s config=%s/%s/%s", module, dir, w[i].root,
			    w[i].conf);
			service(dir, w[i].svc, w[i].auth ? b : NULL, b);
		}
	}
	service(dir, "acct-permit", NULL, MODDIR "/pam_permit.so");
	snprintf(a, sizeof(a), MODDIR "/pam_access.so accessfile=%s/access1 nodefgroup", dir);
	service(dir, "acct-access1", NULL, a);
	snprintf(a, sizeof(a), MODDIR "/pam_access.so accessfile=%s/accessbig nodefgroup", dir);
	service(dir, "acct-accessbig", NULL, a);
	return 0;
}

/* ---- enrollment straight into the store ---- */

static int
cmd_enroll(const char *confpath, int first, int n, const char *statedir)
{
	struct ward_conf c;
	struct secret_key key;
	struct state *st = NULL;
	char err[1024], name[16];
	int r;

	if (conf_load(&c, confpath, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_pam: %s\n", err);
		return 2;
	}
	if (secret_key_load(&key, c.key_file, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_pam: %s\n", err);
		return 2;
	}
	if (statedir == NULL)
		statedir = c.state_dir;
	if ((r = state_open(&st, statedir, 0)) != 0) {
		fprintf(stderr, "bench_pam: %s: %s\n", statedir, ward_strerror(r));
		return 2;
	}
	for (int i = first; i < n; i++) {
		struct state_user u;
		unsigned char k[SECRET_LEN];

		memset(&u, 0, sizeof(u));
		user_name(i, name);
		user_secret(i, k);
		if (secret_seal(&key, name, k, SECRET_LEN, &u.secret_ct, &u.secret_ct_len) != 0) {
			fprintf(stderr, "bench_pam: seal failed\n");
			return 2;
		}
		u.algorithm = c.mfa.algorithm;
		u.digits = 6;
		u.period = STEP;
		u.last_step = -1;
		u.enrolled_at = (int64_t)time(NULL);
		/* a full set of recovery hashes, so records have their real size */
		u.nrecovery = (size_t)c.mfa.recovery_codes;
		if (u.nrecovery > STATE_MAX_RECOVERY)
			u.nrecovery = STATE_MAX_RECOVERY;
		if (secret_random(u.recovery_salt, sizeof(u.recovery_salt)) != 0 ||
		    secret_random(u.recovery, sizeof(u.recovery)) != 0) {
			fprintf(stderr, "bench_pam: no random bytes\n");
			return 2;
		}
		if ((r = state_user_put(st, name, &u)) != 0) {
			fprintf(stderr, "bench_pam: %s: %s\n", name, ward_strerror(r));
			return 2;
		}
		state_user_clear(&u);
	}
	state_close(st);
	secret_key_wipe(&key);
	conf_free(&c);
	return 0;
}

/* ---- the timed run ---- */

static const char *answer;
static int nprompts;
static char lastmsg[256];

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	(void)data;
	if (r == NULL)
		return PAM_CONV_ERR;
	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
		    msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
			nprompts++;
			r[i].resp = strdup(answer ? answer : "");
		} else {
			snprintf(lastmsg, sizeof(lastmsg), "%s", msg[i]->msg);
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

enum reset { R_NONE, R_OATH1, R_GA, R_WARD1 };

struct bcase {
	const char *svc;        /* service file in DIR/pam.d */
	const char *label;
	int auth;               /* run pam_authenticate with a code */
	int rotate;             /* users to rotate over (1: always user 0) */
	int prompts;            /* prompts expected (1 code, 0 grace or account;
	                           -1 either) */
	enum reset reset;
	int real;               /* user names from realnames[] (pam_access) */
	int *next;              /* rotation cursor (shared by cases on one store) */
	int64_t *used;          /* step each user last used, per store */
	double *t;              /* µs per transaction, one per round */
	size_t n;
	int fails;
};

static char dir[512];          /* the fixture folder */
static int pinned;             /* modules kept loaded for the whole run */
static char confdir[600];      /* its pam.d */
static int nusers;

static int
set_step_fn(void *ctx, struct state_user *rec)
{
	rec->last_step = *(int64_t *)ctx;
	return 0;
}

/* pam_ward's replay watermark of user 0 in w1, back two steps. */
static void
reset_ward1(time_t t)
{
	char path[1024], name[16];
	struct state *st;
	int64_t step = (int64_t)(t / STEP) - 2;

	snprintf(path, sizeof(path), "%s/w1/state", dir);
	user_name(0, name);
	if (state_open(&st, path, 0) != 0 || state_user_update(st, name, set_step_fn, &step) != 0) {
		fprintf(stderr, "bench_pam: cannot reset the watermark in %s\n", path);
		exit(2);
	}
	state_close(st);
}

/* Untimed: pick the user, restore state where the case needs it, make the
 * code.  Returns the user index. */
static int
before(struct bcase *c, time_t t, char code[10])
{
	char path[1024];
	int u = 0;

	if (c->rotate > 1) {
		int64_t step = (int64_t)(t / STEP);

		/* skip users already used in this step; with 10,000 users and
		 * milliseconds per login this almost never happens */
		for (int tries = 0; tries < c->rotate; tries++) {
			u = *c->next;
			*c->next = (*c->next + 1) % c->rotate;
			if (c->used == NULL || c->used[u] < step)
				break;
		}
		if (c->used != NULL)
			c->used[u] = step;
	}
	switch (c->reset) {
	case R_OATH1:
		snprintf(path, sizeof(path), "%s/oath1", dir);
		write_oath(path, 1, t - 2 * STEP);
		break;
	case R_GA:
		snprintf(path, sizeof(path), "%s/ga/secret", dir);
		write_ga(path, t - 2 * STEP);
		break;
	case R_WARD1:
		reset_ward1(t);
		break;
	case R_NONE:
		break;
	}
	code_for(u, t, code);
	return u;
}

static void
one(struct bcase *c)
{
	struct pam_conv pc = { conv, NULL };
	pam_handle_t *h = NULL;
	char code[10], name[64];
	time_t t = time(NULL);
	double t0, t1;
	int u, rc;

	u = before(c, t, code);
	if (c->real)
		snprintf(name, sizeof(name), "%s", realnames[u % nreal]);
	else
		user_name(u, name);
	answer = code;
	nprompts = 0;
	lastmsg[0] = '\0';
	t0 = bench_now_us();
	rc = pam_start_confdir(c->svc, name, &pc, confdir, &h);
	if (rc == PAM_SUCCESS && c->auth)
		rc = pam_authenticate(h, PAM_SILENT);
	if (rc == PAM_SUCCESS)
		rc = pam_acct_mgmt(h, PAM_SILENT);
	pam_end(h, rc);
	t1 = bench_now_us();
	/* Untimed: undo the syslog options a module left behind for the
	 * whole process (pam_google_authenticator opens the log with
	 * LOG_CONS: without /dev/log every later syslog(3) of any module
	 * would then be written to the console, at serial speed). */
	openlog(NULL, 0, 0);
	closelog();
	if (rc != PAM_SUCCESS || (c->prompts >= 0 && nprompts != c->prompts)) {
		if (c->fails++ < 3)
			fprintf(stderr, "bench_pam: %s user %s: %s, %d prompt(s) %s\n", c->label, name,
			    pam_strerror(NULL, rc), nprompts, lastmsg);
		return;
	}
	c->t[c->n++] = t1 - t0;
}

/* Percentile P (0..100) of the sorted V, nearest rank. */
static double
pct(const double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return NAN;
	k = (size_t)ceil(p / 100.0 * (double)n);
	return v[k == 0 ? 0 : k - 1];
}

struct stats {
	double p10, p50, p90, p99, max;
};

static struct stats
stats_of(const double *t, size_t n)
{
	double *v = malloc((n ? n : 1) * sizeof(*v));
	struct stats s;

	if (v == NULL)
		exit(2);
	memcpy(v, t, n * sizeof(*v));
	qsort(v, n, sizeof(*v), bench_cmp_d);
	s.p10 = pct(v, n, 10);
	s.p50 = pct(v, n, 50);
	s.p90 = pct(v, n, 90);
	s.p99 = pct(v, n, 99);
	s.max = n ? v[n - 1] : NAN;
	free(v);
	return s;
}

static struct bcase *
find(struct bcase *cs, int nc, const char *svc)
{
	for (int i = 0; i < nc; i++)
		if (strcmp(cs[i].svc, svc) == 0)
			return &cs[i];
	return NULL;
}

/* Per-round paired ratio slow/fast: robust to the machine's load drifting
 * during the run, since both ran within the same round. */
static void
ratio(struct bcase *cs, int nc, const char *slow, const char *fast, const char *goal,
    double need)
{
	struct bcase *a = find(cs, nc, slow), *b = find(cs, nc, fast);
	double *r;
	size_t n;
	struct stats s, sa, sb;

	if (a == NULL || b == NULL || a->n == 0 || b->n == 0)
		return;
	n = a->n < b->n ? a->n : b->n;
	if ((r = malloc(n * sizeof(*r))) == NULL)
		exit(2);
	for (size_t i = 0; i < n; i++)
		r[i] = a->t[i] / b->t[i];
	s = stats_of(r, n);
	sa = stats_of(a->t, a->n);
	sb = stats_of(b->t, b->n);
	printf("  %-16s is x%6.2f the speed of %-16s (medians; per-round ratio: median x%.2f,"
	    " p10-p90 x%.2f-x%.2f)", fast, sa.p50 / sb.p50, slow, s.p50, s.p10, s.p90);
	if (goal != NULL)
		printf("  goal %s x%.0f: %s", goal, need, sa.p50 / sb.p50 >= need ? "MET" : "MISSED");
	printf("\n");
	free(r);
}

static int next_big, next_wbig, next_acc, next_wacc;
static int64_t *used_oath, *used_ward;

static int
cases(struct bcase **out)
{
	static struct bcase cs[] = {
		{ .svc = "permit", .label = "empty stack (pam_permit)", .auth = 1, .rotate = 1 },
		{ .svc = "oath1", .label = "pam_oath, 1 user", .auth = 1, .rotate = 1, .prompts = 1,
		  .reset = R_OATH1 },
		{ .svc = "oathbig", .label = "pam_oath, N users", .auth = 1, .rotate = -1,
		  .prompts = 1, .next = &next_big },
		{ .svc = "ga", .label = "google-authenticator", .auth = 1, .rotate = 1, .prompts = 1,
		  .reset = R_GA },
		{ .svc = "ward1", .label = "pam_ward, 1 user", .auth = 1, .rotate = 1, .prompts = 1,
		  .reset = R_WARD1 },
		{ .svc = "wardbig", .label = "pam_ward, N users, compiled", .auth = 1,
		  .rotate = -1, .prompts = 1, .next = &next_wbig },
		{ .svc = "wardbig-text", .label = "pam_ward, N users, text policy", .auth = 1,
		  .rotate = -1, .prompts = 1, .next = &next_wbig },
		{ .svc = "wardbig-grace", .label = "pam_ward, N users, in grace", .auth = 1,
		  .rotate = 1 },
		{ .svc = "acct-permit", .label = "pam_permit", .rotate = 1 },
		{ .svc = "acct-access1", .label = "pam_access, 1 rule", .rotate = 1, .real = 1 },
		{ .svc = "acct-accessbig", .label = "pam_access, N users", .rotate = -2,
		  .real = 1, .next = &next_acc },
		{ .svc = "acct-ward1", .label = "pam_ward, 1 user", .rotate = 1 },
		{ .svc = "acct-wardbig", .label = "pam_ward, N users, compiled", .rotate = -1,
		  .next = &next_wacc },
	};
	int nc = (int)(sizeof(cs) / sizeof(cs[0]));

	used_oath = calloc((size_t)nusers, sizeof(int64_t));
	used_ward = calloc((size_t)nusers, sizeof(int64_t));
	if (used_oath == NULL || used_ward == NULL)
		exit(2);
	for (int i = 0; i < nc; i++) {
		if (cs[i].rotate == -1)          /* every user */
			cs[i].rotate = nusers;
		else if (cs[i].rotate == -2)     /* the machine's accounts */
			cs[i].rotate = nreal;
		if (cs[i].next == &next_big)
			cs[i].used = used_oath;
		else if (cs[i].next == &next_wbig)
			cs[i].used = used_ward;
	}
	*out = cs;
	return nc;
}

/* The grace case needs one coded login on its service first (unless an
 * earlier run in this folder recorded it: then no code is asked). */
static int
grace_setup(void)
{
	struct bcase g = { .svc = "wardbig-grace", .label = "grace set-up", .auth = 1,
		.rotate = 1, .prompts = -1, .t = calloc(1, sizeof(double)) };

	one(&g);
	free(g.t);
	used_ward[0] = (int64_t)(time(NULL) / STEP);   /* its code is spent */
	if (g.fails) {
		fprintf(stderr, "bench_pam: the grace set-up login failed\n");
		return 2;
	}
	return 0;
}

static int
cmd_run_one(const char *svc, int count)
{
	struct bcase *cs, *c;
	int nc = cases(&cs);

	if ((c = find(cs, nc, svc)) == NULL) {
		fprintf(stderr, "bench_pam: no case %s\n", svc);
		return 2;
	}
	/* a later loop within the same time step starts elsewhere */
	next_big = next_wbig = next_wacc = (int)((unsigned)getpid() * 7919u % (unsigned)nusers);
	if (strcmp(svc, "wardbig-grace") == 0 && grace_setup() != 0)
		return 2;
	if ((c->t = calloc((size_t)count, sizeof(double))) == NULL)
		return 2;
	for (int i = 0; i < count; i++)
		one(c);
	return c->fails ? 1 : 0;
}

static int
cmd_run(int rounds, double maxsec)
{
	struct bcase *cs;
	int nc = cases(&cs);

	/* a second run on the same folder (modules kept loaded) starts its
	 * rotations half-way, away from the users the first one used */
	if (pinned)
		next_big = next_wbig = next_acc = next_wacc = nusers / 2;
	int r, fails = 0;
	double start, elapsed;

	for (int i = 0; i < nc; i++)
		if ((cs[i].t = calloc((size_t)rounds, sizeof(double))) == NULL)
			return 2;
	if (grace_setup() != 0)
		return 2;
	/* warm-up: one untimed round (first loads, page cache) */
	for (int i = 0; i < nc; i++) {
		one(&cs[i]);
		cs[i].n = 0;
		fails += cs[i].fails;
		cs[i].fails = 0;
	}
	if (fails) {
		fprintf(stderr, "bench_pam: the warm-up round failed; no figures\n");
		return 2;
	}
	start = bench_now_us();
	for (r = 0; r < rounds; r++) {
		for (int k = 0; k < nc; k++)
			one(&cs[(r + k) % nc]);
		if ((bench_now_us() - start) / 1e6 > maxsec) {
			r++;
			break;
		}
	}
	elapsed = (bench_now_us() - start) / 1e6;
	printf("%d rounds in %.1f s (each round runs every case once, interleaved; N = %d)\n",
	    r, elapsed, nusers);
	printf("modules: %s\n", pinned ? "kept loaded by the benchmark (module work only)" :
	    "loaded at pam_start and unloaded at pam_end, as libpam does (libcrypto, liboath, "
	    "liblmdb and libconfig stay, as the benchmark uses them)");
	printf("%-34s %9s %9s %9s %9s %9s %9s %11s\n", "case (auth with a code + account)",
	    "p10 us", "median", "p90", "p99", "max", "tx/s", "spread");
	for (int i = 0; i < nc; i++) {
		struct stats s = stats_of(cs[i].t, cs[i].n);
		if (strncmp(cs[i].svc, "acct-", 5) == 0 && strncmp(cs[i - 1].svc, "acct-", 5) != 0)
			printf("%-34s\n", "account only (no auth):");
		printf("%-34s %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %10.0f%%\n", cs[i].label, s.p10,
		    s.p50, s.p90, s.p99, s.max, 1e6 / s.p50, 100.0 * (s.p90 - s.p10) / s.p50);
		fails += cs[i].fails;
		if (cs[i].fails)
			printf("   ^ %d transaction(s) FAILED and are not counted\n", cs[i].fails);
	}
	printf("(spread = (p90 - p10) / median; grace = within a recorded mfa_grace, so no code "
	    "is asked)\n");
	printf("ratios (x > 1: pam_ward faster):\n");
	ratio(cs, nc, "oath1", "ward1", ">=", 1);
	ratio(cs, nc, "oath1", "wardbig", NULL, 0);
	ratio(cs, nc, "oathbig", "wardbig", ">=", 10);
	ratio(cs, nc, "oathbig", "wardbig-text", NULL, 0);
	ratio(cs, nc, "ga", "ward1", NULL, 0);
	ratio(cs, nc, "ga", "wardbig", NULL, 0);
	ratio(cs, nc, "oath1", "wardbig-grace", NULL, 0);
	ratio(cs, nc, "acct-access1", "acct-ward1", NULL, 0);
	ratio(cs, nc, "acct-accessbig", "acct-wardbig", NULL, 0);
	for (int i = 0; i < nc; i++)
		free(cs[i].t);
	return fails ? 1 : 0;
}

int
main(int argc, char **argv)
{
	if (oath_init() != OATH_OK)
		return 2;
	load_real_users();
	if (argc == 3 && strcmp(argv[1], "secret") == 0) {
		char *b32 = NULL;
		if (user_b32(atoi(argv[2]), &b32) != 0)
			return 2;
		printf("%s\n", b32);
		free(b32);
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "prepare") == 0)
		return cmd_prepare(argv[2], atoi(argv[3]), argv[4]);
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "enroll") == 0)
		return cmd_enroll(argv[2], atoi(argv[3]), atoi(argv[4]), argc == 6 ? argv[5] : NULL);
	if (argc >= 6 && strcmp(argv[1], "loop") == 0) {
		for (int i = 6; i < argc; i++)
			if (dlopen(argv[i], RTLD_NOW | RTLD_LOCAL) == NULL) {
				fprintf(stderr, "bench_pam: %s\n", dlerror());
				return 2;
			}
		pinned = argc > 6;
		snprintf(dir, sizeof(dir), "%s", argv[2]);
		snprintf(confdir, sizeof(confdir), "%s/pam.d", argv[2]);
		nusers = atoi(argv[3]);
		if (nusers < 1)
			return 2;
		return cmd_run_one(argv[4], atoi(argv[5]));
	}
	if (argc >= 6 && strcmp(argv[1], "run") == 0) {
		/* Modules to keep loaded: libpam then finds them (and the
		 * libraries they need) already mapped at pam_start, instead of
		 * loading and relocating them again, and unloading them at
		 * pam_end. */
		for (int i = 6; i < argc; i++)
			if (dlopen(argv[i], RTLD_NOW | RTLD_LOCAL) == NULL) {
				fprintf(stderr, "bench_pam: %s\n", dlerror());
				return 2;
			}
		pinned = argc > 6;
		snprintf(dir, sizeof(dir), "%s", argv[2]);
		snprintf(confdir, sizeof(confdir), "%s/pam.d", argv[2]);
		nusers = atoi(argv[3]);
		if (nusers < 1)
			return 2;
		return cmd_run(atoi(argv[4]), atof(argv[5]));
	}
	fprintf(stderr, "usage: bench_pam secret I | prepare DIR N MODULE | enroll CONF FIRST N [STATEDIR] |"
	    " loop DIR N SERVICE COUNT [MODULE...] | run DIR N ROUNDS MAXSEC [MODULE...]\n");
	return 2;
}
