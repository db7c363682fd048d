/* http-internal.h - what the parts of the HTTP listener share (private to
 * http.c, http-page.c and http-webhook.c): one request, the response
 * writers, and the routes the parts serve. The listener itself (struct
 * http, libmicrohttpd on the loop, the heartbeat) is http.c's alone. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include <microhttpd.h>

#include "http.h"

/* One request, from the URI log callback to the completion callback. */
struct req {
        struct http *h;
        /* Set when the request is routed: the configuration of that moment
         * and the daemon's hooks (a request is answered before the loop
         * goes on, so a reload never changes them under it). */
        const struct config *cfg;
        const struct http_hooks *hooks;
        char *target; /* raw request target: "/sms/x/inbound?token=..." */
        char *body;
        size_t len, cap, seen;
        bool started;
        bool too_large;
};

/* Queue a response with BODY (copied), counted for /metrics. ALLOW names
 * the methods for a 405; PAGE adds the headers of an answer page (no
 * Referer, no framing, no indexing, a strict CSP). */
enum MHD_Result http_respond(struct req *q, struct MHD_Connection *c, unsigned code, const char *type,
                             const char *body, size_t len, const char *allow, bool page);
enum MHD_Result http_respond_text(struct req *q, struct MHD_Connection *c, unsigned code, const char *text);
/* {"ok":true[,EXTRA]} or {"ok":false,"error":"ERROR"}: ERROR is one of our
 * own fixed texts, never input. */
enum MHD_Result http_respond_json(struct req *q, struct MHD_Connection *c, unsigned code, const char *error,
                                  const char *extra);
enum MHD_Result http_respond_405(struct req *q, struct MHD_Connection *c, const char *allow);

/* S with & < > (and with QUOTES " ') written as entities, to F. */
void http_markup_escape(FILE *f, const char *s, bool quotes);

/* An error that says "try again later" (503), not "bad request". */
static inline bool http_storage_error(int r) {
        return r == -ENOSPC || r == -EIO || r == -EROFS || r == -EDQUOT || r == -ENOMEM;
}

/* http-page.c: /a/TOKEN/yes|no (a call-out's link, ANSWER) and /a/TOKEN/ok
 * (CHECK: a contact-list check's; ANSWER is ANSWER_YES). */
/* http-page.c: an answer page's head (in the language EN says, TITLE
 * escaped, the shared style and CSS after it) up to its <h1>. */
void http_page_begin(FILE *f, bool en, const char *title, const char *css);
/* http-survey.c: /s/TOKEN/ok and /s/TOKEN/away (AWAY), the absence
 * survey's links. */
enum MHD_Result http_route_survey(struct req *q, struct MHD_Connection *c, const char *method, const char *token,
                                  bool away);
enum MHD_Result http_route_answer(struct req *q, struct MHD_Connection *c, const char *method, const char *token,
                                  enum answer answer, bool check);
/* http-webhook.c: what a webhook's body is, its query, and the checks
 * every webhook of GW makes: the shared token (http, linkmobility), or
 * Twilio's signature over public_url + target and the form FORM, and its
 * AccountSid (NULL when good, else the error: "bad signature", "wrong
 * account"). */
enum body_kind {
        BODY_NONE,
        BODY_FORM,
        BODY_JSON,
        BODY_OTHER,
};
enum body_kind http_body_kind(struct MHD_Connection *c, size_t len);
/* The query string of the raw target (without '?'), or "". */
const char *http_target_query(const struct req *q);
bool http_webhook_token_ok(struct req *q, struct MHD_Connection *c, const struct gateway *gw);
const char *http_twilio_signed(struct req *q, struct MHD_Connection *c, const struct gateway *gw,
                               const struct http_form *form);
/* http-voice.c: /voice/GW_ID/answer/TOKEN (TOKEN NULL: /voice/GW_ID/status). */
enum MHD_Result http_route_voice(struct req *q, struct MHD_Connection *c, const char *method, const char *gw_id,
                                 const char *token);
/* http-webhook.c: /sms/GW_ID/inbound, or /sms/GW_ID/receipt (RECEIPT). */
enum MHD_Result http_route_sms(struct req *q, struct MHD_Connection *c, const char *method, const char *gw_id,
                               bool receipt);
