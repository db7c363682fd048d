/* gw-http.c - the HTTP SMS providers: the generic http gateway (URL, method,
 * headers and body from templates with URL/JSON escaping), Twilio
 * (Messages API, form, basic auth, ValidityPeriod) and Link Mobility (the
 * "Common" platform's JSON send API, refId = our client reference); and how
 * their answers are read: accepted (with the provider's id), refused for
 * the recipient, or failed on the gateway's side. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway-internal.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"

int gw_build_http(struct msg *x, char *err, size_t errlen) {
        return gw_build_http_vars(x, NULL, 0, err, errlen);
}

int gw_build_http_vars(struct msg *x, const struct text_var *extra, size_t n_extra, char *err, size_t errlen) {
        const struct gateway *gw = x->gw;
        bool get = gw->method && streq(gw->method, "GET");
        const char *ct = gw->content_type ? gw->content_type : "application/x-www-form-urlencoded";
        enum text_escape esc = strstr(ct, "json")                    ? TEXT_ESCAPE_JSON
                               : strstr(ct, "x-www-form-urlencoded") ? TEXT_ESCAPE_URL
                                                                     : TEXT_ESCAPE_NONE;
        char validity[24], terr[128] = "";
        _cleanup_free_ char *url = NULL;
        int r;

        snprintf(validity, sizeof(validity), "%" PRIu64, x->validity > 0 ? gw_validity_seconds(x) : (uint64_t) DEFAULT_VALIDITY);
        struct text_var vars[8 + 8] = {
                { "to", x->to }, { "from", gw->from ? gw->from : "" }, { "text", x->text },
                { "ref", x->cref }, { "validity", validity }, { "username", gw->username ? gw->username : "" },
                { "password", gw->password ? gw->password : "" }, { "to_digits", x->to[0] == '+' ? x->to + 1 : x->to },
        };
        size_t n_vars = 8;

        for (size_t i = 0; i < n_extra && n_vars < ELEMENTSOF(vars); i++)
                vars[n_vars++] = extra[i];

        if (!gw->url) {
                snprintf(err, errlen, "no url");
                return -EINVAL;
        }
        r = gw_render_alloc(gw->url, TEXT_ESCAPE_URL, vars, n_vars, &url, terr, sizeof(terr));
        if (r < 0) {
                snprintf(err, errlen, "url template: %s", terr[0] ? terr : strerror(-r));
                return -EINVAL;
        }
        if (!get) {
                r = gw_render_alloc(gw->body ? gw->body : "", esc, vars, n_vars, &x->req, terr, sizeof(terr));
                if (r < 0) {
                        snprintf(err, errlen, "body template: %s", terr[0] ? terr : strerror(-r));
                        return -EINVAL;
                }
                x->req_len = (size_t) r;
        }
        r = gw_easy_common(x, url);
        if (r < 0)
                goto fail;
        if (get)
                r = curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L) == CURLE_OK ? 0 : -EINVAL;
        else {
                r = gw_set_post_body(x, gw->method);
                if (r >= 0)
                        r = gw_add_header(x, "Content-Type: %s", ct);
        }
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < gw->n_headers; i++) {
                _cleanup_free_ char *value = NULL;
                r = gw_render_alloc(gw->headers[i].value, TEXT_ESCAPE_NONE, vars, n_vars, &value, terr, sizeof(terr));
                if (r < 0) {
                        snprintf(err, errlen, "header %zu template: %s", i + 1, terr[0] ? terr : strerror(-r));
                        return -EINVAL;
                }
                if (!text_header_safe(gw->headers[i].name) || !text_header_safe(value)) {
                        snprintf(err, errlen, "header %zu has CR/LF", i + 1);
                        return -EINVAL;
                }
                r = gw_add_header(x, "%s: %s", gw->headers[i].name, value);
                if (r < 0)
                        goto fail;
        }
        r = gw_set_basic_auth(x, gw->username, gw->password);
        if (r < 0)
                goto fail;
        return 0;
fail:
        snprintf(err, errlen, "cannot set up the request: %s", strerror(-r));
        return r;
}

char *gw_url_join(const char *base, const char *path) {
        size_t n = strlen(base);
        char *s;

        while (n > 0 && base[n - 1] == '/')
                n--;
        if (asprintf(&s, "%.*s%s", (int) n, base, path) < 0)
                return NULL;
        return s;
}

int gw_post_request(struct msg *x, const char *url, const char *ctype, const char *user, const char *password,
                        char *err, size_t errlen) {
        int r = gw_easy_common(x, url);

        if (r >= 0)
                r = gw_set_post_body(x, "POST");
        if (r >= 0)
                r = gw_add_header(x, "Content-Type: %s", ctype);
        if (r >= 0)
                r = gw_set_basic_auth(x, user, password);
        if (r < 0)
                snprintf(err, errlen, "cannot set up the request: %s", strerror(-r));
        return r;
}

/* Twilio Messages API: POST {url}/2010-04-01/Accounts/{sid}/Messages.json,
 * form fields To, From (or MessagingServiceSid when "from" is an MG... SID),
 * Body, ValidityPeriod, and StatusCallback (the listener's receipt webhook,
 * {public_url}/sms/{id}/receipt) when the http section has a listener and a
 * public_url; basic auth SID:token. */
