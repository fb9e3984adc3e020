/*
 * audit_record.c - the audit record: one event formatted as a JSON line
 * and MAC'd (audit_format), and the strict parser that reads one back
 * (audit_parse_line).  The rules of the line are in audit.h.
 *
 * Rules it keeps:
 *  - the writer makes exactly one shape (fields in fixed order, no spaces)
 *    and the parser accepts only that shape: a line is either a record as
 *    written or refused with the byte where it goes wrong;
 *  - every string is escaped (quote, backslash, C0, DEL, C1 controls);
 *    bytes that are not UTF-8 become \udc80..\udcff and come back as the
 *    same bytes; over-long strings are cut at a character boundary and end
 *    "[...]", so a line stays below AUDIT_LINE_MAX;
 *  - the mac is HMAC-SHA-256 (OpenSSL) over the bytes before ,"mac":, and
 *    the parser reports that offset so readers MAC the same bytes.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "audit_int.h"

#define ROLES_MAX AUDIT_ROLES_MAX
#define ROLES_BYTES 4096
#define CUT_MARK "[...]"

/* ---- HMAC-SHA-256 (OpenSSL EVP_MAC; the key is set once, re-init reuses it) ---- */

static const char hexd[] = "0123456789abcdef";

static void
to_hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexd[b[i] >> 4];
		out[2 * i + 1] = hexd[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int
audit_hmac_init(struct hmac *h, const unsigned char *key, size_t keylen)
{
	static char digest[] = "SHA256";
	OSSL_PARAM params[2];
	int r = WARD_ERR_CRYPTO;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	h->ctx = NULL;
	if ((h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		goto out;
	if ((h->ctx = EVP_MAC_CTX_new(h->mac)) == NULL)
		goto out;
	if (EVP_MAC_init(h->ctx, key, keylen, params) != 1)
		goto out;
	r = 0;
out:
	return r;
}

void
audit_hmac_free(struct hmac *h)
{
	EVP_MAC_CTX_free(h->ctx);     /* OpenSSL cleanses the key schedule */
	EVP_MAC_free(h->mac);
	h->ctx = NULL;
	h->mac = NULL;
}

int
audit_hmac_hex(struct hmac *h, const void *data, size_t len, char out[AUDIT_MAC_HEX + 1])
{
	unsigned char md[32];
	size_t mdlen = 0;

	if (EVP_MAC_init(h->ctx, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(h->ctx, data, len) != 1 ||
	    EVP_MAC_final(h->ctx, md, &mdlen, sizeof(md)) != 1 || mdlen != sizeof(md))
		return WARD_ERR_CRYPTO;
	to_hex(md, sizeof(md), out);
	return 0;
}

/* ---- time ---- */

int64_t
audit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
fmt_ts(int64_t ms, char out[64])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static int
digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

int64_t
audit_ts_parse(const char *s)
{
	int y, mo, d, h, mi, se, ms;

	if (s == NULL || strlen(s) != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' ||
	    digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se) ||
	    digits(s + 20, 3, &ms) || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
	    h > 23 || mi > 59 || se > 60)
		return -1;
	{
		/* days from 1970-01-01 (Howard Hinnant's days_from_civil): no
		 * timegm, which is slow and consults the time zone */
		int64_t yy = mo <= 2 ? y - 1 : y, era = yy / 400;
		int64_t yoe = yy - era * 400;
		int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
		int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
		int64_t days = era * 146097 + doe - 719468;
		static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

		if (d > mdays[mo - 1] || (mo == 2 && d == 29 &&
		    !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))
			return -1;
		return ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)se * 1000 + ms;
	}
}

/* ---- JSON writer ---- */

struct obuf {
	char *p;
	size_t len, cap;
	int over;
};

static void
out_raw(struct obuf *o, const char *s, size_t n)
{
	if (o->over || o->cap - o->len < n) {
		o->over = 1;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
out_s(struct obuf *o, const char *s)
{
	out_raw(o, s, strlen(s));
}

/* A JSON string of at most MAX input bytes (cut at a character boundary,
 * marked CUT_MARK); NULL is null. */
static void
out_str(struct obuf *o, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, i = 0;
	int cut = 0;
	char esc[8];

	if (s == NULL) {
		out_s(o, "null");
		return;
	}
	n = strlen(s);
	if (n > max) {
		size_t b = max;

		/* cut before a character the limit would split: back up at most 3
		 * continuation bytes, and only to a lead byte (stray continuation
		 * bytes are escaped one by one below, so cutting among them splits
		 * nothing) */
		while (b > 0 && max - b < 3 && (p[b] & 0xc0) == 0x80)
			b--;
		n = b == max || p[b] >= 0xc0 ? b : max;
		cut = 1;
	}
	out_raw(o, "\"", 1);
	while (i < n) {
		size_t k;

		switch (p[i]) {
		case '"': out_raw(o, "\\\"", 2); i++; continue;
		case '\\': out_raw(o, "\\\\", 2); i++; continue;
		case '\n': out_raw(o, "\\n", 2); i++; continue;
		case '\r': out_raw(o, "\\r", 2); i++; continue;
		case '\t': out_raw(o, "\\t", 2); i++; continue;
		case '\b': out_raw(o, "\\b", 2); i++; continue;
		case '\f': out_raw(o, "\\f", 2); i++; continue;
		default: break;
		}
		if (p[i] < 0x20 || p[i] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
			out_raw(o, esc, 6);
			i++;
			continue;
		}
		k = ward_utf8_len(p + i, n - i);
		if (k == 0) {
			/* not UTF-8: keep the byte as a lone surrogate (surrogateescape) */
			snprintf(esc, sizeof(esc), "\\udc%02x", p[i]);
			out_raw(o, esc, 6);
			i++;
			continue;
		}
		if (k == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0) {
			/* a C1 control (U+0080..U+009F: CSI and the like) escaped, so
			 * the raw file and its syslog copy carry no terminal codes */
			snprintf(esc, sizeof(esc), "\\u%04x", p[i + 1]);
			out_raw(o, esc, 6);
			i += 2;
			continue;
		}
		out_raw(o, s + i, k);
		i += k;
	}
	if (cut)
		out_s(o, CUT_MARK);
	out_raw(o, "\"", 1);
}

static void
out_u64(struct obuf *o, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	out_s(o, b);
}

void
audit_short_host(char *buf, size_t len)
{
	if (gethostname(buf, len) != 0 || buf[0] == '\0')
		snprintf(buf, len, "localhost");
	buf[len - 1] = '\0';
	buf[strcspn(buf, ".")] = '\0';
}

/*
 * The record line for EV (with its newline) into BUF: returns its length,
 * 0 when it does not fit or EV lacks event/result.
 */
size_t
audit_format_line(const struct audit_event *ev, uint64_t seq, const char *prev,
    const char *host, int64_t ts_ms, long long pid, struct hmac *h, char *buf,
    size_t buflen)
{
	struct obuf o = { buf, 0, buflen, 0 };
	char ts[64], mac[AUDIT_MAC_HEX + 1];
	size_t rbytes = 0, i;

	if (ev->event == NULL || ev->result == NULL || strlen(prev) != AUDIT_MAC_HEX)
		return 0;
	fmt_ts(ts_ms, ts);
	out_s(&o, "{\"seq\":");
	out_u64(&o, seq);
	out_s(&o, ",\"ts\":\"");
	out_s(&o, ts);
	out_s(&o, "\",\"host\":");
	out_str(&o, host, 255);
	out_s(&o, ",\"service\":");
	out_str(&o, ev->service, 256);
	out_s(&o, ",\"user\":");
	out_str(&o, ev->user, 256);
	out_s(&o, ",\"event\":");
	out_str(&o, ev->event, 64);
	out_s(&o, ",\"result\":");
	out_str(&o, ev->result, 64);
	out_s(&o, ",\"rule\":");
	out_str(&o, ev->rule, 256);
	out_s(&o, ",\"reason\":");
	out_str(&o, ev->reason, 1024);
	out_s(&o, ",\"roles\":[");
	for (i = 0; i < ev->nroles && ev->roles != NULL; i++) {
		const char *role = ev->roles[i] ? ev->roles[i] : "";
		if (i == ROLES_MAX || rbytes + strlen(role) > ROLES_BYTES) {
			out_s(&o, i ? ",\"" CUT_MARK "\"" : "\"" CUT_MARK "\"");
			break;
		}
		if (i)
			out_s(&o, ",");
		out_str(&o, role, 256);
		rbytes += strlen(role);
	}
	out_s(&o, "],\"factor\":");
	out_str(&o, ev->factor, 64);
	out_s(&o, ",\"policy_version\":");
	out_str(&o, ev->policy_version, 128);
	out_s(&o, ",\"offline\":");
	out_s(&o, ev->offline > 0 ? "true" : ev->offline == 0 ? "false" : "null");
	out_s(&o, ",\"rhost\":");
	out_str(&o, ev->rhost, 256);
	out_s(&o, ",\"tty\":");
	out_str(&o, ev->tty, 128);
	out_s(&o, ",\"pid\":");
	out_u64(&o, pid < 0 ? 0 : (uint64_t)pid);
	out_s(&o, ",\"detail\":");
	out_str(&o, ev->detail, 1024);
	out_s(&o, ",\"prev\":\"");
	out_s(&o, prev);
	out_s(&o, "\"");
	if (o.over || audit_hmac_hex(h, buf, o.len, mac) != 0)
		return 0;
	out_s(&o, ",\"mac\":\"");
	out_s(&o, mac);
	out_s(&o, "\"}\n");
	return o.over ? 0 : o.len;
}

size_t
audit_format(const struct audit_event *ev, uint64_t seq, const char *prev,
    const unsigned char *key, size_t keylen, char *buf, size_t buflen)
{
	struct hmac h;
	char host[256];
	size_t n = 0;

	if (audit_hmac_init(&h, key, keylen) == 0) {
		if (ev->host == NULL)
			audit_short_host(host, sizeof(host));
		n = audit_format_line(ev, seq, prev, ev->host ? ev->host : host,
		    ev->ts_ms ? ev->ts_ms : audit_now_ms(), (long long)getpid(), &h, buf, buflen);
	}
	audit_hmac_free(&h);
	return n;
}

/* ---- strict parser ---- */

struct pc {
	const unsigned char *s;
	size_t n, i;
	char *err;
	size_t errlen;
	char *tmp;          /* decode scratch (NULL: validate only) */
	size_t used;        /* view: bytes of TMP the strings so far hold */
	int view;           /* strings stay in TMP (audit_parse_view) */
};

static int
pfail(struct pc *c, const char *field, const char *what)
{
	if (c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "byte %zu: %s%s%s", c->i + 1, field ? field : "",
		    field ? ": " : "", what);
	return WARD_ERR_PARSE;
}

/* The literal L, K bytes (a field name with its punctuation). */
static int
plit_n(struct pc *c, const char *l, size_t k, const char *field)
{
	if (c->n - c->i < k || memcmp(c->s + c->i, l, k) != 0) {
		char what[96];

		if (field == NULL)
			return pfail(c, NULL, "not a Ward audit record (expected {\"seq\":)");
		snprintf(what, sizeof(what), "expected field \"%s\" here (fields in fixed order)",
		    field);
		return pfail(c, NULL, what);
	}
	c->i += k;
	return 0;
}
/* (its length known when compiled: the parser's hot path) */
#define plit(c, l, field) plit_n((c), (l), sizeof(l) - 1, (field))

static int
pword(struct pc *c, const char *w)
{
	size_t k = strlen(w);

	if (c->n - c->i >= k && memcmp(c->s + c->i, w, k) == 0) {
		c->i += k;
		return 1;
	}
	return 0;
}

static int
pu64(struct pc *c, const char *field, uint64_t *v)
{
	size_t start = c->i;

	*v = 0;
	while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
		unsigned d = c->s[c->i] - '0';
		if (*v > (UINT64_MAX - d) / 10)
			return pfail(c, field, "number too large");
		*v = *v * 10 + d;
		c->i++;
	}
	if (c->i == start)
		return pfail(c, field, "expected a number");
	if (c->s[start] == '0' && c->i - start > 1) {
		c->i = start;
		return pfail(c, field, "leading zero");
	}
	return 0;
}

static int
hexval(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static int
pu4(struct pc *c, unsigned *v)
{
	*v = 0;
	if (c->n - c->i < 4)
		return -1;
	for (int k = 0; k < 4; k++) {
		int h = hexval(c->s[c->i + (size_t)k]);
		if (h < 0)
			return -1;
		*v = *v * 16 + (unsigned)h;
	}
	c->i += 4;
	return 0;
}

static size_t
put_utf8(unsigned cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Byte classes for the hot loops of verify (branch-free tables). */
static const unsigned char lower_hex[256] = { ['0' ... '9'] = 1, ['a' ... 'f'] = 1 };
static const unsigned char plain[256] = { [0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1,
	[0x5d ... 0x7f] = 1 };    /* printable ASCII but " and \ */

/* A JSON string; *OUT gets the decoded copy when c->tmp and OUT are set. */
static int
pstr(struct pc *c, const char *field, char **out)
{
	size_t o = 0;
	/* where the decoded string goes (NULL: validate only) */
	char *d = out != NULL && c->tmp != NULL ? c->tmp + c->used : NULL;

	if (out != NULL)
		*out = NULL;
	if (c->i >= c->n || c->s[c->i] != '"')
		return pfail(c, field, "expected a string");
	c->i++;
	for (;;) {
		unsigned char ch;

		if (c->i >= c->n)
			return pfail(c, field, "unterminated string");
		/* plain ASCII in one go */
		if (d == NULL) {
			while (c->i < c->n && plain[c->s[c->i]]) {
				c->i++;
				o++;
			}
		} else {
			while (c->i < c->n && plain[c->s[c->i]])
				d[o++] = (char)c->s[c->i++];
		}
		if (c->i >= c->n)
			return pfail(c, field, "unterminated string");
		ch = c->s[c->i];
		if (ch == '"') {
			c->i++;
			break;
		}
		if (ch < 0x20)
			return pfail(c, field, "raw control character in a string (must be escaped)");
		if (ch == '\\') {
			unsigned cp, lo;
			char e;

			if (c->i + 1 >= c->n)
				return pfail(c, field, "unterminated escape");
			e = (char)c->s[c->i + 1];
			c->i += 2;
			switch (e) {
			case '"': case '\\': case '/':
				cp = (unsigned char)e; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'u':
				if (pu4(c, &cp) != 0)
					return pfail(c, field, "bad \\u escape");
				if (cp == 0)
					return pfail(c, field, "\\u0000 is not allowed");
				if (cp >= 0xdc80 && cp <= 0xdcff) {
					/* a byte that was not UTF-8 (surrogateescape) */
					if (d != NULL)
						d[o] = (char)(cp - 0xdc00);
					o++;
					continue;
				}
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return pfail(c, field, "lone low surrogate");
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (!pword(c, "\\u") || pu4(c, &lo) != 0 || lo < 0xdc00 ||
					    lo > 0xdfff)
						return pfail(c, field, "unpaired high surrogate");
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
				break;
			default:
				c->i--;
				return pfail(c, field, "unknown escape");
			}
			if (d != NULL)
				o += put_utf8(cp, d + o);
			else
				o += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
			continue;
		}
		if (ch < 0x80) {
			if (d != NULL)
				d[o] = (char)ch;
			o++;
			c->i++;
			continue;
		}
		{
			size_t k = ward_utf8_len(c->s + c->i, c->n - c->i);
			if (k == 0)
				return pfail(c, field, "bytes that are not UTF-8 (must be escaped)");
			if (d != NULL)
				memcpy(d + o, c->s + c->i, k);
			o += k;
			c->i += k;
		}
	}
	if (d != NULL && c->view) {
		/* decoded, it is no longer than its quoted form: TMP (LEN + 1
		 * bytes) holds every string of the line and its NUL */
		d[o] = '\0';
		*out = d;
		c->used += o + 1;
	} else if (d != NULL) {
		if ((*out = malloc(o + 1)) == NULL)
			return pfail(c, field, "out of memory");
		memcpy(*out, d, o);
		(*out)[o] = '\0';
	}
	return 0;
}

static int
pstr_or_null(struct pc *c, const char *field, char **out)
{
	if (out != NULL)
		*out = NULL;
	if (pword(c, "null"))
		return 0;
	return pstr(c, field, out);
}

static int
pmac(struct pc *c, const char *field, char out[AUDIT_MAC_HEX + 1])
{
	unsigned ok = 1;

	if (c->n - c->i < AUDIT_MAC_HEX + 2 || c->s[c->i] != '"' ||
	    c->s[c->i + AUDIT_MAC_HEX + 1] != '"')
		return pfail(c, field, "expected 64 hex digits in quotes");
	for (size_t k = 1; k <= AUDIT_MAC_HEX; k++)
		ok &= lower_hex[c->s[c->i + k]];
	if (!ok)
		return pfail(c, field, "expected 64 lowercase hex digits");
	memcpy(out, c->s + c->i + 1, AUDIT_MAC_HEX);
	out[AUDIT_MAC_HEX] = '\0';
	c->i += AUDIT_MAC_HEX + 2;
	return 0;
}

void
audit_record_free(struct audit_record *r)
{
	if (r == NULL)
		return;
	free(r->ts); free(r->host); free(r->service); free(r->user); free(r->event);
	free(r->result); free(r->rule); free(r->reason); free(r->factor);
	free(r->policy_version); free(r->rhost); free(r->tty); free(r->detail);
	for (size_t i = 0; i < r->nroles; i++)
		free(r->roles[i]);
	free(r->roles);
	memset(r, 0, sizeof(*r));
	r->offline = -1;
}

/*
 * The parser behind audit_parse_line.  STORE 0 validates only: X gets seq,
 * ts_ms, offline, pid, prev, mac, mac_offset, host_at, host_len, event_at,
 * event_len, detail_at, detail_len and nroles,
 * no strings and no memory (what verify needs, fast).
 */
static int
parse_record(const char *line, size_t len, struct audit_record *x, int st, char *vbuf,
    char **vroles, char *err, size_t errlen)
{
	struct pc c = { (const unsigned char *)line, len, 0, err, errlen, vbuf, 0,
		vbuf != NULL };
	char tsb[25];
	size_t ts_at;
	int ret = WARD_ERR_PARSE;
	uint64_t pid;

	memset(x, 0, sizeof(*x));
	x->offline = -1;
	if (len > AUDIT_LINE_MAX) {
		snprintf(err, errlen, "line longer than %d bytes", AUDIT_LINE_MAX);
		return WARD_ERR_PARSE;
	}
	if (c.view)
		x->roles = vroles;
	else if (st && (c.tmp = malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return WARD_ERR_NOMEM;
	}
/* view: only what a reader of many records looks at is decoded */
#define S(f) (st ? &x->f : NULL)
#define SV(f) (st && !c.view ? &x->f : NULL)
	if (plit(&c, "{\"seq\":", NULL) || pu64(&c, "seq", &x->seq) ||
	    plit(&c, ",\"ts\":", "ts"))
		goto out;
	ts_at = c.i;
	if (pstr(&c, "ts", SV(ts)))
		goto out;
	/* the time is plain ASCII of fixed width: no escapes in it */
	if (c.i - ts_at != 26)
		goto bad_ts;
	memcpy(tsb, line + ts_at + 1, 24);
	tsb[24] = '\0';
	if ((x->ts_ms = audit_ts_parse(tsb)) < 0)
		goto bad_ts;
	if (plit(&c, ",\"host\":", "host"))
		goto out;
	x->host_at = c.i + 1;
	if (pstr(&c, "host", SV(host)))
		goto out;
	x->host_len = c.i - 1 - x->host_at;
	if (plit(&c, ",\"service\":", "service") || pstr_or_null(&c, "service", S(service)) ||
	    plit(&c, ",\"user\":", "user") || pstr_or_null(&c, "user", S(user)) ||
	    plit(&c, ",\"event\":", "event"))
		goto out;
	x->event_at = c.i + 1;
	if (pstr(&c, "event", S(event)))
		goto out;
	x->event_len = c.i - 1 - x->event_at;
	if (plit(&c, ",\"result\":", "result") || pstr(&c, "result", S(result)) ||
	    plit(&c, ",\"rule\":", "rule") || pstr_or_null(&c, "rule", SV(rule)) ||
	    plit(&c, ",\"reason\":", "reason") || pstr_or_null(&c, "reason", S(reason)) ||
	    plit(&c, ",\"roles\":[", "roles"))
		goto out;
	if (!pword(&c, "]")) {
		for (;;) {
			char *role = NULL;

			if (x->nroles > ROLES_MAX) {
				pfail(&c, "roles", "too many roles");
				goto out;
			}
			if (st && !c.view && x->nroles % 16 == 0) {
				char **nr = realloc(x->roles, (x->nroles + 16) * sizeof(*nr));
				if (nr == NULL) {
					pfail(&c, "roles", "out of memory");
					goto out;
				}
				x->roles = nr;
			}
			if (pstr(&c, "roles", st ? &role : NULL))
				goto out;
			if (st)
				x->roles[x->nroles] = role;
			x->nroles++;
			if (pword(&c, "]"))
				break;
			if (!pword(&c, ",")) {
				pfail(&c, "roles", "expected , or ]");
				goto out;
			}
		}
	}
	if (plit(&c, ",\"factor\":", "factor") || pstr_or_null(&c, "factor", S(factor)) ||
	    plit(&c, ",\"policy_version\":", "policy_version") ||
	    pstr_or_null(&c, "policy_version", SV(policy_version)) ||
	    plit(&c, ",\"offline\":", "offline"))
		goto out;
	if (pword(&c, "true"))
		x->offline = 1;
	else if (pword(&c, "false"))
		x->offline = 0;
	else if (pword(&c, "null"))
		x->offline = -1;
	else {
		pfail(&c, "offline", "expected true, false or null");
		goto out;
	}
	if (plit(&c, ",\"rhost\":", "rhost") || pstr_or_null(&c, "rhost", SV(rhost)) ||
	    plit(&c, ",\"tty\":", "tty") || pstr_or_null(&c, "tty", SV(tty)) ||
	    plit(&c, ",\"pid\":", "pid") || pu64(&c, "pid", &pid))
		goto out;
	if (pid > (uint64_t)INT64_MAX) {
		pfail(&c, "pid", "out of range");
		goto out;
	}
	x->pid = (long long)pid;
	if (plit(&c, ",\"detail\":", "detail"))
		goto out;
	x->detail_at = c.i + 1;
	if (pstr_or_null(&c, "detail", SV(detail)))
		goto out;
	/* null: no quotes around it */
	x->detail_len = line[x->detail_at - 1] == '"' ? c.i - 1 - x->detail_at : 0;
	if (plit(&c, ",\"prev\":", "prev") || pmac(&c, "prev", x->prev))
		goto out;
	x->mac_offset = c.i;
	if (plit(&c, ",\"mac\":", "mac") || pmac(&c, "mac", x->mac))
		goto out;
	if (!pword(&c, "}")) {
		pfail(&c, NULL, "expected } after mac");
		goto out;
	}
	if (c.i != c.n) {
		pfail(&c, NULL, "bytes after the end of the record");
		goto out;
	}
	ret = 0;
	goto out;
bad_ts:
	c.i = ts_at;
	pfail(&c, "ts", "not a UTC time YYYY-MM-DDTHH:MM:SS.mmmZ");
out:
#undef S
#undef SV
	if (c.view) {
		if (ret != 0) {
			memset(x, 0, sizeof(*x));
			x->offline = -1;
		}
		return ret;
	}
	free(c.tmp);
	if (ret != 0 && st)
		audit_record_free(x);
	return ret;
}

int
audit_parse(const char *line, size_t len, struct audit_record *x, int st, char *err,
    size_t errlen)
{
	return parse_record(line, len, x, st, NULL, NULL, err, errlen);
}

int
audit_parse_view(const char *line, size_t len, struct audit_record *r, char *buf,
    char *roles[AUDIT_ROLES_MAX + 1], char *err, size_t errlen)
{
	return parse_record(line, len, r, 1, buf, roles, err, errlen);
}

int
audit_parse_line(const char *line, size_t len, struct audit_record *r, char *err,
    size_t errlen)
{
	return audit_parse(line, len, r, 1, err, errlen);
}
