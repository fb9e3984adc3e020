/*
 * dir_fleet.c - fleet mode's operations on a user's MFA record (fleet.h),
 * over the directory client's connections (dir_conn.c, dir_deadline.c).
 * Longer than most files on purpose: every write of the MFA record and
 * the rules below (one write target, one assertion per change, no answer
 * never a success) stay together, so a new operation meets them all here.
 *
 * Rules it keeps:
 *  - Writes go to fleet.write_uri alone.  The write handle is opened on a
 *    copy of the directory settings whose only URI is write_uri, so the
 *    client's failover never reaches another server with an MFA change.
 *    Reads (fleet_read) use directory.uri in its order.
 *  - Each change is one modify, its condition an assertion control
 *    (RFC 4528, critical) tested by the server inside the same write:
 *      accept S    (&(!(wardTotpLastStep>=S))(!(wardLockoutUntil>=NOW)))
 *                  replace watermark S, failures 0, lockout removed
 *      failure     an ended lockout: (&(wardLockoutUntil<=NOW)
 *                  (!(wardLockoutUntil>=NOW))) -> failures 1, lockout
 *                  removed; else (!(wardLockoutUntil>=NOW)) -> increment
 *                  (RFC 4525) with the post-read control (RFC 4527)
 *      recovery    (!(wardLockoutUntil>=NOW)) -> delete the code's value,
 *                  failures 0, lockout removed (post-read: codes left)
 *    "Locked" is wardLockoutUntil >= NOW, the same test everywhere.
 *  - No answer is never a success.  A modify that times out, loses its
 *    connection, or is answered "unavailable" twice (a chaining consumer
 *    whose forward failed; see modify) may still be applied later: the
 *    caller treats the step as spent.  A connection that gave no answer is
 *    dropped, so a late answer is never read as another operation's.
 *  - Nothing logged names a secret, a code, a hash or a password; DNs and
 *    LDAP error texts only.
 */
#include <ldap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "dir_int.h"
#include "fleet.h"

#define A_STEP "wardTotpLastStep"
#define A_FAIL "wardFailureCount"
#define A_LOCK "wardLockoutUntil"
#define A_SECRET "wardTotpSecret"
#define A_PARAMS "wardTotpParams"
#define A_ENROLLED "wardEnrolledAt"
#define A_REC "wardRecoveryCode"
#define A_SALT "wardRecoverySalt"
#define A_KEYID "wardKeyId"
#define OC_WARD "wardUser"

/* an attribute name where libldap wants a char * it does not change */
#define ATTR(s) ((char *)(uintptr_t)(s))

#define GTIME_LEN 16                /* "YYYYMMDDHHMMSSZ" + NUL */
#define READBACK_TRIES 5            /* why an assertion failed: reads, 20 ms apart */

struct fleet {
	const struct ward_conf *conf;
	struct conf_directory wc;   /* the directory settings, write_uri the only URI */
	struct dir *rd;             /* reads: directory.uri */
	struct dir *wr;             /* changes: fleet.write_uri */
};

static const char *const algo_names[] = { "sha1", "sha256", "sha512" };

/* ---- small helpers -------------------------------------------------------- */

/* T (unix seconds, UTC) as an LDAP GeneralizedTime. */
static void
gtime(int64_t t, char out[GTIME_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, GTIME_LEN, "%Y%m%d%H%M%SZ", &tm) != GTIME_LEN - 1)
		snprintf(out, GTIME_LEN, "19700101000000Z");
}

/* The form gtime writes, back to unix seconds; anything else is refused. */
static int
parse_gtime(const char *s, size_t len, int64_t *t)
{
	char buf[GTIME_LEN];
	struct tm tm;
	const char *end;

	if (len != GTIME_LEN - 1)
		return WARD_ERR_PARSE;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(&tm, 0, sizeof(tm));
	end = strptime(buf, "%Y%m%d%H%M%S", &tm);
	if (end == NULL || strcmp(end, "Z") != 0)
		return WARD_ERR_PARSE;
	*t = (int64_t)timegm(&tm);
	return 0;
}

/* A non-negative decimal integer of at most 18 digits. */
static int
parse_count(const char *s, size_t len, int64_t *v)
{
	int64_t n = 0;

	if (len == 0 || len > 18)
		return WARD_ERR_PARSE;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return WARD_ERR_PARSE;
		n = n * 10 + (s[i] - '0');
	}
	*v = n;
	return 0;
}

/* "ALGORITHM DIGITS PERIOD", as enrolment writes it (single spaces). */
static int
parse_params(const char *s, size_t len, int *algo, int *digits, int *period)
{
	const char *sp1 = memchr(s, ' ', len), *sp2;
	int64_t d, p;

	if (sp1 == NULL || (sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - s))) == NULL ||
	    parse_count(sp1 + 1, (size_t)(sp2 - sp1 - 1), &d) != 0 ||
	    parse_count(sp2 + 1, len - (size_t)(sp2 + 1 - s), &p) != 0 ||
	    d < 6 || d > 8 || p < 15 || p > 300)
		return WARD_ERR_PARSE;
	for (int i = 0; i < 3; i++)
		if ((size_t)(sp1 - s) == strlen(algo_names[i]) &&
		    memcmp(s, algo_names[i], (size_t)(sp1 - s)) == 0) {
			*algo = i;
			*digits = (int)d;
			*period = (int)p;
			return 0;
		}
	return WARD_ERR_PARSE;
}

