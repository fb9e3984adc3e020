/*
 * dir_conn.c - the directory client's connection to one URI: a libldap
 * handle with its TLS settings, the connect (ldaps://, ldap:// with
 * StartTLS, ldapi://), the reason a TLS connect failed, and the bind.
 * dir_user_groups (dir.c) walks the URIs in order; dir_open checks the
 * settings before any of it.
 *
 * Rules it keeps:
 *  - Certificates are always verified.  Every handle gets its own TLS
 *    context (LDAP_OPT_X_TLS_NEWCTX) with require-cert HARD, ca_file as the
 *    only trust anchor (a CA folder from ldap.conf is cleared) and TLS 1.2
 *    or later.  ldaps:// must be TLS once connected; ldap:// is StartTLS,
 *    which must succeed (never a silent fallback), unless allow_plaintext;
 *    ldapi:// is a local socket.  Nothing about trust is taken from
 *    ldap.conf, ~/.ldaprc or LDAPTLS_* variables.  The files libldap reads
 *    itself (ca_file, client certificate and key) pass the trusted opener's
 *    rules first.
 *  - Bounded time: the connect, TLS handshake, StartTLS and bind each run
 *    as a step of dir_deadline.c, whose guard sits under TLS on every
 *    connection; a step that times out drops the connection.  Each
 *    incoming PDU is capped (DIR_MAX_PDU).
 *  - The bind password is read through the trusted opener (secret rules)
 *    at bind time and wiped right after the bind request is encoded; it is
 *    never in a log line.  An empty password is refused (LDAP would treat
 *    it as an unauthenticated bind).
 *  - Referrals are not chased; aliases are not dereferenced.
 */
#include <ldap.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "dir_int.h"
#include "tfile.h"

#define DIR_MAX_PDU (8u << 20)      /* largest LDAP message accepted */
#define DIR_PW_MAX 1024             /* bind password file size cap */

enum uri_kind { URI_BAD, URI_LDAPS, URI_LDAP, URI_LDAPI };

static enum uri_kind
uri_kind(const char *u)
{
	if (u == NULL)
		return URI_BAD;
	if (strncmp(u, "ldaps://", 8) == 0)
		return URI_LDAPS;
	if (strncmp(u, "ldap://", 7) == 0)
		return URI_LDAP;
	if (strncmp(u, "ldapi://", 8) == 0)
		return URI_LDAPI;
	return URI_BAD;
}

/* The LDAP handle's error code and diagnostic text as one line. */
void
dir_ldap_errtext(LDAP *ld, int rc, char *buf, size_t len)
{
	char *diag = NULL;

	if (ld != NULL && rc == 0)
		ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &rc);
	if (ld != NULL)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag != NULL && diag[0] != '\0' && strcmp(diag, "(unknown error code)") != 0)
		snprintf(buf, len, "%s (%s)", ldap_err2string(rc), diag);
	else
		snprintf(buf, len, "%s", ldap_err2string(rc));
	ldap_memfree(diag);
}

int
dir_map_ldap_err(int rc)
{
	switch (rc) {
	case LDAP_SUCCESS:
		return 0;
	case LDAP_TIMEOUT:
	case LDAP_TIMELIMIT_EXCEEDED:
		return WARD_ERR_TIMEOUT;
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_STRONG_AUTH_REQUIRED:
	case LDAP_CONFIDENTIALITY_REQUIRED:
	case LDAP_AUTH_METHOD_NOT_SUPPORTED:
	case LDAP_AUTH_UNKNOWN:
	case LDAP_INSUFFICIENT_ACCESS:
	case LDAP_X_PROXY_AUTHZ_FAILURE:
		return WARD_ERR_AUTH;
	case LDAP_SIZELIMIT_EXCEEDED:
	case LDAP_ADMINLIMIT_EXCEEDED:
		return WARD_ERR_TOOBIG;
	case LDAP_NO_MEMORY:
		return WARD_ERR_NOMEM;
	case LDAP_FILTER_ERROR:
	case LDAP_PARAM_ERROR:
	case LDAP_INVALID_DN_SYNTAX:
	case LDAP_PROTOCOL_ERROR:
		return WARD_ERR_INVAL;
	case LDAP_NO_SUCH_OBJECT:
		return WARD_ERR_NOTFOUND;
	default:
		/* server down, busy, unavailable, unwilling, other: try the next URI */
		return WARD_ERR_UNAVAIL;
	}
}

