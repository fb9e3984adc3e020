/*
 * conf.c - ward.conf through libconfig into struct ward_conf.
 *
 * Rules it keeps: the file is a regular file (no symlink) owned by root and
 * not writable by group or others; every key is known (a typo is an error,
 * never a silently dropped setting); every value is range-checked; errors
 * name FILE:LINE.  The caller reports the error (wardctl on stderr, the
 * module to syslog).
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

int
conf_defaults(struct ward_conf *c)
{
	memset(c, 0, sizeof(*c));
	if (set_str(&c->policy_file, "/etc/ward/policy.conf") ||
	    set_str(&c->state_dir, "/var/lib/ward") ||
	    set_str(&c->helper_path, "/usr/sbin/ward_verify") ||
	    set_str(&c->key_file, "/etc/ward/master.key") ||
	    set_str(&c->audit.path, "/var/log/ward/audit.log") ||
	    set_str(&c->audit.key_file, "/etc/ward/audit.key") ||
	    set_str(&c->mfa.issuer, "Ward") ||
	    set_str(&c->directory.user_filter, "(&(objectClass=inetOrgPerson)(uid=%u))") ||
	    set_str(&c->directory.member_of_attr, "memberOf") ||
	    set_str(&c->directory.name_attr, "uid") ||
	    set_str(&c->daemon.socket, CONF_DEFAULT_SOCKET)) {
		conf_free(c);
		return WARD_ERR_NOMEM;
	}
	c->mfa.digits = 6;
	c->mfa.period = 30;
	c->mfa.algorithm = CONF_ALGO_SHA1;
	c->mfa.window = 1;
	c->mfa.max_failures = 5;
	c->mfa.lockout_seconds = 900;
	c->mfa.recovery_codes = 10;
	c->audit.syslog = 1;
	c->audit.fsync = 1;
	c->directory.nested_depth = 3;
	c->directory.timeout_ms = 2000;
	c->directory.cache_seconds = 300;
	c->directory.offline_max_age = 43200;
	c->directory.max_entries = 1000;
	c->directory.max_values = 10000;
	return 0;
}

void
conf_free(struct ward_conf *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->policy_file);
	free(c->snapshot_file);
	free(c->state_dir);
	free(c->helper_path);
	free(c->key_file);
	free(c->audit.path);
	free(c->audit.key_file);
	free(c->mfa.issuer);
	for (size_t i = 0; i < c->directory.nuri; i++)
		free(c->directory.uri[i]);
	free(c->directory.base);
	free(c->directory.bind_dn);
	free(c->directory.bind_password_file);
	free(c->directory.sasl_mech);
	free(c->directory.client_cert);
	free(c->directory.client_key);
	free(c->directory.ca_file);
	free(c->directory.user_filter);
	free(c->directory.group_filter);
	free(c->directory.member_of_attr);
	free(c->directory.name_attr);
	free(c->daemon.socket);
	memset(c, 0, sizeof(*c));
}

struct ctx {
	const char *path;
	char *err;
	size_t errlen;
	int rc;
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

enum kind { K_STR, K_INT, K_BOOL, K_GROUP, K_STRLIST };

struct key {
	const char *name;
	enum kind kind;
	long min, max;
};

/* Check every member of GROUP is one of KEYS with the right type and range. */
static void
check_group(struct ctx *x, const config_setting_t *group, const char *where,
    const struct key *keys)
{
	int n = config_setting_length(group);

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(m);
		const struct key *k = keys;
		char full[128];
		int type = config_setting_type(m);

		while (k->name && strcmp(k->name, name) != 0)
			k++;
		snprintf(full, sizeof(full), "%s%s%s", where, *where ? "." : "", name);
		if (k->name == NULL) {
			fail(x, m, full, "unknown key");
			continue;
		}
		switch (k->kind) {
		case K_STR:
			if (type != CONFIG_TYPE_STRING)
				fail(x, m, full, "must be a string");
			else if (config_setting_get_string(m)[0] == '\0')
				fail(x, m, full, "must not be empty");
			break;
		case K_BOOL:
			if (type != CONFIG_TYPE_BOOL)
				fail(x, m, full, "must be true or false");
			break;
		case K_GROUP:
			if (type != CONFIG_TYPE_GROUP)
				fail(x, m, full, "must be a group { ... }");
			break;
		case K_STRLIST:
			if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
				fail(x, m, full, "must be a list of strings");
			else for (int j = 0; j < config_setting_length(m); j++)
				if (config_setting_get_string_elem(m, j) == NULL)
					fail(x, m, full, "must be a list of strings");
			break;
		case K_INT:
			if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
				fail(x, m, full, "must be a whole number");
			} else {
				long long v = config_setting_get_int64(m);
				if (v < k->min || v > k->max) {
					char msg[96];
					snprintf(msg, sizeof(msg), "must be between %ld and %ld, not %lld",
					    k->min, k->max, v);
					fail(x, m, full, msg);
				}
			}
			break;
		}
	}
}

