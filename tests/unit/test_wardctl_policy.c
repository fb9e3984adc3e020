/*
 * test_wardctl_policy.c - wardctl policy check/test/show/who and can, run
 * as a sysadmin would: exit codes (0/1/2), key output, JSON fields, options
 * before or after the command words, --config through ward.conf.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy_internal.h"     /* the snapshot header, its text stamp */

static char dir[] = "/tmp/ward-cli-XXXXXX";
static char wardctl[1024], policy[1024], out[1 << 17];

/* Run wardctl with ARGS (a shell fragment); capture stdout+stderr. */
static int
run(const char *args)
{
	char cmd[4096];
	FILE *p;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", wardctl, args);
	p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	fclose(f);
	return chmod(path, mode);
}

static int
setup(void)
{
	const char *b = getenv("WARD_BUILD"), *s = getenv("WARD_SRC");
	char conf[1024], text[2048];

	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(wardctl, sizeof(wardctl), "%s/wardctl", b ? b : "build");
	snprintf(policy, sizeof(policy), "%s/contrib/policy.conf", s ? s : ".");
	snprintf(conf, sizeof(conf), "%s/ward.conf", dir);
	snprintf(text, sizeof(text), "policy_file = \"%s\";\nstate_dir = \"%s/state\";\n",
	    policy, dir);
	return write_file(conf, text, 0644);
}

static int
teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_check(void)
{
	char cmd[2048], bad[1024], lint[1024];

	snprintf(cmd, sizeof(cmd), "policy check %s", policy);
	CU_ASSERT_EQUAL(run(cmd), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "OK"));

	snprintf(bad, sizeof(bad), "%s/bad.conf", dir);
	CU_ASSERT_EQUAL_FATAL(write_file(bad,
	    "roles = { a = { inherits = [\"b\"]; };\n b = { inherits = [\"a\"]; }; };\n"
	    "hosts = { icu = [\"icu-*\"]; };\n"
	    "rules = (\n { id = \"r\"; effect = \"allow\"; hosts = [\"icu\"]; when = \"nights\"; } );\n",
	    0644), 0);
	snprintf(cmd, sizeof(cmd), "policy check %s", bad);
	CU_ASSERT_EQUAL(run(cmd), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "bad.conf:1: inheritance cycle"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "bad.conf:5: unknown schedule 'nights'"));
	snprintf(cmd, sizeof(cmd), "policy check %s --json", bad);
	CU_ASSERT_EQUAL(run(cmd), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"ok\":false"));

	snprintf(lint, sizeof(lint), "%s/lint.conf", dir);
	CU_ASSERT_EQUAL_FATAL(write_file(lint,
	    "roles = { a = { }; };\nrules = (\n { id = \"x\"; effect = \"allow\"; roles = [\"a\"]; },\n"
	    " { id = \"y\"; effect = \"deny\"; } );\n", 0644), 0);
	snprintf(cmd, sizeof(cmd), "policy check %s", lint);
	CU_ASSERT_EQUAL(run(cmd), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "lint.conf:3: allow rule 'x' is fully shadowed"));

	/* an unsafe policy file is refused */
	chmod(lint, 0666);
	CU_ASSERT_EQUAL(run(cmd), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "writable by group or others"));
}

