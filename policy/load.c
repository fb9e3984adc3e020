/*
 * load.c - policy.conf (libconfig) into an immutable struct policy.
 *
 * Rules it keeps:
 *  - Parse once, then decide: every problem is collected and reported as
 *    "FILE:LINE: message"; if there is any, nothing is returned.
 *  - Unknown keys are errors (a typo must never drop a rule's condition).
 *  - Names (roles, apps, host groups, schedules) must be defined before a
 *    rule can use them; inheritance cycles are errors.
 *  - Everything lives in one arena freed by policy_free.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy_internal.h"

#define POLICY_MAX_BYTES (256L * 1024 * 1024)

struct pol_block {
	struct pol_block *next;
	size_t used, cap;
	max_align_t data[];
};

struct loader {
	struct policy *p;
	const char *file;
	char *err;
	size_t errlen, errused;
	int nerr;
	int oom;
};

static void *
ar_alloc(struct loader *L, size_t n)
{
	struct policy *p = L->p;
	struct pol_block *b = p->blocks;
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
	char *r = ar_alloc(L, n);

	if (r != NULL)
		memcpy(r, s, n);
	return r;
}

static void err_at(struct loader *L, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
err_at(struct loader *L, int line, const char *fmt, ...)
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

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static int
map_build(struct loader *L, struct pol_map *m, size_t n)
{
	size_t cap = 8;

	while (cap < n * 2)
		cap <<= 1;
	m->cap = cap;
	m->keys = ar_alloc(L, cap * sizeof(*m->keys));
	m->vals = ar_alloc(L, cap * sizeof(*m->vals));
	if (m->keys == NULL || m->vals == NULL)
		return -1;
	memset(m->keys, 0, cap * sizeof(*m->keys));
	return 0;
}

/* Insert; returns the existing value when KEY is present, else -1. */
static int
map_put(struct pol_map *m, const char *key, int32_t val)
{
	size_t i = (size_t)hash_str(key) & (m->cap - 1);

	while (m->keys[i] != NULL) {
		if (strcmp(m->keys[i], key) == 0)
			return m->vals[i];
		i = (i + 1) & (m->cap - 1);
	}
	m->keys[i] = key;
	m->vals[i] = val;
	return -1;
}

int
pol_map_get(const struct pol_map *m, const char *key)
{
	size_t i;

	if (m->cap == 0 || key == NULL)
		return -1;
	i = (size_t)hash_str(key) & (m->cap - 1);
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
		err_at(L, line_of(s), "%s must be a list of strings, like [\"a\", \"b\"]", what);
		return NULL;
	}
	len = config_setting_length(s);
	out = ar_alloc(L, (size_t)(len + 1) * sizeof(*out));
	if (out == NULL)
		return NULL;
	for (int i = 0; i < len; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = e ? config_setting_get_string(e) : NULL;

		if (v == NULL) {
			err_at(L, line_of(e ? e : s), "%s must contain only strings", what);
			return NULL;
		}
		if (v[0] == '\0') {
			err_at(L, line_of(e), "%s: empty name", what);
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
		err_at(L, line_of(s), "%s must be a string", what);
	return v;
}

static int
get_seconds(struct loader *L, const config_setting_t *s, const char *what, long *out)
{
	long long v;
	int type = config_setting_type(s);

	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
		err_at(L, line_of(s), "%s must be a whole number of seconds", what);
		return -1;
	}
	v = config_setting_get_int64(s);
	if (v < 0 || v > 10L * 365 * 86400) {
		err_at(L, line_of(s), "%s must be between 0 and 315360000, not %lld", what, v);
		return -1;
	}
	*out = (long)v;
	return 0;
}

static int
get_bool(struct loader *L, const config_setting_t *s, const char *what, int *out)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		err_at(L, line_of(s), "%s must be true or false", what);
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
		err_at(L, line_of(s), "mfa must be \"required\" or \"not_required\", not \"%s\"", v);
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
			err_at(L, line_of(m), "%s: unknown key '%s'", where, name);
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
	ids = ar_alloc(L, (*n + 1) * sizeof(*ids));
	if (ids == NULL)
		return NULL;
	for (size_t i = 0; i < *n; i++) {
		ids[i] = pol_map_get(&L->p->role_map, names[i]);
		if (ids[i] < 0) {
			err_at(L, line_of(s), "%s: unknown role '%s'", what, names[i]);
			return NULL;
		}
	}
	return ids;
}

/* ---- schedules ---- */

static const char *const day_names[7] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

static int
parse_day(const char *s, size_t len)
{
	if (len != 3)
		return -1;
	for (int d = 0; d < 7; d++)
		if (strncasecmp(s, day_names[d], 3) == 0)
			return d;
	return -1;
}

static int
parse_hhmm(const char *s, size_t len, int allow_24)
{
	int h, m;

	if (len != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
		return -1;
	return h * 60 + m;
}

/*
 * "Mon-Fri 07:00-19:00, Sat 08:00-12:00": comma-separated parts, each a day
 * or day range (wrapping the week: "Sat-Mon") and a time range; "19:00-07:00"
 * crosses midnight and its morning belongs to the next day.
 */
static int
parse_schedule(struct loader *L, int line, const char *text, struct pol_schedule *sc)
{
	const char *p = text;
	size_t cap = 1;

	for (const char *q = text; *q; q++)
		if (*q == ',')
			cap++;
	sc->spans = ar_alloc(L, cap * sizeof(*sc->spans));
	if (sc->spans == NULL)
		return -1;
	sc->nspans = 0;
	memset(sc->bits, 0, sizeof(sc->bits));
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char part[64];
		char *days, *times, *dash;
		int d1, d2, t1, t2;
		struct pol_span sp = { 0, 0, 0 };

		while (len > 0 && isspace((unsigned char)*p)) {
			p++;
			len--;
		}
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == 0 || len >= sizeof(part)) {
			err_at(L, line, "schedule \"%s\": empty or overlong part", text);
			return -1;
		}
		memcpy(part, p, len);
		part[len] = '\0';
		days = part;
		times = strchr(part, ' ');
		if (times == NULL) {
			err_at(L, line, "schedule \"%s\": \"%s\" needs days and times, "
			    "like \"Mon-Fri 07:00-19:00\"", text, part);
			return -1;
		}
		*times++ = '\0';
		while (*times == ' ')
			times++;
		dash = strchr(days, '-');
		if (dash) {
			d1 = parse_day(days, (size_t)(dash - days));
			d2 = parse_day(dash + 1, strlen(dash + 1));
		} else {
			d1 = d2 = parse_day(days, strlen(days));
		}
		if (d1 < 0 || d2 < 0) {
			err_at(L, line, "schedule \"%s\": bad days \"%s\" (use Mon, Tue, "
			    "Wed, Thu, Fri, Sat, Sun or a range like Mon-Fri)", text, days);
			return -1;
		}
		dash = strchr(times, '-');
		t1 = dash ? parse_hhmm(times, (size_t)(dash - times), 0) : -1;
		t2 = dash ? parse_hhmm(dash + 1, strlen(dash + 1), 1) : -1;
		if (t1 < 0 || t2 < 0) {
			err_at(L, line, "schedule \"%s\": bad times \"%s\" (use HH:MM-HH:MM, "
			    "00:00 to 24:00)", text, times);
			return -1;
		}
		if (t1 == t2 || (t1 == 0 && t2 == 0)) {
			err_at(L, line, "schedule \"%s\": \"%s\" is an empty time range", text, times);
			return -1;
		}
		for (int d = d1;; d = (d + 1) % 7) {
			sp.days |= (uint8_t)(1u << d);
			if (d == d2)
				break;
		}
		sp.start = t1;
		sp.end = t2 == 1440 ? 1440 : t2;
		sc->spans[sc->nspans++] = sp;
		/* the fast path's week bitmap */
		for (int d = 0; d < 7; d++) {
			if (!(sp.days & (1u << d)))
				continue;
			if (sp.start < sp.end) {
				for (int m = sp.start; m < sp.end; m++)
					sc->bits[(d * 1440 + m) / 8] |= (uint8_t)(1u << ((d * 1440 + m) % 8));
			} else {
				for (int m = sp.start; m < 1440; m++)
					sc->bits[(d * 1440 + m) / 8] |= (uint8_t)(1u << ((d * 1440 + m) % 8));
				for (int m = 0; m < sp.end; m++) {
					int w = ((d + 1) % 7) * 1440 + m;
					sc->bits[w / 8] |= (uint8_t)(1u << (w % 8));
				}
			}
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

/* ---- sections ---- */

static void
load_roles(struct loader *L, const config_setting_t *roles)
{
	static const char *const keys[] = { "inherits", "permissions", NULL };
	struct policy *p = L->p;
	int n;

	if (roles == NULL) {
		map_build(L, &p->role_map, 0);
		return;
	}
	if (!config_setting_is_group(roles)) {
		err_at(L, line_of(roles), "roles must be a group: roles = { nurse = { }; };");
		map_build(L, &p->role_map, 0);
		return;
	}
	n = config_setting_length(roles);
	if (n > POL_MAX_ROLES) {
		err_at(L, line_of(roles), "too many roles (%d, at most %d)", n, POL_MAX_ROLES);
		n = 0;
	}
	p->roles = ar_alloc(L, (size_t)(n + 1) * sizeof(*p->roles));
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
			err_at(L, line_of(r), "%s must be a group, like %s = { };", where,
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
					err_at(L, line_of(s), "permission \"%s\" must be "
					    "app:action (\"*\" allowed on either side)", perm);
			}
		}
	}
}

