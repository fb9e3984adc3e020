/*
 * report.h - the analysis behind wardctl audit report (report.c): the
 * findings of an audit log, for cmd_audit.c to print.
 */
#ifndef WARD_REPORT_H
#define WARD_REPORT_H

#include <stddef.h>
#include <stdint.h>

/* One row of a ranked list: the person or rule NAME and its COUNT. */
struct report_count {
	const char *name;
	unsigned count;
	size_t people;              /* denials: the distinct people denied */
	int64_t last;               /* break-glass: the last claim (ms) */
	const char *last_reason;    /* and its reason */
};

struct report_lockout {
	const char *user, *host;
	int64_t ts;
};

struct report_anomaly {
	const char *kind;           /* unusual_hour, spraying, breakglass_often,
	                             * fleet_replay_suspected */
	char who[300];              /* the person (a source for spraying) */
	int64_t ts;
	char text[600];
};

struct rctx;

/* The findings in the window (records at or after SINCE); each ranked list
 * has the rows with a count above 0, the largest first, then by name. */
struct report {
	unsigned long records, in_window;   /* read in all; in the window */
	int64_t first, last;                /* the window's first and last record */
	struct report_count *failures;      /* authentication failures by person */
	struct report_count *denials;       /* account denials by rule */
	struct report_count *breakglass;    /* break-glass claims by person */
	size_t nfailures, ndenials, nbreakglass;
	struct report_lockout *lockouts;    /* in log order */
	size_t nlockouts;
	struct report_anomaly *anomalies;   /* hours, then spraying, then break-glass,
	                                     * then fleet replays suspected */
	size_t nanomalies;
	struct rctx *tally;                 /* what the names point into */
};

/* Read the NFILES FILES (oldest first) and fill REP (zeroed here).  0, or
 * -1 with ERR filled (a file's problem, or out of memory); report_free
 * releases REP either way. */
int report_build(const char *const *files, size_t nfiles, int64_t since, struct report *rep,
    char *err, size_t len);
void report_free(struct report *rep);

#endif
