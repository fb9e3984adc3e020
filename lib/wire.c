/*
 * wire.c - the module-daemon protocol.  Format and rules in wire.h.
 *
 * Rules it keeps: no length from the peer is used before it is compared
 * with what is left and with its bound; nothing is allocated from a
 * declared length over WIRE_MAX_PAYLOAD; every value byte a message holds
 * is wiped when the message is; encode and decode share one checker.
 */
#include "wire.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF_CAP ((size_t)WIRE_MAX_PAYLOAD + WIRE_MAX_FIELDS)

struct tag_info {
	const char *name;
	unsigned tag;
	enum wire_kind kind;
	size_t max;
	int repeatable, secret;
};

static const struct tag_info tags[] = {
#define WIRE_X_TAG(n, t, k, m, r, s) { #n, t, k, m, r, s },
	WIRE_TAGS(WIRE_X_TAG)
#undef WIRE_X_TAG
};

struct type_info {
	const char *name;
	unsigned type;
	uint64_t allowed, required;
};

static const struct type_info types[] = {
#define WIRE_X_TYPE(n, t, a, r) { #n, t, a, r },
	WIRE_TYPES(WIRE_X_TYPE)
#undef WIRE_X_TYPE
};

static const struct tag_info *
tag_find(unsigned tag)
{
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (tags[i].tag == tag)
			return &tags[i];
	return NULL;
}

static const struct type_info *
type_find(unsigned type)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].type == type)
			return &types[i];
	return NULL;
}

const char *
wire_type_name(unsigned type)
{
	const struct type_info *t = type_find(type);

	return t != NULL ? t->name : "?";
}

const char *
wire_tag_name(unsigned tag)
{
	const struct tag_info *t = tag_find(tag);

	return t != NULL ? t->name : "?";
}

static void
put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void
put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

void
wire_msg_init(struct wire_msg *m, uint16_t type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
}

void
wire_msg_wipe(struct wire_msg *m)
{
	uint16_t type;

	if (m == NULL)
		return;
	type = m->type;
	if (m->buf != NULL) {
		explicit_bzero(m->buf, m->cap);
		free(m->buf);
	}
	explicit_bzero(m, sizeof(*m));
	m->type = type;
}

/*
 * Is VAL (LEN bytes) a valid value for tag T?  WARD_ERR_INVAL for the wrong
 * form, WARD_ERR_TOOBIG for a str over its bound.
 */
static int
value_ok(const struct tag_info *t, const unsigned char *val, size_t len)
{
	switch (t->kind) {
	case WIRE_K_STR:
		if (len > t->max)
			return WARD_ERR_TOOBIG;
		for (size_t i = 0; i < len;) {
			size_t n = ward_utf8_len(val + i, len - i);
			if (n == 0 || val[i] == '\0')
				return WARD_ERR_INVAL;
			i += n;
		}
		return 0;
	case WIRE_K_BYTES:
		if (len > t->max)
			return WARD_ERR_TOOBIG;
		return memchr(val, '\0', len) == NULL ? 0 : WARD_ERR_INVAL;
	case WIRE_K_HEX:
		if (len != t->max)
			return WARD_ERR_INVAL;
		for (size_t i = 0; i < len; i++)
			if (!((val[i] >= '0' && val[i] <= '9') || (val[i] >= 'a' && val[i] <= 'f')))
				return WARD_ERR_INVAL;
		return 0;
	case WIRE_K_U32:
		return len == 4 ? 0 : WARD_ERR_INVAL;
	case WIRE_K_BOOL:
		return len == 4 && get32(val) <= 1 ? 0 : WARD_ERR_INVAL;
	case WIRE_K_I64:
		return len == 8 ? 0 : WARD_ERR_INVAL;
	}
	return WARD_ERR_INVAL;
}

/* Payload bytes the fields of M take on the wire. */
static size_t
payload_len(const struct wire_msg *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nfields; i++)
		n += 4 + m->f[i].len;
	return n;
}

