/*
 * conf.c - ward.conf through libconfig into struct ward_conf.
 *
 * Rules it keeps: the file is a regular file (no symlink) owned by root and
 * not writable by group or others; every key is known (a typo is an error,
 * never a silently dropped setting); every value is type- and range-checked;
 * errors name FILE:LINE.  The caller reports the error (wardctl on stderr,
 * wardd to syslog).  A key an earlier release read is refused as well,
 * with what became of it (retired_keys[]).
 *
 * Every key is one row of conf_keys[]: its name, type, field, default and
 * range (and, for a rule across keys, a check function).  That table alone
 * sets the defaults, reads and checks the file, refuses what it does not
 * name, and frees.  ward.conf(5) documents the same keys; the unit tests
 * hold the two in step.
 */
#include "conf.h"
#include "tfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#define CONF_MAX_BYTES (1024 * 1024)

enum conf_type {
	CT_GROUP,    /* name = { ... }; holds the keys "name.*" */
	CT_STR,      /* char *, not empty */
	CT_PATH,     /* char *, absolute; at most max bytes when max > 0 */
	CT_BOOL,     /* int, true or false */
	CT_INT,      /* int, whole number in min..max */
	CT_LONG,     /* long, whole number in min..max */
	CT_ENUM,     /* int index into names[] (the strings the file may use) */
	CT_STRLIST,  /* char *[max] with its count (size_t) at count */
};

/*
 * A cross-field rule, run once the whole file is read (and only when the
 * key's group is in the file; top-level keys always).  Returns 0,
 * WARD_ERR_PARSE with *WHY set (a static string), or WARD_ERR_NOMEM.
 */
typedef int conf_check_fn(struct ward_conf *c, const char *path, const char **why);

struct conf_key {
	const char *name;            /* "state_dir" or "group.key" */
	enum conf_type type;
	size_t field;                /* offsetof(struct ward_conf, ...) */
	long min, max;               /* CT_INT, CT_LONG; max for CT_PATH, CT_STRLIST */
	long num;                    /* default of CT_BOOL, CT_INT, CT_LONG, CT_ENUM */
	const char *str;             /* default of CT_STR, CT_PATH (NULL: none) */
	const char *const *names;    /* CT_ENUM: NULL-terminated */
	size_t count;                /* CT_STRLIST: offsetof the size_t count */
	const char *contains;        /* CT_STR: must contain this (a filter's %u) */
	const char *not_list;        /* CT_STR: why a list is refused here */
	int required;                /* must be set when its group is present */
	conf_check_fn *check;
};

/* offsetof(struct ward_conf, M), refused at compile time unless M is a T
 * (T is a type name: it cannot be parenthesised) */
#define AT(m, T) _Generic(((struct ward_conf *)0)->m, T: offsetof(struct ward_conf, m)) /* NOLINT(bugprone-macro-parentheses) */
#define GROUP(n)             .name = (n), .type = CT_GROUP
#define STR(n, m, def)       .name = (n), .type = CT_STR, .field = AT(m, char *), .str = (def)
#define PATH(n, m, def)      .name = (n), .type = CT_PATH, .field = AT(m, char *), .str = (def)
#define BOOL(n, m, def)      .name = (n), .type = CT_BOOL, .field = AT(m, int), .num = (def)
#define INT(n, m, lo, hi, def) .name = (n), .type = CT_INT, .field = AT(m, int), \
	.min = (lo), .max = (hi), .num = (def)
#define LONG(n, m, lo, hi, def) .name = (n), .type = CT_LONG, .field = AT(m, long), \
	.min = (lo), .max = (hi), .num = (def)
#define ENUM(n, m, vals, def) .name = (n), .type = CT_ENUM, .field = AT(m, enum conf_algo), \
	.names = (vals), .num = (def)
#define STRLIST(n, m, cnt, cap) .name = (n), .type = CT_STRLIST, .field = AT(m, char **), \
	.count = AT(cnt, size_t), .max = (cap)

