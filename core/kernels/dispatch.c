/* dispatch.c - which kernel implementation runs: the one list of the implementations in
 * this build (kernels_ref.h), in order of preference, and the choice among them.
 *
 * The choice is made once, on first use: the last entry that can run on this CPU (wasm
 * builds have simd128 at build time; natively the CPU is asked at run time, so one x86-64
 * binary runs everywhere). Tests and benchmarks switch with sq_kernels_use and walk the
 * list with sq_kernels_at, so an implementation added here is tested by the existing
 * tests (tests/kernels/kcases.h) without new test code.
 */
#include <stdatomic.h>
#include <string.h>

#include "kernels_ref.h"
#include "linear.h"

static const sq_kimpl *const impls[] = {
    &sq_kimpl_ref,
#if defined(__wasm_simd128__)
    &sq_kimpl_simd128,
#endif
#if defined(SQ_HAVE_AVX2)
    &sq_kimpl_avx2,
    &sq_kimpl_avx512,
    &sq_kimpl_avx512vnni,
#endif
};
#define NIMPLS (sizeof impls / sizeof impls[0])

size_t sq_kernels_count(void) { return NIMPLS; }

const sq_kimpl *sq_kernels_at(size_t i) { return i < NIMPLS ? impls[i] : NULL; }

int sq_kernels_available(const sq_kimpl *K) { return K && (!K->available || K->available()); }

static const sq_kimpl *best_impl(void)
{
    for (size_t i = NIMPLS; i-- > 1;)
        if (sq_kernels_available(impls[i])) return impls[i];
    return &sq_kimpl_ref;
}

/* Chosen on first use; atomic because hosts may call kernels from several threads. */
static _Atomic(const sq_kimpl *) g_impl;

const sq_kimpl *sq_kernels_get(void)
{
    const sq_kimpl *k = atomic_load_explicit(&g_impl, memory_order_relaxed);
    if (!k) {
        k = best_impl();
        atomic_store_explicit(&g_impl, k, memory_order_relaxed);
    }
    return k;
}

const char *sq_kernels_name(void) { return sq_kernels_get()->name; }
const char *sq_linear_kernels(void) { return sq_kernels_get()->name; }

int sq_kernels_use(const char *name)
{
    const sq_kimpl *k = NULL;
    if (!name || strcmp(name, "best") == 0) k = best_impl();
    else
        for (size_t i = 0; i < NIMPLS && !k; i++)
            if (strcmp(name, impls[i]->name) == 0 && sq_kernels_available(impls[i])) k = impls[i];
    if (!k) return -1;
    atomic_store_explicit(&g_impl, k, memory_order_relaxed);
    return 0;
}
