/*
 * fault.h - what the fault-injection build of pam_ward.so
 * (build/tests/fault/pam_ward_fault.so, never installed) and its driver
 * tests/fault/test_fault.c share.
 *
 * The test module is the release module's objects linked again with
 * -Wl,--wrap=FN for each call in the Makefile's FAULT_WRAP: every call the
 * module's own code makes to FN goes through __wrap_FN in fault_wrap.c,
 * which counts it and makes the call with number TARGET fail the way FN
 * fails (NULL/ENOMEM, -1/errno, an LMDB or LDAP error code).  Calls made
 * inside libc, libconfig, liblmdb, libldap and libpam are not counted.
 *
 * The driver dlopen()s the test module before pam_start (libpam then gets
 * the same handle), puts a struct fault_shared in memory shared with a
 * forked child and arms it there with ward_fault_arm.
 */
#ifndef WARD_FAULT_H
#define WARD_FAULT_H

#define FAULT_NAME_MAX 32

struct fault_shared {
	unsigned long target;        /* fail the call with this number (1-based); 0: none */
	char only[FAULT_NAME_MAX];   /* when set, count (and fail) only calls of this function */
	int short_writes;            /* a failing write(2) of >1 byte writes half, returns that */
	int phase;                   /* set by the driver before each PAM call */
	int trace;                   /* list every call other than an allocation in TRACE_BUF */
	/* filled by the wrappers */
	unsigned long calls;         /* wrapped calls so far */
	int injected;                /* the target call was made to fail */
	int injected_phase;          /* PHASE at that moment */
	char name[FAULT_NAME_MAX];   /* the function that failed */
	unsigned long site;          /* its caller: offset from the module's load address */
	int cache_fsync;             /* the failed fsync was a policy snapshot's (a cache) */
	size_t trace_len;            /* "name@phase\n" lines, for the same-work test */
	int trace_full;              /* the buffer ran out: the trace is incomplete */
	char trace_buf[32768];
};

/* Exported by pam_ward_fault.so only (tests/fault/pam_ward_fault.map). */
typedef void (*ward_fault_arm_fn)(struct fault_shared *sh);
#define WARD_FAULT_ARM "ward_fault_arm"

#endif
