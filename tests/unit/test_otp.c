/* test_otp.c - TOTP: RFC 6238 appendix B vectors for SHA-1/256/512, the
 * window, malformed codes, base32 round trips. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "otp.h"

static const char *seed[3] = {
	"12345678901234567890",
	"12345678901234567890123456789012",
	"1234567890123456789012345678901234567890123456789012345678901234",
};

static const struct {
	long long t;
	const char *code[3];
} rfc[] = {
	{ 59LL,          { "94287082", "46119246", "90693936" } },
	{ 1111111109LL,  { "07081804", "68084774", "25091201" } },
	{ 1111111111LL,  { "14050471", "67062674", "99943326" } },
	{ 1234567890LL,  { "89005924", "91819424", "93441116" } },
	{ 2000000000LL,  { "69279037", "90698825", "38618901" } },
	{ 20000000000LL, { "65353130", "77737706", "47863826" } },
};

static void
test_rfc6238_vectors(void)
{
	for (size_t i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
		for (int a = 0; a < 3; a++) {
			struct otp_params p = { a, 8, 30, 0 };
			char gen[9];
			int64_t step = -5;

			CU_ASSERT_EQUAL(otp_generate((const unsigned char *)seed[a], strlen(seed[a]),
			    &p, (time_t)rfc[i].t, gen), 0);
			CU_ASSERT_STRING_EQUAL(gen, rfc[i].code[a]);
			CU_ASSERT_EQUAL(otp_verify((const unsigned char *)seed[a], strlen(seed[a]),
			    &p, (time_t)rfc[i].t, rfc[i].code[a], &step), 0);
			CU_ASSERT_EQUAL(step, rfc[i].t / 30);
			/* the same code one step later, window 0: refused */
			CU_ASSERT_EQUAL(otp_verify((const unsigned char *)seed[a], strlen(seed[a]),
			    &p, (time_t)rfc[i].t + 30, rfc[i].code[a], &step), WARD_ERR_BADCODE);
			CU_ASSERT_EQUAL(step, -1);
		}
	}
}

static void
test_window(void)
{
	const unsigned char *s = (const unsigned char *)seed[0];
	struct otp_params p = { 0, 6, 30, 1 };
	time_t now = 1700000000;   /* step 56666666, 20 s into it */
	char prev[9], next[9], next2[9], prev2[9];
	int64_t step;

	CU_ASSERT_EQUAL(otp_generate(s, 20, &p, now - 30, prev), 0);
	CU_ASSERT_EQUAL(otp_generate(s, 20, &p, now + 30, next), 0);
	CU_ASSERT_EQUAL(otp_generate(s, 20, &p, now + 60, next2), 0);
	CU_ASSERT_EQUAL(otp_generate(s, 20, &p, now - 60, prev2), 0);
	CU_ASSERT_EQUAL(otp_verify(s, 20, &p, now, prev, &step), 0);
	CU_ASSERT_EQUAL(step, now / 30 - 1);
	CU_ASSERT_EQUAL(otp_verify(s, 20, &p, now, next, &step), 0);
	CU_ASSERT_EQUAL(step, now / 30 + 1);
	CU_ASSERT_EQUAL(otp_verify(s, 20, &p, now, next2, &step), WARD_ERR_BADCODE);
	CU_ASSERT_EQUAL(otp_verify(s, 20, &p, now, prev2, &step), WARD_ERR_BADCODE);
	p.window = 2;
	CU_ASSERT_EQUAL(otp_verify(s, 20, &p, now, next2, &step), 0);
	CU_ASSERT_EQUAL(step, now / 30 + 2);
}

static void
test_malformed_codes(void)
{
	const unsigned char *s = (const unsigned char *)seed[0];
	struct otp_params p = { 0, 6, 30, 1 };
	char good[9], tmp[32];
	int64_t step;
	time_t now = 1700000000;

	CU_ASSERT_EQUAL_FATAL(otp_generate(s, 20, &p, now, good), 0);
	CU_ASSERT_EQUAL(otp_verify(s, 20, &p, now, good, &step), 0);
	snprintf(tmp, sizeof(tmp), "%s0", good);            /* too long */
	CU_ASSERT_EQUAL(otp_verify(s, 20, &p, now, tmp, &step), WARD_ERR_BADCODE);
	snprintf(tmp, sizeof(tmp), "%.5s", good);           /* too short */
	CU_ASSERT_EQUAL(otp_verify(s, 20, &p, now, tmp, &step), WARD_ERR_BADCODE);
	snprintf(tmp, sizeof(tmp), " %.5s", good);          /* not digits */
	CU_ASSERT_EQUAL(otp_verify(s, 20, &p, now, tmp, &step), WARD_ERR_BADCODE);
	CU_ASSERT_EQUAL(otp_verify(s, 20, &p, now, "", &step), WARD_ERR_BADCODE);
	CU_ASSERT_EQUAL(otp_verify(s, 20, &p, now, "12345a", &step), WARD_ERR_BADCODE);
	p.digits = 5;
	CU_ASSERT_EQUAL(otp_verify(s, 20, &p, now, "12345", &step), WARD_ERR_INVAL);
	p.digits = 6;
	p.algorithm = 7;
	CU_ASSERT_EQUAL(otp_verify(s, 20, &p, now, good, &step), WARD_ERR_INVAL);
}

static void
test_base32(void)
{
	unsigned char *dec = NULL;
	char *enc = NULL;
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(otp_base32_encode((const unsigned char *)seed[0], 20, &enc), 0);
	CU_ASSERT_STRING_EQUAL(enc, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
	CU_ASSERT_EQUAL_FATAL(otp_base32_decode(enc, &dec, &len), 0);
	CU_ASSERT_EQUAL(len, 20);
	CU_ASSERT_EQUAL(memcmp(dec, seed[0], 20), 0);
	ward_freezero(dec, len);
	ward_freezero(enc, strlen(enc));
	CU_ASSERT_EQUAL(otp_base32_decode("not base32!", &dec, &len), WARD_ERR_PARSE);
	CU_ASSERT_PTR_NULL(dec);
	CU_ASSERT_EQUAL(otp_base32_decode("", &dec, &len), WARD_ERR_PARSE);
}

int
main(void)
{
	unsigned fails;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("otp", NULL, NULL);
	CU_add_test(s, "RFC 6238 appendix B, SHA-1/256/512", test_rfc6238_vectors);
	CU_add_test(s, "window edges", test_window);
	CU_add_test(s, "malformed codes", test_malformed_codes);
	CU_add_test(s, "base32", test_base32);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
