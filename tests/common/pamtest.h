/* pamtest.h - drive pam_ward.so (a client of the wardd a suite starts:
 * testutil.h's tu_wardd_start) through real libpam (pam_start_confdir)
 * from a test: a conversation that answers prompts and keeps a transcript,
 * a transaction runner, and PAM service files. */
#ifndef WARD_PAMTEST_H
#define WARD_PAMTEST_H

#include <stddef.h>
#include <security/pam_appl.h>

/* What the module said in the current conversation, a line each:
 * "prompt: MSG" ("prompt(echo): MSG" for an echoed prompt), "error: MSG",
 * "info: MSG". */
extern char pt_transcript[8192];
/* How many prompts the current conversation answered. */
extern int pt_nprompts;

/* Begin a conversation (empty transcript, no prompts yet) in which every
 * prompt is answered with ANSWER ("" when NULL). */
void pt_answer_all(const char *answer);
/* Begin a conversation in which the prompts get ANSWERS[0..N-1] in order
 * (at most 8), then "". */
void pt_answers(const char *const *answers, size_t n);
/* The conversation function (struct pam_conv's conv). */
int pt_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data);

/*
 * Run PHASES (comma-joined: "auth", "acct", "open", "close") as USER on
 * SERVICE of the PAM configuration folder PAMD, in the conversation begun
 * last, stopping at the first phase that fails.  Returns its rc or
 * PAM_SUCCESS.  ENV (optional, LEN bytes) gets the WARD_* variables set
 * (WARD_ROLES, WARD_IDLE_LOGOFF, WARD_SESSION_MAX, WARD_BREAK_GLASS), a
 * "NAME=value" line each, when every phase up to the session opening
 * succeeded.
 */
int pt_run(const char *pamd, const char *service, const char *user, const char *phases,
    char *env, size_t len);

/* Write the PAM service NAME in PAMD: auth, account and session each
 * "required MODULE socket=SOCK" (wardd's socket), and OPTS (when not
 * NULL) after the auth line's socket= (as " OPTS").  0 on success. */
int pt_write_service(const char *pamd, const char *name, const char *module, const char *sock,
    const char *opts);

#endif
