/* testutil.c - helpers for the test suites (see testutil.h). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "secret.h"
#include "testutil.h"
#include "wire.h"

char *
tu_mkdtemp(const char *prefix)
{
	char *p;

	if (asprintf(&p, "/tmp/%s-XXXXXX", prefix) < 0)
		return NULL;
	if (mkdtemp(p) == NULL || chmod(p, 0755) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

char *
tu_fleet_key_dir(const char *prefix, char *key, size_t klen)
{
	char err[256];
	char *dir = tu_mkdtemp(prefix);

	if (dir == NULL)
		return NULL;
	snprintf(key, klen, "%s/fleet-audit.key", dir);
	if (secret_key_create(key, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", key, err);
		tu_rmtree(dir);
		free(dir);
		return NULL;
	}
	return dir;
}

void
tu_rmtree(const char *path)
{
	char *cmd;

	if (path == NULL || strncmp(path, "/tmp/", 5) != 0)
		return;
	if (asprintf(&cmd, "rm -rf '%s'", path) >= 0) {
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", path);
		free(cmd);
	}
}

int
tu_write(const char *path, const void *data, size_t len, mode_t mode)
{
	size_t off = 0;
	int fd;

	if (len == (size_t)-1)
		len = strlen(data);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, (const char *)data + off, len - off);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, mode) != 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

char *
tu_read(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = cap * 2 + 8192);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	if (buf == NULL && (buf = malloc(1)) == NULL)
		return NULL;
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

char *
tu_run(const char *cmd, int both, int *status)
{
	char *full, *out = NULL;
	size_t len = 0, cap = 0, n;
	FILE *p;
	int st;

	*status = -1;
	if (asprintf(&full, "%s%s", cmd, both ? " 2>&1" : "") < 0)
		return NULL;
	p = popen(full, "r");
	free(full);
	if (p == NULL)
		return NULL;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *nb = realloc(out, cap = cap * 2 + 8192);
			if (nb == NULL)
				break;
			out = nb;
		}
		n = fread(out + len, 1, 4096, p);
		if (n == 0)
			break;
		len += n;
	}
	st = pclose(p);
	if (out != NULL)
		out[len] = '\0';
	*status = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
	return out;
}

int
tu_contains(const void *hay, size_t len, const void *needle, size_t nlen)
{
	return nlen == 0 || memmem(hay, len, needle, nlen) != NULL;
}

const char *
tu_stage_root(void)
{
	static char def[1024];
	const char *r = getenv("WARD_STAGE_ROOT");

	if (r != NULL && *r != '\0')
		return r;
	snprintf(def, sizeof(def), "%s/tests/stage", tu_build());
	return def;
}

int
tu_stage_module(char *module, size_t mlen)
{
	char cmd[4096], *out;
	int st;

	snprintf(cmd, sizeof(cmd), "set -e; r='%s'; mkdir -p \"$r\"; "
	    "chmod 0755 \"$(dirname \"$r\")\" \"$r\"; "
	    "install -o 0 -g 0 -m 0644 '%s/pam_ward.so' \"$r/pam_ward.so\"",
	    tu_stage_root(), tu_build());
	out = tu_run(cmd, 1, &st);
	if (st != 0)
		fprintf(stderr, "cannot stage the module: %s\n", out ? out : "");
	free(out);
	snprintf(module, mlen, "%s/pam_ward.so", tu_stage_root());
	return st == 0 ? 0 : -1;
}

/* ---- wardd for a suite ---- */

#define MAX_DAEMONS 16
static pid_t daemons[MAX_DAEMONS];

void
tu_wardd_stop_all(void)
{
	for (int i = 0; i < MAX_DAEMONS; i++)
		if (daemons[i] > 0)
			(void)tu_wardd_stop(daemons[i]);
}

static void
forget(pid_t pid)
{
	for (int i = 0; i < MAX_DAEMONS; i++)
		if (daemons[i] == pid)
			daemons[i] = 0;
}

pid_t
tu_wardd_start(const char *binary, const char *conf, const char *sock, const char *log)
{
	static int registered;
	char path[1024];
	struct timespec t0, t1;
	pid_t pid;

	if (!registered && atexit(tu_wardd_stop_all) == 0)
		registered = 1;
	if (binary == NULL) {
		snprintf(path, sizeof(path), "%s/wardd", tu_build());
		binary = path;
	}
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log != NULL ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		/* tests/valgrind/run.sh runs each suite's wardd under valgrind */
		if (getenv("WARD_WARDD_PREFIX") != NULL && *getenv("WARD_WARDD_PREFIX") != '\0')
			execl("/bin/sh", "sh", "-c", "exec $WARD_WARDD_PREFIX \"$0\" --config "
			    "\"$1\" --socket \"$2\" --debug", binary, conf, sock, (char *)NULL);
		else
			execl(binary, "wardd", "--config", conf, "--socket", sock, "--debug",
			    (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < MAX_DAEMONS; i++)
		if (daemons[i] <= 0) {
			daemons[i] = pid;
			break;
		}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (wire_ping(sock, 2000) == 0)
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			forget(pid);
			return -1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >
		    (getenv("WARD_WARDD_PREFIX") != NULL ? 60000 : 10000))
			break;
		usleep(5000);
	}
	tu_wardd_kill(pid);
	return -1;
}

