/* read_bench.c - the floor for `sq quantize`: stream a safetensors file through the
 * core's reader and convert every float tensor to float32 (sq_st_read_f32), as the
 * quantizer must at least do, on one thread, with the same FILE*-backed reader as
 * the CLI. The buffer (the largest tensor as float32) is allocated and touched before
 * the clock starts: what is timed is the streaming and the conversion only.
 * Also times reading the raw bytes alone (no conversion). Prints one JSON object:
 * {"seconds", "min_seconds", "raw_seconds", "repeat", "bytes", "tensors", "params"}.
 *
 *   build/bench/read_bench MODEL.safetensors [--repeat N]   (medians over N runs)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "safetensors.h"
#include "sq.h"

static int file_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    FILE *fp = ctx;
    if (fseeko(fp, (off_t)offset, SEEK_SET) != 0) return -1;
    return fread(buf, 1, len, fp) == len ? 0 : -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median (sorts a) */
static double median(double *a, int n)
{
    qsort(a, (size_t)n, sizeof a[0], cmp_d);
    return n % 2 ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2]);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int repeat = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
        else path = argv[i];
    }
    if (!path || repeat < 1 || repeat > 100) {
        fprintf(stderr, "usage: read_bench MODEL.safetensors [--repeat N]\n");
        return 2;
    }
    double times[100], raw_times[100];
    uint64_t params = 0, bytes = 0;
    size_t tensors = 0;
    void *buf = NULL;
    for (int r = 0; r < repeat; r++) {
        sq_err e = {0};
        FILE *fp = fopen(path, "rb");
        struct stat st;
        if (!fp || fstat(fileno(fp), &st) != 0) {
            fprintf(stderr, "read_bench: cannot open %s\n", path);
            return 2;
        }
        sq_reader rd = {fp, (uint64_t)st.st_size, file_read};
        sq_st_file f;
        if (sq_st_open(&f, &rd, &e)) {
            fprintf(stderr, "read_bench: %s\n", e.msg);
            return 2;
        }
        if (!buf) {
            size_t cap = 1;
            for (size_t i = 0; i < f.n_tensors; i++) {
                size_t need = sq_dtype_is_float(f.tensors[i].dtype) ? (size_t)f.tensors[i].numel * 4
                                                                    : (size_t)(f.tensors[i].end - f.tensors[i].begin);
                if (need > cap) cap = need;
            }
            if (!(buf = malloc(cap))) { fprintf(stderr, "read_bench: out of memory\n"); return 1; }
            memset(buf, 1, cap); /* first-touch page faults before the clock */
        }
        for (int pass = 0; pass < 2; pass++) { /* 0: raw bytes only, 1: as float32 */
            double t0 = now_s();
            params = 0;
            for (size_t i = 0; i < f.n_tensors; i++) {
                const sq_tensor_info *t = &f.tensors[i];
                int isf = sq_dtype_is_float(t->dtype);
                int rc = pass && isf ? sq_st_read_f32(&f, t, buf, &e) : sq_st_read_raw(&f, t, buf, &e);
                if (rc) { fprintf(stderr, "read_bench: %s\n", e.msg); return 1; }
                if (isf) params += t->numel;
            }
            (pass ? times : raw_times)[r] = now_s() - t0;
        }
        tensors = f.n_tensors;
        bytes = rd.size;
        sq_st_close(&f);
        fclose(fp);
    }
    free(buf);
    double med = median(times, repeat), raw = median(raw_times, repeat);
    printf("{\"seconds\": %.4f, \"min_seconds\": %.4f, \"raw_seconds\": %.4f, \"repeat\": %d, \"bytes\": %llu, "
           "\"tensors\": %zu, \"params\": %llu}\n",
           med, times[0], raw, repeat, (unsigned long long)bytes, tensors, (unsigned long long)params);
    return 0;
}
