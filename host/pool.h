/* pool.h - the hosts' thread pool: one parallel-for (sq_parallel_fn) for the core, used by
 * the native CLI (cli/threads.c) and the threaded browser module (wasm/pool.c).
 *
 * It lives in host/, not core/, because it calls pthreads: the core is portable C with no
 * platform calls of its own and only receives a parallel-for through sq_exec /
 * sq_quant_hooks. Builds without threads (WASI, the single-thread Emscripten module)
 * compile it to sq_host_pool_has_threads() == 0, and the front ends pass no parallel-for.
 *
 * The front ends differ only in two settings (sq_host_pool_opts):
 * - helpers(): the most helper threads that can ever be started. Native: no limit beyond
 *   SQ_HOST_MAX_THREADS. Browser: the Web Workers Emscripten preloaded, because a
 *   pthread created while the module's thread never returns to its event loop would
 *   never start (wasm/pool.c).
 * - task0_on_caller: the calling thread runs task 0 itself, first, while the helpers take
 *   tasks 1..; then it helps with the rest. The browser needs it: only that thread may
 *   touch the page worker's JS objects, and the pipeline's I/O is always task 0
 *   (SQ_IO_TASK0).
 * One job at a time: a parallel-for called from inside a task, or while another thread's
 * job runs, runs on the calling thread. Results never depend on the thread count (the
 * core fixes its parts by the data's shape).
 */
#ifndef SQ_HOST_POOL_H
#define SQ_HOST_POOL_H

#include "kernels/linear.h" /* sq_task_fn, sq_parallel_fn, sq_exec */

#define SQ_HOST_MAX_THREADS 256

typedef struct sq_host_pool_opts {
    int (*helpers)(void); /* most helper threads that can exist (asked once; NULL: no limit) */
    int task0_on_caller;  /* task 0 runs on the calling thread, first */
} sq_host_pool_opts;

/* Settings for the process's pool; call before the first parallel-for (later calls are
 * ignored once it has run). Without a call: no helper limit, tasks in any order. */
void sq_host_pool_setup(const sq_host_pool_opts *o);

/* 1 when this build has threads (a parallel-for can use helpers). */
int sq_host_pool_has_threads(void);

/* The most threads a parallel-for can use: the calling thread + the helpers allowed
 * (1 without threads). */
int sq_host_pool_max_threads(void);

/* The parallel-for: fn(arg, i) for i in [0, n), each exactly once. pool: NULL (as many
 * threads as allowed) or an int * limiting them (values < 1: no limit). */
void sq_host_parallel_for(void *pool, size_t n, sq_task_fn fn, void *arg);

#endif
