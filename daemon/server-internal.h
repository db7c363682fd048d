/* server-internal.h - what the parts of the daemon's core share (private to
 * server.c, server-answer.c and server-metrics.c, as timesyncd-manager.h is
 * to timesyncd): struct server, the trouble summary, and the few functions
 * one part calls in another. Everything else uses server.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <systemd/sd-event.h>

#include "activation.h"
#include "command.h"
#include "config.h"
#include "retention.h"
#include "server.h"

static inline uint64_t server_now_monotonic(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* Wrong reply codes from one sender (CLOCK_MONOTONIC usec): after MAX
 * within WINDOW, codes are refused until LOCKED_UNTIL. */
struct code_window {
        uint64_t since, locked_until;
        unsigned n;
};

static inline bool code_window_locked(const struct code_window *w, uint64_t now) {
        return w->locked_until > now;
}

/* One more wrong code at NOW; true when it starts a lockout (log it then). */
static inline bool code_window_wrong(struct code_window *w, uint64_t now, unsigned max, uint64_t window, uint64_t lockout) {
        if (!w->n || now - w->since > window) {
                w->n = 0;
                w->since = now;
        }
        if (++w->n < max)
                return false;
        w->n = 0;
        w->locked_until = now + lockout;
        return true;
}

/* Counters for /metrics: notifications by channel (sms, email) and result,
 * and the gateway latency histogram (server-metrics.c). */
struct server_counts {
        uint64_t n_notif[3][5]; /* by channel (sms, email, voice): sent, failed, delivered, undeliverable, unreachable */
        /* Calls by outcome (call_outcomes in server-metrics.c) and key presses (1, 2, other). */
        uint64_t n_calls[6];
        uint64_t n_keys[3];
        uint64_t latency_bucket[10]; /* gateway latency histogram (cumulative at export) */
        double latency_sum;
        uint64_t latency_count;
};

struct server {
        sd_event *event;
        char *config_path;
        char *socket_path;
        bool foreground;
        struct config *config;
        struct store *store;
        struct seen *seen; /* inbound SMS message ids already taken (replays) */
        struct ctl *ctl;
        struct mqtt *mqtt; /* NULL when not configured */
        struct calendar *cal;
        struct gateways *gw;
        struct http *http;
        struct duty *duty;
        struct absences *absences; /* people away (absence.h) */
        struct activations *acts;
        struct followup *fu;
        struct retention *ret; /* the retention sweep */
        bool mq_summary; /* followup/summary to be published */
        bool mq_status;  /* the trouble fields of <base>/status to be published */
        int ready;       /* last readiness computed: 1 ready, 0 not, -1 not yet (logged on change) */
        uint64_t ready_grace; /* READY_GRACE_USEC, or $BEREDD_READY_GRACE_MS (tests) */
        struct code_window mq_codes; /* wrong reply codes over MQTT */

        /* MQTT output waits here until the loop iteration's durable writes
         * are done (write-ahead): libmosquitto writes to its socket at once. */
        sd_event_source *mqtt_flush;
        /* STATUS= after a command: when the loop is idle, so that sd_notify
         * (a socket, a message, a close) is not between a trigger and its
         * first request; the last text sent, not sent again. */
        sd_event_source *status_later;
        char *status_sent;
        /* malloc_trim when the loop is idle after a burst (server_trim_soon):
         * glibc keeps freed heap at the top of the heap and in free chunks. */
        sd_event_source *trim;
        uint64_t trim_seq; /* activations_logged_seq() at the last trim */
        struct mq_event {
                char *payload;
                uint64_t seq; /* activations_logged_seq() when it was queued */
        } *mq_events;
        size_t n_mq_events;
        char **mq_activations; /* ids whose retained state is to be published */
        size_t n_mq_activations;

        sd_event_source *sig_term, *sig_int, *sig_hup;
        struct incoming *incoming; /* the drop folder */
        sd_event_source *retry;  /* timer: retry after a temporary spool error */

        uint64_t started_usec; /* CLOCK_REALTIME */
        struct server_counts counts; /* for /metrics (server-metrics.c) */
        /* server-answer.c: texts sent back to SMS senders (for their keys),
         * and per person wrong codes and texts back (in memory) */
        unsigned n_back;
        struct sender_limit *limits;
        size_t n_limits;
        uint64_t n_reloads;
        bool spool_error; /* the spool could not take a write (e.g. full) */
        /* server-coverage.c: the retained coverage/<chain> payloads last
         * published (chain id -> text), and the timer that checks them */
        json_t *mq_coverage;
        sd_event_source *coverage_timer;
        uint64_t coverage_check; /* the timer's interval */
        /* server-survey.c: the absence surveys, the timer of their
         * schedule, and the deferred save of gateway results */
        struct surveys *surveys;
        sd_event_source *survey_timer, *survey_save;
        char spool_error_text[128];
};

/* ---- trouble: gateways down, messages waiting (server.c) ---- */

extern const enum channel trouble_channels[3]; /* CHANNEL_SMS, CHANNEL_EMAIL, CHANNEL_VOICE */

