/*
 * audit.c - the tamper-evident audit trail.  Rules in audit.h.
 *
 * Protocol, for each record (all under the state store's write lock):
 *   1. open the folder (O_DIRECTORY|O_NOFOLLOW; root's, not group/world
 *      writable) and the log in it (O_RDWR|O_APPEND|O_CREAT|O_NOFOLLOW);
 *      fstat: regular, root's, one link; mode set as configured;
 *   2. compare the file with the head: same file and size -> normal; the
 *      same file longer -> records written but never committed (a crash):
 *      adopt those that verify and chain, leave anything else for verify to
 *      name; shorter -> records were cut: alert, go on (verify names it);
 *      another file (rotation) -> the chain goes on from the head's mac;
 *   3. format the record (seq = head + 1, prev = head mac, mac over the
 *      bytes before ,"mac":), write it in one write(2); on a short write
 *      cut the file back to its old size; fdatasync when configured;
 *   4. the new head (seq, mac, dev, ino, size) is committed with the lock.
 * Syslog gets its copy after the commit, never a secret.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "audit.h"
#include "secret.h"
#include "tfile.h"

#define ZERO_MAC "0000000000000000000000000000000000000000000000000000000000000000"
#define ADOPT_MAX ((size_t)1 << 20)    /* uncommitted tail looked at, at most */
#define ROLES_MAX 256
#define ROLES_BYTES 4096
#define CUT_MARK "[...]"

/* ---- HMAC-SHA-256 (OpenSSL EVP_MAC; the key is set once, re-init reuses it) ---- */

struct hmac {
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx;
};

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

static int
hmac_init(struct hmac *h, const unsigned char *key, size_t keylen)
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

static void
hmac_free(struct hmac *h)
{
	EVP_MAC_CTX_free(h->ctx);     /* OpenSSL cleanses the key schedule */
	EVP_MAC_free(h->mac);
	h->ctx = NULL;
	h->mac = NULL;
}

static int
hmac_hex(struct hmac *h, const void *data, size_t len, char out[AUDIT_MAC_HEX + 1])
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

static int64_t
now_ms(void)
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

static void
short_host(char *buf, size_t len)
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
static size_t
format_line(const struct audit_event *ev, uint64_t seq, const char *prev,
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
	if (o.over || hmac_hex(h, buf, o.len, mac) != 0)
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

	if (hmac_init(&h, key, keylen) == 0) {
		if (ev->host == NULL)
			short_host(host, sizeof(host));
		n = format_line(ev, seq, prev, ev->host ? ev->host : host,
		    ev->ts_ms ? ev->ts_ms : now_ms(), (long long)getpid(), &h, buf, buflen);
	}
	hmac_free(&h);
	return n;
}

/* ---- strict parser ---- */

struct pc {
	const unsigned char *s;
	size_t n, i;
	char *err;
	size_t errlen;
	char *tmp;          /* decode scratch (NULL: validate only) */
};

static int
pfail(struct pc *c, const char *field, const char *what)
{
	if (c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "byte %zu: %s%s%s", c->i + 1, field ? field : "",
		    field ? ": " : "", what);
	return WARD_ERR_PARSE;
}

