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
 * - The pool itself is the hosts' one (host/pool.c, shared with the CLI): threads are
 *   started on the first parallel-for and then parked for the module's life; this file
 *   gives it the browser's two settings (the Workers preloaded as the helper limit, task
 *   0 on the calling thread).
 * - The calling thread is the only one that may touch JS objects of the page's worker
 *   (the File being read, the output chunks). The pipeline's I/O is always task 0 of a
 *   parallel section, so the calling thread runs task 0 itself, first, while the others
 *   take tasks 1.. (then it helps with what is left): bindings.c asks the pipeline for
 *   exactly that (SQ_IO_TASK0), and the reads and writes still overlap the arithmetic.
 *   Results never depend on the thread count (the core fixes its parts by the data's
 *   shape).
 */
#include "bindings.h"

#include "../host/pool.h"

#ifdef __EMSCRIPTEN_PTHREADS__
/* How many pthread Workers Emscripten preloaded (PThread.unusedWorkers, before we take
 * any); PThread is the runtime's pthread library object, in scope for EM_JS code. */
EM_JS(int, sqw_host_pool_size, (void), {
    return (typeof PThread == "object" && PThread.unusedWorkers) ? PThread.unusedWorkers.length : 0;
});
#endif

/* The browser's settings, given to the pool before its first use (every entry point
 * below comes through here first). */
static void setup(void)
{
#ifdef __EMSCRIPTEN_PTHREADS__
    static int done;
    if (!done) {
        const sq_host_pool_opts o = {.helpers = sqw_host_pool_size, .task0_on_caller = 1};
        sq_host_pool_setup(&o);
        done = 1;
    }
#endif
}

/* The most threads a parallel-for can use: the calling thread + the preloaded Workers. */
SQW_EXPORT int sqw_threads(void)
{
    setup();
    return sq_host_pool_max_threads();
}

sq_parallel_fn sqw_parallel(void) { return sqw_threads() > 1 ? sq_host_parallel_for : NULL; }

/* how quantized layers meet their inputs (kernels/linear.h): int8 by default, as in the
 * CLI; models opened after a change use the new choice */
static int g_act = SQ_ACT_INT8;

SQW_EXPORT int sqw_set_activations(int int8)
{
    g_act = int8 ? SQ_ACT_INT8 : SQ_ACT_F32;
    return g_act;
}

const sq_exec *sqw_exec(void)
{
    static sq_exec ex;
    ex.parallel = sqw_parallel();
    ex.pool = NULL;
    ex.threads = ex.parallel ? sqw_threads() : 1;
    ex.act = g_act;
    return &ex;
}
