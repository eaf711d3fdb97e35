/* test_pool.c - the hosts' thread pool (host/pool.h) that the CLI and the browser module
 * share: every task runs exactly once for any thread count, the limits hold (the asked
 * thread count and the helper limit), a nested parallel-for runs on its caller, and with
 * task0_on_caller task 0 is the first task the calling thread runs. The settings are the
 * browser's (a helper limit, task 0 on the caller), tested natively; the CLI's defaults
 * run in every multi-threaded CLI test. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "test.h"
#include "../../host/pool.h"

#define N 1000

typedef struct job {
    atomic_int count[N];
    pthread_t who[N];
    pthread_t caller;
    atomic_int caller_first; /* first task the caller ran (-1: none yet) */
} job;

static void task(void *arg, size_t i)
{
    job *j = arg;
    atomic_fetch_add(&j->count[i], 1);
    j->who[i] = pthread_self();
    int none = -1;
    if (pthread_equal(j->caller, pthread_self())) atomic_compare_exchange_strong(&j->caller_first, &none, (int)i);
}

static int three_helpers(void) { return 3; }

static void test_every_task_once(void)
{
    CHECK(sq_host_pool_has_threads());
    CHECK_MSG(sq_host_pool_max_threads() == 4, "max threads %d, want 3 helpers + the caller", sq_host_pool_max_threads());
    static job j;
    for (int threads = 1; threads <= 8; threads *= 2) {
        memset(&j, 0, sizeof j);
        j.caller = pthread_self();
        atomic_init(&j.caller_first, -1);
        sq_host_parallel_for(&threads, N, task, &j);
        int ok = 1;
        for (int i = 0; i < N; i++) ok &= atomic_load(&j.count[i]) == 1;
        CHECK_MSG(ok, "threads=%d: a task ran other than once", threads);
        pthread_t seen[16];
        int ns = 0;
        for (int i = 0; i < N; i++) {
            int k = 0;
            while (k < ns && !pthread_equal(seen[k], j.who[i])) k++;
            if (k == ns && ns < 16) seen[ns++] = j.who[i];
        }
        int want = threads < 4 ? threads : 4;
        CHECK_MSG(ns <= want, "threads=%d: %d threads ran tasks (at most %d)", threads, ns, want);
        CHECK_MSG(pthread_equal(j.who[0], j.caller), "threads=%d: task 0 ran on a helper", threads);
        CHECK_MSG(atomic_load(&j.caller_first) == 0, "threads=%d: the caller ran task %d before task 0", threads,
                  atomic_load(&j.caller_first));
    }
    sq_host_parallel_for(NULL, 0, task, &j); /* n = 0: nothing, and no hang */
}

static void inner(void *arg, size_t i)
{
    (void)i;
    pthread_t *t = arg;
    if (!pthread_equal(*t, pthread_self())) *t = pthread_self(); /* a helper ran it */
}

static void outer(void *arg, size_t i)
{
    (void)i;
    atomic_int *bad = arg;
    pthread_t t = pthread_self(), seen = t;
    sq_host_parallel_for(NULL, 50, inner, &seen);
    if (!pthread_equal(seen, t)) atomic_fetch_add(bad, 1);
}

static void test_nested_runs_on_caller(void)
{
    atomic_int bad;
    atomic_init(&bad, 0);
    sq_host_parallel_for(NULL, 16, outer, &bad);
    CHECK_MSG(atomic_load(&bad) == 0, "%d nested parallel-fors used other threads", atomic_load(&bad));
}

int main(void)
{
    const sq_host_pool_opts o = {.helpers = three_helpers, .task0_on_caller = 1};
    sq_host_pool_setup(&o);
    RUN(test_every_task_once);
    RUN(test_nested_runs_on_caller);
    return test_summary();
}
