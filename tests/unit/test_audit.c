/*
 * test_audit.c - the audit trail: format and strict parser (round trip,
 * hostile values), the tamper table (each change detected and named),
 * rotation, crash recovery, 16 racing writers, disk full (no torn record),
 * unsafe files; then wardctl audit verify/query/report/export and the
 * admin records of wardctl, run as a security team would.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "secret.h"
#include "state.h"
#include "testutil.h"

static char *top;
static char keyfile[512], key2file[512];
static unsigned char key[32];
#define ZERO_MAC "0000000000000000000000000000000000000000000000000000000000000000"

/* One private log: folder, store, conf. */
struct plog {
	char dir[600], log[700], state[700];
	struct ward_conf conf;
};

static int
setup(void)
{
	char *b;
	size_t n;
	char err[256];

	if ((top = tu_mkdtemp("ward-audit")) == NULL)
		return 1;
	snprintf(keyfile, sizeof(keyfile), "%s/audit.key", top);
	snprintf(key2file, sizeof(key2file), "%s/other.key", top);
	if (secret_key_create(keyfile, err, sizeof(err)) != 0 ||
	    secret_key_create(key2file, err, sizeof(err)) != 0)
		return 1;
	if ((b = tu_read(keyfile, &n)) == NULL || n != 32)
		return 1;
	memcpy(key, b, 32);
	free(b);
	return 0;
}

static int
teardown(void)
{
	tu_rmtree(top);
	free(top);
	return 0;
}

static void
set(char **field, const char *v)
{
	free(*field);
	*field = strdup(v);
}

static int
plog_init(struct plog *p, const char *name)
{
	struct state *st;
	char cmd[4096];

	snprintf(p->dir, sizeof(p->dir), "%s/%s", top, name);
	snprintf(p->log, sizeof(p->log), "%s/log/audit.log", p->dir);
	snprintf(p->state, sizeof(p->state), "%s/state", p->dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s/log' && chmod 0750 '%s/log'",
	    p->dir, p->dir, p->dir);
	if (system(cmd) != 0 || conf_defaults(&p->conf) != 0)
		return -1;
	set(&p->conf.audit.path, p->log);
	set(&p->conf.audit.key_file, keyfile);
	set(&p->conf.state_dir, p->state);
	p->conf.audit.syslog = 0;
	p->conf.audit.fsync = 0;
	if (state_open(&st, p->state, 1) != 0)
		return -1;
	state_close(st);
	return 0;
}

static void
plog_free(struct plog *p)
{
	conf_free(&p->conf);
}

static const char *const roles_nurse[] = { "nurse", "clinician" };

/* Append N records numbered from FROM (user u<i%5>). */
static int
plog_fill(struct plog *p, int from, int n)
{
	struct audit_log *l;
	char err[512], user[32], reason[64];
	int r = 0;

	if (audit_log_open(&l, &p->conf, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "audit_log_open: %s\n", err);
		return -1;
	}
	for (int i = from; i < from + n && r == 0; i++) {
		struct audit_event ev = { .event = i % 3 ? "account" : "auth",
			.result = i % 4 ? "allow" : "deny", .service = "ehr-login",
			.user = user, .rule = "icu-nurses-ehr", .reason = reason,
			.roles = roles_nurse, .nroles = 2, .factor = "totp",
			.policy_version = "abc123", .offline = i % 2, .rhost = NULL,
			.tty = ":0", .detail = NULL };
		snprintf(user, sizeof(user), "u%d", i % 5);
		snprintf(reason, sizeof(reason), "reason %d", i);
		r = audit_write(l, &ev, err, sizeof(err));
		if (r != 0)
			fprintf(stderr, "audit_write: %s\n", err);
	}
	audit_log_close(l);
	return r;
}

static int
verify(struct plog *p, const char *const *files, size_t n, const char *key_path,
    struct audit_verify_result *res)
{
	const char *def[1] = { p->log };

	return audit_verify(key_path ? key_path : keyfile, files ? files : def,
	    files ? n : 1, p->state, res);
}

/* ---- lines of a file ---- */

struct lines {
	char *buf;
	char *v[256];
	size_t n;
};

static int
lines_read(const char *path, struct lines *ls)
{
	size_t len;
	char *s;

	ls->n = 0;
	if ((ls->buf = tu_read(path, &len)) == NULL)
		return -1;
	for (s = ls->buf; *s && ls->n < 256;) {
		char *nl = strchr(s, '\n');
		ls->v[ls->n++] = s;
		if (nl == NULL)
			break;
		*nl = '\0';
		s = nl + 1;
	}
	return 0;
}

static int
lines_write(const char *path, struct lines *ls)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	for (size_t i = 0; i < ls->n; i++)
		if (ls->v[i] != NULL)
			fprintf(f, "%s\n", ls->v[i]);
	return fclose(f);
}

/* ---- format and parse ---- */

static void
test_round_trip(void)
{
	static const char *const roles[] = { "nurse", "icu,nurse", "r\"q" };
	struct audit_event ev = { .event = "breakglass", .result = "granted",
		.service = "ehr-login", .user = "alice", .rule = "default deny",
		.reason = "patient crashing in bed 4", .roles = roles, .nroles = 3,
		.factor = "totp", .policy_version = "0123abcd", .offline = 1,
		.rhost = "10.0.0.7", .tty = "/dev/pts/3", .detail = "max 60 min",
		.host = "icu-ws-03", .ts_ms = 1795000000123LL };
	struct audit_record r;
	char line[4096], err[256];
	size_t n;

	n = audit_format(&ev, 7, "0000000000000000000000000000000000000000000000000000000000000000",
	    key, sizeof(key), line, sizeof(line));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(line[n - 1], '\n');
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "{\"seq\":7,\"ts\":\"2026-11-18T"));
	CU_ASSERT_EQUAL_FATAL(audit_parse_line(line, n - 1, &r, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.seq, 7);
	CU_ASSERT_EQUAL(r.ts_ms, 1795000000123LL);
	CU_ASSERT_STRING_EQUAL(r.host, "icu-ws-03");
	CU_ASSERT_STRING_EQUAL(r.service, "ehr-login");
	CU_ASSERT_STRING_EQUAL(r.user, "alice");
	CU_ASSERT_STRING_EQUAL(r.event, "breakglass");
	CU_ASSERT_STRING_EQUAL(r.result, "granted");
	CU_ASSERT_STRING_EQUAL(r.rule, "default deny");
	CU_ASSERT_STRING_EQUAL(r.reason, "patient crashing in bed 4");
	CU_ASSERT_EQUAL_FATAL(r.nroles, 3);
	CU_ASSERT_STRING_EQUAL(r.roles[1], "icu,nurse");
	CU_ASSERT_STRING_EQUAL(r.roles[2], "r\"q");
	CU_ASSERT_STRING_EQUAL(r.factor, "totp");
	CU_ASSERT_STRING_EQUAL(r.policy_version, "0123abcd");
	CU_ASSERT_EQUAL(r.offline, 1);
	CU_ASSERT_STRING_EQUAL(r.rhost, "10.0.0.7");
	CU_ASSERT_STRING_EQUAL(r.tty, "/dev/pts/3");
	CU_ASSERT_EQUAL(r.pid, (long long)getpid());
	CU_ASSERT_STRING_EQUAL(r.detail, "max 60 min");
	CU_ASSERT_EQUAL(r.mac_offset, n - 1 - 74);
	audit_record_free(&r);

	/* nulls, no roles, offline not applicable */
	memset(&ev, 0, sizeof(ev));
	ev.event = "admin";
	ev.result = "success";
	ev.offline = -1;
	n = audit_format(&ev, 1, "0000000000000000000000000000000000000000000000000000000000000000",
	    key, sizeof(key), line, sizeof(line));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL_FATAL(audit_parse_line(line, n - 1, &r, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NULL(r.user);
	CU_ASSERT_PTR_NULL(r.service);
	CU_ASSERT_PTR_NULL(r.detail);
	CU_ASSERT_EQUAL(r.nroles, 0);
	CU_ASSERT_EQUAL(r.offline, -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"roles\":[],\"factor\":null"));
	audit_record_free(&r);

	/* no event: refused */
	ev.event = NULL;
	CU_ASSERT_EQUAL(audit_format(&ev, 1, "0000000000000000000000000000000000000000000000000000000000000000",
	    key, sizeof(key), line, sizeof(line)), 0);
}

/* EV formatted as record 3 after a zero mac into LINE, then parsed back
 * into R (the caller frees it); the line's length. */
static size_t
format_and_parse(const struct audit_event *ev, char *line, size_t len, struct audit_record *r)
{
	char err[256];
	size_t n = audit_format(ev, 3, ZERO_MAC, key, sizeof(key), line, len);

	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL_FATAL(audit_parse_line(line, n - 1, r, err, sizeof(err)), 0);
	return n;
}

static void
test_hostile_values(void)
{
	static const char user[] = "ev\"il\\\nname\x01\x1b[31m\x7f\xff\xc3\xa9\xe2\x82";
	static const char reason[] = "line1\r\nline2\t\"quoted\"\x08\x0c end";
	static const char *const roles[] = { "x\ny", "\xc3\x28" };
	struct audit_event ev = { .event = "auth", .result = "failure", .user = user,
		.reason = reason, .roles = roles, .nroles = 2, .offline = 0,
		.rhost = "\xf0\x9f\x98\x80 host", .host = "ws" };
	struct audit_record r;
	char line[4096], err[256], big[5000];
	size_t n;

	n = audit_format(&ev, 3, "0000000000000000000000000000000000000000000000000000000000000000",
	    key, sizeof(key), line, sizeof(line));
	CU_ASSERT_FATAL(n > 0);
	/* one line, no raw control byte, the escapes we expect */
	for (size_t i = 0; i + 1 < n; i++)
		CU_ASSERT((unsigned char)line[i] >= 0x20 && line[i] != 0x7f);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"user\":\"ev\\\"il\\\\\\nname\\u0001\\u001b[31m"
	    "\\u007f\\udcff\xc3\xa9\\udce2\\udc82\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "line1\\r\\nline2\\t\\\"quoted\\\"\\b\\f end"));
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "[\"x\\ny\",\"\\udcc3(\"]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"rhost\":\"\xf0\x9f\x98\x80 host\""));
	CU_ASSERT_EQUAL_FATAL(audit_parse_line(line, n - 1, &r, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(r.user, user);       /* every byte back */
	CU_ASSERT_STRING_EQUAL(r.reason, reason);
	CU_ASSERT_STRING_EQUAL(r.roles[0], "x\ny");
	CU_ASSERT_STRING_EQUAL(r.roles[1], "\xc3\x28");
	audit_record_free(&r);
	{
		/* the same without allocating: the strings the fleet report reads,
		 * decoded into a buffer of exactly the line's length + 1 (heap: ASan
		 * sees a byte past it), the others left NULL */
		char *buf = malloc(n), *rv[AUDIT_ROLES_MAX + 1];
		struct audit_record v;

		CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
		CU_ASSERT_EQUAL_FATAL(audit_parse_view(line, n - 1, &v, buf, rv, err,
		    sizeof(err)), 0);
		CU_ASSERT_STRING_EQUAL(v.user, user);
		CU_ASSERT_STRING_EQUAL(v.reason, reason);
		CU_ASSERT_STRING_EQUAL(v.event, "auth");
		CU_ASSERT_STRING_EQUAL(v.result, "failure");
		CU_ASSERT_EQUAL(v.nroles, 2);
		CU_ASSERT_STRING_EQUAL(v.roles[0], "x\ny");
		CU_ASSERT_STRING_EQUAL(v.roles[1], "\xc3\x28");
		CU_ASSERT_PTR_NULL(v.service);
		CU_ASSERT_PTR_NULL(v.rhost);
		CU_ASSERT_PTR_NULL(v.host);
		CU_ASSERT_PTR_NULL(v.ts);
		CU_ASSERT_EQUAL(v.seq, 3);
		CU_ASSERT(v.ts_ms > 0);
		free(buf);
	}

	/* an over-long field is cut at a character boundary and marked */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[1023] = '\xc3';
	big[1024] = '\xa9';
	ev.reason = big;
	(void)format_and_parse(&ev, line, sizeof(line), &r);
	CU_ASSERT_EQUAL(strlen(r.reason), 1023 + 5);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.reason, "a[...]"));
	audit_record_free(&r);

	/* a C1 control (U+009B is a CSI to many terminals) is escaped too, and
	 * reads back as itself */
	ev.reason = "a\xc2\x9b" "31mb\xc2\xa0" "c";
	(void)format_and_parse(&ev, line, sizeof(line), &r);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"reason\":\"a\\u009b31mb\xc2\xa0" "c\""));
	CU_ASSERT_STRING_EQUAL(r.reason, ev.reason);
	audit_record_free(&r);

	/* stray continuation bytes at the limit: the cut keeps what fits (it
	 * used to back up over all of them, and the character before) */
	memset(big, 'b', 1020);
	memset(big + 1020, 0x80, 300);
	big[1320] = '\0';
	ev.reason = big;
	(void)format_and_parse(&ev, line, sizeof(line), &r);
	CU_ASSERT_EQUAL(strlen(r.reason), 1024 + 5);
	CU_ASSERT_EQUAL(strncmp(r.reason + 1019, "b\x80\x80\x80\x80[...]", 10), 0);
	audit_record_free(&r);
}

