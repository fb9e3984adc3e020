/*
 * conf.h - ward.conf, read with libconfig (keys: ward.conf(5)).
 *
 * The file is opened through the trusted opener (root-owned, not group or
 * world writable) and parsed once into this plain struct.  Any problem is
 * fatal and reported as "FILE:LINE: what is wrong" (or "FILE: key: ...").
 * Unknown keys are errors too: a typo must not silently drop a setting.
 */
#ifndef WARD_CONF_H
#define WARD_CONF_H

#include <stddef.h>

#include "ward.h"

#define CONF_DEFAULT_PATH "/etc/ward/ward.conf"
#define CONF_MAX_URIS 8
#define CONF_DEFAULT_SOCKET "/run/ward/wardd.sock"
#define CONF_SOCKET_MAX 107          /* sun_path holds 108 bytes with the NUL */

enum conf_algo { CONF_ALGO_SHA1 = 0, CONF_ALGO_SHA256 = 1, CONF_ALGO_SHA512 = 2 };

struct conf_directory {
	int enabled;                 /* 0 when the directory group is absent */
	char *uri[CONF_MAX_URIS];    /* failover order */
	size_t nuri;
	char *base;
	char *bind_dn;               /* NULL: anonymous or SASL EXTERNAL */
	char *bind_password_file;    /* 0600 root file with the password */
	char *sasl_mech;             /* "EXTERNAL" or NULL (simple bind) */
	char *client_cert;           /* for SASL EXTERNAL */
	char *client_key;
	char *ca_file;               /* required unless every URI is ldapi:// */
	int starttls;
	int allow_plaintext;
	char *user_filter;           /* "%u" = escaped user name */
	char *group_filter;          /* "%d" = escaped user DN; NULL = memberOf only */
	char *member_of_attr;        /* default "memberOf" */
	char *name_attr;             /* name_attribute: holds the exact name; "uid" */
	int nested_depth;            /* nested group depth, default 3, 0..10 */
	long timeout_ms;             /* a whole lookup at one URI; default 2000 */
	long cache_seconds;          /* default 300 */
	long offline_max_age;        /* default 43200; 0 = fail closed */
	long max_entries;            /* bounds on answers; default 1000 */
	long max_values;             /* default 10000 */
};

struct conf_mfa {
	int digits;                  /* 6..8, default 6 */
	int period;                  /* seconds, default 30 */
	enum conf_algo algorithm;    /* default sha1 */
	int window;                  /* steps either side, 0..10, default 1 */
	int max_failures;            /* default 5 */
	long lockout_seconds;        /* default 900 */
	char *issuer;                /* default "Ward" */
	int recovery_codes;          /* how many codes per set, default 10 */
};

struct conf_audit {
	char *path;                  /* default /var/log/ward/audit.log */
	char *key_file;              /* default /etc/ward/audit.key */
	int syslog;                  /* default 1 */
	int fsync;                   /* default 1 */
	int group_adm;               /* log mode 0640 group adm instead of 0600 */
	long head_interval;          /* seconds between wardd's head records, 0 none;
	                                default 300 */
};

struct conf_daemon {
	char *socket;                /* wardd's socket, default CONF_DEFAULT_SOCKET */
};

/* fleet: MFA records on the users' directory entries (ward.conf(5), FLEET) */
struct conf_fleet {
	int enabled;                 /* 0 when the fleet group is absent */
	char *write_uri;             /* the ONE place MFA changes go; never failed over */
	char *key_file;              /* seals secrets and recovery hashes; /etc/ward/fleet.key */
	char *old_key_file;          /* a rotation's other key (fleet rekey), NULL none */
	long offline_mfa_max_age;    /* default 43200; 0 = no offline MFA */
	int offline_max_failures;    /* default 3 */
};

struct ward_conf {
	char *path;                  /* the file this came from */
	char *policy_file;           /* default /etc/ward/policy.conf */
	char *snapshot_file;         /* default policy_file + ".snap" */
	char *state_dir;             /* default /var/lib/ward */
	struct conf_directory directory;
	struct conf_mfa mfa;
	char *key_file;              /* secrets.key_file, default /etc/ward/master.key */
	struct conf_audit audit;
	struct conf_daemon daemon;
	struct conf_fleet fleet;
};

/* Fill CONF with every default (no file read).  Returns 0 or WARD_ERR_NOMEM. */
int conf_defaults(struct ward_conf *conf) WARD_WUR;

/*
 * Load PATH (NULL: CONF_DEFAULT_PATH) into *CONF.  Returns 0, or a negative
 * WARD_ERR_* with a message "PATH:LINE: ..." in ERRBUF.  On error *CONF is
 * left freed (conf_free is still safe to call).
 */
int conf_load(struct ward_conf *conf, const char *path, char *errbuf,
    size_t errlen) WARD_WUR;

/*
 * Parse TEXT (NUL-terminated ward.conf text, already read through the
 * trusted opener) as conf_load does; NAME (NULL: CONF_DEFAULT_PATH) is
 * used in messages and kept as conf->path.  A line "@include" is refused:
 * libconfig would read that file past the trusted opener.  Same returns
 * and ownership as conf_load.  conf_load is tfile_read + this; tests and
 * the fuzzer call it directly.
 */
int conf_load_buffer(struct ward_conf *conf, const char *name, const char *text,
    char *errbuf, size_t errlen) WARD_WUR WARD_NONNULL(1, 3, 4);

/* Free every string; CONF itself is the caller's.  Safe on a zeroed struct. */
void conf_free(struct ward_conf *conf);

/*
 * The name of the Ith key ward.conf may set ("state_dir",
 * "directory.timeout_ms"), in ward.conf(5)'s order; NULL past the last.
 * Groups ("directory") are not keys.  The string is static.
 */
const char *conf_key_name(size_t i);

#endif
