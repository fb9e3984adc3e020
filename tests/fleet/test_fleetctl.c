/*
 * test_fleetctl.c - wardctl in fleet mode (wardctl(8), FLEET) on a
 * replicated directory (tests/fleet/pair.sh, started with C2 not
 * chaining: PAIR_NOCHAIN=c2): the built wardctl run as the admin host
 * would run it, bound as the enrolment identity, writing through C1
 * (which chains to A); what it wrote read back as workstations read it
 * (lib/fleet.h, bound as ws-1 or ws-2, through each consumer).
 *
 *  - key identifiers and the rewrap of recovery hashes match openssl(1),
 *    and a chain of wrapped hashes computes (or, missing a key, does not);
 *  - init --fleet makes a 0600 root key of 32 bytes, prints no byte of
 *    it, and refuses to replace it;
 *  - enroll: both consumers give workstations a sealed secret that opens
 *    with the fleet key to the secret wardctl showed, and a code from it
 *    is accepted; status and fleet status show the state and never the
 *    secret;
 *  - unlock lifts a lockout workstations set; reset removes the
 *    enrolment and a new one has another secret; new recovery codes
 *    revoke the old ones;
 *  - a workstation identity's enroll is refused, naming itself and the
 *    write path;
 *  - fleet status tells a chaining consumer, a provider and a consumer
 *    that refers writes apart;
 *  - fleet rekey over 400 users: killed after its first changes, run
 *    again, every record ends resealed once (two key identifiers, no
 *    double wrap), secrets open to what they were, recovery codes still
 *    spend, and the old key alone opens nothing.
 * Every process started here is stopped by its pid (the pair by
 * tu_slapd_stop, at exit and on a signal; wardctl children are waited
 * for).
 */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "fleet.h"
#include "otp.h"
#include "secret.h"
#include "slapdtest.h"
#include "testutil.h"

#define NUSERS 400           /* rekey's users */
#define NCODES 2             /* their recovery codes */
#define KILL_AFTER 5         /* rekey lines read before the kill */

static char *dir, *work;     /* the pair's folder; the admin host's */
static char base[128];

/* ---- set-up ------------------------------------------------------------------ */

static int
env(const char *name, char *out, size_t len)
{
	return tu_slapd_env(name, out, len) == 0 && out[0] != '\0' ? 0 : -1;
}

/* A ward.conf NAME in WORK: reading from READ (a node, or NULL: C1 then
 * C2), writing to WRITE (a node), bound as WHO ("enrol", "ws1", "ws2"),
 * fleet key KEY (and OLD, may be NULL, as old_key_file). */
static int
write_conf(const char *name, const char *read, const char *write, const char *who,
    const char *key, const char *old)
{
	char c1[128], c2[128], w[128], k[32], ca[512], dn[256], pwf[512], path[1024];
	char text[4096], oldline[1200] = "";

	snprintf(k, sizeof(k), "%s_URI", write);
	if (env(read != NULL ? (strcmp(read, "C2") == 0 ? "C2_URI" : "C1_URI") : "C1_URI", c1,
	    sizeof(c1)) != 0 || env(read != NULL ? (strcmp(read, "C1") == 0 ? "C1_URI" :
	    "C2_URI") : "C2_URI", c2, sizeof(c2)) != 0 ||
	    env(k, w, sizeof(w)) != 0 || env("CA_FILE", ca, sizeof(ca)) != 0)
		return -1;
	if (env(strcmp(who, "enrol") == 0 ? "ENROL_DN" : strcmp(who, "ws1") == 0 ? "WS1_DN" :
	    "WS2_DN", dn, sizeof(dn)) != 0 || env(strcmp(who, "enrol") == 0 ? "ENROL_PW_FILE" :
	    "WS_PW_FILE", pwf, sizeof(pwf)) != 0)
		return -1;
	if (old != NULL)
		snprintf(oldline, sizeof(oldline), " old_key_file = \"%s\";", old);
	snprintf(text, sizeof(text),
	    "policy_file = \"%s/etc/policy.conf\";\nstate_dir = \"%s/state\";\n"
	    "secrets = { key_file = \"%s/etc/master.key\"; };\n"
	    "audit = { path = \"%s/log/audit.log\"; key_file = \"%s/etc/audit.key\"; "
	    "syslog = false; fsync = false; };\n"
	    "mfa = { max_failures = 5; lockout_seconds = 900; };\n"
	    "directory = { uri = [\"%s\", \"%s\"]; base = \"%s\"; bind_dn = \"%s\";\n"
	    "  bind_password_file = \"%s\"; ca_file = \"%s\"; timeout_ms = 5000; };\n"
	    "fleet = { write_uri = \"%s\"; key_file = \"%s\";%s };\n",
	    work, work, work, work, work, c1, c2, base, dn, pwf, ca, w, key, oldline);
	snprintf(path, sizeof(path), "%s/etc/%s", work, name);
	return tu_write(path, text, (size_t)-1, 0644);
}

/* wardctl --config WORK/etc/CONF ARGS, stdout and stderr: malloc'd. */
static char *
wardctl(const char *conf, const char *args, int *st)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "%s/wardctl --config %s/etc/%s %s 2>&1", tu_build(), work,
	    conf, args);
	return tu_run(cmd, 1, st);
}

/* wardctl on CONF with ARGS exits STATUS, and prints NEEDLE (NULL: not
 * looked at). */
static void
expect(const char *conf, const char *args, int status, const char *needle)
{
	char *out;
	int st, found;

	out = wardctl(conf, args, &st);
	found = needle == NULL || (out != NULL && strstr(out, needle) != NULL);
	CU_ASSERT_EQUAL(st, status);
	CU_ASSERT(found);
	if (st != status || !found)
		fprintf(stderr, "\nwardctl %s (%s): exit %d, %s\n", args, conf, st,
		    found ? "as expected" : "without what was looked for");
	free(out);
}

