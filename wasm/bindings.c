/* bindings.c - the C side of the browser module: open a model through a JS reader,
 * inspect it, quantize it while streaming the output to a JS writer.
 *
 * Exported functions (all take/return plain numbers and pointers; strings are UTF-8,
 * NUL-terminated; returned strings are malloc'd and freed with sqw_free):
 *
 *   sqw_version()                         -> "0.1.0" (static)
 *   sqw_open(read_id, size)               -> model*, or 0 (see sqw_error_*)
 *   sqw_set_text(model, slot, bytes, len) -> status; slot: SQW_TEXT_* (bindings.h)
 *   sqw_inspect(model)                    -> JSON of `sq inspect --json`, or 0
 *   sqw_quantize(model, opts_json, cb_id) -> report JSON (sq_report_json), or 0
 *   sqw_roundtrip(w, rows, cols, opts_json, seed, deq) -> layer stats JSON, or 0
 *   sqw_threads()                         -> threads a quantization can use (pool.c)
 *   sqw_close(model), sqw_free(ptr)
 *   sqw_error_code(), sqw_error_message() -> status and message of the last call
 *
 * Host callbacks (EM_JS below) look up Module.sqCalls[id]:
 *   read(offset, len) -> Uint8Array of exactly len bytes (synchronous), or
 *   readInto(offset, view) fills view (a Uint8Array over wasm memory) completely
 *   write(view)       -> view: Uint8Array over wasm memory, valid during the call only
 *   progress(json)    -> truthy to cancel
 * An exception thrown by a callback is kept in Module.sqCalls[id].error and the C side
 * sees an I/O failure; the JS wrapper rethrows the original exception.
 *
 * The options JSON of sqw_quantize / sqw_roundtrip:
 *   {"bits": 2..8|"f32", "clusters": K, "group": "auto"|"row"|"tensor"|N,
 *    "format": "packed"|"paper"|"codebook", "embeddings": "keep"|"int8"|"int4"|"int2".."int8",
 *    "seed": S, "skip_plain": bool, "model": "display name",
 *    "threads": N (0 = all the module has; the output is the same for any N)}
 * (every key optional; defaults as the CLI's). bits, clusters, group, format, embeddings and seed go
 * through the CLI's parser (core/options.c): numbers, or strings holding whole decimal
 * integers ("4"), with its messages.
 */
#include "bindings.h"
#include "shards.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "quant/quant.h"

/* ---------------- host callbacks ---------------- */

/* The JS objects behind the callbacks exist on the module's main thread only (the page's
 * worker): in the threaded module a call from a pthread would be a bug (see pool.c), and
 * fails as an I/O error instead of reaching for a Module.sqCalls that isn't there. */
#ifdef __EMSCRIPTEN_PTHREADS__
#include <emscripten/threading.h>
#define ON_JS_THREAD() emscripten_is_main_runtime_thread()
#else
#define ON_JS_THREAD() 1
#endif

EM_JS(int, sqw_host_read, (int id, double offset, void *buf, double len), {
    var c = Module["sqCalls"][id];
    try {
        if (c.readInto) { /* fills a view of wasm memory in place: no copy */
            var p = buf >>> 0;
            c.readInto(offset, HEAPU8.subarray(p, p + len));
            return 0;
        }
        var b = c.read(offset, len);
        if (!(b instanceof Uint8Array)) b = new Uint8Array(b);
        if (b.length !== len) throw new Error("reader returned " + b.length + " bytes at offset " + offset + ", expected " + len);
        HEAPU8.set(b, buf >>> 0);
        return 0;
    } catch (err) {
        if (!c.error) c.error = err;
        return -1;
    }
});

EM_JS(int, sqw_host_write, (int id, const void *buf, double len), {
    var c = Module["sqCalls"][id];
    try {
        var p = buf >>> 0;
        c.write(HEAPU8.subarray(p, p + len));
        return 0;
    } catch (err) {
        if (!c.error) c.error = err;
        return -1;
    }
});

