/*
 * fault_wrap.c - the wrappers linked into the fault-injection build of
 * wardd only (build/tests/fault/wardd_fault; fault.h).  Test code: never
 * part of the installed wardd, which has no way to turn any of this on.
 *
 * Each __wrap_FN counts the call when it is in scope (below); the counted
 * call whose number is the armed target fails once, the way FN really
 * fails:
 *   malloc calloc realloc strdup strndup asprintf   NULL / -1, ENOMEM
 *   open openat                                     -1, EMFILE
 *   read pread                                      -1, EIO
 *   write                                           -1, ENOSPC (or, with
 *                                                   short_writes, half the
 *                                                   bytes written and that
 *                                                   count returned); not
 *                                                   on a pipe (below)
 *   fsync fdatasync rename                          -1, EIO
 *   mdb_env_open mdb_txn_begin mdb_get              EIO / MDB_CORRUPTED
 *   mdb_put                                         MDB_MAP_FULL
 *   mdb_txn_commit                                  the txn aborted (LMDB
 *                                                   frees it on a failed
 *                                                   commit), EIO
 *   ldap_initialize ldap_set_option ldap_connect ldap_start_tls
 *   ldap_install_tls ldap_sasl_bind ldap_search_ext ldap_result
 *   ldap_parse_result ldap_get_dn ldap_get_values_len ldap_dn_normalize
 *                                                   their error returns
 * Every other call goes through unchanged.  Calls from this file go to
 * the __real_ functions (the link wraps this object's references too).
 *
 * What is counted.  wardd is long-lived and multi-threaded: the main
 * thread accepts, reads requests and reloads; each login phase runs in a
 * worker thread (daemon/phase.c's phase_run, in a thread daemon/workers.c
 * keeps between phases).  A call counts only when the thread making it is
 * "serving" (a thread-local flag):
 *  - FAULT_SCOPE_PHASE: a phase, from its first call to its last (the
 *    phase_run hook below).  So the calls of wardd's start, of its reloads,
 *    of reading the next request and of a worker thread waiting for its
 *    next phase never count, and the Nth call of a run is the Nth call of
 *    its phases, whatever wardd did before.  The driver waits after each
 *    phase until every phase has ended (WORKERS_DONE), so no call of one
 *    phase is counted (or traced) under the next;
 *  - FAULT_SCOPE_LOAD: core_init, as a reload runs it (the core_init
 *    hook).
 * The counters are atomic: one worker at a time is what the driver does,
 * not something this file relies on.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <syslog.h>
#include <unistd.h>

#include <ldap.h>
#include <lmdb.h>

#include "fault.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
/* libldap 2.5 leaves GnuTLS objects behind per TLS handle (see
 * tests/dir/test_dir.c); those allocations are GnuTLS's own. */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:libgnutls.so\nleak:libtasn1.so\n";
}
#else
#define HAVE_LSAN 0
#endif

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)
#define ADD(x, v) __atomic_add_fetch(&(x), (v), __ATOMIC_SEQ_CST)

int __real_open(const char *path, int flags, ...);
ssize_t __real_write(int fd, const void *buf, size_t n);
void *__real_malloc(size_t n);

static struct fault_shared *fs;  /* the control file; NULL: nothing fails */
static uintptr_t exe_base;       /* wardd_fault's load address */
static int log_fd = -1;          /* WARD_FAULT_LOG, or -1: syslog */
static _Thread_local int serving; /* this thread's calls count */

static void __attribute__((noreturn))
attach_failed(const char *what, const char *path)
{
	fprintf(stderr, "wardd_fault: %s %s: %s\n", what, path, strerror(errno));
	_exit(70);
}

/* Before main: map the control file and open the log file the driver
 * named.  A name that does not work stops wardd_fault (the driver sees it
 * never answer): a fault test must never run unarmed by mistake. */