static char keyfile[1024], newkeyfile[1024];

/* Does C1 chain a write to A (Debian 12's slapd now and then starts a
 * consumer that answers 52 to every chained write)?  An unlock of alice
 * as the enrolment identity is the probe. */
static int
c1_chains(void)
{
	struct ward_conf c;
	struct fleet *f = NULL;
	char text[2048], ca[512], c1[128], dn[256], pwf[512], err[512], alice[200];
	int ok = 0;

	if (env("C1_URI", c1, sizeof(c1)) != 0 || env("CA_FILE", ca, sizeof(ca)) != 0 ||
	    env("ENROL_DN", dn, sizeof(dn)) != 0 || env("ENROL_PW_FILE", pwf, sizeof(pwf)) != 0)
		return 0;
	snprintf(text, sizeof(text), "directory = { uri = [\"%s\"]; base = \"%s\"; "
	    "bind_dn = \"%s\"; bind_password_file = \"%s\"; ca_file = \"%s\"; };\n"
	    "fleet = { write_uri = \"%s\"; };\n", c1, base, dn, pwf, ca, c1);
	if (conf_load_buffer(&c, "probe.conf", text, err, sizeof(err)) != 0)
		return 0;
	snprintf(alice, sizeof(alice), "uid=alice,ou=people,%s", base);
	if (fleet_open(&f, &c) == 0) {
		ok = 1;
		for (int i = 0; i < 3 && ok; i++)
			ok = fleet_unlock(f, alice) == 0;
	}
	fleet_close(f);
	conf_free(&c);
	return ok;
}

static int
suite_init(void)
{
	setenv("PAIR_NOCHAIN", "c2", 1);
	for (int tries = 0; tries < 3; tries++) {
		free(dir);
		if ((dir = tu_mkdtemp("ward-fleetctl")) == NULL || tu_slapd_pair_start(dir) != 0 ||
		    env("BASE", base, sizeof(base)) != 0)
			return -1;
		if (c1_chains())
			break;
		fprintf(stderr, "\nfleetctl: C1 answers 52 to chained writes; starting the pair "
		    "again\n");
		tu_slapd_stop();
		if (tries == 2)
			return -1;
	}
	unsetenv("PAIR_NOCHAIN");
	if ((work = tu_mkdtemp("ward-fleetctl-admin")) == NULL ||
	    tu_sh("mkdir -p %s/etc && chmod 0755 %s %s/etc", work, work, work) != 0)
		return -1;
	snprintf(keyfile, sizeof(keyfile), "%s/etc/fleet.key", work);
	snprintf(newkeyfile, sizeof(newkeyfile), "%s/etc/fleet.key.new", work);
	/* the admin host (writing through C1, A or C2); workstations ws-1
	 * reading C1 and ws-2 reading C2 (both read twice: the same URI
	 * twice in failover order) */
	if (write_conf("ward.conf", NULL, "C1", "enrol", keyfile, NULL) != 0 ||
	    write_conf("ws.conf", NULL, "C1", "ws1", keyfile, NULL) != 0 ||
	    write_conf("a.conf", NULL, "A", "enrol", keyfile, NULL) != 0 ||
	    write_conf("c2.conf", NULL, "C2", "enrol", keyfile, NULL) != 0 ||
	    write_conf("new.conf", NULL, "C1", "enrol", newkeyfile, keyfile) != 0 ||
	    write_conf("ws-read-0.conf", "C1", "C1", "ws1", keyfile, NULL) != 0 ||
	    write_conf("ws-read-1.conf", "C2", "C1", "ws2", keyfile, NULL) != 0)
		return -1;
	return 0;
}

static int
suite_clean(void)
{
	tu_slapd_stop();
	if (work != NULL)
		tu_rmtree(work);
	free(work);
	free(dir);
	return 0;
}

/* ---- workstations' view ---------------------------------------------------------- */

/* A fleet handle of the ward.conf NAME (its key ring too, when RING). */
struct ws {
	struct ward_conf conf;
	struct fleet *f;
	struct fleet_keyring ring;
};

static int
ws_open(struct ws *w, const char *name)
{
	char path[1024], err[512];

	memset(w, 0, sizeof(*w));
	snprintf(path, sizeof(path), "%s/etc/%s", work, name);
	if (conf_load(&w->conf, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "\n%s\n", err);
		return -1;
	}
	if (fleet_open(&w->f, &w->conf) != 0 ||
	    fleet_keyring_load(&w->ring, &w->conf, err, sizeof(err)) != 0) {
		fleet_close(w->f);
		conf_free(&w->conf);
		return -1;
	}
	return 0;
}

static void
ws_close(struct ws *w)
{
	fleet_close(w->f);
	fleet_keyring_wipe(&w->ring);
	conf_free(&w->conf);
}

/* What a workstation waits to read: the secret SECRET (LEN bytes; NULL:
 * not enrolled), or FAILURES and LOCKED (when STATE). */
struct want {
	const unsigned char *secret;
	size_t len;
	int state;
	long failures;
	int locked;
};

static int
as_wanted(const struct ws *w, const char *user, const struct fleet_user *u,
    const struct want *x)
{
	unsigned char *pt = NULL;
	size_t ptlen = 0;
	int ok;

	if (x->state)
		return u->failures == x->failures && (u->locked_until > time(NULL)) == x->locked;
	if (x->secret == NULL)
		return u->secret_ct == NULL;
	ok = fleet_open_secret(&w->ring, user, u, &pt, &ptlen) == 0 && ptlen == x->len &&
	    memcmp(pt, x->secret, x->len) == 0;
	ward_freezero(pt, ptlen);
	return ok;
}

/* A workstation (ws-1 via C1, ws-2 via C2: WHICH 0 or 1) reading USER's
 * record until it is as X wants, within 10 s: replication to a consumer
 * takes a moment.  0 when it was; the record read into KEEP (may be
 * NULL). */
