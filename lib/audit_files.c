/*
 * audit_files.c - the log's files: the log and its rotated predecessors by
 * logrotate's numbering (audit_files), as audit_verify_set, wardctl audit
 * query and report read them.
 *
 * Rules it keeps:
 *  - the folder is read, not guessed: every PATH.N (N decimal from 1, no
 *    sign or leading zero, at most AUDIT_ROT_MAX) is listed, oldest first,
 *    whatever numbers are absent, so deleting or renaming one file hides no
 *    other;
 *  - each absent number below the highest is kept as a gap, for
 *    audit_verify_set to name;
 *  - compressed files, and every file older than one, are not read but
 *    counted (SKIPPED), so the caller can say so.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

/* Compressed rotated files (logrotate's compressext): counted, not read. */
static const char *const zext[] = { ".gz", ".bz2", ".xz", ".zst" };

struct rot {
	unsigned n;
	int z;              /* compressed */
};

/* NAME is BASE.N or BASE.N plus a zext: 1 and *RT; 0 otherwise. */
static int
rot_parse(const char *name, const char *base, size_t blen, struct rot *rt)
{
	const char *p;
	unsigned long v = 0;

	if (strncmp(name, base, blen) != 0 || name[blen] != '.')
		return 0;
	p = name + blen + 1;
	if (*p < '1' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++)
		if ((v = v * 10 + (unsigned long)(*p - '0')) > AUDIT_ROT_MAX)
			return 0;
	rt->n = (unsigned)v;
	rt->z = *p != '\0';
	for (size_t i = 0; rt->z && i < sizeof(zext) / sizeof(zext[0]); i++)
		if (strcmp(p, zext[i]) == 0)
			return 1;
	return !rt->z;
}

/* Highest N first (the oldest file first). */
static int
rot_cmp(const void *a, const void *b)
{
	const struct rot *x = a, *y = b;

	return x->n == y->n ? 0 : x->n < y->n ? 1 : -1;
}

/* Read PATH's folder: the rotated files in RS (sorted, one per N, z set
 * when any file of that N is compressed), *HAVE_LOG when PATH is there. */
static int
rot_scan(struct audit_fileset *set, struct rot **rsp, size_t *nrp, int *have_log,
    char *err, size_t errlen)
{
	const char *slash = strrchr(set->path, '/'), *base = slash ? slash + 1 : set->path;
	size_t blen = strlen(base), nr = 0, cap = 0;
	struct rot *rs = NULL, rt;
	struct dirent *de;
	char *dir;
	DIR *d = NULL;
	int r = WARD_ERR_NOMEM;

	*have_log = 0;
	dir = slash == NULL ? strdup(".") : slash == set->path ? strdup("/") :
	    strndup(set->path, (size_t)(slash - set->path));
	if (dir == NULL)
		goto out;
	r = WARD_ERR_IO;
	if (blen == 0) {
		snprintf(err, errlen, "%s: not a file name", set->path);
		goto out;
	}
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			r = 0;          /* no folder yet: no log yet */
		else
			snprintf(err, errlen, "%s: cannot read the folder: %s", dir, strerror(errno));
		goto out;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (strcmp(de->d_name, base) == 0)
			*have_log = 1;
		if (!rot_parse(de->d_name, base, blen, &rt))
			continue;
		if (nr == cap) {
			struct rot *t = reallocarray(rs, cap ? 2 * cap : 16, sizeof(*rs));
			if (t == NULL) {
				r = WARD_ERR_NOMEM;
				goto out;
			}
			rs = t;
			cap = cap ? 2 * cap : 16;
		}
		rs[nr++] = rt;
	}
	if (errno != 0) {
		snprintf(err, errlen, "%s: cannot read the folder: %s", dir, strerror(errno));
		goto out;
	}
	if (nr > 0) {
		size_t k = 0;

		qsort(rs, nr, sizeof(*rs), rot_cmp);
		for (size_t i = 1; i < nr; i++) {
			if (rs[i].n == rs[k].n)
				rs[k].z |= rs[i].z;
			else
				rs[++k] = rs[i];
		}
		nr = k + 1;
	}
	r = 0;
out:
	if (d != NULL)
		closedir(d);
	free(dir);
	if (r != 0) {
		free(rs);
		rs = NULL;
		nr = 0;
	}
	*rsp = rs;
	*nrp = nr;
	return r;
}

int
audit_files(const char *path, struct audit_fileset *set, char *err, size_t errlen)
{
	struct rot *rs = NULL;
	size_t nr = 0;
	unsigned lowz = UINT_MAX;      /* the newest compressed file's N */
	int have_log = 0, r = WARD_ERR_NOMEM;

	memset(set, 0, sizeof(*set));
	if ((set->path = strdup(path)) == NULL)
		goto out;
	if ((r = rot_scan(set, &rs, &nr, &have_log, err, errlen)) != 0)
		goto out;
	r = WARD_ERR_NOMEM;
	for (size_t i = 0; i < nr; i++)
		if (rs[i].z)
			lowz = rs[i].n;
	set->top = nr > 0 ? rs[0].n : 0;
	set->v = calloc(nr + 1, sizeof(*set->v));
	set->num = calloc(nr + 1, sizeof(*set->num));
	set->gap = calloc(nr + 1, sizeof(*set->gap));
	if (set->v == NULL || set->num == NULL || set->gap == NULL)
		goto out;
	for (size_t i = 0; i < nr; i++) {
		unsigned newer = i + 1 < nr ? rs[i + 1].n : 0;

		if (rs[i].n > newer + 1) {
			set->gap[set->ngaps].lo = newer + 1;
			set->gap[set->ngaps++].hi = rs[i].n - 1;
		}
		if (rs[i].n >= lowz) {
			set->skipped++;
			continue;
		}
		if (asprintf(&set->v[set->n], "%s.%u", path, rs[i].n) < 0) {
			set->v[set->n] = NULL;
			goto out;
		}
		set->num[set->n++] = rs[i].n;
	}
	if (have_log) {
		if ((set->v[set->n] = strdup(path)) == NULL)
			goto out;
		set->num[set->n++] = 0;
	}
	r = 0;
out:
	if (r == WARD_ERR_NOMEM)
		snprintf(err, errlen, "out of memory");
	free(rs);
	return r;
}

void
audit_fileset_free(struct audit_fileset *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; set->v != NULL && i < set->n; i++)
		free(set->v[i]);
	free(set->v);
	free(set->num);
	free(set->gap);
	free(set->path);
	memset(set, 0, sizeof(*set));
}
