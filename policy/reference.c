/*
 * reference.c - the reference evaluator, and explanations.
 *
 * A deliberately plain second implementation of ward-policy(5)'s semantics: it
 * walks every rule in file order, finds effective roles by following
 * `inherits` (not the precomputed closures), maps services by scanning the
 * apps, expands host groups at evaluation time and reads schedules from
 * their day/time spans (not the week bitmap).  The differential test
 * requires its decisions to equal policy_decide's.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_internal.h"

const char *
policy_elem_name(enum policy_elem e)
{
	switch (e) {
	case POLICY_ELEM_ROLE: return "role";
	case POLICY_ELEM_APP: return "app";
	case POLICY_ELEM_HOST: return "host";
	case POLICY_ELEM_TIME: return "time";
	case POLICY_ELEM_SOD: return "sod";
	default: return "none";
	}
}

int
pol_span_contains(const struct pol_span *sp, size_t n, int wday, int minute)
{
	int yesterday = (wday + 6) % 7;

	if (wday < 0 || wday > 6 || minute < 0 || minute >= 1440)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (sp[i].start < sp[i].end) {
			if ((sp[i].days & (1u << wday)) && minute >= sp[i].start &&
			    minute < sp[i].end)
				return 1;
		} else {
			/* crosses midnight: the evening of a listed day, or the
			 * morning after one */
			if ((sp[i].days & (1u << wday)) && minute >= sp[i].start)
				return 1;
			if ((sp[i].days & (1u << yesterday)) && minute < sp[i].end)
				return 1;
		}
	}
	return 0;
}

int
pol_hostref_match(const struct policy *p, const struct pol_hostref *h, size_t n,
    const char *host)
{
	if (host == NULL || host[0] == '\0')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (h[i].group < 0) {
			if (fnmatch(pol_str(p, h[i].literal), host, 0) == 0)
				return 1;
			continue;
		}
		const struct pol_hostgroup *g = &p->hostgroups[h[i].group];
		for (size_t k = 0; k < g->patterns.n; k++)
			if (fnmatch(pol_stri(p, g->patterns, k), host, 0) == 0)
				return 1;
	}
	return 0;
}

/* Effective roles as a 0/1 array, by walking inherits from each assigned role. */
static unsigned char *
ref_roles(const struct policy *p, const struct policy_request *rq)
{
	unsigned char *held = calloc(p->nroles + 1, 1);
	int32_t *stack = calloc(p->nroles + 1, sizeof(*stack));
	size_t ns = 0;

	if (held == NULL || stack == NULL) {
		free(held);
		free(stack);
		return NULL;
	}
	if (rq->roles != NULL) {
		for (size_t i = 0; i < rq->nroles; i++)
			for (size_t r = 0; r < p->nroles; r++)
				if (rq->roles[i] && strcmp(pol_name(p, p->roles[r].name), rq->roles[i]) == 0 &&
				    !held[r]) {
					held[r] = 1;
					stack[ns++] = (int32_t)r;
				}
	} else if (rq->user != NULL) {
		for (size_t u = 0; u < p->nusers; u++) {
			const int32_t *v = pol_idlist(p, p->users[u].roles);

			if (strcmp(pol_name(p, p->users[u].name), rq->user) != 0)
				continue;
			for (size_t i = 0; i < p->users[u].roles.n; i++)
				if (!held[v[i]]) {
					held[v[i]] = 1;
					stack[ns++] = v[i];
				}
		}
	}
	while (ns > 0) {
		int32_t r = stack[--ns];
		const int32_t *inh = pol_idlist(p, p->roles[r].inherits);
		for (size_t k = 0; k < p->roles[r].inherits.n; k++) {
			int32_t q = inh[k];
			if (!held[q]) {
				held[q] = 1;
				stack[ns++] = q;
			}
		}
	}
	free(stack);
	return held;
}

static int
ref_app(const struct policy *p, const char *service)
{
	for (size_t a = 0; a < p->napps; a++)
		for (size_t k = 0; k < p->apps[a].services.n; k++)
			if (strcmp(pol_stri(p, p->apps[a].services, k), service) == 0)
				return (int)a;
	return -1;
}

struct tracer {
	struct policy_trace_entry *t;
	size_t n, cap;
	int oom;
	int brief;                   /* leave out rules for roles not held */
	size_t unheld;               /* how many were left out */
};

