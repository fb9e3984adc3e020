/*
 * cmd_user.c - wardctl init, enroll, reset, unlock, status, recovery-codes.
 * Over 800 lines because these commands share one store transaction
 * pattern and the key and folder rules below; each command is a function
 * of its own.
 *
 * Rules it keeps:
 *  - Keys are created O_EXCL with mode 0600 and never replaced; folders
 *    with the modes wardctl(8) lists under init.
 *  - A TOTP secret and recovery codes are shown once, on stdout, to the
 *    admin who enrols; they are stored only sealed (secret) or as keyed
 *    hashes (codes), and wiped from memory after use.
 *  - Changes to a record go through one store transaction, so a login in
 *    progress on another process cannot be lost or resurrected.
 *  - Every change leaves an admin audit record (never the secret or the
 *    codes); a change whose record could not be written is refused before
 *    it is made (wardctl_audit_begin).
 */
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "otp.h"
#include "secret.h"
#include "state.h"
#include "tfile.h"
#include "wardctl.h"

/* ---- init ---- */

static int
ensure_dir(const char *path, mode_t mode, int *created)
{
	struct stat st;

	*created = 0;
	if (lstat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr, "wardctl: %s exists and is not a folder\n", path);
			return WARD_ERR_UNSAFE;
		}
		if (st.st_uid != 0 || (st.st_mode & 022) != 0) {
			fprintf(stderr, "wardctl: %s: owner uid %u mode %04o; must be root and not "
			    "group/world-writable\n", path, (unsigned)st.st_uid,
			    (unsigned)(st.st_mode & 07777));
			return WARD_ERR_UNSAFE;
		}
		return 0;
	}
	if (mkdir(path, mode) != 0 || chmod(path, mode) != 0) {
		fprintf(stderr, "wardctl: cannot create %s: %s\n", path, strerror(errno));
		return WARD_ERR_IO;
	}
	*created = 1;
	return 0;
}

static int
ensure_parent(const char *file)
{
	char *copy = strdup(file), *dir;
	int created, r;

	if (copy == NULL)
		return WARD_ERR_NOMEM;
	dir = dirname(copy);
	r = ensure_dir(dir, 0755, &created);
	if (r == 0 && created)
		printf("created  %s/ (0755)\n", dir);
	free(copy);
	return r;
}

/* Create a key file, or check the one there. */
static int
ensure_key(const char *path, const char *what)
{
	struct secret_key k;
	char err[512];
	int r;

	if ((r = ensure_parent(path)) != 0)
		return r;
	r = secret_key_create(path, err, sizeof(err));
	if (r == 0) {
		printf("created  %s (%s, 32 random bytes, 0600)\n", path, what);
		return 0;
	}
	if (r != WARD_ERR_EXISTS) {
		fprintf(stderr, "wardctl: %s\n", err);
		return r;
	}
	if ((r = secret_key_load(&k, path, err, sizeof(err))) != 0) {
		fprintf(stderr, "wardctl: existing %s: %s\n", what, err);
		return r;
	}
	secret_key_wipe(&k);
	printf("kept     %s (%s already there; checked)\n", path, what);
	return 0;
}

/*
 * The audit key derived from the fleet audit key in FLEET for this host
 * (audit_host_key_file): written as PATH, or checked when PATH is there (a
 * different key is refused: the log written under it would no longer
 * verify).  HOST gets the host name it is for.
 */
