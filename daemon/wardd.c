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
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "audit.h"
#include "dir.h"
#include "state.h"
#include "wardd.h"

volatile sig_atomic_t wardd_got_hup, wardd_got_term;

static int to_stderr, debug_on;

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

void
wardd_log_thread_init(void)
{
	/* the sink is per thread (lib/ward.c) */
	ward_log_set_sink(log_sink, NULL);
	ward_log_set_debug(debug_on);
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
	file_id_of(&st, &id->id);
}

static int
same_id(const struct wardd_file_id *a, const struct wardd_file_id *b)
{
	return a->err == b->err && file_id_same(&a->id, &b->id);
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

/*
 * When a watched file changed so shortly before the look that loaded it
 * that its identity proves nothing (file_id_racy), every look loads again
 * until that window has passed (cheap from a snapshot; the loader itself
 * compares a racy text with its snapshot by hash).
 */
static time_t
racy_until(const struct wardd_file_id ids[3], time_t looked)
{
	int64_t newest = 0;

	for (int i = 0; i < 3; i++)
		if (ids[i].err == 0 && ids[i].id.ctime_sec > newest)
			newest = ids[i].id.ctime_sec;
	return file_id_racy(newest, (int64_t)looked) ?
	    (time_t)(newest + FILE_ID_RACY_SECONDS) : 0;
}

/* ---- generations ---- */

struct wardd_gen *
wardd_gen_pin(struct wardd *d)
{
	d->gen->refs++;
	return d->gen;
}

void
wardd_gen_put(struct wardd_gen *g)
{
	if (g == NULL || --g->refs > 0)
		return;
	/* its handles were taken back (wardd_gen_leave): core_free closes
	 * nothing shared */
	core_free(&g->c);
	free(g);
}

int
wardd_flush(struct wardd *d)
{
	long age, idle, due = -1;

	if (pthread_mutex_trylock(&d->lock) != 0)
		return -1;
	if (state_pending(d->st, &age, &idle)) {
		if (idle >= WARDD_FLUSH_IDLE_MS || age >= WARDD_FLUSH_MAX_MS)
			(void)state_flush_pending(d->st);
		else if ((due = WARDD_FLUSH_IDLE_MS - idle) > WARDD_FLUSH_MAX_MS - age)
			due = WARDD_FLUSH_MAX_MS - age;
	}
	pthread_mutex_unlock(&d->lock);
	return (int)due;
}

int
wardd_head(struct wardd *d, int shutdown)
{
	struct wardd_gen *g;
	char detail[64];
	struct core_rec rec = { .event = AUDIT_EV_HEAD, .result = AUDIT_RES_SUCCESS,
		.detail = detail };
	int r;

	pthread_mutex_lock(&d->lock);
	g = wardd_gen_pin(d);
	snprintf(detail, sizeof(detail), "%sinterval %ld", shutdown ? "shutdown; " : "",
	    g->c.conf.audit.head_interval);
	wardd_gen_enter(d, g);
	r = core_record(&g->c, NULL, NULL, NULL, &rec, NULL, NULL);
	wardd_gen_leave(d, g);
	wardd_gen_put(g);
	pthread_mutex_unlock(&d->lock);
	return r;
}

void
wardd_gen_enter(struct wardd *d, struct wardd_gen *g)
{
	g->c.st = d->st;
	g->c.dir = d->dir;
	g->c.log = d->log;
}

/*
 * Take the shared handles back.  What the generation in force opened (or
 * reconnected) meanwhile is shared from now on.  What an older generation
 * (a phase that began before a reload) had to open for itself is closed:
 * it was opened with a configuration no longer in force, and the
 * directory handle points into it.  Only one thread works at a time (LOCK),
 * so a handle is never open twice (LMDB forbids that in one process).
 */
void
wardd_gen_leave(struct wardd *d, struct wardd_gen *g)
{
	if (g == d->gen) {
		d->st = g->c.st;
		d->dir = g->c.dir;
		d->log = g->c.log;
	} else {
		if (g->c.log != d->log)
			audit_log_close(g->c.log);
		if (g->c.dir != d->dir)
			dir_close(g->c.dir);
		if (g->c.st != d->st)
			state_close(g->c.st);
	}
	g->c.st = NULL;
	g->c.dir = NULL;
	g->c.log = NULL;
}

/* Close the shared handles (with LOCK held): the next phase opens them
 * again with the configuration in force. */
static void
close_handles(struct wardd *d)
{
	core_close_handles(&d->log, &d->dir, &d->st);
}

/* A new generation of ward.conf and the policy, or NULL with ERR. */
static struct wardd_gen *
gen_load(struct wardd *d, char *err, size_t errlen, int *r)
{
	struct wardd_gen *g = calloc(1, sizeof(*g));

	if (g == NULL) {
		snprintf(err, errlen, "out of memory");
		*r = WARD_ERR_NOMEM;
		return NULL;
	}
	if ((*r = core_init(&g->c, d->conf_path, err, errlen)) != 0) {
		free(g);
		return NULL;
	}
	g->c.gen = ++d->next_gen;
	g->refs = 1;
	return g;
}

/* First load; on failure wardd does not start. */
static int
load_first(struct wardd *d)
{
	char err[1024];
	int r;

	if ((d->gen = gen_load(d, err, sizeof(err), &r)) == NULL) {
		ward_log(LOG_ERR, "cannot start: %s", err);
		return r;
	}
	take_ids(d, &d->gen->c, d->ids);
	clock_gettime(CLOCK_MONOTONIC, &d->checked);
	d->racy_until = racy_until(d->ids, time(NULL));
	return 0;
}

int
wardd_reload(struct wardd *d, const char *why, int reopen)
{
	struct wardd_file_id before[3], after[3];
	struct wardd_gen *fresh, *old;
	char err[1024];
	int r, conf_changed, same;
	time_t looked = time(NULL);

	/* identities taken before reading: an edit during the load is seen on
	 * the next look.  Only the loop writes d->gen, so it reads it unlocked. */
	take_ids(d, &d->gen->c, before);
	clock_gettime(CLOCK_MONOTONIC, &d->checked);
	/* loaded outside the lock: logins go on meanwhile */
	if ((fresh = gen_load(d, err, sizeof(err), &r)) == NULL) {
		static char last_err[1024];
		int again = strcmp(err, last_err) == 0 && !reopen &&
		    same_id(&before[0], &d->ids[0]) && same_id(&before[1], &d->ids[1]);

		/* said once per change (a racy window's looks say it once); the
		 * failed text is not loaded again until a file changes or SIGHUP,
		 * so what the log says stays in force does */
		memcpy(d->ids, before, sizeof(before));
		d->racy_until = 0;
		snprintf(last_err, sizeof(last_err), "%s", err);
		ward_log(again ? LOG_DEBUG : LOG_ERR, "reload (%s) failed; policy version %s "
		    "stays in force: %s", why, policy_version(d->gen->c.pol), err);
		return r;
	}
	if (strcmp(fresh->c.conf.daemon.socket, d->gen->c.conf.daemon.socket) != 0)
		ward_log(LOG_WARNING, "daemon.socket changed to %s: it takes effect when wardd "
		    "restarts", fresh->c.conf.daemon.socket);
	conf_changed = !same_id(&before[0], &d->ids[0]);
	take_ids(d, &fresh->c, after);
	/* Loading a text newer than its snapshot writes the snapshot: take the
	 * new snapshot's identity as seen, when nothing else changed. */
	if (same_id(&before[0], &after[0]) && same_id(&before[1], &after[1]))
		memcpy(d->ids, after, sizeof(after));
	else
		memcpy(d->ids, before, sizeof(before));
	d->racy_until = racy_until(d->ids, looked);
	pthread_mutex_lock(&d->lock);
	old = d->gen;
	/* A changed ward.conf may name another store, log, key or directory:
	 * the handles open again under it.  Otherwise they stay (the warm
	 * directory connection with them), pointed at the new copy of the
	 * same settings. */
	if (conf_changed || reopen)
		close_handles(d);
	else if (d->dir != NULL)
		dir_rebind(d->dir, &fresh->c.conf.directory);
	d->gen = fresh;
	same = strcmp(policy_version(old->c.pol), policy_version(fresh->c.pol)) == 0 &&
	    !conf_changed;
	wardd_gen_put(old);
	pthread_mutex_unlock(&d->lock);
	/* the loads of a racy window that find what was there are not news */
	ward_log(same && !reopen ? LOG_DEBUG : LOG_INFO, "reload (%s): policy version %s "
	    "from %s", why, policy_version(fresh->c.pol), fresh->c.from_snapshot ?
	    fresh->c.conf.snapshot_file : fresh->c.conf.policy_file);
	return 0;
}

void
wardd_recheck(struct wardd *d, int throttle)
{
	struct wardd_file_id now_ids[3];
	struct timespec now;
	long long ms;

	/* the identities at every request (three lstat calls): a changed file
	 * decides the next login, whoever asks */
	take_ids(d, &d->gen->c, now_ids);
	for (int i = 0; i < 3; i++)
		if (!same_id(&now_ids[i], &d->ids[i])) {
			(void)wardd_reload(d, "a policy file changed", 0);
			return;
		}
	if (d->racy_until == 0)
		return;
	/* a racy window's loads: for a non-root peer at most one a
	 * WARDD_RECHECK_MS, so that no local user makes wardd load
	 * continuously */
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = ((long long)now.tv_sec - d->checked.tv_sec) * 1000 +
	    (now.tv_nsec - d->checked.tv_nsec) / 1000000;
	if (throttle && ms >= 0 && ms < WARDD_RECHECK_MS)
		return;
	d->checked = now;
	/* one more load once the window has passed, then trust the ids */
	if (time(NULL) > d->racy_until)
		d->racy_until = 0;
	(void)wardd_reload(d, "a policy file changed moments ago", 0);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: wardd [--config FILE] [--socket PATH] [--debug]\n"
	    "       wardd --version | --help\n"
	    "Runs in the foreground; see wardd(8).\n");
}

