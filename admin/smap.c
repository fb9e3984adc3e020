/*
 * smap.c - wardctl's string-keyed table: names to indices into the
 * caller's parallel arrays, in the order they were first seen.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "wardctl.h"

/* FNV-1a from a random start, then mixed: names come from audit logs and
 * policies, and a fixed hash would let someone choose names that all
 * collide and so make a report or a diff quadratic again. */
static uint64_t
fnv(const char *s)
{
	static uint64_t seed;
	uint64_t h;

	if (seed == 0 && (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed) ||
	    seed == 0))
		seed = 1469598103934665603ULL ^ (uint64_t)getpid() ^ (uint64_t)time(NULL);
	for (h = seed; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/*
 * gcc 12's -fanalyzer, seeing this function apart from its callers, reports
 * the key copy stored into M->keys as leaked (it does not follow the store
 * through the caller's table); smap_free frees every key.  Suppressed for
 * this function only.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
size_t
smap_get(struct smap *m, const char *key, int *added)
{
	size_t i;

	*added = 0;
	if ((m->n + 1) * 2 > m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 64;
		size_t *ns = calloc(ncap, sizeof(*ns));
		char **nk = realloc(m->keys, ncap / 2 * sizeof(*nk));
		if (ns == NULL || nk == NULL) {
			free(ns);
			if (nk != NULL)
				m->keys = nk;
			return (size_t)-1;
		}
		m->keys = nk;
		for (size_t k = 0; k < m->n; k++) {
			for (i = fnv(m->keys[k]) & (ncap - 1); ns[i]; i = (i + 1) & (ncap - 1))
				;
			ns[i] = k + 1;
		}
		free(m->slot);
		m->slot = ns;
		m->cap = ncap;
	}
	for (i = fnv(key) & (m->cap - 1); m->slot[i]; i = (i + 1) & (m->cap - 1))
		if (strcmp(m->keys[m->slot[i] - 1], key) == 0)
			return m->slot[i] - 1;
	if ((m->keys[m->n] = strdup(key)) == NULL)
		return (size_t)-1;
	m->slot[i] = ++m->n;
	*added = 1;
	return m->n - 1;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

void
smap_free(struct smap *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->slot);
}