/*
 * Make room for NEED bytes of values: a new buffer (doubling, at most
 * BUF_CAP), the old one copied, wiped and freed (realloc would free it
 * unwiped).  Most messages are small, so most never hold more than a few
 * hundred bytes.  0 or WARD_ERR_NOMEM.
 */
static int
grow(struct wire_msg *m, size_t need)
{
	size_t cap = m->cap > 0 ? m->cap : 256;
	unsigned char *nb;

	while (cap < need)
		cap *= 2;
	if (cap > BUF_CAP)
		cap = BUF_CAP;
	if ((nb = malloc(cap)) == NULL)
		return WARD_ERR_NOMEM;
	if (m->buf != NULL) {
		memcpy(nb, m->buf, m->used);
		explicit_bzero(m->buf, m->cap);
		free(m->buf);
	}
	m->buf = nb;
	m->cap = cap;
	return 0;
}

/* Append a checked field; the one way values enter a message. */
static int
add_field(struct wire_msg *m, unsigned tag, const unsigned char *val, size_t len)
{
	const struct tag_info *t = tag_find(tag);
	int r;

	if (t == NULL)
		return WARD_ERR_INVAL;
	if ((r = value_ok(t, val, len)) != 0)
		return r;
	if (!t->repeatable)
		for (size_t i = 0; i < m->nfields; i++)
			if (m->f[i].tag == tag)
				return WARD_ERR_EXISTS;
	if (m->nfields >= WIRE_MAX_FIELDS || payload_len(m) + 4 + len > WIRE_MAX_PAYLOAD)
		return WARD_ERR_TOOBIG;
	/* payload <= WIRE_MAX_PAYLOAD and one NUL per field: it fits BUF_CAP */
	if (m->used + len + 1 > m->cap && (r = grow(m, m->used + len + 1)) != 0)
		return r;
	if (len > 0)
		memcpy(m->buf + m->used, val, len);
	m->buf[m->used + len] = '\0';
	m->f[m->nfields].tag = (uint16_t)tag;
	m->f[m->nfields].len = (uint16_t)len;
	m->f[m->nfields].off = m->used;
	m->nfields++;
	m->used += len + 1;
	return 0;
}

static int
put(struct wire_msg *m, unsigned tag, enum wire_kind kind, const unsigned char *val,
    size_t len)
{
	const struct tag_info *t = tag_find(tag);
	int r;

	if (m->err != 0)
		return m->err;
	if (t == NULL || t->kind != kind)
		r = WARD_ERR_INVAL;
	else
		r = add_field(m, tag, val, len);
	m->err = r;
	return r;
}

int
wire_put_str(struct wire_msg *m, unsigned tag, const char *s)
{
	const struct tag_info *t = tag_find(tag);
	size_t len = strlen(s);

	if (len > 0xffff)
		return m->err = m->err ? m->err : WARD_ERR_TOOBIG;
	return put(m, tag, t != NULL && (t->kind == WIRE_K_HEX || t->kind == WIRE_K_BYTES) ?
	    t->kind : WIRE_K_STR, (const unsigned char *)s, len);
}

int
wire_put_u32(struct wire_msg *m, unsigned tag, uint32_t v)
{
	unsigned char b[4];

	put32(b, v);
	return put(m, tag, WIRE_K_U32, b, 4);
}

int
wire_put_bool(struct wire_msg *m, unsigned tag, int v)
{
	unsigned char b[4];

	if (v != 0 && v != 1)
		return m->err = m->err ? m->err : WARD_ERR_INVAL;
	put32(b, (uint32_t)v);
	return put(m, tag, WIRE_K_BOOL, b, 4);
}

int
wire_put_i64(struct wire_msg *m, unsigned tag, int64_t v)
{
	unsigned char b[8];
	uint64_t u = (uint64_t)v;

	put32(b, (uint32_t)(u >> 32));
	put32(b + 4, (uint32_t)u);
	return put(m, tag, WIRE_K_I64, b, 8);
}

