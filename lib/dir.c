/*
 * dir.c - directory client: a user's group DNs from LDAP (OpenLDAP libldap),
 * with the cache rule of ward.conf(5) (cache_seconds, offline_max_age).
 *
 * Rules it keeps:
 *  - Certificates are always verified.  Every handle gets its own TLS
 *    context (LDAP_OPT_X_TLS_NEWCTX) with require-cert HARD, ca_file as the
 *    only trust anchor (a CA folder from ldap.conf is cleared) and TLS 1.2
 *    or later.  ldaps:// must be TLS once connected; ldap:// is StartTLS,
 *    which must succeed (never a silent fallback), unless allow_plaintext;
 *    ldapi:// is a local socket.  Nothing about trust is taken from
 *    ldap.conf, ~/.ldaprc or LDAPTLS_* variables.
 *  - Bounded time.  The whole lookup at one URI (TCP connect, TLS
 *    handshake, StartTLS, bind, every search) has timeout_ms, counted from
 *    its start: each step gets what is left, so a user in thousands of
 *    groups (one read each without group_filter) cannot add quick steps up
 *    past it.  libldap 2.5 as built by
 *    Debian does a blocking TLS handshake with no timeout, so each
 *    connection carries a small sockbuf layer of ours under TLS that polls
 *    against the step's deadline and fails the read or write when it
 *    passes (it also sends with MSG_NOSIGNAL: a closed peer cannot kill
 *    the login process with SIGPIPE).  A step that times out drops the
 *    connection.
 *  - Input before I/O: the user name passes ward_user_valid (<= 256 bytes,
 *    no control characters...) before anything else; names and DNs reach a
 *    filter only through ldap_bv2escaped_filter_value.
 *  - Names are not folded: the server matches %u by its own rule
 *    (caseIgnoreMatch for uid), so the entry counts only when its
 *    name_attribute holds the name byte for byte; otherwise the user is
 *    "not found" (the same answer as an unknown name) and it is logged.
 *  - Bounded answers: LDAP size limits on every search, max_entries groups,
 *    max_values values per attribute, a cap on each incoming PDU, and a
 *    user filter that matches more than one entry is refused.  A refusal
 *    names its cause: our limit, the server's own limit, or the time.
 *    Duplicate groups are found in O(log n) each (lib/dnset.c).
 *  - The bind password is read through the trusted opener (secret rules)
 *    at bind time and wiped right after the bind request is encoded; it is
 *    never in a log line.  An empty password is refused (LDAP would treat
 *    it as an unauthenticated bind).
 *  - Fail closed: an error returns no groups at all, never a partial list;
 *    referrals are not chased; aliases are not dereferenced.
 */
#include <errno.h>
#include <ldap.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>

#include "dir.h"
#include "dnset.h"
#include "state.h"
#include "tfile.h"

#define DIR_MAX_PDU (8u << 20)      /* largest LDAP message accepted */
#define DIR_MAX_DN 4096             /* longest DN accepted from the server */
#define DIR_MAX_FILTER 65536        /* longest filter we build */
#define DIR_OR_CHUNK 32             /* group DNs per nested-group search */
#define DIR_PW_MAX 1024             /* bind password file size cap */
#define DIR_CACHE_MAGIC "ward-dircache 1\n"
#define DIR_CACHE_NOTFOUND "ward-dircache 1 notfound\n"
#define DIR_CACHE_NAME_DIFFERS "ward-dircache 1 notfound name-differs\n"
#define DIR_NAME_ATTR "uid"         /* name_attribute when unset */

enum uri_kind { URI_BAD, URI_LDAPS, URI_LDAP, URI_LDAPI };

struct dir {
	const struct conf_directory *c;
	LDAP *ld;                   /* connected and bound, or NULL */
	size_t cur;                 /* URI index of ld */
	struct timespec deadline;   /* of the current network step */
	struct timespec budget;     /* of the whole lookup at one URI */
	int budget_on;              /* budget applies */
	int step_budget;            /* the step's deadline is the budget */
	int guard_on;               /* deadline applies */
	int timed_out;              /* the guard saw the deadline pass */
	int name_differs;           /* last lookup: entries, none of them the user's */
	int files_ok;               /* ca_file, client cert and key checked */
	ldap_conncb cb;             /* installs the guard on each connection */
	char msg[256];              /* last error text, for dir_diagnose */
};

