/* config-gateways.c - the "gateways" section: each type's profile (file,
 * smtp, http, twilio, linkmobility), templates, secrets, webhook fields and
 * SMS parts; what a gateway owns and how it is freed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "config-load.h"
#include "macro.h"
#include "text.h"

static const char *const gateway_type_names[] = {
        [GATEWAY_FILE] = "file",
        [GATEWAY_SMTP] = "smtp",
        [GATEWAY_HTTP] = "http",
        [GATEWAY_TWILIO] = "twilio",
        [GATEWAY_LINKMOBILITY] = "linkmobility",
};

const char *gateway_type_name(enum gateway_type t) {
        if ((size_t) t >= ELEMENTSOF(gateway_type_names))
                return NULL;
        return gateway_type_names[t];
}

/* The first GATEWAY_TEMPLATE_NAMES_SMS are for every http gateway, the
 * rest for voice gateways only (the call's answer and status webhooks,
 * the language, the key-press prompt). */
const char *const gateway_template_names[GATEWAY_TEMPLATE_NAMES] = { "username",   "password",   "to_digits",
                                                                     "answer_url", "status_url", "lang",
                                                                     "prompt" };

static int gateway_line(const struct config *c, const char *id) {
        return CFG_LINE_OF(config_gateway(c, id));
}

bool cfg_url_ok(const char *url, const char *const *schemes) {
        for (; *schemes; schemes++)
                if (cfg_has_prefix(url, *schemes) && url[strlen(*schemes)] != '\0')
                        break;
        if (!*schemes)
                return false;
        for (const char *p = url; *p; p++)
                if (isspace((unsigned char) *p) || iscntrl((unsigned char) *p))
                        return false;
        /* A host, and a port of digits if one is given ("http://h:$PORT"
         * would pass here and fail at every send). */
        const char *host = strstr(url, "://") + 3, *end = host + strcspn(host, "/?#"), *at = NULL;
        for (const char *p = host; p < end; p++)
                if (*p == '@')
                        at = p;
        if (at)
                host = at + 1;
        const char *port = host < end && *host == '[' ? memchr(host, ']', (size_t) (end - host)) : host;
        if (!port || host == end)
                return false;
        port = memchr(port, ':', (size_t) (end - port));
        if (port) {
                size_t n = (size_t) (end - port - 1);
                if (n == 0 || n > 5 || strspn(port + 1, "0123456789") < n || atoi(port + 1) < 1 || atoi(port + 1) > 65535)
                        return false;
        }
        return true;
}

/* STARTTLS is required by default: only smtps:// (already TLS) and a local
 * relay on the same host may go without it. */
/* The url of gateway E of type TYPE: there, and with one of SCHEMES. */
static void need_url(struct loader *l, const config_setting_t *e, const config_setting_t *surl, const char *url,
                     const char *const *schemes, const char *type, const char *choices) {
        if (!url)
                cfg_fail(l, e, "missing required setting \"url\" (%s)", choices);
        else if (!cfg_url_ok(url, schemes) && strchr(url, '@'))
                /* Not echoed: it may hold a user name and password. */
                cfg_fail(l, surl, "bad URL (an %s gateway needs %s, a host and a numeric port if any)", type, choices);
        else if (!cfg_url_ok(url, schemes))
                cfg_fail(l, surl, "bad URL \"%s\" (an %s gateway needs %s, a host and a numeric port if any)", url, type,
                         choices);
}

static bool smtp_default_starttls(const char *url) {
        static const char *const local[] = { "smtp://localhost", "smtp://127.0.0.1", "smtp://[::1]" };

        if (!url || cfg_has_prefix(url, "smtps://"))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(local); i++) {
                size_t k = strlen(local[i]);
                if (strncmp(url, local[i], k) == 0 && (url[k] == '\0' || url[k] == ':' || url[k] == '/'))
                        return false;
        }
        return true;
}

static int parse_status_range(const char *s, int *ret_min, int *ret_max) {
        int a, b;

        /* "NNN" or "NNN-NNN", digits only. */
        if (strlen(s) == 3)
                a = b = atoi(s);
        else if (strlen(s) == 7 && s[3] == '-') {
                a = atoi(s);
                b = atoi(s + 4);
        } else
                return -EINVAL;
        for (size_t i = 0; s[i]; i++)
                if (i != 3 && !isdigit((unsigned char) s[i]))
                        return -EINVAL;
        if (a < 100 || b > 599 || a > b)
                return -EINVAL;
        *ret_min = a;
        *ret_max = b;
        return 0;
}