/* Errors after which the next URI is worth trying (and the cache may
 * answer): the directory could not give a trustworthy answer now. */
int
dir_is_outage(int r)
{
	return r == WARD_ERR_UNAVAIL || r == WARD_ERR_TIMEOUT || r == WARD_ERR_TLS ||
	    r == WARD_ERR_AUTH;
}

/* ---- handle setup and TLS ------------------------------------------------ */

/* Options every handle gets.  VERIFY 0 only for the diagnostic probe that
 * runs after a failed handshake (no bind, no search on it). */
static int
handle_new(struct dir *d, const char *uri, int verify, LDAP **out, char *err, size_t errlen)
{
	const struct conf_directory *c = d->c;
	enum uri_kind k = uri_kind(uri);
	struct timeval tv;
	LDAP *ld = NULL;
	Sockbuf *sb = NULL;
	ber_len_t maxin = DIR_MAX_PDU;
	int v3 = LDAP_VERSION3, req, tmin = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
	int zero = 0, rc;

	*out = NULL;
	if ((rc = ldap_initialize(&ld, uri)) != LDAP_SUCCESS) {
		snprintf(err, errlen, "bad URI: %s", ldap_err2string(rc));
		return rc == LDAP_NO_MEMORY ? WARD_ERR_NOMEM : WARD_ERR_INVAL;
	}
	/* the TCP connect: what is left of the lookup's timeout_ms */
	dir_step_start(d);
	dir_step_tv(d, &tv);
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_DEREF, &zero) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_CONNECT_CB, dir_guard_cb(d)) != LDAP_OPT_SUCCESS) {
		snprintf(err, errlen, "cannot set connection options");
		ldap_unbind_ext(ld, NULL, NULL);
		return WARD_ERR_INTERNAL;
	}
	if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS && sb != NULL)
		ber_sockbuf_ctrl(sb, LBER_SB_OPT_SET_MAX_INCOMING, &maxin);
	if (k != URI_LDAPI) {
		req = verify ? LDAP_OPT_X_TLS_HARD : LDAP_OPT_X_TLS_NEVER;
		if (ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &req) != LDAP_OPT_SUCCESS ||
		    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, c->ca_file) != LDAP_OPT_SUCCESS ||
		    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTDIR, NULL) != LDAP_OPT_SUCCESS ||
		    ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tmin) != LDAP_OPT_SUCCESS ||
		    ldap_set_option(ld, LDAP_OPT_X_TLS_CERTFILE, c->client_cert) != LDAP_OPT_SUCCESS ||
		    ldap_set_option(ld, LDAP_OPT_X_TLS_KEYFILE, c->client_key) != LDAP_OPT_SUCCESS) {
			snprintf(err, errlen, "cannot set TLS options");
			ldap_unbind_ext(ld, NULL, NULL);
			return WARD_ERR_TLS;
		}
		if ((rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero)) != LDAP_OPT_SUCCESS) {
			snprintf(err, errlen, "TLS setup failed (ca_file %s, client certificate "
			    "or key unreadable or invalid): %s", c->ca_file, ldap_err2string(rc));
			ldap_unbind_ext(ld, NULL, NULL);
			return WARD_ERR_TLS;
		}
	}
	*out = ld;
	return 0;
}

