/* test_conf.c - ward.conf: every key, defaults, each bad value named with
 * file:line, unsafe files refused. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"

static char dir[] = "/tmp/ward-conf-XXXXXX";
static char path[256];

static int
write_conf(const char *text, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(text, f);
	fclose(f);
	return chmod(path, mode);
}

static void
test_full_file(void)
{
	struct ward_conf c;
	char err[512];

	CU_ASSERT_EQUAL_FATAL(write_conf(
	    "policy_file = \"/p/policy.conf\";\nstate_dir = \"/p/state\";\nhelper = \"/p/helper\";\n"
	    "directory = { uri = [\"ldaps://a\", \"ldap://b\"]; starttls = true; base = \"dc=x\";\n"
	    "  bind_dn = \"cn=ward\"; bind_password_file = \"/p/secret\"; ca_file = \"/p/ca.pem\";\n"
	    "  user_filter = \"(uid=%u)\"; group_filter = \"(member=%d)\"; timeout_ms = 1500;\n"
	    "  cache_seconds = 60; offline_max_age = 0; nested_depth = 2;\n"
	    "  name_attribute = \"sAMAccountName\"; };\n"
	    "mfa = { digits = 8; period = 60; algorithm = \"sha512\"; window = 2; max_failures = 3;\n"
	    "  lockout_seconds = 60; issuer = \"Example Hospital\"; recovery_codes = 5; };\n"
	    "secrets = { key_file = \"/p/master.key\"; };\n"
	    "audit = { path = \"/p/audit.log\"; key_file = \"/p/audit.key\"; syslog = false; fsync = false; };\n",
	    0644), 0);
	CU_ASSERT_EQUAL_FATAL(conf_load(&c, path, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(c.policy_file, "/p/policy.conf");
	CU_ASSERT_STRING_EQUAL(c.snapshot_file, "/p/policy.conf.snap");
	CU_ASSERT_STRING_EQUAL(c.state_dir, "/p/state");
	CU_ASSERT_STRING_EQUAL(c.helper_path, "/p/helper");
	CU_ASSERT_TRUE(c.directory.enabled);
	CU_ASSERT_EQUAL(c.directory.nuri, 2);
	CU_ASSERT_STRING_EQUAL(c.directory.uri[1], "ldap://b");
	CU_ASSERT_TRUE(c.directory.starttls);
	CU_ASSERT_EQUAL(c.directory.timeout_ms, 1500);
	CU_ASSERT_EQUAL(c.directory.offline_max_age, 0);
	CU_ASSERT_EQUAL(c.directory.nested_depth, 2);
	CU_ASSERT_STRING_EQUAL(c.directory.group_filter, "(member=%d)");
	CU_ASSERT_STRING_EQUAL(c.directory.name_attr, "sAMAccountName");
	CU_ASSERT_EQUAL(c.mfa.digits, 8);
	CU_ASSERT_EQUAL(c.mfa.period, 60);
	CU_ASSERT_EQUAL(c.mfa.algorithm, CONF_ALGO_SHA512);
	CU_ASSERT_EQUAL(c.mfa.window, 2);
	CU_ASSERT_EQUAL(c.mfa.max_failures, 3);
	CU_ASSERT_EQUAL(c.mfa.lockout_seconds, 60);
	CU_ASSERT_STRING_EQUAL(c.mfa.issuer, "Example Hospital");
	CU_ASSERT_STRING_EQUAL(c.key_file, "/p/master.key");
	CU_ASSERT_STRING_EQUAL(c.audit.path, "/p/audit.log");
	CU_ASSERT_FALSE(c.audit.syslog);
	CU_ASSERT_FALSE(c.audit.fsync);
	conf_free(&c);
	conf_free(&c);     /* safe twice */
}

