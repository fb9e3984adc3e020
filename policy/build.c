/*
 * build.c - the parsed policy (policy_build.h) into the flat image of
 * policy_internal.h: each role's closure (pol_build_closures), then the
 * image itself (build_image and its b_* builders), opened and checked by
 * pol_image_open like any image read from a snapshot.
 *
 * Rules it keeps:
 *  - Bounded: the closures' ranges are capped (POL_CLOSURE_BUDGET) and the
 *    image stays under IMAGE_MAX_BYTES (32-bit offsets); beyond either the
 *    policy is refused, with a message saying why.
 *  - Inheritance cycles are errors, with the cycle's path and line.
 *  - Out of memory anywhere fails the whole build: no half-built image.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_build.h"

/* Closure ranges merged while loading, all roles together (8 bytes each):
 * bounds the loader's time and memory and the image's closure pool. */
#define POL_CLOSURE_BUDGET (4u << 20)

/* FNV-1a: the image's name tables (b_map) and decide.c's lookups in them
 * must agree; parse.c's maps use it too. */
uint64_t
pol_hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static int
cmp_range(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

/* The path of an inheritance cycle: STACK[0..DEPTH) are the roles being
 * visited, and the last of them inherits R, which is among them. */
static void
cycle_error(struct loader *L, const int32_t *stack, size_t depth, int32_t r)
{
	struct src *p = L->p;
	char path[512] = "";
	size_t i = 0, used = 0;

	while (i < depth && stack[i] != r)
		i++;
	for (; i < depth && used < sizeof(path) - 64; i++)
		used += (size_t)snprintf(path + used, sizeof(path) - used, "%s -> ",
		    p->roles[stack[i]].name);
	snprintf(path + used, sizeof(path) - used, "%s", p->roles[r].name);
	pol_err_at(L, p->roles[r].line, "inheritance cycle: %s", path);
}

/* Role R's closure: its id and its parents' closures (all computed), as
 * sorted, disjoint, non-adjacent ranges, merged in *TMP (room for *CAP
 * pairs, grown as needed).  0, or -1 when the budget is spent (*WORK counts the ranges
 * merged so far) or memory is short. */
static int
closure_merge(struct loader *L, int32_t r, int32_t **tmp, size_t *cap, size_t *work)
{
	struct src_role *x = &L->p->roles[r];
	size_t n = 1, k = 0;
	int32_t *v;

	/* each addend is under the budget, so the sum stops far from wrapping */
	for (size_t i = 0; i < x->ninherits && n <= POL_CLOSURE_BUDGET; i++)
		n += L->p->roles[x->inherits[i]].nranges;
	if (n > POL_CLOSURE_BUDGET - *work) {
		pol_err_at(L, x->line, "role '%s': the role hierarchy is too large to compile: the "
		    "closures of the %zu roles need more than %u ranges of consecutive roles "
		    "(define each role next to the roles it inherits)", x->name,
		    L->p->nroles, POL_CLOSURE_BUDGET);
		return -1;
	}
	*work += n;
	if (n > *cap) {
		int32_t *nv = realloc(*tmp, n * 2 * sizeof(**tmp));
		if (nv == NULL) {
			L->oom = 1;
			return -1;
		}
		*tmp = nv;
		*cap = n;
	}
	v = *tmp;
	v[0] = v[1] = r;
	for (size_t i = 0, m = 2; i < x->ninherits; i++) {
		const struct src_role *y = &L->p->roles[x->inherits[i]];
		memcpy(v + m, y->ranges, y->nranges * 2 * sizeof(*v));
		m += y->nranges * 2;
	}
	if (n > 1)
		qsort(v, n, 2 * sizeof(*v), cmp_range);
	/* coalesce overlapping and adjacent ranges */
	for (size_t i = 1; i < n; i++) {
		if (v[2 * i] <= v[2 * k + 1] + 1) {
			if (v[2 * i + 1] > v[2 * k + 1])
				v[2 * k + 1] = v[2 * i + 1];
			continue;
		}
		k++;
		v[2 * k] = v[2 * i];
		v[2 * k + 1] = v[2 * i + 1];
	}
	x->nranges = k + 1;
	if ((x->ranges = pol_ar_alloc(L, x->nranges * 2 * sizeof(*v))) == NULL)
		return -1;
	memcpy(x->ranges, v, x->nranges * 2 * sizeof(*v));
	return 0;
}

/*
 * Each role's closure (itself and everything it inherits), for the image.
 *
 * Why this way: the image keeps a closure as ranges of consecutive role
 * ids, and decisions OR those ranges into a bitset, so the fast path
 * never walks the hierarchy.  Listing every closure member (what a walk
 * per role gives) is quadratic in the depth: a chain of N roles has
 * N^2/2 members.  Instead one depth-first walk over `inherits` (with an
 * explicit stack: no recursion however deep, and it finds cycles) meets
 * each role after all it inherits, and its closure is then built once from
 * its parents' closures, range against range.  A hierarchy written in file
 * order (each role next to what it inherits, above or below) has closures
 * of a few ranges, so this is linear in the roles and inherits entries:
 * a 65,536-role chain is one range per role.  Roles whose inherited sets
 * are scattered through the file need more ranges; the ranges merged, all
 * roles together, are capped at POL_CLOSURE_BUDGET (memory and time
 * bounded), and beyond it the policy is refused with a message saying so.
 * Renumbering roles in walk order would make any chain compact but
 * changes the snapshot and the decision's role index; not worth it for a
 * layout the message tells the author how to avoid.
 */
void
pol_build_closures(struct loader *L)
{
	struct src *p = L->p;
	size_t n = p->nroles, work = 0, cap = 64;
	uint8_t *colour = calloc(n + 1, 1);
	int32_t *stack = calloc(n + 1, sizeof(*stack)), *tmp = calloc(cap, 2 * sizeof(*tmp));
	size_t *next = calloc(n + 1, sizeof(*next));

	if (colour == NULL || stack == NULL || next == NULL || tmp == NULL) {
		L->oom = 1;
		goto out;
	}
	for (size_t r = 0; r < n; r++) {
		size_t depth = 0;

		if (colour[r] != 0)
			continue;
		colour[r] = 1;
		stack[depth] = (int32_t)r;
		next[depth++] = 0;
		while (depth > 0) {
			int32_t x = stack[depth - 1];

			if (next[depth - 1] < p->roles[x].ninherits) {
				int32_t y = p->roles[x].inherits[next[depth - 1]++];
				if (colour[y] == 1) {
					cycle_error(L, stack, depth, y);
					goto out;
				}
				if (colour[y] == 0) {
					colour[y] = 1;
					stack[depth] = y;
					next[depth++] = 0;
				}
				continue;
			}
			if (closure_merge(L, x, &tmp, &cap, &work) != 0)
				goto out;
			colour[x] = 2;
			depth--;
		}
	}
out:
	free(colour);
	free(stack);
	free(next);
	free(tmp);
}

/* ---- the image (policy_internal.h) ----
 *
 * build_image lays the parsed policy out as one flat buffer: the head, the
 * table of contents, the records and lists (each 8-aligned), then the
 * string pool.  Offsets are 32-bit, so an image stays under 1 GiB.
 */

#define IMAGE_MAX_BYTES ((size_t)1 << 30)

struct ibuf {
	unsigned char *b;
	size_t n, cap;
	int oom;
};

static int
ib_grow(struct ibuf *w, size_t more)
{
	if (w->oom)
		return -1;
	if (more > IMAGE_MAX_BYTES - w->n) {
		w->oom = 1;
		return -1;
	}
	if (w->n + more > w->cap) {
		size_t cap = w->cap ? w->cap : 65536;
		unsigned char *nb;

		while (cap < w->n + more)
			cap *= 2;
		nb = realloc(w->b, cap);
		if (nb == NULL) {
			w->oom = 1;
			return -1;
		}
		w->b = nb;
		w->cap = cap;
	}
	return 0;
}

/* Append N bytes of P (zeros when P is NULL), 8-aligned; the offset. */
static uint32_t
ib_put(struct ibuf *w, const void *p, size_t n)
{
	size_t pad = (8 - w->n % 8) % 8, off;

	if (ib_grow(w, pad + n) != 0)
		return 0;
	memset(w->b + w->n, 0, pad);
	off = w->n + pad;
	if (p != NULL)
		memcpy(w->b + off, p, n);
	else
		memset(w->b + off, 0, n);
	w->n = off + n;
	return (uint32_t)off;
}

struct builder {
	struct ibuf d;              /* head, table, records */
	struct ibuf s;              /* string pool */
	struct ibuf pool[POL_NPOOLS];  /* lists; offsets fixed up by b_place */
};

static const size_t pool_elem[POL_NPOOLS] = { 4, 4, 4, sizeof(struct pol_hostref), 8,
	sizeof(struct pol_span) };

/* Append N bytes to pool K (unaligned: elements stay contiguous); the list
 * holds the offset inside the pool until b_place moves it. */
static struct pol_list
b_pool(struct builder *B, int k, const void *v, size_t n, size_t count)
{
	struct pol_list l = { 0, (uint32_t)count };
	struct ibuf *w = &B->pool[k];

	if (ib_grow(w, n) != 0) {
		B->d.oom = 1;
		return l;
	}
	l.off = (uint32_t)w->n;
	if (n > 0)
		memcpy(w->b + w->n, v, n);
	w->n += n;
	return l;
}

static uint32_t
b_str(struct builder *B, const char *s)
{
	size_t n, off;

	if (s == NULL)
		return POL_NONE;
	n = strlen(s) + 1;
	if (ib_grow(&B->s, n) != 0)
		return POL_NONE;
	off = B->s.n;
	memcpy(B->s.b + off, s, n);
	B->s.n += n;
	return (uint32_t)off;
}

/* Ids as a list in pool K; NULL becomes POL_NONE ("any"). */
static struct pol_list
b_ids(struct builder *B, int k, const int32_t *v, size_t n)
{
	struct pol_list l = { POL_NONE, 0 };

	if (v == NULL)
		return l;
	return b_pool(B, k, v, n * sizeof(*v), n);
}

/* Strings as a list (always a list, maybe empty). */
static struct pol_list
b_strs(struct builder *B, char *const *v, size_t n)
{
	struct pol_list l;
	uint32_t *tmp = calloc(n + 1, sizeof(*tmp));

	if (tmp == NULL) {
		B->d.oom = 1;
		l.off = 0;
		l.n = 0;
		return l;
	}
	for (size_t i = 0; i < n; i++)
		tmp[i] = b_str(B, v[i]);
	l = b_pool(B, POL_POOL_STRS, tmp, n * sizeof(*tmp), n);
	free(tmp);
	return l;
}

static struct pol_list
b_hosts(struct builder *B, const struct src_hostref *h, size_t n)
{
	struct pol_list l = { POL_NONE, 0 };
	struct pol_hostref *tmp;

	if (h == NULL)
		return l;
	if ((tmp = calloc(n + 1, sizeof(*tmp))) == NULL) {
		B->d.oom = 1;
		return l;
	}
	for (size_t i = 0; i < n; i++) {
		tmp[i].group = h[i].group;
		tmp[i].literal = h[i].group < 0 ? b_str(B, h[i].literal) : POL_NONE;
	}
	l = b_pool(B, POL_POOL_HOSTS, tmp, n * sizeof(*tmp), n);
	free(tmp);
	return l;
}

/* A name -> index table of the image; the first of equal keys wins. */
static void
b_map(struct builder *B, uint32_t *slots_off, uint32_t *cap_out, size_t n,
    const char *(*name_of)(const struct src *, size_t, size_t *), const struct src *p,
    size_t nitems)
{
	size_t cap = 8;
	struct pol_slot *t;

	while (cap < n * 2)
		cap <<= 1;
	if ((t = malloc(cap * sizeof(*t))) == NULL) {
		B->d.oom = 1;
		return;
	}
	for (size_t i = 0; i < cap; i++) {
		t[i].key = POL_NONE;
		t[i].val = -1;
	}
	for (size_t i = 0; i < nitems; i++) {
		size_t val, h;
		const char *key = name_of(p, i, &val);

		if (key == NULL)
			continue;
		h = (size_t)pol_hash_str(key) & (cap - 1);
		while (t[h].key != POL_NONE && strcmp((const char *)B->s.b + t[h].key, key) != 0)
			h = (h + 1) & (cap - 1);
		if (t[h].key != POL_NONE)
			continue;
		t[h].key = b_str(B, key);
		t[h].val = (int32_t)val;
	}
	*slots_off = ib_put(&B->d, t, cap * sizeof(*t));
	*cap_out = (uint32_t)cap;
	free(t);
}

static const char *
role_name_of(const struct src *p, size_t i, size_t *val)
{
	*val = i;
	return p->roles[i].name;
}

static const char *
user_name_of(const struct src *p, size_t i, size_t *val)
{
	*val = i;
	return p->users[i].name;
}

/* Item I of the flattened (app, service) list. */
static const char *
service_name_of(const struct src *p, size_t i, size_t *val)
{
	for (size_t a = 0; a < p->napps; a++) {
		if (i < p->apps[a].nservices) {
			*val = a;
			return p->apps[a].services[i];
		}
		i -= p->apps[a].nservices;
	}
	*val = 0;
	return NULL;
}

/* The fast path's candidates: for each app, the rules naming it (once per
 * rule, in file order), each once per role it names; then the rules for
 * any app.  A rule for any role is listed under role nroles. */
static void
b_cands(struct builder *B, const struct src *p, struct pol_tab *tab)
{
	size_t *count = calloc(p->napps + 1, sizeof(*count)), *fill = NULL, total = 0, nany = 0;
	struct pol_list *ranges = NULL;
	struct pol_cand *c = NULL;
	int32_t *roles = NULL;

	if (count == NULL)
		goto oom;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct src_rule *r = &p->rules[i];
		size_t nr = r->roles ? r->nroles : 1;

		if (r->apps == NULL) {
			nany += nr;
			continue;
		}
		for (size_t k = 0; k < r->napps; k++)
			count[r->apps[k]] += nr;   /* an upper bound: repeats skipped below */
	}
	for (size_t a = 0; a < p->napps; a++)
		total += count[a];
	fill = calloc(p->napps + 1, sizeof(*fill));
	ranges = calloc(p->napps + 1, sizeof(*ranges));
	c = calloc(total + nany + 1, sizeof(*c));
	roles = calloc(total + nany + 1, sizeof(*roles));
	if (fill == NULL || ranges == NULL || c == NULL || roles == NULL)
		goto oom;
	for (size_t a = 0, at = 0; a < p->napps; a++) {
		fill[a] = at;
		ranges[a].off = (uint32_t)at;
		at += count[a];
	}
	tab->any_cands.off = (uint32_t)total;
	tab->any_cands.n = 0;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct src_rule *r = &p->rules[i];
		size_t nr = r->roles ? r->nroles : 1;

		for (size_t k = 0; k < (r->apps ? r->napps : 1); k++) {
			size_t *at;

			if (r->apps == NULL) {
				at = &fill[p->napps];
				*at = total + tab->any_cands.n;
				tab->any_cands.n += (uint32_t)nr;
			} else {
				int32_t a = r->apps[k];
				/* an app named twice by one rule: indexed once */
				if (ranges[a].n > 0 && c[fill[a] - 1].rule == (int32_t)i)
					continue;
				at = &fill[a];
				ranges[a].n += (uint32_t)nr;
			}
			for (size_t q = 0; q < nr; q++) {
				roles[*at] = r->roles ? r->roles[q] : (int32_t)p->nroles;
				c[*at].when = r->when;
				c[*at].group = r->hosts == NULL ? POL_CAND_ANYHOST :
				    r->nhosts == 1 && r->hosts[0].group >= 0 ? r->hosts[0].group :
				    POL_CAND_HOSTS;
				c[(*at)++].rule = (int32_t)i;
			}
		}
	}
	tab->app_cands = ib_put(&B->d, ranges, p->napps * sizeof(*ranges));
	tab->cands = ib_put(&B->d, c, (total + nany) * sizeof(*c));
	tab->cand_roles = ib_put(&B->d, roles, (total + nany) * sizeof(*roles));
	tab->ncands = (uint32_t)(total + nany);
	free(count);
	free(fill);
	free(ranges);
	free(c);
	free(roles);
	return;