static int
ensure_derived_key(const char *path, const char *fleet, char host[AUDIT_HOST_MAX + 1])
{
	struct secret_key k, have;
	char err[512];
	int r;

	memset(&k, 0, sizeof(k));
	memset(&have, 0, sizeof(have));
	if ((r = ensure_parent(path)) != 0)
		return r;
	if ((r = audit_host_key_file(fleet, host, k.k, err, sizeof(err))) != 0) {
		fprintf(stderr, "wardctl: --audit-from: %s\n", err);
		goto out;
	}
	r = secret_key_write(path, &k, err, sizeof(err));
	if (r == 0) {
		printf("created  %s (audit key of host %s, derived from the fleet audit key, "
		    "0600)\n", path, host);
		goto out;
	}
	if (r != WARD_ERR_EXISTS) {
		fprintf(stderr, "wardctl: %s\n", err);
		goto out;
	}
	if ((r = secret_key_load(&have, path, err, sizeof(err))) != 0) {
		fprintf(stderr, "wardctl: existing audit key: %s\n", err);
		goto out;
	}
	if (!ward_ct_equal(have.k, k.k, sizeof(k.k))) {
		fprintf(stderr, "wardctl: %s exists and is not the audit key of host %s derived "
		    "from this fleet key; refused (the log it wrote must keep verifying: move "
		    "the log and the key aside first, see wardctl(8), AUDIT ACROSS A FLEET)\n",
		    path, host);
		r = WARD_ERR_EXISTS;
		goto out;
	}
	printf("kept     %s (audit key of host %s, derived from the fleet audit key; "
	    "checked)\n", path, host);
out:
	secret_key_wipe(&k);
	secret_key_wipe(&have);
	return r;
}

static int
cmd_init(struct wopts *o)
{
	struct ward_conf c;
	struct state *st;
	char err[1024], host[AUDIT_HOST_MAX + 1];
	int r, created, rc = WEXIT_ERR;

	if (wardctl_load_conf(o, &c) != 0) {
		fprintf(stderr, "wardctl: init needs a ward.conf; start from "
		    "/usr/share/doc/ward/examples/ward.conf\n");
		return WEXIT_ERR;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "wardctl: init must run as root (keys and the store are root's)\n");
		goto out;
	}
	host[0] = '\0';
	if (ensure_key(c.key_file, "master key") != 0 ||
	    (o->audit_from != NULL ? ensure_derived_key(c.audit.key_file, o->audit_from, host) :
	    ensure_key(c.audit.key_file, "audit key")) != 0)
		goto out;
	if (ensure_parent(c.state_dir) != 0 || ensure_dir(c.state_dir, 0700, &created) != 0)
		goto out;
	if ((r = state_open(&st, c.state_dir, 0)) != 0) {
		fprintf(stderr, "wardctl: state store %s: %s\n", c.state_dir, ward_strerror(r));
		goto out;
	}
	state_close(st);
	printf("%s %s/ (state store, 0700)\n", created ? "created " : "kept    ", c.state_dir);
	{
		char *copy = strdup(c.audit.path);
		if (copy == NULL)
			goto out;
		const char *logdir = dirname(copy);
		r = ensure_dir(logdir, 0750, &created);
		/* with group_adm the adm group reads the log: let it into the folder */
		if (r == 0 && c.audit.group_adm) {
			struct group *g = getgrnam("adm");
			if (g == NULL || chown(logdir, 0, g->gr_gid) != 0) {
				fprintf(stderr, "wardctl: %s: cannot give it to group adm\n", logdir);
				r = WARD_ERR_IO;
			}
		}
		if (r == 0) {
			struct stat lst;

			/* a folder kept is described as it is, not as it would be made */
			if (!created && stat(logdir, &lst) == 0)
				printf("kept     %s/ (audit log folder, mode %04o%s)\n", logdir,
				    (unsigned)(lst.st_mode & 07777),
				    c.audit.group_adm ? ", group adm" : "");
			else
				printf("%s %s/ (audit log folder, 0750%s)\n", created ? "created " :
				    "kept    ", logdir, c.audit.group_adm ? ", group adm" : "");
		}
		free(copy);
		if (r != 0)
			goto out;
	}
	{
		struct audit_event ev = { .event = audit_event_name(AUDIT_EV_ADMIN),
			.result = audit_result_name(AUDIT_RES_SUCCESS),
			.service = "wardctl", .offline = -1, .detail = "init" };
		char detail[300];
		const char *sudo = getenv("SUDO_USER");

		snprintf(detail, sizeof(detail), "init by uid %u%s%s%s%s%s", (unsigned)getuid(),
		    sudo ? " (sudo from " : "", sudo ? sudo : "", sudo ? ")" : "",
		    host[0] ? "; audit key derived from the fleet audit key for host " : "",
		    host);
		ev.detail = detail;
		err[0] = '\0';
		if (audit_append(&c, &ev, err, sizeof(err)) != 0) {
			fprintf(stderr, "wardctl: the audit log cannot be written: %s\n", err);
			goto out;
		}
		printf("ready    %s (audit log; chain checked by wardctl audit verify)\n",
		    c.audit.path);
	}
	printf("ready: enrol users with  wardctl enroll USER\n");
	rc = WEXIT_OK;
