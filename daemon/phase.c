/*
 * phase.c - one login phase (auth, account, session open or close) run by
 * the flow engine (flow.h) in a worker thread (workers.c), with the conversation
 * relayed over the client's connection (wire.h: PHASE, then ASK/REPLY as
 * often as the flow asks, then RESULT); and the transactions kept between
 * the phases of one login.
 *
 * Rules it keeps (wardd(8) "PROTOCOL"):
 *  - the engine works only with D->lock held; the worker lets go of it
 *    only while it waits for the client (an ASK sent, its REPLY read), so
 *    a person typing slowly holds up nobody;
 *  - a phase decides with the generation of ward.conf and the policy in
 *    force when it began, to its end (wardd_gen_pin);
 *  - every wait on the client is bounded: WARDD_TYPING_MS for a typed
 *    answer, WARDD_IO_MS for everything else; a client that is gone,
 *    late or breaks the protocol gets no more questions, so the flow ends
 *    on its denying path (and records it as it always does);
 *  - stopping wardd (stop_fd) ends the waits at once, the same way;
 *  - a transaction is found only by its random token and only for the
 *    uid that began it; it is forgotten after WARDD_TXN_IDLE_S unused, at
 *    the end of its session, or when the table needs its slot (the least
 *    recently used, and a non-root uid may hold at most WARDD_TXN_PER_UID);
 *    a forgotten one only means that the next phase starts afresh (an
 *    account phase then asks for the code again);
 *  - answers typed by the person are wiped as soon as they are used.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "flow.h"
#include "secret.h"
#include "state.h"
#include "wardd.h"

#define DEFAULT_PROMPT "Verification code: "

struct wardd_txn {
	char token[WIRE_TOKEN_HEX + 1];  /* "": a free slot */
	uid_t uid;                   /* the peer that began it */
	struct flow_txn *t;
	time_t used;                 /* CLOCK_MONOTONIC seconds of the last use */
	int busy;                    /* a phase runs with it now */
};

/* What the flow said and set in a phase, not yet sent. */
struct relay {
	struct wardd *d;
	struct wardd_gen *g;
	int fd;
	int broken;                  /* the client is gone, late or broke the protocol */
	char *msg[WIRE_MAX_MESSAGES];
	char style[WIRE_MAX_MESSAGES + 1];
	size_t nmsg;
	char *env[WIRE_MAX_ENV];
	size_t nenv;
	int overflow;                /* lines left out (said once in the log) */
};

struct phase_job {
	struct wardd *d;
	struct peer peer;
	struct wire_msg req;
	int fd;
	unsigned slot;
};

static time_t
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* ---- the transactions (D->lock held) ---- */

int
phase_txns_init(struct wardd *d)
{
	d->txns = calloc(WARDD_TXN_MAX, sizeof(*d->txns));
	return d->txns != NULL ? 0 : WARD_ERR_NOMEM;
}

static void
txn_drop(struct wardd_txn *x)
{
	flow_txn_free(x->t);
	ward_wipe(x, sizeof(*x));
}

void
phase_txns_free(struct wardd *d)
{
	if (d->txns == NULL)
		return;
	for (size_t i = 0; i < WARDD_TXN_MAX; i++)
		if (d->txns[i].token[0] != '\0')
			txn_drop(&d->txns[i]);
	free(d->txns);
	d->txns = NULL;
}

/*
 * The transaction TOKEN (NULL: none) of UID, marked busy; a new one when
 * there is none (unknown, expired, another uid's, or busy with another
 * phase).  NULL when out of memory or randomness.
 */
