/* gateway.c - SMS and e-mail gateways on the sd-event loop.
 *
 * One CURLM carries every HTTP and SMTP transfer, on the loop through
 * curl-util.c (the shape of systemd's src/import/curl-util.c): finished
 * transfers come back in on_transfer_done(). Nothing here blocks, except the
 * file gateway's fsync'ed write into the spool, which every spool write does.
 *
 * A message (struct msg) lives from gateway_send() until its callback has
 * run. It remembers the ids of the gateways serving its channel, in
 * configuration order, and walks them: each gets gw->retries attempts, with
 * exponential backoff and full jitter between them (or the server's
 * Retry-After), then the next gateway takes over. Every attempt copies its
 * gateway, so a reload never pulls a struct from under a running transfer;
 * the next failover looks the id up in the configuration of that moment.
 *
 * Outcomes are handed to callers from a defer source, never from inside
 * gateway_send(): the caller's state is always consistent when it hears back.
 *
 * Retry timing: the backoff base is 1 s (cap 30 x base) unless the
 * environment variable BEREDD_GW_BACKOFF_MS says otherwise when the gateways
 * are created, or gateways_set_backoff() is called: tests use 10 ms.
 *
 * Nothing personal is logged: person id and idempotency key only (a
 * follow-up key without its case reference). Response
 * bodies are never logged (providers echo the number and the text). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "curl-util.h"
#include "gateway.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "text.h"

#define RESP_MAX         (64 * 1024)          /* response bytes kept for parsing */
#define BACKOFF_BASE     (1 * USEC_PER_SEC)
#define BACKOFF_CAP_MULT 30                   /* cap = 30 x base (30 s) */
#define RETRY_AFTER_MAX  (60 * USEC_PER_SEC)
#define CONNECT_TIMEOUT  (10 * USEC_PER_SEC)  /* at most; never above the request timeout */
#define MAX_HOST_CONNS   32
#define MAX_CONNECTS     64
/* Transfers handed to curl at once; more wait in our own queue. curl counts
 * the time a transfer waits for a free connection against CURLOPT_TIMEOUT_MS,
 * so handing it 10,000 at once would time out the tail of a big fan-out
 * before it was ever sent. */
#define MAX_ACTIVE       (4 * MAX_HOST_CONNS)
#define TWILIO_VALIDITY_MAX 36000             /* seconds; Twilio's documented range is 1..36000 */
#define DEFAULT_VALIDITY 86400                /* {validity} when the caller set none */

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

/* How one attempt ended. */
enum outcome {
        OUT_SENT,
        OUT_TEMP,      /* worth retrying on the same gateway: timeout, connection, 5xx, 429 */
        OUT_GATEWAY,   /* this gateway cannot send (our configuration, auth): fail over now */
        OUT_PERMANENT, /* the recipient is refused: unreachable on this channel */
};

struct msg {
        struct gateways *g;
        struct msg *prev, *next; /* g->msgs: every live message */
        struct msg *q_next;      /* in g->start_q, g->wait_q or g->done_q */

        char *key, *person, *to, *subject, *text;
        char *cref; /* client reference for providers ({ref}, refId): m->ref, or the key */
        char *lkey; /* the key as logged (log_key()) */
        enum channel channel;
        uint64_t validity;
        gw_done_t done;
        void *userdata;
        uint64_t give_up;  /* CLOCK_MONOTONIC: no new round after this (0 = none) */
        bool (*wanted)(void *userdata, const char *key);
        bool waiting;      /* every gateway has failed it at least once: counted in n_waiting until done */
        uint64_t waiting_since; /* CLOCK_MONOTONIC: when it began waiting */
        bool parked;       /* x->timer starts the next round */
        unsigned rounds;

        char **ids; /* gateways serving the channel, configuration order */
        size_t n_ids, i_id;
        unsigned attempt;   /* attempts made on ids[i_id] in this round */
        struct gateway *gw; /* copy of ids[i_id] for the current attempt */

        CURL *easy;
        bool in_multi;
        CURLcode rc;        /* how the last transfer ended (for the gateway's health) */
        struct curl_slist *hdrs, *rcpt;
        char *req; /* request body / SMTP message */
        size_t req_len, req_off;
        char *resp;
        size_t resp_len;
        char errbuf[CURL_ERROR_SIZE];
        /* SMTP, from CURLOPT_DEBUGFUNCTION: the verb of the last command sent
         * ("" before the first: the greeting; "." after DATA's 354: the end
         * of data), and the last line of the last reply to it, its code and
         * its text without addresses (smtp_reply_clean). After QUIT nothing
         * is kept: curl says goodbye before it reports the transfer. */
        char smtp_verb[12];
        char smtp_text[112];
        int smtp_code;
        bool smtp_quit;
        sd_event_source *timer; /* backoff */

        bool finished;
        enum gw_result result;
        char error[160];
        char *ref;
};

struct gateways {
        sd_event *event;
        struct store *store;
        const struct config *cfg;
        struct curl_glue *curl;
        sd_event_source *defer;
        struct msg *msgs;
        unsigned n_msgs;
        unsigned n_waiting; /* of those, x->waiting */
        void (*waiting_hook)(void *userdata, unsigned waiting);
        void *waiting_userdata;
        struct msg *start_q, *start_tail, *wait_q, *wait_tail, *done_q, *done_tail;
        unsigned active; /* easy handles in the multi */
        uint64_t backoff_base;
        uint64_t rnd;
        struct health *health; /* one per configured gateway, configuration order */
        size_t n_health;
        void (*health_hook)(void *userdata);
        void *health_userdata;
        char *fqdn;      /* this machine's FQDN for EHLO, NULL = none */
};

/* ---- small helpers ---- */

static char *xstrdup0(const char *s) {
        return s ? strdup(s) : NULL;
}

static void gateway_copy_free(struct gateway *gw) {
        if (!gw)
                return;
        gateway_conf_done(gw);
        free(gw);
}

static struct gateway *gateway_copy(const struct gateway *src) {
        struct gateway *gw = calloc(1, sizeof(*gw));
        bool oom = false;

        if (!gw)
                return NULL;
        *gw = (struct gateway) {
                .channel = src->channel, .type = src->type, .success_min = src->success_min,
                .success_max = src->success_max, .timeout = src->timeout, .retries = src->retries,
                .starttls = src->starttls, .line = src->line,
        };
#define DUP(f)                                      \
        do {                                        \
                gw->f = xstrdup0(src->f);           \
                if (src->f && !gw->f)               \
                        oom = true;                 \
        } while (0)
        DUP(id);
        DUP(url);
        DUP(from);
        DUP(account);
        DUP(username);
        DUP(password);
        DUP(method);
        DUP(body);
        DUP(content_type);
        DUP(success_match);
        DUP(receipt_gate);
        DUP(helo);
#undef DUP
        if (src->n_headers > 0) {
                gw->headers = calloc(src->n_headers, sizeof(struct header_kv));
                if (!gw->headers)
                        oom = true;
                for (size_t i = 0; gw->headers && i < src->n_headers; i++) {
                        gw->headers[i].name = xstrdup0(src->headers[i].name);
                        gw->headers[i].value = xstrdup0(src->headers[i].value);
                        gw->n_headers++;
                        if (!gw->headers[i].name || !gw->headers[i].value)
                                oom = true;
                }
        }
        if (oom) {
                gateway_copy_free(gw);
                return NULL;
        }
        return gw;
}

static bool key_safe(const char *k) {
        size_t n = 0;

        if (!k || !*k || k[0] == '.')
                return false;
        for (; k[n]; n++)
                if (!isalnum((unsigned char) k[n]) && !strchr("._-", k[n]))
                        return false;
        return n <= 200;
}

static uint64_t rnd_next(struct gateways *g) {
        /* xorshift64*: jitter only, no secrecy needed. */
        g->rnd ^= g->rnd >> 12;
        g->rnd ^= g->rnd << 25;
        g->rnd ^= g->rnd >> 27;
        return g->rnd * UINT64_C(2685821657736338717);
}

/* Render TMPL with VARS into a fresh string; grows the buffer as needed. */
static int render_alloc(const char *tmpl, enum text_escape esc, const struct text_var *vars, size_t n_vars, char **ret,
                        char *err, size_t errlen) {
        size_t cap = 512 + strlen(tmpl) * 2;

        for (;;) {
                char *buf = malloc(cap);
                int r;

                if (!buf)
                        return -ENOMEM;
                r = text_template_render(tmpl, esc, vars, n_vars, buf, cap, err, errlen);
                if (r >= 0) {
                        *ret = buf;
                        return r;
                }
                free(buf);
                if (r != -ENOBUFS || cap >= 4 * 1024 * 1024)
                        return r;
                cap *= 4;
        }
}

static int escape_alloc(enum text_escape esc, const char *s, char **ret) {
        size_t cap = strlen(s) * 6 + 1; /* \u00XX is the longest expansion of one byte */
        char *buf = malloc(cap);
        int r;

        if (!buf)
                return -ENOMEM;
        r = text_escape(esc, s, strlen(s), buf, cap);
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        return r;
}

/* ---- message life cycle ---- */

static void kick_defer(struct gateways *g);

static void transfer_free(struct msg *x) {
        if (x->easy) {
                if (x->in_multi) {
                        curl_glue_remove(x->g->curl, x->easy);
                        x->in_multi = false;
                        x->g->active--;
                        if (x->g->wait_q)
                                kick_defer(x->g);
                }
                curl_easy_cleanup(x->easy);
                x->easy = NULL;
        }
        curl_slist_free_all(x->hdrs);
        x->hdrs = NULL;
        curl_slist_free_all(x->rcpt);
        x->rcpt = NULL;
        free(x->req);
        x->req = NULL;
        x->req_len = x->req_off = 0;
        x->smtp_verb[0] = x->smtp_text[0] = '\0';
        x->smtp_code = 0;
        x->smtp_quit = false;
        free(x->resp);
        x->resp = NULL;
        x->resp_len = 0;
        x->errbuf[0] = '\0';
        x->rc = CURLE_OK;
}

