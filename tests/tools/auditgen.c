/*
 * auditgen.c - audit records for tests and benchmarks (never installed).
 *
 *   auditgen fleet DIR FLEET_KEY HOSTS RECORDS
 *       a collector's folder as verify --fleet reads it: DIR/HOST/audit.log
 *       for HOSTS hosts ws-0001..., RECORDS records each, chained under
 *       each host's key derived from the fleet key (audit_host_key), made
 *       with audit_format (fast: no store, no syslog)
 *   auditgen shift DIR FLEET_KEY WARDS HOSTS_PER_WARD HOURS [PLANT...]
 *       a collector's folder after HOURS hours of normal shifts: hosts
 *       WARD-ws-NN (wards icu, rx, er, onc, ped, card, lab, mat, cycled
 *       with a number past 8), each used by 6 of its ward's nurses, each
 *       nurse at two neighbouring hosts (a login every 30-150 s: auth success with TOTP, account allow,
 *       session_open; one login in 40 starts with a wrong code), a head
 *       record every 300 s.  Deterministic.  PLANTs add what audit report
 *       --fleet must find, 2 hours in (WARDS >= 2, HOSTS_PER_WARD >= 2):
 *         spread    user mallory fails on 3 hosts within 4 minutes
 *         spray     er... host 1 (the third ward's) fails for 6 users on sshd
 *         replay    user victim's code, accepted on the first host's
 *                   gdm-password, refused as used 40 s later on the
 *                   second host's sudo
 *         presence  user drwho logs in on the first host, then 2 minutes
 *                   later on the second ward's first host
 *         offline   (fleet mode, the directory unreachable) user offrep's
 *                   code accepted on the first and the second host, whose
 *                   fleet_sync record 2 minutes later says replay_suspected
 *         silent    the last host writes nothing after half the shift
 *         offhours  7 hours after the shift, newnurse (no history: role
 *                   nurse's baseline) logs in on the second host, a minute
 *                   later icun000 (her own) on the first
 *         breakglass  user bgfrequent claims break-glass 6 times on the
 *                   first host, 10 minutes apart; icun001 and icun002
 *                   once each (peers who do not stand out)
 *         hostile   a user named <script>alert("x")</script>&' fails on 3
 *                   hosts within 4 minutes on service ssh"d<b>&amp;, and
 *                   her code accepted on the first host's service of that
 *                   name is refused as used 40 s later on the second's
 *                   (strings an attacker may put in records)
 *   auditgen append CONF N [big]
 *       N records through the real writer (audit_append: the store's head,
 *       the log, the syslog copy when audit.syslog is set, under wardd's
 *       syslog name) with CONF's settings; "big" makes every other one long (a reason, detail and
 *       roles near their limits, escaped: about 20 KB a line)
 */
#include <errno.h>
#include <stdint.h>
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


/* ---- shift ---- */

#define PLANT_MAX 64
struct plant {
	int host;                        /* host index */
	int64_t ts;
	const char *user, *service, *event, *result, *reason, *factor;
	char ubuf[32];
};

static const char hostile_user[] = "<script>alert(\"x\")</script>&'";
static const char hostile_service[] = "ssh\"d<b>&amp;";

struct gen {
	FILE *f;
	unsigned char k[AUDIT_KEY_LEN];
	char prev[AUDIT_MAC_HEX + 1];
	uint64_t seq;
	char *buf;
	const char *host;
};

static int
emit(struct gen *g, const char *event, const char *result, const char *service,
    const char *user, const char *reason, const char *factor, const char *detail, int64_t ts)
{
	struct audit_event ev = { .event = event, .result = result, .service = service,
		.user = user, .rule = strcmp(event, "account") == 0 ? "ward-nurses-ehr" : NULL,
		.reason = reason, .roles = roles, .nroles = user != NULL ? 1 : 0,
		.factor = factor, .policy_version = "4fe350d02079d87a", .offline = user ? 0 : -1,
		.tty = service != NULL ? ":0" : NULL, .detail = detail, .host = g->host,
		.ts_ms = ts };
	size_t n = audit_format(&ev, ++g->seq, g->prev, g->k, sizeof(g->k), g->buf,
	    AUDIT_LINE_MAX + 2);

	if (n == 0 || fwrite(g->buf, 1, n, g->f) != n)
		return -1;
	memcpy(g->prev, g->buf + n - 2 - AUDIT_MAC_HEX - 1, AUDIT_MAC_HEX);
	g->prev[AUDIT_MAC_HEX] = '\0';
	return 0;
}

static const char *const wards[] = { "icu", "rx", "er", "onc", "ped", "card", "lab", "mat" };

static void
host_name(int h, int per, char *buf, size_t len)
{
	int w = h / per, nw = (int)(sizeof(wards) / sizeof(wards[0]));

	if (w < nw)
		snprintf(buf, len, "%s-ws-%02d", wards[w], h % per + 1);
	else
		snprintf(buf, len, "%s%d-ws-%02d", wards[w % nw], w / nw, h % per + 1);
}

