/*
 * policy_internal.h - the loaded policy, shared by the loader, the fast
 * decision path, the reference evaluator and the linter.  Not for apps.
 *
 * Everything is built once by the loader and never changed afterwards, so
 * any number of threads may decide over one policy at the same time.
 */
#ifndef WARD_POLICY_INTERNAL_H
#define WARD_POLICY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ward_policy.h"

#define POL_WEEK_MINUTES (7 * 1440)
#define POL_MAX_ROLES 65536        /* the decision's stack bitset bounds this */
#define POL_MAX_EXPANDED (32u * 1024 * 1024)  /* entries of the expanded index */

/* Open-addressing string -> index table. */
struct pol_map {
	size_t cap;                 /* power of two, or 0 */
	const char **keys;
	int32_t *vals;
};

/* One part of a schedule: days (bit 0 = Sunday) and [start, end) minutes;
 * end <= start means the range crosses midnight into the next day. */
struct pol_span {
	uint8_t days;
	int start, end;
};

struct pol_schedule {
	char *name;                 /* NULL for an inline schedule */
	struct pol_span *spans;     /* what the text said (reference evaluator) */
	size_t nspans;
	uint8_t bits[POL_WEEK_MINUTES / 8];  /* minute of week -> inside (fast path) */
	int line;
};

struct pol_role {
	char *name;
	int line;
	int32_t *inherits;          /* direct parents */
	size_t ninherits;
	char **perms;
	size_t nperms;
	int32_t *closure;           /* self + all inherited, sorted (fast path) */
	size_t nclosure;
};

struct pol_app {
	char *name;
	char **services;
	size_t nservices;
	int defined;                /* 0: an app named only by a service */
};

struct pol_hostgroup {
	char *name;
	char **patterns;
	size_t npatterns;
	int line;
};

/* A host entry of a rule: a group, or a literal glob pattern. */
struct pol_hostref {
	int32_t group;              /* index, or -1 for a literal */
	char *literal;
};

struct pol_rule {
	char *id;
	int line;
	int deny;
	int32_t *roles;             /* NULL: any role */
	size_t nroles;
	int32_t *apps;              /* NULL: any app */
	size_t napps;
	struct pol_hostref *hosts;  /* NULL: any host */
	size_t nhosts;
	char **host_patterns;       /* flattened, for the fast path */
	size_t nhost_patterns;
	int32_t when;               /* schedule index or -1 (always) */
	char *reason;
	int mfa_required;           /* 1 unless mfa = "not_required" */
	long mfa_grace;             /* -1 absent */
	long idle_logoff;           /* -1 absent */
	long session_max;           /* -1 absent */
	int bg_overridable;         /* 0 when break_glass = false */
};

struct pol_user {
	char *name;
	int line;
	int32_t *roles;
	size_t nroles;
};

struct pol_sod {
	char *id;                   /* "sod-1" ... */
	int line;
	int32_t *roles;
	size_t nroles;
	char *reason;
};

struct pol_bg {
	int defined;
	int line;
	int32_t *roles;             /* NULL: any role */
	size_t nroles;
	int32_t *apps;              /* NULL: any app */
	size_t napps;
	struct pol_hostref *hosts;  /* NULL: any host */
	size_t nhosts;
	char **host_patterns;
	size_t nhost_patterns;
	long max_minutes;
	long min_reason_chars;
	int mfa_required;
};

struct pol_source {
	char *group;
	int32_t role;
	int line;
};

struct pol_block;

struct policy {
	struct pol_block *blocks;  /* arena: everything below lives here */
	char *file;
	char version[65];
	struct pol_role *roles;
	size_t nroles;
	struct pol_map role_map;
	struct pol_app *apps;
	size_t napps, ndefined_apps;
	struct pol_map app_map;     /* app name -> index */
	struct pol_map service_map; /* service -> app index */
	struct pol_hostgroup *hostgroups;
	size_t nhostgroups;
	struct pol_map hostgroup_map;
	struct pol_schedule *schedules;
	size_t nschedules;
	struct pol_map schedule_map;
	struct pol_rule *rules;
	size_t nrules;
	struct pol_user *users;
	size_t nusers;
	struct pol_map user_map;
	struct pol_sod *sods;
	size_t nsods;
	struct pol_bg bg;
	struct pol_source *sources;
	size_t nsources;
	/* fast path: (role, app) -> the rules naming both, in file order; -1
	 * stands for "any" on either side.  Keys: pol_pair_key(). */
	uint64_t *pair_keys;        /* 0 = empty slot */
	uint32_t *pair_start, *pair_len;
	size_t pair_cap;
	int32_t *pair_rules;
	int pair_expanded;          /* 1: keyed by every role that inherits the
	                               rule's role, so assigned roles suffice */
	/* per app, the rules naming it; rules for any app (the fallback scan) */
	int32_t **app_rules;
	size_t *napp_rules;
	int32_t *any_app_rules;
	size_t nany_app_rules;
};

static inline uint64_t
pol_pair_key(int64_t role, int64_t app)
{
	return (1ULL << 63) | ((uint64_t)(role + 1) << 32) | (uint64_t)(app + 1);
}

static inline size_t
pol_pair_slot(uint64_t key, size_t cap)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 20) & (cap - 1);
}

int pol_map_get(const struct pol_map *m, const char *key);
int pol_schedule_contains(const struct pol_schedule *s, int wday, int minute);
int pol_span_contains(const struct pol_span *sp, size_t n, int wday, int minute);
int pol_app_of_service(const struct policy *p, const char *service);
int pol_host_match(char *const *patterns, size_t n, const char *host);
int pol_hostref_match(const struct policy *p, const struct pol_hostref *h,
    size_t n, const char *host);
const char *pol_default_deny_reason(void);

#endif