int
tu_wardd_stop(pid_t pid)
{
	int st = -1;

	if (pid <= 0)
		return -1;
	forget(pid);
	if (kill(pid, SIGTERM) != 0)
		return -1;
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

void
tu_wardd_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	forget(pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

const char *
tu_build(void)
{
	const char *b = getenv("WARD_BUILD");
	return b != NULL && *b != '\0' ? b : "build";
}

const char *
tu_src(void)
{
	const char *s = getenv("WARD_SRC");
	return s != NULL && *s != '\0' ? s : ".";
}

int
tu_sh(const char *fmt, ...)
{
	char *cmd, *out;
	va_list ap;
	int st, r;

	va_start(ap, fmt);
	r = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -1;
	out = tu_run(cmd, 1, &st);
	if (st != 0)
		fprintf(stderr, "command failed (%d): %s\n%s", st, cmd, out ? out : "");
	free(out);
	free(cmd);
	return st;
}

int
tu_totp(const char *b32, long offset, char out[16])
{
	char cmd[256], *o;
	int st;

	out[0] = '\0';
	snprintf(cmd, sizeof(cmd), "oathtool --totp -b %s -N @%lld", b32,
	    (long long)time(NULL) + offset);
	o = tu_run(cmd, 0, &st);
	if (o == NULL || st != 0) {
		free(o);
		return -1;
	}
	snprintf(out, 16, "%.*s", (int)strcspn(o, "\n"), o);
	free(o);
	return 0;
}

void
tu_totp_wait(int latest)
{
	while (time(NULL) % 30 > latest)
		usleep(200000);
}

int
tu_count_lines(const char *path, const char *first, ...)
{
	char *t = tu_read(path, NULL), *line, *save = NULL;
	int n = 0;

	if (t == NULL)
		return 0;
	for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		va_list ap;
		const char *nd = first;
		int all = 1;

		va_start(ap, first);
		for (; nd != NULL; nd = va_arg(ap, const char *))
			if (strstr(line, nd) == NULL)
				all = 0;
		va_end(ap);
		n += all;
	}
	free(t);
	return n;
}

/* The state letter of /proc/PID/task/TID/stat (after "(comm) "). */
static char
task_state(const char *path)
{
	char buf[512], *p;
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return '?';
	return p[2];
}

int
tu_wait_stopped(pid_t pid, int timeout_ms)
{
	char dir[64], path[128];

	snprintf(dir, sizeof(dir), "/proc/%ld/task", (long)pid);
	for (int waited = 0; waited <= timeout_ms; waited += 5) {
		DIR *d = opendir(dir);
		struct dirent *e;
		int all = d != NULL, any = 0;

		while (d != NULL && (e = readdir(d)) != NULL) {
			char st;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%.20s/stat", dir, e->d_name);
			st = task_state(path);
			any = 1;
			if (st != 'T' && st != 't')
				all = 0;
		}
		if (d != NULL)
			closedir(d);
		if (all && any)
			return 0;
		usleep(5000);
	}
	return -1;
}

long
tu_ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int
tu_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

void
tu_race_begin(struct tu_race *b)
{
	pthread_barrier_wait(&b->start);
}

void
tu_race_end(struct tu_race *b)
{
	pthread_barrier_wait(&b->end);
}

int
tu_race_run(struct tu_race *b, int n, int rounds, void (*racer)(void *ctx, int i),
    void (*setup)(void *ctx, int r), void *ctx)
{
	pthread_barrierattr_t a;
	pid_t *pid = calloc((size_t)n, sizeof(*pid));
	int bad = 0;

	if (pid == NULL)
		return -1;
	pthread_barrierattr_init(&a);
	pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&b->start, &a, (unsigned)n + 1);
	pthread_barrier_init(&b->end, &a, (unsigned)n + 1);
	pthread_barrierattr_destroy(&a);
	fflush(NULL);
	for (int i = 0; i < n; i++) {
		if ((pid[i] = fork()) == 0) {
			racer(ctx, i);
			_exit(0);
		}
		if (pid[i] < 0) {
			while (i-- > 0) {
				kill(pid[i], SIGKILL);
				waitpid(pid[i], NULL, 0);
			}
			bad = 1;
			goto out;
		}
	}
	for (int r = 0; r < rounds; r++) {
		if (setup != NULL)
			setup(ctx, r);
		tu_race_begin(b);
		tu_race_end(b);
	}
	for (int i = 0; i < n; i++) {
		int st;

		if (waitpid(pid[i], &st, 0) != pid[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	}
out:
	pthread_barrier_destroy(&b->start);
	pthread_barrier_destroy(&b->end);
	free(pid);
	return bad ? -1 : 0;
}