static void __attribute__((constructor))
fault_attach(void)
{
	const char *ctl = getenv(WARD_FAULT_CTL), *logp = getenv(WARD_FAULT_LOG);
	struct stat sb;
	Dl_info info;
	void *p;
	int fd;

	if (dladdr((void *)(uintptr_t)fault_attach, &info) != 0)
		exe_base = (uintptr_t)info.dli_fbase;
	if (logp != NULL &&
	    (log_fd = __real_open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0)
		attach_failed("cannot open the log file", logp);
	if (ctl == NULL)
		return;
	if ((fd = __real_open(ctl, O_RDWR | O_CLOEXEC)) < 0)
		attach_failed("cannot open the control file", ctl);
	if (fstat(fd, &sb) != 0 || sb.st_size < (off_t)sizeof(*fs)) {
		errno = EINVAL;
		attach_failed("not a control file:", ctl);
	}
	p = mmap(NULL, sizeof(*fs), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		attach_failed("cannot map the control file", ctl);
	fs = p;
	if (fs->magic != FAULT_MAGIC) {
		errno = EINVAL;
		attach_failed("not a control file:", ctl);
	}
}

/* Allocations are left out of a trace: their number follows the lengths
 * of names and the number of roles, not the work a login does. */
static int
is_alloc(const char *name)
{
	static const char *const a[] = { "malloc", "calloc", "realloc", "strdup", "strndup",
		"asprintf" };

	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		if (strcmp(name, a[i]) == 0)
			return 1;
	return 0;
}

/* Count this call; 1 when it is the one to fail. */
static int
fail_now(const char *name, void *caller)
{
	unsigned long n;

	if (fs == NULL || !serving)
		return 0;
	if (LOAD(fs->trace) && !is_alloc(name)) {
		char line[FAULT_NAME_MAX + 16];
		int k = snprintf(line, sizeof(line), "%s@%d\n", name, LOAD(fs->phase));

		if (k > 0 && (size_t)k < sizeof(line))
			fault_trace_add(fs, line, (size_t)k);
	}
	if (fs->only[0] != '\0' && strcmp(fs->only, name) != 0)
		return 0;
	n = ADD(fs->calls, 1);
	if (n != LOAD(fs->target))
		return 0;
	/* one thread only gets here per run: the counter passes TARGET once */
	fs->injected_phase = LOAD(fs->phase);
	snprintf(fs->name, sizeof(fs->name), "%s", name);
	fs->site = (unsigned long)((uintptr_t)caller - exe_base);
	STORE(fs->injected, 1);
	return 1;
}

/* The wrapper's caller (in Ward's own code).  Wrappers are not inlined
 * into one another, so this is one frame up. */
#define FAIL(name) fail_now(name, __builtin_extract_return_addr(__builtin_return_address(0)))

/* ---- hooks: watching wardd, never failing ---- */

/* A login phase, run by a worker thread (daemon/workers.c): it serves
 * (FAULT_SCOPE_PHASE) from its first call to its last; then, under ASan,
 * LeakSanitizer looks for what the phase lost (reported on wardd_fault's
 * stderr, LEAKED set); then it is counted as done.  Worker threads are
 * kept between phases, so a phase is counted by this call, not by its
 * thread. */
struct phase_job;
void __real_phase_run(struct phase_job *j);
void __wrap_phase_run(struct phase_job *j);

void
__wrap_phase_run(struct phase_job *j)
{
	if (fs != NULL)
		ADD(fs->workers_started, 1);
	serving = fs != NULL && LOAD(fs->scope) == FAULT_SCOPE_PHASE;
	__real_phase_run(j);
	serving = 0;
#if HAVE_LSAN
	if (fs != NULL && LOAD(fs->leak_check) && __lsan_do_recoverable_leak_check() != 0)
		STORE(fs->leaked, 1);
#endif
	if (fs != NULL)
		ADD(fs->workers_done, 1);
}

/* core_init as wardd's reloads (and its start) run it. */
struct core;
int __real_core_init(struct core *c, const char *conf_path, char *err, size_t errlen);
int __wrap_core_init(struct core *c, const char *conf_path, char *err, size_t errlen);

int
__wrap_core_init(struct core *c, const char *conf_path, char *err, size_t errlen)
{
	int was = serving, r;

	if (fs != NULL && LOAD(fs->scope) == FAULT_SCOPE_LOAD)
		serving = 1;
	r = __real_core_init(c, conf_path, err, errlen);
	serving = was;
	if (fs != NULL)
		ADD(fs->loads, 1);
	return r;
}

/* A log line: "PRIORITY PHASE TEXT" to the log file (one write(2), which
 * O_APPEND keeps whole among threads), or to syslog without one. */
static void log_line(int prio, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
log_line(int prio, const char *fmt, va_list ap)
{
	char msg[2048], line[2100];
	int n;

	if (log_fd < 0) {
		vsyslog(prio, fmt, ap);
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	for (char *c = msg; *c != '\0'; c++)
		if (*c == '\n')
			*c = ' ';
	n = snprintf(line, sizeof(line), "%d %d %s\n", LOG_PRI(prio),
	    fs != NULL ? LOAD(fs->phase) : 0, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	(void)__real_write(log_fd, line, (size_t)n);
}

void __wrap_syslog(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void __wrap___syslog_chk(int prio, int flag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void
__wrap_syslog(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(prio, fmt, ap);
	va_end(ap);
}

/* syslog as _FORTIFY_SOURCE compiles it. */
void
__wrap___syslog_chk(int prio, int flag, const char *fmt, ...)
{
	va_list ap;

	(void)flag;
	va_start(ap, fmt);
	log_line(prio, fmt, ap);
	va_end(ap);
}

/* Prototypes: the linker supplies __real_FN; __wrap_FN is called instead
 * of FN from the module's objects. */
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__wrap_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_asprintf(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int __wrap___asprintf_chk(char **s, int flag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int __vasprintf_chk(char **s, int flag, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);
int __real_openat(int dfd, const char *path, int flags, ...);
int __wrap_openat(int dfd, const char *path, int flags, ...);
ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);
ssize_t __real___read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __wrap___read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __real___pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __wrap___pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
int __real_fsync(int fd);
int __wrap_fsync(int fd);
int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);
int __real_rename(const char *a, const char *b);
int __wrap_rename(const char *a, const char *b);
int __real_mdb_env_open(MDB_env *env, const char *path, unsigned int flags, mdb_mode_t mode);
int __wrap_mdb_env_open(MDB_env *env, const char *path, unsigned int flags, mdb_mode_t mode);
int __real_mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn);
int __wrap_mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn);
int __real_mdb_txn_commit(MDB_txn *txn);
int __wrap_mdb_txn_commit(MDB_txn *txn);
int __real_mdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
int __wrap_mdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
int __real_mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags);
int __wrap_mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags);
int __real_ldap_initialize(LDAP **ldp, const char *url);
int __wrap_ldap_initialize(LDAP **ldp, const char *url);
int __real_ldap_set_option(LDAP *ld, int option, const void *in);
int __wrap_ldap_set_option(LDAP *ld, int option, const void *in);
int __real_ldap_connect(LDAP *ld);
int __wrap_ldap_connect(LDAP *ld);
int __real_ldap_start_tls(LDAP *ld, LDAPControl **sc, LDAPControl **cc, int *msgidp);
int __wrap_ldap_start_tls(LDAP *ld, LDAPControl **sc, LDAPControl **cc, int *msgidp);
int __real_ldap_install_tls(LDAP *ld);
int __wrap_ldap_install_tls(LDAP *ld);
int __real_ldap_sasl_bind(LDAP *ld, const char *dn, const char *mech, struct berval *cred,
    LDAPControl **sc, LDAPControl **cc, int *msgidp);
int __wrap_ldap_sasl_bind(LDAP *ld, const char *dn, const char *mech, struct berval *cred,
    LDAPControl **sc, LDAPControl **cc, int *msgidp);
int __real_ldap_search_ext(LDAP *ld, const char *base, int scope, const char *filter,
    char **attrs, int attrsonly, LDAPControl **sc, LDAPControl **cc, struct timeval *tv,
    int sizelimit, int *msgidp);
int __wrap_ldap_search_ext(LDAP *ld, const char *base, int scope, const char *filter,
    char **attrs, int attrsonly, LDAPControl **sc, LDAPControl **cc, struct timeval *tv,
    int sizelimit, int *msgidp);
int __real_ldap_result(LDAP *ld, int msgid, int all, struct timeval *tv, LDAPMessage **res);
int __wrap_ldap_result(LDAP *ld, int msgid, int all, struct timeval *tv, LDAPMessage **res);
int __real_ldap_parse_result(LDAP *ld, LDAPMessage *res, int *code, char **matched,
    char **diag, char ***refs, LDAPControl ***sc, int freeit);
int __wrap_ldap_parse_result(LDAP *ld, LDAPMessage *res, int *code, char **matched,
    char **diag, char ***refs, LDAPControl ***sc, int freeit);
char *__real_ldap_get_dn(LDAP *ld, LDAPMessage *e);
char *__wrap_ldap_get_dn(LDAP *ld, LDAPMessage *e);
struct berval **__real_ldap_get_values_len(LDAP *ld, LDAPMessage *e, const char *attr);
struct berval **__wrap_ldap_get_values_len(LDAP *ld, LDAPMessage *e, const char *attr);
int __real_ldap_dn_normalize(const char *in, unsigned iflags, char **out, unsigned oflags);
int __wrap_ldap_dn_normalize(const char *in, unsigned iflags, char **out, unsigned oflags);

/* ---- memory ---- */

void *
__wrap_malloc(size_t n)
{
	if (FAIL("malloc")) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
	if (FAIL("calloc")) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t n)
{
	if (FAIL("realloc")) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_realloc(p, n);
}

char *
__wrap_strdup(const char *s)
{
	if (FAIL("strdup")) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_strdup(s);
}

char *
__wrap_strndup(const char *s, size_t n)
{
	if (FAIL("strndup")) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_strndup(s, n);
}

/* On failure *S is left as it was: POSIX leaves it undefined. */
int
__wrap_asprintf(char **s, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (FAIL("asprintf")) {
		errno = ENOMEM;
		return -1;
	}
	va_start(ap, fmt);
	r = vasprintf(s, fmt, ap);
	va_end(ap);
	return r;
}

/* asprintf as _FORTIFY_SOURCE compiles it. */
int
__wrap___asprintf_chk(char **s, int flag, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (FAIL("asprintf")) {
		errno = ENOMEM;
		return -1;
	}
	va_start(ap, fmt);
	r = __vasprintf_chk(s, flag, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- files ---- */

int
__wrap_open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (FAIL("open")) {
		errno = EMFILE;
		return -1;
	}
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return __real_open(path, flags, mode);
}

int
__wrap_openat(int dfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (FAIL("openat")) {
		errno = EMFILE;
		return -1;
	}
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	return __real_openat(dfd, path, flags, mode);
}

ssize_t
__wrap_read(int fd, void *buf, size_t n)
{
	if (FAIL("read")) {
		errno = EIO;
		return -1;
	}
	return __real_read(fd, buf, n);
}

ssize_t
__wrap___read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (FAIL("read")) {
		errno = EIO;
		return -1;
	}
	return __real___read_chk(fd, buf, n, buflen);
}

ssize_t
__wrap_pread(int fd, void *buf, size_t n, off_t off)
{
	if (FAIL("pread")) {
		errno = EIO;
		return -1;
	}
	return __real_pread(fd, buf, n, off);
}

ssize_t
__wrap___pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	if (FAIL("pread")) {
		errno = EIO;
		return -1;
	}
	return __real___pread_chk(fd, buf, n, off, buflen);
}

ssize_t
__wrap_write(int fd, const void *buf, size_t n)
{
	struct stat sb;

	/* A pipe inside wardd (a worker telling the loop it is done, phase.c)
	 * has no disk or peer behind it that could fail, and room by
	 * construction: not counted, never failed. */
	if (fstat(fd, &sb) == 0 && S_ISFIFO(sb.st_mode))
		return __real_write(fd, buf, n);
	if (FAIL("write")) {
		if (fs->short_writes && n > 1) {
			/* the disk filled up half-way through */
			ssize_t k = __real_write(fd, buf, n / 2);
			errno = ENOSPC;
			return k;
		}
		errno = ENOSPC;
		return -1;
	}
	return __real_write(fd, buf, n);
}

/* Is FD a policy snapshot being written (policy_compile's temporary)?  Its
 * flush is no durability point: a snapshot is a cache that is not renamed
 * into place when its flush fails, and the text decides meanwhile. */
static int
snapshot_fd(int fd)
{
	char link[64], path[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) <= 0)
		return 0;
	path[n] = '\0';
	return strstr(path, ".snap.tmp.") != NULL;
}

int
__wrap_fsync(int fd)
{
	if (FAIL("fsync")) {
		if (fs != NULL)
			fs->cache_fsync = snapshot_fd(fd);
		errno = EIO;
		return -1;
	}
	return __real_fsync(fd);
}

int
__wrap_fdatasync(int fd)
{
	if (FAIL("fdatasync")) {
		errno = EIO;
		return -1;
	}
	return __real_fdatasync(fd);
}

int
__wrap_rename(const char *a, const char *b)
{
	if (FAIL("rename")) {
		errno = EIO;
		return -1;
	}
	return __real_rename(a, b);
}

/* ---- LMDB ---- */

int
__wrap_mdb_env_open(MDB_env *env, const char *path, unsigned int flags, mdb_mode_t mode)
{
	if (FAIL("mdb_env_open"))
		return EIO;
	return __real_mdb_env_open(env, path, flags, mode);
}

int
__wrap_mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn)
{
	if (FAIL("mdb_txn_begin")) {
		*txn = NULL;
		return EIO;
	}
	return __real_mdb_txn_begin(env, parent, flags, txn);
}

