/*
 * parse.c - policy.conf (libconfig) into the parsed structs of
 * policy_build.h, with "FILE:LINE: message" errors.  The only policy/ file
 * that includes <libconfig.h>.  Longer than the tree's other files on
 * purpose: it is all of libconfig's use, one section per block of
 * policy.conf, and splitting it by block would spread the shared error and
 * name-checking helpers over several files.
 *
 * Rules it keeps:
 *  - Parse once, then decide: every problem is collected and reported as
 *    "FILE:LINE: message"; if there is any, nothing is returned.
 *  - Unknown keys are errors (a typo must never drop a rule's condition).
 *  - Names (roles, apps, host groups, schedules) must be defined before a
 *    rule can use them; inheritance cycles are errors (build.c finds them,
 *    as soon as the roles are read).  Schedule texts: schedule.c.
 *  - "@include" is refused before libconfig sees the text: the policy is one
 *    file, read through the trusted opener.
 *  - The parsed text lives in an arena only until build.c lays it out as the
 *    flat image (policy_internal.h) that decisions and the snapshot use.
 *
 * Over 800 lines: one reader per section of ward-policy(5), each short;
 * the small libconfig readers they share; and the arena, name maps and error
 * list that hold what they read (build.c's closures use the arena and the
 * error list too).  Split further, the libconfig types would leak into a
 * header.
 */
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_build.h"

void *
pol_ar_alloc(struct loader *L, size_t n)
{
	struct src *p = L->p;
	struct src_block *b = p->blocks;
	void *r;

	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (n == 0)
		n = sizeof(max_align_t);
	if (b == NULL || b->cap - b->used < n) {
		size_t cap = n > 65536 ? n : 65536;
		b = calloc(1, sizeof(*b) + cap);
		if (b == NULL) {
			L->oom = 1;
			return NULL;
		}
		b->cap = cap;
		b->next = p->blocks;
		p->blocks = b;
	}
	r = (char *)b->data + b->used;
	b->used += n;
	return r;
}

static char *
ar_strdup(struct loader *L, const char *s)
{
	size_t n = strlen(s) + 1;
	char *r = pol_ar_alloc(L, n);

	if (r != NULL)
		memcpy(r, s, n);
	return r;
}

void
pol_err_at(struct loader *L, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	L->nerr++;
	if (L->err == NULL || L->errlen == 0 || L->errused + 1 >= L->errlen)
		return;
	n = snprintf(L->err + L->errused, L->errlen - L->errused, "%s%s:%d: ",
	    L->errused ? "\n" : "", L->file, line);
	if (n < 0 || (size_t)n >= L->errlen - L->errused) {
		L->errused = L->errlen - 1;
		return;
	}
	L->errused += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(L->err + L->errused, L->errlen - L->errused, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= L->errlen - L->errused)
		L->errused = L->errlen - 1;
	else
		L->errused += (size_t)n;
}

static int
line_of(const config_setting_t *s)
{
	return (int)config_setting_source_line(s);
}

/* ---- string -> index maps ---- */
static int
map_build(struct loader *L, struct src_map *m, size_t n)
{
	size_t cap = 8;

	while (cap < n * 2)
		cap <<= 1;
	m->cap = cap;
	m->keys = pol_ar_alloc(L, cap * sizeof(*m->keys));
	m->vals = pol_ar_alloc(L, cap * sizeof(*m->vals));
	if (m->keys == NULL || m->vals == NULL)
		return -1;
	memset(m->keys, 0, cap * sizeof(*m->keys));
	return 0;
}

/* Insert; returns the existing value when KEY is present, else -1. */
static int
map_put(struct src_map *m, const char *key, int32_t val)
{
	size_t i = (size_t)pol_hash_str(key) & (m->cap - 1);

	while (m->keys[i] != NULL) {
		if (strcmp(m->keys[i], key) == 0)
			return m->vals[i];
		i = (i + 1) & (m->cap - 1);
	}
	m->keys[i] = key;
	m->vals[i] = val;
	return -1;
}

