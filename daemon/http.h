/* http.h - the HTTP listener: SMS webhooks and delivery receipts from the
 * gateways, one-tap e-mail answers, /healthz and /metrics; and the outgoing
 * heartbeat.
 *
 * libmicrohttpd runs on the daemon's sd-event loop with its external-select
 * API and no threads of its own: one io source watches its epoll fd, one
 * time source its timeout. The heartbeat is a GET through a libcurl multi
 * handle on the same loop. Nothing here blocks.
 *
 * Routes (answers are small and never carry personal data):
 *   POST /sms/<gateway-id>/inbound   an SMS reply: Twilio (form, signed),
 *                                    Link Mobility (MO JSON), generic
 *                                    (form or JSON, configured field names)
 *   POST /sms/<gateway-id>/receipt   a delivery report
 *   POST /voice/<gateway-id>/answer/<token>  a key pressed in a call (TwiML back)
 *   POST /voice/<gateway-id>/status  a call's status callback
 *   GET  /a/<token>/yes|no           confirmation page (changes nothing)
 *   POST /a/<token>/yes|no           records the answer
 *   GET  /healthz                    200 "ok" or 503 (liveness: loop, spool, listener)
 *   GET  /readyz                     200 "ready" or 503 "not ready: why" (messages can go out)
 *   GET  /metrics                    Prometheus text format 0.0.4 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include <jansson.h>

#include "command.h"
#include "config.h"
#include "voice.h"

struct http;

/* What the listener asks of the daemon (the server gives these, as it gives
 * mqtt_hooks to the MQTT client). Every hook is called from the loop, with
 * USERDATA, and must be set. */
struct http_hooks {
        /* /healthz: true when the loop runs and the spool takes writes. */
        bool (*healthy)(void *userdata);
        /* /readyz: healthy, no channel in use with every gateway down, and
         * no message waiting for a gateway longer than a minute. WHY (LEN
         * bytes, may be NULL) says why not, without personal data. */
        bool (*ready)(void *userdata, char *why, size_t len);
        /* /metrics: the daemon's part of the Prometheus text (malloc'd);
         * the listener adds its own counters after it. */
        char *(*metrics)(void *userdata);
        /* An SMS arrived at a gateway webhook. FROM is the sender's number
         * in any common form ("+4791234567", "004791234567", "91234567");
         * TEXT is what they typed ("JA 4821", "ja", "OK 48213", "UTSETT
         * 48213 3", ...). Unknown senders: logged, ignored, -ENOENT.
         * Returns 0 when it was taken as an answer. A word back to the
         * sender (asking for the code, not understood, a receipt) is
         * returned in *SMS_BACK (malloc'd) for the webhook's response
         * (Twilio TwiML) when SMS_BACK is not NULL; otherwise the daemon
         * sends it through the SMS gateways itself. */
        int (*sms_inbound)(void *userdata, const char *gateway_id, const char *provider_msg_id, const char *from,
                           const char *text, char **sms_back);
        /* Replay protection (see seen.h): record PROVIDER_MSG_ID of a message
         * through GATEWAY_ID durably before it is acted on. 1 when seen
         * before (acknowledge, ignore), 0 when recorded (or when there is no
         * id), -errno when it could not be written (answer "try again").
         * message_forget takes it back when acting failed. */
        int (*message_seen)(void *userdata, const char *gateway_id, const char *provider_msg_id);
        void (*message_forget)(void *userdata, const char *gateway_id, const char *provider_msg_id);
        /* A delivery receipt through gateway GATEWAY_ID's route: REF is the
         * provider's message id or the client reference beredd sent. Only a
         * notification sent through GATEWAY_ID matches. DELIVERED false:
         * undeliverable. Returns 0, or -ENOENT when nothing matches. */
        int (*receipt)(void *userdata, const char *gateway_id, const char *ref, bool delivered, const char *detail);
        /* One-tap e-mail answers. token_lookup fills *INFO with {"activation",
         * "chain","state","drill","person","answer","valid","verify"} for the
         * confirmation page (GET); token_answer records yes/no, or a check's
         * OK (VERIFY; ANSWER is then ANSWER_YES) (POST). -ENOENT for an
         * unknown or forged token or a link of the other kind, -ESTALE when
         * the activation has ended. */
        int (*token_lookup)(void *userdata, const char *token, json_t **info);
        int (*token_answer)(void *userdata, const char *token, bool verify, enum answer answer, json_t **reply,
                            char *err, size_t errlen);
        /* Calls (voice gateways). voice_answer: DIGITS pressed in the call
         * whose answer TOKEN it is, through GATEWAY_ID: *WHAT says what
         * the caller hears, *EN in which language (see
         * activations_voice_answer; -ENOENT: no such call). call_status: a
         * status callback for the call CALL_SID or REF names ("" when the
         * request had none; see activations_call_status; -ENOENT: none). */
        int (*voice_answer)(void *userdata, const char *gateway_id, const char *call_sid, const char *token,
                            const char *digits, enum voice_reply *what, bool *en);
        int (*call_status)(void *userdata, const char *gateway_id, const char *call_sid, const char *ref,
                           const char *status, const char *answered_by, int duration);
        /* The absence survey's links /s/TOKEN/ok and /s/TOKEN/away.
         * survey_lookup fills *INFO with {"title","range","from","to",
         * "min","max","min_text","max_text","answer","lang"} (0; -ESTALE: the period is over; -ENOENT: no such link);
         * survey_answer records an OK (FROM NULL) or an absence of the
         * whole days FROM..TO ("YYYY-MM-DD"): 0, -ENOENT, -ESTALE,
         * -EINVAL (the dates; ERR says why, in English), or a spool error. */
        int (*survey_lookup)(void *userdata, const char *token, json_t **info);
        int (*survey_answer)(void *userdata, const char *token, const char *from, const char *to, char *err,
                             size_t errlen);
        void *userdata;
};

