/*
 * test_fleet.c - fleet mode's operations (lib/fleet.h) on a replicated
 * directory (tests/fleet/pair.sh: providers A and B replicating each
 * other, read-only consumers C1 of A and C2 of B chaining writes to A,
 * contrib/ldap/ward.ldif and ward-acl.ldif loaded as shipped).
 *
 * Races are processes, each a workstation with its own connection and
 * identity, released together at a barrier in shared memory, 20 rounds:
 *  - one code (time step) through the two chaining consumers: exactly one
 *    success a round (the others: replay); the same straight to A;
 *  - half the racers writing to A and half to B (a configuration Ward
 *    refuses): measured and printed, at most one success per provider;
 *  - one recovery code through the consumers: exactly one success;
 *  - wrong codes spread over both consumers: the count reaches
 *    max_failures once, the user is locked, a right code is then refused
 *    as locked, and the enrolment identity unlocks;
 * and the directory's ACLs hold through a consumer too; a write that gets
 * no answer (A stopped) is never a success; a write_uri naming two
 * servers is refused.  The latency of one accept, direct and chained, is
 * measured and printed (not judged).
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <ldap.h>
#include <pthread.h>
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
#include "secret.h"
#include "slapdtest.h"
#include "testutil.h"

#define NRACE 8          /* racing workstations: half on each side */
#define ROUNDS 20
#define MAXF 5           /* max_failures in the lockout race */

static char *dir;                    /* the pair's folder */
static struct secret_key fkey;       /* the fleet key of this run */
static char alice_dn[160], bob_dn[160], carol_dn[160];

/* ---- the pair --------------------------------------------------------------- */

/* The value of NAME in the pair's env file into OUT. */
static int
env(const char *name, char *out, size_t len)
{
	return tu_slapd_env(name, out, len) == 0 && out[0] != '\0' ? 0 : -1;
}

/* A workstation's (or the enrolment identity's) ward.conf: reads from
 * READ_NODE, writes to WRITE (a node name, or a literal value when it
 * holds a quote or a bracket), bound as WHO ("ws1", "ws2", "enrol"). */
static int
make_conf(struct ward_conf *c, const char *read_node, const char *write, const char *who,
    long timeout_ms)
{
	char k[32], ruri[128], wuri[256], ca[512], dn[256], pwf[512], base[128];
	char text[4096], err[1024];
	int r;

	snprintf(k, sizeof(k), "%s_URI", read_node);
	if (env(k, ruri, sizeof(ruri)) != 0 || env("CA_FILE", ca, sizeof(ca)) != 0 ||
	    env("BASE", base, sizeof(base)) != 0)
		return -1;
	if (strpbrk(write, "\"[") != NULL) {
		snprintf(wuri, sizeof(wuri), "%s", write);
	} else {
		char u[128];

		snprintf(k, sizeof(k), "%s_URI", write);
		if (env(k, u, sizeof(u)) != 0)
			return -1;
		snprintf(wuri, sizeof(wuri), "\"%s\"", u);
	}
	if (strcmp(who, "enrol") == 0) {
		if (env("ENROL_DN", dn, sizeof(dn)) != 0 ||
		    env("ENROL_PW_FILE", pwf, sizeof(pwf)) != 0)
			return -1;
	} else if (env(strcmp(who, "ws1") == 0 ? "WS1_DN" : "WS2_DN", dn, sizeof(dn)) != 0 ||
	    env("WS_PW_FILE", pwf, sizeof(pwf)) != 0) {
		return -1;
	}
	snprintf(text, sizeof(text),
	    "directory = { uri = [\"%s\"]; base = \"%s\"; bind_dn = \"%s\";\n"
	    "  bind_password_file = \"%s\"; ca_file = \"%s\"; timeout_ms = %ld; };\n"
	    "fleet = { write_uri = %s; key_file = \"/nonexistent/fleet.key\"; };\n",
	    ruri, base, dn, pwf, ca, timeout_ms, wuri);
	r = conf_load_buffer(c, "fleet-test.conf", text, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "\nconf: %s\n", err);
	return r;
}

/* A fleet handle bound as WHO, reading READ_NODE, writing to WRITE. */
struct ws {
	struct ward_conf conf;
	struct fleet *f;
};

static int
ws_open(struct ws *w, const char *read_node, const char *write, const char *who)
{
	memset(w, 0, sizeof(*w));
	if (make_conf(&w->conf, read_node, write, who, 3000) != 0)
		return -1;
	if (fleet_open(&w->f, &w->conf) != 0) {
		conf_free(&w->conf);
		return -1;
	}
	return 0;
}

static void
ws_close(struct ws *w)
{
	fleet_close(w->f);
	conf_free(&w->conf);
	memset(w, 0, sizeof(*w));
}