static int
src_map_get(const struct src_map *m, const char *key)
{
	size_t i;

	if (m->cap == 0 || key == NULL)
		return -1;
	i = (size_t)pol_hash_str(key) & (m->cap - 1);
	while (m->keys[i] != NULL) {
		if (strcmp(m->keys[i], key) == 0)
			return m->vals[i];
		i = (i + 1) & (m->cap - 1);
	}
	return -1;
}

/* ---- small readers ---- */

/* Strings of an array or list setting into arena copies. */
static char **
read_strings(struct loader *L, const config_setting_t *s, const char *what,
    size_t *n)
{
	int len, type = config_setting_type(s);
	char **out;

	*n = 0;
	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
		pol_err_at(L, line_of(s), "%s must be a list of strings, like [\"a\", \"b\"]", what);
		return NULL;
	}
	len = config_setting_length(s);
	out = pol_ar_alloc(L, (size_t)(len + 1) * sizeof(*out));
	if (out == NULL)
		return NULL;
	for (int i = 0; i < len; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = e ? config_setting_get_string(e) : NULL;

		if (v == NULL) {
			pol_err_at(L, line_of(e ? e : s), "%s must contain only strings", what);
			return NULL;
		}
		if (v[0] == '\0') {
			pol_err_at(L, line_of(e), "%s: empty name", what);
			return NULL;
		}
		out[i] = ar_strdup(L, v);
	}
	*n = (size_t)len;
	return out;
}

static const char *
get_string(struct loader *L, const config_setting_t *s, const char *what)
{
	const char *v = config_setting_get_string(s);

	if (v == NULL)
		pol_err_at(L, line_of(s), "%s must be a string", what);
	return v;
}

static int
get_seconds(struct loader *L, const config_setting_t *s, const char *what, long *out)
{
	long long v;
	int type = config_setting_type(s);

	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
		pol_err_at(L, line_of(s), "%s must be a whole number of seconds", what);
		return -1;
	}
	v = config_setting_get_int64(s);
	if (v < 0 || v > 10L * 365 * 86400) {
		pol_err_at(L, line_of(s), "%s must be between 0 and 315360000, not %lld", what, v);
		return -1;
	}
	*out = (long)v;
	return 0;
}

static int
get_bool(struct loader *L, const config_setting_t *s, const char *what, int *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		pol_err_at(L, line_of(s), "%s must be true or false", what);
		return -1;
	}
	*out = config_setting_get_bool(s);
	return 0;
}

static int
get_mfa(struct loader *L, const config_setting_t *s, int *required)
{
	const char *v = get_string(L, s, "mfa");

	if (v == NULL)
		return -1;
	if (strcmp(v, "required") == 0)
		*required = 1;
	else if (strcmp(v, "not_required") == 0)
		*required = 0;
	else {
		pol_err_at(L, line_of(s), "mfa must be \"required\" or \"not_required\", not \"%s\"", v);
		return -1;
	}
	return 0;
}

/* Each member of group/list element S must be one of KEYS. */
static void
check_keys(struct loader *L, const config_setting_t *s, const char *where,
    const char *const *keys)
{
	int n = config_setting_length(s);

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *name = m ? config_setting_name(m) : NULL;
		int ok = 0;

		if (name == NULL)
			continue;
		for (size_t k = 0; keys[k] != NULL; k++)
			if (strcmp(keys[k], name) == 0)
				ok = 1;
		if (!ok)
			pol_err_at(L, line_of(m), "%s: unknown key '%s'", where, name);
	}
}

/* Resolve role names; unknown ones are errors. */
static int32_t *
resolve_roles(struct loader *L, const config_setting_t *s, const char *what,
    size_t *n)
{
	char **names = read_strings(L, s, what, n);
	int32_t *ids;

	if (names == NULL)
		return NULL;
	ids = pol_ar_alloc(L, (*n + 1) * sizeof(*ids));
	if (ids == NULL)
		return NULL;
	for (size_t i = 0; i < *n; i++) {
		ids[i] = src_map_get(&L->p->role_map, names[i]);
		if (ids[i] < 0) {
			pol_err_at(L, line_of(s), "%s: unknown role '%s'", what, names[i]);
			return NULL;
		}
	}
	return ids;
}