oom:
	B->d.oom = 1;
	free(count);
	free(fill);
	free(ranges);
	free(c);
	free(roles);
}

#define B_REC(B, off, i, type) ((type *)(void *)((B)->d.b + (off)) + (i))

static void
fix(struct pol_list *l, const uint32_t *base)
{
	if (l->off != POL_NONE)
		l->off += *base;
}

/* Append the pools to the image and turn pool offsets into image offsets. */
static void
b_place(struct builder *B, struct pol_tab *t)
{
	uint32_t base[POL_NPOOLS];

	for (int k = 0; k < POL_NPOOLS; k++) {
		base[k] = ib_put(&B->d, B->pool[k].b, B->pool[k].n);
		t->pools[k].off = base[k];
		t->pools[k].n = (uint32_t)(B->pool[k].n / pool_elem[k]);
		free(B->pool[k].b);
		B->pool[k].b = NULL;
	}
	if (B->d.oom)
		return;
	for (uint32_t i = 0; i < t->nroles; i++) {
		struct pol_role *r = B_REC(B, t->roles, i, struct pol_role);
		fix(&r->inherits, &base[POL_POOL_ROLES]);
		fix(&r->perms, &base[POL_POOL_STRS]);
		fix(&r->closure, &base[POL_POOL_RANGES]);
	}
	for (uint32_t i = 0; i < t->napps; i++)
		fix(&B_REC(B, t->apps, i, struct pol_app)->services, &base[POL_POOL_STRS]);
	for (uint32_t i = 0; i < t->nhostgroups; i++)
		fix(&B_REC(B, t->hostgroups, i, struct pol_hostgroup)->patterns, &base[POL_POOL_STRS]);
	for (uint32_t i = 0; i < t->nschedules; i++)
		fix(&B_REC(B, t->schedules, i, struct pol_schedule)->spans, &base[POL_POOL_SPANS]);
	for (uint32_t i = 0; i < t->nrules; i++) {
		struct pol_rule *r = B_REC(B, t->rules, i, struct pol_rule);
		fix(&r->roles, &base[POL_POOL_ROLES]);
		fix(&r->apps, &base[POL_POOL_APPS]);
		fix(&r->hosts, &base[POL_POOL_HOSTS]);
	}
	for (uint32_t i = 0; i < t->nusers; i++)
		fix(&B_REC(B, t->users, i, struct pol_user)->roles, &base[POL_POOL_ROLES]);
	for (uint32_t i = 0; i < t->nsods; i++)
		fix(&B_REC(B, t->sods, i, struct pol_sod)->roles, &base[POL_POOL_ROLES]);
	fix(&t->bg.roles, &base[POL_POOL_ROLES]);
	fix(&t->bg.apps, &base[POL_POOL_APPS]);
	fix(&t->bg.hosts, &base[POL_POOL_HOSTS]);
}

