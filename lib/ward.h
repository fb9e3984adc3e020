/*
 * ward.h - what every part of lib/ shares: error codes, the log sink,
 * and helpers for secret bytes.
 *
 * Rules: shared code returns 0 or a negative WARD_ERR_*; wardd's flow
 * engine maps them to results and only pam_module/ maps results to PAM
 * codes, starting from a denying value.
 * Log lines never carry a secret, a code or a password.
 */
#ifndef WARD_H
#define WARD_H

#include <stdarg.h>
#include <stddef.h>

#define WARD_VERSION "0.1.0"

#if defined(__GNUC__)
#define WARD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define WARD_WUR __attribute__((warn_unused_result))
#define WARD_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#else
#define WARD_PRINTF(f, a)
#define WARD_WUR
#define WARD_NONNULL(...)
#endif

enum ward_err {
	WARD_OK = 0,
	WARD_ERR_NOMEM = -1,      /* out of memory */
	WARD_ERR_IO = -2,         /* read/write/open failed (errno kept by caller's log) */
	WARD_ERR_UNSAFE = -3,     /* file owner, mode, type or symlink refused */
	WARD_ERR_PARSE = -4,      /* malformed config, record or input */
	WARD_ERR_CRYPTO = -5,     /* encryption/decryption/MAC failure, tampered data */
	WARD_ERR_NOTFOUND = -6,   /* no such user / record */
	WARD_ERR_CORRUPT = -7,    /* stored record fails its checks */
	WARD_ERR_LOCKED = -8,     /* account locked out */
	WARD_ERR_REPLAY = -9,     /* TOTP code for a step already used */
	WARD_ERR_BADCODE = -10,   /* wrong TOTP / recovery code */
	WARD_ERR_UNAVAIL = -11,   /* directory unreachable and no usable cache */
	WARD_ERR_INVAL = -12,     /* invalid argument (bad user name, option) */
	WARD_ERR_TOOBIG = -13,    /* input over a size bound */
	WARD_ERR_STORE = -14,     /* state store (LMDB) failure */
	WARD_ERR_TIMEOUT = -15,   /* bounded wait expired */
	WARD_ERR_TLS = -16,       /* TLS / certificate verification failure */
	WARD_ERR_AUTH = -17,      /* directory bind refused */
	WARD_ERR_EXISTS = -18,    /* already present (enroll without --force) */
	WARD_ERR_AUDIT = -19,     /* audit record could not be written */
	WARD_ERR_POLICY = -20,    /* policy could not be loaded */
	WARD_ERR_INTERNAL = -21,  /* a bug: should not happen */
	WARD_ERR_FULL = -22,      /* state store full (its map size reached) */
	WARD_ERR_PROTO = -23,     /* a peer broke the wire protocol (lib/wire.h) */
	WARD_ERR_CLOSED = -24,    /* the peer closed the connection */
	WARD_ERR_PERM = -25,      /* the peer may not ask this */
	WARD_ERR_BUSY = -26       /* too many connections or requests: try later */
};
#define WARD_ERR_LAST WARD_ERR_BUSY

/* Short, constant English text for an error code; never NULL. */
const char *ward_strerror(int err);

/*
 * Logging.  Shared code calls ward_log(); each thread installs its sink
 * (the sink is per thread).  Priorities are syslog's (LOG_ERR, LOG_WARNING,
 * LOG_INFO, LOG_DEBUG...).  Default sink: stderr ("ward: msg").  wardd
 * installs a syslog sink (LOG_AUTHPRIV) in every thread; tests install a
 * capturing sink.
 * LOG_DEBUG lines are dropped unless ward_log_set_debug(1).
 */
typedef void (*ward_log_fn)(void *ctx, int prio, const char *msg);
void ward_log_set_sink(ward_log_fn fn, void *ctx);
void ward_log_set_debug(int on);
int ward_log_debug_enabled(void);
void ward_log(int prio, const char *fmt, ...) WARD_PRINTF(2, 3);
void ward_vlog(int prio, const char *fmt, va_list ap) WARD_PRINTF(2, 0);

/* Secrets: wipe and free (NULL is fine); constant-time compare (1 = equal). */
void ward_freezero(void *p, size_t len);
void ward_wipe(void *p, size_t len);
int ward_ct_equal(const void *a, const void *b, size_t len) WARD_WUR;
/* Wipe a NUL-terminated string and free it. */
void ward_free_str_secret(char *s);

/* Length of the valid UTF-8 sequence at S (N bytes left), 0 when invalid
 * (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF). */
size_t ward_utf8_len(const unsigned char *s, size_t n);
/* Length of the character at S when it is valid UTF-8 and safe to show on
 * a terminal (not a C0 or C1 control, not DEL); 0 otherwise. */
size_t ward_utf8_printable(const unsigned char *s, size_t n);

/*
 * User names: canonical form check.  Returns 0 when NAME is acceptable as a
 * login name for lookups and storage: 1..256 bytes, no control characters,
 * no leading/trailing space, valid UTF-8, none of '/', ':' or NUL.
 */
int ward_user_valid(const char *name) WARD_WUR;

#endif
