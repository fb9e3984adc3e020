/*
 * wardctl.c - the admin tool's entry point: option parsing and dispatch.
 * Options may stand anywhere on the line; everything else is a word.
 */
#include "../daemon/core.h"
#include "wardctl.h"
#include "ward_policy.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
    "usage: wardctl [--config FILE] [--json] COMMAND ...\n"
    "\n"
    "  init [--audit-from FLEET_KEY]        create folders and keys with safe modes\n"
    "                                       (audit.key derived for this host)\n"
    "  init --fleet                         the same, and fleet.key_file (never replaced)\n"
    "  enroll USER [--secret BASE32] [--digits N] [--algorithm sha1|sha256|sha512]\n"
    "              [--qr ansi|utf8|none] [--force]   new secret, QR code, recovery codes\n"
    "  reset USER | unlock USER | status USER\n"
    "  recovery-codes USER                  new set; the old ones stop working\n"
    "                                       (with fleet in ward.conf: on the user's\n"
    "                                       directory entry, for every workstation)\n"
    "  fleet status [USER]                  write path, replication, a user's shared state\n"
    "  fleet rekey NEWKEY                   reseal every record under a new fleet key\n"
    "  policy check [FILE]                  report every problem with file:line\n"
    "  policy test --user U --service S [--host H] [--at T] [--roles a,b] [--all]\n"
    "  policy show USER                     effective roles and permissions\n"
    "  policy who --service S [--host H] [--at T]\n"
    "  policy diff OLD NEW                  who gains or loses what\n"
    "  policy compile [FILE] [--output SNAP] write the compiled snapshot\n"
    "  can USER PERMISSION [--host H]       exit 0 or 1\n"
    "  directory test [USER]                each URI: reachable, TLS, bind, the user's\n"
    "                                       DN, groups and mapped roles, timings\n"
    "  directory prune-cache USER | --all | --older-than SECONDS [USER]\n"
    "                                       remove cached directory answers\n"
    "  audit verify [FILE...]               check the MAC chain; name the first bad record\n"    "  audit verify --fleet DIR --fleet-key FILE   every host's chain at a collector\n"
    "  audit query [--user U] [--since T] [--until T] [--event E] [--result R]\n"
    "              [--json|--csv] [FILE...]   select records\n"
    "  audit query --fleet DIR --fleet-key FILE [filters as above]\n"
    "                                       select records of every verified host\n"
    "  audit report [--since T] [--json]    failures, lockouts, denials, break-glass,\n"
    "                                       anomalies\n"
    "  audit report --fleet DIR --fleet-key FILE [--json] [--html FILE]\n"
    "              [--presence-minutes N] [--offhours-history N]\n"
    "              [--offhours-role-history N] [--offhours-max N]\n"
    "              [--breakglass-min N] [--breakglass-factor N]\n"
    "                                       anomalies across every host of a collector\n"
    "  audit export --user U [--csv]        everything about one person (JSON lines)\n"
    "  audit note TEXT...                   add an admin record with TEXT (one line)\n"
    "\n"
    "Every policy command and can also take --policy FILE (no ward.conf needed).\n"
    "Exit: 0 success, 1 negative answer, 2 error.\n";

struct optdef {
	const char *name;
	size_t off;      /* offset of the const char * or int in struct wopts */
	int takes_value;     /* 1 always; 2 when the next word is not an option */
};

#define OPT_S(n, f) { n, offsetof(struct wopts, f), 1 }
#define OPT_F(n, f) { n, offsetof(struct wopts, f), 0 }

static const struct optdef optdefs[] = {
	OPT_S("config", config), OPT_S("policy", policy), OPT_F("json", json),
	OPT_F("csv", csv), OPT_F("force", force), OPT_S("user", user),
	OPT_S("service", service), OPT_S("host", host), OPT_S("at", at),
	OPT_S("roles", roles), OPT_S("secret", secret), OPT_S("digits", digits),
	OPT_S("algorithm", algorithm), OPT_S("qr", qr), OPT_S("since", since),
	OPT_S("until", until), OPT_S("event", event), OPT_S("result", result),
	OPT_S("output", output), OPT_F("all", all), OPT_S("older-than", older_than),
	{ "fleet", offsetof(struct wopts, fleet), 2 }, OPT_S("fleet-key", fleet_key), OPT_S("audit-from", audit_from),
	OPT_S("presence-minutes", presence_minutes), OPT_S("html", html),
	OPT_S("offhours-history", offhours_history),
	OPT_S("offhours-role-history", offhours_role_history),
	OPT_S("offhours-max", offhours_max), OPT_S("breakglass-min", breakglass_min),
	OPT_S("breakglass-factor", breakglass_factor),
};

