/* test_ward.c - lib/ward.c: user name rules, constant-time compare, errors, log sink. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "ward.h"

static void
test_user_names(void)
{
	static const struct {
		const char *name;
		int ok;
	} cases[] = {
		{ "alice", 1 }, { "a.b-c_d", 1 }, { "jos\xc3\xa9", 1 }, { "DOMAIN\\bob", 1 },
		{ "", 0 }, { " alice", 0 }, { "alice ", 0 }, { "al\tice", 0 },
		{ "al\nice", 0 }, { "al\x7fice", 0 }, { "a/b", 0 }, { "a:b", 0 },
		{ "\xc3", 0 }, { "\xc0\xaf", 0 }, { "\xed\xa0\x80", 0 }, { "\xff", 0 },
		{ "\xc2\x85", 0 },  /* C1 control (NEL) */
	};
	char *longname;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = ward_user_valid(cases[i].name);
		if ((r == 0) != cases[i].ok)
			fprintf(stderr, "case %zu: r=%d\n", i, r);
		CU_ASSERT_EQUAL(r == 0, cases[i].ok);
	}
	CU_ASSERT(ward_user_valid(NULL) != 0);
	longname = malloc(1 << 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(longname);
	memset(longname, 'a', (1 << 20) - 1);
	longname[(1 << 20) - 1] = '\0';
	CU_ASSERT_EQUAL(ward_user_valid(longname), WARD_ERR_TOOBIG);
	longname[256] = '\0';
	CU_ASSERT_EQUAL(ward_user_valid(longname), 0);
	longname[256] = 'a';
	longname[257] = '\0';
	CU_ASSERT_EQUAL(ward_user_valid(longname), WARD_ERR_TOOBIG);
	free(longname);
}

static void
test_ct_equal(void)
{
	CU_ASSERT_TRUE(ward_ct_equal("abcdef", "abcdef", 6));
	CU_ASSERT_FALSE(ward_ct_equal("abcdef", "abcdeg", 6));
	CU_ASSERT_FALSE(ward_ct_equal("xbcdef", "abcdef", 6));
	CU_ASSERT_TRUE(ward_ct_equal("a", "b", 0));
}

static void
test_strerror(void)
{
	for (int e = 0; e >= WARD_ERR_INTERNAL; e--) {
		CU_ASSERT_PTR_NOT_NULL(ward_strerror(e));
		CU_ASSERT(strcmp(ward_strerror(e), "unknown error") != 0);
	}
	CU_ASSERT_STRING_EQUAL(ward_strerror(-999), "unknown error");
}

static char captured[256];
static int captured_prio = -1;

static void
capture(void *ctx, int prio, const char *msg)
{
	(void)ctx;
	captured_prio = prio;
	snprintf(captured, sizeof(captured), "%s", msg);
}

static void
test_log_sink(void)
{
	ward_log_set_sink(capture, NULL);
	ward_log(LOG_ERR, "file %s: %d", "x", 3);
	CU_ASSERT_STRING_EQUAL(captured, "file x: 3");
	CU_ASSERT_EQUAL(captured_prio, LOG_ERR);
	captured[0] = '\0';
	ward_log_set_debug(0);
	ward_log(LOG_DEBUG, "hidden");
	CU_ASSERT_STRING_EQUAL(captured, "");
	ward_log_set_debug(1);
	ward_log(LOG_DEBUG, "shown");
	CU_ASSERT_STRING_EQUAL(captured, "shown");
	ward_log_set_debug(0);
	ward_log_set_sink(NULL, NULL);
}

static void
test_freezero(void)
{
	char *s = strdup("123456");
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	ward_free_str_secret(s);
	ward_free_str_secret(NULL);
	ward_freezero(NULL, 10);
}

int
main(void)
{
	unsigned int fails;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("ward", NULL, NULL);
	CU_add_test(s, "user names", test_user_names);
	CU_add_test(s, "constant-time compare", test_ct_equal);
	CU_add_test(s, "error strings", test_strerror);
	CU_add_test(s, "log sink and debug gate", test_log_sink);
	CU_add_test(s, "freezero", test_freezero);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