out:
	conf_free(&c);
	return rc;
}

/* init --fleet: the rest of init, then fleet.key_file, never replaced (a
 * new fleet key is a rotation: wardctl fleet rekey) */
static int
cmd_init_fleet(struct wopts *o)
{
	struct audit_log *log = NULL;
	struct ward_conf c;
	char err[512];
	int r, rc;

	if (o->fleet[0] != '\0') {
		fprintf(stderr, "wardctl: init --fleet takes no value\n");
		return WEXIT_ERR;
	}
	if ((rc = cmd_init(o)) != WEXIT_OK)
		return rc;
	if (wardctl_load_conf(o, &c) != 0)
		return WEXIT_ERR;
	rc = WEXIT_ERR;
	if (!c.fleet.enabled) {
		fprintf(stderr, "wardctl: init --fleet: %s has no fleet group (ward.conf(5), "
		    "FLEET)\n", c.path);
		goto out;
	}
	if (ensure_parent(c.fleet.key_file) != 0 ||
	    wardctl_audit_begin(&c, NULL, "init --fleet", &log) != 0)
		goto out;
	r = secret_key_create(c.fleet.key_file, err, sizeof(err));
	if (r == WARD_ERR_EXISTS) {
		fprintf(stderr, "wardctl: %s exists; refused (a fleet key is never replaced: "
		    "to change it, see wardctl fleet rekey)\n", c.fleet.key_file);
		goto out;
	}
	if (r != 0) {
		fprintf(stderr, "wardctl: %s\n", err);
		goto out;
	}
	printf("created  %s (fleet key, 32 random bytes, 0600): copy it to every "
	    "workstation's fleet.key_file, 0600 root\n", c.fleet.key_file);
	rc = wardctl_audit_admin(log, "init --fleet", NULL, "(fleet key created)", NULL) == 0 ?
	    WEXIT_OK : WEXIT_ERR;
	log = NULL;
out:
	audit_log_close(log);
	conf_free(&c);
	return rc;
}

/* ---- shared ---- */

struct ctx {
	struct ward_conf conf;
	struct secret_key key;
	struct state *st;
	int have_key;
};

static int
open_ctx(struct wopts *o, struct ctx *x, int need_key)
{
	char err[512];
	int r;

	memset(x, 0, sizeof(*x));
	if (wardctl_load_conf(o, &x->conf) != 0)
		return WARD_ERR_PARSE;
	if (need_key) {
		if ((r = secret_key_load(&x->key, x->conf.key_file, err, sizeof(err))) != 0) {
			fprintf(stderr, "wardctl: master key: %s\n", err);
			conf_free(&x->conf);
			return r;
		}
		x->have_key = 1;
	}
	if ((r = state_open(&x->st, x->conf.state_dir, 0)) != 0) {
		fprintf(stderr, "wardctl: state store %s: %s (run wardctl init first?)\n",
		    x->conf.state_dir, ward_strerror(r));
		secret_key_wipe(&x->key);
		conf_free(&x->conf);
		return r;
	}
	return 0;
}

static void
close_ctx(struct ctx *x)
{
	state_close(x->st);
	secret_key_wipe(&x->key);
	conf_free(&x->conf);
}

const char *
user_one(const struct wopts *o, const char *cmd)
{
	if (o->nargs != 1) {
		fprintf(stderr, "wardctl: usage: wardctl %s USER\n", cmd);
		return NULL;
	}
	if (ward_user_valid(o->args[0]) != 0) {
		fprintf(stderr, "wardctl: '%s' is not a valid user name\n", o->args[0]);
		return NULL;
	}
	return o->args[0];
}