static void
take_str(struct ctx *x, const config_setting_t *g, const char *name, char **dst)
{
	const char *v;

	if (g && config_setting_lookup_string(g, name, &v) == CONFIG_TRUE &&
	    x->rc == 0 && set_str(dst, v) != 0)
		x->rc = WARD_ERR_NOMEM;
}

static void
take_long(const config_setting_t *g, const char *name, long *dst)
{
	long long v;

	if (g && config_setting_lookup_int64(g, name, &v) == CONFIG_TRUE)
		*dst = (long)v;
	else {
		int i;
		if (g && config_setting_lookup_int(g, name, &i) == CONFIG_TRUE)
			*dst = i;
	}
}

static void
take_int(const config_setting_t *g, const char *name, int *dst)
{
	long v = *dst;

	take_long(g, name, &v);
	*dst = (int)v;
}

static void
take_bool(const config_setting_t *g, const char *name, int *dst)
{
	int v;

	if (g && config_setting_lookup_bool(g, name, &v) == CONFIG_TRUE)
		*dst = v;
}

static const struct key top_keys[] = {
	{ "policy_file", K_STR, 0, 0 }, { "snapshot_file", K_STR, 0, 0 },
	{ "state_dir", K_STR, 0, 0 }, { "helper", K_STR, 0, 0 },
	{ "directory", K_GROUP, 0, 0 }, { "mfa", K_GROUP, 0, 0 },
	{ "secrets", K_GROUP, 0, 0 }, { "audit", K_GROUP, 0, 0 },
	{ "daemon", K_GROUP, 0, 0 }, { NULL, 0, 0, 0 } };
static const struct key dir_keys[] = {
	{ "uri", K_STRLIST, 0, 0 }, { "base", K_STR, 0, 0 }, { "bind_dn", K_STR, 0, 0 },
	{ "bind_password_file", K_STR, 0, 0 }, { "sasl_mech", K_STR, 0, 0 },
	{ "client_cert", K_STR, 0, 0 }, { "client_key", K_STR, 0, 0 },
	{ "ca_file", K_STR, 0, 0 }, { "starttls", K_BOOL, 0, 0 },
	{ "allow_plaintext", K_BOOL, 0, 0 }, { "user_filter", K_STR, 0, 0 },
	{ "group_filter", K_STR, 0, 0 }, { "member_of_attr", K_STR, 0, 0 },
	{ "name_attribute", K_STR, 0, 0 },
	{ "nested_depth", K_INT, 0, 10 }, { "timeout_ms", K_INT, 100, 60000 },
	{ "cache_seconds", K_INT, 0, 86400 }, { "offline_max_age", K_INT, 0, 30 * 86400 },
	{ "max_entries", K_INT, 1, 100000 }, { "max_values", K_INT, 1, 1000000 },
	{ NULL, 0, 0, 0 } };
static const struct key mfa_keys[] = {
	{ "digits", K_INT, 6, 8 }, { "period", K_INT, 15, 300 },
	{ "algorithm", K_STR, 0, 0 }, { "window", K_INT, 0, 10 },
	{ "max_failures", K_INT, 1, 100 }, { "lockout_seconds", K_INT, 1, 7 * 86400 },
	{ "issuer", K_STR, 0, 0 }, { "recovery_codes", K_INT, 1, 16 }, { NULL, 0, 0, 0 } };