static int
wait_read(int which, const char *user, const struct want *x, struct fleet_user *keep)
{
	struct ws w;
	int ok = -1;

	if (ws_open(&w, which ? "ws-read-1.conf" : "ws-read-0.conf") != 0)
		return -1;
	for (int i = 0; i < 100 && ok != 0; i++) {
		struct fleet_user u;

		if (i)
			usleep(100 * 1000);
		if (fleet_read(w.f, user, &u) != 0)
			continue;
		if (as_wanted(&w, user, &u, x))
			ok = 0;
		if (ok == 0 && keep != NULL)
			*keep = u;
		else
			fleet_user_clear(&u);
	}
	ws_close(&w);
	return ok;
}

static int
seen_by(int which, const char *user, const unsigned char *secret, size_t len,
    struct fleet_user *keep)
{
	struct want x = { secret, len, 0, 0, 0 };

	return wait_read(which, user, &x, keep);
}

/* The "secret" and the recovery codes of enroll --json's output OUT. */
static int
parse_enrol(const char *out, char b32[80], char codes[][20], int *ncodes)
{
	const char *p = strstr(out, "\"secret\":\""), *q;

	*ncodes = 0;
	if (p == NULL || sscanf(p + 10, "%79[A-Z2-7]", b32) != 1)
		return -1;
	if ((p = strstr(out, "\"recovery_codes\":[")) == NULL)
		return -1;
	for (p += 18; *p == '"' && *ncodes < 16; p = q + 2) {
		if ((q = strchr(p + 1, '"')) == NULL || q - p - 1 >= 20)
			return -1;
		memcpy(codes[*ncodes], p + 1, (size_t)(q - p - 1));
		codes[(*ncodes)++][q - p - 1] = '\0';
		if (q[1] != ',')
			break;
	}
	return *ncodes > 0 ? 0 : -1;
}

/* Enrol USER through wardctl (ARGS extra): the secret in SECRET (*LEN),
 * its base32 in B32, the codes in CODES. */
static int
enrol(const char *user, const char *args, unsigned char **secret, size_t *len, char b32[80],
    char codes[][20], int *ncodes)
{
	char a[256];
	char *out;
	int st, r = -1;

	snprintf(a, sizeof(a), "--json --qr none enroll %s %s", user, args);
	out = wardctl("ward.conf", a, &st);
	if (out != NULL && st == 0 && parse_enrol(out, b32, codes, ncodes) == 0 &&
	    otp_base32_decode(b32, secret, len) == 0)
		r = 0;
	else
		fprintf(stderr, "\nenroll %s: %d: %s\n", user, st, out ? "(output kept back)" : "");
	free(out);
	return r;
}

/* ---- tests ------------------------------------------------------------------- */

/* HMAC-SHA-256 of MSG (LEN bytes) under K, from openssl(1): a computation
 * independent of lib/dir_fleet_admin.c, as hex into OUT. */
static int
openssl_hmac(const struct secret_key *k, const void *msg, size_t len, char out[65])
{
	char path[1100], hex[65], cmd[1400], *res;
	int st;

	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", k->k[i]);
	snprintf(path, sizeof(path), "%s/hmac.in", work);
	if (tu_write(path, msg, len, 0600) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "openssl dgst -sha256 -mac HMAC -macopt hexkey:%s -r '%s'",
	    hex, path);
	res = tu_run(cmd, 0, &st);
	if (res == NULL || st != 0 || strlen(res) < 64) {
		free(res);
		return -1;
	}
	memcpy(out, res, 64);
	out[64] = '\0';
	free(res);
	return 0;
}

/* Key identifiers, the rewrap and chains of wrapped hashes (lib/fleet.h,
 * KEYS), against openssl(1). */
