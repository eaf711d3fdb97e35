/* pool.c - the browser module's parallel-for for the core (sq_parallel_fn, sq_exec).
 *
 * The threaded module (build/web/sq-core-mt.js, built with -pthread, see mk/web-threads.mk)
 * runs the core's parallel sections on a pool of pthreads, which Emscripten backs with
 * Web Workers. The single-thread module (sq-core.js) compiles this file too: there
 * sqw_parallel() is NULL and everything runs on the calling thread.
 *
 * Why it looks like this:
 * - The workers must exist before the first parallel-for. Emscripten starts a pthread's
 *   Web Worker asynchronously, from the event loop of the thread that created it, and
 *   the module's main thread (our Web Worker) never returns to its event loop while it
 *   quantizes: a thread created then would never start, and the caller would wait for
 *   it forever. So the module is built with -sPTHREAD_POOL_SIZE=Module.sqPoolSize: that
 *   many Workers are loaded while the module starts, pthread_create just hands one out,
 *   and we never ask for more than were loaded (pool_size()).
 * - Threads are started on the first parallel-for and then parked on a condition
 *   variable for the module's life (a model has thousands of short sections); tasks are
 *   claimed from a shared counter and the calling thread works too (as cli/threads.c).
 * - The calling thread is the only one that may touch JS objects of the page's worker
 *   (the File being read, the output chunks). The pipeline's I/O is always task 0 of a
 *   parallel section, so the calling thread runs task 0 itself, first, while the others
 *   take tasks 1.. (then it helps with what is left): bindings.c asks the pipeline for
 *   exactly that (SQ_IO_TASK0), and the reads and writes still overlap the arithmetic.
 *   Results never depend on the thread count (the core fixes its parts by the data's
 *   shape).
 */
#include "bindings.h"

#include <stdlib.h>

#ifdef __EMSCRIPTEN_PTHREADS__
#include <pthread.h>
#include <stdatomic.h>

/* How many pthread Workers Emscripten preloaded (PThread.unusedWorkers, before we take
 * any); PThread is the runtime's pthread library object, in scope for EM_JS code. */
EM_JS(int, sqw_host_pool_size, (void), {
    return (typeof PThread == "object" && PThread.unusedWorkers) ? PThread.unusedWorkers.length : 0;
});

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    int started;          /* workers running */
    unsigned long gen;    /* bumped for every job */
    size_t n;             /* the current job */
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
static int helpers_max = -1;     /* preloaded Workers (-1: not asked yet) */

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

static int pool_size(void)
{
    if (helpers_max < 0) helpers_max = sqw_host_pool_size();
    return helpers_max;
}

/* The most threads a parallel-for can use: the calling thread + the preloaded Workers. */
SQW_EXPORT int sqw_threads(void) { return pool_size() + 1; }

/* One job at a time: a parallel-for from inside a task, or while another is running,
 * runs on the calling thread. Task 0 always runs on the calling thread. pool_arg: NULL
 * (all threads) or an int limiting them. */
static void parallel_for(void *pool_arg, size_t n, sq_task_fn fn, void *arg)
{
    if (n == 0) return;
    int threads = sqw_threads();
    if (pool_arg && *(const int *)pool_arg >= 1 && *(const int *)pool_arg < threads) threads = *(const int *)pool_arg;
    int helpers = threads - 1;
    if ((size_t)helpers > n - 1) helpers = (int)(n - 1);
    pthread_mutex_lock(&P.mu);
    if (inside || P.active || helpers < 1) {
        pthread_mutex_unlock(&P.mu);
        for (size_t i = 0; i < n; i++) fn(arg, i);
        return;
    }
    P.active = 1;
    while (P.started < helpers) { /* never more than the preloaded Workers (see the top) */
        pthread_t t;
        if (P.started >= pool_size() || pthread_create(&t, NULL, worker, NULL) != 0) break;
        pthread_detach(t);
        P.started++;
    }
    if (helpers > P.started) helpers = P.started;
    P.n = n;
    atomic_store(&P.next, 1); /* task 0 is the calling thread's (see the top) */
    P.fn = fn;
    P.arg = arg;
    P.want = helpers;
    P.joined = P.finished = 0;
    P.gen++;
    if (helpers > 0) pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.mu);
    inside = 1;
    fn(arg, 0);
    claim();
    /* every worker that joined must be through before the job's memory goes away */
    pthread_mutex_lock(&P.mu);
    P.want = 0; /* late wakers leave it alone */
    while (P.finished < P.joined) pthread_cond_wait(&P.done, &P.mu);
    P.active = 0;
    pthread_mutex_unlock(&P.mu);
}

sq_parallel_fn sqw_parallel(void) { return sqw_threads() > 1 ? parallel_for : NULL; }

#else /* the single-thread module */

SQW_EXPORT int sqw_threads(void) { return 1; }
sq_parallel_fn sqw_parallel(void) { return NULL; }

#endif

const sq_exec *sqw_exec(void)
{
    static sq_exec ex;
    ex.parallel = sqw_parallel();
    ex.pool = NULL;
    ex.threads = ex.parallel ? sqw_threads() : 1;
    return &ex;
}
