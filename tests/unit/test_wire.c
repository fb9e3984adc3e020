/*
 * test_wire.c - lib/wire.c: round trips of every message type, every
 * truncation of a valid frame refused, unknown and duplicate tags refused,
 * lengths over their bounds refused (a declared payload over 64 KiB from
 * the header alone), the message table enforced both ways, wiping, and
 * the deadline I/O against a peer that stalls.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "wire.h"

static unsigned char frame[WIRE_MAX_FRAME];

static size_t
encode_decision(unsigned char *buf)
{
	struct wire_msg m;
	size_t len = 0;

	wire_msg_init(&m, WIRE_DECISION);
	(void)wire_put_bool(&m, WT_ALLOW, 1);
	(void)wire_put_str(&m, WT_RULE, "nurses-ehr");
	(void)wire_put_str(&m, WT_REASON, "allowed by rule nurses-ehr \xc3\xa9");
	(void)wire_put_str(&m, WT_APP, "ehr");
	(void)wire_put_bool(&m, WT_MFA_REQUIRED, 1);
	(void)wire_put_i64(&m, WT_MFA_GRACE, 900);
	(void)wire_put_i64(&m, WT_IDLE_LOGOFF, 600);
	(void)wire_put_i64(&m, WT_SESSION_MAX, -1);
	(void)wire_put_bool(&m, WT_BREAK_GLASS, 0);
	(void)wire_put_str(&m, WT_ROLES, "clinician,nurse");
	(void)wire_put_str(&m, WT_POLICY_VERSION, "abc123");
	CU_ASSERT_EQUAL(wire_encode(&m, buf, WIRE_MAX_FRAME, &len), 0);
	wire_msg_wipe(&m);
	return len;
}

static void
test_round_trip(void)
{
	struct wire_msg m;
	size_t len = encode_decision(frame);
	int64_t v = 0;
	int b = -1;

	CU_ASSERT_EQUAL_FATAL(wire_decode(frame, len, &m), 0);
	CU_ASSERT_EQUAL(m.type, WIRE_DECISION);
	CU_ASSERT_EQUAL(wire_get_bool(&m, WT_ALLOW, &b), 0);
	CU_ASSERT_EQUAL(b, 1);
	CU_ASSERT_STRING_EQUAL(wire_get_str(&m, WT_RULE), "nurses-ehr");
	CU_ASSERT_STRING_EQUAL(wire_get_str(&m, WT_REASON), "allowed by rule nurses-ehr \xc3\xa9");
	CU_ASSERT_EQUAL(wire_get_i64(&m, WT_SESSION_MAX, &v), 0);
	CU_ASSERT_EQUAL(v, -1);
	CU_ASSERT_EQUAL(wire_get_i64(&m, WT_MFA_GRACE, &v), 0);
	CU_ASSERT_EQUAL(v, 900);
	CU_ASSERT_STRING_EQUAL(wire_get_str(&m, WT_ROLES), "clinician,nurse");
	/* absent, and asked with the wrong kind */
	CU_ASSERT_PTR_NULL(wire_get_str(&m, WT_USER));
	CU_ASSERT_PTR_NULL(wire_get_str(&m, WT_MFA_GRACE));
	CU_ASSERT_EQUAL(wire_get_i64(&m, WT_RULE, &v), WARD_ERR_NOTFOUND);
	wire_msg_wipe(&m);

	/* PING has no fields; ERROR, PONG, DECIDE with and without host */
	wire_msg_init(&m, WIRE_PING);
	CU_ASSERT_EQUAL(wire_encode(&m, frame, sizeof(frame), &len), 0);
	CU_ASSERT_EQUAL(len, WIRE_HEADER_LEN);
	CU_ASSERT_EQUAL(memcmp(frame, "WARD\0\1\0\2\0\0\0\0", 12), 0);
	CU_ASSERT_EQUAL(wire_decode(frame, len, &m), 0);
	CU_ASSERT_EQUAL(m.type, WIRE_PING);
	wire_msg_wipe(&m);
	CU_ASSERT_EQUAL(wire_error(&m, WARD_ERR_PERM, NULL), 0);
	CU_ASSERT_EQUAL(wire_encode(&m, frame, sizeof(frame), &len), 0);
	wire_msg_wipe(&m);
	CU_ASSERT_EQUAL_FATAL(wire_decode(frame, len, &m), 0);
	CU_ASSERT_EQUAL(wire_get_i64(&m, WT_ERR_CODE, &v), 0);
	CU_ASSERT_EQUAL(v, WARD_ERR_PERM);
	CU_ASSERT_STRING_EQUAL(wire_get_str(&m, WT_ERR_TEXT), "permission denied");
	wire_msg_wipe(&m);
	wire_msg_init(&m, WIRE_DECIDE);
	(void)wire_put_str(&m, WT_USER, "alice");
	(void)wire_put_str(&m, WT_SERVICE, "login");
	CU_ASSERT_EQUAL(wire_encode(&m, frame, sizeof(frame), &len), 0);
	wire_msg_wipe(&m);
	CU_ASSERT_EQUAL(wire_decode(frame, len, &m), 0);
	CU_ASSERT_PTR_NULL(wire_get_str(&m, WT_HOST));
	wire_msg_wipe(&m);
	wire_msg_wipe(&m);       /* safe twice */
}

