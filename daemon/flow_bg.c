/*
 * flow_bg.c - break-glass: emergency access for someone the policy denies,
 * where the policy's break_glass covers them (flow_int.h).
 *
 * Rules it keeps (behaviour: pam_ward(8)):
 *  - Offered only to a user in at least one role (a screen locker without
 *    root included: wardd decides and records); the reason
 *    is asked after the denial is shown, and an empty answer declines.
 *  - The reason must be plain text: valid UTF-8, no control or hidden
 *    format character, at least min_reason_chars letters or digits.  A
 *    refused reason is not kept (it may be a code typed at the wrong
 *    prompt): its size is recorded.
 *  - With mfa = "required" a code is asked unless this transaction
 *    verified one; never an earlier module's token.
 *  - Granted only once the grant is recorded; one grant, one session.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "flow_int.h"

#define REASON_MAX 512

/* One UTF-8 code point at *P (advanced), or -1 when malformed (overlong,
 * surrogate, out of range, truncated). */
static long
utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	long c;
	int n;

	if (s[0] < 0x80) {
		*p = s + 1;
		return s[0];
	}
	if ((s[0] & 0xE0) == 0xC0)
		n = 1, c = s[0] & 0x1F;
	else if ((s[0] & 0xF0) == 0xE0)
		n = 2, c = s[0] & 0x0F;
	else if ((s[0] & 0xF8) == 0xF0)
		n = 3, c = s[0] & 0x07;
	else
		return -1;
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if ((n == 1 && c < 0x80) || (n == 2 && c < 0x800) || (n == 3 && c < 0x10000) ||
	    c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return -1;
	*p = s + n + 1;
	return c;
}

static int
uspace(long c)
{
	return c == ' ' || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
	    c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Controls, and invisible or reordering format characters (zero-width,
 * bidi overrides and isolates, BOM, interlinear annotation). */
static int
uhidden(long c)
{
	return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0xAD ||
	    (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
	    (c >= 0x2060 && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB);
}

/*
 * Check a break-glass reason IN: valid UTF-8, no control or hidden format
 * character; trimmed of (Unicode) spaces into OUT.  *COUNT is the number of
 * characters that carry meaning (ASCII letters and digits, and any other
 * visible character beyond ASCII): punctuation and spaces do not make a
 * reason.  Returns 0, or -1 when IN is refused.
 */
static int
reason_check(const char *in, char *out, size_t outlen, size_t *count)
{
	const unsigned char *p = (const unsigned char *)in, *start = NULL, *end = NULL;

	*count = 0;
	out[0] = '\0';
	while (*p) {
		const unsigned char *at = p;
		long c = utf8_next(&p);

		if (c < 0 || uhidden(c))
			return -1;
		if (uspace(c))
			continue;
		if (start == NULL)
			start = at;
		end = p;
		if ((c < 0x80 && ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' &&
		    (c | 0x20) <= 'z'))) || c >= 0x80)
			(*count)++;
	}
	if (start == NULL)
		return 0;
	if ((size_t)(end - start) >= outlen)
		return -1;
	memcpy(out, start, (size_t)(end - start));
	out[end - start] = '\0';
	return 0;
}

/*
 * The reason typed at the break-glass prompt, checked and trimmed, into
 * BUF; *COUNT its meaningful characters.  Returns 1 when one was given, 0
 * when the user declined (empty or blank answer, or no answer), -1 when it
 * is refused (malformed, control or hidden characters, too long).
 */
static int
read_reason(const struct flow_conv *cv, long min_chars, char *buf, size_t len, size_t *count)
{
	char prompt[256], *resp;
	int r;

	buf[0] = '\0';
	*count = 0;
	snprintf(prompt, sizeof(prompt), "EMERGENCY ACCESS: it will be recorded and reviewed "
	    "by the security team. Type the clinical reason (at least %ld letters or digits), "
	    "or press Enter to cancel: ", min_chars);
	if ((resp = cv->ask(cv->ctx, 1, prompt)) == NULL)
		return 0;
	r = reason_check(resp, buf, len, count) != 0 ? -1 : buf[0] != '\0';
	/* whatever was typed may have been a code typed at the wrong prompt */
	ward_free_str_secret(resp);
	if (r < 0)
		buf[0] = '\0';
	return r;
}