static void load_headers(struct loader *l, struct gateway *gw, const config_setting_t *list) {
        int n = config_setting_length(list);

        gw->headers = cfg_alloc_array(l, (size_t) n, sizeof(struct header_kv));
        for (int i = 0; i < n && gw->headers; i++) {
                const config_setting_t *e = config_setting_get_elem(list, (unsigned) i);
                const char *v = config_setting_get_string(e), *colon = strchr(v, ':'), *val;
                bool ok = colon && colon > v && !cfg_has_ctrl(v);

                /* A header name is an RFC 9110 token. */
                for (const char *p = v; ok && p < colon; p++)
                        if (!isalnum((unsigned char) *p) && !strchr("!#$%&'*+-.^_`|~", *p))
                                ok = false;
                if (!ok) {
                        /* Not echoed: a header may carry a secret. */
                        cfg_fail(l, e, "bad header (use \"Name: value\", no CR/LF)");
                        continue;
                }
                for (val = colon + 1; *val == ' ' || *val == '\t'; val++)
                        ;
                /* The value is a template, like the body ({ref} makes an
                 * Idempotency-Key). */
                char terr[160];
                size_t n_names = gw->channel == CHANNEL_VOICE ? GATEWAY_TEMPLATE_NAMES : GATEWAY_TEMPLATE_NAMES_SMS;
                if (text_template_check(val, gateway_template_names, n_names, terr, sizeof(terr)) < 0) {
                        cfg_fail(l, e, "header \"%.*s\": %s", (int) (colon - v), v, terr);
                        continue;
                }
                gw->headers[gw->n_headers].name = strndup(v, (size_t) (colon - v));
                gw->headers[gw->n_headers].value = cfg_ldup(l, val);
                if (!gw->headers[gw->n_headers].name)
                        l->oom = true;
                gw->n_headers++;
        }
}

void gateway_conf_done(struct gateway *gw) {
        char *owned[] = { gw->id, gw->url, gw->from, gw->account, gw->username, gw->method, gw->body,
                          gw->content_type, gw->success_match, gw->inbound_from, gw->inbound_text, gw->inbound_ref,
                          gw->inbound_status, gw->inbound_id, gw->receipt_gate, gw->helo, gw->say_voice,
                          gw->say_voice_en, gw->inbound_digits };

        for (size_t i = 0; i < ELEMENTSOF(owned); i++)
                free(owned[i]);
        for (size_t i = 0; i < gw->n_headers; i++) {
                free(gw->headers[i].name);
                free(gw->headers[i].value);
        }
        free(gw->headers);
        cfg_secret_free(gw->password);
        cfg_secret_free(gw->inbound_token);
}

/* A webhook field name: letters, digits, '_', '-', and '.' between JSON
 * object names ("message.from"). */
static bool field_name_ok(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > ID_SAFE_MAX || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("_-.", *p))
                        return false;
        return true;
}

/* The inbound_* settings of gateway GW (element E): the field names only
 * the generic http profile has, and the shared webhook secret. */