/* A failed commit frees the transaction (lmdb.h): so does this one. */
int
__wrap_mdb_txn_commit(MDB_txn *txn)
{
	if (FAIL("mdb_txn_commit")) {
		mdb_txn_abort(txn);
		return EIO;
	}
	return __real_mdb_txn_commit(txn);
}

int
__wrap_mdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data)
{
	if (FAIL("mdb_get"))
		return MDB_CORRUPTED;
	return __real_mdb_get(txn, dbi, key, data);
}

int
__wrap_mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags)
{
	if (FAIL("mdb_put"))
		return MDB_MAP_FULL;
	return __real_mdb_put(txn, dbi, key, data, flags);
}

/* ---- libldap ---- */

/* What libldap keeps as the handle's last error. */
static void
ld_error(LDAP *ld, int code)
{
	if (ld != NULL)
		(void)__real_ldap_set_option(ld, LDAP_OPT_RESULT_CODE, &code);
}

int
__wrap_ldap_initialize(LDAP **ldp, const char *url)
{
	if (FAIL("ldap_initialize")) {
		*ldp = NULL;
		return LDAP_NO_MEMORY;
	}
	return __real_ldap_initialize(ldp, url);
}

int
__wrap_ldap_set_option(LDAP *ld, int option, const void *in)
{
	if (FAIL("ldap_set_option"))
		return LDAP_OPT_ERROR;
	return __real_ldap_set_option(ld, option, in);
}

