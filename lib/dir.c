/*
 * dir.c - directory client: a user's group DNs from LDAP (OpenLDAP libldap).
 * dir_user_groups tries the URIs in order (dir_conn.c connects and binds,
 * within the time dir_deadline.c keeps), finds the user's entry and groups,
 * and hands the group DNs over for mapping to roles, compared by
 * dir_dn_normalize / dir_dn_equal.  The cache rule of ward.conf(5) is in
 * dir_cache.c, `wardctl directory test` in dir_diag.c.
 *
 * Rules it keeps:
 *  - Input before I/O: the user name passes ward_user_valid (<= 256 bytes,
 *    no control characters...) before anything else; names and DNs reach a
 *    filter only through ldap_bv2escaped_filter_value.
 *  - Names are not folded: the server matches %u by its own rule
 *    (caseIgnoreMatch for uid), so the entry counts only when its
 *    name_attribute holds the name byte for byte; otherwise the user is
 *    "not found" (the same answer as an unknown name) and it is logged.
 *  - Bounded answers: LDAP size limits on every search, max_entries groups,
 *    max_values values per attribute (and a cap on each incoming PDU,
 *    dir_conn.c), and a user filter that matches more than one entry is
 *    refused.  A refusal names its cause: our limit, the server's own
 *    limit, or the time.  Duplicate groups are found in O(log n) each
 *    (lib/dnset.c).
 *  - Fail closed: an error returns no groups at all, never a partial list.
 */
#include <ldap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "dir_int.h"
#include "dnset.h"

#define DIR_MAX_DN 4096             /* longest DN accepted from the server */
#define DIR_MAX_FILTER 65536        /* longest filter we build */
#define DIR_OR_CHUNK 32             /* group DNs per nested-group search */
#define DIR_NAME_ATTR "uid"         /* name_attribute when unset */

