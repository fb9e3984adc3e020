/*
 * test_man.c - every man page renders with `man --warnings -l` and no
 * warning, and names the sections a reader expects.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const pages[] = {
	"pam_ward.8", "wardctl.8", "wardd.8", "ward.conf.5", "ward-policy.5",
};

static const char *src;

/* Render PAGE; return the warnings (stderr) and the text (stdout). */
static int
render(const char *page, char *text, size_t textlen, char *warn, size_t warnlen)
{
	char cmd[4096], wfile[] = "/tmp/ward-man-XXXXXX";
	FILE *p, *w;
	size_t n;
	int fd = mkstemp(wfile);

	if (fd < 0)
		return -1;
	snprintf(cmd, sizeof(cmd),
	    "MANWIDTH=80 man --warnings -l '%s/man/%s' 2>%s", src, page, wfile);
	p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	n = fread(text, 1, textlen - 1, p);
	text[n] = '\0';
	if (pclose(p) != 0)
		return -1;
	w = fdopen(fd, "r");
	n = w ? fread(warn, 1, warnlen - 1, w) : 0;
	warn[n] = '\0';
	if (w)
		fclose(w);
	unlink(wfile);
	return 0;
}

static void
test_pages_render_without_warnings(void)
{
	static char text[1 << 18], warn[8192];

	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(render(pages[i], text, sizeof(text), warn,
		    sizeof(warn)), 0);
		if (warn[0] != '\0')
			fprintf(stderr, "%s: %s\n", pages[i], warn);
		CU_ASSERT_STRING_EQUAL(warn, "");
		CU_ASSERT_PTR_NOT_NULL(strstr(text, "NAME"));
		CU_ASSERT_PTR_NOT_NULL(strstr(text, "SEE ALSO"));
		CU_ASSERT(strlen(text) > 1000);
	}
}

/* The check itself must be able to fail: a broken page gives a warning. */
static void
test_broken_page_is_caught(void)
{
	static char text[1 << 16], warn[8192];
	char dir[] = "/tmp/ward-man-dir-XXXXXX", path[512];
	FILE *f;
	const char *saved = src;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/man", dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/man/bad.8", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(".TH BAD 8\n.SH NAME\nbad \\- page\n.NOSUCHMACRO x\n", f);
	fclose(f);
	src = dir;
	CU_ASSERT_EQUAL(render("bad.8", text, sizeof(text), warn, sizeof(warn)), 0);
	src = saved;
	CU_ASSERT_PTR_NOT_NULL(strstr(warn, "warning"));
	unlink(path);
	snprintf(path, sizeof(path), "%s/man", dir);
	rmdir(path);
	rmdir(dir);
}

int
main(void)
{
	unsigned int fails;
	CU_pSuite s;

	src = getenv("WARD_SRC");
	if (src == NULL)
		src = ".";
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("man pages", NULL, NULL);
	CU_add_test(s, "pages render without warnings", test_pages_render_without_warnings);
	CU_add_test(s, "a broken page is caught", test_broken_page_is_caught);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
