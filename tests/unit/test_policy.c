/*
 * test_policy.c - the policy engine: loader errors with file:line, the
 * decision table, lint findings, and a differential test of the fast path
 * against the reference evaluator over thousands of random policies.
 */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy_internal.h"   /* the image layout, for the hostile-image table */
#include "testutil.h"
#include "ward_policy.h"

static const char base_policy[] =
    "roles = {\n"                                                     /* 1 */
    "  clinician = { };\n"                                            /* 2 */
    "  nurse = { inherits = [\"clinician\"]; permissions = [\"ehr:read\", \"ehr:chart\"]; };\n"
    "  icu_nurse = { inherits = [\"nurse\"]; };\n"                     /* 4 */
    "  physician = { inherits = [\"clinician\"]; permissions = [\"ehr:*\"]; };\n"
    "  pharmacist = { inherits = [\"clinician\"]; permissions = [\"pharmacy:dispense\"]; };\n"
    "  clerk = { };\n"                                                /* 7 */
    "  it = { permissions = [\"*:admin\"]; };\n"                       /* 8 */
    "};\n"
    "users = ( { user = \"alice\"; roles = [\"icu_nurse\"]; },\n"
    "          { user = \"bob\"; roles = [\"physician\"]; },\n"
    "          { user = \"zed\"; roles = [\"physician\", \"pharmacist\"]; },\n"
    "          { user = \"carol\"; roles = [\"clerk\"]; } );\n"
    "apps = { ehr = [\"ehr-login\", \"gdm-password\"]; pharmacy = [\"rx-console\"]; };\n"
    "hosts = { icu = [\"icu-ws-*\"]; rx = [\"rx-ws-01\", \"rx-ws-02\"]; };\n"
    "schedules = { night = \"Mon-Sun 19:00-07:00\"; weekend = \"Sat-Sun 00:00-24:00\"; sunnight = \"Sun 22:00-06:00\"; };\n"
    "rules = (\n"
    "  { id = \"icu\"; effect = \"allow\"; roles = [\"nurse\"]; apps = [\"ehr\"]; hosts = [\"icu\"];\n"
    "    mfa_grace = 900; idle_logoff = 600; },\n"
    "  { id = \"icu-night\"; effect = \"allow\"; roles = [\"icu_nurse\"]; apps = [\"ehr\"]; hosts = [\"icu\"];\n"
    "    when = \"night\"; mfa_grace = 300; session_max = 3600; },\n"
    "  { id = \"docs\"; effect = \"allow\"; roles = [\"physician\"]; apps = [\"*\"]; mfa = \"not_required\"; },\n"
    "  { id = \"rx\"; effect = \"allow\"; roles = [\"pharmacist\"]; apps = [\"pharmacy\"]; hosts = [\"rx\"]; },\n"
    "  { id = \"no-rx-nurse\"; effect = \"deny\"; roles = [\"nurse\"]; apps = [\"pharmacy\"];\n"
    "    reason = \"Nurses dispense through the pharmacy desk\"; },\n"
    "  { id = \"no-rx-clerk\"; effect = \"deny\"; roles = [\"clerk\"]; apps = [\"pharmacy\"];\n"
    "    reason = \"Clerks never\"; break_glass = false; },\n"
    "  { id = \"sun-late\"; effect = \"allow\"; roles = [\"clerk\"]; apps = [\"ehr\"]; when = \"sunnight\"; },\n"
    "  { id = \"docs-no-weekend-rx\"; effect = \"deny\"; roles = [\"physician\"]; apps = [\"pharmacy\"];\n"
    "    when = \"weekend\"; reason = \"No weekend dispensing\"; }\n"
    ");\n"
    "separation_of_duty = ( { roles = [\"pharmacist\", \"physician\"]; reason = \"SoD: prescribe xor dispense\"; } );\n"
    "break_glass = { roles = [\"clinician\"]; apps = [\"ehr\"]; hosts = [\"*\"]; max_minutes = 60;\n"
    "                min_reason_chars = 10; mfa = \"required\"; };\n";

static struct policy *pol;

/* ---- loader errors ---- */

static const struct {
	const char *text;
	const char *expect;   /* substring of the error */
} broken[] = {
	{ "roles = { a = { inherits = [\"b\"]; };\n b = { inherits = [\"a\"]; }; };\n",
	  "inheritance cycle" },
	{ "roles = {\n a = { inherits = [\"nope\"]; }; };\n", "t.conf:2: inherits: unknown role 'nope'" },
	{ "roles = { a = { }; };\n  @include \"/etc/passwd\"\n", "t.conf:2: @include is not allowed" },
	{ "roles = { a = { }; };\nrules = (\n { id = \"r\"; effect = \"allow\"; roles = [\"x\"]; } );\n",
	  "t.conf:3: roles: unknown role 'x'" },
	{ "rules = (\n { id = \"r\"; effect = \"allow\"; apps = [\"ghost\"]; } );\n",
	  "t.conf:2: unknown app 'ghost'" },
	{ "rules = (\n { id = \"r\"; effect = \"allow\"; when = \"nightly\"; } );\n",
	  "t.conf:2: unknown schedule 'nightly'" },
	{ "rules = (\n { id = \"r\"; effect = \"allow\"; },\n { id = \"r\"; effect = \"deny\"; } );\n",
	  "t.conf:3: duplicate rule id 'r' (first at line 2)" },
	{ "schedules = {\n s = \"Mon-Fri 25:00-26:00\"; };\n", "t.conf:2: schedule \"Mon-Fri 25:00-26:00\": bad times" },
	{ "schedules = {\n s = \"Mox-Fri 07:00-19:00\"; };\n", "t.conf:2: schedule \"Mox-Fri 07:00-19:00\": bad days" },
	{ "schedules = {\n s = \"Mon 07:00-07:00\"; };\n", "empty time range" },
	{ "rules = (\n { id = \"r\"; effect = \"allow\"; colour = \"red\"; } );\n",
	  "t.conf:2: rule 'r': unknown key 'colour'" },
	{ "rule = ( );\n", "t.conf:1: policy: unknown key 'rule'" },
	{ "rules = (\n { effect = \"allow\"; } );\n", "t.conf:2: rule without an id" },
	{ "rules = (\n { id = \"r\"; } );\n", "t.conf:2: rule 'r': effect missing" },
	{ "rules = (\n { id = \"r\"; effect = \"permit\"; } );\n", "effect must be \"allow\" or \"deny\"" },
	{ "rules = (\n { id = \"r\"; effect = \"allow\";\n mfa_grace = -5; } );\n",
	  "t.conf:3: mfa_grace must be between 0" },
	{ "rules = (\n { id = \"r\"; effect = \"allow\"; mfa = \"maybe\"; } );\n", "mfa must be" },
	{ "rules = (\n { id = \"r\"; effect = \"allow\"; idle_logoff = \"10m\"; } );\n",
	  "idle_logoff must be a whole number" },
	{ "rules = (\n { id = \"r\"; effect = \"allow\"; break_glass = false; } );\n",
	  "break_glass applies to deny rules only" },
	{ "roles = { a = { permissions = [\"read\"]; }; };\n", "must be app:action" },
	{ "apps = { a = [\"s\"]; b = [\"s\"]; };\n", "service \"s\" is listed by apps 'a' and 'b'" },
	{ "roles = { a = { }; };\nseparation_of_duty = (\n { roles = [\"a\"]; } );\n",
	  "at least two roles" },
	{ "users = (\n { user = \"u\"; roles = [\"ghost\"]; } );\n", "unknown role 'ghost'" },
	{ "roles = { a = { ;\n", "t.conf:1:" },          /* syntax error */
	{ "break_glass = { max_minutes = 0; };\n", "max_minutes must be 1 to 1440" },
	{ "role_sources = (\n { group = \"cn=x\"; role = \"ghost\"; } );\n", "role_sources: unknown role 'ghost'" },
};

