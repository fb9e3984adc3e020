/*
 * cmd_dir.c - wardctl directory test [USER]: for each URI of ward.conf's
 * directory, whether it is reachable, the TLS version, the bind, and (with
 * USER) the user's DN, groups and the roles the policy's role_sources map
 * them to, with the time each step took.
 *
 * Exit: 0 the directory answered (and knows USER), 1 USER is not in the
 * directory, 2 error (no URI answered, bad name, configuration or policy).
 * Every URI is tried, even after one answered: this is a diagnosis.
 *
 * wardctl directory prune-cache USER | --all | --older-than SECONDS [USER]:
 * removes cached directory answers from the state store (the way out of a
 * full store), says what it freed, and is recorded as an admin action.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "../daemon/core.h"
#include "audit.h"
#include "dir.h"
#include "state.h"
#include "ward_policy.h"
#include "wardctl.h"

#define MAX_LOG 64

/* Log lines of the directory client, shown with the report. */
struct logs {
	char *line[MAX_LOG];
	size_t n;
};

static void
collect(void *ctx, int prio, const char *msg)
{
	struct logs *l = ctx;

	(void)prio;
	if (l->n < MAX_LOG && (l->line[l->n] = strdup(msg)) != NULL)
		l->n++;
}

static const char *
rc_text(int rc)
{
	return rc == 0 ? "ok" : ward_strerror(rc);
}

static void
print_json(const char *user, const struct dir_diag *dg, size_t nd, int rc,
    const char *udn, char **dns, size_t n, const char **roles, size_t nroles,
    const char **eff, size_t neff, const char *polerr, const struct logs *l)
{
	printf("{\"user\":");
	json_str(stdout, user);
	printf(",\"result\":\"%s\",\"uris\":[", rc_text(rc));
	for (size_t i = 0; i < nd; i++) {
		printf("%s{\"uri\":", i ? "," : "");
		json_str(stdout, dg[i].uri);
		printf(",\"reachable\":%s,\"connect\":\"%s\",\"tls\":",
		    dg[i].reachable ? "true" : "false", rc_text(dg[i].connect_rc));
		json_str(stdout, dg[i].tls_version[0] ? dg[i].tls_version : NULL);
		printf(",\"bind\":");
		json_str(stdout, dg[i].reachable ? rc_text(dg[i].bind_rc) : NULL);
		printf(",\"lookup\":");
		json_str(stdout, dg[i].lookup_rc == 1 ? NULL : rc_text(dg[i].lookup_rc));
		printf(",\"groups\":%zu,\"connect_ms\":%ld,\"bind_ms\":%ld,\"search_ms\":%ld,"
		    "\"error\":", dg[i].ngroups, dg[i].connect_ms, dg[i].bind_ms,
		    dg[i].search_ms);
		json_str(stdout, dg[i].msg[0] ? dg[i].msg : NULL);
		putchar('}');
	}
	printf("],\"user_dn\":");
	json_str(stdout, udn);
	printf(",\"groups\":");
	json_strs(stdout, (const char *const *)dns, n);
	printf(",\"roles\":");
	json_strs(stdout, roles, nroles);
	printf(",\"effective_roles\":");
	json_strs(stdout, eff, neff);
	printf(",\"policy_error\":");
	json_str(stdout, polerr);
	printf(",\"log\":");
	json_strs(stdout, (const char *const *)l->line, l->n);
	printf("}\n");
}

static void
print_text(const char *user, const struct dir_diag *dg, size_t nd, int rc,
    const char *udn, char **dns, size_t n, const char **roles, size_t nroles,
    const char **eff, size_t neff, const char *polerr, const struct logs *l)
{
	for (size_t i = 0; i < nd; i++) {
		const struct dir_diag *g = &dg[i];

		printf("%s\n", g->uri);
		if (!g->reachable) {
			printf("  connect   %-22s %5ld ms  %s\n", rc_text(g->connect_rc),
			    g->connect_ms, g->msg);
			continue;
		}
		printf("  connect   %-22s %5ld ms  %s\n", "ok", g->connect_ms,
		    g->tls_version[0] ? g->tls_version : "no TLS (ldapi or plaintext)");
		printf("  bind      %-22s %5ld ms  %s\n", rc_text(g->bind_rc), g->bind_ms,
		    g->bind_rc ? g->msg : "");
		if (g->lookup_rc != 1)
			printf("  lookup    %-22s %5ld ms  %zu group(s)%s%s\n",
			    rc_text(g->lookup_rc), g->search_ms, g->ngroups,
			    g->lookup_rc && g->msg[0] ? "  " : "",
			    g->lookup_rc && g->msg[0] ? g->msg : "");
	}
	if (user != NULL) {
		printf("\nuser %s: %s\n", user, rc == 0 ? "found" :
		    rc == WARD_ERR_NOTFOUND ? "not in the directory" : rc_text(rc));
		if (udn != NULL)
			printf("  DN      %s\n", udn);
		if (rc == 0) {
			printf("  groups%s\n", n ? ":" : "  (none)");
			for (size_t i = 0; i < n; i++)
				printf("    %s\n", dns[i]);
			if (polerr != NULL) {
				printf("  roles   (policy not loaded: %s)\n", polerr);
			} else {
				printf("  roles   ");
				text_strs(stdout, roles, nroles, "(none: no role_sources match)");
				printf("  effective roles ");
				text_strs(stdout, eff, neff, "(none)");
			}
		}
	} else {
		printf("\n%s\n", rc == 0 ? "the directory answered" : rc_text(rc));
	}
	if (l->n > 0) {
		printf("\nlog:\n");
		for (size_t i = 0; i < l->n; i++)
			printf("  %s\n", l->line[i]);
	}
}

