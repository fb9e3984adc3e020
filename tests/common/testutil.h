/* testutil.h - small helpers shared by the test suites. */
#ifndef WARD_TESTUTIL_H
#define WARD_TESTUTIL_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* mkdtemp under /tmp with PREFIX; returns a static-lifetime string the
 * caller frees, or NULL.  Mode 0755 so unprivileged test processes can
 * read configs inside. */
char *tu_mkdtemp(const char *prefix);
/* Remove a tree (rm -rf). */
void tu_rmtree(const char *path);
/* A new folder as tu_mkdtemp(PREFIX) holding a fresh 256-bit fleet audit
 * key "fleet-audit.key", whose path is written to KEY; NULL on failure. */
char *tu_fleet_key_dir(const char *prefix, char *key, size_t klen);
/* Write DATA (LEN bytes; LEN (size_t)-1 means strlen) to PATH with MODE,
 * replacing it.  0 on success. */
int tu_write(const char *path, const void *data, size_t len, mode_t mode);
/* Read a whole file into a NUL-terminated malloc'd buffer (NULL on error). */
char *tu_read(const char *path, size_t *len);
/* Run a shell command, capture stdout (+stderr when BOTH) into a malloc'd
 * string; *STATUS gets the exit status (or -1). */
char *tu_run(const char *cmd, int both, int *status);
/* Does HAY (LEN bytes) contain NEEDLE (NLEN bytes)? */
int tu_contains(const void *hay, size_t len, const void *needle, size_t nlen);
/* Path of the build folder ($WARD_BUILD, default "build") and sources. */
const char *tu_build(void);
/*
 * The folder where the tests stage what user nobody runs ($WARD_STAGE_ROOT,
 * set by the Makefile: under /var/tmp, so that nobody can reach it whatever
 * folder the sources are in).  tu_stage_module copies the module there
 * (root, 0644) and writes its path.
 */
const char *tu_stage_root(void);
int tu_stage_module(char *module, size_t mlen);
/*
 * wardd for a suite: the build's (BINARY NULL) or BINARY, run with
 * --config CONF --socket SOCK --debug, standard error appended to LOG
 * (NULL: /dev/null).  Returns its pid once SOCK answers PING (within
 * 10 s), or -1.  $WARD_WARDD_PREFIX, when set, is a command put before it
 * (tests/valgrind/run.sh: valgrind and its options; a test build
 * setting, read by the tests only).  It dies with the test process (PR_SET_PDEATHSIG), and
 * tu_wardd_stop_all (called at exit) stops every one still running, by
 * pid.
 */
pid_t tu_wardd_start(const char *binary, const char *conf, const char *sock,
    const char *log);
/* SIGTERM PID and wait for it (5 s, then SIGKILL).  Its wait status, or -1. */
int tu_wardd_stop(pid_t pid);
/* SIGKILL PID and reap it. */
void tu_wardd_kill(pid_t pid);
void tu_wardd_stop_all(void);
const char *tu_src(void);

/* A TCP port on 127.0.0.1 that was free a moment ago (bound, read, let go),
 * or -1. */
int tu_free_port(void);

/* Milliseconds since T0 (CLOCK_MONOTONIC). */
long tu_ms_since(const struct timespec *t0);

/* Run the shell command FMT (printf-style) with stdout and stderr taken;
 * when it fails, print it with its output to stderr.  Its exit status (or
 * -1). */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The TOTP code of base32 secret B32 at now + OFFSET seconds, from oathtool
 * (a generator independent of lib/otp.c), into OUT.  0, or -1 when
 * oathtool fails. */
int tu_totp(const char *b32, long offset, char out[16]);
/* Keep a test's codes inside one 30 s time step: wait while the second
 * within the current step is past LATEST. */
void tu_totp_wait(int latest);
/* Wait until every thread of PID is stopped (after a SIGSTOP: the signal
 * is only queued when kill returns, and a busy machine may run a thread of
 * it for a while yet).  0, or -1 after TIMEOUT_MS. */
int tu_wait_stopped(pid_t pid, int timeout_ms);
/* The number of lines of the file PATH that hold every one of the strings
 * FIRST, ... (NULL-terminated); 0 when it cannot be read. */
int tu_count_lines(const char *path, const char *first, ...)
    __attribute__((sentinel));

/*
 * Processes released together, round after round (tests/fleet's races).
 * B lives in memory shared with them (mmap MAP_SHARED, with the rest of
 * CTX).  tu_race_run forks N processes, each running RACER(CTX, I) and
 * exiting 0, then runs ROUNDS rounds: SETUP(CTX, R) when not NULL, then
 * releases the racers and waits until each has done its try.  A racer
 * calls tu_race_begin before each of its ROUNDS tries and tu_race_end
 * after it.  0, or -1 when a fork failed (the racers started are killed)
 * or a racer did not exit 0.
 */
struct tu_race {
	pthread_barrier_t start, end;
};
int tu_race_run(struct tu_race *b, int n, int rounds, void (*racer)(void *ctx, int i),
    void (*setup)(void *ctx, int r), void *ctx);
void tu_race_begin(struct tu_race *b);
void tu_race_end(struct tu_race *b);

#endif