static void
test_loader_errors(void)
{
	char err[2048];

	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		struct policy *p = policy_load_buffer("t.conf", broken[i].text, err, sizeof(err));
		if (p != NULL || strstr(err, broken[i].expect) == NULL)
			fprintf(stderr, "\ncase %zu: got \"%s\", want \"%s\"\n", i, err,
			    broken[i].expect);
		CU_ASSERT_PTR_NULL(p);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, broken[i].expect));
		policy_free(p);
	}
}

static void
test_loader_reports_every_problem(void)
{
	char err[2048];
	const char *text = "rules = (\n { id = \"a\"; effect = \"allow\"; apps = [\"x\"]; },\n"
	    " { id = \"b\"; effect = \"nope\"; },\n { id = \"c\"; effect = \"allow\"; when = \"w\"; } );\n";
	struct policy *p = policy_load_buffer("t.conf", text, err, sizeof(err));

	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.conf:2:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.conf:3:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "t.conf:4:"));
}

static void
test_load_file_refusals(void)
{
	char path[] = "/tmp/ward-pol-XXXXXX", link[64], err[512];
	int fd = mkstemp(path);
	struct policy *p;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, base_policy, strlen(base_policy)), (ssize_t)strlen(base_policy));
	close(fd);
	chmod(path, 0644);
	p = policy_load(path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(p);
	policy_free(p);
	chmod(path, 0666);
	p = policy_load(path, err, sizeof(err));
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "writable by group or others"));
	chmod(path, 0644);
	snprintf(link, sizeof(link), "%s.lnk", path);
	CU_ASSERT_EQUAL(symlink(path, link), 0);
	p = policy_load(link, err, sizeof(err));
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "symbolic link"));
	unlink(link);
	unlink(path);
	p = policy_load(path, err, sizeof(err));
	CU_ASSERT_PTR_NULL(p);
}

/* ---- decisions ---- */

enum { SUN, MON, TUE, WED, THU, FRI, SAT };

static const struct {
	const char *user, *roles, *service, *host;
	int wday, minute;
	int allow;
	const char *rule;
	int mfa;
	long grace, idle, smax;
	int bg;
} table[] = {
	/* inheritance: icu_nurse -> nurse gets the ICU rule */
	{ "alice", NULL, "gdm-password", "icu-ws-03", TUE, 600, 1, "icu", 1, 900, 600, -1, 0 },
	/* night shift: both rules match, obligations strictest-first */
	{ "alice", NULL, "ehr-login", "icu-ws-03", TUE, 22 * 60, 1, "icu", 1, 300, 600, 3600, 0 },
	/* across midnight: Wednesday 03:00 belongs to Tuesday's night */
	{ "alice", NULL, "ehr-login", "icu-ws-03", WED, 180, 1, "icu", 1, 300, 600, 3600, 0 },
	{ "alice", NULL, "ehr-login", "icu-ws-03", WED, 7 * 60, 1, "icu", 1, 900, 600, -1, 0 },
	/* glob does not match: default deny, break-glass offered */
	{ "alice", NULL, "ehr-login", "ed-ws-01", TUE, 600, 0, "default-deny", 1, 0, -1, -1, 1 },
	/* unknown host matches only host-less rules (and not break-glass's "*") */
	{ "alice", NULL, "ehr-login", NULL, TUE, 600, 0, "default-deny", 1, 0, -1, -1, 0 },
	/* deny overrides, break-glass not for the pharmacy app */
	{ "alice", NULL, "rx-console", "rx-ws-01", TUE, 600, 0, "no-rx-nurse", 1, 0, -1, -1, 0 },
	/* physician: any app, mfa not required */
	{ "bob", NULL, "gdm-password", "anything", TUE, 600, 1, "docs", 0, 0, -1, -1, 0 },
	/* service no app lists is its own app: docs (apps "*") still matches */
	{ "bob", NULL, "vpn", "x", TUE, 600, 1, "docs", 0, 0, -1, -1, 0 },
	/* weekend deny with a schedule spanning the weekend */
	{ "bob", NULL, "rx-console", "rx-ws-01", SAT, 600, 0, "docs-no-weekend-rx", 1, 0, -1, -1, 0 },
	{ "bob", NULL, "rx-console", "rx-ws-01", FRI, 600, 1, "docs", 0, 0, -1, -1, 0 },
	/* SoD denies everywhere, no break-glass */
	{ "zed", NULL, "gdm-password", "icu-ws-01", TUE, 600, 0, "sod-1", 1, 0, -1, -1, 0 },
	/* break_glass = false is never overridden even by a clinician... clerk isn't one */
	{ "carol", NULL, "rx-console", "rx-ws-01", TUE, 600, 0, "no-rx-clerk", 1, 0, -1, -1, 0 },
	/* across the week boundary: Sun 22:00-06:00 covers Monday 05:59, not 06:00 */
	{ "carol", NULL, "ehr-login", "h", SUN, 23 * 60, 1, "sun-late", 1, 0, -1, -1, 0 },
	{ "carol", NULL, "ehr-login", "h", MON, 359, 1, "sun-late", 1, 0, -1, -1, 0 },
	{ "carol", NULL, "ehr-login", "h", MON, 360, 0, "default-deny", 1, 0, -1, -1, 0 },
	{ "carol", NULL, "ehr-login", "h", SAT, 23 * 60, 0, "default-deny", 1, 0, -1, -1, 0 },
	/* explicit roles replace the local users */
	{ "nobody", "pharmacist", "rx-console", "rx-ws-02", TUE, 600, 1, "rx", 1, 0, -1, -1, 0 },
	{ "nobody", "pharmacist", "rx-console", "rx-ws-03", TUE, 600, 0, "default-deny", 1, 0, -1, -1, 0 },
	/* no roles at all: default deny, break-glass not offered */
	{ "stranger", NULL, "gdm-password", "icu-ws-01", TUE, 600, 0, "default-deny", 1, 0, -1, -1, 0 },
	/* a clinician denied by default on ehr gets break-glass */
	{ "nobody", "pharmacist", "ehr-login", "icu-ws-01", TUE, 600, 0, "default-deny", 1, 0, -1, -1, 1 },
};

