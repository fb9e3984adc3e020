/*
 * test_fleetd.c - wardd's logins in fleet mode (ward.conf(5), FLEET) on a
 * replicated directory (tests/fleet/pair.sh: providers A and B, read-only
 * consumers C1 and C2 chaining writes to A).
 *
 * NWS workstations, each a wardd of its own (ward.conf, state folder,
 * socket, audit log and keys made by wardctl init; the one fleet key) in
 * a UTS namespace of its own with its own host name, half reading and
 * writing through C1, half through C2.  Logins go through real libpam
 * (pam_ward.so, socket= that workstation's wardd), from processes released
 * together at a barrier in shared memory:
 *  - one TOTP code raced by every workstation, 20 rounds: never two
 *    successes a round, one unless an answer did not come (Debian 12's
 *    chaining consumer now and then answers 52; that is a denial), the
 *    per-round counts printed;
 *  - the same for one recovery code a round;
 *  - wrong codes spread over the workstations lock the user everywhere (a
 *    right code is then refused as locked on each), and one unlock by the
 *    enrolment identity clears it everywhere;
 *  - enrolled once, the code works on every workstation; a re-enrolment
 *    with a new secret stops the old one everywhere;
 *  - provider A stopped while a login is in flight: a denial within the
 *    bound, and that step stays spent on that workstation after SIGCONT;
 *  - the directory unreachable: a bounded wait once, then logins against
 *    the workstation's copy (offline, within offline_mfa_max_age, refused
 *    beyond it); the same code accepted offline at two workstations; back
 *    online, the sends: one "ok", one "replay_suspected", which wardctl
 *    audit report shows;
 *  - every workstation's audit chain verifies (wardctl audit verify) and
 *    its records name its own host and the results above.
 * Every wardd and the pair are stopped by PID at the end, even when a test
 * fails (tu_wardd_stop_all and tu_slapd_stop run at exit).
 */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "fleet.h"
#include "otp.h"
#include "pamtest.h"
#include "secret.h"
#include "slapdtest.h"
#include "testutil.h"

#define NWS 4            /* workstations: even ones on C1, odd ones on C2 */
#define ROUNDS 20
#define MAXF 5           /* mfa.max_failures */
#define TIMEOUT_MS 1500  /* directory.timeout_ms */
#define WINDOW 10        /* mfa.window: the races use 20 steps of one moment */
#define OFFLINE_AGE 8    /* fleet.offline_mfa_max_age */
#define BACKOFF_S 5      /* wardd's offline backoff (daemon/core_fleet.c) */

static char *pairdir, *root;
static char pamd[600], module[600], wardctl[600];
static struct secret_key fkey;
static char base[128];

struct wsx {
	char dir[700], conf[800], sock[800], log[800], dlog[800], host[32], svc[32];
	pid_t pid;
};
static struct wsx ws[NWS];

/* ---- the pair and the enrolment identity ------------------------------------ */

static int
env(const char *name, char *out, size_t len)
{
	return tu_slapd_env(name, out, len) == 0 && out[0] != '\0' ? 0 : -1;
}

/* A fleet handle as the enrolment identity (writes to A). */
struct enr {
	struct ward_conf conf;
	struct fleet *f;
};

static int
handle_open(struct enr *e, const char *node, const char *who)
{
	char k[32], uri[128], ca[512], dn[256], pwf[512], text[4096], err[512];

	memset(e, 0, sizeof(*e));
	snprintf(k, sizeof(k), "%s_URI", node);
	if (env(k, uri, sizeof(uri)) != 0 || env("CA_FILE", ca, sizeof(ca)) != 0 ||
	    env(strcmp(who, "enrol") == 0 ? "ENROL_DN" : "WS1_DN", dn, sizeof(dn)) != 0 ||
	    env(strcmp(who, "enrol") == 0 ? "ENROL_PW_FILE" : "WS_PW_FILE", pwf,
	    sizeof(pwf)) != 0)
		return -1;
	snprintf(text, sizeof(text),
	    "directory = { uri = [\"%s\"]; base = \"%s\"; bind_dn = \"%s\";\n"
	    "  bind_password_file = \"%s\"; ca_file = \"%s\"; timeout_ms = 3000; };\n"
	    "fleet = { write_uri = \"%s\"; key_file = \"/nonexistent/fleet.key\"; };\n",
	    uri, base, dn, pwf, ca, uri);
	if (conf_load_buffer(&e->conf, "fleetd-test.conf", text, err, sizeof(err)) != 0) {
		fprintf(stderr, "\nconf: %s\n", err);
		return -1;
	}
	if (fleet_open(&e->f, &e->conf) != 0) {
		conf_free(&e->conf);
		return -1;
	}
	return 0;
}

static void
handle_close(struct enr *e)
{
	fleet_close(e->f);
	conf_free(&e->conf);
}

static void
user_dn(const char *user, char *dn, size_t len)
{
	snprintf(dn, len, "uid=%s,ou=people,%s", user, base);
}

/* What a consumer's copy of a record must show: the recovery salt SALT
 * (when not NULL), else a watermark at STEP or above (when STEP >= 0),
 * else the lockout LOCKED (1/0). */
struct want {
	const unsigned char *salt;
	int64_t step;
	int locked;
};

static int
shows(const struct fleet_user *u, const struct want *w)
{
	if (w->salt != NULL)
		return u->has_salt && memcmp(u->recovery_salt, w->salt, FLEET_SALT_LEN) == 0;
	if (w->step >= 0)
		return u->last_step >= w->step;
	return (u->locked_until > time(NULL)) == w->locked;
}

/* Wait (10 s at most) until each of the N consumers NODES shows W for
 * USER. */
