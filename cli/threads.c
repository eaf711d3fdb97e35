/* threads.c - the CLI's parallel-for for the core (sq_parallel_fn), on pthreads.
 * A pool of threads - 1 workers, started on the first parallel-for and kept (parked on a
 * condition variable) for the process's life, so a model's thousands of short sections
 * do not each pay for thread creation. Tasks are claimed from a shared counter; the
 * calling thread works too. WASI builds have no threads: there cli_parallel is NULL
 * and everything runs on one thread. */
#include "cli.h"

#include <stdlib.h>
#include <unistd.h>

#if !defined(__wasi__) && !defined(__EMSCRIPTEN__)
#include <pthread.h>
#include <stdatomic.h>

#define MAX_THREADS 256

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    int started;          /* workers running */
    unsigned long gen;    /* bumped for every job */
    /* the current job */
    size_t n;
    atomic_size_t next;
    sq_task_fn fn;
    void *arg;
    int active;           /* a job is running */
    int want;             /* workers asked to help with it */
    int joined, finished; /* workers that took it / are through with it */
} pool;

static pool P = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, NULL,
                 NULL, 0, 0, 0, 0};
static _Thread_local int inside; /* this thread is running a task */

static void claim(void)
{
    inside = 1;
    for (;;) {
        size_t i = atomic_fetch_add(&P.next, 1);
        if (i >= P.n) break;
        P.fn(P.arg, i);
    }
    inside = 0;
}

static void *worker(void *unused)
{
    (void)unused;
    unsigned long seen = 0;
    pthread_mutex_lock(&P.mu);
    for (;;) {
        while (P.gen == seen || P.joined >= P.want) {
            if (P.gen != seen) seen = P.gen; /* a job that needs no more hands */
            pthread_cond_wait(&P.wake, &P.mu);
        }
        seen = P.gen;
        P.joined++;
        pthread_mutex_unlock(&P.mu);
        claim();
        pthread_mutex_lock(&P.mu);
        if (++P.finished == P.joined) pthread_cond_signal(&P.done);
    }
    return NULL;
}

/* One job at a time on the pool: a parallel-for called from inside a task, or while
 * another thread's is running, runs on the calling thread. */
static void parallel_for(void *pool_arg, size_t n, sq_task_fn fn, void *arg)
{
    int threads = *(int *)pool_arg;
    if (n == 0) return;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    int helpers = threads - 1;
    if ((size_t)helpers > n - 1) helpers = (int)(n - 1);
    pthread_mutex_lock(&P.mu);
    if (inside || P.active || helpers < 1) {
        pthread_mutex_unlock(&P.mu);
        for (size_t i = 0; i < n; i++) fn(arg, i);
        return;
    }
    P.active = 1;
    while (P.started < helpers) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, NULL) != 0) break;
        pthread_detach(t);
        P.started++;
    }
    if (helpers > P.started) helpers = P.started;
    P.n = n;
    atomic_store(&P.next, 0);
    P.fn = fn;
    P.arg = arg;
    P.want = helpers;
    P.joined = P.finished = 0;
    P.gen++;
    if (helpers > 0) pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.mu);
    claim();
    /* every worker that joined must be through before the job's memory goes away */
    pthread_mutex_lock(&P.mu);
    P.want = 0; /* late wakers leave it alone */
    while (P.finished < P.joined) pthread_cond_wait(&P.done, &P.mu);
    P.active = 0;
    pthread_mutex_unlock(&P.mu);
}

sq_parallel_fn cli_parallel(int threads) { return threads > 1 ? parallel_for : NULL; }
int cli_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}
#else
sq_parallel_fn cli_parallel(int threads) { (void)threads; return NULL; }
int cli_default_threads(void) { return 1; }
#endif
