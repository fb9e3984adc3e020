/*
 * fleet.h - fleet mode: a user's MFA record on the user's own directory
 * entry (ward.conf(5), FLEET; contrib/ldap/ward.schema), changed by one
 * atomic LDAP modify per event, so that one code succeeds once across
 * every workstation.
 *
 * Rules it keeps (lib/dir_fleet.c says how):
 *  - Every change goes to fleet.write_uri and nowhere else: one server,
 *    never failed over (two providers replicating each other would each
 *    accept the same code).  Reads use directory.uri in its failover order.
 *  - Accepting a code for time step S is ONE modify carrying the assertion
 *    control (critical) "(&(!(wardTotpLastStep>=S))(!(wardLockoutUntil>=NOW)))"
 *    that replaces the watermark with S, the failure count with 0 and
 *    removes the lockout: the server tests the assertion and applies the
 *    change in one transaction, so of N workstations sending S at once
 *    exactly one succeeds, and the watermark never goes down.
 *  - A failure is an increment read back with the post-read control (the
 *    count the increment left, atomically); the one that reaches
 *    max_failures sets the lockout.  A recovery code is spent by deleting
 *    its hash value: success means spent now, noSuchAttribute means already
 *    spent or never valid.
 *  - A change whose answer does not come (timeout, lost connection, the
 *    chain's "proxy operation retry failed") may still have been applied:
 *    it is never a success, and the caller must treat the step as spent.
 *  - Secrets and recovery hashes are sealed and keyed with the fleet key
 *    through lib/secret.h (AES-256-GCM, the user name as associated data;
 *    HMAC-SHA-256 with a per-set salt); nothing here logs a secret, a code
 *    or a hash.
 *  - The same connection and TLS rules as the directory client (dir.h):
 *    certificates verified, TLS 1.2+, every operation bounded by
 *    directory.timeout_ms, filter values escaped.
 *
 * Errors: 0 or a negative WARD_ERR_*.  Directory problems are logged with
 * the URI and the LDAP error text.
 */
#ifndef WARD_FLEET_H
#define WARD_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "secret.h"
#include "ward.h"

struct fleet;   /* opaque: a read and a write connection, made lazily */

#define FLEET_MAX_RECOVERY 16
#define FLEET_HASH_LEN 32
#define FLEET_SALT_LEN 16
#define FLEET_KEYID_LEN 16           /* hex digits of a key identifier */
#define FLEET_MAX_KEYS 8             /* key identifiers in one record's chain */
#define FLEET_CHAIN_MAX (FLEET_MAX_KEYS * (FLEET_KEYID_LEN + 1))

/* A user's record as read from the directory. */
struct fleet_user {
	char *dn;                    /* the user's entry (malloc'd) */
	unsigned char *secret_ct;    /* sealed secret (malloc'd), NULL: not enrolled */
	size_t secret_ct_len;
	int algorithm;               /* enum conf_algo */
	int digits;
	int period;
	int64_t enrolled_at;         /* unix time, 0 = unknown */
	int64_t last_step;           /* -1 = none yet */
	long failures;               /* 0 when absent */
	int64_t locked_until;        /* unix time, 0 = not locked */
	int has_salt;
	unsigned char recovery_salt[FLEET_SALT_LEN];
	size_t nrecovery;            /* unused recovery codes left */
	char key_chain[FLEET_CHAIN_MAX + 1];   /* wardKeyId ("" when absent): see
	                                          KEYS below */
};

/* What enrolment writes (fleet_make_record fills it). */
struct fleet_record {
	unsigned char *secret_ct;    /* sealed with the fleet key (malloc'd) */
	size_t secret_ct_len;
	int algorithm, digits, period;
	int64_t enrolled_at;
	unsigned char salt[FLEET_SALT_LEN];
	size_t nrecovery;
	unsigned char recovery[FLEET_MAX_RECOVERY][FLEET_HASH_LEN];
	char key_id[FLEET_KEYID_LEN + 1];   /* of the key that made it (wardKeyId) */
};

/*
 * A handle for CONF (its directory and fleet groups; CONF must outlive the
 * handle).  No network I/O here.  WARD_ERR_INVAL when fleet or directory
 * is not enabled or their settings are unusable, WARD_ERR_NOMEM.  Free
 * with fleet_close.  One handle per thread.
 */