static void
test_test(void)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "policy test --policy %s --user alice --service gdm-password "
	    "--host icu-ws-03 --at 2026-11-23T14:05", policy);
	CU_ASSERT_EQUAL(run(cmd), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ALLOW"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "icu-nurses-ehr"));

	/* options before the command words, JSON fields */
	snprintf(cmd, sizeof(cmd), "--json --policy %s policy test --user alice --service rx-console "
	    "--host rx-ws-01 --at 2026-11-23T14:05", policy);
	CU_ASSERT_EQUAL(run(cmd), 1);
	{
		static const char *const fields[] = { "\"decision\":\"deny\"",
			"\"rule\":\"no-rx-for-nurses\"", "\"reason\":\"Nurses dispense through the pharmacy desk\"",
			"\"roles\":[\"clinician\",\"icu_nurse\",\"nurse\"]", "\"mfa\":", "\"mfa_grace\":",
			"\"idle_logoff\":", "\"session_max\":", "\"break_glass\":false",
			"\"policy_version\":\"", "\"trace\":[", "\"failed\":\"app\"" };
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			if (strstr(out, fields[i]) == NULL)
				fprintf(stderr, "missing %s in %s\n", fields[i], out);
			CU_ASSERT_PTR_NOT_NULL(strstr(out, fields[i]));
		}
	}
	/* the trace leaves out the rules for roles alice does not hold, and
	 * says how many; --all lists them */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"trace_unheld\":"));
	CU_ASSERT_PTR_NULL(strstr(out, "\"failed\":\"role\""));
	snprintf(cmd, sizeof(cmd), "policy test --policy %s --user alice --service rx-console "
	    "--host rx-ws-01 --at 2026-11-23T14:05", policy);
	CU_ASSERT_EQUAL(run(cmd), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "for roles not held are not listed; --all lists them"));
	CU_ASSERT_PTR_NULL(strstr(out, "role: holds none"));
	snprintf(cmd, sizeof(cmd), "policy test --policy %s --user alice --service rx-console "
	    "--host rx-ws-01 --at 2026-11-23T14:05 --all", policy);
	CU_ASSERT_EQUAL(run(cmd), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "role: holds none"));
	CU_ASSERT_PTR_NULL(strstr(out, "are not listed"));
	/* break-glass offered to a physician outside her workstations */
	snprintf(cmd, sizeof(cmd), "policy test --policy %s --user bob --service ehr-login "
	    "--host rx-ws-01 --json", policy);
	CU_ASSERT_EQUAL(run(cmd), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"break_glass\":true"));
	/* --roles replaces the local users; the front desk closes at 19:00 */
	snprintf(cmd, sizeof(cmd), "policy test --policy %s --user x --roles clerk --service reg-desk "
	    "--host reg-ws-1 --at 2026-11-23T20:00", policy);
	CU_ASSERT_EQUAL(run(cmd), 1);
	snprintf(cmd, sizeof(cmd), "policy test --policy %s --user x --roles clerk --service reg-desk "
	    "--host reg-ws-1 --at 2026-11-23T18:59", policy);
	CU_ASSERT_EQUAL(run(cmd), 0);
	/* through ward.conf */
	snprintf(cmd, sizeof(cmd), "--config %s/ward.conf policy test --user erin --service rx-console "
	    "--host rx-ws-02", dir);
	CU_ASSERT_EQUAL(run(cmd), 0);
	/* errors */
	snprintf(cmd, sizeof(cmd), "policy test --policy %s --user alice", policy);
	CU_ASSERT_EQUAL(run(cmd), 2);
	snprintf(cmd, sizeof(cmd), "policy test --policy %s --user a --service s --at yesterday", policy);
	CU_ASSERT_EQUAL(run(cmd), 2);
	CU_ASSERT_EQUAL(run("policy test --user a --service s --config /nonexistent/ward.conf"), 2);
	CU_ASSERT_EQUAL(run("--bogus policy check"), 2);
	CU_ASSERT_EQUAL(run("frobnicate"), 2);
}

static void
test_show_who_can(void)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "policy show alice --policy %s --json", policy);
	CU_ASSERT_EQUAL(run(cmd), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"roles\":[\"clinician\",\"icu_nurse\",\"nurse\"]"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ehr:titrate"));

	snprintf(cmd, sizeof(cmd), "policy who --service gdm-password --host icu-ws-01 "
	    "--at 2026-11-23T10:00 --policy %s --json", policy);
	CU_ASSERT_EQUAL(run(cmd), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"role\":\"nurse\",\"decision\":\"allow\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"alice\""));
	CU_ASSERT_PTR_NULL(strstr(out, "\"carol\""));

	snprintf(cmd, sizeof(cmd), "can bob ehr:prescribe --policy %s", policy);
	CU_ASSERT_EQUAL(run(cmd), 0);
	snprintf(cmd, sizeof(cmd), "can alice ehr:prescribe --policy %s", policy);
	CU_ASSERT_EQUAL(run(cmd), 1);
	snprintf(cmd, sizeof(cmd), "can dave sshd:admin --policy %s", policy);
	CU_ASSERT_EQUAL(run(cmd), 0);
	/* with --host: holds ehr:chart, but not on the pharmacy workstation */
	snprintf(cmd, sizeof(cmd), "can alice ehr:chart --host icu-ws-01 --policy %s", policy);
	CU_ASSERT_EQUAL(run(cmd), 0);
	snprintf(cmd, sizeof(cmd), "can alice ehr:chart --host rx-ws-01 --policy %s", policy);
	CU_ASSERT_EQUAL(run(cmd), 1);
	snprintf(cmd, sizeof(cmd), "can alice nocolon --policy %s", policy);
	CU_ASSERT_EQUAL(run(cmd), 2);
}

