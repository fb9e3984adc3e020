/*
 * decide.c - the fast decision path and the query API.
 *
 * Rules it keeps (semantics: ward-policy(5)):
 *  - Pure: no I/O, no allocation, no global state; safe from any thread.
 *    It reads only the image, whose offsets were checked at load.
 *  - Effective roles = assigned roles and everything they inherit (the
 *    image holds each role's closure as ranges of role ids, set into a
 *    bitset once per request).
 *  - Separation of duty denies first, and is not break-glass overridable.
 *  - Only the request's app's candidates (plus the rules for any app) are
 *    looked at, in file order, each rule once; a candidate carries the
 *    rule's schedule and single host group, so most are turned down
 *    without reading the rule; deny overrides allow; nothing matching
 *    denies.
 *  - Obligations combine over all matching allow rules, strictest first.
 *  - Host globs: a pattern of plain ASCII and '*' against an ASCII host is
 *    matched here (what fnmatch(3) with no flags does for it); anything
 *    else goes to fnmatch.  Each host group is matched at most once per
 *    request.
 *  - Unknown or NULL inputs deny.
 */
#include <fnmatch.h>
#include <string.h>

#include "policy_internal.h"

#define BITSET_WORDS (POL_MAX_ROLES / 64 + 1)   /* + the "any role" bit */
#define HG_MEMO 4096                            /* host groups remembered */

static const char default_reason[] =
    "No rule allows you to use this application on this workstation at this time";

const char *
pol_default_deny_reason(void)
{
	return default_reason;
}

void
policy_request_set_time(struct policy_request *rq, time_t t)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL) {
		rq->wday = -1;     /* matches no schedule */
		rq->minute = -1;
		return;
	}
	rq->wday = tm.tm_wday;
	rq->minute = tm.tm_hour * 60 + tm.tm_min;
}

int
pol_schedule_contains(const struct pol_schedule *s, int wday, int minute)
{
	int w;

	if (wday < 0 || wday > 6 || minute < 0 || minute >= 1440)
		return 0;
	w = wday * 1440 + minute;
	return (s->bits[w / 8] >> (w % 8)) & 1;
}

/* Look KEY up in the name table at SLOTS (CAP slots); -1 when absent.  At
 * most CAP probes, whatever the table holds. */
int
pol_map_find(const struct policy *p, uint32_t slots, uint32_t cap, const char *key)
{
	const struct pol_slot *t = (const struct pol_slot *)(const void *)(p->base + slots);
	size_t i;

	if (key == NULL)
		return -1;
	i = (size_t)pol_hash_str(key) & (cap - 1);
	for (uint32_t n = 0; n < cap && t[i].key != POL_NONE; n++) {
		if (strcmp(p->strs + t[i].key, key) == 0)
			return t[i].val;
		i = (i + 1) & (cap - 1);
	}
	return -1;
}

int
pol_app_of_service(const struct policy *p, const char *service)
{
	return pol_map_find(p, p->tab->service_map, p->tab->service_cap, service);
}

int
pol_role_id(const struct policy *p, const char *name)
{
	return pol_map_find(p, p->tab->role_map, p->tab->role_cap, name);
}

int
pol_user_id(const struct policy *p, const char *name)
{
	return pol_map_find(p, p->tab->user_map, p->tab->user_cap, name);
}

/* Does ROLE inherit X (or is it X)? */
int
pol_closure_has(const struct policy *p, int32_t role, int32_t x)
{
	const struct pol_role *r = &p->roles[role];
	const int32_t *v = pol_ids(p, r->closure);

	for (uint32_t k = 0; k < r->closure.n; k++)
		if (x >= v[2 * k] && x <= v[2 * k + 1])
			return 1;
	return 0;
}

size_t
pol_hostref_npatterns(const struct policy *p, const struct pol_hostref *h, size_t n)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++)
		total += h[i].group < 0 ? 1 : p->hostgroups[h[i].group].patterns.n;
	return total;
}

/* ---- host globs ---- */

/* PAT against S, both ASCII: 1 match, 0 not, -1 when PAT has anything but
 * plain characters and '*' (then fnmatch decides). */