/* A follow-up reminder's key, "fu.<case>.<time>.<n>", names the case, which
 * stays out of the journal: it is logged as "fu.-.<time>.<n>". */
static char *log_key(const char *key) {
        if (strncmp(key, "fu.", 3) != 0)
                return strdup(key);
        const char *p = strrchr(key, '.');
        while (p > key + 2 && *--p != '.')
                ;
        char *s = NULL;
        return asprintf(&s, "fu.-%s", p > key + 2 ? p : "") < 0 ? NULL : s;
}

static void msg_free(struct msg *x) {
        if (!x)
                return;
        transfer_free(x);
        sd_event_source_disable_unref(x->timer);
        gateway_copy_free(x->gw);
        for (size_t i = 0; i < x->n_ids; i++)
                free(x->ids[i]);
        free(x->ids);
        free(x->key);
        free(x->cref);
        free(x->lkey);
        free(x->person);
        free(x->to);
        free(x->subject);
        if (x->text) {
                explicit_bzero(x->text, strlen(x->text));
                free(x->text);
        }
        free(x->ref);
        free(x);
}

static void msg_unlink(struct msg *x) {
        struct gateways *g = x->g;

        if (x->prev)
                x->prev->next = x->next;
        else
                g->msgs = x->next;
        if (x->next)
                x->next->prev = x->prev;
        x->prev = x->next = NULL;
        g->n_msgs--;
        if (x->waiting) {
                x->waiting = false;
                g->n_waiting--;
        }
}

static void queue_push(struct msg **head, struct msg **tail, struct msg *x) {
        x->q_next = NULL;
        if (*tail)
                (*tail)->q_next = x;
        else
                *head = x;
        *tail = x;
}

static struct msg *queue_pop(struct msg **head, struct msg **tail) {
        struct msg *x = *head;

        if (x) {
                *head = x->q_next;
                if (!*head)
                        *tail = NULL;
                x->q_next = NULL;
        }
        return x;
}

static void kick_defer(struct gateways *g) {
        int r = sd_event_source_set_enabled(g->defer, SD_EVENT_ONESHOT);
        if (r < 0)
                log_error_errno(r, "Gateways: cannot enable the dispatch source: %m");
}

static const char *cur_id(const struct msg *x) {
        if (x->gw && x->gw->id)
                return x->gw->id;
        if (x->n_ids > 0)
                return x->ids[x->i_id < x->n_ids ? x->i_id : x->n_ids - 1];
        return "-";
}

/* Record the final result; the callback runs from the defer source. */
static void waiting_changed(struct gateways *g);

static void complete(struct msg *x, enum gw_result result, const char *error, const char *ref) {
        transfer_free(x);
        if (x->waiting) {
                x->waiting = false;
                x->g->n_waiting--;
                if (result == GW_SENT)
                        log_info("Message %s (person %s) sent through %s after %u failed round(s)", x->lkey, x->person,
                                 cur_id(x), x->rounds);
                waiting_changed(x->g);
        }
        x->finished = true;
        x->result = result;
        snprintf(x->error, sizeof(x->error), "%s", error ? error : "");
        free(x->ref);
        x->ref = xstrdup0(ref);
        queue_push(&x->g->done_q, &x->g->done_tail, x);
        kick_defer(x->g);
}

static void start_attempt(struct msg *x);
static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void failover(struct msg *x, const char *error) {
        x->i_id++;
        x->attempt = 0;
        if (x->i_id < x->n_ids) {
                log_info("Message %s (person %s): failing over to gateway %s", x->lkey, x->person, x->ids[x->i_id]);
                start_attempt(x);
                return;
        }
        uint64_t now = event_now_usec(x->g->event, CLOCK_MONOTONIC), round = x->g->backoff_base * BACKOFF_CAP_MULT;
        x->rounds++;
        if (x->give_up && now + round <= x->give_up &&
            sd_event_add_time(x->g->event, &x->timer, CLOCK_MONOTONIC, now + round, 1, on_retry_timer, x) >= 0) {
                /* Kept: a gateway outage must not lose a call-out. One
                 * warning when the trouble starts (STATUS= counts the
                 * messages), not one per message per round. */
                x->parked = true;
                if (!x->waiting && x->g->n_waiting == 0)
                        log_event(LOG_WARNING, MSGID_GATEWAY_DOWN, NULL,
                                  "Gateways: every %s gateway failed for message %s, last %s: %s; messages are kept "
                                  "and tried again every %.1f s",
                                  channel_name(x->channel), x->lkey, cur_id(x), error, (double) round / USEC_PER_SEC);
                log_info("Message %s (person %s): every %s gateway failed (round %u), last %s: %s; trying again in "
                         "%.1f s",
                         x->lkey, x->person, channel_name(x->channel), x->rounds, cur_id(x), error,
                         (double) round / USEC_PER_SEC);
                if (!x->waiting) {
                        x->waiting = true;
                        x->waiting_since = now;
                        x->g->n_waiting++;
                        waiting_changed(x->g);
                }
                return;
        }
        log_warning("Message %s (person %s): every %s gateway failed, last %s: %s", x->lkey, x->person,
                    channel_name(x->channel), cur_id(x), error);
        complete(x, GW_FAILED, error, NULL);
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct msg *x = userdata;

        x->timer = sd_event_source_disable_unref(x->timer);
        if (x->parked) {
                x->parked = false;
                if (x->wanted && !x->wanted(x->userdata, x->key)) {
                        log_info("Message %s (person %s): no longer needed; not tried again", x->lkey, x->person);
                        complete(x, GW_FAILED, "no longer needed", NULL);
                        return 0;
                }
                log_info("Message %s (person %s): trying the %s gateways again (round %u)", x->lkey, x->person,
                         channel_name(x->channel), x->rounds + 1);
                x->i_id = 0;
                x->attempt = 0;
        }
        start_attempt(x);
        return 0;
}

static void health_note(struct msg *x, enum outcome out);

/* Decide what follows an attempt. RETRY_AFTER (usec, 0 = none) overrides the backoff. */
static void handle_outcome(struct msg *x, enum outcome out, const char *error, const char *ref, uint64_t retry_after) {
        struct gateways *g = x->g;
        int retries = x->gw && x->gw->retries > 0 ? x->gw->retries : 1;

        health_note(x, out);
        switch (out) {
        case OUT_SENT:
                log_debug("Message %s (person %s) sent through %s", x->lkey, x->person, cur_id(x));
                complete(x, GW_SENT, NULL, ref);
                return;
        case OUT_PERMANENT:
                log_notice("Message %s (person %s) refused by gateway %s: %s; unreachable on %s", x->lkey, x->person,
                           cur_id(x), error, channel_name(x->channel));
                complete(x, GW_UNREACHABLE, error, NULL);
                return;
        case OUT_GATEWAY:
                log_error("Gateway %s cannot send (check its configuration): %s; message %s (person %s)", cur_id(x),
                          error, x->lkey, x->person);
                transfer_free(x);
                failover(x, error);
                return;
        case OUT_TEMP:
                break;
        }

        transfer_free(x);
        if ((int) x->attempt >= retries) {
                /* Once per message: in an outage the rounds repeat it. */
                log_full(x->waiting ? LOG_INFO : LOG_WARNING, 0, NULL, NULL,
                         "Gateway %s: message %s (person %s) failed %u times, last: %s",
                         cur_id(x), x->lkey, x->person, x->attempt, error);
                failover(x, error);
                return;
        }

        uint64_t delay;
        if (retry_after > 0)
                delay = retry_after > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : retry_after;
        else {
                /* Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]. */
                uint64_t cap = g->backoff_base * BACKOFF_CAP_MULT, ceil = g->backoff_base;
                for (unsigned i = 1; i < x->attempt && ceil < cap; i++)
                        ceil *= 2;
                if (ceil > cap)
                        ceil = cap;
                delay = ceil > 0 ? rnd_next(g) % (ceil + 1) : 0;
        }
        log_info("Gateway %s: message %s (person %s) attempt %u/%d failed: %s; retrying in %" PRIu64 " ms",
                 cur_id(x), x->lkey, x->person, x->attempt, retries, error, delay / 1000);

        int r = sd_event_add_time(g->event, &x->timer, CLOCK_MONOTONIC, event_now_usec(g->event, CLOCK_MONOTONIC) + delay,
                                  1, on_retry_timer, x);
        if (r < 0) {
                log_error_errno(r, "Message %s: cannot arm the retry timer: %m", x->lkey);
                failover(x, error);
                return;
        }
        (void) sd_event_source_set_description(x->timer, "gateway-retry");
}

/* ---- file gateway ---- */

static void iso_now(char *buf, size_t len) {
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, (long) (ts.tv_nsec / 1000000) % 1000);
}

static void file_send(struct msg *x) {
        char ts[96], name[256], err[128];
        json_t *o;
        char *data;
        int r;

        iso_now(ts, sizeof(ts));
        o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "key", x->key, "channel", channel_name(x->channel), "person",
                      x->person, "to", x->to, "text", x->text, "ts", ts);
        if (!o) {
                handle_outcome(x, OUT_TEMP, "cannot build the outbox record", NULL, 0);
                return;
        }
        if (x->channel == CHANNEL_EMAIL)
                json_object_set_new(o, "subject", json_string(x->subject ? x->subject : ""));
        else {
                struct text_sms_info info = {};
                if (text_sms_count(x->text, strlen(x->text), &info) >= 0) {
                        json_object_set_new(o, "segments", json_integer((json_int_t) info.segments));
                        json_object_set_new(o, "encoding", json_string(info.encoding == TEXT_SMS_GSM7 ? "gsm" : "ucs2"));
                }
        }
        data = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!data) {
                handle_outcome(x, OUT_TEMP, "cannot build the outbox record", NULL, 0);
                return;
        }
        size_t len = strlen(data);
        snprintf(name, sizeof(name), "%s.json", x->key);
        /* One file per key, created exclusively: a resend after a crash finds
         * the file written before it and counts as sent. */
        r = store_create_atomic(x->g->store, STORE_OUTBOX, name, data, len);
        explicit_bzero(data, len);
        free(data);
        if (r >= 0 || r == -EEXIST) {
                if (r == -EEXIST)
                        log_info("Message %s (person %s) was already in the outbox", x->lkey, x->person);
                handle_outcome(x, OUT_SENT, NULL, NULL, 0);
                return;
        }
        snprintf(err, sizeof(err), "cannot write to the outbox: %s", strerror(-r));
        handle_outcome(x, OUT_TEMP, err, NULL, 0);
}