/* ---- small helpers ---------------------------------------------------- */

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

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)((t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000);
}

/* Now + timeout_ms. */
static void
deadline_in(const struct dir *d, struct timespec *t)
{
	long ms = d->c->timeout_ms > 0 ? d->c->timeout_ms : 2000;

	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/*
 * One lookup at one URI (connect, TLS, bind and every search) gets
 * timeout_ms in all, counted from here: each step has what is left, so
 * many quick steps cannot add up past it.  budget_end lifts it.
 */
static void
budget_start(struct dir *d)
{
	deadline_in(d, &d->budget);
	d->budget_on = 1;
}

static void
budget_end(struct dir *d)
{
	d->budget_on = 0;
}

/* A network step starts: timeout_ms from now, or less when the lookup's
 * budget ends sooner (by a millisecond or more: the first step of a
 * lookup has the whole timeout_ms and its timeout is its own). */
static void
step_start(struct dir *d)
{
	long long early;

	d->timed_out = 0;
	d->step_budget = 0;
	deadline_in(d, &d->deadline);
	early = (long long)(d->deadline.tv_sec - d->budget.tv_sec) * 1000000000LL +
	    (d->deadline.tv_nsec - d->budget.tv_nsec);
	if (d->budget_on && early >= 1000000LL) {
		d->deadline = d->budget;
		d->step_budget = 1;
	}
	d->guard_on = 1;
}

/* Milliseconds left in the current step (0 when past). */
static int
step_left(const struct dir *d)
{
	struct timespec t;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &t);
	ms = (long long)(d->deadline.tv_sec - t.tv_sec) * 1000 +
	    (d->deadline.tv_nsec - t.tv_nsec) / 1000000;
	return ms <= 0 ? 0 : ms > 3600000 ? 3600000 : (int)ms;
}

/* Why STEP timed out, into BUF: the step's own timeout_ms, or the whole
 * lookup's. */
static void
timeout_text(const struct dir *d, const char *step, char *buf, size_t len)
{
	if (d->step_budget)
		snprintf(buf, len, "%s: the whole directory lookup exceeded timeout_ms "
		    "(%ld ms)", step, d->c->timeout_ms);
	else
		snprintf(buf, len, "%s: no answer within %ld ms", step, d->c->timeout_ms);
}

static void
step_tv(const struct dir *d, struct timeval *tv)
{
	int ms = step_left(d);

	if (ms < 1)
		ms = 1;
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* The LDAP handle's error code and diagnostic text as one line. */
static void
ldap_errtext(LDAP *ld, int rc, char *buf, size_t len)
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

static int
map_ldap_err(int rc)
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
static int
is_outage(int r)
{
	return r == WARD_ERR_UNAVAIL || r == WARD_ERR_TIMEOUT || r == WARD_ERR_TLS ||
	    r == WARD_ERR_AUTH;
}

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
static int
filter_subst(const char *tmpl, const char *token, const char *value, char **out)
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

/* ---- the deadline guard: a sockbuf layer under TLS --------------------- */

static int
guard_setup(Sockbuf_IO_Desc *sbiod, void *arg)
{
	sbiod->sbiod_pvt = arg;
	return 0;
}

static int
guard_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg)
{
	return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}

/* Wait until FD is ready for EV within the step's deadline: 0, or -1 with
 * errno ETIMEDOUT (a hard error for GnuTLS and libldap alike). */
static int
guard_wait(struct dir *d, Sockbuf_IO_Desc *sbiod, short ev)
{
	ber_socket_t fd = -1;
	struct pollfd pfd;
	int r;

	if (d == NULL || !d->guard_on)
		return 0;
	ber_sockbuf_ctrl(sbiod->sbiod_sb, LBER_SB_OPT_GET_FD, &fd);
	if (fd < 0)
		return 0;
	pfd.fd = fd;
	pfd.events = ev;
	do {
		pfd.revents = 0;
		r = poll(&pfd, 1, step_left(d));
	} while (r < 0 && errno == EINTR);
	if (r == 0) {
		d->timed_out = 1;
		errno = ETIMEDOUT;
		return -1;
	}
	return 0;
}

