/*
 * audit.h - the tamper-evident audit trail (records: wardctl(8), AUDIT).
 *
 * Rules it keeps:
 *  - One JSON object per line: seq, ts (UTC, ms), host, service, user,
 *    event, result, rule, reason, roles, factor, policy_version, offline,
 *    rhost, tty, pid, detail, prev, mac - always in this order, no spaces.
 *    Strings are escaped for JSON (quote, backslash, every control byte);
 *    bytes that are not UTF-8 are written as lone surrogates \udc80..\udcff
 *    (Python's "surrogateescape"), so every byte survives a round trip.
 *  - mac = HMAC-SHA-256 under audit.key over the line's bytes up to and
 *    including the prev field (everything before ,"mac":), so any edit of
 *    any field breaks it; prev is the previous record's mac (64 '0's at the
 *    very start), so deletion, reordering and insertion break the chain.
 *  - Appends are serialised by the state store's write lock, which also
 *    keeps the head (last seq, mac and where that record ended in which
 *    file): cutting records off the end is detected by comparing the log
 *    with the head; a record written but not committed (a crash between
 *    the two) is verified and adopted by the next append.
 *  - A record is written with one write(2) under the lock; a short write
 *    (disk full, file size limit) is cut back off the file (ftruncate to
 *    the old size), so no torn record stays, and the caller gets
 *    WARD_ERR_AUDIT and must deny.
 *  - Rotation (logrotate create) needs nothing special: the log is kept
 *    open between records only while its path still names it (looked at
 *    before each record, with the checks below made again), so the next
 *    record goes to the new file and chains from the head's mac.
 *  - The log is opened O_NOFOLLOW|O_APPEND|O_CLOEXEC in a folder that must
 *    be root's and not group/world-writable; the file must be root's, a
 *    regular file with one link; its mode is set to 0600 (0640 group adm
 *    with audit.group_adm).
 *  - A copy of each record goes to syslog (LOG_AUTHPRIV; LOG_ALERT for
 *    break-glass, LOG_WARNING for lockouts and refusals) when audit.syslog
 *    is set, through syslog() without openlog (the application's own
 *    openlog stays).  No secret or code is ever a field of a record; the
 *    key is wiped when the log is closed.
 */
#ifndef WARD_AUDIT_H
#define WARD_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "audit_names.h"
#include "conf.h"
#include "state.h"
#include "ward.h"

/* Longest line a writer makes (fields are cut to stay below) and a parser
 * accepts. */
#define AUDIT_LINE_MAX 65536
#define AUDIT_MAC_HEX 64

struct audit_event {
	const char *event;           /* audit_event_name(): auth, account, ... (required) */
	const char *result;          /* audit_result_name(): success, failure, ...
	                                (required) */
	const char *service;
	const char *user;
	const char *rule;
	const char *reason;
	const char *const *roles;    /* effective roles */
	size_t nroles;
	const char *factor;          /* audit_factor_name(): totp, recovery, grace, none */
	const char *policy_version;
	int offline;                 /* 1 decided on cached roles; 0 no; -1 not applicable */
	const char *rhost;
	const char *tty;
	const char *detail;          /* admin action, break-glass reason, ... */
	const char *host;            /* NULL: this workstation (short host name) */
	int64_t ts_ms;               /* 0: now; else this time (tests, tools) */
};
/* NULL strings are written as null; over-long ones are cut and end "[...]". */

/*
 * An open log: the key (wiped at close), the state store (borrowed or
 * owned) and the settings of CONF (copied).
 */
struct audit_log;

/* (Not audit_open/audit_close: those are libaudit's, which libpam calls; a
 * program linking both would send libpam's calls here.) */

/*
 * Load audit.key and check the log folder.  ST is the caller's open store
 * (borrowed, must outlive the log) or NULL to open conf->state_dir (owned).
 * Returns 0 or WARD_ERR_* with the reason in ERR (file named).
 */
int audit_log_open(struct audit_log **log, const struct ward_conf *conf,
    struct state *st, char *err, size_t errlen) WARD_WUR;
/* Append one record.  0 when it is in the file (fsync'd when configured)
 * and the head is committed; otherwise WARD_ERR_AUDIT (or WARD_ERR_STORE)
 * with the reason in ERR - the caller must then deny.  Never call it from
 * inside a state callback (the store's write lock is not recursive). */