/* Connect LD (ldaps: with the handshake; ldap: + StartTLS when asked). */
static int
handle_connect(struct dir *d, LDAP *ld, const char *uri, char *err, size_t errlen)
{
	enum uri_kind k = uri_kind(uri);
	LDAPMessage *res = NULL;
	struct timeval tv;
	int rc, msgid, code = 0;

	dir_step_start(d);
	rc = ldap_connect(ld);
	if (rc != LDAP_SUCCESS) {
		if (d->timed_out || dir_step_left(d) == 0) {
			dir_timeout_text(d, k == URI_LDAPS ? "TCP connect or TLS handshake" :
			    "TCP connect", err, errlen);
			return WARD_ERR_TIMEOUT;
		}
		dir_ldap_errtext(ld, rc, err, errlen);
		return WARD_ERR_UNAVAIL;
	}
	if (k == URI_LDAPS && !ldap_tls_inplace(ld)) {
		snprintf(err, errlen, "ldaps:// connection is not TLS");
		return WARD_ERR_TLS;
	}
	if (k != URI_LDAP || !d->c->starttls)
		return 0;
	dir_step_start(d);
	if ((rc = ldap_start_tls(ld, NULL, NULL, &msgid)) != LDAP_SUCCESS) {
		dir_ldap_errtext(ld, rc, err, errlen);
		return dir_map_ldap_err(rc) == WARD_ERR_TIMEOUT ? WARD_ERR_TIMEOUT : WARD_ERR_UNAVAIL;
	}
	dir_step_tv(d, &tv);
	rc = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, &res);
	if (rc <= 0) {
		ldap_msgfree(res);
		if (rc == 0)
			dir_timeout_text(d, "StartTLS", err, errlen);
		else
			dir_ldap_errtext(ld, 0, err, errlen);
		return rc == 0 ? WARD_ERR_TIMEOUT : WARD_ERR_UNAVAIL;
	}
	rc = ldap_parse_result(ld, res, &code, NULL, NULL, NULL, NULL, 1);
	if (rc != LDAP_SUCCESS || code != LDAP_SUCCESS) {
		snprintf(err, errlen, "StartTLS refused by the server: %s",
		    ldap_err2string(rc != LDAP_SUCCESS ? rc : code));
		return WARD_ERR_TLS;
	}
	dir_step_start(d);
	if ((rc = ldap_install_tls(ld)) != LDAP_SUCCESS || !ldap_tls_inplace(ld)) {
		if (d->timed_out || dir_step_left(d) == 0) {
			dir_timeout_text(d, "TLS handshake after StartTLS", err, errlen);
			return WARD_ERR_TIMEOUT;
		}
		dir_ldap_errtext(ld, rc, err, errlen);
		return WARD_ERR_UNAVAIL;   /* refined by tls_explain */
	}
	return 0;
}

/* snprintf into a message buffer, where truncation is acceptable. */
static void msgf(char *buf, size_t len, const char *fmt, ...) WARD_PRINTF(3, 4);
static void
msgf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Why a certificate is refused, from the certificate itself (OpenSSL):
 * untrusted or expired, or issued for another name. */
static void
cert_reason(const struct berval *der, const char *ca_file, const char *host,
    char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)der->bv_val;
	X509 *cert = d2i_X509(NULL, &p, (long)der->bv_len);
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	char subj[256] = "", iss[256] = "";
	int ok, vr, name_ok;

	if (cert == NULL) {
		msgf(buf, len, "certificate verification failed");
		return;
	}
	X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
	X509_NAME_oneline(X509_get_issuer_name(cert), iss, sizeof(iss));
	if ((store = X509_STORE_new()) == NULL || (ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_load_file(store, ca_file) != 1 ||
	    X509_STORE_CTX_init(ctx, store, cert, NULL) != 1) {
		msgf(buf, len, "certificate verification failed (server certificate "
		    "%.80s, issuer %.80s; ca_file %.200s could not be read)", subj, iss, ca_file);
		goto out;
	}
	ok = X509_verify_cert(ctx);
	vr = X509_STORE_CTX_get_error(ctx);
	name_ok = X509_check_ip_asc(cert, host, 0) == 1 ||
	    X509_check_host(cert, host, 0, 0, NULL) == 1;
	if (ok != 1)
		msgf(buf, len, "certificate verification failed: %s (server certificate "
		    "%.80s issued by %.80s; not trusted by ca_file %.200s)",
		    X509_verify_cert_error_string(vr), subj, iss, ca_file);
	else if (!name_ok)
		msgf(buf, len, "certificate verification failed: the server certificate "
		    "(%.80s) is not issued for \"%.100s\"", subj, host);
	else
		msgf(buf, len, "certificate verification failed (server certificate %.80s)",
		    subj);
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(cert);
	ERR_clear_error();
}