/* Every proper prefix of a valid frame is refused, and so are extra bytes. */
static void
test_truncations(void)
{
	struct wire_msg m;
	size_t len = encode_decision(frame);

	for (size_t cut = 0; cut < len; cut++) {
		int r = wire_decode(frame, cut, &m);
		if (r == 0)
			fprintf(stderr, "\nprefix of %zu bytes accepted\n", cut);
		CU_ASSERT(r < 0);
		wire_msg_wipe(&m);
	}
	frame[len] = 0;
	CU_ASSERT_EQUAL(wire_decode(frame, len + 1, &m), WARD_ERR_PROTO);
	wire_msg_wipe(&m);
}

/* A DECIDE frame built by hand from FIELDS (tag, len, bytes...). */
static size_t
raw(uint16_t type, const unsigned char *fields, size_t flen)
{
	memcpy(frame, "WARD\0\1", 6);
	frame[6] = (unsigned char)(type >> 8);
	frame[7] = (unsigned char)type;
	frame[8] = (unsigned char)(flen >> 24);
	frame[9] = (unsigned char)(flen >> 16);
	frame[10] = (unsigned char)(flen >> 8);
	frame[11] = (unsigned char)flen;
	memcpy(frame + 12, fields, flen);
	return 12 + flen;
}

static const struct {
	const char *what;
	uint16_t type;
	const char *fields;
	size_t len;
	int err;
} bad[] = {
	{ "valid (control case)", WIRE_DECIDE, "\0\5\0\5alice\0\6\0\3ssh", 16, 0 },
	{ "unknown tag 99", WIRE_DECIDE, "\0\5\0\5alice\0\6\0\3ssh\0\x63\0\0", 20, WARD_ERR_PROTO },
	{ "unknown tag 0", WIRE_DECIDE, "\0\0\0\0\0\5\0\5alice\0\6\0\3ssh", 20, WARD_ERR_PROTO },
	{ "duplicate user", WIRE_DECIDE, "\0\5\0\5alice\0\5\0\3bob\0\6\0\3ssh", 23, WARD_ERR_PROTO },
	{ "required service missing", WIRE_DECIDE, "\0\5\0\5alice", 9, WARD_ERR_PROTO },
	{ "tag the type does not carry", WIRE_DECIDE, "\0\5\0\5alice\0\6\0\3ssh\0\x08\0\4\0\0\0\1",
	  24, WARD_ERR_PROTO },
	{ "field length past the end", WIRE_DECIDE, "\0\5\0\5alice\0\6\0\x09ssh", 16, WARD_ERR_PROTO },
	{ "NUL inside a string", WIRE_DECIDE, "\0\5\0\5al\0ce\0\6\0\3ssh", 16, WARD_ERR_PROTO },
	{ "invalid UTF-8 in a str (host)", WIRE_DECIDE,
	  "\0\5\0\5alice\0\6\0\3ssh\0\7\0\2\xc0\xaf", 20, WARD_ERR_PROTO },
	/* a user name is bytes: what the application gave, in any encoding */
	{ "bytes in a user name (valid)", WIRE_DECIDE, "\0\5\0\5al\xc0\xafs\0\6\0\3ssh", 16, 0 },
	{ "NUL inside bytes", WIRE_DECIDE, "\0\5\0\5al\xff\0s\0\6\0\3ssh", 16, WARD_ERR_PROTO },
	{ "bool of 2", WIRE_DECISION, "\0\x08\0\4\0\0\0\2", 8, WARD_ERR_PROTO },
	{ "i64 of 4 bytes", WIRE_ERROR, "\0\1\0\4\0\0\0\1\0\2\0\1x", 13, WARD_ERR_PROTO },
	{ "unknown type 77", 77, "", 0, WARD_ERR_PROTO },
	{ "a half field header", WIRE_PING, "\0\5", 2, WARD_ERR_PROTO },
};

