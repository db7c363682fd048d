/* gateway-internal.h - what the parts of the gateways share (private to
 * gateway.c, gw-http.c, gw-voice.c, gw-calls.c, gw-smtp.c and gw-file.c):
 * a message and its attempts, the gateways object, and the calls between
 * the parts.
 *
 * gateway.c owns the life cycle of a message (queues, retries, failover,
 * health, the curl multi); each transport builds an attempt's transfer
 * (gw_build_*) and classifies how it ended (gw_*_finished), and every
 * outcome goes through gw_handle_outcome(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "gateway.h"
#include "text.h"

#define RESP_MAX         (64 * 1024)          /* response bytes kept for parsing */
#define BACKOFF_BASE     (1 * USEC_PER_SEC)
#define BACKOFF_CAP_MULT 30                   /* cap = 30 x base (30 s) */
#define RETRY_AFTER_MAX  (60 * USEC_PER_SEC)
#define CONNECT_TIMEOUT  (10 * USEC_PER_SEC)  /* at most; never above the request timeout */
#define MAX_HOST_CONNS   32
#define MAX_CONNECTS     64
#define MAX_IDLE_CONN_SECONDS 30L             /* CURLOPT_MAXAGE_CONN */
/* Transfers handed to curl at once; more wait in our own queue. curl counts
 * the time a transfer waits for a free connection against CURLOPT_TIMEOUT_MS,
 * so handing it 10,000 at once would time out the tail of a big fan-out
 * before it was ever sent. */
#define MAX_ACTIVE       (4 * MAX_HOST_CONNS)
#define TWILIO_VALIDITY_MAX 36000             /* seconds; Twilio's documented range is 1..36000 */
#define DEFAULT_VALIDITY 86400                /* {validity} when the caller set none */
#define CALL_GRACE       (60 * USEC_PER_SEC)  /* a call's slot outlives ring_timeout + call_limit by this */

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

struct call_slot;

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
        struct msg *q_next;      /* in g->start_q, g->wait_q, g->call_q or g->done_q */

        char *key, *person, *to, *subject, *text;
        char *text_nb; /* a call's part said in bokmål (English speakers), NULL none */
        char *cref; /* client reference for providers ({ref}, refId): m->ref, or the key */
        char *token; /* calls: the answer token (in the Gather action URL) */
        bool en;     /* calls: spoken in English (else bokmål) */
        struct call_slot *slot; /* calls: the max_calls slot this attempt holds (gw-calls.c) */
        bool call_go;           /* calls: let out of g->call_q in its turn (gw-calls.c) */
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
        /* How often curl was about to send this attempt's request
         * (CURLOPT_PREREQFUNCTION): a second time is libcurl resending it
         * on a fresh connection after a reused one died without an answer,
         * which it does on its own, also for a POST the gateway may have
         * taken. Refused (RESENT): beredd decides, and logs, a retry. */
        unsigned requests;
        bool resent;
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
        /* Calls (gw-calls.c): the max_calls slots held, by gateway id (so
         * a reload keeps them counted), and the calls waiting for one, in
         * order. */
        struct call_slot *slots;
        unsigned n_slots;
        struct msg *call_q, *call_tail;
        uint64_t call_grace; /* after ring_timeout + call_limit (60 s, $BEREDD_CALL_GRACE_MS) */
        uint64_t backoff_base;
        uint64_t rnd;
        char instance[17];     /* random per process: X-Request-Id's first part */
        uint64_t n_requests;   /* X-Request-Id's second part */
        struct health *health; /* one per configured gateway, configuration order */
        size_t n_health;
        void (*health_hook)(void *userdata);
        void *health_userdata;
        char *fqdn;      /* this machine's FQDN for EHLO, NULL = none */
};

/* ---- gateway.c ---- */

/* Start (or queue) the next attempt of X. */
void gw_start_attempt(struct msg *x);
/* Record X's final result; its callback runs from the dispatch source. */
void gw_complete(struct msg *x, enum gw_result result, const char *error, const char *ref);
/* Run the dispatch source soon (deferred starts, waiting calls, callbacks). */
void gw_kick(struct gateways *g);

/* How attempt X ended: OUT (with ERROR, a short reason without personal
 * data, and the provider's REF on success); RETRY_AFTER (usec, 0 = none)
 * from the server. Retries, fails over, or completes the message. */
