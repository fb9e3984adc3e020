/*
 * server.c - wardd's socket and event loop.
 *
 * Rules it keeps (wardd(8) "SOCKET", "LIMITS"):
 *  - the socket is 0666 in a folder owned by root that group and others
 *    cannot write (made 0755 when missing); what is at the socket's path
 *    is removed only when it is a socket nobody answers on;
 *  - one poll() loop, every accepted fd non-blocking: no peer can make
 *    the loop wait for it.  A request frame must arrive whole within
 *    WARDD_REQUEST_MS of the connection's start or of its previous answer;
 *    a peer that sends nothing, stalls mid-frame, declares a frame over
 *    WIRE_MAX_PAYLOAD or sends bytes that are not a frame is cut off
 *    without touching anyone else;
 *  - at most WARDD_CONN_MAX connections, WARDD_ROOT_RESERVE of them only
 *    for uid 0, WARDD_CONN_PER_UID per other uid (uids without a passwd
 *    entry count as one: peer_key); when the table is full a
 *    root connection takes the place of the newest non-root one, never the
 *    other way round;
 *  - an accept that fails with the socket still readable (no fd, no
 *    memory) pauses accepting for ACCEPT_PAUSE_MS and is logged once, so
 *    the loop neither spins nor floods the log;
 *  - a PHASE request is handed with its connection to a worker thread
 *    (phase.c, workers.c); the loop leaves that connection alone (no poll, no
 *    deadline, never closed for a root connection) until the worker
 *    writes its slot number to done_fd, and then closes it;
 *  - every audit.head_interval seconds (ward.conf(5); 0: never) the loop
 *    appends a head record (wardd_head): the engine lock is held for that
 *    append only, and a phase waiting for someone to type holds no lock;
 *  - SIGTERM stops accepting, tells the workers (stop_fd: a wait for
 *    someone typing ends at once), lets the requests in flight finish
 *    (each within its deadline), closes idle connections, ends the
 *    worker threads waiting for a phase (workers_stop), and returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "wardd.h"

#define ACCEPT_BURST 64              /* accepts per loop turn: others get a turn too */
#define ACCEPT_PAUSE_MS 250          /* after a failed accept (EMFILE, ENOMEM...) */

struct conn {
	int fd;                      /* -1: free */
	struct peer peer;
	uint64_t seq;                /* accept order */
	struct wire_reader rd;
	unsigned char *out;          /* the answer being written */
	size_t outlen, outoff;
	int close_after;             /* close once the answer is out */
	int busy;                    /* a worker thread has it (phase.c) */
	struct timespec deadline;
};

static struct conn conns[WARDD_CONN_MAX];
static size_t nconns, nroot;
static uint64_t next_seq;
/* accept(2) failed with the socket still readable (out of fds or memory):
 * the listening socket is left out of poll until RESUME, and the failure
 * is logged once until an accept works again */
static int accept_failing;
static struct timespec accept_resume;
/* the socket file server_listen made: only that one is removed at exit */
static dev_t bound_dev;
static ino_t bound_ino;

/* The folder of PATH: owned by root, not writable by group or others,
 * made 0755 when missing. */
static int
check_folder(const char *path, char *err, size_t errlen)
{
	char copy[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	const char *dir;

	snprintf(copy, sizeof(copy), "%s", path);
	dir = dirname(copy);
	if (lstat(dir, &st) != 0 && errno == ENOENT) {
		int dfd;

		if (mkdir(dir, 0755) != 0) {
			/* EEXIST: made meanwhile (perhaps a symlink) - judged below,
			 * never chmodded by name */
			if (errno != EEXIST) {
				snprintf(err, errlen, "%s: cannot create: %s", dir, strerror(errno));
				return WARD_ERR_IO;
			}
		} else {
			/* 0755 whatever the umask; through an fd that is the folder
			 * itself, not what a link put in its place points at */
			dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (dfd < 0 || fchmod(dfd, 0755) != 0) {
				snprintf(err, errlen, "%s: chmod: %s", dir, strerror(errno));
				if (dfd >= 0)
					close(dfd);
				return WARD_ERR_IO;
			}
			close(dfd);
		}
	}
	if (lstat(dir, &st) != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return WARD_ERR_IO;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0) {
		snprintf(err, errlen, "%s: the socket's folder must be a folder owned by root "
		    "and not writable by group or others (refused)", dir);
		return WARD_ERR_UNSAFE;
	}
	return 0;
}

/* Remove a stale socket at PATH; refuse anything else, or a live daemon. */
static int
clear_path(const char *path, const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat st;
	int fd, live;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", path,
		    strerror(errno)), WARD_ERR_IO);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s: exists and is not a socket (refused)", path);
		return WARD_ERR_UNSAFE;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return WARD_ERR_IO;
	}
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	if (live) {
		snprintf(err, errlen, "%s: another wardd answers there", path);
		return WARD_ERR_EXISTS;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: cannot remove the stale socket: %s", path,
		    strerror(errno));
		return WARD_ERR_IO;
	}
	return 0;
}

