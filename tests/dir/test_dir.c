/*
 * test_dir.c - the directory client against a real slapd this suite starts
 * (tests/dir/slapd.sh: loopback ports, TLS from a CA it makes, mdb with the
 * memberof overlay, contrib/ldap/hospital.ldif + tests/dir/test-extra.ldif).
 *
 * slapd is always stopped and its folder removed: atexit, and a handler for
 * the signals that end a test run (the handler only kill()s and execs the
 * script, which is async-signal-safe).  Hung servers are simulated by
 * SIGSTOP of slapd (always SIGCONT'd after) and by a listening socket that
 * never accepts.  Every log line goes through a capturing sink, and the
 * bind passwords must never appear in it.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "dir.h"
#include "state.h"
#include "testutil.h"

#define GOOD_PW "ward-demo-password"
#define BAD_PW "wrong-Pa55word-xyzzy"
#define TMO 500L                 /* timeout_ms for the hung-server cases */

static char tmp[256], sdir[300], script[600];
static char pwfile[300], badpwfile[300], emptypwfile[300], openpwfile[300];
static char statedir[300];
static volatile pid_t slapd_pid = -1;
static pid_t proxy_pid = -1;     /* test_lookup_budget's slow proxy */
static int slapd_up;
static int hung_fd = -1;
static char hung_uri[64];

/* from DIR/env */
static char e_ldap[128], e_ldaps[128], e_badname[128], e_dead[128], e_ldapi[300];
static char e_ca[300], e_other_ca[300], e_cert[300], e_key[300];

/*
 * LeakSanitizer: libldap 2.5 (Debian 12) does not free the GnuTLS key and
 * certificate it loads for a client certificate (LDAP_OPT_X_TLS_CERTFILE /
 * KEYFILE with NEWCTX) when the handle goes: about 22 kB of GnuTLS and
 * libtasn1 objects per handle that uses SASL EXTERNAL over TLS.  The test
 * never calls GnuTLS itself, so allocations made inside those libraries are
 * theirs (GnuTLS has no frame pointers: the stacks end there).
 */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:libgnutls.so\nleak:libtasn1.so\n";
}

/* ---- log capture ---- */

static char *logbuf;
static size_t loglen, logcap_;

static void
sink(void *ctx, int prio, const char *msg)
{
	size_t n = strlen(msg);

	(void)ctx;
	(void)prio;
	if (loglen + n + 2 > logcap_) {
		size_t nc = (logcap_ + n + 2) * 2;
		char *nb = realloc(logbuf, nc);
		if (nb == NULL)
			return;
		logbuf = nb;
		logcap_ = nc;
	}
	memcpy(logbuf + loglen, msg, n);
	loglen += n;
	logbuf[loglen++] = '\n';
	logbuf[loglen] = '\0';
}

static size_t
log_mark(void)
{
	return loglen;
}

/* Does the log since MARK contain S? */
static int
log_has(size_t mark, const char *s)
{
	return logbuf != NULL && mark <= loglen && strstr(logbuf + mark, s) != NULL;
}

/* ---- slapd lifetime ---- */

static void
cleanup(void)
{
	char cmd[1200];

	if (hung_fd >= 0)
		close(hung_fd);
	hung_fd = -1;
	if (proxy_pid > 0) {
		kill(proxy_pid, SIGKILL);
		waitpid(proxy_pid, NULL, 0);
		proxy_pid = -1;
	}
	if (tmp[0] == '\0')
		return;
	if (slapd_pid > 0)
		kill(slapd_pid, SIGCONT);
	snprintf(cmd, sizeof(cmd), "'%s' clean '%s' >/dev/null 2>&1; rm -rf '%s'",
	    script, sdir, tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "test_dir: cleanup of %s failed\n", tmp);
	tmp[0] = '\0';
}

static void
on_signal(int sig)
{
	pid_t p = -1;

	if (slapd_pid > 0) {
		kill(slapd_pid, SIGCONT);
		kill(slapd_pid, SIGTERM);
	}
	if (tmp[0] != '\0' && (p = fork()) == 0) {
		char *const argv[] = { (char *)"/bin/rm", (char *)"-rf", tmp, NULL };
		execv("/bin/rm", argv);
		_exit(127);
	} else if (p > 0) {
		waitpid(p, NULL, 0);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
read_env(void)
{
	char path[400], line[1024];
	FILE *f;
	struct { const char *key; char *dst; size_t len; } keys[] = {
		{ "LDAP_URI=", e_ldap, sizeof(e_ldap) },
		{ "LDAPS_URI=", e_ldaps, sizeof(e_ldaps) },
		{ "LDAPS_BADNAME_URI=", e_badname, sizeof(e_badname) },
		{ "DEAD_URI=", e_dead, sizeof(e_dead) },
		{ "LDAPI_URI=", e_ldapi, sizeof(e_ldapi) },
		{ "CA_FILE=", e_ca, sizeof(e_ca) },
		{ "OTHER_CA_FILE=", e_other_ca, sizeof(e_other_ca) },
		{ "CLIENT_CERT=", e_cert, sizeof(e_cert) },
		{ "CLIENT_KEY=", e_key, sizeof(e_key) },
	};

	snprintf(path, sizeof(path), "%s/env", sdir);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "SLAPD_PID=", 10) == 0)
			slapd_pid = (pid_t)atol(line + 10);
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strncmp(line, keys[i].key, strlen(keys[i].key)) == 0)
				snprintf(keys[i].dst, keys[i].len, "%s", line + strlen(keys[i].key));
	}
	fclose(f);
	return slapd_pid > 0 && e_ldaps[0] && e_ca[0] ? 0 : -1;
}

static int
slapd_cmd(const char *what)
{
	char cmd[1400];

	snprintf(cmd, sizeof(cmd), "'%s' %s '%s' >%s/slapd-%s.out 2>&1", script, what,
	    sdir, tmp, what);
	if (system(cmd) != 0)
		return -1;
	return strcmp(what, "stop") == 0 ? 0 : read_env();
}

/* A TCP listener that never accepts: connects succeed, nothing answers. */
static int
hung_listener(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	if ((hung_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(hung_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(hung_fd, 64) != 0 ||
	    getsockname(hung_fd, (struct sockaddr *)&sa, &sl) != 0)
		return -1;
	snprintf(hung_uri, sizeof(hung_uri), "ldaps://127.0.0.1:%u/", ntohs(sa.sin_port));
	return 0;
}

static int
suite_init(void)
{
	char cmd[2000];
	const char *src = tu_src();
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM, SIGABRT,
		SIGSEGV, SIGBUS, SIGFPE, SIGILL };

	ward_log_set_sink(sink, NULL);
	snprintf(tmp, sizeof(tmp), "/tmp/ward-dir-XXXXXX");
	if (mkdtemp(tmp) == NULL) {
		tmp[0] = '\0';
		return -1;
	}
	atexit(cleanup);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], on_signal);
	snprintf(sdir, sizeof(sdir), "%s/slapd", tmp);
	snprintf(script, sizeof(script), "%s/tests/dir/slapd.sh", src);
	snprintf(cmd, sizeof(cmd), "'%s' start '%s' '%s/contrib/ldap/hospital.ldif' "
	    "'%s/tests/dir/test-extra.ldif' >%s/slapd-start.out 2>&1", script, sdir, src,
	    src, tmp);
	if (system(cmd) != 0 || read_env() != 0) {
		snprintf(cmd, sizeof(cmd), "cat %s/slapd-start.out >&2", tmp);
		if (system(cmd) != 0)
			fprintf(stderr, "test_dir: slapd did not start\n");
		return -1;
	}
	slapd_up = 1;
	snprintf(pwfile, sizeof(pwfile), "%s/ldap.secret", tmp);
	snprintf(badpwfile, sizeof(badpwfile), "%s/bad.secret", tmp);
	snprintf(emptypwfile, sizeof(emptypwfile), "%s/empty.secret", tmp);
	snprintf(openpwfile, sizeof(openpwfile), "%s/open.secret", tmp);
	snprintf(statedir, sizeof(statedir), "%s/state", tmp);
	if (tu_write(pwfile, GOOD_PW "\n", (size_t)-1, 0600) != 0 ||
	    tu_write(badpwfile, BAD_PW, (size_t)-1, 0600) != 0 ||
	    tu_write(emptypwfile, "\n", (size_t)-1, 0600) != 0 ||
	    tu_write(openpwfile, GOOD_PW, (size_t)-1, 0644) != 0)
		return -1;
	return hung_listener();
}

