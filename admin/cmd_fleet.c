/*
 * cmd_fleet.c - wardctl fleet status [USER] and wardctl fleet rekey NEWKEY
 * (wardctl(8), FLEET): how this host's ward.conf reaches the directory's
 * MFA records, and the rotation of the fleet key.
 *
 * Rules it keeps:
 *  - status changes nothing: its write probe carries an assertion that
 *    never holds (lib/fleet.h, fleet_probe_write), and it never shows a
 *    secret, a sealed value or a hash;
 *  - rekey changes each record with one asserted modify (fleet_rekey),
 *    is safe to run again after an interruption (a record under the new
 *    key is skipped), never prints a secret, and leaves an admin audit
 *    record of what it did.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "fleet.h"
#include "wardctl.h"

static int
load_fleet_conf(const struct wopts *o, struct ward_conf *c)
{
	if (wardctl_load_conf(o, c) != 0)
		return -1;
	if (!c->fleet.enabled) {
		fprintf(stderr, "wardctl: %s has no fleet group (ward.conf(5), FLEET)\n", c->path);
		conf_free(c);
		return -1;
	}
	return 0;
}

/* ---- status ---------------------------------------------------------------- */

static void
print_write(const struct ward_conf *c, const struct fleet_probe *p)
{
	printf("write path   %s (fleet.write_uri)\n", c->fleet.write_uri);
	switch (p->path) {
	case FLEET_PATH_PROVIDER:
		printf("  ok         a provider: writes are applied here (probe answered "
		    "assertionFailed, nothing changed)\n");
		break;
	case FLEET_PATH_CHAINED:
		printf("  ok         a consumer that chains writes to %s (probe answered "
		    "assertionFailed through it, nothing changed)\n", p->referral[0] ?
		    p->referral : "its provider");
		break;
	case FLEET_PATH_REFERS:
		printf("  PROBLEM    a consumer that does not chain writes: it answered with a "
		    "referral to %s; MFA changes would fail.  Chain them (slapo-chain, "
		    "contrib/ldap/README) or point write_uri at the provider\n",
		    p->referral[0] ? p->referral : "(none given)");
		break;
	case FLEET_PATH_REFUSED:
		printf("  PROBLEM    the probe was answered %s (%d), not assertionFailed: "
		    "writes may not reach a provider\n", p->answer, p->code);
		break;
	default:
		printf("  PROBLEM    no answer: %s\n", p->msg);
		break;
	}
}

static const char *const path_names[] = { "provider", "chained", "referral", "refused",
	"unreachable" };

static void
json_node(const struct fleet_node *n, int comma)
{
	struct jobj j;
	const char *v[FLEET_MAX_CSN];

	jobj_begin(&j, stdout, comma);
	jobj_str(&j, "uri", n->uri);
	jobj_key(&j, "ok");
	fputs(n->r == 0 ? "true" : "false", stdout);
	if (n->r != 0)
		jobj_str(&j, "error", n->msg);
	for (size_t i = 0; i < n->ncsn; i++)
		v[i] = n->csn[i];
	jobj_key(&j, "context_csn");
	json_strs(stdout, v, n->ncsn);
	jobj_end(&j);
}

static void
text_node(const char *label, const struct fleet_node *n)
{
	printf("  %-10s %s  ", label, n->uri);
	if (n->r != 0) {
		printf("UNREACHABLE: %s\n", n->msg);
		return;
	}
	for (size_t i = 0; i < n->ncsn; i++)
		printf("%s%s", i ? ", " : "contextCSN ", n->csn[i]);
	printf("%s\n", n->ncsn ? "" : "no contextCSN (not replicated?)");
}

