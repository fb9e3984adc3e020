/*
 * wardd_wait.c - waits until the wardd a benchmark started answers, so
 * that no timed login meets a daemon still loading (bench/common/wardd.sh
 * runs it).  Not a benchmark itself.
 *
 *   wardd_wait SOCK PID [SECONDS]
 *
 * Exits 0 as soon as a PING sent to SOCK is answered with PONG; 1 when
 * process PID is gone first (wardd refused its configuration and exited)
 * or SECONDS (default 10) have passed; 2 on bad arguments.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"
#include "benchutil.h"

/* Whether process PID is gone: no such process, or a zombie its parent
 * (the benchmark's shell) has not reaped yet. */
static int
gone(long pid)
{
	char path[64], line[512], *p;
	FILE *f;
	int z = 0;

	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return errno == ENOENT;
	/* "PID (COMM) STATE ...": COMM may hold anything, so from the last ')' */
	if (fgets(line, sizeof(line), f) != NULL && (p = strrchr(line, ')')) != NULL)
		z = p[1] == ' ' && p[2] == 'Z';
	fclose(f);
	return z;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa;
	char *end;
	long pid;
	double limit = 10, t0;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: wardd_wait SOCK PID [SECONDS]\n");
		return 2;
	}
	pid = strtol(argv[2], &end, 10);
	if (*end != '\0' || pid <= 0 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "wardd_wait: bad SOCK or PID\n");
		return 2;
	}
	if (argc == 4 && !((limit = strtod(argv[3], &end)) > 0 && *end == '\0')) {
		fprintf(stderr, "wardd_wait: SECONDS must be a positive number\n");
		return 2;
	}
	t0 = bench_now_us();
	for (;;) {
		if (wire_ping(argv[1], 2000) == 0)
			return 0;
		if (gone(pid)) {
			fprintf(stderr, "wardd_wait: wardd (pid %ld) exited before it answered\n", pid);
			return 1;
		}
		if ((bench_now_us() - t0) / 1e6 > limit) {
			fprintf(stderr, "wardd_wait: no answer at %s after %.0f s\n", argv[1], limit);
			return 1;
		}
		usleep(5000);
	}
}