void
dir_fleet_mod_set(LDAPMod *m, int op, const char *type, char **vals)
{
	memset(m, 0, sizeof(*m));
	m->mod_op = op;
	m->mod_type = ATTR(type);
	m->mod_values = vals;
}

void
dir_fleet_mod_setb(LDAPMod *m, int op, const char *type, struct berval **vals)
{
	memset(m, 0, sizeof(*m));
	m->mod_op = op | LDAP_MOD_BVALUES;
	m->mod_type = ATTR(type);
	m->mod_bvalues = vals;
}

void
dir_fleet_hash_vals(struct berval *bv, struct berval **vec,
    const unsigned char (*h)[FLEET_HASH_LEN], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bv[i].bv_val = (char *)(uintptr_t)h[i];
		bv[i].bv_len = FLEET_HASH_LEN;
		vec[i] = &bv[i];
	}
	vec[n] = NULL;
}

/* ---- connections and one modify ------------------------------------------ */

/* D connected and bound: the connection it has, else its URIs in order
 * (the write handle has one), each within timeout_ms. */
static int
ensure_conn(struct dir *d)
{
	int r = WARD_ERR_UNAVAIL, worst = 0;

	if (d->ld != NULL)
		return 0;
	for (size_t i = 0; i < d->c->nuri; i++) {
		dir_budget_start(d);
		r = dir_connect_uri(d, i, NULL);
		dir_budget_end(d);
		if (r == 0 || !dir_is_outage(r))
			return r;
		if (worst == 0 || r == WARD_ERR_TLS || r == WARD_ERR_AUTH)
			worst = r;
	}
	return worst ? worst : r;
}

/*
 * One modify of DN on D's bound connection with the server controls CTRLS,
 * within timeout_ms.  0 when the server answered: *CODE is its result code
 * and *RCTRLS (when RCTRLS is non-NULL) its response controls
 * (ldap_controls_free).  No answer: WARD_ERR_TIMEOUT or WARD_ERR_UNAVAIL,
 * logged, the connection dropped; the change may still be applied.
 */
static int
modify_once(struct dir *d, const char *dn, LDAPMod **mods, LDAPControl **ctrls, int *code,
    LDAPControl ***rctrls)
{
	LDAPMessage *res = NULL;
	struct timeval tv;
	char err[256];
	int rc, msgid, r;

	*code = LDAP_OTHER;
	if (rctrls != NULL)
		*rctrls = NULL;
	dir_budget_start(d);
	dir_step_start(d);
	rc = ldap_modify_ext(d->ld, dn, mods, ctrls, NULL, &msgid);
	if (rc != LDAP_SUCCESS) {
		dir_ldap_errtext(d->ld, rc, err, sizeof(err));
		r = d->timed_out ? WARD_ERR_TIMEOUT : rc == LDAP_NO_MEMORY ? WARD_ERR_NOMEM :
		    WARD_ERR_UNAVAIL;
		goto fail;
	}
	dir_step_tv(d, &tv);
	rc = ldap_result(d->ld, msgid, LDAP_MSG_ALL, &tv, &res);
	if (rc == 0 || (rc < 0 && d->timed_out)) {
		dir_timeout_text(d, "modify", err, sizeof(err));
		r = WARD_ERR_TIMEOUT;
		goto fail;
	}
	if (rc < 0) {
		dir_ldap_errtext(d->ld, 0, err, sizeof(err));
		r = WARD_ERR_UNAVAIL;
		goto fail;
	}
	rc = ldap_parse_result(d->ld, res, code, NULL, NULL, NULL, rctrls, 1);
	res = NULL;
	if (rc != LDAP_SUCCESS) {
		dir_ldap_errtext(d->ld, rc, err, sizeof(err));
		r = WARD_ERR_UNAVAIL;
		goto fail;
	}
	d->guard_on = 0;
	dir_budget_end(d);
	return 0;
fail:
	ldap_msgfree(res);
	ward_log(LOG_ERR, "directory %s: modify of %s: %s (no answer: not a success; the "
	    "change may still be applied)", d->c->uri[d->cur], dn, err);
	dir_budget_end(d);
	dir_drop_conn(d);
	return r;
}

/*
 * modify_once, sent a second time on the same connection when the server
 * answered 52 "unavailable": a chaining consumer of Debian 12's slapd
 * (2.5.13) now and then answers so to a connection's first chained write
 * ("Proxy operation retry failed"), whether or not the write reached the
 * provider.  Sending it again is safe for every change here: an accept
 * and a recovery code are guarded (a first write that landed makes the
 * second a replay or "no such value": a refusal, never a second success),
 * and a failure counted twice errs toward the lockout.
 */
static int
modify(struct dir *d, const char *dn, LDAPMod **mods, LDAPControl **ctrls, int *code,
    LDAPControl ***rctrls)
{
	int r = modify_once(d, dn, mods, ctrls, code, rctrls);

	if (r == 0 && *code == LDAP_UNAVAILABLE) {
		if (rctrls != NULL) {
			ldap_controls_free(*rctrls);
			*rctrls = NULL;
		}
		ward_log(LOG_WARNING, "directory %s: modify of %s: %s; sending it once more",
		    d->c->uri[d->cur], dn, ldap_err2string(*code));
		r = modify_once(d, dn, mods, ctrls, code, rctrls);
	}
	return r;
}

