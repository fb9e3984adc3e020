/*
 * test_fleet_audit.c - the audit trail across a fleet (wardctl(8), AUDIT
 * ACROSS A FLEET):
 *  - the host key derivation against openssl's HMAC (an independent
 *    implementation), and one host's key never verifies another's records;
 *  - wardctl init --audit-from installs this host's derived key (in a UTS
 *    namespace of its own, so the host name is the test's), keeps it when
 *    it is there and refuses another;
 *  - wardctl audit verify --fleet over a generated fleet with one tamper a
 *    host: edit, delete, reorder, cut tail, a record moved to another host's
 *    log, a record forged with another host's key, a record naming another
 *    host - each named by host and seq;
 *  - forwarding with the real thing: two rsyslogd on loopback (a sender
 *    with the shipped contrib/system/rsyslog-ward.conf, a collector with
 *    rsyslog-ward-collector.conf; their own ports, folders and
 *    certificates made here with openssl; started as our children with
 *    PR_SET_PDEATHSIG and stopped by pid), three workstations (each in its
 *    own mount and UTS namespace, tests/fleet_audit/ws.sh: its /dev/log is
 *    the sender's socket, the machine's /dev/log is never used) writing
 *    records through wardctl and the library's writer, some over 8 KiB;
 *    the collector's files equal the workstations' logs byte for byte and
 *    verify --fleet holds; then the collector is stopped, records are
 *    written, it is started again, and nothing is lost (the sender's
 *    disk-assisted queue).
 * Needs root (namespaces, root-owned keys) and rsyslog + rsyslog-gnutls.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "secret.h"
#include "testutil.h"

#define ZERO_MAC "0000000000000000000000000000000000000000000000000000000000000000"

static char *top;
static char fleetkey[512];

static int
setup(void)
{
	top = tu_fleet_key_dir("ward-fleet", fleetkey, sizeof(fleetkey));
	return top != NULL ? 0 : -1;
}

static int
teardown(void)
{
	tu_rmtree(top);
	free(top);
	return 0;
}

static void
load_fleet(unsigned char k[AUDIT_KEY_LEN])
{
	struct secret_key fk;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(secret_key_load(&fk, fleetkey, err, sizeof(err)), 0);
	memcpy(k, fk.k, AUDIT_KEY_LEN);
	secret_key_wipe(&fk);
}

static void
hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* The derivation, computed again by openssl's command line. */
static void
test_derivation(void)
{
	unsigned char fk[AUDIT_KEY_LEN], k[AUDIT_KEY_LEN], k2[AUDIT_KEY_LEN];
	char fkhex[2 * AUDIT_KEY_LEN + 1], khex[2 * AUDIT_KEY_LEN + 1], msg[512], *out;
	int st;

	load_fleet(fk);
	CU_ASSERT_EQUAL_FATAL(audit_host_key(fk, "icu-ws-03", k), 0);
	hex(fk, sizeof(fk), fkhex);
	hex(k, sizeof(k), khex);
	snprintf(msg, sizeof(msg), "%s/msg", top);
	CU_ASSERT_EQUAL_FATAL(tu_write(msg, "ward-audit-host-v1\0icu-ws-03", 28, 0600), 0);
	{
		char cmd[1024];
		snprintf(cmd, sizeof(cmd), "openssl mac -digest SHA256 -macopt hexkey:%s "
		    "-in %s HMAC", fkhex, msg);
		out = tu_run(cmd, 0, &st);
	}
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	CU_ASSERT_NSTRING_EQUAL(out, khex, 64);
	free(out);
	/* another host, another key; names that are not host names refused */
	CU_ASSERT_EQUAL(audit_host_key(fk, "icu-ws-04", k2), 0);
	CU_ASSERT(memcmp(k, k2, sizeof(k)) != 0);
	CU_ASSERT_EQUAL(audit_host_key(fk, "../etc", k2), WARD_ERR_INVAL);
	CU_ASSERT_EQUAL(audit_host_key(fk, "", k2), WARD_ERR_INVAL);
	CU_ASSERT_EQUAL(audit_host_key(fk, "-x", k2), WARD_ERR_INVAL);
	CU_ASSERT_EQUAL(audit_host_key(fk, "a.b", k2), WARD_ERR_INVAL);
	ward_wipe(fk, sizeof(fk));
}