static void
test_keys(void)
{
	static const char label[] = "ward fleet key id v1", rw[] = "ward recovery rewrap v1";
	struct fleet_keyring ring;
	struct fleet_user u;
	unsigned char in[FLEET_HASH_LEN], out[FLEET_HASH_LEN], base_h[FLEET_HASH_LEN];
	unsigned char msg[sizeof(rw) + FLEET_HASH_LEN], h[FLEET_HASH_LEN];
	char id[FLEET_KEYID_LEN + 1], want[65], got[65];

	memset(&ring, 0, sizeof(ring));
	CU_ASSERT_EQUAL_FATAL(secret_random(ring.key, sizeof(ring.key)), 0);
	CU_ASSERT_EQUAL(fleet_key_id(&ring.key[0], id), 0);
	CU_ASSERT_EQUAL_FATAL(openssl_hmac(&ring.key[0], label, strlen(label), want), 0);
	CU_ASSERT_EQUAL(strncmp(id, want, FLEET_KEYID_LEN), 0);
	CU_ASSERT_EQUAL(strlen(id), FLEET_KEYID_LEN);
	CU_ASSERT_EQUAL(secret_random(in, sizeof(in)), 0);
	CU_ASSERT_EQUAL(fleet_recovery_rewrap(&ring.key[1], in, out), 0);
	memcpy(msg, rw, sizeof(rw));
	memcpy(msg + sizeof(rw), in, sizeof(in));
	CU_ASSERT_EQUAL_FATAL(openssl_hmac(&ring.key[1], msg, sizeof(msg), want), 0);
	for (int i = 0; i < 32; i++)
		snprintf(got + 2 * i, 3, "%02x", out[i]);
	CU_ASSERT_STRING_EQUAL(got, want);
	/* a record under key 1 wrapping hashes of key 0: the value is
	 * W(k1, hash(k0, code)); a ring without key 0 cannot compute it */
	CU_ASSERT_EQUAL(fleet_key_id(&ring.key[0], ring.id[0]), 0);
	CU_ASSERT_EQUAL(fleet_key_id(&ring.key[1], ring.id[1]), 0);
	ring.n = 2;
	memset(&u, 0, sizeof(u));
	u.has_salt = 1;
	CU_ASSERT_EQUAL(secret_random(u.recovery_salt, sizeof(u.recovery_salt)), 0);
	snprintf(u.key_chain, sizeof(u.key_chain), "%s %s", ring.id[1], ring.id[0]);
	CU_ASSERT_EQUAL(fleet_recovery_hash(&ring.key[0], u.recovery_salt, "alice",
	    "abcd-efgh-jkmn", base_h), 0);
	CU_ASSERT_EQUAL(fleet_recovery_rewrap(&ring.key[1], base_h, out), 0);
	CU_ASSERT_EQUAL(fleet_recovery_value(&ring, "alice", &u, "ABCD efgh JKMN", h), 0);
	CU_ASSERT_EQUAL(memcmp(h, out, sizeof(h)), 0);
	ring.n = 1;
	CU_ASSERT_EQUAL(fleet_recovery_value(&ring, "alice", &u, "abcd-efgh-jkmn", h),
	    WARD_ERR_CRYPTO);
	/* one identifier: no wrapping; a malformed chain is refused */
	ring.n = 2;
	snprintf(u.key_chain, sizeof(u.key_chain), "%s", ring.id[0]);
	CU_ASSERT_EQUAL(fleet_recovery_value(&ring, "alice", &u, "abcd-efgh-jkmn", h), 0);
	CU_ASSERT_EQUAL(memcmp(h, base_h, sizeof(h)), 0);
	snprintf(u.key_chain, sizeof(u.key_chain), "%s ", ring.id[0]);
	CU_ASSERT_EQUAL(fleet_recovery_value(&ring, "alice", &u, "abcd-efgh-jkmn", h),
	    WARD_ERR_CORRUPT);
	snprintf(u.key_chain, sizeof(u.key_chain), "abc");
	CU_ASSERT_EQUAL(fleet_recovery_value(&ring, "alice", &u, "abcd-efgh-jkmn", h),
	    WARD_ERR_CORRUPT);
	/* no chain (made before identifiers): the key that opens the secret,
	 * whichever of the ring it is */
	u.key_chain[0] = '\0';
	CU_ASSERT_EQUAL_FATAL(secret_seal(&ring.key[1], "alice", in, 20, &u.secret_ct,
	    &u.secret_ct_len), 0);
	CU_ASSERT_EQUAL(fleet_recovery_hash(&ring.key[1], u.recovery_salt, "alice",
	    "abcd-efgh-jkmn", base_h), 0);
	CU_ASSERT_EQUAL(fleet_recovery_value(&ring, "alice", &u, "abcd-efgh-jkmn", h), 0);
	CU_ASSERT_EQUAL(memcmp(h, base_h, sizeof(h)), 0);
	{
		unsigned char *pt = NULL;
		size_t ptlen = 0;

		CU_ASSERT_EQUAL(fleet_open_secret(&ring, "alice", &u, &pt, &ptlen), 0);
		CU_ASSERT(ptlen == 20 && memcmp(pt, in, 20) == 0);
		ward_freezero(pt, ptlen);
	}
	free(u.secret_ct);
	fleet_keyring_wipe(&ring);
}

static void
test_init_fleet(void)
{
	unsigned char key[64];
	char hex[65], *out, *again;
	struct stat sb;
	size_t len = 0;
	int st;

	out = wardctl("ward.conf", "init --fleet", &st);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_EQUAL_FATAL(stat(keyfile, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	CU_ASSERT_EQUAL(sb.st_uid, 0);
	CU_ASSERT_EQUAL(sb.st_size, 32);
	{
		char *k = tu_read(keyfile, &len);

		CU_ASSERT_EQUAL_FATAL(len, 32);
		memcpy(key, k, 32);
		free(k);
	}
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	/* never printed, in any form looked for */
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "fleet key, 32 random bytes, 0600"));
	CU_ASSERT_FALSE(out && (tu_contains(out, strlen(out), hex, 16) ||
	    tu_contains(out, strlen(out), key, 8)));
	/* never replaced */
	again = wardctl("ward.conf", "init --fleet", &st);
	CU_ASSERT_EQUAL(st, 2);
	CU_ASSERT_PTR_NOT_NULL(again && strstr(again, "exists; refused"));
	{
		char *k = tu_read(keyfile, &len);

		CU_ASSERT(k != NULL && len == 32 && memcmp(k, key, 32) == 0);
		free(k);
	}
	ward_wipe(key, sizeof(key));
	free(out);
	free(again);
}

static unsigned char *alice_secret;
static size_t alice_len;
static char alice_b32[80], alice_codes[16][20];
static int alice_ncodes;

static void
test_enroll_everywhere(void)
{
	struct fleet_user u;
	struct ws w;
	char code[16];
	int64_t step;

	CU_ASSERT_EQUAL_FATAL(enrol("alice", "", &alice_secret, &alice_len, alice_b32,
	    alice_codes, &alice_ncodes), 0);
	CU_ASSERT_EQUAL(alice_ncodes, 10);
	/* both consumers, as workstations, right after: sealed, and opens
	 * with the fleet key to the secret wardctl showed */
	CU_ASSERT_EQUAL(seen_by(0, "alice", alice_secret, alice_len, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(seen_by(1, "alice", alice_secret, alice_len, &u), 0);
	CU_ASSERT(u.secret_ct_len > alice_len);
	CU_ASSERT_FALSE(tu_contains(u.secret_ct, u.secret_ct_len, alice_secret, alice_len));
	CU_ASSERT_EQUAL(u.nrecovery, 10);
	CU_ASSERT_EQUAL(strlen(u.key_chain), FLEET_KEYID_LEN);
	/* a code of it, from oathtool, is accepted by a workstation once */
	tu_totp_wait(25);
	CU_ASSERT_EQUAL_FATAL(tu_totp(alice_b32, 0, code), 0);
	CU_ASSERT_EQUAL(otp_verify(alice_secret, alice_len, &(struct otp_params){ 0, 6, 30, 0 },
	    time(NULL), code, &step), 0);
	CU_ASSERT_EQUAL_FATAL(ws_open(&w, "ws.conf"), 0);
	CU_ASSERT_EQUAL(fleet_accept(w.f, u.dn, step, time(NULL)), 0);
	CU_ASSERT_EQUAL(fleet_accept(w.f, u.dn, step, time(NULL)), WARD_ERR_REPLAY);
	ws_close(&w);
	fleet_user_clear(&u);
	/* already enrolled: refused without --force */
	{
		int st;
		char *out = wardctl("ward.conf", "--qr none enroll alice", &st);

		CU_ASSERT_EQUAL(st, 2);
		CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "already enrolled"));
		free(out);
	}
}