static int
glob_simple(const char *pat, const char *s)
{
	const char *star = NULL, *back = NULL;

	for (const char *q = pat; *q; q++)
		if (*q == '?' || *q == '[' || *q == '\\' || (unsigned char)*q >= 0x80)
			return -1;
	while (*s) {
		if (*pat == '*') {
			star = ++pat;
			back = s;
		} else if (*pat == *s) {
			pat++;
			s++;
		} else if (star != NULL) {
			pat = star;
			s = ++back;
		} else {
			return 0;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

struct hostctx {
	const char *host;
	int known;                  /* a non-empty host name */
	int ascii;
	int memo;                   /* done/hit initialised */
	uint64_t done[HG_MEMO / 64], hit[HG_MEMO / 64];
};

static void
host_init(struct hostctx *h, const char *host)
{
	h->host = host;
	h->known = host != NULL && host[0] != '\0';
	h->ascii = 1;
	h->memo = 0;
	for (const char *q = h->known ? host : ""; *q; q++)
		if ((unsigned char)*q >= 0x80)
			h->ascii = 0;
}

static int
glob_match(const char *pat, const struct hostctx *h)
{
	if (h->ascii) {
		int r = glob_simple(pat, h->host);
		if (r >= 0)
			return r;
	}
	return fnmatch(pat, h->host, 0) == 0;
}

static int
group_match(const struct policy *p, int32_t g, struct hostctx *h)
{
	const struct pol_hostgroup *hg = &p->hostgroups[g];
	uint64_t bit = 1ULL << (g % 64);
	int hit = 0;

	if (g < HG_MEMO) {
		if (!h->memo) {
			memset(h->done, 0, (p->nhostgroups < HG_MEMO ?
			    (p->nhostgroups + 63) / 64 : HG_MEMO / 64) * sizeof(uint64_t));
			h->memo = 1;
		}
		if (h->done[g / 64] & bit)
			return (h->hit[g / 64] & bit) != 0;
	}
	for (uint32_t k = 0; k < hg->patterns.n && !hit; k++)
		hit = glob_match(pol_stri(p, hg->patterns, k), h);
	if (g < HG_MEMO) {
		h->done[g / 64] |= bit;
		if (hit)
			h->hit[g / 64] |= bit;
		else
			h->hit[g / 64] &= ~bit;
	}
	return hit;
}

/* A host list (POL_NONE: any host) against the request's host. */
static int
hosts_match(const struct policy *p, struct pol_list l, struct hostctx *h)
{
	const struct pol_hostref *r = pol_hostrefs(p, l);

	if (r == NULL)
		return 1;
	if (!h->known)
		return 0;
	for (uint32_t i = 0; i < l.n; i++) {
		if (r[i].group < 0 ? glob_match(pol_str(p, r[i].literal), h) :
		    group_match(p, r[i].group, h))
			return 1;
	}
	return 0;
}

/* ---- effective roles ---- */

struct eff {
	uint64_t bits[BITSET_WORDS];
};

static void
set_range(uint64_t *bits, uint32_t lo, uint32_t hi)
{
	uint32_t wl = lo / 64, wh = hi / 64;
	uint64_t ml = ~0ULL << (lo % 64), mh = ~0ULL >> (63 - hi % 64);

	if (wl == wh) {
		bits[wl] |= ml & mh;
		return;
	}
	bits[wl] |= ml;
	for (uint32_t w = wl + 1; w < wh; w++)
		bits[w] = ~0ULL;
	bits[wh] |= mh;
}

static void
eff_add(const struct policy *p, struct eff *e, int32_t r)
{
	const struct pol_role *role = &p->roles[r];
	const int32_t *v = pol_idlist(p, role->closure);

	for (uint32_t k = 0; k < role->closure.n; k++)
		set_range(e->bits, (uint32_t)v[2 * k], (uint32_t)v[2 * k + 1]);
}

static int
eff_has(const struct eff *e, int32_t r)
{
	return (e->bits[r / 64] >> (r % 64)) & 1;
}

/* Bit nroles stands for "any role" and is always set. */
static void
eff_build(const struct policy *p, const struct policy_request *rq, struct eff *e)
{
	size_t words = (p->nroles + 1 + 63) / 64;

	memset(e->bits, 0, words * sizeof(uint64_t));
	e->bits[p->nroles / 64] |= 1ULL << (p->nroles % 64);
	if (rq->roles != NULL) {
		for (size_t i = 0; i < rq->nroles; i++) {
			int r = pol_role_id(p, rq->roles[i]);
			if (r >= 0)
				eff_add(p, e, r);
		}
	} else if (rq->user != NULL) {
		int u = pol_user_id(p, rq->user);
		if (u >= 0) {
			const int32_t *v = pol_idlist(p, p->users[u].roles);
			for (uint32_t i = 0; i < p->users[u].roles.n; i++)
				eff_add(p, e, v[i]);
		}
	}
}

/* Holds any of the roles in L (POL_NONE: any role)? */
static int
any_role(const struct policy *p, const struct eff *e, struct pol_list l)
{
	const int32_t *v = pol_ids(p, l);

	if (v == NULL)
		return 1;
	for (uint32_t i = 0; i < l.n; i++)
		if (eff_has(e, v[i]))
			return 1;
	return 0;
}

static int
sod_broken(const struct policy *p, const struct eff *e, const struct pol_sod *c)
{
	const int32_t *v = pol_idlist(p, c->roles);
	uint32_t k = 0;

	while (k < c->roles.n && eff_has(e, v[k]))
		k++;
	return k == c->roles.n;
}

/* ---- the decision ---- */

static long
min_limit(long cur, long v)
{
	if (v < 0)
		return cur;
	if (cur == POLICY_NO_LIMIT || v < cur)
		return v;
	return cur;
}

static void
deny_init(struct policy_decision *d, const char *app)
{
	memset(d, 0, sizeof(*d));
	d->allow = 0;
	d->rule = "default-deny";
	d->reason = default_reason;
	d->app = app ? app : "";
	d->mfa_required = 1;
	d->mfa_grace = 0;
	d->idle_logoff = POLICY_NO_LIMIT;
	d->session_max = POLICY_NO_LIMIT;
}

static int
bg_covers(const struct policy *p, const struct eff *e, int app, struct hostctx *h)
{
	const struct pol_bg *b = p->bg;

	if (!b->defined)
		return 0;
	if (!any_role(p, e, b->roles))
		return 0;
	if (b->apps.off != POL_NONE) {
		const int32_t *v = pol_ids(p, b->apps);
		uint32_t k = 0;

		while (k < b->apps.n && v[k] != app)
			k++;
		if (app < 0 || k == b->apps.n)
			return 0;
	}
	return hosts_match(p, b->hosts, h);
}

/* What the candidates add up to. */
struct acc {
	const struct pol_rule *first_allow, *first_deny;
	int32_t last;               /* the rule looked at last */
	int no_bg;
};

/* Candidate I, whose role the request holds. */
static void
consider(const struct policy *p, const struct policy_request *rq, struct hostctx *h,
    uint32_t i, struct acc *a, struct policy_decision *d)
{
	const struct pol_cand *c = &p->cands[i];
	const struct pol_rule *r;

	if (c->rule == a->last)
		return;                 /* a rule naming several held roles: once */
	a->last = c->rule;
	if (c->when >= 0 && !pol_schedule_contains(&p->schedules[c->when], rq->wday, rq->minute))
		return;
	if (c->group >= 0 && !(h->known && group_match(p, c->group, h)))
		return;
	r = &p->rules[c->rule];     /* the first read of the rule itself */
	if (c->group == POL_CAND_HOSTS && !hosts_match(p, r->hosts, h))
		return;
	if (r->deny) {
		if (a->first_deny == NULL)
			a->first_deny = r;
		if (!r->bg_overridable)
			a->no_bg = 1;
		return;
	}
	if (a->first_allow == NULL) {
		a->first_allow = r;
		d->mfa_required = 0;
		d->mfa_grace = -1;
	}
	if (r->mfa_required)
		d->mfa_required = 1;
	{
		long g = r->mfa_grace < 0 ? 0 : (long)r->mfa_grace;
		if (d->mfa_grace < 0 || g < d->mfa_grace)
			d->mfa_grace = g;
	}
	d->idle_logoff = min_limit(d->idle_logoff, (long)r->idle_logoff);
	d->session_max = min_limit(d->session_max, (long)r->session_max);
}

static int
held(const struct eff *e, const struct policy *p, uint32_t i)
{
	uint32_t role = (uint32_t)p->cand_roles[i];

	return (e->bits[role / 64] >> (role % 64)) & 1;
}

void
policy_decide(const struct policy *p, const struct policy_request *rq,
    struct policy_decision *d)
{
	struct eff e;
	struct hostctx h;
	struct acc a = { NULL, NULL, -1, 0 };
	uint32_t ia = 0, na = 0, ib, nb;
	int app;

	deny_init(d, rq && rq->service ? rq->service : "");
	if (p == NULL || rq == NULL || rq->service == NULL)
		return;
	app = pol_app_of_service(p, rq->service);
	d->app = app >= 0 ? pol_str(p, p->apps[app].name) : rq->service;
	if (app >= 0) {
		ia = p->app_cands[app].off;
		na = ia + p->app_cands[app].n;
		/* the scan below reads these; fetch them while the roles resolve */
		for (uint32_t i = ia; i < na; i += 16)
			__builtin_prefetch(&p->cand_roles[i]);
	}
	eff_build(p, rq, &e);

	for (size_t i = 0; i < p->nsods; i++) {
		const struct pol_sod *c = &p->sods[i];

		if (sod_broken(p, &e, c)) {
			d->rule = pol_str(p, c->id);
			d->reason = c->reason != POL_NONE ? pol_str(p, c->reason) :
			    "Your roles may not be held together (separation of duty)";
			return;
		}
	}

	/* The app's candidates and the any-app ones, in file order. */
	ib = p->tab->any_cands.off;
	nb = ib + p->tab->any_cands.n;
	host_init(&h, rq->host);
	if (ib == nb) {
		for (uint32_t i = ia; i < na; i++)
			if (held(&e, p, i))
				consider(p, rq, &h, i, &a, d);
	} else {
		for (;;) {
			uint32_t i;

			if (ia < na && (ib >= nb || p->cands[ia].rule < p->cands[ib].rule))
				i = ia++;
			else if (ib < nb)
				i = ib++;
			else
				break;
			if (held(&e, p, i))
				consider(p, rq, &h, i, &a, d);
		}
	}

	if (a.first_deny != NULL) {
		deny_init(d, d->app);
		d->rule = pol_str(p, a.first_deny->id);
		d->reason = a.first_deny->reason != POL_NONE ? pol_str(p, a.first_deny->reason) :
		    "Access is denied by the hospital's policy";
	} else if (a.first_allow != NULL) {
		d->allow = 1;
		d->rule = pol_str(p, a.first_allow->id);
		d->reason = a.first_allow->reason != POL_NONE ? pol_str(p, a.first_allow->reason) :
		    "Allowed";
		return;
	} else {
		deny_init(d, d->app);
	}
	d->break_glass = !a.no_bg && bg_covers(p, &e, app, &h);
}

int
policy_permitted(const struct policy *p, const struct policy_request *rq,
    const char *permission)
{
	struct eff e;
	const char *colon;
	size_t alen;

	if (p == NULL || rq == NULL || permission == NULL)
		return 0;
	colon = strchr(permission, ':');
	if (colon == NULL || colon == permission || colon[1] == '\0')
		return 0;
	alen = (size_t)(colon - permission);
	eff_build(p, rq, &e);
	for (size_t i = 0; i < p->nsods; i++)
		if (sod_broken(p, &e, &p->sods[i]))
			return 0;
	for (size_t r = 0; r < p->nroles; r++) {
		if (!eff_has(&e, (int32_t)r))
			continue;
		for (uint32_t k = 0; k < p->roles[r].perms.n; k++) {
			const char *g = pol_stri(p, p->roles[r].perms, k), *gc = strchr(g, ':');
			size_t glen;
			int app_ok, act_ok;

			if (gc == NULL)
				continue;   /* the loader refuses these */
			glen = (size_t)(gc - g);
			app_ok = (glen == 1 && g[0] == '*') ||
			    (glen == alen && strncmp(g, permission, alen) == 0);
			act_ok = strcmp(gc + 1, "*") == 0 || strcmp(gc + 1, colon + 1) == 0;
			if (app_ok && act_ok)
				return 1;
		}
	}
	return 0;
}

void
policy_break_glass(const struct policy *p, struct policy_break_glass *bg)
{
	memset(bg, 0, sizeof(*bg));
	if (p == NULL || !p->bg->defined)
		return;
	bg->defined = 1;
	bg->max_minutes = (long)p->bg->max_minutes;
	bg->min_reason_chars = (long)p->bg->min_reason_chars;
	bg->mfa_required = p->bg->mfa_required != 0;
}

size_t
policy_effective_roles(const struct policy *p, const struct policy_request *rq,
    const char **out, size_t max)
{
	struct eff e;
	size_t n = 0;

	if (p == NULL || rq == NULL)
		return 0;
	eff_build(p, rq, &e);
	/* roles are stored in file order; output sorted by name */
	for (size_t r = 0; r < p->nroles; r++) {
		const char *name;

		if (!eff_has(&e, (int32_t)r))
			continue;
		name = pol_name(p, p->roles[r].name);
		if (n < max) {
			size_t j = n;
			while (j > 0 && strcmp(out[j - 1], name) > 0) {
				out[j] = out[j - 1];
				j--;
			}
			out[j] = name;
		}
		n++;
	}
	return n;
}

size_t
policy_schedules_at(const struct policy *p, int wday, int minute, unsigned char *out,
    size_t max)
{
	if (p == NULL)
		return 0;
	for (size_t i = 0; i < p->nschedules && i < max; i++)
		out[i] = (unsigned char)pol_schedule_contains(&p->schedules[i], wday, minute);
	return p->nschedules;
}

size_t
policy_effective_role_ids(const struct policy *p, const struct policy_request *rq,
    size_t *out, size_t max)
{
	struct eff e;
	size_t n = 0, words;

	if (p == NULL || rq == NULL)
		return 0;
	eff_build(p, rq, &e);
	e.bits[p->nroles / 64] &= ~(1ULL << (p->nroles % 64));   /* not "any role" */
	words = (p->nroles + 63) / 64;
	for (size_t w = 0; w < words; w++) {
		for (uint64_t b = e.bits[w]; b != 0; b &= b - 1) {
			if (n < max)
				out[n] = w * 64 + (size_t)__builtin_ctzll(b);
			n++;
		}
	}
	return n;
}

size_t
policy_user_roles(const struct policy *p, const char *user, const char **out, size_t max)
{
	const int32_t *v;
	int u;

	if (p == NULL || (u = pol_user_id(p, user)) < 0)
		return 0;
	v = pol_idlist(p, p->users[u].roles);
	for (size_t i = 0; i < p->users[u].roles.n && i < max; i++)
		out[i] = pol_str(p, p->roles[v[i]].name);
	return p->users[u].roles.n;
}

const char *
policy_app_for_service(const struct policy *p, const char *service)
{
	int a;

	if (p == NULL || service == NULL)
		return NULL;
	a = pol_app_of_service(p, service);
	return a >= 0 ? pol_str(p, p->apps[a].name) : service;
}

const char *
policy_version(const struct policy *p)
{
	return p ? p->version : "";
}

size_t policy_nroles(const struct policy *p) { return p ? p->nroles : 0; }

const char *
policy_role_name(const struct policy *p, size_t i)
{
	return p && i < p->nroles ? pol_str(p, p->roles[i].name) : NULL;
}

size_t policy_nrole_sources(const struct policy *p) { return p ? p->nsources : 0; }

void
policy_role_source(const struct policy *p, size_t i, const char **group, const char **role)
{
	*group = *role = NULL;
	if (p == NULL || i >= p->nsources)
		return;
	*group = pol_str(p, p->sources[i].group);
	*role = pol_str(p, p->roles[p->sources[i].role].name);
}

size_t policy_nusers(const struct policy *p) { return p ? p->nusers : 0; }

const char *
policy_user_name(const struct policy *p, size_t i)
{
	return p && i < p->nusers ? pol_str(p, p->users[i].name) : NULL;
}

size_t policy_napps(const struct policy *p) { return p ? p->napps : 0; }

const char *
policy_app_name(const struct policy *p, size_t i)
{
	return p && i < p->napps ? pol_str(p, p->apps[i].name) : NULL;
}

/* The strings of list L into OUT (at most MAX); how many there are. */
static size_t
strs_out(const struct policy *p, struct pol_list l, const char **out, size_t max)
{
	for (size_t k = 0; k < l.n && k < max; k++)
		out[k] = pol_stri(p, l, k);
	return l.n;
}

size_t
policy_app_services(const struct policy *p, size_t i, const char **out, size_t max)
{
	return p && i < p->napps ? strs_out(p, p->apps[i].services, out, max) : 0;
}

size_t
policy_role_permissions(const struct policy *p, size_t i, const char **out, size_t max)
{
	return p && i < p->nroles ? strs_out(p, p->roles[i].perms, out, max) : 0;
}

size_t policy_nhostgroups(const struct policy *p) { return p ? p->nhostgroups : 0; }

const char *
policy_hostgroup_name(const struct policy *p, size_t i)
{
	return p && i < p->nhostgroups ? pol_str(p, p->hostgroups[i].name) : NULL;
}

size_t
policy_hostgroup_patterns(const struct policy *p, size_t i, const char **out, size_t max)
{
	return p && i < p->nhostgroups ? strs_out(p, p->hostgroups[i].patterns, out, max) : 0;
}