int
__wrap_ldap_connect(LDAP *ld)
{
	if (FAIL("ldap_connect")) {
		ld_error(ld, LDAP_SERVER_DOWN);
		return LDAP_SERVER_DOWN;
	}
	return __real_ldap_connect(ld);
}

int
__wrap_ldap_start_tls(LDAP *ld, LDAPControl **sc, LDAPControl **cc, int *msgidp)
{
	if (FAIL("ldap_start_tls")) {
		ld_error(ld, LDAP_SERVER_DOWN);
		return LDAP_SERVER_DOWN;
	}
	return __real_ldap_start_tls(ld, sc, cc, msgidp);
}

int
__wrap_ldap_install_tls(LDAP *ld)
{
	if (FAIL("ldap_install_tls")) {
		ld_error(ld, LDAP_CONNECT_ERROR);
		return LDAP_CONNECT_ERROR;
	}
	return __real_ldap_install_tls(ld);
}

int
__wrap_ldap_sasl_bind(LDAP *ld, const char *dn, const char *mech, struct berval *cred,
    LDAPControl **sc, LDAPControl **cc, int *msgidp)
{
	if (FAIL("ldap_sasl_bind")) {
		ld_error(ld, LDAP_SERVER_DOWN);
		return LDAP_SERVER_DOWN;
	}
	return __real_ldap_sasl_bind(ld, dn, mech, cred, sc, cc, msgidp);
}