/* New recovery codes into REC (hashes) and CODES (shown once). */
static int
new_recovery(const struct ctx *x, const char *user, struct state_user *rec, int n,
    char codes[][REC_CODE_LEN])
{
	char norm[SECRET_RECOVERY_CHARS + 1];

	if (n > STATE_MAX_RECOVERY)
		n = STATE_MAX_RECOVERY;
	if (secret_random(rec->recovery_salt, sizeof(rec->recovery_salt)) != 0)
		return WARD_ERR_CRYPTO;
	for (int i = 0; i < n; i++) {
		if (secret_recovery_generate(codes[i]) != 0 ||
		    secret_recovery_normalise(codes[i], norm) != 0 ||
		    secret_recovery_hash(&x->key, rec->recovery_salt, user, norm,
		    rec->recovery[i]) != 0)
			return WARD_ERR_CRYPTO;
		rec->recovery_used[i] = 0;
	}
	ward_wipe(norm, sizeof(norm));
	rec->nrecovery = (size_t)n;
	return 0;
}

void
user_print_codes(const struct wopts *o, char codes[][REC_CODE_LEN], int n)
{
	if (o->json)
		return;
	printf("\nRecovery codes (each works once; shown only now; store them safely):\n");
	for (int i = 0; i < n; i++)
		printf("  %s%s", codes[i], i % 2 ? "\n" : "   ");
	if (n % 2)
		printf("\n");
}

void
user_json_codes(char codes[][REC_CODE_LEN], int n)
{
	printf("\"recovery_codes\":[");
	for (int i = 0; i < n; i++) {
		printf(i ? "," : "");
		json_str(stdout, codes[i]);
	}
	printf("]");
}

/* ---- enroll ---- */

static void
uri_escape(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL)
			fputc(*p, f);
		else
			fprintf(f, "%%%02X", *p);
	}
}

static char *
make_uri(const char *issuer, const char *user, const char *b32, int algorithm,
    int digits, int period)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	fputs("otpauth://totp/", f);
	uri_escape(f, issuer);
	fputc(':', f);
	uri_escape(f, user);
	fprintf(f, "?secret=%s&issuer=", b32);
	uri_escape(f, issuer);
	fprintf(f, "&algorithm=%s&digits=%d&period=%d", otp_algorithm_name(algorithm),
	    digits, period);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Draw the QR code: "ansi" two spaces per module with background colours,
 * "utf8" half blocks (two rows per line).  Quiet zone of 2 modules. */
static int
print_qr(const char *text, const char *style)
{
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	int w, margin = 2;

	if (q == NULL) {
		fprintf(stderr, "wardctl: cannot make a QR code: %s\n", strerror(errno));
		return -1;
	}
	w = q->width;
#define DARK(x, y) ((x) >= 0 && (y) >= 0 && (x) < w && (y) < w && \
	(q->data[(y) * w + (x)] & 1))
	if (strcmp(style, "ansi") == 0) {
		for (int y = -margin; y < w + margin; y++) {
			for (int x = -margin; x < w + margin; x++)
				fputs(DARK(x, y) ? "\033[40m  " : "\033[47m  ", stdout);
			fputs("\033[0m\n", stdout);
		}
	} else {
		/* dark modules are spaces on a light terminal's inverse: draw
		 * light as blocks so it scans on dark and light themes alike */
		for (int y = -margin; y < w + margin; y += 2) {
			for (int x = -margin; x < w + margin; x++) {
				int top = !DARK(x, y), bot = !DARK(x, y + 1);
				fputs(top && bot ? "\u2588" : top ? "\u2580" : bot ? "\u2584" : " ",
				    stdout);
			}
			fputc('\n', stdout);
		}
	}
#undef DARK
	QRcode_free(q);
	return 0;
}

