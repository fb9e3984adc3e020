/*
 * audit_names.h - the names of audit events, results and factors, each
 * defined once (a table), with the enum a record is built from and the
 * lookups both ways.  The names are what records say (wardctl(8), AUDIT):
 * a reader of the log matches them, so an entry is never renamed.
 */
#ifndef WARD_AUDIT_NAMES_H
#define WARD_AUDIT_NAMES_H

/* X(ENUM_SUFFIX, "name in the record") */
#define AUDIT_EVENTS(X) \
	X(AUTH, "auth") \
	X(ACCOUNT, "account") \
	X(SESSION_OPEN, "session_open") \
	X(SESSION_CLOSE, "session_close") \
	X(BREAKGLASS, "breakglass") \
	X(LOCKOUT, "lockout") \
	X(ADMIN, "admin") \
	X(HEAD, "head") \
	X(FLEET_SYNC, "fleet_sync")

#define AUDIT_RESULTS(X) \
	X(SUCCESS, "success") \
	X(FAILURE, "failure") \
	X(ALLOW, "allow") \
	X(DENY, "deny") \
	X(GRANTED, "granted") \
	X(REFUSED, "refused") \
	X(LOCKED, "locked") \
	X(OK, "ok") \
	X(REPLAY_SUSPECTED, "replay_suspected") \
	X(SUPERSEDED, "superseded") \
	X(FAILED, "failed")

/* ABSENT (first, so a zeroed record has it) is written as null; NONE is
 * the factor "none" (no second factor was required). */
#define AUDIT_FACTORS(X) \
	X(ABSENT, NULL) \
	X(TOTP, "totp") \
	X(RECOVERY, "recovery") \
	X(GRACE, "grace") \
	X(NONE, "none")

#define AUDIT_ENUM_EV(id, name) AUDIT_EV_##id,
#define AUDIT_ENUM_RES(id, name) AUDIT_RES_##id,
#define AUDIT_ENUM_FAC(id, name) AUDIT_FAC_##id,
/* (Not enum audit_event: that tag is the record struct's.) */
enum audit_ev { AUDIT_EVENTS(AUDIT_ENUM_EV) AUDIT_EV_COUNT };
enum audit_res { AUDIT_RESULTS(AUDIT_ENUM_RES) AUDIT_RES_COUNT };
enum audit_fac { AUDIT_FACTORS(AUDIT_ENUM_FAC) AUDIT_FAC_COUNT };
#undef AUDIT_ENUM_EV
#undef AUDIT_ENUM_RES
#undef AUDIT_ENUM_FAC

/* The record's name of E; NULL for a value outside the table (and for
 * AUDIT_FAC_ABSENT, written as null). */
const char *audit_event_name(enum audit_ev e);
const char *audit_result_name(enum audit_res r);
const char *audit_factor_name(enum audit_fac f);

/* The enum value named NAME (exact, case-sensitive); -1 when NAME is NULL
 * or not in the table.  audit_factor_from(NULL) is AUDIT_FAC_ABSENT. */
int audit_event_from(const char *name);
int audit_result_from(const char *name);
int audit_factor_from(const char *name);

#endif
