/* test_secret.c - secrets at rest: round trip, every byte tampered, wrong
 * user, wrong key, key file rules, recovery code hashing and shape. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"
#include "testutil.h"

static char *dir;

static int setup(void) { dir = tu_mkdtemp("ward-secret"); return dir == NULL; }
static int teardown(void) { tu_rmtree(dir); free(dir); return 0; }

static void
make_key(struct secret_key *k, unsigned char fill)
{
	memset(k->k, fill, sizeof(k->k));
}

static void
test_round_trip(void)
{
	struct secret_key k;
	const unsigned char pt[20] = "12345678901234567890";
	unsigned char *ct = NULL, *ct2 = NULL, *out = NULL;
	size_t ctlen = 0, ct2len = 0, outlen = 0;

	make_key(&k, 7);
	CU_ASSERT_EQUAL_FATAL(secret_seal(&k, "alice", pt, sizeof(pt), &ct, &ctlen), 0);
	CU_ASSERT_EQUAL(ctlen, sizeof(pt) + SECRET_OVERHEAD);
	CU_ASSERT_FALSE(tu_contains(ct, ctlen, pt, sizeof(pt)));
	CU_ASSERT_EQUAL_FATAL(secret_open(&k, "alice", ct, ctlen, &out, &outlen), 0);
	CU_ASSERT_EQUAL(outlen, sizeof(pt));
	CU_ASSERT_EQUAL(memcmp(out, pt, sizeof(pt)), 0);
	ward_freezero(out, outlen);
	/* a fresh nonce every time: two seals of one secret differ */
	CU_ASSERT_EQUAL_FATAL(secret_seal(&k, "alice", pt, sizeof(pt), &ct2, &ct2len), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(ct + 1, ct2 + 1, SECRET_NONCE_LEN), 0);
	free(ct);
	free(ct2);
}

static void
test_tamper_wrong_user_wrong_key(void)
{
	struct secret_key k, k2;
	const unsigned char pt[32] = "0123456789abcdef0123456789abcdef";
	unsigned char *ct = NULL, *out = NULL;
	size_t ctlen = 0, outlen = 0;

	make_key(&k, 1);
	make_key(&k2, 2);
	CU_ASSERT_EQUAL_FATAL(secret_seal(&k, "alice", pt, sizeof(pt), &ct, &ctlen), 0);
	for (size_t i = 0; i < ctlen; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			int r;
			ct[i] ^= (unsigned char)(1u << bit);
			r = secret_open(&k, "alice", ct, ctlen, &out, &outlen);
			CU_ASSERT(r == WARD_ERR_CRYPTO || (i == 0 && r == WARD_ERR_CORRUPT));
			CU_ASSERT_PTR_NULL(out);
			ct[i] ^= (unsigned char)(1u << bit);
		}
	}
	CU_ASSERT_EQUAL(secret_open(&k, "bob", ct, ctlen, &out, &outlen), WARD_ERR_CRYPTO);
	CU_ASSERT_EQUAL(secret_open(&k, "alic", ct, ctlen, &out, &outlen), WARD_ERR_CRYPTO);
	CU_ASSERT_EQUAL(secret_open(&k2, "alice", ct, ctlen, &out, &outlen), WARD_ERR_CRYPTO);
	CU_ASSERT_EQUAL(secret_open(&k, "alice", ct, ctlen - 1, &out, &outlen), WARD_ERR_CRYPTO);
	CU_ASSERT_EQUAL(secret_open(&k, "alice", ct, SECRET_OVERHEAD, &out, &outlen),
	    WARD_ERR_CORRUPT);
	CU_ASSERT_EQUAL(secret_open(&k, "alice", ct, ctlen, &out, &outlen), 0);
	ward_freezero(out, outlen);
	free(ct);
}

