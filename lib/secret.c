/*
 * secret.c - AES-256-GCM secrets at rest and recovery-code hashes.
 * Rules in secret.h.  Record layout: version(1)=1 | nonce(12) | ct | tag(16).
 * Associated data: "ward-secret-v1" NUL user.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "secret.h"
#include "tfile.h"

#define SEAL_VERSION 1
static const char seal_label[] = "ward-secret-v1";

/* Crockford's base32 alphabet: no i, l, o, u to misread. */
static const char rec_alpha[] = "0123456789abcdefghjkmnpqrstvwxyz";

int
secret_random(void *buf, size_t len)
{
	if (len > (size_t)0x7fffffff || RAND_bytes(buf, (int)len) != 1)
		return WARD_ERR_CRYPTO;
	return 0;
}

void
secret_key_wipe(struct secret_key *key)
{
	if (key != NULL)
		ward_wipe(key->k, sizeof(key->k));
}

int
secret_key_load(struct secret_key *key, const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	r = tfile_read(path, TFILE_SECRET, 4096, &buf, &len, err, errlen);
	if (r != 0)
		return r;
	if (len != SECRET_KEY_LEN) {
		snprintf(err, errlen, "%s: a key file holds exactly %d bytes, this one %zu "
		    "(refused; make one with wardctl init)", path, SECRET_KEY_LEN, len);
		r = WARD_ERR_PARSE;
	} else {
		memcpy(key->k, buf, SECRET_KEY_LEN);
	}
	ward_freezero(buf, len + 1);
	return r;
}

int
secret_key_create(const char *path, char *err, size_t errlen)
{
	struct secret_key k;
	int r;

	if (secret_random(k.k, sizeof(k.k)) != 0) {
		snprintf(err, errlen, "%s: no random bytes", path);
		return WARD_ERR_CRYPTO;
	}
	r = secret_key_write(path, &k, err, errlen);
	secret_key_wipe(&k);
	return r;
}

int
secret_key_write(const char *path, const struct secret_key *key, char *err, size_t errlen)
{
	const unsigned char *k = key->k;
	size_t off = 0;
	int fd, r = WARD_ERR_IO;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return e == EEXIST ? WARD_ERR_EXISTS : WARD_ERR_IO;
	}
	while (off < SECRET_KEY_LEN) {
		ssize_t n = write(fd, k + off, SECRET_KEY_LEN - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off == SECRET_KEY_LEN && fchmod(fd, 0600) == 0 && fsync(fd) == 0)
		r = 0;
	if (close(fd) != 0)
		r = WARD_ERR_IO;
	if (r != 0) {
		snprintf(err, errlen, "%s: cannot write key: %s", path, strerror(errno));
		unlink(path);
	}
	return r;
}

/* Build the associated data: label NUL user. */
static int
make_ad(const char *user, unsigned char *ad, size_t cap, size_t *len)
{
	size_t ul = strlen(user), ll = sizeof(seal_label);   /* label + NUL */

	if (ll + ul > cap)
		return WARD_ERR_INVAL;
	memcpy(ad, seal_label, ll);
	/* AD is bytes with an explicit length (label NUL user), not a C
	 * string: no terminator is wanted after the user name. */
	memcpy(ad + ll, user, ul);   /* NOLINT(bugprone-not-null-terminated-result) */
	*len = ll + ul;
	return 0;
}

int
secret_seal(const struct secret_key *key, const char *user, const unsigned char *pt,
    size_t ptlen, unsigned char **ctp, size_t *ctlenp)
{
	unsigned char ad[sizeof(seal_label) + 257];
	unsigned char *ct = NULL;
	EVP_CIPHER_CTX *c = NULL;
	size_t adlen, ctlen = ptlen + SECRET_OVERHEAD;
	int n, r = WARD_ERR_CRYPTO;

	*ctp = NULL;
	*ctlenp = 0;
	if (ptlen == 0 || ptlen > SECRET_MAX_PLAIN || make_ad(user, ad, sizeof(ad), &adlen) != 0)
		return WARD_ERR_INVAL;
	if ((ct = malloc(ctlen)) == NULL)
		return WARD_ERR_NOMEM;
	ct[0] = SEAL_VERSION;
	if (secret_random(ct + 1, SECRET_NONCE_LEN) != 0)
		goto out;
	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, SECRET_NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(c, NULL, NULL, key->k, ct + 1) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &n, ad, (int)adlen) != 1 ||
	    EVP_EncryptUpdate(c, ct + 1 + SECRET_NONCE_LEN, &n, pt, (int)ptlen) != 1 ||
	    (size_t)n != ptlen ||
	    EVP_EncryptFinal_ex(c, ct + 1 + SECRET_NONCE_LEN + ptlen, &n) != 1 || n != 0 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SECRET_TAG_LEN,
	    ct + 1 + SECRET_NONCE_LEN + ptlen) != 1)
		goto out;
	*ctp = ct;
	*ctlenp = ctlen;
	ct = NULL;
	r = 0;
