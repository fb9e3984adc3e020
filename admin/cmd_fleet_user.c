/*
 * cmd_fleet_user.c - wardctl enroll, reset, unlock, status and
 * recovery-codes with fleet in ward.conf: on the user's own directory
 * entry, as the directory identity of this host's ward.conf (the
 * enrolment identity, wardctl(8), FLEET), once for every workstation.
 *
 * Rules it keeps:
 *  - Changes go through lib/fleet.h alone: one modify on fleet.write_uri
 *    each, never failed over; the record is read first over
 *    directory.uri (its DN, and whether it is enrolled).
 *  - The secret is sealed under fleet.key_file and the recovery codes
 *    hashed under it (fleet_make_record); both are shown once, as
 *    enroll shows them for the local store, and wiped after.
 *  - status shows the shared state and never the secret, the sealed
 *    value or a hash.
 *  - Every change leaves an admin audit record on this host (refused
 *    before the change when the record could not be written).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "fleet.h"
#include "otp.h"
#include "wardctl.h"

struct fx {
	const struct ward_conf *conf;
	struct fleet *f;
	struct fleet_keyring ring;
	struct fleet_user u;
	struct audit_log *log;
};

/* The identity this ward.conf binds as, for messages. */
static const char *
identity(const struct ward_conf *c)
{
	return c->directory.bind_dn ? c->directory.bind_dn : "this host's SASL identity";
}

/* Print why a directory operation WHAT failed; the exit code. */
static int
fail(const struct fx *x, const char *what, const char *user, int r)
{
	const struct ward_conf *c = x->conf;

	if (r == WARD_ERR_PERM) {
		fprintf(stderr, "wardctl: %s %s: the directory refused (insufficient access): "
		    "%s may not change MFA records through %s; run this on the admin host, whose "
		    "ward.conf binds as an enrolment identity (contrib/ldap/ward-acl.ldif, "
		    "wardctl(8), FLEET)\n", what, user, identity(c), c->fleet.write_uri);
		return WEXIT_ERR;
	}
	if (r == WARD_ERR_NOTFOUND) {
		fprintf(stderr, "wardctl: %s %s: no directory entry for %s (directory.user_filter "
		    "under %s)\n", what, user, user, c->directory.base);
		return WEXIT_NO;
	}
	fprintf(stderr, "wardctl: %s %s: %s (see the log for the directory's answer)\n", what,
	    user, ward_strerror(r));
	return WEXIT_ERR;
}

/* Open the handle, read USER (and load the keys when KEYS), and for a
 * change (ACTION non-NULL) open the audit log.  An exit code. */
static int
fx_open(struct fx *x, const struct ward_conf *conf, const char *user, int keys,
    const char *action)
{
	char err[512];
	int r;

	memset(x, 0, sizeof(*x));
	x->conf = conf;
	x->u.last_step = -1;
	if (keys && fleet_keyring_load(&x->ring, conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "wardctl: fleet key: %s (wardctl init --fleet makes it)\n", err);
		return WEXIT_ERR;
	}
	if (fleet_open(&x->f, conf) != 0) {
		fprintf(stderr, "wardctl: %s: fleet and directory settings unusable\n", conf->path);
		return WEXIT_ERR;
	}
	if ((r = fleet_read(x->f, user, &x->u)) != 0)
		return fail(x, "reading", user, r);
	if (action != NULL && wardctl_audit_begin(conf, NULL, action, &x->log) != 0)
		return WEXIT_ERR;
	return WEXIT_OK;
}

static void
fx_close(struct fx *x)
{
	audit_log_close(x->log);
	fleet_user_clear(&x->u);
	fleet_close(x->f);
	fleet_keyring_wipe(&x->ring);
}

/* New recovery codes into CODES (shown once) and their pointers into P. */
static int
make_codes(const struct ward_conf *conf, char codes[][REC_CODE_LEN], const char **p)
{
	int n = conf->mfa.recovery_codes > FLEET_MAX_RECOVERY ? FLEET_MAX_RECOVERY :
	    conf->mfa.recovery_codes;

	for (int i = 0; i < n; i++) {
		if (secret_recovery_generate(codes[i]) != 0)
			return -1;
		p[i] = codes[i];
	}
	return n;
}

