/*
 * test_wardd.c - wardd as a process: the suite starts its own wardd on a
 * private socket in a private tree (made with wardctl init), talks to it
 * through lib/wire, and stops it by PID at the end (killed in teardown
 * even when a test fails).  Cases: PING; DECIDE agrees with `wardctl
 * policy test`; a non-root peer asks only about itself; garbage, a 1 GiB
 * length, silence and a half frame are cut off while root is answered;
 * 1,000 connections of one user do not stop root; the request rate limit;
 * a broken policy on SIGHUP keeps the old decision and is logged; an edited
 * policy is picked up without a signal; an unsafe socket folder is
 * refused; systemd socket activation; out of fds (no spin, no log
 * flood); bad reconnects do not flood the log; a stopping wardd leaves
 * another's socket; a symlink raced in where the socket folder is made;
 * a passwd entry over 1,024 bytes; 30 uids without a passwd entry do not
 * starve users; SIGTERM finishes the request in flight and exits 0, its
 * last audit record the shutdown head.  Log
 * lines are read from the daemons' --debug standard error.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "logcap.h"
#include "testutil.h"
#include "wire.h"

#define NOBODY 65534

static char *root;
static rlim_t start_nofile;     /* when not 0: wardd's RLIMIT_NOFILE */
static const char *start_passwd; /* when set: wardd's /etc/passwd (a mount namespace) */
static char conf[512], policy[512], sock[512], wardd[512], wardctl[512], dlog[512];
static pid_t dpid = -1;
static int have_log;

/* The policy; the edit test turns the nurses' allow rule into a deny. */
#define POLICY_TEXT(id, effect) \
    "roles = { clinician = { }; nurse = { inherits = [\"clinician\"]; }; clerk = { }; };\n" \
    "users = ( { user = \"alice\"; roles = [\"nurse\"]; },\n" \
    "  { user = \"carol\"; roles = [\"clerk\"]; }, { user = \"nobody\"; roles = [\"clerk\"]; } );\n" \
    "apps = { ehr = [\"ehr\"]; pharmacy = [\"rx\"]; desk = [\"desk\"]; };\n" \
    "rules = (\n" \
    "  { id = \"" id "\"; effect = \"" effect "\"; roles = [\"nurse\"]; apps = [\"ehr\"];\n" \
    "    mfa = \"required\"; idle_logoff = 600; },\n" \
    "  { id = \"clerks-desk\"; effect = \"allow\"; roles = [\"clerk\"]; apps = [\"desk\"];\n" \
    "    mfa = \"not_required\"; },\n" \
    "  { id = \"no-rx\"; effect = \"deny\"; roles = [\"nurse\"]; apps = [\"pharmacy\"];\n" \
    "    reason = \"Nurses dispense through the pharmacy desk\"; } );\n"
static const char policy_v1[] = POLICY_TEXT("nurses-ehr", "allow");
static const char policy_v2[] = POLICY_TEXT("nurses-off", "deny");

/* ---- a client ---- */

static int
connect_to(const char *path, int nonblock)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One request REQ on a new connection to PATH; the answer in *ANS. */
static int
ask_at(const char *path, const struct wire_msg *req, struct wire_msg *ans)
{
	struct timespec dl;
	int fd = connect_to(path, 0), r;

	wire_msg_init(ans, 0);
	if (fd < 0)
		return WARD_ERR_IO;
	wire_deadline(&dl, 3000);
	r = wire_send(fd, req, &dl);
	if (r == 0)
		r = wire_recv(fd, ans, &dl);
	close(fd);
	return r;
}

static int
ping_at(const char *path, struct wire_msg *ans)
{
	struct wire_msg req;

	wire_msg_init(&req, WIRE_PING);
	return ask_at(path, &req, ans);
}

static int
decide(const char *user, const char *service, struct wire_msg *ans)
{
	struct wire_msg req;
	int r;

	wire_msg_init(&req, WIRE_DECIDE);
	(void)wire_put_str(&req, WT_USER, user);
	(void)wire_put_str(&req, WT_SERVICE, service);
	r = ask_at(sock, &req, ans);
	wire_msg_wipe(&req);
	return r;
}

/* ALLOW of a decision: 1, 0, or -1 when the answer is not a decision. */
static int
allowed(const char *user, const char *service, char *rule, size_t rlen)
{
	struct wire_msg ans;
	int a = -1;

	if (decide(user, service, &ans) == 0 && ans.type == WIRE_DECISION &&
	    wire_get_bool(&ans, WT_ALLOW, &a) == 0 && rule != NULL)
		snprintf(rule, rlen, "%s", wire_get_str(&ans, WT_RULE));
	wire_msg_wipe(&ans);
	return a;
}

/* Has the peer closed FD (EOF readable)?  Reads and drops what is there. */
static int
closed_by_peer(int fd)
{
	char buf[256];
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (poll(&p, 1, 0) == 1) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
		if (n < 0)
			return 0;
	}
	return 0;
}

/* ---- the daemon ---- */

/* How many times NEEDLE is in the daemons' standard error so far (every
 * wardd here runs with --debug, which copies each log line there; unlike
 * the syslog capture, no other test run on the machine can take it). */