static int
suite_clean(void)
{
	cleanup();
	return 0;
}

/* ---- configurations ---- */

#define S(x) ((char *)(uintptr_t)(x))

/* A working configuration: ldaps, bind as the service account. */
static void
base_conf(struct conf_directory *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = 1;
	c->uri[0] = e_ldaps;
	c->nuri = 1;
	c->base = S("dc=example,dc=org");
	c->bind_dn = S("cn=ward,ou=services,dc=example,dc=org");
	c->bind_password_file = pwfile;
	c->ca_file = e_ca;
	c->user_filter = S("(&(objectClass=inetOrgPerson)(uid=%u))");
	c->group_filter = S("(&(objectClass=groupOfNames)(member=%d))");
	c->member_of_attr = S("memberOf");
	c->nested_depth = 3;
	c->timeout_ms = 2000;
	c->cache_seconds = 300;
	c->offline_max_age = 43200;
	c->max_entries = 1000;
	c->max_values = 10000;
}

static long
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)(t.tv_sec * 1000 + t.tv_nsec / 1000000);
}

/* Does the list hold the group cn=NAME,ou=groups,dc=example,dc=org? */
static int
has_group(char **dns, size_t n, const char *name)
{
	char want[256];

	snprintf(want, sizeof(want), "cn=%s,ou=groups,dc=example,dc=org", name);
	for (size_t i = 0; i < n; i++)
		if (dir_dn_equal(dns[i], want))
			return 1;
	return 0;
}

/* One lookup with a fresh handle. */
static int
groups_of(const struct conf_directory *c, const char *user, char ***dns, size_t *n,
    char **udn)
{
	struct dir *d = NULL;
	int r = dir_open(&d, c);

	*dns = NULL;
	*n = 0;
	if (r == 0)
		r = dir_user_groups(d, user, dns, n, udn);
	dir_close(d);
	return r;
}

/* ---- tests ---- */

static void
test_dn_equal(void)
{
	char *n = NULL;

	CU_ASSERT_TRUE(dir_dn_equal("uid=alice,ou=people,dc=example,dc=org",
	    "UID=Alice, OU=People, DC=Example, DC=Org"));
	CU_ASSERT_TRUE(dir_dn_equal("cn=a\\2Cb,dc=example,dc=org",
	    "cn=a\\,b,dc=example,dc=org"));
	CU_ASSERT_FALSE(dir_dn_equal("uid=alice,ou=people,dc=example,dc=org",
	    "uid=alicia,ou=people,dc=example,dc=org"));
	CU_ASSERT_FALSE(dir_dn_equal("cn=a\\,b,dc=example,dc=org",
	    "cn=a,cn=b,dc=example,dc=org"));
	CU_ASSERT_FALSE(dir_dn_equal("not a dn", "not a dn"));
	CU_ASSERT_FALSE(dir_dn_equal(NULL, "dc=org"));
	CU_ASSERT_EQUAL_FATAL(dir_dn_normalize("OU=X , DC=Org", &n), 0);
	CU_ASSERT_STRING_EQUAL(n, "ou=x,dc=org");
	free(n);
}

static void
test_open_checks(void)
{
	struct conf_directory c;
	struct dir *d = NULL;

	dir_close(NULL);
	dir_free_list(NULL, 3);
	base_conf(&c);
	c.enabled = 0;
	CU_ASSERT_EQUAL(dir_open(&d, &c), WARD_ERR_INVAL);
	CU_ASSERT_PTR_NULL(d);
	base_conf(&c);
	c.nuri = 0;
	CU_ASSERT_EQUAL(dir_open(&d, &c), WARD_ERR_INVAL);
	base_conf(&c);
	c.uri[0] = S("http://127.0.0.1/");
	CU_ASSERT_EQUAL(dir_open(&d, &c), WARD_ERR_INVAL);
	base_conf(&c);
	c.ca_file = NULL;
	CU_ASSERT_EQUAL(dir_open(&d, &c), WARD_ERR_INVAL);
	base_conf(&c);
	c.user_filter = S("(uid=alice)");
	CU_ASSERT_EQUAL(dir_open(&d, &c), WARD_ERR_INVAL);
	base_conf(&c);
	c.sasl_mech = S("GSSAPI");
	CU_ASSERT_EQUAL(dir_open(&d, &c), WARD_ERR_INVAL);
	base_conf(&c);
	c.client_cert = e_cert;         /* without its key */
	CU_ASSERT_EQUAL(dir_open(&d, &c), WARD_ERR_INVAL);
	base_conf(&c);
	CU_ASSERT_EQUAL_FATAL(dir_open(&d, &c), 0);
	dir_close(d);
}