static void
assert_no_secret(const char *out)
{
	char lower[80];

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	for (size_t i = 0; i <= strlen(alice_b32); i++)
		lower[i] = (char)(alice_b32[i] >= 'A' && alice_b32[i] <= 'Z' ? alice_b32[i] + 32 :
		    alice_b32[i]);
	CU_ASSERT_PTR_NULL(strstr(out, alice_b32));
	CU_ASSERT_PTR_NULL(strstr(out, lower));
	CU_ASSERT_FALSE(tu_contains(out, strlen(out), alice_secret, alice_len));
	for (int i = 0; i < alice_ncodes; i++)
		CU_ASSERT_PTR_NULL(strstr(out, alice_codes[i]));
}

static void
test_status(void)
{
	char *out;
	int st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(alice_secret);
	out = wardctl("ward.conf", "status alice", &st);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "alice: enrolled"));
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "recovery codes  10 left"));
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "last code       step "));
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "locked          no"));
	assert_no_secret(out);
	free(out);
	out = wardctl("ward.conf", "--json status alice", &st);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "\"enrolled\":true"));
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "\"recovery_codes_left\":10"));
	assert_no_secret(out);
	free(out);
	out = wardctl("ward.conf", "fleet status alice", &st);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "alice: enrolled"));
	assert_no_secret(out);
	free(out);
	/* carol has an entry but no enrolment */
	expect("ward.conf", "status carol", 1, "carol: not enrolled");
	expect("ward.conf", "status nobody-here", 1, "no directory entry for nobody-here");
}

/* USER's failures and lockout as workstation WHICH reads them, waiting
 * (10 s at most) until they are FAILURES and LOCKED. */
static int
state_seen(int which, const char *user, long failures, int locked)
{
	struct want x = { NULL, 0, 1, failures, locked };

	return wait_read(which, user, &x, NULL);
}

static void
test_unlock(void)
{
	struct fleet_user u;
	struct ws w;
	long count = 0;
	int lnow = 0, st;
	char *out;

	CU_ASSERT_EQUAL_FATAL(ws_open(&w, "ws.conf"), 0);
	CU_ASSERT_EQUAL_FATAL(fleet_read(w.f, "alice", &u), 0);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(fleet_fail(w.f, u.dn, time(NULL), 5, 900, &count, &lnow), 0);
	CU_ASSERT_EQUAL(lnow, 1);
	CU_ASSERT_EQUAL(state_seen(0, "alice", 5, 1), 0);
	out = wardctl("ward.conf", "status alice", &st);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "locked          until "));
	free(out);
	expect("ward.conf", "unlock alice", 0, "lockout lifted");
	/* both consumers' workstations see it */
	CU_ASSERT_EQUAL(state_seen(0, "alice", 0, 0), 0);
	CU_ASSERT_EQUAL(state_seen(1, "alice", 0, 0), 0);
	CU_ASSERT_EQUAL(fleet_accept(w.f, u.dn, (int64_t)time(NULL) / 30 + 1, time(NULL)), 0);
	fleet_user_clear(&u);
	ws_close(&w);
	/* an audit record each, and the chain verifies */
	{
		char path[1100];

		snprintf(path, sizeof(path), "%s/log/audit.log", work);
		CU_ASSERT_EQUAL(tu_count_lines(path, "\"detail\":\"unlock (fleet) by ", NULL), 1);
		CU_ASSERT_EQUAL(tu_count_lines(path, "\"detail\":\"enroll (fleet) by ", NULL), 1);
		CU_ASSERT_EQUAL(tu_count_lines(path, "\"detail\":\"init --fleet (fleet key created)",
		    NULL), 1);
	}
	expect("ward.conf", "audit verify", 0, NULL);
}

static void
test_reset(void)
{
	unsigned char *s1 = NULL, *s2 = NULL;
	size_t l1 = 0, l2 = 0;
	char b1[80], b2[80], codes[16][20];
	int n;

	CU_ASSERT_EQUAL_FATAL(enrol("bob", "", &s1, &l1, b1, codes, &n), 0);
	CU_ASSERT_EQUAL(seen_by(1, "bob", s1, l1, NULL), 0);
	expect("ward.conf", "reset bob", 0, NULL);
	CU_ASSERT_EQUAL(seen_by(0, "bob", NULL, 0, NULL), 0);
	CU_ASSERT_EQUAL(seen_by(1, "bob", NULL, 0, NULL), 0);
	expect("ward.conf", "status bob", 1, NULL);
	expect("ward.conf", "reset bob", 1, NULL);
	/* enrolled again: another secret, and the old one no longer opens */
	CU_ASSERT_EQUAL_FATAL(enrol("bob", "", &s2, &l2, b2, codes, &n), 0);
	CU_ASSERT(l1 != l2 || memcmp(s1, s2, l1) != 0);
	CU_ASSERT_EQUAL(seen_by(0, "bob", s2, l2, NULL), 0);
	CU_ASSERT_NOT_EQUAL(seen_by(1, "bob", s1, l1, NULL), 0);
	ward_freezero(s1, l1);
	ward_freezero(s2, l2);
}

