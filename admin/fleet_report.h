/*
 * fleet_report.h - what wardctl audit report --fleet found, as the HTML
 * report (fleet_html.c) draws it: the same findings and numbers the text
 * and --json reports print (fleet_report.c fills it).  wardctl(8), AUDIT
 * ACROSS A FLEET.
 */
#ifndef WARD_FLEET_REPORT_H
#define WARD_FLEET_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A record behind a finding: its host and seq, and its time. */
struct fr_ref {
	const char *host;
	uint64_t seq;
	int64_t ts_ms;
};

struct fr_finding {
	const char *rule;
	char *user, *host;            /* either may be NULL */
	char *what;                   /* the rule and its numbers, one sentence */
	struct fr_ref *recs;
	size_t nrecs;
};

/* A name and its count (a chart's bar). */
struct fr_named {
	const char *name;
	uint64_t n;
};

struct fr_view {
	const char *fleet;            /* the collector's folder */
	size_t hosts, left_out, users;
	uint64_t records, failures, breakglass;
	const char *const *rule_names;
	const size_t *by_rule;
	size_t nrules;
	const struct fr_finding *f;
	size_t nf;
	const char *const *left;      /* the hosts left out: "HOST: why" */
	size_t nleft;
	int64_t hour0_ms;             /* failures per hour: hour 0 starts here */
	const uint32_t *fail_hour;
	size_t nhours;
	const struct fr_named *top_hosts;   /* failures per host, most first */
	size_t ntop_hosts;
	const struct fr_named *top_bg;      /* break-glass per person, most first */
	size_t ntop_bg;
	const char *thresholds;       /* the rules' thresholds, one sentence */
};

/* MS as "YYYY-MM-DDTHH:MM:SSZ" (UTC) into BUF ("" if it cannot be). */
void fleet_ts(int64_t ms, char *buf, size_t len);

/* V as one self-contained HTML page to F (inline CSS and SVG, no script,
 * nothing fetched; every string from the records escaped).  0, or -1 when
 * F reports a write error. */
int fleet_html(FILE *f, const struct fr_view *v);

#endif
