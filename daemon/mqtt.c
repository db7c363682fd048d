/* mqtt.c - libmosquitto driven from sd-event.
 *
 * We watch mosquitto_socket() for input (and for output while
 * mosquitto_want_write()), call loop_read/loop_write on events and loop_misc
 * from a one-second timer that also drives reconnects with backoff. The
 * socket changes on every reconnect, so the io source is re-created then.
 * No library thread: every callback below runs inside loop_read/loop_write
 * on our loop.
 *
 * Name resolution never blocks the loop: libmosquitto's own connect calls
 * getaddrinfo() synchronously, so we hand it an address. An IP literal is
 * used as is; a host name is resolved in a short-lived child process (fork,
 * getaddrinfo, the first address written to a pipe that the loop watches,
 * _exit), and that address is connected to. Not getaddrinfo_a(): it runs
 * threads in our process, and its glibc clean-up upsets valgrind.
 * Hazard: with tls = true the name itself must go to libmosquitto (it is
 * what the certificate is checked against and what SNI sends), so its own
 * lookup runs once more, right after ours, normally from the resolver's
 * cache; use an IP literal with a certificate for that address, or an
 * /etc/hosts entry, where even that must not happen.
 *
 * MQTT v5 first, v3.1.1 when the broker refuses v5 in its CONNACK (logged
 * once). v5 gives us content type, message expiry, response topic and
 * correlation data, and needs a session expiry interval for the session to
 * outlive the connection. Hazard: libmosquitto 2.0 takes CONNECT properties
 * only through the blocking mosquitto_connect_bind_v5(); it keeps them for
 * every later (asynchronous) connect. We store them with a call that fails
 * on purpose before any network I/O (port -1). 090-mqtt-commands.sh checks
 * that a command sent while we were away still arrives, so a library that
 * stops keeping them fails a test rather than silently losing commands. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "mqtt.h"

#ifndef USEC_PER_MSEC
#define USEC_PER_MSEC UINT64_C(1000)
#endif
#define BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
#define BACKOFF_MAX_USEC (60 * USEC_PER_SEC)
#define RESOLVE_TIMEOUT_USEC (30 * USEC_PER_SEC)
/* v5 session expiry: commands published while we are down wait this long in
 * the broker. Not longer: a trigger that waited days is no longer wanted
 * (publishers should set a message expiry on commands as well). */
#define SESSION_EXPIRY_SEC 86400
/* v5 message expiry on events: a dashboard that subscribes later (with a
 * persistent session) is not fed events older than this. */
#define EVENT_EXPIRY_SEC 3600
/* Request ids of recent commands and their replies: a QoS 1 redelivery of a
 * command we already ran gets the same reply and does not run again. */
#define SEEN_MAX 64
#define REQUEST_ID_MAX 64

static const char content_type[] = "application/json";
static const char offline_payload[] = "{\"state\":\"offline\"}";

/* What we know of one activation from its retained state, for <base>/summary. */
struct act_entry {
        char *id;
        char *chain;
        char *state; /* "resolved" once cleared */
        bool drill;
        json_int_t confirmed, needed, step, created;
        uint64_t seq; /* order first seen, for ties */
};

struct seen {
        char *key; /* "<cmd> <request id>" */
        char *reply;
};

/* A name lookup in progress: the child and the read end of its pipe. */
struct lookup {
        pid_t pid;
        int fd;
        sd_event_source *io;
        char buf[INET6_ADDRSTRLEN + 128];
        size_t n;
        uint64_t started;
};

struct mqtt {
        sd_event *event;
        struct mqtt_hooks hooks;
        const struct config *cfg;
        struct mosquitto *mosq;
        sd_event_source *io;
        int io_fd;
        sd_event_source *tick;
        sd_event_source *resolve_poll;
        sd_event_source *summary_defer;
        struct lookup *lookup;
        bool connected;
        bool connecting;
        bool v5;
        bool warned_down; /* one warning per outage, not one per attempt */
        bool in_republish;
        uint64_t next_attempt; /* CLOCK_MONOTONIC */
        uint64_t backoff;
        char *status_topic, *event_topic, *cmd_filter, *cmd_prefix;
        char *status_extra;     /* mqtt_set_status(): fields added to the status (JSON object text) */
        json_int_t online_ts;   /* when the status last said "online": the connect */

        /* Events waiting for the broker: a ring of at most queue_size. */
        char **queue;
        size_t q_cap, q_head, q_len;
        uint64_t dropped;

        /* Retained clears that could not be sent: sent first on reconnect. */
        char **clears;
        size_t n_clears;

        struct act_entry *acts;
        size_t n_acts;
        uint64_t act_seq;

        struct seen seen[SEEN_MAX];
        size_t seen_next;
        unsigned long request_seq;
};

static void mqtt_update_io(struct mqtt *m);

static uint64_t now_mono(struct mqtt *m) {
        uint64_t t = 0;
        sd_event_now(m->event, CLOCK_MONOTONIC, &t);
        return t;
}

static json_int_t now_unix(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (json_int_t) ts.tv_sec;
}

static void bump_backoff(struct mqtt *m) {
        m->backoff = m->backoff * 2 > BACKOFF_MAX_USEC ? BACKOFF_MAX_USEC : m->backoff * 2;
}

static void schedule_retry(struct mqtt *m) {
        m->next_attempt = now_mono(m) + m->backoff;
        bump_backoff(m);
}

/* ---- publishing ---- */