static void
test_decisions(void)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const char *roles[1] = { table[i].roles };
		struct policy_request rq = { .user = table[i].user, .service = table[i].service,
			.host = table[i].host, .wday = table[i].wday, .minute = table[i].minute,
			.roles = table[i].roles ? roles : NULL, .nroles = table[i].roles ? 1 : 0 };
		struct policy_decision d, r;

		policy_decide(pol, &rq, &d);
		CU_ASSERT_EQUAL(policy_decide_reference(pol, &rq, &r), 0);
		if (d.allow != table[i].allow || strcmp(d.rule, table[i].rule) != 0 ||
		    d.mfa_required != table[i].mfa || d.mfa_grace != table[i].grace ||
		    d.idle_logoff != table[i].idle || d.session_max != table[i].smax ||
		    d.break_glass != table[i].bg)
			fprintf(stderr, "\nrow %zu: allow=%d rule=%s mfa=%d grace=%ld idle=%ld smax=%ld bg=%d\n",
			    i, d.allow, d.rule, d.mfa_required, d.mfa_grace, d.idle_logoff,
			    d.session_max, d.break_glass);
		CU_ASSERT_EQUAL(d.allow, table[i].allow);
		CU_ASSERT_STRING_EQUAL(d.rule, table[i].rule);
		CU_ASSERT_EQUAL(d.mfa_required, table[i].mfa);
		CU_ASSERT_EQUAL(d.mfa_grace, table[i].grace);
		CU_ASSERT_EQUAL(d.idle_logoff, table[i].idle);
		CU_ASSERT_EQUAL(d.session_max, table[i].smax);
		CU_ASSERT_EQUAL(d.break_glass, table[i].bg);
		CU_ASSERT_EQUAL(r.allow, d.allow);
		CU_ASSERT_STRING_EQUAL(r.rule, d.rule);
		CU_ASSERT_EQUAL(r.break_glass, d.break_glass);
	}
}

static void
test_deny_reason_and_app(void)
{
	struct policy_request rq = { .user = "alice", .service = "rx-console", .host = "rx-ws-01",
		.wday = TUE, .minute = 600 };
	struct policy_decision d;

	policy_decide(pol, &rq, &d);
	CU_ASSERT_STRING_EQUAL(d.reason, "Nurses dispense through the pharmacy desk");
	CU_ASSERT_STRING_EQUAL(d.app, "pharmacy");
	rq.user = "zed";
	policy_decide(pol, &rq, &d);
	CU_ASSERT_STRING_EQUAL(d.reason, "SoD: prescribe xor dispense");
	policy_decide(NULL, &rq, &d);
	CU_ASSERT_EQUAL(d.allow, 0);
	policy_decide(pol, NULL, &d);
	CU_ASSERT_EQUAL(d.allow, 0);
}

static void
test_permissions_and_roles(void)
{
	struct policy_request a = { .user = "alice" }, b = { .user = "bob" }, z = { .user = "zed" };
	const char *it[] = { "it" };
	struct policy_request i = { .user = "x", .roles = it, .nroles = 1 };
	const char *out[16];
	size_t n;

	CU_ASSERT_TRUE(policy_permitted(pol, &a, "ehr:chart"));
	CU_ASSERT_FALSE(policy_permitted(pol, &a, "ehr:prescribe"));
	CU_ASSERT_TRUE(policy_permitted(pol, &b, "ehr:prescribe"));
	CU_ASSERT_FALSE(policy_permitted(pol, &b, "pharmacy:dispense"));
	CU_ASSERT_FALSE(policy_permitted(pol, &z, "ehr:prescribe"));   /* SoD */
	CU_ASSERT_TRUE(policy_permitted(pol, &i, "ehr:admin"));
	CU_ASSERT_TRUE(policy_permitted(pol, &i, "pharmacy:admin"));
	CU_ASSERT_FALSE(policy_permitted(pol, &i, "ehr:read"));
	CU_ASSERT_FALSE(policy_permitted(pol, &b, "badpermission"));
	n = policy_effective_roles(pol, &a, out, 16);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_STRING_EQUAL(out[0], "clinician");
	CU_ASSERT_STRING_EQUAL(out[1], "icu_nurse");
	CU_ASSERT_STRING_EQUAL(out[2], "nurse");
	CU_ASSERT_EQUAL(policy_user_roles(pol, "alice", out, 16), 1);
	CU_ASSERT_STRING_EQUAL(policy_app_for_service(pol, "gdm-password"), "ehr");
	CU_ASSERT_STRING_EQUAL(policy_app_for_service(pol, "vpn"), "vpn");
	CU_ASSERT_EQUAL(strlen(policy_version(pol)), 64);
	{
		/* night, weekend, sunnight: Monday 20:00 is night only */
		unsigned char in[4] = { 9, 9, 9, 9 };
		CU_ASSERT_EQUAL(policy_schedules_at(pol, 1, 20 * 60, in, 4), 3);
		CU_ASSERT(in[0] == 1 && in[1] == 0 && in[2] == 0 && in[3] == 9);
		CU_ASSERT_EQUAL(policy_schedules_at(pol, 0, 23 * 60, in, 4), 3);
		CU_ASSERT(in[0] == 1 && in[1] == 1 && in[2] == 1);
	}
}

static void
test_explain_trace(void)
{
	struct policy_request rq = { .user = "alice", .service = "ehr-login", .host = "ed-ws-01",
		.wday = TUE, .minute = 600 };
	struct policy_explanation ex;
	int saw_host = 0, saw_role = 0;

	CU_ASSERT_EQUAL_FATAL(policy_explain(pol, &rq, &ex), 0);
	CU_ASSERT_EQUAL(ex.decision.allow, 0);
	CU_ASSERT(ex.ntrace > 0);
	for (size_t k = 0; k < ex.ntrace; k++) {
		if (strcmp(ex.trace[k].rule, "icu") == 0) {
			CU_ASSERT_EQUAL(ex.trace[k].failed, POLICY_ELEM_HOST);
			saw_host = 1;
		}
		if (strcmp(ex.trace[k].rule, "docs") == 0) {
			CU_ASSERT_EQUAL(ex.trace[k].failed, POLICY_ELEM_ROLE);
			saw_role = 1;
		}
	}
	CU_ASSERT_TRUE(saw_host && saw_role);
	policy_explanation_free(&ex);
}

static void
collect(void *ctx, const char *f)
{
	char *buf = ctx;
	strncat(buf, f, 4000 - strlen(buf));
	strncat(buf, "\n", 4000 - strlen(buf));
}

static void
test_lint(void)
{
	char err[1024], found[4096] = "";
	const char *text =
	    "roles = { a = { }; b = { }; };\n"
	    "users = ( { user = \"u\"; roles = [\"a\", \"b\"]; } );\n"
	    "hosts = { icu = [\"icu-*\"]; };\n"
	    "rules = (\n"
	    " { id = \"allow-a\"; effect = \"allow\"; roles = [\"a\"]; hosts = [\"icu\"]; },\n"
	    " { id = \"deny-a\"; effect = \"deny\"; roles = [\"a\"]; },\n"
	    " { id = \"typo\"; effect = \"allow\"; roles = [\"b\"]; hosts = [\"icuu\"]; }\n"
	    ");\n"
	    "separation_of_duty = ( { roles = [\"a\", \"b\"]; reason = \"no\"; } );\n";
	struct policy *p = policy_load_buffer("l.conf", text, err, sizeof(err));
	size_t n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	n = policy_lint(p, collect, found);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(found, "l.conf:5: allow rule 'allow-a' is fully shadowed by deny rule 'deny-a'"));
	CU_ASSERT_PTR_NOT_NULL(strstr(found, "l.conf:7: rule 'typo': host 'icuu' is not a host group"));
	CU_ASSERT_PTR_NOT_NULL(strstr(found, "l.conf:2: user 'u' breaks separation of duty"));
	policy_free(p);
	/* the base policy's zed holds both SoD roles on purpose */
	CU_ASSERT_EQUAL(policy_lint(pol, NULL, NULL), 1);
}