static void
build_image(struct builder *B, const struct src *p)
{
	struct pol_tab tab;
	struct pol_head head;
	size_t nsvc = 0;

	memset(&tab, 0, sizeof(tab));
	ib_put(&B->d, NULL, POL_DATA);
	tab.file = b_str(B, p->file);
	tab.nroles = (uint32_t)p->nroles;
	tab.roles = ib_put(&B->d, NULL, p->nroles * sizeof(struct pol_role));
	for (size_t i = 0; i < p->nroles && !B->d.oom; i++) {
		const struct src_role *x = &p->roles[i];
		struct pol_role r;

		memset(&r, 0, sizeof(r));
		r.name = b_str(B, x->name);
		r.line = (uint32_t)x->line;
		r.inherits = b_ids(B, POL_POOL_ROLES, x->inherits ? x->inherits : (const int32_t[1]){ 0 },
		    x->ninherits);
		r.perms = b_strs(B, x->perms, x->nperms);
		r.closure = b_pool(B, POL_POOL_RANGES, x->ranges, x->nranges * 2 * sizeof(int32_t),
		    x->nranges);
		if (!B->d.oom)
			*B_REC(B, tab.roles, i, struct pol_role) = r;
	}
	tab.napps = (uint32_t)p->napps;
	tab.apps = ib_put(&B->d, NULL, p->napps * sizeof(struct pol_app));
	for (size_t i = 0; i < p->napps && !B->d.oom; i++) {
		struct pol_app a;

		memset(&a, 0, sizeof(a));
		a.name = b_str(B, p->apps[i].name);
		a.services = b_strs(B, p->apps[i].services, p->apps[i].nservices);
		nsvc += p->apps[i].nservices;
		if (!B->d.oom)
			*B_REC(B, tab.apps, i, struct pol_app) = a;
	}
	tab.nhostgroups = (uint32_t)p->nhostgroups;
	tab.hostgroups = ib_put(&B->d, NULL, p->nhostgroups * sizeof(struct pol_hostgroup));
	for (size_t i = 0; i < p->nhostgroups && !B->d.oom; i++) {
		struct pol_hostgroup g;

		memset(&g, 0, sizeof(g));
		g.name = b_str(B, p->hostgroups[i].name);
		g.line = (uint32_t)p->hostgroups[i].line;
		g.patterns = b_strs(B, p->hostgroups[i].patterns, p->hostgroups[i].npatterns);
		if (!B->d.oom)
			*B_REC(B, tab.hostgroups, i, struct pol_hostgroup) = g;
	}
	tab.nschedules = (uint32_t)p->nschedules;
	tab.schedules = ib_put(&B->d, NULL, p->nschedules * sizeof(struct pol_schedule));
	for (size_t i = 0; i < p->nschedules && !B->d.oom; i++) {
		const struct src_schedule *x = &p->schedules[i];
		struct pol_span *sp = calloc(x->nspans + 1, sizeof(*sp));
		uint32_t name = b_str(B, x->name);
		struct pol_list spans;

		if (sp == NULL) {
			B->d.oom = 1;
			break;
		}
		for (size_t k = 0; k < x->nspans; k++) {
			sp[k].days = x->spans[k].days;
			sp[k].start = x->spans[k].start;
			sp[k].end = x->spans[k].end;
		}
		spans = b_pool(B, POL_POOL_SPANS, sp, x->nspans * sizeof(*sp), x->nspans);
		free(sp);
		if (!B->d.oom) {
			struct pol_schedule *s = B_REC(B, tab.schedules, i, struct pol_schedule);
			s->name = name;
			s->line = (uint32_t)x->line;
			s->spans = spans;
			memcpy(s->bits, x->bits, sizeof(s->bits));
		}
	}
	tab.nrules = (uint32_t)p->nrules;
	tab.rules = ib_put(&B->d, NULL, p->nrules * sizeof(struct pol_rule));
	for (size_t i = 0; i < p->nrules && !B->d.oom; i++) {
		const struct src_rule *x = &p->rules[i];
		struct pol_rule r;

		memset(&r, 0, sizeof(r));
		r.id = b_str(B, x->id);
		r.line = (uint32_t)x->line;
		r.reason = b_str(B, x->reason);
		r.deny = (uint8_t)(x->deny != 0);
		r.mfa_required = (uint8_t)(x->mfa_required != 0);
		r.bg_overridable = (uint8_t)(x->bg_overridable != 0);
		r.roles = b_ids(B, POL_POOL_ROLES, x->roles, x->nroles);
		r.apps = b_ids(B, POL_POOL_APPS, x->apps, x->napps);
		r.hosts = b_hosts(B, x->hosts, x->nhosts);
		r.when = x->when;
		r.mfa_grace = (int32_t)x->mfa_grace;
		r.idle_logoff = (int32_t)x->idle_logoff;
		r.session_max = (int32_t)x->session_max;
		if (!B->d.oom)
			*B_REC(B, tab.rules, i, struct pol_rule) = r;
	}
	tab.nusers = (uint32_t)p->nusers;
	tab.users = ib_put(&B->d, NULL, p->nusers * sizeof(struct pol_user));
	for (size_t i = 0; i < p->nusers && !B->d.oom; i++) {
		struct pol_user u;

		memset(&u, 0, sizeof(u));
		u.name = b_str(B, p->users[i].name);
		u.line = (uint32_t)p->users[i].line;
		u.roles = b_ids(B, POL_POOL_ROLES, p->users[i].roles ? p->users[i].roles :
		    (const int32_t[1]){ 0 },
		    p->users[i].nroles);
		if (!B->d.oom)
			*B_REC(B, tab.users, i, struct pol_user) = u;
	}
	tab.nsods = (uint32_t)p->nsods;
	tab.sods = ib_put(&B->d, NULL, p->nsods * sizeof(struct pol_sod));
	for (size_t i = 0; i < p->nsods && !B->d.oom; i++) {
		struct pol_sod s;

		memset(&s, 0, sizeof(s));
		s.id = b_str(B, p->sods[i].id);
		s.line = (uint32_t)p->sods[i].line;
		s.reason = b_str(B, p->sods[i].reason);
		s.roles = b_ids(B, POL_POOL_ROLES, p->sods[i].roles ? p->sods[i].roles :
		    (const int32_t[1]){ 0 },
		    p->sods[i].nroles);
		if (!B->d.oom)
			*B_REC(B, tab.sods, i, struct pol_sod) = s;
	}
	tab.nsources = (uint32_t)p->nsources;
	tab.sources = ib_put(&B->d, NULL, p->nsources * sizeof(struct pol_source));
	for (size_t i = 0; i < p->nsources && !B->d.oom; i++) {
		struct pol_source s;

		memset(&s, 0, sizeof(s));
		s.group = b_str(B, p->sources[i].group);
		s.role = p->sources[i].role;
		s.line = (uint32_t)p->sources[i].line;
		if (!B->d.oom)
			*B_REC(B, tab.sources, i, struct pol_source) = s;
	}
	tab.bg.defined = (uint32_t)(p->bg.defined != 0);
	tab.bg.line = (uint32_t)p->bg.line;
	tab.bg.mfa_required = (uint32_t)(p->bg.mfa_required != 0);
	tab.bg.roles = b_ids(B, POL_POOL_ROLES, p->bg.roles, p->bg.nroles);
	tab.bg.apps = b_ids(B, POL_POOL_APPS, p->bg.apps, p->bg.napps);
	tab.bg.hosts = b_hosts(B, p->bg.hosts, p->bg.nhosts);
	tab.bg.max_minutes = p->bg.max_minutes;
	tab.bg.min_reason_chars = p->bg.min_reason_chars;
	b_map(B, &tab.role_map, &tab.role_cap, p->nroles, role_name_of, p, p->nroles);
	b_map(B, &tab.user_map, &tab.user_cap, p->nusers, user_name_of, p, p->nusers);
	b_map(B, &tab.service_map, &tab.service_cap, nsvc, service_name_of, p, nsvc);
	b_cands(B, p, &tab);
	b_place(B, &tab);
	if (B->d.oom || B->s.oom)
		return;
	tab.nstrings = (uint32_t)B->s.n;
	tab.strings = ib_put(&B->d, B->s.b, B->s.n);
	ib_put(&B->d, NULL, 0);      /* the image ends 8-aligned */
	if (B->d.oom)
		return;
	memcpy(B->d.b + POL_HEAD, &tab, sizeof(tab));
	memset(&head, 0, sizeof(head));
	memcpy(head.magic, POL_MAGIC, 8);
	head.format = POL_FORMAT;
	head.length = B->d.n - POL_HEAD;
	memcpy(head.version, p->version, 64);
	memcpy(B->d.b, &head, sizeof(head));
	head.sum = pol_image_sum(B->d.b, B->d.n);
	memcpy(B->d.b, &head, sizeof(head));
}

/* The policy over a new image of S; NULL with a message on failure. */
struct policy *
pol_build_policy(const struct src *s, const char *name, char *errbuf, size_t errlen)
{
	struct builder B;
	struct policy *p;

	memset(&B, 0, sizeof(B));
	build_image(&B, s);
	free(B.s.b);
	for (int k = 0; k < POL_NPOOLS; k++)
		free(B.pool[k].b);
	if (B.d.oom || B.s.oom || (p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(errbuf, errlen, "%s: %s", name, B.d.oom || B.s.oom ?
		    "policy too large or out of memory" : "out of memory");
		free(B.d.b);
		return NULL;
	}
	if (pol_image_open(p, B.d.b, B.d.n, name, errbuf, errlen) != 0) {
		free(B.d.b);
		free(p);
		return NULL;
	}
	p->heap = B.d.b;
	return p;
}