struct trouble {
        unsigned served[3], down[3], waiting_on[3]; /* by trouble_channels[] */
        uint64_t oldest[3];                      /* usec the longest-waiting message has waited */
        unsigned gateways_down, waiting;
        uint64_t oldest_all;
};

void trouble_get(struct server *s, struct trouble *t);
/* A channel in use (served by a gateway) whose every gateway is down. */
bool trouble_channel_dead(const struct trouble *t, size_t c);

/* ---- server.c ---- */

/* STATUS= for systemd, from the spool state, trouble and counts. */
void server_update_status(struct server *s);
/* A write failed with -errno R: remembered for status and STATUS=, logged
 * once; the spool probe notices when it takes writes again. */
void server_spool_failed(struct server *s, int r, const char *what);
/* Health (/healthz): the loop runs, the spool takes writes, the listener
 * accepts. */
bool server_healthy(struct server *s);
/* Readiness (/readyz): see the ready hook in http.h. Logs a change. */
bool server_ready(struct server *s, char *why, size_t len);

/* ---- server-away.c: absences (away, away.list, away.cancel; SMS BORTE) ---- */

int server_away(struct server *s, const struct command *cmd, enum source src, json_t **reply, char *err,
                size_t errlen);
int server_away_list(struct server *s, const struct command *cmd, json_t **reply);
int server_away_cancel(struct server *s, const struct command *cmd, json_t **reply, char *err, size_t errlen);

/* ---- server-coverage.c: the coverage forecast ---- */
int server_coverage(struct server *s, const struct command *cmd, json_t **reply, char *err, size_t errlen);
/* Publish <base>/coverage/<chain> for every chain whose payload changed (FORCE: all). */
void server_coverage_publish(struct server *s, bool force);
int server_coverage_start(struct server *s);
void server_coverage_stop(struct server *s);
/* An SMS TEXT from P that is an absence text (BORTE ..., TILBAKE): carried
 * out, and the text back to P in BACK; true. False: not one (an answer). */
bool server_away_sms(struct server *s, const struct person *p, const char *text, char *back, size_t backlen);

/* ---- server-survey.c: the absence survey before a heightened period ---- */
struct text_reply;
int server_survey(struct server *s, const struct command *cmd, json_t **reply, char *err, size_t errlen);
int server_survey_list(struct server *s, json_t **reply);
/* The schedule: open what survey_before says, remind, close (the timer
 * calls it; so does every answer). */
void server_survey_check(struct server *s);
/* An SMS answer RP from P that may be a survey's: 0 not one (go on); 1
 * recorded, the receipt in BACK; -errno handled, the text back in BACK
 * (*WRONG_CODE: a 6-digit code that is no ask of theirs, counted toward the
 * lockout). */
int server_survey_sms(struct server *s, const struct person *p, const struct text_reply *rp, bool *wrong_code,
                      char *back, size_t backlen);
/* P reported an absence [FROM, TO) themselves (VIA "sms", "email"): an
 * answer to the surveys whose period it overlaps. */
void server_survey_absence(struct server *s, const struct person *p, uint64_t from, uint64_t to, const char *via);
/* Absences changed (any way): the coverage topic, and news to leaders. */
void server_absences_changed(struct server *s);
void server_survey_absences_changed(struct server *s);
/* The answer link's hooks (http.h). */
int server_survey_token(struct server *s, const char *token, json_t **info);
int server_survey_token_answer(struct server *s, const char *token, const char *from, const char *to, char *err,
                               size_t errlen);
/* { state, asked, answered, away } of chain C's people in the survey of the
 * period FROM..TO, or NULL: counts only, for MQTT. */
json_t *server_survey_counts(struct server *s, const struct chain *c, struct ymd from, struct ymd to);
/* 0, or -errno after logging what failed. */
int server_survey_start(struct server *s);
void server_survey_stop(struct server *s);

/* ---- server-metrics.c ---- */

/* Count activation event EV (sent, failed, delivered, undeliverable, and
 * the gateway latency). */
void server_count_event(struct server_counts *c, const struct act_event *ev);
/* The daemon's Prometheus text (malloc'd): see the metrics hook in http.h. */
char *server_metrics(struct server *s);

/* ---- server-answer.c: answers that come in through the HTTP listener ---- */

/* The hooks of http.h, for S. */
int server_sms_inbound(struct server *s, const char *gateway_id, const char *provider_msg_id, const char *from,
                       const char *text, char **sms_back);
int server_message_seen(struct server *s, const char *gateway_id, const char *provider_msg_id);
void server_message_forget(struct server *s, const char *gateway_id, const char *provider_msg_id);
int server_receipt(struct server *s, const char *gateway_id, const char *ref, bool delivered, const char *detail);
int server_token_lookup(struct server *s, const char *token, json_t **info);
int server_token_answer(struct server *s, const char *token, bool verify, enum answer answer, json_t **reply,
                        char *err, size_t errlen);
int server_voice_answer(struct server *s, const char *gateway_id, const char *call_sid, const char *token,
                        const char *digits, enum voice_reply *what, bool *en);
int server_call_status(struct server *s, const char *gateway_id, const char *call_sid, const char *ref,
                       const char *status, const char *answered_by, int duration);
/* Free the per-sender limits (wrong codes, texts back). */
void server_limits_free(struct server *s);