static void
test_diff(void)
{
	char cmd[4096], edited[1024];

	snprintf(cmd, sizeof(cmd), "policy diff %s %s", policy, policy);
	CU_ASSERT_EQUAL(run(cmd), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "no difference"));
	/* grant pharmacists the ward workstations and clinicians a permission */
	snprintf(edited, sizeof(edited), "%s/edited.conf", dir);
	snprintf(cmd, sizeof(cmd), "sed -e 's/hosts = \\[\"pharmacy\"\\]; mfa_grace = 900/"
	    "hosts = [\"pharmacy\", \"wards\"]; mfa_grace = 900/' "
	    "-e 's/permissions = \\[\"ehr:read\"\\]/permissions = [\"ehr:read\", \"ehr:print\"]/' "
	    "%s > %s && chmod 644 %s", policy, edited, edited);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "policy diff %s %s", policy, edited);
	CU_ASSERT_EQUAL(run(cmd), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "role pharmacist       app pharmacy       on ward-x-ws-x    GAINS access"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "role nurse            GAINS permission ehr:print"));
	snprintf(cmd, sizeof(cmd), "policy diff %s %s --json", edited, policy);
	CU_ASSERT_EQUAL(run(cmd), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"losses\":336"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"change\":\"loses\""));
	/* file names are JSON strings: a quote in one is escaped */
	snprintf(cmd, sizeof(cmd), "cp %s '%s/a\"b.conf'", policy, dir);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "policy diff '%s/a\"b.conf' %s --json", dir, policy);
	CU_ASSERT_EQUAL(run(cmd), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "a\\\"b.conf\",\"new\":"));
	snprintf(cmd, sizeof(cmd), "policy diff %s", policy);
	CU_ASSERT_EQUAL(run(cmd), 2);
}

/* policy test --policy FILE: 0 when the answer says it came from WANT
 * (snapshot or text). */
static int
source_of(const char *file, const char *want)
{
	char cmd[2048], needle[64];

	snprintf(cmd, sizeof(cmd), "policy test --policy %s --user alice --service rx-console "
	    "--host rx-ws-01 --json", file);
	snprintf(needle, sizeof(needle), "\"policy_source\":\"%s\"", want);
	return run(cmd) == 1 && strstr(out, needle) != NULL ? 0 : -1;
}

/* A chain of 300 roles (c0 at the top), each with one permission; c150's
 * differs in NEW, and so does the schedule of the rule for c0. */
static int
write_chain(const char *path, int new)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fprintf(f, "roles = {\n c0 = { permissions = [\"ehr:read\"]; };\n");
	for (int i = 1; i < 300; i++) {
		char perm[16];
		snprintf(perm, sizeof(perm), "act%d", i % 7);
		fprintf(f, " c%d = { inherits = [\"c%d\"]; permissions = [\"ehr:%s\"]; };\n", i,
		    i - 1, i == 150 && new ? "export" : perm);
	}
	fprintf(f, "};\napps = { ehr = [\"ehr-login\"]; };\n"
	    "schedules = { day = \"Mon-Fri 07:00-19:00\"; night = \"Mon-Sun 19:00-07:00\"; };\n"
	    "rules = ( { id = \"top\"; effect = \"allow\"; roles = [\"c0\"]; apps = [\"ehr\"]; "
	    "when = \"%s\"; } );\n", new ? "night" : "day");
	fclose(f);
	return chmod(path, 0644);
}