int audit_write(struct audit_log *log, const struct audit_event *ev, char *err,
    size_t errlen) WARD_WUR;
/* Check that a record could be written now (key, folder, file, store),
 * without writing one: for commands that refuse a change they could not
 * record.  0 or WARD_ERR_AUDIT with the reason. */
int audit_check(struct audit_log *log, char *err, size_t errlen) WARD_WUR;
/* Adopt, without writing a record, what the log holds beyond the store's
 * head (a crash between a record and its head commit): the head moves on
 * and the watermarks of adopted TOTP acceptances are raised, as the next
 * append would do.  wardd does it at start, before it answers anyone, so
 * a code accepted just before a crash is never accepted again.  0 or
 * WARD_ERR_AUDIT (ERR says why). */
int audit_adopt(struct audit_log *log, char *err, size_t errlen) WARD_WUR;
/* Wipe the key, close what the log owns.  NULL is fine. */
void audit_log_close(struct audit_log *log);

/* One-shot: audit_log_open (store opened from conf->state_dir), audit_write,
 * audit_log_close.  Returns as audit_write. */
int audit_append(const struct ward_conf *conf, const struct audit_event *ev,
    char *err, size_t errlen) WARD_WUR;
/* The same with the caller's open store ST (not NULL; borrowed). */
int audit_append_st(const struct ward_conf *conf, struct state *st,
    const struct audit_event *ev, char *err, size_t errlen) WARD_WUR;

/* A parsed record (strings owned; free with audit_record_free). */
struct audit_record {
	uint64_t seq;
	char *ts, *host, *service, *user, *event, *result, *rule, *reason,
	    *factor, *policy_version, *rhost, *tty, *detail;
	char **roles;                /* NROLES strings */
	size_t nroles;
	int offline;                 /* 1, 0, -1 null */
	long long pid;
	int64_t ts_ms;               /* ts as milliseconds since the epoch */
	char prev[AUDIT_MAC_HEX + 1], mac[AUDIT_MAC_HEX + 1];
	size_t mac_offset;           /* bytes of the line covered by the mac */
	size_t host_at, host_len;    /* the host string as written (JSON, between
	                                its quotes): bytes of the line */
	size_t event_at, event_len;  /* the event string, the same way */
	size_t detail_at, detail_len;   /* the detail string (length 0: null or "") */
};

/* Parse one line (without its newline).  Strict: exact field order and
 * types, no spaces, valid escapes, control bytes escaped, no \u0000.
 * 0 or WARD_ERR_PARSE with "byte N: what is wrong" in ERR.  On error R is
 * left empty (audit_record_free is still safe). */
int audit_parse_line(const char *line, size_t len, struct audit_record *r,
    char *err, size_t errlen) WARD_WUR;
void audit_record_free(struct audit_record *r);

/* The most roles a record may name (beyond: a parse error). */
#define AUDIT_ROLES_MAX 256
/* audit_parse_line without allocating, for a reader of many records (the
 * fleet report): the whole line is checked as by audit_parse_line, but
 * only service, user, event, result, reason, factor and roles are decoded
 * (the other strings stay NULL; ts_ms, seq and the positions are set), into
 * BUF (at least LEN + 1 bytes: no string grows when decoded), the roles
 * listed in ROLES; both stay the caller's, so R must not be given to
 * audit_record_free.  0 or WARD_ERR_PARSE (R zeroed). */
int audit_parse_view(const char *line, size_t len, struct audit_record *r, char *buf,
    char *roles[AUDIT_ROLES_MAX + 1], char *err, size_t errlen) WARD_WUR;

/* Format one record line (with its newline) into BUF for the given seq,
 * prev and key: what audit_write writes.  Returns its length, or 0 when
 * EV lacks event/result or BUF is too small.  For tests and tools. */
size_t audit_format(const struct audit_event *ev, uint64_t seq, const char *prev,
    const unsigned char *key, size_t keylen, char *buf, size_t buflen);