static void
trace(struct tracer *tr, const struct policy *p, const struct pol_rule *r, int matched,
    enum policy_elem e, const char *detail)
{
	struct policy_trace_entry *t;

	if (tr == NULL || tr->oom)
		return;
	if (tr->n == tr->cap) {
		/* doubling: a policy of 100,000 rules has as many entries */
		size_t cap = tr->cap ? tr->cap * 2 : 64;

		if ((t = reallocarray(tr->t, cap, sizeof(*t))) == NULL) {
			tr->oom = 1;
			return;
		}
		tr->t = t;
		tr->cap = cap;
	}
	t = &tr->t[tr->n++];
	t->rule = pol_str(p, r->id);
	t->effect = r->deny ? "deny" : "allow";
	t->matched = matched;
	t->failed = e;
	snprintf(t->detail, sizeof(t->detail), "%s", detail);
}

static int
evaluate(const struct policy *p, const struct policy_request *rq,
    struct policy_decision *d, struct tracer *tr)
{
	unsigned char *held;
	int app, denied = 0, allowed = 0, no_bg = 0;
	const char *host = rq->host;
	char detail[160];

	memset(d, 0, sizeof(*d));
	d->rule = "default-deny";
	d->reason = pol_default_deny_reason();
	d->mfa_required = 1;
	d->idle_logoff = d->session_max = POLICY_NO_LIMIT;
	d->app = rq->service ? rq->service : "";
	if (rq->service == NULL)
		return 0;
	app = ref_app(p, rq->service);
	if (app >= 0)
		d->app = pol_str(p, p->apps[app].name);
	held = ref_roles(p, rq);
	if (held == NULL)
		return -1;

	for (size_t i = 0; i < p->nsods; i++) {
		const int32_t *v = pol_idlist(p, p->sods[i].roles);
		int all = 1;
		for (size_t k = 0; k < p->sods[i].roles.n; k++)
			all &= held[v[k]];
		if (all) {
			d->rule = pol_str(p, p->sods[i].id);
			d->reason = p->sods[i].reason != POL_NONE ? pol_str(p, p->sods[i].reason) :
			    "Your roles may not be held together (separation of duty)";
			free(held);
			return 0;
		}
	}

