/*
 * fuzz_dir.c - the handling of LDAP answers (lib/dir.c over OpenLDAP
 * libldap) when the directory server is hostile or broken.
 *
 * A fake directory: a thread of ours listens on 127.0.0.1 (a port the kernel
 * picks at start-up, kept across runs) and answers every connection with
 * bytes taken from the fuzz input; dir_user_groups, dir_groups_cached and
 * dir_diagnose run against ldap://127.0.0.1:PORT (allow_plaintext, a small
 * timeout_ms).  Nothing but loopback is used.
 *
 * Input: one config byte, then records
 *     flags(1) msgid(1) len(2, big-endian) data(len)
 *   flags & 1  WRAP: send SEQUENCE { INTEGER msgid, data } (data is then a
 *              protocolOp: 61.. bindResponse, 64.. searchResEntry, 65..
 *              searchResDone, 73.. searchResRef, 78.. extendedResponse);
 *              otherwise data is sent as it is (bad BER, truncations...)
 *   flags & 2  END: this record ends the connection's answer; the records
 *              after it answer the next connection (failover, reconnects)
 *   flags & 4  with END: reset the connection (RST) instead of a clean close
 * A connection gets its whole answer at once, before or while libldap sends
 * its requests, and then end-of-file: libldap always meets its answer, a
 * wrong one or the end, so no run waits for timeout_ms.  libldap numbers
 * the requests of each handle 1 (bind; the first search when anonymous),
 * 2, 3...; the seed corpus (tests/fuzz/corpus/fuzz_dir/) has valid exchanges
 * (in those that find alice, her entry carries uid: alice - dir.c takes an
 * entry as the user's only when its uid holds the name byte for byte - and
 * the same exchanges without it, which are "not found").
 *
 * Config byte:
 *   bits 0-1  0 anonymous, 1 and 3 simple bind (bind_dn + password file),
 *             2 SASL EXTERNAL
 *   bit 2     group_filter set (else memberOf only)
 *   bit 3     two URIs (both this listener: failover)
 *   bits 4-5  0 dir_user_groups, 1 dir_user_groups twice on one handle
 *             (the second reuses the connection), 2 dir_groups_cached (no
 *             store), 3 dir_diagnose (bit 6: with no user: connect + bind)
 *   bit 6     member_of_attr unset (group_filter only)
 *   bit 7     small bounds: max_entries 3, max_values 3, nested_depth 1
 *
 * What must hold (abort otherwise): on success every group DN is one
 * dir.c promises (non-empty, <= 4096 bytes, no control characters, parses
 * as a DN; no two equal, compared when there are at most 64), at most
 * max_entries of them, and where the call returns the user's DN
 * (dir_user_groups, dir_diagnose with a user) it is there (non-empty,
 * <= 4096 bytes, no control characters); on failure
 * nothing is returned and the code is one of the directory errors
 * (WARD_ERR_PARSE included: an answer dir.c cannot read is refused).  A
 * SIGPIPE (libldap writing to the closed fake server) kills the run: dir.c
 * promises it cannot happen.
 *
 * libldap 2.5.13 leaks on two hostile answers of its own (below: a spoilt
 * tag and a LeakSanitizer suppression keep them out), and telling its
 * leaks from dir.c's needs whole stacks, which makes a run some 30 times
 * slower.  tests/fuzz/run.sh therefore fuzzes this target without leak
 * checks (about 2500 runs/s on one shared core) and then replays the
 * corpus it grew once with them; the replay in `make check` has them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "dir.h"
#include "ward.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (1u << 20)
#define MAX_SEG 16              /* connection answers per run */
#define MAX_CONN 8              /* open connections at once */

/* An embedded CA: dir_open wants a ca_file even for plaintext ldap://, and
 * libldap loads it into each handle's TLS context (never used here). */
