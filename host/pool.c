/* pool.c - the hosts' thread pool (pool.h): threads - 1 helpers, started on the first
 * parallel-for that wants them and then parked on a condition variable for the process's
 * life, so a model's thousands of short sections do not each pay for thread creation.
 * Tasks are claimed from a shared counter; the calling thread works too.
 */
#include "pool.h"

#if (!defined(__wasi__) && !defined(__EMSCRIPTEN__)) || defined(__EMSCRIPTEN_PTHREADS__)
#include <pthread.h>
#include <stdatomic.h>

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
static sq_host_pool_opts opts;
static int helpers_max = -1;     /* opts.helpers() once asked (-1: not yet) */

void sq_host_pool_setup(const sq_host_pool_opts *o)
{
    if (o && helpers_max < 0) opts = *o;
}

int sq_host_pool_has_threads(void) { return 1; }

static int helpers_allowed(void)
{
    if (helpers_max < 0) {
        int h = opts.helpers ? opts.helpers() : SQ_HOST_MAX_THREADS - 1;
        helpers_max = h < 0 ? 0 : h > SQ_HOST_MAX_THREADS - 1 ? SQ_HOST_MAX_THREADS - 1 : h;
    }
    return helpers_max;
}

int sq_host_pool_max_threads(void) { return helpers_allowed() + 1; }

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

void sq_host_parallel_for(void *pool_arg, size_t n, sq_task_fn fn, void *arg)
{
    if (n == 0) return;
    int threads = sq_host_pool_max_threads();
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
    while (P.started < helpers) { /* never more than allowed (browser: preloaded Workers) */
        pthread_t t;
        if (P.started >= helpers_allowed() || pthread_create(&t, NULL, worker, NULL) != 0) break;
        pthread_detach(t);
        P.started++;
    }
    if (helpers > P.started) helpers = P.started;
    const int task0 = opts.task0_on_caller;
    P.n = n;
    atomic_store(&P.next, task0 ? 1 : 0); /* task 0 is the calling thread's (pool.h) */
    P.fn = fn;
    P.arg = arg;
    P.want = helpers;
    P.joined = P.finished = 0;
    P.gen++;
    if (helpers > 0) pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.mu);
    if (task0) {
        inside = 1;
        fn(arg, 0);
    }
    claim();
    /* every worker that joined must be through before the job's memory goes away */
    pthread_mutex_lock(&P.mu);
    P.want = 0; /* late wakers leave it alone */
    while (P.finished < P.joined) pthread_cond_wait(&P.done, &P.mu);
    P.active = 0;
    pthread_mutex_unlock(&P.mu);
}

#else /* no threads in this build (WASI, the single-thread Emscripten module) */

void sq_host_pool_setup(const sq_host_pool_opts *o) { (void)o; }
int sq_host_pool_has_threads(void) { return 0; }
int sq_host_pool_max_threads(void) { return 1; }
void sq_host_parallel_for(void *pool, size_t n, sq_task_fn fn, void *arg)
{
    (void)pool;
    for (size_t i = 0; i < n; i++) fn(arg, i);
}

#endif