static void
test_direct_and_nested(void)
{
	struct conf_directory c;
	char **dns = NULL, *udn = NULL;
	size_t n = 0;

	base_conf(&c);
	CU_ASSERT_EQUAL_FATAL(groups_of(&c, "alice", &dns, &n, &udn), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_TRUE(has_group(dns, n, "icu-nurses"));
	CU_ASSERT_TRUE(has_group(dns, n, "nurses"));       /* nested */
	CU_ASSERT_TRUE(dir_dn_equal(udn, "uid=alice,ou=people,dc=example,dc=org"));
	dir_free_list(dns, n);
	free(udn);

	CU_ASSERT_EQUAL_FATAL(groups_of(&c, "bob", &dns, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_TRUE(has_group(dns, n, "ed-physicians"));
	CU_ASSERT_TRUE(has_group(dns, n, "physicians"));
	dir_free_list(dns, n);

	CU_ASSERT_EQUAL_FATAL(groups_of(&c, "oscar", &dns, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_TRUE(has_group(dns, n, "physicians"));
	CU_ASSERT_TRUE(has_group(dns, n, "pharmacists"));
	dir_free_list(dns, n);

	/* in no group: found, with no groups */
	CU_ASSERT_EQUAL_FATAL(groups_of(&c, "walter", &dns, &n, &udn), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_PTR_NOT_NULL(dns);
	CU_ASSERT_PTR_NOT_NULL(udn);
	dir_free_list(dns, n);
	free(udn);

	CU_ASSERT_EQUAL(groups_of(&c, "nosuchuser", &dns, &n, &udn), WARD_ERR_NOTFOUND);
	CU_ASSERT_PTR_NULL(dns);
	CU_ASSERT_PTR_NULL(udn);
}

static void
test_memberof_only_and_filter_only(void)
{
	struct conf_directory c;
	char **dns = NULL;
	size_t n = 0;

	base_conf(&c);
	c.group_filter = NULL;          /* memberOf (overlay) only */
	CU_ASSERT_EQUAL_FATAL(groups_of(&c, "alice", &dns, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_TRUE(has_group(dns, n, "nurses"));
	dir_free_list(dns, n);

	base_conf(&c);
	c.member_of_attr = NULL;        /* group_filter only */
	CU_ASSERT_EQUAL_FATAL(groups_of(&c, "alice", &dns, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_TRUE(has_group(dns, n, "nurses"));
	dir_free_list(dns, n);
}

static void
test_nested_depth_and_cycle(void)
{
	static const struct { int depth; size_t n; } cases[] = {
		{ 0, 1 }, { 1, 2 }, { 3, 4 }, { 10, 5 },
	};
	struct conf_directory c;
	char **dns = NULL;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int mode = 0; mode < 2; mode++) {
			base_conf(&c);
			c.nested_depth = cases[i].depth;
			if (mode == 1)
				c.group_filter = NULL;
			CU_ASSERT_EQUAL_FATAL(groups_of(&c, "deep", &dns, &n, NULL), 0);
			CU_ASSERT_EQUAL(n, cases[i].n);
			CU_ASSERT_TRUE(has_group(dns, n, "chain1"));
			CU_ASSERT_EQUAL(has_group(dns, n, "chain5"), cases[i].n == 5);
			dir_free_list(dns, n);
		}
	}
	base_conf(&c);
	c.nested_depth = 10;
	CU_ASSERT_EQUAL_FATAL(groups_of(&c, "cyclic", &dns, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_TRUE(has_group(dns, n, "cyc-a"));
	CU_ASSERT_TRUE(has_group(dns, n, "cyc-b"));
	dir_free_list(dns, n);
}

static void
test_transports(void)
{
	struct conf_directory c;
	char **dns = NULL;
	size_t n = 0;
	size_t m;

	/* ldap:// + StartTLS */
	base_conf(&c);
	c.uri[0] = e_ldap;
	c.starttls = 1;
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 2);
	dir_free_list(dns, n);

	/* ldapi:// + SASL EXTERNAL (peer credentials), no CA needed */
	base_conf(&c);
	c.uri[0] = e_ldapi;
	c.ca_file = NULL;
	c.bind_dn = NULL;
	c.bind_password_file = NULL;
	c.sasl_mech = S("EXTERNAL");
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 2);
	dir_free_list(dns, n);

	/* ldaps:// + SASL EXTERNAL with a client certificate */
	base_conf(&c);
	c.bind_dn = NULL;
	c.bind_password_file = NULL;
	c.sasl_mech = S("EXTERNAL");
	c.client_cert = e_cert;
	c.client_key = e_key;
	CU_ASSERT_EQUAL(groups_of(&c, "bob", &dns, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 2);
	dir_free_list(dns, n);

	/* EXTERNAL over TLS without a certificate: the bind fails */
	base_conf(&c);
	c.bind_dn = NULL;
	c.bind_password_file = NULL;
	c.sasl_mech = S("EXTERNAL");
	CU_ASSERT_EQUAL(groups_of(&c, "bob", &dns, &n, NULL), WARD_ERR_AUTH);

	/* anonymous: this directory shows nothing to anonymous clients */
	base_conf(&c);
	c.bind_dn = NULL;
	c.bind_password_file = NULL;
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_NOTFOUND);

	/* plaintext ldap:// without StartTLS: refused unless allowed */
	base_conf(&c);
	c.uri[0] = e_ldap;
	m = log_mark();
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_INVAL);
	CU_ASSERT_TRUE(log_has(m, "plaintext"));
	c.allow_plaintext = 1;
	m = log_mark();
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), 0);
	CU_ASSERT_TRUE(log_has(m, "allow_plaintext is on"));
	dir_free_list(dns, n);
}

static void
test_conf_file(void)
{
	struct ward_conf wc;
	char path[400], text[3000], err[512];
	char **dns = NULL;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/ward.conf", tmp);
	snprintf(text, sizeof(text),
	    "state_dir = \"%s\";\n"
	    "directory = {\n"
	    "  uri = [\"%s\", \"%s\"];\n"
	    "  base = \"dc=example,dc=org\";\n"
	    "  bind_dn = \"cn=ward,ou=services,dc=example,dc=org\";\n"
	    "  bind_password_file = \"%s\";\n"
	    "  ca_file = \"%s\";\n"
	    "  group_filter = \"(&(objectClass=groupOfNames)(member=%%d))\";\n"
	    "  timeout_ms = 1000;\n"
	    "};\n", statedir, e_dead, e_ldaps, pwfile, e_ca);
	CU_ASSERT_EQUAL_FATAL(tu_write(path, text, (size_t)-1, 0644), 0);
	CU_ASSERT_EQUAL_FATAL(conf_load(&wc, path, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(groups_of(&wc.directory, "carol", &dns, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_TRUE(has_group(dns, n, "clerks"));
	dir_free_list(dns, n);
	conf_free(&wc);

	/* a plaintext URI is refused when the file is loaded */
	snprintf(text, sizeof(text),
	    "directory = { uri = [\"%s\"]; base = \"dc=example,dc=org\"; };\n", e_ldap);
	CU_ASSERT_EQUAL_FATAL(tu_write(path, text, (size_t)-1, 0644), 0);
	CU_ASSERT_NOT_EQUAL(conf_load(&wc, path, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "allow_plaintext"));
}

static void
test_failover(void)
{
	struct conf_directory c;
	struct dir *d = NULL;
	char **dns = NULL;
	size_t n = 0, m;
	long t0, el;

	/* first URI refuses connections */
	base_conf(&c);
	c.uri[0] = e_dead;
	c.uri[1] = e_ldaps;
	c.nuri = 2;
	m = log_mark();
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_TRUE(log_has(m, e_dead));
	CU_ASSERT_TRUE(log_has(m, "Can't contact LDAP server"));
	dir_free_list(dns, n);

	/* first URI accepts and then says nothing: costs about timeout_ms */
	base_conf(&c);
	c.uri[0] = hung_uri;
	c.uri[1] = e_ldaps;
	c.nuri = 2;
	c.timeout_ms = TMO;
	m = log_mark();
	t0 = now_ms();
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), 0);
	el = now_ms() - t0;
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_TRUE(el >= TMO - 50 && el < TMO + 1000);
	CU_ASSERT_TRUE(log_has(m, hung_uri));
	CU_ASSERT_TRUE(log_has(m, "no answer within"));
	dir_free_list(dns, n);

	/* every URI dead: UNAVAIL; the same handle then works again */
	base_conf(&c);
	c.uri[0] = e_dead;
	c.nuri = 1;
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_UNAVAIL);

	/* one handle, two lookups (auth, then account): one connection */
	base_conf(&c);
	CU_ASSERT_EQUAL_FATAL(dir_open(&d, &c), 0);
	CU_ASSERT_EQUAL(dir_user_groups(d, "alice", &dns, &n, NULL), 0);
	dir_free_list(dns, n);
	CU_ASSERT_EQUAL(dir_user_groups(d, "erin", &dns, &n, NULL), 0);
	CU_ASSERT_TRUE(has_group(dns, n, "pharmacists"));
	dir_free_list(dns, n);
	dir_close(d);
}

static void
test_tls_refused(void)
{
	struct conf_directory c;
	char **dns = NULL;
	size_t n = 0, m;

	/* a CA that did not sign the server's certificate */
	base_conf(&c);
	c.ca_file = e_other_ca;
	m = log_mark();
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_TLS);
	CU_ASSERT_PTR_NULL(dns);
	CU_ASSERT_TRUE(log_has(m, "certificate verification failed"));
	CU_ASSERT_TRUE(log_has(m, "not trusted by ca_file"));
	CU_ASSERT_TRUE(log_has(m, e_ldaps));

	/* the same over StartTLS */
	base_conf(&c);
	c.uri[0] = e_ldap;
	c.starttls = 1;
	c.ca_file = e_other_ca;
	m = log_mark();
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_TLS);
	CU_ASSERT_TRUE(log_has(m, "certificate verification failed"));

	/* the right CA, the wrong name (127.0.0.2 is not in the certificate) */
	base_conf(&c);
	c.uri[0] = e_badname;
	m = log_mark();
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_TLS);
	CU_ASSERT_TRUE(log_has(m, "not issued for \"127.0.0.2\""));

	/* TLS failure on the first URI, a good second one: used */
	base_conf(&c);
	c.uri[0] = e_badname;
	c.uri[1] = e_ldaps;
	c.nuri = 2;
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), 0);
	dir_free_list(dns, n);

	/* a CA file others may write is not trusted at all */
	{
		char weak[400], cmd[1400];

		snprintf(weak, sizeof(weak), "%s/weak-ca.pem", tmp);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 0666 '%s'", e_ca, weak, weak);
		CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
		base_conf(&c);
		c.ca_file = weak;
		CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_UNSAFE);
	}
}

