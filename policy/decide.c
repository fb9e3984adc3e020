/*
 * decide.c - the fast decision path and the query API.
 *
 * Rules it keeps (DESIGN.md "policy.conf"):
 *  - Pure: no I/O, no allocation, no global state; safe from any thread.
 *  - Effective roles = assigned roles and everything they inherit (the
 *    loader precomputed each role's closure).
 *  - Separation of duty denies first, and is not break-glass overridable.
 *  - Only rules indexed under the request's app (plus rules for any app) are
 *    looked at, in file order; deny overrides allow; nothing matching denies.
 *  - Obligations combine over all matching allow rules, strictest first.
 *  - Unknown or NULL inputs deny.
 */
#include <fnmatch.h>
#include <string.h>

#include "policy_internal.h"

#define BITSET_WORDS (POL_MAX_ROLES / 64)

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

int
pol_app_of_service(const struct policy *p, const char *service)
{
	return pol_map_get(&p->service_map, service);
}

int
pol_host_match(char *const *patterns, size_t n, const char *host)
{
	if (host == NULL || host[0] == '\0')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (fnmatch(patterns[i], host, 0) == 0)
			return 1;
	return 0;
}

#define EFF_LIST_MAX 1024
#define CAND_MAX 4096

#define ASSIGNED_MAX 64

struct eff {
	uint64_t bits[BITSET_WORDS];
	size_t nroles;
	int32_t assigned[ASSIGNED_MAX];  /* the request's own roles, de-duplicated */
	size_t nassigned;                /* may exceed ASSIGNED_MAX */
	int32_t list[EFF_LIST_MAX];   /* the first EFF_LIST_MAX held roles */
};

static void
eff_add(const struct policy *p, struct eff *e, int32_t r)
{
	const struct pol_role *role = &p->roles[r];
	size_t a = 0;

	while (a < e->nassigned && a < ASSIGNED_MAX && e->assigned[a] != r)
		a++;
	if (a < e->nassigned && a < ASSIGNED_MAX)
		return;                 /* assigned twice */
	if (e->nassigned < ASSIGNED_MAX)
		e->assigned[e->nassigned] = r;
	e->nassigned++;

	for (size_t k = 0; k < role->nclosure; k++) {
		int32_t x = role->closure[k];
		uint64_t bit = 1ULL << (x % 64);

		if (!(e->bits[x / 64] & bit)) {
			e->bits[x / 64] |= bit;
			if (e->nroles < EFF_LIST_MAX)
				e->list[e->nroles] = x;
			e->nroles++;
		}
	}
}

static int
eff_has(const struct eff *e, int32_t r)
{
	return (e->bits[r / 64] >> (r % 64)) & 1;
}

static void
eff_build(const struct policy *p, const struct policy_request *rq, struct eff *e)
{
	size_t words = (p->nroles + 63) / 64;

	memset(e->bits, 0, words * sizeof(uint64_t));
	e->nroles = 0;
	e->nassigned = 0;
	if (rq->roles != NULL) {
		for (size_t i = 0; i < rq->nroles; i++) {
			int r = pol_map_get(&p->role_map, rq->roles[i]);
			if (r >= 0)
				eff_add(p, e, r);
		}
	} else if (rq->user != NULL) {
		int u = pol_map_get(&p->user_map, rq->user);
		if (u >= 0)
			for (size_t i = 0; i < p->users[u].nroles; i++)
				eff_add(p, e, p->users[u].roles[i]);
	}
}

static int
any_role(const struct eff *e, const int32_t *roles, size_t n)
{
	if (roles == NULL)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (eff_has(e, roles[i]))
			return 1;
	return 0;
}

static int
app_in(const int32_t *apps, size_t n, int app)
{
	if (apps == NULL)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (apps[i] == app)
			return 1;
	return 0;
}

static int
rule_matches(const struct policy *p, const struct pol_rule *r, const struct eff *e,
    const struct policy_request *rq)
{
	if (!any_role(e, r->roles, r->nroles))
		return 0;
	if (r->hosts != NULL && !pol_host_match(r->host_patterns, r->nhost_patterns, rq->host))
		return 0;
	if (r->when >= 0 && !pol_schedule_contains(&p->schedules[r->when], rq->wday, rq->minute))
		return 0;
	return 1;
}

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
bg_covers(const struct policy *p, const struct eff *e, int app, const char *host)
{
	const struct pol_bg *b = &p->bg;

	if (!b->defined)
		return 0;
	if (b->roles != NULL && !any_role(e, b->roles, b->nroles))
		return 0;
	if (b->apps != NULL && (app < 0 || !app_in(b->apps, b->napps, app)))
		return 0;
	if (b->hosts != NULL && !pol_host_match(b->host_patterns, b->nhost_patterns, host))
		return 0;
	return 1;
}

