/*
 * wire.h - the protocol between pam_ward.so (and other clients) and wardd,
 * over wardd's unix stream socket (wardd(8) "PROTOCOL").  Shared by the
 * module, the daemon, the tests and the fuzzer; uses libc only (and
 * lib/ward.c for error codes and UTF-8 checks), so the module can link it
 * without pulling anything heavy into login processes.
 *
 * A frame is a 12-byte header, then the payload:
 *
 *   "WARD"   4 bytes  magic
 *   version  u16      WIRE_VERSION (1)
 *   type     u16      enum wire_type
 *   length   u32      payload bytes, at most WIRE_MAX_PAYLOAD
 *
 * The payload is a sequence of fields, each: tag u16, length u16, bytes.
 * All integers are big-endian (network byte order).  Field kinds:
 *   str   UTF-8 (RFC 3629), no NUL, 0..max bytes
 *   bytes any bytes but NUL, 0..max (what a person or a PAM application
 *         gives: a name, a typed answer, a token, in whatever encoding)
 *   u32   exactly 4 bytes
 *   bool  exactly 4 bytes holding 0 or 1
 *   i64   exactly 8 bytes (two's complement)
 *   hex   exactly max bytes of lowercase hexadecimal (a token)
 *
 * Rules the codec keeps (both directions: wire_encode refuses what
 * wire_decode would refuse, so a sender cannot emit a frame its peer drops):
 *  - every length is checked against what is left before it is used; a
 *    declared payload over WIRE_MAX_PAYLOAD is refused from the header
 *    alone, before anything is read or allocated;
 *  - a tag that is not in WIRE_TAGS is refused; a tag twice is refused
 *    unless the table marks it repeatable; at most WIRE_MAX_FIELDS fields;
 *  - each message type names the tags it may carry and those it must carry
 *    (WIRE_TYPES); anything else is refused;
 *  - fields marked secret (a code, a break-glass reason) are wiped with the
 *    message: wire_msg_wipe wipes every byte the message holds.
 */
#ifndef WARD_WIRE_H
#define WARD_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ward.h"

#define WIRE_MAGIC "WARD"            /* the first 4 bytes, no NUL */
#define WIRE_VERSION 1
#define WIRE_HEADER_LEN 12
#define WIRE_MAX_PAYLOAD (64 * 1024)
#define WIRE_MAX_FRAME (WIRE_HEADER_LEN + WIRE_MAX_PAYLOAD)
#define WIRE_MAX_FIELDS 64
#define WIRE_TOKEN_HEX 32            /* 16 random bytes as hex */
#define WIRE_MAX_MESSAGES 16         /* WT_MESSAGE lines in one ASK or RESULT */
#define WIRE_MAX_ENV 8               /* WT_ENV lines in one RESULT */

/* WT_PHASE: the PAM phase a PHASE request runs. */
enum wire_phase {
	WIRE_PH_AUTH = 1,
	WIRE_PH_ACCOUNT,
	WIRE_PH_OPEN_SESSION,
	WIRE_PH_CLOSE_SESSION
};

/* WT_RESULT: how a phase ended.  0 is no result; it and every value not
 * listed are denials (the engine's FLOW_* results are these). */
enum wire_result {
	WIRE_R_SUCCESS = 1,
	WIRE_R_AUTH_ERR,             /* the code (or its absence) was not accepted */
	WIRE_R_PERM_DENIED,          /* the policy, or the user, refused access */
	WIRE_R_MAXTRIES,             /* locked out after too many wrong codes */
	WIRE_R_AUTHINFO_UNAVAIL,     /* roles, store or audit log unavailable */
	WIRE_R_SESSION_ERR           /* the session cannot be opened or recorded */
};

/* WT_FLAGS bits of a PHASE request: the module's options. */
#define WIRE_F_USE_FIRST_PASS 1u
#define WIRE_F_TRY_FIRST_PASS 2u
#define WIRE_F_SILENT 4u
#define WIRE_F_ALL 7u

enum wire_kind { WIRE_K_STR, WIRE_K_U32, WIRE_K_BOOL, WIRE_K_I64, WIRE_K_HEX, WIRE_K_BYTES };

