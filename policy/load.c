/*
 * load.c - policy.conf (libconfig) into an immutable policy image.
 *
 * Rules it keeps:
 *  - Parse once, then decide: every problem is collected and reported as
 *    "FILE:LINE: message"; if there is any, nothing is returned.
 *  - Unknown keys are errors (a typo must never drop a rule's condition).
 *  - Names (roles, apps, host groups, schedules) must be defined before a
 *    rule can use them; inheritance cycles are errors.
 *  - The parsed text lives in an arena only until it is laid out as the
 *    flat image (policy_internal.h) that decisions and the snapshot use.
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
/* Closure ranges merged while loading, all roles together (8 bytes each):
 * bounds the loader's time and memory and the image's closure pool. */
#define POL_CLOSURE_BUDGET (4u << 20)

/* The text as parsed: plain structs with pointers, in an arena.  Loading
 * turns them into the flat image (build_image) and frees them. */
struct src_map {
	size_t cap;                 /* power of two, or 0 */
	const char **keys;
	int32_t *vals;
};

struct src_span {
	uint8_t days;
	int start, end;
};

struct src_schedule {
	char *name;
	struct src_span *spans;
	size_t nspans;
	uint8_t bits[POL_WEEK_MINUTES / 8];
	int line;
};

struct src_role {
	char *name;
	int line;
	int32_t *inherits;
	size_t ninherits;
	char **perms;
	size_t nperms;
	int32_t *ranges;            /* self + all inherited: sorted [lo, hi] */
	size_t nranges;             /* pairs of ids (build_closures) */
};

struct src_app {
	char *name;
	char **services;
	size_t nservices;
	int defined;
};

struct src_hostgroup {
	char *name;
	char **patterns;
	size_t npatterns;
	int line;
};

struct src_hostref {
	int32_t group;
	char *literal;
};

struct src_rule {
	char *id;
	int line;
	int deny;
	int32_t *roles;             /* NULL: any role */
	size_t nroles;
	int32_t *apps;              /* NULL: any app */
	size_t napps;
	struct src_hostref *hosts;  /* NULL: any host */
	size_t nhosts;
	char **host_patterns;
	size_t nhost_patterns;
	int32_t when;
	char *reason;
	int mfa_required;
	long mfa_grace, idle_logoff, session_max;
	int bg_overridable;
};

struct src_user {
	char *name;
	int line;
	int32_t *roles;
	size_t nroles;
};

struct src_sod {
	char *id;
	int line;
	int32_t *roles;
	size_t nroles;
	char *reason;
};

struct src_bg {
	int defined;
	int line;
	int32_t *roles;
	size_t nroles;
	int32_t *apps;
	size_t napps;
	struct src_hostref *hosts;
	size_t nhosts;
	char **host_patterns;
	size_t nhost_patterns;
	long max_minutes;
	long min_reason_chars;
	int mfa_required;
};

struct src_source {
	char *group;
	int32_t role;
	int line;
};

struct src_block;

struct src {
	struct src_block *blocks;
	char *file;
	char version[65];
	struct src_role *roles;
	size_t nroles;
	struct src_map role_map;
	struct src_app *apps;
	size_t napps, ndefined_apps;
	struct src_map app_map;
	struct src_map service_map;
	struct src_hostgroup *hostgroups;
	size_t nhostgroups;
	struct src_map hostgroup_map;
	struct src_schedule *schedules;
	size_t nschedules;
	struct src_map schedule_map;
	struct src_rule *rules;
	size_t nrules;
	struct src_user *users;
	size_t nusers;
	struct src_map user_map;
	struct src_sod *sods;
	size_t nsods;
	struct src_bg bg;
	struct src_source *sources;
	size_t nsources;
};

struct src_block {
	struct src_block *next;
	size_t used, cap;
	max_align_t data[];
};

struct loader {
	struct src *p;
	const char *file;
	char *err;
	size_t errlen, errused;
	int nerr;
	int oom;
};