/* Enrol USER (DN) from the enrolment identity with SECRET and CODES. */
static int
enrol(const char *user, const char *dn, const unsigned char *secret, size_t len,
    const char *const *codes, size_t ncodes, struct fleet_record *keep)
{
	struct fleet_record rec;
	struct ws e;
	int r;

	if (ws_open(&e, "A", "A", "enrol") != 0)
		return -1;
	r = fleet_make_record(&fkey, user, secret, len, CONF_ALGO_SHA1, 6, 30, time(NULL),
	    codes, ncodes, &rec);
	if (r == 0)
		r = fleet_enroll(e.f, dn, &rec);
	if (r == 0 && keep != NULL)
		*keep = rec;
	else
		fleet_record_clear(&rec);
	ws_close(&e);
	return r;
}

/*
 * Do both consumers chain a write to A?  Debian 12's slapd (2.5.13) now and
 * then starts a consumer whose chained writes are answered 52 "Proxy
 * operation retry failed" for as long as it runs (never a false success;
 * the races below allow for it, the one-at-a-time checks cannot).  An
 * unlock of alice (never locked), as the enrolment identity, is the probe:
 * it changes nothing anyone tests.
 */
static int
chains_work(void)
{
	char base[64], dn[160];
	struct ws e;
	int ok = 1;

	if (env("BASE", base, sizeof(base)) != 0)
		return 0;
	snprintf(dn, sizeof(dn), "uid=alice,ou=people,%s", base);
	for (int n = 0; n < 2 && ok; n++) {
		const char *node = n == 0 ? "C1" : "C2";

		if (ws_open(&e, node, node, "enrol") != 0)
			return 0;
		for (int i = 0; i < 3 && ok; i++)
			ok = fleet_unlock(e.f, dn) == 0;
		ws_close(&e);
	}
	return ok;
}

static int
suite_init(void)
{
	char pw[64];

	/* a pair whose consumer does not chain is started anew (3 tries) */
	for (int tries = 0; tries < 3; tries++) {
		free(dir);
		if ((dir = tu_mkdtemp("ward-fleet")) == NULL || tu_slapd_pair_start(dir) != 0)
			return -1;
		if (chains_work())
			break;
		fprintf(stderr, "\nfleet: a consumer answers 52 to chained writes; starting "
		    "the pair again\n");
		tu_slapd_stop();
		if (tries == 2)
			return -1;
	}
	if (secret_random(fkey.k, sizeof(fkey.k)) != 0 || env("BASE", pw, sizeof(pw)) != 0)
		return -1;
	snprintf(alice_dn, sizeof(alice_dn), "uid=alice,ou=people,%s", pw);
	snprintf(bob_dn, sizeof(bob_dn), "uid=bob,ou=people,%s", pw);
	snprintf(carol_dn, sizeof(carol_dn), "uid=carol,ou=people,%s", pw);
	return 0;
}

static int
suite_clean(void)
{
	tu_slapd_stop();
	secret_key_wipe(&fkey);
	free(dir);
	return 0;
}

/* ---- racing processes -------------------------------------------------------- */

enum race_kind { RACE_ACCEPT, RACE_RECOVERY, RACE_FAIL };

struct race {
	struct tu_race b;
	const char *rd[2], *wr[2];                  /* race_run's, for the racers */
	int rounds;
	void (*setup)(struct race *, int);
	int kind;
	char dn[160];
	int64_t step[ROUNDS];                       /* RACE_ACCEPT */
	unsigned char hash[ROUNDS][FLEET_HASH_LEN];  /* RACE_RECOVERY */
	int64_t now;                                /* RACE_FAIL */
	int rc[ROUNDS][NRACE];
	long count[NRACE];
	int locked_now[NRACE];
	int ready[NRACE];
};

/* Racer I: open its own handle (WRITE[I], bound as ws1 or ws2), read the
 * user once (connections up), then ROUNDS times: wait at the start
 * barrier, race, record, wait at the end barrier. */
static void
racer(struct race *sh, int i, const char *read_node, const char *write, int rounds)
{
	struct fleet_user u;
	struct ws w;
	int ok = ws_open(&w, read_node, write, i % 2 ? "ws2" : "ws1") == 0 &&
	    fleet_connect(w.f) == 0 && fleet_read(w.f, "alice", &u) == 0;

	if (ok)
		fleet_user_clear(&u);
	sh->ready[i] = ok;
	for (int r = 0; r < rounds; r++) {
		tu_race_begin(&sh->b);
		if (!ok)
			sh->rc[r][i] = 1;
		else if (sh->kind == RACE_ACCEPT)
			sh->rc[r][i] = fleet_accept(w.f, sh->dn, sh->step[r], time(NULL));
		else if (sh->kind == RACE_RECOVERY)
			sh->rc[r][i] = fleet_recovery_spend(w.f, sh->dn, sh->hash[r], time(NULL),
			    NULL);
		else
			sh->rc[r][i] = fleet_fail(w.f, sh->dn, sh->now, MAXF, 900, &sh->count[i],
			    &sh->locked_now[i]);
		tu_race_end(&sh->b);
	}
	if (ok)
		ws_close(&w);
}

