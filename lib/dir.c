/*
 * dir.c - directory client.  STATUS: only the DN functions are implemented;
 * dir_open / dir_user_groups / dir_groups_cached / dir_diagnose are not yet
 * (see issue 4 report).
 */
#include <ldap.h>
#include <stdlib.h>
#include <string.h>

#include "dir.h"

int
dir_dn_normalize(const char *dn, char **out)
{
	char *norm = NULL;
	char *p;
	int rc;

	*out = NULL;
	if (dn == NULL || strlen(dn) > 8192)
		return WARD_ERR_PARSE;
	rc = ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAPV3,
	    &norm, LDAP_DN_FORMAT_LDAPV3);
	if (rc != LDAP_SUCCESS || norm == NULL)
		return rc == LDAP_NO_MEMORY ? WARD_ERR_NOMEM : WARD_ERR_PARSE;
	/* cn, ou, dc, uid, o, l: caseIgnoreMatch for types and values. */
	for (p = norm; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	*out = strdup(norm);
	ldap_memfree(norm);
	return *out == NULL ? WARD_ERR_NOMEM : 0;
}

int
dir_dn_equal(const char *a, const char *b)
{
	char *na = NULL, *nb = NULL;
	int eq = 0;

	if (dir_dn_normalize(a, &na) == 0 && dir_dn_normalize(b, &nb) == 0)
		eq = strcmp(na, nb) == 0;
	free(na);
	free(nb);
	return eq;
}

void
dir_free_list(char **dns, size_t n)
{
	size_t i;

	if (dns == NULL)
		return;
	for (i = 0; i < n; i++)
		free(dns[i]);
	free(dns);
}