/* What the diffs of the two chains must say, each way. */
static const char *const deep_text[] = {
	/* every role reaches c0's rule: day (Mon-Fri 07-19, 120 half-hours)
	 * becomes night (every day 19-07, 168) */
	"role c0               app ehr            on ward-diff-other-host GAINS access "
	"(168 of 336 half-hours) LOSES access (120 of 336 half-hours), first at Sun 00:00\n",
	"role c299             app ehr            on ward-diff-other-host GAINS access (168 of",
	/* c150 and all below it gain the export permission; act3 (150 % 7)
	 * is still inherited through c3 and others, so nothing is lost */
	"role c150             GAINS permission ehr:export\n",
	"role c299             GAINS permission ehr:export\n",
};
static const char *const deep_json[] = {
	"{\"role\":\"c7\",\"app\":\"ehr\",\"host\":\"ward-diff-other-host\",\"gains\":120,"
	"\"losses\":168,\"obligations\":0,\"break_glass\":0,\"first\":\"Sun 00:00\"}",
	"{\"role\":\"c200\",\"permission\":\"ehr:export\",\"change\":\"loses\"}",
	"\"count\":450}",
};

static void
test_diff_deep(void)
{
	char cmd[4096], a[1024], b[1024];
	int lines = 0;

	snprintf(a, sizeof(a), "%s/chain-a.conf", dir);
	snprintf(b, sizeof(b), "%s/chain-b.conf", dir);
	CU_ASSERT_EQUAL_FATAL(write_chain(a, 0), 0);
	CU_ASSERT_EQUAL_FATAL(write_chain(b, 1), 0);
	for (int json = 0; json < 2; json++) {
		const char *const *want = json ? deep_json : deep_text;
		size_t n = json ? sizeof(deep_json) / sizeof(*want) : sizeof(deep_text) / sizeof(*want);

		snprintf(cmd, sizeof(cmd), "policy diff %s %s%s", json ? b : a, json ? a : b,
		    json ? " --json" : "");
		CU_ASSERT_EQUAL(run(cmd), 1);
		for (size_t i = 0; i < n; i++) {
			if (strstr(out, want[i]) == NULL)
				fprintf(stderr, "\nmissing: %s\n", want[i]);
			CU_ASSERT_PTR_NOT_NULL(strstr(out, want[i]));
		}
		if (json)
			break;
		CU_ASSERT_PTR_NULL(strstr(out, "role c149             GAINS permission"));
		CU_ASSERT_PTR_NULL(strstr(out, "LOSES permission"));
		for (const char *q = out; (q = strstr(q, "GAINS permission")) != NULL; q++)
			lines++;
		CU_ASSERT_EQUAL(lines, 150);
	}
}

static void
test_compile(void)
{
	char cmd[8192], pol2[1024], conf[1024], text[2048];

	snprintf(pol2, sizeof(pol2), "%s/hospital.conf", dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s && chmod 644 %s", policy, pol2, pol2);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "policy compile %s", pol2);
	CU_ASSERT_EQUAL(run(cmd), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "hospital.conf.snap"));
	/* a ward.conf naming both: decisions come from the snapshot and agree */
	snprintf(conf, sizeof(conf), "%s/ward2.conf", dir);
	snprintf(text, sizeof(text), "policy_file = \"%s\";\n", pol2);
	CU_ASSERT_EQUAL_FATAL(write_file(conf, text, 0644), 0);
	snprintf(cmd, sizeof(cmd), "policy test --config %s --user alice --service rx-console "
	    "--host rx-ws-01 --json", conf);
	CU_ASSERT_EQUAL(run(cmd), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"rule\":\"no-rx-for-nurses\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"policy_source\":\"snapshot\""));
	/* --policy FILE: FILE.snap too, when it is FILE's */
	CU_ASSERT_EQUAL(source_of(pol2, "snapshot"), 0);
	/* not when another user owns the snapshot */
	snprintf(cmd, sizeof(cmd), "chown nobody %s.snap", pol2);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	CU_ASSERT_EQUAL(source_of(pol2, "text"), 0);
	snprintf(cmd, sizeof(cmd), "chown root %s.snap", pol2);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	/* nor for a text put back with older times (cp -p) */
	snprintf(cmd, sizeof(cmd), "cp -p %s %s.old && sleep 0.01 && echo '# edited' >> %s && "
	    "cp -p %s.old %s", policy, pol2, pol2, pol2, pol2);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	CU_ASSERT_EQUAL(source_of(pol2, "text"), 0);
	snprintf(cmd, sizeof(cmd), "policy compile %s", pol2);
	CU_ASSERT_EQUAL(run(cmd), 0);
	/* a damaged snapshot is ignored, the text decides */
	snprintf(cmd, sizeof(cmd), "printf 'garbage' | dd of=%s.snap bs=1 seek=300 conv=notrunc 2>/dev/null", pol2);
	CU_ASSERT_EQUAL(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "policy test --config %s --user alice --service rx-console "
	    "--host rx-ws-01 --json", conf);
	CU_ASSERT_EQUAL(run(cmd), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"rule\":\"no-rx-for-nurses\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"policy_source\":\"text\""));
	/* a broken policy is not compiled */
	snprintf(cmd, sizeof(cmd), "policy compile %s/bad.conf", dir);
	CU_ASSERT_EQUAL(run(cmd), 2);
}