int fleet_open(struct fleet **f, const struct ward_conf *conf) WARD_WUR;
/* Unbind and free F.  NULL is fine. */
void fleet_close(struct fleet *f);

/* Connect and bind both paths now (the read path over directory.uri in
 * order, the write path to write_uri), so that the first change does not
 * wait for a TLS handshake.  0 or the outage of the path that failed. */
int fleet_connect(struct fleet *f) WARD_WUR;

/*
 * Read USER's record (user_filter, the entry whose name_attribute holds
 * USER byte for byte, as dir.h) over directory.uri.  *OUT is the caller's
 * to fleet_user_clear.  WARD_ERR_NOTFOUND: no such user (an entry with no
 * sealed secret is returned with secret_ct NULL: not enrolled);
 * WARD_ERR_CORRUPT: a Ward attribute that does not parse; WARD_ERR_INVAL:
 * bad name or two entries; outages as dir.h (UNAVAIL, TIMEOUT, TLS, AUTH).
 */
int fleet_read(struct fleet *f, const char *user, struct fleet_user *out) WARD_WUR;
void fleet_user_clear(struct fleet_user *u);

/*
 * Accept time step STEP for the entry DN at time NOW (unix seconds): the
 * one asserted modify above, on the write path.  Returns 0 (this call
 * won), WARD_ERR_REPLAY (STEP is at or below the watermark: someone used
 * it, or a later one), WARD_ERR_LOCKED (locked out: the entry is read back
 * on the write path to tell the two apart), WARD_ERR_TIMEOUT or
 * WARD_ERR_UNAVAIL (no answer: not accepted, and STEP counts as spent, the
 * write may land later), WARD_ERR_PERM (this identity may not change the
 * entry), WARD_ERR_NOTFOUND (no such entry, or not a wardUser).
 */
int fleet_accept(struct fleet *f, const char *dn, int64_t step, int64_t now) WARD_WUR;

/*
 * Count one failed code for DN at NOW.  A lockout that has ended starts
 * the count afresh (as the local store does).  *COUNT gets the count this
 * failure left; when it reaches MAX_FAILURES the lockout is set to
 * NOW + LOCKOUT_SECONDS and *LOCKED_NOW is 1 for the one call that reached
 * it exactly.  WARD_ERR_LOCKED when already locked (nothing counted);
 * outages as fleet_accept (the failure may or may not be counted).
 */
int fleet_fail(struct fleet *f, const char *dn, int64_t now, int max_failures,
    long lockout_seconds, long *count, int *locked_now) WARD_WUR;

/*
 * Spend the recovery code whose hash is HASH (fleet_recovery_hash) on DN
 * at NOW: delete that value, reset the failure count and remove the
 * lockout, asserting not locked.  0: spent now (*LEFT, may be NULL: codes
 * left); WARD_ERR_BADCODE: no such value (already spent, or never valid:
 * the caller counts a failure); WARD_ERR_LOCKED; outages as fleet_accept.
 */
int fleet_recovery_spend(struct fleet *f, const char *dn, const unsigned char
    hash[FLEET_HASH_LEN], int64_t now, size_t *left) WARD_WUR;

/*
 * Enrolment identity only (the directory's ACLs refuse workstations,
 * WARD_ERR_PERM): write REC to DN in one modify - sealed secret,
 * parameters, enrolment time, salt and recovery hashes replaced, failure
 * count 0, lockout removed; the watermark is kept (it only ever rises).
 * The object class wardUser is added when the entry lacks it.
 */
int fleet_enroll(struct fleet *f, const char *dn, const struct fleet_record *rec) WARD_WUR;
/* Enrolment identity: failure count 0 and no lockout on DN. */
int fleet_unlock(struct fleet *f, const char *dn) WARD_WUR;

/*
 * Build an enrolment record for USER: SECRET (LEN bytes) sealed under the
 * fleet key FK (secret_seal: AES-256-GCM, USER bound in), a fresh salt,
 * and the hashes of the NCODES recovery codes CODES as shown to the user
 * (at most FLEET_MAX_RECOVERY).  *REC is the caller's to
 * fleet_record_clear.  WARD_ERR_PARSE: a code of the wrong shape.
 */
