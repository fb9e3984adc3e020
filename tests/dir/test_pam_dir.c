/*
 * test_pam_dir.c - roles from the directory through real libpam: pam_ward.so
 * with a private ward.conf whose directory is a throwaway slapd (TLS, the
 * demo hospital directory contrib/ldap/hospital.ldif), started and always
 * stopped by this suite.  Direct and nested group members, separation of
 * duty across groups, people in no group and people nobody knows, then the
 * directory going down: cached roles decide and are marked offline, a user
 * with no cached roles and a zero offline_max_age fail closed.
 */
#include <CUnit/Basic.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pamtest.h"
#include "slapdtest.h"
#include "testutil.h"

static char root[512], ldapdir[600], conf[600], conf0[600], pamd[600], module[600];
static char sock[600], sock0[600];
static pid_t dpid = -1, dpid0 = -1;
static char wardctl[600], auditlog[600];

static const char policy_text[] =
    "roles = { clinician = { }; nurse = { inherits = [\"clinician\"]; };\n"
    "  icu_nurse = { inherits = [\"nurse\"]; }; physician = { inherits = [\"clinician\"]; };\n"
    "  pharmacist = { inherits = [\"clinician\"]; }; };\n"
    "role_sources = (\n"
    "  { group = \"cn=nurses,ou=groups,dc=example,dc=org\"; role = \"nurse\"; },\n"
    "  { group = \"CN=ICU-Nurses, OU=Groups, DC=Example, DC=Org\"; role = \"icu_nurse\"; },\n"
    "  { group = \"cn=physicians,ou=groups,dc=example,dc=org\"; role = \"physician\"; },\n"
    "  { group = \"cn=pharmacists,ou=groups,dc=example,dc=org\"; role = \"pharmacist\"; } );\n"
    "apps = { ehr = [\"dir-ehr\"]; pharmacy = [\"dir-rx\"]; };\n"
    "rules = (\n"
    "  { id = \"nurses-ehr\"; effect = \"allow\"; roles = [\"nurse\"]; apps = [\"ehr\"];\n"
    "    mfa = \"not_required\"; },\n"
    "  { id = \"pharmacists-rx\"; effect = \"allow\"; roles = [\"pharmacist\"];\n"
    "    apps = [\"pharmacy\"]; mfa = \"not_required\"; } );\n"
    "separation_of_duty = ( { roles = [\"pharmacist\", \"physician\"];\n"
    "  reason = \"Prescribing and dispensing must be done by different people\"; } );\n";

/* auth + account (+ session when ROLES is not NULL: WARD_ROLES into it);
 * account alone when ROLES is NULL and LEN is 1.  Every prompt gets "". */
static int
login(const char *service, const char *user, char *roles, size_t len)
{
	char env[1024];
	int rc;

	if (roles != NULL)
		roles[0] = '\0';
	pt_answer_all(NULL);
	rc = pt_run(pamd, service, user, roles != NULL ? "auth,acct,open" :
	    len == 1 ? "acct" : "auth,acct", env, sizeof(env));
	if (roles != NULL && rc == PAM_SUCCESS && strncmp(env, "WARD_ROLES=", 11) == 0)
		snprintf(roles, len, "%.*s", (int)strcspn(env + 11, "\n"), env + 11);
	return rc;
}

/* Audit lines about USER that hold NEEDLE. */
static int
audit_count(const char *user, const char *needle)
{
	char u[128];

	snprintf(u, sizeof(u), "\"user\":\"%s\"", user);
	return tu_count_lines(auditlog, u, needle, NULL);
}

