/* mqtt.c - libmosquitto driven from sd-event.
 *
 * We watch mosquitto_socket() for input (and for output while
 * mosquitto_want_write()), call loop_read/loop_write on events and loop_misc
 * from a one-second timer that also drives reconnects with backoff. The
 * socket changes on every reconnect, so the io source is re-created then.
 * Hazard: mosquitto_connect_async resolves the host name synchronously; use
 * an address or a name in /etc/hosts for the broker (documented). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <mosquitto.h>

#include "log.h"
#include "macro.h"
#include "mqtt.h"

#define BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
#define BACKOFF_MAX_USEC (60 * USEC_PER_SEC)

struct mqtt {
        sd_event *event;
        const struct config *cfg;
        struct mosquitto *mosq;
        sd_event_source *io;
        int io_fd;
        sd_event_source *tick;
        bool connected;
        bool connecting;
        bool started; /* connect_async was called once; later, reconnect_async */
        uint64_t next_attempt; /* CLOCK_MONOTONIC */
        uint64_t backoff;
        char status_topic[256];
};

static void mqtt_update_io(struct mqtt *m);

static uint64_t now_mono(struct mqtt *m) {
        uint64_t t = 0;
        sd_event_now(m->event, CLOCK_MONOTONIC, &t);
        return t;
}

static void publish_online(struct mqtt *m) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "state", "online", "site", m->cfg->site, "version", PACKAGE_VERSION);
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (s)
                mosquitto_publish(m->mosq, NULL, m->status_topic, (int) strlen(s), s, 1, true);
        free(s);
}

static void on_connect(struct mosquitto *mosq, void *userdata, int rc) {
        struct mqtt *m = userdata;
        m->connecting = false;
        if (rc != 0) {
                log_warning("MQTT: broker %s:%d refused the connection: %s", m->cfg->mqtt.host, m->cfg->mqtt.port,
                            mosquitto_connack_string(rc));
                return;
        }
        m->connected = true;
        m->backoff = BACKOFF_MIN_USEC;
        log_info("MQTT: connected to %s:%d", m->cfg->mqtt.host, m->cfg->mqtt.port);
        /* Retained state is republished on every connect, so a dashboard is
         * right again as soon as the broker is back. */
        publish_online(m);
        mqtt_update_io(m);
}