static int
fleet_status(struct wopts *o)
{
	struct fleet_node nodes[CONF_MAX_URIS + 1];
	struct fleet_user u;
	struct fleet_probe p;
	struct ward_conf c;
	struct fleet *f = NULL;
	const char *user = NULL, *dn;
	size_t nn = 0;
	int r, rc = WEXIT_ERR, same = 1, problems = 0, ur = 0;

	memset(&u, 0, sizeof(u));
	if (o->nargs > 2) {
		fprintf(stderr, "wardctl: usage: wardctl fleet status [USER]\n");
		return WEXIT_ERR;
	}
	if (o->nargs == 2 && ward_user_valid(user = o->args[1]) != 0) {
		fprintf(stderr, "wardctl: '%s' is not a valid user name\n", user);
		return WEXIT_ERR;
	}
	if (load_fleet_conf(o, &c) != 0)
		return WEXIT_ERR;
	if (fleet_open(&f, &c) != 0) {
		fprintf(stderr, "wardctl: %s: fleet and directory settings unusable\n", c.path);
		goto out;
	}
	for (size_t i = 0; i < c.directory.nuri; i++)
		fleet_node_read(&c, c.directory.uri[i], &nodes[nn++]);
	fleet_node_read(&c, c.fleet.write_uri, &nodes[nn++]);
	for (size_t i = 0; i < nn; i++) {
		problems += nodes[i].r != 0;
		same = same && fleet_node_same(&nodes[0], &nodes[i]);
	}
	if (user != NULL && (ur = fleet_read(f, user, &u)) != 0 && ur != WARD_ERR_NOTFOUND)
		fprintf(stderr, "wardctl: reading %s: %s\n", user, ward_strerror(ur));
	/* the probe's entry: the user's, else this identity's own, else the base */
	dn = u.dn != NULL ? u.dn : c.directory.bind_dn ? c.directory.bind_dn : c.directory.base;
	r = fleet_probe_write(f, dn, &p);
	problems += p.path != FLEET_PATH_PROVIDER && p.path != FLEET_PATH_CHAINED;
	problems += !same;
	if (o->json) {
		struct jobj j, wj;

		jobj_begin(&j, stdout, 0);
		jobj_str(&j, "config", c.path);
		jobj_str(&j, "identity", c.directory.bind_dn);
		jobj_key(&j, "read");
		fputc('[', stdout);
		for (size_t i = 0; i + 1 < nn; i++)
			json_node(&nodes[i], i > 0);
		fputc(']', stdout);
		jobj_key(&j, "write");
		jobj_begin(&wj, stdout, 0);
		jobj_str(&wj, "uri", c.fleet.write_uri);
		jobj_str(&wj, "path", path_names[p.path]);
		jobj_num(&wj, "code", p.code);
		jobj_num(&wj, "code_referrals_required", p.code_ref);
		jobj_str(&wj, "referral", p.referral[0] ? p.referral : NULL);
		if (r != 0)
			jobj_str(&wj, "error", p.msg);
		jobj_key(&wj, "node");
		json_node(&nodes[nn - 1], 0);
		jobj_end(&wj);
		jobj_key(&j, "replication");
		fputs(same ? "\"in_step\"" : "\"differs\"", stdout);
		if (user != NULL) {
			jobj_key(&j, "user");
			if (ur == 0)
				(void)wardctl_fleet_show(o, user, &u);
			else
				fputs("null", stdout);
		}
		jobj_end(&j);
		fputc('\n', stdout);
	} else {
		printf("fleet        %s, bound as %s\n", c.path, c.directory.bind_dn ?
		    c.directory.bind_dn : "(SASL identity)");
		printf("read URIs    (directory.uri, in failover order)\n");
		for (size_t i = 0; i + 1 < nn; i++)
			text_node("", &nodes[i]);
		print_write(&c, &p);
		text_node("", &nodes[nn - 1]);
		if (same)
			printf("replication  in step: every read URI and the write path hold the same "
			    "contextCSN\n");
		else
			printf("replication  NOT in step (or a server unreachable): the contextCSN "
			    "differs; a change reaches a workstation once its read URI has it\n");
		if (user != NULL && ur == WARD_ERR_NOTFOUND)
			printf("%s: no directory entry\n", user);
		else if (user != NULL && ur == 0)
			(void)wardctl_fleet_show(o, user, &u);
	}
	/* a user asked about and not enrolled is a negative answer too */
	if (user != NULL && (ur != 0 || u.secret_ct == NULL))
		problems++;
	rc = problems ? WEXIT_NO : WEXIT_OK;
out:
	fleet_user_clear(&u);
	fleet_close(f);
	conf_free(&c);
	return rc;
}

/* ---- rekey ------------------------------------------------------------------- */

struct progress {
	int json;
};

static void
on_progress(void *arg, const char *user, const char *what)
{
	const struct progress *pr = arg;

	if (pr->json)
		return;
	/* a line at a time, as it happens: an interrupted run says how far
	 * it got */
	printf("  %-9s %s\n", what, user);
	fflush(stdout);
}

