/*
 * helper_client.h - the module's side of ward_verify, the setuid-root
 * helper that answers for a caller without root (a screen locker running
 * as the user).  The protocol is in helper_proto.h.  No PAM here.
 */
#ifndef WARD_HELPER_CLIENT_H
#define WARD_HELPER_CLIENT_H

#include <stddef.h>

#include "core.h"

/*
 * Run the helper named by C's ward.conf for USER on SERVICE with INPUT on
 * its stdin; its answer line goes to OUT (always NUL-terminated).
 * Returns its HELPER_* exit status, or HELPER_ERROR when it could not be
 * run or its status was lost (logged).
 */
int helper_run(const struct core *c, const char *user, const char *service,
    const char *input, char *out, size_t outlen) WARD_WUR;

/*
 * Verify CODE for USER through the helper, which records the outcome.
 * Returns what core_verify would (0, WARD_ERR_BADCODE, WARD_ERR_REPLAY,
 * WARD_ERR_LOCKED, WARD_ERR_NOTFOUND, or WARD_ERR_INTERNAL when the helper
 * failed, logged), with RES filled from its answer.
 */
int helper_verify(struct core *c, const char *user, const char *service,
    const char *code, struct core_verify_result *res) WARD_WUR;

#endif