/* CT_ENUM writes the field as an int */
_Static_assert(sizeof(enum conf_algo) == sizeof(int), "enum conf_algo is an int");

static const char *const algo_names[] = { "sha1", "sha256", "sha512", NULL };

static conf_check_fn snapshot_default, directory_on, check_uris, check_bind_password,
    check_sasl_mech, check_ca_file, fleet_on, check_write_uri, check_offline_mfa;

/* Why fleet.write_uri names one server, in the words of every refusal. */
#define WRITE_URI_ONE "must name ONE server: every MFA change (a code accepted, " \
	"a failure, a recovery code spent) goes to one place, because two " \
	"providers replicating each other would each accept the same code " \
	"(multi-provider replication is not a compare-and-swap); Ward never " \
	"fails its MFA writes over (ward.conf(5), FLEET)"

/* In ward.conf(5)'s order; a group's row comes before its keys. */
static const struct conf_key conf_keys[] = {
	{ PATH("policy_file", policy_file, "/etc/ward/policy.conf") },
	{ PATH("snapshot_file", snapshot_file, NULL), .check = snapshot_default },
	{ PATH("state_dir", state_dir, "/var/lib/ward") },
	{ GROUP("directory"), .check = directory_on },
	{ STRLIST("directory.uri", directory.uri, directory.nuri, CONF_MAX_URIS),
	  .check = check_uris },
	{ STR("directory.base", directory.base, NULL), .required = 1 },
	{ STR("directory.bind_dn", directory.bind_dn, NULL) },
	{ PATH("directory.bind_password_file", directory.bind_password_file, NULL),
	  .check = check_bind_password },
	{ STR("directory.sasl_mech", directory.sasl_mech, NULL), .check = check_sasl_mech },
	{ PATH("directory.client_cert", directory.client_cert, NULL) },
	{ PATH("directory.client_key", directory.client_key, NULL) },
	{ PATH("directory.ca_file", directory.ca_file, NULL), .check = check_ca_file },
	{ BOOL("directory.starttls", directory.starttls, 0) },
	{ BOOL("directory.allow_plaintext", directory.allow_plaintext, 0) },
	{ STR("directory.user_filter", directory.user_filter,
	    "(&(objectClass=inetOrgPerson)(uid=%u))"), .contains = "%u" },
	{ STR("directory.name_attribute", directory.name_attr, "uid") },
	{ STR("directory.group_filter", directory.group_filter, NULL), .contains = "%d" },
	{ STR("directory.member_of_attr", directory.member_of_attr, "memberOf") },
	{ INT("directory.nested_depth", directory.nested_depth, 0, 10, 3) },
	{ LONG("directory.timeout_ms", directory.timeout_ms, 100, 60000, 2000) },
	{ LONG("directory.max_entries", directory.max_entries, 1, 100000, 1000) },
	{ LONG("directory.max_values", directory.max_values, 1, 1000000, 10000) },
	{ LONG("directory.cache_seconds", directory.cache_seconds, 0, 86400, 300) },
	{ LONG("directory.offline_max_age", directory.offline_max_age, 0, 30 * 86400, 43200) },
	{ GROUP("mfa") },
	{ INT("mfa.digits", mfa.digits, 6, 8, 6) },
	{ INT("mfa.period", mfa.period, 15, 300, 30) },
	{ ENUM("mfa.algorithm", mfa.algorithm, algo_names, CONF_ALGO_SHA1) },
	{ INT("mfa.window", mfa.window, 0, 10, 1) },
	{ INT("mfa.max_failures", mfa.max_failures, 1, 100, 5) },
	{ LONG("mfa.lockout_seconds", mfa.lockout_seconds, 1, 7 * 86400, 900) },
	{ STR("mfa.issuer", mfa.issuer, "Ward") },
	{ INT("mfa.recovery_codes", mfa.recovery_codes, 1, 16, 10) },
	{ GROUP("secrets") },
	{ PATH("secrets.key_file", key_file, "/etc/ward/master.key") },
	{ GROUP("audit") },
	{ PATH("audit.path", audit.path, "/var/log/ward/audit.log") },
	{ PATH("audit.key_file", audit.key_file, "/etc/ward/audit.key") },
	{ BOOL("audit.syslog", audit.syslog, 1) },
	{ BOOL("audit.fsync", audit.fsync, 1) },
	{ BOOL("audit.group_adm", audit.group_adm, 0) },
	{ LONG("audit.head_interval", audit.head_interval, 0, 86400, 300) },
	{ GROUP("daemon") },
	{ PATH("daemon.socket", daemon.socket, CONF_DEFAULT_SOCKET), .max = CONF_SOCKET_MAX },
	{ GROUP("fleet"), .check = fleet_on },
	{ STR("fleet.write_uri", fleet.write_uri, NULL), .required = 1,
	  .not_list = WRITE_URI_ONE, .check = check_write_uri },
	{ PATH("fleet.key_file", fleet.key_file, "/etc/ward/fleet.key") },
	{ PATH("fleet.old_key_file", fleet.old_key_file, NULL) },
	{ LONG("fleet.offline_mfa_max_age", fleet.offline_mfa_max_age, 0, 30 * 86400, 43200),
	  .check = check_offline_mfa },
	{ INT("fleet.offline_max_failures", fleet.offline_max_failures, 1, 100, 3) },
};
#define NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

