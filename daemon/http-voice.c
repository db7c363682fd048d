/* http-voice.c - the call webhooks of a voice gateway:
 *
 *   POST /voice/<gateway-id>/answer/<token>   a key pressed in a call: the
 *        <Gather> action of the call's TwiML. Twilio gets TwiML back (what
 *        was recorded, or the question once more); the generic gateway
 *        JSON {"ok":true,"answer":"yes"|"no"|"none"|"ended"}.
 *   POST /voice/<gateway-id>/status           a call's status callback
 *        (ringing, answered, completed, no-answer, busy, ...).
 *
 * Authenticated as the SMS webhooks are (http-webhook.c): Twilio by
 * X-Twilio-Signature over public_url + the target and the form, with the
 * gateway's auth token, and its AccountSid; the generic gateway by its
 * inbound token. A route nobody can authenticate, or of a gateway that does
 * not place calls, is no route (404). The token in the path is made for one
 * call (one person, one activation) and works only through the gateway that
 * placed it. Nothing personal is logged: no numbers, no tokens, no keys. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http-internal.h"
#include "log.h"
#include "macro.h"

/* Status words beredd knows (Twilio's CallStatus, and "answered" for a
 * generic provider); anything else is acknowledged and ignored. */
static const char *known_status(const char *w) {
        static const char *const words[] = { "queued",    "initiated", "ringing", "in-progress", "answered", "completed",
                                             "busy",      "no-answer", "failed",  "canceled",    "machine" };
        char low[16];
        size_t n = w ? strlen(w) : 0;
        if (n == 0 || n >= sizeof(low))
                return NULL;
        for (size_t i = 0; i <= n; i++)
                low[i] = w[i] == '_' ? '-' : (char) tolower((unsigned char) w[i]);
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (streq(low, words[i]))
                        return words[i];
        return NULL;
}

static enum MHD_Result respond_xml(struct req *q, struct MHD_Connection *c, char *xml, int len) {
        enum MHD_Result ok;
        if (len < 0)
                return http_respond_json(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory", NULL);
        ok = http_respond(q, c, MHD_HTTP_OK, "text/xml; charset=utf-8", xml, (size_t) len, NULL, false);
        free(xml);
        return ok;
}

/* The fields of a generic provider's request: NAMES from the form or
 * JSON body, or the query string when there is no body. */
static int generic_fields(struct req *q, struct MHD_Connection *c, const char *const *names, size_t n, char **v) {
        enum body_kind kind = http_body_kind(c, q->len);
        const char *src = q->body ?: "";
        size_t len = q->len;
        if (kind == BODY_OTHER)
                return -EMEDIUMTYPE;
        if (kind == BODY_NONE) {
                src = http_target_query(q);
                len = strlen(src);
        }
        return http_generic_fields(src, len, kind == BODY_JSON, names, n, v);
}

/* The query's "again" and "ref" (beredd wrote them into the URLs). */
static void query_bits(struct req *q, bool *again, char *ref, size_t rlen) {
        struct http_form qf = {};
        const char *qs = http_target_query(q);
        *again = false;
        if (ref)
                ref[0] = '\0';
        if (http_form_parse(qs, strlen(qs), &qf) < 0)
                return;
        const char *a = http_form_get(&qf, "again");
        *again = a && streq(a, "1");
        if (ref)
                http_copy_ref(ref, rlen, http_form_get(&qf, "ref"));
        http_form_done(&qf);
}

/* Twilio's request (WHAT, for the log) as a form, signed with the gateway's
 * auth token and of its account: false with FORM filled (the caller frees
 * it), or true with the refusal queued in *REFUSED. */
static bool twilio_form(struct req *q, struct MHD_Connection *c, const struct gateway *gw, const char *what,
                        struct http_form *form, enum MHD_Result *refused) {
        if (http_body_kind(c, q->len) != BODY_FORM) {
                *refused = http_respond_json(q, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                             "expected application/x-www-form-urlencoded", NULL);
                return true;
        }
        if (http_form_parse(q->body ?: "", q->len, form) < 0) {
                *refused = http_respond_json(q, c, MHD_HTTP_BAD_REQUEST, "bad form", NULL);
                return true;
        }
        const char *bad = http_twilio_signed(q, c, gw, form);
        if (!bad)
                return false;
        http_form_done(form);
        log_warning("Refused %s for voice gateway %s: %s", what, gw->id,
                    streq(bad, "bad signature") ? "bad or missing X-Twilio-Signature"
                                                : "AccountSid is not the gateway's account");
        *refused = http_respond_json(q, c, MHD_HTTP_FORBIDDEN, bad, NULL);
        return true;
}

static enum MHD_Result answer(struct req *q, struct MHD_Connection *c, const struct gateway *gw, const char *token) {
        bool twilio = gw->type == GATEWAY_TWILIO, again = false, en = false;
        char *digits = NULL, sid[128] = "";
        struct http_form form = {};
        enum voice_reply what = VOICE_REPLY_FAILED;
        int r;