static void
test_bad_names(void)
{
	static const char *const inject[] = {
		"*)(uid=*))(|(uid=*", "*", "alice)(uid=*", "alice*", "*lice",
		"(uid=alice)", "alice\\2a", "paren*", "\\", "alice)(|(objectClass=*",
	};
	static const char *const invalid[] = {
		"", " alice", "alice ", "ali\nce", "ali\tce", "a/b", "a:b", "\x7f",
		"\xc3\x28",
	};
	struct conf_directory c;
	struct dir *d = NULL;
	char **dns = NULL, *udn = NULL;
	size_t n = 0, m;
	char *big;
	long t0;

	base_conf(&c);
	CU_ASSERT_EQUAL_FATAL(dir_open(&d, &c), 0);
	for (size_t i = 0; i < sizeof(inject) / sizeof(inject[0]); i++) {
		int r = dir_user_groups(d, inject[i], &dns, &n, &udn);

		CU_ASSERT_EQUAL(r, WARD_ERR_NOTFOUND);
		if (r != WARD_ERR_NOTFOUND)
			fprintf(stderr, "injection name \"%s\" gave %d\n", inject[i], r);
		CU_ASSERT_PTR_NULL(dns);
	}
	/* escaping still finds a real uid made of special characters */
	CU_ASSERT_EQUAL(dir_user_groups(d, "paren(1)*x", &dns, &n, &udn), 0);
	CU_ASSERT_TRUE(dir_dn_equal(udn, "uid=paren\\281\\29*x,ou=people,dc=example,dc=org") ||
	    (udn != NULL && strstr(udn, "paren") != NULL));
	dir_free_list(dns, n);
	free(udn);
	udn = NULL;
	/* two entries for one name: refused, not "the first one" */
	m = log_mark();
	CU_ASSERT_EQUAL(dir_user_groups(d, "twin", &dns, &n, NULL), WARD_ERR_INVAL);
	CU_ASSERT_TRUE(log_has(m, "matches 2 entries"));
	dir_close(d);

	/* invalid names and a 1 MB name: refused before any network I/O (the
	 * only URI is the hung listener: any I/O would cost timeout_ms) */
	base_conf(&c);
	c.uri[0] = hung_uri;
	c.timeout_ms = 3000;
	CU_ASSERT_EQUAL_FATAL(dir_open(&d, &c), 0);
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		t0 = now_ms();
		CU_ASSERT_EQUAL(dir_user_groups(d, invalid[i], &dns, &n, NULL), WARD_ERR_INVAL);
		CU_ASSERT_TRUE(now_ms() - t0 < 100);
	}
	CU_ASSERT_EQUAL(dir_user_groups(d, NULL, &dns, &n, NULL), WARD_ERR_INVAL);
	big = malloc((1u << 20) + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, 'a', 1u << 20);
	big[1u << 20] = '\0';
	t0 = now_ms();
	CU_ASSERT_EQUAL(dir_user_groups(d, big, &dns, &n, NULL), WARD_ERR_INVAL);
	CU_ASSERT_TRUE(now_ms() - t0 < 100);
	big[DIR_USER_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(dir_user_groups(d, big, &dns, &n, NULL), WARD_ERR_INVAL);
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, NULL, big, 0, &dns, &n, NULL, NULL),
	    WARD_ERR_INVAL);
	dir_close(d);
	free(big);
}

static void
test_bind_and_password(void)
{
	struct conf_directory c;
	char **dns = NULL;
	size_t n = 0, m;

	base_conf(&c);
	c.bind_password_file = badpwfile;
	m = log_mark();
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_AUTH);
	CU_ASSERT_TRUE(log_has(m, "Invalid credentials"));
	CU_ASSERT_TRUE(log_has(m, "cn=ward,ou=services"));

	base_conf(&c);
	c.bind_dn = S("cn=nobody,ou=services,dc=example,dc=org");
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_AUTH);

	/* an empty password would be an anonymous bind: refused locally */
	base_conf(&c);
	c.bind_password_file = emptypwfile;
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_PARSE);

	/* the password file's mode and presence */
	base_conf(&c);
	c.bind_password_file = openpwfile;
	m = log_mark();
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_UNSAFE);
	CU_ASSERT_TRUE(log_has(m, openpwfile));
	base_conf(&c);
	c.bind_password_file = S("/nonexistent/ward/ldap.secret");
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_IO);
	/* a local problem stops the failover: the next URI is not tried */
	c.uri[1] = e_ldaps;
	c.nuri = 2;
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_IO);
}

static void
test_bounds(void)
{
	struct conf_directory c;
	char **dns = NULL;
	size_t n = 0, m;

	base_conf(&c);
	c.max_entries = 1;              /* alice has two groups */
	m = log_mark();
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_TOOBIG);
	CU_ASSERT_PTR_NULL(dns);
	CU_ASSERT_TRUE(log_has(m, "max_entries"));
	c.max_entries = 2;
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), 0);
	dir_free_list(dns, n);

	base_conf(&c);
	c.max_values = 1;               /* oscar's memberOf has two values */
	m = log_mark();
	CU_ASSERT_EQUAL(groups_of(&c, "oscar", &dns, &n, NULL), WARD_ERR_TOOBIG);
	CU_ASSERT_TRUE(log_has(m, "max_values"));
}