static void
race_child(void *ctx, int i)
{
	struct race *sh = ctx;

	racer(sh, i, sh->rd[i % 2], sh->wr[i % 2], sh->rounds);
}

static void
race_setup(void *ctx, int r)
{
	struct race *sh = ctx;

	sh->setup(sh, r);
}

/* Run NRACE racers for ROUNDS rounds: racer I reads from READ[I % 2] and
 * writes to WRITE[I % 2].  SETUP (may be NULL) runs before each round. */
static int
race_run(struct race *sh, const char *const read[2], const char *const write[2], int rounds,
    void (*setup)(struct race *, int))
{
	int bad;

	for (int k = 0; k < 2; k++) {
		sh->rd[k] = read[k];
		sh->wr[k] = write[k];
	}
	sh->rounds = rounds;
	sh->setup = setup;
	bad = tu_race_run(&sh->b, NRACE, rounds, race_child, setup != NULL ? race_setup : NULL,
	    sh) != 0;
	for (int i = 0; i < NRACE; i++)
		if (!sh->ready[i])
			bad = 1;
	return bad ? -1 : 0;
}

static struct race *
race_new(int kind, const char *dn)
{
	struct race *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (sh == MAP_FAILED)
		return NULL;
	memset(sh, 0, sizeof(*sh));
	sh->kind = kind;
	snprintf(sh->dn, sizeof(sh->dn), "%s", dn);
	return sh;
}

/*
 * No answer: the write path timed out or said "unavailable" (Debian 12's
 * slapo-chain now and then answers 52 to a chained write for the life of
 * that consumer; the write may or may not have landed), or the reconnect
 * after it failed (the write was never sent).  Never a success.
 */
static int
ambiguous(int rc)
{
	return rc == WARD_ERR_TIMEOUT || rc == WARD_ERR_UNAVAIL || rc == WARD_ERR_TLS;
}

/*
 * Tally a race of one value per round: successes per round into WINS and
 * whether a round had an answer that did not come into AMB, printed under
 * NAME.  Every other loser must see LOSER.  Returns the number of rounds
 * with exactly one success.
 */
static int
tally(const struct race *sh, const char *name, int loser, int wins[ROUNDS], int amb[ROUNDS])
{
	int exact = 0;

	printf("\n    %s, successes per round:", name);
	for (int r = 0; r < ROUNDS; r++) {
		int w = 0, a = 0;

		for (int i = 0; i < NRACE; i++) {
			if (sh->rc[r][i] == 0)
				w++;
			else if (ambiguous(sh->rc[r][i]))
				a++;
			else if (sh->rc[r][i] != loser) {
				fprintf(stderr, "\nround %d racer %d: %s\n", r, i,
				    ward_strerror(sh->rc[r][i]));
				CU_FAIL("a loser saw neither the refusal nor no answer");
			}
		}
		wins[r] = w;
		amb[r] = a;
		printf(" %d%s", w, a ? "*" : "");
		exact += w == 1;
	}
	printf("  (%d of %d rounds exactly one; * = a round where an answer did not "
	    "come)\n   ", exact, ROUNDS);
	return exact;
}

/* Never two successes a round; none only in a round where an answer did
 * not come (that write may have landed: the step is spent, no one was let
 * in). */
static void
assert_once(const int wins[ROUNDS], const int amb[ROUNDS])
{
	for (int r = 0; r < ROUNDS; r++) {
		CU_ASSERT(wins[r] <= 1);
		CU_ASSERT(wins[r] == 1 || amb[r] > 0);
	}
}

/* ---- enrolment and reading ----------------------------------------------------- */

static unsigned char alice_secret[20];

/* Enrolment writes the record once; every workstation reads it through its
 * consumer and opens the secret with the fleet key; a workstation cannot
 * open it as another user; an entry without wardUser gets the class. */
