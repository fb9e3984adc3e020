/*
 * helper_proto.h - how pam_ward.so talks to ward_verify, its setuid-root
 * helper for unprivileged callers (a screen locker running as the user).
 *
 *   argv:   ward_verify USER SERVICE
 *   stdin:  "grace\n", "account\n" or "verify\n" CODE "\n"
 *           (at most HELPER_MAX_INPUT bytes)
 *   stdout: at most one line "recovery_left N", "locked_until T" or
 *           "reason TEXT" (account denied)
 *
 *   grace:   OK when the policy allows USER on SERVICE here and now and
 *            needs no code (a rule without MFA, or within the grace of a
 *            recent verification); NOGRACE otherwise.
 *   account: OK (allowed) or DENIED with the reason.
 *   verify:  the code's outcome.
 *  Each answer is recorded in the audit log by the helper.
 *   exit:   one of the HELPER_* values below
 *
 * The helper verifies only for the user whose real uid runs it, reads only
 * its compiled-in ward.conf, and works out the app, host and grace itself:
 * nothing the caller says widens what it grants.
 */
#ifndef WARD_HELPER_PROTO_H
#define WARD_HELPER_PROTO_H

#define HELPER_OK           0
#define HELPER_BADCODE      1
#define HELPER_REPLAY       2
#define HELPER_LOCKED       3
#define HELPER_NOTENROLLED  4
#define HELPER_NOGRACE      5
#define HELPER_ERROR        6
#define HELPER_REFUSED      7   /* asked about another user */
#define HELPER_DENIED       8   /* account: the policy denies */

#define HELPER_MAX_INPUT 512

#endif
