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
 * escaped "/" can never make two segments out of one. /healthz, /readyz
 * and /metrics are answered here; the answer-link pages in http-page.c, the
 * SMS webhooks in http-webhook.c (their parsers in http-parse.c).
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

#include "curl-util.h"
#include "http-internal.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "text.h"

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

/* ---- responses ---- */

static void count_code(struct http *h, unsigned code) {
        for (size_t i = 0; i < ELEMENTSOF(counted_codes); i++)
                if (counted_codes[i] == code) {
                        h->n_code[i]++;
                        return;
                }
        h->n_other++;
}

enum MHD_Result http_respond(struct req *q, struct MHD_Connection *c, unsigned code, const char *type,
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

enum MHD_Result http_respond_text(struct req *q, struct MHD_Connection *c, unsigned code, const char *text) {
        return http_respond(q, c, code, "text/plain; charset=utf-8", text, strlen(text), NULL, false);
}

enum MHD_Result http_respond_json(struct req *q, struct MHD_Connection *c, unsigned code, const char *error,
                                    const char *extra) {
        char buf[256];

        reply_fixed(buf, sizeof(buf), error, extra, "\n");
        return http_respond(q, c, code, "application/json", buf, strlen(buf), NULL, false);
}

enum MHD_Result http_respond_405(struct req *q, struct MHD_Connection *c, const char *allow) {
        static const char msg[] = "method not allowed\n";
        return http_respond(q, c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", msg, sizeof(msg) - 1, allow,
                       false);
}

void http_markup_escape(FILE *f, const char *s, bool quotes) {
        for (; s && *s; s++) {
                const char *e = text_markup_entity(*s, quotes);
                if (e)
                        fputs(e, f);
                else
                        fputc(*s, f);
        }
}


static enum MHD_Result route_metrics(struct req *q, struct MHD_Connection *c) {
        struct http *h = q->h;
        _cleanup_free_ char *base = h->hooks.metrics(h->hooks.userdata);
        char *buf = NULL;
        size_t len = 0;
        FILE *f;
        enum MHD_Result ok;

        if (!base)
                return http_respond_text(q, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics unavailable\n");
        f = open_memstream(&buf, &len);
        if (!f)
                return http_respond_text(q, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics unavailable\n");
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
                return http_respond_text(q, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics unavailable\n");
        }
        ok = http_respond(q, c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", buf, len, NULL, false);
        free(buf);
        return ok;
}

/* Route a complete request. PATH is the raw path (no query). */
static enum MHD_Result route(struct req *q, struct MHD_Connection *c, const char *method) {
        char path[PATH_MAX_LEN + 1], *seg[4];
        const char *raw = q->target;
        size_t n = 0, plen;
        bool get = streq(method, "GET") || streq(method, "HEAD");

        q->cfg = q->h->cfg;
        q->hooks = &q->h->hooks;

        if (!raw || raw[0] != '/')
                return http_respond_text(q, c, MHD_HTTP_NOT_FOUND, "not found\n");
        plen = strcspn(raw, "?#");
        if (plen > PATH_MAX_LEN)
                return http_respond_text(q, c, MHD_HTTP_NOT_FOUND, "not found\n");
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
                        return http_respond_text(q, c, MHD_HTTP_NOT_FOUND, "not found\n");
        }

        if (n == 1 && streq(seg[0], "healthz")) {
                if (!get)
                        return http_respond_405(q, c, "GET, HEAD");
                if (q->h->hooks.healthy(q->h->hooks.userdata))
                        return http_respond_text(q, c, MHD_HTTP_OK, "ok\n");
                return http_respond_text(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "unhealthy\n");
        }
        if (n == 1 && streq(seg[0], "readyz")) {
                /* For a monitor that sees only the status code: 503 while
                 * messages cannot go out (the ready hook). */
                char why[200], body[256];
                if (!get)
                        return http_respond_405(q, c, "GET, HEAD");
                if (q->h->hooks.ready(q->h->hooks.userdata, why, sizeof(why)))
                        return http_respond_text(q, c, MHD_HTTP_OK, "ready\n");
                snprintf(body, sizeof(body), "not ready: %s\n", why);
                return http_respond_text(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, body);
        }
        if (n == 1 && streq(seg[0], "metrics")) {
                if (!get)
                        return http_respond_405(q, c, "GET, HEAD");
                return route_metrics(q, c);
        }
        if (n == 3 && streq(seg[0], "sms") && (streq(seg[2], "inbound") || streq(seg[2], "receipt")))
                return http_route_sms(q, c, method, seg[1], streq(seg[2], "receipt"));
        if (n == 3 && streq(seg[0], "voice") && streq(seg[2], "status"))
                return http_route_voice(q, c, method, seg[1], NULL);
        if (n == 4 && streq(seg[0], "voice") && streq(seg[2], "answer"))
                return http_route_voice(q, c, method, seg[1], seg[3]);
        if (n == 3 && streq(seg[0], "a") && (streq(seg[2], "yes") || streq(seg[2], "no")))
                return http_route_answer(q, c, method, seg[1], streq(seg[2], "yes") ? ANSWER_YES : ANSWER_NO, false);
        if (n == 3 && streq(seg[0], "a") && streq(seg[2], "ok"))
                return http_route_answer(q, c, method, seg[1], ANSWER_YES, true);
        if (n == 3 && streq(seg[0], "s") && (streq(seg[2], "ok") || streq(seg[2], "away")))
                return http_route_survey(q, c, method, seg[1], streq(seg[2], "away"));
        return http_respond_text(q, c, MHD_HTTP_NOT_FOUND, "not found\n");
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
                        return http_respond_text(q, c, MHD_HTTP_BAD_REQUEST, "conflicting Content-Length\n");
                /* A big declared body is refused before it is read (a client
                 * that sent "Expect: 100-continue" never sends it). */
                if (cl && strlen(cl) > 7)
                        return http_respond_text(q, c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
                if (cl && strtoul(cl, NULL, 10) > DISCARD_MAX)
                        return http_respond_text(q, c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
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
                return http_respond_text(q, c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
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
                log_event(LOG_NOTICE, MSGID_HTTP_ACCEPTING, NULL, "The HTTP listener on %s is accepting connections again",
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
        e = curl_glue_ready(h->curl) >= 0 ? curl_easy_init() : NULL;
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
