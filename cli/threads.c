/* threads.c - the CLI's parallel-for for the core: the hosts' pool (host/pool.h) with its
 * defaults (no helper limit but SQ_HOST_MAX_THREADS, tasks in any order). WASI builds have
 * no threads: there cli_parallel is NULL and everything runs on one thread. */
#include "cli.h"

#include <unistd.h>

#include "../host/pool.h"

sq_parallel_fn cli_parallel(int threads)
{
    return threads > 1 && sq_host_pool_has_threads() ? sq_host_parallel_for : NULL;
}

int cli_default_threads(void)
{
#if !defined(__wasi__) && !defined(__EMSCRIPTEN__)
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > SQ_HOST_MAX_THREADS ? SQ_HOST_MAX_THREADS : (int)n;
#else
    return 1;
#endif
}
