/* http.c - the HTTP listener and the heartbeat on the sd-event loop.
 *
 * libmicrohttpd runs in "external polling" mode with epoll (MHD_USE_EPOLL,
 * no MHD_USE_INTERNAL_POLLING_THREAD): it keeps one epoll fd of its own for
 * the listening socket and every connection. We watch that one fd with an
 * sd_event io source and call MHD_run() when it is readable, and we keep one
 * time source at MHD_get_timeout() (connection timeouts, and "0" when MHD has
 * buffered work left: its connection sockets are edge-triggered, so the
 * outer fd alone does not say that). MHD never starts a thread here.
 *
 * MHD takes the listening socket out of its epoll set at CONN_LIMIT and
 * puts it back only at the start of a later MHD_run(): mhd_step() runs
 * again whenever a run closed connections, and a tick every TICK_USEC runs
 * it anyway. We track every connection (MHD_OPTION_NOTIFY_CONNECTION) and
 * shut down those past their deadline (HEAD_DEADLINE for a request head,
 * which MHD's idle timeout cannot enforce: every byte resets it) and, near
 * the limit, the oldest unfinished heads; MHD closes them on its next run.
 * The tick also polls the listening socket: clients left waiting in its
 * queue for STALL_USEC make the listener "not accepting" (journal,
 * /healthz 503, /metrics, no heartbeat).
 *
 * Requests are small and handled to the end inside the access handler: the
 * body is collected (at most BODY_MAX; 413 beyond), then routed. The raw
 * request target (path and query as sent) comes from the URI log callback,
 * which is the first thing MHD calls for a request: Twilio signs the URL as
 * it was sent, before any decoding, and routing on the raw path means an
 * escaped "/" can never make two segments out of one.
 *
 * Nothing personal reaches the log or an error text: no numbers, no message
 * texts, no answer-link tokens (a token is as good as the person's answer).
 *
 * The heartbeat is a plain GET every `every` through a libcurl multi handle
 * of its own on the loop (curl-util.c, as the gateways'). One transfer at a
 * time; a tick that finds the last one still running is skipped. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "command.h"
#include "curl-util.h"
#include "http.h"
#include "log.h"
#include "macro.h"
#include "seen.h"
#include "text.h"
#include "wording.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

#define BODY_MAX        (64 * 1024)   /* request bodies we read; 413 beyond */
#define DISCARD_MAX     (1024 * 1024) /* bodies up to this are read and dropped before the 413 */
#define CONN_LIMIT      64            /* connections at once */
#define CONN_MEMORY     (32 * 1024)   /* per connection: request line and headers must fit */
#define CONN_TIMEOUT    30            /* seconds of silence before a connection is closed */
#define LISTEN_BACKLOG  64
#define PER_IP_LIMIT    16            /* connections at once from one address */
#define CONN_RESERVE    8             /* slots kept free by cutting the oldest unfinished heads */
#define HEAD_DEADLINE   (5 * USEC_PER_SEC)  /* connect (or last response) to the end of the request head */
#define BODY_DEADLINE   (20 * USEC_PER_SEC) /* end of the head to the end of the response */
#define EVICT_MIN_AGE   (USEC_PER_SEC / 10) /* a head younger than this is never cut to make room */
#define TICK_USEC       (USEC_PER_SEC / 4) /* deadlines, the listening socket, stall check */
#define STALL_USEC      (3 * USEC_PER_SEC)  /* connections waiting unaccepted this long: not accepting */
#define PATH_MAX_LEN    512
#define TOKEN_MIN       22            /* 128 bits in URL-safe base64; hex is 32 */
#define TOKEN_MAX       128
#define HEARTBEAT_TIMEOUT (10 * USEC_PER_SEC)

/* Response codes counted for /metrics. */
static const unsigned counted_codes[] = { 200, 400, 403, 404, 405, 410, 413, 415, 500, 503 };

/* One TCP connection, from MHD's "started" to its "closed" notification. */
struct hconn {
        struct http *h;
        int fd;
        uint64_t since;  /* connect, or the end of the last response, or the end of the head */
        bool in_request; /* head complete, response not yet sent */
        bool cut;        /* shut down by us: MHD closes it on its next run */
        struct hconn *prev, *next;
};

struct http {
        sd_event *event;
        const struct config *cfg;
        struct http_hooks hooks;

        struct MHD_Daemon *mhd;
        sd_event_source *mhd_io, *mhd_timer, *mhd_tick;
        int listen_fd;
        struct hconn *conns;
        unsigned n_conns;
        unsigned long long n_cut_deadline, n_cut_evicted;
        uint64_t pending_since; /* when the listening socket was last seen with unaccepted connections (0: not) */
        bool stalled;           /* ... for STALL_USEC: not accepting */
        char *listen; /* the address we listen on (a copy: the config may go) */

        unsigned long long n_code[ELEMENTSOF(counted_codes)], n_other;

        /* heartbeat */
        struct curl_glue *curl;
        CURL *hb;
        sd_event_source *hb_timer;
        char *hb_url;
        uint64_t hb_every;
        bool hb_failing;
        unsigned long long hb_ok, hb_failed;
};

/* One request, from the URI log callback to the completion callback. */
struct req {
        struct http *h;
        char *target; /* raw request target: "/sms/x/inbound?token=..." */
        char *body;
        size_t len, cap, seen;
        bool started;
        bool too_large;
};

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

bool http_twilio_valid(const char *token, const char *url, const struct http_form *form, const char *signature) {
        char want[29];

        if (!signature || strlen(signature) != 28 || http_twilio_signature(token, url, form, want) < 0)
                return false;
        return CRYPTO_memcmp(want, signature, 28) == 0;
}

/* ---- payloads ---- */

/* A JSON string member, or NULL (also for one holding a NUL). */
static const char *json_str(const json_t *o, const char *key) {
        const json_t *v = json_object_get(o, key);

        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                return NULL;
        return json_string_value(v);
}

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
        from = json_str(j, "source");
        text = json_str(json_object_get(j, "content"), "userData");
        if (!text)
                text = json_str(j, "userData");
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