static void
test_diagnose(void)
{
	struct conf_directory c;
	struct dir_diag dg[CONF_MAX_URIS];
	char **dns = NULL, *udn = NULL;
	size_t n = 0;

	base_conf(&c);
	c.uri[0] = e_dead;
	c.uri[1] = e_ldaps;
	c.uri[2] = e_badname;
	c.nuri = 3;
	CU_ASSERT_EQUAL(dir_diagnose(&c, "alice", dg, CONF_MAX_URIS, &dns, &n, &udn), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_PTR_NOT_NULL(udn);
	CU_ASSERT_FALSE(dg[0].reachable);
	CU_ASSERT_EQUAL(dg[0].connect_rc, WARD_ERR_UNAVAIL);
	CU_ASSERT_TRUE(dg[1].reachable);
	CU_ASSERT_EQUAL(dg[1].bind_rc, 0);
	CU_ASSERT_EQUAL(dg[1].lookup_rc, 0);
	CU_ASSERT_EQUAL(dg[1].ngroups, 2);
	CU_ASSERT_EQUAL(strncmp(dg[1].tls_version, "TLS1.", 5), 0);
	CU_ASSERT_EQUAL(dg[2].connect_rc, WARD_ERR_TLS);
	CU_ASSERT_PTR_NOT_NULL(strstr(dg[2].msg, "certificate"));
	dir_free_list(dns, n);
	free(udn);

	CU_ASSERT_EQUAL(dir_diagnose(&c, "nosuchuser", dg, CONF_MAX_URIS, &dns, &n, &udn),
	    WARD_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(dir_diagnose(&c, NULL, dg, CONF_MAX_URIS, &dns, &n, &udn), 0);
	c.bind_password_file = badpwfile;
	CU_ASSERT_EQUAL(dir_diagnose(&c, "alice", dg, CONF_MAX_URIS, &dns, &n, &udn),
	    WARD_ERR_UNAVAIL);          /* the first error: dg[0] */
	CU_ASSERT_EQUAL(dg[1].bind_rc, WARD_ERR_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(dg[1].msg, "Invalid credentials"));
}

/* kill -STOP: connections are accepted by the kernel, nothing answers. */
static void
test_hung_server(void)
{
	static const char *what[] = { "ldaps", "starttls", "ldapi" };
	struct conf_directory c;
	struct dir *d = NULL;
	struct state *st = NULL;
	char **dns = NULL, hstate[400];
	size_t n = 0;
	long t0, el;
	int off = -1;

	CU_ASSERT_FATAL(slapd_up);
	base_conf(&c);
	c.timeout_ms = TMO;
	/* a cached answer, to be used while the server hangs */
	snprintf(hstate, sizeof(hstate), "%s/state-hung", tmp);
	CU_ASSERT_EQUAL_FATAL(state_open(&st, hstate, 1), 0);
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "alice", 1900000000, &dns, &n, &off, NULL), 0);
	dir_free_list(dns, n);
	dir_close(d);
	d = NULL;
	/* a connection made before the server hangs */
	CU_ASSERT_EQUAL_FATAL(dir_open(&d, &c), 0);
	CU_ASSERT_EQUAL(dir_user_groups(d, "alice", &dns, &n, NULL), 0);
	dir_free_list(dns, n);

	CU_ASSERT_EQUAL_FATAL(kill(slapd_pid, SIGSTOP), 0);
	CU_ASSERT_EQUAL(tu_wait_stopped(slapd_pid, 5000), 0);
	/* stale cache, hung directory: the cached answer, marked offline */
	{
		struct dir *d2 = NULL;

		t0 = now_ms();
		CU_ASSERT_EQUAL(dir_groups_cached(&d2, &c, st, "alice", 1900000400, &dns, &n,
		    &off, NULL), 0);
		el = now_ms() - t0;
		CU_ASSERT_EQUAL(off, 1);
		CU_ASSERT_EQUAL(n, 2);
		CU_ASSERT_TRUE(el < TMO + 1000);
		printf("\n    hung server, cached answer used offline in %ld ms", el);
		dir_free_list(dns, n);
		dir_close(d2);
	}
	state_close(st);
	for (int i = 0; i < 3; i++) {
		base_conf(&c);
		c.timeout_ms = TMO;
		if (i == 1) {
			c.uri[0] = e_ldap;
			c.starttls = 1;
		} else if (i == 2) {
			c.uri[0] = e_ldapi;
			c.ca_file = NULL;
			c.bind_dn = NULL;
			c.bind_password_file = NULL;
			c.sasl_mech = S("EXTERNAL");
		}
		t0 = now_ms();
		CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_TIMEOUT);
		el = now_ms() - t0;
		printf("\n    hung server (%s): answer in %ld ms (timeout_ms %ld)", what[i], el, TMO);
		CU_ASSERT_TRUE(el < TMO + 1000);
	}
	/* the open connection: its search times out; no other URI */
	t0 = now_ms();
	CU_ASSERT_EQUAL(dir_user_groups(d, "bob", &dns, &n, NULL), WARD_ERR_TIMEOUT);
	el = now_ms() - t0;
	CU_ASSERT_TRUE(el < TMO + 1000);
	/* two hung URIs: about timeout_ms each */
	base_conf(&c);
	c.timeout_ms = TMO;
	c.uri[1] = hung_uri;
	c.nuri = 2;
	t0 = now_ms();
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), WARD_ERR_TIMEOUT);
	el = now_ms() - t0;
	CU_ASSERT_TRUE(el < 2 * TMO + 1000);
	kill(slapd_pid, SIGCONT);
	dir_close(d);
	/* and it answers again */
	base_conf(&c);
	CU_ASSERT_EQUAL(groups_of(&c, "alice", &dns, &n, NULL), 0);
	dir_free_list(dns, n);
}

/* The entry is the user's only when its uid holds the name byte for byte:
 * the server's caseIgnoreMatch finds rosa's entry for ROSA, which must
 * not get rosa's groups.  "Rosa" (another person, ou=contractors) and
 * "multi" (two uid values) are in tests/dir/test-extra.ldif. */
static void
test_name_exact(void)
{
	static const char *const differs[] = { "ROSA", "rOSA", "WALTER", "MULTI",
		"multi-alias", "Alice" };
	struct conf_directory c;
	struct dir_diag dg[CONF_MAX_URIS];
	struct state *st = NULL;
	struct dir *d = NULL;
	const char *note = "unset";
	char **dns = NULL, *udn = NULL;
	size_t n = 0, m;
	int off = -1;

	for (int mode = 0; mode < 2; mode++) {
		base_conf(&c);
		if (mode == 1)
			c.group_filter = NULL;  /* memberOf only */
		CU_ASSERT_EQUAL(groups_of(&c, "rosa", &dns, &n, &udn), 0);
		CU_ASSERT_TRUE(has_group(dns, n, "icu-nurses"));
		CU_ASSERT_TRUE(dir_dn_equal(udn, "uid=rosa,ou=people,dc=example,dc=org"));
		dir_free_list(dns, n);
		free(udn);
		/* "Rosa" finds both entries; only her own counts */
		CU_ASSERT_EQUAL(groups_of(&c, "Rosa", &dns, &n, &udn), 0);
		CU_ASSERT_EQUAL(n, 0);
		CU_ASSERT_TRUE(dir_dn_equal(udn, "uid=Rosa,ou=contractors,dc=example,dc=org"));
		dir_free_list(dns, n);
		free(udn);
		/* either of two uid values, exactly */
		CU_ASSERT_EQUAL(groups_of(&c, "Multi-Alias", &dns, &n, &udn), 0);
		CU_ASSERT_TRUE(dir_dn_equal(udn, "uid=multi,ou=people,dc=example,dc=org"));
		dir_free_list(dns, n);
		free(udn);
		for (size_t i = 0; i < sizeof(differs) / sizeof(differs[0]); i++) {
			m = log_mark();
			CU_ASSERT_EQUAL(groups_of(&c, differs[i], &dns, &n, &udn),
			    WARD_ERR_NOTFOUND);
			CU_ASSERT_PTR_NULL(dns);
			CU_ASSERT_PTR_NULL(udn);
			CU_ASSERT_TRUE(log_has(m, DIR_NOTE_NAME_DIFFERS));
		}
	}
	/* a name the directory does not know at all: no such note */
	base_conf(&c);
	m = log_mark();
	CU_ASSERT_EQUAL(groups_of(&c, "nosuchuser", &dns, &n, NULL), WARD_ERR_NOTFOUND);
	CU_ASSERT_FALSE(log_has(m, DIR_NOTE_NAME_DIFFERS));
	/* name_attribute: the attribute that must hold the name */
	c.name_attr = S("cn");
	CU_ASSERT_EQUAL(groups_of(&c, "rosa", &dns, &n, NULL), WARD_ERR_NOTFOUND);
	c.user_filter = S("(&(objectClass=inetOrgPerson)(cn=%u))");
	CU_ASSERT_EQUAL(groups_of(&c, "Rosa Contractor", &dns, &n, NULL), 0);
	dir_free_list(dns, n);
	CU_ASSERT_EQUAL(groups_of(&c, "rosa contractor", &dns, &n, NULL), WARD_ERR_NOTFOUND);

	/* through the cache: the note survives, fresh and cached */
	base_conf(&c);
	CU_ASSERT_EQUAL_FATAL(state_open(&st, statedir, 1), 0);
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "ROSA", 1800000000, &dns, &n, &off,
	    &note), WARD_ERR_NOTFOUND);
	CU_ASSERT_PTR_NOT_NULL(note);
	if (note != NULL)
		CU_ASSERT_STRING_EQUAL(note, DIR_NOTE_NAME_DIFFERS);
	dir_close(d);
	d = NULL;
	note = "unset";
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "ROSA", 1800000001, &dns, &n, &off,
	    &note), WARD_ERR_NOTFOUND);
	CU_ASSERT_PTR_NULL(d);          /* answered from the cache */
	CU_ASSERT_PTR_NOT_NULL(note);
	if (note != NULL)
		CU_ASSERT_STRING_EQUAL(note, DIR_NOTE_NAME_DIFFERS);
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "nosuchuser", 1800000000, &dns, &n,
	    &off, &note), WARD_ERR_NOTFOUND);
	CU_ASSERT_PTR_NULL(note);
	dir_close(d);
	state_close(st);

	/* wardctl directory test's view */
	CU_ASSERT_EQUAL(dir_diagnose(&c, "ROSA", dg, CONF_MAX_URIS, &dns, &n, &udn),
	    WARD_ERR_NOTFOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(dg[0].msg, DIR_NOTE_NAME_DIFFERS));
	CU_ASSERT_PTR_NULL(udn);
}