static struct wardd_txn *
txn_take(struct wardd *d, const char *token, uid_t uid)
{
	struct wardd_txn *x, *free_slot = NULL, *lru = NULL, *lru_own = NULL;
	unsigned char raw[WIRE_TOKEN_HEX / 2];
	time_t now = mono_s();
	unsigned own = 0;

	for (size_t i = 0; i < WARDD_TXN_MAX; i++) {
		x = &d->txns[i];
		if (x->token[0] != '\0' && !x->busy && now - x->used > WARDD_TXN_IDLE_S)
			txn_drop(x);
		if (x->token[0] == '\0') {
			if (free_slot == NULL)
				free_slot = x;
			continue;
		}
		if (token != NULL && x->uid == uid && !x->busy &&
		    ward_ct_equal(x->token, token, WIRE_TOKEN_HEX)) {
			x->busy = 1;
			x->used = now;
			return x;
		}
		if (x->busy)
			continue;
		if (lru == NULL || x->used < lru->used)
			lru = x;
		if (x->uid == uid) {
			own++;
			if (lru_own == NULL || x->used < lru_own->used)
				lru_own = x;
		}
	}
	/* a non-root uid makes room among its own first */
	if (uid != 0 && own >= WARDD_TXN_PER_UID && lru_own != NULL)
		free_slot = lru_own;
	if (free_slot == NULL)
		free_slot = lru;
	if (free_slot == NULL)
		return NULL;        /* every slot busy: WARDD_TXN_MAX > connections */
	if (free_slot->token[0] != '\0')
		txn_drop(free_slot);
	x = free_slot;
	if (secret_random(raw, sizeof(raw)) != 0 || (x->t = flow_txn_new()) == NULL) {
		ward_wipe(raw, sizeof(raw));
		return NULL;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(x->token + 2 * i, 3, "%02x", raw[i]);
	ward_wipe(raw, sizeof(raw));
	x->uid = uid;
	x->used = now;
	x->busy = 1;
	return x;
}

/* ---- the conversation, relayed ---- */

static void
relay_say(void *ctx, int style, const char *text)
{
	struct relay *rl = ctx;
	char *copy;

	if (rl->nmsg >= WIRE_MAX_MESSAGES || (copy = strndup(text, 1024)) == NULL) {
		rl->overflow++;
		return;
	}
	rl->style[rl->nmsg] = style == FLOW_ERROR ? 'E' : 'I';
	rl->msg[rl->nmsg++] = copy;
	rl->style[rl->nmsg] = '\0';
}

static int
relay_setenv(void *ctx, const char *name, const char *value)
{
	struct relay *rl = ctx;
	char *line = NULL;

	if (rl->nenv >= WIRE_MAX_ENV)
		return -1;
	if (value == NULL)
		line = strdup(name);
	else if (asprintf(&line, "%s=%s", name, value) < 0)
		line = NULL;
	if (line == NULL)
		return -1;
	rl->env[rl->nenv++] = line;
	return 0;
}

/* Put the messages waiting in RL into M, and forget them. */
static void
put_messages(struct relay *rl, struct wire_msg *m)
{
	for (size_t i = 0; i < rl->nmsg; i++) {
		(void)wire_put_str(m, WT_MESSAGE, rl->msg[i]);
		free(rl->msg[i]);
		rl->msg[i] = NULL;
	}
	if (rl->nmsg > 0)
		(void)wire_put_str(m, WT_STYLES, rl->style);
	rl->nmsg = 0;
	rl->style[0] = '\0';
}

/* Wait until the client's reply can be read: 0, WARD_ERR_TIMEOUT (nobody
 * typed within WARDD_TYPING_MS), WARD_ERR_CLOSED (wardd stops) or
 * WARD_ERR_IO. */
static int
wait_reply(const struct relay *rl)
{
	struct pollfd p[2] = { { rl->fd, POLLIN, 0 }, { rl->d->stop_fd, POLLIN, 0 } };
	struct timespec dl;
	int left, k;

	wire_deadline(&dl, WARDD_TYPING_MS);
	for (;;) {
		if ((left = wire_remaining_ms(&dl)) == 0)
			return WARD_ERR_TIMEOUT;
		k = poll(p, 2, left);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return WARD_ERR_IO;
		if (k == 0)
			continue;
		if (p[1].revents != 0)
			return WARD_ERR_CLOSED;
		return 0;
	}
}

/*
 * The store's commit of the phase's last record, when the flow left it for
 * after the answer (state_defer_recorded_commit; its record is already in
 * the synced log).  Before the engine is let go, by this thread: the
 * transaction and its lock are this thread's.
 */
static void
settle(struct relay *rl)
{
	struct state *st = rl->g->c.st;
	long age, idle;

	rl->g->c.commit_after_answer = 0;
	if (st != NULL) {
		state_defer_recorded_commit(st, 0);
		(void)state_recorded_commit(st);
		/* What is pending (state_keep_recorded_pending) is committed by
		 * the loop once the engine has been idle a moment (wardd_flush:
		 * after a login's last phase, or while a person types); here
		 * when phases have kept the engine busy since
		 * WARDD_FLUSH_MAX_MS. */
		if (state_pending(st, &age, &idle) && age >= WARDD_FLUSH_MAX_MS)
			(void)state_flush_pending(st);
	}
}

/*
 * The flow asks: send ASK (with the messages so far), let go of the engine
 * while the person types, and take it again.  Returns the answer (the
 * engine wipes it) or NULL.
 */
static char *
relay_ask(void *ctx, int echo, const char *prompt)
{
	struct relay *rl = ctx;
	struct wardd *d = rl->d;
	struct wire_msg m, rep;
	struct timespec dl;
	const char *a;
	char *ans = NULL;
	int r;

	if (rl->broken)
		return NULL;
	wire_msg_init(&m, WIRE_ASK);
	wire_msg_init(&rep, WIRE_REPLY);
	put_messages(rl, &m);
	(void)wire_put_str(&m, WT_PROMPT, prompt);
	(void)wire_put_bool(&m, WT_ECHO, echo != 0);
	settle(rl);
	wardd_gen_leave(d, rl->g);
	pthread_mutex_unlock(&d->lock);

	wire_deadline(&dl, WARDD_IO_MS);
	r = wire_send(rl->fd, &m, &dl);
	wire_msg_wipe(&m);
	if (r == 0)
		r = wait_reply(rl);
	if (r == 0) {
		wire_deadline(&dl, WARDD_IO_MS);
		r = wire_recv(rl->fd, &rep, &dl);
	}
	if (r == 0 && rep.type != WIRE_REPLY)
		r = WARD_ERR_PROTO;
	if (r == 0 && (a = wire_get_str(&rep, WT_ANSWER)) != NULL && (ans = strdup(a)) == NULL)
		r = WARD_ERR_NOMEM;
	wire_msg_wipe(&rep);

	pthread_mutex_lock(&d->lock);
	wardd_gen_enter(d, rl->g);
	rl->g->c.commit_after_answer = 1;
	if (r != 0) {
		rl->broken = 1;
		ward_log(r == WARD_ERR_NOMEM ? LOG_ERR : LOG_INFO, "%s (%s): no more questions "
		    "in this phase", r == WARD_ERR_NOMEM ? "a question could not be relayed" :
		    "a client's answer did not come", r == WARD_ERR_CLOSED ?
		    "wardd is stopping" : ward_strerror(r));
	}
	return ans;
}

/* ---- one phase ---- */

static int
run_flow(uint32_t phase, struct flow_txn *t, const struct flow_req *rq,
    const struct flow_conv *cv, time_t now)
{
	switch (phase) {
	case WIRE_PH_AUTH: return flow_authenticate(t, rq, cv, now);
	case WIRE_PH_ACCOUNT: return flow_account(t, rq, cv, now);
	case WIRE_PH_OPEN_SESSION: return flow_open_session(t, rq, cv, now);
	case WIRE_PH_CLOSE_SESSION: return flow_close_session(t, rq, cv, now);
	default: return 0;
	}
}

/* Send RESULT (or, when it cannot be built, an error) to the client,
 * waiting at most MS for room on the socket. */
static void
send_result(struct relay *rl, int result, const char *token, int ms)
{
	struct wire_msg m;
	struct timespec dl;

	wire_msg_init(&m, WIRE_RESULT);
	(void)wire_put_u32(&m, WT_RESULT, (uint32_t)(result > 0 ? result : 0));
	put_messages(rl, &m);
	for (size_t i = 0; i < rl->nenv; i++)
		(void)wire_put_str(&m, WT_ENV, rl->env[i]);
	(void)wire_put_str(&m, WT_TXN, token);
	if (m.err != 0) {
		ward_log(LOG_ERR, "a phase's result does not fit the protocol (%s); the "
		    "client denies", ward_strerror(m.err));
		wire_msg_wipe(&m);
		(void)wire_error(&m, WARD_ERR_INTERNAL, "result does not fit the protocol");
	}
	wire_deadline(&dl, ms);
	if (!rl->broken && wire_send(rl->fd, &m, &dl) != 0)
		ward_log(LOG_INFO, "a phase's result could not be sent: the client is gone "
		    "or does not read");
	wire_msg_wipe(&m);
}

static void
send_error(int fd, int code, const char *text)
{
	struct wire_msg m;
	struct timespec dl;

	if (wire_error(&m, code, text) == 0) {
		wire_deadline(&dl, WARDD_IO_MS);
		if (wire_send(fd, &m, &dl) != 0)
			ward_log(LOG_INFO, "an error could not be sent: the client is gone");
	}
	wire_msg_wipe(&m);
}

void
phase_run(struct phase_job *j)
{
	struct wardd *d = j->d;
	struct relay rl = { .d = d, .fd = j->fd };
	struct flow_conv cv = { &rl, relay_say, relay_ask, relay_setenv };
	struct flow_req rq;
	struct wardd_txn *x;
	char token[WIRE_TOKEN_HEX + 1] = "";
	uint32_t phase = 0, flags = 0;
	int result = 0;

	wardd_log_thread_init();
	(void)wire_get_u32(&j->req, WT_PHASE, &phase);
	(void)wire_get_u32(&j->req, WT_FLAGS, &flags);
	memset(&rq, 0, sizeof(rq));
	rq.user = wire_get_str(&j->req, WT_USER);
	rq.service = wire_get_str(&j->req, WT_SERVICE);
	rq.rhost = wire_get_str(&j->req, WT_RHOST);
	rq.tty = wire_get_str(&j->req, WT_TTY);
	rq.authtok = wire_get_str(&j->req, WT_AUTHTOK);
	rq.prompt = wire_get_str(&j->req, WT_PROMPT);
	if (rq.prompt == NULL)
		rq.prompt = DEFAULT_PROMPT;
	rq.use_first_pass = (flags & WIRE_F_USE_FIRST_PASS) != 0;
	rq.try_first_pass = (flags & WIRE_F_TRY_FIRST_PASS) != 0;
	rq.silent = (flags & WIRE_F_SILENT) != 0;

	pthread_mutex_lock(&d->lock);
	if ((x = txn_take(d, wire_get_str(&j->req, WT_TXN), j->peer.uid)) == NULL) {
		pthread_mutex_unlock(&d->lock);
		ward_log(LOG_ERR, "no transaction could be made for a %s phase of %s; denying",
		    rq.service, rq.user);
		send_error(j->fd, WARD_ERR_NOMEM, NULL);
		goto done;
	}
	rl.g = wardd_gen_pin(d);
	wardd_gen_enter(d, rl.g);
	rl.g->c.st_err = 0;         /* each phase may try the store again, once */
	rl.g->c.commit_after_answer = 1;
	flow_txn_bind(x->t, &rl.g->c);
	result = run_flow(phase, x->t, &rq, &cv, time(NULL));
	memcpy(token, x->token, sizeof(token));
	x->busy = 0;
	x->used = mono_s();
	if (phase == WIRE_PH_CLOSE_SESSION)
		txn_drop(x);
	if (rl.overflow > 0)
		ward_log(LOG_WARNING, "%d message or variable line(s) of a phase left out",
		    rl.overflow);
	/* The answer first, then the store's commit (settle): the record
	 * that proves the answer is already in the synced log.  Sent with the
	 * engine held, so only briefly: a result fits the socket's buffer, and
	 * a client that leaves no room for it in WARDD_RESULT_MS is cut off. */
	send_result(&rl, result, token, WARDD_RESULT_MS);
	settle(&rl);
	wardd_gen_leave(d, rl.g);
	wardd_gen_put(rl.g);
	pthread_mutex_unlock(&d->lock);
done:
	for (size_t i = 0; i < rl.nmsg; i++)
		free(rl.msg[i]);
	for (size_t i = 0; i < rl.nenv; i++)
		free(rl.env[i]);
	ward_wipe(token, sizeof(token));
	wire_msg_wipe(&j->req);
	{
		/* The loop closes the connection: the slot goes on the done list
		 * (under its own lock: the loop never waits for engine work), and a byte on the pipe wakes the loop.  A
		 * wake-up that cannot be written is no loss: the loop also looks
		 * at the list at least every WARDD_REAP_MS while workers run. */
		unsigned char one = 1;
		ssize_t n;

		pthread_mutex_lock(&d->done_lock);
		d->done[d->ndone++] = j->slot;
		pthread_mutex_unlock(&d->done_lock);
		do
			n = write(d->done_fd[1], &one, 1);
		while (n < 0 && errno == EINTR);
	}
	free(j);
}

int
phase_start(struct wardd *d, const struct peer *p, struct wire_msg *req, int fd,
    unsigned slot)
{
	struct phase_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return WARD_ERR_BUSY;
	j->d = d;
	j->peer = *p;
	j->req = *req;               /* the buffer moves to the job */
	j->fd = fd;
	j->slot = slot;
	if (workers_run(j) != 0) {
		free(j);
		return WARD_ERR_BUSY;
	}
	req->buf = NULL;
	req->nfields = 0;
	req->used = 0;
	req->cap = 0;
	return 0;
}