static void
test_key_file(void)
{
	struct secret_key k;
	char path[512], err[512];
	unsigned char raw[32];

	snprintf(path, sizeof(path), "%s/master.key", dir);
	CU_ASSERT_EQUAL_FATAL(secret_key_create(path, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(secret_key_create(path, err, sizeof(err)), WARD_ERR_EXISTS);
	CU_ASSERT_EQUAL(secret_key_load(&k, path, err, sizeof(err)), 0);
	chmod(path, 0640);
	CU_ASSERT_EQUAL(secret_key_load(&k, path, err, sizeof(err)), WARD_ERR_UNSAFE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "0640"));
	chmod(path, 0604);
	CU_ASSERT_EQUAL(secret_key_load(&k, path, err, sizeof(err)), WARD_ERR_UNSAFE);
	chmod(path, 0400);
	CU_ASSERT_EQUAL(secret_key_load(&k, path, err, sizeof(err)), 0);
	memset(raw, 3, sizeof(raw));
	CU_ASSERT_EQUAL(tu_write(path, raw, 31, 0600), 0);
	CU_ASSERT_EQUAL(secret_key_load(&k, path, err, sizeof(err)), WARD_ERR_PARSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "32 bytes"));
	CU_ASSERT_EQUAL(tu_write(path, raw, 32, 0600), 0);
	CU_ASSERT_EQUAL(chown(path, 65534, 65534), 0);
	CU_ASSERT_EQUAL(secret_key_load(&k, path, err, sizeof(err)), WARD_ERR_UNSAFE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not root"));
	unlink(path);
	CU_ASSERT_EQUAL(secret_key_load(&k, path, err, sizeof(err)), WARD_ERR_IO);
	secret_key_wipe(&k);
}

static void
test_recovery(void)
{
	struct secret_key k, k2;
	unsigned char salt[16] = { 1 }, h1[32], h2[32], h3[32], h4[32];
	char code[SECRET_RECOVERY_CHARS + 3], norm[SECRET_RECOVERY_CHARS + 1];
	char typed[64];

	make_key(&k, 9);
	make_key(&k2, 10);
	CU_ASSERT_EQUAL_FATAL(secret_recovery_generate(code), 0);
	CU_ASSERT_EQUAL(strlen(code), 14);
	CU_ASSERT_EQUAL(code[4], '-');
	CU_ASSERT_EQUAL(secret_recovery_normalise(code, norm), 0);
	CU_ASSERT_EQUAL(strlen(norm), 12);
	/* typed in upper case with spaces: the same code */
	for (size_t i = 0; i <= strlen(code); i++)
		typed[i] = (char)(code[i] == '-' ? ' ' :
		    (code[i] >= 'a' && code[i] <= 'z') ? code[i] - 32 : code[i]);
	{
		char n2[SECRET_RECOVERY_CHARS + 1];
		CU_ASSERT_EQUAL(secret_recovery_normalise(typed, n2), 0);
		CU_ASSERT_STRING_EQUAL(n2, norm);
	}
	CU_ASSERT_EQUAL(secret_recovery_normalise("123456", norm), WARD_ERR_PARSE);
	CU_ASSERT_EQUAL(secret_recovery_normalise("abcd-efgh-jkmn-p", norm), WARD_ERR_PARSE);
	CU_ASSERT_EQUAL(secret_recovery_normalise("abcd-efgh-jkm!", norm), WARD_ERR_PARSE);
	CU_ASSERT_EQUAL(secret_recovery_normalise("abcd-efgh-jkmu", norm), WARD_ERR_PARSE);
	CU_ASSERT_EQUAL(secret_recovery_normalise("abcd-efgh-jkmn", norm), 0);
	CU_ASSERT_EQUAL(secret_recovery_hash(&k, salt, "alice", norm, h1), 0);
	CU_ASSERT_EQUAL(secret_recovery_hash(&k, salt, "alice", norm, h2), 0);
	CU_ASSERT_EQUAL(memcmp(h1, h2, 32), 0);
	CU_ASSERT_EQUAL(secret_recovery_hash(&k, salt, "bob", norm, h3), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(h1, h3, 32), 0);
	CU_ASSERT_EQUAL(secret_recovery_hash(&k2, salt, "alice", norm, h4), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(h1, h4, 32), 0);
	salt[0] = 2;
	CU_ASSERT_EQUAL(secret_recovery_hash(&k, salt, "alice", norm, h4), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(h1, h4, 32), 0);
}

int
main(void)
{
	unsigned fails;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("secret", setup, teardown);
	CU_add_test(s, "seal and open", test_round_trip);
	CU_add_test(s, "tampered, wrong user, wrong key", test_tamper_wrong_user_wrong_key);
	CU_add_test(s, "key file rules", test_key_file);
	CU_add_test(s, "recovery codes", test_recovery);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
