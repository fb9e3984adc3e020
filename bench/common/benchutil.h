/* benchutil.h - what the benchmark programs in bench/ share: fixture files
 * and timing.  Not part of anything that ships. */
#ifndef WARD_BENCHUTIL_H
#define WARD_BENCHUTIL_H

#include <sys/types.h>

/* Print "PROGRAM: WHAT: strerror(errno)" and exit 2. */
void bench_die(const char *what) __attribute__((noreturn));
/* PATH made anew with TEXT and MODE (chmod'ed: the umask does not count). */
void bench_write_file(const char *path, const char *text, mode_t mode);
/* The folder PATH, 0755 (made if missing). */
void bench_mkdirs(const char *path);
/* CLOCK_MONOTONIC in microseconds. */
double bench_now_us(void);
/* qsort comparator for doubles, ascending. */
int bench_cmp_d(const void *a, const void *b);

#endif