/* What audit_verify found first. */
enum audit_problem {
	AUDIT_OK = 0,
	AUDIT_BAD_PARSE,             /* malformed record */
	AUDIT_BAD_TRUNCATED,         /* last line cut off mid-record */
	AUDIT_BAD_MAC,               /* record edited, or another key */
	AUDIT_BAD_CHAIN,             /* prev does not match (replaced or inserted) */
	AUDIT_BAD_GAP,               /* records missing (deleted) */
	AUDIT_BAD_REORDER,           /* records out of order */
	AUDIT_BAD_DUPLICATE,         /* a record repeated */
	AUDIT_BAD_RESTART,           /* a new chain starts mid-log */
	AUDIT_BAD_FILE_ORDER,        /* rotated files given in the wrong order */
	AUDIT_BAD_CUT_TAIL,          /* the store's head is past the end of the log */
	AUDIT_BAD_HEAD,              /* the head's record differs, or no head at all */
	AUDIT_BAD_MISSING_FILE,      /* a rotated file absent from the numbering */
	AUDIT_BAD_HOST,              /* fleet: names another host than its folder's */
	AUDIT_BAD_FOREIGN            /* fleet: another host's key made its MAC (a
	                                record moved or forged from another host) */
};
/* Short name of a problem ("mac", "gap", ...). */
const char *audit_problem_name(enum audit_problem p);

struct audit_verify_result {
	uint64_t records;            /* good records before the first problem */
	uint64_t first_seq, last_seq;
	int64_t last_ts_ms;          /* the time of the record LAST_SEQ */
	/* head records (event "head", wardd(8); ward.conf(5) audit.head_interval)
	 * among the good records: the last one's seq and time (0: none), the
	 * interval its detail names (0: none named), and whether the last record
	 * of all is a head written at a clean shutdown */
	uint64_t beat_seq;
	int64_t beat_ts_ms;
	long beat_interval;
	int ends_shutdown;
	int head_checked;            /* the store's head was compared */
	uint64_t head_seq;
	enum audit_problem problem;
	char file[1024];             /* where the problem is (when one is) */
	uint64_t line, seq;          /* line 0 / seq 0: not about one record */
	char message[1024];          /* "FILE:LINE: seq N: what is wrong" */
	char note[512];              /* not a problem: e.g. the chain starts at seq K */
};

/*
 * Verify FILES (oldest first) with the key in KEY_FILE.  When STATE_DIR is
 * not NULL, the store's head is read first and the log must reach it with
 * the same mac (a cut tail is detected; records appended meanwhile are
 * fine).  The first record of the first file anchors the chain: seq 1 must
 * have prev 0...0; a later seq is accepted there (older files rotated away)
 * and said in RES->note.  Returns 0 when everything holds; WARD_ERR_CORRUPT
 * when a record fails (RES->problem, ->message); another error, with the
 * reason in RES->message, when the files, key or store cannot be read.
 */
int audit_verify(const char *key_file, const char *const *files, size_t nfiles,
    const char *state_dir, struct audit_verify_result *res) WARD_WUR;

/*
 * Iterate the records of FILES in order: FN gets each parsed record and its
 * raw line (without newline); it returns 0 to go on, anything else stops
 * and is returned.  A line that does not parse stops it with
 * WARD_ERR_PARSE and "FILE:LINE: ..." in ERR.  No MAC is checked.
 */
typedef int (*audit_each_fn)(void *ctx, const struct audit_record *r,
    const char *line, size_t len);
int audit_each(const char *const *files, size_t nfiles, audit_each_fn fn, void *ctx,
    char *err, size_t errlen) WARD_WUR;

/*
 * The log of PATH and its rotated predecessors (logrotate's numbering), as
 * found by reading PATH's folder: every PATH.N with N written in decimal
 * from 1 (no sign, no leading zero, at most AUDIT_ROT_MAX), whatever
 * numbers are absent, sorted by N.  Compressed files (PATH.N.gz, .bz2, .xz,
 * .zst) are not read, nor any file older than one of them (use
 * delaycompress, or give the files decompressed): SKIPPED counts them.
 */
#define AUDIT_ROT_MAX 999999u
struct audit_gap {
	unsigned lo, hi;             /* PATH.lo ... PATH.hi are absent */
};
struct audit_fileset {
	char *path;                  /* PATH */
	char **v;                    /* the files to read, oldest first: PATH.N ... PATH */
	unsigned *num;               /* v[i] is PATH.num[i]; 0: PATH itself */
	size_t n;
	size_t skipped;              /* rotated files present but not read */
	unsigned top;                /* highest N present, read or not (0: none) */
	struct audit_gap *gap;       /* the numbers below TOP absent, oldest first */
	size_t ngaps;
};