static void
test_enrol_and_read(void)
{
	const char *codes[3] = { "abcd-efgh-jkmn", "2345-6789-abcd", "pqrs-tvwx-yz01" };
	struct fleet_user u;
	unsigned char *pt = NULL;
	size_t ptlen = 0;
	struct ws w;
	int r = -1;

	CU_ASSERT_EQUAL_FATAL(secret_random(alice_secret, sizeof(alice_secret)), 0);
	CU_ASSERT_EQUAL_FATAL(enrol("alice", alice_dn, alice_secret, sizeof(alice_secret),
	    codes, 3, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(ws_open(&w, "C2", "C2", "ws2"), 0);
	/* replication A -> B -> C2 takes milliseconds; allow 5 s */
	for (int i = 0; i < 500; i++) {
		if ((r = fleet_read(w.f, "alice", &u)) == 0 && u.secret_ct != NULL)
			break;
		if (r == 0)
			fleet_user_clear(&u);
		usleep(10000);
	}
	CU_ASSERT_EQUAL_FATAL(r, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(u.secret_ct);
	CU_ASSERT_STRING_EQUAL(u.dn, alice_dn);
	CU_ASSERT_EQUAL(u.algorithm, CONF_ALGO_SHA1);
	CU_ASSERT_EQUAL(u.digits, 6);
	CU_ASSERT_EQUAL(u.period, 30);
	CU_ASSERT_EQUAL(u.nrecovery, 3);
	CU_ASSERT_TRUE(u.has_salt);
	CU_ASSERT_EQUAL(u.failures, 0);
	CU_ASSERT_EQUAL(u.locked_until, 0);
	CU_ASSERT(u.enrolled_at > time(NULL) - 60 && u.enrolled_at <= time(NULL));
	CU_ASSERT_EQUAL(secret_open(&fkey, "alice", u.secret_ct, u.secret_ct_len, &pt, &ptlen), 0);
	CU_ASSERT_EQUAL(ptlen, sizeof(alice_secret));
	CU_ASSERT(pt != NULL && memcmp(pt, alice_secret, sizeof(alice_secret)) == 0);
	ward_freezero(pt, ptlen);
	pt = NULL;
	/* the user is bound in: the same value does not open as bob's */
	CU_ASSERT_EQUAL(secret_open(&fkey, "bob", u.secret_ct, u.secret_ct_len, &pt, &ptlen),
	    WARD_ERR_CRYPTO);
	fleet_user_clear(&u);
	/* an unknown user; a name the filter matches only by case */
	CU_ASSERT_EQUAL(fleet_read(w.f, "nobody-here", &u), WARD_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(fleet_read(w.f, "ALICE", &u), WARD_ERR_NOTFOUND);
	/* carol is no wardUser yet: enrolment adds the class */
	CU_ASSERT_EQUAL(enrol("carol", carol_dn, alice_secret, sizeof(alice_secret), codes, 1,
	    NULL), 0);
	ws_close(&w);
	CU_ASSERT_EQUAL(enrol("bob", bob_dn, alice_secret, sizeof(alice_secret), codes, 1,
	    NULL), 0);
}

/* ---- the races -------------------------------------------------------------- */

static int64_t next_step = 100000;

static void
race_steps(struct race *sh)
{
	for (int r = 0; r < ROUNDS; r++)
		sh->step[r] = next_step++;
}

/* The watermark as the write provider A has it. */
static int64_t
watermark(void)
{
	struct fleet_user u;
	struct ws w;
	int64_t last = -2;

	if (ws_open(&w, "A", "A", "ws1") != 0)
		return -2;
	if (fleet_read(w.f, "alice", &u) == 0) {
		last = u.last_step;
		fleet_user_clear(&u);
	}
	ws_close(&w);
	return last;
}

/* One code, NRACE workstations, half on each chaining consumer. */
static void
test_race_consumers(void)
{
	const char *rd[2] = { "C1", "C2" }, *wr[2] = { "C1", "C2" };
	struct race *sh = race_new(RACE_ACCEPT, alice_dn);
	int wins[ROUNDS], amb[ROUNDS], last = -1;
	int64_t wm;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sh);
	race_steps(sh);
	CU_ASSERT_EQUAL_FATAL(race_run(sh, rd, wr, ROUNDS, NULL), 0);
	tally(sh, "through consumers C1+C2 (chained to A)", WARD_ERR_REPLAY, wins, amb);
	assert_once(wins, amb);
	/* never below an accepted step, never above the last one tried */
	for (int r = 0; r < ROUNDS; r++)
		if (wins[r] == 1)
			last = r;
	wm = watermark();
	CU_ASSERT(last >= 0 && wm >= sh->step[last] && wm <= sh->step[ROUNDS - 1]);
	munmap(sh, sizeof(*sh));
}

/* The same, every workstation writing straight to provider A. */
static void
test_race_direct(void)
{
	const char *rd[2] = { "A", "B" }, *wr[2] = { "A", "A" };
	struct race *sh = race_new(RACE_ACCEPT, alice_dn);
	int wins[ROUNDS], amb[ROUNDS], exact;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sh);
	race_steps(sh);
	CU_ASSERT_EQUAL_FATAL(race_run(sh, rd, wr, ROUNDS, NULL), 0);
	exact = tally(sh, "straight to provider A", WARD_ERR_REPLAY, wins, amb);
	assert_once(wins, amb);
	CU_ASSERT_EQUAL(exact, ROUNDS);
	CU_ASSERT_EQUAL(watermark(), sh->step[ROUNDS - 1]);
	munmap(sh, sizeof(*sh));
}

/*
 * The hazard Ward refuses to configure: half the workstations write to A,
 * half to B.  Each provider is a compare-and-swap on its own, so a round
 * has at most one success per provider; how often both providers accept
 * the same code is measured and printed (it depends on timing).
 */
static void
test_race_two_providers(void)
{
	const char *rd[2] = { "A", "B" }, *wr[2] = { "A", "B" };
	struct race *sh = race_new(RACE_ACCEPT, alice_dn);
	int wins[ROUNDS], amb[ROUNDS], doubled = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sh);
	race_steps(sh);
	CU_ASSERT_EQUAL_FATAL(race_run(sh, rd, wr, ROUNDS, NULL), 0);
	tally(sh, "half to A, half to B (refused by ward.conf)", WARD_ERR_REPLAY, wins, amb);
	for (int r = 0; r < ROUNDS; r++) {
		int wa = 0, wb = 0;

		for (int i = 0; i < NRACE; i++)
			if (sh->rc[r][i] == 0)
				*(i % 2 ? &wb : &wa) += 1;
		CU_ASSERT(wa <= 1 && wb <= 1);
		doubled += wins[r] > 1;
	}
	printf(" the same code accepted twice in %d of %d rounds\n   ", doubled, ROUNDS);
	munmap(sh, sizeof(*sh));
	/* let replication settle before the next test reads the entry */
	sleep(1);
}

/* One recovery code a round, NRACE workstations on both consumers. */
static const char *rec_codes[ROUNDS];
static char rec_buf[ROUNDS][SECRET_RECOVERY_CHARS + 3];

static void
recovery_setup(struct race *sh, int r)
{
	struct fleet_record rec;

	/* a set holds at most FLEET_MAX_RECOVERY codes: two sets of ten */
	if (r % 10 != 0)
		return;
	CU_ASSERT_EQUAL_FATAL(enrol("alice", alice_dn, alice_secret, sizeof(alice_secret),
	    rec_codes + r, 10, &rec), 0);
	for (int k = 0; k < 10; k++)
		memcpy(sh->hash[r + k], rec.recovery[k], FLEET_HASH_LEN);
	fleet_record_clear(&rec);
}

static void
test_race_recovery(void)
{
	const char *rd[2] = { "C1", "C2" }, *wr[2] = { "C1", "C2" };
	struct race *sh = race_new(RACE_RECOVERY, alice_dn);
	int wins[ROUNDS], amb[ROUNDS];
	unsigned char salt[FLEET_SALT_LEN] = { 0 }, h[FLEET_HASH_LEN];

	CU_ASSERT_PTR_NOT_NULL_FATAL(sh);
	for (int r = 0; r < ROUNDS; r++) {
		CU_ASSERT_EQUAL_FATAL(secret_recovery_generate(rec_buf[r]), 0);
		rec_codes[r] = rec_buf[r];
	}
	CU_ASSERT_EQUAL_FATAL(race_run(sh, rd, wr, ROUNDS, recovery_setup), 0);
	tally(sh, "one recovery code through C1+C2", WARD_ERR_BADCODE, wins, amb);
	assert_once(wins, amb);
	/* a code of the wrong shape is no hash at all */
	CU_ASSERT_EQUAL(fleet_recovery_hash(&fkey, salt, "alice", "not-a-code", h),
	    WARD_ERR_PARSE);
	munmap(sh, sizeof(*sh));
}

/* Wrong codes from NRACE workstations on both consumers at once. */
static void
test_race_lockout(void)
{
	const char *rd[2] = { "C1", "C2" }, *wr[2] = { "C1", "C2" };
	struct race *sh = race_new(RACE_FAIL, bob_dn);
	int seen[NRACE + 1] = { 0 }, counted = 0, locked = 0, nlocked_now = 0;
	long cnt = 0;
	int lnow = 0;
	struct ws w;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sh);
	sh->now = time(NULL);
	CU_ASSERT_EQUAL_FATAL(race_run(sh, rd, wr, 1, NULL), 0);
	for (int i = 0; i < NRACE; i++) {
		if (sh->rc[0][i] == 0) {
			counted++;
			CU_ASSERT(sh->count[i] >= 1 && sh->count[i] <= NRACE);
			if (sh->count[i] >= 1 && sh->count[i] <= NRACE) {
				CU_ASSERT_EQUAL(seen[sh->count[i]], 0);   /* each count once */
				seen[sh->count[i]] = 1;
			}
			nlocked_now += sh->locked_now[i];
		} else {
			CU_ASSERT_EQUAL(sh->rc[0][i], WARD_ERR_LOCKED);
			locked++;
		}
	}
	printf("\n    lockout race: %d failures counted (each count seen once), %d refused "
	    "as locked, lockout set by %d\n   ", counted, locked, nlocked_now);
	CU_ASSERT(counted >= MAXF);
	for (int k = 1; k <= MAXF; k++)
		CU_ASSERT_EQUAL(seen[k], 1);
	CU_ASSERT_EQUAL(nlocked_now, 1);
	/* locked everywhere: the right code is refused as locked on both sides */
	CU_ASSERT_EQUAL_FATAL(ws_open(&w, "C2", "C2", "ws2"), 0);
	CU_ASSERT_EQUAL(fleet_accept(w.f, bob_dn, next_step++, time(NULL)), WARD_ERR_LOCKED);
	ws_close(&w);
	CU_ASSERT_EQUAL_FATAL(ws_open(&w, "C1", "C1", "ws1"), 0);
	CU_ASSERT_EQUAL(fleet_accept(w.f, bob_dn, next_step++, time(NULL)), WARD_ERR_LOCKED);
	CU_ASSERT_EQUAL(fleet_fail(w.f, bob_dn, time(NULL), MAXF, 900, &cnt, &lnow),
	    WARD_ERR_LOCKED);
	/* after the lockout has ended, a failure starts the count afresh */
	CU_ASSERT_EQUAL(fleet_fail(w.f, bob_dn, time(NULL) + 901, MAXF, 900, &cnt, &lnow), 0);
	CU_ASSERT_EQUAL(cnt, 1);
	CU_ASSERT_EQUAL(lnow, 0);
	ws_close(&w);
	munmap(sh, sizeof(*sh));
}

