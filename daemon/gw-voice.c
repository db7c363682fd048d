/* gw-voice.c - calls: Twilio's Programmable Voice Calls API and the
 * generic http voice gateway (the SMS templates with the call's webhooks).
 *
 * A call says gw_message.text (drill sentence, chain, the operator's text)
 * and the key-press prompt inside a <Gather> whose action is
 * {public_url}/voice/{gateway id}/answer/{token}, in bokmål or English
 * (voice.c makes the TwiML). Its status comes back to
 * {public_url}/voice/{gateway id}/status?ref={client reference}. Which
 * calls may be in flight at once is gw-calls.c's business; how the answer
 * is read is gw-http.c's (the 201's "sid" is the provider's ref). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway-internal.h"
#include "log.h"
#include "macro.h"
#include "voice.h"
#include "wording.h"

int gw_call_urls(const struct msg *x, char **ret_answer, char **ret_status) {
        const struct config *cfg = x->g->cfg;
        /* Without a public URL (the configuration requires one for a voice
         * gateway) the paths alone, so a file gateway's record still says
         * where the answer would go. */
        const char *base = cfg && cfg->http.public_url ? cfg->http.public_url : "";
        const char *id = x->gw && x->gw->id ? x->gw->id : "-";
        char *a = NULL, *s = NULL;

        if (asprintf(&a, "%s/voice/%s/answer/%s", base, id, x->token ? x->token : "") < 0)
                return -ENOMEM;
        if (asprintf(&s, "%s/voice/%s/status?ref=%s", base, id, x->cref) < 0) {
                free(a);
                return -ENOMEM;
        }
        *ret_answer = a;
        *ret_status = s;
        return 0;
}

int gw_call_twiml(const struct msg *x, char **ret) {
        _cleanup_free_ char *answer = NULL, *status = NULL;
        const struct gateway *gw = x->gw;
        struct voice_say say = { .en = x->en, .voice = gw ? (x->en ? gw->say_voice_en : gw->say_voice) : NULL,
                                 .voice_nb = gw ? gw->say_voice : NULL };
        int r = gw_call_urls(x, &answer, &status);

        if (r < 0)
                return r;
        return voice_twiml_call(&say, x->text, x->text_nb, answer, ret);
}

/* "&NAME=VALUE" (VALUE form-escaped) appended to x->req. */
static int form_add(struct msg *x, const char *name, const char *value) {
        _cleanup_free_ char *v = NULL;
        char *s;
        int r;

        if (gw_escape_alloc(TEXT_ESCAPE_URL, value, &v) < 0)
                return -ENOMEM;
        r = asprintf(&s, "%s%s%s=%s", x->req ? x->req : "", x->req ? "&" : "", name, v);
        if (r < 0)
                return -ENOMEM;
        free(x->req);
        x->req = s;
        x->req_len = (size_t) r;
        return 0;
}

/* Twilio Calls API: POST {url}/2010-04-01/Accounts/{sid}/Calls.json, form
 * fields To, From, Twiml (inline: nothing to fetch from us before it
 * rings), StatusCallback with the four events beredd follows (initiated
 * ringing answered completed; "completed" carries no-answer, busy, failed
 * and canceled as its CallStatus), StatusCallbackMethod, Timeout (ring
 * time, s), TimeLimit (s) and MachineDetection when configured; basic auth
 * SID:token. */
