/* benchutil.c - see benchutil.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

void
bench_die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, strerror(errno));
	exit(2);
}

void
bench_write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	unlink(path);
	if ((f = fopen(path, "w")) == NULL)
		bench_die(path);
	if (fputs(text, f) == EOF || fclose(f) != 0)
		bench_die(path);
	if (chmod(path, mode) != 0)
		bench_die(path);
}

void
bench_mkdirs(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		bench_die(path);
	if (chmod(path, 0755) != 0)
		bench_die(path);
}

double
bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int
bench_cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}
