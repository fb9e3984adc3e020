/*
 * flow_int.h - what the engine's files (flow.c, flow_bg.c) share; not
 * for callers of the engine (flow.h).
 */
#ifndef WARD_FLOW_INT_H
#define WARD_FLOW_INT_H

#include "core.h"
#include "dir.h"
#include "flow.h"

/* What one transaction remembers between auth, account and session. */
struct flow_txn {
	struct core *c;              /* the caller's, bound for each phase */
	char user[DIR_USER_MAX + 1]; /* whose roles W holds */
	struct core_who w;
	int resolved;
	uint64_t resolved_gen;       /* c->gen when W was resolved: W points into
	                              * that generation's policy */
	enum audit_fac factor;       /* second factor verified in this transaction */
	char factor_user[DIR_USER_MAX + 1];  /* ... and for whom */
	int break_glass;             /* emergency access granted by account */
	char bg_user[DIR_USER_MAX + 1];  /* ... to whom */
	char bg_service[257];        /* ... for which PAM service (WT_SERVICE's cap) */
	long bg_session_max;         /* seconds */
};

/* Show a message (nothing when the request is silent). */
void flow_say(const struct flow_req *rq, const struct flow_conv *cv, int style,
    const char *fmt, ...) WARD_PRINTF(4, 5);

/* One audit record for this transaction (core_record); DECIDED adds the
 * roles.  0 when written; otherwise logged, and the caller must deny. */
int flow_record(struct flow_txn *t, const struct flow_req *rq, const struct core_rec *rc,
    int decided);

/* The second factor verified in this transaction for USER (AUDIT_FAC_ABSENT:
 * none). */
enum audit_fac flow_factor(const struct flow_txn *t, const char *user);
void flow_set_factor(struct flow_txn *t, const char *user, enum audit_fac factor);

/* The code, always asked (never an earlier module's token): a malloc'd
 * copy the caller wipes, or NULL. */
char *flow_ask_code(const struct flow_txn *t, const struct flow_req *rq,
    const struct flow_conv *cv);

/* Verify CODE for the request's user; tells the user the outcome.  On
 * WIRE_R_SUCCESS *FACTOR says which factor passed. */
int flow_check_code(struct flow_txn *t, const struct flow_req *rq,
    const struct flow_conv *cv, const char *code, time_t now, enum audit_fac *factor) WARD_WUR;

/* Break-glass for a denied, resolved user (flow_bg.c): WIRE_R_SUCCESS when
 * emergency access is granted and recorded; WIRE_R_PERM_DENIED otherwise. */
int flow_break_glass(struct flow_txn *t, const struct flow_req *rq,
    const struct flow_conv *cv, const struct policy_decision *d, time_t now) WARD_WUR;

#endif
