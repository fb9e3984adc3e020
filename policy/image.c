/*
 * image.c - the policy image: checking it, the compiled snapshot on disk.
 * Longer than most files on purpose: the bounds checks of pol_image_open
 * stay in one file with the snapshot's reader and writer, so a change of
 * the layout (policy_internal.h) meets every check of it here.
 *
 * Rules it keeps:
 *  - An image is trusted only after pol_image_open: magic, format, length
 *    and checksum right, then every offset, count and index in it checked
 *    against the image's bounds (and ids against their tables).  After
 *    that, readers follow offsets without checks; nothing else may create
 *    a struct policy.
 *  - The checksum is against truncation and damage, not an attacker: the
 *    file is root-owned and not writable by others, like the text.
 *  - A snapshot is written to a temporary file, fsynced and renamed into
 *    place, never rewritten in place: a process that maps it keeps the old
 *    inode, and the bytes it checked do not change under it.
 *  - A snapshot that fails any check is refused with a message; callers
 *    fall back to the text.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "policy_internal.h"

#define SNAP_MAX_BYTES ((size_t)1 << 30)

/* ---- checksum ---- */

#define K1 0x9E3779B97F4A7C15ULL
#define K2 0xC2B2AE3D27D4EB4FULL

static uint64_t
rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/*
 * Four independent lanes, each (lane ^ word) * odd constant: a bijection of
 * the lane for a given word and of the word for a given lane, so one
 * changed word always changes the result; four lanes keep the multiplier
 * busy (about 15 GB/s here, against 3 for one serial lane).
 */
static uint64_t
sum_bytes(const unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t a = seed, b = seed ^ K2, c = rotl(seed, 21), d = ~seed, x[4], h;
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		memcpy(x, p + i, 32);
		a = (a ^ x[0]) * K1;
		b = (b ^ x[1]) * K1;
		c = (c ^ x[2]) * K1;
		d = (d ^ x[3]) * K1;
	}
	for (; i < n; i++)
		a = (a ^ p[i]) * K1;
	h = a ^ rotl(b, 17) ^ rotl(c, 31) ^ rotl(d, 47) ^ (uint64_t)n;
	h ^= h >> 31;
	h *= K2;
	h ^= h >> 29;
	return h;
}

/* Covers the whole image but the checksum's own 8 bytes (24..32). */
uint64_t
pol_image_sum(const unsigned char *img, size_t size)
{
	return sum_bytes(img, 24, 1) ^ (sum_bytes(img + 32, size - 32, 2) * K1);
}

/* ---- checking an image ---- */

struct chk {
	const unsigned char *b;
	size_t size;
	uint32_t nstrings;
	int bad;
};

/* N elements of SIZE bytes at OFF, 8-aligned, after the table, inside.
 * (No division: this runs for every list of every rule.) */
static int
arr_ok(struct chk *c, uint32_t off, uint32_t n, size_t size)
{
	if (off % 8 != 0 || off < POL_DATA || (uint64_t)off + (uint64_t)n * size > c->size)
		c->bad = 1;
	return !c->bad;
}

static void
str_ok(struct chk *c, uint32_t off, int nullable)
{
	if (off == POL_NONE ? !nullable : off >= c->nstrings)
		c->bad = 1;
}

static const size_t pool_elem[POL_NPOOLS] = { 4, 4, 4, sizeof(struct pol_hostref), 8,
	sizeof(struct pol_span) };

/* 1 when list L does not lie inside pool K (whose elements are checked
 * once, in pools_ok); POL_NONE allowed when NULLABLE.  Branch-free and no
 * division: this runs for every list of every rule. */
static inline int
list_bad(const struct pol_tab *t, int k, struct pol_list l, int nullable)
{
	uint64_t lo = t->pools[k].off, hi = lo + (uint64_t)t->pools[k].n * pool_elem[k];
	uint64_t off = l.off, end = off + (uint64_t)l.n * pool_elem[k];

	int none = l.off == POL_NONE;
	int range = (off < lo) | ((off - lo) % pool_elem[k] != 0) | (end > hi);

	return none ? (!nullable) | (l.n != 0) : range;
}

static void
list_ok(struct chk *c, const struct pol_tab *t, int k, struct pol_list l, int nullable)
{
	if (list_bad(t, k, l, nullable))
		c->bad = 1;
}

