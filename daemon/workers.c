/*
 * workers.c - the threads that run login phases (phase.c: phase_run),
 * kept between phases so that a phase costs no thread creation: a phase
 * goes to a thread that waits for one when there is one, else to a new
 * thread; after its phase a thread waits for the next one for at most
 * WARDD_WORKER_IDLE_S while fewer than WARDD_WORKERS_KEPT others wait, and
 * ends otherwise.
 *
 * Rules it keeps:
 *  - a phase never waits for another one's thread: with none waiting, a
 *    new thread is started (there are at most as many phases at once as
 *    connections, WARDD_CONN_MAX);
 *  - a kept thread carries nothing from one phase to the next: phase_run
 *    frees its job and wipes what the person typed before it returns, and
 *    sets the thread's log sink again;
 *  - every thread keeps the signal mask of the loop that started it (all
 *    blocked: only the loop's ppoll takes signals);
 *  - workers_stop, once the loop has no connection left, ends the waiting
 *    threads and returns when every thread has ended.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "wardd.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER;   /* a job queued, or stop */
static pthread_cond_t gone = PTHREAD_COND_INITIALIZER;   /* a thread ended */
/* jobs handed to waiting threads, not yet taken (at most NWAIT of them) */
static struct phase_job *queue[WARDD_CONN_MAX];
static size_t qhead, qlen;
static size_t nwait;       /* threads waiting for a job */
static size_t nlive;       /* threads started and not ended */
static int stopping;

/* The next job for a thread that has just finished one, or NULL when the
 * thread is to end.  MU held. */
static struct phase_job *
next_job(void)
{
	struct phase_job *j;
	struct timespec dl;
	int r = 0;

	if (stopping || nwait >= WARDD_WORKERS_KEPT)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += WARDD_WORKER_IDLE_S;
	nwait++;
	while (qlen == 0 && !stopping && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&work, &mu, &dl);
	nwait--;
	if (qlen == 0)
		return NULL;
	j = queue[qhead];
	qhead = (qhead + 1) % WARDD_CONN_MAX;
	qlen--;
	return j;
}

static void *
worker(void *arg)
{
	struct phase_job *j = arg;

	while (j != NULL) {
		phase_run(j);
		pthread_mutex_lock(&mu);
		j = next_job();
		if (j == NULL) {
			nlive--;
			pthread_cond_broadcast(&gone);
		}
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

int
workers_run(struct phase_job *j)
{
	pthread_attr_t attr;
	pthread_t tid;
	int r;

	pthread_mutex_lock(&mu);
	if (nwait > qlen) {
		/* a waiting thread takes it (each queued job has one) */
		queue[(qhead + qlen) % WARDD_CONN_MAX] = j;
		qlen++;
		pthread_cond_signal(&work);
		pthread_mutex_unlock(&mu);
		return 0;
	}
	nlive++;
	pthread_mutex_unlock(&mu);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, WARDD_THREAD_STACK);
	r = pthread_create(&tid, &attr, worker, j);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		pthread_mutex_lock(&mu);
		nlive--;
		pthread_cond_broadcast(&gone);
		pthread_mutex_unlock(&mu);
		ward_log(LOG_ERR, "cannot start a thread for a phase: %s", strerror(r));
		return WARD_ERR_BUSY;
	}
	return 0;
}

void
workers_stop(void)
{
	pthread_mutex_lock(&mu);
	stopping = 1;
	pthread_cond_broadcast(&work);
	while (nlive > 0)
		pthread_cond_wait(&gone, &mu);
	pthread_mutex_unlock(&mu);
}