/* ---- a generated fleet ---- */

/* N records of HOST under KEY (HOST's derived key, or another's) appended
 * to PATH, from seq FIRST chaining from PREV (updated). */
static void
gen(const char *path, const char *host, const unsigned char key[AUDIT_KEY_LEN],
    uint64_t first, int n, char prev[AUDIT_MAC_HEX + 1])
{
	static char buf[AUDIT_LINE_MAX + 2];
	FILE *f = fopen(path, "a");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (int i = 0; i < n; i++) {
		struct audit_event ev = { .event = "auth", .result = "success",
			.service = "login", .user = "rosa", .factor = "totp", .offline = 0,
			.host = host, .ts_ms = 1796000000000 + (int64_t)(first + (uint64_t)i) * 1000 };
		size_t len = audit_format(&ev, first + (uint64_t)i, prev, key, AUDIT_KEY_LEN, buf,
		    sizeof(buf));

		CU_ASSERT_FATAL(len > 0);
		CU_ASSERT_EQUAL(fwrite(buf, 1, len, f), len);
		memcpy(prev, buf + len - 2 - AUDIT_MAC_HEX - 1, AUDIT_MAC_HEX);
		prev[AUDIT_MAC_HEX] = '\0';
	}
	fclose(f);
}

/* DIR/HOST/audit.log with N good records of HOST; its path in PATH. */
static void
host_log(const char *dir, const char *host, int n, char *path, size_t plen)
{
	unsigned char fk[AUDIT_KEY_LEN], k[AUDIT_KEY_LEN];
	char prev[AUDIT_MAC_HEX + 1] = ZERO_MAC;

	snprintf(path, plen, "%s/%s", dir, host);
	CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0);
	snprintf(path, plen, "%s/%s/audit.log", dir, host);
	load_fleet(fk);
	CU_ASSERT_EQUAL_FATAL(audit_host_key(fk, host, k), 0);
	gen(path, host, k, 1, n, prev);
	ward_wipe(fk, sizeof(fk));
	ward_wipe(k, sizeof(k));
}

/* Rewrite PATH with its lines in the order ORDER (1-based line numbers, 0
 * ends; a line not listed is dropped). */
static void
relines(const char *path, const int *order)
{
	size_t len;
	char *s = tu_read(path, &len), *lines[64];
	int n = 0;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (char *p = s; *p && n < 64; n++) {
		lines[n] = p;
		p = strchr(p, '\n');
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		*p++ = '\0';
	}
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (int i = 0; order[i] != 0; i++)
		if (order[i] <= n)
			fprintf(f, "%s\n", lines[order[i] - 1]);
	fclose(f);
	free(s);
}

/* The JSON member "KEY": of host HOST's object in OUT, as text up to the
 * next , or } (strings keep their quotes). */
static void
member(const char *out, const char *host, const char *key, char *val, size_t vlen)
{
	char pat[128];
	const char *h, *m, *e;

	val[0] = '\0';
	snprintf(pat, sizeof(pat), "{\"host\":\"%s\"", host);
	if ((h = strstr(out, pat)) == NULL)
		return;
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((m = strstr(h, pat)) == NULL)
		return;
	m += strlen(pat);
	e = m;
	if (*e == '"') {
		for (e++; *e && *e != '"'; e++)
			if (*e == '\\' && e[1])
				e++;
		e++;
	} else {
		e += strcspn(e, ",}");
	}
	snprintf(val, vlen, "%.*s", (int)(e - m), m);
}

