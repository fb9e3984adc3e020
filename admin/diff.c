/*
 * diff.c - the analysis behind wardctl policy diff: who gains or loses
 * what from one policy to another.  Every role is asked for every app, on
 * a host sample of each host pattern of either policy (and one host that
 * matches none), at every half-hour of the week, in both policies; then
 * each user's assigned roles, and each role's effective permissions, are
 * compared.  cmd_policy.c prints the list.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ward_policy.h"
#include "diff.h"

/* A host name that the pattern matches: '*' and '?' become 'x', a bracket
 * set its first member. */
static void
sample_host(const char *pat, char *out, size_t n)
{
	size_t k = 0;

	for (const char *q = pat; *q && k + 1 < n; q++) {
		if (*q == '*' || *q == '?') {
			out[k++] = 'x';
		} else if (*q == '[') {
			const char *e = strchr(q, ']');
			out[k++] = q[1] && q[1] != '!' && q[1] != '^' ? q[1] : 'x';
			if (e == NULL)
				break;
			q = e;
		} else {
			out[k++] = *q;
		}
	}
	out[k] = '\0';
}

/* The service standing for each app of NAMES (which holds P's app names)
 * in P: its first service, or the name. */
static void
services_for(const struct policy *p, struct smap *names, const char **out)
{
	int added;

	for (size_t j = 0; j < names->n; j++)
		out[j] = names->keys[j];
	for (size_t i = 0; i < policy_napps(p); i++) {
		size_t j = smap_get(names, policy_app_name(p, i), &added);
		const char *svc[1];
		if (j < names->n && policy_app_services(p, i, svc, 1) > 0)
			out[j] = svc[0];
	}
}

static int
cmp_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Permissions held through ROLE (its own and inherited) in P, sorted, each
 * once, into *OUT (malloc'd; the strings are P's); IDS has room for every
 * role of P.  The count, or (size_t)-1 out of memory. */
static size_t
role_perms(const struct policy *p, const char *role, size_t *ids, const char ***out)
{
	struct policy_request q = { .user = "", .roles = &role, .nroles = 1 };
	size_t neff = policy_effective_role_ids(p, &q, ids, policy_nroles(p)), n = 0, k = 0;
	const char **v;

	for (size_t i = 0; i < neff; i++)
		n += policy_role_permissions(p, ids[i], NULL, 0);
	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return (size_t)-1;
	n = 0;
	for (size_t i = 0; i < neff; i++)
		n += policy_role_permissions(p, ids[i], v + n, SIZE_MAX);
	qsort(v, n, sizeof(*v), cmp_strp);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || strcmp(v[k - 1], v[i]) != 0)
			v[k++] = v[i];
	*out = v;
	return k;
}

#define DIFF_TIMES (7 * 48)   /* the half-hours of a week */

/* What changes from A to B for request RQ (B asked with service SVC_B):
 * 0 nothing, 1 gains access, 2 loses it, 3 obligations, 4 break-glass. */
static int
change_at(const struct policy *a, const struct policy *b, const struct policy_request *rq,
    const char *svc_b)
{
	struct policy_request rb = *rq;
	struct policy_decision da, db;

	rb.service = svc_b;
	policy_decide(a, rq, &da);
	policy_decide(b, &rb, &db);
	if (!da.allow && db.allow)
		return 1;
	if (da.allow && !db.allow)
		return 2;
	if (da.allow && db.allow && (da.mfa_required != db.mfa_required ||
	    da.mfa_grace != db.mfa_grace || da.idle_logoff != db.idle_logoff ||
	    da.session_max != db.session_max))
		return 3;
	if (!da.allow && !db.allow && da.break_glass != db.break_glass)
		return 4;
	return 0;
}

/*
 * The time only reaches a decision through the schedules, so half-hours
 * at which every schedule of A and of B says the same are decided alike:
 * CLS[t] is the first half-hour with the same schedules as t, and only
 * those are asked.  0, or -1 out of memory.
 */
static int
time_classes(const struct policy *a, const struct policy *b, int *cls)
{
	size_t na = policy_schedules_at(a, 0, 0, NULL, 0);
	size_t n = na + policy_schedules_at(b, 0, 0, NULL, 0);
	unsigned char *sig = calloc(DIFF_TIMES, n + 1);
	uint64_t key[DIFF_TIMES];

	if (sig == NULL)
		return -1;
	for (int t = 0; t < DIFF_TIMES; t++) {
		unsigned char *v = sig + (size_t)t * n;
		policy_schedules_at(a, t / 48, t % 48 * 30, v, na);
		policy_schedules_at(b, t / 48, t % 48 * 30, v + na, n - na);
		key[t] = 1469598103934665603ULL;
		for (size_t i = 0; i < n; i++)
			key[t] = (key[t] ^ v[i]) * 1099511628211ULL;
		cls[t] = t;
		for (int u = 0; u < t && cls[t] == t; u++)
			if (cls[u] == u && key[u] == key[t] && memcmp(sig + (size_t)u * n, v, n) == 0)
				cls[t] = u;
	}
	free(sig);
	return 0;
}