int fleet_make_record(const struct secret_key *fk, const char *user,
    const unsigned char *secret, size_t len, int algorithm, int digits, int period,
    int64_t now, const char *const *codes, size_t ncodes, struct fleet_record *rec)
    WARD_WUR;
void fleet_record_clear(struct fleet_record *rec);

/* The hash of recovery code CODE as typed (normalised first) for USER under
 * the fleet key and SALT.  WARD_ERR_PARSE when CODE does not have the shape
 * of a recovery code. */
int fleet_recovery_hash(const struct secret_key *fk, const unsigned char
    salt[FLEET_SALT_LEN], const char *user, const char *code,
    unsigned char out[FLEET_HASH_LEN]) WARD_WUR;

/*
 * ---- Keys: identifiers and rotation (lib/dir_fleet_admin.c) ----
 *
 * Each record names the fleet keys it is under in wardKeyId: key
 * identifiers, space-separated, outermost first.  The first sealed the
 * secret.  The recovery hashes were made under the last one and rewrapped
 * under each one before it, by `wardctl fleet rekey`:
 *     stored = W(k1, W(k2, ... fleet_recovery_hash(kn, salt, user, code)))
 *     W(k, h) = HMAC-SHA-256(k, "ward recovery rewrap v1" || 0 || h)
 * (a keyed hash cannot be recomputed without the code, so rotation wraps
 * it; a record given new recovery codes or enrolled again has one
 * identifier).  An identifier is the first 8 bytes, as 16 hex digits, of
 * HMAC-SHA-256(key, "ward fleet key id v1"): it names a key without
 * revealing anything about it.  An absent wardKeyId is a record made
 * before identifiers, under the fleet key of that time.
 *
 * Rotation (fleet_rekey) changes each record with ONE modify that
 * reseals the secret, rewraps the hashes and puts the new identifier
 * first, asserting the secret, the identifiers and every recovery value
 * are still those it read: a concurrent enrolment, new recovery codes or
 * a code spent meanwhile make it fail, and the record is read again.  A
 * record whose first identifier is the new key's is done: a second run
 * skips it, so an interrupted run is finished by running it again, and
 * nothing is ever wrapped twice under the same key.
 *
 * Workstations hold both keys during the changeover (fleet.key_file and
 * fleet.old_key_file, ward.conf(5)) and pick by identifier; the old key
 * alone opens nothing after the rotation (the outer layer of every
 * wrapped hash is under the new key), so keeping it is no weaker than
 * keeping the new one.
 */
struct fleet_keyring {
	struct secret_key key[2];
	char id[2][FLEET_KEYID_LEN + 1];
	size_t n;                    /* key[0] is fleet.key_file */
};

/* The identifier of K into OUT.  0 or WARD_ERR_CRYPTO. */
int fleet_key_id(const struct secret_key *k, char out[FLEET_KEYID_LEN + 1]) WARD_WUR;

/* fleet.key_file and, when set, fleet.old_key_file of CONF (trusted opener,
 * 0600 root).  0, or WARD_ERR_* with "PATH: problem" in ERR.  Wipe with
 * fleet_keyring_wipe. */
int fleet_keyring_load(struct fleet_keyring *ring, const struct ward_conf *conf, char *err,
    size_t errlen) WARD_WUR;
void fleet_keyring_wipe(struct fleet_keyring *ring);

/* The key of RING whose identifier is ID (NULL when none). */
const struct secret_key *fleet_keyring_find(const struct fleet_keyring *ring, const char *id);

/* Open U's sealed secret for USER with the key its chain names (an absent
 * chain: each key of RING in turn).  *PT as secret_open.  WARD_ERR_CRYPTO
 * when no key of RING opens it; WARD_ERR_NOTFOUND when not enrolled. */
int fleet_open_secret(const struct fleet_keyring *ring, const char *user,
    const struct fleet_user *u, unsigned char **pt, size_t *ptlen) WARD_WUR;

/* The value stored for recovery code CODE of USER in record U (its salt
 * and chain, above), for fleet_recovery_spend.  WARD_ERR_PARSE: not the
 * shape of a code; WARD_ERR_CRYPTO: a key of the chain is not in RING. */
int fleet_recovery_value(const struct fleet_keyring *ring, const char *user,
    const struct fleet_user *u, const char *code, unsigned char out[FLEET_HASH_LEN]) WARD_WUR;