EM_JS(int, sqw_host_progress, (int id, const char *json), {
    var c = Module["sqCalls"][id];
    if (!c.progress) return 0;
    try {
        return c.progress(UTF8ToString(json >>> 0)) ? 1 : 0;
    } catch (err) {
        if (!c.error) c.error = err;
        return 1;
    }
});

EM_JS(double, sqw_host_now, (void), {
    return typeof performance !== "undefined" ? performance.now() : Date.now();
});

double sqw_now(void) { return sqw_host_now() / 1000.0; }

/* ---------------- errors ---------------- */

static sq_err g_err;

void sqw_set_error(const sq_err *e) { g_err = *e; }
void sqw_clear_error(void) { memset(&g_err, 0, sizeof g_err); }

SQW_EXPORT int sqw_error_code(void) { return g_err.code; }
SQW_EXPORT const char *sqw_error_message(void) { return g_err.msg; }
SQW_EXPORT const char *sqw_version(void) { return SQ_VERSION; }
SQW_EXPORT void sqw_free(void *p) { free(p); }

static void *fail_null(sq_err *e)
{
    sqw_set_error(e);
    return NULL;
}

/* ---------------- models ---------------- */

static int model_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    const sqw_model *m = ctx;
    if (len == 0) return 0;
    if (!ON_JS_THREAD()) return -1;
    return sqw_host_read(m->read_id, (double)offset, buf, (double)len);
}

SQW_EXPORT sqw_model *sqw_open(int read_id, double size)
{
    sq_err e = {0};
    sqw_clear_error();
    if (!(size >= 0 && size <= 9007199254740992.0) || size != floor(size)) {
        sq_fail(&e, SQ_EINPUT, "bad file size");
        return fail_null(&e);
    }
    sqw_model *m = sq_calloc(1, sizeof *m, &e);
    if (!m) return fail_null(&e);
    m->read_id = read_id;
    m->reader.ctx = m;
    m->reader.size = (uint64_t)size;
    m->reader.read = model_read;
    if (sq_st_open(&m->st, &m->reader, &e)) {
        free(m);
        return fail_null(&e);
    }
    return m;
}

static int shard_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    const sqw_shard *s = ctx;
    return model_read((void *)s->m, s->base + offset, buf, len);
}

/* A sharded model. JS passes one reader over the shards laid end to end (a Blob of the
 * shard Files, in the order of names) and the shards' sizes; names: the shard file
 * names, each followed by '\n'; index: model.safetensors.index.json or NULL. The core
 * (shards.h) checks the shards against the index and sees one logical file. */
SQW_EXPORT sqw_model *sqw_open_shards(int read_id, const double *sizes, int n, const char *names, const char *index,
                                      size_t index_len)
{
    sq_err e = {0};
    sqw_clear_error();
    if (n < 1 || n > SQ_SHARDS_MAX) {
        sq_fail(&e, SQ_EINPUT, "%d shards (1 to %d allowed)", n, SQ_SHARDS_MAX);
        return fail_null(&e);
    }
    sqw_model *m = sq_calloc(1, sizeof *m, &e);
    const char **nv = m ? sq_calloc((size_t)n, sizeof *nv, &e) : NULL;
    char *copy = nv ? sq_malloc(strlen(names) + 1, &e) : NULL;
    if (m && nv && copy) {
        m->shard = sq_calloc((size_t)n, sizeof *m->shard, &e);
        m->shard_readers = sq_calloc((size_t)n, sizeof *m->shard_readers, &e);
    }
    if (!copy || !m->shard || !m->shard_readers) goto fail;
    strcpy(copy, names);
    m->read_id = read_id;
    m->n_shards = (size_t)n;
    uint64_t base = 0;
    char *p = copy;
    for (int i = 0; i < n; i++) {
        char *nl = strchr(p, '\n');
        double sz = sizes[i];
        if (!nl || !(sz >= 0 && sz <= 9007199254740992.0) || sz != floor(sz)) {
            sq_fail(&e, SQ_EINPUT, "bad shard list");
            goto fail;
        }
        *nl = 0;
        nv[i] = p;
        p = nl + 1;
        m->shard[i] = (sqw_shard){m, base};
        m->shard_readers[i] = (sq_reader){&m->shard[i], (uint64_t)sz, shard_read};
        base += (uint64_t)sz;
    }
    m->reader = (sq_reader){m, base, model_read};
    if (sq_st_open_shards(&m->st, m->shard_readers, nv, (size_t)n, index, index ? index_len : 0, &e)) goto fail;
    free(copy);
    free(nv);
    return m;
fail:
    if (m) { free(m->shard); free(m->shard_readers); }
    free(m);
    free(copy);
    free(nv);
    return fail_null(&e);
}

