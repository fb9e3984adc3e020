/*
 * diff.h - the analysis behind wardctl policy diff (diff.c): what changes
 * from one policy to another, as a list for cmd_policy.c to print.
 */
#ifndef WARD_DIFF_H
#define WARD_DIFF_H

#include <stddef.h>

#include "wardctl.h"

struct policy;

enum diff_kind {
	DIFF_ACCESS,        /* a role's decisions for an app on a host sample */
	DIFF_USER_ROLES,    /* a user's assigned roles */
	DIFF_PERMISSION     /* a permission a role holds */
};

/* One change.  The strings are the policies' or the list's. */
struct diff_change {
	enum diff_kind kind;
	const char *role;                /* ACCESS, PERMISSION */
	const char *app, *host;          /* ACCESS: the app and the host sample */
	/* ACCESS: the half-hours of the week (of 336) that gain access, lose
	 * it, change obligations or change break-glass; the first of them */
	int gains, losses, obligations, break_glass;
	int first_wday, first_minute;
	const char *user;                /* USER_ROLES: the user, old and new roles */
	const char *const *old_roles, *const *new_roles;
	size_t nold, nnew;
	size_t roles_at;                 /* USER_ROLES: where in the list's pool */
	const char *permission;          /* PERMISSION */
	int gained;                      /* PERMISSION: 1 gained, 0 lost */
};

/* The changes, in order: access (role by role, app by app, host by host),
 * then users, then permissions (each role's lost, then its gained).  Not to
 * be copied: changes point into it. */
struct diff_list {
	struct diff_change *v;
	size_t n, cap;
	struct smap roles, apps, users;  /* the names of either policy, each once */
	const char *hosts[65];           /* the host samples */
	size_t nhosts;
	char hosts_buf[64][128];
	const char **pool;               /* the users' old and new roles */
	size_t npool, pool_cap;
};

/* The changes from A to B into D (zeroed here), every host sample or only
 * HOST when given.  0, or -1 with ERR filled (out of memory; too many to
 * compare); diff_list_free releases D either way.  A and B must outlive D. */
int diff_policies(const struct policy *a, const struct policy *b, const char *host,
    struct diff_list *d, char *err, size_t len);
void diff_list_free(struct diff_list *d);

#endif