static ber_slen_t
guard_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	if (guard_wait(sbiod->sbiod_pvt, sbiod, POLLIN) != 0)
		return -1;
	return LBER_SBIOD_READ_NEXT(sbiod, buf, len);
}

static ber_slen_t
guard_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	ber_socket_t fd = -1;
	ssize_t n;

	if (guard_wait(sbiod->sbiod_pvt, sbiod, POLLOUT) != 0)
		return -1;
	ber_sockbuf_ctrl(sbiod->sbiod_sb, LBER_SB_OPT_GET_FD, &fd);
	if (fd < 0)
		return LBER_SBIOD_WRITE_NEXT(sbiod, buf, len);
	do
		n = send(fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

static Sockbuf_IO guard_io = {
	guard_setup, NULL, guard_ctrl, guard_read, guard_write, NULL
};

/* Called by libldap right after the TCP (or ldapi) connect, before TLS. */
static int
guard_add(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr,
    struct ldap_conncb *ctx)
{
	(void)ld;
	(void)srv;
	(void)addr;
	/* between the TCP provider (10) and TLS (20) */
	return ber_sockbuf_add_io(sb, &guard_io, LBER_SBIOD_LEVEL_PROVIDER + 5,
	    ctx->lc_arg) == 0 ? 0 : -1;
}

static void
guard_del(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx)
{
	(void)ld;
	(void)sb;
	(void)ctx;
}

/* ---- handle setup and TLS ---------------------------------------------- */

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
	step_start(d);
	step_tv(d, &tv);
	d->cb.lc_add = guard_add;
	d->cb.lc_del = guard_del;
	d->cb.lc_arg = d;
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_DEREF, &zero) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_CONNECT_CB, &d->cb) != LDAP_OPT_SUCCESS) {
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

	step_start(d);
	rc = ldap_connect(ld);
	if (rc != LDAP_SUCCESS) {
		if (d->timed_out || step_left(d) == 0) {
			timeout_text(d, k == URI_LDAPS ? "TCP connect or TLS handshake" :
			    "TCP connect", err, errlen);
			return WARD_ERR_TIMEOUT;
		}
		ldap_errtext(ld, rc, err, errlen);
		return WARD_ERR_UNAVAIL;
	}
	if (k == URI_LDAPS && !ldap_tls_inplace(ld)) {
		snprintf(err, errlen, "ldaps:// connection is not TLS");
		return WARD_ERR_TLS;
	}
	if (k != URI_LDAP || !d->c->starttls)
		return 0;
	step_start(d);
	if ((rc = ldap_start_tls(ld, NULL, NULL, &msgid)) != LDAP_SUCCESS) {
		ldap_errtext(ld, rc, err, errlen);
		return map_ldap_err(rc) == WARD_ERR_TIMEOUT ? WARD_ERR_TIMEOUT : WARD_ERR_UNAVAIL;
	}
	step_tv(d, &tv);
	rc = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, &res);
	if (rc <= 0) {
		ldap_msgfree(res);
		if (rc == 0)
			timeout_text(d, "StartTLS", err, errlen);
		else
			ldap_errtext(ld, 0, err, errlen);
		return rc == 0 ? WARD_ERR_TIMEOUT : WARD_ERR_UNAVAIL;
	}
	rc = ldap_parse_result(ld, res, &code, NULL, NULL, NULL, NULL, 1);
	if (rc != LDAP_SUCCESS || code != LDAP_SUCCESS) {
		snprintf(err, errlen, "StartTLS refused by the server: %s",
		    ldap_err2string(rc != LDAP_SUCCESS ? rc : code));
		return WARD_ERR_TLS;
	}
	step_start(d);
	if ((rc = ldap_install_tls(ld)) != LDAP_SUCCESS || !ldap_tls_inplace(ld)) {
		if (d->timed_out || step_left(d) == 0) {
			timeout_text(d, "TLS handshake after StartTLS", err, errlen);
			return WARD_ERR_TIMEOUT;
		}
		ldap_errtext(ld, rc, err, errlen);
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
		step_start(d);
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
	step_start(d);
	ldap_unbind_ext(probe, NULL, NULL);
	d->guard_on = 0;
	return WARD_ERR_TLS;
}

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
		step_start(d);
		rc = ldap_sasl_bind(ld, NULL, "EXTERNAL", &cred, NULL, NULL, &msgid);
	} else if (c->bind_dn != NULL) {
		if ((r = read_password(c->bind_password_file, &pw, &pwlen, err, errlen)) != 0)
			return r;
		cred.bv_val = pw;
		cred.bv_len = pwlen;
		step_start(d);
		rc = ldap_sasl_bind(ld, c->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, &msgid);
		ward_freezero(pw, pwlen + 1);
		cred.bv_val = NULL;
	} else {
		return 0;       /* anonymous */
	}
	if (rc != LDAP_SUCCESS && d->timed_out) {
		timeout_text(d, "bind", err, errlen);
		return WARD_ERR_TIMEOUT;
	}
	if (rc != LDAP_SUCCESS) {
		ldap_errtext(ld, rc, err, errlen);
		r = map_ldap_err(rc);
		return r == WARD_ERR_NOTFOUND ? WARD_ERR_AUTH : r;
	}
	step_tv(d, &tv);
	rc = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, &res);
	if (rc <= 0) {
		ldap_msgfree(res);	/* a message of type 0 comes back as 0 */
		res = NULL;
	}
	if (rc == 0 || (rc < 0 && d->timed_out)) {
		timeout_text(d, "bind", err, errlen);
		return WARD_ERR_TIMEOUT;
	}
	if (rc < 0) {
		ldap_errtext(ld, 0, err, errlen);
		return WARD_ERR_UNAVAIL;
	}
	rc = ldap_parse_result(ld, res, &code, NULL, NULL, NULL, NULL, 1);
	if (rc != LDAP_SUCCESS || code != LDAP_SUCCESS) {
		int e = rc != LDAP_SUCCESS ? rc : code;

		snprintf(err, errlen, "bind as %s refused: %s",
		    c->bind_dn ? c->bind_dn : "SASL EXTERNAL", ldap_err2string(e));
		r = map_ldap_err(e);
		return r == WARD_ERR_UNAVAIL || r == WARD_ERR_TIMEOUT ? r : WARD_ERR_AUTH;
	}
	return 0;
}