int
server_listen(const char *path, int *lfd, int *activated, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	int n, fd, r;

	*lfd = -1;
	*activated = 0;
	/* systemd socket activation: LISTEN_PID/LISTEN_FDS (sd_listen_fds(3)) */
	n = sd_listen_fds(1);
	if (n < 0) {
		snprintf(err, errlen, "sd_listen_fds: %s", strerror(-n));
		return WARD_ERR_IO;
	}
	if (n > 1) {
		snprintf(err, errlen, "systemd passed %d sockets; wardd takes one", n);
		return WARD_ERR_INVAL;
	}
	if (n == 1) {
		fd = SD_LISTEN_FDS_START;
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
			snprintf(err, errlen, "the socket systemd passed is not a listening unix "
			    "stream socket");
			return WARD_ERR_INVAL;
		}
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
			snprintf(err, errlen, "fcntl: %s", strerror(errno));
			return WARD_ERR_IO;
		}
		*lfd = fd;
		*activated = 1;
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: too long for a socket path", path);
		return WARD_ERR_INVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((r = check_folder(path, err, errlen)) != 0 ||
	    (r = clear_path(path, &sa, err, errlen)) != 0)
		return r;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return WARD_ERR_IO;
	}
	/* every peer may connect; each request is checked by its credentials */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(path, 0666) != 0 ||
	    listen(fd, SOMAXCONN) != 0 || lstat(path, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return WARD_ERR_IO;
	}
	bound_dev = st.st_dev;
	bound_ino = st.st_ino;
	*lfd = fd;
	return 0;
}

void
server_unlisten(const char *path, int fd, int activated)
{
	struct stat st;

	/* the path is removed only while it is still the socket file we bound
	 * (a second wardd started after ours was removed keeps its own) */
	if (!activated && fd >= 0 && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == bound_dev && st.st_ino == bound_ino)
		(void)unlink(path);
	if (fd >= 0)
		close(fd);
}

