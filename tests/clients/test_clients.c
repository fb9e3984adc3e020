/*
 * test_clients.c - the real login programs with the contrib stacks, end to
 * end, as a sysadmin deploys them: a private sshd driven by the ssh
 * client, sudo, su and "su -" (service su-l), and a screen locker
 * (pamtester on the xscreensaver stack, run as the user), each through a
 * pseudo-terminal, against the wardd this suite starts, with the freshly
 * built pam_ward.so (staged as for the other PAM suites).
 *
 * Nothing on the host changes, even when the suite is killed: it runs in
 * a mount and a UTS namespace of its own (unshare(CLONE_NEWNS |
 * CLONE_NEWUTS), every mount private), where the host name is it-ws-01,
 * /etc/passwd, shadow, group, gshadow, hosts and sudoers, the folder
 * /etc/pam.d and the login records (/var/log/wtmp, btmp, lastlog) are the
 * suite's own files bound over the host's, and /run is a tmpfs.  They all
 * go with the namespace.  The test's users exist only there.  sshd listens
 * on a free loopback port with its own host key and sshd_config; a host
 * sshd, if any, is neither used nor touched.  Every process the suite
 * starts (wardd, sshd, each program under a pty) is stopped by its pid at
 * exit or on SIGINT/SIGTERM, and dies with the suite (PR_SET_PDEATHSIG;
 * a setuid program under a pty gets SIGHUP when the pty closes).
 *
 * For each case the suite checks what the person saw on the terminal and
 * exactly the audit records of that user (wardctl audit query --json), in
 * order, as pam_ward(8) "AUDIT" promises.  Codes come from oathtool.  No
 * step of a case depends on how long anything takes: each answer is typed
 * once the program is blocked reading its terminal (/proc/PID/syscall),
 * and the guards (30 s) only turn a hang into a failure.  The transcripts
 * are printed, so that the suite's output shows what users see.
 */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define HOST "it-ws-01"
#define PASSWORD "Wt-pass-1"
#define GUARD_MS 30000

/* The suite's users: each case has its own, so that no case waits for the
 * next time step (a user's watermark is the step of its last code). */
static const struct {
	const char *user, *role, *b32;
} users[] = {
	{ "sdok",     "it_admin",     "2KFGOJSCKY25GHQ42ZUN2SHZ3XDDGWOC" },
	{ "sdbad",    "it_admin",     "WRCZVRRZUX42SN7NBT2RT2S33FIXZAXP" },
	{ "sdclerk",  "clerk",        "TPNM3JJ5RIQ36PDNNCDNHYCUFGHJP4ZB" },
	{ "sdnurse",  "nurse",        "66NXUUUVX42SY6KUELTDD42YCWXNLGK6" },
	{ "sdtz",     "oncall_admin", "RNSHHW5EYZEK2Y5EUKHVIO2S5UVTVE7U" },
	{ "sdsilent", "it_admin",     "BHCH3TEDV5Z3EYYW7GAOLO5CCYLIVCYF" },
	{ "suok",     "it_admin",     "2AATKA7AUUCGRET2H6WCFT5FA2W2BYXW" },
	{ "subad",    "it_admin",     "Z7DBNTHRXONJMCCVVBIV7LWK75DELUPF" },
	{ "suclerk",  "clerk",        "ONMSRV2SW3JUAPHBBJUZ466M7T53MDJK" },
	{ "sunurse",  "nurse",        "DU6AVNCFJDBO4YEUDVO77BW7VJ3THOI5" },
	{ "sulok",    "it_admin",     "4QCFSYUOZSBIOD64VYQLERUQ5TSAJIOR" },
	{ "shok",     "it_admin",     "6TX4BAOL7KVOZEC2SNY4JBOFO2QUPD72" },
	{ "shbad",    "it_admin",     "SVEAMWYTCKKIMVZXH5ZOQCU4AJRWFK4U" },
	{ "shclerk",  "clerk",        "DTZTYPAF3GKIQ6ONOTJCRWOSXQWE6CAI" },
	{ "shkey",    "it_admin",     "PEUQIZN7MQO7BVHZEV7DTZSKVVCKBSKS" },
	{ "shpub",    "it_admin",     "UBLKYZNMBH33Z3EFCQUH4QS2FC3TB54A" },
	{ "shnurse",  "nurse",        "VMKZGLXZVHGYUL35HVIKJBHJFW6XZTIB" },
	{ "lkok",     "nurse",        "C3DGYPPPIPFNTT5CNXB2KV346VMFCBLB" },
	{ "caller",   NULL,           NULL },   /* runs su; holds no role */
};
#define NUSERS (sizeof(users) / sizeof(users[0]))
#define UID0 61201

static char root[512], conf[700], sock[700], wardctl[700], module[700], ns[700];
static char sshcfg[700], sshlog[700];
static pid_t dpid = -1, sshd_pid = -1;
static int ssh_port;

/* ---- the processes this suite started, stopped by pid ---- */

static volatile pid_t kids[4];

static void
kid_add(pid_t pid)
{
	for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
		if (kids[i] <= 0) {
			kids[i] = pid;
			return;
		}
}

static void
kid_del(pid_t pid)
{
	for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
		if (kids[i] == pid)
			kids[i] = 0;
}

static void
kill_kids(void)
{
	for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			(void)waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
}