/* A result code other than success and assertionFailed, as a WARD_ERR_*,
 * logged with what was being done. */
static int
write_err(struct dir *d, const char *dn, const char *what, int code)
{
	int r;

	switch (code) {
	case LDAP_INSUFFICIENT_ACCESS:
		r = WARD_ERR_PERM;
		break;
	case LDAP_NO_SUCH_OBJECT:
	case LDAP_OBJECT_CLASS_VIOLATION:
		r = WARD_ERR_NOTFOUND;
		break;
	case LDAP_TIMELIMIT_EXCEEDED:
		r = WARD_ERR_TIMEOUT;
		break;
	default:
		/* busy, unavailable (a chained forward that failed), other: the
		 * outcome is not known to be a refusal */
		r = WARD_ERR_UNAVAIL;
		break;
	}
	/* the server answered: the connection is sound and stays (a new one
	 * would meet a chaining consumer's first-write failure again) */
	ward_log(LOG_ERR, "directory %s: %s on %s: %s", d->c->uri[d->cur], what, dn,
	    ldap_err2string(code));
	return r;
}

/* The assertion control (critical) for FILTER on D's connection. */
static int
assertion(struct dir *d, char *filter, LDAPControl **out)
{
	int rc = ldap_create_assertion_control(d->ld, filter, 1, out);

	if (rc != LDAP_SUCCESS) {
		*out = NULL;
		ward_log(LOG_ERR, "directory: cannot build the assertion %s: %s", filter,
		    ldap_err2string(rc));
		return rc == LDAP_NO_MEMORY ? WARD_ERR_NOMEM : WARD_ERR_INTERNAL;
	}
	return 0;
}

/* The post-read control (critical) asking for ATTR. */
static int
postread(const char *attr, LDAPControl **out)
{
	char *attrs[2] = { ATTR(attr), NULL };
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	struct berval bv;
	int r = WARD_ERR_NOMEM;

	*out = NULL;
	if (ber == NULL)
		return WARD_ERR_NOMEM;
	if (ber_printf(ber, "{v}", attrs) != -1 && ber_flatten2(ber, &bv, 0) != -1 &&
	    ldap_control_create(LDAP_CONTROL_POST_READ, 1, &bv, 1, out) == LDAP_SUCCESS)
		r = 0;
	ber_free(ber, 1);
	return r;
}

/* From the post-read response in RCTRLS: how many values ATTR has (*N) and
 * the first one, NUL-terminated, in BUF ("" when none or too long). */
static int
postread_value(LDAPControl **rctrls, const char *attr, size_t *n, char *buf, size_t len)
{
	LDAPControl *c = ldap_control_find(LDAP_CONTROL_POST_READ, rctrls, NULL);
	BerElement *ber;
	struct berval dn, a;
	ber_len_t blen;
	ber_tag_t tag;
	char *last;
	int r = WARD_ERR_PARSE;

	*n = 0;
	buf[0] = '\0';
	if (c == NULL || c->ldctl_value.bv_val == NULL)
		return WARD_ERR_PARSE;
	if ((ber = ber_init(&c->ldctl_value)) == NULL)
		return WARD_ERR_NOMEM;
	if (ber_scanf(ber, "{m" /*}*/, &dn) == LBER_ERROR)
		goto out;
	for (tag = ber_first_element(ber, &blen, &last); tag != LBER_DEFAULT;
	    tag = ber_next_element(ber, &blen, last)) {
		BerVarray vals = NULL;
		size_t k = 0;

		if (ber_scanf(ber, "{m[W]}", &a, &vals) == LBER_ERROR)
			goto out;
		if (a.bv_len == strlen(attr) && strncasecmp(a.bv_val, attr, a.bv_len) == 0) {
			for (k = 0; vals != NULL && vals[k].bv_val != NULL; k++)
				;
			*n = k;
			if (k > 0 && vals[0].bv_len < len) {
				memcpy(buf, vals[0].bv_val, vals[0].bv_len);
				buf[vals[0].bv_len] = '\0';
			}
		}
		ber_bvarray_free(vals);
	}
	r = 0;
out:
	ber_free(ber, 1);
	return r;
}

int
fleet_connect(struct fleet *f)
{
	int r = ensure_conn(f->rd);

	return r != 0 ? r : ensure_conn(f->wr);
}

/* ---- reading an entry ----------------------------------------------------- */

/* The one value of ATTR in E (NULL when absent): WARD_ERR_CORRUPT when it
 * has more. *VALS is the caller's to ldap_value_free_len. */
static int
one_value(struct dir *d, LDAPMessage *e, const char *attr, struct berval ***vals)
{
	*vals = ldap_get_values_len(d->ld, e, attr);
	if (*vals != NULL && ldap_count_values_len(*vals) > 1) {
		ward_log(LOG_ERR, "directory %s: %s has more than one value", d->c->uri[d->cur],
		    attr);
		ldap_value_free_len(*vals);
		*vals = NULL;
		return WARD_ERR_CORRUPT;
	}
	return 0;
}

