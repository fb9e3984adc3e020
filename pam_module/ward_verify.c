/*
 * ward_verify.c - setuid-root helper: verifies a second-factor code for the
 * user who runs it, so a screen locker running as that user can unlock
 * (the way unix_chkpwd checks passwords for pam_unix).
 *
 * Rules it keeps (protocol in helper_proto.h):
 *  - It answers only for the user whose real uid runs it (root may ask for
 *    anyone).  The user name argument must match, or it refuses and logs.
 *  - It reads only its compiled-in ward.conf (WARD_HELPER_CONF); nothing
 *    from the caller's environment or arguments chooses a file.
 *  - The app, host and grace length come from its own policy decision:
 *    the caller cannot widen a grace.
 *  - Lockout, replay and failure counting are those of the module
 *    (core_verify), so the helper is no way around them.
 *  - Input is bounded; the code is wiped; no code reaches a log.
 *  - Once the caller is known, every uid and gid becomes root, so the
 *    caller cannot stop it while it holds the store's lock.
 */
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "helper_proto.h"

#ifndef WARD_HELPER_CONF
#define WARD_HELPER_CONF "/etc/ward/ward.conf"
#endif

static void
syslog_sink(void *ctx, int prio, const char *msg)
{
	(void)ctx;
	syslog(prio, "%s", msg);
}

/* Read all of stdin, at most HELPER_MAX_INPUT bytes. */
static int
read_input(char *buf, size_t cap)
{
	size_t got = 0;

	for (;;) {
		ssize_t n = read(0, buf + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == cap - 1) {
			char extra;
			if (read(0, &extra, 1) != 0)
				return -1;      /* too long */
			break;
		}
	}
	buf[got] = '\0';
	return 0;
}

/*
 * Make the process the caller cannot steer: no terminal (no Ctrl-Z), the
 * job-control and hang-up signals ignored, no core dump (it holds the
 * master key and a secret), limits and scheduling reset (a caller's
 * RLIMIT_FSIZE must not cut an audit record short, nor its nice value
 * stall a lock holder), no environment (libldap reads ldaprc files and
 * LDAP* variables once real and effective ids match; TZ would move the
 * policy's schedules), a known folder and umask.  Returns 0 or -1.
 */
static int
sanitise(void)
{
	static const int ignored[] = { SIGTSTP, SIGTTIN, SIGTTOU, SIGINT, SIGQUIT, SIGHUP,
		SIGPIPE, SIGXFSZ, SIGUSR1, SIGUSR2 };
	struct rlimit inf = { RLIM_INFINITY, RLIM_INFINITY }, zero = { 0, 0 };
	struct rlimit files = { 1024, 1024 };
	struct sched_param sp = { 0 };

	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		signal(ignored[i], SIG_IGN);
	(void)setsid();
#ifndef __SANITIZE_ADDRESS__
	/* (Not in the ASan test build: LeakSanitizer ptrace-attaches to the
	 * process at exit, which a non-dumpable process refuses; RLIMIT_CORE
	 * 0 below still applies there.) */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return -1;
#endif
	if (setrlimit(RLIMIT_CORE, &zero) != 0 ||
	    setrlimit(RLIMIT_FSIZE, &inf) != 0 || setrlimit(RLIMIT_CPU, &inf) != 0 ||
	    setrlimit(RLIMIT_NOFILE, &files) != 0)
		return -1;
	(void)setpriority(PRIO_PROCESS, 0, 0);
	(void)sched_setscheduler(0, SCHED_OTHER, &sp);
	if (clearenv() != 0 || setenv("LDAPNOINIT", "1", 1) != 0 ||
	    setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1) != 0 || chdir("/") != 0)
		return -1;
	umask(077);
	return 0;
}

