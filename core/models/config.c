/* config.c - reading config.json for the models (config.h). */
#include "config.h"

#include <math.h>
#include <string.h>

int sq_cfg_int(const cJSON *cfg, const char *key, long def, long lo, long hi, int *out, sq_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v)) {
        if (def < 0) return sq_fail(e, SQ_EINPUT, "config.json: missing \"%s\"", key);
        *out = (int)def;
        return SQ_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
        return sq_fail(e, SQ_EINPUT, "config.json: \"%s\" must be an integer in %ld..%ld", key, lo, hi);
    *out = (int)v->valuedouble;
    return SQ_OK;
}

int sq_cfg_num(const cJSON *obj, const char *where, const char *key, double def, double lo, double hi, double *out,
               sq_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        if (isnan(def)) return sq_fail(e, SQ_EINPUT, "config.json: missing \"%s\"%s", key, where);
        *out = def;
        return SQ_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return sq_fail(e, SQ_EINPUT, "config.json: \"%s\"%s must be a number in [%g, %g]", key, where, lo, hi);
    *out = v->valuedouble;
    return SQ_OK;
}

int sq_cfg_bool(const cJSON *cfg, const char *key, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return def;
}

int sq_cfg_family(const cJSON *cfg, const sq_cfg_member *fam, int n, const char *types, const char *archs,
                  const char *family, sq_err *e)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    int type = -1, arch = -1;
    if (mt && cJSON_IsString(mt)) {
        for (int i = 0; i < n; i++)
            if (strcmp(mt->valuestring, fam[i].type) == 0) type = i;
        if (type < 0) {
            sq_fail(e, SQ_EINPUT, "config.json: model_type \"%.64s\" is not supported here (expected %s)", mt->valuestring, types);
            return -1;
        }
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
    if (list && cJSON_IsArray(list) && cJSON_GetArraySize(list) > 0) {
        const cJSON *a;
        cJSON_ArrayForEach(a, list) for (int i = 0; i < n && arch < 0; i++) if (cJSON_IsString(a) &&
                                                                                 strcmp(a->valuestring, fam[i].arch) == 0) arch = i;
        if (arch < 0) {
            a = cJSON_GetArrayItem(list, 0);
            sq_fail(e, SQ_EINPUT, "config.json: architecture \"%.64s\" is not supported (expected %s)",
                    cJSON_IsString(a) ? a->valuestring : "?", archs);
            return -1;
        }
        if (type >= 0 && type != arch) {
            sq_fail(e, SQ_EINPUT, "config.json: model_type \"%s\" contradicts architecture %s", fam[type].type, fam[arch].arch);
            return -1;
        }
        return arch;
    }
    if (type < 0) sq_fail(e, SQ_EINPUT, "config.json: neither \"architectures\" nor \"model_type\" says this is %s", family);
    return type;
}
