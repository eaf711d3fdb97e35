/* threads.c - the CLI's parallel-for for the core (sq_parallel_fn), on pthreads.
 * Tasks are claimed from a shared counter; the calling thread works too. WASI builds
 * have no threads: there cli_parallel is NULL and everything runs on one thread. */
#include "cli.h"

#include <stdlib.h>
#include <unistd.h>

#if !defined(__wasi__) && !defined(__EMSCRIPTEN__)
#include <pthread.h>
#include <stdatomic.h>

typedef struct job {
    size_t n;
    atomic_size_t next;
    sq_task_fn fn;
    void *arg;
} job;

static void *worker(void *p)
{
    job *j = p;
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n) break;
        j->fn(j->arg, i);
    }
    return NULL;
}

static void parallel_for(void *pool, size_t n, sq_task_fn fn, void *arg)
{
    int threads = *(int *)pool;
    job j;
    j.n = n;
    atomic_init(&j.next, 0);
    j.fn = fn;
    j.arg = arg;
    pthread_t tid[256];
    int started = 0;
    for (int t = 1; t < threads && t < 256 && (size_t)t < n; t++)
        if (pthread_create(&tid[started], NULL, worker, &j) == 0) started++;
    worker(&j);
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
}

sq_parallel_fn cli_parallel(int threads) { return threads > 1 ? parallel_for : NULL; }
int cli_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}
#else
sq_parallel_fn cli_parallel(int threads) { (void)threads; return NULL; }
int cli_default_threads(void) { return 1; }
#endif