int gw_build_twilio(struct msg *x, char *err, size_t errlen) {
        const struct gateway *gw = x->gw;
        _cleanup_free_ char *sid = NULL, *path = NULL, *url = NULL, *to = NULL, *from = NULL, *body = NULL;
        int r;

        if (!gw->account || !gw->from || !gw->url) {
                snprintf(err, errlen, "twilio needs account, from and url");
                return -EINVAL;
        }
        if (gw_escape_alloc(TEXT_ESCAPE_URL, gw->account, &sid) < 0 || gw_escape_alloc(TEXT_ESCAPE_URL, x->to, &to) < 0 ||
            gw_escape_alloc(TEXT_ESCAPE_URL, gw->from, &from) < 0 || gw_escape_alloc(TEXT_ESCAPE_URL, x->text, &body) < 0) {
                snprintf(err, errlen, "cannot escape the form fields");
                return -EINVAL;
        }
        if (asprintf(&path, "/2010-04-01/Accounts/%s/Messages.json", sid) < 0 || !(url = gw_url_join(gw->url, path)))
                return -ENOMEM;
        bool service = strncmp(gw->from, "MG", 2) == 0 && strlen(gw->from) == 34;
        r = asprintf(&x->req, "To=%s&%s=%s&Body=%s", to, service ? "MessagingServiceSid" : "From", from, body);
        if (r < 0) {
                x->req = NULL;
                return -ENOMEM;
        }
        x->req_len = (size_t) r;
        if (x->validity > 0) {
                uint64_t v = gw_validity_seconds(x);
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
                if (gw_escape_alloc(TEXT_ESCAPE_URL, cb, &cb_esc) < 0)
                        return -ENOMEM;
                r = asprintf(&s, "%s&StatusCallback=%s", x->req, cb_esc);
                if (r < 0)
                        return -ENOMEM;
                free(x->req);
                x->req = s;
                x->req_len = (size_t) r;
        }
        return gw_post_request(x, url, "application/x-www-form-urlencoded", gw->account, gw->password, err, errlen);
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
int gw_build_linkmobility(struct msg *x, char *err, size_t errlen) {
        const struct gateway *gw = x->gw;
        _cleanup_free_ char *url = NULL, *platform = NULL;
        const char *partner = NULL, *ton = "ALPHANUMERIC";
        json_t *o;

        if (!gw->account || !gw->from || !gw->url) {
                snprintf(err, errlen, "linkmobility needs account, from and url");
                return -EINVAL;
        }
        platform = strdup(gw->account);
        if (!platform || !(url = gw_url_join(gw->url, "/sms/send")))
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

        return gw_post_request(x, url, "application/json", gw->username, gw->password, err, errlen);
}

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

/* A call request that went out whole but got no clear answer (a timeout
 * or a broken connection after the request was sent, a 500, 502 or 504)
 * may have been taken: the phone may be ringing. Placing it again could
 * ring twice, and the second call's status would be taken for the first;
 * so it is not placed again, but counted as placed without the provider's
 * id: its status callbacks (they carry our reference) and the key press
 * decide, and without them the step's wait does. True when X was ended so. */
static bool call_maybe_placed(struct msg *x, CURLcode rc, long status) {
        curl_off_t sent = 0;
        if (x->channel != CHANNEL_VOICE)
                return false;
        (void) curl_easy_getinfo(x->easy, CURLINFO_SIZE_UPLOAD_T, &sent);
        bool unclear = rc == CURLE_OK ? status == 500 || status == 502 || status == 504
                                      : sent > 0 && rc != CURLE_COULDNT_RESOLVE_HOST && rc != CURLE_COULDNT_CONNECT &&
                                                rc != CURLE_SSL_CONNECT_ERROR && rc != CURLE_PEER_FAILED_VERIFICATION;
        if (!unclear)
                return false;
        char err[64];
        if (rc == CURLE_OK)
                snprintf(err, sizeof(err), "HTTP %ld", status);
        else
                snprintf(err, sizeof(err), "%.60s", curl_easy_strerror(rc));
        gw_handle_unconfirmed(x, err);
        return true;
}

void gw_http_finished(struct msg *x, CURLcode rc) {
        const struct gateway *gw = x->gw;
        long status = 0;
        curl_off_t retry_after = 0;
        char err[160], nbuf[32];
        enum outcome out;
        _cleanup_free_ char *ref = NULL;

        (void) curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        if (x->resent) {
                /* The request went out, the connection closed without an
                 * answer, and libcurl wanted to send it again by itself. */
                snprintf(err, sizeof(err), "the connection closed after the request was sent, without an answer (the "
                                           "gateway may have taken it; the retry carries the same reference)");
                if (x->channel == CHANNEL_VOICE)
                        gw_handle_unconfirmed(x, err);
                else
                        gw_handle_outcome(x, OUT_TEMP, err, NULL, 0);
                return;
        }
        if (rc != CURLE_OK) {
                snprintf(err, sizeof(err), "%.60s%s%.90s", curl_easy_strerror(rc), x->errbuf[0] ? ": " : "", x->errbuf);
                if (call_maybe_placed(x, rc, status))
                        return;
                gw_handle_outcome(x, gw_classify_curl(rc), err, NULL, 0);
                return;
        }
        if (call_maybe_placed(x, rc, status))
                return;
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
                        ref = r ? strdup(r) : NULL;
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
                out = x->channel == CHANNEL_VOICE ? gw_twilio_call_outcome(code)
                      : twilio_recipient_code(code)  ? OUT_PERMANENT
                                                     : OUT_GATEWAY;
        } else {
                if (gw->type == GATEWAY_LINKMOBILITY) {
                        const char *c = json_text(j, "resultCode", nbuf, sizeof(nbuf));
                        if (c)
                                snprintf(err, sizeof(err), "HTTP %ld, result code %s", status, c);
                }
                out = OUT_PERMANENT;
        }
        json_decref(j);
        gw_handle_outcome(x, out, err, ref, out == OUT_TEMP && retry_after > 0 ? (uint64_t) retry_after * USEC_PER_SEC : 0);
}

/* The reply's text for logs and the caller: printable ASCII, without a
 * word in <...>, with an '@' (servers echo the addresses: "<kari@...>:
 * Recipient address rejected") or with the local part of TO in it, spaces
 * squeezed, at most OUTLEN - 1. */