static const char ca_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBvzCCAWWgAwIBAgIUedTAvLzXCfs8PDG8cTPuWNrSkLIwCgYIKoZIzj0EAwIw\n"
    "NDEyMDAGA1UEAwwpd2FyZCBmdXp6X2RpciBDQSAodW51c2VkOiBwbGFpbnRleHQg\n"
    "b25seSkwIBcNMjYxMTI1MDc1MTE0WhgPMjEyNjExMDEwNzUxMTRaMDQxMjAwBgNV\n"
    "BAMMKXdhcmQgZnV6el9kaXIgQ0EgKHVudXNlZDogcGxhaW50ZXh0IG9ubHkpMFkw\n"
    "EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEOjgx9Os+lGbSGXVJYNgVTrhJD0y++hbW\n"
    "bdtE8+bAk/R4tE8bR2U8ut//12RalZqj4MfrqYA3VuQ7RDHxJxFX9aNTMFEwHQYD\n"
    "VR0OBBYEFAsqK1XKfTGNP0Baq6hP3ltHUZKNMB8GA1UdIwQYMBaAFAsqK1XKfTGN\n"
    "P0Baq6hP3ltHUZKNMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIh\n"
    "ANsskWfcpzxVOb3meQ8U6Vl/Yf3uMyCel++Giswh+iGVAiAll5QlpEYyLkG7iqH1\n"
    "J8CiTXDSKPUrs7bPU9VZxu5lKA==\n"
    "-----END CERTIFICATE-----\n";

struct seg {
	uint8_t *buf;
	size_t len;
	int rst;
};

struct conn {
	int fd;
	struct seg *s;          /* NULL: nothing (left) to send */
	size_t off;
};

static char tmpdir[64], ca_path[128], pw_path[128], uri[64];
static int lfd = -1, wake[2] = { -1, -1 };
static pthread_t server;

/* Shared with the server thread, under mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct seg segs[MAX_SEG];
static size_t nseg, next_seg;
static int active, acked;

/*
 * LeakSanitizer settings of this target (the hooks are read by the ASan
 * runtime of the libFuzzer build and of the ASan replay in `make check`;
 * other builds ignore them).  libldap 2.5.13 leaks the pending request
 * (LDAPRequest and its BER, about 4 KB) when a malformed searchResEntry is
 * followed by end-of-file (a plain libldap client without Ward shows it
 * too).  An LDAPRequest is owned by its LDAP handle, so dir.c
 * cannot leak one without leaking the handle, which stays reported (its
 * allocation goes through ldap_create).  The suppression needs whole
 * stacks: liblber has no frame pointers, so the fast unwinder stops there.
 */
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:ldap_send_server_request\n";
}

const char *
__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

static void
quiet(void *ctx, int prio, const char *msg)
{
	(void)ctx;
	(void)prio;
	(void)msg;
}

static void
cleanup(void)
{
	unlink(ca_path);
	unlink(pw_path);
	rmdir(tmpdir);
}

/* libFuzzer leaves by _Exit after a crash or a leak, so atexit does not
 * run then: remove what earlier runs of this target left, identified by a
 * process that is gone.  Only our own folders, and only the two files we
 * make in them. */