static int
cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

/* Transitive closure of inheritance, with cycle detection (DFS colours). */
static int
closure_visit(struct loader *L, int32_t r, uint8_t *colour, int32_t *stack,
    size_t depth)
{
	struct policy *p = L->p;

	if (colour[r] == 2)
		return 0;
	if (colour[r] == 1) {
		char path[512] = "";
		size_t i = 0, used = 0;

		while (i < depth && stack[i] != r)
			i++;
		for (; i < depth && used < sizeof(path) - 64; i++)
			used += (size_t)snprintf(path + used, sizeof(path) - used, "%s -> ",
			    p->roles[stack[i]].name);
		snprintf(path + used, sizeof(path) - used, "%s", p->roles[r].name);
		err_at(L, p->roles[r].line, "inheritance cycle: %s", path);
		return -1;
	}
	colour[r] = 1;
	stack[depth] = r;
	for (size_t k = 0; k < p->roles[r].ninherits; k++)
		if (closure_visit(L, p->roles[r].inherits[k], colour, stack, depth + 1) != 0)
			return -1;
	colour[r] = 2;
	return 0;
}

static void
build_closures(struct loader *L)
{
	struct policy *p = L->p;
	size_t n = p->nroles;
	uint8_t *colour = calloc(n + 1, 1), *seen = calloc(n + 1, 1);
	int32_t *stack = calloc(n + 1, sizeof(*stack)), *todo = calloc(n + 1, sizeof(*todo));

	if (colour == NULL || seen == NULL || stack == NULL || todo == NULL) {
		L->oom = 1;
		goto out;
	}
	for (size_t r = 0; r < n; r++)
		if (closure_visit(L, (int32_t)r, colour, stack, 0) != 0)
			goto out;
	for (size_t r = 0; r < n; r++) {
		size_t nt = 0, nc = 0;
		int32_t *cl;

		memset(seen, 0, n);
		todo[nt++] = (int32_t)r;
		seen[r] = 1;
		while (nt > 0) {
			int32_t x = todo[--nt];
			nc++;
			for (size_t k = 0; k < p->roles[x].ninherits; k++) {
				int32_t y = p->roles[x].inherits[k];
				if (!seen[y]) {
					seen[y] = 1;
					todo[nt++] = y;
				}
			}
		}
		cl = ar_alloc(L, nc * sizeof(*cl));
		if (cl == NULL)
			goto out;
		nc = 0;
		for (size_t x = 0; x < n; x++)
			if (seen[x])
				cl[nc++] = (int32_t)x;
		qsort(cl, nc, sizeof(*cl), cmp_i32);
		p->roles[r].closure = cl;
		p->roles[r].nclosure = nc;
	}
out:
	free(colour);
	free(seen);
	free(stack);
	free(todo);
}

static void
load_apps(struct loader *L, const config_setting_t *apps)
{
	struct policy *p = L->p;
	int n = 0;
	size_t nservices = 0;

	if (apps != NULL && !config_setting_is_group(apps)) {
		err_at(L, line_of(apps), "apps must be a group: apps = { ehr = [\"ehr-login\"]; };");
		apps = NULL;
	}
	if (apps != NULL)
		n = config_setting_length(apps);
	p->apps = ar_alloc(L, (size_t)(n + 1) * sizeof(*p->apps));
	if (p->apps == NULL || map_build(L, &p->app_map, (size_t)n) != 0)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *a = config_setting_get_elem(apps, (unsigned)i);
		struct pol_app *app = &p->apps[i];

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
				err_at(L, line_of(a), "service \"%s\" is listed by apps '%s' and '%s'",
				    p->apps[i].services[k], p->apps[prev].name, p->apps[i].name);
		}
	}
}

static void
load_hosts(struct loader *L, const config_setting_t *hosts)
{
	struct policy *p = L->p;
	int n = 0;

	if (hosts != NULL && !config_setting_is_group(hosts)) {
		err_at(L, line_of(hosts), "hosts must be a group: hosts = { icu = [\"icu-ws-*\"]; };");
		hosts = NULL;
	}
	if (hosts != NULL)
		n = config_setting_length(hosts);
	p->hostgroups = ar_alloc(L, (size_t)(n + 1) * sizeof(*p->hostgroups));
	if (p->hostgroups == NULL || map_build(L, &p->hostgroup_map, (size_t)n) != 0)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *h = config_setting_get_elem(hosts, (unsigned)i);
		struct pol_hostgroup *g = &p->hostgroups[i];

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
	struct policy *p = L->p;
	int n = 0;

	if (sch != NULL && !config_setting_is_group(sch)) {
		err_at(L, line_of(sch), "schedules must be a group: schedules = { day = \"Mon-Fri 07:00-19:00\"; };");
		sch = NULL;
	}
	if (sch != NULL)
		n = config_setting_length(sch);
	/* room for the inline schedules of rules and break_glass too */
	p->schedules = ar_alloc(L, ((size_t)n + ninline + 1) * sizeof(*p->schedules));
	if (p->schedules == NULL || map_build(L, &p->schedule_map, (size_t)n) != 0)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(sch, (unsigned)i);
		struct pol_schedule *sc = &p->schedules[i];
		const char *text = get_string(L, s, "schedule");

		sc->name = ar_strdup(L, config_setting_name(s));
		sc->line = line_of(s);
		if (sc->name == NULL)
			return;
		map_put(&p->schedule_map, sc->name, i);
		if (text != NULL)
			parse_schedule(L, sc->line, text, sc);
	}
	p->nschedules = (size_t)n;
}