/*
 * Break-glass, offered when the decision is deny and the policy's
 * break_glass covers this user, app and host (flow_int.h).
 */
int
flow_break_glass(struct flow_txn *t, const struct flow_req *rq, const struct flow_conv *cv,
    const struct policy_decision *d, time_t now)
{
	const char *user = rq->user, *service = rq->service;
	struct policy_break_glass bg;
	char reason[REASON_MAX], detail[REASON_MAX];
	enum audit_fac factor = flow_factor(t, user);
	size_t count = 0;
	int r;

	policy_break_glass(t->c->pol, &bg);
	flow_say(rq, cv, FLOW_ERROR, "Access denied: %s", d->reason);
	/* only for someone the hospital knows in a role */
	if (!bg.defined || !t->resolved ||
	    t->resolved_gen != t->c->gen || t->w.nroles == 0)
		return WIRE_R_PERM_DENIED;
	r = read_reason(cv, bg.min_reason_chars, reason, sizeof(reason), &count);
	if (r == 0) {
		ward_log(LOG_NOTICE, "user %s service %s: break-glass offered and "
		    "declined", user, service);
		return WIRE_R_PERM_DENIED;
	}
	if (r < 0 || (long)count < bg.min_reason_chars) {
		/* the refused text is not kept: it may be a code typed at the wrong
		 * prompt; its size says enough for review */
		struct core_rec rc = { .event = AUDIT_EV_BREAKGLASS, .result = AUDIT_RES_REFUSED,
			.rule = d->rule, .reason = r < 0 ?
			"reason refused: control, hidden or malformed characters" :
			"reason too short", .factor = factor, .detail = detail };

		snprintf(detail, sizeof(detail), "reason of %zu letters or digits", count);
		(void)flow_record(t, rq, &rc, 1);
		flow_say(rq, cv, FLOW_ERROR, "Emergency access refused: the reason must have at "
		    "least %ld letters or digits, in plain text.", bg.min_reason_chars);
		return WIRE_R_PERM_DENIED;
	}
	/* The second factor: verified in this transaction, or asked now. */
	if (bg.mfa_required && factor != AUDIT_FAC_TOTP && factor != AUDIT_FAC_RECOVERY) {
		/* always asked: never an earlier module's token */
		char *code = flow_ask_code(t, rq, cv);
		int ret;

		if (code == NULL)
			return WIRE_R_PERM_DENIED;
		ret = flow_check_code(t, rq, cv, code, now, &factor);
		ward_free_str_secret(code);
		if (ret != WIRE_R_SUCCESS) {
			struct core_rec rc = { .event = AUDIT_EV_BREAKGLASS,
				.result = AUDIT_RES_REFUSED, .rule = d->rule,
				.reason = "second factor failed", .factor = factor, .detail = reason };
			(void)flow_record(t, rq, &rc, 1);
			return WIRE_R_PERM_DENIED;
		}
		flow_set_factor(t, user, factor);
	}
	{
		struct core_rec rc = { .event = AUDIT_EV_BREAKGLASS, .result = AUDIT_RES_GRANTED,
			.rule = d->rule, .reason = reason, .factor = factor, .detail = detail };

		snprintf(detail, sizeof(detail), "denied: %s; session_max=%ld", d->reason,
		    bg.max_minutes * 60);

		if (flow_record(t, rq, &rc, 1) != 0) {
			flow_say(rq, cv, FLOW_ERROR, "Emergency access cannot be recorded on this "
			    "workstation, so it is refused. Contact IT.");
			return WIRE_R_PERM_DENIED;
		}
	}
	ward_log(LOG_ALERT, "BREAK-GLASS: user %s service %s host %s: emergency "
	    "access granted for %ld minutes (denied by %s)", user, service, t->c->host,
	    bg.max_minutes, d->rule);
	flow_say(rq, cv, FLOW_INFO, "Emergency access granted for %ld minutes. It is "
	    "recorded and will be reviewed.", bg.max_minutes);
	t->break_glass = 1;
	snprintf(t->bg_user, sizeof(t->bg_user), "%s", user);
	snprintf(t->bg_service, sizeof(t->bg_service), "%s", service);
	t->bg_session_max = bg.max_minutes * 60;
	return WIRE_R_SUCCESS;
}
