/* mqtt.h - beredd's MQTT client on the sd-event loop (libmosquitto, no
 * library thread). Alerting never waits for it: publishing only queues, and
 * a broker outage delays dashboards, nothing else.
 *
 * Topics under <base> (DESIGN.md): status (retained, last will "offline"),
 * activation/<id> (retained while open; cleared later), event (stream),
 * followup/summary (retained), cmd/<cmd> in, reply/<request-id> out.
 * No payload ever carries a name, phone number, e-mail address or case
 * reference: the server builds payloads from ids, states and counts only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

#include "config.h"

struct mqtt;
struct activations;

struct mqtt_hooks {
        /* A command arrived on <base>/cmd/CMD with PAYLOAD (LEN bytes, not
         * NUL-terminated; a JSON object, "cmd" optional). Returns the reply
         * line (malloc'd JSON), which the client publishes on
         * <base>/reply/<request-id> or the v5 response topic. */
        char *(*execute)(void *userdata, const char *cmd, const char *payload, size_t len);
        /* (Re)connected: publish every retained state again (the client calls
         * this after republishing status). */
        void (*republish)(void *userdata);
        void *userdata;
        /* The activations whose counts <base>/summary shows
         * (activations_count); NULL: counted from the retained states. */
        const struct activations *acts;
};

/* Start connecting to the broker in CFG (CFG must outlive the client or be
 * replaced with mqtt_set_config). A broker that is down is not an error. */
int mqtt_new(sd_event *e, const struct config *cfg, const struct mqtt_hooks *hooks, struct mqtt **ret);
/* Publish the retained offline status, flush (bounded), disconnect, free. */
void mqtt_free(struct mqtt *m);
/* The configuration was reloaded; CFG replaces the old one (same broker). */
void mqtt_set_config(struct mqtt *m, const struct config *cfg);
bool mqtt_connected(const struct mqtt *m);

/* Publish an event (JSON object text) on <base>/event: QoS from config, MQTT
 * v5 message expiry. While disconnected, events wait in a bounded queue
 * (mqtt.queue_size) and go out in order on reconnect; on overflow the oldest
 * are dropped and one {"type":"dropped","count":N} event says so. */
void mqtt_event(struct mqtt *m, const char *json);
/* Publish retained state on <base>/SUBTOPIC ("activation/<id>",
 * "followup/summary"); JSON NULL clears it (empty retained message). While
 * disconnected nothing is queued: the republish hook restores all state. */
void mqtt_retain(struct mqtt *m, const char *subtopic, const char *json);
/* Fields added to the retained <base>/status (JSON_FIELDS: an object's text,
 * copied; ids, flags and counts only): published again at once when they
 * change and we are connected, and with every connect. The fields beredd
 * sets itself (state, site, version, protocol, ts) win over these. */
void mqtt_set_status(struct mqtt *m, const char *json_fields);