static void
on_signal(int sig)
{
	kill_kids();
	tu_wardd_stop_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- the audit log ---- */

static const char *
b32_of(const char *user)
{
	for (size_t i = 0; i < NUSERS; i++)
		if (strcmp(users[i].user, user) == 0)
			return users[i].b32;
	return NULL;
}

static void
code_of(const char *user, long offset, char out[16])
{
	CU_ASSERT_EQUAL_FATAL(tu_totp(b32_of(user), offset, out), 0);
}

/* USER's audit records, as JSON lines (malloc'd). */
static char *
audit_json(const char *user)
{
	char cmd[1600], *out;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' --config '%s' audit query --json --user %s", wardctl,
	    conf, user);
	out = tu_run(cmd, 0, &st);
	if (st != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* The value of "KEY": in the JSON line LINE, into OUT ("" when absent). */
static void
json_str(const char *line, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p, *e;

	out[0] = '\0';
	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	if ((p = strstr(line, pat)) == NULL)
		return;
	p += strlen(pat);
	if ((e = strchr(p, '"')) == NULL)
		return;
	snprintf(out, len, "%.*s", (int)(e - p), p);
}

/* USER's records as "event:result" (and "/reason" where WITH_REASON and the
 * record has one), space separated, in order. */
static void
audit_seq(const char *user, char *out, size_t len)
{
	char *text = audit_json(user), *line, *save = NULL;
	size_t n = 0;

	out[0] = '\0';
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char ev[64], res[64], why[256];

		json_str(line, "event", ev, sizeof(ev));
		json_str(line, "result", res, sizeof(res));
		json_str(line, "reason", why, sizeof(why));
		n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s:%s%s%s",
		    n ? " " : "", ev, res, why[0] ? "/" : "", why);
		if (n >= len)
			break;
	}
	free(text);
}

/* Wait until USER's records are WANT (a session closes after the client
 * has gone), then check they are exactly that. */
static void
audit_is(const char *user, const char *want)
{
	char got[4096];
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		audit_seq(user, got, sizeof(got));
		/* wait only while the records so far begin what is wanted */
		if (strcmp(got, want) == 0 || strncmp(want, got, strlen(got)) != 0 ||
		    tu_ms_since(&t0) > GUARD_MS)
			break;
		usleep(50000);
	}
	if (strcmp(got, want) != 0)
		fprintf(stderr, "audit records of %s:\n  got:  %s\n  want: %s\n", user, got, want);
	CU_ASSERT_STRING_EQUAL(got, want);
}

/* ---- a program under a pseudo-terminal ---- */

static char tty[32768];
static size_t tty_len;

/* Is PID blocked reading its terminal (/proc/PID/syscall: read(2) on a
 * descriptor that is SLAVE or /dev/tty)? */
static int
reading_tty(pid_t pid, const char *slave)
{
	char path[64], buf[256], link[256];
	long nr = -1;
	unsigned long fd = 0;
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/syscall", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n > 0 ? n : 0] = '\0';
	if (sscanf(buf, "%ld 0x%lx", &nr, &fd) != 2 || nr != 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/fd/%lu", (long)pid, fd);
	if ((n = readlink(path, link, sizeof(link) - 1)) < 0)
		return 0;
	link[n] = '\0';
	return strcmp(link, slave) == 0 || strcmp(link, "/dev/tty") == 0;
}

/* Read what the program wrote (carriage returns dropped) until the
 * transcript from *AT holds WANT (NULL: until the terminal closes).
 * 0, or -1 when the guard ran out or the terminal closed first. */
static int
read_until(int master, const char *want, size_t *at)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		char buf[1024];
		ssize_t n;

		if (want != NULL) {
			const char *hit = strstr(tty + *at, want);
			if (hit != NULL) {
				*at = (size_t)(hit - tty) + strlen(want);
				return 0;
			}
		}
		if (tu_ms_since(&t0) > GUARD_MS)
			return -1;
		if (poll(&p, 1, 200) <= 0)
			continue;
		n = read(master, buf, sizeof(buf));
		if (n <= 0)
			return want == NULL ? 0 : -1;     /* EIO: every writer has gone */
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != '\r' && tty_len + 1 < sizeof(tty))
				tty[tty_len++] = buf[i];
		tty[tty_len] = '\0';
	}
}

/*
 * Run ARGV under a new pseudo-terminal, as user AS (NULL: root), with TZ
 * (when not NULL) in its environment.  STEPS is a list of pairs, NULL
 * ended: text to wait for, then the line to type (NULL: type nothing).
 * The transcript is in tty[] (and printed under TITLE).  Returns the
 * program's exit status, or -1 (a step not seen: the program is killed).
 */
static int
run_tty(const char *title, const char *as, const char *const argv[], const char *tz,
    const char *const steps[])
{
	char slave[128], home[600], user[80], envtz[80];
	struct passwd *pw = NULL;
	size_t at = 0;
	int master, st = -1, ok = 1;
	pid_t pid;

	tty_len = 0;
	tty[0] = '\0';
	if (as != NULL && (pw = getpwnam(as)) == NULL)
		return -1;
	snprintf(home, sizeof(home), "HOME=%s", pw ? pw->pw_dir : "/root");
	snprintf(user, sizeof(user), "USER=%s", pw ? pw->pw_name : "root");
	snprintf(envtz, sizeof(envtz), "TZ=%s", tz ? tz : "");
	pid = forkpty(&master, slave, NULL, NULL);
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin", term[] = "TERM=dumb",
		    lang[] = "LANG=C";
		char *envp[] = { path, term, lang, home, user, tz ? envtz : NULL, NULL };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (pw != NULL && (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
		    setuid(pw->pw_uid) != 0))
			_exit(126);
		if (chdir("/") != 0)
			_exit(126);
		execve(argv[0], (char *const *)argv, envp);
		_exit(127);
	}
	kid_add(pid);
	for (size_t i = 0; steps[i] != NULL; i += 2) {
		if (read_until(master, steps[i], &at) != 0) {
			fprintf(stderr, "%s: did not see \"%s\"\n", title, steps[i]);
			ok = 0;
			break;
		}
		if (steps[i + 1] != NULL) {
			struct timespec t0;

			/* typed once the program reads: an answer typed before
			 * it turns echo off could be flushed */
			clock_gettime(CLOCK_MONOTONIC, &t0);
			while (!reading_tty(pid, slave) && tu_ms_since(&t0) < GUARD_MS)
				usleep(2000);
			if (write(master, steps[i + 1], strlen(steps[i + 1])) < 0 ||
			    write(master, "\n", 1) != 1)
				ok = 0;
		}
	}
	if (!ok)
		kill(pid, SIGKILL);
	else
		(void)read_until(master, NULL, &at);
	if (waitpid(pid, &st, 0) != pid)
		st = -1;
	kid_del(pid);
	close(master);
	printf("---- %s (exit %d) ----\n%s\n", title,
	    ok && WIFEXITED(st) ? WEXITSTATUS(st) : -1, tty);
	fflush(stdout);
	return ok && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