/* Append the rules indexed under (ROLE, APP) to CAND; -1 when full. */
static int
gather(const struct policy *p, int64_t role, int64_t app, int32_t *cand, size_t *n)
{
	uint64_t key = pol_pair_key(role, app);
	size_t h = pol_pair_slot(key, p->pair_cap);

	while (p->pair_keys[h] != 0) {
		if (p->pair_keys[h] == key) {
			if (*n + p->pair_len[h] > CAND_MAX)
				return -1;
			memcpy(cand + *n, p->pair_rules + p->pair_start[h],
			    p->pair_len[h] * sizeof(*cand));
			*n += p->pair_len[h];
			return 0;
		}
		h = (h + 1) & (p->pair_cap - 1);
	}
	return 0;
}

static void
sort_unique(int32_t *a, size_t *n)
{
	size_t k = 0;

	/* insertion sort: candidate lists are short, and mostly sorted runs */
	for (size_t i = 1; i < *n; i++) {
		int32_t v = a[i];
		size_t j = i;
		while (j > 0 && a[j - 1] > v) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = v;
	}
	for (size_t i = 0; i < *n; i++)
		if (k == 0 || a[k - 1] != a[i])
			a[k++] = a[i];
	*n = k;
}

/* The candidate rules, in file order: every rule indexed under a held role
 * (or any role) and the request's app (or any app).  Returns -1 when the
 * list would not fit, and the caller scans the app's rules instead. */
static int
candidates(const struct policy *p, const struct eff *e, int app, int32_t *cand,
    size_t *n)
{
	const int32_t *roles = p->pair_expanded ? e->assigned : e->list;
	size_t nroles = p->pair_expanded ? e->nassigned : e->nroles;

	*n = 0;
	if ((p->pair_expanded && nroles > ASSIGNED_MAX) || nroles > EFF_LIST_MAX)
		return -1;
	for (size_t i = 0; i < nroles; i++) {
		if (app >= 0 && gather(p, roles[i], app, cand, n) != 0)
			return -1;
		if (p->nany_app_rules > 0 && gather(p, roles[i], -1, cand, n) != 0)
			return -1;
	}
	if (app >= 0 && gather(p, -1, app, cand, n) != 0)
		return -1;
	if (gather(p, -1, -1, cand, n) != 0)
		return -1;
	sort_unique(cand, n);
	return 0;
}

void
policy_decide(const struct policy *p, const struct policy_request *rq,
    struct policy_decision *d)
{
	struct eff e;
	const struct pol_rule *first_allow = NULL, *first_deny = NULL;
	int app, no_bg = 0;
	const int32_t *lists[2];
	size_t lens[2], pos[2] = { 0, 0 };
	int32_t cand[CAND_MAX];
	size_t ncand = 0;

	deny_init(d, rq && rq->service ? rq->service : "");
	if (p == NULL || rq == NULL || rq->service == NULL)
		return;
	app = pol_app_of_service(p, rq->service);
	d->app = app >= 0 ? p->apps[app].name : rq->service;
	eff_build(p, rq, &e);

	for (size_t i = 0; i < p->nsods; i++) {
		const struct pol_sod *c = &p->sods[i];
		size_t k = 0;

		while (k < c->nroles && eff_has(&e, c->roles[k]))
			k++;
		if (k == c->nroles) {
			d->rule = c->id;
			d->reason = c->reason ? c->reason :
			    "Your roles may not be held together (separation of duty)";
			return;
		}
	}

	/* The (role, app) index gives the candidates in file order; if they do
	 * not fit, merge the app's rules and the any-app rules instead. */
	if (candidates(p, &e, app, cand, &ncand) == 0) {
		lists[0] = cand;
		lens[0] = ncand;
		lists[1] = NULL;
		lens[1] = 0;
	} else {
		lists[0] = app >= 0 ? p->app_rules[app] : NULL;
		lens[0] = app >= 0 ? p->napp_rules[app] : 0;
		lists[1] = p->any_app_rules;
		lens[1] = p->nany_app_rules;
	}
	for (;;) {
		int which;
		const struct pol_rule *r;

		if (pos[0] < lens[0] && (pos[1] >= lens[1] || lists[0][pos[0]] < lists[1][pos[1]]))
			which = 0;
		else if (pos[1] < lens[1])
			which = 1;
		else
			break;
		r = &p->rules[lists[which][pos[which]++]];
		if (!rule_matches(p, r, &e, rq))
			continue;
		if (r->deny) {
			if (first_deny == NULL)
				first_deny = r;
			if (!r->bg_overridable)
				no_bg = 1;
			continue;
		}
		if (first_allow == NULL) {
			first_allow = r;
			d->mfa_required = 0;
			d->mfa_grace = -1;
		}
		if (r->mfa_required)
			d->mfa_required = 1;
		{
			long g = r->mfa_grace < 0 ? 0 : r->mfa_grace;
			if (d->mfa_grace < 0 || g < d->mfa_grace)
				d->mfa_grace = g;
		}
		d->idle_logoff = min_limit(d->idle_logoff, r->idle_logoff);
		d->session_max = min_limit(d->session_max, r->session_max);
	}

