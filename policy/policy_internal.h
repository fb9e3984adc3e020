/*
 * policy_internal.h - the loaded policy, shared by the loader, the fast
 * decision path, the reference evaluator and the linter.  Not for apps.
 *
 * A loaded policy is one flat image: fixed-size records that refer to each
 * other by offset, never by pointer.  Parsing the text builds the image in
 * memory; the compiled snapshot is the same image written to a file, and
 * loading it maps the file and decides over it as it is.  Every offset and
 * index in an image is bounds-checked once, when it is loaded
 * (pol_image_open), so readers may follow them without checks.
 *
 * Nothing is changed after loading, so any number of threads may decide
 * over one policy at the same time.
 */
#ifndef WARD_POLICY_INTERNAL_H
#define WARD_POLICY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "file_id.h"
#include "ward_policy.h"

#define POL_WEEK_MINUTES (7 * 1440)
#define POL_MAX_ROLES 65536        /* the decision's stack bitset bounds this */
#define POL_NONE UINT32_MAX        /* no string / no list ("any") */

#define POL_MAGIC "WARDSNAP"
#define POL_FORMAT 3u
#define POL_HEAD 168               /* struct pol_head */

/* ---- image records (host byte order; offsets are from the image start,
 * string offsets from the string pool) ---- */

/*
 * The text a snapshot was compiled from, as fstat(2) saw it before it was
 * read, and when it was compiled.  All zero in an image built from text
 * (and in a snapshot that was not written by policy_compile).
 */
struct pol_text_id {
	struct file_id file;
	int64_t compiled_sec, compiled_nsec;
};

struct pol_head {
	char magic[8];
	uint32_t format;
	uint32_t pad;
	uint64_t length;            /* image size - POL_HEAD */
	uint64_t sum;               /* pol_image_sum() */
	char version[64];           /* SHA-256 of the text, hex, no NUL */
	struct pol_text_id text;    /* what the snapshot was compiled from */
};
_Static_assert(sizeof(struct pol_head) == POL_HEAD, "POL_HEAD is the header's size");

/* A list: OFF is POL_NONE for "none/any", else the offset of N elements. */
struct pol_list {
	uint32_t off, n;
};

struct pol_role {
	uint32_t name, line;
	struct pol_list inherits;   /* int32 role ids: direct parents */
	struct pol_list perms;      /* uint32 strings */
	struct pol_list closure;    /* int32 pairs [lo, hi]: self + all inherited,
	                               as sorted ranges of role ids (fast path) */
};

struct pol_app {
	uint32_t name, pad;
	struct pol_list services;   /* uint32 strings */
};

struct pol_hostgroup {
	uint32_t name, line;
	struct pol_list patterns;   /* uint32 strings */
};

/* One part of a schedule: days (bit 0 = Sunday) and [start, end) minutes;
 * end <= start means the range crosses midnight into the next day. */
struct pol_span {
	uint32_t days;
	int32_t start, end;
};

struct pol_schedule {
	uint32_t name, line;        /* name POL_NONE for an inline schedule */
	struct pol_list spans;      /* struct pol_span: what the text said */
	uint8_t bits[POL_WEEK_MINUTES / 8];  /* minute of week -> inside (fast path) */
};

/* A host entry: a group, or a literal glob pattern. */
struct pol_hostref {
	int32_t group;              /* index, or -1 for a literal */
	uint32_t literal;           /* string, or POL_NONE */
};

struct pol_rule {
	uint32_t id, line, reason;  /* reason may be POL_NONE */
	uint8_t deny, mfa_required, bg_overridable, pad;
	struct pol_list roles;      /* int32 role ids; POL_NONE: any role */
	struct pol_list apps;       /* int32 app ids; POL_NONE: any app */
	struct pol_list hosts;      /* struct pol_hostref; POL_NONE: any host */
	int32_t when;               /* schedule index or -1 (always) */
	int32_t mfa_grace;          /* seconds (the loader caps them at ten */
	int32_t idle_logoff;        /*  years), -1 absent */
	int32_t session_max;
};

struct pol_user {
	uint32_t name, line;
	struct pol_list roles;      /* int32 role ids */
};

struct pol_sod {
	uint32_t id, line, reason, pad;
	struct pol_list roles;      /* int32 role ids */
};

struct pol_bg {
	uint32_t defined, line, mfa_required, pad;
	struct pol_list roles, apps, hosts;   /* as in a rule */
	int64_t max_minutes, min_reason_chars;
};

struct pol_source {
	uint32_t group;
	int32_t role;
	uint32_t line, pad;
};

/* Open-addressing string -> index table; KEY POL_NONE is an empty slot. */
struct pol_slot {
	uint32_t key;
	int32_t val;
};

/* A candidate of the fast path: rule RULE if the request holds the role
 * at the same index of the candidates' roles (nroles stands for "any
 * role"; the roles are apart so the scan reads 4 bytes a candidate).  WHEN and GROUP repeat the rule's
 * schedule and host condition so that most candidates are turned down
 * without reading the rule: GROUP is the rule's only host group, or
 * POL_CAND_ANYHOST (no host condition) or POL_CAND_HOSTS (look at the
 * rule's host list). */
#define POL_CAND_ANYHOST (-1)
#define POL_CAND_HOSTS (-2)
struct pol_cand {
	int32_t rule, when, group;
};

/* The pools every list lives in, each checked element by element once, so
 * a list need only lie inside its pool: role ids, app ids, string offsets,
 * host entries, closure ranges (int32 pairs), schedule spans. */
