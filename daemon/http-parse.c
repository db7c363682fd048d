/* http-parse.c - the pure parsers of the HTTP listener: what an SMS
 * provider posts to a webhook. x-www-form-urlencoded forms, Twilio's
 * request signature, Link Mobility's MO and delivery report JSON, Twilio's
 * status callback, generic status words and the fields of a generic
 * webhook. No I/O, no logging, no state (see http.h; fuzz_webhook and
 * test_http exercise these alone). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "http.h"
#include "json-util.h"
#include "macro.h"
#include "text.h"

/* ---- forms ---- */

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decode one x-www-form-urlencoded name or value. */
static char *form_decode(const char *s, size_t len) {
        char *r = malloc(len + 1);
        size_t k = 0;

        if (!r)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] == '+')
                        r[k++] = ' ';
                else if (s[i] == '%') {
                        int a = i + 2 < len ? hexval(s[i + 1]) : -1, b = a >= 0 ? hexval(s[i + 2]) : -1;
                        if (a < 0 || b < 0 || (a == 0 && b == 0))
                                goto invalid;
                        r[k++] = (char) (a * 16 + b);
                        i += 2;
                } else if (s[i] == '\0')
                        goto invalid;
                else
                        r[k++] = s[i];
        }
        r[k] = '\0';
        if (!text_utf8_valid(r, k))
                goto invalid;
        return r;
invalid:
        free(r);
        errno = EINVAL;
        return NULL;
}

int http_form_parse(const char *s, size_t len, struct http_form *ret) {
        struct http_form f = {};
        const char *end = s + len;

        *ret = (struct http_form) {};
        while (s < end) {
                const char *amp = memchr(s, '&', (size_t) (end - s)), *eq;
                size_t n = amp ? (size_t) (amp - s) : (size_t) (end - s);
                struct http_field *v;

                if (n > 0) {
                        eq = memchr(s, '=', n);
                        v = reallocarray(f.v, f.n + 1, sizeof(*f.v));
                        if (!v) {
                                http_form_done(&f);
                                return -ENOMEM;
                        }
                        f.v = v;
                        f.v[f.n].name = form_decode(s, eq ? (size_t) (eq - s) : n);
                        f.v[f.n].value = eq ? form_decode(eq + 1, n - (size_t) (eq + 1 - s)) : strdup("");
                        if (!f.v[f.n].name || !f.v[f.n].value) {
                                int r = errno == EINVAL ? -EINVAL : -ENOMEM;
                                free(f.v[f.n].name);
                                free(f.v[f.n].value);
                                http_form_done(&f);
                                return r;
                        }
                        f.n++;
                }
                s += n + (amp ? 1 : 0);
        }
        *ret = f;
        return 0;
}

const char *http_form_get(const struct http_form *f, const char *name) {
        for (size_t i = 0; f && i < f->n; i++)
                if (streq(f->v[i].name, name))
                        return f->v[i].value;
        return NULL;
}

void http_form_done(struct http_form *f) {
        if (!f)
                return;
        for (size_t i = 0; i < f->n; i++) {
                free(f->v[i].name);
                free(f->v[i].value);
        }
        free(f->v);
        *f = (struct http_form) {};
}

/* ---- Twilio signatures ---- */

static int field_cmp(const void *a, const void *b) {
        const struct http_field *x = *(const struct http_field *const *) a, *y = *(const struct http_field *const *) b;
        int r = strcmp(x->name, y->name);
        return r != 0 ? r : strcmp(x->value, y->value);
}