/* What the threads share, made before the first one starts. */
static int
shared_init(struct wardd *d)
{
	if (pthread_mutex_init(&d->lock, NULL) != 0 ||
	    pthread_mutex_init(&d->done_lock, NULL) != 0)
		return -1;
	d->done_fd[0] = d->done_fd[1] = -1;
	if ((d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    pipe2(d->done_fd, O_CLOEXEC | O_NONBLOCK) != 0 || phase_txns_init(d) != 0) {
		ward_log(LOG_ERR, "cannot start: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void
shared_free(struct wardd *d)
{
	pthread_mutex_lock(&d->lock);
	phase_txns_free(d);
	close_handles(d);
	wardd_gen_put(d->gen);
	d->gen = NULL;
	pthread_mutex_unlock(&d->lock);
	if (d->stop_fd >= 0)
		close(d->stop_fd);
	if (d->done_fd[0] >= 0)
		close(d->done_fd[0]);
	if (d->done_fd[1] >= 0)
		close(d->done_fd[1]);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
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
	d.stop_fd = -1;
	while ((o = getopt_long(argc, argv, "c:s:dhV", opts, NULL)) != -1) {
		switch (o) {
		case 'c': d.conf_path = optarg; break;
		case 's': d.sock_opt = optarg; break;
		case 'd': debug = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("wardd %s\n", WARD_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || (d.sock_opt != NULL && (d.sock_opt[0] != '/' ||
	    strlen(d.sock_opt) >= sizeof(d.sock)))) {
		usage(stderr);
		return 2;
	}

	/* log: syslog, and stderr with --debug or on a terminal */
	to_stderr = debug || isatty(STDERR_FILENO);
	debug_on = debug;
	openlog("wardd", LOG_PID, LOG_AUTHPRIV);
	wardd_log_thread_init();

	/* signals: only delivered while the loop waits (server.c's ppoll); the
	 * worker threads inherit the blocked mask and never take them */
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
	if (shared_init(&d) != 0)
		return 1;
	/* the path bound now is the one removed at exit, whatever reloads say */
	snprintf(d.sock, sizeof(d.sock), "%s", d.sock_opt != NULL ? d.sock_opt :
	    d.gen->c.conf.daemon.socket);
	if (server_listen(d.sock, &lfd, &activated, err, sizeof(err)) != 0) {
		ward_log(LOG_ERR, "cannot start: %s", err);
		shared_free(&d);
		return 1;
	}
	/* what a crash left between a record and its store commit is adopted
	 * before anyone is answered: a code accepted then is spent */
	{
		struct wardd_gen *g;

		pthread_mutex_lock(&d.lock);
		g = wardd_gen_pin(&d);
		wardd_gen_enter(&d, g);
		(void)core_adopt(&g->c);
		wardd_gen_leave(&d, g);
		wardd_gen_put(g);
		/* opened again by the first phase, as before (a PING needs none) */
		close_handles(&d);
		pthread_mutex_unlock(&d.lock);
	}
	ward_log(LOG_INFO, "wardd %s ready on %s; policy version %s from %s", WARD_VERSION,
	    activated ? "the socket systemd passed" : d.sock, policy_version(d.gen->c.pol),
	    d.gen->c.from_snapshot ? d.gen->c.conf.snapshot_file : d.gen->c.conf.policy_file);
	(void)sd_notify(0, "READY=1");

	r = server_run(&d, lfd);
	/* stopped on SIGTERM with nothing in flight: the last record says so */
	if (r == 0 && d.gen->c.conf.audit.head_interval > 0)
		(void)wardd_head(&d, 1);

	server_unlisten(d.sock, lfd, activated);
	ward_log(LOG_INFO, "stopped");
	shared_free(&d);
	closelog();
	return r == 0 ? 0 : 1;
}