/* Unlock by the enrolment identity lets the right code in again. */
static void
test_unlock(void)
{
	long cnt = 0;
	int lnow = 0;
	struct ws w, e;

	CU_ASSERT_EQUAL_FATAL(ws_open(&e, "A", "A", "enrol"), 0);
	CU_ASSERT_EQUAL(fleet_unlock(e.f, bob_dn), 0);
	CU_ASSERT_EQUAL_FATAL(ws_open(&w, "C1", "C1", "ws1"), 0);
	for (int i = 0; i < MAXF; i++)
		CU_ASSERT_EQUAL(fleet_fail(w.f, bob_dn, time(NULL), MAXF, 900, &cnt, &lnow), 0);
	CU_ASSERT_EQUAL(cnt, MAXF);
	CU_ASSERT_EQUAL(lnow, 1);
	CU_ASSERT_EQUAL(fleet_accept(w.f, bob_dn, next_step++, time(NULL)), WARD_ERR_LOCKED);
	CU_ASSERT_EQUAL(fleet_unlock(e.f, bob_dn), 0);
	ws_close(&e);
	CU_ASSERT_EQUAL(fleet_accept(w.f, bob_dn, next_step, time(NULL)), 0);
	CU_ASSERT_EQUAL(fleet_accept(w.f, bob_dn, next_step, time(NULL)), WARD_ERR_REPLAY);
	CU_ASSERT_EQUAL(fleet_accept(w.f, bob_dn, next_step - 1, time(NULL)), WARD_ERR_REPLAY);
	next_step++;
	ws_close(&w);
}

