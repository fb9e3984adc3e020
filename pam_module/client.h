/*
 * client.h - the client side of one login phase with wardd (lib/wire.h:
 * PHASE, then ASK/REPLY, then RESULT), with no PAM in it: pam_ward.c
 * gives it the request and a conversation; tests drive it directly.
 *
 * Rules it keeps:
 *  - the exchange is bounded by CLIENT_BOUND_MS in all, not counting the
 *    time spent in the conversation (a person typing);
 *  - only a complete, well-formed RESULT is an answer: anything else
 *    (no daemon, a timeout, a broken frame, an ERROR) is an error, and
 *    the caller denies;
 *  - the answer typed by the person and the earlier module's token are
 *    wiped once sent;
 *  - the socket is made close-on-exec and closed before returning.
 */
#ifndef WARD_CLIENT_H
#define WARD_CLIENT_H

#include <stdint.h>

#include "wire.h"

#define CLIENT_BOUND_MS 5000
#define CLIENT_DEFAULT_SOCKET "/run/ward/wardd.sock"

/* How the client talks to the person (the caller's conversation). */
struct client_conv {
	void *ctx;
	/* Show TEXT, an error (ERROR 1) or information. */
	void (*say)(void *ctx, int error, const char *text);
	/* Ask PROMPT (echoing when ECHO): a malloc'd answer that the client
	 * wipes and frees, or NULL (no answer). */
	char *(*ask)(void *ctx, int echo, const char *prompt);
	/* Set the session variable LINE ("NAME=VALUE"), or unset "NAME".
	 * 0, or -1 when it could not be done. */
	int (*setenv)(void *ctx, const char *line);
};

struct client_req {
	uint32_t phase;              /* enum wire_phase */
	const char *user, *service;  /* never NULL */
	const char *rhost, *tty, *authtok, *prompt;   /* NULL: none */
	uint32_t flags;              /* WIRE_F_* */
	const char *token;           /* an earlier phase's transaction, or NULL */
};

/*
 * Run RQ with wardd at SOCKET.  On 0, *RESULT is the WIRE_R_* result (or
 * any other number: the caller denies) and TOKEN (WIRE_TOKEN_HEX + 1
 * bytes) the transaction to send with the next phase.  Otherwise a
 * negative WARD_ERR_* with ERR saying what went wrong (for the log):
 * WARD_ERR_UNAVAIL (no wardd listening), WARD_ERR_TIMEOUT, WARD_ERR_PROTO,
 * WARD_ERR_CLOSED, WARD_ERR_IO, or the code of wardd's ERROR answer
 * (WARD_ERR_PERM: this caller may not ask that).
 */
int client_phase(const char *socket, const struct client_req *rq,
    const struct client_conv *cv, int *result, char token[WIRE_TOKEN_HEX + 1],
    char *err, size_t errlen);

#endif
