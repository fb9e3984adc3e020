/*
 * lint.c - problems in a policy that loads (wardctl policy check).
 * Conservative: a finding is something a sysadmin should look at; the
 * policy still decides exactly as written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"

static void
finding(size_t *n, policy_finding_fn cb, void *ctx, const struct policy *p, int line,
    const char *msg)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s:%d: %s", p->file, line, msg);
	if (cb)
		cb(ctx, buf);
	(*n)++;
}

static int
schedule_empty(const struct pol_schedule *s)
{
	for (size_t i = 0; i < sizeof(s->bits); i++)
		if (s->bits[i])
			return 0;
	return 1;
}

static int
ids_subset(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
	/* is every element of a in b?  (NULL b = everything) */
	if (b == NULL)
		return 1;
	if (a == NULL)
		return 0;
	for (size_t i = 0; i < na; i++) {
		size_t k = 0;
		while (k < nb && b[k] != a[i])
			k++;
		if (k == nb)
			return 0;
	}
	return 1;
}

static int
hosts_subset(const struct policy *p, const struct pol_rule *a, const struct pol_rule *b)
{
	const struct pol_hostref *ha = pol_hostrefs(p, a->hosts), *hb = pol_hostrefs(p, b->hosts);

	if (hb == NULL)
		return 1;
	if (ha == NULL)
		return 0;
	for (size_t i = 0; i < a->hosts.n; i++) {
		size_t k = 0;
		while (k < b->hosts.n && !(ha[i].group == hb[k].group &&
		    (ha[i].group >= 0 ||
		     strcmp(pol_str(p, ha[i].literal), pol_str(p, hb[k].literal)) == 0)))
			k++;
		if (k == b->hosts.n)
			return 0;
	}
	return 1;
}

static int
time_subset(const struct policy *p, const struct pol_rule *a, const struct pol_rule *b)
{
	if (b->when < 0)
		return 1;
	if (a->when < 0)
		return 0;
	for (size_t i = 0; i < sizeof(p->schedules[0].bits); i++)
		if (p->schedules[a->when].bits[i] & ~p->schedules[b->when].bits[i])
			return 0;
	return 1;
}

size_t
policy_lint(const struct policy *p, policy_finding_fn cb, void *ctx)
{
	size_t n = 0;
	char msg[400];

	if (p == NULL)
		return 0;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct pol_rule *r = &p->rules[i];
		const struct pol_hostref *hosts = pol_hostrefs(p, r->hosts);
		const char *id = pol_str(p, r->id);

		if (r->when >= 0 && schedule_empty(&p->schedules[r->when])) {
			snprintf(msg, sizeof(msg), "rule '%s' can never match: its schedule is empty", id);
			finding(&n, cb, ctx, p, (int)r->line, msg);
		}
		if (hosts != NULL && pol_hostref_npatterns(p, hosts, r->hosts.n) == 0) {
			snprintf(msg, sizeof(msg), "rule '%s' can never match: its host groups are empty", id);
			finding(&n, cb, ctx, p, (int)r->line, msg);
		}
		if (r->roles.off != POL_NONE && r->roles.n == 0) {
			snprintf(msg, sizeof(msg), "rule '%s' can never match: it lists no roles", id);
			finding(&n, cb, ctx, p, (int)r->line, msg);
		}
		if (r->apps.off != POL_NONE && r->apps.n == 0) {
			snprintf(msg, sizeof(msg), "rule '%s' can never match: it lists no apps", id);
			finding(&n, cb, ctx, p, (int)r->line, msg);
		}
		for (size_t k = 0; hosts != NULL && k < r->hosts.n; k++) {
			const char *lit = pol_str(p, hosts[k].literal);
			if (lit != NULL && strpbrk(lit, "*?[") == NULL && strchr(lit, '-') == NULL &&
			    strchr(lit, '.') == NULL) {
				snprintf(msg, sizeof(msg), "rule '%s': host '%s' is not a host group; "
				    "it is taken as a literal host name (a typo of a group?)", id, lit);
				finding(&n, cb, ctx, p, (int)r->line, msg);
			}
		}
		if (r->deny)
			continue;
		for (size_t j = 0; j < p->nrules; j++) {
			const struct pol_rule *d = &p->rules[j];
			if (!d->deny)
				continue;
			if (ids_subset(pol_ids(p, r->roles), r->roles.n, pol_ids(p, d->roles), d->roles.n) &&
			    ids_subset(pol_ids(p, r->apps), r->apps.n, pol_ids(p, d->apps), d->apps.n) &&
			    hosts_subset(p, r, d) && time_subset(p, r, d)) {
				snprintf(msg, sizeof(msg), "allow rule '%s' is fully shadowed by deny "
				    "rule '%s' (line %d): it can never allow", id, pol_str(p, d->id),
				    (int)d->line);
				finding(&n, cb, ctx, p, (int)r->line, msg);
				break;
			}
		}
	}
	for (size_t u = 0; u < p->nusers; u++) {
		struct policy_request rq = { .user = pol_str(p, p->users[u].name), .service = "" };
		const int32_t *assigned = pol_ids(p, p->users[u].roles);
		for (size_t c = 0; c < p->nsods; c++) {
			const struct pol_sod *s = &p->sods[c];
			const int32_t *sr = pol_ids(p, s->roles);
			size_t k = 0;
			while (k < s->roles.n) {
				/* does the user's effective role set hold sr[k]? */
				int has = 0;
				for (size_t a = 0; a < p->users[u].roles.n && !has; a++)
					has = pol_closure_has(p, assigned[a], sr[k]);
				if (!has)
					break;
				k++;
			}
			if (k == s->roles.n && s->roles.n > 0) {
				snprintf(msg, sizeof(msg), "user '%s' breaks separation of duty %s "
				    "(line %d): %s", rq.user, pol_str(p, s->id), (int)s->line,
				    s->reason != POL_NONE ? pol_str(p, s->reason) : "conflicting roles");
				finding(&n, cb, ctx, p, (int)p->users[u].line, msg);
			}
		}
	}
	return n;
}
