/*
 * bench_policy.c - policy engine benchmark (not a test: it prints, never
 * asserts).
 *
 *   bench_policy gen small|large FILE   write a synthetic hospital policy
 *   bench_policy run FILE LABEL         load it, then time decisions
 *   bench_policy ready FILE             load + one decision (a new process)
 *   bench_policy load FILE LABEL        load time and peak memory only (the
 *                                       shapes of gen-policy-shapes.sh)
 *   bench_policy compile FILE SNAP      write the compiled snapshot
 *   bench_policy ready-snap SNAP [-v]   snapshot load + one decision, as the
 *                                       PAM module does it (-v: time it inside)
 *
 * The generator is deterministic (xorshift, fixed seed).  "large" follows
 * Casbin's published "RBAC large" scale: 10,000 roles in a deep hierarchy
 * (chains of 20 plus cross-links), 110,000 rules, 500 apps, 1,000 host
 * groups.  Requests are spread over 100,000 distinct users' role sets (1-3
 * assigned roles each), random services, workstations and times.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ward_policy.h"
#include "benchutil.h"

static uint64_t rs = 0x2545F4914F6CDD1DULL;

static uint32_t
rnd(uint32_t n)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (uint32_t)(rs % n);
}

struct scale {
	int roles, rules, apps, hostgroups;
};

static const struct scale small = { 50, 100, 10, 20 };
static const struct scale large = { 10000, 110000, 500, 1000 };

static int
gen(const struct scale *s, const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fprintf(f, "roles = {\n");
	for (int i = 0; i < s->roles; i++) {
		fprintf(f, " r%d = { ", i);
		if (i % 20 != 0) {
			fprintf(f, "inherits = [\"r%d\"", i - 1);
			if (i > 40 && rnd(10) == 0)
				fprintf(f, ", \"r%u\"", rnd((uint32_t)(i / 20 * 20)));
			fprintf(f, "]; ");
		}
		fprintf(f, "permissions = [\"a%u:act%u\"]; };\n", rnd((uint32_t)s->apps), rnd(5));
	}
	fprintf(f, "};\napps = {\n");
	for (int a = 0; a < s->apps; a++)
		fprintf(f, " a%d = [\"s%d-login\", \"s%d-console\"];\n", a, a, a);
	fprintf(f, "};\nhosts = {\n");
	for (int g = 0; g < s->hostgroups; g++)
		fprintf(f, " g%d = [\"h%d-*\", \"x%d-01\"];\n", g, g, g);
	fprintf(f, "};\nschedules = { day = \"Mon-Fri 07:00-19:00\"; night = \"Mon-Sun 19:00-07:00\";"
	    " weekend = \"Sat-Sun 00:00-24:00\"; };\nrules = (\n");
	for (int i = 0; i < s->rules; i++) {
		int deny = rnd(10) == 0;
		fprintf(f, " { id = \"q%d\"; effect = \"%s\"; roles = [\"r%u\"]; apps = [\"a%u\"]; ",
		    i, deny ? "deny" : "allow", rnd((uint32_t)s->roles), rnd((uint32_t)s->apps));
		if (rnd(10) < 7)
			fprintf(f, "hosts = [\"g%u\"]; ", rnd((uint32_t)s->hostgroups));
		if (rnd(10) < 3)
			fprintf(f, "when = \"%s\"; ", (const char *[]){ "day", "night", "weekend" }[rnd(3)]);
		if (deny)
			fprintf(f, "reason = \"generated deny %d\"; ", i);
		else
			fprintf(f, "mfa_grace = %u; idle_logoff = %u; ", rnd(900), 300 + rnd(900));
		fprintf(f, "}%s\n", i + 1 < s->rules ? "," : "");
	}
	fprintf(f, ");\nbreak_glass = { roles = [\"r0\"]; apps = [\"a0\"]; };\n");
	return fclose(f);
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define NUSERS 100000
#define NREQ 200000

static int
run(const char *path, const char *label)
{
	char err[4096];
	double t0 = now_ns(), t1, *lat;
	struct policy *p = policy_load(path, err, sizeof(err));
	struct rusage ru;
	char (*names)[16];
	const char *(*sets)[3];
	int *nset, nroles, napps, nhg, allows = 0;

	if (p == NULL) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	t1 = now_ns();
	nroles = (int)policy_nroles(p);
	napps = (int)policy_napps(p);
	nhg = strcmp(label, "large") == 0 ? large.hostgroups : small.hostgroups;
	names = calloc((size_t)nroles, sizeof(*names));
	sets = calloc(NUSERS, sizeof(*sets));
	nset = calloc(NUSERS, sizeof(*nset));
	lat = calloc(NREQ, sizeof(*lat));
	if (!names || !sets || !nset || !lat)
		return 2;
	for (int i = 0; i < nroles; i++)
		snprintf(names[i], sizeof(names[i]), "r%d", i);
	for (int u = 0; u < NUSERS; u++) {
		nset[u] = 1 + (int)rnd(3);
		for (int k = 0; k < nset[u]; k++)
			sets[u][k] = names[rnd((uint32_t)nroles)];
	}
	for (int i = 0; i < NREQ; i++) {
		char svc[32], host[32];
		int u = (int)rnd(NUSERS);
		struct policy_request rq = { .user = "u", .roles = sets[u], .nroles = (size_t)nset[u],
			.service = svc, .host = host, .wday = (int)rnd(7), .minute = (int)rnd(1440) };
		struct policy_decision d;
		double a;

		snprintf(svc, sizeof(svc), "s%u-%s", rnd((uint32_t)napps), rnd(2) ? "login" : "console");
		snprintf(host, sizeof(host), "h%u-%u", rnd((uint32_t)nhg), rnd(50));
		a = now_ns();
		policy_decide(p, &rq, &d);
		lat[i] = now_ns() - a;
		allows += d.allow;
	}
	qsort(lat, NREQ, sizeof(*lat), bench_cmp_d);
	getrusage(RUSAGE_SELF, &ru);
	printf("%-6s roles %6d  load from text %8.1f ms  decision p50 %7.3f us  p99 %7.3f us"
	    "  (%d requests, %d allowed)  max RSS %ld MiB\n", label, nroles, (t1 - t0) / 1e6,
	    lat[NREQ / 2] / 1e3, lat[NREQ * 99 / 100] / 1e3, NREQ, allows, ru.ru_maxrss / 1024);
	printf("RESULT %s p50_ns=%.0f p99_ns=%.0f load_ms=%.1f\n", label, lat[NREQ / 2],
	    lat[NREQ * 99 / 100], (t1 - t0) / 1e6);
	policy_free(p);
	free(names);
	free(sets);
	free(nset);
	free(lat);
	return 0;
}

static int
ready(const char *path)
{
	char err[4096];
	struct policy *p = policy_load(path, err, sizeof(err));
	struct policy_request rq = { .user = "u", .service = "s0-login", .host = "h0-1" };
	struct policy_decision d;

	if (p == NULL)
		return 2;
	policy_decide(p, &rq, &d);
	policy_free(p);
	return 0;
}

/* wardd's path (daemon/core.c core_load_policy): open, check, map. */
static int
ready_snap(const char *path, int verbose)
{
	char err[4096];
	double t0 = now_ns();
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	struct policy *p = fd < 0 ? NULL : policy_load_snapshot_fd(fd, path, err, sizeof(err));
	struct policy_request rq = { .user = "u", .service = "s0-login", .host = "h0-1" };
	struct policy_decision d;
	struct rusage ru;

	if (fd >= 0)
		close(fd);
	if (p == NULL) {
		fprintf(stderr, "%s\n", fd < 0 ? path : err);
		return 2;
	}
	policy_decide(p, &rq, &d);
	if (verbose) {
		getrusage(RUSAGE_SELF, &ru);
		printf("  in the process: snapshot load + one decision %.2f ms, max RSS %ld MiB\n",
		    (now_ns() - t0) / 1e6, ru.ru_maxrss / 1024);
	}
	policy_free(p);
	return 0;
}