/*
 * A connect that failed on a TLS URI: libldap says only "Can't contact LDAP
 * server".  Tell a certificate problem apart by a probe handshake that does
 * not verify (and is closed at once: no bind, no search), then name the
 * reason from the certificate.  Returns WARD_ERR_TLS with ERR rewritten, or
 * R unchanged when the server cannot be reached at all.
 */
static int
tls_explain(struct dir *d, const char *uri, int r, char *err, size_t errlen)
{
	enum uri_kind k = uri_kind(uri);
	LDAPURLDesc *lud = NULL;
	struct berval der = { 0, NULL };
	LDAP *probe = NULL;
	char perr[256];

	if (r != WARD_ERR_UNAVAIL || k == URI_LDAPI || (k == URI_LDAP && !d->c->starttls))
		return r;
	if (handle_new(d, uri, 0, &probe, perr, sizeof(perr)) != 0)
		return r;
	if (handle_connect(d, probe, uri, perr, sizeof(perr)) != 0) {
		dir_step_start(d);
		ldap_unbind_ext(probe, NULL, NULL);
		d->guard_on = 0;
		return r;       /* not even an unverified handshake: unreachable */
	}
	if (ldap_get_option(probe, LDAP_OPT_X_TLS_PEERCERT, &der) == LDAP_OPT_SUCCESS &&
	    der.bv_val != NULL && ldap_url_parse(uri, &lud) == LDAP_URL_SUCCESS &&
	    lud->lud_host != NULL)
		cert_reason(&der, d->c->ca_file, lud->lud_host, err, errlen);
	else
		snprintf(err, errlen, "certificate verification failed");
	ber_memfree(der.bv_val);
	ldap_free_urldesc(lud);
	dir_step_start(d);
	ldap_unbind_ext(probe, NULL, NULL);
	d->guard_on = 0;
	return WARD_ERR_TLS;
}

/* ---- bind ---------------------------------------------------------------- */

/* Read the bind password (trusted opener, secret rules); strip one line
 * end.  *PW is the caller's to wipe with ward_freezero(*PW, *LEN + 1). */
static int
read_password(const char *path, char **pw, size_t *len, char *err, size_t errlen)
{
	int r;

	*pw = NULL;
	r = tfile_read(path, TFILE_SECRET, DIR_PW_MAX, pw, len, err, errlen);
	if (r != 0)
		return r;
	if (*len > 0 && (*pw)[*len - 1] == '\n')
		(*pw)[--*len] = '\0';
	if (*len > 0 && (*pw)[*len - 1] == '\r')
		(*pw)[--*len] = '\0';
	if (*len == 0 || memchr(*pw, '\0', *len) != NULL || strchr(*pw, '\n') != NULL) {
		ward_freezero(*pw, *len + 1);
		*pw = NULL;
		snprintf(err, errlen, "%s: the password must be one non-empty line "
		    "(an empty password would be an unauthenticated bind)", path);
		return WARD_ERR_PARSE;
	}
	return 0;
}

