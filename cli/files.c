/* files.c - the CLI's file system side: FILE*-backed readers, atomic outputs, model paths. */
#include "cli.h"

#include "shards.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int file_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    FILE *fp = ctx;
    if (offset > (uint64_t)INT64_MAX) return -1;
    if (fseeko(fp, (off_t)offset, SEEK_SET) != 0) return -1;
    return fread(buf, 1, len, fp) == len ? 0 : -1;
}

int cli_file_open(cli_file *f, const char *path, sq_err *e)
{
    memset(f, 0, sizeof *f);
    f->fp = fopen(path, "rb");
    if (!f->fp) return sq_fail(e, SQ_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f->fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f->fp);
        f->fp = NULL;
        return sq_fail(e, SQ_EINPUT, "%s: not a regular file", path);
    }
    f->reader.ctx = f->fp;
    f->reader.size = (uint64_t)st.st_size;
    f->reader.read = file_read;
    return SQ_OK;
}

void cli_file_close(cli_file *f)
{
    if (f->fp) fclose(f->fp);
    f->fp = NULL;
}

int cli_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int cli_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *cli_read_text(const char *path, size_t limit, size_t *len, sq_err *e)
{
    cli_file f;
    if (cli_file_open(&f, path, e)) return NULL;
    if (f.reader.size > limit) {
        cli_file_close(&f);
        sq_fail(e, SQ_EINPUT, "%s: %llu bytes, more than the %zu allowed", path, (unsigned long long)f.reader.size, limit);
        return NULL;
    }
    size_t n = (size_t)f.reader.size;
    char *buf = sq_malloc(n + 1, e);
    if (buf && sq_read_at(&f.reader, 0, buf, n, e)) { free(buf); buf = NULL; }
    cli_file_close(&f);
    if (!buf) return NULL;
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

static int out_write(void *ctx, const void *buf, size_t len)
{
    return fwrite(buf, 1, len, (FILE *)ctx) == len ? 0 : -1;
}

int cli_out_open(cli_out *o, const char *path, sq_err *e)
{
    memset(o, 0, sizeof *o);
    size_t n = strlen(path) + 32;
    o->path = strdup(path);
    o->tmp = malloc(n);
    if (!o->path || !o->tmp) { cli_out_abort(o); return sq_fail(e, SQ_EINTERNAL, "out of memory"); }
    snprintf(o->tmp, n, "%s.tmp-%ld", path, (long)getpid());
    o->fp = fopen(o->tmp, "wb");
    if (!o->fp) {
        int rc = sq_fail(e, SQ_EINPUT, "%s: cannot create: %s", path, strerror(errno));
        free(o->tmp); o->tmp = NULL;
        cli_out_abort(o);
        return rc;
    }
    o->writer.ctx = o->fp;
    o->writer.write = out_write;
    return SQ_OK;
}

int cli_out_commit(cli_out *o, sq_err *e)
{
    int bad = fflush(o->fp) != 0 || ferror(o->fp);
    bad |= fclose(o->fp) != 0;
    o->fp = NULL;
    if (bad) {
        int rc = sq_fail(e, SQ_EINTERNAL, "%s: write failed (disk full?)", o->path);
        cli_out_abort(o);
        return rc;
    }
    if (rename(o->tmp, o->path) != 0) {
        int rc = sq_fail(e, SQ_EINTERNAL, "%s: cannot rename the finished output into place: %s", o->path, strerror(errno));
        cli_out_abort(o);
        return rc;
    }
    free(o->tmp); o->tmp = NULL;
    free(o->path); o->path = NULL;
    return SQ_OK;
}

void cli_out_abort(cli_out *o)
{
    if (o->fp) fclose(o->fp);
    o->fp = NULL;
    if (o->tmp) remove(o->tmp);
    free(o->tmp);
    free(o->path);
    o->tmp = o->path = NULL;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What a model path names: one weights file, or shards (with or without an index). */
typedef struct weights_spec {
    char *single;        /* one .safetensors file */
    char *index;         /* or the index file of a sharded model (may be NULL) */
    char **shards;       /* and the shard file names (inside dir), sorted */
    size_t n_shards;
} weights_spec;

static void spec_free(weights_spec *w)
{
    free(w->single);
    free(w->index);
    sq_shard_names_free(w->shards, w->n_shards);
    memset(w, 0, sizeof *w);
}

/* A directory's weights: model.safetensors; else its one *.safetensors.index.json;
 * else its one *.safetensors; else all its *.safetensors as shards of one model. */
static int find_weights(const char *dir, weights_spec *w, sq_err *e)
{
    memset(w, 0, sizeof *w);
    char *p = join(dir, "model.safetensors");
    if (p && cli_exists(p)) { w->single = p; return SQ_OK; }
    free(p);
    DIR *d = opendir(dir);
    if (!d) return sq_fail(e, SQ_EINPUT, "%s: cannot open directory: %s", dir, strerror(errno));
    size_t cap = 0, n_index = 0;
    int rc = SQ_OK;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (ends_with(de->d_name, ".safetensors.index.json")) {
            if (++n_index == 1 && !(w->index = join(dir, de->d_name))) rc = sq_fail(e, SQ_EINTERNAL, "out of memory");
            continue;
        }
        if (!ends_with(de->d_name, ".safetensors") || !sq_shard_name_ok(de->d_name)) continue;
        if (w->n_shards == SQ_SHARDS_MAX) { rc = sq_fail(e, SQ_EINPUT, "%s: more than %d .safetensors files", dir, SQ_SHARDS_MAX); break; }
        if (w->n_shards == cap) {
            cap = cap ? 2 * cap : 8;
            char **q = realloc(w->shards, cap * sizeof *q);
            if (!q) { rc = sq_fail(e, SQ_EINTERNAL, "out of memory"); break; }
            w->shards = q;
        }
        if (!(w->shards[w->n_shards] = strdup(de->d_name))) { rc = sq_fail(e, SQ_EINTERNAL, "out of memory"); break; }
        w->n_shards++;
    }
    closedir(d);
    if (!rc && n_index > 1)
        rc = sq_fail(e, SQ_EINPUT, "%s: %zu *.safetensors.index.json files here; name the one to use", dir, n_index);
    if (!rc && n_index == 1) {
        /* the index, not the folder listing, says which files are the model */
        sq_shard_names_free(w->shards, w->n_shards);
        w->shards = NULL;
        w->n_shards = 0;
        return SQ_OK;
    }
    if (!rc && w->n_shards == 0) rc = sq_fail(e, SQ_EINPUT, "%s: no .safetensors file in this directory", dir);
    if (!rc && w->n_shards == 1) {
        w->single = join(dir, w->shards[0]);
        sq_shard_names_free(w->shards, w->n_shards);
        w->shards = NULL;
        w->n_shards = 0;
        if (!w->single) rc = sq_fail(e, SQ_EINTERNAL, "out of memory");
    }
    if (!rc && w->shards) qsort(w->shards, w->n_shards, sizeof *w->shards, cmp_name);
    if (rc) spec_free(w);
    return rc;
}

/* Open the shards of w (names inside dir) as m->st. */
static int open_shards(cli_model *m, const char *dir, weights_spec *w, sq_err *e)
{
    char *index = NULL;
    size_t index_len = 0;
    if (w->index) {
        if (!(index = cli_read_text(w->index, SQ_SHARD_INDEX_MAX, &index_len, e))) return e->code;
        int rc = sq_shard_index_files(index, index_len, &w->shards, &w->n_shards, e);
        if (rc) {
            char pre[300];
            snprintf(pre, sizeof pre, "%.280s: ", w->index);
            sq_err_prefix(e, pre);
            free(index);
            return rc;
        }
    }
    int rc = SQ_OK;
    m->shards = calloc(w->n_shards, sizeof *m->shards);
    sq_reader *readers = calloc(w->n_shards, sizeof *readers);
    if (!m->shards || !readers) rc = sq_fail(e, SQ_EINTERNAL, "out of memory");
    for (size_t i = 0; !rc && i < w->n_shards; i++) {
        char *p = join(dir, w->shards[i]);
        if (!p) { rc = sq_fail(e, SQ_EINTERNAL, "out of memory"); break; }
        rc = cli_file_open(&m->shards[i], p, e);
        if (rc && w->index) sq_err_prefix(e, "a shard the index names: ");
        free(p);
        if (rc) break;
        m->n_shards++;
        readers[i] = m->shards[i].reader;
    }
    if (!rc) {
        /* the virtual reader keeps a pointer to readers: it lives in m->shard_readers */
        rc = sq_st_open_shards(&m->st, readers, (const char *const *)w->shards, w->n_shards, index, index_len, e);
        if (rc) {
            char pre[300];
            snprintf(pre, sizeof pre, "%.280s: ", m->weights_path);
            sq_err_prefix(e, pre);
        }
    }
    if (!rc) m->shard_readers = readers;
    else free(readers);
    free(index);
    return rc;
}

#define TEXT_LIMIT (64u << 20)

/* Read dir/name if it exists, else take metadata key from the weights, else NULL. */
static int side_text(cli_model *m, const char *dir, const char *name, const char *meta_key, char **out,
                     size_t *len, sq_err *e)
{
    char *p = join(dir, name);
    if (!p) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    if (cli_exists(p)) {
        *out = cli_read_text(p, TEXT_LIMIT, len, e);
        free(p);
        return *out ? SQ_OK : e->code;
    }
    free(p);
    const char *v = sq_st_meta(&m->st, meta_key);
    if (v) {
        *out = strdup(v);
        if (!*out) return sq_fail(e, SQ_EINTERNAL, "out of memory");
        *len = strlen(v);
    }
    return SQ_OK;
}

int cli_model_open(cli_model *m, const char *path, sq_err *e)
{
    memset(m, 0, sizeof *m);
    weights_spec w = {0};
    char *dir;
    int rc = SQ_OK;
    if (cli_is_dir(path)) {
        if ((rc = find_weights(path, &w, e))) return rc;
        dir = strdup(path);
    } else {
        if (!cli_exists(path)) return sq_fail(e, SQ_EINPUT, "%s: no such file or directory", path);
        if (ends_with(path, ".index.json")) w.index = strdup(path);
        else w.single = strdup(path);
        const char *slash = strrchr(path, '/');
        dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    }
    /* messages name the file, or the index, or (an index-less sharded model) the folder */
    m->weights_path = strdup(w.single ? w.single : w.index ? w.index : path);
    if (!dir || !m->weights_path || (!w.single && !w.index && !w.shards)) {
        spec_free(&w);
        free(dir);
        cli_model_close(m);
        return sq_fail(e, SQ_EINTERNAL, "out of memory");
    }
    if (w.single) {
        rc = cli_file_open(&m->file, m->weights_path, e);
        if (!rc && (rc = sq_st_open(&m->st, &m->file.reader, e))) {
            char pre[300];
            snprintf(pre, sizeof pre, "%.280s: ", m->weights_path);
            sq_err_prefix(e, pre);
            cli_file_close(&m->file);
        }
    } else {
        rc = open_shards(m, dir, &w, e);
    }
    spec_free(&w);
    if (rc) {
        free(dir);
        cli_model_close(m);
        return rc;
    }
    m->st_open = 1;
    rc = side_text(m, dir, "config.json", "sq.config", &m->config, &m->config_len, e);
    if (!rc) rc = side_text(m, dir, "tokenizer.json", "sq.tokenizer.json", &m->tokenizer_json, &m->tokenizer_json_len, e);
    if (!rc) rc = side_text(m, dir, "vocab.txt", "sq.vocab.txt", &m->vocab_txt, &m->vocab_txt_len, e);
    if (!rc) rc = side_text(m, dir, "tokenizer_config.json", "sq.tokenizer_config.json", &m->tokenizer_config, &m->tokenizer_config_len, e);
    free(dir);
    if (rc) cli_model_close(m);
    return rc;
}

void cli_model_close(cli_model *m)
{
    if (m->st_open) sq_st_close(&m->st);
    cli_file_close(&m->file);
    for (size_t i = 0; i < m->n_shards; i++) cli_file_close(&m->shards[i]);
    free(m->shards);
    free(m->shard_readers);
    free(m->weights_path);
    free(m->config);
    free(m->tokenizer_json);
    free(m->vocab_txt);
    free(m->tokenizer_config);
    memset(m, 0, sizeof *m);
}

int cli_report(const sq_err *e)
{
    /* One line, always: names taken from a file may hold newlines or escapes. */
    char line[sizeof e->msg];
    size_t n = 0;
    for (const char *p = e->msg; *p && n < sizeof line - 1; p++)
        line[n++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    line[n] = 0;
    fprintf(stderr, "sq: %s\n", n ? line : "error");
    return e->code ? e->code : 1;
}