/* Every element of every pool. */
static void
pools_ok(struct chk *c, const struct pol_tab *t)
{
	const struct pol_list *pl = t->pools;
	const int32_t *v;
	const uint32_t *u;
	const struct pol_hostref *h;
	const struct pol_span *sp;
	int bad = 0;

	if (!arr_ok(c, pl[POL_POOL_ROLES].off, pl[POL_POOL_ROLES].n, 4) ||
	    !arr_ok(c, pl[POL_POOL_APPS].off, pl[POL_POOL_APPS].n, 4) ||
	    !arr_ok(c, pl[POL_POOL_STRS].off, pl[POL_POOL_STRS].n, 4) ||
	    !arr_ok(c, pl[POL_POOL_HOSTS].off, pl[POL_POOL_HOSTS].n, sizeof(*h)) ||
	    !arr_ok(c, pl[POL_POOL_RANGES].off, pl[POL_POOL_RANGES].n, 8) ||
	    !arr_ok(c, pl[POL_POOL_SPANS].off, pl[POL_POOL_SPANS].n, sizeof(*sp)))
		return;
	v = (const int32_t *)(const void *)(c->b + pl[POL_POOL_ROLES].off);
	for (uint32_t i = 0; i < pl[POL_POOL_ROLES].n; i++)
		bad |= (uint32_t)v[i] >= t->nroles;
	v = (const int32_t *)(const void *)(c->b + pl[POL_POOL_APPS].off);
	for (uint32_t i = 0; i < pl[POL_POOL_APPS].n; i++)
		bad |= (uint32_t)v[i] >= t->napps;
	u = (const uint32_t *)(const void *)(c->b + pl[POL_POOL_STRS].off);
	for (uint32_t i = 0; i < pl[POL_POOL_STRS].n; i++)
		bad |= u[i] >= c->nstrings;
	h = (const struct pol_hostref *)(const void *)(c->b + pl[POL_POOL_HOSTS].off);
	for (uint32_t i = 0; i < pl[POL_POOL_HOSTS].n; i++)
		bad |= h[i].group < 0 ? h[i].group != -1 || h[i].literal >= c->nstrings :
		    (uint32_t)h[i].group >= t->nhostgroups || h[i].literal != POL_NONE;
	v = (const int32_t *)(const void *)(c->b + pl[POL_POOL_RANGES].off);
	for (uint32_t i = 0; i < pl[POL_POOL_RANGES].n; i++)
		bad |= v[2 * i] < 0 || v[2 * i] > v[2 * i + 1] || (uint32_t)v[2 * i + 1] >= t->nroles;
	sp = (const struct pol_span *)(const void *)(c->b + pl[POL_POOL_SPANS].off);
	for (uint32_t i = 0; i < pl[POL_POOL_SPANS].n; i++)
		bad |= sp[i].days > 0x7f || sp[i].start < 0 || sp[i].start > 1440 ||
		    sp[i].end < 0 || sp[i].end > 1440;
	if (bad)
		c->bad = 1;
}

/* A name table: CAP a power of two; keys strings; values in [0, HI). */
static void
map_ok(struct chk *c, uint32_t off, uint32_t cap, uint32_t hi)
{
	const struct pol_slot *s;

	if (cap == 0 || (cap & (cap - 1)) != 0)
		c->bad = 1;
	if (c->bad || !arr_ok(c, off, cap, sizeof(*s)))
		return;
	s = (const struct pol_slot *)(const void *)(c->b + off);
	for (uint32_t i = 0; i < cap; i++) {
		if (s[i].key == POL_NONE)
			continue;
		str_ok(c, s[i].key, 0);
		if (s[i].val < 0 || (uint32_t)s[i].val >= hi)
			c->bad = 1;
	}
}

/* Candidates [L.off, L.off + L.n) of the cands array, in rule order.
 * Branch-free: 110,000 of them at the large scale. */
static void
cands_ok(struct chk *c, const struct pol_tab *t, struct pol_list l)
{
	const struct pol_cand *v = (const struct pol_cand *)(const void *)(c->b + t->cands);
	const int32_t *role = (const int32_t *)(const void *)(c->b + t->cand_roles);
	uint32_t nroles = t->nroles, nrules = t->nrules, nsch = t->nschedules;
	uint32_t nhg = t->nhostgroups;
	int32_t prev = 0;
	int bad = 0;

	if (l.off > t->ncands || l.n > t->ncands - l.off) {
		c->bad = 1;
		return;
	}
	for (uint32_t i = l.off; i < l.off + l.n; i++) {
		/* when + 1 in [0, nsch]; group + 2 in [0, nhg + 2) */
		bad |= ((uint32_t)role[i] > nroles) | ((uint32_t)v[i].rule >= nrules) |
		    (v[i].rule < prev) | ((uint32_t)v[i].when + 1u > nsch) |
		    ((uint32_t)v[i].group + 2u >= nhg + 2u);
		prev = v[i].rule;
	}
	if (bad)
		c->bad = 1;
}

