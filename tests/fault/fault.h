/*
 * fault.h - what the fault-injection build of wardd
 * (build/tests/fault/wardd_fault, never installed) and its driver
 * tests/fault/test_fault.c share.
 *
 * wardd_fault is wardd's objects linked again with -Wl,--wrap=FN for each
 * call in the Makefile's FAULT_WRAP: every call Ward's own code (daemon/,
 * lib/, policy/) makes to FN goes through __wrap_FN in fault_wrap.c, which
 * counts it and makes the call with number TARGET fail the way FN fails
 * (NULL/ENOMEM, -1/errno, an LMDB or LDAP error code).  Calls made inside
 * libc, libconfig, liblmdb and libldap are not counted.  The Makefile's
 * FAULT_HOOK calls are wrapped only to watch the daemon, never to fail:
 *   phase_run       marks a login phase (daemon/phase.c, run by a worker
 *                   thread that daemon/workers.c keeps between phases),
 *                   whose calls are the ones counted in FAULT_SCOPE_PHASE,
 *                   and counts the phases started and finished;
 *   core_init       marks a load of ward.conf and the policy (at a reload),
 *                   whose calls are the ones counted in FAULT_SCOPE_LOAD;
 *   syslog          wardd's log lines go, with their priority and the
 *                   phase, to the file WARD_FAULT_LOG names (the driver
 *                   reads them; the machine's syslog sees none of them).
 *
 * The driver makes the control file (a struct fault_shared, then what the
 * driver keeps for itself), maps it shared, names it in WARD_FAULT_CTL when
 * it starts wardd_fault, and arms it before each run; wardd_fault maps the
 * struct of the same file at start (a constructor in fault_wrap.c).  Without
 * WARD_FAULT_CTL, wardd_fault fails nothing and logs to syslog as wardd.
 */
#ifndef WARD_FAULT_H
#define WARD_FAULT_H

#include <stddef.h>
#include <string.h>

#define FAULT_NAME_MAX 32
#define FAULT_MAGIC 0x57464c54u      /* "WFLT": the file is a control file */

/* The environment of wardd_fault (read by fault_wrap.c only). */
#define WARD_FAULT_CTL "WARD_FAULT_CTL"
#define WARD_FAULT_LOG "WARD_FAULT_LOG"

/* Which calls count: a login phase's (its worker thread, from its start to
 * its end) or a load's (core_init, as a reload runs it). */
enum { FAULT_SCOPE_PHASE = 0, FAULT_SCOPE_LOAD = 1 };

/* The fields wardd_fault's threads and the driver's processes both write
 * are accessed with __atomic builtins. */
struct fault_shared {
	unsigned magic;              /* FAULT_MAGIC */
	/* set by the driver before a run */
	int scope;                   /* FAULT_SCOPE_* */
	unsigned long target;        /* fail the call with this number (1-based); 0: none */
	char only[FAULT_NAME_MAX];   /* when set, count (and fail) only calls of this function */
	int short_writes;            /* a failing write(2) of >1 byte writes half, returns that */
	int phase;                   /* set by the client before each PAM call */
	int trace;                   /* list every call other than an allocation in TRACE_BUF */
	int leak_check;              /* (ASan) LeakSanitizer after each worker */
	/* filled by wardd_fault */
	unsigned long calls;         /* counted calls so far */
	int injected;                /* the target call was made to fail */
	int injected_phase;          /* PHASE at that moment */
	char name[FAULT_NAME_MAX];   /* the function that failed */
	unsigned long site;          /* its caller: offset from wardd_fault's load address */
	int cache_fsync;             /* the failed fsync was a policy snapshot's (a cache) */
	int leaked;                  /* LeakSanitizer found a leak after a worker */
	/* never reset: the client waits for DONE == STARTED after each phase */
	unsigned long workers_started, workers_done;
	unsigned long loads;         /* core_init calls finished */
	/* "name@phase\n" lines, for the same-work test (the client adds
	 * "PROMPT@phase" when it is asked for the code) */
	size_t trace_len;
	int trace_full;              /* the buffer ran out: the trace is incomplete */
	char trace_buf[32768];
};

/* Append LINE (N bytes) to F's trace; either process may, one at a time
 * or not: the room is taken atomically.  A line that does not fit marks
 * the trace full (and incomplete). */
static inline void
fault_trace_add(struct fault_shared *f, const char *line, size_t n)
{
	size_t at;

	if (__atomic_load_n(&f->trace_full, __ATOMIC_SEQ_CST))
		return;
	at = __atomic_fetch_add(&f->trace_len, n, __ATOMIC_SEQ_CST);
	if (at + n > sizeof(f->trace_buf)) {
		__atomic_store_n(&f->trace_full, 1, __ATOMIC_SEQ_CST);
		return;
	}
	memcpy(f->trace_buf + at, line, n);
}

#endif
