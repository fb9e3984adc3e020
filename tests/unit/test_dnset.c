/*
 * test_dnset.c - lib/dnset.c, the directory client's group DN set: many
 * DNs, each given several times in forms that name the same entry (case,
 * spaces), keep their first form, level and order; the bound on
 * distinct DNs; what is not a DN; handing the DNs over.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir.h"
#include "dnset.h"

#define MANY 20000

static void
test_many_with_duplicates(void)
{
	struct dnset s;
	char dn[128], **dns = NULL;
	size_t n = 0;
	int bad = 0;

	dnset_init(&s, MANY);
	/* each DN three times: as first given, in capitals with spaces after
	 * the commas, and with a trailing space */
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < MANY; i++) {
			int r;

			if (round == 0)
				snprintf(dn, sizeof(dn), "cn=g%05d,ou=groups,dc=example,dc=org", i);
			else if (round == 1)
				snprintf(dn, sizeof(dn), "CN=G%05d, OU=Groups, DC=Example, DC=Org", i);
			else
				snprintf(dn, sizeof(dn), "cn=g%05d,ou=groups,dc=example,dc=org ", i);
			r = dnset_add(&s, dn, round + 1);
			bad += r != (round == 0 ? 1 : 0);
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL_FATAL(s.n, MANY);
	/* first form, first level, in order */
	CU_ASSERT_STRING_EQUAL(s.dn[0], "cn=g00000,ou=groups,dc=example,dc=org");
	CU_ASSERT_STRING_EQUAL(s.dn[MANY - 1], "cn=g19999,ou=groups,dc=example,dc=org");
	CU_ASSERT_EQUAL(s.level[MANY - 1], 1);
	/* full: a duplicate is still a duplicate, a new one is over the bound */
	CU_ASSERT_EQUAL(dnset_add(&s, "CN=g00042,ou=groups,dc=example,dc=org", 3), 0);
	CU_ASSERT_EQUAL(dnset_add(&s, "cn=new,ou=groups,dc=example,dc=org", 1), WARD_ERR_TOOBIG);
	CU_ASSERT_EQUAL(s.n, MANY);
	CU_ASSERT_EQUAL_FATAL(dnset_take(&s, &dns, &n), 0);
	CU_ASSERT_EQUAL(n, MANY);
	CU_ASSERT_EQUAL(s.n, 0);
	CU_ASSERT_PTR_NULL(s.tree);
	CU_ASSERT_STRING_EQUAL(dns[1], "cn=g00001,ou=groups,dc=example,dc=org");
	dir_free_list(dns, n);
	dnset_free(&s);
}

static void
test_edges(void)
{
	struct dnset s;
	char **dns = NULL;
	size_t n = 7;

	dnset_init(&s, 2);
	/* an escaped comma is one value, not two RDNs */
	CU_ASSERT_EQUAL(dnset_add(&s, "cn=a\\,b,dc=org", 1), 1);
	CU_ASSERT_EQUAL(dnset_add(&s, "cn=a\\2Cb,dc=org", 2), 0);
	CU_ASSERT_EQUAL(dnset_add(&s, "cn=a,cn=b,dc=org", 2), 1);
	CU_ASSERT_EQUAL(dnset_add(&s, "not a dn", 1), WARD_ERR_PARSE);
	CU_ASSERT_EQUAL(dnset_add(&s, "cn=c,dc=org", 1), WARD_ERR_TOOBIG);
	CU_ASSERT_EQUAL(s.n, 2);
	CU_ASSERT_EQUAL(s.level[1], 2);
	dnset_free(&s);
	dnset_free(&s);                 /* twice is fine */
	CU_ASSERT_EQUAL(s.max, 2);
	/* an empty set hands over an empty, non-NULL list */
	CU_ASSERT_EQUAL_FATAL(dnset_take(&s, &dns, &n), 0);
	CU_ASSERT_PTR_NOT_NULL(dns);
	CU_ASSERT_EQUAL(n, 0);
	dir_free_list(dns, n);
	/* max 0: nothing fits */
	dnset_init(&s, 0);
	CU_ASSERT_EQUAL(dnset_add(&s, "cn=a,dc=org", 1), WARD_ERR_TOOBIG);
	dnset_free(&s);
}

int
main(void)
{
	unsigned int fails;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("dnset", NULL, NULL);
	CU_add_test(s, "many DNs, each three times in other forms", test_many_with_duplicates);
	CU_add_test(s, "escapes, bound, not a DN, empty set", test_edges);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