static int
write_conf(const char *path, const char *uri, const char *ca, long offline_max_age)
{
	char text[4096];

	snprintf(text, sizeof(text),
	    "policy_file = \"%s/etc/policy.conf\";\nstate_dir = \"%s/state\";\n"
	    "directory = {\n  uri = [%s];\n  base = \"dc=example,dc=org\";\n"
	    "  bind_dn = \"cn=ward,ou=services,dc=example,dc=org\";\n"
	    "  bind_password_file = \"%s/etc/ldap.secret\";\n  ca_file = \"%s\";\n"
	    "  user_filter = \"(&(objectClass=inetOrgPerson)(uid=%%u))\";\n"
	    "  group_filter = \"(&(objectClass=groupOfNames)(member=%%d))\";\n"
	    "  timeout_ms = 1000;\n  cache_seconds = 0;\n  offline_max_age = %ld;\n};\n"
	    "secrets = { key_file = \"%s/etc/master.key\"; };\n"
	    "audit = { path = \"%s\"; key_file = \"%s/etc/audit.key\"; fsync = false; };\n",
	    root, root, uri, root, ca, offline_max_age, root, auditlog, root);
	return tu_write(path, text, (size_t)-1, 0644);
}

static int
setup(void)
{
	char path[1200], uri[1024], dead[300], ldaps[300], ca[600];

	snprintf(root, sizeof(root), "%s/tests/pam-dir", tu_build());
	snprintf(ldapdir, sizeof(ldapdir), "%s/ldap", root);
	snprintf(conf, sizeof(conf), "%s/ward.conf", root);
	snprintf(conf0, sizeof(conf0), "%s/ward-strict.conf", root);
	snprintf(sock, sizeof(sock), "%s/run/wardd.sock", root);
	snprintf(sock0, sizeof(sock0), "%s/run/strict.sock", root);
	snprintf(pamd, sizeof(pamd), "%s/pam.d", root);
	snprintf(auditlog, sizeof(auditlog), "%s/log/audit.log", root);
	snprintf(module, sizeof(module), "%s/pam_ward.so", tu_build());
	snprintf(wardctl, sizeof(wardctl), "%s/wardctl", tu_build());
	if (tu_sh("rm -rf '%s' && mkdir -p '%s/etc' '%s' && chmod 0755 '%s' '%s/etc' '%s'",
	    root, root, pamd, root, root, pamd) != 0)
		return 1;
	if (tu_slapd_start(ldapdir) != 0)
		return 1;
	if (tu_slapd_env("DEAD_URI", dead, sizeof(dead)) != 0 ||
	    tu_slapd_env("LDAPS_URI", ldaps, sizeof(ldaps)) != 0 ||
	    tu_slapd_env("CA_FILE", ca, sizeof(ca)) != 0)
		return 1;
	/* the first URI is dead: every lookup also exercises failover */
	snprintf(uri, sizeof(uri), "\"%s\", \"%s\"", dead, ldaps);
	if (write_conf(conf, uri, ca, 43200) != 0 || write_conf(conf0, uri, ca, 0) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/etc/ldap.secret", root);
	if (tu_write(path, "ward-demo-password", (size_t)-1, 0600) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/etc/policy.conf", root);
	if (tu_write(path, policy_text, (size_t)-1, 0644) != 0)
		return 1;
	if (pt_write_service(pamd, "dir-ehr", module, sock, NULL) != 0 ||
	    pt_write_service(pamd, "dir-rx", module, sock, NULL) != 0 ||
	    pt_write_service(pamd, "dir-strict", module, sock0, NULL) != 0)
		return 1;
	if (tu_sh("'%s' --config '%s' init >/dev/null", wardctl, conf) != 0)
		return 1;
	/* one wardd per ward.conf (both on the one store) */
	dpid = tu_wardd_start(NULL, conf, sock, NULL);
	dpid0 = tu_wardd_start(NULL, conf0, sock0, NULL);
	return dpid > 0 && dpid0 > 0 ? 0 : 1;
}

static int
teardown(void)
{
	(void)tu_wardd_stop(dpid);
	(void)tu_wardd_stop(dpid0);
	dpid = dpid0 = -1;
	tu_slapd_stop();
	return 0;
}

/* The account phase alone: the decision. */
static int
acct_only(const char *service, const char *user)
{
	return login(service, user, NULL, 1);
}

static void
test_roles_from_groups(void)
{
	char roles[512];

	/* rosa: in icu-nurses, which is nested in nurses */
	CU_ASSERT_EQUAL(login("dir-ehr", "rosa", roles, sizeof(roles)), PAM_SUCCESS);
	CU_ASSERT_STRING_EQUAL(roles, "clinician,icu_nurse,nurse");
	/* heidi: a direct member of nurses */
	CU_ASSERT_EQUAL(login("dir-ehr", "heidi", roles, sizeof(roles)), PAM_SUCCESS);
	CU_ASSERT_STRING_EQUAL(roles, "clinician,nurse");
	/* erin: a pharmacist, not a nurse */
	CU_ASSERT_EQUAL(acct_only("dir-ehr", "erin"), PAM_PERM_DENIED);
	CU_ASSERT_EQUAL(login("dir-rx", "erin", roles, sizeof(roles)), PAM_SUCCESS);
	CU_ASSERT_STRING_EQUAL(roles, "clinician,pharmacist");
	/* oscar: physician and pharmacist through two groups: separation of duty */
	CU_ASSERT_EQUAL(acct_only("dir-rx", "oscar"), PAM_PERM_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "different people"));
	/* walter: in no group; zed: unknown to everyone - both denied */
	CU_ASSERT_EQUAL(acct_only("dir-ehr", "walter"), PAM_PERM_DENIED);
	CU_ASSERT_EQUAL(acct_only("dir-ehr", "zed"), PAM_PERM_DENIED);
	/* a filter injection finds nobody */
	CU_ASSERT_EQUAL(acct_only("dir-ehr", "*)(uid=*))(|(uid=*"), PAM_PERM_DENIED);
	/* ROSA: the server's uid matching ignores case and finds rosa's entry,
	 * but it is not ROSA's (enrolment, lockout and audit keep exact
	 * names): no roles, denied like an unknown name, and the record says why */
	CU_ASSERT_EQUAL(acct_only("dir-ehr", "ROSA"), PAM_PERM_DENIED);
	CU_ASSERT_EQUAL(audit_count("ROSA",
	    "\"detail\":\"directory entry uid differs from the name (case or form)\""), 1);
	CU_ASSERT_EQUAL(audit_count("zed", "uid differs"), 0);
	CU_ASSERT_EQUAL(audit_count("rosa", "\"offline\":false"), 3);
	CU_ASSERT_EQUAL(audit_count("rosa", "\"offline\":true"), 0);
}

static void
test_directory_down(void)
{
	char roles[512];

	CU_ASSERT_EQUAL_FATAL(tu_slapd_cmd("stop"), 0);
	/* cached roles decide, and every record says offline */
	CU_ASSERT_EQUAL(login("dir-ehr", "rosa", roles, sizeof(roles)), PAM_SUCCESS);
	CU_ASSERT_STRING_EQUAL(roles, "clinician,icu_nurse,nurse");
	CU_ASSERT_EQUAL(audit_count("rosa", "\"offline\":true"), 3);
	CU_ASSERT_EQUAL(acct_only("dir-rx", "oscar"), PAM_PERM_DENIED);
	/* tara was never looked up: no cache, fail closed */
	CU_ASSERT_EQUAL(login("dir-ehr", "tara", NULL, 0), PAM_AUTHINFO_UNAVAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(pt_transcript, "cannot be checked"));
	/* offline_max_age = 0: cached roles do not count */
	CU_ASSERT_EQUAL(login("dir-strict", "rosa", NULL, 0), PAM_AUTHINFO_UNAVAIL);
	/* back up: tara gets her roles */
	CU_ASSERT_EQUAL_FATAL(tu_slapd_cmd("restart"), 0);
	CU_ASSERT_EQUAL(login("dir-ehr", "tara", roles, sizeof(roles)), PAM_SUCCESS);
	CU_ASSERT_STRING_EQUAL(roles, "clinician,icu_nurse,nurse");
}

int
main(void)
{
	unsigned fails;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("pam with directory roles", setup, teardown);
	CU_add_test(s, "roles from direct and nested groups, SoD, unknown people",
	    test_roles_from_groups);
	CU_add_test(s, "directory down: cached roles, marked offline; else fail closed",
	    test_directory_down);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	tu_slapd_stop();
	return fails ? 1 : 0;
}