/* Publish PAYLOAD (LEN bytes; JSON, or empty to clear a retained topic) on
 * TOPIC. With v5 every non-empty payload says it is JSON; EXPIRY (seconds,
 * 0 = none) and CORRELATION go along when given. */
static int publish_raw(struct mqtt *m, const char *topic, const char *payload, size_t len, int qos, bool retain,
                       uint32_t expiry, const void *correlation, uint16_t correlation_len) {
        mosquitto_property *props = NULL;
        int rc = MOSQ_ERR_SUCCESS;

        if (m->v5) {
                if (len > 0)
                        rc = mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, content_type);
                if (rc == MOSQ_ERR_SUCCESS && expiry > 0)
                        rc = mosquitto_property_add_int32(&props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, expiry);
                if (rc == MOSQ_ERR_SUCCESS && correlation)
                        rc = mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation,
                                                           correlation_len);
        }
        if (rc == MOSQ_ERR_SUCCESS)
                rc = mosquitto_publish_v5(m->mosq, NULL, topic, (int) len, len ? payload : NULL, qos, retain, props);
        mosquitto_property_free_all(&props);
        if (rc != MOSQ_ERR_SUCCESS) {
                log_debug("MQTT: cannot publish on %s: %s", topic, mosquitto_strerror(rc));
                return rc == MOSQ_ERR_NOMEM ? -ENOMEM : -EIO;
        }
        return 0;
}

static int publish_sub(struct mqtt *m, const char *subtopic, const char *payload, bool retain, uint32_t expiry) {
        char topic[512];
        int n = snprintf(topic, sizeof(topic), "%s/%s", m->cfg->mqtt.base, subtopic);
        if (n < 0 || (size_t) n >= sizeof(topic))
                return -ENAMETOOLONG;
        return publish_raw(m, topic, payload, payload ? strlen(payload) : 0, m->cfg->mqtt.qos, retain, expiry, NULL, 0);
}

static void publish_online(struct mqtt *m) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "state", "online", "site", m->cfg->site, "site_name",
                              m->cfg->site_name ? m->cfg->site_name : m->cfg->site, "version", PACKAGE_VERSION,
                              "protocol", m->v5 ? "5" : "3.1.1", "ts", m->online_ts);
        json_t *extra = m->status_extra ? json_loads(m->status_extra, 0, NULL) : NULL;
        if (o && json_is_object(extra))
                json_object_update_missing(o, extra);
        json_decref(extra);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (s)
                publish_raw(m, m->status_topic, s, strlen(s), 1, true, 0, NULL, 0);
        free(s);
}

static int publish_event(struct mqtt *m, const char *json) {
        return publish_raw(m, m->event_topic, json, strlen(json), m->cfg->mqtt.qos, false, EVENT_EXPIRY_SEC, NULL, 0);
}

/* ---- the event queue ---- */

static void queue_push(struct mqtt *m, const char *json) {
        char *copy = strdup(json);
        if (!copy) {
                m->dropped++;
                return;
        }
        if (m->q_len == m->q_cap) {
                free(m->queue[m->q_head]);
                m->q_head = (m->q_head + 1) % m->q_cap;
                m->q_len--;
                m->dropped++;
        }
        m->queue[(m->q_head + m->q_len) % m->q_cap] = copy;
        m->q_len++;
}

/* Resize to CAP, keeping the newest events. */
static int queue_resize(struct mqtt *m, size_t cap) {
        char **q = calloc(cap, sizeof(char *));
        if (!q)
                return -ENOMEM;
        size_t keep = m->q_len < cap ? m->q_len : cap, skip = m->q_len - keep;
        for (size_t i = 0; i < m->q_len; i++) {
                char *e = m->queue[(m->q_head + i) % m->q_cap];
                if (i < skip) {
                        free(e);
                        m->dropped++;
                } else
                        q[i - skip] = e;
        }
        free(m->queue);
        m->queue = q;
        m->q_cap = cap;
        m->q_head = 0;
        m->q_len = keep;
        return 0;
}

/* Connected again: say how many were lost, then the rest in order. */
static void queue_flush(struct mqtt *m) {
        if (m->dropped > 0) {
                char buf[128];
                snprintf(buf, sizeof(buf), "{\"type\":\"dropped\",\"count\":%llu,\"ts\":%lld}",
                         (unsigned long long) m->dropped, (long long) now_unix());
                if (publish_event(m, buf) < 0)
                        return;
                log_warning("MQTT: %llu event(s) were dropped while the broker was unreachable (mqtt.queue_size = %zu)",
                            (unsigned long long) m->dropped, m->q_cap);
                m->dropped = 0;
        }
        while (m->q_len > 0 && m->connected) {
                if (publish_event(m, m->queue[m->q_head]) < 0)
                        return;
                free(m->queue[m->q_head]);
                m->queue[m->q_head] = NULL;
                m->q_head = (m->q_head + 1) % m->q_cap;
                m->q_len--;
        }
}

/* ---- <base>/summary, derived from the retained activation states ---- */

static bool state_is_open(const char *s) {
        return s && (streq(s, "mobilising") || streq(s, "mobilised") || streq(s, "short"));
}

static void act_entry_free(struct act_entry *a) {
        free(a->id);
        free(a->chain);
        free(a->state);
}

/* Newer: created later, or (same second or unknown) first seen later. */
static bool act_newer(const struct act_entry *a, const struct act_entry *b) {
        if (a->created != b->created)
                return a->created > b->created;
        int c = strcmp(a->id, b->id);
        if (c != 0)
                return c > 0;
        return a->seq > b->seq;
}

