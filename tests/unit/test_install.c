/*
 * test_install.c - `make install DESTDIR=...` puts each file where Debian's
 * Linux-PAM and man look for it, with the modes the security model needs
 * (the helper setuid root, private state and log folders), and never
 * overwrites an existing ward.conf.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dest[] = "/tmp/ward-install-XXXXXX";
static char pamdir[512];

static int
run_install(void)
{
	char cmd[8192];
	const char *src = getenv("WARD_SRC"), *b = getenv("WARD_BUILD");
	const char *san = getenv("WARD_SAN");

	snprintf(cmd, sizeof(cmd),
	    "make --no-print-directory -s -C '%s' install DESTDIR='%s' B='%s' %s >/dev/null",
	    src ? src : ".", dest, b ? b : "build",
	    san && *san ? "SAN=1" : "");
	return system(cmd);
}

static int
setup(void)
{
	FILE *p;

	if (mkdtemp(dest) == NULL)
		return -1;
	p = popen("pkg-config --variable=libdir pam", "r");
	if (p == NULL || fgets(pamdir, sizeof(pamdir), p) == NULL)
		return -1;
	pclose(p);
	pamdir[strcspn(pamdir, "\n")] = '\0';
	strncat(pamdir, "/security", sizeof(pamdir) - strlen(pamdir) - 1);
	return run_install() == 0 ? 0 : -1;
}

static int
teardown(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dest);
	return system(cmd) == 0 ? 0 : -1;
}

static void
expect(const char *rel, mode_t type, mode_t mode)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", dest, rel);
	if (stat(path, &st) != 0) {
		fprintf(stderr, "missing: %s\n", path);
		CU_FAIL("file missing");
		return;
	}
	if ((st.st_mode & S_IFMT) != type || (st.st_mode & 07777) != mode) {
		fprintf(stderr, "%s: mode %o, expected %o\n", rel,
		    (unsigned)(st.st_mode & 07777), (unsigned)mode);
		CU_FAIL("wrong type or mode");
	}
	CU_ASSERT_EQUAL(st.st_uid, 0);
}

static void
test_paths_and_modes(void)
{
	char rel[600];

	snprintf(rel, sizeof(rel), "%s/pam_ward.so", pamdir);
	expect(rel, S_IFREG, 0644);
	expect("/usr/sbin/ward_verify", S_IFREG, 04755);
	expect("/usr/sbin/wardctl", S_IFREG, 0755);
	expect("/usr/sbin/wardd", S_IFREG, 0755);
	expect("/usr/include/ward/ward_policy.h", S_IFREG, 0644);
	expect("/usr/lib/libwardpolicy.a", S_IFREG, 0644);
	expect("/usr/share/man/man8/pam_ward.8", S_IFREG, 0644);
	expect("/usr/share/man/man8/wardctl.8", S_IFREG, 0644);
	expect("/usr/share/man/man8/wardd.8", S_IFREG, 0644);
	expect("/usr/share/man/man5/ward.conf.5", S_IFREG, 0644);
	expect("/usr/share/man/man5/ward-policy.5", S_IFREG, 0644);
	expect("/etc/ward", S_IFDIR, 0755);
	expect("/etc/ward/ward.conf", S_IFREG, 0644);
	expect("/var/lib/ward", S_IFDIR, 0700);
	expect("/var/log/ward", S_IFDIR, 0750);
	expect("/usr/share/doc/ward/examples/policy.conf", S_IFREG, 0644);
	expect("/usr/share/doc/ward/examples/pam.d/gdm-password", S_IFREG, 0644);
}

/* The module a PAM stack would load exports only pam_sm_* entry points. */
static void
test_installed_module_exports(void)
{
	char cmd[1024], line[512];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd),
	    "nm -D --defined-only '%s%s/pam_ward.so' | awk '{print $3}'", dest, pamdir);
	p = popen(cmd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	while (fgets(line, sizeof(line), p) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0')
			continue;
		n++;
		if (strncmp(line, "pam_sm_", 7) != 0) {
			fprintf(stderr, "unexpected export: %s\n", line);
			CU_FAIL("symbol other than pam_sm_* exported");
		}
	}
	pclose(p);
	CU_ASSERT(n >= 5);
}

/* A second install keeps the sysadmin's ward.conf. */
static void
test_config_not_overwritten(void)
{
	char path[1024], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/etc/ward/ward.conf", dest);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("# edited by the sysadmin\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(run_install(), 0);
	f = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NOT_NULL(fgets(buf, sizeof(buf), f));
	fclose(f);
	CU_ASSERT_STRING_EQUAL(buf, "# edited by the sysadmin\n");
}

int
main(void)
{
	unsigned int fails;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("make install", setup, teardown);
	CU_add_test(s, "paths and modes", test_paths_and_modes);
	CU_add_test(s, "installed module exports only pam_sm_*", test_installed_module_exports);
	CU_add_test(s, "existing ward.conf kept", test_config_not_overwritten);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	if (CU_get_number_of_suites_failed() > 0)
		fails++;
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
