/*
 * flow.h - the login-flow engine: what happens in the auth, account and
 * session phases of a pam_ward login, with no PAM in it.  wardd's
 * phase.c gives it the request of one phase and a conversation relayed
 * to the module; the engine asks, decides, verifies, records and answers
 * with one of the protocol's WIRE_R_* results, which the module turns
 * into a PAM code.
 *
 * Rules it keeps (behaviour: pam_ward(8)):
 *  - Every flow starts from a denying result; only a decided, recorded
 *    positive answer is WIRE_R_SUCCESS.  A result the caller does not know
 *    must be mapped to a denial.
 *  - A positive answer is only given once its audit record is written.
 *  - Unknown, unenrolled and enrolled users see the same prompt; the code
 *    is read before anything about the user is revealed.
 *  - Codes and reasons typed by the user are wiped before they are freed
 *    and never reach a log (ward_log, the process's sink).
 *  - The engine waits on nothing but its conversation callbacks, the
 *    state store and the directory.
 */
#ifndef WARD_FLOW_H
#define WARD_FLOW_H

#include <time.h>

#include "ward.h"
#include "wire.h"

struct core;

/* Results: the protocol's (lib/wire.h, enum wire_result), which the
 * module turns into PAM codes.  0 is no result: like every value not
 * listed, a denial. */

/* Message styles for flow_conv.say. */
enum flow_style {
	FLOW_ERROR = 1,
	FLOW_INFO
};

/* How the engine talks to the person at the workstation. */
struct flow_conv {
	void *ctx;
	/* Show TEXT (FLOW_ERROR or FLOW_INFO).  Never fails the flow. */
	void (*say)(void *ctx, int style, const char *text);
	/* Ask PROMPT, echoing the answer when ECHO.  Returns a malloc'd answer
	 * that the engine wipes and frees, or NULL (no answer: the
	 * conversation failed or the person declined). */
	char *(*ask)(void *ctx, int echo, const char *prompt);
	/* Set NAME=VALUE in the session's environment; VALUE NULL removes
	 * NAME (nothing to remove is no error).  0, or -1 when not set. */
	int (*setenv)(void *ctx, const char *name, const char *value);
};

/* One phase's request.  The strings belong to the caller. */
struct flow_req {
	const char *user, *service;  /* never NULL */
	const char *rhost, *tty;     /* for the audit record; NULL: unknown */
	const char *authtok;         /* a token an earlier module left, or NULL */
	int use_first_pass;          /* the code is AUTHTOK; none there denies */
	int try_first_pass;          /* AUTHTOK when it has a code's shape */
	int silent;                  /* say nothing (questions are still asked) */
	const char *prompt;          /* the code's prompt */
};

/* One transaction (login): ward.conf and the policy loaded once, roles
 * resolved once, the factor verified and any break-glass granted, kept
 * between the phases. */
struct flow_txn;

/* A new transaction, on the core its caller (wardd) loads, keeps and
 * shares: before each phase the caller binds it (flow_txn_bind) to the
 * core in force, which must stay loaded until the phase returns.  A core
 * of another generation (struct core's gen) than the one the
 * transaction's roles were resolved with resolves them again.  NULL: out
 * of memory. */
struct flow_txn *flow_txn_new(void) WARD_WUR;
void flow_txn_bind(struct flow_txn *t, struct core *c) WARD_NONNULL(1, 2);
/* Free T (NULL is fine); its core is the caller's. */
void flow_txn_free(struct flow_txn *t);

/*
 * The phases.  Each returns a WIRE_R_* result; NOW is the time of the
 * request.  Whether the caller may run the phase at all (a peer without
 * root: its own user, auth and account only) is checked before.
 */
/* auth: decide; ask for and verify the code unless a grace or the rule
 * spares it. */
int flow_authenticate(struct flow_txn *t, const struct flow_req *rq,
    const struct flow_conv *cv, time_t now) WARD_WUR WARD_NONNULL(1, 2, 3);
/* account: the policy's decision, the code when the decision needs one
 * that this transaction has not verified, break-glass where it applies. */
int flow_account(struct flow_txn *t, const struct flow_req *rq,
    const struct flow_conv *cv, time_t now) WARD_WUR WARD_NONNULL(1, 2, 3);
/* open_session: record the session and export its obligations
 * (WARD_ROLES, WARD_IDLE_LOGOFF, WARD_SESSION_MAX, WARD_BREAK_GLASS). */
int flow_open_session(struct flow_txn *t, const struct flow_req *rq,
    const struct flow_conv *cv, time_t now) WARD_WUR WARD_NONNULL(1, 2, 3);
/* close_session: record the end of the session. */
int flow_close_session(struct flow_txn *t, const struct flow_req *rq,
    const struct flow_conv *cv, time_t now) WARD_WUR WARD_NONNULL(1, 2, 3);

#endif