static int
await_nodes(const char *const *nodes, size_t n, const char *user, const struct want *w)
{
	for (int i = 0; i < 1000; i++) {
		int ok = 1;

		for (size_t k = 0; k < n && ok; k++) {
			struct enr e;
			struct fleet_user u;

			if (handle_open(&e, nodes[k], "ws") != 0)
				return -1;
			ok = fleet_read(e.f, user, &u) == 0 && shows(&u, w);
			fleet_user_clear(&u);
			handle_close(&e);
		}
		if (ok)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* Has the record of USER reached both consumers with SALT (or, SALT NULL,
 * with LOCKED 1/0)? */
static int
replicated(const char *user, const unsigned char *salt, int locked)
{
	static const char *const both[2] = { "C1", "C2" };
	struct want w = { salt, -1, locked };

	return await_nodes(both, 2, user, &w);
}

/* Enrol USER with SECRET and the recovery codes CODES as the enrolment
 * identity, and wait until both consumers have it. */
static int
enrol(const char *user, const unsigned char *secret, size_t len, const char *const *codes,
    size_t ncodes)
{
	struct fleet_record rec;
	struct enr e;
	char dn[256];
	int r;

	user_dn(user, dn, sizeof(dn));
	if (handle_open(&e, "A", "enrol") != 0)
		return -1;
	r = fleet_make_record(&fkey, user, secret, len, CONF_ALGO_SHA1, 6, 30, time(NULL),
	    codes, ncodes, &rec);
	if (r == 0)
		r = fleet_enroll(e.f, dn, &rec);
	handle_close(&e);
	if (r == 0)
		r = replicated(user, rec.salt, 0);
	fleet_record_clear(&rec);
	return r;
}

static int
unlock_user(const char *user)
{
	struct enr e;
	char dn[256];
	int r;

	user_dn(user, dn, sizeof(dn));
	if (handle_open(&e, "A", "enrol") != 0)
		return -1;
	r = fleet_unlock(e.f, dn);
	handle_close(&e);
	return r == 0 ? replicated(user, NULL, 0) : r;
}

/* USER's record as provider A has it into *U (the caller clears it). */
static int
record_at_a(const char *user, struct fleet_user *u)
{
	struct enr e;
	int r;

	memset(u, 0, sizeof(*u));
	if (handle_open(&e, "A", "ws") != 0)
		return -1;
	r = fleet_read(e.f, user, u);
	handle_close(&e);
	return r;
}

/* USER's watermark (FAILURES 0) or failure count (1) as provider A has
 * it; -2 when unreadable. */
static int64_t
at_a(const char *user, int failures)
{
	struct fleet_user u;
	int64_t v = record_at_a(user, &u) == 0 ? failures ? u.failures : u.last_step : -2;

	fleet_user_clear(&u);
	return v;
}

#define watermark(user) at_a((user), 0)
#define failures(user) at_a((user), 1)

/* ---- codes ------------------------------------------------------------------ */

struct who {
	const char *name;
	unsigned char secret[20];
	int64_t last;                /* the highest step a code was made for */
};
static struct who alice = { .name = "alice" }, bob = { .name = "bob" },
    carol = { .name = "carol" };

static int64_t
step_now(void)
{
	return (int64_t)time(NULL) / 30;
}

/* A code of W's secret for a step above every one made before and inside
 * the window now (-WINDOW+1 .. WINDOW-1, so that a step boundary passing
 * before it is typed still leaves it inside); waits when none is left. */
static int64_t
next_code(struct who *w, const unsigned char *secret, char out[9])
{
	struct otp_params p = { CONF_ALGO_SHA1, 6, 30, WINDOW };
	int64_t s;

	for (;;) {
		s = w->last + 1;
		if (s < step_now() - WINDOW + 1)
			s = step_now() - WINDOW + 1;
		if (s <= step_now() + WINDOW - 1)
			break;
		sleep(1);
	}
	w->last = s;
	if (otp_generate(secret != NULL ? secret : w->secret, 20, &p, (time_t)(s * 30 + 1),
	    out) != 0)
		out[0] = '\0';
	return s;
}

/* A 6-digit code that none of the window's steps of SECRET has now. */
static void
wrong_code(const unsigned char *secret, char out[9])
{
	struct otp_params p = { CONF_ALGO_SHA1, 6, 30, WINDOW };

	for (unsigned n = 13579;; n = (n * 7919 + 17) % 1000000) {
		int clash = 0;

		snprintf(out, 9, "%06u", n);
		for (int64_t s = step_now() - WINDOW - 2; s <= step_now() + WINDOW + 2; s++) {
			char c[9];

			if (otp_generate(secret, 20, &p, (time_t)(s * 30 + 1), c) != 0 ||
			    strcmp(c, out) == 0)
				clash = 1;
		}
		if (!clash)
			return;
	}
}

/* ---- the workstations ------------------------------------------------------- */

static const char policy_text[] =
    "roles = { nurse = { }; };\n"
    "users = ( { user = \"alice\"; roles = [\"nurse\"]; },\n"
    "  { user = \"bob\"; roles = [\"nurse\"]; }, { user = \"carol\"; roles = [\"nurse\"]; } );\n"
    "apps = { ehr = [\"fleet-ws0\", \"fleet-ws1\", \"fleet-ws2\", \"fleet-ws3\"];\n"
    "  rx = [\"fleet-rx\"]; };\n"
    "rules = ( { id = \"nurses-ehr\"; effect = \"allow\"; roles = [\"nurse\"];\n"
    "    apps = [\"ehr\"]; mfa = \"required\"; },\n"
    "  { id = \"no-rx\"; effect = \"deny\"; roles = [\"nurse\"]; apps = [\"rx\"];\n"
    "    reason = \"Nurses dispense through the pharmacy desk\"; } );\n";

static int
ws_setup(int i)
{
	struct wsx *w = &ws[i];
	const char *node = i % 2 ? "C2" : "C1";
	char k[32], uri[128], ca[512], dn[256], pwf[512], text[4096], path[1000], d[700];

	snprintf(d, sizeof(d), "%s/ws%d", root, i);
	snprintf(w->dir, sizeof(w->dir), "%s", d);
	snprintf(w->conf, sizeof(w->conf), "%s/ward.conf", d);
	snprintf(w->sock, sizeof(w->sock), "%s/run/wardd.sock", d);
	snprintf(w->log, sizeof(w->log), "%s/log/audit.log", d);
	snprintf(w->dlog, sizeof(w->dlog), "%s/wardd.err", d);
	snprintf(w->host, sizeof(w->host), "fleet-host%d", i);
	snprintf(w->svc, sizeof(w->svc), "fleet-ws%d", i);
	snprintf(k, sizeof(k), "%s_URI", node);
	if (env(k, uri, sizeof(uri)) != 0 || env("CA_FILE", ca, sizeof(ca)) != 0 ||
	    env(i % 2 ? "WS2_DN" : "WS1_DN", dn, sizeof(dn)) != 0 ||
	    env("WS_PW_FILE", pwf, sizeof(pwf)) != 0)
		return -1;
	if (tu_sh("mkdir -p '%s/etc' '%s/run' && chmod 0755 '%s' '%s/etc' '%s/run'", w->dir,
	    w->dir, w->dir, w->dir, w->dir) != 0)
		return -1;
	snprintf(text, sizeof(text),
	    "policy_file = \"%s/etc/policy.conf\";\nstate_dir = \"%s/state\";\n"
	    "directory = { uri = [\"%s\"]; base = \"%s\"; bind_dn = \"%s\";\n"
	    "  bind_password_file = \"%s\"; ca_file = \"%s\"; timeout_ms = %d; };\n"
	    "mfa = { window = %d; max_failures = %d; lockout_seconds = 900; };\n"
	    "secrets = { key_file = \"%s/etc/master.key\"; };\n"
	    "audit = { path = \"%s\"; key_file = \"%s/etc/audit.key\"; fsync = false; };\n"
	    "fleet = { write_uri = \"%s\"; key_file = \"%s/etc/fleet.key\";\n"
	    "  offline_mfa_max_age = %d; offline_max_failures = 3; };\n",
	    w->dir, w->dir, uri, base, dn, pwf, ca, TIMEOUT_MS, WINDOW, MAXF, w->dir, w->log,
	    w->dir, uri, w->dir, OFFLINE_AGE);
	if (tu_write(w->conf, text, (size_t)-1, 0644) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/etc/policy.conf", w->dir);
	if (tu_write(path, policy_text, (size_t)-1, 0644) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/etc/fleet.key", w->dir);
	if (tu_write(path, fkey.k, sizeof(fkey.k), 0600) != 0)
		return -1;
	if (tu_sh("'%s' --config '%s' init >/dev/null", wardctl, w->conf) != 0)
		return -1;
	/* wardd in a UTS namespace of its own, named W->host (unshare execs:
	 * the pid tu_wardd_start has is wardd's) */
	snprintf(path, sizeof(path), "%s/wardd-host.sh", w->dir);
	snprintf(text, sizeof(text), "#!/bin/sh\nexec unshare -u sh -c 'hostname \"$0\" && "
	    "exec \"$@\"' '%s' '%s/wardd' \"$@\"\n", w->host, tu_build());
	if (tu_write(path, text, (size_t)-1, 0755) != 0)
		return -1;
	if (pt_write_service(pamd, w->svc, module, w->sock, NULL) != 0)
		return -1;
	/* a service the policy denies, on workstation 0 */
	if (i == 0 && pt_write_service(pamd, "fleet-rx", module, w->sock, NULL) != 0)
		return -1;
	w->pid = tu_wardd_start(path, w->conf, w->sock, w->dlog);
	return w->pid > 0 ? 0 : -1;
}

/* Do both consumers chain a write to A?  (Debian 12's slapd now and then
 * starts a consumer whose chained writes are answered 52 for as long as it
 * runs; test_fleet.c says more.)  An unlock of alice is the probe. */
static int
chains_work(void)
{
	char dn[256];
	int ok = 1;

	user_dn("alice", dn, sizeof(dn));
	for (int n = 0; n < 2 && ok; n++) {
		struct enr e;

		if (handle_open(&e, n == 0 ? "C1" : "C2", "enrol") != 0)
			return 0;
		for (int i = 0; i < 3 && ok; i++)
			ok = fleet_unlock(e.f, dn) == 0;
		handle_close(&e);
	}
	return ok;
}

static int
suite_init(void)
{
	if ((root = tu_mkdtemp("ward-fleetd")) == NULL)
		return -1;
	for (int tries = 0; tries < 3; tries++) {
		free(pairdir);
		if ((pairdir = tu_mkdtemp("ward-fleetd-pair")) == NULL ||
		    tu_slapd_pair_start(pairdir) != 0)
			return -1;
		if (env("BASE", base, sizeof(base)) != 0)
			return -1;
		if (chains_work())
			break;
		fprintf(stderr, "\nfleetd: a consumer answers 52 to chained writes; starting "
		    "the pair again\n");
		tu_slapd_stop();
		if (tries == 2)
			return -1;
	}
	snprintf(pamd, sizeof(pamd), "%s/pam.d", root);
	snprintf(module, sizeof(module), "%s/pam_ward.so", tu_build());
	snprintf(wardctl, sizeof(wardctl), "%s/wardctl", tu_build());
	if (tu_sh("chmod 0755 '%s' && mkdir -p '%s' && chmod 0755 '%s'", root, pamd, pamd) != 0)
		return -1;
	if (secret_random(fkey.k, sizeof(fkey.k)) != 0)
		return -1;
	for (int i = 0; i < NWS; i++)
		if (ws_setup(i) != 0) {
			fprintf(stderr, "\nfleetd: workstation %d did not start\n", i);
			return -1;
		}
	return 0;
}

static int
suite_clean(void)
{
	for (int i = 0; i < NWS; i++)
		if (ws[i].pid > 0) {
			(void)tu_wardd_stop(ws[i].pid);
			ws[i].pid = -1;
		}
	tu_slapd_stop();
	secret_key_wipe(&fkey);
	if (root != NULL)
		tu_rmtree(root);
	free(root);
	free(pairdir);
	return 0;
}

/* ---- one login ---------------------------------------------------------------- */

enum outcome { O_OK, O_REPLAY, O_LOCKED, O_WRONG, O_UNAVAIL, O_DENIED, O_OTHER };
static const char *const oname[] = { "ok", "replay", "locked", "wrong", "unavailable",
	"denied", "other" };

/* The auth phase of USER on SERVICE with CODE, and what it said. */
static enum outcome
login_at(const char *service, const char *user, const char *code)
{
	int rc;

	pt_answer_all(code);
	rc = pt_run(pamd, service, user, "auth", NULL, 0);
	if (rc == PAM_SUCCESS)
		return O_OK;
	if (strstr(pt_transcript, "already used") != NULL)
		return O_REPLAY;
	if (strstr(pt_transcript, "is locked until") != NULL ||
	    strstr(pt_transcript, "Too many wrong codes") != NULL)
		return O_LOCKED;
	if (strstr(pt_transcript, "was not accepted") != NULL)
		return O_WRONG;
	if (rc == PAM_AUTHINFO_UNAVAIL && strstr(pt_transcript, "unavailable") != NULL)
		return O_UNAVAIL;
	if (rc == PAM_PERM_DENIED && strstr(pt_transcript, "Access denied") != NULL)
		return O_DENIED;
	fprintf(stderr, "\n%s %s: rc %d: %s\n", service, user, rc, pt_transcript);
	return O_OTHER;
}

/* The auth phase of USER at workstation I with CODE. */
static enum outcome
login(int i, const char *user, const char *code)
{
	return login_at(ws[i].svc, user, code);
}


/* Audit lines of workstation I that hold every string given. */
#define AUDIT(i, ...) tu_count_lines(ws[i].log, __VA_ARGS__, NULL)

/* ---- racing logins -------------------------------------------------------------- */

struct race {
	struct tu_race b;
	void (*setup)(struct race *, int);
	char user[16];
	char code[ROUNDS][16];
	int out[ROUNDS][NWS];
};

static void
racer(void *ctx, int i)
{
	struct race *sh = ctx;

	for (int r = 0; r < ROUNDS; r++) {
		tu_race_begin(&sh->b);
		sh->out[r][i] = login(i, sh->user, sh->code[r]);
		tu_race_end(&sh->b);
	}
}

static void
race_setup(void *ctx, int r)
{
	struct race *sh = ctx;

	sh->setup(sh, r);
}

/* Race ROUNDS rounds; SETUP makes round R's code first. */
static int
race_run(struct race *sh, void (*setup)(struct race *, int))
{
	sh->setup = setup;
	return tu_race_run(&sh->b, NWS, ROUNDS, racer, race_setup, sh);
}

static struct race *
race_new(const char *user)
{
	struct race *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (sh == MAP_FAILED)
		return NULL;
	memset(sh, 0, sizeof(*sh));
	snprintf(sh->user, sizeof(sh->user), "%s", user);
	return sh;
}

/* Print the successes of each round; every loser must have seen LOSER or
 * no answer.  Never two successes a round; none only where an answer did
 * not come.  Returns the total of successes. */
static int
tally(const struct race *sh, const char *name, enum outcome loser)
{
	int exact = 0, total = 0;

	printf("\n    %s, successes per round:", name);
	for (int r = 0; r < ROUNDS; r++) {
		int w = 0, a = 0;

		for (int i = 0; i < NWS; i++) {
			if (sh->out[r][i] == O_OK)
				w++;
			else if (sh->out[r][i] == O_UNAVAIL)
				a++;
			else if (sh->out[r][i] != (int)loser) {
				fprintf(stderr, "\nround %d ws%d: %s\n", r, i,
				    oname[sh->out[r][i]]);
				CU_FAIL("a loser saw neither the refusal nor no answer");
			}
		}
		printf(" %d%s", w, a ? "*" : "");
		CU_ASSERT(w <= 1);
		CU_ASSERT(w == 1 || a > 0);
		exact += w == 1;
		total += w;
	}
	printf("  (%d of %d rounds exactly one; * = a round where an answer did not "
	    "come)\n   ", exact, ROUNDS);
	return total;
}

static int race_wins_totp, race_wins_rec;

static void
totp_setup(struct race *sh, int r)
{
	(void)next_code(&alice, NULL, sh->code[r]);
}

/* (a) one TOTP code, every workstation, 20 rounds */
static void
test_race_totp(void)
{
	struct race *sh = race_new("alice");
	int64_t before;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sh);
	CU_ASSERT_EQUAL_FATAL(secret_random(alice.secret, sizeof(alice.secret)), 0);
	CU_ASSERT_EQUAL_FATAL(enrol("alice", alice.secret, 20, NULL, 0), 0);
	before = watermark("alice");
	CU_ASSERT_EQUAL_FATAL(race_run(sh, totp_setup), 0);
	race_wins_totp = tally(sh, "one TOTP code, 4 workstations (wardd, PAM)", O_REPLAY);
	/* the directory's watermark is the last step accepted, or above */
	CU_ASSERT(watermark("alice") > before);
	CU_ASSERT(watermark("alice") <= alice.last);
	munmap(sh, sizeof(*sh));
}

static char rec_codes[ROUNDS][SECRET_RECOVERY_CHARS + 3];

/* each round: alice enrolled anew with one fresh recovery code */
static void
recovery_setup(struct race *sh, int r)
{
	const char *codes[1];

	CU_ASSERT_EQUAL(secret_recovery_generate(rec_codes[r]), 0);
	codes[0] = rec_codes[r];
	CU_ASSERT_EQUAL(enrol("alice", alice.secret, 20, codes, 1), 0);
	snprintf(sh->code[r], sizeof(sh->code[r]), "%s", rec_codes[r]);
}

/* (b) one recovery code, every workstation, 20 rounds */
static void
test_race_recovery(void)
{
	struct race *sh = race_new("alice");

	CU_ASSERT_PTR_NOT_NULL_FATAL(sh);
	CU_ASSERT_EQUAL_FATAL(race_run(sh, recovery_setup), 0);
	race_wins_rec = tally(sh, "one recovery code, 4 workstations (wardd, PAM)", O_WRONG);
	munmap(sh, sizeof(*sh));
}

/* (c) wrong codes spread over the workstations lock bob everywhere; one
 * unlock clears it everywhere */
static void
test_lockout_everywhere(void)
{
	char code[9], wrong[9];
	int n = 0, locked = 0;

	CU_ASSERT_EQUAL_FATAL(secret_random(bob.secret, sizeof(bob.secret)), 0);
	CU_ASSERT_EQUAL_FATAL(enrol("bob", bob.secret, 20, NULL, 0), 0);
	wrong_code(bob.secret, wrong);
	/* a failure whose count got no answer may not count: at most 2 * MAXF */
	while (!locked && n < 2 * MAXF) {
		enum outcome o = login(n % NWS, "bob", wrong);

		CU_ASSERT(o == O_WRONG || o == O_LOCKED);
		if (o == O_LOCKED)
			locked = strstr(pt_transcript, "Too many wrong codes") != NULL;
		n++;
	}
	CU_ASSERT_TRUE(locked);
	CU_ASSERT(n >= MAXF);
	printf("\n    bob locked after %d wrong codes over %d workstations\n   ", n,
	    n < NWS ? n : NWS);
	CU_ASSERT_EQUAL(replicated("bob", NULL, 1), 0);
	/* the right code, refused as locked on every workstation */
	(void)next_code(&bob, NULL, code);
	for (int i = 0; i < NWS; i++)
		CU_ASSERT_EQUAL(login(i, "bob", code), O_LOCKED);
	/* one unlock as the enrolment identity: a new code works everywhere */
	CU_ASSERT_EQUAL_FATAL(unlock_user("bob"), 0);
	for (int i = 0; i < NWS; i++) {
		(void)next_code(&bob, NULL, code);
		CU_ASSERT_EQUAL(login(i, "bob", code), O_OK);
	}
	for (int i = 0; i < NWS; i++)
		CU_ASSERT(AUDIT(i, "\"user\":\"bob\"", "\"event\":\"auth\"",
		    "\"reason\":\"locked\"") >= 1);
}

/* (d) enrolled once, carol's code works on every workstation; re-enrolled
 * with a new secret, the old one works nowhere */
static void
test_enrol_and_reset(void)
{
	unsigned char old[20];
	char code[9];

	CU_ASSERT_EQUAL_FATAL(secret_random(carol.secret, sizeof(carol.secret)), 0);
	CU_ASSERT_EQUAL_FATAL(enrol("carol", carol.secret, 20, NULL, 0), 0);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < NWS; i++) {
			struct timespec t0;

			(void)next_code(&carol, NULL, code);
			clock_gettime(CLOCK_MONOTONIC, &t0);
			CU_ASSERT_EQUAL(login(i, "carol", code), O_OK);
			/* measured, not judged: the second round's connections
			 * are warm */
			if (k == 1)
				printf("%s ws%d %ld ms", i == 0 ? "\n    one login (auth phase, "
				    "warm), fleet online:" : ",", i, tu_ms_since(&t0));
		}
	printf("\n   ");
	memcpy(old, carol.secret, sizeof(old));
	CU_ASSERT_EQUAL_FATAL(secret_random(carol.secret, sizeof(carol.secret)), 0);
	CU_ASSERT_EQUAL_FATAL(enrol("carol", carol.secret, 20, NULL, 0), 0);
	/* the old secret's next codes: wrong everywhere (MAXF - 1 failures) */
	for (int i = 0; i < NWS && i < MAXF - 1; i++) {
		(void)next_code(&carol, old, code);
		CU_ASSERT_EQUAL(login(i, "carol", code), O_WRONG);
	}
	/* the new secret works (and its success resets the count) */
	(void)next_code(&carol, NULL, code);
	CU_ASSERT_EQUAL(login(NWS - 1, "carol", code), O_OK);
	ward_wipe(old, sizeof(old));
}

/* (h) a login the policy denies: the code is checked but not spent (it
 * works on an allowed service after), a wrong one counts, and a recovery
 * code is not checked (only spending it could) and counts nothing */
static void
test_denied_unspent(void)
{
	char code[9], wrong[9];
	const char *codes[1];
	char rc[SECRET_RECOVERY_CHARS + 3];

	CU_ASSERT_EQUAL_FATAL(secret_recovery_generate(rc), 0);
	codes[0] = rc;
	CU_ASSERT_EQUAL_FATAL(enrol("carol", carol.secret, 20, codes, 1), 0);
	(void)next_code(&carol, NULL, code);
	CU_ASSERT_EQUAL(login_at("fleet-rx", "carol", code), O_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "pharmacy desk"));
	CU_ASSERT_EQUAL(login(1, "carol", code), O_OK);
	wrong_code(carol.secret, wrong);
	CU_ASSERT_EQUAL(login_at("fleet-rx", "carol", wrong), O_WRONG);
	CU_ASSERT_EQUAL(failures("carol"), 1);
	CU_ASSERT_EQUAL(login_at("fleet-rx", "carol", rc), O_WRONG);
	CU_ASSERT_EQUAL(failures("carol"), 1);
	CU_ASSERT_EQUAL(AUDIT(0, "\"user\":\"carol\"", "\"service\":\"fleet-rx\"",
	    "a recovery code is not checked"), 1);
	/* the recovery code is still good where carol may log in */
	CU_ASSERT_EQUAL(login(2, "carol", rc), O_OK);
	CU_ASSERT_EQUAL(failures("carol"), 0);
}

/* (e) provider A stopped while a login is in flight: a denial within the
 * bound, and the step stays spent on that workstation after SIGCONT */
static void
test_write_timeout(void)
{
	struct timespec t0;
	char pids[32], code[9];
	enum outcome o;
	long ms;
	pid_t a;

	CU_ASSERT_EQUAL_FATAL(env("A_PID", pids, sizeof(pids)), 0);
	a = (pid_t)atol(pids);
	(void)next_code(&carol, NULL, code);
	CU_ASSERT_EQUAL_FATAL(kill(a, SIGSTOP), 0);
	CU_ASSERT_EQUAL(tu_wait_stopped(a, 5000), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	o = login(0, "carol", code);
	ms = tu_ms_since(&t0);
	kill(a, SIGCONT);
	printf("\n    a login with provider A stopped: %s after %ld ms (timeout_ms %d)\n   ",
	    oname[o], ms, TIMEOUT_MS);
	CU_ASSERT_EQUAL(o, O_UNAVAIL);
	/* bounded: the read answers (C1), the change waits timeout_ms at most,
	 * and once more when answered 52 (dir_fleet.c); the rest is slack */
	CU_ASSERT(ms < 3 * TIMEOUT_MS + 2000);
	CU_ASSERT_EQUAL(AUDIT(0, "\"user\":\"carol\"", "\"result\":\"failure\"",
	    "the step is spent on this workstation"), 1);
	/* after SIGCONT and the offline backoff: that step stays spent here,
	 * online */
	sleep(BACKOFF_S + 1);
	CU_ASSERT_EQUAL(login(0, "carol", code), O_REPLAY);
	CU_ASSERT_EQUAL(AUDIT(0, "\"user\":\"carol\"", "\"reason\":\"replay\"",
	    "\"offline\":false"), 1);
	/* and the next one works */
	(void)next_code(&carol, NULL, code);
	CU_ASSERT_EQUAL(login(0, "carol", code), O_OK);
}

/* Signal SIG to the slapd processes of NODES ("A", "C1", ...). */
static int
signal_nodes(const char *const *nodes, size_t n, int sig)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		char k[32], pids[32];
		pid_t p;

		snprintf(k, sizeof(k), "%s_PID", nodes[i]);
		if (env(k, pids, sizeof(pids)) != 0 || (p = (pid_t)atol(pids)) <= 0 ||
		    kill(p, sig) != 0 || (sig == SIGSTOP && tu_wait_stopped(p, 5000) != 0))
			bad = 1;
	}
	return bad ? -1 : 0;
}