static int
parse_algorithm(const char *s, int *algo)
{
	if (strcmp(s, "sha1") == 0)
		*algo = CONF_ALGO_SHA1;
	else if (strcmp(s, "sha256") == 0)
		*algo = CONF_ALGO_SHA256;
	else if (strcmp(s, "sha512") == 0)
		*algo = CONF_ALGO_SHA512;
	else
		return -1;
	return 0;
}

int
user_new_secret(const struct wopts *o, const struct ward_conf *conf, int *algo, int *digits,
    unsigned char **secret, size_t *slen)
{
	char check[9];

	*secret = NULL;
	*slen = 0;
	*algo = conf->mfa.algorithm;
	*digits = conf->mfa.digits;
	if (o->algorithm && parse_algorithm(o->algorithm, algo) != 0) {
		fprintf(stderr, "wardctl: --algorithm takes sha1, sha256 or sha512\n");
		return -1;
	}
	if (o->digits) {
		char *end;
		long d = strtol(o->digits, &end, 10);
		if (*end != '\0' || d < 6 || d > 8) {
			fprintf(stderr, "wardctl: --digits takes 6, 7 or 8\n");
			return -1;
		}
		*digits = (int)d;
	}
	if (o->secret) {
		if (otp_base32_decode(o->secret, secret, slen) != 0) {
			fprintf(stderr, "wardctl: --secret is not valid base32\n");
			goto fail;
		}
		if (*slen < 10 || *slen > 128) {
			fprintf(stderr, "wardctl: --secret must hold 10 to 128 bytes (80 bits at "
			    "least); this one holds %zu\n", *slen);
			goto fail;
		}
	} else {
		*slen = otp_secret_len(*algo);
		if ((*secret = malloc(*slen)) == NULL || secret_random(*secret, *slen) != 0) {
			fprintf(stderr, "wardctl: no random bytes\n");
			goto fail;
		}
	}
	{
		struct otp_params p = { *algo, *digits, conf->mfa.period, 0 };
		if (otp_generate(*secret, *slen, &p, time(NULL), check) != 0) {
			fprintf(stderr, "wardctl: cannot compute a code with these parameters\n");
			goto fail;
		}
		ward_wipe(check, sizeof(check));
	}
	return 0;
fail:
	ward_freezero(*secret, *slen);
	*secret = NULL;
	*slen = 0;
	return -1;
}

int
user_qr_style(const struct wopts *o, const char **qr)
{
	*qr = o->qr ? o->qr : (isatty(1) && !o->json ? "utf8" : "none");
	if (strcmp(*qr, "ansi") != 0 && strcmp(*qr, "utf8") != 0 && strcmp(*qr, "none") != 0) {
		fprintf(stderr, "wardctl: --qr takes ansi, utf8 or none\n");
		return -1;
	}
	return 0;
}

int
user_show_enrolment(const struct wopts *o, const struct ward_conf *conf, const char *user,
    const unsigned char *secret, size_t slen, int algo, int digits, const char *qr,
    char codes[][REC_CODE_LEN], int ncodes)
{
	char *b32 = NULL, *uri = NULL;
	int rc = -1;

	if (otp_base32_encode(secret, slen, &b32) != 0 ||
	    (uri = make_uri(conf->mfa.issuer, user, b32, algo, digits, conf->mfa.period)) == NULL) {
		fprintf(stderr, "wardctl: out of memory\n");
		goto out;
	}
	if (o->json) {
		printf("{\"user\":");
		json_str(stdout, user);
		printf(",\"secret\":\"%s\",\"uri\":", b32);
		json_str(stdout, uri);
		printf(",\"algorithm\":\"%s\",\"digits\":%d,\"period\":%d,",
		    otp_algorithm_name(algo), digits, conf->mfa.period);
		user_json_codes(codes, ncodes);
		printf("}\n");
	} else {
		printf("Enrolled %s. Scan this with the authenticator app, or type the secret.\n\n",
		    user);
		if (strcmp(qr, "none") != 0 && print_qr(uri, qr) != 0)
			goto out;
		printf("\n  secret     %s\n  algorithm  %s, %d digits, every %d s\n  URI        %s\n",
		    b32, otp_algorithm_name(algo), digits, conf->mfa.period, uri);
		user_print_codes(o, codes, ncodes);
	}
	rc = 0;
out:
	if (b32 != NULL)
		ward_free_str_secret(b32);
	if (uri != NULL)
		ward_free_str_secret(uri);
	return rc;
}

