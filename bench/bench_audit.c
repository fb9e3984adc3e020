/*
 * bench_audit.c - audit trail rates: append with and without fsync, from 1
 * and 16 writer processes (each record through audit_write: the store's
 * write lock, open, write, head commit), and verify.
 *
 * usage: bench_audit DIR [RECORDS]   (DIR: an empty root-owned folder)
 * Goals: >= 20,000 records/s without fsync, verify >= 500,000/s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "secret.h"
#include "state.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const roles[] = { "nurse", "clinician" };

static int
writer(const struct ward_conf *conf, int n, int id)
{
	struct audit_log *l;
	char err[512], user[32];
	int r = 0;

	if (audit_log_open(&l, conf, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_audit: %s\n", err);
		return 1;
	}
	for (int i = 0; i < n && r == 0; i++) {
		struct audit_event ev = { .event = "account", .result = "allow",
			.service = "gdm-password", .user = user, .rule = "icu-nurses-ehr",
			.reason = "ICU nurses use the EHR", .roles = roles, .nroles = 2,
			.factor = "totp", .policy_version = "4fe350d02079d87a", .offline = 0,
			.tty = ":0" };
		snprintf(user, sizeof(user), "nurse%04d", (id * 7919 + i) % 5000);
		if ((r = audit_write(l, &ev, err, sizeof(err))) != 0)
			fprintf(stderr, "bench_audit: %s\n", err);
	}
	audit_log_close(l);
	return r == 0 ? 0 : 1;
}

/* N records from P processes; returns records per second (0 on failure). */
static double
append_rate(const struct ward_conf *conf, int procs, int n)
{
	double t0 = now_s(), t;
	int ok = 1;

	if (procs == 1) {
		ok = writer(conf, n, 0) == 0;
	} else {
		pid_t *pids = calloc((size_t)procs, sizeof(*pids));
		for (int i = 0; pids != NULL && i < procs; i++)
			if ((pids[i] = fork()) == 0)
				_exit(writer(conf, n / procs, i));
		for (int i = 0; pids != NULL && i < procs; i++) {
			int st;
			waitpid(pids[i], &st, 0);
			ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
		}
		ok &= pids != NULL;
		free(pids);
	}
	t = now_s() - t0;
	return ok ? (double)n / t : 0;
}

int
main(int argc, char **argv)
{
	struct ward_conf conf;
	struct audit_verify_result res;
	struct audit_fileset set;
	struct state *st;
	char path[1024], err[512], ferr[512];
	int n = argc > 2 ? atoi(argv[2]) : 40000, rc = 0;
	double r1, r16, f1, f16, vr, t0, vt;

	if (argc < 2 || n < 1600) {
		fprintf(stderr, "usage: bench_audit DIR [RECORDS >= 1600]\n");
		return 2;
	}
	if (conf_defaults(&conf) != 0)
		return 2;
	snprintf(path, sizeof(path), "%s/audit.key", argv[1]);
	free(conf.audit.key_file);
	conf.audit.key_file = strdup(path);
	snprintf(path, sizeof(path), "%s/state", argv[1]);
	free(conf.state_dir);
	conf.state_dir = strdup(path);
	snprintf(path, sizeof(path), "%s/log", argv[1]);
	if (mkdir(path, 0750) != 0)
		return 2;
	snprintf(path, sizeof(path), "%s/log/audit.log", argv[1]);
	free(conf.audit.path);
	conf.audit.path = strdup(path);
	conf.audit.syslog = 0;
	if (secret_key_create(conf.audit.key_file, err, sizeof(err)) != 0 ||
	    state_open(&st, conf.state_dir, 1) != 0) {
		fprintf(stderr, "bench_audit: setup: %s\n", err);
		return 2;
	}
	state_close(st);

	conf.audit.fsync = 0;
	r1 = append_rate(&conf, 1, n);
	r16 = append_rate(&conf, 16, n);
	conf.audit.fsync = 1;
	f1 = append_rate(&conf, 1, 320);
	f16 = append_rate(&conf, 16, 1600);
	printf("append, no fsync,  1 writer:   %9.0f records/s (%d records)\n", r1, n);
	printf("append, no fsync, 16 writers:  %9.0f records/s (%d records)\n", r16, n);
	printf("append, fsync,     1 writer:   %9.0f records/s (320 records)\n", f1);
	printf("append, fsync,    16 writers:  %9.0f records/s (1600 records)\n", f16);

	if (audit_files(conf.audit.path, &set, ferr, sizeof(ferr)) != 0) {
		fprintf(stderr, "bench_audit: %s\n", ferr);
		audit_fileset_free(&set);
		return 2;
	}
	t0 = now_s();
	if (audit_verify_set(conf.audit.key_file, &set, conf.state_dir, &res) != 0) {
		fprintf(stderr, "bench_audit: verify: %s\n", res.message);
		rc = 1;
	}
	vt = now_s() - t0;
	vr = (double)res.records / vt;
	printf("verify:                        %9.0f records/s (%llu records, chain and "
	    "head)\n", vr, (unsigned long long)res.records);
	printf("goals: append without fsync >= 20000/s: %s (1 writer), %s (16 writers); "
	    "verify >= 500000/s: %s\n", r1 >= 20000 ? "met" : "NOT MET",
	    r16 >= 20000 ? "met" : "NOT MET", vr >= 500000 ? "met" : "NOT MET");
	if (res.records != (uint64_t)(2 * n + 320 + 1600))
		rc = 1;
	audit_fileset_free(&set);
	conf_free(&conf);
	return rc;
}