static const struct key secrets_keys[] = { { "key_file", K_STR, 0, 0 }, { NULL, 0, 0, 0 } };
static const struct key audit_keys[] = {
	{ "path", K_STR, 0, 0 }, { "key_file", K_STR, 0, 0 }, { "syslog", K_BOOL, 0, 0 },
	{ "fsync", K_BOOL, 0, 0 }, { "group_adm", K_BOOL, 0, 0 }, { NULL, 0, 0, 0 } };
static const struct key daemon_keys[] = { { "socket", K_STR, 0, 0 }, { NULL, 0, 0, 0 } };

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
	struct ctx x = { name ? name : CONF_DEFAULT_PATH, err, errlen, 0 };
	config_t cfg;
	const config_setting_t *root, *d, *m, *s, *a, *dm, *uri;
	const char *algo;
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
	root = config_root_setting(&cfg);
	check_group(&x, root, "", top_keys);
	d = config_setting_get_member(root, "directory");
	m = config_setting_get_member(root, "mfa");
	s = config_setting_get_member(root, "secrets");
	a = config_setting_get_member(root, "audit");
	dm = config_setting_get_member(root, "daemon");
	if (d && config_setting_is_group(d))
		check_group(&x, d, "directory", dir_keys);
	if (m && config_setting_is_group(m))
		check_group(&x, m, "mfa", mfa_keys);
	if (s && config_setting_is_group(s))
		check_group(&x, s, "secrets", secrets_keys);
	if (a && config_setting_is_group(a))
		check_group(&x, a, "audit", audit_keys);
	if (dm && config_setting_is_group(dm))
		check_group(&x, dm, "daemon", daemon_keys);
	if (x.rc != 0)
		goto out;
	if (set_str(&c->path, x.path) != 0)
		x.rc = WARD_ERR_NOMEM;
	take_str(&x, root, "policy_file", &c->policy_file);
	take_str(&x, root, "snapshot_file", &c->snapshot_file);
	take_str(&x, root, "state_dir", &c->state_dir);
	take_str(&x, root, "helper", &c->helper_path);
	take_str(&x, s, "key_file", &c->key_file);
	take_str(&x, a, "path", &c->audit.path);
	take_str(&x, a, "key_file", &c->audit.key_file);
	take_bool(a, "syslog", &c->audit.syslog);
	take_bool(a, "fsync", &c->audit.fsync);
	take_bool(a, "group_adm", &c->audit.group_adm);
	take_str(&x, dm, "socket", &c->daemon.socket);
	if (x.rc == 0 && (c->daemon.socket[0] != '/' ||
	    strlen(c->daemon.socket) > CONF_SOCKET_MAX))
		fail(&x, config_setting_get_member(dm, "socket"), "daemon.socket",
		    "must be an absolute path of at most 107 bytes");
	take_int(m, "digits", &c->mfa.digits);
	take_int(m, "period", &c->mfa.period);
	take_int(m, "window", &c->mfa.window);
	take_int(m, "max_failures", &c->mfa.max_failures);
	take_long(m, "lockout_seconds", &c->mfa.lockout_seconds);
	take_int(m, "recovery_codes", &c->mfa.recovery_codes);
	take_str(&x, m, "issuer", &c->mfa.issuer);
	if (m && config_setting_lookup_string(m, "algorithm", &algo) == CONFIG_TRUE) {
		if (strcmp(algo, "sha1") == 0)
			c->mfa.algorithm = CONF_ALGO_SHA1;
		else if (strcmp(algo, "sha256") == 0)
			c->mfa.algorithm = CONF_ALGO_SHA256;
		else if (strcmp(algo, "sha512") == 0)
			c->mfa.algorithm = CONF_ALGO_SHA512;
		else
			fail(&x, config_setting_get_member(m, "algorithm"), "mfa.algorithm",
			    "must be sha1, sha256 or sha512");
	}
	if (d != NULL && x.rc == 0) {
		struct conf_directory *cd = &c->directory;
		int has_tls_uri = 0, has_plain = 0;

		cd->enabled = 1;
		uri = config_setting_get_member(d, "uri");
		if (uri == NULL || config_setting_length(uri) == 0) {
			fail(&x, d, "directory.uri", "at least one URI is needed");
			goto out;
		}
		if (config_setting_length(uri) > CONF_MAX_URIS) {
			fail(&x, uri, "directory.uri", "at most 8 URIs");
			goto out;
		}
		take_bool(d, "starttls", &cd->starttls);
		take_bool(d, "allow_plaintext", &cd->allow_plaintext);
		for (int i = 0; i < config_setting_length(uri) && x.rc == 0; i++) {
			const char *u = config_setting_get_string_elem(uri, i);
			if (strncmp(u, "ldaps://", 8) == 0)
				has_tls_uri = 1;
			else if (strncmp(u, "ldap://", 7) == 0)
				(cd->starttls ? (void)(has_tls_uri = 1) : (void)(has_plain = 1));
			else if (strncmp(u, "ldapi://", 8) != 0)
				fail(&x, uri, "directory.uri", "URIs must start with ldaps://, ldap:// or ldapi://");
			if (set_str(&cd->uri[i], u) != 0)
				x.rc = WARD_ERR_NOMEM;
			cd->nuri = (size_t)i + 1;
		}
		if (has_plain && !cd->allow_plaintext)
			fail(&x, uri, "directory.uri", "ldap:// without starttls sends the "
			    "bind password in clear; use ldaps://, starttls = true, or "
			    "allow_plaintext = true");
		if (has_plain && cd->allow_plaintext)
			ward_log(LOG_WARNING, "%s: directory.allow_plaintext is on: directory "
			    "traffic is not encrypted", x.path);
		take_str(&x, d, "base", &cd->base);
		take_str(&x, d, "bind_dn", &cd->bind_dn);
		take_str(&x, d, "bind_password_file", &cd->bind_password_file);
		take_str(&x, d, "sasl_mech", &cd->sasl_mech);
		take_str(&x, d, "client_cert", &cd->client_cert);
		take_str(&x, d, "client_key", &cd->client_key);
		take_str(&x, d, "ca_file", &cd->ca_file);
		take_str(&x, d, "user_filter", &cd->user_filter);
		take_str(&x, d, "group_filter", &cd->group_filter);
		take_str(&x, d, "member_of_attr", &cd->member_of_attr);
		take_str(&x, d, "name_attribute", &cd->name_attr);
		take_int(d, "nested_depth", &cd->nested_depth);
		take_long(d, "timeout_ms", &cd->timeout_ms);
		take_long(d, "cache_seconds", &cd->cache_seconds);
		take_long(d, "offline_max_age", &cd->offline_max_age);
		take_long(d, "max_entries", &cd->max_entries);
		take_long(d, "max_values", &cd->max_values);
		if (x.rc == 0 && cd->base == NULL)
			fail(&x, d, "directory.base", "is required");
		if (x.rc == 0 && has_tls_uri && cd->ca_file == NULL)
			fail(&x, d, "directory.ca_file", "is required for ldaps:// and "
			    "StartTLS: certificates are always verified");
		if (x.rc == 0 && strstr(cd->user_filter, "%u") == NULL)
			fail(&x, d, "directory.user_filter", "must contain %u");
		if (x.rc == 0 && cd->group_filter && strstr(cd->group_filter, "%d") == NULL)
			fail(&x, d, "directory.group_filter", "must contain %d");
		if (x.rc == 0 && cd->bind_dn && !cd->bind_password_file &&
		    !(cd->sasl_mech && strcmp(cd->sasl_mech, "EXTERNAL") == 0))
			fail(&x, d, "directory.bind_password_file", "is required with bind_dn");
		if (x.rc == 0 && cd->sasl_mech && strcmp(cd->sasl_mech, "EXTERNAL") != 0)
			fail(&x, d, "directory.sasl_mech", "only \"EXTERNAL\" is supported");
	}
	if (x.rc == 0 && c->snapshot_file == NULL) {
		size_t n = strlen(c->policy_file) + 6;
		if ((c->snapshot_file = malloc(n)) == NULL)
			x.rc = WARD_ERR_NOMEM;
		else
			snprintf(c->snapshot_file, n, "%s.snap", c->policy_file);
	}
out:
	config_destroy(&cfg);
	if (x.rc != 0) {
		if (x.rc == WARD_ERR_NOMEM && err[0] == '\0')
			snprintf(err, errlen, "%s: out of memory", x.path);
		conf_free(c);
	}
	return x.rc;
}