/* The snapshot of PATH; it records no text (mapped by ready-snap as it is). */
static int
load_only(const char *path, const char *label)
{
	char err[4096];
	double t0 = now_ns();
	struct policy *p = policy_load(path, err, sizeof(err));
	double t1 = now_ns();
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf("%-12s load from text %9.1f ms  max RSS %5ld MiB  %s\n", label, (t1 - t0) / 1e6,
	    ru.ru_maxrss / 1024, p != NULL ? "loaded" : err);
	policy_free(p);
	return 0;
}

static int
compile(const char *path, const char *snap)
{
	char err[4096];
	struct policy *p = policy_load(path, err, sizeof(err));
	int r;

	if (p == NULL)
		return 2;
	r = policy_compile(p, snap, NULL, err, sizeof(err));
	policy_free(p);
	return r ? 2 : 0;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "compile") == 0)
		return compile(argv[2], argv[3]);
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "ready-snap") == 0)
		return ready_snap(argv[2], argc == 4 && strcmp(argv[3], "-v") == 0);
	if (argc == 4 && strcmp(argv[1], "gen") == 0)
		return gen(strcmp(argv[2], "large") == 0 ? &large : &small, argv[3]) ? 2 : 0;
	if (argc == 4 && strcmp(argv[1], "run") == 0)
		return run(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "load") == 0)
		return load_only(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "ready") == 0)
		return ready(argv[2]);
	fprintf(stderr, "usage: bench_policy gen small|large FILE | run FILE LABEL | ready FILE"
	    " | load FILE LABEL\n");
	return 2;
}