static void load_gateway_inbound(struct loader *l, const config_setting_t *e, struct gateway *gw, int t) {
        static const char *const names[] = { "inbound_from", "inbound_text", "inbound_ref", "inbound_status" };
        static const char *const defaults[] = { "from", "text", "ref", "status" };
        char **dst[] = { &gw->inbound_from, &gw->inbound_text, &gw->inbound_ref, &gw->inbound_status };
        bool webhooks = t == GATEWAY_HTTP || t == GATEWAY_TWILIO || t == GATEWAY_LINKMOBILITY;
        config_setting_t *s;
        const char *v;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                v = cfg_get_text(l, e, names[i], false, &s);
                if (v && t >= 0 && !webhooks)
                        cfg_fail(l, s, "a %s gateway takes no webhooks", gateway_type_name((enum gateway_type) t));
                else if (v && t >= 0 && t != GATEWAY_HTTP)
                        cfg_fail(l, s, "only a gateway of type \"http\" has configurable webhook fields "
                                 "(%s webhooks have a fixed format)", gateway_type_name((enum gateway_type) t));
                else if (v && !field_name_ok(v))
                        cfg_fail(l, s, "bad field name \"%s\" (letters, digits, '_', '-'; '.' between JSON object names)", v);
                else if (t == GATEWAY_HTTP)
                        *dst[i] = cfg_ldup(l, v ?: defaults[i]);
        }

        /* The provider's message id of an inbound SMS (replay protection);
         * no default: none is read unless named. */
        v = cfg_get_text(l, e, "inbound_id", false, &s);
        if (v && t >= 0 && t != GATEWAY_HTTP)
                cfg_fail(l, s, "only a gateway of type \"http\" has configurable webhook fields "
                         "(%s webhooks have a fixed format)", gateway_type_name((enum gateway_type) t));
        else if (v && !field_name_ok(v))
                cfg_fail(l, s, "bad field name \"%s\" (letters, digits, '_', '-'; '.' between JSON object names)", v);
        else if (v)
                gw->inbound_id = cfg_ldup(l, v);

        v = cfg_get_text(l, e, "receipt_gate", false, &s);
        if (v && t >= 0 && t != GATEWAY_LINKMOBILITY)
                cfg_fail(l, s, "only a linkmobility gateway has a receipt_gate (the gate id its delivery reports go to)");
        else if (v && !field_name_ok(v))
                cfg_fail(l, s, "bad gate id \"%s\"", v);
        else if (v)
                gw->receipt_gate = cfg_ldup(l, v);

        v = cfg_get_text(l, e, "inbound_token_file", false, &s);
        if (!v)
                return;
        if (t >= 0 && !webhooks)
                cfg_fail(l, s, "a %s gateway takes no webhooks", gateway_type_name((enum gateway_type) t));
        else if (t == GATEWAY_TWILIO)
                cfg_fail(l, s, "a twilio gateway takes no webhook token: its webhooks are checked by their signature");
        else
                cfg_load_secret(l, s, v, &gw->inbound_token);
}

/* How many concatenated SMS parts one message may use, by what each profile
 * is known to carry: Twilio recommends at most 10 segments; for Link Mobility
 * and a generic HTTP provider (whose SMSC and routes are unknown) at most 6
 * is allowed; the file gateway takes what the others do. */
static unsigned max_segments_limit(enum gateway_type t) {
        switch (t) {
        case GATEWAY_TWILIO:
        case GATEWAY_FILE:
                return 10;
        case GATEWAY_LINKMOBILITY:
        case GATEWAY_HTTP:
                return 6;
        default:
                return 0;
        }
}

static void load_max_segments(struct loader *l, const config_setting_t *e, struct gateway *gw, int t) {
        config_setting_t *s = cfg_member(l, e, "max_segments", false);

        gw->max_segments = GATEWAY_MAX_SEGMENTS_DEFAULT;
        if (!s || t < 0)
                return;
        unsigned lim = max_segments_limit((enum gateway_type) t);
        if (gw->channel == CHANNEL_VOICE) {
                cfg_fail(l, s, "a voice gateway places calls; max_segments is for SMS gateways");
                return;
        }
        if (lim == 0) {
                cfg_fail(l, s, "a %s gateway sends e-mail; max_segments is for SMS gateways",
                         gateway_type_name((enum gateway_type) t));
                return;
        }
        if (!cfg_setting_is_int(s)) {
                cfg_fail(l, s, "expected an integer");
                return;
        }
        long long v = config_setting_get_int64(s);
        if (v < 1 || v > (long long) lim)
                cfg_fail(l, s, "%lld is out of range for a %s gateway (1..%u SMS segments)", v,
                         gateway_type_name((enum gateway_type) t), lim);
        else
                gw->max_segments = (unsigned) v;
}

/* A host name for EHLO (RFC 5321 4.1.1.1: a domain, or an address literal
 * "[192.0.2.1]" / "[IPv6:2001:db8::1]"): labels of letters, digits and
 * inner '-', at most 63 each and 253 in all. */
bool config_helo_ok(const char *s) {
        size_t n = s ? strlen(s) : 0, label = 0;

        if (n == 0 || n > 253)
                return false;
        if (s[0] == '[') {
                char buf[64];
                bool v6 = cfg_has_prefix(s, "[IPv6:");
                size_t skip = v6 ? 6 : 1;
                unsigned char addr[16];

                if (s[n - 1] != ']' || n < skip + 2 || n - skip - 1 >= sizeof(buf))
                        return false;
                memcpy(buf, s + skip, n - skip - 1);
                buf[n - skip - 1] = '\0';
                return inet_pton(v6 ? AF_INET6 : AF_INET, buf, addr) == 1;
        }
        for (size_t i = 0; i <= n; i++) {
                char c = s[i];
                if (c == '.' || c == '\0') {
                        if (label == 0 || s[i - 1] == '-')
                                return false;
                        label = 0;
                } else if (isalnum((unsigned char) c) || (c == '-' && label > 0)) {
                        if (++label > 63)
                                return false;
                } else
                        return false;
        }
        return true;
}

