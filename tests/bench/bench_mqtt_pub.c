/* bench_mqtt_pub.c - publish N events through daemon/mqtt.c (the daemon's
 * own MQTT client, on an sd-event loop) to a broker, as fast as the loop
 * takes them, at QoS 1. Built and driven by bench_mqtt.py, which counts
 * what arrives at a subscriber.
 *
 * usage: bench_mqtt_pub PORT N
 * Prints "connected" and "published N" on stdout; runs until SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "log.h"
#include "mqtt.h"

static struct mqtt *m;
static long n_total, n_sent;
static sd_event_source *wait_src, *pump_src;

static int on_pump(sd_event_source *s, void *userdata) {
        (void) userdata;
        char buf[160];
        /* A batch per loop iteration, so PUBACKs are read in between. */
        for (int i = 0; i < 200 && n_sent < n_total; i++, n_sent++) {
                snprintf(buf, sizeof(buf),
                         "{\"type\":\"bench\",\"activation\":\"20260101-0000-beef\",\"seq\":%ld,\"drill\":true,\"ts\":%ld}",
                         n_sent, (long) time(NULL));
                mqtt_event(m, buf);
        }
        if (n_sent >= n_total) {
                printf("published %ld\n", n_sent);
                fflush(stdout);
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        return 0;
}

static int on_wait(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) userdata;
        if (!mqtt_connected(m)) {
                sd_event_source_set_time(s, usec + 1000);
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        printf("connected\n");
        fflush(stdout);
        sd_event_source_set_enabled(pump_src, SD_EVENT_ON);
        return 0;
}

int main(int argc, char **argv) {
        if (argc != 3) {
                fprintf(stderr, "usage: %s PORT N\n", argv[0]);
                return 2;
        }
        n_total = atol(argv[2]);
        log_setup(true, LOG_WARNING);
        static char host[] = "127.0.0.1", base[] = "beredd/bench", client[] = "beredd-bench", site[] = "bench";
        struct config cfg = { .site = site };
        cfg.mqtt = (struct mqtt_conf) { .enabled = true, .host = host, .port = atoi(argv[1]), .base = base,
                                        .client_id = client, .qos = 1, .keepalive = 30, .queue_size = 1000 };
        sd_event *e = NULL;
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        if (sd_event_default(&e) < 0 || sd_event_add_signal(e, NULL, SIGTERM, NULL, NULL) < 0)
                return 1;
        if (mqtt_new(e, &cfg, NULL, &m) < 0)
                return 1;
        sd_event_add_time_relative(e, &wait_src, CLOCK_MONOTONIC, 1000, 0, on_wait, NULL);
        sd_event_add_defer(e, &pump_src, on_pump, NULL);
        sd_event_source_set_enabled(pump_src, SD_EVENT_OFF);
        int r = sd_event_loop(e);
        sd_event_source_unref(pump_src);
        sd_event_source_unref(wait_src);
        mqtt_free(m);
        sd_event_unref(e);
        return r < 0 ? 1 : 0;
}