/* ---- curl transfers ---- */

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        struct msg *x = userdata;
        size_t n = size * nmemb, keep = n;

        if (x->resp_len + keep > RESP_MAX)
                keep = RESP_MAX - x->resp_len;
        if (keep > 0) {
                char *p = realloc(x->resp, x->resp_len + keep + 1);
                if (!p)
                        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
                memcpy(p + x->resp_len, ptr, keep);
                x->resp = p;
                x->resp_len += keep;
                x->resp[x->resp_len] = '\0';
        }
        return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata) {
        struct msg *x = userdata;
        size_t n = size * nitems, left = x->req_len - x->req_off;

        if (n > left)
                n = left;
        memcpy(buf, x->req + x->req_off, n);
        x->req_off += n;
        return n;
}

static int easy_common(struct msg *x, const char *url) {
        const struct gateway *gw = x->gw;
        long timeout_ms = (long) (gw->timeout / 1000), connect_ms;
        CURL *e = curl_easy_init();

        if (!e)
                return -ENOMEM;
        x->easy = e;
        if (timeout_ms <= 0)
                timeout_ms = 10000;
        connect_ms = timeout_ms < (long) (CONNECT_TIMEOUT / 1000) ? timeout_ms : (long) (CONNECT_TIMEOUT / 1000);

        if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_PRIVATE, x) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_USERAGENT, "beredd/" PACKAGE_VERSION) != CURLE_OK ||
#if LIBCURL_VERSION_NUM >= 0x075500
            curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps") != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK ||
#else
            curl_easy_setopt(e, CURLOPT_PROTOCOLS,
                             (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_SMTP | CURLPROTO_SMTPS)) != CURLE_OK ||
#endif
            curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK)
                return -EINVAL;
        return 0;
}

static int set_basic_auth(struct msg *x, const char *user, const char *password) {
        if (!user)
                return 0;
        if (curl_easy_setopt(x->easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_USERNAME, user) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_PASSWORD, password ? password : "") != CURLE_OK)
                return -EINVAL;
        return 0;
}

static int add_header(struct msg *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_header(struct msg *x, const char *fmt, ...) {
        va_list ap;
        char *h;
        struct curl_slist *l;

        va_start(ap, fmt);
        int r = vasprintf(&h, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        l = curl_slist_append(x->hdrs, h);
        free(h);
        if (!l)
                return -ENOMEM;
        x->hdrs = l;
        return 0;
}

static int set_post_body(struct msg *x, const char *method) {
        if (curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->req) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) x->req_len) != CURLE_OK)
                return -EINVAL;
        if (method && !streq(method, "POST") && curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK)
                return -EINVAL;
        return 0;
}

static uint64_t validity_seconds(const struct msg *x) {
        return (x->validity + USEC_PER_SEC - 1) / USEC_PER_SEC;
}

/* Generic HTTP profile: templates from the configuration. Returns 0, or an
 * outcome-worthy error in ERR with -EINVAL. */
static int build_http(struct msg *x, char *err, size_t errlen) {
        const struct gateway *gw = x->gw;
        bool get = gw->method && streq(gw->method, "GET");
        const char *ct = gw->content_type ? gw->content_type : "application/x-www-form-urlencoded";
        enum text_escape esc = strstr(ct, "json")                    ? TEXT_ESCAPE_JSON
                               : strstr(ct, "x-www-form-urlencoded") ? TEXT_ESCAPE_URL
                                                                     : TEXT_ESCAPE_NONE;
        char validity[24], terr[128] = "";
        _cleanup_free_ char *url = NULL;
        int r;

        snprintf(validity, sizeof(validity), "%" PRIu64, x->validity > 0 ? validity_seconds(x) : (uint64_t) DEFAULT_VALIDITY);
        const struct text_var vars[] = {
                { "to", x->to }, { "from", gw->from ? gw->from : "" }, { "text", x->text },
                { "ref", x->cref }, { "validity", validity }, { "username", gw->username ? gw->username : "" },
                { "password", gw->password ? gw->password : "" }, { "to_digits", x->to[0] == '+' ? x->to + 1 : x->to },
        };

        if (!gw->url) {
                snprintf(err, errlen, "no url");
                return -EINVAL;
        }
        r = render_alloc(gw->url, TEXT_ESCAPE_URL, vars, ELEMENTSOF(vars), &url, terr, sizeof(terr));
        if (r < 0) {
                snprintf(err, errlen, "url template: %s", terr[0] ? terr : strerror(-r));
                return -EINVAL;
        }
        if (!get) {
                r = render_alloc(gw->body ? gw->body : "", esc, vars, ELEMENTSOF(vars), &x->req, terr, sizeof(terr));
                if (r < 0) {
                        snprintf(err, errlen, "body template: %s", terr[0] ? terr : strerror(-r));
                        return -EINVAL;
                }
                x->req_len = (size_t) r;
        }
        r = easy_common(x, url);
        if (r < 0)
                goto fail;
        if (get)
                r = curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L) == CURLE_OK ? 0 : -EINVAL;
        else {
                r = set_post_body(x, gw->method);
                if (r >= 0)
                        r = add_header(x, "Content-Type: %s", ct);
        }
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < gw->n_headers; i++) {
                if (!text_header_safe(gw->headers[i].name) || !text_header_safe(gw->headers[i].value)) {
                        snprintf(err, errlen, "header %zu has CR/LF", i + 1);
                        return -EINVAL;
                }
                r = add_header(x, "%s: %s", gw->headers[i].name, gw->headers[i].value);
                if (r < 0)
                        goto fail;
        }
        r = set_basic_auth(x, gw->username, gw->password);
        if (r < 0)
                goto fail;
        return 0;
fail:
        snprintf(err, errlen, "cannot set up the request: %s", strerror(-r));
        return r;
}

static char *url_join(const char *base, const char *path) {
        size_t n = strlen(base);
        char *s;

        while (n > 0 && base[n - 1] == '/')
                n--;
        if (asprintf(&s, "%.*s%s", (int) n, base, path) < 0)
                return NULL;
        return s;
}

/* Twilio Messages API: POST {url}/2010-04-01/Accounts/{sid}/Messages.json,
 * form fields To, From (or MessagingServiceSid when "from" is an MG... SID),
 * Body, ValidityPeriod, and StatusCallback (the listener's receipt webhook,
 * {public_url}/sms/{id}/receipt) when the http section has a listener and a
 * public_url; basic auth SID:token. */
static int build_twilio(struct msg *x, char *err, size_t errlen) {
        const struct gateway *gw = x->gw;
        _cleanup_free_ char *sid = NULL, *path = NULL, *url = NULL, *to = NULL, *from = NULL, *body = NULL;
        int r;

        if (!gw->account || !gw->from || !gw->url) {
                snprintf(err, errlen, "twilio needs account, from and url");
                return -EINVAL;
        }
        if (escape_alloc(TEXT_ESCAPE_URL, gw->account, &sid) < 0 || escape_alloc(TEXT_ESCAPE_URL, x->to, &to) < 0 ||
            escape_alloc(TEXT_ESCAPE_URL, gw->from, &from) < 0 || escape_alloc(TEXT_ESCAPE_URL, x->text, &body) < 0) {
                snprintf(err, errlen, "cannot escape the form fields");
                return -EINVAL;
        }
        if (asprintf(&path, "/2010-04-01/Accounts/%s/Messages.json", sid) < 0 || !(url = url_join(gw->url, path)))
                return -ENOMEM;
        bool service = strncmp(gw->from, "MG", 2) == 0 && strlen(gw->from) == 34;
        r = asprintf(&x->req, "To=%s&%s=%s&Body=%s", to, service ? "MessagingServiceSid" : "From", from, body);
        if (r < 0) {
                x->req = NULL;
                return -ENOMEM;
        }
        x->req_len = (size_t) r;
        if (x->validity > 0) {
                uint64_t v = validity_seconds(x);
                char *s;
                if (v > TWILIO_VALIDITY_MAX)
                        v = TWILIO_VALIDITY_MAX;
                if (v < 1)
                        v = 1;
                r = asprintf(&s, "%s&ValidityPeriod=%" PRIu64, x->req, v);
                if (r < 0)
                        return -ENOMEM;
                free(x->req);
                x->req = s;
                x->req_len = (size_t) r;
        }
        const struct config *cfg = x->g->cfg;
        if (cfg && cfg->http.listen && cfg->http.public_url) {
                _cleanup_free_ char *cb = NULL, *cb_esc = NULL;
                char *s;
                if (asprintf(&cb, "%s/sms/%s/receipt", cfg->http.public_url, gw->id) < 0) {
                        cb = NULL;
                        return -ENOMEM;
                }
                if (escape_alloc(TEXT_ESCAPE_URL, cb, &cb_esc) < 0)
                        return -ENOMEM;
                r = asprintf(&s, "%s&StatusCallback=%s", x->req, cb_esc);
                if (r < 0)
                        return -ENOMEM;
                free(x->req);
                x->req = s;
                x->req_len = (size_t) r;
        }
        r = easy_common(x, url);
        if (r >= 0)
                r = set_post_body(x, "POST");
        if (r >= 0)
                r = add_header(x, "Content-Type: application/x-www-form-urlencoded");
        if (r >= 0)
                r = set_basic_auth(x, gw->account, gw->password);
        if (r < 0)
                snprintf(err, errlen, "cannot set up the request: %s", strerror(-r));
        return r;
}

