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

/* UTF-8 as the audit writer and wardctl's output read it (RFC 3629), and
 * what may go to a terminal. */
static void
test_utf8(void)
{
	static const struct {
		const char *s;
		size_t len, printable;
	} cases[] = {
		{ "a", 1, 1 },
		{ "\x1b", 1, 0 },              /* ESC */
		{ "\x7f", 1, 0 },              /* DEL */
		{ "\t", 1, 0 },
		{ "\xc3\xa9", 2, 2 },          /* e acute */
		{ "\xc2\xa0", 2, 2 },          /* NBSP: printable */
		{ "\xc2\x80", 2, 0 },          /* C1 (U+0080) */
		{ "\xc2\x9b", 2, 0 },          /* C1 CSI */
		{ "\xc2\x9f", 2, 0 },          /* last C1 */
		{ "\xc0\x80", 0, 0 },          /* overlong NUL */
		{ "\xc1\xbf", 0, 0 },          /* overlong */
		{ "\xe0\x80\xaf", 0, 0 },      /* overlong '/' */
		{ "\xed\xa0\x80", 0, 0 },      /* surrogate U+D800 */
		{ "\xe2\x82\xac", 3, 3 },      /* euro sign */
		{ "\xe2\x82", 0, 0 },          /* truncated */
		{ "\xf0\x9f\x98\x80", 4, 4 },  /* emoji */
		{ "\xf4\x90\x80\x80", 0, 0 },  /* past U+10FFFF */
		{ "\xf5\x80\x80\x80", 0, 0 },
		{ "\x80", 0, 0 },              /* stray continuation byte */
		{ "\xff", 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const unsigned char *p = (const unsigned char *)cases[i].s;
		size_t n = strlen(cases[i].s);

		if (ward_utf8_len(p, n) != cases[i].len ||
		    ward_utf8_printable(p, n) != cases[i].printable)
			printf("\n  case %zu: len %zu printable %zu\n", i, ward_utf8_len(p, n),
			    ward_utf8_printable(p, n));
		CU_ASSERT_EQUAL(ward_utf8_len(p, n), cases[i].len);
		CU_ASSERT_EQUAL(ward_utf8_printable(p, n), cases[i].printable);
	}
	CU_ASSERT_EQUAL(ward_utf8_len((const unsigned char *)"", 0), 0);
	/* a C1 control in a user name is refused too */
	CU_ASSERT_NOT_EQUAL(ward_user_valid("al\xc2\x9b" "ice"), 0);
	CU_ASSERT_EQUAL(ward_user_valid("al\xc2\xa0" "ice"), 0);
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
	for (int e = 0; e >= WARD_ERR_LAST; e--) {
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
	CU_add_test(s, "UTF-8 length and printable characters", test_utf8);
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
