/* config.h - internal to core/models: reading a Hugging Face config.json (parsed by
 * cJSON) the same way for every model, with one-line "config.json: ..." errors. A
 * missing or null field takes its default (or is an error when there is none).
 */
#ifndef SQ_MODELS_CONFIG_H
#define SQ_MODELS_CONFIG_H

#include <cjson/cJSON.h>

#include "../sq.h"

/* An integer field in [lo, hi]; missing -> def when def >= 0, else an error. */
int sq_cfg_int(const cJSON *cfg, const char *key, long def, long lo, long hi, int *out, sq_err *e);

/* A number field of obj in [lo, hi]; missing -> def unless def is NaN (then an error).
 * where: text after the key in messages (e.g. " in rope_scaling"), "" for none. */
int sq_cfg_num(const cJSON *obj, const char *where, const char *key, double def, double lo, double hi, double *out,
               sq_err *e);

/* A boolean field; anything else -> def. */
int sq_cfg_bool(const cJSON *cfg, const char *key, int def);

/* One member of a model family: its config.json "model_type" and architecture class. */
typedef struct sq_cfg_member {
    const char *type, *arch;
} sq_cfg_member;

/* Which member of the family fam[0..n) the config describes: by "model_type" (when a
 * string) and "architectures" (when a non-empty array; the first known class counts),
 * which must agree; at least one of them must be there. Returns the index, or -1 with e
 * set. types / archs: how messages list the accepted values; family: the family's name. */
int sq_cfg_family(const cJSON *cfg, const sq_cfg_member *fam, int n, const char *types, const char *archs,
                  const char *family, sq_err *e);

#endif