/* The path of an smtp:// URL, after scheme://host[:port]: libcurl sends it
 * as the EHLO name (lib/smtp.c, smtp_parse_url_path). "" or "/" is none. */
static const char *smtp_url_path(const char *url) {
        const char *p = url ? strstr(url, "://") : NULL;

        if (!p)
                return "";
        p = strchr(p + 3, '/');
        return !p || streq(p, "/") ? "" : p;
}

static void load_helo(struct loader *l, config_setting_t *e, struct gateway *gw, int t, const char *url) {
        config_setting_t *s;
        const char *v = cfg_get_text(l, e, "helo", false, &s);

        if (!v)
                return;
        if (t >= 0 && t != GATEWAY_SMTP)
                cfg_fail(l, s, "only an smtp gateway has a helo name");
        else if (!config_helo_ok(v))
                cfg_fail(l, s, "not a host name for EHLO (use the fully qualified name of this machine, "
                         "e.g. \"beredd.kommune.no\")");
        else if (*smtp_url_path(url))
                cfg_fail(l, s, "set the EHLO name either here or as the path of url, not both");
        else
                gw->helo = cfg_ldup(l, v);
}

/* The gateway's type and channel; returns the type, or -1 when it is bad. */
static int load_gateway_type(struct loader *l, const config_setting_t *e, struct gateway *gw) {
        /* Names and their enum channel values (bits: not index + 1). */
        static const char *const channels[] = { "sms", "email", "any", "voice" };
        static const enum channel channel_values[ELEMENTSOF(channels)] = { CHANNEL_SMS, CHANNEL_EMAIL, CHANNEL_ANY,
                                                                             CHANNEL_VOICE };
        config_setting_t *schan;
        int t, ch;

        t = cfg_get_enum(l, e, "type", true, gateway_type_names, ELEMENTSOF(gateway_type_names), -1, NULL);
        gw->type = t < 0 ? GATEWAY_FILE : (enum gateway_type) t;

        /* Each profile can only carry one kind of message (or SMS and
         * calls); the channel defaults to it, and a contradicting one is a
         * mistake. A file gateway's "any" is SMS and e-mail, never calls. */
        ch = cfg_get_enum(l, e, "channel", false, channels, ELEMENTSOF(channels), -1, &schan);
        if (ch >= 0)
                gw->channel = channel_values[ch];
        else
                gw->channel = gw->type == GATEWAY_FILE ? CHANNEL_ANY : gw->type == GATEWAY_SMTP ? CHANNEL_EMAIL : CHANNEL_SMS;
        if (t < 0 || ch < 0 || gw->type == GATEWAY_FILE)
                return t;
        bool calls = gw->type == GATEWAY_HTTP || gw->type == GATEWAY_TWILIO;
        if (gw->channel == CHANNEL_VOICE && !calls) {
                cfg_fail(l, schan, "a %s gateway cannot place calls (channel \"voice\" is for twilio, http and file gateways)",
                         gateway_type_name(gw->type));
                return t;
        }
        enum channel want = gw->type == GATEWAY_SMTP ? CHANNEL_EMAIL : CHANNEL_SMS;
        if (gw->channel != want && !(calls && gw->channel == CHANNEL_VOICE))
                cfg_fail(l, schan, "a %s gateway sends %s only; use channel \"%s\"%s", gateway_type_name(gw->type),
                         want == CHANNEL_EMAIL ? "e-mail" : "SMS", channel_name(want), calls ? " or \"voice\"" : "");
        return t;
}

/* A text-to-speech voice name for <Say voice="...">: "Polly.Liv",
 * "Google.nb-NO-Standard-A", "alice". */
static bool say_voice_ok(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 64 || !isalpha((unsigned char) s[0]))
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("._-", *p))
                        return false;
        return true;
}

/* A duration setting KEY of a voice gateway within MIN..MAX (given as
 * text for the message), or DEF. */