static void
test_recovery_codes(void)
{
	unsigned char h[FLEET_HASH_LEN], salt0[FLEET_SALT_LEN];
	struct fleet_user u;
	struct ws w;
	char newcodes[16][20], b32[80], *out;
	int n = 0, st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(alice_secret);
	CU_ASSERT_EQUAL_FATAL(ws_open(&w, "ws.conf"), 0);
	CU_ASSERT_EQUAL_FATAL(fleet_read(w.f, "alice", &u), 0);
	memcpy(salt0, u.recovery_salt, sizeof(salt0));
	fleet_user_clear(&u);
	ws_close(&w);
	out = wardctl("ward.conf", "--json recovery-codes alice", &st);
	CU_ASSERT_EQUAL_FATAL(st, 0);
	/* parse_enrol wants a secret: the codes alone */
	{
		char *fake = NULL;

		CU_ASSERT(asprintf(&fake, "{\"secret\":\"AAAA\",%s", out ? out + 1 : "") > 0);
		CU_ASSERT_EQUAL(parse_enrol(fake, b32, newcodes, &n), 0);
		free(fake);
	}
	free(out);
	CU_ASSERT_EQUAL(n, 10);
	CU_ASSERT_EQUAL_FATAL(ws_open(&w, "ws.conf"), 0);
	/* the new set (its new salt) replicated to C1, within 10 s */
	for (int i = 0, seen = 0; !seen; i++) {
		CU_ASSERT_FATAL(i < 100);
		if (i)
			usleep(100 * 1000);
		CU_ASSERT_EQUAL_FATAL(fleet_read(w.f, "alice", &u), 0);
		seen = u.has_salt && memcmp(u.recovery_salt, salt0, sizeof(salt0)) != 0;
		if (!seen)
			fleet_user_clear(&u);
	}
	/* an old code is gone; a new one spends once */
	CU_ASSERT_EQUAL(fleet_recovery_value(&w.ring, "alice", &u, alice_codes[0], h), 0);
	CU_ASSERT_EQUAL(fleet_recovery_spend(w.f, u.dn, h, time(NULL), NULL), WARD_ERR_BADCODE);
	CU_ASSERT_EQUAL(fleet_recovery_value(&w.ring, "alice", &u, newcodes[0], h), 0);
	CU_ASSERT_EQUAL(fleet_recovery_spend(w.f, u.dn, h, time(NULL), NULL), 0);
	CU_ASSERT_EQUAL(fleet_recovery_spend(w.f, u.dn, h, time(NULL), NULL), WARD_ERR_BADCODE);
	fleet_user_clear(&u);
	ws_close(&w);
	memcpy(alice_codes, newcodes, sizeof(alice_codes));
	alice_ncodes = n;
}

static void
test_workstation_refused(void)
{
	char wsdn[256], c1[128], *out;
	int st;

	CU_ASSERT_EQUAL_FATAL(env("WS1_DN", wsdn, sizeof(wsdn)), 0);
	CU_ASSERT_EQUAL_FATAL(env("C1_URI", c1, sizeof(c1)), 0);
	out = wardctl("ws.conf", "--qr none enroll carol", &st);
	CU_ASSERT_EQUAL(st, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "the directory refused (insufficient access)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, wsdn));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, c1));
	/* the secret it made is not shown */
	CU_ASSERT_PTR_NULL(strstr(out, "secret "));
	free(out);
	CU_ASSERT_EQUAL(seen_by(0, "carol", NULL, 0, NULL), 0);
	expect("ws.conf", "unlock alice", 0, NULL);      /* workstations may clear failures (ward-acl.ldif {3}) */
	expect("ws.conf", "reset alice", 2, "insufficient access");
}

static void
test_fleet_status_paths(void)
{
	char a[128], *out;
	int st;

	CU_ASSERT_EQUAL_FATAL(env("A_URI", a, sizeof(a)), 0);
	/* C1: a consumer chaining to A */
	out = wardctl("ward.conf", "fleet status", &st);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "a consumer that chains writes to"));
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, a));
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "replication  in step"));
	free(out);
	out = wardctl("ward.conf", "--json fleet status", &st);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "\"path\":\"chained\""));
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "\"code\":122"));
	free(out);
	/* A: a provider */
	out = wardctl("a.conf", "--json fleet status", &st);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "\"path\":\"provider\""));
	free(out);
	out = wardctl("a.conf", "fleet status", &st);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "a provider: writes are applied here"));
	free(out);
	/* C2: no chain overlay, refers writes: a misconfiguration */
	out = wardctl("c2.conf", "fleet status", &st);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "PROBLEM    a consumer that does not chain"));
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, a));
	free(out);
	out = wardctl("c2.conf", "--json fleet status", &st);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "\"path\":\"referral\""));
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "\"code\":10"));
	free(out);
	/* nothing was changed by the probes */
	expect("ward.conf", "fleet status alice", 0, NULL);
	expect("ward.conf", "fleet status a b", 2, NULL);
}

/* ---- rekey ----------------------------------------------------------------------- */

struct ru {
	unsigned char secret[20];
	char codes[NCODES][20];
};
static struct ru *ru;

/* NUSERS people under ou=people (rootdn on A, ldapadd), enrolled with
 * known secrets and codes by the enrolment identity straight to A. */
