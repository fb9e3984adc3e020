/*
 * wardctl.h - what the command files of wardctl share: the parsed command
 * line, exit codes, and small output helpers.
 *
 * Exit codes (wardctl(8), EXIT STATUS): 0 success, 1 negative answer (deny,
 * verification failed, findings), 2 error.
 */
#ifndef WARDCTL_H
#define WARDCTL_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "conf.h"
#include "secret.h"
#include "ward.h"

#define WEXIT_OK 0
#define WEXIT_NO 1
#define WEXIT_ERR 2

/* Options may stand before or after the command words. */
struct wopts {
	const char *config;     /* --config FILE */
	const char *policy;     /* --policy FILE */
	int json;               /* --json */
	int csv;                /* --csv */
	int force;              /* --force */
	const char *user, *service, *host, *at, *roles;
	const char *secret, *digits, *algorithm, *qr;
	const char *since, *until, *event, *result;
	const char *output;     /* --output FILE */
	int all;                /* --all */
	const char *older_than; /* --older-than SECONDS */
	const char *fleet;      /* --fleet DIR (audit verify: a collector's folder);
	                           "" for init --fleet */
	const char *fleet_key;  /* --fleet-key FILE (the fleet audit key) */
	const char *audit_from; /* --audit-from FILE (init: derive audit.key from it) */
	const char *presence_minutes;   /* --presence-minutes N (audit report --fleet) */
	/* audit report --fleet: the HTML report's file and the rules' thresholds */
	const char *html;               /* --html FILE */
	const char *offhours_history;   /* --offhours-history N */
	const char *offhours_role_history;  /* --offhours-role-history N */
	const char *offhours_max;       /* --offhours-max N */
	const char *breakglass_min;     /* --breakglass-min N */
	const char *breakglass_factor;  /* --breakglass-factor N */
	char **args;            /* positional words after the command words */
	int nargs;
};

/* Load ward.conf (--config or the default).  Prints the error and returns
 * WARD_ERR_* on failure. */
int wardctl_load_conf(const struct wopts *o, struct ward_conf *conf);

struct policy;
/* The policy a command works on: the file PATH when given (--policy),
 * else CONF's policy as wardd reads it (the compiled snapshot when it
 * is current; PATH.snap likewise for PATH).  *FROM_SNAP (may be NULL) is
 * 1 when a snapshot was used.  NULL with ERR filled when it cannot be
 * loaded. */
/* PATH's snapshot beside it when ward.conf names none: "PATH.snap"
 * (malloc'd; NULL out of memory), as snapshot_file defaults in ward.conf(5). */
char *wardctl_snapshot_of(const char *path);
struct policy *wardctl_load_policy(const struct ward_conf *conf, const char *path,
    int *from_snap, char *err, size_t len);

/* JSON string literal of S (with quotes) to F; NULL prints null. */
void json_str(FILE *f, const char *s);
/* JSON array of the N strings V to F. */
void json_strs(FILE *f, const char *const *v, size_t n);
/* The N strings V to F, comma-separated, and a newline; NONE when N is 0. */
void text_strs(FILE *f, const char *const *v, size_t n, const char *none);
/* CSV field (quoted when needed). */
void csv_field(FILE *f, const char *s);

/*
 * One JSON object to F, member by member: jobj_begin writes '{' (after a
 * ',' when COMMA: not the first of its list), jobj_key the next member's
 * separator and "KEY": (the caller writes the value), jobj_str and
 * jobj_num a whole member, jobj_end the '}'.
 */
struct jobj {
	FILE *f;
	int n;                  /* members written */
};
void jobj_begin(struct jobj *j, FILE *f, int comma);
void jobj_key(struct jobj *j, const char *key);
void jobj_str(struct jobj *j, const char *key, const char *v);   /* NULL: null */
void jobj_num(struct jobj *j, const char *key, long long v);
void jobj_end(struct jobj *j);

/* A and B both given and equal. */
int streq(const char *a, const char *b);

/* A string-keyed table (smap.c): KEYS[i] is the i-th distinct key added
 * (a copy), in order.  Zeroed to start; smap_free releases it. */
struct smap {
	char **keys;
	size_t *slot;        /* open addressing: index + 1, 0 empty */
	size_t n, cap;       /* cap: slots (power of 2) */
};
/* Index of KEY, added when missing (*ADDED = 1); (size_t)-1 out of memory. */
size_t smap_get(struct smap *m, const char *key, int *added);
void smap_free(struct smap *m);