static void
conn_close(struct conn *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	wire_reader_reset(&c->rd);
	if (c->out != NULL) {
		explicit_bzero(c->out, c->outlen);
		free(c->out);
	}
	peer_count(c->peer.key, -1);
	if (c->peer.uid == 0)
		nroot--;
	nconns--;
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* The newest connection of a non-root uid, or NULL. */
static struct conn *
newest_nonroot(void)
{
	struct conn *best = NULL;

	for (size_t i = 0; i < WARDD_CONN_MAX; i++)
		if (conns[i].fd >= 0 && conns[i].peer.uid != 0 && !conns[i].busy &&
		    (best == NULL || conns[i].seq > best->seq))
			best = &conns[i];
	return best;
}

static struct conn *
free_slot(void)
{
	for (size_t i = 0; i < WARDD_CONN_MAX; i++)
		if (conns[i].fd < 0)
			return &conns[i];
	return NULL;
}

/* Take FD (just accepted) into the table: its slot, or NULL when it was
 * refused (and closed). */
static struct conn *
admit(int fd)
{
	struct peer p;
	struct conn *c;

	if (peer_creds(fd, &p) != 0) {
		ward_log(LOG_WARNING, "SO_PEERCRED failed on a new connection: closed");
		close(fd);
		return NULL;
	}
	p.key = peer_key(p.uid);
	if (p.uid != 0 && (nconns - nroot >= WARDD_CONN_MAX - WARDD_ROOT_RESERVE ||
	    nconns >= WARDD_CONN_MAX || !peer_admit(p.key))) {
		ward_log(LOG_DEBUG, "uid %lu pid %ld: too many connections: refused",
		    (unsigned long)p.uid, (long)p.pid);
		close(fd);
		return NULL;
	}
	if (p.uid == 0 && nconns >= WARDD_CONN_MAX) {
		struct conn *victim = newest_nonroot();

		if (victim == NULL) {
			ward_log(LOG_WARNING, "%d root connections at once: pid %ld refused",
			    WARDD_CONN_MAX, (long)p.pid);
			close(fd);
			return NULL;
		}
		ward_log(LOG_NOTICE, "connection table full: uid %lu pid %ld closed for a "
		    "root connection", (unsigned long)victim->peer.uid, (long)victim->peer.pid);
		conn_close(victim);
	}
	c = free_slot();     /* there is one: nconns < WARDD_CONN_MAX here */
	if (c == NULL) {
		close(fd);
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->peer = p;
	c->seq = next_seq++;
	wire_deadline(&c->deadline, WARDD_REQUEST_MS);
	peer_count(p.key, 1);
	nroot += p.uid == 0;
	nconns++;
	return c;
}

static void serve(struct wardd *d, struct conn *c, int stopping);

/* Accept what waits on LFD (not while stopping), then read each new
 * connection's request at once: a client sends it right after connecting,
 * so it is usually there, and the loop spares a turn.  The requests are
 * read after the accepts, so a client cannot open its next connection
 * within the same burst (it waits for its answer) while the loop has not
 * yet seen the last one closed. */
static void
accept_some(struct wardd *d, int lfd)
{
	struct conn *fresh[ACCEPT_BURST];
	uint64_t seq[ACCEPT_BURST];
	size_t nfresh = 0;

	for (int i = 0; i < ACCEPT_BURST; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
			    errno == ECONNABORTED)
				break;
			if (!accept_failing)
				ward_log(LOG_WARNING, "accept: %s (accepting again every %d ms; "
				    "said once)", strerror(errno), ACCEPT_PAUSE_MS);
			accept_failing = 1;
			wire_deadline(&accept_resume, ACCEPT_PAUSE_MS);
			break;
		}
		accept_failing = 0;
		if ((c = admit(fd)) != NULL) {
			seq[nfresh] = c->seq;
			fresh[nfresh++] = c;
		}
	}
	/* a root connection admitted later in the burst may have closed an
	 * earlier one (admit: the table full), whose slot another may hold
	 * now: the accept order (seq) tells */
	for (size_t i = 0; i < nfresh; i++)
		if (fresh[i]->fd >= 0 && fresh[i]->seq == seq[i])
			serve(d, fresh[i], 0);
}

/* Write what is left of C's answer.  0 done, 1 more to write, <0 failed. */
static int
flush(struct conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			c->outoff += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		return WARD_ERR_IO;
	}
	explicit_bzero(c->out, c->outlen);
	free(c->out);
	c->out = NULL;
	c->outlen = c->outoff = 0;
	return 0;
}

/* Queue ANS on C and start writing it; CLOSE_AFTER ends the connection once
 * it is out.  Returns 0, or <0 when C was closed. */
static int
reply(struct conn *c, const struct wire_msg *ans, int close_after)
{
	unsigned char *buf = malloc(WIRE_MAX_FRAME);
	size_t len = 0;
	int r;

	if (buf == NULL || c->out != NULL ||
	    wire_encode(ans, buf, WIRE_MAX_FRAME, &len) != 0) {
		ward_log(LOG_ERR, "uid %lu pid %ld: answer could not be encoded: closed",
		    (unsigned long)c->peer.uid, (long)c->peer.pid);
		free(buf);
		conn_close(c);
		return WARD_ERR_INTERNAL;
	}
	c->out = buf;
	c->outlen = len;
	c->outoff = 0;
	c->close_after = close_after;
	if ((r = flush(c)) < 0 || (r == 0 && close_after)) {
		conn_close(c);
		return r < 0 ? r : 0;
	}
	if (r == 0) {
		/* answered: the next request (or nothing) within the deadline */
		wire_reader_reset(&c->rd);
		wire_deadline(&c->deadline, WARDD_REQUEST_MS);
	}
	return 0;
}

static void
cut_off(struct conn *c, int why, const char *what)
{
	struct wire_msg ans;

	if (peer_may_log(c->peer.key))
		ward_log(LOG_NOTICE, "uid %lu pid %ld: %s (%s): cut off",
		    (unsigned long)c->peer.uid, (long)c->peer.pid, what, ward_strerror(why));
	/* one best-effort error frame, then the connection ends */
	if (wire_error(&ans, why, what) == 0)
		(void)reply(c, &ans, 1);
	else
		conn_close(c);
	wire_msg_wipe(&ans);
}