/*
 * Keys an earlier release read.  Still errors - a line that no longer acts
 * must not look as if it did - but the message says what became of the key
 * instead of calling it unknown.
 */
static const struct {
	const char *name;
	const char *why;
} retired_keys[] = {
	{ "helper", "removed with the setuid helper: wardd (wardd(8)) verifies codes for "
	  "every caller, screen lockers included; delete this line" },
};

static void *
field_of(struct ward_conf *c, const struct conf_key *k)
{
	return (char *)c + k->field;
}

/*
 * gcc 12's -fanalyzer reports the copy stored through DST as leaked when
 * DST is a field found by a table offset (it loses track of heap stores at
 * a symbolic offset); conf_free frees every such field through the same
 * table.  Suppressed for this function only.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
static int
set_str(char **dst, const char *v)
{
	char *c = strdup(v);

	if (c == NULL)
		return WARD_ERR_NOMEM;
	free(*dst);
	*dst = c;
	return 0;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

const char *
conf_key_name(size_t i)
{
	for (size_t j = 0; j < NKEYS; j++)
		if (conf_keys[j].type != CT_GROUP && i-- == 0)
			return conf_keys[j].name;
	return NULL;
}

int
conf_defaults(struct ward_conf *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];
		void *f = field_of(c, k);

		switch (k->type) {
		case CT_STR:
		case CT_PATH:
			if (k->str != NULL && set_str(f, k->str) != 0) {
				conf_free(c);
				return WARD_ERR_NOMEM;
			}
			break;
		case CT_BOOL:
		case CT_INT:
		case CT_ENUM:
			*(int *)f = (int)k->num;
			break;
		case CT_LONG:
			*(long *)f = k->num;
			break;
		case CT_GROUP:
		case CT_STRLIST:
			break;
		}
	}
	return 0;
}

void
conf_free(struct ward_conf *c)
{
	if (c == NULL)
		return;
	free(c->path);
	for (size_t i = 0; i < NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];
		void *f = field_of(c, k);

		if (k->type == CT_STR || k->type == CT_PATH)
			free(*(char **)f);
		else if (k->type == CT_STRLIST)
			for (long j = 0; j < k->max; j++)
				free(((char **)f)[j]);
	}
	memset(c, 0, sizeof(*c));
}

/* ---- rules across keys (conf_check_fn) ---- */

/* snapshot_file: the policy file's name followed by ".snap" unless set */
static int
snapshot_default(struct ward_conf *c, const char *path, const char **why)
{
	size_t n;

	(void)path;
	(void)why;
	if (c->snapshot_file != NULL)
		return 0;
	n = strlen(c->policy_file) + 6;
	if ((c->snapshot_file = malloc(n)) == NULL)
		return WARD_ERR_NOMEM;
	snprintf(c->snapshot_file, n, "%s.snap", c->policy_file);
	return 0;
}