/* Watermark and lockout of E (-1 and 0 when absent). */
static int
parse_state(struct dir *d, LDAPMessage *e, int64_t *last, int64_t *until)
{
	struct berval **v = NULL;
	int r;

	*last = -1;
	*until = 0;
	if ((r = one_value(d, e, A_STEP, &v)) == 0 && v != NULL)
		r = parse_count(v[0]->bv_val, v[0]->bv_len, last);
	ldap_value_free_len(v);
	v = NULL;
	if (r == 0 && (r = one_value(d, e, A_LOCK, &v)) == 0 && v != NULL)
		r = parse_gtime(v[0]->bv_val, v[0]->bv_len, until);
	ldap_value_free_len(v);
	return r == 0 ? 0 : WARD_ERR_CORRUPT;
}

/* Entry E into OUT. */
static int
parse_user(struct dir *d, LDAPMessage *e, struct fleet_user *out)
{
	struct berval **v = NULL;
	char *dn = ldap_get_dn(d->ld, e);
	int64_t n;
	int r;

	if (dn == NULL || (out->dn = strdup(dn)) == NULL) {
		ldap_memfree(dn);
		return dn == NULL ? WARD_ERR_PARSE : WARD_ERR_NOMEM;
	}
	ldap_memfree(dn);
	if ((r = parse_state(d, e, &out->last_step, &out->locked_until)) != 0)
		goto bad;
	if ((r = one_value(d, e, A_FAIL, &v)) != 0)
		goto bad;
	if (v != NULL && (r = parse_count(v[0]->bv_val, v[0]->bv_len, &n)) != 0)
		goto bad;
	out->failures = v != NULL ? (long)n : 0;
	ldap_value_free_len(v);
	if ((r = one_value(d, e, A_ENROLLED, &v)) != 0)
		goto bad;
	if (v != NULL && (r = parse_gtime(v[0]->bv_val, v[0]->bv_len, &out->enrolled_at)) != 0)
		goto bad;
	ldap_value_free_len(v);
	if ((r = one_value(d, e, A_SALT, &v)) != 0)
		goto bad;
	if (v != NULL) {
		if (v[0]->bv_len != FLEET_SALT_LEN) {
			r = WARD_ERR_PARSE;
			goto bad;
		}
		memcpy(out->recovery_salt, v[0]->bv_val, FLEET_SALT_LEN);
		out->has_salt = 1;
	}
	ldap_value_free_len(v);
	v = ldap_get_values_len(d->ld, e, A_REC);
	out->nrecovery = v != NULL ? (size_t)ldap_count_values_len(v) : 0;
	ldap_value_free_len(v);
	if ((r = one_value(d, e, A_SECRET, &v)) != 0)
		goto bad;
	if (v == NULL)
		return 0;       /* an entry, not enrolled */
	if (v[0]->bv_len == 0 || v[0]->bv_len > SECRET_MAX_PLAIN + SECRET_OVERHEAD) {
		r = WARD_ERR_PARSE;
		goto bad;
	}
	if ((out->secret_ct = malloc(v[0]->bv_len)) == NULL) {
		ldap_value_free_len(v);
		return WARD_ERR_NOMEM;
	}
	memcpy(out->secret_ct, v[0]->bv_val, v[0]->bv_len);
	out->secret_ct_len = v[0]->bv_len;
	ldap_value_free_len(v);
	if ((r = one_value(d, e, A_KEYID, &v)) != 0)
		goto bad;
	if (v != NULL) {
		if (v[0]->bv_len > FLEET_CHAIN_MAX) {
			r = WARD_ERR_PARSE;
			goto bad;
		}
		memcpy(out->key_chain, v[0]->bv_val, v[0]->bv_len);
		out->key_chain[v[0]->bv_len] = '\0';
	}
	ldap_value_free_len(v);
	if ((r = one_value(d, e, A_PARAMS, &v)) != 0)
		goto bad;
	if (v == NULL || parse_params(v[0]->bv_val, v[0]->bv_len, &out->algorithm,
	    &out->digits, &out->period) != 0) {
		r = WARD_ERR_PARSE;
		goto bad;
	}
	ldap_value_free_len(v);
	return 0;
bad:
	ldap_value_free_len(v);
	if (r != WARD_ERR_NOMEM) {
		ward_log(LOG_ERR, "directory %s: the Ward attributes of %s do not parse",
		    d->c->uri[d->cur], out->dn ? out->dn : "an entry");
		r = WARD_ERR_CORRUPT;
	}
	return r;
}

/* One search for USER's entry on D's bound connection, into OUT. */
static int
read_once(struct fleet *f, struct dir *d, const char *user, const char *filter,
    struct fleet_user *out)
{
	const struct conf_directory *c = &f->conf->directory;
	const char *name_attr = c->name_attr ? c->name_attr : "uid";
	char *attrs[] = { ATTR(name_attr), ATTR(A_SECRET), ATTR(A_PARAMS), ATTR(A_ENROLLED),
		ATTR(A_STEP), ATTR(A_FAIL), ATTR(A_LOCK), ATTR(A_SALT), ATTR(A_REC), ATTR(A_KEYID),
		NULL };
	LDAPMessage *res = NULL, *e = NULL;
	int r, nsame = 0;