/* A search the server cuts by its own size limit (cn=ward-small may get one
 * entry per search: tests/dir/slapd.sh) is the server's limit, not ours. */
static void
test_server_size_limit(void)
{
	struct conf_directory c;
	char **dns = NULL;
	size_t n = 0, m;

	base_conf(&c);
	c.bind_dn = S("cn=ward-small,ou=services,dc=example,dc=org");
	c.max_entries = 1000;
	m = log_mark();
	/* oscar is in two groups: group_filter finds both in one search */
	CU_ASSERT_EQUAL(groups_of(&c, "oscar", &dns, &n, NULL), WARD_ERR_TOOBIG);
	CU_ASSERT_PTR_NULL(dns);
	CU_ASSERT_TRUE(log_has(m, "the server's own size limit"));
	CU_ASSERT_FALSE(log_has(m, "max_entries 1000"));
	CU_ASSERT_FALSE(log_has(m, "max_entries (1000)"));
	/* two entries named twin: the server's limit cuts the user search too */
	m = log_mark();
	CU_ASSERT_EQUAL(groups_of(&c, "twin", &dns, &n, NULL), WARD_ERR_INVAL);
	CU_ASSERT_TRUE(log_has(m, "the server's own size limit"));
	/* our own limit says so */
	base_conf(&c);
	c.max_entries = 1;
	m = log_mark();
	CU_ASSERT_EQUAL(groups_of(&c, "oscar", &dns, &n, NULL), WARD_ERR_TOOBIG);
	CU_ASSERT_TRUE(log_has(m, "max_entries (1)"));
	CU_ASSERT_FALSE(log_has(m, "server's"));
	/* and the user filter's own limit */
	base_conf(&c);
	m = log_mark();
	CU_ASSERT_EQUAL(groups_of(&c, "twin", &dns, &n, NULL), WARD_ERR_INVAL);
	CU_ASSERT_FALSE(log_has(m, "server's"));
}

/* ---- a slow server: a proxy that holds every answer back ---- */

static char proxy_uri[64];

static int
write_all(int fd, const char *b, ssize_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, b, (size_t)n);

		if (w <= 0)
			return -1;
		b += w;
		n -= w;
	}
	return 0;
}

/* Relay C <-> S; what S says reaches C DELAY_MS late. */
static void
relay(int cfd, int sfd, long delay_ms)
{
	struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
	struct pollfd p[2] = { { cfd, POLLIN, 0 }, { sfd, POLLIN, 0 } };
	char buf[65536];

	for (;;) {
		ssize_t n;

		if (poll(p, 2, -1) < 0)
			return;
		if (p[0].revents) {
			if ((n = read(cfd, buf, sizeof(buf))) <= 0 || write_all(sfd, buf, n) != 0)
				return;
		}
		if (p[1].revents) {
			if ((n = read(sfd, buf, sizeof(buf))) <= 0)
				return;
			nanosleep(&ts, NULL);
			if (write_all(cfd, buf, n) != 0)
				return;
		}
	}
}

/* A child that forwards loopback connections to slapd's ldap:// port,
 * holding each answer back DELAY_MS: every step is slow, none hangs. */