/* the group directory in the file turns the directory on */
static int
directory_on(struct ward_conf *c, const char *path, const char **why)
{
	(void)path;
	(void)why;
	c->directory.enabled = 1;
	return 0;
}

/* Does any URI carry TLS (ldaps://, or ldap:// with starttls)? */
static int
uris_use_tls(const struct conf_directory *d)
{
	for (size_t i = 0; i < d->nuri; i++)
		if (strncmp(d->uri[i], "ldaps://", 8) == 0 ||
		    (d->starttls && strncmp(d->uri[i], "ldap://", 7) == 0))
			return 1;
	return 0;
}

static int
check_uris(struct ward_conf *c, const char *path, const char **why)
{
	const struct conf_directory *d = &c->directory;
	int plain = 0;

	if (d->nuri == 0) {
		*why = "at least one URI is needed";
		return WARD_ERR_PARSE;
	}
	for (size_t i = 0; i < d->nuri; i++) {
		if (strncmp(d->uri[i], "ldap://", 7) == 0)
			plain |= !d->starttls;
		else if (strncmp(d->uri[i], "ldaps://", 8) != 0 &&
		    strncmp(d->uri[i], "ldapi://", 8) != 0) {
			*why = "URIs must start with ldaps://, ldap:// or ldapi://";
			return WARD_ERR_PARSE;
		}
	}
	if (plain && !d->allow_plaintext) {
		*why = "ldap:// without starttls sends the bind password in clear; use "
		    "ldaps://, starttls = true, or allow_plaintext = true";
		return WARD_ERR_PARSE;
	}
	if (plain)
		ward_log(LOG_WARNING, "%s: directory.allow_plaintext is on: directory "
		    "traffic is not encrypted", path);
	return 0;
}

static int
check_bind_password(struct ward_conf *c, const char *path, const char **why)
{
	const struct conf_directory *d = &c->directory;

	(void)path;
	if (d->bind_dn && !d->bind_password_file &&
	    !(d->sasl_mech && strcmp(d->sasl_mech, "EXTERNAL") == 0)) {
		*why = "is required with bind_dn";
		return WARD_ERR_PARSE;
	}
	return 0;
}

static int
check_sasl_mech(struct ward_conf *c, const char *path, const char **why)
{
	(void)path;
	if (c->directory.sasl_mech && strcmp(c->directory.sasl_mech, "EXTERNAL") != 0) {
		*why = "only \"EXTERNAL\" is supported";
		return WARD_ERR_PARSE;
	}
	return 0;
}

static int
check_ca_file(struct ward_conf *c, const char *path, const char **why)
{
	(void)path;
	if (c->directory.ca_file == NULL && uris_use_tls(&c->directory)) {
		*why = "is required for ldaps:// and StartTLS: certificates are always verified";
		return WARD_ERR_PARSE;
	}
	return 0;
}

/* the group fleet in the file turns fleet mode on; it needs the directory
 * (the identity this workstation binds as, ca_file, base, user_filter) */
static int
fleet_on(struct ward_conf *c, const char *path, const char **why)
{
	(void)path;
	if (!c->directory.enabled) {
		*why = "needs the directory group: fleet mode keeps MFA records on the "
		    "users' directory entries and binds as this workstation's directory "
		    "identity";
		return WARD_ERR_PARSE;
	}
	c->fleet.enabled = 1;
	return 0;
}

/*
 * One URI: libldap would take "ldaps://a ldaps://b" (or with commas) as a
 * list and fail over along it, which is exactly what must not happen to
 * MFA writes.  The same TLS rules as directory.uri.
 */