/* The message table's rules for M's type and tags. */
static int
check_type(const struct wire_msg *m)
{
	const struct type_info *t = type_find(m->type);
	uint64_t seen = 0;

	if (t == NULL)
		return WARD_ERR_PROTO;
	for (size_t i = 0; i < m->nfields; i++) {
		if (m->f[i].tag >= 64 || !(t->allowed & WIRE_BIT(m->f[i].tag)))
			return WARD_ERR_PROTO;
		seen |= WIRE_BIT(m->f[i].tag);
	}
	return (seen & t->required) == t->required ? 0 : WARD_ERR_PROTO;
}

int
wire_encode(const struct wire_msg *m, unsigned char *buf, size_t cap, size_t *len)
{
	size_t plen, off = WIRE_HEADER_LEN;
	int r;

	*len = 0;
	if (m->err != 0)
		return m->err;
	if ((r = check_type(m)) != 0)
		return r;
	plen = payload_len(m);
	if (plen > WIRE_MAX_PAYLOAD)
		return WARD_ERR_TOOBIG;
	if (cap < WIRE_HEADER_LEN + plen)
		return WARD_ERR_TOOBIG;
	buf[0] = 'W';
	buf[1] = 'A';
	buf[2] = 'R';
	buf[3] = 'D';
	put16(buf + 4, WIRE_VERSION);
	put16(buf + 6, m->type);
	put32(buf + 8, (uint32_t)plen);
	for (size_t i = 0; i < m->nfields; i++) {
		put16(buf + off, m->f[i].tag);
		put16(buf + off + 2, m->f[i].len);
		if (m->f[i].len > 0)
			memcpy(buf + off + 4, m->buf + m->f[i].off, m->f[i].len);
		off += 4 + (size_t)m->f[i].len;
	}
	*len = off;
	return 0;
}

int
wire_header(const unsigned char hdr[WIRE_HEADER_LEN], uint16_t *type, uint32_t *plen)
{
	*type = 0;
	*plen = 0;
	if (memcmp(hdr, WIRE_MAGIC, 4) != 0 || get16(hdr + 4) != WIRE_VERSION)
		return WARD_ERR_PROTO;
	if (type_find(get16(hdr + 6)) == NULL)
		return WARD_ERR_PROTO;
	if (get32(hdr + 8) > WIRE_MAX_PAYLOAD)
		return WARD_ERR_TOOBIG;
	*type = get16(hdr + 6);
	*plen = get32(hdr + 8);
	return 0;
}

int
wire_decode(const unsigned char *buf, size_t len, struct wire_msg *m)
{
	uint16_t type;
	uint32_t plen;
	size_t off = WIRE_HEADER_LEN;
	int r;

	wire_msg_init(m, 0);
	if (len < WIRE_HEADER_LEN)
		return WARD_ERR_PROTO;
	if ((r = wire_header(buf, &type, &plen)) != 0)
		return r;
	if (len - WIRE_HEADER_LEN != plen)
		return WARD_ERR_PROTO;        /* truncated, or bytes after the frame */
	m->type = type;
	while (off < len) {
		unsigned tag;
		size_t flen;

		if (len - off < 4)
			return WARD_ERR_PROTO;
		tag = get16(buf + off);
		flen = get16(buf + off + 2);
		off += 4;
		if (flen > len - off)
			return WARD_ERR_PROTO;
		r = add_field(m, tag, buf + off, flen);
		if (r == WARD_ERR_NOMEM || r == WARD_ERR_TOOBIG)
			return r;
		if (r != 0)
			return WARD_ERR_PROTO;
		off += flen;
	}
	return check_type(m);
}

static const struct wire_field *
field(const struct wire_msg *m, unsigned tag, size_t n)
{
	for (size_t i = 0; i < m->nfields; i++)
		if (m->f[i].tag == tag && n-- == 0)
			return &m->f[i];
	return NULL;
}

size_t
wire_count(const struct wire_msg *m, unsigned tag)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nfields; i++)
		n += m->f[i].tag == tag;
	return n;
}