/* Link Mobility SMS REST API ("Common" platform): POST {url}/sms/send with a
 * JSON body, HTTP basic auth username:password. Fields sent, and why:
 *   source            gw->from, the sender shown on the handset
 *   sourceTON         MSISDN for "+digits", SHORTNUMBER for up to 8 digits,
 *                     else ALPHANUMERIC (the API's default, max 11 chars)
 *   destination       the E.164 number ("+47...")
 *   userData          the text (UTF-8; the platform picks GSM or UCS-2)
 *   platformId        from gw->account, and
 *   platformPartnerId both are issued by Link Mobility support; the
 *                     configuration has one "account" setting, written
 *                     "PLATFORM_ID:PLATFORM_PARTNER_ID". Without a ':' the
 *                     whole value is the platformId and platformPartnerId
 *                     is left out (the platform will refuse; logged).
 *   refId             the idempotency key: the client reference that comes
 *                     back in delivery reports, so a resend is recognisable
 *   relativeValidityTime  the validity in milliseconds, when the caller set one
 *   useDeliveryReport true when the gateway names a receipt_gate, and
 *   deliveryReportGates [receipt_gate]: the gate (set up with Link Mobility
 *                     to POST to beredd's /sms/<id>/receipt) reports go to
 * The answer carries "messageId" (our provider_ref), "resultCode" and
 * "description". */
static int build_linkmobility(struct msg *x, char *err, size_t errlen) {
        const struct gateway *gw = x->gw;
        _cleanup_free_ char *url = NULL, *platform = NULL;
        const char *partner = NULL, *ton = "ALPHANUMERIC";
        json_t *o;
        int r;

        if (!gw->account || !gw->from || !gw->url) {
                snprintf(err, errlen, "linkmobility needs account, from and url");
                return -EINVAL;
        }
        platform = strdup(gw->account);
        if (!platform || !(url = url_join(gw->url, "/sms/send")))
                return -ENOMEM;
        char *colon = strchr(platform, ':');
        if (colon) {
                *colon = '\0';
                partner = colon + 1;
        }
        if (gw->from[0] == '+' && gw->from[1] && strspn(gw->from + 1, "0123456789") == strlen(gw->from + 1))
                ton = "MSISDN";
        else if (gw->from[0] && strspn(gw->from, "0123456789") == strlen(gw->from) && strlen(gw->from) <= 8)
                ton = "SHORTNUMBER";

        o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "source", gw->from, "sourceTON", ton, "destination", x->to,
                      "userData", x->text, "platformId", platform, "refId", x->cref, "useDeliveryReport",
                      gw->receipt_gate != NULL);
        if (!o)
                return -ENOMEM;
        if (partner && *partner)
                json_object_set_new(o, "platformPartnerId", json_string(partner));
        if (gw->receipt_gate)
                json_object_set_new(o, "deliveryReportGates", json_pack("[s]", gw->receipt_gate));
        if (x->validity > 0)
                json_object_set_new(o, "relativeValidityTime", json_integer((json_int_t) (x->validity / 1000)));
        x->req = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!x->req)
                return -ENOMEM;
        x->req_len = strlen(x->req);

        r = easy_common(x, url);
        if (r >= 0)
                r = set_post_body(x, "POST");
        if (r >= 0)
                r = add_header(x, "Content-Type: application/json");
        if (r >= 0)
                r = set_basic_auth(x, gw->username, gw->password);
        if (r < 0)
                snprintf(err, errlen, "cannot set up the request: %s", strerror(-r));
        return r;
}

/* ---- SMTP ---- */

static void rfc5322_date(char *buf, size_t len) {
        static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
        time_t t = time(NULL);
        struct tm tm;

        /* UTC, so no locale or time zone database is involved. */
        gmtime_r(&t, &tm);
        snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Append S[0..N) to the growing buffer *BUF. */
static int buf_put(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
        if (*len + n + 1 > *cap) {
                size_t c = *cap ? *cap : 1024;
                while (*len + n + 1 > c)
                        c *= 2;
                char *p = realloc(*buf, c);
                if (!p)
                        return -ENOMEM;
                *buf = p;
                *cap = c;
        }
        memcpy(*buf + *len, s, n);
        *len += n;
        (*buf)[*len] = '\0';
        return 0;
}

static int buf_puts(char **buf, size_t *len, size_t *cap, const char *s) {
        return buf_put(buf, len, cap, s, strlen(s));
}

/* Quoted-printable (RFC 2045 6.7) of one line without its line break. */
static int qp_line(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
        static const char hex[] = "0123456789ABCDEF";
        size_t col = 0;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                char enc[4];
                size_t k;
                bool last = i + 1 == n;

                /* "From " at the start of a line is encoded too: mbox
                 * readers would quote it with ">". */
                bool from = i == 0 && n >= 5 && memcmp(s, "From ", 5) == 0;
                if (!from && ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last))) {
                        enc[0] = (char) c;
                        k = 1;
                } else {
                        enc[0] = '=';
                        enc[1] = hex[c >> 4];
                        enc[2] = hex[c & 15];
                        k = 3;
                }
                if (col + k > 75) {
                        if (buf_puts(buf, len, cap, "=\r\n") < 0)
                                return -ENOMEM;
                        col = 0;
                }
                if (buf_put(buf, len, cap, enc, k) < 0)
                        return -ENOMEM;
                col += k;
        }
        return 0;
}

/* Body with every line break made CRLF. 7bit when it is ASCII with lines
 * of at most 998 octets (RFC 5322 2.1.1), else quoted-printable (RFC 2045
 * 6.7: lines of at most 76). libcurl cannot announce an 8-bit body (its
 * MAIL FROM takes AUTH=, SIZE= and SMTPUTF8, never BODY=8BITMIME, in 7.88
 * as today), and a relay that gets 8-bit data unannounced may mangle or
 * refuse it: the body is always 7-bit on the wire. */
static int smtp_body(const char *text, char **buf, size_t *len, size_t *cap, bool *ret_qp) {
        bool qp = false;
        size_t run = 0;

        for (const char *p = text; *p; p++) {
                if ((unsigned char) *p >= 0x80)
                        qp = true;
                if (*p == '\r' || *p == '\n')
                        run = 0;
                else if (++run > 998)
                        qp = true;
        }
        *ret_qp = qp;
        for (const char *p = text; *p;) {
                size_t n = strcspn(p, "\r\n");
                int r = qp ? qp_line(buf, len, cap, p, n) : buf_put(buf, len, cap, p, n);
                if (r < 0 || buf_puts(buf, len, cap, "\r\n") < 0)
                        return -ENOMEM;
                p += n;
                if (p[0] == '\r' && p[1] == '\n')
                        p += 2;
                else if (*p)
                        p++;
        }
        return 0;
}

static const char *email_domain(const char *addr) {
        const char *at = addr ? strrchr(addr, '@') : NULL;
        return at && at[1] ? at + 1 : NULL;
}

/* The EHLO name: the gateway's helo, else this machine's FQDN, else the
 * domain of its `from`. Postfix with smtpd_helo_restrictions refuses a name
 * without a dot (504 5.5.2), and says so only at RCPT. */
static const char *smtp_helo(const struct gateways *g, const struct gateway *gw) {
        if (gw->helo)
                return gw->helo;
        if (g->fqdn)
                return g->fqdn;
        return email_domain(gw->from);
}

/* libcurl (lib/smtp.c, smtp_parse_url_path) sends the URL's path, URL
 * decoded, as the EHLO name, and without a path the short host name
 * (gethostname). A path in the configured url is kept (the configuration
 * refuses it together with helo). */
static char *smtp_url(const struct gateways *g, const struct gateway *gw) {
        const char *sep = strstr(gw->url, "://"), *path = sep ? strchr(sep + 3, '/') : NULL;
        const char *helo = smtp_helo(g, gw);
        size_t base = path ? (size_t) (path - gw->url) : strlen(gw->url);
        char *u = NULL;

        if ((path && path[1]) || !helo || !*helo)
                return strdup(gw->url);
        /* A host name is URL-safe; the brackets and colons of an address
         * literal are escaped. */
        char esc[256 * 3 + 1];
        size_t k = 0;
        for (const char *p = helo; *p && k + 3 < sizeof(esc); p++) {
                if (isalnum((unsigned char) *p) || *p == '.' || *p == '-')
                        esc[k++] = *p;
                else
                        k += (size_t) snprintf(esc + k, sizeof(esc) - k, "%%%02X", (unsigned char) *p);
        }
        esc[k] = '\0';
        return asprintf(&u, "%.*s/%s", (int) base, gw->url, esc) < 0 ? NULL : u;
}

/* The machine's fully qualified name: the canonical name of gethostname()
 * (getaddrinfo AI_CANONNAME, /etc/hosts first), else the host name itself,
 * when it has a dot and is not localhost. Asked once, when the gateways
 * are made (it may ask the resolver, which must not happen on the loop). */
static char *machine_fqdn(void) {
        struct addrinfo hints = { .ai_flags = AI_CANONNAME, .ai_socktype = SOCK_STREAM }, *ai = NULL;
        char host[256], name[256] = "";

        if (gethostname(host, sizeof(host)) < 0)
                return NULL;
        host[sizeof(host) - 1] = '\0';
        if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai && ai->ai_canonname)
                snprintf(name, sizeof(name), "%s", ai->ai_canonname);
        if (ai)
                freeaddrinfo(ai);
        for (int k = 0; k < 2; k++) {
                char *n = k == 0 ? name : host;
                size_t len = strlen(n);
                if (len > 0 && n[len - 1] == '.')
                        n[len - 1] = '\0';
                if (strchr(n, '.') && strncasecmp(n, "localhost", 9) != 0 && config_helo_ok(n))
                        return strdup(n);
        }
        return NULL;
}

/* The left part of the Message-ID: 32 hex digits of SHA-256 over the key and
 * the site. The same in every attempt and resend (a receiver can see a
 * duplicate), unique across sites sending from one domain, and without the
 * key itself, which for a follow-up names the case. */