/* The text stamp in SNAP's header; 0 or -1. */
static int
stamp_of(const char *snap, struct pol_text_id *id)
{
	struct pol_head h;
	FILE *f = fopen(snap, "r");
	int r;

	memset(&h, 0, sizeof(h));
	r = f != NULL && fread(&h, sizeof(h), 1, f) == 1 ? 0 : -1;

	if (f != NULL)
		fclose(f);
	*id = h.text;
	return r;
}

/* A policy text of about BYTES, of which rules are most. */
static int
write_policy_of(const char *path, size_t bytes)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fprintf(f, "roles = { nurse = { }; };\napps = { ehr = [\"ehr-login\"]; };\nrules = (\n");
	for (size_t i = 0; i * 100 < bytes; i++)
		fprintf(f, "%s { id = \"rule-%06zu\"; effect = \"allow\"; roles = [\"nurse\"]; "
		    "apps = [\"ehr\"]; mfa_grace = 60; },\n", i ? "" : " ", i);
	fprintf(f, " { id = \"last\"; effect = \"deny\"; roles = [\"nurse\"]; } );\n");
	return fclose(f);
}

/* A text compiled within the racy window keeps a stamp that makes every load
 * hash it; for a large one, compile waits the window out and stamps again,
 * after checking the text is still the one compiled; a small one keeps the
 * first stamp (its hash is cheap). */
static void
test_compile_stamp(void)
{
	const struct { size_t bytes; int racy; } cases[] = { { 4096, 1 }, { 1200000, 0 } };
	char path[1024], snap[1100], cmd[2048];
	struct pol_text_id id;
	struct stat st;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "%s/stamp%zu.conf", dir, i);
		snprintf(snap, sizeof(snap), "%s.snap", path);
		CU_ASSERT_EQUAL_FATAL(write_policy_of(path, cases[i].bytes), 0);
		snprintf(cmd, sizeof(cmd), "policy compile %s", path);
		CU_ASSERT_EQUAL(run(cmd), 0);
		CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
		CU_ASSERT_EQUAL_FATAL(stamp_of(snap, &id), 0);
		CU_ASSERT(cases[i].bytes < 1000000 || st.st_size > 1 << 20);
		CU_ASSERT_EQUAL(id.file.ctime_sec, (int64_t)st.st_ctim.tv_sec);
		CU_ASSERT_EQUAL(id.file.ctime_nsec, (int64_t)st.st_ctim.tv_nsec);
		CU_ASSERT_EQUAL(file_id_racy(id.file.ctime_sec, id.compiled_sec), cases[i].racy);
		/* either way the snapshot decides */
		CU_ASSERT_EQUAL(source_of(path, "snapshot"), 0);
	}
}

int
main(void)
{
	unsigned int fails;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("wardctl policy", setup, teardown);
	CU_add_test(s, "policy check", test_check);
	CU_add_test(s, "policy test", test_test);
	CU_add_test(s, "policy show, who, can", test_show_who_can);
	CU_add_test(s, "policy diff", test_diff);
	CU_add_test(s, "policy diff: a deep chain, schedules", test_diff_deep);
	CU_add_test(s, "policy compile", test_compile);
	CU_add_test(s, "policy compile: a large text changed just now is stamped past the window",
	    test_compile_stamp);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
