/* gateway.c - SMS, e-mail and call gateways on the sd-event loop.
 *
 * One CURLM carries every HTTP and SMTP transfer, on the loop through
 * curl-util.c (the shape of systemd's src/import/curl-util.c): finished
 * transfers come back in on_transfer_done(). Nothing here blocks, except the
 * file gateway's fsync'ed write into the spool, which every spool write does.
 * The transports build their transfers and read their answers in gw-http.c
 * (generic, Twilio, Link Mobility), gw-voice.c (calls), gw-smtp.c and
 * gw-file.c; gw-calls.c counts the calls in flight (max_calls). This file
 * keeps the life cycle, the retries and failover, and the gateways' health.
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "curl-util.h"
#include "gateway-internal.h"
#include "log.h"
#include "macro.h"
#include "text.h"

/* ---- small helpers ---- */

static const char *gw_field(char *buf, size_t size, const char *key, const char *value) {
        snprintf(buf, size, "%s%s", key, value ? value : "");
        return buf;
}
/* The journal fields of a gateway's trouble: which gateway, which channel,
 * so an alert can tell SMS from e-mail; living until the end of the block. */
#define GW_FIELDS(id, ch)                                                              \
        ((const char *[]) { gw_field((char[96]) { 0 }, 96, "BEREDD_GATEWAY=", (id)),         \
                            gw_field((char[32]) { 0 }, 32, "BEREDD_CHANNEL=", channel_name(ch)), NULL })

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
                .starttls = src->starttls, .line = src->line, .max_segments = src->max_segments,
                .max_calls = src->max_calls, .ring_timeout = src->ring_timeout, .call_limit = src->call_limit,
                .machine_detection = src->machine_detection,
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
        DUP(say_voice);
        DUP(say_voice_en);
        DUP(inbound_digits);
        DUP(inbound_token);
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
int gw_render_alloc(const char *tmpl, enum text_escape esc, const struct text_var *vars, size_t n_vars, char **ret,
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

int gw_escape_alloc(enum text_escape esc, const char *s, char **ret) {
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


static void transfer_free(struct msg *x) {
        if (x->easy) {
                if (x->in_multi) {
                        curl_glue_remove(x->g->curl, x->easy);
                        x->in_multi = false;
                        x->g->active--;
                        if (x->g->wait_q)
                                gw_kick(x->g);
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
        x->requests = 0;
        x->resent = false;
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
        if (x->slot)
                gw_call_attempt_ended(x, OUT_TEMP); /* cancelled: its slot is free */
        sd_event_source_disable_unref(x->timer);
        gateway_copy_free(x->gw);
        for (size_t i = 0; i < x->n_ids; i++)
                free(x->ids[i]);
        free(x->ids);
        free(x->key);
        free(x->cref);
        free(x->token);
        free(x->lkey);
        free(x->person);
        free(x->to);
        free(x->subject);
        if (x->text) {
                explicit_bzero(x->text, strlen(x->text));
                free(x->text);
        }
        if (x->text_nb) {
                explicit_bzero(x->text_nb, strlen(x->text_nb));
                free(x->text_nb);
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

void gw_kick(struct gateways *g) {
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

static void waiting_changed(struct gateways *g);

void gw_complete(struct msg *x, enum gw_result result, const char *error, const char *ref) {
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
        gw_kick(x->g);
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void failover(struct msg *x, const char *error) {
        x->i_id++;
        x->attempt = 0;
        if (x->i_id < x->n_ids) {
                log_info("Message %s (person %s): failing over to gateway %s", x->lkey, x->person, x->ids[x->i_id]);
                gw_start_attempt(x);
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
                        log_event(LOG_WARNING, MSGID_GATEWAY_DOWN, GW_FIELDS(cur_id(x), x->channel),
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
        gw_complete(x, GW_FAILED, error, NULL);
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct msg *x = userdata;

        x->timer = sd_event_source_disable_unref(x->timer);
        /* A call is asked before every attempt (someone who has answered
         * meanwhile is not rung); other messages before a new round. */
        if ((x->parked || x->channel == CHANNEL_VOICE) && x->wanted && !x->wanted(x->userdata, x->key)) {
                x->parked = false;
                log_info("Message %s (person %s): no longer needed; not tried again", x->lkey, x->person);
                gw_complete(x, GW_FAILED, "no longer needed", NULL);
                return 0;
        }
        if (x->parked) {
                x->parked = false;
                log_info("Message %s (person %s): trying the %s gateways again (round %u)", x->lkey, x->person,
                         channel_name(x->channel), x->rounds + 1);
                x->i_id = 0;
                x->attempt = 0;
        }
        gw_start_attempt(x);
        return 0;
}

static void health_note(struct msg *x, enum outcome out);

void gw_handle_unconfirmed(struct msg *x, const char *error) {
        health_note(x, OUT_TEMP); /* the gateway did not answer properly */
        gw_call_attempt_ended(x, OUT_SENT); /* but the call may be on: its line stays taken */
        log_warning("Gateway %s: call %s (person %s): no clear answer from the provider (%s); not placed again, as it "
                    "may be ringing: its status and key press decide",
                    cur_id(x), x->lkey, x->person, error);
        gw_complete(x, GW_SENT, NULL, NULL);
}

/* Decide what follows an attempt. RETRY_AFTER (usec, 0 = none) overrides the backoff. */
void gw_handle_outcome(struct msg *x, enum outcome out, const char *error, const char *ref, uint64_t retry_after) {
        struct gateways *g = x->g;
        int retries = x->gw && x->gw->retries > 0 ? x->gw->retries : 1;

        health_note(x, out);
        gw_call_attempt_ended(x, out);
        switch (out) {
        case OUT_SENT:
                log_debug("Message %s (person %s) sent through %s", x->lkey, x->person, cur_id(x));
                gw_complete(x, GW_SENT, NULL, ref);
                return;
        case OUT_PERMANENT:
                log_notice("Message %s (person %s) refused by gateway %s: %s; unreachable on %s", x->lkey, x->person,
                           cur_id(x), error, channel_name(x->channel));
                gw_complete(x, GW_UNREACHABLE, error, NULL);
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

#if LIBCURL_VERSION_NUM >= 0x075000
/* Called before every request on a connection: once per attempt, unless
 * libcurl resends on its own (see struct msg's REQUESTS). */
static int on_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port, int local_port) {
        struct msg *x = clientp;

        (void) primary_ip, (void) local_ip, (void) primary_port, (void) local_port;
        if (x->requests++ == 0)
                return CURL_PREREQFUNC_OK;
        x->resent = true;
        return CURL_PREREQFUNC_ABORT;
}
#endif

int gw_easy_common(struct msg *x, const char *url) {
        const struct gateway *gw = x->gw;
        long timeout_ms = (long) (gw->timeout / 1000), connect_ms;
        int r = curl_glue_ready(x->g->curl);
        if (r < 0)
                return r;
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
            /* Idle connections are dropped before the usual server-side
             * keep-alive limits (60-75 s), so a reused one is seldom found
             * closed just as a request goes out on it. */
            curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, MAX_IDLE_CONN_SECONDS) != CURLE_OK ||
#if LIBCURL_VERSION_NUM >= 0x075000
            curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_PREREQDATA, x) != CURLE_OK ||
#endif
            curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK)
                return -EINVAL;
        return 0;
}

int gw_set_basic_auth(struct msg *x, const char *user, const char *password) {
        if (!user)
                return 0;
        if (curl_easy_setopt(x->easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_USERNAME, user) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_PASSWORD, password ? password : "") != CURLE_OK)
                return -EINVAL;
        return 0;
}

int gw_add_header(struct msg *x, const char *fmt, ...) {
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

int gw_set_post_body(struct msg *x, const char *method) {
        if (curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->req) != CURLE_OK ||
            curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) x->req_len) != CURLE_OK)
                return -EINVAL;
        if (method && !streq(method, "POST") && curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK)
                return -EINVAL;
        return 0;
}

uint64_t gw_validity_seconds(const struct msg *x) {
        return (x->validity + USEC_PER_SEC - 1) / USEC_PER_SEC;
}

/* Generic HTTP profile: templates from the configuration. Returns 0, or an
 * outcome-worthy error in ERR with -EINVAL. */
/* ---- outcomes of transfers ---- */

enum outcome gw_classify_curl(CURLcode rc) {
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
static void transfer_finished(struct msg *x, CURLcode rc) {
        x->rc = rc;
        if (x->gw->type == GATEWAY_SMTP)
                gw_smtp_finished(x, rc);
        else
                gw_http_finished(x, rc);
}

/* A transfer ended (from curl-util.c). */
static void on_transfer_done(void *userdata, CURL *easy, CURLcode rc) {
        struct msg *x = NULL;

        if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &x) != CURLE_OK || !x)
                return;
        transfer_finished(x, rc);
}

/* ---- attempts ---- */

void gw_start_attempt(struct msg *x) {
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
                gw_complete(x, GW_FAILED, "no gateway left for the channel", NULL);
                return;
        }
        if (!gw_call_slot_take(x, src))
                return; /* waits for a line of its gateway */
        if (src->type != GATEWAY_FILE && g->active >= MAX_ACTIVE) {
                queue_push(&g->wait_q, &g->wait_tail, x);
                return;
        }
        gateway_copy_free(x->gw);
        x->gw = gateway_copy(src);
        if (!x->gw) {
                x->attempt++;
                gw_handle_outcome(x, OUT_TEMP, "out of memory", NULL, 0);
                return;
        }
        x->attempt++;

        switch (x->gw->type) {
        case GATEWAY_FILE:
                gw_file_send(x);
                return;
        case GATEWAY_SMTP:
                if (x->channel != CHANNEL_EMAIL) {
                        gw_handle_outcome(x, OUT_GATEWAY, "an smtp gateway carries e-mail only", NULL, 0);
                        return;
                }
                r = gw_build_smtp(x, err, sizeof(err));
                break;
        case GATEWAY_HTTP:
        case GATEWAY_TWILIO:
        case GATEWAY_LINKMOBILITY:
                if (x->channel == CHANNEL_VOICE && x->gw->type != GATEWAY_LINKMOBILITY) {
                        r = x->gw->type == GATEWAY_HTTP ? gw_build_http_call(x, err, sizeof(err))
                                                        : gw_build_twilio_call(x, err, sizeof(err));
                        break;
                }
                if (x->channel != CHANNEL_SMS) {
                        gw_handle_outcome(x, OUT_GATEWAY, "an http gateway carries SMS only", NULL, 0);
                        return;
                }
                r = x->gw->type == GATEWAY_HTTP     ? gw_build_http(x, err, sizeof(err))
                    : x->gw->type == GATEWAY_TWILIO ? gw_build_twilio(x, err, sizeof(err))
                                                    : gw_build_linkmobility(x, err, sizeof(err));
                break;
        default:
                r = -EINVAL;
                snprintf(err, sizeof(err), "unknown gateway type");
        }
        if (r == -EBADMSG) {
                gw_handle_outcome(x, OUT_PERMANENT, err, NULL, 0);
                return;
        }
        if (r == -ENOMEM) {
                gw_handle_outcome(x, OUT_TEMP, "out of memory", NULL, 0);
                return;
        }
        if (r < 0) {
                gw_handle_outcome(x, OUT_GATEWAY, err[0] ? err : strerror(-r), NULL, 0);
                return;
        }
        if (x->gw->type != GATEWAY_SMTP) {
                /* One id per request, unique across restarts: the
                 * provider's logs can be matched with ours, and a request
                 * seen twice with one id was sent twice by the network
                 * stack, not by a decision of beredd's. */
                uint64_t id = ++g->n_requests;
                log_debug("Gateway %s: message %s (person %s) attempt %u, request %s.%" PRIu64, cur_id(x), x->lkey,
                          x->person, x->attempt, g->instance, id);
                if (gw_add_header(x, "X-Request-Id: %s.%" PRIu64, g->instance, id) < 0) {
                        gw_handle_outcome(x, OUT_TEMP, "out of memory", NULL, 0);
                        return;
                }
        }
        if (x->hdrs) {
                /* No "Expect: 100-continue" round trip before the body. */
                if (gw_add_header(x, "Expect:") < 0 ||
                    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs) != CURLE_OK) {
                        gw_handle_outcome(x, OUT_TEMP, "out of memory", NULL, 0);
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
                gw_handle_outcome(x, OUT_TEMP, err, NULL, 0);
        }
}

/* Deferred work: starts that must not run inside gateway_send() (the file
 * gateway's write), then the callbacks of finished messages. */
static int on_defer(sd_event_source *src, void *userdata) {
        struct gateways *g = userdata;
        struct msg *x;

        while ((x = queue_pop(&g->start_q, &g->start_tail)))
                gw_start_attempt(x);
        gw_calls_kick(g);
        while (g->active < MAX_ACTIVE && (x = queue_pop(&g->wait_q, &g->wait_tail)))
                gw_start_attempt(x);
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
        char nums[160];
        uint64_t h = UINT64_C(14695981039346656037);

        snprintf(nums, sizeof(nums), "%d %d %d %d %" PRIu64 " %d %d %u %" PRIu64 " %" PRIu64 " %d", (int) gw->channel,
                 (int) gw->type, gw->success_min, gw->success_max, gw->timeout, gw->retries, gw->starttls,
                 gw->max_calls, gw->ring_timeout, gw->call_limit, (int) gw->machine_detection);
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
        h = fp_str(h, gw->say_voice);
        h = fp_str(h, gw->say_voice_en);
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
 * Called from gw_handle_outcome() before the transfer is freed. Outcomes of
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
                log_event(LOG_WARNING, MSGID_GATEWAY_STATE_DOWN, GW_FIELDS(h->id, h->channel),
                          "Gateway %s (%s) is down: %s", h->id, channel_name(h->channel), h->error);
        else if (old == GW_STATE_DOWN)
                log_event(LOG_NOTICE, MSGID_GATEWAY_STATE_UP, GW_FIELDS(h->id, h->channel),
                          "Gateway %s (%s) is up again after %.0f s down", h->id, channel_name(h->channel), was && now > was ? (double) (now - was) / USEC_PER_SEC : 0.0);
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
        snprintf(g->instance, sizeof(g->instance), "%016" PRIx64, rnd_next(g));

        if (env_msec("BEREDD_GW_BACKOFF_MS", &g->backoff_base) < 0)
                log_warning("Ignoring BEREDD_GW_BACKOFF_MS=%s (expected milliseconds)", getenv("BEREDD_GW_BACKOFF_MS"));
        g->call_grace = CALL_GRACE;
        if (env_msec("BEREDD_CALL_GRACE_MS", &g->call_grace) < 0)
                log_warning("Ignoring BEREDD_CALL_GRACE_MS=%s (expected milliseconds)", getenv("BEREDD_CALL_GRACE_MS"));

        r = curl_glue_new(e, "gateway", on_transfer_done, g, &g->curl);
        if (r < 0)
                goto fail;
        curl_glue_set_limits(g->curl, (long) MAX_HOST_CONNS, (long) MAX_CONNECTS);
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
                g->fqdn = gw_machine_fqdn();
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
        gw_calls_free(g);
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
        if (g->call_q)
                gw_kick(g); /* max_calls may have grown, a gateway may be gone */
}

int gateway_send(struct gateways *g, const struct gw_message *m, gw_done_t done, void *userdata) {
        struct msg *x;
        size_t n = 0;

        if (!g || !m || !key_safe(m->key) || (m->ref && !key_safe(m->ref)) || !m->to || !m->text ||
            (m->channel != CHANNEL_SMS && m->channel != CHANNEL_EMAIL && m->channel != CHANNEL_VOICE) ||
            (m->channel == CHANNEL_VOICE && !key_safe(m->token)))
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
                .token = m->channel == CHANNEL_VOICE ? strdup(m->token) : NULL, .en = m->en,
                .text_nb = m->channel == CHANNEL_VOICE ? xstrdup0(m->text_nb) : NULL,
                .wanted = m->wanted,
                .give_up = m->keep_trying ? event_now_usec(g->event, CLOCK_MONOTONIC) + m->keep_trying : 0,
        };
        if (!x->key || !x->cref || !x->lkey || !x->person || !x->to || (m->subject && !x->subject) || !x->text ||
            !x->ids || (m->channel == CHANNEL_VOICE && !x->token) || (x->channel == CHANNEL_VOICE && m->text_nb && !x->text_nb)) {
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
                gw_start_attempt(x);
        else {
                queue_push(&g->start_q, &g->start_tail, x);
                gw_kick(g);
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
                log_event(LOG_NOTICE, MSGID_GATEWAYS_RECOVERED, NULL,
                          "Gateways: no message is waiting for a gateway any more");
        if (g->waiting_hook)
                g->waiting_hook(g->waiting_userdata, g->n_waiting);
}