/* The parser is strict: each bad line is refused with a clear reason. */
static void
test_parser_strict(void)
{
	struct audit_event ev = { .event = "auth", .result = "success", .user = "bob",
		.offline = -1, .host = "ws", .ts_ms = 1795000000000LL };
	static const struct {
		const char *from, *to, *expect;
	} cases[] = {
		{ "{\"seq\":5,", "{\"seq\": 5,", "seq: expected a number" },
		{ "{\"seq\":5,", "{\"seq\":05,", "seq: leading zero" },
		{ "{\"seq\":5,", "{\"seq\":\"5\",", "seq: expected a number" },
		{ "{\"seq\":5,", "{\"sequence\":5,", "not a Ward audit record" },
		{ ",\"host\":", ",\"hostname\":", "expected field \"host\"" },
		{ ",\"user\":\"bob\",\"event\"", ",\"event\"", "expected field \"user\"" },
		{ "\"user\":\"bob\"", "\"user\":\"b\tb\"", "raw control character" },
		{ "\"user\":\"bob\"", "\"user\":\"b\xff" "b\"", "not UTF-8" },
		{ "\"user\":\"bob\"", "\"user\":\"b\\u0000b\"", "\\u0000 is not allowed" },
		{ "\"user\":\"bob\"", "\"user\":\"b\\ud800b\"", "unpaired high surrogate" },
		{ "\"user\":\"bob\"", "\"user\":\"b\\qb\"", "unknown escape" },
		{ "\"user\":\"bob\"", "\"user\":5", "user: expected a string" },
		{ "\"event\":\"auth\"", "\"event\":null", "event: expected a string" },
		{ "\"roles\":[]", "\"roles\":null", "expected field \"roles\"" },
		{ "\"offline\":null", "\"offline\":1", "offline: expected true, false or null" },
		{ "\"ts\":\"2026", "\"ts\":\"2025", NULL },      /* still valid: parses */
		{ "\"ts\":\"2026-11-", "\"ts\":\"2026-13-", "ts: not a UTC time" },
		{ "\"pid\":", "\"pid\":-", "pid: expected a number" },
		{ "\"prev\":\"0", "\"prev\":\"G", "prev: expected 64 lowercase hex" },
		{ "\"}", "\"} ", "bytes after the end" },
		{ "\"}", "\"", "expected } after mac" },
	};
	char line[4096], bad[4200], err[256];
	struct audit_record r;
	size_t n;

	n = audit_format(&ev, 5, "0000000000000000000000000000000000000000000000000000000000000000",
	    key, sizeof(key), line, sizeof(line));
	CU_ASSERT_FATAL(n > 0);
	line[--n] = '\0';
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *at = strstr(line, cases[i].from);
		int rr;

		CU_ASSERT_PTR_NOT_NULL_FATAL(at);
		snprintf(bad, sizeof(bad), "%.*s%s%s", (int)(at - line), line, cases[i].to,
		    at + strlen(cases[i].from));
		err[0] = '\0';
		rr = audit_parse_line(bad, strlen(bad), &r, err, sizeof(err));
		if (cases[i].expect == NULL) {
			CU_ASSERT_EQUAL(rr, 0);
			audit_record_free(&r);
			continue;
		}
		CU_ASSERT_EQUAL(rr, WARD_ERR_PARSE);
		if (strstr(err, cases[i].expect) == NULL)
			fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, err, cases[i].expect);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].expect));
		CU_ASSERT(strncmp(err, "byte ", 5) == 0);
		audit_record_free(&r);   /* safe after an error */
		{
			/* the allocation-free parser refuses it the same way */
			char vbuf[4200], verr[256], *rv[AUDIT_ROLES_MAX + 1];

			CU_ASSERT_EQUAL(audit_parse_view(bad, strlen(bad), &r, vbuf, rv, verr,
			    sizeof(verr)), WARD_ERR_PARSE);
			CU_ASSERT_STRING_EQUAL(verr, err);
			CU_ASSERT_PTR_NULL(r.user);
		}
	}
	CU_ASSERT_EQUAL(audit_parse_line("", 0, &r, err, sizeof(err)), WARD_ERR_PARSE);
}

/* ---- the tamper table ---- */

/* Change one character of FIELD's value on line I: any edit must show. */
static void
edit_field(struct lines *ls, size_t i, const char *field)
{
	char pat[64], *v;

	snprintf(pat, sizeof(pat), "\"%s\":", field);
	v = strstr(ls->v[i], pat);
	if (v == NULL)
		return;
	v += strlen(pat);
	if (*v == '"' || *v == '[')
		v += *v == '[' ? 2 : 1;
	else if (*v >= '0' && *v <= '9')
		while (v[1] >= '0' && v[1] <= '9')
			v++;
	if (strncmp(v, "true", 4) == 0 || strncmp(v, "null", 4) == 0) {
		memcpy(v, *v == 't' ? "null" : "true", 4);
		return;
	}
	if (strncmp(v, "false", 5) == 0) {
		memcpy(v, "true", 4);
		memmove(v + 4, v + 5, strlen(v + 5) + 1);
		return;
	}
	*v = *v >= '0' && *v <= '8' ? *v + 1 : *v == '9' ? '0' : *v == 'z' ? 'y' :
	    *v == 'f' ? 'e' : *v + 1;
}

enum mut { M_EDIT, M_DELETE, M_SWAP, M_DUP, M_TRUNC, M_CUT_TAIL, M_WRONG_KEY, M_INSERT };