static int
fleet_enroll_cmd(struct wopts *o, const struct ward_conf *conf)
{
	char codes[FLEET_MAX_RECOVERY][REC_CODE_LEN];
	const char *p[FLEET_MAX_RECOVERY], *user, *qr;
	struct fleet_record rec;
	unsigned char *secret = NULL;
	size_t slen = 0;
	struct fx x;
	int algo, digits, n, r, rc;

	memset(&rec, 0, sizeof(rec));
	if ((user = user_one(o, "enroll")) == NULL || user_qr_style(o, &qr) != 0)
		return WEXIT_ERR;
	if ((rc = fx_open(&x, conf, user, 1, "enroll")) != WEXIT_OK)
		goto out;
	rc = WEXIT_ERR;
	if (x.u.secret_ct != NULL && !o->force) {
		fprintf(stderr, "wardctl: %s is already enrolled (on the directory, for every "
		    "workstation); 'wardctl reset %s' first, or --force to replace the secret\n",
		    user, user);
		goto out;
	}
	if (user_new_secret(o, conf, &algo, &digits, &secret, &slen) != 0 ||
	    (n = make_codes(conf, codes, p)) < 0)
		goto out;
	if ((r = fleet_make_record(&x.ring.key[0], user, secret, slen, algo, digits,
	    conf->mfa.period, (int64_t)time(NULL), p, (size_t)n, &rec)) != 0) {
		fprintf(stderr, "wardctl: cannot seal the enrolment: %s\n", ward_strerror(r));
		goto out;
	}
	if ((r = fleet_enroll(x.f, x.u.dn, &rec)) != 0) {
		rc = fail(&x, "enroll", user, r);
		goto out;
	}
	/* done on the directory: show the secret even if its record fails */
	r = wardctl_audit_admin(x.log, "enroll", user, o->secret ? "(fleet; imported secret)" :
	    o->force ? "(fleet; --force: secret replaced)" : "(fleet)", NULL);
	x.log = NULL;
	if (user_show_enrolment(o, conf, user, secret, slen, algo, digits, qr, codes, n) != 0)
		goto out;
	if (!o->json)
		printf("\nWritten to %s through %s: every workstation uses it at its next "
		    "login.\n", x.u.dn, conf->fleet.write_uri);
	rc = r == 0 ? WEXIT_OK : WEXIT_ERR;
out:
	ward_freezero(secret, slen);
	fleet_record_clear(&rec);
	ward_wipe(codes, sizeof(codes));
	fx_close(&x);
	return rc;
}

/* reset and unlock: one change to an enrolled record. */
static int
fleet_change_cmd(struct wopts *o, const struct ward_conf *conf, const char *what)
{
	const char *user;
	struct fx x;
	int r, rc;

	if ((user = user_one(o, what)) == NULL)
		return WEXIT_ERR;
	if ((rc = fx_open(&x, conf, user, 0, what)) != WEXIT_OK)
		goto out;
	if (x.u.secret_ct == NULL) {
		fprintf(stderr, "wardctl: %s is not enrolled\n", user);
		rc = WEXIT_NO;
		goto out;
	}
	r = strcmp(what, "reset") == 0 ? fleet_reset(x.f, x.u.dn) : fleet_unlock(x.f, x.u.dn);
	if (r != 0) {
		rc = fail(&x, what, user, r);
		goto out;
	}
	r = wardctl_audit_admin(x.log, what, user, "(fleet)", NULL);
	x.log = NULL;
	if (o->json)
		printf("{\"user\":\"%s\",\"%s\":true}\n", user, strcmp(what, "reset") == 0 ?
		    "reset" : "unlocked");
	else if (strcmp(what, "reset") == 0)
		printf("%s: enrolment and recovery codes removed from %s, for every workstation; "
		    "enrol again with 'wardctl enroll %s'\n", user, x.u.dn, user);
	else
		printf("%s: failures cleared and lockout lifted on %s, for every workstation\n",
		    user, x.u.dn);
	rc = r == 0 ? WEXIT_OK : WEXIT_ERR;
out:
	fx_close(&x);
	return rc;
}

static int
fleet_status_cmd(struct wopts *o, const struct ward_conf *conf)
{
	const char *user;
	struct fx x;
	int rc;

	if ((user = user_one(o, "status")) == NULL)
		return WEXIT_ERR;
	if ((rc = fx_open(&x, conf, user, 0, NULL)) == WEXIT_OK)
		rc = wardctl_fleet_show(o, user, &x.u);
	fx_close(&x);
	return rc;
}