/*
 * The field table: X(NAME, TAG, KIND, MAX, REPEATABLE, SECRET).  A tag is
 * added here and nowhere else (and then allowed in the messages that carry
 * it, below).  Tags are 1..63 (they index a 64-bit mask).  MAX is the
 * longest value in bytes for str, the exact length for hex, ignored for
 * integers.  Numbers are never reused: retire a tag by leaving a gap.
 */
#define WIRE_TAGS(X) \
	X(WT_ERR_CODE,       1, WIRE_K_I64,  0,    0, 0) /* negative WARD_ERR_* */ \
	X(WT_ERR_TEXT,       2, WIRE_K_STR,  512,  0, 0) /* what went wrong */ \
	X(WT_VERSION,        3, WIRE_K_STR,  64,   0, 0) /* wardd's version */ \
	X(WT_POLICY_VERSION, 4, WIRE_K_STR,  256,  0, 0) \
	X(WT_USER,           5, WIRE_K_BYTES,  256,  0, 0) \
	X(WT_SERVICE,        6, WIRE_K_BYTES,  256,  0, 0) /* PAM service */ \
	X(WT_HOST,           7, WIRE_K_STR,  255,  0, 0) /* short host name */ \
	X(WT_ALLOW,          8, WIRE_K_BOOL, 0,    0, 0) \
	X(WT_RULE,           9, WIRE_K_STR,  256,  0, 0) \
	X(WT_REASON,        10, WIRE_K_STR,  1024, 0, 0) \
	X(WT_APP,           11, WIRE_K_STR,  256,  0, 0) \
	X(WT_MFA_REQUIRED,  12, WIRE_K_BOOL, 0,    0, 0) \
	X(WT_MFA_GRACE,     13, WIRE_K_I64,  0,    0, 0) /* seconds */ \
	X(WT_IDLE_LOGOFF,   14, WIRE_K_I64,  0,    0, 0) /* seconds, -1 none */ \
	X(WT_SESSION_MAX,   15, WIRE_K_I64,  0,    0, 0) /* seconds, -1 none */ \
	X(WT_BREAK_GLASS,   16, WIRE_K_BOOL, 0,    0, 0) \
	X(WT_ROLES,         17, WIRE_K_STR,  4096, 0, 0) /* effective, comma-joined */ \
	X(WT_TXN,           18, WIRE_K_HEX,  WIRE_TOKEN_HEX, 0, 0) /* transaction */ \
	X(WT_MESSAGE,       19, WIRE_K_STR,  1024, 1, 0) /* for the user, in order */ \
	/* 20 (a code) and 21 (a break-glass reason) are retired: both travel \
	 * as WT_ANSWER, the reply to the prompt that asked for them */ \
	X(WT_PHASE,         22, WIRE_K_U32,  0,    0, 0) /* enum wire_phase */ \
	X(WT_RHOST,         23, WIRE_K_BYTES,  1024, 0, 0) /* PAM_RHOST */ \
	X(WT_TTY,           24, WIRE_K_BYTES,  256,  0, 0) /* PAM_TTY */ \
	X(WT_AUTHTOK,       25, WIRE_K_BYTES,  1024, 0, 1) /* an earlier module's token */ \
	X(WT_FLAGS,         26, WIRE_K_U32,  0,    0, 0) /* WIRE_F_* */ \
	X(WT_PROMPT,        27, WIRE_K_STR,  256,  0, 0) \
	X(WT_ECHO,          28, WIRE_K_BOOL, 0,    0, 0) /* show what is typed */ \
	X(WT_ANSWER,        29, WIRE_K_BYTES,  1024, 0, 1) /* what the person typed */ \
	X(WT_RESULT,        30, WIRE_K_U32,  0,    0, 0) /* enum wire_result */ \
	X(WT_STYLES,        31, WIRE_K_STR,  WIRE_MAX_MESSAGES, 0, 0) /* 'E'rror or \
	                                                   'I'nfo per WT_MESSAGE */ \
	X(WT_ENV,           32, WIRE_K_STR,  4352, 1, 0) /* NAME=VALUE to set, NAME \
	                                                    alone to unset */

enum wire_tag {
#define WIRE_X_ENUM(name, tag, kind, max, rep, secret) name = (tag),
	WIRE_TAGS(WIRE_X_ENUM)
#undef WIRE_X_ENUM
};