static void
test_tamper_table(void)
{
	static const char *const fields[] = { "seq", "ts", "host", "service", "user", "event",
		"result", "rule", "reason", "roles", "factor", "policy_version", "offline",
		"tty", "pid", "prev", "mac" };
	static const struct {
		enum mut m;
		enum audit_problem want;
		unsigned line;      /* 0: not about one line */
		unsigned long long seq;
		const char *text;
	} cases[] = {
		{ M_DELETE, AUDIT_BAD_GAP, 5, 6, "sequence gap: expected seq 5, found 6 (1 record deleted)" },
		{ M_SWAP, AUDIT_BAD_REORDER, 4, 5, "out of order: expected seq 4 here" },
		{ M_DUP, AUDIT_BAD_DUPLICATE, 6, 5, "duplicate of the record at" },
		{ M_TRUNC, AUDIT_BAD_TRUNCATED, 10, 0, "truncated line" },
		{ M_CUT_TAIL, AUDIT_BAD_CUT_TAIL, 0, 0, "cut tail: the state store's head is seq 10 but the log ends at seq 7" },
		{ M_WRONG_KEY, AUDIT_BAD_MAC, 1, 1, "or the key is not the one" },
		{ M_INSERT, AUDIT_BAD_CHAIN, 5, 5, "prev does not match the mac of seq 4" },
	};
	struct audit_verify_result res;
	struct plog p;
	struct lines ls;
	char base[8192], *orig;
	size_t olen;

	CU_ASSERT_EQUAL_FATAL(plog_init(&p, "tamper"), 0);
	CU_ASSERT_EQUAL_FATAL(plog_fill(&p, 1, 10), 0);
	CU_ASSERT_EQUAL_FATAL(verify(&p, NULL, 0, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.records, 10);
	CU_ASSERT_EQUAL(res.first_seq, 1);
	CU_ASSERT_EQUAL(res.last_seq, 10);
	CU_ASSERT_EQUAL(res.head_checked, 1);
	CU_ASSERT_EQUAL(res.head_seq, 10);
	orig = tu_read(p.log, &olen);
	CU_ASSERT_PTR_NOT_NULL_FATAL(orig);

	/* edit any field of record 5: a MAC mismatch on line 5 */
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		CU_ASSERT_EQUAL_FATAL(tu_write(p.log, orig, olen, 0600), 0);
		CU_ASSERT_EQUAL_FATAL(lines_read(p.log, &ls), 0);
		edit_field(&ls, 4, fields[f]);
		CU_ASSERT_EQUAL(lines_write(p.log, &ls), 0);
		free(ls.buf);
		CU_ASSERT_EQUAL(verify(&p, NULL, 0, NULL, &res), WARD_ERR_CORRUPT);
		if (res.problem != AUDIT_BAD_MAC || res.line != 5)
			fprintf(stderr, "edit %s: %s\n", fields[f], res.message);
		CU_ASSERT_EQUAL(res.problem, AUDIT_BAD_MAC);
		CU_ASSERT_EQUAL(res.line, 5);
		CU_ASSERT_EQUAL(res.records, 4);
		CU_ASSERT_PTR_NOT_NULL(strstr(res.message, "audit.log:5: "));
		CU_ASSERT_PTR_NOT_NULL(strstr(res.message, "MAC mismatch"));
	}

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const char *kf = NULL;

		CU_ASSERT_EQUAL_FATAL(tu_write(p.log, orig, olen, 0600), 0);
		CU_ASSERT_EQUAL_FATAL(lines_read(p.log, &ls), 0);
		switch (cases[c].m) {
		case M_DELETE:
			ls.v[4] = NULL;
			break;
		case M_SWAP: {
			char *t = ls.v[3];
			ls.v[3] = ls.v[4];
			ls.v[4] = t;
			break;
		}
		case M_DUP:
			memmove(&ls.v[6], &ls.v[5], (ls.n - 5) * sizeof(char *));
			ls.v[5] = ls.v[4];
			ls.n++;
			break;
		case M_CUT_TAIL:
			ls.n = 7;
			break;
		case M_WRONG_KEY:
			kf = key2file;
			break;
		case M_INSERT: {
			/* a record with a good MAC (made with the key) but not chained */
			struct audit_event ev = { .event = "auth", .result = "success",
				.user = "mallory", .offline = -1 };
			size_t n = audit_format(&ev, 5, "1111111111111111111111111111111111111111111111111111111111111111",
			    key, sizeof(key), base, sizeof(base));
			base[n - 1] = '\0';
			ls.v[4] = base;
			break;
		}
		default:
			break;
		}
		CU_ASSERT_EQUAL(lines_write(p.log, &ls), 0);
		if (cases[c].m == M_TRUNC) {
			/* cut mid-way through the last line */
			CU_ASSERT_EQUAL(truncate(p.log, (off_t)olen - 40), 0);
		}
		free(ls.buf);
		CU_ASSERT_EQUAL(verify(&p, NULL, 0, kf, &res), WARD_ERR_CORRUPT);
		if (res.problem != cases[c].want || strstr(res.message, cases[c].text) == NULL)
			fprintf(stderr, "case %zu: %s (%s)\n", c, res.message,
			    audit_problem_name(res.problem));
		CU_ASSERT_EQUAL(res.problem, cases[c].want);
		CU_ASSERT_EQUAL(res.line, cases[c].line);
		CU_ASSERT_EQUAL(res.seq, cases[c].seq);
		CU_ASSERT_PTR_NOT_NULL(strstr(res.message, cases[c].text));
		CU_ASSERT_PTR_NOT_NULL(strstr(res.message, "audit.log"));
	}
	/* restored: good again */
	CU_ASSERT_EQUAL_FATAL(tu_write(p.log, orig, olen, 0600), 0);
	CU_ASSERT_EQUAL(verify(&p, NULL, 0, NULL, &res), 0);
	/* without the store's head a cut tail cannot show, but the rest holds */
	{
		const char *f[1] = { p.log };
		CU_ASSERT_EQUAL(audit_verify(keyfile, f, 1, NULL, &res), 0);
		CU_ASSERT_EQUAL(res.head_checked, 0);
	}
	/* a store reset: the next record starts a new chain, and verify says so */
	tu_rmtree(p.state);
	{
		struct state *st;
		CU_ASSERT_EQUAL_FATAL(state_open(&st, p.state, 1), 0);
		state_close(st);
	}
	CU_ASSERT_EQUAL(plog_fill(&p, 11, 1), 0);
	CU_ASSERT_EQUAL(verify(&p, NULL, 0, NULL, &res), WARD_ERR_CORRUPT);
	CU_ASSERT_EQUAL(res.problem, AUDIT_BAD_RESTART);
	CU_ASSERT_EQUAL(res.line, 11);
	free(orig);
	plog_free(&p);
}