const char *
wire_get_str_at(const struct wire_msg *m, unsigned tag, size_t n)
{
	const struct tag_info *t = tag_find(tag);
	const struct wire_field *f;

	if (t == NULL || (t->kind != WIRE_K_STR && t->kind != WIRE_K_HEX &&
	    t->kind != WIRE_K_BYTES))
		return NULL;
	f = field(m, tag, n);
	return f != NULL ? (const char *)m->buf + f->off : NULL;
}

const char *
wire_get_str(const struct wire_msg *m, unsigned tag)
{
	return wire_get_str_at(m, tag, 0);
}

/* The value of integer TAG of KIND and SIZE bytes, or NULL. */
static const unsigned char *
get_int(const struct wire_msg *m, unsigned tag, enum wire_kind kind)
{
	const struct tag_info *t = tag_find(tag);
	const struct wire_field *f;

	if (t == NULL || t->kind != kind || (f = field(m, tag, 0)) == NULL)
		return NULL;
	return m->buf + f->off;
}

int
wire_get_u32(const struct wire_msg *m, unsigned tag, uint32_t *v)
{
	const unsigned char *p = get_int(m, tag, WIRE_K_U32);

	if (p == NULL)
		return WARD_ERR_NOTFOUND;
	*v = get32(p);
	return 0;
}

int
wire_get_bool(const struct wire_msg *m, unsigned tag, int *v)
{
	const unsigned char *p = get_int(m, tag, WIRE_K_BOOL);

	if (p == NULL)
		return WARD_ERR_NOTFOUND;
	*v = get32(p) != 0;
	return 0;
}

int
wire_get_i64(const struct wire_msg *m, unsigned tag, int64_t *v)
{
	const unsigned char *p = get_int(m, tag, WIRE_K_I64);

	if (p == NULL)
		return WARD_ERR_NOTFOUND;
	*v = (int64_t)get64(p);
	return 0;
}

int
wire_error(struct wire_msg *m, int code, const char *text)
{
	wire_msg_init(m, WIRE_ERROR);
	(void)wire_put_i64(m, WT_ERR_CODE, code);
	return wire_put_str(m, WT_ERR_TEXT, text != NULL ? text : ward_strerror(code));
}

void
wire_deadline(struct timespec *dl, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, dl);
	dl->tv_sec += ms / 1000;
	dl->tv_nsec += (ms % 1000) * 1000000L;
	if (dl->tv_nsec >= 1000000000L) {
		dl->tv_sec++;
		dl->tv_nsec -= 1000000000L;
	}
}

int
wire_remaining_ms(const struct timespec *dl)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = ((long long)dl->tv_sec - now.tv_sec) * 1000 +
	    (dl->tv_nsec - now.tv_nsec + 999999L) / 1000000L;
	if (ms <= 0)
		return 0;
	return ms > 1000000000LL ? 1000000000 : (int)ms;
}

void
wire_reader_reset(struct wire_reader *r)
{
	if (r == NULL)
		return;
	if (r->frame != NULL) {
		explicit_bzero(r->frame, r->len);
		free(r->frame);
	}
	explicit_bzero(r, sizeof(*r));
}