/* ---- sections ---- */

static void
load_roles(struct loader *L, const config_setting_t *roles)
{
	static const char *const keys[] = { "inherits", "permissions", NULL };
	struct src *p = L->p;
	int n;

	if (roles == NULL) {
		map_build(L, &p->role_map, 0);
		return;
	}
	if (!config_setting_is_group(roles)) {
		pol_err_at(L, line_of(roles), "roles must be a group: roles = { nurse = { }; };");
		map_build(L, &p->role_map, 0);
		return;
	}
	n = config_setting_length(roles);
	if (n > POL_MAX_ROLES) {
		pol_err_at(L, line_of(roles), "too many roles (%d, at most %d)", n, POL_MAX_ROLES);
		n = 0;
	}
	p->roles = pol_ar_alloc(L, (size_t)(n + 1) * sizeof(*p->roles));
	if (p->roles == NULL || map_build(L, &p->role_map, (size_t)n) != 0)
		return;
	memset(p->roles, 0, (size_t)(n + 1) * sizeof(*p->roles));
	for (int i = 0; i < n; i++) {
		const config_setting_t *r = config_setting_get_elem(roles, (unsigned)i);
		p->roles[i].name = ar_strdup(L, config_setting_name(r));
		p->roles[i].line = line_of(r);
		if (p->roles[i].name == NULL)
			return;
		map_put(&p->role_map, p->roles[i].name, i);
	}
	p->nroles = (size_t)n;
	for (int i = 0; i < n; i++) {
		const config_setting_t *r = config_setting_get_elem(roles, (unsigned)i);
		const config_setting_t *s;
		char where[200];

		snprintf(where, sizeof(where), "role '%s'", p->roles[i].name);
		if (!config_setting_is_group(r)) {
			pol_err_at(L, line_of(r), "%s must be a group, like %s = { };", where,
			    p->roles[i].name);
			continue;
		}
		check_keys(L, r, where, keys);
		if ((s = config_setting_get_member(r, "inherits")) != NULL)
			p->roles[i].inherits = resolve_roles(L, s, "inherits",
			    &p->roles[i].ninherits);
		if ((s = config_setting_get_member(r, "permissions")) != NULL) {
			p->roles[i].perms = read_strings(L, s, "permissions",
			    &p->roles[i].nperms);
			for (size_t k = 0; k < p->roles[i].nperms; k++) {
				const char *perm = p->roles[i].perms[k];
				const char *colon = strchr(perm, ':');
				if (colon == NULL || colon == perm || colon[1] == '\0' ||
				    strchr(colon + 1, ':') != NULL)
					pol_err_at(L, line_of(s), "permission \"%s\" must be "
					    "app:action (\"*\" allowed on either side)", perm);
			}
		}
	}
}

static void
load_apps(struct loader *L, const config_setting_t *apps)
{
	struct src *p = L->p;
	int n = 0;
	size_t nservices = 0;

	if (apps != NULL && !config_setting_is_group(apps)) {
		pol_err_at(L, line_of(apps), "apps must be a group: apps = { ehr = [\"ehr-login\"]; };");
		apps = NULL;
	}
	if (apps != NULL)
		n = config_setting_length(apps);
	p->apps = pol_ar_alloc(L, (size_t)(n + 1) * sizeof(*p->apps));
	if (p->apps == NULL || map_build(L, &p->app_map, (size_t)n) != 0)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *a = config_setting_get_elem(apps, (unsigned)i);
		struct src_app *app = &p->apps[i];

		app->name = ar_strdup(L, config_setting_name(a));
		app->defined = 1;
		app->services = read_strings(L, a, "app services", &app->nservices);
		if (app->name == NULL)
			return;
		map_put(&p->app_map, app->name, i);
		nservices += app->nservices;
	}
	p->napps = p->ndefined_apps = (size_t)n;
	if (map_build(L, &p->service_map, nservices) != 0)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *a = config_setting_get_elem(apps, (unsigned)i);
		for (size_t k = 0; k < p->apps[i].nservices; k++) {
			int prev = map_put(&p->service_map, p->apps[i].services[k], i);
			if (prev >= 0 && prev != i)
				pol_err_at(L, line_of(a), "service \"%s\" is listed by apps '%s' and '%s'",
				    p->apps[i].services[k], p->apps[prev].name, p->apps[i].name);
		}
	}
}