/* Copy a reference if it is printable ASCII and fits; "" otherwise. */
static void copy_ref(char *dst, size_t n, const char *src) {
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
 * full, 1006 Not delivered and every 2xxx-4xxx error are final failures.
 * Anything else is acknowledged and ignored rather than guessed at: a wrong
 * "undeliverable" would move the chain past someone who got the message. */
int http_linkmobility_dlr(const char *body, size_t len, struct http_receipt *ret) {
        json_t *j = json_body(body, len), *rc;
        const char *ref, *id;
        long long code;

        *ret = (struct http_receipt) {};
        if (!j)
                return -EINVAL;
        ref = json_str(j, "refId");
        id = json_str(j, "id");
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
        copy_ref(idbuf, sizeof(idbuf), id);
        char *dollar = strchr(idbuf, '$'); /* one report per part: "abc123$0" */
        if (dollar)
                *dollar = '\0';
        copy_ref(ret->ref, sizeof(ret->ref), ref);
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
        copy_ref(ret->ref, sizeof(ret->ref), sid);
        if (!ret->ref[0])
                return -EINVAL;
        if (streq(st, "delivered"))
                ret->state = HTTP_DLR_DELIVERED;
        else if (streq(st, "undelivered") || streq(st, "failed"))
                ret->state = HTTP_DLR_UNDELIVERABLE;
        else
                ret->state = HTTP_DLR_PENDING;
        copy_ref(word, sizeof(word), st);
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

/* ---- responses ---- */

static void count_code(struct http *h, unsigned code) {
        for (size_t i = 0; i < ELEMENTSOF(counted_codes); i++)
                if (counted_codes[i] == code) {
                        h->n_code[i]++;
                        return;
                }
        h->n_other++;
}

/* Queue a response with BODY (copied). ALLOW names the methods for a 405. */
static enum MHD_Result respond(struct req *q, struct MHD_Connection *c, unsigned code, const char *type,
                               const char *body, size_t len, const char *allow, bool page) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *) body, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result ok;

        if (!resp)
                return MHD_NO;
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        (void) MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        if (allow)
                (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
        if (page) {
                /* The token is in the URL: never let it leave in a Referer,
                 * never let the page be framed or indexed. */
                (void) MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
                (void) MHD_add_response_header(resp, "X-Frame-Options", "DENY");
                (void) MHD_add_response_header(resp, "X-Robots-Tag", "noindex, nofollow");
                (void) MHD_add_response_header(resp, "Content-Security-Policy",
                                               "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                               "frame-ancestors 'none'; base-uri 'none'");
        }
        ok = MHD_queue_response(c, code, resp);
        MHD_destroy_response(resp);
        count_code(q->h, code);
        return ok;
}

static enum MHD_Result respond_text(struct req *q, struct MHD_Connection *c, unsigned code, const char *text) {
        return respond(q, c, code, "text/plain; charset=utf-8", text, strlen(text), NULL, false);
}

/* {"ok":true} or {"ok":false,"error":"..."}: ERROR is one of our own fixed
 * texts, never input. */
static enum MHD_Result respond_json(struct req *q, struct MHD_Connection *c, unsigned code, const char *error,
                                    const char *extra) {
        char buf[256];

        if (error)
                snprintf(buf, sizeof(buf), "{\"ok\":false,\"error\":\"%s\"}\n", error);
        else
                snprintf(buf, sizeof(buf), "{\"ok\":true%s%s}\n", extra ? "," : "", extra ? extra : "");
        return respond(q, c, code, "application/json", buf, strlen(buf), NULL, false);
}

static enum MHD_Result respond_405(struct req *q, struct MHD_Connection *c, const char *allow) {
        static const char msg[] = "method not allowed\n";
        return respond(q, c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", msg, sizeof(msg) - 1, allow,
                       false);
}

/* ---- pages for the e-mail answer links ---- */

static void html_escape(FILE *f, const char *s) {
        for (; s && *s; s++)
                switch (*s) {
                case '&':
                        fputs("&amp;", f);
                        break;
                case '<':
                        fputs("&lt;", f);
                        break;
                case '>':
                        fputs("&gt;", f);
                        break;
                case '"':
                        fputs("&quot;", f);
                        break;
                case '\'':
                        fputs("&#39;", f);
                        break;
                default:
                        fputc(*s, f);
                }
}

enum page {
        PAGE_CONFIRM,
        PAGE_THANKS,
        PAGE_UNKNOWN,  /* 404 */
        PAGE_ENDED,    /* 410 */
        PAGE_FAILED,   /* 400: the answer was refused */
        PAGE_TRY_LATER /* 503 */
};

struct page_text {
        const char *title, *lead;
};

/* The words: wording.h. */
static const struct page_text page_texts[2][6] = {
        [LANG_NB] = {
                [PAGE_CONFIRM] = { W_NB(W_PAGE_CONFIRM_TITLE), W_NB(W_PAGE_CONFIRM_LEAD) },
                [PAGE_THANKS] = { W_NB(W_PAGE_THANKS_TITLE), W_NB(W_PAGE_THANKS_LEAD) },
                [PAGE_UNKNOWN] = { W_NB(W_PAGE_UNKNOWN_TITLE), W_NB(W_PAGE_UNKNOWN_LEAD) },
                [PAGE_ENDED] = { W_NB(W_PAGE_ENDED_TITLE), W_NB(W_PAGE_ENDED_LEAD) },
                [PAGE_FAILED] = { W_NB(W_PAGE_FAILED_TITLE), W_NB(W_PAGE_FAILED_LEAD) },
                [PAGE_TRY_LATER] = { W_NB(W_PAGE_TRY_LATER_TITLE), W_NB(W_PAGE_TRY_LATER_LEAD) },
        },
        [LANG_EN] = {
                [PAGE_CONFIRM] = { W_EN(W_PAGE_CONFIRM_TITLE), W_EN(W_PAGE_CONFIRM_LEAD) },
                [PAGE_THANKS] = { W_EN(W_PAGE_THANKS_TITLE), W_EN(W_PAGE_THANKS_LEAD) },
                [PAGE_UNKNOWN] = { W_EN(W_PAGE_UNKNOWN_TITLE), W_EN(W_PAGE_UNKNOWN_LEAD) },
                [PAGE_ENDED] = { W_EN(W_PAGE_ENDED_TITLE), W_EN(W_PAGE_ENDED_LEAD) },
                [PAGE_FAILED] = { W_EN(W_PAGE_FAILED_TITLE), W_EN(W_PAGE_FAILED_LEAD) },
                [PAGE_TRY_LATER] = { W_EN(W_PAGE_TRY_LATER_TITLE), W_EN(W_PAGE_TRY_LATER_LEAD) },
        },
};

/* The pages of a contact-list check's OK link (beredctl verify). A check is
 * never a call-out, and its page says so. */
static const struct page_text check_page_texts[2][6] = {
        [LANG_NB] = {
                [PAGE_CONFIRM] = { W_NB(W_CHECK_CONFIRM_TITLE), W_NB(W_CHECK_CONFIRM_LEAD) },
                [PAGE_THANKS] = { W_NB(W_CHECK_THANKS_TITLE), W_NB(W_CHECK_THANKS_LEAD) },
                [PAGE_UNKNOWN] = { W_NB(W_CHECK_UNKNOWN_TITLE), W_NB(W_CHECK_UNKNOWN_LEAD) },
                [PAGE_ENDED] = { W_NB(W_CHECK_ENDED_TITLE), W_NB(W_CHECK_ENDED_LEAD) },
                [PAGE_FAILED] = { W_NB(W_CHECK_FAILED_TITLE), W_NB(W_CHECK_FAILED_LEAD) },
                [PAGE_TRY_LATER] = { W_NB(W_CHECK_TRY_LATER_TITLE), W_NB(W_CHECK_TRY_LATER_LEAD) },
        },
        [LANG_EN] = {
                [PAGE_CONFIRM] = { W_EN(W_CHECK_CONFIRM_TITLE), W_EN(W_CHECK_CONFIRM_LEAD) },
                [PAGE_THANKS] = { W_EN(W_CHECK_THANKS_TITLE), W_EN(W_CHECK_THANKS_LEAD) },
                [PAGE_UNKNOWN] = { W_EN(W_CHECK_UNKNOWN_TITLE), W_EN(W_CHECK_UNKNOWN_LEAD) },
                [PAGE_ENDED] = { W_EN(W_CHECK_ENDED_TITLE), W_EN(W_CHECK_ENDED_LEAD) },
                [PAGE_FAILED] = { W_EN(W_CHECK_FAILED_TITLE), W_EN(W_CHECK_FAILED_LEAD) },
                [PAGE_TRY_LATER] = { W_EN(W_CHECK_TRY_LATER_TITLE), W_EN(W_CHECK_TRY_LATER_LEAD) },
        },
};

/* The page of a check's OK link. */
static void page_check_body(FILE *f, const struct config *cfg, bool en, enum page pg, const json_t *info) {
        if (info && (pg == PAGE_CONFIRM || pg == PAGE_THANKS)) {
                const char *chain_id = json_string_value(json_object_get(info, "chain"));
                const struct chain *ch = config_chain(cfg, chain_id);
                const char *prev = json_string_value(json_object_get(info, "answer"));

                fprintf(f, "<dl><dt>%s</dt><dd>", W(en, W_CHECK_LABEL));
                html_escape(f, ch && ch->name ? ch->name : chain_id ? chain_id : "?");
                fprintf(f, "</dd><dt>%s</dt><dd>OK</dd>", pg == PAGE_CONFIRM ? W(en, W_PAGE_YOUR_ANSWER)
                                                                            : W(en, W_PAGE_RECORDED));
                if (pg == PAGE_CONFIRM && prev && streq(prev, "yes"))
                        fprintf(f, "<dt>%s</dt><dd>OK</dd>", W(en, W_PAGE_SO_FAR));
                fputs("</dl>\n", f);
        }
}

/* The page for a link. INFO (from the token_lookup hook, may be NULL) gives
 * the chain and the drill flag; ANSWER is what the link records; CHECK: the
 * OK link of a contact-list check. */
static char *page_render(const struct config *cfg, enum lang lang, enum page pg, const json_t *info, enum answer answer,
                         bool check) {
        const struct page_text *t = &(check ? check_page_texts : page_texts)[lang == LANG_EN ? LANG_EN : LANG_NB][pg];
        bool en = lang == LANG_EN;
        const char *yes = W(en, W_PAGE_YES), *no = W(en, W_PAGE_NO), *word = answer == ANSWER_NO ? no : yes;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        fprintf(f, "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                   "<meta name=\"robots\" content=\"noindex, nofollow\"><title>",
                en ? "en" : "nb");
        html_escape(f, t->title);
        fputs("</title><style>body{font-family:system-ui,sans-serif;max-width:32em;margin:2em auto;padding:0 1em;"
              "line-height:1.5}.drill{background:#fde68a;padding:.3em .6em;font-weight:bold}"
              "button{font-size:1.3em;padding:.6em 1.4em;border:0;border-radius:.3em;color:#fff;background:#15803d}"
              "button.no{background:#b91c1c}dt{font-weight:bold}</style></head><body>\n<h1>",
              f);
        html_escape(f, t->title);
        fputs("</h1>\n", f);

        if (check)
                page_check_body(f, cfg, en, pg, info);
        else if (info && (pg == PAGE_CONFIRM || pg == PAGE_THANKS)) {
                const char *chain_id = json_string_value(json_object_get(info, "chain"));
                const struct chain *ch = config_chain(cfg, chain_id);
                const char *prev = json_string_value(json_object_get(info, "answer"));

                if (json_is_true(json_object_get(info, "drill")))
                        fprintf(f, "<p class=\"drill\">%s</p>\n", W(en, W_PAGE_DRILL));
                fprintf(f, "<dl><dt>%s</dt><dd>", W(en, W_PAGE_CALLOUT));
                html_escape(f, ch && ch->name ? ch->name : chain_id ? chain_id : "?");
                fprintf(f, "</dd><dt>%s</dt><dd>%s</dd>", pg == PAGE_CONFIRM ? W(en, W_PAGE_YOUR_ANSWER)
                                                                             : W(en, W_PAGE_RECORDED),
                        answer == ANSWER_NO ? W(en, W_PAGE_NOT_COMING) : W(en, W_PAGE_COMING));
                if (pg == PAGE_CONFIRM && prev && (streq(prev, "yes") || streq(prev, "no")))
                        fprintf(f, "<dt>%s</dt><dd>%s</dd>", W(en, W_PAGE_SO_FAR),
                                streq(prev, "yes") ? yes : no);
                fputs("</dl>\n", f);
        }
        fputs("<p>", f);
        html_escape(f, t->lead);
        fputs("</p>\n", f);
        if (pg == PAGE_CONFIRM && check) {
                fputs("<form method=\"post\" action=\"ok\"><button type=\"submit\">", f);
                fprintf(f, W(en, W_PAGE_SEND), "OK");
                fputs("</button></form>\n", f);
        } else if (pg == PAGE_CONFIRM) {
                /* Relative targets: the page may sit below a prefix of the
                 * reverse proxy that this daemon does not know about. */
                fprintf(f, "<form method=\"post\" action=\"%s\"><button type=\"submit\"%s>",
                        answer == ANSWER_NO ? "no" : "yes", answer == ANSWER_NO ? " class=\"no\"" : "");
                fprintf(f, W(en, W_PAGE_SEND), word);
                fprintf(f, "</button></form>\n<p><a href=\"%s\">", answer == ANSWER_NO ? "yes" : "no");
                fprintf(f, W(en, W_PAGE_INSTEAD), answer == ANSWER_NO ? yes : no);
                fputs("</a></p>\n", f);
        }
        fputs("</body></html>\n", f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static enum MHD_Result respond_page(struct req *q, struct MHD_Connection *c, unsigned code, enum lang lang,
                                    enum page pg, const json_t *info, enum answer answer, bool check) {
        _cleanup_free_ char *html = page_render(q->h->cfg, lang, pg, info, answer, check);

        if (!html)
                return respond_text(q, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
        return respond(q, c, code, "text/html; charset=utf-8", html, strlen(html), NULL, true);
}

/* ---- routes ---- */

static bool token_shape_ok(const char *s) {
        size_t n = strlen(s);

        if (n < TOKEN_MIN || n > TOKEN_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && *p != '-' && *p != '_')
                        return false;
        return true;
}

static enum lang token_lang(const struct config *cfg, const json_t *info) {
        const struct person *p = config_person(cfg, json_string_value(json_object_get(info, "person")));
        return p ? p->lang : cfg->lang;
}

static bool storage_error(int r) {
        return r == -ENOSPC || r == -EIO || r == -EROFS || r == -EDQUOT || r == -ENOMEM;
}

/* A link /a/TOKEN/yes|no (a call-out's, ANSWER) or /a/TOKEN/ok (CHECK: a
 * contact-list check's; ANSWER is ANSWER_YES). A token on the other kind's
 * link is no link: 404, nothing recorded. */
static enum MHD_Result route_answer(struct req *q, struct MHD_Connection *c, const char *method, const char *token,
                                    enum answer answer, bool check) {
        struct http *h = q->h;
        bool post = streq(method, "POST");
        json_t *info = NULL;
        enum MHD_Result ok;
        int r;

        if (!post && !streq(method, "GET") && !streq(method, "HEAD"))
                return respond_405(q, c, "GET, HEAD, POST");
        /* The shape first: a lookup for garbage costs a hash and a scan. */
        if (!token_shape_ok(token))
                return respond_page(q, c, MHD_HTTP_NOT_FOUND, h->cfg->lang, PAGE_UNKNOWN, NULL, answer, check);

        r = h->hooks.token_lookup(h->hooks.userdata, token, &info);
        if (r == -ENOENT) {
                json_decref(info);
                log_info("An e-mail answer link that does not exist was %s", post ? "used" : "opened");
                return respond_page(q, c, MHD_HTTP_NOT_FOUND, h->cfg->lang, PAGE_UNKNOWN, NULL, answer, check);
        }
        enum lang lang = info ? token_lang(h->cfg, info) : h->cfg->lang;
        if (info && json_is_true(json_object_get(info, "verify")) != check) {
                json_decref(info);
                log_info("An e-mail answer link was %s with the answer of the other kind (%s); nothing changed",
                         post ? "used" : "opened", check ? "OK to a call-out" : "JA/NEI to a contact-list check");
                return respond_page(q, c, MHD_HTTP_NOT_FOUND, lang, PAGE_UNKNOWN, NULL, answer, check);
        }
        if (r == -ESTALE || (r >= 0 && info && json_is_false(json_object_get(info, "valid")))) {
                ok = respond_page(q, c, MHD_HTTP_GONE, lang, PAGE_ENDED, info, answer, check);
                json_decref(info);
                return ok;
        }
        if (r < 0) {
                json_decref(info);
                log_warning_errno(r, "Looking up an e-mail answer link failed: %m");
                return respond_page(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, lang, PAGE_TRY_LATER, NULL, answer, check);
        }

        if (!post) {
                /* GET only shows: mail scanners open every link they see. */
                ok = respond_page(q, c, MHD_HTTP_OK, lang, PAGE_CONFIRM, info, answer, check);
                json_decref(info);
                return ok;
        }

        json_t *reply = NULL;
        char err[256] = "";
        r = h->hooks.token_answer(h->hooks.userdata, token, check, check ? ANSWER_YES : answer, &reply, err, sizeof(err));
        json_decref(reply);
        if (r >= 0)
                ok = respond_page(q, c, MHD_HTTP_OK, lang, PAGE_THANKS, info, answer, check);
        else if (r == -ENOENT)
                ok = respond_page(q, c, MHD_HTTP_NOT_FOUND, lang, PAGE_UNKNOWN, NULL, answer, check);
        else if (r == -ESTALE)
                ok = respond_page(q, c, MHD_HTTP_GONE, lang, PAGE_ENDED, info, answer, check);
        else if (storage_error(r)) {
                log_warning_errno(r, "An e-mail answer could not be recorded: %m");
                ok = respond_page(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, lang, PAGE_TRY_LATER, NULL, answer, check);
        } else {
                log_notice("An e-mail answer was refused: %s", err[0] ? err : strerror(-r));
                ok = respond_page(q, c, MHD_HTTP_BAD_REQUEST, lang, PAGE_FAILED, NULL, answer, check);
        }
        json_decref(info);
        return ok;
}

enum body_kind {
        BODY_NONE,
        BODY_FORM,
        BODY_JSON,
        BODY_OTHER,
};

static enum body_kind body_kind(struct MHD_Connection *c, size_t len) {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        size_t n;

        if (!ct || !*ct)
                return len == 0 ? BODY_NONE : BODY_OTHER;
        while (*ct == ' ' || *ct == '\t')
                ct++;
        n = strcspn(ct, "; \t");
        if (n == strlen("application/x-www-form-urlencoded") && strncasecmp(ct, "application/x-www-form-urlencoded", n) == 0)
                return BODY_FORM;
        if (n == strlen("application/json") && strncasecmp(ct, "application/json", n) == 0)
                return BODY_JSON;
        return BODY_OTHER;
}

/* The query string of the raw target (without '?'), or "". */
static const char *target_query(const struct req *q) {
        const char *qm = q->target ? strchr(q->target, '?') : NULL;
        return qm ? qm + 1 : "";
}

bool http_webhook_authenticated(const struct gateway *gw, const char *public_url) {
        if (!gw)
                return false;
        switch (gw->type) {
        case GATEWAY_TWILIO:
                return public_url && *public_url && gw->password && *gw->password;
        case GATEWAY_HTTP:
        case GATEWAY_LINKMOBILITY:
                return gw->inbound_token && *gw->inbound_token;
        default:
                return false;
        }
}

/* The shared webhook secret of GW: ?token= or X-Beredd-Token. A gateway
 * without one never gets here (route_sms answers 404). */
static bool webhook_token_ok(struct req *q, struct MHD_Connection *c, const struct gateway *gw) {
        struct http_form qf = {};
        const char *got;
        bool ok;

        if (!gw->inbound_token || !*gw->inbound_token)
                return false;
        got = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Beredd-Token");
        if (!got && http_form_parse(target_query(q), strlen(target_query(q)), &qf) >= 0)
                got = http_form_get(&qf, "token");
        ok = got && strlen(got) == strlen(gw->inbound_token) && CRYPTO_memcmp(got, gw->inbound_token, strlen(got)) == 0;
        http_form_done(&qf);
        return ok;
}

/* Providers and gateways send numbers as "+4791234567", "004791234567",
 * "91234567" (the server understands those) or "4791234567": digits only
 * with a country code but no '+'. Give the last kind its '+'. */
static char *sender_number(const char *from) {
        char digits[32];
        size_t n = 0;

        for (const char *p = from; *p; p++) {
                if (*p == ' ')
                        continue;
                if (!isdigit((unsigned char) *p) || n + 1 >= sizeof(digits))
                        return strdup(from);
                digits[n++] = *p;
        }
        digits[n] = '\0';
        if (n >= 10 && n <= 15 && digits[0] != '0') {
                char *r;
                return asprintf(&r, "+%s", digits) < 0 ? NULL : r;
        }
        return strdup(from);
}

static void xml_escape(FILE *f, const char *s) {
        for (; *s; s++)
                switch (*s) {
                case '&':
                        fputs("&amp;", f);
                        break;
                case '<':
                        fputs("&lt;", f);
                        break;
                case '>':
                        fputs("&gt;", f);
                        break;
                default:
                        fputc(*s, f);
                }
}

static enum MHD_Result respond_twiml(struct req *q, struct MHD_Connection *c, const char *message) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        enum MHD_Result ok;

        if (!f)
                return MHD_NO;
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
        if (message && *message) {
                fputs("<Response><Message>", f);
                xml_escape(f, message);
                fputs("</Message></Response>\n", f);
        } else
                fputs("<Response/>\n", f);
        if (fclose(f) != 0) {
                free(buf);
                return MHD_NO;
        }
        ok = respond(q, c, MHD_HTTP_OK, "text/xml; charset=utf-8", buf, len, NULL, false);
        free(buf);
        return ok;
}

static enum MHD_Result route_sms(struct req *q, struct MHD_Connection *c, const char *method, const char *gw_id,
                                 bool receipt) {
        struct http *h = q->h;
        const struct gateway *gw = config_gateway(h->cfg, gw_id);
        enum body_kind kind = body_kind(c, q->len);
        _cleanup_free_ char *from = NULL, *text = NULL, *back = NULL;
        struct http_form form = {};
        struct http_receipt rc = {};
        char msg_id[SEEN_ID_MAX] = ""; /* the provider's id of an inbound SMS, for replays */
        enum MHD_Result ok;
        int r;

        /* A route nobody can authenticate is no route: 404, as for an
         * unknown gateway (http_webhook_authenticated()). */
        if (!gw || !http_webhook_authenticated(gw, h->cfg->http.public_url))
                return respond_json(q, c, MHD_HTTP_NOT_FOUND, "no such gateway", NULL);
        if (!streq(method, "POST"))
                return respond_405(q, c, "POST");

        switch (gw->type) {
        case GATEWAY_TWILIO: {
                _cleanup_free_ char *url = NULL;
                if (kind != BODY_FORM)
                        return respond_json(q, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "expected application/x-www-form-urlencoded", NULL);
                if (http_form_parse(q->body ?: "", q->len, &form) < 0)
                        return respond_json(q, c, MHD_HTTP_BAD_REQUEST, "bad form", NULL);
                /* Twilio signs the URL it was told to call: the public URL of
                 * the proxy, and this path and query as sent. */
                if (h->cfg->http.public_url && q->target &&
                    asprintf(&url, "%s%s", h->cfg->http.public_url, q->target) < 0)
                        url = NULL;
                if (!url || !gw->password ||
                    !http_twilio_valid(gw->password, url, &form,
                                       MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Twilio-Signature"))) {
                        http_form_done(&form);
                        log_warning("Refused %s webhook for gateway %s: bad or missing X-Twilio-Signature",
                                    receipt ? "a receipt" : "an SMS", gw->id);
                        return respond_json(q, c, MHD_HTTP_FORBIDDEN, "bad signature", NULL);
                }
                /* Twilio names the account in every webhook (AccountSid):
                 * when present it must be this gateway's. */
                const char *acct = http_form_get(&form, "AccountSid");
                if (acct && gw->account && !streq(acct, gw->account)) {
                        http_form_done(&form);
                        log_warning("Refused %s webhook for gateway %s: AccountSid is not the gateway's account",
                                    receipt ? "a receipt" : "an SMS", gw->id);
                        return respond_json(q, c, MHD_HTTP_FORBIDDEN, "wrong account", NULL);
                }
                if (receipt)
                        r = http_twilio_dlr(&form, &rc);
                else {
                        const char *f = http_form_get(&form, "From"), *b = http_form_get(&form, "Body");
                        r = f && b ? 0 : -EINVAL;
                        if (r >= 0 && (!(from = strdup(f)) || !(text = strdup(b))))
                                r = -ENOMEM;
                        copy_ref(msg_id, sizeof(msg_id), http_form_get(&form, "MessageSid") ?: http_form_get(&form, "SmsSid"));
                }
                http_form_done(&form);
                break;
        }
        case GATEWAY_LINKMOBILITY:
                if (kind != BODY_JSON)
                        return respond_json(q, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "expected application/json", NULL);
                if (!webhook_token_ok(q, c, gw)) {
                        log_warning("Refused a webhook for gateway %s: bad or missing token", gw->id);
                        return respond_json(q, c, MHD_HTTP_FORBIDDEN, "bad token", NULL);
                }
                r = receipt ? http_linkmobility_dlr(q->body ?: "", q->len, &rc)
                            : http_linkmobility_mo(q->body ?: "", q->len, &from, &text);
                if (r >= 0 && !receipt) {
                        /* The MO's own id: "messageId" (older gates: "id"). */
                        static const char *const idn[] = { "messageId", "id" };
                        char *iv[2] = {};
                        if (http_generic_fields(q->body ?: "", q->len, true, idn, 2, iv) >= 0)
                                copy_ref(msg_id, sizeof(msg_id), iv[0] ?: iv[1]);
                        free(iv[0]);
                        free(iv[1]);
                }
                break;
        default: { /* GATEWAY_HTTP */
                const char *names[3];
                char *v[3] = {};
                const char *src = q->body ?: "";
                size_t len = q->len;

                if (kind == BODY_OTHER)
                        return respond_json(q, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                            "expected application/x-www-form-urlencoded or application/json", NULL);
                if (!webhook_token_ok(q, c, gw)) {
                        log_warning("Refused a webhook for gateway %s: bad or missing token", gw->id);
                        return respond_json(q, c, MHD_HTTP_FORBIDDEN, "bad token", NULL);
                }
                if (kind == BODY_NONE) { /* fields in the query string instead */
                        src = target_query(q);
                        len = strlen(src);
                }
                names[0] = receipt ? gw->inbound_ref : gw->inbound_from;
                names[1] = receipt ? gw->inbound_status : gw->inbound_text;
                names[2] = receipt ? NULL : gw->inbound_id;
                if (!names[0] || !names[1])
                        return respond_json(q, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "gateway not configured", NULL);
                r = http_generic_fields(src, len, kind == BODY_JSON, names, names[2] ? 3 : 2, v);
                if (r >= 0 && (!v[0] || !v[1]))
                        r = -EINVAL;
                if (r >= 0 && receipt) {
                        copy_ref(rc.ref, sizeof(rc.ref), v[0]);
                        rc.state = http_dlr_from_word(v[1]);
                        char word[32];
                        copy_ref(word, sizeof(word), v[1]);
                        snprintf(rc.detail, sizeof(rc.detail), "%s %s", gw->id, word[0] ? word : "?");
                        if (!rc.ref[0])
                                r = -EINVAL;
                } else if (r >= 0) {
                        from = TAKE_PTR(v[0]);
                        text = TAKE_PTR(v[1]);
                        copy_ref(msg_id, sizeof(msg_id), v[2]);
                }
                free(v[0]);
                free(v[1]);
                free(v[2]);
                break;
        }
        }

        if (r == -ENOMEM)
                return respond_json(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory", NULL);
        if (r < 0)
                return respond_json(q, c, MHD_HTTP_BAD_REQUEST, receipt ? "not a delivery report" : "not an SMS", NULL);

        if (receipt) {
                if (rc.state == HTTP_DLR_PENDING)
                        return respond_json(q, c, MHD_HTTP_OK, NULL, "\"ignored\":true");
                /* Only for a message this gateway sent, by the provider's
                 * message id or the client reference with its nonce. */
                r = h->hooks.receipt(h->hooks.userdata, gw->id, rc.ref, rc.state == HTTP_DLR_DELIVERED, rc.detail);
                if (r == -ENOENT && rc.alt_ref[0])
                        r = h->hooks.receipt(h->hooks.userdata, gw->id, rc.alt_ref, rc.state == HTTP_DLR_DELIVERED, rc.detail);
                if (storage_error(r)) {
                        log_warning_errno(r, "A delivery receipt from gateway %s could not be recorded: %m", gw->id);
                        return respond_json(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "try again", NULL);
                }
                /* Unknown references are acknowledged too: a provider that
                 * hears an error retries a report we can never place. */
                log_debug("Delivery receipt from gateway %s (%s): %s", gw->id, rc.detail,
                          r >= 0 ? "recorded" : strerror(-r));
                return respond_json(q, c, MHD_HTTP_OK, NULL, r >= 0 ? "\"known\":true" : "\"known\":false");
        }

        _cleanup_free_ char *number = sender_number(from);
        if (!number)
                return respond_json(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory", NULL);
        /* Twilio can carry the text back in its answer (TwiML), from the
         * number they wrote to; for the others the server sends it through
         * the SMS gateways. */
        /* Replays: the provider's message id is recorded durably first,
         * then the answer is acted on (durably, before the 200). A request
         * whose id was seen is acknowledged and ignored. A crash between the
         * two loses that one SMS (never acts on it twice): the person is
         * still asked and can answer again. */
        r = h->hooks.message_seen(h->hooks.userdata, gw->id, msg_id);
        if (r > 0) {
                log_info("SMS webhook from gateway %s: a message id already taken; ignored as a replay", gw->id);
                return gw->type == GATEWAY_TWILIO ? respond_twiml(q, c, NULL)
                                                  : respond_json(q, c, MHD_HTTP_OK, NULL, "\"taken\":false");
        }
        if (storage_error(r)) {
                log_warning_errno(r, "An SMS answer through gateway %s could not be recorded: %m", gw->id);
                return respond_json(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "try again", NULL);
        }
        r = h->hooks.sms_inbound(h->hooks.userdata, gw->id, msg_id, number, text, gw->type == GATEWAY_TWILIO ? &back : NULL);
        if (storage_error(r)) {
                /* Not acted on: let the provider's retry through. */
                h->hooks.message_forget(h->hooks.userdata, gw->id, msg_id);
                log_warning_errno(r, "An SMS answer through gateway %s could not be recorded: %m", gw->id);
                return respond_json(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "try again", NULL);
        }
        log_debug("SMS webhook from gateway %s: %s", gw->id, r >= 0 ? "taken as an answer" : strerror(-r));
        if (gw->type == GATEWAY_TWILIO)
                ok = respond_twiml(q, c, back);
        else
                ok = respond_json(q, c, MHD_HTTP_OK, NULL, r >= 0 ? "\"taken\":true" : "\"taken\":false");
        return ok;
}

static enum MHD_Result route_metrics(struct req *q, struct MHD_Connection *c) {
        struct http *h = q->h;
        _cleanup_free_ char *base = h->hooks.metrics(h->hooks.userdata);
        char *buf = NULL;
        size_t len = 0;
        FILE *f;
        enum MHD_Result ok;

        if (!base)
                return respond_text(q, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics unavailable\n");
        f = open_memstream(&buf, &len);
        if (!f)
                return respond_text(q, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics unavailable\n");
        fputs(base, f);
        if (base[0] && base[strlen(base) - 1] != '\n')
                fputc('\n', f);
        /* This scrape is counted after it is answered. */
        fputs("# HELP beredd_http_responses_total HTTP responses of the listener by status code.\n"
              "# TYPE beredd_http_responses_total counter\n",
              f);
        for (size_t i = 0; i < ELEMENTSOF(counted_codes); i++)
                fprintf(f, "beredd_http_responses_total{code=\"%u\"} %llu\n", counted_codes[i], h->n_code[i]);
        fprintf(f, "beredd_http_responses_total{code=\"other\"} %llu\n", h->n_other);
        fprintf(f, "# HELP beredd_http_accepting 0 while the listener leaves connections unaccepted.\n"
                   "# TYPE beredd_http_accepting gauge\nberedd_http_accepting %d\n", !h->stalled);
        fprintf(f, "# HELP beredd_http_connections Open HTTP connections.\n"
                   "# TYPE beredd_http_connections gauge\nberedd_http_connections %u\n", h->n_conns);
        fprintf(f, "# HELP beredd_http_cut_total Connections cut by beredd, by reason.\n"
                   "# TYPE beredd_http_cut_total counter\n"
                   "beredd_http_cut_total{reason=\"deadline\"} %llu\nberedd_http_cut_total{reason=\"room\"} %llu\n",
                h->n_cut_deadline, h->n_cut_evicted);
        if (h->hb_url) {
                fprintf(f, "# HELP beredd_heartbeat_total Outgoing heartbeats by result.\n"
                           "# TYPE beredd_heartbeat_total counter\n"
                           "beredd_heartbeat_total{result=\"ok\"} %llu\n"
                           "beredd_heartbeat_total{result=\"failed\"} %llu\n",
                        h->hb_ok, h->hb_failed);
        }
        if (fclose(f) != 0) {
                free(buf);
                return respond_text(q, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics unavailable\n");
        }
        ok = respond(q, c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", buf, len, NULL, false);
        free(buf);
        return ok;
}

/* Route a complete request. PATH is the raw path (no query). */
static enum MHD_Result route(struct req *q, struct MHD_Connection *c, const char *method) {
        char path[PATH_MAX_LEN + 1], *seg[4];
        const char *raw = q->target;
        size_t n = 0, plen;
        bool get = streq(method, "GET") || streq(method, "HEAD");

        if (!raw || raw[0] != '/')
                return respond_text(q, c, MHD_HTTP_NOT_FOUND, "not found\n");
        plen = strcspn(raw, "?#");
        if (plen > PATH_MAX_LEN)
                return respond_text(q, c, MHD_HTTP_NOT_FOUND, "not found\n");
        memcpy(path, raw, plen);
        path[plen] = '\0';

        /* "/a/b/c" -> "a", "b", "c"; empty segments count, so "//" and a
         * trailing "/" match nothing. */
        for (char *p = path + 1; n < ELEMENTSOF(seg);) {
                char *slash = strchr(p, '/');
                seg[n++] = p;
                if (!slash)
                        break;
                *slash = '\0';
                p = slash + 1;
                if (n == ELEMENTSOF(seg))
                        return respond_text(q, c, MHD_HTTP_NOT_FOUND, "not found\n");
        }

        if (n == 1 && streq(seg[0], "healthz")) {
                if (!get)
                        return respond_405(q, c, "GET, HEAD");
                if (q->h->hooks.healthy(q->h->hooks.userdata))
                        return respond_text(q, c, MHD_HTTP_OK, "ok\n");
                return respond_text(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "unhealthy\n");
        }
        if (n == 1 && streq(seg[0], "readyz")) {
                /* For a monitor that sees only the status code: 503 while
                 * messages cannot go out (the ready hook). */
                char why[200], body[256];
                if (!get)
                        return respond_405(q, c, "GET, HEAD");
                if (q->h->hooks.ready(q->h->hooks.userdata, why, sizeof(why)))
                        return respond_text(q, c, MHD_HTTP_OK, "ready\n");
                snprintf(body, sizeof(body), "not ready: %s\n", why);
                return respond_text(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, body);
        }
        if (n == 1 && streq(seg[0], "metrics")) {
                if (!get)
                        return respond_405(q, c, "GET, HEAD");
                return route_metrics(q, c);
        }
        if (n == 3 && streq(seg[0], "sms") && (streq(seg[2], "inbound") || streq(seg[2], "receipt")))
                return route_sms(q, c, method, seg[1], streq(seg[2], "receipt"));
        if (n == 3 && streq(seg[0], "a") && (streq(seg[2], "yes") || streq(seg[2], "no")))
                return route_answer(q, c, method, seg[1], streq(seg[2], "yes") ? ANSWER_YES : ANSWER_NO, false);
        if (n == 3 && streq(seg[0], "a") && streq(seg[2], "ok"))
                return route_answer(q, c, method, seg[1], ANSWER_YES, true);
        return respond_text(q, c, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* ---- libmicrohttpd callbacks ---- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
        struct req *q = calloc(1, sizeof(*q));

        if (!q)
                return NULL;
        q->h = cls;
        q->target = strdup(uri ?: "");
        if (!q->target) {
                free(q);
                return NULL;
        }
        return q;
}

/* Our record of connection C (NULL when MHD did not tell us of it). */
static struct hconn *conn_of(struct MHD_Connection *c) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return ci ? ci->socket_context : NULL;
}

static bool parse_length(const char *p, unsigned long long *ret) {
        unsigned long long n = 0;
        size_t digits = 0;

        while (*p == ' ' || *p == '\t')
                p++;
        for (; *p >= '0' && *p <= '9'; p++, digits++) {
                if (n > (ULLONG_MAX - 9) / 10)
                        return false;
                n = n * 10 + (unsigned) (*p - '0');
        }
        while (*p == ' ' || *p == '\t')
                p++;
        *ret = n;
        return digits > 0 && !*p;
}

bool http_content_length_conflict(const char *a, const char *b) {
        /* Equal numbers are one length written twice (leading zeros and
         * blanks aside); anything else, or a value that is no number, is a
         * conflict. */
        unsigned long long x, y;

        return !parse_length(a, &x) || !parse_length(b, &y) || x != y;
}

struct cl_scan {
        const char *first;
        bool conflict;
};

static enum MHD_Result on_header_cl(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        struct cl_scan *scan = cls;

        if (!key || strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
                return MHD_YES;
        if (!scan->first)
                scan->first = value ?: "";
        else if (http_content_length_conflict(scan->first, value ?: ""))
                scan->conflict = true;
        return MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
        struct http *h = cls;
        struct hconn *hc = *socket_context;

        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
                hc = calloc(1, sizeof(*hc));
                if (!hc)
                        return; /* untracked: MHD's own idle timeout still closes it */
                hc->h = h;
                hc->fd = ci ? ci->connect_fd : -1;
                hc->since = event_now_usec(h->event, CLOCK_MONOTONIC);
                hc->next = h->conns;
                if (h->conns)
                        h->conns->prev = hc;
                h->conns = hc;
                h->n_conns++;
                *socket_context = hc;
                return;
        }
        if (!hc)
                return;
        if (hc->prev)
                hc->prev->next = hc->next;
        else
                h->conns = hc->next;
        if (hc->next)
                hc->next->prev = hc->prev;
        h->n_conns--;
        free(hc);
        *socket_context = NULL;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
        struct req *q = *con_cls;
        struct hconn *hc = c ? conn_of(c) : NULL;

        if (hc && hc->in_request) { /* kept alive: the next head has HEAD_DEADLINE again */
                hc->in_request = false;
                hc->since = event_now_usec(((struct http *) cls)->event, CLOCK_MONOTONIC);
        }
        if (!q)
                return;
        free(q->target);
        free(q->body);
        free(q);
        *con_cls = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
        struct req *q = *con_cls;

        if (!q)
                return MHD_NO; /* out of memory in on_uri: drop the connection */

        if (!q->started) {
                const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                struct cl_scan scan = {};
                struct hconn *hc = conn_of(c);
                q->started = true;
                if (hc) { /* the head is in: the body deadline starts */
                        hc->in_request = true;
                        hc->since = event_now_usec(q->h->event, CLOCK_MONOTONIC);
                }
                /* MHD 0.9.75 keeps every Content-Length and reads the body
                 * by the first: two that disagree are a smuggling attempt
                 * (a proxy in front may have used the other). */
                (void) MHD_get_connection_values(c, MHD_HEADER_KIND, on_header_cl, &scan);
                if (scan.conflict)
                        return respond_text(q, c, MHD_HTTP_BAD_REQUEST, "conflicting Content-Length\n");
                /* A big declared body is refused before it is read (a client
                 * that sent "Expect: 100-continue" never sends it). */
                if (cl && strlen(cl) > 7)
                        return respond_text(q, c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
                if (cl && strtoul(cl, NULL, 10) > DISCARD_MAX)
                        return respond_text(q, c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
                return MHD_YES;
        }

        if (*upload_size > 0) {
                size_t n = *upload_size;
                *upload_size = 0;
                q->seen += n;
                /* Up to DISCARD_MAX is read and dropped, so the 413 reaches
                 * a client that is still sending; beyond that the
                 * connection is cut. */
                if (q->seen > DISCARD_MAX)
                        return MHD_NO;
                if (q->too_large || q->len + n > BODY_MAX) {
                        q->too_large = true;
                        return MHD_YES;
                }
                if (q->len + n + 1 > q->cap) {
                        size_t cap = q->cap ? q->cap : 1024;
                        while (cap < q->len + n + 1)
                                cap *= 2;
                        char *b = realloc(q->body, cap);
                        if (!b)
                                return MHD_NO;
                        q->body = b;
                        q->cap = cap;
                }
                memcpy(q->body + q->len, upload, n);
                q->len += n;
                q->body[q->len] = '\0';
                return MHD_YES;
        }

        if (q->too_large)
                return respond_text(q, c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
        return route(q, c, method);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        char buf[256];

        /* MHD's messages may quote a request: debug level only. */
        if (log_max_level() < LOG_DEBUG)
                return;
        vsnprintf(buf, sizeof(buf), fmt, ap);
        buf[strcspn(buf, "\n")] = '\0';
        log_debug("libmicrohttpd: %s", LOG_ESC(buf));
}

/* ---- the listener on the loop ---- */

static void mhd_rearm(struct http *h) {
        MHD_UNSIGNED_LONG_LONG ms = 0;
        int r;

        if (MHD_get_timeout(h->mhd, &ms) != MHD_YES) {
                (void) sd_event_source_set_enabled(h->mhd_timer, SD_EVENT_OFF);
                return;
        }
        if (ms > 24ULL * 3600 * 1000)
                ms = 24ULL * 3600 * 1000;
        r = sd_event_source_set_time(h->mhd_timer, event_now_usec(h->event, CLOCK_MONOTONIC) + (uint64_t) ms * 1000);
        if (r >= 0)
                r = sd_event_source_set_enabled(h->mhd_timer, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "Cannot arm the HTTP timer: %m");
}

bool http_conn_overdue(bool in_request, uint64_t since, uint64_t now) {
        return now > since && now - since > (in_request ? BODY_DEADLINE : HEAD_DEADLINE);
}

static void conn_cut(struct hconn *hc) {
        /* MHD owns the fd: shut it down, do not close it. MHD sees the
         * hang-up on its next run and closes the connection itself. */
        if (hc->fd >= 0)
                (void) shutdown(hc->fd, SHUT_RDWR);
        hc->cut = true;
}

/* Cut connections past their deadline, and when nearly every slot is
 * taken the oldest ones still sending their head, so a client that
 * arrives now gets in (slowloris from many addresses). */
static unsigned conns_sweep(struct http *h) {
        uint64_t now = event_now_usec(h->event, CLOCK_MONOTONIC);
        unsigned live = 0, n = 0;

        for (struct hconn *hc = h->conns; hc; hc = hc->next) {
                if (hc->cut)
                        continue;
                if (http_conn_overdue(hc->in_request, hc->since, now)) {
                        conn_cut(hc);
                        h->n_cut_deadline++;
                        n++;
                } else
                        live++;
        }
        while (live + CONN_RESERVE > CONN_LIMIT) {
                struct hconn *oldest = NULL;
                for (struct hconn *hc = h->conns; hc; hc = hc->next)
                        if (!hc->cut && !hc->in_request && now - hc->since >= EVICT_MIN_AGE &&
                            (!oldest || hc->since < oldest->since))
                                oldest = hc;
                if (!oldest)
                        break;
                conn_cut(oldest);
                h->n_cut_evicted++;
                live--;
                n++;
        }
        return n;
}

/* One turn of MHD. It puts the listening socket back into its epoll set
 * (taken out at CONN_LIMIT) only at the start of MHD_run() and frees
 * closed connections at the end: after a run that closed any, run again,
 * or the socket stays out until something else wakes us (that was the
 * wedge: every connection closed at once, nothing left to wake us). */
static void mhd_step(struct http *h) {
        for (unsigned i = 0; i < 16; i++) {
                unsigned before = h->n_conns;
                (void) MHD_run(h->mhd);
                if (conns_sweep(h) == 0 && h->n_conns >= before)
                        break;
        }
        mhd_rearm(h);
}

static int on_mhd_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        mhd_step(userdata);
        return 0;
}

static int on_mhd_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        mhd_step(userdata);
        return 0;
}

static bool listen_pending(struct http *h) {
        struct pollfd p = { .fd = h->listen_fd, .events = POLLIN };
        return h->listen_fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

/* Every TICK_USEC: deadlines, an MHD turn whatever MHD asked for, and a
 * look at the listening socket: connections waiting in its queue after
 * our own turn, for STALL_USEC, mean we are not accepting. /healthz says
 * so (if it gets through at all), and so do the journal and /metrics. */
static int on_mhd_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        struct http *h = userdata;
        uint64_t now;

        mhd_step(h);
        now = event_now_usec(h->event, CLOCK_MONOTONIC);
        if (!listen_pending(h))
                h->pending_since = 0;
        else if (!h->pending_since)
                h->pending_since = now;
        if (!h->stalled && h->pending_since && now - h->pending_since >= STALL_USEC) {
                char n[32];
                const char *fields[] = { n, NULL };
                snprintf(n, sizeof(n), "BEREDD_HTTP_CONNECTIONS=%u", h->n_conns);
                h->stalled = true;
                log_event(LOG_ERR, MSGID_HTTP_STALLED, fields,
                          "The HTTP listener on %s is not accepting connections: clients have waited %" PRIu64
                          " s (%u of %u connections open%s); SMS answers and receipts are not coming in",
                          h->listen ?: "?", (now - h->pending_since) / USEC_PER_SEC, h->n_conns, CONN_LIMIT,
                          h->n_conns >= CONN_LIMIT ? ", at the limit" : ", accept is failing");
        } else if (h->stalled && !h->pending_since) {
                h->stalled = false;
                log_event(LOG_NOTICE, MSGID_HTTP_STALLED, NULL, "The HTTP listener on %s is accepting connections again",
                          h->listen ?: "?");
        }
        (void) sd_event_source_set_time(s, usec + TICK_USEC > now ? usec + TICK_USEC : now + TICK_USEC);
        return 0;
}

bool http_accepting(const struct http *h) {
        return !h || !h->stalled;
}

static int listen_socket(const char *host, int port) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } a = {};
        socklen_t alen;
        int fd, one = 1;

        if (strchr(host, ':')) {
                a.in6.sin6_family = AF_INET6;
                a.in6.sin6_port = htons((uint16_t) port);
                if (inet_pton(AF_INET6, host, &a.in6.sin6_addr) != 1)
                        return -EINVAL;
                alen = sizeof(a.in6);
        } else {
                a.in.sin_family = AF_INET;
                a.in.sin_port = htons((uint16_t) port);
                if (inet_pton(AF_INET, host, &a.in.sin_addr) != 1)
                        return -EINVAL;
                alen = sizeof(a.in);
        }
        fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (a.sa.sa_family == AF_INET6)
                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, &a.sa, alen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
                int r = negative_errno();
                close(fd);
                return r;
        }
        return fd;
}

static int listener_start(struct http *h) {
        const struct http_conf *hc = &h->cfg->http;
        const union MHD_DaemonInfo *info;
        int fd, r;

        fd = listen_socket(hc->listen_host, hc->listen_port);
        if (fd < 0)
                return log_error_errno(fd, "Cannot listen for HTTP on %s: %m", hc->listen);

        /* No MHD_USE_INTERNAL_POLLING_THREAD, no thread per connection:
         * MHD only does work inside MHD_run(), called from our loop. */
        h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, h,
                                  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, /* first: MHD may log while parsing the rest */
                                  MHD_OPTION_LISTEN_SOCKET, (MHD_socket) fd,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned int) CONN_LIMIT,
                                  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int) PER_IP_LIMIT,
                                  MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                                  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) CONN_MEMORY,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) CONN_TIMEOUT,
                                  MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                  MHD_OPTION_END);
        if (!h->mhd) {
                /* MHD closes a socket handed to it only once it started. */
                close(fd);
                return log_error_errno(EIO, "Cannot start the HTTP listener on %s", hc->listen);
        }
        h->listen_fd = fd;
        info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info || info->epoll_fd < 0)
                return log_error_errno(EIO, "The HTTP listener has no epoll fd");
        r = sd_event_add_io(h->event, &h->mhd_io, info->epoll_fd, EPOLLIN, on_mhd_io, h);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the HTTP listener: %m");
        (void) sd_event_source_set_description(h->mhd_io, "http-io");
        /* Accuracy 1 us: the default 250 ms would hold back buffered work. */
        r = sd_event_add_time(h->event, &h->mhd_timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_mhd_timer, h);
        if (r < 0)
                return log_error_errno(r, "Cannot add the HTTP timer: %m");
        (void) sd_event_source_set_description(h->mhd_timer, "http-timer");
        r = sd_event_add_time(h->event, &h->mhd_tick, CLOCK_MONOTONIC,
                              event_now_usec(h->event, CLOCK_MONOTONIC) + TICK_USEC, 1, on_mhd_tick, h);
        if (r >= 0)
                r = sd_event_source_set_enabled(h->mhd_tick, SD_EVENT_ON);
        if (r < 0)
                return log_error_errno(r, "Cannot add the HTTP tick: %m");
        (void) sd_event_source_set_description(h->mhd_tick, "http-tick");
        mhd_rearm(h);
        h->listen = strdup(hc->listen);
        if (!h->listen)
                return log_error_errno(ENOMEM, "Out of memory");
        log_info("Listening for HTTP on %s%s%s", hc->listen, hc->public_url ? ", public URL " : "",
                 hc->public_url ? hc->public_url : "");
        return 0;
}

/* ---- heartbeat ---- */

static size_t on_hb_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        return size * nmemb; /* the answer does not matter */
}

/* The beat ended (from curl-util.c). */
static void on_hb_done(void *userdata, CURL *easy, CURLcode rc) {
        struct http *h = userdata;
        long code = 0;

        if (easy != h->hb)
                return;
        (void) curl_easy_getinfo(h->hb, CURLINFO_RESPONSE_CODE, &code);
        curl_glue_remove(h->curl, h->hb);
        curl_easy_cleanup(h->hb);
        h->hb = NULL;
        /* The URL may carry a secret (a dead-man's-switch id): it is not
         * logged. */
        if (rc == CURLE_OK && code >= 200 && code < 300) {
                h->hb_ok++;
                if (h->hb_failing)
                        log_notice("Heartbeat delivered again");
                else
                        log_debug("Heartbeat delivered");
                h->hb_failing = false;
        } else {
                h->hb_failed++;
                if (!h->hb_failing) {
                        if (rc != CURLE_OK)
                                log_warning("Heartbeat failed: %s", curl_easy_strerror(rc));
                        else
                                log_warning("Heartbeat failed: HTTP status %ld", code);
                }
                h->hb_failing = true;
        }
}

static void hb_start(struct http *h) {
        long ms = (long) (HEARTBEAT_TIMEOUT / 1000);
        CURL *e;

        if (h->hb) {
                log_debug("Heartbeat still in flight; this one is skipped");
                return;
        }
        if (h->hb_every / 1000 < (uint64_t) ms)
                ms = (long) (h->hb_every / 1000) > 0 ? (long) (h->hb_every / 1000) : 1;
        e = curl_easy_init();
        if (!e)
                return;
        if (curl_easy_setopt(e, CURLOPT_URL, h->hb_url) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_USERAGENT, "beredd/" PACKAGE_VERSION) != CURLE_OK ||
#if LIBCURL_VERSION_NUM >= 0x075500
            curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
#else
            curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS)) != CURLE_OK ||
#endif
            curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_hb_write) != CURLE_OK ||
            curl_glue_add(h->curl, e) < 0) {
                curl_easy_cleanup(e);
                log_warning("Heartbeat: cannot set up the request");
                return;
        }
        h->hb = e;
}

