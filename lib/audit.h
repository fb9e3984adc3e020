/*
 * audit.h - the tamper-evident audit trail (DESIGN.md "Audit record").
 *
 * Rules it keeps:
 *  - One JSON object per line: seq, ts (UTC, ms), host, service, user,
 *    event, result, rule, reason, roles, factor, policy_version, offline,
 *    rhost, tty, pid, detail, prev, mac - always in this order.
 *  - mac = HMAC-SHA-256 under audit.key over the line's bytes up to and
 *    including the prev field (everything before ,"mac":), so any edit of
 *    any field breaks it; prev is the previous record's mac (64 '0's at the
 *    very start), so deletion, reordering and insertion break the chain.
 *  - Appends are serialised by the state store's write lock, which also
 *    keeps the head (last seq and mac): cutting records off the end is
 *    detected by comparing the file's tail with the head.
 *  - A record is written with one write(2); a short write (disk full, file
 *    size limit) is cut back off the file, so no torn record stays, and the
 *    caller gets WARD_ERR_AUDIT and must deny.
 *  - Rotation (logrotate create) needs nothing special: the next record in
 *    the new file chains from the head's mac.
 *  - A copy of each record goes to syslog (LOG_AUTHPRIV; LOG_ALERT for
 *    break-glass) when audit.syslog is set.  No secret or code is ever a
 *    field of a record.
 */
#ifndef WARD_AUDIT_H
#define WARD_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "ward.h"

#define AUDIT_LINE_MAX 8192

struct audit_event {
	const char *event;           /* auth, account, breakglass, lockout, session_open,
	                                session_close, admin */
	const char *result;          /* success, failure, allow, deny, granted, refused */
	const char *service;
	const char *user;
	const char *rule;
	const char *reason;
	const char *const *roles;    /* effective roles */
	size_t nroles;
	const char *factor;          /* totp, recovery, grace, none */
	const char *policy_version;
	int offline;                 /* 1 decided on cached roles; 0 no; -1 not applicable */
	const char *rhost;
	const char *tty;
	const char *detail;          /* admin action, break-glass reason, ... */
};

/*
 * Append EV to the log of CONF (audit.path, audit.key_file, state_dir).
 * Returns 0 when the record is in the file (and fsync'd when configured)
 * and the head is committed; otherwise WARD_ERR_AUDIT (or another error)
 * with the reason in ERR - the caller must then deny.
 */
int audit_append(const struct ward_conf *conf, const struct audit_event *ev,
    char *err, size_t errlen) WARD_WUR;

/* A parsed record (strings owned; free with audit_record_free). */
struct audit_record {
	uint64_t seq;
	char *ts, *host, *service, *user, *event, *result, *rule, *reason, *roles,
	    *factor, *policy_version, *rhost, *tty, *detail;
	int offline;                 /* -1 null */
	long long pid;
	char prev[65], mac[65];
	size_t mac_offset;           /* bytes of the line covered by the mac */
};

/* Parse one line (without its newline).  0 or WARD_ERR_PARSE with what is
 * wrong in ERR.  ROLES comes back comma-joined. */
int audit_parse_line(const char *line, size_t len, struct audit_record *r,
    char *err, size_t errlen) WARD_WUR;
void audit_record_free(struct audit_record *r);

/*
 * Verify FILES (oldest first) with the key in KEY_FILE.  When STATE_DIR is
 * not NULL, the last record must also match the store's head (a cut tail is
 * detected).  Returns 0 when everything holds; WARD_ERR_CORRUPT when a
 * record fails, with "FILE:LINE: seq N: what is wrong" in PROBLEM; another
 * error when the files or key cannot be read.  *RECORDS counts good records.
 */
int audit_verify(const char *key_file, const char *const *files, size_t nfiles,
    const char *state_dir, uint64_t *records, char *problem, size_t plen) WARD_WUR;

/* Iterate the records of FILES in order: FN gets each parsed record (0 to
 * go on).  Lines that do not parse are reported through ERR and stop it. */
typedef int (*audit_each_fn)(void *ctx, const struct audit_record *r);
int audit_each(const char *const *files, size_t nfiles, audit_each_fn fn, void *ctx,
    char *err, size_t errlen) WARD_WUR;

#endif
