/* test_conf.c - ward.conf: every key, defaults, each bad value named with
 * file:line, unsafe files refused. */
#include <CUnit/Basic.h>
#include <ctype.h>
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
	    "policy_file = \"/p/policy.conf\";\nstate_dir = \"/p/state\";\n"
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
	{ "daemon = { socket = true; };\n", "daemon.socket: must be a string" },
	/* a key of an earlier release: still refused, and said what became of it */
	{ "policy_file = \"/p/policy.conf\";\nhelper = \"/usr/sbin/ward_verify\";\n",
	  ":2: helper: removed with the setuid helper: wardd (wardd(8)) verifies codes" },
	{ "mfa = {\n helper = \"/x\"; };\n", ":2: mfa.helper: unknown key" },
	/* an unknown group is named as one, with its line */
	{ "\nmfaa = { digits = 6; };\n", ":2: mfaa: unknown group" },
	{ "mfa = { x = { }; };\n", ":1: mfa.x: unknown group" },
	/* a file or folder is an absolute path (a relative one would follow
	 * the working directory of whichever program loads it) */
	{ "state_dir = \"var/lib/ward\";\n", "state_dir: must be an absolute path" },
	{ "secrets = { key_file = \"master.key\"; };\n", "secrets.key_file: must be an absolute path" },
	{ "directory = { uri = [\"ldaps://a\"]; base = \"dc=x\"; ca_file = \"ca.pem\"; };\n",
	  "directory.ca_file: must be an absolute path" },
	{ "directory = { uri = [\"ldapi:///\"]; base = \"dc=x\"; group_filter = \"(member=x)\"; };\n",
	  "directory.group_filter: must contain %d" },
	{ "directory = { uri = [\"ldapi:///\"]; base = \"dc=x\"; sasl_mech = \"GSSAPI\"; };\n",
	  "directory.sasl_mech: only \"EXTERNAL\" is supported" },
	{ "directory = { uri = [\"ldapi:///\", 5]; base = \"dc=x\"; };\n", ":1:" },
	{ "directory = { uri = (\"ldapi:///\", 5); base = \"dc=x\"; };\n",
	  "directory.uri: must be a list of strings" },
	{ "directory = { uri = [\"ldapi://1\", \"ldapi://2\", \"ldapi://3\", \"ldapi://4\",\n"
	  " \"ldapi://5\", \"ldapi://6\", \"ldapi://7\", \"ldapi://8\", \"ldapi://9\"]; base = \"dc=x\"; };\n",
	  ":1: directory.uri: at most 8" },
	{ "directory = { uri = []; base = \"dc=x\"; };\n", "directory.uri: at least one URI" },
	{ "mfa = { lockout_seconds = 9999999999L; };\n",
	  "mfa.lockout_seconds: must be between 1 and 604800, not 9999999999" },
	/* fleet: one write target, named with the reason; the directory first */
#define FLEET_DIR "directory = { uri = [\"ldaps://c1\"]; base = \"dc=x\"; ca_file = \"/ca\"; };\n"
	{ FLEET_DIR "fleet = {\n write_uri = [\"ldaps://a\", \"ldaps://b\"]; };\n",
	  ":3: fleet.write_uri: must name ONE server: every MFA change" },
	{ FLEET_DIR "fleet = {\n write_uri = (\"ldaps://a\"); };\n",
	  ":3: fleet.write_uri: must name ONE server" },
	{ FLEET_DIR "fleet = {\n write_uri = \"ldaps://a ldaps://b\"; };\n",
	  ":3: fleet.write_uri: must name ONE server" },
	{ FLEET_DIR "fleet = { write_uri = \"ldaps://a,ldaps://b\"; };\n",
	  "would each accept the same code" },
	{ FLEET_DIR "fleet = { key_file = \"/k\"; };\n", "fleet.write_uri: is required" },
	{ FLEET_DIR "fleet = { write_uri = \"https://a\"; };\n",
	  "fleet.write_uri: must start with ldaps://" },
	{ FLEET_DIR "fleet = { write_uri = \"ldap://a\"; };\n",
	  "fleet.write_uri: ldap:// without directory.starttls" },
	{ "directory = { uri = [\"ldapi:///\"]; base = \"dc=x\"; };\n"
	  "fleet = { write_uri = \"ldaps://a\"; };\n", "fleet.write_uri: needs directory.ca_file" },
	{ "fleet = { write_uri = \"ldaps://a\"; };\n", "fleet: needs the directory group" },
	{ FLEET_DIR "fleet = { write_uri = \"ldaps://a\"; offline_mfa_max_age = 50000; };\n",
	  "fleet.offline_mfa_max_age: must not exceed directory.offline_max_age" },
	{ FLEET_DIR "fleet = { write_uri = \"ldaps://a\"; key_file = \"fleet.key\"; };\n",
	  "fleet.key_file: must be an absolute path" },
	{ FLEET_DIR "fleet = { write_uri = \"ldaps://a\"; offline_max_failures = 0; };\n",
	  "fleet.offline_max_failures: must be between 1 and 100" },
	{ FLEET_DIR "fleet = { write_uri = \"ldaps://a\"; old_key_file = \"old.key\"; };\n",
	  "fleet.old_key_file: must be an absolute path" },
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