/* ---- differential: fast path vs reference over random policies ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static const char *const dn[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

static size_t
gen_policy(char *buf, size_t cap, int nroles, int napps, int nrules)
{
	size_t o = 0;

#define OUT(...) (o += (size_t)snprintf(buf + o, cap - o, __VA_ARGS__))
	OUT("roles = {\n");
	for (int r = 0; r < nroles; r++) {
		OUT(" r%d = { ", r);
		if (r > 0 && rnd(3) > 0) {
			OUT("inherits = [\"r%u\"", rnd((uint32_t)r));
			if (r > 1 && rnd(3) == 0)
				OUT(", \"r%u\"", rnd((uint32_t)r));
			OUT("]; ");
		}
		OUT("};\n");
	}
	OUT("};\napps = {\n");
	for (int a = 0; a < napps; a++)
		OUT(" a%d = [\"s%d\", \"t%d\"];\n", a, a, a);
	OUT("};\nhosts = { g0 = [\"h0*\"]; g1 = [\"h1?\", \"x\"]; g2 = [\"h[23]*\"]; };\n");
	OUT("schedules = {\n");
	for (int s = 0; s < 3; s++) {
		int d1 = (int)rnd(7), d2 = (int)rnd(7), t1 = (int)rnd(24), t2 = (int)rnd(24);
		if (t1 == t2)
			t2 = (t2 + 1) % 24;
		OUT(" w%d = \"%s-%s %02d:%02d-%02d:00\";\n", s, dn[d1], dn[d2], t1, (int)rnd(4) * 15, t2);
	}
	OUT("};\nrules = (\n");
	for (int i = 0; i < nrules; i++) {
		int deny = rnd(4) == 0;
		OUT(" { id = \"q%d\"; effect = \"%s\"; ", i, deny ? "deny" : "allow");
		if (rnd(5) > 0)
			OUT("roles = [\"r%u\"%s]; ", rnd((uint32_t)nroles), rnd(3) == 0 ? ", \"r0\"" : "");
		if (rnd(5) > 0)
			OUT("apps = [\"a%u\"]; ", rnd((uint32_t)napps));
		else if (rnd(2))
			OUT("apps = [\"*\"]; ");
		if (rnd(3) == 0)
			OUT("hosts = [\"g%u\"%s]; ", rnd(3), rnd(2) ? ", \"h9*\"" : "");
		if (rnd(3) == 0)
			OUT("when = \"w%u\"; ", rnd(3));
		if (!deny) {
			if (rnd(2))
				OUT("mfa = \"%s\"; ", rnd(2) ? "required" : "not_required");
			if (rnd(2))
				OUT("mfa_grace = %u; ", rnd(1000));
			if (rnd(2))
				OUT("idle_logoff = %u; ", rnd(1000));
			if (rnd(3) == 0)
				OUT("session_max = %u; ", rnd(5000));
		} else if (rnd(3) == 0) {
			OUT("break_glass = false; ");
		}
		OUT("},\n");
	}
	if (o >= 2 && buf[o - 2] == ',')
		o -= 2, OUT("\n");
	OUT(");\n");
	if (rnd(2))
		OUT("separation_of_duty = ( { roles = [\"r%u\", \"r%u\"]; } );\n",
		    rnd((uint32_t)nroles), rnd((uint32_t)nroles));
	if (rnd(3) > 0)
		OUT("break_glass = { roles = [\"r%u\"]; apps = [\"a%u\"]; hosts = [\"h*\"]; };\n",
		    rnd((uint32_t)nroles), rnd((uint32_t)napps));
#undef OUT
	return o;
}

static void
test_differential(void)
{
	static char buf[1 << 16];
	char err[2048];
	long compared = 0, policies = 0, allows = 0;

	for (int iter = 0; iter < 2000; iter++) {
		int nroles = 2 + (int)rnd(12), napps = 1 + (int)rnd(5), nrules = 1 + (int)rnd(25);
		struct policy *p;

		gen_policy(buf, sizeof(buf), nroles, napps, nrules);
		p = policy_load_buffer("gen", buf, err, sizeof(err));
		if (p == NULL) {
			/* only a same-role SoD may be refused... generated text is valid */
			fprintf(stderr, "\ngenerated policy refused: %s\n%s\n", err, buf);
			CU_FAIL("generated policy refused");
			return;
		}
		policies++;
		for (int q = 0; q < 25; q++) {
			char rname[2][16], svc[16], host[8];
			const char *roles[2] = { rname[0], rname[1] };
			struct policy_request rq = { .user = "u", .roles = roles,
				.nroles = 1 + rnd(2), .wday = (int)rnd(7), .minute = (int)rnd(1440) };
			struct policy_decision d, r;
			static const char *const hosts[] = { "h01", "h1a", "h25", "x", "h9z", "", NULL };

			snprintf(rname[0], sizeof(rname[0]), "r%u", rnd((uint32_t)nroles + 1));
			snprintf(rname[1], sizeof(rname[1]), "r%u", rnd((uint32_t)nroles));
			snprintf(svc, sizeof(svc), "%c%u", "stu"[rnd(3)], rnd((uint32_t)napps + 1));
			snprintf(host, sizeof(host), "%s", hosts[rnd(7)] ? hosts[rnd(6)] : "");
			rq.service = svc;
			rq.host = rnd(7) == 0 ? NULL : host;
			policy_decide(p, &rq, &d);
			CU_ASSERT_EQUAL_FATAL(policy_decide_reference(p, &rq, &r), 0);
			compared++;
			allows += d.allow;
			if (d.allow != r.allow || strcmp(d.rule, r.rule) != 0 ||
			    strcmp(d.reason, r.reason) != 0 || strcmp(d.app, r.app) != 0 ||
			    d.mfa_required != r.mfa_required || d.mfa_grace != r.mfa_grace ||
			    d.idle_logoff != r.idle_logoff || d.session_max != r.session_max ||
			    d.break_glass != r.break_glass) {
				fprintf(stderr, "\nmismatch: svc=%s host=%s wday=%d min=%d roles=%s,%s\n"
				    "fast: %d %s mfa=%d g=%ld i=%ld s=%ld bg=%d\n"
				    "ref:  %d %s mfa=%d g=%ld i=%ld s=%ld bg=%d\n%s\n",
				    svc, rq.host ? rq.host : "(null)", rq.wday, rq.minute,
				    rname[0], rq.nroles > 1 ? rname[1] : "-",
				    d.allow, d.rule, d.mfa_required, d.mfa_grace, d.idle_logoff,
				    d.session_max, d.break_glass, r.allow, r.rule, r.mfa_required,
				    r.mfa_grace, r.idle_logoff, r.session_max, r.break_glass, buf);
				CU_FAIL("fast path and reference disagree");
				policy_free(p);
				return;
			}
		}
		policy_free(p);
	}
	printf("\n  %ld policies, %ld requests compared, %ld allowed\n", policies, compared, allows);
	CU_ASSERT(allows > compared / 20);        /* the generator exercises both answers */
	CU_ASSERT(allows < compared - compared / 20);
}

/* ---- role hierarchies: closures exact, deep chains cheap ---- */

/* A chain of N roles, "c0" first; each inherits the one above it in the
 * file (REVERSE: below it), with one rule for c0 (the chain's root). */
static char *
chain_text(int n, int reverse)
{
	size_t cap = (size_t)n * 48 + 512, o = 0;
	char *t = malloc(cap);

	if (t == NULL)
		return NULL;
	o += (size_t)snprintf(t + o, cap - o, "roles = {\n");
	for (int k = 0; k < n; k++) {
		int i = reverse ? n - 1 - k : k;
		if (i == 0)
			o += (size_t)snprintf(t + o, cap - o, " c0 = { permissions = [\"ehr:read\"]; };\n");
		else
			o += (size_t)snprintf(t + o, cap - o, " c%d = { inherits = [\"c%d\"]; };\n", i,
			    i - 1);
	}
	snprintf(t + o, cap - o, "};\napps = { ehr = [\"ehr-login\"]; };\n"
	    "rules = ( { id = \"root\"; effect = \"allow\"; roles = [\"c0\"]; apps = [\"ehr\"]; } );\n");
	return t;
}

