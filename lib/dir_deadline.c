/*
 * dir_deadline.c - the directory client's time rules: the deadline of each
 * network step, the budget of a whole lookup at one URI, and the guard
 * that holds libldap's I/O to them.
 *
 * Rules it keeps:
 *  - Bounded time.  The whole lookup at one URI (TCP connect, TLS
 *    handshake, StartTLS, bind, every search) has timeout_ms, counted from
 *    its start: each step gets what is left, so a user in thousands of
 *    groups (one read each without group_filter) cannot add quick steps up
 *    past it.  libldap 2.5 as built by
 *    Debian does a blocking TLS handshake with no timeout, so each
 *    connection carries a small sockbuf layer of ours under TLS that polls
 *    against the step's deadline and fails the read or write when it
 *    passes (it also sends with MSG_NOSIGNAL: a closed peer cannot kill
 *    wardd or wardctl with SIGPIPE).  A step that times out drops the
 *    connection (dir_conn.c, dir.c).
 */
#include <errno.h>
#include <ldap.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "dir_int.h"

long
dir_ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)((t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000);
}

/* Now + timeout_ms. */
static void
deadline_in(const struct dir *d, struct timespec *t)
{
	long ms = d->c->timeout_ms > 0 ? d->c->timeout_ms : 2000;

	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/*
 * One lookup at one URI (connect, TLS, bind and every search) gets
 * timeout_ms in all, counted from here: each step has what is left, so
 * many quick steps cannot add up past it.  dir_budget_end lifts it.
 */
void
dir_budget_start(struct dir *d)
{
	deadline_in(d, &d->budget);
	d->budget_on = 1;
}

void
dir_budget_end(struct dir *d)
{
	d->budget_on = 0;
}

/* A network step starts: timeout_ms from now, or less when the lookup's
 * budget ends sooner (by a millisecond or more: the first step of a
 * lookup has the whole timeout_ms and its timeout is its own). */
void
dir_step_start(struct dir *d)
{
	long long early;

	d->timed_out = 0;
	d->step_budget = 0;
	deadline_in(d, &d->deadline);
	early = (long long)(d->deadline.tv_sec - d->budget.tv_sec) * 1000000000LL +
	    (d->deadline.tv_nsec - d->budget.tv_nsec);
	if (d->budget_on && early >= 1000000LL) {
		d->deadline = d->budget;
		d->step_budget = 1;
	}
	d->guard_on = 1;
}

/* Milliseconds left in the current step (0 when past). */
int
dir_step_left(const struct dir *d)
{
	struct timespec t;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &t);
	ms = (long long)(d->deadline.tv_sec - t.tv_sec) * 1000 +
	    (d->deadline.tv_nsec - t.tv_nsec) / 1000000;
	return ms <= 0 ? 0 : ms > 3600000 ? 3600000 : (int)ms;
}

/* Why STEP timed out, into BUF: the step's own timeout_ms, or the whole
 * lookup's. */
void
dir_timeout_text(const struct dir *d, const char *step, char *buf, size_t len)
{
	if (d->step_budget)
		snprintf(buf, len, "%s: the whole directory lookup exceeded timeout_ms "
		    "(%ld ms)", step, d->c->timeout_ms);
	else
		snprintf(buf, len, "%s: no answer within %ld ms", step, d->c->timeout_ms);
}

void
dir_step_tv(const struct dir *d, struct timeval *tv)
{
	int ms = dir_step_left(d);

	if (ms < 1)
		ms = 1;
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* ---- the deadline guard: a sockbuf layer under TLS ----------------------- */

static int
guard_setup(Sockbuf_IO_Desc *sbiod, void *arg)
{
	sbiod->sbiod_pvt = arg;
	return 0;
}

static int
guard_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg)
{
	return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}

/* Wait until FD is ready for EV within the step's deadline: 0, or -1 with
 * errno ETIMEDOUT (a hard error for GnuTLS and libldap alike). */
static int
guard_wait(struct dir *d, Sockbuf_IO_Desc *sbiod, short ev)
{
	ber_socket_t fd = -1;
	struct pollfd pfd;
	int r;

	if (d == NULL || !d->guard_on)
		return 0;
	ber_sockbuf_ctrl(sbiod->sbiod_sb, LBER_SB_OPT_GET_FD, &fd);
	if (fd < 0)
		return 0;
	pfd.fd = fd;
	pfd.events = ev;
	do {
		pfd.revents = 0;
		r = poll(&pfd, 1, dir_step_left(d));
	} while (r < 0 && errno == EINTR);
	if (r == 0) {
		d->timed_out = 1;
		errno = ETIMEDOUT;
		return -1;
	}
	return 0;
}

static ber_slen_t
guard_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	if (guard_wait(sbiod->sbiod_pvt, sbiod, POLLIN) != 0)
		return -1;
	return LBER_SBIOD_READ_NEXT(sbiod, buf, len);
}

static ber_slen_t
guard_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	ber_socket_t fd = -1;
	ssize_t n;

	if (guard_wait(sbiod->sbiod_pvt, sbiod, POLLOUT) != 0)
		return -1;
	ber_sockbuf_ctrl(sbiod->sbiod_sb, LBER_SB_OPT_GET_FD, &fd);
	if (fd < 0)
		return LBER_SBIOD_WRITE_NEXT(sbiod, buf, len);
	do
		n = send(fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

static Sockbuf_IO guard_io = {
	guard_setup, NULL, guard_ctrl, guard_read, guard_write, NULL
};

/* Called by libldap right after the TCP (or ldapi) connect, before TLS. */
static int
guard_add(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr,
    struct ldap_conncb *ctx)
{
	(void)ld;
	(void)srv;
	(void)addr;
	/* between the TCP provider (10) and TLS (20) */
	return ber_sockbuf_add_io(sb, &guard_io, LBER_SBIOD_LEVEL_PROVIDER + 5,
	    ctx->lc_arg) == 0 ? 0 : -1;
}

static void
guard_del(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx)
{
	(void)ld;
	(void)sb;
	(void)ctx;
}

struct ldap_conncb *
dir_guard_cb(struct dir *d)
{
	d->cb.lc_add = guard_add;
	d->cb.lc_del = guard_del;
	d->cb.lc_arg = d;
	return &d->cb;
}