static size_t
log_count(const char *needle)
{
	size_t n = 0, len;
	char *text = tu_read(dlog, &len), *p = text;

	while (p != NULL && (p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	free(text);
	return n;
}

/* Has a daemon logged NEEDLE? */
static int
in_log(const char *needle)
{
	return log_count(needle) > 0;
}


/* Start wardd (under systemd-socket-activate on ACTIVATE_PATH when not
 * NULL; with the config CONFIG) and wait until PATH answers PING.  Its
 * pid, or -1. */
static pid_t
start_with(const char *activate_path, const char *path, const char *config)
{
	struct timespec t0;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(dlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (start_passwd != NULL && (unshare(CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount(start_passwd, "/etc/passwd", NULL, MS_BIND, NULL) != 0))
			_exit(126);
		if (start_nofile != 0) {
			struct rlimit rl = { start_nofile, start_nofile };

			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (activate_path != NULL)
			execl("/usr/bin/systemd-socket-activate", "systemd-socket-activate", "-l",
			    activate_path, wardd, "--config", config, "--debug", (char *)NULL);
		else
			execl(wardd, "wardd", "--config", config, "--debug", (char *)NULL);
		_exit(127);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (tu_ms_since(&t0) < 10000) {
		struct wire_msg ans;
		int r = ping_at(path, &ans), up = r == 0 && ans.type == WIRE_PONG;

		wire_msg_wipe(&ans);
		if (up)
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static pid_t
start(const char *activate_path, const char *path)
{
	return start_with(activate_path, path, conf);
}

/* Wait up to MS for PID to exit; its wait status, or -1. */
static int
wait_exit(pid_t pid, int ms)
{
	struct timespec t0;
	int st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (tu_ms_since(&t0) < ms) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(10000);
	}
	return -1;
}

/* SIGTERM to PID: it must exit 0 within 5 s (else it is killed). */
static void
stop_expect_0(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	st = wait_exit(pid, 5000);
	CU_ASSERT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (st == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static int
setup(void)
{
	char text[2048];

	if ((root = tu_mkdtemp("ward-wardd")) == NULL)
		return 1;
	snprintf(conf, sizeof(conf), "%s/ward.conf", root);
	snprintf(policy, sizeof(policy), "%s/etc/policy.conf", root);
	snprintf(sock, sizeof(sock), "%s/run/wardd.sock", root);
	snprintf(dlog, sizeof(dlog), "%s/wardd.log", root);
	snprintf(wardd, sizeof(wardd), "%s/wardd", tu_build());
	snprintf(wardctl, sizeof(wardctl), "%s/wardctl", tu_build());
	if (tu_sh("mkdir -p '%s/etc' && chmod 0755 '%s/etc'", root, root) != 0)
		return 1;
	snprintf(text, sizeof(text),
	    "policy_file = \"%s\";\nstate_dir = \"%s/state\";\n"
	    "secrets = { key_file = \"%s/etc/master.key\"; };\n"
	    "audit = { path = \"%s/log/audit.log\"; key_file = \"%s/etc/audit.key\"; "
	    "fsync = false; };\n"
	    "daemon = { socket = \"%s\"; };\n", policy, root, root, root, root, sock);
	if (tu_write(conf, text, (size_t)-1, 0644) != 0 ||
	    tu_write(policy, policy_v1, (size_t)-1, 0644) != 0)
		return 1;
	if (tu_sh("'%s' --config '%s' init", wardctl, conf) != 0)
		return 1;
	/* before any child: the daemon's syslog lines come to us */
	have_log = logcap_begin();
	dpid = start(NULL, sock);
	return dpid > 0 ? 0 : 1;
}

static int
teardown(void)
{
	if (dpid > 0) {
		kill(dpid, SIGKILL);
		waitpid(dpid, NULL, 0);
		dpid = -1;
	}
	logcap_stop();
	if (root != NULL) {
		tu_rmtree(root);
		free(root);
	}
	return 0;
}

/* ---- tests ---- */

static void
test_ping(void)
{
	struct wire_msg ans;

	CU_ASSERT_EQUAL_FATAL(ping_at(sock, &ans), 0);
	CU_ASSERT_EQUAL(ans.type, WIRE_PONG);
	CU_ASSERT_STRING_EQUAL(wire_get_str(&ans, WT_VERSION), WARD_VERSION);
	CU_ASSERT(strlen(wire_get_str(&ans, WT_POLICY_VERSION)) >= 12);
	wire_msg_wipe(&ans);
}

/* The daemon's answer equals `wardctl policy test` (allow and rule). */
static void
test_decide_matches_wardctl(void)
{
	static const char *const cases[][2] = {
		{ "alice", "ehr" }, { "alice", "rx" }, { "carol", "ehr" },
		{ "carol", "desk" }, { "nobody", "desk" }, { "zed", "ehr" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char cmd[1400], want_rule[256] = "", rule[256] = "", *out, *p;
		int st, want, got;

		snprintf(cmd, sizeof(cmd), "'%s' --config '%s' policy test --user %s --service %s",
		    wardctl, conf, cases[i][0], cases[i][1]);
		out = tu_run(cmd, 0, &st);
		CU_ASSERT_PTR_NOT_NULL_FATAL(out);
		want = strncmp(out, "ALLOW", 5) == 0 ? 1 : strncmp(out, "DENY", 4) == 0 ? 0 : -1;
		if ((p = strstr(out, "rule:")) != NULL)
			sscanf(p + 5, " %255s", want_rule);
		free(out);
		got = allowed(cases[i][0], cases[i][1], rule, sizeof(rule));
		if (got != want || strcmp(rule, want_rule) != 0)
			fprintf(stderr, "\n%s %s: wardd %d %s, wardctl %d %s\n", cases[i][0],
			    cases[i][1], got, rule, want, want_rule);
		CU_ASSERT_NOT_EQUAL(want, -1);
		CU_ASSERT_EQUAL(got, want);
		CU_ASSERT_STRING_EQUAL(rule, want_rule);
	}
	/* the obligations and roles travel too */
	{
		struct wire_msg ans;
		int64_t idle = 0;
		int mfa = -1;

		CU_ASSERT_EQUAL_FATAL(decide("alice", "ehr", &ans), 0);
		CU_ASSERT_EQUAL(ans.type, WIRE_DECISION);
		CU_ASSERT_STRING_EQUAL(wire_get_str(&ans, WT_ROLES), "clinician,nurse");
		CU_ASSERT_EQUAL(wire_get_i64(&ans, WT_IDLE_LOGOFF, &idle), 0);
		CU_ASSERT_EQUAL(idle, 600);
		CU_ASSERT_EQUAL(wire_get_bool(&ans, WT_MFA_REQUIRED, &mfa), 0);
		CU_ASSERT_EQUAL(mfa, 1);
		wire_msg_wipe(&ans);
		/* a malformed name is refused, not decided */
		CU_ASSERT_EQUAL(decide("al\nice", "ehr", &ans), 0);
		CU_ASSERT_EQUAL(ans.type, WIRE_ERROR);
		wire_msg_wipe(&ans);
	}
}

/* Run FN(ARG) in a child as user nobody; its exit status (0 = passed). */
static int
as_nobody(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		struct rlimit rl = { 12000, 12000 };

		(void)setrlimit(RLIMIT_NOFILE, &rl);
		if (setgroups(0, NULL) != 0 || setresgid(NOBODY, NOBODY, NOBODY) != 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) != 0)
			_exit(90);
		_exit(fn(arg));
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int
nobody_asks(void *arg)
{
	struct wire_msg ans;
	int64_t code = 0;
	int a = -1, r = 0;

	(void)arg;
	/* about itself: a decision */
	if (decide("nobody", "desk", &ans) != 0 || ans.type != WIRE_DECISION ||
	    wire_get_bool(&ans, WT_ALLOW, &a) != 0 || a != 1)
		r |= 1;
	wire_msg_wipe(&ans);
	/* about alice: permission denied */
	if (decide("alice", "ehr", &ans) != 0 || ans.type != WIRE_ERROR ||
	    wire_get_i64(&ans, WT_ERR_CODE, &code) != 0 || code != WARD_ERR_PERM ||
	    strcmp(wire_get_str(&ans, WT_ERR_TEXT), "permission denied") != 0)
		r |= 2;
	wire_msg_wipe(&ans);
	/* a prefix or a longer name is another name */
	if (decide("nobod", "desk", &ans) != 0 || ans.type != WIRE_ERROR)
		r |= 4;
	wire_msg_wipe(&ans);
	if (ping_at(sock, &ans) != 0 || ans.type != WIRE_PONG)
		r |= 8;
	wire_msg_wipe(&ans);
	return r;
}

static void
test_nonroot_asks_only_about_itself(void)
{
	int r = as_nobody(nobody_asks, NULL);

	if (r != 0)
		fprintf(stderr, "\nnobody_asks: %d\n", r);
	CU_ASSERT_EQUAL(r, 0);
	if (have_log)
		CU_ASSERT(in_log("asked about another user or host: refused"));
}

/* Bad clients are cut off; root is answered while they are still there. */
static void
test_bad_clients_cut_off(void)
{
	static const unsigned char huge[12] = { 'W', 'A', 'R', 'D', 0, 1, 0, 2, 0x40, 0, 0, 0 };
	static const char garbage[] = "GET / HTTP/1.0\r\n\r\n";
	struct wire_msg ans;
	struct timespec t0;
	int g = connect_to(sock, 0), h = connect_to(sock, 0);
	int silent = connect_to(sock, 0), half = connect_to(sock, 0);
	long answered;

	CU_ASSERT_FATAL(g >= 0 && h >= 0 && silent >= 0 && half >= 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(write(g, garbage, sizeof(garbage) - 1), (ssize_t)sizeof(garbage) - 1);
	CU_ASSERT_EQUAL(write(h, huge, sizeof(huge)), (ssize_t)sizeof(huge));
	CU_ASSERT_EQUAL(write(half, "WARD\0\1\0\2\0\0", 10), 10);
	/* root, meanwhile */
	CU_ASSERT_EQUAL(ping_at(sock, &ans), 0);
	answered = tu_ms_since(&t0);
	CU_ASSERT_EQUAL(ans.type, WIRE_PONG);
	wire_msg_wipe(&ans);
	CU_ASSERT(answered < 1000);
	/* the slow ones are still connected when root's answer came */
	CU_ASSERT_FALSE(closed_by_peer(silent));
	CU_ASSERT_FALSE(closed_by_peer(half));
	/* garbage and the 1 GiB length: an error frame, then the end */
	{
		struct timespec dl;
		int64_t code = 0;

		wire_deadline(&dl, 2000);
		CU_ASSERT_EQUAL(wire_recv(h, &ans, &dl), 0);
		CU_ASSERT_EQUAL(ans.type, WIRE_ERROR);
		CU_ASSERT_EQUAL(wire_get_i64(&ans, WT_ERR_CODE, &code), 0);
		CU_ASSERT_EQUAL(code, WARD_ERR_TOOBIG);
		wire_msg_wipe(&ans);
		CU_ASSERT_EQUAL(wire_recv(h, &ans, &dl), WARD_ERR_CLOSED);
		wire_msg_wipe(&ans);
		CU_ASSERT_EQUAL(wire_recv(g, &ans, &dl), 0);
		CU_ASSERT_EQUAL(ans.type, WIRE_ERROR);
		wire_msg_wipe(&ans);
		/* closed with garbage unread: a reset rather than a clean end */
		code = wire_recv(g, &ans, &dl);
		CU_ASSERT(code == WARD_ERR_CLOSED || code == WARD_ERR_IO);
		wire_msg_wipe(&ans);
	}
	/* the silent and the half frame: closed at the 5 s deadline */
	while (tu_ms_since(&t0) < 8000 && !(closed_by_peer(silent) && closed_by_peer(half)))
		usleep(50000);
	CU_ASSERT(tu_ms_since(&t0) >= 4500);
	CU_ASSERT(tu_ms_since(&t0) < 8000);
	close(g);
	close(h);
	close(silent);
	close(half);
	if (have_log) {
		CU_ASSERT(in_log("declared a frame over 64 KiB"));
		CU_ASSERT(in_log("request not complete within 5000 ms: cut off"));
	}
}

struct flood {
	int ready_fd, go_fd;
};

/* As nobody: 1,000 connections, report how many stayed open, then wait. */
/* ---- a login phase through the module's client side ---- */

#define SECRET "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

/* A scripted conversation: answers in order, a transcript of the rest. */
struct script {
	const char *answers[4];
	size_t n, next;
	char said[2048];
	char env[1024];
	int asked;
};

static void
sc_say(void *ctx, int error, const char *text)
{
	struct script *s = ctx;

	snprintf(s->said + strlen(s->said), sizeof(s->said) - strlen(s->said), "%s: %s\n",
	    error ? "error" : "info", text);
}

static char *
sc_ask(void *ctx, int echo, const char *prompt)
{
	struct script *s = ctx;

	s->asked++;
	snprintf(s->said + strlen(s->said), sizeof(s->said) - strlen(s->said),
	    "prompt%s: %s\n", echo ? "(echo)" : "", prompt);
	return s->next < s->n ? strdup(s->answers[s->next++]) : NULL;
}

static int
sc_setenv(void *ctx, const char *line)
{
	struct script *s = ctx;

	snprintf(s->env + strlen(s->env), sizeof(s->env) - strlen(s->env), "%s\n", line);
	return 0;
}

/* Run PHASE for USER on SERVICE with TOKEN (in and out); the client's
 * return, *RESULT and the script's transcript. */
static int
run_phase(uint32_t phase, const char *user, const char *service, char *token,
    struct script *sc, int *result)
{
	struct client_conv cv = { sc, sc_say, sc_ask, sc_setenv };
	struct client_req rq = { .phase = phase, .user = user, .service = service,
		.tty = "pts/7", .token = token[0] != '\0' ? token : NULL };
	char out[WIRE_TOKEN_HEX + 1], err[256];
	int r = client_phase(sock, &rq, &cv, result, out, err, sizeof(err));

	if (r == 0)
		memcpy(token, out, sizeof(out));
	else
		fprintf(stderr, "\nclient_phase: %s\n", err);
	return r;
}

static int
enroll_alice(void)
{
	return tu_sh("'%s' --config '%s' enroll alice --secret %s --qr none --force "
	    ">/dev/null 2>&1", wardctl, conf, SECRET);
}

#define FLOOD_N 10000

static int
flood(void *arg)
{
	struct flood *f = arg;
	static int fds[FLOOD_N];
	int open_now = 0;
	char c = 0;

	struct timespec t0;

	for (int i = 0; i < FLOOD_N; i++)
		fds[i] = connect_to(sock, 1);
	/* wardd cuts off all but WARDD_CONN_PER_UID: wait until it has (a
	 * loaded machine takes longer), at most 30 s, then count */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		open_now = 0;
		for (int i = 0; i < FLOOD_N; i++) {
			if (fds[i] >= 0 && closed_by_peer(fds[i])) {
				close(fds[i]);
				fds[i] = -1;
			}
			open_now += fds[i] >= 0;
		}
		if (open_now <= 8 || tu_ms_since(&t0) > 30000)
			break;
		usleep(100000);
	}
	c = (char)(open_now > 100 ? 100 : open_now);
	if (write(f->ready_fd, &c, 1) != 1)
		return 1;
	if (read(f->go_fd, &c, 1) < 0)      /* until the parent is done */
		return 1;
	return 0;
}

static void
test_flood_does_not_stop_root(void)
{
	int ready[2], go[2];
	struct flood f;
	struct wire_msg ans;
	struct timespec t0;
	pid_t pid;
	char n = -1;
	int st;

	CU_ASSERT_EQUAL_FATAL(pipe(ready), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(go), 0);
	f.ready_fd = ready[1];
	f.go_fd = go[0];
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		_exit(as_nobody(flood, &f) == 0 ? 0 : 1);
	}
	close(ready[1]);
	close(go[0]);
	CU_ASSERT_EQUAL(read(ready[0], &n, 1), 1);
	/* at most WARDD_CONN_PER_UID (8) of the 10,000 are kept */
	fprintf(stderr, "\n  nobody's connections kept open: %d of %d\n", n, FLOOD_N);
	CU_ASSERT(n >= 1 && n <= 8);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(ping_at(sock, &ans), 0);
	CU_ASSERT_EQUAL(ans.type, WIRE_PONG);
	wire_msg_wipe(&ans);
	CU_ASSERT_EQUAL(allowed("alice", "ehr", NULL, 0), 1);
	/* within the bound after which the module would fail closed */
	CU_ASSERT(tu_ms_since(&t0) < 5000);
	/* and a root login phase runs to its end */
	{
		struct script sc;
		char token[WIRE_TOKEN_HEX + 1] = "";
		int result = -1;

		memset(&sc, 0, sizeof(sc));
		CU_ASSERT_EQUAL(run_phase(WIRE_PH_AUTH, "carol", "desk", token, &sc, &result), 0);
		CU_ASSERT_EQUAL(result, WIRE_R_SUCCESS);
	}
	close(go[1]);
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(ready[0]);
}

static int
burst(void *arg)
{
	int ok = 0, busy = 0;

	(void)arg;
	for (int i = 0; i < 40; i++) {
		struct wire_msg ans;
		int64_t code = 0;

		if (ping_at(sock, &ans) == 0) {
			if (ans.type == WIRE_PONG)
				ok++;
			else if (wire_get_i64(&ans, WT_ERR_CODE, &code) == 0 &&
			    code == WARD_ERR_BUSY)
				busy++;
		}
		wire_msg_wipe(&ans);
	}
	/* a burst of 20 (plus what refills meanwhile), then refused */
	return ok >= 18 && ok < 40 && busy > 0 ? 0 : 1;
}

static void
test_rate_limit(void)
{
	sleep(2);      /* a full bucket */
	CU_ASSERT_EQUAL(as_nobody(burst, NULL), 0);
	/* root is not limited */
	for (int i = 0; i < 40; i++) {
		struct wire_msg ans;

		CU_ASSERT_EQUAL(ping_at(sock, &ans), 0);
		CU_ASSERT_EQUAL(ans.type, WIRE_PONG);
		wire_msg_wipe(&ans);
	}
}

static void
test_sighup_broken_policy_keeps_old(void)
{
	struct timespec t0;
	char rule[256];

	CU_ASSERT_EQUAL(allowed("alice", "ehr", rule, sizeof(rule)), 1);
	CU_ASSERT_EQUAL_FATAL(tu_write(policy, "roles = { nurse = { };\nrules = ( oops );\n",
	    (size_t)-1, 0644), 0);
	CU_ASSERT_EQUAL(kill(dpid, SIGHUP), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (have_log) {
		char want[700];

		snprintf(want, sizeof(want), "reload (SIGHUP) failed; policy version");
		while (!in_log(want) && tu_ms_since(&t0) < 5000)
			usleep(20000);
		CU_ASSERT(in_log(want));
		snprintf(want, sizeof(want), "%s:", policy);
		CU_ASSERT(in_log(want));
	} else {
		usleep(300000);
	}
	/* still the old policy deciding, on every path (the recheck too) */
	CU_ASSERT_EQUAL(allowed("alice", "ehr", rule, sizeof(rule)), 1);
	CU_ASSERT_STRING_EQUAL(rule, "nurses-ehr");
	usleep(1100000);
	CU_ASSERT_EQUAL(allowed("alice", "ehr", rule, sizeof(rule)), 1);
	CU_ASSERT_EQUAL(waitpid(dpid, NULL, WNOHANG), 0);
	CU_ASSERT_EQUAL(tu_write(policy, policy_v1, (size_t)-1, 0644), 0);
}

static void
test_edit_picked_up_without_signal(void)
{
	struct timespec t0;
	char rule[256] = "";
	int a = 1;

	/* nurses lose the EHR: their allow rule becomes a deny */
	CU_ASSERT_EQUAL_FATAL(tu_write(policy, policy_v2, (size_t)-1, 0644), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (tu_ms_since(&t0) < 5000 && (a = allowed("alice", "ehr", rule, sizeof(rule))) != 0)
		usleep(100000);
	CU_ASSERT_EQUAL(a, 0);
	CU_ASSERT_STRING_EQUAL(rule, "nurses-off");
	CU_ASSERT(tu_ms_since(&t0) < 2500);
	if (have_log)
		CU_ASSERT(in_log("reload (a policy file changed): policy version"));
	/* and back */
	CU_ASSERT_EQUAL(tu_write(policy, policy_v1, (size_t)-1, 0644), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (tu_ms_since(&t0) < 5000 && (a = allowed("alice", "ehr", NULL, 0)) != 1)
		usleep(100000);
	CU_ASSERT_EQUAL(a, 1);
}

/* nobody asks, root edits the policy, nobody asks again at once: the edit
 * decides (the files' identities are looked at for every peer's request,
 * not once a second for non-root ones). */
struct edit_sync {
	int ask[2], edited[2];
};

static int
nobody_sees_edit(void *arg)
{
	struct edit_sync *e = arg;
	char c = 0;
	int before = allowed("nobody", "desk", NULL, 0), after;

	if (write(e->ask[1], &c, 1) != 1 || read(e->edited[0], &c, 1) != 1)
		return 8;
	after = allowed("nobody", "desk", NULL, 0);
	return (before == 1 ? 0 : 1) | (after == 0 ? 0 : 2);
}

static void
test_edit_seen_at_once_by_nonroot(void)
{
	struct edit_sync e;
	char *edited = NULL, c = 0;
	const char *at;
	pid_t pid;
	int st;

	/* the clerks' desk rule turned into a deny */
	at = strstr(policy_v1, "\"clerks-desk\"; effect = \"allow\"");
	CU_ASSERT_PTR_NOT_NULL_FATAL(at);
	CU_ASSERT_FATAL(asprintf(&edited, "%.*s\"clerks-desk\"; effect = \"deny\"%s",
	    (int)(at - policy_v1), policy_v1,
	    at + strlen("\"clerks-desk\"; effect = \"allow\"")) > 0);
	CU_ASSERT_EQUAL_FATAL(pipe(e.ask), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(e.edited), 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0)
		_exit(as_nobody(nobody_sees_edit, &e));
	CU_ASSERT_EQUAL(read(e.ask[0], &c, 1), 1);
	CU_ASSERT_EQUAL(tu_write(policy, edited, (size_t)-1, 0644), 0);
	CU_ASSERT_EQUAL(write(e.edited[1], &c, 1), 1);
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		fprintf(stderr, "\n  nobody_sees_edit: %d\n", WEXITSTATUS(st));
	CU_ASSERT_EQUAL(tu_write(policy, policy_v1, (size_t)-1, 0644), 0);
	for (int i = 0; i < 2; i++) {
		close(e.ask[i]);
		close(e.edited[i]);
	}
	free(edited);
}

static void
test_unsafe_socket_folder_refused(void)
{
	char c2[600], text[2048], cmd[1400], *out;
	int st;

	snprintf(c2, sizeof(c2), "%s/ward-open.conf", root);
	snprintf(text, sizeof(text), "policy_file = \"%s\";\nstate_dir = \"%s/state\";\n"
	    "daemon = { socket = \"%s/open/wardd.sock\"; };\n", policy, root, root);
	CU_ASSERT_EQUAL_FATAL(tu_write(c2, text, (size_t)-1, 0644), 0);
	CU_ASSERT_EQUAL_FATAL(tu_sh("mkdir -p '%s/open' && chmod 1777 '%s/open'", root, root), 0);
	snprintf(cmd, sizeof(cmd), "'%s' --config '%s' --debug", wardd, c2);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_NOT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "not writable by group or others (refused)"));
	free(out);
	/* a file where the socket goes is not removed */
	CU_ASSERT_EQUAL_FATAL(tu_sh("chmod 0755 '%s/open' && echo keep >'%s/open/wardd.sock'",
	    root, root), 0);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_NOT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "exists and is not a socket (refused)"));
	free(out);
	/* and a second wardd does not take a live daemon's socket */
	snprintf(cmd, sizeof(cmd), "'%s' --config '%s' --debug", wardd, conf);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_NOT_EQUAL(st, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "another wardd answers there"));
	free(out);
}

static void
test_socket_activation(void)
{
	char path[600];
	struct wire_msg ans;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/activated.sock", root);
	pid = start(path, path);
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(ping_at(path, &ans), 0);
	CU_ASSERT_EQUAL(ans.type, WIRE_PONG);
	wire_msg_wipe(&ans);
	if (have_log)
		CU_ASSERT(in_log("ready on the socket systemd passed"));
	stop_expect_0(pid);
}

/* CPU seconds (user + system) process PID has used, or -1. */
static double
cpu_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Out of file descriptors (RLIMIT_NOFILE): accept fails with EMFILE while
 * the listening socket stays readable.  wardd must neither spin nor log
 * each failed accept, and must accept again once fds are free. */
static void
test_emfile_no_spin(void)
{
	char c3[600], path[600], text[2048];
	static int fds[40];
	struct wire_msg ans;
	struct timespec t0;
	double cpu0, cpu1;
	size_t said;
	pid_t pid;
	int st;

	snprintf(c3, sizeof(c3), "%s/ward-nofile.conf", root);
	snprintf(path, sizeof(path), "%s/run-nofile/wardd.sock", root);
	snprintf(text, sizeof(text), "policy_file = \"%s\";\nstate_dir = \"%s/state\";\n"
	    "daemon = { socket = \"%s\"; };\n", policy, root, path);
	CU_ASSERT_EQUAL_FATAL(tu_write(c3, text, (size_t)-1, 0644), 0);
	start_nofile = 16;
	pid = start_with(NULL, path, c3);
	start_nofile = 0;
	CU_ASSERT_FATAL(pid > 0);
	for (size_t i = 0; i < 40; i++)
		fds[i] = connect_to(path, 1);
	usleep(200000);
	said = log_count("accept: Too many open files");
	cpu0 = cpu_of(pid);
	usleep(1000000);
	cpu1 = cpu_of(pid);
	fprintf(stderr, "\n  at EMFILE: %.2f s CPU in 1 s, accept failures logged %zu times\n",
	    cpu1 - cpu0, log_count("accept: Too many open files"));
	CU_ASSERT(cpu0 >= 0 && cpu1 - cpu0 < 0.2);
	CU_ASSERT(log_count("accept: Too many open files") >= 1);
	CU_ASSERT(log_count("accept: Too many open files") - said <= 1);
	for (size_t i = 0; i < 40; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	/* fds free again: answered */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	st = -1;
	while (tu_ms_since(&t0) < 2000 && st != 0) {
		st = ping_at(path, &ans) == 0 && ans.type == WIRE_PONG ? 0 : -1;
		wire_msg_wipe(&ans);
		if (st != 0)
			usleep(50000);
	}
	CU_ASSERT_EQUAL(st, 0);
	stop_expect_0(pid);
}

/* As nobody: for 1 s, connect, send garbage, read the error, close; then
 * the same with PINGs over the request rate.  The number of rounds in
 * *ARG (an int). */
static int
bad_reconnects(void *arg)
{
	static const char garbage[] = "GET / HTTP/1.0\r\n\r\n";
	static const unsigned char ping[12] = { 'W', 'A', 'R', 'D', 0, 1, 0, 2, 0, 0, 0, 0 };
	int *rounds = arg;

	for (int pass = 0; pass < 2; pass++) {
		struct timespec t0;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (tu_ms_since(&t0) < 1000) {
			char buf[256];
			int fd = connect_to(sock, 0);

			if (fd < 0)
				continue;
			if (pass == 0)
				(void)!write(fd, garbage, sizeof(garbage) - 1);
			else
				(void)!write(fd, ping, sizeof(ping));
			(void)!read(fd, buf, sizeof(buf));
			close(fd);
			(*rounds)++;
		}
	}
	return *rounds > 0 ? 0 : 1;
}

/* A user reconnecting with bad frames (or over its rate) as fast as it
 * can does not write a log line per connection: lines about one non-root
 * uid are bounded, and how many were left out is said. */
static void
test_bad_reconnects_do_not_flood_log(void)
{
	size_t cut0 = log_count("uid 65534 pid"), said;
	int rounds = 0;

	sleep(2);      /* nobody's buckets full again */
	CU_ASSERT_EQUAL(as_nobody(bad_reconnects, &rounds), 0);
	usleep(200000);
	said = log_count("uid 65534 pid") - cut0;
	fprintf(stderr, "\n  log lines about uid 65534 in 2 s of bad reconnects: %zu\n", said);
	CU_ASSERT(said >= 1);
	CU_ASSERT(said <= 20);
	/* a second later, the next line says how many were left out */
	usleep(1200000);
	CU_ASSERT_EQUAL(as_nobody(bad_reconnects, &rounds), 0);
	usleep(200000);
	CU_ASSERT(log_count("lines about it left out of the log") >= 1);
}

/* A wardd whose socket file was removed (and taken by a second wardd)
 * must not remove the second one's socket when it stops. */
static void
test_stop_keeps_other_daemons_socket(void)
{
	char c4[600], path[600], text[2048];
	struct wire_msg ans;
	struct stat st;
	pid_t a, b;

	snprintf(c4, sizeof(c4), "%s/ward-two.conf", root);
	snprintf(path, sizeof(path), "%s/run-two/wardd.sock", root);
	snprintf(text, sizeof(text), "policy_file = \"%s\";\nstate_dir = \"%s/state\";\n"
	    "daemon = { socket = \"%s\"; };\n", policy, root, path);
	CU_ASSERT_EQUAL_FATAL(tu_write(c4, text, (size_t)-1, 0644), 0);
	a = start_with(NULL, path, c4);
	CU_ASSERT_FATAL(a > 0);
	CU_ASSERT_EQUAL(unlink(path), 0);
	b = start_with(NULL, path, c4);
	CU_ASSERT(b > 0);
	stop_expect_0(a);
	CU_ASSERT_EQUAL(lstat(path, &st), 0);
	CU_ASSERT_EQUAL(ping_at(path, &ans), 0);
	CU_ASSERT_EQUAL(ans.type, WIRE_PONG);
	wire_msg_wipe(&ans);
	if (b > 0)
		stop_expect_0(b);
	CU_ASSERT_NOT_EQUAL(lstat(path, &st), 0);      /* b removed its own */
}

/* The socket's folder in a folder every user may write (an unwise
 * daemon.socket, but one ward.conf allows): a user who puts a symlink
 * where wardd makes the folder, between its look and its mkdir, must not
 * get wardd to chmod what the link points at. */
static void
test_folder_race_chmods_nothing(void)
{
	char *pub = tu_mkdtemp("ward-pub");
	char c5[600], path[600], link[600], target[600], text[2048];
	struct stat st;
	int tries = 0, hit = 0;
	pid_t racer;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pub);
	CU_ASSERT_EQUAL_FATAL(chmod(pub, 01777), 0);
	snprintf(link, sizeof(link), "%s/ward", pub);
	snprintf(path, sizeof(path), "%s/ward/wardd.sock", pub);
	snprintf(target, sizeof(target), "%s/secret", root);
	snprintf(c5, sizeof(c5), "%s/ward-pub.conf", root);
	snprintf(text, sizeof(text), "policy_file = \"%s\";\nstate_dir = \"%s/state\";\n"
	    "daemon = { socket = \"%s\"; };\n", policy, root, path);
	CU_ASSERT_EQUAL_FATAL(tu_write(c5, text, (size_t)-1, 0644), 0);
	CU_ASSERT_EQUAL_FATAL(tu_write(target, "secret\n", (size_t)-1, 0600), 0);
	racer = fork();
	CU_ASSERT_FATAL(racer >= 0);
	if (racer == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (setgroups(0, NULL) != 0 || setresgid(NOBODY, NOBODY, NOBODY) != 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) != 0)
			_exit(90);
		for (;;) {
			(void)!symlink(target, link);
			(void)unlink(link);
		}
	}
	while (tries < 150 && !hit) {
		struct timespec t0;
		pid_t pid;

		tries++;
		(void)unlink(path);
		(void)rmdir(link);
		pid = fork();
		if (pid == 0) {
			int fd = open("/dev/null", O_WRONLY);

			dup2(fd, 1);
			dup2(fd, 2);
			execl(wardd, "wardd", "--config", c5, (char *)NULL);
			_exit(127);
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (tu_ms_since(&t0) < 60 && waitpid(pid, NULL, WNOHANG) == 0)
			usleep(2000);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		hit = stat(target, &st) == 0 && (st.st_mode & 07777) != 0600;
	}
	kill(racer, SIGKILL);
	waitpid(racer, NULL, 0);
	if (hit)
		fprintf(stderr, "\n  after %d starts: %s made mode %o\n", tries, target,
		    (unsigned)(st.st_mode & 07777));
	CU_ASSERT_FALSE(hit);
	tu_rmtree(pub);
	free(pub);
}

#define LONG_UID 4242

static int
long_entry_asks(void *arg)
{
	struct wire_msg ans;
	int r;

	(void)arg;
	r = decide("longgecos", "desk", &ans) == 0 && ans.type == WIRE_DECISION ? 0 : 1;
	if (r != 0 && ans.type == WIRE_ERROR)
		fprintf(stderr, "\n  longgecos about itself: %s\n", wire_get_str(&ans, WT_ERR_TEXT));
	wire_msg_wipe(&ans);
	return r;
}

/* A user whose passwd entry is longer than sysconf(_SC_GETPW_R_SIZE_MAX)
 * (1,024 bytes with glibc; a long GECOS, or a directory user) is still
 * answered about itself: getpwuid_r's ERANGE is not a "no". */
static void
test_long_passwd_entry(void)
{
	char pw[600], c6[600], path[500], text[2048], *sys, *all, gecos[3001];
	size_t len;
	pid_t pid;
	int r;

	memset(gecos, 'g', sizeof(gecos) - 1);
	gecos[sizeof(gecos) - 1] = '\0';
	snprintf(pw, sizeof(pw), "%s/passwd", root);
	sys = tu_read("/etc/passwd", &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sys);
	CU_ASSERT_FATAL(asprintf(&all, "%slonggecos:x:%d:%d:%s:/nonexistent:/bin/false\n", sys,
	    LONG_UID, LONG_UID, gecos) > 0);
	free(sys);
	CU_ASSERT_EQUAL_FATAL(tu_write(pw, all, (size_t)-1, 0644), 0);
	free(all);
	snprintf(c6, sizeof(c6), "%s/ward-pw.conf", root);
	snprintf(path, sizeof(path), "%s/run-pw/wardd.sock", root);
	snprintf(text, sizeof(text), "policy_file = \"%s\";\nstate_dir = \"%s/state\";\n"
	    "daemon = { socket = \"%s\"; };\n", policy, root, path);
	CU_ASSERT_EQUAL_FATAL(tu_write(c6, text, (size_t)-1, 0644), 0);
	start_passwd = pw;
	pid = start_with(NULL, path, c6);
	start_passwd = NULL;
	CU_ASSERT_FATAL(pid > 0);
	{
		pid_t c = fork();
		int st = -1;

		if (c == 0) {
			snprintf(sock, sizeof(sock), "%s", path);   /* decide() asks there */
			if (setgroups(0, NULL) != 0 || setresgid(LONG_UID, LONG_UID, LONG_UID) != 0 ||
			    setresuid(LONG_UID, LONG_UID, LONG_UID) != 0)
				_exit(90);
			_exit(long_entry_asks(NULL));
		}
		r = c > 0 && waitpid(c, &st, 0) == c && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	}
	CU_ASSERT_EQUAL(r, 0);
	stop_expect_0(pid);
}

/* As UID (no passwd entry): 8 connections to wardd, a byte on READY_FD,
 * then held until WAIT_FD reads end of file. */
static int
hold_as(int uid, int wait_fd, int ready_fd)
{
	int fds[8];
	char c = 0;

	if (setgroups(0, NULL) != 0 || setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) != 0 ||
	    setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0)
		return 90;
	for (int i = 0; i < 8; i++)
		fds[i] = connect_to(sock, 1);
	if (write(ready_fd, &c, 1) != 1)
		return 1;
	(void)!read(wait_fd, &c, 1);
	for (int i = 0; i < 8; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return 0;
}

/* A user with a range of subordinate uids (rootless containers: uids with
 * no passwd entry) opens 8 connections from each of 30 of them: a real
 * user is still answered.  Uids without a passwd entry share one count. */
static void
test_many_unnamed_uids_do_not_starve_users(void)
{
	pid_t kids[30];
	int go[2], ready[2], got = 0;
	struct wire_msg ans;
	char c;

	CU_ASSERT_EQUAL_FATAL(pipe(go), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(ready), 0);
	for (int i = 0; i < 30; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			close(go[1]);
			close(ready[0]);
			_exit(hold_as(300000 + i, go[0], ready[1]));
		}
	}
	close(go[0]);
	close(ready[1]);
	for (int i = 0; i < 30; i++)
		got += read(ready[0], &c, 1) == 1;
	CU_ASSERT_EQUAL(got, 30);
	usleep(300000);
	CU_ASSERT_EQUAL(as_nobody(nobody_asks, NULL), 0);
	/* root too */
	CU_ASSERT_EQUAL(ping_at(sock, &ans), 0);
	CU_ASSERT_EQUAL(ans.type, WIRE_PONG);
	wire_msg_wipe(&ans);
	close(go[1]);
	for (int i = 0; i < 30; i++)
		if (kids[i] > 0)
			waitpid(kids[i], NULL, 0);
	close(ready[0]);
}

/* wardd.service: wardd decides by the host name (host-scoped rules), read
 * at every reload.  ProtectHostname= gives it a UTS namespace of its own,
 * a copy of the name at start that never follows a later rename
 * (uts_namespaces(7)), so it must not be set; wardd cannot change the
 * name anyway (no CAP_SYS_ADMIN in its bounding set). */
static void
test_unit_follows_host_name(void)
{
	char path[600];
	size_t len;
	char *unit;

	snprintf(path, sizeof(path), "%s/contrib/system/wardd.service", tu_src());
	unit = tu_read(path, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(unit);
	CU_ASSERT_PTR_NULL(strstr(unit, "\nProtectHostname=yes"));
	CU_ASSERT_PTR_NOT_NULL(strstr(unit, "\nCapabilityBoundingSet=CAP_CHOWN\n"));
	free(unit);
}


/* ---- login phases (PHASE, ASK/REPLY, RESULT) through the client ---- */

/* auth asks for the code and keeps the factor in the transaction: account
 * then asks nothing, the session gets its variables, close ends it. */
static void
test_phase_login(void)
{
	struct script sc;
	char code[16], token[WIRE_TOKEN_HEX + 1] = "";
	int result = -1;

	CU_ASSERT_EQUAL_FATAL(enroll_alice(), 0);
	tu_totp_wait(1);
	CU_ASSERT_EQUAL_FATAL(tu_totp(SECRET, 0, code), 0);
	memset(&sc, 0, sizeof(sc));
	sc.answers[sc.n++] = code;
	CU_ASSERT_EQUAL(run_phase(WIRE_PH_AUTH, "alice", "ehr", token, &sc, &result), 0);
	CU_ASSERT_EQUAL(result, WIRE_R_SUCCESS);
	CU_ASSERT_EQUAL(sc.asked, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(sc.said, "prompt: Verification code: "));
	CU_ASSERT_EQUAL(strlen(token), WIRE_TOKEN_HEX);

	memset(&sc, 0, sizeof(sc));
	CU_ASSERT_EQUAL(run_phase(WIRE_PH_ACCOUNT, "alice", "ehr", token, &sc, &result), 0);
	CU_ASSERT_EQUAL(result, WIRE_R_SUCCESS);
	CU_ASSERT_EQUAL(sc.asked, 0);

	memset(&sc, 0, sizeof(sc));
	CU_ASSERT_EQUAL(run_phase(WIRE_PH_OPEN_SESSION, "alice", "ehr", token, &sc, &result),
	    0);
	CU_ASSERT_EQUAL(result, WIRE_R_SUCCESS);
	CU_ASSERT_PTR_NOT_NULL(strstr(sc.env, "WARD_ROLES=clinician,nurse\n") != NULL ?
	    strstr(sc.env, "WARD_ROLES=") : strstr(sc.env, "WARD_ROLES=nurse,clinician\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(sc.env, "WARD_IDLE_LOGOFF=600\n"));

	memset(&sc, 0, sizeof(sc));
	CU_ASSERT_EQUAL(run_phase(WIRE_PH_CLOSE_SESSION, "alice", "ehr", token, &sc, &result),
	    0);
	CU_ASSERT_EQUAL(result, WIRE_R_SUCCESS);

	/* a token of no transaction (or another peer's) starts afresh: the
	 * account phase then asks for the code itself, and a replayed code
	 * is refused with the user told why */
	memset(&sc, 0, sizeof(sc));
	sc.answers[sc.n++] = code;
	snprintf(token, sizeof(token), "%s", "0123456789abcdef0123456789abcdef");
	CU_ASSERT_EQUAL(run_phase(WIRE_PH_ACCOUNT, "alice", "ehr", token, &sc, &result), 0);
	CU_ASSERT_EQUAL(sc.asked, 1);
	CU_ASSERT_EQUAL(result, WIRE_R_PERM_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(sc.said, "error: That code was already used."));
	CU_ASSERT_NOT_EQUAL(strcmp(token, "0123456789abcdef0123456789abcdef"), 0);
}

static int
nobody_phases(void *arg)
{
	struct script sc;
	char token[WIRE_TOKEN_HEX + 1] = "";
	int result = -1, r = 0;

	/* root's transaction token, sent by nobody: not found for this uid, so
	 * a new transaction (another token) starts */
	snprintf(token, sizeof(token), "%s", (const char *)arg);
	memset(&sc, 0, sizeof(sc));
	if (run_phase(WIRE_PH_AUTH, "nobody", "desk", token, &sc, &result) != 0 ||
	    strcmp(token, (const char *)arg) == 0 || strlen(token) != WIRE_TOKEN_HEX)
		r |= 16;
	token[0] = '\0';
	/* its own name: the flow runs (nobody is not enrolled: refused, told) */
	memset(&sc, 0, sizeof(sc));
	sc.answers[sc.n++] = "123456";
	if (run_phase(WIRE_PH_AUTH, "nobody", "desk", token, &sc, &result) != 0 ||
	    result != WIRE_R_SUCCESS)
		r |= 1;      /* clerks-desk needs no code */
	memset(&sc, 0, sizeof(sc));
	sc.answers[sc.n++] = "123456";
	if (run_phase(WIRE_PH_AUTH, "nobody", "ehr", token, &sc, &result) != 0 ||
	    result != WIRE_R_AUTH_ERR || strstr(sc.said, "not enrolled") == NULL)
		r |= 2;
	/* another name, and any session phase: refused before any flow */
	memset(&sc, 0, sizeof(sc));
	if (run_phase(WIRE_PH_AUTH, "alice", "ehr", token, &sc, &result) != WARD_ERR_PERM ||
	    sc.asked != 0)
		r |= 4;
	memset(&sc, 0, sizeof(sc));
	if (run_phase(WIRE_PH_OPEN_SESSION, "nobody", "desk", token, &sc, &result) !=
	    WARD_ERR_PERM)
		r |= 8;
	return r;
}

static void
test_phase_nonroot(void)
{
	struct script sc;
	char token[WIRE_TOKEN_HEX + 1] = "", roots[WIRE_TOKEN_HEX + 1];
	int result = -1, r;

	/* a transaction of root's: its token carries on for root */
	memset(&sc, 0, sizeof(sc));
	CU_ASSERT_EQUAL(run_phase(WIRE_PH_AUTH, "carol", "desk", token, &sc, &result), 0);
	CU_ASSERT_EQUAL_FATAL(strlen(token), WIRE_TOKEN_HEX);
	memcpy(roots, token, sizeof(roots));
	CU_ASSERT_EQUAL(run_phase(WIRE_PH_ACCOUNT, "carol", "desk", token, &sc, &result), 0);
	CU_ASSERT_STRING_EQUAL(token, roots);
	r = as_nobody(nobody_phases, roots);

	if (r != 0)
		fprintf(stderr, "\nnobody_phases: %d\n", r);
	CU_ASSERT_EQUAL(r, 0);
}

/* Send a raw PHASE for alice's auth on FD and read the ASK. */
static int
start_raw_auth(int fd)
{
	struct wire_msg m;
	struct timespec dl;
	int r;

	wire_msg_init(&m, WIRE_PHASE);
	(void)wire_put_u32(&m, WT_PHASE, WIRE_PH_AUTH);
	(void)wire_put_str(&m, WT_USER, "alice");
	(void)wire_put_str(&m, WT_SERVICE, "ehr");
	wire_deadline(&dl, 3000);
	r = wire_send(fd, &m, &dl);
	wire_msg_wipe(&m);
	if (r == 0)
		r = wire_recv(fd, &m, &dl);
	if (r == 0 && m.type != WIRE_ASK)
		r = -1;
	wire_msg_wipe(&m);
	return r;
}

/* A person slow to type holds up nobody: while 8 prompts wait, another
 * login runs to its end; each waiting phase then finishes on its reply. */
static void
test_phase_typing_blocks_nobody(void)
{
	struct script sc;
	char token[WIRE_TOKEN_HEX + 1] = "", code[16];
	int fds[8], result = -1;

	for (int i = 0; i < 8; i++) {
		fds[i] = connect_to(sock, 0);
		CU_ASSERT_FATAL(fds[i] >= 0);
		CU_ASSERT_EQUAL(start_raw_auth(fds[i]), 0);
	}
	memset(&sc, 0, sizeof(sc));
	CU_ASSERT_EQUAL(run_phase(WIRE_PH_AUTH, "carol", "desk", token, &sc, &result), 0);
	CU_ASSERT_EQUAL(result, WIRE_R_SUCCESS);
	/* the waiting ones: a wrong answer each, then a RESULT */
	CU_ASSERT_EQUAL_FATAL(tu_totp(SECRET, 0, code), 0);
	code[0] = code[0] == '9' ? '0' : (char)(code[0] + 1);
	for (int i = 0; i < 8; i++) {
		struct wire_msg m;
		struct timespec dl;
		uint32_t res = 0;

		wire_msg_init(&m, WIRE_REPLY);
		(void)wire_put_str(&m, WT_ANSWER, code);
		wire_deadline(&dl, 5000);
		CU_ASSERT_EQUAL(wire_send(fds[i], &m, &dl), 0);
		wire_msg_wipe(&m);
		CU_ASSERT_EQUAL(wire_recv(fds[i], &m, &dl), 0);
		CU_ASSERT_EQUAL(m.type, WIRE_RESULT);
		(void)wire_get_u32(&m, WT_RESULT, &res);
		/* wrong, until the lockout (MAXTRIES) */
		CU_ASSERT(res == WIRE_R_AUTH_ERR || (i > 0 && res == WIRE_R_MAXTRIES));
		wire_msg_wipe(&m);
		close(fds[i]);
	}
	/* 8 wrong codes lock alice out: unlock her for the tests after this */
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock alice >/dev/null 2>&1", wardctl,
	    conf), 0);
}

/* A client gone in the middle of a phase: the flow ends on its denying
 * path (recorded), and wardd serves the next one. */
static void
test_phase_client_gone(void)
{
	struct script sc;
	char token[WIRE_TOKEN_HEX + 1] = "";
	int fd = connect_to(sock, 0), result = -1;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(start_raw_auth(fd), 0);
	close(fd);
	memset(&sc, 0, sizeof(sc));
	CU_ASSERT_EQUAL(run_phase(WIRE_PH_AUTH, "carol", "desk", token, &sc, &result), 0);
	CU_ASSERT_EQUAL(result, WIRE_R_SUCCESS);
}

/* A service name with a newline (a forged log line) or of another form
 * than a name is refused before any flow, for root too; nothing is
 * logged but its size. */
static void
test_phase_bad_service_refused(void)
{
	static const char *const bad[] = { "ehr\nwardd[1]: user mallory allowed", "", "a/b",
		"\xff\xfe" };
	struct script sc;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char token[WIRE_TOKEN_HEX + 1] = "";
		int result = -1;

		memset(&sc, 0, sizeof(sc));
		CU_ASSERT_EQUAL(run_phase(WIRE_PH_AUTH, "alice", bad[i], token, &sc, &result),
		    WARD_ERR_INVAL);
		CU_ASSERT_EQUAL(sc.asked, 0);
		CU_ASSERT_EQUAL(result, 0);
	}
	CU_ASSERT(in_log("sent a malformed service name"));
	CU_ASSERT(!in_log("user mallory allowed"));
}

/* No code given (the person gave no answer, or the program cannot ask:
 * sshd after a public key): each phase refuses, records and says why. */
static void
test_phase_no_code_recorded(void)
{
	struct script sc;
	char token[WIRE_TOKEN_HEX + 1] = "", log[600];
	int result = -1, before_auth, before_acct;

	snprintf(log, sizeof(log), "%s/log/audit.log", root);
	before_auth = tu_count_lines(log, "\"user\":\"alice\"", "\"event\":\"auth\"",
	    "no code given", NULL);
	before_acct = tu_count_lines(log, "\"user\":\"alice\"", "\"event\":\"account\"",
	    "\"result\":\"deny\"", "no code given", NULL);
	memset(&sc, 0, sizeof(sc));        /* no answers: every prompt gets none */
	CU_ASSERT_EQUAL(run_phase(WIRE_PH_AUTH, "alice", "ehr", token, &sc, &result), 0);
	CU_ASSERT_EQUAL(result, WIRE_R_AUTH_ERR);
	CU_ASSERT_EQUAL(sc.asked, 1);
	CU_ASSERT_STRING_EQUAL(sc.said, "prompt: Verification code: \nerror: Access denied: "
	    "a verification code is required, and none was given.\n");
	memset(&sc, 0, sizeof(sc));
	token[0] = '\0';
	CU_ASSERT_EQUAL(run_phase(WIRE_PH_ACCOUNT, "alice", "ehr", token, &sc, &result), 0);
	CU_ASSERT_EQUAL(result, WIRE_R_PERM_DENIED);
	CU_ASSERT_EQUAL(sc.asked, 1);
	CU_ASSERT_STRING_EQUAL(sc.said, "prompt: Verification code: \nerror: Access denied: "
	    "a verification code is required, and none was given.\n");
	CU_ASSERT_EQUAL(tu_count_lines(log, "\"user\":\"alice\"", "\"event\":\"auth\"",
	    "no code given", NULL), before_auth + 1);
	CU_ASSERT_EQUAL(tu_count_lines(log, "\"user\":\"alice\"", "\"event\":\"account\"",
	    "\"result\":\"deny\"", "no code given", NULL), before_acct + 1);
	CU_ASSERT(in_log("user alice service ehr: no code given"));
}

/* Nobody listening: an error at once, never a result. */
static void
test_phase_no_daemon(void)
{
	struct client_conv cv = { NULL, sc_say, sc_ask, sc_setenv };
	struct client_req rq = { .phase = WIRE_PH_AUTH, .user = "alice", .service = "ehr" };
	char out[WIRE_TOKEN_HEX + 1], err[256], path[600];
	struct timespec t0;
	int result = -1;

	snprintf(path, sizeof(path), "%s/run/nobody-here.sock", root);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(client_phase(path, &rq, &cv, &result, out, err, sizeof(err)),
	    WARD_ERR_UNAVAIL);
	CU_ASSERT_EQUAL(result, 0);
	CU_ASSERT(tu_ms_since(&t0) < 1000);
}

/* SIGTERM with a request half sent: it is answered, then wardd exits 0. */
static void
test_sigterm_finishes_and_exits_0(void)
{
	unsigned char frame[WIRE_HEADER_LEN];
	struct wire_msg ans;
	struct timespec dl;
	int fd = connect_to(sock, 0), st;
	struct stat sst;

	CU_ASSERT_FATAL(fd >= 0);
	memcpy(frame, "WARD\0\1\0\2\0\0\0\0", 12);
	CU_ASSERT_EQUAL(write(fd, frame, 6), 6);
	usleep(100000);
	CU_ASSERT_EQUAL(kill(dpid, SIGTERM), 0);
	usleep(300000);
	CU_ASSERT_EQUAL(waitpid(dpid, NULL, WNOHANG), 0);     /* still serving it */
	CU_ASSERT_EQUAL(write(fd, frame + 6, 6), 6);
	wire_deadline(&dl, 3000);
	CU_ASSERT_EQUAL(wire_recv(fd, &ans, &dl), 0);
	CU_ASSERT_EQUAL(ans.type, WIRE_PONG);
	wire_msg_wipe(&ans);
	close(fd);
	st = wait_exit(dpid, 5000);
	CU_ASSERT(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (st != -1)
		dpid = -1;
	CU_ASSERT_NOT_EQUAL(lstat(sock, &sst), 0);     /* its socket is gone */
	/* its last record says it stopped (ward.conf(5) audit.head_interval,
	 * default 300), and the chain still verifies with it */
	{
		char cmd[1400], *out;

		snprintf(cmd, sizeof(cmd), "tail -n 1 '%s/log/audit.log'", root);
		out = tu_run(cmd, 0, &st);
		CU_ASSERT_PTR_NOT_NULL_FATAL(out);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"user\":null,\"event\":\"head\","
		    "\"result\":\"success\""));
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"detail\":\"shutdown; interval 300\""));
		free(out);
		snprintf(cmd, sizeof(cmd), "'%s' --config '%s' audit verify", wardctl, conf);
		out = tu_run(cmd, 1, &st);
		CU_ASSERT_EQUAL(st, 0);
		free(out);
	}
}

int
main(void)
{
	CU_pSuite s;
	unsigned fails;

	signal(SIGPIPE, SIG_IGN);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("wardd", setup, teardown);
	CU_add_test(s, "PING answers version and policy version", test_ping);
	CU_add_test(s, "DECIDE agrees with wardctl policy test", test_decide_matches_wardctl);
	CU_add_test(s, "a non-root peer asks only about itself",
	    test_nonroot_asks_only_about_itself);
	CU_add_test(s, "garbage, 1 GiB length, silence, half frame cut off; root answered",
	    test_bad_clients_cut_off);
	CU_add_test(s, "10,000 connections of one user do not stop a root login",
	    test_flood_does_not_stop_root);
	CU_add_test(s, "per-uid request rate limit, root exempt", test_rate_limit);
	CU_add_test(s, "SIGHUP with a broken policy keeps the old one, logged",
	    test_sighup_broken_policy_keeps_old);
	CU_add_test(s, "an edited policy is picked up without a signal",
	    test_edit_picked_up_without_signal);
	CU_add_test(s, "an edit decides a non-root peer's next request at once",
	    test_edit_seen_at_once_by_nonroot);
	CU_add_test(s, "unsafe socket folder, a file in the way, a live daemon: refused",
	    test_unsafe_socket_folder_refused);
	CU_add_test(s, "systemd socket activation (systemd-socket-activate)",
	    test_socket_activation);
	CU_add_test(s, "out of file descriptors: no busy loop, no log flood, recovers",
	    test_emfile_no_spin);
	CU_add_test(s, "a user reconnecting with bad frames does not flood the log",
	    test_bad_reconnects_do_not_flood_log);
	CU_add_test(s, "a stopping wardd leaves another wardd's socket at its path",
	    test_stop_keeps_other_daemons_socket);
	CU_add_test(s, "a symlink raced in where the socket folder is made: nothing chmodded",
	    test_folder_race_chmods_nothing);
	CU_add_test(s, "a passwd entry over 1,024 bytes: the user is answered about itself",
	    test_long_passwd_entry);
	CU_add_test(s, "8 connections from each of 30 uids without a passwd entry: users answered",
	    test_many_unnamed_uids_do_not_starve_users);
	CU_add_test(s, "wardd.service does not freeze the host name (ProtectHostname)",
	    test_unit_follows_host_name);
	CU_add_test(s, "a login's phases relayed: code asked once, factor kept, session vars",
	    test_phase_login);
	CU_add_test(s, "a non-root peer runs its own auth and account only",
	    test_phase_nonroot);
	CU_add_test(s, "8 people at the prompt hold up no other login",
	    test_phase_typing_blocks_nobody);
	CU_add_test(s, "a client gone mid-phase: the next is served", test_phase_client_gone);
	CU_add_test(s, "a malformed service name is refused before any flow",
	    test_phase_bad_service_refused);
	CU_add_test(s, "no code given: each phase refuses and records why",
	    test_phase_no_code_recorded);
	CU_add_test(s, "no wardd: an error at once, never a result", test_phase_no_daemon);
	CU_add_test(s, "SIGTERM finishes the request in flight, exits 0",
	    test_sigterm_finishes_and_exits_0);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
