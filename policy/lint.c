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
hosts_subset(const struct pol_rule *a, const struct pol_rule *b)
{
	if (b->hosts == NULL)
		return 1;
	if (a->hosts == NULL)
		return 0;
	for (size_t i = 0; i < a->nhosts; i++) {
		size_t k = 0;
		while (k < b->nhosts && !(a->hosts[i].group == b->hosts[k].group &&
		    (a->hosts[i].group >= 0 ||
		     strcmp(a->hosts[i].literal, b->hosts[k].literal) == 0)))
			k++;
		if (k == b->nhosts)
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

		if (r->when >= 0 && schedule_empty(&p->schedules[r->when])) {
			snprintf(msg, sizeof(msg), "rule '%s' can never match: its schedule is empty", r->id);
			finding(&n, cb, ctx, p, r->line, msg);
		}
		if (r->hosts != NULL && r->nhost_patterns == 0) {
			snprintf(msg, sizeof(msg), "rule '%s' can never match: its host groups are empty", r->id);
			finding(&n, cb, ctx, p, r->line, msg);
		}
		if (r->roles != NULL && r->nroles == 0) {
			snprintf(msg, sizeof(msg), "rule '%s' can never match: it lists no roles", r->id);
			finding(&n, cb, ctx, p, r->line, msg);
		}
		if (r->apps != NULL && r->napps == 0) {
			snprintf(msg, sizeof(msg), "rule '%s' can never match: it lists no apps", r->id);
			finding(&n, cb, ctx, p, r->line, msg);
		}
		for (size_t k = 0; k < r->nhosts; k++) {
			const char *lit = r->hosts[k].literal;
			if (lit != NULL && strpbrk(lit, "*?[") == NULL && strchr(lit, '-') == NULL &&
			    strchr(lit, '.') == NULL) {
				snprintf(msg, sizeof(msg), "rule '%s': host '%s' is not a host group; "
				    "it is taken as a literal host name (a typo of a group?)", r->id, lit);
				finding(&n, cb, ctx, p, r->line, msg);
			}
		}
		if (r->deny)
			continue;
		for (size_t j = 0; j < p->nrules; j++) {
			const struct pol_rule *d = &p->rules[j];
			if (!d->deny)
				continue;
			if (ids_subset(r->roles, r->nroles, d->roles, d->nroles) &&
			    ids_subset(r->apps, r->napps, d->apps, d->napps) &&
			    hosts_subset(r, d) && time_subset(p, r, d)) {
				snprintf(msg, sizeof(msg), "allow rule '%s' is fully shadowed by deny "
				    "rule '%s' (line %d): it can never allow", r->id, d->id, d->line);
				finding(&n, cb, ctx, p, r->line, msg);
				break;
			}
		}
	}
	for (size_t u = 0; u < p->nusers; u++) {
		struct policy_request rq = { .user = p->users[u].name, .service = "" };
		for (size_t c = 0; c < p->nsods; c++) {
			const struct pol_sod *s = &p->sods[c];
			size_t k = 0;
			while (k < s->nroles) {
				/* does the user's effective role set hold s->roles[k]? */
				int has = 0;
				for (size_t a = 0; a < p->users[u].nroles && !has; a++) {
					const struct pol_role *r = &p->roles[p->users[u].roles[a]];
					for (size_t m = 0; m < r->nclosure && !has; m++)
						has = r->closure[m] == s->roles[k];
				}
				if (!has)
					break;
				k++;
			}
			if (k == s->nroles && s->nroles > 0) {
				snprintf(msg, sizeof(msg), "user '%s' breaks separation of duty %s "
				    "(line %d): %s", rq.user, s->id, s->line,
				    s->reason ? s->reason : "conflicting roles");
				finding(&n, cb, ctx, p, p->users[u].line, msg);
			}
		}
	}
	return n;
}