int gw_build_twilio_call(struct msg *x, char *err, size_t errlen) {
        static const char *const events[] = { "initiated", "ringing", "answered", "completed" };
        const struct gateway *gw = x->gw;
        _cleanup_free_ char *sid = NULL, *path = NULL, *url = NULL, *twiml = NULL, *answer = NULL, *status = NULL;
        char num[24];
        int r;

        if (!gw->account || !gw->from || !gw->url) {
                snprintf(err, errlen, "twilio needs account, from and url");
                return -EINVAL;
        }
        if (!x->g->cfg || !x->g->cfg->http.public_url) {
                snprintf(err, errlen, "a voice gateway needs http.public_url");
                return -EINVAL;
        }
        r = gw_call_twiml(x, &twiml);
        if (r == -E2BIG) {
                log_warning("Call %s (person %s): its TwiML is longer than Twilio's 4000 characters; the call is not "
                            "placed (shorten the message)",
                            x->lkey, x->person);
                snprintf(err, errlen, "the call's text is too long for Twilio (TwiML over 4000 characters)");
                return -EBADMSG;
        }
        if (r < 0) {
                snprintf(err, errlen, "cannot compose the call: %s", strerror(-r));
                return r == -ENOMEM ? r : -EBADMSG;
        }
        if (gw_escape_alloc(TEXT_ESCAPE_URL, gw->account, &sid) < 0 || gw_call_urls(x, &answer, &status) < 0)
                return -ENOMEM;
        if (asprintf(&path, "/2010-04-01/Accounts/%s/Calls.json", sid) < 0) {
                path = NULL;
                return -ENOMEM;
        }
        if (!(url = gw_url_join(gw->url, path)))
                return -ENOMEM;

        r = form_add(x, "To", x->to);
        if (r >= 0)
                r = form_add(x, "From", gw->from);
        if (r >= 0)
                r = form_add(x, "Twiml", twiml);
        if (r >= 0)
                r = form_add(x, "StatusCallback", status);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(events); i++)
                r = form_add(x, "StatusCallbackEvent", events[i]);
        if (r >= 0)
                r = form_add(x, "StatusCallbackMethod", "POST");
        snprintf(num, sizeof(num), "%" PRIu64, gw->ring_timeout / USEC_PER_SEC);
        if (r >= 0)
                r = form_add(x, "Timeout", num);
        snprintf(num, sizeof(num), "%" PRIu64, gw->call_limit / USEC_PER_SEC);
        if (r >= 0)
                r = form_add(x, "TimeLimit", num);
        if (r >= 0 && gw->machine_detection != MACHINE_DETECTION_OFF)
                r = form_add(x, "MachineDetection",
                             gw->machine_detection == MACHINE_DETECTION_ENABLE ? "Enable" : "DetectMessageEnd");
        if (r < 0)
                return r;
        return gw_post_request(x, url, "application/x-www-form-urlencoded", gw->account, gw->password, err, errlen);
}

/* The generic voice gateway: the SMS profile's templates with {answer_url}
 * and {status_url} (carrying the gateway's inbound token as ?token=, the
 * provider must present it when it posts back), {lang} and {prompt}. */
int gw_build_http_call(struct msg *x, char *err, size_t errlen) {
        const struct gateway *gw = x->gw;
        _cleanup_free_ char *answer = NULL, *status = NULL, *tok = NULL, *a = NULL, *s = NULL;

        if (gw_call_urls(x, &answer, &status) < 0)
                return -ENOMEM;
        if (gw->inbound_token) {
                if (gw_escape_alloc(TEXT_ESCAPE_URL, gw->inbound_token, &tok) < 0)
                        return -ENOMEM;
                if (asprintf(&a, "%s?token=%s", answer, tok) < 0 || asprintf(&s, "%s&token=%s", status, tok) < 0)
                        return -ENOMEM;
        }
        const struct text_var extra[] = {
                { "answer_url", a ? a : answer },
                { "status_url", s ? s : status },
                { "lang", x->en ? "en-US" : "nb-NO" },
                { "prompt", W(x->en, W_VOICE_PROMPT) },
        };
        /* {text} is the whole spoken text: the provider has one language. */
        char *text = x->text, *joined = NULL;
        if (x->text_nb && asprintf(&joined, "%s %s", x->text, x->text_nb) < 0)
                return -ENOMEM;
        if (joined)
                x->text = joined;
        int r = gw_build_http_vars(x, extra, ELEMENTSOF(extra), err, errlen);
        x->text = text;
        if (joined) {
                explicit_bzero(joined, strlen(joined));
                free(joined);
        }
        if (tok)
                explicit_bzero(tok, strlen(tok));
        if (a)
                explicit_bzero(a, strlen(a));
        if (s)
                explicit_bzero(s, strlen(s));
        return r;
}

/* Twilio's error codes for a call request refused for its number, from
 * twilio.com/docs/api/errors: 13223 "Dial: Invalid phone number format"
 * (not E.164), 13224 "Dial: Twilio does not support calling this number
 * or the number is invalid", 13225 "Dial: Forbidden phone number" (a
 * premium or blocked destination), 13226 "Dial: Invalid country code",
 * 21211 "Invalid 'To' Phone Number", 21214 "'To' phone number cannot be
 * reached", 21216 "Call blocked by Twilio" (the destination: fraud risk,
 * regulation), 21217 "Phone number does not appear to be valid": that
 * person cannot be called through any gateway like it. The account's
 * geographic permissions refusing the country -- 21215 ("Geo Permission
 * configuration is not permitting call") and 13227 ("Dial: No
 * International Authorization") -- are the gateway's configuration: the
 * next gateway may place it, and the gateway shows as down until fixed.
 * Everything else (the From number, auth, the account) is the gateway's too. */
enum outcome gw_twilio_call_outcome(long code) {
        switch (code) {
        case 13223:
        case 13224:
        case 13225:
        case 13226:
        case 21211:
        case 21214:
        case 21216:
        case 21217:
                return OUT_PERMANENT;
        case 21215:
        case 13227:
        default:
                return OUT_GATEWAY;
        }
}