static void
remove_stale(void)
{
	DIR *t = opendir("/tmp");
	struct dirent *e;

	if (t == NULL)
		return;
	while ((e = readdir(t)) != NULL) {
		struct stat st;
		long pid;
		char *end;
		int fd;

		if (strncmp(e->d_name, "ward-fuzz-dir-", 14) != 0)
			continue;
		pid = strtol(e->d_name + 14, &end, 10);
		if (end == e->d_name + 14 || *end != '-' || pid <= 0 ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		if (fstatat(dirfd(t), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISDIR(st.st_mode) || st.st_uid != getuid())
			continue;
		fd = openat(dirfd(t), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		unlinkat(fd, "ca.pem", 0);
		unlinkat(fd, "bind.pw", 0);
		close(fd);
		unlinkat(dirfd(t), e->d_name, AT_REMOVEDIR);
	}
	closedir(t);
}

static void
conn_close(struct conn *c, int rst)
{
	if (rst) {
		struct linger lg = { 1, 0 };

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->fd);
	c->fd = -1;
	c->s = NULL;
}

/* The fake directory: one poll loop over the listener, the wake pipe and
 * the open connections.  Each new connection takes the next answer; when
 * it is sent the write side is shut (or reset); what libldap sends is read
 * and dropped until it closes.  The main thread ends a run through the
 * wake pipe and waits for every connection to be closed. */
static void *
serve(void *arg)
{
	struct conn conns[MAX_CONN];
	char sink[4096];

	(void)arg;
	for (int i = 0; i < MAX_CONN; i++)
		conns[i].fd = -1;
	for (;;) {
		struct pollfd p[2 + MAX_CONN];
		int np = 2, map[MAX_CONN];

		p[0].fd = wake[0];
		p[0].events = POLLIN;
		p[1].fd = lfd;
		p[1].events = POLLIN;
		for (int i = 0; i < MAX_CONN; i++) {
			if (conns[i].fd < 0)
				continue;
			map[np - 2] = i;
			p[np].fd = conns[i].fd;
			p[np].events = POLLIN | (conns[i].s != NULL ? POLLOUT : 0);
			np++;
		}
		for (int i = 0; i < np; i++)
			p[i].revents = 0;
		if (poll(p, (nfds_t)np, -1) < 0)
			continue;
		for (int k = 2; k < np; k++) {
			struct conn *c = &conns[map[k - 2]];

			if (c->fd < 0 || p[k].revents == 0)
				continue;
			if ((p[k].revents & POLLOUT) && c->s != NULL) {
				ssize_t w = send(c->fd, c->s->buf + c->off, c->s->len - c->off,
				    MSG_NOSIGNAL | MSG_DONTWAIT);

				if (w < 0 && errno != EAGAIN && errno != EINTR) {
					conn_close(c, 0);
					continue;
				}
				if (w > 0)
					c->off += (size_t)w;
				if (c->off >= c->s->len) {
					if (c->s->rst) {
						conn_close(c, 1);
						continue;
					}
					shutdown(c->fd, SHUT_WR);
					c->s = NULL;
				}
			}
			if (p[k].revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);

				if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
					conn_close(c, 0);
			}
		}
		if (p[1].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			struct seg *s = NULL;
			int slot = -1, ok;

			if (fd >= 0) {
				pthread_mutex_lock(&mu);
				ok = active;
				if (ok && next_seg < nseg)
					s = &segs[next_seg++];
				pthread_mutex_unlock(&mu);
				for (int i = 0; i < MAX_CONN && slot < 0; i++)
					if (conns[i].fd < 0)
						slot = i;
				if (!ok || slot < 0) {
					close(fd);
				} else {
					conns[slot].fd = fd;
					conns[slot].s = s;
					conns[slot].off = 0;
					if (s == NULL)       /* no answer left: end of file */
						shutdown(fd, SHUT_WR);
					else if (s->len == 0 && s->rst)
						conn_close(&conns[slot], 1);
				}
			}
		}
		if (p[0].revents & POLLIN) {
			char b;

			if (read(wake[0], &b, 1) == 1) {
				pthread_mutex_lock(&mu);
				if (!active) {
					int fd;

					for (int i = 0; i < MAX_CONN; i++)
						if (conns[i].fd >= 0)
							conn_close(&conns[i], 0);
					/* a connect never accepted (the client gave up)
					 * must not take the next run's answer */
					while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
						close(fd);
					acked = 1;
					pthread_cond_signal(&cv);
				}
				pthread_mutex_unlock(&mu);
			}
		}
	}
	return NULL;
}

static int
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t len = strlen(text);

	if (fd < 0)
		return -1;
	if (fchmod(fd, mode) != 0 || write(fd, text, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static void
prepare(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	if (lfd >= 0)
		return;
	ward_log_set_sink(quiet, NULL);
	remove_stale();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ward-fuzz-dir-%ld-XXXXXX", (long)getpid());
	if (mkdtemp(tmpdir) == NULL)
		abort();
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", tmpdir);
	snprintf(pw_path, sizeof(pw_path), "%s/bind.pw", tmpdir);
	atexit(cleanup);
	if (write_file(ca_path, ca_pem, 0644) != 0 ||
	    write_file(pw_path, "fuzz-bind-pw\n", 0600) != 0)
		abort();
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;         /* the kernel picks a free port */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(lfd, 16) != 0 || getsockname(lfd, (struct sockaddr *)&a, &alen) != 0 ||
	    pipe2(wake, O_CLOEXEC) != 0)
		abort();
	snprintf(uri, sizeof(uri), "ldap://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
	if (pthread_create(&server, NULL, serve, NULL) != 0)
		abort();
}

/* BER definite length of N at P (at most 5 bytes); returns the count. */
static size_t
ber_len(uint8_t *p, size_t n)
{
	size_t k = 0;

	if (n < 128) {
		p[0] = (uint8_t)n;
		return 1;
	}
	for (size_t m = n; m > 0; m >>= 8)
		k++;
	p[0] = (uint8_t)(0x80 | k);
	for (size_t i = 0; i < k; i++)
		p[1 + i] = (uint8_t)(n >> (8 * (k - 1 - i)));
	return 1 + k;
}

/*
 * libldap 2.5.13 (Debian 12) leaks in try_read1msg (result.c) on every
 * unsolicited notification (messageID 0, an ExtendedResponse): the
 * matchedDN and diagnosticMessage it decoded, and for a Notice of
 * Disconnection the whole message (it returns -1 without ber_free); a
 * plain libldap client without Ward shows both.  Not Ward's to fix, and
 * LeakSanitizer would stop every run that meets one; no suppression can
 * tell these apart from a leak of dir.c's (the frames are try_read1msg,
 * a static function, and ber_scanf).  So in what we send, a
 * message that libldap would take for one gets tag 0x65 instead of 0x78:
 * libldap then tosses it unread, the path a wrong message id takes.  The
 * walk stops where the stream stops being LDAP (libldap drops the
 * connection there).
 */
static size_t
get_len(const uint8_t *p, size_t n, size_t *hl)
{
	size_t k, v = 0;

	if (n < 1)
		return SIZE_MAX;
	if (p[0] < 0x80) {
		*hl = 1;
		return p[0];
	}
	k = p[0] & 0x7f;
	if (k == 0 || k > 8 || n < 1 + k)
		return SIZE_MAX;
	for (size_t i = 0; i < k; i++) {
		if (v > (SIZE_MAX >> 9))
			return SIZE_MAX;
		v = v << 8 | p[1 + i];
	}
	*hl = 1 + k;
	return v;
}

/* Bytes of the BER tag at P (high-tag-number form included), 0 if cut. */
static size_t
tag_len(const uint8_t *p, size_t n)
{
	size_t i = 1;

	if (n < 1)
		return 0;
	if ((p[0] & 0x1f) == 0x1f)
		while (i < n && (p[i++] & 0x80))
			;
	return i <= n ? i : 0;
}

static void
spoil_unsolicited(uint8_t *buf, size_t len)
{
	size_t pos = 0;

	while (pos + 2 <= len && buf[pos] == 0x30) {
		size_t hl, ml = get_len(buf + pos + 1, len - pos - 1, &hl), at, tl, il, ihl;
		int zero = 1;

		if (ml == SIZE_MAX)
			return;
		at = pos + 1 + hl;
		/* the message id: libldap takes any tag there */
		if ((tl = tag_len(buf + at, len - at)) != 0 &&
		    (il = get_len(buf + at + tl, len - at - tl, &ihl)) != SIZE_MAX &&
		    il < len && at + tl + ihl + il < len) {
			for (size_t i = 0; i < il; i++)
				zero &= buf[at + tl + ihl + i] == 0;
			if (zero && buf[at + tl + ihl + il] == 0x78)
				buf[at + tl + ihl + il] = 0x65;
		}
		if (ml > len - at)
			return;
		pos = at + ml;
	}
}

/* Cut the records after the config byte into connection answers. */
static void
split(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	nseg = 0;
	while (pos < size && nseg < MAX_SEG) {
		struct seg *s = &segs[nseg++];

		s->buf = malloc((size - pos) * 2 + 16);  /* a wrapped record grows by <= 2x + 6 */
		s->len = 0;
		s->rst = 0;
		if (s->buf == NULL)
			abort();
		while (pos < size) {
			uint8_t flags = data[pos], id = pos + 1 < size ? data[pos + 1] : 0;
			size_t len = pos + 3 < size ? (size_t)data[pos + 2] << 8 | data[pos + 3] : 0;

			pos += 4;
			if (pos > size)
				pos = size;
			if (len > size - pos)
				len = size - pos;
			if (flags & 1) {
				uint8_t hdr[16];
				size_t h = 0, il = id < 128 ? 1 : 2;

				hdr[h++] = 0x30;
				h += ber_len(hdr + h, 2 + il + len);
				hdr[h++] = 0x02;
				hdr[h++] = (uint8_t)il;
				if (il == 2)
					hdr[h++] = 0;
				hdr[h++] = id;
				memcpy(s->buf + s->len, hdr, h);
				s->len += h;
			}
			memcpy(s->buf + s->len, data + pos, len);
			s->len += len;
			pos += len;
			if (flags & 2) {
				s->rst = (flags & 4) != 0;
				break;
			}
		}
		spoil_unsolicited(s->buf, s->len);
	}
}

/* A DN from the server as dir.c lets it through: non-empty, at most 4096
 * bytes, no control characters; a group DN must also parse (the user's DN
 * is only checked that far: it reaches filters escaped). */
static int
dn_sane(const char *dn, int parse)
{
	size_t n;
	char *norm = NULL;

	if (dn == NULL || (n = strnlen(dn, 4097)) == 0 || n > 4096)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)dn[i] < 0x20 || dn[i] == 0x7f)
			return 0;
	if (!parse)
		return 1;
	if (dir_dn_normalize(dn, &norm) != 0)
		return 0;
	free(norm);
	return 1;
}

static int
err_ok(int r)
{
	return r == WARD_ERR_INVAL || r == WARD_ERR_NOTFOUND || r == WARD_ERR_UNAVAIL ||
	    r == WARD_ERR_TLS || r == WARD_ERR_AUTH || r == WARD_ERR_TIMEOUT ||
	    r == WARD_ERR_TOOBIG || r == WARD_ERR_NOMEM ||
	    r == WARD_ERR_PARSE;     /* the user's entry has no usable DN */
}

/* The promises of dir.h about one answer. */
static void
check(const struct conf_directory *c, int r, char **dns, size_t n, const char *udn,
    int want_udn)
{
	if (getenv("WARD_FUZZ_DIR_DEBUG") != NULL) {   /* what an input does */
		fprintf(stderr, "fuzz_dir: %s, %zu groups%s%.80s\n", r ? ward_strerror(r) : "ok",
		    n, udn ? ", user " : "", udn ? udn : "");
		for (size_t i = 0; i < n && i < 16; i++)
			fprintf(stderr, "  %.100s\n", dns[i]);
	}
	if (r != 0) {
		if (!err_ok(r) || dns != NULL || n != 0 || udn != NULL)
			abort();
		return;
	}
	if (dns == NULL || n > (size_t)c->max_entries || (want_udn && !dn_sane(udn, 0)))
		abort();
	for (size_t i = 0; i < n; i++) {
		if (!dn_sane(dns[i], 1))
			abort();
		for (size_t j = 0; j < i && n <= 64; j++)
			if (dir_dn_equal(dns[i], dns[j]))
				abort();
	}
}

static void
run_client(uint8_t cfg)
{
	struct conf_directory c;
	char *u[2] = { uri, uri };
	char user_filter[] = "(&(objectClass=inetOrgPerson)(uid=%u))";
	char group_filter[] = "(&(objectClass=groupOfNames)(member=%d))";
	char member_of[] = "memberOf", base[] = "dc=example,dc=org";
	char bind_dn[] = "cn=admin,dc=example,dc=org", external[] = "EXTERNAL";
	char **dns = NULL, *udn = NULL;
	struct dir *d = NULL;
	size_t n = 0;
	int r;

	memset(&c, 0, sizeof(c));
	c.enabled = 1;
	c.uri[0] = u[0];
	c.uri[1] = u[1];
	c.nuri = (cfg & 8) ? 2 : 1;
	c.base = base;
	c.ca_file = ca_path;
	c.allow_plaintext = 1;
	c.user_filter = user_filter;
	c.group_filter = (cfg & 4) ? group_filter : NULL;
	c.member_of_attr = (cfg & 0x40) ? NULL : member_of;
	if ((cfg & 3) == 2) {
		c.sasl_mech = external;
	} else if (cfg & 1) {
		c.bind_dn = bind_dn;
		c.bind_password_file = pw_path;
	}
	c.timeout_ms = 300;
	c.cache_seconds = 300;
	c.offline_max_age = 43200;
	c.nested_depth = (cfg & 0x80) ? 1 : 3;
	c.max_entries = (cfg & 0x80) ? 3 : 1000;
	c.max_values = (cfg & 0x80) ? 3 : 10000;

	switch ((cfg >> 4) & 3) {
	case 0:
	case 1:
		if (dir_open(&d, &c) != 0)
			abort();
		r = dir_user_groups(d, "alice", &dns, &n, &udn);
		check(&c, r, dns, n, udn, 1);
		dir_free_list(dns, n);
		free(udn);
		if ((cfg >> 4) & 1) {       /* account after auth: the same handle */
			r = dir_user_groups(d, "alice", &dns, &n, NULL);
			check(&c, r, dns, n, NULL, 0);
			dir_free_list(dns, n);
		}
		dir_close(d);
		break;
	case 2: {
		int offline = -1;

		r = dir_groups_cached(&d, &c, NULL, "alice", time(NULL), &dns, &n, &offline, NULL);
		check(&c, r, dns, n, NULL, 0);
		if (offline != 0)
			abort();        /* no store: never an offline answer */
		dir_free_list(dns, n);
		dir_close(d);
		break;
	}
	default: {
		struct dir_diag diag[CONF_MAX_URIS];
		const char *user = (cfg & 0x40) ? NULL : "alice";

		r = dir_diagnose(&c, user, diag, CONF_MAX_URIS, &dns, &n, &udn);
		if (user != NULL)
			check(&c, r, dns, n, udn, 1);
		else if ((r != 0 && !err_ok(r)) || dns != NULL || n != 0 || udn != NULL)
			abort();        /* connect + bind only: no groups */
		for (size_t i = 0; i < c.nuri; i++)
			if (strnlen(diag[i].msg, sizeof(diag[i].msg)) >= sizeof(diag[i].msg) ||
			    diag[i].tls_version[0] != '\0' ||
			    diag[i].ngroups > (size_t)c.max_entries ||
			    (diag[i].lookup_rc != 0 && diag[i].lookup_rc != 1 &&
			     !err_ok(diag[i].lookup_rc)))
				abort();
		dir_free_list(dns, n);
		free(udn);
		break;
	}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char b = 'e';

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	prepare();
	pthread_mutex_lock(&mu);
	split(data + 1, size - 1);
	next_seg = 0;
	active = 1;
	pthread_mutex_unlock(&mu);

	run_client(data[0]);

	/* End the run: the server closes what is left open. */
	pthread_mutex_lock(&mu);
	active = 0;
	acked = 0;
	pthread_mutex_unlock(&mu);
	if (write(wake[1], &b, 1) != 1)
		abort();
	pthread_mutex_lock(&mu);
	while (!acked)
		pthread_cond_wait(&cv, &mu);
	for (size_t i = 0; i < nseg; i++)
		free(segs[i].buf);
	nseg = 0;
	pthread_mutex_unlock(&mu);
	return 0;
}