static int
slow_proxy_start(long delay_ms)
{
	struct sockaddr_in sa, to;
	socklen_t sl = sizeof(sa);
	unsigned port = 0;
	int lfd;

	if (sscanf(e_ldap, "ldap://127.0.0.1:%u/", &port) != 1 || port == 0 ||
	    (lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to = sa;
	to.sin_port = htons((uint16_t)port);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 8) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0 || (proxy_pid = fork()) < 0) {
		close(lfd);
		return -1;
	}
	if (proxy_pid == 0) {
		/* not the suite's handlers (they remove the slapd); a client
		 * that hangs up mid-answer must not kill the proxy */
		for (int sig = 1; sig < 32; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				signal(sig, SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;) {
			int cfd = accept(lfd, NULL, NULL), sfd;

			if (cfd < 0)
				_exit(0);
			sfd = socket(AF_INET, SOCK_STREAM, 0);
			if (sfd >= 0 && connect(sfd, (struct sockaddr *)&to, sizeof(to)) == 0)
				relay(cfd, sfd, delay_ms);
			if (sfd >= 0)
				close(sfd);
			close(cfd);
		}
	}
	close(lfd);
	snprintf(proxy_uri, sizeof(proxy_uri), "ldap://127.0.0.1:%u/", ntohs(sa.sin_port));
	return 0;
}

static void
slow_proxy_stop(void)
{
	if (proxy_pid > 0) {
		kill(proxy_pid, SIGKILL);
		waitpid(proxy_pid, NULL, 0);
	}
	proxy_pid = -1;
}

/*
 * timeout_ms bounds the whole lookup, not each step: through the proxy
 * every answer comes SLOW ms late, far within timeout_ms, but the bind,
 * the user search and the five group reads of "deep" (memberOf only,
 * chain1..chain5) take at least 7 x SLOW, twice timeout_ms.  The lookup
 * must fail as a timeout of the whole lookup, not succeed late.
 */
#define SLOW 200L
#define SLOW_TMO 700L
static void
test_lookup_budget(void)
{
	struct conf_directory c;
	struct dir_diag dg[CONF_MAX_URIS];
	char **dns = NULL;
	size_t n = 0, m;
	long t0;

	CU_ASSERT_EQUAL_FATAL(slow_proxy_start(SLOW), 0);
	base_conf(&c);
	c.uri[0] = proxy_uri;
	c.allow_plaintext = 1;
	c.group_filter = NULL;          /* one read per group */
	c.nested_depth = 10;
	c.timeout_ms = SLOW_TMO;
	m = log_mark();
	t0 = now_ms();
	CU_ASSERT_EQUAL(groups_of(&c, "deep", &dns, &n, NULL), WARD_ERR_TIMEOUT);
	printf("\n    slow server (%ld ms per answer): lookup ended in %ld ms (timeout_ms %ld)",
	    SLOW, now_ms() - t0, SLOW_TMO);
	CU_ASSERT_PTR_NULL(dns);
	dir_free_list(dns, n);          /* (what a late success returned) */
	dns = NULL;
	CU_ASSERT_TRUE(log_has(m, "the whole directory lookup exceeded timeout_ms (700 ms)"));
	/* as wardctl directory test reports it */
	CU_ASSERT_EQUAL(dir_diagnose(&c, "deep", dg, CONF_MAX_URIS, &dns, &n, NULL),
	    WARD_ERR_TIMEOUT);
	CU_ASSERT_EQUAL(dg[0].lookup_rc, WARD_ERR_TIMEOUT);
	CU_ASSERT_PTR_NOT_NULL(strstr(dg[0].msg, "whole directory lookup exceeded"));
	/* the same lookup with room for it: the proxy itself is fine */
	c.timeout_ms = 60000;
	CU_ASSERT_EQUAL(groups_of(&c, "deep", &dns, &n, NULL), 0);
	CU_ASSERT_EQUAL(n, 5);
	dir_free_list(dns, n);
	slow_proxy_stop();
}

/* `wardctl directory test` against this slapd. */
static void
test_wardctl(void)
{
	char conf[400], pol[400], text[8000], cmd[2500], *out;
	int st;

	snprintf(conf, sizeof(conf), "%s/wardctl.conf", tmp);
	snprintf(pol, sizeof(pol), "%s/contrib/policy.conf", tu_src());
	snprintf(text, sizeof(text),
	    "policy_file = \"%s\";\nsnapshot_file = \"%s/policy.snap\";\n"
	    "state_dir = \"%s\";\n"
	    "directory = {\n"
	    "  uri = [\"%s\", \"%s\"];\n"
	    "  base = \"dc=example,dc=org\";\n"
	    "  bind_dn = \"cn=ward,ou=services,dc=example,dc=org\";\n"
	    "  bind_password_file = \"%s\";\n"
	    "  ca_file = \"%s\";\n"
	    "  group_filter = \"(&(objectClass=groupOfNames)(member=%%d))\";\n"
	    "  timeout_ms = 1000;\n"
	    "};\n", pol, tmp, statedir, e_dead, e_ldaps, pwfile, e_ca);
	CU_ASSERT_EQUAL_FATAL(tu_write(conf, text, (size_t)-1, 0644), 0);

	snprintf(cmd, sizeof(cmd), "%s/wardctl directory test alice --config %s", tu_build(), conf);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(out);
	if (out != NULL) {
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "icu_nurse"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "cn=nurses,ou=groups,dc=example,dc=org"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "TLS1."));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, e_dead));
		CU_ASSERT_PTR_NULL(strstr(out, GOOD_PW));
		if (st != 0)
			fprintf(stderr, "%s\n", out);
	}
	free(out);

	snprintf(cmd, sizeof(cmd), "%s/wardctl --json --config %s directory test bob",
	    tu_build(), conf);
	out = tu_run(cmd, 0, &st);
	CU_ASSERT_EQUAL(st, 0);
	if (out != NULL) {
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"roles\":[\"ed_physician\",\"physician\"]") ||
		    strstr(out, "\"roles\":[\"physician\",\"ed_physician\"]"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"reachable\":false"));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"user_dn\":\"uid=bob,ou=people,dc=example,dc=org\""));
	}
	free(out);

	/* no such user: a negative answer */
	snprintf(cmd, sizeof(cmd), "%s/wardctl directory test nosuchuser --config %s",
	    tu_build(), conf);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_EQUAL(st, 1);
	free(out);
	/* rosa's entry found for ROSA only by the server's case folding: not
	 * hers, no groups or roles, and the reason shown */
	snprintf(cmd, sizeof(cmd), "%s/wardctl directory test ROSA --config %s",
	    tu_build(), conf);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_EQUAL(st, 1);
	if (out != NULL) {
		CU_ASSERT_PTR_NOT_NULL(strstr(out, DIR_NOTE_NAME_DIFFERS));
		CU_ASSERT_PTR_NULL(strstr(out, "icu_nurse"));
		CU_ASSERT_PTR_NULL(strstr(out, "cn=icu-nurses"));
	}
	free(out);
	/* connect and bind only */
	snprintf(cmd, sizeof(cmd), "%s/wardctl directory test --config %s", tu_build(), conf);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_EQUAL(st, 0);
	free(out);

	/* nothing reachable: an error */
	snprintf(text, sizeof(text),
	    "policy_file = \"%s\";\nstate_dir = \"%s\";\n"
	    "directory = { uri = [\"%s\"]; base = \"dc=example,dc=org\"; ca_file = \"%s\"; };\n",
	    pol, statedir, e_dead, e_ca);
	CU_ASSERT_EQUAL_FATAL(tu_write(conf, text, (size_t)-1, 0644), 0);
	snprintf(cmd, sizeof(cmd), "%s/wardctl directory test alice --json --config %s",
	    tu_build(), conf);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_EQUAL(st, 2);
	free(out);
	/* bad user name: an error too */
	snprintf(cmd, sizeof(cmd), "%s/wardctl directory test ' alice' --config %s",
	    tu_build(), conf);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_EQUAL(st, 2);
	free(out);
}

/* Cache: fresh, stale but directory up, directory down within and beyond
 * offline_max_age, "not found" marker, corrupt record.  Stops slapd. */