int
main(int argc, char **argv)
{
	char input[HELPER_MAX_INPUT + 1], err[1024], pwbuf[4096];
	struct passwd pw, *pwp = NULL;
	struct core c;
	struct policy_decision d;
	struct core_verify_result res;
	struct core_who who;
	const char *user, *service;
	char *code, *nl;
	uid_t uid = getuid();
	time_t now;
	int r, ret = HELPER_ERROR;

	openlog("ward_verify", LOG_PID, LOG_AUTHPRIV);
	ward_log_set_sink(syslog_sink, NULL);
	if (geteuid() != 0 || sanitise() != 0) {
		syslog(LOG_ERR, "cannot make a safe process (not installed setuid root?); "
		    "refusing");
		return HELPER_ERROR;
	}
	/* bounded: a caller that never writes its request gets nothing */
	alarm(60);
	/* the service names a PAM service: the same rules as a user name */
	if (argc != 3 || ward_user_valid(argv[1]) != 0 || ward_user_valid(argv[2]) != 0 ||
	    strlen(argv[2]) > 128) {
		syslog(LOG_ERR, "called by uid %u with bad arguments; refusing", (unsigned)uid);
		return HELPER_ERROR;
	}
	user = argv[1];
	service = argv[2];
	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &pwp) != 0 || pwp == NULL) {
		syslog(LOG_ERR, "uid %u has no passwd entry; refusing", (unsigned)uid);
		return HELPER_REFUSED;
	}
	if (uid != 0 && strcmp(pw.pw_name, user) != 0) {
		syslog(LOG_WARNING, "uid %u (%s) asked to verify a code for %s; refusing",
		    (unsigned)uid, pw.pw_name, user);
		return HELPER_REFUSED;
	}
	/* From here on the caller must not be able to stop or kill us (we may
	 * hold the state store's lock): real and saved ids become root too,
	 * so the caller's signals are refused. */
	if (setgroups(0, NULL) != 0 || setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) {
		syslog(LOG_ERR, "cannot take root's ids (not installed setuid root?); refusing");
		return HELPER_ERROR;
	}
	if (read_input(input, sizeof(input)) != 0) {
		syslog(LOG_ERR, "bad input from uid %u; refusing", (unsigned)uid);
		ward_wipe(input, sizeof(input));
		return HELPER_ERROR;
	}
	/* the time of the request, not of the start: a helper started early
	 * and fed later must not stretch a code's life */
	now = time(NULL);
	if (core_init(&c, WARD_HELPER_CONF, err, sizeof(err)) != 0) {
		syslog(LOG_ERR, "%s; denying", err);
		ward_wipe(input, sizeof(input));
		return HELPER_ERROR;
	}
	if ((r = core_decide(&c, user, service, now, &d, &who)) != 0) {
		struct core_rec rc = { .event = AUDIT_EV_AUTH, .result = AUDIT_RES_FAILURE,
			.reason = r == WARD_ERR_UNAVAIL ? "directory unavailable" :
			ward_strerror(r), .detail = "ward_verify" };
		syslog(LOG_ERR, "no decision for %s: %s; denying", user, ward_strerror(r));
		if (core_record(&c, NULL, user, service, &rc, NULL, NULL) != 0)
			syslog(LOG_ERR, "failure for %s not recorded", user);
		goto out;
	}
	if (strcmp(input, "grace\n") == 0) {
		int active = 0;
		/* no code needed: a rule without MFA, or within a recent grace */
		ret = HELPER_NOGRACE;
		if (d.allow && (!d.mfa_required || (d.mfa_grace > 0 &&
		    core_grace_active(&c, user, d.app, now, d.mfa_grace, &active) == 0 &&
		    active)))
			ret = HELPER_OK;
		if (ret == HELPER_OK) {
			struct core_rec rc = { .event = AUDIT_EV_AUTH,
				.result = AUDIT_RES_SUCCESS, .rule = d.rule,
				.factor = d.mfa_required ? AUDIT_FAC_GRACE : AUDIT_FAC_NONE,
				.detail = "ward_verify" };
			if (core_record(&c, &who, user, service, &rc, NULL, NULL) != 0)
				ret = HELPER_ERROR;
		}
		goto out;
	}
	if (strcmp(input, "account\n") == 0) {
		struct core_rec rc = { .event = AUDIT_EV_ACCOUNT,
			.result = d.allow ? AUDIT_RES_ALLOW : AUDIT_RES_DENY, .rule = d.rule,
			.reason = d.reason, .detail = "ward_verify" };
		if (core_record(&c, &who, user, service, &rc, NULL, NULL) != 0) {
			ret = HELPER_ERROR;
			goto out;
		}
		ret = d.allow ? HELPER_OK : HELPER_DENIED;
		if (!d.allow)
			printf("reason %s\n", d.reason);
		goto out;
	}
	if (strncmp(input, "verify\n", 7) != 0 || (nl = strchr(input + 7, '\n')) == NULL ||
	    nl[1] != '\0') {
		syslog(LOG_ERR, "malformed request from uid %u; refusing", (unsigned)uid);
		goto out;
	}
	*nl = '\0';
	code = input + 7;
	r = core_verify(&c, user, code, now, &res);
	{
		struct core_rec rc = { .event = AUDIT_EV_AUTH,
			.result = r == 0 ? AUDIT_RES_SUCCESS : AUDIT_RES_FAILURE,
			.reason = r == 0 ? NULL : r == WARD_ERR_BADCODE ? "wrong" :
			r == WARD_ERR_REPLAY ? "replay" : r == WARD_ERR_LOCKED ? "locked" :
			r == WARD_ERR_NOTFOUND ? "unenrolled" : ward_strerror(r),
			.factor = r == 0 && res.used_recovery ? AUDIT_FAC_RECOVERY : AUDIT_FAC_TOTP,
			.detail = "ward_verify" };
		/* an attempt that cannot be recorded is no success */
		if (core_record(&c, &who, user, service, &rc, NULL, NULL) != 0) {
			ret = HELPER_ERROR;
			goto out;
		}
		if (res.locked_now) {
			struct core_rec lk = { .event = AUDIT_EV_LOCKOUT,
				.result = AUDIT_RES_LOCKED, .reason = "too many wrong codes",
				.factor = AUDIT_FAC_TOTP, .detail = "ward_verify" };
			if (core_record(&c, NULL, user, service, &lk, NULL, NULL) != 0)
				syslog(LOG_ERR, "lockout of %s not recorded", user);
		}
	}
	switch (r) {
	case 0:
		ret = HELPER_OK;
		if (res.used_recovery)
			printf("recovery_left %d\n", res.recovery_left);
		if (d.allow && d.mfa_grace > 0 &&
		    core_grace_record(&c, user, d.app, d.mfa_grace, now) != 0)
			syslog(LOG_WARNING, "grace for %s not recorded", user);
		syslog(LOG_INFO, "user %s service %s: %s accepted", user, service,
		    res.used_recovery ? "recovery code" : "verification code");
		break;
	case WARD_ERR_BADCODE:
	case WARD_ERR_REPLAY:
		ret = r == WARD_ERR_BADCODE ? HELPER_BADCODE : HELPER_REPLAY;
		if (res.locked_now)
			printf("locked_until %" PRId64 "\n", res.locked_until);
		syslog(LOG_NOTICE, "user %s service %s: %s%s", user, service,
		    r == WARD_ERR_REPLAY ? "code already used (replay)" : "wrong code",
		    res.locked_now ? "; account now locked" : "");
		break;
	case WARD_ERR_LOCKED:
		ret = HELPER_LOCKED;
		printf("locked_until %" PRId64 "\n", res.locked_until);
		break;
	case WARD_ERR_NOTFOUND:
		ret = HELPER_NOTENROLLED;
		break;
	default:
		syslog(LOG_ERR, "user %s: verification failed: %s; denying", user,
		    ward_strerror(r));
		ret = HELPER_ERROR;
		break;
	}
out:
	ward_wipe(input, sizeof(input));
	core_free(&c);
	if (fflush(stdout) != 0)
		ret = ret == HELPER_OK ? HELPER_ERROR : ret;
	return ret;
}