static void message_id_left(const char *key, const char *site, char out[static 40]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        char *in = NULL;
        int n = asprintf(&in, "%s\n%s", key, site ? site : "");

        snprintf(out, 40, "beredd.%s", "0");
        if (n < 0)
                return;
        if (EVP_Digest(in, (size_t) n, md, &len, EVP_sha256(), NULL) == 1 && len >= 16) {
                memcpy(out, "beredd.", 7);
                for (unsigned i = 0; i < 16; i++)
                        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
        }
        free(in);
}

/* CURLOPT_DEBUGFUNCTION (with CURLOPT_VERBOSE; libcurl calls it only then):
 * which command a reply answers, and the reply. Only known verbs are kept
 * from what we send (an AUTH line and its continuations carry credentials,
 * MAIL and RCPT addresses), and only the cleaned last line of what we get. */
static void smtp_reply_clean(const char *s, size_t n, const char *to, char *out, size_t outlen);

static int on_smtp_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *userp) {
        static const char *const verbs[] = { "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET",
                                             "QUIT" };
        struct msg *x = userp;

        (void) easy;
        if (x->smtp_quit)
                return 0;
        if (type == CURLINFO_HEADER_OUT) {
                size_t n = 0;
                while (n < size && n < 8 && isalpha((unsigned char) data[n]))
                        n++;
                if (n < size && data[n] != ' ' && data[n] != '\r')
                        return 0;
                for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                        if (strlen(verbs[i]) == n && strncasecmp(data, verbs[i], n) == 0) {
                                if (streq(verbs[i], "QUIT"))
                                        x->smtp_quit = true; /* what came before is the outcome */
                                else
                                        snprintf(x->smtp_verb, sizeof(x->smtp_verb), "%s", verbs[i]);
                                break;
                        }
                return 0;
        }
        if (type != CURLINFO_HEADER_IN || size < 3 || !isdigit((unsigned char) data[0]) ||
            !isdigit((unsigned char) data[1]) || !isdigit((unsigned char) data[2]))
                return 0;
        if (size > 3 && data[3] == '-')
                return 0; /* not the last line of the reply */
        x->smtp_code = (data[0] - '0') * 100 + (data[1] - '0') * 10 + (data[2] - '0');
        smtp_reply_clean(size > 4 ? data + 4 : "", size > 4 ? size - 4 : 0, x->to, x->smtp_text, sizeof(x->smtp_text));
        if (x->smtp_code == 354 && streq(x->smtp_verb, "DATA"))
                snprintf(x->smtp_verb, sizeof(x->smtp_verb), ".");
        return 0;
}

#define SUBJECT_HEADER "Subject: "

static int build_smtp(struct msg *x, char *err, size_t errlen) {
        const struct gateway *gw = x->gw;
        const char *subject = x->subject ? x->subject : "";
        _cleanup_free_ char *subj = NULL, *mail_from = NULL, *head = NULL, *body = NULL, *url = NULL;
        size_t body_len = 0, body_cap = 0, subj_cap = strlen(subject) * 4 + 128;
        char date[64], mid[40];
        bool qp;
        int r;

        /* Header injection: nothing that lands in a header or an SMTP command
         * may carry CR or LF. Refused as unreachable: resending will not help. */
        if (!gw->from || !gw->url || !email_domain(gw->from)) {
                snprintf(err, errlen, "smtp needs from (an e-mail address) and url");
                return -EINVAL;
        }
        if (!text_header_safe(gw->from) || !text_header_safe(x->to) || !text_header_safe(subject) ||
            strpbrk(x->to, "<>,") || strpbrk(gw->from, "<>,")) {
                snprintf(err, errlen, "CR/LF or a forbidden character in a header field (From, To or Subject): refused");
                return -EBADMSG;
        }
        subj = malloc(subj_cap);
        if (!subj)
                return -ENOMEM;
        /* Lines of at most 76 with the header name (RFC 2047 2.). */
        r = text_rfc2047_encode(subject, strlen(SUBJECT_HEADER), subj, subj_cap);
        if (r < 0) {
                snprintf(err, errlen, "cannot encode the subject: %s", strerror(-r));
                return -EBADMSG;
        }
        r = smtp_body(x->text, &body, &body_len, &body_cap, &qp);
        if (r < 0)
                return r;
        rfc5322_date(date, sizeof(date));
        message_id_left(x->key, x->g->cfg ? x->g->cfg->site : NULL, mid);
        r = asprintf(&head,
                     "Date: %s\r\n"
                     "From: %s\r\n"
                     "To: %s\r\n"
                     SUBJECT_HEADER "%s\r\n"
                     "Message-ID: <%s@%s>\r\n"
                     "MIME-Version: 1.0\r\n"
                     "Content-Type: text/plain; charset=UTF-8\r\n"
                     "Content-Transfer-Encoding: %s\r\n"
                     "Auto-Submitted: auto-generated\r\n"
                     "\r\n",
                     date, gw->from, x->to, subj, mid, email_domain(gw->from), qp ? "quoted-printable" : "7bit");
        if (r < 0) {
                head = NULL;
                return -ENOMEM;
        }
        x->req_len = (size_t) r + body_len;
        x->req = malloc(x->req_len + 1);
        if (!x->req)
                return -ENOMEM;
        memcpy(x->req, head, (size_t) r);
        memcpy(x->req + r, body ? body : "", body_len);
        x->req[x->req_len] = '\0';
        x->req_off = 0;

        if (asprintf(&mail_from, "<%s>", gw->from) < 0) {
                mail_from = NULL;
                return -ENOMEM;
        }
        x->rcpt = curl_slist_append(NULL, x->to);
        url = smtp_url(x->g, gw);
        if (!x->rcpt || !url)
                return -ENOMEM;
        r = easy_common(x, url);
        if (r < 0)
                goto fail;
        /* curl does the dot-stuffing of the DATA phase. One recipient per
         * transfer, so CURLOPT_MAIL_RCPT_ALLOWFAILS would change nothing:
         * a refused RCPT ends it with CURLE_SEND_ERROR and the reply's code
         * in CURLINFO_RESPONSE_CODE. */
        if (curl_easy_setopt(x->easy, CURLOPT_MAIL_FROM, mail_from) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_MAIL_RCPT, x->rcpt) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_UPLOAD, 1L) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_READFUNCTION, on_read) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_READDATA, x) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t) x->req_len) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_USE_SSL, (long) (gw->starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE)) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_DEBUGFUNCTION, on_smtp_debug) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_DEBUGDATA, x) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_VERBOSE, 1L) != CURLE_OK) {
                r = -EINVAL;
                goto fail;
        }
        if (gw->username && (curl_easy_setopt(x->easy, CURLOPT_USERNAME, gw->username) != CURLE_OK ||
                             curl_easy_setopt(x->easy, CURLOPT_PASSWORD, gw->password ? gw->password : "") != CURLE_OK)) {
                r = -EINVAL;
                goto fail;
        }
        return 0;
fail:
        snprintf(err, errlen, "cannot set up the request: %s", strerror(-r));
        return r;
}

/* ---- outcomes of transfers ---- */

static enum outcome classify_curl(CURLcode rc) {
        switch (rc) {
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
        case CURLE_NOT_BUILT_IN:
        case CURLE_LOGIN_DENIED:
        case CURLE_USE_SSL_FAILED:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_AUTH_ERROR:
        case CURLE_REMOTE_ACCESS_DENIED:
        case CURLE_TOO_MANY_REDIRECTS:
                return OUT_GATEWAY;
        default:
                /* Connection refused or reset, resolver, timeouts, TLS
                 * handshake, nothing received: maybe better next time. */
                return OUT_TEMP;
        }
}

/* Twilio error codes that say the recipient cannot get SMS from anyone. */
static bool twilio_recipient_code(long code) {
        switch (code) {
        case 21211: /* invalid 'To' phone number */
        case 21214: /* 'To' phone number cannot be reached */
        case 21217: /* phone number does not appear to be valid */
        case 21610: /* recipient has unsubscribed (STOP) */
        case 21612: /* 'To' number not currently reachable via SMS */
        case 21614: /* 'To' number is not a valid mobile number */
                return true;
        default:
                return false;
        }
}

static void http_finished(struct msg *x, CURLcode rc) {
        const struct gateway *gw = x->gw;
        long status = 0;
        curl_off_t retry_after = 0;
        char err[160], nbuf[32];
        enum outcome out;
        _cleanup_free_ char *ref = NULL;

        (void) curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK) {
                snprintf(err, sizeof(err), "%.60s%s%.90s", curl_easy_strerror(rc), x->errbuf[0] ? ": " : "", x->errbuf);
                handle_outcome(x, classify_curl(rc), err, NULL, 0);
                return;
        }
#if LIBCURL_VERSION_NUM >= 0x074200
        (void) curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &retry_after);