#define WIRE_BIT(t) ((uint64_t)1 << (t))

/*
 * The message table: X(NAME, TYPE, ALLOWED, REQUIRED) with ALLOWED and
 * REQUIRED as masks of WIRE_BIT(tag).  Requests are even numbers from 2,
 * answers odd; WIRE_ERROR answers any request.
 *
 * The login flow is a conversation relay (wardd(8) "PROTOCOL"): the client
 * sends PHASE; wardd answers ASK (the messages so far, a prompt) as often
 * as the flow needs a typed answer, each answered by a REPLY (WT_ANSWER,
 * or none when the person gave none), and ends with RESULT (the FLOW_*
 * result, the messages left, the session variables, the transaction
 * token to send with the next phase) or WIRE_ERROR.
 */
#define WIRE_DECISION_TAGS (WIRE_BIT(WT_ALLOW) | WIRE_BIT(WT_RULE) | \
	WIRE_BIT(WT_REASON) | WIRE_BIT(WT_MFA_REQUIRED) | WIRE_BIT(WT_MFA_GRACE) | \
	WIRE_BIT(WT_IDLE_LOGOFF) | WIRE_BIT(WT_SESSION_MAX) | WIRE_BIT(WT_BREAK_GLASS) | \
	WIRE_BIT(WT_ROLES) | WIRE_BIT(WT_POLICY_VERSION))
#define WIRE_TYPES(X) \
	X(WIRE_ERROR,    1, WIRE_BIT(WT_ERR_CODE) | WIRE_BIT(WT_ERR_TEXT), \
	                    WIRE_BIT(WT_ERR_CODE) | WIRE_BIT(WT_ERR_TEXT)) \
	X(WIRE_PING,     2, 0, 0) \
	X(WIRE_PONG,     3, WIRE_BIT(WT_VERSION) | WIRE_BIT(WT_POLICY_VERSION), \
	                    WIRE_BIT(WT_VERSION) | WIRE_BIT(WT_POLICY_VERSION)) \
	X(WIRE_DECIDE,   4, WIRE_BIT(WT_USER) | WIRE_BIT(WT_SERVICE) | WIRE_BIT(WT_HOST), \
	                    WIRE_BIT(WT_USER) | WIRE_BIT(WT_SERVICE)) \
	X(WIRE_DECISION, 5, WIRE_DECISION_TAGS | WIRE_BIT(WT_APP), WIRE_DECISION_TAGS) \
	X(WIRE_PHASE,    6, WIRE_BIT(WT_PHASE) | WIRE_BIT(WT_USER) | WIRE_BIT(WT_SERVICE) | \
	                    WIRE_BIT(WT_RHOST) | WIRE_BIT(WT_TTY) | WIRE_BIT(WT_AUTHTOK) | \
	                    WIRE_BIT(WT_FLAGS) | WIRE_BIT(WT_PROMPT) | WIRE_BIT(WT_TXN), \
	                    WIRE_BIT(WT_PHASE) | WIRE_BIT(WT_USER) | WIRE_BIT(WT_SERVICE)) \
	X(WIRE_ASK,      7, WIRE_BIT(WT_MESSAGE) | WIRE_BIT(WT_STYLES) | WIRE_BIT(WT_PROMPT) | \
	                    WIRE_BIT(WT_ECHO), WIRE_BIT(WT_PROMPT) | WIRE_BIT(WT_ECHO)) \
	X(WIRE_REPLY,    8, WIRE_BIT(WT_ANSWER), 0) \
	X(WIRE_RESULT,   9, WIRE_BIT(WT_RESULT) | WIRE_BIT(WT_MESSAGE) | WIRE_BIT(WT_STYLES) | \
	                    WIRE_BIT(WT_ENV) | WIRE_BIT(WT_TXN), \
	                    WIRE_BIT(WT_RESULT) | WIRE_BIT(WT_TXN))

enum wire_type {
#define WIRE_X_ENUM(name, type, allowed, required) name = (type),
	WIRE_TYPES(WIRE_X_ENUM)
#undef WIRE_X_ENUM
};

struct wire_field {
	uint16_t tag;
	uint16_t len;                /* value bytes */
	size_t off;                  /* value at msg->buf + off, NUL after it */
};