/* The tamper table at the collector: what is planted, what verify names. */
static void
test_tamper_table(void)
{
	static const struct {
		const char *host;
		const char *problem;      /* "\"mac\"", ... or "null" */
		const char *seq;
		const char *says;         /* in the message */
	} want[] = {
		{ "ws-clean", "null", "0", NULL },
		{ "ws-edit", "\"mac\"", "4", "changed" },
		{ "ws-delete", "\"gap\"", "6", "expected seq 5" },
		{ "ws-reorder", "\"reorder\"", "4", "expected seq 3" },
		{ "ws-cut", "null", "0", NULL },
		{ "ws-moved", "\"foreign\"", "3", "a record of host ws-src" },
		{ "ws-src", "\"gap\"", "4", "expected seq 3" },
		{ "ws-forged", "\"foreign\"", "5", "forged with the key of host ws-evil" },
		{ "ws-evil", "\"host\"", "9", "names host \\\"ws-forged\\\"" },
	};
	char dir[512], path[1024], cmd[2048], val[512], *out, prev[AUDIT_MAC_HEX + 1];
	unsigned char fk[AUDIT_KEY_LEN], k[AUDIT_KEY_LEN];
	size_t len;
	int st;

	snprintf(dir, sizeof(dir), "%s/collector", top);
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	load_fleet(fk);
	host_log(dir, "ws-clean", 8, path, sizeof(path));
	/* edit: a user name changed in seq 4 */
	host_log(dir, "ws-edit", 8, path, sizeof(path));
	{
		char *s = tu_read(path, &len), *l4 = s;
		for (int i = 0; i < 3; i++)
			l4 = strchr(l4, '\n') + 1;
		memcpy(strstr(l4, "\"rosa\""), "\"rose\"", 6);
		CU_ASSERT_EQUAL(tu_write(path, s, len, 0600), 0);
		free(s);
	}
	/* delete seq 5 */
	host_log(dir, "ws-delete", 8, path, sizeof(path));
	relines(path, (const int[]){ 1, 2, 3, 4, 6, 7, 8, 0 });
	/* reorder: seq 3 and 4 swapped */
	host_log(dir, "ws-reorder", 8, path, sizeof(path));
	relines(path, (const int[]){ 1, 2, 4, 3, 5, 6, 7, 8, 0 });
	/* cut tail: seq 6..8 gone; what shows is the log ending at seq 5 */
	host_log(dir, "ws-cut", 8, path, sizeof(path));
	relines(path, (const int[]){ 1, 2, 3, 4, 5, 0 });
	/* moved: ws-src's seq 3 taken out of its log and put in ws-moved's */
	host_log(dir, "ws-src", 8, path, sizeof(path));
	{
		char src[1024], *s, *l3, *e;
		snprintf(src, sizeof(src), "%s", path);
		s = tu_read(src, &len);
		l3 = strchr(strchr(s, '\n') + 1, '\n') + 1;
		e = strchr(l3, '\n') + 1;
		host_log(dir, "ws-moved", 2, path, sizeof(path));
		{
			FILE *f = fopen(path, "a");
			CU_ASSERT_PTR_NOT_NULL_FATAL(f);
			fwrite(l3, 1, (size_t)(e - l3), f);
			fclose(f);
		}
		memmove(l3, e, strlen(e) + 1);
		CU_ASSERT_EQUAL(tu_write(src, s, strlen(s), 0600), 0);
		free(s);
	}
	/* forged: a record saying ws-forged, seq 5 chaining from its seq 4,
	 * made with ws-evil's key, in place of ws-forged's seq 5 */
	host_log(dir, "ws-forged", 4, path, sizeof(path));
	{
		char *s = tu_read(path, &len), *m = strstr(s + len - 80, "\"mac\":\"");
		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		memcpy(prev, m + 7, AUDIT_MAC_HEX);
		prev[AUDIT_MAC_HEX] = '\0';
		free(s);
	}
	CU_ASSERT_EQUAL_FATAL(audit_host_key(fk, "ws-evil", k), 0);
	gen(path, "ws-forged", k, 5, 1, prev);
	/* ws-evil writes, under its own key, a record in ws-forged's name */
	host_log(dir, "ws-evil", 8, path, sizeof(path));
	{
		char *s = tu_read(path, &len), *m = strstr(s + len - 80, "\"mac\":\"");
		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		memcpy(prev, m + 7, AUDIT_MAC_HEX);
		free(s);
	}
	gen(path, "ws-forged", k, 9, 1, prev);
	ward_wipe(k, sizeof(k));
	ward_wipe(fk, sizeof(fk));

	snprintf(cmd, sizeof(cmd), "%s/wardctl audit verify --fleet %s --fleet-key %s --json",
	    tu_build(), dir, fleetkey);
	out = tu_run(cmd, 0, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 1);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		member(out, want[i].host, "problem", val, sizeof(val));
		if (strcmp(val, want[i].problem) != 0)
			fprintf(stderr, "%s: problem %s, want %s\n", want[i].host, val,
			    want[i].problem);
		CU_ASSERT_STRING_EQUAL(val, want[i].problem);
		member(out, want[i].host, "seq", val, sizeof(val));
		CU_ASSERT_STRING_EQUAL(val, want[i].seq);
		member(out, want[i].host, "message", val, sizeof(val));
		if (want[i].says != NULL && strstr(val, want[i].says) == NULL)
			fprintf(stderr, "%s: message %s lacks %s\n", want[i].host, val,
			    want[i].says);
		CU_ASSERT(want[i].says == NULL || strstr(val, want[i].says) != NULL);
	}
	/* the cut tail: the chain holds, and ends at seq 5 (what shows of it) */
	member(out, "ws-cut", "last_seq", val, sizeof(val));
	CU_ASSERT_STRING_EQUAL(val, "5");
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"verified\":2,\"tampered\":7,\"errors\":0"));
	free(out);
	/* the text form: one line per host and the summary */
	snprintf(cmd, sizeof(cmd), "%s/wardctl audit verify --fleet %s --fleet-key %s",
	    tu_build(), dir, fleetkey);
	out = tu_run(cmd, 0, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ws-clean         OK        8 records, seq 1..8"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ws-edit          TAMPERED  mac: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "9 hosts, 2 verified, 7 tampered, 0 unreadable"));
	free(out);
	/* the wrong fleet key: every host fails, none verifies */
	{
		char other[600];
		snprintf(other, sizeof(other), "%s/other.key", top);
		CU_ASSERT_EQUAL_FATAL(secret_key_create(other, val, sizeof(val)), 0);
		snprintf(cmd, sizeof(cmd), "%s/wardctl audit verify --fleet %s --fleet-key %s "
		    "--json", tu_build(), dir, other);
		out = tu_run(cmd, 0, &st);
		CU_ASSERT_EQUAL(st, 1);
		CU_ASSERT_PTR_NOT_NULL(out);
		CU_ASSERT(out == NULL ||
		    strstr(out, "\"verified\":0,\"tampered\":9,\"errors\":0") != NULL);
		free(out);
	}
	/* a folder that is not there: an error (2), not a verdict */
	snprintf(cmd, sizeof(cmd), "%s/wardctl audit verify --fleet %s/nothing --fleet-key %s "
	    "2>&1", tu_build(), top, fleetkey);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_EQUAL(st, 2);
	free(out);
}