static void
test_cache_offline(void)
{
	const int64_t T = 1900000000;   /* a fixed "now": no sleeping */
	struct conf_directory c, dead;
	struct state *st = NULL;
	struct dir *d = NULL, *keep = NULL;
	char **dns = NULL;
	size_t n = 0, m;
	int off = -1;
	long t0;

	CU_ASSERT_EQUAL_FATAL(state_open(&st, statedir, 1), 0);
	base_conf(&c);
	c.cache_seconds = 300;
	c.offline_max_age = 3600;
	base_conf(&dead);
	dead.uri[0] = e_dead;
	dead.cache_seconds = 300;
	dead.offline_max_age = 3600;

	/* fetched from the directory and stored */
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "alice", T, &dns, &n, &off, NULL), 0);
	CU_ASSERT_EQUAL(off, 0);
	CU_ASSERT_EQUAL(n, 2);
	dir_free_list(dns, n);
	CU_ASSERT_PTR_NOT_NULL(d);
	dir_close(d);
	d = NULL;
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "nosuchuser", T, &dns, &n, &off, NULL),
	    WARD_ERR_NOTFOUND);
	dir_close(d);
	d = NULL;

	/* fresh: answered from the cache, the handle is not even opened */
	t0 = now_ms();
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &dead, st, "alice", T + 299, &dns, &n, &off, NULL), 0);
	CU_ASSERT_PTR_NULL(d);
	CU_ASSERT_EQUAL(off, 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_TRUE(has_group(dns, n, "nurses"));
	CU_ASSERT_TRUE(now_ms() - t0 < 100);
	dir_free_list(dns, n);
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &dead, st, "nosuchuser", T + 1, &dns, &n, &off, NULL),
	    WARD_ERR_NOTFOUND);
	CU_ASSERT_PTR_NULL(d);

	/* stale, directory up: asked again and refreshed (fetched_at T+400) */
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "bob", T + 400, &dns, &n, &off, NULL), 0);
	dir_free_list(dns, n);
	dir_close(d);
	d = NULL;

	/* a connection open across the restart below */
	CU_ASSERT_EQUAL_FATAL(dir_open(&keep, &c), 0);
	CU_ASSERT_EQUAL(dir_user_groups(keep, "carol", &dns, &n, NULL), 0);
	dir_free_list(dns, n);

	/* the server stops */
	CU_ASSERT_EQUAL_FATAL(slapd_cmd("stop"), 0);
	slapd_up = 0;
	m = log_mark();
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "alice", T + 3599, &dns, &n, &off, NULL), 0);
	CU_ASSERT_EQUAL(off, 1);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_TRUE(log_has(m, "using the cached answer"));
	dir_free_list(dns, n);
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "nosuchuser", T + 3000, &dns, &n, &off, NULL),
	    WARD_ERR_NOTFOUND);
	CU_ASSERT_EQUAL(off, 1);
	/* beyond offline_max_age: refused */
	m = log_mark();
	off = -1;
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "alice", T + 3600, &dns, &n, &off, NULL),
	    WARD_ERR_UNAVAIL);
	CU_ASSERT_PTR_NULL(dns);
	CU_ASSERT_EQUAL(off, 0);
	CU_ASSERT_TRUE(log_has(m, "refused"));
	/* bob was refreshed at T+400: still usable at T+3900 */
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "bob", T + 3900, &dns, &n, &off, NULL), 0);
	CU_ASSERT_EQUAL(off, 1);
	dir_free_list(dns, n);
	/* a clock that went back: neither fresh nor usable offline */
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "alice", T - 10, &dns, &n, &off, NULL),
	    WARD_ERR_UNAVAIL);
	/* never cached */
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "carol", T, &dns, &n, &off, NULL),
	    WARD_ERR_UNAVAIL);
	/* offline_max_age 0: fail closed at once */
	c.offline_max_age = 0;
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "alice", T + 301, &dns, &n, &off, NULL),
	    WARD_ERR_UNAVAIL);
	c.offline_max_age = 3600;
	/* a corrupt record is never used */
	CU_ASSERT_EQUAL(state_dircache_put(st, "erin", "garbage", T), 0);
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "erin", T + 1, &dns, &n, &off, NULL),
	    WARD_ERR_UNAVAIL);
	/* no store: the directory alone decides */
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, NULL, "alice", T, &dns, &n, &off, NULL),
	    WARD_ERR_UNAVAIL);
	dir_close(d);
	d = NULL;

	/* back up: answered (and cached) again */
	CU_ASSERT_EQUAL_FATAL(slapd_cmd("restart"), 0);
	slapd_up = 1;
	CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "erin", T + 2, &dns, &n, &off, NULL), 0);
	CU_ASSERT_EQUAL(off, 0);
	CU_ASSERT_TRUE(has_group(dns, n, "pharmacists"));
	dir_free_list(dns, n);
	/* no role cache (cache_seconds 0): the directory is asked each time,
	 * and the same answer is stored again only once it is a minute old
	 * (a store commit saved a login; offline use can only end sooner) */
	{
		char *blob = NULL;
		int64_t at = 0;

		c.cache_seconds = 0;
		CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "erin", T + 100, &dns, &n, &off,
		    NULL), 0);
		dir_free_list(dns, n);
		CU_ASSERT_EQUAL(state_dircache_get(st, "erin", &blob, &at), 0);
		CU_ASSERT_EQUAL(at, T + 100);
		free(blob);
		CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "erin", T + 159, &dns, &n, &off,
		    NULL), 0);
		CU_ASSERT_TRUE(has_group(dns, n, "pharmacists"));
		dir_free_list(dns, n);
		CU_ASSERT_EQUAL(state_dircache_get(st, "erin", &blob, &at), 0);
		CU_ASSERT_EQUAL(at, T + 100);
		free(blob);
		CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "erin", T + 160, &dns, &n, &off,
		    NULL), 0);
		dir_free_list(dns, n);
		CU_ASSERT_EQUAL(state_dircache_get(st, "erin", &blob, &at), 0);
		CU_ASSERT_EQUAL(at, T + 160);
		free(blob);
		/* a different answer is stored at once */
		CU_ASSERT_EQUAL(state_dircache_put(st, "erin", "ward-dircache 1 notfound\n",
		    T + 161), 0);
		CU_ASSERT_EQUAL(dir_groups_cached(&d, &c, st, "erin", T + 170, &dns, &n, &off,
		    NULL), 0);
		dir_free_list(dns, n);
		CU_ASSERT_EQUAL(state_dircache_get(st, "erin", &blob, &at), 0);
		CU_ASSERT_EQUAL(at, T + 170);
		free(blob);
		c.cache_seconds = 300;
	}
	dir_close(d);
	/* the old connection is gone; the handle reconnects by itself */
	CU_ASSERT_EQUAL(dir_user_groups(keep, "carol", &dns, &n, NULL), 0);
	CU_ASSERT_TRUE(has_group(dns, n, "clerks"));
	dir_free_list(dns, n);
	dir_close(keep);
	state_close(st);
}

/* Last: nothing logged in the whole run carries a bind password. */
static void
test_no_password_in_log(void)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(logbuf);
	CU_ASSERT_PTR_NULL(strstr(logbuf, GOOD_PW));
	CU_ASSERT_PTR_NULL(strstr(logbuf, BAD_PW));
	CU_ASSERT_PTR_NULL(strstr(logbuf, "test-admin-pw"));
	/* and the log did say what went wrong, with URIs */
	CU_ASSERT_PTR_NOT_NULL(strstr(logbuf, "directory ldaps://127.0.0.1:"));
}

int
main(void)
{
	static const struct { const char *name; CU_TestFunc fn; } tests[] = {
		{ "open_checks", test_open_checks },
		{ "direct_and_nested", test_direct_and_nested },
		{ "memberof_only_and_filter_only", test_memberof_only_and_filter_only },
		{ "nested_depth_and_cycle", test_nested_depth_and_cycle },
		{ "transports", test_transports },
		{ "conf_file", test_conf_file },
		{ "failover", test_failover },
		{ "tls_refused", test_tls_refused },
		{ "bad_names", test_bad_names },
		{ "bind_and_password", test_bind_and_password },
		{ "bounds", test_bounds },
		{ "diagnose", test_diagnose },
		{ "hung_server", test_hung_server },
		{ "name_exact", test_name_exact },
		{ "server_size_limit", test_server_size_limit },
		{ "lookup_budget", test_lookup_budget },
		{ "wardctl_directory_test", test_wardctl },
		{ "cache_offline", test_cache_offline },
		{ "no_password_in_log", test_no_password_in_log },
	};
	CU_pSuite s0, s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	/* DN rules need no server: their own suite */
	s0 = CU_add_suite("dn", NULL, NULL);
	s = CU_add_suite("dir", suite_init, suite_clean);
	if (s0 == NULL || s == NULL || CU_add_test(s0, "dn_equal", test_dn_equal) == NULL) {
		CU_cleanup_registry();
		return 1;
	}
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL) {
			CU_cleanup_registry();
			return 1;
		}
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	cleanup();
	free(logbuf);
	return fails != 0;
}