static int
make_users(void)
{
	char path[1100], rootdn[128], rootpw[128], al[128];
	FILE *f;
	struct ws e;
	int r = 0;

	snprintf(path, sizeof(path), "%s/users.ldif", work);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	for (int i = 0; i < NUSERS; i++)
		fprintf(f, "dn: uid=r%04d,ou=people,%s\nobjectClass: inetOrgPerson\n"
		    "uid: r%04d\ncn: r%04d\nsn: r\n\n", i, base, i, i);
	fclose(f);
	if (env("ROOTDN", rootdn, sizeof(rootdn)) != 0 ||
	    env("ROOTPW", rootpw, sizeof(rootpw)) != 0 || env("A_LDAP", al, sizeof(al)) != 0 ||
	    tu_sh("LDAPNOINIT=1 ldapadd -x -H '%s' -D '%s' -w '%s' -f '%s' >/dev/null", al,
	    rootdn, rootpw, path) != 0)
		return -1;
	if ((ru = calloc(NUSERS, sizeof(*ru))) == NULL || ws_open(&e, "a.conf") != 0)
		return -1;
	for (int i = 0; i < NUSERS && r == 0; i++) {
		const char *p[NCODES];
		char user[16], dn[200];
		struct fleet_record rec;

		snprintf(user, sizeof(user), "r%04d", i);
		snprintf(dn, sizeof(dn), "uid=%s,ou=people,%s", user, base);
		for (int k = 0; k < NCODES; k++) {
			if (secret_recovery_generate(ru[i].codes[k]) != 0)
				r = -1;
			p[k] = ru[i].codes[k];
		}
		if (r == 0 && (secret_random(ru[i].secret, sizeof(ru[i].secret)) != 0 ||
		    fleet_make_record(&e.ring.key[0], user, ru[i].secret, sizeof(ru[i].secret),
		    CONF_ALGO_SHA1, 6, 30, time(NULL), p, NCODES, &rec) != 0))
			r = -1;
		if (r == 0) {
			r = fleet_enroll(e.f, dn, &rec);
			fleet_record_clear(&rec);
		}
	}
	ws_close(&e);
	return r;
}

/* How many records, as the rootdn reads them on A, have KEYID first. */
static int
count_under(const char *keyid)
{
	char cmd[1024], al[128], rootdn[128], rootpw[128], *out;
	int st, n = 0;

	if (env("ROOTDN", rootdn, sizeof(rootdn)) != 0 ||
	    env("ROOTPW", rootpw, sizeof(rootpw)) != 0 || env("A_LDAP", al, sizeof(al)) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "LDAPNOINIT=1 ldapsearch -x -LLL -z 0 -H '%s' -D '%s' -w '%s' "
	    "-b '%s' '(wardKeyId=%s*)' 1.1 | grep -c '^dn:'", al, rootdn, rootpw, base, keyid);
	out = tu_run(cmd, 0, &st);
	if (out != NULL)
		n = atoi(out);
	free(out);
	return n;
}

/* C1 holds what A holds (the same contextCSN), within 20 s. */
static int
c1_caught_up(void)
{
	struct ward_conf c;
	char path[1100], err[512], a[128], c1[128];
	int ok = -1;

	snprintf(path, sizeof(path), "%s/etc/ward.conf", work);
	if (env("A_URI", a, sizeof(a)) != 0 || env("C1_URI", c1, sizeof(c1)) != 0 ||
	    conf_load(&c, path, err, sizeof(err)) != 0)
		return -1;
	for (int i = 0; i < 200 && ok != 0; i++) {
		struct fleet_node na, nc;

		if (i)
			usleep(100 * 1000);
		fleet_node_read(&c, a, &na);
		fleet_node_read(&c, c1, &nc);
		if (fleet_node_same(&na, &nc))
			ok = 0;
	}
	conf_free(&c);
	return ok;
}

/* wardctl fleet rekey on ward.conf, killed (SIGKILL) once it has printed
 * KILL_AFTER "resealed" lines: its pipe holds one page, so it cannot run
 * far ahead of this reader.  The number of lines read. */
