/*
 * dir_fleet_admin.c - what the enrolment identity and wardctl do to fleet
 * records besides enrolling (fleet.h, KEYS and below): key identifiers,
 * the key ring, reset, new recovery codes, the write-path probe, the
 * replication state, and the rotation of the fleet key.
 *
 * Rules it keeps:
 *  - Every change is one modify on the write path (dir_fleet.c's modify:
 *    no answer is never a success), its condition an assertion naming
 *    what was read: a record changed meanwhile is never overwritten.
 *  - A rotation changes a record only when it opened the sealed secret
 *    with a key of the old ring; the new key's identifier goes first in
 *    the same modify, so "done" is a property of the record itself and a
 *    second run never wraps a hash twice.
 *  - Nothing logged or passed to PROGRESS names a secret, a code or a
 *    hash; user names, DNs and LDAP error texts only.
 */
#include <ldap.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "dir_int.h"
#include "fleet.h"

#define A_SECRET "wardTotpSecret"
#define A_PARAMS "wardTotpParams"
#define A_ENROLLED "wardEnrolledAt"
#define A_STEP "wardTotpLastStep"
#define A_FAIL "wardFailureCount"
#define A_LOCK "wardLockoutUntil"
#define A_REC "wardRecoveryCode"
#define A_SALT "wardRecoverySalt"
#define A_KEYID "wardKeyId"

#define ATTR(s) ((char *)(uintptr_t)(s))
#define REKEY_PAGE 200              /* entries a page of the rotation's search */
#define REKEY_TRIES 5               /* a record that changed meanwhile: read again */

static const char keyid_label[] = "ward fleet key id v1";
static const char rewrap_label[] = "ward recovery rewrap v1";

/* ---- keys ------------------------------------------------------------------ */

static int
hmac(const unsigned char *key, const void *msg, size_t len, unsigned char out[32])
{
	size_t olen = 0;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, SECRET_KEY_LEN, msg, len, out,
	    32, &olen) == NULL || olen != 32)
		return WARD_ERR_CRYPTO;
	return 0;
}