int http_twilio_signature(const char *token, const char *url, const struct http_form *form, char out[static 29]) {
        _cleanup_free_ const struct http_field **sorted = NULL;
        _cleanup_free_ char *data = NULL;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        size_t n = form ? form->n : 0, len = strlen(url), k;

        if (!token || !*token)
                return -EINVAL;
        if (n > 0) {
                sorted = calloc(n, sizeof(*sorted));
                if (!sorted)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        sorted[i] = &form->v[i];
                        len += strlen(form->v[i].name) + strlen(form->v[i].value);
                }
                /* Byte order of UTF-8 is code point order, which is what
                 * Twilio sorts by. */
                qsort(sorted, n, sizeof(*sorted), field_cmp);
        }
        data = malloc(len + 1);
        if (!data)
                return -ENOMEM;
        k = strlen(url);
        memcpy(data, url, k);
        for (size_t i = 0; i < n; i++) {
                size_t a = strlen(sorted[i]->name), b = strlen(sorted[i]->value);
                memcpy(data + k, sorted[i]->name, a);
                memcpy(data + k + a, sorted[i]->value, b);
                k += a + b;
        }
        if (!HMAC(EVP_sha1(), token, (int) strlen(token), (const unsigned char *) data, k, md, &mdlen) || mdlen != 20)
                return -EIO;
        /* 20 bytes -> 28 base64 characters and a NUL. */
        if (EVP_EncodeBlock((unsigned char *) out, md, (int) mdlen) != 28)
                return -EIO;
        return 0;
}

static bool twilio_matches(const char *token, const char *url, const struct http_form *form, const char *signature) {
        char want[29];
        return http_twilio_signature(token, url, form, want) >= 0 && CRYPTO_memcmp(want, signature, 28) == 0;
}

/* URL with its scheme's default port written out when it has none
 * ("https://h/p" -> "https://h:443/p"), or without it when it has it
 * ("https://h:443/p" -> "https://h/p"), in OUT (LEN bytes); false when
 * neither applies (another port, another scheme, no room). */
static bool twilio_port_variant(const char *url, char *out, size_t len) {
        const char *port = strncmp(url, "https://", 8) == 0 ? "443" : strncmp(url, "http://", 7) == 0 ? "80" : NULL;
        if (!port)
                return false;
        const char *host = strstr(url, "://") + 3;
        size_t hl = strcspn(host, "/?#");
        /* An IPv6 literal's port comes after its ']'. */
        const char *end = host[0] == '[' ? memchr(host, ']', hl) : host;
        if (!end)
                return false;
        const char *colon = memchr(end, ':', hl - (size_t) (end - host));
        int n;
        if (!colon)
                n = snprintf(out, len, "%.*s:%s%s", (int) (host - url + hl), url, port, host + hl);
        else if ((size_t) (host + hl - colon - 1) == strlen(port) && strncmp(colon + 1, port, strlen(port)) == 0)
                n = snprintf(out, len, "%.*s%s", (int) (colon - url), url, host + hl);
        else
                return false;
        return n > 0 && (size_t) n < len;
}

bool http_twilio_valid(const char *token, const char *url, const struct http_form *form, const char *signature) {
        char alt[2048];

        if (!signature || strlen(signature) != 28)
                return false;
        /* Twilio's own validator accepts the URL with and without the
         * default port (a proxy may add or drop ":443"); so does this. */
        bool ok = twilio_matches(token, url, form, signature);
        if (twilio_port_variant(url, alt, sizeof(alt)))
                ok |= twilio_matches(token, alt, form, signature);
        return ok;
}

/* ---- payloads ---- */

/* A JSON string member, or NULL (also for one holding a NUL). */
static json_t *json_body(const char *body, size_t len) {
        json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);

        if (j && !json_is_object(j)) {
                json_decref(j);
                return NULL;
        }
        return j;
}

/* Link Mobility (the "Common" platform behind sp247.net/linkmobility.io)
 * forwards an MO SMS to the gate's URL as JSON of this shape (their "SMS REST
 * API - MO messages" document; Sergel Connect runs the same platform):
 *   {"source":"+4791234567", "destination":"NO-2333", "subNumber":null,
 *    "content":{"type":"SMS","userData":"JA 4821","encoding":"TEXT"},
 *    "operator":"no.telenor", "timestamp":"...", "messageId":"...",
 *    "route":{...}, "customParameters":{...}}
 * Older gates put "userData" at the top level; both are read. */