static void on_disconnect(struct mosquitto *mosq, void *userdata, int rc) {
        struct mqtt *m = userdata;
        if (m->connected && rc != 0)
                log_warning("MQTT: lost the connection to %s:%d, reconnecting", m->cfg->mqtt.host, m->cfg->mqtt.port);
        m->connected = false;
        m->connecting = false;
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
                        log_debug("MQTT: connection error: %s", mosquitto_strerror(rc));
                m->connected = m->connecting = false;
                drop_io(m);
                m->next_attempt = now_mono(m) + m->backoff;
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

static void try_connect(struct mqtt *m) {
        const struct mqtt_conf *c = &m->cfg->mqtt;
        int rc;

        m->connecting = true;
        rc = !m->started ? mosquitto_connect_async(m->mosq, c->host, c->port, c->keepalive)
                         : mosquitto_reconnect_async(m->mosq);
        if (rc == MOSQ_ERR_SUCCESS)
                m->started = true;
        if (rc != MOSQ_ERR_SUCCESS) {
                m->connecting = false;
                log_debug("MQTT: cannot connect to %s:%d: %s", c->host, c->port,
                          rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
                m->next_attempt = now_mono(m) + m->backoff;
                m->backoff = m->backoff * 2 > BACKOFF_MAX_USEC ? BACKOFF_MAX_USEC : m->backoff * 2;
                return;
        }
        mqtt_update_io(m);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        struct mqtt *m = userdata;

        if (m->io_fd >= 0)
                mosquitto_loop_misc(m->mosq);
        if (!m->connected && !m->connecting && usec >= m->next_attempt)
                try_connect(m);
        else if (m->connecting && mosquitto_socket(m->mosq) < 0) {
                m->connecting = false;
                m->next_attempt = usec + m->backoff;
                m->backoff = m->backoff * 2 > BACKOFF_MAX_USEC ? BACKOFF_MAX_USEC : m->backoff * 2;
        }
        mqtt_update_io(m);
        sd_event_source_set_time(s, usec + USEC_PER_SEC);
        return 0;
}

int mqtt_new(sd_event *e, const struct config *cfg, struct mqtt **ret) {
        const struct mqtt_conf *c = &cfg->mqtt;
        int r;

        mosquitto_lib_init();
        struct mqtt *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        *m = (struct mqtt) { .event = sd_event_ref(e), .cfg = cfg, .io_fd = -1, .backoff = BACKOFF_MIN_USEC };
        snprintf(m->status_topic, sizeof(m->status_topic), "%s/status", c->base);

        /* A persistent session (clean session off) keeps commands queued for us
         * while we are down. */
        m->mosq = mosquitto_new(c->client_id, false, m);
        if (!m->mosq) {
                r = -errno ? -errno : -ENOMEM;
                goto fail;
        }
        mosquitto_connect_callback_set(m->mosq, on_connect);
        mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
        static const char will[] = "{\"state\":\"offline\"}";
        mosquitto_will_set(m->mosq, m->status_topic, (int) strlen(will), will, 1, true);
        if (c->username && mosquitto_username_pw_set(m->mosq, c->username, c->password) != MOSQ_ERR_SUCCESS) {
                r = -EINVAL;
                goto fail;
        }
        if (c->tls && mosquitto_tls_set(m->mosq, c->cafile, NULL, c->certfile, c->keyfile, NULL) != MOSQ_ERR_SUCCESS) {
                log_error("MQTT: cannot set up TLS with the configured files");
                r = -EINVAL;
                goto fail;
        }

        r = sd_event_add_time_relative(e, &m->tick, CLOCK_MONOTONIC, 0, 100 * 1000, on_tick, m);
        if (r < 0)
                goto fail;
        sd_event_source_set_enabled(m->tick, SD_EVENT_ON);
        sd_event_source_set_description(m->tick, "mqtt-tick");
        *ret = m;
        return 0;
fail:
        mqtt_free(m);
        return r;
}

void mqtt_set_config(struct mqtt *m, const struct config *cfg) {
        if (m)
                m->cfg = cfg;
}

bool mqtt_connected(const struct mqtt *m) {
        return m && m->connected;
}

int mqtt_publish(struct mqtt *m, const char *subtopic, const char *payload, bool retain) {
        char topic[512];
        if (!m->connected)
                return -ENOTCONN;
        snprintf(topic, sizeof(topic), "%s/%s", m->cfg->mqtt.base, subtopic);
        int rc = mosquitto_publish(m->mosq, NULL, topic, (int) strlen(payload), payload, m->cfg->mqtt.qos, retain);
        if (rc != MOSQ_ERR_SUCCESS)
                return -EIO;
        mqtt_update_io(m);
        return 0;
}

void mqtt_free(struct mqtt *m) {
        if (!m)
                return;
        if (m->connected) {
                /* A clean stop says so itself; the will is for crashes. Flush
                 * the retained message (bounded) before disconnecting. */
                static const char off[] = "{\"state\":\"offline\"}";
                int mid = 0;
                mosquitto_publish(m->mosq, &mid, m->status_topic, (int) strlen(off), off, 1, true);
                for (int i = 0; i < 20 && mosquitto_want_write(m->mosq); i++)
                        mosquitto_loop_write(m->mosq, 1);
                mosquitto_disconnect(m->mosq);
                mosquitto_loop_write(m->mosq, 1);
        }
        drop_io(m);
        sd_event_source_disable_unref(m->tick);
        if (m->mosq)
                mosquitto_destroy(m->mosq);
        sd_event_unref(m->event);
        free(m);
        mosquitto_lib_cleanup();
}