seen(const char *text)
{
	return strstr(tty, text) != NULL;
}

/* ---- the namespace and its files ---- */

static int
bind_file(const char *src, const char *dst)
{
	if (mount(src, dst, NULL, MS_BIND, NULL) != 0) {
		fprintf(stderr, "bind %s over %s: %s\n", src, dst, strerror(errno));
		return -1;
	}
	return 0;
}

/* Write a pam.d stack: the contrib file NAME with pam_ward.so named by the
 * staged module's path and the suite's socket, EXTRA (when not NULL)
 * before it.  Only the module's name changes. */
static int
write_stack(const char *as, const char *name, const char *extra)
{
	return tu_sh("{ printf '%%b' '%s'; sed 's#pam_ward\\.so#%s socket=%s#' '%s/contrib/pam.d/%s'; }"
	    " > '%s/pam.d/%s' && chmod 0644 '%s/pam.d/%s'", extra ? extra : "", module, sock,
	    tu_src(), name, ns, as, ns, as);
}

/* The sudoers file, written in place (it is bound over /etc/sudoers),
 * without contrib/sudoers.d/ward: sudo calls PAM with PAM_SILENT, as
 * Debian 12's always does, and the stack's show_messages lets Ward's
 * lines through. */
static int
write_sudoers(void)
{
	char path[800], *text;
	int fd, r = -1;

	snprintf(path, sizeof(path), "%s/sudoers", ns);
	if (asprintf(&text, "# the test's sudoers: every user may ask; Ward decides\n"
	    "Defaults env_reset, !lecture, passwd_tries=1, timestamp_timeout=0\n"
	    "root ALL=(ALL:ALL) ALL\nALL ALL=(ALL:ALL) ALL\n") < 0)
		return -1;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0440)) >= 0) {
		r = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
		if (fchown(fd, 0, 0) != 0)
			r = -1;
		if (close(fd) != 0)
			r = -1;
	}
	free(text);
	return r == 0 ? chmod(path, 0440) : -1;
}

/* passwd, shadow, group, gshadow: the host's, without the suite's user
 * names, plus the suite's users. */
static int
write_accounts(void)
{
	char names[1024] = "", *hash, cmd[800];
	size_t n = 0;
	int st;
	FILE *pw, *sh, *gr, *gs;
	char path[4][800];

	for (size_t i = 0; i < NUSERS; i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? "|" : "",
		    users[i].user);
	snprintf(cmd, sizeof(cmd), "openssl passwd -6 -salt wardtest '%s'", PASSWORD);
	if ((hash = tu_run(cmd, 0, &st)) == NULL || st != 0)
		return -1;
	hash[strcspn(hash, "\n")] = '\0';
	if (tu_sh("cd '%s' && for f in passwd shadow group gshadow; do "
	    "grep -vE '^(%s):' /etc/$f > $f || true; done && "
	    "chown root:shadow shadow gshadow && chmod 0640 shadow gshadow && "
	    "chmod 0644 passwd group", ns, names) != 0) {
		free(hash);
		return -1;
	}
	snprintf(path[0], sizeof(path[0]), "%s/passwd", ns);
	snprintf(path[1], sizeof(path[1]), "%s/shadow", ns);
	snprintf(path[2], sizeof(path[2]), "%s/group", ns);
	snprintf(path[3], sizeof(path[3]), "%s/gshadow", ns);
	pw = fopen(path[0], "a");
	sh = fopen(path[1], "a");
	gr = fopen(path[2], "a");
	gs = fopen(path[3], "a");
	for (size_t i = 0; pw && sh && gr && gs && i < NUSERS; i++) {
		fprintf(pw, "%s:x:%zu:%zu::%s/home/%s:/bin/sh\n", users[i].user, UID0 + i,
		    UID0 + i, root, users[i].user);
		fprintf(sh, "%s:%s:19000:0:99999:7:::\n", users[i].user, hash);
		fprintf(gr, "%s:x:%zu:\n", users[i].user, UID0 + i);
		fprintf(gs, "%s:!::\n", users[i].user);
		if (tu_sh("mkdir -p '%s/home/%s' && chown %zu:%zu '%s/home/%s'", root,
		    users[i].user, UID0 + i, UID0 + i, root, users[i].user) != 0)
			st = -1;
	}
	free(hash);
	if (pw == NULL || sh == NULL || gr == NULL || gs == NULL)
		st = -1;
	if (pw != NULL && fclose(pw) != 0)
		st = -1;
	if (sh != NULL && fclose(sh) != 0)
		st = -1;
	if (gr != NULL && fclose(gr) != 0)
		st = -1;
	if (gs != NULL && fclose(gs) != 0)
		st = -1;
	return st == 0 ? 0 : -1;
}