static void *
ar_alloc(struct loader *L, size_t n)
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
map_build(struct loader *L, struct src_map *m, size_t n)
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
		ids[i] = src_map_get(&L->p->role_map, names[i]);
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
parse_schedule(struct loader *L, int line, const char *text, struct src_schedule *sc)
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
		struct src_span sp = { 0, 0, 0 };

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
	struct src *p = L->p;
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
	err_at(L, p->roles[r].line, "inheritance cycle: %s", path);
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
		err_at(L, x->line, "role '%s': the role hierarchy is too large to compile: the "
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
	if ((x->ranges = ar_alloc(L, x->nranges * 2 * sizeof(*v))) == NULL)
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
static void
build_closures(struct loader *L)
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

static void
load_apps(struct loader *L, const config_setting_t *apps)
{
	struct src *p = L->p;
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
				err_at(L, line_of(a), "service \"%s\" is listed by apps '%s' and '%s'",
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
		struct src_schedule *sc = &p->schedules[i];
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
load_hostrefs(struct loader *L, const config_setting_t *s, struct src_hostref **out,
    size_t *nout, char ***pats, size_t *npats)
{
	struct src *p = L->p;
	size_t n, total = 0;
	char **names = read_strings(L, s, "hosts", &n);
	struct src_hostref *h;

	if (names == NULL)
		return -1;
	h = ar_alloc(L, (n + 1) * sizeof(*h));
	if (h == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		h[i].group = src_map_get(&p->hostgroup_map, names[i]);
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
	ids = ar_alloc(L, (n + 1) * sizeof(*ids));
	if (ids == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		ids[i] = src_map_get(&p->app_map, names[i]);
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
	struct src *p = L->p;
	struct src_map ids;
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
	struct src *p = L->p;
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
		struct src_user *pu = &p->users[p->nusers];
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
	struct src *p = L->p;
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
		struct src_source *ps = &p->sources[p->nsources];

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
		ps->role = src_map_get(&p->role_map, rv);
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
	struct src *p = L->p;
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
		struct src_sod *c = &p->sods[p->nsods];
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
	struct src_bg *b = &L->p->bg;
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
hash_version(struct src *p, const char *text, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	p->version[0] = '\0';
	if (EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return;
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(p->version + 2 * i, 3, "%02x", md[i]);
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

static void
src_free(struct src *p)
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

/* The policy over a new image of S; NULL with a message on failure. */
static struct policy *
policy_of_src(const struct src *s, const char *name, char *errbuf, size_t errlen)
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

struct policy *
policy_load_buffer(const char *name, const char *text, char *errbuf, size_t errlen)
{
	static const char *const top_keys[] = { "roles", "role_sources", "users", "apps",
		"hosts", "schedules", "rules", "separation_of_duty", "break_glass", NULL };
	struct loader L;
	config_t cfg;
	const config_setting_t *root;
	struct src *p;
	struct policy *pol = NULL;

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
				err_at(&L, line, "@include is not allowed (the policy is one file, "
				    "read through the trusted opener)");
				goto fail;
			}
			if ((q = strchr(q, '\n')) == NULL)
				break;
			q++;
		}
	}
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
	if (L.oom) {
		err_at(&L, 0, "out of memory");
		goto fail;
	}
	if (L.nerr > 0)
		goto fail;
	pol = policy_of_src(p, L.file, errbuf, errlen);
fail:
	config_destroy(&cfg);
	src_free(p);
	return pol;
}

struct policy *
policy_load_fd(int fd, const char *name, struct stat *st, char *errbuf, size_t errlen)
{
	char *text = NULL;
	struct policy *p = NULL;
	size_t got = 0;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		snprintf(errbuf, errlen, "%s: not a regular file (refused)", name);
		return NULL;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(errbuf, errlen, "%s: writable by group or others (mode %04o, refused)",
		    name, (unsigned)(st->st_mode & 07777));
		return NULL;
	}
	if (st->st_size > POLICY_MAX_BYTES) {
		snprintf(errbuf, errlen, "%s: larger than %ld bytes (refused)", name,
		    POLICY_MAX_BYTES);
		return NULL;
	}
	text = malloc((size_t)st->st_size + 1);
	if (text == NULL) {
		snprintf(errbuf, errlen, "%s: out of memory", name);
		return NULL;
	}
	/* from the start, whoever read this descriptor before */
	while (got < (size_t)st->st_size) {
		ssize_t r = pread(fd, text + got, (size_t)st->st_size - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(errbuf, errlen, "%s: read failed: %s", name,
			    r < 0 ? strerror(errno) : "file shrank while reading");
			goto out;
		}
		got += (size_t)r;
	}
	text[got] = '\0';
	if (strlen(text) != got) {
		snprintf(errbuf, errlen, "%s: contains a NUL byte (refused)", name);
		goto out;
	}
	p = policy_load_buffer(name, text, errbuf, errlen);
out:
	free(text);
	return p;
}

struct policy *
policy_load(const char *path, char *errbuf, size_t errlen)
{
	struct stat st;
	struct policy *p;
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
	p = policy_load_fd(fd, path, &st, errbuf, errlen);
	close(fd);
	return p;
}

