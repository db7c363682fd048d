/* mqtt.h - beredd's MQTT client on the sd-event loop (libmosquitto, no
 * library thread). Alerting never waits for it: publishing is fire-and-forget
 * into libmosquitto's queue, and a broker outage only delays dashboards.
 *
 * Today: connect with a retained last will ({"state":"offline"} on
 * <base>/status), publish a retained {"state":"online",...} on every
 * (re)connect, reconnect with backoff, and publish "offline" on a clean stop. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "config.h"

struct mqtt;

/* Start connecting to the broker in CONF (which must outlive the client or be
 * replaced with mqtt_set_config). Returns 0 or -errno; a broker that is down
 * is not an error (we keep trying). */
int mqtt_new(sd_event *e, const struct config *cfg, struct mqtt **ret);
/* Publish the retained offline status, disconnect and free. */
void mqtt_free(struct mqtt *m);
/* The configuration was reloaded; CFG replaces the old one (same broker). */
void mqtt_set_config(struct mqtt *m, const struct config *cfg);
bool mqtt_connected(const struct mqtt *m);
/* Publish PAYLOAD on <base>/SUBTOPIC (QoS from config). Returns 0 or -errno;
 * -ENOTCONN while the broker is away. */
int mqtt_publish(struct mqtt *m, const char *subtopic, const char *payload, bool retain);