static int
handle_bind(struct dir *d, LDAP *ld, char *err, size_t errlen)
{
	const struct conf_directory *c = d->c;
	struct berval cred = { 0, NULL };
	LDAPMessage *res = NULL;
	struct timeval tv;
	char *pw = NULL;
	size_t pwlen = 0;
	int rc, msgid, code = LDAP_OTHER, r;

	if (c->sasl_mech != NULL && strcmp(c->sasl_mech, "EXTERNAL") == 0) {
		/* an empty initial response: "the identity of the TLS client
		 * certificate or the ldapi peer, no authorization identity" */
		char none[1] = "";

		cred.bv_val = none;
		cred.bv_len = 0;
		dir_step_start(d);
		rc = ldap_sasl_bind(ld, NULL, "EXTERNAL", &cred, NULL, NULL, &msgid);
	} else if (c->bind_dn != NULL) {
		if ((r = read_password(c->bind_password_file, &pw, &pwlen, err, errlen)) != 0)
			return r;
		cred.bv_val = pw;
		cred.bv_len = pwlen;
		dir_step_start(d);
		rc = ldap_sasl_bind(ld, c->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, &msgid);
		ward_freezero(pw, pwlen + 1);
		cred.bv_val = NULL;
	} else {
		return 0;       /* anonymous */
	}
	if (rc != LDAP_SUCCESS && d->timed_out) {
		dir_timeout_text(d, "bind", err, errlen);
		return WARD_ERR_TIMEOUT;
	}
	if (rc != LDAP_SUCCESS) {
		dir_ldap_errtext(ld, rc, err, errlen);
		r = dir_map_ldap_err(rc);
		return r == WARD_ERR_NOTFOUND ? WARD_ERR_AUTH : r;
	}
	dir_step_tv(d, &tv);
	rc = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, &res);
	if (rc <= 0) {
		ldap_msgfree(res);	/* a message of type 0 comes back as 0 */
		res = NULL;
	}
	if (rc == 0 || (rc < 0 && d->timed_out)) {
		dir_timeout_text(d, "bind", err, errlen);
		return WARD_ERR_TIMEOUT;
	}
	if (rc < 0) {
		dir_ldap_errtext(ld, 0, err, errlen);
		return WARD_ERR_UNAVAIL;
	}
	rc = ldap_parse_result(ld, res, &code, NULL, NULL, NULL, NULL, 1);
	if (rc != LDAP_SUCCESS || code != LDAP_SUCCESS) {
		int e = rc != LDAP_SUCCESS ? rc : code;

		snprintf(err, errlen, "bind as %s refused: %s",
		    c->bind_dn ? c->bind_dn : "SASL EXTERNAL", ldap_err2string(e));
		r = dir_map_ldap_err(e);
		return r == WARD_ERR_UNAVAIL || r == WARD_ERR_TIMEOUT ? r : WARD_ERR_AUTH;
	}
	return 0;
}

/* ---- one URI ------------------------------------------------------------- */

void
dir_drop_conn(struct dir *d)
{
	if (d->ld != NULL) {
		dir_step_start(d);          /* the unbind write cannot hang */
		ldap_unbind_ext(d->ld, NULL, NULL);
		d->ld = NULL;
	}
	d->guard_on = 0;
}

/* The files libldap reads itself pass the trusted opener's rules first
 * (root-owned, not writable by others; the key not readable by others):
 * they decide whom we trust and who we are. */
static int
check_files(struct dir *d, char *err, size_t errlen)
{
	const char *path[3] = { d->c->ca_file, d->c->client_cert, d->c->client_key };
	const int flags[3] = { 0, 0, TFILE_SECRET };

	if (d->files_ok)
		return 0;
	for (int i = 0; i < 3; i++) {
		char *buf = NULL;
		size_t len = 0;
		int r;

		if (path[i] == NULL)
			continue;
		if ((r = tfile_read(path[i], flags[i], 1u << 20, &buf, &len, err, errlen)) != 0)
			return r;
		ward_freezero(buf, len + 1);
	}
	d->files_ok = 1;
	return 0;
}

/* Connect and bind to URI I; on success d->ld is set.  DG (may be NULL)
 * gets the per-step figures. */