static int
check_write_uri(struct ward_conf *c, const char *path, const char **why)
{
	const char *u = c->fleet.write_uri;

	(void)path;
	if (u == NULL)
		return 0;       /* "is required" is reported first */
	if (strpbrk(u, " \t\n,;") != NULL) {
		*why = WRITE_URI_ONE;
		return WARD_ERR_PARSE;
	}
	if (strncmp(u, "ldaps://", 8) != 0 && strncmp(u, "ldapi://", 8) != 0 &&
	    strncmp(u, "ldap://", 7) != 0) {
		*why = "must start with ldaps://, ldap:// or ldapi://";
		return WARD_ERR_PARSE;
	}
	if (strncmp(u, "ldap://", 7) == 0 && !c->directory.starttls &&
	    !c->directory.allow_plaintext) {
		*why = "ldap:// without directory.starttls would send MFA changes in clear; "
		    "use ldaps://";
		return WARD_ERR_PARSE;
	}
	if (strncmp(u, "ldapi://", 8) != 0 && c->directory.ca_file == NULL) {
		*why = "needs directory.ca_file: certificates are always verified";
		return WARD_ERR_PARSE;
	}
	return 0;
}

/* offline MFA may not outlast the roles it decides with */
static int
check_offline_mfa(struct ward_conf *c, const char *path, const char **why)
{
	(void)path;
	if (c->fleet.offline_mfa_max_age > c->directory.offline_max_age) {
		*why = "must not exceed directory.offline_max_age (an offline login also "
		    "needs cached roles)";
		return WARD_ERR_PARSE;
	}
	return 0;
}

/* ---- reading ---- */

struct ctx {
	const char *path;
	char *err;
	size_t errlen;
	int rc;
	/* where each row of conf_keys[] is in the file (NULL: not there) */
	const config_setting_t *at[NKEYS];
};

static void
fail(struct ctx *x, const config_setting_t *s, const char *key, const char *msg)
{
	if (x->rc != 0)
		return;          /* keep the first problem */
	x->rc = WARD_ERR_PARSE;
	snprintf(x->err, x->errlen, "%s:%d: %s: %s", x->path,
	    s ? (int)config_setting_source_line(s) : 0, key, msg);
}

/* The row named NAME ("key" or "group.key"), or NULL. */
static const struct conf_key *
key_find(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

/* The row of K's group, or NULL for a top-level key. */
static const struct conf_key *
group_of(const struct conf_key *k)
{
	const char *dot = strchr(k->name, '.');

	for (size_t i = 0; dot != NULL && i < NKEYS; i++)
		if (conf_keys[i].type == CT_GROUP &&
		    strncmp(conf_keys[i].name, k->name, (size_t)(dot - k->name)) == 0 &&
		    conf_keys[i].name[dot - k->name] == '\0')
			return &conf_keys[i];
	return NULL;
}

/* "must be a, b or c": the values an enum row takes */
static void
enum_choices(const struct conf_key *k, char *msg, size_t len)
{
	size_t n = (size_t)snprintf(msg, len, "must be");

	for (size_t i = 0; k->names[i] != NULL && n < len; i++)
		n += (size_t)snprintf(msg + n, len - n, "%s %s",
		    i == 0 ? "" : k->names[i + 1] != NULL ? "," : " or", k->names[i]);
}

/* A string, path or enum row: check S and store it in F. */
static void
read_text(struct ctx *x, const struct conf_key *k, const config_setting_t *s, void *f)
{
	const char *v = config_setting_get_string(s);
	char msg[160];
	size_t i;

	if (v == NULL && k->not_list != NULL && (config_setting_type(s) == CONFIG_TYPE_ARRAY ||
	    config_setting_type(s) == CONFIG_TYPE_LIST)) {
		fail(x, s, k->name, k->not_list);
	} else if (v == NULL) {
		fail(x, s, k->name, "must be a string");
	} else if (v[0] == '\0') {
		fail(x, s, k->name, "must not be empty");
	} else if (k->type == CT_PATH && (v[0] != '/' ||
	    (k->max > 0 && strlen(v) > (size_t)k->max))) {
		if (k->max > 0)
			snprintf(msg, sizeof(msg), "must be an absolute path of at most "
			    "%ld bytes", k->max);
		else
			snprintf(msg, sizeof(msg), "must be an absolute path");
		fail(x, s, k->name, msg);
	} else if (k->contains != NULL && strstr(v, k->contains) == NULL) {
		snprintf(msg, sizeof(msg), "must contain %s", k->contains);
		fail(x, s, k->name, msg);
	} else if (k->type == CT_ENUM) {
		for (i = 0; k->names[i] != NULL && strcmp(k->names[i], v) != 0; i++)
			;
		if (k->names[i] != NULL) {
			*(int *)f = (int)i;
		} else {
			enum_choices(k, msg, sizeof(msg));
			fail(x, s, k->name, msg);
		}
	} else if (set_str(f, v) != 0) {
		x->rc = WARD_ERR_NOMEM;
	}
}

/* An int or long row: a whole number within its range. */
static void
read_number(struct ctx *x, const struct conf_key *k, const config_setting_t *s, void *f)
{
	int type = config_setting_type(s);
	long long n;
	char msg[160];

	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
		fail(x, s, k->name, "must be a whole number");
		return;
	}
	n = config_setting_get_int64(s);
	if (n < k->min || n > k->max) {
		snprintf(msg, sizeof(msg), "must be between %ld and %ld, not %lld",
		    k->min, k->max, n);
		fail(x, s, k->name, msg);
	} else if (k->type == CT_INT) {
		*(int *)f = (int)n;
	} else {
		*(long *)f = (long)n;
	}
}