static void
test_defaults(void)
{
	struct ward_conf c;
	char err[512];

	CU_ASSERT_EQUAL_FATAL(write_conf("# nothing set\n", 0644), 0);
	CU_ASSERT_EQUAL_FATAL(conf_load(&c, path, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(c.policy_file, "/etc/ward/policy.conf");
	CU_ASSERT_STRING_EQUAL(c.state_dir, "/var/lib/ward");
	CU_ASSERT_STRING_EQUAL(c.key_file, "/etc/ward/master.key");
	CU_ASSERT_FALSE(c.directory.enabled);
	CU_ASSERT_EQUAL(c.mfa.digits, 6);
	CU_ASSERT_EQUAL(c.mfa.window, 1);
	CU_ASSERT_EQUAL(c.mfa.max_failures, 5);
	CU_ASSERT_EQUAL(c.mfa.lockout_seconds, 900);
	CU_ASSERT_TRUE(c.audit.fsync);
	CU_ASSERT_STRING_EQUAL(c.daemon.socket, "/run/ward/wardd.sock");
	conf_free(&c);
	/* daemon.socket is read */
	CU_ASSERT_EQUAL_FATAL(write_conf("daemon = { socket = \"/run/w/s.sock\"; };\n", 0644), 0);
	CU_ASSERT_EQUAL_FATAL(conf_load(&c, path, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(c.daemon.socket, "/run/w/s.sock");
	conf_free(&c);
}

static const struct {
	const char *text;
	const char *expect;
} bad[] = {
	{ "polcy_file = \"x\";\n", ":1: polcy_file: unknown key" },
	{ "mfa = {\n digitz = 6; };\n", ":2: mfa.digitz: unknown key" },
	{ "mfa = {\n digits = 5; };\n", ":2: mfa.digits: must be between 6 and 8, not 5" },
	{ "mfa = { window = 11; };\n", "mfa.window: must be between 0 and 10" },
	{ "mfa = { algorithm = \"md5\"; };\n", "mfa.algorithm: must be sha1, sha256 or sha512" },
	{ "mfa = { digits = \"six\"; };\n", "mfa.digits: must be a whole number" },
	{ "state_dir = 5;\n", "state_dir: must be a string" },
	{ "state_dir = \"\";\n", "state_dir: must not be empty" },
	{ "audit = { fsync = 1; };\n", "audit.fsync: must be true or false" },
	{ "mfa = 3;\n", "mfa: must be a group" },
	{ "mfa = { digits = 6 \n", ":2:" },    /* syntax error */
	{ "directory = { base = \"dc=x\"; };\n", "directory.uri: at least one URI" },
	{ "directory = { uri = [\"ldap://a\"]; base = \"dc=x\"; };\n", "sends the bind password in clear" },
	{ "directory = { uri = [\"ldaps://a\"]; base = \"dc=x\"; };\n", "directory.ca_file: is required" },
	{ "directory = { uri = [\"http://a\"]; base = \"dc=x\"; };\n", "URIs must start with" },
	{ "directory = { uri = [\"ldapi:///\"]; };\n", "directory.base: is required" },
	{ "directory = { uri = [\"ldapi:///\"]; base = \"dc=x\"; user_filter = \"(uid=x)\"; };\n",
	  "user_filter: must contain %u" },
	{ "directory = { uri = [\"ldapi:///\"]; base = \"dc=x\"; timeout_ms = 10; };\n",
	  "directory.timeout_ms: must be between 100" },
	{ "directory = { uri = [\"ldapi:///\"]; base = \"dc=x\"; bind_dn = \"cn=w\"; };\n",
	  "bind_password_file: is required with bind_dn" },
	{ "daemon = {\n sockett = \"/x\"; };\n", ":2: daemon.sockett: unknown key" },
	{ "daemon = { socket = \"rel.sock\"; };\n", "daemon.socket: must be an absolute path" },
	{ "daemon = { socket = \"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"; };\n",
	  "daemon.socket: must be an absolute path of at most 107" },
	{ "daemon = 1;\n", "daemon: must be a group" },
};

static void
test_bad_values(void)
{
	struct ward_conf c;
	char err[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		CU_ASSERT_EQUAL_FATAL(write_conf(bad[i].text, 0644), 0);
		r = conf_load(&c, path, err, sizeof(err));
		if (r == 0 || strstr(err, bad[i].expect) == NULL || strstr(err, path) == NULL)
			fprintf(stderr, "\ncase %zu: r=%d err=\"%s\" want \"%s\"\n", i, r, err,
			    bad[i].expect);
		CU_ASSERT(r < 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].expect));
		CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
		conf_free(&c);
	}
}

static void
test_plaintext_allowed_when_asked(void)
{
	struct ward_conf c;
	char err[512];

	CU_ASSERT_EQUAL_FATAL(write_conf("directory = { uri = [\"ldap://a\"]; base = \"dc=x\";"
	    " allow_plaintext = true; };\n", 0644), 0);
	CU_ASSERT_EQUAL(conf_load(&c, path, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(c.directory.allow_plaintext);
	conf_free(&c);
}

static void
test_unsafe_files(void)
{
	struct ward_conf c;
	char err[512], link[300];

	CU_ASSERT_EQUAL_FATAL(write_conf("# ok\n", 0666), 0);
	CU_ASSERT_EQUAL(conf_load(&c, path, err, sizeof(err)), WARD_ERR_UNSAFE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "writable by group or others"));
	CU_ASSERT_EQUAL_FATAL(write_conf("# ok\n", 0664), 0);
	CU_ASSERT_EQUAL(conf_load(&c, path, err, sizeof(err)), WARD_ERR_UNSAFE);
	CU_ASSERT_EQUAL_FATAL(write_conf("# ok\n", 0644), 0);
	CU_ASSERT_EQUAL(chown(path, 65534, 65534), 0);
	CU_ASSERT_EQUAL(conf_load(&c, path, err, sizeof(err)), WARD_ERR_UNSAFE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not root"));
	CU_ASSERT_EQUAL(chown(path, 0, 0), 0);
	snprintf(link, sizeof(link), "%s/link.conf", dir);
	CU_ASSERT_EQUAL(symlink(path, link), 0);
	CU_ASSERT_EQUAL(conf_load(&c, link, err, sizeof(err)), WARD_ERR_UNSAFE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
	unlink(link);
	CU_ASSERT_EQUAL(mkdir(link, 0755), 0);
	CU_ASSERT_EQUAL(conf_load(&c, link, err, sizeof(err)), WARD_ERR_UNSAFE);
	rmdir(link);
	CU_ASSERT(conf_load(&c, "/nonexistent/ward.conf", err, sizeof(err)) < 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/ward.conf"));
}

static int
setup(void)
{
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/ward.conf", dir);
	return 0;
}

static int
teardown(void)
{
	unlink(path);
	return rmdir(dir);
}

int
main(void)
{
	unsigned int fails;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("conf", setup, teardown);
	CU_add_test(s, "every key", test_full_file);
	CU_add_test(s, "defaults", test_defaults);
	CU_add_test(s, "bad values with file:line", test_bad_values);
	CU_add_test(s, "plaintext only when allowed", test_plaintext_allowed_when_asked);
	CU_add_test(s, "unsafe files refused", test_unsafe_files);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