	dir_budget_start(d);
	r = dir_search(d, c->base, LDAP_SCOPE_SUBTREE, filter, attrs, 2,
	    "user_filter matches more than one entry for one user name", &res);
	dir_budget_end(d);
	if (r == WARD_ERR_TOOBIG)
		r = WARD_ERR_INVAL;
	for (LDAPMessage *x = r == 0 ? ldap_first_entry(d->ld, res) : NULL; x != NULL;
	    x = ldap_next_entry(d->ld, x)) {
		int k = dir_name_is(d, x, name_attr, user);

		if (k < 0) {
			r = k;
			break;
		}
		if (k == 1) {
			nsame++;
			e = x;
		}
	}
	if (r == 0 && nsame == 0)
		r = WARD_ERR_NOTFOUND;
	else if (r == 0 && nsame > 1)
		r = WARD_ERR_INVAL;
	if (r == 0)
		r = parse_user(d, e, out);
	ldap_msgfree(res);
	return r;
}

int
fleet_read(struct fleet *f, const char *user, struct fleet_user *out)
{
	struct dir *d = f->rd;
	char *filter = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	out->last_step = -1;
	if (ward_user_valid(user) != 0)
		return WARD_ERR_INVAL;
	if ((r = dir_filter_subst(f->conf->directory.user_filter, "%u", user, &filter)) != 0)
		return r;
	/* the connection of an earlier call first; a stale one is made anew */
	if (d->ld != NULL) {
		r = read_once(f, d, user, filter, out);
		if (!dir_is_outage(r))
			goto out;
		fleet_user_clear(out);
		dir_drop_conn(d);
	}
	if ((r = ensure_conn(d)) == 0)
		r = read_once(f, d, user, filter, out);
	if (dir_is_outage(r))
		dir_drop_conn(d);
out:
	free(filter);
	if (r != 0)
		fleet_user_clear(out);
	return r;
}

void
fleet_user_clear(struct fleet_user *u)
{
	if (u == NULL)
		return;
	free(u->dn);
	ward_freezero(u->secret_ct, u->secret_ct_len);
	memset(u, 0, sizeof(*u));
	u->last_step = -1;
}

/* ---- the changes ------------------------------------------------------------ */

/*
 * An accept refused by its assertion: locked, or the step at or below the
 * watermark.  Read back on the write path; the write that refused us may
 * not have reached a chaining consumer's copy yet, so a read that shows
 * neither is tried again, then called a replay (the step is spent either
 * way).
 */
static int
why_refused(struct fleet *f, const char *dn, int64_t step, int64_t now)
{
	struct dir *d = f->wr;
	char any[] = "(objectClass=*)";
	char *attrs[] = { ATTR(A_STEP), ATTR(A_LOCK), NULL };

	for (int i = 0; i < READBACK_TRIES; i++) {
		LDAPMessage *res = NULL, *e;
		int64_t last = -1, until = 0;
		int r;

		if ((r = ensure_conn(d)) == 0) {
			dir_budget_start(d);
			r = dir_search(d, dn, LDAP_SCOPE_BASE, any, attrs, 1, "more than one entry",
			    &res);
			dir_budget_end(d);
		}
		if (r == 0 && (e = ldap_first_entry(d->ld, res)) != NULL)
			r = parse_state(d, e, &last, &until);
		ldap_msgfree(res);
		if (r != 0) {
			if (dir_is_outage(r))
				dir_drop_conn(d);
			ward_log(LOG_WARNING, "directory %s: %s: a code was refused, and whether "
			    "as a replay or a lockout cannot be read back: %s", d->c->uri[d->cur],
			    dn, ward_strerror(r));
			return WARD_ERR_REPLAY;
		}
		if (until >= now)
			return WARD_ERR_LOCKED;
		if (last >= step)
			return WARD_ERR_REPLAY;
		nanosleep(&(struct timespec){ 0, 20 * 1000000L }, NULL);
	}
	return WARD_ERR_REPLAY;
}

int
fleet_accept(struct fleet *f, const char *dn, int64_t step, int64_t now)
{
	char sstep[24], zero[] = "0", nowg[GTIME_LEN], filter[128];
	char *vstep[2] = { sstep, NULL }, *vzero[2] = { zero, NULL };
	LDAPMod m[3], *mods[4] = { &m[0], &m[1], &m[2], NULL };
	LDAPControl *ctrl = NULL, *ctrls[2] = { NULL, NULL };
	int r, code;

	if (dn == NULL || step < 0)
		return WARD_ERR_INVAL;
	snprintf(sstep, sizeof(sstep), "%lld", (long long)step);
	gtime(now, nowg);
	snprintf(filter, sizeof(filter), "(&(!(" A_STEP ">=%s))(!(" A_LOCK ">=%s)))", sstep,
	    nowg);
	dir_fleet_mod_set(&m[0], LDAP_MOD_REPLACE, A_STEP, vstep);
	dir_fleet_mod_set(&m[1], LDAP_MOD_REPLACE, A_FAIL, vzero);
	dir_fleet_mod_set(&m[2], LDAP_MOD_REPLACE, A_LOCK, NULL);
	if ((r = ensure_conn(f->wr)) != 0 || (r = assertion(f->wr, filter, &ctrl)) != 0)
		return r;
	ctrls[0] = ctrl;
	r = modify(f->wr, dn, mods, ctrls, &code, NULL);
	ldap_control_free(ctrl);
	if (r != 0)
		return r;
	if (code == LDAP_SUCCESS)
		return 0;
	if (code == LDAP_ASSERTION_FAILED)
		return why_refused(f, dn, step, now);
	return write_err(f->wr, dn, "accepting a code", code);
}

/* Set the lockout of DN to UNTIL (any caller that saw the count reach the
 * limit may; the value is the same give or take a second). */