/* Start the listener (when cfg->http.listen is set) and the heartbeat (when
 * configured) on E; HOOKS is copied. *RET is set even when the section is
 * absent, so that a later http_set_config() can say what needs a restart.
 * Returns 0, or -errno (logged), e.g. -EADDRINUSE. */
int http_new(sd_event *e, const struct config *cfg, const struct http_hooks *hooks, struct http **ret);
/* Stop listening, drop open connections and the heartbeat, free. */
void http_free(struct http *h);
/* After a reload: webhooks and pages use CFG at once, the heartbeat is
 * re-armed; a changed listen address is logged and needs a restart. */
void http_set_config(struct http *h, const struct config *cfg);

/* ---- pure helpers, exposed for the unit tests ---- */

/* Decoded x-www-form-urlencoded fields, in the order they came. */
struct http_field {
        char *name;
        char *value;
};
struct http_form {
        struct http_field *v;
        size_t n;
};
/* Parse LEN bytes of "a=1&b=x+y%21". -EINVAL on a bad %-escape, a NUL or
 * invalid UTF-8 in a name or value; -ENOMEM. */
/* Whether the inbound and receipt routes of GW can be authenticated: a
 * twilio gateway with its auth token and a public URL (the signature is
 * over it), an http or linkmobility gateway with an inbound token. The
 * routes of any other gateway answer 404. */
/* False while the listener leaves connections unaccepted (see http.c);
 * true when there is no listener. */
bool http_accepting(const struct http *h);

/* Whether two Content-Length values disagree (a request with such a pair
 * is refused with 400; a value that is not a number counts as a conflict). */
bool http_content_length_conflict(const char *a, const char *b);

/* Whether a connection is past its deadline: its request head not in
 * within 5 s of connect (or of its last response), or its response not
 * sent within 20 s of the head. Times in usec, CLOCK_MONOTONIC. */
bool http_conn_overdue(bool in_request, uint64_t since, uint64_t now);

bool http_webhook_authenticated(const struct gateway *gw, const char *public_url);

int http_form_parse(const char *s, size_t len, struct http_form *ret);
/* The first value of NAME, or NULL. */
const char *http_form_get(const struct http_form *f, const char *name);
void http_form_done(struct http_form *f);

/* Twilio's X-Twilio-Signature: base64(HMAC-SHA1(TOKEN, URL + the form
 * fields sorted by name, each name immediately followed by its value)).
 * OUT gets 28 characters and a NUL. Returns 0 or -errno. */
int http_twilio_signature(const char *token, const char *url, const struct http_form *form, char out[static 29]);
/* Constant-time check of SIGNATURE (may be NULL: false). */
bool http_twilio_valid(const char *token, const char *url, const struct http_form *form, const char *signature);

/* What a delivery report says. */
enum http_dlr {
        HTTP_DLR_PENDING,       /* intermediate (queued, sent, ...): acknowledged, ignored */
        HTTP_DLR_DELIVERED,
        HTTP_DLR_UNDELIVERABLE, /* final: the person is unreachable on this channel */
};
struct http_receipt {
        char ref[128];     /* beredd's own key (Link Mobility refId) or the provider's id */
        char alt_ref[128]; /* the other one, when the report carries both; "" otherwise */
        enum http_dlr state;
        char detail[96];   /* e.g. "twilio undelivered 30003"; no personal data */
};

/* Link Mobility ("Common" platform) MO JSON: the sender ("source") and the
 * text ("content.userData", or a top-level "userData"); malloc'd.
 * -EINVAL when the body is not such an object. */
int http_linkmobility_mo(const char *body, size_t len, char **ret_from, char **ret_text);
/* Link Mobility delivery report JSON ("refId", "id", "resultCode"). */
int http_linkmobility_dlr(const char *body, size_t len, struct http_receipt *ret);
/* Twilio status callback form (MessageSid, MessageStatus, ErrorCode). */
int http_twilio_dlr(const struct http_form *f, struct http_receipt *ret);
/* A generic status word ("delivered", "DELIVRD", "failed", "UNDELIV",
 * "expired", ...; case-insensitive): anything unknown is pending. */
enum http_dlr http_dlr_from_word(const char *status);

/* The fields NAMES[0..N) of a generic webhook body: x-www-form-urlencoded
 * when JSON is false; a JSON object when true, where a name may be an
 * "a.b" path and numbers count as text. VALUES[i] is malloc'd, or NULL when
 * the field is absent. Returns 0, -EINVAL when the body cannot be parsed
 * (or a value holds a NUL), -ENOMEM. */
int http_generic_fields(const char *body, size_t len, bool json, const char *const *names, size_t n, char **values);

/* Copy SRC (may be NULL) into DST (N bytes) when it is printable ASCII
 * without blanks and fits; DST is "" otherwise. For references and words
 * that end up in logs and lookups. */
void http_copy_ref(char *dst, size_t n, const char *src);
