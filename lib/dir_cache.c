/*
 * dir_cache.c - the directory cache rule of ward.conf(5) (cache_seconds,
 * offline_max_age): dir_groups_cached answers from the state store or asks
 * the directory (dir_user_groups) and stores what it says.
 *
 * Rules it keeps:
 *  - A cached answer younger than cache_seconds is used without the
 *    directory; one fetched "in the future" (clock stepped back) is
 *    neither fresh nor usable offline.
 *  - Only an outage (every URI failed with UNAVAIL, TIMEOUT, TLS or AUTH)
 *    falls back to the cache, and only to an answer younger than
 *    offline_max_age, marked offline; other errors (bad name, ambiguous
 *    user, answer too big, unsafe password file) are returned as they are.
 *  - Answers and "not found" (a marker, with the name-differs note) are
 *    cached; failures never are.  A corrupt entry is never an answer: the
 *    directory is asked, and when it is down that is an outage.
 *  - An answer the same as the cached one, stored less than
 *    DIR_CACHE_RESTAMP_S ago, is not stored again (a store commit, with its
 *    flush, saved on a login): the cache then looks up to that much older
 *    than it is, so offline use ends that much sooner, never later.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "dir_int.h"
#include "state.h"

#define DIR_CACHE_MAGIC "ward-dircache 1\n"
#define DIR_CACHE_RESTAMP_S 60
#define DIR_CACHE_NOTFOUND "ward-dircache 1 notfound\n"
#define DIR_CACHE_NAME_DIFFERS "ward-dircache 1 notfound name-differs\n"

/* Cache blob: magic line, then one group DN a line. */
static int
cache_encode(char **dns, size_t n, char **blob)
{
	size_t len = sizeof(DIR_CACHE_MAGIC), at;

	for (size_t i = 0; i < n; i++)
		len += strlen(dns[i]) + 1;
	if ((*blob = malloc(len)) == NULL)
		return WARD_ERR_NOMEM;
	at = (size_t)snprintf(*blob, len, "%s", DIR_CACHE_MAGIC);
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(*blob + at, len - at, "%s\n", dns[i]);
	return 0;
}

/*
 * gcc 12's -fanalyzer, which sees this function closely now that it has a
 * file of its own, reports the strings stored into V in the loop below as
 * leaked (it loses track of heap stores made through a moving index);
 * every one is freed by dir_free_list or handed to the caller.
 * Suppressed for this function only.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
/* 0 with the DNs, WARD_ERR_NOTFOUND for either marker (*NOTE set for the
 * name-differs one), WARD_ERR_CORRUPT. */
static int
cache_decode(const char *blob, char ***dns, size_t *n, const char **note)
{
	const char *p, *nl;
	size_t cnt = 0, k = 0;
	char **v;

	*dns = NULL;
	*n = 0;
	if (strcmp(blob, DIR_CACHE_NOTFOUND) == 0)
		return WARD_ERR_NOTFOUND;
	if (strcmp(blob, DIR_CACHE_NAME_DIFFERS) == 0) {
		*note = DIR_NOTE_NAME_DIFFERS;
		return WARD_ERR_NOTFOUND;
	}
	if (strncmp(blob, DIR_CACHE_MAGIC, strlen(DIR_CACHE_MAGIC)) != 0)
		return WARD_ERR_CORRUPT;
	p = blob + strlen(DIR_CACHE_MAGIC);
	for (const char *q = p; *q; q++)
		cnt += *q == '\n';
	if ((v = calloc(cnt + 1, sizeof(*v))) == NULL)
		return WARD_ERR_NOMEM;
	for (; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL || nl == p) {
			dir_free_list(v, k);
			return WARD_ERR_CORRUPT;
		}
		if ((v[k] = strndup(p, (size_t)(nl - p))) == NULL) {
			dir_free_list(v, k);
			return WARD_ERR_NOMEM;
		}
		k++;
	}
	*dns = v;
	*n = k;
	return 0;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

int
dir_groups_cached(struct dir **dp, const struct conf_directory *c, struct state *st,
    const char *user, int64_t now, char ***dns, size_t *n, int *offline, const char **note)
{
	const char *ignored = NULL;
	char *blob = NULL;
	int64_t fetched = 0, age = -1;
	int have = 0, r, cr;

	*dns = NULL;
	*n = 0;
	if (offline != NULL)
		*offline = 0;
	if (note == NULL)
		note = &ignored;
	*note = NULL;
	if (ward_user_valid(user) != 0)
		return WARD_ERR_INVAL;
	if (c == NULL || !c->enabled)
		return WARD_ERR_INVAL;
	if (st != NULL) {
		r = state_dircache_get(st, user, &blob, &fetched);
		if (r == 0) {
			have = 1;
			age = now - fetched;
		} else if (r != WARD_ERR_NOTFOUND) {
			ward_log(LOG_WARNING, "directory cache for %s unreadable (%s): asking "
			    "the directory", user, ward_strerror(r));
		}
	}
	if (have && age >= 0 && age < c->cache_seconds) {
		cr = cache_decode(blob, dns, n, note);
		if (cr == 0 || cr == WARD_ERR_NOTFOUND) {
			free(blob);
			return cr;
		}
		ward_log(LOG_WARNING, "directory cache for %s is corrupt: asking the "
		    "directory", user);
		have = 0;
	}
	if (*dp == NULL && (r = dir_open(dp, c)) != 0) {
		free(blob);
		return r;
	}
	r = dir_user_groups(*dp, user, dns, n, NULL);
	if (r == WARD_ERR_NOTFOUND && (*dp)->name_differs)
		*note = DIR_NOTE_NAME_DIFFERS;
	if (r == 0 || r == WARD_ERR_NOTFOUND) {
		char *nb = NULL;
		int pr;

		if (st != NULL) {
			const char *put;

			pr = r == 0 ? cache_encode(*dns, *n, &nb) : 0;
			put = nb ? nb : *note ? DIR_CACHE_NAME_DIFFERS : DIR_CACHE_NOTFOUND;
			if (pr == 0 && !(have && age >= 0 && age < DIR_CACHE_RESTAMP_S &&
			    strcmp(blob, put) == 0))
				pr = state_dircache_put(st, user, put, now);
			if (pr != 0)
				ward_log(LOG_WARNING, "directory cache for %s not updated: %s",
				    user, ward_strerror(pr));
			free(nb);
		}
		free(blob);
		return r;
	}
	if (!dir_is_outage(r)) {
		free(blob);
		return r;
	}
	/* The directory cannot answer: an older cached answer may. */
	if (have && age >= 0 && age < c->offline_max_age) {
		cr = cache_decode(blob, dns, n, note);
		free(blob);
		if (cr == 0 || cr == WARD_ERR_NOTFOUND) {
			if (offline != NULL)
				*offline = 1;
			ward_log(LOG_WARNING, "directory unreachable (%s): using the cached "
			    "answer for %s, %lld s old (offline_max_age %ld)", ward_strerror(r),
			    user, (long long)age, c->offline_max_age);
			return cr;
		}
		ward_log(LOG_ERR, "directory cache for %s is corrupt", user);
		return WARD_ERR_UNAVAIL;
	}
	free(blob);
	if (have)
		ward_log(LOG_ERR, "directory unreachable (%s) and the cached answer for %s "
		    "is %lld s old (offline_max_age %ld): refused", ward_strerror(r), user,
		    (long long)age, c->offline_max_age);
	else
		ward_log(LOG_ERR, "directory unreachable (%s) and nothing cached for %s",
		    ward_strerror(r), user);
	return WARD_ERR_UNAVAIL;
}