static void
load_hosts(struct loader *L, const config_setting_t *hosts)
{
	struct src *p = L->p;
	int n = 0;

	if (hosts != NULL && !config_setting_is_group(hosts)) {
		pol_err_at(L, line_of(hosts), "hosts must be a group: hosts = { icu = [\"icu-ws-*\"]; };");
		hosts = NULL;
	}
	if (hosts != NULL)
		n = config_setting_length(hosts);
	p->hostgroups = pol_ar_alloc(L, (size_t)(n + 1) * sizeof(*p->hostgroups));
	if (p->hostgroups == NULL || map_build(L, &p->hostgroup_map, (size_t)n) != 0)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *h = config_setting_get_elem(hosts, (unsigned)i);
		struct src_hostgroup *g = &p->hostgroups[i];

		g->name = ar_strdup(L, config_setting_name(h));
		g->line = line_of(h);
		g->patterns = read_strings(L, h, "host patterns", &g->npatterns);
		if (g->name == NULL)
			return;
		map_put(&p->hostgroup_map, g->name, i);
	}
	p->nhostgroups = (size_t)n;
}

static void
load_schedules(struct loader *L, const config_setting_t *sch, size_t ninline)
{
	struct src *p = L->p;
	int n = 0;

	if (sch != NULL && !config_setting_is_group(sch)) {
		pol_err_at(L, line_of(sch), "schedules must be a group: schedules = { day = \"Mon-Fri 07:00-19:00\"; };");
		sch = NULL;
	}
	if (sch != NULL)
		n = config_setting_length(sch);
	/* room for the inline schedules of rules and break_glass too */
	p->schedules = pol_ar_alloc(L, ((size_t)n + ninline + 1) * sizeof(*p->schedules));
	if (p->schedules == NULL || map_build(L, &p->schedule_map, (size_t)n) != 0)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(sch, (unsigned)i);
		struct src_schedule *sc = &p->schedules[i];
		const char *text = get_string(L, s, "schedule");

		sc->name = ar_strdup(L, config_setting_name(s));
		sc->line = line_of(s);
		if (sc->name == NULL)
			return;
		map_put(&p->schedule_map, sc->name, i);
		if (text != NULL)
			pol_parse_schedule(L, sc->line, text, sc);
	}
	p->nschedules = (size_t)n;
}

/* Host entries: a defined group name, else a literal glob pattern. */
static int
load_hostrefs(struct loader *L, const config_setting_t *s, struct src_hostref **out,
    size_t *nout, char ***pats, size_t *npats)
{
	struct src *p = L->p;
	size_t n, total = 0;
	char **names = read_strings(L, s, "hosts", &n);
	struct src_hostref *h;

	if (names == NULL)
		return -1;
	h = pol_ar_alloc(L, (n + 1) * sizeof(*h));
	if (h == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		h[i].group = src_map_get(&p->hostgroup_map, names[i]);
		h[i].literal = h[i].group < 0 ? names[i] : NULL;
		total += h[i].group < 0 ? 1 : p->hostgroups[h[i].group].npatterns;
	}
	*pats = pol_ar_alloc(L, (total + 1) * sizeof(**pats));
	if (*pats == NULL)
		return -1;
	*npats = 0;
	for (size_t i = 0; i < n; i++) {
		if (h[i].group < 0) {
			(*pats)[(*npats)++] = h[i].literal;
			continue;
		}
		for (size_t k = 0; k < p->hostgroups[h[i].group].npatterns; k++)
			(*pats)[(*npats)++] = p->hostgroups[h[i].group].patterns[k];
	}
	*out = h;
	*nout = n;
	return 0;
}

