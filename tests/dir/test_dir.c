/* test_dir.c - directory client tests.  STATUS: DN comparison only; the
 * slapd-backed tests of issue 4 are not written yet. */
#include <CUnit/Basic.h>
#include <stdlib.h>

#include "dir.h"

static void
test_dn_equal(void)
{
	char *n = NULL;

	CU_ASSERT_TRUE(dir_dn_equal("uid=alice,ou=people,dc=example,dc=org",
	    "UID=Alice, OU=People, DC=Example, DC=Org"));
	CU_ASSERT_TRUE(dir_dn_equal("cn=a\\2Cb,dc=example,dc=org",
	    "cn=a\\,b,dc=example,dc=org"));
	CU_ASSERT_FALSE(dir_dn_equal("uid=alice,ou=people,dc=example,dc=org",
	    "uid=alicia,ou=people,dc=example,dc=org"));
	CU_ASSERT_FALSE(dir_dn_equal("cn=a\\,b,dc=example,dc=org",
	    "cn=a,cn=b,dc=example,dc=org"));
	CU_ASSERT_FALSE(dir_dn_equal("not a dn", "not a dn"));
	CU_ASSERT_FALSE(dir_dn_equal(NULL, "dc=org"));
	CU_ASSERT_EQUAL_FATAL(dir_dn_normalize("OU=X , DC=Org", &n), 0);
	CU_ASSERT_STRING_EQUAL(n, "ou=x,dc=org");
	free(n);
}

int
main(void)
{
	CU_pSuite s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("dir", NULL, NULL);
	if (s == NULL || CU_add_test(s, "dn_equal", test_dn_equal) == NULL) {
		CU_cleanup_registry();
		return 1;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails != 0;
}
