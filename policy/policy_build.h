/*
 * policy_build.h - the policy as parsed, shared by the steps that load it:
 * parse.c reads libconfig text into these plain structs (in an arena),
 * schedule.c the schedule texts in it; build.c computes the role closures
 * and lays it all out as the flat image (policy_internal.h); load.c runs
 * the steps.  Nothing outside the loader sees them: they are freed once the
 * image exists.
 */
#ifndef WARD_POLICY_BUILD_H
#define WARD_POLICY_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "policy_internal.h"

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
	size_t nranges;             /* pairs of ids (pol_build_closures) */
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

/* Arena memory for the parsed structs, freed with the whole src by
 * pol_src_free; NULL (and L->oom set) when memory is short. */
void *pol_ar_alloc(struct loader *L, size_t n);
/* Count an error and append "FILE:LINE: message" to L's buffer. */
void pol_err_at(struct loader *L, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Free P and its arena; NULL is fine. */
void pol_src_free(struct src *p);

/* Schedule TEXT (from LINE) into SC's spans and bitmap (schedule.c): 0, or
 * -1 with the error through pol_err_at. */
int pol_parse_schedule(struct loader *L, int line, const char *text,
    struct src_schedule *sc);

/* TEXT into L->p (parse.c): 0, or -1 with every error in L's buffer. */
int pol_parse(struct loader *L, const char *text);

/* Each role's closure into L->p->roles[].ranges (build.c); errors (a cycle,
 * the budget) through pol_err_at.  Needs the roles read without error. */
void pol_build_closures(struct loader *L);
/* The policy over a new image of S (build.c, checked by pol_image_open);
 * NULL with a message in ERRBUF on failure. */
struct policy *pol_build_policy(const struct src *s, const char *name, char *errbuf,
    size_t errlen);

#endif