SQW_EXPORT void sqw_close(sqw_model *m)
{
    if (!m) return;
    sq_st_close(&m->st);
    free(m->shard);
    free(m->shard_readers);
    for (int i = 0; i < SQW_TEXT_COUNT; i++) free(m->text[i]);
    free(m);
}

SQW_EXPORT int sqw_set_text(sqw_model *m, int slot, const char *bytes, size_t len)
{
    sq_err e = {0};
    sqw_clear_error();
    if (!m || slot < 0 || slot >= SQW_TEXT_COUNT) {
        sq_fail(&e, SQ_EINPUT, "bad text slot %d", slot);
        sqw_set_error(&e);
        return e.code;
    }
    char *copy = NULL;
    if (bytes) {
        copy = sq_malloc(len + 1, &e);
        if (!copy) { sqw_set_error(&e); return e.code; }
        memcpy(copy, bytes, len);
        copy[len] = 0;
    }
    free(m->text[slot]);
    m->text[slot] = copy;
    m->text_len[slot] = copy ? len : 0;
    return SQ_OK;
}

const char *sqw_model_text(const sqw_model *m, int i)
{
    static const char *const meta_keys[SQW_TEXT_COUNT] = {"sq.config", "sq.tokenizer.json", "sq.vocab.txt",
                                                         "sq.tokenizer_config.json", NULL};
    if (m->text[i]) return m->text[i];
    return meta_keys[i] ? sq_st_meta(&m->st, meta_keys[i]) : NULL;
}

/* ---------------- inspect ---------------- */

/* The JSON of `sq inspect --json` (cli/cmd_quant.c), "file" being the source name. */
SQW_EXPORT char *sqw_inspect(sqw_model *m)
{
    sq_err e = {0};
    sqw_clear_error();
    const char *src = sqw_model_text(m, SQW_TEXT_SOURCE_NAME);
    char *txt = sq_inspect_json(&m->st, src ? src : "", sqw_model_text(m, SQW_TEXT_CONFIG), &e);
    return txt ? txt : fail_null(&e);
}

/* ---------------- options ---------------- */

/* A number, or a string holding one ("4" as well as 4); NAN otherwise. */
static double num_of(const cJSON *it)
{
    if (cJSON_IsNumber(it)) return it->valuedouble;
    if (cJSON_IsString(it) && it->valuestring[0]) {
        char *end;
        double v = strtod(it->valuestring, &end);
        if (!*end) return v;
    }
    return NAN;
}

static int is_int(double n, double lo, double hi) { return isfinite(n) && n == floor(n) && n >= lo && n <= hi; }