static void hb_arm(struct http *h, uint64_t when) {
        int r = sd_event_source_set_time(h->hb_timer, when);
        if (r >= 0)
                r = sd_event_source_set_enabled(h->hb_timer, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "Cannot arm the heartbeat timer: %m");
}

static int on_hb_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct http *h = userdata;

        if (!h->hb_url)
                return 0;
        /* A beat says "all is well": not while answers cannot get in. */
        if (h->stalled)
                log_warning("Heartbeat skipped: the HTTP listener is not accepting connections");
        else
                hb_start(h);
        /* After a suspend, one beat now and the rhythm from here, not a
         * burst of the missed ones. */
        uint64_t now = event_now_usec(h->event, CLOCK_MONOTONIC);
        hb_arm(h, usec + h->hb_every > now ? usec + h->hb_every : now + h->hb_every);
        return 0;
}

static int heartbeat_setup(struct http *h) {
        int r;

        r = curl_glue_new(h->event, "heartbeat", on_hb_done, h, &h->curl);
        if (r < 0)
                return r;
        r = sd_event_add_time(h->event, &h->hb_timer, CLOCK_MONOTONIC, UINT64_MAX, USEC_PER_SEC, on_hb_timer, h);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(h->hb_timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(h->hb_timer, "heartbeat");
        return 0;
}

/* Take the heartbeat settings of the current configuration; the first beat
 * goes out at once after a start or a change. */
static void heartbeat_apply(struct http *h) {
        const struct http_conf *hc = &h->cfg->http;
        const char *url = hc->enabled ? hc->heartbeat_url : NULL;
        bool same = (!url && !h->hb_url) || (url && h->hb_url && streq(url, h->hb_url) && hc->heartbeat_every == h->hb_every);

        if (same)
                return;
        free(h->hb_url);
        h->hb_url = NULL;
        if (!url) {
                (void) sd_event_source_set_enabled(h->hb_timer, SD_EVENT_OFF);
                log_info("Heartbeat off");
                return;
        }
        h->hb_url = strdup(url);
        if (!h->hb_url) {
                log_error_errno(ENOMEM, "Heartbeat off: out of memory");
                return;
        }
        h->hb_every = hc->heartbeat_every > 0 ? hc->heartbeat_every : 5 * USEC_PER_MIN;
        h->hb_failing = false;
        hb_arm(h, event_now_usec(h->event, CLOCK_MONOTONIC));
        log_info("Heartbeat every %" PRIu64 " s", h->hb_every / USEC_PER_SEC);
}

/* ---- public ---- */

int http_new(sd_event *e, const struct config *cfg, const struct http_hooks *hooks, struct http **ret) {
        struct http *h;
        int r;

        if (!e || !cfg || !hooks || !ret)
                return -EINVAL;
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        *h = (struct http) { .event = sd_event_ref(e), .cfg = cfg, .hooks = *hooks, .listen_fd = -1 };

        r = heartbeat_setup(h);
        if (r < 0) {
                log_error_errno(r, "Cannot set up the heartbeat: %m");
                goto fail;
        }
        if (cfg->http.enabled && cfg->http.listen) {
                r = listener_start(h);
                if (r < 0)
                        goto fail;
        }
        heartbeat_apply(h);
        *ret = h;
        return 0;
fail:
        http_free(h);
        return r;
}

void http_free(struct http *h) {
        if (!h)
                return;
        /* MHD calls on_completed for open connections as it stops. */
        if (h->mhd)
                MHD_stop_daemon(h->mhd);
        sd_event_source_disable_unref(h->mhd_io);
        sd_event_source_disable_unref(h->mhd_timer);
        sd_event_source_disable_unref(h->mhd_tick);
        if (h->hb) {
                curl_glue_remove(h->curl, h->hb);
                curl_easy_cleanup(h->hb);
        }
        curl_glue_free(h->curl);
        sd_event_source_disable_unref(h->hb_timer);
        free(h->hb_url);
        free(h->listen);
        sd_event_unref(h->event);
        free(h);
}

void http_set_config(struct http *h, const struct config *cfg) {
        const char *want;

        if (!h || !cfg)
                return;
        h->cfg = cfg;
        want = cfg->http.enabled ? cfg->http.listen : NULL;
        if ((want || h->listen) && !(want && h->listen && streq(want, h->listen)))
                log_notice("http.listen changed (now %s, was %s): restart beredd to apply it", want ? want : "off",
                           h->listen ? h->listen : "off");
        heartbeat_apply(h);
}