	for (size_t i = 0; i < p->nrules; i++) {
		const struct pol_rule *r = &p->rules[i];
		const int32_t *roles = pol_ids(p, r->roles), *apps = pol_ids(p, r->apps);
		int ok = roles == NULL;

		for (size_t k = 0; !ok && k < r->roles.n; k++)
			ok = held[roles[k]];
		if (!ok) {
			if (tr != NULL && tr->brief) {
				tr->unheld++;    /* counted, not listed */
				continue;
			}
			snprintf(detail, sizeof(detail), "role: holds none of the rule's %zu role(s)",
			    (size_t)r->roles.n);
			trace(tr, p, r, 0, POLICY_ELEM_ROLE, detail);
			continue;
		}
		ok = apps == NULL;
		for (size_t k = 0; !ok && k < r->apps.n; k++)
			ok = app >= 0 && apps[k] == app;
		if (!ok) {
			snprintf(detail, sizeof(detail), "app: %s is not among the rule's apps", d->app);
			trace(tr, p, r, 0, POLICY_ELEM_APP, detail);
			continue;
		}
		if (r->hosts.off != POL_NONE &&
		    !pol_hostref_match(p, pol_hostrefs(p, r->hosts), r->hosts.n, host)) {
			snprintf(detail, sizeof(detail), "host: %s is not among the rule's hosts",
			    host && *host ? host : "(unknown host)");
			trace(tr, p, r, 0, POLICY_ELEM_HOST, detail);
			continue;
		}
		if (r->when >= 0 && !pol_span_contains(pol_spans(p, p->schedules[r->when].spans),
		    p->schedules[r->when].spans.n, rq->wday, rq->minute)) {
			snprintf(detail, sizeof(detail), "time: outside %s",
			    p->schedules[r->when].name != POL_NONE ?
			    pol_str(p, p->schedules[r->when].name) : "its schedule");
			trace(tr, p, r, 0, POLICY_ELEM_TIME, detail);
			continue;
		}
		trace(tr, p, r, 1, POLICY_ELEM_NONE, "matched: role, app, host and time");
		if (r->deny) {
			if (!denied) {
				denied = 1;
				d->rule = pol_str(p, r->id);
				d->reason = r->reason != POL_NONE ? pol_str(p, r->reason) :
				    "Access is denied by the hospital's policy";
			}
			if (!r->bg_overridable)
				no_bg = 1;
			continue;
		}
		if (!allowed) {
			allowed = 1;
			if (!denied) {
				d->rule = pol_str(p, r->id);
				d->reason = r->reason != POL_NONE ? pol_str(p, r->reason) : "Allowed";
			}
			d->mfa_required = r->mfa_required;
			d->mfa_grace = r->mfa_grace < 0 ? 0 : (long)r->mfa_grace;
			d->idle_logoff = r->idle_logoff < 0 ? POLICY_NO_LIMIT : (long)r->idle_logoff;
			d->session_max = r->session_max < 0 ? POLICY_NO_LIMIT : (long)r->session_max;
		} else {
			long g = r->mfa_grace < 0 ? 0 : (long)r->mfa_grace;
			d->mfa_required |= r->mfa_required;
			if (g < d->mfa_grace)
				d->mfa_grace = g;
			if (r->idle_logoff >= 0 && (d->idle_logoff == POLICY_NO_LIMIT ||
			    r->idle_logoff < d->idle_logoff))
				d->idle_logoff = (long)r->idle_logoff;
			if (r->session_max >= 0 && (d->session_max == POLICY_NO_LIMIT ||
			    r->session_max < d->session_max))
				d->session_max = (long)r->session_max;
		}
	}
	if (allowed && !denied) {
		d->allow = 1;
	} else {
		const char *rule = d->rule, *reason = d->reason;
		const char *appname = d->app;
		int bg = 0;

		memset(d, 0, sizeof(*d));
		d->rule = rule;
		d->reason = reason;
		d->app = appname;
		d->mfa_required = 1;
		d->idle_logoff = d->session_max = POLICY_NO_LIMIT;
		if (p->bg->defined && !no_bg) {
			const int32_t *roles = pol_ids(p, p->bg->roles), *apps = pol_ids(p, p->bg->apps);
			int ok = roles == NULL;
			for (size_t k = 0; !ok && k < p->bg->roles.n; k++)
				ok = held[roles[k]];
			bg = ok;
			if (bg && apps != NULL) {
				ok = 0;
				for (size_t k = 0; k < p->bg->apps.n; k++)
					ok |= app >= 0 && apps[k] == app;
				bg = ok;
			}
			if (bg && p->bg->hosts.off != POL_NONE)
				bg = pol_hostref_match(p, pol_hostrefs(p, p->bg->hosts), p->bg->hosts.n,
				    host);
		}
		d->break_glass = bg;
	}
	free(held);
	return tr && tr->oom ? -1 : 0;
}

int
policy_decide_reference(const struct policy *p, const struct policy_request *rq,
    struct policy_decision *d)
{
	if (p == NULL || rq == NULL) {
		memset(d, 0, sizeof(*d));
		d->rule = "default-deny";
		d->reason = pol_default_deny_reason();
		d->app = "";
		return 0;
	}
	return evaluate(p, rq, d, NULL);
}

static int
explain(const struct policy *p, const struct policy_request *rq,
    struct policy_explanation *ex, int brief)
{
	struct tracer tr = { NULL, 0, 0, 0, brief, 0 };
	int r;

	memset(ex, 0, sizeof(*ex));
	if (p == NULL || rq == NULL)
		return -1;
	r = evaluate(p, rq, &ex->decision, &tr);
	ex->trace = tr.t;
	ex->ntrace = tr.n;
	ex->nunheld = tr.unheld;
	if (r != 0) {
		policy_explanation_free(ex);
		return -1;
	}
	return 0;
}

int
policy_explain(const struct policy *p, const struct policy_request *rq,
    struct policy_explanation *ex)
{
	return explain(p, rq, ex, 0);
}

int
policy_explain_brief(const struct policy *p, const struct policy_request *rq,
    struct policy_explanation *ex)
{
	return explain(p, rq, ex, 1);
}

void
policy_explanation_free(struct policy_explanation *ex)
{
	if (ex == NULL)
		return;
	free(ex->trace);
	ex->trace = NULL;
	ex->ntrace = 0;
}