#endif
        snprintf(err, sizeof(err), "HTTP %ld", status);

        json_t *j = NULL;
        if (gw->type != GATEWAY_HTTP && x->resp)
                j = json_loadb(x->resp, x->resp_len, 0, NULL);

        if (gw->type == GATEWAY_HTTP ? status >= gw->success_min && status <= gw->success_max : status >= 200 && status <= 299) {
                if (gw->type == GATEWAY_HTTP && gw->success_match && (!x->resp || !strstr(x->resp, gw->success_match))) {
                        snprintf(err, sizeof(err), "HTTP %ld without the expected answer", status);
                        out = OUT_TEMP;
                } else {
                        const char *r = gw->type == GATEWAY_TWILIO         ? json_text(j, "sid", nbuf, sizeof(nbuf))
                                        : gw->type == GATEWAY_LINKMOBILITY ? json_text(j, "messageId", nbuf, sizeof(nbuf))
                                                                           : NULL;
                        ref = xstrdup0(r);
                        out = OUT_SENT;
                }
        } else if (status == 408 || status == 425 || status == 429 || status >= 500)
                out = OUT_TEMP;
        else if (status == 401 || status == 403 || status == 404 || status == 405 || status == 407 || status == 413 ||
                 status == 414 || status == 415 || status == 426 || status == 431 || status < 400)
                /* Ours: credentials, URL, method, or a redirect we do not follow. */
                out = OUT_GATEWAY;
        else if (gw->type == GATEWAY_TWILIO) {
                json_t *c = json_object_get(j, "code");
                long code = json_is_integer(c) ? (long) json_integer_value(c) : 0;
                snprintf(err, sizeof(err), "HTTP %ld, Twilio error %ld", status, code);
                out = twilio_recipient_code(code) ? OUT_PERMANENT : OUT_GATEWAY;
        } else {
                if (gw->type == GATEWAY_LINKMOBILITY) {
                        const char *c = json_text(j, "resultCode", nbuf, sizeof(nbuf));
                        if (c)
                                snprintf(err, sizeof(err), "HTTP %ld, result code %s", status, c);
                }
                out = OUT_PERMANENT;
        }
        json_decref(j);
        handle_outcome(x, out, err, ref, out == OUT_TEMP && retry_after > 0 ? (uint64_t) retry_after * USEC_PER_SEC : 0);
}

/* The reply's text for logs and the caller: printable ASCII, without a
 * word in <...>, with an '@' (servers echo the addresses: "<kari@...>:
 * Recipient address rejected") or with the local part of TO in it, spaces
 * squeezed, at most OUTLEN - 1. */
static void smtp_reply_clean(const char *s, size_t n, const char *to, char *out, size_t outlen) {
        size_t k = 0, local = to ? strcspn(to, "@") : 0;
        char lp[65] = "";

        if (local >= 3 && local < sizeof(lp)) {
                memcpy(lp, to, local);
                lp[local] = '\0';
        }

        while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n'))
                n--;
        for (size_t i = 0; i < n && k + 1 < outlen;) {
                while (i < n && s[i] == ' ')
                        i++;
                size_t j = i;
                while (j < n && s[j] != ' ')
                        j++;
                if (j == i)
                        break;
                char word[128];
                snprintf(word, sizeof(word), "%.*s", (int) (j - i), s + i);
                if (s[i] != '<' && !memchr(s + i, '@', j - i) && !(lp[0] && strcasestr(word, lp))) {
                        if (k > 0 && k + 1 < outlen)
                                out[k++] = ' ';
                        for (size_t m = i; m < j && k + 1 < outlen; m++)
                                out[k++] = (unsigned char) s[m] >= 0x20 && (unsigned char) s[m] < 0x7F ? s[m] : '?';
                }
                i = j;
        }
        out[k] = '\0';
}

/* RFC 3463 enhanced status "C.S.D" at the start of TEXT (RFC 2034). */
static bool smtp_enhanced(const char *text, int *cls, int *subj, int *det) {
        char *end;

        if (!text || !strchr("245", text[0]) || text[0] == '\0' || text[1] != '.')
                return false;
        *cls = text[0] - '0';
        long a = strtol(text + 2, &end, 10);
        if (end == text + 2 || *end != '.' || a < 0 || a > 999)
                return false;
        const char *p = end + 1;
        long b = strtol(p, &end, 10);
        if (end == p || (*end != '\0' && *end != ' ') || b < 0 || b > 999)
                return false;
        *subj = (int) a;
        *det = (int) b;
        return true;
}

static bool contains_word(const char *text, const char *const *words) {
        for (; *words; words++)
                if (strcasestr(text, *words))
                        return true;
        return false;
}

/* A 5xx to RCPT that is about the recipient's mailbox, not about us.
 * With an enhanced status: X.1.1 bad destination mailbox, X.1.2 bad
 * destination system, X.1.3 bad address syntax, X.1.4 ambiguous, X.1.6
 * mailbox has moved, X.1.10 null MX (RFC 7505), X.2.0-X.2.2 the mailbox's
 * status (disabled, full: that one person's mailbox, not this gateway).
 * Not X.1.7/X.1.8 (the sender's address: ours) nor X.1.0. Without one
 * (servers that do not announce ENHANCEDSTATUSCODES): 550, 551 or 553 whose
 * text names the mailbox and no policy. */
static bool smtp_recipient_refusal(int code, const char *text) {
        static const char *const mailbox[] = { "user", "mailbox", "recipient", "no such", "unknown", "not exist",
                                               "not found", "invalid address", "address invalid", "not local",
                                               "unrouteable", "undeliverable", NULL };
        static const char *const policy[] = { "relay", "helo", "ehlo", "policy", "spam", "block", "denied", "auth",
                                              "tls", "ssl", "sender", "client", "listed", "rbl", "reverse", "rate",
                                              "limit", "grey", "gray", "access", NULL };
        int cls, subj, det;

        if (smtp_enhanced(text, &cls, &subj, &det))
                return cls == 5 && ((subj == 1 && (det == 1 || det == 2 || det == 3 || det == 4 || det == 6 || det == 10)) ||
                                    (subj == 2 && det <= 2));
        return (code == 550 || code == 551 || code == 553) && contains_word(text, mailbox) &&
               !contains_word(text, policy);
}

/* How an SMTP transfer ended: RC from libcurl, CODE the last reply (0 =
 * none), to the command VERB ("" = the greeting, "." = the end of data).
 * Only a 5xx to RCPT about the mailbox makes the recipient unreachable by
 * e-mail. Every other refusal is about this gateway: a relay, HELO, client,
 * sender, auth or TLS policy (Postfix's smtpd_delay_reject gives those at
 * RCPT too: "554 5.7.1 Relay access denied", "504 5.5.2 Helo command
 * rejected"), so the next gateway is tried at once (OUT_GATEWAY); a 4xx is
 * tried again here first (OUT_TEMP). */
static enum outcome smtp_classify(CURLcode rc, const char *verb, int code, const char *text) {
        if (rc == CURLE_OK)
                return OUT_SENT;
        if (code >= 400 && code <= 499)
                return OUT_TEMP;
        if (code >= 500 && code <= 599)
                return streq(verb, "RCPT") && smtp_recipient_refusal(code, text ? text : "") ? OUT_PERMANENT
                                                                                              : OUT_GATEWAY;
        return classify_curl(rc);
}

/* What of the reply TEXT may reach a log: its enhanced status and the first
 * of a fixed list of words it contains, never the server's own words (they
 * may hold a name, a number or an address in any form). */
static void smtp_reply_gist(const char *text, char *out, size_t outlen) {
        static const char *const words[] = { "relay", "helo", "ehlo", "policy", "spam", "blocked", "denied",
                                             "authentication", "tls", "sender", "client", "rate", "greylist",
                                             "mailbox", "user", "recipient", "unknown", "full", "quota",
                                             "disabled", "too large", NULL };
        int cls, subj, det;
        size_t k = 0;

        out[0] = '\0';
        if (smtp_enhanced(text, &cls, &subj, &det))
                k = (size_t) snprintf(out, outlen, "%d.%d.%d", cls, subj, det);
        for (size_t i = 0; words[i] && k < outlen; i++)
                if (strcasestr(text, words[i])) {
                        snprintf(out + k, outlen - k, "%s(%s)", k ? " " : "", words[i]);
                        break;
                }
}

static void smtp_finished(struct msg *x, CURLcode rc) {
        long info = 0;
        char err[160];
        enum outcome out;
        int code = x->smtp_code;

        if (rc == CURLE_OK) {
                handle_outcome(x, OUT_SENT, NULL, NULL, 0);
                return;
        }
        /* The debug callback saw the reply; CURLINFO_RESPONSE_CODE (the last
         * code before QUIT) is the fallback. */
        (void) curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &info);
        if (code < 400 && info >= 400 && info <= 599) {
                code = (int) info;
                x->smtp_text[0] = '\0';
        }
        out = smtp_classify(rc, x->smtp_verb, code, x->smtp_text);
        char gist[64];
        smtp_reply_gist(x->smtp_text, gist, sizeof(gist));
        if (code >= 400 && code <= 599)
                snprintf(err, sizeof(err), "%s refused: %d%s%s",
                         !x->smtp_verb[0]             ? "greeting"
                         : streq(x->smtp_verb, ".")   ? "end of data"
                         : streq(x->smtp_verb, "RCPT") ? "RCPT TO"
                         : streq(x->smtp_verb, "MAIL") ? "MAIL FROM"
                                                       : x->smtp_verb,
                         code, gist[0] ? " " : "", gist);
        else
                snprintf(err, sizeof(err), "%.60s%s%.90s", curl_easy_strerror(rc), x->errbuf[0] ? ": " : "", x->errbuf);
        handle_outcome(x, out, err, NULL, 0);
}

static void transfer_finished(struct msg *x, CURLcode rc) {
        x->rc = rc;
        if (x->gw->type == GATEWAY_SMTP)
                smtp_finished(x, rc);
        else
                http_finished(x, rc);
}

/* A transfer ended (from curl-util.c). */
static void on_transfer_done(void *userdata, CURL *easy, CURLcode rc) {
        struct msg *x = NULL;

        if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &x) != CURLE_OK || !x)
                return;
        transfer_finished(x, rc);
}

/* ---- attempts ---- */

