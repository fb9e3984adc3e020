/*
 * replay_main.c - runs a libFuzzer target over its seed corpus as a CUnit
 * suite, so `make check` (gcc, no libFuzzer) replays every corpus file.
 * The corpus is $WARD_SRC/tests/fuzz/corpus/<target>/, where <target> is
 * this program's name without the "replay_" prefix.
 */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char corpus_dir[4096];

static void
replay_corpus(void)
{
	DIR *d = opendir(corpus_dir);
	struct dirent *e;
	int n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	while ((e = readdir(d)) != NULL) {
		char path[8192];
		FILE *f;
		uint8_t *buf;
		long len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", corpus_dir, e->d_name);
		f = fopen(path, "rb");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		rewind(f);
		buf = malloc(len > 0 ? (size_t)len : 1);
		CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
		CU_ASSERT_EQUAL(fread(buf, 1, (size_t)len, f), (size_t)len);
		fclose(f);
		CU_ASSERT_EQUAL(LLVMFuzzerTestOneInput(buf, (size_t)len), 0);
		free(buf);
		n++;
	}
	closedir(d);
	CU_ASSERT(n > 0);
	printf("\n  replayed %d corpus inputs from %s\n", n, corpus_dir);
}

int
main(int argc, char **argv)
{
	const char *src = getenv("WARD_SRC");
	const char *name = strrchr(argv[0], '/');
	unsigned int fails;

	(void)argc;
	name = name ? name + 1 : argv[0];
	if (strncmp(name, "replay_", 7) == 0)
		name += 7;
	snprintf(corpus_dir, sizeof(corpus_dir), "%s/tests/fuzz/corpus/%s",
	    src ? src : ".", name);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	CU_pSuite s = CU_add_suite(name, NULL, NULL);
	CU_add_test(s, "replay corpus", replay_corpus);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