/* Rotation: the new file continues the chain; swapped files are named. */
static void
test_rotation(void)
{
	struct audit_verify_result res;
	struct plog p;
	char rot[800], rot2[800], tmp[800], err[512];
	struct audit_fileset set;
	const char *const *files;
	size_t n;

	CU_ASSERT_EQUAL_FATAL(plog_init(&p, "rotate"), 0);
	snprintf(rot, sizeof(rot), "%s.1", p.log);
	snprintf(rot2, sizeof(rot2), "%s.2", p.log);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p.log);
	CU_ASSERT_EQUAL_FATAL(plog_fill(&p, 1, 5), 0);
	CU_ASSERT_EQUAL(rename(p.log, rot), 0);          /* logrotate create */
	CU_ASSERT_EQUAL_FATAL(plog_fill(&p, 6, 5), 0);
	CU_ASSERT_EQUAL_FATAL(audit_files(p.log, &set, err, sizeof(err)), 0);
	files = (const char *const *)set.v;
	n = set.n;
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_STRING_EQUAL(files[0], rot);
	CU_ASSERT_STRING_EQUAL(files[1], p.log);
	CU_ASSERT_EQUAL(verify(&p, files, n, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.records, 10);
	/* the new file alone: the chain starts at seq 6, said in the note */
	CU_ASSERT_EQUAL(verify(&p, NULL, 0, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.first_seq, 6);
	CU_ASSERT_PTR_NOT_NULL(strstr(res.note, "starts at seq 6"));
	/* swap the rotated files: wrong file order */
	CU_ASSERT_EQUAL(rename(rot, tmp), 0);
	CU_ASSERT_EQUAL(rename(p.log, rot), 0);
	CU_ASSERT_EQUAL(rename(tmp, p.log), 0);
	CU_ASSERT_EQUAL(verify(&p, files, n, NULL, &res),
	    WARD_ERR_CORRUPT);
	CU_ASSERT_EQUAL(res.problem, AUDIT_BAD_FILE_ORDER);
	CU_ASSERT_EQUAL(res.line, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(res.message, "audit.log:1: seq 1: wrong file order"));
	/* back, then a middle file missing: a gap between files */
	CU_ASSERT_EQUAL(rename(rot, tmp), 0);
	CU_ASSERT_EQUAL(rename(p.log, rot), 0);
	CU_ASSERT_EQUAL(rename(tmp, p.log), 0);
	CU_ASSERT_EQUAL(rename(rot, rot2), 0);
	CU_ASSERT_EQUAL_FATAL(plog_fill(&p, 11, 3), 0);
	CU_ASSERT_EQUAL(rename(p.log, rot), 0);
	CU_ASSERT_EQUAL_FATAL(plog_fill(&p, 14, 2), 0);
	audit_fileset_free(&set);
	CU_ASSERT_EQUAL_FATAL(audit_files(p.log, &set, err, sizeof(err)), 0);
	files = (const char *const *)set.v;
	n = set.n;
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_EQUAL(verify(&p, files, n, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.records, 15);
	{
		const char *two[2] = { files[0], files[2] };
		CU_ASSERT_EQUAL(verify(&p, two, 2, NULL, &res), WARD_ERR_CORRUPT);
		CU_ASSERT_EQUAL(res.problem, AUDIT_BAD_GAP);
		CU_ASSERT_PTR_NOT_NULL(strstr(res.message, "sequence gap between files"));
	}
	audit_fileset_free(&set);
	plog_free(&p);
}

/* ---- rotated files found in the folder ---- */

/* A chain across NROT rotated files and the log, made as logrotate makes it
 * (the log renamed, the next record starts a new one): PATH.NROT (oldest)
 * ... PATH.1, PATH, three records each; PATH.EMPTY (when not 0) is rotated
 * with no record in it. */
static int
plog_rotated(struct plog *p, const char *name, unsigned nrot, unsigned empty)
{
	char rot[800];
	int from = 1;

	if (plog_init(p, name) != 0)
		return -1;
	for (unsigned k = nrot; k >= 1; k--) {
		snprintf(rot, sizeof(rot), "%s.%u", p->log, k);
		if (k == empty) {
			if (tu_write(rot, "", 0, 0600) != 0)
				return -1;
			continue;
		}
		if (plog_fill(p, from, 3) != 0 || rename(p->log, rot) != 0)
			return -1;
		from += 3;
	}
	return plog_fill(p, from, 3);
}

/* The configured log's set verified, as wardctl audit verify does. */
static int
verify_set(struct plog *p, struct audit_verify_result *res, size_t *nfiles)
{
	struct audit_fileset set;
	char err[512];
	int r;

	if ((r = audit_files(p->log, &set, err, sizeof(err))) == 0)
		r = audit_verify_set(keyfile, &set, p->state, res);
	else
		fprintf(stderr, "audit_files: %s\n", err);
	*nfiles = set.n;
	audit_fileset_free(&set);
	return r;
}

/*
 * Every rotated file in the folder is read, in numeric order, whatever is
 * absent: a rotated file missing from the numbering is a problem (named
 * with the seq range it leaves), not a later start of the chain.
 */
static const struct {
	const char *name;
	unsigned nrot;              /* rotated files, 3 records each */
	unsigned empty;             /* the rotated file with no record (0: none) */
	const char *rm[2];          /* suffixes of the files removed */
	const char *gz;             /* suffix of the file then compressed */
	int r;
	uint64_t records;           /* when intact */
	size_t nfiles;
	const char *msg;            /* in the message (the problem), or the note */
} rot_cases[] = {
	{ "all present", 3, 0, { NULL }, NULL, 0, 12, 4, NULL },
	{ ".1 removed", 3, 0, { ".1" }, NULL, WARD_ERR_CORRUPT, 0, 3,
	  "audit.log:1: seq 10: audit.log.1 is missing between audit.log.2 and this "
	  "file: seq 7..9 absent" },
	{ ".2 removed (.1 and .3 left)", 3, 0, { ".2" }, NULL, WARD_ERR_CORRUPT, 0, 3,
	  "audit.log.1:1: seq 7: audit.log.2 is missing between audit.log.3 and this "
	  "file: seq 4..6 absent" },
	{ ".1 and .2 removed", 3, 0, { ".1", ".2" }, NULL, WARD_ERR_CORRUPT, 0, 2,
	  "audit.log:1: seq 10: audit.log.1 to audit.log.2 are missing between "
	  "audit.log.3 and this file: seq 4..9 absent" },
	{ "an empty .2 removed", 3, 2, { ".2" }, NULL, WARD_ERR_CORRUPT, 0, 3,
	  "audit.log.1:1: seq 4: audit.log.2 is missing between audit.log.3 and this "
	  "file (seq 3, then 4: no record absent, it held none)" },
	{ "the log and .1 removed", 3, 0, { "", ".1" }, NULL, WARD_ERR_CORRUPT, 0, 2,
	  "audit.log.2: audit.log.1 is missing after this file, and audit.log itself "
	  "is absent" },
	{ ".10 and .11: numeric order", 11, 0, { NULL }, NULL, 0, 36, 12, NULL },
	{ ".10 removed", 11, 0, { ".10" }, NULL, WARD_ERR_CORRUPT, 0, 11,
	  "audit.log.9:1: seq 7: audit.log.10 is missing between audit.log.11 and this "
	  "file: seq 4..6 absent" },
	{ ".3 compressed: not read", 3, 0, { NULL }, ".3", 0, 9, 3,
	  "the chain starts at seq 4" },
	{ ".2 removed, .3 compressed", 3, 0, { ".2" }, ".3", WARD_ERR_CORRUPT, 0, 2,
	  "audit.log.1: audit.log.2 is missing among the older rotated files, which "
	  "are not read" },
};

static void
test_rotation_gaps(void)
{
	for (size_t i = 0; i < sizeof(rot_cases) / sizeof(rot_cases[0]); i++) {
		struct audit_verify_result res;
		struct plog p;
		char name[32], f[800], g[810];
		size_t n = 0;
		int r;

		snprintf(name, sizeof(name), "rotgap%zu", i);
		CU_ASSERT_EQUAL_FATAL(plog_rotated(&p, name, rot_cases[i].nrot,
		    rot_cases[i].empty), 0);
		for (size_t k = 0; k < 2 && rot_cases[i].rm[k] != NULL; k++) {
			snprintf(f, sizeof(f), "%s%s", p.log, rot_cases[i].rm[k]);
			CU_ASSERT_EQUAL(unlink(f), 0);
		}
		if (rot_cases[i].gz != NULL) {
			snprintf(f, sizeof(f), "%s%s", p.log, rot_cases[i].gz);
			snprintf(g, sizeof(g), "%s.gz", f);
			CU_ASSERT_EQUAL(rename(f, g), 0);
		}
		r = verify_set(&p, &res, &n);
		if (r != rot_cases[i].r || n != rot_cases[i].nfiles ||
		    (rot_cases[i].msg != NULL && strstr(r ? res.message : res.note,
		    rot_cases[i].msg) == NULL))
			fprintf(stderr, "\n%s: got %d, %zu files: %s | note: %s\n", rot_cases[i].name,
			    r, n, res.message, res.note);
		CU_ASSERT_EQUAL(r, rot_cases[i].r);
		CU_ASSERT_EQUAL(n, rot_cases[i].nfiles);
		if (r == 0) {
			CU_ASSERT_EQUAL(res.records, rot_cases[i].records);
		} else {
			CU_ASSERT_EQUAL(res.problem, AUDIT_BAD_MISSING_FILE);
			CU_ASSERT_STRING_EQUAL(audit_problem_name(res.problem), "missing-file");
		}
		if (rot_cases[i].msg != NULL)
			CU_ASSERT_PTR_NOT_NULL(strstr(r ? res.message : res.note,
			    rot_cases[i].msg));
		plog_free(&p);
	}
}

/* The folder's listing: numeric order past 9, names that are not
 * rotations ignored, a folder that does not exist is no log yet. */
static void
test_rotation_listing(void)
{
	static const char *const junk[] = { ".0", ".01", ".1x", ".1.gz.tmp", ".-1", ".+1",
		".1000000", "x.5", ".bak" };
	struct audit_fileset set;
	struct plog p;
	char f[800], err[512];

	CU_ASSERT_EQUAL_FATAL(plog_rotated(&p, "rotlist", 11, 0), 0);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		snprintf(f, sizeof(f), "%s%s", p.log, junk[i]);
		CU_ASSERT_EQUAL(tu_write(f, "junk\n", 5, 0600), 0);
	}
	CU_ASSERT_EQUAL_FATAL(audit_files(p.log, &set, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(set.n, 12);
	for (unsigned k = 11; k >= 1; k--) {
		snprintf(f, sizeof(f), "%s.%u", p.log, k);
		CU_ASSERT_STRING_EQUAL(set.v[11 - k], f);
		CU_ASSERT_EQUAL(set.num[11 - k], k);
	}
	CU_ASSERT_STRING_EQUAL(set.v[11], p.log);
	CU_ASSERT_EQUAL(set.num[11], 0);
	CU_ASSERT_EQUAL(set.top, 11);
	CU_ASSERT_EQUAL(set.ngaps, 0);
	CU_ASSERT_EQUAL(set.skipped, 0);
	audit_fileset_free(&set);
	/* .4 and .7 to .9 absent: two gaps, oldest first */
	for (unsigned k = 4; k <= 9; k++) {
		snprintf(f, sizeof(f), "%s.%u", p.log, k);
		if (k == 4 || k >= 7)
			CU_ASSERT_EQUAL(unlink(f), 0);
	}
	CU_ASSERT_EQUAL_FATAL(audit_files(p.log, &set, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(set.n, 8);
	CU_ASSERT_EQUAL_FATAL(set.ngaps, 2);
	CU_ASSERT(set.gap[0].lo == 7 && set.gap[0].hi == 9);
	CU_ASSERT(set.gap[1].lo == 4 && set.gap[1].hi == 4);
	audit_fileset_free(&set);
	plog_free(&p);
	CU_ASSERT_EQUAL(audit_files("/nonexistent-ward/audit.log", &set, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(set.n, 0);
	audit_fileset_free(&set);
}

static char logged[4096];

static void
capture(void *ctx, int prio, const char *msg)
{
	size_t n = strlen(logged);

	(void)ctx;
	(void)prio;
	snprintf(logged + n, sizeof(logged) - n, "%s\n", msg);
}

/* A record written but not committed (crash) is adopted; a copytruncate
 * or a shrunk file goes on; a torn tail is left for verify to name. */
static void
test_recovery(void)
{
	struct audit_verify_result res;
	struct state_audit_head h;
	struct state *st;
	struct plog p;
	struct audit_event ev = { .event = "auth", .result = "success", .user = "crash",
		.offline = -1 };
	char line[4096];
	size_t n;
	int fd;

	CU_ASSERT_EQUAL_FATAL(plog_init(&p, "recover"), 0);
	logged[0] = '\0';
	ward_log_set_sink(capture, NULL);
	CU_ASSERT_EQUAL_FATAL(plog_fill(&p, 1, 3), 0);
	CU_ASSERT_EQUAL_FATAL(state_open(&st, p.state, 0), 0);
	CU_ASSERT_EQUAL_FATAL(state_audit_head_get(st, &h), 0);
	state_close(st);
	CU_ASSERT_EQUAL(h.seq, 3);
	n = audit_format(&ev, 4, h.mac, key, sizeof(key), line, sizeof(line));
	fd = open(p.log, O_WRONLY | O_APPEND);
	CU_ASSERT_EQUAL(write(fd, line, n), (ssize_t)n);
	close(fd);
	CU_ASSERT_EQUAL(plog_fill(&p, 5, 1), 0);       /* adopts seq 4, writes 5 */
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "1 record(s) up to seq 4 were written but not "
	    "committed"));
	CU_ASSERT_EQUAL(verify(&p, NULL, 0, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.records, 5);
	CU_ASSERT_EQUAL(res.head_seq, 5);

	/* copytruncate: the same file, emptied; the chain goes on */
	CU_ASSERT_EQUAL(truncate(p.log, 0), 0);
	CU_ASSERT_EQUAL(plog_fill(&p, 6, 2), 0);
	CU_ASSERT_EQUAL(verify(&p, NULL, 0, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.first_seq, 6);
	CU_ASSERT_EQUAL(res.last_seq, 7);

	/* a torn tail (no newline): the next record starts its own line; verify
	 * names the torn one */
	fd = open(p.log, O_WRONLY | O_APPEND);
	CU_ASSERT_EQUAL(write(fd, "{\"seq\":8,\"ts\"", 13), 13);
	close(fd);
	CU_ASSERT_EQUAL(plog_fill(&p, 8, 1), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "13 bytes after seq 7 were not written by Ward"));
	CU_ASSERT_EQUAL(verify(&p, NULL, 0, NULL, &res), WARD_ERR_CORRUPT);
	CU_ASSERT_EQUAL(res.problem, AUDIT_BAD_PARSE);
	CU_ASSERT_EQUAL(res.line, 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(res.message, "audit.log:3: malformed record: byte "));
	/* the log shrunk under Ward (same file): an alert, and the chain goes on */
	CU_ASSERT_EQUAL(truncate(p.log, 50), 0);
	CU_ASSERT_EQUAL(plog_fill(&p, 9, 1), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(logged, "is shorter than when Ward last wrote it"));
	ward_log_set_sink(NULL, NULL);
	plog_free(&p);
}

/* Append to P's log, uncommitted (as a crash leaves it), the record after
 * the store's head: EV at TS_MS. */
static void
append_uncommitted(struct plog *p, struct audit_event *ev, int64_t ts_ms)
{
	struct state_audit_head h;
	struct state *st;
	char line[4096];
	size_t n;
	int fd;

	CU_ASSERT_EQUAL_FATAL(state_open(&st, p->state, 0), 0);
	CU_ASSERT_EQUAL_FATAL(state_audit_head_get(st, &h), 0);
	state_close(st);
	ev->ts_ms = ts_ms;
	n = audit_format(ev, h.seq + 1, h.mac, key, sizeof(key), line, sizeof(line));
	CU_ASSERT_FATAL(n > 0);
	fd = open(p->log, O_WRONLY | O_APPEND);
	CU_ASSERT_EQUAL(write(fd, line, n), (ssize_t)n);
	close(fd);
}

static int64_t
last_step_of(struct plog *p, const char *user)
{
	struct state_user u;
	struct state *st;
	int64_t s = -2;

	if (state_open(&st, p->state, 0) != 0)
		return -3;
	if (state_user_get(st, user, &u) == 0) {
		s = u.last_step;
		state_user_clear(&u);
	}
	state_close(st);
	return s;
}

/* An adopted record that accepted a TOTP code (its store commit lost: a
 * crash, or a commit after the answer that never came) raises the user's
 * watermark past every step the code could have had; other records leave
 * it alone. */
static void
test_adopt_raises_watermark(void)
{
	static unsigned char ct[49];
	struct state_user u;
	struct state *st;
	struct plog p;
	struct audit_event ok = { .event = "auth", .result = "success", .user = "ana",
		.factor = "totp", .offline = -1 };
	struct audit_event bad = { .event = "auth", .result = "failure", .user = "ana",
		.factor = "totp", .offline = -1 };
	struct audit_event rec = { .event = "auth", .result = "success", .user = "ana",
		.factor = "recovery", .offline = -1 };
	int64_t t = 1800000015000;     /* ms: step 60000000 of 30 s */

	CU_ASSERT_EQUAL_FATAL(plog_init(&p, "raise"), 0);
	CU_ASSERT_EQUAL_FATAL(plog_fill(&p, 1, 2), 0);
	memset(&u, 0, sizeof(u));
	u.secret_ct = ct;
	u.secret_ct_len = sizeof(ct);
	u.digits = 6;
	u.period = 30;
	u.last_step = 5;
	CU_ASSERT_EQUAL_FATAL(state_open(&st, p.state, 0), 0);
	CU_ASSERT_EQUAL_FATAL(state_user_put(st, "ana", &u), 0);
	state_close(st);
	/* a failure and a recovery code adopted: the watermark stays */
	append_uncommitted(&p, &bad, t);
	CU_ASSERT_EQUAL(plog_fill(&p, 3, 1), 0);
	append_uncommitted(&p, &rec, t);
	CU_ASSERT_EQUAL(plog_fill(&p, 5, 1), 0);
	CU_ASSERT_EQUAL(last_step_of(&p, "ana"), 5);
	/* an acceptance adopted: step(ts) + the window (a store opened
	 * without ward.conf's window assumes the largest, 10) */
	append_uncommitted(&p, &ok, t);
	CU_ASSERT_EQUAL(plog_fill(&p, 7, 1), 0);
	CU_ASSERT_EQUAL(last_step_of(&p, "ana"), 1800000015 / 30 + 10);
	/* never lowered by an older one */
	append_uncommitted(&p, &ok, t - 3600000);
	CU_ASSERT_EQUAL(plog_fill(&p, 9, 1), 0);
	CU_ASSERT_EQUAL(last_step_of(&p, "ana"), 1800000015 / 30 + 10);
	/* a user the store does not know: adopted, nothing raised */
	ok.user = "nobody-here";
	append_uncommitted(&p, &ok, t);
	CU_ASSERT_EQUAL(plog_fill(&p, 11, 1), 0);
	/* adopted with no record of its own (audit_adopt: wardd at start,
	 * before it answers anyone); the chain goes on after it, and a second
	 * adopt finds nothing */
	ok.user = "ana";
	append_uncommitted(&p, &ok, t + 3600000);
	{
		struct audit_verify_result res;
		struct audit_log *l;
		struct state_audit_head h;
		char err[512];

		CU_ASSERT_EQUAL_FATAL(state_open(&st, p.state, 0), 0);
		CU_ASSERT_EQUAL_FATAL(audit_log_open(&l, &p.conf, st, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(audit_adopt(l, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(state_audit_head_get(st, &h), 0);
		CU_ASSERT_EQUAL(h.seq, 13);
		CU_ASSERT_EQUAL(audit_adopt(l, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(state_audit_head_get(st, &h), 0);
		CU_ASSERT_EQUAL(h.seq, 13);
		audit_log_close(l);
		state_close(st);
		CU_ASSERT_EQUAL(last_step_of(&p, "ana"), (1800000015 + 3600) / 30 + 10);
		CU_ASSERT_EQUAL(plog_fill(&p, 14, 1), 0);
		CU_ASSERT_EQUAL(verify(&p, NULL, 0, NULL, &res), 0);
		CU_ASSERT_EQUAL(res.problem, 0);
		CU_ASSERT_EQUAL(res.last_seq, 14);
		CU_ASSERT_EQUAL(res.head_seq, 14);
	}
	plog_free(&p);
}

/* 16 processes x 1,000 records: nothing lost, nothing interleaved. */
static void
test_race(void)
{
	struct audit_verify_result res;
	struct plog p;
	pid_t pids[16];
	int ok = 1;

	CU_ASSERT_EQUAL_FATAL(plog_init(&p, "race"), 0);
	for (int i = 0; i < 16; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(plog_fill(&p, i * 1000, 1000) == 0 ? 0 : 1);
	}
	for (int i = 0; i < 16; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	CU_ASSERT(ok);
	CU_ASSERT_EQUAL(verify(&p, NULL, 0, NULL, &res), 0);
	if (res.problem)
		fprintf(stderr, "%s\n", res.message);
	CU_ASSERT_EQUAL(res.records, 16000);
	CU_ASSERT_EQUAL(res.first_seq, 1);
	CU_ASSERT_EQUAL(res.last_seq, 16000);
	CU_ASSERT_EQUAL(res.head_seq, 16000);
	plog_free(&p);
}

/* Disk full (RLIMIT_FSIZE): WARD_ERR_AUDIT, no torn record, the chain holds. */
static void
test_disk_full(void)
{
	struct audit_verify_result res;
	struct plog p;
	struct stat sb;
	pid_t pid;
	int st;

	CU_ASSERT_EQUAL_FATAL(plog_init(&p, "full"), 0);
	CU_ASSERT_EQUAL_FATAL(plog_fill(&p, 1, 3), 0);
	CU_ASSERT_EQUAL_FATAL(stat(p.log, &sb), 0);
	pid = fork();
	if (pid == 0) {
		/* room for part of one more record only */
		struct rlimit rl = { (rlim_t)sb.st_size + 100, (rlim_t)sb.st_size + 100 };
		struct audit_log *l;
		struct audit_event ev = { .event = "auth", .result = "success", .user = "full",
			.offline = -1 };
		struct stat after;
		char err[512];
		int r;

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0 ||
		    audit_log_open(&l, &p.conf, NULL, err, sizeof(err)) != 0)
			_exit(10);
		r = audit_write(l, &ev, err, sizeof(err));
		audit_log_close(l);
		if (r != WARD_ERR_AUDIT)
			_exit(11);
		if (strstr(err, "cannot write the audit record") == NULL ||
		    strstr(err, "nothing of it stays") == NULL)
			_exit(12);
		if (stat(p.log, &after) != 0 || after.st_size != sb.st_size)
			_exit(13);
		_exit(0);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st));
	CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
	CU_ASSERT_EQUAL(verify(&p, NULL, 0, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.records, 3);
	/* room again: the chain goes on */
	CU_ASSERT_EQUAL(plog_fill(&p, 4, 2), 0);
	CU_ASSERT_EQUAL(verify(&p, NULL, 0, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.records, 5);
	plog_free(&p);
}

/* The log is opened safely: symlink, hard link, open folder refused;
 * the mode is set; a missing key or store is an error. */
static void
test_unsafe(void)
{
	struct audit_log *l;
	struct plog p;
	struct stat sb;
	struct audit_event ev = { .event = "auth", .result = "success", .offline = -1 };
	char err[1024], other[800], ldir[700];

	CU_ASSERT_EQUAL_FATAL(plog_init(&p, "unsafe"), 0);
	snprintf(other, sizeof(other), "%s/elsewhere", p.dir);
	snprintf(ldir, sizeof(ldir), "%s/log", p.dir);
	CU_ASSERT_EQUAL(tu_write(other, "", 0, 0600), 0);
	CU_ASSERT_EQUAL(symlink(other, p.log), 0);
	CU_ASSERT_EQUAL(audit_append(&p.conf, &ev, err, sizeof(err)), WARD_ERR_AUDIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
	unlink(p.log);
	CU_ASSERT_EQUAL(link(other, p.log), 0);
	CU_ASSERT_EQUAL(audit_append(&p.conf, &ev, err, sizeof(err)), WARD_ERR_AUDIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "one link"));
	unlink(p.log);
	chmod(ldir, 0777);
	CU_ASSERT_EQUAL(audit_append(&p.conf, &ev, err, sizeof(err)), WARD_ERR_AUDIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "writable by group or others"));
	chmod(ldir, 0750);
	/* a readable log is tightened to 0600; group_adm gives 0640 group adm */
	CU_ASSERT_EQUAL(tu_write(p.log, "", 0, 0644), 0);
	CU_ASSERT_EQUAL(audit_append(&p.conf, &ev, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(stat(p.log, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	p.conf.audit.group_adm = 1;
	if (audit_append(&p.conf, &ev, err, sizeof(err)) == 0) {
		CU_ASSERT_EQUAL(stat(p.log, &sb), 0);
		CU_ASSERT_EQUAL(sb.st_mode & 07777, 0640);
		CU_ASSERT_NOT_EQUAL(sb.st_gid, 0);
	} else {
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "no group adm"));
	}
	p.conf.audit.group_adm = 0;
	/* the folder gone: an error, and audit_check says so too */
	set(&p.conf.audit.path, "/nonexistent-ward/audit.log");
	CU_ASSERT_EQUAL(audit_append(&p.conf, &ev, err, sizeof(err)), WARD_ERR_AUDIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent-ward: cannot open the audit log folder"));
	CU_ASSERT_EQUAL_FATAL(audit_log_open(&l, &p.conf, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(audit_check(l, err, sizeof(err)), WARD_ERR_AUDIT);
	audit_log_close(l);
	set(&p.conf.audit.path, p.log);
	/* an unsafe key is refused */
	chmod(keyfile, 0644);
	CU_ASSERT_EQUAL(audit_append(&p.conf, &ev, err, sizeof(err)), WARD_ERR_AUDIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "audit key: "));
	chmod(keyfile, 0600);
	/* no event: refused, nothing written */
	ev.event = NULL;
	CU_ASSERT_EQUAL(audit_append(&p.conf, &ev, err, sizeof(err)), WARD_ERR_AUDIT);
	plog_free(&p);
}

/* One log handle, kept open between records (audit.h): each record looks
 * again, so a rotation, a replaced or hard-linked file, a folder opened to
 * others and a loosened mode are each met at the next record as a fresh
 * open meets them; the chain runs on across the rotation. */
static void
test_kept_open(void)
{
	struct audit_log *l;
	struct audit_verify_result res;
	struct plog p;
	struct stat sb;
	struct audit_event ev = { .event = "auth", .result = "success", .offline = -1 };
	char err[1024], rot[800], other[800], hard[800], ldir[700];
	const char *files[2];

	CU_ASSERT_EQUAL_FATAL(plog_init(&p, "kept"), 0);
	snprintf(rot, sizeof(rot), "%s.1", p.log);
	snprintf(other, sizeof(other), "%s/elsewhere", p.dir);
	snprintf(hard, sizeof(hard), "%s/log/hard", p.dir);
	snprintf(ldir, sizeof(ldir), "%s/log", p.dir);
	CU_ASSERT_EQUAL_FATAL(audit_log_open(&l, &p.conf, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(audit_write(l, &ev, err, sizeof(err)), 0);
	/* rotated: the next record starts the new file */
	CU_ASSERT_EQUAL(rename(p.log, rot), 0);
	CU_ASSERT_EQUAL(audit_write(l, &ev, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(stat(p.log, &sb), 0);
	files[0] = rot;
	files[1] = p.log;
	CU_ASSERT_EQUAL(verify(&p, files, 2, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.records, 2);
	/* the folder opened to others: refused until it is closed again */
	chmod(ldir, 0777);
	CU_ASSERT_EQUAL(audit_write(l, &ev, err, sizeof(err)), WARD_ERR_AUDIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "writable by group or others"));
	chmod(ldir, 0750);
	CU_ASSERT_EQUAL(audit_write(l, &ev, err, sizeof(err)), 0);
	/* a loosened mode is set back */
	chmod(p.log, 0644);
	CU_ASSERT_EQUAL(audit_write(l, &ev, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(stat(p.log, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	/* a second link to the log: refused */
	CU_ASSERT_EQUAL(link(p.log, hard), 0);
	CU_ASSERT_EQUAL(audit_write(l, &ev, err, sizeof(err)), WARD_ERR_AUDIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "one link"));
	unlink(hard);
	/* the log replaced by a symbolic link: refused */
	CU_ASSERT_EQUAL(tu_write(other, "", 0, 0600), 0);
	CU_ASSERT_EQUAL(rename(p.log, hard), 0);
	CU_ASSERT_EQUAL(symlink(other, p.log), 0);
	CU_ASSERT_EQUAL(audit_write(l, &ev, err, sizeof(err)), WARD_ERR_AUDIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
	CU_ASSERT_EQUAL(stat(other, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_size, 0);
	unlink(p.log);
	CU_ASSERT_EQUAL(rename(hard, p.log), 0);
	CU_ASSERT_EQUAL(audit_write(l, &ev, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(verify(&p, files, 2, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.records, 5);
	audit_log_close(l);
	plog_free(&p);
}

/* ---- wardctl audit ---- */

static char wardctl[1024], cdir[700], cconf[800], cli_log[800], out[1 << 18];

static int
run_conf(const char *conf, const char *fmt, ...) WARD_PRINTF(2, 3);
/* wardctl --config CCONF ARGS */
#define run(...) run_conf(cconf, __VA_ARGS__)

/* wardctl --config CONF ARGS: its exit code; stdout and stderr in OUT. */
static int
run_conf(const char *conf, const char *fmt, ...)
{
	char args[4096], cmd[6000];
	va_list ap;
	FILE *pp;
	size_t n;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s --config %s %s 2>&1", wardctl, conf, args);
	if ((pp = popen(cmd, "r")) == NULL)
		return -1;
	n = fread(out, 1, sizeof(out) - 1, pp);
	out[n] = '\0';
	st = pclose(pp);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
cli_setup(void)
{
	char text[8192], cmd[8192];

	snprintf(wardctl, sizeof(wardctl), "%s/wardctl", tu_build());
	snprintf(cdir, sizeof(cdir), "%s/cli", top);
	snprintf(cconf, sizeof(cconf), "%s/ward.conf", cdir);
	snprintf(cli_log, sizeof(cli_log), "%s/log/audit.log", cdir);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/etc' && cp '%s/contrib/policy.conf' '%s/etc/' "
	    "&& chmod 0644 '%s/etc/policy.conf'", cdir, tu_src(), cdir, cdir);
	if (system(cmd) != 0)
		return -1;
	snprintf(text, sizeof(text),
	    "policy_file = \"%s/etc/policy.conf\";\nstate_dir = \"%s/state\";\n"
	    "secrets = { key_file = \"%s/etc/master.key\"; };\n"
	    "audit = { path = \"%s\"; key_file = \"%s/etc/audit.key\"; syslog = false; "
	    "fsync = false; };\n", cdir, cdir, cdir, cli_log, cdir);
	return tu_write(cconf, text, (size_t)-1, 0644);
}

/* Append records with chosen times, users, hosts (the PAM module's events). */
static void
cli_event(const char *event, const char *result, const char *user, const char *host,
    int64_t ts_ms, const char *rule, const char *reason)
{
	struct ward_conf c;
	char err[512];
	struct audit_event ev = { .event = event, .result = result, .user = user,
		.service = "ehr-login", .host = host, .ts_ms = ts_ms, .rule = rule,
		.reason = reason, .offline = 0 };

	CU_ASSERT_EQUAL_FATAL(conf_load(&c, cconf, err, sizeof(err)), 0);
	if (audit_append(&c, &ev, err, sizeof(err)) != 0)
		fprintf(stderr, "append: %s\n", err);
	conf_free(&c);
}

static void
test_cli_admin_records(void)
{
	char *secret, *code, *log;
	size_t len;

	CU_ASSERT_EQUAL_FATAL(cli_setup(), 0);
	CU_ASSERT_EQUAL(run("init"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "audit.log"));
	CU_ASSERT_EQUAL(run("enroll alice --qr none --json"), 0);
	/* the secret and a recovery code, to check they never reach the log */
	secret = strstr(out, "\"secret\":\"");
	code = strstr(out, "\"recovery_codes\":[\"");
	CU_ASSERT_PTR_NOT_NULL_FATAL(secret);
	CU_ASSERT_PTR_NOT_NULL_FATAL(code);
	secret = strndup(secret + 10, 16);
	code = strndup(code + 19, 8);
	CU_ASSERT_EQUAL(run("unlock alice"), 0);
	CU_ASSERT_EQUAL(run("recovery-codes alice"), 0);
	CU_ASSERT_EQUAL(run("enroll bob --qr none"), 0);
	CU_ASSERT_EQUAL(run("reset bob"), 0);
	CU_ASSERT_EQUAL(run("policy compile"), 0);
	CU_ASSERT_EQUAL(run("audit verify"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "OK: 7 records, seq 1..7"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "head (seq 7)"));
	log = tu_read(cli_log, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_FALSE(tu_contains(log, len, secret, strlen(secret)));
	CU_ASSERT_FALSE(tu_contains(log, len, code, strlen(code)));
	CU_ASSERT(tu_contains(log, len, "\"detail\":\"init by", strlen("\"detail\":\"init by")));
	CU_ASSERT(tu_contains(log, len, "\"user\":\"alice\",\"event\":\"admin\"", strlen("\"user\":\"alice\",\"event\":\"admin\"")));
	CU_ASSERT(tu_contains(log, len, "\"detail\":\"recovery-codes (new set", strlen("\"detail\":\"recovery-codes (new set")));
	CU_ASSERT(tu_contains(log, len, "\"detail\":\"policy compile ", strlen("\"detail\":\"policy compile ")));
	CU_ASSERT(tu_contains(log, len, "\"detail\":\"reset by ", strlen("\"detail\":\"reset by ")));
	free(log);
	free(secret);
	free(code);

	/* the audit log unwritable: the change is refused, nothing changes */
	{
		char ldir[800];
		snprintf(ldir, sizeof(ldir), "%s/log", cdir);
		chmod(ldir, 0777);
		CU_ASSERT_EQUAL(run("enroll carol --qr none"), 2);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "refusing to enroll"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "nothing was changed"));
		CU_ASSERT_EQUAL(run("unlock alice"), 2);
		chmod(ldir, 0750);
		CU_ASSERT_EQUAL(run("status carol"), 1);   /* not enrolled */
	}
}

static void
test_cli_verify_query(void)
{
	char cmd[8192], copy[900];

	/* a login story */
	cli_event("auth", "success", "alice", "icu-ws-03", 0, NULL, NULL);
	cli_event("account", "deny", "dave", "rx-ws-01", 0, "no-rx-for-nurses",
	    "Nurses dispense through the pharmacy desk");
	cli_event("auth", "failure", "=cmd|' /C calc'!A0", "icu-ws-03", 0, NULL, "wrong");
	CU_ASSERT_EQUAL(run("audit verify --json"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"ok\":true,\"records\":10"));
	CU_ASSERT_EQUAL(run("audit query --user dave"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "no-rx-for-nurses: Nurses dispense"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "1 record"));
	CU_ASSERT_EQUAL(run("audit query --event admin --json"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"seq\":1,"));
	CU_ASSERT_PTR_NULL(strstr(out, "\"event\":\"auth\""));
	CU_ASSERT_EQUAL(run("audit query --result failure --csv"), 0);
	CU_ASSERT(strncmp(out, "seq,ts,host,", 12) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"'=cmd|' /C calc'!A0\""));   /* defused */
	CU_ASSERT_EQUAL(run("audit query --since -1h --until now --user alice"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "auth"));
	CU_ASSERT_EQUAL(run("audit query --since 2001-01-01 --until 2001-01-02"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "0 records"));
	CU_ASSERT_EQUAL(run("audit query --since yesterday"), 2);

	/* an edited copy: exit 1, FILE:LINE and seq named */
	snprintf(copy, sizeof(copy), "%s/edited.log", cdir);
	snprintf(cmd, sizeof(cmd), "sed '0,/\"result\":\"deny\"/s//\"result\":\"allow\"/' '%s' > '%s'",
	    cli_log, copy);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	CU_ASSERT_EQUAL(run("audit verify %s", copy), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "TAMPERED (mac): "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "edited.log:9: seq 9: MAC mismatch"));
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s/good.log'", cli_log, cdir);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	CU_ASSERT_EQUAL(run("audit verify %s/good.log", cdir), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "head was not checked"));
	CU_ASSERT_EQUAL(run("audit verify %s.1", cli_log), 2);
	CU_ASSERT_EQUAL(run("audit verify --json %s", copy), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"problem\":\"mac\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"line\":9,\"seq\":9"));
	/* the live log cut: the head names it */
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s.bak' && head -n 8 '%s.bak' > '%s'", cli_log, cli_log,
	    cli_log, cli_log);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	CU_ASSERT_EQUAL(run("audit verify"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "TAMPERED (cut-tail)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "2 records missing from the end"));
	snprintf(cmd, sizeof(cmd), "cat '%s.bak' > '%s' && rm '%s.bak'", cli_log, cli_log, cli_log);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	CU_ASSERT_EQUAL(run("audit verify"), 0);
	/* a missing file is an error (2), not tampering */
	CU_ASSERT_EQUAL(run("audit verify %s/nope.log", cdir), 2);
	CU_ASSERT_EQUAL(run("audit frobnicate"), 2);
}

static void
test_cli_report_export(void)
{
	/* carol works days: 30 accesses at 10:xx over 30 days, then one at 03:xx */
	int64_t day0 = (int64_t)(time(NULL) / 86400 - 40) * 86400;
	struct tm tm;
	time_t t0;
	char *log;
	size_t len;

	for (int d = 0; d < 30; d++) {
		memset(&tm, 0, sizeof(tm));
		t0 = (time_t)(day0 + d * 86400);
		localtime_r(&t0, &tm);
		tm.tm_hour = 10;
		tm.tm_min = 15;
		tm.tm_isdst = -1;
		cli_event("account", "allow", "carol", "icu-ws-01", (int64_t)mktime(&tm) * 1000,
		    "icu-nurses-ehr", NULL);
	}
	memset(&tm, 0, sizeof(tm));
	t0 = (time_t)(day0 + 31 * 86400);
	localtime_r(&t0, &tm);
	tm.tm_hour = 3;
	tm.tm_min = 12;
	tm.tm_isdst = -1;
	cli_event("account", "allow", "carol", "icu-ws-01", (int64_t)mktime(&tm) * 1000,
	    "icu-nurses-ehr", NULL);
	/* spraying: six users fail from one workstation within minutes */
	for (int i = 0; i < 6; i++) {
		char u[32];
		snprintf(u, sizeof(u), "victim%d", i);
		cli_event("auth", "failure", u, "reg-ws-9", (int64_t)(day0 + 35 * 86400 + i * 60) *
		    1000, NULL, "wrong");
	}
	cli_event("lockout", "locked", "victim0", "reg-ws-9", (int64_t)(day0 + 35 * 86400 + 400) *
	    1000, NULL, "5 failures");
	/* break-glass claimed often by erin */
	for (int i = 0; i < 3; i++)
		cli_event("breakglass", "granted", "erin", "icu-ws-02",
		    (int64_t)(day0 + 36 * 86400 + i * 86400) * 1000, NULL, "patient crashing");

	CU_ASSERT_EQUAL(run("audit report"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Authentication failures by person"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "victim0"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "Lockouts:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "no-rx-for-nurses"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "spraying"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "reg-ws-9: 6 different users"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "breakglass_often"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "erin: break-glass claimed 3 times"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "unusual_hour"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "carol: access at 03:xx"));
	CU_ASSERT_PTR_NULL(strstr(out, "access at 10:xx"));
	CU_ASSERT_PTR_NULL(strstr(out, "\x1b"));
	CU_ASSERT_EQUAL(run("audit report --json"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"denials_by_rule\":[{\"rule\":\"no-rx-for-nurses\",\"count\":1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"breakglass_by_person\":[{\"user\":\"erin\",\"count\":3"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"kind\":\"spraying\",\"source\":\"reg-ws-9\""));
	/* --since narrows the window (history still makes the baseline) */
	CU_ASSERT_EQUAL(run("audit report --since -1h --json"), 0);
	CU_ASSERT_PTR_NULL(strstr(out, "spraying"));

	/* export: everything about carol, as JSON lines; the export is recorded */
	CU_ASSERT_EQUAL(run("audit export --user carol"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"user\":\"carol\""));
	CU_ASSERT_PTR_NULL(strstr(out, "\"user\":\"erin\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"detail\":\"audit export by "));
	log = tu_read(cli_log, &len);
	CU_ASSERT(tu_contains(log, len, "\"user\":\"carol\",\"event\":\"admin\"", strlen("\"user\":\"carol\",\"event\":\"admin\"")));
	free(log);
	CU_ASSERT_EQUAL(run("audit export --user carol --csv"), 0);
	CU_ASSERT(strncmp(out, "seq,ts,", 7) == 0);
	CU_ASSERT_EQUAL(run("audit export"), 2);
	CU_ASSERT_EQUAL(run("audit verify"), 0);
}

/* audit note: one admin record with the text, chained; a text that is not
 * one printable line, too long or empty writes nothing */
static void
test_cli_note(void)
{
	char *log;
	size_t len, before;

	log = tu_read(cli_log, &before);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	free(log);
	CU_ASSERT_EQUAL(run("audit note package wardd upgraded from 0.1.0 to 0.1.1"), 0);
	CU_ASSERT_EQUAL(run("audit note 'two\nlines'"), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "printable UTF-8 on one line"));
	CU_ASSERT_EQUAL(run("audit note \"$(printf '\\033[2J')\""), 2);
	CU_ASSERT_EQUAL(run("audit note $(printf 'x%%.0s' $(seq 241))"), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "at most 240 bytes"));
	CU_ASSERT_EQUAL(run("audit note"), 2);
	log = tu_read(cli_log, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	/* one record added, by the one good note */
	{
		size_t lines = 0;
		for (size_t i = before; i < len; i++)
			lines += log[i] == '\n';
		CU_ASSERT_EQUAL(lines, 1);
	}
	free(log);
	CU_ASSERT_EQUAL(run("audit verify"), 0);
	log = tu_read(cli_log, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT(tu_contains(log, len, "\"event\":\"admin\"", strlen("\"event\":\"admin\"")));
	CU_ASSERT(tu_contains(log, len,
	    "\"detail\":\"note: package wardd upgraded from 0.1.0 to 0.1.1 by ",
	    strlen("\"detail\":\"note: package wardd upgraded from 0.1.0 to 0.1.1 by ")));
	free(log);
}

/* A ward.conf for P's log and store (for wardctl). */
static int
plog_conf(const struct plog *p, char *conf, size_t len)
{
	char text[4096];

	snprintf(conf, len, "%s/ward.conf", p->dir);
	snprintf(text, sizeof(text),
	    "policy_file = \"%s/contrib/policy.conf\";\nstate_dir = \"%s\";\n"
	    "secrets = { key_file = \"%s/master.key\"; };\n"
	    "audit = { path = \"%s\"; key_file = \"%s\"; syslog = false; fsync = false; };\n",
	    tu_src(), p->state, p->dir, p->log, keyfile);
	return tu_write(conf, text, (size_t)-1, 0644);
}

/* wardctl audit verify reads every rotated file in the folder; one removed
 * from the middle is a finding (exit 1) that names it and the seq range;
 * query and report read the older files too and say one is missing. */
static void
test_cli_rotation_gaps(void)
{
	struct plog p;
	char conf[800], f[800];

	CU_ASSERT_EQUAL_FATAL(plog_rotated(&p, "cligap", 3, 0), 0);
	CU_ASSERT_EQUAL_FATAL(plog_conf(&p, conf, sizeof(conf)), 0);
	CU_ASSERT_EQUAL(run_conf(conf, "audit verify"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "OK: 12 records, seq 1..12, in 4 files"));
	snprintf(f, sizeof(f), "%s.1", p.log);
	CU_ASSERT_EQUAL(unlink(f), 0);
	CU_ASSERT_EQUAL(run_conf(conf, "audit verify"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "TAMPERED (missing-file): "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "audit.log:1: seq 10: audit.log.1 is missing between "
	    "audit.log.2 and this file: seq 7..9 absent"));
	CU_ASSERT_EQUAL(run_conf(conf, "audit verify --json"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"problem\":\"missing-file\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"line\":1,\"seq\":10,"));
	/* query and report still read .3 and .2, and say .1 is missing */
	CU_ASSERT_EQUAL(run_conf(conf, "audit query --json"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"seq\":1,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"seq\":6,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "audit.log.1 is missing from the rotated files"));
	CU_ASSERT_EQUAL(run_conf(conf, "audit report"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "audit.log.1 is missing from the rotated files"));
	plog_free(&p);

	/* past .9 the order is numeric (.11, .10, .9 ... not .1, .10, .11, .2) */
	CU_ASSERT_EQUAL_FATAL(plog_rotated(&p, "cligap11", 11, 0), 0);
	CU_ASSERT_EQUAL_FATAL(plog_conf(&p, conf, sizeof(conf)), 0);
	CU_ASSERT_EQUAL(run_conf(conf, "audit verify"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "OK: 36 records, seq 1..36, in 12 files"));
	snprintf(f, sizeof(f), "%s.10", p.log);
	CU_ASSERT_EQUAL(unlink(f), 0);
	CU_ASSERT_EQUAL(run_conf(conf, "audit verify"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "audit.log.9:1: seq 7: audit.log.10 is missing "
	    "between audit.log.11 and this file: seq 4..6 absent"));
	plog_free(&p);
}


/* One authentication failure of USER at HOST at TS_MS, into L. */
static void
spray_fail(struct audit_log *l, const char *user, const char *host, int64_t ts_ms)
{
	char err[512];
	struct audit_event ev = { .event = "auth", .result = "failure", .user = user,
		.service = "gdm-password", .host = host, .ts_ms = ts_ms, .reason = "wrong",
		.offline = 0 };

	CU_ASSERT_EQUAL(audit_write(l, &ev, err, sizeof(err)), 0);
}

/*
 * The spraying detector (five or more different users failing from one
 * source within ten minutes, inclusive): flagged at the threshold and at
 * exactly ten minutes, not below either; repeated names count once; and a
 * 20,000-failure log gives the exact count (the window holds 6,667 of them).
 */
static void
test_cli_report_spraying(void)
{
	struct plog p;
	struct audit_log *l;
	char err[512], u[32];
	const int64_t t0 = ((int64_t)time(NULL) - 2 * 86400) * 1000, min = 60000;
	static const char *const mixed[] = { "a", "b", "a", "b", "c", "d", "a", "e" };

	CU_ASSERT_EQUAL_FATAL(plog_init(&p, "spray"), 0);
	CU_ASSERT_EQUAL_FATAL(audit_log_open(&l, &p.conf, NULL, err, sizeof(err)), 0);
	/* at the threshold: five users in five minutes */
	for (int i = 0; i < 5; i++) {
		snprintf(u, sizeof(u), "five%d", i);
		spray_fail(l, u, "ws-five", t0 + i * min);
	}
	/* below: four users failing twenty times */
	for (int i = 0; i < 20; i++) {
		snprintf(u, sizeof(u), "four%d", i % 4);
		spray_fail(l, u, "ws-four", t0 + i * 1000);
	}
	/* five users 2.5 minutes apart: the first and last exactly 10 minutes */
	for (int i = 0; i < 5; i++) {
		snprintf(u, sizeof(u), "edge%d", i);
		spray_fail(l, u, "ws-edge", t0 + i * 150000);
	}
	/* five users 3 minutes apart: 12 minutes, at most four in a window */
	for (int i = 0; i < 5; i++) {
		snprintf(u, sizeof(u), "wide%d", i);
		spray_fail(l, u, "ws-wide", t0 + i * 3 * min);
	}
	/* repeats: eight failures, five different users */
	for (size_t i = 0; i < sizeof(mixed) / sizeof(mixed[0]); i++)
		spray_fail(l, mixed[i], "ws-mixed", t0 + (int64_t)i * 1000);
	/* large: 20,000 failures 90 ms apart by 7,000 names in turn */
	for (int i = 0; i < 20000; i++) {
		snprintf(u, sizeof(u), "big%04d", i % 7000);
		spray_fail(l, u, "ws-big", t0 + (int64_t)i * 90);
	}
	audit_log_close(l);

	CU_ASSERT_EQUAL(run("audit report %s", p.log), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ws-five: 5 different users failed to authenticate "
	    "from this workstation within 10 minutes (5 failures in all)"));
	CU_ASSERT_PTR_NULL(strstr(out, "ws-four:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ws-edge: 5 different users"));
	CU_ASSERT_PTR_NULL(strstr(out, "ws-wide:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ws-mixed: 5 different users failed to authenticate "
	    "from this workstation within 10 minutes (8 failures in all)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ws-big: 6667 different users failed to "
	    "authenticate from this workstation within 10 minutes (20000 failures in all)"));
	/* the time named is the end of the first fullest window: failure 6,666 */
	{
		time_t t = (time_t)((t0 + 6666 * 90) / 1000);
		struct tm tm;
		char want[64];

		localtime_r(&t, &tm);
		strftime(want, sizeof(want), "%Y-%m-%d %H:%M:%S  ws-big:", &tm);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	}
	CU_ASSERT_EQUAL(run("audit report --json %s", p.log), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"kind\":\"spraying\",\"source\":\"ws-big\""));
	CU_ASSERT_PTR_NULL(strstr(out, "\"source\":\"ws-wide\""));
	plog_free(&p);
}

/* wardctl directory prune-cache: one user's entry, the old ones, all; the
 * enrolments stay; each run is an admin record; no selector, no change. */
static void
test_cli_prune_cache(void)
{
	struct state *st;
	struct state_user u;
	char sdir[800], *blob = NULL, *log;
	int64_t at, now = (int64_t)time(NULL);
	size_t len;

	snprintf(sdir, sizeof(sdir), "%s/state", cdir);
	CU_ASSERT_EQUAL_FATAL(state_open(&st, sdir, 0), 0);
	CU_ASSERT_EQUAL(state_user_get(st, "alice", &u), 0);     /* enrolled above */
	state_user_clear(&u);
	CU_ASSERT_EQUAL(state_dircache_put(st, "alice", "cn=icu,ou=groups", now), 0);
	CU_ASSERT_EQUAL(state_dircache_put(st, "carol", "cn=icu,ou=groups", now), 0);
	CU_ASSERT_EQUAL(state_dircache_put(st, "dave", "cn=rx,ou=groups", now - 3 * 86400), 0);
	state_close(st);

	CU_ASSERT_EQUAL(run("directory prune-cache"), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "usage: wardctl directory prune-cache"));
	CU_ASSERT_EQUAL(run("directory prune-cache --all carol"), 2);
	CU_ASSERT_EQUAL(run("directory prune-cache --older-than soon"), 2);
	CU_ASSERT_EQUAL(run("directory prune-cache carol"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "1 directory-cache entry removed (0.0 KiB); the "
	    "state store now holds "));
	CU_ASSERT_EQUAL(run("directory prune-cache --older-than 1d --json"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"user\":null,\"pruned\":1,\"bytes\":29,"));
	CU_ASSERT_EQUAL(run("directory prune-cache --all"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "1 directory-cache entry removed"));

	CU_ASSERT_EQUAL_FATAL(state_open(&st, sdir, 0), 0);
	CU_ASSERT_EQUAL(state_dircache_get(st, "alice", &blob, &at), WARD_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(state_dircache_get(st, "dave", &blob, &at), WARD_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(state_user_get(st, "alice", &u), 0);     /* still enrolled */
	state_user_clear(&u);
	state_close(st);
	log = tu_read(cli_log, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT(tu_contains(log, len, "\"user\":\"carol\",\"event\":\"admin\"",
	    strlen("\"user\":\"carol\",\"event\":\"admin\"")));
	CU_ASSERT(tu_contains(log, len, "\"detail\":\"directory prune-cache (1 entry, 31 bytes) by ",
	    strlen("\"detail\":\"directory prune-cache (1 entry, 31 bytes) by ")));
	CU_ASSERT(tu_contains(log, len, "\"detail\":\"directory prune-cache (--older-than 1d; "
	    "1 entry, 29 bytes) by ", strlen("\"detail\":\"directory prune-cache (--older-than "
	    "1d; 1 entry, 29 bytes) by ")));
	CU_ASSERT(tu_contains(log, len, "\"detail\":\"directory prune-cache (--all; 1 entry, "
	    "31 bytes) by ", strlen("\"detail\":\"directory prune-cache (--all; 1 entry, "
	    "31 bytes) by ")));
	free(log);
	CU_ASSERT_EQUAL(run("audit verify"), 0);
}

/* The names records carry are the contract (wardctl(8), AUDIT): each enum
 * value writes exactly today's name and parses back; anything else is -1. */
static void
test_names_table(void)
{
	static const struct { int v; const char *name; } ev[] = {
		{ AUDIT_EV_AUTH, "auth" }, { AUDIT_EV_ACCOUNT, "account" },
		{ AUDIT_EV_SESSION_OPEN, "session_open" },
		{ AUDIT_EV_SESSION_CLOSE, "session_close" },
		{ AUDIT_EV_BREAKGLASS, "breakglass" }, { AUDIT_EV_LOCKOUT, "lockout" },
		{ AUDIT_EV_ADMIN, "admin" }, { AUDIT_EV_HEAD, "head" },
		{ AUDIT_EV_FLEET_SYNC, "fleet_sync" },
	}, res[] = {
		{ AUDIT_RES_SUCCESS, "success" }, { AUDIT_RES_FAILURE, "failure" },
		{ AUDIT_RES_ALLOW, "allow" }, { AUDIT_RES_DENY, "deny" },
		{ AUDIT_RES_GRANTED, "granted" }, { AUDIT_RES_REFUSED, "refused" },
		{ AUDIT_RES_LOCKED, "locked" }, { AUDIT_RES_OK, "ok" },
		{ AUDIT_RES_REPLAY_SUSPECTED, "replay_suspected" },
		{ AUDIT_RES_SUPERSEDED, "superseded" }, { AUDIT_RES_FAILED, "failed" },
	}, fac[] = {
		{ AUDIT_FAC_TOTP, "totp" }, { AUDIT_FAC_RECOVERY, "recovery" },
		{ AUDIT_FAC_GRACE, "grace" }, { AUDIT_FAC_NONE, "none" },
	};
	static const char *const bad[] = { "", "Auth", "auth ", "break-glass", "null" };
	size_t i;

	CU_ASSERT_EQUAL(AUDIT_EV_COUNT, sizeof(ev) / sizeof(ev[0]));
	CU_ASSERT_EQUAL(AUDIT_RES_COUNT, sizeof(res) / sizeof(res[0]));
	CU_ASSERT_EQUAL(AUDIT_FAC_COUNT, sizeof(fac) / sizeof(fac[0]) + 1);
	for (i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
		CU_ASSERT_STRING_EQUAL(audit_event_name((enum audit_ev)ev[i].v), ev[i].name);
		CU_ASSERT_EQUAL(audit_event_from(ev[i].name), ev[i].v);
	}
	for (i = 0; i < sizeof(res) / sizeof(res[0]); i++) {
		CU_ASSERT_STRING_EQUAL(audit_result_name((enum audit_res)res[i].v), res[i].name);
		CU_ASSERT_EQUAL(audit_result_from(res[i].name), res[i].v);
	}
	for (i = 0; i < sizeof(fac) / sizeof(fac[0]); i++) {
		CU_ASSERT_STRING_EQUAL(audit_factor_name((enum audit_fac)fac[i].v), fac[i].name);
		CU_ASSERT_EQUAL(audit_factor_from(fac[i].name), fac[i].v);
	}
	/* absent: written as null; a zeroed record has it */
	CU_ASSERT_EQUAL(AUDIT_FAC_ABSENT, 0);
	CU_ASSERT_PTR_NULL(audit_factor_name(AUDIT_FAC_ABSENT));
	CU_ASSERT_EQUAL(audit_factor_from(NULL), AUDIT_FAC_ABSENT);
	/* outside the table: no name (audit_write then refuses the record) */
	CU_ASSERT_PTR_NULL(audit_event_name(AUDIT_EV_COUNT));
	CU_ASSERT_PTR_NULL(audit_result_name((enum audit_res)-1));
	CU_ASSERT_PTR_NULL(audit_factor_name(AUDIT_FAC_COUNT));
	CU_ASSERT_EQUAL(audit_event_from(NULL), -1);
	CU_ASSERT_EQUAL(audit_result_from(NULL), -1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(audit_event_from(bad[i]), -1);
		CU_ASSERT_EQUAL(audit_result_from(bad[i]), -1);
		CU_ASSERT_EQUAL(audit_factor_from(bad[i]), -1);
	}
}

int
main(void)
{
	CU_pSuite s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("audit", setup, teardown);
	CU_add_test(s, "event, result and factor names: one table each", test_names_table);
	CU_add_test(s, "format and parse round trip", test_round_trip);
	CU_add_test(s, "JSON escaping of hostile values", test_hostile_values);
	CU_add_test(s, "strict parser: every bad line named", test_parser_strict);
	CU_add_test(s, "tamper table: each change detected and named", test_tamper_table);
	CU_add_test(s, "rotation: chain across files, wrong order, gap", test_rotation);
	CU_add_test(s, "a log kept open: rotation, replacement and unsafe changes seen",
	    test_kept_open);
	CU_add_test(s, "rotated files: every one read, a missing one named", test_rotation_gaps);
	CU_add_test(s, "rotated files: numeric order, other names ignored",
	    test_rotation_listing);
	CU_add_test(s, "crash recovery, copytruncate, torn tail", test_recovery);
	CU_add_test(s, "an adopted TOTP acceptance raises the watermark",
	    test_adopt_raises_watermark);
	CU_add_test(s, "16 writers x 1000 records", test_race);
	CU_add_test(s, "disk full: no torn record, chain holds", test_disk_full);
	CU_add_test(s, "unsafe files, key and folder refused", test_unsafe);
	CU_add_test(s, "wardctl: admin records, refused when unwritable", test_cli_admin_records);
	CU_add_test(s, "wardctl audit verify and query", test_cli_verify_query);
	CU_add_test(s, "wardctl audit report and export", test_cli_report_export);
	CU_add_test(s, "wardctl audit: every rotated file read, a missing one named",
	    test_cli_rotation_gaps);
	CU_add_test(s, "wardctl audit report: spraying, threshold and 20,000 failures",
	    test_cli_report_spraying);
	CU_add_test(s, "wardctl directory prune-cache: cache only, recorded",
	    test_cli_prune_cache);
	CU_add_test(s, "wardctl audit note: one printable line, recorded", test_cli_note);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