out:
	EVP_CIPHER_CTX_free(c);
	ward_freezero(ct, ctlen);
	return r;
}

int
secret_open(const struct secret_key *key, const char *user, const unsigned char *ct,
    size_t ctlen, unsigned char **ptp, size_t *ptlenp)
{
	unsigned char ad[sizeof(seal_label) + 257];
	unsigned char tag[SECRET_TAG_LEN];
	unsigned char *pt = NULL;
	EVP_CIPHER_CTX *c = NULL;
	size_t adlen, ptlen;
	int n, r = WARD_ERR_CRYPTO;

	*ptp = NULL;
	*ptlenp = 0;
	if (make_ad(user, ad, sizeof(ad), &adlen) != 0)
		return WARD_ERR_INVAL;
	if (ctlen <= SECRET_OVERHEAD || ctlen > SECRET_MAX_PLAIN + SECRET_OVERHEAD ||
	    ct[0] != SEAL_VERSION)
		return WARD_ERR_CORRUPT;
	ptlen = ctlen - SECRET_OVERHEAD;
	memcpy(tag, ct + ctlen - SECRET_TAG_LEN, SECRET_TAG_LEN);
	if ((pt = malloc(ptlen)) == NULL)
		return WARD_ERR_NOMEM;
	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, SECRET_NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(c, NULL, NULL, key->k, ct + 1) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &n, ad, (int)adlen) != 1 ||
	    EVP_DecryptUpdate(c, pt, &n, ct + 1 + SECRET_NONCE_LEN, (int)ptlen) != 1 ||
	    (size_t)n != ptlen ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SECRET_TAG_LEN, tag) != 1)
		goto out;
	/* The tag is checked here; on failure nothing of PT is handed out. */
	if (EVP_DecryptFinal_ex(c, pt + ptlen, &n) != 1)
		goto out;
	*ptp = pt;
	*ptlenp = ptlen;
	pt = NULL;
	r = 0;
out:
	EVP_CIPHER_CTX_free(c);
	ward_freezero(pt, ptlen);
	return r;
}

int
secret_recovery_hash(const struct secret_key *key, const unsigned char salt[16],
    const char *user, const char *code, unsigned char out[32])
{
	static const char label[] = "ward recovery v1";
	unsigned char krec[32];
	unsigned int l1 = 0, l2 = 0;
	int r = WARD_ERR_CRYPTO;

	if (HMAC(EVP_sha256(), key->k, SECRET_KEY_LEN, (const unsigned char *)label,
	    sizeof(label) - 1, krec, &l1) == NULL || l1 != 32)
		goto out;
	{
		size_t ul = strlen(user), cl = strlen(code);
		size_t mlen = 16 + ul + 1 + cl;
		unsigned char *m = malloc(mlen);

		if (m == NULL) {
			r = WARD_ERR_NOMEM;
			goto out;
		}
		memcpy(m, salt, 16);
		memcpy(m + 16, user, ul);
		m[16 + ul] = 0;
		memcpy(m + 17 + ul, code, cl);
		if (HMAC(EVP_sha256(), krec, sizeof(krec), m, mlen, out, &l2) != NULL && l2 == 32)
			r = 0;
		ward_freezero(m, mlen);
	}
out:
	ward_wipe(krec, sizeof(krec));
	return r;
}

int
secret_recovery_normalise(const char *in, char out[SECRET_RECOVERY_CHARS + 1])
{
	size_t n = 0;

	for (; *in != '\0'; in++) {
		char ch = *in;

		if (ch == '-' || ch == ' ')
			continue;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch == 'o')
			ch = '0';
		else if (ch == 'i' || ch == 'l')
			ch = '1';
		if (strchr(rec_alpha, ch) == NULL || ch == '\0' || n == SECRET_RECOVERY_CHARS) {
			ward_wipe(out, SECRET_RECOVERY_CHARS + 1);
			return WARD_ERR_PARSE;
		}
		out[n++] = ch;
	}
	out[n] = '\0';
	if (n != SECRET_RECOVERY_CHARS) {
		ward_wipe(out, SECRET_RECOVERY_CHARS + 1);
		return WARD_ERR_PARSE;
	}
	return 0;
}

int
secret_recovery_generate(char out[SECRET_RECOVERY_CHARS + 3])
{
	unsigned char rnd[SECRET_RECOVERY_CHARS];
	size_t o = 0;

	if (secret_random(rnd, sizeof(rnd)) != 0)
		return WARD_ERR_CRYPTO;
	for (size_t i = 0; i < SECRET_RECOVERY_CHARS; i++) {
		if (i > 0 && i % 4 == 0)
			out[o++] = '-';
		out[o++] = rec_alpha[rnd[i] & 31];   /* 32 divides 256: no bias */
	}
	out[o] = '\0';
	ward_wipe(rnd, sizeof(rnd));
	return 0;
}
