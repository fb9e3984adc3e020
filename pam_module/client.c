/*
 * client.c - one login phase with wardd, the client side.  Rules in
 * client.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

#define CONNECT_RETRY_MS 10          /* wardd's backlog is full: try again */

/* Move DL later by the time since T0 (spent in the conversation). */
static void
extend(struct timespec *dl, const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	dl->tv_sec += t1.tv_sec - t0->tv_sec;
	dl->tv_nsec += t1.tv_nsec - t0->tv_nsec;
	while (dl->tv_nsec < 0) {
		dl->tv_nsec += 1000000000L;
		dl->tv_sec--;
	}
	while (dl->tv_nsec >= 1000000000L) {
		dl->tv_nsec -= 1000000000L;
		dl->tv_sec++;
	}
}

/* A connected socket to PATH, or -1 with ERR. */
static int
connect_to(const char *path, const struct timespec *dl, int *code, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long");
		*code = WARD_ERR_INVAL;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		*code = WARD_ERR_IO;
		return -1;
	}
	for (;;) {
		struct timespec pause = { 0, CONNECT_RETRY_MS * 1000000L };

		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		if (errno == EINTR)
			continue;
		/* a unix socket's full backlog: EAGAIN at once, never EINPROGRESS */
		if (errno != EAGAIN || wire_remaining_ms(dl) == 0)
			break;
		nanosleep(&pause, NULL);
	}
	snprintf(err, errlen, "cannot connect: %s", errno == EAGAIN ?
	    "wardd's queue stayed full" : strerror(errno));
	*code = errno == EAGAIN ? WARD_ERR_TIMEOUT : WARD_ERR_UNAVAIL;
	close(fd);
	return -1;
}

/* Show the messages of M.  0, or WARD_ERR_PROTO when their styles do not
 * match them one for one. */
static int
show(const struct wire_msg *m, const struct client_conv *cv)
{
	size_t n = wire_count(m, WT_MESSAGE);
	const char *styles = wire_get_str(m, WT_STYLES);

	if (n == 0)
		return styles == NULL ? 0 : WARD_ERR_PROTO;
	if (styles == NULL || strlen(styles) != n || strspn(styles, "EI") != n)
		return WARD_ERR_PROTO;
	for (size_t i = 0; i < n; i++)
		cv->say(cv->ctx, styles[i] == 'E', wire_get_str_at(m, WT_MESSAGE, i));
	return 0;
}

static int
send_request(int fd, const struct client_req *rq, const struct timespec *dl)
{
	struct wire_msg m;
	int r;

	wire_msg_init(&m, WIRE_PHASE);
	(void)wire_put_u32(&m, WT_PHASE, rq->phase);
	(void)wire_put_str(&m, WT_USER, rq->user);
	(void)wire_put_str(&m, WT_SERVICE, rq->service);
	if (rq->rhost != NULL && *rq->rhost != '\0')
		(void)wire_put_str(&m, WT_RHOST, rq->rhost);
	if (rq->tty != NULL && *rq->tty != '\0')
		(void)wire_put_str(&m, WT_TTY, rq->tty);
	if (rq->authtok != NULL)
		(void)wire_put_str(&m, WT_AUTHTOK, rq->authtok);
	if (rq->prompt != NULL)
		(void)wire_put_str(&m, WT_PROMPT, rq->prompt);
	if (rq->flags != 0)
		(void)wire_put_u32(&m, WT_FLAGS, rq->flags);
	if (rq->token != NULL)
		(void)wire_put_str(&m, WT_TXN, rq->token);
	r = wire_send(fd, &m, dl);
	wire_msg_wipe(&m);
	return r;
}

/* Ask what ASK asks, and send the REPLY. */
static int
answer(int fd, const struct wire_msg *ask, const struct client_conv *cv,
    struct timespec *dl)
{
	struct wire_msg m;
	struct timespec t0;
	const char *prompt = wire_get_str(ask, WT_PROMPT);
	char *typed;
	int echo = 0, r;

