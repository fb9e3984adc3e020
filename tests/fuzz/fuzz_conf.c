/* fuzz_conf.c - the ward.conf parser (conf_load_buffer: everything
 * conf_load does after the trusted opener has read the file) on arbitrary
 * text.  A config that loads must hold only in-range values and every path
 * it promises; one that fails must say where and leave nothing behind. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
quiet(void *ctx, int prio, const char *msg)
{
	(void)ctx;
	(void)prio;
	(void)msg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ward_conf c;
	char err[1024], *text;
	int r;

	if (size > 1 << 20)
		return 0;
	ward_log_set_sink(quiet, NULL);
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	r = conf_load_buffer(&c, "fuzz.conf", text, err, sizeof(err));
	if (r == 0) {
		const struct conf_directory *d = &c.directory;

		if (c.policy_file == NULL || c.snapshot_file == NULL || c.state_dir == NULL ||
		    c.key_file == NULL || c.audit.path == NULL || c.daemon.socket == NULL ||
		    c.mfa.issuer == NULL || strcmp(c.path, "fuzz.conf") != 0)
			abort();
		if (c.mfa.digits < 6 || c.mfa.digits > 8 || c.mfa.period < 15 ||
		    c.mfa.period > 300 || c.mfa.window < 0 || c.mfa.window > 10 ||
		    c.mfa.max_failures < 1 || c.mfa.lockout_seconds < 1 ||
		    c.mfa.recovery_codes < 1 || c.mfa.recovery_codes > 16 ||
		    (unsigned)c.mfa.algorithm > 2)
			abort();
		/* every file and folder is an absolute path */
		if (c.policy_file[0] != '/' || c.snapshot_file[0] != '/' ||
		    c.state_dir[0] != '/' || c.key_file[0] != '/' || c.audit.path[0] != '/' ||
		    c.daemon.socket[0] != '/' ||
		    strlen(c.daemon.socket) > CONF_SOCKET_MAX ||
		    (d->ca_file != NULL && d->ca_file[0] != '/'))
			abort();
		if (d->enabled) {
			if (d->nuri < 1 || d->nuri > CONF_MAX_URIS || d->base == NULL ||
			    strstr(d->user_filter, "%u") == NULL ||
			    (d->group_filter && strstr(d->group_filter, "%d") == NULL) ||
			    d->timeout_ms < 100 || d->timeout_ms > 60000 ||
			    d->nested_depth < 0 || d->nested_depth > 10)
				abort();
			for (size_t i = 0; i < d->nuri; i++) {
				/* certificates are always verified: TLS needs a CA */
				if (d->uri[i] == NULL)
					abort();
				if ((strncmp(d->uri[i], "ldaps://", 8) == 0 ||
				     (strncmp(d->uri[i], "ldap://", 7) == 0 && d->starttls)) &&
				    d->ca_file == NULL)
					abort();
				if (strncmp(d->uri[i], "ldap://", 7) == 0 && !d->starttls &&
				    !d->allow_plaintext)
					abort();
			}
		}
	} else {
		/* refused: a message, a negative code, nothing kept */
		if (r > 0 || err[0] == '\0' || c.path != NULL || c.policy_file != NULL)
			abort();
	}
	conf_free(&c);
	free(text);
	return 0;
}