        if (twilio) {
                enum MHD_Result refused;
                if (twilio_form(q, c, gw, "a key press", &form, &refused))
                        return refused;
                const char *d = http_form_get(&form, "Digits");
                digits = d ? strdup(d) : NULL;
                http_copy_ref(sid, sizeof(sid), http_form_get(&form, "CallSid"));
                http_form_done(&form);
        } else {
                const char *names[] = { gw->inbound_digits ?: "digits" };
                if (!http_webhook_token_ok(q, c, gw)) {
                        log_warning("Refused a key press for voice gateway %s: bad or missing token", gw->id);
                        return http_respond_json(q, c, MHD_HTTP_FORBIDDEN, "bad token", NULL);
                }
                r = generic_fields(q, c, names, 1, &digits);
                if (r == -EMEDIUMTYPE)
                        return http_respond_json(q, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                                 "expected application/x-www-form-urlencoded or application/json", NULL);
                if (r < 0)
                        return http_respond_json(q, c, MHD_HTTP_BAD_REQUEST, "bad body", NULL);
        }
        query_bits(q, &again, NULL, 0);

        r = q->hooks->voice_answer(q->hooks->userdata, gw->id, sid, token, digits ?: "", &what, &en);
        free(digits);
        if (r == -ENOENT) {
                log_notice("A key press for voice gateway %s names no call of that gateway; ignored", gw->id);
                return http_respond_json(q, c, MHD_HTTP_NOT_FOUND, "no such call", NULL);
        }
        if (!twilio) {
                const char *word = r == -ESTALE                   ? "ended"
                                   : r < 0                        ? NULL
                                   : what == VOICE_REPLY_YES      ? "yes"
                                   : what == VOICE_REPLY_NO       ? "no"
                                                                  : "none";
                char extra[48];
                if (!word)
                        return http_respond_json(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "try again", NULL);
                snprintf(extra, sizeof(extra), "\"answer\":\"%s\"", word);
                return http_respond_json(q, c, MHD_HTTP_OK, NULL, extra);
        }

        /* A second wrong key: the closing sentence, no third question. */
        if (what == VOICE_REPLY_INVALID && again)
                what = VOICE_REPLY_CLOSING;
        _cleanup_free_ char *action = NULL;
        if (what == VOICE_REPLY_INVALID &&
            asprintf(&action, "%s/voice/%s/answer/%s?again=1", q->cfg->http.public_url, gw->id, token) < 0)
                action = NULL;
        if (what == VOICE_REPLY_INVALID && !action)
                what = VOICE_REPLY_CLOSING;
        struct voice_say say = { .en = en, .voice = en ? gw->say_voice_en : gw->say_voice };
        char *xml = NULL;
        int len = voice_twiml_reply(&say, what, action, &xml);
        return respond_xml(q, c, xml, len);
}

static enum MHD_Result status(struct req *q, struct MHD_Connection *c, const struct gateway *gw) {
        char sid[128] = "", ref[128] = "", answered_by[32] = "";
        const char *word = NULL;
        int duration = -1;
        bool again;
        int r;