/* App names of a rule or break_glass; "*" anywhere means any app (NULL). */
static int
load_apprefs(struct loader *L, const config_setting_t *s, int32_t **out, size_t *nout)
{
	struct src *p = L->p;
	size_t n;
	char **names = read_strings(L, s, "apps", &n);
	int32_t *ids;

	if (names == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "*") == 0) {
			*out = NULL;
			*nout = 0;
			return 0;
		}
	}
	ids = pol_ar_alloc(L, (n + 1) * sizeof(*ids));
	if (ids == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		ids[i] = src_map_get(&p->app_map, names[i]);
		if (ids[i] < 0) {
			pol_err_at(L, line_of(s), "unknown app '%s' (define it in apps, with "
			    "its PAM services)", names[i]);
			return -1;
		}
	}
	*out = ids;
	*nout = n;
	return 0;
}

static int32_t
load_when(struct loader *L, const config_setting_t *s)
{
	struct src *p = L->p;
	const char *text = get_string(L, s, "when");
	int32_t idx;
	struct src_schedule *sc;

	if (text == NULL || p->schedules == NULL)
		return -1;
	idx = src_map_get(&p->schedule_map, text);
	if (idx >= 0)
		return idx;
	/* Not a schedule name: an inline schedule must have a time in it. */
	if (strchr(text, ':') == NULL) {
		pol_err_at(L, line_of(s), "unknown schedule '%s'", text);
		return -1;
	}
	sc = &p->schedules[p->nschedules];
	memset(sc, 0, sizeof(*sc));
	sc->line = line_of(s);
	if (pol_parse_schedule(L, sc->line, text, sc) != 0)
		return -1;
	return (int32_t)p->nschedules++;
}

static void
load_rules(struct loader *L, const config_setting_t *rules)
{
	static const char *const keys[] = { "id", "effect", "roles", "apps", "hosts",
		"when", "reason", "mfa", "mfa_grace", "idle_logoff", "session_max",
		"break_glass", NULL };
	struct src *p = L->p;
	struct src_map ids;
	int n;

	if (rules == NULL)
		return;
	if (!config_setting_is_list(rules)) {
		pol_err_at(L, line_of(rules), "rules must be a list: rules = ( { id = ...; }, ... );");
		return;
	}
	n = config_setting_length(rules);
	p->rules = pol_ar_alloc(L, (size_t)(n + 1) * sizeof(*p->rules));
	if (p->rules == NULL || map_build(L, &ids, (size_t)n) != 0)
		return;
	memset(p->rules, 0, (size_t)(n + 1) * sizeof(*p->rules));
	for (int i = 0; i < n; i++) {
		const config_setting_t *r = config_setting_get_elem(rules, (unsigned)i);
		struct src_rule *ru = &p->rules[p->nrules];
		const config_setting_t *s;
		const char *v;
		char where[200];
		int prev;

		ru->line = line_of(r);
		ru->when = -1;
		ru->mfa_required = 1;
		ru->mfa_grace = ru->idle_logoff = ru->session_max = -1;
		ru->bg_overridable = 1;
		if (!config_setting_is_group(r)) {
			pol_err_at(L, ru->line, "each rule must be a group: { id = \"...\"; effect = \"allow\"; ... }");
			continue;
		}
		s = config_setting_get_member(r, "id");
		v = s ? get_string(L, s, "id") : NULL;
		if (s == NULL)
			pol_err_at(L, ru->line, "rule without an id");
		if (v == NULL)
			continue;
		ru->id = ar_strdup(L, v);
		if (ru->id == NULL)
			return;
		snprintf(where, sizeof(where), "rule '%s'", ru->id);
		check_keys(L, r, where, keys);
		prev = map_put(&ids, ru->id, i);
		if (prev >= 0)
			pol_err_at(L, ru->line, "duplicate rule id '%s' (first at line %d)",
			    ru->id, p->rules[prev].line);
		s = config_setting_get_member(r, "effect");
		v = s ? get_string(L, s, "effect") : NULL;
		if (s == NULL)
			pol_err_at(L, ru->line, "%s: effect missing (\"allow\" or \"deny\")", where);
		else if (v != NULL && strcmp(v, "deny") == 0)
			ru->deny = 1;
		else if (v != NULL && strcmp(v, "allow") != 0)
			pol_err_at(L, line_of(s), "%s: effect must be \"allow\" or \"deny\", not \"%s\"",
			    where, v);
		if ((s = config_setting_get_member(r, "roles")) != NULL)
			ru->roles = resolve_roles(L, s, "roles", &ru->nroles);
		if ((s = config_setting_get_member(r, "apps")) != NULL)
			load_apprefs(L, s, &ru->apps, &ru->napps);
		if ((s = config_setting_get_member(r, "hosts")) != NULL)
			load_hostrefs(L, s, &ru->hosts, &ru->nhosts, &ru->host_patterns,
			    &ru->nhost_patterns);
		if ((s = config_setting_get_member(r, "when")) != NULL)
			ru->when = load_when(L, s);
		if ((s = config_setting_get_member(r, "reason")) != NULL &&
		    (v = get_string(L, s, "reason")) != NULL)
			ru->reason = ar_strdup(L, v);
		if ((s = config_setting_get_member(r, "mfa")) != NULL)
			get_mfa(L, s, &ru->mfa_required);
		if ((s = config_setting_get_member(r, "mfa_grace")) != NULL)
			get_seconds(L, s, "mfa_grace", &ru->mfa_grace);
		if ((s = config_setting_get_member(r, "idle_logoff")) != NULL)
			get_seconds(L, s, "idle_logoff", &ru->idle_logoff);
		if ((s = config_setting_get_member(r, "session_max")) != NULL)
			get_seconds(L, s, "session_max", &ru->session_max);
		if ((s = config_setting_get_member(r, "break_glass")) != NULL)
			get_bool(L, s, "break_glass", &ru->bg_overridable);
		if (!ru->deny && config_setting_get_member(r, "break_glass") != NULL)
			pol_err_at(L, ru->line, "%s: break_glass applies to deny rules only", where);
		p->nrules++;
	}
}