/* What the comparison works with. */
struct dwork {
	const struct policy *a, *b;
	struct diff_list *d;
	const char **svc_a, **svc_b;     /* by app: the service asked in A, in B */
	size_t *ids;                     /* room for every role of A and B */
	int cls[DIFF_TIMES];             /* time_classes */
};

/* A new zeroed change at the end of D; NULL out of memory. */
static struct diff_change *
add_change(struct diff_list *d, enum diff_kind kind)
{
	struct diff_change *c;

	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 64;
		struct diff_change *nv = realloc(d->v, nc * sizeof(*nv));

		if (nv == NULL)
			return NULL;
		d->v = nv;
		d->cap = nc;
	}
	c = &d->v[d->n++];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	return c;
}

/* The names of either policy, each once (hashed: a policy may have tens of
 * thousands of roles). */
static int
collect_names(const struct policy *a, const struct policy *b, struct diff_list *d)
{
	int added;

	for (int k = 0; k < 2; k++) {
		const struct policy *p = k ? b : a;
		for (size_t i = 0; i < policy_nroles(p); i++)
			if (smap_get(&d->roles, policy_role_name(p, i), &added) == (size_t)-1)
				return -1;
		for (size_t i = 0; i < policy_napps(p); i++)
			if (smap_get(&d->apps, policy_app_name(p, i), &added) == (size_t)-1)
				return -1;
		for (size_t i = 0; i < policy_nusers(p); i++)
			if (smap_get(&d->users, policy_user_name(p, i), &added) == (size_t)-1)
				return -1;
	}
	return 0;
}

/* Host samples: one name matching each pattern of each host group of
 * either policy, and one matching none. */
static void
host_samples(const struct policy *a, const struct policy *b, struct diff_list *d)
{
	for (int k = 0; k < 2; k++) {
		const struct policy *p = k ? b : a;
		for (size_t g = 0; g < policy_nhostgroups(p); g++) {
			const char *pats[64];
			size_t np = policy_hostgroup_patterns(p, g, pats, 64);
			for (size_t i = 0; i < np && i < 64 && d->nhosts < 63; i++) {
				char *h = d->hosts_buf[d->nhosts];
				int dup = 0;

				sample_host(pats[i], h, sizeof(d->hosts_buf[0]));
				for (size_t j = 0; j < d->nhosts; j++)
					dup |= strcmp(d->hosts[j], h) == 0;
				if (!dup)
					d->hosts[d->nhosts++] = h;
			}
		}
	}
	d->hosts[d->nhosts++] = "ward-diff-other-host";
}

/* Role R, app AP, host sample H at every half-hour of the week, in A and
 * in B: the counts into CH; 0 when nothing changes. */
static int
access_change(const struct dwork *w, size_t r, size_t ap, size_t h, struct diff_change *ch)
{
	int kind[DIFF_TIMES] = { 0 };   /* set at each class's first half-hour */
	int first = -1;

	for (int t = 0; t < DIFF_TIMES; t++) {
		struct policy_request ra = { .user = "",
			.roles = (const char **)&w->d->roles.keys[r], .nroles = 1,
			.service = w->svc_a[ap], .host = w->d->hosts[h],
			.wday = t / 48, .minute = t % 48 * 30 };

		if (w->cls[t] == t)
			kind[t] = change_at(w->a, w->b, &ra, w->svc_b[ap]);
		switch (kind[w->cls[t]]) {
		case 1: ch->gains++; break;
		case 2: ch->losses++; break;
		case 3: ch->obligations++; break;
		case 4: ch->break_glass++; break;
		default: continue;
		}
		if (first < 0)
			first = t;
	}
	if (first < 0)
		return 0;
	ch->first_wday = first / 48;
	ch->first_minute = first % 48 * 30;
	return 1;
}

/* Every role x app x host sample: the access changes. */
static int
diff_access(const struct dwork *w)
{
	struct diff_list *d = w->d;

	for (size_t r = 0; r < d->roles.n; r++) {
		for (size_t ap = 0; ap < d->apps.n; ap++) {
			for (size_t h = 0; h < d->nhosts; h++) {
				struct diff_change ch;

				memset(&ch, 0, sizeof(ch));
				if (!access_change(w, r, ap, h, &ch))
					continue;
				ch.role = d->roles.keys[r];
				ch.app = d->apps.keys[ap];
				ch.host = d->hosts[h];
				if (add_change(d, DIFF_ACCESS) == NULL)
					return -1;
				d->v[d->n - 1] = ch;
			}
		}
	}
	return 0;
}

/* Append the N strings V to D's pool; -1 out of memory. */
static int
pool_add(struct diff_list *d, const char *const *v, size_t n)
{
	if (d->npool + n > d->pool_cap) {
		size_t nc = d->pool_cap ? d->pool_cap * 2 : 256;
		const char **np;

		while (nc < d->npool + n)
			nc *= 2;
		if ((np = realloc(d->pool, nc * sizeof(*np))) == NULL)
			return -1;
		d->pool = np;
		d->pool_cap = nc;
	}
	if (n > 0)
		memcpy(d->pool + d->npool, v, n * sizeof(*v));
	d->npool += n;
	return 0;
}