/* Does role NAME (alone) reach the chain root's rule, fast and reference? */
static void
check_reaches_root(const struct policy *p, const char *name)
{
	const char *roles[1] = { name };
	struct policy_request rq = { .user = "u", .roles = roles, .nroles = 1,
		.service = "ehr-login", .host = "ws" };
	struct policy_decision d, r;

	policy_decide(p, &rq, &d);
	CU_ASSERT_EQUAL(policy_decide_reference(p, &rq, &r), 0);
	CU_ASSERT_TRUE(d.allow);
	CU_ASSERT_TRUE(r.allow);
	CU_ASSERT_TRUE(policy_permitted(p, &rq, "ehr:read"));
}

static void
test_chain_and_diamond(void)
{
	static const char *out[3000];
	size_t ids[8];
	char err[2048], name[16];
	const char *diamond = "roles = { top = { inherits = [\"left\", \"right\"]; };\n"
	    " left = { inherits = [\"base\"]; }; right = { inherits = [\"base\"]; };\n"
	    " base = { }; other = { }; };\n"
	    "rules = ( { id = \"b\"; effect = \"allow\"; roles = [\"base\"]; } );\n";
	const char *top[1] = { "top" }, *left[1] = { "left" };
	struct policy_request rq = { .user = "u", .roles = top, .nroles = 1 };
	struct policy *p = policy_load_buffer("d.conf", diamond, err, sizeof(err));

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL_FATAL(policy_effective_roles(p, &rq, out, 8), 4);
	CU_ASSERT_STRING_EQUAL(out[0], "base");
	CU_ASSERT_STRING_EQUAL(out[1], "left");
	CU_ASSERT_STRING_EQUAL(out[2], "right");
	CU_ASSERT_STRING_EQUAL(out[3], "top");
	rq.roles = left;
	CU_ASSERT_EQUAL_FATAL(policy_effective_roles(p, &rq, out, 8), 2);
	CU_ASSERT_STRING_EQUAL(out[0], "base");
	CU_ASSERT_STRING_EQUAL(out[1], "left");
	/* the same as indices, in file order (top, left, right, base, other) */
	CU_ASSERT_EQUAL_FATAL(policy_effective_role_ids(p, &rq, ids, 8), 2);
	CU_ASSERT_EQUAL(ids[0], 1);
	CU_ASSERT_EQUAL(ids[1], 3);
	rq.roles = top;
	CU_ASSERT_EQUAL_FATAL(policy_effective_role_ids(p, &rq, ids, 2), 4);
	CU_ASSERT_EQUAL(ids[0], 0);
	CU_ASSERT_EQUAL(ids[1], 1);
	policy_free(p);

	/* deep chains, written top-down and bottom-up: the last role holds
	 * every role above it, and nothing else does */
	for (int reverse = 0; reverse < 2; reverse++) {
		char *t = chain_text(3000, reverse);
		const char *one[1] = { name };

		CU_ASSERT_PTR_NOT_NULL_FATAL(t);
		p = policy_load_buffer("chain.conf", t, err, sizeof(err));
		free(t);
		if (p == NULL)
			fprintf(stderr, "\nchain: %s\n", err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		rq.roles = one;
		for (int k = 0; k < 3000; k += 499) {
			snprintf(name, sizeof(name), "c%d", k);
			CU_ASSERT_EQUAL(policy_effective_roles(p, &rq, out, 3000), (size_t)k + 1);
			check_reaches_root(p, name);
		}
		snprintf(name, sizeof(name), "c2999");
		CU_ASSERT_EQUAL(policy_effective_roles(p, &rq, out, 3000), 3000);
		check_reaches_root(p, name);
		policy_free(p);
	}
}

/* V[0..N) = 0..N-1 in a random order. */
static void
shuffled(int *v, int n)
{
	for (int i = 0; i < n; i++)
		v[i] = i;
	for (int i = n - 1; i > 0; i--) {
		int j = (int)rnd((uint32_t)i + 1), x = v[i];
		v[i] = v[j];
		v[j] = x;
	}
}

/*
 * Random hierarchies whose roles are defined in a shuffled order (a role's
 * parents may come later in the file, so closures are scattered ranges):
 * the effective roles of every role equal the closure the test computes
 * itself, and the fast path agrees with the reference evaluator, which
 * walks `inherits` at each decision.
 */
static void
test_scattered_hierarchies(void)
{
	static char buf[1 << 15];
	char err[2048];

	for (int iter = 0; iter < 300; iter++) {
		int n = 2 + (int)rnd(40), perm[42], par[42][3], npar[42];
		uint64_t reach[42];
		size_t o = 0;
		struct policy *p;

		shuffled(perm, n);
		/* role perm[k] inherits up to 3 of perm[0..k): a DAG */
		for (int k = 0; k < n; k++) {
			int r = perm[k];
			npar[r] = k == 0 ? 0 : (int)rnd(4);
			reach[r] = 1ULL << r;
			for (int j = 0; j < npar[r]; j++) {
				par[r][j] = perm[rnd((uint32_t)k)];
				reach[r] |= reach[par[r][j]];
			}
		}
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "roles = {\n");
		for (int r = 0; r < n; r++) {
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, " r%d = { inherits = [", r);
			for (int j = 0; j < npar[r]; j++)
				o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\"r%d\"",
				    j ? ", " : "", par[r][j]);
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "]; };\n");
		}
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "};\napps = { a = [\"s\"]; };\nrules = (\n");
		for (int i = 0; i < 6; i++)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, " { id = \"q%d\"; effect = \"%s\"; "
			    "roles = [\"r%u\"]; }%s\n", i, rnd(3) ? "allow" : "deny", rnd((uint32_t)n),
			    i < 5 ? "," : "");
		snprintf(buf + o, sizeof(buf) - o, ");\n");
		p = policy_load_buffer("gen", buf, err, sizeof(err));
		if (p == NULL)
			fprintf(stderr, "\n%s\n%s\n", err, buf);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		for (int r = 0; r < n; r++) {
			char name[16];
			const char *roles[1] = { name }, *out[42];
			struct policy_request rq = { .user = "u", .roles = roles, .nroles = 1,
				.service = "s", .host = "h" };
			struct policy_decision d, ref;
			size_t ne;
			uint64_t got = 0;

			snprintf(name, sizeof(name), "r%d", r);
			ne = policy_effective_roles(p, &rq, out, 42);
			for (size_t i = 0; i < ne && i < 42; i++)
				got |= 1ULL << atoi(out[i] + 1);
			CU_ASSERT_EQUAL(ne, (size_t)__builtin_popcountll(reach[r]));
			CU_ASSERT_EQUAL(got, reach[r]);
			policy_decide(p, &rq, &d);
			CU_ASSERT_EQUAL(policy_decide_reference(p, &rq, &ref), 0);
			CU_ASSERT_EQUAL(d.allow, ref.allow);
			CU_ASSERT_STRING_EQUAL(d.rule, ref.rule);
		}
		policy_free(p);
	}
}

/*
 * Memory is linear in the depth: a chain of 12,000 roles loads within a
 * 128 MiB address space (listing each closure would take 288 MB).  In a
 * child, whose limit cannot touch the rest of the suite.  Not under ASan,
 * whose shadow memory is a large mapping of its own.
 */