/* One host's key cannot make another's records verify: ws-a's log under
 * ws-b's folder fails at its first record, named as ws-a's. */
static void
test_key_is_per_host(void)
{
	char dir[512], path[1024], dst[1024], cmd[2048], val[512], *out;
	int st;

	snprintf(dir, sizeof(dir), "%s/perhost", top);
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	host_log(dir, "ws-a", 3, path, sizeof(path));
	snprintf(dst, sizeof(dst), "%s/ws-b", dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(dst, 0700), 0);
	CU_ASSERT_EQUAL_FATAL(tu_sh("cp %s %s/audit.log", path, dst), 0);
	snprintf(cmd, sizeof(cmd), "%s/wardctl audit verify --fleet %s --fleet-key %s --json",
	    tu_build(), dir, fleetkey);
	out = tu_run(cmd, 0, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 1);
	member(out, "ws-a", "ok", val, sizeof(val));
	CU_ASSERT_STRING_EQUAL(val, "true");
	member(out, "ws-b", "problem", val, sizeof(val));
	CU_ASSERT_STRING_EQUAL(val, "\"foreign\"");
	member(out, "ws-b", "seq", val, sizeof(val));
	CU_ASSERT_STRING_EQUAL(val, "1");
	member(out, "ws-b", "records", val, sizeof(val));
	CU_ASSERT_STRING_EQUAL(val, "0");
	free(out);
}