	(void)wire_get_bool(ask, WT_ECHO, &echo);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	typed = cv->ask(cv->ctx, echo, prompt != NULL ? prompt : "");
	extend(dl, &t0);
	wire_msg_init(&m, WIRE_REPLY);
	if (typed != NULL && wire_put_str(&m, WT_ANSWER, typed) != 0) {
		/* too long or not UTF-8: no answer, as if none was given */
		wire_msg_wipe(&m);
		wire_msg_init(&m, WIRE_REPLY);
	}
	ward_free_str_secret(typed);
	r = wire_send(fd, &m, dl);
	wire_msg_wipe(&m);
	return r;
}

/* Apply the session variables of RESULT M: all of them after a success;
 * after anything else only the removals (no variable of a session that was
 * not opened is set). */
static int
apply_env(const struct wire_msg *m, const struct client_conv *cv, int success)
{
	size_t n = wire_count(m, WT_ENV);
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		const char *line = wire_get_str_at(m, WT_ENV, i);

		if (!success && strchr(line, '=') != NULL)
			continue;
		if (cv->setenv(cv->ctx, line) != 0)
			r = -1;
	}
	return r;
}

int
client_phase(const char *socket, const struct client_req *rq, const struct client_conv *cv,
    int *result, char token[WIRE_TOKEN_HEX + 1], char *err, size_t errlen)
{
	struct wire_msg m;
	struct timespec dl;
	int fd, r = 0, code = 0;

	*result = 0;
	token[0] = '\0';
	err[0] = '\0';
	wire_deadline(&dl, CLIENT_BOUND_MS);
	if ((fd = connect_to(socket, &dl, &code, err, errlen)) < 0)
		return code;
	if ((r = send_request(fd, rq, &dl)) != 0) {
		snprintf(err, errlen, "sending the request: %s", ward_strerror(r));
		close(fd);
		return r;
	}
	for (;;) {
		if ((r = wire_recv(fd, &m, &dl)) != 0) {
			snprintf(err, errlen, "waiting for wardd: %s", ward_strerror(r));
			wire_msg_wipe(&m);
			break;
		}
		if (m.type == WIRE_ASK) {
			if ((r = show(&m, cv)) == 0 && (r = answer(fd, &m, cv, &dl)) != 0)
				snprintf(err, errlen, "sending an answer: %s", ward_strerror(r));
			else if (r != 0)
				snprintf(err, errlen, "an ASK whose messages and styles differ");
			wire_msg_wipe(&m);
			if (r != 0)
				break;
			continue;
		}
		if (m.type == WIRE_RESULT) {
			const char *t = wire_get_str(&m, WT_TXN);
			uint32_t res = 0;

			if ((r = show(&m, cv)) != 0) {
				snprintf(err, errlen, "a RESULT whose messages and styles differ");
			} else {
				(void)wire_get_u32(&m, WT_RESULT, &res);
				/* variables that cannot be set fail a session opening */
				if (apply_env(&m, cv, res == WIRE_R_SUCCESS) != 0 &&
				    res == WIRE_R_SUCCESS)
					res = WIRE_R_SESSION_ERR;
				*result = (int)res;
				snprintf(token, WIRE_TOKEN_HEX + 1, "%s", t != NULL ? t : "");
			}
		} else if (m.type == WIRE_ERROR) {
			int64_t c = WARD_ERR_PROTO;

			(void)wire_get_i64(&m, WT_ERR_CODE, &c);
			snprintf(err, errlen, "wardd refused: %s", wire_get_str(&m, WT_ERR_TEXT));
			r = c < 0 && c >= WARD_ERR_LAST ? (int)c : WARD_ERR_PROTO;
		} else {
			snprintf(err, errlen, "an answer of an unexpected type (%s)",
			    wire_type_name(m.type));
			r = WARD_ERR_PROTO;
		}
		wire_msg_wipe(&m);
		break;
	}
	close(fd);
	return r;
}