static uint64_t voice_duration(struct loader *l, const config_setting_t *e, const char *key, uint64_t def,
                               uint64_t min, uint64_t max, const char *range) {
        config_setting_t *s;
        uint64_t v = cfg_get_duration(l, e, key, false, def, false, &s);

        if (s && (v < min || v > max)) {
                cfg_fail(l, s, "%s is out of range (%s)", config_setting_get_string(s), range);
                return def;
        }
        return v;
}

/* The settings of a voice gateway (channel "voice"): how many calls at
 * once, ring time and call length, answering-machine detection, the
 * voices, and the generic profile's key-press field. Each is an error on
 * any other gateway. */
static void load_voice(struct loader *l, const config_setting_t *e, struct gateway *gw, int t) {
        static const char *const keys[] = { "max_calls", "ring_timeout", "call_limit", "machine_detection",
                                            "say_voice", "say_voice_en", "inbound_digits" };
        static const char *const detection[] = { [MACHINE_DETECTION_OFF] = "off",
                                                 [MACHINE_DETECTION_ENABLE] = "enable",
                                                 [MACHINE_DETECTION_DETECT_MESSAGE_END] = "detect-message-end" };
        config_setting_t *s;
        const char *v;

        if (gw->channel != CHANNEL_VOICE) {
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if ((s = cfg_member(l, e, keys[i], false)))
                                cfg_fail(l, s, "only a voice gateway (channel \"voice\") has %s", keys[i]);
                return;
        }
        gw->max_calls = (unsigned) cfg_get_int(l, e, "max_calls", false, 1, 100, GATEWAY_MAX_CALLS_DEFAULT, NULL);
        gw->ring_timeout = voice_duration(l, e, "ring_timeout", 30 * USEC_PER_SEC, 5 * USEC_PER_SEC,
                                          10 * USEC_PER_MIN, "5s..10m");
        gw->call_limit = voice_duration(l, e, "call_limit", 3 * USEC_PER_MIN, 30 * USEC_PER_SEC, USEC_PER_HOUR,
                                        "30s..1h");
        gw->machine_detection = (enum machine_detection) cfg_get_enum(l, e, "machine_detection", false, detection,
                                                                      ELEMENTSOF(detection), MACHINE_DETECTION_OFF, NULL);
        /* Amazon Polly's Norwegian and US English voices on Twilio. */
        static const char *const voice_keys[] = { "say_voice", "say_voice_en" };
        static const char *const voice_defaults[] = { "Polly.Liv", "Polly.Joanna" };
        char **voices[] = { &gw->say_voice, &gw->say_voice_en };
        for (size_t k = 0; k < ELEMENTSOF(voice_keys); k++) {
                v = cfg_get_text(l, e, voice_keys[k], false, &s);
                if (v && !say_voice_ok(v))
                        cfg_fail(l, s, "bad voice name \"%s\" (use e.g. \"%s\")", v, voice_defaults[k]);
                else
                        *voices[k] = cfg_ldup(l, v ?: voice_defaults[k]);
        }
        v = cfg_get_text(l, e, "inbound_digits", false, &s);
        const char *tn = t >= 0 ? gateway_type_name((enum gateway_type) t) : NULL;
        if (v && tn && t != GATEWAY_HTTP)
                cfg_fail(l, s, "only a gateway of type \"http\" has configurable webhook fields "
                         "(%s webhooks have a fixed format)", tn);
        else if (v && !field_name_ok(v))
                cfg_fail(l, s, "bad field name \"%s\" (letters, digits, '_', '-'; '.' between JSON object names)", v);
        else if (t == GATEWAY_HTTP)
                gw->inbound_digits = cfg_ldup(l, v ?: "digits");
        /* Twilio places a call from one of the account's numbers (or a
         * verified caller id), never from a name or a messaging service. */
        if (t == GATEWAY_TWILIO) {
                v = cfg_get_text(l, e, "from", false, &s);
                size_t n = v ? strlen(v) : 0;
                if (!v)
                        cfg_fail(l, e, "missing required setting \"from\" (the number the calls come from, e.g. \"+4759440000\")");
                else if (v[0] != '+' || n < 9 || n > 16 || strspn(v + 1, "0123456789") != n - 1)
                        cfg_fail(l, s, "bad number \"%s\" (a call comes from a phone number, e.g. \"+4759440000\")", v);
        }
        /* Without a token /voice/ID/answer answers 404: nobody could
         * answer a call. */
        if (t == GATEWAY_HTTP && !cfg_member(l, e, "inbound_token_file", false))
                cfg_fail(l, e, "missing required setting \"inbound_token_file\" (the key presses of a generic voice "
                         "gateway's calls come back with it)");
}