/* The literal L (a field name with its punctuation). */
static int
plit(struct pc *c, const char *l, const char *field)
{
	size_t k = strlen(l);

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

	if (out != NULL)
		*out = NULL;
	if (c->i >= c->n || c->s[c->i] != '"')
		return pfail(c, field, "expected a string");
	c->i++;
	for (;;) {
		unsigned char ch;

		if (c->i >= c->n)
			return pfail(c, field, "unterminated string");
		if (c->tmp == NULL) {
			/* validate only: skip plain ASCII in one go */
			while (c->i < c->n && plain[c->s[c->i]]) {
				c->i++;
				o++;
			}
			if (c->i >= c->n)
				return pfail(c, field, "unterminated string");
		}
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
					if (c->tmp != NULL)
						c->tmp[o] = (char)(cp - 0xdc00);
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
			if (c->tmp != NULL)
				o += put_utf8(cp, c->tmp + o);
			else
				o += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
			continue;
		}
		if (ch < 0x80) {
			if (c->tmp != NULL)
				c->tmp[o] = (char)ch;
			o++;
			c->i++;
			continue;
		}
		{
			size_t k = ward_utf8_len(c->s + c->i, c->n - c->i);
			if (k == 0)
				return pfail(c, field, "bytes that are not UTF-8 (must be escaped)");
			if (c->tmp != NULL)
				memcpy(c->tmp + o, c->s + c->i, k);
			o += k;
			c->i += k;
		}
	}
	if (out != NULL && c->tmp != NULL) {
		if ((*out = malloc(o + 1)) == NULL)
			return pfail(c, field, "out of memory");
		memcpy(*out, c->tmp, o);
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
 * ts_ms, offline, pid, prev, mac, mac_offset and nroles, no strings and no
 * memory (what verify needs, fast).
 */
static int
parse(const char *line, size_t len, struct audit_record *x, int st, char *err,
    size_t errlen)
{
	struct pc c = { (const unsigned char *)line, len, 0, err, errlen, NULL };
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
	if (st && (c.tmp = malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return WARD_ERR_NOMEM;
	}
#define S(f) (st ? &x->f : NULL)
	if (plit(&c, "{\"seq\":", NULL) || pu64(&c, "seq", &x->seq) ||
	    plit(&c, ",\"ts\":", "ts"))
		goto out;
	ts_at = c.i;
	if (pstr(&c, "ts", S(ts)))
		goto out;
	/* the time is plain ASCII of fixed width: no escapes in it */
	if (c.i - ts_at != 26)
		goto bad_ts;
	memcpy(tsb, line + ts_at + 1, 24);
	tsb[24] = '\0';
	if ((x->ts_ms = audit_ts_parse(tsb)) < 0)
		goto bad_ts;
	if (plit(&c, ",\"host\":", "host") || pstr(&c, "host", S(host)) ||
	    plit(&c, ",\"service\":", "service") || pstr_or_null(&c, "service", S(service)) ||
	    plit(&c, ",\"user\":", "user") || pstr_or_null(&c, "user", S(user)) ||
	    plit(&c, ",\"event\":", "event") || pstr(&c, "event", S(event)) ||
	    plit(&c, ",\"result\":", "result") || pstr(&c, "result", S(result)) ||
	    plit(&c, ",\"rule\":", "rule") || pstr_or_null(&c, "rule", S(rule)) ||
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
			if (st && x->nroles % 16 == 0) {
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
	    pstr_or_null(&c, "policy_version", S(policy_version)) ||
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
	if (plit(&c, ",\"rhost\":", "rhost") || pstr_or_null(&c, "rhost", S(rhost)) ||
	    plit(&c, ",\"tty\":", "tty") || pstr_or_null(&c, "tty", S(tty)) ||
	    plit(&c, ",\"pid\":", "pid") || pu64(&c, "pid", &pid))
		goto out;
	if (pid > (uint64_t)INT64_MAX) {
		pfail(&c, "pid", "out of range");
		goto out;
	}
	x->pid = (long long)pid;
	if (plit(&c, ",\"detail\":", "detail") || pstr_or_null(&c, "detail", S(detail)) ||
	    plit(&c, ",\"prev\":", "prev") || pmac(&c, "prev", x->prev))
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
	free(c.tmp);
	if (ret != 0 && st)
		audit_record_free(x);
	return ret;
}

int
audit_parse_line(const char *line, size_t len, struct audit_record *r, char *err,
    size_t errlen)
{
	return parse(line, len, r, 1, err, errlen);
}

/* ---- the log ---- */

struct audit_log {
	char *path, *dir, *base;
	int fsync, syslog, group_adm;
	gid_t adm_gid;
	struct state *st;
	int own_st;
	struct hmac mac;
	char host[256];
	char *buf;           /* AUDIT_LINE_MAX + 2: one record, maybe a leading newline */
};

void
audit_log_close(struct audit_log *l)
{
	if (l == NULL)
		return;
	hmac_free(&l->mac);
	if (l->own_st)
		state_close(l->st);
	free(l->path);
	free(l->dir);
	free(l->base);
	free(l->buf);
	free(l);
}

int
audit_log_open(struct audit_log **lp, const struct ward_conf *conf, struct state *st,
    char *err, size_t errlen)
{
	struct audit_log *l;
	struct secret_key key;
	const char *slash;
	char kerr[512];
	int r = WARD_ERR_NOMEM;

	*lp = NULL;
	memset(&key, 0, sizeof(key));
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	slash = strrchr(conf->audit.path, '/');
	if (slash == NULL || slash[1] == '\0') {
		snprintf(err, errlen, "audit.path %s: must be an absolute file path",
		    conf->audit.path);
		r = WARD_ERR_INVAL;
		goto out;
	}
	if ((l->path = strdup(conf->audit.path)) == NULL ||
	    (l->dir = strndup(conf->audit.path, slash == conf->audit.path ? 1 :
	    (size_t)(slash - conf->audit.path))) == NULL ||
	    (l->base = strdup(slash + 1)) == NULL ||
	    (l->buf = malloc(AUDIT_LINE_MAX + 2)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	l->fsync = conf->audit.fsync;
	l->syslog = conf->audit.syslog;
	l->group_adm = conf->audit.group_adm;
	if (l->group_adm) {
		struct group g, *gp = NULL;
		char gbuf[4096];
		if (getgrnam_r("adm", &g, gbuf, sizeof(gbuf), &gp) != 0 || gp == NULL) {
			snprintf(err, errlen, "audit.group_adm: there is no group adm");
			r = WARD_ERR_AUDIT;
			goto out;
		}
		l->adm_gid = gp->gr_gid;
	}
	short_host(l->host, sizeof(l->host));
	if (secret_key_load(&key, conf->audit.key_file, kerr, sizeof(kerr)) != 0) {
		snprintf(err, errlen, "audit key: %s", kerr);
		r = WARD_ERR_AUDIT;
		goto out;
	}
	if (hmac_init(&l->mac, key.k, sizeof(key.k)) != 0) {
		snprintf(err, errlen, "audit key: HMAC-SHA-256 unavailable");
		r = WARD_ERR_CRYPTO;
		goto out;
	}
	if (st != NULL) {
		l->st = st;
	} else {
		if ((r = state_open(&l->st, conf->state_dir, 0)) != 0) {
			snprintf(err, errlen, "state store %s: %s (the audit head lives there)",
			    conf->state_dir, ward_strerror(r));
			r = WARD_ERR_AUDIT;
			goto out;
		}
		l->own_st = 1;
	}
	*lp = l;
	l = NULL;
	r = 0;
out:
	secret_key_wipe(&key);
	audit_log_close(l);
	return r;
}

/* Open the folder and the log in it by the rules in audit.h. */
static int
log_open(struct audit_log *l, int *fdp, struct stat *sb, char *err, size_t errlen)
{
	mode_t want = l->group_adm ? 0640 : 0600;
	char terr[512];
	int dfd, fd = -1, r = WARD_ERR_AUDIT;

	*fdp = -1;
	dfd = open(l->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(err, errlen, "%s: cannot open the audit log folder: %s", l->dir,
		    strerror(errno));
		return r;
	}
	if (tfile_check_fd(dfd, l->dir, TFILE_DIR_OK, terr, sizeof(terr)) != 0) {
		snprintf(err, errlen, "audit log folder %s", terr);
		goto out;
	}
	fd = openat(dfd, l->base, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK, want);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open the audit log: %s", l->path,
		    errno == ELOOP ? "is a symbolic link (refused)" : strerror(errno));
		goto out;
	}
	if (fstat(fd, sb) != 0) {
		snprintf(err, errlen, "%s: cannot stat: %s", l->path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb->st_mode) || sb->st_uid != 0 || sb->st_nlink != 1) {
		snprintf(err, errlen, "%s: not a regular root-owned file with one link "
		    "(uid %u, %lu links; refused)", l->path, (unsigned)sb->st_uid,
		    (unsigned long)sb->st_nlink);
		goto out;
	}
	if ((sb->st_mode & 07777) != want && fchmod(fd, want) != 0) {
		snprintf(err, errlen, "%s: cannot set mode %04o: %s", l->path, (unsigned)want,
		    strerror(errno));
		goto out;
	}
	if (l->group_adm && sb->st_gid != l->adm_gid && fchown(fd, 0, l->adm_gid) != 0) {
		snprintf(err, errlen, "%s: cannot give it to group adm: %s", l->path,
		    strerror(errno));
		goto out;
	}
	if (l->fsync && sb->st_size == 0)
		(void)fsync(dfd);    /* a new file's name survives a power cut */
	*fdp = fd;
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	close(dfd);
	return r;
}

/* Verify one complete line against the chain: 0 when it is the record
 * after (seq, prev) under the key; its mac in MAC. */
static int
chains(struct audit_log *l, const char *line, size_t len, uint64_t seq, const char *prev,
    char mac[AUDIT_MAC_HEX + 1])
{
	struct audit_record r;
	char err[128], want[AUDIT_MAC_HEX + 1];

	if (parse(line, len, &r, 0, err, sizeof(err)) != 0)
		return -1;
	if (r.seq != seq + 1 || strcmp(r.prev, prev) != 0 ||
	    hmac_hex(&l->mac, line, r.mac_offset, want) != 0 ||
	    !ward_ct_equal(want, r.mac, AUDIT_MAC_HEX))
		return -1;
	memcpy(mac, r.mac, AUDIT_MAC_HEX + 1);
	return 0;
}

/*
 * Step 2 of the protocol: bring HEAD up to the file's end when records were
 * written but not committed; say what is odd.  *NEED_NL: the file does not
 * end with a newline (a torn or foreign tail), so the record starts a line.
 */
static void
reconcile(struct audit_log *l, int fd, const struct stat *sb,
    struct state_audit_head *h, int *need_nl)
{
	int same = h->ino != 0 && h->dev == (uint64_t)sb->st_dev &&
	    h->ino == (uint64_t)sb->st_ino;
	uint64_t size = (uint64_t)sb->st_size, off;
	size_t n, pos = 0, adopted = 0;
	char *buf = NULL, last;

	*need_nl = 0;
	if ((same && size == h->size) || size == 0)
		return;
	if (pread(fd, &last, 1, (off_t)(size - 1)) == 1 && last != '\n')
		*need_nl = 1;
	if (same && size < h->size) {
		ward_log(LOG_ALERT, "audit: %s is shorter than when Ward last wrote it "
		    "(%llu < %llu bytes): records were cut; wardctl audit verify names them",
		    l->path, (unsigned long long)size, (unsigned long long)h->size);
		return;
	}
	off = same ? h->size : 0;
	if (h->seq == 0)
		return;             /* a new chain: nothing to adopt */
	n = size - off > ADOPT_MAX ? ADOPT_MAX : (size_t)(size - off);
	if ((buf = malloc(n)) == NULL || pread(fd, buf, n, (off_t)off) != (ssize_t)n)
		goto out;
	while (pos < n) {
		char *nl = memchr(buf + pos, '\n', n - pos), mac[AUDIT_MAC_HEX + 1];

		if (nl == NULL ||
		    chains(l, buf + pos, (size_t)(nl - buf) - pos, h->seq, h->mac, mac) != 0)
			break;
		h->seq++;
		memcpy(h->mac, mac, sizeof(mac));
		pos = (size_t)(nl - buf) + 1;
		adopted++;
	}
	if (adopted > 0)
		ward_log(LOG_WARNING, "audit: %s: %zu record(s) up to seq %llu were written "
		    "but not committed (a crash?); the chain goes on from them", l->path,
		    adopted, (unsigned long long)h->seq);
	if (same && pos < size - off)
		ward_log(LOG_ALERT, "audit: %s: %llu bytes after seq %llu were not written by "
		    "Ward; left in place, wardctl audit verify names them", l->path,
		    (unsigned long long)(size - off - pos), (unsigned long long)h->seq);
out:
	free(buf);
}

struct append_ctx {
	struct audit_log *l;
	const struct audit_event *ev;
	char *err;
	size_t errlen;
	size_t len;          /* the record's length (without a leading newline) */
	const char *line;
	off_t pre_size;      /* the log's size before this record */
	uint64_t dev, ino;   /* the log it went into */
	int undone;          /* the record was taken back out */
};

static int
append_locked(void *vctx, struct state_audit_head *h)
{
	struct append_ctx *a = vctx;
	struct audit_log *l = a->l;
	const struct audit_event *ev = a->ev;
	struct stat sb;
	char mac[AUDIT_MAC_HEX + 1];
	size_t len, off = 0, total;
	int fd, need_nl, r = WARD_ERR_AUDIT;

	if ((r = log_open(l, &fd, &sb, a->err, a->errlen)) != 0)
		return r;
	r = WARD_ERR_AUDIT;
	reconcile(l, fd, &sb, h, &need_nl);
	len = format_line(ev, h->seq + 1, h->mac, ev->host ? ev->host : l->host,
	    ev->ts_ms ? ev->ts_ms : now_ms(), (long long)getpid(), &l->mac, l->buf + 1,
	    AUDIT_LINE_MAX);
	if (len == 0) {
		snprintf(a->err, a->errlen, "audit record could not be formed (event and "
		    "result are required)");
		goto out;
	}
	l->buf[0] = '\n';
	total = len + (size_t)need_nl;
	while (off < total) {
		ssize_t w = write(fd, l->buf + 1 - need_nl + off, total - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			int cut = ftruncate(fd, sb.st_size);
			snprintf(a->err, a->errlen, "%s: cannot write the audit record: %s (%s)",
			    l->path, strerror(e), cut == 0 ? "nothing of it stays in the file" :
			    "and could not cut the partial record back off");
			goto out;
		}
		off += (size_t)w;
	}
	if (l->fsync && fdatasync(fd) != 0) {
		int e = errno, cut = ftruncate(fd, sb.st_size);
		snprintf(a->err, a->errlen, "%s: cannot sync the audit record: %s%s", l->path,
		    strerror(e), cut == 0 ? "" : " (and could not cut it back off)");
		goto out;
	}
	/* mac of the new record: the 64 hex digits before "}\n" */
	memcpy(mac, l->buf + 1 + len - 2 - AUDIT_MAC_HEX - 1, AUDIT_MAC_HEX);
	mac[AUDIT_MAC_HEX] = '\0';
	h->seq++;
	memcpy(h->mac, mac, sizeof(mac));
	h->dev = (uint64_t)sb.st_dev;
	h->ino = (uint64_t)sb.st_ino;
	h->size = (uint64_t)sb.st_size + total;
	a->line = l->buf + 1;
	a->len = len;
	a->pre_size = sb.st_size;
	a->dev = (uint64_t)sb.st_dev;
	a->ino = (uint64_t)sb.st_ino;
	r = 0;
out:
	close(fd);
	return r;
}

/* The head could not be stored: take the record back out (still under the
 * store's lock, so nothing was appended after it). */
static void
append_undo(void *vctx)
{
	struct append_ctx *a = vctx;
	struct stat sb;
	int fd = open(a->l->path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd >= 0 && fstat(fd, &sb) == 0 && (uint64_t)sb.st_dev == a->dev &&
	    (uint64_t)sb.st_ino == a->ino && ftruncate(fd, a->pre_size) == 0 &&
	    (!a->l->fsync || fdatasync(fd) == 0))
		a->undone = 1;
	if (fd >= 0)
		close(fd);
}

static int
syslog_prio(const struct audit_event *ev)
{
	if (strcmp(ev->event, "breakglass") == 0)
		return LOG_ALERT;
	if (strcmp(ev->event, "lockout") == 0)
		return LOG_WARNING;
	if (strcmp(ev->result, "failure") == 0 || strcmp(ev->result, "deny") == 0 ||
	    strcmp(ev->result, "refused") == 0)
		return LOG_NOTICE;
	return LOG_INFO;
}

int
audit_write(struct audit_log *l, const struct audit_event *ev, char *err, size_t errlen)
{
	struct append_ctx a = { l, ev, err, errlen, 0, NULL, 0, 0, 0, 0 };
	int r;

	if (ev->event == NULL || ev->result == NULL) {
		snprintf(err, errlen, "audit record without event or result");
		return WARD_ERR_AUDIT;
	}
	r = state_audit_append(l->st, l->fsync, append_locked, append_undo, &a);
	if (r == WARD_ERR_AUDIT)
		return r;
	if (r != 0) {
		/* the head could not be stored: the record was taken back out (if
		 * that failed too, the next append adopts it, and verify holds) */
		if (a.line == NULL || err[0] == '\0')
			snprintf(err, errlen, "audit head in the state store: %s%s",
			    ward_strerror(r), a.line == NULL || a.undone ? "" :
			    "; the record could not be taken back out of the log");
		return WARD_ERR_AUDIT;
	}
	if (l->syslog)
		syslog(LOG_AUTHPRIV | syslog_prio(ev), "ward-audit: %.*s", (int)(a.len - 1),
		    a.line);
	return 0;
}

int
audit_check(struct audit_log *l, char *err, size_t errlen)
{
	struct state_audit_head h;
	struct statvfs vfs;
	struct stat sb;
	int fd, r;

	if ((r = log_open(l, &fd, &sb, err, errlen)) != 0)
		return r;
	r = WARD_ERR_AUDIT;
	if (fstatvfs(fd, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < 65536) {
		snprintf(err, errlen, "%s: the file system is full", l->path);
		goto out;
	}
	if ((r = state_audit_head_get(l->st, &h)) != 0 && r != WARD_ERR_NOTFOUND) {
		snprintf(err, errlen, "audit head in the state store: %s", ward_strerror(r));
		r = WARD_ERR_AUDIT;
		goto out;
	}
	r = 0;
out:
	close(fd);
	return r;
}

int
audit_append_st(const struct ward_conf *conf, struct state *st,
    const struct audit_event *ev, char *err, size_t errlen)
{
	struct audit_log *l;
	int r;

	if (audit_log_open(&l, conf, st, err, errlen) != 0)
		return WARD_ERR_AUDIT;
	r = audit_write(l, ev, err, errlen);
	audit_log_close(l);
	return r;
}

int
audit_append(const struct ward_conf *conf, const struct audit_event *ev, char *err,
    size_t errlen)
{
	return audit_append_st(conf, NULL, ev, err, errlen);
}

/* ---- reading ---- */

struct map {
	const char *name;
	const char *p;
	size_t len;
};

static int
map_file(const char *path, struct map *m, char *err, size_t errlen)
{
	struct stat sb;
	int fd, r = WARD_ERR_IO;

	m->name = path;
	m->p = NULL;
	m->len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (sb.st_size > 0) {
		void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
		    fd, 0);
		if (p == MAP_FAILED) {
			snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
			goto out;
		}
		(void)madvise(p, (size_t)sb.st_size, MADV_SEQUENTIAL);
		m->p = p;
		m->len = (size_t)sb.st_size;
	}
	r = 0;
out:
	close(fd);
	return r;
}

static void
unmap_file(struct map *m)
{
	if (m->p != NULL)
		munmap((void *)(uintptr_t)m->p, m->len);
	m->p = NULL;
}

int
audit_each(const char *const *files, size_t nfiles, audit_each_fn fn, void *ctx,
    char *err, size_t errlen)
{
	int r = 0;

	for (size_t f = 0; f < nfiles && r == 0; f++) {
		struct map m;
		size_t pos = 0;
		uint64_t lineno = 0;

		if ((r = map_file(files[f], &m, err, errlen)) != 0)
			break;
		while (pos < m.len && r == 0) {
			const char *nl = memchr(m.p + pos, '\n', m.len - pos);
			size_t len = nl ? (size_t)(nl - m.p) - pos : m.len - pos;
			struct audit_record rec;
			char perr[256];

			lineno++;
			if (nl == NULL) {
				snprintf(err, errlen, "%s:%llu: truncated line (no newline at the "
				    "end)", files[f], (unsigned long long)lineno);
				r = WARD_ERR_PARSE;
				break;
			}
			if ((r = parse(m.p + pos, len, &rec, 1, perr, sizeof(perr))) != 0) {
				snprintf(err, errlen, "%s:%llu: %s", files[f],
				    (unsigned long long)lineno, perr);
				break;
			}
			r = fn(ctx, &rec, m.p + pos, len);
			audit_record_free(&rec);
			pos += len + 1;
		}
		unmap_file(&m);
	}
	return r;
}

/* ---- the log's files ---- */

/* Compressed rotated files (logrotate's compressext): counted, not read. */
static const char *const zext[] = { ".gz", ".bz2", ".xz", ".zst" };

struct rot {
	unsigned n;
	int z;              /* compressed */
};

/* NAME is BASE.N or BASE.N plus a zext: 1 and *RT; 0 otherwise. */
static int
rot_parse(const char *name, const char *base, size_t blen, struct rot *rt)
{
	const char *p;
	unsigned long v = 0;

	if (strncmp(name, base, blen) != 0 || name[blen] != '.')
		return 0;
	p = name + blen + 1;
	if (*p < '1' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++)
		if ((v = v * 10 + (unsigned long)(*p - '0')) > AUDIT_ROT_MAX)
			return 0;
	rt->n = (unsigned)v;
	rt->z = *p != '\0';
	for (size_t i = 0; rt->z && i < sizeof(zext) / sizeof(zext[0]); i++)
		if (strcmp(p, zext[i]) == 0)
			return 1;
	return !rt->z;
}

/* Highest N first (the oldest file first). */
static int
rot_cmp(const void *a, const void *b)
{
	const struct rot *x = a, *y = b;

	return x->n == y->n ? 0 : x->n < y->n ? 1 : -1;
}

/* Read PATH's folder: the rotated files in RS (sorted, one per N, z set
 * when any file of that N is compressed), *HAVE_LOG when PATH is there. */
static int
rot_scan(struct audit_fileset *set, struct rot **rsp, size_t *nrp, int *have_log,
    char *err, size_t errlen)
{
	const char *slash = strrchr(set->path, '/'), *base = slash ? slash + 1 : set->path;
	size_t blen = strlen(base), nr = 0, cap = 0;
	struct rot *rs = NULL, rt;
	struct dirent *de;
	char *dir;
	DIR *d = NULL;
	int r = WARD_ERR_NOMEM;

	*have_log = 0;
	dir = slash == NULL ? strdup(".") : slash == set->path ? strdup("/") :
	    strndup(set->path, (size_t)(slash - set->path));
	if (dir == NULL)
		goto out;
	r = WARD_ERR_IO;
	if (blen == 0) {
		snprintf(err, errlen, "%s: not a file name", set->path);
		goto out;
	}
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			r = 0;          /* no folder yet: no log yet */
		else
			snprintf(err, errlen, "%s: cannot read the folder: %s", dir, strerror(errno));
		goto out;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (strcmp(de->d_name, base) == 0)
			*have_log = 1;
		if (!rot_parse(de->d_name, base, blen, &rt))
			continue;
		if (nr == cap) {
			struct rot *t = reallocarray(rs, cap ? 2 * cap : 16, sizeof(*rs));
			if (t == NULL) {
				r = WARD_ERR_NOMEM;
				goto out;
			}
			rs = t;
			cap = cap ? 2 * cap : 16;
		}
		rs[nr++] = rt;
	}
	if (errno != 0) {
		snprintf(err, errlen, "%s: cannot read the folder: %s", dir, strerror(errno));
		goto out;
	}
	if (nr > 0) {
		size_t k = 0;

		qsort(rs, nr, sizeof(*rs), rot_cmp);
		for (size_t i = 1; i < nr; i++) {
			if (rs[i].n == rs[k].n)
				rs[k].z |= rs[i].z;
			else
				rs[++k] = rs[i];
		}
		nr = k + 1;
	}
	r = 0;
out:
	if (d != NULL)
		closedir(d);
	free(dir);
	if (r != 0) {
		free(rs);
		rs = NULL;
		nr = 0;
	}
	*rsp = rs;
	*nrp = nr;
	return r;
}

int
audit_files(const char *path, struct audit_fileset *set, char *err, size_t errlen)
{
	struct rot *rs = NULL;
	size_t nr = 0;
	unsigned lowz = UINT_MAX;      /* the newest compressed file's N */
	int have_log = 0, r = WARD_ERR_NOMEM;

	memset(set, 0, sizeof(*set));
	if ((set->path = strdup(path)) == NULL)
		goto out;
	if ((r = rot_scan(set, &rs, &nr, &have_log, err, errlen)) != 0)
		goto out;
	r = WARD_ERR_NOMEM;
	for (size_t i = 0; i < nr; i++)
		if (rs[i].z)
			lowz = rs[i].n;
	set->top = nr > 0 ? rs[0].n : 0;
	set->v = calloc(nr + 1, sizeof(*set->v));
	set->num = calloc(nr + 1, sizeof(*set->num));
	set->gap = calloc(nr + 1, sizeof(*set->gap));
	if (set->v == NULL || set->num == NULL || set->gap == NULL)
		goto out;
	for (size_t i = 0; i < nr; i++) {
		unsigned newer = i + 1 < nr ? rs[i + 1].n : 0;

		if (rs[i].n > newer + 1) {
			set->gap[set->ngaps].lo = newer + 1;
			set->gap[set->ngaps++].hi = rs[i].n - 1;
		}
		if (rs[i].n >= lowz) {
			set->skipped++;
			continue;
		}
		if (asprintf(&set->v[set->n], "%s.%u", path, rs[i].n) < 0) {
			set->v[set->n] = NULL;
			goto out;
		}
		set->num[set->n++] = rs[i].n;
	}
	if (have_log) {
		if ((set->v[set->n] = strdup(path)) == NULL)
			goto out;
		set->num[set->n++] = 0;
	}
	r = 0;
out:
	if (r == WARD_ERR_NOMEM)
		snprintf(err, errlen, "out of memory");
	free(rs);
	return r;
}

void
audit_fileset_free(struct audit_fileset *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; set->v != NULL && i < set->n; i++)
		free(set->v[i]);
	free(set->v);
	free(set->num);
	free(set->gap);
	free(set->path);
	memset(set, 0, sizeof(*set));
}

/* ---- verify ---- */

const char *
audit_problem_name(enum audit_problem p)
{
	static const char *const names[] = { "ok", "malformed", "truncated", "mac", "chain",
		"gap", "reorder", "duplicate", "restart", "file-order", "cut-tail", "head",
		"missing-file" };

	return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "?";
}

struct vstate {
	struct map *maps;
	size_t nmaps;
	struct audit_verify_result *res;
	const struct audit_fileset *set;     /* the numbering, or NULL */
	struct hmac *h;
};

static int
vproblem(struct vstate *v, enum audit_problem p, size_t f, uint64_t line, uint64_t seq,
    const char *fmt, ...) WARD_PRINTF(6, 7);

static int
vproblem(struct vstate *v, enum audit_problem p, size_t f, uint64_t line, uint64_t seq,
    const char *fmt, ...)
{
	struct audit_verify_result *res = v->res;
	char what[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	res->problem = p;
	res->line = line;
	res->seq = seq;
	snprintf(res->file, sizeof(res->file), "%s", f < v->nmaps ? v->maps[f].name :
	    v->set != NULL ? v->set->path : "");
	if (line > 0 && seq > 0)
		snprintf(res->message, sizeof(res->message), "%.700s:%llu: seq %llu: %.250s",
		    res->file, (unsigned long long)line, (unsigned long long)seq, what);
	else if (line > 0)
		snprintf(res->message, sizeof(res->message), "%.700s:%llu: %.250s", res->file,
		    (unsigned long long)line, what);
	else
		snprintf(res->message, sizeof(res->message), "%.700s: %.300s", res->file, what);
	return WARD_ERR_CORRUPT;
}

/* Find a line starting {"seq":SEQ, in maps [f0, f1) bytes [from, to) of
 * map f0 onwards (to = SIZE_MAX: to the end); file index and line number
 * in *FF, *FL, the line's mac in MAC. */
static int
find_seq(struct vstate *v, uint64_t seq, size_t f0, size_t from, size_t f1, size_t to,
    size_t *ff, uint64_t *fl, char mac[AUDIT_MAC_HEX + 1])
{
	char pat[40];
	size_t plen;

	plen = (size_t)snprintf(pat, sizeof(pat), "{\"seq\":%llu,", (unsigned long long)seq);
	for (size_t f = f0; f < f1 && f < v->nmaps; f++) {
		const char *p = v->maps[f].p;
		size_t start = f == f0 ? from : 0, end = f + 1 == f1 && to < v->maps[f].len ? to :
		    v->maps[f].len, pos = start;

		while (p != NULL && pos < end) {
			const char *nl = memchr(p + pos, '\n', end - pos);
			size_t len = nl ? (size_t)(nl - p) - pos : end - pos;

			if (len >= plen && memcmp(p + pos, pat, plen) == 0) {
				const char *m = memmem(p + pos, len, ",\"mac\":\"", 8);
				uint64_t ln = 1;
				for (const char *q = p; q < p + pos; q++)
					ln += *q == '\n';
				*ff = f;
				*fl = ln;
				mac[0] = '\0';
				if (m != NULL && (size_t)(p + pos + len - m) >= 8 + AUDIT_MAC_HEX) {
					memcpy(mac, m + 8, AUDIT_MAC_HEX);
					mac[AUDIT_MAC_HEX] = '\0';
				}
				return 1;
			}
			pos += len + 1;
		}
	}
	return 0;
}

/* Check one record against the one before it.  F, LINE, POS: where it is. */
static int
vchain(struct vstate *v, const struct audit_record *r, size_t f, uint64_t line,
    size_t pos, int first_in_file, uint64_t last_seq, const char *last_mac)
{
	uint64_t want = last_seq + 1, fl;
	size_t ff;
	char mac[AUDIT_MAC_HEX + 1];

	if (r->seq == want && strcmp(r->prev, last_mac) == 0)
		return 0;
	if (first_in_file && r->seq <= last_seq)
		return vproblem(v, AUDIT_BAD_FILE_ORDER, f, line, r->seq, "wrong file "
		    "order: this file starts at seq %llu but the file before it (%s) ends "
		    "at seq %llu; give rotated files oldest first",
		    (unsigned long long)r->seq, v->maps[f - 1].name,
		    (unsigned long long)last_seq);
	if (r->seq == 1 && strcmp(r->prev, ZERO_MAC) == 0)
		return vproblem(v, AUDIT_BAD_RESTART, f, line, r->seq, "a new chain starts here "
		    "after seq %llu (the state store was reset, or the records before were "
		    "replaced)", (unsigned long long)last_seq);
	if (first_in_file) {
		if (r->seq > want) {
			if (find_seq(v, want, f + 1, 0, v->nmaps, SIZE_MAX, &ff, &fl, mac))
				return vproblem(v, AUDIT_BAD_FILE_ORDER, f, line, r->seq, "wrong "
				    "file order: seq %llu, which comes next, is in %s; give rotated "
				    "files oldest first", (unsigned long long)want, v->maps[ff].name);
			return vproblem(v, AUDIT_BAD_GAP, f, line, r->seq, "sequence gap between "
			    "files: %s ends at seq %llu, this file starts at seq %llu (%llu "
			    "records missing)", v->maps[f - 1].name, (unsigned long long)last_seq,
			    (unsigned long long)r->seq, (unsigned long long)(r->seq - want));
		}
		return vproblem(v, AUDIT_BAD_CHAIN, f, line, r->seq, "does not chain from the "
		    "last record of %s (prev differs: a record was replaced)",
		    v->maps[f - 1].name);
	}
	if (r->seq <= last_seq) {
		if (find_seq(v, r->seq, 0, 0, f + 1, pos, &ff, &fl, mac) &&
		    strcmp(mac, r->mac) == 0)
			return vproblem(v, AUDIT_BAD_DUPLICATE, f, line, r->seq, "duplicate of "
			    "the record at %s:%llu", v->maps[ff].name, (unsigned long long)fl);
		return vproblem(v, AUDIT_BAD_REORDER, f, line, r->seq, "out of order: seq %llu "
		    "comes after seq %llu", (unsigned long long)r->seq,
		    (unsigned long long)last_seq);
	}
	if (r->seq > want) {
		if (find_seq(v, want, f, pos, v->nmaps, SIZE_MAX, &ff, &fl, mac))
			return vproblem(v, AUDIT_BAD_REORDER, f, line, r->seq, "out of order: "
			    "expected seq %llu here, it comes later at %s:%llu",
			    (unsigned long long)want, v->maps[ff].name, (unsigned long long)fl);
		return vproblem(v, AUDIT_BAD_GAP, f, line, r->seq, "sequence gap: expected "
		    "seq %llu, found %llu (%llu record%s deleted)", (unsigned long long)want,
		    (unsigned long long)r->seq, (unsigned long long)(r->seq - want),
		    r->seq - want == 1 ? "" : "s");
	}
	return vproblem(v, AUDIT_BAD_CHAIN, f, line, r->seq, "prev does not match the mac "
	    "of seq %llu (a record was replaced or inserted)", (unsigned long long)last_seq);
}

/* The seq of map F's first record, when it parses and its MAC holds. */
static int
first_seq(struct vstate *v, size_t f, uint64_t *seq)
{
	const struct map *m = &v->maps[f];
	const char *nl = m->p != NULL ? memchr(m->p, '\n', m->len) : NULL;
	struct audit_record rec;
	char want[AUDIT_MAC_HEX + 1], perr[256];

	if (nl == NULL || parse(m->p, (size_t)(nl - m->p), &rec, 0, perr, sizeof(perr)) != 0 ||
	    hmac_hex(v->h, m->p, rec.mac_offset, want) != 0 ||
	    !ward_ct_equal(want, rec.mac, AUDIT_MAC_HEX))
		return 0;
	*seq = rec.seq;
	return 1;
}

/*
 * Rotated files LO..HI are absent from the numbering.  Between two files
 * read (F - 1 and F, F < nmaps): named at F's first record, with the seq
 * range their absence leaves when the records on both sides verify.  After
 * the last file read (F == nmaps) or among the files not read (F ==
 * SIZE_MAX): named at the file next to them, or at the log.
 */
static int
vmissing(struct vstate *v, size_t f, unsigned lo, unsigned hi, int have_last,
    uint64_t last_seq)
{
	const char *sl = strrchr(v->set->path, '/'), *base = sl ? sl + 1 : v->set->path;
	char name[512], side[300];
	uint64_t s = 0;

	if (lo == hi)
		snprintf(name, sizeof(name), "%.200s.%u is", base, lo);
	else
		snprintf(name, sizeof(name), "%.200s.%u to %.200s.%u are", base, lo, base, hi);
	if (f == SIZE_MAX)
		return vproblem(v, AUDIT_BAD_MISSING_FILE, v->nmaps ? 0 : SIZE_MAX, 0, 0, "%s "
		    "missing among the older rotated files, which are not read (compressed, "
		    "or older than a compressed one; the numbering goes up to %s.%u)", name,
		    base, v->set->top);
	if (f == v->nmaps)
		return vproblem(v, AUDIT_BAD_MISSING_FILE, f - 1, 0, 0, "%s missing after this "
		    "file, and %s itself is absent (the newest records are gone)", name, base);
	sl = strrchr(v->maps[f - 1].name, '/');
	snprintf(side, sizeof(side), "%s", sl ? sl + 1 : v->maps[f - 1].name);
	if (!have_last || !first_seq(v, f, &s))
		return vproblem(v, AUDIT_BAD_MISSING_FILE, f, 0, 0, "%s missing between %.200s "
		    "and this file", name, side);
	if (s > last_seq + 1)
		return vproblem(v, AUDIT_BAD_MISSING_FILE, f, 1, s, "%s missing between %.200s "
		    "and this file: seq %llu..%llu absent", name, side,
		    (unsigned long long)last_seq + 1, (unsigned long long)s - 1);
	return vproblem(v, AUDIT_BAD_MISSING_FILE, f, 1, s, "%s missing between %.200s and "
	    "this file (seq %llu, then %llu: %s)", name, side, (unsigned long long)last_seq,
	    (unsigned long long)s, s == last_seq + 1 ? "no record absent, it held none" :
	    "out of order too");
}

/* audit_verify, and with SET (not NULL) audit_verify_set. */
static int
verify_files(const char *key_file, const char *const *files, size_t nfiles,
    const struct audit_fileset *set, const char *state_dir, struct audit_verify_result *res)
{
	struct state_audit_head head;
	struct secret_key key;
	struct hmac h = { NULL, NULL };
	struct vstate v = { NULL, 0, res, set, &h };
	struct audit_record rec;
	char last_mac[AUDIT_MAC_HEX + 1], kerr[512], want[AUDIT_MAC_HEX + 1];
	uint64_t last_seq = 0, head_line = 0;
	size_t head_file = 0;
	int have_last = 0, head_seen = 0, r;

	memset(res, 0, sizeof(*res));
	memset(&key, 0, sizeof(key));
	memset(&head, 0, sizeof(head));
	memset(&rec, 0, sizeof(rec));
	if ((r = secret_key_load(&key, key_file, kerr, sizeof(kerr))) != 0) {
		snprintf(res->message, sizeof(res->message), "audit key: %s", kerr);
		goto out;
	}
	r = hmac_init(&h, key.k, sizeof(key.k));
	secret_key_wipe(&key);
	if (r != 0) {
		snprintf(res->message, sizeof(res->message), "HMAC-SHA-256 unavailable");
		goto out;
	}
	/* The head first: records appended while we read are then only extra. */
	if (state_dir != NULL) {
		struct state *st;
		if ((r = state_open(&st, state_dir, 0)) != 0) {
			snprintf(res->message, sizeof(res->message), "state store %s: %s",
			    state_dir, ward_strerror(r));
			goto out;
		}
		r = state_audit_head_get(st, &head);
		state_close(st);
		if (r != 0 && r != WARD_ERR_NOTFOUND) {
			snprintf(res->message, sizeof(res->message), "audit head in %s: %s",
			    state_dir, ward_strerror(r));
			goto out;
		}
		res->head_checked = 1;
		res->head_seq = head.seq;
	}
	r = WARD_ERR_NOMEM;
	if ((v.maps = calloc(nfiles ? nfiles : 1, sizeof(*v.maps))) == NULL) {
		snprintf(res->message, sizeof(res->message), "out of memory");
		goto out;
	}
	for (; v.nmaps < nfiles; v.nmaps++) {
		if ((r = map_file(files[v.nmaps], &v.maps[v.nmaps], res->message,
		    sizeof(res->message))) != 0)
			goto out;
	}
	r = 0;
	/* a rotated file absent among those not read: older than any record */
	for (size_t g = 0; set != NULL && g < set->ngaps && r == 0; g++)
		if (set->gap[g].hi + 1 > (set->n > 0 ? set->num[0] : 0))
			r = vmissing(&v, SIZE_MAX, set->gap[g].lo, set->gap[g].hi, 0, 0);
	for (size_t f = 0; f < v.nmaps && r == 0; f++) {
		const char *p = v.maps[f].p;
		size_t pos = 0, len = v.maps[f].len;
		uint64_t line = 0;

		if (set != NULL && f > 0 && set->num[f - 1] > set->num[f] + 1) {
			r = vmissing(&v, f, set->num[f] + 1, set->num[f - 1] - 1, have_last,
			    last_seq);
			break;
		}
		while (pos < len) {
			const char *nl = memchr(p + pos, '\n', len - pos);
			size_t ll = nl ? (size_t)(nl - p) - pos : len - pos;
			char perr[256];

			line++;
			if (nl == NULL) {
				r = vproblem(&v, AUDIT_BAD_TRUNCATED, f, line, 0, "truncated line: "
				    "the last record is cut off mid-line (%zu bytes, no newline)", ll);
				break;
			}
			if (parse(p + pos, ll, &rec, 0, perr, sizeof(perr)) != 0) {
				r = vproblem(&v, AUDIT_BAD_PARSE, f, line, 0, "malformed record: %s",
				    perr);
				break;
			}
			if (hmac_hex(&h, p + pos, rec.mac_offset, want) != 0) {
				r = WARD_ERR_CRYPTO;
				snprintf(res->message, sizeof(res->message), "HMAC failed");
				break;
			}
			if (!ward_ct_equal(want, rec.mac, AUDIT_MAC_HEX)) {
				r = vproblem(&v, AUDIT_BAD_MAC, f, line, rec.seq, "MAC mismatch: the "
				    "record was changed%s", have_last ? "" : " (or the key is not the "
				    "one that wrote this log)");
				break;
			}
			if (!have_last) {
				if (rec.seq == 1 && strcmp(rec.prev, ZERO_MAC) != 0) {
					r = vproblem(&v, AUDIT_BAD_CHAIN, f, line, rec.seq, "seq 1 must "
					    "start the chain (prev 0...0)");
					break;
				}
				if (rec.seq != 1)
					snprintf(res->note, sizeof(res->note), "the chain starts at seq "
					    "%llu in %s (older records are not in the files given)",
					    (unsigned long long)rec.seq, v.maps[f].name);
				res->first_seq = rec.seq;
			} else if ((r = vchain(&v, &rec, f, line, pos, line == 1, last_seq,
			    last_mac)) != 0) {
				break;
			}
			if (res->head_checked && rec.seq == head.seq) {
				/* the chain is checked first; this is judged at the end */
				head_seen = strcmp(rec.mac, head.mac) == 0 ? 1 : -1;
				head_file = f;
				head_line = line;
			}
			have_last = 1;
			last_seq = rec.seq;
			memcpy(last_mac, rec.mac, sizeof(last_mac));
			res->records++;
			res->last_seq = rec.seq;
			pos += ll + 1;
		}
	}
	if (r == 0 && set != NULL && set->n > 0 && set->num[set->n - 1] > 1)
		r = vmissing(&v, v.nmaps, 1, set->num[set->n - 1] - 1, have_last, last_seq);
	if (r == 0 && head_seen < 0)
		r = vproblem(&v, AUDIT_BAD_HEAD, head_file, head_line, head.seq, "differs from "
		    "the record the state store saw last (the end of the log was replaced)");
	if (r == 0 && res->head_checked && head.seq > 0 && head_seen == 0) {
		size_t lf = v.nmaps ? v.nmaps - 1 : 0;
		if (head.seq > last_seq || !have_last)
			r = vproblem(&v, AUDIT_BAD_CUT_TAIL, lf, 0, 0, "cut tail: the state "
			    "store's head is seq %llu but the log ends at seq %llu (%llu record%s "
			    "missing from the end)", (unsigned long long)head.seq,
			    (unsigned long long)last_seq,
			    (unsigned long long)(head.seq - last_seq),
			    head.seq - last_seq == 1 ? "" : "s");
		else
			r = vproblem(&v, AUDIT_BAD_HEAD, lf, 0, 0, "the state store's head (seq "
			    "%llu) is not among the records checked (the log starts later)",
			    (unsigned long long)head.seq);
	}
	if (r == 0 && res->head_checked && head.seq == 0 && have_last)
		r = vproblem(&v, AUDIT_BAD_HEAD, v.nmaps - 1, 0, 0, "the state store has no "
		    "audit head but the log has records (the store was reset or replaced)");
out:
	for (size_t f = 0; f < v.nmaps; f++)
		unmap_file(&v.maps[f]);
	free(v.maps);
	hmac_free(&h);
	return r;
}

int
audit_verify(const char *key_file, const char *const *files, size_t nfiles,
    const char *state_dir, struct audit_verify_result *res)
{
	return verify_files(key_file, files, nfiles, NULL, state_dir, res);
}

int
audit_verify_set(const char *key_file, const struct audit_fileset *set,
    const char *state_dir, struct audit_verify_result *res)
{
	return verify_files(key_file, (const char *const *)set->v, set->n, set, state_dir, res);
}