static int
set_lockout(struct fleet *f, const char *dn, int64_t until)
{
	char g[GTIME_LEN], *v[2] = { g, NULL };
	LDAPMod m, *mods[2] = { &m, NULL };
	int r, code;

	gtime(until, g);
	dir_fleet_mod_set(&m, LDAP_MOD_REPLACE, A_LOCK, v);
	if ((r = ensure_conn(f->wr)) != 0 ||
	    (r = modify(f->wr, dn, mods, NULL, &code, NULL)) != 0)
		return r;
	return code == LDAP_SUCCESS ? 0 : write_err(f->wr, dn, "setting the lockout", code);
}

/* One asserted modify on the write path: 0 with *CODE the server's answer
 * (and the post-read value of POST into BUF, when POST is set). */
static int
asserted(struct fleet *f, const char *dn, char *filter, LDAPMod **mods, const char *post,
    int *code, size_t *n, char *buf, size_t len)
{
	LDAPControl *a = NULL, *p = NULL, *ctrls[3] = { NULL, NULL, NULL }, **rc = NULL;
	int r;

	if ((r = ensure_conn(f->wr)) != 0 || (r = assertion(f->wr, filter, &a)) != 0)
		return r;
	ctrls[0] = a;
	if (post != NULL && (r = postread(post, &p)) != 0) {
		ldap_control_free(a);
		return r;
	}
	ctrls[1] = p;
	r = modify(f->wr, dn, mods, ctrls, code, post != NULL ? &rc : NULL);
	if (r == 0 && *code == LDAP_SUCCESS && post != NULL &&
	    postread_value(rc, post, n, buf, len) != 0)
		r = WARD_ERR_PROTO;
	ldap_controls_free(rc);
	ldap_control_free(a);
	ldap_control_free(p);
	return r;
}

int
fleet_fail(struct fleet *f, const char *dn, int64_t now, int max_failures,
    long lockout_seconds, long *count, int *locked_now)
{
	char one[] = "1", nowg[GTIME_LEN], filter[160], buf[24];
	char *vone[2] = { one, NULL };
	LDAPMod m[2], *mods[3] = { &m[0], &m[1], NULL };
	int64_t n = 0;
	size_t nv = 0;
	int r, code = LDAP_OTHER;

	*count = 0;
	*locked_now = 0;
	if (dn == NULL || max_failures < 1 || lockout_seconds < 1)
		return WARD_ERR_INVAL;
	gtime(now, nowg);
	/* 1. a lockout that has ended: the count starts afresh at 1 */
	snprintf(filter, sizeof(filter), "(&(" A_LOCK "<=%s)(!(" A_LOCK ">=%s)))", nowg, nowg);
	dir_fleet_mod_set(&m[0], LDAP_MOD_REPLACE, A_FAIL, vone);
	dir_fleet_mod_set(&m[1], LDAP_MOD_REPLACE, A_LOCK, NULL);
	if ((r = asserted(f, dn, filter, mods, NULL, &code, NULL, NULL, 0)) != 0)
		return r;
	if (code == LDAP_SUCCESS) {
		n = 1;
		goto counted;
	}
	if (code != LDAP_ASSERTION_FAILED)
		return write_err(f->wr, dn, "counting a failure", code);
	/* 2. not locked: increment, reading back what it left; the first
	 * failure ever finds no count and adds one (at most twice round) */
	snprintf(filter, sizeof(filter), "(!(" A_LOCK ">=%s))", nowg);
	mods[1] = NULL;
	for (int tries = 0; tries < 2; tries++) {
		dir_fleet_mod_set(&m[0], LDAP_MOD_INCREMENT, A_FAIL, vone);
		r = asserted(f, dn, filter, mods, A_FAIL, &code, &nv, buf, sizeof(buf));
		if (r != 0)
			return r;
		if (code == LDAP_SUCCESS) {
			if (nv != 1 || parse_count(buf, strlen(buf), &n) != 0) {
				ward_log(LOG_ERR, "directory %s: %s: the failure count read back "
				    "does not parse", f->wr->c->uri[f->wr->cur], dn);
				return WARD_ERR_PROTO;
			}
			goto counted;
		}
		if (code == LDAP_ASSERTION_FAILED)
			return WARD_ERR_LOCKED;
		if (code != LDAP_NO_SUCH_ATTRIBUTE)
			return write_err(f->wr, dn, "counting a failure", code);
		snprintf(filter, sizeof(filter), "(&(!(" A_FAIL "=*))(!(" A_LOCK ">=%s)))", nowg);
		dir_fleet_mod_set(&m[0], LDAP_MOD_ADD, A_FAIL, vone);
		if ((r = asserted(f, dn, filter, mods, NULL, &code, NULL, NULL, 0)) != 0)
			return r;
		if (code == LDAP_SUCCESS) {
			n = 1;
			goto counted;
		}
		if (code != LDAP_ASSERTION_FAILED && code != LDAP_TYPE_OR_VALUE_EXISTS)
			return write_err(f->wr, dn, "counting a failure", code);
		/* someone added it meanwhile (or a lockout came): increment */
		snprintf(filter, sizeof(filter), "(!(" A_LOCK ">=%s))", nowg);
	}
	return write_err(f->wr, dn, "counting a failure", code);
counted:
	*count = (long)n;
	if (n >= max_failures) {
		if ((r = set_lockout(f, dn, now + lockout_seconds)) != 0)
			return r;
		*locked_now = n == max_failures;
	}
	return 0;
}