static int
fleet_rekey_cmd(struct wopts *o)
{
	struct fleet_rekey_stats st;
	struct fleet_keyring old;
	struct secret_key newk;
	struct audit_log *log = NULL;
	struct progress pr = { o->json };
	struct ward_conf c;
	struct fleet *f = NULL;
	char err[512], newid[FLEET_KEYID_LEN + 1], extra[256];
	const char *path;
	int r, rc = WEXIT_ERR;

	memset(&old, 0, sizeof(old));
	memset(&newk, 0, sizeof(newk));
	if (o->nargs != 2) {
		fprintf(stderr, "wardctl: usage: wardctl fleet rekey NEWKEYFILE\n");
		return WEXIT_ERR;
	}
	path = o->args[1];
	if (load_fleet_conf(o, &c) != 0)
		return WEXIT_ERR;
	if (fleet_keyring_load(&old, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "wardctl: fleet key: %s\n", err);
		goto out;
	}
	/* the new key: made here when absent (0600, never replaced), so a
	 * second run after an interruption uses the same one */
	r = secret_key_create(path, err, sizeof(err));
	if (r == 0 && !o->json)
		printf("created  %s (new fleet key, 32 random bytes, 0600)\n", path);
	if ((r != 0 && r != WARD_ERR_EXISTS) ||
	    secret_key_load(&newk, path, err, sizeof(err)) != 0 ||
	    fleet_key_id(&newk, newid) != 0) {
		fprintf(stderr, "wardctl: new fleet key: %s\n", err);
		goto out;
	}
	if (fleet_open(&f, &c) != 0) {
		fprintf(stderr, "wardctl: %s: fleet and directory settings unusable\n", c.path);
		goto out;
	}
	if (wardctl_audit_begin(&c, NULL, "fleet rekey", &log) != 0)
		goto out;
	if (!o->json)
		printf("resealing every enrolled record under key %s (from %s%s%s), through "
		    "%s\n", newid, old.id[0], old.n > 1 ? " and " : "", old.n > 1 ? old.id[1] : "",
		    c.fleet.write_uri);
	r = fleet_rekey(f, &old, &newk, on_progress, &pr, &st);
	snprintf(extra, sizeof(extra), "(fleet key %s: %zu resealed, %zu already, %zu under "
	    "another key, %zu failed%s)", newid, st.resealed, st.already, st.other, st.failed,
	    r != 0 ? "; stopped" : "");
	if (wardctl_audit_admin(log, "fleet rekey", NULL, extra, NULL) != 0 && r == 0)
		r = WARD_ERR_AUDIT;
	log = NULL;
	if (o->json) {
		printf("{\"key_id\":\"%s\",\"resealed\":%zu,\"already\":%zu,\"wrapped\":%zu,"
		    "\"other\":%zu,\"failed\":%zu,\"complete\":%s}\n", newid, st.resealed,
		    st.already, st.wrapped, st.other, st.failed, r == 0 && st.other == 0 &&
		    st.failed == 0 ? "true" : "false");
	} else {
		printf("%zu resealed now, %zu already under the new key, %zu under another key, "
		    "%zu failed\n", st.resealed, st.already, st.other, st.failed);
		if (r != 0)
			printf("STOPPED: %s; run the same command again to finish (records "
			    "done are skipped)\n", r == WARD_ERR_PERM ? "the directory refused "
			    "(insufficient access): run it as the enrolment identity" :
			    r == WARD_ERR_TOOBIG ? "the directory's size limit on paged results "
			    "(see the log)" : ward_strerror(r));
		else if (st.other || st.failed)
			printf("not complete: the records named above were left as they are (see "
			    "the log)\n");
		else
			printf("complete.  Next: fleet.key_file = %s and fleet.old_key_file = the "
			    "old key, here and on every workstation (wardctl(8), fleet rekey)%s\n",
			    path, st.wrapped ? "; keep old_key_file while records keep recovery "
			    "codes wrapped over it" : "");
		if (st.wrapped)
			printf("%zu record%s keep%s recovery codes wrapped over the old key "
			    "(wardctl recovery-codes USER gives a new set under the new key alone)\n",
			    st.wrapped, st.wrapped == 1 ? "" : "s", st.wrapped == 1 ? "s" : "");
	}
	rc = r != 0 ? WEXIT_ERR : st.other || st.failed ? WEXIT_NO : WEXIT_OK;
out:
	audit_log_close(log);
	fleet_close(f);
	fleet_keyring_wipe(&old);
	secret_key_wipe(&newk);
	conf_free(&c);
	return rc;
}

int
cmd_fleet(struct wopts *o)
{
	const char *sub = o->nargs > 0 ? o->args[0] : "";

	if (strcmp(sub, "status") == 0)
		return fleet_status(o);
	if (strcmp(sub, "rekey") == 0)
		return fleet_rekey_cmd(o);
	fprintf(stderr, "wardctl: fleet: unknown subcommand '%s' (status, rekey)\n", sub);
	return WEXIT_ERR;
}