static int
refuse(char *errbuf, size_t errlen, const char *name, const char *what)
{
	snprintf(errbuf, errlen, "%s: %s", name, what);
	return -1;
}

int
pol_image_open(struct policy *p, const unsigned char *img, size_t size, const char *name,
    char *errbuf, size_t errlen)
{
	struct pol_head h;
	const struct pol_tab *t;
	struct chk c = { img, size, 0, 0 };

	if (size < POL_DATA || memcmp(img, POL_MAGIC, 8) != 0)
		return refuse(errbuf, errlen, name, "not a Ward policy snapshot");
	memcpy(&h, img, sizeof(h));
	if (h.format != POL_FORMAT) {
		snprintf(errbuf, errlen, "%s: snapshot format %u, this Ward reads %u", name,
		    h.format, POL_FORMAT);
		return -1;
	}
	if (h.length != size - POL_HEAD || size > SNAP_MAX_BYTES) {
		snprintf(errbuf, errlen, "%s: snapshot truncated or extended (%zu bytes, expected %llu)",
		    name, size, (unsigned long long)h.length + POL_HEAD);
		return -1;
	}
	if (pol_image_sum(img, size) != h.sum || h.pad != 0 ||
	    memchr(h.version, '\0', sizeof(h.version)) != NULL)
		return refuse(errbuf, errlen, name, "snapshot checksum mismatch (damaged)");

	/* the image is what was written; now make sure every offset in it is
	 * safe to follow, whatever wrote it */
	t = (const struct pol_tab *)(const void *)(img + POL_HEAD);
	c.nstrings = t->nstrings;
	if (!arr_ok(&c, t->strings, t->nstrings, 1) || t->nstrings == 0 ||
	    img[t->strings + t->nstrings - 1] != '\0')
		goto bad;
	str_ok(&c, t->file, 0);
	if (t->nroles > POL_MAX_ROLES || t->napps >= (1u << 24) || t->nhostgroups >= (1u << 24) ||
	    t->nschedules >= (1u << 24) || t->nrules >= (1u << 26) || t->nusers >= (1u << 26) ||
	    t->nsods >= (1u << 20) || t->nsources >= (1u << 20))
		goto bad;
	if (!arr_ok(&c, t->roles, t->nroles, sizeof(struct pol_role)) ||
	    !arr_ok(&c, t->apps, t->napps, sizeof(struct pol_app)) ||
	    !arr_ok(&c, t->hostgroups, t->nhostgroups, sizeof(struct pol_hostgroup)) ||
	    !arr_ok(&c, t->schedules, t->nschedules, sizeof(struct pol_schedule)) ||
	    !arr_ok(&c, t->rules, t->nrules, sizeof(struct pol_rule)) ||
	    !arr_ok(&c, t->users, t->nusers, sizeof(struct pol_user)) ||
	    !arr_ok(&c, t->sods, t->nsods, sizeof(struct pol_sod)) ||
	    !arr_ok(&c, t->sources, t->nsources, sizeof(struct pol_source)) ||
	    !arr_ok(&c, t->app_cands, t->napps, sizeof(struct pol_list)) ||
	    !arr_ok(&c, t->cands, t->ncands, sizeof(struct pol_cand)) ||
	    !arr_ok(&c, t->cand_roles, t->ncands, sizeof(int32_t)))
		goto bad;

	p->base = img;
	p->size = size;
	p->tab = t;
	p->strs = (const char *)img + t->strings;
	p->roles = (const struct pol_role *)(const void *)(img + t->roles);
	p->nroles = t->nroles;
	p->apps = (const struct pol_app *)(const void *)(img + t->apps);
	p->napps = t->napps;
	p->hostgroups = (const struct pol_hostgroup *)(const void *)(img + t->hostgroups);
	p->nhostgroups = t->nhostgroups;
	p->schedules = (const struct pol_schedule *)(const void *)(img + t->schedules);
	p->nschedules = t->nschedules;
	p->rules = (const struct pol_rule *)(const void *)(img + t->rules);
	p->nrules = t->nrules;
	p->users = (const struct pol_user *)(const void *)(img + t->users);
	p->nusers = t->nusers;
	p->sods = (const struct pol_sod *)(const void *)(img + t->sods);
	p->nsods = t->nsods;
	p->sources = (const struct pol_source *)(const void *)(img + t->sources);
	p->nsources = t->nsources;
	p->bg = &t->bg;
	p->app_cands = (const struct pol_list *)(const void *)(img + t->app_cands);
	p->cands = (const struct pol_cand *)(const void *)(img + t->cands);
	p->cand_roles = (const int32_t *)(const void *)(img + t->cand_roles);
	p->file = pol_str(p, t->file);
	memcpy(p->version, h.version, 64);
	p->version[64] = '\0';
	p->text = h.text;

	pools_ok(&c, t);
	for (size_t i = 0; i < p->nroles && !c.bad; i++) {
		const struct pol_role *r = &p->roles[i];
		str_ok(&c, r->name, 0);
		list_ok(&c, t, POL_POOL_ROLES, r->inherits, 0);
		list_ok(&c, t, POL_POOL_STRS, r->perms, 0);
		list_ok(&c, t, POL_POOL_RANGES, r->closure, 0);
	}
	for (size_t i = 0; i < p->napps && !c.bad; i++) {
		str_ok(&c, p->apps[i].name, 0);
		list_ok(&c, t, POL_POOL_STRS, p->apps[i].services, 0);
		cands_ok(&c, t, p->app_cands[i]);
	}
	cands_ok(&c, t, t->any_cands);
	for (size_t i = 0; i < p->nhostgroups && !c.bad; i++) {
		str_ok(&c, p->hostgroups[i].name, 0);
		list_ok(&c, t, POL_POOL_STRS, p->hostgroups[i].patterns, 0);
	}
	for (size_t i = 0; i < p->nschedules && !c.bad; i++) {
		str_ok(&c, p->schedules[i].name, 1);
		list_ok(&c, t, POL_POOL_SPANS, p->schedules[i].spans, 0);
	}
	/* the rules are most of the image: one branch-free pass */
	if (!c.bad) {
		uint32_t ns = c.nstrings, nsch = t->nschedules;
		int bad = 0;

		for (size_t i = 0; i < p->nrules; i++) {
			const struct pol_rule *r = &p->rules[i];
			bad |= (r->id >= ns) | ((r->reason >= ns) & (r->reason != POL_NONE)) |
			    ((uint32_t)r->when + 1u > nsch) |
			    ((r->deny | r->mfa_required | r->bg_overridable) > 1) |
			    list_bad(t, POL_POOL_ROLES, r->roles, 1) |
			    list_bad(t, POL_POOL_APPS, r->apps, 1) |
			    list_bad(t, POL_POOL_HOSTS, r->hosts, 1);
		}
		if (bad)
			c.bad = 1;
	}
	for (size_t i = 0; i < p->nusers && !c.bad; i++) {
		str_ok(&c, p->users[i].name, 0);
		list_ok(&c, t, POL_POOL_ROLES, p->users[i].roles, 0);
	}
	for (size_t i = 0; i < p->nsods && !c.bad; i++) {
		str_ok(&c, p->sods[i].id, 0);
		str_ok(&c, p->sods[i].reason, 1);
		list_ok(&c, t, POL_POOL_ROLES, p->sods[i].roles, 0);
	}
	for (size_t i = 0; i < p->nsources && !c.bad; i++) {
		str_ok(&c, p->sources[i].group, 0);
		if (p->sources[i].role < 0 || (uint32_t)p->sources[i].role >= t->nroles)
			c.bad = 1;
	}
	list_ok(&c, t, POL_POOL_ROLES, t->bg.roles, 1);
	list_ok(&c, t, POL_POOL_APPS, t->bg.apps, 1);
	list_ok(&c, t, POL_POOL_HOSTS, t->bg.hosts, 1);
	map_ok(&c, t->role_map, t->role_cap, t->nroles);
	map_ok(&c, t->user_map, t->user_cap, t->nusers);
	map_ok(&c, t->service_map, t->service_cap, t->napps);
	if (!c.bad)
		return 0;
bad:
	memset(p, 0, sizeof(*p));
	return refuse(errbuf, errlen, name, "snapshot is malformed (refused)");
}