/* Each user whose assigned roles differ. */
static int
diff_users(const struct policy *a, const struct policy *b, struct diff_list *d)
{
	for (size_t u = 0; u < d->users.n; u++) {
		const char *ra[256], *rb[256];
		size_t na = policy_user_roles(a, d->users.keys[u], ra, 256);
		size_t nb = policy_user_roles(b, d->users.keys[u], rb, 256);
		struct diff_change *ch;
		int same = na == nb;

		for (size_t i = 0; same && i < na && i < 256; i++)
			same = strcmp(ra[i], rb[i]) == 0;
		if (same)
			continue;
		if ((ch = add_change(d, DIFF_USER_ROLES)) == NULL)
			return -1;
		ch->user = d->users.keys[u];
		ch->nold = na < 256 ? na : 256;
		ch->nnew = nb < 256 ? nb : 256;
		ch->roles_at = d->npool;
		if (pool_add(d, ra, ch->nold) != 0 || pool_add(d, rb, ch->nnew) != 0)
			return -1;
	}
	/* the pool is complete: point the changes into it */
	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].kind != DIFF_USER_ROLES)
			continue;
		d->v[i].old_roles = d->pool + d->v[i].roles_at;
		d->v[i].new_roles = d->v[i].old_roles + d->v[i].nold;
	}
	return 0;
}

/* The NX permissions X of ROLE not among the NY (sorted) Y: each a change,
 * GAINED or lost. */
static int
perms_missing(struct diff_list *d, const char *role, const char *const *x, size_t nx,
    const char *const *y, size_t ny, int gained)
{
	struct diff_change *ch;

	for (size_t i = 0, j = 0; i < nx; i++) {
		int c = 1;
		while (j < ny && (c = strcmp(y[j], x[i])) < 0)
			j++;
		if (j < ny && c == 0)
			continue;
		if ((ch = add_change(d, DIFF_PERMISSION)) == NULL)
			return -1;
		ch->role = role;
		ch->permission = x[i];
		ch->gained = gained;
	}
	return 0;
}

/* Effective permissions of each role, old and new: sorted, then merged. */
static int
diff_permissions(const struct dwork *w)
{
	struct diff_list *d = w->d;

	for (size_t r = 0; r < d->roles.n; r++) {
		const char **pa = NULL, **pb = NULL;
		size_t na = role_perms(w->a, d->roles.keys[r], w->ids, &pa), nb;
		int bad;

		nb = na == (size_t)-1 ? na : role_perms(w->b, d->roles.keys[r], w->ids, &pb);
		bad = nb == (size_t)-1 ||
		    perms_missing(d, d->roles.keys[r], pa, na, pb, nb, 0) != 0 ||
		    perms_missing(d, d->roles.keys[r], pb, nb, pa, na, 1) != 0;
		free(pa);
		free(pb);
		if (bad)
			return -1;
	}
	return 0;
}

int
diff_policies(const struct policy *a, const struct policy *b, const char *host,
    struct diff_list *d, char *err, size_t len)
{
	struct dwork w = { .a = a, .b = b, .d = d };
	int r = -1;

	memset(d, 0, sizeof(*d));
	if (collect_names(a, b, d) != 0)
		goto oom;
	w.svc_a = calloc(d->apps.n + 1, sizeof(*w.svc_a));
	w.svc_b = calloc(d->apps.n + 1, sizeof(*w.svc_b));
	w.ids = calloc(policy_nroles(a) + policy_nroles(b) + 1, sizeof(*w.ids));
	if (w.svc_a == NULL || w.svc_b == NULL || w.ids == NULL)
		goto oom;
	services_for(a, &d->apps, w.svc_a);
	services_for(b, &d->apps, w.svc_b);
	if (time_classes(a, b, w.cls) != 0)
		goto oom;
	if (host != NULL)
		d->hosts[d->nhosts++] = host;
	else
		host_samples(a, b, d);
	/* Every role x app x host sample x half-hour of the week, twice. */
	if ((double)d->roles.n * (double)d->apps.n * (double)d->nhosts * 336.0 > 5e7) {
		snprintf(err, len, "%zu roles x %zu apps x %zu host samples is too many to "
		    "compare exhaustively; narrow it with --host H", d->roles.n, d->apps.n,
		    d->nhosts);
		goto out;
	}
	if (diff_access(&w) != 0 || diff_users(a, b, d) != 0 || diff_permissions(&w) != 0)
		goto oom;
	r = 0;
	goto out;
oom:
	snprintf(err, len, "out of memory");
out:
	free(w.svc_a);
	free(w.svc_b);
	free(w.ids);
	return r;
}

void
diff_list_free(struct diff_list *d)
{
	free(d->v);
	free(d->pool);
	smap_free(&d->roles);
	smap_free(&d->apps);
	smap_free(&d->users);
	memset(d, 0, sizeof(*d));
}
