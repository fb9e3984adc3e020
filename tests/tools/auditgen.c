/*
 * auditgen.c - audit records for tests and benchmarks (never installed).
 *
 *   auditgen fleet DIR FLEET_KEY HOSTS RECORDS
 *       a collector's folder as verify --fleet reads it: DIR/HOST/audit.log
 *       for HOSTS hosts ws-0001..., RECORDS records each, chained under
 *       each host's key derived from the fleet key (audit_host_key), made
 *       with audit_format (fast: no store, no syslog)
 *   auditgen append CONF N [big]
 *       N records through the real writer (audit_append: the store's head,
 *       the log, the syslog copy when audit.syslog is set, under wardd's
 *       syslog name) with CONF's settings; "big" makes every other one long (a reason, detail and
 *       roles near their limits, escaped: about 20 KB a line)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "audit.h"
#include "conf.h"
#include "secret.h"

#define ZERO_MAC "0000000000000000000000000000000000000000000000000000000000000000"

static const char *const roles[] = { "nurse", "clinician" };

static int
fleet(const char *dir, const char *keyfile, int hosts, long records)
{
	struct secret_key fk;
	char err[512], path[4096], prev[AUDIT_MAC_HEX + 1], user[32];
	char *buf = malloc(AUDIT_LINE_MAX + 2);
	int64_t t0 = 1796000000000;      /* 2026-11-30 */
	int rc = 1;

	if (buf == NULL)
		return 1;
	if (secret_key_load(&fk, keyfile, err, sizeof(err)) != 0) {
		fprintf(stderr, "auditgen: %s\n", err);
		free(buf);
		return 1;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		perror(dir);
		goto out;
	}
	for (int h = 1; h <= hosts; h++) {
		unsigned char k[AUDIT_KEY_LEN];
		char host[32];
		FILE *f;

		snprintf(host, sizeof(host), "ws-%04d", h);
		snprintf(path, sizeof(path), "%s/%s", dir, host);
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			perror(path);
			goto out;
		}
		snprintf(path, sizeof(path), "%s/%s/audit.log", dir, host);
		if (audit_host_key(fk.k, host, k) != 0 || (f = fopen(path, "w")) == NULL) {
			fprintf(stderr, "auditgen: %s: cannot start\n", path);
			goto out;
		}
		memcpy(prev, ZERO_MAC, sizeof(prev));
		for (long i = 0; i < records; i++) {
			struct audit_event ev = { .event = i % 3 ? "account" : "auth",
				.result = i % 7 ? "allow" : "deny", .service = "gdm-password",
				.user = user, .rule = "icu-nurses-ehr", .reason = "ICU nurses use "
				"the EHR", .roles = roles, .nroles = 2, .factor = "totp",
				.policy_version = "4fe350d02079d87a", .offline = 0, .tty = ":0",
				.host = host, .ts_ms = t0 + i * 1000 };
			size_t n;

			snprintf(user, sizeof(user), "nurse%04ld", (h * 7919L + i) % 5000);
			n = audit_format(&ev, (uint64_t)i + 1, prev, k, sizeof(k), buf,
			    AUDIT_LINE_MAX + 2);
			if (n == 0 || fwrite(buf, 1, n, f) != n) {
				fprintf(stderr, "auditgen: %s: cannot write\n", path);
				fclose(f);
				goto out;
			}
			memcpy(prev, buf + n - 2 - AUDIT_MAC_HEX - 1, AUDIT_MAC_HEX);
			prev[AUDIT_MAC_HEX] = '\0';
		}
		ward_wipe(k, sizeof(k));
		if (fclose(f) != 0) {
			perror(path);
			goto out;
		}
	}
	rc = 0;
out:
	secret_key_wipe(&fk);
	free(buf);
	return rc;
}

static int
append(const char *confpath, long n, int big)
{
	struct ward_conf conf;
	char err[1024], user[32];
	static char reason[1100], detail[1100], many[64][96];
	const char *rv[64];
	int rc = 0;

	if (conf_load(&conf, confpath, err, sizeof(err)) != 0) {
		fprintf(stderr, "auditgen: %s\n", err);
		return 1;
	}
	/* the syslog copies go out as wardd's do (wardd.c opens the log so) */
	openlog("wardd", LOG_PID, LOG_AUTHPRIV);
	/* characters that are escaped in a record: a long line from short fields */
	for (size_t i = 0; i < 1024; i++) {
		reason[i] = (char)(i % 2 ? '"' : '\\');
		detail[i] = (char)(1 + i % 30);
	}
	for (size_t i = 0; i < 64; i++) {
		snprintf(many[i], sizeof(many[i]), "role-%02zu-%s", i,
		    "with-a-long-name-as-directories-make-them-xxxxxxxxxxxxxxxxxxxx");
		rv[i] = many[i];
	}
	for (long i = 0; i < n && rc == 0; i++) {
		int b = big && i % 2 == 1;
		struct audit_event ev = { .event = "account", .result = i % 5 ? "allow" : "deny",
			.service = "gdm-password", .user = user, .rule = "icu-nurses-ehr",
			.reason = b ? reason : "ICU nurses use the EHR", .roles = b ? rv : roles,
			.nroles = b ? 64 : 2, .factor = "none", .offline = 0, .tty = ":0",
			.detail = b ? detail : NULL };

		snprintf(user, sizeof(user), "nurse%04ld", i);
		if (audit_append(&conf, &ev, err, sizeof(err)) != 0) {
			fprintf(stderr, "auditgen: %s\n", err);
			rc = 1;
		}
	}
	conf_free(&conf);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "fleet") == 0)
		return fleet(argv[2], argv[3], atoi(argv[4]), atol(argv[5]));
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "append") == 0)
		return append(argv[2], atol(argv[3]), argc == 5 && strcmp(argv[4], "big") == 0);
	fprintf(stderr, "usage: auditgen fleet DIR FLEET_KEY HOSTS RECORDS\n"
	    "       auditgen append CONF N [big]\n");
	return 2;
}