static int
cmd_enroll(struct wopts *o)
{
	char codes[STATE_MAX_RECOVERY][REC_CODE_LEN];
	struct state_user rec, old;
	struct audit_log *log = NULL;
	struct ctx x;
	unsigned char *secret = NULL;
	size_t slen = 0;
	const char *user, *qr;
	int algo, digits, ncodes, r, rc = WEXIT_ERR, logged = 0;

	memset(&rec, 0, sizeof(rec));
	memset(codes, 0, sizeof(codes));
	if ((user = user_one(o, "enroll")) == NULL || user_qr_style(o, &qr) != 0)
		return WEXIT_ERR;
	if (open_ctx(o, &x, 1) != 0)
		return WEXIT_ERR;
	if (wardctl_audit_begin(&x.conf, x.st, "enroll", &log) != 0)
		goto out;
	r = state_user_get(x.st, user, &old);
	state_user_clear(&old);
	if (r == 0 && !o->force) {
		fprintf(stderr, "wardctl: %s is already enrolled; 'wardctl reset %s' first, or "
		    "--force to replace the secret\n", user, user);
		goto out;
	}
	if (r != 0 && r != WARD_ERR_NOTFOUND) {
		fprintf(stderr, "wardctl: %s: %s\n", user, ward_strerror(r));
		if (!o->force)
			goto out;
	}
	if (user_new_secret(o, &x.conf, &algo, &digits, &secret, &slen) != 0)
		goto out;
	if (secret_seal(&x.key, user, secret, slen, &rec.secret_ct, &rec.secret_ct_len) != 0) {
		fprintf(stderr, "wardctl: cannot seal the secret\n");
		goto out;
	}
	rec.algorithm = algo;
	rec.digits = digits;
	rec.period = x.conf.mfa.period;
	rec.last_step = -1;
	rec.enrolled_at = (int64_t)time(NULL);
	ncodes = x.conf.mfa.recovery_codes;
	if (ncodes > STATE_MAX_RECOVERY)
		ncodes = STATE_MAX_RECOVERY;
	if (new_recovery(&x, user, &rec, ncodes, codes) != 0) {
		fprintf(stderr, "wardctl: cannot make recovery codes\n");
		goto out;
	}
	if ((r = state_user_put(x.st, user, &rec)) != 0 ||
	    (r = state_grace_clear_user(x.st, user)) != 0) {
		fprintf(stderr, "wardctl: cannot store the enrolment of %s: %s\n", user,
		    ward_strerror(r));
		goto out;
	}
	/* the enrolment is done: show the secret even if its record fails */
	logged = wardctl_audit_admin(log, "enroll", user, o->secret ?
	    "(imported secret)" : o->force ? "(--force: secret replaced)" : NULL, NULL);
	log = NULL;
	if (user_show_enrolment(o, &x.conf, user, secret, slen, algo, digits, qr, codes,
	    ncodes) != 0)
		goto out;
	rc = logged == 0 ? WEXIT_OK : WEXIT_ERR;
out:
	audit_log_close(log);
	ward_freezero(secret, slen);
	free(rec.secret_ct);
	ward_wipe(codes, sizeof(codes));
	ward_wipe(&rec, sizeof(rec));
	close_ctx(&x);
	return rc;
}

/* ---- reset, unlock ---- */

static int
reset_change(struct state *st, const char *user)
{
	int r = state_user_delete(st, user);

	return r == 0 ? state_grace_clear_user(st, user) : r;
}

/*
 * One change to one user's record (WHAT: "reset", "unlock"), recorded as
 * an admin action.  WEXIT_OK with *USER and *LOGGED (0 when the record was
 * written) set, or an exit code after the error was printed.
 */
