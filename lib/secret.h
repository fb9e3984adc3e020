/*
 * secret.h - secrets at rest: AES-256-GCM under the 32-byte master key.
 *
 * Rules it keeps:
 *  - A fresh random 96-bit nonce for every seal (RAND_bytes); a key never
 *    sees 2^32 seals in practice (one per enrolment).
 *  - The user name is associated data, so a record copied to another user
 *    fails to open; a version byte and the purpose are bound too.
 *  - Any tag failure is WARD_ERR_CRYPTO: no partial plaintext is returned.
 *  - Plaintext buffers are wiped before they are freed, on every path.
 *  - The key file comes through the trusted opener with TFILE_SECRET:
 *    root-owned, mode 0600/0400, exactly 32 bytes.
 *
 * Recovery codes are stored as HMAC-SHA-256 under a key derived from the
 * master key (so a stolen store alone cannot be brute-forced offline),
 * with a per-set salt and the user name mixed in.
 */
#ifndef WARD_SECRET_H
#define WARD_SECRET_H

#include <stddef.h>

#include "ward.h"

#define SECRET_KEY_LEN 32
#define SECRET_NONCE_LEN 12
#define SECRET_TAG_LEN 16
#define SECRET_OVERHEAD (1 + SECRET_NONCE_LEN + SECRET_TAG_LEN)
#define SECRET_MAX_PLAIN 256

struct secret_key {
	unsigned char k[SECRET_KEY_LEN];
};

/* Load the master key from PATH (trusted opener, TFILE_SECRET, exactly 32
 * bytes).  Returns 0 or WARD_ERR_* with "PATH: problem" in ERR. */
int secret_key_load(struct secret_key *key, const char *path, char *err,
    size_t errlen) WARD_WUR WARD_NONNULL(1, 2, 3);
/* Write a new random key to PATH (created 0600, O_EXCL: never replaces). */
int secret_key_create(const char *path, char *err, size_t errlen) WARD_WUR;
/* Write KEY to PATH the same way (0600, O_EXCL|O_NOFOLLOW, synced):
 * WARD_ERR_EXISTS when PATH is there. */
int secret_key_write(const char *path, const struct secret_key *key, char *err,
    size_t errlen) WARD_WUR WARD_NONNULL(1, 2, 3);
void secret_key_wipe(struct secret_key *key);

/* Seal PT (PTLEN <= SECRET_MAX_PLAIN) for USER.  *CT (PTLEN +
 * SECRET_OVERHEAD bytes) is the caller's to free. */
int secret_seal(const struct secret_key *key, const char *user,
    const unsigned char *pt, size_t ptlen, unsigned char **ct, size_t *ctlen)
    WARD_WUR WARD_NONNULL(1, 2, 3, 5, 6);
/* Open CT for USER.  *PT is the caller's to ward_freezero(*PT, *PTLEN).
 * WARD_ERR_CRYPTO when the record was altered, belongs to another user or
 * another key; WARD_ERR_CORRUPT when it is malformed. */
int secret_open(const struct secret_key *key, const char *user,
    const unsigned char *ct, size_t ctlen, unsigned char **pt, size_t *ptlen)
    WARD_WUR WARD_NONNULL(1, 2, 3, 5, 6);

/* Recovery code hash: HMAC-SHA-256(K_rec, salt || user || 0 || code) with
 * K_rec = HMAC-SHA-256(master, "ward recovery v1").  CODE is normalised by
 * the caller (secret_recovery_normalise). */
int secret_recovery_hash(const struct secret_key *key, const unsigned char salt[16],
    const char *user, const char *code, unsigned char out[32]) WARD_WUR;
/* Normalise a typed recovery code into OUT (lower case, no '-' or spaces).
 * Returns 0 when it has the shape of a recovery code (SECRET_RECOVERY_CHARS
 * characters from the code alphabet), WARD_ERR_PARSE otherwise. */
#define SECRET_RECOVERY_CHARS 12
int secret_recovery_normalise(const char *in, char out[SECRET_RECOVERY_CHARS + 1]) WARD_WUR;
/* Make a new random recovery code, formatted "xxxx-xxxx-xxxx". */
int secret_recovery_generate(char out[SECRET_RECOVERY_CHARS + 3]) WARD_WUR;

/* Cryptographically random bytes (RAND_bytes).  0 or WARD_ERR_CRYPTO. */
int secret_random(void *buf, size_t len) WARD_WUR;

#endif
