/* files.c - the CLI's file system side: FILE*-backed readers, atomic outputs, model paths. */
#include "cli.h"

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

/* The single weights file of a model directory: model.safetensors, else the only
 * *.safetensors in it. */
static char *find_weights(const char *dir, sq_err *e)
{
    char *p = join(dir, "model.safetensors");
    if (p && cli_exists(p)) return p;
    free(p);
    DIR *d = opendir(dir);
    if (!d) { sq_fail(e, SQ_EINPUT, "%s: cannot open directory: %s", dir, strerror(errno)); return NULL; }
    char *found = NULL;
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!ends_with(de->d_name, ".safetensors")) continue;
        if (++count == 1) found = join(dir, de->d_name);
    }
    closedir(d);
    if (count == 0) { sq_fail(e, SQ_EINPUT, "%s: no .safetensors file in this directory", dir); return NULL; }
    if (count > 1) {
        free(found);
        sq_fail(e, SQ_EINPUT, "%s: %d .safetensors files here; name the one to use (sharded models are not supported yet)", dir, count);
        return NULL;
    }
    return found;
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
    char *dir;
    if (cli_is_dir(path)) {
        m->weights_path = find_weights(path, e);
        if (!m->weights_path) return e->code;
        dir = strdup(path);
    } else {
        if (!cli_exists(path)) return sq_fail(e, SQ_EINPUT, "%s: no such file or directory", path);
        m->weights_path = strdup(path);
        const char *slash = strrchr(path, '/');
        dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    }
    if (!dir || !m->weights_path) { cli_model_close(m); free(dir); return sq_fail(e, SQ_EINTERNAL, "out of memory"); }
    int rc = cli_file_open(&m->file, m->weights_path, e);
    if (!rc && (rc = sq_st_open(&m->st, &m->file.reader, e))) {
        char pre[300];
        snprintf(pre, sizeof pre, "%.280s: ", m->weights_path);
        sq_err_prefix(e, pre);
        cli_file_close(&m->file);
        free(dir);
        free(m->weights_path);
        m->weights_path = NULL;
        return rc;
    }
    if (rc) { free(dir); free(m->weights_path); m->weights_path = NULL; return rc; }
    if (!rc) rc = side_text(m, dir, "config.json", "sq.config", &m->config, &m->config_len, e);
    if (!rc) rc = side_text(m, dir, "tokenizer.json", "sq.tokenizer.json", &m->tokenizer_json, &m->tokenizer_json_len, e);
    if (!rc) rc = side_text(m, dir, "vocab.txt", "sq.vocab.txt", &m->vocab_txt, &m->vocab_txt_len, e);
    if (!rc) rc = side_text(m, dir, "tokenizer_config.json", "sq.tokenizer_config.json", &m->tokenizer_config, &m->tokenizer_config_len, e);
    free(dir);
    if (rc) cli_model_close(m);
    return rc;
}

void cli_model_close(cli_model *m)
{
    if (m->file.fp) { sq_st_close(&m->st); cli_file_close(&m->file); }
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
