/*
 * bench_dir.c - role lookup for one login against the loopback slapd of
 * bench/run-30-dir.sh (10,000 people, 1,000 groups, every tenth group
 * nested in the next).  Not a test: it prints, never asserts.
 *
 *   bench_dir ENVFILE PASSWORDFILE STATEDIR
 *
 * ENVFILE is the DIR/env that tests/dir/slapd.sh writes.  Measured, each a
 * distribution with p50 and p99:
 *   cold     new handle: TCP connect, TLS 1.3 handshake (ldaps://, or
 *            ldap:// + StartTLS), simple bind, user search, group searches
 *            (nested), unbind - what a login process pays without a cache
 *   warm     another user on a connection already bound (the account
 *            phase after auth in one PAM transaction)
 *   cached   dir_groups_cached answered from the state store (fresh entry)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dir.h"
#include "state.h"
#include "benchutil.h"

#define S(x) ((char *)(uintptr_t)(x))

static char e_ldap[1024], e_ldaps[1024], e_ca[1024];

static int
read_env(const char *path)
{
	char line[1024];
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "LDAP_URI=", 9) == 0)
			snprintf(e_ldap, sizeof(e_ldap), "%s", line + 9);
		else if (strncmp(line, "LDAPS_URI=", 10) == 0)
			snprintf(e_ldaps, sizeof(e_ldaps), "%s", line + 10);
		else if (strncmp(line, "CA_FILE=", 8) == 0)
			snprintf(e_ca, sizeof(e_ca), "%s", line + 8);
	}
	fclose(f);
	return e_ldaps[0] && e_ca[0] ? 0 : -1;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *label, double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp);
	printf("%-34s n=%-6zu p50_us=%-9.1f p99_us=%-9.1f max_us=%.1f\n", label, n,
	    v[n / 2], v[(n * 99) / 100], v[n - 1]);
}

/* gen user I: in group (I-1)/10+1; every tenth group contains the one
 * before it, so users 81..90 (group 9, inside group 10) have two groups. */
static void
user_name(unsigned i, char *buf, size_t len)
{
	snprintf(buf, len, "gen%05u", i);
}

int
main(int argc, char **argv)
{
	struct conf_directory c;
	struct state *st = NULL;
	struct dir *d = NULL;
	char **dns = NULL, user[32];
	size_t n = 0;
	double *v;
	const size_t ncold = 300, nwarm = 2000, ncached = 20000;
	int off = 0;

	if (argc != 4 || read_env(argv[1]) != 0) {
		fprintf(stderr, "usage: bench_dir ENVFILE PASSWORDFILE STATEDIR\n");
		return 2;
	}
	memset(&c, 0, sizeof(c));
	c.enabled = 1;
	c.uri[0] = e_ldaps;
	c.nuri = 1;
	c.base = S("dc=example,dc=org");
	c.bind_dn = S("cn=ward,ou=services,dc=example,dc=org");
	c.bind_password_file = argv[2];
	c.ca_file = e_ca;
	c.user_filter = S("(&(objectClass=inetOrgPerson)(uid=%u))");
	c.group_filter = S("(&(objectClass=groupOfNames)(member=%d))");
	c.member_of_attr = S("memberOf");
	c.nested_depth = 3;
	c.timeout_ms = 2000;
	c.cache_seconds = 300;
	c.offline_max_age = 43200;
	c.max_entries = 1000;
	c.max_values = 10000;
	if ((v = calloc(ncached, sizeof(*v))) == NULL)
		return 2;

	/* sanity: the nested user has both groups */
	if (dir_open(&d, &c) != 0 || dir_user_groups(d, "gen00085", &dns, &n, NULL) != 0 ||
	    n != 2) {
		fprintf(stderr, "bench_dir: lookup of gen00085 failed (n=%zu)\n", n);
		return 2;
	}
	dir_free_list(dns, n);
	dir_close(d);
	d = NULL;

	for (int mode = 0; mode < 2; mode++) {
		if (mode == 1) {
			if (e_ldap[0] == '\0')
				break;
			c.uri[0] = e_ldap;
			c.starttls = 1;
		}
		for (size_t i = 0; i < ncold; i++) {
			double t0;
			int r;

			user_name((unsigned)(i * 37 % 10000) + 1, user, sizeof(user));
			t0 = bench_now_us();
			r = dir_open(&d, &c);
			if (r == 0)
				r = dir_user_groups(d, user, &dns, &n, NULL);
			dir_close(d);
			d = NULL;
			v[i] = bench_now_us() - t0;
			if (r != 0) {
				fprintf(stderr, "bench_dir: %s: %s\n", user, ward_strerror(r));
				return 2;
			}
			dir_free_list(dns, n);
		}
		report(mode == 0 ? "cold (new ldaps:// connection)" :
		    "cold (new ldap:// + StartTLS)", v, ncold);
	}
	c.uri[0] = e_ldaps;
	c.starttls = 0;

	if (dir_open(&d, &c) != 0)
		return 2;
	for (size_t i = 0; i < nwarm; i++) {
		double t0;

		user_name((unsigned)(i * 53 % 10000) + 1, user, sizeof(user));
		t0 = bench_now_us();
		if (dir_user_groups(d, user, &dns, &n, NULL) != 0)
			return 2;
		v[i] = bench_now_us() - t0;
		dir_free_list(dns, n);
	}
	report("warm (bound connection)", v, nwarm);
	dir_close(d);
	d = NULL;

	if (state_open(&st, argv[3], 1) != 0)
		return 2;
	/* fill the cache for 100 users, then ask again within cache_seconds */
	for (unsigned i = 1; i <= 100; i++) {
		user_name(i, user, sizeof(user));
		if (dir_groups_cached(&d, &c, st, user, 1900000000, &dns, &n, &off, NULL) != 0)
			return 2;
		dir_free_list(dns, n);
	}
	dir_close(d);
	d = NULL;
	for (size_t i = 0; i < ncached; i++) {
		double t0;

		user_name((unsigned)(i % 100) + 1, user, sizeof(user));
		t0 = bench_now_us();
		if (dir_groups_cached(&d, &c, st, user, 1900000010, &dns, &n, &off, NULL) != 0 ||
		    d != NULL)
			return 2;
		v[i] = bench_now_us() - t0;
		dir_free_list(dns, n);
	}
	report("cached (state store, fresh)", v, ncached);
	state_close(st);
	free(v);
	return 0;
}
