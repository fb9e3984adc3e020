/*
 * wardd.c - the Ward daemon (wardd(8)): one long-lived process per
 * workstation that holds ward.conf and the policy and answers requests on
 * a unix socket (lib/wire.h).  It runs in the foreground; systemd (or a
 * test) supervises it.
 *
 * Rules it keeps:
 *  - a policy or ward.conf that does not load never replaces the one in
 *    force: the error (file:line) goes to syslog and the old one keeps
 *    deciding.  At start there is no old one: wardd exits 1;
 *  - the policy files are looked at before a request is answered, at most
 *    once a second, and loaded again when their identity changed (no
 *    signal needed); SIGHUP loads them unconditionally;
 *  - nothing from the environment changes what wardd decides (systemd's
 *    LISTEN_FDS/NOTIFY_SOCKET only pass the socket and readiness).
 *
 * Steps: options; log sink; signals; load; socket; READY=1; serve until
 * SIGTERM; remove the socket; exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "wardd.h"

volatile sig_atomic_t wardd_got_hup, wardd_got_term;

static int to_stderr;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		wardd_got_hup = 1;
	else
		wardd_got_term = 1;
}

static void
log_sink(void *ctx, int prio, const char *msg)
{
	(void)ctx;
	syslog(prio, "%s", msg);
	if (to_stderr)
		fprintf(stderr, "wardd: %s\n", msg);
}

static void
file_id(const char *path, struct wardd_file_id *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (path == NULL || lstat(path, &st) != 0) {
		id->err = path == NULL ? ENOENT : errno;
		return;
	}
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->mtim = st.st_mtim;
	id->ctim = st.st_ctim;
}

static int
same_id(const struct wardd_file_id *a, const struct wardd_file_id *b)
{
	return a->err == b->err && a->dev == b->dev && a->ino == b->ino &&
	    a->size == b->size && a->mtim.tv_sec == b->mtim.tv_sec &&
	    a->mtim.tv_nsec == b->mtim.tv_nsec && a->ctim.tv_sec == b->ctim.tv_sec &&
	    a->ctim.tv_nsec == b->ctim.tv_nsec;
}

/* The identities of ward.conf, the policy text and its snapshot, with the
 * paths C names (ward.conf: D->conf_path). */
static void
take_ids(const struct wardd *d, const struct core *c, struct wardd_file_id ids[3])
{
	file_id(d->conf_path, &ids[0]);
	file_id(c->conf.policy_file, &ids[1]);
	file_id(c->conf.snapshot_file, &ids[2]);
}

/* First load; on failure wardd does not start. */
static int
load_first(struct wardd *d)
{
	char err[1024];
	int r = core_init(&d->core, d->conf_path, err, sizeof(err));

	if (r != 0) {
		ward_log(LOG_ERR, "cannot start: %s", err);
		return r;
	}
	take_ids(d, &d->core, d->ids);
	clock_gettime(CLOCK_MONOTONIC, &d->checked);
	return 0;
}

int
wardd_reload(struct wardd *d, const char *why)
{
	struct wardd_file_id before[3], after[3];
	struct core fresh;
	char err[1024];
	int r;

	/* identities taken before reading: an edit during the load is seen on
	 * the next look */
	take_ids(d, &d->core, before);
	clock_gettime(CLOCK_MONOTONIC, &d->checked);
	r = core_init(&fresh, d->conf_path, err, sizeof(err));
	if (r != 0) {
		memcpy(d->ids, before, sizeof(before));   /* said once per change */
		ward_log(LOG_ERR, "reload (%s) failed; policy version %s stays in force: %s",
		    why, policy_version(d->core.pol), err);
		return r;
	}
	if (strcmp(fresh.conf.daemon.socket, d->core.conf.daemon.socket) != 0)
		ward_log(LOG_WARNING, "daemon.socket changed to %s: it takes effect when wardd "
		    "restarts", fresh.conf.daemon.socket);
	take_ids(d, &fresh, after);
	/* Loading a text newer than its snapshot writes the snapshot: take the
	 * new snapshot's identity as seen, when nothing else changed. */
	if (same_id(&before[0], &after[0]) && same_id(&before[1], &after[1]))
		memcpy(d->ids, after, sizeof(after));
	else
		memcpy(d->ids, before, sizeof(before));
	core_free(&d->core);
	d->core = fresh;
	ward_log(LOG_INFO, "reload (%s): policy version %s from %s", why,
	    policy_version(d->core.pol), d->core.from_snapshot ?
	    d->core.conf.snapshot_file : d->core.conf.policy_file);
	return 0;
}

void
wardd_recheck(struct wardd *d)
{
	struct wardd_file_id now_ids[3];
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = ((long long)now.tv_sec - d->checked.tv_sec) * 1000 +
	    (now.tv_nsec - d->checked.tv_nsec) / 1000000;
	if (ms >= 0 && ms < WARDD_RECHECK_MS)
		return;
	d->checked = now;
	take_ids(d, &d->core, now_ids);
	for (int i = 0; i < 3; i++)
		if (!same_id(&now_ids[i], &d->ids[i])) {
			(void)wardd_reload(d, "a policy file changed");
			return;
		}
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: wardd [--config FILE] [--debug]\n"
	    "       wardd --version | --help\n"
	    "Runs in the foreground; see wardd(8).\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 } };
	static struct wardd d;
	struct sigaction sa;
	sigset_t block;
	char err[1024];
	int debug = 0, lfd = -1, activated = 0, o, r;

	d.conf_path = CONF_DEFAULT_PATH;
	while ((o = getopt_long(argc, argv, "c:dhV", opts, NULL)) != -1) {
		switch (o) {
		case 'c': d.conf_path = optarg; break;
		case 'd': debug = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("wardd %s\n", WARD_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	/* log: syslog, and stderr with --debug or on a terminal */
	to_stderr = debug || isatty(STDERR_FILENO);
	openlog("wardd", LOG_PID, LOG_AUTHPRIV);
	ward_log_set_sink(log_sink, NULL);
	ward_log_set_debug(debug);

	/* signals: only delivered while the loop waits (server.c's ppoll) */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, NULL);

	if (load_first(&d) != 0)
		return 1;
	/* the path bound now is the one removed at exit, whatever reloads say */
	snprintf(d.sock, sizeof(d.sock), "%s", d.core.conf.daemon.socket);
	if (server_listen(d.sock, &lfd, &activated, err, sizeof(err)) != 0) {
		ward_log(LOG_ERR, "cannot start: %s", err);
		core_free(&d.core);
		return 1;
	}
	ward_log(LOG_INFO, "wardd %s ready on %s; policy version %s from %s", WARD_VERSION,
	    activated ? "the socket systemd passed" : d.sock, policy_version(d.core.pol), d.core.from_snapshot ?
	    d.core.conf.snapshot_file : d.core.conf.policy_file);
	(void)sd_notify(0, "READY=1");

	r = server_run(&d, lfd);

	server_unlisten(d.sock, lfd, activated);
	ward_log(LOG_INFO, "stopped");
	core_free(&d.core);
	closelog();
	return r == 0 ? 0 : 1;
}
