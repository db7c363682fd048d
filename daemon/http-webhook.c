/* http-webhook.c - the SMS webhooks: POST /sms/<gateway-id>/inbound (an
 * SMS answer) and /sms/<gateway-id>/receipt (a delivery report), for
 * Twilio (form, X-Twilio-Signature over the public URL), Link Mobility (MO
 * and DLR JSON, shared token) and the generic http gateway (form or JSON
 * with configured field names, shared token). A route nobody can
 * authenticate is no route (404). Replays are refused by the provider's
 * message id, recorded before the answer is acted on. Nothing personal is
 * logged: no numbers, no texts. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "http-internal.h"
#include "log.h"
#include "macro.h"
#include "seen.h"

enum body_kind http_body_kind(struct MHD_Connection *c, size_t len) {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        size_t n;

        if (!ct || !*ct)
                return len == 0 ? BODY_NONE : BODY_OTHER;
        while (*ct == ' ' || *ct == '\t')
                ct++;
        n = strcspn(ct, "; \t");
        if (n == strlen("application/x-www-form-urlencoded") && strncasecmp(ct, "application/x-www-form-urlencoded", n) == 0)
                return BODY_FORM;
        if (n == strlen("application/json") && strncasecmp(ct, "application/json", n) == 0)
                return BODY_JSON;
        return BODY_OTHER;
}

const char *http_target_query(const struct req *q) {
        const char *qm = q->target ? strchr(q->target, '?') : NULL;
        return qm ? qm + 1 : "";
}

bool http_webhook_authenticated(const struct gateway *gw, const char *public_url) {
        if (!gw)
                return false;
        switch (gw->type) {
        case GATEWAY_TWILIO:
                return public_url && *public_url && gw->password && *gw->password;
        case GATEWAY_HTTP:
        case GATEWAY_LINKMOBILITY:
                return gw->inbound_token && *gw->inbound_token;
        default:
                return false;
        }
}

/* The shared webhook secret of GW: ?token= or X-Beredd-Token. A gateway
 * without one never gets here (route_sms answers 404). */
bool http_webhook_token_ok(struct req *q, struct MHD_Connection *c, const struct gateway *gw) {
        struct http_form qf = {};
        const char *got;
        bool ok;

        if (!gw->inbound_token || !*gw->inbound_token)
                return false;
        got = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Beredd-Token");
        if (!got && http_form_parse(http_target_query(q), strlen(http_target_query(q)), &qf) >= 0)
                got = http_form_get(&qf, "token");
        ok = got && strlen(got) == strlen(gw->inbound_token) && CRYPTO_memcmp(got, gw->inbound_token, strlen(got)) == 0;
        http_form_done(&qf);
        return ok;
}

/* Providers and gateways send numbers as "+4791234567", "004791234567",
 * "91234567" (the server understands those) or "4791234567": digits only
 * with a country code but no '+'. Give the last kind its '+'. */
static char *sender_number(const char *from) {
        char digits[32];
        size_t n = 0;

        for (const char *p = from; *p; p++) {
                if (*p == ' ')
                        continue;
                if (!isdigit((unsigned char) *p) || n + 1 >= sizeof(digits))
                        return strdup(from);
                digits[n++] = *p;
        }
        digits[n] = '\0';
        if (n >= 10 && n <= 15 && digits[0] != '0') {
                char *r;
                return asprintf(&r, "+%s", digits) < 0 ? NULL : r;
        }
        return strdup(from);
}

static enum MHD_Result respond_twiml(struct req *q, struct MHD_Connection *c, const char *message) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        enum MHD_Result ok;

        if (!f)
                return MHD_NO;
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
        if (message && *message) {
                fputs("<Response><Message>", f);
                http_markup_escape(f, message, false);
                fputs("</Message></Response>\n", f);
        } else
                fputs("<Response/>\n", f);
        if (fclose(f) != 0) {
                free(buf);
                return MHD_NO;
        }
        ok = http_respond(q, c, MHD_HTTP_OK, "text/xml; charset=utf-8", buf, len, NULL, false);
        free(buf);
        return ok;
}