static void
drop_conn(struct dir *d)
{
	if (d->ld != NULL) {
		step_start(d);          /* the unbind write cannot hang */
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
static int
connect_uri(struct dir *d, size_t i, struct dir_diag *dg)
{
	const char *uri = d->c->uri[i];
	struct timespec t0;
	char err[256];
	LDAP *ld = NULL;
	int r;

	err[0] = '\0';
	drop_conn(d);
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

		dg->connect_ms = ms_since(&t0);
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
			dg->bind_ms = ms_since(&t0);
			dg->bind_rc = r;
		}
		goto fail;
	}
	if (dg != NULL)
		dg->bind_ms = ms_since(&t0);
	d->ld = ld;
	d->cur = i;
	return 0;
fail:
	if (dg != NULL && dg->connect_ms == 0 && !dg->reachable)
		dg->connect_ms = ms_since(&t0);
	if (ld != NULL) {
		step_start(d);
		ldap_unbind_ext(ld, NULL, NULL);
	}
	d->guard_on = 0;
	snprintf(d->msg, sizeof(d->msg), "%s", err);
	ward_log(LOG_ERR, "directory %s: %s: %s", uri,
	    r == WARD_ERR_AUTH ? "bind" : r == WARD_ERR_TLS ? "TLS" :
	    is_outage(r) ? "connect" : "setup", err);
	return r;
}

/* ---- searches ------------------------------------------------------------ */

/*
 * One search on d->ld within one step.  *RES holds every entry and the
 * result.  LDAP errors are logged with the URI.  OURS says what a search
 * cut at SIZELIMIT (our own limit) means, e.g. "more than max_entries
 * (1000) groups"; a search the server cut earlier, by its own size or
 * administrative limit, is logged as the server's, not ours.
 */