/* C is readable: read, and answer a complete request. */
static void
serve(struct wardd *d, struct conn *c, int stopping)
{
	struct wire_msg req, ans;
	int r = wire_reader_step(&c->rd, c->fd);

	if (r == 0)
		return;
	if (r == WARD_ERR_CLOSED) {
		conn_close(c);
		return;
	}
	if (r < 0) {
		cut_off(c, r, r == WARD_ERR_TOOBIG ? "declared a frame over 64 KiB" :
		    r == WARD_ERR_PROTO ? "not a frame, or closed mid-frame" : "read failed");
		return;
	}
	r = wire_decode(c->rd.frame, c->rd.len, &req);
	wire_reader_reset(&c->rd);
	if (r != 0) {
		wire_msg_wipe(&req);
		cut_off(c, r, "malformed request");
		return;
	}
	if (!peer_take_token(c->peer.key)) {
		wire_msg_wipe(&req);
		cut_off(c, WARD_ERR_BUSY, "over its request rate");
		return;
	}
	if (req.type == WIRE_PHASE) {
		/* a login phase: its own thread, its own connection, from now */
		if (!stopping && answer_phase_admit(d, &c->peer, &req, &ans) == 0) {
			wire_msg_wipe(&ans);
			if (phase_start(d, &c->peer, &req, c->fd, (unsigned)(c - conns)) == 0) {
				c->busy = 1;
				return;
			}
			(void)wire_error(&ans, WARD_ERR_BUSY, "wardd cannot start the phase now");
		} else if (stopping) {
			wire_msg_wipe(&ans);
			(void)wire_error(&ans, WARD_ERR_BUSY, "wardd is stopping");
		}
		wire_msg_wipe(&req);
		(void)reply(c, &ans, 1);
		wire_msg_wipe(&ans);
		return;
	}
	answer_request(d, &c->peer, &req, &ans);
	wire_msg_wipe(&req);
	(void)reply(c, &ans, stopping);
	wire_msg_wipe(&ans);
}

/* Connections a worker has. */
static size_t
nbusy(void)
{
	size_t n = 0;

	for (size_t i = 0; i < WARDD_CONN_MAX; i++)
		n += conns[i].fd >= 0 && conns[i].busy;
	return n;
}

/* Close the connections whose workers are done; with DRAIN (the done pipe
 * is readable) empty the pipe first.  The list is looked at either way, so
 * a wake-up that was lost costs nothing but a delay. */
static void
reap(struct wardd *d, int drain)
{
	unsigned char buf[64];
	unsigned slots[WARDD_CONN_MAX];
	size_t n;

	/* a short read emptied it; a byte written after that wakes the
	 * poll again */
	while (drain && read(d->done_fd[0], buf, sizeof(buf)) == (ssize_t)sizeof(buf))
		;
	pthread_mutex_lock(&d->done_lock);
	n = d->ndone;
	memcpy(slots, d->done, n * sizeof(slots[0]));
	d->ndone = 0;
	pthread_mutex_unlock(&d->done_lock);
	for (size_t i = 0; i < n; i++)
		if (slots[i] < WARDD_CONN_MAX && conns[slots[i]].busy) {
			conns[slots[i]].busy = 0;
			conn_close(&conns[slots[i]]);
		}
}