static const struct act_entry *act_latest(const struct mqtt *m) {
        const struct act_entry *best = NULL;
        for (size_t i = 0; i < m->n_acts; i++)
                if (!best || act_newer(&m->acts[i], best))
                        best = &m->acts[i];
        return best;
}

static void publish_summary(struct mqtt *m) {
        json_int_t open = 0, mobilising = 0, mobilised = 0, shrt = 0, drills = 0;
        for (size_t i = 0; i < m->n_acts; i++) {
                const struct act_entry *a = &m->acts[i];
                if (!state_is_open(a->state))
                        continue;
                open++;
                drills += a->drill;
                mobilising += streq(a->state, "mobilising");
                mobilised += streq(a->state, "mobilised");
                shrt += streq(a->state, "short");
        }
        const struct act_entry *l = act_latest(m);
        json_t *latest = l ? json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I}", "activation", l->id, "chain",
                                       l->chain ? l->chain : "", "state", l->state, "drill", l->drill, "confirmed",
                                       l->confirmed, "needed", l->needed, "step", l->step)
                           : json_null();
        json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:I}", "open_activations", open, "mobilising", mobilising,
                              "mobilised", mobilised, "short", shrt, "drills", drills, "latest", latest, "ts",
                              now_unix());
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (s)
                publish_sub(m, "summary", s, true, 0);
        free(s);
}

static int on_summary(sd_event_source *s, void *userdata) {
        struct mqtt *m = userdata;
        if (m->connected)
                publish_summary(m);
        mqtt_update_io(m);
        return 0;
}

static void summary_changed(struct mqtt *m) {
        if (!m->in_republish)
                sd_event_source_set_enabled(m->summary_defer, SD_EVENT_ONESHOT);
}

static struct act_entry *act_find(struct mqtt *m, const char *id) {
        for (size_t i = 0; i < m->n_acts; i++)
                if (streq(m->acts[i].id, id))
                        return &m->acts[i];
        return NULL;
}

static void act_remove(struct mqtt *m, size_t i) {
        act_entry_free(&m->acts[i]);
        m->acts[i] = m->acts[--m->n_acts];
}

/* Keep what the summary needs from a retained activation/<id> (JSON NULL:
 * cleared, i.e. resolved). Of resolved ones only the latest is kept. */
static void act_track(struct mqtt *m, const char *id, const char *payload) {
        struct act_entry *a = act_find(m, id);

        if (!payload) {
                if (!a)
                        return;
                free(a->state);
                a->state = strdup("resolved");
        } else {
                json_t *o = json_loads(payload, 0, NULL);
                if (!json_is_object(o)) {
                        json_decref(o);
                        return;
                }
                if (!a) {
                        struct act_entry *v = realloc(m->acts, (m->n_acts + 1) * sizeof(*v));
                        if (!v) {
                                json_decref(o);
                                return;
                        }
                        m->acts = v;
                        a = &v[m->n_acts];
                        *a = (struct act_entry) { .id = strdup(id), .seq = ++m->act_seq };
                        if (!a->id) {
                                json_decref(o);
                                return;
                        }
                        m->n_acts++;
                }
                const char *chain = json_string_value(json_object_get(o, "chain"));
                const char *state = json_string_value(json_object_get(o, "state"));
                free(a->chain);
                a->chain = chain ? strdup(chain) : NULL;
                free(a->state);
                a->state = strdup(state ? state : "unknown");
                a->drill = json_is_true(json_object_get(o, "drill"));
                a->confirmed = json_integer_value(json_object_get(o, "confirmed"));
                a->needed = json_integer_value(json_object_get(o, "needed"));
                a->step = json_integer_value(json_object_get(o, "step"));
                if (json_is_integer(json_object_get(o, "created")))
                        a->created = json_integer_value(json_object_get(o, "created"));
                json_decref(o);
        }
        if (!a->state) { /* out of memory: forget it rather than guess */
                act_remove(m, (size_t) (a - m->acts));
                summary_changed(m);
                return;
        }
        const struct act_entry *latest = act_latest(m);
        for (size_t i = m->n_acts; i-- > 0;)
                if (!state_is_open(m->acts[i].state) && &m->acts[i] != latest)
                        act_remove(m, i);
        summary_changed(m);
}

/* ---- Home Assistant discovery ---- */

