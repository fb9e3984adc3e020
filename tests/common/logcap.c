/* logcap.c - see logcap.h.  A thread drains the socket continuously: a
 * Unix datagram socket queues only a few messages (net.unix.max_dgram_qlen)
 * and senders block when it is full. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "logcap.h"

static int fd = -1;
static char *text, *snap;
static size_t tlen, tcap;
static pthread_t thr;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *
reader(void *arg)
{
	char buf[4096];

	(void)arg;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		pthread_mutex_lock(&mu);
		if (tlen + (size_t)n + 2 > tcap) {
			char *nt = realloc(text, tcap = (tcap + (size_t)n + 2) * 2);
			if (nt != NULL)
				text = nt;
		}
		if (text != NULL && tlen + (size_t)n + 2 <= tcap) {
			memcpy(text + tlen, buf, (size_t)n);
			tlen += (size_t)n;
			text[tlen++] = '\n';
			text[tlen] = '\0';
		}
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

/*
 * When a real syslog owns /dev/log (journald or rsyslog on an installed
 * Debian), this process moves to a mount namespace of its own and mounts
 * a socket of ours over /dev/log there: the module, and every process this
 * one starts afterwards (the setuid helper included), log to us, while the
 * rest of the machine still logs to its syslog.  Needs root.  Only the
 * calling thread moves: call it before this process starts any thread
 * that might log.
 */
static char privdir[64], privsock[80];
static int mounted;   /* our socket is mounted over /dev/log (namespace) */
static int created;   /* /dev/log is a socket this process made */

static int
bind_socket(const char *path)
{
	struct sockaddr_un sa;

	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		fd = -1;
		return -1;
	}
	chmod(path, 0666);
	return 0;
}

static int
take_over_dev_log(void)
{
	snprintf(privdir, sizeof(privdir), "/tmp/ward-logcap.XXXXXX");
	if (mkdtemp(privdir) == NULL) {
		privdir[0] = '\0';
		return -1;
	}
	chmod(privdir, 0755);
	snprintf(privsock, sizeof(privsock), "%s/log", privdir);
	/* "none": the type is ignored for these mounts, but a NULL one is an
	 * error to valgrind */
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
	    bind_socket(privsock) != 0)
		return -1;
	if (mount(privsock, "/dev/log", "none", MS_BIND, NULL) != 0) {
		close(fd);
		fd = -1;
		return -1;
	}
	mounted = 1;
	return 0;
}

/* Undo what this process did to /dev/log, and nothing else: a
 * namespace does not isolate directory entries, so an unlink here would
 * remove the machine's own syslog socket. */
static void
drop_dev_log(void)
{
	if (mounted) {
		(void)umount2("/dev/log", MNT_DETACH);
		mounted = 0;
	}
	if (created) {
		unlink("/dev/log");
		created = 0;
	}
	if (privdir[0] != '\0') {
		unlink(privsock);
		rmdir(privdir);
		privdir[0] = '\0';
	}
}

/* A socket at /dev/log that nobody listens on: left behind by a test
 * that was killed, or by a syslog that is gone.  Nothing can log to it. */
static int
stale_socket(const struct stat *sb)
{
	struct sockaddr_un sa;
	int s, r;

	if (!S_ISSOCK(sb->st_mode))
		return 0;
	if ((s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/dev/log");
	r = connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno == ECONNREFUSED;
	close(s);
	return r;
}

/* A socket this process made at /dev/log goes when the test is
 * interrupted (timeout, ^C), not only at its end. */
static void
on_signal(int sig)
{
	if (created)
		unlink("/dev/log");
	signal(sig, SIG_DFL);
	raise(sig);
}

int
logcap_start(void)
{
	if (fd >= 0)
		return 0;
	/* lstat: a dangling symlink is "taken" too (binding would fail) */
	{
		struct stat sb;

		if (lstat("/dev/log", &sb) == 0 && stale_socket(&sb) &&
		    unlink("/dev/log") == 0)
			fprintf(stderr, "note: removed a stale /dev/log (nothing listened on it)\n");
		if (lstat("/dev/log", &sb) == 0) {
			if (take_over_dev_log() != 0) {
				drop_dev_log();
				return -1;
			}
		} else if (bind_socket("/dev/log") == 0) {
			created = 1;
			signal(SIGTERM, on_signal);
			signal(SIGINT, on_signal);
			signal(SIGHUP, on_signal);
		} else {
			return -1;
		}
	}
	if (pthread_create(&thr, NULL, reader, NULL) != 0) {
		close(fd);
		fd = -1;
		drop_dev_log();
		return -1;
	}
	return 0;
}

const char *
logcap_text(size_t *len)
{
	usleep(20000);     /* let the reader take what was just sent */
	pthread_mutex_lock(&mu);
	free(snap);
	snap = strdup(text != NULL ? text : "");
	if (len != NULL)
		*len = tlen;
	pthread_mutex_unlock(&mu);
	return snap != NULL ? snap : "";
}

int
logcap_begin(void)
{
	if (logcap_start() == 0)
		return 1;
	fprintf(stderr, "note: /dev/log cannot be taken over (not root, or no mount "
	    "namespace); log assertions are skipped\n");
	return 0;
}

int
logcap_has(const char *needle)
{
	return strstr(logcap_text(NULL), needle) != NULL;
}

/* What was captured goes to WARD_BUILD/tests/syslog.out too, for
 * tests/security/no-secrets.sh (run-suites.sh empties it before a pass). */
static void
keep_text(void)
{
	const char *b = getenv("WARD_BUILD");
	char path[1024];
	FILE *f;

	if (b == NULL || *b == '\0' || text == NULL)
		return;
	snprintf(path, sizeof(path), "%s/tests/syslog.out", b);
	if ((f = fopen(path, "a")) != NULL) {
		fwrite(text, 1, tlen, f);
		fclose(f);
	}
}

void
logcap_stop(void)
{
	if (fd >= 0) {
		/* the shutdown ends the reader's recv (0 once the queue is
		 * drained); no pthread_cancel, whose forced unwinding through
		 * ASan's recv interceptor now and then crashed the suite at
		 * exit ("AddressSanitizer: nested bug in the same thread") */
		shutdown(fd, SHUT_RDWR);
		drop_dev_log();
		pthread_join(thr, NULL);
		close(fd);
		fd = -1;
		keep_text();
	}
	free(text);
	free(snap);
	text = snap = NULL;
	tlen = tcap = 0;
}