        if (gw->type == GATEWAY_TWILIO) {
                struct http_form form = {};
                enum MHD_Result refused;
                if (twilio_form(q, c, gw, "a call status", &form, &refused))
                        return refused;
                http_copy_ref(sid, sizeof(sid), http_form_get(&form, "CallSid"));
                word = known_status(http_form_get(&form, "CallStatus"));
                http_copy_ref(answered_by, sizeof(answered_by), http_form_get(&form, "AnsweredBy"));
                const char *d = http_form_get(&form, "CallDuration");
                if (d && *d && strlen(d) < 7 && strspn(d, "0123456789") == strlen(d))
                        duration = atoi(d);
                http_form_done(&form);
        } else {
                const char *names[] = { gw->inbound_ref ?: "ref", gw->inbound_status ?: "status", "answered_by",
                                        "duration" };
                char *v[4] = {};
                if (!http_webhook_token_ok(q, c, gw)) {
                        log_warning("Refused a call status for voice gateway %s: bad or missing token", gw->id);
                        return http_respond_json(q, c, MHD_HTTP_FORBIDDEN, "bad token", NULL);
                }
                r = generic_fields(q, c, names, 4, v);
                if (r >= 0) {
                        http_copy_ref(sid, sizeof(sid), v[0]);
                        word = known_status(v[1]);
                        http_copy_ref(answered_by, sizeof(answered_by), v[2]);
                        if (v[3] && *v[3] && strlen(v[3]) < 7 && strspn(v[3], "0123456789") == strlen(v[3]))
                                duration = atoi(v[3]);
                }
                for (size_t i = 0; i < ELEMENTSOF(v); i++)
                        free(v[i]);
                if (r == -EMEDIUMTYPE)
                        return http_respond_json(q, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                                 "expected application/x-www-form-urlencoded or application/json", NULL);
                if (r < 0)
                        return http_respond_json(q, c, MHD_HTTP_BAD_REQUEST, "bad body", NULL);
        }
        query_bits(q, &again, ref, sizeof(ref));
        if (!sid[0] && !ref[0])
                return http_respond_json(q, c, MHD_HTTP_BAD_REQUEST, "not a call status", NULL);
        if (!word)
                return http_respond_json(q, c, MHD_HTTP_OK, NULL, "\"ignored\":true");

        /* By the provider's call id, else by the reference beredd put in
         * the callback URL (a call whose request got no clear answer). */
        r = q->hooks->call_status(q->hooks->userdata, gw->id, sid, ref, word, answered_by, duration);
        if (http_storage_error(r)) {
                log_warning_errno(r, "A call status from voice gateway %s could not be recorded: %m", gw->id);
                return http_respond_json(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "try again", NULL);
        }
        log_debug("Call status from voice gateway %s (%s): %s", gw->id, word, r >= 0 ? "recorded" : strerror(-r));
        return http_respond_json(q, c, MHD_HTTP_OK, NULL, r >= 0 ? "\"known\":true" : "\"known\":false");
}

enum MHD_Result http_route_voice(struct req *q, struct MHD_Connection *c, const char *method, const char *gw_id,
                                 const char *token) {
        const struct gateway *gw = config_gateway(q->cfg, gw_id);

        if (!gw || gw->channel != CHANNEL_VOICE || !http_webhook_authenticated(gw, q->cfg->http.public_url))
                return http_respond_json(q, c, MHD_HTTP_NOT_FOUND, "no such gateway", NULL);
        if (!streq(method, "POST"))
                return http_respond_405(q, c, "POST");
        if (token && (strlen(token) != 32 || strspn(token, "0123456789abcdef") != 32))
                return http_respond_json(q, c, MHD_HTTP_NOT_FOUND, "no such call", NULL);
        return token ? answer(q, c, gw, token) : status(q, c, gw);
}