int
fleet_recovery_spend(struct fleet *f, const char *dn, const unsigned char hash[FLEET_HASH_LEN],
    int64_t now, size_t *left)
{
	char zero[] = "0", nowg[GTIME_LEN], filter[96], buf[8];
	char *vzero[2] = { zero, NULL };
	unsigned char h[FLEET_HASH_LEN];
	struct berval hv = { FLEET_HASH_LEN, (char *)h }, *vh[2] = { &hv, NULL };
	LDAPMod m[3], *mods[4] = { &m[0], &m[1], &m[2], NULL };
	size_t n = 0;
	int r, code = LDAP_OTHER;

	if (left != NULL)
		*left = 0;
	if (dn == NULL)
		return WARD_ERR_INVAL;
	memcpy(h, hash, sizeof(h));
	gtime(now, nowg);
	snprintf(filter, sizeof(filter), "(!(" A_LOCK ">=%s))", nowg);
	dir_fleet_mod_setb(&m[0], LDAP_MOD_DELETE, A_REC, vh);
	dir_fleet_mod_set(&m[1], LDAP_MOD_REPLACE, A_FAIL, vzero);
	dir_fleet_mod_set(&m[2], LDAP_MOD_REPLACE, A_LOCK, NULL);
	r = asserted(f, dn, filter, mods, A_REC, &code, &n, buf, sizeof(buf));
	ward_wipe(h, sizeof(h));
	if (r == WARD_ERR_PROTO && code == LDAP_SUCCESS) {
		/* spent; only the count left could not be read */
		ward_log(LOG_WARNING, "directory: %s: recovery codes left cannot be read back", dn);
		return 0;
	}
	if (r != 0)
		return r;
	if (code == LDAP_SUCCESS) {
		if (left != NULL)
			*left = n;
		return 0;
	}
	if (code == LDAP_NO_SUCH_ATTRIBUTE)
		return WARD_ERR_BADCODE;
	if (code == LDAP_ASSERTION_FAILED)
		return WARD_ERR_LOCKED;
	return write_err(f->wr, dn, "spending a recovery code", code);
}

int
fleet_enroll(struct fleet *f, const char *dn, const struct fleet_record *rec)
{
	char params[40], enrolled[GTIME_LEN], zero[] = "0", oc[] = OC_WARD;
	char keyid[FLEET_KEYID_LEN + 1], *vkeyid[2] = { keyid, NULL };
	char *vparams[2] = { params, NULL }, *venrolled[2] = { enrolled, NULL };
	char *vzero[2] = { zero, NULL }, *voc[2] = { oc, NULL };
	struct berval sv, saltv, rv[FLEET_MAX_RECOVERY], *vs[2] = { &sv, NULL };
	struct berval *vsalt[2] = { &saltv, NULL }, *vrec[FLEET_MAX_RECOVERY + 1];
	LDAPMod m[9], *mods[10];
	int r, code = LDAP_OTHER;

	if (dn == NULL || rec == NULL || rec->secret_ct == NULL || rec->algorithm < 0 ||
	    rec->algorithm > 2 || rec->nrecovery > FLEET_MAX_RECOVERY)
		return WARD_ERR_INVAL;
	snprintf(params, sizeof(params), "%s %d %d", algo_names[rec->algorithm], rec->digits,
	    rec->period);
	gtime(rec->enrolled_at, enrolled);
	snprintf(keyid, sizeof(keyid), "%s", rec->key_id);
	sv.bv_val = (char *)rec->secret_ct;
	sv.bv_len = rec->secret_ct_len;
	saltv.bv_val = (char *)(uintptr_t)rec->salt;
	saltv.bv_len = FLEET_SALT_LEN;
	dir_fleet_hash_vals(rv, vrec, rec->recovery, rec->nrecovery);
	for (int with_oc = 0; with_oc < 2; with_oc++) {
		int k = 0;

		if (with_oc)
			dir_fleet_mod_set(&m[k++], LDAP_MOD_ADD, "objectClass", voc);
		dir_fleet_mod_setb(&m[k++], LDAP_MOD_REPLACE, A_SECRET, vs);
		dir_fleet_mod_set(&m[k++], LDAP_MOD_REPLACE, A_PARAMS, vparams);
		dir_fleet_mod_set(&m[k++], LDAP_MOD_REPLACE, A_ENROLLED, venrolled);
		dir_fleet_mod_setb(&m[k++], LDAP_MOD_REPLACE, A_SALT, vsalt);
		dir_fleet_mod_setb(&m[k++], LDAP_MOD_REPLACE, A_REC, rec->nrecovery ? vrec : NULL);
		dir_fleet_mod_set(&m[k++], LDAP_MOD_REPLACE, A_FAIL, vzero);
		dir_fleet_mod_set(&m[k++], LDAP_MOD_REPLACE, A_LOCK, NULL);
		/* the key that made it (fleet.h, KEYS); none known: no chain */
		dir_fleet_mod_set(&m[k++], LDAP_MOD_REPLACE, A_KEYID, keyid[0] ? vkeyid : NULL);
		for (int i = 0; i < k; i++)
			mods[i] = &m[i];
		mods[k] = NULL;
		if ((r = ensure_conn(f->wr)) != 0 ||
		    (r = modify(f->wr, dn, mods, NULL, &code, NULL)) != 0)
			return r;
		if (code != LDAP_OBJECT_CLASS_VIOLATION)
			break;
		/* the entry is not a wardUser yet: add the class in the same modify */
	}
	return code == LDAP_SUCCESS ? 0 : write_err(f->wr, dn, "enrolling", code);
}