static void ha_sensor(struct mqtt *m, const char *site, const char *key, const char *name, const char *state_sub,
                      const char *value_template, const char *icon, const char *unit, bool attributes) {
        const struct mqtt_conf *c = &m->cfg->mqtt;
        char uid[160], topic[256], state_topic[512], device_name[160], ident[160];

        char entity[176];
        snprintf(uid, sizeof(uid), "beredd_%s_%s", site, key);
        /* Home Assistant 2025.10 replaced object_id with default_entity_id
         * (the whole entity id, domain included); 2026.4 dropped object_id. */
        snprintf(entity, sizeof(entity), "sensor.%s", uid);
        snprintf(ident, sizeof(ident), "beredd_%s", site);
        snprintf(topic, sizeof(topic), "homeassistant/sensor/%s/config", uid);
        snprintf(state_topic, sizeof(state_topic), "%s/%s", c->base, state_sub);
        snprintf(device_name, sizeof(device_name), "Kriseteam %s", m->cfg->site_name ? m->cfg->site_name : m->cfg->site);

        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:[s], s:s, s:s, s:s, s:s}}",
                              "name", name, "unique_id", uid, "default_entity_id", entity, "state_topic", state_topic,
                              "value_template", value_template, "icon", icon, "availability_topic", m->status_topic,
                              "availability_template", "{{ value_json.state }}", "payload_available", "online",
                              "payload_not_available", "offline", "origin_note",
                              "published by beredd; values are counts and states only", "device", "identifiers",
                              ident, "name", device_name, "manufacturer", "beredd", "model", "beredd",
                              "sw_version", PACKAGE_VERSION);
        if (!o)
                return;
        json_object_del(o, "origin_note");
        /* Who published it (Home Assistant shows it and logs it with
         * discovery problems). */
        json_object_set_new(o, "origin", json_pack("{s:s, s:s}", "name", "beredd", "sw_version", PACKAGE_VERSION));
        if (unit) {
                json_object_set_new(o, "unit_of_measurement", json_string(unit));
                json_object_set_new(o, "state_class", json_string("measurement"));
        }
        if (attributes) {
                json_object_set_new(o, "json_attributes_topic", json_string(state_topic));
                json_object_set_new(o, "json_attributes_template",
                                    json_string("{{ (value_json.latest or {}) | tojson }}"));
        }
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (s)
                publish_raw(m, topic, s, strlen(s), 1, true, 0, NULL, 0);
        free(s);
}

static void publish_discovery(struct mqtt *m) {
        char site[64];
        size_t i;
        /* Home Assistant object ids: [a-zA-Z0-9_-] only. */
        for (i = 0; m->cfg->site[i] && i < sizeof(site) - 1; i++) {
                char ch = m->cfg->site[i];
                site[i] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-'
                                  ? ch
                                  : '_';
        }
        site[i] = 0;
        ha_sensor(m, site, "open_activations", "Åpne aktiveringer", "summary", "{{ value_json.open_activations }}",
                  "mdi:account-group", "aktiveringer", false);
        ha_sensor(m, site, "latest_state", "Siste aktivering", "summary",
                  "{{ value_json.latest.state if value_json.latest else 'ingen' }}", "mdi:alarm-light", NULL, true);
        ha_sensor(m, site, "overdue_followups", "Forfalte oppfølginger", "followup/summary",
                  "{{ value_json.overdue }}", "mdi:calendar-alert", "saker", false);
        ha_sensor(m, site, "messages_waiting", "Meldinger som venter på gateway", "status",
                  "{{ value_json.messages_waiting | default(0) }}", "mdi:message-alert", "meldinger", false);
}

/* ---- commands ---- */

static bool request_id_ok(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > REQUEST_ID_MAX || s[0] == '.' || s[0] == '-')
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
                      *s == '_' || *s == '-'))
                        return false;
        return true;
}

static const char *seen_find(struct mqtt *m, const char *key) {
        for (size_t i = 0; i < SEEN_MAX; i++)
                if (m->seen[i].key && streq(m->seen[i].key, key))
                        return m->seen[i].reply;
        return NULL;
}

static void seen_add(struct mqtt *m, const char *key, const char *reply) {
        struct seen *s = &m->seen[m->seen_next];
        free(s->key);
        free(s->reply);
        s->key = strdup(key);
        s->reply = strdup(reply);
        if (!s->key || !s->reply) {
                free(s->key);
                free(s->reply);
                s->key = s->reply = NULL;
        }
        m->seen_next = (m->seen_next + 1) % SEEN_MAX;
}

/* The reply carries the request id, also when the command could not be
 * parsed far enough for the server to know it. */
static char *reply_with_id(char *reply, const char *request_id) {
        json_t *o = json_loads(reply, 0, NULL);
        if (!json_is_object(o) || json_object_get(o, "id")) {
                json_decref(o);
                return reply;
        }
        json_object_set_new(o, "id", json_string(request_id));
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!s)
                return reply;
        free(reply);
        return s;
}