int
wire_reader_step(struct wire_reader *r, int fd)
{
	int sock = 1;           /* until recv says FD is no socket */

	for (;;) {	/* EINTR, and the rest of a frame a socket holds, go round */
		unsigned char *dst;
		size_t want;
		ssize_t n;

		if (r->got >= WIRE_HEADER_LEN && r->frame == NULL) {
			/* a step after a failed header (or allocation): that
			 * error again, nothing read and nothing written */
			uint16_t type;
			uint32_t plen;
			int e = wire_header(r->hdr, &type, &plen);

			return e != 0 ? e : WARD_ERR_NOMEM;
		}
		if (r->got < WIRE_HEADER_LEN) {
			dst = r->hdr + r->got;
			want = WIRE_HEADER_LEN - r->got;
		} else {
			if (r->got == r->len)
				return 1;
			dst = r->frame + r->got;
			want = r->len - r->got;
		}
		/* a socket is read without waiting (MSG_DONTWAIT, whatever the
		 * fd's mode), so a step reads on while the frame's bytes are
		 * there; anything else gets one read(2) per step, after the
		 * caller's poll, so no read waits past its deadline */
		n = sock ? recv(fd, dst, want, MSG_DONTWAIT) : -1;
		if (n < 0 && sock && errno == ENOTSOCK) {
			sock = 0;
			n = read(fd, dst, want);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return WARD_ERR_IO;
		}
		if (n == 0)
			return r->got == 0 ? WARD_ERR_CLOSED : WARD_ERR_PROTO;
		r->got += (size_t)n;
		if (r->got == WIRE_HEADER_LEN && r->frame == NULL) {
			uint16_t type;
			uint32_t plen;
			int e = wire_header(r->hdr, &type, &plen);

			if (e != 0)
				return e;
			r->len = WIRE_HEADER_LEN + (size_t)plen;
			if ((r->frame = malloc(r->len)) == NULL)
				return WARD_ERR_NOMEM;
			memcpy(r->frame, r->hdr, WIRE_HEADER_LEN);
		}
		if (r->got >= WIRE_HEADER_LEN && r->got == r->len)
			return 1;
		if (!sock)
			return 0;
	}
}

/* Wait until FD is ready for EVENTS or DEADLINE passes: 0, TIMEOUT or IO. */
static int
wait_fd(int fd, short events, const struct timespec *deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int ms = wire_remaining_ms(deadline);
		int n;

		if (ms == 0)
			return WARD_ERR_TIMEOUT;
		n = poll(&p, 1, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return WARD_ERR_IO;
		if (n > 0)
			return 0;      /* ready, or hung up: the read/write says which */
	}
}

int
wire_send(int fd, const struct wire_msg *m, const struct timespec *deadline)
{
	unsigned char *buf;
	size_t cap = WIRE_HEADER_LEN + payload_len(m), len = 0, off = 0;
	int r;

	/* the frame's own size (wire_encode refuses a frame over the bound) */
	if (cap > WIRE_MAX_FRAME)
		cap = WIRE_MAX_FRAME;
	if ((buf = malloc(cap)) == NULL)
		return WARD_ERR_NOMEM;
	if ((r = wire_encode(m, buf, cap, &len)) != 0)
		goto out;
	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, buf + off, len - off);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((r = wait_fd(fd, POLLOUT, deadline)) != 0)
				goto out;
			continue;
		}
		r = n < 0 && errno == EPIPE ? WARD_ERR_CLOSED : WARD_ERR_IO;
		goto out;
	}
	r = 0;
out:
	explicit_bzero(buf, len);
	free(buf);
	return r;
}

int
wire_recv(int fd, struct wire_msg *m, const struct timespec *deadline)
{
	struct wire_reader rd;
	int r;

	memset(&rd, 0, sizeof(rd));
	wire_msg_init(m, 0);
	for (;;) {
		if ((r = wait_fd(fd, POLLIN, deadline)) != 0)
			break;
		if ((r = wire_reader_step(&rd, fd)) < 0)
			break;
		if (r == 1) {
			r = wire_decode(rd.frame, rd.len, m);
			break;
		}
	}
	wire_reader_reset(&rd);
	return r;
}

int
wire_ping(const char *path, long ms)
{
	struct sockaddr_un sa;
	struct wire_msg m;
	struct timespec dl;
	int fd, r;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return WARD_ERR_INVAL;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return WARD_ERR_IO;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return WARD_ERR_UNAVAIL;
	}
	wire_deadline(&dl, ms);
	wire_msg_init(&m, WIRE_PING);
	r = wire_send(fd, &m, &dl);
	wire_msg_wipe(&m);
	if (r == 0 && (r = wire_recv(fd, &m, &dl)) == 0 && m.type != WIRE_PONG)
		r = WARD_ERR_PROTO;
	wire_msg_wipe(&m);
	close(fd);
	return r;
}
