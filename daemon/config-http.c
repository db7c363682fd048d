/* config-http.c - the "http" section: the listener, the public URL and the
 * heartbeat, and the checks that webhooks are signed or have a token. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config-load.h"
#include "macro.h"

/* "HOST:PORT" with a numeric IPv4 HOST, or "[IPv6]:PORT". Returns 0 and the
 * address (malloc'd, without brackets) and port, or -EINVAL. */
static int parse_listen(const char *s, char **ret_host, int *ret_port) {
        const char *colon, *h, *he;
        unsigned char buf[sizeof(struct in6_addr)];
        char host[INET6_ADDRSTRLEN + 1], *end;
        bool v6 = s[0] == '[';
        long port;

        if (v6) {
                h = s + 1;
                he = strchr(h, ']');
                if (!he || he[1] != ':')
                        return -EINVAL;
                colon = he + 1;
        } else {
                h = s;
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                he = colon;
        }
        if (he <= h || (size_t) (he - h) >= sizeof(host))
                return -EINVAL;
        memcpy(host, h, (size_t) (he - h));
        host[he - h] = '\0';
        if (inet_pton(v6 ? AF_INET6 : AF_INET, host, buf) != 1)
                return -EINVAL;
        if (!isdigit((unsigned char) colon[1]))
                return -EINVAL;
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno != 0 || *end != '\0' || port < 1 || port > 65535)
                return -EINVAL;
        *ret_host = strdup(host);
        if (!*ret_host)
                return -ENOMEM;
        *ret_port = (int) port;
        return 0;
}

/* A voice gateway's key presses and call status come back over the HTTP
 * listener, addressed by public_url: without them every call would go
 * unanswered. Reported once, at the first voice gateway's channel. */
static void check_voice_listener(struct loader *l, const config_setting_t *root) {
        const struct http_conf *h = &l->c->http;
        const config_setting_t *gl = config_setting_get_member(root, "gateways");

        if (h->listen && h->public_url)
                return;
        for (int i = 0; gl && config_setting_is_list(gl) && i < config_setting_length(gl); i++) {
                const config_setting_t *e = config_setting_get_elem(gl, (unsigned) i);
                const char *id = NULL;
                const struct gateway *gw;

                if (!e || !config_setting_lookup_string(e, "id", &id) || !(gw = config_gateway(l->c, id)) ||
                    gw->channel != CHANNEL_VOICE)
                        continue;
                const config_setting_t *s = config_setting_get_member(e, "channel");
                if (!h->listen && !h->public_url)
                        cfg_fail(l, s ?: e, "a voice gateway needs http.listen and http.public_url: the call's key "
                                 "presses come back over them");
                else if (!h->listen)
                        cfg_fail(l, s ?: e, "a voice gateway needs http.listen: the call's key presses come back over it");
                else
                        cfg_fail(l, s ?: e, "a voice gateway needs http.public_url: the call's key presses come back over it");
                return;
        }
}

void cfg_load_http(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "listen", "public_url", "heartbeat", NULL };
        static const char *const hkeys[] = { "url", "every", NULL };
        static const char *const http_schemes[] = { "http://", "https://", NULL };
        struct config *c = l->c;
        struct http_conf *h = &c->http;
        config_setting_t *g, *hb, *s;
        const char *v;

        g = cfg_section_group(l, root, "http", keys, &h->enabled, &h->line);
        if (!g) {
                check_voice_listener(l, root);
                return;
        }

        v = cfg_get_text(l, g, "listen", false, &s);
        if (v) {
                int r = parse_listen(v, &h->listen_host, &h->listen_port);
                if (r == -ENOMEM)
                        l->oom = true;
                else if (r < 0)
                        cfg_fail(l, s, "bad address \"%s\" (use a numeric address and a port, e.g. \"127.0.0.1:8470\" or \"[::1]:8470\")", v);
                else
                        h->listen = cfg_ldup(l, v);
        }

        v = cfg_get_text(l, g, "public_url", false, &s);
        if (v) {
                size_t n = strlen(v);
                /* Links and signatures are built as <public_url><path>: a query
                 * or fragment would end up in the middle. */
                if (!cfg_url_ok(v, http_schemes) || strpbrk(v, "?#"))
                        cfg_fail(l, s, "bad URL \"%s\" (use e.g. \"https://beredd.kommune.no\", no ? or #)", v);
                else {
                        while (n > 0 && v[n - 1] == '/')
                                n--;
                        h->public_url = strndup(v, n);
                        if (!h->public_url)
                                l->oom = true;
                }
        }

        hb = cfg_get_group(l, g, "heartbeat", false);
        if (hb) {
                cfg_check_keys(l, hb, hkeys);
                v = cfg_get_text(l, hb, "url", true, &s);
                if (v && !cfg_url_ok(v, http_schemes))
                        cfg_fail(l, s, "bad URL \"%s\" (use http:// or https://)", v);
                else
                        h->heartbeat_url = cfg_ldup(l, v);
                h->heartbeat_every = cfg_get_duration(l, hb, "every", false, 5 * USEC_PER_MIN, true, NULL);
        }

        /* Twilio signs <public URL><path>: without it every webhook would be
         * refused as forged. (A voice gateway is told so below.) */
        check_voice_listener(l, root);
        for (size_t i = 0; h->listen && !h->public_url && i < c->n_gateways; i++)
                if (c->gateways[i].type == GATEWAY_TWILIO && c->gateways[i].channel != CHANNEL_VOICE) {
                        cfg_fail(l, g, "missing setting \"public_url\": Twilio webhooks (gateway \"%s\") are signed over it",
                                 c->gateways[i].id);
                        break;
                }

        /* An http or linkmobility gateway set up to take SMS or receipts
         * needs a shared token: without one its routes answer 404 and
         * answers sent there would be lost. */
        const config_setting_t *gl = h->listen ? config_setting_get_member(root, "gateways") : NULL;
        for (int i = 0; gl && config_setting_is_list(gl) && i < config_setting_length(gl); i++) {
                static const char *const asks[] = { "inbound_from", "inbound_text", "inbound_ref", "inbound_status",
                                                    "receipt_gate" };
                const config_setting_t *e = config_setting_get_elem(gl, (unsigned) i);
                const char *id = NULL;
                const struct gateway *gw;

                if (!e || !config_setting_lookup_string(e, "id", &id) || !(gw = config_gateway(c, id)))
                        continue;
                if ((gw->type != GATEWAY_HTTP && gw->type != GATEWAY_LINKMOBILITY) || gw->inbound_token)
                        continue;
                for (size_t k = 0; k < ELEMENTSOF(asks); k++) {
                        config_setting_t *m = config_setting_get_member(e, asks[k]);
                        if (m) {
                                cfg_fail(l, m, "gateway \"%s\" takes webhooks but has no \"inbound_token_file\": "
                                         "its /sms/%s/ routes would be open to anyone (they answer 404)", id, id);
                                break;
                        }
                }
        }
}