static int
rekey_killed(void)
{
	char bin[1100], conf[1100], line[512];
	int fds[2], n = 0, st;
	FILE *in;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/wardctl", tu_build());
	snprintf(conf, sizeof(conf), "%s/etc/ward.conf", work);
	if (pipe(fds) != 0)
		return -1;
	(void)fcntl(fds[1], F_SETPIPE_SZ, 4096);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl(bin, bin, "--config", conf, "fleet", "rekey", newkeyfile, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	if (pid < 0 || (in = fdopen(fds[0], "r")) == NULL) {
		close(fds[0]);
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		return -1;
	}
	while (n < KILL_AFTER && fgets(line, sizeof(line), in) != NULL)
		if (strncmp(line, "  resealed ", 11) == 0)
			n++;
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	fclose(in);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? n : -1;
}

static void
test_rekey(void)
{
	struct secret_key oldk, newk;
	char oldid[FLEET_KEYID_LEN + 1], newid[FLEET_KEYID_LEN + 1], chain[64], *out, err[256];
	struct ws nw, ow, w;
	int done1, st, total = NUSERS + 2;    /* and alice, bob */

	CU_ASSERT_EQUAL_FATAL(make_users(), 0);
	CU_ASSERT_EQUAL_FATAL(c1_caught_up(), 0);
	CU_ASSERT_EQUAL_FATAL(secret_key_load(&oldk, keyfile, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(fleet_key_id(&oldk, oldid), 0);
	CU_ASSERT_EQUAL(count_under(oldid), total);
	/* interrupted after its first changes */
	CU_ASSERT_EQUAL_FATAL(rekey_killed(), KILL_AFTER);
	CU_ASSERT_EQUAL_FATAL(secret_key_load(&newk, newkeyfile, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(fleet_key_id(&newk, newid), 0);
	/* a change the kill cut off may still land: counted once C1 and A
	 * agree */
	CU_ASSERT_EQUAL(c1_caught_up(), 0);
	done1 = count_under(newid);
	printf("\n    rekey killed after %d lines: %d of %d records resealed\n   ", KILL_AFTER,
	    done1, total);
	CU_ASSERT(done1 >= KILL_AFTER && done1 < total);
	CU_ASSERT_EQUAL(count_under(oldid), total - done1);
	/* run again: finishes the rest, skips what is done */
	expect("ward.conf", "--json fleet rekey", 2, NULL);     /* no key named: usage */
	{
		char args[1200];

		snprintf(args, sizeof(args), "--json fleet rekey %s", newkeyfile);
		struct timespec t0;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		out = wardctl("ward.conf", args, &st);
		printf("%d records resealed through C1 in %ld ms (measured, not judged)\n   ",
		    total - done1, tu_ms_since(&t0));
		CU_ASSERT_EQUAL(st, 0);
		snprintf(args, sizeof(args), "\"resealed\":%d,\"already\":%d,", total - done1,
		    done1);
		CU_ASSERT_PTR_NOT_NULL(out && strstr(out, args));
		CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "\"failed\":0"));
		CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "\"complete\":true"));
		free(out);
	}
	/* every record once: the new key first, the old one after it */
	snprintf(chain, sizeof(chain), "%s %s", newid, oldid);
	CU_ASSERT_EQUAL(count_under(chain), total);
	CU_ASSERT_EQUAL(count_under(oldid), 0);
	/* a workstation with both keys (key_file new, old_key_file old):
	 * secrets open to what they were, codes verify, recovery codes spend;
	 * one with the old key alone opens nothing */
	CU_ASSERT_EQUAL_FATAL(c1_caught_up(), 0);
	CU_ASSERT_EQUAL_FATAL(ws_open(&nw, "new.conf"), 0);
	CU_ASSERT_EQUAL(nw.ring.n, 2);
	CU_ASSERT_EQUAL_FATAL(ws_open(&ow, "ws.conf"), 0);
	for (int i = 0; i < NUSERS; i += 7) {
		struct fleet_user u;
		unsigned char *pt = NULL, h[FLEET_HASH_LEN];
		size_t ptlen = 0;
		char user[16];

		snprintf(user, sizeof(user), "r%04d", i);
		CU_ASSERT_EQUAL_FATAL(fleet_read(ow.f, user, &u), 0);
		CU_ASSERT_STRING_EQUAL(u.key_chain, chain);
		CU_ASSERT_EQUAL(fleet_open_secret(&ow.ring, user, &u, &pt, &ptlen),
		    WARD_ERR_CRYPTO);
		CU_ASSERT_EQUAL(fleet_open_secret(&nw.ring, user, &u, &pt, &ptlen), 0);
		CU_ASSERT(ptlen == sizeof(ru[i].secret) && pt != NULL &&
		    memcmp(pt, ru[i].secret, ptlen) == 0);
		ward_freezero(pt, ptlen);
		CU_ASSERT_EQUAL(fleet_recovery_value(&nw.ring, user, &u, ru[i].codes[i % NCODES],
		    h), 0);
		CU_ASSERT_EQUAL(fleet_recovery_spend(nw.f, u.dn, h, time(NULL), NULL), 0);
		fleet_user_clear(&u);
	}
	ws_close(&ow);
	/* alice's code and recovery code through the new ring too */
	{
		struct fleet_user u;
		unsigned char *pt = NULL, h[FLEET_HASH_LEN];
		size_t ptlen = 0;

		CU_ASSERT_EQUAL_FATAL(fleet_read(nw.f, "alice", &u), 0);
		CU_ASSERT_EQUAL(fleet_open_secret(&nw.ring, "alice", &u, &pt, &ptlen), 0);
		CU_ASSERT(ptlen == alice_len && memcmp(pt, alice_secret, ptlen) == 0);
		ward_freezero(pt, ptlen);
		CU_ASSERT_EQUAL(fleet_recovery_value(&nw.ring, "alice", &u, alice_codes[1], h), 0);
		CU_ASSERT_EQUAL(fleet_recovery_spend(nw.f, u.dn, h, time(NULL), NULL), 0);
		fleet_user_clear(&u);
	}
	ws_close(&nw);
	/* under the new ward.conf: new recovery codes drop the old key */
	expect("new.conf", "recovery-codes alice", 0, NULL);
	CU_ASSERT_EQUAL_FATAL(ws_open(&w, "new.conf"), 0);
	{
		struct fleet_user u;

		CU_ASSERT_EQUAL(fleet_read(w.f, "alice", &u), 0);
		CU_ASSERT_STRING_EQUAL(u.key_chain, newid);
		fleet_user_clear(&u);
	}
	ws_close(&w);
	/* the old ward.conf cannot give new codes to a record it cannot open */
	expect("ward.conf", "recovery-codes bob", 2, "finish the rotation first");
	secret_key_wipe(&oldk);
	secret_key_wipe(&newk);
	free(ru);
	ru = NULL;
}

int
main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("fleetctl", suite_init, suite_clean);
	CU_add_test(s, "key identifiers and wrapped recovery hashes", test_keys);
	CU_add_test(s, "init --fleet: a safe key, never replaced", test_init_fleet);
	CU_add_test(s, "enroll once, seen by workstations on both consumers",
	    test_enroll_everywhere);
	CU_add_test(s, "status shows the shared state, never the secret", test_status);
	CU_add_test(s, "unlock lifts a lockout workstations set", test_unlock);
	CU_add_test(s, "reset, and a new enrolment has another secret", test_reset);
	CU_add_test(s, "recovery-codes revoke the old set", test_recovery_codes);
	CU_add_test(s, "a workstation identity may not enrol", test_workstation_refused);
	CU_add_test(s, "fleet status: chained, provider, referral", test_fleet_status_paths);
	CU_add_test(s, "fleet rekey, interrupted and resumed", test_rekey);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	{
		int failed = (int)CU_get_number_of_failures();

		ward_freezero(alice_secret, alice_len);
		CU_cleanup_registry();
		return failed == 0 && CU_get_error() == CUE_SUCCESS ? 0 : 1;
	}
}