	if (first_deny != NULL) {
		deny_init(d, d->app);
		d->rule = first_deny->id;
		d->reason = first_deny->reason ? first_deny->reason :
		    "Access is denied by the hospital's policy";
	} else if (first_allow != NULL) {
		d->allow = 1;
		d->rule = first_allow->id;
		d->reason = first_allow->reason ? first_allow->reason : "Allowed";
		return;
	} else {
		deny_init(d, d->app);
	}
	d->break_glass = !no_bg && bg_covers(p, &e, app, rq->host);
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
	for (size_t i = 0; i < p->nsods; i++) {
		size_t k = 0;
		while (k < p->sods[i].nroles && eff_has(&e, p->sods[i].roles[k]))
			k++;
		if (k == p->sods[i].nroles)
			return 0;
	}
	for (size_t r = 0; r < p->nroles; r++) {
		if (!eff_has(&e, (int32_t)r))
			continue;
		for (size_t k = 0; k < p->roles[r].nperms; k++) {
			const char *g = p->roles[r].perms[k], *gc = strchr(g, ':');
			size_t glen = (size_t)(gc - g);
			int app_ok = (glen == 1 && g[0] == '*') ||
			    (glen == alen && strncmp(g, permission, alen) == 0);
			int act_ok = strcmp(gc + 1, "*") == 0 || strcmp(gc + 1, colon + 1) == 0;

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
	if (p == NULL || !p->bg.defined)
		return;
	bg->defined = 1;
	bg->max_minutes = p->bg.max_minutes;
	bg->min_reason_chars = p->bg.min_reason_chars;
	bg->mfa_required = p->bg.mfa_required;
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
		if (!eff_has(&e, (int32_t)r))
			continue;
		if (n < max) {
			size_t j = n;
			while (j > 0 && strcmp(out[j - 1], p->roles[r].name) > 0) {
				out[j] = out[j - 1];
				j--;
			}
			out[j] = p->roles[r].name;
		}
		n++;
	}
	return n;
}

size_t
policy_user_roles(const struct policy *p, const char *user, const char **out, size_t max)
{
	int u;

	if (p == NULL || (u = pol_map_get(&p->user_map, user)) < 0)
		return 0;
	for (size_t i = 0; i < p->users[u].nroles && i < max; i++)
		out[i] = p->roles[p->users[u].roles[i]].name;
	return p->users[u].nroles;
}

const char *
policy_app_for_service(const struct policy *p, const char *service)
{
	int a;

	if (p == NULL || service == NULL)
		return NULL;
	a = pol_app_of_service(p, service);
	return a >= 0 ? p->apps[a].name : service;
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
	return p && i < p->nroles ? p->roles[i].name : NULL;
}

size_t policy_nrole_sources(const struct policy *p) { return p ? p->nsources : 0; }

void
policy_role_source(const struct policy *p, size_t i, const char **group, const char **role)
{
	*group = *role = NULL;
	if (p == NULL || i >= p->nsources)
		return;
	*group = p->sources[i].group;
	*role = p->roles[p->sources[i].role].name;
}

size_t policy_nusers(const struct policy *p) { return p ? p->nusers : 0; }

const char *
policy_user_name(const struct policy *p, size_t i)
{
	return p && i < p->nusers ? p->users[i].name : NULL;
}

size_t policy_napps(const struct policy *p) { return p ? p->napps : 0; }

const char *
policy_app_name(const struct policy *p, size_t i)
{
	return p && i < p->napps ? p->apps[i].name : NULL;
}

size_t
policy_app_services(const struct policy *p, size_t i, const char **out, size_t max)
{
	if (p == NULL || i >= p->napps)
		return 0;
	for (size_t k = 0; k < p->apps[i].nservices && k < max; k++)
		out[k] = p->apps[i].services[k];
	return p->apps[i].nservices;
}

size_t
policy_role_permissions(const struct policy *p, size_t i, const char **out, size_t max)
{
	if (p == NULL || i >= p->nroles)
		return 0;
	for (size_t k = 0; k < p->roles[i].nperms && k < max; k++)
		out[k] = p->roles[i].perms[k];
	return p->roles[i].nperms;
}

size_t policy_nhostgroups(const struct policy *p) { return p ? p->nhostgroups : 0; }

const char *
policy_hostgroup_name(const struct policy *p, size_t i)
{
	return p && i < p->nhostgroups ? p->hostgroups[i].name : NULL;
}

size_t
policy_hostgroup_patterns(const struct policy *p, size_t i, const char **out, size_t max)
{
	if (p == NULL || i >= p->nhostgroups)
		return 0;
	for (size_t k = 0; k < p->hostgroups[i].npatterns && k < max; k++)
		out[k] = p->hostgroups[i].patterns[k];
	return p->hostgroups[i].npatterns;
}
