/*
 * helper_client.c - run ward_verify, the setuid-root helper, for a caller
 * without root (helper_client.h; protocol in helper_proto.h).
 *
 * Rules it keeps:
 *  - The helper gets a fixed argv and an empty environment: nothing of the
 *    caller's chooses its files; descriptors other than its pipes close.
 *  - Only an exit status collected here counts; a child lost to another
 *    reaper, or killed, is an error (a denial).
 *  - The code sent to it is wiped once written.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "helper_client.h"
#include "helper_proto.h"

int
helper_run(const struct core *c, const char *user, const char *service,
    const char *input, char *out, size_t outlen)
{
	struct sigaction sa, old;
	int in[2] = { -1, -1 }, op[2] = { -1, -1 };
	int status = 0, r = HELPER_ERROR, reaped = 0;
	size_t len = strlen(input), got = 0;
	pid_t pid;

	out[0] = '\0';
	if (c->conf.helper_path == NULL || pipe2(in, O_CLOEXEC) != 0)
		return HELPER_ERROR;
	if (pipe2(op, O_CLOEXEC) != 0) {
		close(in[0]);
		close(in[1]);
		return HELPER_ERROR;
	}
	/* Reap our own child even if the application ignores SIGCHLD. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, &old);
	pid = fork();
	if (pid == 0) {
		char *const args[] = { (char *)"ward_verify", (char *)user, (char *)service, NULL };
		char *const env[] = { NULL };

		if (dup2(in[0], 0) < 0 || dup2(op[1], 1) < 0)
			_exit(HELPER_ERROR);
		closefrom(3);
		execve(c->conf.helper_path, args, env);
		_exit(HELPER_ERROR);
	}
	close(in[0]);
	close(op[1]);
	if (pid < 0) {
		ward_log(LOG_ERR, "cannot start %s: %s", c->conf.helper_path,
		    strerror(errno));
		close(in[1]);
		close(op[0]);
		sigaction(SIGCHLD, &old, NULL);
		return HELPER_ERROR;
	}
	{
		struct sigaction ign, oldpipe;
		memset(&ign, 0, sizeof(ign));
		ign.sa_handler = SIG_IGN;
		sigaction(SIGPIPE, &ign, &oldpipe);
		while (got < len) {
			ssize_t n = write(in[1], input + got, len - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		sigaction(SIGPIPE, &oldpipe, NULL);
	}
	close(in[1]);
	got = 0;
	for (;;) {
		ssize_t n = read(op[0], out + got, outlen - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == outlen - 1)
			break;
	}
	out[got] = '\0';
	close(op[0]);
	for (;;) {
		pid_t w = waitpid(pid, &status, 0);

		if (w == pid) {
			reaped = 1;
			break;
		}
		if (w < 0 && errno == EINTR)
			continue;
		break;	/* lost (reaped elsewhere): its answer is unknown */
	}
	sigaction(SIGCHLD, &old, NULL);
	/* Only an exit status we collected ourselves counts. */
	if (reaped && WIFEXITED(status))
		r = WEXITSTATUS(status);
	else
		ward_log(LOG_ERR, "%s ended abnormally or its status was lost; denying",
		    c->conf.helper_path);
	return r;
}

static int
helper_to_err(int h)
{
	switch (h) {
	case HELPER_OK: return 0;
	case HELPER_BADCODE: return WARD_ERR_BADCODE;
	case HELPER_REPLAY: return WARD_ERR_REPLAY;
	case HELPER_LOCKED: return WARD_ERR_LOCKED;
	case HELPER_NOTENROLLED: return WARD_ERR_NOTFOUND;
	default: return WARD_ERR_INTERNAL;
	}
}

/* Verify through the helper (no root).  The helper records the outcome. */
int
helper_verify(struct core *c, const char *user, const char *service,
    const char *code, struct core_verify_result *res)
{
	char *input = NULL, out[128];
	int h;

	memset(res, 0, sizeof(*res));
	if (strlen(code) > 64)
		return WARD_ERR_BADCODE;
	if (asprintf(&input, "verify\n%s\n", code) < 0)
		return WARD_ERR_NOMEM;
	h = helper_run(c, user, service, input, out, sizeof(out));
	ward_free_str_secret(input);
	if (strncmp(out, "recovery_left ", 14) == 0) {
		long v = strtol(out + 14, NULL, 10);
		res->recovery_left = v >= 0 && v <= 1000 ? (int)v : 0;
		res->used_recovery = h == HELPER_OK;
	} else if (strncmp(out, "locked_until ", 13) == 0) {
		res->locked_until = (int64_t)strtoll(out + 13, NULL, 10);
		res->locked_now = h != HELPER_LOCKED;
	}
	if (h == HELPER_ERROR || h == HELPER_REFUSED || h > HELPER_DENIED)
		ward_log(LOG_ERR, "helper %s could not verify (status %d); denying",
		    c->conf.helper_path, h);
	return helper_to_err(h);
}
