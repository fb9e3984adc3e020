/*
 * wardd.h - what the files of wardd share (not installed).  wardd(8)
 * describes the daemon; lib/wire.h the protocol it speaks.
 *
 *   wardd.c     the entry point: options, logging, signals, the policy in
 *               force and its reloading
 *   server.c    the socket (made here or passed by systemd) and the event
 *               loop: connections, deadlines, caps
 *   peer.c      who is asking (SO_PEERCRED), what they may ask, and how
 *               often (per-uid counts and token buckets)
 *   answer.c    the answer to one request (PING, DECIDE), and whether a
 *               PHASE request may run
 *   phase.c     one login phase in a thread of its own: the flow engine
 *               (flow.h) with a conversation relayed over the socket, and
 *               the transactions kept between phases
 *
 * Threads: the loop (server.c) runs in the main thread and owns the
 * connection table, the peer counts and the reloads.  Each PHASE runs in a
 * worker thread that owns its connection until it tells the loop it is
 * done (done_fd).  Everything the engine touches - the generation in
 * force, the shared store, directory and audit handles, the transactions
 * - is under one mutex, LOCK, which a worker lets go of only while it
 * waits for a person to type (phase.c).
 */
#ifndef WARD_WARDD_H
#define WARD_WARDD_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "core.h"
#include "file_id.h"
#include "wire.h"

/* Limits (wardd(8) "LIMITS"). */
#define WARDD_CONN_MAX 256           /* connections at once */
#define WARDD_ROOT_RESERVE 64        /* of those, kept for uid 0 */
#define WARDD_CONN_PER_UID 8         /* per non-root uid */
#define WARDD_REQUEST_MS 5000        /* a whole request frame, or idle after an answer */
#define WARDD_RATE_PER_SEC 10        /* requests per second per non-root uid */
#define WARDD_RATE_BURST 20
#define WARDD_LOG_PER_SEC 1          /* log lines about one non-root uid */
#define WARDD_LOG_BURST 10
#define WARDD_RECHECK_MS 1000        /* a racy window's loads for non-root peers,
                                      * at most this often (root: every request) */
#define WARDD_IO_MS 5000             /* any other wait on a client in a phase */
#define WARDD_RESULT_MS 200          /* room for a phase's RESULT, sent with the
                                      * engine held (phase.c) */
#define WARDD_TYPING_MS (5 * 60 * 1000)  /* a person answering a prompt */
#define WARDD_TXN_MAX 1024           /* transactions kept between phases */
#define WARDD_TXN_PER_UID 16         /* ... of them per non-root uid */
#define WARDD_TXN_IDLE_S (15 * 60)   /* a transaction unused this long is gone */
#define WARDD_THREAD_STACK (1024 * 1024)
#define WARDD_WORKERS_KEPT 8         /* threads kept waiting for the next phase */
#define WARDD_WORKER_IDLE_S 60       /* ... each for at most this long */
#define WARDD_REAP_MS 200            /* the done list looked at, while workers run */
/* The store's changes kept pending (lib/state.h) are committed once no
 * phase has added to them for WARDD_FLUSH_IDLE_MS, or when they are
 * WARDD_FLUSH_MAX_MS old: after a login's last phase, and at most this
 * often under a crowd.  Meanwhile ward.lock stays held (wardctl waits). */
#define WARDD_FLUSH_IDLE_MS 3
#define WARDD_FLUSH_MAX_MS 100

/* Set by the signal handlers (wardd.c), read by the loop (server.c). */
extern volatile sig_atomic_t wardd_got_hup, wardd_got_term;

/* A watched file's identity (policy/file_id.h), or why there is none: a
 * change of either means "load it again". */
struct wardd_file_id {
	int err;                     /* errno of lstat, 0 when it exists */
	struct file_id id;           /* all zero when ERR */
};

/*
 * One load of ward.conf and the policy.  A phase pins the generation in
 * force when it starts (REFS) and keeps deciding with it to its end, even
 * when a reload replaces it meanwhile; the last to let go frees it.  Its
 * core's store, directory and audit handles are NULL except while a thread
 * holding LOCK works with it (wardd_gen_enter .. wardd_gen_leave).
 */
struct wardd_gen {
	struct core c;
	unsigned refs;               /* the daemon's while in force, and each phase's */
};

struct wardd_txn;

struct wardd {
	const char *conf_path;
	const char *sock_opt;        /* --socket, or NULL: ward.conf's daemon.socket */
	char sock[CONF_SOCKET_MAX + 1];   /* the path bound at start */
	pthread_mutex_t lock;        /* the engine (above) */
	struct wardd_gen *gen;       /* in force; written by the loop under LOCK */
	uint64_t next_gen;
	/* The one store, directory connection and audit writer, lent to the
	 * generation in force; closed by a reload that changes ward.conf. */
	struct state *st;
	struct dir *dir;
	struct audit_log *log;
	struct wardd_txn *txns;      /* WARDD_TXN_MAX of them (phase.c) */
	struct wardd_file_id ids[3]; /* ward.conf, policy text, snapshot */
	struct timespec checked;     /* last look at ids (CLOCK_MONOTONIC) */
	time_t racy_until;           /* a watched file changed too recently for its
	                              * identity to tell two versions apart: until
	                              * this wall-clock second, every look loads
	                              * again (0: none) */
	int stop_fd;                 /* eventfd: readable once wardd is stopping */
	int done_fd[2];              /* pipe: a worker wakes the loop when done */
	pthread_mutex_t done_lock;   /* DONE and NDONE only, never held with LOCK */
	unsigned done[WARDD_CONN_MAX];   /* slots whose workers are done */
	size_t ndone;
};

/* wardd.c: send this thread's log lines (lib/ward.h's sink is per thread)
 * where the main thread's go. */