/* W(K, IN) above into OUT. */
int fleet_recovery_rewrap(const struct secret_key *k, const unsigned char in[FLEET_HASH_LEN],
    unsigned char out[FLEET_HASH_LEN]) WARD_WUR;

/* ---- Enrolment identity: changes besides fleet_enroll ---- */

/* Remove DN's enrolment: secret, parameters, enrolment time, recovery
 * codes and salt, key identifiers, failures and lockout (the watermark
 * stays: it only ever rises).  Errors as fleet_enroll. */
int fleet_reset(struct fleet *f, const char *dn) WARD_WUR;

/* Replace the recovery codes of the record U (read just before) with
 * those of REC (salt, hashes, key_id; its secret is not used), asserting
 * U's sealed secret is still there: WARD_ERR_BUSY when it is not (an
 * enrolment or a rotation meanwhile: read it again). */
int fleet_recovery_replace(struct fleet *f, const struct fleet_user *u,
    const struct fleet_record *rec) WARD_WUR;

/* ---- wardctl fleet status ---- */

#define FLEET_MAX_CSN 8
struct fleet_node {
	char uri[256];
	int r;                       /* 0: read; else the WARD_ERR_* */
	char msg[256];               /* why not, when r != 0 */
	size_t ncsn;                 /* contextCSN values of directory.base */
	char csn[FLEET_MAX_CSN][64];
};

/* Connect to URI alone (CONF's directory settings otherwise), bind, and
 * read the contextCSN of directory.base into N. */
void fleet_node_read(const struct ward_conf *conf, const char *uri, struct fleet_node *n);
/* 1 when A and B hold the same contextCSN values (any order). */
int fleet_node_same(const struct fleet_node *a, const struct fleet_node *b);

/*
 * Does the write path take writes, and where do they land?  A modify of DN
 * (harmless: it replaces description) whose critical assertion
 * (!(objectClass=*)) never holds, so nothing is ever changed:
 *  - CODE, the answer: assertionFailed (122) when the write reached a
 *    provider, here or chained; referral (10) from a consumer that does
 *    not chain (REFERRAL names where it points); others as they come;
 *  - then, after a 122, the same with OpenLDAP's chaining-behavior
 *    control (non-critical) asking for referrals: CODE_REF referral (10)
 *    from a consumer that chains (REFERRAL: to where), 122 from a
 *    provider.  -1 when not sent.
 * 0 when answered; an outage (MSG says why) as fleet_accept.
 */
enum fleet_path {
	FLEET_PATH_PROVIDER,         /* 122, then 122: writes applied there */
	FLEET_PATH_CHAINED,          /* 122, then a referral: a chaining consumer */
	FLEET_PATH_REFERS,           /* a referral: a consumer that does not chain */
	FLEET_PATH_REFUSED,          /* another answer (ANSWER names it) */
	FLEET_PATH_DOWN              /* no answer (MSG says why) */
};
struct fleet_probe {
	int code, code_ref;
	enum fleet_path path;
	char answer[96];             /* the text of CODE */
	char referral[256];          /* scheme://host:port/ */
	char msg[320];
};
int fleet_probe_write(struct fleet *f, const char *dn, struct fleet_probe *p) WARD_WUR;

/* ---- wardctl fleet rekey ---- */

struct fleet_rekey_stats {
	size_t resealed;             /* changed by this run */
	size_t already;              /* under the new key already */
	size_t wrapped;              /* of both: recovery hashes wrapped over an old key */
	size_t other;                /* under no key of the ring (left alone) */
	size_t failed;               /* could not be changed (logged, named) */
};

/*
 * Reseal every enrolled record under NEWK (above).  OLD is the ring that
 * opens the records today (NEWK may be in it).  PROGRESS (may be NULL) is
 * called with each user and what happened ("resealed", "already",
 * "other", "failed") as it happens.  Entries are read page by page on the
 * write path.  0 when every record was looked at (see *ST for those left);
 * an outage or WARD_ERR_PERM (not the enrolment identity) stops it.
 */
int fleet_rekey(struct fleet *f, const struct fleet_keyring *old, const struct secret_key *newk,
    void (*progress)(void *arg, const char *user, const char *what), void *arg,
    struct fleet_rekey_stats *st) WARD_WUR;

#endif