int
dir_connect_uri(struct dir *d, size_t i, struct dir_diag *dg)
{
	const char *uri = d->c->uri[i];
	struct timespec t0;
	char err[256];
	LDAP *ld = NULL;
	int r;

	err[0] = '\0';
	dir_drop_conn(d);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((r = check_files(d, err, sizeof(err))) != 0)
		goto fail;
	if ((r = handle_new(d, uri, 1, &ld, err, sizeof(err))) != 0)
		goto fail;
	if ((r = handle_connect(d, ld, uri, err, sizeof(err))) != 0) {
		r = tls_explain(d, uri, r, err, sizeof(err));
		goto fail;
	}
	if (dg != NULL) {
		char *ver = NULL;

		dg->connect_ms = dir_ms_since(&t0);
		dg->reachable = 1;
		if (ldap_tls_inplace(ld) &&
		    ldap_get_option(ld, LDAP_OPT_X_TLS_VERSION, &ver) == LDAP_OPT_SUCCESS &&
		    ver != NULL)
			snprintf(dg->tls_version, sizeof(dg->tls_version), "%s", ver);
		ldap_memfree(ver);
		clock_gettime(CLOCK_MONOTONIC, &t0);
	}
	if ((r = handle_bind(d, ld, err, sizeof(err))) != 0) {
		if (dg != NULL) {
			dg->bind_ms = dir_ms_since(&t0);
			dg->bind_rc = r;
		}
		goto fail;
	}
	if (dg != NULL)
		dg->bind_ms = dir_ms_since(&t0);
	d->ld = ld;
	d->cur = i;
	return 0;
fail:
	if (dg != NULL && dg->connect_ms == 0 && !dg->reachable)
		dg->connect_ms = dir_ms_since(&t0);
	if (ld != NULL) {
		dir_step_start(d);
		ldap_unbind_ext(ld, NULL, NULL);
	}
	d->guard_on = 0;
	snprintf(d->msg, sizeof(d->msg), "%s", err);
	ward_log(LOG_ERR, "directory %s: %s: %s", uri,
	    r == WARD_ERR_AUTH ? "bind" : r == WARD_ERR_TLS ? "TLS" :
	    dir_is_outage(r) ? "connect" : "setup", err);
	return r;
}

/* ---- public API ---------------------------------------------------------- */

int
dir_open(struct dir **dp, const struct conf_directory *c)
{
	struct dir *d;
	int plain = 0;

	*dp = NULL;
	if (c == NULL || !c->enabled || c->nuri == 0 || c->nuri > CONF_MAX_URIS ||
	    c->base == NULL || c->user_filter == NULL || strstr(c->user_filter, "%u") == NULL ||
	    (c->group_filter != NULL && strstr(c->group_filter, "%d") == NULL) ||
	    c->timeout_ms <= 0 || c->max_entries <= 0 || c->max_values <= 0 ||
	    c->nested_depth < 0 || c->nested_depth > 10 ||
	    (c->bind_dn != NULL && c->bind_password_file == NULL &&
	     !(c->sasl_mech && strcmp(c->sasl_mech, "EXTERNAL") == 0)) ||
	    (c->sasl_mech != NULL && strcmp(c->sasl_mech, "EXTERNAL") != 0) ||
	    ((c->client_cert == NULL) != (c->client_key == NULL))) {
		ward_log(LOG_ERR, "directory: incomplete or invalid settings");
		return WARD_ERR_INVAL;
	}
	for (size_t i = 0; i < c->nuri; i++) {
		enum uri_kind k = uri_kind(c->uri[i]);

		if (k == URI_BAD) {
			ward_log(LOG_ERR, "directory %s: not an ldaps://, ldap:// or ldapi:// URI",
			    c->uri[i] ? c->uri[i] : "(null)");
			return WARD_ERR_INVAL;
		}
		if (k != URI_LDAPI && c->ca_file == NULL) {
			ward_log(LOG_ERR, "directory %s: ca_file is required (certificates are "
			    "always verified)", c->uri[i]);
			return WARD_ERR_INVAL;
		}
		if (k == URI_LDAP && !c->starttls) {
			if (!c->allow_plaintext) {
				ward_log(LOG_ERR, "directory %s: plaintext ldap:// refused (use "
				    "ldaps://, starttls, or allow_plaintext)", c->uri[i]);
				return WARD_ERR_INVAL;
			}
			plain = 1;
		}
	}
	if (plain)
		ward_log(LOG_WARNING, "directory: allow_plaintext is on: the bind password "
		    "and directory answers cross the network unencrypted");
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return WARD_ERR_NOMEM;
	d->c = c;
	*dp = d;
	return 0;
}

void
dir_close(struct dir *d)
{
	if (d == NULL)
		return;
	dir_drop_conn(d);
	free(d);
}

void
dir_rebind(struct dir *d, const struct conf_directory *c)
{
	d->c = c;
}