void wardd_log_thread_init(void);

/* wardd.c, with D->lock held: pin the generation in force (the caller
 * unpins it with wardd_gen_put); lend it the shared handles while the
 * caller works with it (enter) and take them back (leave). */
struct wardd_gen *wardd_gen_pin(struct wardd *d);
void wardd_gen_put(struct wardd_gen *g);
void wardd_gen_enter(struct wardd *d, struct wardd_gen *g);
void wardd_gen_leave(struct wardd *d, struct wardd_gen *g);

/* wardd.c, by the loop: commit what is pending in the store when it is due
 * (WARDD_FLUSH_*), if the engine is free (never waited for: a phase that
 * holds it wakes the loop when done).  Returns the ms until it is due,
 * or -1 (nothing pending, or the engine busy). */
int wardd_flush(struct wardd *d);

/* wardd.c: append a head record (audit.head_interval in ward.conf(5)):
 * event "head", result "success", detail "interval N" or, with SHUTDOWN,
 * "shutdown; interval N".  Takes D->lock for the append only.  0 or the
 * WARD_ERR_* of the append (logged by core_record). */
int wardd_head(struct wardd *d, int shutdown);

/* wardd.c: load ward.conf and the policy again (WHY names the trigger in
 * the log); REOPEN (SIGHUP) also opens the store, directory and audit log
 * again, as a changed ward.conf does (a replaced key or CA file has no
 * identity wardd watches).  On failure the old ones stay in force and the
 * error (with file:line) is logged at LOG_ERR; returns 0 or that
 * WARD_ERR_*. */
int wardd_reload(struct wardd *d, const char *why, int reopen);
/* wardd.c: reload when a watched file changed since the last look (its
 * identity is looked at every time); in a racy window (a file changed too
 * recently for its identity to tell), load again - with THROTTLE (a
 * non-root peer) at most once a WARDD_RECHECK_MS. */
void wardd_recheck(struct wardd *d, int throttle);

/* peer.c */
struct peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	uid_t key;                   /* whose counts it uses: peer_key */
};
/* The credentials of the process at the other end of unix socket FD:
 * 0, or WARD_ERR_IO. */
int peer_creds(int fd, struct peer *p) WARD_WUR;
/* The uid whose connection count, request rate and log lines a peer of
 * UID uses: UID itself when it has a passwd entry (and for root);
 * WARDD_UID_POOL, one count for them all, for uids without one
 * (subordinate uids of rootless containers, which one user may hold by
 * the thousand). */
#define WARDD_UID_POOL ((uid_t)-1)
uid_t peer_key(uid_t uid);
/* Count a new connection of UID (1) or its end (-1).  peer_admit says
 * whether a non-root UID may open one more (WARDD_CONN_PER_UID);
 * 1 yes, 0 no. */
int peer_admit(uid_t uid);
void peer_count(uid_t uid, int delta);
/* Take one request token of UID (root: always).  1 taken, 0 rate-limited. */
int peer_take_token(uid_t uid);
/* May wardd log a line about what UID did (root: always)?  1 yes (after
 * saying how many lines were left out since the last), 0 leave it out. */
int peer_may_log(uid_t uid);
/* May P ask about USER?  Root about anyone; any other uid only about the
 * name its uid has (getpwuid_r), byte for byte.  0 or WARD_ERR_PERM. */
int peer_may_ask(const struct peer *p, const char *user) WARD_WUR;

/* answer.c: the answer ANS (initialised here) to request REQ from P. */
void answer_request(struct wardd *d, const struct peer *p, const struct wire_msg *req,
    struct wire_msg *ans);
/* answer.c: may P run the PHASE request REQ?  0, or an error with ANS
 * (initialised here) the WIRE_ERROR to send. */
int answer_phase_admit(struct wardd *d, const struct peer *p, const struct wire_msg *req,
    struct wire_msg *ans) WARD_WUR;

/* phase.c: run the PHASE request REQ of P on connection FD (the table's
 * SLOT) in a worker thread (workers.c), which takes REQ over (*REQ is left
 * empty) and writes SLOT to D->done_fd when FD is free to close.  0, or
 * WARD_ERR_BUSY when no thread could take it (REQ untouched). */
int phase_start(struct wardd *d, const struct peer *p, struct wire_msg *req, int fd,
    unsigned slot) WARD_WUR;
/* A phase handed to a worker thread (phase.c). */
struct phase_job;
/* phase.c: run the phase J in the calling (worker) thread, to its end;
 * frees J. */
void phase_run(struct phase_job *j);
/* workers.c: run phase_run(J) in a waiting worker thread, or a new one.
 * 0, or WARD_ERR_BUSY (logged) when no thread could be started (J is
 * still the caller's). */
int workers_run(struct phase_job *j) WARD_WUR;
/* workers.c: end the waiting worker threads; returns once every worker
 * thread has ended (call it when no phase is left). */
void workers_stop(void);
/* phase.c: the transaction table (made at start, freed at exit). */
int phase_txns_init(struct wardd *d) WARD_WUR;
void phase_txns_free(struct wardd *d);

/* server.c: the listening socket - the one systemd passed (*ACTIVATED = 1),
 * or PATH made as wardd(8) "SOCKET" says.  0 or WARD_ERR_* with ERR. */
int server_listen(const char *path, int *fd, int *activated, char *err, size_t errlen)
    WARD_WUR;
/* Remove the socket server_listen made at PATH (when it is still ours). */
void server_unlisten(const char *path, int fd, int activated);
/* Serve LFD until SIGTERM, then finish the requests in flight.  0 or
 * WARD_ERR_IO (poll failed). */
int server_run(struct wardd *d, int lfd);

#endif