static int
parse_opts(int argc, char **argv, struct wopts *o, char **words, int *nwords)
{
	int n = 0, only_words = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const struct optdef *d = NULL;
		const char *val = NULL;
		size_t len;

		if (only_words || a[0] != '-' || a[1] != '-' || a[2] == '\0') {
			if (strcmp(a, "--") == 0 && !only_words) {
				only_words = 1;
				continue;
			}
			words[n++] = argv[i];
			continue;
		}
		a += 2;
		len = strcspn(a, "=");
		for (size_t k = 0; k < sizeof(optdefs) / sizeof(optdefs[0]); k++) {
			if (strlen(optdefs[k].name) == len &&
			    strncmp(optdefs[k].name, a, len) == 0) {
				d = &optdefs[k];
				break;
			}
		}
		if (d == NULL) {
			if (strcmp(a, "help") == 0) {
				fputs(usage_text, stdout);
				exit(WEXIT_OK);
			}
			if (strcmp(a, "version") == 0) {
				printf("wardctl %s\n", WARD_VERSION);
				exit(WEXIT_OK);
			}
			fprintf(stderr, "wardctl: unknown option --%.*s\n", (int)len, a);
			return -1;
		}
		if (d->takes_value) {
			if (a[len] == '=')
				val = a + len + 1;
			else if (d->takes_value == 2 && (i + 1 == argc ||
			    strncmp(argv[i + 1], "--", 2) == 0))
				val = "";    /* init --fleet: a flag */
			else if (i + 1 < argc)
				val = argv[++i];
			else {
				fprintf(stderr, "wardctl: --%s needs a value\n", d->name);
				return -1;
			}
			*(const char **)(void *)((char *)o + d->off) = val;
		} else {
			if (a[len] == '=') {
				fprintf(stderr, "wardctl: --%s takes no value\n", d->name);
				return -1;
			}
			*(int *)(void *)((char *)o + d->off) = 1;
		}
	}
	*nwords = n;
	return 0;
}

int
wardctl_load_conf(const struct wopts *o, struct ward_conf *conf)
{
	char err[512];
	int r;

	r = conf_load(conf, o->config, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "wardctl: %s\n", err);
	return r;
}

char *
wardctl_snapshot_of(const char *path)
{
	char *snap = NULL;

	return asprintf(&snap, "%s.snap", path) < 0 ? NULL : snap;
}

struct policy *
wardctl_load_policy(const struct ward_conf *conf, const char *path, int *from_snapp,
    char *err, size_t len)
{
	int from_snap_local = 0, *from_snap = from_snapp != NULL ? from_snapp : &from_snap_local;

	if (path != NULL) {
		/* FILE.snap when it is FILE's (wardctl policy compile FILE wrote
		 * it): a large policy answers in milliseconds, not seconds */
		char *snap = wardctl_snapshot_of(path), note[1024];
		struct policy_files f = { path, snap, NULL, 0 };
		struct policy *p = policy_load_deployed(&f, from_snap, note, sizeof(note), NULL,
		    err, len);

		free(snap);
		return p;
	}
	/* wardd's rule: the snapshot only when it is the text's (read
	 * only: wardctl policy compile writes it) */
	return core_load_policy(conf, 0, from_snap, err, len);
}

void
json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, k;

	if (s == NULL) {
		fputs("null", f);
		return;
	}
	n = strlen(s);
	fputc('"', f);
	for (size_t i = 0; i < n; i += k) {
		k = 1;
		switch (p[i]) {
		case '"': fputs("\\\"", f); continue;
		case '\\': fputs("\\\\", f); continue;
		case '\n': fputs("\\n", f); continue;
		case '\r': fputs("\\r", f); continue;
		case '\t': fputs("\\t", f); continue;
		default: break;
		}
		k = ward_utf8_printable(p + i, n - i);
		if (k > 0) {
			fwrite(p + i, 1, k, f);
		} else if ((k = ward_utf8_len(p + i, n - i)) == 2) {
			fprintf(f, "\\u%04x", p[i + 1]);      /* C1 control */
		} else if (k == 1) {
			fprintf(f, "\\u%04x", p[i]);          /* C0 control, DEL */
		} else {
			/* not UTF-8 (an audit record keeps such bytes as \udcXX):
			 * the same escape, so the output stays valid UTF-8 */
			fprintf(f, "\\udc%02x", p[i]);
			k = 1;
		}
	}
	fputc('"', f);
}

void
json_strs(FILE *f, const char *const *v, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		json_str(f, v[i]);
	}
	fputc(']', f);
}

void
text_strs(FILE *f, const char *const *v, size_t n, const char *none)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? ", " : "", v[i]);
	fprintf(f, "%s\n", n ? "" : none);
}

