/* ward.c - error strings, the log sink, secret helpers, user name check. */
#include "ward.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

const char *
ward_strerror(int err)
{
	switch (err) {
	case WARD_OK: return "success";
	case WARD_ERR_NOMEM: return "out of memory";
	case WARD_ERR_IO: return "input/output error";
	case WARD_ERR_UNSAFE: return "unsafe file owner, mode or type";
	case WARD_ERR_PARSE: return "malformed input";
	case WARD_ERR_CRYPTO: return "cryptographic check failed";
	case WARD_ERR_NOTFOUND: return "not found";
	case WARD_ERR_CORRUPT: return "corrupt record";
	case WARD_ERR_LOCKED: return "account locked";
	case WARD_ERR_REPLAY: return "code already used";
	case WARD_ERR_BADCODE: return "wrong code";
	case WARD_ERR_UNAVAIL: return "directory unavailable";
	case WARD_ERR_INVAL: return "invalid argument";
	case WARD_ERR_TOOBIG: return "input too large";
	case WARD_ERR_STORE: return "state store failure";
	case WARD_ERR_TIMEOUT: return "timed out";
	case WARD_ERR_TLS: return "TLS failure";
	case WARD_ERR_AUTH: return "directory bind refused";
	case WARD_ERR_EXISTS: return "already exists";
	case WARD_ERR_AUDIT: return "audit record could not be written";
	case WARD_ERR_POLICY: return "policy could not be loaded";
	case WARD_ERR_INTERNAL: return "internal error";
	case WARD_ERR_FULL: return "state store full";
	case WARD_ERR_PROTO: return "protocol violation";
	case WARD_ERR_CLOSED: return "connection closed";
	case WARD_ERR_PERM: return "permission denied";
	case WARD_ERR_BUSY: return "too many requests";
	default: return "unknown error";
	}
}

static void
stderr_sink(void *ctx, int prio, const char *msg)
{
	(void)ctx;
	(void)prio;
	fprintf(stderr, "ward: %s\n", msg);
}

/* Per thread: a threaded program (wardd's workers, one per login phase)
 * sets the sink in each thread. */
static _Thread_local ward_log_fn log_fn = stderr_sink;
static _Thread_local void *log_ctx;
static _Thread_local int log_debug;

void
ward_log_set_sink(ward_log_fn fn, void *ctx)
{
	log_fn = fn ? fn : stderr_sink;
	log_ctx = ctx;
}

void
ward_log_set_debug(int on)
{
	log_debug = on;
}

int
ward_log_debug_enabled(void)
{
	return log_debug;
}

void
ward_vlog(int prio, const char *fmt, va_list ap)
{
	char buf[1024];

	if (prio == LOG_DEBUG && !log_debug)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_fn(log_ctx, prio, buf);
}

void
ward_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ward_vlog(prio, fmt, ap);
	va_end(ap);
}

void
ward_wipe(void *p, size_t len)
{
	if (p != NULL && len > 0)
		explicit_bzero(p, len);
}

void
ward_freezero(void *p, size_t len)
{
	if (p == NULL)
		return;
	explicit_bzero(p, len);
	free(p);
}

void
ward_free_str_secret(char *s)
{
	if (s == NULL)
		return;
	ward_freezero(s, strlen(s));
}

int
ward_ct_equal(const void *a, const void *b, size_t len)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;

	for (size_t i = 0; i < len; i++)
		d |= (unsigned char)(x[i] ^ y[i]);
	return d == 0;
}

size_t
ward_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c;

	if (n == 0)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

size_t
ward_utf8_printable(const unsigned char *s, size_t n)
{
	size_t k = ward_utf8_len(s, n);

	if (k == 1 && (s[0] < 0x20 || s[0] == 0x7f))
		return 0;
	if (k == 2 && s[0] == 0xc2 && s[1] < 0xa0)     /* U+0080..U+009F: C1 */
		return 0;
	return k;
}

/* Strict UTF-8 with no C1 controls (U+0080..U+009F). */
static int
utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0, k; i < n; i += k) {
		if ((k = ward_utf8_len(s + i, n - i)) == 0 ||
		    (k == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0))
			return 0;
	}
	return 1;
}

int
ward_user_valid(const char *name)
{
	size_t n;

	if (name == NULL)
		return WARD_ERR_INVAL;
	n = strnlen(name, 257);
	if (n == 0)
		return WARD_ERR_INVAL;
	if (n > 256)
		return WARD_ERR_TOOBIG;
	if (name[0] == ' ' || name[n - 1] == ' ')
		return WARD_ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7F || c == '/' || c == ':')
			return WARD_ERR_INVAL;
	}
	if (!utf8_valid((const unsigned char *)name, n))
		return WARD_ERR_INVAL;
	return 0;
}