/* A DN from the server: sane length, no control characters. */
static int
dn_ok(const char *dn)
{
	size_t n;

	if (dn == NULL || (n = strnlen(dn, DIR_MAX_DN + 1)) == 0 || n > DIR_MAX_DN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)dn[i] < 0x20 || dn[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * TEMPLATE with every TOKEN ("%u", "%d") replaced by VALUE escaped as an
 * LDAP filter value.  *OUT is malloc'd.
 */
int
dir_filter_subst(const char *tmpl, const char *token, const char *value, char **out)
{
	struct berval in, esc = { 0, NULL };
	size_t tl = strlen(token), n = 0, cap;
	const char *p;
	char *buf;

	*out = NULL;
	in.bv_val = (char *)(uintptr_t)value;
	in.bv_len = strlen(value);
	if (ldap_bv2escaped_filter_value(&in, &esc) != 0 || esc.bv_val == NULL)
		return WARD_ERR_NOMEM;
	cap = strlen(tmpl) + 1;
	for (p = tmpl; (p = strstr(p, token)) != NULL; p += tl)
		cap += esc.bv_len;
	if (cap > DIR_MAX_FILTER) {
		ber_memfree(esc.bv_val);
		return WARD_ERR_TOOBIG;
	}
	if ((buf = malloc(cap)) == NULL) {
		ber_memfree(esc.bv_val);
		return WARD_ERR_NOMEM;
	}
	for (p = tmpl; *p != '\0';) {
		if (strncmp(p, token, tl) == 0) {
			memcpy(buf + n, esc.bv_val, esc.bv_len);
			n += esc.bv_len;
			p += tl;
		} else {
			buf[n++] = *p++;
		}
	}
	buf[n] = '\0';
	ber_memfree(esc.bv_val);
	*out = buf;
	return 0;
}

/* ---- searches ------------------------------------------------------------ */

/*
 * One search on d->ld within one step.  *RES holds every entry and the
 * result.  LDAP errors are logged with the URI.  OURS says what a search
 * cut at SIZELIMIT (our own limit) means, e.g. "more than max_entries
 * (1000) groups"; a search the server cut earlier, by its own size or
 * administrative limit, is logged as the server's, not ours.
 */
int
dir_search(struct dir *d, const char *base, int scope, const char *filter,
    char **attrs, int sizelimit, const char *ours, LDAPMessage **res)
{
	const char *uri = d->c->uri[d->cur];
	struct timeval tv;
	char err[256];
	int rc, msgid, code = LDAP_OTHER, r;

	*res = NULL;
	dir_step_start(d);
	if (dir_step_left(d) == 0) {
		/* the lookup's budget is spent: not even one more request */
		dir_timeout_text(d, "search", err, sizeof(err));
		r = WARD_ERR_TIMEOUT;
		goto fail;
	}
	dir_step_tv(d, &tv);
	rc = ldap_search_ext(d->ld, base, scope, filter, attrs, 0, NULL, NULL, &tv,
	    sizelimit, &msgid);
	if (rc != LDAP_SUCCESS) {
		dir_ldap_errtext(d->ld, rc, err, sizeof(err));
		r = dir_map_ldap_err(rc);
		if (d->timed_out) {
			dir_timeout_text(d, "search", err, sizeof(err));
			r = WARD_ERR_TIMEOUT;
		}
		goto fail;
	}
	dir_step_tv(d, &tv);
	rc = ldap_result(d->ld, msgid, LDAP_MSG_ALL, &tv, res);
	if (rc == 0 || (rc < 0 && d->timed_out)) {
		dir_timeout_text(d, "search", err, sizeof(err));
		if (rc == 0)
			ldap_abandon_ext(d->ld, msgid, NULL, NULL);
		r = WARD_ERR_TIMEOUT;
		goto fail;
	}
	if (rc < 0) {
		dir_ldap_errtext(d->ld, 0, err, sizeof(err));
		r = WARD_ERR_UNAVAIL;
		goto fail;
	}
	rc = ldap_parse_result(d->ld, *res, &code, NULL, NULL, NULL, NULL, 0);
	if (rc != LDAP_SUCCESS || code != LDAP_SUCCESS) {
		int e = rc != LDAP_SUCCESS ? rc : code;
		int got = ldap_count_entries(d->ld, *res);

		r = dir_map_ldap_err(e);
		if (r == WARD_ERR_NOTFOUND) {
			d->guard_on = 0;
			return r;       /* base missing: the caller decides */
		}
		if (e == LDAP_SIZELIMIT_EXCEEDED && got >= sizelimit)
			snprintf(err, sizeof(err), "%s", ours);
		else if (e == LDAP_SIZELIMIT_EXCEEDED)
			snprintf(err, sizeof(err), "the server's own size limit cut the answer "
			    "after %d entries (ours allows %d)", got < 0 ? 0 : got, sizelimit);
		else if (e == LDAP_ADMINLIMIT_EXCEEDED)
			snprintf(err, sizeof(err), "the server's administrative limit cut the "
			    "answer (%s)", ldap_err2string(e));
		else
			snprintf(err, sizeof(err), "%s", ldap_err2string(e));
		goto fail;
	}
	d->guard_on = 0;
	return 0;
fail:
	d->guard_on = 0;
	ldap_msgfree(*res);
	*res = NULL;
	snprintf(d->msg, sizeof(d->msg), "%s", err);
	ward_log(LOG_ERR, "directory %s: search %s under %s: %s%s", uri, filter, base, err,
	    r == WARD_ERR_TOOBIG ? ": refused" : "");
	return r;
}

/* Add DN at LEVEL to G: 0 added or already there (a DN that does not
 * parse is skipped with a warning), WARD_ERR_TOOBIG over max_entries,
 * NOMEM. */
static int
add_group(struct dnset *g, const char *dn, int level, const char *uri)
{
	int r = dn_ok(dn) ? dnset_add(g, dn, level) : WARD_ERR_PARSE;

	if (r == WARD_ERR_PARSE) {
		ward_log(LOG_WARNING, "directory %s: ignoring a group name that is not "
		    "a valid DN", uri);
		return 0;
	}
	if (r == WARD_ERR_TOOBIG)
		ward_log(LOG_ERR, "directory %s: more than max_entries (%zu) groups: refused",
		    uri, g->max);
	return r < 0 ? r : 0;
}

/*
 * The values of ATTR in entry E: 0 with *VALS (NULL when E has no ATTR;
 * free with ldap_value_free_len), or WARD_ERR_PARSE (logged) when ATTR is
 * there but cannot be read.  Absent and unreadable look alike to
 * ldap_get_values_len, so the attribute is looked for: an unreadable one
 * fails the answer - a dropped group could drop a role a deny or SoD rule
 * needs, a dropped name would turn the user into nobody.
 */
static int
attr_values(struct dir *d, LDAPMessage *e, const char *attr, struct berval ***vals)
{
	BerElement *ber = NULL;
	int present = 0;

	if ((*vals = ldap_get_values_len(d->ld, e, attr)) != NULL)
		return 0;
	for (char *a = ldap_first_attribute(d->ld, e, &ber); a != NULL;
	    a = ldap_next_attribute(d->ld, e, ber)) {
		present |= strcasecmp(a, attr) == 0;
		ldap_memfree(a);
	}
	if (ber != NULL)
		ber_free(ber, 0);
	if (!present)
		return 0;
	ward_log(LOG_ERR, "directory %s: %s of an entry cannot be read; refusing "
	    "the answer", d->c->uri[d->cur], attr);
	return WARD_ERR_PARSE;
}

/* The member_of_attr values of entry E, added at LEVEL (when within
 * MAXLEVEL).  Over max_values: WARD_ERR_TOOBIG. */
static int
add_member_of(struct dir *d, LDAPMessage *e, struct dnset *g, int level, int maxlevel)
{
	const char *uri = d->c->uri[d->cur];
	struct berval **vals;
	int r = 0, n;

	if (d->c->member_of_attr == NULL || level > maxlevel)
		return 0;
	if ((r = attr_values(d, e, d->c->member_of_attr, &vals)) != 0 || vals == NULL)
		return r;
	n = ldap_count_values_len(vals);
	if (n < 0 || (long)n > d->c->max_values) {
		ward_log(LOG_ERR, "directory %s: %s has %d values (max_values %ld)", uri,
		    d->c->member_of_attr, n, d->c->max_values);
		r = WARD_ERR_TOOBIG;
	}
	for (int i = 0; r == 0 && i < n; i++) {
		char dn[DIR_MAX_DN + 1];

		if (vals[i]->bv_len == 0 || vals[i]->bv_len > DIR_MAX_DN ||
		    memchr(vals[i]->bv_val, '\0', vals[i]->bv_len) != NULL) {
			ward_log(LOG_ERR, "directory %s: a %s value is empty, over %d bytes or "
			    "holds a NUL; refusing the answer", uri, d->c->member_of_attr,
			    DIR_MAX_DN);
			r = WARD_ERR_PARSE;
			break;
		}
		memcpy(dn, vals[i]->bv_val, vals[i]->bv_len);
		dn[vals[i]->bv_len] = '\0';
		r = add_group(g, dn, level, uri);
	}
	ldap_value_free_len(vals);
	return r;
}

/* The entries of RES: each DN added at LEVEL, its memberOf at LEVEL + 1. */
static int
add_entries(struct dir *d, LDAPMessage *res, struct dnset *g, int level, int maxlevel)
{
	const char *uri = d->c->uri[d->cur];
	int r = 0;

	for (LDAPMessage *e = ldap_first_entry(d->ld, res); r == 0 && e != NULL;
	    e = ldap_next_entry(d->ld, e)) {
		char *dn = ldap_get_dn(d->ld, e);

		if (dn == NULL) {
			/* a group we cannot name could carry a role: fail the answer */
			ward_log(LOG_ERR, "directory %s: an entry's DN cannot be read; refusing "
			    "the answer", uri);
			r = WARD_ERR_PARSE;
			break;
		}
		if (level <= maxlevel)
			r = add_group(g, dn, level, uri);
		ldap_memfree(dn);
		if (r == 0)
			r = add_member_of(d, e, g, level + 1, maxlevel);
	}
	return r;
}

/* Groups that contain any of FRONT (DNs), by group_filter, as one
 * (|...) search per chunk. */
static int
parents_by_filter(struct dir *d, char **front, size_t nfront, struct dnset *g,
    int level, int maxlevel)
{
	const struct conf_directory *c = d->c;
	char *attrs[2] = { c->member_of_attr, NULL };
	char one_one[] = "1.1", ours[64];
	int r = 0;

	if (attrs[0] == NULL)
		attrs[0] = one_one;
	snprintf(ours, sizeof(ours), "more than max_entries (%ld) groups", c->max_entries);
	for (size_t at = 0; r == 0 && at < nfront; at += DIR_OR_CHUNK) {
		size_t end = at + DIR_OR_CHUNK < nfront ? at + DIR_OR_CHUNK : nfront;
		size_t len = 4, used;
		char **parts = calloc(end - at, sizeof(*parts));
		char *f = NULL;
		LDAPMessage *res = NULL;

		if (parts == NULL)
			return WARD_ERR_NOMEM;
		for (size_t k = at; r == 0 && k < end; k++) {
			r = dir_filter_subst(c->group_filter, "%d", front[k], &parts[k - at]);
			if (r == 0)
				len += strlen(parts[k - at]);
		}
		if (r == 0 && len > DIR_MAX_FILTER)
			r = WARD_ERR_TOOBIG;
		if (r != 0)
			ward_log(LOG_ERR, "directory: cannot build the group filter: %s",
			    ward_strerror(r));
		if (r == 0 && (f = malloc(len)) == NULL)
			r = WARD_ERR_NOMEM;
		if (r == 0) {
			used = (size_t)snprintf(f, len, "%s", end - at > 1 ? "(|" : "");
			for (size_t k = at; k < end; k++)
				used += (size_t)snprintf(f + used, len - used, "%s", parts[k - at]);
			snprintf(f + used, len - used, "%s", end - at > 1 ? ")" : "");
			r = dir_search(d, c->base, LDAP_SCOPE_SUBTREE, f, attrs,
			    (int)c->max_entries + 1, ours, &res);
			if (r == WARD_ERR_NOTFOUND)
				r = 0;
			if (r == 0)
				r = add_entries(d, res, g, level, maxlevel);
			ldap_msgfree(res);
		}
		for (size_t k = at; k < end; k++)
			free(parts[k - at]);
		free(parts);
		free(f);
	}
	return r;
}

/* Groups containing DN, by reading DN's own memberOf (no group_filter). */
static int
parents_by_read(struct dir *d, const char *dn, struct dnset *g, int level, int maxlevel)
{
	char *attrs[2] = { d->c->member_of_attr, NULL };
	char any[] = "(objectClass=*)";
	LDAPMessage *res = NULL, *e;
	int r;

	r = dir_search(d, dn, LDAP_SCOPE_BASE, any, attrs, 1, "more than one entry", &res);
	if (r == WARD_ERR_NOTFOUND) {
		ldap_msgfree(res);
		return 0;
	}
	if (r == 0 && (e = ldap_first_entry(d->ld, res)) != NULL)
		r = add_member_of(d, e, g, level, maxlevel);
	ldap_msgfree(res);
	return r;
}

/* 1 when entry E has an ATTR value equal to USER byte for byte, 0 when
 * not, WARD_ERR_PARSE when ATTR cannot be read. */
int
dir_name_is(struct dir *d, LDAPMessage *e, const char *attr, const char *user)
{
	struct berval **vals = NULL;
	size_t len = strlen(user);
	int eq = attr_values(d, e, attr, &vals);

	for (size_t i = 0; eq == 0 && vals != NULL && vals[i] != NULL; i++)
		eq = vals[i]->bv_len == len && memcmp(vals[i]->bv_val, user, len) == 0;
	ldap_value_free_len(vals);
	return eq;
}

/*
 * The whole lookup on the bound d->ld.  The user's entry is the one
 * user_filter finds whose name_attribute holds USER exactly: the server
 * matches %u by the attribute's own rule (caseIgnoreMatch for uid), and
 * an entry for "rosa" is not ROSA's, whose enrolment, lockout and audit
 * records are kept under the exact bytes.  Entries that differ only so
 * are "not found" (d->name_differs set, logged): the same answer as for
 * a name the directory does not know, so it tells a user nothing.
 */
int
dir_lookup(struct dir *d, const char *user, struct dnset *g, char **user_dn)
{
	const struct conf_directory *c = d->c;
	const char *uri = c->uri[d->cur];
	const char *name_attr = c->name_attr ? c->name_attr : DIR_NAME_ATTR;
	char *attrs[3] = { c->member_of_attr, (char *)(uintptr_t)name_attr, NULL };
	char *filter = NULL, *udn = NULL;
	LDAPMessage *res = NULL, *e = NULL;
	int r, nent = 0, nsame = 0, maxlevel = 1 + c->nested_depth;

	if (attrs[0] == NULL) {
		attrs[0] = attrs[1];
		attrs[1] = NULL;
	}
	if ((r = dir_filter_subst(c->user_filter, "%u", user, &filter)) != 0) {
		ward_log(LOG_ERR, "directory: cannot build the user filter: %s", ward_strerror(r));
		return r;
	}
	r = dir_search(d, c->base, LDAP_SCOPE_SUBTREE, filter, attrs, 2,
	    "user_filter matches more than one entry for one user name", &res);
	if (r == WARD_ERR_TOOBIG)
		r = WARD_ERR_INVAL;     /* logged: more than one entry */
	if (r == WARD_ERR_NOTFOUND)
		ward_log(LOG_WARNING, "directory %s: base %s does not exist", uri, c->base);
	if (r != 0)
		goto out;
	for (LDAPMessage *x = ldap_first_entry(d->ld, res); r == 0 && x != NULL;
	    x = ldap_next_entry(d->ld, x)) {
		nent++;
		if ((r = dir_name_is(d, x, name_attr, user)) == 1) {
			nsame++;
			e = x;
			r = 0;
		}
	}
	if (r != 0)
		goto out;
	if (nsame == 0) {
		if (nent > 0) {
			d->name_differs = 1;
			ward_log(LOG_WARNING, "directory %s: user %s: %s (user_filter finds "
			    "%d entr%s, none with %s equal to the name byte for byte): not "
			    "this user's entry, no directory roles", uri, user,
			    DIR_NOTE_NAME_DIFFERS, nent, nent == 1 ? "y" : "ies", name_attr);
		}
		r = WARD_ERR_NOTFOUND;
		goto out;
	}
	if (nsame > 1) {
		ward_log(LOG_ERR, "directory %s: user_filter matches %d entries for one "
		    "user name: refused", uri, nsame);
		r = WARD_ERR_INVAL;
		goto out;
	}
	udn = ldap_get_dn(d->ld, e);
	if (udn == NULL || !dn_ok(udn)) {
		ward_log(LOG_ERR, "directory %s: the user's entry has no usable DN", uri);
		r = WARD_ERR_PARSE;
		goto out;
	}
	if ((r = add_member_of(d, e, g, 1, maxlevel)) != 0)
		goto out;
	if (c->group_filter != NULL) {
		char *one[1] = { udn };

		if ((r = parents_by_filter(d, one, 1, g, 1, maxlevel)) != 0)
			goto out;
	}
	/* Nested groups, one level at a time; duplicates end cycles. */
	for (int lvl = 1; lvl < maxlevel; lvl++) {
		size_t nfront = 0, i;
		char **front = calloc(g->n ? g->n : 1, sizeof(*front));

		if (front == NULL) {
			r = WARD_ERR_NOMEM;
			goto out;
		}
		for (i = 0; i < g->n; i++)
			if (g->level[i] == lvl)
				front[nfront++] = g->dn[i];
		if (nfront > 0 && c->group_filter != NULL)
			r = parents_by_filter(d, front, nfront, g, lvl + 1, maxlevel);
		else
			for (i = 0; r == 0 && i < nfront; i++)
				r = parents_by_read(d, front[i], g, lvl + 1, maxlevel);
		free(front);
		if (r != 0 || nfront == 0)
			break;
	}
out:
	if (r == 0 && user_dn != NULL) {
		if ((*user_dn = strdup(udn)) == NULL)
			r = WARD_ERR_NOMEM;
	}
	ldap_memfree(udn);
	ldap_msgfree(res);
	free(filter);
	return r;
}

/* ---- public API ---------------------------------------------------------- */

/* Rank for "which failure to report" over several URIs. */
static int
outage_rank(int r)
{
	switch (r) {
	case WARD_ERR_TLS: return 4;
	case WARD_ERR_AUTH: return 3;
	case WARD_ERR_TIMEOUT: return 2;
	case WARD_ERR_UNAVAIL: return 1;
	default: return 0;
	}
}

int
dir_user_groups(struct dir *d, const char *user, char ***dns, size_t *n, char **user_dn)
{
	struct dnset g;
	int r = WARD_ERR_UNAVAIL, worst = 0, tried_cur = -1;

	*dns = NULL;
	*n = 0;
	if (user_dn != NULL)
		*user_dn = NULL;
	/* before any I/O: ward_user_valid reads at most 257 bytes */
	if (d == NULL || ward_user_valid(user) != 0)
		return WARD_ERR_INVAL;
	d->name_differs = 0;
	dnset_init(&g, (size_t)d->c->max_entries);
	/* The connection of an earlier call first (auth, then account). */
	if (d->ld != NULL) {
		dir_budget_start(d);
		r = dir_lookup(d, user, &g, user_dn);
		dir_budget_end(d);
		if (!dir_is_outage(r))
			goto done;
		/* hung: do not wait for it twice; closed (restarted): reconnect */
		if (r == WARD_ERR_TIMEOUT)
			tried_cur = (int)d->cur;
		worst = r;
		dnset_free(&g);
		dir_drop_conn(d);
	}
	for (size_t i = 0; i < d->c->nuri; i++) {
		if ((int)i == tried_cur)
			continue;
		/* each URI: timeout_ms for connect, bind and the whole lookup */
		dir_budget_start(d);
		r = dir_connect_uri(d, i, NULL);
		if (r == 0)
			r = dir_lookup(d, user, &g, user_dn);
		dir_budget_end(d);
		if (!dir_is_outage(r))
			goto done;      /* an answer, or a local problem (password file...) */
		dnset_free(&g);
		dir_drop_conn(d);
		if (outage_rank(r) > outage_rank(worst))
			worst = r;
	}
	r = worst ? worst : WARD_ERR_UNAVAIL;
done:
	if (r == 0)
		r = dnset_take(&g, dns, n);
	if (r != 0) {
		dnset_free(&g);
		if (user_dn != NULL) {
			free(*user_dn);
			*user_dn = NULL;
		}
		*dns = NULL;
		*n = 0;
	}
	return r;
}

/* ---- DNs ----------------------------------------------------------------- */

int
dir_dn_normalize(const char *dn, char **out)
{
	char *norm = NULL;
	char *p;
	int rc;

	*out = NULL;
	if (dn == NULL || strlen(dn) > 8192)
		return WARD_ERR_PARSE;
	rc = ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAPV3,
	    &norm, LDAP_DN_FORMAT_LDAPV3);
	if (rc != LDAP_SUCCESS || norm == NULL)
		return rc == LDAP_NO_MEMORY ? WARD_ERR_NOMEM : WARD_ERR_PARSE;
	/* cn, ou, dc, uid, o, l: caseIgnoreMatch for types and values. */
	for (p = norm; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	*out = strdup(norm);
	ldap_memfree(norm);
	return *out == NULL ? WARD_ERR_NOMEM : 0;
}

int
dir_dn_equal(const char *a, const char *b)
{
	char *na = NULL, *nb = NULL;
	int eq = 0;

	if (dir_dn_normalize(a, &na) == 0 && dir_dn_normalize(b, &nb) == 0 && na != NULL &&
	    nb != NULL)
		eq = strcmp(na, nb) == 0;
	free(na);
	free(nb);
	return eq;
}

void
dir_free_list(char **dns, size_t n)
{
	if (dns == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(dns[i]);
	free(dns);
}
