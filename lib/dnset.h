/*
 * dnset.h - a set of group DNs for the directory client (lib/dir.c): each
 * DN as the server gave it, its normal form (dir_dn_normalize) and the
 * nesting level it was found at, in the order they were added.
 *
 * Duplicates are told apart by the normal form through a balanced search
 * tree (tsearch), so adding n DNs costs O(n log n) whatever their names: a
 * directory cannot make the de-duplication quadratic, nor tune names to
 * collide as it could with an unseeded hash.
 */
#ifndef WARD_DNSET_H
#define WARD_DNSET_H

#include <stddef.h>

#include "ward.h"

struct dnset {
	char **dn;                   /* as given */
	char **norm;                 /* normal form, the key */
	int *level;                  /* 1 = direct */
	size_t n, cap;
	size_t max;                  /* more distinct DNs than this: refused */
	void *tree;                  /* tsearch root over norm */
};

/* An empty set holding at most MAX distinct DNs. */
void dnset_init(struct dnset *s, size_t max);

/*
 * Add DN at LEVEL.  Returns 1 when added, 0 when a DN of the same normal
 * form is already there (its level is kept), WARD_ERR_PARSE when DN is not
 * a DN (nothing added), WARD_ERR_TOOBIG when it would be the MAX+1th
 * distinct DN, WARD_ERR_NOMEM.
 */
int dnset_add(struct dnset *s, const char *dn, int level) WARD_WUR;

/*
 * Hand the DNs over: *DNS is a malloc'd array of S->n malloc'd strings
 * (never NULL on 0; free with dir_free_list), *N its length; S is left
 * empty.  Returns 0 or WARD_ERR_NOMEM (S then still holds everything).
 */
int dnset_take(struct dnset *s, char ***dns, size_t *n) WARD_WUR;

/* Free everything in S and leave it empty (max kept).  Safe twice. */
void dnset_free(struct dnset *s);

#endif