/* ---- the snapshot file ---- */

/* The identity of the text in ST, compiled now. */
static void
text_id_of(const struct stat *st, struct pol_text_id *id)
{
	struct timespec now;

	memset(id, 0, sizeof(*id));
	clock_gettime(CLOCK_REALTIME, &now);
	file_id_of(st, &id->file);
	id->compiled_sec = (int64_t)now.tv_sec;
	id->compiled_nsec = (int64_t)now.tv_nsec;
}

/* Write all of BUF to FD; 0 or -1 with a message naming NAME. */
static int
write_all(int fd, const unsigned char *buf, size_t n, const char *name, char *errbuf,
    size_t errlen)
{
	size_t off = 0;

	while (off < n) {
		ssize_t k = write(fd, buf + off, n - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			snprintf(errbuf, errlen, "%s: write failed: %s", name,
			    k < 0 ? strerror(errno) : "no progress");
			return -1;
		}
		off += (size_t)k;
	}
	return 0;
}

int
policy_compile(const struct policy *p, const char *path, const struct stat *text,
    char *errbuf, size_t errlen)
{
	char tmp[4096];
	unsigned char *img = NULL;
	struct pol_head h;
	int fd = -1, r = -1, created = 0;

	if (p == NULL || path == NULL) {
		snprintf(errbuf, errlen, "nothing to compile");
		return -1;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
		snprintf(errbuf, errlen, "%s: path too long", path);
		return -1;
	}
	/* the image as it is, with the text's identity in its header */
	if ((img = malloc(p->size)) == NULL) {
		snprintf(errbuf, errlen, "%s: out of memory", path);
		return -1;
	}
	memcpy(img, p->base, p->size);
	memcpy(&h, img, sizeof(h));
	if (text != NULL)
		text_id_of(text, &h.text);
	else
		memset(&h.text, 0, sizeof(h.text));
	memcpy(img, &h, sizeof(h));
	h.sum = pol_image_sum(img, p->size);
	memcpy(img, &h, sizeof(h));

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	created = 1;
	if (write_all(fd, img, p->size, tmp, errbuf, errlen) != 0)
		goto out;
	if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
		snprintf(errbuf, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		snprintf(errbuf, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	r = 0;
out:
	free(img);
	if (fd >= 0)
		close(fd);
	if (r != 0 && created)
		unlink(tmp);
	return r;
}

struct policy *
policy_load_snapshot_buffer(const char *name, const void *buf, size_t size,
    char *errbuf, size_t errlen)
{
	struct policy *p;
	void *img;

	if (buf == NULL || size < POL_DATA || size > SNAP_MAX_BYTES) {
		snprintf(errbuf, errlen, "%s: not a Ward policy snapshot", name);
		return NULL;
	}
	/* a private, aligned copy: the caller's buffer is the caller's */
	p = calloc(1, sizeof(*p));
	img = malloc(size);
	if (p == NULL || img == NULL) {
		snprintf(errbuf, errlen, "%s: out of memory", name);
		free(p);
		free(img);
		return NULL;
	}
	memcpy(img, buf, size);
	if (pol_image_open(p, img, size, name, errbuf, errlen) != 0) {
		free(p);
		free(img);
		return NULL;
	}
	p->heap = img;
	return p;
}

struct policy *
policy_load_snapshot_fd(int fd, const char *name, char *errbuf, size_t errlen)
{
	struct stat st;
	struct policy *p;
	void *m;
	size_t size;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(errbuf, errlen, "%s: not a regular file (refused)", name);
		return NULL;
	}
	if (st.st_size < (off_t)POL_DATA || (uint64_t)st.st_size > SNAP_MAX_BYTES) {
		snprintf(errbuf, errlen, "%s: %s", name, st.st_size < (off_t)POL_DATA ?
		    "not a Ward policy snapshot" : "snapshot too large (refused)");
		return NULL;
	}
	size = (size_t)st.st_size;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(errbuf, errlen, "%s: out of memory", name);
		return NULL;
	}
	/* mapped as it is: read-only, private, faulted in at once */
	m = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (m == MAP_FAILED) {
		snprintf(errbuf, errlen, "%s: cannot map: %s", name, strerror(errno));
		free(p);
		return NULL;
	}
	if (pol_image_open(p, m, size, name, errbuf, errlen) != 0) {
		munmap(m, size);
		free(p);
		return NULL;
	}
	p->map = m;
	p->maplen = size;
	return p;
}