static int
user_change(struct wopts *o, const char *what, int (*change)(struct state *, const char *),
    const char **user, int *logged)
{
	struct audit_log *log = NULL;
	struct ctx x;
	int r;

	*logged = 0;
	if ((*user = user_one(o, what)) == NULL || open_ctx(o, &x, 0) != 0)
		return WEXIT_ERR;
	if (wardctl_audit_begin(&x.conf, x.st, what, &log) != 0) {
		close_ctx(&x);
		return WEXIT_ERR;
	}
	r = change(x.st, *user);
	if (r == 0)
		*logged = wardctl_audit_admin(log, what, *user, NULL, NULL);
	else
		audit_log_close(log);
	close_ctx(&x);
	if (r == WARD_ERR_NOTFOUND) {
		fprintf(stderr, "wardctl: %s is not enrolled\n", *user);
		return WEXIT_NO;
	}
	if (r != 0) {
		fprintf(stderr, "wardctl: %s %s: %s\n", what, *user, ward_strerror(r));
		return WEXIT_ERR;
	}
	return WEXIT_OK;
}

static int
cmd_reset(struct wopts *o)
{
	const char *user;
	int logged, rc = user_change(o, "reset", reset_change, &user, &logged);

	if (rc != WEXIT_OK)
		return rc;
	if (o->json)
		printf("{\"user\":\"%s\",\"reset\":true}\n", user);
	else
		printf("%s: enrolment, recovery codes and grace removed; enrol again with "
		    "'wardctl enroll %s'\n", user, user);
	return logged == 0 ? WEXIT_OK : WEXIT_ERR;
}

static int
cmd_unlock(struct wopts *o)
{
	const char *user;
	int logged, rc = user_change(o, "unlock", state_user_unlock, &user, &logged);

	if (rc != WEXIT_OK)
		return rc;
	if (o->json)
		printf("{\"user\":\"%s\",\"unlocked\":true}\n", user);
	else
		printf("%s: failures cleared and lockout lifted\n", user);
	return logged == 0 ? WEXIT_OK : WEXIT_ERR;
}

/* ---- status ---- */

void
user_fmt_ts(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || localtime_r(&tt, &tm) == NULL)
		snprintf(buf, len, "never");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static int
cmd_status(struct wopts *o)
{
	struct state_user u;
	struct ctx x;
	const char *user;
	char t1[32], t2[32], t3[32];
	int64_t now = (int64_t)time(NULL);
	int r, left = 0, locked;

	if ((user = user_one(o, "status")) == NULL || open_ctx(o, &x, 0) != 0)
		return WEXIT_ERR;
	r = state_user_get(x.st, user, &u);
	close_ctx(&x);
	if (r == WARD_ERR_NOTFOUND) {
		if (o->json)
			printf("{\"user\":\"%s\",\"enrolled\":false}\n", user);
		else
			printf("%s: not enrolled\n", user);
		return WEXIT_NO;
	}
	if (r != 0) {
		fprintf(stderr, "wardctl: status %s: %s\n", user, ward_strerror(r));
		return WEXIT_ERR;
	}
	for (size_t i = 0; i < u.nrecovery; i++)
		left += !u.recovery_used[i];
	locked = u.locked_until > now;
	user_fmt_ts(u.enrolled_at, t1, sizeof(t1));
	user_fmt_ts(u.last_used_at, t2, sizeof(t2));
	user_fmt_ts(u.locked_until, t3, sizeof(t3));
	if (o->json) {
		printf("{\"user\":");
		json_str(stdout, user);
		printf(",\"enrolled\":true,\"algorithm\":\"%s\",\"digits\":%d,\"period\":%d,"
		    "\"enrolled_at\":%lld,\"last_used_at\":%lld,\"failures\":%d,\"locked\":%s,"
		    "\"locked_until\":%lld,\"recovery_codes_left\":%d}\n",
		    otp_algorithm_name(u.algorithm), u.digits, u.period,
		    (long long)u.enrolled_at, (long long)u.last_used_at, u.failures,
		    locked ? "true" : "false", (long long)(locked ? u.locked_until : 0), left);
	} else {
		printf("%s: enrolled %s (%s, %d digits, %d s)\n", user, t1,
		    otp_algorithm_name(u.algorithm), u.digits, u.period);
		printf("  last verified   %s\n", t2);
		printf("  failures        %d%s\n", u.failures, locked ? "" :
		    u.failures ? " (since the last success)" : "");
		printf("  locked          %s%s\n", locked ? "until " : "no", locked ? t3 : "");
		printf("  recovery codes  %d of %zu left\n", left, u.nrecovery);
	}
	state_user_clear(&u);
	return WEXIT_OK;
}

