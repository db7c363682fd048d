/* json-util.c - the {"ok":...} reply envelope and a text getter (see
 * json-util.h). */
#include <stdio.h>
#include <string.h>

#include "json-util.h"

json_t *reply_ok(const char *request_id) {
        json_t *o = json_pack("{s:b}", "ok", 1);
        if (o && request_id)
                json_object_set_new(o, "id", json_string(request_id));
        return o;
}

char *reply_dump(json_t *o) {
        char *r = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        return r;
}

char *reply_error(const char *request_id, const char *msg) {
        json_t *o = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
        if (o && request_id)
                json_object_set_new(o, "id", json_string(request_id));
        return reply_dump(o);
}

int reply_fixed(char *buf, size_t len, const char *error, const char *extra, const char *eol) {
        if (error)
                return snprintf(buf, len, "{\"ok\":false,\"error\":\"%s\"}%s", error, eol ? eol : "");
        return snprintf(buf, len, "{\"ok\":true%s%s}%s", extra ? "," : "", extra ? extra : "", eol ? eol : "");
}

const char *json_text(const json_t *o, const char *key, char *buf, size_t len) {
        json_t *v = json_object_get(o, key);

        if (json_is_string(v))
                return strlen(json_string_value(v)) == json_string_length(v) ? json_string_value(v) : NULL;
        if (buf && json_is_integer(v)) {
                snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return buf;
        }
        return NULL;
}