int
server_run(struct wardd *d, int lfd)
{
	static struct pollfd pfd[WARDD_CONN_MAX + 2];
	static struct conn *pc[WARDD_CONN_MAX + 2];
	static struct conn done_mark;    /* pc[] of the done pipe */
	sigset_t during;
	struct timespec next_head = { 0, 0 };
	long head_every = -1;            /* the interval NEXT_HEAD was set for */
	int stopping = 0;

	for (size_t i = 0; i < WARDD_CONN_MAX; i++)
		conns[i].fd = -1;
	/* signals are blocked except while waiting in ppoll */
	sigemptyset(&during);
	for (;;) {
		struct timespec ts;
		size_t n = 0;
		int wait_ms = -1, k;

		if (wardd_got_hup) {
			wardd_got_hup = 0;
			(void)wardd_reload(d, "SIGHUP", 1);
		}
		/* a reload may change the interval: the next head is due one new
		 * interval from then */
		if (d->gen->c.conf.audit.head_interval != head_every) {
			head_every = d->gen->c.conf.audit.head_interval;
			if (head_every > 0)
				wire_deadline(&next_head, head_every * 1000L);
		}
		if (head_every > 0 && !stopping && wire_remaining_ms(&next_head) == 0) {
			(void)wardd_head(d, 0);
			wire_deadline(&next_head, head_every * 1000L);
		}
		if (wardd_got_term && !stopping) {
			uint64_t one = 1;

			stopping = 1;
			if (write(d->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
				ward_log(LOG_WARNING, "cannot tell the workers to stop: %s",
				    strerror(errno));
			(void)sd_notify(0, "STOPPING=1");
			ward_log(LOG_INFO, "SIGTERM: finishing %zu connection(s) in flight",
			    nconns);
		}
		if (stopping) {
			/* idle connections (nothing read, nothing to write) end now */
			for (size_t i = 0; i < WARDD_CONN_MAX; i++)
				if (conns[i].fd >= 0 && !conns[i].busy && conns[i].rd.got == 0 &&
				    conns[i].out == NULL)
					conn_close(&conns[i]);
			if (nconns == 0) {
				workers_stop();
				return 0;
			}
		} else if (accept_failing && wire_remaining_ms(&accept_resume) > 0) {
			/* not polled: readable at once again, it would spin */
			wait_ms = wire_remaining_ms(&accept_resume);
		} else {
			pfd[n].fd = lfd;
			pfd[n].events = POLLIN;
			pc[n++] = NULL;
		}
		pfd[n].fd = d->done_fd[0];
		pfd[n].events = POLLIN;
		pc[n++] = &done_mark;
		reap(d, 0);         /* a worker whose wake-up was lost */
		if (nbusy() > 0 && (wait_ms < 0 || wait_ms > WARDD_REAP_MS))
			wait_ms = WARDD_REAP_MS;
		for (size_t i = 0; i < WARDD_CONN_MAX; i++) {
			struct conn *c = &conns[i];
			int left;

			if (c->fd < 0 || c->busy)
				continue;
			left = wire_remaining_ms(&c->deadline);
			if (left == 0) {
				if ((c->rd.got > 0 || c->out != NULL) && peer_may_log(c->peer.key))
					ward_log(LOG_NOTICE, "uid %lu pid %ld: request not complete "
					    "within %d ms: cut off", (unsigned long)c->peer.uid,
					    (long)c->peer.pid, WARDD_REQUEST_MS);
				conn_close(c);
				continue;
			}
			if (wait_ms < 0 || left < wait_ms)
				wait_ms = left;
			pfd[n].fd = c->fd;
			pfd[n].events = c->out != NULL ? POLLOUT : POLLIN;
			pc[n++] = c;
		}
		if (stopping && nconns == 0) {
			workers_stop();
			return 0;
		}
		if (head_every > 0 && !stopping &&
		    (wait_ms < 0 || wire_remaining_ms(&next_head) < wait_ms))
			wait_ms = wire_remaining_ms(&next_head);
		{
			/* the store's pending changes, committed when due */
			int due = wardd_flush(d);

			if (due >= 0 && (wait_ms < 0 || due < wait_ms))
				wait_ms = due;
		}
		ts.tv_sec = wait_ms / 1000;
		ts.tv_nsec = (wait_ms % 1000) * 1000000L;
		k = ppoll(pfd, (nfds_t)n, wait_ms < 0 ? NULL : &ts, &during);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			ward_log(LOG_ERR, "poll: %s", strerror(errno));
			return WARD_ERR_IO;
		}
		for (size_t i = 0; i < n && k > 0; i++) {
			struct conn *c = pc[i];

			if (pfd[i].revents == 0)
				continue;
			if (c == NULL) {
				accept_some(d, lfd);
				continue;
			}
			if (c == &done_mark) {
				reap(d, 1);
				continue;
			}
			if (c->fd < 0 || c->fd != pfd[i].fd)
				continue;       /* closed meanwhile (a root took its place) */
			if (c->out != NULL) {
				int r = flush(c);

				if (r < 0 || (r == 0 && (c->close_after || stopping)))
					conn_close(c);
				else if (r == 0) {
					wire_reader_reset(&c->rd);
					wire_deadline(&c->deadline, WARDD_REQUEST_MS);
				}
				continue;
			}
			serve(d, c, stopping);
		}
	}
}