/* ---- recovery-codes ---- */

struct rc_ctx {
	const struct ctx *x;
	const char *user;
	int n;
	char (*codes)[REC_CODE_LEN];
};

static int
rc_update(void *vctx, struct state_user *rec)
{
	struct rc_ctx *c = vctx;

	return new_recovery(c->x, c->user, rec, c->n, c->codes);
}

static int
cmd_recovery_codes(struct wopts *o)
{
	char codes[STATE_MAX_RECOVERY][REC_CODE_LEN];
	struct audit_log *log = NULL;
	struct rc_ctx rc;
	struct ctx x;
	const char *user;
	int r, logged = 0;

	if ((user = user_one(o, "recovery-codes")) == NULL || open_ctx(o, &x, 1) != 0)
		return WEXIT_ERR;
	if (wardctl_audit_begin(&x.conf, x.st, "recovery-codes", &log) != 0) {
		close_ctx(&x);
		return WEXIT_ERR;
	}
	rc.x = &x;
	rc.user = user;
	rc.n = x.conf.mfa.recovery_codes > STATE_MAX_RECOVERY ? STATE_MAX_RECOVERY :
	    x.conf.mfa.recovery_codes;
	rc.codes = codes;
	r = state_user_update(x.st, user, rc_update, &rc);
	if (r == 0)
		logged = wardctl_audit_admin(log, "recovery-codes", user, "(new set; old ones "
		    "revoked)", NULL);
	else
		audit_log_close(log);
	close_ctx(&x);
	if (r == WARD_ERR_NOTFOUND) {
		fprintf(stderr, "wardctl: %s is not enrolled\n", user);
		ward_wipe(codes, sizeof(codes));
		return WEXIT_NO;
	}
	if (r != 0) {
		fprintf(stderr, "wardctl: recovery-codes %s: %s\n", user, ward_strerror(r));
		ward_wipe(codes, sizeof(codes));
		return WEXIT_ERR;
	}
	if (o->json) {
		printf("{\"user\":");
		json_str(stdout, user);
		printf(",");
		user_json_codes(codes, rc.n);
		printf("}\n");
	} else {
		printf("%s: new recovery codes; the old ones no longer work.\n", user);
		user_print_codes(o, codes, rc.n);
	}
	ward_wipe(codes, sizeof(codes));
	return logged == 0 ? WEXIT_OK : WEXIT_ERR;
}

int
cmd_user(struct wopts *o, const char *name)
{
	if (strcmp(name, "init") == 0)
		return o->fleet != NULL ? cmd_init_fleet(o) : cmd_init(o);
	{
		/* with fleet in ward.conf the record is the directory's */
		struct ward_conf c;
		int fleet;

		if (wardctl_load_conf(o, &c) != 0)
			return WEXIT_ERR;
		fleet = c.fleet.enabled;
		if (fleet) {
			int r = cmd_fleet_user(o, name, &c);

			conf_free(&c);
			return r;
		}
		conf_free(&c);
	}
	if (strcmp(name, "enroll") == 0)
		return cmd_enroll(o);
	if (strcmp(name, "reset") == 0)
		return cmd_reset(o);
	if (strcmp(name, "unlock") == 0)
		return cmd_unlock(o);
	if (strcmp(name, "status") == 0)
		return cmd_status(o);
	if (strcmp(name, "recovery-codes") == 0)
		return cmd_recovery_codes(o);
	return WEXIT_ERR;
}