/* What a webhook request carried, once authenticated and parsed. */
struct sms_in {
        char *from, *text;             /* an inbound SMS (malloc'd) */
        struct http_receipt rc;        /* a delivery report */
        char msg_id[SEEN_ID_MAX];      /* the provider's id of an inbound SMS, for replays */
        bool answered;                 /* a response is queued already (RESULT) */
        enum MHD_Result result;
};

/* Answer a request that is refused before its content counts. */
static int refuse(struct req *q, struct MHD_Connection *c, struct sms_in *in, unsigned code, const char *error) {
        in->answered = true;
        in->result = http_respond_json(q, c, code, error, NULL);
        return 0;
}

static int refuse_token(struct req *q, struct MHD_Connection *c, const struct gateway *gw, struct sms_in *in) {
        log_warning("Refused a webhook for gateway %s: bad or missing token", gw->id);
        return refuse(q, c, in, MHD_HTTP_FORBIDDEN, "bad token");
}

const char *http_twilio_signed(struct req *q, struct MHD_Connection *c, const struct gateway *gw,
                               const struct http_form *form) {
        _cleanup_free_ char *url = NULL;

        /* Twilio signs the URL it was told to call: the public URL of
         * the proxy, and this path and query as sent. */
        if (q->cfg->http.public_url && q->target && asprintf(&url, "%s%s", q->cfg->http.public_url, q->target) < 0)
                url = NULL;
        if (!url || !gw->password ||
            !http_twilio_valid(gw->password, url, form,
                               MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Twilio-Signature")))
                return "bad signature";
        /* Twilio names the account in every webhook (AccountSid):
         * when present it must be this gateway's. */
        const char *acct = http_form_get(form, "AccountSid");
        if (acct && gw->account && !streq(acct, gw->account))
                return "wrong account";
        return NULL;
}

/* Twilio: a signed form, SMS (From, Body, MessageSid) or status callback. */
static int twilio_in(struct req *q, struct MHD_Connection *c, const struct gateway *gw, enum body_kind kind,
                     bool receipt, struct sms_in *in) {
        struct http_form form = {};
        int r;

        if (kind != BODY_FORM)
                return refuse(q, c, in, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "expected application/x-www-form-urlencoded");
        if (http_form_parse(q->body ?: "", q->len, &form) < 0)
                return refuse(q, c, in, MHD_HTTP_BAD_REQUEST, "bad form");
        const char *bad = http_twilio_signed(q, c, gw, &form);
        if (bad) {
                http_form_done(&form);
                log_warning("Refused %s webhook for gateway %s: %s", receipt ? "a receipt" : "an SMS", gw->id,
                            streq(bad, "bad signature") ? "bad or missing X-Twilio-Signature"
                                                        : "AccountSid is not the gateway's account");
                return refuse(q, c, in, MHD_HTTP_FORBIDDEN, bad);
        }
        if (receipt)
                r = http_twilio_dlr(&form, &in->rc);
        else {
                const char *f = http_form_get(&form, "From"), *b = http_form_get(&form, "Body");
                r = f && b ? 0 : -EINVAL;
                if (r >= 0 && (!(in->from = strdup(f)) || !(in->text = strdup(b))))
                        r = -ENOMEM;
                http_copy_ref(in->msg_id, sizeof(in->msg_id),
                              http_form_get(&form, "MessageSid") ?: http_form_get(&form, "SmsSid"));
        }
        http_form_done(&form);
        return r;
}

/* Link Mobility: MO or DLR JSON, with the gateway's token. */
static int linkmobility_in(struct req *q, struct MHD_Connection *c, const struct gateway *gw, enum body_kind kind,
                           bool receipt, struct sms_in *in) {
        int r;

        if (kind != BODY_JSON)
                return refuse(q, c, in, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "expected application/json");
        if (!http_webhook_token_ok(q, c, gw))
                return refuse_token(q, c, gw, in);
        r = receipt ? http_linkmobility_dlr(q->body ?: "", q->len, &in->rc)
                    : http_linkmobility_mo(q->body ?: "", q->len, &in->from, &in->text);
        if (r >= 0 && !receipt) {
                /* The MO's own id: "messageId" (older gates: "id"). */
                static const char *const idn[] = { "messageId", "id" };
                char *iv[2] = {};
                if (http_generic_fields(q->body ?: "", q->len, true, idn, 2, iv) >= 0)
                        http_copy_ref(in->msg_id, sizeof(in->msg_id), iv[0] ?: iv[1]);
                free(iv[0]);
                free(iv[1]);
        }
        return r;
}

/* The generic http gateway: form, JSON or query fields of configured names,
 * with the gateway's token. */
static int generic_in(struct req *q, struct MHD_Connection *c, const struct gateway *gw, enum body_kind kind,
                      bool receipt, struct sms_in *in) {
        const char *names[3];
        char *v[3] = {};
        const char *src = q->body ?: "";
        size_t len = q->len;
        int r;

        if (kind == BODY_OTHER)
                return refuse(q, c, in, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                              "expected application/x-www-form-urlencoded or application/json");
        if (!http_webhook_token_ok(q, c, gw))
                return refuse_token(q, c, gw, in);
        if (kind == BODY_NONE) { /* fields in the query string instead */
                src = http_target_query(q);
                len = strlen(src);
        }
        names[0] = receipt ? gw->inbound_ref : gw->inbound_from;
        names[1] = receipt ? gw->inbound_status : gw->inbound_text;
        names[2] = receipt ? NULL : gw->inbound_id;
        if (!names[0] || !names[1])
                return refuse(q, c, in, MHD_HTTP_INTERNAL_SERVER_ERROR, "gateway not configured");
        r = http_generic_fields(src, len, kind == BODY_JSON, names, names[2] ? 3 : 2, v);
        if (r >= 0 && (!v[0] || !v[1]))
                r = -EINVAL;
        if (r >= 0 && receipt) {
                http_copy_ref(in->rc.ref, sizeof(in->rc.ref), v[0]);
                in->rc.state = http_dlr_from_word(v[1]);
                char word[32];
                http_copy_ref(word, sizeof(word), v[1]);
                snprintf(in->rc.detail, sizeof(in->rc.detail), "%s %s", gw->id, word[0] ? word : "?");
                if (!in->rc.ref[0])
                        r = -EINVAL;
        } else if (r >= 0) {
                in->from = TAKE_PTR(v[0]);
                in->text = TAKE_PTR(v[1]);
                http_copy_ref(in->msg_id, sizeof(in->msg_id), v[2]);
        }
        free(v[0]);
        free(v[1]);
        free(v[2]);
        return r;
}

/* A delivery report, parsed. */
static enum MHD_Result take_receipt(struct req *q, struct MHD_Connection *c, const struct gateway *gw,
                                    const struct http_receipt *rc) {
        int r;

        if (rc->state == HTTP_DLR_PENDING)
                return http_respond_json(q, c, MHD_HTTP_OK, NULL, "\"ignored\":true");
        /* Only for a message this gateway sent, by the provider's
         * message id or the client reference with its nonce. */
        r = q->hooks->receipt(q->hooks->userdata, gw->id, rc->ref, rc->state == HTTP_DLR_DELIVERED, rc->detail);
        if (r == -ENOENT && rc->alt_ref[0])
                r = q->hooks->receipt(q->hooks->userdata, gw->id, rc->alt_ref, rc->state == HTTP_DLR_DELIVERED,
                                      rc->detail);
        if (http_storage_error(r)) {
                log_warning_errno(r, "A delivery receipt from gateway %s could not be recorded: %m", gw->id);
                return http_respond_json(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "try again", NULL);
        }
        /* Unknown references are acknowledged too: a provider that
         * hears an error retries a report we can never place. */
        log_debug("Delivery receipt from gateway %s (%s): %s", gw->id, rc->detail, r >= 0 ? "recorded" : strerror(-r));
        return http_respond_json(q, c, MHD_HTTP_OK, NULL, r >= 0 ? "\"known\":true" : "\"known\":false");
}

/* An inbound SMS, parsed. Twilio can carry the text back in its answer
 * (TwiML), from the number they wrote to; for the others the daemon sends
 * it through the SMS gateways. */
static enum MHD_Result take_sms(struct req *q, struct MHD_Connection *c, const struct gateway *gw,
                                const struct sms_in *in) {
        _cleanup_free_ char *number = sender_number(in->from), *back = NULL;
        bool twiml = gw->type == GATEWAY_TWILIO;
        int r;

        if (!number)
                return http_respond_json(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory", NULL);
        /* Replays: the provider's message id is recorded durably first,
         * then the answer is acted on (durably, before the 200). A request
         * whose id was seen is acknowledged and ignored. A crash between the
         * two loses that one SMS (never acts on it twice): the person is
         * still asked and can answer again. */
        r = q->hooks->message_seen(q->hooks->userdata, gw->id, in->msg_id);
        if (r > 0) {
                log_info("SMS webhook from gateway %s: a message id already taken; ignored as a replay", gw->id);
                return twiml ? respond_twiml(q, c, NULL) : http_respond_json(q, c, MHD_HTTP_OK, NULL, "\"taken\":false");
        }
        if (http_storage_error(r)) {
                log_warning_errno(r, "An SMS answer through gateway %s could not be recorded: %m", gw->id);
                return http_respond_json(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "try again", NULL);
        }
        r = q->hooks->sms_inbound(q->hooks->userdata, gw->id, in->msg_id, number, in->text, twiml ? &back : NULL);
        if (http_storage_error(r)) {
                /* Not acted on: let the provider's retry through. */
                q->hooks->message_forget(q->hooks->userdata, gw->id, in->msg_id);
                log_warning_errno(r, "An SMS answer through gateway %s could not be recorded: %m", gw->id);
                return http_respond_json(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "try again", NULL);
        }
        log_debug("SMS webhook from gateway %s: %s", gw->id, r >= 0 ? "taken as an answer" : strerror(-r));
        if (twiml)
                return respond_twiml(q, c, back);
        return http_respond_json(q, c, MHD_HTTP_OK, NULL, r >= 0 ? "\"taken\":true" : "\"taken\":false");
}

enum MHD_Result http_route_sms(struct req *q, struct MHD_Connection *c, const char *method, const char *gw_id,
                               bool receipt) {
        const struct gateway *gw = config_gateway(q->cfg, gw_id);
        enum body_kind kind = http_body_kind(c, q->len);
        struct sms_in in = {};
        enum MHD_Result ok;
        int r;

        /* A route nobody can authenticate is no route: 404, as for an
         * unknown gateway (http_webhook_authenticated()). */
        if (!gw || gw->channel == CHANNEL_VOICE || !http_webhook_authenticated(gw, q->cfg->http.public_url))
                return http_respond_json(q, c, MHD_HTTP_NOT_FOUND, "no such gateway", NULL);
        if (!streq(method, "POST"))
                return http_respond_405(q, c, "POST");

        switch (gw->type) {
        case GATEWAY_TWILIO:
                r = twilio_in(q, c, gw, kind, receipt, &in);
                break;
        case GATEWAY_LINKMOBILITY:
                r = linkmobility_in(q, c, gw, kind, receipt, &in);
                break;
        default: /* GATEWAY_HTTP */
                r = generic_in(q, c, gw, kind, receipt, &in);
                break;
        }

        if (in.answered)
                ok = in.result;
        else if (r == -ENOMEM)
                ok = http_respond_json(q, c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory", NULL);
        else if (r < 0)
                ok = http_respond_json(q, c, MHD_HTTP_BAD_REQUEST, receipt ? "not a delivery report" : "not an SMS", NULL);
        else if (receipt)
                ok = take_receipt(q, c, gw, &in.rc);
        else
                ok = take_sms(q, c, gw, &in);
        free(in.from);
        free(in.text);
        return ok;
}
