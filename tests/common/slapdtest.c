/* slapdtest.c - a throwaway slapd for the tests (see slapdtest.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slapdtest.h"
#include "testutil.h"

static char script[1200], ldapdir[1200];
static int started;

void
tu_slapd_stop(void)
{
	if (started) {
		tu_sh("'%s' clean '%s' >/dev/null 2>&1", script, ldapdir);
		started = 0;
	}
}

static void
on_signal(int sig)
{
	tu_slapd_stop();
	signal(sig, SIG_DFL);
	raise(sig);
}

int
tu_slapd_start(const char *dir)
{
	snprintf(script, sizeof(script), "%s/tests/dir/slapd.sh", tu_src());
	snprintf(ldapdir, sizeof(ldapdir), "%s", dir);
	atexit(tu_slapd_stop);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	started = 1;
	return tu_sh("'%s' start '%s' '%s/contrib/ldap/hospital.ldif' >/dev/null", script,
	    ldapdir, tu_src());
}

int
tu_slapd_cmd(const char *what)
{
	return tu_sh("'%s' %s '%s' >/dev/null", script, what, ldapdir);
}

int
tu_slapd_env(const char *name, char *out, size_t len)
{
	char cmd[1400], *v;
	int st;

	out[0] = '\0';
	snprintf(cmd, sizeof(cmd), ". '%s/env' && printf '%%s' \"$%s\"", ldapdir, name);
	if ((v = tu_run(cmd, 0, &st)) == NULL || st != 0) {
		free(v);
		return -1;
	}
	snprintf(out, len, "%s", v);
	free(v);
	return 0;
}