/* A string list row: at most max strings, into F[] and the count. */
static void
read_list(struct ctx *x, struct ward_conf *c, const struct conf_key *k,
    const config_setting_t *s, char **f)
{
	int type = config_setting_type(s), n = config_setting_length(s);
	char msg[160];

	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
		fail(x, s, k->name, "must be a list of strings");
		return;
	}
	if (n > k->max) {
		snprintf(msg, sizeof(msg), "at most %ld values", k->max);
		fail(x, s, k->name, msg);
		return;
	}
	for (int i = 0; i < n && x->rc == 0; i++) {
		const char *v = config_setting_get_string_elem(s, i);

		if (v == NULL)
			fail(x, s, k->name, "must be a list of strings");
		else if (set_str(&f[i], v) != 0)
			x->rc = WARD_ERR_NOMEM;
		else
			*(size_t *)((char *)c + k->count) = (size_t)i + 1;
	}
}

/* Check setting S against row K and store its value in C. */
static void
read_key(struct ctx *x, struct ward_conf *c, const struct conf_key *k,
    const config_setting_t *s)
{
	void *f = field_of(c, k);

	switch (k->type) {
	case CT_GROUP:
		break;
	case CT_STR:
	case CT_PATH:
	case CT_ENUM:
		read_text(x, k, s, f);
		break;
	case CT_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			fail(x, s, k->name, "must be true or false");
		else
			*(int *)f = config_setting_get_bool(s);
		break;
	case CT_INT:
	case CT_LONG:
		read_number(x, k, s, f);
		break;
	case CT_STRLIST:
		read_list(x, c, k, s, f);
		break;
	}
}

/*
 * Read every member of G (the root when GROUP is NULL, else the group row
 * GROUP): each must be a row of conf_keys[] of the right type.
 */
static void
read_group(struct ctx *x, struct ward_conf *c, const config_setting_t *g,
    const struct conf_key *group)
{
	int n = config_setting_length(g);

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		const struct conf_key *k;
		char full[128];
		int is_group = config_setting_is_group(m);

		snprintf(full, sizeof(full), "%s%s%s", group ? group->name : "",
		    group ? "." : "", name);
		if ((k = key_find(full)) == NULL || (group && k->type == CT_GROUP)) {
			const char *why = is_group ? "unknown group" : "unknown key";

			for (size_t j = 0; j < sizeof(retired_keys) / sizeof(retired_keys[0]); j++)
				if (strcmp(retired_keys[j].name, full) == 0)
					why = retired_keys[j].why;
			fail(x, m, full, why);
			continue;
		}
		x->at[k - conf_keys] = m;
		if (k->type != CT_GROUP)
			read_key(x, c, k, m);
		else if (!is_group)
			fail(x, m, full, "must be a group { ... }");
		else
			read_group(x, c, m, k);
	}
}

