/* json-util.h - small jansson helpers every way in shares: the {"ok":...}
 * reply envelope (the control socket, drop files, MQTT commands and the
 * HTTP webhooks all answer with it) and reading a text field of a parsed
 * body. No I/O, no logging. */
#pragma once

#include <stddef.h>

#include <jansson.h>

/* {"ok":true}, with "id":REQUEST_ID when that is not NULL; add the reply's
 * fields to it and make it a line with reply_dump(). NULL: out of memory. */
json_t *reply_ok(const char *request_id);
/* The line {"ok":false,"error":MSG} (with "id" as above), malloc'd. */
char *reply_error(const char *request_id, const char *msg);
/* O as one reply line (compact, ASCII, keys in order), malloc'd; O is
 * consumed. */
char *reply_dump(json_t *o);
/* The envelope written without jansson into BUF (LEN bytes), followed by
 * EOL: {"ok":false,"error":"ERROR"} when ERROR is set, else {"ok":true} or
 * {"ok":true,EXTRA} (EXTRA: members of our own, e.g. "\"known\":true").
 * ERROR must be one of our own fixed texts, never input: it is not
 * escaped. Returns the length snprintf() gives. */
int reply_fixed(char *buf, size_t len, const char *error, const char *extra, const char *eol);

/* The string member KEY of object O, or NULL (absent, not a string, or
 * holding a NUL). With BUF (LEN bytes), an integer member counts too, as
 * its decimal text written there. */
const char *json_text(const json_t *o, const char *key, char *buf, size_t len);