int
wardctl_fleet_show(const struct wopts *o, const char *user, const struct fleet_user *u)
{
	int64_t now = (int64_t)time(NULL), step_at = u->last_step >= 0 && u->period > 0 ?
	    u->last_step * u->period : 0;
	char t1[32], t2[32], t3[32];
	int locked = u->locked_until > now;

	user_fmt_ts(u->enrolled_at, t1, sizeof(t1));
	user_fmt_ts(step_at, t2, sizeof(t2));
	user_fmt_ts(u->locked_until, t3, sizeof(t3));
	if (o->json) {
		struct jobj j;

		jobj_begin(&j, stdout, 0);
		jobj_str(&j, "user", user);
		jobj_str(&j, "dn", u->dn);
		jobj_key(&j, "enrolled");
		fputs(u->secret_ct != NULL ? "true" : "false", stdout);
		if (u->secret_ct != NULL) {
			jobj_str(&j, "algorithm", otp_algorithm_name(u->algorithm));
			jobj_num(&j, "digits", u->digits);
			jobj_num(&j, "period", u->period);
			jobj_num(&j, "enrolled_at", u->enrolled_at);
		}
		jobj_num(&j, "last_step", u->last_step);
		jobj_num(&j, "last_step_at", step_at);
		jobj_num(&j, "failures", u->failures);
		jobj_key(&j, "locked");
		fputs(locked ? "true" : "false", stdout);
		jobj_num(&j, "locked_until", locked ? u->locked_until : 0);
		jobj_num(&j, "recovery_codes_left", (long long)u->nrecovery);
		jobj_str(&j, "key_ids", u->key_chain);
		jobj_end(&j);
		fputc('\n', stdout);
		return u->secret_ct != NULL ? WEXIT_OK : WEXIT_NO;
	}
	if (u->secret_ct == NULL) {
		printf("%s: not enrolled (%s)\n", user, u->dn);
		return WEXIT_NO;
	}
	printf("%s: enrolled %s (%s, %d digits, %d s), on %s\n", user, t1,
	    otp_algorithm_name(u->algorithm), u->digits, u->period, u->dn);
	if (u->last_step >= 0)
		printf("  last code       step %lld (%s)\n", (long long)u->last_step, t2);
	else
		printf("  last code       none yet\n");
	printf("  failures        %ld\n", u->failures);
	printf("  locked          %s%s\n", locked ? "until " : "no", locked ? t3 : "");
	printf("  recovery codes  %zu left\n", u->nrecovery);
	printf("  fleet key ids   %s\n", u->key_chain[0] ? u->key_chain :
	    "(none recorded: made before key identifiers)");
	return WEXIT_OK;
}

static int
fleet_codes_cmd(struct wopts *o, const struct ward_conf *conf)
{
	char codes[FLEET_MAX_RECOVERY][REC_CODE_LEN];
	const char *p[FLEET_MAX_RECOVERY], *user;
	struct fleet_keyring cur;
	struct fleet_record rec;
	unsigned char *pt = NULL;
	size_t ptlen = 0;
	struct fx x;
	int n = 0, r, rc;

	memset(&rec, 0, sizeof(rec));
	memset(&cur, 0, sizeof(cur));
	if ((user = user_one(o, "recovery-codes")) == NULL)
		return WEXIT_ERR;
	if ((rc = fx_open(&x, conf, user, 1, "recovery-codes")) != WEXIT_OK)
		goto out;
	rc = WEXIT_ERR;
	if (x.u.secret_ct == NULL) {
		fprintf(stderr, "wardctl: %s is not enrolled\n", user);
		rc = WEXIT_NO;
		goto out;
	}
	/* the new set is made under fleet.key_file: the secret must be too */
	cur.key[0] = x.ring.key[0];
	memcpy(cur.id[0], x.ring.id[0], sizeof(cur.id[0]));
	cur.n = 1;
	if (fleet_open_secret(&cur, user, &x.u, &pt, &ptlen) != 0) {
		fprintf(stderr, "wardctl: %s's record is not under fleet.key_file (key ids: %s); "
		    "finish the rotation first (wardctl fleet rekey)\n", user,
		    x.u.key_chain[0] ? x.u.key_chain : "none");
		goto out;
	}
	if ((n = make_codes(conf, codes, p)) < 0 ||
	    fleet_make_record(&cur.key[0], user, pt, ptlen, x.u.algorithm, x.u.digits,
	    x.u.period, x.u.enrolled_at, p, (size_t)n, &rec) != 0) {
		fprintf(stderr, "wardctl: cannot make recovery codes\n");
		goto out;
	}
	if ((r = fleet_recovery_replace(x.f, &x.u, &rec)) != 0) {
		if (r == WARD_ERR_BUSY)
			fprintf(stderr, "wardctl: %s's record changed meanwhile (an enrolment or a "
			    "rotation); nothing was changed: try again\n", user);
		else
			rc = fail(&x, "recovery-codes", user, r);
		goto out;
	}
	r = wardctl_audit_admin(x.log, "recovery-codes", user, "(fleet; new set; old ones "
	    "revoked)", NULL);
	x.log = NULL;
	if (o->json) {
		printf("{\"user\":");
		json_str(stdout, user);
		printf(",");
		user_json_codes(codes, n);
		printf("}\n");
	} else {
		printf("%s: new recovery codes on %s; the old ones no longer work on any "
		    "workstation.\n", user, x.u.dn);
		user_print_codes(o, codes, n);
	}
	rc = r == 0 ? WEXIT_OK : WEXIT_ERR;
out:
	ward_freezero(pt, ptlen);
	fleet_record_clear(&rec);
	fleet_keyring_wipe(&cur);
	ward_wipe(codes, sizeof(codes));
	fx_close(&x);
	return rc;
}

int
cmd_fleet_user(struct wopts *o, const char *name, const struct ward_conf *conf)
{
	if (strcmp(name, "enroll") == 0)
		return fleet_enroll_cmd(o, conf);
	if (strcmp(name, "reset") == 0 || strcmp(name, "unlock") == 0)
		return fleet_change_cmd(o, conf, name);
	if (strcmp(name, "status") == 0)
		return fleet_status_cmd(o, conf);
	if (strcmp(name, "recovery-codes") == 0)
		return fleet_codes_cmd(o, conf);
	return WEXIT_ERR;
}