/* SECONDS, or N with m, h or d; -1 when S is none of them. */
static int64_t
age_seconds(const char *s)
{
	char *e;
	long long v;

	errno = 0;
	v = strtoll(s, &e, 10);
	if (errno != 0 || e == s || v < 0 || v > 100LL * 365 * 86400 || s[0] == '-' ||
	    (e[0] != '\0' && e[1] != '\0'))
		return -1;
	switch (e[0]) {
	case '\0': case 's': return v;
	case 'm': return v * 60;
	case 'h': return v * 3600;
	case 'd': return v * 86400;
	default: return -1;
	}
}

static int
cmd_prune_cache(struct wopts *o)
{
	struct ward_conf conf;
	struct state *st = NULL;
	struct audit_log *log = NULL;
	const char *user = o->nargs == 2 ? o->args[1] : NULL;
	int64_t age = o->older_than ? age_seconds(o->older_than) : 0, before = INT64_MAX;
	uint64_t bytes = 0, used = 0, size = 0;
	size_t n = 0;
	char extra[160];
	int r, rc = WEXIT_ERR;

	if (o->nargs > 2 || (o->all && (user != NULL || o->older_than != NULL)) ||
	    (!o->all && user == NULL && o->older_than == NULL)) {
		fprintf(stderr, "usage: wardctl directory prune-cache USER | --all | "
		    "--older-than SECONDS [USER]   (one of them: nothing is removed by "
		    "default)\n");
		return WEXIT_ERR;
	}
	if (user != NULL && ward_user_valid(user) != 0) {
		fprintf(stderr, "wardctl: not a valid user name\n");
		return WEXIT_ERR;
	}
	if (age < 0) {
		fprintf(stderr, "wardctl: --older-than '%s': a number of seconds (or with m, h, "
		    "d: 30m, 12h, 7d)\n", o->older_than);
		return WEXIT_ERR;
	}
	if (o->older_than != NULL)
		before = (int64_t)time(NULL) - age;
	if (wardctl_load_conf(o, &conf) != 0)
		return WEXIT_ERR;
	if ((r = state_open(&st, conf.state_dir, 0)) != 0) {
		fprintf(stderr, "wardctl: state store %s: %s (run wardctl init first?)\n",
		    conf.state_dir, ward_strerror(r));
		goto out;
	}
	if (wardctl_audit_begin(&conf, st, "prune the directory cache", &log) != 0)
		goto out;
	r = state_dircache_prune(st, user, before, &n, &bytes);
	snprintf(extra, sizeof(extra), "(%s%s%s%s%zu entr%s, %llu bytes)", o->all ? "--all" : "",
	    o->older_than ? "--older-than " : "", o->older_than ? o->older_than : "",
	    o->all || o->older_than ? "; " : "", n, n == 1 ? "y" : "ies",
	    (unsigned long long)bytes);
	if (n > 0 || r == 0) {
		/* what was removed is recorded, even when an error stopped the rest */
		if (wardctl_audit_admin(log, "directory prune-cache", user, extra, NULL) != 0)
			r = r ? r : WARD_ERR_AUDIT;
	} else {
		audit_log_close(log);
	}
	if (state_usage(st, &used, &size) != 0)
		used = size = 0;
	if (o->json) {
		printf("{\"user\":");
		json_str(stdout, user);
		printf(",\"pruned\":%zu,\"bytes\":%llu,\"store_used_bytes\":%llu,"
		    "\"store_size_bytes\":%llu,\"error\":", n, (unsigned long long)bytes,
		    (unsigned long long)used, (unsigned long long)size);
		json_str(stdout, r ? ward_strerror(r) : NULL);
		printf("}\n");
	} else {
		printf("%zu directory-cache entr%s removed (%.1f %s)", n, n == 1 ? "y" : "ies",
		    bytes < 1024 * 1024 ? (double)bytes / 1024 : (double)bytes / (1024 * 1024),
		    bytes < 1024 * 1024 ? "KiB" : "MiB");
		printf("; the state store now holds %.1f of %llu MiB (its file keeps its size; "
		    "the freed pages are reused)\n", (double)used / (1024 * 1024),
		    (unsigned long long)(size / (1024 * 1024)));
	}
	if (r != 0 && r != WARD_ERR_AUDIT)
		fprintf(stderr, "wardctl: directory prune-cache: %s%s\n", ward_strerror(r),
		    n ? " (the entries counted above were removed)" : "");
	rc = r == 0 ? WEXIT_OK : WEXIT_ERR;
out:
	state_close(st);
	conf_free(&conf);
	return rc;
}