/* Once every key is read: what is required, and the rules across keys. */
static void
check_all(struct ctx *x, struct ward_conf *c)
{
	for (size_t i = 0; i < NKEYS && x->rc == 0; i++) {
		const struct conf_key *k = &conf_keys[i], *g = group_of(k);
		const config_setting_t *where = x->at[i];
		const char *why = NULL;
		int r;

		if (g != NULL && x->at[g - conf_keys] == NULL)
			continue;       /* its group is not in the file */
		if (k->type == CT_GROUP && where == NULL)
			continue;
		if (where == NULL && g != NULL)
			where = x->at[g - conf_keys];
		if (k->required && x->at[i] == NULL)
			fail(x, where, k->name, "is required");
		else if (k->check != NULL && (r = k->check(c, x->path, &why)) != 0) {
			if (r == WARD_ERR_PARSE)
				fail(x, where, k->name, why);
			else
				x->rc = r;
		}
	}
}

/*
 * libconfig (1.5 here, no include hook) honours a line "@include FILE" and
 * reads FILE with fopen: no O_NOFOLLOW, no owner or mode check, no size cap.
 * That would let ward.conf pull settings from a file the trusted opener never
 * saw, so a line that libconfig's scanner would take as an include (start of
 * line, blanks, "@include") is refused before parsing.  Returns the 1-based
 * line, or 0 when there is none.
 */
static int
find_include(const char *text)
{
	int line = 1;

	for (const char *p = text; *p != '\0'; line++) {
		const char *q = p;

		while (*q == ' ' || *q == '\t')
			q++;
		if (strncmp(q, "@include", 8) == 0)
			return line;
		if ((p = strchr(q, '\n')) == NULL)
			break;
		p++;
	}
	return 0;
}

int
conf_load(struct ward_conf *c, const char *path, char *err, size_t errlen)
{
	const char *name = path ? path : CONF_DEFAULT_PATH;
	char *text = NULL;
	size_t textlen;
	int r;

	err[0] = '\0';
	memset(c, 0, sizeof(*c));
	if ((r = tfile_read(name, 0, CONF_MAX_BYTES, &text, &textlen, err, errlen)) != 0)
		return r;
	r = conf_load_buffer(c, name, text, err, errlen);
	free(text);
	return r;
}

int
conf_load_buffer(struct ward_conf *c, const char *name, const char *text, char *err,
    size_t errlen)
{
	struct ctx x = { .path = name ? name : CONF_DEFAULT_PATH, .err = err,
	    .errlen = errlen };
	config_t cfg;
	int r, incl;

	err[0] = '\0';
	if ((r = conf_defaults(c)) != 0) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	if ((incl = find_include(text)) != 0) {
		snprintf(err, errlen, "%s:%d: @include is not allowed (every file Ward reads "
		    "goes through its owner and mode checks)", x.path, incl);
		conf_free(c);
		return WARD_ERR_PARSE;
	}
	config_init(&cfg);
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		snprintf(err, errlen, "%s:%d: %s", x.path, config_error_line(&cfg),
		    config_error_text(&cfg));
		x.rc = WARD_ERR_PARSE;
		goto out;
	}
	if (set_str(&c->path, x.path) != 0) {
		x.rc = WARD_ERR_NOMEM;
		goto out;
	}
	read_group(&x, c, config_root_setting(&cfg), NULL);
	if (x.rc == 0)
		check_all(&x, c);
out:
	config_destroy(&cfg);
	if (x.rc != 0) {
		if (x.rc == WARD_ERR_NOMEM && err[0] == '\0')
			snprintf(err, errlen, "%s: out of memory", x.path);
		conf_free(c);
	}
	return x.rc;
}