/* Parse "2026-11-23T14:05" (local time) or "2026-11-23" or "now" into T.
 * Also accepts "-7d", "-12h", "-30m" relative to now.  0 or -1. */
int wardctl_parse_time(const char *s, time_t *t);

/* Command entry points: each returns an exit code.  o->args are the words
 * after the command itself (for "policy test", args[0] is "test"). */
int cmd_policy(struct wopts *o);       /* check|test|show|who */
int cmd_can(struct wopts *o);
/* init, enroll, reset, unlock, status, recovery-codes (NAME says which). */
int cmd_user(struct wopts *o, const char *name);
/* With fleet in ward.conf: enroll, reset, unlock, status, recovery-codes on
 * the user's directory entry (cmd_fleet_user.c); CONF is loaded. */
int cmd_fleet_user(struct wopts *o, const char *name, const struct ward_conf *conf);
/* fleet status [USER], fleet rekey NEWKEY (cmd_fleet.c). */
int cmd_fleet(struct wopts *o);
/* USER's shared MFA state U as status prints it (never the secret or a
 * hash): WEXIT_OK enrolled, WEXIT_NO not (cmd_fleet_user.c). */
struct fleet_user;
int wardctl_fleet_show(const struct wopts *o, const char *user, const struct fleet_user *u);

/* cmd_user.c, shared with cmd_fleet_user.c: the one user argument (NULL
 * after printing the usage); the secret of an enrolment (--secret or
 * random, --algorithm, --digits, checked; *SECRET ward_freezero'd by the
 * caller), 0 or -1 after printing why; the --qr style, 0 or -1; what
 * enroll prints (QR code, secret, URI, codes; --json), 0 or -1; recovery
 * codes as text or a JSON member; a time as local text ("never" for 0). */
#define REC_CODE_LEN (SECRET_RECOVERY_CHARS + 3)
const char *user_one(const struct wopts *o, const char *cmd);
int user_new_secret(const struct wopts *o, const struct ward_conf *conf, int *algo,
    int *digits, unsigned char **secret, size_t *slen);
int user_qr_style(const struct wopts *o, const char **qr);
int user_show_enrolment(const struct wopts *o, const struct ward_conf *conf, const char *user,
    const unsigned char *secret, size_t slen, int algo, int digits, const char *qr,
    char codes[][REC_CODE_LEN], int ncodes);
void user_print_codes(const struct wopts *o, char codes[][REC_CODE_LEN], int n);
void user_json_codes(char codes[][REC_CODE_LEN], int n);
void user_fmt_ts(int64_t t, char *buf, size_t len);

/* directory test [USER], directory prune-cache (cmd_dir.c). */
int cmd_dir(struct wopts *o);
/* audit report --fleet DIR --fleet-key FILE (fleet_report.c). */
int audit_report_fleet_cmd(const struct wopts *o);
/* cmd_audit.c: the length (at least 1) of the character at P (LEN bytes
 * left); *OK 0 when it must not be shown as it is: a control character
 * (C0, C1, DEL) or bytes that are not UTF-8. */
size_t text_char(const unsigned char *p, size_t len, int *ok);
/* cmd_audit.c: S (NULL: "-") to OUT, terminal-safe (a control byte or a
 * byte that is not UTF-8 shown as '?'), padded to WIDTH columns. */
void tprint(FILE *out, const char *s, int width);
/* audit verify|query|report|export (cmd_audit.c). */
int cmd_audit(struct wopts *o);

/*
 * Admin audit records (cmd_audit.c).  A changing command calls
 * wardctl_audit_begin before the change: it refuses (prints why, returns
 * WARD_ERR_AUDIT, *LOG NULL) when the record could not be written; ST is
 * the command's open store or NULL.  After the change,
 * wardctl_audit_admin writes the record - event admin, USER the person
 * concerned (or NULL), detail "ACTION [EXTRA] by WHO" - never a secret;
 * it closes LOG, and prints the problem when the write fails.
 */
struct audit_log;
struct state;
int wardctl_audit_begin(const struct ward_conf *conf, struct state *st,
    const char *action, struct audit_log **log);
int wardctl_audit_admin(struct audit_log *log, const char *action, const char *user,
    const char *extra, const char *policy_version);

#endif