/* Host entries: a defined group name, else a literal glob pattern. */
static int
load_hostrefs(struct loader *L, const config_setting_t *s, struct pol_hostref **out,
    size_t *nout, char ***pats, size_t *npats)
{
	struct policy *p = L->p;
	size_t n, total = 0;
	char **names = read_strings(L, s, "hosts", &n);
	struct pol_hostref *h;

	if (names == NULL)
		return -1;
	h = ar_alloc(L, (n + 1) * sizeof(*h));
	if (h == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		h[i].group = pol_map_get(&p->hostgroup_map, names[i]);
		h[i].literal = h[i].group < 0 ? names[i] : NULL;
		total += h[i].group < 0 ? 1 : p->hostgroups[h[i].group].npatterns;
	}
	*pats = ar_alloc(L, (total + 1) * sizeof(**pats));
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
	struct policy *p = L->p;
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
	ids = ar_alloc(L, (n + 1) * sizeof(*ids));
	if (ids == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		ids[i] = pol_map_get(&p->app_map, names[i]);
		if (ids[i] < 0) {
			err_at(L, line_of(s), "unknown app '%s' (define it in apps, with "
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
	struct policy *p = L->p;
	const char *text = get_string(L, s, "when");
	int32_t idx;
	struct pol_schedule *sc;

	if (text == NULL || p->schedules == NULL)
		return -1;
	idx = pol_map_get(&p->schedule_map, text);
	if (idx >= 0)
		return idx;
	/* Not a schedule name: an inline schedule must have a time in it. */
	if (strchr(text, ':') == NULL) {
		err_at(L, line_of(s), "unknown schedule '%s'", text);
		return -1;
	}
	sc = &p->schedules[p->nschedules];
	memset(sc, 0, sizeof(*sc));
	sc->line = line_of(s);
	if (parse_schedule(L, sc->line, text, sc) != 0)
		return -1;
	return (int32_t)p->nschedules++;
}

static void
load_rules(struct loader *L, const config_setting_t *rules)
{
	static const char *const keys[] = { "id", "effect", "roles", "apps", "hosts",
		"when", "reason", "mfa", "mfa_grace", "idle_logoff", "session_max",
		"break_glass", NULL };
	struct policy *p = L->p;
	struct pol_map ids;
	int n;

	if (rules == NULL)
		return;
	if (!config_setting_is_list(rules)) {
		err_at(L, line_of(rules), "rules must be a list: rules = ( { id = ...; }, ... );");
		return;
	}
	n = config_setting_length(rules);
	p->rules = ar_alloc(L, (size_t)(n + 1) * sizeof(*p->rules));
	if (p->rules == NULL || map_build(L, &ids, (size_t)n) != 0)
		return;
	memset(p->rules, 0, (size_t)(n + 1) * sizeof(*p->rules));
	for (int i = 0; i < n; i++) {
		const config_setting_t *r = config_setting_get_elem(rules, (unsigned)i);
		struct pol_rule *ru = &p->rules[p->nrules];
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
			err_at(L, ru->line, "each rule must be a group: { id = \"...\"; effect = \"allow\"; ... }");
			continue;
		}
		s = config_setting_get_member(r, "id");
		v = s ? get_string(L, s, "id") : NULL;
		if (s == NULL)
			err_at(L, ru->line, "rule without an id");
		if (v == NULL)
			continue;
		ru->id = ar_strdup(L, v);
		if (ru->id == NULL)
			return;
		snprintf(where, sizeof(where), "rule '%s'", ru->id);
		check_keys(L, r, where, keys);
		prev = map_put(&ids, ru->id, i);
		if (prev >= 0)
			err_at(L, ru->line, "duplicate rule id '%s' (first at line %d)",
			    ru->id, p->rules[prev].line);
		s = config_setting_get_member(r, "effect");
		v = s ? get_string(L, s, "effect") : NULL;
		if (s == NULL)
			err_at(L, ru->line, "%s: effect missing (\"allow\" or \"deny\")", where);
		else if (v != NULL && strcmp(v, "deny") == 0)
			ru->deny = 1;
		else if (v != NULL && strcmp(v, "allow") != 0)
			err_at(L, line_of(s), "%s: effect must be \"allow\" or \"deny\", not \"%s\"",
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
			err_at(L, ru->line, "%s: break_glass applies to deny rules only", where);
		p->nrules++;
	}
}

static void
load_users(struct loader *L, const config_setting_t *users)
{
	static const char *const keys[] = { "user", "roles", NULL };
	struct policy *p = L->p;
	int n = 0;

	if (users != NULL && !config_setting_is_list(users)) {
		err_at(L, line_of(users), "users must be a list: users = ( { user = \"alice\"; roles = [\"nurse\"]; } );");
		users = NULL;
	}
	if (users != NULL)
		n = config_setting_length(users);
	p->users = ar_alloc(L, (size_t)(n + 1) * sizeof(*p->users));
	if (p->users == NULL || map_build(L, &p->user_map, (size_t)n) != 0)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *u = config_setting_get_elem(users, (unsigned)i);
		struct pol_user *pu = &p->users[p->nusers];
		const config_setting_t *s;
		const char *v;
		int prev;

		pu->line = line_of(u);
		if (!config_setting_is_group(u)) {
			err_at(L, pu->line, "each user must be a group: { user = \"...\"; roles = [...]; }");
			continue;
		}
		check_keys(L, u, "users", keys);
		s = config_setting_get_member(u, "user");
		v = s ? get_string(L, s, "user") : NULL;
		if (s == NULL)
			err_at(L, pu->line, "users entry without a user name");
		if (v == NULL)
			continue;
		pu->name = ar_strdup(L, v);
		if (pu->name == NULL)
			return;
		if ((s = config_setting_get_member(u, "roles")) != NULL)
			pu->roles = resolve_roles(L, s, "roles", &pu->nroles);
		prev = map_put(&p->user_map, pu->name, (int32_t)p->nusers);
		if (prev >= 0)
			err_at(L, pu->line, "user '%s' is listed twice (first at line %d)",
			    pu->name, p->users[prev].line);
		p->nusers++;
	}
}

static void
load_sources(struct loader *L, const config_setting_t *src)
{
	static const char *const keys[] = { "group", "role", NULL };
	struct policy *p = L->p;
	int n;

	if (src == NULL)
		return;
	if (!config_setting_is_list(src)) {
		err_at(L, line_of(src), "role_sources must be a list of { group = \"DN\"; role = \"name\"; }");
		return;
	}
	n = config_setting_length(src);
	p->sources = ar_alloc(L, (size_t)(n + 1) * sizeof(*p->sources));
	if (p->sources == NULL)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(src, (unsigned)i);
		const config_setting_t *g, *r;
		const char *gv, *rv;
		struct pol_source *ps = &p->sources[p->nsources];

		ps->line = line_of(e);
		if (!config_setting_is_group(e)) {
			err_at(L, ps->line, "role_sources entries must be groups");
			continue;
		}
		check_keys(L, e, "role_sources", keys);
		g = config_setting_get_member(e, "group");
		r = config_setting_get_member(e, "role");
		if (g == NULL || r == NULL) {
			err_at(L, ps->line, "role_sources entry needs group and role");
			continue;
		}
		gv = get_string(L, g, "group");
		rv = get_string(L, r, "role");
		if (gv == NULL || rv == NULL)
			continue;
		ps->group = ar_strdup(L, gv);
		ps->role = pol_map_get(&p->role_map, rv);
		if (ps->role < 0) {
			err_at(L, line_of(r), "role_sources: unknown role '%s'", rv);
			continue;
		}
		p->nsources++;
	}
}

static void
load_sod(struct loader *L, const config_setting_t *sod)
{
	static const char *const keys[] = { "roles", "reason", NULL };
	struct policy *p = L->p;
	int n;

	if (sod == NULL)
		return;
	if (!config_setting_is_list(sod)) {
		err_at(L, line_of(sod), "separation_of_duty must be a list of { roles = [...]; reason = \"...\"; }");
		return;
	}
	n = config_setting_length(sod);
	p->sods = ar_alloc(L, (size_t)(n + 1) * sizeof(*p->sods));
	if (p->sods == NULL)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(sod, (unsigned)i);
		const config_setting_t *s;
		struct pol_sod *c = &p->sods[p->nsods];
		char id[32];
		const char *v;

		c->line = line_of(e);
		if (!config_setting_is_group(e)) {
			err_at(L, c->line, "separation_of_duty entries must be groups");
			continue;
		}
		check_keys(L, e, "separation_of_duty", keys);
		snprintf(id, sizeof(id), "sod-%d", i + 1);
		c->id = ar_strdup(L, id);
		s = config_setting_get_member(e, "roles");
		if (s == NULL) {
			err_at(L, c->line, "separation_of_duty entry needs roles");
			continue;
		}
		c->roles = resolve_roles(L, s, "separation_of_duty roles", &c->nroles);
		if (c->roles != NULL && c->nroles < 2)
			err_at(L, line_of(s), "separation_of_duty needs at least two roles");
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
	struct pol_bg *b = &L->p->bg;
	const config_setting_t *s;

	if (bg == NULL)
		return;
	b->line = line_of(bg);
	if (!config_setting_is_group(bg)) {
		err_at(L, b->line, "break_glass must be a group");
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
		err_at(L, line_of(s), "break_glass max_minutes must be 1 to 1440");
	if ((s = config_setting_get_member(bg, "min_reason_chars")) != NULL &&
	    get_seconds(L, s, "min_reason_chars", &b->min_reason_chars) == 0 &&
	    b->min_reason_chars > 200)
		err_at(L, line_of(s), "break_glass min_reason_chars must be at most 200");
	if ((s = config_setting_get_member(bg, "mfa")) != NULL)
		get_mfa(L, s, &b->mfa_required);
}

static void
build_indexes(struct loader *L)
{
	struct policy *p = L->p;
	size_t nany = 0;

	p->app_rules = ar_alloc(L, (p->napps + 1) * sizeof(*p->app_rules));
	p->napp_rules = ar_alloc(L, (p->napps + 1) * sizeof(*p->napp_rules));
	if (p->app_rules == NULL || p->napp_rules == NULL)
		return;
	memset(p->napp_rules, 0, (p->napps + 1) * sizeof(*p->napp_rules));
	for (size_t i = 0; i < p->nrules; i++) {
		if (p->rules[i].apps == NULL)
			nany++;
		for (size_t k = 0; k < p->rules[i].napps; k++)
			p->napp_rules[p->rules[i].apps[k]]++;
	}
	for (size_t a = 0; a < p->napps; a++) {
		p->app_rules[a] = ar_alloc(L, (p->napp_rules[a] + 1) * sizeof(int32_t));
		if (p->app_rules[a] == NULL)
			return;
		p->napp_rules[a] = 0;
	}
	p->any_app_rules = ar_alloc(L, (nany + 1) * sizeof(int32_t));
	if (p->any_app_rules == NULL)
		return;
	for (size_t i = 0; i < p->nrules; i++) {
		if (p->rules[i].apps == NULL)
			p->any_app_rules[p->nany_app_rules++] = (int32_t)i;
		for (size_t k = 0; k < p->rules[i].napps; k++) {
			int32_t a = p->rules[i].apps[k];
			/* an app listed twice in one rule is indexed once */
			if (p->napp_rules[a] == 0 ||
			    p->app_rules[a][p->napp_rules[a] - 1] != (int32_t)i)
				p->app_rules[a][p->napp_rules[a]++] = (int32_t)i;
		}
	}
}

struct pair_ent {
	uint64_t key;
	int32_t rule;
};

static int
cmp_pair(const void *a, const void *b)
{
	const struct pair_ent *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->rule > y->rule) - (x->rule < y->rule);
}

/* The (role, app) index: each rule under every (role, app) it names. */
static void
build_pair_index(struct loader *L)
{
	struct policy *p = L->p;
	struct pair_ent *e;
	size_t n = 0, k = 0, nkeys = 0, nrev = 0;
	size_t *rev_start = calloc(p->nroles + 2, sizeof(*rev_start));
	int32_t *rev = NULL;

	/* rev[r]: the roles whose closure holds r, i.e. who gets r's rules.
	 * Indexing each rule under those roles lets a decision look up only
	 * the user's assigned roles (expanded), when the index stays small. */
	if (rev_start == NULL) {
		L->oom = 1;
		return;
	}
	for (size_t x = 0; x < p->nroles; x++)
		for (size_t c = 0; c < p->roles[x].nclosure; c++)
			rev_start[p->roles[x].closure[c] + 1]++;
	for (size_t r = 0; r < p->nroles; r++)
		rev_start[r + 1] += rev_start[r];
	nrev = rev_start[p->nroles];
	rev = malloc((nrev + 1) * sizeof(*rev));
	if (rev == NULL) {
		free(rev_start);
		L->oom = 1;
		return;
	}
	{
		size_t *fill = calloc(p->nroles + 1, sizeof(*fill));
		if (fill == NULL) {
			free(rev_start);
			free(rev);
			L->oom = 1;
			return;
		}
		for (size_t x = 0; x < p->nroles; x++)
			for (size_t c = 0; c < p->roles[x].nclosure; c++) {
				int32_t r = p->roles[x].closure[c];
				rev[rev_start[r] + fill[r]++] = (int32_t)x;
			}
		free(fill);
	}
	p->pair_expanded = 1;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct pol_rule *r = &p->rules[i];
		size_t na = r->apps ? r->napps : 1, nr = 0;
		if (r->roles == NULL)
			nr = 1;
		else
			for (size_t a = 0; a < r->nroles; a++)
				nr += rev_start[r->roles[a] + 1] - rev_start[r->roles[a]];
		n += nr * na;
	}
	if (n > POL_MAX_EXPANDED) {
		/* too large to expand: index under the rules' own roles */
		p->pair_expanded = 0;
		n = 0;
		for (size_t i = 0; i < p->nrules; i++)
			n += (p->rules[i].roles ? p->rules[i].nroles : 1) *
			    (p->rules[i].apps ? p->rules[i].napps : 1);
	}
	e = malloc((n + 1) * sizeof(*e));
	if (e == NULL) {
		free(rev_start);
		free(rev);
		L->oom = 1;
		return;
	}
	for (size_t i = 0; i < p->nrules; i++) {
		const struct pol_rule *r = &p->rules[i];
		size_t nr = r->roles ? r->nroles : 1, na = r->apps ? r->napps : 1;
		for (size_t a = 0; a < nr; a++)
			for (size_t b = 0; b < na; b++) {
				int64_t role = r->roles ? r->roles[a] : -1;
				int64_t app = r->apps ? r->apps[b] : -1;
				if (role < 0 || !p->pair_expanded) {
					e[k].key = pol_pair_key(role, app);
					e[k++].rule = (int32_t)i;
					continue;
				}
				for (size_t q = rev_start[role]; q < rev_start[role + 1]; q++) {
					e[k].key = pol_pair_key(rev[q], app);
					e[k++].rule = (int32_t)i;
				}
			}
	}
	free(rev_start);
	free(rev);
	qsort(e, n, sizeof(*e), cmp_pair);
	p->pair_rules = ar_alloc(L, (n + 1) * sizeof(*p->pair_rules));
	for (size_t i = 0; i < n; i++)
		if (i == 0 || e[i].key != e[i - 1].key)
			nkeys++;
	p->pair_cap = 8;
	while (p->pair_cap < nkeys * 2)
		p->pair_cap <<= 1;
	p->pair_keys = ar_alloc(L, p->pair_cap * sizeof(*p->pair_keys));
	p->pair_start = ar_alloc(L, p->pair_cap * sizeof(*p->pair_start));
	p->pair_len = ar_alloc(L, p->pair_cap * sizeof(*p->pair_len));
	if (p->pair_rules == NULL || p->pair_keys == NULL || p->pair_start == NULL ||
	    p->pair_len == NULL) {
		free(e);
		return;
	}
	memset(p->pair_keys, 0, p->pair_cap * sizeof(*p->pair_keys));
	k = 0;
	for (size_t i = 0; i < n; i++) {
		/* a rule naming the same (role, app) twice is indexed once */
		if (i > 0 && e[i].key == e[i - 1].key && e[i].rule == e[i - 1].rule)
			continue;
		if (i == 0 || e[i].key != e[i - 1].key) {
			size_t h = pol_pair_slot(e[i].key, p->pair_cap);
			while (p->pair_keys[h] != 0)
				h = (h + 1) & (p->pair_cap - 1);
			p->pair_keys[h] = e[i].key;
			p->pair_start[h] = (uint32_t)k;
			p->pair_len[h] = 0;
		}
		{
			size_t h = pol_pair_slot(e[i].key, p->pair_cap);
			while (p->pair_keys[h] != e[i].key)
				h = (h + 1) & (p->pair_cap - 1);
			p->pair_len[h]++;
		}
		p->pair_rules[k++] = e[i].rule;
	}
	free(e);
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

static void
hash_version(struct policy *p, const char *text, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	p->version[0] = '\0';
	if (EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return;
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(p->version + 2 * i, 3, "%02x", md[i]);
}

struct policy *
policy_load_buffer(const char *name, const char *text, char *errbuf, size_t errlen)
{
	static const char *const top_keys[] = { "roles", "role_sources", "users", "apps",
		"hosts", "schedules", "rules", "separation_of_duty", "break_glass", NULL };
	struct loader L;
	config_t cfg;
	const config_setting_t *root;
	struct policy *p;

	memset(&L, 0, sizeof(L));
	L.file = name ? name : "policy";
	L.err = errbuf;
	L.errlen = errlen;
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (text == NULL) {
		err_at(&L, 0, "no policy text");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "%s: out of memory", L.file);
		return NULL;
	}
	L.p = p;
	config_init(&cfg);
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		err_at(&L, config_error_line(&cfg), "%s", config_error_text(&cfg));
		goto fail;
	}
	root = config_root_setting(&cfg);
	check_keys(&L, root, "policy", top_keys);
	p->file = ar_strdup(&L, L.file);
	hash_version(p, text, strlen(text));
	load_roles(&L, config_setting_get_member(root, "roles"));
	if (L.nerr == 0)
		build_closures(&L);
	load_apps(&L, config_setting_get_member(root, "apps"));
	load_hosts(&L, config_setting_get_member(root, "hosts"));
	load_schedules(&L, config_setting_get_member(root, "schedules"),
	    count_inline_when(config_setting_get_member(root, "rules")));
	load_sources(&L, config_setting_get_member(root, "role_sources"));
	load_users(&L, config_setting_get_member(root, "users"));
	load_rules(&L, config_setting_get_member(root, "rules"));
	load_sod(&L, config_setting_get_member(root, "separation_of_duty"));
	load_break_glass(&L, config_setting_get_member(root, "break_glass"));
	if (L.nerr == 0 && !L.oom) {
		build_indexes(&L);
		build_pair_index(&L);
	}
	if (L.oom) {
		err_at(&L, 0, "out of memory");
		goto fail;
	}
	if (L.nerr > 0)
		goto fail;
	config_destroy(&cfg);
	return p;
fail:
	config_destroy(&cfg);
	policy_free(p);
	return NULL;
}