int
fleet_unlock(struct fleet *f, const char *dn)
{
	char zero[] = "0", *vzero[2] = { zero, NULL };
	LDAPMod m[2], *mods[3] = { &m[0], &m[1], NULL };
	int r, code = LDAP_OTHER;

	if (dn == NULL)
		return WARD_ERR_INVAL;
	dir_fleet_mod_set(&m[0], LDAP_MOD_REPLACE, A_FAIL, vzero);
	dir_fleet_mod_set(&m[1], LDAP_MOD_REPLACE, A_LOCK, NULL);
	if ((r = ensure_conn(f->wr)) != 0 ||
	    (r = modify(f->wr, dn, mods, NULL, &code, NULL)) != 0)
		return r;
	return code == LDAP_SUCCESS ? 0 : write_err(f->wr, dn, "unlocking", code);
}

/* ---- sealing (lib/secret.h, under the fleet key) ---------------------------- */

int
fleet_recovery_hash(const struct secret_key *fk, const unsigned char salt[FLEET_SALT_LEN],
    const char *user, const char *code, unsigned char out[FLEET_HASH_LEN])
{
	char norm[SECRET_RECOVERY_CHARS + 1];
	int r;

	if ((r = secret_recovery_normalise(code, norm)) != 0)
		return r;
	r = secret_recovery_hash(fk, salt, user, norm, out);
	ward_wipe(norm, sizeof(norm));
	return r;
}

int
fleet_make_record(const struct secret_key *fk, const char *user, const unsigned char *secret,
    size_t len, int algorithm, int digits, int period, int64_t now,
    const char *const *codes, size_t ncodes, struct fleet_record *rec)
{
	int r;

	memset(rec, 0, sizeof(*rec));
	if (ncodes > FLEET_MAX_RECOVERY || algorithm < 0 || algorithm > 2 ||
	    ward_user_valid(user) != 0)
		return WARD_ERR_INVAL;
	rec->algorithm = algorithm;
	rec->digits = digits;
	rec->period = period;
	rec->enrolled_at = now;
	if ((r = fleet_key_id(fk, rec->key_id)) != 0 ||
	    (r = secret_seal(fk, user, secret, len, &rec->secret_ct, &rec->secret_ct_len)) != 0 ||
	    (r = secret_random(rec->salt, sizeof(rec->salt))) != 0)
		goto fail;
	for (size_t i = 0; i < ncodes; i++) {
		if ((r = fleet_recovery_hash(fk, rec->salt, user, codes[i], rec->recovery[i])) != 0)
			goto fail;
		rec->nrecovery = i + 1;
	}
	return 0;
fail:
	fleet_record_clear(rec);
	return r;
}

void
fleet_record_clear(struct fleet_record *rec)
{
	if (rec == NULL)
		return;
	ward_freezero(rec->secret_ct, rec->secret_ct_len);
	ward_wipe(rec, sizeof(*rec));
}

/* ---- the handle ------------------------------------------------------------- */

int
fleet_open(struct fleet **fp, const struct ward_conf *conf)
{
	struct fleet *f;
	int r;

	*fp = NULL;
	if (conf == NULL || !conf->fleet.enabled || !conf->directory.enabled ||
	    conf->fleet.write_uri == NULL || strpbrk(conf->fleet.write_uri, " \t\n,;") != NULL) {
		ward_log(LOG_ERR, "fleet: incomplete or invalid settings (fleet and directory "
		    "groups; fleet.write_uri names one server)");
		return WARD_ERR_INVAL;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return WARD_ERR_NOMEM;
	f->conf = conf;
	f->wc = conf->directory;
	memset(f->wc.uri, 0, sizeof(f->wc.uri));
	f->wc.uri[0] = conf->fleet.write_uri;
	f->wc.nuri = 1;
	if ((r = dir_open(&f->rd, &conf->directory)) != 0 ||
	    (r = dir_open(&f->wr, &f->wc)) != 0) {
		fleet_close(f);
		return r;
	}
	*fp = f;
	return 0;
}

void
fleet_close(struct fleet *f)
{
	if (f == NULL)
		return;
	dir_close(f->rd);
	dir_close(f->wr);
	free(f);
}

/* ---- for dir_fleet_admin.c (dir_int.h) ----------------------------------- */

struct dir *
dir_fleet_path(struct fleet *f, int write)
{
	return write ? f->wr : f->rd;
}

const struct ward_conf *
dir_fleet_conf(const struct fleet *f)
{
	return f->conf;
}

int
dir_fleet_conn(struct dir *d)
{
	return ensure_conn(d);
}

int
dir_fleet_modify(struct fleet *f, const char *dn, LDAPMod **mods, char *filter, int *code)
{
	int r;

	if (filter != NULL)
		return asserted(f, dn, filter, mods, NULL, code, NULL, NULL, 0);
	if ((r = ensure_conn(f->wr)) != 0)
		return r;
	return modify(f->wr, dn, mods, NULL, code, NULL);
}

int
dir_fleet_write_err(struct fleet *f, const char *dn, const char *what, int code)
{
	return write_err(f->wr, dn, what, code);
}