void gw_handle_outcome(struct msg *x, enum outcome out, const char *error, const char *ref, uint64_t retry_after);
/* Attempt X (a call) went out whole but got no clear answer (ERROR says
 * what): the gateway counts as failing, the call as placed (GW_SENT
 * without the provider's id), never placed again (see gw-http.c). */
void gw_handle_unconfirmed(struct msg *x, const char *error);
/* TMPL rendered with VARS (escaped per ESC) into *RET (malloc'd); ERR
 * says why not. Returns 0 or -errno. */
int gw_render_alloc(const char *tmpl, enum text_escape esc, const struct text_var *vars, size_t n_vars, char **ret,
                    char *err, size_t errlen);
/* S escaped per ESC into *RET (malloc'd). Returns 0 or -errno. */
int gw_escape_alloc(enum text_escape esc, const char *s, char **ret);
/* The validity to ask of a provider, in seconds. */
uint64_t gw_validity_seconds(const struct msg *x);
/* A fresh easy handle for X to URL with the settings every transfer has
 * (timeouts, protocols, buffers, private pointer). Returns 0 or -errno. */
int gw_easy_common(struct msg *x, const char *url);
int gw_set_basic_auth(struct msg *x, const char *user, const char *password);
/* One more request header (printf-style). */
int gw_add_header(struct msg *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* X's request body as METHOD's (POST, PUT). */
int gw_set_post_body(struct msg *x, const char *method);
/* How a transfer that curl ended with RC went, before any answer. */
enum outcome gw_classify_curl(CURLcode rc);

/* ---- gw-http.c: the HTTP providers (generic, Twilio, Link Mobility) ---- */

int gw_build_http(struct msg *x, char *err, size_t errlen);
int gw_build_twilio(struct msg *x, char *err, size_t errlen);
int gw_build_linkmobility(struct msg *x, char *err, size_t errlen);
void gw_http_finished(struct msg *x, CURLcode rc);

/* ---- gw-voice.c: calls (Twilio's Calls API, the generic voice gateway) ---- */

int gw_build_twilio_call(struct msg *x, char *err, size_t errlen);
int gw_build_http_call(struct msg *x, char *err, size_t errlen);
/* How a Twilio error CODE refusing a call request ends the attempt. */
enum outcome gw_twilio_call_outcome(long code);
/* The URL Twilio posts a call's key press to ({public_url}/voice/{gw
 * id}/answer/{token}) and its status callback URL
 * ({public_url}/voice/{gw id}/status?ref={cref}), malloc'd. */
int gw_call_urls(const struct msg *x, char **ret_answer, char **ret_status);
/* The TwiML of call X (voice_twiml_call); -E2BIG over Twilio's limit. */
int gw_call_twiml(const struct msg *x, char **ret);

/* ---- gw-calls.c: the max_calls slots ---- */

/* Before attempt X (a call) starts on SRC: true when it holds a slot of
 * SRC now (or needs none), false when it was queued for one. */
bool gw_call_slot_take(struct msg *x, const struct gateway *src);
/* Attempt X ended with OUT: a failed attempt gives its slot back; a call
 * the provider took keeps it until gateway_call_ended() or its expiry. */
void gw_call_attempt_ended(struct msg *x, enum outcome out);
/* Start queued calls that can have a slot now (after a slot was given back
 * or the configuration changed). */
void gw_calls_kick(struct gateways *g);
/* Drop every slot and queued call (gateways_free). */
void gw_calls_free(struct gateways *g);

/* ---- gw-http.c, for gw-voice.c ---- */

/* The generic http profile's request with EXTRA placeholders besides the
 * standard ones. */
int gw_build_http_vars(struct msg *x, const struct text_var *extra, size_t n_extra, char *err, size_t errlen);
/* BASE (trailing '/' dropped) and PATH joined, malloc'd. */
char *gw_url_join(const char *base, const char *path);
/* X's transfer: a POST of x->req to URL as CTYPE, with basic auth. */
int gw_post_request(struct msg *x, const char *url, const char *ctype, const char *user, const char *password,
                    char *err, size_t errlen);

/* ---- gw-smtp.c ---- */

int gw_build_smtp(struct msg *x, char *err, size_t errlen);
void gw_smtp_finished(struct msg *x, CURLcode rc);
/* This machine's FQDN for EHLO (malloc'd), or NULL. */
char *gw_machine_fqdn(void);

/* ---- gw-file.c ---- */

/* Write X into spool/outbox/ (the file gateway) and hand the outcome on. */
void gw_file_send(struct msg *x);