/* The mount namespace: the suite's files over the host's. */
static int
enter_namespace(void)
{
	static const char *const files[] = { "passwd", "shadow", "group", "gshadow", "hosts",
		"sudoers" };
	static const char *const records[] = { "/var/log/wtmp", "/var/log/btmp",
		"/var/log/lastlog" };
	char src[800], dst[800];
	struct stat sb;

	if (unshare(CLONE_NEWNS | CLONE_NEWUTS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    sethostname(HOST, strlen(HOST)) != 0) {
		fprintf(stderr, "cannot make a private mount namespace: %s\n", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(src, sizeof(src), "%s/%s", ns, files[i]);
		snprintf(dst, sizeof(dst), "/etc/%s", files[i]);
		if (bind_file(src, dst) != 0)
			return -1;
	}
	snprintf(src, sizeof(src), "%s/pam.d", ns);
	if (bind_file(src, "/etc/pam.d") != 0)
		return -1;
	for (size_t i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
		if (stat(records[i], &sb) != 0)
			continue;
		snprintf(src, sizeof(src), "%s/%s", ns, strrchr(records[i], '/') + 1);
		if (tu_write(src, "", 0, 0664) != 0 || bind_file(src, records[i]) != 0)
			return -1;
	}
	if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0 ||
	    mkdir("/run/sshd", 0755) != 0) {
		fprintf(stderr, "tmpfs on /run: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- sshd ---- */


static int
port_open(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return r;
}

static int
start_sshd(void)
{
	char text[2048];
	struct timespec t0;

	if ((ssh_port = tu_free_port()) < 0)
		return -1;
	if (tu_sh("cd '%s/ssh' && ssh-keygen -q -t ed25519 -N '' -f host_key && "
	    "ssh-keygen -q -t ed25519 -N '' -f client_key && mkdir -p keys && "
	    "cp client_key.pub keys/shkey && cp client_key.pub keys/shpub && "
	    "chmod 0644 keys/*", root) != 0)
		return -1;
	/* password then code for most users (a stack with pam_unix first);
	 * a key then the code (contrib/pam.d/sshd as it is) for shkey; a key
	 * alone for shpub, which no second factor can follow */
	snprintf(text, sizeof(text),
	    "Port %d\nListenAddress 127.0.0.1\nHostKey %s/ssh/host_key\n"
	    "PidFile %s/ssh/sshd.pid\nUsePAM yes\nKbdInteractiveAuthentication yes\n"
	    "PasswordAuthentication no\nPubkeyAuthentication yes\n"
	    "AuthorizedKeysFile %s/ssh/keys/%%u\nStrictModes no\nPermitRootLogin no\n"
	    "PrintMotd no\nPrintLastLog no\nUseDNS no\nLogLevel VERBOSE\n"
	    "AuthenticationMethods keyboard-interactive:pam\n"
	    "Match User shkey\n  AuthenticationMethods publickey,keyboard-interactive:pam\n"
	    "Match User shpub\n  AuthenticationMethods publickey\n",
	    ssh_port, root, root, root);
	if (tu_write(sshcfg, text, (size_t)-1, 0644) != 0 ||
	    tu_sh("/usr/sbin/sshd -t -f '%s'", sshcfg) != 0)
		return -1;
	if ((sshd_pid = fork()) < 0)
		return -1;
	if (sshd_pid == 0) {
		int fd = open(sshlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-e", "-f", sshcfg, (char *)NULL);
		_exit(127);
	}
	kid_add(sshd_pid);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!port_open(ssh_port)) {
		if (waitpid(sshd_pid, NULL, WNOHANG) == sshd_pid || tu_ms_since(&t0) > GUARD_MS) {
			kid_del(sshd_pid);
			sshd_pid = -1;
			return -1;
		}
		usleep(10000);
	}
	return 0;
}

static void
stop_sshd(void)
{
	if (sshd_pid <= 0)
		return;
	kill(sshd_pid, SIGTERM);
	(void)waitpid(sshd_pid, NULL, 0);
	kid_del(sshd_pid);
	sshd_pid = -1;
}

/* ssh USER@127.0.0.1 through the pty (with the client key when KEY),
 * running a command that prints the session's WARD_ variables as sshd
 * set them from the PAM environment (the transaction's token must not be
 * among them). */
static int
run_ssh(const char *title, const char *user, int key, const char *const steps[])
{
	char port[16], dest[128], idopt[800];
	const char *argv[32];
	int n = 0;

	snprintf(port, sizeof(port), "%d", ssh_port);
	snprintf(dest, sizeof(dest), "%s@127.0.0.1", user);
	snprintf(idopt, sizeof(idopt), "IdentityFile=%s/ssh/client_key", root);
	argv[n++] = "/usr/bin/ssh";
	argv[n++] = "-F";
	argv[n++] = "/dev/null";
	argv[n++] = "-p";
	argv[n++] = port;
	argv[n++] = "-o";
	argv[n++] = "StrictHostKeyChecking=no";
	argv[n++] = "-o";
	argv[n++] = "UserKnownHostsFile=/dev/null";
	argv[n++] = "-o";
	argv[n++] = "NumberOfPasswordPrompts=1";
	argv[n++] = "-o";
	argv[n++] = "IdentitiesOnly=yes";
	argv[n++] = "-o";
	argv[n++] = key ? "PreferredAuthentications=publickey,keyboard-interactive" :
	    "PreferredAuthentications=keyboard-interactive";
	if (key) {
		argv[n++] = "-o";
		argv[n++] = idopt;
	}
	argv[n++] = dest;
	argv[n++] = "echo SSH-RAN IDLE=$WARD_IDLE_LOGOFF ROLES=$WARD_ROLES "
	    "MAX=$WARD_SESSION_MAX BG=$WARD_BREAK_GLASS TXN=${WARD_TXN-none}";
	argv[n] = NULL;
	return run_tty(title, NULL, argv, NULL, steps);
}

/* ---- fixture ---- */

static int
policy_text(char *out, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	size_t n;

	if (gmtime_r(&now, &tm) == NULL)
		return -1;
	/* modelled on contrib/policy.conf; the on-call window is the three
	 * hours around now in wardd's time zone (UTC) */
	n = (size_t)snprintf(out, len,
	    "roles = { clinician = { }; nurse = { inherits = [\"clinician\"]; };\n"
	    "  clerk = { }; it_admin = { }; oncall_admin = { }; };\n"
	    "apps = { ehr = [\"xscreensaver\", \"login\", \"gdm-password\"];\n"
	    "  admin = [\"sshd\", \"sudo\", \"su\", \"su-l\"]; };\n"
	    "hosts = { it = [\"it-ws-*\"]; };\n"
	    "schedules = { oncall = \"Mon-Sun %02d:00-%02d:00\"; };\n"
	    "rules = (\n"
	    "  { id = \"it-admin\"; effect = \"allow\"; roles = [\"it_admin\"]; apps = [\"admin\"];\n"
	    "    hosts = [\"it\"]; mfa = \"required\"; idle_logoff = 900; session_max = 28800; },\n"
	    "  { id = \"oncall-admin\"; effect = \"allow\"; roles = [\"oncall_admin\"];\n"
	    "    apps = [\"admin\"]; hosts = [\"it\"]; when = \"oncall\"; mfa = \"required\"; },\n"
	    "  { id = \"staff-ehr\"; effect = \"allow\"; roles = [\"nurse\", \"clerk\"];\n"
	    "    apps = [\"ehr\"]; mfa = \"required\"; idle_logoff = 600; },\n"
	    "  { id = \"no-admin-for-clerks\"; effect = \"deny\"; roles = [\"clerk\"];\n"
	    "    apps = [\"admin\"]; reason = \"Clerks do not administer workstations\";\n"
	    "    break_glass = false; } );\n"
	    "break_glass = { roles = [\"clinician\"]; apps = [\"ehr\", \"admin\"]; hosts = [\"*\"];\n"
	    "  max_minutes = 60; min_reason_chars = 10; mfa = \"required\"; };\n"
	    "users = (\n", (tm.tm_hour + 23) % 24, (tm.tm_hour + 2) % 24);
	for (size_t i = 0; i < NUSERS && n < len; i++)
		if (users[i].role != NULL)
			n += (size_t)snprintf(out + n, len - n, "  { user = \"%s\"; roles = [\"%s\"]; },\n",
			    users[i].user, users[i].role);
	if (n + 4 >= len)
		return -1;
	n -= 2;                                 /* the last ",\n" */
	snprintf(out + n, len - n, " );\n");
	return 0;
}

static int
setup(void)
{
	static const char *const stacks[] = { "sudo", "su", "su-l", "xscreensaver" };
	char text[8192], path[900];

	snprintf(root, sizeof(root), "%s/clients", tu_stage_root());
	snprintf(conf, sizeof(conf), "%s/etc/ward.conf", root);
	snprintf(sock, sizeof(sock), "%s/run/wardd.sock", root);
	snprintf(ns, sizeof(ns), "%s/ns", root);
	snprintf(sshcfg, sizeof(sshcfg), "%s/ssh/sshd_config", root);
	snprintf(sshlog, sizeof(sshlog), "%s/sshd.log", root);
	snprintf(wardctl, sizeof(wardctl), "%s/wardctl", tu_build());
	if (tu_sh("rm -rf '%s' && mkdir -p '%s/etc' '%s/run' '%s/pam.d' '%s/ssh' '%s/home' && "
	    "chmod 0755 '%s' '%s/etc' '%s/run' '%s' '%s/ssh' '%s/home' && "
	    "cp -a /etc/pam.d/. '%s/pam.d/' && "
	    "printf '127.0.0.1 localhost\\n127.0.1.1 %s\\n' > '%s/hosts'",
	    root, root, root, ns, root, root, root, root, root, ns, root, root, ns, HOST, ns) != 0)
		return 1;
	if (getenv("WARD_SAN") != NULL && *getenv("WARD_SAN") != '\0') {
		/* sudo, su and sshd cannot load a module built with ASan (its
		 * runtime must come first, and a setuid program ignores
		 * LD_PRELOAD): this pass runs the ASan wardd with the module of
		 * the plain build, which make check builds first */
		snprintf(module, sizeof(module), "%s/pam_ward.so", tu_stage_root());
		if (tu_sh("mkdir -p '%s' && install -o 0 -g 0 -m 0644 '%s/build/pam_ward.so' '%s'",
		    tu_stage_root(), tu_src(), module) != 0)
			return 1;
		printf("ASan pass: wardd from %s, the module from %s/build\n", tu_build(), tu_src());
	} else if (tu_stage_module(module, sizeof(module)) != 0)
		return 1;
	for (size_t i = 0; i < sizeof(stacks) / sizeof(stacks[0]); i++)
		if (write_stack(stacks[i], stacks[i], NULL) != 0)
			return 1;
	if (write_sudoers() != 0 || write_accounts() != 0)
		return 1;
	snprintf(text, sizeof(text),
	    "policy_file = \"%s/etc/policy.conf\";\nstate_dir = \"%s/state\";\n"
	    "mfa = { max_failures = 3; lockout_seconds = 900; window = 1; issuer = \"Test\"; };\n"
	    "secrets = { key_file = \"%s/etc/master.key\"; };\n"
	    "audit = { path = \"%s/log/audit.log\"; key_file = \"%s/etc/audit.key\"; };\n",
	    root, root, root, root, root);
	if (tu_write(conf, text, (size_t)-1, 0644) != 0 || policy_text(text, sizeof(text)) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/etc/policy.conf", root);
	if (tu_write(path, text, (size_t)-1, 0644) != 0 ||
	    tu_sh("'%s' --config '%s' init && '%s' --config '%s' policy check", wardctl, conf,
	    wardctl, conf) != 0)
		return 1;
	for (size_t i = 0; i < NUSERS; i++)
		if (users[i].b32 != NULL && tu_sh("'%s' --config '%s' enroll %s --secret %s --qr none",
		    wardctl, conf, users[i].user, users[i].b32) != 0)
			return 1;
	if (enter_namespace() != 0)
		return 1;
	/* wardd decides on its own clock and time zone: UTC here */
	setenv("TZ", "UTC", 1);
	snprintf(path, sizeof(path), "%s/wardd.log", root);
	if ((dpid = tu_wardd_start(NULL, conf, sock, path)) <= 0)
		return 1;
	return start_sshd() == 0 ? 0 : 1;
}

static int
teardown(void)
{
	stop_sshd();
	(void)tu_wardd_stop(dpid);
	dpid = -1;
	return 0;
}

/* ---- sudo ---- */

/* The command prints what reaches it of the PAM environment: sudo merges
 * it into the command's, and the transaction's token must not be there. */
static const char *const SUDO_OK[] = { "/usr/bin/sudo", "--", "/bin/sh", "-c",
	"echo SUDO-RAN TXN=${WARD_TXN-none}", NULL };

static void
test_sudo(void)
{
	char code[16], c2[16];

	/* a valid code, then the same code again */
	code_of("sdok", 0, code);
	{
		const char *steps[] = { "password for sdok:", PASSWORD, "Verification code: ", code,
			"SUDO-RAN TXN=none", NULL, NULL };
		CU_ASSERT_EQUAL(run_tty("sudo: valid code", "sdok", SUDO_OK, NULL, steps), 0);
		audit_is("sdok", "admin:success auth:success account:allow/Allowed");
	}
	{
		const char *steps[] = { "password for sdok:", PASSWORD, "Verification code: ", code,
			("That code was already used."), NULL, NULL };
		CU_ASSERT_NOT_EQUAL(run_tty("sudo: replayed code", "sdok", SUDO_OK, NULL, steps), 0);
		CU_ASSERT_FALSE(seen("SUDO-RAN"));
		CU_ASSERT_TRUE(seen("1 incorrect password attempt"));
		audit_is("sdok", "admin:success auth:success account:allow/Allowed auth:failure/replay");
	}
	/* three wrong codes lock; then a good code is refused */
	code_of("sdbad", 0, code);
	for (int i = 0; i < 3; i++) {
		const char *steps[] = { "password for sdbad:", PASSWORD, "Verification code: ",
			strcmp(code, "000000") ? "000000" : "111111",
			(i < 2 ? "That code was not accepted." :
			"two-step verification is locked until"), NULL, NULL };
		CU_ASSERT_NOT_EQUAL(run_tty(i < 2 ? "sudo: wrong code" : "sudo: wrong code, lockout",
		    "sdbad", SUDO_OK, NULL, steps), 0);
	}
	{
		const char *steps[] = { "password for sdbad:", PASSWORD, "Verification code: ", code,
			("Two-step verification is locked until"), NULL, NULL };
		CU_ASSERT_NOT_EQUAL(run_tty("sudo: valid code while locked", "sdbad", SUDO_OK, NULL,
		    steps), 0);
		audit_is("sdbad", "admin:success auth:failure/wrong auth:failure/wrong auth:failure/wrong "
		    "lockout:locked/too many wrong codes auth:failure/locked");
	}
	CU_ASSERT_EQUAL(tu_sh("'%s' --config '%s' unlock sdbad", wardctl, conf), 0);
	/* break-glass: a nurse at sudo, where the policy offers it */
	code_of("sdnurse", 0, code);
	{
		const char *steps[] = { "password for sdnurse:", PASSWORD, "Verification code: ", code,
			"Access denied: No rule allows you", NULL, "EMERGENCY ACCESS",
			"Ventilator alarm server down on ward 4",
			"Emergency access granted for 60 minutes", NULL, "SUDO-RAN TXN=none", NULL,
			NULL };
		CU_ASSERT_EQUAL(run_tty("sudo: break-glass", "sdnurse", SUDO_OK, NULL, steps), 0);
		audit_is("sdnurse", "admin:success auth:success account:deny/No rule allows you to use this "
		    "application on this workstation at this time breakglass:granted/Ventilator "
		    "alarm server down on ward 4");
	}
	/* a stack without show_messages: under PAM_SILENT none of Ward's
	 * messages shows */
	CU_ASSERT_EQUAL_FATAL(tu_sh("sed -i 's/ show_messages//' '%s/pam.d/sudo'", ns), 0);
	{
		const char *steps[] = { "password for sdsilent:", PASSWORD, "Verification code: ",
			"000000", NULL, NULL };
		code_of("sdsilent", 0, c2);
		if (strcmp(c2, "000000") == 0)
			steps[3] = "111111";
		CU_ASSERT_NOT_EQUAL(run_tty("sudo, a stack without show_messages: wrong code",
		    "sdsilent", SUDO_OK, NULL, steps), 0);
		CU_ASSERT_FALSE(seen("not accepted"));
		CU_ASSERT_TRUE(seen("1 incorrect password attempt"));
		audit_is("sdsilent", "admin:success auth:failure/wrong");
	}
	CU_ASSERT_EQUAL(write_stack("sudo", "sudo", NULL), 0);
}

/* A policy denial for good is said in auth, and its code is not spent: the
 * same code then unlocks the screen, where the clerk may log in. */
static void
test_sudo_denied_code_kept(void)
{
	static const char *const locker[] = { "/usr/bin/pamtester", "xscreensaver", "sdclerk",
		"authenticate", "acct_mgmt", NULL };
	char code[16];

	code_of("sdclerk", 0, code);
	{
		/* a wrong code counts, denial or not */
		const char *steps[] = { "password for sdclerk:", PASSWORD, "Verification code: ",
			strcmp(code, "000000") ? "000000" : "111111",
			("That code was not accepted."), NULL, NULL };
		CU_ASSERT_NOT_EQUAL(run_tty("sudo: wrong code, policy denial", "sdclerk", SUDO_OK,
		    NULL, steps), 0);
		audit_is("sdclerk", "admin:success auth:failure/wrong");
	}
	{
		const char *steps[] = { "password for sdclerk:", PASSWORD, "Verification code: ", code,
			("Access denied: Clerks do not administer workstations"), NULL, NULL };
		CU_ASSERT_NOT_EQUAL(run_tty("sudo: policy denial", "sdclerk", SUDO_OK, NULL, steps), 0);
		CU_ASSERT_FALSE(seen("SUDO-RAN"));
		CU_ASSERT_FALSE(seen("EMERGENCY"));
		audit_is("sdclerk", "admin:success auth:failure/wrong account:deny/Clerks do not "
		    "administer workstations");
	}
	{
		const char *steps[] = { "Password: ", PASSWORD, "Verification code: ", code,
			"successfully", NULL, NULL };
		CU_ASSERT_EQUAL(run_tty("screen locker: the code the denial did not spend", "sdclerk",
		    locker, NULL, steps), 0);
		audit_is("sdclerk", "admin:success auth:failure/wrong account:deny/Clerks do not "
		    "administer workstations auth:success account:allow/Allowed");
	}
}

/* TZ of the caller: wardd decides on the workstation's time.  The on-call
 * rule allows now (UTC) and not fourteen hours later. */
static void
test_sudo_tz(void)
{
	char code[16];
	const char *steps[] = { "password for sdtz:", PASSWORD, "Verification code: ", NULL,
		"SUDO-RAN", NULL, NULL };

	code_of("sdtz", 0, code);
	steps[3] = code;
	CU_ASSERT_EQUAL(run_tty("TZ=XYZ-14 sudo: decided on the workstation's time", "sdtz",
	    SUDO_OK, "XYZ-14", steps), 0);
	audit_is("sdtz", "admin:success auth:success account:allow/Allowed");
}

/* ---- su, su - ---- */

static void
test_su(void)
{
	static const char *const su_ok[] = { "/bin/su", "suok", "-c",
		"echo SU-RAN IDLE=$WARD_IDLE_LOGOFF ROLES=$WARD_ROLES TXN=${WARD_TXN-none}", NULL };
	static const char *const su_bad[] = { "/bin/su", "subad", "-c", "echo SU-RAN", NULL };
	static const char *const su_clerk[] = { "/bin/su", "suclerk", "-c", "echo SU-RAN", NULL };
	static const char *const su_nurse[] = { "/bin/su", "sunurse", "-c",
		"echo SU-RAN MAX=$WARD_SESSION_MAX BG=$WARD_BREAK_GLASS TXN=${WARD_TXN-none}", NULL };
	char code[16];

	code_of("suok", 0, code);
	{
		const char *steps[] = { "Password: ", PASSWORD, "Verification code: ", code,
			"SU-RAN IDLE=900 ROLES=it_admin TXN=none", NULL, NULL };
		CU_ASSERT_EQUAL(run_tty("su: valid code", "caller", su_ok, NULL, steps), 0);
		audit_is("suok", "admin:success auth:success account:allow/Allowed session_open:success "
		    "session_close:success");
	}
	{
		const char *steps[] = { "Password: ", PASSWORD, "Verification code: ", code,
			"already used", NULL, NULL };
		CU_ASSERT_NOT_EQUAL(run_tty("su: replayed code", "caller", su_ok, NULL, steps), 0);
		CU_ASSERT_TRUE(seen("Authentication failure"));
		audit_is("suok", "admin:success auth:success account:allow/Allowed session_open:success "
		    "session_close:success auth:failure/replay");
	}
	code_of("subad", 0, code);
	for (int i = 0; i < 3; i++) {
		const char *steps[] = { "Password: ", PASSWORD, "Verification code: ",
			strcmp(code, "000000") ? "000000" : "111111",
			i < 2 ? "That code was not accepted." : "two-step verification is locked until",
			NULL, NULL };
		CU_ASSERT_NOT_EQUAL(run_tty(i < 2 ? "su: wrong code" : "su: wrong code, lockout",
		    "caller", su_bad, NULL, steps), 0);
	}
	{
		const char *steps[] = { "Password: ", PASSWORD, "Verification code: ", code,
			"Two-step verification is locked until", NULL, NULL };
		CU_ASSERT_NOT_EQUAL(run_tty("su: valid code while locked", "caller", su_bad, NULL,
		    steps), 0);
		audit_is("subad", "admin:success auth:failure/wrong auth:failure/wrong auth:failure/wrong "
		    "lockout:locked/too many wrong codes auth:failure/locked");
	}
	code_of("suclerk", 0, code);
	{
		const char *steps[] = { "Password: ", PASSWORD, "Verification code: ", code,
			"Access denied: Clerks do not administer workstations", NULL, NULL };
		CU_ASSERT_NOT_EQUAL(run_tty("su: policy denial", "caller", su_clerk, NULL, steps), 0);
		CU_ASSERT_FALSE(seen("SU-RAN"));
		audit_is("suclerk", "admin:success account:deny/Clerks do not administer workstations");
	}
	code_of("sunurse", 0, code);
	{
		const char *steps[] = { "Password: ", PASSWORD, "Verification code: ", code,
			"EMERGENCY ACCESS", "Ventilator alarm server down on ward 4",
			"SU-RAN MAX=3600 BG=1 TXN=none", NULL, NULL };
		CU_ASSERT_EQUAL(run_tty("su: break-glass", "caller", su_nurse, NULL, steps), 0);
		CU_ASSERT_TRUE(seen("Emergency access granted for 60 minutes"));
		audit_is("sunurse", "admin:success auth:success account:deny/No rule allows you to use this "
		    "application on this workstation at this time breakglass:granted/Ventilator "
		    "alarm server down on ward 4 session_open:success session_close:success");
	}
}

static void
test_su_l(void)
{
	static const char *const argv[] = { "/bin/su", "-", "sulok", "-c",
		"echo SU-RAN IDLE=$WARD_IDLE_LOGOFF", NULL };
	char code[16];
	const char *steps[] = { "Password: ", PASSWORD, "Verification code: ", NULL,
		"SU-RAN IDLE=900", NULL, NULL };

	code_of("sulok", 0, code);
	steps[3] = code;
	CU_ASSERT_EQUAL(run_tty("su -: valid code", "caller", argv, NULL, steps), 0);
	audit_is("sulok", "admin:success auth:success account:allow/Allowed session_open:success session_close:success");
	steps[4] = "already used";
	CU_ASSERT_NOT_EQUAL(run_tty("su -: replayed code", "caller", argv, NULL, steps), 0);
	audit_is("sulok", "admin:success auth:success account:allow/Allowed session_open:success session_close:success "
	    "auth:failure/replay");
}

/* ---- sshd ---- */

static void
test_ssh_password(void)
{
	char code[16];

	/* a stack with the password first: keyboard-interactive:pam alone */
	CU_ASSERT_EQUAL_FATAL(write_stack("sshd", "sshd", "auth     requisite   pam_unix.so\\n"), 0);
	code_of("shok", 0, code);
	{
		const char *steps[] = { "Password:", PASSWORD, "Verification code: ", code,
			"SSH-RAN IDLE=900 ROLES=it_admin MAX=28800 BG= TXN=none", NULL,
			NULL };
		CU_ASSERT_EQUAL(run_ssh("ssh, password then code: valid code", "shok", 0, steps), 0);
		audit_is("shok", "admin:success auth:success account:allow/Allowed session_open:success "
		    "session_close:success");
	}
	{
		const char *steps[] = { "Password:", PASSWORD, "Verification code: ", code,
			"already used", NULL, NULL };
		CU_ASSERT_NOT_EQUAL(run_ssh("ssh: replayed code", "shok", 0, steps), 0);
		CU_ASSERT_FALSE(seen("SSH-RAN"));
		audit_is("shok", "admin:success auth:success account:allow/Allowed session_open:success "
		    "session_close:success auth:failure/replay");
	}
	/* three wrong codes lock; then a good code is refused */
	code_of("shbad", 0, code);
	for (int i = 0; i < 3; i++) {
		const char *steps[] = { "Password:", PASSWORD, "Verification code: ",
			strcmp(code, "000000") ? "000000" : "111111",
			i < 2 ? "That code was not accepted." :
			"Too many wrong codes: two-step verification is locked until", NULL, NULL };
		CU_ASSERT_NOT_EQUAL(run_ssh(i < 2 ? "ssh: wrong code" : "ssh: wrong code, lockout",
		    "shbad", 0, steps), 0);
		CU_ASSERT_TRUE(seen("Permission denied (keyboard-interactive)"));
	}
	{
		const char *steps[] = { "Password:", PASSWORD, "Verification code: ", code,
			"Two-step verification is locked until", NULL, NULL };
		CU_ASSERT_NOT_EQUAL(run_ssh("ssh: valid code while locked", "shbad", 0, steps), 0);
		CU_ASSERT_FALSE(seen("SSH-RAN"));
		audit_is("shbad", "admin:success auth:failure/wrong auth:failure/wrong auth:failure/wrong "
		    "lockout:locked/too many wrong codes auth:failure/locked");
	}
	code_of("shclerk", 0, code);
	{
		const char *steps[] = { "Password:", PASSWORD, "Verification code: ", code,
			"Access denied: Clerks do not administer workstations", NULL, NULL };
		CU_ASSERT_NOT_EQUAL(run_ssh("ssh: policy denial", "shclerk", 0, steps), 0);
		audit_is("shclerk", "admin:success account:deny/Clerks do not administer workstations");
	}
	code_of("shnurse", 0, code);
	{
		/*
		 * sshd runs keyboard-interactive's auth and account in a child
		 * process and opens the session on its monitor's handle: the
		 * grant reaches the session through WARD_TXN in the PAM
		 * environment, which never reaches the user's.
		 */
		const char *steps[] = { "Password:", PASSWORD, "Verification code: ", code,
			"Access denied: No rule allows you", NULL, "EMERGENCY ACCESS",
			"Ventilator alarm server down on ward 4",
			"Emergency access granted for 60 minutes", NULL,
			"SSH-RAN IDLE= ROLES=clinician,nurse MAX=3600 BG=1 TXN=none", NULL, NULL };
		CU_ASSERT_EQUAL(run_ssh("ssh: break-glass", "shnurse", 0, steps), 0);
		audit_is("shnurse", "admin:success auth:success account:deny/No rule allows you to "
		    "use this application on this workstation at this time breakglass:granted/"
		    "Ventilator alarm server down on ward 4 session_open:success session_close:success");
	}
}

static void
test_ssh_key(void)
{
	char code[16];

	/* contrib/pam.d/sshd as it is: a key, then the code */
	CU_ASSERT_EQUAL_FATAL(write_stack("sshd", "sshd", NULL), 0);
	code_of("shkey", 0, code);
	{
		const char *steps[] = { "Verification code: ", code,
			"SSH-RAN IDLE=900 ROLES=it_admin MAX=28800 BG= TXN=none", NULL,
			NULL };
		CU_ASSERT_EQUAL(run_ssh("ssh, key then code: valid code", "shkey", 1, steps), 0);
		CU_ASSERT_FALSE(seen("Password"));
		audit_is("shkey", "admin:success auth:success account:allow/Allowed session_open:success "
		    "session_close:success");
	}
	/* a key alone cannot give a second factor: refused, recorded, and
	 * said (sshd sends what the account phase said as a banner) */
	{
		const char *steps[] = { "Access denied: a verification code is required, and none "
			"was given.", NULL, NULL };
		CU_ASSERT_NOT_EQUAL(run_ssh("ssh, key alone (AuthenticationMethods publickey)",
		    "shpub", 1, steps), 0);
		CU_ASSERT_FALSE(seen("SSH-RAN"));
		audit_is("shpub", "admin:success account:deny/second factor required; no code given");
	}
}

/* ---- a screen locker, as the user ---- */

static void
test_screen_locker(void)
{
	static const char *const argv[] = { "/usr/bin/pamtester", "xscreensaver", "lkok",
		"authenticate", "acct_mgmt", NULL };
	char code[16];
	const char *steps[] = { "Password: ", PASSWORD, "Verification code: ", NULL,
		"successfully", NULL, NULL };

	code_of("lkok", 0, code);
	steps[3] = code;
	CU_ASSERT_EQUAL(run_tty("screen locker (pamtester as the user): valid code", "lkok", argv,
	    NULL, steps), 0);
	audit_is("lkok", "admin:success auth:success account:allow/Allowed");
	steps[4] = "already used";
	CU_ASSERT_NOT_EQUAL(run_tty("screen locker: replayed code", "lkok", argv, NULL, steps), 0);
	audit_is("lkok", "admin:success auth:success account:allow/Allowed auth:failure/replay");
}

int
main(void)
{
	CU_pSuite s;
	int fails;

	if (geteuid() != 0) {
		fprintf(stderr, "test_clients must run as root (a mount namespace, sshd)\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	atexit(kill_kids);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("real clients: sudo, su, sshd, a screen locker", setup, teardown);
	CU_add_test(s, "sudo: valid, replay, wrong, lockout, break-glass, pam_silent", test_sudo);
	CU_add_test(s, "sudo: a policy denial keeps the code for a permitted login",
	    test_sudo_denied_code_kept);
	CU_add_test(s, "TZ=... sudo decides on the workstation's time", test_sudo_tz);
	CU_add_test(s, "su: valid, replay, wrong, lockout, denial, break-glass", test_su);
	CU_add_test(s, "su - (su-l): valid, replay", test_su_l);
	CU_add_test(s, "sshd, password then code: valid, replay, wrong, lockout, denial, "
	    "break-glass",
	    test_ssh_password);
	CU_add_test(s, "sshd, key then code (contrib stack); key alone refused and said",
	    test_ssh_key);
	CU_add_test(s, "screen locker as the user: valid, replay", test_screen_locker);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
