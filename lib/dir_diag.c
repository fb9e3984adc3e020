/*
 * dir_diag.c - `wardctl directory test` (wardctl(8)): dir_diagnose tries
 * every URI of the configuration, not stopping at the first that answers,
 * and reports each step (connect and TLS, bind, lookup) with its time and
 * its error.  It goes through the same connect, bind and lookup as a login
 * (dir_conn.c, dir.c), under the same rules and with one timeout_ms budget
 * per URI; nothing it finds is cached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dir_int.h"
#include "dnset.h"

int
dir_diagnose(const struct conf_directory *c, const char *user, struct dir_diag *diag,
    size_t ndiag, char ***dns, size_t *n, char **user_dn)
{
	struct dir *d = NULL;
	int r, ret = 0, have = 0, first = 0;

	*dns = NULL;
	*n = 0;
	if (user_dn != NULL)
		*user_dn = NULL;
	if (user != NULL && ward_user_valid(user) != 0)
		return WARD_ERR_INVAL;
	if ((r = dir_open(&d, c)) != 0)
		return r;
	for (size_t i = 0; i < c->nuri && i < ndiag; i++) {
		struct dir_diag *dg = &diag[i];

		memset(dg, 0, sizeof(*dg));
		dg->uri = c->uri[i];
		dg->lookup_rc = 1;      /* not tried */
		d->msg[0] = '\0';
		d->name_differs = 0;
		dir_budget_start(d);        /* as dir_user_groups: one budget per URI */
		r = dir_connect_uri(d, i, dg);
		if (r != 0 && !dg->reachable)
			dg->connect_rc = r;
		else if (r != 0 && dg->bind_rc == 0)
			dg->bind_rc = r;
		if (r == 0 && user != NULL) {
			struct dnset g;
			struct timespec t0;
			char *udn = NULL;

			dnset_init(&g, (size_t)c->max_entries);
			clock_gettime(CLOCK_MONOTONIC, &t0);
			r = dir_lookup(d, user, &g, &udn);
			dg->search_ms = dir_ms_since(&t0);
			if (r == WARD_ERR_NOTFOUND && d->name_differs)
				snprintf(dg->msg, sizeof(dg->msg), "%s", DIR_NOTE_NAME_DIFFERS);
			dg->lookup_rc = r;
			dg->ngroups = r == 0 ? g.n : 0;
			if (!have && (r == 0 || r == WARD_ERR_NOTFOUND)) {
				have = 1;
				ret = r;
				if (r == 0 && (ret = dnset_take(&g, dns, n)) == 0 &&
				    user_dn != NULL) {
					*user_dn = udn;
					udn = NULL;
				}
			}
			dnset_free(&g);
			free(udn);
		} else if (r == 0 && !have) {
			have = 1;
			ret = 0;
		}
		if (r != 0 && r != WARD_ERR_NOTFOUND) {
			snprintf(dg->msg, sizeof(dg->msg), "%s", d->msg);
			if (first == 0)
				first = r;
		}
		dir_budget_end(d);
		dir_drop_conn(d);
	}
	dir_close(d);
	return have ? ret : first ? first : WARD_ERR_UNAVAIL;
}