static void
load_users(struct loader *L, const config_setting_t *users)
{
	static const char *const keys[] = { "user", "roles", NULL };
	struct src *p = L->p;
	int n = 0;

	if (users != NULL && !config_setting_is_list(users)) {
		pol_err_at(L, line_of(users), "users must be a list: users = ( { user = \"alice\"; roles = [\"nurse\"]; } );");
		users = NULL;
	}
	if (users != NULL)
		n = config_setting_length(users);
	p->users = pol_ar_alloc(L, (size_t)(n + 1) * sizeof(*p->users));
	if (p->users == NULL || map_build(L, &p->user_map, (size_t)n) != 0)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *u = config_setting_get_elem(users, (unsigned)i);
		struct src_user *pu = &p->users[p->nusers];
		const config_setting_t *s;
		const char *v;
		int prev;

		pu->line = line_of(u);
		if (!config_setting_is_group(u)) {
			pol_err_at(L, pu->line, "each user must be a group: { user = \"...\"; roles = [...]; }");
			continue;
		}
		check_keys(L, u, "users", keys);
		s = config_setting_get_member(u, "user");
		v = s ? get_string(L, s, "user") : NULL;
		if (s == NULL)
			pol_err_at(L, pu->line, "users entry without a user name");
		if (v == NULL)
			continue;
		pu->name = ar_strdup(L, v);
		if (pu->name == NULL)
			return;
		if ((s = config_setting_get_member(u, "roles")) != NULL)
			pu->roles = resolve_roles(L, s, "roles", &pu->nroles);
		prev = map_put(&p->user_map, pu->name, (int32_t)p->nusers);
		if (prev >= 0)
			pol_err_at(L, pu->line, "user '%s' is listed twice (first at line %d)",
			    pu->name, p->users[prev].line);
		p->nusers++;
	}
}