/*
 * A message: its type and fields.  Values live in BUF (CAP bytes,
 * allocated on first use and grown as fields are added, at most
 * WIRE_MAX_PAYLOAD + WIRE_MAX_FIELDS), each followed by a NUL so strings
 * can be used as they are.  ERR is sticky: the first wire_put_*
 * failure is kept and returned by wire_encode, so a sender may put every
 * field and check once.
 */
struct wire_msg {
	uint16_t type;
	size_t nfields;
	struct wire_field f[WIRE_MAX_FIELDS];
	unsigned char *buf;
	size_t used, cap;
	int err;
};

/* Name of message TYPE or tag TAG ("?" when unknown), for logs. */
const char *wire_type_name(unsigned type);
const char *wire_tag_name(unsigned tag);

/* Start an empty message of TYPE (no allocation yet). */
void wire_msg_init(struct wire_msg *m, uint16_t type) WARD_NONNULL(1);
/* Wipe every value byte (explicit_bzero), free the buffer and leave M
 * empty (its type kept).  Safe on a wiped or initialised message. */
void wire_msg_wipe(struct wire_msg *m);

/*
 * Add a field.  Returns 0, WARD_ERR_INVAL (tag unknown, wrong kind for the
 * tag, a str with a NUL or invalid UTF-8, a bool not 0/1, hex not exactly
 * WIRE_TOKEN_HEX lowercase hex digits), WARD_ERR_TOOBIG (over the tag's
 * max, over WIRE_MAX_FIELDS or WIRE_MAX_PAYLOAD), WARD_ERR_EXISTS (a tag
 * twice that is not repeatable) or WARD_ERR_NOMEM; the error is also kept
 * in M->err.  Tags are checked against the message type at encode time.
 */
int wire_put_str(struct wire_msg *m, unsigned tag, const char *s) WARD_NONNULL(1, 3);
int wire_put_u32(struct wire_msg *m, unsigned tag, uint32_t v) WARD_NONNULL(1);
int wire_put_bool(struct wire_msg *m, unsigned tag, int v) WARD_NONNULL(1);
int wire_put_i64(struct wire_msg *m, unsigned tag, int64_t v) WARD_NONNULL(1);

/*
 * Encode M into BUF (CAP bytes; WIRE_MAX_FRAME always suffices), *LEN the
 * frame's length.  Returns 0, M->err when a put failed, WARD_ERR_PROTO when
 * M breaks the message table (unknown type, a tag the type does not carry,
 * a required tag missing), or WARD_ERR_TOOBIG when CAP is short.
 */
int wire_encode(const struct wire_msg *m, unsigned char *buf, size_t cap,
    size_t *len) WARD_WUR WARD_NONNULL(1, 2, 4);

/*
 * Check a 12-byte frame header: magic, version, a known type, a length
 * within WIRE_MAX_PAYLOAD.  Sets *TYPE and *PLEN.  Returns 0 or
 * WARD_ERR_PROTO (WARD_ERR_TOOBIG for a length over the bound).
 */
int wire_header(const unsigned char hdr[WIRE_HEADER_LEN], uint16_t *type,
    uint32_t *plen) WARD_WUR WARD_NONNULL(1, 2, 3);

/*
 * Decode the whole frame BUF (LEN bytes: header and payload, nothing
 * after) into *M (initialised here; wire_msg_wipe it after, on success or
 * not).  Every rule above is checked.  Returns 0, WARD_ERR_PROTO (bad
 * magic, version, type, truncation, trailing bytes, unknown or duplicate
 * tag, a tag the type does not carry, a required tag missing, a value of
 * the wrong size, form or encoding), WARD_ERR_TOOBIG (a length over its
 * bound) or WARD_ERR_NOMEM.
 */
int wire_decode(const unsigned char *buf, size_t len, struct wire_msg *m)
    WARD_WUR WARD_NONNULL(1, 3);

/* Field getters.  wire_get_str: the value (NUL-terminated, owned by M) or
 * NULL when absent or not a str/hex tag.  The integer getters return 0, or
 * WARD_ERR_NOTFOUND when absent (*V untouched).  For a repeatable tag,
 * wire_count gives how many and wire_get_str_at the Nth (0-based). */