static void
test_deep_chain_memory(void)
{
#if defined(__SANITIZE_ADDRESS__)
	printf("\n  (skipped under ASan: its shadow memory needs a large address space)\n");
#else
	char *t = chain_text(12000, 0);
	pid_t pid;
	int st = -1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 128UL << 20, 128UL << 20 };
		char err[512];
		const char *last[1] = { "c11999" };
		struct policy_request rq = { .user = "u", .roles = last, .nroles = 1 };
		const char *out[1];
		struct policy *p;

		if (setrlimit(RLIMIT_AS, &rl) != 0)
			_exit(3);
		p = policy_load_buffer("chain.conf", t, err, sizeof(err));
		if (p == NULL) {
			fprintf(stderr, "\n12,000-role chain in 128 MiB: %s\n", err);
			_exit(1);
		}
		_exit(policy_effective_roles(p, &rq, out, 1) == 12000 ? 0 : 2);
	}
	free(t);
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#endif
}

/* Closures scattered through the file cost ranges; beyond the budget the
 * policy is refused, saying why, instead of growing without bound.  A
 * chain of 6,000 roles in a shuffled order needs about 6 million. */
static void
test_closure_budget(void)
{
	int n = 6000, *perm = calloc((size_t)n, sizeof(int));
	size_t cap = (size_t)n * 48 + 256, o = 0;
	char *t = malloc(cap), err[2048];
	struct policy *p;

	CU_ASSERT_FATAL(perm != NULL && t != NULL);
	shuffled(perm, n);
	/* file position i holds role s<perm[i]>; chain order is by name */
	o += (size_t)snprintf(t + o, cap - o, "roles = {\n");
	for (int i = 0; i < n; i++)
		o += perm[i] == 0 ? (size_t)snprintf(t + o, cap - o, " s0 = { };\n") :
		    (size_t)snprintf(t + o, cap - o, " s%d = { inherits = [\"s%d\"]; };\n",
		    perm[i], perm[i] - 1);
	snprintf(t + o, cap - o, "};\n");
	p = policy_load_buffer("shuffled.conf", t, err, sizeof(err));
	CU_ASSERT_PTR_NULL(p);
	if (p != NULL || strstr(err, "too large to compile") == NULL)
		fprintf(stderr, "\nshuffled chain: %s\n", p ? "loaded" : err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "the closures of the 6000 roles need more than"));
	policy_free(p);
	free(perm);
	free(t);
}

/* ---- snapshot ---- */

static int
same_decisions(const struct policy *a, const struct policy *b, int n)
{
	static const char *const users[] = { "alice", "bob", "zed", "carol", "nobody" };
	static const char *const svcs[] = { "gdm-password", "ehr-login", "rx-console", "vpn" };
	static const char *const hosts[] = { "icu-ws-03", "rx-ws-01", "ed-ws-01", "h" };

	for (int i = 0; i < n; i++) {
		struct policy_request rq = { .user = users[i % 5], .service = svcs[(i / 5) % 4],
			.host = hosts[(i / 20) % 4], .wday = i % 7, .minute = (i * 37) % 1440 };
		struct policy_decision x, y;

		policy_decide(a, &rq, &x);
		policy_decide(b, &rq, &y);
		if (x.allow != y.allow || strcmp(x.rule, y.rule) != 0 || strcmp(x.reason, y.reason) != 0 ||
		    x.mfa_grace != y.mfa_grace || x.idle_logoff != y.idle_logoff ||
		    x.session_max != y.session_max || x.break_glass != y.break_glass)
			return 0;
	}
	return 1;
}

static unsigned char *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	long len;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	b = malloc((size_t)len + 1);
	if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*n = (size_t)len;
	return b;
}

/* policy_load_deployed of TEXT and SNAP (COMPILE: write the snapshot). */
static struct policy *
deployed(const char *text, const char *snap, int *from, int compile)
{
	struct policy_files f = { text, snap, NULL, compile };
	char err[1024], note[1024];
	struct policy *q = policy_load_deployed(&f, from, note, sizeof(note), NULL, err, sizeof(err));

	if (q == NULL)
		fprintf(stderr, "%s\n", err);
	return q;
}