static void
load_sources(struct loader *L, const config_setting_t *src)
{
	static const char *const keys[] = { "group", "role", NULL };
	struct src *p = L->p;
	int n;

	if (src == NULL)
		return;
	if (!config_setting_is_list(src)) {
		pol_err_at(L, line_of(src), "role_sources must be a list of { group = \"DN\"; role = \"name\"; }");
		return;
	}
	n = config_setting_length(src);
	p->sources = pol_ar_alloc(L, (size_t)(n + 1) * sizeof(*p->sources));
	if (p->sources == NULL)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(src, (unsigned)i);
		const config_setting_t *g, *r;
		const char *gv, *rv;
		struct src_source *ps = &p->sources[p->nsources];

		ps->line = line_of(e);
		if (!config_setting_is_group(e)) {
			pol_err_at(L, ps->line, "role_sources entries must be groups");
			continue;
		}
		check_keys(L, e, "role_sources", keys);
		g = config_setting_get_member(e, "group");
		r = config_setting_get_member(e, "role");
		if (g == NULL || r == NULL) {
			pol_err_at(L, ps->line, "role_sources entry needs group and role");
			continue;
		}
		gv = get_string(L, g, "group");
		rv = get_string(L, r, "role");
		if (gv == NULL || rv == NULL)
			continue;
		ps->group = ar_strdup(L, gv);
		ps->role = src_map_get(&p->role_map, rv);
		if (ps->role < 0) {
			pol_err_at(L, line_of(r), "role_sources: unknown role '%s'", rv);
			continue;
		}
		p->nsources++;
	}
}

static void
load_sod(struct loader *L, const config_setting_t *sod)
{
	static const char *const keys[] = { "roles", "reason", NULL };
	struct src *p = L->p;
	int n;

	if (sod == NULL)
		return;
	if (!config_setting_is_list(sod)) {
		pol_err_at(L, line_of(sod), "separation_of_duty must be a list of { roles = [...]; reason = \"...\"; }");
		return;
	}
	n = config_setting_length(sod);
	p->sods = pol_ar_alloc(L, (size_t)(n + 1) * sizeof(*p->sods));
	if (p->sods == NULL)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(sod, (unsigned)i);
		const config_setting_t *s;
		struct src_sod *c = &p->sods[p->nsods];
		char id[32];
		const char *v;

		c->line = line_of(e);
		if (!config_setting_is_group(e)) {
			pol_err_at(L, c->line, "separation_of_duty entries must be groups");
			continue;
		}
		check_keys(L, e, "separation_of_duty", keys);
		snprintf(id, sizeof(id), "sod-%d", i + 1);
		c->id = ar_strdup(L, id);
		s = config_setting_get_member(e, "roles");
		if (s == NULL) {
			pol_err_at(L, c->line, "separation_of_duty entry needs roles");
			continue;
		}
		c->roles = resolve_roles(L, s, "separation_of_duty roles", &c->nroles);
		if (c->roles != NULL && c->nroles < 2)
			pol_err_at(L, line_of(s), "separation_of_duty needs at least two roles");
		if ((s = config_setting_get_member(e, "reason")) != NULL &&
		    (v = get_string(L, s, "reason")) != NULL)
			c->reason = ar_strdup(L, v);
		p->nsods++;
	}
}