/* ---- wardctl init --audit-from ---- */

static void
ws_conf(const char *w)
{
	char path[1024], text[2048];

	snprintf(text, sizeof(text),
	    "policy_file = \"%s/etc/policy.conf\";\nstate_dir = \"%s/state\";\n"
	    "secrets = { key_file = \"%s/etc/master.key\"; };\n"
	    "audit = { path = \"%s/log/audit.log\"; key_file = \"%s/etc/audit.key\"; "
	    "syslog = true; fsync = false; };\n"
	    "daemon = { socket = \"%s/wardd.sock\"; };\n", w, w, w, w, w, w);
	snprintf(path, sizeof(path), "%s/etc", w);
	CU_ASSERT_EQUAL_FATAL(tu_sh("mkdir -p %s/etc %s/log && chmod 0755 %s %s/etc", w, w, w,
	    w), 0);
	snprintf(path, sizeof(path), "%s/etc/ward.conf", w);
	CU_ASSERT_EQUAL_FATAL(tu_write(path, text, (size_t)-1, 0644), 0);
}

static void
test_init_audit_from(void)
{
	char w[512], keyf[1024], *out;
	unsigned char fk[AUDIT_KEY_LEN], k[AUDIT_KEY_LEN];
	struct secret_key got;
	int st;

	snprintf(w, sizeof(w), "%s/ws-init", top);
	ws_conf(w);
	{
		char cmd[2048];
		snprintf(cmd, sizeof(cmd), "unshare --uts sh -c 'hostname icu-ws-07 && "
		    "%s/wardctl --config %s/etc/ward.conf init --audit-from %s' 2>&1", tu_build(),
		    w, fleetkey);
		out = tu_run(cmd, 1, &st);
		CU_ASSERT_EQUAL(st, 0);
		CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "audit key of host icu-ws-07, derived"));
		free(out);
		/* again: kept, checked */
		out = tu_run(cmd, 1, &st);
		CU_ASSERT_EQUAL(st, 0);
		CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "kept"));
		free(out);
		/* under another name the key there is not that host's: refused */
		snprintf(cmd, sizeof(cmd), "unshare --uts sh -c 'hostname icu-ws-08 && "
		    "%s/wardctl --config %s/etc/ward.conf init --audit-from %s' 2>&1", tu_build(),
		    w, fleetkey);
		out = tu_run(cmd, 1, &st);
		CU_ASSERT_EQUAL(st, 2);
		CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "is not the audit key of host "
		    "icu-ws-08"));
		free(out);
	}
	snprintf(keyf, sizeof(keyf), "%s/etc/audit.key", w);
	{
		struct stat sb;
		CU_ASSERT_EQUAL_FATAL(stat(keyf, &sb), 0);
		CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	}
	CU_ASSERT_EQUAL_FATAL(secret_key_load(&got, keyf, (char[256]){ 0 }, 256), 0);
	load_fleet(fk);
	CU_ASSERT_EQUAL(audit_host_key(fk, "icu-ws-07", k), 0);
	CU_ASSERT_EQUAL(memcmp(got.k, k, sizeof(k)), 0);
	secret_key_wipe(&got);
	ward_wipe(fk, sizeof(fk));
	ward_wipe(k, sizeof(k));
	/* its init records (the first and the one that kept the key) name the
	 * host and verify with the derived key; the refused init wrote none */
	{
		char cmd[2048];
		snprintf(cmd, sizeof(cmd), "%s/wardctl --config %s/etc/ward.conf audit verify",
		    tu_build(), w);
		out = tu_run(cmd, 1, &st);
		CU_ASSERT_EQUAL(st, 0);
		free(out);
		snprintf(cmd, sizeof(cmd), "%s/log/audit.log", w);
		CU_ASSERT_EQUAL(tu_count_lines(cmd, "\"host\":\"icu-ws-07\"",
		    "audit key derived from the fleet audit key for host icu-ws-07", NULL), 2);
	}
}