struct policy *
policy_load_snapshot(const char *path, char *errbuf, size_t errlen)
{
	struct stat st;
	struct policy *p = NULL;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, errno == ELOOP ?
		    "is a symbolic link (refused)" : strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH)) ||
	    (uint64_t)st.st_size > SNAP_MAX_BYTES)
		snprintf(errbuf, errlen, "%s: not a regular file, writable by group or "
		    "others, or too large (refused)", path);
	else
		p = policy_load_snapshot_fd(fd, path, errbuf, errlen);
	close(fd);
	return p;
}

/* ---- is a snapshot the text's? ---- */

/* SHA-256 of the text on FD (hex, as the policy version) into HEX[65]. */
static int
text_hash(int fd, size_t size, char hex[65], char *why, size_t whylen)
{
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t off = 0;
	int r = -1;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		snprintf(why, whylen, "cannot hash the policy text");
		goto out;
	}
	while (off < size) {
		size_t want = size - off < sizeof(buf) ? size - off : sizeof(buf);
		ssize_t k = pread(fd, buf, want, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			snprintf(why, whylen, "cannot read the policy text: %s",
			    k < 0 ? strerror(errno) : "it shrank while reading");
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)k) != 1) {
			snprintf(why, whylen, "cannot hash the policy text");
			goto out;
		}
		off += (size_t)k;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
		snprintf(why, whylen, "cannot hash the policy text");
		goto out;
	}
	for (unsigned int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

/* policy_snapshot_current, but 2 when only the hash could tell. */
static int
snapshot_current(const struct policy *snap, int text_fd, const struct stat *st,
    char *why, size_t whylen)
{
	const struct pol_text_id *id = &snap->text;
	struct file_id now;
	char hex[65];

	if (id->compiled_sec == 0) {
		snprintf(why, whylen, "the snapshot does not say which text it was compiled from");
		return 0;
	}
	file_id_of(st, &now);
	if (id->file.dev != now.dev || id->file.ino != now.ino) {
		snprintf(why, whylen, "the text is another file than the one compiled "
		    "(replaced by mv, cp or a restore)");
		return 0;
	}
	if (!file_id_same(&id->file, &now)) {
		snprintf(why, whylen, "the text changed since it was compiled (size or "
		    "times differ)");
		return 0;
	}
	/* the same file times: the same text, unless it changed so close to the
	 * compile that its times could not move (then the hash decides) */
	if (!file_id_racy(id->file.ctime_sec, id->compiled_sec))
		return 1;
	if (text_hash(text_fd, (size_t)st->st_size, hex, why, whylen) != 0)
		return -1;
	if (memcmp(hex, snap->version, 64) != 0) {
		snprintf(why, whylen, "the text changed since it was compiled (its hash differs)");
		return 0;
	}
	return 2;
}

int
policy_snapshot_current(const struct policy *snap, int text_fd, const struct stat *st,
    char *why, size_t whylen)
{
	int r = snapshot_current(snap, text_fd, st, why, whylen);

	return r == 2 ? 1 : r;
}

/* ---- the deployed policy ---- */

/* Open NAME for reading with the engine's checks and the caller's.
 * -1 and a message when refused; ENOENT is left in errno. */
static int
open_checked(const struct policy_files *f, const char *name, char *errbuf, size_t errlen)
{
	struct stat st;
	int fd = open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY), e;

	if (fd < 0) {
		e = errno;
		snprintf(errbuf, errlen, "%s: %s", name, e == ELOOP ?
		    "is a symbolic link (refused)" : strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(errbuf, errlen, "%s: not a regular file, or writable by group or "
		    "others (refused)", name);
		goto bad;
	}
	if (f->check_fd != NULL && f->check_fd(fd, name, errbuf, errlen) != 0)
		goto bad;
	return fd;
bad:
	close(fd);
	errno = EACCES;
	return -1;
}

/* What policy_load_deployed tells its caller to log. */
struct note {
	char *buf;
	size_t len;
	int warn;                    /* something went wrong with the snapshot */
};

static void __attribute__((format(printf, 3, 4)))
note_add(struct note *n, int warn, const char *fmt, ...)
{
	va_list ap;
	size_t used;

	n->warn |= warn;
	if (n->buf == NULL || n->len == 0)
		return;
	used = strlen(n->buf);
	if (used + 1 >= n->len)
		return;
	if (used > 0)
		snprintf(n->buf + used, n->len - used, "; ");
	used = strlen(n->buf);
	va_start(ap, fmt);
	vsnprintf(n->buf + used, n->len - used, fmt, ap);
	va_end(ap);
}

struct policy *
policy_load_deployed(const struct policy_files *f, int *from_snap, char *notebuf,
    size_t notelen, int *warn, char *errbuf, size_t errlen)
{
	struct policy *p = NULL, *q = NULL;
	struct note note = { notebuf, notelen, 0 };
	struct stat ts;
	char why[1024];
	int tfd, sfd = -1, cur = 0;

	*from_snap = 0;
	if (warn != NULL)
		*warn = 0;
	if (notebuf != NULL && notelen > 0)
		notebuf[0] = '\0';
	if (f->text == NULL) {
		snprintf(errbuf, errlen, "no policy file");
		return NULL;
	}
	/* the text is checked even when the snapshot decides: a policy others
	 * may write is refused either way */
	if ((tfd = open_checked(f, f->text, errbuf, errlen)) < 0)
		return NULL;
	if (fstat(tfd, &ts) != 0) {
		snprintf(errbuf, errlen, "%s: %s", f->text, strerror(errno));
		close(tfd);
		return NULL;
	}
	if (f->snapshot != NULL) {
		sfd = open_checked(f, f->snapshot, why, sizeof(why));
		if (sfd < 0 && errno != ENOENT)
			note_add(&note, 1, "policy snapshot not used: %s", why);
		if (sfd >= 0) {
			struct stat ss;

			/* only its text's owner (or root) speaks for a text */
			if (fstat(sfd, &ss) != 0 || (ss.st_uid != 0 && ss.st_uid != ts.st_uid))
				note_add(&note, 1, "policy snapshot not used: %s is owned by "
				    "neither root nor the owner of %s", f->snapshot, f->text);
			else if ((q = policy_load_snapshot_fd(sfd, f->snapshot, why,
			    sizeof(why))) == NULL)
				note_add(&note, 1, "policy snapshot not used: %s", why);
			close(sfd);
		}
	}
	if (q != NULL) {
		cur = snapshot_current(q, tfd, &ts, why, sizeof(why));
		if (cur == 2 && f->compile && !file_id_racy((int64_t)ts.st_ctim.tv_sec,
		    (int64_t)time(NULL))) {
			/* current by its hash only: stamped again now that the
			 * text's times are clearly older, so later readers need
			 * not hash it.  Where the snapshot's file system is
			 * read-only to this process (wardd under wardd.service's
			 * ProtectSystem=strict) that is no fault: each load
			 * hashes the text until `wardctl policy compile` stamps it */
			struct statvfs vs;

			if (statvfs(f->snapshot, &vs) == 0 && (vs.f_flag & ST_RDONLY) != 0)
				note_add(&note, 0, "policy snapshot %s used after hashing %s "
				    "(compiled within 2 s of its change; not stamped again on "
				    "this read-only file system: `wardctl policy compile` "
				    "does it)", f->snapshot, f->text);
			else if (policy_compile(q, f->snapshot, &ts, why, sizeof(why)) != 0)
				note_add(&note, 1, "policy snapshot not stamped again: %s",
				    why);
		}
		if (cur >= 1) {
			close(tfd);
			*from_snap = 1;
			if (warn != NULL)
				*warn = note.warn;
			return q;
		}
		note_add(&note, 0, "policy snapshot %s is not %s's: %s", f->snapshot, f->text,
		    why);
		policy_free(q);
		q = NULL;
		if (cur < 0) {
			snprintf(errbuf, errlen, "%s: %s", f->text, why);
			close(tfd);
			return NULL;
		}
	}
	p = policy_load_fd(tfd, f->text, &ts, errbuf, errlen);
	close(tfd);
	if (p != NULL && f->snapshot != NULL && f->compile) {
		if (policy_compile(p, f->snapshot, &ts, why, sizeof(why)) == 0)
			note_add(&note, 0, "policy compiled into %s", f->snapshot);
		else
			note_add(&note, 1, "policy snapshot not written: %s", why);
	}
	if (warn != NULL)
		*warn = note.warn;
	return p;
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	if (p->map != NULL)
		munmap(p->map, p->maplen);
	free(p->heap);
	free(p);
}
