/*
 * schedule.c - the schedule text of policy.conf ("Mon-Fri 07:00-19:00,
 * Sat 08:00-12:00", ward-policy(5)) into a schedule's spans and its week
 * bitmap.
 *
 * Rules it keeps:
 *  - Anything but Mon..Sun (or a range of them, which may wrap the week)
 *    and HH:MM-HH:MM from 00:00 to 24:00 is an error with the line; so is
 *    an empty time range.
 *  - A range that crosses midnight ends on the next day's morning.
 *  - The spans (the reference evaluator's) and the bitmap (the fast
 *    path's) are filled from the same parse, so the two agree.
 */
#include <ctype.h>
#include <string.h>

#include "policy_build.h"

static const char *const day_names[7] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

static int
parse_day(const char *s, size_t len)
{
	if (len != 3)
		return -1;
	for (int d = 0; d < 7; d++)
		if (strncasecmp(s, day_names[d], 3) == 0)
			return d;
	return -1;
}

static int
parse_hhmm(const char *s, size_t len, int allow_24)
{
	int h, m;

	if (len != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
		return -1;
	return h * 60 + m;
}

/*
 * "Mon-Fri 07:00-19:00, Sat 08:00-12:00": comma-separated parts, each a day
 * or day range (wrapping the week: "Sat-Mon") and a time range; "19:00-07:00"
 * crosses midnight and its morning belongs to the next day.
 */
int
pol_parse_schedule(struct loader *L, int line, const char *text, struct src_schedule *sc)
{
	const char *p = text;
	size_t cap = 1;

	for (const char *q = text; *q; q++)
		if (*q == ',')
			cap++;
	sc->spans = pol_ar_alloc(L, cap * sizeof(*sc->spans));
	if (sc->spans == NULL)
		return -1;
	sc->nspans = 0;
	memset(sc->bits, 0, sizeof(sc->bits));
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char part[64];
		char *days, *times, *dash;
		int d1, d2, t1, t2;
		struct src_span sp = { 0, 0, 0 };

		while (len > 0 && isspace((unsigned char)*p)) {
			p++;
			len--;
		}
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == 0 || len >= sizeof(part)) {
			pol_err_at(L, line, "schedule \"%s\": empty or overlong part", text);
			return -1;
		}
		memcpy(part, p, len);
		part[len] = '\0';
		days = part;
		times = strchr(part, ' ');
		if (times == NULL) {
			pol_err_at(L, line, "schedule \"%s\": \"%s\" needs days and times, "
			    "like \"Mon-Fri 07:00-19:00\"", text, part);
			return -1;
		}
		*times++ = '\0';
		while (*times == ' ')
			times++;
		dash = strchr(days, '-');
		if (dash) {
			d1 = parse_day(days, (size_t)(dash - days));
			d2 = parse_day(dash + 1, strlen(dash + 1));
		} else {
			d1 = d2 = parse_day(days, strlen(days));
		}
		if (d1 < 0 || d2 < 0) {
			pol_err_at(L, line, "schedule \"%s\": bad days \"%s\" (use Mon, Tue, "
			    "Wed, Thu, Fri, Sat, Sun or a range like Mon-Fri)", text, days);
			return -1;
		}
		dash = strchr(times, '-');
		t1 = dash ? parse_hhmm(times, (size_t)(dash - times), 0) : -1;
		t2 = dash ? parse_hhmm(dash + 1, strlen(dash + 1), 1) : -1;
		if (t1 < 0 || t2 < 0) {
			pol_err_at(L, line, "schedule \"%s\": bad times \"%s\" (use HH:MM-HH:MM, "
			    "00:00 to 24:00)", text, times);
			return -1;
		}
		if (t1 == t2 || (t1 == 0 && t2 == 0)) {
			pol_err_at(L, line, "schedule \"%s\": \"%s\" is an empty time range", text, times);
			return -1;
		}
		for (int d = d1;; d = (d + 1) % 7) {
			sp.days |= (uint8_t)(1u << d);
			if (d == d2)
				break;
		}
		sp.start = t1;
		sp.end = t2 == 1440 ? 1440 : t2;
		sc->spans[sc->nspans++] = sp;
		/* the fast path's week bitmap */
		for (int d = 0; d < 7; d++) {
			if (!(sp.days & (1u << d)))
				continue;
			if (sp.start < sp.end) {
				for (int m = sp.start; m < sp.end; m++)
					sc->bits[(d * 1440 + m) / 8] |= (uint8_t)(1u << ((d * 1440 + m) % 8));
			} else {
				for (int m = sp.start; m < 1440; m++)
					sc->bits[(d * 1440 + m) / 8] |= (uint8_t)(1u << ((d * 1440 + m) % 8));
				for (int m = 0; m < sp.end; m++) {
					int w = ((d + 1) % 7) * 1440 + m;
					sc->bits[w / 8] |= (uint8_t)(1u << (w % 8));
				}
			}
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}