static void
test_bad_frames(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wire_msg m;
		size_t len = raw(bad[i].type, (const unsigned char *)bad[i].fields, bad[i].len);
		int r = wire_decode(frame, len, &m);

		if (r != bad[i].err)
			fprintf(stderr, "\n%s: %d, want %d\n", bad[i].what, r, bad[i].err);
		CU_ASSERT_EQUAL(r, bad[i].err);
		wire_msg_wipe(&m);
	}
}

static void
test_bounds(void)
{
	unsigned char hdr[WIRE_HEADER_LEN] = { 'W', 'A', 'R', 'D', 0, 1, 0, 2, 0x40, 0, 0, 0 };
	static char big[70000];
	struct wire_msg m;
	uint16_t type;
	uint32_t plen;
	size_t len;

	/* 1 GiB declared: refused from the header */
	CU_ASSERT_EQUAL(wire_header(hdr, &type, &plen), WARD_ERR_TOOBIG);
	/* exactly 64 KiB is the limit; one more is refused */
	hdr[8] = 0; hdr[9] = 1; hdr[10] = 0; hdr[11] = 0;
	CU_ASSERT_EQUAL(wire_header(hdr, &type, &plen), 0);
	CU_ASSERT_EQUAL(plen, WIRE_MAX_PAYLOAD);
	hdr[11] = 1;
	CU_ASSERT_EQUAL(wire_header(hdr, &type, &plen), WARD_ERR_TOOBIG);
	/* bad magic, bad version */
	hdr[0] = 'X';
	CU_ASSERT_EQUAL(wire_header(hdr, &type, &plen), WARD_ERR_PROTO);
	hdr[0] = 'W'; hdr[5] = 2; hdr[11] = 0;
	CU_ASSERT_EQUAL(wire_header(hdr, &type, &plen), WARD_ERR_PROTO);

	/* a str over its tag's bound, both ways */
	memset(big, 'a', 257);
	big[257] = '\0';
	wire_msg_init(&m, WIRE_DECIDE);
	CU_ASSERT_EQUAL(wire_put_str(&m, WT_USER, big), WARD_ERR_TOOBIG);
	CU_ASSERT_EQUAL(wire_put_str(&m, WT_SERVICE, "ssh"), WARD_ERR_TOOBIG);  /* sticky */
	CU_ASSERT_EQUAL(wire_encode(&m, frame, sizeof(frame), &len), WARD_ERR_TOOBIG);
	wire_msg_wipe(&m);
	{
		unsigned char f[4 + 257 + 7];
		f[0] = 0; f[1] = 5; f[2] = 1; f[3] = 1;     /* user, 257 bytes */
		memset(f + 4, 'a', 257);
		memcpy(f + 261, "\0\6\0\3ssh", 7);
		len = raw(WIRE_DECIDE, f, sizeof(f));
		CU_ASSERT_EQUAL(wire_decode(frame, len, &m), WARD_ERR_TOOBIG);
		wire_msg_wipe(&m);
	}
	/* more than WIRE_MAX_FIELDS fields (repeatable tag) */
	wire_msg_init(&m, WIRE_DECISION);
	for (int i = 0; i < WIRE_MAX_FIELDS; i++)
		CU_ASSERT_EQUAL(wire_put_str(&m, WT_MESSAGE, "line"), 0);
	CU_ASSERT_EQUAL(wire_count(&m, WT_MESSAGE), WIRE_MAX_FIELDS);
	CU_ASSERT_STRING_EQUAL(wire_get_str_at(&m, WT_MESSAGE, 3), "line");
	CU_ASSERT_EQUAL(wire_put_str(&m, WT_MESSAGE, "one too many"), WARD_ERR_TOOBIG);
	wire_msg_wipe(&m);
	/* a repeatable tag may repeat; others may not (put side) */
	wire_msg_init(&m, WIRE_DECIDE);
	CU_ASSERT_EQUAL(wire_put_str(&m, WT_USER, "alice"), 0);
	CU_ASSERT_EQUAL(wire_put_str(&m, WT_USER, "bob"), WARD_ERR_EXISTS);
	wire_msg_wipe(&m);
	/* hex token: exactly 32 lowercase hex digits */
	wire_msg_init(&m, WIRE_DECIDE);
	CU_ASSERT_EQUAL(wire_put_str(&m, WT_TXN, "0123456789abcdef0123456789ABCDEF"),
	    WARD_ERR_INVAL);
	wire_msg_wipe(&m);
	wire_msg_init(&m, WIRE_DECIDE);
	CU_ASSERT_EQUAL(wire_put_str(&m, WT_TXN, "0123456789abcdef0123456789abcdef"), 0);
	/* ... but DECIDE does not carry a token: the encoder refuses it */
	(void)wire_put_str(&m, WT_USER, "alice");
	(void)wire_put_str(&m, WT_SERVICE, "ssh");
	CU_ASSERT_EQUAL(wire_encode(&m, frame, sizeof(frame), &len), WARD_ERR_PROTO);
	wire_msg_wipe(&m);
	/* required field missing: the encoder refuses too */
	wire_msg_init(&m, WIRE_DECIDE);
	(void)wire_put_str(&m, WT_USER, "alice");
	CU_ASSERT_EQUAL(wire_encode(&m, frame, sizeof(frame), &len), WARD_ERR_PROTO);
	wire_msg_wipe(&m);
	/* the wrong kind for a tag */
	wire_msg_init(&m, WIRE_DECISION);
	CU_ASSERT_EQUAL(wire_put_i64(&m, WT_RULE, 5), WARD_ERR_INVAL);
	wire_msg_wipe(&m);
	wire_msg_init(&m, WIRE_DECISION);
	CU_ASSERT_EQUAL(wire_put_bool(&m, WT_ALLOW, 2), WARD_ERR_INVAL);
	wire_msg_wipe(&m);
	wire_msg_init(&m, WIRE_DECISION);
	CU_ASSERT_EQUAL(wire_put_str(&m, 63, "x"), WARD_ERR_INVAL);
	wire_msg_wipe(&m);
	CU_ASSERT_STRING_EQUAL(wire_tag_name(WT_ANSWER), "WT_ANSWER");
	CU_ASSERT_STRING_EQUAL(wire_type_name(WIRE_DECIDE), "WIRE_DECIDE");
	CU_ASSERT_STRING_EQUAL(wire_type_name(999), "?");
}