/* Wait until consumer NODE shows USER's watermark at STEP or above. */
static int
seen_at(const char *node, const char *user, int64_t step)
{
	struct want w = { NULL, step, 0 };

	return await_nodes(&node, 1, user, &w);
}

/*
 * (g) the directory unreachable (A, C1 and C2 stopped): a login waits
 * timeout_ms once, then verifies against the workstation's copy; the same
 * code is accepted offline on two workstations (the offline window's
 * hazard); offline logins then answer without waiting; beyond
 * offline_mfa_max_age they are refused.  Back online, each workstation
 * sends what it accepted: the first makes it the directory's watermark,
 * the second finds it there and records a suspected replay, which wardctl
 * audit report shows.
 */
static void
test_offline_and_sync(void)
{
	const char *nodes[3] = { "A", "C1", "C2" };
	struct timespec t0, tf;
	char code[9], s1[9], out[64];
	int64_t step1;
	enum outcome o;
	long ms;
	char *rep;
	int st;

	/* bob's record read on ws0 and ws1 now */
	for (int i = 0; i < 2; i++) {
		(void)next_code(&bob, NULL, code);
		CU_ASSERT_EQUAL(login(i, "bob", code), O_OK);
	}
	clock_gettime(CLOCK_MONOTONIC, &tf);
	CU_ASSERT_EQUAL_FATAL(signal_nodes(nodes, 3, SIGSTOP), 0);
	/* one code at both: each waits for the read once, then says yes offline */
	step1 = next_code(&bob, NULL, s1);
	for (int i = 0; i < 2; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		o = login(i, "bob", s1);
		ms = tu_ms_since(&t0);
		printf("\n    ws%d, directory stopped: %s offline after %ld ms", i, oname[o], ms);
		CU_ASSERT_EQUAL(o, O_OK);
		CU_ASSERT(ms < 2 * TIMEOUT_MS + 2000);
		CU_ASSERT_EQUAL(AUDIT(i, "\"user\":\"bob\"", "\"result\":\"success\"",
		    "\"offline\":true", "fleet: offline: checked against"), 1);
	}
	/* within the backoff: answered without waiting, from the copy */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	o = login(0, "bob", s1);
	ms = tu_ms_since(&t0);
	printf("\n    ws0, the same code again offline: %s after %ld ms", oname[o], ms);
	CU_ASSERT_EQUAL(o, O_REPLAY);
	CU_ASSERT(ms < TIMEOUT_MS);
	/* a recovery code is refused offline */
	CU_ASSERT_EQUAL(login(0, "bob", "abcd-efgh-jkmn"), O_UNAVAIL);
	CU_ASSERT_EQUAL(AUDIT(0, "\"user\":\"bob\"", "recovery codes are not accepted"), 1);
	/* beyond offline_mfa_max_age of the copy: refused, and said */
	while (tu_ms_since(&tf) < (OFFLINE_AGE + 2) * 1000L)
		usleep(100000);
	(void)next_code(&bob, NULL, code);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	o = login(0, "bob", code);
	ms = tu_ms_since(&t0);
	printf("\n    ws0, the copy older than %d s: %s after %ld ms\n   ", OFFLINE_AGE,
	    oname[o], ms);
	CU_ASSERT_EQUAL(o, O_UNAVAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "no recent copy"));
	CU_ASSERT(ms < 2 * TIMEOUT_MS + 2000);
	CU_ASSERT_EQUAL(AUDIT(0, "\"user\":\"bob\"", "\"offline\":true",
	    "older than offline_mfa_max_age"), 1);
	CU_ASSERT_EQUAL(signal_nodes(nodes, 3, SIGCONT), 0);
	/* back: after the backoff, a login of anyone on ws0 sends bob's step */
	sleep(BACKOFF_S + 1);
	(void)next_code(&carol, NULL, code);
	CU_ASSERT_EQUAL(login(0, "carol", code), O_OK);
	CU_ASSERT_EQUAL(AUDIT(0, "\"user\":\"bob\"", "\"event\":\"fleet_sync\"",
	    "\"result\":\"ok\""), 1);
	CU_ASSERT_EQUAL(watermark("bob"), step1);
	/* ws1 (through C2) sends the same step: the directory has it already */
	CU_ASSERT_EQUAL(seen_at("C2", "bob", step1), 0);
	(void)next_code(&carol, NULL, code);
	CU_ASSERT_EQUAL(login(1, "carol", code), O_OK);
	CU_ASSERT_EQUAL(AUDIT(1, "\"user\":\"bob\"", "\"event\":\"fleet_sync\"",
	    "\"result\":\"replay_suspected\""), 1);
	CU_ASSERT_EQUAL(AUDIT(0, "\"result\":\"replay_suspected\""), 0);
	/* wardctl audit report on ws1 names it; ws0's has no such finding */
	snprintf(out, sizeof(out), "fleet_replay_suspected");
	for (int i = 0; i < 2; i++) {
		char cmd[1200];

		snprintf(cmd, sizeof(cmd), "'%s' --config '%s' audit report", wardctl, ws[i].conf);
		rep = tu_run(cmd, 1, &st);
		CU_ASSERT_PTR_NOT_NULL_FATAL(rep);
		CU_ASSERT_EQUAL(st, 0);
		if (i == 1) {
			CU_ASSERT_PTR_NOT_NULL(strstr(rep, out));
			CU_ASSERT_PTR_NOT_NULL(strstr(rep, "bob"));
			printf("\n    %.*s", (int)strcspn(strstr(rep, out) ? strstr(rep, out) :
			    "", "\n"), strstr(rep, out) ? strstr(rep, out) : "");
		} else {
			CU_ASSERT_PTR_NULL(strstr(rep, out));
		}
		free(rep);
	}
	printf("\n   ");
}