static int
search(struct dir *d, const char *base, int scope, const char *filter,
    char **attrs, int sizelimit, const char *ours, LDAPMessage **res)
{
	const char *uri = d->c->uri[d->cur];
	struct timeval tv;
	char err[256];
	int rc, msgid, code = LDAP_OTHER, r;

	*res = NULL;
	step_start(d);
	if (step_left(d) == 0) {
		/* the lookup's budget is spent: not even one more request */
		timeout_text(d, "search", err, sizeof(err));
		r = WARD_ERR_TIMEOUT;
		goto fail;
	}
	step_tv(d, &tv);
	rc = ldap_search_ext(d->ld, base, scope, filter, attrs, 0, NULL, NULL, &tv,
	    sizelimit, &msgid);
	if (rc != LDAP_SUCCESS) {
		ldap_errtext(d->ld, rc, err, sizeof(err));
		r = map_ldap_err(rc);
		if (d->timed_out) {
			timeout_text(d, "search", err, sizeof(err));
			r = WARD_ERR_TIMEOUT;
		}
		goto fail;
	}
	step_tv(d, &tv);
	rc = ldap_result(d->ld, msgid, LDAP_MSG_ALL, &tv, res);
	if (rc == 0 || (rc < 0 && d->timed_out)) {
		timeout_text(d, "search", err, sizeof(err));
		if (rc == 0)
			ldap_abandon_ext(d->ld, msgid, NULL, NULL);
		r = WARD_ERR_TIMEOUT;
		goto fail;
	}
	if (rc < 0) {
		ldap_errtext(d->ld, 0, err, sizeof(err));
		r = WARD_ERR_UNAVAIL;
		goto fail;
	}
	rc = ldap_parse_result(d->ld, *res, &code, NULL, NULL, NULL, NULL, 0);
	if (rc != LDAP_SUCCESS || code != LDAP_SUCCESS) {
		int e = rc != LDAP_SUCCESS ? rc : code;
		int got = ldap_count_entries(d->ld, *res);

		r = map_ldap_err(e);
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
			r = filter_subst(c->group_filter, "%d", front[k], &parts[k - at]);
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
			r = search(d, c->base, LDAP_SCOPE_SUBTREE, f, attrs,
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

	r = search(d, dn, LDAP_SCOPE_BASE, any, attrs, 1, "more than one entry", &res);
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
static int
name_is(struct dir *d, LDAPMessage *e, const char *attr, const char *user)
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
static int
lookup(struct dir *d, const char *user, struct dnset *g, char **user_dn)
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
	if ((r = filter_subst(c->user_filter, "%u", user, &filter)) != 0) {
		ward_log(LOG_ERR, "directory: cannot build the user filter: %s", ward_strerror(r));
		return r;
	}
	r = search(d, c->base, LDAP_SCOPE_SUBTREE, filter, attrs, 2,
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
		if ((r = name_is(d, x, name_attr, user)) == 1) {
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

/* ---- public API ------------------------------------------------------------ */

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
	drop_conn(d);
	free(d);
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
		budget_start(d);
		r = lookup(d, user, &g, user_dn);
		budget_end(d);
		if (!is_outage(r))
			goto done;
		/* hung: do not wait for it twice; closed (restarted): reconnect */
		if (r == WARD_ERR_TIMEOUT)
			tried_cur = (int)d->cur;
		worst = r;
		dnset_free(&g);
		drop_conn(d);
	}
	for (size_t i = 0; i < d->c->nuri; i++) {
		if ((int)i == tried_cur)
			continue;
		/* each URI: timeout_ms for connect, bind and the whole lookup */
		budget_start(d);
		r = connect_uri(d, i, NULL);
		if (r == 0)
			r = lookup(d, user, &g, user_dn);
		budget_end(d);
		if (!is_outage(r))
			goto done;      /* an answer, or a local problem (password file...) */
		dnset_free(&g);
		drop_conn(d);
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

/* Cache blob: magic line, then one group DN a line. */
static int
cache_encode(char **dns, size_t n, char **blob)
{
	size_t len = sizeof(DIR_CACHE_MAGIC), at;

	for (size_t i = 0; i < n; i++)
		len += strlen(dns[i]) + 1;
	if ((*blob = malloc(len)) == NULL)
		return WARD_ERR_NOMEM;
	at = (size_t)snprintf(*blob, len, "%s", DIR_CACHE_MAGIC);
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(*blob + at, len - at, "%s\n", dns[i]);
	return 0;
}

/* 0 with the DNs, WARD_ERR_NOTFOUND for either marker (*NOTE set for the
 * name-differs one), WARD_ERR_CORRUPT. */
static int
cache_decode(const char *blob, char ***dns, size_t *n, const char **note)
{
	const char *p, *nl;
	size_t cnt = 0, k = 0;
	char **v;

	*dns = NULL;
	*n = 0;
	if (strcmp(blob, DIR_CACHE_NOTFOUND) == 0)
		return WARD_ERR_NOTFOUND;
	if (strcmp(blob, DIR_CACHE_NAME_DIFFERS) == 0) {
		*note = DIR_NOTE_NAME_DIFFERS;
		return WARD_ERR_NOTFOUND;
	}
	if (strncmp(blob, DIR_CACHE_MAGIC, strlen(DIR_CACHE_MAGIC)) != 0)
		return WARD_ERR_CORRUPT;
	p = blob + strlen(DIR_CACHE_MAGIC);
	for (const char *q = p; *q; q++)
		cnt += *q == '\n';
	if ((v = calloc(cnt + 1, sizeof(*v))) == NULL)
		return WARD_ERR_NOMEM;
	for (; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL || nl == p) {
			dir_free_list(v, k);
			return WARD_ERR_CORRUPT;
		}
		if ((v[k] = strndup(p, (size_t)(nl - p))) == NULL) {
			dir_free_list(v, k);
			return WARD_ERR_NOMEM;
		}
		k++;
	}
	*dns = v;
	*n = k;
	return 0;
}

int
dir_groups_cached(struct dir **dp, const struct conf_directory *c, struct state *st,
    const char *user, int64_t now, char ***dns, size_t *n, int *offline, const char **note)
{
	const char *ignored = NULL;
	char *blob = NULL;
	int64_t fetched = 0, age = -1;
	int have = 0, r, cr;

	*dns = NULL;
	*n = 0;
	if (offline != NULL)
		*offline = 0;
	if (note == NULL)
		note = &ignored;
	*note = NULL;
	if (ward_user_valid(user) != 0)
		return WARD_ERR_INVAL;
	if (c == NULL || !c->enabled)
		return WARD_ERR_INVAL;
	if (st != NULL) {
		r = state_dircache_get(st, user, &blob, &fetched);
		if (r == 0) {
			have = 1;
			age = now - fetched;
		} else if (r != WARD_ERR_NOTFOUND) {
			ward_log(LOG_WARNING, "directory cache for %s unreadable (%s): asking "
			    "the directory", user, ward_strerror(r));
		}
	}
	if (have && age >= 0 && age < c->cache_seconds) {
		cr = cache_decode(blob, dns, n, note);
		if (cr == 0 || cr == WARD_ERR_NOTFOUND) {
			free(blob);
			return cr;
		}
		ward_log(LOG_WARNING, "directory cache for %s is corrupt: asking the "
		    "directory", user);
		have = 0;
	}
	if (*dp == NULL && (r = dir_open(dp, c)) != 0) {
		free(blob);
		return r;
	}
	r = dir_user_groups(*dp, user, dns, n, NULL);
	if (r == WARD_ERR_NOTFOUND && (*dp)->name_differs)
		*note = DIR_NOTE_NAME_DIFFERS;
	if (r == 0 || r == WARD_ERR_NOTFOUND) {
		char *nb = NULL;
		int pr;

		if (st != NULL) {
			pr = r == 0 ? cache_encode(*dns, *n, &nb) : 0;
			if (pr == 0)
				pr = state_dircache_put(st, user, nb ? nb : *note ?
				    DIR_CACHE_NAME_DIFFERS : DIR_CACHE_NOTFOUND, now);
			if (pr != 0)
				ward_log(LOG_WARNING, "directory cache for %s not updated: %s",
				    user, ward_strerror(pr));
			free(nb);
		}
		free(blob);
		return r;
	}
	if (!is_outage(r)) {
		free(blob);
		return r;
	}
	/* The directory cannot answer: an older cached answer may. */
	if (have && age >= 0 && age < c->offline_max_age) {
		cr = cache_decode(blob, dns, n, note);
		free(blob);
		if (cr == 0 || cr == WARD_ERR_NOTFOUND) {
			if (offline != NULL)
				*offline = 1;
			ward_log(LOG_WARNING, "directory unreachable (%s): using the cached "
			    "answer for %s, %lld s old (offline_max_age %ld)", ward_strerror(r),
			    user, (long long)age, c->offline_max_age);
			return cr;
		}
		ward_log(LOG_ERR, "directory cache for %s is corrupt", user);
		return WARD_ERR_UNAVAIL;
	}
	free(blob);
	if (have)
		ward_log(LOG_ERR, "directory unreachable (%s) and the cached answer for %s "
		    "is %lld s old (offline_max_age %ld): refused", ward_strerror(r), user,
		    (long long)age, c->offline_max_age);
	else
		ward_log(LOG_ERR, "directory unreachable (%s) and nothing cached for %s",
		    ward_strerror(r), user);
	return WARD_ERR_UNAVAIL;
}

int
dir_diagnose(const struct conf_directory *c, const char *user, struct dir_diag *diag,
    size_t ndiag, char ***dns, size_t *n, char **user_dn)
{
	struct dir *d = NULL;
	int r, ret = 0, have = 0, first = 0;

	*dns = NULL;
	*n = 0;
	if (user_dn != NULL)
		*user_dn = NULL;
	if (user != NULL && ward_user_valid(user) != 0)
		return WARD_ERR_INVAL;
	if ((r = dir_open(&d, c)) != 0)
		return r;
	for (size_t i = 0; i < c->nuri && i < ndiag; i++) {
		struct dir_diag *dg = &diag[i];

		memset(dg, 0, sizeof(*dg));
		dg->uri = c->uri[i];
		dg->lookup_rc = 1;      /* not tried */
		d->msg[0] = '\0';
		d->name_differs = 0;
		budget_start(d);        /* as dir_user_groups: one budget per URI */
		r = connect_uri(d, i, dg);
		if (r != 0 && !dg->reachable)
			dg->connect_rc = r;
		else if (r != 0 && dg->bind_rc == 0)
			dg->bind_rc = r;
		if (r == 0 && user != NULL) {
			struct dnset g;
			struct timespec t0;
			char *udn = NULL;

			dnset_init(&g, (size_t)c->max_entries);
			clock_gettime(CLOCK_MONOTONIC, &t0);
			r = lookup(d, user, &g, &udn);
			dg->search_ms = ms_since(&t0);
			if (r == WARD_ERR_NOTFOUND && d->name_differs)
				snprintf(dg->msg, sizeof(dg->msg), "%s", DIR_NOTE_NAME_DIFFERS);
			dg->lookup_rc = r;
			dg->ngroups = r == 0 ? g.n : 0;
			if (!have && (r == 0 || r == WARD_ERR_NOTFOUND)) {
				have = 1;
				ret = r;
				if (r == 0 && (ret = dnset_take(&g, dns, n)) == 0 &&
				    user_dn != NULL) {
					*user_dn = udn;
					udn = NULL;
				}
			}
			dnset_free(&g);
			free(udn);
		} else if (r == 0 && !have) {
			have = 1;
			ret = 0;
		}
		if (r != 0 && r != WARD_ERR_NOTFOUND) {
			snprintf(dg->msg, sizeof(dg->msg), "%s", d->msg);
			if (first == 0)
				first = r;
		}
		budget_end(d);
		drop_conn(d);
	}
	dir_close(d);
	return have ? ret : first ? first : WARD_ERR_UNAVAIL;
}

/* ---- DNs ------------------------------------------------------------------- */

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