/* "success": the HTTP status, or range, counted as sent (default 200-299). */
static void load_success(struct loader *l, const config_setting_t *e, struct gateway *gw) {
        config_setting_t *s = cfg_member(l, e, "success", false);

        gw->success_min = 200;
        gw->success_max = 299;
        if (s && cfg_setting_is_int(s)) {
                long long k = config_setting_get_int64(s);
                if (k < 100 || k > 599)
                        cfg_fail(l, s, "bad HTTP status %lld (use e.g. 200 or \"200-299\")", k);
                else
                        gw->success_min = gw->success_max = (int) k;
        } else if (s && config_setting_type(s) == CONFIG_TYPE_STRING) {
                const char *v = config_setting_get_string(s);
                if (parse_status_range(v, &gw->success_min, &gw->success_max) < 0)
                        cfg_fail(l, s, "bad HTTP status range \"%s\" (use e.g. \"200-299\" or \"202\")", v);
        } else if (s)
                cfg_fail(l, s, "expected a string like \"200-299\" or an integer");
}

/* The secret's file name, password_file or token_file (not both), and its
 * setting in *RET_S; NULL when neither is set. */
static const char *secret_name(struct loader *l, const config_setting_t *e, const config_setting_t **ret_s) {
        config_setting_t *spw, *stok;
        const char *pw = cfg_get_text(l, e, "password_file", false, &spw);
        const char *tok = cfg_get_text(l, e, "token_file", false, &stok);

        *ret_s = pw ? spw : stok;
        if (pw && tok)
                cfg_fail(l, stok, "set either password_file or token_file, not both");
        return pw ?: tok;
}

/* What each gateway type needs: its url (or the profile's default, in
 * *URL), sender, account and secrets, and a template that renders. */
static void load_gateway_profile(struct loader *l, const config_setting_t *e, struct gateway *gw, int t,
                                 const config_setting_t *surl, const char **url) {
        static const char *const smtp_schemes[] = { "smtp://", "smtps://", NULL };
        static const char *const http_schemes[] = { "http://", "https://", NULL };

        switch (t) {
        case GATEWAY_FILE:
                break;
        case GATEWAY_SMTP:
                need_url(l, e, surl, *url, smtp_schemes, "smtp", "smtp:// or smtps://");
                if (!cfg_member(l, e, "from", false))
                        cfg_fail(l, e, "missing required setting \"from\"");
                else if (gw->from && !cfg_email_is_valid(gw->from))
                        cfg_fail(l, cfg_member(l, e, "from", false), "bad e-mail address \"%s\"", gw->from);
                break;
        case GATEWAY_HTTP:
                need_url(l, e, surl, *url, http_schemes, "http", "http:// or https://");
                if (!cfg_member(l, e, "body", false))
                        cfg_fail(l, e, "missing required setting \"body\"");
                if (!gw->content_type)
                        gw->content_type = cfg_ldup(l, "application/x-www-form-urlencoded");
                /* A template mistake must show now, not when the team is
                 * being called out. */
                for (int k = 0; k < 2; k++) {
                        const char *tmpl = k == 0 ? *url : gw->body;
                        char terr[160];
                        size_t n_names = gw->channel == CHANNEL_VOICE ? GATEWAY_TEMPLATE_NAMES : GATEWAY_TEMPLATE_NAMES_SMS;
                        if (tmpl && text_template_check(tmpl, gateway_template_names, n_names, terr, sizeof(terr)) < 0)
                                cfg_fail(l, k == 0 ? surl : cfg_member(l, e, "body", false), "%s", terr);
                }
                break;
        case GATEWAY_TWILIO:
        case GATEWAY_LINKMOBILITY:
                if (!*url)
                        *url = t == GATEWAY_TWILIO ? "https://api.twilio.com" : "https://n-eu.linkmobility.io";
                else if (!cfg_url_ok(*url, http_schemes))
                        cfg_fail(l, surl, "bad URL \"%s\" (use https://)", *url);
                if (!cfg_member(l, e, "account", false))
                        cfg_fail(l, e, "missing required setting \"account\"%s",
                                 t == GATEWAY_TWILIO ? " (the account SID)" : " (the platform id)");
                if (t == GATEWAY_TWILIO && !cfg_member(l, e, "token_file", false))
                        cfg_fail(l, e, "missing required setting \"token_file\"");
                if (t == GATEWAY_LINKMOBILITY && !cfg_member(l, e, "username", false))
                        cfg_fail(l, e, "missing required setting \"username\"");
                if (t == GATEWAY_LINKMOBILITY && !cfg_member(l, e, "password_file", false))
                        cfg_fail(l, e, "missing required setting \"password_file\"");
                break;
        default:
                break;
        }
}

