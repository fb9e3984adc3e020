/*
 * dnset.c - the group DN set of the directory client (see dnset.h).
 *
 * The tree holds pointers to the normal forms owned by s->norm; it never
 * owns a string, so freeing it frees only its nodes.
 */
#include <search.h>             /* tsearch, tfind, tdestroy (GNU) */
#include <stdlib.h>
#include <string.h>

#include "dir.h"
#include "dnset.h"

static int
key_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
no_free(void *p)
{
	(void)p;
}

void
dnset_init(struct dnset *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
}

static int
grow(struct dnset *s)
{
	size_t nc = s->cap ? s->cap * 2 : 16;
	char **a, **b;
	int *l;

	if ((a = realloc(s->dn, nc * sizeof(*a))) == NULL)
		return WARD_ERR_NOMEM;
	s->dn = a;
	if ((b = realloc(s->norm, nc * sizeof(*b))) == NULL)
		return WARD_ERR_NOMEM;
	s->norm = b;
	if ((l = realloc(s->level, nc * sizeof(*l))) == NULL)
		return WARD_ERR_NOMEM;
	s->level = l;
	s->cap = nc;
	return 0;
}

int
dnset_add(struct dnset *s, const char *dn, int level)
{
	char *norm = NULL, *copy = NULL;
	int r;

	if ((r = dir_dn_normalize(dn, &norm)) != 0)
		return r;
	r = 0;
	if (tfind(norm, &s->tree, key_cmp) != NULL)
		goto out;                       /* already there */
	r = WARD_ERR_TOOBIG;
	if (s->n >= s->max)
		goto out;
	r = WARD_ERR_NOMEM;
	if ((s->n == s->cap && grow(s) != 0) || (copy = strdup(dn)) == NULL)
		goto out;
	if (tsearch(norm, &s->tree, key_cmp) == NULL)
		goto out;
	s->dn[s->n] = copy;
	s->norm[s->n] = norm;
	s->level[s->n] = level;
	s->n++;
	return 1;
out:
	free(copy);
	free(norm);
	return r;
}

int
dnset_take(struct dnset *s, char ***dns, size_t *n)
{
	size_t max = s->max;

	*dns = NULL;
	*n = 0;
	if (s->dn == NULL && (s->dn = calloc(1, sizeof(*s->dn))) == NULL)
		return WARD_ERR_NOMEM;
	*dns = s->dn;
	*n = s->n;
	tdestroy(s->tree, no_free);
	for (size_t i = 0; i < s->n; i++)
		free(s->norm[i]);
	free(s->norm);
	free(s->level);
	memset(s, 0, sizeof(*s));
	s->max = max;
	return 0;
}

void
dnset_free(struct dnset *s)
{
	size_t max = s->max;

	tdestroy(s->tree, no_free);
	if (s->dn != NULL)
		for (size_t i = 0; i < s->n; i++)
			free(s->dn[i]);
	if (s->norm != NULL)
		for (size_t i = 0; i < s->n; i++)
			free(s->norm[i]);
	free(s->dn);
	free(s->norm);
	free(s->level);
	memset(s, 0, sizeof(*s));
	s->max = max;
}