static void
test_snapshot(void)
{
	char dir[] = "/tmp/ward-snap-XXXXXX", text[256], snap[256], err[1024];
	struct policy *q;
	unsigned char *img;
	size_t n = 0;
	int from = -1, refused = 0, tried = 0;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(text, sizeof(text), "%s/policy.conf", dir);
	snprintf(snap, sizeof(snap), "%s/policy.conf.snap", dir);
	f = fopen(text, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(base_policy, f);
	fclose(f);
	chmod(text, 0644);

	/* round trip: same decisions, same version, lint still works */
	CU_ASSERT_EQUAL_FATAL(policy_compile(pol, snap, NULL, err, sizeof(err)), 0);
	q = policy_load_snapshot(snap, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_STRING_EQUAL(policy_version(q), policy_version(pol));
	CU_ASSERT_TRUE(same_decisions(pol, q, 2000));
	CU_ASSERT_EQUAL(policy_lint(q, NULL, NULL), 1);
	policy_free(q);

	/* a snapshot that does not say which text it came from is never used */
	q = deployed(text, snap, &from, 0);
	CU_ASSERT_PTR_NOT_NULL(q);
	CU_ASSERT_EQUAL(from, 0);
	policy_free(q);
	/* compiled by the loader: used by the next reader */
	q = deployed(text, snap, &from, 1);
	CU_ASSERT_PTR_NOT_NULL(q);
	CU_ASSERT_EQUAL(from, 0);
	policy_free(q);
	q = deployed(text, snap, &from, 0);
	CU_ASSERT_PTR_NOT_NULL(q);
	CU_ASSERT_EQUAL(from, 1);
	CU_ASSERT_STRING_EQUAL(policy_version(q), policy_version(pol));
	policy_free(q);

	/* stale: the text changed after compiling -> the text is parsed */
	f = fopen(text, "a");
	fputs("# edited\n", f);
	fclose(f);
	q = deployed(text, snap, &from, 0);
	CU_ASSERT_PTR_NOT_NULL(q);
	CU_ASSERT_EQUAL(from, 0);
	CU_ASSERT_STRING_NOT_EQUAL(policy_version(q), policy_version(pol));
	policy_free(q);
	CU_ASSERT_EQUAL(truncate(text, (off_t)strlen(base_policy)), 0);

	/* truncation at every length, and flipped bytes: always refused */
	img = slurp(snap, &n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(img);
	for (size_t len = 0; len < n; len += (len < 200 ? 1 : 97)) {
		q = policy_load_snapshot_buffer("t", img, len, err, sizeof(err));
		tried++;
		refused += q == NULL;
		policy_free(q);
	}
	for (size_t pos = 0; pos < n; pos += 13) {
		img[pos] ^= 0x40;
		q = policy_load_snapshot_buffer("t", img, n, err, sizeof(err));
		tried++;
		refused += q == NULL;
		policy_free(q);
		img[pos] ^= 0x40;
	}
	CU_ASSERT_EQUAL(refused, tried);
	q = policy_load_snapshot_buffer("t", img, n, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(q);
	policy_free(q);
	img[8] = 9;   /* format version */
	q = policy_load_snapshot_buffer("t", img, n, err, sizeof(err));
	CU_ASSERT_PTR_NULL(q);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "snapshot format 9"));
	free(img);

	/* a damaged snapshot of this very text is not trusted: text wins */
	policy_free(deployed(text, snap, &from, 1));
	f = fopen(snap, "r+");
	fseek(f, 200, SEEK_SET);
	fputc('!', f);
	fclose(f);
	q = deployed(text, snap, &from, 0);
	CU_ASSERT_PTR_NOT_NULL(q);
	CU_ASSERT_EQUAL(from, 0);
	policy_free(q);
	unlink(snap);
	unlink(text);
	rmdir(dir);
}

/* Seal a modified image with a right checksum, as a hostile or buggy writer
 * would: only the structural checks stand between it and the decisions. */
static void
reseal(unsigned char *img, size_t n)
{
	uint64_t sum = pol_image_sum(img, n);

	memcpy(img + 24, &sum, 8);
}

static struct pol_tab *
tab_of(unsigned char *img)
{
	return (struct pol_tab *)(void *)(img + POL_HEAD);
}

/* An image whose offsets, counts or ids point outside it (checksum right)
 * is refused, entry by entry. */
static void
test_snapshot_hostile(void)
{
	char err[1024];
	const struct policy *ref = pol;
	unsigned char *img = malloc(ref->size), *bad = malloc(ref->size);
	size_t n = ref->size;
	const struct pol_tab *t;
	struct policy *q;
	int cases = 0, refused = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(img);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
	memcpy(img, ref->base, n);
	t = tab_of(img);
	CU_ASSERT_FATAL(t->nrules > 0 && t->nroles > 0 && t->ncands > 0 && t->napps > 0);
	/* resealed but unchanged: loads */
	reseal(img, n);
	q = policy_load_snapshot_buffer("t", img, n, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(q);
	policy_free(q);
	for (int c = 0; c < 22; c++) {
		struct pol_tab *b;
		struct pol_rule *r;
		struct pol_role *ro;
		int32_t *cr;

		memcpy(bad, img, n);
		b = tab_of(bad);
		r = (struct pol_rule *)(void *)(bad + b->rules);
		ro = (struct pol_role *)(void *)(bad + b->roles);
		cr = (int32_t *)(void *)(bad + b->cand_roles);
		switch (c) {
		case 0: b->rules = (uint32_t)n; break;                     /* table past the end */
		case 1: b->nrules = UINT32_MAX / 2; break;                 /* count too large */
		case 2: b->rules += 4; break;                              /* misaligned */
		case 3: r[0].id = b->nstrings; break;                      /* string past the pool */
		case 4: r[0].roles.off = (uint32_t)n - 4; r[0].roles.n = 8; break;
		case 5: r[0].roles.off = b->pools[POL_POOL_APPS].off; break; /* another pool */
		case 6: r[0].roles.n = b->pools[POL_POOL_ROLES].n + 1; break;
		case 7: r[0].when = (int32_t)b->nschedules; break;
		case 8: r[0].hosts.off = POL_NONE; r[0].hosts.n = 3; break;
		case 9: cr[0] = (int32_t)b->nroles + 1; break;             /* candidate role */
		case 10: ((struct pol_cand *)(void *)(bad + b->cands))[0].rule = (int32_t)b->nrules; break;
		case 11: ((struct pol_cand *)(void *)(bad + b->cands))[0].group = (int32_t)b->nhostgroups; break;
		case 12: ((int32_t *)(void *)(bad + b->pools[POL_POOL_ROLES].off))[0] = (int32_t)b->nroles; break;
		case 13: ((int32_t *)(void *)(bad + b->pools[POL_POOL_RANGES].off))[1] = (int32_t)b->nroles; break;
		case 14: ((uint32_t *)(void *)(bad + b->pools[POL_POOL_STRS].off))[0] = b->nstrings; break;
		case 15: ro[0].closure.off = b->pools[POL_POOL_RANGES].off + 4; break;
		case 16: b->role_cap = 3; break;                           /* not a power of two */
		case 17: ((struct pol_slot *)(void *)(bad + b->role_map))[0].key = 0;
			((struct pol_slot *)(void *)(bad + b->role_map))[0].val = (int32_t)b->nroles; break;
		case 18: bad[b->strings + b->nstrings - 1] = 'x'; break;   /* pool not NUL-ended */
		case 19: b->nroles = POL_MAX_ROLES + 1; break;
		case 20: ((struct pol_list *)(void *)(bad + b->app_cands))[0].n = b->ncands + 1; break;
		case 21: b->pools[POL_POOL_HOSTS].n = UINT32_MAX; break;
		}
		reseal(bad, n);
		q = policy_load_snapshot_buffer("t", bad, n, err, sizeof(err));
		cases++;
		refused += q == NULL;
		if (q != NULL)
			fprintf(stderr, "hostile case %d loaded\n", c);
		else
			CU_ASSERT_PTR_NOT_NULL(strstr(err, "malformed"));
		policy_free(q);
	}
	CU_ASSERT_EQUAL(refused, cases);
	free(img);
	free(bad);
}

/*
 * The snapshot is used only for the very text it was compiled from: a text
 * put in place with older times (cp -p, mv, touch -d, a rewrite in place
 * with its time put back) is read, not the snapshot; a rewrite within the
 * same clock tick is told by its hash; a broken text is an error even with
 * a snapshot at hand.
 */
static void
test_snapshot_identity(void)
{
	static const char *const ways[] = {
		"cp -p \"$D/new\" \"$D/policy.conf\"",
		"cp -p \"$D/new\" \"$D/prep\" && mv \"$D/prep\" \"$D/policy.conf\"",
		"cat \"$D/new\" > \"$D/policy.conf\" && touch -d '2001-01-01' \"$D/policy.conf\"",
		"t=$(stat -c %y \"$D/policy.conf\") && cat \"$D/new\" > \"$D/policy.conf\" && "
		    "touch -d \"$t\" \"$D/policy.conf\"",
	};
	char dir[] = "/tmp/ward-snapid-XXXXXX", text[256], snap[256], newp[256];
	char *alt = strdup(base_policy), *at, err[1024], why[512];
	struct policy *q, *oldp, *newpol;
	struct timespec t[2];
	struct stat st;
	int from = -1, fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	CU_ASSERT_PTR_NOT_NULL_FATAL(alt);
	snprintf(text, sizeof(text), "%s/policy.conf", dir);
	snprintf(snap, sizeof(snap), "%s/policy.conf.snap", dir);
	snprintf(newp, sizeof(newp), "%s/new", dir);
	/* the same size, another answer: a shorter grace */
	at = strstr(alt, "mfa_grace = 900");
	CU_ASSERT_PTR_NOT_NULL_FATAL(at);
	at[12] = '8';
	oldp = policy_load_buffer("old", base_policy, err, sizeof(err));
	newpol = NULL;
	for (size_t i = 0; i < sizeof(ways) / sizeof(ways[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(tu_write(newp, alt, (size_t)-1, 0644), 0);
		CU_ASSERT_EQUAL_FATAL(tu_sh("touch -d '2001-01-01' '%s'", newp), 0);
		CU_ASSERT_EQUAL_FATAL(tu_write(text, base_policy, (size_t)-1, 0644), 0);
		if (i == 3)
			sleep(3);  /* clearly older than the compile: identity, not hash */
		policy_free(deployed(text, snap, &from, 1));
		q = deployed(text, snap, &from, 0);
		CU_ASSERT_EQUAL(from, 1);
		policy_free(q);
		CU_ASSERT_EQUAL_FATAL(tu_sh("D='%s'; %s", dir, ways[i]), 0);
		q = deployed(text, snap, &from, 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(q);
		CU_ASSERT_EQUAL(from, 0);
		if (from != 0)
			fprintf(stderr, "\nway %zu: the stale snapshot was used\n", i);
		CU_ASSERT_STRING_NOT_EQUAL(policy_version(q), policy_version(oldp));
		policy_free(newpol);
		newpol = q;
	}
	/* a rewrite in the same clock tick as the compile, same size, times
	 * put back exactly: only the hash can tell */
	CU_ASSERT_EQUAL_FATAL(tu_write(text, base_policy, (size_t)-1, 0644), 0);
	policy_free(deployed(text, snap, &from, 1));
	CU_ASSERT_EQUAL_FATAL(stat(text, &st), 0);
	fd = open(text, O_WRONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(pwrite(fd, alt, strlen(alt), 0), (ssize_t)strlen(alt));
	t[0] = st.st_atim;
	t[1] = st.st_mtim;
	CU_ASSERT_EQUAL(futimens(fd, t), 0);
	close(fd);
	q = deployed(text, snap, &from, 0);
	CU_ASSERT_PTR_NOT_NULL(q);
	CU_ASSERT_EQUAL(from, 0);
	if (q != NULL && newpol != NULL)
		CU_ASSERT_STRING_EQUAL(policy_version(q), policy_version(newpol));
	policy_free(q);
	/* the text's hash matches its snapshot: policy_snapshot_current agrees */
	policy_free(deployed(text, snap, &from, 1));
	q = policy_load_snapshot(snap, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	fd = open(text, O_RDONLY | O_CLOEXEC);
	CU_ASSERT_EQUAL(fstat(fd, &st), 0);
	CU_ASSERT_EQUAL(policy_snapshot_current(q, fd, &st, why, sizeof(why)), 1);
	close(fd);
	policy_free(q);
	/* a text that does not load is an error, whatever snapshot is there */
	CU_ASSERT_EQUAL_FATAL(tu_write(text, "roles = { broken", (size_t)-1, 0644), 0);
	q = deployed(text, snap, &from, 0);
	CU_ASSERT_PTR_NULL(q);
	policy_free(q);
	policy_free(newpol);
	policy_free(oldp);
	free(alt);
	tu_sh("rm -rf '%s'", dir);
}

/* The module's path: an open descriptor, mapped. */
static void
test_snapshot_fd(void)
{
	char path[] = "/tmp/ward-snapfd-XXXXXX", err[1024];
	int fd = mkstemp(path), pfd[2];
	struct policy *q;

	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	CU_ASSERT_EQUAL_FATAL(policy_compile(pol, path, NULL, err, sizeof(err)), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	q = policy_load_snapshot_fd(fd, path, err, sizeof(err));
	close(fd);                  /* the mapping outlives the descriptor */
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_STRING_EQUAL(policy_version(q), policy_version(pol));
	CU_ASSERT_TRUE(same_decisions(pol, q, 2000));
	CU_ASSERT_EQUAL(policy_lint(q, NULL, NULL), policy_lint(pol, NULL, NULL));
	policy_free(q);
	/* not a regular file */
	CU_ASSERT_EQUAL_FATAL(pipe(pfd), 0);
	q = policy_load_snapshot_fd(pfd[0], "pipe", err, sizeof(err));
	CU_ASSERT_PTR_NULL(q);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
	close(pfd[0]);
	close(pfd[1]);
	/* truncated on disk */
	CU_ASSERT_EQUAL(truncate(path, 200), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	q = policy_load_snapshot_fd(fd, path, err, sizeof(err));
	CU_ASSERT_PTR_NULL(q);
	close(fd);
	unlink(path);
}

/* Random policies through compile + load: the snapshot decides like the text. */
static void
test_snapshot_differential(void)
{
	static char buf[1 << 16];
	char err[2048], path[] = "/tmp/ward-snapd-XXXXXX";
	int fd = mkstemp(path), ok = 1;

	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	for (int iter = 0; iter < 300 && ok; iter++) {
		struct policy *p, *q;

		gen_policy(buf, sizeof(buf), 2 + (int)rnd(12), 1 + (int)rnd(5), 1 + (int)rnd(25));
		p = policy_load_buffer("gen", buf, err, sizeof(err));
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		CU_ASSERT_EQUAL_FATAL(policy_compile(p, path, NULL, err, sizeof(err)), 0);
		q = policy_load_snapshot(path, err, sizeof(err));
		CU_ASSERT_PTR_NOT_NULL_FATAL(q);
		for (int k = 0; k < 50; k++) {
			char role[16], svc[16];
			const char *roles[1] = { role };
			struct policy_request rq = { .user = "u", .roles = roles, .nroles = 1,
				.service = svc, .host = (const char *[]){ "h01", "h1a", "x", "h25" }[rnd(4)],
				.wday = (int)rnd(7), .minute = (int)rnd(1440) };
			struct policy_decision a, b;

			snprintf(role, sizeof(role), "r%u", rnd(14));
			snprintf(svc, sizeof(svc), "s%u", rnd(6));
			policy_decide(p, &rq, &a);
			policy_decide(q, &rq, &b);
			if (a.allow != b.allow || strcmp(a.rule, b.rule) != 0 ||
			    a.mfa_grace != b.mfa_grace || a.break_glass != b.break_glass)
				ok = 0;
		}
		policy_free(p);
		policy_free(q);
	}
	CU_ASSERT_TRUE(ok);
	unlink(path);
}

static int
setup(void)
{
	char err[2048];

	pol = policy_load_buffer("base.conf", base_policy, err, sizeof(err));
	if (pol == NULL)
		fprintf(stderr, "base policy: %s\n", err);
	return pol ? 0 : -1;
}

static int
teardown(void)
{
	policy_free(pol);
	return 0;
}

int
main(void)
{
	unsigned int fails;
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	s = CU_add_suite("policy", setup, teardown);
	CU_add_test(s, "loader: broken policies with file:line", test_loader_errors);
	CU_add_test(s, "loader: every problem reported", test_loader_reports_every_problem);
	CU_add_test(s, "loader: unsafe files refused", test_load_file_refusals);
	CU_add_test(s, "decisions table", test_decisions);
	CU_add_test(s, "deny reasons, app, NULL inputs", test_deny_reason_and_app);
	CU_add_test(s, "permissions and effective roles", test_permissions_and_roles);
	CU_add_test(s, "explain trace", test_explain_trace);
	CU_add_test(s, "lint findings", test_lint);
	CU_add_test(s, "differential: fast path vs reference", test_differential);
	CU_add_test(s, "hierarchy: a diamond and deep chains exact", test_chain_and_diamond);
	CU_add_test(s, "hierarchy: scattered roles, closures exact", test_scattered_hierarchies);
	CU_add_test(s, "hierarchy: a 12,000-role chain in 128 MiB", test_deep_chain_memory);
	CU_add_test(s, "hierarchy: scattered closures over budget refused", test_closure_budget);
	CU_add_test(s, "snapshot: round trip, stale, truncated, flipped", test_snapshot);
	CU_add_test(s, "snapshot: random policies decide alike", test_snapshot_differential);
	CU_add_test(s, "snapshot: offsets out of bounds refused", test_snapshot_hostile);
	CU_add_test(s, "snapshot: from a descriptor, mapped", test_snapshot_fd);
	CU_add_test(s, "snapshot: used only for the very text it was compiled from",
	    test_snapshot_identity);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
