/*
 * test_install.c - `make install DESTDIR=...` puts each file where Debian's
 * Linux-PAM, systemd and man look for it, with the modes the security model
 * needs (nothing setuid or setgid: wardd does the privileged work; private
 * state and log folders), and never overwrites an existing ward.conf.
 */
#include <CUnit/Basic.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ward.h"

static char dest[] = "/tmp/ward-install-XXXXXX";
static char pamdir[512], unitdir[512];

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

/* The first line pkg-config prints for CMD into BUF, or "" . */
static void
pkg_var(const char *cmd, char *buf, size_t len)
{
	FILE *p = popen(cmd, "r");

	buf[0] = '\0';
	if (p == NULL)
		return;
	if (fgets(buf, (int)len, p) == NULL)
		buf[0] = '\0';
	pclose(p);
	buf[strcspn(buf, "\n")] = '\0';
}

static int
setup(void)
{
	if (mkdtemp(dest) == NULL)
		return -1;
	pkg_var("pkg-config --variable=libdir pam", pamdir, sizeof(pamdir));
	if (pamdir[0] == '\0')
		return -1;
	strncat(pamdir, "/security", sizeof(pamdir) - strlen(pamdir) - 1);
	/* the Makefile's UNITDIR: the same question, the same fallback */
	pkg_var("pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null", unitdir,
	    sizeof(unitdir));
	if (unitdir[0] == '\0')
		snprintf(unitdir, sizeof(unitdir), "/lib/systemd/system");
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
	expect("/usr/sbin/wardctl", S_IFREG, 0755);
	expect("/usr/sbin/wardd", S_IFREG, 0755);
	snprintf(rel, sizeof(rel), "%s/wardd.service", unitdir);
	expect(rel, S_IFREG, 0644);
	snprintf(rel, sizeof(rel), "%s/wardd.socket", unitdir);
	expect(rel, S_IFREG, 0644);
	expect("/usr/include/ward/ward_policy.h", S_IFREG, 0644);
	expect("/usr/lib/libwardpolicy.a", S_IFREG, 0644);
	expect("/usr/lib/pkgconfig/ward-policy.pc", S_IFREG, 0644);
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

/* What nftw found under DEST that is setuid or setgid, and how many
 * entries it walked. */
static int n_special, n_walked;

static int
walk_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	n_walked++;
	if ((st->st_mode & (S_ISUID | S_ISGID)) != 0) {
		fprintf(stderr, "setuid or setgid: %s (mode %o)\n", path,
		    (unsigned)(st->st_mode & 07777));
		n_special++;
	}
	return 0;
}

/*
 * Nothing installed is setuid or setgid: the setuid helper ward_verify is
 * gone (wardd answers every caller, screen lockers included), and nothing
 * took its place.
 */
static void
test_nothing_setuid(void)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/usr/sbin/ward_verify", dest);
	CU_ASSERT_NOT_EQUAL(lstat(path, &st), 0);
	n_special = n_walked = 0;
	CU_ASSERT_EQUAL_FATAL(nftw(dest, walk_one, 16, FTW_PHYS), 0);
	CU_ASSERT_EQUAL(n_special, 0);
	/* the walk saw the tree (the binaries, the man pages, the folders) */
	CU_ASSERT(n_walked > 20);
}

/* The check above can fail: a setuid file planted in the tree is found. */
static void
test_setuid_check_can_fail(void)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/usr/sbin/planted", dest);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(chmod(path, 04755), 0);
	n_special = n_walked = 0;
	CU_ASSERT_EQUAL(nftw(dest, walk_one, 16, FTW_PHYS), 0);
	CU_ASSERT_EQUAL(n_special, 1);
	CU_ASSERT_EQUAL(unlink(path), 0);
}

/* The installed ward-policy.pc names the installed header and library and
 * Ward's version: what an app's build reads (contrib/sample-app). */
static void
test_pkgconfig(void)
{
	char cmd[2048], got[1024], want[1024];

	snprintf(cmd, sizeof(cmd), "PKG_CONFIG_PATH='%s/usr/lib/pkgconfig' "
	    "pkg-config --define-prefix --modversion ward-policy", dest);
	pkg_var(cmd, got, sizeof(got));
	CU_ASSERT_STRING_EQUAL(got, WARD_VERSION);
	snprintf(cmd, sizeof(cmd), "PKG_CONFIG_PATH='%s/usr/lib/pkgconfig' "
	    "pkg-config --define-prefix --cflags-only-I ward-policy", dest);
	pkg_var(cmd, got, sizeof(got));
	snprintf(want, sizeof(want), "-I%s/usr/include/ward", dest);
	CU_ASSERT_PTR_NOT_NULL(strstr(got, want));
	snprintf(cmd, sizeof(cmd), "PKG_CONFIG_PATH='%s/usr/lib/pkgconfig' "
	    "pkg-config --define-prefix --libs ward-policy", dest);
	pkg_var(cmd, got, sizeof(got));
	snprintf(want, sizeof(want), "-L%s/usr/lib -lwardpolicy", dest);
	CU_ASSERT_PTR_NOT_NULL(strstr(got, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(got, "-lconfig"));
	CU_ASSERT_PTR_NOT_NULL(strstr(got, "-lcrypto"));
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
	CU_add_test(s, "nothing installed is setuid or setgid (no ward_verify)",
	    test_nothing_setuid);
	CU_add_test(s, "a planted setuid file is found", test_setuid_check_can_fail);
	CU_add_test(s, "installed module exports only pam_sm_*", test_installed_module_exports);
	CU_add_test(s, "existing ward.conf kept", test_config_not_overwritten);
	CU_add_test(s, "ward-policy.pc: version, header, library", test_pkgconfig);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	if (CU_get_number_of_suites_failed() > 0)
		fails++;
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