static int parse_opts(const char *json, sq_quant_opts *o, const char **model, cJSON **keep, sq_err *e)
{
    sq_quant_opts_default(o);
    o->threads = 0; /* all, unless the options say otherwise (see sqw_quantize) */
    *model = NULL;
    *keep = NULL;
    if (!json || !*json) return SQ_OK;
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sq_fail(e, SQ_EINPUT, "options must be a JSON object");
    }
    *keep = root;
    cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        const char *k = it->string;
        const char *s = cJSON_IsString(it) ? it->valuestring : "";
        double n = num_of(it);
        /* the options every front end shares (core/options.c), from their text: a JSON
           number as its decimal integer (a fraction stays one, and is refused) */
        char num[40];
        const char *text = s;
        if (cJSON_IsNumber(it)) {
            if (isfinite(n) && n == floor(n) && fabs(n) < 1e15) snprintf(num, sizeof num, "%.0f", n);
            else snprintf(num, sizeof num, "%.17g", n);
            text = num;
        }
        int rc = sq_quant_opt_set(o, k, text, e);
        if (rc == SQ_OK) continue;
        if (rc != SQ_OPT_UNKNOWN) return rc;
        if (strcmp(k, "skip_plain") == 0) {
            if (!cJSON_IsBool(it)) return sq_fail(e, SQ_EINPUT, "skip_plain must be true or false");
            o->skip_plain = cJSON_IsTrue(it);
        } else if (strcmp(k, "model") == 0) {
            if (!cJSON_IsString(it)) return sq_fail(e, SQ_EINPUT, "model must be a string");
            *model = s;
        } else if (strcmp(k, "threads") == 0) {
            /* 0 = all the module has (1 in the single-thread module, see pool.c) */
            if (!is_int(n, 0, 1024)) return sq_fail(e, SQ_EINPUT, "--threads must be a non-negative integer");
            o->threads = (int)n;
        } else {
            return sq_fail(e, SQ_EINPUT, "unknown option '%s'", k);
        }
    }
    /* codebook: its 2^bits table levels are the clusters (a page's cluster setting does
       not apply to it) */
    sq_quant_opts_finish(o, 0);
    return sq_quant_opts_check(o, e);
}

/* ---------------- quantize ---------------- */

/* The output goes to JS in chunks of up to OUT_CHUNK bytes (bigger writes of the core
 * pass straight through): few JS calls, and never the whole output in memory. */
#define OUT_CHUNK (1u << 20)

typedef struct sqw_out {
    int id;
    uint8_t *buf;
    size_t len;
} sqw_out;

static int out_flush(sqw_out *o)
{
    if (o->len == 0) return 0;
    if (!ON_JS_THREAD()) return -1;
    int rc = sqw_host_write(o->id, o->buf, (double)o->len);
    o->len = 0;
    return rc;
}

static int out_write(void *ctx, const void *p, size_t n)
{
    sqw_out *o = ctx;
    if (o->len + n > OUT_CHUNK && out_flush(o)) return -1;
    if (n >= OUT_CHUNK) return ON_JS_THREAD() ? sqw_host_write(o->id, p, (double)n) : -1;
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    return 0;
}

/* One layer as in the report: run sq_report_json over a one-layer report and take the
 * layer back out, so the fields are exactly the report contract's. */
static cJSON *layer_json(const sq_layer_stats *s, const sq_quant_opts *o)
{
    sq_report r;
    memset(&r, 0, sizeof r);
    r.layers = (sq_layer_stats *)s;
    r.n_layers = 1;
    char *txt = sq_report_json(&r, o, "", 0);
    cJSON *root = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    cJSON *l = root ? cJSON_DetachItemFromArray(cJSON_GetObjectItemCaseSensitive(root, "layers"), 0) : NULL;
    cJSON_Delete(root);
    return l;
}

typedef struct progress_ctx {
    int id;
    const sq_quant_opts *o;
} progress_ctx;

static int on_progress(void *ctx, const sq_progress *p)
{
    progress_ctx *pc = ctx;
    cJSON *root = cJSON_CreateObject();
    if (!root) return 1;
    cJSON_AddNumberToObject(root, "index", (double)p->index);
    cJSON_AddNumberToObject(root, "total", (double)p->total);
    cJSON_AddNumberToObject(root, "bytes_done", (double)p->bytes_done);
    cJSON_AddNumberToObject(root, "bytes_total", (double)p->bytes_total);
    cJSON_AddStringToObject(root, "name", p->name ? p->name : "");
    cJSON *l = p->layer ? layer_json(p->layer, pc->o) : NULL;
    if (l) cJSON_AddItemToObject(root, "layer", l);
    else cJSON_AddNullToObject(root, "layer");
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!txt) return 1;
    int stop = sqw_host_progress(pc->id, txt);
    free(txt);
    return stop;
}