void
jobj_begin(struct jobj *j, FILE *f, int comma)
{
	j->f = f;
	j->n = 0;
	fputs(comma ? ",{" : "{", f);
}

void
jobj_key(struct jobj *j, const char *key)
{
	if (j->n++)
		fputc(',', j->f);
	json_str(j->f, key);
	fputc(':', j->f);
}

void
jobj_str(struct jobj *j, const char *key, const char *v)
{
	jobj_key(j, key);
	json_str(j->f, v);
}

void
jobj_num(struct jobj *j, const char *key, long long v)
{
	jobj_key(j, key);
	fprintf(j->f, "%lld", v);
}

void
jobj_end(struct jobj *j)
{
	fputc('}', j->f);
}

int
streq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

void
csv_field(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, k;
	int plain;

	if (s == NULL)
		return;
	n = strlen(s);
	plain = strpbrk(s, ",\"\r\n") == NULL && s[0] != '=' && s[0] != '+' &&
	    s[0] != '-' && s[0] != '@';
	/* Quote, and defuse spreadsheet formulas with a leading quote. */
	if (!plain) {
		fputc('"', f);
		if (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@')
			fputc('\'', f);
	}
	/* CSV has no escapes: a control character or a byte that is not
	 * UTF-8 (a probe's user name) is shown as '?', never sent to the
	 * terminal or spreadsheet that reads this */
	for (size_t i = 0; i < n; i += k) {
		if ((k = ward_utf8_printable(p + i, n - i)) == 0) {
			k = ward_utf8_len(p + i, n - i);
			k = k ? k : 1;
			fputc('?', f);
			continue;
		}
		if (p[i] == '"')
			fputc('"', f);
		fwrite(p + i, 1, k, f);
	}
	if (!plain)
		fputc('"', f);
}

int
wardctl_parse_time(const char *s, time_t *t)
{
	struct tm tm;
	const char *end;
	char *e;
	long v;

	if (s == NULL || *s == '\0')
		return -1;
	if (strcmp(s, "now") == 0) {
		*t = time(NULL);
		return 0;
	}
	if (s[0] == '-') {
		errno = 0;
		v = strtol(s + 1, &e, 10);
		if (errno != 0 || e == s + 1 || v < 0 || v > 100000 || e[1] != '\0')
			return -1;
		switch (*e) {
		case 'd': v *= 86400; break;
		case 'h': v *= 3600; break;
		case 'm': v *= 60; break;
		default: return -1;
		}
		*t = time(NULL) - v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL || *end != '\0') {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%dT%H:%M", &tm);
	}
	if (end == NULL || *end != '\0') {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d %H:%M", &tm);
	}
	if (end == NULL || *end != '\0') {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (end == NULL || *end != '\0')
		return -1;
	tm.tm_isdst = -1;
	*t = mktime(&tm);
	return *t == (time_t)-1 ? -1 : 0;
}

struct command {
	const char *name;
	int (*fn)(struct wopts *);
};

static const struct command commands[] = {
	{ "policy", cmd_policy },
	{ "can", cmd_can },
	{ "directory", cmd_dir },
	{ "audit", cmd_audit },
	{ "fleet", cmd_fleet },
};

int
main(int argc, char **argv)
{
	struct wopts o;
	char **words;
	int nwords = 0;

	memset(&o, 0, sizeof(o));
	words = calloc((size_t)argc + 1, sizeof(*words));
	if (words == NULL) {
		fprintf(stderr, "wardctl: out of memory\n");
		return WEXIT_ERR;
	}
	if (parse_opts(argc, argv, &o, words, &nwords) != 0) {
		fputs(usage_text, stderr);
		free(words);
		return WEXIT_ERR;
	}
	if (nwords == 0) {
		fputs(usage_text, stderr);
		free(words);
		return WEXIT_ERR;
	}
	{
		static const char *const user_cmds[] = { "init", "enroll", "reset", "unlock",
			"status", "recovery-codes" };
		for (size_t k = 0; k < sizeof(user_cmds) / sizeof(user_cmds[0]); k++) {
			if (strcmp(words[0], user_cmds[k]) == 0) {
				int r;

				o.args = words + 1;
				o.nargs = nwords - 1;
				r = cmd_user(&o, words[0]);
				free(words);
				return r;
			}
		}
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(words[0], commands[k].name) == 0) {
			int r;

			o.args = words + 1;
			o.nargs = nwords - 1;
			r = commands[k].fn(&o);
			free(words);
			return r;
		}
	}
	fprintf(stderr, "wardctl: unknown command '%s'\n", words[0]);
	fputs(usage_text, stderr);
	free(words);
	return WEXIT_ERR;
}
