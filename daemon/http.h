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

#include "config.h"

struct server;
struct http;

/* Start the listener (when cfg->http.listen is set) and the heartbeat (when
 * configured) on E. *RET is set even when the section is absent, so that a
 * later http_set_config() can say what needs a restart. Returns 0, or
 * -errno (logged), e.g. -EADDRINUSE. */
int http_new(sd_event *e, const struct config *cfg, struct server *s, struct http **ret);
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