/* ---- rsyslog: sender and collector on loopback ---- */

struct rs {
	char dir[600], conf[700], pidf[700];
	pid_t pid;
};
static struct rs snd, col;
static char pki[600], outdir[600];
static int port;

/* rsyslogd -n on R's config, our child; it gets SIGTERM if we die. */
static int
rs_start(struct rs *r)
{
	char log[800];
	pid_t pid;

	snprintf(log, sizeof(log), "%s/rsyslogd.out", r->dir);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd < 0 || prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("rsyslogd", "rsyslogd", "-n", "-f", r->conf, "-i", r->pidf, (char *)NULL);
		_exit(127);
	}
	r->pid = pid;
	return 0;
}

static void
rs_stop(struct rs *r)
{
	int st;

	if (r->pid <= 0)
		return;
	kill(r->pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
			r->pid = 0;
			return;
		}
		usleep(50000);
	}
	kill(r->pid, SIGKILL);
	waitpid(r->pid, &st, 0);
	r->pid = 0;
}

static void
rs_stop_all(void)
{
	rs_stop(&snd);
	rs_stop(&col);
}

static void
on_signal(int sig)
{
	rs_stop_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Wait (at most SECS) until the path exists. */
static int
wait_path(const char *path, int secs)
{
	for (int i = 0; i < secs * 20; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		usleep(50000);
	}
	return -1;
}

/* Wait (at most SECS) until the collector's copy of W's log equals it. */
static int
wait_same(const char *w, const char *host, int secs)
{
	char a[1024], b[1024];

	snprintf(a, sizeof(a), "%s/log/audit.log", w);
	snprintf(b, sizeof(b), "%s/%s/audit.log", outdir, host);
	for (int i = 0; i < secs * 10; i++) {
		size_t la = 0, lb = 0;
		char *x = tu_read(a, &la), *y = tu_read(b, &lb);
		int same = x != NULL && y != NULL && la == lb && memcmp(x, y, la) == 0;

		free(x);
		free(y);
		if (same)
			return 0;
		usleep(100000);
	}
	return -1;
}

static int
fwd_setup(void)
{
	const char *src = tu_src();
	char sock[700];

	port = tu_free_port();
	snprintf(pki, sizeof(pki), "%s/pki", top);
	snprintf(outdir, sizeof(outdir), "%s/ward-fleet", top);
	snprintf(snd.dir, sizeof(snd.dir), "%s/sender", top);
	snprintf(col.dir, sizeof(col.dir), "%s/collector-rs", top);
	snprintf(sock, sizeof(sock), "%s/log.sock", snd.dir);
	if (port <= 0 || tu_sh("mkdir -p %s %s %s %s", pki, snd.dir, col.dir, outdir) != 0)
		return -1;
	/* a CA, the collector's certificate (collector.example.org, as the
	 * shipped sender config pins) and the workstations' */
	if (tu_sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	    "-nodes -keyout ca-key.pem -out ca.pem -days 2 -subj '/CN=Ward test CA' && "
	    "for n in collector:collector.example.org forward:ws.example.org; do "
	    "f=${n%%%%:*} cn=${n#*:}; "
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $f-key.pem "
	    "-out $f.csr -subj /CN=$cn && "
	    "printf 'subjectAltName=DNS:%%s\\nextendedKeyUsage=serverAuth,clientAuth\\n' $cn "
	    ">$f.ext && openssl x509 -req -in $f.csr -CA ca.pem -CAkey ca-key.pem "
	    "-CAcreateserial -days 2 -out $f-cert.pem -extfile $f.ext || exit 1; done", pki) != 0)
		return -1;
	/* the shipped configs, with this test's paths, port and target */
	if (tu_sh("sed -e 's|/etc/ward/collector-ca.pem|%s/ca.pem|; s|/etc/ward/|%s/|g; "
	    "s|port=\"6514\"|port=\"%d\"|; s|/var/log/ward-fleet|%s|g' "
	    "%s/contrib/system/rsyslog-ward-collector.conf >%s/ward.conf", pki, pki, port,
	    outdir, src, col.dir) != 0 ||
	    tu_sh("sed -e 's|/etc/ward/collector-ca.pem|%s/ca.pem|; s|/etc/ward/|%s/|g; "
	    "s|target=\"collector.example.org\" port=\"6514\"|target=\"127.0.0.1\" "
	    "port=\"%d\"|' %s/contrib/system/rsyslog-ward.conf >%s/ward.conf", pki, pki, port,
	    src, snd.dir) != 0 ||
	    tu_sh("grep -q 'target=\"127.0.0.1\" port=\"%d\"' %s/ward.conf", port, snd.dir) != 0)
		return -1;
	/* main configs as a distribution's: inputs first, then the snippet */
	if (tu_sh("printf 'global(workDirectory=\"%s\")\\ninclude(file=\"%s/ward.conf\")\\n' "
	    ">%s/rsyslog.conf", col.dir, col.dir, col.dir) != 0 ||
	    tu_sh("printf 'global(workDirectory=\"%s\")\\nmodule(load=\"imuxsock\" "
	    "SysSock.Use=\"off\")\\ninput(type=\"imuxsock\" Socket=\"%s\" "
	    "RateLimit.Interval=\"0\")\\ninclude(file=\"%s/ward.conf\")\\n' >%s/rsyslog.conf",
	    snd.dir, sock, snd.dir, snd.dir) != 0)
		return -1;
	snprintf(col.conf, sizeof(col.conf), "%s/rsyslog.conf", col.dir);
	snprintf(snd.conf, sizeof(snd.conf), "%s/rsyslog.conf", snd.dir);
	snprintf(col.pidf, sizeof(col.pidf), "%s/rsyslogd.pid", col.dir);
	snprintf(snd.pidf, sizeof(snd.pidf), "%s/rsyslogd.pid", snd.dir);
	if (tu_sh("rsyslogd -N1 -f %s && rsyslogd -N1 -f %s", col.conf, snd.conf) != 0)
		return -1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	atexit(rs_stop_all);
	if (rs_start(&col) != 0 || rs_start(&snd) != 0 || wait_path(col.pidf, 10) != 0 ||
	    wait_path(sock, 10) != 0)
		return -1;
	return 0;
}