/*
 * Fill SET with the files of PATH (above).  PATH itself is listed when it
 * exists; a folder that does not exist gives an empty set.  0,
 * WARD_ERR_NOMEM, or WARD_ERR_IO with the reason in ERR (the folder cannot
 * be read).  SET is the caller's to free with audit_fileset_free, also
 * after an error.
 */
int audit_files(const char *path, struct audit_fileset *set, char *err, size_t errlen)
    WARD_WUR;
void audit_fileset_free(struct audit_fileset *set);

/*
 * audit_verify over SET->v, and the numbering too: a rotated file absent
 * below the highest N present is AUDIT_BAD_MISSING_FILE, named with the
 * files on either side and the seq range its absence leaves, at the place
 * in the files where it belongs (so an earlier problem is named first).
 * Removing the oldest files (the highest N) entirely cannot be told from
 * their expiry: the chain then starts later, said in RES->note.
 */
int audit_verify_set(const char *key_file, const struct audit_fileset *set,
    const char *state_dir, struct audit_verify_result *res) WARD_WUR;

/*
 * Across a fleet (audit_fleet.c; wardctl(8), AUDIT ACROSS A FLEET): each
 * workstation's audit key is derived from the fleet audit key and its host
 * name, as its records carry it:
 *   HMAC-SHA-256(fleet key, "ward-audit-host-v1" || 0x00 || host)
 * so a workstation holds only its own key.  A host name here is 1 to
 * AUDIT_HOST_MAX letters, digits, '-' or '_', not starting with '-'.
 */
#define AUDIT_KEY_LEN 32
#define AUDIT_HOST_MAX 63
#define AUDIT_HOST_KEY_LABEL "ward-audit-host-v1"
/* 0 when HOST is a host name as above, WARD_ERR_INVAL otherwise. */
int audit_host_valid(const char *host) WARD_WUR;
/* HOST's audit key from the fleet key FLEET into OUT: 0, WARD_ERR_INVAL (not
 * a host name) or WARD_ERR_CRYPTO. */
int audit_host_key(const unsigned char fleet[AUDIT_KEY_LEN], const char *host,
    unsigned char out[AUDIT_KEY_LEN]) WARD_WUR;

/* This host's name as its records carry it into HOST, and its key derived
 * from the fleet key in FLEET_KEY_FILE (trusted opener, 32 bytes) into OUT:
 * 0, or WARD_ERR_* with the reason in ERR (the host name cannot be used,
 * the key file is unsafe or not a key). */
int audit_host_key_file(const char *fleet_key_file, char host[AUDIT_HOST_MAX + 1],
    unsigned char out[AUDIT_KEY_LEN], char *err, size_t errlen) WARD_WUR;

/* One host of a collector's folder, as audit_verify_fleet found it. */
struct audit_fleet_host {
	char host[256];              /* the folder's name */
	size_t nfiles, skipped;      /* files read; rotated files not read */
	int rc;                      /* 0 verified, WARD_ERR_CORRUPT a problem (RES),
	                                other: could not be read (RES.message) */
	struct audit_verify_result res;
};
/* Called once a host, in name order; non-zero stops and is returned. */
typedef int (*audit_fleet_fn)(void *ctx, const struct audit_fleet_host *h);
/*
 * Verify every host of DIR, a collector's folder: each sub-folder HOST
 * (names starting with '.' are not read) holds HOST's log as
 * DIR/HOST/audit.log and its rotated files (audit_files), whose chain must
 * hold under HOST's key derived from the key in FLEET_KEY_FILE, every record
 * naming HOST (AUDIT_BAD_HOST otherwise), a record that another host's key
 * makes is AUDIT_BAD_FOREIGN.  No state store (a cut tail does not show:
 * the log just ends earlier).  Returns 0 when every host verified,
 * WARD_ERR_CORRUPT when one had a problem (whatever others did), another
 * WARD_ERR_* when the key or DIR cannot be read or a host could not be
 * (ERR says so), or what FN returned.
 */
int audit_verify_fleet(const char *dir, const char *fleet_key_file, audit_fleet_fn fn,
    void *ctx, char *err, size_t errlen) WARD_WUR;

/* "2026-11-24T10:00:00.123Z" -> milliseconds since the epoch; -1 if bad. */
int64_t audit_ts_parse(const char *ts);

#endif