int
cmd_dir(struct wopts *o)
{
	struct ward_conf conf;
	struct dir_diag dg[CONF_MAX_URIS];
	struct logs l;
	struct policy *pol = NULL;
	const char *user = NULL, *roles[CORE_MAX_ROLES], *eff[CORE_MAX_ROLES * 4];
	char **dns = NULL, *udn = NULL, err[1024], *polerr = NULL;
	size_t n = 0, nd, nroles = 0, neff = 0;
	int rc, ex;

	if (o->nargs >= 1 && strcmp(o->args[0], "prune-cache") == 0)
		return cmd_prune_cache(o);
	if (o->nargs < 1 || strcmp(o->args[0], "test") != 0 || o->nargs > 2) {
		fprintf(stderr, "usage: wardctl directory test [USER] [--json] [--config FILE] "
		    "[--policy FILE]\n       wardctl directory prune-cache USER | --all | "
		    "--older-than SECONDS [USER]\n");
		return WEXIT_ERR;
	}
	if (o->nargs == 2)
		user = o->args[1];
	if (user != NULL && ward_user_valid(user) != 0) {
		fprintf(stderr, "wardctl: not a valid user name\n");
		return WEXIT_ERR;
	}
	memset(&conf, 0, sizeof(conf));
	if (wardctl_load_conf(o, &conf) != 0)
		return WEXIT_ERR;
	if (!conf.directory.enabled) {
		fprintf(stderr, "wardctl: %s has no directory group: roles come from the "
		    "policy's users only\n", conf.path);
		conf_free(&conf);
		return WEXIT_ERR;
	}
	memset(&l, 0, sizeof(l));
	ward_log_set_sink(collect, &l);
	nd = conf.directory.nuri < CONF_MAX_URIS ? conf.directory.nuri : CONF_MAX_URIS;
	rc = dir_diagnose(&conf.directory, user, dg, CONF_MAX_URIS, &dns, &n, &udn);
	ward_log_set_sink(NULL, NULL);
	if (rc == 0 && user != NULL) {
		if ((pol = wardctl_load_policy(&conf, o->policy, NULL, err, sizeof(err))) == NULL) {
			polerr = err;
		} else {
			int mr = core_map_groups(pol, dns, n, roles, &nroles, CORE_MAX_ROLES);
			struct policy_request rq;

			if (mr != 0) {
				snprintf(err, sizeof(err), "mapping groups to roles: %s",
				    ward_strerror(mr));
				polerr = err;
				nroles = 0;
			}
			memset(&rq, 0, sizeof(rq));
			rq.user = user;
			rq.roles = roles;
			rq.nroles = nroles;
			neff = policy_effective_roles(pol, &rq, eff, sizeof(eff) / sizeof(eff[0]));
			if (neff > sizeof(eff) / sizeof(eff[0]))
				neff = sizeof(eff) / sizeof(eff[0]);
		}
	}
	if (o->json)
		print_json(user, dg, nd, rc, udn, dns, n, roles, nroles, eff, neff, polerr, &l);
	else
		print_text(user, dg, nd, rc, udn, dns, n, roles, nroles, eff, neff, polerr, &l);
	ex = rc == 0 ? (polerr ? WEXIT_ERR : WEXIT_OK) :
	    rc == WARD_ERR_NOTFOUND ? WEXIT_NO : WEXIT_ERR;
	for (size_t i = 0; i < l.n; i++)
		free(l.line[i]);
	policy_free(pol);
	dir_free_list(dns, n);
	free(udn);
	conf_free(&conf);
	return ex;
}