/* Run CMD (a shell command) as workstation HOST, logging to the sender. */
static int
as_ws(const char *host, const char *cmd)
{
	return tu_sh("unshare -m --uts sh %s/tests/fleet_audit/ws.sh %s %s/log.sock sh -c '%s'",
	    tu_src(), host, snd.dir, cmd);
}

static void
test_forward(void)
{
	static const char *const hosts[] = { "icu-ws-01", "icu-ws-02", "rx-ws-01" };
	char w[3][700], cmd[8192], *out;
	int st;

	CU_ASSERT_EQUAL_FATAL(fwd_setup(), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(w[i], sizeof(w[i]), "%s/%s", top, hosts[i]);
		ws_conf(w[i]);
		/* wardctl's own records (init, enroll), then the writer's, every
		 * other one longer than rsyslog's default 8 KiB */
		snprintf(cmd, sizeof(cmd), "%s/wardctl --config %s/etc/ward.conf init "
		    "--audit-from %s && %s/wardctl --config %s/etc/ward.conf enroll nurse%d "
		    "--qr none >/dev/null && %s/tests/tools/auditgen append %s/etc/ward.conf %d "
		    "big", tu_build(), w[i], fleetkey, tu_build(), w[i], i, tu_build(), w[i],
		    10 + 5 * i);
		CU_ASSERT_EQUAL(as_ws(hosts[i], cmd), 0);
	}
	for (int i = 0; i < 3; i++) {
		int same = wait_same(w[i], hosts[i], 30);
		if (same != 0)
			tu_sh("ls -lR %s; cat %s/rsyslogd.out %s/rsyslogd.out", outdir, snd.dir,
			    col.dir);
		CU_ASSERT_EQUAL(same, 0);
	}
	/* the long records went through whole */
	snprintf(cmd, sizeof(cmd), "awk 'length($0) > 8192' %s/%s/audit.log | wc -l", outdir,
	    hosts[2]);
	out = tu_run(cmd, 0, &st);
	CU_ASSERT(out != NULL && atoi(out) >= 5);
	free(out);
	snprintf(cmd, sizeof(cmd), "%s/wardctl audit verify --fleet %s --fleet-key %s",
	    tu_build(), outdir, fleetkey);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "3 hosts, 3 verified, 0 tampered"));
	if (st != 0 && out != NULL)
		fprintf(stderr, "%s", out);
	free(out);

	/* the collector away: records wait in the sender's queue */
	rs_stop(&col);
	unlink(col.pidf);
	snprintf(cmd, sizeof(cmd), "%s/tests/tools/auditgen append %s/etc/ward.conf 12 big",
	    tu_build(), w[1]);
	CU_ASSERT_EQUAL(as_ws(hosts[1], cmd), 0);
	usleep(500000);
	CU_ASSERT_EQUAL_FATAL(rs_start(&col), 0);
	CU_ASSERT_EQUAL(wait_path(col.pidf, 10), 0);
	CU_ASSERT_EQUAL(wait_same(w[1], hosts[1], 40), 0);
	snprintf(cmd, sizeof(cmd), "%s/wardctl audit verify --fleet %s --fleet-key %s",
	    tu_build(), outdir, fleetkey);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_EQUAL(st, 0);
	if (st != 0 && out != NULL)
		fprintf(stderr, "%s", out);
	free(out);
	rs_stop_all();
}

int
main(void)
{
	CU_pSuite s;
	unsigned fails;

	if (geteuid() != 0) {
		fprintf(stderr, "test_fleet_audit: needs root\n");
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("fleet audit", setup, teardown);
	CU_add_test(s, "host key derivation (openssl agrees)", test_derivation);
	CU_add_test(s, "one host's key cannot verify another's records", test_key_is_per_host);
	CU_add_test(s, "wardctl init --audit-from", test_init_audit_from);
	CU_add_test(s, "verify --fleet: the tamper table", test_tamper_table);
	CU_add_test(s, "rsyslog over TLS, byte for byte; collector restart loses nothing",
	    test_forward);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	if (CU_get_number_of_suites_failed() > 0)
		fails++;
	CU_cleanup_registry();
	return fails == 0 ? 0 : 1;
}
