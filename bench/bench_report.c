/*
 * bench_report.c - the input of the `wardctl audit report` benchmark: a
 * private tree (ward.conf, keys, state store, audit log) whose log holds N
 * authentication failures of N different users from one workstation within
 * ten minutes (password spraying), written by the project's own audit
 * writer, so every record is MAC'd and chained (`wardctl audit verify`
 * passes).  bench/run-45-report.sh times the report over it.
 *
 * usage: bench_report DIR N    (DIR: an empty root-owned folder)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "audit.h"
#include "benchutil.h"
#include "secret.h"
#include "state.h"

int
main(int argc, char **argv)
{
	struct ward_conf conf;
	struct audit_log *l;
	struct state *st;
	char path[1024], err[512], user[32], text[4096];
	const char *dir = argc > 2 ? argv[1] : NULL;
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	int64_t t0 = ((int64_t)time(NULL) - 3600) * 1000;
	int r = 0;

	if (dir == NULL || n < 1 || n > 10000000) {
		fprintf(stderr, "usage: bench_report DIR N   (1 <= N <= 10000000)\n");
		return 2;
	}
	bench_mkdirs(dir);
	snprintf(path, sizeof(path), "%s/etc", dir);
	bench_mkdirs(path);
	snprintf(path, sizeof(path), "%s/log", dir);
	bench_mkdirs(path);
	snprintf(path, sizeof(path), "%s/etc/policy.conf", dir);
	bench_write_file(path, "roles = { nurse = { }; };\nrules = ( );\n", 0644);
	snprintf(text, sizeof(text),
	    "policy_file = \"%s/etc/policy.conf\";\nstate_dir = \"%s/state\";\n"
	    "secrets = { key_file = \"%s/etc/master.key\"; };\n"
	    "audit = { path = \"%s/log/audit.log\"; key_file = \"%s/etc/audit.key\"; "
	    "syslog = false; fsync = false; };\n", dir, dir, dir, dir, dir);
	snprintf(path, sizeof(path), "%s/etc/ward.conf", dir);
	bench_write_file(path, text, 0644);
	if (conf_load(&conf, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_report: %s\n", err);
		return 2;
	}
	if (secret_key_create(conf.audit.key_file, err, sizeof(err)) != 0 ||
	    state_open(&st, conf.state_dir, 1) != 0) {
		fprintf(stderr, "bench_report: setup: %s\n", err);
		return 2;
	}
	state_close(st);
	if (audit_log_open(&l, &conf, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_report: %s\n", err);
		return 2;
	}
	for (long i = 0; i < n && r == 0; i++) {
		/* spread evenly over 9 minutes: one window holds them all */
		struct audit_event ev = { .event = "auth", .result = "failure",
			.service = "gdm-password", .user = user, .reason = "wrong code",
			.factor = "totp", .offline = 0, .host = "reg-ws-9",
			.ts_ms = t0 + (int64_t)(i * (540000.0 / (double)n)) };

		snprintf(user, sizeof(user), "user%07ld", i);
		if ((r = audit_write(l, &ev, err, sizeof(err))) != 0)
			fprintf(stderr, "bench_report: %s\n", err);
	}
	audit_log_close(l);
	conf_free(&conf);
	return r == 0 ? 0 : 1;
}