struct policy *
policy_load(const char *path, char *errbuf, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	struct policy *p = NULL;
	size_t got = 0;
	int fd;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (path == NULL) {
		snprintf(errbuf, errlen, "no policy file");
		return NULL;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, errno == ELOOP ?
		    "is a symbolic link (refused)" : strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(errbuf, errlen, "%s: not a regular file (refused)", path);
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(errbuf, errlen, "%s: writable by group or others (mode %04o, refused)",
		    path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size > POLICY_MAX_BYTES) {
		snprintf(errbuf, errlen, "%s: larger than %ld bytes (refused)", path,
		    POLICY_MAX_BYTES);
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		snprintf(errbuf, errlen, "%s: out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(errbuf, errlen, "%s: read failed: %s", path,
			    r < 0 ? strerror(errno) : "file shrank while reading");
			goto out;
		}
		got += (size_t)r;
	}
	text[got] = '\0';
	if (strlen(text) != got) {
		snprintf(errbuf, errlen, "%s: contains a NUL byte (refused)", path);
		goto out;
	}
	p = policy_load_buffer(path, text, errbuf, errlen);
out:
	free(text);
	close(fd);
	return p;
}

void
policy_free(struct policy *p)
{
	struct pol_block *b, *next;

	if (p == NULL)
		return;
	for (b = p->blocks; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(p);
}

/* ---- compiled snapshot ----
 *
 * Rules it keeps: the snapshot is a checksummed binary image of a loaded
 * policy.  It is used only when its checksum, magic and format version are
 * right, and every index read from it is bounds-checked before use, so a
 * truncated, flipped or hostile file is refused and never decides.  It is
 * written to a temporary file, fsynced and renamed into place.
 */

#define SNAP_MAGIC "WARDSNAP"
#define SNAP_FORMAT 1u
#define SNAP_HEADER 96   /* magic 8, format 4, pad 4, length 8, checksum 8, version 64 */
#define SNAP_MAX_BYTES (1024L * 1024 * 1024)

struct wbuf {
	unsigned char *b;
	size_t n, cap;
	int oom;
};

static void
w_bytes(struct wbuf *w, const void *p, size_t n)
{
	if (w->oom)
		return;
	if (w->n + n > w->cap) {
		size_t cap = w->cap ? w->cap : 65536;
		unsigned char *nb;
		while (cap < w->n + n)
			cap *= 2;
		nb = realloc(w->b, cap);
		if (nb == NULL) {
			w->oom = 1;
			return;
		}
		w->b = nb;
		w->cap = cap;
	}
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void w_u32(struct wbuf *w, uint32_t v) { w_bytes(w, &v, sizeof(v)); }
static void w_i64(struct wbuf *w, int64_t v) { w_bytes(w, &v, sizeof(v)); }

static void
w_str(struct wbuf *w, const char *s)
{
	if (s == NULL) {
		w_u32(w, UINT32_MAX);
		return;
	}
	w_u32(w, (uint32_t)strlen(s));
	w_bytes(w, s, strlen(s));
}

static void
w_ids(struct wbuf *w, const int32_t *v, size_t n)
{
	if (v == NULL) {
		w_u32(w, UINT32_MAX);
		return;
	}
	w_u32(w, (uint32_t)n);
	w_bytes(w, v, n * sizeof(*v));
}

static void
w_strs(struct wbuf *w, char *const *v, size_t n)
{
	if (v == NULL) {
		w_u32(w, UINT32_MAX);
		return;
	}
	w_u32(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		w_str(w, v[i]);
}

static void
w_hosts(struct wbuf *w, const struct pol_hostref *h, size_t n, char *const *pats, size_t np)
{
	if (h == NULL) {
		w_u32(w, UINT32_MAX);
		return;
	}
	w_u32(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		w_u32(w, (uint32_t)h[i].group);
		w_str(w, h[i].literal);
	}
	w_strs(w, pats, np);
}

static uint64_t
checksum(const unsigned char *p, size_t n)
{
	/* FNV-1a over 8-byte words: integrity against truncation and damage,
	 * not against an attacker (the file is root-owned, like the text). */
	uint64_t h = 1469598103934665603ULL, v;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&v, p + i, 8);
		h = (h ^ v) * 1099511628211ULL;
	}
	for (; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

/* The checksum covers the whole file but its own 8 bytes (16..24 are the
 * length, 24..32 the checksum). */
static uint64_t
snap_sum(const unsigned char *img, size_t size)
{
	return checksum(img, 24) ^ (checksum(img + 32, size - 32) * 0x9E3779B97F4A7C15ULL);
}

int
policy_compile(const struct policy *p, const char *path, char *errbuf, size_t errlen)
{
	struct wbuf w = { NULL, 0, 0, 0 };
	char tmp[4096];
	uint64_t len, sum;
	uint32_t fmt = SNAP_FORMAT, pad = 0;
	int fd = -1, r = -1;
	size_t off = 0;

	if (p == NULL || path == NULL) {
		snprintf(errbuf, errlen, "nothing to compile");
		return -1;
	}
	w_bytes(&w, (const char[SNAP_HEADER]){ 0 }, SNAP_HEADER);
	w_str(&w, p->file);
	w_u32(&w, (uint32_t)p->nroles);
	for (size_t i = 0; i < p->nroles; i++) {
		const struct pol_role *x = &p->roles[i];
		w_str(&w, x->name);
		w_u32(&w, (uint32_t)x->line);
		w_ids(&w, x->inherits ? x->inherits : (const int32_t[1]){ 0 }, x->ninherits);
		w_strs(&w, x->perms ? x->perms : (char *[1]){ NULL }, x->nperms);
		w_ids(&w, x->closure, x->nclosure);
	}
	w_u32(&w, (uint32_t)p->napps);
	for (size_t i = 0; i < p->napps; i++) {
		w_str(&w, p->apps[i].name);
		w_strs(&w, p->apps[i].services ? p->apps[i].services : (char *[1]){ NULL },
		    p->apps[i].nservices);
	}
	w_u32(&w, (uint32_t)p->nhostgroups);
	for (size_t i = 0; i < p->nhostgroups; i++) {
		w_str(&w, p->hostgroups[i].name);
		w_u32(&w, (uint32_t)p->hostgroups[i].line);
		w_strs(&w, p->hostgroups[i].patterns ? p->hostgroups[i].patterns : (char *[1]){ NULL },
		    p->hostgroups[i].npatterns);
	}
	w_u32(&w, (uint32_t)p->nschedules);
	for (size_t i = 0; i < p->nschedules; i++) {
		const struct pol_schedule *x = &p->schedules[i];
		w_str(&w, x->name);
		w_u32(&w, (uint32_t)x->line);
		w_u32(&w, (uint32_t)x->nspans);
		for (size_t k = 0; k < x->nspans; k++) {
			w_u32(&w, x->spans[k].days);
			w_u32(&w, (uint32_t)x->spans[k].start);
			w_u32(&w, (uint32_t)x->spans[k].end);
		}
		w_bytes(&w, x->bits, sizeof(x->bits));
	}
	w_u32(&w, (uint32_t)p->nrules);
	for (size_t i = 0; i < p->nrules; i++) {
		const struct pol_rule *x = &p->rules[i];
		w_str(&w, x->id);
		w_u32(&w, (uint32_t)x->line);
		w_u32(&w, (uint32_t)x->deny);
		w_ids(&w, x->roles, x->nroles);
		w_ids(&w, x->apps, x->napps);
		w_hosts(&w, x->hosts, x->nhosts, x->host_patterns, x->nhost_patterns);
		w_u32(&w, (uint32_t)x->when);
		w_str(&w, x->reason);
		w_u32(&w, (uint32_t)x->mfa_required);
		w_i64(&w, x->mfa_grace);
		w_i64(&w, x->idle_logoff);
		w_i64(&w, x->session_max);
		w_u32(&w, (uint32_t)x->bg_overridable);
	}
	w_u32(&w, (uint32_t)p->nusers);
	for (size_t i = 0; i < p->nusers; i++) {
		w_str(&w, p->users[i].name);
		w_u32(&w, (uint32_t)p->users[i].line);
		w_ids(&w, p->users[i].roles ? p->users[i].roles : (const int32_t[1]){ 0 },
		    p->users[i].nroles);
	}
	w_u32(&w, (uint32_t)p->nsods);
	for (size_t i = 0; i < p->nsods; i++) {
		w_str(&w, p->sods[i].id);
		w_u32(&w, (uint32_t)p->sods[i].line);
		w_ids(&w, p->sods[i].roles ? p->sods[i].roles : (const int32_t[1]){ 0 },
		    p->sods[i].nroles);
		w_str(&w, p->sods[i].reason);
	}
	w_u32(&w, (uint32_t)p->bg.defined);
	w_u32(&w, (uint32_t)p->bg.line);
	w_ids(&w, p->bg.roles, p->bg.nroles);
	w_ids(&w, p->bg.apps, p->bg.napps);
	w_hosts(&w, p->bg.hosts, p->bg.nhosts, p->bg.host_patterns, p->bg.nhost_patterns);
	w_i64(&w, p->bg.max_minutes);
	w_i64(&w, p->bg.min_reason_chars);
	w_u32(&w, (uint32_t)p->bg.mfa_required);
	w_u32(&w, (uint32_t)p->nsources);
	for (size_t i = 0; i < p->nsources; i++) {
		w_str(&w, p->sources[i].group);
		w_u32(&w, (uint32_t)p->sources[i].role);
		w_u32(&w, (uint32_t)p->sources[i].line);
	}
	if (w.oom) {
		snprintf(errbuf, errlen, "%s: out of memory", path);
		goto out;
	}
	len = w.n - SNAP_HEADER;
	memcpy(w.b, SNAP_MAGIC, 8);
	memcpy(w.b + 8, &fmt, 4);
	memcpy(w.b + 12, &pad, 4);
	memcpy(w.b + 16, &len, 8);
	memcpy(w.b + 32, p->version, 64);
	sum = snap_sum(w.b, w.n);
	memcpy(w.b + 24, &sum, 8);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
		snprintf(errbuf, errlen, "%s: path too long", path);
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < w.n) {
		ssize_t k = write(fd, w.b + off, w.n - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			snprintf(errbuf, errlen, "%s: write failed: %s", tmp,
			    k < 0 ? strerror(errno) : "no progress");
			goto out;
		}
		off += (size_t)k;
	}
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
	if (fd >= 0)
		close(fd);
	if (r != 0)
		unlink(tmp);
	free(w.b);
	return r;
}

struct rbuf {
	const unsigned char *b;
	size_t n, off;
	int bad;
};

static uint32_t
r_u32(struct rbuf *r)
{
	uint32_t v = 0;

	if (r->bad || r->n - r->off < 4) {
		r->bad = 1;
		return 0;
	}
	memcpy(&v, r->b + r->off, 4);
	r->off += 4;
	return v;
}

static int64_t
r_i64(struct rbuf *r)
{
	int64_t v = 0;

	if (r->bad || r->n - r->off < 8) {
		r->bad = 1;
		return 0;
	}
	memcpy(&v, r->b + r->off, 8);
	r->off += 8;
	return v;
}

static char *
r_str(struct loader *L, struct rbuf *r, int nullable)
{
	uint32_t n = r_u32(r);
	char *s;

	if (r->bad)
		return NULL;
	if (n == UINT32_MAX) {
		if (!nullable)
			r->bad = 1;
		return NULL;
	}
	if (r->n - r->off < n) {
		r->bad = 1;
		return NULL;
	}
	s = ar_alloc(L, (size_t)n + 1);
	if (s == NULL) {
		r->bad = 1;
		return NULL;
	}
	memcpy(s, r->b + r->off, n);
	s[n] = '\0';
	if (strlen(s) != n)
		r->bad = 1;     /* an embedded NUL: not something we wrote */
	r->off += n;
	return s;
}

/* Ids, each checked to be in [LO, HI). NULL marker allowed when NULLABLE. */
static int32_t *
r_ids(struct loader *L, struct rbuf *r, size_t *n, int32_t lo, int32_t hi, int nullable)
{
	uint32_t k = r_u32(r);
	int32_t *v;

	*n = 0;
	if (r->bad)
		return NULL;
	if (k == UINT32_MAX) {
		if (!nullable)
			r->bad = 1;
		return NULL;
	}
	if ((r->n - r->off) / 4 < k) {
		r->bad = 1;
		return NULL;
	}
	v = ar_alloc(L, ((size_t)k + 1) * sizeof(*v));
	if (v == NULL) {
		r->bad = 1;
		return NULL;
	}
	memcpy(v, r->b + r->off, (size_t)k * 4);
	r->off += (size_t)k * 4;
	for (uint32_t i = 0; i < k; i++)
		if (v[i] < lo || v[i] >= hi)
			r->bad = 1;
	*n = k;
	return v;
}

static char **
r_strs(struct loader *L, struct rbuf *r, size_t *n, int nullable)
{
	uint32_t k = r_u32(r);
	char **v;

	*n = 0;
	if (r->bad)
		return NULL;
	if (k == UINT32_MAX) {
		if (!nullable)
			r->bad = 1;
		return NULL;
	}
	if ((r->n - r->off) / 4 < k) {
		r->bad = 1;
		return NULL;
	}
	v = ar_alloc(L, ((size_t)k + 1) * sizeof(*v));
	if (v == NULL) {
		r->bad = 1;
		return NULL;
	}
	for (uint32_t i = 0; i < k && !r->bad; i++)
		v[i] = r_str(L, r, 0);
	*n = k;
	return v;
}

static struct pol_hostref *
r_hosts(struct loader *L, struct rbuf *r, size_t *n, char ***pats, size_t *np, int32_t nhg)
{
	uint32_t k = r_u32(r);
	struct pol_hostref *h;

	*n = 0;
	*pats = NULL;
	*np = 0;
	if (r->bad || k == UINT32_MAX)
		return NULL;
	if ((r->n - r->off) / 8 < k) {
		r->bad = 1;
		return NULL;
	}
	h = ar_alloc(L, ((size_t)k + 1) * sizeof(*h));
	if (h == NULL) {
		r->bad = 1;
		return NULL;
	}
	for (uint32_t i = 0; i < k && !r->bad; i++) {
		h[i].group = (int32_t)r_u32(r);
		h[i].literal = r_str(L, r, 1);
		if (h[i].group < -1 || h[i].group >= nhg || (h[i].group < 0) != (h[i].literal != NULL))
			r->bad = 1;
	}
	*n = k;
	*pats = r_strs(L, r, np, 0);
	return h;
}

/* Rebuild a policy from snapshot bytes.  NULL (message in ERR) on any flaw. */
static struct policy *
from_snapshot(const char *name, const unsigned char *buf, size_t size, char *errbuf,
    size_t errlen)
{
	struct loader L;
	struct rbuf r = { buf, size, SNAP_HEADER, 0 };
	struct policy *p;
	uint64_t len, sum;
	uint32_t fmt, n;

	if (size < SNAP_HEADER || memcmp(buf, SNAP_MAGIC, 8) != 0) {
		snprintf(errbuf, errlen, "%s: not a Ward policy snapshot", name);
		return NULL;
	}
	memcpy(&fmt, buf + 8, 4);
	memcpy(&len, buf + 16, 8);
	memcpy(&sum, buf + 24, 8);
	if (fmt != SNAP_FORMAT) {
		snprintf(errbuf, errlen, "%s: snapshot format %u, this Ward reads %u", name, fmt,
		    SNAP_FORMAT);
		return NULL;
	}
	if (len != size - SNAP_HEADER) {
		snprintf(errbuf, errlen, "%s: snapshot truncated or extended (%zu bytes, expected %llu)",
		    name, size, (unsigned long long)(len + SNAP_HEADER));
		return NULL;
	}
	if (snap_sum(buf, size) != sum || buf[12] | buf[13] | buf[14] | buf[15] ||
	    memchr(buf + 32, '\0', 64) != NULL) {
		snprintf(errbuf, errlen, "%s: snapshot checksum mismatch (damaged)", name);
		return NULL;
	}
	memset(&L, 0, sizeof(L));
	L.file = name;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(errbuf, errlen, "%s: out of memory", name);
		return NULL;
	}
	L.p = p;
	memcpy(p->version, buf + 32, 64);
	p->version[64] = '\0';
	p->file = r_str(&L, &r, 0);
	n = r_u32(&r);
	if (!r.bad && n <= POL_MAX_ROLES && (p->roles = ar_alloc(&L, ((size_t)n + 1) * sizeof(*p->roles))) != NULL) {
		p->nroles = n;
		for (uint32_t i = 0; i < n && !r.bad; i++) {
			struct pol_role *x = &p->roles[i];
			x->name = r_str(&L, &r, 0);
			x->line = (int)r_u32(&r);
			x->inherits = r_ids(&L, &r, &x->ninherits, 0, (int32_t)n, 0);
			x->perms = r_strs(&L, &r, &x->nperms, 0);
			x->closure = r_ids(&L, &r, &x->nclosure, 0, (int32_t)n, 0);
		}
	} else {
		r.bad = 1;
	}
	n = r_u32(&r);
	if (!r.bad && n < (1u << 24) && (p->apps = ar_alloc(&L, ((size_t)n + 1) * sizeof(*p->apps))) != NULL) {
		p->napps = p->ndefined_apps = n;
		for (uint32_t i = 0; i < n && !r.bad; i++) {
			p->apps[i].name = r_str(&L, &r, 0);
			p->apps[i].services = r_strs(&L, &r, &p->apps[i].nservices, 0);
			p->apps[i].defined = 1;
		}
	} else {
		r.bad = 1;
	}
	n = r_u32(&r);
	if (!r.bad && n < (1u << 24) && (p->hostgroups = ar_alloc(&L, ((size_t)n + 1) * sizeof(*p->hostgroups))) != NULL) {
		p->nhostgroups = n;
		for (uint32_t i = 0; i < n && !r.bad; i++) {
			p->hostgroups[i].name = r_str(&L, &r, 0);
			p->hostgroups[i].line = (int)r_u32(&r);
			p->hostgroups[i].patterns = r_strs(&L, &r, &p->hostgroups[i].npatterns, 0);
		}
	} else {
		r.bad = 1;
	}
	n = r_u32(&r);
	if (!r.bad && n < (1u << 24) && (p->schedules = ar_alloc(&L, ((size_t)n + 1) * sizeof(*p->schedules))) != NULL) {
		p->nschedules = n;
		for (uint32_t i = 0; i < n && !r.bad; i++) {
			struct pol_schedule *x = &p->schedules[i];
			uint32_t ns;
			x->name = r_str(&L, &r, 1);
			x->line = (int)r_u32(&r);
			ns = r_u32(&r);
			if (r.bad || ns > 1024 || (x->spans = ar_alloc(&L, ((size_t)ns + 1) * sizeof(*x->spans))) == NULL) {
				r.bad = 1;
				break;
			}
			x->nspans = ns;
			for (uint32_t k = 0; k < ns; k++) {
				x->spans[k].days = (uint8_t)r_u32(&r);
				x->spans[k].start = (int)r_u32(&r);
				x->spans[k].end = (int)r_u32(&r);
				if (x->spans[k].start < 0 || x->spans[k].start > 1440 ||
				    x->spans[k].end < 0 || x->spans[k].end > 1440)
					r.bad = 1;
			}
			if (r.bad || r.n - r.off < sizeof(x->bits)) {
				r.bad = 1;
				break;
			}
			memcpy(x->bits, r.b + r.off, sizeof(x->bits));
			r.off += sizeof(x->bits);
		}
	} else {
		r.bad = 1;
	}
	n = r_u32(&r);
	if (!r.bad && n < (1u << 26) && (p->rules = ar_alloc(&L, ((size_t)n + 1) * sizeof(*p->rules))) != NULL) {
		p->nrules = n;
		for (uint32_t i = 0; i < n && !r.bad; i++) {
			struct pol_rule *x = &p->rules[i];
			x->id = r_str(&L, &r, 0);
			x->line = (int)r_u32(&r);
			x->deny = r_u32(&r) != 0;
			x->roles = r_ids(&L, &r, &x->nroles, 0, (int32_t)p->nroles, 1);
			x->apps = r_ids(&L, &r, &x->napps, 0, (int32_t)p->napps, 1);
			x->hosts = r_hosts(&L, &r, &x->nhosts, &x->host_patterns, &x->nhost_patterns,
			    (int32_t)p->nhostgroups);
			x->when = (int32_t)r_u32(&r);
			if (x->when < -1 || x->when >= (int32_t)p->nschedules)
				r.bad = 1;
			x->reason = r_str(&L, &r, 1);
			x->mfa_required = r_u32(&r) != 0;
			x->mfa_grace = (long)r_i64(&r);
			x->idle_logoff = (long)r_i64(&r);
			x->session_max = (long)r_i64(&r);
			x->bg_overridable = r_u32(&r) != 0;
		}
	} else {
		r.bad = 1;
	}
	n = r_u32(&r);
	if (!r.bad && n < (1u << 26) && (p->users = ar_alloc(&L, ((size_t)n + 1) * sizeof(*p->users))) != NULL) {
		p->nusers = n;
		for (uint32_t i = 0; i < n && !r.bad; i++) {
			p->users[i].name = r_str(&L, &r, 0);
			p->users[i].line = (int)r_u32(&r);
			p->users[i].roles = r_ids(&L, &r, &p->users[i].nroles, 0, (int32_t)p->nroles, 0);
		}
	} else {
		r.bad = 1;
	}
	n = r_u32(&r);
	if (!r.bad && n < (1u << 20) && (p->sods = ar_alloc(&L, ((size_t)n + 1) * sizeof(*p->sods))) != NULL) {
		p->nsods = n;
		for (uint32_t i = 0; i < n && !r.bad; i++) {
			p->sods[i].id = r_str(&L, &r, 0);
			p->sods[i].line = (int)r_u32(&r);
			p->sods[i].roles = r_ids(&L, &r, &p->sods[i].nroles, 0, (int32_t)p->nroles, 0);
			p->sods[i].reason = r_str(&L, &r, 1);
		}
	} else {
		r.bad = 1;
	}
	p->bg.defined = r_u32(&r) != 0;
	p->bg.line = (int)r_u32(&r);
	p->bg.roles = r_ids(&L, &r, &p->bg.nroles, 0, (int32_t)p->nroles, 1);
	p->bg.apps = r_ids(&L, &r, &p->bg.napps, 0, (int32_t)p->napps, 1);
	p->bg.hosts = r_hosts(&L, &r, &p->bg.nhosts, &p->bg.host_patterns, &p->bg.nhost_patterns,
	    (int32_t)p->nhostgroups);
	p->bg.max_minutes = (long)r_i64(&r);
	p->bg.min_reason_chars = (long)r_i64(&r);
	p->bg.mfa_required = r_u32(&r) != 0;
	n = r_u32(&r);
	if (!r.bad && n < (1u << 20) && (p->sources = ar_alloc(&L, ((size_t)n + 1) * sizeof(*p->sources))) != NULL) {
		p->nsources = n;
		for (uint32_t i = 0; i < n && !r.bad; i++) {
			p->sources[i].group = r_str(&L, &r, 0);
			p->sources[i].role = (int32_t)r_u32(&r);
			p->sources[i].line = (int)r_u32(&r);
			if (p->sources[i].role < 0 || p->sources[i].role >= (int32_t)p->nroles)
				r.bad = 1;
		}
	} else {
		r.bad = 1;
	}
	if (!r.bad && r.off != r.n)
		r.bad = 1;
	/* the name maps and the fast-path indexes are rebuilt, not trusted */
	if (!r.bad && !L.oom) {
		size_t nsvc = 0, nnamed = 0;
		map_build(&L, &p->role_map, p->nroles);
		map_build(&L, &p->app_map, p->napps);
		map_build(&L, &p->hostgroup_map, p->nhostgroups);
		map_build(&L, &p->user_map, p->nusers);
		for (size_t i = 0; i < p->napps; i++)
			nsvc += p->apps[i].nservices;
		map_build(&L, &p->service_map, nsvc);
		for (size_t i = 0; i < p->nschedules; i++)
			nnamed += p->schedules[i].name != NULL;
		map_build(&L, &p->schedule_map, nnamed);
		if (!L.oom) {
			for (size_t i = 0; i < p->nroles; i++)
				map_put(&p->role_map, p->roles[i].name, (int32_t)i);
			for (size_t i = 0; i < p->napps; i++) {
				map_put(&p->app_map, p->apps[i].name, (int32_t)i);
				for (size_t k = 0; k < p->apps[i].nservices; k++)
					map_put(&p->service_map, p->apps[i].services[k], (int32_t)i);
			}
			for (size_t i = 0; i < p->nhostgroups; i++)
				map_put(&p->hostgroup_map, p->hostgroups[i].name, (int32_t)i);
			for (size_t i = 0; i < p->nusers; i++)
				map_put(&p->user_map, p->users[i].name, (int32_t)i);
			for (size_t i = 0; i < p->nschedules; i++)
				if (p->schedules[i].name)
					map_put(&p->schedule_map, p->schedules[i].name, (int32_t)i);
			build_indexes(&L);
			build_pair_index(&L);
		}
	}
	if (r.bad || L.oom) {
		snprintf(errbuf, errlen, "%s: snapshot %s", name,
		    L.oom ? "too large for memory" : "is malformed (refused)");
		policy_free(p);
		return NULL;
	}
	return p;
}

static int
read_fd(int fd, size_t size, unsigned char **out)
{
	unsigned char *b = malloc(size + 1);
	size_t got = 0;

	if (b == NULL)
		return -1;
	while (got < size) {
		ssize_t k = read(fd, b + got, size - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			free(b);
			return -1;
		}
		got += (size_t)k;
	}
	*out = b;
	return 0;
}

struct policy *
policy_load_snapshot_buffer(const char *name, const void *buf, size_t size,
    char *errbuf, size_t errlen)
{
	return from_snapshot(name, buf, size, errbuf, errlen);
}

struct policy *
policy_load_snapshot(const char *path, char *errbuf, size_t errlen)
{
	struct stat st;
	unsigned char *buf = NULL;
	struct policy *p = NULL;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, errno == ELOOP ?
		    "is a symbolic link (refused)" : strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH)) ||
	    st.st_size > SNAP_MAX_BYTES) {
		snprintf(errbuf, errlen, "%s: not a regular file, writable by group or "
		    "others, or too large (refused)", path);
		close(fd);
		return NULL;
	}
	if (read_fd(fd, (size_t)st.st_size, &buf) != 0)
		snprintf(errbuf, errlen, "%s: read failed", path);
	else
		p = from_snapshot(path, buf, (size_t)st.st_size, errbuf, errlen);
	free(buf);
	close(fd);
	return p;
}

struct policy *
policy_load_compiled(const char *path, const char *snapshot, int *from_snap,
    char *errbuf, size_t errlen)
{
	struct stat ts, ss;
	struct policy *p;

	*from_snap = 0;
	if (snapshot != NULL && stat(path, &ts) == 0 && lstat(snapshot, &ss) == 0 &&
	    (ss.st_mtim.tv_sec > ts.st_mtim.tv_sec ||
	     (ss.st_mtim.tv_sec == ts.st_mtim.tv_sec && ss.st_mtim.tv_nsec >= ts.st_mtim.tv_nsec))) {
		p = policy_load_snapshot(snapshot, errbuf, errlen);
		if (p != NULL) {
			*from_snap = 1;
			return p;
		}
		/* a damaged or foreign snapshot is never trusted: parse the text */
	}
	return policy_load(path, errbuf, errlen);
}
