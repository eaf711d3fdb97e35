/* json.c - see json.h. */
#include "json.h"

int sq_json_depth_ok(const char *s, size_t n)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > SQ_JSON_MAX_DEPTH) return 0;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}

cJSON *sq_json_parse(const char *text, size_t len)
{
    if (!text || !sq_json_depth_ok(text, len)) return NULL;
    return cJSON_ParseWithLength(text, len);
}