/* ---- access rules ---------------------------------------------------------------- */

/* A raw libldap connection bound as DN_VAR's identity (simple bind). */
static LDAP *
raw_bind(const char *node, const char *dn, const char *pw)
{
	char k[32], uri[128], ca[512];
	struct berval cred;
	int v3 = LDAP_VERSION3, hard = LDAP_OPT_X_TLS_HARD, zero = 0;
	LDAP *ld = NULL;

	snprintf(k, sizeof(k), "%s_URI", node);
	if (env(k, uri, sizeof(uri)) != 0 || env("CA_FILE", ca, sizeof(ca)) != 0 ||
	    ldap_initialize(&ld, uri) != LDAP_SUCCESS)
		return NULL;
	cred.bv_val = (char *)(uintptr_t)pw;
	cred.bv_len = strlen(pw);
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &hard) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, ca) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero) != LDAP_OPT_SUCCESS ||
	    ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL) != LDAP_SUCCESS) {
		ldap_unbind_ext_s(ld, NULL, NULL);
		return NULL;
	}
	return ld;
}

/* A modify of one value of ATTR on DN: the LDAP result code. */
static int
raw_modify(LDAP *ld, const char *dn, int op, const char *attr, const char *val)
{
	char v[64], a[64];
	char *vals[2] = { v, NULL };
	LDAPMod m, *mods[2] = { &m, NULL };

	snprintf(v, sizeof(v), "%s", val);
	snprintf(a, sizeof(a), "%s", attr);
	m.mod_op = op;
	m.mod_type = a;
	m.mod_values = vals;
	return ldap_modify_ext_s(ld, dn, mods, NULL, NULL);
}

