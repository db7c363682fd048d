/* config-mqtt.c - the "mqtt" section: the broker, TLS, topics and which
 * commands MQTT may carry. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config-load.h"
#include "macro.h"
#include "verbs.h"

/* A person id or "role:x" that names someone who exists. */
static bool identity_resolves(const struct config *c, const char *v) {
        if (cfg_has_prefix(v, "role:"))
                return cfg_role_exists(c, v + 5);
        return config_person(c, v);
}

void cfg_load_mqtt(struct loader *l, const config_setting_t *root) {
        static const char *const keys[] = { "host", "port", "base", "client_id", "qos", "tls", "cafile",
                                            "certfile", "keyfile", "username", "password_file", "keepalive",
                                            "commands", "queue_size", "homeassistant", "trigger_identity",
                                            "drill_only", NULL };
        static const char *const files[] = { "cafile", "certfile", "keyfile" };
        struct config *c = l->c;
        struct mqtt_conf *m = &c->mqtt;
        config_setting_t *g, *s;
        const char *v;

        g = cfg_section_group(l, root, "mqtt", keys, &m->enabled, &m->line);
        if (!g)
                return;

        v = cfg_get_text(l, g, "host", false, &s);
        if (v && strpbrk(v, " /"))
                cfg_fail(l, s, "bad host name \"%s\"", v);
        else
                m->host = cfg_ldup(l, v ?: "localhost");

        m->tls = cfg_get_bool(l, g, "tls", false, NULL);
        m->port = (int) cfg_get_int(l, g, "port", false, 1, 65535, m->tls ? 8883 : 1883, NULL);

        v = cfg_get_text(l, g, "base", false, &s);
        if (v) {
                /* Wildcards would make our own subscriptions match other
                 * tenants; empty levels make topics nobody expects. */
                if (strpbrk(v, "+#") || v[0] == '/' || v[strlen(v) - 1] == '/' || strstr(v, "//"))
                        cfg_fail(l, s, "bad topic base \"%s\" (no '+' or '#', no leading, trailing or double '/')", v);
                else
                        m->base = cfg_ldup(l, v);
        } else if (c->site && asprintf(&m->base, "beredd/%s", c->site) < 0) {
                m->base = NULL;
                l->oom = true;
        }

        v = cfg_get_text(l, g, "client_id", false, NULL);
        if (v)
                m->client_id = cfg_ldup(l, v);
        else if (c->site && asprintf(&m->client_id, "beredd-%s", c->site) < 0) {
                m->client_id = NULL;
                l->oom = true;
        }

        m->qos = (int) cfg_get_int(l, g, "qos", false, 0, 2, 1, NULL);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char **dst = i == 0 ? &m->cafile : i == 1 ? &m->certfile : &m->keyfile;
                v = cfg_get_text(l, g, files[i], false, &s);
                if (!v)
                        continue;
                if (v[0] != '/')
                        cfg_fail(l, s, "\"%s\" is not an absolute path", v);
                else if (!m->tls)
                        cfg_fail(l, s, "set, but tls is false");
                else
                        *dst = cfg_ldup(l, v);
        }
        if (!cfg_member(l, g, "certfile", false) != !cfg_member(l, g, "keyfile", false))
                cfg_fail(l, g, "certfile and keyfile go together");

        m->username = cfg_ldup(l, cfg_get_text(l, g, "username", false, NULL));
        v = cfg_get_text(l, g, "password_file", false, &s);
        if (v)
                cfg_load_secret(l, s, v, &m->password);
        m->keepalive = (int) cfg_get_int(l, g, "keepalive", false, 5, 65535, 30, NULL);

        s = cfg_get_string_list(l, g, "commands", false);
        if (s) {
                m->commands = 0;
                for (int i = 0; i < config_setting_length(s); i++) {
                        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
                        const char *name = config_setting_get_string(e);
                        int k = command_from_name(name);

                        if (k < 0)
                                cfg_fail_elem(l, s, e, "unknown command \"%s\"", name);
                        else if (command_is_read_only((enum command_kind) k))
                                /* Reads answer on the control socket; MQTT only carries actions. */
                                cfg_fail_elem(l, s, e, "\"%s\" is read-only and accepted on the control socket only", name);
                        else if (k >= CMD_CASE_OPEN && k <= CMD_CASE_CLOSE)
                                /* A case command's reply names the case: never on a broker. */
                                cfg_fail_elem(l, s, e, "\"%s\" cannot go over MQTT: its reply would carry a case reference "
                                              "(use the drop folder or the control socket)", name);
                        else
                                m->commands |= 1u << k;
                }
        }
        /* Without a commands list MQTT is read-only (commands = 0): a
         * broker's clients are not the people who may call the team in.
         * Opened, MQTT touches drills only unless drill_only = false. */
        m->drill_only = cfg_get_bool(l, g, "drill_only", true, NULL);

        m->queue_size = (size_t) cfg_get_int(l, g, "queue_size", false, 1, 1000000, 1000, NULL);
        m->homeassistant = cfg_get_bool(l, g, "homeassistant", false, NULL);

        v = cfg_get_text(l, g, "trigger_identity", false, &s);
        if (v && !identity_resolves(c, v))
                cfg_fail(l, s, "unknown %s \"%s\"", cfg_has_prefix(v, "role:") ? "role" : "person",
                         cfg_has_prefix(v, "role:") ? v + 5 : v);
        else
                m->trigger_identity = cfg_ldup(l, v);
        if (!v && (m->commands & ((1u << CMD_TRIGGER) | (1u << CMD_RESOLVE))))
                cfg_fail(l, g, "commands: \"trigger\" and \"resolve\" need trigger_identity (who MQTT acts as)");
}
