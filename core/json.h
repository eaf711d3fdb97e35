/* json.h - cJSON parsing with a nesting limit. cJSON recurses once per level (up to
 * 1000); in wasm the stack is small, so every JSON sq reads from a file goes through
 * here and anything nested deeper than SQ_JSON_MAX_DEPTH is refused before parsing. */
#ifndef SQ_JSON_H
#define SQ_JSON_H

#include <stddef.h>
#include <cjson/cJSON.h>

#define SQ_JSON_MAX_DEPTH 64

/* 1 if text (len bytes) never nests objects/arrays deeper than SQ_JSON_MAX_DEPTH. */
int sq_json_depth_ok(const char *text, size_t len);
/* cJSON_ParseWithLength after the depth check; NULL if too deep or invalid. */
cJSON *sq_json_parse(const char *text, size_t len);

#endif