static void
load_break_glass(struct loader *L, const config_setting_t *bg)
{
	static const char *const keys[] = { "roles", "apps", "hosts", "max_minutes",
		"min_reason_chars", "mfa", NULL };
	struct src_bg *b = &L->p->bg;
	const config_setting_t *s;

	if (bg == NULL)
		return;
	b->line = line_of(bg);
	if (!config_setting_is_group(bg)) {
		pol_err_at(L, b->line, "break_glass must be a group");
		return;
	}
	check_keys(L, bg, "break_glass", keys);
	b->defined = 1;
	b->max_minutes = 60;
	b->min_reason_chars = 10;
	b->mfa_required = 1;
	if ((s = config_setting_get_member(bg, "roles")) != NULL)
		b->roles = resolve_roles(L, s, "break_glass roles", &b->nroles);
	if ((s = config_setting_get_member(bg, "apps")) != NULL)
		load_apprefs(L, s, &b->apps, &b->napps);
	if ((s = config_setting_get_member(bg, "hosts")) != NULL)
		load_hostrefs(L, s, &b->hosts, &b->nhosts, &b->host_patterns,
		    &b->nhost_patterns);
	if ((s = config_setting_get_member(bg, "max_minutes")) != NULL &&
	    get_seconds(L, s, "max_minutes", &b->max_minutes) == 0 &&
	    (b->max_minutes < 1 || b->max_minutes > 1440))
		pol_err_at(L, line_of(s), "break_glass max_minutes must be 1 to 1440");
	if ((s = config_setting_get_member(bg, "min_reason_chars")) != NULL &&
	    get_seconds(L, s, "min_reason_chars", &b->min_reason_chars) == 0 &&
	    b->min_reason_chars > 200)
		pol_err_at(L, line_of(s), "break_glass min_reason_chars must be at most 200");
	if ((s = config_setting_get_member(bg, "mfa")) != NULL)
		get_mfa(L, s, &b->mfa_required);
}

static size_t
count_inline_when(const config_setting_t *rules)
{
	size_t n = 0;
	int len;

	if (rules == NULL || !config_setting_is_list(rules))
		return 0;
	len = config_setting_length(rules);
	for (int i = 0; i < len; i++) {
		const config_setting_t *r = config_setting_get_elem(rules, (unsigned)i);
		if (r != NULL && config_setting_is_group(r) &&
		    config_setting_get_member(r, "when") != NULL)
			n++;
	}
	return n;
}

void
pol_src_free(struct src *p)
{
	struct src_block *b, *next;

	if (p == NULL)
		return;
	for (b = p->blocks; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(p);
}

/*
 * The steps in the order their errors are reported: roles first, and their
 * closures as soon as the roles read cleanly (a closure needs every inherited
 * role resolved); then the sections that name roles, apps, hosts and
 * schedules.
 */
int
pol_parse(struct loader *L, const char *text)
{
	static const char *const top_keys[] = { "roles", "role_sources", "users", "apps",
		"hosts", "schedules", "rules", "separation_of_duty", "break_glass", NULL };
	config_t cfg;
	const config_setting_t *root;
	int r = -1;

	config_init(&cfg);
	/*
	 * libconfig 1.5 honours "@include FILE" at the start of a line and reads
	 * FILE with fopen: no symlink, owner or mode check, and text the policy
	 * version would not cover.  Refused before parsing.
	 */
	{
		int line = 1;

		for (const char *q = text; *q != '\0'; line++) {
			q += strspn(q, " \t");
			if (strncmp(q, "@include", 8) == 0) {
				pol_err_at(L, line, "@include is not allowed (the policy is one file, "
				    "read through the trusted opener)");
				goto out;
			}
			if ((q = strchr(q, '\n')) == NULL)
				break;
			q++;
		}
	}
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		pol_err_at(L, config_error_line(&cfg), "%s", config_error_text(&cfg));
		goto out;
	}
	root = config_root_setting(&cfg);
	check_keys(L, root, "policy", top_keys);
	L->p->file = ar_strdup(L, L->file);
	load_roles(L, config_setting_get_member(root, "roles"));
	if (L->nerr == 0)
		pol_build_closures(L);
	load_apps(L, config_setting_get_member(root, "apps"));
	load_hosts(L, config_setting_get_member(root, "hosts"));
	load_schedules(L, config_setting_get_member(root, "schedules"),
	    count_inline_when(config_setting_get_member(root, "rules")));
	load_sources(L, config_setting_get_member(root, "role_sources"));
	load_users(L, config_setting_get_member(root, "users"));
	load_rules(L, config_setting_get_member(root, "rules"));
	load_sod(L, config_setting_get_member(root, "separation_of_duty"));
	load_break_glass(L, config_setting_get_member(root, "break_glass"));
	if (L->oom) {
		pol_err_at(L, 0, "out of memory");
		goto out;
	}
	if (L->nerr == 0)
		r = 0;
out:
	config_destroy(&cfg);
	return r;
}