static void on_message(struct mosquitto *mosq, void *userdata, const struct mosquitto_message *msg,
                       const mosquitto_property *props) {
        struct mqtt *m = userdata;
        size_t plen = strlen(m->cmd_prefix);
        char request_id[REQUEST_ID_MAX + 1] = "", key[256], *response_topic = NULL, *reply = NULL;
        void *correlation = NULL;
        uint16_t correlation_len = 0;

        if (!m->hooks.execute || strncmp(msg->topic, m->cmd_prefix, plen) != 0 || !msg->topic[plen] ||
            strchr(msg->topic + plen, '/')) {
                /* A subscription left in the persistent session from an
                 * older configuration, say. */
                log_debug("MQTT: ignoring a message on %s", LOG_ESC(msg->topic));
                return;
        }
        const char *name = msg->topic + plen;
        if (msg->payloadlen == 0) {
                /* Clearing a retained command (by us or anyone): silent. */
                log_debug("MQTT: ignoring an empty message on %s", LOG_ESC(msg->topic));
                return;
        }
        if (msg->retain) {
                /* Never run: it would run again for every new session. We
                 * subscribe with Retain-As-Published, so this is a retained
                 * command published while we are connected, or one left in
                 * our session; clear it (an empty retained message, which
                 * no-local keeps from coming back to us). */
                log_warning("MQTT: ignoring a retained command on %s; clearing it", LOG_ESC(msg->topic));
                publish_raw(m, msg->topic, NULL, 0, 1, true, 0, NULL, 0);
                return;
        }

        json_t *o = json_loadb(msg->payload ? msg->payload : "", (size_t) msg->payloadlen, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "id"));
        bool client_id = id && request_id_ok(id);
        if (client_id)
                snprintf(request_id, sizeof(request_id), "%s", id);
        else
                snprintf(request_id, sizeof(request_id), "beredd-%lld-%lu", (long long) now_unix(), ++m->request_seq);
        json_decref(o);

        if (m->v5) {
                mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &response_topic, false);
                mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &correlation, &correlation_len,
                                               false);
                if (response_topic && (!response_topic[0] || strpbrk(response_topic, "+#"))) {
                        log_warning("MQTT: command on %s names an invalid response topic; replying on %s/reply/%s",
                                    LOG_ESC(msg->topic), m->cfg->mqtt.base, request_id);
                        free(response_topic);
                        response_topic = NULL;
                }
        }

        snprintf(key, sizeof(key), "%s %s", name, request_id);
        const char *earlier = client_id ? seen_find(m, key) : NULL;
        if (!m->v5) {
                /* v3.1.1 forwards a retained message published while we are
                 * subscribed with the retain flag cleared: a retained command
                 * cannot be told from a live one, so none is run. */
                reply = reply_error(request_id, "cmd: commands need a broker that speaks MQTT v5 "
                                                "(v3.1.1 cannot tell a retained command from a live one)");
        } else if (earlier) {
                log_info("MQTT: command %s with id %s was already run; sending its reply again", LOG_ESC(name), request_id);
                reply = strdup(earlier);
        } else {
                reply = m->hooks.execute(m->hooks.userdata, name, msg->payload ? msg->payload : "",
                                         (size_t) msg->payloadlen);
                if (reply)
                        reply = reply_with_id(reply, request_id);
                else
                        reply = reply_error(request_id, "internal error (out of memory)");
                if (reply && client_id)
                        seen_add(m, key, reply);
        }

        if (reply) {
                if (response_topic)
                        publish_raw(m, response_topic, reply, strlen(reply), m->cfg->mqtt.qos, false, 0, correlation,
                                    correlation_len);
                else {
                        char sub[REQUEST_ID_MAX + 16];
                        snprintf(sub, sizeof(sub), "reply/%s", request_id);
                        publish_sub(m, sub, reply, false, 0);
                }
        }
        free(reply);
        free(response_topic);
        free(correlation);
}

/* ---- connection ---- */

static void set_will(struct mqtt *m) {
        mosquitto_property *props = NULL;
        if (m->v5)
                mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, content_type);
        int rc = mosquitto_will_set_v5(m->mosq, m->status_topic, (int) strlen(offline_payload), offline_payload, 1,
                                       true, props);
        if (rc != MOSQ_ERR_SUCCESS) {
                mosquitto_property_free_all(&props);
                log_warning("MQTT: cannot set the last will: %s", mosquitto_strerror(rc));
        }
        /* On success the library owns PROPS. */
}

/* Store the v5 CONNECT properties (see the top of this file), or clear them
 * for v3.1.1. The call fails on purpose (port -1) before any network I/O. */
static int set_connect_properties(struct mqtt *m) {
        mosquitto_property *props = NULL;
        int rc = MOSQ_ERR_SUCCESS;
        if (m->v5)
                rc = mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, SESSION_EXPIRY_SEC);
        if (rc == MOSQ_ERR_SUCCESS)
                rc = mosquitto_connect_bind_v5(m->mosq, "0.0.0.0", -1, m->cfg->mqtt.keepalive, NULL, props);
        mosquitto_property_free_all(&props);
        return rc == MOSQ_ERR_INVAL ? 0 : -EINVAL;
}

static void fall_back_to_v311(struct mqtt *m) {
        m->v5 = false;
        mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
        set_connect_properties(m);
        set_will(m);
        log_notice("MQTT: broker %s:%d does not accept MQTT v5; using v3.1.1 (no content type, message expiry or "
                   "response topics)", m->cfg->mqtt.host, m->cfg->mqtt.port);
}

static void on_connect(struct mosquitto *mosq, void *userdata, int rc, int flags, const mosquitto_property *props) {
        struct mqtt *m = userdata;
        const struct mqtt_conf *c = &m->cfg->mqtt;

        m->connecting = false;
        if (rc != 0) {
                if (m->v5 && (rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION || rc == CONNACK_REFUSED_PROTOCOL_VERSION)) {
                        fall_back_to_v311(m);
                        m->next_attempt = now_mono(m); /* at once, on the next tick */
                        return;
                }
                if (!m->warned_down)
                        log_warning("MQTT: broker %s:%d refused the connection: %s", c->host, c->port,
                                    m->v5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc));
                m->warned_down = true;
                schedule_retry(m);
                return;
        }
        m->connected = true;
        m->warned_down = false;
        m->backoff = BACKOFF_MIN_USEC;
        log_info("MQTT: connected to %s:%d (MQTT %s, session %s)", c->host, c->port, m->v5 ? "v5" : "v3.1.1",
                 flags & 1 ? "resumed" : "new");

        /* Commands: subscribed again on every connect, in case the broker
         * lost the session. */
        /* v5: retained messages are not sent on subscribing, keep their
         * retain flag when forwarded live (Retain-As-Published: on_message
         * ignores them), and our own clears do not come back (no-local). */
        rc = mosquitto_subscribe_v5(m->mosq, NULL, m->cmd_filter, 1,
                                    m->v5 ? MQTT_SUB_OPT_RETAIN_AS_PUBLISHED | MQTT_SUB_OPT_SEND_RETAIN_NEVER |
                                                    MQTT_SUB_OPT_NO_LOCAL
                                          : 0,
                                    NULL);
        if (rc != MOSQ_ERR_SUCCESS)
                log_warning("MQTT: cannot subscribe to %s: %s", m->cmd_filter, mosquitto_strerror(rc));

        /* Retained state is republished on every connect, so a dashboard is
         * right again as soon as the broker is back. Clears we could not send
         * go first: the republish may set the same topic again. */
        m->online_ts = now_unix();
        publish_online(m);
        for (size_t i = 0; i < m->n_clears; i++) {
                publish_sub(m, m->clears[i], NULL, true, 0);
                free(m->clears[i]);
        }
        m->n_clears = 0;
        m->in_republish = true;
        if (m->hooks.republish)
                m->hooks.republish(m->hooks.userdata);
        m->in_republish = false;
        publish_summary(m);
        if (c->homeassistant)
                publish_discovery(m);
        queue_flush(m);
        mqtt_update_io(m);
}