int http_linkmobility_mo(const char *body, size_t len, char **ret_from, char **ret_text) {
        json_t *j = json_body(body, len);
        const char *from, *text = NULL;
        int r = 0;

        if (!j)
                return -EINVAL;
        from = json_text(j, "source", NULL, 0);
        text = json_text(json_object_get(j, "content"), "userData", NULL, 0);
        if (!text)
                text = json_text(j, "userData", NULL, 0);
        if (!from || !*from || !text)
                r = -EINVAL;
        else {
                *ret_from = strdup(from);
                *ret_text = strdup(text);
                if (!*ret_from || !*ret_text) {
                        free(*ret_from);
                        free(*ret_text);
                        *ret_from = *ret_text = NULL;
                        r = -ENOMEM;
                }
        }
        json_decref(j);
        return r;
}

void http_copy_ref(char *dst, size_t n, const char *src) {
        size_t k = src ? strlen(src) : 0;

        dst[0] = '\0';
        if (k == 0 || k >= n)
                return;
        for (size_t i = 0; i < k; i++)
                if ((unsigned char) src[i] <= ' ' || (unsigned char) src[i] >= 0x7f)
                        return;
        memcpy(dst, src, k + 1);
}

/* Link Mobility delivery reports, POSTed to the gate's URL as JSON:
 *   {"refId":"<our key, or null>", "id":"<their messageId>[$<part>]",
 *    "operator":"no.telenor", "sentTimestamp":"...", "timestamp":"...",
 *    "resultCode":1001, "operatorResultCode":"...", "segments":1, ...}
 * resultCode (their status table): 1000 Sent and 1005 Queued are
 * intermediate; 1001 Delivered; 1002 Expired, 1003 Deleted, 1004 Mobile
 * full, 1006 Not delivered and every error from 2000 to 4999 are final
 * failures.
 * Anything else is acknowledged and ignored rather than guessed at: a wrong
 * "undeliverable" would move the chain past someone who got the message. */
int http_linkmobility_dlr(const char *body, size_t len, struct http_receipt *ret) {
        json_t *j = json_body(body, len), *rc;
        const char *ref, *id;
        long long code;

        *ret = (struct http_receipt) {};
        if (!j)
                return -EINVAL;
        ref = json_text(j, "refId", NULL, 0);
        id = json_text(j, "id", NULL, 0);
        rc = json_object_get(j, "resultCode");
        if (json_is_integer(rc))
                code = json_integer_value(rc);
        else if (json_is_string(rc) && json_string_length(rc) > 0 && json_string_length(rc) < 8 &&
                 strspn(json_string_value(rc), "0123456789") == json_string_length(rc))
                code = atoll(json_string_value(rc));
        else {
                json_decref(j);
                return -EINVAL;
        }

        char idbuf[128];
        http_copy_ref(idbuf, sizeof(idbuf), id);
        char *dollar = strchr(idbuf, '$'); /* one report per part: "abc123$0" */
        if (dollar)
                *dollar = '\0';
        http_copy_ref(ret->ref, sizeof(ret->ref), ref);
        if (ret->ref[0])
                snprintf(ret->alt_ref, sizeof(ret->alt_ref), "%s", idbuf);
        else
                snprintf(ret->ref, sizeof(ret->ref), "%s", idbuf);
        json_decref(j);
        if (!ret->ref[0])
                return -EINVAL;

        if (code == 1001)
                ret->state = HTTP_DLR_DELIVERED;
        else if ((code >= 1002 && code <= 1004) || code == 1006 || (code >= 2000 && code <= 4999))
                ret->state = HTTP_DLR_UNDELIVERABLE;
        else
                ret->state = HTTP_DLR_PENDING;
        snprintf(ret->detail, sizeof(ret->detail), "linkmobility resultCode %lld", code);
        return 0;
}

/* Twilio status callbacks (form): MessageSid, MessageStatus = queued,
 * sending, sent, delivered, undelivered, failed, (read, accepted, scheduled,
 * canceled ...); ErrorCode on failures. */