int
__wrap_ldap_search_ext(LDAP *ld, const char *base, int scope, const char *filter,
    char **attrs, int attrsonly, LDAPControl **sc, LDAPControl **cc, struct timeval *tv,
    int sizelimit, int *msgidp)
{
	if (FAIL("ldap_search_ext")) {
		ld_error(ld, LDAP_SERVER_DOWN);
		return LDAP_SERVER_DOWN;
	}
	return __real_ldap_search_ext(ld, base, scope, filter, attrs, attrsonly, sc, cc, tv,
	    sizelimit, msgidp);
}

/* -1: the connection failed while waiting (the answer never comes). */
int
__wrap_ldap_result(LDAP *ld, int msgid, int all, struct timeval *tv, LDAPMessage **res)
{
	if (FAIL("ldap_result")) {
		*res = NULL;
		ld_error(ld, LDAP_SERVER_DOWN);
		return -1;
	}
	return __real_ldap_result(ld, msgid, all, tv, res);
}

/* An answer that does not decode.  With FREEIT the message is freed, as
 * libldap does on every path. */
int
__wrap_ldap_parse_result(LDAP *ld, LDAPMessage *res, int *code, char **matched,
    char **diag, char ***refs, LDAPControl ***sc, int freeit)
{
	if (FAIL("ldap_parse_result")) {
		if (matched != NULL)
			*matched = NULL;
		if (diag != NULL)
			*diag = NULL;
		if (refs != NULL)
			*refs = NULL;
		if (sc != NULL)
			*sc = NULL;
		if (code != NULL)
			*code = LDAP_DECODING_ERROR;
		if (freeit)
			ldap_msgfree(res);
		ld_error(ld, LDAP_DECODING_ERROR);
		return LDAP_DECODING_ERROR;
	}
	return __real_ldap_parse_result(ld, res, code, matched, diag, refs, sc, freeit);
}

char *
__wrap_ldap_get_dn(LDAP *ld, LDAPMessage *e)
{
	if (FAIL("ldap_get_dn")) {
		ld_error(ld, LDAP_DECODING_ERROR);
		return NULL;
	}
	return __real_ldap_get_dn(ld, e);
}

struct berval **
__wrap_ldap_get_values_len(LDAP *ld, LDAPMessage *e, const char *attr)
{
	if (FAIL("ldap_get_values_len")) {
		ld_error(ld, LDAP_DECODING_ERROR);
		return NULL;
	}
	return __real_ldap_get_values_len(ld, e, attr);
}

int
__wrap_ldap_dn_normalize(const char *in, unsigned iflags, char **out, unsigned oflags)
{
	if (FAIL("ldap_dn_normalize")) {
		*out = NULL;
		return LDAP_NO_MEMORY;
	}
	return __real_ldap_dn_normalize(in, iflags, out, oflags);
}