static void start_attempt(struct msg *x) {
        struct gateways *g = x->g;
        const struct gateway *src = NULL;
        char err[160] = "";
        CURLMcode mc;
        int r;

        /* The gateway may be gone after a reload: skip to the next one. */
        while (x->i_id < x->n_ids && !(src = config_gateway(g->cfg, x->ids[x->i_id]))) {
                x->i_id++;
                x->attempt = 0;
        }
        if (x->i_id >= x->n_ids) {
                complete(x, GW_FAILED, "no gateway left for the channel", NULL);
                return;
        }
        if (src->type != GATEWAY_FILE && g->active >= MAX_ACTIVE) {
                queue_push(&g->wait_q, &g->wait_tail, x);
                return;
        }
        gateway_copy_free(x->gw);
        x->gw = gateway_copy(src);
        if (!x->gw) {
                x->attempt++;
                handle_outcome(x, OUT_TEMP, "out of memory", NULL, 0);
                return;
        }
        x->attempt++;

        switch (x->gw->type) {
        case GATEWAY_FILE:
                file_send(x);
                return;
        case GATEWAY_SMTP:
                if (x->channel != CHANNEL_EMAIL) {
                        handle_outcome(x, OUT_GATEWAY, "an smtp gateway carries e-mail only", NULL, 0);
                        return;
                }
                r = build_smtp(x, err, sizeof(err));
                break;
        case GATEWAY_HTTP:
        case GATEWAY_TWILIO:
        case GATEWAY_LINKMOBILITY:
                if (x->channel != CHANNEL_SMS) {
                        handle_outcome(x, OUT_GATEWAY, "an http gateway carries SMS only", NULL, 0);
                        return;
                }
                r = x->gw->type == GATEWAY_HTTP     ? build_http(x, err, sizeof(err))
                    : x->gw->type == GATEWAY_TWILIO ? build_twilio(x, err, sizeof(err))
                                                    : build_linkmobility(x, err, sizeof(err));
                break;
        default:
                r = -EINVAL;
                snprintf(err, sizeof(err), "unknown gateway type");
        }
        if (r == -EBADMSG) {
                handle_outcome(x, OUT_PERMANENT, err, NULL, 0);
                return;
        }
        if (r == -ENOMEM) {
                handle_outcome(x, OUT_TEMP, "out of memory", NULL, 0);
                return;
        }
        if (r < 0) {
                handle_outcome(x, OUT_GATEWAY, err[0] ? err : strerror(-r), NULL, 0);
                return;
        }
        if (x->hdrs) {
                /* No "Expect: 100-continue" round trip before the body. */
                if (add_header(x, "Expect:") < 0 ||
                    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs) != CURLE_OK) {
                        handle_outcome(x, OUT_TEMP, "out of memory", NULL, 0);
                        return;
                }
        }
        mc = curl_multi_add_handle(curl_glue_multi(g->curl), x->easy);
        if (mc == CURLM_OK) {
                x->in_multi = true;
                g->active++;
        } else {
                snprintf(err, sizeof(err), "cannot start the transfer: %s", curl_multi_strerror(mc));
                curl_easy_cleanup(x->easy);
                x->easy = NULL;
                handle_outcome(x, OUT_TEMP, err, NULL, 0);
        }
}

/* Deferred work: starts that must not run inside gateway_send() (the file
 * gateway's write), then the callbacks of finished messages. */
static int on_defer(sd_event_source *src, void *userdata) {
        struct gateways *g = userdata;
        struct msg *x;

        while ((x = queue_pop(&g->start_q, &g->start_tail)))
                start_attempt(x);
        while (g->active < MAX_ACTIVE && (x = queue_pop(&g->wait_q, &g->wait_tail)))
                start_attempt(x);
        while ((x = queue_pop(&g->done_q, &g->done_tail))) {
                msg_unlink(x);
                if (x->done)
                        x->done(x->userdata, x->key, x->result, cur_id(x), x->error[0] ? x->error : NULL, x->ref);
                msg_free(x);
        }
        return 0;
}

/* ---- gateway health ---- */

struct health {
        char *id;
        uint64_t fp; /* fingerprint of the settings: changed settings start unknown again */
        enum channel channel;
        enum gateway_type type;
        enum gw_state state;
        uint64_t since, last_ok, last_failure;
        char error[32];
        unsigned failures;
        uint64_t n_ok, n_failed, n_refused;
};

const char *gw_state_name(enum gw_state s) {
        return s == GW_STATE_UP ? "up" : s == GW_STATE_DOWN ? "down" : "unknown";
}

static uint64_t fp_str(uint64_t h, const char *s) {
        /* FNV-1a; a NULL and "" differ by the separator byte. */
        for (; s && *s; s++)
                h = (h ^ (unsigned char) *s) * UINT64_C(1099511628211);
        return (h ^ (s ? 0x1f : 0x1e)) * UINT64_C(1099511628211);
}

static uint64_t gateway_fingerprint(const struct gateway *gw) {
        char nums[96];
        uint64_t h = UINT64_C(14695981039346656037);

        snprintf(nums, sizeof(nums), "%d %d %d %d %" PRIu64 " %d %d", (int) gw->channel, (int) gw->type,
                 gw->success_min, gw->success_max, gw->timeout, gw->retries, gw->starttls);
        h = fp_str(h, nums);
        h = fp_str(h, gw->url);
        h = fp_str(h, gw->from);
        h = fp_str(h, gw->account);
        h = fp_str(h, gw->username);
        h = fp_str(h, gw->password);
        h = fp_str(h, gw->method);
        h = fp_str(h, gw->body);
        h = fp_str(h, gw->content_type);
        h = fp_str(h, gw->success_match);
        h = fp_str(h, gw->helo);
        for (size_t i = 0; i < gw->n_headers; i++) {
                h = fp_str(h, gw->headers[i].name);
                h = fp_str(h, gw->headers[i].value);
        }
        return h;
}

static void health_free(struct health *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i].id);
        free(v);
}

/* One entry per gateway of CFG, carrying over what is known of a gateway
 * whose id and settings are unchanged. On OOM the old list stays. */
static void health_rebuild(struct gateways *g, const struct config *cfg) {
        size_t n = cfg ? cfg->n_gateways : 0;
        struct health *v = n ? calloc(n, sizeof(*v)) : NULL;

        if (n && !v)
                return;
        for (size_t i = 0; i < n; i++) {
                const struct gateway *gw = &cfg->gateways[i];
                uint64_t fp = gateway_fingerprint(gw);
                v[i] = (struct health) { .fp = fp, .channel = gw->channel, .type = gw->type };
                for (size_t k = 0; k < g->n_health; k++)
                        if (g->health[k].id && streq(g->health[k].id, gw->id) && g->health[k].fp == fp) {
                                v[i] = g->health[k];
                                g->health[k].id = NULL; /* moved */
                                break;
                        }
                if (!v[i].id)
                        v[i].id = strdup(gw->id);
                if (!v[i].id) {
                        health_free(v, n);
                        return;
                }
        }
        health_free(g->health, g->n_health);
        g->health = v;
        g->n_health = n;
}

static struct health *health_find(struct gateways *g, const char *id) {
        for (size_t i = 0; id && i < g->n_health; i++)
                if (streq(g->health[i].id, id))
                        return &g->health[i];
        return NULL;
}

/* The class of the failure that just ended attempt X, without personal data
 * (never the server's text: SMTP servers echo the address). */
static void failure_class(const struct msg *x, char *buf, size_t len) {
        long code = 0;

        if (x->gw && x->gw->type == GATEWAY_FILE) {
                snprintf(buf, len, "outbox");
                return;
        }
        if (!x->in_multi || !x->easy) {
                snprintf(buf, len, "config");
                return;
        }
        (void) curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
        bool smtp = x->gw && x->gw->type == GATEWAY_SMTP;
        switch (x->rc) {
        case CURLE_OK:
                if (!smtp && x->gw && code >= x->gw->success_min && code <= x->gw->success_max)
                        snprintf(buf, len, "unexpected answer");
                else
                        snprintf(buf, len, "%s %ld", smtp ? "smtp" : "http", code);
                return;
        case CURLE_OPERATION_TIMEDOUT:
                snprintf(buf, len, "timeout");
                return;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                snprintf(buf, len, "dns");
                return;
        case CURLE_COULDNT_CONNECT:
                snprintf(buf, len, "connect");
                return;
        case CURLE_LOGIN_DENIED:
        case CURLE_AUTH_ERROR:
                snprintf(buf, len, "auth");
                return;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_USE_SSL_FAILED:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
                snprintf(buf, len, "tls");
                return;
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
        case CURLE_NOT_BUILT_IN:
        case CURLE_TOO_MANY_REDIRECTS:
                snprintf(buf, len, "config");
                return;
        default:
                if (code > 0)
                        snprintf(buf, len, "%s %ld", smtp ? "smtp" : "http", code);
                else
                        snprintf(buf, len, "network");
        }
}

/* Book attempt X's outcome OUT on its gateway (see gateway.h for the rule).
 * Called from handle_outcome() before the transfer is freed. Outcomes of
 * attempts that never reached the gateway (out of memory, a message the
 * provider's format cannot carry) say nothing about it; a gateway whose
 * request cannot even be built from its settings is down ("config"). */
static void health_note(struct msg *x, enum outcome out) {
        struct gateways *g = x->g;
        struct health *h = health_find(g, cur_id(x));
        bool reached = (x->gw && x->gw->type == GATEWAY_FILE) || (x->in_multi && x->easy);

        if (!h || (!reached && out != OUT_GATEWAY))
                return;
        uint64_t now = event_now_usec(g->event, CLOCK_REALTIME);
        enum gw_state old = h->state;
        if (out == OUT_SENT || out == OUT_PERMANENT) {
                if (out == OUT_SENT)
                        h->n_ok++;
                else
                        h->n_refused++;
                h->last_ok = now;
                h->failures = 0;
                h->state = GW_STATE_UP;
        } else {
                h->n_failed++;
                h->failures++;
                h->last_failure = now;
                failure_class(x, h->error, sizeof(h->error));
                h->state = GW_STATE_DOWN;
        }
        if (h->state == old)
                return;
        uint64_t was = h->since;
        h->since = now;
        if (h->state == GW_STATE_DOWN)
                log_event(LOG_WARNING, MSGID_GATEWAY_STATE_DOWN, NULL, "Gateway %s (%s) is down: %s", h->id,
                          channel_name(h->channel), h->error);
        else if (old == GW_STATE_DOWN)
                log_event(LOG_NOTICE, MSGID_GATEWAY_STATE_UP, NULL, "Gateway %s (%s) is up again after %.0f s down",
                          h->id, channel_name(h->channel), was && now > was ? (double) (now - was) / USEC_PER_SEC : 0.0);
        if (g->health_hook)
                g->health_hook(g->health_userdata);
}