/* (f) each workstation's chain verifies and names its own host */
static void
test_audit_chains(void)
{
	int ok_totp = 0, ok_rec = 0;

	for (int i = 0; i < NWS; i++) {
		char host[64];

		CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' audit verify", wardctl, ws[i].conf), 0);
		snprintf(host, sizeof(host), "\"host\":\"%s\"", ws[i].host);
		/* every record of the logins names this host */
		CU_ASSERT(AUDIT(i, "\"event\":\"auth\"") > 0);
		CU_ASSERT_EQUAL(AUDIT(i, "\"event\":\"auth\"", host), AUDIT(i, "\"event\":\"auth\""));
		for (int j = 0; j < NWS; j++)
			if (j != i) {
				snprintf(host, sizeof(host), "\"host\":\"%s\"", ws[j].host);
				CU_ASSERT_EQUAL(AUDIT(i, host), 0);
			}
		ok_totp += AUDIT(i, "\"user\":\"alice\"", "\"result\":\"success\"",
		    "\"factor\":\"totp\"");
		ok_rec += AUDIT(i, "\"user\":\"alice\"", "\"result\":\"success\"",
		    "\"factor\":\"recovery\"");
		CU_ASSERT(AUDIT(i, "\"user\":\"alice\"", "\"reason\":\"replay\"") > 0);
	}
	/* the records agree with what the logins were told */
	CU_ASSERT_EQUAL(ok_totp, race_wins_totp);
	CU_ASSERT_EQUAL(ok_rec, race_wins_rec);
	printf("\n    audit: %d TOTP and %d recovery successes of alice recorded over %d "
	    "hosts\n   ", ok_totp, ok_rec, NWS);
}