const char *wire_get_str(const struct wire_msg *m, unsigned tag) WARD_NONNULL(1);
int wire_get_u32(const struct wire_msg *m, unsigned tag, uint32_t *v) WARD_NONNULL(1, 3);
int wire_get_bool(const struct wire_msg *m, unsigned tag, int *v) WARD_NONNULL(1, 3);
int wire_get_i64(const struct wire_msg *m, unsigned tag, int64_t *v) WARD_NONNULL(1, 3);
size_t wire_count(const struct wire_msg *m, unsigned tag) WARD_NONNULL(1);
const char *wire_get_str_at(const struct wire_msg *m, unsigned tag, size_t n)
    WARD_NONNULL(1);

/*
 * Build a WIRE_ERROR answer for CODE (a negative WARD_ERR_*) and TEXT
 * (NULL: ward_strerror(CODE)); M is initialised here.  Returns 0 or an
 * error as wire_put_*.
 */
int wire_error(struct wire_msg *m, int code, const char *text) WARD_NONNULL(1);

/*
 * Deadlines are CLOCK_MONOTONIC times.  wire_deadline sets *DL to now + MS
 * milliseconds; wire_remaining_ms gives the milliseconds left (0 when
 * past, rounded up so a poll never spins).
 */
void wire_deadline(struct timespec *dl, long ms) WARD_NONNULL(1);
int wire_remaining_ms(const struct timespec *dl) WARD_NONNULL(1);

/*
 * Reading one frame a piece at a time, for an event loop (wardd) and for
 * wire_recv.  wire_reader_step reads FD, after poll said it is readable:
 * a socket without waiting (recv MSG_DONTWAIT) for as long as the frame's
 * bytes are there, anything else with one read(2); never past the end of
 * the frame (a second frame stays in the socket).  It returns 1 when the
 * frame is complete (R->frame, R->len; pass them to wire_decode), 0 when
 * more is needed (EAGAIN, EINTR), WARD_ERR_CLOSED when the peer closed
 * before the first byte, WARD_ERR_PROTO for a bad header or a close
 * mid-frame, WARD_ERR_TOOBIG for a declared length over the bound (from
 * the header: nothing more is read or allocated), WARD_ERR_IO (errno
 * set), or WARD_ERR_NOMEM.  After a bad header or a failed allocation,
 * further steps return that error again and read nothing.
 * wire_reader_reset wipes and frees (safe twice)
 * and makes R ready for the next frame; R starts zeroed.
 */
struct wire_reader {
	unsigned char hdr[WIRE_HEADER_LEN];
	unsigned char *frame;        /* header + payload once the header is good */
	size_t got;                  /* bytes of the frame read so far */
	size_t len;                  /* whole frame, once the header is read */
};
int wire_reader_step(struct wire_reader *r, int fd) WARD_WUR WARD_NONNULL(1);
void wire_reader_reset(struct wire_reader *r);

/*
 * Blocking-style I/O bounded by DEADLINE (works on blocking and
 * non-blocking fds: it polls with the time left).  wire_send writes the
 * whole frame of M; wire_recv reads one frame into *M (initialised here;
 * wipe it after) and decodes it.  EINTR is retried; partial reads and
 * writes are continued.  Returns 0, WARD_ERR_TIMEOUT when DEADLINE passes
 * first (a peer that sends nothing or stalls mid-frame), the errors of
 * wire_reader_step and wire_decode, WARD_ERR_CLOSED, or WARD_ERR_IO.
 * SIGPIPE: wire_send uses send(MSG_NOSIGNAL) on sockets.
 */
/* One PING on a new connection to the unix socket PATH, within MS
 * milliseconds: 0 when a PONG came back, WARD_ERR_UNAVAIL when nothing
 * listens there, or the errors of wire_send and wire_recv (an answer of
 * another type: WARD_ERR_PROTO).  For whoever waits for wardd to be up
 * (tests, benchmarks). */
int wire_ping(const char *path, long ms) WARD_WUR WARD_NONNULL(1);

int wire_send(int fd, const struct wire_msg *m, const struct timespec *deadline)
    WARD_WUR WARD_NONNULL(2, 3);
int wire_recv(int fd, struct wire_msg *m, const struct timespec *deadline)
    WARD_WUR WARD_NONNULL(2, 3);

#endif