static void on_disconnect(struct mosquitto *mosq, void *userdata, int rc, const mosquitto_property *props) {
        struct mqtt *m = userdata;
        if (m->connected && rc != 0)
                log_warning("MQTT: lost the connection to %s:%d, reconnecting", m->cfg->mqtt.host, m->cfg->mqtt.port);
        if (m->connected)
                m->next_attempt = now_mono(m) + m->backoff;
        m->connected = false;
        m->connecting = false;
}

static void on_log(struct mosquitto *mosq, void *userdata, int level, const char *str) {
        if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
                log_debug("MQTT (libmosquitto): %s", str);
}

static void drop_io(struct mqtt *m) {
        m->io = sd_event_source_disable_unref(m->io);
        m->io_fd = -1;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct mqtt *m = userdata;
        int rc = MOSQ_ERR_SUCCESS;

        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                rc = mosquitto_loop_read(m->mosq, 1);
        if (rc == MOSQ_ERR_SUCCESS && (revents & EPOLLOUT))
                rc = mosquitto_loop_write(m->mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
                /* The library has closed the socket; the tick reconnects. */
                if (m->connected || m->connecting)
                        log_debug("MQTT: connection error: %s",
                                  rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
                if (m->connected)
                        log_warning("MQTT: lost the connection to %s:%d, reconnecting", m->cfg->mqtt.host,
                                    m->cfg->mqtt.port);
                if (m->connected || m->connecting)
                        schedule_retry(m);
                m->connected = m->connecting = false;
                drop_io(m);
                return 0;
        }
        mqtt_update_io(m);
        return 0;
}

/* Keep the io source on the library's current socket, wanting EPOLLOUT
 * only while it has something to write. */
static void mqtt_update_io(struct mqtt *m) {
        int fd = mosquitto_socket(m->mosq);
        if (fd != m->io_fd)
                drop_io(m);
        if (fd < 0)
                return;
        uint32_t ev = EPOLLIN | (mosquitto_want_write(m->mosq) ? EPOLLOUT : 0);
        if (!m->io) {
                if (sd_event_add_io(m->event, &m->io, fd, ev, on_io, m) < 0)
                        return;
                sd_event_source_set_description(m->io, "mqtt-io");
                m->io_fd = fd;
        } else {
                sd_event_source_set_io_events(m->io, ev);
        }
}

static void connect_to(struct mqtt *m, const char *host) {
        const struct mqtt_conf *c = &m->cfg->mqtt;
        m->connecting = true;
        int rc = mosquitto_connect_async(m->mosq, host, c->port, c->keepalive);
        if (rc != MOSQ_ERR_SUCCESS) {
                m->connecting = false;
                if (!m->warned_down)
                        log_warning("MQTT: cannot connect to %s:%d: %s; retrying", c->host, c->port,
                                    rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
                m->warned_down = true;
                schedule_retry(m);
                return;
        }
        mqtt_update_io(m);
}

static bool is_ip_literal(const char *h) {
        unsigned char buf[sizeof(struct in6_addr)];
        return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

static void lookup_free(struct lookup *l) {
        if (!l)
                return;
        sd_event_source_disable_unref(l->io);
        if (l->fd >= 0)
                close(l->fd);
        if (l->pid > 0) {
                kill(l->pid, SIGKILL);
                while (waitpid(l->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        free(l);
}

/* The child wrote "ADDRESS" or "-REASON" and exited (or timed out: NULL). */
static void lookup_finish(struct mqtt *m, const char *result) {
        const struct mqtt_conf *c = &m->cfg->mqtt;
        char addr[INET6_ADDRSTRLEN] = "", why[128] = "timed out";

        if (result && result[0] == '-')
                snprintf(why, sizeof(why), "%s", result + 1);
        else if (result && is_ip_literal(result))
                snprintf(addr, sizeof(addr), "%s", result);
        else if (result)
                snprintf(why, sizeof(why), "no address");
        sd_event_source_set_enabled(m->resolve_poll, SD_EVENT_OFF);
        lookup_free(m->lookup);
        m->lookup = NULL;
        if (!addr[0]) {
                m->connecting = false;
                if (!m->warned_down)
                        log_warning("MQTT: cannot resolve %s: %s; retrying", c->host, why);
                m->warned_down = true;
                schedule_retry(m);
                return;
        }
        log_debug("MQTT: %s is %s", c->host, addr);
        /* TLS checks the certificate against the name (see the top). */
        connect_to(m, c->tls ? c->host : addr);
}

static int on_lookup_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct mqtt *m = userdata;
        struct lookup *l = m->lookup;
        ssize_t r = read(fd, l->buf + l->n, sizeof(l->buf) - 1 - l->n);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (r > 0 && l->n + (size_t) r < sizeof(l->buf) - 1) {
                l->n += (size_t) r;
                return 0;
        }
        /* EOF: the child has written everything and is exiting. */
        while (waitpid(l->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        l->pid = 0;
        l->buf[l->n] = 0;
        char result[sizeof(l->buf)];
        snprintf(result, sizeof(result), "%s", l->buf);
        lookup_finish(m, result);
        return 0;
}

static int on_resolve_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        struct mqtt *m = userdata;
        if (m->lookup)
                lookup_finish(m, NULL);
        return 0;
}

/* In the child: no sd-event, no libmosquitto, just the lookup. */
_Noreturn static void lookup_child(int fd, const char *host, int port) {
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
        struct addrinfo *res = NULL;
        char portstr[8], out[INET6_ADDRSTRLEN + 128] = "-no address";
        snprintf(portstr, sizeof(portstr), "%d", port);
        int r = getaddrinfo(host, portstr, &hints, &res);
        if (r != 0)
                snprintf(out, sizeof(out), "-%s", gai_strerror(r));
        else if (res->ai_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *) res->ai_addr)->sin_addr, out, sizeof(out));
        else if (res->ai_family == AF_INET6)
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *) res->ai_addr)->sin6_addr, out, sizeof(out));
        size_t n = strlen(out);
        if (write(fd, out, n) != (ssize_t) n)
                _exit(1);
        _exit(0);
}

static void start_attempt(struct mqtt *m) {
        const struct mqtt_conf *c = &m->cfg->mqtt;
        int p[2];

        if (is_ip_literal(c->host)) {
                connect_to(m, c->host);
                return;
        }
        struct lookup *l = calloc(1, sizeof(*l));
        if (!l || pipe2(p, O_CLOEXEC) < 0) {
                free(l);
                schedule_retry(m);
                return;
        }
        fflush(NULL);
        l->pid = fork();
        if (l->pid == 0) {
                close(p[0]);
                lookup_child(p[1], c->host, c->port);
        }
        close(p[1]);
        l->fd = p[0];
        if (l->pid < 0 || fcntl(l->fd, F_SETFL, O_NONBLOCK) < 0 ||
            sd_event_add_io(m->event, &l->io, l->fd, EPOLLIN, on_lookup_io, m) < 0) {
                log_warning("MQTT: cannot start resolving %s: %s; retrying", c->host, strerror(errno));
                if (l->pid < 0)
                        l->pid = 0;
                lookup_free(l);
                schedule_retry(m);
                return;
        }
        sd_event_source_set_description(l->io, "mqtt-resolve-io");
        l->started = now_mono(m);
        m->lookup = l;
        m->connecting = true;
        sd_event_source_set_time(m->resolve_poll, l->started + RESOLVE_TIMEOUT_USEC);
        sd_event_source_set_enabled(m->resolve_poll, SD_EVENT_ONESHOT);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        struct mqtt *m = userdata;

        if (m->io_fd >= 0)
                mosquitto_loop_misc(m->mosq);
        if (!m->connected && !m->connecting && usec >= m->next_attempt)
                start_attempt(m);
        else if (m->connecting && !m->lookup && mosquitto_socket(m->mosq) < 0) {
                m->connecting = false;
                schedule_retry(m);
        }
        mqtt_update_io(m);
        sd_event_source_set_time(s, usec + USEC_PER_SEC);
        return 0;
}

/* ---- life cycle ---- */

static char *topic_dup(const char *base, const char *sub) {
        char *t;
        return asprintf(&t, "%s/%s", base, sub) < 0 ? NULL : t;
}

int mqtt_new(sd_event *e, const struct config *cfg, const struct mqtt_hooks *hooks, struct mqtt **ret) {
        const struct mqtt_conf *c = &cfg->mqtt;
        int r;

        mosquitto_lib_init();
        struct mqtt *m = calloc(1, sizeof(*m));
        if (!m) {
                mosquitto_lib_cleanup();
                return -ENOMEM;
        }
        *m = (struct mqtt) { .event = sd_event_ref(e), .cfg = cfg, .io_fd = -1, .backoff = BACKOFF_MIN_USEC,
                             .v5 = true };
        if (hooks)
                m->hooks = *hooks;
        m->status_topic = topic_dup(c->base, "status");
        m->event_topic = topic_dup(c->base, "event");
        m->cmd_filter = topic_dup(c->base, "cmd/+");
        m->cmd_prefix = topic_dup(c->base, "cmd/");
        if (!m->status_topic || !m->event_topic || !m->cmd_filter || !m->cmd_prefix) {
                r = -ENOMEM;
                goto fail;
        }
        r = queue_resize(m, c->queue_size ? c->queue_size : 1);
        if (r < 0)
                goto fail;

        /* A persistent session (clean start off; a session expiry with v5)
         * keeps commands queued for us while we are down. */
        m->mosq = mosquitto_new(c->client_id, false, m);
        if (!m->mosq) {
                r = errno > 0 ? -errno : -ENOMEM;
                goto fail;
        }
        mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
        mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
        mosquitto_connect_v5_callback_set(m->mosq, on_connect);
        mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
        mosquitto_message_v5_callback_set(m->mosq, on_message);
        mosquitto_log_callback_set(m->mosq, on_log);
        if (set_connect_properties(m) < 0) {
                r = -EINVAL;
                goto fail;
        }
        set_will(m);
        if (c->username && mosquitto_username_pw_set(m->mosq, c->username, c->password) != MOSQ_ERR_SUCCESS) {
                r = -EINVAL;
                goto fail;
        }
        if (c->tls) {
                int rc = mosquitto_tls_set(m->mosq, c->cafile, c->cafile ? NULL : "/etc/ssl/certs", c->certfile,
                                           c->keyfile, NULL);
                if (rc != MOSQ_ERR_SUCCESS) {
                        log_error("MQTT: cannot set up TLS with the configured files: %s", mosquitto_strerror(rc));
                        r = -EINVAL;
                        goto fail;
                }
        }

        r = sd_event_add_time_relative(e, &m->tick, CLOCK_MONOTONIC, 0, 100 * USEC_PER_MSEC, on_tick, m);
        if (r < 0)
                goto fail;
        sd_event_source_set_enabled(m->tick, SD_EVENT_ON);
        sd_event_source_set_description(m->tick, "mqtt-tick");
        r = sd_event_add_time(e, &m->resolve_poll, CLOCK_MONOTONIC, UINT64_MAX, 5 * USEC_PER_MSEC, on_resolve_poll, m);
        if (r < 0)
                goto fail;
        sd_event_source_set_enabled(m->resolve_poll, SD_EVENT_OFF);
        sd_event_source_set_description(m->resolve_poll, "mqtt-resolve");
        r = sd_event_add_defer(e, &m->summary_defer, on_summary, m);
        if (r < 0)
                goto fail;
        sd_event_source_set_enabled(m->summary_defer, SD_EVENT_OFF);
        sd_event_source_set_description(m->summary_defer, "mqtt-summary");
        *ret = m;
        return 0;
fail:
        mqtt_free(m);
        return r;
}

void mqtt_set_config(struct mqtt *m, const struct config *cfg) {
        if (!m)
                return;
        m->cfg = cfg;
        if (cfg->mqtt.queue_size && cfg->mqtt.queue_size != m->q_cap)
                queue_resize(m, cfg->mqtt.queue_size);
}

bool mqtt_connected(const struct mqtt *m) {
        return m && m->connected;
}

void mqtt_event(struct mqtt *m, const char *json) {
        if (!m || !json)
                return;
        /* Behind a queue that is still draining, or while away: in order. */
        if (!m->connected || m->q_len > 0 || publish_event(m, json) < 0) {
                queue_push(m, json);
                return;
        }
        mqtt_update_io(m);
}

void mqtt_retain(struct mqtt *m, const char *subtopic, const char *json) {
        if (!m || !subtopic)
                return;
        if (strncmp(subtopic, "activation/", 11) == 0)
                act_track(m, subtopic + 11, json);
        if (m->connected && publish_sub(m, subtopic, json, true, 0) == 0) {
                mqtt_update_io(m);
                return;
        }
        if (json)
                return; /* the republish hook restores it */
        /* A clear is not restored by the republish hook once the server has
         * forgotten the activation: remember it (bounded, no duplicates). */
        for (size_t i = 0; i < m->n_clears; i++)
                if (streq(m->clears[i], subtopic))
                        return;
        if (m->n_clears >= m->q_cap)
                return;
        char **v = realloc(m->clears, (m->n_clears + 1) * sizeof(char *));
        if (!v)
                return;
        m->clears = v;
        if ((v[m->n_clears] = strdup(subtopic)))
                m->n_clears++;
}

void mqtt_free(struct mqtt *m) {
        if (!m)
                return;
        if (m->connected) {
                /* A clean stop says so itself; the will is for crashes. Flush
                 * the retained message (bounded) before disconnecting. */
                publish_raw(m, m->status_topic, offline_payload, strlen(offline_payload), 1, true, 0, NULL, 0);
                for (int i = 0; i < 20 && mosquitto_want_write(m->mosq); i++)
                        if (mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS)
                                break;
                mosquitto_disconnect_v5(m->mosq, 0, NULL);
                mosquitto_loop_write(m->mosq, 1);
        }
        lookup_free(m->lookup);
        drop_io(m);
        sd_event_source_disable_unref(m->tick);
        sd_event_source_disable_unref(m->resolve_poll);
        sd_event_source_disable_unref(m->summary_defer);
        if (m->mosq)
                mosquitto_destroy(m->mosq);
        for (size_t i = 0; i < m->q_len; i++)
                free(m->queue[(m->q_head + i) % m->q_cap]);
        free(m->queue);
        for (size_t i = 0; i < m->n_clears; i++)
                free(m->clears[i]);
        free(m->clears);
        for (size_t i = 0; i < m->n_acts; i++)
                act_entry_free(&m->acts[i]);
        free(m->acts);
        for (size_t i = 0; i < SEEN_MAX; i++) {
                free(m->seen[i].key);
                free(m->seen[i].reply);
        }
        free(m->status_topic);
        free(m->status_extra);
        free(m->event_topic);
        free(m->cmd_filter);
        free(m->cmd_prefix);
        sd_event_unref(m->event);
        free(m);
        mosquitto_lib_cleanup();
}

void mqtt_set_status(struct mqtt *m, const char *json_fields) {
        if (!m || !json_fields || (m->status_extra && streq(m->status_extra, json_fields)))
                return;
        char *c = strdup(json_fields);
        if (!c)
                return;
        free(m->status_extra);
        m->status_extra = c;
        /* While disconnected nothing is sent: the connect publishes it. */
        if (m->connected)
                publish_online(m);
}