/* Does USER's record at NODE name key NID first (a rotation replicated)?
 * Waits up to 10 s. */
static int
rotated_at(const char *node, const char *user, const char *nid)
{
	for (int t = 0; t < 100; t++) {
		struct fleet_user u;
		struct enr e;
		int ok = 0;

		memset(&u, 0, sizeof(u));
		if (handle_open(&e, node, "ws") != 0)
			return 0;
		if (fleet_read(e.f, user, &u) == 0)
			ok = strncmp(u.key_chain, nid, FLEET_KEYID_LEN) == 0;
		fleet_user_clear(&u);
		handle_close(&e);
		if (ok)
			return 1;
		usleep(100000);
	}
	return 0;
}

/* (i) the fleet key rotated under running workstations (fleet.h, KEYS):
 * each holds the new key as key_file and the old as old_key_file; logins
 * go on before the rotation (records under the old key), and after it
 * (resealed under the new one), recovery codes made before it included
 * (their hashes wrapped under the new key) */
static void
test_key_rotation(void)
{
	struct secret_key nk;
	struct fleet_keyring ring;
	struct fleet_rekey_stats st;
	struct fleet_user u;
	struct enr e;
	char code[9], path[800], nid[FLEET_KEYID_LEN + 1];
	char rc[SECRET_RECOVERY_CHARS + 3];
	const char *codes[1] = { rc };

	CU_ASSERT_EQUAL_FATAL(secret_recovery_generate(rc), 0);
	CU_ASSERT_EQUAL_FATAL(enrol("carol", carol.secret, 20, codes, 1), 0);
	CU_ASSERT_EQUAL_FATAL(secret_random(nk.k, sizeof(nk.k)), 0);
	CU_ASSERT_EQUAL_FATAL(fleet_key_id(&nk, nid), 0);
	for (int i = 0; i < NWS; i++) {
		snprintf(path, sizeof(path), "%.700s/etc/fleet2.key", ws[i].dir);
		CU_ASSERT_EQUAL_FATAL(tu_write(path, nk.k, sizeof(nk.k), 0600), 0);
		/* a changed ward.conf is loaded again at the next request */
		CU_ASSERT_EQUAL_FATAL(tu_sh("sed -i 's|key_file = \"\\(.*\\)/etc/fleet.key\";|"
		    "key_file = \"\\1/etc/fleet2.key\"; old_key_file = \"\\1/etc/fleet.key\";|' "
		    "'%s' && grep -q old_key_file '%s'", ws[i].conf, ws[i].conf), 0);
	}
	/* before the rotation: carol's record is under the old key */
	(void)next_code(&carol, NULL, code);
	CU_ASSERT_EQUAL(login(0, "carol", code), O_OK);
	/* the rotation, as the enrolment identity */
	memset(&ring, 0, sizeof(ring));
	ring.key[0] = fkey;
	CU_ASSERT_EQUAL_FATAL(fleet_key_id(&fkey, ring.id[0]), 0);
	ring.n = 1;
	memset(&st, 0, sizeof(st));
	CU_ASSERT_EQUAL_FATAL(handle_open(&e, "A", "enrol"), 0);
	CU_ASSERT_EQUAL(fleet_rekey(e.f, &ring, &nk, NULL, NULL, &st), 0);
	handle_close(&e);
	CU_ASSERT(st.resealed >= 1);
	CU_ASSERT_EQUAL(st.failed, 0);
	memset(&u, 0, sizeof(u));
	CU_ASSERT_EQUAL(record_at_a("carol", &u), 0);
	CU_ASSERT_EQUAL(strncmp(u.key_chain, nid, FLEET_KEYID_LEN), 0);
	fleet_user_clear(&u);
	CU_ASSERT(rotated_at("C1", "carol", nid));
	CU_ASSERT(rotated_at("C2", "carol", nid));
	/* after it: a code on each consumer's side, and the recovery code
	 * made before the rotation */
	(void)next_code(&carol, NULL, code);
	CU_ASSERT_EQUAL(login(1, "carol", code), O_OK);
	(void)next_code(&carol, NULL, code);
	CU_ASSERT_EQUAL(login(2, "carol", code), O_OK);
	CU_ASSERT_EQUAL(login(3, "carol", rc), O_OK);
	CU_ASSERT_EQUAL(login(0, "carol", rc), O_WRONG);    /* spent: no such value */
	fleet_keyring_wipe(&ring);
	secret_key_wipe(&nk);
}

int
main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("fleetd", suite_init, suite_clean);
	CU_add_test(s, "(a) one TOTP code, 4 workstations, 20 rounds", test_race_totp);
	CU_add_test(s, "(b) one recovery code, 4 workstations, 20 rounds", test_race_recovery);
	CU_add_test(s, "(c) wrong codes lock everywhere; one unlock clears", test_lockout_everywhere);
	CU_add_test(s, "(d) enrol once, works everywhere; a reset stops the old secret",
	    test_enrol_and_reset);
	CU_add_test(s, "(e) a change with no answer: denied, the step spent", test_write_timeout);
	CU_add_test(s, "(g) offline within the bound, refused beyond; sent back, replay "
	    "suspected", test_offline_and_sync);
	CU_add_test(s, "(h) a login the policy denies spends nothing", test_denied_unspent);
	CU_add_test(s, "(i) the fleet key rotated under running workstations", test_key_rotation);
	CU_add_test(s, "(f) audit chains verify and name their hosts", test_audit_chains);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	{
		int failed = (int)CU_get_number_of_failures();

		CU_cleanup_registry();
		return failed == 0 && CU_get_error() == CUE_SUCCESS ? 0 : 1;
	}
}