int http_twilio_dlr(const struct http_form *f, struct http_receipt *ret) {
        const char *sid = http_form_get(f, "MessageSid") ?: http_form_get(f, "SmsSid");
        const char *st = http_form_get(f, "MessageStatus") ?: http_form_get(f, "SmsStatus");
        const char *ec = http_form_get(f, "ErrorCode");
        char word[24];

        *ret = (struct http_receipt) {};
        if (!sid || !st)
                return -EINVAL;
        http_copy_ref(ret->ref, sizeof(ret->ref), sid);
        if (!ret->ref[0])
                return -EINVAL;
        if (streq(st, "delivered"))
                ret->state = HTTP_DLR_DELIVERED;
        else if (streq(st, "undelivered") || streq(st, "failed"))
                ret->state = HTTP_DLR_UNDELIVERABLE;
        else
                ret->state = HTTP_DLR_PENDING;
        http_copy_ref(word, sizeof(word), st);
        if (ec && *ec && strlen(ec) < 8 && strspn(ec, "0123456789") == strlen(ec))
                snprintf(ret->detail, sizeof(ret->detail), "twilio %s %s", word[0] ? word : "?", ec);
        else
                snprintf(ret->detail, sizeof(ret->detail), "twilio %s", word[0] ? word : "?");
        return 0;
}

enum http_dlr http_dlr_from_word(const char *s) {
        /* SMPP's final states (DELIVRD, UNDELIV, REJECTD, EXPIRED, DELETED)
         * and the plain words HTTP gateways use for them. */
        static const char *const delivered[] = { "delivered", "delivrd", "delivered_to_handset", "deliveredtoterminal" };
        static const char *const failed[] = { "undelivered", "undeliverable", "undeliv", "failed", "failure",
                                              "rejected", "rejectd", "expired", "deleted", "error" };

        if (!s)
                return HTTP_DLR_PENDING;
        for (size_t i = 0; i < ELEMENTSOF(delivered); i++)
                if (strcasecmp(s, delivered[i]) == 0)
                        return HTTP_DLR_DELIVERED;
        for (size_t i = 0; i < ELEMENTSOF(failed); i++)
                if (strcasecmp(s, failed[i]) == 0)
                        return HTTP_DLR_UNDELIVERABLE;
        return HTTP_DLR_PENDING;
}

static char *json_path_value(const json_t *root, const char *path) {
        const json_t *v = root;
        const char *p = path;
        char key[128];

        while (v && *p) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t) (dot - p) : strlen(p);
                if (n == 0 || n >= sizeof(key) || !json_is_object(v))
                        return NULL;
                memcpy(key, p, n);
                key[n] = '\0';
                v = json_object_get(v, key);
                p += n + (dot ? 1 : 0);
        }
        if (json_is_string(v)) {
                if (strlen(json_string_value(v)) != json_string_length(v)) {
                        errno = EINVAL;
                        return NULL;
                }
                return strdup(json_string_value(v));
        }
        if (json_is_integer(v)) {
                char *r;
                if (asprintf(&r, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0)
                        return NULL;
                return r;
        }
        errno = ENOENT;
        return NULL;
}

int http_generic_fields(const char *body, size_t len, bool json, const char *const *names, size_t n, char **values) {
        for (size_t i = 0; i < n; i++)
                values[i] = NULL;
        if (json) {
                json_t *j = json_body(body, len);
                if (!j)
                        return -EINVAL;
                for (size_t i = 0; i < n; i++) {
                        errno = 0;
                        values[i] = json_path_value(j, names[i]);
                        if (!values[i] && errno != ENOENT) {
                                int r = errno == EINVAL ? -EINVAL : -ENOMEM;
                                json_decref(j);
                                for (size_t k = 0; k < i; k++) {
                                        free(values[k]);
                                        values[k] = NULL;
                                }
                                return r;
                        }
                }
                json_decref(j);
                return 0;
        }

        struct http_form f;
        int r = http_form_parse(body, len, &f);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                const char *v = http_form_get(&f, names[i]);
                if (v && !(values[i] = strdup(v))) {
                        for (size_t k = 0; k < i; k++) {
                                free(values[k]);
                                values[k] = NULL;
                        }
                        http_form_done(&f);
                        return -ENOMEM;
                }
        }
        http_form_done(&f);
        return 0;
}