SQW_EXPORT char *sqw_quantize(sqw_model *m, const char *opts_json, int cb_id)
{
    sq_err e = {0};
    sqw_clear_error();
    sq_quant_opts o;
    const char *model = NULL;
    cJSON *keep = NULL;
    if (parse_opts(opts_json, &o, &model, &keep, &e)) {
        cJSON_Delete(keep);
        return fail_null(&e);
    }
    sqw_out out = {cb_id, NULL, 0};
    out.buf = sq_malloc(OUT_CHUNK, &e);
    if (!out.buf) {
        cJSON_Delete(keep);
        return fail_null(&e);
    }
    const char *src = sqw_model_text(m, SQW_TEXT_SOURCE_NAME);
    sq_model_texts texts = {.config_json = sqw_model_text(m, SQW_TEXT_CONFIG),
                            .tokenizer_json = sqw_model_text(m, SQW_TEXT_TOKENIZER_JSON),
                            .vocab_txt = sqw_model_text(m, SQW_TEXT_VOCAB_TXT),
                            .tokenizer_config_json = sqw_model_text(m, SQW_TEXT_TOKENIZER_CONFIG),
                            .source_name = src};
    progress_ctx pc = {cb_id, &o};
    /* threads (threaded module only): every call of the reader and the writer (JS
       objects of this Web Worker, which pthreads cannot reach) stays on this thread; the
       pool runs task 0, the pipeline's I/O task, here (pool.c): SQ_IO_TASK0 */
    if (o.threads < 1 || o.threads > sqw_threads()) o.threads = sqw_threads();
    o.io_on_caller = SQ_IO_TASK0;
    int threads = o.threads;
    sq_quant_hooks hooks = {.progress = on_progress, .ctx = &pc, .now = sqw_now,
                            .parallel = threads > 1 ? sqw_parallel() : NULL, .pool = &threads};
    sq_writer w = {.ctx = &out, .write = out_write};
    sq_report rep;
    double t0 = sqw_now();
    int rc = sq_quantize_model(&m->st, &o, &texts, w, &hooks, &rep, &e);
    if (!rc && out_flush(&out)) rc = sq_fail(&e, SQ_EINTERNAL, "write failed");
    double secs = sqw_now() - t0;
    char *txt = NULL;
    if (!rc) {
        txt = sq_report_json(&rep, &o, model ? model : src ? src : "model", secs);
        if (!txt) sq_fail(&e, SQ_EINTERNAL, "out of memory");
    }
    sq_report_free(&rep);
    free(out.buf);
    cJSON_Delete(keep);
    if (!txt) return fail_null(&e);
    return txt;
}

/* ---------------- one tensor (the "outlier lab") ---------------- */

/* Quantize w (rows x cols float32) with the options and write the dequantized values
 * to deq (rows*cols floats). Returns the layer's statistics as JSON. */
SQW_EXPORT char *sqw_roundtrip(const float *w, size_t rows, size_t cols, const char *opts_json, double seed, float *deq)
{
    sq_err e = {0};
    sqw_clear_error();
    sq_quant_opts o;
    const char *model = NULL;
    cJSON *keep = NULL;
    if (parse_opts(opts_json, &o, &model, &keep, &e)) {
        cJSON_Delete(keep);
        return fail_null(&e);
    }
    cJSON_Delete(keep);
    sq_layer_stats st;
    if (sq_split_roundtrip(w, rows, cols, &o, (uint64_t)seed, &st, deq, &e)) return fail_null(&e);
    cJSON *l = layer_json(&st, &o);
    char *txt = l ? cJSON_PrintUnformatted(l) : NULL;
    cJSON_Delete(l);
    if (!txt) {
        sq_fail(&e, SQ_EINTERNAL, "out of memory");
        return fail_null(&e);
    }
    return txt;
}

/* ---------------- inference ----------------
 * classify / generate bindings go in their own file (e.g. wasm/bindings_infer.c):
 * every C file of wasm/ is compiled into the module, and SQW_EXPORT functions are exported
 * without touching the build. Reuse sqw_model (bindings.h): m->st is the open
 * safetensors file (tensors are read through the JS reader on demand) and
 * sqw_model_text(m, SQW_TEXT_CONFIG / _TOKENIZER_JSON / _VOCAB_TXT / _TOKENIZER_CONFIG)
 * gives the config and tokenizer texts (falling back to a quantized file's metadata).
 * Add the JS side to wasm/sq-core-api.js (SqModel methods). */