/* The fleet group: its keys, its defaults, and no fleet without it. */
static void
test_fleet(void)
{
	struct ward_conf c;
	char err[512];

	CU_ASSERT_EQUAL_FATAL(write_conf(FLEET_DIR "fleet = { write_uri = \"ldaps://w\";\n"
	    "  key_file = \"/p/fleet.key\"; offline_mfa_max_age = 600;\n"
	    "  offline_max_failures = 2; old_key_file = \"/p/fleet.key.old\"; };\n", 0644), 0);
	CU_ASSERT_EQUAL_FATAL(conf_load(&c, path, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(c.fleet.enabled);
	CU_ASSERT_STRING_EQUAL(c.fleet.write_uri, "ldaps://w");
	CU_ASSERT_STRING_EQUAL(c.fleet.key_file, "/p/fleet.key");
	CU_ASSERT_STRING_EQUAL(c.fleet.old_key_file, "/p/fleet.key.old");
	CU_ASSERT_EQUAL(c.fleet.offline_mfa_max_age, 600);
	CU_ASSERT_EQUAL(c.fleet.offline_max_failures, 2);
	conf_free(&c);
	CU_ASSERT_EQUAL_FATAL(write_conf(FLEET_DIR "fleet = { write_uri = \"ldaps://w\"; };\n",
	    0644), 0);
	CU_ASSERT_EQUAL_FATAL(conf_load(&c, path, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(c.fleet.enabled);
	CU_ASSERT_STRING_EQUAL(c.fleet.key_file, "/etc/ward/fleet.key");
	CU_ASSERT_PTR_NULL(c.fleet.old_key_file);
	CU_ASSERT_EQUAL(c.fleet.offline_mfa_max_age, 43200);
	CU_ASSERT_EQUAL(c.fleet.offline_max_failures, 3);
	conf_free(&c);
	CU_ASSERT_EQUAL_FATAL(write_conf(FLEET_DIR, 0644), 0);
	CU_ASSERT_EQUAL_FATAL(conf_load(&c, path, err, sizeof(err)), 0);
	CU_ASSERT_FALSE(c.fleet.enabled);
	CU_ASSERT_PTR_NULL(c.fleet.write_uri);
	conf_free(&c);
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

/*
 * The keys ward.conf(5) documents: the bold words of each ".TP" tag.  A
 * bare name in section DIRECTORY is "directory.NAME" (the section named
 * after its group, in capitals); in "TOP-LEVEL SETTINGS" it stays bare.
 * Returns how many were found, or -1.
 */
static int
man_keys(const char *file, char keys[][64], int max)
{
	char line[512], group[64] = "";
	int n = 0, tag = 0;
	FILE *f = fopen(file, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL && n < max) {
		char *p, *tok[16];
		int ntok = 0;

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, ".SH ", 4) == 0) {
			size_t i;

			for (i = 0; line[4 + i] != '\0' && i + 1 < sizeof(group); i++)
				group[i] = (char)tolower((unsigned char)line[4 + i]);
			group[i] = '\0';
			if (strcmp(group, "top-level settings") == 0)
				group[0] = '\0';
			continue;
		}
		if (strcmp(line, ".TP") == 0) {
			tag = 1;
			continue;
		}
		if (!tag)
			continue;
		tag = 0;
		if (strncmp(line, ".B ", 3) != 0 && strncmp(line, ".BR ", 4) != 0)
			continue;
		/* words, a "quoted string" being one; .BR alternates bold, roman */
		for (p = strchr(line, ' '); p != NULL && *p != '\0' && ntok < 16; ) {
			while (*p == ' ')
				p++;
			if (*p == '"') {
				tok[ntok++] = ++p;
				p = strchr(p, '"');
			} else if (*p != '\0') {
				tok[ntok++] = p;
				p = strchr(p, ' ');
			}
			if (p != NULL && *p != '\0')
				*p++ = '\0';
		}
		for (int i = 0; i < ntok && n < max; i += 2) {
			int bare = strchr(tok[i], '.') == NULL && group[0] != '\0';
			int w = snprintf(keys[n++], 64, "%s%s%s", bare ? group : "",
			    bare ? "." : "", tok[i]);

			if (w < 0 || w >= 64)
				n = -1;
		}
		if (n < 0)
			break;
	}
	fclose(f);
	return n;
}

/* Every key of the table is in ward.conf(5), and every key there is in the
 * table: a key left out of either fails here, by name. */
static void
test_keys_match_man_page(void)
{
	static char man[128][64];
	char file[4096];
	const char *src = getenv("WARD_SRC"), *k;
	int nman, nconf = 0, missing = 0;

	snprintf(file, sizeof(file), "%s/man/ward.conf.5", src ? src : ".");
	nman = man_keys(file, man, 128);
	CU_ASSERT_FATAL(nman > 30);
	for (size_t i = 0; (k = conf_key_name(i)) != NULL; i++, nconf++) {
		int found = 0;

		for (int j = 0; j < nman && !found; j++)
			found = strcmp(man[j], k) == 0;
		if (!found) {
			fprintf(stderr, "\n%s: a ward.conf key ward.conf(5) does not document\n", k);
			missing++;
		}
	}
	for (int j = 0; j < nman; j++) {
		for (size_t i = 0; (k = conf_key_name(i)) != NULL; i++)
			if (strcmp(man[j], k) == 0)
				break;
		if (k == NULL) {
			fprintf(stderr, "\n%s: in ward.conf(5) but not a key lib/conf.c reads\n",
			    man[j]);
			missing++;
		}
	}
	CU_ASSERT_EQUAL(missing, 0);
	CU_ASSERT_EQUAL(nconf, nman);       /* and no key documented twice */
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
	CU_add_test(s, "fleet: keys, defaults, one write target", test_fleet);
	CU_add_test(s, "unsafe files refused", test_unsafe_files);
	CU_add_test(s, "keys match ward.conf(5)", test_keys_match_man_page);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
