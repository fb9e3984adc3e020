/*
 * test_fleet_report.c - what a collector sees of a whole hospital
 * (wardctl(8), AUDIT ACROSS A FLEET), over fleets made by
 * tests/tools/auditgen's shift mode (6 wards x 4 workstations, 5 hours):
 *  - a normal shift: audit report --fleet finds nothing (exit 0), verify
 *    --fleet shows every host's last head and finds no silent host;
 *  - each planted shape alone makes exactly its rule fire, naming the
 *    records (host and seq) the plant wrote, in text and in --json, and
 *    exits 1: spread (user-many-hosts), spray, replay (replay-elsewhere),
 *    presence (impossible-presence); --presence-minutes 1 makes the
 *    2-minute presence plant no finding;
 *  - silent: verify --fleet names the host that stopped writing (SILENT,
 *    exit 1) and only it;
 *  - a host whose log was edited is left out of the report, named, exit 1.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "secret.h"
#include "testutil.h"

static char *top;
static char fleetkey[512];

static int
setup(void)
{
	if ((top = tu_mkdtemp("ward-fleetrep")) == NULL)
		return -1;
	snprintf(fleetkey, sizeof(fleetkey), "%s/fleet-audit.key", top);
	return secret_key_create(fleetkey, (char[256]){ 0 }, 256) == 0 ? 0 : -1;
}

static int
teardown(void)
{
	tu_rmtree(top);
	free(top);
	return 0;
}

/* A fleet NAME with PLANTS (a space-separated list, may be ""). */
static void
make_fleet(const char *name, const char *plants)
{
	char cmd[2048];
	int st;
	char *out;

	snprintf(cmd, sizeof(cmd), "rm -rf %s/%s && %s/tests/tools/auditgen shift %s/%s %s "
	    "6 4 5 %s", top, name, tu_build(), top, name, fleetkey, plants);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_EQUAL_FATAL(st, 0);
	free(out);
}

/* wardctl audit SUB --fleet over fleet NAME with EXTRA options; its output
 * (malloc'd) and exit status. */
static char *
wardctl(const char *sub, const char *name, const char *extra, int *st)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "%s/wardctl audit %s --fleet %s/%s --fleet-key %s %s",
	    tu_build(), sub, top, name, fleetkey, extra);
	return tu_run(cmd, 0, st);
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void
test_normal(void)
{
	int st;
	char *out;

	make_fleet("normal", "");
	out = wardctl("report", "normal", "", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_EQUAL(count(out, "FINDING"), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "24 hosts analysed (0 left out)"));
	if (st != 0)
		fprintf(stderr, "%s", out);
	free(out);
	out = wardctl("verify", "normal", "", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_EQUAL(count(out, "last head "), 24);
	CU_ASSERT_EQUAL(count(out, "SILENT    "), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "0 silent"));
	free(out);
}

static void
one_plant(const char *plant, const char *rule, const char *const *records)
{
	char name[64], want[128];
	int st;
	char *out;

	snprintf(name, sizeof(name), "plant-%s", plant);
	make_fleet(name, plant);
	out = wardctl("report", name, "", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_EQUAL(count(out, "FINDING"), 1);
	snprintf(want, sizeof(want), "FINDING   %s: ", rule);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	for (size_t i = 0; records[i] != NULL; i++) {
		CU_ASSERT_PTR_NOT_NULL(strstr(out, records[i]));
		if (strstr(out, records[i]) == NULL)
			fprintf(stderr, "%s: no \"%s\" in:\n%s", plant, records[i], out);
	}
	free(out);
	out = wardctl("report", name, "--json", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 1);
	snprintf(want, sizeof(want), "\"rule\":\"%s\"", rule);
	CU_ASSERT_EQUAL(count(out, "\"rule\":"), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	snprintf(want, sizeof(want), "\"%s\":1", rule);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	free(out);
}

/* The seqs below are where the plants land in auditgen's deterministic
 * shift (its generator is fixed): each plant's records by host and seq. */
static void
test_spread(void)
{
	static const char *const r[] = { "user mallory failed on 3 workstations",
		"icu-ws-01 seq 282 ", "icu-ws-02 seq 263 ", "rx-ws-01 seq 300 ", NULL };

	one_plant("spread", "user-many-hosts", r);
}

static void
test_spray(void)
{
	static const char *const r[] = { "host er-ws-01 service sshd failed for 5 distinct "
		"users", NULL };

	one_plant("spray", "spray", r);
}

static void
test_replay(void)
{
	static const char *const r[] = { "user victim's code, accepted on icu-ws-01 service "
		"gdm-password, was tried again 40 s later on icu-ws-02 service sudo", NULL };

	one_plant("replay", "replay-elsewhere", r);
}

static void
test_presence(void)
{
	static const char *const r[] = { "user drwho logged in on icu-ws-01 and 120 s later "
		"on rx-ws-01", NULL };
	int st;
	char *out;

	one_plant("presence", "impossible-presence", r);
	/* two minutes apart: no finding under a one-minute threshold */
	out = wardctl("report", "plant-presence", "--presence-minutes 1", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_EQUAL(count(out, "FINDING"), 0);
	free(out);
	out = wardctl("report", "plant-presence", "--presence-minutes 0", &st);
	CU_ASSERT_EQUAL(st, 2);
	free(out);
}

static void
test_silent(void)
{
	int st;
	char *out;

	make_fleet("silent", "silent");
	out = wardctl("verify", "silent", "", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_EQUAL(count(out, "SILENT    "), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "SILENT    card-ws-04: silent since "));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "0 tampered, 0 unreadable, 1 silent"));
	free(out);
	out = wardctl("verify", "silent", "--json", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"silent\":[{\"host\":\"card-ws-04\""));
	free(out);
	/* silence is no finding of the analysis: the report looks at records */
	out = wardctl("report", "silent", "", &st);
	CU_ASSERT_EQUAL(st, 0);
	free(out);
}

static void
test_left_out(void)
{
	char cmd[1024];
	int st;
	char *out;

	make_fleet("edited", "spread");
	/* one character of a record of rx-ws-02 changed: its MAC no longer holds */
	snprintf(cmd, sizeof(cmd), "sed -i '1s/\"success\"/\"failure\"/' %s/edited/rx-ws-02/"
	    "audit.log", top);
	out = tu_run(cmd, 1, &st);
	CU_ASSERT_EQUAL(st, 0);
	free(out);
	out = wardctl("report", "edited", "", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "LEFT OUT  rx-ws-02: does not verify"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "23 hosts analysed (1 left out)"));
	/* the other hosts are still analysed */
	CU_ASSERT_EQUAL(count(out, "FINDING   user-many-hosts"), 1);
	free(out);
}

int
main(void)
{
	CU_pSuite s;
	unsigned fails;

	if (geteuid() != 0) {
		fprintf(stderr, "test_fleet_report: needs root (keys are root's)\n");
		return 1;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("fleet report", setup, teardown);
	CU_add_test(s, "a normal shift: no finding, no silent host", test_normal);
	CU_add_test(s, "one user failing on 3 hosts", test_spread);
	CU_add_test(s, "one host failing for many users", test_spray);
	CU_add_test(s, "a code replayed on another host", test_replay);
	CU_add_test(s, "logins in two wards 2 minutes apart", test_presence);
	CU_add_test(s, "a host that stopped writing is silent", test_silent);
	CU_add_test(s, "a tampered host is left out and named", test_left_out);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	if (CU_get_number_of_suites_failed() > 0)
		fails++;
	CU_cleanup_registry();
	return fails == 0 ? 0 : 1;
}