int gateway_health(const struct gateways *g, size_t i, struct gw_health *ret) {
        if (!g || i >= g->n_health)
                return -ENOENT;
        const struct health *h = &g->health[i];
        *ret = (struct gw_health) {
                .id = h->id, .channel = h->channel, .type = h->type, .state = h->state, .since = h->since,
                .last_ok = h->last_ok, .last_failure = h->last_failure, .last_error = h->error,
                .failures = h->failures, .attempts_ok = h->n_ok, .attempts_failed = h->n_failed,
                .attempts_refused = h->n_refused,
        };
        return 0;
}

void gateways_channel_health(const struct gateways *g, enum channel c, unsigned *served, unsigned *down) {
        unsigned s = 0, d = 0;

        for (size_t i = 0; g && i < g->n_health; i++)
                if (g->health[i].channel & c) {
                        s++;
                        d += g->health[i].state == GW_STATE_DOWN;
                }
        *served = s;
        *down = d;
}

unsigned gateways_waiting_on(const struct gateways *g, enum channel c, uint64_t *oldest) {
        unsigned n = 0;
        uint64_t first = 0;

        for (const struct msg *x = g ? g->msgs : NULL; x; x = x->next)
                if (x->waiting && (x->channel & c)) {
                        n++;
                        if (!first || x->waiting_since < first)
                                first = x->waiting_since;
                }
        if (oldest) {
                uint64_t now = g ? event_now_usec(g->event, CLOCK_MONOTONIC) : 0;
                *oldest = first && now > first ? now - first : 0;
        }
        return n;
}

void gateways_set_health_hook(struct gateways *g, void (*hook)(void *userdata), void *userdata) {
        g->health_hook = hook;
        g->health_userdata = userdata;
}

/* ---- public ---- */

static void check_config(const struct config *cfg) {
        for (size_t i = 0; cfg && i < cfg->n_gateways; i++) {
                const struct gateway *gw = &cfg->gateways[i];
                if (gw->type == GATEWAY_LINKMOBILITY && gw->account && !strchr(gw->account, ':'))
                        log_warning("Gateway %s: account should be \"PLATFORM_ID:PLATFORM_PARTNER_ID\"; "
                                    "sending without platformPartnerId",
                                    gw->id);
        }
}

void gateways_set_backoff(struct gateways *g, uint64_t base_usec) {
        if (g)
                g->backoff_base = base_usec;
}

int gateways_new(sd_event *e, struct store *store, const struct config *cfg, struct gateways **ret) {
        struct gateways *g;
        const char *env;
        int r;

        if (!e || !ret)
                return -EINVAL;
        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        *g = (struct gateways) { .event = sd_event_ref(e), .store = store, .cfg = cfg, .backoff_base = BACKOFF_BASE };
        if (getrandom(&g->rnd, sizeof(g->rnd), GRND_NONBLOCK) != sizeof(g->rnd))
                g->rnd = (uint64_t) time(NULL) ^ (uint64_t) (uintptr_t) g;
        g->rnd |= 1;

        env = getenv("BEREDD_GW_BACKOFF_MS");
        if (env && *env) {
                char *end;
                errno = 0;
                unsigned long long ms = strtoull(env, &end, 10);
                if (errno == 0 && *end == '\0' && ms <= 3600 * 1000)
                        g->backoff_base = (uint64_t) ms * 1000;
                else
                        log_warning("Ignoring BEREDD_GW_BACKOFF_MS=%s (expected milliseconds)", env);
        }

        r = curl_glue_new(e, "gateway", on_transfer_done, g, &g->curl);
        if (r < 0)
                goto fail;
        if (curl_multi_setopt(curl_glue_multi(g->curl), CURLMOPT_MAX_HOST_CONNECTIONS, (long) MAX_HOST_CONNS) != CURLM_OK ||
            curl_multi_setopt(curl_glue_multi(g->curl), CURLMOPT_MAXCONNECTS, (long) MAX_CONNECTS) != CURLM_OK) {
                r = -EINVAL;
                goto fail;
        }
        r = sd_event_add_defer(e, &g->defer, on_defer, g);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_enabled(g->defer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(g->defer, "gateway-dispatch");
        /* Only an e-mail gateway without its own helo needs the name: no
         * resolver call at start for a configuration that does not use it. */
        bool need_fqdn = false;
        for (size_t i = 0; i < cfg->n_gateways; i++)
                need_fqdn |= cfg->gateways[i].type == GATEWAY_SMTP && !cfg->gateways[i].helo;
        if (need_fqdn)
                g->fqdn = machine_fqdn();
        check_config(cfg);
        health_rebuild(g, cfg);
        *ret = g;
        return 0;
fail:
        gateways_free(g);
        return r;
}

void gateways_free(struct gateways *g) {
        if (!g)
                return;
        /* Cancel: no callbacks. Handles leave the multi before it goes. */
        g->start_q = g->start_tail = g->wait_q = g->wait_tail = g->done_q = g->done_tail = NULL;
        while (g->msgs) {
                struct msg *x = g->msgs;
                msg_unlink(x);
                msg_free(x);
        }
        curl_glue_free(g->curl);
        sd_event_source_disable_unref(g->defer);
        sd_event_unref(g->event);
        free(g->fqdn);
        health_free(g->health, g->n_health);
        free(g);
}

void gateways_set_config(struct gateways *g, const struct config *cfg) {
        if (!g)
                return;
        g->cfg = cfg;
        check_config(cfg);
        health_rebuild(g, cfg);
}

int gateway_send(struct gateways *g, const struct gw_message *m, gw_done_t done, void *userdata) {
        struct msg *x;
        size_t n = 0;

        if (!g || !m || !key_safe(m->key) || (m->ref && !key_safe(m->ref)) || !m->to || !m->text ||
            (m->channel != CHANNEL_SMS && m->channel != CHANNEL_EMAIL))
                return -EINVAL;
        if (!text_utf8_valid(m->text, strlen(m->text)) || (m->subject && !text_utf8_valid(m->subject, strlen(m->subject))))
                return -EILSEQ;
        for (size_t i = 0; g->cfg && i < g->cfg->n_gateways; i++)
                if (g->cfg->gateways[i].channel & m->channel)
                        n++;
        if (n == 0)
                return -ENOENT;

        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        *x = (struct msg) {
                .g = g, .channel = m->channel, .validity = m->validity, .done = done, .userdata = userdata,
                .key = strdup(m->key), .cref = strdup(m->ref ? m->ref : m->key), .lkey = log_key(m->key),
                .person = strdup(m->person ? m->person : "-"), .to = strdup(m->to),
                .subject = xstrdup0(m->subject), .text = strdup(m->text), .ids = calloc(n, sizeof(char *)),
                .wanted = m->wanted,
                .give_up = m->keep_trying ? event_now_usec(g->event, CLOCK_MONOTONIC) + m->keep_trying : 0,
        };
        if (!x->key || !x->cref || !x->lkey || !x->person || !x->to || (m->subject && !x->subject) || !x->text ||
            !x->ids) {
                msg_free(x);
                return -ENOMEM;
        }
        for (size_t i = 0; i < g->cfg->n_gateways; i++)
                if (g->cfg->gateways[i].channel & m->channel) {
                        x->ids[x->n_ids] = strdup(g->cfg->gateways[i].id);
                        if (!x->ids[x->n_ids]) {
                                msg_free(x);
                                return -ENOMEM;
                        }
                        x->n_ids++;
                }

        if (m->channel == CHANNEL_SMS) {
                /* Typographic characters go as their GSM equivalents
                 * (text.h), whoever composed the text, when that makes it
                 * GSM 7-bit. A text that stays UCS-2 anyway (an emoji, a
                 * letter outside GSM) goes as composed: there "…" is one
                 * unit and "..." three, so transliterating could only add
                 * a segment to what the preview and the trigger's reply
                 * said. Never longer in bytes either way. */
                struct text_sms_info info = {};
                if (text_sms_transliterate(m->text, x->text, strlen(m->text) + 1) < 0 ||
                    (text_sms_count(x->text, strlen(x->text), &info) >= 0 && info.encoding != TEXT_SMS_GSM7))
                        snprintf(x->text, strlen(m->text) + 1, "%s", m->text);
                unsigned max = config_sms_max_segments(g->cfg);
                if (text_sms_count(x->text, strlen(x->text), &info) >= 0 && info.segments > 1)
                        log_full(info.segments > max ? LOG_WARNING : LOG_DEBUG, 0, NULL, NULL,
                                 "Message %s (person %s) needs %zu SMS segments (%s; max_segments %u)", x->lkey,
                                 x->person, info.segments, info.encoding == TEXT_SMS_GSM7 ? "GSM 7-bit" : "UCS-2", max);
        }

        x->next = g->msgs;
        if (g->msgs)
                g->msgs->prev = x;
        g->msgs = x;
        g->n_msgs++;

        /* A transfer may start here (adding a handle only arms curl's timer);
         * a file write waits for the loop. Either way the callback comes
         * from the loop. */
        const struct gateway *first = config_gateway(g->cfg, x->ids[0]);
        if (first && first->type != GATEWAY_FILE)
                start_attempt(x);
        else {
                queue_push(&g->start_q, &g->start_tail, x);
                kick_defer(g);
        }
        return 0;
}

unsigned gateways_in_flight(const struct gateways *g) {
        return g ? g->n_msgs : 0;
}

unsigned gateways_waiting(const struct gateways *g) {
        return g ? g->n_waiting : 0;
}

void gateways_set_waiting_hook(struct gateways *g, void (*hook)(void *userdata, unsigned waiting), void *userdata) {
        g->waiting_hook = hook;
        g->waiting_userdata = userdata;
}

static void waiting_changed(struct gateways *g) {
        if (g->n_waiting == 0)
                log_notice("Gateways: no message is waiting for a gateway any more");
        if (g->waiting_hook)
                g->waiting_hook(g->waiting_userdata, g->n_waiting);
}