/* How many values of ATTR on DN this connection can read. */
static int
raw_count(LDAP *ld, const char *dn, const char *attr)
{
	char a[64], *attrs[2] = { a, NULL };
	LDAPMessage *res = NULL, *e;
	struct berval **v;
	int n = -1;

	snprintf(a, sizeof(a), "%s", attr);
	if (ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL,
	    NULL, 1, &res) == LDAP_SUCCESS && (e = ldap_first_entry(ld, res)) != NULL) {
		v = ldap_get_values_len(ld, e, attr);
		n = v != NULL ? ldap_count_values_len(v) : 0;
		ldap_value_free_len(v);
	}
	ldap_msgfree(res);
	return n;
}

static void
test_acls(void)
{
	const char *nodes[2] = { "C1", "A" };
	char wsdn[256], wspw[128], odn[256], opw[128];
	struct fleet_record rec;
	struct ws w;

	CU_ASSERT_EQUAL_FATAL(env("WS1_DN", wsdn, sizeof(wsdn)), 0);
	CU_ASSERT_EQUAL_FATAL(env("WS_PW", wspw, sizeof(wspw)), 0);
	CU_ASSERT_EQUAL_FATAL(env("OUTSIDER_DN", odn, sizeof(odn)), 0);
	CU_ASSERT_EQUAL_FATAL(env("OUTSIDER_PW", opw, sizeof(opw)), 0);
	for (int n = 0; n < 2; n++) {
		LDAP *ld = raw_bind(nodes[n], wsdn, wspw), *out = raw_bind(nodes[n], odn, opw);

		CU_ASSERT_PTR_NOT_NULL_FATAL(ld);
		CU_ASSERT_PTR_NOT_NULL_FATAL(out);
		/* a workstation: no secret written, no recovery hash added, no
		 * password read, no other attribute changed */
		CU_ASSERT_EQUAL(raw_modify(ld, alice_dn, LDAP_MOD_REPLACE, "wardTotpSecret",
		    "known"), LDAP_INSUFFICIENT_ACCESS);
		CU_ASSERT_EQUAL(raw_modify(ld, alice_dn, LDAP_MOD_ADD, "wardRecoveryCode",
		    "known-hash"), LDAP_INSUFFICIENT_ACCESS);
		CU_ASSERT_EQUAL(raw_modify(ld, alice_dn, LDAP_MOD_REPLACE, "wardRecoverySalt",
		    "s"), LDAP_INSUFFICIENT_ACCESS);
		CU_ASSERT_EQUAL(raw_modify(ld, alice_dn, LDAP_MOD_REPLACE, "cn", "x"),
		    LDAP_INSUFFICIENT_ACCESS);
		CU_ASSERT_EQUAL(raw_count(ld, alice_dn, "userPassword"), 0);
		/* ... but it reads what a login needs */
		CU_ASSERT_EQUAL(raw_count(ld, alice_dn, "wardTotpSecret"), 1);
		CU_ASSERT(raw_count(ld, alice_dn, "wardRecoveryCode") >= 0);
		/* anyone else reads none of the MFA record */
		CU_ASSERT_EQUAL(raw_count(out, alice_dn, "wardTotpSecret"), 0);
		CU_ASSERT_EQUAL(raw_count(out, alice_dn, "wardTotpLastStep"), 0);
		CU_ASSERT_EQUAL(raw_count(out, alice_dn, "wardRecoverySalt"), 0);
		CU_ASSERT_EQUAL(raw_count(out, alice_dn, "cn"), 1);
		CU_ASSERT_EQUAL(raw_modify(out, alice_dn, LDAP_MOD_REPLACE, "wardTotpLastStep",
		    "1"), LDAP_INSUFFICIENT_ACCESS);
		ldap_unbind_ext_s(ld, NULL, NULL);
		ldap_unbind_ext_s(out, NULL, NULL);
	}
	/* enrolment through a workstation identity is refused, via a consumer */
	CU_ASSERT_EQUAL_FATAL(ws_open(&w, "C1", "C1", "ws1"), 0);
	CU_ASSERT_EQUAL_FATAL(fleet_make_record(&fkey, "alice", alice_secret,
	    sizeof(alice_secret), CONF_ALGO_SHA1, 6, 30, time(NULL), NULL, 0, &rec), 0);
	CU_ASSERT_EQUAL(fleet_enroll(w.f, alice_dn, &rec), WARD_ERR_PERM);
	fleet_record_clear(&rec);
	ws_close(&w);
}

/* ---- no answer, one write target -------------------------------------------------- */

/* Provider A stopped: an accept through a consumer gets no answer within
 * timeout_ms, and that is never a success. */
