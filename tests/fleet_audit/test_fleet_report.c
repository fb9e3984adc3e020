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
 *  - a host whose log was edited is left out of the report, named, exit 1;
 *  - off-hours: a login 7 hours after everyone's shift fires by the user's
 *    own baseline (icun000) and by the role's for a newcomer (newnurse),
 *    naming the records; higher history thresholds make none;
 *  - breakglass-peers: 6 claims against peers' median 0 fires (the 6
 *    records named), peers with 1 claim do not; --breakglass-min 6 makes
 *    none;
 *  - --html: one page whose numbers equal --json's (hosts, records, users,
 *    failures, break-glass, each rule, each bar), that refers to nothing
 *    outside itself and has no script, and in which a user name and a
 *    service made of <script>, quotes and ampersands come out escaped;
 *  - the page in a real headless Chromium (browser.sh: no network, as
 *    nobody): no console error, no request, the findings in its DOM, a
 *    screenshot (build/tests/fleet_audit/out/report.png); a control page
 *    with a script error and external loads shows both counted.
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
	top = tu_fleet_key_dir("ward-fleetrep", fleetkey, sizeof(fleetkey));
	return top != NULL ? 0 : -1;
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
	/* every rule was there to fire, the two baselines' too */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "off-hours 0, breakglass-peers 0, offline-replay 0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "user-many-hosts 0, spray 0, replay-elsewhere 0, "
	    "impossible-presence 0"));
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
plant_n(const char *plant, const char *rule, int nwant, const char *const *records)
{
	char name[64], want[128];
	int st;
	char *out;

	snprintf(name, sizeof(name), "plant-%s", plant);
	make_fleet(name, plant);
	out = wardctl("report", name, "", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_EQUAL(count(out, "FINDING"), nwant);
	snprintf(want, sizeof(want), "FINDING   %s: ", rule);
	CU_ASSERT_EQUAL(count(out, want), nwant);
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
	CU_ASSERT_EQUAL(count(out, "\"rule\":"), nwant);
	CU_ASSERT_EQUAL(count(out, want), nwant);
	snprintf(want, sizeof(want), "\"%s\":%d", rule, nwant);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	free(out);
}

/* Report over fleet NAME with EXTRA options: no finding, exit 0. */
static void
no_finding(const char *name, const char *extra)
{
	int st;
	char *out = wardctl("report", name, extra, &st);

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_EQUAL(count(out, "FINDING"), 0);
	if (st != 0 || count(out, "FINDING") != 0)
		fprintf(stderr, "%s %s:\n%s", name, extra, out);
	free(out);
}

static void
one_plant(const char *plant, const char *rule, const char *const *records)
{
	plant_n(plant, rule, 1, records);
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

/* fleet mode: a code accepted offline on two workstations, the second of
 * which found its step already the directory's watermark when it sent it
 * back (daemon/core_fleet.c) */
static void
test_offline_replay(void)
{
	static const char *const r[] = { "user offrep: icu-ws-02 accepted a code offline "
		"and, when the directory answered again, found its step already the "
		"directory's watermark, set by another workstation",
		"records: icu-ws-01 seq 298 (2026-11-30T02:58:20Z), icu-ws-02 seq 271 "
		"(2026-11-30T02:58:22Z), icu-ws-02 seq 275 (2026-11-30T03:00:20Z)", NULL };

	one_plant("offline", "offline-replay", r);
}

/* audit query --fleet: the records of every verified host that match;
 * a tampered host is left out, named, exit 1 */
static void
test_query(void)
{
	char path[1024];
	int st;
	char *out;

	make_fleet("query", "offline");
	out = wardctl("query", "query", "--user offrep", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_EQUAL(count(out, " offrep "), 3);
	CU_ASSERT_EQUAL(count(out, " icu-ws-01 "), 1);
	CU_ASSERT_EQUAL(count(out, " icu-ws-02 "), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "3 records from 24 hosts (every chain verified "
	    "first; 0 left out)"));
	free(out);
	out = wardctl("query", "query", "--event fleet_sync --json", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_EQUAL(count(out, "\"event\":\"fleet_sync\""), 1);
	CU_ASSERT_EQUAL(count(out, "\"result\":\"replay_suspected\""), 1);
	free(out);
	/* icu-ws-01's record of offrep edited: that host is left out */
	snprintf(path, sizeof(path), "%s/query/icu-ws-01/audit.log", top);
	CU_ASSERT_EQUAL_FATAL(tu_sh("sed -i '0,/\"user\":\"offrep\"/s//\"user\":\"offrex\"/' "
	    "'%s'", path), 0);
	out = wardctl("query", "query", "--user offrep 2>&1", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 1);
	CU_ASSERT_EQUAL(count(out, " offrep "), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "LEFT OUT icu-ws-01: does not verify"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "2 records from 23 hosts (every chain verified "
	    "first; 1 left out)"));
	free(out);
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
	no_finding("plant-presence", "--presence-minutes 1");
	out = wardctl("report", "plant-presence", "--presence-minutes 0", &st);
	CU_ASSERT_EQUAL(st, 2);
	free(out);
}

static void
test_offhours(void)
{
	static const char *const r[] = { "user newnurse (0 earlier successful logins: too "
		"few for their own baseline) logged in on icu-ws-02 on Mon 12:00-12:59 UTC; of "
		"the 4826 earlier logins of role nurse, 0 fell within 2 hours of that time of "
		"week (rule: at most 0 there, with 100 or more logins of the role)",
		"records: icu-ws-02 seq 643 (2026-11-30T12:53:20Z)",
		"user icun000 logged in on icu-ws-01 on Mon 12:00-12:59 UTC; of their 30 earlier "
		"successful logins, 0 fell within 2 hours of that time of week (rule: at most 0 "
		"there, with 20 or more logins of history)",
		"records: icu-ws-01 seq 658 (2026-11-30T05:49:57Z), icu-ws-01 seq 665 ", NULL };
	int st;
	char *out;

	plant_n("offhours", "off-hours", 2, r);
	/* more history asked for than anyone has: no baseline, no finding */
	no_finding("plant-offhours", "--offhours-history 31 --offhours-role-history 100000");
	/* 30 logins are not icun000's baseline under 31: the role's is, where
	 * newnurse's login a minute before now counts */
	out = wardctl("report", "plant-offhours", "--offhours-history 31", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(count(out, "FINDING   off-hours: user newnurse (0 earlier "), 1);
	CU_ASSERT_EQUAL(count(out, "FINDING"), 1);
	free(out);
	out = wardctl("report", "plant-offhours", "--offhours-max -1", &st);
	CU_ASSERT_EQUAL(st, 2);
	free(out);
}

static void
test_breakglass(void)
{
	static const char *const r[] = { "user bgfrequent claimed break-glass 6 times; the "
		"median of their 91 peers (role nurse) is 0 (rule: more than max(3, 3 x median) "
		"= 3)", "icu-ws-01 seq 282 ", "icu-ws-01 seq 314 ", "icu-ws-01 seq 332 ",
		"icu-ws-01 seq 356 ", "icu-ws-01 seq 380 ", "icu-ws-01 seq 405 ",
		"break-glass by person (top 10): bgfrequent 6, icun001 1, icun002 1\n", NULL };
	int st;
	char *out;

	one_plant("breakglass", "breakglass-peers", r);
	out = wardctl("report", "plant-breakglass", "--json", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"breakglass\":8,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"breakglass_by_person\":[{\"user\":\"bgfrequent\","
	    "\"n\":6},{\"user\":\"icun001\",\"n\":1},{\"user\":\"icun002\",\"n\":1}]"));
	free(out);
	/* 6 is not more than max(6, 3 x 0) */
	no_finding("plant-breakglass", "--breakglass-min 6");
}

/* The number after KEY in S (-1: none). */
static long long
num_after(const char *s, const char *key)
{
	const char *p = s != NULL ? strstr(s, key) : NULL;

	return p != NULL ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* The --html page of fleet NAME (malloc'd) and its --json report. */
static char *
html_of(const char *name, char **json)
{
	char path[1024], extra[1200];
	int st;
	char *out;

	snprintf(path, sizeof(path), "%s/%s.html", top, name);
	snprintf(extra, sizeof(extra), "--json --html %s", path);
	*json = wardctl("report", name, extra, &st);
	CU_ASSERT_EQUAL(st, 1);
	out = tu_read(path, NULL);
	CU_ASSERT_PTR_NOT_NULL(out);
	return out;
}

static void
test_html(void)
{
	static const char *const ids[][2] = { { "id=\"n-hosts\">", "\"hosts\":" },
		{ "id=\"n-records\">", "\"records\":" }, { "id=\"n-users\">", "\"users\":" },
		{ "id=\"n-failures\">", "\"auth_failures\":" },
		{ "id=\"n-breakglass\">", "\"breakglass\":" },
		{ "id=\"rule-user-many-hosts\">", "\"user-many-hosts\":" },
		{ "id=\"rule-spray\">", "\"spray\":" },
		{ "id=\"rule-replay-elsewhere\">", "\"replay-elsewhere\":" },
		{ "id=\"rule-impossible-presence\">", "\"impossible-presence\":" },
		{ "id=\"rule-off-hours\">", "\"off-hours\":" },
		{ "id=\"rule-breakglass-peers\">", "\"breakglass-peers\":" },
		{ "id=\"rule-offline-replay\">", "\"offline-replay\":" } };
	static const char *const outside[] = { "<script", "<link", "<img", "<iframe",
		"<object", "<embed", "src=", "href=", "url(", "@import", "https:", "javascript:",
		NULL };
	char *json, *html;
	const char *p, *totals;

	make_fleet("hostile", "hostile breakglass offline");
	html = html_of("hostile", &json);
	CU_ASSERT_PTR_NOT_NULL_FATAL(html);
	CU_ASSERT_PTR_NOT_NULL_FATAL(json);
	/* the same numbers as --json (its totals follow the findings) */
	totals = strstr(json, "],\"hosts\":");
	CU_ASSERT_PTR_NOT_NULL_FATAL(totals);
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		long long h = num_after(html, ids[i][0]), j = num_after(totals, ids[i][1]);

		CU_ASSERT(h >= 0 && h == j);
		if (h < 0 || h != j)
			fprintf(stderr, "html %s %lld, json %s %lld\n", ids[i][0], h, ids[i][1], j);
	}
	CU_ASSERT_EQUAL(num_after(html, "id=\"n-findings\">"), count(json, "\"rule\":"));
	CU_ASSERT_EQUAL(count(html, "<tr class=\"finding\""), count(json, "\"rule\":"));
	CU_ASSERT_EQUAL(count(html, "<tr class=\"finding\" data-rule=\"user-many-hosts\""), 1);
	CU_ASSERT_EQUAL(count(html, "<tr class=\"finding\" data-rule=\"replay-elsewhere\""), 1);
	CU_ASSERT_EQUAL(count(html, "<tr class=\"finding\" data-rule=\"breakglass-peers\""), 1);
	/* each bar is the JSON's count */
	/* icu-ws-01: 5 of the shift and the spread's; icu-ws-02: 4, the
	 * spread's and the replay's */
	CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"failures_by_host\":[{\"host\":\"icu-ws-01\","
	    "\"n\":6},{\"host\":\"icu-ws-02\",\"n\":6},"));
	CU_ASSERT_PTR_NOT_NULL(strstr(html, "<title>icu-ws-01: 6</title>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(html, "<title>icu-ws-02: 6</title>"));
	CU_ASSERT_PTR_NOT_NULL(strstr(html, "<title>bgfrequent: 6</title>"));
	/* the attacker's strings, escaped wherever they appear */
	CU_ASSERT_EQUAL(count(html, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
	    "&amp;&#39;"), 4);
	CU_ASSERT_EQUAL(count(html, "ssh&quot;d&lt;b&gt;&amp;amp;"), 2);
	CU_ASSERT_PTR_NULL(strstr(html, "alert(\"x\")"));
	CU_ASSERT_PTR_NULL(strstr(html, "<b>&amp;"));
	/* self-contained: nothing loaded, nothing run; its policy says so */
	for (size_t i = 0; outside[i] != NULL; i++) {
		CU_ASSERT_PTR_NULL(strstr(html, outside[i]));
		if (strstr(html, outside[i]) != NULL)
			fprintf(stderr, "the page has \"%s\"\n", outside[i]);
	}
	/* http: only as SVG's namespace name (never fetched) */
	for (p = html; (p = strstr(p, "http:")) != NULL; p++)
		CU_ASSERT_EQUAL(strncmp(p, "http://www.w3.org/2000/svg\"", 27), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(html, "content=\"default-src 'none'; "
	    "style-src 'unsafe-inline'\""));
	free(json);
	free(html);
}

/* browser.sh over HTML as NAME into the suite's output folder: its
 * output (malloc'd). */
static char *
browse(const char *html, const char *name, int *st)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "mkdir -p %s/tests/fleet_audit/out && "
	    "%s/tests/fleet_audit/browser.sh %s %s/tests/fleet_audit/out %s", tu_build(),
	    tu_src(), html, tu_build(), name);
	return tu_run(cmd, 1, st);
}

static void
test_browser(void)
{
	static const char control[] = "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
	    "<title>c</title><link rel=\"stylesheet\" href=\"http://192.0.2.1/x.css\"></head>"
	    "<body><img src=\"https://192.0.2.1/a.png\"><script>nosuchfunction();</script>"
	    "</body></html>\n";
	char path[1024], dom[1024], png[1024];
	int st;
	char *out, *d, *img;
	size_t n = 0;

	/* the control: a page with a script error and external loads */
	snprintf(path, sizeof(path), "%s/control.html", top);
	CU_ASSERT_EQUAL_FATAL(tu_write(path, control, sizeof(control) - 1, 0644), 0);
	out = browse(path, "control", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT(num_after(out, "console errors: ") > 0);
	CU_ASSERT(num_after(out, "fetch attempts: ") > 0);
	free(out);
	/* the report */
	snprintf(path, sizeof(path), "%s/hostile.html", top);
	out = browse(path, "report", &st);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_EQUAL(st, 0);
	CU_ASSERT_EQUAL(num_after(out, "console errors: "), 0);
	CU_ASSERT_EQUAL(num_after(out, "fetch attempts: "), 0);
	if (st != 0 || num_after(out, "console errors: ") != 0 ||
	    num_after(out, "fetch attempts: ") != 0)
		fprintf(stderr, "%s", out);
	free(out);
	snprintf(dom, sizeof(dom), "%s/tests/fleet_audit/out/report.dom", tu_build());
	d = tu_read(dom, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	/* what the browser built: the findings, the charts, the hostile name
	 * as text (the serialiser escapes & < > again), no script element */
	CU_ASSERT_EQUAL(count(d, "<tr class=\"finding\""), 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(d, "data-rule=\"breakglass-peers\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(d, "data-rule=\"offline-replay\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(d, "user bgfrequent claimed break-glass 6 times"));
	CU_ASSERT_PTR_NOT_NULL(strstr(d, "<svg id=\"chart-hours\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(d, "<svg id=\"chart-hosts\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(d, "<svg id=\"chart-breakglass\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(d, "&lt;script&gt;alert(\"x\")&lt;/script&gt;&amp;'"));
	CU_ASSERT_PTR_NULL(strstr(d, "<script"));
	free(d);
	snprintf(png, sizeof(png), "%s/tests/fleet_audit/out/report.png", tu_build());
	img = tu_read(png, &n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(img);
	CU_ASSERT(n > 10000 && memcmp(img, "\x89PNG\r\n\x1a\n", 8) == 0);
	free(img);
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
	CU_add_test(s, "a code accepted offline on two workstations", test_offline_replay);
	CU_add_test(s, "audit query over every verified host", test_query);
	CU_add_test(s, "logins in two wards 2 minutes apart", test_presence);
	CU_add_test(s, "a host that stopped writing is silent", test_silent);
	CU_add_test(s, "a tampered host is left out and named", test_left_out);
	CU_add_test(s, "a login far from the user's and the role's hours", test_offhours);
	CU_add_test(s, "break-glass far above the peers' median", test_breakglass);
	CU_add_test(s, "the HTML report: same numbers, escaped, self-contained", test_html);
	CU_add_test(s, "the HTML report in a headless browser", test_browser);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures();
	if (CU_get_number_of_suites_failed() > 0)
		fails++;
	CU_cleanup_registry();
	return fails == 0 ? 0 : 1;
}