static size_t
add_plant(struct plant *p, size_t n, int host, int64_t ts, const char *user,
    const char *service, const char *event, const char *result, const char *reason,
    const char *factor)
{
	if (n >= PLANT_MAX)
		return n;
	p[n] = (struct plant){ host, ts, user, service, event, result, reason, factor, "" };
	return n + 1;
}

static int
shift(const char *dir, const char *keyfile, int nwards, int per, int hours, char **plants,
    int nplants)
{
	static struct plant pl[PLANT_MAX];
	struct secret_key fk;
	struct gen g;
	char err[512], path[4096], host[64], user[64];
	const int64_t t0 = 1796000000000;      /* 2026-11-30 */
	const int64_t end = t0 + hours * 3600000LL, mid = t0 + 2 * 3600000LL;
	int hosts = nwards * per, silent = 0, rc = 1;
	size_t np = 0;

	memset(&g, 0, sizeof(g));
	if (nwards < 1 || per < 1 || hours < 1 || (g.buf = malloc(AUDIT_LINE_MAX + 2)) == NULL)
		return 2;
	for (int i = 0; i < nplants; i++) {
		if (strcmp(plants[i], "spread") == 0 && nwards >= 2 && per >= 2) {
			np = add_plant(pl, np, 0, mid, "mallory", "gdm-password", "auth",
			    "failure", "wrong", "totp");
			np = add_plant(pl, np, 1, mid + 110000, "mallory", "gdm-password", "auth",
			    "failure", "wrong", "totp");
			np = add_plant(pl, np, per, mid + 230000, "mallory", "sshd", "auth",
			    "failure", "wrong", "totp");
		} else if (strcmp(plants[i], "spray") == 0 && nwards >= 3) {
			for (int u = 0; u < 6; u++) {
				np = add_plant(pl, np, 2 * per, mid + 20000LL * u, NULL, "sshd", "auth",
				    "failure", "wrong", "totp");
				snprintf(pl[np - 1].ubuf, sizeof(pl[0].ubuf), "sprayed%d", u);
			}
		} else if (strcmp(plants[i], "replay") == 0 && per >= 2) {
			np = add_plant(pl, np, 0, mid + 3000, "victim", "gdm-password", "auth",
			    "success", NULL, "totp");
			np = add_plant(pl, np, 1, mid + 43000, "victim", "sudo", "auth",
			    "failure", "replay", "totp");
		} else if (strcmp(plants[i], "presence") == 0 && nwards >= 2) {
			np = add_plant(pl, np, 0, mid + 7000, "drwho", "gdm-password", "auth",
			    "success", NULL, "totp");
			np = add_plant(pl, np, per, mid + 127000, "drwho", "gdm-password", "auth",
			    "success", NULL, "totp");
		} else if (strcmp(plants[i], "offhours") == 0 && per >= 2) {
			np = add_plant(pl, np, 1, end + 7 * 3600000LL, "newnurse", "gdm-password",
			    "auth", "success", NULL, "totp");
			np = add_plant(pl, np, 0, end + 7 * 3600000LL + 60000, "icun000",
			    "gdm-password", "auth", "success", NULL, "totp");
		} else if (strcmp(plants[i], "breakglass") == 0) {
			for (int k = 0; k < 6; k++)
				np = add_plant(pl, np, 0, mid + 600000LL * k + 5000, "bgfrequent",
				    "gdm-password", "breakglass", "granted", "patient crashing",
				    NULL);
			np = add_plant(pl, np, 0, mid + 9000, "icun001", "gdm-password",
			    "breakglass", "granted", "code blue", NULL);
			np = add_plant(pl, np, 0, mid + 13000, "icun002", "gdm-password",
			    "breakglass", "granted", "code blue", NULL);
		} else if (strcmp(plants[i], "hostile") == 0 && nwards >= 2 && per >= 2) {
			np = add_plant(pl, np, 0, mid + 1000, hostile_user, hostile_service, "auth",
			    "failure", "wrong", "totp");
			np = add_plant(pl, np, 1, mid + 111000, hostile_user, hostile_service,
			    "auth", "failure", "wrong", "totp");
			np = add_plant(pl, np, per, mid + 231000, hostile_user, hostile_service,
			    "auth", "failure", "wrong", "totp");
			np = add_plant(pl, np, 0, mid + 600000, hostile_user, hostile_service,
			    "auth", "success", NULL, "totp");
			np = add_plant(pl, np, 1, mid + 640000, hostile_user, hostile_service,
			    "auth", "failure", "replay", "totp");
		} else if (strcmp(plants[i], "offline") == 0 && per >= 2) {
			np = add_plant(pl, np, 0, mid + 300000, "offrep", "gdm-password", "auth",
			    "success", NULL, "totp");
			np = add_plant(pl, np, 1, mid + 302000, "offrep", "gdm-password", "auth",
			    "success", NULL, "totp");
			np = add_plant(pl, np, 1, mid + 420000, "offrep", NULL, "fleet_sync",
			    "replay_suspected", NULL, NULL);
		} else if (strcmp(plants[i], "silent") == 0) {
			silent = 1;
		} else {
			fprintf(stderr, "auditgen: %s: not a plant this fleet can hold\n", plants[i]);
			free(g.buf);
			return 2;
		}
	}
	for (size_t i = 0; i < np; i++)
		if (pl[i].user == NULL)
			pl[i].user = pl[i].ubuf;
	if (secret_key_load(&fk, keyfile, err, sizeof(err)) != 0) {
		fprintf(stderr, "auditgen: %s\n", err);
		free(g.buf);
		return 1;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		perror(dir);
		goto out;
	}
	for (int h = 0; h < hosts; h++) {
		uint32_t lcg = 2654435761u * (uint32_t)(h + 1);
		int64_t t = t0, next_head = t0 + 300000, stop = silent && h == hosts - 1 ?
		    t0 + (end - t0) / 2 : end;
		long logins = 0;

		host_name(h, per, host, sizeof(host));
		g.host = host;
		g.seq = 0;
		memcpy(g.prev, ZERO_MAC, sizeof(g.prev));
		snprintf(path, sizeof(path), "%s/%s", dir, host);
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			perror(path);
			goto out;
		}
		snprintf(path, sizeof(path), "%s/%s/audit.log", dir, host);
		if (audit_host_key(fk.k, host, g.k) != 0 || (g.f = fopen(path, "w")) == NULL) {
			fprintf(stderr, "auditgen: %s: cannot start\n", path);
			goto out;
		}
		while (t < stop) {
			int64_t step;
			int r = 0;

			lcg = lcg * 1664525u + 1013904223u;
			step = 30000 + (int64_t)(lcg >> 8) % 120000;
			/* what falls before this login: heads and plants */
			for (;;) {
				int64_t pt = INT64_MAX;
				size_t pi = 0;

				for (size_t i = 0; i < np; i++)
					if (pl[i].host == h && pl[i].ts <= t &&
					    pl[i].ts < pt) {
						pt = pl[i].ts;
						pi = i;
					}
				if (next_head <= t && next_head <= pt) {
					r |= emit(&g, "head", "success", NULL, NULL, NULL, NULL,
					    "interval 300", next_head);
					next_head += 300000;
				} else if (pt != INT64_MAX) {
					r |= emit(&g, pl[pi].event, pl[pi].result, pl[pi].service,
					    pl[pi].user, pl[pi].reason, pl[pi].factor, NULL, pl[pi].ts);
					pl[pi].host = -1;       /* written */
				} else {
					break;
				}
			}
			lcg = lcg * 1664525u + 1013904223u;
			/* a nurse works at two neighbouring workstations of her ward */
			snprintf(user, sizeof(user), "%sn%03u", wards[(h / per) %
			    (int)(sizeof(wards) / sizeof(wards[0]))],
			    (unsigned)(h % per) * 3 + (lcg >> 8) % 6);
			if (++logins % 40 == 0)
				r |= emit(&g, "auth", "failure", "gdm-password", user, "wrong", "totp",
				    NULL, t);
			r |= emit(&g, "auth", "success", "gdm-password", user, NULL, "totp", NULL,
			    t + 8000);
			r |= emit(&g, "account", "allow", "gdm-password", user, NULL, "totp", NULL,
			    t + 8100);
			r |= emit(&g, "session_open", "success", "gdm-password", user, NULL, NULL,
			    NULL, t + 8200);
			if (r != 0) {
				fprintf(stderr, "auditgen: %s: cannot write\n", path);
				goto out;
			}
			t += step;
		}
		/* plants after the shift's end (not on a silent host) */
		for (int r = 0; stop == end;) {
			int64_t pt = INT64_MAX;
			size_t pi = 0;

			for (size_t i = 0; i < np; i++)
				if (pl[i].host == h && pl[i].ts < pt) {
					pt = pl[i].ts;
					pi = i;
				}
			if (pt == INT64_MAX)
				break;
			r |= emit(&g, pl[pi].event, pl[pi].result, pl[pi].service, pl[pi].user,
			    pl[pi].reason, pl[pi].factor, NULL, pl[pi].ts);
			pl[pi].host = -1;
			if (r != 0) {
				fprintf(stderr, "auditgen: %s: cannot write\n", path);
				goto out;
			}
		}
		ward_wipe(g.k, sizeof(g.k));
		if (fclose(g.f) != 0) {
			g.f = NULL;
			perror(path);
			goto out;
		}
		g.f = NULL;
	}
	rc = 0;
out:
	if (g.f != NULL)
		fclose(g.f);
	ward_wipe(g.k, sizeof(g.k));
	secret_key_wipe(&fk);
	free(g.buf);
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
	if (argc >= 7 && strcmp(argv[1], "shift") == 0)
		return shift(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]),
		    argv + 7, argc - 7);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "append") == 0)
		return append(argv[2], atol(argv[3]), argc == 5 && strcmp(argv[4], "big") == 0);
	fprintf(stderr, "usage: auditgen fleet DIR FLEET_KEY HOSTS RECORDS\n"
	    "       auditgen shift DIR FLEET_KEY WARDS HOSTS_PER_WARD HOURS [PLANT...]\n"
	    "       auditgen append CONF N [big]\n");
	return 2;
}