int
fleet_key_id(const struct secret_key *k, char out[FLEET_KEYID_LEN + 1])
{
	unsigned char md[32];
	int r = hmac(k->k, keyid_label, sizeof(keyid_label) - 1, md);

	out[0] = '\0';
	if (r != 0)
		return r;
	for (int i = 0; i < FLEET_KEYID_LEN / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int
fleet_recovery_rewrap(const struct secret_key *k, const unsigned char in[FLEET_HASH_LEN],
    unsigned char out[FLEET_HASH_LEN])
{
	unsigned char msg[sizeof(rewrap_label) + FLEET_HASH_LEN];
	int r;

	/* the label's NUL is the separator */
	memcpy(msg, rewrap_label, sizeof(rewrap_label));
	memcpy(msg + sizeof(rewrap_label), in, FLEET_HASH_LEN);
	r = hmac(k->k, msg, sizeof(msg), out);
	ward_wipe(msg, sizeof(msg));
	return r;
}

int
fleet_keyring_load(struct fleet_keyring *ring, const struct ward_conf *conf, char *err,
    size_t errlen)
{
	const char *files[2] = { conf->fleet.key_file, conf->fleet.old_key_file };
	int r = 0;

	memset(ring, 0, sizeof(*ring));
	for (size_t i = 0; i < 2 && r == 0; i++) {
		if (files[i] == NULL)
			continue;
		if ((r = secret_key_load(&ring->key[ring->n], files[i], err, errlen)) == 0 &&
		    (r = fleet_key_id(&ring->key[ring->n], ring->id[ring->n])) == 0)
			ring->n++;
	}
	if (r != 0)
		fleet_keyring_wipe(ring);
	return r;
}

void
fleet_keyring_wipe(struct fleet_keyring *ring)
{
	if (ring != NULL)
		ward_wipe(ring, sizeof(*ring));
}

const struct secret_key *
fleet_keyring_find(const struct fleet_keyring *ring, const char *id)
{
	for (size_t i = 0; i < ring->n; i++)
		if (strcmp(ring->id[i], id) == 0)
			return &ring->key[i];
	return NULL;
}

/* The identifiers of CHAIN into IDS (at most FLEET_MAX_KEYS). */
static int
chain_split(const char *chain, char ids[FLEET_MAX_KEYS][FLEET_KEYID_LEN + 1], size_t *n)
{
	const char *p = chain;

	*n = 0;
	while (*p != '\0') {
		size_t len = strcspn(p, " ");

		if (len != FLEET_KEYID_LEN || *n == FLEET_MAX_KEYS)
			return WARD_ERR_CORRUPT;
		memcpy(ids[*n], p, len);
		ids[(*n)++][len] = '\0';
		p += len;
		if (*p == ' ' && *++p == '\0')
			return WARD_ERR_CORRUPT;
	}
	return 0;
}

int
fleet_open_secret(const struct fleet_keyring *ring, const char *user, const struct fleet_user *u,
    unsigned char **pt, size_t *ptlen)
{
	char ids[FLEET_MAX_KEYS][FLEET_KEYID_LEN + 1];
	const struct secret_key *k;
	size_t n;
	int r;

	*pt = NULL;
	*ptlen = 0;
	if (u->secret_ct == NULL)
		return WARD_ERR_NOTFOUND;
	if ((r = chain_split(u->key_chain, ids, &n)) != 0)
		return r;
	if (n > 0) {
		if ((k = fleet_keyring_find(ring, ids[0])) == NULL)
			return WARD_ERR_CRYPTO;
		return secret_open(k, user, u->secret_ct, u->secret_ct_len, pt, ptlen);
	}
	/* no chain: made before identifiers, under one of them */
	r = WARD_ERR_CRYPTO;
	for (size_t i = 0; i < ring->n && r != 0; i++)
		r = secret_open(&ring->key[i], user, u->secret_ct, u->secret_ct_len, pt, ptlen);
	return r;
}

int
fleet_recovery_value(const struct fleet_keyring *ring, const char *user,
    const struct fleet_user *u, const char *code, unsigned char out[FLEET_HASH_LEN])
{
	char ids[FLEET_MAX_KEYS][FLEET_KEYID_LEN + 1];
	const struct secret_key *k;
	size_t n;
	int r;

	if (!u->has_salt)
		return WARD_ERR_NOTFOUND;
	if ((r = chain_split(u->key_chain, ids, &n)) != 0)
		return r;
	if (n == 0) {
		/* made before identifiers: under the key that opens its secret
		 * (the current one when there is no secret to tell) */
		k = ring->n > 0 ? &ring->key[0] : NULL;
		for (size_t i = 0; u->secret_ct != NULL && i < ring->n; i++) {
			unsigned char *pt = NULL;
			size_t ptlen = 0;

			if (secret_open(&ring->key[i], user, u->secret_ct, u->secret_ct_len, &pt,
			    &ptlen) == 0) {
				ward_freezero(pt, ptlen);
				k = &ring->key[i];
				break;
			}
		}
		return k != NULL ? fleet_recovery_hash(k, u->recovery_salt, user, code, out) :
		    WARD_ERR_CRYPTO;
	}
	if ((k = fleet_keyring_find(ring, ids[n - 1])) == NULL)
		return WARD_ERR_CRYPTO;
	if ((r = fleet_recovery_hash(k, u->recovery_salt, user, code, out)) != 0)
		return r;
	for (size_t i = n - 1; i-- > 0;) {
		if ((k = fleet_keyring_find(ring, ids[i])) == NULL ||
		    fleet_recovery_rewrap(k, out, out) != 0) {
			ward_wipe(out, FLEET_HASH_LEN);
			return WARD_ERR_CRYPTO;
		}
	}
	return 0;
}

/* ---- filters --------------------------------------------------------------- */

/* "(ATTR=VALUE)" with VALUE escaped, appended to F. */
static int
put_eq(FILE *f, const char *attr, const void *val, size_t len)
{
	struct berval bv = { len, (char *)(uintptr_t)val }, esc = { 0, NULL };

	if (ldap_bv2escaped_filter_value(&bv, &esc) != 0)
		return WARD_ERR_NOMEM;
	fprintf(f, "(%s=%s)", attr, esc.bv_val);
	ber_memfree(esc.bv_val);
	return 0;
}

/* ---- reset and new recovery codes -------------------------------------------- */

int
fleet_reset(struct fleet *f, const char *dn)
{
	static const char *const gone[] = { A_SECRET, A_PARAMS, A_ENROLLED, A_REC, A_SALT,
		A_KEYID, A_LOCK };
	char zero[] = "0", *vzero[2] = { zero, NULL };
	LDAPMod m[8], *mods[9];
	size_t k = 0;
	int r, code = LDAP_OTHER;

	if (dn == NULL)
		return WARD_ERR_INVAL;
	for (; k < sizeof(gone) / sizeof(gone[0]); k++) {
		dir_fleet_mod_set(&m[k], LDAP_MOD_REPLACE, gone[k], NULL);
		mods[k] = &m[k];
	}
	dir_fleet_mod_set(&m[k], LDAP_MOD_REPLACE, A_FAIL, vzero);
	mods[k] = &m[k];
	mods[k + 1] = NULL;
	if ((r = dir_fleet_modify(f, dn, mods, NULL, &code)) != 0)
		return r;
	return code == LDAP_SUCCESS ? 0 : dir_fleet_write_err(f, dn, "resetting", code);
}

int
fleet_recovery_replace(struct fleet *f, const struct fleet_user *u,
    const struct fleet_record *rec)
{
	char keyid[FLEET_KEYID_LEN + 1], *vkeyid[2] = { keyid, NULL }, *filter = NULL;
	struct berval saltv, rv[FLEET_MAX_RECOVERY], *vsalt[2] = { &saltv, NULL };
	struct berval *vrec[FLEET_MAX_RECOVERY + 1];
	LDAPMod m[3], *mods[4] = { &m[0], &m[1], &m[2], NULL };
	size_t flen = 0;
	FILE *fp;
	int r, code = LDAP_OTHER;

	if (u == NULL || u->dn == NULL || u->secret_ct == NULL || rec == NULL ||
	    rec->nrecovery > FLEET_MAX_RECOVERY || rec->key_id[0] == '\0')
		return WARD_ERR_INVAL;
	if ((fp = open_memstream(&filter, &flen)) == NULL)
		return WARD_ERR_NOMEM;
	r = put_eq(fp, A_SECRET, u->secret_ct, u->secret_ct_len);
	if (fclose(fp) != 0 || r != 0) {
		free(filter);
		return WARD_ERR_NOMEM;
	}
	snprintf(keyid, sizeof(keyid), "%s", rec->key_id);
	saltv.bv_val = (char *)(uintptr_t)rec->salt;
	saltv.bv_len = FLEET_SALT_LEN;
	dir_fleet_hash_vals(rv, vrec, rec->recovery, rec->nrecovery);
	dir_fleet_mod_setb(&m[0], LDAP_MOD_REPLACE, A_SALT, vsalt);
	dir_fleet_mod_setb(&m[1], LDAP_MOD_REPLACE, A_REC, rec->nrecovery ? vrec : NULL);
	/* the new set is under the key that opens the secret: one identifier */
	dir_fleet_mod_set(&m[2], LDAP_MOD_REPLACE, A_KEYID, vkeyid);
	r = dir_fleet_modify(f, u->dn, mods, filter, &code);
	free(filter);
	if (r != 0)
		return r;
	if (code == LDAP_SUCCESS)
		return 0;
	if (code == LDAP_ASSERTION_FAILED)
		return WARD_ERR_BUSY;
	return dir_fleet_write_err(f, u->dn, "replacing the recovery codes", code);
}

/* ---- the write path and replication ------------------------------------------ */

/* One modify of DN on D with CTRLS: *CODE the answer and its first
 * referral URL into REF.  No answer: an outage, the connection dropped. */
static int
probe_once(struct dir *d, const char *dn, LDAPMod **mods, LDAPControl **ctrls, int *code,
    char *ref, size_t reflen)
{
	LDAPMessage *res = NULL;
	struct timeval tv;
	char **refs = NULL;
	int msgid, rc, r = 0;

	*code = LDAP_OTHER;
	ref[0] = '\0';
	if ((r = dir_fleet_conn(d)) != 0)
		return r;
	dir_budget_start(d);
	dir_step_start(d);
	dir_step_tv(d, &tv);
	rc = ldap_modify_ext(d->ld, dn, mods, ctrls, NULL, &msgid);
	if (rc == LDAP_SUCCESS && ldap_result(d->ld, msgid, LDAP_MSG_ALL, &tv, &res) > 0 &&
	    ldap_parse_result(d->ld, res, code, NULL, NULL, &refs, NULL, 1) == LDAP_SUCCESS) {
		if (refs != NULL && refs[0] != NULL) {
			/* the server, not the entry: scheme://host:port/ */
			char *h = strstr(refs[0], "://"), *sl = h ? strchr(h + 3, '/') : NULL;

			if (sl != NULL)
				sl[1] = '\0';
			snprintf(ref, reflen, "%s", refs[0]);
		}
		ldap_memvfree((void **)refs);
		d->guard_on = 0;
		dir_budget_end(d);
		return 0;
	}
	r = d->timed_out ? WARD_ERR_TIMEOUT : WARD_ERR_UNAVAIL;
	if (res != NULL && rc == LDAP_SUCCESS)
		ldap_msgfree(res);
	dir_budget_end(d);
	dir_drop_conn(d);
	return r;
}

/* The chaining-behavior control (OpenLDAP's, non-critical) asking for a
 * referral rather than a chained operation: resolveBehavior
 * referralsRequired (3). */
#define CHAINING_OID "1.3.6.1.4.1.4203.666.11.3"
#define REFERRALS_REQUIRED 3

static int
referrals_required(LDAPControl **out)
{
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	struct berval bv;
	int r = WARD_ERR_NOMEM;

	*out = NULL;
	if (ber == NULL)
		return r;
	if (ber_printf(ber, "{e}", (ber_int_t)REFERRALS_REQUIRED) != -1 &&
	    ber_flatten2(ber, &bv, 0) != -1 &&
	    ldap_control_create(CHAINING_OID, 0, &bv, 1, out) == LDAP_SUCCESS)
		r = 0;
	ber_free(ber, 1);
	return r;
}

int
fleet_probe_write(struct fleet *f, const char *dn, struct fleet_probe *p)
{
	char probe[] = "ward write-path probe", *vprobe[2] = { probe, NULL };
	char never[] = "(!(objectClass=*))";
	LDAPMod m, *mods[2] = { &m, NULL };
	LDAPControl *a = NULL, *ch = NULL, *ctrls[3] = { NULL, NULL, NULL };
	struct dir *d = dir_fleet_path(f, 1);
	int r;

	memset(p, 0, sizeof(*p));
	p->code = p->code_ref = -1;
	dir_fleet_mod_set(&m, LDAP_MOD_REPLACE, "description", vprobe);
	if ((r = dir_fleet_conn(d)) != 0)
		goto out;
	if (ldap_create_assertion_control(d->ld, never, 1, &a) != LDAP_SUCCESS) {
		r = WARD_ERR_NOMEM;
		goto out;
	}
	ctrls[0] = a;
	/* as a change would go; a chaining consumer's first chained write may
	 * be answered 52 (dir_fleet.c, modify): once more */
	for (int i = 0; i < 2 && (i == 0 || p->code == LDAP_UNAVAILABLE); i++)
		if ((r = probe_once(d, dn, mods, ctrls, &p->code, p->referral,
		    sizeof(p->referral))) != 0)
			goto out;
	if (p->code != LDAP_ASSERTION_FAILED)
		goto out;
	/* it reached a provider: here, or chained?  A consumer refers it when
	 * asked to (the chain overlay honours the control; a provider has
	 * nothing to refer) */
	if ((r = referrals_required(&ch)) != 0)
		goto out;
	ctrls[1] = ch;
	r = probe_once(d, dn, mods, ctrls, &p->code_ref, p->referral, sizeof(p->referral));
out:
	if (r != 0)
		snprintf(p->msg, sizeof(p->msg), "%s%s%s", ward_strerror(r), d->msg[0] ? ": " : "",
		    d->msg);
	if (p->code >= 0)
		snprintf(p->answer, sizeof(p->answer), "%s", ldap_err2string(p->code));
	p->path = r != 0 ? FLEET_PATH_DOWN : p->code == LDAP_REFERRAL ? FLEET_PATH_REFERS :
	    p->code != LDAP_ASSERTION_FAILED ? FLEET_PATH_REFUSED :
	    p->code_ref == LDAP_REFERRAL ? FLEET_PATH_CHAINED : FLEET_PATH_PROVIDER;
	ldap_control_free(a);
	ldap_control_free(ch);
	return r;
}

void
fleet_node_read(const struct ward_conf *conf, const char *uri, struct fleet_node *n)
{
	struct conf_directory c = conf->directory;
	char any[] = "(objectClass=*)", *attrs[] = { ATTR("contextCSN"), NULL };
	LDAPMessage *res = NULL, *e;
	struct berval **v = NULL;
	struct dir *d = NULL;
	int r;

	memset(n, 0, sizeof(*n));
	snprintf(n->uri, sizeof(n->uri), "%s", uri);
	memset(c.uri, 0, sizeof(c.uri));
	c.uri[0] = (char *)(uintptr_t)uri;
	c.nuri = 1;
	if ((r = dir_open(&d, &c)) == 0 && (r = dir_fleet_conn(d)) == 0) {
		dir_budget_start(d);
		r = dir_search(d, c.base, LDAP_SCOPE_BASE, any, attrs, 1, "more than one entry",
		    &res);
		dir_budget_end(d);
	}
	if (r == 0 && (e = ldap_first_entry(d->ld, res)) != NULL &&
	    (v = ldap_get_values_len(d->ld, e, "contextCSN")) != NULL) {
		for (size_t i = 0; v[i] != NULL && n->ncsn < FLEET_MAX_CSN; i++)
			if (v[i]->bv_len < sizeof(n->csn[0])) {
				memcpy(n->csn[n->ncsn], v[i]->bv_val, v[i]->bv_len);
				n->csn[n->ncsn++][v[i]->bv_len] = '\0';
			}
	}
	ldap_value_free_len(v);
	ldap_msgfree(res);
	n->r = r;
	if (r != 0)
		snprintf(n->msg, sizeof(n->msg), "%s", d != NULL && d->msg[0] ? d->msg :
		    ward_strerror(r));
	dir_close(d);
}

int
fleet_node_same(const struct fleet_node *a, const struct fleet_node *b)
{
	if (a->r != 0 || b->r != 0 || a->ncsn != b->ncsn)
		return 0;
	for (size_t i = 0; i < a->ncsn; i++) {
		size_t j = 0;

		while (j < b->ncsn && strcmp(a->csn[i], b->csn[j]) != 0)
			j++;
		if (j == b->ncsn)
			return 0;
	}
	return 1;
}

/* ---- rotation --------------------------------------------------------------- */

/* One enrolled record as the rotation reads it. */
struct rk {
	char *dn;
	struct berval **names;       /* name_attribute values */
	struct berval **secret;      /* one value */
	struct berval **rec;         /* recovery hashes */
	char chain[FLEET_CHAIN_MAX + 1];
};

static void
rk_clear(struct rk *x)
{
	ldap_memfree(x->dn);
	ldap_value_free_len(x->names);
	ldap_value_free_len(x->secret);
	ldap_value_free_len(x->rec);
	memset(x, 0, sizeof(*x));
}

static int
rk_parse(LDAP *ld, LDAPMessage *e, const char *name_attr, struct rk *x)
{
	struct berval **k;

	memset(x, 0, sizeof(*x));
	if ((x->dn = ldap_get_dn(ld, e)) == NULL)
		return WARD_ERR_PARSE;
	x->names = ldap_get_values_len(ld, e, name_attr);
	x->secret = ldap_get_values_len(ld, e, A_SECRET);
	x->rec = ldap_get_values_len(ld, e, A_REC);
	if ((k = ldap_get_values_len(ld, e, A_KEYID)) != NULL) {
		if (ldap_count_values_len(k) != 1 || k[0]->bv_len > FLEET_CHAIN_MAX) {
			ldap_value_free_len(k);
			return WARD_ERR_CORRUPT;
		}
		memcpy(x->chain, k[0]->bv_val, k[0]->bv_len);
		x->chain[k[0]->bv_len] = '\0';
		ldap_value_free_len(k);
	}
	if (x->secret != NULL && ldap_count_values_len(x->secret) != 1)
		return WARD_ERR_CORRUPT;
	if (x->rec != NULL && ldap_count_values_len(x->rec) > FLEET_MAX_RECOVERY)
		return WARD_ERR_CORRUPT;
	return 0;
}

static char *rk_attrs_buf[6];

static char **
rk_attrs(const char *name_attr)
{
	rk_attrs_buf[0] = ATTR(name_attr);
	rk_attrs_buf[1] = ATTR(A_SECRET);
	rk_attrs_buf[2] = ATTR(A_REC);
	rk_attrs_buf[3] = ATTR(A_KEYID);
	rk_attrs_buf[4] = NULL;
	return rk_attrs_buf;
}

/* The assertion that X is as read: its secret, its chain, every recovery
 * value (or none). */
static int
rk_filter(const struct rk *x, char **out)
{
	size_t len = 0;
	FILE *fp = open_memstream(out, &len);
	int r;

	if (fp == NULL)
		return WARD_ERR_NOMEM;
	fputs("(&", fp);
	r = put_eq(fp, A_SECRET, x->secret[0]->bv_val, x->secret[0]->bv_len);
	if (r == 0 && x->chain[0] != '\0')
		r = put_eq(fp, A_KEYID, x->chain, strlen(x->chain));
	else if (r == 0)
		fputs("(!(" A_KEYID "=*))", fp);
	for (size_t i = 0; r == 0 && x->rec != NULL && x->rec[i] != NULL; i++)
		r = put_eq(fp, A_REC, x->rec[i]->bv_val, x->rec[i]->bv_len);
	if (r == 0 && x->rec == NULL)
		fputs("(!(" A_REC "=*))", fp);
	fputs(")", fp);
	if (fclose(fp) != 0 && r == 0)
		r = WARD_ERR_NOMEM;
	if (r != 0) {
		free(*out);
		*out = NULL;
	}
	return r;
}

/*
 * Open X's secret with the old ring: the user name it was sealed for (a
 * name_attribute value) into USER, the plaintext into *PT.  WARD_ERR_CRYPTO
 * when no key of OLD named by its chain (or any, without a chain) opens it.
 */
static int
rk_open(const struct rk *x, const struct fleet_keyring *old, char *user, size_t ulen,
    unsigned char **pt, size_t *ptlen)
{
	struct fleet_user u;
	int r = WARD_ERR_CRYPTO;

	memset(&u, 0, sizeof(u));
	u.secret_ct = (unsigned char *)x->secret[0]->bv_val;
	u.secret_ct_len = x->secret[0]->bv_len;
	snprintf(u.key_chain, sizeof(u.key_chain), "%s", x->chain);
	for (size_t i = 0; x->names != NULL && x->names[i] != NULL && r != 0; i++) {
		if (x->names[i]->bv_len >= ulen)
			continue;
		memcpy(user, x->names[i]->bv_val, x->names[i]->bv_len);
		user[x->names[i]->bv_len] = '\0';
		if (ward_user_valid(user) != 0)
			continue;
		r = fleet_open_secret(old, user, &u, pt, ptlen);
	}
	return r;
}

enum { RK_RESEALED, RK_ALREADY, RK_OTHER, RK_FAILED, RK_CHANGED };

/*
 * Reseal X under NEWK (id NEWID) in one asserted modify.  RK_CHANGED when
 * the assertion failed (read it again); an outage or WARD_ERR_PERM as a
 * negative value.
 */
static int
rk_one(struct fleet *f, const struct rk *x, const struct fleet_keyring *old,
    const struct secret_key *newk, const char *newid, char *user, size_t ulen, int *wrapped)
{
	char ids[FLEET_MAX_KEYS][FLEET_KEYID_LEN + 1], chain[FLEET_CHAIN_MAX + FLEET_KEYID_LEN + 2];
	char *vchain[2] = { chain, NULL }, *filter = NULL;
	unsigned char *pt = NULL, *ct = NULL, h[FLEET_MAX_RECOVERY][FLEET_HASH_LEN];
	struct berval sv, rv[FLEET_MAX_RECOVERY], *vs[2] = { &sv, NULL };
	struct berval *vrec[FLEET_MAX_RECOVERY + 1];
	LDAPMod m[3], *mods[4] = { &m[0], &m[1], NULL, NULL };
	size_t n, ptlen = 0, ctlen = 0, nrec = 0;
	int r, code = LDAP_OTHER, out = RK_FAILED;

	*wrapped = 0;
	snprintf(user, ulen, "%s", x->dn);
	if (chain_split(x->chain, ids, &n) != 0) {
		ward_log(LOG_ERR, "fleet rekey: %s: wardKeyId does not parse", x->dn);
		return RK_FAILED;
	}
	if (rk_open(x, old, user, ulen, &pt, &ptlen) != 0) {
		if (n > 0 && strcmp(ids[0], newid) == 0) {
			*wrapped = n > 1;
			return RK_ALREADY;   /* done (and the new key is not in OLD) */
		}
		snprintf(user, ulen, "%s", x->dn);
		return RK_OTHER;
	}
	if (n > 0 && strcmp(ids[0], newid) == 0) {
		*wrapped = n > 1;
		ward_freezero(pt, ptlen);
		return RK_ALREADY;
	}
	for (; x->rec != NULL && x->rec[nrec] != NULL; nrec++)
		if (x->rec[nrec]->bv_len != FLEET_HASH_LEN)
			goto out;
	/* the new chain: the new key first; wrapped hashes keep the old ones */
	if (nrec == 0) {
		snprintf(chain, sizeof(chain), "%s", newid);
	} else {
		size_t i;

		if (n + 1 > FLEET_MAX_KEYS) {
			ward_log(LOG_ERR, "fleet rekey: %s: recovery codes wrapped over %zu keys "
			    "already; give the user new recovery codes first", x->dn, n);
			goto out;
		}
		if (n == 0) {
			/* no chain: which key opened it names the inner layer */
			for (i = 0; i < old->n; i++) {
				unsigned char *p2 = NULL;
				size_t l2 = 0;

				if (secret_open(&old->key[i], user, (unsigned char *)x->secret[0]->bv_val,
				    x->secret[0]->bv_len, &p2, &l2) == 0) {
					ward_freezero(p2, l2);
					break;
				}
			}
			if (i == old->n)
				goto out;
			snprintf(chain, sizeof(chain), "%s %s", newid, old->id[i]);
		} else {
			snprintf(chain, sizeof(chain), "%s %s", newid, x->chain);
		}
		for (i = 0; i < nrec; i++) {
			if (fleet_recovery_rewrap(newk, (const unsigned char *)x->rec[i]->bv_val,
			    h[i]) != 0)
				goto out;
		}
		dir_fleet_hash_vals(rv, vrec, (const unsigned char (*)[FLEET_HASH_LEN])h, nrec);
		dir_fleet_mod_setb(&m[2], LDAP_MOD_REPLACE, A_REC, vrec);
		mods[2] = &m[2];
		*wrapped = 1;
	}
	if (secret_seal(newk, user, pt, ptlen, &ct, &ctlen) != 0 || rk_filter(x, &filter) != 0)
		goto out;
	sv.bv_val = (char *)ct;
	sv.bv_len = ctlen;
	dir_fleet_mod_setb(&m[0], LDAP_MOD_REPLACE, A_SECRET, vs);
	dir_fleet_mod_set(&m[1], LDAP_MOD_REPLACE, A_KEYID, vchain);
	if ((r = dir_fleet_modify(f, x->dn, mods, filter, &code)) != 0) {
		out = r;
		goto out;
	}
	if (code == LDAP_SUCCESS)
		out = RK_RESEALED;
	else if (code == LDAP_ASSERTION_FAILED || code == LDAP_NO_SUCH_OBJECT)
		out = code == LDAP_NO_SUCH_OBJECT ? RK_FAILED : RK_CHANGED;
	else if ((r = dir_fleet_write_err(f, x->dn, "resealing", code)) == WARD_ERR_PERM)
		out = r;
out:
	ward_freezero(pt, ptlen);
	ward_freezero(ct, ctlen);
	ward_wipe(h, sizeof(h));
	free(filter);
	return out;
}

/* Read DN again on D into X (base search). */
static int
rk_reread(struct dir *d, const char *dn, const char *name_attr, struct rk *x)
{
	char any[] = "(objectClass=*)";
	LDAPMessage *res = NULL, *e;
	int r;

	if ((r = dir_fleet_conn(d)) != 0)
		return r;
	dir_budget_start(d);
	r = dir_search(d, dn, LDAP_SCOPE_BASE, any, rk_attrs(name_attr), 1,
	    "more than one entry", &res);
	dir_budget_end(d);
	if (r == 0 && (e = ldap_first_entry(d->ld, res)) != NULL)
		r = rk_parse(d->ld, e, name_attr, x);
	else if (r == 0)
		r = WARD_ERR_NOTFOUND;
	ldap_msgfree(res);
	return r;
}

/* One entry of the search: resealed, or retried after reading it again. */
static int
rk_entry(struct fleet *f, struct dir *d, LDAPMessage *e, const struct fleet_keyring *old,
    const struct secret_key *newk, const char *newid, const char *name_attr,
    void (*progress)(void *, const char *, const char *), void *arg,
    struct fleet_rekey_stats *st)
{
	static const char *const what[] = { "resealed", "already", "other", "failed" };
	struct rk x;
	char user[256], *dn = NULL;
	int r, wrapped = 0, k = RK_FAILED;

	user[0] = '\0';
	r = rk_parse(d->ld, e, name_attr, &x);
	for (int tries = 0; r == 0 && tries < REKEY_TRIES; tries++) {
		if (x.secret == NULL) {
			rk_clear(&x);
			return 0;        /* not enrolled */
		}
		k = rk_one(f, &x, old, newk, newid, user, sizeof(user), &wrapped);
		if (k != RK_CHANGED)
			break;
		/* a code spent, new codes or an enrolment meanwhile, or this
		 * rotation's own earlier change not yet on the replica read here
		 * (the write path may be a consumer): again, after a moment */
		nanosleep(&(struct timespec){ 0, 100 * 1000000L * (tries + 1) }, NULL);
		if ((dn = strdup(x.dn)) == NULL) {
			r = WARD_ERR_NOMEM;
			break;
		}
		rk_clear(&x);
		r = rk_reread(d, dn, name_attr, &x);
		free(dn);
		k = RK_FAILED;
	}
	if (r != 0 && x.dn != NULL)
		snprintf(user, sizeof(user), "%s", x.dn);
	rk_clear(&x);
	if (k < 0)
		return k;        /* an outage, or not the enrolment identity */
	if (k == RK_CHANGED)
		k = RK_FAILED;
	if (r != 0 && r != WARD_ERR_NOTFOUND && dir_is_outage(r))
		return r;
	switch (k) {
	case RK_RESEALED: st->resealed++; break;
	case RK_ALREADY: st->already++; break;
	case RK_OTHER: st->other++; break;
	default: st->failed++; break;
	}
	if ((k == RK_RESEALED || k == RK_ALREADY) && wrapped)
		st->wrapped++;
	if (progress != NULL)
		progress(arg, user, what[k]);
	return 0;
}

int
fleet_rekey(struct fleet *f, const struct fleet_keyring *old, const struct secret_key *newk,
    void (*progress)(void *arg, const char *user, const char *what), void *arg,
    struct fleet_rekey_stats *st)
{
	const struct conf_directory *c = &dir_fleet_conf(f)->directory;
	const char *name_attr = c->name_attr ? c->name_attr : "uid";
	char filter[] = "(&(objectClass=wardUser)(" A_SECRET "=*))", newid[FLEET_KEYID_LEN + 1];
	struct dir *d = dir_fleet_path(f, 1);
	struct berval *cookie = NULL;
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = fleet_key_id(newk, newid)) != 0)
		return r;
	do {
		LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL }, **rctrls = NULL;
		LDAPMessage *res = NULL;
		struct timeval tv;
		int msgid, code = LDAP_OTHER;
		ber_int_t count = 0;

		if ((r = dir_fleet_conn(d)) != 0)
			break;
		if (ldap_create_page_control(d->ld, REKEY_PAGE, cookie, 1, &page) != LDAP_SUCCESS) {
			r = WARD_ERR_NOMEM;
			break;
		}
		ctrls[0] = page;
		dir_budget_start(d);
		dir_step_start(d);
		dir_step_tv(d, &tv);
		code = ldap_search_ext(d->ld, c->base, LDAP_SCOPE_SUBTREE, filter,
		    rk_attrs(name_attr), 0, ctrls, NULL, &tv, 0, &msgid);
		ldap_control_free(page);
		if (code == LDAP_SUCCESS)
			code = ldap_result(d->ld, msgid, LDAP_MSG_ALL, &tv, &res) > 0 ? 0 : -1;
		d->guard_on = 0;
		dir_budget_end(d);
		if (code != 0 || ldap_parse_result(d->ld, res, &code, NULL, NULL, NULL, &rctrls,
		    0) != LDAP_SUCCESS) {
			ward_log(LOG_ERR, "fleet rekey: the search on %s got no answer", c->base);
			ldap_msgfree(res);
			dir_drop_conn(d);
			r = WARD_ERR_UNAVAIL;
			break;
		}
		if (code != LDAP_SUCCESS) {
			/* a size limit on paged results (size.prtotal) would stop
			 * every run at the same place: say which limit */
			ward_log(LOG_ERR, "fleet rekey: the search on %s: %s%s", c->base,
			    ldap_err2string(code), code == LDAP_SIZELIMIT_EXCEEDED ? " (give the "
			    "enrolment identity unlimited paged results: olcLimits size.prtotal="
			    "unlimited, contrib/ldap/README)" : "");
			r = code == LDAP_INSUFFICIENT_ACCESS ? WARD_ERR_PERM :
			    code == LDAP_SIZELIMIT_EXCEEDED ? WARD_ERR_TOOBIG : WARD_ERR_UNAVAIL;
			ldap_controls_free(rctrls);
			ldap_msgfree(res);
			break;
		}
		ber_bvfree(cookie);
		cookie = NULL;
		{
			LDAPControl *pr = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, rctrls, NULL);
			struct berval ck = { 0, NULL };

			if (pr != NULL && ldap_parse_pageresponse_control(d->ld, pr, &count, &ck) ==
			    LDAP_SUCCESS && ck.bv_len > 0 && (cookie = ber_bvdup(&ck)) == NULL)
				r = WARD_ERR_NOMEM;
			ber_memfree(ck.bv_val);
		}
		ldap_controls_free(rctrls);
		for (LDAPMessage *e = ldap_first_entry(d->ld, res); r == 0 && e != NULL;
		    e = ldap_next_entry(d->ld, e))
			r = rk_entry(f, d, e, old, newk, newid, name_attr, progress, arg, st);
		ldap_msgfree(res);
	} while (r == 0 && cookie != NULL);
	ber_bvfree(cookie);
	return r;
}