enum { POL_POOL_ROLES, POL_POOL_APPS, POL_POOL_STRS, POL_POOL_HOSTS, POL_POOL_RANGES,
	POL_POOL_SPANS, POL_NPOOLS };

/* The table of contents, right after the head. */
struct pol_tab {
	uint32_t file;
	struct pol_list pools[POL_NPOOLS];  /* byte offset, element count */
	uint32_t strings, nstrings; /* string pool: offset and size; ends in NUL */
	uint32_t roles, nroles;
	uint32_t apps, napps;
	uint32_t hostgroups, nhostgroups;
	uint32_t schedules, nschedules;
	uint32_t rules, nrules;
	uint32_t users, nusers;
	uint32_t sods, nsods;
	uint32_t sources, nsources;
	uint32_t role_map, role_cap;        /* struct pol_slot, cap a power of 2 */
	uint32_t service_map, service_cap;  /* service -> app */
	uint32_t user_map, user_cap;
	/* per app, its candidates: rules naming the app, in file order, once
	 * per role of the rule; then the rules for any app */
	uint32_t app_cands;                 /* struct pol_list [napps], of cands */
	uint32_t cands, ncands;             /* struct pol_cand */
	uint32_t cand_roles, pad;           /* int32 [ncands] */
	struct pol_list any_cands;          /* of cands */
	struct pol_bg bg;
};

#define POL_DATA ((POL_HEAD + sizeof(struct pol_tab) + 7) / 8 * 8)

/* A loaded policy: views into the image. */
struct policy {
	const unsigned char *base;  /* the image */
	size_t size;
	void *heap;                 /* the image when malloc'd (else NULL) */
	void *map;                  /* the image when mapped (else NULL) */
	size_t maplen;
	const char *strs;           /* string pool */
	char version[65];
	struct pol_text_id text;    /* the header's, copied at load */
	const char *file;
	const struct pol_tab *tab;
	const struct pol_role *roles;
	size_t nroles;
	const struct pol_app *apps;
	size_t napps;
	const struct pol_hostgroup *hostgroups;
	size_t nhostgroups;
	const struct pol_schedule *schedules;
	size_t nschedules;
	const struct pol_rule *rules;
	size_t nrules;
	const struct pol_user *users;
	size_t nusers;
	const struct pol_sod *sods;
	size_t nsods;
	const struct pol_source *sources;
	size_t nsources;
	const struct pol_bg *bg;
	const struct pol_list *app_cands;
	const struct pol_cand *cands;
	const int32_t *cand_roles;
};

static inline const char *
pol_str(const struct policy *p, uint32_t off)
{
	return off == POL_NONE ? NULL : p->strs + off;
}

/* A name that is never absent (role and user names): "" stands for an
 * absent one, which the loader and the image check never let through. */
static inline const char *
pol_name(const struct policy *p, uint32_t off)
{
	return off == POL_NONE ? "" : p->strs + off;
}

/* The ids of list L; NULL when the list is absent (then l.n is 0, checked
 * at load; for a rule's roles, absent means any). */
static inline const int32_t *
pol_ids(const struct policy *p, struct pol_list l)
{
	return l.off == POL_NONE ? NULL : (const int32_t *)(const void *)(p->base + l.off);
}

/* The ids of a list whose absence means empty (closures, inherits, a
 * user's or a constraint's roles): never NULL, so a loop over l.n (0 when
 * absent, checked at load) reads nothing. */
static const int32_t pol_no_ids[1];

static inline const int32_t *
pol_idlist(const struct policy *p, struct pol_list l)
{
	const int32_t *v = pol_ids(p, l);
	return v != NULL ? v : pol_no_ids;
}

/* The I-th string of a string list. */
static inline const char *
pol_stri(const struct policy *p, struct pol_list l, size_t i)
{
	return p->strs + ((const uint32_t *)(const void *)(p->base + l.off))[i];
}

static inline const struct pol_hostref *
pol_hostrefs(const struct policy *p, struct pol_list l)
{
	return l.off == POL_NONE ? NULL :
	    (const struct pol_hostref *)(const void *)(p->base + l.off);
}

static inline const struct pol_span *
pol_spans(const struct policy *p, struct pol_list l)
{
	return (const struct pol_span *)(const void *)(p->base + l.off);
}

uint64_t pol_hash_str(const char *s);
int pol_map_find(const struct policy *p, uint32_t slots, uint32_t cap, const char *key);
uint64_t pol_image_sum(const unsigned char *img, size_t size);
/* Check every offset and index of the image IMG (SIZE bytes) and fill P's
 * views.  0, or -1 with a message in ERRBUF (NAME: ...). */
int pol_image_open(struct policy *p, const unsigned char *img, size_t size,
    const char *name, char *errbuf, size_t errlen);

int pol_schedule_contains(const struct pol_schedule *s, int wday, int minute);
int pol_span_contains(const struct pol_span *sp, size_t n, int wday, int minute);
int pol_app_of_service(const struct policy *p, const char *service);
int pol_role_id(const struct policy *p, const char *name);
int pol_user_id(const struct policy *p, const char *name);
int pol_hostref_match(const struct policy *p, const struct pol_hostref *h,
    size_t n, const char *host);
size_t pol_hostref_npatterns(const struct policy *p, const struct pol_hostref *h,
    size_t n);
int pol_closure_has(const struct policy *p, int32_t role, int32_t x);
const char *pol_default_deny_reason(void);

#endif