static void
test_wipe(void)
{
	struct wire_msg m;

	wire_msg_init(&m, WIRE_DECISION);
	CU_ASSERT_EQUAL(wire_put_str(&m, WT_ANSWER, "123456"), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m.buf);
	wire_msg_wipe(&m);
	CU_ASSERT_PTR_NULL(m.buf);
	CU_ASSERT_EQUAL(m.nfields, 0);
	CU_ASSERT_EQUAL(m.type, WIRE_DECISION);
}

/* send/recv over a socketpair: a whole frame; a peer that sends nothing
 * or stalls mid-frame times out at the deadline; a huge declared length
 * is refused at once; a close mid-frame is a protocol error. */
static void
test_io(void)
{
	struct wire_msg m, got;
	struct timespec dl, t0;
	int sv[2];
	size_t len;

	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	wire_msg_init(&m, WIRE_DECIDE);
	(void)wire_put_str(&m, WT_USER, "alice");
	(void)wire_put_str(&m, WT_SERVICE, "login");
	wire_deadline(&dl, 1000);
	CU_ASSERT_EQUAL(wire_send(sv[0], &m, &dl), 0);
	CU_ASSERT_EQUAL(wire_recv(sv[1], &got, &dl), 0);
	CU_ASSERT_STRING_EQUAL(wire_get_str(&got, WT_USER), "alice");
	wire_msg_wipe(&got);

	/* nothing sent */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	wire_deadline(&dl, 300);
	CU_ASSERT_EQUAL(wire_recv(sv[1], &got, &dl), WARD_ERR_TIMEOUT);
	CU_ASSERT(tu_ms_since(&t0) >= 290 && tu_ms_since(&t0) < 2000);
	wire_msg_wipe(&got);

	/* half a frame, then nothing */
	CU_ASSERT_EQUAL_FATAL(wire_encode(&m, frame, sizeof(frame), &len), 0);
	CU_ASSERT_EQUAL(write(sv[0], frame, len / 2), (ssize_t)(len / 2));
	wire_deadline(&dl, 300);
	CU_ASSERT_EQUAL(wire_recv(sv[1], &got, &dl), WARD_ERR_TIMEOUT);
	wire_msg_wipe(&got);
	close(sv[0]);
	close(sv[1]);

	/* 1 GiB declared */
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CU_ASSERT_EQUAL(write(sv[0], "WARD\0\1\0\4\x40\0\0\0", 12), 12);
	wire_deadline(&dl, 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(wire_recv(sv[1], &got, &dl), WARD_ERR_TOOBIG);
	CU_ASSERT(tu_ms_since(&t0) < 500);
	wire_msg_wipe(&got);
	/* half a frame, then close */
	CU_ASSERT_EQUAL(write(sv[0], frame, len / 2), (ssize_t)(len / 2));
	close(sv[0]);
	wire_deadline(&dl, 1000);
	{
		struct wire_reader rd;
		int r;

		memset(&rd, 0, sizeof(rd));
		/* fresh reader on the rest of the stream: the half frame, then EOF */
		do
			r = wire_reader_step(&rd, sv[1]);
		while (r == 0);
		CU_ASSERT_EQUAL(r, WARD_ERR_PROTO);
		wire_reader_reset(&rd);
	}
	close(sv[1]);
	wire_msg_wipe(&m);
}

/* Step READER on FD until it says something other than "more"; its answer. */
static int
step_until(struct wire_reader *rd, int fd)
{
	int r;

	do
		r = wire_reader_step(rd, fd);
	while (r == 0 && errno != EAGAIN && errno != EWOULDBLOCK);
	return r;
}

/* The incremental reader fed one byte at a time gives exactly the frame a
 * single read gives, is complete at the last byte and not before, and
 * leaves the next frame in the socket; a step after an error repeats the
 * error without reading. */
static void
test_reader_split(void)
{
	static unsigned char two[2 * WIRE_MAX_FRAME];
	size_t len = encode_decision(frame), total;
	struct wire_reader rd;
	int sv[2];

	memcpy(two, frame, len);
	memcpy(two + len, frame, len);
	total = 2 * len;
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	memset(&rd, 0, sizeof(rd));
	for (size_t i = 0; i < total; i++) {
		int r;

		CU_ASSERT_EQUAL_FATAL(write(sv[0], two + i, 1), 1);
		errno = 0;
		r = step_until(&rd, sv[1]);
		if (i + 1 == len || i + 1 == total) {
			CU_ASSERT_EQUAL_FATAL(r, 1);
			CU_ASSERT_EQUAL(rd.len, len);
			CU_ASSERT_EQUAL(memcmp(rd.frame, frame, len), 0);
			wire_reader_reset(&rd);
		} else {
			if (r != 0)
				fprintf(stderr, "\nbyte %zu: %d\n", i, r);
			CU_ASSERT_EQUAL_FATAL(r, 0);
		}
	}
	/* both frames in one write: the reader stops at the first, each read
	 * whole in one step (a socket's bytes are read on while they are
	 * there) */
	CU_ASSERT_EQUAL(write(sv[0], two, total), (ssize_t)total);
	CU_ASSERT_EQUAL(wire_reader_step(&rd, sv[1]), 1);
	CU_ASSERT_EQUAL(rd.len, len);
	wire_reader_reset(&rd);
	CU_ASSERT_EQUAL(wire_reader_step(&rd, sv[1]), 1);
	CU_ASSERT_EQUAL(memcmp(rd.frame, frame, len), 0);
	wire_reader_reset(&rd);
	/* a bad header, then a caller that steps again: the same error, and
	 * the bytes after the header stay unread */
	CU_ASSERT_EQUAL(write(sv[0], "WARX\0\1\0\2\0\0\0\0PING", 16), 16);
	CU_ASSERT_EQUAL(step_until(&rd, sv[1]), WARD_ERR_PROTO);
	CU_ASSERT_EQUAL(wire_reader_step(&rd, sv[1]), WARD_ERR_PROTO);
	CU_ASSERT_EQUAL(wire_reader_step(&rd, sv[1]), WARD_ERR_PROTO);
	{
		char rest[8];

		CU_ASSERT_EQUAL(read(sv[1], rest, sizeof(rest)), 4);
	}
	wire_reader_reset(&rd);
	/* the same after a length over the bound */
	CU_ASSERT_EQUAL(write(sv[0], "WARD\0\1\0\4\x40\0\0\0", 12), 12);
	CU_ASSERT_EQUAL(step_until(&rd, sv[1]), WARD_ERR_TOOBIG);
	CU_ASSERT_EQUAL(write(sv[0], "xyz", 3), 3);
	CU_ASSERT_EQUAL(wire_reader_step(&rd, sv[1]), WARD_ERR_TOOBIG);
	wire_reader_reset(&rd);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	CU_pSuite s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("wire", NULL, NULL);
	CU_add_test(s, "round trip of every message type", test_round_trip);
	CU_add_test(s, "every truncation and trailing bytes refused", test_truncations);
	CU_add_test(s, "unknown, duplicate, misplaced and malformed fields refused", test_bad_frames);
	CU_add_test(s, "lengths over their bounds refused; the table both ways", test_bounds);
	CU_add_test(s, "wipe clears the values", test_wipe);
	CU_add_test(s, "send/recv with deadlines", test_io);
	CU_add_test(s, "reader: byte by byte equals one read; a step after an error repeats it",
	    test_reader_split);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