void cfg_load_gateways(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "id", "channel", "type", "url", "from", "account", "username",
                                            "password_file", "token_file", "method", "body", "content_type",
                                            "headers", "success", "success_match", "timeout", "retries",
                                            "starttls", "inbound_from", "inbound_text", "inbound_ref",
                                            "inbound_status", "inbound_id", "inbound_token_file", "receipt_gate",
                                            "max_segments", "helo", "max_calls", "ring_timeout", "call_limit",
                                            "machine_detection", "say_voice", "say_voice_en", "inbound_digits", NULL };
        static const char *const methods[] = { "POST", "GET", "PUT" };
        struct config *c = l->c;
        config_setting_t *list;
        int n = 0;

        c->gateways = cfg_section_array(l, root, "gateways", sizeof(struct gateway), &list, &n);
        for (int i = 0; c->gateways && i < n; i++) {
                config_setting_t *sid, *surl, *hdrs;
                struct gateway *gw = &c->gateways[c->n_gateways];
                const char *id, *url, *secret;
                const config_setting_t *secret_s;
                int t;
                config_setting_t *e = cfg_section_elem(l, list, i, keys, gateway_line, &id, &sid);

                if (!e)
                        continue;

                t = load_gateway_type(l, e, gw);

                url = cfg_get_text(l, e, "url", false, &surl);
                gw->from = cfg_ldup(l, cfg_get_text(l, e, "from", false, NULL));
                gw->account = cfg_ldup(l, cfg_get_text(l, e, "account", false, NULL));
                gw->username = cfg_ldup(l, cfg_get_text(l, e, "username", false, NULL));
                gw->body = cfg_ldup(l, cfg_get_string(l, e, "body", false, NULL));
                gw->content_type = cfg_ldup(l, cfg_get_text(l, e, "content_type", false, NULL));
                gw->success_match = cfg_ldup(l, cfg_get_string(l, e, "success_match", false, NULL));
                gw->method = cfg_ldup(l, methods[cfg_get_enum(l, e, "method", false, methods, ELEMENTSOF(methods), 0, NULL)]);
                gw->timeout = cfg_get_duration(l, e, "timeout", false, 10 * USEC_PER_SEC, true, NULL);
                gw->retries = (int) cfg_get_int(l, e, "retries", false, 1, 10, 3, NULL);

                load_success(l, e, gw);

                hdrs = cfg_get_string_list(l, e, "headers", false);
                if (hdrs)
                        load_headers(l, gw, hdrs);

                secret = secret_name(l, e, &secret_s);

                load_gateway_profile(l, e, gw, t, surl, &url);
                load_max_segments(l, e, gw, t);
                gw->url = cfg_ldup(l, url);
                load_helo(l, e, gw, t, url);
                gw->starttls = cfg_get_bool(l, e, "starttls", gw->type == GATEWAY_SMTP && smtp_default_starttls(url), NULL);

                if (secret)
                        cfg_load_secret(l, secret_s, secret, &gw->password);
                load_gateway_inbound(l, e, gw, t);
                load_voice(l, e, gw, t);

                gw->line = cfg_elem_line(e, sid);
                if (id) {
                        gw->id = cfg_ldup(l, id);
                        c->n_gateways++;
                } else {
                        gateway_conf_done(gw);
                        *gw = (struct gateway) {};
                }
        }
}

unsigned config_sms_max_segments(const struct config *c) {
        unsigned n = 0;

        for (size_t i = 0; c && i < c->n_gateways; i++)
                if ((c->gateways[i].channel & CHANNEL_SMS) && c->gateways[i].max_segments > 0 &&
                    (n == 0 || c->gateways[i].max_segments < n))
                        n = c->gateways[i].max_segments;
        return n ? n : GATEWAY_MAX_SEGMENTS_DEFAULT;
}