static void
test_no_answer(void)
{
	char pids[32];
	struct ward_conf c;
	struct fleet *f = NULL;
	struct fleet_user u;
	pid_t a;
	int r;

	CU_ASSERT_EQUAL_FATAL(env("A_PID", pids, sizeof(pids)), 0);
	a = (pid_t)atol(pids);
	CU_ASSERT_EQUAL_FATAL(make_conf(&c, "C1", "C1", "ws1", 500), 0);
	CU_ASSERT_EQUAL_FATAL(fleet_open(&f, &c), 0);
	CU_ASSERT_EQUAL_FATAL(fleet_read(f, "alice", &u), 0);
	CU_ASSERT_EQUAL_FATAL(kill(a, SIGSTOP), 0);
	CU_ASSERT_EQUAL(tu_wait_stopped(a, 5000), 0);
	r = fleet_accept(f, u.dn, next_step++, time(NULL));
	kill(a, SIGCONT);
	CU_ASSERT(r == WARD_ERR_TIMEOUT || r == WARD_ERR_UNAVAIL);
	fleet_user_clear(&u);
	fleet_close(f);
	conf_free(&c);
}

static void
test_one_write_target(void)
{
	struct ward_conf c, bad;
	struct fleet *f = NULL;
	char a[128], b[128], list[300];

	CU_ASSERT_EQUAL_FATAL(env("A_URI", a, sizeof(a)), 0);
	CU_ASSERT_EQUAL_FATAL(env("B_URI", b, sizeof(b)), 0);
	snprintf(list, sizeof(list), "[\"%s\", \"%s\"]", a, b);
	CU_ASSERT_NOT_EQUAL(make_conf(&c, "C1", list, "ws1", 3000), 0);
	snprintf(list, sizeof(list), "\"%s %s\"", a, b);
	CU_ASSERT_NOT_EQUAL(make_conf(&c, "C1", list, "ws1", 3000), 0);
	/* a configuration made in code is held to the same rule */
	CU_ASSERT_EQUAL_FATAL(make_conf(&c, "C1", "A", "ws1", 3000), 0);
	bad = c;
	bad.fleet.write_uri = list + 1;
	list[strlen(list) - 1] = '\0';
	CU_ASSERT_EQUAL(fleet_open(&f, &bad), WARD_ERR_INVAL);
	CU_ASSERT_PTR_NULL(f);
	conf_free(&c);
}

/* ---- latency --------------------------------------------------------------------- */

static int
cmp_long(const void *x, const void *y)
{
	long a = *(const long *)x, b = *(const long *)y;

	return (a > b) - (a < b);
}

#define NLAT 300

/* The time of one accept (reused connection), straight to A and chained
 * through C1: printed, not judged. */
static void
test_latency(void)
{
	const char *write[2] = { "A", "C1" };

	for (int k = 0; k < 2; k++) {
		static long us[NLAT];
		struct timespec t0, t1;
		struct ws w;
		int other = 0, rc;

		CU_ASSERT_EQUAL_FATAL(ws_open(&w, "C1", write[k], "ws1"), 0);
		CU_ASSERT_EQUAL(fleet_accept(w.f, alice_dn, next_step++, time(NULL)), 0);
		for (int i = 0; i < NLAT; i++) {
			clock_gettime(CLOCK_MONOTONIC, &t0);
			rc = fleet_accept(w.f, alice_dn, next_step++, time(NULL));
			/* a rising step is always accepted, bar an answer that did
			 * not come */
			other += rc != 0 && !ambiguous(rc);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			us[i] = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
		}
		CU_ASSERT_EQUAL(other, 0);
		qsort(us, NLAT, sizeof(us[0]), cmp_long);
		printf("\n    accept (assertion modify), %s, n=%d: p50 %ld us, p99 %ld us, "
		    "max %ld us\n   ", k == 0 ? "straight to A" : "chained through C1", NLAT,
		    us[NLAT / 2], us[NLAT * 99 / 100], us[NLAT - 1]);
		ws_close(&w);
	}
}

int
main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("fleet", suite_init, suite_clean);
	CU_add_test(s, "enrol once, read everywhere, sealed", test_enrol_and_read);
	CU_add_test(s, "one code, 8 workstations on two consumers, 20 rounds", test_race_consumers);
	CU_add_test(s, "one code, 8 workstations straight to A", test_race_direct);
	CU_add_test(s, "one code, half to A and half to B (measured)", test_race_two_providers);
	CU_add_test(s, "one recovery code, 20 rounds", test_race_recovery);
	CU_add_test(s, "wrong codes on both consumers lock once", test_race_lockout);
	CU_add_test(s, "unlock by the enrolment identity", test_unlock);
	CU_add_test(s, "ACLs, through a consumer too", test_acls);
	CU_add_test(s, "one write target", test_one_write_target);
	CU_add_test(s, "latency direct and chained", test_latency);
	CU_add_test(s, "no answer is no success", test_no_answer);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	{
		int failed = (int)CU_get_number_of_failures();

		CU_cleanup_registry();
		return failed == 0 && CU_get_error() == CUE_SUCCESS ? 0 : 1;
	}
}
